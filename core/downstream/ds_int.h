/*
 * ds_int: what the downstream module's files share (not for other modules).
 *
 *   downstream.c   the handle: open, environment, origin, tallies, finish
 *   ds_proxy.c     one service's proxy: its thread, epoll loop, the target's
 *                  connections, requests in and replies out, faults, delays
 *   ds_plain.c     http:// upstreams: a keep-alive pool, bytes forwarded as
 *                  they are, replies relayed as they arrive
 *   ds_tls.c       https:// upstreams: libcurl multi on the proxy's epoll,
 *                  each request re-signed (ds_sign.c)
 *   ds_sign.c      re-signing a target's request for another host
 *   ds_ops.c       naming operations, the SDK's attempt header, batch counts
 *   ds_fault.c     seeded fault draws and the services' error replies
 *   ds_attr.c      MCP requests in flight per step; splitting a call among them
 *   ds_record.c    the recorder thread: finished calls to rows and seconds
 *   ds_model.c     run totals for the screens (ds_model.h)
 */
#ifndef LS_DS_INT_H
#define LS_DS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "downstream/downstream.h"
#include "downstream/ds_model.h"

/* ---- a growable byte buffer ------------------------------------------------ */

/*
 * The module's one buffer type (after curl's dynbuf): p[0..len) holds data,
 * start..len is what is still to be consumed when used as a queue.
 */
struct ds_buf {
    char *p;
    size_t len;
    size_t start;        /* consumed prefix (ds_buf_consume), dropped on the next compaction */
    size_t cap;
};

/* Makes room for more bytes after len; false when out of memory or past max (0: no max). */
bool ds_buf_reserve(struct ds_buf *b, size_t more, size_t max);
bool ds_buf_add(struct ds_buf *b, const void *p, size_t n);
/* Drops n bytes at the front (moves the rest down when that frees much). */
void ds_buf_consume(struct ds_buf *b, size_t n);
void ds_buf_clear(struct ds_buf *b);
void ds_buf_free(struct ds_buf *b);
static inline size_t ds_buf_avail(const struct ds_buf *b)
{
    return b->len - b->start;
}

/* ---- ds_ops.c --------------------------------------------------------------- */

/* The request facts naming needs; strings are not NUL-terminated. */
struct ds_req_facts {
    const char *method;
    size_t method_len;
    const char *target;      /* "/bucket/key?x-id=GetObject" */
    size_t target_len;
    const char *amz_target;  /* X-Amz-Target value or NULL */
    size_t amz_target_len;
    bool copy_source;        /* S3 x-amz-copy-source present */
};

/*
 * Names the operation: DynamoDB (any service, when X-Amz-Target is present)
 * from X-Amz-Target's part after '.'; S3 from x-id=, else from the method,
 * the path's shape (service, bucket, object) and the query's markers, one
 * table row each. "(unknown)" when nothing fits.
 */
void ds_op_name(enum aws_service svc, const struct ds_req_facts *f, char out[DS_OP_MAX]);

/* Parses "attempt=N; max=M" (either part may be missing); false when neither is there. */
bool ds_parse_sdk_request(const char *v, size_t n, uint16_t *attempt, uint16_t *max);

/*
 * Counts a batch call: keys (BatchGetItem) or put/delete requests
 * (BatchWriteItem) in the request's RequestItems, and those returned in
 * UnprocessedKeys / UnprocessedItems. Either body may be NULL; unparsable
 * ones count 0.
 */
void ds_batch_count(const char *op, const char *req, size_t req_len, const char *resp,
                    size_t resp_len, uint32_t *asked, uint32_t *unprocessed);

/* ---- ds_fault.c ------------------------------------------------------------- */

/* A service's fault state: its configuration and its own seeded generator. */
struct ds_faulter {
    const struct scn_ds_faults *cfg; /* NULL: no faults */
    uint64_t rng;                    /* xorshift64* state, never 0 */
};

/* Seeds f for service svc from the scenario's seed (each service has its own sequence). */
void ds_fault_init(struct ds_faulter *f, const struct scn_ds_faults *cfg, uint64_t seed,
                   enum aws_service svc);

/*
 * Draws what happens to the next call of operation op: DS_FAULT_NONE
 * (forward), THROTTLE, SERVER_ERROR, RESET, or DELAY with *delay_ns set.
 * Calls of operations outside cfg->operations draw nothing.
 */
enum ds_fault ds_fault_draw(struct ds_faulter *f, const char *op, uint64_t *delay_ns);

/* A uniform double in [0, 1) from the generator (exposed for tests). */
double ds_fault_uniform(uint64_t *state);

/*
 * Writes the reply the real service sends for a throttle or a server error
 * (status, headers, JSON for DynamoDB or XML for S3, no body for HEAD) into
 * b. close adds "Connection: close". *status gets the status, code the
 * error code (static). False when out of memory.
 */
bool ds_fault_reply(enum aws_service svc, enum ds_fault fault, bool head_request, bool close,
                    struct ds_buf *b, uint16_t *status, const char **code);

/* ---- ds_attr.c -------------------------------------------------------------- */

/* One step's counters on a cache line of its own: the engine's workers all write them. */
struct ds_attr_slot {
    _Atomic int64_t in_flight;
    _Atomic uint64_t ended;
    char pad[64 - 2 * sizeof(int64_t)];
};

