/* Declarative connections between elements, materialised through shared,
 * lazily built tees.
 *
 * A source element publishes, per media type, an origin tee carrying its own
 * format (VP8/H264/OPUS depayloaded from a browser, RAW from a player).  A
 * sink input asks for one format.  The first consumer of a format that the
 * source does not carry builds, once per source:
 *
 *   origin tee -> decoder -> RAW tee -> encoder -> VP8/H264/OPUS tee
 *
 * and every later consumer of that format reuses the tee, so a source never
 * runs two encoders for the same codec however many viewers it has.  Each
 * materialised connection is `tee.src_N -> queue -> sink input pad`; the
 * queue gives every consumer its own thread so one slow consumer cannot
 * stall the others (it drops instead: leaky).
 *
 * Tees count their users; a derived tee whose last user goes is cut off
 * with its decoder/encoder, so nothing encodes for nobody.  All removals
 * while media flows go through an IDLE probe (detach_start). */
#include "worker.h"

#include <gst/video/video.h>
#include <string.h>

struct _MtConnection
{
  gchar *source;
  gchar *sink;
  MtMediaType media;
  /* Building it failed (already reported); retried only when one of its
   * ends changes, so one bad connection does not repeat its Error. */
  gboolean failed;
  /* Materialised state; all NULL while the connection waits.  `format` is
   * the source tee it takes, counted in the source's users. */
  MtFormat format;
  GstElement *tee;
  GstPad *tee_pad;
  GstElement *queue;
  GstPad *sink_pad;
};

/* A branch being cut off a tee while data may flow.  An IDLE probe on the
 * tee's request pad unlinks it between two buffers (streaming thread); the
 * main loop then releases the pad and removes the branch.  Either a
 * connection's queue (`sink`/`sink_pad` set: the sink input it fed stays
 * closed to new links until then) or a source's decoder/encoder bin and
 * its derived tee (`owner` set). */
typedef struct
{
  gint refcount;
  gint unlinked;                /* atomic: the probe did its work */
  GstElement *tee;
  GstPad *tee_pad;
  GstElement *head;             /* queue or bin fed by tee_pad */
  gchar *sink;
  MtMediaType media;
  GstPad *sink_pad;
  gchar *owner;
  GstElement *tail;             /* derived tee after the bin */
} MtDetach;

static GList *connections;
static guint name_serial;
/* Element being released: its own teardown sends no notifications. */
static MtElement *releasing;

static void source_release (MtElement * el, MtMediaType media,
    MtFormat format);

/* Element names must be unique inside the pipeline; engine ids may repeat
 * across kinds of objects, so a serial keeps them apart. */
static gchar *
unique_name (const gchar * id, const gchar * what)
{
  return g_strdup_printf ("%s-%s-%u", id, what, ++name_serial);
}

GstElement *
mt_make_tee (const gchar * name)
{
  GstElement *tee = gst_element_factory_make ("tee", name);

  /* A tee with no consumer yet must swallow data instead of failing with
   * not-linked, which would stop the source. */
  g_object_set (tee, "allow-not-linked", TRUE, NULL);
  return tee;
}

/* ---------------------------------------------------------------------- */
/* Cutting branches off tees                                               */

/* Takes ownership of the references passed. */
static MtDetach *
detach_new (GstElement * tee, GstPad * tee_pad, GstElement * head)
{
  MtDetach *d = g_new0 (MtDetach, 1);

  d->refcount = 1;
  d->tee = tee;
  d->tee_pad = tee_pad;
  d->head = head;
  return d;
}

static gpointer
detach_ref (MtDetach * d)
{
  g_atomic_int_inc (&d->refcount);
  return d;
}

static void
detach_unref (gpointer data)
{
  MtDetach *d = data;

  if (!g_atomic_int_dec_and_test (&d->refcount))
    return;
  gst_object_unref (d->tee);
  gst_object_unref (d->tee_pad);
  gst_object_unref (d->head);
  if (d->sink_pad)
    gst_object_unref (d->sink_pad);
  if (d->tail)
    gst_object_unref (d->tail);
  g_free (d->sink);
  g_free (d->owner);
  g_free (d);
}

/* Main loop, after the probe unlinked the branch: nothing reaches it from
 * the tee any more, so it can be stopped and removed without a flow error
 * upstream or a half-pushed buffer downstream. */
