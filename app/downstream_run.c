/*
 * downstream_run: the recording proxies inside `loadscope run` (see
 * downstream_run.h). The recorder thread is the only writer of the
 * store_downstream connection; events may come from any proxy thread.
 */
#include "downstream_run.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "downstream/downstream.h"
#include "downstream/ds_model.h"
#include "engine/engine.h"
#include "report.h"
#include "scenario/scenario.h"
#include "store.h"
#include "store_downstream.h"
#include "target/proc.h"
#include "util/clock.h"

#define DS_FINISH_WAIT_NS 2000000000ull /* calls still in progress when the target stopped */

struct ds_run {
    struct downstream *ds;
    struct store_downstream *_Atomic w; /* set by attach, before the origin; NULL: not stored */
    struct engine_mcp_hooks hooks;
    struct proc_inject inj; /* the tracer's entries and the proxies' */
    struct scn_kv *env;     /* inj.env, owned */
    size_t nenv;
    ds_run_event_fn event;
    ds_run_failure_fn failure;
    void *event_ctx;
    _Atomic uint64_t origin_ns; /* 0 until the engine's origin hook */
    _Atomic unsigned store_errors;
    bool finished;
};

/* ---- the recorder's sink ---- */

/* The first failed write is handed to the run's failure hook (it says so and stops the run). */
static void store_failed(struct ds_run *r, struct store_downstream *w, const char *what)
{
    if (atomic_fetch_add(&r->store_errors, 1) != 0)
        return;
    char msg[512];
    snprintf(msg, sizeof(msg), "storing downstream %s: %s", what, store_downstream_errmsg(w));
    if (r->failure)
        r->failure(r->event_ctx, msg);
    else
        fprintf(stderr, "loadscope: %s\n", msg);
}

static void on_calls(void *ctx, const struct ds_call *c, size_t n)
{
    struct ds_run *r = ctx;
    struct store_downstream *w = atomic_load(&r->w);
    if (w && store_downstream_calls(w, c, n) != LS_OK)
        store_failed(r, w, "calls");
}

static void on_second(void *ctx, const struct ds_second *s)
{
    struct ds_run *r = ctx;
    struct store_downstream *w = atomic_load(&r->w);
    if (w && store_downstream_second(w, s) != LS_OK)
        store_failed(r, w, "seconds");
}

static void on_event(void *ctx, const char *kind, const char *message)
{
    struct ds_run *r = ctx;
    uint64_t org = atomic_load(&r->origin_ns), now = ls_now_ns();
    if (r->event)
        r->event(r->event_ctx, org && now > org ? now - org : 0, kind, message);
}

/* ---- the engine's hooks ---- */

static void hook_origin(void *ctx, uint64_t t0)
{
    struct ds_run *r = ctx;
    atomic_store(&r->origin_ns, t0);
    downstream_set_origin(r->ds, t0);
}

static void hook_begin(void *ctx, int step)
{
    struct ds_run *r = ctx;
    downstream_mcp_begin(r->ds, step);
}

static void hook_end(void *ctx, int step)
{
    struct ds_run *r = ctx;
    downstream_mcp_end(r->ds, step);
}

/* base's entries, then the proxies' (proc_spawn lets a later entry win). */
static int merge_env(struct ds_run *r, const struct proc_inject *base)
{
    const struct scn_kv *kv;
    size_t n, nb = base ? base->env_count : 0;
    downstream_env(r->ds, &kv, &n);
    r->env = calloc(nb + n + 1, sizeof(*r->env));
    if (r->env == NULL)
        return -1;
    for (size_t i = 0; i < nb + n; i++) {
        const struct scn_kv *from = i < nb ? &base->env[i] : &kv[i - nb];
        r->env[i].key = strdup(from->key);
        r->env[i].value = strdup(from->value);
        r->nenv = i + 1;
        if (r->env[i].key == NULL || r->env[i].value == NULL)
            return -1;
    }
    r->inj.env = r->env;
    r->inj.env_count = r->nenv;
    r->inj.preload = base ? base->preload : NULL;
    return 0;
}

int ds_run_open(const struct scenario *s, const struct proc_inject *base, ds_run_event_fn event,
                ds_run_failure_fn failure, void *event_ctx, struct ds_run **out)
{
    char err[1024];
    int rc = LS_EXIT_RUNTIME;
    *out = NULL;
    if (s->downstream == NULL)
        return 0;
    struct ds_run *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        fprintf(stderr, "loadscope: out of memory\n");
        return LS_EXIT_RUNTIME;
    }
    r->event = event;
    r->failure = failure;
    r->event_ctx = event_ctx;
    r->hooks = (struct engine_mcp_hooks){
        .ctx = r, .origin = hook_origin, .begin = hook_begin, .end = hook_end};
    struct downstream_opts o = {.cfg = s->downstream,
                                .nsteps = (uint32_t)s->step_count,
                                .aws_profile = s->aws ? s->aws->profile : NULL,
                                .aws_region = s->aws ? s->aws->region : NULL};
    struct ds_sink sink = {.ctx = r, .calls = on_calls, .second = on_second, .event = on_event};
    if (downstream_open(&o, &sink, &r->ds, err, sizeof(err)) != LS_OK) {
        fprintf(stderr, "loadscope: target.downstream: %s\n", err);
        goto fail;
    }
    if (merge_env(r, base) != 0) {
        fprintf(stderr, "loadscope: out of memory\n");
        goto fail;
    }
    for (int svc = 0; svc < AWS__SERVICES; svc++) {
        uint16_t port = downstream_port(r->ds, (enum aws_service)svc);
        if (port)
            fprintf(stderr, "downstream: %s calls through 127.0.0.1:%u to %s\n",
                    awsconf_service_name((enum aws_service)svc), port,
                    downstream_upstream(r->ds, (enum aws_service)svc));
    }
    *out = r;
    return 0;
