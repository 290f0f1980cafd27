/*
 * net.c - the pose model registry: names, files, loading the networks once
 * (km_pose_net, shared read-only) and making per-thread estimators that
 * dispatch to the BlazePose or MoveNet pipeline.
 *
 * The MoveNet TF.js graphs are cut at their convolution heads and decoded
 * in movenet_decode.c; the BlazePose landmark graph is cut at the three
 * outputs we use (landmarks, person score, world landmarks), skipping the
 * segmentation and heatmap heads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pose/pose_priv.h"

static const char *const kind_names[KM_POSE_NKINDS] = {
    "blazepose-lite", "blazepose-full", "blazepose-heavy",
    "movenet-lightning", "movenet-thunder", "movenet-multipose",
};

const char *km_pose_kind_name(km_pose_kind k)
{
    return (int)k >= 0 && k < KM_POSE_NKINDS ? kind_names[k] : NULL;
}

int km_pose_kind_parse(const char *name, km_pose_kind *out)
{
    for (int k = 0; k < KM_POSE_NKINDS; k++)
        if (name && strcmp(name, kind_names[k]) == 0) {
            *out = (km_pose_kind)k;
            return 0;
        }
    return km_seterr(KM_EINVAL, "unknown pose model '%s' (one of blazepose-lite, "
                     "blazepose-full, blazepose-heavy, movenet-lightning, "
                     "movenet-thunder, movenet-multipose, ensemble)", name ? name : "");
}

km_kp_format km_pose_kind_format(km_pose_kind k)
{
    return k <= KM_POSE_BLAZEPOSE_HEAVY ? KM_KP_BLAZE33 : KM_KP_COCO17;
}

static int is_blazepose(km_pose_kind k)
{
    return k <= KM_POSE_BLAZEPOSE_HEAVY;
}

size_t km__tensor_count(const km_tensor_info *t)
{
    if (!t || t->ndim <= 0 || t->ndim > KM_NN_MAXDIM)
        return 0;
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] <= 0 || t->shape[i] > (1 << 24))
            return 0;
        n *= (size_t)t->shape[i];
        if (n > ((size_t)1 << 28))
            return 0;
    }
    return n;
}

/* Index of the output whose name contains `part` (exact name first). */
static int find_output(const km_model *m, const char *part)
{
    int n = km_model_noutputs(m);
    for (int i = 0; i < n; i++) {
        const char *nm = km_model_output(m, i)->name;
        size_t lp = strlen(part);
        if (nm && strncmp(nm, part, lp) == 0 && (nm[lp] == 0 || nm[lp] == ':'))
            return i;
    }
    for (int i = 0; i < n; i++) {
        const char *nm = km_model_output(m, i)->name;
        if (nm && strstr(nm, part))
            return i;
    }
    return -1;
}

static int last_dim(const km_model *m, int i)
{
    const km_tensor_info *t = km_model_output(m, i);
    return t && t->ndim > 0 ? (int)t->shape[t->ndim - 1] : -1;
}

/* image_fp32: see km_model_opts. */
static int load_cut(km_model **out, const char *path, const km_pose_opts *po,
                    const char *const *names, int n, int image_fp32)
{
    km_model_opts mo;
    memset(&mo, 0, sizeof mo);
    mo.precision = (km_precision)po->precision;
    mo.threads = 1;
    mo.outputs = names;
    mo.noutputs = n;
    mo.image_fp32 = image_fp32;
    return km_model_load(out, path, &mo);
}

