/*
 * webrtc-echo: the benchmark anchor for the Montage media engine.
 *
 * A plain GStreamer webrtcbin that answers one browser offer and sends every
 * received RTP stream straight back on the same m-line, only depayloaded and
 * repayloaded (no decoding), so `npm run bench` can compare our engine's
 * loopback with the simplest faithful webrtcbin equivalent.
 *
 * Protocol (JSON lines):
 *   stdin:  {"offer":"<sdp>"}  {"candidate":"candidate:...","sdpMLineIndex":0}
 *   stdout: {"answer":"<sdp>"} {"candidate":"...","sdpMLineIndex":0}
 *           {"state":"connected"}
 * Logs go to stderr only.  Exit codes: 0 on stdin EOF, 1 on a pipeline error,
 * 2 when the offer cannot be answered (the driver would otherwise wait for
 * an answer that never comes), 42 when a plugin is missing, 43 on a bad
 * command line.
 */

#define GST_USE_UNSTABLE_API

#include <string.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <net/if.h>

#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <json-glib/json-glib.h>

GST_DEBUG_CATEGORY_STATIC (echo_debug);
#define GST_CAT_DEFAULT echo_debug

#define EXIT_PIPELINE_ERROR 1
#define EXIT_NEGOTIATION_FAILED 2
#define EXIT_MISSING_PLUGIN 42
#define EXIT_BAD_COMMAND_LINE 43

typedef enum
{
  CODEC_NONE,
  CODEC_VP8,
  CODEC_H264,
  CODEC_OPUS,
} EchoCodec;

/* What we echo on one m-line of the offer. */
typedef struct
{
  guint mline;
  EchoCodec codec;
  gint pt;
  GstPad *sink_pad;             /* requested from webrtcbin, owned here */
} EchoMedia;

typedef struct
{
  GMainLoop *loop;
  GstElement *pipeline;
  GstElement *webrtc;
  GMutex out_lock;              /* serialises stdout lines from all threads */
  GPtrArray *medias;            /* EchoMedia*, index == m-line index */
  gboolean have_offer;
  gboolean reported_connected;
  gboolean reported_first_video;
  gint64 offer_time;            /* monotonic µs, for the timing logs */
  guint in_watch;
  gint stopping;                /* atomic: the first reason to stop wins */
  gint exit_code;
} EchoSession;

static const gchar *const required_elements[] = {
  "webrtcbin", "nicesrc", "nicesink", "dtlssrtpenc", "dtlssrtpdec",
  "srtpenc", "srtpdec", "rtpbin", "rtpvp8depay", "rtpvp8pay",
  "rtph264depay", "rtph264pay", "rtpopusdepay", "rtpopuspay",
};

static void
echo_media_free (EchoMedia * media)
{
  if (media->sink_pad)
    gst_object_unref (media->sink_pad);
  g_free (media);
}

/* Ends the run with CODE; callable from any thread.  Only the first call
 * counts, so that steps failing because we are shutting down (webrtcbin
 * refuses work once closed) do not turn a clean exit into an error. */
static void
stop_with (EchoSession * session, gint code)
{
  if (!g_atomic_int_compare_and_exchange (&session->stopping, FALSE, TRUE))
    return;
  g_atomic_int_set (&session->exit_code, code);
  g_main_loop_quit (session->loop);
}

/* Writes one JSON object as one line on stdout.  Called from the main thread
 * and from webrtcbin's threads, hence the lock. */
static void
send_line (EchoSession * session, JsonBuilder * builder)
{
  JsonGenerator *gen = json_generator_new ();
  JsonNode *root = json_builder_get_root (builder);
  gchar *text;

  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);

  g_mutex_lock (&session->out_lock);
  fputs (text, stdout);
  fputc ('\n', stdout);
  fflush (stdout);
  g_mutex_unlock (&session->out_lock);

  g_free (text);
  json_node_unref (root);
  g_object_unref (gen);
}

static void
send_string_field (EchoSession * session, const gchar * key,
    const gchar * value)
{
  JsonBuilder *builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, key);
  json_builder_add_string_value (builder, value);
  json_builder_end_object (builder);
  send_line (session, builder);
  g_object_unref (builder);
}

/* DTLS needs a certificate, and dtlsdec generates one (RSA, about 0.3 s
 * here) the first time an element is created in the process, then shares
 * it.  Doing that at startup keeps the one-off cost out of the measured
 * offer-to-frame path, as in a long-running engine worker. */
