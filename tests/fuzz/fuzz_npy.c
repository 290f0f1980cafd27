/* fuzz_npy.c - km_npy_decode on arbitrary bytes. */
#include "fuzz_common.h"

#include "kinema/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!fz_seed_dir())
        return 0;
    static const km_dtype types[] = {KM_DT_F32, KM_DT_F64, KM_DT_I32, KM_DT_I64, KM_DT_U8};
    for (int i = 0; i < 5; i++) {
        km_array a;
        memset(&a, 0, sizeof a);
        int64_t shape[3] = {2, 3, i + 1};
        if (km_array_alloc(&a, types[i], 1 + i % 3, shape) != 0)
            continue;
        uint8_t *buf = NULL;
        size_t len = 0;
        if (km_npy_encode(&a, &buf, &len) == 0) {
            char name[32];
            snprintf(name, sizeof name, "npy%d", i);
            fz_seed(name, buf, len);
        }
        free(buf);
        km_array_free(&a);
    }
    fz_seed_str("v2", "\x93NUMPY\x02\x00\x1c\x00\x00\x00{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }\n"
                      "\0\0\0\0\0\0\0\0");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    km_array a;
    memset(&a, 0, sizeof a);
    if (km_npy_decode(data, size, &a) == 0) {
        /* touch every byte the header promised */
        size_t n = km_array_nbytes(&a);
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < n; i++)
            sink ^= ((const uint8_t *)a.data)[i];
        (void)sink;
    }
    km_array_free(&a);
    return 0;
}
