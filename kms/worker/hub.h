/* Hubs (Composite, AlphaBlending, Dispatcher, DispatcherOneToMany) and
 * their HubPorts.  hub.c holds the port plumbing shared by every hub kind
 * and the links between ports; composite.c lays video out on a compositor;
 * dispatcher.c switches port outputs between sources. */
#ifndef MT_HUB_H
#define MT_HUB_H

#include "worker.h"

typedef enum
{
  MT_HUB_COMPOSITE,
  MT_HUB_ALPHA_BLENDING,
  MT_HUB_DISPATCHER,
  MT_HUB_ONE_TO_MANY,
} MtHubKind;

typedef struct _MtHub MtHub;
typedef struct _MtHubPort MtHubPort;
typedef struct _MtHubLink MtHubLink;

/* One branch `from->input_tee[media] -> queue -> sink_element.sink_N`.
 * `to` is NULL when the sink element is the hub's own (the compositor). */
struct _MtHubLink
{
  gint refcount;
  gint cut;                     /* atomic: buffers are dropped from now on */
  gint unlinked;                /* atomic: the IDLE probe did its work */
  MtHubPort *from;              /* main thread only; NULL once cut */
  MtHubPort *to;
  MtMediaType media;
  GstElement *tee;
  GstPad *tee_pad;
  gulong buffer_probe;          /* on tee_pad; holds a reference to the link */
  GstElement *queue;
  GstElement *sink_element;
  GstPad *sink_pad;
};

struct _MtHub
{
  MtElement *el;
  MtHubKind kind;
  GList *ports;                 /* MtHubPort, in creation order */
  GList *links;                 /* (owned) live MtHubLinks */
  /* Video mixing (Composite, AlphaBlending). */
  GstElement *compositor;
  GstElement *video_caps;
  GstElement *video_tee;
  gint width, height, framerate;
  gint out_width, out_height;   /* current output size */
  gboolean layout_queued;
  MtHubPort *master;            /* AlphaBlending */
  gint master_z;
  MtHubPort *source;            /* DispatcherOneToMany */
};

struct _MtHubPort
{
  MtElement *el;
  MtHub *hub;
  GstElement *input[MT_MEDIA_COUNT];    /* identity: the sink input */
  GstElement *input_tee[MT_MEDIA_COUNT];
  GstElement *output_tee[MT_MEDIA_COUNT];
  GstElement *mixer;            /* N-1 audio mix (Composite, AlphaBlending) */
  GstElement *selector[MT_MEDIA_COUNT]; /* Dispatchers */
  MtHubLink *cell;              /* video into the compositor */
  MtHubLink *selected[MT_MEDIA_COUNT];  /* Dispatchers: current source */
  gint *keyframe_pending;       /* (owned by a probe) atomic */
  /* AlphaBlending placement. */
  gboolean placed;
  gdouble rx, ry, rw, rh;
  gint z;
};

/* hub.c */
const gchar *mt_hub_type (const gchar * type);
gboolean mt_hub_element_create (MtElement * el, JsonObject * options,
    GError ** error);
MtHubLink *mt_hub_link (MtHub * hub, MtHubPort * from, MtHubPort * to,
    MtMediaType media, GstElement * sink_element);
void mt_hub_cut (MtHub * hub, MtHubLink * link);
MtHub *mt_hub_lookup (JsonObject * params, const gchar * member,
    GError ** error);
MtHubPort *mt_hub_port_lookup (MtHub * hub, JsonObject * params,
    const gchar * member, GError ** error);

/* composite.c */
gboolean mt_composite_setup (MtHub * hub, GError ** error);
void mt_composite_queue_layout (MtHub * hub);
JsonObject *mt_hub_set_master (JsonObject * params, GError ** error);
JsonObject *mt_hub_set_port_properties (JsonObject * params,
    GError ** error);

/* dispatcher.c */
gboolean mt_dispatcher_port_setup (MtHubPort * port, GError ** error);
void mt_dispatcher_connect (MtHub * hub, MtHubPort * source,
    MtHubPort * sink);
void mt_dispatcher_port_gone (MtHubPort * port);
JsonObject *mt_hub_connect (JsonObject * params, GError ** error);
JsonObject *mt_hub_set_source (JsonObject * params, GError ** error);
JsonObject *mt_hub_remove_source (JsonObject * params, GError ** error);

#endif
