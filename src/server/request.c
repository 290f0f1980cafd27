/*
 * request.c - reading requests and writing responses for km_server
 * handlers: bounded bodies, JSON in/out, the uniform error shape, files.
 *
 * Why: every API answers the same way ({"error":{"code","message",
 * "field"}}, X-Request-Id on every response) and no body from the network
 * is read beyond a stated maximum.
 *
 * Ownership: a km_req is borrowed; km_resp_json steals its json_t.
 */
#include <civetweb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/server_priv.h"

const char *km_req_method(const km_req *r) { return r->method; }
const char *km_req_path(const km_req *r) { return r->path; }
const char *km_req_id(const km_req *r) { return r->id; }
int km_req_responded(const km_req *r) { return r->responded; }
int64_t km_req_content_length(const km_req *r) { return r->content_length; }

const char *km_req_param(const km_req *r, const char *name)
{
    for (int i = 0; i < r->nparams; i++)
        if (strcmp(r->pnames[i], name) == 0)
            return r->pvals[i];
    return NULL;
}

int km_req_query(const km_req *r, const char *name, char *buf, size_t cap)
{
    if (!r->query)
        return 0;
    int n = mg_get_var(r->query, strlen(r->query), name, buf, cap);
    if (n == -1)
        return 0;
    if (n < 0)
        return km_seterr(KM_ERANGE, "query parameter %s is too long", name);
    return 1;
}

const char *km_req_header(const km_req *r, const char *name)
{
    return mg_get_header(r->conn, name);
}

int64_t km_req_read(km_req *r, void *buf, size_t len)
{
    if (r->body_done)
        return 0;
    if (len > (1u << 30))
        len = 1u << 30;
    int n = mg_read(r->conn, buf, len);
    if (n <= 0)
        r->body_done = 1;
    return n < 0 ? KM_EIO : n;
}

