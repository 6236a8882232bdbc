/* Kurento's filters module: GStreamerFilter, ZBarFilter, ImageOverlayFilter
 * and FaceOverlayFilter.
 *
 * A filter is an element with a sink input and a source per media type,
 * like a HubPort, so link.c connects it like any other element.  The media
 * type it works on runs through
 *
 *   identity (sink input) -> convert -> FILTER -> convert -> capsfilter
 *       -> origin tee (RAW: I420, or S16LE 48 kHz stereo)
 *
 * and the other media type passes through `identity -> tee` untouched, as in
 * Kurento, where a video filter forwards the audio as it came.  The
 * converters let the filter negotiate the format it wants (edgetv wants RGB,
 * facedetect RGB, zbar grey or I420) while everything around it stays RAW.
 *
 * The filter plugins (zbar from gstreamer1.0-plugins-bad, facedetect from
 * gstreamer1.0-opencv) are looked up when a filter is created, not at
 * worker startup: a machine without the OpenCV plugin still runs every
 * pipeline, and only a FaceOverlayFilter create fails, with a clear error.
 *
 * Overlays (ImageOverlayFilter, FaceOverlayFilter) are drawn by a buffer
 * probe on the capsfilter's source pad with GstVideoOverlayComposition,
 * which scales and alpha-blends BGRA images into the I420 frame.  Images
 * are decoded once, off the main loop, by a small GStreamer pipeline of
 * their own (uridecodebin ! videoconvert ! BGRA appsink). */
#include "worker.h"

#include <gst/app/app.h>
#include <gst/video/video.h>
#include <gst/video/gstvideometa.h>
#include <string.h>

/* How long decoding an overlay image may take (an http:// image included). */
#define IMAGE_LOAD_TIMEOUT (10 * GST_SECOND)
/* Kurento raises CodeFound again for the same code after this long. */
#define CODE_REPEAT (GST_SECOND)

typedef enum
{
  MT_FILTER_GSTREAMER,
  MT_FILTER_ZBAR,
  MT_FILTER_IMAGE_OVERLAY,
  MT_FILTER_FACE_OVERLAY,
} MtFilterKind;

/* One decoded overlay image and where it goes (fractions of the frame for
 * ImageOverlayFilter, of the face for FaceOverlayFilter). */
typedef struct
{
  gint refcount;
  gchar *name;                  /* ImageOverlayFilter's image id */
  GstBuffer *pixels;            /* BGRA with a GstVideoMeta */
  gint width, height;
  gdouble x, y, w, h;
  gboolean keep_aspect, center;
} MtImage;

/* State shared between the main loop and the streaming thread's probes;
 * every probe holds a reference, so a buffer still in flight while the
 * element is released never touches freed memory. */
typedef struct
{
  gint refcount;
  GMutex lock;
  GList *images;                /* (owned) MtImage, in drawing order */
  MtImage *face_image;          /* FaceOverlayFilter's image */
  GArray *faces;                /* GstVideoRectangle of the last frame */
} MtOverlay;

typedef struct
{
  MtElement *el;
  MtFilterKind kind;
  MtMediaType media;            /* the media type being filtered */
  GstElement *filter;           /* the filter proper */
  MtOverlay *overlay;
  /* ZBarFilter: the last code reported (Kurento's repeat rule). */
  gchar *last_type, *last_value;
  GstClockTime last_ts;
} MtFilter;

static guint filter_serial;

static gchar *
filter_name (const gchar * id, const gchar * what)
{
  return g_strdup_printf ("%s-%s-%u", id, what, ++filter_serial);
}

/* ---------------------------------------------------------------------- */
/* Images                                                                  */

static MtImage *
image_ref (MtImage * image)
{
  g_atomic_int_inc (&image->refcount);
  return image;
}

static void
image_unref (gpointer data)
{
  MtImage *image = data;

  if (!image || !g_atomic_int_dec_and_test (&image->refcount))
    return;
  g_free (image->name);
  gst_clear_buffer (&image->pixels);
  g_free (image);
}

static MtOverlay *
overlay_ref (MtOverlay * o)
{
  g_atomic_int_inc (&o->refcount);
  return o;
}

static void
overlay_unref (gpointer data)
{
  MtOverlay *o = data;

  if (!g_atomic_int_dec_and_test (&o->refcount))
    return;
  g_list_free_full (o->images, image_unref);
  image_unref (o->face_image);
  g_array_unref (o->faces);
  g_mutex_clear (&o->lock);
  g_free (o);
}

