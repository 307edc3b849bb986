/*
 * engine: run control.
 *
 * Owns a run from engine_open() to engine_close(): the number of workers,
 * launching an HTTP target and waiting for its port, the transports'
 * run-wide set-up (AWS configuration and its setup phase), starting the
 * worker threads (engine_worker.c) and the collector, the clock of the
 * warm-up and the measured part, Ctrl-C and the targets' health, the grace
 * period for requests in flight, and the run's totals afterwards. It also
 * keeps the list of launched processes the control thread watches, and the
 * table of hooks every transport calls back through (eng_hooks).
 *
 * Samples, per-second intervals and run events leave through the
 * callbacks; the engine itself keeps no sample.
 */
#include "engine/engine.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine_int.h"
#include "util/url.h"

_Atomic int ls_stop_requested;

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

/* ---------------------------------------------------------------- events */

void eng_event(struct engine *e, const char *kind, const char *fmt, ...)
{
    if (!e->cb.event)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    eng_hook_event(e, kind, msg);
}

/* ------------------------------------------------------------- hooks */

void eng_hook_event(struct engine *e, const char *kind, const char *message)
{
    if (e->cb.event)
        e->cb.event(e->cb.ctx, eng_now(e), kind, message);
}

ls_err eng_hook_target_started(struct engine *e, struct ls_proc *p)
{
    pthread_mutex_lock(&e->procs_lock);
    struct ls_proc **np = realloc(e->procs, (e->nprocs + 1) * sizeof(*np));
    if (np) {
        e->procs = np;
        e->procs[e->nprocs++] = p;
    }
    pthread_mutex_unlock(&e->procs_lock);
    return np ? LS_OK : LS_ERR_NOMEM;
}

void eng_hook_target_stopping(struct engine *e, struct ls_proc *p)
{
    pthread_mutex_lock(&e->procs_lock);
    for (size_t i = 0; i < e->nprocs; i++) {
        if (e->procs[i] == p)
            e->procs[i] = NULL;
    }
    pthread_mutex_unlock(&e->procs_lock);
}

const struct eng_hooks eng_hooks = {
    .reply = vu_hook_reply,
    .build_request = vu_hook_build_request,
    .classify = vu_hook_classify,
    .event = eng_hook_event,
    .target_started = eng_hook_target_started,
    .target_stopping = eng_hook_target_stopping,
    .target_lost = vu_hook_target_lost,
};

/* --------------------------------------------------------------- set-up */

ls_err engine_open(const struct scenario *s, const struct engine_opts *o,
                   const struct engine_callbacks *cb, struct engine **out)
{
    struct engine *e = calloc(1, sizeof(*e));
    *out = NULL;
    if (!e)
        return LS_ERR_NOMEM;
    e->s = s;
    e->o = *o;
    if (cb)
        e->cb = *cb;
    if (e->o.grace_ns == 0)
        e->o.grace_ns = s->timeout_ns < 10 * NS_PER_S ? s->timeout_ns : 10 * NS_PER_S;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    uint32_t vus = s->model == SCN_CLOSED ? s->concurrency : s->max_in_flight;
    uint32_t nw = o->workers;
    if (nw == 0) {
        /* One stdio server process is fed best from one thread. */
        if (s->transport == SCN_STDIO && s->processes == SCN_PROCS_SHARED)
            nw = 1;
        else
            nw = (uint32_t)cpus;
    }
    if (nw > vus)
        nw = vus;
    if (nw < 1)
        nw = 1;
    e->nworkers = nw;
    e->hooks = &eng_hooks;
    worker_pick_transports(e);
    pthread_mutex_init(&e->procs_lock, NULL);
    *out = e;
    return LS_OK;
}

