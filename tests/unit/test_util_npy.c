/*
 * test_util_npy.c - .npy encode/decode: round trips for every dtype and
 * many shapes (0-d and empty included), byte order, rejection of Fortran
 * order, unsupported dtypes, truncated and garbage input and hostile
 * shapes, and interoperability with NumPy in both directions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kinema/util.h"
#include "test_common.h"

#define PY "/usr/bin/python3"

static int setup(void **state)
{
    (void)state;
    return tc_tmpdir_make("km_test_npy");
}

static const km_dtype all_types[] = { KM_DT_F32, KM_DT_F64, KM_DT_I32, KM_DT_I64, KM_DT_U8 };

/* Value i of the test pattern, stored as dtype t. */
static void fill_pattern(km_array *a)
{
    int64_t n = km_array_count(a);
    for (int64_t i = 0; i < n; i++) {
        switch (a->dtype) {
        case KM_DT_F32: ((float *)a->data)[i] = (float)i * 0.5f - 3.25f; break;
        case KM_DT_F64: ((double *)a->data)[i] = (double)i * 1e-3 - 1e10; break;
        case KM_DT_I32: ((int32_t *)a->data)[i] = (int32_t)(i * 7919 - 100000); break;
        case KM_DT_I64: ((int64_t *)a->data)[i] = i * 1000000007LL - (1LL << 40); break;
        case KM_DT_U8: ((uint8_t *)a->data)[i] = (uint8_t)(i * 37); break;
        }
    }
}

static void assert_arrays_equal(const km_array *a, const km_array *b)
{
    assert_int_equal(a->dtype, b->dtype);
    assert_int_equal(a->ndim, b->ndim);
    for (int i = 0; i < a->ndim; i++)
        assert_int_equal(a->shape[i], b->shape[i]);
    assert_non_null(b->data);
    if (km_array_nbytes(a))
        assert_memory_equal(a->data, b->data, km_array_nbytes(a));
}

