/* RtpEndpoint: plain RTP (RTP/AVP) or SDES-SRTP (RTP/SAVP) over UDP with
 * rtpbin, one session per media (audio = 0, video = 1), RTCP on its own
 * port (RTP port + 1, or the peer's a=rtcp).
 *
 * Each media owns two sockets bound at create time on the configured
 * address (the first --ice-address, default 127.0.0.1).  The same socket
 * receives (udpsrc) and sends (udpsink), so RTP is symmetric.  Sending:
 *
 *   sink input -> payloader -> rtpbin.send_rtp_sink_N -> [srtpenc] -> udpsink
 *
 * Receiving:
 *
 *   udpsrc -> [srtpdec] -> rtpbin.recv_rtp_sink_N ... -> depay -> origin tee
 *
 * Codecs: H.264 (packetization-mode=1, SPS/PPS before every IDR) and Opus;
 * as a sink the endpoint asks the link model for H264/OPUS, so the shared
 * encoders of its source feed it. */
#include "worker.h"

#include <gio/gio.h>
#include <gst/sdp/sdp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  const gchar *kurento;         /* CryptoSuite of the kmd */
  const gchar *sdp;             /* RFC 4568 / 6188 name */
  const gchar *cipher;          /* srtpenc/srtpdec nicks */
  const gchar *auth;
  guint key_len;                /* master key + salt, bytes */
} MtSuite;

static const MtSuite suites[] = {
  {"AES_128_CM_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_80", "aes-128-icm",
      "hmac-sha1-80", 30},
  {"AES_128_CM_HMAC_SHA1_32", "AES_CM_128_HMAC_SHA1_32", "aes-128-icm",
      "hmac-sha1-32", 30},
  {"AES_256_CM_HMAC_SHA1_80", "AES_256_CM_HMAC_SHA1_80", "aes-256-icm",
      "hmac-sha1-80", 46},
  {"AES_256_CM_HMAC_SHA1_32", "AES_256_CM_HMAC_SHA1_32", "aes-256-icm",
      "hmac-sha1-32", 46},
};

typedef struct
{
  gboolean enabled;             /* negotiated (non-zero port on both sides) */
  gboolean send, recv;
  gint pt;
  GSocket *rtp_sock, *rtcp_sock;
  guint port;                   /* local RTP port; RTCP is port + 1 */
  gchar *remote_addr;
  guint remote_port, remote_rtcp_port;
  const MtSuite *remote_suite;  /* the peer's key for what it sends */
  GBytes *remote_key;
  gboolean offered;             /* in our offer (generateOffer) */
  GstElement *srtpdec;          /* for request-key */
  gboolean receiving;           /* a stream was linked to the origin tee */
} MtRtpMedia;

typedef struct
{
  gchar *id;
  MtElement *el;
  gchar *address;
  GstElement *rtpbin;
  const MtSuite *suite;         /* NULL: plain RTP */
  GBytes *key;                  /* our master key + salt */
  gboolean offer_pending;       /* generateOffer done, no answer yet */
  gboolean negotiated;
  guint session_version;
  MtRtpMedia media[MT_MEDIA_COUNT];
} MtRtp;

typedef struct
{
  gchar *id;
  MtMediaType media;
  MtFormat format;
  GstElement *depay;
  GstElement *tee;
} MtRtpIncoming;

static MtRtp *
rtp_of (MtElement * el)
{
  if (!el || strcmp (el->type, "RtpEndpoint") != 0)
    return NULL;
  return el->priv;
}

static MtElement *
lookup_rtp (JsonObject * params, MtRtp ** out, GError ** error)
{
  const gchar *id = mt_param_string (params, "id", error);
  MtElement *el;

  if (!id || !(el = mt_element_lookup (id, error)))
    return NULL;
  if (!(*out = rtp_of (el))) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE, "%s is not an RtpEndpoint",
        id);
    return NULL;
  }
  return el;
}

/* ---------------------------------------------------------------------- */
/* Sockets                                                                 */

/* Binds one UDP socket; on failure, error tells whether the port was taken
 * (G_IO_ERROR_ADDRESS_IN_USE: another port may do) or why none would. */
static GSocket *
bind_udp (const gchar * address, guint port, GError ** error)
{
  GInetAddress *ia = g_inet_address_new_from_string (address);
  GSocketAddress *sa;
  GSocket *sock;

  if (!ia) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "%s is not an IP address", address);
    return NULL;
  }
  sock = g_socket_new (g_inet_address_get_family (ia), G_SOCKET_TYPE_DATAGRAM,
      G_SOCKET_PROTOCOL_UDP, error);
  sa = g_inet_socket_address_new (ia, port);
  if (sock && !g_socket_bind (sock, sa, FALSE, error))
    g_clear_object (&sock);
  g_object_unref (sa);
  g_object_unref (ia);
  return sock;
}

static guint
socket_port (GSocket * sock)
{
  GSocketAddress *sa = g_socket_get_local_address (sock, NULL);
  guint port = 0;

  if (sa) {
    port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (sa));
    g_object_unref (sa);
  }
  return port;
}

/* Binds RTP on `port` and RTCP on the next one.  FALSE with error unset
 * means one of them was taken by someone else: try another pair. */