static void
prewarm_dtls_certificate (void)
{
  gint64 start = g_get_monotonic_time ();
  GstElement *dtls = gst_element_factory_make ("dtlsdec", NULL);

  if (dtls)
    gst_object_unref (gst_object_ref_sink (dtls));
  g_printerr ("DTLS certificate ready in %.1f ms\n",
      (g_get_monotonic_time () - start) / 1000.0);
}

static gboolean
check_plugins (void)
{
  gboolean ok = TRUE;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (required_elements); i++) {
    GstElementFactory *factory =
        gst_element_factory_find (required_elements[i]);

    if (!factory) {
      g_printerr ("missing plugin: %s\n", required_elements[i]);
      ok = FALSE;
      continue;
    }
    gst_object_unref (factory);
  }
  return ok;
}

/* The machine's IPv4 interface addresses, loopback included, for when the
 * driver names none: libnice skips loopback on its own, and once one address
 * is added it stops enumerating interfaces, so we list them all. */
static GPtrArray *
default_ice_addresses (void)
{
  GPtrArray *addresses = g_ptr_array_new_with_free_func (g_free);
  struct ifaddrs *ifaddr = NULL, *ifa;

  if (getifaddrs (&ifaddr) != 0) {
    g_ptr_array_add (addresses, g_strdup ("127.0.0.1"));
    goto out;
  }

  for (ifa = ifaddr; ifa; ifa = ifa->ifa_next) {
    gchar buf[INET_ADDRSTRLEN];
    const struct sockaddr_in *sin;

    if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET
        || !(ifa->ifa_flags & IFF_UP))
      continue;
    sin = (const struct sockaddr_in *) ifa->ifa_addr;
    if (inet_ntop (AF_INET, &sin->sin_addr, buf, sizeof (buf)))
      g_ptr_array_add (addresses, g_strdup (buf));
  }
  freeifaddrs (ifaddr);

  if (addresses->len == 0)
    g_ptr_array_add (addresses, g_strdup ("127.0.0.1"));

out:
  return addresses;
}

/* Tells webrtcbin's ICE agent (GstWebRTCNice in 1.22) which local addresses
 * to gather host candidates on.  Without this a loopback-only host offers no
 * usable candidate at all. */
static gboolean
configure_ice_addresses (EchoSession * session, gchar ** wanted)
{
  GstWebRTCICE *ice = NULL;
  GPtrArray *addresses = NULL;
  gboolean ok = FALSE;
  guint i;

  g_object_get (session->webrtc, "ice-agent", &ice, NULL);
  if (!ice) {
    g_printerr ("webrtcbin has no ice-agent\n");
    goto out;
  }
  if (!g_signal_lookup ("add-local-ip-address", G_OBJECT_TYPE (ice))) {
    g_printerr ("ICE agent %s has no add-local-ip-address signal\n",
        G_OBJECT_TYPE_NAME (ice));
    goto out;
  }

  if (wanted && wanted[0]) {
    addresses = g_ptr_array_new_with_free_func (g_free);
    for (i = 0; wanted[i]; i++)
      g_ptr_array_add (addresses, g_strdup (wanted[i]));
  } else {
    addresses = default_ice_addresses ();
  }

  for (i = 0; i < addresses->len; i++) {
    const gchar *address = g_ptr_array_index (addresses, i);
    gboolean added = FALSE;

    g_signal_emit_by_name (ice, "add-local-ip-address", address, &added);
    if (!added) {
      g_printerr ("cannot use ICE address %s\n", address);
      goto out;
    }
    g_printerr ("ICE address %s\n", address);
  }
  ok = TRUE;

out:
  if (addresses)
    g_ptr_array_unref (addresses);
  if (ice)
    gst_object_unref (ice);
  return ok;
}

/* The codec preferences keep only what identifies the codec (and the
 * feedback we accept).  Format parameters stay out: webrtcbin answers with
 * the offer's own fmtp anyway (it intersects the offer with the
 * preferences), while the payloader must be free to describe the stream it
 * really sends: rtph264pay derives profile-level-id from the SPS, and
 * Chromium's encoder sends 42c01f against an offered 42e01f, which would fail
 * negotiation with not-negotiated. */
static gboolean
keep_codec_field (GQuark field, GValue * value, gpointer user_data)
{
  const gchar *name = g_quark_to_string (field);

  (void) value;
  (void) user_data;
  return g_str_equal (name, "media") || g_str_equal (name, "payload")
      || g_str_equal (name, "clock-rate")
      || g_str_equal (name, "encoding-name")
      || g_str_equal (name, "encoding-params")
      || g_str_has_prefix (name, "rtcp-fb-");
}

