/*
 * form.c - multipart/form-data uploads for handlers: text fields into
 * bounded memory, file parts streamed to temp files with a size limit and
 * a SHA-256 computed on the way.
 *
 * Why: a chunk upload can be hundreds of MiB; it must never sit in memory,
 * never exceed --max-upload on disk, and a failed or truncated upload must
 * leave nothing behind.
 *
 * Ownership: km_form owns its values and temp files until km_form_take /
 * km_form_free.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server_priv.h"

typedef struct form_ctx {
    km_form *form;
    km_form_field *cur;
    const char *tmp_dir;
    int64_t max_file;
    FILE *fp;
    km_sha256 sha;
    int status;          /* HTTP status for a callback failure */
    char field[128];
} form_ctx;

static void sanitize(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    const char *base = strrchr(in, '/');
    base = base ? base + 1 : in;
    const char *b2 = strrchr(base, '\\');
    base = b2 ? b2 + 1 : base;
    while (*base == '.')
        base++;
    for (; *base && o + 1 < cap; base++) {
        char c = *base;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        out[o++] = ok ? c : '_';
    }
    out[o] = 0;
    if (!o)
        snprintf(out, cap, "upload");
}

static int on_begin(void *user, const char *name, const char *filename)
{
    form_ctx *c = user;
    km_form *f = c->form;
    snprintf(c->field, sizeof c->field, "%s", name);
    if (f->count >= KM_FORM_MAX_FIELDS) {
        c->status = 413;
        return km_seterr(KM_ERANGE, "more than %d form fields", KM_FORM_MAX_FIELDS);
    }
    if (km_form_get(f, name)) {
        c->status = 400;
        return km_seterr(KM_EINVAL, "form field %s given twice", name);
    }
    km_form_field *fl = &f->fields[f->count++];
    memset(fl, 0, sizeof *fl);
    snprintf(fl->name, sizeof fl->name, "%s", name);
    c->cur = fl;
    if (!filename)
        return KM_OK;
    fl->is_file = 1;
    sanitize(filename, fl->filename, sizeof fl->filename);
    int n = snprintf(fl->path, sizeof fl->path, "%s/upload-XXXXXX", c->tmp_dir);
    if (n < 0 || (size_t)n >= sizeof fl->path) {
        c->status = 500;
        return km_seterr(KM_ERANGE, "temp path too long");
    }
    int fd = mkstemp(fl->path);
    if (fd < 0) {
        fl->path[0] = 0;
        c->status = 500;
        return km_seterr(KM_EIO, "cannot create a temp file in %s: %s", c->tmp_dir,
                         strerror(errno));
    }
    c->fp = fdopen(fd, "wb");
    if (!c->fp) {
        close(fd);
        c->status = 500;
        return km_seterr(KM_EIO, "fdopen: %s", strerror(errno));
    }
    km_sha256_init(&c->sha);
    return KM_OK;
}

static int on_data(void *user, const void *data, size_t len)
{
    form_ctx *c = user;
    km_form_field *fl = c->cur;
    if (fl->is_file) {
        if (fl->size + (int64_t)len > c->max_file) {
            c->status = 413;
            return km_seterr(KM_ERANGE, "file %s is over the limit of %lld bytes", fl->name,
                             (long long)c->max_file);
        }
        if (fwrite(data, 1, len, c->fp) != len) {
            c->status = 500;
            return km_seterr(KM_EIO, "cannot write upload: %s", strerror(errno));
        }
        km_sha256_update(&c->sha, data, len);
        fl->size += (int64_t)len;
        return KM_OK;
    }
    if (fl->value_len + len > KM_FORM_MAX_VALUE) {
        c->status = 413;
        return km_seterr(KM_ERANGE, "field %s is longer than %d bytes", fl->name,
                         KM_FORM_MAX_VALUE);
    }
    char *v = realloc(fl->value, fl->value_len + len + 1);
    if (!v) {
        c->status = 500;
        return km_seterr(KM_ENOMEM, "out of memory");
    }
    memcpy(v + fl->value_len, data, len);
    fl->value_len += len;
    v[fl->value_len] = 0;
    fl->value = v;
    return KM_OK;
}

