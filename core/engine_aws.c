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
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws_proto.h"
#include "aws_retry.h"
#include "aws_run.h"
#include "awsconf.h"
#include "engine_int.h"
#include "sigv4.h"

#define S3_KEEP_BYTES (64u * 1024u)      /* of an S3 reply body: enough for an error document */
#define MAX_FOLLOWUPS 1000u              /* a batch that never finishes is an error */
#define SETUP_ACTIVE_TIMEOUT_NS (120ull * 1000000000ull)
#define SETUP_POLL_NS (100ull * 1000000ull)
#define NS_PER_MS 1000000ull

struct aws_engine {
    struct aws_config conf;
    char *base[AWS__SERVICES];     /* endpoint without a trailing '/' */
    char host[AWS__SERVICES][256]; /* Host header value: host[:port] as in the URL */
    uint8_t *object;               /* PutObject bodies are prefixes of this */
    size_t object_len;
};

struct aws_worker {
    uint64_t next_due_ns;          /* earliest backoff timer; UINT64_MAX: none */
    uint64_t *codes;               /* failed operations per aws_code index */
    struct aws_run_totals tot;
};

struct aws_vu {
    CURL *easy;
    struct curl_slist *hdrs;
    char *body;                    /* rendered DynamoDB request */
    size_t body_cap, body_len;
    char *resp;
    size_t resp_len, resp_cap, resp_total;
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

static const char *const ddb_target_prefix = "DynamoDB_20120810.";

/* -------------------------------------------------------------- helpers */

static void amz_now(char out[17])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* Host header as curl sends it: the host, and the port when the URL names one. */
static bool url_host_header(const char *url, char *out, size_t cap)
{
    CURLU *u = curl_url();
    char *h = NULL, *p = NULL;
    bool ok = false;
    if (!u)
        return false;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_PORT, &p, 0) != CURLUE_OK)
        p = NULL;
    if (p)
        snprintf(out, cap, "%s:%s", h, p);
    else
        snprintf(out, cap, "%s", h);
    ok = true;
out:
    curl_free(h);
    curl_free(p);
    curl_url_cleanup(u);
    return ok;
}

static struct curl_slist *add_header(struct curl_slist *h, const char *line, bool *ok)
{
    struct curl_slist *t = curl_slist_append(h, line);
    if (!t) {
        *ok = false;
        return h;
    }
    return t;
}

/*
 * Signs and lists the headers of one request. method/path/query as sent;
 * target is the X-Amz-Target operation (DynamoDB) or NULL; ctype the
 * Content-Type or NULL. On failure err says why (never with a secret).
 */
static ls_err build_signed_headers(const struct aws_engine *ae, enum aws_service svc,
                                   const char *method, const char *path, const char *target,
                                   const char *ctype, const uint8_t *body, size_t body_len,
                                   struct curl_slist **out, char *err, size_t errcap)
{
    char amz_date[17];
    char target_hdr[128] = "";
    struct sigv4_header hs[3];
    size_t nh = 0;
    struct sigv4_result res = {0};
    struct sigv4_params p;
    struct curl_slist *h = NULL;
    bool ok = true;
    char line[512];
    ls_err rc;