static int load_blazepose(km_pose_net *net, const char *dir)
{
    static const char *const lm_out[3] = {"Identity", "Identity_1", "Identity_4"};
    static const char *const variant[3] = {"lite", "full", "heavy"};
    char path[4096];
    int rc;
    snprintf(path, sizeof path, "%s/tflite/pose_detection.tflite", dir);
    /* auto: the detector in fp32. Its box sets the landmark crop, and its
     * bf16 rounding moved BlazePose full's landmarks on the golden images
     * up to 1.9 % of the person box from fp32's (0.6-1.6 % with an fp32
     * detector, docs/nn.md); on video it runs only when tracking is lost
     * (about 2 % of vtest.avi's time), on a still image it adds about 3 ms. */
    km_pose_opts det_opts = net->opts;
    if (det_opts.precision == KM_PREC_AUTO)
        det_opts.precision = KM_PREC_FP32;
    if ((rc = load_cut(&net->det, path, &det_opts, NULL, 0, 0)))
        return rc;
    net->det_idx[0] = net->det_idx[1] = -1;
    for (int i = 0; i < km_model_noutputs(net->det); i++) {
        int d = last_dim(net->det, i);
        if (d == 12) net->det_idx[0] = i;
        if (d == 1) net->det_idx[1] = i;
    }
    const km_tensor_info *din = km_model_ninputs(net->det) == 1 ? km_model_input(net->det, 0) : NULL;
    if (net->det_idx[0] < 0 || net->det_idx[1] < 0 || !din || din->ndim != 4 || din->shape[3] != 3)
        return km_seterr(KM_EFORMAT, "%s: not a BlazePose detector (outputs)", path);
    net->det_size = (int)din->shape[1];
    static const int strides[5] = {8, 16, 32, 32, 32};
    net->nanchors = km_ssd_anchors(net->det_size, strides, 5, NULL, 0);
    if (net->nanchors != (int)km__tensor_count(km_model_output(net->det, net->det_idx[1])))
        return km_seterr(KM_EFORMAT, "%s: %d anchors expected", path, net->nanchors);
    net->anchors = malloc(sizeof *net->anchors * (size_t)net->nanchors);
    if (!net->anchors)
        return km_seterr(KM_ENOMEM, "pose: out of memory");
    km_ssd_anchors(net->det_size, strides, 5, net->anchors, net->nanchors);

    snprintf(path, sizeof path, "%s/tflite/pose_landmark_%s.tflite", dir, variant[net->kind]);
    if (load_cut(&net->main, path, &net->opts, lm_out, 3, 0) != 0 &&
        (rc = load_cut(&net->main, path, &net->opts, NULL, 0, 0)))
        return rc;
    net->nout = 3;
    for (int i = 0; i < 3; i++)
        if ((net->out_idx[i] = find_output(net->main, lm_out[i])) < 0)
            return km_seterr(KM_EFORMAT, "%s: no output %s", path, lm_out[i]);
    if (km__tensor_count(km_model_output(net->main, net->out_idx[0])) < 195 ||
        km__tensor_count(km_model_output(net->main, net->out_idx[2])) < 117)
        return km_seterr(KM_EFORMAT, "%s: unexpected landmark output sizes", path);
    return 0;
}

