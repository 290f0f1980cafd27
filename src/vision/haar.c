/*
 * haar.c - Viola-Jones cascade detector reading OpenCV's Haar cascade XML.
 *
 * Follows cv::CascadeClassifier::detectMultiScale (new-format cascades):
 *   - scales 1, f, f^2, ... (as float) while the scaled window fits the
 *     image and max size; the image is resized to round(size / scale) with
 *     OpenCV's bit-exact bilinear arithmetic (INTER_LINEAR_EXACT, which is what
 *     detectMultiScale's pyramid matches);
 *   - integral, squared integral (32-bit, wrapping) and, when the cascade
 *     has tilted features, the 45-degree tilted integral;
 *   - the window steps 2 pixels (1 from scale 2), skipping one more step
 *     after a window fails the first stage; a window is evaluated only when
 *     its inner (w-2)x(h-2) area has enough variance;
 *   - feature value = weighted rect sums * 1/(area * stddev) in float,
 *     stage sums in double against threshold - 1e-5;
 *   - candidates are grouped with groupRectangles(minNeighbors, 0.2).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>

#include "vision/vision_priv.h"
#include "vision/xml.h"

#define CASCADE_MAX_BYTES (64u << 20)
#define CASCADE_MAX_ITEMS (1 << 20)

typedef struct {
    int x, y, w, h;
    float weight;
} haar_rect;

typedef struct {
    haar_rect r[3];
    int nrects, tilted;
} haar_feature;

typedef struct {
    int left, right, feature;
    float thr;
} haar_node;

typedef struct {
    int first_node, nnodes, first_leaf;
} haar_tree;

typedef struct {
    int first_tree, ntrees;
    float thr;
} haar_stage;

struct km_cascade {
    int win_w, win_h;
    int nstages, ntrees, nnodes, nleaves, nfeatures;
    haar_stage *stages;
    haar_tree *trees;
    haar_node *nodes;
    float *leaves;
    haar_feature *features;
    int has_tilted, stumps;
};

void km_cascade_free(km_cascade *c)
{
    if (!c)
        return;
    free(c->stages);
    free(c->trees);
    free(c->nodes);
    free(c->leaves);
    free(c->features);
    free(c);
}

void km_cascade_window(const km_cascade *c, int *width, int *height)
{
    *width = c->win_w;
    *height = c->win_h;
}

/* ------------------------------------------------------------ loading */

static int text_int(const vis_xml *x, int node, int *out)
{
    if (node < 0)
        return -1;
    char *end;
    long v = strtol(x->nodes[node].text, &end, 10);
    if (end == x->nodes[node].text || v < -CASCADE_MAX_ITEMS || v > CASCADE_MAX_ITEMS)
        return -1;
    *out = (int)v;
    return 0;
}

/* Whether a number from the file may be converted to int: finite and within
 * +-CASCADE_MAX_ITEMS (indices and window coordinates are far smaller; the
 * bound also keeps sums such as x + w from overflowing). NaN fails. */
static int int_ok(double v)
{
    return v >= -CASCADE_MAX_ITEMS && v <= CASCADE_MAX_ITEMS;
}

/* Parse up to `max` numbers from a node's text; returns how many. */
static int text_numbers(const vis_xml *x, int node, double *out, int max)
{
    const char *p = x->nodes[node].text, *end = p + x->nodes[node].text_len;
    int n = 0;
    while (p < end && n < max) {
        char *e;
        double v = strtod(p, &e);
        if (e == p) {
            while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
                p++;
            if (p < end && e == p)
                break;
            continue;
        }
        if (e > end)
            break;
        out[n++] = v;
        p = e;
    }
    return n;
}

static int cascade_alloc(km_cascade *c)
{
    c->stages = calloc((size_t)c->nstages, sizeof *c->stages);
    c->trees = calloc((size_t)c->ntrees, sizeof *c->trees);
    c->nodes = calloc((size_t)c->nnodes, sizeof *c->nodes);
    c->leaves = calloc((size_t)c->nleaves, sizeof *c->leaves);
    c->features = calloc((size_t)c->nfeatures, sizeof *c->features);
    if (!c->stages || !c->trees || !c->nodes || !c->leaves || !c->features)
        return km_seterr(KM_ENOMEM, "cascade: out of memory");
    return 0;
}

