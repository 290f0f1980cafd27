/*
 * cmd_serve.c - `kinema serve`: parse flags, run the capture server
 * (km_serve_run in src/server/serve.c) until SIGTERM.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "kinema/server.h"

int cmd_serve(int argc, char **argv)
{
    km_serve_opts o;
    km_serve_opts_default(&o);
    static const struct option longs[] = {
        {"host", required_argument, 0, 'h'},       {"port", required_argument, 0, 'p'},
        {"data", required_argument, 0, 'd'},       {"db", required_argument, 0, 'b'},
        {"workers", required_argument, 0, 'w'},    {"token-file", required_argument, 0, 't'},
        {"max-upload", required_argument, 0, 'm'}, {"max-pending", required_argument, 0, 'q'},
        {"models", required_argument, 0, 'M'},     {"log-level", required_argument, 0, 'l'},
        {0, 0, 0, 0},
    };
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'h': o.host = optarg; break;
        case 'p':
            if (cli_parse_int(optarg, 1, 65535, &v))
                return cli_usage_error("serve", "--port must be 1..65535");
            o.port = (int)v;
            break;
        case 'd': o.data_dir = optarg; break;
        case 'b': o.db_url = optarg; break;
        case 'w':
            if (cli_parse_int(optarg, 0, 64, &v))
                return cli_usage_error("serve", "--workers must be 0..64 (0: ingest only)");
            o.workers = (int)v;
            break;
        case 't': o.token_file = optarg; break;
        case 'm':
            if (cli_parse_int(optarg, 1024, (long)1 << 40, &v))
                return cli_usage_error("serve", "--max-upload must be 1024..2^40 bytes");
            o.max_upload = v;
            break;
        case 'q':
            if (cli_parse_int(optarg, 1, 1000000, &v))
                return cli_usage_error("serve", "--max-pending must be 1..1000000");
            o.max_pending = (int)v;
            break;
        case 'M': o.models_dir = optarg; break;
        case 'l':
            if (km_log_level_parse(optarg) < 0)
                return cli_usage_error("serve", "--log-level must be debug|info|warn|error");
            km_log_set_level(km_log_level_parse(optarg));
            break;
        default: return cli_usage_error("serve", "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    km_serve_block_signals();
    if (km_serve_run(&o) != KM_OK)
        return cli_fail("serve", "server failed");
    return KM_EXIT_OK;
}
