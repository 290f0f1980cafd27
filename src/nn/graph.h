/*
 * graph.h - kinema's neural-network graph IR.
 *
 * Why: both model formats (.tflite, TF.js) are lowered to this one small IR
 * so that shape inference, the reference kernels and the oneDNN executor
 * are written once. Tensors are float32, NHWC for 4-D activations; integer
 * operands of the source formats (paddings, shapes, axes) become node
 * attributes at load time and constants are folded to fp32 data.
 *
 * Canonical constant layouts: CONV2D weights [O][KH][KW][I]; DWCONV2D
 * weights [1][KH][KW][C] (depth multiplier 1); biases [O].
 *
 * Ownership: an nn_graph owns its tensors' names and constant data and its
 * nodes' names; free everything with nn_graph_free.
 */
#ifndef KM_NN_GRAPH_H
#define KM_NN_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#define NN_MAXDIM 6
#define NN_MAXIN 16
#define NN_MAX_TENSORS (1 << 20)
#define NN_MAX_ELEMS ((int64_t)1 << 28)   /* per tensor: 1 GiB of fp32 */
#define NN_MAX_NAME 1024

typedef enum {
    NN_OP_CONV2D,
    NN_OP_DWCONV2D,
    NN_OP_ADD,
    NN_OP_SUB,
    NN_OP_MUL,
    NN_OP_MAXPOOL,
    NN_OP_AVGPOOL,
    NN_OP_PAD,
    NN_OP_RESHAPE,
    NN_OP_RESIZE_BILINEAR,
    NN_OP_SIGMOID,
    NN_OP_DEPTH_TO_SPACE,
    NN_OP_CONCAT,
    NN_OP_ACT,          /* standalone activation (attribute act) */
    NN_OP_COUNT
} nn_opk;

typedef enum { NN_ACT_NONE = 0, NN_ACT_RELU, NN_ACT_RELU6 } nn_act;

typedef struct nn_tensor {
    char *name;
    int ndim;
    int64_t shape[NN_MAXDIM];
    float *data;        /* constant values (owned), NULL for activations */
    int released;       /* data freed after planning (points to a placeholder) */
} nn_tensor;

typedef struct nn_node {
    nn_opk op;
    char *name;
    int nin;
    int in[NN_MAXIN];   /* tensor ids; conv: x, weights, bias */
    int out;            /* one output tensor */
    nn_act act;         /* fused activation */
    /* conv / pool */
    int stride[2], dil[2], kernel[2];
    int same;           /* 1: TF "SAME" padding, resolved by shape inference */
    int pad[4];         /* top, left, bottom, right (after inference) */
    /* pad */
    int64_t pads[NN_MAXDIM][2];
    /* concat axis, depth-to-space block, resize size / mode */
    int axis, block;
    int size[2];
    int align_corners, half_pixel;
} nn_node;

typedef struct nn_graph {
    nn_tensor *t;
    int nt, cap_t;
    nn_node *n;
    int nn, cap_n;
    int nin, nout;
    int in[NN_MAXIN];
    int out[NN_MAXIN];
} nn_graph;

const char *nn_op_name(nn_opk op);
void nn_graph_free(nn_graph *g);
/* New tensor (name copied, may be NULL); returns its id or a KM_E code. */
int nn_graph_add_tensor(nn_graph *g, const char *name, size_t namelen, int ndim, const int64_t *shape);
/* New constant tensor taking ownership of `data` (freed on failure too). */
int nn_graph_add_const(nn_graph *g, const char *name, int ndim, const int64_t *shape, float *data);
/* Append a node (copied; name copied) and infer its output shape. The
 * output tensor must exist; its shape is overwritten. */
int nn_graph_add_node(nn_graph *g, const nn_node *node, const char *name);
/* Element count of a tensor (shapes are validated to stay <= NN_MAX_ELEMS). */
int64_t nn_numel(const nn_tensor *t);
/* Check and compute an element count; KM_EFORMAT when invalid. */
int nn_shape_numel(int ndim, const int64_t *shape, int64_t *numel);
/* FLOPs of one node and of the graph (multiply-add = 2). */
double nn_node_flops(const nn_graph *g, const nn_node *n);
double nn_graph_flops(const nn_graph *g);
/* Tensor id by name, or -1. */
int nn_graph_find(const nn_graph *g, const char *name);
/* Convert IEEE half to float. */
float nn_half_to_float(uint16_t h);
/* Free the values of constant t (still marked constant; its data then
 * points to a one-float placeholder): the oneDNN plan keeps its own
 * reordered copy of convolution weights, so the IR copy can go. */
void nn_graph_release(nn_graph *g, int t);
/* Drop nodes that do not contribute to the graph outputs and constants
 * nobody uses (frees their data). */
void nn_graph_prune(nn_graph *g);

#endif
