/*
 * compare: `loadscope compare A B`, two stored sessions side by side, with
 * the change of every figure, its 95% interval and a verdict per step and
 * for all steps (the statistics are core/stats/compare.h's); and gates for
 * CI: a condition such as "p99 +10%" holds when the whole interval of the
 * change lies past it.
 */
#ifndef LS_APP_COMPARE_H
#define LS_APP_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "stats/compare.h"
#include "util/lserr.h"

struct store;

/* A regression gate: "p99 +10%", "p50 +2ms", "rate -5%", "error_rate +0.5pp" (optionally "STEP: "). */
struct cmp_gate {
    char text[96];
    char step[64];              /* "" for all steps */
    enum cmp_metric metric;
    double limit;               /* signed: +10% is 0.10, -5% is -0.05, 2ms is 2000 (us), 0.5pp is 0.005 */
    enum { GATE_REL, GATE_ABS } kind;
};

/* Parses a gate; false, with why in err, when it is not one. */
bool cmp_gate_parse(const char *text, struct cmp_gate *g, char *err, size_t errcap);

struct compare_opts {
    unsigned resamples;         /* 0: 1000 */
    uint64_t seed;
    const struct cmp_gate *gates;
    size_t ngates;
};

/*
 * Compares session a of sa with session b of sb (the same store may serve
 * both), prints the table to f, and says in *failed whether a gate held.
 * On failure, why is in err.
 */
LS_MUST_CHECK ls_err compare_sessions(struct store *sa, int64_t a, struct store *sb, int64_t b,
                                      const struct compare_opts *o, FILE *f, bool *failed, char *err,
                                      size_t errcap);

/*
 * A/A calibration: splits session id's measured seconds at random into two
 * halves, rounds times (seeded), and counts the rounds whose all-steps
 * comparison calls a latency percentile or the rate significantly different.
 * With a method that holds its 95% promise, about 5% per figure.
 */
LS_MUST_CHECK ls_err compare_calibrate(struct store *st, int64_t id, unsigned rounds, uint64_t seed,
                                       const struct compare_opts *o, FILE *f, unsigned *flagged,
                                       char *err, size_t errcap);

#endif
