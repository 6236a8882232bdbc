/* Hubs and HubPorts: what every hub kind shares.
 *
 * A HubPort is an element with a sink input and a source per media type,
 * like an endpoint, so link.c connects it like any other element:
 *
 *   X's tee -> queue -> [port input: identity] -> port input tee
 *   port output tee (RAW origin) -> consumers (shared encoders)
 *
 * The identity normalises time: every buffer entering a hub is stamped with
 * the pipeline's running time at arrival (audio continuously, resyncing on
 * jumps), under one TIME segment starting at 0, and the port answers
 * latency queries as a live source with zero latency.  Sources as different
 * as a paced player and a browser behind a 200 ms jitter buffer thus look
 * alike to the compositor, the mixers and the selectors, which can run with
 * no added latency and never wait for a late input.
 *
 * What joins a port's input tee to an output (a compositor pad, another
 * port's audio mixer or selector) is an MtHubLink with its own leaky queue,
 * so one slow consumer never holds the others back.  Links are cut with an
 * IDLE probe between two buffers, and buffers are dropped at the tee from
 * the moment the cut is decided, so nothing ever pushes into an element
 * that is going away. */
#include "hub.h"

#include <gst/audio/audio.h>
#include <string.h>

/* Input restamping state; owned by the identity's buffer probe. */
typedef struct
{
  MtMediaType media;
  GstClockTime next;            /* audio: where the next buffer continues */
} MtRestamp;

/* An audio buffer more than this far from the arrival clock starts over
 * at the clock instead of continuing the previous one. */
#define AUDIO_RESYNC (40 * GST_MSECOND)
/* How long an audio mixer waits for late inputs. */
#define MIXER_LATENCY (40 * GST_MSECOND)

static guint hub_serial;

const gchar *
mt_hub_type (const gchar * type)
{
  static const gchar *const types[] = {
    "Composite", "AlphaBlending", "Dispatcher", "DispatcherOneToMany",
    "HubPort",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (types); i++)
    if (strcmp (type, types[i]) == 0)
      return types[i];
  return NULL;
}

static gchar *
hub_name (const gchar * id, const gchar * what)
{
  return g_strdup_printf ("%s-%s-%u", id, what, ++hub_serial);
}

static gboolean
is_hub (MtElement * el)
{
  return el && el->priv && strcmp (el->type, "HubPort") != 0
      && mt_hub_type (el->type);
}

MtHub *
mt_hub_lookup (JsonObject * params, const gchar * member, GError ** error)
{
  const gchar *id = mt_param_string (params, member, error);
  MtElement *el;

  if (!id || !(el = mt_element_lookup (id, error)))
    return NULL;
  if (!is_hub (el)) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE, "%s is not a hub", id);
    return NULL;
  }
  return el->priv;
}

MtHubPort *
mt_hub_port_lookup (MtHub * hub, JsonObject * params, const gchar * member,
    GError ** error)
{
  const gchar *id = mt_param_string (params, member, error);
  MtElement *el;
  MtHubPort *port;

  if (!id || !(el = mt_element_lookup (id, error)))
    return NULL;
  if (strcmp (el->type, "HubPort") != 0 || !el->priv) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE, "%s is not a HubPort", id);
    return NULL;
  }
  port = el->priv;
  if (port->hub != hub) {
    g_set_error (error, MT_ERROR, MT_ERROR_INVALID_STATE,
        "%s belongs to another hub", id);
    return NULL;
  }
  return port;
}

/* ---------------------------------------------------------------------- */
/* Links between port input tees and mixers/selectors                      */

static MtHubLink *
link_ref (MtHubLink * l)
{
  g_atomic_int_inc (&l->refcount);
  return l;
}

static void
link_unref (gpointer data)
{
  MtHubLink *l = data;

  if (!g_atomic_int_dec_and_test (&l->refcount))
    return;
  gst_object_unref (l->tee);
  gst_object_unref (l->tee_pad);
  gst_object_unref (l->queue);
  gst_object_unref (l->sink_element);
  gst_object_unref (l->sink_pad);
  g_free (l);
}

