/* WebRtcEndpoint on webrtcbin.
 *
 * Negotiation runs on the main thread and waits on webrtcbin's promises (its
 * own thread does the work, so nothing here needs the main loop meanwhile).
 * Signals from webrtcbin, libnice and streaming threads only copy what they
 * need and hand it to the main loop with mt_invoke(), which looks the element
 * up by id again: a late callback for a released element is simply dropped. */
#include "worker.h"

#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  MtMediaType media;
  MtFormat format;              /* negotiated codec, NONE if unusable */
  gint pt;
  gchar *profile_level_id;      /* H.264 only */
  gboolean send;                /* we send on this m-line */
  gboolean recv;                /* we receive on this m-line */
  gboolean rejected;            /* answered with port 0 (processOffer) */
  gint reject_pt;               /* the one format a rejection lists; -1: all */
  GstElement *pay_bin;
} MtMLine;

typedef struct
{
  gchar *id;                    /* immutable copy; threads read only this... */
  MtElement *el;                /* ...and el->flow_*, valid while webrtc runs */
  GstElement *webrtc;
  GObject *ice;                 /* GstWebRTCICE */
  GObject *agent;               /* NiceAgent, for component states and pairs */
  gboolean recvonly, sendonly;
  gboolean negotiated;          /* a remote description has been applied */
  gboolean all_rejected;        /* answered with every m-line rejected */
  gboolean offer_pending;       /* generateOffer done, waiting for an answer */
  gboolean gather_requested;
  gboolean gathering_complete;
  gboolean gathering_done_sent;
  GQueue local_candidates;      /* JsonObject*, until gatherCandidates */
  GQueue remote_candidates;     /* RemoteCandidate*, until negotiated */
  GHashTable *local_by_foundation;      /* foundation -> candidate line */
  GHashTable *remote_by_foundation;
  GArray *mlines;               /* MtMLine */
  GObject *dtls;                /* GstWebRTCDTLSTransport we watch */
} MtWebRtc;

typedef struct
{
  guint mline;
  gchar *candidate;
} RemoteCandidate;

static const gchar *const component_states[] = {
  "DISCONNECTED", "GATHERING", "CONNECTING", "CONNECTED", "READY", "FAILED",
};

static const gchar *const ice_connection_states[] = {
  "new", "checking", "connected", "completed", "failed", "disconnected",
  "closed",
};

static const gchar *const dtls_states[] = {
  "NEW", "CLOSED", "FAILED", "CONNECTING", "CONNECTED",
};

/* ---------------------------------------------------------------------- */
/* Main-thread handoff                                                     */

typedef struct
{
  gchar *id;
  guint a, b;
  gchar *s1, *s2;
  GstElement *tee;
  GstElement *depay;
  MtMediaType media;
  MtFormat format;
} MtEvent;

static MtEvent *
event_new (const gchar * id)
{
  MtEvent *ev = g_new0 (MtEvent, 1);

  ev->id = g_strdup (id);
  return ev;
}

static void
event_free (gpointer data)
{
  MtEvent *ev = data;

  g_free (ev->id);
  g_free (ev->s1);
  g_free (ev->s2);
  if (ev->tee)
    gst_object_unref (ev->tee);
  if (ev->depay)
    gst_object_unref (ev->depay);
  g_free (ev);
}

static MtWebRtc *
webrtc_of (MtElement * el)
{
  if (!el || strcmp (el->type, "WebRtcEndpoint") != 0)
    return NULL;
  return el->priv;
}

static MtElement *
lookup_webrtc (JsonObject * params, MtWebRtc ** out, GError ** error)
{
  const gchar *id = mt_param_string (params, "id", error);
  MtElement *el;

  if (!id || !(el = mt_element_lookup (id, error)))
    return NULL;
  if (!(*out = webrtc_of (el))) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "%s is not a WebRtcEndpoint", id);
    return NULL;
  }
  return el;
}

static gchar *
candidate_foundation (const gchar * candidate)
{
  const gchar *p = candidate;

  if (g_str_has_prefix (p, "a="))
    p += 2;
  if (!g_str_has_prefix (p, "candidate:"))
    return NULL;
  p += strlen ("candidate:");
  return g_strndup (p, strcspn (p, " "));
}

/* ---------------------------------------------------------------------- */
/* ICE candidates and states                                              */

static gchar *
local_mid (MtWebRtc * w, guint mline)
{
  GstWebRTCSessionDescription *desc = NULL;
  gchar *mid = NULL;

  g_object_get (w->webrtc, "local-description", &desc, NULL);
  if (desc && mline < gst_sdp_message_medias_len (desc->sdp)) {
    const GstSDPMedia *m = gst_sdp_message_get_media (desc->sdp, mline);
    mid = g_strdup (gst_sdp_media_get_attribute_val (m, "mid"));
  }
  if (desc)
    gst_webrtc_session_description_free (desc);
  return mid ? mid : g_strdup_printf ("%u", mline);
}

static gboolean
mline_rejected (MtWebRtc * w, guint mline)
{
  return mline < w->mlines->len
      && g_array_index (w->mlines, MtMLine, mline).rejected;
}

/* With max-bundle webrtcbin gathers on the first m-line's transport.  When
 * the answer rejected that m-line, a browser refuses candidates for it: they
 * are reported on the first m-line the answer kept (its BUNDLE tag), as
 * Kurento never reports candidates on a port-0 m-line. */
static guint
first_accepted_mline (MtWebRtc * w, guint mline)
{
  guint i;

  if (!mline_rejected (w, mline))
    return mline;
  for (i = 0; i < w->mlines->len; i++)
    if (!mline_rejected (w, i))
      return i;
  return mline;
}

static void
emit_gathering_done (MtElement * el, MtWebRtc * w)
{
  if (!w->gather_requested || !w->gathering_complete
      || w->gathering_done_sent)
    return;
  w->gathering_done_sent = TRUE;
  mt_protocol_notify ("IceGatheringDone", el->id, NULL);
}

static void
flush_local_candidates (MtElement * el, MtWebRtc * w)
{
  JsonObject *cand;

  while ((cand = g_queue_pop_head (&w->local_candidates)))
    mt_protocol_notify ("IceCandidateFound", el->id, cand);
  emit_gathering_done (el, w);
}

static gboolean
handle_local_candidate (gpointer data)
{
  MtEvent *ev = data;
  MtElement *el = mt_element_lookup (ev->id, NULL);
  MtWebRtc *w = webrtc_of (el);
  JsonObject *cand;
  gchar *mid, *foundation;
  guint mline;

  if (!w)
    return G_SOURCE_REMOVE;
  foundation = candidate_foundation (ev->s1);
  if (foundation)
    g_hash_table_insert (w->local_by_foundation, foundation,
        g_strdup (ev->s1));
  mline = first_accepted_mline (w, ev->a);
  mid = local_mid (w, mline);
  cand = json_object_new ();
  json_object_set_string_member (cand, "candidate", ev->s1);
  json_object_set_string_member (cand, "sdpMid", mid);
  json_object_set_int_member (cand, "sdpMLineIndex", mline);
  g_free (mid);
  g_queue_push_tail (&w->local_candidates, cand);
  if (w->gather_requested)
    flush_local_candidates (el, w);
  return G_SOURCE_REMOVE;
}

static void
on_ice_candidate (GstElement * webrtc, guint mline, gchar * candidate,
    MtWebRtc * w)
{
  MtEvent *ev = event_new (w->id);

  ev->a = mline;
  ev->s1 = g_strdup (candidate);
  mt_invoke (handle_local_candidate, ev, event_free);
}

static gboolean
handle_gathering_complete (gpointer data)
{
  MtEvent *ev = data;
  MtElement *el = mt_element_lookup (ev->id, NULL);
  MtWebRtc *w = webrtc_of (el);

  if (!w)
    return G_SOURCE_REMOVE;
  w->gathering_complete = TRUE;
  emit_gathering_done (el, w);
  return G_SOURCE_REMOVE;
}

static gboolean
delay_gathering_complete (gpointer data)
{
  MtEvent *ev = data;

  mt_invoke (handle_gathering_complete, event_new (ev->id), event_free);
  return G_SOURCE_REMOVE;
}

static void
on_ice_gathering_state (GObject * webrtc, GParamSpec * pspec, MtWebRtc * w)
{
  GstWebRTCICEGatheringState state;

  g_object_get (webrtc, "ice-gathering-state", &state, NULL);
  if (state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE)
    /* Candidates travel through webrtcbin's own task queue; a short grace
     * period keeps IceGatheringDone after the last IceCandidateFound. */
    g_timeout_add_full (G_PRIORITY_DEFAULT, 50, delay_gathering_complete,
        event_new (w->id), event_free);
}

