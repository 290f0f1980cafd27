/*
 * server.c - the civetweb wrapper: listening, route table, dispatch,
 * request ids, auth gate, access log lines.
 *
 * Why: one place decides how every kinema API is served, so each API area
 * only registers handlers (routes_*.c). civetweb calls begin_request on
 * one of its worker threads; we match our own table (so patterns with
 * {params}, 404 vs 405 and auth are uniform) and answer there.
 *
 * Ownership: km_server owns the civetweb context and the route table. A
 * km_req lives on the dispatching thread's stack for one request.
 */
#include <civetweb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "server/server_priv.h"

#define MAX_ROUTES 64
#define HANDLER_STACK (4u << 20)

typedef struct route {
    char method[8];
    char pattern[128];
    int public_route;
    km_handler fn;
    void *data;
} route;

struct km_server {
    struct mg_context *ctx;
    km_server_opts opts;
    char host[64];
    int nroutes;
    route routes[MAX_ROUTES];
};

static atomic_uint_fast64_t req_counter;
static unsigned req_prefix;
static pthread_once_t req_once = PTHREAD_ONCE_INIT;

/* A per-process random prefix keeps ids unique across restarts. */
static void init_prefix(void)
{
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&req_prefix, sizeof req_prefix, 1, f) != 1)
        req_prefix = (unsigned)getpid() ^ (unsigned)km_now_ns();
    if (f)
        fclose(f);
}

int km_server_create(km_server **out, const km_server_opts *opts)
{
    km_server *s = calloc(1, sizeof *s);
    if (!s)
        return km_seterr(KM_ENOMEM, "out of memory");
    s->opts = *opts;
    snprintf(s->host, sizeof s->host, "%s", opts->host ? opts->host : "127.0.0.1");
    if (strcmp(s->host, "localhost") == 0)
        snprintf(s->host, sizeof s->host, "127.0.0.1");
    if (!s->opts.threads)
        s->opts.threads = 8;
    if (!s->opts.max_json)
        s->opts.max_json = 1 << 20;
    *out = s;
    return KM_OK;
}

int km_server_route(km_server *s, const char *method, const char *pattern, int public_route,
                    km_handler fn, void *data)
{
    if (s->nroutes >= MAX_ROUTES)
        return km_seterr(KM_ERANGE, "more than %d routes", MAX_ROUTES);
    if (strlen(method) >= sizeof s->routes[0].method ||
        strlen(pattern) >= sizeof s->routes[0].pattern || pattern[0] != '/')
        return km_seterr(KM_EINVAL, "bad route %s %s", method, pattern);
    route *r = &s->routes[s->nroutes++];
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->pattern, sizeof r->pattern, "%s", pattern);
    r->public_route = public_route;
    r->fn = fn;
    r->data = data;
    return KM_OK;
}

/* Match path against a pattern, filling {param} captures into req. */
static int match(const char *pattern, const char *path, km_req *q)
{
    q->nparams = 0;
    const char *p = pattern, *u = path;
    while (*p && *u) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            size_t ulen = strcspn(u, "/");
            if (!pe || ulen == 0 || ulen >= sizeof q->pvals[0] || q->nparams >= KM_REQ_MAX_PARAMS)
                return 0;
            size_t nlen = (size_t)(pe - p - 1);
            if (nlen >= sizeof q->pnames[0])
                return 0;
            memcpy(q->pnames[q->nparams], p + 1, nlen);
            q->pnames[q->nparams][nlen] = 0;
            memcpy(q->pvals[q->nparams], u, ulen);
            q->pvals[q->nparams][ulen] = 0;
            q->nparams++;
            p = pe + 1;
            u += ulen;
            continue;
        }
        if (*p != *u)
            return 0;
        p++;
        u++;
    }
    return *p == 0 && *u == 0;
}

static void make_request_id(km_req *q)
{
    const char *h = mg_get_header(q->conn, "X-Request-Id");
    if (h && km_id_ok(h)) {
        snprintf(q->id, sizeof q->id, "%s", h);
        return;
    }
    pthread_once(&req_once, init_prefix);
    uint64_t n = atomic_fetch_add(&req_counter, 1) + 1;
    snprintf(q->id, sizeof q->id, "%08x-%06llx", req_prefix, (unsigned long long)n);
}

