/*
 * log.c - structured JSON-lines logging.
 *
 * Each call writes exactly one JSON object and a newline, so logs can be
 * shipped and queried without a parser for a home-made format. Lines are
 * built completely in memory with jansson (which does all escaping) and
 * written under one process-wide mutex, so lines from different threads
 * never interleave. The request id is thread-local: a worker handling one
 * request tags all its lines without passing the id around.
 *
 * Ownership: the output stream is borrowed; nothing is retained between
 * calls except the level, the stream pointer and the per-thread id.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kinema/util.h"

#define LOG_MSG_MAX (64 * 1024) /* longer messages are truncated */
#define REQUEST_ID_MAX 64       /* including the NUL */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_stream;        /* NULL = stderr; guarded by log_lock */
static int log_level = KM_LOG_INFO; /* accessed atomically */
static _Thread_local char request_id[REQUEST_ID_MAX];

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void km_log_set_level(int level)
{
    if (level < KM_LOG_DEBUG)
        level = KM_LOG_DEBUG;
    if (level > KM_LOG_ERROR)
        level = KM_LOG_ERROR;
    __atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

int km_log_get_level(void)
{
    return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

int km_log_level_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    if (strcmp(name, "warning") == 0)
        return KM_LOG_WARN;
    return -1;
}

void km_log_set_stream(FILE *f)
{
    pthread_mutex_lock(&log_lock);
    log_stream = f;
    pthread_mutex_unlock(&log_lock);
}

void km_log_set_request_id(const char *id)
{
    if (!id) {
        request_id[0] = '\0';
        return;
    }
    size_t n = strnlen(id, REQUEST_ID_MAX - 1);
    memcpy(request_id, id, n);
    request_id[n] = '\0';
}

const char *km_log_request_id(void)
{
    return request_id;
}

/* "2026-11-22T02:40:00.123Z" into buf (>= 32 bytes). */
static void format_utc_time(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* Length of the valid UTF-8 sequence starting at s (n bytes left), or 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    unsigned cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Replace bytes that are not valid UTF-8 by '?' in place, so jansson
 * accepts any message (file names, for instance, are arbitrary bytes). */
static void utf8_sanitize(char *s)
{
    size_t n = strlen(s);
    unsigned char *u = (unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq_len(u + i, n - i);
        if (len == 0) {
            u[i] = '?';
            len = 1;
        }
        i += len;
    }
}

/* malloc'd, sanitized message text; NULL on allocation failure. */
static char *format_message(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        n = 0;
    size_t cap = (size_t)n < LOG_MSG_MAX ? (size_t)n + 1 : LOG_MSG_MAX;
    char *msg = malloc(cap);
    if (!msg)
        return NULL;
    vsnprintf(msg, cap, fmt, ap);
    utf8_sanitize(msg);
    return msg;
}

/* Adds the caller's fields after the standard keys; standard keys win. */
static void add_fields(json_t *line, const char *fields_json)
{
    if (!fields_json)
        return;
    json_error_t err;
    json_t *fields = json_loads(fields_json, 0, &err);
    if (json_is_object(fields)) {
        json_object_update_missing(line, fields);
    } else {
        char *copy = strdup(fields_json);
        if (copy) {
            utf8_sanitize(copy);
            json_object_set_new(line, "fields", json_string(copy));
            free(copy);
        }
    }
    json_decref(fields);
}

static char *build_line(int level, const char *fields_json, const char *msg)
{
    char when[40], rid[REQUEST_ID_MAX];
    format_utc_time(when, sizeof when);
    memcpy(rid, request_id, sizeof rid);
    utf8_sanitize(rid); /* truncation may have split a character */
    json_t *line = json_object();
    if (!line)
        return NULL;
    json_object_set_new(line, "time", json_string(when));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "request_id", json_string(rid));
    json_object_set_new(line, "msg", json_string(msg));
    add_fields(line, fields_json);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    return text;
}

static void write_line(const char *text)
{
    pthread_mutex_lock(&log_lock);
    FILE *out = log_stream ? log_stream : stderr;
    fputs(text, out);
    fputc('\n', out);
    fflush(out);
    pthread_mutex_unlock(&log_lock);
}

static void log_v(int level, const char *fields_json, const char *fmt, va_list ap)
{
    if (level < KM_LOG_DEBUG)
        level = KM_LOG_DEBUG;
    if (level > KM_LOG_ERROR)
        level = KM_LOG_ERROR;
    if (level < km_log_get_level())
        return;
    char *msg = format_message(fmt, ap);
    char *text = msg ? build_line(level, fields_json, msg) : NULL;
    if (text)
        write_line(text);
    else
        write_line("{\"level\":\"error\",\"msg\":\"log: out of memory\"}");
    free(text);
    free(msg);
}

void km_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_v(level, NULL, fmt, ap);
    va_end(ap);
}

void km_log_fields(int level, const char *fields_json, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_v(level, fields_json, fmt, ap);
    va_end(ap);
}
