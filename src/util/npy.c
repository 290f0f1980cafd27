/*
 * npy.c - NumPy .npy arrays: the dtype/shape container and (de)serialiser.
 *
 * .npy is the interchange format of our users' Python tools: keypoint
 * tracks, calibration matrices and features go out as .npy/.npz and come
 * back in. The format: "\x93NUMPY", version (1.0: u16 header length,
 * 2.0/3.0: u32), a Python dict literal with 'descr', 'fortran_order' and
 * 'shape', padded so the data starts on a 64-byte boundary, then the raw
 * data in C order.
 *
 * We write version 1.0, little-endian (host order is checked). We read
 * any version, either byte order, for the five dtypes kinema uses. The
 * header parser accepts exactly the dict numpy writes (keys in any order,
 * either quote style, optional trailing commas) and nothing else. Every
 * size from the input is overflow-checked, and the data size is compared
 * with the bytes actually present before anything is allocated, so a
 * hostile header cannot make us allocate more than the input implies.
 *
 * Ownership: arrays from km_array_alloc / km_npy_decode / km_npy_read own
 * their data (km_array_free); encoded buffers are the caller's (free()).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/util.h"
#include "util/npy_internal.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64
#define NPY_READ_MAX (SIZE_MAX / 2) /* largest .npy file km_npy_read loads */

/* ---------------------------------------------------------------- arrays */

size_t km_dtype_size(km_dtype t)
{
    switch (t) {
    case KM_DT_F32: return 4;
    case KM_DT_F64: return 8;
    case KM_DT_I32: return 4;
    case KM_DT_I64: return 8;
    case KM_DT_U8: return 1;
    }
    return 0;
}

/* Product of the shape in *count and bytes in *nbytes; KM_ERANGE on
 * overflow or a negative dimension. */
static int shape_size(km_dtype t, int ndim, const int64_t *shape, int64_t *count, size_t *nbytes)
{
    size_t item = km_dtype_size(t);
    if (item == 0)
        return km_seterr(KM_EINVAL, "array: unknown dtype %d", (int)t);
    if (ndim < 0 || ndim > KM_ARRAY_MAXDIM)
        return km_seterr(KM_EINVAL, "array: ndim %d outside 0..%d", ndim, KM_ARRAY_MAXDIM);
    uint64_t c = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return km_seterr(KM_EINVAL, "array: dimension %d is negative (%lld)", i,
                             (long long)shape[i]);
        uint64_t d = (uint64_t)shape[i];
        if (d != 0 && c > (uint64_t)INT64_MAX / d)
            return km_seterr(KM_ERANGE, "array: element count overflows at dimension %d", i);
        c *= d;
    }
    if (c > SIZE_MAX / item)
        return km_seterr(KM_ERANGE, "array: %llu elements of %zu bytes overflow size_t",
                         (unsigned long long)c, item);
    *count = (int64_t)c;
    *nbytes = (size_t)c * item;
    return KM_OK;
}

int64_t km_array_count(const km_array *a)
{
    int64_t c = 1;
    for (int i = 0; i < a->ndim; i++)
        c *= a->shape[i];
    return c;
}

size_t km_array_nbytes(const km_array *a)
{
    return (size_t)km_array_count(a) * km_dtype_size(a->dtype);
}

int km_array_alloc(km_array *a, km_dtype t, int ndim, const int64_t *shape)
{
    memset(a, 0, sizeof *a);
    int64_t count;
    size_t nbytes;
    int rc = shape_size(t, ndim, shape, &count, &nbytes);
    if (rc != KM_OK)
        return rc;
    /* never NULL, even for empty arrays, so callers need no special case */
    void *data = calloc(1, nbytes ? nbytes : 1);
    if (!data)
        return km_seterr(KM_ENOMEM, "array: cannot allocate %zu bytes", nbytes);
    a->dtype = t;
    a->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        a->shape[i] = shape[i];
    a->data = data;
    return KM_OK;
}