static gboolean
handle_ice_connection_state (gpointer data)
{
  MtEvent *ev = data;
  JsonObject *d;

  if (!mt_element_lookup (ev->id, NULL))
    return G_SOURCE_REMOVE;
  d = json_object_new ();
  json_object_set_string_member (d, "state", ice_connection_states[ev->a]);
  mt_protocol_notify ("IceConnectionState", ev->id, d);
  return G_SOURCE_REMOVE;
}

static void
on_ice_connection_state (GObject * webrtc, GParamSpec * pspec, MtWebRtc * w)
{
  GstWebRTCICEConnectionState state;
  MtEvent *ev;

  g_object_get (webrtc, "ice-connection-state", &state, NULL);
  if ((guint) state >= G_N_ELEMENTS (ice_connection_states))
    return;
  ev = event_new (w->id);
  ev->a = state;
  mt_invoke (handle_ice_connection_state, ev, event_free);
}

static gboolean
handle_component_state (gpointer data)
{
  MtEvent *ev = data;
  JsonObject *d;

  if (!mt_element_lookup (ev->id, NULL))
    return G_SOURCE_REMOVE;
  d = json_object_new ();
  json_object_set_int_member (d, "streamId", ev->a);
  json_object_set_int_member (d, "componentId", ev->b);
  json_object_set_string_member (d, "state", ev->s1);
  mt_protocol_notify ("IceComponentStateChanged", ev->id, d);
  return G_SOURCE_REMOVE;
}

/* NiceAgent::component-state-changed (libnice's own thread). */
static void
on_component_state (GObject * agent, guint stream, guint component,
    guint state, MtWebRtc * w)
{
  MtEvent *ev;

  if (state >= G_N_ELEMENTS (component_states))
    return;
  ev = event_new (w->id);
  ev->a = stream;
  ev->b = component;
  ev->s1 = g_strdup (component_states[state]);
  mt_invoke (handle_component_state, ev, event_free);
}

static gboolean
handle_selected_pair (gpointer data)
{
  MtEvent *ev = data;
  MtElement *el = mt_element_lookup (ev->id, NULL);
  MtWebRtc *w = webrtc_of (el);
  const gchar *local, *remote;
  JsonObject *d;
  gchar *stream;

  if (!w)
    return G_SOURCE_REMOVE;
  local = g_hash_table_lookup (w->local_by_foundation, ev->s1);
  remote = g_hash_table_lookup (w->remote_by_foundation, ev->s2);
  d = json_object_new ();
  stream = g_strdup_printf ("%u", ev->a);
  json_object_set_string_member (d, "streamId", stream);
  g_free (stream);
  json_object_set_int_member (d, "componentId", ev->b);
  /* A peer-reflexive remote candidate was never signalled; Kurento then
   * reports what it knows, the foundation. */
  json_object_set_string_member (d, "localCandidate", local ? local : ev->s1);
  json_object_set_string_member (d, "remoteCandidate",
      remote ? remote : ev->s2);
  mt_protocol_notify ("NewCandidatePairSelected", el->id, d);
  return G_SOURCE_REMOVE;
}

/* NiceAgent::new-selected-pair (libnice's own thread). */
static void
on_selected_pair (GObject * agent, guint stream, guint component,
    gchar * lfoundation, gchar * rfoundation, MtWebRtc * w)
{
  MtEvent *ev = event_new (w->id);

  ev->a = stream;
  ev->b = component;
  ev->s1 = g_strdup (lfoundation);
  ev->s2 = g_strdup (rfoundation);
  mt_invoke (handle_selected_pair, ev, event_free);
}

static gboolean
handle_dtls_state (gpointer data)
{
  MtEvent *ev = data;
  JsonObject *d;

  if (!mt_element_lookup (ev->id, NULL))
    return G_SOURCE_REMOVE;
  d = json_object_new ();
  json_object_set_string_member (d, "streamId", "0");
  json_object_set_int_member (d, "componentId", 1);
  json_object_set_string_member (d, "connectionId", ev->id);
  json_object_set_string_member (d, "state", ev->s1);
  mt_protocol_notify ("DtlsConnectionStateChange", ev->id, d);
  return G_SOURCE_REMOVE;
}

static void
on_dtls_state (GObject * dtls, GParamSpec * pspec, MtWebRtc * w)
{
  GstWebRTCDTLSTransportState state;
  MtEvent *ev;

  g_object_get (dtls, "state", &state, NULL);
  if ((guint) state >= G_N_ELEMENTS (dtls_states))
    return;
  ev = event_new (w->id);
  ev->s1 = g_strdup (dtls_states[state]);
  mt_invoke (handle_dtls_state, ev, event_free);
}

/* With max-bundle every m-line shares the first transceiver's transport. */
static void
watch_dtls (MtWebRtc * w)
{
  GstWebRTCRTPTransceiver *trans = NULL;
  GstWebRTCRTPSender *sender = NULL;
  GObject *dtls = NULL;

  if (w->dtls)
    return;
  g_signal_emit_by_name (w->webrtc, "get-transceiver", 0, &trans);
  if (!trans)
    return;
  g_object_get (trans, "sender", &sender, NULL);
  if (sender)
    g_object_get (sender, "transport", &dtls, NULL);
  if (dtls) {
    w->dtls = dtls;
    g_signal_connect (dtls, "notify::state", G_CALLBACK (on_dtls_state), w);
  }
  g_clear_object (&sender);
  gst_object_unref (trans);
}

/* ---------------------------------------------------------------------- */
/* Incoming media                                                          */

static void
discard_orphan (GstElement * element)
{
  gst_element_set_state (element, GST_STATE_NULL);
  if (GST_OBJECT_PARENT (element))
    gst_bin_remove (GST_BIN (GST_OBJECT_PARENT (element)), element);
}

static gboolean
handle_incoming (gpointer data)
{
  MtEvent *ev = data;
  MtElement *el = mt_element_lookup (ev->id, NULL);

  if (!webrtc_of (el)) {
    /* Released meanwhile: the branch built in the streaming thread has no
     * owner any more. */
    if (ev->tee)
      discard_orphan (ev->tee);
    discard_orphan (ev->depay);
    return G_SOURCE_REMOVE;
  }
  mt_element_add_owned (el, ev->depay);
  if (!ev->tee)
    return G_SOURCE_REMOVE;
  mt_element_add_owned (el, ev->tee);
  GST_INFO ("%s: receiving %s as %s", el->id, mt_media_name (ev->media),
      mt_format_name (ev->format));
  mt_source_set_origin (el, ev->media, ev->format, ev->tee);
  return G_SOURCE_REMOVE;
}

/* Streaming thread: an upstream event leaves our depayloader toward
 * webrtcbin.  A keyframe request forwarded from a viewer's WebRtcEndpoint
 * (its PLI/FIR became a GstForceKeyUnit on its send side) still carries the
 * SSRC and payload type of the stream that endpoint sends.  This session's
 * RTP session would look for that SSRC among the streams it receives, find
 * nothing and drop the request; untagged, rtpbin tags it with the SSRC of
 * this receive path and the browser gets a PLI (or FIR, for all-headers). */
static GstPadProbeReturn
on_upstream_to_receiver (GstPad * pad, GstPadProbeInfo * info,
    gpointer user_data)
{
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

  if (GST_EVENT_TYPE (event) != GST_EVENT_CUSTOM_UPSTREAM
      || !gst_event_has_name (event, "GstForceKeyUnit"))
    return GST_PAD_PROBE_OK;
  event = gst_event_make_writable (event);
  gst_structure_remove_fields (gst_event_writable_structure (event), "ssrc",
      "payload", NULL);
  GST_PAD_PROBE_INFO_DATA (info) = event;
  GST_DEBUG ("%s: keyframe request toward the sender", (gchar *) user_data);
  return GST_PAD_PROBE_OK;
}

/* webrtcbin exposes a src pad (RTP) per received stream, from a streaming
 * thread.  It must be linked right here, or the data hits not-linked; so
 * the depayloader and the origin tee are built in this thread and the
 * bookkeeping is handed to the main loop. */