/* Picks the payload type to echo on one offered m-line: VP8, else H.264
 * (packetization-mode 1, Constrained Baseline preferred), and Opus for
 * audio.  Returns the offer's caps for that payload type. */
static GstCaps *
choose_codec (const GstSDPMedia * media, EchoCodec * codec, gint * pt)
{
  const gchar *kind = gst_sdp_media_get_media (media);
  GstCaps *best = NULL;
  gint best_score = 0;
  guint i;

  *codec = CODEC_NONE;
  *pt = -1;

  for (i = 0; i < gst_sdp_media_formats_len (media); i++) {
    gint format = atoi (gst_sdp_media_get_format (media, i));
    GstCaps *caps = gst_sdp_media_get_caps_from_media (media, format);
    const GstStructure *s;
    const gchar *name, *mode, *profile;
    EchoCodec found = CODEC_NONE;
    gint score = 0;

    if (!caps)
      continue;
    s = gst_caps_get_structure (caps, 0);
    name = gst_structure_get_string (s, "encoding-name");
    if (!name) {
      gst_caps_unref (caps);
      continue;
    }

    if (g_strcmp0 (kind, "video") == 0 && g_ascii_strcasecmp (name,
            "VP8") == 0) {
      found = CODEC_VP8;
      score = 10;
    } else if (g_strcmp0 (kind, "video") == 0
        && g_ascii_strcasecmp (name, "H264") == 0) {
      mode = gst_structure_get_string (s, "packetization-mode");
      profile = gst_structure_get_string (s, "profile-level-id");
      if (g_strcmp0 (mode, "1") == 0) {
        found = CODEC_H264;
        score = (profile && g_ascii_strncasecmp (profile, "42e0", 4) == 0)
            ? 5 : 4;
      }
    } else if (g_strcmp0 (kind, "audio") == 0
        && g_ascii_strcasecmp (name, "OPUS") == 0) {
      found = CODEC_OPUS;
      score = 10;
    }

    if (found != CODEC_NONE && score > best_score) {
      if (best)
        gst_caps_unref (best);
      best = caps;
      best_score = score;
      *codec = found;
      *pt = format;
    } else {
      gst_caps_unref (caps);
    }
  }

  if (best) {
    GstStructure *st;

    best = gst_caps_make_writable (best);
    st = gst_caps_get_structure (best, 0);
    gst_structure_set_name (st, "application/x-rtp");
    gst_structure_filter_and_map_in_place (st, keep_codec_field, NULL);
  }
  return best;
}

/* Requests one sendrecv sink pad per usable m-line, with the offer's caps,
 * so that set-remote-description pairs each m-line with a transceiver that
 * already has something to send. */
static gboolean
prepare_transceivers (EchoSession * session, const GstSDPMessage * sdp)
{
  GstPadTemplate *templ =
      gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS
      (session->webrtc), "sink_%u");
  guint i;

  for (i = 0; i < gst_sdp_message_medias_len (sdp); i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media (sdp, i);
    EchoMedia *media = g_new0 (EchoMedia, 1);
    GstWebRTCRTPTransceiver *trans = NULL;
    GstCaps *caps;
    gchar *caps_str;

    media->mline = i;
    g_ptr_array_add (session->medias, media);

    caps = choose_codec (m, &media->codec, &media->pt);
    if (!caps) {
      g_printerr ("m-line %u (%s): no VP8, H.264 or Opus offered, not "
          "echoed\n", i, gst_sdp_media_get_media (m));
      continue;
    }

    caps_str = gst_caps_to_string (caps);
    GST_INFO ("m-line %u sink caps %s", i, caps_str);
    g_free (caps_str);

    media->sink_pad =
        gst_element_request_pad (session->webrtc, templ, NULL, caps);
    if (!media->sink_pad) {
      g_printerr ("webrtcbin refused a sink pad for m-line %u\n", i);
      gst_caps_unref (caps);
      return FALSE;
    }
    /* In 1.22 the request caps only pick the transceiver; webrtcbin answers
     * from the transceiver's codec preferences (or from caps already seen on
     * the pad, which we cannot have yet), so set those to the offer's. */
    g_object_get (media->sink_pad, "transceiver", &trans, NULL);
    if (trans) {
      g_object_set (trans, "codec-preferences", caps, NULL);
      gst_object_unref (trans);
    }
    gst_caps_unref (caps);
    g_printerr ("m-line %u: echoing %s pt %d on %s\n", i,
        gst_sdp_media_get_media (m),
        media->pt, GST_PAD_NAME (media->sink_pad));
  }
  return TRUE;
}

