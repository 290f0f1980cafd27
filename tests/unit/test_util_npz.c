/*
 * test_util_npz.c - .npz archives: round trips, name checks, NumPy interop
 * (savez, savez_compressed, and NumPy reading ours), zip64 records, and
 * hostile archives (truncation, bad CRC, sizes past the end of the file,
 * deflated members claiming huge sizes) rejected cleanly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "kinema/util.h"
#include "test_common.h"

#define PY "/usr/bin/python3"

static int setup(void **state)
{
    (void)state;
    return tc_tmpdir_make("km_test_npz");
}

static void fill(km_array *a, int seed)
{
    int64_t n = km_array_count(a);
    for (int64_t i = 0; i < n; i++) {
        switch (a->dtype) {
        case KM_DT_F32: ((float *)a->data)[i] = (float)(i + seed) * 0.25f; break;
        case KM_DT_F64: ((double *)a->data)[i] = (double)(i - seed) / 3.0; break;
        case KM_DT_I32: ((int32_t *)a->data)[i] = (int32_t)(i * 3 - seed); break;
        case KM_DT_I64: ((int64_t *)a->data)[i] = (i << 33) + seed; break;
        case KM_DT_U8: ((uint8_t *)a->data)[i] = (uint8_t)(i + seed); break;
        }
    }
}

static void assert_arrays_equal(const km_array *a, const km_array *b)
{
    assert_non_null(b);
    assert_int_equal(a->dtype, b->dtype);
    assert_int_equal(a->ndim, b->ndim);
    for (int i = 0; i < a->ndim; i++)
        assert_int_equal(a->shape[i], b->shape[i]);
    if (km_array_nbytes(a))
        assert_memory_equal(a->data, b->data, km_array_nbytes(a));
}

/* The five test arrays: every dtype, a 0-d and an empty one. */
#define NARR 5
static const char *const arr_names[NARR] = { "keypoints", "scalar", "ids", "big", "empty" };

static void make_arrays(km_array *a)
{
    int64_t s0[3] = { 10, 33, 3 }, s2[1] = { 7 }, s3[2] = { 4, 5 }, s4[2] = { 0, 3 };
    km_array_alloc(&a[0], KM_DT_F32, 3, s0);
    km_array_alloc(&a[1], KM_DT_F64, 0, NULL);
    km_array_alloc(&a[2], KM_DT_I32, 1, s2);
    km_array_alloc(&a[3], KM_DT_I64, 2, s3);
    km_array_alloc(&a[4], KM_DT_U8, 2, s4);
    for (int i = 0; i < NARR; i++)
        fill(&a[i], i + 1);
}

static void free_arrays(km_array *a, int n)
{
    for (int i = 0; i < n; i++)
        km_array_free(&a[i]);
}

static void write_test_npz(const char *path)
{
    km_array a[NARR];
    make_arrays(a);
    assert_int_equal(km_npz_write(path, NARR, arr_names, a), KM_OK);
    free_arrays(a, NARR);
}

static void test_round_trip(void **state)
{
    (void)state;
    char p[256];
    tc_tmp_path(p, sizeof p, "a.npz");
    km_array a[NARR];
    make_arrays(a);
    assert_int_equal(km_npz_write(p, NARR, arr_names, a), KM_OK);
    km_npz z;
    assert_int_equal(km_npz_read(p, &z), KM_OK);
    assert_int_equal(z.count, NARR);
    for (int i = 0; i < NARR; i++) {
        assert_string_equal(z.names[i], arr_names[i]);
        assert_arrays_equal(&a[i], km_npz_get(&z, arr_names[i]));
    }
    assert_null(km_npz_get(&z, "nope"));
    assert_null(km_npz_get(&z, "keypoints.npy"));
    km_npz_free(&z);
    km_npz_free(&z); /* reset by the first call */
    free_arrays(a, NARR);
    /* same input, same bytes */
    uint8_t *d1, *d2;
    size_t l1, l2;
    char p2[256];
    tc_tmp_path(p2, sizeof p2, "b.npz");
    write_test_npz(p2);
    write_test_npz(p);
    assert_int_equal(km_read_file(p, 1 << 20, &d1, &l1), KM_OK);
    assert_int_equal(km_read_file(p2, 1 << 20, &d2, &l2), KM_OK);
    assert_int_equal(l1, l2);
    assert_memory_equal(d1, d2, l1);
    free(d1);
    free(d2);
}

