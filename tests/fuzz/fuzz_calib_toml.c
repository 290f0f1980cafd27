/* fuzz_calib_toml.c - km_calib_read_toml (and the TOML parser under it) on
 * an arbitrary file. */
#include "fuzz_calib_seed.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_calib_seeds(km_calib_write_toml, ".toml");
    fz_seed_str("syntax", "# c\n[a]\nx = [1, 2.5e3, -0x1f]\ny = \"s\\u00e9\\n\"\nz = true\n"
                          "[b.c]\nw = [[1,2],[3,4]]\nv = 'lit'\n");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fz_tmp_write("calib", ".toml", data, size);
    if (!p)
        return 0;
    km_calib c;
    memset(&c, 0, sizeof c);
    km_calib_read_toml(p, &c);
    km_calib_free(&c);
    unlink(p);
    return 0;
}
