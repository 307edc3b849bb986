/*
 * cmd_run: `loadscope run SCENARIO --headless`.
 *
 * Loads and validates the scenario, applies command-line overrides, opens
 * the session database, runs the engine with its samples and intervals
 * flowing to the storage writer, prints a progress line per second and the
 * end summary, checks the thresholds and returns the exit code.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util/clock.h"
#include "dash.h"
#include "aws/aws_run.h"
#include "downstream_run.h"
#include "engine/engine.h"
#include "stats/hdr.h"
#include "stats/live.h"
#include "report.h"
#include "findings.h"
#include "scenario/scenario.h"
#include "store.h"

struct run_opts {
    const char *scenario;
    const char *db;
    const char *duration, *warmup, *rate, *concurrency, *workers;
    int headless, quiet;
    int trace_mode;          /* --trace-allocations[=MODE]: enum alloc_mode, 0 = the scenario's */
    int trace_children;      /* --trace-children: the target's child processes too */
};

struct run_ctx {
    const struct scenario *s;
    struct store_writer *writer;
    struct engine *engine;
    struct live *live;       /* what the progress line and the dashboard show */
    int quiet, headless;
    uint8_t *enc, *u_enc;    /* encode buffers, grown to the largest interval seen */
    size_t enc_cap, u_enc_cap;
    _Atomic int store_failed; /* a write was refused or lost: the run ends storage_failed */
    _Atomic uint64_t last_ns; /* the newest sample's end, for events raised off the engine */
    struct trace_run *trace; /* allocation profiling of the target, or NULL */
    struct ds_run *ds;       /* the target's downstream AWS calls (target.downstream), or NULL */
    bool summaries_stored;   /* store_summaries ran */
};

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&ls_stop_requested, 1);
}

static void install_signals(int headless)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    /* A second Ctrl-C kills at once, as people expect when a stop hangs. */
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* Headless, a closed terminal or session (SIGHUP) ends the run as SIGTERM does, summary stored. */
    if (headless)
        sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int parse_args(int argc, char **argv, struct run_opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (strcmp(a, "--headless") == 0) {
            o->headless = 1;
            continue;
        }
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            o->quiet = 1;
            continue;
        }
        if (strcmp(a, "--trace-children") == 0) {
            o->trace_children = 1;
            continue;
        }
        if (strcmp(a, "--trace-allocations") == 0 || strncmp(a, "--trace-allocations=", 20) == 0) {
            const char *m = a[19] == '=' ? a + 20 : "full";
            o->trace_mode = strcmp(m, "count") == 0 ? 1 : strcmp(m, "full") == 0 ? 2
                          : strcmp(m, "sampled") == 0 ? 3 : -1;
            if (o->trace_mode < 0) {
                fprintf(stderr, "loadscope run: --trace-allocations=%s: expected count, full or sampled\n", m);
                return LS_EXIT_USAGE;
            }
            continue;
        }
        if (strcmp(a, "--db") == 0)
            slot = &o->db;
        else if (strcmp(a, "--duration") == 0 || strcmp(a, "-d") == 0)
            slot = &o->duration;
        else if (strcmp(a, "--warmup") == 0)
            slot = &o->warmup;
        else if (strcmp(a, "--rate") == 0 || strcmp(a, "-r") == 0)
            slot = &o->rate;
        else if (strcmp(a, "--concurrency") == 0 || strcmp(a, "-c") == 0)
            slot = &o->concurrency;
        else if (strcmp(a, "--workers") == 0 || strcmp(a, "-w") == 0)
            slot = &o->workers;
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "loadscope run: %s needs a value\n", a);
                return LS_EXIT_USAGE;
            }
            *slot = argv[++i];
            continue;
        }
        if (a[0] == '-') {
            fprintf(stderr, "loadscope run: unknown option %s\n", a);
            return LS_EXIT_USAGE;
        }
        if (o->scenario) {
            fprintf(stderr, "loadscope run: one scenario at a time (got %s and %s)\n", o->scenario, a);
            return LS_EXIT_USAGE;
        }
        o->scenario = a;
    }
    if (!o->scenario) {
        fprintf(stderr, "loadscope run: which scenario? usage: loadscope run SCENARIO.json --headless\n");
        return LS_EXIT_USAGE;
    }
    return 0;
}

