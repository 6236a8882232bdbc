/* Dispatcher and DispatcherOneToMany: each port's output follows one
 * source port's input.
 *
 *   source input tee -> queue -> input-selector.sink_N -> output tee
 *   (video: input-selector -> videoscale -> capsfilter -> output tee)
 *
 * A port's video output keeps the size and frame rate of the first source
 * it ever carried: any later source is scaled into it, aspect preserved
 * and letterboxed in black, so the caps behind the output tee never change
 * and the shared encoders are never reconfigured by a switch.
 *
 * A switch links the new source to the sink port's selector, makes it the
 * active pad and then cuts the old link (IDLE probe), all while media
 * flows: the first buffer out of the selector after the switch is the new
 * source's next frame.  Raw frames are switched, so the shared encoders
 * behind the output tee keep running; a force-key-unit event pushed down
 * in front of the first new frame makes every one of them start the new
 * picture with a keyframe. */
#include "hub.h"

#include <gst/video/video.h>
#include <string.h>

/* A port's fixed video output; owned by the caps probe, streaming thread
 * only once set up. */
typedef struct
{
  GstElement *caps;             /* the capsfilter behind videoscale */
  gint width, height, fps_n, fps_d;
} MtOutputSize;

static void
output_size_free (gpointer data)
{
  MtOutputSize *size = data;

  gst_object_unref (size->caps);
  g_free (size);
}

/* Streaming thread, in front of videoscale: the first caps fix the output
 * size; every caps event then carries the first frame rate (buffers are
 * stamped on arrival, so the field is informational) so that only the
 * size can differ, and videoscale absorbs that. */
static GstPadProbeReturn
on_selector_caps (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  MtOutputSize *out = user_data;
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  GstCaps *caps, *fixed;
  GstStructure *s;

  if (GST_EVENT_TYPE (event) != GST_EVENT_CAPS)
    return GST_PAD_PROBE_OK;
  gst_event_parse_caps (event, &caps);
  s = gst_caps_get_structure (caps, 0);
  if (out->width == 0) {
    if (!gst_structure_get_int (s, "width", &out->width)
        || !gst_structure_get_int (s, "height", &out->height))
      return GST_PAD_PROBE_OK;
    out->width &= ~1;
    out->height &= ~1;
    if (!gst_structure_get_fraction (s, "framerate", &out->fps_n,
            &out->fps_d) || out->fps_n <= 0) {
      out->fps_n = 30;
      out->fps_d = 1;
    }
    /* No framerate in the filter: upstream caps queries travel through the
     * selector to it, and a WebRTC camera's decoder offers framerate 0/1,
     * which videoscale cannot turn into a fixed rate; the negotiation would
     * fail and take the camera's whole branch down.  The caps events are
     * rewritten to the first rate below instead. */
    fixed = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING,
        "I420", "width", G_TYPE_INT, out->width, "height", G_TYPE_INT,
        out->height, "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, NULL);
    g_object_set (out->caps, "caps", fixed, NULL);
    gst_caps_unref (fixed);
    GST_INFO ("video output fixed at %dx%d", out->width, out->height);
  }
  caps = gst_caps_copy (caps);
  gst_caps_set_simple (caps, "framerate", GST_TYPE_FRACTION, out->fps_n,
      out->fps_d, NULL);
  gst_event_unref (event);
  GST_PAD_PROBE_INFO_DATA (info) = gst_event_new_caps (caps);
  gst_caps_unref (caps);
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
on_selector_buffer (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  gint *pending = user_data;

  if (g_atomic_int_compare_and_exchange (pending, 1, 0))
    gst_pad_push_event (pad,
        gst_video_event_new_downstream_force_key_unit (GST_CLOCK_TIME_NONE,
            GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE, TRUE, 0));
  return GST_PAD_PROBE_OK;
}

gboolean
mt_dispatcher_port_setup (MtHubPort * port, GError ** error)
{
  MtElement *el = port->el;
  MtOutputSize *out;
  guint m;

  for (m = 0; m < MT_MEDIA_COUNT; m++) {
    gchar *name = g_strdup_printf ("%s-%s-selector-%p", el->id,
        m == MT_MEDIA_VIDEO ? "video" : "audio", (gpointer) port);
    GstElement *selector = gst_element_factory_make ("input-selector", name);
    GstElement *tee, *scale = NULL, *output_caps = NULL, *head;
    GstPad *src, *sink;

    g_free (name);
    /* No waiting for inactive inputs: they are dropped, never synced. */
    g_object_set (selector, "sync-streams", FALSE, "cache-buffers", FALSE,
        NULL);
    name = g_strdup_printf ("%s-%s-out-tee-%p", el->id,
        m == MT_MEDIA_VIDEO ? "video" : "audio", (gpointer) port);
    tee = mt_make_tee (name);
    g_free (name);
    mt_element_add_owned (el, tee);
    head = tee;
    if (m == MT_MEDIA_VIDEO) {
      /* add-borders: a source of another aspect ratio is letterboxed. */
      scale = gst_element_factory_make_full ("videoscale", "add-borders",
          TRUE, NULL);
      output_caps = gst_element_factory_make ("capsfilter", NULL);
      mt_element_add_owned (el, output_caps);
      mt_element_add_owned (el, scale);
      if (!gst_element_link_many (scale, output_caps, tee, NULL)) {
        g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL,
            "cannot link videoscale");
        return FALSE;
      }
      head = scale;
    }
    mt_element_add_owned (el, selector);
    if (!gst_element_link (selector, head)) {
      g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL,
          "cannot link input-selector");
      return FALSE;
    }
    gst_element_sync_state_with_parent (tee);
    if (scale) {
      gst_element_sync_state_with_parent (output_caps);
      gst_element_sync_state_with_parent (scale);
    }
    gst_element_sync_state_with_parent (selector);
    port->selector[m] = selector;
    port->output_tee[m] = tee;
    if (m == MT_MEDIA_VIDEO) {
      port->keyframe_pending = g_new0 (gint, 1);
      src = gst_element_get_static_pad (selector, "src");
      gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER, on_selector_buffer,
          port->keyframe_pending, g_free);
      out = g_new0 (MtOutputSize, 1);
      out->caps = gst_object_ref (output_caps);
      gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
          on_selector_caps, out, output_size_free);
      gst_object_unref (src);
    }
    sink = gst_element_get_static_pad (tee, "sink");
    mt_flow_watch_pad (el->flow_out[m], sink);
    gst_object_unref (sink);
    mt_source_set_origin (el, m, MT_FORMAT_RAW, tee);
  }
  if (port->hub->kind == MT_HUB_ONE_TO_MANY && port->hub->source)
    mt_dispatcher_connect (port->hub, port->hub->source, port);
  return TRUE;
}