static gboolean
finish_detach (gpointer data)
{
  MtDetach *d = data;
  MtElement *el;
  GstPad *src;

  gst_element_release_request_pad (d->tee, d->tee_pad);
  if (d->owner) {
    /* If the owner was released meanwhile, release removed both. */
    el = mt_element_lookup (d->owner, NULL);
    if (el) {
      mt_element_remove_owned (el, d->head);
      mt_element_remove_owned (el, d->tail);
    }
    GST_DEBUG ("%s: removed branch %s", d->owner, GST_OBJECT_NAME (d->head));
    goto out;
  }
  /* Stopping the queue first joins its thread, so the sink input sees no
   * push after the unlink. */
  gst_element_set_state (d->head, GST_STATE_NULL);
  src = gst_element_get_static_pad (d->head, "src");
  gst_pad_unlink (src, d->sink_pad);
  gst_object_unref (src);
  gst_bin_remove (mt_pipeline_bin (), d->head);
  el = mt_element_lookup (d->sink, NULL);
  if (el && el->in[d->media].teardown == d) {
    el->in[d->media].teardown = NULL;
    /* The sink input is free again: a replacing connection waits for it. */
    mt_link_refresh ();
  }

out:
  return G_SOURCE_REMOVE;
}

/* Streaming thread (or the caller's, when the pad is idle already). */
static GstPadProbeReturn
on_tee_pad_idle (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  MtDetach *d = user_data;
  GstPad *peer;

  /* An IDLE probe may fire once more before its removal takes effect. */
  if (!g_atomic_int_compare_and_exchange (&d->unlinked, 0, 1))
    return GST_PAD_PROBE_REMOVE;
  peer = gst_pad_get_peer (pad);
  if (peer) {
    gst_pad_unlink (pad, peer);
    gst_object_unref (peer);
  }
  mt_invoke (finish_detach, detach_ref (d), detach_unref);
  return GST_PAD_PROBE_REMOVE;
}

/* Releasing a tee pad while a buffer goes through it can race with that
 * push (and a pad that vanishes mid-push makes upstream see not-linked or
 * flushing); an IDLE probe waits for the gap between two buffers instead.
 * Never blocks the caller. */
static void
detach_start (MtDetach * d)
{
  gst_pad_add_probe (d->tee_pad, GST_PAD_PROBE_TYPE_IDLE, on_tee_pad_idle,
      detach_ref (d), detach_unref);
  detach_unref (d);
}

/* ---------------------------------------------------------------------- */
/* Source tees and shared decoders/encoders                                */

static const gchar *
decoder_description (MtFormat from)
{
  switch (from) {
    case MT_FORMAT_VP8:
      return "queue max-size-buffers=3 max-size-bytes=0 max-size-time=0 ! "
          "vp8dec ! videoconvert ! capsfilter caps=video/x-raw,format=I420";
    case MT_FORMAT_H264:
      return "queue max-size-buffers=3 max-size-bytes=0 max-size-time=0 ! "
          "avdec_h264 ! videoconvert ! capsfilter caps=video/x-raw,format=I420";
    case MT_FORMAT_OPUS:
      return "queue ! opusdec ! audioconvert ! audioresample ! "
          "capsfilter caps=audio/x-raw,format=S16LE,rate=48000,channels=2";
    default:
      return NULL;
  }
}

/* Descriptions end in an explicit capsfilter: bare caps at the end of a
 * gst_parse description have nothing to link to and fail. */

/* Realtime settings.  VP8 (WebRTC viewers, which ask for keyframes with PLI
 * when they need one) gets a keyframe at least every 2 s at 30 fps; H.264
 * feeds the RTMP/HLS program too, whose 900 ms fragments are cut on
 * keyframes, so it gets one every second.  The leaky queue drops frames when
 * the encoder cannot keep up instead of building latency. */
static const gchar *
encoder_description (MtFormat to)
{
  switch (to) {
    case MT_FORMAT_VP8:
      return "queue max-size-buffers=2 max-size-bytes=0 max-size-time=0 "
          "leaky=downstream ! vp8enc deadline=1 cpu-used=8 "
          "keyframe-max-dist=60 end-usage=cbr target-bitrate=1000000 "
          "lag-in-frames=0 threads=2 error-resilient=default";
    case MT_FORMAT_H264:
      return "queue max-size-buffers=2 max-size-bytes=0 max-size-time=0 "
          "leaky=downstream ! x264enc tune=zerolatency speed-preset=ultrafast "
          "key-int-max=30 bitrate=1500 threads=2 ! capsfilter caps=\""
          "video/x-h264,profile=constrained-baseline,stream-format=byte-stream,"
          "alignment=au\"";
    case MT_FORMAT_OPUS:
      return "queue ! audioconvert ! audioresample ! opusenc bitrate=64000";
    case MT_FORMAT_AAC:
      /* For MP4 recordings (Kurento's MP4 profile is H.264 + AAC); fdkaac
       * and faac are not packaged on Debian, voaacenc is. */
      return "queue ! audioconvert ! audioresample ! voaacenc bitrate=128000";
    default:
      return NULL;
  }
}

