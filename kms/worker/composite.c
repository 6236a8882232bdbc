/* Video of Composite and AlphaBlending: one compositor per hub, I420 end to
 * end, whose output tee is every port's video source.
 *
 *   port input tee -> queue -> compositor.sink_N (scales in I420)
 *   compositor -> capsfilter (I420, W x H @ F) -> video tee
 *
 * The compositor is forced live and runs with zero extra latency: inputs are
 * stamped on arrival (hub.c), so each output frame takes the newest frame of
 * every input that arrived before it, and an input that stalls or goes
 * away never holds the others back.  Layout changes only touch pad
 * properties in place; pads come and go through IDLE-probed links; the
 * compositor and the encoders behind it never restart, so the other tiles
 * keep moving while the grid reflows. */
#include "hub.h"

#include <string.h>

/* GstCompositorSizingPolicy: scale to fit the box, keep the aspect ratio. */
#define SIZING_KEEP_ASPECT_RATIO 1
/* GstCompositorBackground */
#define BACKGROUND_BLACK 1

static void
set_output_size (MtHub * hub, gint width, gint height)
{
  GstCaps *caps;

  width &= ~1;
  height &= ~1;
  if (width <= 0 || height <= 0
      || (width == hub->out_width && height == hub->out_height))
    return;
  hub->out_width = width;
  hub->out_height = height;
  caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, "I420",
      "width", G_TYPE_INT, width, "height", G_TYPE_INT, height,
      "framerate", GST_TYPE_FRACTION, hub->framerate, 1,
      "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, NULL);
  g_object_set (hub->video_caps, "caps", caps, NULL);
  gst_caps_unref (caps);
}

gboolean
mt_composite_setup (MtHub * hub, GError ** error)
{
  MtElement *el = hub->el;
  gchar *name;

  name = g_strdup_printf ("%s-compositor", el->id);
  /* force-live: the hub outputs black frames at its frame rate even before
   * (and between) inputs, so its consumers always have a stream.  Start
   * at the current running time rather than at zero, which would make it
   * race through every frame since the pipeline started. */
  hub->compositor = gst_element_factory_make_full ("compositor", "name", name,
      "force-live", TRUE, "background", BACKGROUND_BLACK,
      "latency", (guint64) 0, "ignore-inactive-pads", TRUE,
      "start-time-selection", 2, "start-time",
      gst_element_get_current_running_time (GST_ELEMENT (mt_pipeline_bin ())),
      NULL);
  g_free (name);
  if (!hub->compositor) {
    g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL,
        "cannot create compositor");
    return FALSE;
  }
  hub->video_caps = gst_element_factory_make ("capsfilter", NULL);
  name = g_strdup_printf ("%s-video-tee", el->id);
  hub->video_tee = mt_make_tee (name);
  g_free (name);
  set_output_size (hub, hub->width, hub->height);
  mt_element_add_owned (el, hub->video_tee);
  mt_element_add_owned (el, hub->video_caps);
  mt_element_add_owned (el, hub->compositor);
  if (!gst_element_link_many (hub->compositor, hub->video_caps,
          hub->video_tee, NULL)) {
    g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL,
        "cannot link compositor");
    return FALSE;
  }
  gst_element_sync_state_with_parent (hub->video_tee);
  gst_element_sync_state_with_parent (hub->video_caps);
  gst_element_sync_state_with_parent (hub->compositor);
  return TRUE;
}

static gboolean
has_video_input (MtHubPort * port)
{
  GstPad *sink = gst_element_get_static_pad (port->input[MT_MEDIA_VIDEO],
      "sink");
  gboolean linked = gst_pad_is_linked (sink);

  gst_object_unref (sink);
  return linked;
}

static void
place (MtHubPort * port, gint x, gint y, gint w, gint h, gint z,
    gdouble alpha)
{
  g_object_set (port->cell->sink_pad, "xpos", x, "ypos", y, "width", MAX (w,
          2), "height", MAX (h, 2), "zorder", (guint) MAX (z, 0), "alpha",
      alpha, "sizing-policy", SIZING_KEEP_ASPECT_RATIO, NULL);
}

/* Grid of Kurento's Composite: columns = ceil(sqrt(n)), rows =
 * ceil(n / columns), in port creation order, each input letterboxed in its
 * cell. */
static void
layout_grid (MtHub * hub, GList * active)
{
  guint n = g_list_length (active), cols, rows, i = 0;
  gint cw, ch;
  GList *l;

  if (n == 0)
    return;
  /* ceil (sqrt (n)) without libm. */
  for (cols = 1; cols * cols < n; cols++);
  rows = (n + cols - 1) / cols;
  cw = hub->out_width / cols;
  ch = hub->out_height / rows;
  for (l = active; l; l = l->next, i++)
    place (l->data, (i % cols) * cw, (i / cols) * ch, cw, ch, 1, 1.0);
}

static void
caps_size (MtHubPort * port, gint * width, gint * height)
{
  GstPad *src = gst_element_get_static_pad (port->input[MT_MEDIA_VIDEO],
      "src");
  GstCaps *caps = gst_pad_get_current_caps (src);
  GstStructure *s;

  if (caps) {
    s = gst_caps_get_structure (caps, 0);
    gst_structure_get_int (s, "width", width);
    gst_structure_get_int (s, "height", height);
    gst_caps_unref (caps);
  }
  gst_object_unref (src);
}

