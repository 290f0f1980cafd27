/*
 * error.c - error codes and the thread-local error message.
 *
 * Like sqlite3_errmsg(): a failing function stores a message saying what and
 * where, and returns a negative code; the caller reads km_errmsg() on the
 * same thread. Messages are bounded (KM_ERRMSG_MAX) and truncated, never
 * allocated, so setting an error cannot itself fail.
 */
#include <stdio.h>

#include "kinema/util.h"

#define KM_ERRMSG_MAX 512

static _Thread_local char errmsg[KM_ERRMSG_MAX];

const char *km_errmsg(void)
{
    return errmsg;
}

int km_seterr(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    return code;
}

void km_clearerr(void)
{
    errmsg[0] = '\0';
}

const char *km_strerror(int code)
{
    switch (code) {
    case KM_OK: return "ok";
    case KM_EINVAL: return "invalid argument";
    case KM_ENOMEM: return "out of memory or size limit exceeded";
    case KM_EIO: return "I/O error";
    case KM_EFORMAT: return "malformed data";
    case KM_ENOTFOUND: return "not found";
    case KM_EUNSUPPORTED: return "not supported";
    case KM_ERANGE: return "out of range";
    case KM_EEOF: return "end of stream";
    case KM_EAGAIN: return "try again";
    case KM_ECLOSED: return "closed";
    case KM_EEXIST: return "already exists";
    case KM_ECANCELED: return "cancelled";
    case KM_EINTERNAL: return "internal error";
    default: return "unknown error";
    }
}
