/*
 * aws_run: what a run's AWS steps did beyond the samples, for the summary.
 *
 * Counted by the workers over the measured part of the run (warm-up
 * excluded) and read after engine_run() returned.
 */
#ifndef LS_AWS_RUN_H
#define LS_AWS_RUN_H

#include <stddef.h>
#include <stdint.h>

struct engine;

struct aws_run_totals {
    uint64_t ops;          /* AWS step executions (samples) */
    uint64_t attempts;     /* HTTP requests sent for them */
    uint64_t retries;      /* of which retries after a throttle or transient fault */
    uint64_t followups;    /* batch calls for UnprocessedKeys / UnprocessedItems */
    uint64_t backoff_us;   /* backoff scheduled, summed */
};

/* Totals of the AWS steps; zero when the scenario has none. */
void engine_aws_totals(const struct engine *e, struct aws_run_totals *out);

/*
 * Failed operations by AWS error code (the last failed attempt's code), in
 * the code table's order: fills up to cap names and counts, returns how many
 * codes had a non-zero count. Names are static.
 */
size_t engine_aws_error_codes(const struct engine *e, const char **names, uint64_t *counts,
                              size_t cap);

#endif