struct ds_attr {
    uint32_t nslots;              /* scenario steps + 1 (anything else) */
    struct ds_attr_slot *slots;
    _Atomic int64_t total;        /* in flight, all steps */
};

LS_MUST_CHECK ls_err ds_attr_init(struct ds_attr *a, uint32_t nsteps);
void ds_attr_free(struct ds_attr *a);
void ds_attr_begin(struct ds_attr *a, int step);
void ds_attr_end(struct ds_attr *a, int step);

/* Notes who is in flight now into c->in_flight / c->shares. */
void ds_attr_take(struct ds_attr *a, struct ds_call *c);

/* Requests of each slot that have ended so far (cumulative), into ended[nslots]. */
void ds_attr_ended(struct ds_attr *a, uint64_t *ended);

/*
 * The part of call c that goes to each step: weight = in flight of that
 * step / in flight of all (the shares kept), summing to 1; a call with
 * nothing in flight goes wholly to DS_STEP_NONE. Calls fn once per step.
 */
void ds_attr_split(const struct ds_call *c, void (*fn)(void *ctx, int32_t step, double weight),
                   void *ctx);

/* ---- ds_record.c ------------------------------------------------------------ */

/* A finished call and what the recorder still has to read from it (malloc'd, may be NULL). */
struct ds_done {
    struct ds_call call;     /* start_ns is set by the recorder, from t0_ns and the origin */
    uint64_t t0_ns;          /* first byte of the request (ls_now_ns) */
    char *req_body;          /* batch calls: the request body */
    size_t req_len;
    char *resp_body;         /* batch calls and error replies: the reply body (capped) */
    size_t resp_len;
};

struct ds_recorder;

LS_MUST_CHECK ls_err ds_recorder_open(struct downstream *d, struct ds_recorder **out);
/* Hands a finished call over (its bodies too). Thread-safe; false when out of memory. */
bool ds_recorder_push(struct ds_recorder *r, struct ds_done *done);
/* Processes what is queued, closes every second and stops the thread. */
void ds_recorder_finish(struct ds_recorder *r);
void ds_recorder_close(struct ds_recorder *r);

/* ---- ds_proxy.c ------------------------------------------------------------- */

struct ds_proxy;

/* Where a service's calls go on to. */
struct ds_upstream {
    bool tls;                /* https:// */
    char url[512];           /* base URL, no trailing '/' */
    char host[256];          /* for connect() and for messages */
    char port[8];
    char authority[300];     /* Host header value for re-signed requests */
    char path_prefix[256];   /* a base URL's path ("" mostly), put before the request's path */
};

LS_MUST_CHECK ls_err ds_proxy_open(struct downstream *d, enum aws_service svc,
                                   const struct ds_upstream *up, struct ds_proxy **out, char *err,
                                   size_t errcap);
uint16_t ds_proxy_port(const struct ds_proxy *p);
/* Stops accepting; calls in progress get until deadline_ns (ls_now_ns clock); joins the thread. */
void ds_proxy_stop(struct ds_proxy *p, uint64_t deadline_ns);
void ds_proxy_close(struct ds_proxy *p);
void ds_proxy_tally(const struct ds_proxy *p, struct ds_tally *out);

/* ---- the handle ------------------------------------------------------------- */

struct downstream {
    const struct scn_downstream *cfg;
    uint32_t nsteps;
    struct ds_sink sink;
    struct ds_proxy *proxy[AWS__SERVICES];
    struct ds_upstream up[AWS__SERVICES];
    struct aws_config conf;  /* the chain's credentials, for re-signing; zeroed when unused */
    bool have_conf;
    char *ca_bundle;         /* AWS_CA_BUNDLE, NULL: the system's */
    struct ds_attr attr;
    struct ds_recorder *rec;
    struct ds_model *model;
    _Atomic uint64_t origin_ns;
    _Atomic bool origin_set; /* until then the recorder holds calls back and closes no second */
    _Atomic uint64_t seq;    /* numbers finished calls */
    struct scn_kv env[AWS__SERVICES + 1];
    size_t env_count;
    bool finished;
};

/* Reports a run event through the sink (printf-style). Any thread. */
void ds_event(struct downstream *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- ds_sign.c ----------------------------------------------------------------- */

/* A header to send: "Name: value" lines, malloc'd. */
struct ds_hdrs {
    char **line;
    size_t n, cap;
};
void ds_hdrs_free(struct ds_hdrs *h);

/*
 * Builds the headers of a re-signed request: the target's own fields
 * (hop-by-hop, Host, Authorization, X-Amz-Date, X-Amz-Security-Token and
 * Content-Length dropped), Host set to authority, then the signer's
 * (date, token, content hash) and Authorization, from the chain's
 * credentials. A signed streaming payload (STREAMING-AWS4-HMAC-SHA256-
 * PAYLOAD: every chunk carries a signature) cannot be re-signed and is
 * refused. err never holds a secret.
 */
LS_MUST_CHECK ls_err ds_resign(const struct aws_config *conf, enum aws_service svc,
                               const char *authority, const char *method, const char *path,
                               const char *query, const char *const *names,
                               const char *const *values, size_t nfields, const uint8_t *body,
                               size_t body_len, struct ds_hdrs *out, char *err, size_t errcap);

#endif