void km_array_free(km_array *a)
{
    if (!a)
        return;
    free(a->data);
    a->data = NULL;
}

/* ------------------------------------------------------------ byte order */

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

static void byteswap_items(uint8_t *p, size_t count, size_t item)
{
    for (size_t i = 0; i < count; i++, p += item)
        for (size_t a = 0, b = item - 1; a < b; a++, b--) {
            uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* ---------------------------------------------------------------- encode */

static const char *dtype_code(km_dtype t)
{
    switch (t) {
    case KM_DT_F32: return "f4";
    case KM_DT_F64: return "f8";
    case KM_DT_I32: return "i4";
    case KM_DT_I64: return "i8";
    case KM_DT_U8: return "u1";
    }
    return NULL;
}

/* The header dict text, e.g. "{'descr': '<f4', 'fortran_order': False,
 * 'shape': (2, 3), }", into buf; returns its length. */
static size_t format_header_dict(char *buf, size_t cap, const km_array *a)
{
    char order = a->dtype == KM_DT_U8 ? '|' : host_is_little_endian() ? '<' : '>';
    size_t n = (size_t)snprintf(buf, cap, "{'descr': '%c%s', 'fortran_order': False, 'shape': (",
                                order, dtype_code(a->dtype));
    for (int i = 0; i < a->ndim; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)a->shape[i]);
    n += (size_t)snprintf(buf + n, cap - n, "%s), }", a->ndim == 1 ? "," : "");
    return n;
}

int km_npy_encode(const km_array *a, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    int64_t count;
    size_t nbytes;
    int rc = shape_size(a->dtype, a->ndim, a->shape, &count, &nbytes);
    if (rc != KM_OK)
        return rc;
    if (nbytes > 0 && !a->data)
        return km_seterr(KM_EINVAL, "npy encode: array has no data");
    char dict[512]; /* 8 dims of 20 digits fit easily */
    size_t dl = format_header_dict(dict, sizeof dict, a);
    /* magic(6) + version(2) + u16 length + dict + spaces + '\n' */
    size_t header = NPY_MAGIC_LEN + 2 + 2 + dl + 1;
    size_t padded = (header + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    if (nbytes > SIZE_MAX - padded)
        return km_seterr(KM_ERANGE, "npy encode: array too large");
    uint8_t *out = malloc(padded + nbytes);
    if (!out)
        return km_seterr(KM_ENOMEM, "npy encode: cannot allocate %zu bytes", padded + nbytes);
    size_t hlen = padded - (NPY_MAGIC_LEN + 4);
    memcpy(out, NPY_MAGIC, NPY_MAGIC_LEN);
    out[6] = 1;
    out[7] = 0;
    out[8] = (uint8_t)(hlen & 0xFF);
    out[9] = (uint8_t)(hlen >> 8);
    memcpy(out + 10, dict, dl);
    memset(out + 10 + dl, ' ', hlen - dl - 1);
    out[padded - 1] = '\n';
    if (nbytes)
        memcpy(out + padded, a->data, nbytes);
    *buf = out;
    *len = padded + nbytes;
    return KM_OK;
}

/* ------------------------------------------------------- header parsing */

typedef struct {
    const char *p, *end;
} cursor;

static void skip_space(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* Consumes ch (after spaces) if present. */
static int accept(cursor *c, char ch)
{
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A '...' or "..." literal without escapes, copied into out. */
static int parse_string(cursor *c, char *out, size_t cap)
{
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return 0;
    char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        if (*c->p == '\\' || n + 1 >= cap)
            return 0;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return 0;
    c->p++;
    out[n] = '\0';
    return 1;
}

static int accept_word(cursor *c, const char *word)
{
    skip_space(c);
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, word, n) == 0) {
        c->p += n;
        return 1;
    }
    return 0;
}

/* A non-negative decimal integer <= INT64_MAX (an optional 'L' suffix as
 * old Python 2 numpy wrote it is accepted). */
static int parse_dim(cursor *c, int64_t *v)
{
    skip_space(c);
    uint64_t x = 0;
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned d = (unsigned)(*c->p - '0');
        if (x > ((uint64_t)INT64_MAX - d) / 10)
            return 0;
        x = x * 10 + d;
        c->p++;
    }
    if (c->p == start)
        return 0;
    if (c->p < c->end && *c->p == 'L')
        c->p++;
    *v = (int64_t)x;
    return 1;
}

/* "(a, b, c)" with an optional trailing comma; "()" for 0-d. */
static int parse_shape(cursor *c, npy_header *h)
{
    if (!accept(c, '('))
        return km_seterr(KM_EFORMAT, "npy header: 'shape' is not a tuple");
    h->ndim = 0;
    if (accept(c, ')'))
        return KM_OK;
    for (;;) {
        if (h->ndim == KM_ARRAY_MAXDIM)
            return km_seterr(KM_EUNSUPPORTED, "npy header: more than %d dimensions",
                             KM_ARRAY_MAXDIM);
        if (!parse_dim(c, &h->shape[h->ndim]))
            return km_seterr(KM_EFORMAT, "npy header: bad dimension %d in 'shape'", h->ndim);
        h->ndim++;
        int comma = accept(c, ',');
        if (accept(c, ')'))
            return KM_OK;
        if (!comma)
            return km_seterr(KM_EFORMAT, "npy header: expected ',' or ')' in 'shape'");
    }
}

/* '<f4' etc. into dtype and byte order. */
static int parse_descr(const char *d, npy_header *h)
{
    static const struct {
        const char *code;
        km_dtype t;
    } types[] = { { "f4", KM_DT_F32 }, { "f8", KM_DT_F64 }, { "i4", KM_DT_I32 },
                  { "i8", KM_DT_I64 }, { "u1", KM_DT_U8 } };
    char order = d[0];
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return km_seterr(KM_EUNSUPPORTED, "npy: dtype '%s' is not supported", d);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(d + 1, types[i].code) != 0)
            continue;
        h->dtype = types[i].t;
        if (order == '|' && km_dtype_size(h->dtype) != 1)
            return km_seterr(KM_EFORMAT, "npy: dtype '%s' needs a byte order", d);
        h->swap = (order == '<' && !host_is_little_endian()) ||
                  (order == '>' && host_is_little_endian());
        if (km_dtype_size(h->dtype) == 1)
            h->swap = 0;
        return KM_OK;
    }
    return km_seterr(KM_EUNSUPPORTED,
                     "npy: dtype '%s' is not supported (only f4, f8, i4, i8, u1)", d);
}