static void
on_pad_added (GstElement * webrtc, GstPad * pad, MtWebRtc * w)
{
  GstCaps *caps = NULL;
  GstStructure *s;
  const gchar *media, *enc;
  const gchar *desc = NULL;
  GstElement *depay = NULL, *tee = NULL;
  GstPad *sink = NULL;
  GstBin *pipeline = GST_BIN (GST_OBJECT_PARENT (webrtc));
  MtEvent *ev;
  gchar *name;
  MtMediaType type;
  MtFormat format = MT_FORMAT_NONE;
  GError *err = NULL;

  if (GST_PAD_DIRECTION (pad) != GST_PAD_SRC)
    return;
  caps = gst_pad_get_current_caps (pad);
  if (!caps)
    caps = gst_pad_query_caps (pad, NULL);
  s = gst_caps_get_structure (caps, 0);
  media = gst_structure_get_string (s, "media");
  enc = gst_structure_get_string (s, "encoding-name");
  type = g_strcmp0 (media, "audio") == 0 ? MT_MEDIA_AUDIO : MT_MEDIA_VIDEO;
  if (g_strcmp0 (enc, "VP8") == 0) {
    format = MT_FORMAT_VP8;
    desc = "rtpvp8depay request-keyframe=true wait-for-keyframe=true";
  } else if (g_strcmp0 (enc, "H264") == 0) {
    format = MT_FORMAT_H264;
    desc = "rtph264depay request-keyframe=true wait-for-keyframe=true ! "
        "h264parse config-interval=-1 ! capsfilter caps=\""
        "video/x-h264,stream-format=byte-stream,alignment=au\"";
  } else if (g_ascii_strcasecmp (enc ? enc : "", "OPUS") == 0) {
    format = MT_FORMAT_OPUS;
    /* rtpopusdepay leaves the rate out of its caps; the muxers of
     * recorders (webmmux, matroskamux) require it, and a refused caps event
     * stopped the whole endpoint (not-negotiated up to nicesrc).  Opus over
     * RTP always has a 48 kHz clock (RFC 7587). */
    desc = "rtpopusdepay ! capsfilter caps=\"audio/x-opus,rate=48000\"";
  } else {
    /* Unexpected codec: swallow it so the session keeps running. */
    desc = "fakesink async=false sync=false";
  }

  depay = gst_parse_bin_from_description (desc, TRUE, &err);
  if (!depay) {
    /* Never leave the pad unlinked: not-linked would stop ICE itself. */
    GST_ERROR ("%s: cannot build depayloader: %s", w->id, err->message);
    g_clear_error (&err);
    format = MT_FORMAT_NONE;
    depay = gst_parse_bin_from_description ("fakesink async=false", TRUE,
        NULL);
  }
  name = g_strdup_printf ("%s-%s-depay", w->id, GST_PAD_NAME (pad));
  gst_object_set_name (GST_OBJECT (depay), name);
  g_free (name);
  gst_bin_add (pipeline, depay);
  if (format != MT_FORMAT_NONE) {
    name = g_strdup_printf ("%s-%s-tee", w->id, GST_PAD_NAME (pad));
    tee = mt_make_tee (name);
    g_free (name);
    gst_bin_add (pipeline, tee);
    gst_element_link (depay, tee);
    gst_element_sync_state_with_parent (tee);
  }
  gst_element_sync_state_with_parent (depay);
  sink = gst_element_get_static_pad (depay, "sink");
  if (gst_pad_link (pad, sink) != GST_PAD_LINK_OK)
    GST_ERROR ("%s: cannot link %s", w->id, GST_PAD_NAME (pad));
  if (type == MT_MEDIA_VIDEO)
    gst_pad_add_probe (sink, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM,
        on_upstream_to_receiver, g_strdup (w->id), g_free);

  /* Streaming threads only run while webrtcbin is not NULL, and release
   * stops webrtcbin before freeing the element, so w->el is valid here. */
  mt_flow_watch_pad (w->el->flow_in[type], pad);

  ev = event_new (w->id);
  ev->media = type;
  ev->format = format;
  ev->tee = tee ? gst_object_ref (tee) : NULL;
  ev->depay = gst_object_ref (depay);
  mt_invoke (handle_incoming, ev, event_free);

  g_clear_object (&sink);
  if (caps)
    gst_caps_unref (caps);
}

/* ---------------------------------------------------------------------- */
/* Outgoing media                                                          */

/* webrtcbin exposes sink pads by itself for sending transceivers on some
 * paths (e.g. when an answer to our offer is applied), named after its own
 * counter, not the m-line.  Find the one bound to m-line `index`. */
static GstPad *
find_sink_pad (MtWebRtc * w, guint index)
{
  GstIterator *it = gst_element_iterate_sink_pads (w->webrtc);
  GValue item = G_VALUE_INIT;
  GstPad *found = NULL;

  while (!found && gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GstPad *pad = g_value_get_object (&item);
    GstWebRTCRTPTransceiver *trans = NULL;
    guint mline = G_MAXUINT;

    if (g_object_class_find_property (G_OBJECT_GET_CLASS (pad),
            "transceiver"))
      g_object_get (pad, "transceiver", &trans, NULL);
    if (trans) {
      g_object_get (trans, "mlineindex", &mline, NULL);
      gst_object_unref (trans);
    }
    if (mline == index && !gst_pad_is_linked (pad))
      found = gst_object_ref (pad);
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  return found;
}

/* Builds payloader -> webrtcbin.sink_N for one m-line and offers its input
 * to the link model, which then feeds it from whatever source is
 * connected. */
static gboolean
setup_send (MtElement * el, MtWebRtc * w, guint index, GError ** error)
{
  MtMLine *ml = &g_array_index (w->mlines, MtMLine, index);
  GstPad *wsink = NULL, *bin_src = NULL, *bin_sink = NULL;
  GError *err = NULL;
  gchar *desc = NULL, *name;
  gboolean ok = FALSE;
  GstPadLinkReturn link_ret = GST_PAD_LINK_REFUSED;

  if (!ml->send || ml->format == MT_FORMAT_NONE || ml->pay_bin)
    return TRUE;
  switch (ml->format) {
    case MT_FORMAT_VP8:
      desc = g_strdup_printf ("rtpvp8pay pt=%d mtu=1200 "
          "picture-id-mode=15-bit", ml->pt);
      break;
    case MT_FORMAT_H264:
      /* SPS/PPS once per keyframe access unit (h264parse) so receivers
       * can start at any keyframe; not rtph264pay's config-interval, which
       * puts them before every IDR slice, between the two slices of an
       * x264 sliced-threads frame (ffmpeg-based decoders then split the
       * picture; see rtp_endpoint.c).  The capssetter states the
       * negotiated profile so webrtcbin accepts the stream whatever level
       * the encoder picked. */
      desc = g_strdup_printf ("h264parse config-interval=-1 ! capsfilter "
          "caps=\"video/x-h264,stream-format=byte-stream,alignment=au\" ! "
          "rtph264pay pt=%d mtu=1200 config-interval=0 "
          "aggregate-mode=zero-latency ! capssetter "
          "caps=\"application/x-rtp,profile-level-id=(string)%s,"
          "packetization-mode=(string)1\"", ml->pt,
          ml->profile_level_id ? ml->profile_level_id : "42e01f");
      break;
    case MT_FORMAT_OPUS:
      desc = g_strdup_printf ("rtpopuspay pt=%d mtu=1200", ml->pt);
      break;
    default:
      return TRUE;
  }
  ml->pay_bin = gst_parse_bin_from_description (desc, TRUE, &err);
  if (!ml->pay_bin) {
    g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL,
        "cannot build payloader: %s", err->message);
    g_clear_error (&err);
    goto out;
  }
  name = g_strdup_printf ("%s-pay-%u", w->id, index);
  gst_object_set_name (GST_OBJECT (ml->pay_bin), name);
  g_free (name);
  mt_element_add_owned (el, ml->pay_bin);

  wsink = find_sink_pad (w, index);
  if (!wsink) {
    name = g_strdup_printf ("sink_%u", index);
    wsink = gst_element_request_pad_simple (w->webrtc, name);
    g_free (name);
  }
  bin_src = gst_element_get_static_pad (ml->pay_bin, "src");
  if (!wsink || (link_ret = gst_pad_link (bin_src, wsink)) != GST_PAD_LINK_OK) {
    /* webrtcbin negotiated this m-line with caps the payloader cannot give
     * (a mangled offer: rtpmap and fmtp of other payload types): the
     * offer's fault, so a process-offer error, not an internal one. */
    g_set_error (error, MT_ERROR, MT_ERROR_SDP,
        "cannot link payloader to webrtcbin m-line %u: %s", index,
        gst_pad_link_get_name (link_ret));
    goto out;
  }
  gst_element_sync_state_with_parent (ml->pay_bin);
  mt_flow_watch_pad (el->flow_out[ml->media], wsink);
  bin_sink = gst_element_get_static_pad (ml->pay_bin, "sink");
  mt_sink_set_input (el, ml->media, ml->format, bin_sink);
  ok = TRUE;

out:
  g_free (desc);
  g_clear_object (&wsink);
  g_clear_object (&bin_src);
  g_clear_object (&bin_sink);
  return ok;
}

