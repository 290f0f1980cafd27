/*
 * reader.c - video probing and decoding (files, RTSP/HTTP URLs, V4L2).
 *
 * libavformat demuxes, libavcodec decodes (frame + slice threads), libswscale
 * converts straight into the rows of a new km_image, so each frame costs one
 * conversion pass and no extra copy. Seeking is frame accurate: jump back to
 * the keyframe at or before the target, then decode and drop the frames
 * before it. Network and device reads are bounded by an interrupt callback
 * that fails any blocking call after the timeout.
 *
 * Ownership: km_reader owns every FFmpeg object it opens; frames returned by
 * km_reader_read are owned by the caller (km_frame_unref).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "kinema/media.h"
#include "media/media_priv.h"

#define DEFAULT_TIMEOUT_MS 10000
#define MAX_TIMEOUT_MS (7LL * 24 * 3600 * 1000) /* keeps ns arithmetic in range */
/* Consecutive undecodable packets tolerated before a read fails. */
#define MAX_BAD_PACKETS 64
#define MAX_THREADS 64

typedef enum { SRC_FILE, SRC_NETWORK, SRC_DEVICE } source_kind;

struct km_reader {
    char *url;                  /* owned copy, for messages */
    char *open_url;             /* owned; what FFmpeg opens ("file:" + path) */
    source_kind kind;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frame;
    struct SwsContext *sws;
    int sws_src_fmt, sws_src_w, sws_src_h; /* what `sws` was made for */
    int stream;
    AVRational tb;
    int64_t start_pts;          /* stream start in tb (0 when unknown) */
    km_pixfmt out_fmt;
    int out_w, out_h;
    km_video_info info;
    int64_t next_index;
    int demux_eof;              /* flush packet sent */
    int bad_packets;
    double drop_before_s;       /* after a seek: drop frames earlier than this */
    int reindex;                /* after a seek: derive the next index from time */
    int have_pending;           /* r->frame holds a decoded frame not yet returned */
    int pending_eof;            /* a seek ran past the end */
    double first_time_after_seek;
    int64_t timeout_ns;
    int64_t deadline_ns;        /* 0 = no deadline armed */
    int timed_out;              /* the interrupt callback fired */
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Called by FFmpeg from inside blocking I/O; non-zero aborts the call. */
static int interrupt_cb(void *opaque)
{
    km_reader *r = opaque;
    if (r->deadline_ns != 0 && mono_ns() > r->deadline_ns)
        r->timed_out = 1;
    return r->timed_out;
}

static void arm_deadline(km_reader *r)
{
    r->timed_out = 0;
    if (r->kind != SRC_FILE)
        r->deadline_ns = mono_ns() + r->timeout_ns;
}

static void disarm_deadline(km_reader *r)
{
    r->deadline_ns = 0;
}

static source_kind classify(const char *url)
{
    if (strncmp(url, "/dev/video", 10) == 0)
        return SRC_DEVICE;
    const char *scheme_end = strstr(url, "://");
    if (scheme_end && strncmp(url, "file://", 7) != 0)
        return SRC_NETWORK;
    return SRC_FILE;
}

/* Clear messages for the common local-file mistakes before FFmpeg sees them. */
static int check_local_file(const char *url)
{
    const char *path = strncmp(url, "file://", 7) == 0 ? url + 7
                       : strncmp(url, "file:", 5) == 0 ? url + 5 : url;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return km_seterr(KM_ENOTFOUND, "%s: no such file", url);
        return km_seterr(KM_EIO, "%s: %s", url, strerror(errno));
    }
    if (S_ISDIR(st.st_mode))
        return km_seterr(KM_EIO, "%s: is a directory", url);
    if (S_ISREG(st.st_mode) && st.st_size == 0)
        return km_seterr(KM_EFORMAT, "%s: empty file", url);
    return KM_OK;
}

static int av_fail(const km_reader *r, int averr, const char *what)
{
    char buf[128];
    /* An interrupted call may surface as any error (RTSP reports invalid
     * data), so the callback's flag decides. */
    if (r->timed_out || averr == AVERROR_EXIT || averr == AVERROR(ETIMEDOUT))
        return km_seterr(KM_EAGAIN, "%s: %s: timed out after %lld ms", r->url, what,
                         (long long)(r->timeout_ns / 1000000));
    int code = km__av_code(averr);
    if (code == KM_EEOF)
        code = KM_EFORMAT;
    return km_seterr(code, "%s: %s: %s", r->url, what, km__av_text(averr, buf, sizeof buf));
}