static int parse_dict(cursor *c, npy_header *h)
{
    int seen_descr = 0, seen_order = 0, seen_shape = 0;
    char key[32], descr[32];
    if (!accept(c, '{'))
        return km_seterr(KM_EFORMAT, "npy header: not a dict");
    while (!accept(c, '}')) {
        if (!parse_string(c, key, sizeof key) || !accept(c, ':'))
            return km_seterr(KM_EFORMAT, "npy header: expected a quoted key and ':'");
        int rc = KM_OK;
        if (strcmp(key, "descr") == 0 && !seen_descr++) {
            if (!parse_string(c, descr, sizeof descr))
                return km_seterr(KM_EUNSUPPORTED,
                                 "npy: structured or unknown 'descr' is not supported");
            rc = parse_descr(descr, h);
        } else if (strcmp(key, "fortran_order") == 0 && !seen_order++) {
            if (accept_word(c, "True"))
                h->fortran = 1;
            else if (!accept_word(c, "False"))
                return km_seterr(KM_EFORMAT, "npy header: 'fortran_order' is not a bool");
        } else if (strcmp(key, "shape") == 0 && !seen_shape++) {
            rc = parse_shape(c, h);
        } else {
            return km_seterr(KM_EFORMAT, "npy header: unexpected or repeated key '%s'", key);
        }
        if (rc != KM_OK)
            return rc;
        if (!accept(c, ',')) {
            if (!accept(c, '}'))
                return km_seterr(KM_EFORMAT, "npy header: expected ',' or '}'");
            break;
        }
    }
    skip_space(c);
    if (c->p != c->end)
        return km_seterr(KM_EFORMAT, "npy header: junk after the dict");
    if (!seen_descr || !seen_order || !seen_shape)
        return km_seterr(KM_EFORMAT, "npy header: missing '%s'",
                         !seen_descr ? "descr" : !seen_order ? "fortran_order" : "shape");
    return KM_OK;
}

