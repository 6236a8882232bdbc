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
 * stall the others (it drops instead: leaky). */
#include "worker.h"

#include <gst/video/video.h>
#include <string.h>

struct _MtConnection
{
  gchar *source;
  gchar *sink;
  MtMediaType media;
  /* Materialised state; all NULL while the connection waits. */
  GstElement *tee;
  GstPad *tee_pad;
  GstElement *queue;
  GstPad *sink_pad;
};

static GList *connections;
static guint name_serial;

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

/* Realtime settings: a keyframe at most every 2 s at 30 fps so late joiners
 * and lossy receivers recover quickly.  The leaky queue drops frames when
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
          "key-int-max=60 bitrate=1500 threads=2 ! capsfilter caps=\""
          "video/x-h264,profile=constrained-baseline,stream-format=byte-stream,"
          "alignment=au\"";
    case MT_FORMAT_OPUS:
      return "queue ! audioconvert ! audioresample ! opusenc bitrate=64000";
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
    return format == MT_FORMAT_OPUS;
  return format == MT_FORMAT_VP8 || format == MT_FORMAT_H264;
}

static void
notify_transcoding (MtElement * el, MtMediaType media, const gchar * bin_name)
{
  JsonObject *data = json_object_new ();

  json_object_set_string_member (data, "mediaType", mt_media_name (media));
  json_object_set_string_member (data, "state", "TRANSCODING");
  json_object_set_string_member (data, "binName", bin_name);
  mt_protocol_notify ("MediaTranscoding", el->id, data);
}

/* Builds `from_tee -> desc -> new tee` inside the pipeline on behalf of el. */
static GstElement *
add_branch (MtElement * el, GstElement * from_tee, const gchar * desc,
    const gchar * what, gchar ** bin_name, GError ** error)
{
  GstElement *bin = NULL, *tee = NULL;
  GstPad *tee_pad = NULL, *bin_sink = NULL;
  GError *err = NULL;
  gchar *name;

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
  if (gst_pad_link (tee_pad, bin_sink) != GST_PAD_LINK_OK) {
    g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL, "cannot feed %s", what);
    gst_element_release_request_pad (from_tee, tee_pad);
    goto fail;
  }
  *bin_name = gst_object_get_name (GST_OBJECT (bin));
  GST_INFO ("%s: built %s", el->id, *bin_name);
  goto out;

fail:
  mt_element_remove_owned (el, bin);
  mt_element_remove_owned (el, tee);
  tee = NULL;
out:
  g_clear_object (&tee_pad);
  g_clear_object (&bin_sink);
  return tee;
}