static gdouble
ms_since_offer (EchoSession * session)
{
  return (g_get_monotonic_time () - session->offer_time) / 1000.0;
}

/* webrtcbin replies to a failed step with an "error" field. */
static gboolean
promise_succeeded (GstPromise * promise, const gchar * step)
{
  const GstStructure *reply;
  GError *error = NULL;

  if (gst_promise_wait (promise) != GST_PROMISE_RESULT_REPLIED) {
    g_printerr ("%s: no reply\n", step);
    return FALSE;
  }
  reply = gst_promise_get_reply (promise);
  if (reply && gst_structure_has_field (reply, "error")) {
    gst_structure_get (reply, "error", G_TYPE_ERROR, &error, NULL);
    g_printerr ("%s failed: %s\n", step, error ? error->message : "?");
    g_clear_error (&error);
    return FALSE;
  }
  return TRUE;
}

static void
on_answer_created (GstPromise * promise, gpointer user_data)
{
  EchoSession *session = user_data;
  GstWebRTCSessionDescription *answer = NULL;
  const GstStructure *reply;
  gchar *text = NULL;

  if (!promise_succeeded (promise, "create-answer")) {
    stop_with (session, EXIT_NEGOTIATION_FAILED);
    goto out;
  }
  reply = gst_promise_get_reply (promise);
  if (!reply || !gst_structure_get (reply, "answer",
          GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &answer, NULL)) {
    g_printerr ("create-answer gave no answer\n");
    stop_with (session, EXIT_NEGOTIATION_FAILED);
    goto out;
  }

  g_signal_emit_by_name (session->webrtc, "set-local-description", answer,
      NULL);
  text = gst_sdp_message_as_text (answer->sdp);
  send_string_field (session, "answer", text);
  g_printerr ("answer sent after %.1f ms\n", ms_since_offer (session));

out:
  g_free (text);
  if (answer)
    gst_webrtc_session_description_free (answer);
  gst_promise_unref (promise);
}

static void
on_remote_description_set (GstPromise * promise, gpointer user_data)
{
  EchoSession *session = user_data;
  GstPromise *answer_promise;

  if (!promise_succeeded (promise, "set-remote-description")) {
    stop_with (session, EXIT_NEGOTIATION_FAILED);
    goto out;
  }

  answer_promise = gst_promise_new_with_change_func (on_answer_created,
      session, NULL);
  g_signal_emit_by_name (session->webrtc, "create-answer", NULL,
      answer_promise);

out:
  gst_promise_unref (promise);
}

static void
handle_offer (EchoSession * session, const gchar * text)
{
  GstSDPMessage *sdp = NULL;
  GstWebRTCSessionDescription *offer = NULL;
  GstPromise *promise;

  if (session->have_offer) {
    g_printerr ("ignoring a second offer\n");
    goto out;
  }
  session->have_offer = TRUE;
  session->offer_time = g_get_monotonic_time ();

  /* The SDP parser accepts almost any text, so also insist on media. */
  if (gst_sdp_message_new_from_text (text, &sdp) != GST_SDP_OK
      || gst_sdp_message_medias_len (sdp) == 0) {
    g_printerr ("offer is not SDP with media lines\n");
    stop_with (session, EXIT_NEGOTIATION_FAILED);
    goto out;
  }

  if (!prepare_transceivers (session, sdp)) {
    stop_with (session, EXIT_NEGOTIATION_FAILED);
    goto out;
  }

  offer = gst_webrtc_session_description_new (GST_WEBRTC_SDP_TYPE_OFFER, sdp);
  sdp = NULL;                   /* owned by offer */
  promise = gst_promise_new_with_change_func (on_remote_description_set,
      session, NULL);
  g_signal_emit_by_name (session->webrtc, "set-remote-description", offer,
      promise);

out:
  if (offer)
    gst_webrtc_session_description_free (offer);
  if (sdp)
    gst_sdp_message_free (sdp);
}

static void
handle_candidate (EchoSession * session, const gchar * candidate,
    gint64 mline)
{
  /* An empty candidate is the browser's end-of-candidates; webrtcbin needs
   * nothing for it. */
  if (!candidate[0])
    return;
  if (mline < 0 || mline > G_MAXINT) {
    g_printerr ("bad sdpMLineIndex %" G_GINT64_FORMAT "\n", mline);
    return;
  }
  /* webrtcbin queues candidates that arrive before the remote description
   * itself, and runs its tasks in order, so no queue is needed here. */
  g_signal_emit_by_name (session->webrtc, "add-ice-candidate", (guint) mline,
      candidate);
}

