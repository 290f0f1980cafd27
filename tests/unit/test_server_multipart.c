/* test_server_multipart.c - the streaming multipart/form-data parser:
 * fields and file parts whatever the piece sizes (down to one byte),
 * boundaries from Content-Type, truncated bodies, and every limit
 * (header size, part count, boundary length). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kinema/server.h"

typedef struct collect {
    int parts;
    char names[8][64];
    char files[8][64];
    char data[8][256];
    size_t len[8];
    int ended;
} collect;

static int on_begin(void *u, const char *name, const char *filename)
{
    collect *c = u;
    if (c->parts >= 8)
        return KM_ERANGE;
    snprintf(c->names[c->parts], 64, "%s", name);
    snprintf(c->files[c->parts], 64, "%s", filename ? filename : "-");
    c->parts++;
    return 0;
}

static int on_data(void *u, const void *d, size_t n)
{
    collect *c = u;
    int i = c->parts - 1;
    if (c->len[i] + n >= sizeof c->data[i])
        return KM_ERANGE;
    memcpy(c->data[i] + c->len[i], d, n);
    c->len[i] += n;
    return 0;
}

static int on_end(void *u)
{
    ((collect *)u)->ended++;
    return 0;
}

static const km_mp_callbacks CB = {on_begin, on_data, on_end};
#define CT "multipart/form-data; boundary=BOUND"

static const char BODY[] =
    "preamble to ignore\r\n"
    "--BOUND\r\n"
    "Content-Disposition: form-data; name=\"camera_id\"\r\n\r\n"
    "2\r\n"
    "--BOUND\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"../a b.mp4\"\r\n"
    "Content-Type: video/mp4\r\n\r\n"
    "\r\n-BOUND\r\n--BOUN binary\r\n--BOUN"
    "\r\n--BOUND--\r\nepilogue";

/* Feed BODY in pieces of `step` bytes. */
static int parse_in_steps(const char *ct, const char *body, size_t len, size_t step,
                          collect *c)
{
    km_mp *m;
    memset(c, 0, sizeof *c);
    int rc = km_mp_create(&m, ct, &CB, c);
    if (rc)
        return rc;
    for (size_t off = 0; !rc && off < len; off += step)
        rc = km_mp_feed(m, body + off, len - off < step ? len - off : step);
    if (!rc)
        rc = km_mp_finish(m);
    km_mp_free(m);
    return rc;
}

static void test_fields_any_split(void **state)
{
    size_t steps[] = {1, 2, 3, 7, 13, 64, 4096};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        collect c;
        assert_int_equal(parse_in_steps(CT, BODY, sizeof BODY - 1, steps[i], &c), 0);
        assert_int_equal(c.parts, 2);
        assert_int_equal(c.ended, 2);
        assert_string_equal(c.names[0], "camera_id");
        assert_string_equal(c.files[0], "-");
        assert_int_equal(c.len[0], 1);
        assert_memory_equal(c.data[0], "2", 1);
        assert_string_equal(c.names[1], "file");
        assert_string_equal(c.files[1], "../a b.mp4");
        const char want[] = "\r\n-BOUND\r\n--BOUN binary\r\n--BOUN";
        assert_int_equal(c.len[1], sizeof want - 1);
        assert_memory_equal(c.data[1], want, sizeof want - 1);
    }
}

static void test_truncated(void **state)
{
    collect c;
    size_t cut[] = {10, 40, 120, sizeof BODY - 20};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(parse_in_steps(CT, BODY, cut[i], 5, &c), KM_EFORMAT);
    assert_int_equal(parse_in_steps(CT, "", 0, 1, &c), KM_EFORMAT);
}

static void test_boundary_parsing(void **state)
{
    km_mp *m;
    collect c;
    assert_int_equal(km_mp_create(&m, "application/json", &CB, &c), KM_EINVAL);
    assert_int_equal(km_mp_create(&m, "multipart/form-data", &CB, &c), KM_EINVAL);
    assert_int_equal(km_mp_create(&m, NULL, &CB, &c), KM_EINVAL);
    char longb[200] = "multipart/form-data; boundary=";
    memset(longb + strlen(longb), 'x', 100);
    assert_int_equal(km_mp_create(&m, longb, &CB, &c), KM_EINVAL);
    assert_int_equal(parse_in_steps("multipart/form-data; boundary=\"BOUND\"; charset=x", BODY,
                                    sizeof BODY - 1, 9, &c), 0);
    assert_int_equal(c.parts, 2);
}

static void test_header_limit(void **state)
{
    size_t n = KM_MP_MAX_HEADER + 200;
    char *body = malloc(n + 100);
    int k = sprintf(body, "--BOUND\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Pad: ");
    memset(body + k, 'p', n);
    strcpy(body + k + n, "\r\n\r\nv\r\n--BOUND--\r\n");
    collect c;
    assert_int_equal(parse_in_steps(CT, body, strlen(body), 100, &c), KM_ERANGE);
    free(body);
}

static void test_part_limit(void **state)
{
    size_t cap = (KM_MP_MAX_PARTS + 2) * 80 + 32;
    char *body = malloc(cap);
    size_t off = 0;
    for (int i = 0; i < KM_MP_MAX_PARTS + 1; i++)
        off += (size_t)snprintf(body + off, cap - off,
                                "--BOUND\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nv\r\n", i);
    off += (size_t)snprintf(body + off, cap - off, "--BOUND--\r\n");
    km_mp *m;
    int count = 0;
    km_mp_callbacks cb = {NULL, NULL, NULL};
    assert_int_equal(km_mp_create(&m, CT, &cb, &count), 0);
    assert_int_equal(km_mp_feed(m, body, off), KM_ERANGE);
    km_mp_free(m);
    free(body);
}

static void test_malformed(void **state)
{
    collect c;
    const char *no_name = "--BOUND\r\nContent-Type: text/plain\r\n\r\nv\r\n--BOUND--\r\n";
    assert_int_equal(parse_in_steps(CT, no_name, strlen(no_name), 4, &c), KM_EFORMAT);
    const char *bad_delim = "--BOUNDjunk\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--BOUND--\r\n";
    assert_int_equal(parse_in_steps(CT, bad_delim, strlen(bad_delim), 4, &c), KM_EFORMAT);
    const char *callback_stop = "--BOUND\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n";
    char big[600];
    memset(big, 'z', sizeof big);
    km_mp *m;
    memset(&c, 0, sizeof c);
    assert_int_equal(km_mp_create(&m, CT, &CB, &c), 0);
    assert_int_equal(km_mp_feed(m, callback_stop, strlen(callback_stop)), 0);
    /* on_data refuses more than 256 bytes: its code comes back. */
    int rc = km_mp_feed(m, big, sizeof big);
    if (rc == 0)
        rc = km_mp_feed(m, "\r\n--BOUND--\r\n", 13);
    assert_int_equal(rc, KM_ERANGE);
    km_mp_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_any_split), cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_boundary_parsing), cmocka_unit_test(test_header_limit),
        cmocka_unit_test(test_part_limit),       cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