static gboolean
bind_pair_at (MtRtp * r, MtRtpMedia * m, guint port, GError ** error)
{
  GError *err = NULL;

  m->rtp_sock = bind_udp (r->address, port, &err);
  if (m->rtp_sock) {
    m->port = socket_port (m->rtp_sock);
    /* A port the kernel chose may be odd, or the last one. */
    if (m->port % 2 != 0 || m->port >= 65535) {
      g_clear_object (&m->rtp_sock);
      return FALSE;
    }
    m->rtcp_sock = bind_udp (r->address, m->port + 1, &err);
    if (m->rtcp_sock)
      return TRUE;
    g_clear_object (&m->rtp_sock);
  }
  if (!g_error_matches (err, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
    g_propagate_error (error, err);
  else
    g_clear_error (&err);
  return FALSE;
}

/* An even RTP port with RTCP on the next one.  Ports held by anyone else
 * (another worker, a test, ffmpeg) are never an error: inside --port-range
 * every even pair is tried once, from a random one on, so two workers
 * rarely contend; without a range the kernel picks the RTP port, again
 * until the one after it is free as well.  Fails only when the range is
 * full or binding fails for another reason (an address not on this host). */
static gboolean
bind_pair (MtRtp * r, MtRtpMedia * m, GError ** error)
{
  guint first, pairs, start, i;

  if (!mt_config.port_min) {
    for (i = 0; i < 200; i++) {
      if (bind_pair_at (r, m, 0, error))
        return TRUE;
      if (*error)
        return FALSE;
    }
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
        "no free even/odd port pair found");
    return FALSE;
  }
  first = (mt_config.port_min + 1) & ~1u;
  pairs = mt_config.port_max >= first + 1
      ? (mt_config.port_max - first - 1) / 2 + 1 : 0;
  start = pairs ? g_random_int_range (0, pairs) : 0;
  for (i = 0; i < pairs; i++) {
    guint port = first + 2 * ((start + i) % pairs);

    if (bind_pair_at (r, m, port, error))
      return TRUE;
    if (*error)
      return FALSE;
    GST_DEBUG ("%s: UDP port %u or %u is taken, trying the next pair",
        r->address, port, port + 1);
  }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
      "every port pair in %u-%u is taken", mt_config.port_min,
      mt_config.port_max);
  return FALSE;
}

/* ---------------------------------------------------------------------- */
/* SDP                                                                     */

static const gchar *
media_sdp_name (MtMediaType media)
{
  return media == MT_MEDIA_AUDIO ? "audio" : "video";
}

static const MtSuite *
suite_by_sdp_name (const gchar * name)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (suites); i++)
    if (g_strcmp0 (suites[i].sdp, name) == 0)
      return &suites[i];
  return NULL;
}

static void
append_media (GString * s, MtRtp * r, MtMediaType media, guint port,
    gint pt, const gchar * direction)
{
  MtRtpMedia *m = &r->media[media];

  g_string_append_printf (s, "m=%s %u %s %d\r\n", media_sdp_name (media),
      port, r->suite ? "RTP/SAVP" : "RTP/AVP", pt);
  if (port == 0)
    return;
  if (media == MT_MEDIA_AUDIO) {
    g_string_append_printf (s, "a=rtpmap:%d opus/48000/2\r\n", pt);
  } else {
    g_string_append_printf (s, "a=rtpmap:%d H264/90000\r\n"
        "a=fmtp:%d packetization-mode=1;profile-level-id=42e01f\r\n"
        "a=rtcp-fb:%d nack pli\r\na=rtcp-fb:%d ccm fir\r\n", pt, pt, pt, pt);
  }
  g_string_append_printf (s, "a=rtcp:%u\r\n", m->port + 1);
  if (r->suite) {
    gchar *b64 = g_base64_encode (g_bytes_get_data (r->key, NULL),
        g_bytes_get_size (r->key));
    g_string_append_printf (s, "a=crypto:1 %s inline:%s\r\n", r->suite->sdp,
        b64);
    g_free (b64);
  }
  g_string_append_printf (s, "a=%s\r\n", direction);
}

static GString *
sdp_header (MtRtp * r)
{
  GString *s = g_string_new (NULL);
  const gchar *ip = strchr (r->address, ':') ? "IP6" : "IP4";

  g_string_append_printf (s, "v=0\r\no=- %u %u IN %s %s\r\ns=Montage\r\n"
      "c=IN %s %s\r\nt=0 0\r\n", g_str_hash (r->id) & 0x7fffffff,
      r->session_version++, ip, r->address, ip, r->address);
  return s;
}

static const gchar *
direction_name (gboolean send, gboolean recv)
{
  if (send && recv)
    return "sendrecv";
  if (send)
    return "sendonly";
  if (recv)
    return "recvonly";
  return "inactive";
}

/* The payload type of a codec in an m-line (H264 prefers
 * packetization-mode=1), or -1. */
