/*
 * test_util_fs.c - atomic writes never leave temp or partial files, bounded
 * reads, path component checks and joins that refuse escapes, mkdir -p and
 * rm -rf (which must not follow symlinks).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kinema/util.h"
#include "test_common.h"

static int setup(void **state)
{
    (void)state;
    return tc_tmpdir_make("km_test_fs");
}

static void assert_file_is(const char *path, const char *want)
{
    uint8_t *data;
    size_t len;
    assert_int_equal(km_read_file(path, 1 << 20, &data, &len), KM_OK);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(data, want, len);
    assert_int_equal(data[len], '\0');
    free(data);
}

static void test_atomic_write_and_overwrite(void **state)
{
    (void)state;
    char p[256];
    tc_tmp_path(p, sizeof p, "a.txt");
    assert_int_equal(km_write_file_atomic(p, "first", 5), KM_OK);
    assert_file_is(p, "first");
    assert_int_equal(km_write_file_atomic(p, "second version", 14), KM_OK);
    assert_file_is(p, "second version");
    assert_int_equal(km_write_file_atomic(p, "", 0), KM_OK);
    assert_file_is(p, "");
    int has_tmp;
    assert_int_equal(tc_count_entries(tc_tmpdir(), "tmp", &has_tmp), 1);
    assert_false(has_tmp);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
}

static void test_atomic_write_into_missing_dir_fails_cleanly(void **state)
{
    (void)state;
    char p[256];
    tc_tmp_path(p, sizeof p, "missing/a.txt");
    int rc = km_write_file_atomic(p, "x", 1);
    assert_true(rc < 0);
    assert_non_null(strstr(km_errmsg(), "missing/a.txt"));
    int has_tmp;
    assert_int_equal(tc_count_entries(tc_tmpdir(), "tmp", &has_tmp), 0);
    assert_int_equal(km_write_file_atomic("", "x", 1), KM_EINVAL);
}

static void test_afile_abort_leaves_nothing(void **state)
{
    (void)state;
    char p[256];
    tc_tmp_path(p, sizeof p, "out.bin");
    assert_int_equal(km_write_file_atomic(p, "old", 3), KM_OK);
    km_afile *af;
    assert_int_equal(km_afile_open(&af, p), KM_OK);
    fputs("partial new content", km_afile_stream(af));
    fflush(km_afile_stream(af));
    assert_file_is(p, "old"); /* readers still see the old file */
    km_afile_abort(af);
    assert_file_is(p, "old");
    int has_tmp;
    assert_int_equal(tc_count_entries(tc_tmpdir(), "tmp", &has_tmp), 1);
    assert_false(has_tmp);
    km_afile_abort(NULL);
}

static void test_afile_commit_streams(void **state)
{
    (void)state;
    char p[256];
    tc_tmp_path(p, sizeof p, "big.txt");
    km_afile *af;
    assert_int_equal(km_afile_open(&af, p), KM_OK);
    for (int i = 0; i < 10000; i++)
        fprintf(km_afile_stream(af), "line %d\n", i);
    assert_int_equal(km_afile_commit(af), KM_OK);
    uint8_t *data;
    size_t len;
    assert_int_equal(km_read_file(p, 1 << 20, &data, &len), KM_OK);
    assert_non_null(strstr((char *)data, "line 9999\n"));
    free(data);
    int has_tmp;
    assert_int_equal(tc_count_entries(tc_tmpdir(), "tmp", &has_tmp), 1);
    assert_false(has_tmp);
}