static int has_scheme(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncmp(url, scheme, n) == 0 && strncmp(url + n, "://", 3) == 0;
}

/* Local paths are opened through the file protocol only, so a crafted
 * name ("concat:...", "pipe:0") or a playlist inside an uploaded file
 * cannot make FFmpeg read other files or the network. */
static int set_input_options(const km_reader *r, AVDictionary **opts)
{
    char us[32];
    snprintf(us, sizeof us, "%lld", (long long)(r->timeout_ns / 1000));
    int rc = 0;
    if (r->kind == SRC_FILE)
        rc |= av_dict_set(opts, "protocol_whitelist", "file", 0);
    if (has_scheme(r->url, "rtsp") || has_scheme(r->url, "rtsps"))
        rc |= av_dict_set(opts, "rtsp_transport", "tcp", 0);
    if (r->kind == SRC_NETWORK) {
        rc |= av_dict_set(opts, "rw_timeout", us, 0); /* any AVIO protocol */
        /* Socket timeout in us for these; for rtmp "timeout" means listen. */
        if (has_scheme(r->url, "rtsp") || has_scheme(r->url, "rtsps") ||
            has_scheme(r->url, "http") || has_scheme(r->url, "https"))
            rc |= av_dict_set(opts, "timeout", us, 0);
    }
    return rc < 0 ? km_seterr(KM_ENOMEM, "%s: out of memory for options", r->url) : KM_OK;
}

static int find_device_format(const km_reader *r, const AVInputFormat **ifmt)
{
    *ifmt = NULL;
    if (r->kind != SRC_DEVICE)
        return KM_OK;
    *ifmt = km__av_devices() ? av_find_input_format("v4l2") : NULL;
    if (!*ifmt)
        return km_seterr(KM_EUNSUPPORTED, "%s: V4L2 input not available (libavdevice.so.59 missing or without v4l2)",
                         r->url);
    return KM_OK;
}

static int open_input(km_reader *r)
{
    const AVInputFormat *ifmt;
    int rc = find_device_format(r, &ifmt);
    if (rc < 0)
        return rc;
    r->fmt = avformat_alloc_context();
    if (!r->fmt)
        return km_seterr(KM_ENOMEM, "%s: out of memory", r->url);
    r->fmt->interrupt_callback.callback = interrupt_cb;
    r->fmt->interrupt_callback.opaque = r;
    AVDictionary *opts = NULL;
    rc = set_input_options(r, &opts);
    if (rc < 0) {
        av_dict_free(&opts);
        return rc;
    }
    arm_deadline(r);
    int ret = avformat_open_input(&r->fmt, r->open_url, ifmt, &opts); /* frees fmt on failure */
    av_dict_free(&opts);
    if (ret < 0) {
        disarm_deadline(r);
        return av_fail(r, ret, "cannot open");
    }
    ret = avformat_find_stream_info(r->fmt, NULL);
    disarm_deadline(r);
    if (ret < 0)
        return av_fail(r, ret, "cannot read stream info");
    return KM_OK;
}

