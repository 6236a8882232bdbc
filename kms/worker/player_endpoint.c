/* PlayerEndpoint: uridecodebin in a pipeline of its own, feeding appsrcs in
 * the main pipeline.
 *
 * The internal pipeline decodes and paces the file (appsink sync=true), so
 * pause, seek and EOS stay inside it and never flush or end the shared
 * pipeline.  Samples cross into the main pipeline through live appsrcs that
 * stamp each buffer with the main pipeline's running time (do-timestamp),
 * which is what every consumer expects of a live source.
 *
 * An HttpPostEndpoint is the same player reading a FIFO instead of a URI:
 * the engine serves the HTTP POST and writes its body into the FIFO, which
 * the worker created in the engine's private folder.  `httppost.open` opens
 * the read end without waiting for a writer, the engine then opens the
 * write end (which no longer blocks), and play() decodes fd://N, paced like
 * a file.  The engine closing its end is the end of the stream: EOF, EOS,
 * EndOfStream. */
#include "worker.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum
{
  PLAYER_STOPPED,
  PLAYER_PLAYING,
  PLAYER_PAUSED,
} PlayerState;

typedef struct
{
  gchar *id;
  gchar *uri;                   /* NULL: an HttpPostEndpoint not opened yet */
  gchar *fifo;                  /* HttpPostEndpoint: the FIFO it reads */
  int fd;                       /* HttpPostEndpoint: its read end, or -1 */
  GstElement *pipeline;         /* internal decoding pipeline */
  GstElement *appsrc[MT_MEDIA_COUNT];   /* in the main pipeline */
  guint bus_watch;
  PlayerState state;
  gboolean eos;
  gboolean failed;
  gint decoding;                /* atomic: uridecodebin exposed a stream */
} MtPlayer;

static MtPlayer *
player_of (MtElement * el)
{
  if (!el || (strcmp (el->type, "PlayerEndpoint") != 0
          && strcmp (el->type, "HttpPostEndpoint") != 0))
    return NULL;
  return el->priv;
}

static MtElement *
lookup_player (JsonObject * params, MtPlayer ** out, GError ** error)
{
  const gchar *id = mt_param_string (params, "id", error);
  MtElement *el;

  if (!id || !(el = mt_element_lookup (id, error)))
    return NULL;
  if (!(*out = player_of (el))) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "%s is not a PlayerEndpoint", id);
    return NULL;
  }
  return el;
}

/* appsink (internal streaming thread) -> appsrc (main pipeline). */
static GstFlowReturn
on_new_sample (GstAppSink * sink, gpointer user_data)
{
  GstAppSrc *src = user_data;
  GstSample *sample = gst_app_sink_pull_sample (sink);
  GstCaps *caps, *current;
  GstBuffer *buf;

  if (!sample)
    return GST_FLOW_EOS;
  caps = gst_sample_get_caps (sample);
  current = gst_app_src_get_caps (src);
  if (caps && (!current || !gst_caps_is_equal (caps, current)))
    gst_app_src_set_caps (src, caps);
  if (current)
    gst_caps_unref (current);
  /* A shallow copy shares the memory; clearing the file's timestamps lets
   * appsrc stamp the main pipeline's running time. */
  buf = gst_buffer_copy (gst_sample_get_buffer (sample));
  GST_BUFFER_PTS (buf) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DTS (buf) = GST_CLOCK_TIME_NONE;
  gst_app_src_push_buffer (src, buf);
  gst_sample_unref (sample);
  return GST_FLOW_OK;
}

/* One decoding thread per libav video decoder.  Frame threading (libav's
 * default, one thread per core) hands every frame between threads, which cost
 * a composite of four players about a tenth of its CPU and one frame of
 * latency per extra thread (test/bench/composite.ts); a single core decodes
 * the 1080p30 files a school plays with room to spare. */
static void
on_deep_element_added (GstBin * bin, GstBin * sub_bin, GstElement * element,
    gpointer user_data)
{
  GstElementFactory *factory = gst_element_get_factory (element);

  if (factory && g_str_has_prefix (GST_OBJECT_NAME (factory), "avdec_")
      && g_object_class_find_property (G_OBJECT_GET_CLASS (element),
          "max-threads"))
    g_object_set (element, "max-threads", 1, NULL);
}

