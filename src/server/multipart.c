/*
 * multipart.c - streaming multipart/form-data parser (RFC 7578 / 2046).
 *
 * Why our own: uploads must be streamed to disk with a size limit, a
 * checksum and a clear verdict on truncated bodies, and the parser must be
 * testable without a socket. Input may arrive in pieces of any size; memory
 * use is bounded by one fixed window (KM_MP_MAX_HEADER + 64 KiB).
 *
 * Ownership: km_mp owns its window; names passed to callbacks are borrowed
 * for the duration of the call.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kinema/server.h"

enum { ST_PREAMBLE, ST_AFTER_DELIM, ST_HEADERS, ST_BODY, ST_END };

#define WINDOW (64 * 1024 + KM_MP_MAX_HEADER)

struct km_mp {
    km_mp_callbacks cb;
    void *user;
    char delim[KM_MP_MAX_BOUNDARY + 5]; /* "\r\n--" boundary */
    size_t dlen;
    int state;
    int parts;
    size_t n;                 /* bytes in win */
    char win[WINDOW];
};

/* Extract the boundary parameter of a Content-Type value into out. */
static int parse_boundary(const char *ct, char *out, size_t cap)
{
    if (!ct || strncasecmp(ct, "multipart/form-data", 19) != 0)
        return km_seterr(KM_EINVAL, "Content-Type is not multipart/form-data");
    const char *p = strcasestr(ct, "boundary=");
    if (!p)
        return km_seterr(KM_EINVAL, "multipart Content-Type has no boundary");
    p += 9;
    size_t len = 0;
    if (*p == '"') {
        const char *q = strchr(p + 1, '"');
        if (!q)
            return km_seterr(KM_EINVAL, "unterminated quoted boundary");
        p++;
        len = (size_t)(q - p);
    } else {
        len = strcspn(p, "; \t");
    }
    if (len == 0 || len > KM_MP_MAX_BOUNDARY || len >= cap)
        return km_seterr(KM_EINVAL, "multipart boundary must be 1..70 characters");
    memcpy(out, p, len);
    out[len] = 0;
    return KM_OK;
}

int km_mp_create(km_mp **out, const char *content_type, const km_mp_callbacks *cb, void *user)
{
    char b[KM_MP_MAX_BOUNDARY + 1];
    int rc = parse_boundary(content_type, b, sizeof b);
    if (rc)
        return rc;
    km_mp *m = calloc(1, sizeof *m);
    if (!m)
        return km_seterr(KM_ENOMEM, "out of memory");
    m->cb = *cb;
    m->user = user;
    m->dlen = (size_t)snprintf(m->delim, sizeof m->delim, "\r\n--%s", b);
    /* A virtual CRLF before the body lets the first delimiter match like
     * every other one. */
    memcpy(m->win, "\r\n", 2);
    m->n = 2;
    m->state = ST_PREAMBLE;
    *out = m;
    return KM_OK;
}

void km_mp_free(km_mp *m) { free(m); }

static void consume(km_mp *m, size_t k)
{
    memmove(m->win, m->win + k, m->n - k);
    m->n -= k;
}

/* Value of parameter `key` ("name" or "filename") in a Content-Disposition
 * header; 1 when found. */
static int disp_param(const char *h, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    for (const char *p = h; (p = strcasestr(p, key)) != NULL; p += klen) {
        if (p > h && p[-1] != ';' && p[-1] != ' ' && p[-1] != '\t')
            continue;
        const char *v = p + klen;
        while (*v == ' ')
            v++;
        if (*v != '=')
            continue;
        v++;
        while (*v == ' ')
            v++;
        size_t o = 0;
        if (*v == '"') {
            for (v++; *v && *v != '"'; v++) {
                if (*v == '\\' && v[1])
                    v++;
                if (o + 1 < cap)
                    out[o++] = *v;
            }
        } else {
            for (; *v && *v != ';' && *v != ' ' && *v != '\r'; v++)
                if (o + 1 < cap)
                    out[o++] = *v;
        }
        out[o] = 0;
        return 1;
    }
    return 0;
}