/* Count trees, nodes and leaves so arrays are allocated once. */
static int cascade_count(const vis_xml *x, int stages, km_cascade *c)
{
    double tmp[1024];
    for (int s = x->nodes[stages].first_child; s >= 0; s = x->nodes[s].next) {
        int weak = vis_xml_child(x, s, "weakClassifiers");
        if (weak < 0)
            return km_seterr(KM_EFORMAT, "cascade: stage %d has no <weakClassifiers>", c->nstages);
        c->nstages++;
        for (int t = x->nodes[weak].first_child; t >= 0; t = x->nodes[t].next) {
            int in = vis_xml_child(x, t, "internalNodes"), lv = vis_xml_child(x, t, "leafValues");
            if (in < 0 || lv < 0)
                return km_seterr(KM_EFORMAT, "cascade: stage %d tree without <internalNodes>/<leafValues>",
                                 c->nstages - 1);
            int nn = text_numbers(x, in, tmp, 1024), nl = text_numbers(x, lv, tmp, 1024);
            if (nn < 4 || nn % 4 || nl != nn / 4 + 1)
                return km_seterr(KM_EFORMAT, "cascade: stage %d tree has %d node values, %d leaves",
                                 c->nstages - 1, nn, nl);
            c->ntrees++;
            c->nnodes += nn / 4;
            c->nleaves += nl;
            if (c->ntrees > CASCADE_MAX_ITEMS || c->nnodes > CASCADE_MAX_ITEMS)
                return km_seterr(KM_EFORMAT, "cascade: too many trees");
        }
    }
    if (!c->nstages)
        return km_seterr(KM_EFORMAT, "cascade: no stages");
    return 0;
}

static int cascade_read_stages(const vis_xml *x, int stages, km_cascade *c)
{
    double v[1024];
    int si = 0, ti = 0, ni = 0, li = 0;
    c->stumps = 1;
    for (int s = x->nodes[stages].first_child; s >= 0; s = x->nodes[s].next, si++) {
        int th = vis_xml_child(x, s, "stageThreshold");
        if (th < 0 || text_numbers(x, th, v, 1) != 1)
            return km_seterr(KM_EFORMAT, "cascade: stage %d has no <stageThreshold>", si);
        c->stages[si].thr = (float)v[0] - 1e-5f;
        c->stages[si].first_tree = ti;
        int weak = vis_xml_child(x, s, "weakClassifiers");
        for (int t = x->nodes[weak].first_child; t >= 0; t = x->nodes[t].next, ti++) {
            int nn = text_numbers(x, vis_xml_child(x, t, "internalNodes"), v, 1024) / 4;
            haar_tree *tr = &c->trees[ti];
            tr->first_node = ni;
            tr->nnodes = nn;
            tr->first_leaf = li;
            if (nn != 1)
                c->stumps = 0;
            for (int k = 0; k < nn; k++, ni++) {
                haar_node *nd = &c->nodes[ni];
                if (!int_ok(v[4 * k]) || !int_ok(v[4 * k + 1]) || !int_ok(v[4 * k + 2]))
                    return km_seterr(KM_EFORMAT, "cascade: stage %d has a bad tree node", si);
                nd->left = (int)v[4 * k];
                nd->right = (int)v[4 * k + 1];
                nd->feature = (int)v[4 * k + 2];
                nd->thr = (float)v[4 * k + 3];
                if (nd->feature < 0 || nd->left >= nn || nd->right >= nn || nd->left < -nn ||
                    nd->right < -nn || (nn == 1 && (nd->left > 0 || nd->right > 0)))
                    return km_seterr(KM_EFORMAT, "cascade: stage %d has a bad tree node", si);
            }
            int nl = text_numbers(x, vis_xml_child(x, t, "leafValues"), v, 1024);
            for (int k = 0; k < nl; k++)
                c->leaves[li++] = (float)v[k];
            c->stages[si].ntrees++;
        }
    }
    return 0;
}