static void
handle_line (EchoSession * session, const gchar * line)
{
  JsonParser *parser = json_parser_new ();
  GError *error = NULL;
  JsonNode *root;
  JsonObject *obj;

  if (!line[0])
    goto out;
  if (!json_parser_load_from_data (parser, line, -1, &error)) {
    g_printerr ("bad input line: %s\n", error->message);
    goto out;
  }
  root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_printerr ("input line is not a JSON object\n");
    goto out;
  }
  obj = json_node_get_object (root);

  if (json_object_has_member (obj, "offer")) {
    const gchar *sdp = json_object_get_string_member_with_default (obj,
        "offer", NULL);

    if (!sdp) {
      g_printerr ("offer is not a string\n");
      stop_with (session, EXIT_NEGOTIATION_FAILED);
      goto out;
    }
    handle_offer (session, sdp);
  } else if (json_object_has_member (obj, "candidate")) {
    const gchar *candidate =
        json_object_get_string_member_with_default (obj, "candidate", NULL);
    gint64 mline =
        json_object_get_int_member_with_default (obj, "sdpMLineIndex", -1);

    if (!candidate) {
      g_printerr ("candidate is not a string\n");
      goto out;
    }
    handle_candidate (session, candidate, mline);
  } else {
    g_printerr ("unknown input line ignored\n");
  }

out:
  g_clear_error (&error);
  g_object_unref (parser);
}

static gboolean
on_stdin (GIOChannel * channel, GIOCondition condition, gpointer user_data)
{
  EchoSession *session = user_data;
  GError *error = NULL;
  gchar *line = NULL;
  gsize terminator = 0;
  GIOStatus status;
  gboolean keep = TRUE;

  status = g_io_channel_read_line (channel, &line, NULL, &terminator, &error);
  switch (status) {
    case G_IO_STATUS_NORMAL:
      line[terminator] = '\0';
      handle_line (session, line);
      break;
    case G_IO_STATUS_AGAIN:
      break;
    case G_IO_STATUS_EOF:
      g_printerr ("stdin closed, exiting\n");
      keep = FALSE;
      stop_with (session, 0);
      break;
    case G_IO_STATUS_ERROR:
    default:
      g_printerr ("stdin: %s\n", error ? error->message : "read error");
      keep = FALSE;
      stop_with (session, EXIT_PIPELINE_ERROR);
      break;
  }

  (void) condition;
  if (!keep)
    session->in_watch = 0;
  g_clear_error (&error);
  g_free (line);
  return keep;
}

static void
on_ice_candidate (GstElement * webrtc, guint mline, gchar * candidate,
    gpointer user_data)
{
  EchoSession *session = user_data;
  JsonBuilder *builder = json_builder_new ();

  (void) webrtc;
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "candidate");
  json_builder_add_string_value (builder, candidate);
  json_builder_set_member_name (builder, "sdpMLineIndex");
  json_builder_add_int_value (builder, mline);
  json_builder_end_object (builder);
  send_line (session, builder);
  g_object_unref (builder);
}

static void
on_ice_connection_state (GObject * webrtc, GParamSpec * pspec,
    gpointer user_data)
{
  EchoSession *session = user_data;
  GstWebRTCICEConnectionState state;
  gboolean report = FALSE;

  (void) pspec;
  g_object_get (webrtc, "ice-connection-state", &state, NULL);
  g_printerr ("ice-connection-state %d\n", state);

  if (state == GST_WEBRTC_ICE_CONNECTION_STATE_CONNECTED
      || state == GST_WEBRTC_ICE_CONNECTION_STATE_COMPLETED) {
    g_mutex_lock (&session->out_lock);
    report = !session->reported_connected;
    session->reported_connected = TRUE;
    g_mutex_unlock (&session->out_lock);
  }
  if (report) {
    send_string_field (session, "state", "connected");
    g_printerr ("connected after %.1f ms\n", ms_since_offer (session));
  }
}

/* Logs when the first echoed video packet enters webrtcbin, which splits
 * the offer-to-first-frame time between server and browser. */
