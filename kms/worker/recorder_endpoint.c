/* RecorderEndpoint: writes what it is connected to into a file.
 *
 * While recording, per media:
 *
 *   sink input -> queue [-> h264parse] -> muxer -> filesink
 *
 * The sink inputs ask the link model for encoded formats (VP8/H264/OPUS),
 * so a recorder shares its source's encoders with every other consumer.
 * Muxers: webmmux (WEBM: VP8 + Opus), matroskamux (MKV: H.264 + Opus) and
 * mp4mux (MP4: H.264 + AAC, as Kurento and common players expect) with
 * 0.5 s fragments, so a file cut short by a crash still plays up to its last
 * fragment.
 *
 * Timestamps are rebased: the first buffer after record() is time 0, and
 * the time spent paused is cut out.  This works in running time, each
 * input's buffers converted with that input's own segment, and the muxer
 * sees one segment starting at 0: the streams' raw timestamps are not
 * comparable (x264enc shifts its PTS and its segment by about 1000 h, the
 * audio encoders do not).  Video starts at a keyframe inside the recording
 * (one is requested at record(), at every resume, and again when the first
 * one came just before time 0).  stop() sends EOS through the
 * muxer and replies once it reached the file (or after 3 s), so the file is
 * complete when the reply is written; the main loop keeps serving other
 * requests meanwhile.  Only release (and a record() during a stop) waits
 * for the file synchronously.
 *
 * An http(s):// recording is uploaded as Kurento does it: curlhttpsink
 * POSTs the muxer's output to the URL with `Transfer-Encoding: chunked`
 * (and `Expect: 100-continue`, `Content-Type` from the muxer's caps) while
 * recording, and ends the body at stop.  The muxers then write in streaming
 * mode, since they cannot seek back in an upload to patch their headers.
 * The upload is complete when curlhttpsink has handled the EOS, which it
 * does once the server answered; a failed upload (connection refused or
 * closed, an HTTP error status) is an Error event from the sink. */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <gst/video/video.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STOP_TIMEOUT_MS 3000
/* stopOnEndOfStream: what the source pushed before its end still has to go
 * through the connection queue and a shared encoder before the EOS. */
#define SOURCE_END_DRAIN_MS 300

typedef enum
{
  REC_IDLE,
  REC_RECORDING,
  REC_PAUSED,
  REC_STOPPING,
} MtRecState;

typedef struct
{
  const gchar *name;
  MtFormat video, audio;        /* NONE: not recorded */
  const gchar *mux;
} MtProfile;

static const MtProfile profiles[] = {
  {"WEBM", MT_FORMAT_VP8, MT_FORMAT_OPUS, "webmmux"},
  {"WEBM_VIDEO_ONLY", MT_FORMAT_VP8, MT_FORMAT_NONE, "webmmux"},
  {"WEBM_AUDIO_ONLY", MT_FORMAT_NONE, MT_FORMAT_OPUS, "webmmux"},
  {"MKV", MT_FORMAT_H264, MT_FORMAT_OPUS, "matroskamux"},
  {"MKV_VIDEO_ONLY", MT_FORMAT_H264, MT_FORMAT_NONE, "matroskamux"},
  {"MKV_AUDIO_ONLY", MT_FORMAT_NONE, MT_FORMAT_OPUS, "matroskamux"},
  {"MP4", MT_FORMAT_H264, MT_FORMAT_AAC, "mp4mux"},
  {"MP4_VIDEO_ONLY", MT_FORMAT_H264, MT_FORMAT_NONE, "mp4mux"},
  {"MP4_AUDIO_ONLY", MT_FORMAT_NONE, MT_FORMAT_AAC, "mp4mux"},
};

typedef struct _MtRecorder MtRecorder;

typedef struct
{
  MtRecorder *rec;
  MtMediaType media;
  GstElement *queue;
  gboolean need_keyframe;       /* video: drop until a keyframe */
  GstSegment segment;           /* streaming thread: the upstream one */
} MtRecInput;

