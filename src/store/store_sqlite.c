/*
 * store_sqlite.c - the SQLite backend of km_store: connection, WAL,
 * versioned migrations, statement helpers and the ops table.
 *
 * Why: an embedded, crash-safe default needing no server. WAL lets the
 * HTTP threads read while a worker writes; synchronous=FULL makes each
 * committed transaction survive kill -9 and power loss.
 *
 * Migrations: the `migrations` table lists every applied version; each
 * migration runs in its own transaction with its row, so a crash leaves
 * the schema at a version boundary. A database from a newer kinema
 * (unknown version) is refused rather than damaged.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_sqlite.h"

static const char *const MIGRATIONS[] = {
    /* 1: capture sessions, chunks, queue tasks */
    "CREATE TABLE sessions ("
    " patient_id TEXT NOT NULL, session_id TEXT NOT NULL,"
    " cameras_count INTEGER NOT NULL, models TEXT NOT NULL, state TEXT NOT NULL,"
    " has_calibration INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL,"
    " current_seq INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (patient_id, session_id));"
    "CREATE TABLE chunks ("
    " patient_id TEXT NOT NULL, session_id TEXT NOT NULL, camera_id INTEGER NOT NULL,"
    " chunk_number INTEGER NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,"
    " state TEXT NOT NULL, error TEXT NOT NULL DEFAULT '', frames INTEGER NOT NULL DEFAULT 0,"
    " received_at REAL NOT NULL, processed_at REAL NOT NULL DEFAULT 0,"
    " PRIMARY KEY (patient_id, session_id, chunk_number, camera_id));"
    "CREATE TABLE tasks ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, key TEXT NOT NULL,"
    " payload TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " completions INTEGER NOT NULL DEFAULT 0, owner TEXT NOT NULL DEFAULT '',"
    " lease_until_ms INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '',"
    " created_at REAL NOT NULL, UNIQUE (queue, key));",
    /* 2: indexes for claiming and per-session listing */
    "CREATE INDEX tasks_claim ON tasks (queue, state, id);"
    "CREATE INDEX chunks_session ON chunks (patient_id, session_id, state);",
};
#define NMIGRATIONS ((int)(sizeof MIGRATIONS / sizeof MIGRATIONS[0]))

int sq_fail(sq *s, const char *what)
{
    return km_seterr(KM_EIO, "sqlite: %s: %s", what, sqlite3_errmsg(s->db));
}

int sq_exec(sq *s, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        int rc = km_seterr(KM_EIO, "sqlite: %s", err ? err : "exec failed");
        sqlite3_free(err);
        return rc;
    }
    return KM_OK;
}

sqlite3_stmt *sq_prep(sq *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        sq_fail(s, "prepare");
        return NULL;
    }
    return st;
}

void sq_text(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

int sq_begin(sq *s) { return sq_exec(s, "BEGIN IMMEDIATE"); }
int sq_commit(sq *s) { return sq_exec(s, "COMMIT"); }
void sq_rollback(sq *s) { sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); }

static int current_version(sq *s, int *v)
{
    int rc = sq_exec(s, "CREATE TABLE IF NOT EXISTS migrations ("
                        " version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)");
    if (rc)
        return rc;
    sqlite3_stmt *st = sq_prep(s, "SELECT COALESCE(MAX(version), 0) FROM migrations");
    if (!st)
        return KM_EIO;
    *v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return KM_OK;
}

static int apply_migration(sq *s, int version)
{
    int rc = sq_begin(s);
    if (rc)
        return rc;
    rc = sq_exec(s, MIGRATIONS[version - 1]);
    if (!rc) {
        char sql[128];
        snprintf(sql, sizeof sql,
                 "INSERT INTO migrations (version, applied_at) VALUES (%d, %.3f)", version,
                 km_wall_s());
        rc = sq_exec(s, sql);
    }
    if (!rc)
        rc = sq_commit(s);
    if (rc)
        sq_rollback(s);
    return rc;
}

static int migrate(sq *s)
{
    int v = 0;
    int rc = current_version(s, &v);
    if (rc)
        return rc;
    if (v > NMIGRATIONS)
        return km_seterr(KM_EUNSUPPORTED,
                         "store schema version %d is newer than this kinema (%d)", v,
                         NMIGRATIONS);
    for (int i = v + 1; i <= NMIGRATIONS && !rc; i++)
        rc = apply_migration(s, i);
    return rc;
}

static int sq_schema_version(void *b)
{
    sq *s = b;
    int v = 0;
    pthread_mutex_lock(&s->mu);
    int rc = current_version(s, &v);
    pthread_mutex_unlock(&s->mu);
    return rc ? rc : v;
}

static void sq_close(void *b)
{
    sq *s = b;
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static const km_store_ops SQLITE_OPS = {
    sq_close, sq_schema_version,
    sq_session_create, sq_session_get, sq_session_current, sq_session_set_state,
    sq_session_set_calibration, sq_session_delete, sq_session_list,
    sq_chunk_put, sq_chunk_get, sq_chunk_list, sq_chunk_set_state, sq_chunk_complete_groups,
    sq_task_push, sq_task_claim, sq_task_extend, sq_task_ack, sq_task_release,
    sq_task_requeue_claimed, sq_task_count, sq_task_get, sq_task_delete_prefix,
};

int km_store_sqlite_open(const char *path, const km_store_ops **ops, void **backend)
{
    sq *s = calloc(1, sizeof *s);
    if (!s)
        return km_seterr(KM_ENOMEM, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        int rc = km_seterr(KM_EIO, "cannot open store %s: %s", path,
                           s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sq_close(s);
        return rc;
    }
    sqlite3_busy_timeout(s->db, 10000);
    int rc = sq_exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                        " PRAGMA foreign_keys=ON;");
    if (!rc)
        rc = migrate(s);
    if (rc) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", km_errmsg());
        sq_close(s);
        return km_seterr(rc, "store %s: %s", path, msg);
    }
    *ops = &SQLITE_OPS;
    *backend = s;
    return KM_OK;
}
