/*
 * rig.c - do these per-camera keypoint files fit this calibration?
 *
 * Why: triangulation and self-calibration pair file c with calibration
 * camera c. A wrong count, a wrong image size, different frames or a
 * different skeleton silently give garbage 3D, so they are refused with a
 * message naming the file; so is a file whose name or `input` names
 * another camera of the calibration (cameras given in the wrong order).
 */
#include <ctype.h>
#include <string.h>

#include "kinema/geom.h"

/* True if `name` occurs in `s` as a whole token (not inside a longer
 * run of letters/digits, so "cam_1" does not match "cam_10"). */
static int mentions(const char *s, const char *name)
{
    size_t n = strlen(name);
    if (!s || n == 0)
        return 0;
    for (const char *p = strstr(s, name); p; p = strstr(p + 1, name)) {
        int before = p > s && isalnum((unsigned char)p[-1]);
        int after = isalnum((unsigned char)p[n]);
        if (!before && !after)
            return 1;
    }
    return 0;
}

static int names_camera(const char *path, const km_kp2d *v, const char *name)
{
    const char *base = strrchr(path, '/');
    return mentions(base ? base + 1 : path, name) || mentions(v->input, name);
}

int km_rig_check(const km_calib *cal, int n, const char *const *paths, const km_kp2d *views)
{
    if (n != cal->ncams)
        return km_seterr(KM_EINVAL, "%d keypoint files but the calibration has %d cameras", n,
                         cal->ncams);
    for (int c = 0; c < n; c++) {
        const km_camera *k = &cal->cams[c];
        const km_kp2d *v = &views[c];
        if (v->width != k->width || v->height != k->height)
            return km_seterr(KM_EINVAL, "%s: image size %dx%d differs from calibration camera "
                                        "'%s' (%dx%d)",
                             paths[c], v->width, v->height, k->name, k->width, k->height);
        if (v->skel != views[0].skel)
            return km_seterr(KM_EINVAL, "%s: keypoint_format %s differs from %s in %s", paths[c],
                             km_skeleton_id(v->skel), km_skeleton_id(views[0].skel), paths[0]);
        if (v->nframes != views[0].nframes)
            return km_seterr(KM_EINVAL, "%s: frame count %d differs from %d in %s", paths[c],
                             v->nframes, views[0].nframes, paths[0]);
        for (int f = 0; f < v->nframes; f++)
            if (v->frame_index[f] != views[0].frame_index[f])
                return km_seterr(KM_EINVAL, "%s: frame numbers differ from %s at entry %d (%d vs "
                                            "%d); the cameras must be synchronised",
                                 paths[c], paths[0], f, v->frame_index[f],
                                 views[0].frame_index[f]);
        if (names_camera(paths[c], v, k->name))
            continue;
        for (int j = 0; j < cal->ncams; j++)
            if (j != c && names_camera(paths[c], v, cal->cams[j].name))
                return km_seterr(KM_EINVAL, "%s: names camera '%s' but is given in position %d, "
                                            "which the calibration calls '%s' (give the files in "
                                            "the calibration's camera order)",
                                 paths[c], cal->cams[j].name, c + 1, k->name);
    }
    return 0;
}
