/* test_store_sqlite.c - the SQLite store: versioned migrations (applied
 * once, recorded, stable across reopen, newer schema refused), URL forms,
 * sessions (current session, replace after cancel, list), chunks
 * (duplicate rejection, cameras present, complete groups, state updates)
 * and cascade delete. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "kinema/store.h"

typedef struct fixture {
    char dir[64];
    char path[128];
    char url[160];
    km_store *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/kinema-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/k.db", f->dir);
    snprintf(f->url, sizeof f->url, "sqlite:%s", f->path);
    if (km_store_open(&f->s, f->url) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    km_store_close(f->s);
    km_rmtree(f->dir);
    free(f);
    return 0;
}

static void test_migrations(void **state)
{
    fixture *f = *state;
    int v = km_store_schema_version(f->s);
    assert_true(v >= 2);
    km_store_close(f->s);
    assert_int_equal(km_store_open(&f->s, f->path), 0); /* plain path form */
    assert_int_equal(km_store_schema_version(f->s), v);
    km_store_close(f->s);
    /* One row per version, applied once. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*), MAX(version) FROM migrations", -1,
                                        &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), v);
    assert_int_equal(sqlite3_column_int(st, 1), v);
    sqlite3_finalize(st);
    /* WAL is on. */
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    /* A schema from the future is refused, not touched. */
    assert_int_equal(sqlite3_exec(db, "INSERT INTO migrations VALUES (999, 0)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(km_store_open(&f->s, f->url), KM_EUNSUPPORTED);
    assert_non_null(strstr(km_errmsg(), "999"));
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_exec(db, "DELETE FROM migrations WHERE version = 999", NULL, NULL, NULL);
    sqlite3_close(db);
    assert_int_equal(km_store_open(&f->s, f->url), 0);
}

static void test_urls(void **state)
{
    km_store *s;
    assert_int_equal(km_store_open(&s, "postgres://x/y"), KM_EUNSUPPORTED);
    assert_int_equal(km_store_open(&s, "mysql://x"), KM_EINVAL);
    assert_int_equal(km_store_open(&s, "sqlite:"), KM_EINVAL);
    assert_int_equal(km_store_open(&s, ""), KM_EINVAL);
    assert_int_not_equal(km_store_open(&s, "sqlite:/nonexistent/dir/x.db"), 0);
}

static km_session_rec session(const char *p, const char *s, int cams)
{
    km_session_rec r;
    memset(&r, 0, sizeof r);
    snprintf(r.patient_id, sizeof r.patient_id, "%s", p);
    snprintf(r.session_id, sizeof r.session_id, "%s", s);
    r.cameras_count = cams;
    snprintf(r.models, sizeof r.models, "[\"blazepose-lite\"]");
    snprintf(r.state, sizeof r.state, "active");
    r.created_at = 1000;
    return r;
}

static void test_sessions(void **state)
{
    fixture *f = *state;
    km_session_rec a = session("P1", "S1", 3), b = session("P2", "S2", 2), out;
    assert_int_equal(km_store_session_current(f->s, &out), KM_ENOTFOUND);
    assert_int_equal(km_store_session_create(f->s, &a), 0);
    assert_int_equal(km_store_session_create(f->s, &a), KM_EEXIST);
    assert_int_equal(km_store_session_current(f->s, &out), 0);
    assert_string_equal(out.patient_id, "P1");
    assert_int_equal(km_store_session_create(f->s, &b), 0);
    assert_int_equal(km_store_session_current(f->s, &out), 0);
    assert_string_equal(out.patient_id, "P2"); /* newest is current */
    assert_int_equal(out.cameras_count, 2);
    assert_int_equal(km_store_session_get(f->s, "P1", "S1", &out), 0);
    assert_int_equal(out.cameras_count, 3);
    assert_string_equal(out.models, "[\"blazepose-lite\"]");
    assert_int_equal(km_store_session_get(f->s, "P1", "S2", &out), KM_ENOTFOUND);
    assert_int_equal(km_store_session_set_calibration(f->s, "P1", "S1", 1), 0);
    assert_int_equal(km_store_session_set_calibration(f->s, "P9", "S1", 1), KM_ENOTFOUND);
    assert_int_equal(km_store_session_get(f->s, "P1", "S1", &out), 0);
    assert_int_equal(out.has_calibration, 1);
    /* Cancelled: no longer current, and may be started again. */
    assert_int_equal(km_store_session_set_state(f->s, "P2", "S2", "cancelled"), 0);
    assert_int_equal(km_store_session_current(f->s, &out), 0);
    assert_string_equal(out.patient_id, "P1");
    assert_int_equal(km_store_session_create(f->s, &b), 0);
    km_session_rec *list;
    int n;
    assert_int_equal(km_store_session_list(f->s, &list, &n), 0);
    assert_int_equal(n, 2);
    free(list);
}

static km_chunk_rec chunk(int cam, int64_t n, const char *sha)
{
    km_chunk_rec c;
    memset(&c, 0, sizeof c);
    snprintf(c.patient_id, sizeof c.patient_id, "P1");
    snprintf(c.session_id, sizeof c.session_id, "S1");
    c.camera_id = cam;
    c.chunk_number = n;
    snprintf(c.sha256, sizeof c.sha256, "%s", sha);
    c.size = 42;
    c.received_at = 5;
    return c;
}

static void test_chunks(void **state)
{
    fixture *f = *state;
    km_session_rec a = session("P1", "S1", 3);
    assert_int_equal(km_store_session_create(f->s, &a), 0);
    int ncams = -1;
    km_chunk_rec c0 = chunk(0, 7, "aa"), c1 = chunk(1, 7, "bb"), c2 = chunk(2, 7, "cc");
    assert_int_equal(km_store_chunk_put(f->s, &c0, &ncams), 0);
    assert_int_equal(ncams, 1);
    assert_int_equal(km_store_chunk_put(f->s, &c0, &ncams), KM_EEXIST);
    assert_int_equal(km_store_chunk_put(f->s, &c1, &ncams), 0);
    assert_int_equal(ncams, 2);
    int64_t *groups;
    int ng;
    assert_int_equal(km_store_chunk_complete_groups(f->s, "P1", "S1", &groups, &ng), 0);
    assert_int_equal(ng, 0);
    free(groups);
    km_chunk_rec other = chunk(0, 8, "dd");
    assert_int_equal(km_store_chunk_put(f->s, &other, &ncams), 0);
    assert_int_equal(ncams, 1);
    assert_int_equal(km_store_chunk_put(f->s, &c2, &ncams), 0);
    assert_int_equal(ncams, 3);
    assert_int_equal(km_store_chunk_complete_groups(f->s, "P1", "S1", &groups, &ng), 0);
    assert_int_equal(ng, 1);
    assert_int_equal(groups[0], 7);
    free(groups);
    km_chunk_rec got;
    assert_int_equal(km_store_chunk_get(f->s, "P1", "S1", 1, 7, &got), 0);
    assert_string_equal(got.sha256, "bb");
    assert_string_equal(got.state, "received");
    assert_int_equal(km_store_chunk_get(f->s, "P1", "S1", 1, 8, &got), KM_ENOTFOUND);
    assert_int_equal(km_store_chunk_set_state(f->s, "P1", "S1", -1, 7, "done", "", 20), 0);
    assert_int_equal(km_store_chunk_get(f->s, "P1", "S1", 2, 7, &got), 0);
    assert_string_equal(got.state, "done");
    assert_int_equal(got.frames, 20);
    assert_int_equal(km_store_chunk_set_state(f->s, "P1", "S1", 0, 99, "done", "", 1),
                     KM_ENOTFOUND);
    km_chunk_rec *list;
    int n;
    assert_int_equal(km_store_chunk_list(f->s, "P1", "S1", &list, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(list[0].chunk_number, 7);
    assert_int_equal(list[3].chunk_number, 8);
    free(list);
    /* Delete cascades to chunks and the session's tasks only. */
    int created;
    assert_int_equal(km_store_task_push(f->s, "q", "P1/S1/7", "{}", NULL, &created), 0);
    assert_int_equal(km_store_task_push(f->s, "q", "P1/S10/7", "{}", NULL, &created), 0);
    assert_int_equal(km_store_session_delete(f->s, "P1", "S1"), 0);
    assert_int_equal(km_store_chunk_list(f->s, "P1", "S1", &list, &n), 0);
    assert_int_equal(n, 0);
    free(list);
    int64_t count;
    assert_int_equal(km_store_task_count(f->s, "q", NULL, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(km_store_session_get(f->s, "P1", "S1", &a), KM_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
        cmocka_unit_test(test_urls),
        cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