static int open_decoder(km_reader *r, int threads)
{
    const AVCodec *codec = NULL;
    int idx = av_find_best_stream(r->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (idx == AVERROR_STREAM_NOT_FOUND)
        return km_seterr(KM_EFORMAT, "%s: no video stream", r->url);
    if (idx < 0 || !codec) {
        const AVStream *vs = idx >= 0 ? r->fmt->streams[idx] : NULL;
        return km_seterr(KM_EUNSUPPORTED, "%s: no decoder for video codec %s", r->url,
                         vs ? avcodec_get_name(vs->codecpar->codec_id) : "?");
    }
    r->stream = idx;
    for (unsigned i = 0; i < r->fmt->nb_streams; i++)
        if ((int)i != idx)
            r->fmt->streams[i]->discard = AVDISCARD_ALL;
    const AVStream *st = r->fmt->streams[idx];
    r->dec = avcodec_alloc_context3(codec);
    if (!r->dec)
        return km_seterr(KM_ENOMEM, "%s: out of memory for decoder", r->url);
    int ret = avcodec_parameters_to_context(r->dec, st->codecpar);
    if (ret < 0)
        return av_fail(r, ret, "bad codec parameters");
    r->dec->pkt_timebase = st->time_base;
    r->dec->thread_count = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
    r->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    ret = avcodec_open2(r->dec, codec, NULL);
    if (ret < 0)
        return av_fail(r, ret, "cannot open decoder");
    return KM_OK;
}

/* Packets of stream `idx` in a second pass over the file (demux only). */
static int64_t count_packets(const km_reader *r)
{
    AVFormatContext *fmt = NULL;
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    int ret = avformat_open_input(&fmt, r->open_url, NULL, &opts);
    av_dict_free(&opts);
    if (ret < 0)
        return -1;
    if ((unsigned)r->stream >= fmt->nb_streams) {
        avformat_close_input(&fmt);
        return -1;
    }
    for (unsigned i = 0; i < fmt->nb_streams; i++)
        if ((int)i != r->stream)
            fmt->streams[i]->discard = AVDISCARD_ALL;
    AVPacket *pkt = av_packet_alloc();
    int64_t n = 0;
    while (pkt && av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index == r->stream)
            n++;
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    avformat_close_input(&fmt);
    return n;
}

static double q2d_or_zero(AVRational q)
{
    return q.num > 0 && q.den > 0 ? av_q2d(q) : 0.0;
}

static int fill_info(km_reader *r)
{
    const AVStream *st = r->fmt->streams[r->stream];
    const AVCodecParameters *par = st->codecpar;
    km_video_info *info = &r->info;
    if (par->width <= 0 || par->height <= 0 || par->width > KM_IMAGE_MAX_DIM ||
        par->height > KM_IMAGE_MAX_DIM)
        return km_seterr(KM_EFORMAT, "%s: bad video size %dx%d", r->url, par->width, par->height);
    info->width = par->width;
    info->height = par->height;
    info->fps = q2d_or_zero(st->avg_frame_rate);
    if (info->fps == 0.0)
        info->fps = q2d_or_zero(st->r_frame_rate);
    if (st->duration > 0 && st->duration != AV_NOPTS_VALUE)
        info->duration = (double)st->duration * av_q2d(st->time_base);
    else if (r->fmt->duration > 0 && r->fmt->duration != AV_NOPTS_VALUE)
        info->duration = (double)r->fmt->duration / AV_TIME_BASE;
    snprintf(info->codec, sizeof info->codec, "%s", avcodec_get_name(par->codec_id));
    if (st->nb_frames > 0 && r->kind != SRC_DEVICE)
        info->frames = st->nb_frames;
    else if (r->kind == SRC_FILE)
        info->frames = count_packets(r);
    else
        info->frames = -1; /* live, or not worth a second pass over the network */
    r->tb = st->time_base;
    r->start_pts = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
    return KM_OK;
}

/* Output size: the requested one, with a zero side following the aspect. */
static int choose_output_size(km_reader *r, const km_reader_opts *o)
{
    int w = o->width, h = o->height;
    if (w < 0 || h < 0 || w > KM_IMAGE_MAX_DIM || h > KM_IMAGE_MAX_DIM)
        return km_seterr(KM_ERANGE, "%s: output size %dx%d outside 0..%d", r->url, w, h,
                         KM_IMAGE_MAX_DIM);
    if (w == 0 && h == 0) {
        w = r->info.width;
        h = r->info.height;
    } else if (w == 0) {
        w = (int)fmax(1.0, round((double)h * r->info.width / r->info.height));
    } else if (h == 0) {
        h = (int)fmax(1.0, round((double)w * r->info.height / r->info.width));
    }
    if (w > KM_IMAGE_MAX_DIM || h > KM_IMAGE_MAX_DIM)
        return km_seterr(KM_ERANGE, "%s: output size %dx%d too large", r->url, w, h);
    r->out_w = w;
    r->out_h = h;
    return KM_OK;
}

static char *make_open_url(const km_reader *r)
{
    if (r->kind != SRC_FILE || strncmp(r->url, "file:", 5) == 0)
        return strdup(r->url);
    size_t n = strlen(r->url) + 6;
    char *u = malloc(n);
    if (u)
        snprintf(u, n, "file:%s", r->url);
    return u;
}

void km_reader_close(km_reader *r)
{
    if (!r)
        return;
    sws_freeContext(r->sws);
    av_frame_free(&r->frame);
    av_packet_free(&r->pkt);
    avcodec_free_context(&r->dec);
    avformat_close_input(&r->fmt);
    free(r->open_url);
    free(r->url);
    free(r);
}

static int reader_setup(km_reader *r, const km_reader_opts *o)
{
    if (o->fmt != KM_PIX_RGB24 && o->fmt != KM_PIX_GRAY8)
        return km_seterr(KM_EINVAL, "%s: reader output must be RGB24 or GRAY8", r->url);
    r->out_fmt = o->fmt;
    int64_t ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    r->timeout_ns = (ms < MAX_TIMEOUT_MS ? ms : MAX_TIMEOUT_MS) * 1000000;
    int rc = r->kind == SRC_FILE ? check_local_file(r->url) : KM_OK;
    if (rc == KM_OK)
        rc = open_input(r);
    if (rc == KM_OK)
        rc = open_decoder(r, o->threads);
    if (rc == KM_OK)
        rc = fill_info(r);
    if (rc == KM_OK)
        rc = choose_output_size(r, o);
    if (rc < 0)
        return rc;
    r->pkt = av_packet_alloc();
    r->frame = av_frame_alloc();
    if (!r->pkt || !r->frame)
        return km_seterr(KM_ENOMEM, "%s: out of memory", r->url);
    r->info.width = r->out_w;
    r->info.height = r->out_h;
    r->drop_before_s = -INFINITY;
    return KM_OK;
}

int km_reader_open(km_reader **out, const char *url, const km_reader_opts *opts)
{
    *out = NULL;
    if (!url || !*url)
        return km_seterr(KM_EINVAL, "km_reader_open: empty url");
    km__av_init();
    static const km_reader_opts defaults = KM_READER_OPTS_DEFAULT;
    km_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->url = strdup(url))) {
        free(r);
        return km_seterr(KM_ENOMEM, "%s: out of memory", url);
    }
    r->kind = classify(url);
    r->open_url = make_open_url(r);
    if (!r->open_url) {
        km_reader_close(r);
        return km_seterr(KM_ENOMEM, "%s: out of memory", url);
    }
    int rc = reader_setup(r, opts ? opts : &defaults);
    if (rc < 0) {
        km_reader_close(r);
        return rc;
    }
    *out = r;
    return KM_OK;
}