static int parse_count(const char *opt, const char *text, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || *end || v == 0 || v > 1000000 || text[0] == '-') {
        fprintf(stderr, "loadscope run: %s expects a whole number from 1 to 1000000, not \"%s\"\n",
                opt, text);
        return LS_EXIT_USAGE;
    }
    *out = (uint32_t)v;
    return 0;
}

/* Command-line overrides, as oha and k6 users expect them. */
static int apply_overrides(struct scenario *s, const struct run_opts *o, uint32_t *workers)
{
    uint64_t ns;
    if (o->duration) {
        if (!scenario_parse_duration(o->duration, &ns) || ns == 0) {
            fprintf(stderr, "loadscope run: --duration expects a duration like 10s, 1m30s, 500ms; not \"%s\"\n",
                    o->duration);
            return LS_EXIT_USAGE;
        }
        s->duration_ns = ns;
    }
    if (o->warmup) {
        if (!scenario_parse_duration(o->warmup, &ns)) {
            fprintf(stderr, "loadscope run: --warmup expects a duration like 2s; not \"%s\"\n", o->warmup);
            return LS_EXIT_USAGE;
        }
        s->warmup_ns = ns;
    }
    if (o->concurrency) {
        uint32_t n;
        if (parse_count("--concurrency", o->concurrency, &n))
            return LS_EXIT_USAGE;
        s->concurrency = n;
        s->max_in_flight = n;
    }
    if (o->rate) {
        char *end;
        errno = 0;
        double r = strtod(o->rate, &end);
        if (errno || *end || !(r > 0) || r > 10000000) {
            fprintf(stderr, "loadscope run: --rate expects requests per second above 0, not \"%s\"\n", o->rate);
            return LS_EXIT_USAGE;
        }
        if (s->model == SCN_CLOSED && !o->concurrency)
            s->max_in_flight = s->concurrency > 1000 ? s->concurrency : 1000;
        s->model = SCN_OPEN;
        s->rate = r;
        s->stage_count = 0; /* a constant rate replaces the ramp */
    }
    *workers = 0;
    if (o->workers && parse_count("--workers", o->workers, workers))
        return LS_EXIT_USAGE;
    return 0;
}

static void on_samples(void *ctx, const struct ls_sample *s, size_t n)
{
    struct run_ctx *rc = ctx;
    if (store_writer_samples(rc->writer, s, n) != LS_OK)
        rc->store_failed = 1;
    if (n > 0)
        atomic_store_explicit(&rc->last_ns, s[n - 1].end_ns, memory_order_relaxed);
}

static void on_event(void *ctx, uint64_t t_ns, const char *kind, const char *message)
{
    struct run_ctx *rc = ctx;
    if (rc->writer && store_writer_event(rc->writer, t_ns, kind, message) != LS_OK)
        rc->store_failed = 1;
    if (rc->live)
        live_on_event(rc->live, t_ns, kind, message);
    /* With the dashboard up, the screen is curses': events are shown there. */
    if (rc->headless)
        fprintf(stderr, "[%6.1fs] %s: %s\n", (double)t_ns / 1e9, kind, message);
}

/* The writer's first failed transaction: said at once, and the run stops; storage failure wins. */
static void on_store_failure(void *ctx, const char *message)
{
    struct run_ctx *rc = ctx;
    char msg[768];
    rc->store_failed = 1;
    snprintf(msg, sizeof(msg), "storing the session failed, stopping the run: %s", message);
    on_event(rc, atomic_load_explicit(&rc->last_ns, memory_order_relaxed), "storage_failed", msg);
    atomic_store(&ls_stop_requested, 1);
}

