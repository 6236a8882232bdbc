/* The one GstPipeline of this process and the table of elements in it. */
#include "worker.h"

#include <string.h>

/* 20 ms of jitterbuffer: see --jitter-buffer-ms in PROTOCOL.md. */
MtConfig mt_config = { NULL, NULL, NULL, 0, 0, 20 };

typedef struct
{
  GstPipeline *pipeline;
  GHashTable *elements;         /* id -> MtElement */
  guint bus_watch;
} MtPipeline;

static MtPipeline pipe_state;

static const gchar *const media_names[] = { "AUDIO", "VIDEO" };
static const gchar *const format_names[] =
    { "NONE", "RAW", "VP8", "H264", "OPUS", "AAC" };

const gchar *
mt_media_name (MtMediaType media)
{
  return media_names[media];
}

gboolean
mt_media_parse (const gchar * name, MtMediaType * media)
{
  if (strcmp (name, "AUDIO") == 0)
    *media = MT_MEDIA_AUDIO;
  else if (strcmp (name, "VIDEO") == 0)
    *media = MT_MEDIA_VIDEO;
  else
    return FALSE;
  return TRUE;
}

const gchar *
mt_format_name (MtFormat format)
{
  return format_names[format];
}

GstBin *
mt_pipeline_bin (void)
{
  return GST_BIN (pipe_state.pipeline);
}

typedef struct
{
  GSourceFunc func;
  gpointer data;
  GDestroyNotify notify;
} MtInvoke;

static gboolean
invoke_cb (gpointer user_data)
{
  MtInvoke *inv = user_data;

  inv->func (inv->data);
  return G_SOURCE_REMOVE;
}

static void
invoke_free (gpointer user_data)
{
  MtInvoke *inv = user_data;

  if (inv->notify)
    inv->notify (inv->data);
  g_free (inv);
}

/* Always queued, never run inline, so that a notification triggered while a
 * request is being handled is written after that request's reply. */
void
mt_invoke (GSourceFunc func, gpointer data, GDestroyNotify notify)
{
  MtInvoke *inv = g_new0 (MtInvoke, 1);

  inv->func = func;
  inv->data = data;
  inv->notify = notify;
  g_idle_add_full (G_PRIORITY_DEFAULT, invoke_cb, inv, invoke_free);
}

void
mt_element_error (MtElement * self, const gchar * type,
    const gchar * description, gint code)
{
  JsonObject *data = json_object_new ();

  json_object_set_string_member (data, "type", type);
  json_object_set_string_member (data, "description", description);
  json_object_set_int_member (data, "errorCode", code);
  mt_protocol_notify ("Error", self ? self->id : NULL, data);
}

/* Which element does a GstObject (or one of its ancestors) belong to? */
static MtElement *
element_for_object (GstObject * obj)
{
  GHashTableIter iter;
  gpointer value;

  for (; obj; obj = GST_OBJECT_PARENT (obj)) {
    g_hash_table_iter_init (&iter, pipe_state.elements);
    while (g_hash_table_iter_next (&iter, NULL, &value)) {
      MtElement *el = value;
      if (g_list_find (el->owned, obj))
        return el;
    }
  }
  return NULL;
}

/* Kurento's Error types for failures it names (a recorder's file that cannot
 * be written any more: disk full, I/O error); anything else in the shared
 * pipeline is UNEXPECTED_ELEMENT_ERROR. */
static const gchar *
error_type (const GError * err)
{
  if (err->domain == GST_RESOURCE_ERROR) {
    switch (err->code) {
      case GST_RESOURCE_ERROR_NO_SPACE_LEFT:
        return "RESOURCE_ERROR_NO_SPACE_LEFT";
      case GST_RESOURCE_ERROR_WRITE:
        return "RESOURCE_ERROR_WRITE";
      default:
        break;
    }
  }
  return "UNEXPECTED_ELEMENT_ERROR";
}

static gboolean
on_bus_message (GstBus * bus, GstMessage * msg, gpointer user_data)
{
  GError *err = NULL;
  gchar *dbg = NULL;
  MtElement *el;

  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR:
      gst_message_parse_error (msg, &err, &dbg);
      GST_ERROR ("pipeline error from %s: %s (%s)",
          GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)), err->message,
          dbg ? dbg : "");
      GST_DEBUG_BIN_TO_DOT_FILE_WITH_TS (GST_BIN (pipe_state.pipeline),
          GST_DEBUG_GRAPH_SHOW_ALL, "montage-error");
      el = element_for_object (GST_MESSAGE_SRC (msg));
      /* An error of a part no element owns (a connection's queue that a
       * failed consumer stopped) has no one to report to: the consumer's
       * own element reports the cause. */
      if (el) {
        GstObject *src = GST_MESSAGE_SRC (msg);
        GstElementFactory *factory = GST_IS_ELEMENT (src) ?
            gst_element_get_factory (GST_ELEMENT (src)) : NULL;
        /* curl's own words ("HTTP response error: (received: 500)") do not
         * say that it was the recording's upload that failed. */
        gchar *description = factory
            && strcmp (GST_OBJECT_NAME (factory), "curlhttpsink") == 0 ?
            g_strdup_printf ("Could not upload the recording: %s",
            err->message) : g_strdup (err->message);

        mt_element_error (el, error_type (err), description, err->code);
        g_free (description);
      }
      g_clear_error (&err);
      g_free (dbg);
      break;
    case GST_MESSAGE_ELEMENT:
      el = element_for_object (GST_MESSAGE_SRC (msg));
      if (el && el->element_message)
        el->element_message (el, msg);
      break;
    case GST_MESSAGE_WARNING:
      gst_message_parse_warning (msg, &err, &dbg);
      GST_WARNING ("pipeline warning from %s: %s (%s)",
          GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)), err->message,
          dbg ? dbg : "");
      g_clear_error (&err);
      g_free (dbg);
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

