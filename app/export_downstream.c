/*
 * export_downstream: the whats of the launched target's downstream AWS calls
 * (target.downstream): downstream (one row per call the target made through
 * a recording proxy) and downstream-seconds (one row per second and
 * operation, with percentiles from the stored histograms).
 *
 * Both are rows of export_int.h's table, streamed from
 * storage/store_downstream's readers. Latencies are in microseconds.
 */
#include "export_int.h"

#include <stdio.h>
#include <string.h>

#include "aws/awsconf.h"
#include "stats/hdr.h"
#include "store_downstream.h"

/* ---- downstream: one row per call ---- */

static const char *const call_cols[] = {
    "seq",          "service",       "op",          "start_ns",
    "latency_us",   "upstream_us",   "status",      "aws_code",
    "bytes_in",     "bytes_out",     "new_conn",    "attempt",
    "max_attempts", "invocation_id", "batch_asked", "batch_unprocessed",
    "fault",        "delay_us",      "in_flight",   "step",
    "step_name",    "shares",        "detail",
};

static void text_or_null(struct export_ctx *x, const char *s)
{
    ex_text(x, s[0] ? s : NULL);
}

static int call_row(void *ctx, const struct ds_call *c)
{
    struct export_ctx *x = ctx;
    bool batch = ds_op_is_batch(c->op);
    const char *fault = ds_fault_name((enum ds_fault)c->fault);

    ex_u64(x, c->seq);
    ex_text(x, awsconf_service_name((enum aws_service)c->service));
    ex_text(x, c->op);
    ex_i64(x, c->start_ns);
    ex_u64(x, c->latency_ns / 1000);
    if (c->upstream_ns)
        ex_u64(x, c->upstream_ns / 1000);
    else
        ex_null(x);
    ex_u64(x, c->status);
    text_or_null(x, c->aws_code);
    ex_u64(x, c->bytes_in);
    ex_u64(x, c->bytes_out);
    ex_bool(x, c->new_conn);
    if (c->attempt) {
        ex_u64(x, c->attempt);
        ex_u64(x, c->max_attempts);
    } else {
        ex_null(x);
        ex_null(x);
    }
    text_or_null(x, c->invocation_id);
    if (batch) {
        ex_u64(x, c->batch_asked);
        ex_u64(x, c->batch_unprocessed);
    } else {
        ex_null(x);
        ex_null(x);
    }
    ex_text(x, fault);
    if (c->fault)
        ex_u64(x, c->delay_ns / 1000);
    else
        ex_null(x);
    ex_u64(x, c->in_flight);
    /* As stored: the step in flight, -1 none, -2 several (their shares follow). */
    int step = c->nshares == 0 ? -1 : c->nshares == 1 ? c->shares[0].step : -2;
    ex_i64(x, step);
    if (step >= 0)
        ex_text(x, ex_step_name(x, step));
    else
        ex_null(x);
    if (c->nshares > 1) {
        char buf[DS_SHARES_MAX * 24 + 4];
        size_t off = 0;
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "{");
        for (size_t i = 0; i < c->nshares && off < sizeof(buf); i++)
            off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s\"%d\":%u", i ? "," : "",
                                    (int)c->shares[i].step, (unsigned)c->shares[i].in_flight);
        if (off < sizeof(buf))
            snprintf(buf + off, sizeof(buf) - off, "}");
        ex_text(x, buf);
    } else {
        ex_null(x);
    }
    text_or_null(x, c->detail);
    return ex_end_row(x);
}

static ls_err calls_rows(struct export_ctx *x)
{
    return store_downstream_calls_each(x->st, x->session, call_row, x);
}

static void downstream_note(const struct export_ctx *x, char *buf, size_t cap)
{
    if (x->rows == 0)
        snprintf(buf, cap,
                 "session %lld has no downstream calls (the scenario had no target.downstream, "
                 "or the target made no AWS call through the proxies)",
                 (long long)x->session);
}

const struct export_what export_what_downstream = {
    .name = "downstream",
    .doc = "one row per AWS call the launched target made (target.downstream)",
    .tabular = true,
    .cols = call_cols,
    .ncols = sizeof(call_cols) / sizeof(call_cols[0]),
    .rows = calls_rows,
    .note = downstream_note,
};

/* ---- downstream-seconds: one row per second and operation ---- */

static const char *const second_cols[] = {
    "second",  "service",   "op",     "calls",     "errors",    "throttles",   "server_errors",
    "retries", "new_conns", "faults", "bytes_in",  "bytes_out", "batch_asked", "batch_unprocessed",
    "p50_us",  "p99_us",    "max_us", "up_p50_us", "up_p99_us",
};

static void pct(struct export_ctx *x, const struct hdr *h, double p)
{
    if (h && hdr_total_count(h) > 0)
        ex_i64(x, p < 0 ? hdr_max(h) : hdr_value_at_percentile(h, p));
    else
        ex_null(x);
}

static int second_row(void *ctx, const struct ds_second *s)
{
    struct export_ctx *x = ctx;
    for (size_t i = 0; i < s->nops; i++) {
        const struct ds_op_second *o = &s->ops[i];
        ex_u64(x, s->second);
        ex_text(x, awsconf_service_name((enum aws_service)o->service));
        ex_text(x, o->op);
        ex_u64(x, o->calls);
        ex_u64(x, o->errors);
        ex_u64(x, o->throttles);
        ex_u64(x, o->server_errors);
        ex_u64(x, o->retries);
        ex_u64(x, o->new_conns);
        ex_u64(x, o->faults);
        ex_u64(x, o->bytes_in);
        ex_u64(x, o->bytes_out);
        ex_u64(x, o->batch_asked);
        ex_u64(x, o->batch_unprocessed);
        pct(x, o->latency, 50);
        pct(x, o->latency, 99);
        pct(x, o->latency, -1);
        pct(x, o->upstream, 50);
        pct(x, o->upstream, 99);
        if (ex_end_row(x) != 0)
            return 1;
    }
    return 0;
}

static ls_err seconds_rows(struct export_ctx *x)
{
    return store_downstream_seconds_each(x->st, x->session, second_row, x);
}

const struct export_what export_what_downstream_seconds = {
    .name = "downstream-seconds",
    .doc = "one row per second and AWS operation of the launched target (target.downstream)",
    .tabular = true,
    .cols = second_cols,
    .ncols = sizeof(second_cols) / sizeof(second_cols[0]),
    .rows = seconds_rows,
    .note = downstream_note,
};
