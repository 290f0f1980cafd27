/*
 * kinema/nn.h - neural network runtime: load a .tflite or TF.js graph model,
 * plan it once, run it many times on oneDNN (fp32 or bf16).
 *
 * Contract used by the pose layer (src/pose):
 *   - Inputs and outputs are float32 tensors in the model's own layout
 *     (NHWC for these models). Integer inputs (MoveNet takes int32 RGB) are
 *     passed as floats holding integer values; the runtime converts.
 *   - A km_model is one executor: km_model_run is not reentrant on the same
 *     model. To run inferences in parallel, km_model_clone() gives another
 *     executor that shares the (read-only) weights.
 */
#ifndef KINEMA_NN_H
#define KINEMA_NN_H

#include <stdint.h>
#include "kinema/util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KM_NN_MAXDIM 6

typedef enum { KM_PREC_AUTO = 0, KM_PREC_FP32, KM_PREC_BF16 } km_precision;

typedef struct km_model_opts {
    km_precision precision;      /* AUTO: bf16 where the CPU has AMX/AVX512-BF16 */
    int threads;                 /* threads for one inference; 0 = 1 */
    const char *const *outputs;  /* cut the graph at these tensor names; NULL = model outputs */
    int noutputs;
    int use_reference;           /* 1: run the plain-C reference kernels (tests) */
    /* Optional shape of input 0 for models with dynamic dimensions (TF.js
     * MoveNet MultiPose takes any multiple of 32, e.g. {1,256,256,3}); it
     * replaces the -1 dimensions. NULL: the model's signature shape, and
     * batch 1. */
    const int64_t *input_shape;
    int input_ndim;
    /* bf16 only: convolutions reading an fp32 image (1-4 channels) compute
     * in fp32 and pass fp32 on, instead of rounding every pixel to bf16.
     * Costs the fp32 intermediate's traffic (about 0.06 ms for BlazePose
     * full, 5 % of MoveNet Thunder); MoveNet Lightning's keypoints need it
     * (src/pose/net.c). */
    int image_fp32;
} km_model_opts;

typedef struct km_tensor_info {
    const char *name;            /* borrowed from the model */
    int ndim;
    int64_t shape[KM_NN_MAXDIM];
} km_tensor_info;

typedef struct km_model km_model;

/* Load `path` (.tflite, or a TF.js model.json with its .bin shards beside
 * it); opts may be NULL. Output tensors are named as in the file: .tflite
 * tensor names ("Identity", ...); TF.js signature keys ("ld_3d",
 * "output_poseflag", ...), or the names given in opts->outputs (a
 * signature key or a node name, ":0" optional). Look outputs up by name.
 * Malformed files fail with KM_EFORMAT, unsupported ops with
 * KM_EUNSUPPORTED naming the op and the node. Free with km_model_free.
 * See docs/nn.md (MoveNet head names, threads, bf16 accuracy). */
int km_model_load(km_model **out, const char *path, const km_model_opts *opts);
/* Another executor sharing the weights of `m` (which must outlive it). */
int km_model_clone(km_model **out, const km_model *m);
int km_model_ninputs(const km_model *m);
int km_model_noutputs(const km_model *m);
const km_tensor_info *km_model_input(const km_model *m, int i);
const km_tensor_info *km_model_output(const km_model *m, int i);
/* Index of the output named `name` (see km_model_load), or -1. */
int km_model_find_output(const km_model *m, const char *name);
/* Run: inputs[i] / outputs[i] are caller-owned float buffers of the sizes
 * given by the tensor infos. */
int km_model_run(km_model *m, const float *const *inputs, float *const *outputs);
/* Floating-point operations of one inference (multiply-add = 2). */
double km_model_flops(const km_model *m);
void km_model_free(km_model *m);

#ifdef __cplusplus
}
#endif
#endif /* KINEMA_NN_H */
