/*
 * store_sqlite.h - shared by the SQLite backend files: the connection and
 * small statement helpers. One connection guarded by a mutex; every public
 * call runs under the mutex (SQLite serialises writers anyway).
 */
#ifndef KINEMA_STORE_SQLITE_H
#define KINEMA_STORE_SQLITE_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/store_priv.h"

typedef struct sq {
    sqlite3 *db;
    pthread_mutex_t mu;
} sq;

int sq_fail(sq *s, const char *what);
int sq_exec(sq *s, const char *sql);
/* Prepared statement or NULL with km_errmsg set. */
sqlite3_stmt *sq_prep(sq *s, const char *sql);
void sq_text(sqlite3_stmt *st, int col, char *out, size_t cap);
int sq_begin(sq *s);
int sq_commit(sq *s);
void sq_rollback(sq *s);

/* Entry points of store_sqlite_capture.c and store_sqlite_tasks.c. */
int sq_session_create(void *b, const km_session_rec *rec);
int sq_session_get(void *b, const char *p, const char *s, km_session_rec *out);
int sq_session_current(void *b, km_session_rec *out);
int sq_session_set_state(void *b, const char *p, const char *s, const char *state);
int sq_session_set_calibration(void *b, const char *p, const char *s, int has);
int sq_session_delete(void *b, const char *p, const char *s);
int sq_session_list(void *b, km_session_rec **out, int *n);
int sq_chunk_put(void *b, const km_chunk_rec *rec, int *ncams);
int sq_chunk_get(void *b, const char *p, const char *s, int cam, int64_t chunk,
                 km_chunk_rec *out);
int sq_chunk_list(void *b, const char *p, const char *s, km_chunk_rec **out, int *n);
int sq_chunk_set_state(void *b, const char *p, const char *s, int cam, int64_t chunk,
                       const char *state, const char *error, int64_t frames);
int sq_chunk_complete_groups(void *b, const char *p, const char *s, int64_t **out, int *n);
int sq_task_push(void *b, const char *q, const char *key, const char *payload, int64_t *id,
                 int *created);
int sq_task_claim(void *b, const char *q, const char *owner, int64_t now_ms, int64_t lease_ms,
                  km_task_rec *out);
int sq_task_extend(void *b, int64_t id, const char *owner, int64_t until_ms);
int sq_task_ack(void *b, int64_t id, const char *owner);
int sq_task_release(void *b, int64_t id, const char *owner, int final, const char *error);
int sq_task_requeue_claimed(void *b, const char *q);
int sq_task_count(void *b, const char *q, const char *state, int64_t *n);
int sq_task_get(void *b, const char *q, const char *key, km_task_rec *out);
int sq_task_delete_prefix(void *b, const char *q, const char *prefix);

#endif