/* uridecodebin exposes decoded pads (internal streaming thread): convert to
 * the worker's raw formats and hand them to an appsink. */
static void
on_decoded_pad (GstElement * decodebin, GstPad * pad, MtPlayer * p)
{
  GstCaps *caps = gst_pad_get_current_caps (pad);
  const gchar *name;
  const gchar *desc;
  GstElement *bin, *sink;
  GstAppSinkCallbacks callbacks = { 0 };
  GstPad *bin_sink;
  MtMediaType media;

  if (!caps)
    caps = gst_pad_query_caps (pad, NULL);
  g_atomic_int_set (&p->decoding, 1);
  name = gst_structure_get_name (gst_caps_get_structure (caps, 0));
  if (g_str_has_prefix (name, "video/x-raw")) {
    media = MT_MEDIA_VIDEO;
    /* No queue: decodebin's multiqueue already gives the decoder a thread
     * of its own, which may as well wait for the clock in the appsink; one
     * thread handoff fewer per frame. */
    desc = "videoconvert ! capsfilter caps=video/x-raw,format=I420 ! "
        "appsink name=sink sync=true max-buffers=2 drop=false";
  } else if (g_str_has_prefix (name, "audio/x-raw")) {
    media = MT_MEDIA_AUDIO;
    desc = "queue ! audioconvert ! audioresample ! capsfilter "
        "caps=audio/x-raw,format=S16LE,rate=48000,channels=2,"
        "layout=interleaved ! appsink name=sink sync=true";
  } else {
    GST_INFO ("%s: ignoring %s stream", p->id, name);
    gst_caps_unref (caps);
    return;
  }
  gst_caps_unref (caps);
  if (GST_OBJECT_PARENT (p->appsrc[media]) == NULL)
    return;
  bin = gst_parse_bin_from_description (desc, TRUE, NULL);
  if (!bin)
    return;
  sink = gst_bin_get_by_name (GST_BIN (bin), "sink");
  callbacks.new_sample = on_new_sample;
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &callbacks,
      p->appsrc[media], NULL);
  gst_object_unref (sink);
  gst_bin_add (GST_BIN (p->pipeline), bin);
  gst_element_sync_state_with_parent (bin);
  bin_sink = gst_element_get_static_pad (bin, "sink");
  if (gst_pad_link (pad, bin_sink) != GST_PAD_LINK_OK)
    GST_WARNING ("%s: cannot link decoded %s", p->id, name);
  gst_object_unref (bin_sink);
}

static const gchar *
error_type (MtPlayer * p, GstObject * origin, const GError * err)
{
  /* Some sources (souphttpsrc on a refused connection) only stop with a
   * generic flow error; coming from the source element itself it means the
   * URI could not be opened, or read once streams were found. */
  if (err->domain == GST_STREAM_ERROR && err->code == GST_STREAM_ERROR_FAILED
      && GST_IS_URI_HANDLER (origin)
      && gst_uri_handler_get_uri_type (GST_URI_HANDLER (origin)) ==
      GST_URI_SRC)
    return g_atomic_int_get (&p->decoding) ? "RESOURCE_ERROR_READ"
        : "RESOURCE_ERROR_OPEN";
  if (err->domain == GST_RESOURCE_ERROR) {
    switch (err->code) {
      case GST_RESOURCE_ERROR_NOT_FOUND:
      case GST_RESOURCE_ERROR_OPEN_READ:
      case GST_RESOURCE_ERROR_OPEN_READ_WRITE:
      case GST_RESOURCE_ERROR_NOT_AUTHORIZED:
        return "RESOURCE_ERROR_OPEN";
      case GST_RESOURCE_ERROR_READ:
        return "RESOURCE_ERROR_READ";
      default:
        return "RESOURCE_ERROR";
    }
  }
  if (err->domain == GST_STREAM_ERROR) {
    switch (err->code) {
      case GST_STREAM_ERROR_DECODE:
      case GST_STREAM_ERROR_DEMUX:
      case GST_STREAM_ERROR_TYPE_NOT_FOUND:
      case GST_STREAM_ERROR_WRONG_TYPE:
      case GST_STREAM_ERROR_CODEC_NOT_FOUND:
      case GST_STREAM_ERROR_FORMAT:
        return "STREAM_ERROR_DECODE";
      default:
        return "STREAM_ERROR";
    }
  }
  if (err->domain == GST_CORE_ERROR
      && err->code == GST_CORE_ERROR_MISSING_PLUGIN)
    return "STREAM_ERROR_DECODE";
  return "UNEXPECTED_ELEMENT_ERROR";
}

