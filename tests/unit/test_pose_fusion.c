/*
 * test_pose_fusion.c - keypoint formats and their mapping, ensemble fusion
 * on hand-made persons (weighted mean, threshold, spread, matching by OKS
 * and IoU), the multi-person tracker's ids, and the MoveNet decoders on
 * synthetic network heads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kinema/pose.h"

static void test_formats(void **state)
{
    (void)state;
    assert_int_equal(km_kp_count(KM_KP_COCO17), 17);
    assert_int_equal(km_kp_count(KM_KP_BLAZE33), 33);
    assert_string_equal(km_kp_name(KM_KP_COCO17, 0), "nose");
    assert_string_equal(km_kp_name(KM_KP_BLAZE33, 32), "right_foot_index");
    assert_null(km_kp_name(KM_KP_COCO17, 17));
    for (int c = 0; c < 17; c++) {
        int b = km_kp_blaze_of_coco(c);
        assert_true(b >= 0 && b < 33);
        assert_int_equal(km_kp_coco_of_blaze(b), c);
        assert_string_equal(km_kp_name(KM_KP_COCO17, c), km_kp_name(KM_KP_BLAZE33, b));
    }
    assert_int_equal(km_kp_coco_of_blaze(1), -1); /* left_eye_inner */
    const int *e;
    int ne = km_kp_edges(KM_KP_COCO17, &e);
    assert_true(ne > 10);
    for (int i = 0; i < 2 * ne; i++)
        assert_true(e[i] >= 0 && e[i] < 17);
    ne = km_kp_edges(KM_KP_BLAZE33, &e);
    for (int i = 0; i < 2 * ne; i++)
        assert_true(e[i] >= 0 && e[i] < 33);
    assert_string_equal(km_kp_format_name(KM_KP_BLAZE33), "blazepose33");
}

/* A standing COCO person centred at (cx, cy), 100 px tall. */
static void make_person(km_person *p, float cx, float cy, float score)
{
    static const float off[17][2] = {
        {0, -45}, {-3, -48}, {3, -48}, {-6, -46}, {6, -46}, {-12, -35}, {12, -35},
        {-15, -20}, {15, -20}, {-16, -5}, {16, -5}, {-8, 0}, {8, 0},
        {-8, 25}, {8, 25}, {-8, 50}, {8, 50},
    };
    memset(p, 0, sizeof *p);
    p->id = -1;
    p->format = KM_KP_COCO17;
    p->nkp = 17;
    p->score = score;
    for (int k = 0; k < 17; k++) {
        p->kp[k].x = cx + off[k][0];
        p->kp[k].y = cy + off[k][1];
        p->kp[k].score = score;
        p->presence[k] = score;
    }
    km_person_update_bbox(p, 0.0f);
}

static void test_to_coco(void **state)
{
    (void)state;
    km_person b;
    memset(&b, 0, sizeof b);
    b.format = KM_KP_BLAZE33;
    b.nkp = 33;
    for (int k = 0; k < 33; k++) {
        b.kp[k].x = (float)k;
        b.kp[k].score = 0.5f;
    }
    km_person c;
    km_person_to_coco(&b, &c);
    assert_int_equal(c.format, KM_KP_COCO17);
    assert_int_equal(c.nkp, 17);
    assert_float_equal(c.kp[5].x, 11, 0);  /* left_shoulder */
    assert_float_equal(c.kp[16].x, 28, 0); /* right_ankle */
}

static void test_fuse_weighted_mean(void **state)
{
    (void)state;
    km_pose_result a, b, out;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.n = b.n = 1;
    make_person(&a.p[0], 100, 100, 0.9f);
    make_person(&b.p[0], 104, 100, 0.6f);
    b.p[0].kp[0].score = 0.1f; /* dropped: below the threshold */
    const km_pose_result *in[2] = {&a, &b};
    float w[2] = {1.0f, 2.0f};
    km_fuse_opts o = {KM_KP_COCO17, 0.3f, 0.3f};
    assert_int_equal(km_pose_fuse(in, 2, w, &o, &out), 0);
    assert_int_equal(out.n, 1);
    const km_person *p = &out.p[0];
    assert_int_equal(p->format, KM_KP_COCO17);
    /* nose: only model a kept */
    assert_float_equal(p->kp[0].x, 100, 1e-3);
    assert_int_equal(p->nmodels[0], 1);
    assert_float_equal(p->spread[0], 0, 1e-6);
    /* shoulder: (1*.9*x + 2*.6*(x+4)) / (1*.9 + 2*.6) */
    float wa = 0.9f, wb = 1.2f;
    float want = (wa * 88 + wb * 92) / (wa + wb);
    assert_float_equal(p->kp[5].x, want, 1e-3);
    assert_int_equal(p->nmodels[5], 2);
    float sp = sqrtf((wa * (88 - want) * (88 - want) + wb * (92 - want) * (92 - want)) / (wa + wb));
    assert_float_equal(p->spread[5], sp, 1e-3);
    /* score: weight-averaged over the models */
    assert_float_equal(p->kp[5].score, (1 * 0.9f + 2 * 0.6f) / 3, 1e-5);
    assert_float_equal(p->score, (1 * 0.9f + 2 * 0.6f) / 3, 1e-5);
}

