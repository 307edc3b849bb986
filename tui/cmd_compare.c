/*
 * cmd_compare: `loadscope compare A B [options]` and `loadscope compare
 * --calibrate SESSION`: the options; the comparison is app/compare.c's.
 *
 * A and B are session ids, `latest` or `latest~N` (the Nth before the
 * latest), from --db (and --db-b for B when the two runs were stored apart).
 * Exit codes: 0 compared (no gate held), 99 a --fail-if condition held, 2
 * bad arguments, 1 the database could not be read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compare.h"
#include "store.h"
#include "store_read.h"

#define MAX_GATES 32

static void compare_usage(FILE *f)
{
    fprintf(f,
            "usage: loadscope compare A B [--db FILE] [--db-b FILE] [--fail-if COND]...\n"
            "                 [--resamples N] [--seed N]\n"
            "       loadscope compare --calibrate SESSION [--rounds N] [--db FILE]\n"
            "  A, B             session ids, latest, or latest~N (the Nth before the latest)\n"
            "  --db-b FILE      B's database, when it is not A's\n"
            "  --fail-if COND   exit 99 when COND holds over the whole 95%% interval, e.g.\n"
            "                   'p99 +10%%', 'p50 +2ms', 'rate -5%%', 'error_rate +0.5pp',\n"
            "                   'STEP: p99 +10%%' (default: all steps)\n"
            "  --resamples N    bootstrap resamples (default 1000)\n"
            "  --seed N         the bootstrap's seed (default 1)\n"
            "  --calibrate S    A/A check: how often random halves of session S are called\n"
            "                   different (about 5%% per figure when the method holds)\n");
}

/* id, "latest" or "latest~N" into an id of st; false, having said why, when there is none. */
static bool resolve(struct store *st, const char *spec, int64_t *id)
{
    char *end = NULL;
    if (strncmp(spec, "latest", 6) == 0) {
        unsigned long back = 0;
        if (spec[6] == '~') {
            back = strtoul(spec + 7, &end, 10);
            if (end == spec + 7 || *end != '\0') {
                fprintf(stderr, "loadscope compare: \"%s\": expected latest~N\n", spec);
                return false;
            }
        } else if (spec[6] != '\0') {
            fprintf(stderr, "loadscope compare: \"%s\": expected an id, latest or latest~N\n", spec);
            return false;
        }
        int64_t latest = 0;
        if (store_session_latest(st, &latest) != LS_OK) {
            fprintf(stderr, "loadscope compare: no session stored yet\n");
            return false;
        }
        /* Ids grow with each session: walk back to the Nth existing one. */
        int64_t cand = latest;
        for (unsigned long k = 0; k < back; k++) {
            struct store_session ss;
            do {
                cand--;
            } while (cand > 0 && store_session_get(st, cand, &ss) != LS_OK);
            if (cand <= 0) {
                fprintf(stderr, "loadscope compare: \"%s\": there are fewer sessions than that\n", spec);
                return false;
            }
            store_session_clear(&ss);
        }
        *id = cand;
        return true;
    }
    long long v = strtoll(spec, &end, 10);
    if (end == spec || *end != '\0' || v <= 0) {
        fprintf(stderr, "loadscope compare: \"%s\": expected a session id, latest or latest~N\n", spec);
        return false;
    }
    *id = v;
    return true;
}

static bool parse_uint(const char *opt, const char *v, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    if (v == NULL || *v == '\0' || *v == '-') {
        fprintf(stderr, "loadscope compare: %s needs a number\n", opt);
        return false;
    }
    *out = strtoull(v, &end, 10);
    if (*end != '\0' || *out > max) {
        fprintf(stderr, "loadscope compare: %s: \"%s\" is not a number up to %llu\n", opt, v, max);
        return false;
    }
    return true;
}