const km_video_info *km_reader_info(const km_reader *r)
{
    return &r->info;
}

int km_probe(const char *url, km_video_info *info)
{
    memset(info, 0, sizeof *info);
    km_reader *r;
    int rc = km_reader_open(&r, url, NULL);
    if (rc < 0)
        return rc;
    *info = r->info; /* no scaling requested: native size */
    km_reader_close(r);
    return KM_OK;
}

/* ------------------------------------------------------------ decoding */

/* Send the next packet of our stream (or the flush packet at the end). */
static int feed_packet(km_reader *r)
{
    for (;;) {
        arm_deadline(r);
        int ret = av_read_frame(r->fmt, r->pkt);
        disarm_deadline(r);
        if (ret == AVERROR_EOF || (ret < 0 && r->kind == SRC_FILE && avio_feof(r->fmt->pb))) {
            r->demux_eof = 1;
            avcodec_send_packet(r->dec, NULL);
            return KM_OK;
        }
        if (ret < 0)
            return av_fail(r, ret, "read failed");
        if (r->pkt->stream_index != r->stream) {
            av_packet_unref(r->pkt);
            continue;
        }
        ret = avcodec_send_packet(r->dec, r->pkt);
        av_packet_unref(r->pkt);
        if (ret == AVERROR_INVALIDDATA && ++r->bad_packets < MAX_BAD_PACKETS)
            continue;
        if (ret < 0 && ret != AVERROR(EAGAIN))
            return av_fail(r, ret, "decode failed");
        return KM_OK;
    }
}

