/* MediaFlowIn / MediaFlowOut detection.
 *
 * A buffer probe on a pad stamps the time of the last buffer (streaming
 * thread, atomics only); a main-loop timer turns the stamps into events:
 * FLOWING once a buffer was seen, NOT_FLOWING after FLOW_TIMEOUT without
 * one.  Probes hold a reference on the flow, so a probe still running while
 * its element is released never touches freed memory. */
#include "worker.h"

#define FLOW_TIMEOUT_US (2 * G_USEC_PER_SEC)
#define FLOW_TICK_MS 100

struct _MtFlow
{
  gint refcount;
  gint64 last_buffer_us;        /* atomic; 0 = never */
  gboolean flowing;             /* main thread only */
  gboolean dead;                /* element released */
  gchar *element_id;
  MtMediaType media;
  gboolean incoming;
};

static GList *flows;

static MtFlow *
flow_ref (MtFlow * flow)
{
  g_atomic_int_inc (&flow->refcount);
  return flow;
}

static void
flow_unref (gpointer data)
{
  MtFlow *flow = data;

  if (g_atomic_int_dec_and_test (&flow->refcount)) {
    g_free (flow->element_id);
    g_free (flow);
  }
}

MtFlow *
mt_flow_new (const gchar * element_id, MtMediaType media, gboolean incoming)
{
  MtFlow *flow = g_new0 (MtFlow, 1);

  flow->refcount = 1;
  flow->element_id = g_strdup (element_id);
  flow->media = media;
  flow->incoming = incoming;
  flows = g_list_prepend (flows, flow);
  return flow;
}

static GstPadProbeReturn
on_flow_buffer (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  MtFlow *flow = user_data;

  __atomic_store_n (&flow->last_buffer_us, g_get_monotonic_time (),
      __ATOMIC_RELAXED);
  return GST_PAD_PROBE_OK;
}

void
mt_flow_watch_pad (MtFlow * flow, GstPad * pad)
{
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_BUFFER_LIST, on_flow_buffer, flow_ref (flow),
      flow_unref);
}

void
mt_flow_free (MtFlow * flow)
{
  if (!flow)
    return;
  flows = g_list_remove (flows, flow);
  flow->dead = TRUE;
  flow_unref (flow);
}

static void
emit (MtFlow * flow, gboolean flowing)
{
  JsonObject *data = json_object_new ();

  flow->flowing = flowing;
  json_object_set_string_member (data, "mediaType", mt_media_name (flow->media));
  json_object_set_string_member (data, "state",
      flowing ? "FLOWING" : "NOT_FLOWING");
  mt_protocol_notify (flow->incoming ? "MediaFlowIn" : "MediaFlowOut",
      flow->element_id, data);
}

static gboolean
on_tick (gpointer user_data)
{
  gint64 now = g_get_monotonic_time ();
  GList *l;

  for (l = flows; l; l = l->next) {
    MtFlow *flow = l->data;
    gint64 last = __atomic_load_n (&flow->last_buffer_us, __ATOMIC_RELAXED);

    if (last == 0)
      continue;
    if (!flow->flowing && now - last < FLOW_TIMEOUT_US)
      emit (flow, TRUE);
    else if (flow->flowing && now - last >= FLOW_TIMEOUT_US)
      emit (flow, FALSE);
  }
  return G_SOURCE_CONTINUE;
}

void
mt_flow_start_timer (void)
{
  g_timeout_add (FLOW_TICK_MS, on_tick, NULL);
}