static void test_empty_archive(void **state)
{
    (void)state;
    char p[256];
    tc_tmp_path(p, sizeof p, "none.npz");
    assert_int_equal(km_npz_write(p, 0, NULL, NULL), KM_OK);
    km_npz z;
    assert_int_equal(km_npz_read(p, &z), KM_OK);
    assert_int_equal(z.count, 0);
    km_npz_free(&z);
}

static void test_bad_names_rejected(void **state)
{
    (void)state;
    char p[256];
    tc_tmp_path(p, sizeof p, "bad.npz");
    km_array a[2];
    int64_t s[1] = { 2 };
    km_array_alloc(&a[0], KM_DT_U8, 1, s);
    km_array_alloc(&a[1], KM_DT_U8, 1, s);
    const char *bad[][2] = { { "ok", "../evil" }, { "", "x" },     { "a/b", "x" },
                             { "..", "x" },       { "dup", "dup" }, { ".", "x" } };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(km_npz_write(p, 2, bad[i], a), KM_EINVAL);
    const char *null_name[2] = { "x", NULL };
    assert_int_equal(km_npz_write(p, 2, null_name, a), KM_EINVAL);
    assert_int_equal(km_npz_write(p, -1, NULL, NULL), KM_EINVAL);
    assert_int_equal(tc_count_entries(tc_tmpdir(), NULL, NULL), 0); /* nothing written, no temp files */
    free_arrays(a, 2);
}

/* ------------------------------------------------ handcrafted zip files */

typedef struct {
    const char *name;
    int method;          /* 0 stored, 8 deflated */
    const uint8_t *data; /* as stored in the archive */
    size_t data_len;
    uint32_t crc;        /* of the uncompressed bytes */
    uint64_t uncomp;
} zmember;

static uint8_t *put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    return put16(put16(p, v & 0xFFFF), v >> 16);
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
    return put32(put32(p, (uint32_t)v), (uint32_t)(v >> 32));
}

/* A zip of the members; with zip64, sizes and offsets live only in zip64
 * extra fields and a zip64 end record, as large archives have them. */
static uint8_t *build_zip(const zmember *m, int n, int zip64, size_t *len)
{
    size_t cap = 1024;
    for (int i = 0; i < n; i++)
        cap += 200 + m[i].data_len + 2 * strlen(m[i].name);
    uint8_t *buf = calloc(1, cap), *p = buf;
    uint64_t offsets[16];
    for (int i = 0; i < n; i++) {
        offsets[i] = (uint64_t)(p - buf);
        size_t nl = strlen(m[i].name);
        p = put32(p, 0x04034b50);
        p = put16(p, zip64 ? 45 : 20);
        p = put16(p, 0);
        p = put16(p, (unsigned)m[i].method);
        p = put32(p, 0);
        p = put32(p, m[i].crc);
        p = put32(p, zip64 ? 0xFFFFFFFFu : (uint32_t)m[i].data_len);
        p = put32(p, zip64 ? 0xFFFFFFFFu : (uint32_t)m[i].uncomp);
        p = put16(p, (unsigned)nl);
        p = put16(p, zip64 ? 20 : 0);
        memcpy(p, m[i].name, nl);
        p += nl;
        if (zip64) {
            p = put16(p, 1);
            p = put16(p, 16);
            p = put64(p, m[i].uncomp);
            p = put64(p, m[i].data_len);
        }
        memcpy(p, m[i].data, m[i].data_len);
        p += m[i].data_len;
    }
    uint64_t cd_off = (uint64_t)(p - buf);
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(m[i].name);
        p = put32(p, 0x02014b50);
        p = put16(p, 45);
        p = put16(p, zip64 ? 45 : 20);
        p = put16(p, 0);
        p = put16(p, (unsigned)m[i].method);
        p = put32(p, 0);
        p = put32(p, m[i].crc);
        p = put32(p, zip64 ? 0xFFFFFFFFu : (uint32_t)m[i].data_len);
        p = put32(p, zip64 ? 0xFFFFFFFFu : (uint32_t)m[i].uncomp);
        p = put16(p, (unsigned)nl);
        p = put16(p, zip64 ? 4 + 24 + 8 : 0); /* plus an unrelated extra */
        p = put16(p, 0);
        p = put16(p, 0);
        p = put16(p, 0);
        p = put32(p, 0);
        p = put32(p, zip64 ? 0xFFFFFFFFu : (uint32_t)offsets[i]);
        memcpy(p, m[i].name, nl);
        p += nl;
        if (zip64) {
            p = put16(p, 0x5455); /* extended timestamp, skipped */
            p = put16(p, 4);
            p = put32(p, 0);
            p = put16(p, 1);
            p = put16(p, 24);
            p = put64(p, m[i].uncomp);
            p = put64(p, m[i].data_len);
            p = put64(p, offsets[i]);
        }
    }
    uint64_t cd_size = (uint64_t)(p - buf) - cd_off;
    if (zip64) {
        uint64_t z64_off = (uint64_t)(p - buf);
        p = put32(p, 0x06064b50);
        p = put64(p, 44);
        p = put16(p, 45);
        p = put16(p, 45);
        p = put32(p, 0);
        p = put32(p, 0);
        p = put64(p, (uint64_t)n);
        p = put64(p, (uint64_t)n);
        p = put64(p, cd_size);
        p = put64(p, cd_off);
        p = put32(p, 0x07064b50);
        p = put32(p, 0);
        p = put64(p, z64_off);
        p = put32(p, 1);
    }
    p = put32(p, 0x06054b50);
    p = put16(p, 0);
    p = put16(p, 0);
    p = put16(p, zip64 ? 0xFFFF : (unsigned)n);
    p = put16(p, zip64 ? 0xFFFF : (unsigned)n);
    p = put32(p, zip64 ? 0xFFFFFFFFu : (uint32_t)cd_size);
    p = put32(p, zip64 ? 0xFFFFFFFFu : (uint32_t)cd_off);
    p = put16(p, 0);
    *len = (size_t)(p - buf);
    return buf;
}

