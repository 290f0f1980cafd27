/*
 * kinema/server.h - the HTTP layer every kinema API is built on, and
 * `kinema serve`, the capture server composed from it.
 *
 * Why one layer: each API area (health, capture sessions, chunks, later
 * whole-video jobs, /predict, streams) registers its routes in its own file
 * against one km_server; they share JSON in/out, the error shape
 * {"error":{"code","message","field"}}, request ids (X-Request-Id header and
 * every log line), bounded bodies, streamed multipart uploads and bearer
 * token auth. The server sits on civetweb (IPv4 only in Debian's build).
 *
 * Ownership: km_server owns its route table and token digests; a km_req is
 * borrowed by handlers for the duration of one call. Strings returned by
 * km_req_* accessors are borrowed from the request.
 */
#ifndef KINEMA_SERVER_H
#define KINEMA_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kinema/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- SHA-256 */

typedef struct km_sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t nbuf;
} km_sha256;

void km_sha256_init(km_sha256 *s);
void km_sha256_update(km_sha256 *s, const void *data, size_t len);
void km_sha256_final(km_sha256 *s, uint8_t out[32]);
void km_sha256_buf(const void *data, size_t len, uint8_t out[32]);
/* Lower-case hex of a digest, NUL-terminated. */
void km_sha256_hex(const uint8_t d[32], char hex[65]);
/* 1 when a and b (len bytes) are equal; time independent of the contents. */
int km_ct_equal(const void *a, const void *b, size_t len);

/* ------------------------------------------------------------- ids, auth */

#define KM_ID_MAX 64
/* 1 when s matches [A-Za-z0-9_-]{1,64}. */
int km_id_ok(const char *s);
/* 1 when host is an IPv4 loopback literal (127.x.x.x) or "localhost". */
int km_host_is_loopback(const char *host);

typedef struct km_auth km_auth;
/* Load bearer tokens from `path`: one per line, either the token itself or
 * "sha256:<64 hex>" (its digest); blank lines and '#' comments are skipped.
 * Only digests are kept in memory. Free with km_auth_free. */
int km_auth_load(km_auth **out, const char *path);
/* Add one token (hashed at once). */
int km_auth_add_token(km_auth *a, const char *token);
int km_auth_count(const km_auth *a);
/* 1 when the Authorization header value (may be NULL) is "Bearer <token>"
 * for a known token. Compares digests in constant time and checks every
 * stored digest whatever matches. */
int km_auth_check(const km_auth *a, const char *authorization);
void km_auth_free(km_auth *a);

/* ------------------------------------------------------------ multipart */

/* Streaming multipart/form-data parser (RFC 7578), independent of sockets
 * so it is testable alone. Feed it the body in pieces of any size. */
typedef struct km_mp_callbacks {
    /* A part starts: name and filename (NULL when absent) are borrowed,
     * NUL-terminated. Return 0 to go on or a negative KM_E* to stop. */
    int (*part_begin)(void *user, const char *name, const char *filename);
    int (*part_data)(void *user, const void *data, size_t len);
    int (*part_end)(void *user);
} km_mp_callbacks;

typedef struct km_mp km_mp;
#define KM_MP_MAX_BOUNDARY 70
#define KM_MP_MAX_HEADER 4096   /* bytes of headers of one part */
#define KM_MP_MAX_PARTS 64

/* boundary is taken from a Content-Type value ("multipart/form-data;
 * boundary=..."); KM_EINVAL when absent or invalid. Owned: km_mp_free. */
int km_mp_create(km_mp **out, const char *content_type, const km_mp_callbacks *cb, void *user);
/* Returns 0, KM_EFORMAT (malformed, km_errmsg says how), KM_ERANGE (a
 * limit above), or what a callback returned. */
int km_mp_feed(km_mp *m, const void *data, size_t len);
/* 0 when the closing boundary was seen; KM_EFORMAT ("truncated") if not. */
int km_mp_finish(km_mp *m);
void km_mp_free(km_mp *m);