static const struct {
    int ndim;
    int64_t shape[KM_ARRAY_MAXDIM];
} shapes[] = {
    { 0, { 0 } },          { 1, { 1 } },          { 1, { 17 } },
    { 1, { 0 } },          { 2, { 3, 0 } },       { 2, { 4, 33 } },
    { 3, { 2, 3, 5 } },    { 3, { 0, 2, 2 } },    { 8, { 1, 2, 1, 3, 1, 2, 1, 2 } },
    { 2, { 1000, 3 } },
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

static void test_alloc_and_sizes(void **state)
{
    (void)state;
    assert_int_equal(km_dtype_size(KM_DT_F32), 4);
    assert_int_equal(km_dtype_size(KM_DT_F64), 8);
    assert_int_equal(km_dtype_size(KM_DT_I32), 4);
    assert_int_equal(km_dtype_size(KM_DT_I64), 8);
    assert_int_equal(km_dtype_size(KM_DT_U8), 1);
    km_array a;
    int64_t s[2] = { 3, 4 };
    assert_int_equal(km_array_alloc(&a, KM_DT_F64, 2, s), KM_OK);
    assert_int_equal(km_array_count(&a), 12);
    assert_int_equal(km_array_nbytes(&a), 96);
    for (int i = 0; i < 12; i++)
        assert_true(((double *)a.data)[i] == 0.0);
    km_array_free(&a);
    km_array_free(&a); /* data reset: second free is harmless */
    int64_t neg[1] = { -1 };
    assert_int_equal(km_array_alloc(&a, KM_DT_U8, 1, neg), KM_EINVAL);
    int64_t huge[3] = { INT64_MAX / 2, 4, 1 };
    assert_int_equal(km_array_alloc(&a, KM_DT_U8, 2, huge), KM_ERANGE);
    int64_t big[2] = { (int64_t)1 << 61, 1 };
    assert_int_equal(km_array_alloc(&a, KM_DT_I64, 1, big), KM_ERANGE); /* bytes overflow */
    assert_int_equal(km_array_alloc(&a, KM_DT_U8, 9, s), KM_EINVAL);
    assert_int_equal(km_array_alloc(&a, KM_DT_U8, -1, s), KM_EINVAL);
}

static void test_round_trip_all_dtypes_and_shapes(void **state)
{
    (void)state;
    for (size_t t = 0; t < 5; t++)
        for (size_t s = 0; s < NSHAPES; s++) {
            km_array a, b;
            assert_int_equal(km_array_alloc(&a, all_types[t], shapes[s].ndim, shapes[s].shape),
                             KM_OK);
            fill_pattern(&a);
            uint8_t *buf;
            size_t len;
            assert_int_equal(km_npy_encode(&a, &buf, &len), KM_OK);
            /* header padded so data starts 64-byte aligned, ends in '\n' */
            size_t data_off = len - km_array_nbytes(&a);
            assert_int_equal(data_off % 64, 0);
            assert_int_equal(buf[data_off - 1], '\n');
            assert_memory_equal(buf, "\x93NUMPY\x01\x00", 8);
            assert_int_equal(km_npy_decode(buf, len, &b), KM_OK);
            assert_arrays_equal(&a, &b);
            free(buf);
            km_array_free(&a);
            km_array_free(&b);
        }
}

static void test_header_text_matches_numpy(void **state)
{
    (void)state;
    km_array a;
    int64_t s[2] = { 2, 3 };
    km_array_alloc(&a, KM_DT_F32, 2, s);
    uint8_t *buf;
    size_t len;
    km_npy_encode(&a, &buf, &len);
    const char *want = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    assert_memory_equal(buf + 10, want, strlen(want));
    free(buf);
    km_array_free(&a);
    int64_t one[1] = { 5 };
    km_array_alloc(&a, KM_DT_U8, 1, one);
    km_npy_encode(&a, &buf, &len);
    want = "{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }";
    assert_memory_equal(buf + 10, want, strlen(want));
    free(buf);
    km_array_free(&a);
}

/* Builds .npy bytes from a header dict and raw data (version 1.0). */
static uint8_t *make_npy(const char *dict, const void *data, size_t dlen, size_t *len)
{
    size_t hl = strlen(dict) + 1;
    size_t total = 10 + hl + dlen;
    uint8_t *b = malloc(total + 1);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (uint8_t)(hl & 0xFF);
    b[9] = (uint8_t)(hl >> 8);
    memcpy(b + 10, dict, hl - 1);
    b[10 + hl - 1] = '\n';
    if (dlen)
        memcpy(b + 10 + hl, data, dlen);
    *len = total;
    return b;
}

static int decode_dict(const char *dict, const void *data, size_t dlen, km_array *out)
{
    size_t len;
    uint8_t *b = make_npy(dict, data, dlen, &len);
    int rc = km_npy_decode(b, len, out);
    free(b);
    return rc;
}

static void test_big_endian_input(void **state)
{
    (void)state;
    km_array a;
    const uint8_t be_i32[] = { 0, 0, 1, 2, 0xFF, 0xFF, 0xFF, 0xFE };
    assert_int_equal(decode_dict("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }",
                                 be_i32, sizeof be_i32, &a),
                     KM_OK);
    assert_int_equal(((int32_t *)a.data)[0], 258);
    assert_int_equal(((int32_t *)a.data)[1], -2);
    km_array_free(&a);
    const uint8_t be_f64[] = { 0x40, 0x09, 0x21, 0xFB, 0x54, 0x44, 0x2D, 0x18 }; /* pi */
    assert_int_equal(decode_dict("{\"descr\": \">f8\", \"shape\": (), \"fortran_order\": False}",
                                 be_f64, sizeof be_f64, &a),
                     KM_OK);
    assert_int_equal(a.ndim, 0);
    assert_true(((double *)a.data)[0] == 3.141592653589793);
    km_array_free(&a);
    const uint8_t be_f32[] = { 0x3F, 0xC0, 0, 0 }; /* 1.5 */
    assert_int_equal(decode_dict("{'descr':'>f4','fortran_order':False,'shape':(1,1)}", be_f32,
                                 4, &a),
                     KM_OK);
    assert_true(((float *)a.data)[0] == 1.5f);
    km_array_free(&a);
    const uint8_t be_i64[] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFD };
    assert_int_equal(decode_dict("{'descr': '>i8', 'fortran_order': False, 'shape': (1,), }",
                                 be_i64, 8, &a),
                     KM_OK);
    assert_int_equal(((int64_t *)a.data)[0], -3);
    km_array_free(&a);
}

