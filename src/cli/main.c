/*
 * main.c - `kinema`: dispatch to a subcommand from one table.
 */
#include <stdarg.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
    const char *usage;
} command;

static const command commands[] = {
#define KM_CMD(name, fn, summary, usage) {name, fn, summary, usage},
#include "cli/commands.def"
#undef KM_CMD
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_overview(FILE *out)
{
    fprintf(out, "kinema %s - markerless motion capture and video analysis\n\n", KM_VERSION);
    fprintf(out, "usage: kinema <command> [args]\n       kinema help <command>\n"
                 "       kinema --version\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "kinema %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    const command *c = find_command(cmd);
    fprintf(stderr, "\nusage: %s\n", c ? c->usage : "kinema help");
    return KM_EXIT_USAGE;
}

int cli_fail(const char *cmd, const char *what)
{
    const char *msg = km_errmsg();
    fprintf(stderr, "kinema %s: %s%s%s\n", cmd, what, msg[0] ? ": " : "", msg);
    return KM_EXIT_FAIL;
}

int cli_parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        print_overview(stdout);
        return KM_EXIT_OK;
    }
    const command *c = find_command(argv[1]);
    if (!c) {
        fprintf(stderr, "kinema help: unknown command '%s'\n", argv[1]);
        print_overview(stderr);
        return KM_EXIT_USAGE;
    }
    printf("%s\n\nusage: %s\n", c->summary, c->usage);
    return KM_EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_overview(stderr);
        return KM_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("kinema %s\n", KM_VERSION);
        return KM_EXIT_OK;
    }
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        return cmd_help(argc - 1, argv + 1);
    const command *c = find_command(name);
    if (!c) {
        fprintf(stderr, "kinema: unknown command '%s'\n\n", name);
        print_overview(stderr);
        return KM_EXIT_USAGE;
    }
    /* `kinema CMD --help` prints that command's usage. */
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            char *hargv[] = {"help", (char *)c->name, NULL};
            return cmd_help(2, hargv);
        }
    return c->fn(argc - 1, argv + 1);
}