/* Streaming thread: a cut link carries nothing more, even before its IDLE
 * probe had its chance. */
static GstPadProbeReturn
on_link_buffer (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  MtHubLink *l = user_data;

  return g_atomic_int_get (&l->cut) ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

MtHubLink *
mt_hub_link (MtHub * hub, MtHubPort * from, MtHubPort * to,
    MtMediaType media, GstElement * sink_element)
{
  MtHubLink *l = g_new0 (MtHubLink, 1);
  GstPad *qsink, *qsrc;
  gchar *name;

  l->refcount = 1;
  l->from = from;
  l->to = to;
  l->media = media;
  l->tee = gst_object_ref (from->input_tee[media]);
  l->sink_element = gst_object_ref (sink_element);
  name = hub_name (from->el->id, "hub-queue");
  l->queue = gst_object_ref (gst_element_factory_make ("queue", name));
  g_free (name);
  /* Video: at most two frames waiting (the compositor and the selectors
   * take one at a time); audio: enough for the mixer's latency.  Leaky, so
   * a consumer that stalls drops old data instead of adding delay. */
  if (media == MT_MEDIA_VIDEO)
    g_object_set (l->queue, "max-size-buffers", 2, "max-size-bytes", 0,
        "max-size-time", (guint64) 0, "leaky", 2, NULL);
  else
    g_object_set (l->queue, "max-size-buffers", 0, "max-size-bytes", 0,
        "max-size-time", (guint64) 200 * GST_MSECOND, "leaky", 2, NULL);
  gst_bin_add (mt_pipeline_bin (), l->queue);
  l->sink_pad = gst_element_request_pad_simple (sink_element, "sink_%u");
  qsrc = gst_element_get_static_pad (l->queue, "src");
  if (gst_pad_link (qsrc, l->sink_pad) != GST_PAD_LINK_OK)
    GST_WARNING ("%s: cannot link hub queue", from->el->id);
  gst_object_unref (qsrc);
  gst_element_sync_state_with_parent (l->queue);
  l->tee_pad = gst_element_request_pad_simple (l->tee, "src_%u");
  l->buffer_probe = gst_pad_add_probe (l->tee_pad, GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_BUFFER_LIST, on_link_buffer, link_ref (l),
      link_unref);
  qsink = gst_element_get_static_pad (l->queue, "sink");
  gst_pad_link (l->tee_pad, qsink);
  gst_object_unref (qsink);
  hub->links = g_list_append (hub->links, l);
  return l;
}

/* Main loop, after the IDLE probe unlinked the tee pad. */
static gboolean
finish_cut (gpointer data)
{
  MtHubLink *l = data;
  GstPad *qsrc;

  gst_element_set_state (l->queue, GST_STATE_NULL);
  qsrc = gst_element_get_static_pad (l->queue, "src");
  gst_pad_unlink (qsrc, l->sink_pad);
  gst_object_unref (qsrc);
  gst_element_release_request_pad (l->sink_element, l->sink_pad);
  gst_element_release_request_pad (l->tee, l->tee_pad);
  if (GST_OBJECT_PARENT (l->queue))
    gst_bin_remove (GST_BIN (GST_OBJECT_PARENT (l->queue)), l->queue);
  /* The buffer probe holds a reference to the link and the link holds the
   * tee pad: the pad would never be finalized (nor the probe's reference
   * dropped), so every cut would keep its link, queue and pads for good.
   * The pad is released from the tee: no buffer reaches the probe any more. */
  if (l->buffer_probe != 0) {
    gst_pad_remove_probe (l->tee_pad, l->buffer_probe);
    l->buffer_probe = 0;
  }
  return G_SOURCE_REMOVE;
}

static GstPadProbeReturn
on_link_idle (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  MtHubLink *l = user_data;
  GstPad *peer;

  if (!g_atomic_int_compare_and_exchange (&l->unlinked, 0, 1))
    return GST_PAD_PROBE_REMOVE;
  peer = gst_pad_get_peer (pad);
  if (peer) {
    gst_pad_unlink (pad, peer);
    gst_object_unref (peer);
  }
  mt_invoke (finish_cut, link_ref (l), link_unref);
  return GST_PAD_PROBE_REMOVE;
}

/* Cuts a link while media flows; never blocks the caller. */
void
mt_hub_cut (MtHub * hub, MtHubLink * l)
{
  hub->links = g_list_remove (hub->links, l);
  l->from = NULL;
  l->to = NULL;
  g_atomic_int_set (&l->cut, 1);
  gst_pad_add_probe (l->tee_pad, GST_PAD_PROBE_TYPE_IDLE, on_link_idle,
      link_ref (l), link_unref);
  link_unref (l);
}

/* ---------------------------------------------------------------------- */
/* Port inputs: one time base for every source                             */

static GstClockTime
running_time_now (void)
{
  return gst_element_get_current_running_time (GST_ELEMENT
      (mt_pipeline_bin ()));
}

static GstPadProbeReturn
on_input_buffer (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  MtRestamp *r = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstClockTime now = running_time_now (), pts = now, duration;

  if (!GST_CLOCK_TIME_IS_VALID (now))
    return GST_PAD_PROBE_OK;
  buf = gst_buffer_make_writable (buf);
  if (r->media == MT_MEDIA_AUDIO) {
    /* Continuous timestamps keep the mixer from cutting or padding every
     * buffer; a jump (a pause, a new source) starts over at the clock. */
    duration = GST_BUFFER_DURATION (buf);
    if (!GST_CLOCK_TIME_IS_VALID (duration))
      duration = gst_util_uint64_scale (gst_buffer_get_size (buf) / 4,
          GST_SECOND, 48000);
    if (GST_CLOCK_TIME_IS_VALID (r->next)
        && (r->next > now ? r->next - now : now - r->next) < AUDIO_RESYNC)
      pts = r->next;
    else
      GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    GST_BUFFER_DURATION (buf) = duration;
    r->next = pts + duration;
  }
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DTS (buf) = GST_CLOCK_TIME_NONE;
  GST_PAD_PROBE_INFO_DATA (info) = buf;
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
on_input_event (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  GstSegment segment;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_SEGMENT:
      gst_segment_init (&segment, GST_FORMAT_TIME);
      gst_event_unref (event);
      GST_PAD_PROBE_INFO_DATA (info) = gst_event_new_segment (&segment);
      return GST_PAD_PROBE_OK;
    case GST_EVENT_EOS:
      /* A source that ends leaves its last frame; the hub goes on. */
      return GST_PAD_PROBE_DROP;
    default:
      return GST_PAD_PROBE_OK;
  }
}

static GstPadProbeReturn
on_input_query (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  GstQuery *query = GST_PAD_PROBE_INFO_QUERY (info);

  if (GST_QUERY_TYPE (query) != GST_QUERY_LATENCY)
    return GST_PAD_PROBE_OK;
  /* Buffers are stamped on arrival, so they carry no latency. */
  gst_query_set_latency (query, TRUE, 0, GST_CLOCK_TIME_NONE);
  return GST_PAD_PROBE_HANDLED;
}

static void
on_video_input_changed (GstPad * pad, GstPad * peer, gpointer user_data)
{
  mt_composite_queue_layout (user_data);
}

static void
on_video_caps (GObject * pad, GParamSpec * pspec, gpointer user_data)
{
  mt_composite_queue_layout (user_data);
}

/* Builds identity -> input tee for one media type and offers the identity
 * to link.c as the port's sink input. */
static void
setup_input (MtHubPort * port, MtMediaType media)
{
  MtElement *el = port->el;
  MtRestamp *r = g_new0 (MtRestamp, 1);
  GstElement *identity, *tee;
  GstPad *sink, *src;
  gchar *name;

  name = hub_name (el->id, media == MT_MEDIA_VIDEO ? "video-in" : "audio-in");
  identity = gst_element_factory_make ("identity", name);
  g_free (name);
  name = hub_name (el->id, media == MT_MEDIA_VIDEO ? "video-in-tee"
      : "audio-in-tee");
  tee = mt_make_tee (name);
  g_free (name);
  mt_element_add_owned (el, tee);
  mt_element_add_owned (el, identity);
  gst_element_link (identity, tee);
  gst_element_sync_state_with_parent (tee);
  gst_element_sync_state_with_parent (identity);
  port->input[media] = identity;
  port->input_tee[media] = tee;

  r->media = media;
  r->next = GST_CLOCK_TIME_NONE;
  src = gst_element_get_static_pad (identity, "src");
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER, on_input_buffer, r,
      g_free);
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
      on_input_event, NULL, NULL);
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_QUERY_BOTH, on_input_query,
      NULL, NULL);
  sink = gst_element_get_static_pad (identity, "sink");
  if (media == MT_MEDIA_VIDEO && port->hub->compositor) {
    /* A port takes a cell while something feeds its video. */
    g_signal_connect (sink, "linked", G_CALLBACK (on_video_input_changed),
        port->hub);
    g_signal_connect (sink, "unlinked", G_CALLBACK (on_video_input_changed),
        port->hub);
    g_signal_connect (src, "notify::caps", G_CALLBACK (on_video_caps),
        port->hub);
  }
  mt_flow_watch_pad (el->flow_in[media], sink);
  mt_sink_set_input (el, media, MT_FORMAT_RAW, sink);
  gst_object_unref (sink);
  gst_object_unref (src);
}

