/*
 * engine_aws_int: what the parts of the "aws" transport share. Private to
 * core/engine/engine_aws*.c; no other file includes it.
 *
 * The AWS transport is split by responsibility:
 *   engine_aws.c        the transport's row and what it sets up and reads
 *                       back: configuration and endpoints (engine_open/close),
 *                       the workers' and VUs' AWS state and their libcurl
 *                       handles, the reply body callback, the run's totals
 *                       and error codes
 *   engine_aws_op.c     one operation from start to sample: the request of
 *                       each step, its attempts on the multi handle, retries
 *                       after backoff timers, batch calls and follow-ups,
 *                       the error class of the outcome
 *   engine_aws_wire.c   what every request and reply goes through, in the
 *                       load and in the setup phase alike: SigV4-signed
 *                       headers, a failed reply's error code and message,
 *                       the transport fault of a libcurl result
 *   engine_aws_setup.c  the setup phase (tables, items, buckets, objects):
 *                       blocking, on the control thread before the load
 */
#ifndef LS_ENGINE_AWS_INT_H
#define LS_ENGINE_AWS_INT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/aws_proto.h"
#include "aws/aws_retry.h"
#include "aws/aws_run.h"
#include "aws/awsconf.h"
#include "engine/engine_curlm.h"
#include "engine/transport.h"
#include "util/dynbuf.h"

#define AWS_REPLY_MAX_BYTES ((size_t)1 << 30) /* a reply body kept larger than this fails */

struct aws_engine {
    struct aws_config conf;
    char *base[AWS__SERVICES];     /* endpoint without a trailing '/' */
    char host[AWS__SERVICES][256]; /* Host header value: host[:port] as in the URL */
    uint8_t *object;               /* PutObject bodies are prefixes of this */
    size_t object_len;
};

struct aws_worker {
    uint64_t next_due_ns;          /* earliest backoff timer; UINT64_MAX: none */
    size_t body_cap;               /* the largest rendered DynamoDB request, its NUL included */
    bool has_curlm;                /* holds the worker's multi handle open */
    uint64_t *codes;               /* failed operations per aws_code index */
    struct aws_run_totals tot;
};

struct aws_vu {
    struct vu *v;
    struct curlm_xfer x;           /* its easy handle on the worker's multi handle */
    struct curl_slist *hdrs;
    char *body;                    /* rendered DynamoDB request */
    size_t body_cap, body_len;
    struct dynbuf resp;            /* the reply body kept (all, or the row's keep_reply_bytes) */
    size_t resp_total;             /* reply body bytes received */
    char path[2048];               /* S3: /bucket/encoded-key */
    char url[2600];
    struct aws_batch *batch;
    uint64_t obj_size;             /* S3 PutObject */
    bool busy;                     /* an operation is under way */
    bool curl_added;               /* the easy handle is in the multi */
    bool waiting;                  /* in backoff until due_ns */
    uint64_t due_ns;
    uint64_t try_start_ns;
    uint32_t tries_this_call;      /* attempts of the current HTTP call */
    uint16_t attempts, retries, followups, aws_code;
    uint64_t backoff_ns, last_try_ns;
    uint64_t bytes_in, bytes_out;
    struct xfer_result last;
    char errbuf[CURL_ERROR_SIZE];
};

static inline struct aws_engine *ae_of(const struct engine *e)
{
    return e->tp[TP_AWS];
}

static inline struct aws_worker *aw_of(const struct worker *w)
{
    return w->tp[TP_AWS];
}

static inline struct aws_vu *av_of(const struct vu *v)
{
    return v->tp[TP_AWS];
}

/* ---- engine_aws.c ------------------------------------------------------- */

/*
 * Fills ae->base (each endpoint without its trailing '/') and ae->host (the
 * Host header every request to it carries and signs: util/url.h's
 * authority, the scheme's default port left out) from ae->conf.
 */
LS_MUST_CHECK ls_err aws_engine_endpoints(struct aws_engine *ae, char *err, size_t errcap);

/* ---- engine_aws_op.c ---------------------------------------------------- */

/* Runs v->step, an AWS step (phase VU_CALL): the row's send. */
void aws_start(struct vu *v);
/* An attempt's transfer is over (the multi handle removed it). */
void aws_on_done(struct curlm_xfer *x, CURLcode result);
/* Sends the retries whose backoff is over, and runs libcurl's timer. */
void aws_on_tick(struct worker *w, uint64_t now);
/* The earliest backoff or libcurl timer; UINT64_MAX: none. */
uint64_t aws_next_deadline(const struct worker *w);
/* Drops every operation under way (the grace period is over). */
void aws_abort_all(struct worker *w);

/* ---- engine_aws_wire.c -------------------------------------------------- */

/*
 * Signs and lists the headers of one request. method/path/query as sent;
 * target is the X-Amz-Target value (aws_ops.h; DynamoDB) or NULL; ctype the
 * Content-Type or NULL. body is only read. On success *out is a new list
 * the caller frees with curl_slist_free_all(); on failure *out is NULL and
 * err says why (never with a secret).
 */
ls_err aws_build_signed_headers(const struct aws_engine *ae, enum aws_service svc,
                                const char *method, const char *path, const char *target,
                                const char *ctype, const uint8_t *body, size_t body_len,
                                struct curl_slist **out, char *err, size_t errcap);

/* Reads the error code and message of a failed reply (DynamoDB JSON or S3 XML). */
void aws_parse_error(enum aws_service svc, const char *body, size_t len, char *code,
                     size_t codecap, char *msg, size_t msgcap);

/* The retry policy's view of how a libcurl transfer ended. */
enum aws_transport_fault aws_fault_of(CURLcode result);

/* ---- engine_aws_setup.c ------------------------------------------------- */

/*
 * Runs the scenario's setup actions, if any, with blocking transfers on the
 * calling (control) thread; ae_of(e) must be prepared. Leaves "aws_setup"
 * events; on failure err says which action failed and why.
 */
ls_err aws_run_setup(struct engine *e, char *err, size_t errcap);

#endif
