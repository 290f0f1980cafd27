/*
 * test_pose_pipeline.c - km_pose_pipeline against the models run one frame
 * after another: on consecutive video frames (tracking on), each model's
 * own results must be the same bits as one estimator walking the frames in
 * order, and the fused results the same as km_pose_fuse of those, whatever
 * the thread count (a model with video state that ran out of order, or a
 * stateless model whose estimator kept state, would differ). Also the
 * caller's preloaded models (borrowed, not freed) and the bounds of
 * km_pose_pipeline_model_result.
 *
 * Needs models/ (scripts/fetch-models.sh) and tests/media; skips without.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_common.h"

#include "kinema/media.h"
#include "kinema/pose.h"

#define NFRAMES 4 /* two batches of two: enough for order and state, light under valgrind */
#define NMODELS 3

/* One stateful model per family and the stateless one. */
static const km_pose_kind kinds[NMODELS] = {
    KM_POSE_BLAZEPOSE_LITE, KM_POSE_MOVENET_LIGHTNING, KM_POSE_MOVENET_MULTIPOSE};

typedef struct fixture {
    km_frame *frames[NFRAMES];
    const km_image *imgs[NFRAMES];
    km_pose_net *nets[NMODELS];
    km_pose_result ref[NMODELS][NFRAMES]; /* one estimator, frames in order */
    km_pose_result fused[NFRAMES];        /* km_pose_fuse of ref */
} fixture;

static int have_inputs(void)
{
    char p[512];
    snprintf(p, sizeof p, "%s/tflite/pose_landmark_lite.tflite", tc_models_dir());
    return access(p, R_OK) == 0 && access("tests/media/vtest.avi", R_OK) == 0;
}

static void read_frames(fixture *f)
{
    km_reader *rd = NULL;
    assert_int_equal(km_reader_open(&rd, "tests/media/vtest.avi", NULL), 0);
    for (int i = 0; i < NFRAMES; i++) {
        assert_int_equal(km_reader_read(rd, &f->frames[i]), 0);
        f->imgs[i] = f->frames[i]->img;
    }
    km_reader_close(rd);
}

static void run_reference(fixture *f)
{
    km_fuse_opts fo = {KM_KP_COCO17, 0.3f, 0.3f};
    for (int k = 0; k < NMODELS; k++) {
        assert_int_equal(km_pose_net_load(&f->nets[k], kinds[k], tc_models_dir(), NULL), 0);
        km_pose_estimator *e = NULL;
        assert_int_equal(km_pose_estimator_new(&e, f->nets[k]), 0);
        for (int i = 0; i < NFRAMES; i++)
            assert_int_equal(km_pose_estimate(e, f->imgs[i], 1, &f->ref[k][i]), 0);
        km_pose_estimator_free(e);
    }
    for (int i = 0; i < NFRAMES; i++) {
        const km_pose_result *in[NMODELS];
        for (int k = 0; k < NMODELS; k++)
            in[k] = &f->ref[k][i];
        assert_int_equal(km_pose_fuse(in, NMODELS, NULL, &fo, &f->fused[i]), 0);
    }
}

static int setup(void **state)
{
    if (!have_inputs()) {
        *state = NULL;
        return 0;
    }
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    read_frames(f);
    run_reference(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    for (int i = 0; i < NFRAMES; i++)
        km_frame_unref(f->frames[i]);
    for (int k = 0; k < NMODELS; k++)
        km_pose_net_free(f->nets[k]);
    free(f);
    return 0;
}

/* Same persons, boxes and keypoints, bit for bit (ids aside: the pipeline
 * gives track ids). */
static void assert_same(const km_pose_result *a, const km_pose_result *b)
{
    assert_int_equal(a->n, b->n);
    for (int q = 0; q < a->n; q++) {
        const km_person *x = &a->p[q], *y = &b->p[q];
        assert_int_equal(x->nkp, y->nkp);
        assert_memory_equal(&x->score, &y->score, sizeof x->score);
        assert_memory_equal(x->bbox, y->bbox, sizeof x->bbox);
        assert_memory_equal(x->kp, y->kp, (size_t)x->nkp * sizeof x->kp[0]);
    }
}

static km_pose_pipeline *make_pipeline(fixture *f, int threads, int borrow)
{
    km_pose_pipeline_opts o;
    memset(&o, 0, sizeof o);
    o.kinds = kinds;
    o.nkinds = NMODELS;
    o.models_dir = tc_models_dir();
    o.nets = borrow ? f->nets : NULL;
    o.threads = threads;
    o.track = 1;
    km_pose_pipeline *p = NULL;
    assert_int_equal(km_pose_pipeline_new(&p, &o), 0);
    return p;
}

/* All frames through p in batches; every model result and fused result
 * checked against the reference. */
static void check_pipeline(fixture *f, km_pose_pipeline *p)
{
    int batch = km_pose_pipeline_batch(p);
    km_pose_result *out = calloc((size_t)batch, sizeof *out);
    assert_non_null(out);
    assert_null(km_pose_pipeline_model_result(p, 0, 0)); /* nothing collected */
    for (int i0 = 0; i0 < NFRAMES; i0 += batch) {
        int n = NFRAMES - i0 < batch ? NFRAMES - i0 : batch;
        assert_int_equal(km_pose_pipeline_submit(p, f->imgs + i0, n), 0);
        assert_null(km_pose_pipeline_model_result(p, 0, 0)); /* in flight */
        assert_int_equal(km_pose_pipeline_collect(p, out), 0);
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < NMODELS; k++)
                assert_same(km_pose_pipeline_model_result(p, i, k), &f->ref[k][i0 + i]);
            assert_same(&out[i], &f->fused[i0 + i]);
        }
        assert_null(km_pose_pipeline_model_result(p, n, 0));
        assert_null(km_pose_pipeline_model_result(p, 0, NMODELS));
        assert_null(km_pose_pipeline_model_result(p, -1, 0));
    }
    free(out);
}

static void test_same_as_in_order(void **state)
{
    fixture *f = *state;
    if (!f)
        skip();
    for (int threads = 2; threads <= 3; threads++) { /* the caller's models, then its own */
        km_pose_pipeline *p = make_pipeline(f, threads, threads == 2);
        check_pipeline(f, p);
        km_pose_pipeline_free(p);
    }
    /* borrowed models were not freed: they still run */
    km_pose_estimator *e = NULL;
    assert_int_equal(km_pose_estimator_new(&e, f->nets[0]), 0);
    km_pose_result r;
    assert_int_equal(km_pose_estimate(e, f->imgs[0], 0, &r), 0);
    km_pose_estimator_free(e);
}

static void test_borrowed_kind_mismatch(void **state)
{
    fixture *f = *state;
    if (!f)
        skip();
    km_pose_net *swapped[NMODELS] = {f->nets[1], f->nets[0], f->nets[2]};
    km_pose_pipeline_opts o;
    memset(&o, 0, sizeof o);
    o.kinds = kinds;
    o.nkinds = NMODELS;
    o.nets = swapped;
    o.threads = 1;
    km_pose_pipeline *p = (km_pose_pipeline *)1;
    assert_int_equal(km_pose_pipeline_new(&p, &o), KM_EINVAL);
    assert_null(p);
    assert_non_null(strstr(km_errmsg(), "blazepose-lite"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_in_order),
        cmocka_unit_test(test_borrowed_kind_mismatch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