struct _MtRecorder
{
  gchar *id;
  MtElement *el;
  gchar *path;                  /* file recording, or NULL */
  gchar *url;                   /* http(s) upload, or NULL */
  const MtProfile *profile;
  GList *chain;                 /* GstElements of the current recording */
  GstElement *mux;
  GstElement *sink;             /* filesink or curlhttpsink */
  guint upload_poll;            /* source id: waits for an upload's end */
  MtRecInput inputs[MT_MEDIA_COUNT];
  gboolean stop_on_eos;
  /* Record requests only: this recorder created its file, so a new recording
   * after a stop may write it again; no other existing file is overwritten. */
  gboolean owns_file;
  /* KMS_RECORDER_OVERWRITE: an existing regular file may be replaced (as
   * Kurento does); symbolic links are still never followed. */
  gboolean overwrite;
  /* Main loop only: a stop in progress. */
  guint generation;             /* counts recordings, so late callbacks of
                                 * an earlier one are recognised */
  GArray *pending_stops;        /* gint64 ids of stop requests to answer */
  guint stop_timeout;           /* source id */
  gint64 stop_deadline;         /* monotonic */

  /* Shared with streaming threads. */
  GMutex lock;
  GCond cond;
  MtRecState state;
  gboolean eos_written;
  gboolean have_base;
  /* Running times (see on_input_data). */
  GstClockTime base;            /* of the first recorded buffer */
  GstClockTime paused_total;    /* cut out by pauses */
  GstClockTime last_raw;        /* latest let through */
  gboolean resume_pending;      /* first buffer after resume sets the gap */
};

static MtRecorder *
recorder_of (MtElement * el)
{
  if (!el || strcmp (el->type, "RecorderEndpoint") != 0)
    return NULL;
  return el->priv;
}

static MtElement *
lookup_recorder (JsonObject * params, MtRecorder ** out, GError ** error)
{
  const gchar *id = mt_param_string (params, "id", error);
  MtElement *el;

  if (!id || !(el = mt_element_lookup (id, error)))
    return NULL;
  if (!(*out = recorder_of (el))) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "%s is not a RecorderEndpoint", id);
    return NULL;
  }
  return el;
}

/* ---------------------------------------------------------------------- */
/* Streaming threads                                                       */

/* The upstream segment is kept to turn timestamps into running time; the
 * muxer gets a plain segment from 0 instead, since the buffers it receives
 * carry rebased running times.  A gap event's time belongs to the upstream
 * segment, so it is dropped. */
static GstPadProbeReturn
on_input_event (MtRecInput * in, GstPadProbeInfo * info)
{
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  const GstSegment *upstream;
  GstSegment plain;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_SEGMENT:
      gst_event_parse_segment (event, &upstream);
      if (upstream->format != GST_FORMAT_TIME)
        return GST_PAD_PROBE_OK;
      gst_segment_copy_into (upstream, &in->segment);
      gst_segment_init (&plain, GST_FORMAT_TIME);
      GST_PAD_PROBE_INFO_DATA (info) = gst_event_new_segment (&plain);
      gst_event_set_seqnum (GST_PAD_PROBE_INFO_DATA (info),
          gst_event_get_seqnum (event));
      gst_event_unref (event);
      return GST_PAD_PROBE_OK;
    case GST_EVENT_GAP:
      return GST_PAD_PROBE_DROP;
    default:
      return GST_PAD_PROBE_OK;
  }
}

