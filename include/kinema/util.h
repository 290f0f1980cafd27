/*
 * kinema/util.h - the foundation every other layer builds on.
 *
 * Errors, logging, clocks, threads (pool, channel), latency histograms,
 * progress bars, safe file system helpers and NumPy .npy/.npz I/O.
 *
 * Conventions for the whole library:
 *   - Fallible functions return int: 0 (KM_OK) on success, a negative KM_E*
 *     code on failure. The thread-local message from km_errmsg() then says
 *     what failed and where (file name, field, rule).
 *   - Ownership is stated on each function: "owned" results are freed by the
 *     caller with the named function; "borrowed" pointers stay owned by the
 *     callee and must not outlive it.
 */
#ifndef KINEMA_UTIL_H
#define KINEMA_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KM_VERSION "0.1.0"

#if defined(__GNUC__)
#define KM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KM_PRINTF(a, b)
#endif

/* ------------------------------------------------------------------ errors */

enum {
    KM_OK = 0,
    KM_EINVAL = -1,       /* bad argument or input value */
    KM_ENOMEM = -2,       /* allocation failed or size limit exceeded */
    KM_EIO = -3,          /* operating system I/O error */
    KM_EFORMAT = -4,      /* malformed file or stream */
    KM_ENOTFOUND = -5,    /* file, key or resource does not exist */
    KM_EUNSUPPORTED = -6, /* valid but not supported (codec, op, dtype) */
    KM_ERANGE = -7,       /* value out of the allowed range */
    KM_EEOF = -8,         /* end of stream (not an error for readers) */
    KM_EAGAIN = -9,       /* try again (queue full, timeout) */
    KM_ECLOSED = -10,     /* channel or resource closed */
    KM_EEXIST = -11,      /* already exists */
    KM_ECANCELED = -12,   /* operation cancelled */
    KM_EINTERNAL = -13,   /* bug or unexpected library failure */
};

/* Last error message of the calling thread ("" if none). Borrowed. */
const char *km_errmsg(void);
/* Set the thread's error message from a printf format; returns `code` so a
 * caller can write `return km_seterr(KM_EINVAL, "...", ...)`. */
int km_seterr(int code, const char *fmt, ...) KM_PRINTF(2, 3);
/* Static name of a code, e.g. "EINVAL" -> "invalid argument". */
const char *km_strerror(int code);
void km_clearerr(void);

/* ----------------------------------------------------------------- logging */

enum { KM_LOG_DEBUG = 0, KM_LOG_INFO = 1, KM_LOG_WARN = 2, KM_LOG_ERROR = 3 };

/* One JSON object per line on stderr (or the stream set below):
 * {"time":"2026-11-22T02:40:00.123Z","level":"info","request_id":"..","msg":"..",<fields>}
 * Thread-safe; lines from different threads never interleave. */
void km_log(int level, const char *fmt, ...) KM_PRINTF(2, 3);
/* Like km_log with extra fields given as a JSON object text
 * (e.g. "{\"file\":\"a.mp4\",\"frames\":3}"); NULL for none. Invalid
 * fields text is logged as the string field "fields". */
void km_log_fields(int level, const char *fields_json, const char *fmt, ...) KM_PRINTF(3, 4);
void km_log_set_level(int level);
int km_log_get_level(void);
/* Parses "debug|info|warn|error"; returns -1 if unknown. */
int km_log_level_parse(const char *name);
/* Redirect log output (NULL = stderr). The stream is borrowed. */
void km_log_set_stream(FILE *f);
/* Request id attached to every log line of the calling thread (copied;
 * NULL clears). Ids longer than 63 bytes are truncated. */
void km_log_set_request_id(const char *id);
const char *km_log_request_id(void);

/* ------------------------------------------------------------------ clocks */

/* Monotonic clock (CLOCK_MONOTONIC) in nanoseconds and seconds. */
uint64_t km_now_ns(void);
double km_now_s(void);
/* Wall clock, seconds since the Unix epoch. */
double km_wall_s(void);
void km_sleep_ns(uint64_t ns);

