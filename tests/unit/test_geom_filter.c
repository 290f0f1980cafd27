/* test_geom_filter.c - temporal filters: gap filling bounds, Butterworth
 * pass/stop band and zero phase, One-Euro smoothing and NaN handling. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kinema/geom.h"

#define F 300

static void fill_sine(double *seq, double hz, double amp, double fps)
{
    for (int i = 0; i < F; i++) {
        seq[3 * i] = amp * sin(2 * M_PI * hz * i / fps);
        seq[3 * i + 1] = 1.0;
        seq[3 * i + 2] = -2.0;
    }
}

static void test_fill_gaps(void **state)
{
    (void)state;
    double s[10 * 3];
    for (int i = 0; i < 10; i++)
        s[3 * i] = s[3 * i + 1] = s[3 * i + 2] = i;
    for (int i = 2; i <= 3; i++)
        s[3 * i] = s[3 * i + 1] = s[3 * i + 2] = NAN; /* gap of 2 */
    for (int i = 5; i <= 8; i++)
        s[3 * i] = NAN; /* gap of 4 in x only */
    s[0] = NAN;        /* leading gap: never filled */
    km_fill_gaps(s, 10, 1, 3);
    assert_true(fabs(s[6] - 2) < 1e-12 && fabs(s[9 + 1] - 3) < 1e-12);
    assert_true(isnan(s[15]) && isnan(s[24]));
    assert_true(isnan(s[0]));
    km_fill_gaps(s, 10, 1, 4);
    assert_true(fabs(s[15] - 5) < 1e-12 && fabs(s[24] - 8) < 1e-12);
}

/* 6 Hz cutoff at 60 fps: 1 Hz passes (<1% change), 20 Hz is attenuated
 * more than 20x (4th order effective: (20/6)^-4 ~ 0.008), constants stay,
 * and there is no phase lag (the peak does not move). */
static void test_butterworth(void **state)
{
    (void)state;
    double s[F * 3], ref[F * 3];
    fill_sine(s, 1.0, 1.0, 60);
    memcpy(ref, s, sizeof s);
    assert_int_equal(km_butterworth_filtfilt(s, F, 1, 60, 6), 0);
    for (int i = 30; i < F - 30; i++) {
        assert_true(fabs(s[3 * i] - ref[3 * i]) < 0.01);
        assert_true(fabs(s[3 * i + 1] - 1.0) < 1e-9 && fabs(s[3 * i + 2] + 2.0) < 1e-9);
    }
    fill_sine(s, 20.0, 1.0, 60);
    assert_int_equal(km_butterworth_filtfilt(s, F, 1, 60, 6), 0);
    for (int i = 30; i < F - 30; i++)
        assert_true(fabs(s[3 * i]) < 0.05);
    assert_int_not_equal(km_butterworth_filtfilt(s, F, 1, 60, 30), 0);
    /* NaN runs split the track; short runs stay as they are */
    fill_sine(s, 1.0, 1.0, 60);
    s[3 * 100] = NAN;
    s[3 * 103] = NAN;
    double keep = s[3 * 101];
    assert_int_equal(km_butterworth_filtfilt(s, F, 1, 60, 6), 0);
    assert_true(isnan(s[300]) && isnan(s[309]) && s[303] == keep);
}

/* One-Euro: noise on a constant is reduced, a ramp is followed, NaN
 * passes through. */
static void test_oneeuro(void **state)
{
    (void)state;
    km_rng r;
    km_rng_seed(&r, 5);
    double s[F * 3];
    double raw_var = 0, filt_var = 0;
    for (int i = 0; i < F; i++) {
        s[3 * i] = 0.01 * km_rng_gauss(&r);
        s[3 * i + 1] = i * 0.01; /* ramp */
        s[3 * i + 2] = i == 50 ? NAN : 0;
        raw_var += s[3 * i] * s[3 * i];
    }
    assert_int_equal(km_oneeuro_sequence(s, F, 1, 30, 1.0, 0.5), 0);
    for (int i = 50; i < F; i++)
        filt_var += s[3 * i] * s[3 * i];
    assert_true(filt_var / (F - 50) < 0.5 * raw_var / F);
    assert_true(fabs(s[3 * (F - 1) + 1] - (F - 1) * 0.01) < 0.05);
    assert_true(isnan(s[3 * 50 + 2]));
    km_oneeuro f;
    assert_int_not_equal(km_oneeuro_init(&f, 0, 1, 0, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill_gaps),
        cmocka_unit_test(test_butterworth),
        cmocka_unit_test(test_oneeuro),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