/* --------------------------------------------------------------- server */

typedef struct km_server km_server;
typedef struct km_req km_req;

/* A route handler answers the request with one km_resp_* call. */
typedef void (*km_handler)(km_req *r, void *data);

typedef struct km_server_opts {
    const char *host;        /* IPv4 literal; default "127.0.0.1" */
    int port;                /* 0 is refused: pick one */
    int threads;             /* HTTP worker threads; 0 = 8 */
    size_t max_json;         /* largest JSON/plain body; 0 = 1 MiB */
    const km_auth *auth;     /* borrowed; NULL = no auth */
    int require_auth;        /* 1: every route but those marked public needs a token */
} km_server_opts;

/* Create (not yet listening). Owned: km_server_free. */
int km_server_create(km_server **out, const km_server_opts *opts);
/* Register METHOD PATTERN. A pattern is a path whose segments may be
 * "{name}" (matches one segment of [A-Za-z0-9_.-], read with
 * km_req_param). public = 1 exempts the route from auth. At most 64
 * routes. */
int km_server_route(km_server *s, const char *method, const char *pattern, int public_route,
                    km_handler fn, void *data);
/* Start listening. KM_EIO when the port is taken (an old instance may
 * still hold it). */
int km_server_start(km_server *s);
/* Stop accepting, wait for requests in flight, free. NULL is a no-op. */
void km_server_free(km_server *s);
/* Port actually bound (after start). */
int km_server_port(const km_server *s);

/* ---- requests (borrowed inside a handler) ---- */

const char *km_req_method(const km_req *r);
const char *km_req_path(const km_req *r);
const char *km_req_id(const km_req *r);
/* Value of a {name} path segment, or NULL. */
const char *km_req_param(const km_req *r, const char *name);
/* Copy query parameter `name` (URL-decoded) into buf; 1 when present,
 * 0 when absent, KM_ERANGE when longer than cap-1. */
int km_req_query(const km_req *r, const char *name, char *buf, size_t cap);
const char *km_req_header(const km_req *r, const char *name);
/* Declared body length, -1 when not given (chunked). */
int64_t km_req_content_length(const km_req *r);
/* Read the whole body (at most max bytes, else KM_ERANGE) into a malloc'd
 * NUL-terminated buffer; caller frees. */
int km_req_body(km_req *r, size_t max, char **out, size_t *len);
/* Read a JSON object body. On failure it has already answered (400 / 413
 * / 415) and returns a negative code; on success *out is owned. */
int km_req_json(km_req *r, json_t **out);
/* Like km_req_json, but an empty body gives an empty object. */
int km_req_json_opt(km_req *r, json_t **out);
/* Read up to len bytes of the body; 0 at the end, < 0 on error. */
int64_t km_req_read(km_req *r, void *buf, size_t len);
/* Discard up to max remaining body bytes (so the client reads our answer). */
void km_req_drain(km_req *r, size_t max);

/* ---- responses: exactly one per request ---- */

/* Send `body` (stolen, may be NULL for no body) as JSON with status. */
void km_resp_json(km_req *r, int status, json_t *body);
/* Extra header for the next km_resp_* call (name and value copied). */
void km_resp_header(km_req *r, const char *name, const char *value);
/* {"error":{"code":code,"message":...,"field":field}}; field may be NULL. */
void km_resp_error(km_req *r, int status, const char *code, const char *field,
                   const char *fmt, ...) KM_PRINTF(5, 6);
/* Map a KM_E* code to a status and an error body with km_errmsg(). */
void km_resp_km_error(km_req *r, int kmcode, const char *field);
/* Stream a file with a content type (404 when it does not exist). */
void km_resp_file(km_req *r, const char *path, const char *content_type,
                  const char *download_name);