/* ---------------------------------------------------------------------- */
/* Negotiation                                                             */

/* Runs one webrtcbin action and waits for its promise.  Returns the reply
 * (may be NULL for actions that reply without a structure). */
static gboolean
run_promise (MtWebRtc * w, const gchar * action, gpointer arg,
    GstStructure ** reply_out, GError ** error)
{
  GstPromise *promise = gst_promise_new ();
  const GstStructure *reply;
  GstPromiseResult result;
  gboolean ok = FALSE;

  if (arg)
    g_signal_emit_by_name (w->webrtc, action, arg, promise);
  else
    g_signal_emit_by_name (w->webrtc, action, NULL, promise);
  result = gst_promise_wait (promise);
  if (result != GST_PROMISE_RESULT_REPLIED) {
    g_set_error (error, MT_ERROR, MT_ERROR_SDP, "%s did not complete",
        action);
    goto out;
  }
  reply = gst_promise_get_reply (promise);
  if (reply && gst_structure_has_field (reply, "error")) {
    GError *err = NULL;
    gst_structure_get (reply, "error", G_TYPE_ERROR, &err, NULL);
    g_set_error (error, MT_ERROR, MT_ERROR_SDP, "%s failed: %s", action,
        err ? err->message : "unknown error");
    g_clear_error (&err);
    goto out;
  }
  if (reply_out)
    *reply_out = reply ? gst_structure_copy (reply) : NULL;
  ok = TRUE;

out:
  gst_promise_unref (promise);
  return ok;
}

static GstWebRTCRTPTransceiverDirection
direction_of (const GstSDPMedia * media)
{
  if (gst_sdp_media_get_attribute_val (media, "sendonly"))
    return GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY;
  if (gst_sdp_media_get_attribute_val (media, "recvonly"))
    return GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY;
  if (gst_sdp_media_get_attribute_val (media, "inactive"))
    return GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_INACTIVE;
  return GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV;
}

/* Picks the codec we use on an m-line: VP8 if present, else H.264 with
 * packetization-mode=1 (constrained baseline preferred), Opus for audio.
 * The remote's payload type is kept.  Returns the caps for that payload
 * (with its rtcp-fb and fmtp attributes) or NULL. */
static GstCaps *
pick_codec (const GstSDPMedia * media, MtMLine * ml)
{
  GstCaps *best = NULL;
  gint best_rank = 0;
  guint i;

  for (i = 0; i < gst_sdp_media_formats_len (media); i++) {
    gint pt = atoi (gst_sdp_media_get_format (media, i));
    GstCaps *caps = gst_sdp_media_get_caps_from_media (media, pt);
    GstStructure *s;
    const gchar *enc, *pm, *plid;
    gint rank = 0;
    MtFormat format = MT_FORMAT_NONE;

    if (!caps)
      continue;
    s = gst_caps_get_structure (caps, 0);
    enc = gst_structure_get_string (s, "encoding-name");
    pm = gst_structure_get_string (s, "packetization-mode");
    plid = gst_structure_get_string (s, "profile-level-id");
    if (ml->media == MT_MEDIA_VIDEO && g_strcmp0 (enc, "VP8") == 0) {
      rank = 10;
      format = MT_FORMAT_VP8;
    } else if (ml->media == MT_MEDIA_VIDEO && g_strcmp0 (enc, "H264") == 0
        && g_strcmp0 (pm, "1") == 0) {
      rank = plid && g_str_has_prefix (plid, "42e0") ? 6 :
          plid && g_str_has_prefix (plid, "42") ? 5 : 4;
      format = MT_FORMAT_H264;
    } else if (ml->media == MT_MEDIA_AUDIO && enc
        && g_ascii_strcasecmp (enc, "OPUS") == 0) {
      rank = 10;
      format = MT_FORMAT_OPUS;
    }
    if (rank > best_rank) {
      best_rank = rank;
      if (best)
        gst_caps_unref (best);
      best = gst_caps_ref (caps);
      ml->format = format;
      ml->pt = pt;
      g_free (ml->profile_level_id);
      ml->profile_level_id = g_strdup (plid);
    }
    gst_caps_unref (caps);
  }
  if (best) {
    best = gst_caps_make_writable (best);
    gst_structure_set_name (gst_caps_get_structure (best, 0),
        "application/x-rtp");
  }
  return best;
}

static void
clear_mlines (MtWebRtc * w)
{
  guint i;

  for (i = 0; i < w->mlines->len; i++)
    g_free (g_array_index (w->mlines, MtMLine, i).profile_level_id);
  g_array_set_size (w->mlines, 0);
}

static gboolean
parse_sdp (const gchar * text, GstSDPMessage ** out, GError ** error)
{
  GstSDPMessage *sdp = NULL;

  gst_sdp_message_new (&sdp);
  if (gst_sdp_message_parse_buffer ((const guint8 *) text, strlen (text),
          sdp) != GST_SDP_OK || gst_sdp_message_medias_len (sdp) == 0
      || !gst_sdp_message_get_version (sdp)) {
    gst_sdp_message_free (sdp);
    g_set_error (error, MT_ERROR, MT_ERROR_SDP,
        "SDP could not be parsed or has no media");
    return FALSE;
  }
  *out = sdp;
  return TRUE;
}

static void
flush_remote_candidates (MtWebRtc * w)
{
  RemoteCandidate *rc;

  while ((rc = g_queue_pop_head (&w->remote_candidates))) {
    /* Kurento ignores candidates for a rejected (port 0) m-line. */
    if (!w->all_rejected && !mline_rejected (w, rc->mline))
      g_signal_emit_by_name (w->webrtc, "add-ice-candidate", rc->mline,
          rc->candidate);
    g_free (rc->candidate);
    g_free (rc);
  }
}

static gchar *
description_text (GstStructure * reply, const gchar * field)
{
  GstWebRTCSessionDescription *desc = NULL;
  gchar *text = NULL;

  if (reply)
    gst_structure_get (reply, field, GST_TYPE_WEBRTC_SESSION_DESCRIPTION,
        &desc, NULL);
  if (desc) {
    text = gst_sdp_message_as_text (desc->sdp);
    gst_webrtc_session_description_free (desc);
  }
  return text;
}

/* Applies our answer/offer (the `field` of reply) as local description. */
static gboolean
apply_local (MtWebRtc * w, GstStructure * reply, const gchar * field,
    GError ** error)
{
  GstWebRTCSessionDescription *desc = NULL;
  gboolean ok;

  gst_structure_get (reply, field, GST_TYPE_WEBRTC_SESSION_DESCRIPTION,
      &desc, NULL);
  if (!desc) {
    g_set_error (error, MT_ERROR, MT_ERROR_SDP, "webrtcbin made no %s",
        field);
    return FALSE;
  }
  ok = run_promise (w, "set-local-description", desc, NULL, error);
  gst_webrtc_session_description_free (desc);
  return ok;
}

/* Turns m-line `m` into Kurento's rejection of `offered`: media and proto
 * of the offer, port 0, and the offer's formats when no media handler took
 * the m-line (kmssdprejectmediahandler) or the one format `pt` when the
 * handler found no codec it supports (kmssdprtpavpmediahandler lists the
 * offer's first).  The mid stays so a browser can match the section; the c=
 * line keeps the section well-formed without a session-level one. */
static void
fill_rejected_media (GstSDPMedia * m, const GstSDPMedia * offered, gint pt)
{
  const gchar *mid = gst_sdp_media_get_attribute_val (offered, "mid");
  guint f;

  gst_sdp_media_set_media (m, gst_sdp_media_get_media (offered));
  gst_sdp_media_set_port_info (m, 0, 1);
  gst_sdp_media_set_proto (m, gst_sdp_media_get_proto (offered));
  if (pt >= 0) {
    gchar *format = g_strdup_printf ("%d", pt);
    gst_sdp_media_add_format (m, format);
    g_free (format);
  } else {
    for (f = 0; f < gst_sdp_media_formats_len (offered); f++)
      gst_sdp_media_add_format (m, gst_sdp_media_get_format (offered, f));
  }
  gst_sdp_media_add_connection (m, "IN", "IP4", "0.0.0.0", 0, 0);
  if (mid)
    gst_sdp_media_add_attribute (m, "mid", mid);
}

