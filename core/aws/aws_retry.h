/*
 * aws_retry: the AWS SDKs' "standard" retry mode, as a pure policy.
 *
 * Classification tells throttling (retry, back off), transient faults
 * (retry: HTTP 500/502/503/504, timeouts, connection resets, a few transient
 * codes) and everything else (never retry: ValidationException,
 * ConditionalCheckFailedException, AccessDenied, NoSuchKey, ...). Backoff is
 * exponential with full jitter: before attempt n+1 (n failed attempts so far)
 * the delay is uniform in [0, min(cap, base * 2^(n-1))], base 100 ms, cap
 * 20 s. The SDKs' client-side retry token bucket is not modelled: a load
 * generator wants every request to get its attempts.
 *
 * aws_code_index() maps an error code to a small stable index so a sample can
 * carry it in a fixed-size field; aws_code_name() maps it back.
 */
#ifndef LS_AWS_RETRY_H
#define LS_AWS_RETRY_H

#include <stddef.h>
#include <stdint.h>

#include "scenario/template.h"

#define AWS_RETRY_BASE_NS 100000000ull    /* 100 ms */
#define AWS_RETRY_CAP_NS 20000000000ull   /* 20 s */
#define AWS_DEFAULT_MAX_ATTEMPTS 3

enum aws_retry_kind {
    AWS_RK_OK = 0,       /* success: nothing to retry */
    AWS_RK_THROTTLE,     /* throttled: retry after backoff */
    AWS_RK_TRANSIENT,    /* transient fault: retry after backoff */
    AWS_RK_NEVER,        /* an error that retrying cannot fix */
};

enum aws_transport_fault {
    AWS_TF_NONE = 0,     /* an HTTP reply arrived */
    AWS_TF_TIMEOUT,      /* no complete reply in time */
    AWS_TF_CONNECTION,   /* could not connect, reset, closed mid-reply */
    AWS_TF_OTHER,        /* a local failure (e.g. out of memory): not retried */
};

/*
 * Classifies one attempt. code is the service's error code ("" or NULL when
 * the reply had none); status the HTTP status (0 without a reply).
 */
enum aws_retry_kind aws_retry_classify(enum aws_transport_fault tf, unsigned status,
                                       const char *code);

/* True for the throttling codes of the SDKs' standard mode. */
int aws_code_is_throttling(const char *code);

/*
 * Backoff before the next attempt after `failed` failed attempts (>= 1):
 * uniform in [0, min(AWS_RETRY_CAP_NS, AWS_RETRY_BASE_NS * 2^(failed-1))].
 */
uint64_t aws_retry_backoff_ns(uint32_t failed, struct tmpl_rng *rng);

/* Upper bound of aws_retry_backoff_ns for `failed` failed attempts. */
uint64_t aws_retry_backoff_cap_ns(uint32_t failed);

/*
 * Stable small index of an AWS error code for samples: 0 means no code,
 * AWS_CODE_UNLISTED a code not in the table (its text is logged as an event).
 */
#define AWS_CODE_UNLISTED 1u
uint16_t aws_code_index(const char *code, size_t len);
/* Name of an index ("" for 0, "unlisted" for AWS_CODE_UNLISTED, NULL past the table). */
const char *aws_code_name(uint16_t index);
/* Number of indexes (names 0..aws_code_count()-1 exist). */
uint16_t aws_code_count(void);

#endif