int cli_compare(int argc, char **argv)
{
    const char *db = NULL, *db_b = NULL, *calibrate = NULL, *spec[2] = {NULL, NULL};
    struct cmp_gate gates[MAX_GATES];
    struct compare_opts o = {.seed = 1, .gates = gates};
    unsigned long long rounds = 100, n;
    size_t nspec = 0;
    char err[512];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            compare_usage(stdout);
            return LS_EXIT_OK;
        } else if (strcmp(a, "--db") == 0 || strcmp(a, "--db-b") == 0 || strcmp(a, "--calibrate") == 0) {
            if (v == NULL) {
                fprintf(stderr, "loadscope compare: %s needs a value\n", a);
                return LS_EXIT_USAGE;
            }
            *(strcmp(a, "--db") == 0 ? &db : strcmp(a, "--db-b") == 0 ? &db_b : &calibrate) = v;
            i++;
        } else if (strcmp(a, "--fail-if") == 0) {
            if (v == NULL || o.ngates == MAX_GATES) {
                fprintf(stderr, "loadscope compare: --fail-if needs a condition (at most %d)\n", MAX_GATES);
                return LS_EXIT_USAGE;
            }
            if (!cmp_gate_parse(v, &gates[o.ngates], err, sizeof(err))) {
                fprintf(stderr, "loadscope compare: --fail-if %s\n", err);
                return LS_EXIT_USAGE;
            }
            o.ngates++;
            i++;
        } else if (strcmp(a, "--resamples") == 0 || strcmp(a, "--seed") == 0 || strcmp(a, "--rounds") == 0) {
            if (!parse_uint(a, v, strcmp(a, "--seed") == 0 ? ~0ull : 1000000, &n))
                return LS_EXIT_USAGE;
            if (strcmp(a, "--resamples") == 0)
                o.resamples = (unsigned)n;
            else if (strcmp(a, "--seed") == 0)
                o.seed = n;
            else
                rounds = n;
            i++;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "loadscope compare: unknown option \"%s\"\n", a);
            compare_usage(stderr);
            return LS_EXIT_USAGE;
        } else if (nspec < 2) {
            spec[nspec++] = a;
        } else {
            fprintf(stderr, "loadscope compare: too many sessions (\"%s\"): give A and B\n", a);
            return LS_EXIT_USAGE;
        }
    }
    if (calibrate ? nspec != 0 : nspec != 2) {
        compare_usage(stderr);
        return LS_EXIT_USAGE;
    }
    char path[4096], path_b[4096];
    if (cli_db_path(db, path, sizeof(path)) || cli_db_path(db_b ? db_b : db, path_b, sizeof(path_b)))
        return LS_EXIT_RUNTIME;
    struct store *sa = NULL, *sb = NULL;
    int rc = LS_EXIT_RUNTIME;
    if (store_open_readonly(path, &sa, err, sizeof(err)) != LS_OK) {
        fprintf(stderr, "loadscope compare: cannot open %s: %s\n", path, err);
        return LS_EXIT_RUNTIME;
    }
    if (db_b != NULL && store_open_readonly(path_b, &sb, err, sizeof(err)) != LS_OK) {
        fprintf(stderr, "loadscope compare: cannot open %s: %s\n", path_b, err);
        goto out;
    }
    int64_t a = 0, b = 0;
    if (calibrate) {
        unsigned flagged;
        if (!resolve(sa, calibrate, &a)) {
            rc = LS_EXIT_USAGE;
            goto out;
        }
        if (compare_calibrate(sa, a, (unsigned)rounds, o.seed, &o, stdout, &flagged, err, sizeof(err)) != LS_OK) {
            fprintf(stderr, "loadscope compare: %s\n", err);
            goto out;
        }
        rc = LS_EXIT_OK;
        goto out;
    }
    if (!resolve(sa, spec[0], &a) || !resolve(sb ? sb : sa, spec[1], &b)) {
        rc = LS_EXIT_USAGE;
        goto out;
    }
    bool failed = false;
    ls_err e = compare_sessions(sa, a, sb ? sb : sa, b, &o, stdout, &failed, err, sizeof(err));
    if (e != LS_OK) {
        fprintf(stderr, "loadscope compare: %s\n", err);
        rc = e == LS_ERR_INVALID || e == LS_ERR_NOTFOUND ? LS_EXIT_USAGE : LS_EXIT_RUNTIME;
        goto out;
    }
    rc = failed ? LS_EXIT_THRESHOLDS : LS_EXIT_OK;
out:
    store_close(sb);
    store_close(sa);
    return rc;
}
