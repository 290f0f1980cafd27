/*
 * exec.h - the oneDNN executor: plan a graph once, run it many times.
 *
 * Why: planning (fusion of PAD/ADD/activations into convolutions, buffer
 * reuse by liveness, oneDNN primitive creation and the one-time reorder
 * of weights into the layout oneDNN picks) is costly and immutable, so it
 * lives in an nn_plan shared by every clone of a model; each nn_exec holds
 * only its stream and memory objects, so several executors of one plan can
 * run in parallel. A run's activations and scratchpad live in the calling
 * thread's workspace, shared by every executor that thread runs (they are
 * dead once the outputs are copied out) and freed when the thread exits.
 *
 * Ownership: an nn_plan borrows the graph (which must outlive it); an
 * nn_exec borrows its plan. Free executors before their plan.
 */
#ifndef KM_NN_EXEC_H
#define KM_NN_EXEC_H

#include "nn/graph.h"

typedef struct nn_plan nn_plan;
typedef struct nn_exec nn_exec;

/* flags: NN_PLAN_BF16 runs convolutions in bf16 (caller checked CPU
 * support); with it NN_PLAN_IMAGE_F32 keeps convolutions that read an fp32
 * image of 1-4 channels in fp32 (km_model_opts.image_fp32). */
enum { NN_PLAN_BF16 = 1, NN_PLAN_IMAGE_F32 = 2 };
int nn_plan_create(nn_plan **out, const nn_graph *g, int flags, int threads);
/* The same, and frees each convolution's IR weights (nn_graph_release) as
 * soon as the plan holds its own copy, so that a load never holds both in
 * full; g cannot be planned again afterwards. */
int nn_plan_create_consuming(nn_plan **out, nn_graph *g, int flags, int threads);
void nn_plan_free(nn_plan *p);
/* Pairs of a 1x1 and a depthwise convolution p runs band by band (tests
 * and diagnostics). */
int nn_plan_bands(const nn_plan *p);
int nn_exec_create(nn_exec **out, const nn_plan *p);
/* inputs/outputs follow g->in / g->out order. */
int nn_exec_run(nn_exec *e, const float *const *inputs, float *const *outputs);
void nn_exec_free(nn_exec *e);
/* Set the OpenMP thread count of the calling thread (used by oneDNN). */
void nn_set_threads(int n);
/* 1 when the CPU supports AMX-BF16 or AVX512-BF16. */
int nn_cpu_has_bf16(void);

#endif
