/*
 * cmd_trace: `loadscope trace [options] -- COMMAND [ARGS]`: the options; the
 * tracing itself is the application's (app/trace.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "trace.h"

static void trace_usage(FILE *f)
{
    fprintf(f,
            "usage: loadscope trace [options] -- COMMAND [ARGS]\n"
            "  --mode count|full|sampled   counters only, a stack for every allocation (default),\n"
            "                              or sampled stacks\n"
            "  --sample-bytes N            sampled: mean Poisson interval in bytes (default 524288)\n"
            "  --sample-every N            sampled: 1 allocation in N (instead of by bytes)\n"
            "  --depth N                   frames per stack (default 64, at most 256)\n"
            "  --format table|csv|folded   output (default table)\n"
            "  --sort allocs|bytes|live    ranking (default allocs)\n"
            "  --top N                     hot paths shown (default 10; 0: all)\n"
            "  --stacks                    print every hot path's full stack\n"
            "  --include-deps              blame may land in std or dependency code\n"
            "  --follow-fork               trace forked children too\n"
            "  --worker-threads NAMES      async runtime worker thread names, comma-separated, whose\n"
            "                              blocking calls are timed (default tokio-runtime-worker)\n"
            "  --db FILE                   session database\n");
}

static bool parse_u64(const char *opt, const char *v, uint64_t *out)
{
    char *end = NULL;
    if (v == NULL || *v == '\0' || *v == '-') {
        fprintf(stderr, "loadscope trace: %s needs a number\n", opt);
        return false;
    }
    unsigned long long x = strtoull(v, &end, 10);
    if (*end != '\0') {
        fprintf(stderr, "loadscope trace: %s: \"%s\" is not a number\n", opt, v);
        return false;
    }
    *out = x;
    return true;
}

static int parse_trace_args(int argc, char **argv, struct trace_opts *o)
{
    o->ao.mode = ALLOC_FULL;
    o->top = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n;
        if (strcmp(a, "--") == 0) {
            if (i + 1 >= argc)
                break;
            o->cmd = argv + i + 1;
            return 0;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            trace_usage(stdout);
            return -1;
        } else if (strcmp(a, "--mode") == 0 || strncmp(a, "--mode=", 7) == 0) {
            const char *m = a[6] == '=' ? a + 7 : (i++, v);
            if (m == NULL || !alloc_mode_parse(m, &o->ao.mode)) {
                fprintf(stderr, "loadscope trace: --mode: expected count, full or sampled, found \"%s\"\n",
                        m ? m : "");
                return LS_EXIT_USAGE;
            }
        } else if (strcmp(a, "--format") == 0) {
            i++;
            if (v && strcmp(v, "table") == 0)
                o->format = FMT_TABLE;
            else if (v && strcmp(v, "csv") == 0)
                o->format = FMT_CSV;
            else if (v && strcmp(v, "folded") == 0)
                o->format = FMT_FOLDED;
            else {
                fprintf(stderr, "loadscope trace: --format: expected table, csv or folded, found \"%s\"\n",
                        v ? v : "");
                return LS_EXIT_USAGE;
            }
        } else if (strcmp(a, "--sort") == 0) {
            i++;
            if (v && strcmp(v, "allocs") == 0)
                o->sort = ALLOC_BY_ALLOCS;
            else if (v && strcmp(v, "bytes") == 0)
                o->sort = ALLOC_BY_BYTES;
            else if (v && strcmp(v, "live") == 0)
                o->sort = ALLOC_BY_LIVE;
            else {
                fprintf(stderr, "loadscope trace: --sort: expected allocs, bytes or live, found \"%s\"\n",
                        v ? v : "");
                return LS_EXIT_USAGE;
            }
        } else if (strcmp(a, "--sample-bytes") == 0) {
            i++;
            if (!parse_u64(a, v, &o->ao.sample_bytes) || o->ao.sample_bytes == 0)
                return LS_EXIT_USAGE;
        } else if (strcmp(a, "--sample-every") == 0) {
            i++;
            if (!parse_u64(a, v, &o->ao.sample_every) || o->ao.sample_every == 0)
                return LS_EXIT_USAGE;
        } else if (strcmp(a, "--depth") == 0) {
            i++;
            if (!parse_u64(a, v, &n) || n == 0 || n > 256) {
                fprintf(stderr, "loadscope trace: --depth: expected 1 to 256\n");
                return LS_EXIT_USAGE;
            }
            o->ao.depth = (uint32_t)n;
        } else if (strcmp(a, "--top") == 0) {
            i++;
            if (!parse_u64(a, v, &n))
                return LS_EXIT_USAGE;
            o->top = (size_t)n;
        } else if (strcmp(a, "--db") == 0) {
            i++;
            if (v == NULL) {
                fprintf(stderr, "loadscope trace: --db needs a file\n");
                return LS_EXIT_USAGE;
            }
            o->db = v;
        } else if (strcmp(a, "--stacks") == 0) {
            o->stacks = true;
        } else if (strcmp(a, "--include-deps") == 0) {
            o->ao.include_deps = true;
        } else if (strcmp(a, "--follow-fork") == 0) {
            o->ao.follow_fork = true;
        } else if (strcmp(a, "--worker-threads") == 0) {
            i++;
            if (v == NULL || strlen(v) >= 4096) {
                fprintf(stderr, "loadscope trace: --worker-threads needs thread names, comma-separated\n");
                return LS_EXIT_USAGE;
            }
            o->ao.worker_threads = v;
        } else {
            fprintf(stderr, "loadscope trace: unknown option \"%s\"\n", a);
            trace_usage(stderr);
            return LS_EXIT_USAGE;
        }
    }
    fprintf(stderr, "loadscope trace: which command? usage: loadscope trace [options] -- COMMAND [ARGS]\n");
    return LS_EXIT_USAGE;
}

int cli_trace(int argc, char **argv)
{
    struct trace_opts o = {0};
    char dbpath[4096];
    int rc = parse_trace_args(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? LS_EXIT_OK : rc;
    rc = cli_db_path(o.db, dbpath, sizeof(dbpath));
    if (rc != 0)
        return rc;
    return app_trace(&o, dbpath);
}
