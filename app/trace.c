/*
 * trace: `loadscope trace` and the allocation profiling of `loadscope run`
 * (see trace.h). The tracer's sink stores every stack and second, and feeds
 * the run's hot-path model; the summaries print from the tracer's totals.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "alloc/hotpaths.h"
#include "app.h"
#include "scenario/scenario.h"
#include "store.h"
#include "store_alloc.h"
#include "target/proc.h"
#include "trace.h"
#include "util/clock.h"

struct trace_ctx {
    struct store_alloc *sa;
    struct hotpaths *hot;       /* run: the live model (NULL for `loadscope trace`) */
    bool store_failed;
    char warning[512];
};

static _Atomic int trace_signal;

static void on_trace_signal(int sig)
{
    atomic_store(&trace_signal, sig);
}

static void on_stack(void *ctx, const struct alloc_stack_info *s)
{
    struct trace_ctx *tc = ctx;
    if (tc->hot && hotpaths_add_stack(tc->hot, s) != LS_OK && !tc->store_failed)
        fprintf(stderr, "loadscope: hot paths: out of memory\n");
    if (tc->sa && store_alloc_stack(tc->sa, s) != LS_OK && !tc->store_failed) {
        tc->store_failed = true;
        fprintf(stderr, "loadscope trace: %s\n", store_alloc_errmsg(tc->sa));
    }
}

static void on_interval(void *ctx, const struct alloc_interval *iv)
{
    struct trace_ctx *tc = ctx;
    if (tc->hot && hotpaths_add_interval(tc->hot, iv) != LS_OK && !tc->store_failed)
        fprintf(stderr, "loadscope: hot paths: out of memory\n");
    if (tc->sa && store_alloc_interval(tc->sa, iv) != LS_OK && !tc->store_failed) {
        tc->store_failed = true;
        fprintf(stderr, "loadscope trace: %s\n", store_alloc_errmsg(tc->sa));
    }
}

static void on_event(void *ctx, const char *kind, const char *message)
{
    struct trace_ctx *tc = ctx;
    if (strcmp(kind, "alloc_start") == 0)
        return;
    if (strcmp(kind, "alloc_warning") == 0 && tc->warning[0] == '\0')
        snprintf(tc->warning, sizeof(tc->warning), "%s", message);
    fprintf(stderr, "loadscope trace: %s\n", message);
}

static void on_proc_summary(void *ctx, const struct alloc_proc_summary *s)
{
    struct trace_ctx *tc = ctx;
    if (tc->sa && store_alloc_summary(tc->sa, s, tc->warning) != LS_OK && !tc->store_failed) {
        tc->store_failed = true;
        fprintf(stderr, "loadscope trace: %s\n", store_alloc_errmsg(tc->sa));
    }
}

