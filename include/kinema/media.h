/*
 * kinema/media.h - images, frames, video decode/encode, JPEG/PNG.
 *
 * Images are RGB24, GRAY8 or planar float; frames are refcounted images with
 * a timestamp, so one decoded frame can be handed to several threads.
 * Decoding and encoding use FFmpeg's libraries (libavformat, libavcodec,
 * libswscale); JPEG uses libjpeg-turbo, PNG uses libpng.
 *
 * Every function that reads a file names the file and the reason in
 * km_errmsg() when it fails; bad, truncated, empty or random files fail
 * cleanly with KM_EFORMAT (or KM_ENOTFOUND / KM_EIO).
 */
#ifndef KINEMA_MEDIA_H
#define KINEMA_MEDIA_H

#include <stdint.h>
#include <stddef.h>
#include "kinema/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ image */

typedef enum {
    KM_PIX_RGB24,   /* 3 bytes per pixel, R G B */
    KM_PIX_GRAY8,   /* 1 byte per pixel */
    KM_PIX_FLOAT,   /* planar float: `channels` planes of width*height,
                       plane c starts at data + c * plane_stride bytes */
} km_pixfmt;

/* Largest width or height accepted anywhere (protects size arithmetic). */
#define KM_IMAGE_MAX_DIM 16384

typedef struct km_image {
    int width, height;
    int channels;        /* 3 for RGB24, 1 for GRAY8, 1..4 for FLOAT */
    km_pixfmt fmt;
    size_t stride;       /* bytes between rows (64-byte aligned rows) */
    size_t plane_stride; /* FLOAT only: bytes between planes */
    uint8_t *data;       /* owned by the image, 64-byte aligned */
} km_image;

/* New zeroed image; channels is ignored for RGB24/GRAY8. NULL on failure
 * (km_errmsg set). Free with km_image_free. */
km_image *km_image_new(int width, int height, km_pixfmt fmt, int channels);
void km_image_free(km_image *img);
km_image *km_image_clone(const km_image *img);
/* Row pointer (8-bit formats) and plane pointer (FLOAT). */
static inline uint8_t *km_image_row(const km_image *img, int y)
{
    return img->data + (size_t)y * img->stride;
}
static inline float *km_image_plane(const km_image *img, int c)
{
    return (float *)(img->data + (size_t)c * img->plane_stride);
}

/* Convert between formats into a new image. RGB->GRAY uses BT.601 luma
 * (0.299 R + 0.587 G + 0.114 B, as OpenCV); 8-bit -> FLOAT maps 0..255 to
 * value * scale + offset per channel; FLOAT -> 8-bit inverts that and
 * saturates. */
km_image *km_image_convert(const km_image *src, km_pixfmt fmt, float scale, float offset);

typedef enum { KM_INTERP_NEAREST, KM_INTERP_BILINEAR, KM_INTERP_AREA, KM_INTERP_BICUBIC } km_interp;
/* Resize an RGB24 or GRAY8 image (swscale) into a new image. */
km_image *km_image_resize(const km_image *src, int width, int height, km_interp interp);

/* ------------------------------------------------------------------ frame */

/* A decoded frame: an image plus where it sits in its stream. Refcounted;
 * the image is owned by the frame and freed with the last reference. */
typedef struct km_frame {
    km_image *img;
    int64_t index;    /* 0-based frame number in decode order */
    int64_t pts;      /* presentation timestamp in stream time base */
    double time_s;    /* pts in seconds from the stream start */
    int refcount_;    /* private: use km_frame_ref / km_frame_unref */
} km_frame;

/* Wrap `img` (ownership moves to the frame) with refcount 1. */
km_frame *km_frame_new(km_image *img, int64_t index, int64_t pts, double time_s);
km_frame *km_frame_ref(km_frame *f);   /* returns f; thread-safe */
void km_frame_unref(km_frame *f);      /* frees at zero; NULL is a no-op */

/* ------------------------------------------------------- video probe/read */

typedef struct km_video_info {
    int width, height;
    double fps;         /* average frame rate (0 if unknown) */
    int64_t frames;     /* frame count (counted by demuxing when the header
                           does not say; -1 for live sources) */
    double duration;    /* seconds (0 if unknown) */
    char codec[32];     /* decoder short name, e.g. "h264" */
} km_video_info;

