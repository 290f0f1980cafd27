/*
 * filter.c - temporal tools for 3D keypoint sequences: gap filling,
 * zero-phase Butterworth low-pass (offline) and the One-Euro filter
 * (live).
 *
 * Why these three: triangulation leaves short gaps and frame-to-frame
 * jitter; biomechanics exports want a zero-phase low-pass (the usual
 * 4th-order effective Butterworth of gait labs), live viewers want a
 * causal filter with little lag. Each works on one coordinate track
 * (stride 3 * nkp) and treats NaN as missing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/geom.h"

#define TRACK(seq, nkp, f, k, d) (seq)[((size_t)(f) * (nkp) + (k)) * 3 + (d)]

void km_fill_gaps(double *seq, int nframes, int nkp, int max_gap)
{
    if (max_gap <= 0)
        return;
    for (int k = 0; k < nkp; k++)
        for (int d = 0; d < 3; d++) {
            int last = -1;
            for (int f = 0; f < nframes; f++) {
                if (isnan(TRACK(seq, nkp, f, k, d)))
                    continue;
                int gap = f - last - 1;
                if (last >= 0 && gap > 0 && gap <= max_gap) {
                    double a = TRACK(seq, nkp, last, k, d), b = TRACK(seq, nkp, f, k, d);
                    for (int g = last + 1; g < f; g++)
                        TRACK(seq, nkp, g, k, d) = a + (b - a) * (g - last) / (f - last);
                }
                last = f;
            }
        }
}

/* Second-order Butterworth low-pass by the bilinear transform with
 * pre-warping: b[3], a[3] (a[0] = 1). */
static void butter2(double fps, double fc, double b[3], double a[3])
{
    double w = tan(M_PI * fc / fps);
    double w2 = w * w, r2 = sqrt(2.0);
    double n = 1 + r2 * w + w2;
    b[0] = w2 / n, b[1] = 2 * w2 / n, b[2] = w2 / n;
    a[0] = 1, a[1] = 2 * (w2 - 1) / n, a[2] = (1 - r2 * w + w2) / n;
}

/* Direct form II transposed over x[0..n), state started at steady state
 * for the first sample (like scipy's lfilter_zi scaled by x[0]). */
static void lfilter(const double b[3], const double a[3], double *x, int n)
{
    /* steady state for a constant input x[0] (unit DC gain) */
    double zi2 = b[2] - a[2];
    double zi1 = b[1] - a[1] + zi2;
    double z1 = zi1 * x[0], z2 = zi2 * x[0];
    for (int i = 0; i < n; i++) {
        double xi = x[i];
        double y = b[0] * xi + z1;
        z1 = b[1] * xi - a[1] * y + z2;
        z2 = b[2] * xi - a[2] * y;
        x[i] = y;
    }
}

/* filtfilt on one run with odd reflection padding of `pad` samples. */
static void filtfilt_run(const double b[3], const double a[3], double *buf, const double *x,
                         int n, int pad)
{
    int m = n + 2 * pad;
    for (int i = 0; i < pad; i++) {
        buf[i] = 2 * x[0] - x[pad - i];
        buf[pad + n + i] = 2 * x[n - 1] - x[n - 2 - i];
    }
    memcpy(buf + pad, x, (size_t)n * sizeof *x);
    lfilter(b, a, buf, m);
    for (int i = 0; i < m / 2; i++) {
        double t = buf[i];
        buf[i] = buf[m - 1 - i];
        buf[m - 1 - i] = t;
    }
    lfilter(b, a, buf, m);
    for (int i = 0; i < m / 2; i++) {
        double t = buf[i];
        buf[i] = buf[m - 1 - i];
        buf[m - 1 - i] = t;
    }
}

