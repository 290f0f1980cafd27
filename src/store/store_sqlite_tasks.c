/*
 * store_sqlite_tasks.c - the durable task table behind km_queue's
 * in-process implementation.
 *
 * Why: a task survives kill -9 once its push committed. Claims take a
 * lease (owner + deadline) in one IMMEDIATE transaction, so two workers
 * never hold the same task; an expired lease makes the task claimable
 * again; ack only counts when the acker still holds the lease, so each
 * task is completed (completions = 1) exactly once.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_sqlite.h"

#define TASK_COLS \
    "id, queue, key, payload, state, attempts, completions, owner, lease_until_ms, error"

static void read_task(sqlite3_stmt *st, km_task_rec *t)
{
    memset(t, 0, sizeof *t);
    t->id = sqlite3_column_int64(st, 0);
    sq_text(st, 1, t->queue, sizeof t->queue);
    sq_text(st, 2, t->key, sizeof t->key);
    sq_text(st, 3, t->payload, sizeof t->payload);
    sq_text(st, 4, t->state, sizeof t->state);
    t->attempts = sqlite3_column_int(st, 5);
    t->completions = sqlite3_column_int(st, 6);
    sq_text(st, 7, t->owner, sizeof t->owner);
    t->lease_until_ms = sqlite3_column_int64(st, 8);
    sq_text(st, 9, t->error, sizeof t->error);
}

int sq_task_push(void *b, const char *q, const char *key, const char *payload, int64_t *id,
                 int *created)
{
    sq *s = b;
    if (strlen(key) >= sizeof ((km_task_rec *)0)->key ||
        strlen(payload) >= sizeof ((km_task_rec *)0)->payload)
        return km_seterr(KM_ERANGE, "task key or payload too long");
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = sq_prep(s, "INSERT OR IGNORE INTO tasks (queue, key, payload, state,"
                                  " created_at) VALUES (?1, ?2, ?3, 'pending', ?4)");
    int rc = KM_EIO;
    if (st) {
        sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, payload, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 4, km_wall_s());
        rc = sqlite3_step(st) == SQLITE_DONE ? KM_OK : sq_fail(s, "task push");
        sqlite3_finalize(st);
    }
    if (!rc) {
        int made = sqlite3_changes(s->db) > 0;
        if (created)
            *created = made;
        if (id)
            *id = made ? sqlite3_last_insert_rowid(s->db) : 0;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int claim_locked(sq *s, const char *q, const char *owner, int64_t now_ms,
                        int64_t lease_ms, km_task_rec *out)
{
    sqlite3_stmt *st = sq_prep(s, "SELECT id FROM tasks WHERE queue=?1 AND (state='pending'"
                                  " OR (state='claimed' AND lease_until_ms < ?2))"
                                  " ORDER BY id LIMIT 1");
    if (!st)
        return KM_EIO;
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    int sr = sqlite3_step(st);
    int64_t id = sr == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (sr == SQLITE_DONE)
        return KM_EAGAIN;
    if (sr != SQLITE_ROW)
        return sq_fail(s, "task claim");
    st = sq_prep(s, "UPDATE tasks SET state='claimed', owner=?2, lease_until_ms=?3,"
                    " attempts=attempts+1 WHERE id=?1 RETURNING " TASK_COLS);
    if (!st)
        return KM_EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now_ms + lease_ms);
    sr = sqlite3_step(st);
    if (sr == SQLITE_ROW)
        read_task(st, out);
    sqlite3_finalize(st);
    return sr == SQLITE_ROW ? KM_OK : sq_fail(s, "task claim update");
}

int sq_task_claim(void *b, const char *q, const char *owner, int64_t now_ms, int64_t lease_ms,
                  km_task_rec *out)
{
    sq *s = b;
    pthread_mutex_lock(&s->mu);
    int rc = sq_begin(s);
    if (!rc)
        rc = claim_locked(s, q, owner, now_ms, lease_ms, out);
    if (!rc)
        rc = sq_commit(s);
    if (rc)
        sq_rollback(s);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Run an UPDATE bound (id, owner, x); KM_ENOTFOUND when the lease is not
 * held by owner any more. */
static int owned_update(sq *s, const char *sql, int64_t id, const char *owner, int64_t x,
                        const char *text)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = sq_prep(s, sql);
    int rc = KM_EIO;
    if (st) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, x);
        sqlite3_bind_text(st, 4, text ? text : "", -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? KM_OK : sq_fail(s, "task update");
        sqlite3_finalize(st);
        if (!rc && sqlite3_changes(s->db) == 0)
            rc = km_seterr(KM_ENOTFOUND, "task %lld is not held by %s", (long long)id, owner);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int sq_task_extend(void *b, int64_t id, const char *owner, int64_t until_ms)
{
    return owned_update(b, "UPDATE tasks SET lease_until_ms=?3 WHERE id=?1 AND owner=?2"
                           " AND state='claimed' AND ?4=''", id, owner, until_ms, NULL);
}

int sq_task_ack(void *b, int64_t id, const char *owner)
{
    return owned_update(b, "UPDATE tasks SET state='done', completions=completions+1,"
                           " lease_until_ms=0 WHERE id=?1 AND owner=?2 AND state='claimed'"
                           " AND ?3=0 AND ?4=''", id, owner, 0, NULL);
}

int sq_task_release(void *b, int64_t id, const char *owner, int final, const char *error)
{
    return owned_update(b, "UPDATE tasks SET state=CASE WHEN ?3 THEN 'failed' ELSE 'pending'"
                           " END, error=?4, owner='', lease_until_ms=0"
                           " WHERE id=?1 AND owner=?2 AND state='claimed'",
                        id, owner, final, error);
}

int sq_task_requeue_claimed(void *b, const char *q)
{
    sq *s = b;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = sq_prep(s, "UPDATE tasks SET state='pending', owner='', lease_until_ms=0"
                                  " WHERE queue=?1 AND state='claimed'");
    int rc = KM_EIO;
    if (st) {
        sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(s->db) : sq_fail(s, "requeue");
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int sq_task_count(void *b, const char *q, const char *state, int64_t *n)
{
    sq *s = b;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = sq_prep(s, "SELECT COUNT(*) FROM tasks WHERE queue=?1"
                                  " AND (?2 IS NULL OR state=?2)");
    int rc = KM_EIO;
    if (st) {
        sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
        if (state)
            sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 2);
        rc = sqlite3_step(st) == SQLITE_ROW ? KM_OK : sq_fail(s, "task count");
        if (!rc)
            *n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int sq_task_get(void *b, const char *q, const char *key, km_task_rec *out)
{
    sq *s = b;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = sq_prep(s, "SELECT " TASK_COLS " FROM tasks WHERE queue=?1 AND key=?2");
    int rc = KM_EIO;
    if (st) {
        sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        int sr = sqlite3_step(st);
        if (sr == SQLITE_ROW) {
            read_task(st, out);
            rc = KM_OK;
        } else {
            rc = sr == SQLITE_DONE ? km_seterr(KM_ENOTFOUND, "no task %s", key)
                                   : sq_fail(s, "task get");
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int sq_task_delete_prefix(void *b, const char *q, const char *prefix)
{
    sq *s = b;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = sq_prep(s, "DELETE FROM tasks WHERE queue=?1"
                                  " AND substr(key, 1, length(?2)) = ?2");
    int rc = KM_EIO;
    if (st) {
        sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? KM_OK : sq_fail(s, "task delete");
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}