void
mt_dispatcher_connect (MtHub * hub, MtHubPort * source, MtHubPort * sink)
{
  guint m;

  for (m = 0; m < MT_MEDIA_COUNT; m++) {
    MtHubLink *old = sink->selected[m], *link;

    if (old && old->from == source)
      continue;
    link = mt_hub_link (hub, source, sink, m, sink->selector[m]);
    g_object_set (sink->selector[m], "active-pad", link->sink_pad, NULL);
    sink->selected[m] = link;
    if (old)
      mt_hub_cut (hub, old);
    if (m == MT_MEDIA_VIDEO)
      g_atomic_int_set (sink->keyframe_pending, 1);
  }
  GST_INFO ("%s: %s -> %s", hub->el->id, source->el->id, sink->el->id);
}

static void
disconnect_sink (MtHub * hub, MtHubPort * sink)
{
  guint m;

  for (m = 0; m < MT_MEDIA_COUNT; m++)
    if (sink->selected[m]) {
      mt_hub_cut (hub, sink->selected[m]);
      sink->selected[m] = NULL;
    }
}

/* A released port: hub.c has cut its links already; forget them here. */
void
mt_dispatcher_port_gone (MtHubPort * port)
{
  MtHub *hub = port->hub;
  GList *l;
  guint m;

  for (l = hub->ports; l; l = l->next) {
    MtHubPort *other = l->data;

    for (m = 0; m < MT_MEDIA_COUNT; m++)
      if (other->selected[m] && other->selected[m]->from == NULL)
        other->selected[m] = NULL;
  }
  if (hub->source == port)
    hub->source = NULL;
}

JsonObject *
mt_hub_connect (JsonObject * params, GError ** error)
{
  MtHub *hub = mt_hub_lookup (params, "id", error);
  MtHubPort *source, *sink;

  if (!hub)
    return NULL;
  if (hub->kind != MT_HUB_DISPATCHER) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE, "%s is not a Dispatcher",
        hub->el->id);
    return NULL;
  }
  if (!(source = mt_hub_port_lookup (hub, params, "source", error))
      || !(sink = mt_hub_port_lookup (hub, params, "sink", error)))
    return NULL;
  mt_dispatcher_connect (hub, source, sink);
  return json_object_new ();
}

static MtHub *
one_to_many (JsonObject * params, GError ** error)
{
  MtHub *hub = mt_hub_lookup (params, "id", error);

  if (hub && hub->kind != MT_HUB_ONE_TO_MANY) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "%s is not a DispatcherOneToMany", hub->el->id);
    return NULL;
  }
  return hub;
}

JsonObject *
mt_hub_set_source (JsonObject * params, GError ** error)
{
  MtHub *hub = one_to_many (params, error);
  MtHubPort *source;
  GList *l;

  if (!hub || !(source = mt_hub_port_lookup (hub, params, "source", error)))
    return NULL;
  hub->source = source;
  for (l = hub->ports; l; l = l->next)
    mt_dispatcher_connect (hub, source, l->data);
  return json_object_new ();
}

JsonObject *
mt_hub_remove_source (JsonObject * params, GError ** error)
{
  MtHub *hub = one_to_many (params, error);
  GList *l;

  if (!hub)
    return NULL;
  hub->source = NULL;
  for (l = hub->ports; l; l = l->next)
    disconnect_sink (hub, l->data);
  return json_object_new ();
}
