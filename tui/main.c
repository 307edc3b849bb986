/*
 * main: loadscope's entry point; dispatches to the subcommands.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "engine/engine.h"

static void usage(FILE *f)
{
    fprintf(f,
            "loadscope %s: load, profile and explain MCP servers\n"
            "\n"
            "usage:\n"
            "  loadscope run SCENARIO.json --headless [options]   run a load scenario\n"
            "      --duration 10s     measured duration (after warm-up)\n"
            "      --warmup 2s        warm-up, measured but kept apart from the results\n"
            "      --rate 500         open loop at this many requests/s (constant)\n"
            "      --concurrency 32   virtual users (closed loop) or max in flight (open loop)\n"
            "      --workers 2        worker threads (default: one per core)\n"
            "      --db FILE          session database (default $XDG_DATA_HOME/loadscope/sessions.db)\n"
            "      --quiet            no per-second progress lines\n"
            "      --trace-allocations[=count|full|sampled]  profile the launched target's allocations\n"
            "      --trace-children   ... and those of the processes it starts (npx, uvx, a shell)\n"
            "  loadscope run SCENARIO.json [options]              the same with the live dashboard\n"
            "  loadscope demo [options]                           the bundled demo, with the dashboard\n"
            "  loadscope replay [SESSION] [--db FILE] [--speed X] replay a stored session's screens\n"
            "  loadscope sessions [--db FILE]                     list stored sessions (requests, rate,\n"
            "                                                     p99, errors)\n"
            "  loadscope export SESSION|latest --what samples|intervals|summary|hotpaths|folded|findings|\n"
            "                downstream|downstream-seconds\n"
            "                [--format csv|json|jsonl] [-o FILE] [--db FILE]\n"
            "                                                     write a stored session as CSV, JSON\n"
            "                                                     or JSON Lines\n"
            "  loadscope aws sign [--service dynamodb|s3] [--region R] [--method M] [--url URL]\n"
            "                [--header 'K: V']... [--body TEXT|--body-file F] [--date 20150830T123600Z]\n"
            "                                                     show a SigV4 signature step by step\n"
            "  loadscope trace [--mode count|full|sampled] [--format table|csv|folded] [--stacks]\n"
            "                [--db FILE] -- COMMAND [ARGS]        a program under the allocation tracer\n"
            "  loadscope compare A B [--db FILE] [--db-b FILE] [--fail-if 'p99 +10%%']...\n"
            "                                                     two sessions side by side, with 95%% intervals\n"
            "  loadscope compare --calibrate SESSION              how often noise is called a change here\n"
            "  loadscope version\n"
            "\n"
            "exit codes: 0 ok, 1 runtime error, 2 usage or invalid scenario, 3 target died,\n"
            "            99 thresholds crossed, 130 interrupted\n",
            LOADSCOPE_VERSION);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return LS_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return LS_EXIT_OK;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("loadscope %s (%s)\n", LOADSCOPE_VERSION, engine_http_version());
        return LS_EXIT_OK;
    }
    /* Past a file size limit (ulimit -f) a write fails with EFBIG, which storage reports and
     * survives, instead of the default SIGXFSZ ending loadscope with the session unfinished. */
    signal(SIGXFSZ, SIG_IGN);
    /* libdw would fetch debug info over the network when this is set; loadscope
     * symbolizes from the files on this machine only. */
    unsetenv("DEBUGINFOD_URLS");
    if (engine_global_init() != 0) {
        fprintf(stderr, "loadscope: libcurl failed to initialise\n");
        return LS_EXIT_RUNTIME;
    }
    int rc;
    if (strcmp(cmd, "run") == 0) {
        rc = cli_run(argc - 1, argv + 1);
    } else if (strcmp(cmd, "sessions") == 0) {
        rc = cli_sessions(argc - 1, argv + 1);
    } else if (strcmp(cmd, "demo") == 0) {
        rc = cli_demo(argc - 1, argv + 1);
    } else if (strcmp(cmd, "replay") == 0) {
        rc = cli_replay(argc - 1, argv + 1);
    } else if (strcmp(cmd, "aws") == 0) {
        rc = cli_aws(argc - 1, argv + 1);
    } else if (strcmp(cmd, "export") == 0) {
        rc = cli_export(argc - 1, argv + 1);
    } else if (strcmp(cmd, "trace") == 0) {
        rc = cli_trace(argc - 1, argv + 1);
    } else if (strcmp(cmd, "compare") == 0) {
        rc = cli_compare(argc - 1, argv + 1);
    } else {
        fprintf(stderr, "loadscope: unknown command \"%s\"\n\n", cmd);
        usage(stderr);
        rc = LS_EXIT_USAGE;
    }
    engine_global_cleanup();
    return rc;
}
