/*
 * export_findings: the findings what, in every format of the table, and its
 * own markdown: the hand-off report a performance review gives the people
 * who own the design (the run: scenario, load, results; then each finding
 * with its evidence, where, the proposed change and its expected effect).
 *
 * Rows are the session's stored findings (findings_store, at the end of a
 * run), or, for a session stored before findings were, computed from its
 * stored evidence the same way (findings_each).
 */
#include "export_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "findings.h"
#include "report.h"

static const char *const findings_cols[] = {
    "rank", "rule",   "severity",   "title",   "evidence", "where",
    "fix",  "impact", "confidence", "first_s", "last_s",
};

static int finding_row(void *ctx, const struct store_finding *f)
{
    struct export_ctx *x = ctx;
    ex_u64(x, f->rank);
    ex_text(x, f->rule);
    ex_text(x, f->severity);
    ex_text(x, f->title);
    ex_text(x, f->evidence);
    ex_text(x, f->where);
    ex_text(x, f->fix);
    ex_fixed(x, (int64_t)(f->impact * 1000 + 0.5), 3);
    ex_fixed(x, (int64_t)(f->confidence * 100 + 0.5), 2);
    ex_i64(x, f->first_s);
    ex_i64(x, f->last_s);
    return ex_end_row(x);
}

static ls_err findings_rows(struct export_ctx *x)
{
    char err[256] = "";
    ls_err e = findings_each(x->st, x->session, finding_row, x, NULL, err, sizeof(err));
    if (e != LS_OK && x->err == LS_OK && err[0] && x->msg)
        snprintf(x->msg, x->msgcap, "%s", err);
    return e;
}

/* ---- markdown ---- */

#define MD_DETAIL_LINES 40 /* lines of a finding's stacks in the report */

/* Writes text with its lines kept: pipes and newlines would break a table, so none is used. */
static void md_line(FILE *f, const char *label, const char *text)
{
    fprintf(f, "- **%s:** %s\n", label, text && *text ? text : "(none)");
}

/* The number after "key": in the flat params JSON; 0 when absent. */
static double param(const char *js, const char *key)
{
    char k[64];
    snprintf(k, sizeof(k), "\"%s\":", key);
    const char *p = js ? strstr(js, k) : NULL;
    return p ? strtod(p + strlen(k), NULL) : 0;
}

static int on_all_summary(void *ctx, const struct store_summary *sm)
{
    if (sm->step != -1)
        return 0;
    *(struct store_summary *)ctx = *sm;
    return 1;
}

static ls_err md_header(struct export_ctx *x, FILE *f)
{
    const struct store_session *s = &x->session_row;
    const char *pj = s->params_json;
    bool open = pj && strstr(pj, "\"model\":\"open\"");
    double dur = param(pj, "duration_ns") / 1e9, warm = param(pj, "warmup_ns") / 1e9;
    char when[64] = "";
    time_t t = (time_t)(s->started_unix_ns / 1000000000);
    struct tm tm;
    if (gmtime_r(&t, &tm) != NULL)
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    fprintf(f, "# Performance findings: %s\n\n", s->name ? s->name : "");
    fprintf(f, "loadscope session %lld, %s on %s (loadscope %s).\n\n", (long long)s->id, when,
            s->host ? s->host : "?", s->version ? s->version : "?");
    fprintf(f, "## The run\n\n");
    fprintf(f, "- **Scenario:** %s (`%s`)\n", s->name ? s->name : "",
            s->scenario_path ? s->scenario_path : "");
    fprintf(f, "- **Target:** `%s`\n", s->target ? s->target : "");
    if (open)
        fprintf(f, "- **Load:** open loop, %.3g requests/s (at most %.0f in flight), %.3g s",
                param(pj, "rate"), param(pj, "max_in_flight"), dur);
    else
        fprintf(f, "- **Load:** closed loop, %.0f virtual users, %.3g s", param(pj, "concurrency"),
                dur);
    fprintf(f, "%s", warm > 0 ? "" : "\n");
    if (warm > 0)
        fprintf(f, " after a %.3g s warm-up\n", warm);
    struct store_summary sm = {0};
    ls_err e = store_summaries_each(x->st, x->session, on_all_summary, &sm);
    if (e != LS_OK)
        return e;
    if (sm.count > 0) {
        char p50[32], p99[32], u99[32];
        report_fmt_us(sm.p50_us, p50, sizeof(p50));
        report_fmt_us(sm.p99_us, p99, sizeof(p99));
        report_fmt_us(sm.u_p99_us, u99, sizeof(u99));
        fprintf(f,
                "- **Results:** %llu requests (%.1f/s), %llu errors (%.2f%%); latency p50 %s, "
                "p99 %s (uncorrected p99 %s)\n",
                (unsigned long long)sm.count, sm.rate, (unsigned long long)sm.errors,
                100.0 * (double)sm.errors / (double)sm.count, p50, p99, u99);
    } else {
        fprintf(f, "- **Results:** no summary stored (the run did not finish)\n");
    }
    if (s->status_text && *s->status_text)
        fprintf(f, "- **Outcome:** %s\n", s->status_text);
    fprintf(f, "\n## Findings\n\n");
    return LS_OK;
}

