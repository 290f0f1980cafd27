/*
 * validate.c - request field checks with uniform 400 answers.
 *
 * Why: every API names the bad field and the rule the same way, so
 * clients can map errors to inputs; ids are the only strings that ever
 * reach file paths.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_priv.h"

static int missing(km_req *r, const char *field)
{
    km_resp_error(r, 400, "missing_field", field, "field %s is required", field);
    return KM_EINVAL;
}

int km_text_id(km_req *r, const char *field, const char *text, int required)
{
    if (!text)
        return required ? missing(r, field) : KM_ENOTFOUND;
    if (!km_id_ok(text)) {
        km_resp_error(r, 400, "invalid_id", field,
                      "field %s must match [A-Za-z0-9_-]{1,64}", field);
        return KM_EINVAL;
    }
    return KM_OK;
}

int km_text_int(km_req *r, const char *field, const char *text, int required, int64_t lo,
                int64_t hi, int64_t *out)
{
    if (!text)
        return required ? missing(r, field) : KM_ENOTFOUND;
    const char *p = text;
    while (*p == ' ')
        p++;
    int neg = *p == '-';
    if (neg || *p == '+')
        p++;
    size_t nd = strspn(p, "0123456789");
    size_t rest = strspn(p + nd, " \r\n");
    if (nd == 0 || p[nd + rest] != 0 || nd > 18) {
        if (nd > 18 && p[nd + rest] == 0) {
            km_resp_error(r, 400, "out_of_range", field, "field %s must be in %lld..%lld",
                          field, (long long)lo, (long long)hi);
            return KM_ERANGE;
        }
        km_resp_error(r, 400, "invalid_field", field, "field %s must be an integer", field);
        return KM_EINVAL;
    }
    long long v = strtoll(p, NULL, 10);
    if (neg)
        v = -v;
    if (v < lo || v > hi) {
        km_resp_error(r, 400, "out_of_range", field, "field %s must be in %lld..%lld", field,
                      (long long)lo, (long long)hi);
        return KM_ERANGE;
    }
    *out = v;
    return KM_OK;
}

int km_field_id(km_req *r, json_t *obj, const char *field, int required, const char **out)
{
    json_t *v = json_object_get(obj, field);
    if (!v || json_is_null(v))
        return required ? missing(r, field) : KM_ENOTFOUND;
    if (!json_is_string(v)) {
        km_resp_error(r, 400, "invalid_field", field, "field %s must be a string", field);
        return KM_EINVAL;
    }
    int rc = km_text_id(r, field, json_string_value(v), required);
    if (!rc)
        *out = json_string_value(v);
    return rc;
}

int km_field_int(km_req *r, json_t *obj, const char *field, int required, int64_t lo,
                 int64_t hi, int64_t *out)
{
    json_t *v = json_object_get(obj, field);
    if (!v || json_is_null(v))
        return required ? missing(r, field) : KM_ENOTFOUND;
    if (!json_is_integer(v)) {
        km_resp_error(r, 400, "invalid_field", field, "field %s must be an integer", field);
        return KM_EINVAL;
    }
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi) {
        km_resp_error(r, 400, "out_of_range", field, "field %s must be in %lld..%lld", field,
                      (long long)lo, (long long)hi);
        return KM_ERANGE;
    }
    *out = x;
    return KM_OK;
}