static int cascade_read_features(const vis_xml *x, int feats, km_cascade *c)
{
    double v[8];
    int fi = 0;
    for (int f = x->nodes[feats].first_child; f >= 0; f = x->nodes[f].next, fi++) {
        haar_feature *hf = &c->features[fi];
        int rects = vis_xml_child(x, f, "rects"), tl = vis_xml_child(x, f, "tilted");
        if (rects < 0)
            return km_seterr(KM_EFORMAT, "cascade: feature %d has no <rects>", fi);
        int t = 0;
        hf->tilted = tl >= 0 && !text_int(x, tl, &t) && t != 0;
        c->has_tilted |= hf->tilted;
        for (int r = x->nodes[rects].first_child; r >= 0; r = x->nodes[r].next) {
            if (hf->nrects == 3 || text_numbers(x, r, v, 5) != 5)
                return km_seterr(KM_EFORMAT, "cascade: feature %d needs 1..3 rects of 5 numbers", fi);
            if (!int_ok(v[0]) || !int_ok(v[1]) || !int_ok(v[2]) || !int_ok(v[3]))
                return km_seterr(KM_EFORMAT, "cascade: feature %d rect outside the %dx%d window", fi,
                                 c->win_w, c->win_h);
            haar_rect *hr = &hf->r[hf->nrects++];
            hr->x = (int)v[0];
            hr->y = (int)v[1];
            hr->w = (int)v[2];
            hr->h = (int)v[3];
            hr->weight = (float)v[4];
            int maxx = hr->x + hr->w;
            int maxy = hf->tilted ? hr->y + hr->w + hr->h : hr->y + hr->h;
            int minx = hf->tilted ? hr->x - hr->h : hr->x;
            if (hr->w < 0 || hr->h < 0 || minx < 0 || hr->y < 0 || maxx > c->win_w || maxy > c->win_h)
                return km_seterr(KM_EFORMAT, "cascade: feature %d rect outside the %dx%d window", fi,
                                 c->win_w, c->win_h);
        }
        if (!hf->nrects)
            return km_seterr(KM_EFORMAT, "cascade: feature %d has no rects", fi);
    }
    for (int i = 0; i < c->nnodes; i++)
        if (c->nodes[i].feature >= c->nfeatures)
            return km_seterr(KM_EFORMAT, "cascade: node uses feature %d of %d", c->nodes[i].feature,
                             c->nfeatures);
    return 0;
}

static int cascade_from_xml(const vis_xml *x, km_cascade *c)
{
    int root = 0, cas = vis_xml_child(x, root, "cascade");
    if (cas < 0) {
        if (x->nodes[root].first_child >= 0 && vis_xml_child(x, x->nodes[root].first_child, "stages") >= 0 &&
            vis_xml_child(x, x->nodes[root].first_child, "featureType") < 0)
            return km_seterr(KM_EUNSUPPORTED, "cascade: old-format (opencv-haar-classifier) files are not supported");
        return km_seterr(KM_EFORMAT, "cascade: no <cascade> element under the root");
    }
    int ft = vis_xml_child(x, cas, "featureType");
    if (ft < 0 || x->nodes[ft].text_len < 4 || memcmp(x->nodes[ft].text, "HAAR", 4))
        return km_seterr(KM_EUNSUPPORTED, "cascade: only HAAR features are supported");
    if (text_int(x, vis_xml_child(x, cas, "width"), &c->win_w) ||
        text_int(x, vis_xml_child(x, cas, "height"), &c->win_h) || c->win_w < 3 || c->win_h < 3 ||
        c->win_w > 1024 || c->win_h > 1024)
        return km_seterr(KM_EFORMAT, "cascade: <width>/<height> missing or outside 3..1024");
    int stages = vis_xml_child(x, cas, "stages"), feats = vis_xml_child(x, cas, "features");
    if (stages < 0 || feats < 0)
        return km_seterr(KM_EFORMAT, "cascade: <stages> or <features> missing");
    c->nfeatures = vis_xml_count(x, feats);
    if (c->nfeatures < 1 || c->nfeatures > CASCADE_MAX_ITEMS)
        return km_seterr(KM_EFORMAT, "cascade: %d features", c->nfeatures);
    int rc;
    if ((rc = cascade_count(x, stages, c)) || (rc = cascade_alloc(c)) ||
        (rc = cascade_read_stages(x, stages, c)) || (rc = cascade_read_features(x, feats, c)))
        return rc;
    return 0;
}