static gint
find_codec (const GstSDPMedia * sm, MtMediaType media)
{
  guint i;
  gint fallback = -1;

  for (i = 0; i < gst_sdp_media_attributes_len (sm); i++) {
    const GstSDPAttribute *a = gst_sdp_media_get_attribute (sm, i);
    gint pt;
    gchar enc[64];

    if (g_strcmp0 (a->key, "rtpmap") != 0 || !a->value)
      continue;
    if (sscanf (a->value, "%d %63[^/]", &pt, enc) != 2 || pt < 0 || pt > 127)
      continue;
    if (media == MT_MEDIA_AUDIO && g_ascii_strcasecmp (enc, "opus") == 0)
      return pt;
    if (media == MT_MEDIA_VIDEO && g_ascii_strcasecmp (enc, "H264") == 0) {
      gchar *prefix = g_strdup_printf ("%d ", pt);
      guint j;

      for (j = 0; j < gst_sdp_media_attributes_len (sm); j++) {
        const GstSDPAttribute *f = gst_sdp_media_get_attribute (sm, j);
        if (g_strcmp0 (f->key, "fmtp") == 0 && f->value
            && g_str_has_prefix (f->value, prefix)
            && strstr (f->value, "packetization-mode=1")) {
          g_free (prefix);
          return pt;
        }
      }
      g_free (prefix);
      if (fallback < 0)
        fallback = pt;
    }
  }
  return fallback;
}

/* Reads what the peer says about one media: codec, address, ports,
 * direction, key.  Returns FALSE when the m-line cannot be used (then it is
 * rejected with port 0); error is set only for malformed input. */
static gboolean
read_remote_media (MtRtp * r, const GstSDPMessage * msg,
    const GstSDPMedia * sm, MtMediaType media, gboolean * peer_send,
    gboolean * peer_recv)
{
  MtRtpMedia *m = &r->media[media];
  const gchar *proto = gst_sdp_media_get_proto (sm);
  const GstSDPConnection *conn = NULL;
  const gchar *v;
  gboolean secure;
  gint pt;

  if (gst_sdp_media_get_port (sm) == 0 || !proto)
    return FALSE;
  secure = g_str_has_prefix (proto, "RTP/SAVP");
  if (!secure && !g_str_has_prefix (proto, "RTP/AVP"))
    return FALSE;
  if (secure != (r->suite != NULL))
    return FALSE;
  pt = find_codec (sm, media);
  if (pt < 0)
    return FALSE;

  if (gst_sdp_media_connections_len (sm) > 0)
    conn = gst_sdp_media_get_connection (sm, 0);
  if (!conn || !conn->address)
    conn = gst_sdp_message_get_connection (msg);
  if (!conn || !conn->address || !g_hostname_is_ip_address (conn->address))
    return FALSE;
  /* Our sockets are of one family (useIpv6 picks IPv6): a peer of the other
   * family cannot be reached from them, so its m-line is rejected. */
  if ((strchr (conn->address, ':') != NULL) != (strchr (r->address, ':')
          != NULL))
    return FALSE;

  if (secure) {
    guint i;
    const MtSuite *found = NULL;
    GBytes *key = NULL;

    for (i = 0; !found && (v = gst_sdp_media_get_attribute_val_n (sm,
                "crypto", i)); i++) {
      gchar **parts = g_strsplit_set (v, " ", -1);
      const MtSuite *suite = g_strv_length (parts) >= 3
          ? suite_by_sdp_name (parts[1]) : NULL;

      if (suite && g_str_has_prefix (parts[2], "inline:")) {
        gchar *b64 = g_strndup (parts[2] + 7, strcspn (parts[2] + 7, "|"));
        gsize len = 0;
        guchar *raw = g_base64_decode (b64, &len);

        if (len == suite->key_len) {
          found = suite;
          key = g_bytes_new_take (raw, len);
        } else {
          g_free (raw);
        }
        g_free (b64);
      }
      g_strfreev (parts);
    }
    if (!found)
      return FALSE;
    if (m->remote_key)
      g_bytes_unref (m->remote_key);
    m->remote_key = key;
    m->remote_suite = found;
  }

  *peer_send = *peer_recv = TRUE;
  if (gst_sdp_media_get_attribute_val (sm, "sendonly"))
    *peer_recv = FALSE;
  else if (gst_sdp_media_get_attribute_val (sm, "recvonly"))
    *peer_send = FALSE;
  else if (gst_sdp_media_get_attribute_val (sm, "inactive"))
    *peer_send = *peer_recv = FALSE;

  m->pt = pt;
  g_free (m->remote_addr);
  m->remote_addr = g_strdup (conn->address);
  m->remote_port = gst_sdp_media_get_port (sm);
  m->remote_rtcp_port = m->remote_port + 1;
  if ((v = gst_sdp_media_get_attribute_val (sm, "rtcp"))) {
    guint64 p = g_ascii_strtoull (v, NULL, 10);
    if (p > 0 && p < 65536)
      m->remote_rtcp_port = p;
  }
  return TRUE;
}

static GstSDPMessage *
parse_sdp (const gchar * text, GError ** error)
{
  GstSDPMessage *msg = NULL;

  gst_sdp_message_new (&msg);
  if (gst_sdp_message_parse_buffer ((const guint8 *) text, strlen (text),
          msg) != GST_SDP_OK || gst_sdp_message_medias_len (msg) == 0
      || !gst_sdp_message_get_version (msg)) {
    gst_sdp_message_free (msg);
    g_set_error (error, MT_ERROR, MT_ERROR_SDP, "Error parsing SDP");
    return NULL;
  }
  return msg;
}

/* ---------------------------------------------------------------------- */
/* Media                                                                   */

static void
incoming_free (gpointer data)
{
  MtRtpIncoming *in = data;

  g_free (in->id);
  gst_clear_object (&in->depay);
  gst_clear_object (&in->tee);
  g_free (in);
}

