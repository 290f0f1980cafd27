/*
 * jsonout.h - the last step of the geom JSON writers (keypoints, exports,
 * calibration): encode a document and write it atomically.
 */
#ifndef KINEMA_GEOM_JSONOUT_H
#define KINEMA_GEOM_JSONOUT_H

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kinema/util.h"

/* Encode root with json_dumps `flags` and write it to path with
 * km_write_file_atomic. Takes (decrefs) root. `name` is what an encoding
 * failure (KM_ENOMEM) is reported against, usually path. */
static inline int geom_json_write(const char *path, json_t *root, size_t flags, const char *name)
{
    char *text = json_dumps(root, flags);
    json_decref(root);
    if (!text)
        return km_seterr(KM_ENOMEM, "%s: JSON encoding failed", name);
    int rc = km_write_file_atomic(path, text, strlen(text));
    free(text);
    return rc;
}

#endif
