/*
 * engine_aws_op: one AWS operation from aws_start() to its sample, on the
 * worker's event loop. aws_start() renders the step's request (the
 * DynamoDB body, split into batch calls for BatchGetItem/BatchWriteItem; the
 * S3 key and, for PutObject, the object size) and sends the first attempt;
 * aws_on_done() reads each finished attempt: a success completes the
 * operation or sends the batch's next call (a follow-up when the reply left
 * entries unprocessed); a throttle or transient fault within the attempt
 * budget waits out a backoff timer that aws_on_tick() fires; anything else
 * completes the operation with its error class. complete() hands the one
 * sample (all attempts together) to the VU machine and counts the totals.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "aws/aws_proto.h"
#include "aws/aws_retry.h"
#include "aws/awsconf.h"
#include "engine/engine_aws_int.h"
#include "scenario/aws_ops.h"

#define MAX_FOLLOWUPS 1000u              /* a batch that never finishes is an error */

/* The error class of an operation whose last attempt failed this way. */
static enum ls_errclass final_class(enum aws_retry_kind k, enum aws_transport_fault tf,
                                    unsigned status)
{
    if (tf == AWS_TF_TIMEOUT)
        return LS_EC_TIMEOUT;
    if (tf == AWS_TF_CONNECTION)
        return LS_EC_CONNECT;
    if (tf == AWS_TF_OTHER)
        return LS_EC_OTHER;
    if (k == AWS_RK_THROTTLE)
        return LS_EC_THROTTLED;
    if (status >= 500 || k == AWS_RK_TRANSIENT)
        return LS_EC_AWS_SERVER;
    return LS_EC_AWS_CLIENT;
}

/* The operation is over: hand its sample to the VU machine. */
static void complete(struct vu *v, enum ls_errclass err, const char *detail)
{
    struct worker *w = v->w;
    struct aws_vu *a = av_of(v);
    struct xfer_result r = a->last;
    r.err = err;
    r.bytes_in = (uint32_t)(a->bytes_in > UINT32_MAX ? UINT32_MAX : a->bytes_in);
    r.bytes_out = (uint32_t)(a->bytes_out > UINT32_MAX ? UINT32_MAX : a->bytes_out);
    r.attempts = a->attempts;
    r.retries = a->retries;
    r.followups = a->followups;
    r.aws_code = err == LS_EC_OK ? 0 : a->aws_code;
    r.backoff_us = (uint32_t)(a->backoff_ns / 1000u > UINT32_MAX ? UINT32_MAX : a->backoff_ns / 1000u);
    r.last_try_us = (uint32_t)(a->last_try_ns / 1000u > UINT32_MAX ? UINT32_MAX : a->last_try_ns / 1000u);
    if (detail)
        snprintf(r.detail, sizeof(r.detail), "%s", detail);
    aws_batch_free(a->batch);
    a->batch = NULL;
    a->busy = false;
    a->waiting = false;
    struct aws_worker *aw = aw_of(w);
    if (v->intended_ns >= w->e->s->warmup_ns) {
        aw->tot.ops++;
        aw->tot.attempts += a->attempts;
        aw->tot.retries += a->retries;
        aw->tot.followups += a->followups;
        aw->tot.backoff_us += r.backoff_us;
        if (err != LS_EC_OK && r.aws_code < aws_code_count())
            aw->codes[r.aws_code]++;
    }
    atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
    tp_reply(v, &r);
}

/* Sends the current HTTP call of the VU's operation (a fresh attempt). */
static void send_attempt(struct vu *v)
{
    struct worker *w = v->w;
    struct engine *e = w->e;
    struct aws_engine *ae = ae_of(e);
    struct aws_vu *a = av_of(v);
    const struct aws_op *op = e->s->steps[v->step].aws->row;
    enum aws_service svc = op->service == SCN_AWS_S3 ? AWS_S3 : AWS_DYNAMODB;
    CURL *c = a->x.easy;
    char err[256];
    const uint8_t *body = NULL;
    size_t body_len = 0;

    a->waiting = false;
    dyn_reset(&a->resp);
    a->resp_total = 0;
    a->errbuf[0] = '\0';
    curl_slist_free_all(a->hdrs);
    a->hdrs = NULL;
    if (op->body == AWS_BODY_REQUEST && a->batch) {
        body = (const uint8_t *)aws_batch_current(a->batch, &body_len);
    } else if (op->body == AWS_BODY_REQUEST) {
        body = (const uint8_t *)a->body;
        body_len = a->body_len;
    } else if (op->body == AWS_BODY_OBJECT) {
        body = ae->object;
        body_len = (size_t)a->obj_size;
    }
    const char *path = op->object_path ? a->path : "/";
    snprintf(a->url, sizeof(a->url), "%s%s", ae->base[svc], path);
    ls_err rc = aws_build_signed_headers(ae, svc, op->http_method, path, op->target,
                                         op->content_type, body, body_len, &a->hdrs, err,
                                         sizeof(err));
    if (rc != LS_OK) {
        a->aws_code = 0;
        complete(v, LS_EC_OTHER, err);
        return;
    }
    const char *method = op->http_method;
    curl_easy_setopt(c, CURLOPT_URL, a->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, a->hdrs);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") == 0 ? NULL : method);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    }
    a->attempts++;
    a->tries_this_call++;
    a->bytes_out += body_len;
    a->try_start_ns = eng_now(e);
    CURLMcode mc = curlm_add(w, &a->x);
    if (mc != CURLM_OK) {
        snprintf(err, sizeof(err), "curl_multi_add_handle: %s", curl_multi_strerror(mc));
        complete(v, LS_EC_SEND, err);
        return;
    }
    a->curl_added = true;
}