static void test_failing_commit_leaves_no_temp(void **state)
{
    (void)state;
    /* the target is a non-empty directory: rename must fail at commit */
    char dir[256], inside[300];
    tc_tmp_path(dir, sizeof dir, "target");
    snprintf(inside, sizeof inside, "%s/keep", dir);
    assert_int_equal(km_mkdirs(dir), KM_OK);
    assert_int_equal(km_write_file_atomic(inside, "k", 1), KM_OK);
    km_afile *af;
    assert_int_equal(km_afile_open(&af, dir), KM_OK);
    fputs("data", km_afile_stream(af));
    assert_int_equal(km_afile_commit(af), KM_EIO);
    int has_tmp;
    assert_int_equal(tc_count_entries(tc_tmpdir(), "tmp", &has_tmp), 1); /* just target/ */
    assert_false(has_tmp);
    assert_file_is(inside, "k");

    /* the directory vanishes between open and commit */
    char sub[256], p[300];
    tc_tmp_path(sub, sizeof sub, "gone");
    snprintf(p, sizeof p, "%s/f.txt", sub);
    assert_int_equal(km_mkdirs(sub), KM_OK);
    assert_int_equal(km_afile_open(&af, p), KM_OK);
    fputs("data", km_afile_stream(af));
    assert_int_equal(km_rmtree(sub), KM_OK);
    assert_true(km_afile_commit(af) < 0);
    struct stat st;
    assert_int_equal(stat(sub, &st), -1);
    assert_int_equal(tc_count_entries(tc_tmpdir(), "tmp", &has_tmp), 1);
}

static void test_read_file_limits(void **state)
{
    (void)state;
    char p[256];
    tc_tmp_path(p, sizeof p, "r.txt");
    assert_int_equal(km_write_file_atomic(p, "0123456789", 10), KM_OK);
    uint8_t *data = (uint8_t *)"sentinel";
    size_t len = 7;
    assert_int_equal(km_read_file(p, 9, &data, &len), KM_ENOMEM);
    assert_null(data);
    assert_int_equal(km_read_file(p, 10, &data, &len), KM_OK);
    assert_int_equal(len, 10);
    free(data);
    tc_tmp_path(p, sizeof p, "nope");
    assert_int_equal(km_read_file(p, 100, &data, &len), KM_ENOTFOUND);
    /* a stream without a size (a pipe-like file) is bounded too */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], "abcdefghijkl", 12), 12);
    close(fds[1]);
    char devpath[64];
    snprintf(devpath, sizeof devpath, "/proc/self/fd/%d", fds[0]);
    assert_int_equal(km_read_file(devpath, 5, &data, &len), KM_ENOMEM);
    close(fds[0]);
}

static void test_path_component_ok(void **state)
{
    (void)state;
    assert_true(km_path_component_ok("a", 1));
    assert_true(km_path_component_ok("video.mp4", 9));
    assert_true(km_path_component_ok("...", 3));
    assert_true(km_path_component_ok(".hidden", 7));
    assert_false(km_path_component_ok("", 0));
    assert_false(km_path_component_ok(".", 1));
    assert_false(km_path_component_ok("..", 2));
    assert_false(km_path_component_ok("a/b", 3));
    assert_false(km_path_component_ok("/", 1));
    assert_false(km_path_component_ok("ab\0cd", 5)); /* embedded NUL */
    assert_false(km_path_component_ok("..\0x", 4));
    assert_false(km_path_component_ok(NULL, 3));
    char longname[300];
    memset(longname, 'n', sizeof longname);
    assert_true(km_path_component_ok(longname, 255));
    assert_false(km_path_component_ok(longname, 256));
}

