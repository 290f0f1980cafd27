/* fuzz_tflite.c - km_model_load on an arbitrary .tflite file. Seeds are
 * small hand-made FlatBuffers (the real models are too big). */
#include "fuzz_common.h"

#include "kinema/nn.h"

static void put32(uint8_t *b, size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[at + i] = (uint8_t)(v >> (8 * i));
}

static void put16(uint8_t *b, size_t at, uint16_t v)
{
    b[at] = (uint8_t)v;
    b[at + 1] = (uint8_t)(v >> 8);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!fz_seed_dir())
        return 0;
    /* Model { version: 3 } */
    uint8_t a[24] = {0};
    put32(a, 0, 16);
    memcpy(a + 4, "TFL3", 4);
    put16(a, 8, 6);  /* vtable: 6 bytes */
    put16(a, 10, 8); /* table: 8 bytes */
    put16(a, 12, 4); /* field 0 (version) at +4 */
    put32(a, 16, 8); /* soffset to the vtable at 8 */
    put32(a, 20, 3);
    fz_seed("version.tflite", a, sizeof a);
    /* Model { version: 3, operator_codes: [], subgraphs: [], buffers: [] } */
    uint8_t b[64] = {0};
    put32(b, 0, 20);
    memcpy(b + 4, "TFL3", 4);
    put16(b, 8, 14);  /* vtable: 5 fields */
    put16(b, 10, 20); /* table size */
    put16(b, 12, 4);  /* version */
    put16(b, 14, 8);  /* operator_codes */
    put16(b, 16, 12); /* subgraphs */
    put16(b, 18, 0);  /* description */
    put16(b, 20, 16); /* buffers */
    put32(b, 24, 16); /* table at 20? keep 4-aligned below */
    /* table at 24: soffset = 24 - 8 */
    put32(b, 0, 24);
    put32(b, 24, 16);
    put32(b, 28, 3);
    put32(b, 32, 44 - 32); /* -> empty vector at 44 */
    put32(b, 36, 44 - 36);
    put32(b, 40, 44 - 40);
    put32(b, 44, 0);
    fz_seed("empty.tflite", b, 48);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fz_tmp_write("model", ".tflite", data, size);
    if (!p)
        return 0;
    km_model *m = NULL;
    if (km_model_load(&m, p, NULL) == 0)
        km_model_free(m);
    unlink(p);
    return 0;
}
