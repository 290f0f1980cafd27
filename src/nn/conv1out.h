/*
 * conv1out.h - kinema's own convolution to a single output channel.
 *
 * Why: BlazePose's segmentation head ends in a 3x3 convolution from 8
 * channels to 1 on a 256x256 map; oneDNN 2.6 runs it at 22 GFLOP/s in bf16
 * and 11 in fp32 (0.42 / 0.80 ms, the largest single step of BlazePose
 * full), since its kernels block output channels by 16 or more. Here the
 * input rows are flat vectors (C dividing 16 puts 16/C pixels in one
 * 16-lane vector) and each tap is one FMA per vector.
 *
 * Scope: stride 1, any kernel size, dilation and padding, C in {1, 2, 4,
 * 8, 16}, batch 1, fp32 or bf16 input and output, bias and a clamp
 * (ReLU / ReLU6); the executor uses it only for such nodes.
 *
 * Ownership: nn_conv1 borrows its weights (the plan owns them); nn_conv1_run
 * reads x and writes y (caller-owned), using ws as scratch.
 */
#ifndef KM_NN_CONV1OUT_H
#define KM_NN_CONV1OUT_H

#include <stddef.h>

#define NN_CONV1_MAX_SPAN 64 /* (kh - 1) * dh + 1 input rows per output row */

typedef struct nn_conv1 {
    int h, w, c;            /* input (batch 1, NHWC) */
    int oh, ow;             /* output, one channel */
    int kh, kw, dh, dw;     /* kernel and dilation; stride is 1 */
    int pt, pl;             /* top and left zero padding */
    int in_bf16, out_bf16;
    const float *wrep;      /* [kh][kw][16]: weight of lane l is w[ky][kx][l % c] */
    float bias, lo, hi;     /* y = clamp(conv + bias, lo, hi) */
} nn_conv1;

/* 1 when a node with these parameters fits the kernel. */
int nn_conv1_fits(int c, int kh, int dh);
/* Bytes of workspace nn_conv1_run needs. */
size_t nn_conv1_workspace(const nn_conv1 *d);
void nn_conv1_run(const nn_conv1 *d, const void *x, void *y, void *ws);

#endif