static gboolean
format_fits_media (MtFormat format, MtMediaType media)
{
  if (format == MT_FORMAT_RAW)
    return TRUE;
  if (media == MT_MEDIA_AUDIO)
    return format == MT_FORMAT_OPUS || format == MT_FORMAT_AAC;
  return format == MT_FORMAT_VP8 || format == MT_FORMAT_H264;
}

static void
notify_transcoding (MtElement * el, MtMediaType media, gboolean on,
    const gchar * bin_name)
{
  JsonObject *data = json_object_new ();

  json_object_set_string_member (data, "mediaType", mt_media_name (media));
  json_object_set_string_member (data, "state",
      on ? "TRANSCODING" : "NOT_TRANSCODING");
  json_object_set_string_member (data, "binName", bin_name);
  mt_protocol_notify ("MediaTranscoding", el->id, data);
}

/* Asks whatever feeds `tee` for a keyframe: an encoder honours the event
 * itself; for a passthrough tee it travels up to webrtcbin's rtpsession,
 * which turns it into a PLI/FIR toward the sending browser. */
static void
request_keyframe_from_tee (GstElement * tee)
{
  GstPad *sink = gst_element_get_static_pad (tee, "sink");

  gst_pad_push_event (sink,
      gst_video_event_new_upstream_force_key_unit (GST_CLOCK_TIME_NONE, TRUE,
          0));
  gst_object_unref (sink);
}

typedef struct
{
  gchar *id;
  MtMediaType media;
  GstElement *bin;
} MtEncoderStart;

static void
encoder_start_free (gpointer data)
{
  MtEncoderStart *s = data;

  g_free (s->id);
  gst_object_unref (s->bin);
  g_free (s);
}

/* Main loop: an encoder produced its first buffer.  It may have been torn
 * down meanwhile (then its media is not being transcoded by it). */
static gboolean
handle_encoder_started (gpointer data)
{
  MtEncoderStart *s = data;
  MtElement *el = mt_element_lookup (s->id, NULL);
  MtSourceMedia *src;
  guint f;

  if (!el)
    return G_SOURCE_REMOVE;
  src = &el->out[s->media];
  for (f = MT_FORMAT_VP8; f < MT_FORMAT_COUNT; f++)
    if (src->branch[f] == s->bin && !src->transcoding) {
      src->transcoding = TRUE;
      notify_transcoding (el, s->media, TRUE, GST_OBJECT_NAME (s->bin));
    }
  return G_SOURCE_REMOVE;
}

/* Streaming thread: the first encoded buffer leaves an encoder bin. */
static GstPadProbeReturn
on_first_encoded (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  MtEncoderStart *s = user_data, *copy = g_new0 (MtEncoderStart, 1);

  copy->id = g_strdup (s->id);
  copy->media = s->media;
  copy->bin = gst_object_ref (s->bin);
  mt_invoke (handle_encoder_started, copy, encoder_start_free);
  return GST_PAD_PROBE_REMOVE;
}

/* ---------------------------------------------------------------------- */
/* Flow firewalls                                                          */

/* A tee returns a failure of any one of its branches to its source, and a
 * failed push stops the source's streaming thread: one consumer that
 * cannot go on (a recorder whose disk is full, a viewer torn down under
 * load) would stop the encoder or decoder it shares with every other
 * consumer, and so the whole program.  Every branch a tee feeds (a
 * connection's queue, a decoder or encoder bin) therefore enters through a
 * firewall on its first pad: whatever the branch returns, its tee is told
 * OK, unless the branch itself is being flushed from upstream (a player's
 * seek), which the source must hear.  The failed branch reports its own
 * failure (an Error event from its element) and is cut off when its
 * connection goes. */