/* Decodes `uri` into BGRA pixels; blocking, so it runs on a thread. */
static GstBuffer *
decode_image (const gchar * uri, gint * width, gint * height, GError ** error)
{
  GstElement *pipeline = NULL, *sink;
  GstSample *sample = NULL;
  GstBuffer *pixels = NULL;
  GstVideoInfo info;
  GstBus *bus;
  GstMessage *msg;
  gchar *desc, *escaped;

  escaped = g_strescape (uri, NULL);
  desc = g_strdup_printf ("uridecodebin uri=\"%s\" ! videoconvert ! "
      "capsfilter caps=video/x-raw,format=BGRA ! appsink name=sink sync=false",
      escaped);
  g_free (escaped);
  pipeline = gst_parse_launch (desc, error);
  g_free (desc);
  if (!pipeline)
    goto out;
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  gst_element_set_state (pipeline, GST_STATE_PAUSED);
  /* Prerolled (a picture is waiting in the appsink) or failed, whichever
   * comes first: an error does not wake a pending preroll pull. */
  bus = gst_element_get_bus (pipeline);
  msg = gst_bus_timed_pop_filtered (bus, IMAGE_LOAD_TIMEOUT,
      GST_MESSAGE_ERROR | GST_MESSAGE_ASYNC_DONE);
  gst_object_unref (bus);
  if (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ASYNC_DONE)
    sample = gst_app_sink_try_pull_preroll (GST_APP_SINK (sink), 0);
  gst_object_unref (sink);
  if (!sample) {
    if (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      GError *err = NULL;
      gst_message_parse_error (msg, &err, NULL);
      g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
          "cannot read image %s: %s", uri, err->message);
      g_clear_error (&err);
    } else {
      g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
          "cannot read image %s: no picture within %u s", uri,
          (guint) (IMAGE_LOAD_TIMEOUT / GST_SECOND));
    }
    g_clear_pointer (&msg, gst_message_unref);
    goto out;
  }
  g_clear_pointer (&msg, gst_message_unref);
  if (!gst_video_info_from_caps (&info, gst_sample_get_caps (sample))) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "cannot read image %s: not a picture", uri);
    goto out;
  }
  /* A copy of our own: the sample's memory belongs to the decoder. */
  pixels = gst_buffer_copy_deep (gst_sample_get_buffer (sample));
  gst_buffer_add_video_meta_full (pixels, GST_VIDEO_FRAME_FLAG_NONE,
      GST_VIDEO_OVERLAY_COMPOSITION_FORMAT_RGB, info.width, info.height, 1,
      info.offset, info.stride);
  *width = info.width;
  *height = info.height;

out:
  if (sample)
    gst_sample_unref (sample);
  if (pipeline) {
    gst_element_set_state (pipeline, GST_STATE_NULL);
    gst_object_unref (pipeline);
  }
  return pixels;
}

/* An image load in flight: a thread decodes, the main loop applies and
 * replies (the request's reply is deferred meanwhile). */
typedef struct
{
  gint64 request;
  gchar *element_id;
  gchar *uri;
  MtImage *image;               /* placement filled in; pixels by the thread */
  GError *error;
} MtImageLoad;

static void
image_load_free (gpointer data)
{
  MtImageLoad *load = data;

  g_free (load->element_id);
  g_free (load->uri);
  image_unref (load->image);
  g_clear_error (&load->error);
  g_free (load);
}

static gint
image_named (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (((const MtImage *) a)->name, b);
}

static gboolean
image_load_done (gpointer data)
{
  MtImageLoad *load = data;
  MtElement *el = mt_element_lookup (load->element_id, NULL);
  MtFilter *f;
  MtOverlay *o;
  GList *old;

  if (load->error) {
    mt_protocol_reply_error (load->request, load->error);
    return G_SOURCE_REMOVE;
  }
  if (!el || !el->priv) {
    GError *error = NULL;
    g_set_error (&error, MT_ERROR, MT_ERROR_NOT_FOUND,
        "element %s not found", load->element_id);
    mt_protocol_reply_error (load->request, error);
    g_clear_error (&error);
    return G_SOURCE_REMOVE;
  }
  f = el->priv;
  o = f->overlay;
  g_mutex_lock (&o->lock);
  if (f->kind == MT_FILTER_FACE_OVERLAY) {
    image_unref (o->face_image);
    o->face_image = image_ref (load->image);
  } else {
    /* Kurento replaces an image added again under the same id. */
    old = g_list_find_custom (o->images, load->image->name, image_named);
    if (old) {
      image_unref (old->data);
      old->data = image_ref (load->image);
    } else {
      o->images = g_list_append (o->images, image_ref (load->image));
    }
  }
  g_mutex_unlock (&o->lock);
  mt_protocol_reply_ok (load->request, json_object_new ());
  return G_SOURCE_REMOVE;
}