static void test_path_join(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(km_path_join(out, sizeof out, "/data", "s1/a.mp4"), KM_OK);
    assert_string_equal(out, "/data/s1/a.mp4");
    assert_int_equal(km_path_join(out, sizeof out, "/data/", "x"), KM_OK);
    assert_string_equal(out, "/data/x");
    assert_int_equal(km_path_join(out, sizeof out, "", "x"), KM_OK);
    assert_string_equal(out, "x");
    const char *bad[] = { "..",     "../etc/passwd", "a/../../b", "a/..", "/etc/passwd",
                          "a//b",   "a/",            "",          ".",    "./a",
                          "a/./b" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        strcpy(out, "unchanged");
        assert_int_equal(km_path_join(out, sizeof out, "/data", bad[i]), KM_EINVAL);
        assert_string_equal(out, ""); /* never a usable path on failure */
        assert_true(strlen(km_errmsg()) > 0);
    }
    /* the message names the bad component */
    km_path_join(out, sizeof out, "/data", "ok/../x");
    assert_non_null(strstr(km_errmsg(), "'..'"));
    /* too small: KM_ERANGE */
    char small[10];
    assert_int_equal(km_path_join(small, sizeof small, "/data", "abcd"), KM_ERANGE);
    assert_int_equal(km_path_join(small, sizeof small, "/data", "abc"), KM_OK);
    assert_string_equal(small, "/data/abc");
    assert_int_equal(km_path_join(out, sizeof out, NULL, "a"), KM_EINVAL);
}

static void test_mkdirs(void **state)
{
    (void)state;
    char p[256];
    tc_tmp_path(p, sizeof p, "a/b//c/d/");
    assert_int_equal(km_mkdirs(p), KM_OK);
    assert_int_equal(km_mkdirs(p), KM_OK); /* existing is fine */
    struct stat st;
    tc_tmp_path(p, sizeof p, "a/b/c/d");
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    tc_tmp_path(p, sizeof p, "file");
    assert_int_equal(km_write_file_atomic(p, "x", 1), KM_OK);
    tc_tmp_path(p, sizeof p, "file/sub");
    assert_true(km_mkdirs(p) < 0);
    tc_tmp_path(p, sizeof p, "file");
    assert_int_equal(km_mkdirs(p), KM_EEXIST);
}

static void test_rmtree_does_not_follow_symlinks(void **state)
{
    (void)state;
    char outside[256], keep[300], tree[256], p[300];
    tc_tmp_path(outside, sizeof outside, "outside");
    assert_int_equal(km_mkdirs(outside), KM_OK);
    snprintf(keep, sizeof keep, "%s/precious", outside);
    assert_int_equal(km_write_file_atomic(keep, "keep me", 7), KM_OK);
    tc_tmp_path(tree, sizeof tree, "tree");
    snprintf(p, sizeof p, "%s/x/y/z", tree);
    assert_int_equal(km_mkdirs(p), KM_OK);
    for (int i = 0; i < 20; i++) {
        snprintf(p, sizeof p, "%s/x/y/f%d", tree, i);
        assert_int_equal(km_write_file_atomic(p, "f", 1), KM_OK);
    }
    snprintf(p, sizeof p, "%s/x/link", tree);
    assert_int_equal(symlink(outside, p), 0);
    snprintf(p, sizeof p, "%s/dangling", tree);
    assert_int_equal(symlink("/nonexistent/nothing", p), 0);
    assert_int_equal(km_rmtree(tree), KM_OK);
    struct stat st;
    assert_int_equal(lstat(tree, &st), -1);
    assert_file_is(keep, "keep me");
    assert_int_equal(km_rmtree(tree), KM_OK); /* missing is fine */
    /* a symlink given directly is removed, its target kept */
    tc_tmp_path(p, sizeof p, "direct");
    assert_int_equal(symlink(outside, p), 0);
    assert_int_equal(km_rmtree(p), KM_OK);
    assert_file_is(keep, "keep me");
    /* a plain file */
    assert_int_equal(km_rmtree(keep), KM_OK);
    assert_int_equal(lstat(keep, &st), -1);
    assert_int_equal(km_rmtree(""), KM_EINVAL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, tc_tmpdir_teardown)
    const struct CMUnitTest tests[] = {
        T(test_atomic_write_and_overwrite),
        T(test_atomic_write_into_missing_dir_fails_cleanly),
        T(test_afile_abort_leaves_nothing),
        T(test_afile_commit_streams),
        T(test_failing_commit_leaves_no_temp),
        T(test_read_file_limits),
        T(test_path_component_ok),
        T(test_path_join),
        T(test_mkdirs),
        T(test_rmtree_does_not_follow_symlinks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