static int parse_headers(km_mp *m, size_t hlen)
{
    char h[KM_MP_MAX_HEADER + 1];
    memcpy(h, m->win, hlen);
    h[hlen] = 0;
    char name[256], filename[256];
    int have_name = 0, have_file = 0;
    for (char *line = h; line && *line;) {
        char *eol = strstr(line, "\r\n");
        if (eol)
            *eol = 0;
        if (strncasecmp(line, "Content-Disposition:", 20) == 0) {
            if (!strcasestr(line, "form-data"))
                return km_seterr(KM_EFORMAT, "multipart part is not form-data");
            have_name = disp_param(line + 20, "name", name, sizeof name);
            have_file = disp_param(line + 20, "filename", filename, sizeof filename);
        }
        line = eol ? eol + 2 : NULL;
    }
    if (!have_name || !name[0])
        return km_seterr(KM_EFORMAT, "multipart part without a Content-Disposition name");
    if (++m->parts > KM_MP_MAX_PARTS)
        return km_seterr(KM_ERANGE, "more than %d multipart parts", KM_MP_MAX_PARTS);
    return m->cb.part_begin ? m->cb.part_begin(m->user, name, have_file ? filename : NULL) : 0;
}

/* One step of the state machine on the window; *progress says whether it
 * consumed anything (so the caller loops until it stalls). */
static int step(km_mp *m, int *progress)
{
    *progress = 0;
    if (m->state == ST_END) {
        m->n = 0; /* epilogue is ignored */
        return KM_OK;
    }
    if (m->state == ST_PREAMBLE || m->state == ST_BODY) {
        char *d = memmem(m->win, m->n, m->delim, m->dlen);
        size_t emit = d ? (size_t)(d - m->win) : (m->n >= m->dlen ? m->n - m->dlen + 1 : 0);
        if (emit && m->state == ST_BODY && m->cb.part_data) {
            int rc = m->cb.part_data(m->user, m->win, emit);
            if (rc)
                return rc;
        }
        if (d) {
            consume(m, emit + m->dlen);
            if (m->state == ST_BODY && m->cb.part_end) {
                int rc = m->cb.part_end(m->user);
                if (rc)
                    return rc;
            }
            m->state = ST_AFTER_DELIM;
            *progress = 1;
        } else if (emit) {
            consume(m, emit);
            *progress = 1;
        }
        return KM_OK;
    }
    if (m->state == ST_AFTER_DELIM) {
        if (m->n < 2)
            return KM_OK;
        if (m->win[0] == '-' && m->win[1] == '-') {
            m->state = ST_END;
            m->n = 0;
            *progress = 1;
            return KM_OK;
        }
        size_t i = 0;
        while (i < m->n && (m->win[i] == ' ' || m->win[i] == '\t'))
            i++;
        if (i > 64)
            return km_seterr(KM_EFORMAT, "malformed multipart delimiter line");
        if (i + 2 > m->n)
            return KM_OK;
        if (m->win[i] != '\r' || m->win[i + 1] != '\n')
            return km_seterr(KM_EFORMAT, "malformed multipart delimiter line");
        consume(m, i + 2);
        m->state = ST_HEADERS;
        *progress = 1;
        return KM_OK;
    }
    /* ST_HEADERS */
    char *e = memmem(m->win, m->n < KM_MP_MAX_HEADER + 4 ? m->n : KM_MP_MAX_HEADER + 4,
                     "\r\n\r\n", 4);
    if (!e) {
        if (m->n >= KM_MP_MAX_HEADER + 4)
            return km_seterr(KM_ERANGE, "multipart part headers longer than %d bytes",
                             KM_MP_MAX_HEADER);
        return KM_OK;
    }
    size_t hlen = (size_t)(e - m->win);
    if (hlen > KM_MP_MAX_HEADER)
        return km_seterr(KM_ERANGE, "multipart part headers longer than %d bytes",
                         KM_MP_MAX_HEADER);
    int rc = parse_headers(m, hlen);
    if (rc)
        return rc;
    consume(m, hlen + 4);
    m->state = ST_BODY;
    *progress = 1;
    return KM_OK;
}

int km_mp_feed(km_mp *m, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0 || m->n > 0) {
        size_t room = WINDOW - m->n;
        size_t take = len < room ? len : room;
        memcpy(m->win + m->n, p, take);
        m->n += take;
        p += take;
        len -= take;
        int progress = 1;
        while (progress && m->n > 0) {
            int rc = step(m, &progress);
            if (rc)
                return rc;
        }
        if (len == 0)
            break;
        if (m->n == WINDOW)
            return km_seterr(KM_EFORMAT, "multipart parser stalled");
    }
    return KM_OK;
}

int km_mp_finish(km_mp *m)
{
    if (m->state != ST_END)
        return km_seterr(KM_EFORMAT, "multipart body truncated (no closing boundary)");
    return KM_OK;
}