static gpointer
image_load_thread (gpointer data)
{
  MtImageLoad *load = data;

  load->image->pixels = decode_image (load->uri, &load->image->width,
      &load->image->height, &load->error);
  mt_invoke (image_load_done, load, image_load_free);
  return NULL;
}

/* Starts loading an image for `f`; the request is answered when it is in
 * place (or could not be read). */
static void
image_load_start (MtFilter * f, const gchar * uri, MtImage * image)
{
  MtImageLoad *load = g_new0 (MtImageLoad, 1);
  GThread *thread;

  load->request = mt_request_defer ();
  load->element_id = g_strdup (f->el->id);
  load->uri = g_strdup (uri);
  load->image = image;
  thread = g_thread_new ("image-load", image_load_thread, load);
  g_thread_unref (thread);
}

/* ---------------------------------------------------------------------- */
/* Drawing                                                                 */

/* Where an image goes inside the box (bx, by, bw, bh), in frame pixels. */
static void
place_image (MtImage * image, gint bx, gint by, gint bw, gint bh,
    gboolean keep_aspect, gboolean center, GstVideoRectangle * out)
{
  gint w = bw, h = bh;

  if (keep_aspect && image->width > 0 && image->height > 0) {
    /* The largest size of the image's shape that fits the box. */
    if ((gint64) bw * image->height > (gint64) bh * image->width) {
      w = (gint) ((gint64) bh * image->width / image->height);
    } else {
      h = (gint) ((gint64) bw * image->height / image->width);
    }
  }
  out->x = bx;
  out->y = by;
  if (center) {
    out->x += (bw - w) / 2;
    out->y += (bh - h) / 2;
  }
  out->w = w;
  out->h = h;
}

static void
add_rectangle (GstVideoOverlayComposition ** comp, MtImage * image,
    GstVideoRectangle * r)
{
  GstVideoOverlayRectangle *rect;

  if (r->w <= 0 || r->h <= 0)
    return;
  rect = gst_video_overlay_rectangle_new_raw (image->pixels, r->x, r->y,
      r->w, r->h, GST_VIDEO_OVERLAY_FORMAT_FLAG_NONE);
  if (!*comp)
    *comp = gst_video_overlay_composition_new (rect);
  else
    gst_video_overlay_composition_add_rectangle (*comp, rect);
  gst_video_overlay_rectangle_unref (rect);
}

/* Builds what to draw on a frame of width × height; NULL when nothing. */
static GstVideoOverlayComposition *
overlay_composition (MtOverlay * o, gint width, gint height)
{
  GstVideoOverlayComposition *comp = NULL;
  GstVideoRectangle r;
  GList *l;
  guint i;

  g_mutex_lock (&o->lock);
  for (l = o->images; l; l = l->next) {
    MtImage *image = l->data;
    place_image (image, (gint) (image->x * width), (gint) (image->y * height),
        (gint) (image->w * width), (gint) (image->h * height),
        image->keep_aspect, image->center, &r);
    add_rectangle (&comp, image, &r);
  }
  if (o->face_image) {
    MtImage *image = o->face_image;
    for (i = 0; i < o->faces->len; i++) {
      GstVideoRectangle *face = &g_array_index (o->faces, GstVideoRectangle,
          i);
      /* Offsets and sizes are ratios of the face's size.  The kmd says a
       * positive Y offset moves the image up, but Kurento adds it (its
       * magic-mirror tutorial puts a hat on the head with -1.2), and
       * apps are written against that. */
      r.x = face->x + (gint) (image->x * face->w);
      r.y = face->y + (gint) (image->y * face->h);
      r.w = (gint) (image->w * face->w);
      r.h = (gint) (image->h * face->h);
      add_rectangle (&comp, image, &r);
    }
  }
  g_mutex_unlock (&o->lock);
  return comp;
}

static GstPadProbeReturn
on_overlay_buffer (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  MtOverlay *o = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstVideoOverlayComposition *comp;
  GstVideoFrame frame;
  GstVideoInfo vinfo;
  GstCaps *caps;

  caps = gst_pad_get_current_caps (pad);
  if (!caps)
    return GST_PAD_PROBE_OK;
  if (!gst_video_info_from_caps (&vinfo, caps)) {
    gst_caps_unref (caps);
    return GST_PAD_PROBE_OK;
  }
  gst_caps_unref (caps);
  comp = overlay_composition (o, vinfo.width, vinfo.height);
  if (!comp)
    return GST_PAD_PROBE_OK;
  buf = gst_buffer_make_writable (buf);
  if (gst_video_frame_map (&frame, &vinfo, buf, GST_MAP_READWRITE)) {
    gst_video_overlay_composition_blend (comp, &frame);
    gst_video_frame_unmap (&frame);
  }
  gst_video_overlay_composition_unref (comp);
  GST_PAD_PROBE_INFO_DATA (info) = buf;
  return GST_PAD_PROBE_OK;
}

