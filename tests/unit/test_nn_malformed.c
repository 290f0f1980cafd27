/*
 * test_nn_malformed.c - malformed model files fail cleanly.
 *
 * Why: model files come from the network and disk; a truncated, corrupted
 * or hostile file must give KM_EFORMAT / KM_EUNSUPPORTED with a message,
 * never a crash, an out-of-bounds read (run under ASan) or an allocation
 * sized by an unchecked number from the file. Mutations are seeded and
 * deterministic. Cases on real models skip when models/ is missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kinema/nn.h"
#include "kinema/util.h"
#include "nn/graph.h"
#include "nn/loaders.h"
#include "test_common.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static uint8_t *read_model(const char *rel, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tc_models_dir(), rel);
    uint8_t *d = NULL;
    if (km_read_file(path, (size_t)64 << 20, &d, len) != 0)
        return NULL;
    return d;
}

/* Parse a buffer; 0 on success, else the code (message must be set). */
static int parse(const uint8_t *d, size_t n)
{
    nn_graph g;
    memset(&g, 0, sizeof(g));
    km_clearerr();
    int rc = nn_load_tflite(&g, d, n, NULL, 0);
    nn_graph_free(&g);
    if (rc) {
        assert_true(rc == KM_EFORMAT || rc == KM_EUNSUPPORTED || rc == KM_ENOMEM || rc == KM_ENOTFOUND);
        assert_true(km_errmsg()[0] != 0);
    }
    return rc;
}

static void test_tiny_and_random(void **state)
{
    (void)state;
    uint8_t buf[4096] = {0};
    assert_int_not_equal(parse(buf, 0), 0);
    memcpy(buf, "\0\0\0\0TFL3", 8);
    assert_int_not_equal(parse(buf, 8), 0);
    for (int it = 0; it < 2000; it++) {
        size_t n = 8 + rnd() % (sizeof(buf) - 8);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rnd();
        memcpy(buf + 4, "TFL3", 4);
        if (it & 1) { /* plausible root offset */
            uint32_t r = 8 + rnd() % 64;
            memcpy(buf, &r, 4);
        }
        parse(buf, n);
    }
}

static void test_truncated(void **state)
{
    (void)state;
    size_t len;
    uint8_t *d = read_model("tflite/pose_detection.tflite", &len);
    if (!d)
        skip();
    assert_int_equal(parse(d, len), 0);
    for (int it = 0; it < 60; it++) {
        size_t n = it < 30 ? (size_t)it * 37 : rnd() % len;
        uint8_t *c = malloc(n ? n : 1); /* exact-size copy: ASan catches overreads */
        memcpy(c, d, n);
        assert_int_not_equal(parse(c, n), 0);
        free(c);
    }
    free(d);
}

static void test_bitflips(void **state)
{
    (void)state;
    size_t len;
    uint8_t *d = read_model("tflite/pose_landmark_lite.tflite", &len);
    if (!d)
        skip();
    uint8_t *c = malloc(len);
    /* the flatbuffer structure (tables, vtables, vectors) sits outside the
     * large weight buffers: flip bits in the first and last 64 KiB */
    for (int it = 0; it < 300; it++) {
        memcpy(c, d, len);
        int flips = 1 + (int)(rnd() % 4);
        for (int f = 0; f < flips; f++) {
            size_t pos = rnd() % 65536;
            if (it & 1)
                pos = len - 1 - pos;
            c[pos] ^= (uint8_t)(1u << (rnd() % 8));
        }
        parse(c, len);
    }
    free(c);
    free(d);
}

/* Replace the input shape [1,256,256,3] by huge dimensions. */
static void test_huge_shape(void **state)
{
    (void)state;
    size_t len;
    uint8_t *d = read_model("tflite/pose_landmark_full.tflite", &len);
    if (!d)
        skip();
    const int32_t want[4] = {1, 256, 256, 3};
    int hits = 0;
    for (size_t i = 0; i + 16 <= len; i += 4) {
        if (memcmp(d + i, want, 16) != 0)
            continue;
        uint8_t *c = malloc(len);
        memcpy(c, d, len);
        int32_t huge[4] = {1, 0x7fffffff, 0x7fffffff, 3};
        memcpy(c + i, huge, 16);
        assert_int_not_equal(parse(c, len), 0);
        int32_t neg[4] = {1, 65536, 65536, 65536};
        memcpy(c + i, neg, 16);
        assert_int_not_equal(parse(c, len), 0);
        free(c);
        hits++;
    }
    assert_true(hits > 0);
    free(d);
}

/* ---------------------------------------------------------------- TF.js */

static char tmpdir[256];

static void write_text(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    assert_int_equal(km_write_file_atomic(path, text, strlen(text)), 0);
}