typedef struct
{
  GstPadChainFunction chain;
  GstPadChainListFunction chain_list;
  gchar *what;
  gint reported;                /* atomic: the failure was logged */
} MtFirewall;

static void
firewall_free (gpointer data)
{
  MtFirewall *fw = data;

  g_free (fw->what);
  g_free (fw);
}

static GstFlowReturn
firewall_filter (MtFirewall * fw, GstPad * pad, GstFlowReturn ret)
{
  if (ret == GST_FLOW_OK)
    return ret;
  if (ret == GST_FLOW_FLUSHING && GST_PAD_IS_FLUSHING (pad))
    return ret;
  if (ret <= GST_FLOW_NOT_NEGOTIATED
      && g_atomic_int_compare_and_exchange (&fw->reported, 0, 1))
    GST_WARNING ("%s stopped (%s); its source goes on without it", fw->what,
        gst_flow_get_name (ret));
  return GST_FLOW_OK;
}

static GstFlowReturn
firewall_chain (GstPad * pad, GstObject * parent, GstBuffer * buffer)
{
  MtFirewall *fw = pad->chaindata;

  return firewall_filter (fw, pad, fw->chain (pad, parent, buffer));
}

static GstFlowReturn
firewall_chain_list (GstPad * pad, GstObject * parent, GstBufferList * list)
{
  MtFirewall *fw = pad->chainlistdata;

  return firewall_filter (fw, pad, fw->chain_list (pad, parent, list));
}

/* Puts a firewall on `pad` (a sink pad whose element sets no chain data of
 * its own: a queue's, a ghost pad's) before anything is linked to it. */
static void
add_firewall (GstPad * pad, const gchar * what)
{
  MtFirewall *fw = g_new0 (MtFirewall, 1);

  fw->chain = GST_PAD_CHAINFUNC (pad);
  fw->chain_list = GST_PAD_CHAINLISTFUNC (pad);
  fw->what = g_strdup (what);
  if (!fw->chain) {
    firewall_free (fw);
    return;
  }
  /* Without a list function of its own the pad splits lists into buffers,
   * each through the firewall's chain function. */
  if (fw->chain_list)
    gst_pad_set_chain_list_function_full (pad, firewall_chain_list, fw, NULL);
  gst_pad_set_chain_function_full (pad, firewall_chain, fw, firewall_free);
}

/* Builds `from_tee -> desc -> new tee` for `format` of el's `media` and
 * records it in el->out[media]. */
static GstElement *
add_branch (MtElement * el, MtMediaType media, MtFormat format,
    GstElement * from_tee, GError ** error)
{
  MtSourceMedia *src = &el->out[media];
  GstElement *bin = NULL, *tee = NULL;
  GstPad *tee_pad = NULL, *bin_sink = NULL, *bin_src = NULL;
  GError *err = NULL;
  const gchar *desc, *what;
  gchar *name;

  if (format == MT_FORMAT_RAW) {
    desc = decoder_description (src->origin);
    what = media == MT_MEDIA_VIDEO ? "video-decoder" : "audio-decoder";
  } else {
    desc = encoder_description (format);
    what = format == MT_FORMAT_VP8 ? "vp8-encoder"
        : format == MT_FORMAT_H264 ? "h264-encoder"
        : format == MT_FORMAT_AAC ? "aac-encoder" : "opus-encoder";
  }
  if (!desc) {
    g_set_error (error, MT_ERROR, MT_ERROR_UNSUPPORTED,
        "cannot convert %s to %s", mt_format_name (src->origin),
        mt_format_name (format));
    goto out;
  }
  bin = gst_parse_bin_from_description (desc, TRUE, &err);
  if (!bin) {
    g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL,
        "cannot build %s: %s", what, err->message);
    g_clear_error (&err);
    goto out;
  }
  name = unique_name (el->id, what);
  gst_object_set_name (GST_OBJECT (bin), name);
  g_free (name);
  name = unique_name (el->id, "tee");
  tee = mt_make_tee (name);
  g_free (name);

  mt_element_add_owned (el, tee);
  mt_element_add_owned (el, bin);
  if (!gst_element_link (bin, tee)) {
    g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL, "cannot link %s", what);
    goto fail;
  }
  /* Start downstream first so data from the tee never hits a stopped pad. */
  gst_element_sync_state_with_parent (tee);
  gst_element_sync_state_with_parent (bin);
  tee_pad = gst_element_request_pad_simple (from_tee, "src_%u");
  bin_sink = gst_element_get_static_pad (bin, "sink");
  add_firewall (bin_sink, GST_OBJECT_NAME (bin));
  if (gst_pad_link (tee_pad, bin_sink) != GST_PAD_LINK_OK) {
    g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL, "cannot feed %s", what);
    gst_element_release_request_pad (from_tee, tee_pad);
    goto fail;
  }
  src->tees[format] = tee;
  src->branch[format] = bin;
  src->branch_pad[format] = g_steal_pointer (&tee_pad);
  GST_INFO ("%s: built %s", el->id, GST_OBJECT_NAME (bin));
  if (format == MT_FORMAT_RAW) {
    /* A decoder joining a running stream needs a keyframe to start. */
    if (media == MT_MEDIA_VIDEO)
      request_keyframe_from_tee (from_tee);
  } else {
    MtEncoderStart *s = g_new0 (MtEncoderStart, 1);

    /* Kurento reports transcoding when media is really transcoded, so the
     * first encoded buffer, not the connect, sends TRANSCODING. */
    src->encoders++;
    s->id = g_strdup (el->id);
    s->media = media;
    s->bin = gst_object_ref (bin);
    bin_src = gst_element_get_static_pad (bin, "src");
    gst_pad_add_probe (bin_src, GST_PAD_PROBE_TYPE_BUFFER |
        GST_PAD_PROBE_TYPE_BUFFER_LIST, on_first_encoded, s,
        encoder_start_free);
  }
  goto out;

