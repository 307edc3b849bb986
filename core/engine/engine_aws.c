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
 * This file holds what the engine sets up and reads back: the configuration
 * and endpoints, the workers' and VUs' AWS state with their libcurl handles
 * and reply body callback, and the run's totals. An operation's life
 * (aws_start, aws_on_done, backoff timers, batches) is in engine_aws_op.c,
 * request signing and error-reply reading in engine_aws_wire.c, the setup
 * phase in engine_aws_setup.c; engine_aws_int.h is what they share.
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
#include "engine/engine_int.h"
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
    struct aws_vu *a = v->aws;
    size_t len = size * nmemb;
    size_t limit = v->w->e->s->steps[v->step].aws->row->keep_reply_bytes;
    a->resp_total += len;
    size_t keep = len;
    if (limit && a->resp_len + keep > limit)
        keep = a->resp_len < limit ? limit - a->resp_len : 0;
    if (keep == 0)
        return len;
    if (a->resp_len + keep + 1 > a->resp_cap) {
        size_t cap = a->resp_cap ? a->resp_cap : 4096;
        while (cap < a->resp_len + keep + 1)
            cap *= 2;
        char *n = realloc(a->resp, cap);
        if (!n)
            return 0;
        a->resp = n;
        a->resp_cap = cap;
    }
    memcpy(a->resp + a->resp_len, buf, keep);
    a->resp_len += keep;
    a->resp[a->resp_len] = '\0';
    return len;
}

/* ------------------------------------------------------------ the worker */

ls_err aws_worker_init(struct worker *w)
{
    const struct scenario *s = w->e->s;
    if (!s->has_aws_steps)
        return LS_OK;
    w->aws = calloc(1, sizeof(*w->aws));
    if (!w->aws)
        return LS_ERR_NOMEM;
    w->aws->next_due_ns = UINT64_MAX;
    w->aws->codes = calloc(aws_code_count(), sizeof(uint64_t));
    if (!w->aws->codes)
        return LS_ERR_NOMEM;
    if (!w->multi) {
        ls_err rc = http_worker_init(w);
        if (rc != LS_OK)
            return rc;
    }
    size_t body_cap = 64;
    for (size_t i = 0; i < s->step_count; i++) {
        const struct scn_aws_step *st = s->steps[i].aws;
        if (st && st->request && tmpl_max_len(st->request) + 1 > body_cap)
            body_cap = tmpl_max_len(st->request) + 1;
    }
    for (uint32_t i = 0; i < w->nvu; i++) {
        struct vu *v = &w->vus[i];
        struct aws_vu *a = calloc(1, sizeof(*a));
        if (!a)
            return LS_ERR_NOMEM;
        v->aws = a;
        a->body_cap = body_cap;
        a->body = malloc(body_cap);
        a->easy = curl_easy_init();
        if (!a->body || !a->easy)
            return LS_ERR_NOMEM;
        http_easy_setup(a->easy, v, on_body, a->errbuf);
    }
    return LS_OK;
}

void aws_worker_free(struct worker *w)
{
    for (uint32_t i = 0; w->vus && i < w->nvu; i++) {
        struct aws_vu *a = w->vus[i].aws;
        if (!a)
            continue;
        if (a->easy) {
            if (a->curl_added && w->multi)
                curl_multi_remove_handle(w->multi, a->easy);
            curl_easy_cleanup(a->easy);
        }
        curl_slist_free_all(a->hdrs);
        aws_batch_free(a->batch);
        free(a->body);
        free(a->resp);
        free(a);
        w->vus[i].aws = NULL;
    }
    if (w->aws) {
        free(w->aws->codes);
        free(w->aws);
        w->aws = NULL;
    }
}

bool aws_owns(CURL *easy)
{
    struct vu *v = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&v);
    return v && v->aws && v->aws->easy == easy;
}

/* --------------------------------------------------------------- totals */

void engine_aws_totals(const struct engine *e, struct aws_run_totals *out)
{
    memset(out, 0, sizeof(*out));
    for (uint32_t i = 0; e->workers && i < e->nworkers; i++) {
        const struct aws_worker *aw = e->workers[i].aws;
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
            if (e->workers[i].aws)
                sum += e->workers[i].aws->codes[c];
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

static bool needs_aws(const struct scenario *s)
{
    return s->has_aws_steps || (s->aws && s->aws->setup_count > 0);
}

ls_err aws_engine_prepare(struct engine *e, char *err, size_t errcap)
{
    const struct scenario *s = e->s;
    if (!needs_aws(s))
        return LS_OK;
    struct aws_engine *ae = calloc(1, sizeof(*ae));
    if (!ae)
        return LS_ERR_NOMEM;
    e->aws = ae;
    const char *scn_ep[AWS__SERVICES] = {NULL, NULL};
    if (s->aws) {
        scn_ep[AWS_DYNAMODB] = s->aws->endpoint[SCN_AWS_DYNAMODB];
        scn_ep[AWS_S3] = s->aws->endpoint[SCN_AWS_S3];
    }
    char cerr[512];
    ls_err rc = awsconf_load(s->aws ? s->aws->profile : NULL, s->aws ? s->aws->region : NULL, scn_ep,
                             &ae->conf, cerr, sizeof(cerr));
    if (rc != LS_OK) {
        snprintf(err, errcap, "AWS configuration: %s", cerr);
        return rc;
    }
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
    ae->object_len = s->aws ? (size_t)s->aws->max_object_bytes : 0;
    ae->object = malloc(ae->object_len ? ae->object_len : 1);
    if (!ae->object)
        return LS_ERR_NOMEM;
    for (size_t i = 0; i < ae->object_len; i++)
        ae->object[i] = (uint8_t)('a' + i % 26);
    eng_event(e, "aws_config", "region %s, DynamoDB %s, S3 %s, max %u attempt(s); %s", ae->conf.region,
              ae->base[AWS_DYNAMODB], ae->base[AWS_S3], ae->conf.max_attempts, ae->conf.source);
    return aws_run_setup(e, err, errcap);
}

void aws_engine_free(struct engine *e)
{
    struct aws_engine *ae = e->aws;
    if (!ae)
        return;
    awsconf_free(&ae->conf);
    for (int i = 0; i < AWS__SERVICES; i++)
        free(ae->base[i]);
    free(ae->object);
    free(ae);
    e->aws = NULL;
}