static int load_json(const char *name, int *rc_out)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    km_model *m = NULL;
    km_model_opts o = {.use_reference = 1};
    km_clearerr();
    int rc = km_model_load(&m, path, &o);
    km_model_free(m);
    if (rc)
        assert_true(km_errmsg()[0] != 0);
    if (rc_out)
        *rc_out = rc;
    return rc;
}

#define NODE_IN "{\"name\":\"x\",\"op\":\"Placeholder\",\"attr\":{\"shape\":{\"shape\":{\"dim\":[{\"size\":\"1\"},{\"size\":\"4\"},{\"size\":\"4\"},{\"size\":\"2\"}]}}}}"
#define SIG "\"signature\":{\"outputs\":{\"y\":{\"name\":\"y:0\"}}}"

static void test_tfjs_cases(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/km_nn_malformed_%d", (int)getpid());
    assert_int_equal(km_mkdirs(tmpdir), 0);
    uint8_t zeros[64] = {0};
    char path[512];
    snprintf(path, sizeof(path), "%s/w.bin", tmpdir);
    assert_int_equal(km_write_file_atomic(path, zeros, sizeof(zeros)), 0);
    int rc;

    write_text("bad.json", "{\"modelTopology\": [1, 2,");
    assert_int_equal(load_json("bad.json", &rc), KM_EFORMAT);

    write_text("empty.json", "{}");
    assert_true(load_json("empty.json", NULL) < 0);

    /* a valid tiny graph: y = relu(x) */
    write_text("ok.json", "{\"modelTopology\":{\"node\":[" NODE_IN
               ",{\"name\":\"y\",\"op\":\"Relu\",\"input\":[\"x\"]}]},\"weightsManifest\":[]," SIG "}");
    assert_int_equal(load_json("ok.json", NULL), 0);

    /* unknown op: named with its node */
    write_text("op.json", "{\"modelTopology\":{\"node\":[" NODE_IN
               ",{\"name\":\"y\",\"op\":\"Erf\",\"input\":[\"x\"]}]},\"weightsManifest\":[]," SIG "}");
    assert_int_equal(load_json("op.json", NULL), KM_EUNSUPPORTED);
    assert_non_null(strstr(km_errmsg(), "Erf"));
    assert_non_null(strstr(km_errmsg(), "'y'"));

    /* cycle */
    write_text("cycle.json", "{\"modelTopology\":{\"node\":[" NODE_IN
               ",{\"name\":\"y\",\"op\":\"AddV2\",\"input\":[\"x\",\"z\"]},"
               "{\"name\":\"z\",\"op\":\"Relu\",\"input\":[\"y\"]}]},\"weightsManifest\":[]," SIG "}");
    assert_int_equal(load_json("cycle.json", NULL), KM_EFORMAT);

    /* dangling input */
    write_text("dangle.json", "{\"modelTopology\":{\"node\":[{\"name\":\"y\",\"op\":\"Relu\",\"input\":[\"nope\"]}]},"
               "\"weightsManifest\":[]," SIG "}");
    assert_int_equal(load_json("dangle.json", NULL), KM_EFORMAT);

    /* path traversal in the manifest */
    write_text("trav.json", "{\"modelTopology\":{\"node\":[" NODE_IN "]},\"weightsManifest\":[{\"paths\":[\"../../etc/passwd\"],"
               "\"weights\":[]}]," SIG "}");
    assert_true(load_json("trav.json", NULL) < 0);

    /* a weight claiming far more data than the shards hold */
    write_text("huge.json", "{\"modelTopology\":{\"node\":[" NODE_IN ",{\"name\":\"c\",\"op\":\"Const\"},"
               "{\"name\":\"y\",\"op\":\"AddV2\",\"input\":[\"x\",\"c\"]}]},\"weightsManifest\":[{\"paths\":[\"w.bin\"],"
               "\"weights\":[{\"name\":\"c\",\"shape\":[100000,100000,100000],\"dtype\":\"float32\"}]}]," SIG "}");
    assert_int_equal(load_json("huge.json", NULL), KM_EFORMAT);
    write_text("big.json", "{\"modelTopology\":{\"node\":[" NODE_IN ",{\"name\":\"c\",\"op\":\"Const\"},"
               "{\"name\":\"y\",\"op\":\"AddV2\",\"input\":[\"x\",\"c\"]}]},\"weightsManifest\":[{\"paths\":[\"w.bin\"],"
               "\"weights\":[{\"name\":\"c\",\"shape\":[1000],\"dtype\":\"float32\"}]}]," SIG "}");
    assert_int_equal(load_json("big.json", NULL), KM_EFORMAT);

    /* missing shard */
    write_text("noshard.json", "{\"modelTopology\":{\"node\":[" NODE_IN "]},\"weightsManifest\":[{\"paths\":[\"missing.bin\"],"
               "\"weights\":[]}]," SIG "}");
    assert_true(load_json("noshard.json", NULL) < 0);

    /* shape mismatch: adding [3] to [1,4,4,2] does not broadcast */
    write_text("shape.json", "{\"modelTopology\":{\"node\":[" NODE_IN ",{\"name\":\"c\",\"op\":\"Const\"},"
               "{\"name\":\"y\",\"op\":\"AddV2\",\"input\":[\"x\",\"c\"]}]},\"weightsManifest\":[{\"paths\":[\"w.bin\"],"
               "\"weights\":[{\"name\":\"c\",\"shape\":[3],\"dtype\":\"float32\"}]}]," SIG "}");
    assert_int_equal(load_json("shape.json", NULL), KM_EFORMAT);

    /* one filter read by two convolutions: the loader frees a filter's
     * original copy after the layout copy only when it has one reader, so
     * the second convolution still gets the right weights */
    const float wv[4] = {1, 2, 3, 4}; /* HWIO 1x1x2x2: w[i][o] */
    snprintf(path, sizeof(path), "%s/f.bin", tmpdir);
    assert_int_equal(km_write_file_atomic(path, wv, sizeof(wv)), 0);
#define CONV(name, in) "{\"name\":\"" name "\",\"op\":\"Conv2D\",\"input\":[\"" in "\",\"w\"],\"attr\":{" \
    "\"padding\":{\"s\":\"VkFMSUQ=\"},\"strides\":{\"list\":{\"i\":[\"1\",\"1\",\"1\",\"1\"]}}}}"
    write_text("twice.json", "{\"modelTopology\":{\"node\":[" NODE_IN ",{\"name\":\"w\",\"op\":\"Const\"},"
               CONV("a", "x") "," CONV("y", "a") "]},\"weightsManifest\":[{\"paths\":[\"f.bin\"],"
               "\"weights\":[{\"name\":\"w\",\"shape\":[1,1,2,2],\"dtype\":\"float32\"}]}]," SIG "}");
#undef CONV
    for (int ref = 0; ref <= 1; ref++) {
        snprintf(path, sizeof(path), "%s/twice.json", tmpdir);
        km_model *m = NULL;
        km_model_opts o = {.precision = KM_PREC_FP32, .use_reference = ref};
        assert_int_equal(km_model_load(&m, path, &o), 0);
        float x[32], y[32];
        for (int k = 0; k < 32; k++)
            x[k] = (float)(k % 7) - 3.0f;
        const float *ins[1] = {x};
        float *outs[1] = {y};
        assert_int_equal(km_model_run(m, ins, outs), 0);
        for (int p = 0; p < 16; p++) {
            float a0 = x[2 * p] * wv[0] + x[2 * p + 1] * wv[2], a1 = x[2 * p] * wv[1] + x[2 * p + 1] * wv[3];
            assert_float_equal(y[2 * p], a0 * wv[0] + a1 * wv[2], 1e-4);
            assert_float_equal(y[2 * p + 1], a0 * wv[1] + a1 * wv[3], 1e-4);
        }
        km_model_free(m);
    }
    km_rmtree(tmpdir);
}