void
mt_pipeline_init (void)
{
  GstBus *bus;

  pipe_state.pipeline = GST_PIPELINE (gst_pipeline_new ("montage"));
  pipe_state.elements = g_hash_table_new (g_str_hash, g_str_equal);
  bus = gst_pipeline_get_bus (pipe_state.pipeline);
  pipe_state.bus_watch = gst_bus_add_watch (bus, on_bus_message, NULL);
  gst_object_unref (bus);
  /* The pipeline runs live from the start; elements join it while
   * PLAYING and sync their state with it. */
  gst_element_set_state (GST_ELEMENT (pipe_state.pipeline), GST_STATE_PLAYING);
}

void
mt_pipeline_shutdown (void)
{
  GList *keys = g_hash_table_get_keys (pipe_state.elements), *l;
  GList *ids = NULL;

  /* Copy the ids: releasing frees the keys the list points to. */
  for (l = keys; l; l = l->next)
    ids = g_list_prepend (ids, g_strdup (l->data));
  g_list_free (keys);
  for (l = ids; l; l = l->next)
    mt_element_release (l->data);
  g_list_free_full (ids, g_free);
  gst_element_set_state (GST_ELEMENT (pipe_state.pipeline), GST_STATE_NULL);
  g_source_remove (pipe_state.bus_watch);
  gst_object_unref (pipe_state.pipeline);
  g_hash_table_unref (pipe_state.elements);
}

MtElement *
mt_element_lookup (const gchar * id, GError ** error)
{
  MtElement *el = g_hash_table_lookup (pipe_state.elements, id);

  if (!el)
    g_set_error (error, MT_ERROR, MT_ERROR_NOT_FOUND, "element %s not found",
        id);
  return el;
}

MtElement *
mt_element_new (const gchar * id, const gchar * type)
{
  MtElement *el = g_new0 (MtElement, 1);
  guint m;

  el->id = g_strdup (id);
  el->type = type;
  for (m = 0; m < MT_MEDIA_COUNT; m++) {
    el->flow_in[m] = mt_flow_new (id, m, TRUE);
    el->flow_out[m] = mt_flow_new (id, m, FALSE);
  }
  g_hash_table_insert (pipe_state.elements, el->id, el);
  return el;
}

/* Adds a GstElement to the pipeline on behalf of an element and starts it. */
void
mt_element_add_owned (MtElement * self, GstElement * element)
{
  gst_object_ref (element);
  if (!GST_OBJECT_PARENT (element))
    gst_bin_add (mt_pipeline_bin (), element);
  self->owned = g_list_prepend (self->owned, element);
}

void
mt_element_remove_owned (MtElement * self, GstElement * element)
{
  GList *l = g_list_find (self->owned, element);

  if (!l)
    return;
  self->owned = g_list_delete_link (self->owned, l);
  gst_element_set_state (element, GST_STATE_NULL);
  if (GST_OBJECT_PARENT (element) == GST_OBJECT (pipe_state.pipeline))
    gst_bin_remove (mt_pipeline_bin (), element);
  gst_object_unref (element);
}

void
mt_element_release (const gchar * id)
{
  MtElement *el = g_hash_table_lookup (pipe_state.elements, id);
  guint m;

  if (!el)
    return;
  GST_INFO ("releasing %s", id);
  /* Links first, so no branch of another element still points into us. */
  mt_link_forget_element (el);
  if (el->destroy)
    el->destroy (el);
  while (el->owned)
    mt_element_remove_owned (el, el->owned->data);
  for (m = 0; m < MT_MEDIA_COUNT; m++) {
    g_clear_object (&el->in[m].pad);
    mt_flow_free (el->flow_in[m]);
    mt_flow_free (el->flow_out[m]);
  }
  g_hash_table_remove (pipe_state.elements, id);
  g_free (el->id);
  g_free (el);
}

gchar *
mt_pipeline_dot (GstDebugGraphDetails details)
{
  return gst_debug_bin_to_dot_data (GST_BIN (pipe_state.pipeline), details);
}