fail:
    ds_run_close(r);
    return rc;
}

const struct proc_inject *ds_run_inject(const struct ds_run *r, const struct proc_inject *base)
{
    return r ? &r->inj : base;
}

const struct engine_mcp_hooks *ds_run_hooks(struct ds_run *r)
{
    return r ? &r->hooks : NULL;
}

struct ds_model *ds_run_model(struct ds_run *r)
{
    return r ? downstream_model(r->ds) : NULL;
}

int ds_run_attach(struct ds_run *r, struct store *st, long long session)
{
    struct store_downstream *w = NULL;
    if (r == NULL)
        return 0;
    if (store_downstream_open(st, session, &w) != LS_OK) {
        fprintf(stderr, "loadscope: cannot store downstream calls: %s\n", store_errmsg(st));
        return LS_EXIT_RUNTIME;
    }
    atomic_store(&r->w, w);
    return 0;
}

int ds_run_finish(struct ds_run *r)
{
    if (r == NULL)
        return 0;
    if (!r->finished) {
        r->finished = true;
        downstream_finish(r->ds, DS_FINISH_WAIT_NS);
    }
    return atomic_load(&r->store_errors) ? -1 : 0;
}

static void fmt_us(int64_t us, bool any, char *buf, size_t cap)
{
    if (any)
        report_fmt_us(us, buf, cap);
    else
        snprintf(buf, cap, "-");
}

void ds_run_print(struct ds_run *r, const struct scenario *s, FILE *f)
{
    enum { OPS_MAX = 64, STEPS_MAX = 512 };
    if (r == NULL)
        return;
    struct ds_op_view *ops = calloc(OPS_MAX, sizeof(*ops));
    struct ds_step_view *steps = calloc(STEPS_MAX, sizeof(*steps));
    if (ops == NULL || steps == NULL)
        goto out;
    size_t nops = downstream_snapshot(r->ds, ops, OPS_MAX);
    size_t nsteps = downstream_step_view(r->ds, steps, STEPS_MAX);
    uint64_t calls = 0, requests = 0;
    for (size_t i = 0; i < nops; i++)
        calls += ops[i].calls;
    for (size_t i = 0; i < nsteps; i++)
        if (steps[i].op[0] == '\0' && steps[i].step >= 0)
            requests += steps[i].requests;
    fprintf(f, "\ndownstream: %llu call(s) through the proxies, %llu MCP request(s)\n",
            (unsigned long long)calls, (unsigned long long)requests);
    if (nops > 0)
        fprintf(f, "  %-8s %-22s %8s %8s %9s %9s %7s %7s %12s\n", "service", "operation", "calls",
                "per req", "p50", "p99", "errors", "retries", "new conn/req");
    for (size_t i = 0; i < nops; i++) {
        const struct ds_op_view *v = &ops[i];
        char p50[24], p99[24];
        fmt_us(v->p50_us, v->calls > 0, p50, sizeof(p50));
        fmt_us(v->p99_us, v->calls > 0, p99, sizeof(p99));
        fprintf(f, "  %-8s %-22.22s %8llu %8.2f %9s %9s %7llu %7llu %12.2f\n",
                awsconf_service_name((enum aws_service)v->service), v->op,
                (unsigned long long)v->calls, v->per_request, p50, p99,
                (unsigned long long)v->errors, (unsigned long long)v->retries,
                requests ? (double)v->new_conns / (double)requests : 0.0);
    }
    bool any_step = false;
    for (size_t i = 0; i < nsteps; i++) {
        const struct ds_step_view *v = &steps[i];
        if (v->calls <= 0 && v->op[0] == '\0' && v->step >= 0)
            continue;
        if (!any_step) {
            fprintf(f, "  per step: %-30s %10s %10s %10s %12s\n", "step / operation", "requests",
                    "calls/req", "time/req", "new conn/req");
            any_step = true;
        }
        const char *name = v->step < 0                       ? "(no request in flight)"
                           : (size_t)v->step < s->step_count ? s->steps[v->step].name
                                                             : "(initialize)";
        char t[24];
        report_fmt_us((int64_t)v->time_per_request_us, t, sizeof(t));
        /* Calls with no request in flight have no requests to divide by: their count is shown. */
        char req[24] = "-";
        if (v->step >= 0)
            snprintf(req, sizeof(req), "%llu", (unsigned long long)v->requests);
        if (v->op[0] == '\0')
            fprintf(f, "  %-40.40s %10s %10.2f %10s %12.2f\n", name, req,
                    v->requests ? v->calls_per_request : v->calls, v->requests ? t : "-",
                    v->new_conns_per_request);
        else
            fprintf(f, "    %-38.38s %10s %10.2f %10s %12.2f\n", v->op, "",
                    v->requests ? v->calls_per_request : v->calls, v->requests ? t : "-",
                    v->new_conns_per_request);
    }
out:
    free(ops);
    free(steps);
}

void ds_run_close(struct ds_run *r)
{
    if (r == NULL)
        return;
    downstream_finish(r->ds, 0);
    downstream_close(r->ds);
    store_downstream_close(atomic_load(&r->w));
    for (size_t i = 0; i < r->nenv; i++) {
        free(r->env[i].key);
        free(r->env[i].value);
    }
    free(r->env);
    free(r);
}