int km_cascade_parse(const char *xml, size_t len, km_cascade **out)
{
    *out = NULL;
    if (len > CASCADE_MAX_BYTES)
        return km_seterr(KM_ENOMEM, "cascade: %zu bytes exceeds the %u byte limit", len, CASCADE_MAX_BYTES);
    char *buf = malloc(len + 1);
    km_cascade *c = calloc(1, sizeof *c);
    if (!buf || !c) {
        free(buf);
        free(c);
        return km_seterr(KM_ENOMEM, "cascade: out of memory");
    }
    memcpy(buf, xml, len);
    buf[len] = 0;
    vis_xml x;
    int rc = vis_xml_parse(buf, len, &x);
    if (!rc) {
        rc = cascade_from_xml(&x, c);
        vis_xml_free(&x);
    }
    free(buf);
    if (rc) {
        km_cascade_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int km_cascade_load(const char *path, km_cascade **out)
{
    uint8_t *data = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = km_read_file(path, CASCADE_MAX_BYTES, &data, &len);
    if (rc)
        return rc;
    rc = km_cascade_parse((const char *)data, len, out);
    free(data);
    if (rc) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", km_errmsg());
        km_seterr(rc, "%s: %s", path, msg);
    }
    return rc;
}

/* ---------------------------------------------------------- resizing */

/* Bilinear downscale of a gray image as OpenCV's INTER_LINEAR_EXACT (what
 * detectMultiScale's pyramid matches): source coordinate
 * (d + 0.5) * src / dst - 0.5, weights rounded to 8 fractional bits, the
 * horizontal pass in 8.8 fixed point, the vertical one in 16.16, rounded
 * half up. Edge pixels are replicated. */
static void resize_linear(const uint8_t *src, int sw, int sh, size_t sstride, uint8_t *dst, int dw,
                          int dh, size_t dstride, int *xofs, int16_t *alpha, int *r0, int *r1)
{
    double scale_x = (double)sw / dw, scale_y = (double)sh / dh;
    for (int dx = 0; dx < dw; dx++) {
        double fx = (dx + 0.5) * scale_x - 0.5;
        int sx = (int)floor(fx);
        int c1 = (int)lrint((fx - sx) * 256);
        if (sx < 0)
            sx = 0, c1 = 0;
        if (sx >= sw - 1)
            sx = sw - 1, c1 = 0;
        xofs[dx] = sx;
        alpha[2 * dx] = (int16_t)(256 - c1);
        alpha[2 * dx + 1] = (int16_t)c1;
    }
    for (int dy = 0; dy < dh; dy++) {
        double fy = (dy + 0.5) * scale_y - 0.5;
        int sy = (int)floor(fy);
        int b1 = (int)lrint((fy - sy) * 256);
        if (sy < 0)
            sy = 0, b1 = 0;
        if (sy >= sh - 1)
            sy = sh - 1, b1 = 0;
        int b0 = 256 - b1;
        const uint8_t *s0 = src + (size_t)sy * sstride;
        const uint8_t *s1 = src + (size_t)(sy + 1 < sh ? sy + 1 : sy) * sstride;
        for (int dx = 0; dx < dw; dx++) {
            int sx = xofs[dx], sx1 = sx + 1 < sw ? sx + 1 : sx;
            r0[dx] = s0[sx] * alpha[2 * dx] + s0[sx1] * alpha[2 * dx + 1];
            r1[dx] = s1[sx] * alpha[2 * dx] + s1[sx1] * alpha[2 * dx + 1];
        }
        uint8_t *d = dst + (size_t)dy * dstride;
        for (int dx = 0; dx < dw; dx++)
            d[dx] = (uint8_t)(((uint32_t)(b0 * r0[dx] + b1 * r1[dx]) + 0x8000u) >> 16);
    }
}

/* ---------------------------------------------------------- integrals */

/* sum and squared sum: (w+1) x (h+1) with row stride `st`. */
static void integrals(const uint8_t *img, int w, int h, size_t istride, int *sum, uint32_t *sq,
                      size_t st)
{
    memset(sum, 0, (size_t)(w + 1) * sizeof *sum);
    memset(sq, 0, (size_t)(w + 1) * sizeof *sq);
    for (int y = 0; y < h; y++) {
        const uint8_t *s = img + (size_t)y * istride;
        int *srow = sum + (size_t)(y + 1) * st, *sprev = srow - st;
        uint32_t *qrow = sq + (size_t)(y + 1) * st, *qprev = qrow - st;
        int acc = 0;
        uint32_t qacc = 0;
        srow[0] = 0;
        qrow[0] = 0;
        for (int x = 0; x < w; x++) {
            acc += s[x];
            qacc += (uint32_t)s[x] * s[x];
            srow[x + 1] = sprev[x + 1] + acc;
            qrow[x + 1] = qprev[x + 1] + qacc;
        }
    }
}

/* Tilted (45 degree) integral as OpenCV's: T(X, Y) sums I(x, y) over
 * y < Y, |x - X + 1| <= Y - 1 - y. Computed by the recurrence
 * T(X,Y) = T(X-1,Y-1) + T(X+1,Y-1) - T(X,Y-2) + I(X-1,Y-1) + I(X-1,Y-2)
 * on columns padded by h + 2 each side (zero image there), so triangles
 * clipped by the image edges come out exact. tmp holds
 * (w + 2 (h + 2) + 1) x 3 ints. */
static void tilted_integral(const uint8_t *img, int w, int h, size_t istride, int *tilt, size_t st,
                            int *tmp)
{
    int pad = h + 2, tw = w + 2 * pad + 1;
    int *rows[3] = {tmp, tmp + tw, tmp + 2 * (size_t)tw};
    memset(tmp, 0, (size_t)tw * 3 * sizeof *tmp);
    for (int y = 0; y <= h; y++) {
        int *cur = rows[y % 3], *p1 = rows[(y + 2) % 3], *p2 = rows[(y + 1) % 3];
        for (int i = 0; i < tw; i++) {
            int x = i - pad; /* X */
            int v = 0;
            if (y >= 1) {
                v += i >= 1 ? p1[i - 1] : 0;
                v += i + 1 < tw ? p1[i + 1] : 0;
                if (x >= 1 && x <= w)
                    v += img[(size_t)(y - 1) * istride + x - 1];
                if (y >= 2) {
                    v -= p2[i];
                    if (x >= 1 && x <= w)
                        v += img[(size_t)(y - 2) * istride + x - 1];
                }
            }
            cur[i] = v;
        }
        memcpy(tilt + (size_t)y * st, cur + pad, (size_t)(w + 1) * sizeof *tilt);
    }
}

/* ---------------------------------------------------------- detection */

typedef struct {
    int ofs[3][4];
    float w[3];
} opt_feature;

/* A stump with its feature's offsets inlined: stage evaluation then walks
 * one contiguous array instead of node -> feature indirections. */
typedef struct {
    opt_feature f;
    float thr, left, right;
} stump_eval;

typedef struct {
    const km_cascade *c;
    const opt_feature *of;
    const stump_eval *stumps; /* stump cascades: one per tree, in order */
    const int *sum;
    const uint32_t *sq;
    int nofs[4];   /* corners of the variance rect */
    int sw, sh;    /* working size: windows at x < sw, y < sh */
    int ystep;
    float scale;
    int win_w, win_h; /* output box size */
    pthread_mutex_t *mtx;
    km_box **cand;
    int *ncand, *capcand;
    int failed;
} scan_job;

static void feature_offsets(const km_cascade *c, size_t st, opt_feature *of)
{
    for (int i = 0; i < c->nfeatures; i++) {
        const haar_feature *f = &c->features[i];
        memset(&of[i], 0, sizeof of[i]);
        for (int k = 0; k < f->nrects; k++) {
            const haar_rect *r = &f->r[k];
            int *o = of[i].ofs[k];
            of[i].w[k] = r->weight;
            if (f->tilted) {
                o[0] = (int)(r->x + st * r->y);
                o[1] = (int)(r->x - r->h + st * (r->y + r->h));
                o[2] = (int)(r->x + r->w + st * (r->y + r->w));
                o[3] = (int)(r->x + r->w - r->h + st * (r->y + r->w + r->h));
            } else {
                o[0] = (int)(r->x + st * r->y);
                o[1] = (int)(r->x + r->w + st * r->y);
                o[2] = (int)(r->x + st * (r->y + r->h));
                o[3] = (int)(r->x + r->w + st * (r->y + r->h));
            }
        }
    }
}

/* Tilted features read the tilted integral, stored right after the sum in
 * the same allocation at offset `tofs` (folded into the offsets). */
static inline float feature_value(const opt_feature *f, const int *p)
{
    float v = f->w[0] * (float)(p[f->ofs[0][0]] - p[f->ofs[0][1]] - p[f->ofs[0][2]] + p[f->ofs[0][3]]) +
              f->w[1] * (float)(p[f->ofs[1][0]] - p[f->ofs[1][1]] - p[f->ofs[1][2]] + p[f->ofs[1][3]]);
    if (f->w[2] != 0.0f)
        v += f->w[2] * (float)(p[f->ofs[2][0]] - p[f->ofs[2][1]] - p[f->ofs[2][2]] + p[f->ofs[2][3]]);
    return v;
}

/* 1 = accepted, 0 = rejected by stage 0, -k = rejected by stage k or by
 * low variance (-1), as OpenCV's runAt. */
static int run_window(const scan_job *j, const int *p, const uint32_t *q)
{
    const km_cascade *c = j->c;
    int valsum = p[j->nofs[0]] - p[j->nofs[1]] - p[j->nofs[2]] + p[j->nofs[3]];
    unsigned valsq = q[j->nofs[0]] - q[j->nofs[1]] - q[j->nofs[2]] + q[j->nofs[3]];
    double area = (double)(c->win_w - 2) * (c->win_h - 2);
    double nf = area * valsq - (double)valsum * valsum;
    if (!(nf > 0.))
        return -1;
    float vnf = (float)(1. / sqrt(nf));
    if (!(area * vnf < 1e-1))
        return -1;
    const haar_node *nodes = c->nodes;
    const float *leaves = c->leaves;
    const opt_feature *of = j->of;
    for (int si = 0; si < c->nstages; si++) {
        const haar_stage *s = &c->stages[si];
        double sum = 0;
        const haar_tree *t = &c->trees[s->first_tree];
        if (j->stumps) {
            const stump_eval *st = j->stumps + s->first_tree;
            for (int k = 0; k < s->ntrees; k++) {
                float v = feature_value(&st[k].f, p) * vnf;
                sum += v < st[k].thr ? st[k].left : st[k].right;
            }
        } else {
            for (int k = 0; k < s->ntrees; k++, t++) {
                int idx = 0;
                do {
                    const haar_node *nd = &nodes[t->first_node + idx];
                    float v = feature_value(&of[nd->feature], p) * vnf;
                    idx = v < nd->thr ? nd->left : nd->right;
                } while (idx > 0);
                sum += leaves[t->first_leaf - idx];
            }
        }
        if (sum < s->thr)
            return -si;
    }
    return 1;
}

static int push_box(scan_job *j, km_box b)
{
    pthread_mutex_lock(j->mtx);
    int ok = 1;
    if (*j->ncand == *j->capcand) {
        int nc = *j->capcand ? *j->capcand * 2 : 256;
        km_box *nb = nc <= CASCADE_MAX_ITEMS ? realloc(*j->cand, (size_t)nc * sizeof *nb) : NULL;
        if (nb) {
            *j->cand = nb;
            *j->capcand = nc;
        } else {
            ok = 0;
            j->failed = 1;
        }
    }
    if (ok)
        (*j->cand)[(*j->ncand)++] = b;
    pthread_mutex_unlock(j->mtx);
    return ok;
}

typedef struct {
    scan_job *j;
    size_t st;
} scan_arg;

/* Rows of windows: row index i is y = i * ystep. */
static void scan_rows(void *arg, int i0, int i1)
{
    scan_arg *a = arg;
    scan_job *j = a->j;
    for (int i = i0; i < i1; i++) {
        int y = i * j->ystep;
        for (int x = 0; x < j->sw; x += j->ystep) {
            const int *p = j->sum + (size_t)y * a->st + x;
            const uint32_t *q = j->sq + (size_t)y * a->st + x;
            int r = run_window(j, p, q);
            if (r > 0) {
                km_box b = {(int)lrintf(x * j->scale), (int)lrintf(y * j->scale), j->win_w, j->win_h};
                if (!push_box(j, b))
                    return;
            }
            if (r == 0)
                x += j->ystep;
        }
    }
}

typedef struct {
    uint8_t *img;
    int *sum;       /* sum, then tilted at +tofs */
    uint32_t *sq;
    int *tmp;
    int *xofs, *r0, *r1;
    int16_t *alpha;
    opt_feature *of;
    stump_eval *stumps;
} detect_bufs;

static void free_bufs(detect_bufs *b)
{
    free(b->img);
    free(b->sum);
    free(b->sq);
    free(b->tmp);
    free(b->xofs);
    free(b->r0);
    free(b->r1);
    free(b->alpha);
    free(b->of);
    free(b->stumps);
}

static int alloc_bufs(detect_bufs *b, const km_cascade *c, int w, int h, size_t st)
{
    memset(b, 0, sizeof *b);
    size_t planes = c->has_tilted ? 2 : 1;
    size_t tw = (size_t)w + 2 * ((size_t)h + 2) + 1;
    b->img = vis_alloc((size_t)w * h, 1);
    b->sum = vis_alloc(st * ((size_t)h + 1) * planes, sizeof(int));
    b->sq = vis_alloc(st * ((size_t)h + 1), sizeof(uint32_t));
    b->tmp = c->has_tilted ? vis_alloc(tw * 3, sizeof(int)) : NULL;
    b->xofs = vis_alloc((size_t)w, sizeof(int));
    b->r0 = vis_alloc((size_t)w, sizeof(int));
    b->r1 = vis_alloc((size_t)w, sizeof(int));
    b->alpha = vis_alloc((size_t)w * 2, sizeof(int16_t));
    b->of = vis_alloc((size_t)c->nfeatures, sizeof(opt_feature));
    b->stumps = c->stumps ? vis_alloc((size_t)c->ntrees, sizeof(stump_eval)) : NULL;
    if (!b->img || !b->sum || !b->sq || (c->has_tilted && !b->tmp) || !b->xofs || !b->r0 || !b->r1 ||
        !b->alpha || !b->of || (c->stumps && !b->stumps)) {
        free_bufs(b);
        return km_seterr(KM_ENOMEM, "cascade: out of memory for a %dx%d image", w, h);
    }
    return 0;
}

static int detect_scales(const km_cascade *c, const km_image *gray, const km_detect_opts *o,
                         km_box **cand, int *ncand, km_pool *pool)
{
    int W = gray->width, H = gray->height, cap = 0;
    size_t st = (size_t)W + 1;
    detect_bufs b;
    int rc = alloc_bufs(&b, c, W, H, st);
    if (rc)
        return rc;
    size_t tofs = st * ((size_t)H + 1);
    feature_offsets(c, st, b.of);
    for (int i = 0; i < c->nfeatures; i++)
        if (c->features[i].tilted)
            for (int k = 0; k < 3; k++)
                for (int m = 0; m < 4; m++)
                    b.of[i].ofs[k][m] += (int)tofs;
    if (c->stumps)
        for (int t = 0; t < c->ntrees; t++) {
            const haar_node *nd = &c->nodes[c->trees[t].first_node];
            int fl = c->trees[t].first_leaf; /* a stump's children are leaves -left, -right */
            b.stumps[t] = (stump_eval){b.of[nd->feature], nd->thr, c->leaves[fl - nd->left],
                                       c->leaves[fl - nd->right]};
        }
    int max_w = o->max_w > 0 ? o->max_w : W, max_h = o->max_h > 0 ? o->max_h : H;
    pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
    for (double factor = 1;; factor *= o->scale_factor) {
        float sc = (float)factor;
        int ww = (int)lrint(c->win_w * factor), wh = (int)lrint(c->win_h * factor);
        if (ww > max_w || wh > max_h || ww > W || wh > H)
            break;
        if (ww < o->min_w || wh < o->min_h)
            continue;
        int sw = (int)lrintf((float)W / sc), sh = (int)lrintf((float)H / sc);
        if (sw < c->win_w || sh < c->win_h || sw > W || sh > H)
            continue;
        resize_linear(km_image_row(gray, 0), W, H, gray->stride, b.img, sw, sh, (size_t)sw, b.xofs,
                      b.alpha, b.r0, b.r1);
        integrals(b.img, sw, sh, (size_t)sw, b.sum, b.sq, st);
        if (c->has_tilted)
            tilted_integral(b.img, sw, sh, (size_t)sw, b.sum + tofs, st, b.tmp);
        scan_job j = {c, b.of, b.stumps, b.sum, b.sq, {0}, sw + 1 - c->win_w, sh + 1 - c->win_h,
                      sc >= 2 ? 1 : 2, sc, (int)lrintf(c->win_w * sc), (int)lrintf(c->win_h * sc),
                      &mtx, cand, ncand, &cap, 0};
        j.nofs[0] = (int)(1 + st * 1);
        j.nofs[1] = (int)(1 + (c->win_w - 2) + st * 1);
        j.nofs[2] = (int)(1 + st * (size_t)(c->win_h - 1));
        j.nofs[3] = (int)(1 + (c->win_w - 2) + st * (size_t)(c->win_h - 1));
        /* windows need x + win_w < sw + 1, i.e. x < sw + 1 - win_w */
        int rows = (j.sh + j.ystep - 1) / j.ystep;
        scan_arg a = {&j, st};
        vis_parallel_rows(pool, rows, scan_rows, &a);
        if (j.failed) {
            rc = km_seterr(KM_ENOMEM, "cascade: too many candidates");
            break;
        }
    }
    pthread_mutex_destroy(&mtx);
    free_bufs(&b);
    return rc;
}

int km_cascade_detect(const km_cascade *c, const km_image *img, const km_detect_opts *opts,
                      km_box **boxes, int *nboxes, km_pool *pool)
{
    *boxes = NULL;
    *nboxes = 0;
    if (!c || !km_is_u8(img))
        return km_seterr(KM_EINVAL, "cascade_detect: need a cascade and an RGB24 or GRAY8 image");
    km_detect_opts o = KM_DETECT_OPTS_DEFAULT;
    if (opts)
        o = *opts;
    if (!(o.scale_factor > 1.0) || o.scale_factor > 10)
        return km_seterr(KM_EINVAL, "cascade_detect: scale_factor %g must be in (1, 10]", o.scale_factor);
    if (o.min_neighbors < 0)
        return km_seterr(KM_EINVAL, "cascade_detect: min_neighbors %d must be >= 0", o.min_neighbors);
    km_image *gray = vis_to_gray(img);
    if (!gray)
        return KM_ENOMEM;
    km_box *cand = NULL;
    int n = 0;
    int rc = detect_scales(c, gray, &o, &cand, &n, pool);
    km_image_free(gray);
    if (!rc)
        rc = km_group_boxes(cand, &n, o.min_neighbors, 0.2);
    if (rc) {
        free(cand);
        return rc;
    }
    if (!n) {
        free(cand);
        cand = NULL;
    }
    *boxes = cand;
    *nboxes = n;
    return 0;
}

/* ------------------------------------------------------------ grouping */

static int similar(km_box a, km_box b, double eps)
{
    double delta = eps * (fmin(a.w, b.w) + fmin(a.h, b.h)) * 0.5;
    return fabs((double)a.x - b.x) <= delta && fabs((double)a.y - b.y) <= delta &&
           fabs((double)a.x + a.w - b.x - b.w) <= delta && fabs((double)a.y + a.h - b.y - b.h) <= delta;
}

static int uf_find(int *parent, int i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

int km_group_boxes(km_box *boxes, int *n, int threshold, double eps)
{
    int cnt = *n;
    if (threshold <= 0 || cnt == 0)
        return 0;
    int *parent = malloc((size_t)cnt * sizeof *parent), *label = malloc((size_t)cnt * sizeof *label);
    int64_t(*acc)[5] = calloc((size_t)cnt, sizeof *acc);
    km_box *avg = malloc((size_t)cnt * sizeof *avg);
    if (!parent || !label || !acc || !avg) {
        free(parent), free(label), free(acc), free(avg);
        return km_seterr(KM_ENOMEM, "group_boxes: out of memory for %d boxes", cnt);
    }
    for (int i = 0; i < cnt; i++)
        parent[i] = i;
    for (int i = 0; i < cnt; i++)
        for (int k = i + 1; k < cnt; k++)
            if (similar(boxes[i], boxes[k], eps)) {
                int a = uf_find(parent, i), b = uf_find(parent, k);
                if (a != b)
                    parent[a] = b;
            }
    int ncls = 0;
    for (int i = 0; i < cnt; i++)
        label[i] = -1;
    for (int i = 0; i < cnt; i++) {
        int r = uf_find(parent, i);
        if (label[r] < 0)
            label[r] = ncls++;
        int l = label[r];
        acc[l][0] += boxes[i].x;
        acc[l][1] += boxes[i].y;
        acc[l][2] += boxes[i].w;
        acc[l][3] += boxes[i].h;
        acc[l][4]++;
    }
    for (int l = 0; l < ncls; l++) {
        float s = 1.f / (float)acc[l][4];
        avg[l] = (km_box){(int)lrintf((float)acc[l][0] * s), (int)lrintf((float)acc[l][1] * s),
                          (int)lrintf((float)acc[l][2] * s), (int)lrintf((float)acc[l][3] * s)};
    }
    int out = 0;
    for (int i = 0; i < ncls; i++) {
        int n1 = (int)acc[i][4];
        if (n1 <= threshold)
            continue;
        km_box r1 = avg[i];
        int j;
        for (j = 0; j < ncls; j++) {
            int n2 = (int)acc[j][4];
            if (j == i || n2 <= threshold)
                continue;
            km_box r2 = avg[j];
            int dx = (int)lrint(r2.w * eps), dy = (int)lrint(r2.h * eps);
            if (r1.x >= r2.x - dx && r1.y >= r2.y - dy && r1.x + r1.w <= r2.x + r2.w + dx &&
                r1.y + r1.h <= r2.y + r2.h + dy && (n2 > (n1 > 3 ? n1 : 3) || n1 < 3))
                break;
        }
        if (j == ncls)
            boxes[out++] = r1;
    }
    *n = out;
    free(parent), free(label), free(acc), free(avg);
    return 0;
}
