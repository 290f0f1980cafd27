/*
 * npz.c - NumPy .npz archives (a zip of NAME.npy members).
 *
 * Writing: a plain "stored" zip (no compression, CRC-32 from zlib, a
 * central directory), written through an atomic file so a crash never
 * leaves a half archive. Timestamps are fixed (1980-01-01) so the same
 * arrays always give the same bytes.
 *
 * Reading: the whole file is loaded, the end-of-central-directory record
 * found (zip64 records too, which numpy's savez emits), and each member
 * located from its central directory entry. Stored and deflated members
 * are supported; every offset and size is checked against the file size
 * before use. A deflated member may claim at most NPZ_MEMBER_MAX bytes,
 * must declare an .npy header whose shape matches that claim, and its
 * buffer grows only as real output arrives, so a small hostile file
 * cannot make us allocate gigabytes. CRC-32 is verified.
 *
 * Ownership: km_npz_read fills a km_npz that owns its names and arrays;
 * km_npz_free releases them. Input arrays to km_npz_write are borrowed.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "kinema/util.h"
#include "util/npy_internal.h"

#define NPZ_FILE_MAX (SIZE_MAX / 2)        /* largest archive we load */
#define NPZ_MEMBER_MAX ((uint64_t)2 << 30) /* largest inflated member: 2 GiB */
#define NPZ_MAX_MEMBERS 65535
#define INFLATE_FIRST_CHUNK 65536          /* enough for any .npy header we accept */

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_ZIP64_EOCD 0x06064b50u
#define SIG_ZIP64_LOCATOR 0x07064b50u
#define LOCAL_SIZE 30
#define CENTRAL_SIZE 46
#define EOCD_SIZE 22
#define ZIP64_LOCATOR_SIZE 20
#define ZIP64_EOCD_SIZE 56
#define DOS_DATE_1980 0x0021 /* 1980-01-01 */

/* ------------------------------------------------- little-endian helpers */

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint8_t *wr16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

static uint8_t *wr32(uint8_t *p, uint32_t v)
{
    p = wr16(p, v & 0xFFFF);
    return wr16(p, v >> 16);
}

/* CRC-32 of any length (zlib's crc32 takes a uInt length). */
static uint32_t crc32_all(const uint8_t *p, size_t n)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt chunk = n > 0x40000000u ? 0x40000000u : (uInt)n;
        crc = crc32(crc, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)crc;
}

/* ---------------------------------------------------------------- writing */

typedef struct {
    uint32_t crc, size, offset;
    size_t name_len;
} member_info;

static int check_names(int count, const char *const *names)
{
    for (int i = 0; i < count; i++) {
        if (!names[i] || !km_path_component_ok(names[i], strlen(names[i])) ||
            strlen(names[i]) > 250)
            return km_seterr(KM_EINVAL, "npz: array name '%s' is not a safe file name",
                             names[i] ? names[i] : "(null)");
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return km_seterr(KM_EINVAL, "npz: array name '%s' is repeated", names[i]);
    }
    return KM_OK;
}

/* Writes "<name>.npy" as a stored member at *offset. */
static int write_member(FILE *f, const char *name, const km_array *a, uint64_t *offset,
                        member_info *info)
{
    uint8_t *npy;
    size_t len;
    int rc = km_npy_encode(a, &npy, &len);
    if (rc != KM_OK)
        return rc;
    size_t name_len = strlen(name) + 4;
    if (len > 0xFFFFFFFEu || *offset > 0xFFFFFFFEu) {
        free(npy);
        return km_seterr(KM_ERANGE, "npz: archive over 4 GiB needs zip64 (not written)");
    }
    info->crc = crc32_all(npy, len);
    info->size = (uint32_t)len;
    info->offset = (uint32_t)*offset;
    info->name_len = name_len;
    uint8_t hdr[LOCAL_SIZE], *p = hdr;
    p = wr32(p, SIG_LOCAL);
    p = wr16(p, 20);            /* version needed: 2.0 */
    p = wr16(p, 0);             /* flags */
    p = wr16(p, 0);             /* method: stored */
    p = wr16(p, 0);             /* time */
    p = wr16(p, DOS_DATE_1980); /* date */
    p = wr32(p, info->crc);
    p = wr32(p, info->size);    /* compressed */
    p = wr32(p, info->size);    /* uncompressed */
    p = wr16(p, (unsigned)name_len);
    wr16(p, 0);                 /* extra length */
    int ok = fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr && fputs(name, f) >= 0 &&
             fputs(".npy", f) >= 0 && fwrite(npy, 1, len, f) == len;
    free(npy);
    if (!ok)
        return km_seterr(KM_EIO, "npz: write failed");
    *offset += LOCAL_SIZE + name_len + len;
    return KM_OK;
}

