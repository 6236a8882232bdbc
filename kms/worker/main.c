/* montage-worker: one MediaPipeline per process, driven over fd 3 / fd 4.
 * See PROTOCOL.md for the contract with the engine. */
#include "worker.h"
#include "hub.h"

#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

GST_DEBUG_CATEGORY (mt_debug);

#define EXIT_MISSING_PLUGIN 42
#define EXIT_BAD_COMMAND_LINE 43

static GMainLoop *loop;
static int exit_code = 0;

/* Every factory the worker may instantiate; checked once at startup so a
 * broken installation fails loudly instead of at the first connect. */
static const gchar *const required_factories[] = {
  "webrtcbin", "nicesrc", "nicesink", "dtlssrtpenc", "dtlssrtpdec",
  "rtpbin", "rtpvp8pay", "rtpvp8depay", "rtph264pay", "rtph264depay",
  "rtpopuspay", "rtpopusdepay", "vp8enc", "vp8dec", "x264enc", "avdec_h264",
  "h264parse", "opusenc", "opusdec", "capssetter", "uridecodebin",
  "videoconvert", "videoscale", "audioconvert", "audioresample", "appsrc",
  "appsink", "tee", "queue", "capsfilter", "fakesink",
  "compositor", "audiomixer", "input-selector", "identity",
  "udpsrc", "udpsink", "srtpenc", "srtpdec", "webmmux", "matroskamux",
  "mp4mux", "filesink", "voaacenc",
};

/* Memory the streaming threads free goes back to the kernel.
 *
 * A worker's threads (webrtcbin, decoders, the mixer, encoders) allocate and free video frames
 * all the time: a pooled frame that is shallow-copied on its way (a PlayerEndpoint's appsink
 * hand-over does so for every frame) is discarded by its pool and allocated anew, a camera's
 * browser changes its resolution under load, a cut re-initialises the monitor's encoder, a
 * clip brings its own decoders. glibc serves each thread from one of up to 8 arenas per core,
 * and a freed frame stays in its arena. In a 14-minute soak the worker grew in steps,
 * 187 -> 247 MB, while heaptrack showed its live heap flat at about 55 MB. Two arenas let
 * every thread reuse what the others freed, and a trim every few seconds hands the free pages
 * anywhere in a heap back (glibc on its own only trims the top of a heap): a 9-minute soak then
 * held 150-154 MB from start to end, and the composite benchmark's CPU stayed within its noise
 * (15.6 % against 16.4 % before). Mapping every large block instead (a fixed M_MMAP_THRESHOLD)
 * kept the soak flat too, but cost the composite benchmark 18.8 % -> 23.6 % CPU in page
 * faults: one fresh mapping per frame. */
#define MALLOC_ARENAS 2
#define MALLOC_TRIM_INTERVAL_S 5

#ifdef __GLIBC__
static gboolean
on_malloc_trim (gpointer user_data)
{
  malloc_trim (0);
  return G_SOURCE_CONTINUE;
}
#endif

/* Before anything allocates: the arena limit applies to threads started later.
 * The trim runs on the default main context, which the main loop runs. */
static void
return_freed_memory (void)
{
#ifdef __GLIBC__
  mallopt (M_ARENA_MAX, MALLOC_ARENAS);
  g_timeout_add_seconds (MALLOC_TRIM_INTERVAL_S, on_malloc_trim, NULL);
#endif
}

static gboolean
check_plugins (void)
{
  gboolean ok = TRUE;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (required_factories); i++) {
    GstElementFactory *f = gst_element_factory_find (required_factories[i]);
    if (!f) {
      g_printerr ("missing plugin: %s\n", required_factories[i]);
      ok = FALSE;
      continue;
    }
    gst_object_unref (f);
  }
  return ok;
}

static gboolean
parse_port_range (const gchar * text)
{
  guint64 lo, hi;
  gchar *end;

  lo = g_ascii_strtoull (text, &end, 10);
  if (*end != '-')
    return FALSE;
  hi = g_ascii_strtoull (end + 1, &end, 10);
  if (*end != '\0' || lo == 0 || hi > 65535 || lo > hi)
    return FALSE;
  mt_config.port_min = lo;
  mt_config.port_max = hi;
  return TRUE;
}