    amz_now(amz_date);
    hs[nh++] = (struct sigv4_header){"host", ae->host[svc]};
    if (ctype)
        hs[nh++] = (struct sigv4_header){"content-type", ctype};
    if (target) {
        snprintf(target_hdr, sizeof(target_hdr), "%s%s", ddb_target_prefix, target);
        hs[nh++] = (struct sigv4_header){"x-amz-target", target_hdr};
    }
    struct sigv4_request r = {.method = method, .path = path, .query = "", .headers = hs,
                              .header_count = nh, .body = body, .body_len = body_len};
    struct sigv4_credentials c = {ae->conf.access_key_id, ae->conf.secret_access_key,
                                  ae->conf.session_token};
    sigv4_params_for_service(&p, awsconf_service_name(svc), ae->conf.region, amz_date);
    rc = sigv4_sign(&r, &c, &p, &res, err, errcap);
    if (rc != LS_OK)
        goto out;
    snprintf(line, sizeof(line), "Host: %s", ae->host[svc]);
    h = add_header(h, line, &ok);
    if (ctype) {
        snprintf(line, sizeof(line), "Content-Type: %s", ctype);
        h = add_header(h, line, &ok);
    }
    if (target) {
        snprintf(line, sizeof(line), "X-Amz-Target: %s", target_hdr);
        h = add_header(h, line, &ok);
    }
    for (size_t i = 0; i < res.added_count; i++)
        h = add_header(h, res.added[i], &ok);
    {
        size_t n = strlen(res.authorization) + 16;
        char *a = malloc(n);
        if (!a) {
            ok = false;
        } else {
            snprintf(a, n, "Authorization: %s", res.authorization);
            h = add_header(h, a, &ok);
            free(a);
        }
    }
    h = add_header(h, "Expect:", &ok);
    h = add_header(h, "Accept:", &ok);
    if (!ok) {
        snprintf(err, errcap, "out of memory building request headers");
        rc = LS_ERR_NOMEM;
    }
out:
    sigv4_result_free(&res);
    if (rc != LS_OK) {
        curl_slist_free_all(h);
        h = NULL;
    }
    *out = h;
    return rc;
}

/* Reads the error code and message of a failed reply. */
static void parse_error(enum aws_service svc, const char *body, size_t len, char *code,
                        size_t codecap, char *msg, size_t msgcap)
{
    if (svc == AWS_DYNAMODB)
        aws_ddb_parse_error(body, len, code, codecap, msg, msgcap);
    else
        aws_s3_parse_error(body, len, code, codecap, msg, msgcap);
}

static enum aws_transport_fault fault_of(CURLcode result)
{
    switch (http_curl_class(result)) {
    case LS_EC_OK:
        return AWS_TF_NONE;
    case LS_EC_TIMEOUT:
        return AWS_TF_TIMEOUT;
    case LS_EC_CONNECT:
        return AWS_TF_CONNECTION;
    default:
        return AWS_TF_OTHER;
    }
}

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

/* --------------------------------------------------------- write callback */

