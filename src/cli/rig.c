/*
 * rig.c - what `kinema calibrate` and `kinema triangulate` share: read a
 * calibration and one keypoint file per camera, and check that they fit.
 */
#include <string.h>

#include "cli/cli.h"

int cli_rig_read(const char *cmd, const char *calib_path, const char *calib_what, int n,
                 const char *const *files, int person, km_calib *cal, km_kp2d *views)
{
    memset(views, 0, sizeof *views * (size_t)n);
    if (km_calib_read(calib_path, cal))
        return cli_fail(cmd, calib_what);
    int rc = 0;
    for (int c = 0; c < n && rc == 0; c++)
        if (km_kp2d_read(files[c], person, &views[c]))
            rc = cli_fail(cmd, "cannot read keypoints");
    if (!rc && km_rig_check(cal, n, files, views))
        rc = cli_fail(cmd, "inputs do not match the calibration");
    if (rc)
        cli_rig_free(cal, n, views);
    return rc;
}

void cli_rig_free(km_calib *cal, int n, km_kp2d *views)
{
    for (int c = 0; c < n; c++)
        km_kp2d_free(&views[c]);
    km_calib_free(cal);
}