static gboolean
handle_incoming (gpointer data)
{
  MtRtpIncoming *in = data;
  MtElement *el = mt_element_lookup (in->id, NULL);

  if (!rtp_of (el)) {
    gst_element_set_state (in->depay, GST_STATE_NULL);
    gst_bin_remove (mt_pipeline_bin (), in->depay);
    if (in->tee) {
      gst_element_set_state (in->tee, GST_STATE_NULL);
      gst_bin_remove (mt_pipeline_bin (), in->tee);
    }
    return G_SOURCE_REMOVE;
  }
  mt_element_add_owned (el, in->depay);
  if (in->tee) {
    mt_element_add_owned (el, in->tee);
    GST_INFO ("%s: receiving %s", el->id, mt_media_name (in->media));
    mt_source_set_origin (el, in->media, in->format, in->tee);
  }
  return G_SOURCE_REMOVE;
}

/* rtpbin exposes recv_rtp_src_SESSION_SSRC_PT from a streaming thread; it
 * must be linked here.  The first stream of a session becomes the origin;
 * later ones (a new SSRC) are swallowed. */
static void
on_pad_added (GstElement * rtpbin, GstPad * pad, MtRtp * r)
{
  guint session = 0, ssrc = 0, pt = 0;
  MtRtpIncoming *in;
  MtRtpMedia *m;
  const gchar *desc;
  GstPad *sink;
  gchar *name;

  if (sscanf (GST_PAD_NAME (pad), "recv_rtp_src_%u_%u_%u", &session, &ssrc,
          &pt) != 3 || session >= MT_MEDIA_COUNT)
    return;
  m = &r->media[session];
  in = g_new0 (MtRtpIncoming, 1);
  in->id = g_strdup (r->id);
  in->media = session;
  if (m->receiving) {
    desc = "fakesink async=false sync=false";
  } else if (session == MT_MEDIA_VIDEO) {
    in->format = MT_FORMAT_H264;
    desc = "rtph264depay request-keyframe=true wait-for-keyframe=true ! "
        "h264parse config-interval=-1 ! capsfilter caps=\""
        "video/x-h264,stream-format=byte-stream,alignment=au\"";
  } else {
    in->format = MT_FORMAT_OPUS;
    /* rtpopusdepay leaves the rate out of its caps; the muxers of
     * recorders (webmmux, matroskamux) require it, and a refused caps event
     * stopped the whole endpoint (not-negotiated up to nicesrc).  Opus over
     * RTP always has a 48 kHz clock (RFC 7587). */
    desc = "rtpopusdepay ! capsfilter caps=\"audio/x-opus,rate=48000\"";
  }
  in->depay = gst_parse_bin_from_description (desc, TRUE, NULL);
  if (!in->depay)
    in->depay = gst_element_factory_make ("fakesink", NULL);
  name = g_strdup_printf ("%s-%s-depay", r->id, GST_PAD_NAME (pad));
  gst_object_set_name (GST_OBJECT (in->depay), name);
  g_free (name);
  gst_object_ref (in->depay);
  gst_bin_add (mt_pipeline_bin (), in->depay);
  if (in->format != MT_FORMAT_NONE && !m->receiving) {
    m->receiving = TRUE;
    name = g_strdup_printf ("%s-%s-tee", r->id, GST_PAD_NAME (pad));
    in->tee = gst_object_ref (mt_make_tee (name));
    g_free (name);
    gst_bin_add (mt_pipeline_bin (), in->tee);
    gst_element_link (in->depay, in->tee);
    gst_element_sync_state_with_parent (in->tee);
  } else {
    in->format = MT_FORMAT_NONE;
  }
  gst_element_sync_state_with_parent (in->depay);
  sink = gst_element_get_static_pad (in->depay, "sink");
  if (gst_pad_link (pad, sink) != GST_PAD_LINK_OK)
    GST_ERROR ("%s: cannot link %s", r->id, GST_PAD_NAME (pad));
  gst_object_unref (sink);
  if (in->format != MT_FORMAT_NONE)
    mt_flow_watch_pad (r->el->flow_in[session], pad);
  mt_invoke (handle_incoming, in, incoming_free);
}

/* srtpdec asks for the key of each new SSRC. */
static GstCaps *
on_request_key (GstElement * srtpdec, guint ssrc, MtRtpMedia * m)
{
  GstBuffer *key;

  if (!m->remote_key || !m->remote_suite)
    return NULL;
  key = gst_buffer_new_wrapped_bytes (m->remote_key);
  return gst_caps_new_simple ("application/x-srtp",
      "srtp-key", GST_TYPE_BUFFER, key,
      "srtp-cipher", G_TYPE_STRING, m->remote_suite->cipher,
      "srtp-auth", G_TYPE_STRING, m->remote_suite->auth,
      "srtcp-cipher", G_TYPE_STRING, m->remote_suite->cipher,
      "srtcp-auth", G_TYPE_STRING, m->remote_suite->auth, NULL);
}

/* Which endpoint and media a srtpdec decrypts, for its soft-limit signal. */
typedef struct
{
  gchar *id;
  MtMediaType media;
} MtKeyLimit;

static void
key_limit_free (gpointer data)
{
  MtKeyLimit *k = data;

  g_free (k->id);
  g_free (k);
}

static void
key_limit_closure_free (gpointer data, GClosure * closure)
{
  key_limit_free (data);
}