static int write_central(FILE *f, int count, const char *const *names, const member_info *m,
                         uint64_t cd_offset)
{
    uint64_t cd_size = 0;
    for (int i = 0; i < count; i++) {
        uint8_t hdr[CENTRAL_SIZE], *p = hdr;
        p = wr32(p, SIG_CENTRAL);
        p = wr16(p, 20); /* version made by */
        p = wr16(p, 20); /* version needed */
        p = wr16(p, 0);
        p = wr16(p, 0);
        p = wr16(p, 0);
        p = wr16(p, DOS_DATE_1980);
        p = wr32(p, m[i].crc);
        p = wr32(p, m[i].size);
        p = wr32(p, m[i].size);
        p = wr16(p, (unsigned)m[i].name_len);
        p = wr16(p, 0); /* extra */
        p = wr16(p, 0); /* comment */
        p = wr16(p, 0); /* disk */
        p = wr16(p, 0); /* internal attributes */
        p = wr32(p, 0); /* external attributes */
        wr32(p, m[i].offset);
        if (fwrite(hdr, 1, sizeof hdr, f) != sizeof hdr || fputs(names[i], f) < 0 ||
            fputs(".npy", f) < 0)
            return km_seterr(KM_EIO, "npz: write failed");
        cd_size += CENTRAL_SIZE + m[i].name_len;
    }
    if (cd_offset + cd_size > 0xFFFFFFFEu)
        return km_seterr(KM_ERANGE, "npz: archive over 4 GiB needs zip64 (not written)");
    uint8_t end[EOCD_SIZE], *p = end;
    p = wr32(p, SIG_EOCD);
    p = wr16(p, 0);
    p = wr16(p, 0);
    p = wr16(p, (unsigned)count);
    p = wr16(p, (unsigned)count);
    p = wr32(p, (uint32_t)cd_size);
    p = wr32(p, (uint32_t)cd_offset);
    wr16(p, 0);
    if (fwrite(end, 1, sizeof end, f) != sizeof end)
        return km_seterr(KM_EIO, "npz: write failed");
    return KM_OK;
}

int km_npz_write(const char *path, int count, const char *const *names, const km_array *arrays)
{
    if (count < 0 || count > NPZ_MAX_MEMBERS || (count > 0 && (!names || !arrays)))
        return km_seterr(KM_EINVAL, "npz: bad member count %d", count);
    int rc = check_names(count, names);
    if (rc != KM_OK)
        return rc;
    member_info *m = calloc(count ? (size_t)count : 1, sizeof *m);
    if (!m)
        return km_seterr(KM_ENOMEM, "npz: out of memory");
    km_afile *af;
    rc = km_afile_open(&af, path);
    if (rc != KM_OK) {
        free(m);
        return rc;
    }
    FILE *f = km_afile_stream(af);
    uint64_t offset = 0;
    for (int i = 0; i < count && rc == KM_OK; i++)
        rc = write_member(f, names[i], &arrays[i], &offset, &m[i]);
    if (rc == KM_OK)
        rc = write_central(f, count, names, m, offset);
    free(m);
    if (rc != KM_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", km_errmsg());
        km_afile_abort(af);
        return km_seterr(rc, "%s: %s", path, why);
    }
    return km_afile_commit(af);
}

/* ---------------------------------------------------------------- reading */

typedef struct {
    const uint8_t *buf;
    size_t len;
    const char *path;
} zip_file;

typedef struct {
    uint64_t entries, cd_size, cd_offset;
} zip_directory;

typedef struct {
    const uint8_t *name;
    size_t name_len;
    unsigned method, flags;
    uint32_t crc;
    uint64_t comp, uncomp, local_offset;
} zip_entry;

/* [off, off+n) lies inside the file (overflow-safe). */
static int in_file(const zip_file *z, uint64_t off, uint64_t n)
{
    return off <= z->len && n <= z->len - off;
}

