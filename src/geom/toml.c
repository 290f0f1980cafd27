/*
 * toml.c - the small TOML reader behind calibration files (see toml.h).
 *
 * Recursive descent over a bounded buffer; every limit (nesting, string
 * length, item counts, tables) is checked, and every error names the
 * source and line. Text need not be NUL-terminated.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/util.h"
#include "geom/toml.h"

#define TOML_MAX_DEPTH 16
#define TOML_MAX_STRING 4096
#define TOML_MAX_ITEMS 1000000
#define TOML_MAX_TABLES 4096
#define TOML_MAX_KEYS 4096

typedef struct {
    const char *s;
    size_t len, pos;
    int line;
    const char *src;
} parser;

static int perr(const parser *p, const char *msg)
{
    return km_seterr(KM_EFORMAT, "%s:%d: %s", p->src, p->line, msg);
}

static int peek(const parser *p)
{
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

/* Skip spaces, tabs and a comment (not newlines). */
static void skip_ws(parser *p)
{
    for (;;) {
        int c = peek(p);
        if (c == ' ' || c == '\t' || c == '\r') {
            p->pos++;
        } else if (c == '#') {
            while (p->pos < p->len && p->s[p->pos] != '\n')
                p->pos++;
        } else {
            return;
        }
    }
}

/* Skip whitespace, comments and newlines (inside arrays). */
static void skip_ws_nl(parser *p)
{
    for (;;) {
        skip_ws(p);
        if (peek(p) == '\n') {
            p->pos++;
            p->line++;
        } else {
            return;
        }
    }
}

static void value_free(toml_value *v)
{
    free(v->str);
    for (int i = 0; i < v->n; i++)
        value_free(&v->items[i]);
    free(v->items);
    memset(v, 0, sizeof *v);
}

