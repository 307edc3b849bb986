/*
 * report: the end-of-run summary and threshold verdicts, as text.
 *
 * Pure formatting and arithmetic over collector totals: used by the headless
 * CLI (and later the dashboard) so both say the same thing.
 */
#ifndef LS_REPORT_H
#define LS_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "stats/collector.h"
#include "scenario/scenario.h"

/* Formats microseconds the way people read latency: "850us", "1.20ms", "2.31s". */
void report_fmt_us(int64_t us, char *buf, size_t cap);

/* Formats nanoseconds the same way. */
void report_fmt_ns(uint64_t ns, char *buf, size_t cap);

struct report_threshold_result {
    bool passed;
    bool no_data;      /* nothing measured: counts as broken */
    double observed;   /* latency in ns, rates as fractions or req/s */
    char observed_text[32];
};

/*
 * Evaluates threshold t against totals of its step (or all steps);
 * measured_s is the measured duration for rate thresholds.
 */
void report_eval_threshold(const struct scn_threshold *t, const struct coll_totals *tot,
                           double measured_s, struct report_threshold_result *out);

/* Prints the per-step table: corrected and uncorrected side by side, errors by class. */
struct report_step_row {
    const char *name;
    const struct coll_totals *tot;
};
void report_print_steps(FILE *f, const struct report_step_row *rows, size_t n, double measured_s);

#endif