/* Host and port of an http(s) URL for the readiness check (util/url.h). */
static bool url_host_port(const char *url, char *host, size_t hostcap, int *port)
{
    struct ls_url u;
    char err[256];
    if (url_parse(url, 0, &u, err, sizeof(err)) != LS_OK)
        return false;
    snprintf(host, hostcap, "%s", u.host);
    *port = (int)u.port;
    url_free(&u);
    return true;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool any_stdio_exit(struct engine *e, char *msg, size_t cap)
{
    bool died = false;
    pthread_mutex_lock(&e->procs_lock);
    for (size_t i = 0; i < e->nprocs && !died; i++) {
        int st;
        if (e->procs[i] && proc_poll_exit(e->procs[i], &st)) {
            char how[96], tail[512];
            proc_describe_status(st, how, sizeof(how));
            proc_log_tail(e->procs[i], tail, sizeof(tail));
            snprintf(msg, cap, "target pid %d %s%s%s", (int)proc_pid(e->procs[i]), how,
                     tail[0] ? "; last output: " : "", tail);
            died = true;
        }
    }
    pthread_mutex_unlock(&e->procs_lock);
    return died;
}

/* Launches the scenario's HTTP target, if any, and waits for its port before anything is timed. */
static ls_err launch_http_target(struct engine *e, char *err, size_t errcap)
{
    const struct scenario *s = e->s;
    if (s->transport != SCN_HTTP || !s->command)
        return LS_OK;
    struct ls_proc_opts po = {.argv = s->command, .env = s->env, .env_count = s->env_count,
                              .cwd = s->cwd ? s->cwd : e->o.base_dir, .inject = e->o.inject};
    ls_err rc = proc_spawn(&po, &e->http_proc, err, errcap);
    if (rc != LS_OK)
        return rc;
    char host[256];
    int port;
    if (!url_host_port(s->url, host, sizeof(host), &port)) {
        snprintf(err, errcap, "cannot read host and port from %s", s->url);
        return LS_ERR_INVALID;
    }
    rc = proc_wait_port(e->http_proc, host, port, s->ready_timeout_ns, err, errcap);
    if (rc != LS_OK)
        return rc;
    eng_event(e, "target_start", "launched pid %d, listening on %s:%d",
              (int)proc_pid(e->http_proc), host, port);
    return LS_OK;
}

/* The transports' run-wide set-up (AWS configuration, setup phase): its own events, no samples. */
static ls_err open_transports(struct engine *e, char *err, size_t errcap)
{
    e->t0_ns = ls_now_ns();
    for (int slot = 0; slot < TP__SLOTS; slot++) {
        const struct transport_ops *t = e->tp_ops[slot];
        if (t && t->engine_open) {
            ls_err rc = t->engine_open(e, err, errcap);
            if (rc != LS_OK)
                return rc;
        }
    }
    return LS_OK;
}

/*
 * Sets up the workers and the collector, then starts them: *launching is
 * set once the collector runs and threads are being started, *started
 * counts the threads that did.
 */
static ls_err start_workers(struct engine *e, bool *launching, uint32_t *started, char *err,
                           size_t errcap)
{
    const struct scenario *s = e->s;
    e->workers = calloc(e->nworkers, sizeof(struct worker));
    e->sources = calloc(e->nworkers, sizeof(struct coll_source));
    if (!e->workers || !e->sources)
        return LS_ERR_NOMEM;
    uint32_t vus = s->model == SCN_CLOSED ? s->concurrency : s->max_in_flight;
    uint32_t first = 0;
    /* Timestamps before t0 would underflow: set it now, reset just before the threads start. */
    e->t0_ns = ls_now_ns();
    for (uint32_t i = 0; i < e->nworkers; i++) {
        struct worker *w = &e->workers[i];
        w->index = (uint16_t)i;
        uint32_t n = vus / e->nworkers + (i < vus % e->nworkers ? 1 : 0);
        ls_err rc = worker_setup(e, w, first, n, err, errcap);
        if (rc != LS_OK)
            return rc;
        first += n;
        e->sources[i].ring = &w->ring;
        e->sources[i].heartbeat_ns = &w->heartbeat_ns;
    }
    struct coll_sink sink = {.ctx = e->cb.ctx, .samples = e->cb.samples, .interval = e->cb.interval};
    ls_err rc = collector_open((uint32_t)s->step_count, s->warmup_ns, e->sources, e->nworkers,
                               &sink, &e->coll);
    if (rc != LS_OK)
        return rc;

    e->end_ns = s->warmup_ns + s->duration_ns;
    e->t0_ns = ls_now_ns();
    if (e->o.mcp_hooks && e->o.mcp_hooks->origin)
        e->o.mcp_hooks->origin(e->o.mcp_hooks->ctx, e->t0_ns);
    rc = collector_start(e->coll);
    if (rc != LS_OK)
        return rc;
    *launching = true;
    for (; *started < e->nworkers; (*started)++) {
        if (pthread_create(&e->workers[*started].thread, NULL, worker_main,
                           &e->workers[*started]) != 0) {
            snprintf(err, errcap, "cannot start worker thread %u", *started);
            atomic_store(&e->stop, true);
            atomic_store(&e->abort_now, true);
            return LS_ERR_NOMEM;
        }
    }
    return LS_OK;
}

/* The control loop: the clock, Ctrl-C and the targets' health; returns why the run ends. */
static enum engine_end watch(struct engine *e)
{
    char msg[1024];
    for (;;) {
        uint64_t now = eng_now(e);
        if (atomic_load(&ls_stop_requested)) {
            eng_event(e, "interrupted", "stopped by signal after %.1f s", (double)now / 1e9);
            return ENGINE_INTERRUPTED;
        }
        if (now >= e->end_ns)
            return ENGINE_COMPLETED;
        int st;
        if (e->http_proc && proc_poll_exit(e->http_proc, &st)) {
            char how[96], tail[512];
            proc_describe_status(st, how, sizeof(how));
            proc_log_tail(e->http_proc, tail, sizeof(tail));
            eng_event(e, "target_exit", "target pid %d %s%s%s", (int)proc_pid(e->http_proc), how,
                      tail[0] ? "; last output: " : "", tail);
            return ENGINE_TARGET_EXITED;
        }
        bool pipe_closed = atomic_load(&e->target_died);
        bool exited = any_stdio_exit(e, msg, sizeof(msg));
        /* The pipes often notice first: give the exit status a moment to arrive for the log. */
        for (int i = 0; pipe_closed && !exited && i < 50; i++) {
            sleep_ms(10);
            exited = any_stdio_exit(e, msg, sizeof(msg));
        }
        if (pipe_closed || exited) {
            eng_event(e, "target_exit", "%s", exited ? msg : "the target closed its stdout");
            return ENGINE_TARGET_EXITED;
        }
        sleep_ms(10);
    }
}

/* Grace: in-flight requests may finish; then whatever is left is dropped. Joins the threads. */
static void finish_workers(struct engine *e, uint32_t started)
{
    uint64_t grace_end = ls_now_ns() + e->o.grace_ns;
    for (;;) {
        bool all_done = true;
        for (uint32_t i = 0; i < started; i++) {
            if (atomic_load(&e->workers[i].heartbeat_ns) != UINT64_MAX)
                all_done = false;
        }
        if (all_done)
            break;
        if (ls_now_ns() >= grace_end) {
            uint64_t left = engine_in_flight(e);
            atomic_store(&e->abort_now, true);
            if (left)
                eng_event(e, "interrupted",
                          "%llu request(s) still in flight after the %.1f s grace period were "
                          "abandoned",
                          (unsigned long long)left, (double)e->o.grace_ns / 1e9);
            break;
        }
        sleep_ms(5);
    }
    for (uint32_t i = 0; i < started; i++)
        pthread_join(e->workers[i].thread, NULL);
}

ls_err engine_run(struct engine *e, enum engine_end *end, char *err, size_t errcap)
{
    uint32_t started = 0;
    bool launching = false;
    *end = ENGINE_FAILED;
    err[0] = '\0';

    ls_err rc = launch_http_target(e, err, errcap);
    if (rc == LS_OK)
        rc = open_transports(e, err, errcap);
    if (rc == LS_OK)
        rc = start_workers(e, &launching, &started, err, errcap);
    if (!launching)
        return rc;

    /* A thread that could not start stops the others at once (rc says why). */
    enum engine_end why = rc == LS_OK ? watch(e) : ENGINE_COMPLETED;
    e->stopped_at_ns = eng_now(e);
    atomic_store(&e->stop, true);
    finish_workers(e, started);
    if (why == ENGINE_COMPLETED && atomic_load(&e->target_died))
        why = ENGINE_TARGET_EXITED;
    if (e->coll)
        collector_finish(e->coll);
    *end = why;
    return rc;
}
void engine_totals(const struct engine *e, int step, struct coll_totals *out)
{
    if (e->coll)
        collector_totals(e->coll, step, out);
    else
        memset(out, 0, sizeof(*out));
}

double engine_measured_seconds(const struct engine *e)
{
    uint64_t end = e->stopped_at_ns < e->end_ns ? e->stopped_at_ns : e->end_ns;
    if (end <= e->s->warmup_ns)
        return 0;
    return (double)(end - e->s->warmup_ns) / 1e9;
}

uint64_t engine_in_flight(const struct engine *e)
{
    uint64_t n = 0;
    if (!e->workers)
        return 0;
    for (uint32_t i = 0; i < e->nworkers; i++)
        n += atomic_load_explicit(&e->workers[i].in_flight, memory_order_relaxed);
    return n;
}

uint32_t engine_workers(const struct engine *e)
{
    return e->nworkers;
}

uint64_t engine_sessions_reinit(const struct engine *e)
{
    return atomic_load(&e->reinit);
}

size_t engine_target_pids(struct engine *e, int *pids, size_t cap)
{
    size_t n = 0;
    if (e->http_proc) {
        if (n < cap)
            pids[n] = (int)proc_pid(e->http_proc);
        n++;
    }
    pthread_mutex_lock(&e->procs_lock);
    for (size_t i = 0; i < e->nprocs; i++) {
        if (!e->procs[i])
            continue;
        if (n < cap)
            pids[n] = (int)proc_pid(e->procs[i]);
        n++;
    }
    pthread_mutex_unlock(&e->procs_lock);
    return n;
}

void engine_close(struct engine *e)
{
    if (!e)
        return;
    collector_close(e->coll);
    if (e->workers) {
        for (uint32_t i = 0; i < e->nworkers; i++)
            worker_free(&e->workers[i]);
    }
    if (e->http_proc) {
        proc_stop(e->http_proc, 2 * NS_PER_S);
        proc_free(e->http_proc);
    }
    for (int slot = 0; slot < TP__SLOTS; slot++) {
        const struct transport_ops *t = e->tp_ops[slot];
        if (t && t->engine_close)
            t->engine_close(e);
    }
    free(e->procs);
    free(e->workers);
    free(e->sources);
    pthread_mutex_destroy(&e->procs_lock);
    free(e);
}

int engine_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void engine_global_cleanup(void)
{
    curl_global_cleanup();
}

const char *engine_http_version(void)
{
    return curl_version();
}
