/*
 * selfcal.h - what the self-calibration modules share (internal to geom):
 * the observation table, camera poses, pairwise relative poses, and the
 * two heavy steps that live in their own files (essential.c: relative pose
 * of a camera pair; bundle.c: bundle adjustment).
 */
#ifndef KINEMA_GEOM_SELFCAL_H
#define KINEMA_GEOM_SELFCAL_H

#include <stddef.h>
#include <stdint.h>

#include "kinema/geom.h"

#define MIN_PAIR_POINTS 30   /* fewest consistent observations of a camera pair */

/* Observations of every (frame, keypoint) point in every camera. Owned
 * arrays (xn, ok) are freed by the self-calibration driver. */
typedef struct {
    int C, F, K;
    size_t N;               /* F * K points */
    double *xn[KM_GEOM_MAX_CAMERAS];  /* [N][2] undistorted normalized */
    double *px[KM_GEOM_MAX_CAMERAS];  /* borrowed [N][3] pixels + score */
    uint8_t *ok[KM_GEOM_MAX_CAMERAS]; /* [N] usable */
    double focal[KM_GEOM_MAX_CAMERAS];
} obsdata;

/* World -> camera rotations and translations of every camera. */
typedef struct {
    double R[KM_GEOM_MAX_CAMERAS][9];
    double t[KM_GEOM_MAX_CAMERAS][3];
} poses;

typedef struct {
    int valid, inliers;
    double R[9], t[3]; /* x_j = R x_i + t for the pair (i, j), i < j */
} pair_pose;

/* Relative pose of cameras i < j from their common observations:
 * normalized 8-point essential matrix in RANSAC (Sampson distance, local
 * refits), refit on all inliers, cheirality. out->valid is 0 when the pair
 * shares too few consistent observations. Returns 0 or KM_ENOMEM. */
int geom_pair_estimate(const obsdata *o, int i, int j, const km_selfcal_opts *opt, km_rng *rng,
                       pair_pose *out);

/* Levenberg-Marquardt with Huber loss (IRLS) over the poses of every
 * camera but `ref` and the finite points of X ([N][3], updated; points
 * seen by fewer than 2 cameras become NaN). *done accumulates the
 * iterations run. */
int geom_bundle_adjust(const obsdata *o, poses *ps, int ref, double *X, double huber, int iters,
                       int *done);

#endif
