/*
 * fbuf.c - bounded FlatBuffers reader (see fbuf.h for why).
 *
 * Layout reminders (FlatBuffers wire format): a table starts with an int32
 * soffset to its vtable (vtable = table - soffset); a vtable holds uint16
 * vtable size, uint16 table size, then one uint16 offset per field (0 =
 * absent). Offsets to tables, vectors and strings are uint32 relative to
 * the position holding them; vectors and strings start with a uint32 count.
 */
#include "nn/fbuf.h"

#include "kinema/util.h"

static int bad(const char *what, size_t pos)
{
    return km_seterr(KM_EFORMAT, "flatbuffer: %s out of bounds at offset %zu", what, pos);
}

static int in_bounds(const fb_buf *b, size_t pos, size_t len)
{
    return pos <= b->n && len <= b->n - pos;
}

int fb_root(const fb_buf *b, size_t *table)
{
    if (!in_bounds(b, 0, 8))
        return km_seterr(KM_EFORMAT, "flatbuffer: file too small (%zu bytes)", b->n);
    size_t t = fb_rd32(b->p);
    if (t < 4 || !in_bounds(b, t, 4))
        return bad("root table", t);
    *table = t;
    return 0;
}

/* Position of field `id` needing `size` bytes, or 0 when absent. */
static int field_pos(const fb_buf *b, size_t table, int id, size_t size, size_t *pos)
{
    *pos = 0;
    if (table == 0 || id < 0 || id > 1000)
        return table == 0 ? 0 : bad("field id", table);
    if (!in_bounds(b, table, 4))
        return bad("table", table);
    int32_t so = (int32_t)fb_rd32(b->p + table);
    int64_t vt = (int64_t)table - (int64_t)so;
    if (vt < 0 || !in_bounds(b, (size_t)vt, 4))
        return bad("vtable", table);
    uint16_t vsize = fb_rd16(b->p + vt);
    uint16_t tsize = fb_rd16(b->p + vt + 2);
    if (vsize < 4 || (vsize & 1) || !in_bounds(b, (size_t)vt, vsize) || !in_bounds(b, table, tsize))
        return bad("vtable size", (size_t)vt);
    size_t slot = 4 + 2 * (size_t)id;
    if (slot + 2 > vsize)
        return 0;
    uint16_t off = fb_rd16(b->p + vt + slot);
    if (off == 0)
        return 0;
    if (off < 4 || (size_t)off + size > tsize)
        return bad("field", table + off);
    *pos = table + off;
    return 0;
}

#define FB_SCALAR(fn, type, sz, expr)                                          \
    int fn(const fb_buf *b, size_t table, int id, type def, type *out)         \
    {                                                                          \
        size_t pos;                                                            \
        int rc = field_pos(b, table, id, sz, &pos);                            \
        if (rc)                                                                \
            return rc;                                                         \
        if (!pos) {                                                            \
            *out = def;                                                        \
            return 0;                                                          \
        }                                                                      \
        const uint8_t *p = b->p + pos;                                         \
        *out = (type)(expr);                                                   \
        return 0;                                                              \
    }

FB_SCALAR(fb_u8, uint8_t, 1, p[0])
FB_SCALAR(fb_i8, int8_t, 1, (int8_t)p[0])
FB_SCALAR(fb_i32, int32_t, 4, (int32_t)fb_rd32(p))
FB_SCALAR(fb_u32, uint32_t, 4, fb_rd32(p))
FB_SCALAR(fb_u64, uint64_t, 8, (uint64_t)fb_rd32(p) | ((uint64_t)fb_rd32(p + 4) << 32))

int fb_bool(const fb_buf *b, size_t table, int id, int *out)
{
    uint8_t v = 0;
    int rc = fb_u8(b, table, id, 0, &v);
    *out = v != 0;
    return rc;
}

/* Follow the uoffset stored at `pos`. */
static int deref(const fb_buf *b, size_t pos, size_t *target)
{
    if (!in_bounds(b, pos, 4))
        return bad("offset", pos);
    uint32_t off = fb_rd32(b->p + pos);
    if (off == 0 || (size_t)off > b->n - pos)
        return bad("offset target", pos);
    *target = pos + off;
    return 0;
}

int fb_table(const fb_buf *b, size_t table, int id, size_t *sub)
{
    size_t pos;
    *sub = 0;
    int rc = field_pos(b, table, id, 4, &pos);
    if (rc || !pos)
        return rc;
    rc = deref(b, pos, sub);
    if (!rc && !in_bounds(b, *sub, 4))
        return bad("sub-table", *sub);
    return rc;
}

int fb_vector(const fb_buf *b, size_t table, int id, size_t esize, fb_vec *v)
{
    size_t pos, vp;
    v->start = 0;
    v->count = 0;
    int rc = field_pos(b, table, id, 4, &pos);
    if (rc || !pos)
        return rc;
    if ((rc = deref(b, pos, &vp)))
        return rc;
    if (!in_bounds(b, vp, 4))
        return bad("vector length", vp);
    uint32_t count = fb_rd32(b->p + vp);
    if (esize && (uint64_t)count > (uint64_t)(b->n - vp - 4) / esize)
        return bad("vector data", vp);
    v->start = vp + 4;
    v->count = count;
    return 0;
}

int fb_vec_table(const fb_buf *b, const fb_vec *v, uint32_t i, size_t *table)
{
    if (i >= v->count)
        return bad("vector index", v->start);
    int rc = deref(b, v->start + 4 * (size_t)i, table);
    if (!rc && !in_bounds(b, *table, 4))
        return bad("table in vector", *table);
    return rc;
}

int fb_vec_i32(const fb_buf *b, const fb_vec *v, uint32_t i, int32_t *out)
{
    if (i >= v->count || !in_bounds(b, v->start + 4 * (size_t)i, 4))
        return bad("vector index", v->start);
    *out = (int32_t)fb_rd32(b->p + v->start + 4 * (size_t)i);
    return 0;
}

int fb_string(const fb_buf *b, size_t table, int id, const uint8_t **s, uint32_t *len)
{
    fb_vec v;
    *s = NULL;
    *len = 0;
    int rc = fb_vector(b, table, id, 1, &v);
    if (rc || !v.start)
        return rc;
    *s = b->p + v.start;
    *len = v.count;
    return 0;
}