static GstPadProbeReturn
on_first_video_buffer (GstPad * pad, GstPadProbeInfo * info,
    gpointer user_data)
{
  EchoSession *session = user_data;

  (void) pad;
  (void) info;
  if (!session->reported_first_video) {
    session->reported_first_video = TRUE;
    g_printerr ("first video packet echoed after %.1f ms\n",
        ms_since_offer (session));
  }
  return GST_PAD_PROBE_REMOVE;
}

/* A browser PLI reaches us as a GstForceKeyUnit event that webrtcbin's RTP
 * session pushes upstream from its send side, tagged with the SSRC of the
 * stream we send.  Forwarded as is into the receive side, the session would
 * look for that SSRC among the remote sources, find our own sender and send
 * no PLI.  Without the tag, rtpssrcdemux fills in the browser's SSRC on the
 * way up and the session turns the event into a PLI to the browser. */
static GstPadProbeReturn
on_upstream_event (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

  (void) pad;
  (void) user_data;
  if (GST_EVENT_TYPE (event) == GST_EVENT_CUSTOM_UPSTREAM
      && gst_event_has_name (event, "GstForceKeyUnit")) {
    event = gst_event_make_writable (event);
    gst_structure_remove_fields (gst_event_writable_structure (event),
        "ssrc", "payload", NULL);
    GST_PAD_PROBE_INFO_DATA (info) = event;
    GST_INFO ("keyframe request forwarded to the browser");
  }
  return GST_PAD_PROBE_OK;
}

/* Links depay → pay → the sink pad of the same m-line.  The payloader keeps
 * the offer's payload type; force-key-unit events from webrtcbin's RTP
 * session (browser PLI) travel upstream through pay and depay back into
 * webrtcbin (see on_upstream_event), which sends them to the browser as
 * PLI. */
static gboolean
link_echo (EchoSession * session, GstPad * src_pad, EchoMedia * media)
{
  const gchar *depay_name, *pay_name;
  GstElement *depay = NULL, *pay = NULL;
  GstPad *depay_sink = NULL, *pay_src = NULL;
  gboolean ok = FALSE;

  switch (media->codec) {
    case CODEC_VP8:
      depay_name = "rtpvp8depay";
      pay_name = "rtpvp8pay";
      break;
    case CODEC_H264:
      depay_name = "rtph264depay";
      pay_name = "rtph264pay";
      break;
    case CODEC_OPUS:
      depay_name = "rtpopusdepay";
      pay_name = "rtpopuspay";
      break;
    case CODEC_NONE:
    default:
      goto out;
  }

  depay = gst_element_factory_make (depay_name, NULL);
  pay = gst_element_factory_make (pay_name, NULL);
  if (!depay || !pay)
    goto out;
  g_object_set (pay, "pt", (guint) media->pt, NULL);
  if (media->codec == CODEC_H264)
    g_object_set (pay, "config-interval", -1, NULL);

  gst_bin_add_many (GST_BIN (session->pipeline), depay, pay, NULL);
  if (!gst_element_link (depay, pay)) {
    g_printerr ("cannot link %s to %s\n", depay_name, pay_name);
    depay = pay = NULL;         /* owned by the pipeline now */
    goto out;
  }

  pay_src = gst_element_get_static_pad (pay, "src");
  depay_sink = gst_element_get_static_pad (depay, "sink");
  if (gst_pad_link (pay_src, media->sink_pad) != GST_PAD_LINK_OK
      || gst_pad_link (src_pad, depay_sink) != GST_PAD_LINK_OK) {
    g_printerr ("cannot link the echo of m-line %u\n", media->mline);
    depay = pay = NULL;
    goto out;
  }
  gst_pad_add_probe (depay_sink, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM,
      on_upstream_event, NULL, NULL);
  if (media->codec != CODEC_OPUS)
    gst_pad_add_probe (pay_src, GST_PAD_PROBE_TYPE_BUFFER |
        GST_PAD_PROBE_TYPE_BUFFER_LIST, on_first_video_buffer, session, NULL);
  gst_element_sync_state_with_parent (pay);
  gst_element_sync_state_with_parent (depay);
  g_printerr ("m-line %u: %s -> %s -> %s\n", media->mline, depay_name,
      pay_name, GST_PAD_NAME (media->sink_pad));
  depay = pay = NULL;
  ok = TRUE;

out:
  if (depay_sink)
    gst_object_unref (depay_sink);
  if (pay_src)
    gst_object_unref (pay_src);
  if (depay && !GST_OBJECT_PARENT (depay))
    gst_object_unref (depay);
  if (pay && !GST_OBJECT_PARENT (pay))
    gst_object_unref (pay);
  return ok;
}