/* What a rule's impact is a share of, by its family. */
static const char *effect_of(const char *rule)
{
    static const struct {
        const char *prefix, *what;
    } fam[] = {
        {"alloc.", "the process's allocations per request"},
        {"mem.", "the memory this site keeps"},
        {"aws.", "the downstream calls or their time per request"},
        {"runtime.", "the runtime workers' time or the latency per request"},
        {"cpu.", "the target's CPU per request"},
    };
    for (size_t i = 0; i < sizeof(fam) / sizeof(fam[0]); i++)
        if (strncmp(rule, fam[i].prefix, strlen(fam[i].prefix)) == 0)
            return fam[i].what;
    return "the measured latency";
}

static int md_finding(void *ctx, const struct store_finding *fd)
{
    struct export_ctx *x = ctx;
    FILE *f = x->out;
    fprintf(f, "### %u. [%s] %s\n\n", fd->rank, fd->severity, fd->title);
    md_line(f, "Rule", fd->rule);
    md_line(f, "Evidence", fd->evidence);
    fprintf(f, "- **Where:** `%s`\n", fd->where);
    md_line(f, "Proposed change", fd->fix);
    fprintf(f, "- **Expected effect:** the change removes up to %.0f%% of %s (confidence %.0f%%)\n",
            fd->impact * 100, effect_of(fd->rule), fd->confidence * 100);
    fprintf(f, "- **Seen:** seconds %lld to %lld of the run\n", (long long)fd->first_s,
            (long long)fd->last_s);
    if (fd->detail && *fd->detail) {
        /* the first lines of the stacks: enough to find the code; the rest is in the hot paths */
        const char *end = fd->detail;
        size_t lines = 0;
        while (*end && lines < MD_DETAIL_LINES)
            lines += *end++ == '\n';
        fprintf(f, "\n<details><summary>Stacks</summary>\n\n```\n%.*s%s```\n",
                (int)(end - fd->detail), fd->detail, *end ? "" : "\n");
        if (*end)
            fprintf(f, "(more stacks: `loadscope export %lld --what hotpaths`)\n",
                    (long long)x->session);
        fprintf(f, "\n</details>\n");
    }
    fprintf(f, "\n");
    if (ferror(f)) {
        x->err = LS_ERR_IO;
        x->errnum = 0;
        return 1;
    }
    return ex_line_done(x);
}

static ls_err findings_markdown(struct export_ctx *x)
{
    FILE *f = x->out;
    char err[256] = "";
    ls_err e = md_header(x, f);
    if (e != LS_OK)
        return e;
    e = findings_each(x->st, x->session, md_finding, x, NULL, err, sizeof(err));
    if (e != LS_OK) {
        if (x->err == LS_OK && err[0] && x->msg)
            snprintf(x->msg, x->msgcap, "%s", err);
        return e;
    }
    if (x->rows == 0)
        fprintf(f, "No finding: no rule fired on what was measured.\n\n");
    /* what could not be judged, from the evidence stored */
    struct adv_report r;
    if (findings_for_session(x->st, x->session, FINDINGS_WHOLE_RUN, &r, err, sizeof(err)) ==
        LS_OK) {
        if (r.n_not_measured > 0) {
            fprintf(f, "Not measured in this run (no evidence, so no finding):");
            for (size_t i = 0; i < r.n_not_measured; i++)
                fprintf(f, "%s `%s`", i ? "," : "", r.not_measured[i].rule);
            fprintf(f, ".\n");
        }
        adv_report_free(&r);
    }
    if (ferror(f))
        x->err = LS_ERR_IO;
    return LS_OK;
}

const struct export_what export_what_findings = {
    .name = "findings",
    .doc = "the advisor's findings, ranked, with first and last second seen",
    .tabular = true,
    .cols = findings_cols,
    .ncols = sizeof(findings_cols) / sizeof(findings_cols[0]),
    .rows = findings_rows,
    .text_format = "markdown",
    .text = findings_markdown,
};