fail:
  mt_element_remove_owned (el, bin);
  mt_element_remove_owned (el, tee);
  tee = NULL;
out:
  g_clear_object (&tee_pad);
  g_clear_object (&bin_sink);
  g_clear_object (&bin_src);
  return tee;
}

/* Returns el's tee for `format`, building the decoder/encoder chain that
 * leads to it if needed, and counts the caller as one more user (undo with
 * source_release). */
static GstElement *
source_acquire (MtElement * el, MtMediaType media, MtFormat format,
    GError ** error)
{
  MtSourceMedia *src = &el->out[media];
  MtFormat parent;
  GstElement *from;

  if (src->tees[format])
    goto out;
  if (src->origin == MT_FORMAT_NONE) {
    g_set_error (error, MT_ERROR, MT_ERROR_INVALID_STATE,
        "%s has no %s media yet", el->id, mt_media_name (media));
    return NULL;
  }
  if (!format_fits_media (format, media)) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE, "%s is not a %s format",
        mt_format_name (format), mt_media_name (media));
    return NULL;
  }
  /* Encoded formats come from RAW, RAW comes from the origin. */
  parent = format == MT_FORMAT_RAW ? src->origin : MT_FORMAT_RAW;
  from = source_acquire (el, media, parent, error);
  if (!from)
    return NULL;
  if (!add_branch (el, media, format, from, error)) {
    source_release (el, media, parent);
    return NULL;
  }

out:
  src->users[format]++;
  return src->tees[format];
}

/* Drops one user of el's `format` tee; a derived tee nobody uses any more
 * is cut off (and its parent released in turn), so an encoder runs only
 * while someone consumes its output. */
static void
source_release (MtElement * el, MtMediaType media, MtFormat format)
{
  MtSourceMedia *src = &el->out[media];
  MtFormat parent;
  MtDetach *d;
  gchar *bin_name;

  if (src->users[format] > 0)
    src->users[format]--;
  if (src->users[format] > 0 || format == src->origin || !src->branch[format])
    return;
  parent = format == MT_FORMAT_RAW ? src->origin : MT_FORMAT_RAW;
  bin_name = g_strdup (GST_OBJECT_NAME (src->branch[format]));
  GST_INFO ("%s: %s has no consumer left, removing it", el->id, bin_name);
  d = detach_new (gst_object_ref (src->tees[parent]),
      g_steal_pointer (&src->branch_pad[format]),
      gst_object_ref (src->branch[format]));
  d->owner = g_strdup (el->id);
  d->tail = gst_object_ref (src->tees[format]);
  src->tees[format] = NULL;
  src->branch[format] = NULL;
  detach_start (d);
  if (format != MT_FORMAT_RAW && --src->encoders == 0 && src->transcoding) {
    src->transcoding = FALSE;
    if (el != releasing)
      notify_transcoding (el, media, FALSE, bin_name);
  }
  g_free (bin_name);
  source_release (el, media, parent);
}

