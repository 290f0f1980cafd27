/*
 * fs.c - safe file system helpers: atomic writes, bounded reads, path
 * checks, mkdir -p and rm -rf.
 *
 * Atomic writes go to a temp file in the target's directory (same file
 * system, so rename is atomic), are fsync'ed, renamed over the target and
 * the directory is fsync'ed so the rename survives a crash. On any failure
 * the temp file is removed: nothing half-written is ever left behind.
 *
 * Paths built from user input (session ids, upload names) go through
 * km_path_join, which accepts only plain relative components, so input can
 * never escape the base directory with "..", "/" or an embedded NUL.
 *
 * Ownership: km_afile is owned by the caller until commit/abort frees it;
 * km_read_file's buffer is owned by the caller (free()).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kinema/util.h"

#define COMPONENT_MAX 255

struct km_afile {
    FILE *f;
    char *path;     /* final name */
    char *tmp_path; /* temp name in the same directory */
};

/* ------------------------------------------------------------ atomic files */

/* malloc'd directory part of path ("." when none). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* fsync a directory so a rename into it is durable. */
static int fsync_dir(const char *path)
{
    char *dir = dir_of(path);
    if (!dir)
        return km_seterr(KM_ENOMEM, "out of memory");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = KM_OK;
    if (fd < 0 || fsync(fd) != 0)
        rc = km_seterr(KM_EIO, "fsync of directory %s: %s", dir, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

static void afile_free(km_afile *af)
{
    free(af->path);
    free(af->tmp_path);
    free(af);
}

int km_afile_open(km_afile **out, const char *path)
{
    *out = NULL;
    if (!path || !*path)
        return km_seterr(KM_EINVAL, "atomic write: empty path");
    km_afile *af = calloc(1, sizeof *af);
    size_t n = strlen(path);
    if (af) {
        af->path = strdup(path);
        af->tmp_path = malloc(n + sizeof ".tmp.XXXXXX");
    }
    if (!af || !af->path || !af->tmp_path) {
        if (af)
            afile_free(af);
        return km_seterr(KM_ENOMEM, "atomic write %s: out of memory", path);
    }
    memcpy(af->tmp_path, path, n);
    memcpy(af->tmp_path + n, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkostemp(af->tmp_path, O_CLOEXEC);
    if (fd < 0) {
        int rc = km_seterr(errno == ENOENT ? KM_ENOTFOUND : KM_EIO,
                           "atomic write %s: cannot create temp file: %s", path, strerror(errno));
        afile_free(af);
        return rc;
    }
    fchmod(fd, 0644);
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        close(fd);
        unlink(af->tmp_path);
        afile_free(af);
        return km_seterr(KM_ENOMEM, "atomic write %s: fdopen failed", path);
    }
    *out = af;
    return KM_OK;
}

FILE *km_afile_stream(km_afile *af)
{
    return af->f;
}

int km_afile_commit(km_afile *af)
{
    int rc = KM_OK;
    if (fflush(af->f) != 0 || ferror(af->f))
        rc = km_seterr(KM_EIO, "write %s: %s", af->path, strerror(errno));
    else if (fsync(fileno(af->f)) != 0)
        rc = km_seterr(KM_EIO, "fsync %s: %s", af->path, strerror(errno));
    if (fclose(af->f) != 0 && rc == KM_OK)
        rc = km_seterr(KM_EIO, "close %s: %s", af->path, strerror(errno));
    if (rc == KM_OK && rename(af->tmp_path, af->path) != 0)
        rc = km_seterr(KM_EIO, "rename to %s: %s", af->path, strerror(errno));
    if (rc != KM_OK)
        unlink(af->tmp_path);
    else
        rc = fsync_dir(af->path);
    afile_free(af);
    return rc;
}

void km_afile_abort(km_afile *af)
{
    if (!af)
        return;
    fclose(af->f);
    unlink(af->tmp_path);
    afile_free(af);
}

int km_write_file_atomic(const char *path, const void *data, size_t len)
{
    km_afile *af;
    int rc = km_afile_open(&af, path);
    if (rc != KM_OK)
        return rc;
    if (len > 0 && fwrite(data, 1, len, af->f) != len) {
        rc = km_seterr(KM_EIO, "write %s: %s", path, strerror(errno));
        km_afile_abort(af);
        return rc;
    }
    return km_afile_commit(af);
}

/* ------------------------------------------------------------ whole reads */

/* Grows *buf to hold at least `need` bytes (doubling, capped at max). */
static int grow(uint8_t **buf, size_t *cap, size_t need, size_t max)
{
    if (need <= *cap)
        return KM_OK;
    size_t ncap = *cap ? *cap : need > 4096 ? need : 4096;
    while (ncap < need)
        ncap = ncap > max / 2 ? max : ncap * 2;
    if (ncap < need)
        ncap = need;
    uint8_t *nb = realloc(*buf, ncap);
    if (!nb)
        return KM_ENOMEM;
    *buf = nb;
    *cap = ncap;
    return KM_OK;
}

int km_read_file(const char *path, size_t max_len, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (max_len >= SIZE_MAX - 1)
        max_len = SIZE_MAX - 2;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return km_seterr(errno == ENOENT ? KM_ENOTFOUND : KM_EIO, "open %s: %s", path,
                         strerror(errno));
    struct stat st;
    int regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    if (regular && (uint64_t)st.st_size > max_len) {
        close(fd);
        return km_seterr(KM_ENOMEM, "%s: %lld bytes exceeds the limit of %zu", path,
                         (long long)st.st_size, max_len);
    }
    size_t cap = 0, n = 0;
    uint8_t *buf = NULL;
    int rc = KM_OK;
    /* a regular file's size is known: one allocation (+1 to see EOF) */
    if (regular && grow(&buf, &cap, (size_t)st.st_size + 2, max_len + 2) != KM_OK) {
        close(fd);
        return km_seterr(KM_ENOMEM, "%s: cannot allocate %lld bytes", path,
                         (long long)st.st_size);
    }
    for (;;) {
        /* keep room for one more byte and the NUL; the buffer may reach
         * max_len + 2 so that an over-long stream is detected */
        if (n + 1 >= cap && grow(&buf, &cap, n + 2, max_len + 2) != KM_OK) {
            rc = km_seterr(KM_ENOMEM, "%s: out of memory", path);
            break;
        }
        ssize_t got = read(fd, buf + n, cap - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = km_seterr(KM_EIO, "read %s: %s", path, strerror(errno));
            break;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > max_len) {
            rc = km_seterr(KM_ENOMEM, "%s: larger than the limit of %zu bytes", path, max_len);
            break;
        }
    }
    close(fd);
    if (rc != KM_OK) {
        free(buf);
        return rc;
    }
    if (!buf && !(buf = malloc(1)))
        return km_seterr(KM_ENOMEM, "%s: out of memory", path);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return KM_OK;
}

/* ------------------------------------------------------------------ paths */

int km_path_component_ok(const char *s, size_t len)
{
    if (!s || len == 0 || len > COMPONENT_MAX)
        return 0;
    if (memchr(s, '/', len) || memchr(s, '\0', len))
        return 0;
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    return 1;
}

/* Checks every '/'-separated component of rel. */
static int check_relative(const char *rel)
{
    if (*rel == '\0')
        return km_seterr(KM_EINVAL, "path: empty relative path");
    if (*rel == '/')
        return km_seterr(KM_EINVAL, "path '%s': absolute paths are not allowed", rel);
    const char *p = rel;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!km_path_component_ok(p, n))
            return km_seterr(KM_EINVAL,
                             "path '%s': component '%.*s' is not allowed (must be 1-255 bytes, "
                             "not '.' or '..', no '/' or NUL)",
                             rel, (int)(n > 64 ? 64 : n), p);
        if (!slash)
            return KM_OK;
        p = slash + 1;
    }
}