/* ------------------------------------------------------------- thread pool */

typedef struct km_pool km_pool;
typedef void (*km_task_fn)(void *arg);
/* fn(arg, begin, end) processes items [begin, end). */
typedef void (*km_range_fn)(void *arg, int begin, int end);

/* Create a pool of `nthreads` workers (<= 0: number of online CPUs).
 * Returns NULL with km_errmsg() set on failure. Free with km_pool_destroy. */
km_pool *km_pool_create(int nthreads);
int km_pool_size(const km_pool *p);
/* Queue fn(arg) to run on a worker. */
int km_pool_submit(km_pool *p, km_task_fn fn, void *arg);
/* Block until every task submitted so far has finished. */
void km_pool_wait(km_pool *p);
/* Split [0, n) into at most `chunks` contiguous ranges (<= 0: pool size)
 * and run fn on each, the calling thread taking part; returns when all are
 * done. p == NULL runs fn(arg, 0, n) on the caller. Safe to call from
 * several threads at once (each call waits only for its own ranges). */
void km_pool_parallel_for(km_pool *p, int n, int chunks, km_range_fn fn, void *arg);
/* Finish queued tasks, join the workers, free the pool. NULL is a no-op. */
void km_pool_destroy(km_pool *p);

/* -------------------------------------------- bounded MPMC channel (queue) */

typedef struct km_chan km_chan;

/* Channel of void* items holding at most `capacity` (>= 1) items.
 * The channel never owns items: whoever receives one owns it. */
km_chan *km_chan_create(size_t capacity);
/* Send, waiting up to timeout_ns (-1: forever, 0: don't wait).
 * Returns 0, KM_EAGAIN (full at timeout) or KM_ECLOSED. */
int km_chan_send(km_chan *c, void *item, int64_t timeout_ns);
/* Receive into *item. Returns 0, KM_EAGAIN (empty at timeout) or
 * KM_EEOF (closed and drained). */
int km_chan_recv(km_chan *c, void **item, int64_t timeout_ns);
/* No more sends; receivers drain what is left then get KM_EEOF. */
void km_chan_close(km_chan *c);
size_t km_chan_len(km_chan *c);
/* Frees the channel, not the items still inside (drain first). */
void km_chan_destroy(km_chan *c);

/* ------------------------------------------------------ latency histogram */

typedef struct km_hist km_hist;

/* Thread-safe histogram of durations in nanoseconds (1 ns .. ~584 years),
 * log-linear buckets with <= 1/64 relative error. */
km_hist *km_hist_create(void);
void km_hist_record(km_hist *h, uint64_t ns);
uint64_t km_hist_count(km_hist *h);
double km_hist_mean(km_hist *h);
/* Value at quantile q in [0, 1] (0.5 = p50, 0.99 = p99); 0 when empty. */
uint64_t km_hist_quantile(km_hist *h, double q);
void km_hist_reset(km_hist *h);
void km_hist_destroy(km_hist *h);

/* ----------------------------------------------------------- progress bar */

typedef struct km_progress km_progress;

/* Progress of `total` units (<= 0: unknown) shown on `out` (NULL: stderr)
 * as "label [#####     ]  45%  123.4 fps  ETA 0:12" only when `out` is a
 * TTY; otherwise it prints nothing. Redraws at most 10 times a second. */
km_progress *km_progress_start(const char *label, int64_t total, FILE *out);
void km_progress_update(km_progress *p, int64_t done);
/* Draw the final state, end the line and free. NULL is a no-op. */
void km_progress_finish(km_progress *p);

/* ------------------------------------------------------ files and paths */

/* Write `len` bytes to `path` atomically: a temp file in the same directory,
 * fsync, rename, fsync of the directory. Readers see the old file or the
 * whole new one, never a part. */
int km_write_file_atomic(const char *path, const void *data, size_t len);

/* Streaming variant: km_afile_open gives a FILE* on a temp file; commit
 * flushes, fsyncs and renames over `path`; abort removes the temp file.
 * Exactly one of commit/abort must be called; both free `af`. */