static size_t on_body(char *buf, size_t size, size_t nmemb, void *userp)
{
    struct vu *v = userp;
    struct aws_vu *a = v->aws;
    size_t len = size * nmemb;
    bool s3 = v->w->e->s->steps[v->step].aws->service == SCN_AWS_S3;
    a->resp_total += len;
    size_t keep = len;
    if (s3 && a->resp_len + keep > S3_KEEP_BYTES)
        keep = a->resp_len < S3_KEEP_BYTES ? S3_KEEP_BYTES - a->resp_len : 0;
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

/* The operation is over: hand its sample to the VU machine. */
static void complete(struct vu *v, enum ls_errclass err, const char *detail)
{
    struct worker *w = v->w;
    struct aws_vu *a = v->aws;
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
    if (v->intended_ns >= w->e->s->warmup_ns) {
        w->aws->tot.ops++;
        w->aws->tot.attempts += a->attempts;
        w->aws->tot.retries += a->retries;
        w->aws->tot.followups += a->followups;
        w->aws->tot.backoff_us += r.backoff_us;
        if (err != LS_EC_OK && r.aws_code < aws_code_count())
            w->aws->codes[r.aws_code]++;
    }
    atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
    vu_on_reply(v, &r);
}

/* Sends the current HTTP call of the VU's operation (a fresh attempt). */
static void send_attempt(struct vu *v)
{
    struct worker *w = v->w;
    struct engine *e = w->e;
    struct aws_engine *ae = e->aws;
    struct aws_vu *a = v->aws;
    const struct scn_aws_step *st = e->s->steps[v->step].aws;
    enum aws_service svc = st->service == SCN_AWS_S3 ? AWS_S3 : AWS_DYNAMODB;
    CURL *c = a->easy;
    char err[256];
    const char *method;
    const uint8_t *body = NULL;
    size_t body_len = 0;

    a->waiting = false;
    a->resp_len = 0;
    a->resp_total = 0;
    a->errbuf[0] = '\0';
    curl_slist_free_all(a->hdrs);
    a->hdrs = NULL;
    ls_err rc;
    if (svc == AWS_DYNAMODB) {
        if (a->batch) {
            body = (const uint8_t *)aws_batch_current(a->batch, &body_len);
        } else {
            body = (const uint8_t *)a->body;
            body_len = a->body_len;
        }
        method = "POST";
        snprintf(a->url, sizeof(a->url), "%s/", ae->base[svc]);
        rc = build_signed_headers(ae, svc, method, "/", st->op, "application/x-amz-json-1.0", body,
                                  body_len, &a->hdrs, err, sizeof(err));
    } else if (e->s->steps[v->step].method == SCN_S3_PUT_OBJECT) {
        method = "PUT";
        body = ae->object;
        body_len = (size_t)a->obj_size;
        snprintf(a->url, sizeof(a->url), "%s%s", ae->base[svc], a->path);
        rc = build_signed_headers(ae, svc, method, a->path, NULL, "application/octet-stream", body,
                                  body_len, &a->hdrs, err, sizeof(err));
    } else {
        method = "GET";
        snprintf(a->url, sizeof(a->url), "%s%s", ae->base[svc], a->path);
        rc = build_signed_headers(ae, svc, method, a->path, NULL, NULL, NULL, 0, &a->hdrs, err,
                                  sizeof(err));
    }
    if (rc != LS_OK) {
        a->aws_code = 0;
        complete(v, LS_EC_OTHER, err);
        return;
    }
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
    CURLMcode mc = curl_multi_add_handle(w->multi, c);
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
    struct aws_vu *a = v->aws;
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
    if (st->service == SCN_AWS_DYNAMODB) {
        long n = tmpl_render(st->request, &vars, a->body, a->body_cap);
        if (n < 0) {
            complete(v, LS_EC_OTHER, "request larger than its buffer");
            return;
        }
        a->body_len = (size_t)n;
        if (step->method == SCN_DDB_BATCH_GET_ITEM || step->method == SCN_DDB_BATCH_WRITE_ITEM) {
            ls_err rc = aws_batch_open(step->method == SCN_DDB_BATCH_GET_ITEM ? AWS_BATCH_GET : AWS_BATCH_WRITE,
                                       a->body, a->body_len, &a->batch, err, sizeof(err));
            if (rc != LS_OK) {
                char d[300];
                snprintf(d, sizeof(d), "%s: %s", step->name, err);
                complete(v, LS_EC_OTHER, d);
                return;
            }
        }
    } else {
        char key[1024], enc[1800];
        long n = tmpl_render(st->key, &vars, key, sizeof(key));
        long m = n < 0 ? -1 : aws_uri_encode(key, (size_t)n, true, enc, sizeof(enc));
        if (m < 0) {
            complete(v, LS_EC_OTHER, "object key longer than 1023 bytes");
            return;
        }
        snprintf(a->path, sizeof(a->path), "/%s/%s", st->bucket, enc);
        if (step->method == SCN_S3_PUT_OBJECT) {
            a->obj_size = aws_size_draw(&st->size, &w->rng);
            if (a->obj_size > e->aws->object_len)
                a->obj_size = e->aws->object_len;
        }
    }
    send_attempt(v);
}

static void note_due(struct worker *w, uint64_t due)
{
    if (due < w->aws->next_due_ns)
        w->aws->next_due_ns = due;
}

void aws_on_done(struct worker *w, CURL *easy, CURLcode result)
{
    struct vu *v = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&v);
    struct aws_vu *a = v->aws;
    struct engine *e = w->e;
    const struct scn_step *step = &e->s->steps[v->step];
    enum aws_service svc = step->aws->service == SCN_AWS_S3 ? AWS_S3 : AWS_DYNAMODB;
    curl_multi_remove_handle(w->multi, easy);
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

    enum aws_transport_fault tf = fault_of(result);
    char code[96] = "", msg[160] = "";
    if (tf == AWS_TF_NONE && (status >= 300 || status < 200))
        parse_error(svc, a->resp, a->resp_len, code, sizeof(code), msg, sizeof(msg));
    enum aws_retry_kind k = aws_retry_classify(tf, (unsigned)status, code);

    if (k == AWS_RK_OK) {
        if (!a->batch) {
            complete(v, LS_EC_OK, NULL);
            return;
        }
        bool followup = false;
        uint32_t items = 0;
        ls_err rc = aws_batch_reply(a->batch, a->resp ? a->resp : "", a->resp_len, &followup, &items);
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
    uint32_t max_attempts = e->aws->conf.max_attempts ? e->aws->conf.max_attempts : AWS_DEFAULT_MAX_ATTEMPTS;
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
    if (!w->aws || now < w->aws->next_due_ns)
        return;
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < w->nvu; i++) {
        struct vu *v = &w->vus[i];
        struct aws_vu *a = v->aws;
        if (!a || !a->waiting)
            continue;
        if (a->due_ns <= now)
            send_attempt(v);
        else if (a->due_ns < next)
            next = a->due_ns;
    }
    /* A send may have failed and started another backoff: keep the earlier one. */
    if (w->aws->next_due_ns <= now)
        w->aws->next_due_ns = UINT64_MAX;
    for (uint32_t i = 0; i < w->nvu; i++) {
        struct aws_vu *a = w->vus[i].aws;
        if (a && a->waiting && a->due_ns < next)
            next = a->due_ns;
    }
    w->aws->next_due_ns = next;
}

