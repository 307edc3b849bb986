/*
 * engine_http: the "curl" transport, MCP's Streamable HTTP over libcurl.
 *
 * Each VU keeps one easy handle for the whole run on the worker's multi
 * handle (engine_curlm.c), so keep-alive connections, buffers and header
 * lists are reused. Replies are application/json or text/event-stream and
 * go through the reply handling both HTTP clients share
 * (engine_http_reply.c). Used for https:// targets, and for http:// ones
 * when the scenario asks for "client": "curl"; the native client
 * (engine_h1.c) serves the rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/engine_curlm.h"
#include "engine/engine_http_reply.h"
#include "engine/transport.h"

/* A VU's libcurl state. */
struct curl_vu {
    struct vu *v;
    struct curlm_xfer x;        /* its easy handle and the hand-over of finished transfers */
    struct curl_slist *headers;
    struct http_reply rep;
    char errbuf[CURL_ERROR_SIZE];
};

static struct curl_vu *cv_of(const struct vu *v)
{
    return v->tp[TP_MCP];
}

/* ------------------------------------------------------------ callbacks */

static bool header_is(const char *line, size_t len, const char *name, const char **value,
                      size_t *vlen)
{
    size_t n = strlen(name);
    if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
        return false;
    const char *p = line + n + 1;
    const char *end = line + len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    *value = p;
    *vlen = (size_t)(end - p);
    return true;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userp)
{
    struct curl_vu *c = userp;
    size_t len = size * nitems;
    const char *val;
    size_t vlen;
    if (header_is(buf, len, "content-type", &val, &vlen))
        http_reply_content_type(&c->rep, val, vlen);
    else if (header_is(buf, len, "mcp-session-id", &val, &vlen))
        http_reply_session_id(&c->rep, val, vlen);
    return len;
}

static size_t on_body(char *buf, size_t size, size_t nmemb, void *userp)
{
    struct curl_vu *c = userp;
    size_t len = size * nmemb;
    return http_reply_body(&c->rep, buf, len) ? len : 0;
}

/* ------------------------------------------------------------ set-up */

static bool curl_wanted(const struct scenario *s)
{
    return s->transport == SCN_HTTP;
}

static ls_err curl_worker_open(struct worker *w, char *err, size_t errcap)
{
    struct curl_vu *cvs = calloc(w->nvu ? w->nvu : 1, sizeof(*cvs));
    if (!cvs)
        return LS_ERR_NOMEM;
    w->tp[TP_MCP] = cvs;
    ls_err rc = curlm_open(w);
    if (rc != LS_OK) {
        free(cvs);
        w->tp[TP_MCP] = NULL;
        snprintf(err, errcap, "cannot set up libcurl: %s", ls_strerror(rc));
    }
    return rc;
}

/* Rebuilds the VU's request headers after its session changed. */
static ls_err build_headers(struct curl_vu *c)
{
    struct vu *v = c->v;
    const struct scenario *s = v->w->e->s;
    char line[320];
    struct curl_slist *h = NULL, *t;
    curl_slist_free_all(c->headers);
    c->headers = NULL;
    const char *fixed[] = {"Content-Type: application/json",
                           "Accept: application/json, text/event-stream", "Expect:"};
    for (size_t i = 0; i < 3; i++) {
        t = curl_slist_append(h, fixed[i]);
        if (!t)
            goto nomem;
        h = t;
    }
    if (v->session_id[0]) {
        snprintf(line, sizeof(line), "Mcp-Session-Id: %s", v->session_id);
        t = curl_slist_append(h, line);
        if (!t)
            goto nomem;
        h = t;
    }
    /* The header exists from revision 2025-06-18 on. */
    if (v->proto[0] && strcmp(v->proto, "2025-03-26") != 0) {
        snprintf(line, sizeof(line), "MCP-Protocol-Version: %s", v->proto);
        t = curl_slist_append(h, line);
        if (!t)
            goto nomem;
        h = t;
    }
    for (size_t i = 0; i < s->header_count; i++) {
        size_t n = strlen(s->headers[i].key) + strlen(s->headers[i].value) + 3;
        char *kv = malloc(n);
        if (!kv)
            goto nomem;
        snprintf(kv, n, "%s: %s", s->headers[i].key, s->headers[i].value);
        t = curl_slist_append(h, kv);
        free(kv);
        if (!t)
            goto nomem;
        h = t;
    }
    c->headers = h;
    return LS_OK;
nomem:
    curl_slist_free_all(h);
    return LS_ERR_NOMEM;
}

static void finish(struct curlm_xfer *x, CURLcode result);

static ls_err curl_vu_open(struct vu *v, char *err, size_t errcap)
{
    struct worker *w = v->w;
    struct curl_vu *c = &((struct curl_vu *)w->tp[TP_MCP])[v - w->vus];
    c->v = v;
    v->tp[TP_MCP] = c;
    ls_err rc = http_reply_open(&c->rep, v);
    CURL *easy = rc == LS_OK ? curl_easy_init() : NULL;
    if (rc == LS_OK && !easy)
        rc = LS_ERR_CURL;
    if (rc != LS_OK) {
        snprintf(err, errcap, "cannot set up a libcurl handle: %s", ls_strerror(rc));
        return rc;
    }
    curlm_bind(&c->x, easy, finish);
    curlm_easy_setup(easy, w->e->s, on_body, c, c->errbuf);
    curl_easy_setopt(easy, CURLOPT_URL, w->e->s->url);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, c);
    rc = build_headers(c);
    if (rc != LS_OK)
        snprintf(err, errcap, "cannot set up a libcurl handle: %s", ls_strerror(rc));
    return rc;
}

