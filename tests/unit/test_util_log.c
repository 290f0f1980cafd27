/*
 * test_util_log.c - JSON-lines logging: every line parses, carries the
 * standard keys, escapes hostile text, merges fields, filters by level and
 * never interleaves across threads.
 */
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kinema/util.h"

/* Captures log output in a temp file for the duration of one test. */
static FILE *capture;

static int setup(void **state)
{
    (void)state;
    capture = tmpfile();
    if (!capture)
        return -1;
    km_log_set_stream(capture);
    km_log_set_level(KM_LOG_DEBUG);
    km_log_set_request_id(NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    km_log_set_stream(NULL);
    km_log_set_level(KM_LOG_INFO);
    fclose(capture);
    return 0;
}

/* Parses every captured line; returns a JSON array of the objects. */
static json_t *captured_lines(void)
{
    fflush(capture);
    rewind(capture);
    json_t *all = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, capture)) > 0) {
        assert_true(line[n - 1] == '\n');
        line[n - 1] = '\0';
        json_error_t err;
        json_t *obj = json_loads(line, 0, &err);
        if (!obj)
            fail_msg("line does not parse as JSON: %s (%s)", line, err.text);
        assert_true(json_is_object(obj));
        json_array_append_new(all, obj);
    }
    free(line);
    return all;
}

static const char *str_field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("missing string field '%s'", key);
    return json_string_value(v);
}

/* "2026-11-22T02:40:00.123Z" */
static void assert_iso_time(const char *t)
{
    assert_int_equal(strlen(t), 24);
    const char *pattern = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (int i = 0; i < 24; i++) {
        if (pattern[i] == 'd')
            assert_true(t[i] >= '0' && t[i] <= '9');
        else
            assert_int_equal(t[i], pattern[i]);
    }
}

static void test_line_has_standard_keys(void **state)
{
    (void)state;
    km_log_set_request_id("req-42");
    km_log(KM_LOG_INFO, "decoded %d frames", 12);
    json_t *lines = captured_lines();
    assert_int_equal(json_array_size(lines), 1);
    json_t *l = json_array_get(lines, 0);
    assert_string_equal(str_field(l, "level"), "info");
    assert_string_equal(str_field(l, "msg"), "decoded 12 frames");
    assert_string_equal(str_field(l, "request_id"), "req-42");
    assert_iso_time(str_field(l, "time"));
    json_decref(lines);
}

static void test_hostile_text_is_escaped(void **state)
{
    (void)state;
    const char *nasty = "quote\" backslash\\ newline\n tab\t ctrl\x01 brace} unicode \xc3\xa9";
    km_log(KM_LOG_WARN, "%s", nasty);
    km_log(KM_LOG_ERROR, "bad utf8 \xff\xfe end");
    km_log_set_request_id("id\"with\nquote");
    km_log(KM_LOG_INFO, "x");
    json_t *lines = captured_lines();
    assert_int_equal(json_array_size(lines), 3);
    assert_string_equal(str_field(json_array_get(lines, 0), "msg"), nasty);
    assert_string_equal(str_field(json_array_get(lines, 0), "level"), "warn");
    const char *bad = str_field(json_array_get(lines, 1), "msg");
    assert_non_null(strstr(bad, "bad utf8 "));
    assert_non_null(strstr(bad, " end"));
    assert_string_equal(str_field(json_array_get(lines, 2), "request_id"), "id\"with\nquote");
    json_decref(lines);
}

static void test_fields_are_merged(void **state)
{
    (void)state;
    km_log_fields(KM_LOG_INFO, "{\"file\":\"a.mp4\",\"frames\":3,\"msg\":\"ignored\"}", "opened");
    km_log_fields(KM_LOG_INFO, "not json {", "bad fields");
    km_log_fields(KM_LOG_INFO, "[1,2]", "array fields");
    km_log_fields(KM_LOG_INFO, NULL, "no fields");
    json_t *lines = captured_lines();
    assert_int_equal(json_array_size(lines), 4);
    json_t *l0 = json_array_get(lines, 0);
    assert_string_equal(str_field(l0, "file"), "a.mp4");
    assert_int_equal(json_integer_value(json_object_get(l0, "frames")), 3);
    assert_string_equal(str_field(l0, "msg"), "opened"); /* standard keys win */
    assert_string_equal(str_field(json_array_get(lines, 1), "fields"), "not json {");
    assert_string_equal(str_field(json_array_get(lines, 2), "fields"), "[1,2]");
    assert_int_equal(json_object_size(json_array_get(lines, 3)), 4);
    json_decref(lines);
}