static int find_zip64_directory(const zip_file *z, size_t eocd_pos, zip_directory *d)
{
    if (eocd_pos < ZIP64_LOCATOR_SIZE)
        return km_seterr(KM_EFORMAT, "%s: zip64 locator missing", z->path);
    const uint8_t *loc = z->buf + eocd_pos - ZIP64_LOCATOR_SIZE;
    if (rd32(loc) != SIG_ZIP64_LOCATOR)
        return km_seterr(KM_EFORMAT, "%s: zip64 locator missing", z->path);
    uint64_t off = rd64(loc + 8);
    if (!in_file(z, off, ZIP64_EOCD_SIZE) || rd32(z->buf + off) != SIG_ZIP64_EOCD)
        return km_seterr(KM_EFORMAT, "%s: zip64 end record missing", z->path);
    const uint8_t *e = z->buf + off;
    if (rd32(e + 16) != 0 || rd32(e + 20) != 0)
        return km_seterr(KM_EUNSUPPORTED, "%s: multi-disk zip", z->path);
    d->entries = rd64(e + 32);
    d->cd_size = rd64(e + 40);
    d->cd_offset = rd64(e + 48);
    return KM_OK;
}

static int find_directory(const zip_file *z, zip_directory *d)
{
    if (z->len < EOCD_SIZE)
        return km_seterr(KM_EFORMAT, "%s: too short to be a zip/npz file", z->path);
    size_t lowest = z->len - EOCD_SIZE > 0xFFFF ? z->len - EOCD_SIZE - 0xFFFF : 0;
    for (size_t pos = z->len - EOCD_SIZE + 1; pos-- > lowest;) {
        const uint8_t *e = z->buf + pos;
        if (rd32(e) != SIG_EOCD || pos + EOCD_SIZE + rd16(e + 20) > z->len)
            continue;
        if (rd16(e + 4) != 0 || rd16(e + 6) != 0)
            return km_seterr(KM_EUNSUPPORTED, "%s: multi-disk zip", z->path);
        d->entries = rd16(e + 10);
        d->cd_size = rd32(e + 12);
        d->cd_offset = rd32(e + 16);
        if (d->entries == 0xFFFF || d->cd_size == 0xFFFFFFFFu || d->cd_offset == 0xFFFFFFFFu)
            return find_zip64_directory(z, pos, d);
        return KM_OK;
    }
    return km_seterr(KM_EFORMAT, "%s: no zip end-of-central-directory record (not an npz?)",
                     z->path);
}

/* Fills the 0xFFFFFFFF fields of e from a zip64 extra field. */
static int apply_zip64_extra(const zip_file *z, const uint8_t *extra, size_t n, zip_entry *e)
{
    while (n >= 4) {
        unsigned id = rd16(extra), size = rd16(extra + 2);
        if (size > n - 4)
            break;
        if (id == 0x0001) {
            const uint8_t *p = extra + 4, *end = p + size;
            uint64_t *fields[3] = { &e->uncomp, &e->comp, &e->local_offset };
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != 0xFFFFFFFFu)
                    continue;
                if (end - p < 8)
                    return km_seterr(KM_EFORMAT, "%s: short zip64 extra field", z->path);
                *fields[i] = rd64(p);
                p += 8;
            }
            return KM_OK;
        }
        extra += 4 + size;
        n -= 4 + size;
    }
    if (e->uncomp == 0xFFFFFFFFu || e->comp == 0xFFFFFFFFu || e->local_offset == 0xFFFFFFFFu)
        return km_seterr(KM_EFORMAT, "%s: zip64 sizes without a zip64 extra field", z->path);
    return KM_OK;
}

/* Parses the central entry at *pos (inside [.., cd_end)) and advances. */
static int read_central_entry(const zip_file *z, uint64_t *pos, uint64_t cd_end, zip_entry *e)
{
    if (*pos > cd_end || cd_end - *pos < CENTRAL_SIZE || rd32(z->buf + *pos) != SIG_CENTRAL)
        return km_seterr(KM_EFORMAT, "%s: bad central directory entry", z->path);
    const uint8_t *c = z->buf + *pos;
    size_t name_len = rd16(c + 28), extra_len = rd16(c + 30), comment_len = rd16(c + 32);
    uint64_t total = CENTRAL_SIZE + (uint64_t)name_len + extra_len + comment_len;
    if (cd_end - *pos < total)
        return km_seterr(KM_EFORMAT, "%s: central directory entry truncated", z->path);
    memset(e, 0, sizeof *e);
    e->flags = rd16(c + 8);
    e->method = rd16(c + 10);
    e->crc = rd32(c + 16);
    e->comp = rd32(c + 20);
    e->uncomp = rd32(c + 24);
    e->local_offset = rd32(c + 42);
    e->name = c + CENTRAL_SIZE;
    e->name_len = name_len;
    *pos += total;
    return apply_zip64_extra(z, c + CENTRAL_SIZE + name_len, extra_len, e);
}