uint64_t aws_next_deadline(const struct worker *w)
{
    return w->aws ? w->aws->next_due_ns : UINT64_MAX;
}

void aws_abort_all(struct worker *w)
{
    if (!w->aws)
        return;
    for (uint32_t i = 0; i < w->nvu; i++) {
        struct aws_vu *a = w->vus[i].aws;
        if (!a || !a->busy)
            continue;
        if (a->curl_added && w->multi)
            curl_multi_remove_handle(w->multi, a->easy);
        a->curl_added = false;
        a->busy = false;
        a->waiting = false;
        atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
    }
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

/* ------------------------------------------------------ the setup phase */

struct sync_reply {
    char *p;
    size_t n, cap;
};

static size_t sync_body(char *buf, size_t size, size_t nmemb, void *userp)
{
    struct sync_reply *r = userp;
    size_t len = size * nmemb;
    if (r->n + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->n + len + 1)
            cap *= 2;
        char *p = realloc(r->p, cap);
        if (!p)
            return 0;
        r->p = p;
        r->cap = cap;
    }
    memcpy(r->p + r->n, buf, len);
    r->n += len;
    r->p[r->n] = '\0';
    return len;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    nanosleep(&ts, NULL);
}

struct setup_ctx {
    struct engine *e;
    CURL *easy;
    struct tmpl_rng rng;
    uint64_t requests, retries;
};

/*
 * One setup request with the standard retries (blocking: the control thread,
 * before the load). *status and *code describe the final attempt; reply gets
 * its body. Returns LS_ERR_IO when no reply came at all.
 */
static ls_err sync_call(struct setup_ctx *sc, enum aws_service svc, const char *method,
                        const char *path, const char *target, const char *ctype,
                        const uint8_t *body, size_t len, long *status, char *code, size_t codecap,
                        char *msg, size_t msgcap, struct sync_reply *reply, char *err,
                        size_t errcap)
{
    struct aws_engine *ae = sc->e->aws;
    uint32_t max_attempts = ae->conf.max_attempts ? ae->conf.max_attempts : AWS_DEFAULT_MAX_ATTEMPTS;
    char url[2600];
    ls_err rc = LS_OK;
    snprintf(url, sizeof(url), "%s%s", ae->base[svc], path);
    for (uint32_t attempt = 1;; attempt++) {
        struct curl_slist *h = NULL;
        char ebuf[CURL_ERROR_SIZE] = "";
        rc = build_signed_headers(ae, svc, method, path, target, ctype, body, len, &h, err, errcap);
        if (rc != LS_OK)
            return rc;
        reply->n = 0;
        if (reply->p)
            reply->p[0] = '\0';
        CURL *c = sc->easy;
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sync_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, reply);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(sc->e->s->timeout_ns / 1000000ull));
        curl_easy_setopt(c, CURLOPT_USERAGENT, "loadscope/" LOADSCOPE_VERSION);
        if (body) {
            curl_easy_setopt(c, CURLOPT_POST, 1L);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
            if (strcmp(method, "POST") != 0)
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        } else if (strcmp(method, "GET") != 0) {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        }
        CURLcode res = curl_easy_perform(c);
        curl_slist_free_all(h);
        sc->requests++;
        *status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        enum aws_transport_fault tf = fault_of(res);
        code[0] = msg[0] = '\0';
        if (tf == AWS_TF_NONE && (*status >= 300 || *status < 200))
            parse_error(svc, reply->p, reply->n, code, codecap, msg, msgcap);
        enum aws_retry_kind k = aws_retry_classify(tf, (unsigned)*status, code);
        if ((k == AWS_RK_THROTTLE || k == AWS_RK_TRANSIENT) && attempt < max_attempts &&
            !atomic_load(&ls_stop_requested)) {
            sc->retries++;
            sleep_ns(aws_retry_backoff_ns(attempt, &sc->rng));
            continue;
        }
        if (tf != AWS_TF_NONE) {
            snprintf(err, errcap, "%s %s%s: %s", method, ae->base[svc], path,
                     ebuf[0] ? ebuf : curl_easy_strerror(res));
            return LS_ERR_IO;
        }
        return LS_OK;
    }
}