static int on_end(void *user)
{
    form_ctx *c = user;
    km_form_field *fl = c->cur;
    if (fl->is_file) {
        uint8_t d[32];
        int bad = fflush(c->fp) != 0 || fsync(fileno(c->fp)) != 0;
        bad |= fclose(c->fp) != 0;
        c->fp = NULL;
        if (bad) {
            c->status = 500;
            return km_seterr(KM_EIO, "cannot write upload: %s", strerror(errno));
        }
        km_sha256_final(&c->sha, d);
        km_sha256_hex(d, fl->sha256);
    } else if (!fl->value) {
        fl->value = calloc(1, 1);
        if (!fl->value)
            return km_seterr(KM_ENOMEM, "out of memory");
    }
    c->cur = NULL;
    return KM_OK;
}

static int read_all(km_req *r, km_mp *mp, form_ctx *c)
{
    char *buf = malloc(65536);
    if (!buf)
        return km_seterr(KM_ENOMEM, "out of memory");
    int rc = KM_OK;
    for (;;) {
        int64_t n = km_req_read(r, buf, 65536);
        if (n < 0) {
            c->status = 400;
            rc = km_seterr(KM_EFORMAT, "upload truncated: the connection ended early");
            break;
        }
        if (n == 0)
            break;
        rc = km_mp_feed(mp, buf, (size_t)n);
        if (rc)
            break;
    }
    free(buf);
    if (!rc && (rc = km_mp_finish(mp)) != 0)
        c->status = 400;
    return rc;
}

static void fail_answer(km_req *r, form_ctx *c, int rc)
{
    int status = c->status ? c->status : (rc == KM_ERANGE ? 413 : 400);
    const char *code = status == 413 ? "too_large" : status == 500 ? "internal" : "malformed";
    if (strstr(km_errmsg(), "truncated"))
        code = "truncated";
    km_req_drain(r, 4 << 20);
    km_resp_error(r, status, code, c->field[0] ? c->field : NULL, "%s", km_errmsg());
}

int km_req_form(km_req *r, const char *tmp_dir, int64_t max_file, km_form *out)
{
    memset(out, 0, sizeof *out);
    const char *ct = km_req_header(r, "Content-Type");
    form_ctx c = {.form = out, .tmp_dir = tmp_dir, .max_file = max_file};
    if (r->content_length > 0 && r->content_length > max_file + (1 << 20)) {
        km_seterr(KM_ERANGE, "upload of %lld bytes is over the limit of %lld bytes",
                  r->content_length, (long long)max_file);
        c.status = 413;
        fail_answer(r, &c, KM_ERANGE);
        return KM_ERANGE;
    }
    km_mp *mp;
    km_mp_callbacks cb = {on_begin, on_data, on_end};
    int rc = km_mp_create(&mp, ct, &cb, &c);
    if (rc) {
        km_req_drain(r, 4 << 20);
        km_resp_error(r, 415, "unsupported_media_type", NULL, "%s", km_errmsg());
        return rc;
    }
    rc = read_all(r, mp, &c);
    km_mp_free(mp);
    if (c.fp) {
        fclose(c.fp);
        c.fp = NULL;
    }
    if (rc) {
        fail_answer(r, &c, rc);
        km_form_free(out);
        return rc;
    }
    return KM_OK;
}

const km_form_field *km_form_get(const km_form *f, const char *name)
{
    for (int i = 0; i < f->count; i++)
        if (strcmp(f->fields[i].name, name) == 0)
            return &f->fields[i];
    return NULL;
}

void km_form_take(km_form *f, const char *name)
{
    for (int i = 0; i < f->count; i++)
        if (strcmp(f->fields[i].name, name) == 0)
            f->fields[i].path[0] = 0;
}

void km_form_free(km_form *f)
{
    for (int i = 0; i < f->count; i++) {
        if (f->fields[i].path[0])
            unlink(f->fields[i].path);
        free(f->fields[i].value);
    }
    memset(f, 0, sizeof *f);
}
