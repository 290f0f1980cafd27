/*
 * oracle.h - time the reference (Google's runtimes) in a benchmark's own
 * run: bench/nn/oracle_bench.js through node, on the same model files.
 *
 * Why: performance claims print kinema beside its reference from one
 * program run. The oracle needs a copy of ../shared/oracle with its
 * node_modules installed (tests/data/golden/pose/README.md); without one
 * the oracle columns stay empty. Header-only: each bench is one program.
 */
#ifndef KM_BENCH_ORACLE_H
#define KM_BENCH_ORACLE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The oracle's median ms per model name (bench_nn's names), 0 = none. */
typedef struct oracle_row {
    char name[32];
    double ms;
} oracle_row;

static oracle_row g_oracle[16];
static int g_noracle;

/* Run the oracle once (median of 15 inferences per model, one thread),
 * keeping its ms per model name (bench_nn's names). */
static inline void run_oracle(const char *oracle_dir, const char *models_dir)
{
    char probe[1200];
    snprintf(probe, sizeof(probe), "%s/node_modules", oracle_dir);
    struct stat st;
    if (stat(probe, &st) != 0) {
        printf("# no oracle at %s (copy ../shared/oracle there and npm install): oracle columns empty\n", oracle_dir);
        return;
    }
    setenv("ORACLE", oracle_dir, 1);
    setenv("MODELS", models_dir, 1);
    FILE *f = popen("node bench/nn/oracle_bench.js 15 2>/dev/null", "r");
    char line[256];
    while (f && fgets(line, sizeof(line), f) && g_noracle < 16) {
        oracle_row *r = &g_oracle[g_noracle];
        const char *ms = strstr(line, " ms");
        const char *num = ms;
        while (num && num > line && (num[-1] == '.' || (num[-1] >= '0' && num[-1] <= '9')))
            num--;
        if (ms && sscanf(line, "%31s", r->name) == 1 && (r->ms = atof(num)) > 0)
            g_noracle++;
    }
    if (f)
        pclose(f);
    printf("# oracle (bench/nn/oracle_bench.js, %s): %d models timed\n", oracle_dir, g_noracle);
}

/* The oracle's median ms for `name`, 0 if it was not timed. */
static inline double oracle_ms(const char *name)
{
    for (int i = 0; i < g_noracle; i++)
        if (strcmp(g_oracle[i].name, name) == 0)
            return g_oracle[i].ms;
    return 0;
}

/* The oracle directory: $KM_ORACLE_DIR, else /tmp/oracle. */
static inline const char *oracle_default_dir(void)
{
    const char *d = getenv("KM_ORACLE_DIR");
    return d && *d ? d : "/tmp/oracle";
}

#endif