static gboolean
handle_key_soft_limit (gpointer data)
{
  MtKeyLimit *k = data;
  JsonObject *d;

  if (!mt_element_lookup (k->id, NULL))
    return G_SOURCE_REMOVE;
  d = json_object_new ();
  json_object_set_string_member (d, "mediaType", mt_media_name (k->media));
  mt_protocol_notify ("OnKeySoftLimit", k->id, d);
  return G_SOURCE_REMOVE;
}

/* srtpdec (streaming thread): the remote master key of stream `ssrc` is
 * close to libsrtp's usage limit.  Kurento (kmssrtpconnection.c) raises
 * OnKeySoftLimit for the media and keeps the key, since a new one would need
 * renegotiation; so does this.  libsrtp's limit is 2^48 packets per key and
 * the soft limit 2^16 packets before it, and srtpdec offers no way to lower
 * it, so no test can reach it. */
static GstCaps *
on_key_soft_limit (GstElement * srtpdec, guint ssrc, MtKeyLimit * k)
{
  MtKeyLimit *copy = g_new0 (MtKeyLimit, 1);

  copy->id = g_strdup (k->id);
  copy->media = k->media;
  mt_invoke (handle_key_soft_limit, copy, key_limit_free);
  return NULL;
}

static GstElement *
add (MtRtp * r, const gchar * factory, const gchar * what, MtMediaType media)
{
  gchar *name = g_strdup_printf ("%s-%s-%s", r->id, what,
      media_sdp_name (media));
  GstElement *e = gst_element_factory_make (factory, name);

  g_free (name);
  if (e)
    mt_element_add_owned (r->el, e);
  return e;
}

static gboolean
link_pads (GstElement * a, const gchar * apad, GstElement * b,
    const gchar * bpad)
{
  return gst_element_link_pads (a, apad, b, bpad);
}

/* Builds the sockets' elements, the SRTP elements and the payloader of one
 * negotiated media, and hands the payloader's input to the link model. */
