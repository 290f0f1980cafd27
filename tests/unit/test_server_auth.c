/* test_server_auth.c - SHA-256 against FIPS 180-4 vectors, constant-time
 * compare, id and host rules, token files (plain and sha256: digests,
 * comments) and bearer checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kinema/server.h"

static void hex_of(const char *msg, size_t len, char out[65])
{
    uint8_t d[32];
    km_sha256_buf(msg, len, d);
    km_sha256_hex(d, out);
}

static void test_sha256_vectors(void **state)
{
    char h[65];
    hex_of("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(m, strlen(m), h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* One million 'a', fed in uneven pieces. */
    km_sha256 s;
    km_sha256_init(&s);
    char a[997];
    memset(a, 'a', sizeof a);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof a ? left : sizeof a;
        km_sha256_update(&s, a, n);
        left -= n;
    }
    uint8_t d[32];
    km_sha256_final(&s, d);
    km_sha256_hex(d, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_ct_equal(void **state)
{
    assert_true(km_ct_equal("abcd", "abcd", 4));
    assert_false(km_ct_equal("abcd", "abce", 4));
    assert_true(km_ct_equal("", "x", 0));
}

static void test_ids(void **state)
{
    assert_true(km_id_ok("P001"));
    assert_true(km_id_ok("a-b_C-9"));
    char s64[65], s65[66];
    memset(s64, 'a', 64);
    s64[64] = 0;
    memset(s65, 'a', 65);
    s65[65] = 0;
    assert_true(km_id_ok(s64));
    assert_false(km_id_ok(s65));
    const char *bad[] = {"", "..", "../x", "a/b", "a b", "a.b", "é", "a\\b", "%2e", NULL};
    for (int i = 0; bad[i]; i++)
        assert_false(km_id_ok(bad[i]));
    assert_false(km_id_ok(NULL));
}

static void test_hosts(void **state)
{
    assert_true(km_host_is_loopback("127.0.0.1"));
    assert_true(km_host_is_loopback("127.1.2.3"));
    assert_true(km_host_is_loopback("localhost"));
    assert_false(km_host_is_loopback("0.0.0.0"));
    assert_false(km_host_is_loopback("10.0.0.1"));
    assert_false(km_host_is_loopback(NULL));
}

static char *write_tokens(const char *text)
{
    char *path = strdup("/tmp/kinema-tokens-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_token_file(void **state)
{
    char hex[65];
    hex_of("digest-token", 12, hex);
    char text[300];
    snprintf(text, sizeof text, "# comment\n\n  plain-token  \nsha256:%s\n", hex);
    char *path = write_tokens(text);
    km_auth *a = NULL;
    assert_int_equal(km_auth_load(&a, path), 0);
    assert_int_equal(km_auth_count(a), 2);
    assert_true(km_auth_check(a, "Bearer plain-token"));
    assert_true(km_auth_check(a, "bearer digest-token"));
    assert_false(km_auth_check(a, "Bearer plain-token2"));
    assert_false(km_auth_check(a, "Bearer "));
    assert_false(km_auth_check(a, "Basic plain-token"));
    assert_false(km_auth_check(a, "plain-token"));
    assert_false(km_auth_check(a, NULL));
    assert_false(km_auth_check(NULL, "Bearer plain-token"));
    assert_int_equal(km_auth_add_token(a, "third"), 0);
    assert_true(km_auth_check(a, "Bearer third"));
    km_auth_free(a);
    unlink(path);
    free(path);
}

static void test_token_file_errors(void **state)
{
    km_auth *a = NULL;
    char *p1 = write_tokens("# only comments\n\n");
    assert_int_equal(km_auth_load(&a, p1), KM_EINVAL);
    char *p2 = write_tokens("sha256:abc\n");
    assert_int_equal(km_auth_load(&a, p2), KM_EFORMAT);
    char *p3 = write_tokens("sha256:zz00000000000000000000000000000000000000000000000000000000000000\n");
    assert_int_equal(km_auth_load(&a, p3), KM_EFORMAT);
    assert_int_not_equal(km_auth_load(&a, "/nonexistent/tokens"), 0);
    unlink(p1);
    unlink(p2);
    unlink(p3);
    free(p1);
    free(p2);
    free(p3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors), cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_ids),            cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_token_file),     cmocka_unit_test(test_token_file_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
