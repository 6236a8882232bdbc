/* Shared types of the montage worker: one process, one GstPipeline, a table
 * of elements keyed by the engine's ids, and declarative connections. */
#ifndef MT_WORKER_H
#define MT_WORKER_H

#include <gst/gst.h>
#include <json-glib/json-glib.h>

#include "protocol.h"

GST_DEBUG_CATEGORY_EXTERN (mt_debug);
#define GST_CAT_DEFAULT mt_debug

typedef enum
{
  MT_MEDIA_AUDIO,
  MT_MEDIA_VIDEO,
  MT_MEDIA_COUNT,
} MtMediaType;

/* Formats a source can deliver and a sink input can ask for.  RAW is I420
 * video or S16LE 48 kHz stereo audio. */
typedef enum
{
  MT_FORMAT_NONE,
  MT_FORMAT_RAW,
  MT_FORMAT_VP8,
  MT_FORMAT_H264,
  MT_FORMAT_OPUS,
  MT_FORMAT_AAC,                /* encoded only: no source carries it natively */
  MT_FORMAT_COUNT,
} MtFormat;

typedef struct _MtElement MtElement;
typedef struct _MtConnection MtConnection;
typedef struct _MtFlow MtFlow;

/* What one element offers as a source for one media type.  The origin tee
 * carries the element's own format; the other tees are built on demand and
 * torn down again when their last consumer goes (see link.c). */
typedef struct
{
  MtFormat origin;
  /* Tees per format; the pipeline owns them, the element lists them in
   * `owned` so release removes them. */
  GstElement *tees[MT_FORMAT_COUNT];
  /* Consumers of each tee: materialised connections and derived branches. */
  guint users[MT_FORMAT_COUNT];
  /* For a derived format: the decoder/encoder bin feeding its tee and the
   * request pad of the parent tee feeding that bin. */
  GstElement *branch[MT_FORMAT_COUNT];
  GstPad *branch_pad[MT_FORMAT_COUNT];
  guint encoders;               /* live encoder branches */
  gboolean transcoding;         /* TRANSCODING was sent, not yet undone */
} MtSourceMedia;

/* What one element accepts as a sink for one media type. */
typedef struct
{
  MtFormat format;              /* NONE until the element can take media */
  GstPad *pad;                  /* (owned) sink pad that takes `format` */
  MtConnection *link;           /* materialised connection feeding `pad` */
  gpointer teardown;            /* the previous link is still being cut off
                                 * (link.c's MtDetach); no new link meanwhile */
} MtSinkInput;

struct _MtElement
{
  gchar *id;
  const gchar *type;
  GList *owned;                 /* (owned) GstElements this element added */
  MtSourceMedia out[MT_MEDIA_COUNT];
  MtSinkInput in[MT_MEDIA_COUNT];
  MtFlow *flow_in[MT_MEDIA_COUNT];
  MtFlow *flow_out[MT_MEDIA_COUNT];
  gpointer priv;
  /* Tears down the type-specific state; called on release. */
  void (*destroy) (MtElement * self);
  /* Optional: a source connected to this element reached the end of its
   * stream (a player's clip ended); see mt_link_source_ended. */
  void (*source_ended) (MtElement * self, MtMediaType media);
  /* Optional: an element message (GST_MESSAGE_ELEMENT) posted by one of
   * the GstElements this element owns (zbar's barcodes). */
  void (*element_message) (MtElement * self, GstMessage * message);
};

/* pipeline.c */
typedef struct
{
  gchar **ice_addresses;
  gchar *stun_server;           /* stun://host:port or NULL */
  gchar *turn_server;           /* turn://user:pass@host:port or NULL */
  guint port_min, port_max;
  guint jitter_ms;              /* webrtcbin jitterbuffer latency */
} MtConfig;

extern MtConfig mt_config;

void mt_pipeline_init (void);
void mt_pipeline_shutdown (void);
GstBin *mt_pipeline_bin (void);
MtElement *mt_element_lookup (const gchar * id, GError ** error);
MtElement *mt_element_new (const gchar * id, const gchar * type);
void mt_element_add_owned (MtElement * self, GstElement * element);
void mt_element_remove_owned (MtElement * self, GstElement * element);
void mt_element_release (const gchar * id);
gchar *mt_pipeline_dot (GstDebugGraphDetails details);
void mt_element_error (MtElement * self, const gchar * type,
    const gchar * description, gint code);
