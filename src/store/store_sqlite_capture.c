/*
 * store_sqlite_capture.c - capture sessions and their chunks in SQLite.
 *
 * Why separate from tasks: the capture API's records change with its
 * features; the queue's table does not. Each function is one transaction
 * under the connection mutex.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_sqlite.h"

#define SESSION_COLS \
    "patient_id, session_id, cameras_count, models, state, has_calibration, created_at," \
    " current_seq"
#define CHUNK_COLS \
    "patient_id, session_id, camera_id, chunk_number, sha256, size, state, error, frames," \
    " received_at, processed_at"

static void read_session(sqlite3_stmt *st, km_session_rec *r)
{
    memset(r, 0, sizeof *r);
    sq_text(st, 0, r->patient_id, sizeof r->patient_id);
    sq_text(st, 1, r->session_id, sizeof r->session_id);
    r->cameras_count = sqlite3_column_int(st, 2);
    sq_text(st, 3, r->models, sizeof r->models);
    sq_text(st, 4, r->state, sizeof r->state);
    r->has_calibration = sqlite3_column_int(st, 5);
    r->created_at = sqlite3_column_double(st, 6);
    r->is_current = sqlite3_column_int(st, 7) > 0;
}

static void read_chunk(sqlite3_stmt *st, km_chunk_rec *r)
{
    memset(r, 0, sizeof *r);
    sq_text(st, 0, r->patient_id, sizeof r->patient_id);
    sq_text(st, 1, r->session_id, sizeof r->session_id);
    r->camera_id = sqlite3_column_int(st, 2);
    r->chunk_number = sqlite3_column_int64(st, 3);
    sq_text(st, 4, r->sha256, sizeof r->sha256);
    r->size = sqlite3_column_int64(st, 5);
    sq_text(st, 6, r->state, sizeof r->state);
    sq_text(st, 7, r->error, sizeof r->error);
    r->frames = sqlite3_column_int64(st, 8);
    r->received_at = sqlite3_column_double(st, 9);
    r->processed_at = sqlite3_column_double(st, 10);
}

/* Run a statement expected to change rows; KM_ENOTFOUND when none. */
static int step_change(sq *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st) == SQLITE_DONE ? KM_OK : sq_fail(s, what);
    if (!rc && sqlite3_changes(s->db) == 0)
        rc = km_seterr(KM_ENOTFOUND, "%s: no such record", what);
    sqlite3_finalize(st);
    return rc;
}

