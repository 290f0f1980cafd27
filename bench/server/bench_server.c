/*
 * bench_server.c - the capture server under load, in one process:
 *   - upload throughput (MB/s) with 1 and 4 concurrent clients,
 *   - /health latency p50 / p99 idle and while 4 clients upload,
 *   - seconds from the last camera's chunk answered (202) to its 3D file
 *     written, for 3 cameras x 10 s at 30 fps with a calibration,
 *   - and to the 2D files of a one-camera session (its two models then
 *     run in parallel on the two workers' threads).
 * The server (km_serve_run) runs on a thread of this program on a free
 * loopback port with a temp data dir; clients are plain sockets. The
 * chunk is tests/media/vtest.avi re-encoded to 30 fps H.264 (300 frames).
 * There is no reference implementation to run beside it on this machine
 * (the seed's Python server is not available); numbers are kinema's own.
 *
 *   build/bench/server/bench_server [--models DIR]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "kinema/geom.h"
#include "kinema/media.h"
#include "kinema/server.h"

static int port;
static char data_dir[64];
static uint8_t *chunk;
static size_t chunk_len;

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    return ntohs(a.sin_port);
}

/* One request (head + optional body pieces); returns the status, body in out. */
static int http(const char *head, const void *b1, size_t n1, const void *b2, size_t n2,
                const void *b3, size_t n3, char *out, size_t cap)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {60, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        close(s);
        return -1;
    }
    const void *parts[4] = {head, b1, b2, b3};
    size_t lens[4] = {strlen(head), n1, n2, n3};
    for (int i = 0; i < 4; i++)
        for (size_t off = 0; off < lens[i];) {
            ssize_t n = send(s, (const char *)parts[i] + off, lens[i] - off, MSG_NOSIGNAL);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
    size_t got = 0;
    ssize_t n;
    while (got + 1 < cap && (n = recv(s, out + got, cap - 1 - got, 0)) > 0)
        got += (size_t)n;
    out[got] = 0;
    close(s);
    int status = 0;
    sscanf(out, "HTTP/1.1 %d", &status);
    return status;
}

static int post_json(const char *path, const char *json, char *out, size_t cap)
{
    char head[512];
    snprintf(head, sizeof head, "POST %s HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n", path, strlen(json));
    return http(head, json, strlen(json), NULL, 0, NULL, 0, out, cap);
}

static int upload(const char *p, const char *s, int cam, int n)
{
    char pre[512], head[512], resp[2048];
    const char *tail = "\r\n--kmB--\r\n";
    int plen = snprintf(pre, sizeof pre,
                        "--kmB\r\nContent-Disposition: form-data; name=\"camera_id\"\r\n\r\n%d\r\n"
                        "--kmB\r\nContent-Disposition: form-data; name=\"chunk_number\"\r\n\r\n%d\r\n"
                        "--kmB\r\nContent-Disposition: form-data; name=\"patient_id\"\r\n\r\n%s\r\n"
                        "--kmB\r\nContent-Disposition: form-data; name=\"session_id\"\r\n\r\n%s\r\n"
                        "--kmB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.mp4\"\r\n\r\n",
                        cam, n, p, s);
    snprintf(head, sizeof head, "POST /api/chunks/receive HTTP/1.1\r\nHost: b\r\n"
             "Content-Type: multipart/form-data; boundary=kmB\r\nContent-Length: %zu\r\n\r\n",
             (size_t)plen + chunk_len + strlen(tail));
    return http(head, pre, (size_t)plen, chunk, chunk_len, tail, strlen(tail), resp, sizeof resp);
}

/* ---- the chunk: 300 frames of vtest.avi at 30 fps ---- */
static int make_chunk(const char *path)
{
    km_reader *r;
    km_writer *w = NULL;
    km_writer_opts wo = KM_WRITER_OPTS_DEFAULT;
    wo.fps = 30;
    int rc = km_reader_open(&r, "tests/media/vtest.avi", NULL);
    if (rc)
        return rc;
    const km_video_info *info = km_reader_info(r);
    rc = km_writer_open(&w, path, info->width, info->height, &wo);
    for (int i = 0; !rc && i < 300; i++) {
        km_frame *f;
        if ((rc = km_reader_read(r, &f)) != 0)
            break;
        rc = km_writer_write(w, f->img);
        km_frame_unref(f);
    }
    km_reader_close(r);
    if (rc) {
        km_writer_abort(w);
        return rc;
    }
    return km_writer_close(w);
}

