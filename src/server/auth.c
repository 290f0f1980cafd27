/*
 * auth.c - bearer tokens, id and host checks.
 *
 * Why: when the server listens beyond loopback every API call needs a
 * token. Tokens are kept only as SHA-256 digests (a leaked core dump or
 * token file of digests does not reveal them) and compared in constant
 * time, always against every stored digest.
 *
 * Ownership: km_auth owns its digest array.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kinema/server.h"

#define MAX_TOKENS 1024
#define MAX_TOKEN_LEN 4096

struct km_auth {
    int count;
    uint8_t (*digests)[32];
};

int km_id_ok(const char *s)
{
    if (!s)
        return 0;
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= KM_ID_MAX || !(isalnum(c) || c == '_' || c == '-'))
            return 0;
    }
    return n >= 1;
}

int km_host_is_loopback(const char *host)
{
    if (!host)
        return 0;
    if (strcmp(host, "localhost") == 0)
        return 1;
    return strncmp(host, "127.", 4) == 0;
}

static int add_digest(km_auth *a, const uint8_t d[32])
{
    if (a->count >= MAX_TOKENS)
        return km_seterr(KM_ERANGE, "more than %d tokens", MAX_TOKENS);
    void *p = realloc(a->digests, (size_t)(a->count + 1) * 32);
    if (!p)
        return km_seterr(KM_ENOMEM, "out of memory");
    a->digests = p;
    memcpy(a->digests[a->count++], d, 32);
    return KM_OK;
}

int km_auth_add_token(km_auth *a, const char *token)
{
    size_t len = strlen(token);
    if (len == 0 || len > MAX_TOKEN_LEN)
        return km_seterr(KM_EINVAL, "token must be 1..%d bytes", MAX_TOKEN_LEN);
    uint8_t d[32];
    km_sha256_buf(token, len, d);
    return add_digest(a, d);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One line of a token file: token or sha256:<hex>. */
static int add_line(km_auth *a, char *line, int lineno, const char *path)
{
    size_t len = strlen(line);
    while (len && isspace((unsigned char)line[len - 1]))
        line[--len] = 0;
    while (*line && isspace((unsigned char)*line))
        line++;
    if (!*line || *line == '#')
        return KM_OK;
    if (strncmp(line, "sha256:", 7) == 0) {
        const char *h = line + 7;
        uint8_t d[32];
        if (strlen(h) != 64)
            return km_seterr(KM_EFORMAT, "%s:%d: sha256: needs 64 hex digits", path, lineno);
        for (int i = 0; i < 32; i++) {
            int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return km_seterr(KM_EFORMAT, "%s:%d: bad hex digit", path, lineno);
            d[i] = (uint8_t)(hi << 4 | lo);
        }
        return add_digest(a, d);
    }
    return km_auth_add_token(a, line);
}

int km_auth_load(km_auth **out, const char *path)
{
    uint8_t *text = NULL;
    size_t len = 0;
    int rc = km_read_file(path, 1 << 20, &text, &len);
    if (rc)
        return rc;
    km_auth *a = calloc(1, sizeof *a);
    if (!a) {
        free(text);
        return km_seterr(KM_ENOMEM, "out of memory");
    }
    int lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r((char *)text, "\n", &save); line && !rc;
         line = strtok_r(NULL, "\n", &save))
        rc = add_line(a, line, ++lineno, path);
    /* Scrub the plain tokens from memory. */
    memset(text, 0, len);
    free(text);
    if (!rc && a->count == 0)
        rc = km_seterr(KM_EINVAL, "%s: no tokens", path);
    if (rc) {
        km_auth_free(a);
        return rc;
    }
    *out = a;
    return KM_OK;
}

int km_auth_count(const km_auth *a) { return a ? a->count : 0; }

int km_auth_check(const km_auth *a, const char *hdr)
{
    if (!a || !hdr || strncasecmp(hdr, "Bearer ", 7) != 0)
        return 0;
    const char *tok = hdr + 7;
    while (*tok == ' ')
        tok++;
    size_t len = strnlen(tok, MAX_TOKEN_LEN + 1);
    if (len == 0 || len > MAX_TOKEN_LEN)
        return 0;
    uint8_t d[32];
    km_sha256_buf(tok, len, d);
    int ok = 0;
    for (int i = 0; i < a->count; i++)
        ok |= km_ct_equal(d, a->digests[i], 32);
    return ok;
}


void km_auth_free(km_auth *a)
{
    if (!a)
        return;
    free(a->digests);
    free(a);
}