/* Remembers the faces facedetect found in this frame (its region of
 * interest metas), for the overlay probe further down the same thread. */
static GstPadProbeReturn
on_faces_buffer (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  MtOverlay *o = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstVideoRegionOfInterestMeta *meta;
  gpointer state = NULL;

  g_mutex_lock (&o->lock);
  g_array_set_size (o->faces, 0);
  while ((meta = (GstVideoRegionOfInterestMeta *)
          gst_buffer_iterate_meta_filtered (buf, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    GstVideoRectangle face = { meta->x, meta->y, meta->w, meta->h };
    if (meta->roi_type != g_quark_from_static_string ("face"))
      continue;
    g_array_append_val (o->faces, face);
  }
  g_mutex_unlock (&o->lock);
  return GST_PAD_PROBE_OK;
}

/* ---------------------------------------------------------------------- */
/* GStreamerFilter command checks                                          */

/* Property names that open files, devices or network connections. */
static gboolean
unsafe_property (const gchar * name)
{
  static const gchar *const words[] = {
    "location", "uri", "file", "path", "profile", "device", "host",
    "address", "socket", "dir", "url", "proxy", "model", "config", "temp",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (words); i++)
    if (strstr (name, words[i]))
      return TRUE;
  return FALSE;
}

/* A string property whose name says it names a file, a device or a host
 * may not be set (on the command line or with setElementProperty): a
 * client must not make the server read or write its files or open
 * connections through a filter. */
static gboolean
check_property (GstElement * filter, const gchar * name, GError ** error)
{
  GParamSpec *spec =
      g_object_class_find_property (G_OBJECT_GET_CLASS (filter), name);

  if (!spec) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "element '%s' has no property '%s'",
        GST_OBJECT_NAME (gst_element_get_factory (filter)), name);
    return FALSE;
  }
  if (!(spec->flags & G_PARAM_WRITABLE)) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "property '%s' of '%s' is read-only", name,
        GST_OBJECT_NAME (gst_element_get_factory (filter)));
    return FALSE;
  }
  if (G_IS_PARAM_SPEC_STRING (spec) && unsafe_property (name)) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "property '%s' of '%s' is refused: a filter may not name files, "
        "devices or hosts", name,
        GST_OBJECT_NAME (gst_element_get_factory (filter)));
    return FALSE;
  }
  return TRUE;
}

/* The factory must be a filter: always sink and source pads (which rules
 * out sources, sinks, tees and demuxers; textoverlay's second, text input
 * may stay unlinked), not a bin, and not classed as a source, a sink or
 * network element. */
static gboolean
check_factory (GstElementFactory * factory, GError ** error)
{
  const gchar *name = GST_OBJECT_NAME (factory);
  const gchar *klass =
      gst_element_factory_get_metadata (factory, GST_ELEMENT_METADATA_KLASS);
  const GList *l;
  guint sinks = 0, srcs = 0;

  for (l = gst_element_factory_get_static_pad_templates (factory); l;
      l = l->next) {
    GstStaticPadTemplate *t = l->data;
    if (t->presence != GST_PAD_ALWAYS)
      continue;
    if (t->direction == GST_PAD_SINK)
      sinks++;
    else if (t->direction == GST_PAD_SRC)
      srcs++;
  }
  if (sinks < 1 || srcs < 1 || (klass && (strstr (klass, "Source")
              || strstr (klass, "Sink") || strstr (klass, "Network")))) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "Given command is not valid, pad templates does not match: '%s' "
        "is not a filter with one input and one output", name);
    return FALSE;
  }
  return TRUE;
}

/* Parses `command` as Kurento does (one element, gst-launch syntax) and
 * refuses what a filter must not do; the element's properties from the
 * command line are checked too. */
