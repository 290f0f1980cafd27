/*
 * xml.c - a small, bounded XML reader for OpenCV's cascade files.
 *
 * Why our own: the cascade format is plain elements with text (no
 * namespaces, entities or CDATA are needed), and a 60-line reader with hard
 * limits on depth, element count and input size is easier to trust on
 * untrusted files than a general parser. It builds a flat tree: every
 * element records its name, the text between its start tag and its first
 * child or end tag, its first child and next sibling. Attributes are
 * skipped. Comments, <?...?> and <!...> declarations are ignored.
 */
#include "vision/vision_priv.h"
#include "vision/xml.h"

#define XML_MAX_DEPTH 64
#define XML_MAX_NODES (1 << 22)

static int xml_fail(const char *buf, const char *at, const char *what)
{
    int line = 1;
    for (const char *p = buf; p < at; p++)
        line += *p == '\n';
    return km_seterr(KM_EFORMAT, "xml line %d: %s", line, what);
}

static int xml_new_node(vis_xml *x, int parent, int *last_child)
{
    if (x->n == XML_MAX_NODES)
        return -1;
    if (x->n == x->cap) {
        int nc = x->cap ? x->cap * 2 : 1024;
        vis_xml_node *nn = realloc(x->nodes, (size_t)nc * sizeof *nn);
        if (!nn)
            return -1;
        x->nodes = nn;
        x->cap = nc;
    }
    int id = x->n++;
    memset(&x->nodes[id], 0, sizeof x->nodes[id]);
    x->nodes[id].first_child = x->nodes[id].next = -1;
    if (parent >= 0) {
        if (last_child[parent] >= 0)
            x->nodes[last_child[parent]].next = id;
        else
            x->nodes[parent].first_child = id;
    }
    return id;
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == ':';
}

/* Skip a comment, declaration or processing instruction at p ('<'). */
static const char *skip_special(const char *p, const char *end)
{
    const char *close = NULL;
    if (end - p >= 4 && !memcmp(p, "<!--", 4)) {
        for (const char *q = p + 4; q + 3 <= end; q++)
            if (!memcmp(q, "-->", 3)) {
                close = q + 3;
                break;
            }
        return close;
    }
    for (const char *q = p; q < end; q++)
        if (*q == '>')
            return q + 1;
    return NULL;
}

int vis_xml_parse(const char *buf, size_t len, vis_xml *x)
{
    memset(x, 0, sizeof *x);
    const char *p = buf, *end = buf + len;
    int stack[XML_MAX_DEPTH];
    int *last_child = NULL;
    int depth = 0, rc = 0;
    size_t lc_cap = 0;
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt)
            break;
        p = lt;
        if (p + 1 < end && (p[1] == '!' || p[1] == '?')) {
            if (!(p = skip_special(p, end))) {
                rc = xml_fail(buf, lt, "unterminated comment or declaration");
                goto out;
            }
            continue;
        }
        if (p + 1 < end && p[1] == '/') {
            const char *n = p + 2, *q = n;
            while (q < end && is_name_char(*q))
                q++;
            if (depth == 0) {
                rc = xml_fail(buf, p, "end tag without start tag");
                goto out;
            }
            vis_xml_node *open = &x->nodes[stack[depth - 1]];
            if ((size_t)(q - n) != open->name_len || memcmp(n, open->name, open->name_len)) {
                rc = xml_fail(buf, p, "end tag does not match its start tag");
                goto out;
            }
            if (open->first_child < 0)
                open->text_len = (size_t)(p - open->text);
            depth--;
            while (q < end && *q != '>')
                q++;
            p = q < end ? q + 1 : end;
            continue;
        }
        const char *n = p + 1, *q = n;
        while (q < end && is_name_char(*q))
            q++;
        if (q == n) {
            rc = xml_fail(buf, p, "expected an element name after '<'");
            goto out;
        }
        while (q < end && *q != '>') {
            if (*q == '"' || *q == '\'') {
                const char *cq = memchr(q + 1, *q, (size_t)(end - q - 1));
                if (!cq)
                    break;
                q = cq;
            }
            q++;
        }
        if (q >= end) {
            rc = xml_fail(buf, p, "unterminated start tag");
            goto out;
        }
        int parent = depth ? stack[depth - 1] : -1;
        if ((size_t)x->n + 1 > lc_cap) {
            size_t nc = lc_cap ? lc_cap * 2 : 1024;
            int *nl = realloc(last_child, nc * sizeof *nl);
            if (!nl) {
                rc = km_seterr(KM_ENOMEM, "xml: out of memory");
                goto out;
            }
            last_child = nl;
            lc_cap = nc;
        }
        if (parent >= 0 && x->nodes[parent].first_child < 0)
            x->nodes[parent].text_len = (size_t)(p - x->nodes[parent].text);
        int id = xml_new_node(x, parent, last_child);
        if (id < 0) {
            rc = km_seterr(KM_ENOMEM, "xml: more than %d elements or out of memory", XML_MAX_NODES);
            goto out;
        }
        if (parent >= 0)
            last_child[parent] = id;
        last_child[id] = -1;
        x->nodes[id].name = n;
        {
            const char *ne = n;
            while (ne < end && is_name_char(*ne))
                ne++;
            x->nodes[id].name_len = (size_t)(ne - n);
        }
        x->nodes[id].text = q + 1;
        if (q[-1] == '/') { /* self-closing */
            x->nodes[id].text_len = 0;
        } else {
            if (depth == XML_MAX_DEPTH) {
                rc = xml_fail(buf, p, "elements nested too deeply");
                goto out;
            }
            stack[depth++] = id;
        }
        p = q + 1;
    }
    if (depth) {
        rc = xml_fail(buf, end, "unexpected end of file inside an element");
        goto out;
    }
    if (x->n == 0)
        rc = km_seterr(KM_EFORMAT, "xml: no elements");
out:
    free(last_child);
    if (rc)
        vis_xml_free(x);
    return rc;
}

void vis_xml_free(vis_xml *x)
{
    free(x->nodes);
    memset(x, 0, sizeof *x);
}

int vis_xml_child(const vis_xml *x, int node, const char *name)
{
    if (node < 0)
        return -1;
    size_t nl = strlen(name);
    for (int c = x->nodes[node].first_child; c >= 0; c = x->nodes[c].next)
        if (x->nodes[c].name_len == nl && !memcmp(x->nodes[c].name, name, nl))
            return c;
    return -1;
}

int vis_xml_count(const vis_xml *x, int node)
{
    int n = 0;
    if (node >= 0)
        for (int c = x->nodes[node].first_child; c >= 0; c = x->nodes[c].next)
            n++;
    return n;
}
