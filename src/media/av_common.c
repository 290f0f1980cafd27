/*
 * av_common.c - process-wide FFmpeg set-up and error mapping for media/.
 *
 * FFmpeg logs to stderr by default, which clutters a CLI and a server's
 * JSON logs; kinema reports failures through km_errmsg() instead, so the
 * library's own logging is turned off once (overridable for debugging).
 */
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/error.h>
#include <libavutil/log.h>

#include "media/media_priv.h"

static pthread_once_t av_once = PTHREAD_ONCE_INIT;

static int log_level_from_env(void)
{
    const char *v = getenv("KINEMA_AV_LOG");
    if (!v || !*v)
        return AV_LOG_QUIET;
    static const struct { const char *name; int level; } names[] = {
        { "quiet", AV_LOG_QUIET }, { "error", AV_LOG_ERROR },
        { "warning", AV_LOG_WARNING }, { "info", AV_LOG_INFO },
        { "debug", AV_LOG_DEBUG },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(v, names[i].name) == 0)
            return names[i].level;
    return AV_LOG_QUIET;
}

static void av_init_once(void)
{
    av_log_set_level(log_level_from_env());
}

void km__av_init(void)
{
    pthread_once(&av_once, av_init_once);
}

/* libavdevice (V4L2 input) is opened on first use, not linked: it pulls
 * in libavfilter and its dependencies (librsvg, flite voices, ...), 16 MB
 * of resident pages in every kinema process that never opens a camera. */
static pthread_once_t dev_once = PTHREAD_ONCE_INIT;
static int dev_ok;

static void devices_once(void)
{
    static const char *const names[] = {"libavdevice.so.59", "libavdevice.so"};
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !dev_ok; i++) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
        void *f = h ? dlsym(h, "avdevice_register_all") : NULL;
        if (f) {
            void (*register_all)(void);
            memcpy(&register_all, &f, sizeof(f)); /* object to function pointer */
            register_all();
            dev_ok = 1;
        }
    }
}

int km__av_devices(void)
{
    pthread_once(&dev_once, devices_once);
    return dev_ok;
}

int km__av_code(int averr)
{
    switch (averr) {
    case AVERROR(ENOENT): return KM_ENOTFOUND;
    case AVERROR(ENOMEM): return KM_ENOMEM;
    case AVERROR(EINVAL): return KM_EINVAL;
    case AVERROR(EIO): case AVERROR(EACCES): case AVERROR(EISDIR):
    case AVERROR(ENOSPC): case AVERROR(EROFS): return KM_EIO;
    case AVERROR(ETIMEDOUT): case AVERROR_EXIT: return KM_EAGAIN;
    case AVERROR_EOF: return KM_EEOF;
    case AVERROR_HTTP_NOT_FOUND: return KM_ENOTFOUND;
    case AVERROR_HTTP_BAD_REQUEST: case AVERROR_HTTP_UNAUTHORIZED:
    case AVERROR_HTTP_FORBIDDEN: case AVERROR_HTTP_OTHER_4XX:
    case AVERROR_HTTP_SERVER_ERROR: case AVERROR(ECONNREFUSED):
    case AVERROR(EHOSTUNREACH): case AVERROR(ENETUNREACH): return KM_EIO;
    case AVERROR_DECODER_NOT_FOUND: case AVERROR_DEMUXER_NOT_FOUND:
    case AVERROR_ENCODER_NOT_FOUND: case AVERROR_MUXER_NOT_FOUND:
    case AVERROR_PROTOCOL_NOT_FOUND: case AVERROR_OPTION_NOT_FOUND:
        return KM_EUNSUPPORTED;
    default: return KM_EFORMAT;
    }
}

const char *km__av_text(int averr, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
    if (av_strerror(averr, buf, cap) < 0)
        snprintf(buf, cap, "FFmpeg error %d", averr);
    return buf;
}

void km__path_ext(const char *path, char *ext, size_t cap)
{
    if (cap == 0)
        return;
    ext[0] = '\0';
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (!dot || dot[1] == '\0')
        return;
    size_t i = 0;
    for (const char *p = dot + 1; *p && i + 1 < cap; p++)
        ext[i++] = (char)tolower((unsigned char)*p);
    ext[i] = '\0';
}
