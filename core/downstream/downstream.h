/*
 * downstream: the launched target's own AWS calls, seen through a recording
 * proxy per service.
 *
 * Owns: the proxies (one thread and epoll loop each, on 127.0.0.1 with an
 * ephemeral port), the recorder thread that turns finished calls into
 * per-call records and per-second aggregates, fault injection towards the
 * target, and the attribution of each call to the MCP requests in flight.
 * May call: proto/ (h1, h1req), aws/ (sigv4, awsconf, aws_proto, aws_retry),
 * stats/ (hdr), scenario/ (the scenario_downstream structs), util/, libcurl,
 * cJSON. Stores nothing itself: rows leave through the sink.
 *
 * How the lead wires a run (tui/cmd_run.c or app/):
 *   1. downstream_open() before the target is launched: the proxies listen
 *      and forward from then on.
 *   2. downstream_env(): NAME=VALUE pairs (AWS_ENDPOINT_URL_DYNAMODB,
 *      AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL when only one service is named)
 *      to add to the target's environment (proc_inject.env or ls_proc_opts.env).
 *   3. downstream_set_origin() with the run's start (ls_now_ns() clock), so
 *      seconds line up with the load run's intervals.
 *   4. The engine reports each MCP request: downstream_mcp_begin(step) when
 *      it is handed to the transport, downstream_mcp_end(step) when its
 *      reply (or failure) is in. Any thread, lock-free.
 *   5. The sink gets per-call rows and closed seconds on the recorder thread
 *      (storage/store_downstream.h writes both); downstream_snapshot() and
 *      downstream_step_view() serve the Downstream screen from any thread.
 *   6. downstream_finish() once the target has stopped, then downstream_close().
 *
 * Upstreams: http:// is forwarded byte for byte (the target's signature
 * stays valid for a server that checks it, keep-alive to the upstream);
 * https:// goes through libcurl with certificate checks (AWS_CA_BUNDLE
 * honoured), re-signed with core/aws/sigv4 and the configuration chain's
 * credentials since the Host changes. Secrets are never stored or printed.
 */
#ifndef LS_DOWNSTREAM_H
#define LS_DOWNSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/awsconf.h"
#include "scenario/scenario.h"
#include "scenario/scenario_downstream.h"
#include "stats/hdr.h"
#include "util/lserr.h"

#define DS_OP_MAX 48             /* longest operation name kept */
#define DS_INVOCATION_MAX 64     /* longest amz-sdk-invocation-id kept */
#define DS_CODE_MAX 64           /* longest AWS error code kept */
#define DS_SHARES_MAX 16         /* distinct steps an attribution remembers */
#define DS_STEP_NONE (-1)        /* the call arrived with no MCP request in flight */

/* What the proxy did to a call instead of (or before) forwarding it. */
enum ds_fault {
    DS_FAULT_NONE = 0,
    DS_FAULT_THROTTLE,       /* answered with the service's throttling error */
    DS_FAULT_SERVER_ERROR,   /* answered with HTTP 500 */
    DS_FAULT_RESET,          /* connection reset, no reply */
    DS_FAULT_DELAY,          /* forwarded after an added latency */
    DS_FAULT__COUNT
};

/* "throttle", "server_error", "reset", "delay"; NULL for DS_FAULT_NONE. */
const char *ds_fault_name(enum ds_fault f);

/* True for BatchGetItem / BatchWriteItem, whose keys and items are counted. */
bool ds_op_is_batch(const char *op);

/* One step's MCP requests in flight when a call arrived. */
struct ds_share {
    int32_t step;            /* scenario step; nsteps for anything else (the handshake) */
    uint32_t in_flight;
};