/* Raw-deflate src into a malloc'd buffer. */
static uint8_t *deflate_raw(const uint8_t *src, size_t n, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&zs, (uLong)n);
    uint8_t *out = malloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)src;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

static int read_zip_bytes(const uint8_t *zip, size_t len, km_npz *z)
{
    char p[256];
    tc_tmp_path(p, sizeof p, "crafted.npz");
    FILE *f = fopen(p, "wb"); /* plain write: no fsync, this runs often */
    assert_non_null(f);
    assert_int_equal(fwrite(zip, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return km_npz_read(p, z);
}

static void test_zip64_and_deflated_members(void **state)
{
    (void)state;
    km_array a[2];
    int64_t s0[2] = { 300, 70 }, s1[1] = { 9 };
    km_array_alloc(&a[0], KM_DT_F64, 2, s0); /* ~168 KB: inflates in steps */
    km_array_alloc(&a[1], KM_DT_I32, 1, s1);
    fill(&a[0], 5);
    fill(&a[1], 6);
    uint8_t *npy0, *npy1;
    size_t l0, l1, dl0;
    km_npy_encode(&a[0], &npy0, &l0);
    km_npy_encode(&a[1], &npy1, &l1);
    uint8_t *def0 = deflate_raw(npy0, l0, &dl0);
    zmember m[2] = {
        { "x.npy", 8, def0, dl0, (uint32_t)crc32(0, npy0, (uInt)l0), l0 },
        { "y.npy", 0, npy1, l1, (uint32_t)crc32(0, npy1, (uInt)l1), l1 },
    };
    for (int zip64 = 0; zip64 <= 1; zip64++) {
        size_t zl;
        uint8_t *zip = build_zip(m, 2, zip64, &zl);
        km_npz z;
        if (read_zip_bytes(zip, zl, &z) != KM_OK)
            fail_msg("zip64=%d: %s", zip64, km_errmsg());
        assert_int_equal(z.count, 2);
        assert_arrays_equal(&a[0], km_npz_get(&z, "x"));
        assert_arrays_equal(&a[1], km_npz_get(&z, "y"));
        km_npz_free(&z);
        free(zip);
    }

    /* bad CRC */
    zmember bad = m[1];
    bad.crc ^= 1;
    size_t zl;
    uint8_t *zip = build_zip(&bad, 1, 0, &zl);
    km_npz z;
    assert_int_equal(read_zip_bytes(zip, zl, &z), KM_EFORMAT);
    assert_non_null(strstr(km_errmsg(), "CRC"));
    free(zip);

    /* deflated member claiming more than the 2 GiB limit */
    bad = m[0];
    bad.uncomp = (uint64_t)3 << 30;
    zip = build_zip(&bad, 1, 1, &zl);
    assert_int_equal(read_zip_bytes(zip, zl, &z), KM_ENOMEM);
    free(zip);

    /* deflated member claiming 1.5 GiB, under the limit, but its header
     * says ~168 KB: rejected after the first chunk, nothing huge allocated */
    bad.uncomp = (uint64_t)3 << 29;
    zip = build_zip(&bad, 1, 1, &zl);
    assert_int_equal(read_zip_bytes(zip, zl, &z), KM_EFORMAT);
    assert_non_null(strstr(km_errmsg(), "header"));
    free(zip);

    /* claiming a little less or more than it inflates to */
    bad.uncomp = l0 - 1;
    zip = build_zip(&bad, 1, 0, &zl);
    assert_int_equal(read_zip_bytes(zip, zl, &z), KM_EFORMAT);
    free(zip);
    bad.uncomp = l0 + 1;
    zip = build_zip(&bad, 1, 0, &zl);
    assert_int_equal(read_zip_bytes(zip, zl, &z), KM_EFORMAT);
    free(zip);

    /* stored member claiming more bytes than the file has */
    bad = m[1];
    bad.data_len = l1; /* written correctly ... */
    zip = build_zip(&bad, 1, 0, &zl);
    /* ... then patch the central directory sizes to 1 GiB */
    size_t cd = zl - 22 - (46 + 5);
    assert_int_equal(zip[cd], 0x50);
    put32(zip + cd + 20, 1u << 30);
    put32(zip + cd + 24, 1u << 30);
    assert_int_equal(read_zip_bytes(zip, zl, &z), KM_EFORMAT);
    free(zip);

    /* corrupt deflate stream */
    uint8_t *garbled = malloc(dl0);
    memcpy(garbled, def0, dl0);
    for (size_t i = dl0 / 3; i < dl0 / 3 + 16; i++)
        garbled[i] ^= 0x5A;
    bad = m[0];
    bad.data = garbled;
    zip = build_zip(&bad, 1, 0, &zl);
    assert_true(read_zip_bytes(zip, zl, &z) < 0);
    free(zip);
    free(garbled);

    /* unsupported method */
    bad = m[1];
    bad.method = 12; /* bzip2 */
    zip = build_zip(&bad, 1, 0, &zl);
    assert_int_equal(read_zip_bytes(zip, zl, &z), KM_EUNSUPPORTED);
    free(zip);

    /* non-.npy members are ignored, duplicates rejected */
    zmember mixed[3] = { m[1], m[1], m[1] };
    mixed[0].name = "readme.txt";
    zip = build_zip(mixed, 2, 0, &zl);
    assert_int_equal(read_zip_bytes(zip, zl, &z), KM_OK);
    assert_int_equal(z.count, 1);
    km_npz_free(&z);
    free(zip);
    zip = build_zip(mixed + 1, 2, 0, &zl);
    assert_int_equal(read_zip_bytes(zip, zl, &z), KM_EFORMAT);
    free(zip);

    free(def0);
    free(npy0);
    free(npy1);
    free_arrays(a, 2);
}

static void test_truncated_and_garbage_archives(void **state)
{
    (void)state;
    char p[256];
    tc_tmp_path(p, sizeof p, "t.npz");
    write_test_npz(p);
    uint8_t *full;
    size_t len;
    assert_int_equal(km_read_file(p, 1 << 20, &full, &len), KM_OK);
    km_npz z;
    for (size_t cut = 0; cut < len; cut += (cut < 200 || len - cut < 200) ? 1 : 37) {
        int rc = read_zip_bytes(full, cut, &z);
        if (rc == KM_OK)
            fail_msg("truncated to %zu of %zu bytes was accepted", cut, len);
        assert_int_equal(z.count, 0);
        assert_null(z.names);
    }
    /* flipping any byte of member data is caught (CRC or structure) */
    for (size_t i = 0; i < len; i += 97) {
        full[i] ^= 0xFF;
        int rc = read_zip_bytes(full, len, &z);
        if (rc == KM_OK)
            km_npz_free(&z); /* e.g. a flipped timestamp byte is harmless */
        full[i] ^= 0xFF;
    }
    free(full);
    assert_int_equal(read_zip_bytes((const uint8_t *)"PK\x05\x06", 4, &z), KM_EFORMAT);
    tc_tmp_path(p, sizeof p, "missing.npz");
    assert_int_equal(km_npz_read(p, &z), KM_ENOTFOUND);
}

/* --------------------------------------------------------- NumPy interop */

static int have_numpy(void)
{
    return system(PY " -c 'import numpy' >/dev/null 2>&1") == 0;
}

static int run_python(const char *code)
{
    char script[256], cmd[600];
    tc_tmp_path(script, sizeof script, "check.py");
    if (km_write_file_atomic(script, code, strlen(code)) != KM_OK)
        return -1;
    snprintf(cmd, sizeof cmd, "%s '%s' '%s'", PY, script, tc_tmpdir());
    int rc = system(cmd);
    unlink(script);
    return rc;
}

static void test_numpy_reads_our_npz(void **state)
{
    (void)state;
    if (!have_numpy())
        skip();
    char p[256];
    tc_tmp_path(p, sizeof p, "ours.npz");
    write_test_npz(p);
    const char *code =
        "import sys, numpy as np\n"
        "z = np.load(sys.argv[1] + '/ours.npz')\n"
        "assert sorted(z.files) == sorted(['keypoints', 'scalar', 'ids', 'big', 'empty']), z.files\n"
        "k = z['keypoints']\n"
        "assert k.dtype == np.float32 and k.shape == (10, 33, 3)\n"
        "assert np.array_equal(k.ravel(), (np.arange(990) + 1).astype(np.float32) * np.float32(0.25))\n"
        "s = z['scalar']\n"
        "assert s.dtype == np.float64 and s.shape == () and s == (0 - 2) / 3.0\n"
        "i = z['ids']\n"
        "assert i.dtype == np.int32 and list(i) == [n * 3 - 3 for n in range(7)]\n"
        "b = z['big']\n"
        "assert b.dtype == np.int64 and b.shape == (4, 5)\n"
        "assert np.array_equal(b.ravel(), (np.arange(20, dtype=np.int64) << 33) + 4)\n"
        "e = z['empty']\n"
        "assert e.dtype == np.uint8 and e.shape == (0, 3)\n";
    assert_int_equal(run_python(code), 0);
}

static void check_numpy_npz(const char *file)
{
    char p[256];
    tc_tmp_path(p, sizeof p, file);
    km_npz z;
    if (km_npz_read(p, &z) != KM_OK)
        fail_msg("%s: %s", file, km_errmsg());
    assert_int_equal(z.count, 7);
    const km_array *a = km_npz_get(&z, "f32");
    assert_non_null(a);
    assert_int_equal(a->dtype, KM_DT_F32);
    assert_int_equal(a->ndim, 2);
    assert_int_equal(a->shape[0], 200);
    assert_int_equal(a->shape[1], 500);
    for (int i = 0; i < 100000; i++)
        assert_true(((float *)a->data)[i] == (float)i * 0.5f);
    a = km_npz_get(&z, "f64");
    assert_int_equal(a->dtype, KM_DT_F64);
    assert_true(((double *)a->data)[2] == 2.0 / 7.0);
    a = km_npz_get(&z, "i32");
    assert_int_equal(a->dtype, KM_DT_I32);
    assert_int_equal(((int32_t *)a->data)[5], -5);
    a = km_npz_get(&z, "i64");
    assert_int_equal(a->dtype, KM_DT_I64);
    assert_int_equal(((int64_t *)a->data)[1], (int64_t)1 << 40);
    a = km_npz_get(&z, "u8");
    assert_int_equal(a->dtype, KM_DT_U8);
    assert_int_equal(a->ndim, 3);
    assert_int_equal(((uint8_t *)a->data)[23], 23);
    a = km_npz_get(&z, "scalar");
    assert_int_equal(a->ndim, 0);
    assert_true(((double *)a->data)[0] == 1.5);
    a = km_npz_get(&z, "empty");
    assert_int_equal(a->ndim, 1);
    assert_int_equal(a->shape[0], 0);
    km_npz_free(&z);
}

static void test_we_read_numpy_npz(void **state)
{
    (void)state;
    if (!have_numpy())
        skip();
    const char *code =
        "import sys, numpy as np\n"
        "d = sys.argv[1]\n"
        "arrs = dict(f32=(np.arange(100000, dtype=np.float32) * np.float32(0.5)).reshape(200, 500),\n"
        "            f64=np.arange(10, dtype=np.float64) / 7.0,\n"
        "            i32=-np.arange(10, dtype=np.int32),\n"
        "            i64=np.array([1, 1 << 40], dtype='>i8'),\n"
        "            u8=np.arange(24, dtype=np.uint8).reshape(2, 3, 4),\n"
        "            scalar=np.float64(1.5),\n"
        "            empty=np.zeros(0, dtype=np.int32))\n"
        "np.savez(d + '/plain.npz', **arrs)\n"
        "np.savez_compressed(d + '/compressed.npz', **arrs)\n";
    assert_int_equal(run_python(code), 0);
    check_numpy_npz("plain.npz");
    check_numpy_npz("compressed.npz");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, tc_tmpdir_teardown)
    const struct CMUnitTest tests[] = {
        T(test_round_trip),
        T(test_empty_archive),
        T(test_bad_names_rejected),
        T(test_zip64_and_deflated_members),
        T(test_truncated_and_garbage_archives),
        T(test_numpy_reads_our_npz),
        T(test_we_read_numpy_npz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