static GstElement *
parse_command (const gchar * command, GError ** error)
{
  GstElement *filter;
  GError *parse_error = NULL;
  GParamSpec **specs;
  guint n, i;
  gboolean ok = TRUE;
  gchar **words;

  filter = gst_parse_launch_full (command, NULL, GST_PARSE_FLAG_FATAL_ERRORS,
      &parse_error);
  if (filter)
    gst_object_ref_sink (filter);
  if (!filter || parse_error) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "GStreamer filter cannot be created: %s",
        parse_error ? parse_error->message : "empty command");
    g_clear_error (&parse_error);
    if (filter)
      gst_object_unref (filter);
    return NULL;
  }
  if (GST_IS_BIN (filter)) {
    gst_object_unref (filter);
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "Given command is not valid, just one element can be created");
    return NULL;
  }
  if (!check_factory (gst_element_get_factory (filter), error)) {
    gst_object_unref (filter);
    return NULL;
  }
  /* The properties the command set: each word `name=value` after the
   * factory name (gst_parse has already applied them). */
  words = g_strsplit_set (command, " \t\n", -1);
  for (i = 1; words[i] && ok; i++) {
    gchar *eq = strchr (words[i], '=');
    if (!eq)
      continue;
    *eq = '\0';
    if (g_object_class_find_property (G_OBJECT_GET_CLASS (filter), words[i]))
      ok = check_property (filter, words[i], error);
  }
  g_strfreev (words);
  /* Whatever the parser did, no unsafe property may hold a value. */
  specs = g_object_class_list_properties (G_OBJECT_GET_CLASS (filter), &n);
  for (i = 0; i < n && ok; i++) {
    if (G_IS_PARAM_SPEC_STRING (specs[i]) && unsafe_property (specs[i]->name)
        && (specs[i]->flags & G_PARAM_WRITABLE)
        && (specs[i]->flags & G_PARAM_READABLE)) {
      gchar *value = NULL;
      const gchar *dflt = G_PARAM_SPEC_STRING (specs[i])->default_value;
      g_object_get (filter, specs[i]->name, &value, NULL);
      if (g_strcmp0 (value, dflt) != 0) {
        g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
            "property '%s' is refused: a filter may not name files, "
            "devices or hosts", specs[i]->name);
        ok = FALSE;
      }
      g_free (value);
    }
  }
  g_free (specs);
  if (!ok) {
    gst_object_unref (filter);
    return NULL;
  }
  return filter;
}

/* AUTODETECT: the media type the element's sink pad takes (video when it
 * takes anything). */
static MtMediaType
detect_media (GstElement * filter)
{
  GstPad *pad = gst_element_get_static_pad (filter, "sink");
  GstCaps *caps, *audio;
  MtMediaType media = MT_MEDIA_VIDEO;

  if (!pad)
    return media;
  caps = gst_pad_query_caps (pad, NULL);
  audio = gst_caps_from_string ("audio/x-raw");
  if (!gst_caps_is_any (caps) && gst_caps_can_intersect (caps, audio)) {
    GstCaps *video = gst_caps_from_string ("video/x-raw");
    if (!gst_caps_can_intersect (caps, video))
      media = MT_MEDIA_AUDIO;
    gst_caps_unref (video);
  }
  gst_caps_unref (audio);
  gst_caps_unref (caps);
  gst_object_unref (pad);
  return media;
}

/* ---------------------------------------------------------------------- */
/* The element                                                             */

static void
filter_destroy (MtElement * el)
{
  MtFilter *f = el->priv;

  if (f->overlay)
    overlay_unref (f->overlay);
  g_free (f->last_type);
  g_free (f->last_value);
  g_free (f);
  el->priv = NULL;
}

/* zbar's `barcode` messages become CodeFound, by Kurento's rule: a code is
 * reported when it differs from the last one, or a second after it. */
static void
filter_element_message (MtElement * el, GstMessage * msg)
{
  MtFilter *f = el->priv;
  const GstStructure *s = gst_message_get_structure (msg);
  const gchar *type, *symbol;
  GstClockTime ts = 0;
  JsonObject *data;

  if (!f || f->kind != MT_FILTER_ZBAR || !s
      || !gst_structure_has_name (s, "barcode"))
    return;
  type = gst_structure_get_string (s, "type");
  symbol = gst_structure_get_string (s, "symbol");
  if (!type || !symbol)
    return;
  gst_structure_get_clock_time (s, "timestamp", &ts);
  if (f->last_value && g_strcmp0 (f->last_value, symbol) == 0
      && g_strcmp0 (f->last_type, type) == 0
      && GST_CLOCK_TIME_IS_VALID (f->last_ts) && GST_CLOCK_TIME_IS_VALID (ts)
      && ts >= f->last_ts && ts - f->last_ts < CODE_REPEAT)
    return;
  g_free (f->last_type);
  g_free (f->last_value);
  f->last_type = g_strdup (type);
  f->last_value = g_strdup (symbol);
  f->last_ts = ts;
  data = json_object_new ();
  json_object_set_string_member (data, "codeType", type);
  json_object_set_string_member (data, "value", symbol);
  mt_protocol_notify ("CodeFound", el->id, data);
}

static GstElement *
make_owned (MtElement * el, const gchar * factory, const gchar * what)
{
  gchar *name = filter_name (el->id, what);
  GstElement *e = gst_element_factory_make (factory, name);

  g_free (name);
  if (e)
    mt_element_add_owned (el, e);
  return e;
}

