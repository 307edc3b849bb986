/*
 * rules_aws: the rules about the target's downstream AWS calls, from the
 * recording proxy's per-operation figures and the shim's connections per
 * peer. One row per rule; calls advise_int.h helpers only.
 *
 *   rule                          fires when                                   severity
 *   aws.new_connection_per_call   new TCP connections per call of a service    >= 0.90 critical
 *                                 (or per request to a peer) >= 0.50           else warning
 *   aws.unbatched_reads           single-item GetItem/GetObject per request    >= 5 critical
 *                                 >= 2                                         else warning
 *   aws.unbatched_writes          PutItem/DeleteItem per request >= 2          >= 5 critical
 *   aws.retry_storm               retries per call >= 0.20 with a median wait  critical
 *                                 < 5 ms before a retry (no backoff);
 *                                 or retries per call >= 0.50                  warning
 *   aws.unprocessed_dropped       >= 10 unprocessed keys/items returned and    critical
 *                                 >= 5% of them never asked for again
 *
 * An operation is judged from 20 calls on.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advise/advise_int.h"

#define MIN_CALLS 20
#define NEWCONN_WARN 0.50 /* new connections per call (or per request, shim) */
#define NEWCONN_CRIT 0.90
#define UNBATCHED_WARN 2.0 /* single-item calls per MCP request */
#define UNBATCHED_CRIT 5.0
#define READ_BATCH 100          /* BatchGetItem keys per call */
#define WRITE_BATCH 25          /* BatchWriteItem items per call */
#define RETRY_NOBACKOFF 0.20    /* retries per call ... */
#define RETRY_NOBACKOFF_US 5000 /* ... with a median wait before a retry below this */
#define RETRY_HIGH 0.50         /* retries per call, whatever the wait */
#define UNPROC_MIN 10           /* unprocessed keys/items returned */
#define UNPROC_DROPPED 0.05     /* share of them never asked for again */

/* "dynamodb GetItem in step get_orders" / "... in every step". */
static char *where_op(const struct adv_op *op)
{
    if (*adv_s(op->step))
        return adv_strf("%s %s in step %s", adv_s(op->service), adv_s(op->operation), op->step);
    return adv_strf("%s %s in every step", adv_s(op->service), adv_s(op->operation));
}

/* "get_orders request" / "request". */
static void req_of(char *buf, size_t cap, const struct adv_op *op)
{
    if (*adv_s(op->step))
        snprintf(buf, cap, "%s request", op->step);
    else
        snprintf(buf, cap, "request");
}

/* ---- aws.new_connection_per_call ---------------------------------------------- */

static bool service_seen(const struct adv_op *ops, size_t upto, const char *service)
{
    for (size_t i = 0; i < upto; i++)
        if (ops[i].conns_measured && strcmp(adv_s(ops[i].service), service) == 0)
            return true;
    return false;
}

/* DNS lookups per request to the peers of a service (-1: none known). */
static double lookups_for(const struct adv_facts *f, const char *service)
{
    double v = -1;
    if (!f->net.measured)
        return v;
    for (size_t i = 0; i < f->net.npeers; i++)
        if (*service && strcmp(adv_s(f->net.peers[i].service), service) == 0)
            v = (v < 0 ? 0 : v) + f->net.peers[i].lookups_per_req;
    return v;
}

