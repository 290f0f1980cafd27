/*
 * fbuf.h - a bounded reader for FlatBuffers binaries (the .tflite format).
 *
 * Why: the TFLite model file is a FlatBuffer; kinema reads it without the
 * flatc-generated code. Every offset and length read from the file is
 * checked against the buffer size before use, so a malformed or hostile
 * file yields KM_EFORMAT, never an out-of-bounds read.
 *
 * Ownership: the reader borrows the bytes (fb_buf.p); nothing is allocated.
 * Positions are byte offsets into the buffer; 0 means "absent" for tables
 * (a real table can never start at offset 0, which holds the root offset).
 */
#ifndef KM_NN_FBUF_H
#define KM_NN_FBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct fb_buf {
    const uint8_t *p;
    size_t n;
} fb_buf;

/* A vector: `start` is the first element's position, `count` elements. */
typedef struct fb_vec {
    size_t start;
    uint32_t count;
} fb_vec;

/* Root table position. */
int fb_root(const fb_buf *b, size_t *table);
/* Scalars of field `id` of `table` (default when the field is absent). */
int fb_u8(const fb_buf *b, size_t table, int id, uint8_t def, uint8_t *out);
int fb_i8(const fb_buf *b, size_t table, int id, int8_t def, int8_t *out);
int fb_i32(const fb_buf *b, size_t table, int id, int32_t def, int32_t *out);
int fb_u32(const fb_buf *b, size_t table, int id, uint32_t def, uint32_t *out);
int fb_u64(const fb_buf *b, size_t table, int id, uint64_t def, uint64_t *out);
int fb_bool(const fb_buf *b, size_t table, int id, int *out);
/* Sub-table of field `id`; *sub = 0 when absent. */
int fb_table(const fb_buf *b, size_t table, int id, size_t *sub);
/* Vector of field `id` with elements of `esize` bytes (4 for offsets to
 * tables/strings); count 0 when absent. The whole vector is in bounds. */
int fb_vector(const fb_buf *b, size_t table, int id, size_t esize, fb_vec *v);
/* The i-th table of a vector of tables. */
int fb_vec_table(const fb_buf *b, const fb_vec *v, uint32_t i, size_t *table);
/* Element readers for vectors of scalars (index is checked). */
int fb_vec_i32(const fb_buf *b, const fb_vec *v, uint32_t i, int32_t *out);
/* String field: pointer into the buffer and length (not NUL-terminated);
 * NULL/0 when absent. */
int fb_string(const fb_buf *b, size_t table, int id, const uint8_t **s, uint32_t *len);

static inline uint16_t fb_rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t fb_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

#endif