static gboolean
on_player_bus (GstBus * bus, GstMessage * msg, gpointer user_data)
{
  const gchar *id = user_data;
  MtElement *el = mt_element_lookup (id, NULL);
  MtPlayer *p = player_of (el);
  GError *err = NULL;
  gchar *dbg = NULL;

  if (!p)
    return G_SOURCE_CONTINUE;
  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_EOS:
      GST_INFO ("%s: end of stream", id);
      p->eos = TRUE;
      mt_protocol_notify ("EndOfStream", id, NULL);
      mt_link_source_ended (el);
      break;
    case GST_MESSAGE_ERROR:
      gst_message_parse_error (msg, &err, &dbg);
      GST_WARNING ("%s: %s (%s)", id, err->message, dbg ? dbg : "");
      /* Report only the first error of a run; the rest are its echoes. */
      if (!p->failed) {
        /* GStreamer's messages ("Resource not found.") do not say which
         * resource; name the URI so an operator can act on the event alone. */
        gchar *description = g_strdup_printf ("%s (%s)", err->message,
            p->fifo ? "the POSTed media" : p->uri);

        p->failed = TRUE;
        mt_element_error (el, error_type (p, GST_MESSAGE_SRC (msg), err),
            description, err->code);
        g_free (description);
      }
      g_clear_error (&err);
      g_free (dbg);
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

static void
build_internal (MtPlayer * p)
{
  GstElement *decodebin;
  GstBus *bus;
  gchar *name = g_strdup_printf ("%s-player", p->id);

  p->pipeline = gst_pipeline_new (name);
  g_free (name);
  decodebin = gst_element_factory_make ("uridecodebin", NULL);
  g_object_set (decodebin, "uri", p->uri, NULL);
  g_signal_connect (decodebin, "pad-added", G_CALLBACK (on_decoded_pad), p);
  g_signal_connect (decodebin, "deep-element-added",
      G_CALLBACK (on_deep_element_added), NULL);
  gst_bin_add (GST_BIN (p->pipeline), decodebin);
  bus = gst_pipeline_get_bus (GST_PIPELINE (p->pipeline));
  p->bus_watch = gst_bus_add_watch_full (bus, G_PRIORITY_DEFAULT,
      on_player_bus, g_strdup (p->id), g_free);
  gst_object_unref (bus);
}

/* Stopping throws the internal pipeline away: the next play() starts from
 * the beginning with fresh decoders, exactly like a new player. */
static void
destroy_internal (MtPlayer * p)
{
  if (!p->pipeline)
    return;
  gst_element_set_state (p->pipeline, GST_STATE_NULL);
  g_source_remove (p->bus_watch);
  p->bus_watch = 0;
  gst_clear_object (&p->pipeline);
  p->eos = FALSE;
  p->failed = FALSE;
  g_atomic_int_set (&p->decoding, 0);
}

static void
player_destroy (MtElement * el)
{
  MtPlayer *p = el->priv;

  destroy_internal (p);
  if (p->fd >= 0)
    close (p->fd);
  if (p->fifo)
    unlink (p->fifo);
  g_free (p->fifo);
  g_free (p->id);
  g_free (p->uri);
  g_free (p);
  el->priv = NULL;
}

/* options: PlayerEndpoint {uri}; HttpPostEndpoint {fifo: absolute path of
 * the FIFO to create, in a folder only the engine's user can enter}. */
gboolean
mt_player_create (MtElement * el, JsonObject * options, GError ** error)
{
  MtPlayer *p;
  const gchar *uri = NULL, *fifo = NULL;
  gboolean post = strcmp (el->type, "HttpPostEndpoint") == 0;
  guint m;

  if (!options || !(post ? (fifo = mt_param_string (options, "fifo", error))
          : (uri = mt_param_string (options, "uri", error)))) {
    if (error && !*error)
      g_set_error (error, MT_ERROR, MT_ERROR_TYPE, "options.%s is required",
          post ? "fifo" : "uri");
    return FALSE;
  }
  if (uri && !gst_uri_is_valid (uri)) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE, "invalid uri %s", uri);
    return FALSE;
  }
  if (fifo && (!g_path_is_absolute (fifo) || mkfifo (fifo, 0600) != 0)) {
    g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL, "cannot create FIFO %s: %s",
        fifo, g_path_is_absolute (fifo) ? g_strerror (errno) : "not absolute");
    return FALSE;
  }
  p = g_new0 (MtPlayer, 1);
  p->id = g_strdup (el->id);
  p->uri = g_strdup (uri);
  p->fifo = g_strdup (fifo);
  p->fd = -1;
  el->priv = p;
  el->destroy = player_destroy;

  for (m = 0; m < MT_MEDIA_COUNT; m++) {
    gchar *name = g_strdup_printf ("%s-%s-src", el->id,
        m == MT_MEDIA_VIDEO ? "video" : "audio");
    GstElement *src = gst_element_factory_make ("appsrc", name);
    GstElement *tee;
    GstPad *pad;

    g_free (name);
    /* Live, time-stamped on arrival, and never more than a few buffers
     * behind: old frames are dropped rather than delayed. */
    g_object_set (src, "is-live", TRUE, "format", GST_FORMAT_TIME,
        "do-timestamp", TRUE, "max-bytes", (guint64) 0, "max-buffers",
        (guint64) 8, "leaky-type", 2 /* downstream: drop old */ , NULL);
    p->appsrc[m] = src;
    name = g_strdup_printf ("%s-%s-tee", el->id,
        m == MT_MEDIA_VIDEO ? "video" : "audio");
    tee = mt_make_tee (name);
    g_free (name);
    mt_element_add_owned (el, tee);
    mt_element_add_owned (el, src);
    gst_element_link (src, tee);
    gst_element_sync_state_with_parent (tee);
    gst_element_sync_state_with_parent (src);
    pad = gst_element_get_static_pad (src, "src");
    mt_flow_watch_pad (el->flow_out[m], pad);
    gst_object_unref (pad);
    /* The raw tee exists from the start, so connections materialise at
     * once and simply carry nothing until play(). */
    mt_source_set_origin (el, m, MT_FORMAT_RAW, tee);
  }
  return TRUE;
}