static gboolean
parse_jitter (const gchar * text)
{
  guint64 ms;
  gchar *end;

  ms = g_ascii_strtoull (text, &end, 10);
  if (end == text || *end != '\0' || ms > 2000)
    return FALSE;
  mt_config.jitter_ms = ms;
  return TRUE;
}

static gboolean
parse_args (int argc, char **argv)
{
  GPtrArray *addrs = g_ptr_array_new ();
  gboolean ok = TRUE;
  int i;

  for (i = 1; i < argc && ok; i++) {
    const gchar *arg = argv[i];
    const gchar *val = i + 1 < argc ? argv[i + 1] : NULL;

    if (!val) {
      ok = FALSE;
      break;
    }
    if (strcmp (arg, "--ice-address") == 0)
      g_ptr_array_add (addrs, g_strdup (val));
    else if (strcmp (arg, "--stun") == 0)
      mt_config.stun_server = g_strdup_printf ("stun://%s", val);
    else if (strcmp (arg, "--turn") == 0)
      mt_config.turn_server = g_str_has_prefix (val, "turn")
          ? g_strdup (val) : g_strdup_printf ("turn://%s", val);
    else if (strcmp (arg, "--port-range") == 0)
      ok = parse_port_range (val);
    else if (strcmp (arg, "--jitter-buffer-ms") == 0)
      ok = parse_jitter (val);
    else
      ok = FALSE;
    i++;
  }
  g_ptr_array_add (addrs, NULL);
  mt_config.ice_addresses = (gchar **) g_ptr_array_free (addrs, FALSE);
  return ok;
}

static JsonObject *
method_ping (JsonObject * params, GError ** error)
{
  return json_object_new ();
}

static gboolean
quit_idle (gpointer data)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static JsonObject *
method_close (JsonObject * params, GError ** error)
{
  /* Quit after the reply is written. */
  g_idle_add (quit_idle, NULL);
  return json_object_new ();
}

static GstDebugGraphDetails
parse_details (JsonObject * params)
{
  const gchar *d = NULL;

  if (json_object_has_member (params, "details")
      && JSON_NODE_HOLDS_VALUE (json_object_get_member (params, "details")))
    d = json_object_get_string_member (params, "details");
  if (d && strcmp (d, "SHOW_MEDIA_TYPE") == 0)
    return GST_DEBUG_GRAPH_SHOW_MEDIA_TYPE;
  if (d && strcmp (d, "SHOW_CAPS_DETAILS") == 0)
    return GST_DEBUG_GRAPH_SHOW_CAPS_DETAILS;
  if (d && strcmp (d, "SHOW_NON_DEFAULT_PARAMS") == 0)
    return GST_DEBUG_GRAPH_SHOW_NON_DEFAULT_PARAMS;
  if (d && strcmp (d, "SHOW_STATES") == 0)
    return GST_DEBUG_GRAPH_SHOW_STATES;
  if (d && strcmp (d, "SHOW_FULL_PARAMS") == 0)
    return GST_DEBUG_GRAPH_SHOW_FULL_PARAMS;
  return GST_DEBUG_GRAPH_SHOW_ALL;
}

static JsonObject *
method_get_dot (JsonObject * params, GError ** error)
{
  JsonObject *result = json_object_new ();
  gchar *dot = mt_pipeline_dot (parse_details (params));

  json_object_set_string_member (result, "dot", dot);
  g_free (dot);
  return result;
}

/* Elements live directly in the pipeline (no bin per element), so an
 * element's graph is the pipeline's graph. */
static JsonObject *
method_element_get_dot (JsonObject * params, GError ** error)
{
  const gchar *id = mt_param_string (params, "id", error);

  if (!id || !mt_element_lookup (id, error))
    return NULL;
  return method_get_dot (params, error);
}