static GstPadProbeReturn
on_input_buffer (GstPad * pad, MtRecInput * in, GstPadProbeInfo * info)
{
  MtRecorder *rec = in->rec;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstClockTime ts = GST_BUFFER_PTS (buf);
  GstPadProbeReturn ret = GST_PAD_PROBE_DROP;
  gboolean is_key = !GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  gboolean want_keyframe = FALSE;

  if (!GST_CLOCK_TIME_IS_VALID (ts))
    ts = GST_BUFFER_DTS (buf);
  ts = gst_segment_to_running_time (&in->segment, GST_FORMAT_TIME, ts);
  if (!GST_CLOCK_TIME_IS_VALID (ts))
    return GST_PAD_PROBE_DROP;  /* no time, or outside its segment */

  g_mutex_lock (&rec->lock);
  if (rec->state != REC_RECORDING)
    goto out;
  if (in->media == MT_MEDIA_VIDEO && in->need_keyframe && !is_key)
    goto out;
  if (!rec->have_base) {
    rec->have_base = TRUE;
    rec->base = ts;
    rec->last_raw = ts;
  }
  if (rec->resume_pending) {
    rec->resume_pending = FALSE;
    if (ts > rec->last_raw)
      rec->paused_total += ts - rec->last_raw;
  }
  if (ts < rec->base + rec->paused_total) {
    /* Audio set time 0 and this keyframe, encoded just before it, cannot
     * open the video: what follows it would not decode.  Wait for the next
     * one, asked for now rather than at the end of the GOP. */
    want_keyframe = in->media == MT_MEDIA_VIDEO && in->need_keyframe;
    goto out;
  }
  in->need_keyframe = FALSE;
  if (ts > rec->last_raw)
    rec->last_raw = ts;

  buf = gst_buffer_make_writable (buf);
  {
    GstClockTime shift = rec->base + rec->paused_total;
    GstClockTime pts = gst_segment_to_running_time (&in->segment,
        GST_FORMAT_TIME, GST_BUFFER_PTS (buf));
    guint64 dts = 0;
    gint sign = gst_segment_to_running_time_full (&in->segment,
        GST_FORMAT_TIME, GST_BUFFER_DTS (buf), &dts);

    /* A PTS outside the segment left ts to the DTS; a DTS may precede the
     * segment (then it is negative running time). */
    GST_BUFFER_PTS (buf) = GST_CLOCK_TIME_IS_VALID (pts) ? pts - shift
        : GST_CLOCK_TIME_NONE;
    if (sign == 0)
      GST_BUFFER_DTS (buf) = GST_CLOCK_TIME_NONE;
    else
      GST_BUFFER_DTS (buf) = sign > 0 && dts >= shift ? dts - shift : 0;
  }
  GST_PAD_PROBE_INFO_DATA (info) = buf;
  ret = GST_PAD_PROBE_OK;

out:
  g_mutex_unlock (&rec->lock);
  if (want_keyframe)
    gst_pad_push_event (pad,
        gst_video_event_new_upstream_force_key_unit (GST_CLOCK_TIME_NONE,
            TRUE, 0));
  return ret;
}

static GstPadProbeReturn
on_input_data (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
    return on_input_buffer (pad, user_data, info);
  return on_input_event (user_data, info);
}

/* Names one recording of one recorder for callbacks that reach the main
 * loop later, when the recorder may be gone or recording anew. */
typedef struct
{
  gchar *id;
  guint generation;
} MtRecRef;

static MtRecRef *
rec_ref_new (MtRecorder * rec)
{
  MtRecRef *r = g_new0 (MtRecRef, 1);

  r->id = g_strdup (rec->id);
  r->generation = rec->generation;
  return r;
}

static void
rec_ref_free (gpointer data)
{
  MtRecRef *r = data;

  g_free (r->id);
  g_free (r);
}

static gboolean handle_eos_written (gpointer data);

static GstPadProbeReturn
on_file_event (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  MtRecorder *rec = user_data;

  if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) == GST_EVENT_EOS) {
    g_mutex_lock (&rec->lock);
    rec->eos_written = TRUE;
    g_cond_broadcast (&rec->cond);
    g_mutex_unlock (&rec->lock);
    /* The generation is only written on the main loop while no chain
     * (hence no probe) exists, so reading it here is safe. */
    mt_invoke (handle_eos_written, rec_ref_new (rec), rec_ref_free);
  }
  return GST_PAD_PROBE_OK;
}

/* ---------------------------------------------------------------------- */
/* Recording                                                               */

static void
request_keyframe (MtRecorder * rec)
{
  MtRecInput *in = &rec->inputs[MT_MEDIA_VIDEO];

  if (in->queue)
    gst_element_send_event (in->queue,
        gst_video_event_new_upstream_force_key_unit (GST_CLOCK_TIME_NONE,
            TRUE, 0));
}

static GstElement *
chain_add (MtRecorder * rec, const gchar * factory, const gchar * what)
{
  gchar *name = g_strdup_printf ("%s-rec-%s", rec->id, what);
  GstElement *e = gst_element_factory_make (factory, name);

  g_free (name);
  if (!e)
    return NULL;
  mt_element_add_owned (rec->el, e);
  rec->chain = g_list_prepend (rec->chain, e);
  return e;
}