static void access_log(km_req *q, uint64_t t0)
{
    char fields[512];
    snprintf(fields, sizeof fields,
             "{\"method\":\"%s\",\"status\":%d,\"ms\":%.3f,\"remote\":\"%s\"}", q->method,
             q->status, (double)(km_now_ns() - t0) / 1e6, q->remote);
    /* The path is logged through the message (escaped by km_log). */
    km_log_fields(q->status >= 500 ? KM_LOG_ERROR : KM_LOG_INFO, fields, "%s %s", q->method,
                  q->path);
}

static void route_request(km_server *s, km_req *q)
{
    int path_matched = 0;
    for (int i = 0; i < s->nroutes; i++) {
        route *r = &s->routes[i];
        if (!match(r->pattern, q->path, q))
            continue;
        path_matched = 1;
        if (strcmp(r->method, q->method) != 0)
            continue;
        if (!r->public_route && s->opts.require_auth &&
            !km_auth_check(s->opts.auth, mg_get_header(q->conn, "Authorization"))) {
            km_req_drain(q, 4 << 20);
            km_resp_header(q, "WWW-Authenticate", "Bearer");
            km_resp_error(q, 401, "unauthorized", NULL,
                          "missing or wrong bearer token (Authorization: Bearer <token>)");
            return;
        }
        r->fn(q, r->data);
        if (!q->responded)
            km_resp_error(q, 500, "internal", NULL, "handler gave no answer");
        return;
    }
    km_req_drain(q, 4 << 20);
    if (path_matched)
        km_resp_error(q, 405, "method_not_allowed", NULL, "%s not allowed on %s", q->method,
                      q->path);
    else
        km_resp_error(q, 404, "not_found", NULL, "no route %s %s", q->method, q->path);
}

typedef struct handle_arg {
    km_server *s;
    struct mg_connection *conn;
    int status;
} handle_arg;

static void *handle(void *arg)
{
    handle_arg *h = arg;
    const struct mg_request_info *ri = mg_get_request_info(h->conn);
    km_req q;
    memset(&q, 0, sizeof q);
    q.conn = h->conn;
    q.srv_max_json = h->s->opts.max_json;
    q.method = ri->request_method ? ri->request_method : "";
    q.path = ri->local_uri ? ri->local_uri : "/";
    q.query = ri->query_string;
    q.content_length = ri->content_length;
    snprintf(q.remote, sizeof q.remote, "%s", ri->remote_addr);
    make_request_id(&q);
    km_log_set_request_id(q.id);
    uint64_t t0 = km_now_ns();
    route_request(h->s, &q);
    access_log(&q, t0);
    km_log_set_request_id(NULL);
    h->status = q.status ? q.status : 500;
    return NULL;
}

/* civetweb's worker threads have ~100 KiB of stack, most of it used by
 * civetweb itself; handlers (SQLite, FFmpeg probing, JSON) need more, so
 * each request runs on a helper thread with a roomy stack while the
 * civetweb thread waits for it. */
static int begin_request(struct mg_connection *conn)
{
    handle_arg h = {mg_get_user_data(mg_get_context(conn)), conn, 500};
    pthread_attr_t attr;
    pthread_t th;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, HANDLER_STACK);
    int err = pthread_create(&th, &attr, handle, &h);
    pthread_attr_destroy(&attr);
    if (err) {
        mg_send_http_error(conn, 503, "%s", "server overloaded");
        return 503;
    }
    pthread_join(th, NULL);
    return h.status;
}

static int log_message(const struct mg_connection *conn, const char *message)
{
    km_log(KM_LOG_WARN, "civetweb: %s", message);
    return 1;
}

int km_server_start(km_server *s)
{
    char ports[96], threads[16];
    snprintf(ports, sizeof ports, "%s:%d", s->host, s->opts.port);
    snprintf(threads, sizeof threads, "%d", s->opts.threads);
    const char *options[] = {"listening_ports", ports,
                             "num_threads", threads,
                             "request_timeout_ms", "60000",
                             "enable_keep_alive", "no",
                             NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.begin_request = begin_request;
    cb.log_message = log_message;
    s->ctx = mg_start(&cb, s, options);
    if (!s->ctx)
        return km_seterr(KM_EIO, "cannot listen on %s (port in use, or bad address)", ports);
    return KM_OK;
}

int km_server_port(const km_server *s)
{
    struct mg_server_port p[4];
    if (!s->ctx)
        return 0;
    int n = mg_get_server_ports(s->ctx, 4, p);
    return n > 0 ? p[0].port : 0;
}

void km_server_free(km_server *s)
{
    if (!s)
        return;
    if (s->ctx)
        mg_stop(s->ctx);
    free(s);
}