void aws_start(struct vu *v)
{
    struct worker *w = v->w;
    struct engine *e = w->e;
    struct aws_vu *a = av_of(v);
    const struct scn_step *step = &e->s->steps[v->step];
    const struct scn_aws_step *st = step->aws;
    char err[256];

    a->busy = true;
    a->waiting = false;
    a->attempts = a->retries = a->followups = a->aws_code = 0;
    a->tries_this_call = 0;
    a->backoff_ns = a->last_try_ns = 0;
    a->bytes_in = a->bytes_out = 0;
    memset(&a->last, 0, sizeof(a->last));
    atomic_fetch_add_explicit(&w->in_flight, 1, memory_order_relaxed);

    struct tmpl_vars vars = {
        .seq = (uint64_t)v->seq * e->nworkers + w->index,
        .worker = v->id,
        .rng = &w->rng,
    };
    if (st->row->body == AWS_BODY_REQUEST) {
        long n = tmpl_render(st->request, &vars, a->body, a->body_cap);
        if (n < 0) {
            complete(v, LS_EC_OTHER, "request larger than its buffer");
            return;
        }
        a->body_len = (size_t)n;
        if (st->row->batch) {
            ls_err rc = aws_batch_open(st->row->batch, a->body, a->body_len, &a->batch, err,
                                       sizeof(err));
            if (rc != LS_OK) {
                char d[300];
                snprintf(d, sizeof(d), "%s: %s", step->name, err);
                complete(v, LS_EC_OTHER, d);
                return;
            }
        }
    }
    if (st->row->object_path) {
        char key[1024], enc[1800];
        long n = tmpl_render(st->key, &vars, key, sizeof(key));
        long m = n < 0 ? -1 : aws_uri_encode(key, (size_t)n, true, enc, sizeof(enc));
        if (m < 0) {
            complete(v, LS_EC_OTHER, "object key longer than 1023 bytes");
            return;
        }
        snprintf(a->path, sizeof(a->path), "/%s/%s", st->bucket, enc);
    }
    if (st->row->body == AWS_BODY_OBJECT) {
        a->obj_size = aws_size_draw(&st->size, &w->rng);
        if (a->obj_size > ae_of(e)->object_len)
            a->obj_size = ae_of(e)->object_len;
    }
    send_attempt(v);
}

static void note_due(struct worker *w, uint64_t due)
{
    if (due < aw_of(w)->next_due_ns)
        aw_of(w)->next_due_ns = due;
}