static void
chain_clear (MtRecorder * rec)
{
  GList *l;
  guint m;

  for (m = 0; m < MT_MEDIA_COUNT; m++)
    if (rec->inputs[m].queue)
      mt_sink_set_input (rec->el, m, MT_FORMAT_NONE, NULL);
  /* In creation order: the muxer stops first and flushes its inputs, which
   * frees an input queue's thread blocked pushing into it (after a write
   * error the muxer never consumes again). */
  for (l = g_list_last (rec->chain); l; l = l->prev)
    mt_element_remove_owned (rec->el, l->data);
  g_list_free (rec->chain);
  rec->chain = NULL;
  rec->mux = NULL;
  rec->sink = NULL;
  for (m = 0; m < MT_MEDIA_COUNT; m++)
    rec->inputs[m].queue = NULL;
}

static gboolean
build_input (MtRecorder * rec, MtMediaType media, MtFormat format,
    GError ** error)
{
  MtRecInput *in = &rec->inputs[media];
  GstElement *last;
  GstPad *sink;
  const gchar *what = media == MT_MEDIA_VIDEO ? "video" : "audio";
  gchar *qname = g_strdup_printf ("%s-queue", what);

  in->rec = rec;
  in->media = media;
  in->need_keyframe = media == MT_MEDIA_VIDEO;
  gst_segment_init (&in->segment, GST_FORMAT_TIME);
  in->queue = chain_add (rec, "queue", qname);
  g_free (qname);
  /* Muxers interleave: let one stream run ahead of the other by up to 3 s. */
  g_object_set (in->queue, "max-size-buffers", 0, "max-size-bytes", 0,
      "max-size-time", (guint64) 3 * GST_SECOND, NULL);
  last = in->queue;
  if (format == MT_FORMAT_H264) {
    GstElement *parse = chain_add (rec, "h264parse", "h264parse");
    gst_element_link (last, parse);
    last = parse;
  }
  if (!gst_element_link_pads (last, "src", rec->mux,
          media == MT_MEDIA_VIDEO ? "video_%u" : "audio_%u")) {
    g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL,
        "cannot link %s into %s", what, rec->profile->mux);
    return FALSE;
  }
  sink = gst_element_get_static_pad (in->queue, "sink");
  gst_pad_add_probe (sink, GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_input_data, in, NULL);
  mt_flow_watch_pad (rec->el->flow_in[media], sink);
  gst_object_unref (sink);
  return TRUE;
}

static gboolean
start_recording (MtRecorder * rec, GError ** error)
{
  GstElement *sink;
  GstPad *pad;
  GList *l;

  rec->mux = chain_add (rec, rec->profile->mux, "mux");
  if (strcmp (rec->profile->mux, "mp4mux") == 0)
    g_object_set (rec->mux, "fragment-duration", 500, NULL);
  if (rec->url) {
    /* An upload cannot be patched afterwards: the muxer writes no index
     * and no duration it would have to seek back for. */
    g_object_set (rec->mux, "streamable", TRUE, NULL);
    sink = chain_add (rec, "curlhttpsink", "httpsink");
    if (!sink) {
      g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL,
          "curlhttpsink is missing (gstreamer1.0-plugins-bad)");
      return FALSE;
    }
    /* As Kurento sets it up; and unlike curlhttpsink's default, an https
     * server's certificate is verified. */
    g_object_set (sink, "location", rec->url, "blocksize", 1024 * 1024,
        "qos", FALSE, "sync", FALSE, "async", FALSE, "insecure", FALSE, NULL);
  } else {
    sink = chain_add (rec, "filesink", "filesink");
    g_object_set (sink, "location", rec->path, "sync", FALSE, "async", FALSE,
        NULL);
    /* Unbuffered: what the muxer wrote is in the file even if the process
     * is killed the next moment (muxers write in fragments/clusters
     * anyway). */
    gst_util_set_object_arg (G_OBJECT (sink), "buffer-mode", "unbuffered");
  }
  rec->sink = sink;
  pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_file_event,
      rec, NULL);
  gst_object_unref (pad);
  gst_element_link (rec->mux, sink);
  if ((rec->profile->video != MT_FORMAT_NONE
          && !build_input (rec, MT_MEDIA_VIDEO, rec->profile->video, error))
      || (rec->profile->audio != MT_FORMAT_NONE
          && !build_input (rec, MT_MEDIA_AUDIO, rec->profile->audio,
              error)))
    return FALSE;

  rec->generation++;
  g_mutex_lock (&rec->lock);
  rec->state = REC_RECORDING;
  rec->have_base = FALSE;
  rec->paused_total = 0;
  rec->resume_pending = FALSE;
  rec->eos_written = FALSE;
  g_mutex_unlock (&rec->lock);

  /* Chain order is sink first (prepended last), so downstream starts
   * first. */
  for (l = g_list_last (rec->chain); l; l = l->prev)
    if (gst_element_sync_state_with_parent (l->data) == FALSE) {
      g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL, "cannot start %s",
          GST_OBJECT_NAME (l->data));
      return FALSE;
    }
  if (rec->inputs[MT_MEDIA_VIDEO].queue) {
    pad = gst_element_get_static_pad (rec->inputs[MT_MEDIA_VIDEO].queue,
        "sink");
    mt_sink_set_input (rec->el, MT_MEDIA_VIDEO, rec->profile->video, pad);
    gst_object_unref (pad);
  }
  if (rec->inputs[MT_MEDIA_AUDIO].queue) {
    pad = gst_element_get_static_pad (rec->inputs[MT_MEDIA_AUDIO].queue,
        "sink");
    mt_sink_set_input (rec->el, MT_MEDIA_AUDIO, rec->profile->audio, pad);
    gst_object_unref (pad);
  }
  return TRUE;
}

