/*
 * rules_load: the rules about the load itself and the MCP session pattern:
 * is loadscope the bottleneck (load.generator_saturated), do the corrected
 * and uncorrected percentiles disagree (load.coordinated_omission), do
 * per-iteration handshakes eat the time (mcp.session_churn_cost). One row
 * per rule; calls advise_int.h helpers only.
 *
 *   rule                        fires when                                        severity
 *   load.generator_saturated    busiest engine thread >= 90% of a core, or        warning
 *                               >= 5% of sends late with that thread >= 60%
 *   load.coordinated_omission   corrected p99 >= 2x uncorrected and >= 1 ms apart warning
 *                               (the run or a step)
 *   mcp.session_churn_cost      a session per iteration and handshakes >= 25%     warning
 *                               of request time (>= 10%: info)
 */
#include <stdio.h>

#include "advise/advise_int.h"

#define GEN_CPU_SATURATED 0.90 /* busiest engine thread's share of a core */
#define GEN_LATE_SHARE 0.05    /* of requests sent late ... */
#define GEN_LATE_CPU 0.60      /* ... with the engine this busy */
#define CO_RATIO 2.0           /* corrected p99 over uncorrected */
#define CO_MIN_GAP_US 1000.0   /* and this far apart */
#define CHURN_WARN 0.25        /* handshake share of request time */
#define CHURN_INFO 0.10

static void generator_saturated(struct adv_ctx *cx, const struct adv_rule *r)
{
    const struct adv_facts *f = cx->f;
    double cpu = f->gen.cpu_share;
    double late = f->run.requests ? (double)f->gen.late / (double)f->run.requests : 0;
    bool busy = cpu >= GEN_CPU_SATURATED;
    bool behind = late >= GEN_LATE_SHARE && cpu >= GEN_LATE_CPU;
    if (!busy && !behind)
        return;
    struct adv_draft d = {
        .severity = ADV_WARNING,
        .impact = late > cpu ? late : cpu,
        .confidence = 0.8,
        .title = adv_strf("loadscope itself is the bottleneck: the numbers understate the server"),
        .where = adv_strf("loadscope's engine"),
    };
    if (busy)
        d.evidence = adv_strf("busiest engine thread at %.1f%% of a core (threshold >= %.0f%%); "
                              "%.1f%% of requests sent late",
                              cpu * 100, GEN_CPU_SATURATED * 100, late * 100);
    else
        d.evidence = adv_strf("%.1f%% of requests sent late (threshold >= %.0f%%) with the busiest "
                              "engine thread at %.1f%% of a core (threshold >= %.0f%%)",
                              late * 100, GEN_LATE_SHARE * 100, cpu * 100, GEN_LATE_CPU * 100);
    adv_emit(cx, r, &d);
}

static void coordinated_omission(struct adv_ctx *cx, const struct adv_rule *r)
{
    const struct adv_latency *l = &cx->f->lat;
    /* The worst of the run and its steps: one finding, where it is worst. */
    const char *where = NULL;
    double best = 0, c99 = 0, u99 = 0, c50 = 0, u50 = 0;
    for (size_t i = 0; i <= l->nsteps; i++) {
        const struct adv_step *s = i < l->nsteps ? &l->steps[i] : NULL;
        if (s && s->requests < ADV_MIN_REQUESTS)
            continue;
        double c = s ? s->p99_us : l->p99_us, u = s ? s->u_p99_us : l->u_p99_us;
        if (u <= 0 || c / u < CO_RATIO || c - u < CO_MIN_GAP_US || c / u <= best)
            continue;
        best = c / u;
        c99 = c;
        u99 = u;
        c50 = s ? s->p50_us : l->p50_us;
        u50 = s ? s->u_p50_us : l->u_p50_us;
        where = s ? adv_s(s->name) : NULL;
    }
    if (best == 0)
        return;
    char a[32], b[32], e[32], g[32];
    adv_fmt_us(a, sizeof(a), c99);
    adv_fmt_us(b, sizeof(b), u99);
    adv_fmt_us(e, sizeof(e), c50);
    adv_fmt_us(g, sizeof(g), u50);
    struct adv_draft d = {
        .severity = ADV_WARNING,
        .impact = (c99 - u99) / c99,
        .confidence = 0.9,
        .title = adv_strf("The server stalls: corrected p99 is %.1fx the uncorrected", best),
        .evidence = adv_strf("corrected p99 %s vs uncorrected %s: %.2fx (threshold >= %.0fx and "
                             ">= 1 ms apart); p50 %s vs %s",
                             a, b, best, CO_RATIO, e, g),
        .where = where ? adv_strf("step %s", where) : adv_strf("all steps"),
    };
    adv_emit(cx, r, &d);
}

static void session_churn(struct adv_ctx *cx, const struct adv_rule *r)
{
    const struct adv_facts *f = cx->f;
    double share = f->mcp.handshake_share;
    if (!f->mcp.session_per_iteration || share < CHURN_INFO)
        return;
    struct adv_draft d = {
        .severity = share >= CHURN_WARN ? ADV_WARNING : ADV_INFO,
        .impact = share,
        .confidence = 0.8,
        .title = adv_strf("MCP handshakes take %.0f%% of the request time", share * 100),
        .evidence = adv_strf("handshakes %.1f%% of request time (threshold >= %.0f%% warning, "
                             ">= %.0f%% info); %.2f handshakes per request with a session per "
                             "iteration",
                             share * 100, CHURN_WARN * 100, CHURN_INFO * 100,
                             (double)f->mcp.handshakes / (double)f->run.requests),
        .where = adv_strf("initialize (a session per iteration)"),
    };
    adv_emit(cx, r, &d);
}

const struct adv_rule adv_rules_load[] = {
    {"load.generator_saturated", "load", ADV_IN_RUN | ADV_IN_GENERATOR, 0,
     "the numbers understate the server: fewer virtual users, more engine workers, or more "
     "generator machines",
     generator_saturated},
    {"load.coordinated_omission", "load", ADV_IN_RUN | ADV_IN_LATENCY, 0,
     "read the corrected column: the server stalls, and requests waiting behind a stall are "
     "counted from when they should have been sent",
     coordinated_omission},
    {"mcp.session_churn_cost", "load", ADV_IN_RUN | ADV_IN_MCP, 0,
     "keep sessions: initialize once per client and reuse the Mcp-Session-Id across calls",
     session_churn},
};
const size_t adv_rules_load_n = sizeof(adv_rules_load) / sizeof(adv_rules_load[0]);
