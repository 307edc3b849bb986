/*
 * engine_aws: AWS steps (DynamoDB over its JSON protocol, S3 path-style) on
 * the workers' libcurl multi handles, and the AWS setup phase.
 *
 * An AWS step is one operation: one sample covers all its HTTP attempts
 * (retries of throttled or transient failures, the calls a batch is split
 * into, the follow-ups for UnprocessedKeys/UnprocessedItems). Each attempt is
 * signed afresh (SigV4, new X-Amz-Date). Retries follow the SDKs' standard
 * mode (aws_retry.h): the backoff is a timer on the worker's event loop, never
 * a sleep; the VU stays "in flight" while it waits, so a stopping run lets it
 * finish within the grace period.
 *
 * The setup phase (tables, items, buckets, objects) runs on the control
 * thread before the workers start, with blocking transfers; it leaves events
 * of kind "aws_setup", never samples, so it stays out of the results.
 *
 * This file holds the "aws" transport's row and what it sets up and reads
 * back: the configuration and endpoints, the workers' and VUs' AWS state
 * with their libcurl handles (on the worker's multi handle,
 * engine_curlm.c) and reply body callback, and the run's totals. An
 * operation's life (aws_start, aws_on_done, backoff timers, batches) is in
 * engine_aws_op.c, request signing and error-reply reading in
 * engine_aws_wire.c, the setup phase in engine_aws_setup.c;
 * engine_aws_int.h is what they share. Every operation is a row of
 * scenario/aws_ops.c.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_proto.h"
#include "aws/aws_retry.h"
#include "aws/aws_run.h"
#include "aws/awsconf.h"
#include "engine/engine_aws_int.h"
#include "util/url.h"
#include "scenario/aws_ops.h"

/* -------------------------------------------------------------- helpers */

/*
 * The Host header of an endpoint: util/url.h's authority, the scheme's
 * default port left out (as curl sends it, as the SDKs and `aws sign` sign it).
 */
static bool url_host_header(const char *url, char *out, size_t cap)
{
    struct ls_url u;
    char err[256];
    if (url_parse(url, 0, &u, err, sizeof(err)) != LS_OK)
        return false;
    bool ok = (size_t)snprintf(out, cap, "%s", u.authority) < cap;
    url_free(&u);
    return ok;
}

/* --------------------------------------------------------- write callback */

static size_t on_body(char *buf, size_t size, size_t nmemb, void *userp)
{
    struct vu *v = userp;
    struct aws_vu *a = av_of(v);
    size_t len = size * nmemb;
    size_t limit = v->w->e->s->steps[v->step].aws->row->keep_reply_bytes;
    a->resp_total += len;
    size_t keep = len;
    size_t have = dyn_len(&a->resp);
    if (limit && have + keep > limit)
        keep = have < limit ? limit - have : 0;
    if (keep == 0)
        return len;
    if (dyn_addn(&a->resp, buf, keep) != LS_OK)
        return 0;
    return len;
}

/* ------------------------------------------------------------ the worker */

static ls_err aws_worker_open(struct worker *w, char *err, size_t errcap)
{
    const struct scenario *s = w->e->s;
    if (!s->has_aws_steps)
        return LS_OK; /* a setup phase only */
    struct aws_worker *aw = calloc(1, sizeof(*aw));
    if (!aw)
        goto fail;
    w->tp[TP_AWS] = aw;
    aw->next_due_ns = UINT64_MAX;
    aw->codes = calloc(aws_code_count(), sizeof(uint64_t));
    if (!aw->codes)
        goto fail;
    aw->body_cap = 64;
    for (size_t i = 0; i < s->step_count; i++) {
        const struct scn_aws_step *st = s->steps[i].aws;
        if (st && st->request && tmpl_max_len(st->request) + 1 > aw->body_cap)
            aw->body_cap = tmpl_max_len(st->request) + 1;
    }
    ls_err rc = curlm_open(w);
    if (rc != LS_OK) {
        snprintf(err, errcap, "cannot set up the AWS client: %s", ls_strerror(rc));
        return rc;
    }
    aw->has_curlm = true;
    return LS_OK;
fail:
    snprintf(err, errcap, "cannot set up the AWS client: %s", ls_strerror(LS_ERR_NOMEM));
    return LS_ERR_NOMEM;
}

static ls_err aws_vu_open(struct vu *v, char *err, size_t errcap)
{
    struct aws_worker *aw = aw_of(v->w);
    if (!aw)
        return LS_OK;
    struct aws_vu *a = calloc(1, sizeof(*a));
    if (!a)
        goto fail;
    v->tp[TP_AWS] = a;
    a->v = v;
    dyn_init(&a->resp, AWS_REPLY_MAX_BYTES);
    a->body_cap = aw->body_cap;
    a->body = malloc(a->body_cap);
    CURL *easy = curl_easy_init();
    if (!easy)
        goto fail;
    curlm_bind(&a->x, easy, aws_on_done);
    if (!a->body)
        goto fail;
    curlm_easy_setup(easy, v->w->e->s, on_body, v, a->errbuf);
    return LS_OK;
fail:
    snprintf(err, errcap, "cannot set up the AWS client: %s", ls_strerror(LS_ERR_NOMEM));
    return LS_ERR_NOMEM;
}

static void aws_vu_close(struct vu *v)
{
    struct aws_vu *a = av_of(v);
    if (!a)
        return;
    if (a->x.easy) {
        if (a->curl_added)
            curlm_remove(v->w, &a->x);
        curl_easy_cleanup(a->x.easy);
    }
    curl_slist_free_all(a->hdrs);
    aws_batch_free(a->batch);
    free(a->body);
    dyn_free(&a->resp);
    free(a);
    v->tp[TP_AWS] = NULL;
}