typedef struct km_afile km_afile;
int km_afile_open(km_afile **af, const char *path);
FILE *km_afile_stream(km_afile *af);
int km_afile_commit(km_afile *af);
void km_afile_abort(km_afile *af);

/* Read a whole file into a malloc'd buffer (NUL-terminated for
 * convenience; *len excludes the NUL). Files larger than max_len fail with
 * KM_ENOMEM. Caller frees *data. */
int km_read_file(const char *path, size_t max_len, uint8_t **data, size_t *len);

/* True if `s` (len bytes) is a safe single path component: non-empty,
 * < 256 bytes, no '/', no NUL, not "." or "..". */
int km_path_component_ok(const char *s, size_t len);
/* out = base + "/" + rel, where rel is a relative path whose every
 * component passes km_path_component_ok (empty components from "//" are
 * rejected too). Fails with KM_EINVAL naming the bad component, or
 * KM_ERANGE when out (cap bytes) is too small. */
int km_path_join(char *out, size_t cap, const char *base, const char *rel);
/* mkdir -p with mode 0755; existing directories are fine. */
int km_mkdirs(const char *path);
/* rm -rf; a missing path is fine. Does not follow symlinks. */
int km_rmtree(const char *path);

/* Write s to f as a double-quoted JSON string, which is also a TOML basic
 * string: '"', '\\' and control characters escaped (\uXXXX), other bytes
 * as they are. NULL writes "". For JSON/TOML printed with stdio. */
void km_fput_json_string(FILE *f, const char *s);

/* --------------------------------------------------------- .npy and .npz */

typedef enum {
    KM_DT_F32,
    KM_DT_F64,
    KM_DT_I32,
    KM_DT_I64,
    KM_DT_U8,
} km_dtype;

#define KM_ARRAY_MAXDIM 8

/* An n-dimensional C-order array. `data` is owned by the array when it came
 * from a km_* reader or km_array_alloc (free with km_array_free). */
typedef struct km_array {
    km_dtype dtype;
    int ndim;
    int64_t shape[KM_ARRAY_MAXDIM];
    void *data;
} km_array;

size_t km_dtype_size(km_dtype t);
int64_t km_array_count(const km_array *a); /* product of the shape */
size_t km_array_nbytes(const km_array *a);
/* Allocate zeroed data for the given dtype and shape (overflow-checked). */
int km_array_alloc(km_array *a, km_dtype t, int ndim, const int64_t *shape);
void km_array_free(km_array *a);

/* Serialise to / parse from .npy bytes (format 1.0, or 2.0/3.0 on read).
 * Readers accept little- or big-endian f4/f8/i4/i8/u1 in C order and reject
 * everything else (Fortran order, object arrays) with KM_EUNSUPPORTED;
 * truncated or malformed input fails with KM_EFORMAT. The encoded buffer is
 * malloc'd; caller frees. Decoding allocates at most what `len` implies. */
int km_npy_encode(const km_array *a, uint8_t **buf, size_t *len);
int km_npy_decode(const uint8_t *buf, size_t len, km_array *out);
/* File variants; the writer is atomic. */
int km_npy_write(const char *path, const km_array *a);
int km_npy_read(const char *path, km_array *out);

/* A set of named arrays (.npz = zip of NAME.npy members). */
typedef struct km_npz {
    int count;
    char **names;      /* without the ".npy" suffix */
    km_array *arrays;
} km_npz;

/* Write arrays[i] as names[i].npy into a stored (uncompressed) zip,
 * atomically. Names must pass km_path_component_ok. */
int km_npz_write(const char *path, int count, const char *const *names, const km_array *arrays);
/* Read a .npz written by kinema or numpy (savez and savez_compressed,
 * zip64 included). Fills *out; free with km_npz_free. */
int km_npz_read(const char *path, km_npz *out);
/* Borrowed pointer to the member `name`, or NULL. */
const km_array *km_npz_get(const km_npz *z, const char *name);
void km_npz_free(km_npz *z);

#ifdef __cplusplus
}
#endif
#endif /* KINEMA_UTIL_H */