/* Anything webrtcbin hands us that we do not echo must still be consumed,
 * or the session would stall on not-linked. */
static void
link_fakesink (EchoSession * session, GstPad * src_pad)
{
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  GstPad *sink_pad;

  g_object_set (sink, "async", FALSE, "sync", FALSE, NULL);
  gst_bin_add (GST_BIN (session->pipeline), sink);
  sink_pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_link (src_pad, sink_pad);
  gst_object_unref (sink_pad);
  gst_element_sync_state_with_parent (sink);
}

static void
on_pad_added (GstElement * webrtc, GstPad * pad, gpointer user_data)
{
  EchoSession *session = user_data;
  GstWebRTCRTPTransceiver *trans = NULL;
  guint mline = G_MAXUINT;
  EchoMedia *media = NULL;

  (void) webrtc;
  if (GST_PAD_DIRECTION (pad) != GST_PAD_SRC)
    return;

  g_object_get (pad, "transceiver", &trans, NULL);
  if (trans)
    g_object_get (trans, "mlineindex", &mline, NULL);
  if (mline < session->medias->len)
    media = g_ptr_array_index (session->medias, mline);

  if (!media || !media->sink_pad || !link_echo (session, pad, media)) {
    g_printerr ("src pad %s (m-line %d) not echoed\n", GST_PAD_NAME (pad),
        (gint) mline);
    link_fakesink (session, pad);
  }

  if (trans)
    gst_object_unref (trans);
}

static GstPadProbeReturn
on_data_while_stopping (GstPad * pad, GstPadProbeInfo * info,
    gpointer user_data)
{
  (void) pad;
  (void) info;
  (void) user_data;
  return GST_PAD_PROBE_DROP;
}

/* Makes a webrtcbin src pad drop everything, then waits until the push in
 * flight on it, if any, has left: that push runs under the stream lock of
 * the ghost pad's internal proxy pad, the lock deactivation takes too. */
static gboolean
seal_src_pad (GstElement * webrtc, GstPad * pad, gpointer user_data)
{
  GstProxyPad *internal;

  (void) webrtc;
  (void) user_data;
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_DATA_DOWNSTREAM,
      on_data_while_stopping, NULL, NULL);
  internal = gst_proxy_pad_get_internal (GST_PROXY_PAD (pad));
  if (internal) {
    GST_PAD_STREAM_LOCK (internal);
    GST_PAD_STREAM_UNLOCK (internal);
    gst_object_unref (internal);
  }
  return TRUE;
}

/* The echo makes the graph a cycle (webrtcbin → depay → pay → webrtcbin),
 * and while stopping, a jitterbuffer thread that pushes through the echo can
 * block in webrtcbin's nicesink (PAUSED, waiting for preroll) while holding
 * the stream lock that deactivating webrtcbin's src pad needs: a deadlock
 * seen in about one exit in four.  So first stop data from leaving
 * webrtcbin at all, then stop webrtcbin, break the cycle (GstBin warns about
 * loops) and stop the rest. */
static void
shut_down (EchoSession * session)
{
  guint i;

  gst_element_foreach_src_pad (session->webrtc, seal_src_pad, NULL);
  gst_element_set_state (session->webrtc, GST_STATE_NULL);

  for (i = 0; i < session->medias->len; i++) {
    EchoMedia *media = g_ptr_array_index (session->medias, i);
    GstPad *peer;

    if (!media->sink_pad)
      continue;
    peer = gst_pad_get_peer (media->sink_pad);
    if (peer) {
      gst_pad_unlink (peer, media->sink_pad);
      gst_object_unref (peer);
    }
  }
  gst_element_set_state (session->pipeline, GST_STATE_NULL);
}