static void new_connection(struct adv_ctx *cx, const struct adv_rule *r)
{
    const struct adv_facts *f = cx->f;
    const struct adv_downstream *ds = &f->ds;
    const char *reported[8]; /* services found per call, not reported again per peer */
    size_t nreported = 0;
    /* Per service, from the proxy: every call of the service counts. */
    for (size_t i = 0; ds->measured && i < ds->nops; i++) {
        const char *svc = adv_s(ds->ops[i].service);
        if (!ds->ops[i].conns_measured || service_seen(ds->ops, i, svc))
            continue;
        double calls = 0, conns = 0, us = 0;
        struct adv_buf ops = {0};
        for (size_t j = i; j < ds->nops; j++) {
            const struct adv_op *op = &ds->ops[j];
            if (!op->conns_measured || strcmp(adv_s(op->service), svc) != 0)
                continue;
            calls += (double)op->calls;
            conns += op->new_conns_per_call * (double)op->calls;
            us += op->us_per_req;
            if (op->new_conns_per_call >= NEWCONN_WARN)
                adv_buf_addf(&ops, "%s%s", ops.len ? ", " : "", adv_s(op->operation));
        }
        double per_call = calls > 0 ? conns / calls : 0;
        if (calls < MIN_CALLS || per_call < NEWCONN_WARN) {
            free(adv_buf_take(&ops));
            continue;
        }
        double p50 = adv_ref_p50_us(cx, NULL);
        double lookups = lookups_for(f, svc);
        char dns[64] = "";
        if (lookups >= 0)
            snprintf(dns, sizeof(dns), "; %.2f DNS lookups per request", lookups);
        char *opnames = adv_buf_take(&ops);
        struct adv_draft d = {
            .severity = per_call >= NEWCONN_CRIT ? ADV_CRITICAL : ADV_WARNING,
            .impact = p50 > 0 && us > 0 ? fmin(1, per_call) * adv_clamp01(us / p50)
                                        : fmin(1, per_call) * 0.5,
            .confidence = 0.9,
            .title =
                adv_strf("A new connection for %.0f%% of %s calls", fmin(1, per_call) * 100, svc),
            .evidence = adv_strf("%.2f new TCP connections per %s call (threshold >= %.2f) over "
                                 "%.0f calls%s",
                                 per_call, svc, NEWCONN_WARN, calls, dns),
            .where = adv_strf("%s calls (%s)", svc, adv_s(opnames)),
        };
        free(opnames);
        if (nreported < sizeof(reported) / sizeof(reported[0]))
            reported[nreported++] = svc;
        adv_emit(cx, r, &d);
    }
    /* Per peer, from the shim: also HTTPS endpoints the proxy does not see inside. */
    for (size_t i = 0; f->net.measured && i < f->net.npeers; i++) {
        const struct adv_peer *p = &f->net.peers[i];
        if (p->new_conns < MIN_CALLS || p->new_conns_per_req < NEWCONN_WARN)
            continue;
        bool dup = false;
        for (size_t k = 0; k < nreported; k++)
            dup |= *adv_s(p->service) && strcmp(reported[k], p->service) == 0;
        if (dup)
            continue;
        struct adv_draft d = {
            .severity = p->new_conns_per_req >= NEWCONN_CRIT ? ADV_CRITICAL : ADV_WARNING,
            .impact = fmin(1, p->new_conns_per_req) * 0.5,
            .confidence = 0.8,
            .title = adv_strf("A new connection to %s for most requests", adv_s(p->peer)),
            .evidence =
                adv_strf("%.2f new TCP connections per MCP request to %s (threshold >= "
                         "%.2f); %.2f DNS lookups per request",
                         p->new_conns_per_req, adv_s(p->peer), NEWCONN_WARN, p->lookups_per_req),
            .where = *adv_s(p->service)
                         ? adv_strf("connections to %s (%s)", adv_s(p->peer), p->service)
                         : adv_strf("connections to %s", adv_s(p->peer)),
        };
        adv_emit(cx, r, &d);
    }
}

/* ---- aws.unbatched_reads / aws.unbatched_writes ---------------------------------- */

static bool op_is(const struct adv_op *op, const char *service, const char *operation)
{
    return strcmp(adv_s(op->service), service) == 0 && strcmp(adv_s(op->operation), operation) == 0;
}

static void unbatched(struct adv_ctx *cx, const struct adv_rule *r, bool reads)
{
    const struct adv_downstream *ds = &cx->f->ds;
    for (size_t i = 0; i < ds->nops; i++) {
        const struct adv_op *op = &ds->ops[i];
        bool s3 = false;
        if (reads) {
            s3 = op_is(op, "s3", "GetObject");
            if (!op_is(op, "dynamodb", "GetItem") && !s3)
                continue;
        } else if (!op_is(op, "dynamodb", "PutItem") && !op_is(op, "dynamodb", "DeleteItem")) {
            continue;
        }
        double cpr = op->calls_per_req;
        if (op->calls < MIN_CALLS || cpr < UNBATCHED_WARN || (op->keys_per_call > 1.0 && !s3))
            continue;
        int batch = reads ? READ_BATCH : WRITE_BATCH;
        double ref = adv_ref_p50_us(cx, op->step);
        double saved = (cpr - ceil(cpr / batch)) * op->p50_us;
        char req[96], p50[32];
        req_of(req, sizeof(req), op);
        adv_fmt_us(p50, sizeof(p50), op->p50_us);
        struct adv_draft d = {
            .severity = cpr >= UNBATCHED_CRIT ? ADV_CRITICAL : ADV_WARNING,
            .impact = ref > 0 && op->p50_us > 0 ? saved / ref : (cpr - 1) / cpr * 0.5,
            .confidence = s3 ? 0.7 : 0.9,
            .title = adv_strf("%.2f single-item %s calls per %s", cpr, adv_s(op->operation), req),
            .evidence = adv_strf("%.2f %s per %s (threshold >= %.0f); %s each; p50 %s per call",
                                 cpr, adv_s(op->operation), req, UNBATCHED_WARN,
                                 s3      ? "1 object"
                                 : reads ? "1 key"
                                         : "1 item",
                                 p50),
            .where = where_op(op),
            .fix = s3 ? "fetch the objects concurrently (futures::future::join_all, or "
                        "stream::iter(..).buffer_unordered(n)), or store what one request needs "
                        "in one object"
                      : NULL,
        };
        adv_emit(cx, r, &d);
    }
}

static void unbatched_reads(struct adv_ctx *cx, const struct adv_rule *r)
{
    unbatched(cx, r, true);
}

static void unbatched_writes(struct adv_ctx *cx, const struct adv_rule *r)
{
    unbatched(cx, r, false);
}