int km_path_join(char *out, size_t cap, const char *base, const char *rel)
{
    if (!out || cap == 0 || !base || !rel)
        return km_seterr(KM_EINVAL, "km_path_join: NULL argument");
    out[0] = '\0';
    int rc = check_relative(rel);
    if (rc != KM_OK)
        return rc;
    size_t bl = strlen(base), rl = strlen(rel);
    int sep = bl > 0 && base[bl - 1] != '/';
    if (bl + (size_t)sep + rl + 1 > cap)
        return km_seterr(KM_ERANGE, "path '%s/%s' is longer than %zu bytes", base, rel, cap - 1);
    memcpy(out, base, bl);
    if (sep)
        out[bl] = '/';
    memcpy(out + bl + sep, rel, rl + 1);
    return KM_OK;
}

/* ---------------------------------------------------- mkdir -p and rm -rf */

static int mkdir_one(const char *path)
{
    if (mkdir(path, 0755) == 0)
        return KM_OK;
    int err = errno;
    struct stat st;
    if (err == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return KM_OK;
    if (err == EEXIST)
        return km_seterr(KM_EEXIST, "mkdir %s: exists and is not a directory", path);
    return km_seterr(KM_EIO, "mkdir %s: %s", path, strerror(err));
}

int km_mkdirs(const char *path)
{
    if (!path || !*path)
        return km_seterr(KM_EINVAL, "mkdirs: empty path");
    char *copy = strdup(path);
    if (!copy)
        return km_seterr(KM_ENOMEM, "mkdirs: out of memory");
    int rc = KM_OK;
    for (char *p = copy + 1; *p && rc == KM_OK; p++) {
        if (*p != '/' || p[-1] == '/')
            continue;
        *p = '\0';
        rc = mkdir_one(copy);
        *p = '/';
    }
    if (rc == KM_OK)
        rc = mkdir_one(copy);
    free(copy);
    return rc;
}

/* Removes everything inside the directory open as dfd, then closes it. */
static int empty_dir_at(int dfd, const char *path)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return km_seterr(KM_EIO, "rmtree %s: %s", path, strerror(errno));
    }
    int rc = KM_OK;
    struct dirent *e;
    while (rc == KM_OK && (errno = 0, e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT)
                rc = km_seterr(KM_EIO, "rmtree %s/%s: %s", path, e->d_name, strerror(errno));
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                rc = km_seterr(KM_EIO, "rmtree %s/%s: %s", path, e->d_name, strerror(errno));
                break;
            }
            rc = empty_dir_at(sub, e->d_name);
            if (rc == KM_OK && unlinkat(dfd, e->d_name, AT_REMOVEDIR) != 0 && errno != ENOENT)
                rc = km_seterr(KM_EIO, "rmdir %s/%s: %s", path, e->d_name, strerror(errno));
        } else if (unlinkat(dfd, e->d_name, 0) != 0 && errno != ENOENT) {
            rc = km_seterr(KM_EIO, "unlink %s/%s: %s", path, e->d_name, strerror(errno));
        }
    }
    if (rc == KM_OK && errno != 0)
        rc = km_seterr(KM_EIO, "readdir %s: %s", path, strerror(errno));
    closedir(d);
    return rc;
}

int km_rmtree(const char *path)
{
    if (!path || !*path)
        return km_seterr(KM_EINVAL, "rmtree: empty path");
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return KM_OK;
        return km_seterr(KM_EIO, "rmtree %s: %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT)
            return km_seterr(KM_EIO, "unlink %s: %s", path, strerror(errno));
        return KM_OK;
    }
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return km_seterr(KM_EIO, "rmtree %s: %s", path, strerror(errno));
    int rc = empty_dir_at(dfd, path);
    if (rc == KM_OK && rmdir(path) != 0 && errno != ENOENT)
        rc = km_seterr(KM_EIO, "rmdir %s: %s", path, strerror(errno));
    return rc;
}
