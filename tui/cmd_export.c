/*
 * cmd_export: `loadscope export SESSION --what samples|intervals|summary|hotpaths|folded`
 * writes a stored session as CSV (core/csv: RFC 4180, '.' decimals in any
 * locale, formula-looking text neutralized). hotpaths is one row per traced
 * allocation stack; folded is not CSV but flame-graph input, one
 * "root;...;leaf count" line per stack.
 *
 * Rows stream from the database straight into the CSV writer: the only
 * memory held is the steps' names (a scenario's worth), so an export of
 * millions of samples runs in the same few megabytes as one of a hundred.
 * With -o FILE the CSV goes to a new temporary file beside FILE
 * (util/safefile), is flushed to disk and renamed over FILE only once
 * complete; a failed or interrupted export removes the temporary file and
 * leaves FILE as it was.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aws/aws_retry.h"
#include "cli.h"
#include "util/csv.h"
#include "util/safefile.h"
#include "store.h"
#include "store_alloc.h"
#include "store_alloc_read.h"
#include "store_read.h"

#define EXPORT_USAGE                                                                               \
    "usage: loadscope export SESSION|latest --what samples|intervals|summary|hotpaths|folded "   \
    "[-o FILE] "           \
    "[--db FILE]"

enum what { W_SAMPLES, W_INTERVALS, W_SUMMARY, W_HOTPATHS, W_FOLDED };

/* Set by SIGINT/SIGTERM: the row callbacks stop, the temporary file is removed. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

struct step_name {
    int idx;
    char *name;
};

struct exp {
    struct csv *csv;
    struct step_name *steps; /* owned; sorted by idx (store_steps_each's order) */
    size_t nsteps, capsteps;
    ls_err werr; /* first CSV write error */
    bool interrupted;
    bool oom; /* a step name could not be copied */
    /* hotpaths and folded */
    struct store_alloc_info ai;
    uint64_t rank;
    FILE *out;          /* folded writes lines itself */
    uint64_t lines;     /* folded lines written */
};

static int add_step(void *ctx, const struct store_step *s)
{
    struct exp *x = ctx;

    if (x->nsteps == x->capsteps) {
        size_t cap = x->capsteps ? x->capsteps * 2 : 16;
        struct step_name *n = realloc(x->steps, cap * sizeof(*n));

        if (n == NULL) {
            x->oom = true;
            return 1;
        }
        x->steps = n;
        x->capsteps = cap;
    }
    x->steps[x->nsteps].idx = s->idx;
    x->steps[x->nsteps].name = strdup(s->name);
    if (x->steps[x->nsteps].name == NULL) {
        x->oom = true;
        return 1;
    }
    x->nsteps++;
    return 0;
}