static gint
rejected_pt (MtWebRtc * w, guint index)
{
  return index < w->mlines->len
      ? g_array_index (w->mlines, MtMLine, index).reject_pt : -1;
}

/* The answer when nothing in the offer can be negotiated. */
static gchar *
all_rejected_answer (MtWebRtc * w, const GstSDPMessage * offer)
{
  GstSDPMessage *answer = NULL;
  gchar *session_id, *text;
  guint i;

  gst_sdp_message_new (&answer);
  gst_sdp_message_set_version (answer, "0");
  session_id = g_strdup_printf ("%" G_GUINT64_FORMAT,
      (((guint64) g_random_int () << 32) | g_random_int ())
      & G_GUINT64_CONSTANT (0x7fffffffffffffff));
  gst_sdp_message_set_origin (answer, "-", session_id, "0", "IN", "IP4",
      "0.0.0.0");
  g_free (session_id);
  gst_sdp_message_set_session_name (answer, "-");
  gst_sdp_message_add_time (answer, "0", "0", NULL);
  for (i = 0; i < gst_sdp_message_medias_len (offer); i++) {
    GstSDPMedia *m = NULL;

    gst_sdp_media_new (&m);
    fill_rejected_media (m, gst_sdp_message_get_media (offer, i),
        rejected_pt (w, i));
    gst_sdp_message_add_media (answer, m);
    gst_sdp_media_free (m);
  }
  text = gst_sdp_message_as_text (answer);
  gst_sdp_message_free (answer);
  return text;
}

/* webrtcbin answered every m-line (the rejected ones inactive, see
 * add_inactive_transceiver); the client gets Kurento's answer, where they
 * carry port 0 and leave the BUNDLE group. */
static gchar *
reject_in_answer (MtWebRtc * w, const gchar * answer_text,
    const GstSDPMessage * offer)
{
  GstSDPMessage *answer = NULL;
  gchar *text;
  guint i;

  gst_sdp_message_new (&answer);
  if (gst_sdp_message_parse_buffer ((const guint8 *) answer_text,
          strlen (answer_text), answer) != GST_SDP_OK
      || gst_sdp_message_medias_len (answer) != w->mlines->len) {
    gst_sdp_message_free (answer);
    return g_strdup (answer_text);
  }
  for (i = 0; i < w->mlines->len; i++) {
    GstSDPMedia *m;

    if (!g_array_index (w->mlines, MtMLine, i).rejected)
      continue;
    /* The media array is the message's own; replace the section in place. */
    m = (GstSDPMedia *) gst_sdp_message_get_media (answer, i);
    gst_sdp_media_uninit (m);
    gst_sdp_media_init (m);
    fill_rejected_media (m, gst_sdp_message_get_media (offer, i),
        rejected_pt (w, i));
  }
  for (i = 0; i < gst_sdp_message_attributes_len (answer); i++) {
    const GstSDPAttribute *attr = gst_sdp_message_get_attribute (answer, i);
    GString *group;
    gchar **mids;
    guint k, j;

    if (g_strcmp0 (attr->key, "group") != 0 || !attr->value
        || !g_str_has_prefix (attr->value, "BUNDLE"))
      continue;
    group = g_string_new ("BUNDLE");
    mids = g_strsplit (attr->value + strlen ("BUNDLE"), " ", -1);
    for (k = 0; mids[k]; k++) {
      gboolean keep = mids[k][0] != '\0';

      for (j = 0; keep && j < w->mlines->len; j++) {
        const GstSDPMedia *m = gst_sdp_message_get_media (answer, j);
        keep = !(g_array_index (w->mlines, MtMLine, j).rejected
            && g_strcmp0 (gst_sdp_media_get_attribute_val (m, "mid"),
                mids[k]) == 0);
      }
      if (keep)
        g_string_append_printf (group, " %s", mids[k]);
    }
    g_strfreev (mids);
    {
      GstSDPAttribute replacement = { 0 };

      gst_sdp_attribute_set (&replacement, "group", group->str);
      gst_sdp_message_replace_attribute (answer, i, &replacement);
    }
    g_string_free (group, TRUE);
  }
  text = gst_sdp_message_as_text (answer);
  gst_sdp_message_free (answer);
  return text;
}

/* A rejected m-line still needs a transceiver, or webrtcbin makes a
 * receiving one of its own and takes that media.  Inactive, with the
 * offer's first codec, it matches the m-line and carries nothing. */
static void
add_inactive_transceiver (MtWebRtc * w, const GstSDPMedia * media)
{
  GstWebRTCRTPTransceiver *trans = NULL;
  GstCaps *caps = NULL;

  if (gst_sdp_media_formats_len (media) > 0)
    caps = gst_sdp_media_get_caps_from_media (media,
        atoi (gst_sdp_media_get_format (media, 0)));
  if (caps) {
    caps = gst_caps_make_writable (caps);
    gst_structure_set_name (gst_caps_get_structure (caps, 0),
        "application/x-rtp");
  } else {
    /* No caps for the first format (a dynamic payload type without its
     * rtpmap, a number out of range): a transceiver without caps has no
     * kind, webrtcbin then pairs the m-lines with the wrong transceivers
     * and aborts on g_assert (trans->stream).  The kind alone is enough
     * for an inactive one. */
    caps = gst_caps_new_simple ("application/x-rtp", "media", G_TYPE_STRING,
        gst_sdp_media_get_media (media), NULL);
  }
  g_signal_emit_by_name (w->webrtc, "add-transceiver",
      GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_INACTIVE, caps, &trans);
  if (caps)
    gst_caps_unref (caps);
  if (trans)
    gst_object_unref (trans);
}

static const gchar *
direction_name (gboolean send, gboolean recv)
{
  return send && recv ? "sendrecv" : send ? "sendonly" : recv ? "recvonly"
      : "inactive";
}

/* A subsequent offer (RFC 8829 5.2.2) keeps every m-line of the session in
 * its place and may only add m-lines at the end.  The engine keeps the
 * codec and payload type an m-line was negotiated with (its payloader and
 * the connected elements were built for it), so the re-offer must still
 * carry that payload type with the same codec.  And it keeps the direction:
 * webrtcbin 1.22 refuses to apply an answer that changes a negotiated
 * m-line's direction ("transceiver direction changes are not implemented")
 * except to inactive, from which it can never come back; refused here, the
 * re-offer leaves the session as it was. */
static gboolean
check_reoffer (MtWebRtc * w, const GstSDPMessage * sdp, GError ** error)
{
  guint i;

  if (gst_sdp_message_medias_len (sdp) < w->mlines->len) {
    g_set_error (error, MT_ERROR, MT_ERROR_SDP,
        "the re-offer has %u m-lines, the session has %u: m-lines are never "
        "removed (RFC 8829 5.2.2)", gst_sdp_message_medias_len (sdp),
        w->mlines->len);
    return FALSE;
  }
  for (i = 0; i < w->mlines->len; i++) {
    const MtMLine *ml = &g_array_index (w->mlines, MtMLine, i);
    const GstSDPMedia *media = gst_sdp_message_get_media (sdp, i);
    const gchar *kind = ml->media == MT_MEDIA_AUDIO ? "audio" : "video";
    gchar *pt;
    GstCaps *caps;
    const gchar *enc;
    gboolean same;

    if (ml->rejected)
      continue;
    if (g_strcmp0 (gst_sdp_media_get_media (media), kind) != 0) {
      g_set_error (error, MT_ERROR, MT_ERROR_SDP,
          "m-line %u of the re-offer is %s, it was negotiated as %s", i,
          gst_sdp_media_get_media (media), kind);
      return FALSE;
    }
    if (ml->format == MT_FORMAT_NONE)
      continue;
    {
      GstWebRTCRTPTransceiverDirection odir = direction_of (media);
      gboolean send = !w->recvonly
          && (odir == GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV
          || odir == GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY);
      gboolean recv = !w->sendonly
          && (odir == GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV
          || odir == GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY);

      if (send != ml->send || recv != ml->recv) {
        g_set_error (error, MT_ERROR, MT_ERROR_SDP,
            "m-line %u of the re-offer would change its direction from %s to "
            "%s; the engine cannot change the direction of a negotiated "
            "m-line (webrtcbin 1.22)", i, direction_name (ml->send, ml->recv),
            direction_name (send, recv));
        return FALSE;
      }
    }
    pt = g_strdup_printf ("%d", ml->pt);
    caps = gst_sdp_media_get_caps_from_media (media, ml->pt);
    enc = caps ? gst_structure_get_string (gst_caps_get_structure (caps, 0),
        "encoding-name") : NULL;
    same = enc && g_ascii_strcasecmp (enc, mt_format_name (ml->format)) == 0;
    if (caps)
      gst_caps_unref (caps);
    if (!same) {
      g_set_error (error, MT_ERROR, MT_ERROR_SDP,
          "m-line %u of the re-offer drops payload type %s (%s), which the "
          "session negotiated; the engine keeps an m-line's codec", i, pt,
          mt_format_name (ml->format));
      g_free (pt);
      return FALSE;
    }
    g_free (pt);
  }
  return TRUE;
}