/* ---- load generators ---- */
typedef struct upl {
    int cam, first, count, ok;
} upl;

static void *upload_thread(void *arg)
{
    upl *u = arg;
    for (int i = 0; i < u->count; i++)
        u->ok += upload("BENCH", "UP", u->cam, u->first + i) == 202;
    return NULL;
}

static volatile int health_stop;
static void *health_thread(void *arg)
{
    km_hist *h = arg;
    char resp[1024];
    for (int i = 0; i < 100000 && !health_stop; i++) {
        uint64_t t0 = km_now_ns();
        if (http("GET /health HTTP/1.1\r\nHost: b\r\n\r\n", NULL, 0, NULL, 0, NULL, 0, resp,
                 sizeof resp) == 200)
            km_hist_record(h, km_now_ns() - t0);
        km_sleep_ns(2000000);
    }
    return NULL;
}

static double upload_mbs(int clients, int per_client, int *ok)
{
    pthread_t th[8];
    upl u[8];
    static int next_chunk;
    uint64_t t0 = km_now_ns();
    for (int i = 0; i < clients; i++) {
        u[i] = (upl){i, next_chunk, per_client, 0};
        pthread_create(&th[i], NULL, upload_thread, &u[i]);
    }
    *ok = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        *ok += u[i].ok;
    }
    next_chunk += per_client;
    double s = (double)(km_now_ns() - t0) / 1e9;
    return (double)*ok * (double)chunk_len / 1e6 / s;
}

static void health_stats(const char *label, int clients)
{
    km_hist *h = km_hist_create();
    pthread_t ht;
    health_stop = 0;
    pthread_create(&ht, NULL, health_thread, h);
    int ok = 0;
    double mbs = 0;
    if (clients)
        mbs = upload_mbs(clients, 6, &ok);
    else
        km_sleep_ns(1500000000ull);
    health_stop = 1;
    pthread_join(ht, NULL);
    printf("%-46s %8.2f %8.2f %8llu", label, km_hist_quantile(h, 0.5) / 1e6,
           km_hist_quantile(h, 0.99) / 1e6, (unsigned long long)km_hist_count(h));
    if (clients)
        printf("   (uploads %.1f MB/s, %d ok)", mbs, ok);
    printf("\n");
    km_hist_destroy(h);
}

/* ---- end to end: last chunk -> 3D ---- */
static int has_3d(void)
{
    static char resp[1 << 20];
    http("GET /api/sessions/BENCH/E2E HTTP/1.1\r\nHost: b\r\n\r\n", NULL, 0, NULL, 0, NULL, 0,
         resp, sizeof resp);
    return strstr(resp, "\"has_3d\":true") != NULL;
}

static double latency_to_3d(const char *models)
{
    char resp[4096], body[512], toml[128], head[256];
    snprintf(body, sizeof body,
             "{\"patient_id\":\"BENCH\",\"session_id\":\"E2E\",\"cameras_count\":3,\"models\":%s}",
             models);
    if (post_json("/api/session/start", body, resp, sizeof resp) != 201)
        return -1;
    km_synth_opts so;
    km_synth_opts_default(&so);
    so.ncams = 3;
    so.nframes = 2;
    km_synth syn;
    snprintf(toml, sizeof toml, "%s/calib.toml", data_dir);
    if (km_synth_generate(&so, &syn) || km_calib_write_toml(toml, &syn.calib))
        return -1;
    km_synth_free(&syn);
    uint8_t *t;
    size_t tl;
    if (km_read_file(toml, 1 << 20, &t, &tl))
        return -1;
    snprintf(head, sizeof head, "PUT /api/sessions/BENCH/E2E/calibration HTTP/1.1\r\nHost: b\r\n"
             "Content-Length: %zu\r\n\r\n", tl);
    int st = http(head, t, tl, NULL, 0, NULL, 0, resp, sizeof resp);
    free(t);
    if (st != 200)
        return -1;
    for (int cam = 0; cam < 3; cam++)
        if (upload("BENCH", "E2E", cam, 0) != 202)
            return -1;
    uint64_t t0 = km_now_ns();
    for (int i = 0; i < 36000 && !has_3d(); i++)
        km_sleep_ns(50000000ull);
    return (double)(km_now_ns() - t0) / 1e9;
}