static void aws_worker_close(struct worker *w)
{
    struct aws_worker *aw = aw_of(w);
    if (!aw)
        return;
    if (aw->has_curlm)
        curlm_close(w);
    free(aw->codes);
    free(aw);
    w->tp[TP_AWS] = NULL;
}

/* --------------------------------------------------------------- totals */

void engine_aws_totals(const struct engine *e, struct aws_run_totals *out)
{
    memset(out, 0, sizeof(*out));
    for (uint32_t i = 0; e->workers && i < e->nworkers; i++) {
        const struct aws_worker *aw = aw_of(&e->workers[i]);
        if (!aw)
            continue;
        out->ops += aw->tot.ops;
        out->attempts += aw->tot.attempts;
        out->retries += aw->tot.retries;
        out->followups += aw->tot.followups;
        out->backoff_us += aw->tot.backoff_us;
    }
}

size_t engine_aws_error_codes(const struct engine *e, const char **names, uint64_t *counts,
                              size_t cap)
{
    size_t n = 0;
    for (uint16_t c = 1; c < aws_code_count(); c++) {
        uint64_t sum = 0;
        for (uint32_t i = 0; e->workers && i < e->nworkers; i++)
            if (aw_of(&e->workers[i]))
                sum += aw_of(&e->workers[i])->codes[c];
        if (sum == 0)
            continue;
        if (n < cap) {
            names[n] = aws_code_name(c);
            counts[n] = sum;
        }
        n++;
    }
    return n;
}

/* ------------------------------------------------------ engine set-up */

/* AWS steps, or a setup phase before MCP steps. */
static bool aws_wanted(const struct scenario *s)
{
    return s->has_aws_steps || (s->aws && s->aws->setup_count > 0);
}

ls_err aws_engine_endpoints(struct aws_engine *ae, char *err, size_t errcap)
{
    for (int i = 0; i < AWS__SERVICES; i++) {
        const char *ep = ae->conf.endpoint[i];
        if (!ep) {
            snprintf(err, errcap, "AWS configuration: no endpoint for %s",
                     awsconf_service_name((enum aws_service)i));
            return LS_ERR_INVALID;
        }
        size_t n = strlen(ep);
        while (n > 0 && ep[n - 1] == '/')
            n--;
        ae->base[i] = strndup(ep, n);
        if (!ae->base[i])
            return LS_ERR_NOMEM;
        if (!url_host_header(ae->base[i], ae->host[i], sizeof(ae->host[i]))) {
            snprintf(err, errcap, "AWS configuration: cannot read the host of %s endpoint %s",
                     awsconf_service_name((enum aws_service)i), ae->base[i]);
            return LS_ERR_INVALID;
        }
    }
    return LS_OK;
}

/* The configuration (awsconf), the endpoints, the object bytes, then the setup phase. */
static ls_err aws_engine_open(struct engine *e, char *err, size_t errcap)
{
    const struct scenario *s = e->s;
    struct aws_engine *ae = calloc(1, sizeof(*ae));
    if (!ae)
        return LS_ERR_NOMEM;
    e->tp[TP_AWS] = ae;
    const char *scn_ep[AWS__SERVICES] = {NULL, NULL};
    if (s->aws) {
        scn_ep[AWS_DYNAMODB] = s->aws->endpoint[SCN_AWS_DYNAMODB];
        scn_ep[AWS_S3] = s->aws->endpoint[SCN_AWS_S3];
    }
    char cerr[512];
    ls_err rc = awsconf_load(s->aws ? s->aws->profile : NULL, s->aws ? s->aws->region : NULL,
                             scn_ep, &ae->conf, cerr, sizeof(cerr));
    if (rc != LS_OK) {
        snprintf(err, errcap, "AWS configuration: %s", cerr);
        return rc;
    }
    rc = aws_engine_endpoints(ae, err, errcap);
    if (rc != LS_OK)
        return rc;
    ae->object_len = s->aws ? (size_t)s->aws->max_object_bytes : 0;
    ae->object = malloc(ae->object_len ? ae->object_len : 1);
    if (!ae->object)
        return LS_ERR_NOMEM;
    for (size_t i = 0; i < ae->object_len; i++)
        ae->object[i] = (uint8_t)('a' + i % 26);
    tp_event(e, "aws_config", "region %s, DynamoDB %s, S3 %s, max %u attempt(s); %s",
             ae->conf.region, ae->base[AWS_DYNAMODB], ae->base[AWS_S3], ae->conf.max_attempts,
             ae->conf.source);
    return aws_run_setup(e, err, errcap);
}

static void aws_engine_close(struct engine *e)
{
    struct aws_engine *ae = ae_of(e);
    if (!ae)
        return;
    awsconf_free(&ae->conf);
    for (int i = 0; i < AWS__SERVICES; i++)
        free(ae->base[i]);
    free(ae->object);
    free(ae);
    e->tp[TP_AWS] = NULL;
}

static void aws_send(struct vu *v)
{
    aws_start(v);
}

const struct transport_ops tp_aws = {
    .name = "aws",
    .slot = TP_AWS,
    .wanted = aws_wanted,
    .engine_open = aws_engine_open,
    .engine_close = aws_engine_close,
    .worker_open = aws_worker_open,
    .vu_open = aws_vu_open,
    .send = aws_send,
    .on_event = curlm_on_socket,
    .tick = aws_on_tick,
    .next_deadline = aws_next_deadline,
    .cancel_all = aws_abort_all,
    .vu_close = aws_vu_close,
    .worker_close = aws_worker_close,
};