static ls_err setup_fail(char *err, size_t errcap, const char *what, long status, const char *code,
                         const char *msg)
{
    snprintf(err, errcap, "AWS setup: %s: HTTP %ld %s%s%s", what, status, code[0] ? code : "",
             msg[0] ? ": " : "", msg);
    return LS_ERR_INVALID;
}

/* Sends a BatchWriteItem body, following UnprocessedItems to the end. */
static ls_err setup_batch_write(struct setup_ctx *sc, const char *body, size_t len,
                                uint64_t *followups, char *err, size_t errcap)
{
    struct aws_batch *b = NULL;
    struct sync_reply rep = {0};
    char code[96], msg[160], what[200];
    long status;
    ls_err rc = aws_batch_open(AWS_BATCH_WRITE, body, len, &b, err, errcap);
    if (rc != LS_OK)
        goto out;
    const char *call;
    size_t clen;
    while ((call = aws_batch_current(b, &clen)) != NULL) {
        rc = sync_call(sc, AWS_DYNAMODB, "POST", "/", "BatchWriteItem", "application/x-amz-json-1.0",
                       (const uint8_t *)call, clen, &status, code, sizeof(code), msg, sizeof(msg),
                       &rep, err, errcap);
        if (rc != LS_OK)
            goto out;
        if (status != 200) {
            snprintf(what, sizeof(what), "BatchWriteItem");
            rc = setup_fail(err, errcap, what, status, code, msg);
            goto out;
        }
        bool fu;
        uint32_t items;
        rc = aws_batch_reply(b, rep.p ? rep.p : "", rep.n, &fu, &items);
        if (rc != LS_OK) {
            snprintf(err, errcap, "AWS setup: BatchWriteItem reply is not a JSON object");
            goto out;
        }
        if (fu)
            (*followups)++;
    }
out:
    aws_batch_free(b);
    free(rep.p);
    return rc;
}