/* Starts ending the file: no more buffers in, EOS through the muxer.  The
 * filesink seeing the EOS (handle_eos_written) or the timeout completes it. */
static gboolean on_stop_timeout (gpointer data);

/* After a write error (disk full, reader of a pipe gone) no EOS will ever
 * reach the file; the muxer's last push tells. */
static gboolean
write_failed (MtRecorder * rec)
{
  GstPad *src;
  GstFlowReturn ret;

  if (!rec->mux)
    return FALSE;
  src = gst_element_get_static_pad (rec->mux, "src");
  ret = gst_pad_get_last_flow_return (src);
  gst_object_unref (src);
  return ret < GST_FLOW_EOS;
}

/* The recording is complete: the EOS reached the file, or the upload's
 * sink has handled it, i.e. the server answered.  A sink pad is flagged EOS
 * only after its element accepted the event. */
static gboolean
recording_complete (MtRecorder * rec)
{
  GstPad *pad;
  gboolean done;

  if (!rec->url)
    return rec->eos_written;
  if (!rec->sink)
    return FALSE;
  pad = gst_element_get_static_pad (rec->sink, "sink");
  done = GST_PAD_IS_EOS (pad);
  gst_object_unref (pad);
  return done;
}

static gboolean on_upload_poll (gpointer data);

/* Off the main loop: the EOS is serialized with the data, so sending it
 * waits while the queue is full (a stalled file). */
static void
send_eos (GstElement * queue, gpointer user_data)
{
  GstPad *sink = gst_element_get_static_pad (queue, "sink");

  gst_pad_send_event (sink, gst_event_new_eos ());
  gst_object_unref (sink);
}

static void
begin_stop (MtRecorder * rec)
{
  guint m;

  g_mutex_lock (&rec->lock);
  rec->state = REC_STOPPING;
  g_mutex_unlock (&rec->lock);
  rec->stop_deadline = g_get_monotonic_time ()
      + (gint64) STOP_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
  rec->stop_timeout = g_timeout_add_full (G_PRIORITY_DEFAULT, STOP_TIMEOUT_MS,
      on_stop_timeout, rec_ref_new (rec), rec_ref_free);
  for (m = 0; m < MT_MEDIA_COUNT; m++)
    if (rec->inputs[m].queue)
      gst_element_call_async (rec->inputs[m].queue, send_eos, NULL, NULL);
  /* No event tells when an upload's sink is done with the EOS: look. */
  if (rec->url)
    rec->upload_poll = g_timeout_add_full (G_PRIORITY_DEFAULT, 20,
        on_upload_poll, rec_ref_new (rec), rec_ref_free);
  /* Nothing to wait for: complete on the main loop (after the reply of a
   * stop that is still being dispatched). */
  if (write_failed (rec))
    mt_invoke (handle_eos_written, rec_ref_new (rec), rec_ref_free);
}

