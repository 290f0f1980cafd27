/*
 * loaders.h - model file readers that lower a model into the nn_graph IR.
 *
 * Why separate: each format (TFLite flatbuffer, TF.js graph model) has its
 * own parser module; both produce the same IR with fp32 constants, pruned
 * to the requested outputs.
 *
 * Ownership: `g` must be zero-initialised by the caller and is filled on
 * success; on failure it may hold partial content and the caller frees it
 * with nn_graph_free. `outputs` (tensor names, may be NULL) is borrowed.
 */
#ifndef KM_NN_LOADERS_H
#define KM_NN_LOADERS_H

#include <stddef.h>
#include <stdint.h>

#include "nn/graph.h"

/* In the loaders' parse steps: evaluate x (a KM_* code) and return it from
 * the enclosing function if it is not 0. */
#define CK(x)                   \
    do {                        \
        int rc_ = (x);          \
        if (rc_)                \
            return rc_;         \
    } while (0)

/* Parse a .tflite file held in memory (borrowed). */
int nn_load_tflite(nn_graph *g, const uint8_t *data, size_t len, const char *const *outputs, int noutputs);
/* Parse a TF.js graph model: model.json at `json_path`, weight shards
 * resolved relative to its directory. in_shape (may be NULL) replaces the
 * dynamic (-1) dimensions of the first input. */
int nn_load_tfjs(nn_graph *g, const char *json_path, const char *const *outputs, int noutputs,
                 const int64_t *in_shape, int in_ndim);

#endif