void km_req_drain(km_req *r, size_t max)
{
    char buf[8192];
    size_t got = 0;
    while (got < max) {
        int64_t n = km_req_read(r, buf, sizeof buf);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
}

int km_req_body(km_req *r, size_t max, char **out, size_t *len)
{
    if (r->content_length > 0 && (unsigned long long)r->content_length > max)
        return km_seterr(KM_ERANGE, "body of %lld bytes is over the limit of %zu",
                         r->content_length, max);
    size_t cap = r->content_length > 0 ? (size_t)r->content_length + 1 : 4096;
    if (cap > max + 1)
        cap = max + 1;
    char *buf = malloc(cap);
    if (!buf)
        return km_seterr(KM_ENOMEM, "out of memory");
    size_t n = 0;
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max) {
                free(buf);
                return km_seterr(KM_ERANGE, "body is over the limit of %zu bytes", max);
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                return km_seterr(KM_ENOMEM, "out of memory");
            }
            buf = nb;
            cap = ncap;
        }
        int64_t got = km_req_read(r, buf + n, cap - 1 - n);
        if (got < 0) {
            free(buf);
            return km_seterr(KM_EIO, "error reading the request body");
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    if (r->content_length > 0 && n != (size_t)r->content_length) {
        free(buf);
        return km_seterr(KM_EFORMAT, "body truncated: %zu of %lld bytes", n,
                         r->content_length);
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return KM_OK;
}

static int req_json(km_req *r, json_t **out, int allow_empty);

int km_req_json(km_req *r, json_t **out) { return req_json(r, out, 0); }
int km_req_json_opt(km_req *r, json_t **out) { return req_json(r, out, 1); }

static int req_json(km_req *r, json_t **out, int allow_empty)
{
    const char *ct = km_req_header(r, "Content-Type");
    if (ct && strncasecmp(ct, "application/json", 16) != 0 &&
        !(allow_empty && r->content_length <= 0)) {
        km_req_drain(r, 4 << 20);
        km_resp_error(r, 415, "unsupported_media_type", NULL,
                      "expected Content-Type: application/json, got %s", ct);
        return KM_EUNSUPPORTED;
    }
    char *body;
    size_t len;
    int rc = km_req_body(r, r->srv_max_json, &body, &len);
    if (rc) {
        if (rc == KM_ERANGE)
            km_req_drain(r, 4 << 20);
        km_resp_km_error(r, rc == KM_ERANGE ? KM_ERANGE : KM_EFORMAT, NULL);
        return rc;
    }
    if (allow_empty && len == strspn(body, " \t\r\n")) {
        free(body);
        *out = json_object();
        return *out ? KM_OK : KM_ENOMEM;
    }
    json_error_t err;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    free(body);
    if (!j || !json_is_object(j)) {
        if (j)
            json_decref(j);
        km_resp_error(r, 400, "invalid_json", NULL, "body must be a JSON object%s%s",
                      j ? "" : ": ", j ? "" : err.text);
        return KM_EFORMAT;
    }
    *out = j;
    return KM_OK;
}

void km_resp_header(km_req *r, const char *name, const char *value)
{
    if (r->nheaders >= KM_REQ_MAX_HEADERS)
        return;
    snprintf(r->hnames[r->nheaders], sizeof r->hnames[0], "%s", name);
    snprintf(r->hvals[r->nheaders], sizeof r->hvals[0], "%s", value);
    r->nheaders++;
}

static void send_head(km_req *r, int status, const char *ctype, long long len,
                      const char *download_name)
{
    r->responded = 1;
    r->status = status;
    /* Headers written by hand: civetweb's mg_response_header_* helpers are
     * not usable from begin_request in 1.15. Connections close after each
     * answer, so an unread request body can never desynchronise them. */
    mg_printf(r->conn,
              "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %lld\r\n"
              "X-Request-Id: %s\r\nCache-Control: no-store\r\nConnection: close\r\n",
              status, mg_get_response_code_text(r->conn, status), ctype, len, r->id);
    if (download_name)
        mg_printf(r->conn, "Content-Disposition: attachment; filename=\"%s\"\r\n",
                  download_name);
    for (int i = 0; i < r->nheaders; i++)
        mg_printf(r->conn, "%s: %s\r\n", r->hnames[i], r->hvals[i]);
    mg_printf(r->conn, "\r\n");
}

void km_resp_bytes(km_req *r, int status, const char *content_type, const void *data,
                   size_t len)
{
    if (r->responded)
        return;
    send_head(r, status, content_type, (long long)len, NULL);
    if (len && strcmp(r->method, "HEAD") != 0)
        mg_write(r->conn, data, len);
}

void km_resp_json(km_req *r, int status, json_t *body)
{
    if (r->responded) {
        json_decref(body);
        return;
    }
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(body);
    if (body && !text) {
        km_resp_bytes(r, 500, "application/json",
                      "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}", 56);
        return;
    }
    if (text) {
        size_t n = strlen(text);
        km_resp_bytes(r, status, "application/json", text, n);
        free(text);
    } else {
        km_resp_bytes(r, status, "application/json", "", 0);
    }
}

void km_resp_error(km_req *r, int status, const char *code, const char *field,
                   const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *e = json_pack("{s:s, s:s}", "code", code, "message", msg);
    if (e && field)
        json_object_set_new(e, "field", json_string(field));
    if (e)
        json_object_set_new(e, "request_id", json_string(r->id));
    km_log_fields(status >= 500 ? KM_LOG_ERROR : KM_LOG_INFO, NULL, "error %d %s: %s", status,
                  code, msg);
    km_resp_json(r, status, json_pack("{s:o}", "error", e));
}

void km_resp_km_error(km_req *r, int kmcode, const char *field)
{
    const char *msg = km_errmsg();
    switch (kmcode) {
    case KM_EINVAL: km_resp_error(r, 400, "invalid", field, "%s", msg); break;
    case KM_EFORMAT: km_resp_error(r, 400, "malformed", field, "%s", msg); break;
    case KM_ERANGE: km_resp_error(r, 413, "too_large", field, "%s", msg); break;
    case KM_ENOTFOUND: km_resp_error(r, 404, "not_found", field, "%s", msg); break;
    case KM_EEXIST: km_resp_error(r, 409, "conflict", field, "%s", msg); break;
    case KM_EAGAIN:
        km_resp_header(r, "Retry-After", "5");
        km_resp_error(r, 503, "busy", field, "%s", msg);
        break;
    case KM_EUNSUPPORTED: km_resp_error(r, 501, "not_available", field, "%s", msg); break;
    default: km_resp_error(r, 500, "internal", field, "%s", msg); break;
    }
}

void km_resp_file(km_req *r, const char *path, const char *content_type,
                  const char *download_name)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        km_resp_error(r, 404, "not_found", NULL, "no such file");
        return;
    }
    send_head(r, 200, content_type, (long long)st.st_size, download_name);
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        if (mg_write(r->conn, buf, (size_t)n) <= 0)
            break;
    close(fd);
}