/* Probe a file, URL or device. */
int km_probe(const char *url, km_video_info *info);

typedef struct km_reader_opts {
    int threads;          /* decoder threads; 0 = 1 */
    km_pixfmt fmt;        /* RGB24 (default) or GRAY8 */
    int width, height;    /* scale output to this size; 0 = native (one
                             side 0: follows the aspect ratio) */
    int64_t timeout_ms;   /* network/device open and read timeout; 0 = 10 s */
} km_reader_opts;
#define KM_READER_OPTS_DEFAULT { 1, KM_PIX_RGB24, 0, 0, 0 }

typedef struct km_reader km_reader;

/* Open a file, an rtsp:// / http(s):// URL (RTSP over TCP) or a V4L2 device
 * (/dev/videoN). opts may be NULL for the defaults. Close with
 * km_reader_close. */
int km_reader_open(km_reader **out, const char *url, const km_reader_opts *opts);
/* Borrowed info of the open stream; width and height are those of the
 * frames km_reader_read returns (the requested output size, if any). */
const km_video_info *km_reader_info(const km_reader *r);
/* Next frame (owned by the caller: km_frame_unref). KM_EEOF at the end. */
int km_reader_read(km_reader *r, km_frame **out);
/* Decode the next frame and drop it without converting its pixels (like
 * OpenCV's grab()): for skipping frames cheaply and for measuring raw decode
 * speed. KM_EEOF at the end. */
int km_reader_skip(km_reader *r);
/* Seek so that the next read returns the first frame with time >= t_s
 * (frame accurate: decodes from the preceding keyframe). */
int km_reader_seek(km_reader *r, double t_s);
void km_reader_close(km_reader *r);

/* ----------------------------------------------------------- video write */

typedef struct km_writer_opts {
    const char *codec;  /* "h264", "vp9", "gif"; NULL: from the extension
                           (.mp4/.mkv -> h264, .webm -> vp9, .gif -> gif) */
    int crf;            /* quality for h264/vp9; < 0 = codec default (23/32) */
    double fps;         /* frame rate; <= 0 = 25 */
    int threads;        /* encoder threads; 0 = 1 */
} km_writer_opts;
#define KM_WRITER_OPTS_DEFAULT { NULL, -1, 25.0, 1 }

typedef struct km_writer km_writer;

/* Open `path` for writing frames of width x height. The file is written to a
 * temporary name and renamed into place by a successful km_writer_close, so
 * a failed or abandoned write leaves nothing at `path`. */
int km_writer_open(km_writer **out, const char *path, int width, int height,
                   const km_writer_opts *opts);
/* Encode one RGB24 or GRAY8 image of the writer's size (borrowed). */
int km_writer_write(km_writer *w, const km_image *img);
/* Flush, finish the file, rename into place and free the writer. */
int km_writer_close(km_writer *w);
/* Free the writer and delete the partial output. */
void km_writer_abort(km_writer *w);

/* ---------------------------------------------------------- still images */

/* JPEG via libjpeg-turbo. quality 1..100. *out is malloc'd (caller frees). */
int km_jpeg_encode(const km_image *img, int quality, uint8_t **out, size_t *len);
/* Decode into a new RGB24 or GRAY8 image (owned). */
int km_jpeg_decode(const uint8_t *buf, size_t len, km_pixfmt fmt, km_image **out);
/* PNG via libpng. *out is malloc'd (caller frees). */
int km_png_encode(const km_image *img, uint8_t **out, size_t *len);
int km_png_decode(const uint8_t *buf, size_t len, km_pixfmt fmt, km_image **out);
/* Load a JPEG or PNG (by content) into a new RGB24 or GRAY8 image; path
 * may be a network URL (fetched, at most 512 MB, 10 s). */
int km_image_load(const char *path, km_pixfmt fmt, km_image **out);
/* Save by extension (.jpg/.jpeg/.png), atomically. quality for JPEG
 * (1..100; <= 0 = 95). */
int km_image_save(const char *path, const km_image *img, int quality);
/* True if the path's extension is a still image format kinema reads. */
int km_is_image_path(const char *path);

#ifdef __cplusplus
}
#endif
#endif /* KINEMA_MEDIA_H */