static void fill_latency(const struct hdr *h, int64_t *p50, int64_t *p90, int64_t *p99,
                         int64_t *p999, int64_t *max, double *mean)
{
    *p50 = hdr_value_at_percentile(h, 50);
    *p90 = hdr_value_at_percentile(h, 90);
    *p99 = hdr_value_at_percentile(h, 99);
    *p999 = hdr_value_at_percentile(h, 99.9);
    *max = hdr_max(h);
    *mean = hdr_mean(h);
}

/* Encodes h into *buf, growing it to the size this histogram needs. */
static ls_err encode_into(const struct hdr *h, uint8_t **buf, size_t *cap, size_t *len)
{
    size_t need = hdr_encoded_size_max(h);
    if (need > *cap) {
        uint8_t *n = realloc(*buf, need);
        if (!n)
            return LS_ERR_NOMEM;
        *buf = n;
        *cap = need;
    }
    return hdr_encode(h, *buf, *cap, len);
}

static void on_interval(void *ctx, const struct coll_interval *iv)
{
    struct run_ctx *rc = ctx;
    if (rc->live)
        live_on_interval(rc->live, iv);
    trace_run_interval(rc->trace, iv->second, iv->step, iv->count);
    struct store_interval si = {
        .second = iv->second,
        .step = iv->step,
        .warmup = iv->warmup,
        .count = iv->count,
        .errors = iv->errors,
        .late = iv->late,
    };
    fill_latency(iv->corrected, &si.p50_us, &si.p90_us, &si.p99_us, &si.p999_us, &si.max_us,
                 &si.mean_us);
    fill_latency(iv->uncorrected, &si.u_p50_us, &si.u_p90_us, &si.u_p99_us, &si.u_p999_us,
                 &si.u_max_us, &si.u_mean_us);
    if (encode_into(iv->corrected, &rc->enc, &rc->enc_cap, &si.hist_len) == LS_OK &&
        encode_into(iv->uncorrected, &rc->u_enc, &rc->u_enc_cap, &si.u_hist_len) == LS_OK) {
        si.hist = rc->enc;
        si.u_hist = rc->u_enc;
    } else {
        si.hist_len = si.u_hist_len = 0;
    }
    if (store_writer_interval(rc->writer, &si) != LS_OK)
        rc->store_failed = 1;

    struct live_second sec;
    if (iv->step == -1 && !rc->quiet && rc->headless && rc->live && live_last_second(rc->live, &sec)) {
        /* The same second the dashboard shows, read back from the live model. */
        char p50[24], p99[24];
        report_fmt_us(sec.p50_us, p50, sizeof(p50));
        report_fmt_us(sec.p99_us, p99, sizeof(p99));
        double errpct = sec.count ? 100.0 * (double)sec.errors / (double)sec.count : 0;
        fprintf(stderr,
                "[%5us] rate %8llu/s  in flight %5llu  errors %6llu (%5.2f%%)  p50 %9s  p99 %9s%s\n",
                sec.second + 1, (unsigned long long)sec.count,
                (unsigned long long)engine_in_flight(rc->engine), (unsigned long long)sec.errors,
                errpct, sec.count ? p50 : "-", sec.count ? p99 : "-", sec.warmup ? "  (warm-up)" : "");
    }
}

static void summary_row(struct store_summary *sm, int step, const struct coll_totals *t, double secs)
{
    memset(sm, 0, sizeof(*sm));
    sm->step = step;
    sm->count = t->count;
    sm->errors = t->errors;
    sm->rate = secs > 0 ? (double)t->count / secs : 0;
    memcpy(sm->err_by_class, t->err_by_class, sizeof(sm->err_by_class));
    sm->err_by_class[LS_EC_OK] = 0; /* errors by class: successes are count - errors */
    fill_latency(t->corrected, &sm->p50_us, &sm->p90_us, &sm->p99_us, &sm->p999_us, &sm->max_us,
                 &sm->mean_us);
    fill_latency(t->uncorrected, &sm->u_p50_us, &sm->u_p90_us, &sm->u_p99_us, &sm->u_p999_us,
                 &sm->u_max_us, &sm->u_mean_us);
}

/*
 * The run's summary rows (each step, initialize, all steps) to the writer,
 * and the traced processes' summaries, once: with the dashboard, on the
 * engine's thread as soon as the run is over (see dash_watch_run).
 */