static int is_bare(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

static int put_utf8(char *buf, size_t *n, unsigned long cp)
{
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    if (cp < 0x80) {
        buf[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        buf[(*n)++] = (char)(0xC0 | (cp >> 6));
        buf[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        buf[(*n)++] = (char)(0xE0 | (cp >> 12));
        buf[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        buf[(*n)++] = (char)(0xF0 | (cp >> 18));
        buf[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        buf[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[(*n)++] = (char)(0x80 | (cp & 0x3F));
    }
    return 0;
}

/* A basic ("...") or literal ('...') single-line string. */
static int parse_string(parser *p, char **out)
{
    int quote = peek(p);
    p->pos++;
    if (p->pos + 1 < p->len && p->s[p->pos] == quote && p->s[p->pos + 1] == quote)
        return perr(p, "multi-line strings are not supported");
    char buf[TOML_MAX_STRING + 8];
    size_t n = 0;
    for (;;) {
        int c = peek(p);
        if (c < 0 || c == '\n')
            return perr(p, "unterminated string");
        p->pos++;
        if (c == quote)
            break;
        if (n >= TOML_MAX_STRING)
            return perr(p, "string longer than 4096 bytes");
        if (c == '\\' && quote == '"') {
            int e = peek(p);
            p->pos++;
            switch (e) {
            case 'n': buf[n++] = '\n'; break;
            case 't': buf[n++] = '\t'; break;
            case 'r': buf[n++] = '\r'; break;
            case 'b': buf[n++] = '\b'; break;
            case 'f': buf[n++] = '\f'; break;
            case '"': buf[n++] = '"'; break;
            case '\\': buf[n++] = '\\'; break;
            case 'u':
            case 'U': {
                int digits = e == 'u' ? 4 : 8;
                unsigned long cp = 0;
                for (int i = 0; i < digits; i++) {
                    int h = peek(p);
                    p->pos++;
                    int v = h >= '0' && h <= '9'   ? h - '0'
                            : h >= 'a' && h <= 'f' ? h - 'a' + 10
                            : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                   : -1;
                    if (v < 0)
                        return perr(p, "bad \\u escape in string");
                    cp = cp * 16 + (unsigned long)v;
                }
                if (put_utf8(buf, &n, cp) != 0)
                    return perr(p, "bad unicode code point in string");
                break;
            }
            default: return perr(p, "unknown escape in string");
            }
        } else {
            if (c < 0x20 && c != '\t')
                return perr(p, "control character in string");
            buf[n++] = (char)c;
        }
    }
    *out = malloc(n + 1);
    if (!*out)
        return km_seterr(KM_ENOMEM, "%s:%d: out of memory", p->src, p->line);
    memcpy(*out, buf, n);
    (*out)[n] = '\0';
    return 0;
}

static int parse_number(parser *p, double *out)
{
    char buf[128];
    size_t n = 0;
    while (p->pos < p->len) {
        int c = peek(p);
        if (!(is_bare(c) || c == '+' || c == '.'))
            break;
        p->pos++;
        if (c == '_')
            continue;
        if (n + 1 >= sizeof buf)
            return perr(p, "number too long");
        buf[n++] = (char)c;
    }
    buf[n] = '\0';
    const char *s = buf;
    int neg = 0;
    if (*s == '+' || *s == '-')
        neg = *s == '-', s++;
    if (strcmp(s, "inf") == 0) {
        *out = neg ? -INFINITY : INFINITY;
        return 0;
    }
    if (strcmp(s, "nan") == 0) {
        *out = NAN;
        return 0;
    }
    if (n == 0 || !(*s >= '0' && *s <= '9'))
        return perr(p, "expected a value (string, number, boolean or array)");
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b'))
        return perr(p, "hex, octal and binary integers are not supported");
    for (const char *q = s; *q; q++)
        if (!((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' || *q == '+' ||
              *q == '-'))
            return perr(p, "malformed number");
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end || errno == ERANGE)
        return perr(p, "malformed or out-of-range number");
    *out = v;
    return 0;
}

static int parse_value(parser *p, toml_value *v, int depth);

static int parse_array(parser *p, toml_value *v, int depth)
{
    if (depth >= TOML_MAX_DEPTH)
        return perr(p, "arrays nested deeper than 16");
    p->pos++; /* '[' */
    v->type = TOML_ARRAY;
    int cap = 0, open_line = p->line;
    for (;;) {
        skip_ws_nl(p);
        if (peek(p) < 0)
            return km_seterr(KM_EFORMAT, "%s:%d: array opened on this line is not closed",
                             p->src, open_line);
        if (peek(p) == ']') {
            p->pos++;
            return 0;
        }
        if (v->n >= TOML_MAX_ITEMS)
            return perr(p, "array with more than 1000000 items");
        if (v->n == cap) {
            int nc = cap ? cap * 2 : 4;
            toml_value *ni = realloc(v->items, (size_t)nc * sizeof *ni);
            if (!ni)
                return km_seterr(KM_ENOMEM, "%s:%d: out of memory", p->src, p->line);
            v->items = ni;
            cap = nc;
        }
        toml_value *item = &v->items[v->n];
        memset(item, 0, sizeof *item);
        v->n++;
        int rc = parse_value(p, item, depth + 1);
        if (rc)
            return rc;
        skip_ws_nl(p);
        int c = peek(p);
        if (c < 0)
            return km_seterr(KM_EFORMAT, "%s:%d: array opened on this line is not closed",
                             p->src, open_line);
        if (c == ',') {
            p->pos++;
        } else if (c == ']') {
            p->pos++;
            return 0;
        } else {
            return perr(p, "expected ',' or ']' in array");
        }
    }
}

static int parse_value(parser *p, toml_value *v, int depth)
{
    v->line = p->line;
    int c = peek(p);
    if (c == '"' || c == '\'') {
        v->type = TOML_STRING;
        return parse_string(p, &v->str);
    }
    if (c == '[')
        return parse_array(p, v, depth);
    if (c == '{')
        return perr(p, "inline tables are not supported");
    size_t rest = p->len - p->pos;
    if (rest >= 4 && memcmp(p->s + p->pos, "true", 4) == 0 &&
        !(rest > 4 && is_bare((unsigned char)p->s[p->pos + 4]))) {
        p->pos += 4;
        v->type = TOML_BOOL;
        v->boolean = 1;
        return 0;
    }
    if (rest >= 5 && memcmp(p->s + p->pos, "false", 5) == 0 &&
        !(rest > 5 && is_bare((unsigned char)p->s[p->pos + 5]))) {
        p->pos += 5;
        v->type = TOML_BOOL;
        return 0;
    }
    v->type = TOML_NUMBER;
    return parse_number(p, &v->num);
}

/* A bare or quoted key; dotted keys are rejected. */
static int parse_key(parser *p, char **out)
{
    int c = peek(p);
    if (c == '"' || c == '\'')
        return parse_string(p, out);
    size_t start = p->pos;
    while (is_bare(peek(p)))
        p->pos++;
    size_t n = p->pos - start;
    if (n == 0)
        return perr(p, "expected a key");
    if (n > TOML_MAX_STRING)
        return perr(p, "key too long");
    *out = malloc(n + 1);
    if (!*out)
        return km_seterr(KM_ENOMEM, "%s:%d: out of memory", p->src, p->line);
    memcpy(*out, p->s + start, n);
    (*out)[n] = '\0';
    return 0;
}

static int end_of_line(parser *p)
{
    skip_ws(p);
    int c = peek(p);
    if (c == '\n') {
        p->pos++;
        p->line++;
        return 0;
    }
    if (c < 0)
        return 0;
    return perr(p, "unexpected text after the value");
}

static int add_table(parser *p, toml_doc *d, char *name)
{
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->tables[i].name, name) == 0) {
            free(name);
            return perr(p, "table defined twice");
        }
    if (d->n >= TOML_MAX_TABLES) {
        free(name);
        return perr(p, "more than 4096 tables");
    }
    if (d->n == d->cap) {
        int nc = d->cap ? d->cap * 2 : 8;
        toml_table *nt = realloc(d->tables, (size_t)nc * sizeof *nt);
        if (!nt) {
            free(name);
            return km_seterr(KM_ENOMEM, "%s: out of memory", p->src);
        }
        d->tables = nt;
        d->cap = nc;
    }
    toml_table *t = &d->tables[d->n++];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->line = p->line;
    return 0;
}

static int parse_header(parser *p, toml_doc *d)
{
    p->pos++; /* '[' */
    if (peek(p) == '[')
        return perr(p, "arrays of tables ([[...]]) are not supported");
    skip_ws(p);
    char buf[TOML_MAX_STRING + 1];
    size_t n = 0;
    for (;;) {
        char *part = NULL;
        int rc = parse_key(p, &part);
        if (rc)
            return rc;
        size_t pl = strlen(part);
        if (n + pl + 1 > TOML_MAX_STRING) {
            free(part);
            return perr(p, "table name too long");
        }
        if (n)
            buf[n++] = '.';
        memcpy(buf + n, part, pl);
        n += pl;
        free(part);
        skip_ws(p);
        if (peek(p) == '.') {
            p->pos++;
            skip_ws(p);
            continue;
        }
        break;
    }
    if (peek(p) != ']')
        return perr(p, "expected ']' after the table name");
    p->pos++;
    buf[n] = '\0';
    char *name = strdup(buf);
    if (!name)
        return km_seterr(KM_ENOMEM, "%s: out of memory", p->src);
    int rc = add_table(p, d, name);
    return rc ? rc : end_of_line(p);
}

static int parse_keyval(parser *p, toml_doc *d)
{
    toml_table *t = &d->tables[d->n - 1];
    char *key = NULL;
    int rc = parse_key(p, &key);
    if (rc)
        return rc;
    skip_ws(p);
    if (peek(p) == '.') {
        free(key);
        return perr(p, "dotted keys are not supported");
    }
    if (peek(p) != '=') {
        free(key);
        return perr(p, "expected '=' after the key");
    }
    p->pos++;
    skip_ws(p);
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->kvs[i].key, key) == 0) {
            free(key);
            return perr(p, "key defined twice in the same table");
        }
    if (t->n >= TOML_MAX_KEYS) {
        free(key);
        return perr(p, "more than 4096 keys in one table");
    }
    if (t->n == t->cap) {
        int nc = t->cap ? t->cap * 2 : 8;
        toml_kv *nk = realloc(t->kvs, (size_t)nc * sizeof *nk);
        if (!nk) {
            free(key);
            return km_seterr(KM_ENOMEM, "%s: out of memory", p->src);
        }
        t->kvs = nk;
        t->cap = nc;
    }
    toml_kv *kv = &t->kvs[t->n++];
    memset(kv, 0, sizeof *kv);
    kv->key = key;
    rc = parse_value(p, &kv->val, 0);
    return rc ? rc : end_of_line(p);
}

void toml_free(toml_doc *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->n; i++) {
        toml_table *t = &d->tables[i];
        for (int k = 0; k < t->n; k++) {
            free(t->kvs[k].key);
            value_free(&t->kvs[k].val);
        }
        free(t->kvs);
        free(t->name);
    }
    free(d->tables);
    memset(d, 0, sizeof *d);
}

int toml_parse(const char *text, size_t len, const char *srcname, toml_doc *out)
{
    memset(out, 0, sizeof *out);
    parser p = {text, len, 0, 1, srcname ? srcname : "<toml>"};
    if (memchr(text, '\0', len))
        return perr(&p, "NUL byte in text");
    char *root = strdup("");
    int rc = root ? add_table(&p, out, root) : km_seterr(KM_ENOMEM, "out of memory");
    while (rc == 0) {
        skip_ws_nl(&p);
        int c = peek(&p);
        if (c < 0)
            break;
        rc = c == '[' ? parse_header(&p, out) : parse_keyval(&p, out);
    }
    if (rc)
        toml_free(out);
    return rc;
}

const toml_value *toml_get(const toml_table *t, const char *key)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->kvs[i].key, key) == 0)
            return &t->kvs[i].val;
    return NULL;
}
