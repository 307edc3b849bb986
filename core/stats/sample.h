/*
 * sample: what one request leaves behind, and the classes of failure.
 *
 * A sample is a fixed-size value written by a load worker into its own ring
 * and copied from there to storage; it holds no pointers. Times are
 * nanoseconds since the run's start (CLOCK_MONOTONIC based).
 */
#ifndef LS_SAMPLE_H
#define LS_SAMPLE_H

#include <stdint.h>

enum ls_errclass {
    LS_EC_OK = 0,
    LS_EC_CONNECT,       /* could not connect / connection reset before a reply */
    LS_EC_TIMEOUT,       /* no complete reply within the request timeout */
    LS_EC_HTTP,          /* HTTP status >= 400 other than a lost session */
    LS_EC_PROTOCOL,      /* reply not valid JSON-RPC / SSE / JSON */
    LS_EC_RPC,           /* JSON-RPC error object */
    LS_EC_TOOL,          /* tools/call result with isError: true */
    LS_EC_SESSION_LOST,  /* 400/404 for a session id: re-initialized */
    LS_EC_TARGET_EXIT,   /* the target process died with the request in flight */
    LS_EC_SEND,          /* could not write the request (pipe closed, curl refused) */
    LS_EC_OTHER,
    /* AWS steps (appended: stored ids never change) */
    LS_EC_THROTTLED,     /* throttled on the last attempt (ThrottlingException, SlowDown, ...) */
    LS_EC_AWS_CLIENT,    /* an AWS error that retrying cannot fix (ValidationException, NoSuchKey...) */
    LS_EC_AWS_SERVER,    /* HTTP 5xx / transient AWS fault on the last attempt */
    LS_EC__COUNT
};

/* Stable names used in summaries, the database and exports. */
const char *ls_errclass_name(enum ls_errclass c);

enum ls_sample_flags {
    LS_SF_NEW_CONN = 1u << 0, /* the request opened a new connection */
    LS_SF_WARMUP = 1u << 1,   /* sent during warm-up: kept apart from results */
    LS_SF_LATE = 1u << 2,     /* open loop: sent later than intended (> 1 ms) */
};

/* Step index used for the timed MCP initialize handshake. */
#define LS_STEP_INITIALIZE 0xFFFEu

struct ls_sample {
    uint64_t intended_ns;   /* when the schedule wanted it sent (== start_ns in closed loop) */
    uint64_t start_ns;      /* when it was actually handed to the transport */
    uint64_t end_ns;        /* when the complete reply was in */
    uint32_t dns_us;        /* name resolution (HTTP only; 0 otherwise) */
    uint32_t connect_us;    /* TCP connect, 0 on a reused connection */
    uint32_t tls_us;        /* TLS handshake, 0 without TLS */
    uint32_t ttfb_us;       /* send to first response byte */
    uint32_t bytes_out;     /* request body bytes */
    uint32_t bytes_in;      /* response body bytes */
    uint32_t vu;            /* virtual user (or open-loop slot) */
    uint16_t step;          /* scenario step index or LS_STEP_INITIALIZE */
    uint16_t worker;        /* worker thread */
    uint16_t status;        /* HTTP status; 0 for stdio */
    uint8_t err;            /* enum ls_errclass */
    uint8_t flags;          /* enum ls_sample_flags */
    uint32_t seq;           /* per-worker sequence number */
    int32_t rpc_code;       /* JSON-RPC error code when err == LS_EC_RPC */
    /* AWS steps only (0 for MCP); one sample covers the whole operation. */
    uint16_t attempts;      /* HTTP requests sent, retries, split calls and follow-ups included */
    uint16_t followups;     /* batch calls sent for UnprocessedKeys / UnprocessedItems */
    uint16_t aws_code;      /* error code of the last failed attempt (aws_code_name()); 0: none */
    uint16_t retries;       /* of the attempts, how many were retries after a failure */
    uint32_t backoff_us;    /* backoff scheduled between attempts (full jitter), summed */
    uint32_t last_try_us;   /* send to reply of the final attempt alone: latency without retries */
};

/* Latency from the intended start: what a user waiting on the schedule saw. */
static inline uint64_t ls_sample_corrected_ns(const struct ls_sample *s)
{
    return s->end_ns - s->intended_ns;
}

/* Latency from the actual send: what the server alone took. */
static inline uint64_t ls_sample_latency_ns(const struct ls_sample *s)
{
    return s->end_ns - s->start_ns;
}

#endif
