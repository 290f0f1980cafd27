/*
 * cli.h - what the subcommands of `kinema` share.
 *
 * Each subcommand is `int cmd_NAME(int argc, char **argv)` with argv[0] the
 * command name; it returns the process exit status: 0 success, 1 failure
 * (message on stderr), 2 usage error (usage on stderr). Commands only parse
 * flags, call the library and print: no logic of their own.
 */
#ifndef KINEMA_CLI_H
#define KINEMA_CLI_H

#include "kinema/geom.h"
#include "kinema/util.h"

#define KM_EXIT_OK 0
#define KM_EXIT_FAIL 1
#define KM_EXIT_USAGE 2

#define KM_CMD(name, fn, summary, usage) int fn(int argc, char **argv);
#include "cli/commands.def"
#undef KM_CMD

/* Print "kinema NAME: <message>" and the command's usage to stderr;
 * returns KM_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) KM_PRINTF(2, 3);
/* Print "kinema NAME: <message>: <km_errmsg()>" to stderr; returns
 * KM_EXIT_FAIL. */
int cli_fail(const char *cmd, const char *what);
/* Parse a whole decimal integer in [lo, hi]; 0 on success. */
int cli_parse_int(const char *s, long lo, long hi, long *out);
int cli_parse_double(const char *s, double lo, double hi, double *out);
/* Read the calibration at calib_path into *cal and keypoint file c of
 * files[0..n) into views[c] (person as in km_kp2d_read), then check them
 * with km_rig_check. On failure prints "kinema CMD: <what>: <reason>"
 * (calib_what names a calibration that cannot be read), frees whatever it
 * read and returns KM_EXIT_FAIL. On success returns 0 and the caller owns
 * *cal and views[0..n): free them with cli_rig_free. */
int cli_rig_read(const char *cmd, const char *calib_path, const char *calib_what, int n,
                 const char *const *files, int person, km_calib *cal, km_kp2d *views);
void cli_rig_free(km_calib *cal, int n, km_kp2d *views);

#endif
