/* Line framing on the protocol pipes and the JSON shapes of PROTOCOL.md.
 *
 * Everything here runs on the main loop thread: other threads hand their
 * notifications to the main loop first, so writes never interleave and a
 * notification caused by a request always follows that request's reply. */
#include "worker.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_QUARK (montage-worker-error, mt_error);

static const gchar *const error_names[] = {
  [MT_ERROR_TYPE] = "TypeError",
  [MT_ERROR_NOT_FOUND] = "NotFoundError",
  [MT_ERROR_INVALID_STATE] = "InvalidStateError",
  [MT_ERROR_SDP] = "SdpError",
  [MT_ERROR_ICE] = "IceError",
  [MT_ERROR_SEEK] = "SeekError",
  [MT_ERROR_UNSUPPORTED] = "UnsupportedError",
  [MT_ERROR_INTERNAL] = "InternalError",
};

typedef struct
{
  GIOChannel *channel;
  GString *buffer;
  /* TRUE while skipping the rest of an over-long line. */
  gboolean discarding;
  MtLineFunc on_line;
  GSourceFunc on_eof;
} MtReader;

static MtReader reader;

/* Writes one complete line; the pipe is blocking so a slow engine applies
 * back-pressure instead of losing messages. */
static void
write_line (const gchar * text)
{
  GString *line = g_string_new (text);
  gsize done = 0;

  g_string_append_c (line, '\n');
  while (done < line->len) {
    ssize_t n = write (MT_PROTOCOL_OUT_FD, line->str + done, line->len - done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      /* The engine is gone; nothing useful can be reported any more. */
      GST_WARNING ("protocol write failed: %s", g_strerror (errno));
      break;
    }
    done += n;
  }
  g_string_free (line, TRUE);
}

static void
write_object (JsonObject * object)
{
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  gchar *text;

  json_node_set_object (node, object);
  text = json_to_string (node, FALSE);
  write_line (text);
  g_free (text);
  json_node_unref (node);
}

void
mt_protocol_reply_ok (gint64 id, JsonObject * result)
{
  JsonObject *msg = json_object_new ();

  json_object_set_int_member (msg, "id", id);
  json_object_set_object_member (msg, "result",
      result ? result : json_object_new ());
  write_object (msg);
  json_object_unref (msg);
}

void
mt_protocol_reply_error (gint64 id, const GError * error)
{
  JsonObject *msg = json_object_new ();
  JsonObject *err = json_object_new ();
  const gchar *name = error_names[MT_ERROR_INTERNAL];

  if (error->domain == MT_ERROR && error->code >= 0
      && error->code < (gint) G_N_ELEMENTS (error_names))
    name = error_names[error->code];
  json_object_set_string_member (err, "name", name);
  json_object_set_string_member (err, "message", error->message);
  json_object_set_int_member (msg, "id", id);
  json_object_set_object_member (msg, "error", err);
  write_object (msg);
  json_object_unref (msg);
}

void
mt_protocol_notify (const gchar * event, const gchar * target,
    JsonObject * data)
{
  JsonObject *msg = json_object_new ();

  json_object_set_string_member (msg, "event", event);
  if (target)
    json_object_set_string_member (msg, "target", target);
  json_object_set_object_member (msg, "data", data ? data : json_object_new ());
  write_object (msg);
  json_object_unref (msg);
}

void
mt_protocol_error (const gchar * format, ...)
{
  JsonObject *data = json_object_new ();
  va_list args;
  gchar *message;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  GST_WARNING ("protocol error: %s", message);
  json_object_set_string_member (data, "message", message);
  mt_protocol_notify ("protocolError", NULL, data);
  g_free (message);
}

static void
split_lines (void)
{
  gchar *nl;

  while ((nl = memchr (reader.buffer->str, '\n', reader.buffer->len))) {
    gsize len = nl - reader.buffer->str;

    *nl = '\0';
    if (reader.discarding)
      reader.discarding = FALSE;
    else if (len > 0)
      reader.on_line (reader.buffer->str, len);
    g_string_erase (reader.buffer, 0, len + 1);
  }
  if (reader.buffer->len > MT_PROTOCOL_MAX_LINE) {
    if (!reader.discarding)
      mt_protocol_error ("line longer than %d bytes ignored",
          MT_PROTOCOL_MAX_LINE);
    reader.discarding = TRUE;
    g_string_truncate (reader.buffer, 0);
  }
}

static gboolean
on_input (GIOChannel * channel, GIOCondition condition, gpointer user_data)
{
  gchar chunk[65536];
  ssize_t n;

  n = read (MT_PROTOCOL_IN_FD, chunk, sizeof (chunk));
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return G_SOURCE_CONTINUE;
  if (n <= 0) {
    reader.on_eof (NULL);
    return G_SOURCE_REMOVE;
  }
  g_string_append_len (reader.buffer, chunk, n);
  split_lines ();
  return G_SOURCE_CONTINUE;
}

gboolean
mt_protocol_start (MtLineFunc on_line, GSourceFunc on_eof)
{
  reader.buffer = g_string_new (NULL);
  reader.on_line = on_line;
  reader.on_eof = on_eof;
  reader.channel = g_io_channel_unix_new (MT_PROTOCOL_IN_FD);
  g_io_add_watch (reader.channel, G_IO_IN | G_IO_HUP | G_IO_ERR, on_input,
      NULL);
  return TRUE;
}

const gchar *
mt_param_string (JsonObject * params, const gchar * name, GError ** error)
{
  JsonNode *node = json_object_get_member (params, name);

  if (!node || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "parameter '%s' must be a string", name);
    return NULL;
  }
  return json_node_get_string (node);
}

gboolean
mt_param_bool (JsonObject * params, const gchar * name, gboolean fallback,
    gboolean * out, GError ** error)
{
  JsonNode *node = json_object_get_member (params, name);

  *out = fallback;
  if (!node || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_BOOLEAN) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "parameter '%s' must be a boolean", name);
    return FALSE;
  }
  *out = json_node_get_boolean (node);
  return TRUE;
}

gboolean
mt_param_int (JsonObject * params, const gchar * name, gboolean required,
    gint64 fallback, gint64 * out, GError ** error)
{
  JsonNode *node = json_object_get_member (params, name);
  GType type;

  *out = fallback;
  if (!node || JSON_NODE_HOLDS_NULL (node)) {
    if (!required)
      return TRUE;
    goto bad;
  }
  if (!JSON_NODE_HOLDS_VALUE (node))
    goto bad;
  type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64) {
    *out = json_node_get_int (node);
    return TRUE;
  }
  if (type == G_TYPE_DOUBLE) {
    gdouble d = json_node_get_double (node);
    if (d >= (gdouble) G_MININT64 && d <= (gdouble) G_MAXINT64) {
      *out = (gint64) d;
      return TRUE;
    }
  }
bad:
  g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
      "parameter '%s' must be a number", name);
  return FALSE;
}