/* The file is complete (or will not be): tear the chain down, answer the
 * stop requests waiting for it, then tell the client. */
static void
complete_stop (MtRecorder * rec, gboolean notify)
{
  guint i;

  if (rec->stop_timeout) {
    g_source_remove (rec->stop_timeout);
    rec->stop_timeout = 0;
  }
  if (rec->upload_poll) {
    g_source_remove (rec->upload_poll);
    rec->upload_poll = 0;
  }
  g_mutex_lock (&rec->lock);
  if (!rec->url && !rec->eos_written)
    GST_WARNING ("%s: EOS did not reach %s in time", rec->id, rec->path);
  rec->state = REC_IDLE;
  g_mutex_unlock (&rec->lock);
  chain_clear (rec);
  for (i = 0; i < rec->pending_stops->len; i++)
    mt_protocol_reply_ok (g_array_index (rec->pending_stops, gint64, i),
        json_object_new ());
  g_array_set_size (rec->pending_stops, 0);
  if (notify)
    mt_protocol_notify ("Stopped", rec->id, json_object_new ());
}

static MtRecorder *
current_recording (MtRecRef * r)
{
  MtRecorder *rec = recorder_of (mt_element_lookup (r->id, NULL));

  if (!rec || rec->generation != r->generation)
    return NULL;
  return rec;
}

/* Main loop: the EOS reached the filesink. */
static gboolean
handle_eos_written (gpointer data)
{
  MtRecorder *rec = current_recording (data);

  /* An upload's EOS reaching its sink is not its end (on_upload_poll). */
  if (rec && rec->state == REC_STOPPING && (recording_complete (rec)
          || write_failed (rec)))
    complete_stop (rec, TRUE);
  return G_SOURCE_REMOVE;
}

static gboolean
on_upload_poll (gpointer data)
{
  MtRecorder *rec = current_recording (data);

  if (!rec || rec->state != REC_STOPPING)
    return G_SOURCE_REMOVE;
  if (!recording_complete (rec) && !write_failed (rec))
    return G_SOURCE_CONTINUE;
  rec->upload_poll = 0;         /* removed by returning G_SOURCE_REMOVE */
  complete_stop (rec, TRUE);
  return G_SOURCE_REMOVE;
}

static gboolean
on_stop_timeout (gpointer data)
{
  MtRecorder *rec = current_recording (data);

  if (rec && rec->state == REC_STOPPING) {
    rec->stop_timeout = 0;      /* removed by returning G_SOURCE_REMOVE */
    complete_stop (rec, TRUE);
  }
  return G_SOURCE_REMOVE;
}

/* Ends the file before returning (release, or a record() while a stop is
 * under way): waits for the EOS on the cond instead of the main loop. */
static void
finish_now (MtRecorder * rec, gboolean notify)
{
  if (!rec->chain)
    return;
  if (rec->state != REC_STOPPING)
    begin_stop (rec);
  g_mutex_lock (&rec->lock);
  while (!recording_complete (rec) && !write_failed (rec))
    if (!g_cond_wait_until (&rec->cond, &rec->lock, MIN (rec->stop_deadline,
                g_get_monotonic_time () + 100 * G_TIME_SPAN_MILLISECOND)))
      if (g_get_monotonic_time () >= rec->stop_deadline)
        break;
  g_mutex_unlock (&rec->lock);
  complete_stop (rec, notify);
}

/* stopOnEndOfStream: a source feeding this recorder reached its end. */
static gboolean
on_source_drained (gpointer data)
{
  MtRecorder *rec = current_recording (data);

  if (rec && rec->chain && (rec->state == REC_RECORDING
          || rec->state == REC_PAUSED)) {
    GST_INFO ("%s: source ended, stopping", rec->id);
    begin_stop (rec);
  }
  return G_SOURCE_REMOVE;
}

static void
recorder_source_ended (MtElement * el, MtMediaType media)
{
  MtRecorder *rec = el->priv;

  if (!rec || !rec->stop_on_eos || !rec->chain
      || (rec->state != REC_RECORDING && rec->state != REC_PAUSED)
      || !rec->inputs[media].queue)
    return;
  g_timeout_add_full (G_PRIORITY_DEFAULT, SOURCE_END_DRAIN_MS,
      on_source_drained, rec_ref_new (rec), rec_ref_free);
}

