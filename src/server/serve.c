/*
 * serve.c - `kinema serve`: composes store + queue + capture service +
 * HTTP server, runs until SIGTERM/SIGINT, shuts down gracefully.
 *
 * Why here (not in cli/): the CLI only parses flags; the composition and
 * the shutdown order are library behaviour other front ends can reuse.
 *
 * Start-up: lock DATA/.lock (one server per data directory, which makes
 * the in-process queue the store's only consumer, so tasks left claimed by
 * a killed instance can be requeued at once), open the store (migrations),
 * requeue interrupted tasks, enqueue complete chunk groups that lack a
 * task, start workers, listen (retrying while an old instance still holds
 * the port).
 * Shutdown: stop accepting and finish requests in flight, then stop the
 * workers (each finishes or checkpoints its task: an interrupted task is
 * released and redone at next start), then close the store.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "server/capture.h"

void km_serve_opts_default(km_serve_opts *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8000;
    o->data_dir = "data";
    o->workers = 2;
    o->max_upload = KM_SERVE_DEFAULT_MAX_UPLOAD;
    o->max_pending = 256;
    o->http_threads = 16;
    o->models_dir = "models";
}

void km_serve_block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

typedef struct serve_ctx {
    int lock_fd;
    km_auth *auth;
    km_store *store;
    km_queue *queue;
    km_capture cap;
    int cap_ready;
    km_server *srv;
} serve_ctx;

static int lock_data_dir(serve_ctx *x, const char *dir)
{
    char path[CAP_PATH];
    if ((size_t)snprintf(path, sizeof path, "%s/.lock", dir) >= sizeof path)
        return km_seterr(KM_ERANGE, "data path too long");
    x->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (x->lock_fd < 0)
        return km_seterr(KM_EIO, "cannot open %s: %s", path, strerror(errno));
    if (flock(x->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return km_seterr(KM_EEXIST, "another kinema serve uses %s", dir);
    return KM_OK;
}

static int open_auth(serve_ctx *x, const km_serve_opts *o, int *require)
{
    *require = 0;
    if (o->token_file) {
        int rc = km_auth_load(&x->auth, o->token_file);
        if (rc)
            return rc;
        *require = 1;
        return KM_OK;
    }
    if (!km_host_is_loopback(o->host))
        return km_seterr(KM_EINVAL, "--host %s is not loopback: --token-file is required",
                         o->host);
    return KM_OK;
}

static int start_http(serve_ctx *x, const km_serve_opts *o, int require_auth)
{
    km_server_opts so = {o->host, o->port, o->http_threads, 1 << 20, x->auth, require_auth};
    int rc = km_server_create(&x->srv, &so);
    if (!rc)
        rc = routes_health(x->srv, &x->cap);
    if (!rc)
        rc = routes_session(x->srv, &x->cap);
    if (!rc)
        rc = routes_chunks(x->srv, &x->cap);
    if (!rc)
        rc = routes_calibration(x->srv, &x->cap);
    /* An old instance may still hold the port for a moment: bounded retry. */
    for (int i = 0; !rc && i < 40; i++) {
        rc = km_server_start(x->srv);
        if (rc == KM_OK)
            break;
        if (i < 39) {
            rc = KM_OK;
            km_sleep_ns(250 * 1000 * 1000ull);
        }
    }
    return rc;
}

static int start_all(serve_ctx *x, const km_serve_opts *o)
{
    int require_auth = 0;
    int rc = open_auth(x, o, &require_auth);
    if (!rc)
        rc = km_mkdirs(o->data_dir);
    if (!rc)
        rc = lock_data_dir(x, o->data_dir);
    char url[CAP_PATH];
    if (o->db_url)
        snprintf(url, sizeof url, "%s", o->db_url);
    else
        snprintf(url, sizeof url, "sqlite:%s/kinema.db", o->data_dir);
    if (!rc)
        rc = km_store_open(&x->store, url);
    if (!rc)
        rc = capture_init(&x->cap, x->store, o->data_dir, o->models_dir, o->max_upload,
                          o->workers > 0 ? o->workers : 1);
    x->cap_ready = !rc;
    x->cap.max_pending = o->max_pending;
    /* --workers 0: ingest only (chunks are queued, processed by a later start). */
    km_queue_opts qo = {CAP_QUEUE, o->workers > 0 ? o->workers : -1, 600000, 3, 0,
                        cap_process_task, &x->cap};
    if (!rc)
        rc = km_queue_open(&x->queue, "local", x->store, &qo);
    x->cap.queue = x->queue;
    if (!rc)
        rc = cap_reconcile(&x->cap);
    if (!rc)
        rc = km_queue_start(x->queue, 1);
    if (!rc)
        rc = start_http(x, o, require_auth);
    return rc;
}

static void stop_all(serve_ctx *x)
{
    km_server_free(x->srv);      /* stop accepting, finish requests */
    km_queue_close(x->queue);    /* workers finish or checkpoint */
    if (x->cap_ready)
        capture_destroy(&x->cap);
    km_store_close(x->store);
    km_auth_free(x->auth);
    if (x->lock_fd > 0)
        close(x->lock_fd);
}

int km_serve_run(const km_serve_opts *o)
{
    serve_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return km_seterr(KM_ENOMEM, "out of memory");
    x->lock_fd = -1;
    int rc = start_all(x, o);
    if (!rc) {
        km_log(KM_LOG_INFO, "kinema serve listening on http://%s:%d (data %s, %d workers%s)",
               o->host, km_server_port(x->srv), o->data_dir, o->workers,
               x->auth ? ", bearer auth" : "");
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        int sig = 0;
        sigwait(&set, &sig);
        km_log(KM_LOG_INFO, "signal %d: shutting down", sig);
    }
    char msg[512];
    snprintf(msg, sizeof msg, "%s", km_errmsg());
    stop_all(x);
    free(x);
    if (rc)
        km_seterr(rc, "%s", msg);
    else
        km_log(KM_LOG_INFO, "kinema serve stopped");
    return rc;
}