static void store_summaries(void *ctx)
{
    struct run_ctx *rc = ctx;
    if (rc->summaries_stored)
        return;
    rc->summaries_stored = true;
    /* The target has stopped: the proxies' last calls and seconds go to storage first. */
    if (ds_run_finish(rc->ds) != 0)
        rc->store_failed = 1;
    double secs = engine_measured_seconds(rc->engine);
    int nsteps = (int)rc->s->step_count;
    for (int i = 0; i <= nsteps + 1; i++) {
        int step = i <= nsteps ? i : -1;
        struct coll_totals t;
        struct store_summary sm;
        engine_totals(rc->engine, step, &t);
        summary_row(&sm, step, &t, secs);
        if (store_writer_summary(rc->writer, &sm) != LS_OK)
            rc->store_failed = 1;
    }
    if (trace_run_store(rc->trace) != 0)
        rc->store_failed = 1;
}

/* Describes the target for the session row and the header line. */
static void describe_target(const struct scenario *s, char *buf, size_t cap)
{
    if (s->transport == SCN_AWS) {
        snprintf(buf, cap, "aws (DynamoDB/S3 steps, no MCP target)");
        return;
    }
    if (s->transport == SCN_HTTP) {
        snprintf(buf, cap, "%s", s->url);
        return;
    }
    size_t off = (size_t)snprintf(buf, cap, "stdio:");
    for (char **a = s->command; a && *a && off < cap; a++)
        off += (size_t)snprintf(buf + off, cap - off, " %s", *a);
}

/* AWS steps: attempts, retries, follow-ups, backoff and failures by AWS error code. */
static void print_aws_summary(const struct engine *e, const struct scenario *s)
{
    struct aws_run_totals t;
    const char *names[64];
    uint64_t counts[64];
    if (!s->has_aws_steps)
        return;
    engine_aws_totals(e, &t);
    printf("\naws: %llu operation(s), %llu HTTP attempt(s), %llu retr%s, %llu batch follow-up(s), "
           "%.1f ms of backoff\n",
           (unsigned long long)t.ops, (unsigned long long)t.attempts, (unsigned long long)t.retries,
           t.retries == 1 ? "y" : "ies", (unsigned long long)t.followups, (double)t.backoff_us / 1e3);
    size_t n = engine_aws_error_codes(e, names, counts, 64);
    if (n > 64)
        n = 64;
    for (size_t i = 0; i < n; i++)
        printf("  failed with %-40s %llu\n", names[i], (unsigned long long)counts[i]);
}

static void params_json(const struct scenario *s, uint32_t workers, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "{\"model\":\"%s\",\"concurrency\":%u,\"rate\":%.3f,\"max_in_flight\":%u,"
             "\"duration_ns\":%llu,\"warmup_ns\":%llu,\"workers\":%u,\"keepalive\":%s,"
             "\"session\":\"%s\",\"timeout_ns\":%llu}",
             s->model == SCN_OPEN ? "open" : "closed", s->concurrency, s->rate, s->max_in_flight,
             (unsigned long long)s->duration_ns, (unsigned long long)s->warmup_ns, workers,
             s->keepalive ? "true" : "false",
             s->session == SCN_SESSION_PER_ITERATION ? "per_iteration" : "per_vu",
             (unsigned long long)s->timeout_ns);
}

/* Makes a relative target cwd relative to the scenario's folder, so scenarios travel. */
static char *resolve_dir(const char *scenario_path, const char *cwd)
{
    char real[PATH_MAX];
    if (!realpath(scenario_path, real))
        return NULL;
    char *dir = dirname(real);
    if (!cwd)
        return strdup(dir);
    if (cwd[0] == '/')
        return strdup(cwd);
    size_t n = strlen(dir) + strlen(cwd) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s/%s", dir, cwd);
    return out;
}