/* ---------------------------------------------------------------------- */
/* Port outputs                                                            */

static void
set_output (MtHubPort * port, MtMediaType media, GstElement * tee)
{
  GstPad *sink = gst_element_get_static_pad (tee, "sink");

  mt_flow_watch_pad (port->el->flow_out[media], sink);
  gst_object_unref (sink);
  mt_source_set_origin (port->el, media, MT_FORMAT_RAW, tee);
}

/* Composite and AlphaBlending: the port hears everyone but itself. */
static gboolean
setup_mix_output (MtHubPort * port, GError ** error)
{
  MtElement *el = port->el;
  GstElement *caps, *tee;
  GstCaps *raw;
  GList *l;
  gchar *name;

  name = hub_name (el->id, "audio-mixer");
  port->mixer = gst_element_factory_make_full ("audiomixer", "name", name,
      "force-live", TRUE, "latency", (guint64) MIXER_LATENCY,
      "ignore-inactive-pads", TRUE, "start-time-selection", 2,
      "start-time", running_time_now (), NULL);
  g_free (name);
  caps = gst_element_factory_make ("capsfilter", NULL);
  raw = gst_caps_from_string ("audio/x-raw,format=S16LE,rate=48000,"
      "channels=2,layout=interleaved");
  g_object_set (caps, "caps", raw, NULL);
  gst_caps_unref (raw);
  name = hub_name (el->id, "audio-out-tee");
  tee = mt_make_tee (name);
  g_free (name);
  mt_element_add_owned (el, tee);
  mt_element_add_owned (el, caps);
  mt_element_add_owned (el, port->mixer);
  if (!gst_element_link_many (port->mixer, caps, tee, NULL)) {
    g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL,
        "cannot build the audio mixer");
    return FALSE;
  }
  gst_element_sync_state_with_parent (tee);
  gst_element_sync_state_with_parent (caps);
  gst_element_sync_state_with_parent (port->mixer);
  port->output_tee[MT_MEDIA_AUDIO] = tee;
  set_output (port, MT_MEDIA_AUDIO, tee);

  for (l = port->hub->ports; l; l = l->next) {
    MtHubPort *other = l->data;

    if (other == port)
      continue;
    mt_hub_link (port->hub, other, port, MT_MEDIA_AUDIO, port->mixer);
    mt_hub_link (port->hub, port, other, MT_MEDIA_AUDIO, other->mixer);
  }
  return TRUE;
}