/* HttpPostEndpoint: opens the FIFO's read end without waiting for a writer,
 * so the engine's open of the write end returns at once; the descriptor is
 * made blocking again for fdsrc, which polls it anyway. */
JsonObject *
mt_http_post_open (JsonObject * params, GError ** error)
{
  MtPlayer *p = NULL;
  MtElement *el = lookup_player (params, &p, error);
  int flags;

  if (!el)
    return NULL;
  if (!p->fifo) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE, "%s is not an "
        "HttpPostEndpoint", p->id);
    return NULL;
  }
  if (p->fd >= 0) {
    g_set_error (error, MT_ERROR, MT_ERROR_INVALID_STATE,
        "%s is already open", p->id);
    return NULL;
  }
  p->fd = open (p->fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (p->fd < 0) {
    g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL, "cannot open %s: %s",
        p->fifo, g_strerror (errno));
    return NULL;
  }
  flags = fcntl (p->fd, F_GETFL);
  fcntl (p->fd, F_SETFL, flags & ~O_NONBLOCK);
  g_free (p->uri);
  p->uri = g_strdup_printf ("fd://%d", p->fd);
  return json_object_new ();
}

JsonObject *
mt_player_play (JsonObject * params, GError ** error)
{
  MtPlayer *p = NULL;
  MtElement *el = lookup_player (params, &p, error);

  if (!el)
    return NULL;
  if (!p->uri) {
    g_set_error (error, MT_ERROR, MT_ERROR_INVALID_STATE,
        "%s has no media to play yet", p->id);
    return NULL;
  }
  /* After the end or an error, play() starts over. */
  if (p->eos || p->failed)
    destroy_internal (p);
  if (!p->pipeline)
    build_internal (p);
  p->state = PLAYER_PLAYING;
  /* A failure here also posts an error on the internal bus, which becomes
   * the Error notification; the request itself succeeded. */
  gst_element_set_state (p->pipeline, GST_STATE_PLAYING);
  return json_object_new ();
}