static void human_bytes(double b, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    snprintf(buf, cap, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
}

/*
 * "peak RSS N" (the largest a traced image reached, the kernel's count as
 * the tracer last read it), else "last RSS N", or why there is none: /proc
 * is read once a second, so a program that ended sooner has none.
 */
static void rss_text(uint64_t peak, uint64_t rss, char *buf, size_t cap)
{
    char b[32];
    if (peak > 0) {
        human_bytes((double)peak, b, sizeof(b));
        snprintf(buf, cap, "peak RSS %s", b);
        return;
    }
    if (rss == 0) {
        snprintf(buf, cap, "RSS not sampled (it is read once a second)");
        return;
    }
    human_bytes((double)rss, b, sizeof(b));
    snprintf(buf, cap, "last RSS %s", b);
}

static void csv_field(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

/* Prints hot paths; secs is the traced wall time (rates use it). Shared with cmd_run. */
void trace_print_hot(FILE *f, const struct alloc_hot *h, size_t n, double secs, bool stacks,
                     bool per_request);
void trace_print_hot(FILE *f, const struct alloc_hot *h, size_t n, double secs, bool stacks,
                     bool per_request)
{
    if (secs <= 0)
        secs = 1;
    fprintf(f, "%4s %10s %10s %10s %10s %10s %6s %-14s %s\n", "rank", "allocs",
            per_request ? "allocs/req" : "allocs/s", "bytes", per_request ? "bytes/req" : "bytes/s",
            "live", "short", "label", "blame");
    for (size_t i = 0; i < n; i++) {
        char bytes[32], rate[32], live[32];
        human_bytes((double)h[i].bytes, bytes, sizeof(bytes));
        human_bytes(per_request ? h[i].bytes_per_req : (double)h[i].bytes / secs, rate, sizeof(rate));
        human_bytes(h[i].live_bytes > 0 ? (double)h[i].live_bytes : 0, live, sizeof(live));
        double short_pct = h[i].allocs ? 100.0 * (double)h[i].short_lived / (double)h[i].allocs : 0;
        fprintf(f, "%4zu %10" PRIu64 " %10.1f %10s %10s %10s %5.0f%% %-14s %s\n", i + 1, h[i].allocs,
                per_request ? h[i].allocs_per_req : (double)h[i].allocs / secs, bytes, rate, live,
                short_pct, h[i].label[0] ? h[i].label : "-", h[i].blame);
        if (stacks) {
            const char *p = h[i].stack;
            while (*p) {
                size_t l = strcspn(p, "\n");
                fprintf(f, "         %.*s\n", (int)l, p);
                p += l;
                if (*p == '\n')
                    p++;
            }
        }
    }
}

static void print_csv(const struct alloc_hot *h, size_t n, double secs)
{
    printf("rank,pid,allocs,bytes,reallocs,frees,freed_bytes,short_lived,live_bytes,allocs_per_s,"
           "bytes_per_s,label,blame_function,blame_file,blame_line,stack\n");
    for (size_t i = 0; i < n; i++) {
        printf("%zu,%d,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
               ",%" PRId64 ",%.3f,%.3f,",
               i + 1, h[i].pid, h[i].allocs, h[i].bytes, h[i].reallocs, h[i].frees, h[i].freed_bytes,
               h[i].short_lived, h[i].live_bytes, (double)h[i].allocs / secs,
               (double)h[i].bytes / secs);
        csv_field(h[i].label);
        putchar(',');
        csv_field(h[i].blame_function);
        putchar(',');
        csv_field(h[i].blame_file);
        printf(",%u,", h[i].blame_line);
        csv_field(h[i].stack);
        putchar('\n');
    }
}

static void print_folded(const struct alloc_hot *h, size_t n, enum alloc_sort by)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t w = by == ALLOC_BY_BYTES ? h[i].bytes
                     : by == ALLOC_BY_LIVE ? (uint64_t)(h[i].live_bytes > 0 ? h[i].live_bytes : 0)
                                           : h[i].allocs;
        if (w > 0)
            printf("%s %" PRIu64 "\n", h[i].folded, w);
    }
}

static void session_params(const struct trace_opts *o, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "{\"trace\":true,\"mode\":\"%s\",\"depth\":%u,\"sample_bytes\":%" PRIu64
             ",\"sample_every\":%" PRIu64 ",\"follow_fork\":%s}",
             alloc_mode_name(o->ao.mode), o->ao.depth ? o->ao.depth : 64, o->ao.sample_bytes,
             o->ao.sample_every, o->ao.follow_fork ? "true" : "false");
}