static int64_t frame_pts(const km_reader *r, const AVFrame *f)
{
    if (f->best_effort_timestamp != AV_NOPTS_VALUE)
        return f->best_effort_timestamp;
    if (f->pts != AV_NOPTS_VALUE)
        return f->pts;
    if (r->info.fps > 0 && r->tb.num > 0) /* synthesise from the frame number */
        return r->start_pts + (int64_t)llround((double)r->next_index / r->info.fps *
                                               r->tb.den / r->tb.num);
    return AV_NOPTS_VALUE;
}

/* Seconds from the stream start; multiply before dividing so a frame at
 * k / fps compares equal to the double k / fps. */
static double pts_seconds(const km_reader *r, int64_t pts)
{
    if (pts == AV_NOPTS_VALUE || r->tb.den == 0)
        return r->info.fps > 0 ? (double)r->next_index / r->info.fps : 0.0;
    return (double)(pts - r->start_pts) * r->tb.num / r->tb.den;
}

/* Decode into r->frame the next frame not dropped by a pending seek. */
static int decode_next(km_reader *r)
{
    for (;;) {
        int ret = avcodec_receive_frame(r->dec, r->frame);
        if (ret == 0) {
            r->bad_packets = 0;
            double t = pts_seconds(r, frame_pts(r, r->frame));
            if (isnan(r->first_time_after_seek))
                r->first_time_after_seek = t;
            if (t < r->drop_before_s) {
                av_frame_unref(r->frame);
                continue;
            }
            r->drop_before_s = -INFINITY;
            return KM_OK;
        }
        if (ret == AVERROR_EOF)
            return KM_EEOF;
        if (ret == AVERROR_INVALIDDATA && ++r->bad_packets < MAX_BAD_PACKETS)
            continue;
        if (ret != AVERROR(EAGAIN))
            return av_fail(r, ret, "decode failed");
        if (r->demux_eof)
            return KM_EEOF; /* defensive: a drained decoder should say EOF */
        int rc = feed_packet(r);
        if (rc < 0)
            return rc;
    }
}

/* Make sure r->frame holds the next frame (pending from a seek or new). */
static int next_decoded(km_reader *r)
{
    if (r->have_pending) {
        r->have_pending = 0;
        return KM_OK;
    }
    if (r->pending_eof)
        return KM_EEOF;
    return decode_next(r);
}

static int ensure_sws(km_reader *r, const AVFrame *f)
{
    if (r->sws && r->sws_src_fmt == f->format && r->sws_src_w == f->width &&
        r->sws_src_h == f->height)
        return KM_OK;
    sws_freeContext(r->sws);
    enum AVPixelFormat dst = r->out_fmt == KM_PIX_GRAY8 ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24;
    r->sws = sws_getContext(f->width, f->height, f->format, r->out_w, r->out_h, dst,
                            SWS_BILINEAR, NULL, NULL, NULL);
    if (!r->sws)
        return km_seterr(KM_EUNSUPPORTED, "%s: cannot convert %s %dx%d frames", r->url,
                         av_get_pix_fmt_name(f->format) ? av_get_pix_fmt_name(f->format) : "?",
                         f->width, f->height);
    /* Honour the stream's matrix (BT.709 HD video) and range. */
    int *inv_table, *table, src_range, dst_range, brightness, contrast, saturation;
    if (sws_getColorspaceDetails(r->sws, &inv_table, &src_range, &table, &dst_range, &brightness,
                                 &contrast, &saturation) >= 0) {
        int cs = f->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_DEFAULT;
        if (f->color_range == AVCOL_RANGE_JPEG)
            src_range = 1;
        sws_setColorspaceDetails(r->sws, sws_getCoefficients(cs), src_range, table, dst_range,
                                 brightness, contrast, saturation);
    }
    r->sws_src_fmt = f->format;
    r->sws_src_w = f->width;
    r->sws_src_h = f->height;
    return KM_OK;
}