static void test_rejects_unsupported(void **state)
{
    (void)state;
    km_array a;
    uint8_t data[64] = { 0 };
    const char *unsupported[] = {
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
        "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }",
        "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }",
        "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }",
        "{'descr': '<U4', 'fortran_order': False, 'shape': (2,), }",
        "{'descr': [('x', '<f4'), ('y', '<f4')], 'fortran_order': False, 'shape': (2,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }",
    };
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        a.data = (void *)1;
        assert_int_equal(decode_dict(unsupported[i], data, 16, &a), KM_EUNSUPPORTED);
        assert_null(a.data);
        assert_true(strlen(km_errmsg()) > 0);
    }
}

static void test_rejects_malformed_headers(void **state)
{
    (void)state;
    km_array a;
    uint8_t data[16] = { 0 };
    const char *bad[] = {
        "",
        "not a dict",
        "{'descr': '<f4', 'fortran_order': False}",                  /* no shape */
        "{'descr': '<f4', 'shape': (2,)}",                           /* no order */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)",   /* no } */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", /* junk */
        "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2 2)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,),, }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
        "{'descr': '|f4', 'fortran_order': False, 'shape': (2,)}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = decode_dict(bad[i], data, 8, &a);
        if (rc != KM_EFORMAT)
            fail_msg("header %zu (%s): rc %d, want EFORMAT", i, bad[i], rc);
        assert_null(a.data);
    }
    /* data size must match the shape exactly */
    assert_int_equal(decode_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}",
                                 data, 8, &a),
                     KM_EFORMAT);
    assert_int_equal(decode_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
                                 data, 8, &a),
                     KM_EFORMAT);
}

static void test_huge_shape_rejected_without_allocating(void **state)
{
    (void)state;
    km_array a;
    uint8_t data[8] = { 0 };
    /* would be 2^62 * 2^62 elements: overflow */
    assert_int_equal(decode_dict("{'descr': '<f8', 'fortran_order': False, "
                                 "'shape': (4611686018427387904, 4611686018427387904), }",
                                 data, 8, &a),
                     KM_EFORMAT);
    /* representable but far beyond the 8 bytes present: must not allocate
     * (an attempt at 8 TiB would fail with ENOMEM or trip ASan instead) */
    assert_int_equal(decode_dict("{'descr': '<f8', 'fortran_order': False, "
                                 "'shape': (1099511627776,), }",
                                 data, 8, &a),
                     KM_EFORMAT);
    assert_non_null(strstr(km_errmsg(), "truncated"));
    assert_int_equal(decode_dict("{'descr': '<i8', 'fortran_order': False, "
                                 "'shape': (9223372036854775807,), }",
                                 data, 8, &a),
                     KM_EFORMAT);
}

static void test_every_truncation_rejected(void **state)
{
    (void)state;
    km_array a, b;
    int64_t s[2] = { 3, 5 };
    km_array_alloc(&a, KM_DT_I32, 2, s);
    fill_pattern(&a);
    uint8_t *buf;
    size_t len;
    km_npy_encode(&a, &buf, &len);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees overreads */
        memcpy(copy, buf, cut);
        int rc = km_npy_decode(copy, cut, &b);
        if (rc != KM_EFORMAT)
            fail_msg("truncated to %zu of %zu bytes: rc %d", cut, len, rc);
        free(copy);
    }
    /* trailing junk is rejected as well */
    uint8_t *longer = malloc(len + 3);
    memcpy(longer, buf, len);
    assert_int_equal(km_npy_decode(longer, len + 3, &b), KM_EFORMAT);
    free(longer);
    free(buf);
    km_array_free(&a);
}

static void test_garbage_rejected(void **state)
{
    (void)state;
    km_array a;
    uint64_t x = 12345;
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(round % 200);
        uint8_t *g = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            g[i] = (uint8_t)(x >> 56);
        }
        if (len >= 10 && round % 2) { /* valid magic, random rest */
            memcpy(g, "\x93NUMPY\x01\x00", 8);
            g[9] = 0;
        }
        int rc = km_npy_decode(g, len, &a);
        assert_true(rc == KM_EFORMAT || rc == KM_EUNSUPPORTED);
        free(g);
    }
    /* unknown version */
    uint8_t v9[16] = "\x93NUMPY\x09\x00\x02\x00{}";
    assert_int_equal(km_npy_decode(v9, sizeof v9, &a), KM_EUNSUPPORTED);
}