static void test_level_filtering(void **state)
{
    (void)state;
    km_log_set_level(KM_LOG_WARN);
    assert_int_equal(km_log_get_level(), KM_LOG_WARN);
    km_log(KM_LOG_DEBUG, "hidden");
    km_log(KM_LOG_INFO, "hidden");
    km_log(KM_LOG_WARN, "shown");
    km_log(KM_LOG_ERROR, "shown");
    json_t *lines = captured_lines();
    assert_int_equal(json_array_size(lines), 2);
    assert_string_equal(str_field(json_array_get(lines, 1), "level"), "error");
    json_decref(lines);
    assert_int_equal(km_log_level_parse("debug"), KM_LOG_DEBUG);
    assert_int_equal(km_log_level_parse("info"), KM_LOG_INFO);
    assert_int_equal(km_log_level_parse("warn"), KM_LOG_WARN);
    assert_int_equal(km_log_level_parse("error"), KM_LOG_ERROR);
    assert_int_equal(km_log_level_parse("loud"), -1);
    assert_int_equal(km_log_level_parse(NULL), -1);
}

static void test_request_id_truncated_and_cleared(void **state)
{
    (void)state;
    char long_id[200];
    memset(long_id, 'r', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    km_log_set_request_id(long_id);
    assert_int_equal(strlen(km_log_request_id()), 63);
    km_log_set_request_id(NULL);
    assert_string_equal(km_log_request_id(), "");
}

static void test_long_message(void **state)
{
    (void)state;
    size_t n = 10000;
    char *msg = malloc(n + 1);
    memset(msg, 'm', n);
    msg[n] = '\0';
    km_log(KM_LOG_INFO, "%s", msg);
    json_t *lines = captured_lines();
    assert_string_equal(str_field(json_array_get(lines, 0), "msg"), msg);
    json_decref(lines);
    free(msg);
}

#define LOG_THREADS 4
#define LOG_PER_THREAD 500

static void *log_many(void *arg)
{
    int id = (int)(intptr_t)arg;
    char rid[16];
    snprintf(rid, sizeof rid, "t%d", id);
    km_log_set_request_id(rid); /* per thread */
    for (int i = 0; i < LOG_PER_THREAD; i++)
        km_log_fields(KM_LOG_INFO, "{\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
                      "thread %d line %d", id, i);
    return NULL;
}

static void test_threads_never_interleave(void **state)
{
    (void)state;
    pthread_t t[LOG_THREADS];
    for (int i = 0; i < LOG_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, log_many, (void *)(intptr_t)i), 0);
    for (int i = 0; i < LOG_THREADS; i++)
        pthread_join(t[i], NULL);
    json_t *lines = captured_lines(); /* fails on any torn line */
    assert_int_equal(json_array_size(lines), LOG_THREADS * LOG_PER_THREAD);
    int next[LOG_THREADS] = { 0 };
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l) {
        int id, n;
        assert_int_equal(sscanf(str_field(l, "msg"), "thread %d line %d", &id, &n), 2);
        assert_true(id >= 0 && id < LOG_THREADS);
        assert_int_equal(n, next[id]); /* each thread's lines in order */
        next[id]++;
        char rid[16];
        snprintf(rid, sizeof rid, "t%d", id);
        assert_string_equal(str_field(l, "request_id"), rid);
    }
    json_decref(lines);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_line_has_standard_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_text_is_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fields_are_merged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_filtering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_id_truncated_and_cleared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_never_interleave, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