static JsonObject *
method_element_create (JsonObject * params, GError ** error)
{
  const gchar *id, *type;
  JsonObject *options = NULL;
  MtElement *el;
  gboolean ok;

  if (!(id = mt_param_string (params, "id", error))
      || !(type = mt_param_string (params, "type", error)))
    return NULL;
  if (json_object_has_member (params, "options")) {
    JsonNode *n = json_object_get_member (params, "options");
    if (JSON_NODE_HOLDS_OBJECT (n))
      options = json_node_get_object (n);
    else if (!JSON_NODE_HOLDS_NULL (n)) {
      g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
          "parameter 'options' must be an object");
      return NULL;
    }
  }
  if (mt_element_lookup (id, NULL)) {
    g_set_error (error, MT_ERROR, MT_ERROR_INVALID_STATE,
        "element %s already exists", id);
    return NULL;
  }
  if (strcmp (type, "RtpEndpoint") == 0
      || strcmp (type, "RecorderEndpoint") == 0) {
    /* Static type names, as below. */
    gboolean rtp = strcmp (type, "RtpEndpoint") == 0;

    el = mt_element_new (id, rtp ? "RtpEndpoint" : "RecorderEndpoint");
    ok = rtp ? mt_rtp_create (el, options, error)
        : mt_recorder_create (el, options, error);
    if (!ok) {
      mt_element_release (id);
      return NULL;
    }
    return json_object_new ();
  }
  if (strcmp (type, "GStreamerFilter") == 0
      || strcmp (type, "ZBarFilter") == 0
      || strcmp (type, "ImageOverlayFilter") == 0
      || strcmp (type, "FaceOverlayFilter") == 0) {
    /* The filters module (filter.c); static type names, as below. */
    static const gchar *const filters[] = { "GStreamerFilter", "ZBarFilter",
      "ImageOverlayFilter", "FaceOverlayFilter"
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS (filters); i++)
      if (strcmp (type, filters[i]) == 0)
        type = filters[i];
    el = mt_element_new (id, type);
    if (!mt_filter_create (el, options, error)) {
      mt_element_release (id);
      return NULL;
    }
    return json_object_new ();
  }
  if (strcmp (type, "PassThrough") == 0) {
    el = mt_element_new (id, "PassThrough");
    if (!mt_passthrough_create (el, options, error)) {
      mt_element_release (id);
      return NULL;
    }
    return json_object_new ();
  }
  if (mt_hub_type (type)) {
    /* Hubs and HubPorts (hub.c); static type names, as below. */
    el = mt_element_new (id, mt_hub_type (type));
    if (!mt_hub_element_create (el, options, error)) {
      mt_element_release (id);
      return NULL;
    }
    return json_object_new ();
  }
  if (strcmp (type, "HttpPostEndpoint") == 0) {
    /* A player of the FIFO the engine writes the POSTed body into. */
    el = mt_element_new (id, "HttpPostEndpoint");
    if (!mt_player_create (el, options, error)) {
      mt_element_release (id);
      return NULL;
    }
    return json_object_new ();
  }
  if (strcmp (type, "WebRtcEndpoint") != 0
      && strcmp (type, "PlayerEndpoint") != 0) {
    g_set_error (error, MT_ERROR, MT_ERROR_UNSUPPORTED,
        "element type %s is not supported", type);
    return NULL;
  }

  /* The element keeps a static type name, not the request's string. */
  if (strcmp (type, "WebRtcEndpoint") == 0)
    type = "WebRtcEndpoint";
  else
    type = "PlayerEndpoint";
  el = mt_element_new (id, type);
  if (strcmp (type, "WebRtcEndpoint") == 0)
    ok = mt_webrtc_create (el, options, error);
  else
    ok = mt_player_create (el, options, error);
  if (!ok) {
    mt_element_release (id);
    return NULL;
  }
  return json_object_new ();
}

static JsonObject *
method_element_release (JsonObject * params, GError ** error)
{
  const gchar *id = mt_param_string (params, "id", error);

  if (!id)
    return NULL;
  mt_element_release (id);
  return json_object_new ();
}

static gboolean
connection_params (JsonObject * params, const gchar ** source,
    const gchar ** sink, MtMediaType * media, GError ** error)
{
  const gchar *type;

  if (!(*source = mt_param_string (params, "source", error))
      || !(*sink = mt_param_string (params, "sink", error))
      || !(type = mt_param_string (params, "mediaType", error)))
    return FALSE;
  if (!mt_media_parse (type, media)) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "mediaType must be AUDIO or VIDEO, not %s", type);
    return FALSE;
  }
  return mt_element_lookup (*source, error) && mt_element_lookup (*sink,
      error);
}

static JsonObject *
method_element_connect (JsonObject * params, GError ** error)
{
  const gchar *source, *sink;
  MtMediaType media;

  if (!connection_params (params, &source, &sink, &media, error))
    return NULL;
  mt_link_connect (source, sink, media);
  return json_object_new ();
}