/* Answer raw bytes. */
void km_resp_bytes(km_req *r, int status, const char *content_type, const void *data,
                   size_t len);
int km_req_responded(const km_req *r);

/* ---- uploads ---- */

#define KM_FORM_MAX_FIELDS 32
#define KM_FORM_MAX_VALUE 4096

typedef struct km_form_field {
    char name[128];
    char *value;            /* owned, NUL-terminated (text fields) */
    size_t value_len;
    int is_file;
    char filename[256];     /* client's name, sanitised to a safe component */
    char path[512];         /* temp file holding the data (files) */
    int64_t size;
    char sha256[65];        /* hex digest of the data (files) */
} km_form_field;

typedef struct km_form {
    int count;
    km_form_field fields[KM_FORM_MAX_FIELDS];
} km_form;

/* Parse a multipart/form-data body: text fields into memory (each at most
 * KM_FORM_MAX_VALUE), file parts streamed into temp files under tmp_dir
 * (at most max_file bytes each, SHA-256 computed on the way). On failure
 * answers the request itself (400 malformed/truncated, 413 too large,
 * 415 not multipart), removes every temp file and returns < 0. On success
 * free with km_form_free, which deletes temp files not taken. */
int km_req_form(km_req *r, const char *tmp_dir, int64_t max_file, km_form *out);
/* Borrowed field by name, or NULL. */
const km_form_field *km_form_get(const km_form *f, const char *name);
/* Keep a file part's temp file (the caller renamed it); km_form_free will
 * not delete it. */
void km_form_take(km_form *f, const char *name);
void km_form_free(km_form *f);

/* ---- field validation: on failure these answer 400 themselves ----
 * codes: missing_field, invalid_field (wrong type / not a number),
 * invalid_id (not [A-Za-z0-9_-]{1,64}), out_of_range. They return 0, a
 * negative code after answering, or KM_ENOTFOUND (without answering) when
 * an optional field is absent. */
int km_field_id(km_req *r, json_t *obj, const char *field, int required, const char **out);
int km_field_int(km_req *r, json_t *obj, const char *field, int required, int64_t lo,
                 int64_t hi, int64_t *out);
/* Same rules for text (form fields, query values); text NULL = absent. */
int km_text_id(km_req *r, const char *field, const char *text, int required);
int km_text_int(km_req *r, const char *field, const char *text, int required, int64_t lo,
                int64_t hi, int64_t *out);

/* ---------------------------------------------------------- kinema serve */

typedef struct km_serve_opts {
    const char *host;          /* default 127.0.0.1 */
    int port;                  /* default 8000 */
    const char *data_dir;      /* default "data" */
    const char *db_url;        /* default sqlite:<data>/kinema.db */
    int workers;               /* processing workers; default 2; 0: ingest only */
    const char *token_file;    /* required when host is not loopback */
    int64_t max_upload;        /* bytes per chunk; default 512 MiB */
    int max_pending;           /* queued chunk tasks before 503; default 256 */
    int http_threads;          /* default 16 */
    const char *models_dir;    /* default "models" */
} km_serve_opts;

#define KM_SERVE_DEFAULT_MAX_UPLOAD ((int64_t)512 << 20)
#define KM_SERVE_MAX_CHUNK_NUMBER 1000000
#define KM_SERVE_MAX_CAMERAS 16

void km_serve_opts_default(km_serve_opts *o);
/* Run the capture server until SIGTERM/SIGINT (the caller must have
 * blocked both in every thread, as km_serve_block_signals does), then
 * shut down gracefully: stop accepting, let workers finish or checkpoint
 * their task, close the store. Returns 0 or a KM_E* code. */
int km_serve_run(const km_serve_opts *o);
/* Block SIGTERM, SIGINT and SIGPIPE in the calling thread (call before any
 * thread is created so all inherit the mask). */
void km_serve_block_signals(void);

#ifdef __cplusplus
}
#endif
#endif /* KINEMA_SERVER_H */
