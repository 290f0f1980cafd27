/* fuzz_calib_json.c - km_calib_read_json on an arbitrary file. */
#include "fuzz_calib_seed.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_calib_seeds(km_calib_write_json, ".json");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fz_tmp_write("calib", ".json", data, size);
    if (!p)
        return 0;
    km_calib c;
    memset(&c, 0, sizeof c);
    km_calib_read_json(p, &c);
    km_calib_free(&c);
    unlink(p);
    return 0;
}