static JsonObject *
method_element_disconnect (JsonObject * params, GError ** error)
{
  const gchar *source, *sink;
  MtMediaType media;

  if (!connection_params (params, &source, &sink, &media, error))
    return NULL;
  mt_link_disconnect (source, sink, media);
  return json_object_new ();
}

static JsonObject *
method_element_request_keyframe (JsonObject * params, GError ** error)
{
  const gchar *id = mt_param_string (params, "id", error);
  MtElement *el;

  if (!id || !(el = mt_element_lookup (id, error)))
    return NULL;
  mt_source_request_keyframe (el);
  return json_object_new ();
}

typedef struct
{
  const gchar *name;
  MtMethodFunc func;
} MtMethod;

static const MtMethod methods[] = {
  {"worker.ping", method_ping},
  {"worker.close", method_close},
  {"pipeline.getDot", method_get_dot},
  {"element.create", method_element_create},
  {"element.release", method_element_release},
  {"element.connect", method_element_connect},
  {"element.disconnect", method_element_disconnect},
  {"element.requestKeyframe", method_element_request_keyframe},
  {"element.getDot", method_element_get_dot},
  {"webrtc.generateOffer", mt_webrtc_generate_offer},
  {"webrtc.processOffer", mt_webrtc_process_offer},
  {"webrtc.processAnswer", mt_webrtc_process_answer},
  {"webrtc.gatherCandidates", mt_webrtc_gather_candidates},
  {"webrtc.addIceCandidate", mt_webrtc_add_ice_candidate},
  {"webrtc.setIceServers", mt_webrtc_set_ice_servers},
  {"player.play", mt_player_play},
  {"player.pause", mt_player_pause},
  {"player.stop", mt_player_stop},
  {"player.getPosition", mt_player_get_position},
  {"player.setPosition", mt_player_set_position},
  {"player.getVideoInfo", mt_player_get_video_info},
  {"httppost.open", mt_http_post_open},
  {"rtp.generateOffer", mt_rtp_generate_offer},
  {"rtp.processOffer", mt_rtp_process_offer},
  {"rtp.processAnswer", mt_rtp_process_answer},
  {"recorder.record", mt_recorder_record},
  {"recorder.pause", mt_recorder_pause},
  {"recorder.stop", mt_recorder_stop},
  {"hub.setMaster", mt_hub_set_master},
  {"hub.setPortProperties", mt_hub_set_port_properties},
  {"hub.connect", mt_hub_connect},
  {"hub.setSource", mt_hub_set_source},
  {"hub.removeSource", mt_hub_remove_source},
  {"filter.setElementProperty", mt_filter_set_element_property},
  {"filter.addImage", mt_filter_add_image},
  {"filter.removeImage", mt_filter_remove_image},
  {"filter.setOverlayedImage", mt_filter_set_overlayed_image},
  {"filter.unsetOverlayedImage", mt_filter_unset_overlayed_image},
};

/* The request being dispatched, and whether its handler took over the reply
 * (mt_request_defer). */
static gint64 current_request;
static gboolean current_deferred;

gint64
mt_request_defer (void)
{
  current_deferred = TRUE;
  return current_request;
}

static void
dispatch (gint64 id, const gchar * method, JsonObject * params)
{
  GError *error = NULL;
  JsonObject *result = NULL;
  gboolean deferred;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (methods); i++)
    if (strcmp (methods[i].name, method) == 0)
      break;
  if (i == G_N_ELEMENTS (methods)) {
    g_set_error (&error, MT_ERROR, MT_ERROR_UNSUPPORTED,
        "unknown method %s", method);
    goto out;
  }
  GST_DEBUG ("request %" G_GINT64_FORMAT " %s", id, method);
  current_request = id;
  current_deferred = FALSE;
  result = methods[i].func (params, &error);
  deferred = current_deferred;
  current_request = 0;
  current_deferred = FALSE;
  if (deferred) {
    /* The handler replies later itself (and returned no result). */
    if (result)
      json_object_unref (result);
    g_clear_error (&error);
    return;
  }
  if (!result && !error)
    g_set_error (&error, MT_ERROR, MT_ERROR_INTERNAL, "%s failed", method);