static void test_version_2_header(void **state)
{
    (void)state;
    const char *dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }";
    size_t hl = 128 - 12, dl = strlen(dict);
    uint8_t b[128 + 8];
    memcpy(b, "\x93NUMPY\x02\x00", 8);
    b[8] = (uint8_t)hl;
    b[9] = b[10] = b[11] = 0;
    memcpy(b + 12, dict, dl);
    memset(b + 12 + dl, ' ', hl - dl - 1);
    b[127] = '\n';
    int32_t v[2] = { 7, -9 };
    memcpy(b + 128, v, 8);
    km_array a;
    assert_int_equal(km_npy_decode(b, sizeof b, &a), KM_OK);
    assert_int_equal(((int32_t *)a.data)[1], -9);
    km_array_free(&a);
}

static void test_file_round_trip(void **state)
{
    (void)state;
    char p[256];
    tc_tmp_path(p, sizeof p, "a.npy");
    km_array a, b;
    int64_t s[3] = { 2, 3, 4 };
    km_array_alloc(&a, KM_DT_F64, 3, s);
    fill_pattern(&a);
    assert_int_equal(km_npy_write(p, &a), KM_OK);
    assert_int_equal(km_npy_read(p, &b), KM_OK);
    assert_arrays_equal(&a, &b);
    km_array_free(&a);
    km_array_free(&b);
    tc_tmp_path(p, sizeof p, "missing.npy");
    assert_int_equal(km_npy_read(p, &b), KM_ENOTFOUND);
    tc_tmp_path(p, sizeof p, "junk.npy");
    km_write_file_atomic(p, "hello", 5);
    assert_int_equal(km_npy_read(p, &b), KM_EFORMAT);
    assert_non_null(strstr(km_errmsg(), "junk.npy"));
}

/* --------------------------------------------------------- NumPy interop */

static int have_numpy(void)
{
    return system(PY " -c 'import numpy' >/dev/null 2>&1") == 0;
}

/* Runs Python code (saved as dir/check.py) with dir as argv[1]. */
static int run_python(const char *code, const char *dir)
{
    char script[256], cmd[600];
    snprintf(script, sizeof script, "%s/check.py", dir);
    if (km_write_file_atomic(script, code, strlen(code)) != KM_OK)
        return -1;
    snprintf(cmd, sizeof cmd, "%s '%s' '%s'", PY, script, dir);
    int rc = system(cmd);
    unlink(script);
    return rc;
}

static const char *dtype_name(km_dtype t)
{
    switch (t) {
    case KM_DT_F32: return "f32";
    case KM_DT_F64: return "f64";
    case KM_DT_I32: return "i32";
    case KM_DT_I64: return "i64";
    case KM_DT_U8: return "u8";
    }
    return "?";
}

/* The same pattern as fill_pattern, in NumPy. */
#define PY_PATTERN                                                                          \
    "import sys, numpy as np\n"                                                             \
    "def pattern(dt, shape):\n"                                                             \
    "    i = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)\n"              \
    "    v = {'f32': (i.astype(np.float32) * np.float32(0.5) - np.float32(3.25)),\n"        \
    "         'f64': i.astype(np.float64) * 1e-3 - 1e10,\n"                                \
    "         'i32': (i * 7919 - 100000).astype(np.int32),\n"                               \
    "         'i64': i * 1000000007 - (1 << 40),\n"                                         \
    "         'u8': (i * 37 % 256).astype(np.uint8)}[dt]\n"                                 \
    "    return v.reshape(shape)\n"                                                         \
    "types = {'f32': np.float32, 'f64': np.float64, 'i32': np.int32, 'i64': np.int64, 'u8': np.uint8}\n"

static void shape_text(char *out, size_t cap, int ndim, const int64_t *shape)
{
    size_t n = (size_t)snprintf(out, cap, "(");
    for (int i = 0; i < ndim; i++)
        n += (size_t)snprintf(out + n, cap - n, "%lld,", (long long)shape[i]);
    snprintf(out + n, cap - n, ")");
}

