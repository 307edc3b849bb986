/*
 * compare: is B different from A, and by how much? The statistics behind
 * `loadscope compare`, pure (no I/O).
 *
 * A session is its measured seconds: per second, the requests completed,
 * the failures, and the HDR histogram of corrected latency (microseconds).
 * Latency percentiles and the rate are compared by a bootstrap over
 * seconds: each resample draws as many seconds as the session has, with
 * replacement, and merges their histograms, so a second's requests stay
 * together and the autocorrelation inside a second is not counted as
 * independent evidence (a stall shows as one bad second, not as a thousand
 * bad samples). A and B are resampled independently; the 95% interval of
 * B - A is the 2.5th to 97.5th percentile of the resampled differences.
 * The error rate is compared by a two-proportion z-test on the request
 * counts (normal interval of the difference). The maximum is reported but
 * never judged: one sample is no evidence.
 *
 * Assumptions, said in the README: seconds are exchangeable within a
 * session (a steady load; warm-up left out), and A and B are independent.
 */
#ifndef LS_COMPARE_H
#define LS_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#include "stats/hdr.h"
#include "util/lserr.h"

enum cmp_metric { CMP_RATE = 0, CMP_P50, CMP_P90, CMP_P99, CMP_P999, CMP_MAX, CMP_ERRORS, CMP__N };

/* What higher means: rates are better higher, latencies and errors worse. */
enum cmp_verdict { CMP_SAME = 0, CMP_BETTER, CMP_WORSE, CMP_NOT_JUDGED };

/* One measured second of one step. */
struct cmp_second {
    uint64_t count, errors;
    const struct hdr *h;        /* corrected latency, us; borrowed; NULL when count is 0 */
};

struct cmp_result {
    double a, b;                /* point estimates (req/s, us, or a fraction for errors) */
    double diff, lo, hi;        /* b - a and its 95% interval */
    double rel, rel_lo, rel_hi; /* the same relative to a (0 when a is 0) */
    enum cmp_verdict verdict;
    int judged;                 /* 0: too little data (fewer than 3 seconds on a side) */
};

/* "rate/s", "p50", ... ; "error_rate" for CMP_ERRORS. */
const char *cmp_metric_name(enum cmp_metric m);
const char *cmp_verdict_name(enum cmp_verdict v);

/*
 * Compares the seconds of A with those of B: resamples bootstrap rounds
 * (1000 is plenty), seeded for repeatable answers. Fills out[CMP__N].
 * LS_ERR_NOMEM, or LS_ERR_INVALID for a histogram of another configuration.
 */
LS_MUST_CHECK ls_err cmp_compare(const struct cmp_second *a, size_t na, const struct cmp_second *b,
                                 size_t nb, unsigned resamples, uint64_t seed,
                                 struct cmp_result out[CMP__N]);

#endif