void
mt_source_request_keyframe (MtElement * self)
{
  MtSourceMedia *src = &self->out[MT_MEDIA_VIDEO];
  guint f;

  for (f = MT_FORMAT_VP8; f <= MT_FORMAT_H264; f++)
    if (src->tees[f])
      request_keyframe_from_tee (src->tees[f]);
}

/* ---------------------------------------------------------------------- */
/* Connections                                                             */

static void
materialise (MtConnection * c)
{
  MtElement *src, *sink;
  MtSinkInput *in;
  GstElement *tee;
  GstPad *qsink = NULL, *qsrc = NULL;
  GError *error = NULL;
  gchar *name;

  if (c->queue || c->failed)
    return;
  if (!(src = mt_element_lookup (c->source, NULL))
      || !(sink = mt_element_lookup (c->sink, NULL)))
    return;
  in = &sink->in[c->media];
  if (in->format == MT_FORMAT_NONE || !in->pad || in->link || in->teardown)
    return;
  if (src->out[c->media].origin == MT_FORMAT_NONE)
    return;

  tee = source_acquire (src, c->media, in->format, &error);
  if (!tee) {
    GST_WARNING ("cannot connect %s -> %s: %s", c->source, c->sink,
        error->message);
    c->failed = TRUE;
    mt_element_error (sink, "UNEXPECTED_ELEMENT_ERROR", error->message, 0);
    g_clear_error (&error);
    return;
  }

  name = unique_name (c->sink, "in-queue");
  c->queue = gst_element_factory_make ("queue", name);
  g_free (name);
  /* Bounded and leaky: a stalled consumer drops its own data only, and the
   * tee's push into it never blocks (which also keeps the IDLE probe of a
   * later unlink from waiting long). */
  g_object_set (c->queue, "max-size-buffers", 0, "max-size-bytes", 0,
      "max-size-time", (guint64) 500 * GST_MSECOND, "leaky", 2, NULL);
  gst_object_ref (c->queue);
  gst_bin_add (mt_pipeline_bin (), c->queue);
  qsink = gst_element_get_static_pad (c->queue, "sink");
  qsrc = gst_element_get_static_pad (c->queue, "src");
  add_firewall (qsink, GST_OBJECT_NAME (c->queue));
  if (gst_pad_link (qsrc, in->pad) != GST_PAD_LINK_OK) {
    GST_WARNING ("cannot link queue into %s", c->sink);
    gst_bin_remove (mt_pipeline_bin (), c->queue);
    gst_clear_object (&c->queue);
    source_release (src, c->media, in->format);
    c->failed = TRUE;
    goto out;
  }
  gst_element_sync_state_with_parent (c->queue);
  c->format = in->format;
  c->tee = gst_object_ref (tee);
  c->tee_pad = gst_element_request_pad_simple (tee, "src_%u");
  gst_pad_link (c->tee_pad, qsink);
  c->sink_pad = gst_object_ref (in->pad);
  in->link = c;
  GST_INFO ("connected %s -> %s %s as %s", c->source, c->sink,
      mt_media_name (c->media), mt_format_name (in->format));
  /* A new receiver needs a keyframe now, not at the next GOP. */
  if (c->media == MT_MEDIA_VIDEO && in->format != MT_FORMAT_RAW)
    request_keyframe_from_tee (tee);

out:
  g_clear_object (&qsink);
  g_clear_object (&qsrc);
}

/* Cuts a materialised connection off its tee while the pipeline plays
 * (see detach_start); its sink input takes no new link until the old
 * queue is gone, which is a main-loop iteration later. */
static void
unmaterialise (MtConnection * c)
{
  MtElement *sink, *src;
  MtDetach *d;

  if (!c->queue)
    return;
  d = detach_new (g_steal_pointer (&c->tee), g_steal_pointer (&c->tee_pad),
      g_steal_pointer (&c->queue));
  d->sink = g_strdup (c->sink);
  d->media = c->media;
  d->sink_pad = g_steal_pointer (&c->sink_pad);
  sink = mt_element_lookup (c->sink, NULL);
  if (sink && sink->in[c->media].link == c) {
    sink->in[c->media].link = NULL;
    sink->in[c->media].teardown = d;
  }
  detach_start (d);
  src = mt_element_lookup (c->source, NULL);
  if (src)
    source_release (src, c->media, c->format);
  GST_INFO ("disconnected %s -> %s %s", c->source, c->sink,
      mt_media_name (c->media));
}