static gboolean
start_media (MtRtp * r, MtMediaType media, GError ** error)
{
  MtRtpMedia *m = &r->media[media];
  GstElement *src_rtp, *src_rtcp, *sink_rtp, *sink_rtcp, *enc = NULL;
  GstCaps *caps;
  gchar *pad;
  guint session = media;

  if (!m->enabled)
    return TRUE;

  src_rtp = add (r, "udpsrc", "udpsrc-rtp", media);
  src_rtcp = add (r, "udpsrc", "udpsrc-rtcp", media);
  sink_rtp = add (r, "udpsink", "udpsink-rtp", media);
  sink_rtcp = add (r, "udpsink", "udpsink-rtcp", media);
  g_object_set (src_rtp, "socket", m->rtp_sock, "close-socket", FALSE, NULL);
  g_object_set (src_rtcp, "socket", m->rtcp_sock, "close-socket", FALSE,
      NULL);
  g_object_set (sink_rtp, "socket", m->rtp_sock, "close-socket", FALSE,
      "host", m->remote_addr, "port", m->remote_port, "sync", FALSE,
      "async", FALSE, NULL);
  g_object_set (sink_rtcp, "socket", m->rtcp_sock, "close-socket", FALSE,
      "host", m->remote_addr, "port", m->remote_rtcp_port, "sync", FALSE,
      "async", FALSE, NULL);

  caps = gst_caps_new_simple (r->suite ? "application/x-srtp" :
      "application/x-rtp", "media", G_TYPE_STRING, media_sdp_name (media),
      "clock-rate", G_TYPE_INT, media == MT_MEDIA_AUDIO ? 48000 : 90000,
      "encoding-name", G_TYPE_STRING,
      media == MT_MEDIA_AUDIO ? "OPUS" : "H264", "payload", G_TYPE_INT, m->pt,
      NULL);
  g_object_set (src_rtp, "caps", caps, NULL);
  gst_caps_unref (caps);
  caps = gst_caps_new_empty_simple (r->suite ? "application/x-srtcp" :
      "application/x-rtcp");
  g_object_set (src_rtcp, "caps", caps, NULL);
  gst_caps_unref (caps);

  /* Receive side (RTCP always: receiver reports and PLI reach us there). */
  pad = g_strdup_printf ("recv_rtp_sink_%u", session);
  if (r->suite) {
    m->srtpdec = add (r, "srtpdec", "srtpdec", media);
    g_signal_connect (m->srtpdec, "request-key", G_CALLBACK (on_request_key),
        m);
    {
      MtKeyLimit *k = g_new0 (MtKeyLimit, 1);

      k->id = g_strdup (r->id);
      k->media = media;
      g_signal_connect_data (m->srtpdec, "soft-limit",
          G_CALLBACK (on_key_soft_limit), k, key_limit_closure_free, 0);
    }
    link_pads (src_rtp, "src", m->srtpdec, "rtp_sink");
    link_pads (src_rtcp, "src", m->srtpdec, "rtcp_sink");
    link_pads (m->srtpdec, "rtp_src", r->rtpbin, pad);
    g_free (pad);
    pad = g_strdup_printf ("recv_rtcp_sink_%u", session);
    link_pads (m->srtpdec, "rtcp_src", r->rtpbin, pad);
  } else {
    link_pads (src_rtp, "src", r->rtpbin, pad);
    g_free (pad);
    pad = g_strdup_printf ("recv_rtcp_sink_%u", session);
    link_pads (src_rtcp, "src", r->rtpbin, pad);
  }
  g_free (pad);

  /* Send side. */
  if (r->suite) {
    gchar *a, *b;
    GstBuffer *key = gst_buffer_new_wrapped_bytes (r->key);

    enc = add (r, "srtpenc", "srtpenc", media);
    g_object_set (enc, "key", key, NULL);
    gst_buffer_unref (key);
    gst_util_set_object_arg (G_OBJECT (enc), "rtp-cipher", r->suite->cipher);
    gst_util_set_object_arg (G_OBJECT (enc), "rtcp-cipher", r->suite->cipher);
    gst_util_set_object_arg (G_OBJECT (enc), "rtp-auth", r->suite->auth);
    gst_util_set_object_arg (G_OBJECT (enc), "rtcp-auth", r->suite->auth);
    a = g_strdup_printf ("send_rtcp_src_%u", session);
    b = g_strdup ("rtcp_sink_0");
    link_pads (r->rtpbin, a, enc, b);
    link_pads (enc, "rtcp_src_0", sink_rtcp, "sink");
    g_free (a);
    g_free (b);
  } else {
    pad = g_strdup_printf ("send_rtcp_src_%u", session);
    link_pads (r->rtpbin, pad, sink_rtcp, "sink");
    g_free (pad);
  }

  /* SPS/PPS go in once per keyframe access unit (h264parse), not before
   * every IDR slice as rtph264pay's own config-interval does: x264's
   * sliced threads make two slices per frame, and a parameter set between
   * them makes ffmpeg split the picture in two. */
  if (m->send) {
    GstElement *pay;
    GstPad *pay_sink, *pay_src;
    gchar *desc = media == MT_MEDIA_VIDEO
        ? g_strdup_printf ("h264parse config-interval=-1 ! "
        "rtph264pay pt=%d mtu=1200 config-interval=0", m->pt)
        : g_strdup_printf ("rtpopuspay pt=%d mtu=1200", m->pt);
    GError *err = NULL;
    gchar *name;

    pay = gst_parse_bin_from_description (desc, TRUE, &err);
    g_free (desc);
    if (!pay) {
      g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL,
          "cannot build payloader: %s", err->message);
      g_clear_error (&err);
      return FALSE;
    }
    name = g_strdup_printf ("%s-pay-%s", r->id, media_sdp_name (media));
    gst_object_set_name (GST_OBJECT (pay), name);
    g_free (name);
    mt_element_add_owned (r->el, pay);
    pad = g_strdup_printf ("send_rtp_sink_%u", session);
    if (!link_pads (pay, "src", r->rtpbin, pad)) {
      g_free (pad);
      g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL,
          "cannot link payloader to rtpbin");
      return FALSE;
    }
    g_free (pad);
    /* send_rtp_src_N appears once send_rtp_sink_N was requested. */
    pad = g_strdup_printf ("send_rtp_src_%u", session);
    if (enc) {
      link_pads (r->rtpbin, pad, enc, "rtp_sink_0");
      link_pads (enc, "rtp_src_0", sink_rtp, "sink");
    } else {
      link_pads (r->rtpbin, pad, sink_rtp, "sink");
    }
    g_free (pad);
    pay_sink = gst_element_get_static_pad (pay, "sink");
    pay_src = gst_element_get_static_pad (pay, "src");
    mt_flow_watch_pad (r->el->flow_out[media], pay_src);
    gst_element_sync_state_with_parent (pay);
    mt_sink_set_input (r->el, media, media == MT_MEDIA_VIDEO ?
        MT_FORMAT_H264 : MT_FORMAT_OPUS, pay_sink);
    gst_object_unref (pay_sink);
    gst_object_unref (pay_src);
  }

  /* Downstream first, so nothing pushes into a stopped element. */
  gst_element_sync_state_with_parent (sink_rtp);
  gst_element_sync_state_with_parent (sink_rtcp);
  if (enc)
    gst_element_sync_state_with_parent (enc);
  if (m->srtpdec)
    gst_element_sync_state_with_parent (m->srtpdec);
  gst_element_sync_state_with_parent (src_rtp);
  gst_element_sync_state_with_parent (src_rtcp);
  return TRUE;
}