static void curl_vu_close(struct vu *v)
{
    struct curl_vu *c = cv_of(v);
    if (!c)
        return;
    if (c->x.easy) {
        if (v->in_flight)
            curlm_remove(v->w, &c->x);
        curl_easy_cleanup(c->x.easy);
        c->x.easy = NULL;
    }
    curl_slist_free_all(c->headers);
    c->headers = NULL;
    http_reply_close(&c->rep);
    v->tp[TP_MCP] = NULL;
}

static void curl_worker_close(struct worker *w)
{
    if (!w->tp[TP_MCP])
        return;
    free(w->tp[TP_MCP]);
    w->tp[TP_MCP] = NULL;
    curlm_close(w);
}

/* ------------------------------------------------------------ sending */

static void curl_send(struct vu *v)
{
    struct worker *w = v->w;
    struct curl_vu *c = cv_of(v);
    CURL *easy = c->x.easy;
    http_reply_reset(&c->rep);
    c->errbuf[0] = '\0';

    if (v->phase == VU_INIT || v->phase == VU_DELETE || v->phase == VU_NOTIFY) {
        /* Session or revision changed since the last request: new headers. */
        if (build_headers(c) != LS_OK) {
            tp_fail_now(v, LS_EC_OTHER, "out of memory building headers");
            return;
        }
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, c->headers);
    if (v->phase == VU_DELETE) {
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "DELETE");
        v->req_len = 0;
    } else {
        v->rpc_id = v->phase == VU_NOTIFY ? -1 : (int64_t)v->seq + 1;
        if (v->phase == VU_INIT)
            v->rpc_id = 0;
        long n = w->e->hooks->build_request(v, v->rpc_id, v->req, v->req_cap);
        if (n < 0) {
            tp_fail_now(v, LS_EC_OTHER, "request larger than its buffer");
            return;
        }
        v->req_len = (size_t)n;
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, v->req);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)v->req_len);
    }
    CURLMcode mc = curlm_add(w, &c->x);
    if (mc != CURLM_OK) {
        char why[160];
        snprintf(why, sizeof(why), "curl_multi_add_handle: %s", curl_multi_strerror(mc));
        tp_fail_now(v, LS_EC_SEND, why);
        return;
    }
    v->in_flight = true;
    atomic_fetch_add_explicit(&w->in_flight, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------ replies */

static uint32_t us_between(curl_off_t from, curl_off_t to)
{
    return to > from ? (uint32_t)(to - from) : 0;
}

/* The transfer is over (the multi handle removed it): its timings, then the reply's class. */
static void finish(struct curlm_xfer *x, CURLcode result)
{
    struct curl_vu *c = (struct curl_vu *)((char *)x - offsetof(struct curl_vu, x));
    struct vu *v = c->v;
    struct worker *w = v->w;
    CURL *easy = x->easy;
    v->in_flight = false;
    atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);

    struct xfer_result r = {0};
    long status = 0, conns = 0;
    curl_off_t dns = 0, conn = 0, app = 0, pre = 0, start = 0, down = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &conns);
    curl_easy_getinfo(easy, CURLINFO_NAMELOOKUP_TIME_T, &dns);
    curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &conn);
    curl_easy_getinfo(easy, CURLINFO_APPCONNECT_TIME_T, &app);
    curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
    curl_easy_getinfo(easy, CURLINFO_STARTTRANSFER_TIME_T, &start);
    curl_easy_getinfo(easy, CURLINFO_SIZE_DOWNLOAD_T, &down);
    r.status = (uint16_t)status;
    r.new_conn = conns > 0;
    r.dns_us = (uint32_t)dns;
    r.connect_us = us_between(dns, conn);
    r.tls_us = app > 0 ? us_between(conn, app) : 0;
    r.ttfb_us = us_between(pre, start);
    r.bytes_out = (uint32_t)v->req_len;
    r.bytes_in = (uint32_t)down;

    if (result != CURLE_OK) {
        r.err = curlm_class(result);
        snprintf(r.detail, sizeof(r.detail), "%.190s",
                 c->errbuf[0] ? c->errbuf : curl_easy_strerror(result));
    } else {
        http_reply_classify(&c->rep, status, &r);
    }
    tp_reply(v, &r);
}

static void curl_tick(struct worker *w, uint64_t now)
{
    curlm_tick(w, now);
}

static void curl_cancel_all(struct worker *w)
{
    for (uint32_t i = 0; i < w->nvu; i++) {
        struct vu *v = &w->vus[i];
        struct curl_vu *c = cv_of(v);
        if (v->in_flight && c && c->x.easy) {
            curlm_remove(w, &c->x);
            v->in_flight = false;
            atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
        }
    }
}

const struct transport_ops tp_curl = {
    .name = "curl",
    .slot = TP_MCP,
    .wanted = curl_wanted,
    .worker_open = curl_worker_open,
    .vu_open = curl_vu_open,
    .send = curl_send,
    .on_event = curlm_on_socket,
    .tick = curl_tick,
    .next_deadline = curlm_deadline,
    .cancel_all = curl_cancel_all,
    .vu_close = curl_vu_close,
    .worker_close = curl_worker_close,
    .ends_sessions = true,
};