/* ---- aws.retry_storm ---------------------------------------------------------- */

static void retry_storm(struct adv_ctx *cx, const struct adv_rule *r)
{
    const struct adv_downstream *ds = &cx->f->ds;
    for (size_t i = 0; i < ds->nops; i++) {
        const struct adv_op *op = &ds->ops[i];
        if (op->calls < MIN_CALLS || op->attempts <= op->calls)
            continue;
        double retries = (double)(op->attempts - op->calls);
        double rpc = retries / (double)op->calls;
        bool no_backoff = op->retry_gap_measured && op->retry_gap_p50_us < RETRY_NOBACKOFF_US &&
                          rpc >= RETRY_NOBACKOFF;
        if (!no_backoff && rpc < RETRY_HIGH)
            continue;
        char gap[32] = "";
        if (op->retry_gap_measured)
            adv_fmt_us(gap, sizeof(gap), op->retry_gap_p50_us);
        struct adv_draft d = {
            .severity = no_backoff ? ADV_CRITICAL : ADV_WARNING,
            .impact = retries / (double)op->attempts,
            .confidence = no_backoff ? 0.9 : 0.75,
            .where = where_op(op),
        };
        if (no_backoff) {
            d.title = adv_strf("%s retries without backoff", adv_s(op->operation));
            d.evidence = adv_strf("%.2f retries per call (threshold >= %.2f) with a median wait of "
                                  "%s before a retry (threshold < 5 ms: no backoff); %llu of %llu "
                                  "attempts throttled",
                                  rpc, RETRY_NOBACKOFF, gap, (unsigned long long)op->throttles,
                                  (unsigned long long)op->attempts);
        } else {
            d.title = adv_strf("A retry storm on %s", adv_s(op->operation));
            d.evidence =
                adv_strf("%.2f retries per call (threshold >= %.2f); %llu of %llu attempts "
                         "throttled%s%s%s",
                         rpc, RETRY_HIGH, (unsigned long long)op->throttles,
                         (unsigned long long)op->attempts, *gap ? "; median wait " : "", gap,
                         *gap ? " before a retry" : "");
        }
        adv_emit(cx, r, &d);
    }
}

/* ---- aws.unprocessed_dropped ------------------------------------------------------ */

static void unprocessed_dropped(struct adv_ctx *cx, const struct adv_rule *r)
{
    const struct adv_downstream *ds = &cx->f->ds;
    for (size_t i = 0; i < ds->nops; i++) {
        const struct adv_op *op = &ds->ops[i];
        if (op->unprocessed < UNPROC_MIN)
            continue;
        uint64_t followed =
            op->unprocessed_followed < op->unprocessed ? op->unprocessed_followed : op->unprocessed;
        double dropped = (double)(op->unprocessed - followed);
        double share = dropped / (double)op->unprocessed;
        if (share < UNPROC_DROPPED)
            continue;
        const char *what = strstr(adv_s(op->operation), "Write") ? "items" : "keys";
        struct adv_draft d = {
            .severity = ADV_CRITICAL,
            .impact = share,
            .confidence = 0.8,
            .title = adv_strf("%s drops unprocessed %s", adv_s(op->operation), what),
            .evidence = adv_strf("%.0f of %llu unprocessed %s never asked for again (%.1f%%, "
                                 "threshold >= %.0f%%)",
                                 dropped, (unsigned long long)op->unprocessed, what, share * 100,
                                 UNPROC_DROPPED * 100),
            .where = where_op(op),
        };
        adv_emit(cx, r, &d);
    }
}

const struct adv_rule adv_rules_aws[] = {
    {"aws.new_connection_per_call", "aws", ADV_IN_RUN, ADV_IN_DOWNSTREAM | ADV_IN_NET,
     "build one SDK client (aws_sdk_dynamodb::Client) / one shared HTTP client at start-up and "
     "clone it (it is an Arc inside), not one per request",
     new_connection},
    {"aws.unbatched_reads", "aws", ADV_IN_RUN | ADV_IN_DOWNSTREAM, 0,
     "one BatchGetItem for the request's keys, in chunks of 100, following UnprocessedKeys",
     unbatched_reads},
    {"aws.unbatched_writes", "aws", ADV_IN_RUN | ADV_IN_DOWNSTREAM, 0,
     "BatchWriteItem in chunks of 25, following UnprocessedItems", unbatched_writes},
    {"aws.retry_storm", "aws", ADV_IN_RUN | ADV_IN_DOWNSTREAM, 0,
     "the SDK's standard or adaptive retry mode (RetryConfig::standard() / ::adaptive()), "
     "exponential backoff with jitter, fewer requests in flight",
     retry_storm},
    {"aws.unprocessed_dropped", "aws", ADV_IN_RUN | ADV_IN_DOWNSTREAM, 0,
     "loop until UnprocessedKeys (UnprocessedItems) is empty, with backoff between rounds",
     unprocessed_dropped},
};
const size_t adv_rules_aws_n = sizeof(adv_rules_aws) / sizeof(adv_rules_aws[0]);