static void test_fuse_matching(void **state)
{
    (void)state;
    km_pose_result a, b, out;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.n = 2;
    make_person(&a.p[0], 100, 100, 0.9f);
    make_person(&a.p[1], 400, 100, 0.8f);
    b.n = 2; /* same two people in the other order, and one more */
    make_person(&b.p[0], 402, 101, 0.7f);
    make_person(&b.p[1], 101, 99, 0.7f);
    const km_pose_result *in[2] = {&a, &b};
    assert_int_equal(km_pose_fuse(in, 2, NULL, NULL, &out), 0);
    assert_int_equal(out.n, 2);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 17; k++)
            assert_int_equal(out.p[i].nmodels[k], 2);
    /* a third person only b sees becomes its own cluster */
    b.n = 3;
    make_person(&b.p[2], 250, 300, 0.5f);
    assert_int_equal(km_pose_fuse(in, 2, NULL, NULL, &out), 0);
    assert_int_equal(out.n, 3);
    /* sorted by score: the lone person is last */
    assert_float_equal(out.p[2].kp[0].x, 250, 1e-3);
    assert_int_equal(out.p[2].nmodels[0], 1);
    /* OKS of a person with itself is 1, with a far one 0 */
    assert_float_equal(km_pose_oks(&a.p[0], &a.p[0], 0.3f), 1.0f, 1e-6);
    assert_true(km_pose_oks(&a.p[0], &a.p[1], 0.3f) < 0.01f);
}

static void test_fuse_blaze_and_coco(void **state)
{
    (void)state;
    km_pose_result a, b, out;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.n = b.n = 1;
    make_person(&b.p[0], 100, 100, 0.8f);
    km_person *p = &a.p[0];
    memset(p, 0, sizeof *p);
    p->format = KM_KP_BLAZE33;
    p->nkp = 33;
    p->score = 0.9f;
    p->has_3d = 1;
    for (int c = 0; c < 17; c++) {
        int k = km_kp_blaze_of_coco(c);
        p->kp[k] = b.p[0].kp[c];
        p->kp[k].x += 2;
        p->kp[k].score = 0.8f;
        p->world[k][2] = 0.5f;
    }
    km_person_update_bbox(p, 0.5f);
    p->kp[29].x = 77;   /* left_heel: no COCO counterpart */
    p->kp[29].score = 0.9f;
    const km_pose_result *in[2] = {&a, &b};
    km_fuse_opts o = {KM_KP_COCO17, 0.3f, 0.3f};
    assert_int_equal(km_pose_fuse(in, 2, NULL, &o, &out), 0);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.p[0].format, KM_KP_COCO17);
    assert_int_equal(out.p[0].nkp, 17);
    assert_float_equal(out.p[0].kp[9].x, b.p[0].kp[9].x + 1, 1e-3);
    assert_float_equal(out.p[0].spread[9], 1, 1e-3);
    assert_int_equal(out.p[0].has_3d, 1);
    assert_float_equal(out.p[0].world[9][2], 0.5f, 1e-6);
    /* 33-point output: the 17 shared points fused, the others from
     * BlazePose alone */
    o.format = KM_KP_BLAZE33;
    assert_int_equal(km_pose_fuse(in, 2, NULL, &o, &out), 0);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.p[0].format, KM_KP_BLAZE33);
    assert_int_equal(out.p[0].nkp, 33);
    assert_float_equal(out.p[0].kp[15].x, b.p[0].kp[9].x + 1, 1e-3); /* left_wrist */
    assert_int_equal(out.p[0].nmodels[15], 2);
    assert_float_equal(out.p[0].kp[29].x, 77, 1e-3);
    assert_int_equal(out.p[0].nmodels[29], 1);
    assert_float_equal(out.p[0].kp[29].score, 0.9f, 1e-5);
    assert_float_equal(out.p[0].spread[29], 0, 1e-6);
    /* a frame where only the COCO model saw someone still gives 33 points */
    a.n = 0;
    assert_int_equal(km_pose_fuse(in, 2, NULL, &o, &out), 0);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.p[0].format, KM_KP_BLAZE33);
    assert_int_equal(out.p[0].nmodels[29], 0);
    assert_float_equal(out.p[0].kp[29].score, 0, 0);
    assert_float_equal(out.p[0].kp[27].x, b.p[0].kp[15].x, 1e-3); /* left_ankle */
    assert_int_equal(km_pose_fuse(in, 0, NULL, &o, &out), KM_EINVAL);
}