int cli_run(int argc, char **argv)
{
    struct run_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;

    char err[4096];
    struct scenario *s = NULL;
    struct store *st = NULL;
    struct engine *e = NULL;
    struct run_ctx ctx = {0};
    char *base_dir = NULL;
    int64_t session = 0;
    int exit_code = LS_EXIT_RUNTIME;
    uint32_t workers = 0;

    if (scenario_load(o.scenario, &s, err, sizeof(err)) != LS_OK) {
        fprintf(stderr, "loadscope: %s\n", err);
        return LS_EXIT_USAGE;
    }
    rc = apply_overrides(s, &o, &workers);
    if (rc) {
        exit_code = rc;
        goto out;
    }
    /* Checked once the scenario and options are known good: their errors come first. */
    char why[256];
    if (!o.headless && !dash_term_usable(why, sizeof(why))) {
        fprintf(stderr, "loadscope run: %s\n", why);
        exit_code = LS_EXIT_USAGE;
        goto out;
    }
    base_dir = resolve_dir(o.scenario, s->cwd);
    if (s->cwd) {
        free(s->cwd);
        s->cwd = base_dir ? strdup(base_dir) : NULL;
    }

    char dbpath[PATH_MAX];
    if (cli_db_path(o.db, dbpath, sizeof(dbpath)))
        goto out;
    if (store_open(dbpath, &st, err, sizeof(err)) != LS_OK) {
        fprintf(stderr, "loadscope: cannot open the session database %s: %s\n", dbpath, err);
        goto out;
    }

    ctx.s = s;
    ctx.quiet = o.quiet;
    ctx.headless = o.headless;
    rc = trace_run_open(s, o.trace_mode, o.trace_children, base_dir, &ctx.trace);
    if (rc) {
        exit_code = rc;
        goto out;
    }
    /* Downstream proxies: listening before the target starts, their env merged with the tracer's. */
    rc = ds_run_open(s, trace_run_inject(ctx.trace), on_event, on_store_failure, &ctx, &ctx.ds);
    if (rc) {
        exit_code = rc;
        goto out;
    }
    struct engine_opts eo = {.workers = workers, .base_dir = base_dir,
                             .inject = ds_run_inject(ctx.ds, trace_run_inject(ctx.trace)),
                             .mcp_hooks = ds_run_hooks(ctx.ds)};
    struct engine_callbacks cb = {.ctx = &ctx, .samples = on_samples, .interval = on_interval,
                                  .event = on_event};
    if (engine_open(s, &eo, &cb, &e) != LS_OK) {
        fprintf(stderr, "loadscope: out of memory\n");
        goto out;
    }
    ctx.engine = e;
    char target[1024], params[512], host[256] = "";
    describe_target(s, target, sizeof(target));
    params_json(s, engine_workers(e), params, sizeof(params));
    gethostname(host, sizeof(host) - 1);
    struct store_session_info info = {
        .name = s->name,
        .scenario_path = s->path,
        .scenario_text = s->text,
        .target = target,
        .params_json = params,
        .host = host,
        .version = LOADSCOPE_VERSION,
        .started_unix_ns = ls_unix_ns(),
    };
    if (store_session_begin(st, &info, &session) != LS_OK) {
        fprintf(stderr, "loadscope: %s\n", store_errmsg(st));
        goto out;
    }
    for (size_t i = 0; i < s->step_count; i++) {
        if (store_add_step(st, session, (int)i, s->steps[i].name, s->steps[i].method_name,
                           s->steps[i].weight, s->steps[i].params_text) != LS_OK) {
            fprintf(stderr, "loadscope: %s\n", store_errmsg(st));
            goto out;
        }
    }
    if (store_add_step(st, session, (int)s->step_count, "initialize", "initialize", 0, NULL) != LS_OK ||
        store_writer_start(st, session, &ctx.writer) != LS_OK) {
        fprintf(stderr, "loadscope: %s\n", store_errmsg(st));
        goto out;
    }
    store_writer_on_failure(ctx.writer, on_store_failure, &ctx);
    if (trace_run_attach(ctx.trace, st, session) != 0 || ds_run_attach(ctx.ds, st, session) != 0)
        goto out;

    fprintf(stderr, "loadscope %s: %s against %s\n", LOADSCOPE_VERSION, s->name, target);
    fprintf(stderr, "%s loop, %u %s, %u worker(s), %.1f s measured after %.1f s warm-up; session %lld in %s\n",
            s->model == SCN_OPEN ? "open" : "closed",
            s->model == SCN_OPEN ? s->max_in_flight : s->concurrency,
            s->model == SCN_OPEN ? "max in flight" : "virtual users", engine_workers(e),
            (double)s->duration_ns / 1e9, (double)s->warmup_ns / 1e9, (long long)session, dbpath);

    char load[128];
    snprintf(load, sizeof(load), "%s loop, %u %s", s->model == SCN_OPEN ? "open" : "closed",
             s->model == SCN_OPEN ? s->max_in_flight : s->concurrency,
             s->model == SCN_OPEN ? "max in flight" : "virtual users");
    const char **step_names = calloc(s->step_count + 1, sizeof(*step_names));
    for (size_t i = 0; step_names && i < s->step_count; i++)
        step_names[i] = s->steps[i].name;
    struct live_info li = {.scenario = s->name, .target = target, .load = load,
                           .step_names = step_names, .nsteps = (uint32_t)s->step_count,
                           .warmup_ns = s->warmup_ns, .duration_ns = s->duration_ns,
                           .session = session, .alloc = trace_run_alloc(ctx.trace),
                           .hot = trace_run_hotpaths(ctx.trace), .ds = ds_run_model(ctx.ds)};
    ls_err lrc = step_names ? live_open(&li, &ctx.live) : LS_ERR_NOMEM;
    free(step_names);
    if (lrc != LS_OK) {
        fprintf(stderr, "loadscope: out of memory\n");
        goto out;
    }
    if (o.headless)
        live_start(ctx.live);

    install_signals(o.headless);
    enum engine_end end;
    ls_err run_rc = o.headless ? engine_run(e, &end, err, sizeof(err))
                               : dash_watch_run(ctx.live, e, (uint32_t)s->step_count, dbpath, session,
                                                store_summaries, &ctx, &end, err, sizeof(err));
    if (run_rc != LS_OK) {
        fprintf(stderr, "loadscope: %s\n", err);
        if (store_writer_event(ctx.writer, 0, "error", err) != LS_OK)
            ctx.store_failed = 1;
        exit_code = LS_EXIT_RUNTIME;
    } else {
        double secs = engine_measured_seconds(e);
        size_t nrows = s->step_count + 2;
        struct report_step_row *rows = calloc(nrows, sizeof(*rows));
        struct coll_totals *tots = calloc(nrows, sizeof(*tots));
        if (!rows || !tots) {
            free(rows);
            free(tots);
            goto out;
        }
        for (size_t i = 0; i <= s->step_count; i++) {
            engine_totals(e, (int)i, &tots[i]);
            rows[i].name = i < s->step_count ? s->steps[i].name : "(initialize)";
            rows[i].tot = &tots[i];
        }
        engine_totals(e, -1, &tots[nrows - 1]);
        rows[nrows - 1].name = "ALL STEPS";
        rows[nrows - 1].tot = &tots[nrows - 1];
        store_summaries(&ctx);

        printf("\nsummary: %s, %.2f s measured", s->name, secs);
        if (engine_sessions_reinit(e))
            printf(", %llu lost session(s) re-initialized",
                   (unsigned long long)engine_sessions_reinit(e));
        printf("\n");
        report_print_steps(stdout, rows, nrows, secs);
        print_aws_summary(e, s);
        ds_run_print(ctx.ds, s, stdout);
        if (trace_run_finish(ctx.trace, stdout, 10) != 0)
            ctx.store_failed = 1;

        exit_code = LS_EXIT_OK;
        if (s->threshold_count) {
            printf("\nthresholds:\n");
            for (size_t i = 0; i < s->threshold_count; i++) {
                const struct scn_threshold *t = &s->thresholds[i];
                struct report_threshold_result r;
                const struct coll_totals *tt = t->step < 0 ? &tots[nrows - 1] : &tots[t->step];
                report_eval_threshold(t, tt, secs, &r);
                printf("  %-4s %s%s%s  (observed %s)\n", r.passed ? "ok" : "FAIL", t->text,
                       t->step >= 0 ? " for step " : "", t->step >= 0 ? s->steps[t->step].name : "",
                       r.observed_text);
                if (!r.passed)
                    exit_code = LS_EXIT_THRESHOLDS;
            }
        }
        /* A run in which no measured request succeeded did not do its job, whatever the
         * thresholds say: the target never answered, or answered nothing but errors. */
        const struct coll_totals *all = &tots[nrows - 1];
        const struct coll_totals *hs = &tots[s->step_count];
        bool none_ok = s->step_count > 0 && all->count == all->errors;
        free(rows);
        if (end == ENGINE_TARGET_EXITED) {
            exit_code = LS_EXIT_TARGET_DIED;
        } else if (end == ENGINE_INTERRUPTED && exit_code == LS_EXIT_OK) {
            exit_code = LS_EXIT_INTERRUPTED;
        } else if (end != ENGINE_INTERRUPTED && none_ok) {
            char failed_why[256];
            snprintf(failed_why, sizeof(failed_why),
                     "no measured request succeeded: %llu sent, %llu failed; %llu handshake(s), "
                     "%llu failed",
                     (unsigned long long)all->count, (unsigned long long)all->errors,
                     (unsigned long long)hs->count, (unsigned long long)hs->errors);
            fprintf(stderr, "loadscope: the run failed: %s\n", failed_why);
            if (store_writer_event(ctx.writer, 0, "run_failed", failed_why) != LS_OK)
                ctx.store_failed = 1;
            exit_code = LS_EXIT_RUNTIME;
        }
        free(tots);
    }
    fflush(stdout);

out:;
    bool storage_failed = false;
    if (ctx.writer) {
        ls_err werr = store_writer_finish(ctx.writer);
        if (werr != LS_OK || ctx.store_failed) {
            fprintf(stderr, "loadscope: storing the session failed: %s %s\n", ls_strerror(werr),
                    st ? store_errmsg(st) : "");
            /* Whatever else happened (thresholds, Ctrl-C, the target's exit): data was lost. */
            exit_code = LS_EXIT_RUNTIME;
            storage_failed = true;
        }
    }
    /* The advisor judges what was stored (the whole run, and windows for when each finding
     * was first and last seen) and ends the summary with its findings. */
    if (st && session && ctx.writer && !storage_failed && exit_code != LS_EXIT_USAGE) {
        struct adv_report rep = {0};
        char ferr[512];
        if (findings_store(st, session, &rep, ferr, sizeof(ferr)) == LS_OK) {
            printf("\n");
            findings_print(stdout, &rep);
            fflush(stdout);
        } else {
            fprintf(stderr, "loadscope: judging the run: %s\n", ferr);
        }
        adv_report_free(&rep);
    }
    if (st && session) {
        static const char *const names[] = {
            [LS_EXIT_OK] = "completed", [LS_EXIT_RUNTIME] = "failed", [LS_EXIT_USAGE] = "usage",
            [LS_EXIT_TARGET_DIED] = "target exited"};
        const char *text = storage_failed                      ? "storage_failed"
                           : exit_code == LS_EXIT_THRESHOLDS   ? "thresholds crossed"
                           : exit_code == LS_EXIT_INTERRUPTED ? "interrupted"
                           : exit_code <= LS_EXIT_TARGET_DIED ? names[exit_code]
                                                              : "unknown";
        if (store_session_end(st, session, ls_unix_ns(), exit_code, text) != LS_OK)
            fprintf(stderr, "loadscope: %s\n", store_errmsg(st));
        fprintf(stderr, "session %lld stored (%s)\n", (long long)session, text);
    }
    engine_close(e);
    ds_run_close(ctx.ds);
    trace_run_close(ctx.trace);
    live_close(ctx.live);
    store_close(st);
    scenario_free(s);
    free(ctx.enc);
    free(ctx.u_enc);
    free(base_dir);
    return exit_code;
}
