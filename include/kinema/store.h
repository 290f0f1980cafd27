/*
 * kinema/store.h - durable state of the servers: capture sessions, their
 * chunks, and the tasks of the queue.
 *
 * Why an interface: SQLite (WAL, embedded, the default) now, PostgreSQL
 * later, behind the same narrow set of calls. Each call is one atomic
 * transaction; callers never see SQL. Schema changes are versioned
 * migrations recorded in a `migrations` table and applied at open.
 *
 * Thread safety: a km_store may be used from many threads at once.
 * Ownership: records are plain structs filled by copy; lists are malloc'd
 * arrays the caller frees with free().
 */
#ifndef KINEMA_STORE_H
#define KINEMA_STORE_H

#include <stdint.h>

#include "kinema/util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct km_store km_store;

/* url: "sqlite:PATH", "sqlite://PATH" or a plain PATH (SQLite);
 * "postgres://..." is KM_EUNSUPPORTED for now. Creates the file and applies
 * pending migrations. Free with km_store_close. */
int km_store_open(km_store **out, const char *url);
void km_store_close(km_store *s);
/* Highest migration applied. */
int km_store_schema_version(km_store *s);

/* ---------------------------------------------------------------- sessions */

typedef struct km_session_rec {
    char patient_id[65];
    char session_id[65];
    int cameras_count;
    char models[512];        /* JSON array of model names */
    char state[16];          /* "active", "cancelled" */
    int has_calibration;
    int is_current;          /* the default session of the seed's API */
    double created_at;       /* Unix seconds */
} km_session_rec;

/* Insert; KM_EEXIST when the pair exists. Becomes the current session. */
int km_store_session_create(km_store *s, const km_session_rec *rec);
int km_store_session_get(km_store *s, const char *patient, const char *session,
                         km_session_rec *out);
/* The current session; KM_ENOTFOUND when none. */
int km_store_session_current(km_store *s, km_session_rec *out);
int km_store_session_set_state(km_store *s, const char *patient, const char *session,
                               const char *state);
int km_store_session_set_calibration(km_store *s, const char *patient, const char *session,
                                     int has);
/* Delete the session, its chunks and its tasks (one transaction). */
int km_store_session_delete(km_store *s, const char *patient, const char *session);
/* All sessions, newest first. *out malloc'd (free()). */
int km_store_session_list(km_store *s, km_session_rec **out, int *n);

/* ------------------------------------------------------------------ chunks */

typedef struct km_chunk_rec {
    char patient_id[65];
    char session_id[65];
    int camera_id;
    int64_t chunk_number;
    char sha256[65];
    int64_t size;
    char state[16];          /* received, processing, done, failed, unavailable */
    char error[256];
    int64_t frames;
    double received_at, processed_at;
} km_chunk_rec;

/* Insert a received chunk. KM_EEXIST when (session, camera, chunk) exists.
 * *ncams (may be NULL) = cameras of this chunk number now present. */
int km_store_chunk_put(km_store *s, const km_chunk_rec *rec, int *ncams);
int km_store_chunk_get(km_store *s, const char *patient, const char *session, int camera,
                       int64_t chunk, km_chunk_rec *out);
/* Every chunk of a session ordered by chunk then camera; free(*out). */
int km_store_chunk_list(km_store *s, const char *patient, const char *session,
                        km_chunk_rec **out, int *n);
/* Set state/error/frames of one camera's chunk (camera < 0: all cameras of
 * that chunk number). */
int km_store_chunk_set_state(km_store *s, const char *patient, const char *session, int camera,
                             int64_t chunk, const char *state, const char *error,
                             int64_t frames);
/* Chunk numbers of the session present for every camera (complete groups);
 * free(*out). */
int km_store_chunk_complete_groups(km_store *s, const char *patient, const char *session,
                                   int64_t **out, int *n);

/* ------------------------------------------------------------------- tasks */

/* The persistence of km_queue's in-process implementation. */
typedef struct km_task_rec {
    int64_t id;
    char queue[32];
    char key[192];           /* unique per queue: pushing a key twice is a no-op */
    char payload[1024];
    char state[12];          /* pending, claimed, done, failed */
    int attempts;
    int completions;         /* times acked: 1 for an exactly-once task */
    char owner[64];
    int64_t lease_until_ms;  /* Unix ms */
    char error[256];
} km_task_rec;

/* Insert a pending task; when the key exists, nothing changes and
 * *created = 0. */
int km_store_task_push(km_store *s, const char *queue, const char *key, const char *payload,
                       int64_t *id, int *created);
/* Claim the oldest pending task (or a claimed one whose lease expired
 * before now_ms) for `owner` until now_ms + lease_ms. KM_EAGAIN if none. */
int km_store_task_claim(km_store *s, const char *queue, const char *owner, int64_t now_ms,
                        int64_t lease_ms, km_task_rec *out);
/* Extend a lease held by owner; KM_ENOTFOUND when no longer held. */
int km_store_task_extend(km_store *s, int64_t id, const char *owner, int64_t until_ms);
/* Mark done when still held by owner (completions += 1); KM_ENOTFOUND
 * when the lease was lost (someone else will finish it). */
int km_store_task_ack(km_store *s, int64_t id, const char *owner);
/* Give the task back (pending) or, when `final`, mark it failed. */
int km_store_task_release(km_store *s, int64_t id, const char *owner, int final,
                          const char *error);
/* Make every claimed task of `queue` pending again (start-up recovery of a
 * single-process server whose previous instance died). Returns how many
 * (>= 0) or a KM_E* code. */
int km_store_task_requeue_claimed(km_store *s, const char *queue);
/* Tasks of a queue in `state` (NULL: all states). */
int km_store_task_count(km_store *s, const char *queue, const char *state, int64_t *n);
int km_store_task_get(km_store *s, const char *queue, const char *key, km_task_rec *out);
/* Delete tasks whose key starts with prefix. */
int km_store_task_delete_prefix(km_store *s, const char *queue, const char *prefix);

#ifdef __cplusplus
}
#endif
#endif /* KINEMA_STORE_H */