static void
connection_free (MtConnection * c)
{
  unmaterialise (c);
  g_free (c->source);
  g_free (c->sink);
  g_free (c);
}

void
mt_link_refresh (void)
{
  GList *l;

  for (l = connections; l; l = l->next)
    materialise (l->data);
}

void
mt_link_connect (const gchar * source, const gchar * sink, MtMediaType media)
{
  MtConnection *c;
  GList *l, *next;

  for (l = connections; l; l = next) {
    c = l->data;
    next = l->next;
    if (strcmp (c->sink, sink) != 0 || c->media != media)
      continue;
    if (strcmp (c->source, source) == 0)
      return;                   /* already connected: nothing changes */
    /* One source per sink input: the newer connection replaces it.  It
     * materialises once the old branch is cut off. */
    connections = g_list_delete_link (connections, l);
    connection_free (c);
  }
  c = g_new0 (MtConnection, 1);
  c->source = g_strdup (source);
  c->sink = g_strdup (sink);
  c->media = media;
  connections = g_list_append (connections, c);
  mt_link_refresh ();
}

void
mt_link_disconnect (const gchar * source, const gchar * sink,
    MtMediaType media)
{
  GList *l;

  for (l = connections; l; l = l->next) {
    MtConnection *c = l->data;
    if (c->media == media && strcmp (c->source, source) == 0
        && strcmp (c->sink, sink) == 0) {
      connections = g_list_delete_link (connections, l);
      connection_free (c);
      break;
    }
  }
}

void
mt_link_forget_element (MtElement * element)
{
  GList *l, *next;
  guint m, f;

  releasing = element;
  for (l = connections; l; l = next) {
    MtConnection *c = l->data;
    next = l->next;
    if (strcmp (c->source, element->id) == 0
        || strcmp (c->sink, element->id) == 0) {
      connections = g_list_delete_link (connections, l);
      connection_free (c);
    }
  }
  releasing = NULL;
  /* Every user of its branches is gone, so none should be left; release
   * removes the elements themselves. */
  for (m = 0; m < MT_MEDIA_COUNT; m++)
    for (f = 0; f < MT_FORMAT_COUNT; f++)
      g_clear_object (&element->out[m].branch_pad[f]);
}

/* Tells every element `source` feeds (or is declared to feed) that its stream
 * ended.  EOS itself never travels through the shared tees: it would end
 * every consumer's encoder, so sinks that care (a recorder with
 * stopOnEndOfStream) are told out of band. */
void
mt_link_source_ended (MtElement * source)
{
  GPtrArray *sinks = g_ptr_array_new_with_free_func (g_free);
  GArray *medias = g_array_new (FALSE, FALSE, sizeof (MtMediaType));
  GList *l;
  guint i;

  /* Copy first: a callback may change the connection list. */
  for (l = connections; l; l = l->next) {
    MtConnection *c = l->data;
    if (strcmp (c->source, source->id) == 0) {
      g_ptr_array_add (sinks, g_strdup (c->sink));
      g_array_append_val (medias, c->media);
    }
  }
  for (i = 0; i < sinks->len; i++) {
    MtElement *sink = mt_element_lookup (g_ptr_array_index (sinks, i), NULL);
    if (sink && sink->source_ended)
      sink->source_ended (sink, g_array_index (medias, MtMediaType, i));
  }
  g_array_unref (medias);
  g_ptr_array_unref (sinks);
}

/* A change at either end gives a failed connection another chance. */
static void
retry_failed (MtElement * self)
{
  GList *l;

  for (l = connections; l; l = l->next) {
    MtConnection *c = l->data;
    if (strcmp (c->source, self->id) == 0 || strcmp (c->sink, self->id) == 0)
      c->failed = FALSE;
  }
}

void
mt_source_set_origin (MtElement * self, MtMediaType media, MtFormat format,
    GstElement * tee)
{
  MtSourceMedia *src = &self->out[media];

  src->origin = format;
  src->tees[format] = tee;
  retry_failed (self);
  mt_link_refresh ();
}

void
mt_sink_set_input (MtElement * self, MtMediaType media, MtFormat format,
    GstPad * pad)
{
  MtSinkInput *in = &self->in[media];

  if (in->link)
    unmaterialise (in->link);
  in->format = format;
  g_clear_object (&in->pad);
  if (pad)
    in->pad = gst_object_ref (pad);
  retry_failed (self);
  mt_link_refresh ();
}