int sq_session_create(void *b, const km_session_rec *rec)
{
    sq *s = b;
    pthread_mutex_lock(&s->mu);
    int rc = sq_begin(s);
    sqlite3_stmt *st = NULL;
    if (!rc) {
        /* A cancelled session of the same ids is replaced. */
        st = sq_prep(s, "DELETE FROM sessions WHERE patient_id=?1 AND session_id=?2"
                        " AND state='cancelled'");
        rc = st ? KM_OK : KM_EIO;
    }
    if (!rc) {
        sqlite3_bind_text(st, 1, rec->patient_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, rec->session_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? KM_OK : sq_fail(s, "session replace");
        sqlite3_finalize(st);
    }
    if (!rc) {
        st = sq_prep(s, "INSERT INTO sessions (" SESSION_COLS ") VALUES (?1,?2,?3,?4,?5,?6,?7,"
                        " (SELECT COALESCE(MAX(current_seq),0)+1 FROM sessions))");
        rc = st ? KM_OK : KM_EIO;
    }
    if (!rc) {
        sqlite3_bind_text(st, 1, rec->patient_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, rec->session_id, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, rec->cameras_count);
        sqlite3_bind_text(st, 4, rec->models, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, rec->state[0] ? rec->state : "active", -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 6, rec->has_calibration);
        sqlite3_bind_double(st, 7, rec->created_at);
        int sr = sqlite3_step(st);
        if (sr == SQLITE_CONSTRAINT)
            rc = km_seterr(KM_EEXIST, "session %s/%s exists", rec->patient_id, rec->session_id);
        else if (sr != SQLITE_DONE)
            rc = sq_fail(s, "session insert");
        sqlite3_finalize(st);
    }
    if (!rc)
        rc = sq_commit(s);
    if (rc)
        sq_rollback(s);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int session_query(sq *s, const char *where, const char *p, const char *ss,
                         km_session_rec *out)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT " SESSION_COLS " FROM sessions WHERE %s", where);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = sq_prep(s, sql);
    int rc = st ? KM_OK : KM_EIO;
    if (!rc) {
        if (p) {
            sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, ss, -1, SQLITE_STATIC);
        }
        int sr = sqlite3_step(st);
        if (sr == SQLITE_ROW)
            read_session(st, out);
        else if (sr == SQLITE_DONE)
            rc = km_seterr(KM_ENOTFOUND, "no such session%s%s%s%s", p ? " " : "", p ? p : "",
                           p ? "/" : "", p ? ss : "");
        else
            rc = sq_fail(s, "session get");
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int sq_session_get(void *b, const char *p, const char *ss, km_session_rec *out)
{
    return session_query(b, "patient_id=?1 AND session_id=?2", p, ss, out);
}

int sq_session_current(void *b, km_session_rec *out)
{
    int rc = session_query(b, "state='active' AND current_seq>0"
                              " ORDER BY current_seq DESC LIMIT 1", NULL, NULL, out);
    if (rc == KM_ENOTFOUND)
        km_seterr(KM_ENOTFOUND, "no active session: POST /api/session/start first");
    return rc;
}

static int session_update(sq *s, const char *sql, const char *p, const char *ss,
                          const char *text, int num)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = sq_prep(s, sql);
    int rc = KM_EIO;
    if (st) {
        sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ss, -1, SQLITE_STATIC);
        if (text)
            sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
        else
            sqlite3_bind_int(st, 3, num);
        rc = step_change(s, st, "session update");
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int sq_session_set_state(void *b, const char *p, const char *ss, const char *state)
{
    return session_update(b, "UPDATE sessions SET state=?3 WHERE patient_id=?1 AND session_id=?2",
                          p, ss, state, 0);
}

int sq_session_set_calibration(void *b, const char *p, const char *ss, int has)
{
    return session_update(b, "UPDATE sessions SET has_calibration=?3"
                             " WHERE patient_id=?1 AND session_id=?2", p, ss, NULL, has);
}

static int delete_where(sq *s, const char *sql, const char *p, const char *ss)
{
    sqlite3_stmt *st = sq_prep(s, sql);
    if (!st)
        return KM_EIO;
    sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ss, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? KM_OK : sq_fail(s, "delete");
    sqlite3_finalize(st);
    return rc;
}

int sq_session_delete(void *b, const char *p, const char *ss)
{
    sq *s = b;
    char key[160];
    snprintf(key, sizeof key, "%s/%s/", p, ss);
    pthread_mutex_lock(&s->mu);
    int rc = sq_begin(s);
    if (!rc)
        rc = delete_where(s, "DELETE FROM chunks WHERE patient_id=?1 AND session_id=?2", p, ss);
    if (!rc)
        rc = delete_where(s, "DELETE FROM sessions WHERE patient_id=?1 AND session_id=?2", p, ss);
    if (!rc)
        rc = delete_where(s, "DELETE FROM tasks WHERE substr(key,1,length(?1)+length(?2)+2)"
                             " = ?1 || '/' || ?2 || '/'", p, ss);
    if (!rc)
        rc = sq_commit(s);
    if (rc)
        sq_rollback(s);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Collect every row of a query into a malloc'd array of `size` bytes per
 * element using `reader`. */
static int collect(sq *s, sqlite3_stmt *st, size_t size, void (*reader)(sqlite3_stmt *, void *),
                   void **out, int *n)
{
    char *arr = NULL;
    int count = 0, cap = 0, rc = KM_OK, sr;
    while ((sr = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            char *na = realloc(arr, (size_t)cap * size);
            if (!na) {
                rc = km_seterr(KM_ENOMEM, "out of memory");
                break;
            }
            arr = na;
        }
        reader(st, arr + (size_t)count * size);
        count++;
    }
    if (!rc && sr != SQLITE_DONE)
        rc = sq_fail(s, "query");
    sqlite3_finalize(st);
    if (rc) {
        free(arr);
        return rc;
    }
    *out = arr;
    *n = count;
    return KM_OK;
}

static void session_reader(sqlite3_stmt *st, void *p) { read_session(st, p); }
static void chunk_reader(sqlite3_stmt *st, void *p) { read_chunk(st, p); }
static void i64_reader(sqlite3_stmt *st, void *p) { *(int64_t *)p = sqlite3_column_int64(st, 0); }

int sq_session_list(void *b, km_session_rec **out, int *n)
{
    sq *s = b;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = sq_prep(s, "SELECT " SESSION_COLS " FROM sessions"
                                  " ORDER BY created_at DESC, current_seq DESC");
    int rc = st ? collect(s, st, sizeof **out, session_reader, (void **)out, n) : KM_EIO;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int sq_chunk_put(void *b, const km_chunk_rec *r, int *ncams)
{
    sq *s = b;
    pthread_mutex_lock(&s->mu);
    int rc = sq_begin(s);
    sqlite3_stmt *st = NULL;
    if (!rc) {
        st = sq_prep(s, "INSERT INTO chunks (" CHUNK_COLS ") VALUES (?1,?2,?3,?4,?5,?6,?7,'',0,?8,0)");
        rc = st ? KM_OK : KM_EIO;
    }
    if (!rc) {
        sqlite3_bind_text(st, 1, r->patient_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->session_id, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, r->camera_id);
        sqlite3_bind_int64(st, 4, r->chunk_number);
        sqlite3_bind_text(st, 5, r->sha256, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, r->size);
        sqlite3_bind_text(st, 7, r->state[0] ? r->state : "received", -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 8, r->received_at);
        int sr = sqlite3_step(st);
        if (sr == SQLITE_CONSTRAINT)
            rc = km_seterr(KM_EEXIST, "chunk %lld of camera %d exists",
                           (long long)r->chunk_number, r->camera_id);
        else if (sr != SQLITE_DONE)
            rc = sq_fail(s, "chunk insert");
        sqlite3_finalize(st);
    }
    if (!rc && ncams) {
        st = sq_prep(s, "SELECT COUNT(*) FROM chunks WHERE patient_id=?1 AND session_id=?2"
                        " AND chunk_number=?3");
        rc = st ? KM_OK : KM_EIO;
        if (st) {
            sqlite3_bind_text(st, 1, r->patient_id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, r->session_id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, r->chunk_number);
            *ncams = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
            sqlite3_finalize(st);
        }
    }
    if (!rc)
        rc = sq_commit(s);
    if (rc)
        sq_rollback(s);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int sq_chunk_get(void *b, const char *p, const char *ss, int cam, int64_t chunk,
                 km_chunk_rec *out)
{
    sq *s = b;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = sq_prep(s, "SELECT " CHUNK_COLS " FROM chunks WHERE patient_id=?1"
                                  " AND session_id=?2 AND camera_id=?3 AND chunk_number=?4");
    int rc = st ? KM_OK : KM_EIO;
    if (st) {
        sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ss, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, cam);
        sqlite3_bind_int64(st, 4, chunk);
        int sr = sqlite3_step(st);
        if (sr == SQLITE_ROW)
            read_chunk(st, out);
        else if (sr == SQLITE_DONE)
            rc = km_seterr(KM_ENOTFOUND, "no chunk %lld for camera %d", (long long)chunk, cam);
        else
            rc = sq_fail(s, "chunk get");
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int sq_chunk_list(void *b, const char *p, const char *ss, km_chunk_rec **out, int *n)
{
    sq *s = b;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = sq_prep(s, "SELECT " CHUNK_COLS " FROM chunks WHERE patient_id=?1"
                                  " AND session_id=?2 ORDER BY chunk_number, camera_id");
    int rc = KM_EIO;
    if (st) {
        sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ss, -1, SQLITE_STATIC);
        rc = collect(s, st, sizeof **out, chunk_reader, (void **)out, n);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int sq_chunk_set_state(void *b, const char *p, const char *ss, int cam, int64_t chunk,
                       const char *state, const char *error, int64_t frames)
{
    sq *s = b;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = sq_prep(s, "UPDATE chunks SET state=?5, error=?6,"
                                  " frames=CASE WHEN ?7 >= 0 THEN ?7 ELSE frames END,"
                                  " processed_at=?8 WHERE patient_id=?1 AND session_id=?2"
                                  " AND chunk_number=?4 AND (?3 < 0 OR camera_id=?3)");
    int rc = KM_EIO;
    if (st) {
        sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ss, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, cam);
        sqlite3_bind_int64(st, 4, chunk);
        sqlite3_bind_text(st, 5, state, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, error ? error : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, frames);
        sqlite3_bind_double(st, 8, km_wall_s());
        rc = step_change(s, st, "chunk state");
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int sq_chunk_complete_groups(void *b, const char *p, const char *ss, int64_t **out, int *n)
{
    sq *s = b;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = sq_prep(s, "SELECT c.chunk_number FROM chunks c JOIN sessions x"
                                  " ON x.patient_id=c.patient_id AND x.session_id=c.session_id"
                                  " WHERE c.patient_id=?1 AND c.session_id=?2"
                                  " GROUP BY c.chunk_number"
                                  " HAVING COUNT(*) >= MAX(x.cameras_count) ORDER BY 1");
    int rc = KM_EIO;
    if (st) {
        sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ss, -1, SQLITE_STATIC);
        rc = collect(s, st, sizeof **out, i64_reader, (void **)out, n);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}