/* Locates the member's data from its local header. */
static int member_data(const zip_file *z, const zip_entry *e, const uint8_t **data)
{
    if (!in_file(z, e->local_offset, LOCAL_SIZE) ||
        rd32(z->buf + e->local_offset) != SIG_LOCAL)
        return km_seterr(KM_EFORMAT, "%s: bad local header for '%.*s'", z->path,
                         (int)e->name_len, (const char *)e->name);
    const uint8_t *l = z->buf + e->local_offset;
    uint64_t start = e->local_offset + LOCAL_SIZE + rd16(l + 26) + rd16(l + 28);
    if (!in_file(z, start, e->comp))
        return km_seterr(KM_EFORMAT, "%s: member '%.*s' claims %llu bytes past the end of file",
                         z->path, (int)e->name_len, (const char *)e->name,
                         (unsigned long long)e->comp);
    *data = z->buf + start;
    return KM_OK;
}

/* Checks, once the first bytes are out, that the member's .npy header
 * declares exactly `uncomp` bytes. */
static int check_inflated_header(const zip_file *z, const uint8_t *buf, size_t have,
                                 uint64_t uncomp)
{
    npy_header h;
    int rc = npy_parse_header(buf, have, &h);
    if (rc != KM_OK)
        return rc;
    if (h.nbytes > uncomp || h.data_offset + h.nbytes != uncomp)
        return km_seterr(KM_EFORMAT, "%s: member size %llu does not match its .npy header",
                         z->path, (unsigned long long)uncomp);
    return KM_OK;
}

/* Raw-deflate `comp` bytes into a malloc'd buffer of exactly `uncomp`. */
static int inflate_member(const zip_file *z, const uint8_t *src, uint64_t comp, uint64_t uncomp,
                          uint8_t **out)
{
    if (uncomp > NPZ_MEMBER_MAX)
        return km_seterr(KM_ENOMEM, "%s: compressed member of %llu bytes exceeds the limit",
                         z->path, (unsigned long long)uncomp);
    /* one spare byte reveals a stream longer than declared */
    size_t full = (size_t)uncomp + 1;
    size_t cap = full < INFLATE_FIRST_CHUNK ? full : INFLATE_FIRST_CHUNK;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return km_seterr(KM_ENOMEM, "%s: out of memory", z->path);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
        free(buf);
        return km_seterr(KM_ENOMEM, "%s: inflateInit failed", z->path);
    }
    size_t produced = 0;
    int rc = KM_OK, header_checked = 0;
    for (;;) {
        if (zs.avail_in == 0 && comp > 0) {
            zs.avail_in = comp > 0x40000000u ? 0x40000000u : (uInt)comp;
            zs.next_in = (Bytef *)(uintptr_t)src;
            src += zs.avail_in;
            comp -= zs.avail_in;
        }
        zs.next_out = buf + produced;
        zs.avail_out = (uInt)(cap - produced);
        int zr = inflate(&zs, Z_NO_FLUSH);
        produced = cap - zs.avail_out;
        if (zr == Z_STREAM_END)
            break;
        if (zr != Z_OK && !(zr == Z_BUF_ERROR && zs.avail_out == 0)) {
            rc = km_seterr(KM_EFORMAT, "%s: corrupt deflate data (%s)", z->path,
                           zs.msg ? zs.msg : "truncated");
            break;
        }
        if (zs.avail_out > 0)
            continue;
        if (cap == full) {
            rc = km_seterr(KM_EFORMAT, "%s: member inflates past its declared size", z->path);
            break;
        }
        if (!header_checked) {
            header_checked = 1;
            if ((rc = check_inflated_header(z, buf, produced, uncomp)) != KM_OK)
                break;
        }
        size_t ncap = cap > full / 2 ? full : cap * 2;
        uint8_t *nb = realloc(buf, ncap);
        if (!nb) {
            rc = km_seterr(KM_ENOMEM, "%s: out of memory inflating member", z->path);
            break;
        }
        buf = nb;
        cap = ncap;
    }
    inflateEnd(&zs);
    if (rc == KM_OK && produced != uncomp)
        rc = km_seterr(KM_EFORMAT, "%s: member inflates to %zu bytes, declared %llu", z->path,
                       produced, (unsigned long long)uncomp);
    if (rc != KM_OK) {
        free(buf);
        return rc;
    }
    *out = buf;
    return KM_OK;
}

