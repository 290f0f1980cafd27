/*
 * narrow.h - kinema's own kernels for convolutions on narrow tensors:
 * stride-1 convolutions whose input has 1, 2, 4, 8 or 16 channels:
 * depthwise, to a single output channel, or 1x1 to 2-16 channels.
 *
 * Why: BlazePose's segmentation head works on 256x256 maps of 8 channels
 * (depthwise 3x3 and 1x1 8->8 layers, then a 3x3 convolution from 8
 * channels to 1); oneDNN 2.6 blocks channels by 16 or more and ran these
 * at 10-35 GFLOP/s (0.24-0.8 ms each, the largest steps of BlazePose lite
 * and full). With C dividing 16 one 16-lane vector holds 16/C whole pixels,
 * an input row is a flat float array, and every tap of a stride-1
 * convolution is that array shifted by kx * dw * C floats: one FMA per
 * vector per tap against weights replicated over the vector's pixels. A
 * 1x1 convolution to CO channels (CO dividing 16) makes each output vector
 * of 16/CO pixels from C lane permutes of the input and C FMAs.
 *
 * Wide depthwise (NN_NARROW_DW_WIDE): depthwise 3x3 and 5x5 convolutions
 * on more than 16 channels, undilated, stride 1 (5x5 also stride 2).
 * oneDNN 2.6 runs them at 40-65 GFLOP/s on bf16 tensors on one core (it
 * widens every tap's bf16 load); here one block of 16 channels at a time
 * fills a small ring of fp32 rows (widened once, zero padded,
 * L1-resident), and 8 output pixels are made in registers, each input
 * vector loaded once per kernel row and used by every tap that reaches it.
 * Rows are processed in bands so that a band's input stays in L2 while its
 * channel blocks pass over it. Weights stay fp32.
 *
 * Scope: batch 1; narrow kinds stride 1 with any kernel size, dilation
 * and padding, the wide kind as above; fp32 or bf16 input and output;
 * post-ops: bias, a clamp (ReLU / ReLU6), then optionally a residual
 * addend and a second clamp; the executor uses these kernels only for
 * such nodes.
 *
 * Ownership: nn_narrow borrows its weights (the plan owns them);
 * nn_narrow_run reads x and writes y (caller-owned), using ws as scratch.
 */
#ifndef KM_NN_NARROW_H
#define KM_NN_NARROW_H

#include <stddef.h>

#define NN_NARROW_MAX_SPAN 64 /* (kh - 1) * dh + 1 input rows per output row */

typedef enum { NN_NARROW_DEPTHWISE, NN_NARROW_ONE_OUT, NN_NARROW_POINTWISE, NN_NARROW_DW_WIDE } nn_narrow_kind;

typedef struct nn_narrow {
    nn_narrow_kind kind;
    int h, w, c;            /* input (batch 1, NHWC) */
    int oh, ow;             /* output: co channels */
    int co;                 /* c (depthwise), 1 (one output), 2-16 dividing 16 (pointwise) */
    int kh, kw, dh, dw;     /* kernel and dilation */
    int stride;             /* 1; the wide kind also 2 (both axes) */
    int pt, pl;             /* top and left zero padding */
    int in_bf16, out_bf16;
    const float *wrep;      /* [kh][kw][16]: weight of lane l is w[ky][kx][l % c];
                             * pointwise: [c][16], lane l is w[l % co][ci];
                             * wide: [kh][kw][c rounded up to 16], zero padded */
    const float *brep;      /* [16]: bias of lane l, b[l % co]; wide: [c rounded up] */
    float lo, hi;           /* y = clamp(conv + bias, lo, hi), then with an */
    int add_bf16;           /* addend: y = clamp(y + add, lo2, hi2) */
    float lo2, hi2;
} nn_narrow;

/* 1 when this build has the AVX-512 kernels. The portable C versions
 * (other builds) are several times slower than oneDNN (BlazePose lite 29
 * vs 6.5 ms in fp32), so the executor then uses them only when asked to
 * (KM_NN_PORTABLE=1: tests, to cover them). */
int nn_narrow_vectorized(void);
/* 1 when a node with these parameters fits the kernels (co: output
 * channels of a dense convolution, 0 for depthwise). */
int nn_narrow_fits(int c, int co, int kh, int kw, int dh);
/* 1 when a depthwise node with these parameters fits the wide kind. */
int nn_narrow_wide_fits(int c, int kh, int kw, int dh, int dw, int stride);
/* Bytes of workspace nn_narrow_run needs. */
size_t nn_narrow_workspace(const nn_narrow *d);
/* add: the addend (output shape, fp32 or bf16 per add_bf16) or NULL. */
void nn_narrow_run(const nn_narrow *d, const void *x, const void *add, void *y, void *ws);

#endif