JsonObject *
mt_webrtc_process_offer (JsonObject * params, GError ** error)
{
  MtWebRtc *w = NULL;
  MtElement *el = lookup_webrtc (params, &w, error);
  const gchar *offer_text;
  GstSDPMessage *sdp = NULL;
  GstWebRTCSessionDescription *offer = NULL;
  GstStructure *reply = NULL;
  GstSDPMessage *offer_copy = NULL;
  JsonObject *result = NULL;
  gchar *answer = NULL, *webrtcbin_answer = NULL, *remote_text = NULL;
  guint i, usable = 0, rejected = 0, kinds_taken = 0, existing = 0;
  gboolean reoffer;

  if (!el || !(offer_text = mt_param_string (params, "offer", error)))
    return NULL;
  if (w->offer_pending) {
    /* Glare: our own offer waits for its answer. */
    g_set_error (error, MT_ERROR, MT_ERROR_INVALID_STATE,
        "an offer generated by the endpoint is waiting for its answer");
    return NULL;
  }
  if (w->all_rejected) {
    /* webrtcbin never saw the first offer (nothing in it was usable), so
     * there is no session to renegotiate. */
    g_set_error (error, MT_ERROR, MT_ERROR_INVALID_STATE,
        "every m-line of the first offer was rejected; a re-offer needs a "
        "new endpoint");
    return NULL;
  }
  if (!parse_sdp (offer_text, &sdp, error))
    return NULL;
  reoffer = w->negotiated;
  if (reoffer && !check_reoffer (w, sdp, error)) {
    gst_sdp_message_free (sdp);
    return NULL;
  }
  /* Kurento keeps the remote description as a parsed message and returns
   * it re-serialised (getRemoteSessionDescriptor). */
  remote_text = gst_sdp_message_as_text (sdp);
  gst_sdp_message_copy (sdp, &offer_copy);

  if (reoffer) {
    /* JSEP subsequent offer: the m-lines already negotiated keep their
     * transceiver, codec and direction (check_reoffer); m-lines added at
     * the end are planned below as in a first offer, with the audio and
     * video handlers already taken by the existing m-lines. */
    existing = w->mlines->len;
    for (i = 0; i < existing; i++) {
      MtMLine *ml = &g_array_index (w->mlines, MtMLine, i);

      kinds_taken |= 1u << ml->media;
      if (ml->rejected)
        rejected++;
      else
        usable++;
    }
  } else {
    clear_mlines (w);
  }
  for (i = existing; i < gst_sdp_message_medias_len (sdp); i++) {
    const GstSDPMedia *media = gst_sdp_message_get_media (sdp, i);
    const gchar *kind = gst_sdp_media_get_media (media);
    GstWebRTCRTPTransceiverDirection odir = direction_of (media), dir;
    GstWebRTCRTPTransceiver *trans = NULL;
    MtMLine ml = { 0 };
    GstCaps *caps = NULL;
    gboolean first_of_kind;

    ml.reject_pt = -1;
    g_array_append_val (w->mlines, ml);
    if (g_strcmp0 (kind, "audio") == 0)
      ml.media = MT_MEDIA_AUDIO;
    else if (g_strcmp0 (kind, "video") == 0)
      ml.media = MT_MEDIA_VIDEO;
    else {
      /* Data channels (and anything else) are not negotiated here: like
       * Kurento without useDataChannels, the m-line is rejected. */
      g_array_index (w->mlines, MtMLine, i).rejected = TRUE;
      rejected++;
      continue;
    }
    /* Kurento has one media handler for audio and one for video (its
     * num-audio-medias and num-video-medias are 1): the first m-line of a
     * kind takes it, every later one is rejected with port 0.  The handler
     * rejects its own m-line when no codec is supported or the offer gave
     * port 0 (RFC 3264 8.2; a bundle-only m-line's port 0 is not a
     * rejection: the engine's own offers use it). */
    first_of_kind = !(kinds_taken & (1u << ml.media));
    kinds_taken |= 1u << ml.media;
    if (!first_of_kind
        || !(caps = pick_codec (media, &ml))
        || (gst_sdp_media_get_port (media) == 0
            && !gst_sdp_media_get_attribute_val (media, "bundle-only"))) {
      if (first_of_kind)
        ml.reject_pt = caps ? ml.pt : gst_sdp_media_formats_len (media) > 0
            ? atoi (gst_sdp_media_get_format (media, 0)) : -1;
      if (caps)
        gst_caps_unref (caps);
      ml.format = MT_FORMAT_NONE;
      ml.rejected = TRUE;
      g_array_index (w->mlines, MtMLine, i) = ml;
      add_inactive_transceiver (w, media);
      rejected++;
      continue;
    }
    /* Honour both the offer's direction and the endpoint's options. */
    ml.send = !w->recvonly
        && (odir == GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV
        || odir == GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY);
    ml.recv = !w->sendonly
        && (odir == GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV
        || odir == GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY);
    dir = ml.send && ml.recv ? GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV
        : ml.send ? GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY
        : ml.recv ? GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY
        : GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_INACTIVE;
    /* A transceiver whose codec preferences are exactly the chosen payload
     * makes webrtcbin answer with that codec and payload type only. */
    g_signal_emit_by_name (w->webrtc, "add-transceiver", dir, caps, &trans);
    gst_caps_unref (caps);
    if (trans)
      gst_object_unref (trans);
    g_array_index (w->mlines, MtMLine, i) = ml;
    usable++;
  }
  if (usable == 0) {
    /* Nothing to negotiate: Kurento still answers, every m-line rejected.
     * webrtcbin is left out (it cannot answer without a transceiver), so
     * the endpoint gathers no candidates and carries no media. */
    answer = all_rejected_answer (w, sdp);
    w->negotiated = TRUE;
    w->all_rejected = TRUE;
    result = json_object_new ();
    json_object_set_string_member (result, "sdp", answer);
    json_object_set_string_member (result, "remote", remote_text);
    goto out;
  }

  offer = gst_webrtc_session_description_new (GST_WEBRTC_SDP_TYPE_OFFER, sdp);
  sdp = NULL;
  if (!run_promise (w, "set-remote-description", offer, NULL, error))
    goto out;
  w->negotiated = TRUE;
  if (!run_promise (w, "create-answer", NULL, &reply, error))
    goto out;
  webrtcbin_answer = description_text (reply, "answer");
  if (!webrtcbin_answer) {
    g_set_error (error, MT_ERROR, MT_ERROR_SDP, "webrtcbin made no answer");
    goto out;
  }
  if (!apply_local (w, reply, "answer", error))
    goto out;
  answer = rejected ? reject_in_answer (w, webrtcbin_answer, offer_copy)
      : g_strdup (webrtcbin_answer);
  for (i = 0; i < w->mlines->len; i++)
    if (!setup_send (el, w, i, error))
      goto out;
  flush_remote_candidates (w);
  watch_dtls (w);
  result = json_object_new ();
  json_object_set_string_member (result, "sdp", answer);
  json_object_set_string_member (result, "remote", remote_text);

out:
  if (sdp)
    gst_sdp_message_free (sdp);
  if (offer_copy)
    gst_sdp_message_free (offer_copy);
  g_free (webrtcbin_answer);
  g_free (remote_text);
  if (offer)
    gst_webrtc_session_description_free (offer);
  if (reply)
    gst_structure_free (reply);
  g_free (answer);
  return result;
}

/* webrtcbin's subsequent offer starts a new origin (random session id,
 * version 0), which RFC 3264 8 reads as a new session; it continues ours:
 * the session id of our last description and its version plus one. */