/* Decodes one member into arr. */
static int read_member(const zip_file *z, const zip_entry *e, km_array *arr)
{
    if (e->flags & 1)
        return km_seterr(KM_EUNSUPPORTED, "%s: encrypted members are not supported", z->path);
    const uint8_t *data = NULL;
    int rc = member_data(z, e, &data);
    if (rc != KM_OK)
        return rc;
    uint8_t *inflated = NULL;
    const uint8_t *npy = data;
    if (e->method == 0) {
        if (e->comp != e->uncomp)
            return km_seterr(KM_EFORMAT, "%s: stored member sizes disagree", z->path);
    } else if (e->method == 8) {
        rc = inflate_member(z, data, e->comp, e->uncomp, &inflated);
        if (rc != KM_OK)
            return rc;
        npy = inflated;
    } else {
        return km_seterr(KM_EUNSUPPORTED, "%s: zip method %u is not supported", z->path,
                         e->method);
    }
    if (crc32_all(npy, (size_t)e->uncomp) != e->crc)
        rc = km_seterr(KM_EFORMAT, "%s: CRC mismatch in member '%.*s'", z->path,
                       (int)e->name_len, (const char *)e->name);
    else
        rc = km_npy_decode(npy, (size_t)e->uncomp, arr);
    free(inflated);
    return rc;
}

static int is_npy_name(const zip_entry *e)
{
    return e->name_len > 4 && memcmp(e->name + e->name_len - 4, ".npy", 4) == 0 &&
           !memchr(e->name, '\0', e->name_len);
}

static int add_member(const zip_file *z, const zip_entry *e, km_npz *out)
{
    size_t n = e->name_len - 4;
    char *name = strndup((const char *)e->name, n);
    if (!name)
        return km_seterr(KM_ENOMEM, "%s: out of memory", z->path);
    if (km_npz_get(out, name)) {
        int rc = km_seterr(KM_EFORMAT, "%s: member '%s' appears twice", z->path, name);
        free(name);
        return rc;
    }
    int rc = read_member(z, e, &out->arrays[out->count]);
    if (rc != KM_OK) {
        char why[300];
        snprintf(why, sizeof why, "%s", km_errmsg());
        free(name);
        return km_seterr(rc, "%s (member '%.*s')", why, (int)(n > 64 ? 64 : n),
                         (const char *)e->name);
    }
    out->names[out->count++] = name;
    return KM_OK;
}

static int read_archive(const zip_file *z, km_npz *out)
{
    zip_directory d = { 0, 0, 0 };
    int rc = find_directory(z, &d);
    if (rc != KM_OK)
        return rc;
    if (!in_file(z, d.cd_offset, d.cd_size))
        return km_seterr(KM_EFORMAT, "%s: central directory lies outside the file", z->path);
    /* each entry takes at least CENTRAL_SIZE bytes: bounds the allocation */
    if (d.entries > d.cd_size / CENTRAL_SIZE || d.entries > NPZ_MAX_MEMBERS)
        return km_seterr(KM_EFORMAT, "%s: %llu entries cannot fit the central directory",
                         z->path, (unsigned long long)d.entries);
    size_t n = d.entries ? (size_t)d.entries : 1;
    out->names = calloc(n, sizeof *out->names);
    out->arrays = calloc(n, sizeof *out->arrays);
    if (!out->names || !out->arrays)
        return km_seterr(KM_ENOMEM, "%s: out of memory", z->path);
    uint64_t pos = d.cd_offset, cd_end = d.cd_offset + d.cd_size;
    for (uint64_t i = 0; i < d.entries; i++) {
        zip_entry e;
        rc = read_central_entry(z, &pos, cd_end, &e);
        if (rc == KM_OK && is_npy_name(&e))
            rc = add_member(z, &e, out);
        if (rc != KM_OK)
            return rc;
    }
    return KM_OK;
}

int km_npz_read(const char *path, km_npz *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *buf;
    size_t len;
    int rc = km_read_file(path, NPZ_FILE_MAX, &buf, &len);
    if (rc != KM_OK)
        return rc;
    zip_file z = { buf, len, path };
    rc = read_archive(&z, out);
    free(buf);
    if (rc != KM_OK)
        km_npz_free(out);
    return rc;
}

const km_array *km_npz_get(const km_npz *z, const char *name)
{
    if (!z || !name)
        return NULL;
    for (int i = 0; i < z->count; i++)
        if (strcmp(z->names[i], name) == 0)
            return &z->arrays[i];
    return NULL;
}

void km_npz_free(km_npz *z)
{
    if (!z)
        return;
    for (int i = 0; i < z->count; i++) {
        free(z->names[i]);
        km_array_free(&z->arrays[i]);
    }
    free(z->names);
    free(z->arrays);
    memset(z, 0, sizeof *z);
}
