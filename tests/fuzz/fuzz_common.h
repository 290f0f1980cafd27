/*
 * fuzz_common.h - shared helpers of the libFuzzer harnesses (tests/fuzz).
 *
 * fz_tmp_write: file-based readers get the input through a per-process temp
 * file under /tmp (removed by the harness after each run).
 * fz_seed: when KM_FUZZ_SEED_DIR is set (the `make fuzz` target sets it to
 * the corpus directory), LLVMFuzzerInitialize writes the harness's seed
 * inputs there before fuzzing starts; otherwise seeds are not written.
 */
#ifndef KINEMA_FUZZ_COMMON_H
#define KINEMA_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Per-process path /tmp/kmfuzz-<pid>-<tag><suffix>. */
static inline const char *fz_tmp_path(const char *tag, const char *suffix)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/kmfuzz-%ld-%s%s", (long)getpid(), tag, suffix);
    return path;
}

static inline int fz_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = size ? fwrite(data, 1, size, f) : 0;
    int rc = fclose(f);
    return (w == size && rc == 0) ? 0 : -1;
}

/* Write the input to the temp file; returns its path or NULL (then skip). */
static inline const char *fz_tmp_write(const char *tag, const char *suffix, const uint8_t *data,
                                       size_t size)
{
    const char *p = fz_tmp_path(tag, suffix);
    return fz_write_file(p, data, size) == 0 ? p : NULL;
}

/* Directory seeds go to, or NULL when seeding is off. */
static inline const char *fz_seed_dir(void)
{
    const char *d = getenv("KM_FUZZ_SEED_DIR");
    return d && *d ? d : NULL;
}

static inline void fz_seed(const char *name, const void *data, size_t size)
{
    const char *d = fz_seed_dir();
    if (!d)
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s/seed-%s", d, name);
    fz_write_file(path, data, size);
}

static inline void fz_seed_str(const char *name, const char *s)
{
    fz_seed(name, s, strlen(s));
}

/* Copy a file into the seed directory (skipped when unreadable or larger
 * than max bytes). */
static inline void fz_seed_file(const char *name, const char *src, size_t max)
{
    if (!fz_seed_dir())
        return;
    FILE *f = fopen(src, "rb");
    if (!f)
        return;
    uint8_t *buf = malloc(max);
    size_t n = buf ? fread(buf, 1, max, f) : 0;
    if (buf && n > 0 && n < max)
        fz_seed(name, buf, n);
    free(buf);
    fclose(f);
}

#endif