typedef struct
{
  gchar *id;
  gchar *type;
  gchar *description;
} MtRecError;

static void
rec_error_free (gpointer data)
{
  MtRecError *e = data;

  g_free (e->id);
  g_free (e->type);
  g_free (e->description);
  g_free (e);
}

static gboolean
send_rec_error (gpointer data)
{
  MtRecError *e = data;
  MtElement *el = mt_element_lookup (e->id, NULL);

  if (el)
    mt_element_error (el, e->type, e->description, 0);
  return G_SOURCE_REMOVE;
}

typedef struct
{
  gchar *id;
  const gchar *event;
} MtRecEvent;

static void
rec_event_free (gpointer data)
{
  MtRecEvent *e = data;

  g_free (e->id);
  g_free (e);
}

static gboolean
send_rec_event (gpointer data)
{
  MtRecEvent *e = data;

  if (mt_element_lookup (e->id, NULL))
    mt_protocol_notify (e->event, e->id, json_object_new ());
  return G_SOURCE_REMOVE;
}

/* Notifications caused by a request go after its reply. */
static void
later (MtRecorder * rec, const gchar * event)
{
  MtRecEvent *e = g_new0 (MtRecEvent, 1);

  e->id = g_strdup (rec->id);
  e->event = event;
  mt_invoke (send_rec_event, e, rec_event_free);
}

/* ---------------------------------------------------------------------- */
/* Methods                                                                 */

JsonObject *
mt_recorder_record (JsonObject * params, GError ** error)
{
  MtRecorder *rec;
  MtElement *el;
  int fd;

  if (!(el = lookup_recorder (params, &rec, error)))
    return NULL;
  g_mutex_lock (&rec->lock);
  if (rec->state == REC_PAUSED) {
    rec->state = REC_RECORDING;
    rec->resume_pending = TRUE;
    rec->inputs[MT_MEDIA_VIDEO].need_keyframe = TRUE;
    g_mutex_unlock (&rec->lock);
    request_keyframe (rec);
    later (rec, "Recording");
    return json_object_new ();
  }
  if (rec->state == REC_RECORDING) {
    g_mutex_unlock (&rec->lock);
    return json_object_new ();
  }
  g_mutex_unlock (&rec->lock);
  /* A stop still under way finishes its file before a new one starts. */
  if (rec->state == REC_STOPPING)
    finish_now (rec, TRUE);

  /* Open the file here so the reason of a failure can be reported as
   * Kurento does (an Error event), instead of a bus error from filesink.
   * Unlike Kurento, a symbolic link is never followed (O_NOFOLLOW; a link
   * could point anywhere the engine may write) and an existing regular file
   * is never overwritten (O_EXCL creates the file or fails), unless this
   * recorder wrote it itself. A FIFO or device is written, not replaced. */
  if (rec->path) {
    struct stat st;
    gboolean exists = lstat (rec->path, &st) == 0;
    int flags = O_WRONLY | O_CREAT | O_NOFOLLOW;
    const gchar *why = NULL;

    if (exists && S_ISLNK (st.st_mode))
      why = "it is a symbolic link, which the engine never follows";
    else if (exists && S_ISREG (st.st_mode) && !rec->owns_file
        && !rec->overwrite)
      why = "the file exists, and the engine never overwrites a recording "
          "it did not write";
    else if (!exists)
      flags |= O_EXCL;
    else if (S_ISREG (st.st_mode))
      flags |= O_TRUNC;
    fd = why != NULL ? -1 : open (rec->path, flags, 0644);
    if (fd < 0) {
      MtRecError *e = g_new0 (MtRecError, 1);
      int err = errno;

      e->id = g_strdup (rec->id);
      e->type = g_strdup (why == NULL && err == ENOSPC ?
          "RESOURCE_ERROR_NO_SPACE_LEFT" : why == NULL && err == EROFS ?
          "RESOURCE_ERROR_WRITE" : "RESOURCE_ERROR_OPEN");
      e->description = g_strdup_printf ("Could not open file \"%s\" for "
          "writing: %s", rec->path, why != NULL ? why : err == EEXIST ?
          "the file exists, and the engine never overwrites a recording it "
          "did not write" : err == ELOOP ?
          "it is a symbolic link, which the engine never follows" :
          g_strerror (err));
      mt_invoke (send_rec_error, e, rec_error_free);
      return json_object_new ();
    }
    if (!exists)
      rec->owns_file = TRUE;
    close (fd);
  }
  if (!start_recording (rec, error)) {
    chain_clear (rec);
    g_mutex_lock (&rec->lock);
    rec->state = REC_IDLE;
    g_mutex_unlock (&rec->lock);
    return NULL;
  }
  later (rec, "Recording");
  return json_object_new ();
}