/* One downstream call, as the proxy saw it. Plain data. */
struct ds_call {
    uint64_t seq;            /* from 1, in the order calls finished (per handle) */
    uint8_t service;         /* enum aws_service */
    char op[DS_OP_MAX];      /* "GetItem", "PutObject", "(unknown)" */
    uint16_t status;         /* HTTP status sent to the target; 0: none (reset, target gone) */
    char aws_code[DS_CODE_MAX]; /* error code of the reply, "" when none */
    int64_t start_ns;        /* first byte of the request, since the origin */
    uint64_t latency_ns;     /* first request byte received -> last reply byte sent */
    uint64_t upstream_ns;    /* request sent upstream -> reply in; 0 when not forwarded */
    uint64_t bytes_in;       /* request bytes from the target (head and body) */
    uint64_t bytes_out;      /* reply bytes to the target */
    bool new_conn;           /* the first request on a connection the target opened */
    uint16_t attempt;        /* amz-sdk-request attempt=N; 0 when absent */
    uint16_t max_attempts;   /* amz-sdk-request max=M; 0 when absent */
    char invocation_id[DS_INVOCATION_MAX]; /* amz-sdk-invocation-id, "" when absent */
    uint32_t batch_asked;    /* BatchGetItem keys / BatchWriteItem requests sent */
    uint32_t batch_unprocessed; /* UnprocessedKeys / UnprocessedItems returned */
    uint8_t fault;           /* enum ds_fault */
    uint64_t delay_ns;       /* added latency (DS_FAULT_DELAY) */
    uint32_t in_flight;      /* MCP requests in flight in the target when the call arrived */
    uint16_t nshares;
    struct ds_share shares[DS_SHARES_MAX]; /* by step; empty when none was in flight */
    char detail[128];        /* the proxy's own trouble ("upstream: connection refused"), or "" */
};

/* One operation within one second. Latencies in microseconds. */
struct ds_op_second {
    uint8_t service;
    const char *op;
    uint64_t calls;
    uint64_t errors;         /* status >= 400, or no reply */
    uint64_t throttles;      /* throttling replies (injected or the upstream's) */
    uint64_t server_errors;  /* status >= 500 */
    uint64_t retries;        /* calls with attempt > 1 */
    uint64_t new_conns;      /* calls that came on a new connection */
    uint64_t faults;         /* calls the proxy injected a fault into (delays included) */
    uint64_t bytes_in, bytes_out;
    uint64_t batch_asked, batch_unprocessed;
    const struct hdr *latency;   /* proxy receive -> reply sent */
    const struct hdr *upstream;  /* upstream alone (forwarded calls only) */
};

/* Calls attributed to one step's requests, within one second (fractions when shared). */
struct ds_attr_second {
    int32_t step;            /* DS_STEP_NONE: nothing was in flight */
    uint8_t service;
    const char *op;
    double calls;
    double time_us;          /* latency_ns share, in microseconds */
    double new_conns;
};

/* MCP requests of one step that ended within the second (downstream_mcp_end). */
struct ds_step_second {
    int32_t step;
    uint64_t requests;
};

struct ds_second {
    uint32_t second;         /* since the origin */
    const struct ds_op_second *ops;
    size_t nops;
    const struct ds_attr_second *attr;
    size_t nattr;
    const struct ds_step_second *steps;
    size_t nsteps;
};

struct ds_sink {
    void *ctx;
    /* Finished calls, in seq order; recorder thread. */
    void (*calls)(void *ctx, const struct ds_call *c, size_t n);
    /* Each closed second, in order, empty ones included; recorder thread. */
    void (*second)(void *ctx, const struct ds_second *s);
    /* Something worth a run event ("downstream", message); any downstream thread. */
    void (*event)(void *ctx, const char *kind, const char *message);
};

struct downstream_opts {
    const struct scn_downstream *cfg; /* the scenario's (borrowed for the handle's life) */
    uint32_t nsteps;         /* the scenario's steps; indexes >= nsteps count as one more slot */
    const char *aws_profile; /* the scenario's "aws" object (NULL: none), for "aws" and re-signing */
    const char *aws_region;
};

struct downstream;

/*
 * Resolves the upstreams (the configuration chain is read when a service is
 * "aws" or https://, and then must give credentials), opens a listening
 * socket per service and starts the proxy and recorder threads. The sink is
 * copied; its ctx must outlive the handle. err says what failed.
 */