/* Kurento's AlphaBlending: the master is full frame and sets the output
 * size; other ports sit where setPortProperties put them (relative to the
 * output) and are hidden until then. */
static void
layout_alpha (MtHub * hub, GList * active)
{
  gint width = hub->out_width, height = hub->out_height;
  GList *l;

  if (hub->master && hub->master->cell) {
    caps_size (hub->master, &width, &height);
    set_output_size (hub, width, height);
  }
  for (l = active; l; l = l->next) {
    MtHubPort *port = l->data;

    if (port == hub->master)
      place (port, 0, 0, hub->out_width, hub->out_height, hub->master_z, 1.0);
    else if (port->placed)
      place (port, (gint) (port->rx * hub->out_width),
          (gint) (port->ry * hub->out_height),
          (gint) (port->rw * hub->out_width),
          (gint) (port->rh * hub->out_height), port->z, 1.0);
    else
      place (port, 0, 0, 2, 2, 0, 0.0);
  }
}

static gboolean
run_layout (gpointer data)
{
  MtElement *el = mt_element_lookup (data, NULL);
  MtHub *hub;
  GList *l, *active = NULL;

  if (!el || !el->priv || !mt_hub_type (el->type)
      || strcmp (el->type, "HubPort") == 0)
    return G_SOURCE_REMOVE;
  hub = el->priv;
  hub->layout_queued = FALSE;
  for (l = hub->ports; l; l = l->next) {
    MtHubPort *port = l->data;

    if (has_video_input (port)) {
      if (!port->cell)
        port->cell = mt_hub_link (hub, port, NULL, MT_MEDIA_VIDEO,
            hub->compositor);
      active = g_list_append (active, port);
    } else if (port->cell) {
      mt_hub_cut (hub, port->cell);
      port->cell = NULL;
    }
  }
  if (hub->kind == MT_HUB_COMPOSITE)
    layout_grid (hub, active);
  else
    layout_alpha (hub, active);
  GST_INFO ("%s: %u tiles", hub->el->id, g_list_length (active));
  g_list_free (active);
  return G_SOURCE_REMOVE;
}

/* Layout runs on the main loop, after the current request or link change:
 * a replaced connection (unlinked, then linked again in the same
 * iteration) keeps its cell instead of reflowing twice. */
void
mt_composite_queue_layout (MtHub * hub)
{
  if (hub->layout_queued)
    return;
  hub->layout_queued = TRUE;
  mt_invoke (run_layout, g_strdup (hub->el->id), g_free);
}

static MtHub *
alpha_hub (JsonObject * params, GError ** error)
{
  MtHub *hub = mt_hub_lookup (params, "id", error);

  if (hub && hub->kind != MT_HUB_ALPHA_BLENDING) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "%s is not an AlphaBlending", hub->el->id);
    return NULL;
  }
  return hub;
}

JsonObject *
mt_hub_set_master (JsonObject * params, GError ** error)
{
  MtHub *hub = alpha_hub (params, error);
  MtHubPort *port;
  gint64 z;

  if (!hub || !(port = mt_hub_port_lookup (hub, params, "port", error))
      || !mt_param_int (params, "zOrder", FALSE, 0, &z, error))
    return NULL;
  hub->master = port;
  hub->master_z = CLAMP (z, 0, G_MAXINT);
  mt_composite_queue_layout (hub);
  return json_object_new ();
}

static gboolean
relative (JsonObject * params, const gchar * name, gdouble * out,
    GError ** error)
{
  JsonNode *n = json_object_get_member (params, name);

  if (!n || !JSON_NODE_HOLDS_VALUE (n)
      || (json_node_get_value_type (n) != G_TYPE_DOUBLE
          && json_node_get_value_type (n) != G_TYPE_INT64)) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "parameter '%s' must be a number", name);
    return FALSE;
  }
  *out = json_node_get_double (n);
  if (*out < 0.0 || *out > 1.0) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "parameter '%s' must be between 0 and 1", name);
    return FALSE;
  }
  return TRUE;
}

JsonObject *
mt_hub_set_port_properties (JsonObject * params, GError ** error)
{
  MtHub *hub = alpha_hub (params, error);
  MtHubPort *port;
  gdouble x, y, w, h;
  gint64 z;

  if (!hub || !(port = mt_hub_port_lookup (hub, params, "port", error))
      || !relative (params, "relativeX", &x, error)
      || !relative (params, "relativeY", &y, error)
      || !relative (params, "relativeWidth", &w, error)
      || !relative (params, "relativeHeight", &h, error)
      || !mt_param_int (params, "zOrder", FALSE, 0, &z, error))
    return NULL;
  port->rx = x;
  port->ry = y;
  port->rw = w;
  port->rh = h;
  port->z = CLAMP (z, 0, G_MAXINT);
  port->placed = TRUE;
  mt_composite_queue_layout (hub);
  return json_object_new ();
}
