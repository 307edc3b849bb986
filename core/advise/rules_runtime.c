/*
 * rules_runtime: the rules about the target's async runtime and its CPU:
 * blocking calls and lock waits on worker threads, saturated workers,
 * threads or tasks created per request, and the functions that take the
 * CPU. Stacks are judged by site (blame file:line; function for CPU). One
 * row per rule; calls advise_int.h helpers, sites.c and frames.c only.
 *
 *   rule                          fires when                                  severity
 *   runtime.blocking_on_worker    a site's blocking calls >= 5% of worker     >= 25% critical
 *                                 time, >= 0.10 calls per request             else warning
 *   runtime.lock_contention       a user site's lock wait per request >= 10%  >= 50% critical
 *                                 of p50 and >= 10 us (contended paths only)  else warning
 *   runtime.workers_saturated     workers busy >= 90%, more requests in       warning when the
 *                                 flight than workers, p50 >= 2x the worker   workers are fewer
 *                                 time a request needs                        than the CPUs, else
 * info runtime.thread_per_request    thread creations per request >= 0.10        >= 0.50 critical
 *   runtime.spawn_per_request     tokio task spawns per request at a user     >= 4 warning
 *                                 site >= 1 (from the task allocations)       else info
 *   cpu.hot_function              a user function >= 40% of the target's CPU  warning
 *                                 and >= 100 us per request
 *                                 (>= 20% and >= 20 us: info)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advise/advise_int.h"

#define BLOCK_WARN 0.05 /* share of worker time */
#define BLOCK_CRIT 0.25
#define BLOCK_MIN_PER_REQ 0.10 /* calls per request: below, a one-off (start-up) */
#define LOCK_WARN 0.10         /* wait per request over p50 */
#define LOCK_CRIT 0.50
#define LOCK_MIN_US 10.0 /* wait per request */
#define SAT_BUSY 0.90    /* workers' busy share */
#define SAT_QUEUE 2.0    /* p50 over the worker time a request needs */
#define THREAD_WARN 0.10 /* thread creations per request */
#define THREAD_CRIT 0.50
#define THREAD_SPAWN_US 50.0 /* what creating and joining a thread costs, roughly */
#define SPAWN_INFO 1.0       /* task spawns per request at a site */
#define SPAWN_WARN 4.0
#define CPU_WARN_SHARE 0.40 /* of the target's CPU */
#define CPU_WARN_US 100.0   /* CPU per request */
#define CPU_INFO_SHARE 0.20
#define CPU_INFO_US 20.0

/* ---- runtime.blocking_on_worker ---------------------------------------------- */

static void blocking_on_worker(struct adv_ctx *cx, const struct adv_rule *r)
{
    const struct adv_events *b = &cx->f->blocking;
    struct adv_event_sites s;
    cx->err = adv_event_sites_build(b->ev, b->n, ADV_BY_LINE, NULL, &s);
    if (cx->err != LS_OK)
        return;
    double p50 = adv_ref_p50_us(cx, NULL);
    for (size_t i = 0; i < s.n; i++) {
        const struct adv_event_site *site = &s.sites[i];
        if (site->share < BLOCK_WARN || site->per_req < BLOCK_MIN_PER_REQ)
            continue;
        enum adv_code code = site->blame.code;
        if (code == ADV_CODE_UNKNOWN || code == ADV_CODE_ALLOCATOR)
            continue;
        char t[32];
        adv_fmt_us(t, sizeof(t), site->us_per_req);
        double lat = p50 > 0 ? adv_clamp01(site->us_per_req / p50) : 0;
        struct adv_draft d = {
            .severity = site->share >= BLOCK_CRIT ? ADV_CRITICAL : ADV_WARNING,
            .impact = lat > site->share ? lat : site->share,
            .confidence = 0.9,
            .title = adv_strf("Blocking %s on the runtime's worker threads", adv_s(site->call)),
            .evidence = adv_strf("%s on runtime workers: %.1f%% of worker time (threshold >= "
                                 "%.0f%%), %s per request, %.2f calls per request (threshold >= "
                                 "%.2f)",
                                 adv_s(site->call), site->share * 100, BLOCK_WARN * 100, t,
                                 site->per_req, BLOCK_MIN_PER_REQ),
            .where = adv_where_frame(&site->blame),
            .detail = adv_event_site_detail(b->ev, site, "us per request"),
        };
        adv_emit(cx, r, &d);
    }
    adv_event_sites_free(&s);
}

/* ---- runtime.lock_contention ------------------------------------------------ */

static bool is_lock(const struct adv_event *e)
{
    if (e->stack && *e->stack)
        return adv_is_lock_wait(e->stack);
    /* No stack: only a pthread lock call says so by itself; a bare futex may be parking. */
    return strncmp(adv_s(e->call), "pthread_mutex", 13) == 0 ||
           strncmp(adv_s(e->call), "pthread_rwlock", 14) == 0;
}