int npy_parse_header(const uint8_t *buf, size_t len, npy_header *h)
{
    memset(h, 0, sizeof *h);
    if (len < NPY_MAGIC_LEN + 4 || memcmp(buf, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return km_seterr(KM_EFORMAT, "npy: missing magic (not a .npy file or truncated)");
    int major = buf[6];
    size_t hlen, start;
    if (major == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        start = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12)
            return km_seterr(KM_EFORMAT, "npy: truncated header");
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 |
               (size_t)buf[11] << 24;
        start = 12;
    } else {
        return km_seterr(KM_EUNSUPPORTED, "npy: format version %d.%d is not supported", major,
                         buf[7]);
    }
    if (hlen > len - start)
        return km_seterr(KM_EFORMAT, "npy: header of %zu bytes is truncated", hlen);
    /* version 3.0 header is UTF-8; the dict we accept is ASCII either way */
    cursor c = { (const char *)buf + start, (const char *)buf + start + hlen };
    int rc = parse_dict(&c, h);
    if (rc != KM_OK)
        return rc;
    if (h->fortran)
        return km_seterr(KM_EUNSUPPORTED, "npy: Fortran-order arrays are not supported");
    int64_t count;
    rc = shape_size(h->dtype, h->ndim, h->shape, &count, &h->nbytes);
    if (rc != KM_OK)
        return km_seterr(KM_EFORMAT, "npy: shape is too large for this machine");
    h->data_offset = start + hlen;
    return KM_OK;
}

int km_npy_decode(const uint8_t *buf, size_t len, km_array *out)
{
    memset(out, 0, sizeof *out);
    npy_header h;
    int rc = npy_parse_header(buf, len, &h);
    if (rc != KM_OK)
        return rc;
    size_t avail = len - h.data_offset;
    if (h.nbytes > avail)
        return km_seterr(KM_EFORMAT, "npy: data truncated (%zu of %zu bytes)", avail, h.nbytes);
    if (h.nbytes < avail)
        return km_seterr(KM_EFORMAT, "npy: %zu unexpected bytes after the data",
                         avail - h.nbytes);
    rc = km_array_alloc(out, h.dtype, h.ndim, h.shape);
    if (rc != KM_OK)
        return rc;
    if (h.nbytes)
        memcpy(out->data, buf + h.data_offset, h.nbytes);
    if (h.swap)
        byteswap_items(out->data, h.nbytes / km_dtype_size(h.dtype), km_dtype_size(h.dtype));
    return KM_OK;
}

/* ------------------------------------------------------------------ files */

int km_npy_write(const char *path, const km_array *a)
{
    uint8_t *buf;
    size_t len;
    int rc = km_npy_encode(a, &buf, &len);
    if (rc != KM_OK)
        return rc;
    rc = km_write_file_atomic(path, buf, len);
    free(buf);
    return rc;
}

int km_npy_read(const char *path, km_array *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *buf;
    size_t len;
    int rc = km_read_file(path, NPY_READ_MAX, &buf, &len);
    if (rc != KM_OK)
        return rc;
    rc = km_npy_decode(buf, len, out);
    free(buf);
    if (rc != KM_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", km_errmsg());
        return km_seterr(rc, "%s: %s", path, why);
    }
    return KM_OK;
}
