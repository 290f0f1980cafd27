/*
 * narrow.h - kinema's own kernels for convolutions on narrow tensors:
 * stride-1 convolutions whose input has 1, 2, 4, 8 or 16 channels,
 * either depthwise or to a single output channel.
 *
 * Why: BlazePose's segmentation head works on 256x256 maps of 8 channels
 * (two depthwise 3x3 layers, then a 3x3 convolution from 8 channels to
 * 1); oneDNN 2.6 blocks channels by 16 or more and ran these at 10-25
 * GFLOP/s (0.3-0.8 ms each, the largest steps of BlazePose lite and
 * full). With C dividing 16 one 16-lane vector holds 16/C whole pixels,
 * an input row is a flat float array, and every tap of a stride-1
 * convolution is that array shifted by kx * dw * C floats: one FMA per
 * vector per tap against weights replicated over the vector's pixels.
 *
 * Scope: batch 1, stride 1, any kernel size, dilation and padding, fp32 or
 * bf16 input and output, bias and a clamp (ReLU / ReLU6); the executor
 * uses these kernels only for such nodes.
 *
 * Ownership: nn_narrow borrows its weights (the plan owns them);
 * nn_narrow_run reads x and writes y (caller-owned), using ws as scratch.
 */
#ifndef KM_NN_NARROW_H
#define KM_NN_NARROW_H

#include <stddef.h>

#define NN_NARROW_MAX_SPAN 64 /* (kh - 1) * dh + 1 input rows per output row */

typedef enum { NN_NARROW_DEPTHWISE, NN_NARROW_ONE_OUT } nn_narrow_kind;

typedef struct nn_narrow {
    nn_narrow_kind kind;
    int h, w, c;            /* input (batch 1, NHWC) */
    int oh, ow;             /* output: c channels (depthwise) or 1 */
    int kh, kw, dh, dw;     /* kernel and dilation; stride is 1 */
    int pt, pl;             /* top and left zero padding */
    int in_bf16, out_bf16;
    const float *wrep;      /* [kh][kw][16]: weight of lane l is w[ky][kx][l % c] */
    const float *brep;      /* [16]: bias of lane l (one-output: all lanes the bias) */
    float lo, hi;           /* y = clamp(conv + bias, lo, hi) */
} nn_narrow;

/* 1 when a node with these parameters fits the kernels. */
int nn_narrow_fits(int c, int kh, int dh);
/* Bytes of workspace nn_narrow_run needs. */
size_t nn_narrow_workspace(const nn_narrow *d);
void nn_narrow_run(const nn_narrow *d, const void *x, void *y, void *ws);

#endif