static void
port_destroy (MtElement * el)
{
  MtHubPort *port = el->priv;
  MtHub *hub = port->hub;
  GList *l, *next;

  if (hub) {
    for (l = hub->links; l; l = next) {
      MtHubLink *link = l->data;

      next = l->next;
      if (link->from == port || link->to == port)
        mt_hub_cut (hub, link);
    }
    port->cell = NULL;
    hub->ports = g_list_remove (hub->ports, port);
    if (hub->master == port)
      hub->master = NULL;
    if (hub->kind == MT_HUB_DISPATCHER || hub->kind == MT_HUB_ONE_TO_MANY)
      mt_dispatcher_port_gone (port);
    if (hub->compositor)
      mt_composite_queue_layout (hub);
  }
  g_free (port);
  el->priv = NULL;
}

static gboolean
port_create (MtElement * el, JsonObject * options, GError ** error)
{
  MtHubPort *port;
  MtHub *hub;
  guint m;

  if (!options) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE, "options.hub is required");
    return FALSE;
  }
  if (!(hub = mt_hub_lookup (options, "hub", error)))
    return FALSE;
  port = g_new0 (MtHubPort, 1);
  port->el = el;
  port->hub = hub;
  port->rw = port->rh = 1.0;
  el->priv = port;
  el->destroy = port_destroy;
  hub->ports = g_list_append (hub->ports, port);

  for (m = 0; m < MT_MEDIA_COUNT; m++)
    setup_input (port, m);
  if (hub->compositor) {
    set_output (port, MT_MEDIA_VIDEO, hub->video_tee);
    if (!setup_mix_output (port, error))
      return FALSE;
    mt_composite_queue_layout (hub);
  } else if (!mt_dispatcher_port_setup (port, error)) {
    return FALSE;
  }
  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* Hubs                                                                    */