static void lock_contention(struct adv_ctx *cx, const struct adv_rule *r)
{
    const struct adv_events *l = &cx->f->locks;
    double p50 = adv_ref_p50_us(cx, NULL);
    if (p50 <= 0)
        return;
    struct adv_event_sites s;
    cx->err = adv_event_sites_build(l->ev, l->n, ADV_BY_LINE, is_lock, &s);
    if (cx->err != LS_OK)
        return;
    for (size_t i = 0; i < s.n; i++) {
        const struct adv_event_site *site = &s.sites[i];
        double ratio = site->us_per_req / p50;
        /* The runtime's own locks are its business; the user's code is judged. */
        if (site->blame.code != ADV_CODE_USER || site->us_per_req < LOCK_MIN_US ||
            ratio < LOCK_WARN)
            continue;
        char t[32], p[32];
        adv_fmt_us(t, sizeof(t), site->us_per_req);
        adv_fmt_us(p, sizeof(p), p50);
        struct adv_draft d = {
            .severity = ratio >= LOCK_CRIT ? ADV_CRITICAL : ADV_WARNING,
            .impact = ratio,
            .confidence = 0.85,
            .title = adv_strf("Lock contention: %.0f%% of a request's p50 spent waiting",
                              adv_clamp01(ratio) * 100),
            .evidence = adv_strf("%s lock wait per request, %.1f%% of the p50 %s (threshold >= "
                                 "%.0f%% and >= %.0f us); %.2f waits per request",
                                 t, ratio * 100, p, LOCK_WARN * 100, LOCK_MIN_US, site->per_req),
            .where = adv_where_frame(&site->blame),
            .detail = adv_event_site_detail(l->ev, site, "us waited per request"),
        };
        adv_emit(cx, r, &d);
    }
    adv_event_sites_free(&s);
}

/* ---- runtime.workers_saturated ---------------------------------------------- */

static void workers_saturated(struct adv_ctx *cx, const struct adv_rule *r)
{
    const struct adv_facts *f = cx->f;
    const struct adv_threads *t = &f->threads;
    if (t->workers == 0 || t->busy_share < SAT_BUSY || f->run.concurrency <= t->workers ||
        f->run.duration_s <= 0 || f->lat.p50_us <= 0)
        return;
    /* Little's law: the worker time a request needs, from how busy the workers were. */
    double need_us = t->busy_share * t->workers * f->run.duration_s * 1e6 / (double)f->run.requests;
    double queue = need_us > 0 ? f->lat.p50_us / need_us : 0;
    if (queue < SAT_QUEUE)
        return;
    bool few = f->run.cores > t->workers;
    char p[32], n[32], cores[48] = "";
    adv_fmt_us(p, sizeof(p), f->lat.p50_us);
    adv_fmt_us(n, sizeof(n), need_us);
    if (f->run.cores)
        snprintf(cores, sizeof(cores), " on %u CPUs", f->run.cores);
    struct adv_draft d = {
        .severity = few ? ADV_WARNING : ADV_INFO,
        .impact = 1 - 1 / queue,
        .confidence = 0.7,
        .title = few ? adv_strf("%u runtime workers saturated while CPUs stay free", t->workers)
                     : adv_strf("The runtime's workers are saturated: CPU-bound at this load"),
        .evidence = adv_strf("workers busy %.1f%% of the time (threshold >= %.0f%%); p50 %s is "
                             "%.1fx the %s of worker time a request needs (threshold >= %.0fx); "
                             "%u worker%s%s for %u requests in flight",
                             t->busy_share * 100, SAT_BUSY * 100, p, queue, n, SAT_QUEUE,
                             t->workers, t->workers == 1 ? "" : "s", cores, f->run.concurrency),
        .where = adv_strf("runtime worker threads (%u)", t->workers),
        .fix = few ? NULL
                   : "the server is CPU-bound at this load: the CPU hot paths say where the time "
                     "goes; move CPU-heavy work to spawn_blocking or rayon",
    };
    adv_emit(cx, r, &d);
}

/* ---- runtime.thread_per_request -------------------------------------------- */

static void thread_per_request(struct adv_ctx *cx, const struct adv_rule *r)
{
    const struct adv_threads *t = &cx->f->threads;
    double cpr = t->creations_per_req;
    if (cpr < THREAD_WARN)
        return;
    struct adv_event_sites s;
    cx->err = adv_event_sites_build(t->creations, t->ncreations, ADV_BY_LINE, NULL, &s);
    if (cx->err != LS_OK)
        return;
    double p50 = adv_ref_p50_us(cx, NULL);
    struct adv_draft d = {
        .severity = cpr >= THREAD_CRIT ? ADV_CRITICAL : ADV_WARNING,
        .impact = p50 > 0 ? cpr * THREAD_SPAWN_US / p50 : adv_clamp01(cpr) * 0.3,
        .confidence = 0.85,
        .title = adv_strf("%.2f threads created per request", cpr),
        .evidence =
            adv_strf("%.2f thread creations per request (threshold >= %.2f)", cpr, THREAD_WARN),
        .where = s.n ? adv_where_frame(&s.sites[0].blame) : adv_strf("thread creations"),
        .detail =
            s.n ? adv_event_site_detail(t->creations, &s.sites[0], "creations per request") : NULL,
    };
    adv_event_sites_free(&s);
    adv_emit(cx, r, &d);
}