static void
continue_origin (MtWebRtc * w, GstStructure * reply)
{
  GstWebRTCSessionDescription *last = NULL, *offer = NULL;
  const GstSDPOrigin *prev;
  GstSDPOrigin o;
  gchar *version;

  g_object_get (w->webrtc, "current-local-description", &last, NULL);
  gst_structure_get (reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION,
      &offer, NULL);
  if (last && offer) {
    prev = gst_sdp_message_get_origin (last->sdp);
    version = g_strdup_printf ("%" G_GUINT64_FORMAT,
        g_ascii_strtoull (prev->sess_version, NULL, 10) + 1);
    /* set_origin frees each old string before copying the new one: the
     * values kept come from copies. */
    o = *gst_sdp_message_get_origin (offer->sdp);
    o.username = g_strdup (o.username);
    o.nettype = g_strdup (o.nettype);
    o.addrtype = g_strdup (o.addrtype);
    o.addr = g_strdup (o.addr);
    gst_sdp_message_set_origin (offer->sdp, o.username, prev->sess_id,
        version, o.nettype, o.addrtype, o.addr);
    g_free (o.username);
    g_free (o.nettype);
    g_free (o.addrtype);
    g_free (o.addr);
    g_free (version);
    gst_structure_set (reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION,
        offer, NULL);
  }
  if (last)
    gst_webrtc_session_description_free (last);
  if (offer)
    gst_webrtc_session_description_free (offer);
}

/* The engine as offerer (e.g. a player shown to a browser): audio Opus,
 * video VP8 and H.264, sendrecv unless the options or params say less. */
JsonObject *
mt_webrtc_generate_offer (JsonObject * params, GError ** error)
{
  static const gchar *const audio_caps =
      "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,"
      "clock-rate=48000,encoding-params=(string)2,"
      "minptime=(string)10,useinbandfec=(string)1";
  static const gchar *const video_caps =
      "application/x-rtp,media=video,encoding-name=VP8,payload=96,"
      "clock-rate=90000,rtcp-fb-nack=(boolean)true,"
      "rtcp-fb-nack-pli=(boolean)true,rtcp-fb-ccm-fir=(boolean)true;"
      "application/x-rtp,media=video,encoding-name=H264,payload=102,"
      "clock-rate=90000,packetization-mode=(string)1,"
      "profile-level-id=(string)42e01f,level-asymmetry-allowed=(string)1,"
      "rtcp-fb-nack=(boolean)true,rtcp-fb-nack-pli=(boolean)true,"
      "rtcp-fb-ccm-fir=(boolean)true";
  MtWebRtc *w = NULL;
  MtElement *el = lookup_webrtc (params, &w, error);
  gboolean recv_audio, recv_video;
  GstStructure *reply = NULL;
  JsonObject *result = NULL;
  gchar *offer = NULL;
  guint m;

  if (!el || !mt_param_bool (params, "offerToReceiveAudio", TRUE,
          &recv_audio, error)
      || !mt_param_bool (params, "offerToReceiveVideo", TRUE, &recv_video,
          error))
    return NULL;
  if (w->offer_pending) {
    g_set_error (error, MT_ERROR, MT_ERROR_INVALID_STATE,
        "an offer generated by the endpoint is waiting for its answer");
    return NULL;
  }
  if (w->all_rejected) {
    g_set_error (error, MT_ERROR, MT_ERROR_INVALID_STATE,
        "every m-line of the first offer was rejected; there is no session "
        "to renegotiate");
    return NULL;
  }
  if (w->negotiated) {
    /* A subsequent offer (RFC 8829 5.2.2): webrtcbin offers the session's
     * transceivers again, same m-lines, codecs and credentials; the
     * options cannot add or remove m-lines of a negotiated session. */
    if (!run_promise (w, "create-offer", NULL, &reply, error))
      goto out;
    continue_origin (w, reply);
    goto apply;
  }
  clear_mlines (w);
  for (m = 0; m < MT_MEDIA_COUNT; m++) {
    MtMLine ml = { 0 };
    GstWebRTCRTPTransceiver *trans = NULL;
    GstCaps *caps;
    GstWebRTCRTPTransceiverDirection dir;

    ml.media = m == 0 ? MT_MEDIA_AUDIO : MT_MEDIA_VIDEO;
    /* Kurento turns offerToReceiveAudio/Video false into
     * num-audio/video-medias 0: that m-line is left out altogether. */
    if (!(ml.media == MT_MEDIA_AUDIO ? recv_audio : recv_video))
      continue;
    ml.send = !w->recvonly;
    ml.recv = !w->sendonly;
    dir = ml.send && ml.recv ? GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV
        : ml.send ? GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY
        : GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY;
    caps = gst_caps_from_string (ml.media == MT_MEDIA_AUDIO ? audio_caps
        : video_caps);
    g_signal_emit_by_name (w->webrtc, "add-transceiver", dir, caps, &trans);
    gst_caps_unref (caps);
    if (trans)
      gst_object_unref (trans);
    g_array_append_val (w->mlines, ml);
  }
  if (w->mlines->len == 0) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "the offer would have no media");
    return NULL;
  }
  if (!run_promise (w, "create-offer", NULL, &reply, error))
    goto out;
apply:
  offer = description_text (reply, "offer");
  if (!offer || !apply_local (w, reply, "offer", error)) {
    if (error && !*error)
      g_set_error (error, MT_ERROR, MT_ERROR_SDP, "webrtcbin made no offer");
    goto out;
  }
  w->offer_pending = TRUE;
  result = json_object_new ();
  json_object_set_string_member (result, "sdp", offer);

out:
  if (reply)
    gst_structure_free (reply);
  g_free (offer);
  return result;
}

JsonObject *
mt_webrtc_process_answer (JsonObject * params, GError ** error)
{
  MtWebRtc *w = NULL;
  MtElement *el = lookup_webrtc (params, &w, error);
  const gchar *answer_text;
  GstSDPMessage *sdp = NULL;
  GstWebRTCSessionDescription *answer = NULL;
  JsonObject *result = NULL;
  gchar *remote_text = NULL;
  guint i;

  if (!el || !(answer_text = mt_param_string (params, "answer", error)))
    return NULL;
  if (!w->offer_pending) {
    g_set_error (error, MT_ERROR, MT_ERROR_INVALID_STATE,
        "processAnswer without a pending generateOffer");
    return NULL;
  }
  if (!parse_sdp (answer_text, &sdp, error))
    return NULL;
  remote_text = gst_sdp_message_as_text (sdp);
  if (gst_sdp_message_medias_len (sdp) != w->mlines->len) {
    g_set_error (error, MT_ERROR, MT_ERROR_SDP,
        "answer has %u m-lines, the offer had %u",
        gst_sdp_message_medias_len (sdp), w->mlines->len);
    goto out;
  }
  /* The answerer chose among our codecs; its first usable one is ours. */
  for (i = 0; i < w->mlines->len; i++) {
    const GstSDPMedia *media = gst_sdp_message_get_media (sdp, i);
    MtMLine *ml = &g_array_index (w->mlines, MtMLine, i);
    GstWebRTCRTPTransceiverDirection adir = direction_of (media);
    GstCaps *caps;

    if (gst_sdp_media_get_port (media) == 0) {
      ml->send = ml->recv = FALSE;
      continue;
    }
    caps = pick_codec (media, ml);
    if (caps)
      gst_caps_unref (caps);
    ml->send = ml->send
        && (adir == GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV
        || adir == GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY);
    /* The negotiated direction, which a later re-offer must keep. */
    ml->recv = ml->recv
        && (adir == GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV
        || adir == GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY);
  }
  answer = gst_webrtc_session_description_new (GST_WEBRTC_SDP_TYPE_ANSWER,
      sdp);
  sdp = NULL;
  if (!run_promise (w, "set-remote-description", answer, NULL, error))
    goto out;
  w->offer_pending = FALSE;
  w->negotiated = TRUE;
  for (i = 0; i < w->mlines->len; i++)
    if (!setup_send (el, w, i, error))
      goto out;
  flush_remote_candidates (w);
  watch_dtls (w);
  result = json_object_new ();
  json_object_set_string_member (result, "remote", remote_text);

out:
  if (sdp)
    gst_sdp_message_free (sdp);
  if (answer)
    gst_webrtc_session_description_free (answer);
  g_free (remote_text);
  return result;
}

static gboolean
flush_pending_idle (gpointer data)
{
  MtElement *el = mt_element_lookup (data, NULL);
  MtWebRtc *w = webrtc_of (el);

  if (w)
    flush_local_candidates (el, w);
  return G_SOURCE_REMOVE;
}

JsonObject *
mt_webrtc_gather_candidates (JsonObject * params, GError ** error)
{
  MtWebRtc *w = NULL;
  MtElement *el = lookup_webrtc (params, &w, error);

  if (!el)
    return NULL;
  /* webrtcbin gathers as soon as a local description exists; Kurento only
   * reports candidates after gatherCandidates, so they wait until now.
   * They are written after this reply (mt_invoke queues them). */
  w->gather_requested = TRUE;
  mt_invoke ((GSourceFunc) flush_pending_idle, g_strdup (el->id), g_free);
  return json_object_new ();
}

