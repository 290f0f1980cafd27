/*
 * test_util_progress.c - the progress bar draws on a terminal (a
 * pseudo-terminal here) and prints nothing to files or pipes.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <termios.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kinema/util.h"

static void run_bar(FILE *out, int64_t total)
{
    km_progress *p = km_progress_start("decode", total, out);
    assert_non_null(p);
    for (int64_t i = 0; i <= 50; i++)
        km_progress_update(p, i);
    km_progress_finish(p);
}

static void test_regular_file_gets_nothing(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    run_bar(f, 50);
    run_bar(f, 0);
    fflush(f);
    assert_int_equal(ftell(f), 0);
    fseek(f, 0, SEEK_END);
    assert_int_equal(ftell(f), 0);
    fclose(f);
}

static void test_pipe_gets_nothing(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    FILE *w = fdopen(fds[1], "w");
    run_bar(w, 50);
    fclose(w);
    char buf[64];
    assert_int_equal(read(fds[0], buf, sizeof buf), 0); /* EOF, no bytes */
    close(fds[0]);
}

/* Everything readable from the pty master right now. */
static size_t drain_master(int master, char *buf, size_t cap)
{
    size_t n = 0;
    struct pollfd pfd = { master, POLLIN, 0 };
    while (n + 1 < cap && poll(&pfd, 1, 200) > 0 && (pfd.revents & POLLIN)) {
        ssize_t got = read(master, buf + n, cap - 1 - n);
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    buf[n] = '\0';
    return n;
}

static int open_pty(int *master, FILE **slave)
{
    *master = posix_openpt(O_RDWR | O_NOCTTY);
    if (*master < 0 || grantpt(*master) != 0 || unlockpt(*master) != 0)
        return -1;
    int s = open(ptsname(*master), O_RDWR | O_NOCTTY);
    if (s < 0)
        return -1;
    *slave = fdopen(s, "w");
    return *slave ? 0 : -1;
}

static void test_terminal_gets_a_bar(void **state)
{
    (void)state;
    int master;
    FILE *slave;
    if (open_pty(&master, &slave) != 0)
        skip();
    run_bar(slave, 50);
    char buf[8192];
    drain_master(master, buf, sizeof buf);
    assert_non_null(strstr(buf, "decode ["));
    assert_non_null(strstr(buf, "100%"));
    assert_non_null(strstr(buf, "fps"));
    assert_non_null(strstr(buf, "ETA"));
    assert_non_null(strstr(buf, "\r"));
    assert_non_null(strchr(buf, '\n')); /* finish ends the line */
    /* the full bar at the end */
    assert_non_null(strstr(buf, "[##############################]"));

    run_bar(slave, 0); /* unknown total: count and rate, no percentage */
    drain_master(master, buf, sizeof buf);
    assert_non_null(strstr(buf, "decode 50"));
    assert_non_null(strstr(buf, "fps"));
    assert_null(strstr(buf, "%"));
    fclose(slave);
    close(master);
    km_progress_finish(NULL);
}

typedef struct {
    int master;
    size_t carriage_returns;
} drainer;

/* Reads the pty master until the slave side closes (read fails). */
static void *drain_thread(void *arg)
{
    drainer *d = arg;
    char buf[4096];
    ssize_t got;
    while ((got = read(d->master, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < got; i++)
            d->carriage_returns += buf[i] == '\r';
    return NULL;
}

static void test_redraws_are_throttled(void **state)
{
    (void)state;
    int master;
    FILE *slave;
    if (open_pty(&master, &slave) != 0)
        skip();
    /* raw mode: no "\n" -> "\r\n" translation, so '\r' counts redraws */
    struct termios tio;
    tcgetattr(fileno(slave), &tio);
    cfmakeraw(&tio);
    tcsetattr(fileno(slave), TCSANOW, &tio);
    drainer d = { master, 0 };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, drain_thread, &d), 0);
    uint64_t t0 = km_now_ns();
    km_progress *p = km_progress_start("busy", 1000000, slave);
    for (int64_t i = 1; i <= 1000000; i++)
        km_progress_update(p, i);
    uint64_t elapsed = km_now_ns() - t0;
    km_progress_finish(p);
    fclose(slave); /* the drainer sees EOF/EIO and stops */
    pthread_join(t, NULL);
    close(master);
    /* at most one draw per 100 ms window, plus the first and the final */
    size_t bound = 2 + (size_t)(elapsed / 100000000u) + 1;
    assert_true(d.carriage_returns >= 1); /* the first draw, read long before close */
    if (d.carriage_returns > bound)
        fail_msg("%zu redraws in %.3f s", d.carriage_returns, (double)elapsed / 1e9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regular_file_gets_nothing),
        cmocka_unit_test(test_pipe_gets_nothing),
        cmocka_unit_test(test_terminal_gets_a_bar),
        cmocka_unit_test(test_redraws_are_throttled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