static ls_err setup_create_table(struct setup_ctx *sc, const struct scn_aws_setup *a, char *err,
                                 size_t errcap)
{
    struct engine *e = sc->e;
    struct sync_reply rep = {0};
    char code[96], msg[160];
    long status;
    uint64_t t0 = ls_now_ns();
    ls_err rc = sync_call(sc, AWS_DYNAMODB, "POST", "/", "CreateTable", "application/x-amz-json-1.0",
                          (const uint8_t *)a->body, strlen(a->body), &status, code, sizeof(code),
                          msg, sizeof(msg), &rep, err, errcap);
    if (rc != LS_OK)
        goto out;
    bool existed = status == 400 && strcmp(code, "ResourceInUseException") == 0;
    if (status != 200 && !existed) {
        rc = setup_fail(err, errcap, "CreateTable", status, code, msg);
        goto out;
    }
    unsigned polls = 0;
    if (a->wait_active) {
        char desc[512];
        int n = snprintf(desc, sizeof(desc), "{\"TableName\":\"%s\"}", a->table);
        if (n < 0 || (size_t)n >= sizeof(desc)) {
            snprintf(err, errcap, "AWS setup: table name too long");
            rc = LS_ERR_INVALID;
            goto out;
        }
        for (;;) {
            rc = sync_call(sc, AWS_DYNAMODB, "POST", "/", "DescribeTable",
                           "application/x-amz-json-1.0", (const uint8_t *)desc, (size_t)n, &status,
                           code, sizeof(code), msg, sizeof(msg), &rep, err, errcap);
            if (rc != LS_OK)
                goto out;
            polls++;
            if (status != 200) {
                rc = setup_fail(err, errcap, "DescribeTable", status, code, msg);
                goto out;
            }
            if (rep.p && strstr(rep.p, "\"TableStatus\":\"ACTIVE\""))
                break;
            if (ls_now_ns() - t0 > SETUP_ACTIVE_TIMEOUT_NS || atomic_load(&ls_stop_requested)) {
                snprintf(err, errcap, "AWS setup: table %s is not ACTIVE after %u DescribeTable calls",
                         a->table, polls);
                rc = LS_ERR_TIMEOUT;
                goto out;
            }
            sleep_ns(SETUP_POLL_NS);
        }
    }
    eng_event(e, "aws_setup", "create_table %s: %s%s%u DescribeTable call(s), %.0f ms", a->table,
              existed ? "already existed" : "created",
              a->wait_active ? ", ACTIVE after " : ", not waited for; ", polls,
              (double)(ls_now_ns() - t0) / 1e6);
out:
    free(rep.p);
    return rc;
}

static ls_err setup_put_items(struct setup_ctx *sc, const struct scn_aws_setup *a, char *err,
                              size_t errcap)
{
    uint64_t t0 = ls_now_ns(), followups = 0, calls0 = sc->requests;
    size_t item_cap = tmpl_max_len(a->item) + 1;
    size_t cap = 64 + strlen(a->table) * 2 + (item_cap + 32) * AWS_BATCH_WRITE_MAX_ITEMS;
    char *body = malloc(cap);
    ls_err rc = LS_OK;
    if (!body)
        return LS_ERR_NOMEM;
    for (uint32_t i = 0; i < a->count && rc == LS_OK;) {
        size_t off = (size_t)snprintf(body, cap, "{\"RequestItems\":{\"%s\":[", a->table);
        for (uint32_t k = 0; k < AWS_BATCH_WRITE_MAX_ITEMS && i < a->count; k++, i++) {
            struct tmpl_vars vars = {.seq = i, .worker = 0, .rng = &sc->rng};
            off += (size_t)snprintf(body + off, cap - off, "%s{\"PutRequest\":{\"Item\":", k ? "," : "");
            long n = tmpl_render(a->item, &vars, body + off, cap - off);
            if (n < 0) {
                snprintf(err, errcap, "AWS setup: put_items item larger than its buffer");
                rc = LS_ERR_INTERNAL;
                goto out;
            }
            off += (size_t)n;
            off += (size_t)snprintf(body + off, cap - off, "}}");
        }
        off += (size_t)snprintf(body + off, cap - off, "]}}");
        rc = setup_batch_write(sc, body, off, &followups, err, errcap);
    }
    if (rc == LS_OK)
        eng_event(sc->e, "aws_setup", "put_items %s: %u item(s) in %llu BatchWriteItem call(s) (%llu follow-up(s)), %.0f ms",
                  a->table, a->count, (unsigned long long)(sc->requests - calls0),
                  (unsigned long long)followups, (double)(ls_now_ns() - t0) / 1e6);
out:
    free(body);
    return rc;
}

static ls_err setup_create_bucket(struct setup_ctx *sc, const struct scn_aws_setup *a, char *err,
                                  size_t errcap)
{
    struct sync_reply rep = {0};
    char code[96], msg[160], path[128];
    long status;
    uint64_t t0 = ls_now_ns();
    snprintf(path, sizeof(path), "/%s", a->bucket);
    ls_err rc = sync_call(sc, AWS_S3, "PUT", path, NULL, NULL, (const uint8_t *)"", 0, &status, code,
                          sizeof(code), msg, sizeof(msg), &rep, err, errcap);
    if (rc == LS_OK) {
        bool existed = strcmp(code, "BucketAlreadyOwnedByYou") == 0;
        if (status != 200 && !existed)
            rc = setup_fail(err, errcap, "CreateBucket", status, code, msg);
        else
            eng_event(sc->e, "aws_setup", "create_bucket %s: %s, %.0f ms", a->bucket,
                      existed ? "already existed" : "created", (double)(ls_now_ns() - t0) / 1e6);
    }
    free(rep.p);
    return rc;
}