JsonObject *
mt_webrtc_add_ice_candidate (JsonObject * params, GError ** error)
{
  MtWebRtc *w = NULL;
  MtElement *el = lookup_webrtc (params, &w, error);
  const gchar *candidate;
  gint64 mline;
  gchar *foundation;

  if (!el || !(candidate = mt_param_string (params, "candidate", error))
      || !mt_param_int (params, "sdpMLineIndex", TRUE, 0, &mline, error))
    return NULL;
  /* An empty candidate is the remote's end-of-candidates marker. */
  if (candidate[0] == '\0')
    return json_object_new ();
  if (g_str_has_prefix (candidate, "a="))
    candidate += 2;
  foundation = candidate_foundation (candidate);
  if (!foundation || mline < 0 || mline > 64
      || strchr (candidate, '\n') || strchr (candidate, '\r')) {
    g_free (foundation);
    g_set_error (error, MT_ERROR, MT_ERROR_ICE, "invalid ICE candidate");
    return NULL;
  }
  g_hash_table_insert (w->remote_by_foundation, foundation,
      g_strdup (candidate));
  if (!w->negotiated) {
    /* Candidates may overtake the offer; keep them until it is applied. */
    RemoteCandidate *rc = g_new0 (RemoteCandidate, 1);
    rc->mline = mline;
    rc->candidate = g_strdup (candidate);
    g_queue_push_tail (&w->remote_candidates, rc);
  } else if (!w->all_rejected && !mline_rejected (w, mline)) {
    /* Kurento ignores candidates for a rejected (port 0) m-line. */
    g_signal_emit_by_name (w->webrtc, "add-ice-candidate", (guint) mline,
        candidate);
  }
  return json_object_new ();
}

JsonObject *
mt_webrtc_set_ice_servers (JsonObject * params, GError ** error)
{
  MtWebRtc *w = NULL;
  MtElement *el = lookup_webrtc (params, &w, error);
  const gchar *stun = NULL, *turn = NULL;

  if (!el)
    return NULL;
  if (json_object_has_member (params, "stunServer")
      && !(stun = mt_param_string (params, "stunServer", error)))
    return NULL;
  if (json_object_has_member (params, "turnUrl")
      && !(turn = mt_param_string (params, "turnUrl", error)))
    return NULL;
  if (stun && *stun) {
    gchar *uri = g_str_has_prefix (stun, "stun://") ? g_strdup (stun)
        : g_strdup_printf ("stun://%s", stun);
    g_object_set (w->webrtc, "stun-server", uri, NULL);
    g_free (uri);
  }
  if (turn && *turn) {
    gchar *uri = g_str_has_prefix (turn, "turn") ? g_strdup (turn)
        : g_strdup_printf ("turn://%s", turn);
    g_object_set (w->webrtc, "turn-server", uri, NULL);
    g_free (uri);
  }
  return json_object_new ();
}

/* ---------------------------------------------------------------------- */
/* Life cycle                                                              */

/* Helper thread: the first DTLS element of a process generates the
 * self-signed certificate every later one shares (an RSA key: 0.2-0.9 s
 * on a CI machine).  Done at startup, that time is not added to the first
 * processOffer; one arriving earlier waits only for the rest of it. */
static gpointer
generate_dtls_certificate (gpointer data)
{
  GstElement *dtls = gst_element_factory_make ("dtlsdec", NULL);

  if (dtls)
    gst_object_unref (dtls);
  GST_DEBUG ("DTLS certificate ready");
  return NULL;
}

void
mt_webrtc_prepare (void)
{
  g_thread_unref (g_thread_new ("dtls-certificate", generate_dtls_certificate,
          NULL));
}

static void
webrtc_destroy (MtElement * el)
{
  MtWebRtc *w = el->priv;
  RemoteCandidate *rc;

  /* Stop webrtcbin first: afterwards no streaming or libnice thread runs a
   * callback that reads w. */
  gst_element_set_state (w->webrtc, GST_STATE_NULL);
  g_signal_handlers_disconnect_by_data (w->webrtc, w);
  if (w->agent)
    g_signal_handlers_disconnect_by_data (w->agent, w);
  if (w->dtls)
    g_signal_handlers_disconnect_by_data (w->dtls, w);
  g_clear_object (&w->dtls);
  g_clear_object (&w->agent);
  g_clear_object (&w->ice);
  g_queue_clear_full (&w->local_candidates, (GDestroyNotify) json_object_unref);
  while ((rc = g_queue_pop_head (&w->remote_candidates))) {
    g_free (rc->candidate);
    g_free (rc);
  }
  g_hash_table_unref (w->local_by_foundation);
  g_hash_table_unref (w->remote_by_foundation);
  clear_mlines (w);
  g_array_unref (w->mlines);
  g_free (w->id);
  g_free (w);
  el->priv = NULL;
}

gboolean
mt_webrtc_create (MtElement * el, JsonObject * options, GError ** error)
{
  MtWebRtc *w = g_new0 (MtWebRtc, 1);
  gchar *name;
  guint i;

  if (options && (!mt_param_bool (options, "recvonly", FALSE, &w->recvonly,
              error)
          || !mt_param_bool (options, "sendonly", FALSE, &w->sendonly,
              error))) {
    g_free (w);
    return FALSE;
  }
  if (w->recvonly && w->sendonly) {
    g_free (w);
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "recvonly and sendonly exclude each other");
    return FALSE;
  }
  w->id = g_strdup (el->id);
  w->el = el;
  w->mlines = g_array_new (FALSE, TRUE, sizeof (MtMLine));
  w->local_by_foundation = g_hash_table_new_full (g_str_hash, g_str_equal,
      g_free, g_free);
  w->remote_by_foundation = g_hash_table_new_full (g_str_hash, g_str_equal,
      g_free, g_free);
  g_queue_init (&w->local_candidates);
  g_queue_init (&w->remote_candidates);
  el->priv = w;
  el->destroy = webrtc_destroy;

  name = g_strdup_printf ("%s-webrtcbin", el->id);
  w->webrtc = gst_element_factory_make ("webrtcbin", name);
  g_free (name);
  if (!w->webrtc) {
    g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL, "no webrtcbin");
    return FALSE;
  }
  g_object_set (w->webrtc, "bundle-policy",
      GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, "latency", mt_config.jitter_ms, NULL);
  if (mt_config.stun_server)
    g_object_set (w->webrtc, "stun-server", mt_config.stun_server, NULL);
  if (mt_config.turn_server)
    g_object_set (w->webrtc, "turn-server", mt_config.turn_server, NULL);

  g_object_get (w->webrtc, "ice-agent", &w->ice, NULL);
  if (w->ice) {
    /* Without explicit addresses libnice skips loopback, so a host with
     * only 127.0.0.1 would gather nothing. */
    for (i = 0; mt_config.ice_addresses && mt_config.ice_addresses[i]; i++) {
      gboolean ok = FALSE;
      g_signal_emit_by_name (w->ice, "add-local-ip-address",
          mt_config.ice_addresses[i], &ok);
      if (!ok)
        GST_WARNING ("cannot use ICE address %s", mt_config.ice_addresses[i]);
    }
    if (mt_config.port_min)
      g_object_set (w->ice, "min-rtp-port", mt_config.port_min,
          "max-rtp-port", mt_config.port_max, NULL);
    if (g_object_class_find_property (G_OBJECT_GET_CLASS (w->ice), "agent"))
      g_object_get (w->ice, "agent", &w->agent, NULL);
  }
  if (w->agent) {
    g_signal_connect (w->agent, "component-state-changed",
        G_CALLBACK (on_component_state), w);
    g_signal_connect (w->agent, "new-selected-pair",
        G_CALLBACK (on_selected_pair), w);
  }
  g_signal_connect (w->webrtc, "on-ice-candidate",
      G_CALLBACK (on_ice_candidate), w);
  g_signal_connect (w->webrtc, "notify::ice-gathering-state",
      G_CALLBACK (on_ice_gathering_state), w);
  g_signal_connect (w->webrtc, "notify::ice-connection-state",
      G_CALLBACK (on_ice_connection_state), w);
  g_signal_connect (w->webrtc, "pad-added", G_CALLBACK (on_pad_added), w);

  mt_element_add_owned (el, w->webrtc);
  if (!gst_element_sync_state_with_parent (w->webrtc)) {
    g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL,
        "webrtcbin does not start");
    return FALSE;
  }
  return TRUE;
}
