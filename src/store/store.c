/*
 * store.c - km_store: picks a backend from the URL and dispatches.
 *
 * Why: callers (server routes, queue, workers) depend only on store.h;
 * a PostgreSQL backend is one more km_store_ops, not a change to them.
 *
 * Ownership: km_store owns the backend handle.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_priv.h"

struct km_store {
    const km_store_ops *ops;
    void *b;
};

int km_store_open(km_store **out, const char *url)
{
    if (!url || !*url)
        return km_seterr(KM_EINVAL, "empty store URL");
    const char *path = url;
    if (strncmp(url, "sqlite://", 9) == 0)
        path = url + 9;
    else if (strncmp(url, "sqlite:", 7) == 0)
        path = url + 7;
    else if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return km_seterr(KM_EUNSUPPORTED, "PostgreSQL store is not available yet (use sqlite:PATH)");
    else if (strstr(url, "://"))
        return km_seterr(KM_EINVAL, "unknown store URL scheme in %s", url);
    if (!*path)
        return km_seterr(KM_EINVAL, "store URL %s has no path", url);
    km_store *s = calloc(1, sizeof *s);
    if (!s)
        return km_seterr(KM_ENOMEM, "out of memory");
    int rc = km_store_sqlite_open(path, &s->ops, &s->b);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return KM_OK;
}

void km_store_close(km_store *s)
{
    if (!s)
        return;
    s->ops->close(s->b);
    free(s);
}

int km_store_schema_version(km_store *s) { return s->ops->schema_version(s->b); }

int km_store_session_create(km_store *s, const km_session_rec *rec)
{
    return s->ops->session_create(s->b, rec);
}
int km_store_session_get(km_store *s, const char *p, const char *ss, km_session_rec *out)
{
    return s->ops->session_get(s->b, p, ss, out);
}
int km_store_session_current(km_store *s, km_session_rec *out)
{
    return s->ops->session_current(s->b, out);
}
int km_store_session_set_state(km_store *s, const char *p, const char *ss, const char *state)
{
    return s->ops->session_set_state(s->b, p, ss, state);
}
int km_store_session_set_calibration(km_store *s, const char *p, const char *ss, int has)
{
    return s->ops->session_set_calibration(s->b, p, ss, has);
}
int km_store_session_delete(km_store *s, const char *p, const char *ss)
{
    return s->ops->session_delete(s->b, p, ss);
}
int km_store_session_list(km_store *s, km_session_rec **out, int *n)
{
    return s->ops->session_list(s->b, out, n);
}
int km_store_chunk_put(km_store *s, const km_chunk_rec *rec, int *ncams)
{
    return s->ops->chunk_put(s->b, rec, ncams);
}
int km_store_chunk_get(km_store *s, const char *p, const char *ss, int cam, int64_t chunk,
                       km_chunk_rec *out)
{
    return s->ops->chunk_get(s->b, p, ss, cam, chunk, out);
}
int km_store_chunk_list(km_store *s, const char *p, const char *ss, km_chunk_rec **out, int *n)
{
    return s->ops->chunk_list(s->b, p, ss, out, n);
}
int km_store_chunk_set_state(km_store *s, const char *p, const char *ss, int cam, int64_t chunk,
                             const char *state, const char *error, int64_t frames)
{
    return s->ops->chunk_set_state(s->b, p, ss, cam, chunk, state, error, frames);
}
int km_store_chunk_complete_groups(km_store *s, const char *p, const char *ss, int64_t **out,
                                   int *n)
{
    return s->ops->chunk_complete_groups(s->b, p, ss, out, n);
}
int km_store_task_push(km_store *s, const char *q, const char *key, const char *payload,
                       int64_t *id, int *created)
{
    return s->ops->task_push(s->b, q, key, payload, id, created);
}
int km_store_task_claim(km_store *s, const char *q, const char *owner, int64_t now_ms,
                        int64_t lease_ms, km_task_rec *out)
{
    return s->ops->task_claim(s->b, q, owner, now_ms, lease_ms, out);
}
int km_store_task_extend(km_store *s, int64_t id, const char *owner, int64_t until_ms)
{
    return s->ops->task_extend(s->b, id, owner, until_ms);
}
int km_store_task_ack(km_store *s, int64_t id, const char *owner)
{
    return s->ops->task_ack(s->b, id, owner);
}
int km_store_task_release(km_store *s, int64_t id, const char *owner, int final,
                          const char *error)
{
    return s->ops->task_release(s->b, id, owner, final, error);
}
int km_store_task_requeue_claimed(km_store *s, const char *q)
{
    return s->ops->task_requeue_claimed(s->b, q);
}
int km_store_task_count(km_store *s, const char *q, const char *state, int64_t *n)
{
    return s->ops->task_count(s->b, q, state, n);
}
int km_store_task_get(km_store *s, const char *q, const char *key, km_task_rec *out)
{
    return s->ops->task_get(s->b, q, key, out);
}
int km_store_task_delete_prefix(km_store *s, const char *q, const char *prefix)
{
    return s->ops->task_delete_prefix(s->b, q, prefix);
}