/* identity -> tee for a media type the filter does not touch. */
static gboolean
setup_passthrough (MtElement * el, MtMediaType media, GError ** error)
{
  GstElement *identity, *tee;
  GstPad *sink, *out;
  gchar *name;

  identity = make_owned (el, "identity", media == MT_MEDIA_VIDEO ? "video-in"
      : "audio-in");
  name = filter_name (el->id, media == MT_MEDIA_VIDEO ? "video-tee"
      : "audio-tee");
  tee = mt_make_tee (name);
  g_free (name);
  mt_element_add_owned (el, tee);
  if (!identity || !gst_element_link (identity, tee)) {
    g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL,
        "cannot build the %s passthrough", mt_media_name (media));
    return FALSE;
  }
  gst_element_sync_state_with_parent (tee);
  gst_element_sync_state_with_parent (identity);
  sink = gst_element_get_static_pad (identity, "sink");
  out = gst_element_get_static_pad (tee, "sink");
  mt_flow_watch_pad (el->flow_in[media], sink);
  mt_flow_watch_pad (el->flow_out[media], out);
  mt_source_set_origin (el, media, MT_FORMAT_RAW, tee);
  mt_sink_set_input (el, media, MT_FORMAT_RAW, sink);
  gst_object_unref (sink);
  gst_object_unref (out);
  return TRUE;
}

/* identity -> converters -> filter elements -> converters -> capsfilter
 * -> tee; `chain` is the filter proper (one or more elements, linked in
 * order and owned by the element). */
static gboolean
setup_filtered (MtFilter * f, GList * chain, GError ** error)
{
  MtElement *el = f->el;
  gboolean video = f->media == MT_MEDIA_VIDEO;
  GstElement *identity, *conv_in, *scale_in, *conv_out, *scale_out, *caps,
      *tee, *prev;
  GstCaps *raw;
  GstPad *sink, *out;
  GList *l;
  gchar *name;

  identity = make_owned (el, "identity", video ? "video-in" : "audio-in");
  conv_in = make_owned (el, video ? "videoconvert" : "audioconvert",
      "convert-in");
  scale_in = make_owned (el, video ? "videoscale" : "audioresample",
      "scale-in");
  for (l = chain; l; l = l->next)
    mt_element_add_owned (el, l->data);
  conv_out = make_owned (el, video ? "videoconvert" : "audioconvert",
      "convert-out");
  scale_out = make_owned (el, video ? "videoscale" : "audioresample",
      "scale-out");
  caps = make_owned (el, "capsfilter", "caps");
  name = filter_name (el->id, video ? "video-tee" : "audio-tee");
  tee = mt_make_tee (name);
  g_free (name);
  mt_element_add_owned (el, tee);
  if (!identity || !conv_in || !scale_in || !conv_out || !scale_out
      || !caps) {
    g_set_error (error, MT_ERROR, MT_ERROR_INTERNAL,
        "cannot build the filter's converters");
    return FALSE;
  }
  /* The output keeps whatever size the filter gives (videoflip may turn
   * the picture); only the format is pinned, for the shared encoders. */
  raw = gst_caps_from_string (video ? "video/x-raw,format=I420"
      : "audio/x-raw,format=S16LE,rate=48000,channels=2,layout=interleaved");
  g_object_set (caps, "caps", raw, NULL);
  gst_caps_unref (raw);

  if (!gst_element_link_many (identity, conv_in, scale_in, NULL))
    goto link_failed;
  prev = scale_in;
  for (l = chain; l; l = l->next) {
    if (!gst_element_link (prev, l->data))
      goto link_failed;
    prev = l->data;
  }
  if (!gst_element_link_many (prev, conv_out, scale_out, caps, tee, NULL))
    goto link_failed;
  /* Downstream first, so nothing starts pushing into a stopped element. */
  gst_element_sync_state_with_parent (tee);
  gst_element_sync_state_with_parent (caps);
  gst_element_sync_state_with_parent (scale_out);
  gst_element_sync_state_with_parent (conv_out);
  for (l = g_list_last (chain); l; l = l->prev)
    gst_element_sync_state_with_parent (l->data);
  gst_element_sync_state_with_parent (scale_in);
  gst_element_sync_state_with_parent (conv_in);
  gst_element_sync_state_with_parent (identity);

  if (f->overlay) {
    out = gst_element_get_static_pad (caps, "src");
    gst_pad_add_probe (out, GST_PAD_PROBE_TYPE_BUFFER, on_overlay_buffer,
        overlay_ref (f->overlay), overlay_unref);
    gst_object_unref (out);
  }
  sink = gst_element_get_static_pad (identity, "sink");
  out = gst_element_get_static_pad (tee, "sink");
  mt_flow_watch_pad (el->flow_in[f->media], sink);
  mt_flow_watch_pad (el->flow_out[f->media], out);
  mt_source_set_origin (el, f->media, MT_FORMAT_RAW, tee);
  mt_sink_set_input (el, f->media, MT_FORMAT_RAW, sink);
  gst_object_unref (sink);
  gst_object_unref (out);
  return TRUE;

link_failed:
  g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
      "Given command is not valid: the filter cannot take raw %s",
      video ? "video" : "audio");
  return FALSE;
}