JsonObject *
mt_recorder_pause (JsonObject * params, GError ** error)
{
  MtRecorder *rec;

  if (!lookup_recorder (params, &rec, error))
    return NULL;
  g_mutex_lock (&rec->lock);
  if (rec->state == REC_RECORDING) {
    rec->state = REC_PAUSED;
    g_mutex_unlock (&rec->lock);
    later (rec, "Paused");
    return json_object_new ();
  }
  g_mutex_unlock (&rec->lock);
  return json_object_new ();
}

/* Replies once the file is complete; Stopped follows the reply. */
JsonObject *
mt_recorder_stop (JsonObject * params, GError ** error)
{
  MtRecorder *rec;
  gint64 id;

  if (!lookup_recorder (params, &rec, error))
    return NULL;
  if (!rec->chain)
    return json_object_new ();
  id = mt_request_defer ();
  g_array_append_val (rec->pending_stops, id);
  if (rec->state != REC_STOPPING)
    begin_stop (rec);
  return NULL;
}

/* ---------------------------------------------------------------------- */
/* Life cycle                                                              */

/* Release while recording finishes the file first, as KMS does. */
static void
recorder_destroy (MtElement * el)
{
  MtRecorder *rec = el->priv;

  finish_now (rec, FALSE);
  /* Stop requests still waiting are answered (the file is complete). */
  g_array_unref (rec->pending_stops);
  g_mutex_clear (&rec->lock);
  g_cond_clear (&rec->cond);
  g_free (rec->path);
  g_free (rec->url);
  g_free (rec->id);
  g_free (rec);
  el->priv = NULL;
}

/* options: {path: absolute file path | url: http(s) URL, profile:
 * MediaProfileSpecType, stopOnEndOfStream?: bool, overwrite?: bool} */
gboolean
mt_recorder_create (MtElement * el, JsonObject * options, GError ** error)
{
  MtRecorder *rec = g_new0 (MtRecorder, 1);
  const gchar *path, *profile = "WEBM";
  guint i;

  g_mutex_init (&rec->lock);
  g_cond_init (&rec->cond);
  rec->id = g_strdup (el->id);
  rec->el = el;
  rec->pending_stops = g_array_new (FALSE, FALSE, sizeof (gint64));
  el->priv = rec;
  el->destroy = recorder_destroy;
  el->source_ended = recorder_source_ended;

  if (!options) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE, "missing options.path");
    return FALSE;
  }
  if (json_object_has_member (options, "url")) {
    const gchar *url = mt_param_string (options, "url", error);

    if (!url)
      return FALSE;
    if (!g_str_has_prefix (url, "http://")
        && !g_str_has_prefix (url, "https://")) {
      g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
          "url %s is not http:// or https://", url);
      return FALSE;
    }
    rec->url = g_strdup (url);
  } else {
    if (!(path = mt_param_string (options, "path", error)))
      return FALSE;
    if (!g_path_is_absolute (path)) {
      g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
          "path %s is not absolute", path);
      return FALSE;
    }
    rec->path = g_strdup (path);
  }
  if (json_object_has_member (options, "profile")
      && !(profile = mt_param_string (options, "profile", error)))
    return FALSE;
  for (i = 0; i < G_N_ELEMENTS (profiles); i++)
    if (strcmp (profiles[i].name, profile) == 0)
      rec->profile = &profiles[i];
  if (!rec->profile) {
    g_set_error (error, MT_ERROR, MT_ERROR_UNSUPPORTED,
        "media profile %s is not supported", profile);
    return FALSE;
  }
  return mt_param_bool (options, "stopOnEndOfStream", FALSE,
      &rec->stop_on_eos, error)
      && mt_param_bool (options, "overwrite", FALSE, &rec->overwrite, error);
}