JsonObject *
mt_player_pause (JsonObject * params, GError ** error)
{
  MtPlayer *p = NULL;
  MtElement *el = lookup_player (params, &p, error);

  if (!el)
    return NULL;
  if (p->pipeline && p->state == PLAYER_PLAYING) {
    gst_element_set_state (p->pipeline, GST_STATE_PAUSED);
    p->state = PLAYER_PAUSED;
  }
  return json_object_new ();
}

JsonObject *
mt_player_stop (JsonObject * params, GError ** error)
{
  MtPlayer *p = NULL;
  MtElement *el = lookup_player (params, &p, error);

  if (!el)
    return NULL;
  destroy_internal (p);
  p->state = PLAYER_STOPPED;
  return json_object_new ();
}

JsonObject *
mt_player_get_position (JsonObject * params, GError ** error)
{
  MtPlayer *p = NULL;
  MtElement *el = lookup_player (params, &p, error);
  JsonObject *result;
  gint64 pos = 0;

  if (!el)
    return NULL;
  if (!p->pipeline
      || !gst_element_query_position (p->pipeline, GST_FORMAT_TIME, &pos)
      || pos < 0)
    pos = 0;
  result = json_object_new ();
  json_object_set_int_member (result, "position", pos / GST_MSECOND);
  return result;
}

JsonObject *
mt_player_set_position (JsonObject * params, GError ** error)
{
  MtPlayer *p = NULL;
  MtElement *el = lookup_player (params, &p, error);
  gint64 position;

  if (!el || !mt_param_int (params, "position", TRUE, 0, &position, error))
    return NULL;
  if (position < 0) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE, "position must be >= 0");
    return NULL;
  }
  if (!p->pipeline || p->state == PLAYER_STOPPED || p->failed) {
    g_set_error (error, MT_ERROR, MT_ERROR_SEEK,
        "the player is not playing or paused");
    return NULL;
  }
  /* Wait for a pending state change (e.g. the initial preroll) so the
   * seek reaches a ready pipeline.  An accurate seek, as Kurento's: playback
   * resumes at the asked position, not at the keyframe the demuxer's index
   * knows before it (a WebM's cues may be seconds apart). */
  if (gst_element_get_state (p->pipeline, NULL, NULL, 2 * GST_SECOND)
      == GST_STATE_CHANGE_FAILURE
      || !gst_element_seek_simple (p->pipeline, GST_FORMAT_TIME,
          GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE,
          position * GST_MSECOND)) {
    g_set_error (error, MT_ERROR, MT_ERROR_SEEK, "seek to %" G_GINT64_FORMAT
        " ms failed", position);
    return NULL;
  }
  p->eos = FALSE;
  return json_object_new ();
}

JsonObject *
mt_player_get_video_info (JsonObject * params, GError ** error)
{
  MtPlayer *p = NULL;
  MtElement *el = lookup_player (params, &p, error);
  JsonObject *result;
  gint64 duration = 0, start = 0, end = 0;
  gboolean seekable = FALSE;
  GstQuery *query;

  if (!el)
    return NULL;
  if (p->pipeline) {
    gst_element_get_state (p->pipeline, NULL, NULL, 2 * GST_SECOND);
    if (!gst_element_query_duration (p->pipeline, GST_FORMAT_TIME, &duration)
        || duration < 0)
      duration = 0;
    query = gst_query_new_seeking (GST_FORMAT_TIME);
    if (gst_element_query (p->pipeline, query))
      gst_query_parse_seeking (query, NULL, &seekable, &start, &end);
    gst_query_unref (query);
  }
  if (end < 0)
    end = duration;
  result = json_object_new ();
  json_object_set_boolean_member (result, "isSeekable", seekable);
  json_object_set_int_member (result, "seekableInit",
      seekable ? MAX (start, 0) / GST_MSECOND : 0);
  json_object_set_int_member (result, "seekableEnd",
      seekable ? end / GST_MSECOND : 0);
  json_object_set_int_member (result, "duration", duration / GST_MSECOND);
  return result;
}
