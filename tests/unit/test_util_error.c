/* test_util_error.c - error codes and the thread-local message. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "kinema/util.h"

static void test_seterr_returns_code_and_formats(void **state)
{
    (void)state;
    km_clearerr();
    assert_string_equal(km_errmsg(), "");
    assert_int_equal(km_seterr(KM_EINVAL, "field '%s' must be %d", "fps", 30), KM_EINVAL);
    assert_string_equal(km_errmsg(), "field 'fps' must be 30");
    km_clearerr();
    assert_string_equal(km_errmsg(), "");
}

static void test_long_message_is_truncated(void **state)
{
    (void)state;
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    km_seterr(KM_EIO, "%s", big);
    size_t n = strlen(km_errmsg());
    assert_true(n > 100 && n < sizeof big);
}

static void test_strerror_names_every_code(void **state)
{
    (void)state;
    for (int c = KM_OK; c >= KM_EINTERNAL; c--) {
        assert_non_null(km_strerror(c));
        assert_string_not_equal(km_strerror(c), "unknown error");
    }
    assert_string_equal(km_strerror(-999), "unknown error");
}

static void *other_thread(void *arg)
{
    /* a fresh thread sees no message, and its own does not leak out */
    int *empty = arg;
    *empty = km_errmsg()[0] == '\0';
    km_seterr(KM_EIO, "from the other thread");
    return NULL;
}

static void test_message_is_thread_local(void **state)
{
    (void)state;
    km_seterr(KM_EINVAL, "main thread");
    int empty = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_thread, &empty), 0);
    pthread_join(t, NULL);
    assert_true(empty);
    assert_string_equal(km_errmsg(), "main thread");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seterr_returns_code_and_formats),
        cmocka_unit_test(test_long_message_is_truncated),
        cmocka_unit_test(test_strerror_names_every_code),
        cmocka_unit_test(test_message_is_thread_local),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