/* A plugin the filter needs, looked up at create (see the top). */
static GstElement *
make_plugin (const gchar * type, const gchar * factory, const gchar * package,
    GError ** error)
{
  GstElement *e = gst_element_factory_make (factory, NULL);

  if (!e)
    g_set_error (error, MT_ERROR, MT_ERROR_UNSUPPORTED,
        "%s plugin not available: %s (install %s)", type, factory, package);
  return e;
}

gboolean
mt_filter_create (MtElement * el, JsonObject * options, GError ** error)
{
  MtFilter *f = g_new0 (MtFilter, 1);
  GList *chain = NULL;
  GstPad *pad;
  gboolean ok;

  f->el = el;
  f->media = MT_MEDIA_VIDEO;
  f->last_ts = GST_CLOCK_TIME_NONE;
  el->priv = f;
  el->destroy = filter_destroy;
  el->element_message = filter_element_message;

  if (strcmp (el->type, "GStreamerFilter") == 0) {
    const gchar *command, *type = "AUTODETECT";
    f->kind = MT_FILTER_GSTREAMER;
    if (!options || !(command = mt_param_string (options, "command", error)))
      return FALSE;
    if (json_object_has_member (options, "filterType")
        && !(type = mt_param_string (options, "filterType", error)))
      return FALSE;
    if (!(f->filter = parse_command (command, error)))
      return FALSE;
    {
      /* A name from the command (name=x) could clash with another
       * filter's in the one pipeline; ours is unique. */
      gchar *name = filter_name (el->id, "filter");
      gst_object_set_name (GST_OBJECT (f->filter), name);
      g_free (name);
    }
    if (strcmp (type, "AUDIO") == 0)
      f->media = MT_MEDIA_AUDIO;
    else if (strcmp (type, "VIDEO") == 0)
      f->media = MT_MEDIA_VIDEO;
    else
      f->media = detect_media (f->filter);
    chain = g_list_append (chain, f->filter);
  } else if (strcmp (el->type, "ZBarFilter") == 0) {
    f->kind = MT_FILTER_ZBAR;
    if (!(f->filter = make_plugin ("ZBarFilter", "zbar",
                "gstreamer1.0-plugins-bad", error)))
      return FALSE;
    /* Every frame is scanned, however late (Kurento turns QoS off too). */
    g_object_set (f->filter, "qos", FALSE, "message", TRUE, NULL);
    chain = g_list_append (chain, f->filter);
  } else if (strcmp (el->type, "ImageOverlayFilter") == 0) {
    f->kind = MT_FILTER_IMAGE_OVERLAY;
  } else {
    f->kind = MT_FILTER_FACE_OVERLAY;
    if (!(f->filter = make_plugin ("FaceOverlayFilter", "facedetect",
                "gstreamer1.0-opencv and opencv-data", error)))
      return FALSE;
    /* Faces are drawn by us, not by facedetect: it reports them as region
     * metas.  Its eye/nose/mouth cascades are not in opencv-data; it logs
     * that once and detects faces alone (an empty name makes OpenCV
     * abort, so the defaults stay). */
    g_object_set (f->filter, "display", FALSE, "qos", FALSE,
        "min-size-width", 20, "min-size-height", 20, NULL);
    /* The metas are all we read; a bus message per frame would only cost. */
    gst_util_set_object_arg (G_OBJECT (f->filter), "updates", "none");
    chain = g_list_append (chain, f->filter);
  }
  if (f->kind == MT_FILTER_IMAGE_OVERLAY || f->kind == MT_FILTER_FACE_OVERLAY) {
    f->overlay = g_new0 (MtOverlay, 1);
    f->overlay->refcount = 1;
    g_mutex_init (&f->overlay->lock);
    f->overlay->faces = g_array_new (FALSE, FALSE, sizeof (GstVideoRectangle));
  }
  if (f->kind == MT_FILTER_FACE_OVERLAY) {
    pad = gst_element_get_static_pad (f->filter, "src");
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_faces_buffer,
        overlay_ref (f->overlay), overlay_unref);
    gst_object_unref (pad);
  }
  ok = setup_filtered (f, chain, error);
  /* The element list now holds the filter (mt_element_add_owned); the
   * parser's reference goes. */
  if (f->kind == MT_FILTER_GSTREAMER)
    gst_object_unref (f->filter);
  ok = ok && setup_passthrough (el, f->media == MT_MEDIA_VIDEO ? MT_MEDIA_AUDIO
      : MT_MEDIA_VIDEO, error);
  g_list_free (chain);
  return ok;
}

