/*
 * npy_internal.h - .npy header parsing shared by npy.c and npz.c (not
 * public). npz.c uses it to check a member's declared size before
 * inflating it.
 */
#ifndef KINEMA_UTIL_NPY_INTERNAL_H
#define KINEMA_UTIL_NPY_INTERNAL_H

#include "kinema/util.h"

typedef struct {
    km_dtype dtype;
    int ndim;
    int64_t shape[KM_ARRAY_MAXDIM];
    int fortran;
    int swap;           /* data is in the other byte order */
    size_t nbytes;      /* data bytes the shape implies */
    size_t data_offset; /* where the data starts */
} npy_header;

/* Parses and checks the header of .npy bytes (the data may be absent or
 * partial). KM_EFORMAT / KM_EUNSUPPORTED with km_errmsg() on failure. */
int npy_parse_header(const uint8_t *buf, size_t len, npy_header *h);

#endif
