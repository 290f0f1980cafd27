/*
 * pose_priv.h - what the pose pipelines share inside src/pose: the loaded
 * network bundle, the per-thread estimator and the per-model entry points.
 */
#ifndef KINEMA_POSE_PRIV_H
#define KINEMA_POSE_PRIV_H

#include "kinema/nn.h"
#include "kinema/pose.h"

#define POSE_MAX_OUT 6

/* Read-only after load; shared by every estimator of this model. */
struct km_pose_net {
    km_pose_kind kind;
    km_pose_opts opts;
    km_model *det;            /* BlazePose person detector (else NULL) */
    km_model *main;           /* landmark network or MoveNet */
    int det_size;             /* detector input side (224) */
    int in_w, in_h;           /* main input size */
    int nout;                 /* outputs used from main */
    int out_idx[POSE_MAX_OUT];/* main output index of each used output */
    int det_idx[2];           /* detector outputs: regressors, scores */
    int grid_h, grid_w;       /* MoveNet head grid */
    km_anchor *anchors;       /* BlazePose detector anchors */
    int nanchors;
};

/* One executor and the video state; one thread at a time. */
struct km_pose_estimator {
    const km_pose_net *net;
    km_model *det, *main;                  /* clones (own executors) */
    float *det_in, *in;                    /* input tensors */
    float **det_out, **out;                /* every output of the models */
    int det_nout, main_nout;
    int has_roi;                           /* BlazePose tracking ROI */
    km_roi roi;
    int has_crop;                          /* MoveNet crop region */
    int crop_started;                      /* MoveNet: a video frame was seen */
    float crop[4];                         /* ymin, xmin, ymax, xmax (0..1) */
    int64_t det_runs;
};

int km__blazepose_estimate(km_pose_estimator *e, const km_image *img, int track,
                           km_pose_result *out);
int km__movenet_estimate(km_pose_estimator *e, const km_image *img, int track,
                         km_pose_result *out);
int km__multipose_estimate(km_pose_estimator *e, const km_image *img,
                           km_pose_result *out);

/* Element count of a tensor info (0 on nonsense). */
size_t km__tensor_count(const km_tensor_info *t);

#endif