/* Real TF.js model JSON truncated at random points. */
static void test_tfjs_truncated(void **state)
{
    (void)state;
    size_t len;
    uint8_t *d = read_model("tfjs/blazepose-lite.json", &len);
    if (!d)
        skip();
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/km_nn_malformed_t%d", (int)getpid());
    assert_int_equal(km_mkdirs(tmpdir), 0);
    char path[512];
    for (int it = 0; it < 20; it++) {
        size_t n = rnd() % len;
        snprintf(path, sizeof(path), "%s/m.json", tmpdir);
        assert_int_equal(km_write_file_atomic(path, d, n), 0);
        assert_int_equal(load_json("m.json", NULL), KM_EFORMAT);
    }
    km_rmtree(tmpdir);
    free(d);
}

static void test_unsupported_output(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/tfjs/movenet-lightning.json", tc_models_dir());
    struct stat st;
    if (stat(path, &st) != 0)
        skip();
    km_model *m = NULL;
    /* the full MoveNet graph decodes keypoints with ArgMax/GatherNd:
     * kinema cuts it at the heads instead; asking for it names the op */
    assert_int_equal(km_model_load(&m, path, NULL), KM_EUNSUPPORTED);
    assert_non_null(strstr(km_errmsg(), "ArgMax"));
    const char *bad[1] = {"no/such/node"};
    km_model_opts o = {.outputs = bad, .noutputs = 1};
    assert_int_equal(km_model_load(&m, path, &o), KM_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_and_random), cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bitflips),        cmocka_unit_test(test_huge_shape),
        cmocka_unit_test(test_tfjs_cases),      cmocka_unit_test(test_tfjs_truncated),
        cmocka_unit_test(test_unsupported_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
