/*
 * store_priv.h - the backend table behind km_store: each backend (SQLite
 * now, PostgreSQL later) fills one km_store_ops and store.c dispatches.
 */
#ifndef KINEMA_STORE_PRIV_H
#define KINEMA_STORE_PRIV_H

#include "kinema/store.h"

typedef struct km_store_ops {
    void (*close)(void *b);
    int (*schema_version)(void *b);
    int (*session_create)(void *b, const km_session_rec *rec);
    int (*session_get)(void *b, const char *p, const char *s, km_session_rec *out);
    int (*session_current)(void *b, km_session_rec *out);
    int (*session_set_state)(void *b, const char *p, const char *s, const char *state);
    int (*session_set_calibration)(void *b, const char *p, const char *s, int has);
    int (*session_delete)(void *b, const char *p, const char *s);
    int (*session_list)(void *b, km_session_rec **out, int *n);
    int (*chunk_put)(void *b, const km_chunk_rec *rec, int *ncams);
    int (*chunk_get)(void *b, const char *p, const char *s, int cam, int64_t chunk,
                     km_chunk_rec *out);
    int (*chunk_list)(void *b, const char *p, const char *s, km_chunk_rec **out, int *n);
    int (*chunk_set_state)(void *b, const char *p, const char *s, int cam, int64_t chunk,
                           const char *state, const char *error, int64_t frames);
    int (*chunk_complete_groups)(void *b, const char *p, const char *s, int64_t **out, int *n);
    int (*task_push)(void *b, const char *q, const char *key, const char *payload, int64_t *id,
                     int *created);
    int (*task_claim)(void *b, const char *q, const char *owner, int64_t now_ms,
                      int64_t lease_ms, km_task_rec *out);
    int (*task_extend)(void *b, int64_t id, const char *owner, int64_t until_ms);
    int (*task_ack)(void *b, int64_t id, const char *owner);
    int (*task_release)(void *b, int64_t id, const char *owner, int final, const char *error);
    int (*task_requeue_claimed)(void *b, const char *q);
    int (*task_count)(void *b, const char *q, const char *state, int64_t *n);
    int (*task_get)(void *b, const char *q, const char *key, km_task_rec *out);
    int (*task_delete_prefix)(void *b, const char *q, const char *prefix);
} km_store_ops;

/* The SQLite backend: open `path`, apply migrations. */
int km_store_sqlite_open(const char *path, const km_store_ops **ops, void **backend);

#endif
