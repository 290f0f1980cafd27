/*
 * cmd_probe.c - `kinema probe FILE|URL`: a video's properties as JSON.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

#include "cli/cli.h"
#include "kinema/media.h"

int cmd_probe(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-')
        return cli_usage_error("probe", "%s", argc < 2 ? "missing FILE" : "expected exactly one FILE");
    km_video_info info;
    if (km_probe(argv[1], &info) != KM_OK)
        return cli_fail("probe", "cannot probe");
    json_t *o = json_pack("{s:s, s:i, s:i, s:f, s:I, s:f, s:s}", "file", argv[1], "width",
                          info.width, "height", info.height, "fps", info.fps, "frames",
                          (json_int_t)info.frames, "duration", info.duration, "codec", info.codec);
    if (!o)
        return cli_fail("probe", "out of memory");
    json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    putchar('\n');
    json_decref(o);
    return KM_EXIT_OK;
}