LS_MUST_CHECK ls_err downstream_open(const struct downstream_opts *o, const struct ds_sink *sink,
                                     struct downstream **out, char *err, size_t errcap);

/*
 * The environment entries for the target (owned by d, valid until
 * downstream_close): AWS_ENDPOINT_URL_<SERVICE>=http://127.0.0.1:PORT per
 * proxied service, and AWS_ENDPOINT_URL when only one service is proxied.
 */
void downstream_env(const struct downstream *d, const struct scn_kv **kv, size_t *n);

/* The proxy's port for a service, 0 when it is not proxied. */
uint16_t downstream_port(const struct downstream *d, enum aws_service s);

/* Where the service's calls go on to ("https://dynamodb.eu-west-1.amazonaws.com"), or NULL. */
const char *downstream_upstream(const struct downstream *d, enum aws_service s);

/* Second 0 starts at this ls_now_ns() instant; until called, at downstream_open(). */
void downstream_set_origin(struct downstream *d, uint64_t mono_ns);

/* An MCP request of step is now in flight in the target. Any thread, lock-free. */
void downstream_mcp_begin(struct downstream *d, int step);
/* ... and is over (replied or failed). Any thread, lock-free. */
void downstream_mcp_end(struct downstream *d, int step);

/* What one proxy did, counted exactly as it happened. */
struct ds_tally {
    uint64_t calls;          /* requests received (each fault and forward below is one) */
    uint64_t forwarded;      /* sent upstream (delayed ones included) */
    uint64_t faults[DS_FAULT__COUNT]; /* by enum ds_fault; [DS_FAULT_NONE] stays 0 */
    uint64_t connections;    /* connections the target opened */
    uint64_t upstream_errors;/* forwarded calls answered by the proxy (502/504) */
    uint64_t bad_requests;   /* requests that were not HTTP/1.1 (answered 400, connection closed) */
};
void downstream_tally(const struct downstream *d, enum aws_service s, struct ds_tally *out);

/*
 * Stops accepting, lets calls in progress finish for up to wait_ns, hands
 * every remaining call and second to the sink and stops the threads.
 * Snapshots stay available. Idempotent.
 */
void downstream_finish(struct downstream *d, uint64_t wait_ns);

void downstream_close(struct downstream *d);

/* ---- views for the Downstream screen (live; replay uses ds_model.h) ---- */

/* One operation over the run so far. */
struct ds_op_view {
    uint8_t service;
    char op[DS_OP_MAX];
    uint64_t calls, errors, throttles, server_errors, retries, new_conns, faults;
    uint64_t bytes_in, bytes_out, batch_asked, batch_unprocessed;
    double calls_per_s;      /* in the last closed second */
    double per_request;      /* calls per MCP request (all steps' requests); 0 without requests */
    int64_t p50_us, p99_us, max_us;       /* latency through the proxy */
    int64_t up_p50_us, up_p99_us;         /* upstream alone */
};

/* One step's requests and the calls attributed to them, per operation (op "" = all). */
struct ds_step_view {
    int32_t step;            /* DS_STEP_NONE: calls with nothing in flight */
    uint8_t service;         /* meaningless when op is "" */
    char op[DS_OP_MAX];
    uint64_t requests;       /* the step's MCP requests that ended */
    double calls;            /* attributed */
    double calls_per_request, time_per_request_us, new_conns_per_request;
};

struct ds_model;
/* The live model (owned by d): what downstream_snapshot and downstream_step_view read. */
struct ds_model *downstream_model(struct downstream *d);

/* Copies up to cap operations, most calls first; returns how many. Any thread. */
size_t downstream_snapshot(struct downstream *d, struct ds_op_view *out, size_t cap);
/* Copies up to cap step rows (by step, then most calls); returns how many. Any thread. */
size_t downstream_step_view(struct downstream *d, struct ds_step_view *out, size_t cap);

#endif