static int load_movenet(km_pose_net *net, const char *dir)
{
    static const char *const single[4] = {
        "StatefulPartitionedCall/kpt_heatmap_0/conv2d_5/BiasAdd",
        "StatefulPartitionedCall/center_0/conv2d_4/BiasAdd",
        "StatefulPartitionedCall/kpt_regress_0/conv2d_6/BiasAdd",
        "StatefulPartitionedCall/kpt_offset_0/conv2d_7/BiasAdd",
    };
    static const char *const multi[6] = {
        "StatefulPartitionedCall/kpt_heatmap_0/conv2d_7/BiasAdd",
        "StatefulPartitionedCall/center_0/conv2d_4/BiasAdd",
        "StatefulPartitionedCall/kpt_regress_0/conv2d_8/BiasAdd",
        "StatefulPartitionedCall/kpt_offset_0/conv2d_9/BiasAdd",
        "StatefulPartitionedCall/box_scale_0/conv2d_5/BiasAdd",
        "StatefulPartitionedCall/box_offset_0/conv2d_6/BiasAdd",
    };
    static const char *const keys[6] = {"kpt_heatmap_0", "center_0", "kpt_regress_0",
                                        "kpt_offset_0", "box_scale_0", "box_offset_0"};
    static const int chans[6] = {17, 1, 34, 34, 2, 2};
    const char *file = net->kind == KM_POSE_MOVENET_LIGHTNING ? "lightning"
                       : net->kind == KM_POSE_MOVENET_THUNDER ? "thunder" : "multipose";
    int is_multi = net->kind == KM_POSE_MOVENET_MULTIPOSE;
    const char *const *names = is_multi ? multi : single;
    int n = is_multi ? 6 : 4, rc;
    char path[4096];
    snprintf(path, sizeof path, "%s/tfjs/movenet-%s.json", dir, file);
    /* Lightning's input image stays fp32 in bf16 plans: 0.72 -> 0.30 % of
     * the person box from fp32's keypoints on messi5, at no measurable
     * cost. Thunder and MultiPose did not get closer and would pay about
     * 5 % for their 128x128x56 fp32 intermediate (docs/nn.md). */
    int image_fp32 = net->kind == KM_POSE_MOVENET_LIGHTNING;
    if ((rc = load_cut(&net->main, path, &net->opts, names, n, image_fp32)))
        return rc;
    net->nout = n;
    for (int i = 0; i < n; i++) {
        net->out_idx[i] = find_output(net->main, keys[i]);
        if (net->out_idx[i] < 0 || last_dim(net->main, net->out_idx[i]) != chans[i])
            return km_seterr(KM_EFORMAT, "%s: head %s missing or not %d channels",
                             path, keys[i], chans[i]);
    }
    const km_tensor_info *hm = km_model_output(net->main, net->out_idx[0]);
    if (hm->ndim != 4)
        return km_seterr(KM_EFORMAT, "%s: heatmap is not NHWC", path);
    net->grid_h = (int)hm->shape[1];
    net->grid_w = (int)hm->shape[2];
    for (int i = 1; i < n; i++) {
        const km_tensor_info *t = km_model_output(net->main, net->out_idx[i]);
        if (t->ndim != 4 || t->shape[1] != net->grid_h || t->shape[2] != net->grid_w)
            return km_seterr(KM_EFORMAT, "%s: heads disagree on the grid size", path);
    }
    return 0;
}

int km_pose_net_load(km_pose_net **out, km_pose_kind kind, const char *models_dir,
                     const km_pose_opts *opts)
{
    *out = NULL;
    if ((int)kind < 0 || kind >= KM_POSE_NKINDS)
        return km_seterr(KM_EINVAL, "pose: bad model kind %d", (int)kind);
    km_pose_net *net = calloc(1, sizeof *net);
    if (!net)
        return km_seterr(KM_ENOMEM, "pose: out of memory");
    net->kind = kind;
    if (opts)
        net->opts = *opts;
    if (net->opts.min_person <= 0.0f)
        net->opts.min_person = is_blazepose(kind) ? 0.5f : 0.2f;
    const char *dir = models_dir ? models_dir : "models";
    int rc = is_blazepose(kind) ? load_blazepose(net, dir) : load_movenet(net, dir);
    if (rc == 0) {
        const km_tensor_info *in = km_model_ninputs(net->main) == 1 ? km_model_input(net->main, 0) : NULL;
        if (!in || in->ndim != 4 || in->shape[3] != 3 || in->shape[1] <= 0 || in->shape[2] <= 0 ||
            in->shape[1] > 1024 || in->shape[2] > 1024)
            rc = km_seterr(KM_EFORMAT, "%s: input is not [1,H,W,3]", kind_names[kind]);
        else {
            net->in_h = (int)in->shape[1];
            net->in_w = (int)in->shape[2];
        }
    }
    if (rc) {
        km_pose_net_free(net);
        return rc;
    }
    *out = net;
    return 0;
}