int app_trace(const struct trace_opts *op, const char *dbpath)
{
    struct trace_opts o = *op;
    struct trace_ctx tc = {0};
    struct store *st = NULL;
    struct alloc *a = NULL;
    struct ls_proc *p = NULL;
    struct alloc_hot *hot = NULL;
    int64_t session = 0;
    int rc = LS_EXIT_OK;
    char err[512], warn[512], target[1024], params[256], host[256] = "";

    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        cwd[0] = '\0';
    if (!alloc_check_target(o.cmd[0], cwd[0] ? cwd : NULL, err, sizeof(err), warn, sizeof(warn))) {
        fprintf(stderr, "loadscope trace: cannot trace: %s\n", err);
        return LS_EXIT_RUNTIME;
    }
    if (warn[0]) {
        fprintf(stderr, "loadscope trace: warning: %s\n", warn);
        snprintf(tc.warning, sizeof(tc.warning), "%s", warn);
    }
    if (store_open(dbpath, &st, err, sizeof(err)) != LS_OK) {
        fprintf(stderr, "loadscope trace: %s\n", st ? store_errmsg(st) : err);
        rc = LS_EXIT_RUNTIME;
        goto out;
    }
    size_t tl = 0;
    for (char **c = o.cmd; *c && tl + 2 < sizeof(target); c++)
        tl += (size_t)snprintf(target + tl, sizeof(target) - tl, "%s%s", tl ? " " : "", *c);
    session_params(&o, params, sizeof(params));
    gethostname(host, sizeof(host) - 1);
    char name[1100];
    snprintf(name, sizeof(name), "trace: %s", target);
    struct store_session_info info = {.name = name, .scenario_path = "", .scenario_text = "",
                                      .target = target, .params_json = params, .host = host,
                                      .version = LOADSCOPE_VERSION,
                                      .started_unix_ns = (int64_t)ls_unix_ns()};
    if (store_session_begin(st, &info, &session) != LS_OK ||
        store_alloc_open(st, session, &tc.sa) != LS_OK) {
        fprintf(stderr, "loadscope trace: %s\n", store_errmsg(st));
        rc = LS_EXIT_RUNTIME;
        goto out;
    }
    struct alloc_sink sink = {.ctx = &tc, .stack = on_stack, .interval = on_interval,
                              .event = on_event};
    if (alloc_open(&o.ao, &sink, &a, err, sizeof(err)) != LS_OK) {
        fprintf(stderr, "loadscope trace: %s\n", err);
        rc = LS_EXIT_RUNTIME;
        goto out;
    }
    struct proc_inject inj;
    alloc_inject(a, &inj.env, &inj.env_count, &inj.preload);
    struct ls_proc_opts po = {.argv = o.cmd, .inject = &inj, .inherit_stdio = true};

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_trace_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    uint64_t t0 = ls_now_ns();
    alloc_set_origin(a, ls_unix_ns());
    /* For csv/folded, standard output is ours alone: the program's own output goes to stderr. */
    int saved_out = -1;
    if (o.format != FMT_TABLE) {
        fflush(stdout);
        saved_out = dup(1);
        if (saved_out >= 0)
            dup2(2, 1);
    }
    ls_err sp = proc_spawn(&po, &p, err, sizeof(err));
    if (saved_out >= 0) {
        dup2(saved_out, 1);
        close(saved_out);
    }
    if (sp != LS_OK) {
        fprintf(stderr, "loadscope trace: %s\n", err);
        rc = LS_EXIT_RUNTIME;
        goto restore;
    }
    alloc_watch_pid(a, proc_pid(p));
    int status = 0, forwarded = 0;
    while (!proc_poll_exit(p, &status)) {
        int sig = atomic_load(&trace_signal);
        if (sig && sig != forwarded) {
            kill(-proc_pid(p), sig); /* the target has its own process group: pass it on */
            forwarded = sig;
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    double secs = (double)(ls_now_ns() - t0) / 1e9;
    alloc_finish(a, 3000000000ull);

    char desc[128];
    proc_describe_status(status, desc, sizeof(desc));
    struct alloc_status as;
    alloc_status(a, &as);
    alloc_each_process(a, on_proc_summary, &tc);
    size_t cap = o.top ? o.top : (size_t)as.stacks + 64;
    if (o.format != FMT_TABLE)
        cap = (size_t)as.stacks + 64;
    hot = calloc(cap, sizeof(*hot));
    size_t n = hot ? alloc_snapshot(a, o.sort, hot, cap) : 0;

    if (o.format == FMT_CSV) {
        print_csv(hot, n, secs);
    } else if (o.format == FMT_FOLDED) {
        print_folded(hot, n, o.sort);
    } else {
        char ab[32], lb[32], rss[64];
        human_bytes((double)as.bytes_allocated, ab, sizeof(ab));
        human_bytes((double)(as.live_bytes > 0 ? as.live_bytes : 0), lb, sizeof(lb));
        rss_text(as.peak_rss, as.rss_bytes, rss, sizeof(rss));
        printf("loadscope trace: %s %s after %.2f s; session %lld in %s\n", target, desc, secs,
               (long long)session, dbpath);
        char execs[48] = "";
        if (as.execs > 0)
            snprintf(execs, sizeof(execs), " (through %u exec%s)", as.execs, as.execs == 1 ? "" : "s");
        printf("mode %s, stacks by %s, %u process(es)%s: %" PRIu64 " allocations (%" PRIu64
               " reallocs) of %s, %" PRIu64 " frees; %" PRIu64 " stacks, live %s, %s\n",
               alloc_mode_name(o.ao.mode), as.unwind, as.processes, execs, as.allocs, as.reallocs,
               ab, as.frees, as.stacks, lb, rss);
        if (as.dropped || as.untracked_frees)
            printf("dropped events: %" PRIu64 "; frees of untracked blocks: %" PRIu64 "\n",
                   as.dropped, as.untracked_frees);
        if (as.processes == 0)
            printf("the tracer never connected: nothing was traced (is the program dynamically "
                   "linked against glibc?)\n");
        if (tc.warning[0])
            printf("warning: %s\n", tc.warning);
        if (o.ao.mode != ALLOC_COUNT && n > 0) {
            printf("\n");
            trace_print_hot(stdout, hot, n, secs, o.stacks, false);
        }
    }
    fflush(stdout);
    if (store_session_end(st, session, (int64_t)ls_unix_ns(),
                          WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                          desc) != LS_OK)
        fprintf(stderr, "loadscope trace: %s\n", store_errmsg(st));
    rc = tc.store_failed ? LS_EXIT_RUNTIME
         : atomic_load(&trace_signal) ? LS_EXIT_INTERRUPTED
                                      : LS_EXIT_OK;
restore:
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
out:
    free(hot);
    proc_free(p);
    alloc_close(a);
    store_alloc_close(tc.sa);
    store_close(st);
    return rc;
}

/* ---- allocation profiling inside `loadscope run` ---------------------------------- */

struct trace_run {
    struct alloc *a;
    struct hotpaths *hot;       /* fed by the sink, ranked by the dashboard */
    struct trace_ctx tc;
    struct proc_inject inj;
    enum alloc_mode mode;
    uint64_t t0_ns;
    bool stored; /* trace_run_store ran */
};

int trace_run_open(const struct scenario *s, int mode, bool children, const char *cwd,
                   struct trace_run **out)
{
    char err[512], warn[512];
    *out = NULL;
    if (mode == 0)
        mode = s->trace_allocations;
    if (mode == 0)
        return 0;
    if (s->command == NULL) {
        fprintf(stderr, "loadscope: --trace-allocations needs a target loadscope launches "
                        "(target.command)\n");
        return LS_EXIT_USAGE;
    }
    if (!alloc_check_target(s->command[0], cwd, err, sizeof(err), warn, sizeof(warn))) {
        fprintf(stderr, "loadscope: cannot trace allocations: %s\n", err);
        return LS_EXIT_RUNTIME;
    }
    struct trace_run *tr = calloc(1, sizeof(*tr));
    if (tr == NULL)
        return LS_EXIT_RUNTIME;
    if (warn[0]) {
        fprintf(stderr, "loadscope: warning: %s\n", warn);
        snprintf(tr->tc.warning, sizeof(tr->tc.warning), "%s", warn);
    }
    tr->mode = (enum alloc_mode)mode;
    if (hotpaths_open(&tr->hot) != LS_OK) {
        free(tr);
        return LS_EXIT_RUNTIME;
    }
    tr->tc.hot = tr->hot;
    /* Children too when asked: a server started through npx or uvx runs as the launcher's child. */
    struct alloc_opts ao = {.mode = tr->mode, .follow_fork = children || s->trace_children,
                            .worker_threads = s->worker_threads};
    struct alloc_sink sink = {.ctx = &tr->tc, .stack = on_stack, .interval = on_interval,
                              .event = on_event};
    if (alloc_open(&ao, &sink, &tr->a, err, sizeof(err)) != LS_OK) {
        fprintf(stderr, "loadscope: %s\n", err);
        hotpaths_close(tr->hot);
        free(tr);
        return LS_EXIT_RUNTIME;
    }
    alloc_inject(tr->a, &tr->inj.env, &tr->inj.env_count, &tr->inj.preload);
    *out = tr;
    return 0;
}

const struct proc_inject *trace_run_inject(const struct trace_run *tr)
{
    return tr ? &tr->inj : NULL;
}

struct alloc *trace_run_alloc(struct trace_run *tr)
{
    return tr ? tr->a : NULL;
}

struct hotpaths *trace_run_hotpaths(struct trace_run *tr)
{
    return tr ? tr->hot : NULL;
}

int trace_run_attach(struct trace_run *tr, struct store *st, long long session)
{
    if (tr == NULL)
        return 0;
    if (store_alloc_open(st, session, &tr->tc.sa) != LS_OK) {
        fprintf(stderr, "loadscope: %s\n", store_errmsg(st));
        return LS_EXIT_RUNTIME;
    }
    tr->t0_ns = ls_now_ns();
    alloc_set_origin(tr->a, (uint64_t)ls_unix_ns());
    return 0;
}

void trace_run_interval(struct trace_run *tr, unsigned second, int step, unsigned long long count)
{
    if (tr && step == -1) {
        alloc_requests(tr->a, second, count);
        /* The model too, whether or not the tracer's second is already closed. */
        if (hotpaths_set_requests(tr->hot, second, count) != LS_OK)
            fprintf(stderr, "loadscope: hot paths: out of memory\n");
    }
}

int trace_run_store(struct trace_run *tr)
{
    if (tr == NULL || tr->stored)
        return 0;
    tr->stored = true;
    alloc_finish(tr->a, 3000000000ull);
    alloc_each_process(tr->a, on_proc_summary, &tr->tc);
    return tr->tc.store_failed ? LS_EXIT_RUNTIME : 0;
}

int trace_run_finish(struct trace_run *tr, FILE *f, unsigned long top)
{
    if (tr == NULL)
        return 0;
    (void)trace_run_store(tr); /* its failure is in tc.store_failed, returned below */
    struct alloc_status as;
    alloc_status(tr->a, &as);
    char ab[32], rss[64];
    human_bytes((double)as.bytes_allocated, ab, sizeof(ab));
    rss_text(as.peak_rss, as.rss_bytes, rss, sizeof(rss));
    fprintf(f, "\nallocations (%s mode, stacks by %s): %" PRIu64 " allocations of %s, %" PRIu64
               " frees, %" PRIu64 " requests; %" PRIu64 " stacks, %s\n",
            alloc_mode_name(tr->mode), as.unwind, as.allocs, ab, as.frees, as.requests, as.stacks,
            rss);
    if (as.processes == 0)
        fprintf(f, "the tracer never connected: nothing was traced\n");
    if (as.dropped)
        fprintf(f, "dropped events: %" PRIu64 "\n", as.dropped);
    if (tr->tc.warning[0])
        fprintf(f, "warning: %s\n", tr->tc.warning);
    struct alloc_hot *hot = calloc(top, sizeof(*hot));
    size_t n = hot && tr->mode != ALLOC_COUNT ? alloc_snapshot(tr->a, ALLOC_BY_ALLOCS, hot, top) : 0;
    if (n > 0)
        trace_print_hot(f, hot, n, (double)(ls_now_ns() - tr->t0_ns) / 1e9, false, as.requests > 0);
    free(hot);
    return tr->tc.store_failed ? LS_EXIT_RUNTIME : 0;
}

void trace_run_close(struct trace_run *tr)
{
    if (tr == NULL)
        return;
    alloc_close(tr->a); /* stops the reader thread, the model's feeder */
    hotpaths_close(tr->hot);
    store_alloc_close(tr->tc.sa);
    free(tr);
}