/* The step's name, "ALL" for -1, NULL (an empty cell) for an index with no step row. */
static const char *step_name(const struct exp *x, int idx)
{
    size_t lo = 0, hi = x->nsteps;

    if (idx == -1)
        return "ALL";
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (x->steps[mid].idx == idx)
            return x->steps[mid].name;
        if (x->steps[mid].idx < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Ends a row; returns non-zero (stop) on a write error or a signal. */
static int end_row(struct exp *x)
{
    ls_err e = csv_end_row(x->csv);

    if (e != LS_OK) {
        x->werr = e;
        return 1;
    }
    if (stop_requested) {
        x->interrupted = true;
        return 1;
    }
    return 0;
}

static const char *const sample_cols[] = {
    "seq",         "worker",    "vu",         "step",         "step_name",   "intended_ns",
    "start_ns",    "end_ns",    "latency_us", "u_latency_us", "dns_us",      "connect_us",
    "tls_us",      "ttfb_us",   "bytes_out",  "bytes_in",     "status",      "err",
    "error_class", "rpc_code",  "flags",      "new_conn",     "warmup",      "late",
    "attempts",    "followups", "retries",    "backoff_us",   "last_try_us", "aws_code",
};

static int sample_row(void *ctx, const struct ls_sample *s)
{
    struct exp *x = ctx;
    struct csv *c = x->csv;

    csv_u64(c, s->seq);
    csv_u64(c, s->worker);
    csv_u64(c, s->vu);
    csv_u64(c, s->step);
    csv_text(c, step_name(x, s->step));
    csv_u64(c, s->intended_ns);
    csv_u64(c, s->start_ns);
    csv_u64(c, s->end_ns);
    /* ns to us with three exact decimals; signed so a clock oddity shows as negative */
    csv_fixed(c, (int64_t)(s->end_ns - s->intended_ns), 3);
    csv_fixed(c, (int64_t)(s->end_ns - s->start_ns), 3);
    csv_u64(c, s->dns_us);
    csv_u64(c, s->connect_us);
    csv_u64(c, s->tls_us);
    csv_u64(c, s->ttfb_us);
    csv_u64(c, s->bytes_out);
    csv_u64(c, s->bytes_in);
    csv_u64(c, s->status);
    csv_u64(c, s->err);
    csv_text(c, ls_errclass_name((enum ls_errclass)s->err));
    csv_i64(c, s->rpc_code);
    csv_u64(c, s->flags);
    csv_u64(c, (s->flags & LS_SF_NEW_CONN) != 0);
    csv_u64(c, (s->flags & LS_SF_WARMUP) != 0);
    csv_u64(c, (s->flags & LS_SF_LATE) != 0);
    csv_u64(c, s->attempts);
    csv_u64(c, s->followups);
    csv_u64(c, s->retries);
    csv_u64(c, s->backoff_us);
    csv_u64(c, s->last_try_us);
    csv_text(c, s->aws_code != 0 ? aws_code_name(s->aws_code) : NULL);
    return end_row(x);
}

#define LATENCY_HEADER                                                                             \
    "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us", "u_p50_us", "u_p90_us",          \
        "u_p99_us", "u_p999_us", "u_max_us", "u_mean_us"

static void latency_cells(struct csv *c, const int64_t v[5], double mean, const int64_t u[5],
                          double u_mean)
{
    for (int k = 0; k < 5; k++)
        csv_i64(c, v[k]);
    csv_f64(c, mean);
    for (int k = 0; k < 5; k++)
        csv_i64(c, u[k]);
    csv_f64(c, u_mean);
}

static const char *const interval_cols[] = {
    "second",     "step",   "step_name", "warmup",       "count",
    "rate_per_s", "errors", "late",      LATENCY_HEADER,
};

static int interval_row(void *ctx, const struct store_interval *iv)
{
    struct exp *x = ctx;
    struct csv *c = x->csv;
    const int64_t v[5] = {iv->p50_us, iv->p90_us, iv->p99_us, iv->p999_us, iv->max_us};
    const int64_t u[5] = {iv->u_p50_us, iv->u_p90_us, iv->u_p99_us, iv->u_p999_us, iv->u_max_us};

    csv_u64(c, iv->second);
    csv_i64(c, iv->step);
    csv_text(c, step_name(x, iv->step));
    csv_u64(c, iv->warmup);
    csv_u64(c, iv->count);
    csv_u64(c, iv->count); /* an interval is one second: completions per second */
    csv_u64(c, iv->errors);
    csv_u64(c, iv->late);
    latency_cells(c, v, iv->mean_us, u, iv->u_mean_us);
    return end_row(x);
}

#define SUMMARY_FIXED_COLS 6 /* before the latency columns */

static ls_err summary_header(struct csv *c)
{
    static const char *const cols[] = {
        "step", "step_name", "count", "rate_per_s", "errors", "error_rate", LATENCY_HEADER,
    };
    char name[64];

    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
        csv_text(c, cols[i]);
    for (int k = 1; k < LS_EC__COUNT; k++) {
        snprintf(name, sizeof(name), "errors_%s", ls_errclass_name((enum ls_errclass)k));
        csv_text(c, name);
    }
    return csv_end_row(c);
}

static int summary_row(void *ctx, const struct store_summary *sm)
{
    struct exp *x = ctx;
    struct csv *c = x->csv;
    const int64_t v[5] = {sm->p50_us, sm->p90_us, sm->p99_us, sm->p999_us, sm->max_us};
    const int64_t u[5] = {sm->u_p50_us, sm->u_p90_us, sm->u_p99_us, sm->u_p999_us, sm->u_max_us};

    csv_i64(c, sm->step);
    csv_text(c, step_name(x, sm->step));
    csv_u64(c, sm->count);
    csv_f64(c, sm->rate);
    csv_u64(c, sm->errors);
    if (sm->count > 0)
        csv_f64(c, (double)sm->errors / (double)sm->count);
    else
        csv_empty(c);
    latency_cells(c, v, sm->mean_us, u, sm->u_mean_us);
    for (int k = 1; k < LS_EC__COUNT; k++)
        csv_u64(c, sm->err_by_class[k]);
    return end_row(x);
}

static const char *const hot_cols[] = {
    "rank",          "pid",          "stack_key",      "blame_function", "blame_file",
    "blame_line",    "blame",        "label",          "allocs",         "bytes",
    "reallocs",      "frees",        "freed_bytes",    "short_lived",    "short_lived_share",
    "live_bytes",    "allocs_per_s", "bytes_per_s",    "allocs_per_req", "bytes_per_req",
    "seconds",       "traced_seconds", "requests",     "stack",
};

/* A share or a rate; an empty cell when the denominator is zero. */
static void ratio_cell(struct csv *c, uint64_t num, uint64_t den)
{
    if (den == 0)
        csv_empty(c);
    else
        csv_f64(c, (double)num / (double)den);
}

/* One traced stack with its totals over the session and its rates. */
static int hot_row(void *ctx, const struct store_hotpath *h)
{
    struct exp *x = ctx;
    struct csv *c = x->csv;
    const char *base = strrchr(h->blame_file, '/');
    char *blame = NULL;
    size_t cap = strlen(h->blame_function) + strlen(h->blame_file) + 32;

    base = base != NULL ? base + 1 : h->blame_file;
    blame = malloc(cap);
    if (blame == NULL) {
        x->oom = true;
        return 1;
    }
    /* as the dashboard and `trace` show it: function (file:line) */
    if (base[0] != '\0')
        snprintf(blame, cap, "%s (%s:%lld)", h->blame_function, base, (long long)h->blame_line);
    else
        snprintf(blame, cap, "%s", h->blame_function);
    csv_u64(c, ++x->rank);
    csv_i64(c, h->pid);
    csv_i64(c, h->stack_key);
    csv_text(c, h->blame_function);
    csv_text(c, h->blame_file);
    csv_i64(c, h->blame_line);
    csv_text(c, blame);
    csv_text(c, h->label);
    csv_u64(c, h->allocs);
    csv_u64(c, h->bytes);
    csv_u64(c, h->reallocs);
    csv_u64(c, h->frees);
    csv_u64(c, h->freed_bytes);
    csv_u64(c, h->short_lived);
    ratio_cell(c, h->short_lived, h->allocs);
    csv_i64(c, h->live_bytes);
    ratio_cell(c, h->allocs, x->ai.seconds);
    ratio_cell(c, h->bytes, x->ai.seconds);
    ratio_cell(c, h->allocs, x->ai.requests);
    ratio_cell(c, h->bytes, x->ai.requests);
    csv_u64(c, h->seconds);
    csv_u64(c, x->ai.seconds);
    csv_u64(c, x->ai.requests);
    csv_text(c, h->frames); /* one frame per line, innermost first: RFC 4180 quotes it */
    free(blame);
    return end_row(x);
}

/* One flame-graph line: root;...;leaf allocations. */
static int folded_row(void *ctx, const struct store_hotpath *h)
{
    struct exp *x = ctx;

    if (h->allocs == 0 || h->folded[0] == '\0')
        return 0;
    if (fprintf(x->out, "%s %llu\n", h->folded, (unsigned long long)h->allocs) < 0) {
        x->werr = LS_ERR_IO;
        return 1;
    }
    x->lines++;
    if (stop_requested) {
        x->interrupted = true;
        return 1;
    }
    return 0;
}

/* Parses "latest" or a positive decimal id; 0 when it is neither. */
static int parse_session(const char *s, bool *latest, int64_t *id)
{
    char *end = NULL;
    long long v;

    *latest = strcmp(s, "latest") == 0;
    if (*latest)
        return 1;
    if (s[0] < '0' || s[0] > '9')
        return 0;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0)
        return 0;
    *id = v;
    return 1;
}

/* Writes the chosen table of session id to f. Messages name out_name. */
static int export_to(struct store *st, int64_t id, enum what what, FILE *f, const char *out_name,
                     struct exp *x)
{
    ls_err e;

    if (csv_open(f, &x->csv) != LS_OK) {
        fprintf(stderr, "loadscope export: out of memory\n");
        return LS_EXIT_RUNTIME;
    }
    switch (what) {
    case W_SAMPLES:
        e = csv_header(x->csv, sample_cols, sizeof(sample_cols) / sizeof(sample_cols[0]));
        if (e == LS_OK)
            e = store_samples_each(st, id, sample_row, x);
        break;
    case W_INTERVALS:
        e = csv_header(x->csv, interval_cols, sizeof(interval_cols) / sizeof(interval_cols[0]));
        if (e == LS_OK)
            e = store_intervals_each(st, id, INT32_MIN, interval_row, x);
        break;
    case W_HOTPATHS:
        e = csv_header(x->csv, hot_cols, sizeof(hot_cols) / sizeof(hot_cols[0]));
        if (e == LS_OK)
            e = store_alloc_hotpaths(st, id, 0, 0, hot_row, x);
        if (e == LS_OK && x->oom) {
            fprintf(stderr, "loadscope export: out of memory\n");
            return LS_EXIT_RUNTIME;
        }
        break;
    case W_FOLDED:
        x->out = f;
        e = store_alloc_hotpaths(st, id, 0, 0, folded_row, x);
        if (x->werr == LS_OK && ferror(f))
            x->werr = LS_ERR_IO;
        break;
    case W_SUMMARY:
    default:
        e = summary_header(x->csv);
        if (e == LS_OK)
            e = store_summaries_each(st, id, summary_row, x);
        break;
    }
    if (x->werr == LS_OK && e == LS_ERR_IO)
        x->werr = e; /* the header row failed */
    /* a signal first: it may also have broken a blocked write (EINTR) */
    if (x->interrupted || stop_requested) {
        fprintf(stderr, "loadscope export: interrupted; %s\n",
                f == stdout ? "the output is incomplete" : "nothing written");
        return LS_EXIT_INTERRUPTED;
    }
    if (x->werr == LS_OK && e != LS_OK) {
        fprintf(stderr, "loadscope export: %s\n", store_errmsg(st));
        return LS_EXIT_RUNTIME;
    }
    if (x->werr == LS_OK && what != W_FOLDED)
        x->werr = csv_finish(x->csv);
    if (x->werr == LS_OK && what == W_FOLDED && fflush(f) != 0)
        x->werr = LS_ERR_IO;
    if (x->werr != LS_OK) {
        int en = what == W_FOLDED ? errno : csv_errno(x->csv);
        fprintf(stderr, "loadscope export: writing %s: %s\n", out_name, strerror(en != 0 ? en : EIO));
        return LS_EXIT_RUNTIME;
    }
    if (what == W_SUMMARY && csv_rows(x->csv) <= 1)
        fprintf(stderr,
                "loadscope export: session %lld has no summary (it did not finish: still running, "
                "or killed); its samples and per-second intervals are stored (--what samples, "
                "--what intervals)\n",
                (long long)id);
    return LS_EXIT_OK;
}

/*
 * Exports into a new temporary file beside path (util/safefile: never a
 * name planted there), renamed over path only when complete.
 */
static int export_file(struct store *st, int64_t id, enum what what, const char *path,
                       struct exp *x)
{
    struct safefile sf;
    char why[512];
    int rc;

    if (safefile_open(path, &sf, why, sizeof(why)) != LS_OK) {
        fprintf(stderr, "loadscope export: cannot write %s (%s)\n", path, why);
        return LS_EXIT_RUNTIME;
    }
    rc = export_to(st, id, what, sf.f, path, x);
    if (rc != LS_EXIT_OK) {
        safefile_abort(&sf);
        return rc;
    }
    if (safefile_commit(&sf, why, sizeof(why)) != LS_OK) {
        fprintf(stderr, "loadscope export: cannot write %s (%s)\n", path, why);
        return LS_EXIT_RUNTIME;
    }
    if (what == W_FOLDED)
        fprintf(stderr, "loadscope export: %llu folded stacks written to %s\n",
                (unsigned long long)x->lines, path);
    else
        fprintf(stderr, "loadscope export: %llu rows (and a header) written to %s\n",
                (unsigned long long)(csv_rows(x->csv) - 1), path);
    return LS_EXIT_OK;
}

int cli_export(int argc, char **argv)
{
    const char *db = NULL, *out = NULL, *sess = NULL, *what_s = NULL;
    struct exp x;
    struct store *st = NULL;
    struct sigaction sa, old_int, old_term;
    char path[4096], err[1024];
    enum what what;
    bool latest = false;
    int64_t id = 0;
    int rc;

    memset(&x, 0, sizeof(x));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;

        if (strcmp(a, "--db") == 0 && has_val) {
            db = argv[++i];
        } else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && has_val) {
            out = argv[++i];
        } else if (strcmp(a, "--what") == 0 && has_val) {
            what_s = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0' && !(a[1] >= '0' && a[1] <= '9')) {
            fprintf(stderr,
                    "loadscope export: unknown option or missing value: %s\n" EXPORT_USAGE "\n", a);
            return LS_EXIT_USAGE;
        } else if (sess == NULL) {
            sess = a;
        } else {
            fprintf(stderr, "loadscope export: unexpected argument %s\n" EXPORT_USAGE "\n", a);
            return LS_EXIT_USAGE;
        }
    }
    if (sess == NULL || what_s == NULL) {
        fprintf(stderr, "loadscope export: %s\n" EXPORT_USAGE "\n",
                sess == NULL ? "which session? give an id or \"latest\"" : "--what is required");
        return LS_EXIT_USAGE;
    }
    if (strcmp(what_s, "samples") == 0) {
        what = W_SAMPLES;
    } else if (strcmp(what_s, "intervals") == 0) {
        what = W_INTERVALS;
    } else if (strcmp(what_s, "summary") == 0) {
        what = W_SUMMARY;
    } else if (strcmp(what_s, "hotpaths") == 0) {
        what = W_HOTPATHS;
    } else if (strcmp(what_s, "folded") == 0) {
        what = W_FOLDED;
    } else {
        fprintf(stderr,
                "loadscope export: --what %s: expected samples, intervals or summary (a traced "
                "session also has hotpaths and folded)\n",
                what_s);
        return LS_EXIT_USAGE;
    }
    if (!parse_session(sess, &latest, &id)) {
        fprintf(stderr,
                "loadscope export: bad session \"%s\": expected a session id (a positive "
                "number, see `loadscope sessions`) or \"latest\"\n",
                sess);
        return LS_EXIT_USAGE;
    }
    if (cli_db_path(db, path, sizeof(path)))
        return LS_EXIT_RUNTIME;
    /* Read-only: a missing file is said to be missing, not created; nothing is changed. */
    if (store_open_readonly(path, &st, err, sizeof(err)) != LS_OK) {
        fprintf(stderr, "loadscope export: %s\n", err);
        return LS_EXIT_RUNTIME;
    }
    if (latest && store_session_latest(st, &id) != LS_OK) {
        fprintf(stderr, "loadscope export: %s: %s\n", path, store_errmsg(st));
        rc = LS_EXIT_RUNTIME;
        goto out;
    }
    ls_err e = store_steps_each(st, id, add_step, &x);
    if (e == LS_ERR_NOTFOUND) {
        fprintf(stderr, "loadscope export: no session %lld in %s (see `loadscope sessions`)\n",
                (long long)id, path);
        rc = LS_EXIT_USAGE;
        goto out;
    }
    if (e != LS_OK || x.oom) {
        fprintf(stderr, "loadscope export: reading the steps of session %lld: %s\n", (long long)id,
                e != LS_OK ? store_errmsg(st) : "out of memory");
        rc = LS_EXIT_RUNTIME;
        goto out;
    }
    if (what == W_HOTPATHS || what == W_FOLDED) {
        if (store_alloc_info(st, id, &x.ai) != LS_OK) {
            fprintf(stderr, "loadscope export: %s\n", store_errmsg(st));
            rc = LS_EXIT_RUNTIME;
            goto out;
        }
        if (x.ai.stacks == 0) {
            fprintf(stderr,
                    "loadscope export: session %lld has no allocation stacks to export (%s); "
                    "trace one with `loadscope run --trace-allocations` or `loadscope trace`\n",
                    (long long)id,
                    x.ai.processes == 0 ? "it was not traced"
                    : strcmp(x.ai.mode, "count") == 0 ? "it was traced in count mode, which keeps no stacks"
                                                      : "the tracer recorded none");
            rc = LS_EXIT_USAGE;
            goto out;
        }
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    if (out != NULL && strcmp(out, "-") != 0)
        rc = export_file(st, id, what, out, &x);
    else
        rc = export_to(st, id, what, stdout, "standard output", &x);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
out:
    csv_free(x.csv);
    for (size_t i = 0; i < x.nsteps; i++)
        free(x.steps[i].name);
    free(x.steps);
    store_close(st);
    return rc;
}