static void test_tracker_ids(void **state)
{
    (void)state;
    km_pose_tracker *t = km_pose_tracker_new(2, 0.2f);
    assert_non_null(t);
    km_pose_result r;
    memset(&r, 0, sizeof r);
    r.n = 2;
    make_person(&r.p[0], 100, 100, 0.9f);
    make_person(&r.p[1], 400, 100, 0.9f);
    km_pose_tracker_update(t, &r);
    assert_int_equal(r.p[0].id, 0);
    assert_int_equal(r.p[1].id, 1);
    /* next frame: both moved a little, listed in the other order */
    make_person(&r.p[0], 405, 102, 0.9f);
    make_person(&r.p[1], 103, 101, 0.9f);
    km_pose_tracker_update(t, &r);
    assert_int_equal(r.p[0].id, 1);
    assert_int_equal(r.p[1].id, 0);
    /* a newcomer gets a fresh id; person 1 is missing for a frame */
    r.n = 2;
    make_person(&r.p[0], 106, 102, 0.9f);
    make_person(&r.p[1], 250, 400, 0.9f);
    km_pose_tracker_update(t, &r);
    assert_int_equal(r.p[0].id, 0);
    assert_int_equal(r.p[1].id, 2);
    /* person 1 returns within max_age: same id */
    r.n = 1;
    make_person(&r.p[0], 408, 103, 0.9f);
    km_pose_tracker_update(t, &r);
    assert_int_equal(r.p[0].id, 1);
    /* gone for longer than max_age: a new id */
    r.n = 0;
    for (int i = 0; i < 4; i++)
        km_pose_tracker_update(t, &r);
    r.n = 1;
    make_person(&r.p[0], 408, 103, 0.9f);
    km_pose_tracker_update(t, &r);
    assert_int_equal(r.p[0].id, 3);
    km_pose_tracker_free(t);
}

/* Synthetic single-pose heads: centre at (5, 6) on a 12x12 grid; keypoint
 * k regressed to (2 + k % 8, 1 + k / 8 * 4) with its heatmap peak there. */
static void test_movenet_decode_single(void **state)
{
    (void)state;
    enum { G = 12 };
    float *hm = calloc(G * G * 17, sizeof(float)), *ce = calloc(G * G, sizeof(float));
    float *rg = calloc(G * G * 34, sizeof(float)), *of = calloc(G * G * 34, sizeof(float));
    for (int i = 0; i < G * G * 17; i++)
        hm[i] = -8;
    for (int i = 0; i < G * G; i++)
        ce[i] = -8;
    ce[5 * G + 6] = 4;
    for (int k = 0; k < 17; k++) {
        int ky = 1 + k / 8 * 4, kx = 2 + k % 8;
        rg[(5 * G + 6) * 34 + 2 * k] = (float)(ky - 5);
        rg[(5 * G + 6) * 34 + 2 * k + 1] = (float)(kx - 6);
        hm[(ky * G + kx) * 17 + k] = 3;
        /* a stronger decoy far from the regressed position loses to the
         * distance weighting */
        hm[((G - 1) * G + (G - 1)) * 17 + k] = 3.5f;
        of[(ky * G + kx) * 34 + 2 * k] = 0.25f;
        of[(ky * G + kx) * 34 + 2 * k + 1] = -0.5f;
    }
    float kp[17][3];
    assert_int_equal(km_movenet_decode_single(hm, ce, rg, of, G, G, kp), 0);
    for (int k = 0; k < 17; k++) {
        assert_float_equal(kp[k][0], (1 + k / 8 * 4 + 0.25f) / G, 1e-5);
        assert_float_equal(kp[k][1], (2 + k % 8 - 0.5f) / G, 1e-5);
        assert_float_equal(kp[k][2], 1 / (1 + expf(-3)), 1e-5);
    }
    free(hm);
    free(ce);
    free(rg);
    free(of);
}