static ls_err setup_put_objects(struct setup_ctx *sc, const struct scn_aws_setup *a, char *err,
                                size_t errcap)
{
    struct aws_engine *ae = sc->e->aws;
    struct sync_reply rep = {0};
    char code[96], msg[160], key[1024], enc[1800], path[2048];
    long status;
    uint64_t t0 = ls_now_ns(), bytes = 0;
    ls_err rc = LS_OK;
    for (uint32_t i = 0; i < a->count && rc == LS_OK; i++) {
        struct tmpl_vars vars = {.seq = i, .worker = 0, .rng = &sc->rng};
        long n = tmpl_render(a->key, &vars, key, sizeof(key));
        if (n < 0 || aws_uri_encode(key, (size_t)n, true, enc, sizeof(enc)) < 0) {
            snprintf(err, errcap, "AWS setup: put_objects key longer than 1023 bytes");
            rc = LS_ERR_INVALID;
            break;
        }
        snprintf(path, sizeof(path), "/%s/%s", a->bucket, enc);
        uint64_t size = aws_size_draw(&a->size, &sc->rng);
        if (size > ae->object_len)
            size = ae->object_len;
        rc = sync_call(sc, AWS_S3, "PUT", path, NULL, "application/octet-stream", ae->object,
                       (size_t)size, &status, code, sizeof(code), msg, sizeof(msg), &rep, err, errcap);
        if (rc == LS_OK && status != 200)
            rc = setup_fail(err, errcap, "PutObject", status, code, msg);
        bytes += size;
    }
    if (rc == LS_OK)
        eng_event(sc->e, "aws_setup", "put_objects %s: %u object(s), %llu bytes, %.0f ms", a->bucket,
                  a->count, (unsigned long long)bytes, (double)(ls_now_ns() - t0) / 1e6);
    free(rep.p);
    return rc;
}

static ls_err run_setup(struct engine *e, char *err, size_t errcap)
{
    const struct scn_aws *sa = e->s->aws;
    struct setup_ctx sc = {.e = e};
    ls_err rc = LS_OK;
    if (!sa || sa->setup_count == 0)
        return LS_OK;
    sc.easy = curl_easy_init();
    if (!sc.easy)
        return LS_ERR_CURL;
    tmpl_rng_seed(&sc.rng, 0x5e7u);
    uint64_t t0 = ls_now_ns();
    for (size_t i = 0; i < sa->setup_count && rc == LS_OK; i++) {
        const struct scn_aws_setup *a = &sa->setup[i];
        switch (a->kind) {
        case SCN_SETUP_CREATE_TABLE:
            rc = setup_create_table(&sc, a, err, errcap);
            break;
        case SCN_SETUP_PUT_ITEMS:
            rc = setup_put_items(&sc, a, err, errcap);
            break;
        case SCN_SETUP_CREATE_BUCKET:
            rc = setup_create_bucket(&sc, a, err, errcap);
            break;
        case SCN_SETUP_PUT_OBJECTS:
            rc = setup_put_objects(&sc, a, err, errcap);
            break;
        }
        if (rc == LS_OK && atomic_load(&ls_stop_requested)) {
            snprintf(err, errcap, "AWS setup interrupted");
            rc = LS_ERR_INVALID;
        }
    }
    if (rc == LS_OK)
        eng_event(e, "aws_setup", "setup done: %zu action(s), %llu request(s) (%llu retried), %.0f ms",
                  sa->setup_count, (unsigned long long)sc.requests, (unsigned long long)sc.retries,
                  (double)(ls_now_ns() - t0) / 1e6);
    else
        eng_event(e, "aws_setup", "%s", err);
    curl_easy_cleanup(sc.easy);
    return rc;
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
    return run_setup(e, err, errcap);
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