static void test_numpy_reads_our_npy(void **state)
{
    (void)state;
    if (!have_numpy())
        skip();
    static char code[65536];
    size_t n = (size_t)snprintf(code, sizeof code, "%s", PY_PATTERN "d = sys.argv[1]\n");
    for (size_t t = 0; t < 5; t++)
        for (size_t s = 0; s < NSHAPES; s++) {
            km_array a;
            km_array_alloc(&a, all_types[t], shapes[s].ndim, shapes[s].shape);
            fill_pattern(&a);
            char p[256], sh[128];
            snprintf(p, sizeof p, "%s/%s_%zu.npy", tc_tmpdir(), dtype_name(all_types[t]), s);
            assert_int_equal(km_npy_write(p, &a), KM_OK);
            km_array_free(&a);
            shape_text(sh, sizeof sh, shapes[s].ndim, shapes[s].shape);
            n += (size_t)snprintf(code + n, sizeof code - n,
                                  "a = np.load(d + '/%s_%zu.npy')\n"
                                  "assert a.dtype == types['%s'] and a.shape == %s, (a.dtype, a.shape)\n"
                                  "assert np.array_equal(a, pattern('%s', %s))\n",
                                  dtype_name(all_types[t]), s, dtype_name(all_types[t]), sh,
                                  dtype_name(all_types[t]), sh);
        }
    assert_true(n < sizeof code);
    assert_int_equal(run_python(code, tc_tmpdir()), 0);
}

static void test_we_read_numpy_npy(void **state)
{
    (void)state;
    if (!have_numpy())
        skip();
    const char *code = PY_PATTERN
        "d = sys.argv[1]\n"
        "for dt in types:\n"
        "    np.save(d + '/le_' + dt + '.npy', pattern(dt, (3, 4)))\n"
        "    np.save(d + '/be_' + dt + '.npy', pattern(dt, (3, 4)).astype(np.dtype(types[dt]).newbyteorder('>')))\n"
        "    np.save(d + '/scalar_' + dt + '.npy', pattern(dt, ()))\n"
        "    np.save(d + '/empty_' + dt + '.npy', pattern(dt, (0, 5)))\n"
        "np.save(d + '/fortran.npy', np.asfortranarray(pattern('f32', (3, 4))))\n"
        "np.save(d + '/object.npy', np.array([1, 'a'], dtype=object), allow_pickle=True)\n";
    assert_int_equal(run_python(code, tc_tmpdir()), 0);
    for (size_t t = 0; t < 5; t++) {
        const char *prefixes[] = { "le", "be", "scalar", "empty" };
        const int64_t dims[4][2] = { { 3, 4 }, { 3, 4 }, { 0, 0 }, { 0, 5 } };
        const int nd[4] = { 2, 2, 0, 2 };
        for (int k = 0; k < 4; k++) {
            char p[256];
            snprintf(p, sizeof p, "%s/%s_%s.npy", tc_tmpdir(), prefixes[k], dtype_name(all_types[t]));
            km_array got, want;
            if (km_npy_read(p, &got) != KM_OK)
                fail_msg("%s: %s", p, km_errmsg());
            km_array_alloc(&want, all_types[t], nd[k], dims[k]);
            fill_pattern(&want);
            assert_arrays_equal(&want, &got);
            km_array_free(&got);
            km_array_free(&want);
        }
    }
    char p[256];
    km_array got;
    tc_tmp_path(p, sizeof p, "fortran.npy");
    assert_int_equal(km_npy_read(p, &got), KM_EUNSUPPORTED);
    assert_non_null(strstr(km_errmsg(), "Fortran"));
    tc_tmp_path(p, sizeof p, "object.npy");
    assert_int_equal(km_npy_read(p, &got), KM_EUNSUPPORTED);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, tc_tmpdir_teardown)
    const struct CMUnitTest tests[] = {
        T(test_alloc_and_sizes),
        T(test_round_trip_all_dtypes_and_shapes),
        T(test_header_text_matches_numpy),
        T(test_big_endian_input),
        T(test_rejects_unsupported),
        T(test_rejects_malformed_headers),
        T(test_huge_shape_rejected_without_allocating),
        T(test_every_truncation_rejected),
        T(test_garbage_rejected),
        T(test_version_2_header),
        T(test_file_round_trip),
        T(test_numpy_reads_our_npy),
        T(test_we_read_numpy_npy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