static void test_movenet_decode_multi(void **state)
{
    (void)state;
    enum { G = 16 };
    float *hm = calloc(G * G * 17, sizeof(float)), *ce = calloc(G * G, sizeof(float));
    float *rg = calloc(G * G * 34, sizeof(float)), *of = calloc(G * G * 34, sizeof(float));
    float *bs = calloc(G * G * 2, sizeof(float)), *bo = calloc(G * G * 2, sizeof(float));
    for (int i = 0; i < G * G * 17; i++)
        hm[i] = -8;
    for (int i = 0; i < G * G; i++)
        ce[i] = -8;
    /* two people: centres (4, 4) and (10, 12), 6x6 boxes */
    const int cy[2] = {4, 10}, cx[2] = {4, 12};
    for (int p = 0; p < 2; p++) {
        int c = cy[p] * G + cx[p];
        ce[c] = p == 0 ? 3 : 2;
        bs[2 * c] = bs[2 * c + 1] = 6;
        for (int k = 0; k < 17; k++) {
            int ky = cy[p] - 2 + k % 4, kx = cx[p] - 2 + k / 4 % 4;
            rg[c * 34 + 2 * k] = (float)(ky - cy[p]);
            rg[c * 34 + 2 * k + 1] = (float)(kx - cx[p]);
            hm[(ky * G + kx) * 17 + k] = 2;
        }
    }
    float out[6][56];
    assert_int_equal(km_movenet_decode_multi(hm, ce, rg, of, bs, bo, G, G, 0.0f, out), 0);
    for (int p = 0; p < 2; p++) {
        for (int k = 0; k < 17; k++) {
            assert_float_equal(out[p][3 * k], (float)(cy[p] - 2 + k % 4) / G, 1e-5);
            assert_float_equal(out[p][3 * k + 1], (float)(cx[p] - 2 + k / 4 % 4) / G, 1e-5);
            assert_true(out[p][3 * k + 2] > 0.8f);
        }
        assert_float_equal(out[p][51], (float)(cy[p] - 3) / G, 1e-5);
        assert_float_equal(out[p][52], (float)(cx[p] - 3) / G, 1e-5);
        assert_float_equal(out[p][53], (float)(cy[p] + 3) / G, 1e-5);
        assert_true(out[p][55] > 0.5f);
    }
    assert_true(out[0][55] > out[1][55]);
    /* the other four instances are suppressed centres: score ~ 0 */
    for (int p = 2; p < 6; p++)
        assert_true(out[p][55] < 0.01f);
    free(hm);
    free(ce);
    free(rg);
    free(of);
    free(bs);
    free(bo);
}

static void test_kind_names(void **state)
{
    (void)state;
    km_pose_kind k;
    assert_int_equal(km_pose_kind_parse("movenet-thunder", &k), 0);
    assert_int_equal(k, KM_POSE_MOVENET_THUNDER);
    assert_string_equal(km_pose_kind_name(KM_POSE_BLAZEPOSE_HEAVY), "blazepose-heavy");
    assert_int_equal(km_pose_kind_parse("posenet", &k), KM_EINVAL);
    assert_non_null(strstr(km_errmsg(), "posenet"));
    assert_int_equal(km_pose_kind_format(KM_POSE_BLAZEPOSE_LITE), KM_KP_BLAZE33);
    assert_int_equal(km_pose_kind_format(KM_POSE_MOVENET_MULTIPOSE), KM_KP_COCO17);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_to_coco),
        cmocka_unit_test(test_fuse_weighted_mean),
        cmocka_unit_test(test_fuse_matching),
        cmocka_unit_test(test_fuse_blaze_and_coco),
        cmocka_unit_test(test_tracker_ids),
        cmocka_unit_test(test_movenet_decode_single),
        cmocka_unit_test(test_movenet_decode_multi),
        cmocka_unit_test(test_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