km_pose_kind km_pose_net_kind(const km_pose_net *net)
{
    return net->kind;
}

double km_pose_net_flops(const km_pose_net *net)
{
    return km_model_flops(net->main) + (net->det ? km_model_flops(net->det) : 0.0);
}

void km_pose_net_free(km_pose_net *net)
{
    if (!net)
        return;
    km_model_free(net->main);
    km_model_free(net->det);
    free(net->anchors);
    free(net);
}

/* ------------------------------------------------------------ estimator */

static float **alloc_outputs(const km_model *m, int *count)
{
    int n = km_model_noutputs(m);
    float **o = calloc((size_t)(n > 0 ? n : 1), sizeof *o);
    if (!o)
        return NULL;
    for (int i = 0; i < n; i++) {
        size_t c = km__tensor_count(km_model_output(m, i));
        o[i] = c ? malloc(c * sizeof(float)) : NULL;
        if (!o[i]) {
            for (int j = 0; j < i; j++)
                free(o[j]);
            free(o);
            return NULL;
        }
    }
    *count = n;
    return o;
}

static void free_outputs(float **o, int n)
{
    if (!o)
        return;
    for (int i = 0; i < n; i++)
        free(o[i]);
    free(o);
}

int km_pose_estimator_new(km_pose_estimator **out, const km_pose_net *net)
{
    *out = NULL;
    km_pose_estimator *e = calloc(1, sizeof *e);
    if (!e)
        return km_seterr(KM_ENOMEM, "pose: out of memory");
    e->net = net;
    int rc = km_model_clone(&e->main, net->main);
    if (rc == 0 && net->det)
        rc = km_model_clone(&e->det, net->det);
    if (rc == 0) {
        e->in = malloc(sizeof(float) * 3 * (size_t)net->in_w * (size_t)net->in_h);
        e->out = alloc_outputs(e->main, &e->main_nout);
        if (net->det) {
            e->det_in = malloc(sizeof(float) * 3 * (size_t)net->det_size * (size_t)net->det_size);
            e->det_out = alloc_outputs(e->det, &e->det_nout);
        }
        if (!e->in || !e->out || (net->det && (!e->det_in || !e->det_out)))
            rc = km_seterr(KM_ENOMEM, "pose: out of memory");
    }
    if (rc) {
        km_pose_estimator_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

void km_pose_estimator_reset(km_pose_estimator *e)
{
    e->has_roi = 0;
    e->has_crop = 0;
    e->crop_started = 0;
}

int64_t km_pose_estimator_detector_runs(const km_pose_estimator *e)
{
    return e->det_runs;
}

void km_pose_estimator_free(km_pose_estimator *e)
{
    if (!e)
        return;
    free_outputs(e->out, e->main_nout);
    free_outputs(e->det_out, e->det_nout);
    free(e->in);
    free(e->det_in);
    km_model_free(e->main);
    km_model_free(e->det);
    free(e);
}

int km_pose_estimate(km_pose_estimator *e, const km_image *img, int track,
                     km_pose_result *out)
{
    out->n = 0;
    if (!img || img->fmt != KM_PIX_RGB24 || img->width <= 0 || img->height <= 0)
        return km_seterr(KM_EINVAL, "pose: need a non-empty RGB24 image");
    if (!track)
        km_pose_estimator_reset(e);
    switch (e->net->kind) {
    case KM_POSE_BLAZEPOSE_LITE:
    case KM_POSE_BLAZEPOSE_FULL:
    case KM_POSE_BLAZEPOSE_HEAVY:
        return km__blazepose_estimate(e, img, track, out);
    case KM_POSE_MOVENET_LIGHTNING:
    case KM_POSE_MOVENET_THUNDER:
        return km__movenet_estimate(e, img, track, out);
    default:
        return km__multipose_estimate(e, img, out);
    }
}
