/*
 * report: summary tables and threshold verdicts.
 */
#include "report.h"

#include <string.h>

#include "stats/hdr.h"
#include "stats/sample.h"

void report_fmt_us(int64_t us, char *buf, size_t cap)
{
    if (us < 1000)
        snprintf(buf, cap, "%lldus", (long long)us);
    else if (us < 1000000)
        snprintf(buf, cap, "%.2fms", (double)us / 1e3);
    else
        snprintf(buf, cap, "%.2fs", (double)us / 1e6);
}

void report_fmt_ns(uint64_t ns, char *buf, size_t cap)
{
    report_fmt_us((int64_t)((ns + 500) / 1000), buf, cap);
}

void report_eval_threshold(const struct scn_threshold *t, const struct coll_totals *tot,
                           double measured_s, struct report_threshold_result *out)
{
    memset(out, 0, sizeof(*out));
    double v = 0;
    bool have = tot->count > 0;
    switch (t->metric) {
    case SCN_M_PERCENTILE:
        if (have)
            v = (double)hdr_value_at_percentile(tot->corrected, t->percentile) * 1000.0;
        report_fmt_ns((uint64_t)v, out->observed_text, sizeof(out->observed_text));
        break;
    case SCN_M_MEAN:
        if (have)
            v = hdr_mean(tot->corrected) * 1000.0;
        report_fmt_ns((uint64_t)v, out->observed_text, sizeof(out->observed_text));
        break;
    case SCN_M_MAX:
        if (have)
            v = (double)hdr_max(tot->corrected) * 1000.0;
        report_fmt_ns((uint64_t)v, out->observed_text, sizeof(out->observed_text));
        break;
    case SCN_M_ERROR_RATE:
        if (have)
            v = (double)tot->errors / (double)tot->count;
        snprintf(out->observed_text, sizeof(out->observed_text), "%.3f%%", v * 100.0);
        break;
    case SCN_M_RATE:
        v = measured_s > 0 ? (double)tot->count / measured_s : 0;
        have = true; /* a rate of zero is a measurement */
        snprintf(out->observed_text, sizeof(out->observed_text), "%.1f/s", v);
        break;
    }
    out->observed = v;
    if (!have) {
        out->no_data = true;
        snprintf(out->observed_text, sizeof(out->observed_text), "no data");
        return;
    }
    switch (t->cmp) {
    case SCN_LT: out->passed = v < t->limit; break;
    case SCN_LE: out->passed = v <= t->limit; break;
    case SCN_GT: out->passed = v > t->limit; break;
    case SCN_GE: out->passed = v >= t->limit; break;
    }
}

static void print_latency_row(FILE *f, const char *lead, const char *kind, const struct hdr *h)
{
    static const double ps[] = {50, 90, 99, 99.9};
    char cell[5][24];
    for (int i = 0; i < 4; i++)
        report_fmt_us(hdr_value_at_percentile(h, ps[i]), cell[i], sizeof(cell[i]));
    report_fmt_us(hdr_max(h), cell[4], sizeof(cell[4]));
    fprintf(f, "%s %-11s %9s %9s %9s %9s %9s\n", lead, kind, cell[0], cell[1], cell[2], cell[3],
            cell[4]);
}

void report_print_steps(FILE *f, const struct report_step_row *rows, size_t n, double measured_s)
{
    fprintf(f, "%-20s %9s %9s %7s  %-11s %9s %9s %9s %9s %9s\n", "step", "requests", "rate/s",
            "errors", "latency", "p50", "p90", "p99", "p99.9", "max");
    for (size_t i = 0; i < n; i++) {
        const struct coll_totals *t = rows[i].tot;
        double rate = measured_s > 0 ? (double)t->count / measured_s : 0;
        double errpct = t->count ? 100.0 * (double)t->errors / (double)t->count : 0;
        char lead[64];
        snprintf(lead, sizeof(lead), "%-20.20s %9llu %9.1f %6.2f%%", rows[i].name,
                 (unsigned long long)t->count, rate, errpct);
        if (t->count == 0) {
            fprintf(f, "%s  (no requests completed)\n", lead);
            continue;
        }
        print_latency_row(f, lead, "corrected", t->corrected);
        print_latency_row(f, "                                                ", "uncorrected",
                          t->uncorrected);
        if (t->errors) {
            fprintf(f, "%-20s errors:", "");
            for (int c = 1; c < LS_EC__COUNT; c++) {
                if (t->err_by_class[c])
                    fprintf(f, " %s=%llu", ls_errclass_name((enum ls_errclass)c),
                            (unsigned long long)t->err_by_class[c]);
            }
            fputc('\n', f);
        }
    }
}
