/*
 * clock.c - monotonic and wall clocks, sleeping.
 *
 * Durations (timeouts, latencies, progress rates) use CLOCK_MONOTONIC so a
 * wall-clock jump (NTP, manual change) never makes them negative; only
 * timestamps meant for humans or files use the wall clock.
 */
#include <errno.h>
#include <time.h>

#include "kinema/util.h"

uint64_t km_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double km_now_s(void)
{
    return (double)km_now_ns() / 1e9;
}

double km_wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps the whole duration even when a signal interrupts nanosleep. */
void km_sleep_ns(uint64_t ns)
{
    struct timespec req = { .tv_sec = (time_t)(ns / 1000000000u),
                            .tv_nsec = (long)(ns % 1000000000u) };
    struct timespec rem;
    while (nanosleep(&req, &rem) != 0 && errno == EINTR)
        req = rem;
}
