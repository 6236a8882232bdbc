/* Line framing and JSON messages on the protocol pipes (fd 3 in, fd 4 out). */
#ifndef MT_PROTOCOL_H
#define MT_PROTOCOL_H

#include <glib.h>
#include <json-glib/json-glib.h>

/* Error names of PROTOCOL.md; the code of an MT_ERROR GError selects the name. */
typedef enum
{
  MT_ERROR_TYPE,
  MT_ERROR_NOT_FOUND,
  MT_ERROR_INVALID_STATE,
  MT_ERROR_SDP,
  MT_ERROR_ICE,
  MT_ERROR_SEEK,
  MT_ERROR_UNSUPPORTED,
  MT_ERROR_INTERNAL,
} MtErrorCode;

#define MT_ERROR (mt_error_quark ())
GQuark mt_error_quark (void);

#define MT_PROTOCOL_IN_FD 3
#define MT_PROTOCOL_OUT_FD 4
#define MT_PROTOCOL_MAX_LINE (1024 * 1024)

typedef void (*MtLineFunc) (const gchar * line, gsize len);

/* The reply and notify functions take ownership of the object passed. */

gboolean mt_protocol_start (MtLineFunc on_line, GSourceFunc on_eof);
void mt_protocol_reply_ok (gint64 id, JsonObject * result);
void mt_protocol_reply_error (gint64 id, const GError * error);
void mt_protocol_notify (const gchar * event, const gchar * target,
    JsonObject * data);
void mt_protocol_error (const gchar * format, ...) G_GNUC_PRINTF (1, 2);

/* Parameter accessors: they set a TypeError and return FALSE/NULL when a
 * field is missing or has the wrong type. */
const gchar *mt_param_string (JsonObject * params, const gchar * name,
    GError ** error);
gboolean mt_param_bool (JsonObject * params, const gchar * name,
    gboolean fallback, gboolean * out, GError ** error);
gboolean mt_param_int (JsonObject * params, const gchar * name,
    gboolean required, gint64 fallback, gint64 * out, GError ** error);

#endif