static gboolean
on_bus_message (GstBus * bus, GstMessage * message, gpointer user_data)
{
  EchoSession *session = user_data;
  GError *error = NULL;
  gchar *debug = NULL;

  (void) bus;
  switch (GST_MESSAGE_TYPE (message)) {
    case GST_MESSAGE_ERROR:
      gst_message_parse_error (message, &error, &debug);
      g_printerr ("error from %s: %s\n%s\n", GST_OBJECT_NAME (message->src),
          error->message, debug ? debug : "");
      GST_DEBUG_BIN_TO_DOT_FILE_WITH_TS (GST_BIN (session->pipeline),
          GST_DEBUG_GRAPH_SHOW_ALL, "webrtc-echo-error");
      stop_with (session, EXIT_PIPELINE_ERROR);
      break;
    case GST_MESSAGE_WARNING:
      gst_message_parse_warning (message, &error, &debug);
      g_printerr ("warning from %s: %s\n", GST_OBJECT_NAME (message->src),
          error->message);
      break;
    default:
      break;
  }
  g_clear_error (&error);
  g_free (debug);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char *argv[])
{
  gchar **ice_addresses = NULL;
  gint latency = -1;
  GOptionEntry entries[] = {
    {"latency", 0, 0, G_OPTION_ARG_INT, &latency,
        "webrtcbin jitterbuffer latency in ms (default: webrtcbin's own, "
          "200)", "MS"},
    {"ice-address", 0, 0, G_OPTION_ARG_STRING_ARRAY, &ice_addresses,
        "Local IP address to gather ICE host candidates on (repeatable; "
          "default: every IPv4 interface, loopback included)", "ADDR"},
    {NULL, 0, 0, G_OPTION_ARG_NONE, NULL, NULL, NULL},
  };
  GOptionContext *context;
  GError *error = NULL;
  EchoSession session = { 0 };
  GIOChannel *in = NULL;
  GstBus *bus = NULL;
  guint bus_watch = 0;

  /* Keep stdout for protocol lines only, whatever a library logs. */
  g_log_writer_default_set_use_stderr (TRUE);
  session.exit_code = 0;
  g_mutex_init (&session.out_lock);
  session.medias = g_ptr_array_new_with_free_func ((GDestroyNotify)
      echo_media_free);

  context = g_option_context_new ("- webrtcbin echo (benchmark anchor)");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_add_group (context, gst_init_get_option_group ());
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    g_printerr ("%s\n", error->message);
    session.exit_code = EXIT_BAD_COMMAND_LINE;
    goto out;
  }
  GST_DEBUG_CATEGORY_INIT (echo_debug, "webrtc-echo", 0, "webrtcbin echo");

  if (!check_plugins ()) {
    session.exit_code = EXIT_MISSING_PLUGIN;
    goto out;
  }

  prewarm_dtls_certificate ();

  session.loop = g_main_loop_new (NULL, FALSE);
  session.pipeline = gst_pipeline_new ("webrtc-echo");
  session.webrtc = gst_element_factory_make ("webrtcbin", "webrtc");
  gst_util_set_object_arg (G_OBJECT (session.webrtc), "bundle-policy",
      "max-bundle");
  if (latency >= 0)
    g_object_set (session.webrtc, "latency", (guint) latency, NULL);
  gst_bin_add (GST_BIN (session.pipeline), session.webrtc);

  if (!configure_ice_addresses (&session, ice_addresses)) {
    session.exit_code = EXIT_BAD_COMMAND_LINE;
    goto out;
  }

  g_signal_connect (session.webrtc, "on-ice-candidate",
      G_CALLBACK (on_ice_candidate), &session);
  g_signal_connect (session.webrtc, "notify::ice-connection-state",
      G_CALLBACK (on_ice_connection_state), &session);
  g_signal_connect (session.webrtc, "pad-added", G_CALLBACK (on_pad_added),
      &session);

  bus = gst_pipeline_get_bus (GST_PIPELINE (session.pipeline));
  bus_watch = gst_bus_add_watch (bus, on_bus_message, &session);

  if (gst_element_set_state (session.pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    g_printerr ("cannot start the pipeline\n");
    session.exit_code = EXIT_PIPELINE_ERROR;
    goto out;
  }

  in = g_io_channel_unix_new (0);
  g_io_channel_set_encoding (in, NULL, NULL);
  session.in_watch = g_io_add_watch (in, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin,
      &session);

  g_main_loop_run (session.loop);
  /* A reason to stop that arrives from now on changes nothing. */
  g_atomic_int_set (&session.stopping, TRUE);

out:
  if (session.in_watch)
    g_source_remove (session.in_watch);
  if (in)
    g_io_channel_unref (in);
  if (session.pipeline)
    shut_down (&session);
  if (bus_watch)
    g_source_remove (bus_watch);
  if (bus)
    gst_object_unref (bus);
  /* Release the requested pads before the pipeline that owns webrtcbin. */
  g_ptr_array_unref (session.medias);
  if (session.pipeline)
    gst_object_unref (session.pipeline);
  if (session.loop)
    g_main_loop_unref (session.loop);
  g_mutex_clear (&session.out_lock);
  g_option_context_free (context);
  g_strfreev (ice_addresses);
  return g_atomic_int_get (&session.exit_code);
}