const gchar *mt_media_name (MtMediaType media);
gboolean mt_media_parse (const gchar * name, MtMediaType * media);
const gchar *mt_format_name (MtFormat format);

/* link.c */
void mt_link_connect (const gchar * source, const gchar * sink,
    MtMediaType media);
void mt_link_disconnect (const gchar * source, const gchar * sink,
    MtMediaType media);
void mt_link_forget_element (MtElement * element);
void mt_link_refresh (void);
void mt_source_set_origin (MtElement * self, MtMediaType media,
    MtFormat format, GstElement * tee);
void mt_sink_set_input (MtElement * self, MtMediaType media, MtFormat format,
    GstPad * pad);
void mt_source_request_keyframe (MtElement * self);
void mt_link_source_ended (MtElement * source);
GstElement *mt_make_tee (const gchar * name);

/* flow.c */
MtFlow *mt_flow_new (const gchar * element_id, MtMediaType media,
    gboolean incoming);
void mt_flow_watch_pad (MtFlow * flow, GstPad * pad);
void mt_flow_free (MtFlow * flow);
void mt_flow_start_timer (void);

/* Endpoints.  Method handlers return a result object or NULL with error. */
typedef JsonObject *(*MtMethodFunc) (JsonObject * params, GError ** error);

gboolean mt_webrtc_create (MtElement * self, JsonObject * options,
    GError ** error);
JsonObject *mt_webrtc_generate_offer (JsonObject * params, GError ** error);
JsonObject *mt_webrtc_process_offer (JsonObject * params, GError ** error);
JsonObject *mt_webrtc_process_answer (JsonObject * params, GError ** error);
JsonObject *mt_webrtc_gather_candidates (JsonObject * params,
    GError ** error);
JsonObject *mt_webrtc_add_ice_candidate (JsonObject * params,
    GError ** error);
JsonObject *mt_webrtc_set_ice_servers (JsonObject * params, GError ** error);
void mt_webrtc_prepare (void);

gboolean mt_player_create (MtElement * self, JsonObject * options,
    GError ** error);
JsonObject *mt_player_play (JsonObject * params, GError ** error);
JsonObject *mt_player_pause (JsonObject * params, GError ** error);
JsonObject *mt_player_stop (JsonObject * params, GError ** error);
JsonObject *mt_player_get_position (JsonObject * params, GError ** error);
JsonObject *mt_player_set_position (JsonObject * params, GError ** error);
JsonObject *mt_player_get_video_info (JsonObject * params, GError ** error);
JsonObject *mt_http_post_open (JsonObject * params, GError ** error);

/* rtp_endpoint.c */
gboolean mt_rtp_create (MtElement * self, JsonObject * options,
    GError ** error);
JsonObject *mt_rtp_generate_offer (JsonObject * params, GError ** error);
JsonObject *mt_rtp_process_offer (JsonObject * params, GError ** error);
JsonObject *mt_rtp_process_answer (JsonObject * params, GError ** error);

/* recorder_endpoint.c */
gboolean mt_recorder_create (MtElement * self, JsonObject * options,
    GError ** error);
JsonObject *mt_recorder_record (JsonObject * params, GError ** error);
JsonObject *mt_recorder_pause (JsonObject * params, GError ** error);
JsonObject *mt_recorder_stop (JsonObject * params, GError ** error);

/* filter.c */
gboolean mt_filter_create (MtElement * self, JsonObject * options,
    GError ** error);
JsonObject *mt_filter_set_element_property (JsonObject * params,
    GError ** error);
JsonObject *mt_filter_add_image (JsonObject * params, GError ** error);
JsonObject *mt_filter_remove_image (JsonObject * params, GError ** error);
JsonObject *mt_filter_set_overlayed_image (JsonObject * params,
    GError ** error);
JsonObject *mt_filter_unset_overlayed_image (JsonObject * params,
    GError ** error);

/* passthrough.c */
gboolean mt_passthrough_create (MtElement * self, JsonObject * options,
    GError ** error);

/* main.c: called by a method handler that replies later (with
 * mt_protocol_reply_ok/_error and the id returned) instead of returning its
 * result, so a slow operation does not hold up the main loop. */
gint64 mt_request_defer (void);

/* Runs func on the main loop; used by streaming threads, which never touch
 * the element table themselves. */
void mt_invoke (GSourceFunc func, gpointer data, GDestroyNotify notify);

#endif