/* ---- runtime.spawn_per_request ---------------------------------------------- */

static void spawn_per_request(struct adv_ctx *cx, const struct adv_rule *r)
{
    const struct adv_alloc_sites *as = &cx->asites;
    double total = cx->f->alloc.allocs_per_req;
    for (size_t i = 0; i < as->n; i++) {
        const struct adv_alloc_site *s = &as->sites[i];
        double spawns = s->kind_allocs_per_req[ADV_AK_SPAWN];
        if (s->blame.code != ADV_CODE_USER || spawns < SPAWN_INFO)
            continue;
        struct adv_draft d = {
            .severity = spawns >= SPAWN_WARN ? ADV_WARNING : ADV_INFO,
            .impact = total > 0 ? spawns / total : 0,
            .confidence = 0.7,
            .title = adv_strf("%.2f tasks spawned per request at one site", spawns),
            .evidence = adv_strf("%.2f task spawns per request at this site (threshold >= %.0f "
                                 "info, >= %.0f warning), counted by the runtime's task "
                                 "allocations",
                                 spawns, SPAWN_INFO, SPAWN_WARN),
            .where = adv_where_frame(&s->blame),
            .detail = adv_alloc_site_detail(cx->f, s),
        };
        adv_emit(cx, r, &d);
    }
}

/* ---- cpu.hot_function ------------------------------------------------------- */

static void hot_function(struct adv_ctx *cx, const struct adv_rule *r)
{
    const struct adv_events *c = &cx->f->cpu;
    struct adv_event_sites s;
    cx->err = adv_event_sites_build(c->ev, c->n, ADV_BY_FUNCTION, NULL, &s);
    if (cx->err != LS_OK)
        return;
    for (size_t i = 0; i < s.n; i++) {
        const struct adv_event_site *site = &s.sites[i];
        bool warn = site->share >= CPU_WARN_SHARE && site->us_per_req >= CPU_WARN_US;
        bool info = site->share >= CPU_INFO_SHARE && site->us_per_req >= CPU_INFO_US;
        if (site->blame.code != ADV_CODE_USER || (!warn && !info))
            continue;
        char t[32];
        adv_fmt_us(t, sizeof(t), site->us_per_req);
        struct adv_draft d = {
            .severity = warn ? ADV_WARNING : ADV_INFO,
            .impact = site->share,
            .confidence = 0.6,
            .title = adv_strf("%s takes %.0f%% of the CPU", adv_s(site->blame.function),
                              site->share * 100),
            .evidence = adv_strf("%.1f%% of the target's CPU (threshold >= %.0f%% warning, >= "
                                 "%.0f%% info), %s of CPU per request (threshold >= %.0f us "
                                 "warning, >= %.0f us info)",
                                 site->share * 100, CPU_WARN_SHARE * 100, CPU_INFO_SHARE * 100, t,
                                 CPU_WARN_US, CPU_INFO_US),
            .where = adv_where_frame(&site->blame),
            .detail = adv_event_site_detail(c->ev, site, "us of CPU per request"),
        };
        adv_emit(cx, r, &d);
    }
    adv_event_sites_free(&s);
}

const struct adv_rule adv_rules_runtime[] = {
    {"runtime.blocking_on_worker", "runtime", ADV_IN_RUN | ADV_IN_BLOCKING, 0,
     "tokio::task::spawn_blocking for the blocking work, or the async APIs (tokio::time::sleep, "
     "tokio::fs)",
     blocking_on_worker},
    {"runtime.lock_contention", "runtime", ADV_IN_RUN | ADV_IN_LOCKS | ADV_IN_LATENCY, 0,
     "shorter critical sections, sharding, RwLock for read-mostly data, lock-free structures; "
     "never hold a lock across .await",
     lock_contention},
    {"runtime.workers_saturated", "runtime", ADV_IN_RUN | ADV_IN_THREADS | ADV_IN_LATENCY, 0,
     "more worker threads (#[tokio::main(worker_threads = N)] / Builder::worker_threads), and "
     "CPU-heavy work off the runtime (spawn_blocking, rayon)",
     workers_saturated},
    {"runtime.thread_per_request", "runtime", ADV_IN_RUN | ADV_IN_THREADS, 0,
     "a pool or async tasks instead of a thread per request (tokio::spawn, spawn_blocking's "
     "pool)",
     thread_per_request},
    {"runtime.spawn_per_request", "runtime", ADV_IN_RUN | ADV_IN_ALLOC, 0,
     "await work inline when it is awaited at once; JoinSet or FuturesUnordered for fan-out",
     spawn_per_request},
    {"cpu.hot_function", "runtime", ADV_IN_RUN | ADV_IN_CPU, 0,
     "look at that function first, with its stack", hot_function},
};
const size_t adv_rules_runtime_n = sizeof(adv_rules_runtime) / sizeof(adv_rules_runtime[0]);
