/* fuzz_npz.c - km_npz_read on an arbitrary file. */
#include "fuzz_common.h"

#include "kinema/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *d = fz_seed_dir();
    if (!d)
        return 0;
    km_array a[2];
    memset(a, 0, sizeof a);
    int64_t s0[2] = {3, 3}, s1[1] = {5};
    if (km_array_alloc(&a[0], KM_DT_F64, 2, s0) == 0 && km_array_alloc(&a[1], KM_DT_I32, 1, s1) == 0) {
        const char *names[2] = {"K", "idx"};
        char path[1024];
        snprintf(path, sizeof path, "%s/seed-two.npz", d);
        km_npz_write(path, 2, names, a);
        snprintf(path, sizeof path, "%s/seed-one.npz", d);
        km_npz_write(path, 1, names + 1, a + 1);
    }
    km_array_free(&a[0]);
    km_array_free(&a[1]);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fz_tmp_write("npz", ".npz", data, size);
    if (!p)
        return 0;
    km_npz z;
    memset(&z, 0, sizeof z);
    if (km_npz_read(p, &z) == 0) {
        for (int i = 0; i < z.count; i++)
            (void)km_npz_get(&z, z.names[i]);
    }
    km_npz_free(&z);
    unlink(p);
    return 0;
}
