/*
 * dash_ds: the Downstream screen's update(): the launched target's AWS calls
 * (target.downstream), per operation and per step, from the one downstream
 * model (core/downstream/ds_model.h) that the recorder feeds during a run
 * and storage feeds in replay. Text into a dash_frame; no curses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/awsconf.h"
#include "dash.h"
#include "downstream/ds_model.h"

#define DS_VIEW_OPS 32
#define DS_VIEW_STEPS 128

static const char *svc_short(uint8_t s)
{
    return s == AWS_S3 ? "s3" : "ddb";
}

static const char *step_name(const struct live_snapshot *sn, int32_t step)
{
    if (step < 0)
        return "(none in flight)";
    if ((size_t)step < sn->nsteps_total)
        return sn->steps[step].name;
    return "(other)";
}

void dash_view_downstream(struct ds_model *m, const struct live_snapshot *sn,
                          struct dash_view_state *vs, struct dash_frame *f, int top, int bottom)
{
    (void)vs;
    struct ds_op_view *ops = calloc(DS_VIEW_OPS, sizeof(*ops));
    struct ds_step_view *steps = calloc(DS_VIEW_STEPS, sizeof(*steps));
    if (ops == NULL || steps == NULL || m == NULL) {
        dash_frame_put(f, top, 1, DS_WARN, "no downstream model");
        goto out;
    }
    size_t nops = ds_model_ops(m, ops, DS_VIEW_OPS);
    size_t nsteps = ds_model_steps(m, steps, DS_VIEW_STEPS);
    uint64_t calls = 0, requests = 0;
    for (size_t i = 0; i < nops; i++)
        calls += ops[i].calls;
    for (size_t i = 0; i < nsteps; i++)
        if (steps[i].op[0] == '\0' && steps[i].step >= 0)
            requests += steps[i].requests;
    int r = top;
    dash_frame_put(f, r++, 1, DS_HEAD,
                   "Downstream: %llu AWS calls by the target, %llu MCP requests, %.2f per request",
                   (unsigned long long)calls, (unsigned long long)requests,
                   requests ? (double)calls / (double)requests : 0.0);
    if (nops == 0) {
        dash_frame_put(f, r, 3, DS_DIM, "no call through the proxies yet (seconds closed: %u)",
                       ds_model_seconds(m));
        goto out;
    }
    bool wide = f->cols >= 100;
    /* Over: the run's mean rate, as the header's "avg"; running: the last closed second. */
    double run_s = (double)sn->elapsed_ns / 1e9;
    bool over = sn->state == LIVE_DONE && run_s > 0;
    /* 80 columns: operation 18, then 7 numbers. */
    dash_frame_put(f, r++, 1, DS_HEAD, "%-18s %7s %7s %8s %8s %6s %7s %8s%s", "operation",
                   "calls/s", "per req", "p50", "p99", "errors", "retries", "new conn",
                   wide ? "    calls  throttle  upstr p50" : "");
    /* Leave room for the per-step section: at least its heading and two rows. */
    int op_rows = bottom - r - 4;
    if (op_rows < 1)
        op_rows = 1;
    for (size_t i = 0; i < nops && (int)i < op_rows && r < bottom; i++) {
        const struct ds_op_view *v = &ops[i];
        char name[64], p50[24], p99[24], up[24], nc[24], extra[64] = "";
        snprintf(name, sizeof(name), "%s %s", svc_short(v->service), v->op);
        dash_fmt_us(v->p50_us, v->calls > 0, p50, sizeof(p50));
        dash_fmt_us(v->p99_us, v->calls > 0, p99, sizeof(p99));
        snprintf(nc, sizeof(nc), "%.2f/rq",
                 requests ? (double)v->new_conns / (double)requests : 0.0);
        if (wide) {
            dash_fmt_us(v->up_p50_us, v->calls > 0, up, sizeof(up));
            snprintf(extra, sizeof(extra), " %8llu %9llu %10s", (unsigned long long)v->calls,
                     (unsigned long long)v->throttles, up);
        }
        dash_frame_put(f, r, 1, DS_NORMAL, "%-18.18s %7.0f %7.2f %8s %8s %6llu %7llu %8s%s", name,
                       over ? (double)v->calls / run_s : v->calls_per_s, v->per_request, p50, p99,
                       (unsigned long long)v->errors, (unsigned long long)v->retries, nc, extra);
        if (v->errors)
            dash_frame_style(f, r, 54, 6, DS_BAD);
        if (v->retries)
            dash_frame_style(f, r, 61, 7, DS_WARN);
        r++;
    }
    if (nops > (size_t)op_rows && r < bottom)
        dash_frame_put(f, r++, 3, DS_DIM, "... %zu more operation(s): --what downstream-seconds",
                       nops - (size_t)op_rows);
    if (r + 1 >= bottom)
        goto out;
    r++;
    dash_frame_put(f, r++, 1, DS_HEAD, "%-32s %8s %9s %9s %11s", "per step / operation", "requests",
                   "calls/req", "time/req", "new conn/req");
    for (size_t i = 0; i < nsteps && r < bottom; i++) {
        const struct ds_step_view *v = &steps[i];
        char t[24];
        dash_fmt_us((int64_t)v->time_per_request_us, v->requests > 0, t, sizeof(t));
        if (v->op[0] == '\0') {
            if (v->step >= 0 && v->calls <= 0)
                continue; /* a step whose requests made no call */
            char req[24] = "-";
            if (v->step >= 0)
                snprintf(req, sizeof(req), "%llu", (unsigned long long)v->requests);
            dash_frame_put(
                f, r++, 1, DS_NORMAL, "%-32.32s %8s %9.2f %9s %11.2f", step_name(sn, v->step), req,
                v->requests ? v->calls_per_request : v->calls, t, v->new_conns_per_request);
        } else {
            char name[64];
            snprintf(name, sizeof(name), "%s %s", svc_short(v->service), v->op);
            dash_frame_put(f, r++, 3, DS_DIM, "%-30.30s %8s %9.2f %9s %11.2f", name, "",
                           v->requests ? v->calls_per_request : v->calls, t,
                           v->new_conns_per_request);
        }
    }
out:
    free(ops);
    free(steps);
}
