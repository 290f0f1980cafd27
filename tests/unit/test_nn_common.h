/*
 * test_nn_common.h - graph-building helpers shared by the NN tests.
 *
 * Each test file defines NN_TEST_SEED and NN_TEST_RANGE (random values in
 * [-NN_TEST_RANGE, NN_TEST_RANGE]) before including this header, so every
 * file keeps its own reproducible random stream.
 */
#ifndef KM_TEST_NN_COMMON_H
#define KM_TEST_NN_COMMON_H

#include "nn/graph.h"
#include "test_common.h"

static uint64_t rs = NN_TEST_SEED;
static int irand(int lo, int hi) { return lo + (int)(tc_urand(&rs) * (hi - lo + 1)); }
static float *rand_data(int64_t n) { return tc_rand_floats(&rs, n, -NN_TEST_RANGE, NN_TEST_RANGE); }

/* A new activation tensor (its shape is overwritten by shape inference). */
static int act_t(nn_graph *g, int ndim, const int64_t *shape)
{
    int id = nn_graph_add_tensor(g, "t", 1, ndim, shape);
    assert_true(id >= 0);
    return id;
}

/* A new constant tensor of random values. */
static int const_t(nn_graph *g, int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    int id = nn_graph_add_const(g, "c", ndim, shape, rand_data(n));
    assert_true(id >= 0);
    return id;
}

#endif