/* One camera, no calibration: seconds to the chunk's 2D files. */
static double latency_one_camera(const char *models)
{
    char resp[4096], body[512];
    snprintf(body, sizeof body,
             "{\"patient_id\":\"BENCH\",\"session_id\":\"ONE\",\"cameras_count\":1,\"models\":%s}",
             models);
    if (post_json("/api/session/start", body, resp, sizeof resp) != 201 ||
        upload("BENCH", "ONE", 0, 0) != 202)
        return -1;
    static char detail[1 << 20];
    uint64_t t0 = km_now_ns();
    for (int i = 0; i < 36000; i++) {
        http("GET /api/sessions/BENCH/ONE HTTP/1.1\r\nHost: b\r\n\r\n", NULL, 0, NULL, 0, NULL,
             0, detail, sizeof detail);
        if (strstr(detail, "\"groups_finished\":1"))
            break;
        km_sleep_ns(50000000ull);
    }
    return (double)(km_now_ns() - t0) / 1e9;
}

static void *serve_thread(void *arg)
{
    km_serve_opts *o = arg;
    if (km_serve_run(o) != KM_OK)
        fprintf(stderr, "server: %s\n", km_errmsg());
    return NULL;
}

static int wait_health(void)
{
    char resp[1024];
    for (int i = 0; i < 200; i++) {
        if (http("GET /health HTTP/1.1\r\nHost: b\r\n\r\n", NULL, 0, NULL, 0, NULL, 0, resp,
                 sizeof resp) == 200)
            return 0;
        km_sleep_ns(100000000ull);
    }
    return -1;
}

int main(int argc, char **argv)
{
    const char *models_dir = argc > 2 && !strcmp(argv[1], "--models") ? argv[2] : "models";
    setvbuf(stdout, NULL, _IOLBF, 0);
    km_serve_block_signals();
    km_log_set_level(KM_LOG_WARN);
    snprintf(data_dir, sizeof data_dir, "/tmp/kinema-bench-XXXXXX");
    if (!mkdtemp(data_dir))
        return 1;
    char path[128];
    snprintf(path, sizeof path, "%s/chunk.mp4", data_dir);
    if (make_chunk(path) || km_read_file(path, 1 << 30, &chunk, &chunk_len)) {
        fprintf(stderr, "bench_server: cannot make the chunk: %s\n", km_errmsg());
        return 1;
    }
    port = free_port();
    km_serve_opts o;
    km_serve_opts_default(&o);
    o.port = port;
    char dd[96];
    snprintf(dd, sizeof dd, "%s/data", data_dir);
    o.data_dir = dd;
    o.models_dir = models_dir;
    pthread_t st;
    pthread_create(&st, NULL, serve_thread, &o);
    if (wait_health()) {
        fprintf(stderr, "bench_server: server did not start\n");
        return 1;
    }
    char resp[4096];
    post_json("/api/session/start",
              "{\"patient_id\":\"BENCH\",\"session_id\":\"UP\",\"cameras_count\":16,"
              "\"models\":[\"blazepose-lite\"]}", resp, sizeof resp);
    printf("kinema serve on 127.0.0.1, chunk %.2f MB (300 frames 768x576 H.264 @30 fps)\n\n",
           (double)chunk_len / 1e6);
    int ok;
    printf("%-46s %10s\n", "upload throughput", "MB/s");
    for (int c = 1; c <= 4; c *= 4) {
        double mbs = upload_mbs(c, 8, &ok);
        printf("%-46s %10.1f   (%d uploads ok)\n", c == 1 ? "  1 client" : "  4 clients", mbs, ok);
    }
    printf("\n%-46s %8s %8s %8s\n", "GET /health latency", "p50 ms", "p99 ms", "n");
    health_stats("  idle", 0);
    health_stats("  while 4 clients upload", 4);
    const char *models = "[\"blazepose-lite\",\"movenet-lightning\"]";
    double s = latency_to_3d(models);
    printf("\n%-46s %10s\n", "last chunk received -> 3D written", "seconds");
    printf("  3 cameras x 10 s @30 fps, %-18s %10.2f\n", "lite+lightning", s);
    double s1 = latency_one_camera(models);
    printf("\n%-46s %10s\n", "last chunk received -> its 2D written", "seconds");
    printf("  1 camera x 10 s @30 fps, %-19s %10.2f\n", "lite+lightning", s1);
    pthread_kill(st, SIGTERM);
    pthread_join(st, NULL);
    free(chunk);
    km_rmtree(data_dir);
    return s < 0 || s1 < 0;
}