out:
  /* The reply takes ownership of result. */
  if (result)
    mt_protocol_reply_ok (id, result);
  else
    mt_protocol_reply_error (id, error);
  g_clear_error (&error);
}

static void
on_line (const gchar * line, gsize len)
{
  JsonParser *parser = json_parser_new ();
  GError *error = NULL;
  JsonNode *root, *node;
  JsonObject *msg, *params = NULL, *empty = NULL;
  gint64 id = 0;

  if (!json_parser_load_from_data (parser, line, len, &error)) {
    mt_protocol_error ("invalid JSON: %s", error->message);
    goto out;
  }
  root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root)) {
    mt_protocol_error ("a request must be a JSON object");
    goto out;
  }
  msg = json_node_get_object (root);
  node = json_object_get_member (msg, "id");
  if (!node || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64
      || (id = json_node_get_int (node)) <= 0) {
    mt_protocol_error ("request without a positive integer id");
    goto out;
  }
  node = json_object_get_member (msg, "method");
  if (!node || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING) {
    g_set_error (&error, MT_ERROR, MT_ERROR_TYPE, "missing method");
    mt_protocol_reply_error (id, error);
    goto out;
  }
  node = json_object_get_member (msg, "params");
  if (node && JSON_NODE_HOLDS_OBJECT (node)) {
    params = json_node_get_object (node);
  } else if (node && !JSON_NODE_HOLDS_NULL (node)) {
    g_set_error (&error, MT_ERROR, MT_ERROR_TYPE,
        "params must be an object");
    mt_protocol_reply_error (id, error);
    goto out;
  } else {
    params = empty = json_object_new ();
  }
  dispatch (id, json_object_get_string_member (msg, "method"), params);

out:
  if (empty)
    json_object_unref (empty);
  g_clear_error (&error);
  g_object_unref (parser);
}

static gboolean
on_eof (gpointer data)
{
  GST_INFO ("protocol input closed, exiting");
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

/* The protocol fds are one Unix socket that the engine's spawner thread also
 * held, non-blocking, until the spawn; writes must block (back-pressure)
 * instead of failing with EAGAIN, whatever the spawner left set. */
static void
make_blocking (int fd)
{
  int flags = fcntl (fd, F_GETFL);

  if (flags >= 0 && (flags & O_NONBLOCK))
    fcntl (fd, F_SETFL, flags & ~O_NONBLOCK);
}

int
main (int argc, char **argv)
{
  JsonObject *data;
  gchar *version;

  return_freed_memory ();
  gst_init (NULL, NULL);
  GST_DEBUG_CATEGORY_INIT (mt_debug, "montage", 0, "montage worker");

  if (!parse_args (argc, argv)) {
    g_printerr ("usage: montage-worker [--ice-address ADDR]... "
        "[--stun HOST:PORT] [--turn URL] [--port-range MIN-MAX] "
        "[--jitter-buffer-ms 0-2000]\n");
    return EXIT_BAD_COMMAND_LINE;
  }
  if (!check_plugins ())
    return EXIT_MISSING_PLUGIN;

  /* The engine may close fd 4 while the worker still finishes files on
   * exit; a write must then fail with EPIPE, not kill the process. */
  signal (SIGPIPE, SIG_IGN);
  make_blocking (MT_PROTOCOL_IN_FD);
  make_blocking (MT_PROTOCOL_OUT_FD);
  loop = g_main_loop_new (NULL, FALSE);
  mt_pipeline_init ();
  mt_webrtc_prepare ();
  mt_flow_start_timer ();
  mt_protocol_start (on_line, on_eof);

  data = json_object_new ();
  json_object_set_int_member (data, "pid", getpid ());
  version = g_strdup_printf ("%u.%u.%u", GST_VERSION_MAJOR, GST_VERSION_MINOR,
      GST_VERSION_MICRO);
  {
    guint maj, min, mic, nano;
    gst_version (&maj, &min, &mic, &nano);
    g_free (version);
    version = g_strdup_printf ("%u.%u.%u", maj, min, mic);
  }
  json_object_set_string_member (data, "gstVersion", version);
  g_free (version);
  mt_protocol_notify ("running", NULL, data);

  g_main_loop_run (loop);

  mt_pipeline_shutdown ();
  g_main_loop_unref (loop);
  return exit_code;
}