void aws_on_done(struct curlm_xfer *x, CURLcode result)
{
    struct aws_vu *a = (struct aws_vu *)((char *)x - offsetof(struct aws_vu, x));
    struct vu *v = a->v;
    struct worker *w = v->w;
    CURL *easy = x->easy;
    struct engine *e = w->e;
    const struct scn_step *step = &e->s->steps[v->step];
    const struct aws_op *op = step->aws->row;
    enum aws_service svc = op->service == SCN_AWS_S3 ? AWS_S3 : AWS_DYNAMODB;
    a->curl_added = false;
    uint64_t now = eng_now(e);
    a->last_try_ns = now > a->try_start_ns ? now - a->try_start_ns : 0;

    long status = 0, conns = 0;
    curl_off_t dns = 0, conn = 0, app = 0, pre = 0, start = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &conns);
    curl_easy_getinfo(easy, CURLINFO_NAMELOOKUP_TIME_T, &dns);
    curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &conn);
    curl_easy_getinfo(easy, CURLINFO_APPCONNECT_TIME_T, &app);
    curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
    curl_easy_getinfo(easy, CURLINFO_STARTTRANSFER_TIME_T, &start);
    a->last.status = (uint16_t)status;
    a->last.new_conn = a->last.new_conn || conns > 0;
    a->last.dns_us = (uint32_t)dns;
    a->last.connect_us = conn > dns ? (uint32_t)(conn - dns) : 0;
    a->last.tls_us = app > conn ? (uint32_t)(app - conn) : 0;
    a->last.ttfb_us = start > pre ? (uint32_t)(start - pre) : 0;
    a->bytes_in += a->resp_total;

    enum aws_transport_fault tf = aws_fault_of(result);
    char code[96] = "", msg[160] = "";
    if (tf == AWS_TF_NONE && (status >= 300 || status < 200))
        aws_parse_error(svc, dyn_ptr(&a->resp), dyn_len(&a->resp), code, sizeof(code), msg,
                        sizeof(msg));
    enum aws_retry_kind k = op->retry(tf, (unsigned)status, code);

    if (k == AWS_RK_OK) {
        if (!a->batch) {
            complete(v, LS_EC_OK, NULL);
            return;
        }
        bool followup = false;
        uint32_t items = 0;
        const char *reply = dyn_ptr(&a->resp) ? dyn_ptr(&a->resp) : "";
        ls_err rc = aws_batch_reply(a->batch, reply, dyn_len(&a->resp), &followup, &items);
        if (rc != LS_OK) {
            complete(v, rc == LS_ERR_PARSE ? LS_EC_PROTOCOL : LS_EC_OTHER,
                     rc == LS_ERR_PARSE ? "batch reply is not a JSON object" : "out of memory");
            return;
        }
        if (followup)
            a->followups++;
        if (!aws_batch_current(a->batch, NULL)) {
            complete(v, LS_EC_OK, NULL);
            return;
        }
        if (a->followups > MAX_FOLLOWUPS) {
            complete(v, LS_EC_OTHER, "batch still has unprocessed entries after 1000 follow-ups");
            return;
        }
        a->tries_this_call = 0;
        send_attempt(v);
        return;
    }

    a->aws_code = aws_code_index(code, strlen(code));
    uint32_t max_attempts = ae_of(e)->conf.max_attempts ? ae_of(e)->conf.max_attempts
                                                        : AWS_DEFAULT_MAX_ATTEMPTS;
    bool stopping_hard = atomic_load(&e->abort_now);
    if ((k == AWS_RK_THROTTLE || k == AWS_RK_TRANSIENT) && a->tries_this_call < max_attempts &&
        !stopping_hard) {
        uint64_t delay = aws_retry_backoff_ns(a->tries_this_call, &w->rng);
        a->retries++;
        a->backoff_ns += delay;
        a->waiting = true;
        a->due_ns = now + delay;
        note_due(w, a->due_ns);
        return;
    }
    char detail[200];
    /* Bounded pieces: the detail is a 200-byte log line, whatever the names. */
    if (tf != AWS_TF_NONE)
        snprintf(detail, sizeof(detail), "%.40s %s: %.140s", step->name,
                 tf == AWS_TF_TIMEOUT ? "timed out" : "failed",
                 a->errbuf[0] ? a->errbuf : curl_easy_strerror(result));
    else if (code[0])
        snprintf(detail, sizeof(detail), "%.40s: HTTP %ld %.40s: %.90s", step->name, status, code,
                 msg);
    else
        snprintf(detail, sizeof(detail), "%.40s: HTTP %ld", step->name, status);
    complete(v, final_class(k, tf, (unsigned)status), detail);
}

void aws_on_tick(struct worker *w, uint64_t now)
{
    struct aws_worker *aw = aw_of(w);
    curlm_tick(w, now);
    if (!aw || now < aw->next_due_ns)
        return;
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < w->nvu; i++) {
        struct vu *v = &w->vus[i];
        struct aws_vu *a = av_of(v);
        if (!a || !a->waiting)
            continue;
        if (a->due_ns <= now)
            send_attempt(v);
        else if (a->due_ns < next)
            next = a->due_ns;
    }
    /* A send may have failed and started another backoff: keep the earlier one. */
    if (aw->next_due_ns <= now)
        aw->next_due_ns = UINT64_MAX;
    for (uint32_t i = 0; i < w->nvu; i++) {
        struct aws_vu *a = av_of(&w->vus[i]);
        if (a && a->waiting && a->due_ns < next)
            next = a->due_ns;
    }
    aw->next_due_ns = next;
}

uint64_t aws_next_deadline(const struct worker *w)
{
    uint64_t due = aw_of(w) ? aw_of(w)->next_due_ns : UINT64_MAX;
    uint64_t curl_due = curlm_deadline(w);
    return curl_due < due ? curl_due : due;
}

void aws_abort_all(struct worker *w)
{
    if (!aw_of(w))
        return;
    for (uint32_t i = 0; i < w->nvu; i++) {
        struct aws_vu *a = av_of(&w->vus[i]);
        if (!a || !a->busy)
            continue;
        if (a->curl_added)
            curlm_remove(w, &a->x);
        a->curl_added = false;
        a->busy = false;
        a->waiting = false;
        atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
    }
}
