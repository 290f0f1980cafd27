/*
 * urlread.c - the bytes behind a network URL (an image over HTTP), through
 * FFmpeg's protocols, so a .jpg URL decodes with the same decoder as the
 * same file on disk.
 *
 * Bounded like every network read here: at most `max` bytes, and the
 * whole fetch fails after TIMEOUT_MS (the reader's default) through an
 * interrupt callback, so a server that stalls or never ends cannot hang
 * or exhaust the caller.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavformat/avio.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>

#include "kinema/util.h"
#include "media/media_priv.h"

#define TIMEOUT_MS 10000

static int past_deadline(void *opaque)
{
    return km_now_ns() > *(const uint64_t *)opaque;
}

/* Append what pb has, up to max bytes in all, to *buf. */
static int read_all(AVIOContext *pb, const char *url, size_t max, uint8_t **buf, size_t *len)
{
    size_t cap = 0;
    for (;;) {
        if (*len == cap) {
            if (cap >= max)
                return km_seterr(KM_ERANGE, "%s: larger than %zu bytes", url, max);
            size_t ncap = cap ? cap * 2 : 1 << 16;
            uint8_t *nb = realloc(*buf, ncap < max ? ncap : max);
            if (!nb)
                return km_seterr(KM_ENOMEM, "%s: out of memory", url);
            *buf = nb;
            cap = ncap < max ? ncap : max;
        }
        int n = avio_read(pb, *buf + *len, (int)(cap - *len < INT32_MAX ? cap - *len : INT32_MAX));
        if (n == AVERROR_EOF || n == 0)
            return KM_OK;
        if (n < 0) {
            char t[128];
            return km_seterr(km__av_code(n), "%s: read failed: %s", url, km__av_text(n, t, sizeof t));
        }
        *len += (size_t)n;
    }
}

int km__url_read(const char *url, size_t max, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    km__av_init();
    uint64_t deadline = km_now_ns() + (uint64_t)TIMEOUT_MS * 1000000u;
    AVIOInterruptCB cb = {past_deadline, &deadline};
    AVDictionary *opts = NULL;
    char us[32];
    snprintf(us, sizeof us, "%lld", (long long)TIMEOUT_MS * 1000);
    av_dict_set(&opts, "rw_timeout", us, 0);
    av_dict_set(&opts, "timeout", us, 0);
    AVIOContext *pb = NULL;
    int ret = avio_open2(&pb, url, AVIO_FLAG_READ, &cb, &opts);
    av_dict_free(&opts);
    int rc;
    if (ret < 0) {
        char t[128];
        rc = past_deadline(&deadline)
                 ? km_seterr(KM_EAGAIN, "%s: timed out after %d ms", url, TIMEOUT_MS)
                 : km_seterr(km__av_code(ret), "%s: cannot open: %s", url, km__av_text(ret, t, sizeof t));
    } else {
        rc = read_all(pb, url, max, buf, len);
        if (rc && past_deadline(&deadline))
            rc = km_seterr(KM_EAGAIN, "%s: timed out after %d ms", url, TIMEOUT_MS);
        avio_closep(&pb);
    }
    if (rc) {
        free(*buf);
        *buf = NULL;
        *len = 0;
    }
    return rc;
}