static GstElement *
source_tee (MtElement * el, MtMediaType media, MtFormat format,
    GError ** error)
{
  MtSourceMedia *src = &el->out[media];
  GstElement *from, *tee;
  const gchar *desc, *what;
  gchar *bin_name = NULL;

  if (src->tees[format])
    return src->tees[format];
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
  if (format == MT_FORMAT_RAW) {
    from = source_tee (el, media, src->origin, error);
    desc = decoder_description (src->origin);
    what = media == MT_MEDIA_VIDEO ? "video-decoder" : "audio-decoder";
  } else {
    from = source_tee (el, media, MT_FORMAT_RAW, error);
    desc = encoder_description (format);
    what = format == MT_FORMAT_VP8 ? "vp8-encoder"
        : format == MT_FORMAT_H264 ? "h264-encoder" : "opus-encoder";
  }
  if (!from || !desc) {
    if (error && !*error)
      g_set_error (error, MT_ERROR, MT_ERROR_UNSUPPORTED,
          "cannot convert %s to %s", mt_format_name (src->origin),
          mt_format_name (format));
    return NULL;
  }
  tee = add_branch (el, from, desc, what, &bin_name, error);
  if (!tee)
    return NULL;
  src->tees[format] = tee;
  /* Kurento reports transcoding once per media type, when the first
   * encoder of a source is built. */
  if (format != MT_FORMAT_RAW && !src->transcoding) {
    src->transcoding = TRUE;
    notify_transcoding (el, media, bin_name);
  }
  g_free (bin_name);
  return tee;
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

void
mt_source_request_keyframe (MtElement * self)
{
  MtSourceMedia *src = &self->out[MT_MEDIA_VIDEO];
  guint f;

  for (f = MT_FORMAT_VP8; f <= MT_FORMAT_H264; f++)
    if (src->tees[f])
      request_keyframe_from_tee (src->tees[f]);
}

static void
materialise (MtConnection * c)
{
  MtElement *src, *sink;
  MtSinkInput *in;
  GstElement *tee;
  GstPad *qsink = NULL, *qsrc = NULL;
  GError *error = NULL;
  gchar *name;

  if (c->queue)
    return;
  if (!(src = mt_element_lookup (c->source, NULL))
      || !(sink = mt_element_lookup (c->sink, NULL)))
    return;
  in = &sink->in[c->media];
  if (in->format == MT_FORMAT_NONE || !in->pad || in->link || in->busy)
    return;
  if (src->out[c->media].origin == MT_FORMAT_NONE)
    return;

  tee = source_tee (src, c->media, in->format, &error);
  if (!tee) {
    GST_WARNING ("cannot connect %s -> %s: %s", c->source, c->sink,
        error->message);
    mt_element_error (sink, "UNEXPECTED_ELEMENT_ERROR", error->message, 0);
    g_clear_error (&error);
    return;
  }

  name = unique_name (c->sink, "in-queue");
  c->queue = gst_element_factory_make ("queue", name);
  g_free (name);
  /* Bounded and leaky: a stalled consumer drops its own data only. */
  g_object_set (c->queue, "max-size-buffers", 0, "max-size-bytes", 0,
      "max-size-time", (guint64) 500 * GST_MSECOND, "leaky", 2, NULL);
  gst_object_ref (c->queue);
  gst_bin_add (mt_pipeline_bin (), c->queue);
  qsink = gst_element_get_static_pad (c->queue, "sink");
  qsrc = gst_element_get_static_pad (c->queue, "src");
  if (gst_pad_link (qsrc, in->pad) != GST_PAD_LINK_OK) {
    GST_WARNING ("cannot link queue into %s", c->sink);
    gst_bin_remove (mt_pipeline_bin (), c->queue);
    gst_clear_object (&c->queue);
    goto out;
  }
  gst_element_sync_state_with_parent (c->queue);
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

/* Removes a materialised branch while the pipeline plays.  Releasing the
 * tee pad first is safe without an explicit blocking probe: tee drops the
 * pad from its list under its own lock and then deactivates it, which
 * waits for a push in progress.  Setting the queue to NULL then stops its
 * thread before we unlink it from the sink input, so the sink never sees a
 * half-removed branch and nothing gets a not-linked error. */
static void
unmaterialise (MtConnection * c)
{
  MtElement *sink;
  GstPad *qsrc;

  if (!c->queue)
    return;
  gst_element_release_request_pad (c->tee, c->tee_pad);
  gst_clear_object (&c->tee_pad);
  gst_clear_object (&c->tee);
  gst_element_set_state (c->queue, GST_STATE_NULL);
  qsrc = gst_element_get_static_pad (c->queue, "src");
  gst_pad_unlink (qsrc, c->sink_pad);
  gst_object_unref (qsrc);
  gst_bin_remove (mt_pipeline_bin (), c->queue);
  gst_clear_object (&c->queue);
  gst_clear_object (&c->sink_pad);
  sink = mt_element_lookup (c->sink, NULL);
  if (sink && sink->in[c->media].link == c)
    sink->in[c->media].link = NULL;
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
    /* One source per sink input: the newer connection replaces it. */
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

  for (l = connections; l; l = next) {
    MtConnection *c = l->data;
    next = l->next;
    if (strcmp (c->source, element->id) == 0
        || strcmp (c->sink, element->id) == 0) {
      connections = g_list_delete_link (connections, l);
      connection_free (c);
    }
  }
}

void
mt_source_set_origin (MtElement * self, MtMediaType media, MtFormat format,
    GstElement * tee)
{
  MtSourceMedia *src = &self->out[media];

  src->origin = format;
  src->tees[format] = tee;
  mt_link_refresh ();
}

void
mt_sink_set_input (MtElement * self, MtMediaType media, MtFormat format,
    GstPad * pad)
{
  MtSinkInput *in = &self->in[media];
  GList *l;

  for (l = connections; l; l = l->next) {
    MtConnection *c = l->data;
    if (c == in->link)
      unmaterialise (c);
  }
  in->format = format;
  g_clear_object (&in->pad);
  if (pad)
    in->pad = gst_object_ref (pad);
  mt_link_refresh ();
}
