/* fuzz_multipart.c - the streaming multipart/form-data parser (km_mp_*)
 * fed in random pieces. Input: byte 0 picks the Content-Type, byte 1 seeds
 * the piece sizes, byte 2 makes a callback fail after that many calls (0:
 * never); the rest is the body. */
#include "fuzz_common.h"

#include "kinema/server.h"
#include "kinema/util.h"

typedef struct fz_mp {
    int calls, fail_at, open;
    size_t bytes;
} fz_mp;

static int step(fz_mp *s)
{
    return ++s->calls == s->fail_at ? KM_EINVAL : 0;
}

static int on_begin(void *u, const char *name, const char *filename)
{
    fz_mp *s = u;
    s->bytes += strlen(name) + (filename ? strlen(filename) : 0);
    s->open++;
    return step(s);
}

static int on_data(void *u, const void *d, size_t n)
{
    fz_mp *s = u;
    if (n) {
        volatile uint8_t x = ((const uint8_t *)d)[0] ^ ((const uint8_t *)d)[n - 1];
        (void)x;
    }
    s->bytes += n;
    return step(s);
}

static int on_end(void *u)
{
    fz_mp *s = u;
    s->open--;
    return step(s);
}

static const km_mp_callbacks CB = {on_begin, on_data, on_end};

static const char *const CTYPES[] = {
    "multipart/form-data; boundary=BOUND",
    "multipart/form-data; boundary=\"a b\"; charset=utf-8",
    "multipart/form-data;boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
    "Multipart/Form-Data; BOUNDARY=x",
    "multipart/form-data; boundary=",
    "text/plain",
};
#define NCT (sizeof CTYPES / sizeof CTYPES[0])

/* literals hold NUL bytes: size from sizeof, not strlen */
#define SEED_LIT(name, lit) fz_seed(name, lit, sizeof(lit) - 1)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    SEED_LIT("fields", "\x00\x07\x00"
                          "preamble\r\n--BOUND\r\n"
                          "Content-Disposition: form-data; name=\"camera_id\"\r\n\r\n2\r\n"
                          "--BOUND\r\n"
                          "Content-Disposition: form-data; name=\"chunk\"; filename=\"c.mp4\"\r\n"
                          "Content-Type: application/octet-stream\r\n\r\n"
                          "\x01\x02\r\n--BOUN\r\n--BOUNDX\r\n\r\n"
                          "--BOUND--\r\n epilogue");
    SEED_LIT("quoted", "\x01\x01\x00"
                          "--a b\r\nContent-Disposition: form-data; name=\"q\\\"x\"; filename=\"\"\r\n\r\n"
                          "v\r\n--a b--");
    SEED_LIT("truncated", "\x00\x03\x00--BOUND\r\nContent-Disposition: form-data; name=x\r\n\r\nabc");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    const char *ct = CTYPES[data[0] % NCT];
    uint32_t rng = 0x9e3779b9u ^ data[1];
    fz_mp st = {0, data[2], 0, 0};
    data += 3;
    size -= 3;
    km_mp *m = NULL;
    if (km_mp_create(&m, ct, &CB, &st) != 0)
        return 0;
    int rc = 0;
    size_t off = 0;
    while (off < size && rc == 0) {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        size_t n;
        switch (rng & 3) {
        case 0: n = 1; break;
        case 1: n = 1 + (rng >> 8) % 8; break;
        case 2: n = 1 + (rng >> 8) % 512; break;
        default: n = size - off; break;
        }
        if (n > size - off)
            n = size - off;
        /* exact-size copy so ASan sees reads past the piece */
        uint8_t *piece = malloc(n);
        if (!piece)
            break;
        memcpy(piece, data + off, n);
        rc = km_mp_feed(m, piece, n);
        free(piece);
        off += n;
    }
    if (rc == 0)
        km_mp_finish(m);
    km_mp_free(m);
    return 0;
}
