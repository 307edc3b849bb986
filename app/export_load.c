/*
 * export_load: the whats of a load run: samples (one row per request),
 * intervals (one per second and step, step -1 for all steps) and summary
 * (one per step over the measured part of the run, the all-steps row first).
 *
 * Each is a row of export_int.h's table: its columns and a producer that
 * streams storage's rows into cells, in column order. Latencies are in
 * microseconds; a sample's are derived from its nanosecond times with three
 * exact decimals.
 */
#include "export_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_retry.h"

/* ---- samples ---- */

static const char *const sample_cols[] = {
    "seq",         "worker",    "vu",         "step",         "step_name",   "intended_ns",
    "start_ns",    "end_ns",    "latency_us", "u_latency_us", "dns_us",      "connect_us",
    "tls_us",      "ttfb_us",   "bytes_out",  "bytes_in",     "status",      "err",
    "error_class", "rpc_code",  "flags",      "new_conn",     "warmup",      "late",
    "attempts",    "followups", "retries",    "backoff_us",   "last_try_us", "aws_code",
};

static int sample_row(void *ctx, const struct ls_sample *s)
{
    struct export_ctx *x = ctx;

    ex_u64(x, s->seq);
    ex_u64(x, s->worker);
    ex_u64(x, s->vu);
    ex_u64(x, s->step);
    ex_text(x, ex_step_name(x, s->step));
    ex_u64(x, s->intended_ns);
    ex_u64(x, s->start_ns);
    ex_u64(x, s->end_ns);
    /* ns to us with three exact decimals; signed so a clock oddity shows as negative */
    ex_fixed(x, (int64_t)(s->end_ns - s->intended_ns), 3);
    ex_fixed(x, (int64_t)(s->end_ns - s->start_ns), 3);
    ex_u64(x, s->dns_us);
    ex_u64(x, s->connect_us);
    ex_u64(x, s->tls_us);
    ex_u64(x, s->ttfb_us);
    ex_u64(x, s->bytes_out);
    ex_u64(x, s->bytes_in);
    ex_u64(x, s->status);
    ex_u64(x, s->err);
    ex_text(x, ls_errclass_name((enum ls_errclass)s->err));
    ex_i64(x, s->rpc_code);
    ex_u64(x, s->flags);
    ex_bool(x, (s->flags & LS_SF_NEW_CONN) != 0);
    ex_bool(x, (s->flags & LS_SF_WARMUP) != 0);
    ex_bool(x, (s->flags & LS_SF_LATE) != 0);
    ex_u64(x, s->attempts);
    ex_u64(x, s->followups);
    ex_u64(x, s->retries);
    ex_u64(x, s->backoff_us);
    ex_u64(x, s->last_try_us);
    ex_text(x, s->aws_code != 0 ? aws_code_name(s->aws_code) : NULL);
    return ex_end_row(x);
}

static ls_err samples_rows(struct export_ctx *x)
{
    return store_samples_each(x->st, x->session, sample_row, x);
}

const struct export_what export_what_samples = {
    .name = "samples",
    .doc = "one row per request",
    .tabular = true,
    .cols = sample_cols,
    .ncols = sizeof(sample_cols) / sizeof(sample_cols[0]),
    .rows = samples_rows,
};

/* ---- latency columns shared by intervals and summary ---- */

#define LATENCY_HEADER                                                                             \
    "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us", "u_p50_us", "u_p90_us",          \
        "u_p99_us", "u_p999_us", "u_max_us", "u_mean_us"

static void latency_cells(struct export_ctx *x, const int64_t v[5], double mean,
                          const int64_t u[5], double u_mean)
{
    for (int k = 0; k < 5; k++)
        ex_i64(x, v[k]);
    ex_f64(x, mean);
    for (int k = 0; k < 5; k++)
        ex_i64(x, u[k]);
    ex_f64(x, u_mean);
}

/* ---- intervals ---- */

static const char *const interval_cols[] = {
    "second",     "step",   "step_name", "warmup",       "count",
    "rate_per_s", "errors", "late",      LATENCY_HEADER,
};