/* ---------------------------------------------------------------------- */
/* Methods                                                                 */

static MtFilter *
filter_lookup (JsonObject * params, MtFilterKind kind, GError ** error)
{
  const gchar *id = mt_param_string (params, "id", error);
  MtElement *el;
  MtFilter *f;

  if (!id || !(el = mt_element_lookup (id, error)))
    return NULL;
  f = el->destroy == filter_destroy ? el->priv : NULL;
  if (!f || f->kind != kind) {
    g_set_error (error, MT_ERROR, MT_ERROR_TYPE,
        "element %s is not a %s", id, kind == MT_FILTER_GSTREAMER
        ? "GStreamerFilter" : kind == MT_FILTER_IMAGE_OVERLAY
        ? "ImageOverlayFilter" : "FaceOverlayFilter");
    return NULL;
  }
  return f;
}

JsonObject *
mt_filter_set_element_property (JsonObject * params, GError ** error)
{
  MtFilter *f = filter_lookup (params, MT_FILTER_GSTREAMER, error);
  const gchar *name, *value;

  if (!f || !(name = mt_param_string (params, "propertyName", error))
      || !(value = mt_param_string (params, "propertyValue", error)))
    return NULL;
  if (!check_property (f->filter, name, error))
    return NULL;
  /* As gst-launch parses a value (enums by nick, numbers, booleans). */
  gst_util_set_object_arg (G_OBJECT (f->filter), name, value);
  return json_object_new ();
}

static gboolean
number (JsonObject * params, const gchar * name, gdouble * out,
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
  return TRUE;
}

JsonObject *
mt_filter_add_image (JsonObject * params, GError ** error)
{
  MtFilter *f = filter_lookup (params, MT_FILTER_IMAGE_OVERLAY, error);
  const gchar *name, *uri;
  MtImage *image;
  gboolean keep = FALSE, center = FALSE;
  gdouble x, y, w, h;

  if (!f || !(name = mt_param_string (params, "imageId", error))
      || !(uri = mt_param_string (params, "uri", error))
      || !number (params, "offsetXPercent", &x, error)
      || !number (params, "offsetYPercent", &y, error)
      || !number (params, "widthPercent", &w, error)
      || !number (params, "heightPercent", &h, error)
      || !mt_param_bool (params, "keepAspectRatio", FALSE, &keep, error)
      || !mt_param_bool (params, "center", FALSE, &center, error))
    return NULL;
  image = g_new0 (MtImage, 1);
  image->refcount = 1;
  image->name = g_strdup (name);
  image->x = x;
  image->y = y;
  image->w = w;
  image->h = h;
  image->keep_aspect = keep;
  image->center = center;
  image_load_start (f, uri, image);
  return NULL;
}

JsonObject *
mt_filter_remove_image (JsonObject * params, GError ** error)
{
  MtFilter *f = filter_lookup (params, MT_FILTER_IMAGE_OVERLAY, error);
  const gchar *name;
  GList *l;

  if (!f || !(name = mt_param_string (params, "imageId", error)))
    return NULL;
  g_mutex_lock (&f->overlay->lock);
  l = g_list_find_custom (f->overlay->images, name, image_named);
  if (l) {
    image_unref (l->data);
    f->overlay->images = g_list_delete_link (f->overlay->images, l);
  }
  g_mutex_unlock (&f->overlay->lock);
  return json_object_new ();
}

JsonObject *
mt_filter_set_overlayed_image (JsonObject * params, GError ** error)
{
  MtFilter *f = filter_lookup (params, MT_FILTER_FACE_OVERLAY, error);
  const gchar *uri;
  MtImage *image;
  gdouble x, y, w, h;

  if (!f || !(uri = mt_param_string (params, "uri", error))
      || !number (params, "offsetXPercent", &x, error)
      || !number (params, "offsetYPercent", &y, error)
      || !number (params, "widthPercent", &w, error)
      || !number (params, "heightPercent", &h, error))
    return NULL;
  image = g_new0 (MtImage, 1);
  image->refcount = 1;
  image->x = x;
  image->y = y;
  image->w = w;
  image->h = h;
  image_load_start (f, uri, image);
  return NULL;
}

JsonObject *
mt_filter_unset_overlayed_image (JsonObject * params, GError ** error)
{
  MtFilter *f = filter_lookup (params, MT_FILTER_FACE_OVERLAY, error);

  if (!f)
    return NULL;
  g_mutex_lock (&f->overlay->lock);
  image_unref (f->overlay->face_image);
  f->overlay->face_image = NULL;
  g_mutex_unlock (&f->overlay->lock);
  return json_object_new ();
}