static void
hub_destroy (MtElement * el)
{
  MtHub *hub = el->priv;
  GList *ids = NULL, *l;

  /* The engine releases ports before their hub; a port left over goes
   * now, so nothing points at the hub's elements any more. */
  for (l = hub->ports; l; l = l->next)
    ids = g_list_prepend (ids, g_strdup (((MtHubPort *) l->data)->el->id));
  for (l = ids; l; l = l->next)
    mt_element_release (l->data);
  g_list_free_full (ids, g_free);
  while (hub->links)
    mt_hub_cut (hub, hub->links->data);
  g_free (hub);
  el->priv = NULL;
}

static gboolean
int_option (JsonObject * options, const gchar * name, gint64 fallback,
    gint64 min, gint64 max, gint * out, GError ** error)
{
  gint64 value = fallback;

  if (options && !mt_param_int (options, name, FALSE, fallback, &value,
          error))
    return FALSE;
  if (value < min || value > max) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "%s must be between %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT,
        name, min, max);
    return FALSE;
  }
  *out = value;
  return TRUE;
}

gboolean
mt_hub_element_create (MtElement * el, JsonObject * options, GError ** error)
{
  MtHub *hub;

  if (strcmp (el->type, "HubPort") == 0)
    return port_create (el, options, error);

  hub = g_new0 (MtHub, 1);
  hub->el = el;
  el->priv = hub;
  el->destroy = hub_destroy;
  if (strcmp (el->type, "Composite") == 0)
    hub->kind = MT_HUB_COMPOSITE;
  else if (strcmp (el->type, "AlphaBlending") == 0)
    hub->kind = MT_HUB_ALPHA_BLENDING;
  else if (strcmp (el->type, "Dispatcher") == 0)
    hub->kind = MT_HUB_DISPATCHER;
  else
    hub->kind = MT_HUB_ONE_TO_MANY;
  if (hub->kind == MT_HUB_DISPATCHER || hub->kind == MT_HUB_ONE_TO_MANY)
    return TRUE;
  /* Even sizes: I420 chroma is subsampled by two. */
  if (!int_option (options, "width", 1280, 16, 7680, &hub->width, error)
      || !int_option (options, "height", 720, 16, 4320, &hub->height, error)
      || !int_option (options, "framerate", 30, 1, 120, &hub->framerate,
          error))
    return FALSE;
  hub->width &= ~1;
  hub->height &= ~1;
  return mt_composite_setup (hub, error);
}