static int interval_row(void *ctx, const struct store_interval *iv)
{
    struct export_ctx *x = ctx;
    const int64_t v[5] = {iv->p50_us, iv->p90_us, iv->p99_us, iv->p999_us, iv->max_us};
    const int64_t u[5] = {iv->u_p50_us, iv->u_p90_us, iv->u_p99_us, iv->u_p999_us, iv->u_max_us};

    ex_u64(x, iv->second);
    ex_i64(x, iv->step);
    ex_text(x, ex_step_name(x, iv->step));
    ex_bool(x, iv->warmup != 0);
    ex_u64(x, iv->count);
    ex_u64(x, iv->count); /* an interval is one second: completions per second */
    ex_u64(x, iv->errors);
    ex_u64(x, iv->late);
    latency_cells(x, v, iv->mean_us, u, iv->u_mean_us);
    return ex_end_row(x);
}

static ls_err intervals_rows(struct export_ctx *x)
{
    return store_intervals_each(x->st, x->session, INT32_MIN, interval_row, x);
}

const struct export_what export_what_intervals = {
    .name = "intervals",
    .doc = "one row per second and step",
    .tabular = true,
    .cols = interval_cols,
    .ncols = sizeof(interval_cols) / sizeof(interval_cols[0]),
    .rows = intervals_rows,
};

/* ---- summary ---- */

static const char *const summary_fixed_cols[] = {
    "step", "step_name", "count", "rate_per_s", "errors", "error_rate", LATENCY_HEADER,
};
#define N_SUMMARY_FIXED (sizeof(summary_fixed_cols) / sizeof(summary_fixed_cols[0]))

/* The fixed columns, then errors_<class> for every error class but ok. */
static ls_err summary_columns(struct export_ctx *x)
{
    size_t n = N_SUMMARY_FIXED + (LS_EC__COUNT - 1), text = 0, at = 0;

    for (int k = 1; k < LS_EC__COUNT; k++)
        text += strlen("errors_") + strlen(ls_errclass_name((enum ls_errclass)k)) + 1;
    x->cols = malloc(n * sizeof(*x->cols));
    x->col_text = malloc(text);
    if (x->cols == NULL || x->col_text == NULL)
        return LS_ERR_NOMEM;
    memcpy(x->cols, summary_fixed_cols, sizeof(summary_fixed_cols));
    for (int k = 1; k < LS_EC__COUNT; k++) {
        int len = snprintf(x->col_text + at, text - at, "errors_%s",
                           ls_errclass_name((enum ls_errclass)k));

        x->cols[N_SUMMARY_FIXED + (size_t)k - 1] = x->col_text + at;
        at += (size_t)len + 1;
    }
    x->ncols = n;
    return LS_OK;
}

static int summary_row(void *ctx, const struct store_summary *sm)
{
    struct export_ctx *x = ctx;
    const int64_t v[5] = {sm->p50_us, sm->p90_us, sm->p99_us, sm->p999_us, sm->max_us};
    const int64_t u[5] = {sm->u_p50_us, sm->u_p90_us, sm->u_p99_us, sm->u_p999_us, sm->u_max_us};

    ex_i64(x, sm->step);
    ex_text(x, ex_step_name(x, sm->step));
    ex_u64(x, sm->count);
    ex_f64(x, sm->rate);
    ex_u64(x, sm->errors);
    ex_ratio(x, sm->errors, sm->count);
    latency_cells(x, v, sm->mean_us, u, sm->u_mean_us);
    for (int k = 1; k < LS_EC__COUNT; k++)
        ex_u64(x, sm->err_by_class[k]);
    return ex_end_row(x);
}

static ls_err summary_rows(struct export_ctx *x)
{
    return store_summaries_each(x->st, x->session, summary_row, x);
}

static void summary_note(const struct export_ctx *x, char *buf, size_t cap)
{
    if (x->rows == 0)
        snprintf(buf, cap,
                 "session %lld has no summary (it did not finish: still running, or killed); "
                 "its samples and per-second intervals are stored (--what samples, --what "
                 "intervals)",
                 (long long)x->session);
}

const struct export_what export_what_summary = {
    .name = "summary",
    .doc = "one row per step over the measured run, ALL first",
    .tabular = true,
    .columns = summary_columns,
    .rows = summary_rows,
    .note = summary_note,
};