int km_butterworth_filtfilt(double *seq, int nframes, int nkp, double fps, double cutoff_hz)
{
    if (!(fps > 0) || !(cutoff_hz > 0) || !(cutoff_hz < fps / 2))
        return km_seterr(KM_EINVAL, "butterworth: cutoff %.3g Hz must be in (0, fps/2 = %.3g)",
                         cutoff_hz, fps / 2);
    if (nframes < 1)
        return 0;
    double b[3], a[3];
    butter2(fps, cutoff_hz, b, a);
    const int pad = 9; /* 3 x the coefficient count, scipy.signal.filtfilt's default */
    double *x = malloc((size_t)nframes * sizeof *x);
    double *buf = malloc(((size_t)nframes + 2 * pad) * sizeof *buf);
    if (!x || !buf) {
        free(x);
        free(buf);
        return km_seterr(KM_ENOMEM, "butterworth: out of memory");
    }
    for (int k = 0; k < nkp; k++)
        for (int d = 0; d < 3; d++) {
            int f = 0;
            while (f < nframes) {
                while (f < nframes && isnan(TRACK(seq, nkp, f, k, d)))
                    f++;
                int start = f;
                while (f < nframes && !isnan(TRACK(seq, nkp, f, k, d)))
                    f++;
                int n = f - start;
                if (n <= pad)
                    continue;
                for (int i = 0; i < n; i++)
                    x[i] = TRACK(seq, nkp, start + i, k, d);
                filtfilt_run(b, a, buf, x, n, pad);
                for (int i = 0; i < n; i++)
                    TRACK(seq, nkp, start + i, k, d) = buf[pad + i];
            }
        }
    free(x);
    free(buf);
    return 0;
}

/* ------------------------------------------------------------- One-Euro */

int km_oneeuro_init(km_oneeuro *f, int n, double min_cutoff, double beta, double d_cutoff)
{
    memset(f, 0, sizeof *f);
    if (n < 1 || !(min_cutoff > 0) || !(d_cutoff > 0) || !(beta >= 0))
        return km_seterr(KM_EINVAL, "one-euro: need n >= 1, cutoffs > 0, beta >= 0");
    f->x = calloc((size_t)n, sizeof *f->x);
    f->dx = calloc((size_t)n, sizeof *f->dx);
    if (!f->x || !f->dx) {
        km_oneeuro_free(f);
        return km_seterr(KM_ENOMEM, "one-euro: out of memory");
    }
    for (int i = 0; i < n; i++)
        f->x[i] = NAN;
    f->n = n;
    f->min_cutoff = min_cutoff, f->beta = beta, f->d_cutoff = d_cutoff;
    return 0;
}

static double alpha(double cutoff, double dt)
{
    double tau = 1.0 / (2 * M_PI * cutoff);
    return 1.0 / (1.0 + tau / dt);
}

void km_oneeuro_update(km_oneeuro *f, double *v, double dt)
{
    if (!(dt > 0))
        dt = 1e-3;
    double ad = alpha(f->d_cutoff, dt);
    for (int i = 0; i < f->n; i++) {
        if (isnan(v[i]))
            continue;
        if (isnan(f->x[i])) {
            f->x[i] = v[i];
            f->dx[i] = 0;
            continue;
        }
        double dx = (v[i] - f->x[i]) / dt;
        f->dx[i] += ad * (dx - f->dx[i]);
        double cutoff = f->min_cutoff + f->beta * fabs(f->dx[i]);
        f->x[i] += alpha(cutoff, dt) * (v[i] - f->x[i]);
        v[i] = f->x[i];
    }
}

void km_oneeuro_free(km_oneeuro *f)
{
    if (!f)
        return;
    free(f->x);
    free(f->dx);
    f->x = f->dx = NULL;
}

int km_oneeuro_sequence(double *seq, int nframes, int nkp, double fps, double min_cutoff,
                        double beta)
{
    km_oneeuro f;
    int rc = km_oneeuro_init(&f, nkp * 3, min_cutoff, beta, 1.0);
    if (rc)
        return rc;
    for (int i = 0; i < nframes; i++)
        km_oneeuro_update(&f, seq + (size_t)i * nkp * 3, 1.0 / fps);
    km_oneeuro_free(&f);
    return 0;
}
