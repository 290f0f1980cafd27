/*
 * ref.h - plain-C reference kernels, one per IR op.
 *
 * Why: they define what each op computes (TFLite semantics), are the
 * baseline the oneDNN path is tested against, and run the small ops
 * (pad, concat, depth-to-space, broadcast arithmetic) inside the fast
 * executor too. They favour clarity over speed.
 *
 * Ownership: kernels write into caller-owned `out` buffers sized by the
 * node's output tensor; inputs are borrowed.
 */
#ifndef KM_NN_REF_H
#define KM_NN_REF_H

#include <stddef.h>

#include "nn/graph.h"

/* Run node `n` of `g`: in[k] is the data of input k (constants included),
 * out the output buffer. Returns 0 or a KM_E code. */
int nn_ref_node(const nn_graph *g, const nn_node *n, const float *const *in, float *out);
/* Zero-pad node `nd` for elements of es bytes (fp32 or bf16: zero is all
 * zero bits in both), copying whole innermost rows. */
void nn_pad_copy(const nn_graph *g, const nn_node *nd, const void *x, void *y, size_t es);
/* DEPTH_TO_SPACE (DCR order) for elements of es bytes, one channel run
 * per output pixel. */
void nn_d2s_copy(const nn_graph *g, const nn_node *nd, const void *x, void *y, size_t es);
/* Apply a fused activation in place. */
void nn_ref_act(float *x, int64_t count, nn_act act);

#endif
