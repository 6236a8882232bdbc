/* PassThrough: Kurento's transparent element.  Per media:
 *
 *   sink input (identity) -> tee (origin, raw)
 *
 * It takes raw media like a hub port does, so connecting it costs no
 * encoder, and every consumer shares the one tee.  A keyframe request from
 * a consumer travels upstream through the identity to the source's
 * encoder, as through any other link. */
#include "worker.h"

gboolean
mt_passthrough_create (MtElement * el, JsonObject * options, GError ** error)
{
  guint m;

  for (m = 0; m < MT_MEDIA_COUNT; m++) {
    const gchar *what = mt_media_name (m);
    gchar *name = g_strdup_printf ("%s-%s-in", el->id, what);
    GstElement *in = gst_element_factory_make ("identity", name);
    GstElement *tee;
    GstPad *sink, *tee_sink;

    g_free (name);
    name = g_strdup_printf ("%s-%s-tee", el->id, what);
    tee = mt_make_tee (name);
    g_free (name);
    if (!in || !tee) {
      g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL,
          "cannot make the PassThrough's elements");
      if (in)
        gst_object_unref (in);
      if (tee)
        gst_object_unref (tee);
      return FALSE;
    }
    mt_element_add_owned (el, tee);
    mt_element_add_owned (el, in);
    if (!gst_element_link (in, tee)) {
      g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL,
          "cannot link the PassThrough's %s", what);
      return FALSE;
    }
    gst_element_sync_state_with_parent (tee);
    gst_element_sync_state_with_parent (in);
    sink = gst_element_get_static_pad (in, "sink");
    tee_sink = gst_element_get_static_pad (tee, "sink");
    mt_flow_watch_pad (el->flow_in[m], sink);
    mt_flow_watch_pad (el->flow_out[m], tee_sink);
    mt_source_set_origin (el, m, MT_FORMAT_RAW, tee);
    mt_sink_set_input (el, m, MT_FORMAT_RAW, sink);
    gst_object_unref (tee_sink);
    gst_object_unref (sink);
  }
  return TRUE;
}
