/*
 * sessions: the `loadscope sessions` listing (contract in sessions.h).
 * Storage gives each session's row and figures (storage/store_list.c);
 * this file decides what is shown and formats it.
 */
#include "sessions.h"

#include <string.h>
#include <time.h>

#include "report.h"

#define SESSIONS_LINE_FMT "%6s  %-19s  %10s  %10s  %9s  %8s  %14s  %-18.18s  %-20.20s  %s"

void sessions_figures(const struct store_session_stats *s, struct sessions_figures *out)
{
    memset(out, 0, sizeof(*out));
    out->p99_us = -1;
    if (s->has_summary) {
        out->known = true;
        out->from_summary = true;
        out->requests = s->sum_count;
        out->errors = s->sum_errors;
        out->rate = s->sum_rate;
        if (s->sum_count > 0)
            out->p99_us = s->sum_p99_us;
    } else if (s->iv_seconds > 0) {
        out->known = true;
        out->requests = s->iv_count;
        out->errors = s->iv_errors;
        out->rate = (double)s->iv_count / (double)s->iv_seconds;
    }
}

void sessions_header(char *buf, size_t cap)
{
    snprintf(buf, cap, SESSIONS_LINE_FMT, "id", "started", "duration", "requests", "rate/s",
             "p99", "errors", "status", "scenario", "target");
}

void sessions_format(const struct store_session_stats *s, char *buf, size_t cap)
{
    const struct store_session_row *r = &s->row;
    struct sessions_figures f;
    char id[24], when[32] = "?", dur[32], samples[24], rate[32] = "-", p99[32] = "-",
         errs[48] = "-";
    time_t t = (time_t)(r->started_unix_ns / 1000000000ll);
    struct tm tm;

    sessions_figures(s, &f);
    snprintf(id, sizeof(id), "%lld", (long long)r->id);
    if (localtime_r(&t, &tm) != NULL)
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    if (r->ended_unix_ns != 0)
        snprintf(dur, sizeof(dur), "%.1fs",
                 r->ended_unix_ns > r->started_unix_ns
                     ? (double)(r->ended_unix_ns - r->started_unix_ns) / 1e9
                     : 0.0);
    else
        snprintf(dur, sizeof(dur), "unfinished");
    /* requests: every stored sample, as before (warm-up and handshakes included) */
    snprintf(samples, sizeof(samples), "%lld", (long long)r->samples);
    if (f.known) {
        snprintf(rate, sizeof(rate), "%.1f", f.rate);
        if (f.errors == 0)
            snprintf(errs, sizeof(errs), "0");
        else
            snprintf(errs, sizeof(errs), "%llu (%.1f%%)", (unsigned long long)f.errors,
                     f.requests > 0 ? 100.0 * (double)f.errors / (double)f.requests : 100.0);
    }
    if (f.p99_us >= 0)
        report_fmt_us(f.p99_us, p99, sizeof(p99));
    snprintf(buf, cap, SESSIONS_LINE_FMT, id, when, dur, samples, rate, p99, errs,
             r->status_text != NULL ? r->status_text : "", r->name != NULL ? r->name : "",
             r->target != NULL ? r->target : "");
}

struct list_ctx {
    FILE *out;
    bool failed;
};

static int print_one(void *ctx, const struct store_session_stats *s)
{
    struct list_ctx *c = ctx;
    char line[1024];

    sessions_format(s, line, sizeof(line));
    if (fprintf(c->out, "%s\n", line) < 0) {
        c->failed = true;
        return 1;
    }
    return 0;
}

ls_err sessions_list(struct store *st, FILE *out, char *err, size_t errcap)
{
    struct list_ctx c = {.out = out};
    char line[256];
    ls_err e;

    sessions_header(line, sizeof(line));
    if (fprintf(out, "%s\n", line) < 0) {
        snprintf(err, errcap, "writing the list failed");
        return LS_ERR_IO;
    }
    e = store_sessions_stats_each(st, print_one, &c);
    if (e != LS_OK) {
        snprintf(err, errcap, "%s", store_errmsg(st));
        return e;
    }
    if (c.failed || fflush(out) != 0) {
        snprintf(err, errcap, "writing the list failed");
        return LS_ERR_IO;
    }
    return LS_OK;
}