static int convert_frame(km_reader *r, const AVFrame *f, km_image **out)
{
    int rc = ensure_sws(r, f);
    if (rc < 0)
        return rc;
    km_image *img = km__image_new_uninit(r->out_w, r->out_h, r->out_fmt);
    if (!img)
        return km_seterr(KM_ENOMEM, "%s: out of memory for a frame", r->url);
    uint8_t *const dst[4] = { img->data, NULL, NULL, NULL };
    const int dst_stride[4] = { (int)img->stride, 0, 0, 0 };
    sws_scale(r->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dst_stride);
    km__image_clear_padding(img);
    *out = img;
    return KM_OK;
}

/* Index of the frame in r->frame; advances the counter. */
static int64_t take_index(km_reader *r, double t)
{
    if (r->reindex) {
        r->reindex = 0;
        if (r->info.fps > 0)
            r->next_index = llround(t * r->info.fps);
    }
    return r->next_index++;
}

int km_reader_read(km_reader *r, km_frame **out)
{
    *out = NULL;
    int rc = next_decoded(r);
    if (rc < 0)
        return rc;
    int64_t pts = frame_pts(r, r->frame);
    double t = pts_seconds(r, pts);
    km_image *img = NULL;
    rc = convert_frame(r, r->frame, &img);
    av_frame_unref(r->frame);
    if (rc < 0)
        return rc;
    km_frame *f = km_frame_new(img, take_index(r, t), pts, t);
    if (!f) {
        km_image_free(img);
        return KM_ENOMEM;
    }
    *out = f;
    return KM_OK;
}

int km_reader_skip(km_reader *r)
{
    int rc = next_decoded(r);
    if (rc < 0)
        return rc;
    take_index(r, pts_seconds(r, frame_pts(r, r->frame)));
    av_frame_unref(r->frame);
    return KM_OK;
}

/* ------------------------------------------------------------- seeking */

static int seek_to(km_reader *r, int64_t ts)
{
    int ret = av_seek_frame(r->fmt, r->stream, ts, AVSEEK_FLAG_BACKWARD);
    if (ret < 0 && ts <= r->start_pts)
        ret = av_seek_frame(r->fmt, -1, 0, AVSEEK_FLAG_BYTE);
    if (ret < 0)
        return ret;
    avcodec_flush_buffers(r->dec);
    av_frame_unref(r->frame);
    r->demux_eof = 0;
    r->have_pending = 0;
    r->pending_eof = 0;
    r->bad_packets = 0;
    return 0;
}

/* Decode up to the first frame at or after t and keep it pending. */
static int decode_to(km_reader *r, double t)
{
    r->drop_before_s = t;
    r->reindex = 1;
    r->first_time_after_seek = NAN;
    int rc = decode_next(r);
    if (rc == KM_EEOF) {
        r->pending_eof = 1;
        return KM_OK;
    }
    if (rc < 0)
        return rc;
    r->have_pending = 1;
    return KM_OK;
}

int km_reader_seek(km_reader *r, double t_s)
{
    if (!(t_s >= 0.0) || !isfinite(t_s))
        return km_seterr(KM_EINVAL, "%s: bad seek time %g", r->url, t_s);
    int seekable = r->kind == SRC_FILE ||
                   (r->kind == SRC_NETWORK && r->fmt->pb && (r->fmt->pb->seekable & AVIO_SEEKABLE_NORMAL));
    if (!seekable)
        return km_seterr(KM_EUNSUPPORTED, "%s: cannot seek in a live source", r->url);
    double ticks = floor(t_s * r->tb.den / r->tb.num);
    int64_t ts = r->start_pts + (ticks < 9e15 ? (int64_t)ticks : (int64_t)9e15);
    int ret = seek_to(r, ts);
    int from_start = 0;
    if (ret < 0) { /* no index: decode from the start */
        ret = seek_to(r, r->start_pts);
        from_start = 1;
    }
    if (ret < 0)
        return av_fail(r, ret, "seek failed");
    int rc = decode_to(r, t_s);
    /* The demuxer landed after the target (imprecise index): start over. */
    if (rc == KM_OK && !from_start && r->first_time_after_seek > t_s &&
        r->first_time_after_seek > 0.0) {
        ret = seek_to(r, r->start_pts);
        if (ret < 0)
            return av_fail(r, ret, "seek failed");
        rc = decode_to(r, t_s);
    }
    return rc;
}