static gboolean
start (MtRtp * r, GError ** error)
{
  guint i;

  r->negotiated = TRUE;
  for (i = 0; i < MT_MEDIA_COUNT; i++)
    if (!start_media (r, i, error))
      return FALSE;
  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* Methods                                                                 */

JsonObject *
mt_rtp_generate_offer (JsonObject * params, GError ** error)
{
  MtRtp *r;
  gboolean recv_audio = TRUE, recv_video = TRUE;
  JsonObject *result;
  GString *s;

  if (!lookup_rtp (params, &r, error)
      || !mt_param_bool (params, "offerToReceiveAudio", TRUE, &recv_audio,
          error)
      || !mt_param_bool (params, "offerToReceiveVideo", TRUE, &recv_video,
          error))
    return NULL;
  if (r->negotiated || r->offer_pending) {
    g_set_error (error, MT_ERROR, MT_ERROR_INVALID_STATE,
        "Endpoint already negotiated");
    return NULL;
  }
  s = sdp_header (r);
  r->media[MT_MEDIA_AUDIO].offered = TRUE;
  r->media[MT_MEDIA_VIDEO].offered = TRUE;
  r->media[MT_MEDIA_AUDIO].recv = recv_audio;
  r->media[MT_MEDIA_VIDEO].recv = recv_video;
  append_media (s, r, MT_MEDIA_AUDIO, r->media[MT_MEDIA_AUDIO].port, 111,
      direction_name (TRUE, recv_audio));
  append_media (s, r, MT_MEDIA_VIDEO, r->media[MT_MEDIA_VIDEO].port, 96,
      direction_name (TRUE, recv_video));
  r->offer_pending = TRUE;
  result = json_object_new ();
  json_object_set_string_member (result, "sdp", s->str);
  g_string_free (s, TRUE);
  return result;
}

JsonObject *
mt_rtp_process_offer (JsonObject * params, GError ** error)
{
  MtRtp *r;
  const gchar *offer;
  GstSDPMessage *msg = NULL;
  GString *s = NULL;
  JsonObject *result = NULL;
  gboolean seen[MT_MEDIA_COUNT] = { FALSE, FALSE };
  gboolean any = FALSE;
  guint i;

  if (!lookup_rtp (params, &r, error)
      || !(offer = mt_param_string (params, "offer", error)))
    return NULL;
  if (r->negotiated || r->offer_pending) {
    g_set_error (error, MT_ERROR, MT_ERROR_INVALID_STATE,
        "Endpoint already negotiated");
    return NULL;
  }
  if (!(msg = parse_sdp (offer, error)))
    return NULL;

  s = sdp_header (r);
  for (i = 0; i < gst_sdp_message_medias_len (msg); i++) {
    const GstSDPMedia *sm = gst_sdp_message_get_media (msg, i);
    const gchar *kind = gst_sdp_media_get_media (sm);
    MtMediaType media;
    gboolean peer_send = FALSE, peer_recv = FALSE;
    MtRtpMedia *m;

    if (g_strcmp0 (kind, "audio") == 0)
      media = MT_MEDIA_AUDIO;
    else if (g_strcmp0 (kind, "video") == 0)
      media = MT_MEDIA_VIDEO;
    else {
      g_string_append_printf (s, "m=%s 0 %s %s\r\n", kind ? kind : "unknown",
          gst_sdp_media_get_proto (sm) ? gst_sdp_media_get_proto (sm) :
          "RTP/AVP", gst_sdp_media_get_format (sm, 0) ?
          gst_sdp_media_get_format (sm, 0) : "0");
      continue;
    }
    m = &r->media[media];
    if (seen[media] || !read_remote_media (r, msg, sm, media, &peer_send,
            &peer_recv)) {
      /* Rejected m-line: same kind, port 0, the offer's first format. */
      g_string_append_printf (s, "m=%s 0 %s %s\r\n", kind,
          gst_sdp_media_get_proto (sm) ? gst_sdp_media_get_proto (sm) :
          "RTP/AVP", gst_sdp_media_get_format (sm, 0) ?
          gst_sdp_media_get_format (sm, 0) : "0");
      continue;
    }
    seen[media] = TRUE;
    any = TRUE;
    m->enabled = TRUE;
    m->send = peer_recv;
    m->recv = peer_send;
    append_media (s, r, media, m->port, m->pt, direction_name (m->send,
            m->recv));
  }
  if (!any) {
    g_set_error (error, MT_ERROR, MT_ERROR_SDP,
        "Error processing offer: no usable audio (opus) or video (H264) "
        "m-line%s", r->suite ? " with a supported a=crypto" : "");
    goto out;
  }
  if (!start (r, error))
    goto out;
  result = json_object_new ();
  json_object_set_string_member (result, "sdp", s->str);

out:
  if (s)
    g_string_free (s, TRUE);
  gst_sdp_message_free (msg);
  return result;
}

JsonObject *
mt_rtp_process_answer (JsonObject * params, GError ** error)
{
  MtRtp *r;
  const gchar *answer;
  GstSDPMessage *msg = NULL;
  JsonObject *result = NULL;
  gboolean any = FALSE;
  guint i, index = 0;

  if (!lookup_rtp (params, &r, error)
      || !(answer = mt_param_string (params, "answer", error)))
    return NULL;
  if (!r->offer_pending) {
    g_set_error (error, MT_ERROR, MT_ERROR_INVALID_STATE,
        r->negotiated ? "Answer already processed" : "Offer not generated");
    return NULL;
  }
  if (!(msg = parse_sdp (answer, error)))
    return NULL;
  /* Our offer has audio then video; the answer keeps the order. */
  for (i = 0; i < gst_sdp_message_medias_len (msg) && index < 2; i++, index++) {
    const GstSDPMedia *sm = gst_sdp_message_get_media (msg, i);
    MtMediaType media = index == 0 ? MT_MEDIA_AUDIO : MT_MEDIA_VIDEO;
    MtRtpMedia *m = &r->media[media];
    gboolean peer_send = FALSE, peer_recv = FALSE;

    if (g_strcmp0 (gst_sdp_media_get_media (sm), media_sdp_name (media)) != 0) {
      g_set_error (error, MT_ERROR, MT_ERROR_SDP,
          "Error processing answer: m-line %u is not %s", i,
          media_sdp_name (media));
      goto out;
    }
    if (!read_remote_media (r, msg, sm, media, &peer_send, &peer_recv))
      continue;
    if ((media == MT_MEDIA_AUDIO && m->pt != 111)
        || (media == MT_MEDIA_VIDEO && m->pt != 96)) {
      g_set_error (error, MT_ERROR, MT_ERROR_SDP,
          "Error processing answer: payload type %d was not offered", m->pt);
      goto out;
    }
    m->enabled = TRUE;
    m->send = peer_recv;
    m->recv = m->recv && peer_send;
    any = TRUE;
  }
  if (!any) {
    g_set_error (error, MT_ERROR, MT_ERROR_SDP,
        "Error processing answer: no media accepted");
    goto out;
  }
  r->offer_pending = FALSE;
  if (!start (r, error))
    goto out;
  result = json_object_new ();

out:
  gst_sdp_message_free (msg);
  return result;
}

/* ---------------------------------------------------------------------- */
/* Life cycle                                                              */

static void
rtp_destroy (MtElement * el)
{
  MtRtp *r = el->priv;
  guint i;

  /* Stop rtpbin first: afterwards no streaming thread runs on_pad_added.
   * A create that failed (no free ports, bad options) built none. */
  if (r->rtpbin) {
    gst_element_set_state (r->rtpbin, GST_STATE_NULL);
    g_signal_handlers_disconnect_by_data (r->rtpbin, r);
  }
  for (i = 0; i < MT_MEDIA_COUNT; i++) {
    MtRtpMedia *m = &r->media[i];
    if (m->srtpdec) {
      gst_element_set_state (m->srtpdec, GST_STATE_NULL);
      g_signal_handlers_disconnect_by_data (m->srtpdec, m);
    }
  }
  /* The udp elements still hold the sockets; they go with the owned list
   * after this function, and they do not close them (close-socket=false),
   * so the sockets are closed by their last unref. */
  for (i = 0; i < MT_MEDIA_COUNT; i++) {
    MtRtpMedia *m = &r->media[i];
    g_clear_object (&m->rtp_sock);
    g_clear_object (&m->rtcp_sock);
    g_free (m->remote_addr);
    if (m->remote_key)
      g_bytes_unref (m->remote_key);
  }
  if (r->key)
    g_bytes_unref (r->key);
  g_free (r->address);
  g_free (r->id);
  g_free (r);
  el->priv = NULL;
}

/* options: {address?: string, crypto?: {suite: CryptoSuite, key: base64}} */
gboolean
mt_rtp_create (MtElement * el, JsonObject * options, GError ** error)
{
  MtRtp *r = g_new0 (MtRtp, 1);
  const gchar *address = NULL;
  GError *err = NULL;
  gchar *name;
  guint i;

  r->id = g_strdup (el->id);
  r->el = el;
  el->priv = r;
  el->destroy = rtp_destroy;

  if (options && json_object_has_member (options, "address")
      && !(address = mt_param_string (options, "address", error)))
    return FALSE;
  /* Without useIpv6 an RtpEndpoint is IPv4, as in Kurento: the first IPv4
   * --ice-address (the list may hold IPv6 ones too). */
  for (i = 0; !address && mt_config.ice_addresses
      && mt_config.ice_addresses[i]; i++)
    if (!strchr (mt_config.ice_addresses[i], ':'))
      address = mt_config.ice_addresses[i];
  r->address = g_strdup (address ? address : "127.0.0.1");
  if (!g_hostname_is_ip_address (r->address)) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "address %s is not an IP address", r->address);
    return FALSE;
  }

  if (options && json_object_has_member (options, "crypto")) {
    JsonNode *n = json_object_get_member (options, "crypto");
    JsonObject *c;
    const gchar *suite, *key;
    guchar *raw;
    gsize len = 0;

    if (!JSON_NODE_HOLDS_OBJECT (n)) {
      g_set_error (error, MT_ERROR, MT_ERROR_TYPE, "crypto must be an object");
      return FALSE;
    }
    c = json_node_get_object (n);
    if (!(suite = mt_param_string (c, "suite", error))
        || !(key = mt_param_string (c, "key", error)))
      return FALSE;
    for (i = 0; i < G_N_ELEMENTS (suites); i++)
      if (strcmp (suites[i].kurento, suite) == 0)
        r->suite = &suites[i];
    if (!r->suite) {
      g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
          "unknown crypto suite %s", suite);
      return FALSE;
    }
    raw = g_base64_decode (key, &len);
    if (len != r->suite->key_len) {
      g_free (raw);
      g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
          "%s needs a %u-byte key, got %" G_GSIZE_FORMAT, suite,
          r->suite->key_len, len);
      return FALSE;
    }
    r->key = g_bytes_new_take (raw, len);
  }

  for (i = 0; i < MT_MEDIA_COUNT; i++)
    if (!bind_pair (r, &r->media[i], &err)) {
      g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL,
          "cannot bind UDP ports on %s: %s", r->address, err->message);
      g_clear_error (&err);
      return FALSE;
    }

  name = g_strdup_printf ("%s-rtpbin", el->id);
  r->rtpbin = gst_element_factory_make ("rtpbin", name);
  g_free (name);
  /* Short jitter buffer: loopback and LAN peers; rtcp-fb for PLI/FIR. */
  g_object_set (r->rtpbin, "latency", 100, NULL);
  gst_util_set_object_arg (G_OBJECT (r->rtpbin), "rtp-profile",
      r->suite ? "savpf" : "avpf");
  g_signal_connect (r->rtpbin, "pad-added", G_CALLBACK (on_pad_added), r);
  mt_element_add_owned (el, r->rtpbin);
  if (!gst_element_sync_state_with_parent (r->rtpbin)) {
    g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL, "rtpbin does not start");
    return FALSE;
  }
  return TRUE;
}
