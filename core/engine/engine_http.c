/*
 * engine_http: MCP's Streamable HTTP transport on a libcurl multi handle.
 *
 * Each worker drives one multi handle from its epoll loop with
 * curl_multi_socket_action (no polling of idle handles); each VU keeps one
 * easy handle for the whole run, so keep-alive connections, buffers and
 * header lists are reused. Replies are application/json or
 * text/event-stream: JSON bodies are scanned whole, event streams go through
 * the SSE parser and the VU waits for the event that carries its reply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#include "engine/engine_int.h"

/* ------------------------------------------------------------ callbacks */

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct worker *w = userp;
    (void)easy;
    struct epoll_event ev = {0};
    ev.data.u64 = (EV_CURL << EV_TAG_SHIFT) | (uint64_t)(uint32_t)s;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, s, NULL);
        curl_multi_assign(w->multi, s, NULL);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    if (socketp) {
        epoll_ctl(w->epfd, EPOLL_CTL_MOD, s, &ev);
    } else {
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, s, &ev) != 0)
            epoll_ctl(w->epfd, EPOLL_CTL_MOD, s, &ev);
        curl_multi_assign(w->multi, s, w);
    }
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct worker *w = userp;
    (void)multi;
    if (timeout_ms < 0)
        w->curl_deadline_ns = UINT64_MAX;
    else
        w->curl_deadline_ns = eng_now(w->e) + (uint64_t)timeout_ms * 1000000ull;
    return 0;
}

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
    struct vu *v = userp;
    size_t len = size * nitems;
    const char *val;
    size_t vlen;
    if (header_is(buf, len, "content-type", &val, &vlen)) {
        v->resp_is_sse = vlen >= 17 && strncasecmp(val, "text/event-stream", 17) == 0;
    } else if (v->phase == VU_INIT && header_is(buf, len, "mcp-session-id", &val, &vlen)) {
        if (vlen < sizeof(v->session_id)) {
            memcpy(v->session_id, val, vlen);
            v->session_id[vlen] = '\0';
        }
    }
    return len;
}

/* The SSE parser hands over each event; the one answering our id settles the reply. */
static int on_sse_event(void *ctx, const struct sse_event *ev)
{
    struct vu *v = ctx;
    if (ev->data_len == 0 || v->reply_seen)
        return 0; /* a priming event, or traffic after our answer */
    struct jsonrpc_msg m;
    if (jsonrpc_scan(ev->data, ev->data_len, &m) != LS_OK) {
        v->res.err = LS_EC_PROTOCOL;
        snprintf(v->res.detail, sizeof(v->res.detail), "event data is not valid JSON");
        v->reply_seen = true;
        return 0;
    }
    if ((m.kind == JSONRPC_RESPONSE || m.kind == JSONRPC_ERROR) && m.id_is_int &&
        m.id_int == v->rpc_id) {
        eng_classify(v, &m, &v->res);
        v->reply_seen = true;
    }
    /* Notifications and server requests on the stream are allowed; they do not answer us. */
    return 0;
}

bool http_body_bytes(struct vu *v, const char *buf, size_t len)
{
    if (v->resp_is_sse) {
        if (sse_feed(v->sse, buf, len) != LS_OK)
            return false;
        v->resp_len += len;
        return true;
    }
    if (v->resp_len + len + 1 > v->resp_cap) {
        size_t cap = v->resp_cap ? v->resp_cap : 4096;
        while (cap < v->resp_len + len + 1)
            cap *= 2;
        char *n = realloc(v->resp, cap);
        if (!n)
            return false;
        v->resp = n;
        v->resp_cap = cap;
    }
    memcpy(v->resp + v->resp_len, buf, len);
    v->resp_len += len;
    return true;
}

static size_t on_body(char *buf, size_t size, size_t nmemb, void *userp)
{
    size_t len = size * nmemb;
    return http_body_bytes(userp, buf, len) ? len : 0;
}

ls_err http_reply_open(struct vu *v)
{
    return sse_open(on_sse_event, v, &v->sse);
}

void http_reply_reset(struct vu *v)
{
    v->resp_len = 0;
    v->resp_is_sse = false;
    v->reply_seen = false;
    memset(&v->res, 0, sizeof(v->res));
    v->errbuf[0] = '\0';
    sse_reset(v->sse);
}

/* ------------------------------------------------------------ set-up */

ls_err http_worker_init(struct worker *w)
{
    w->multi = curl_multi_init();
    if (!w->multi)
        return LS_ERR_CURL;
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
    /* One cached connection per VU: keep-alive must never be starved by the cache size. */
    curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)(w->nvu + 4));
    return LS_OK;
}

/* Rebuilds the VU's request headers after its session changed. */
static ls_err build_headers(struct vu *v)
{
    const struct scenario *s = v->w->e->s;
    char line[320];
    struct curl_slist *h = NULL, *t;
    curl_slist_free_all(v->headers);
    v->headers = NULL;
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
    v->headers = h;
    return LS_OK;
nomem:
    curl_slist_free_all(h);
    return LS_ERR_NOMEM;
}

enum ls_errclass http_curl_class(CURLcode result)
{
    switch (result) {
    case CURLE_OK:
        return LS_EC_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return LS_EC_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
        return LS_EC_CONNECT;
    default:
        return LS_EC_OTHER;
    }
}

void http_easy_setup(CURL *c, struct vu *v, curl_write_callback body_fn, char *errbuf)
{
    const struct scenario *s = v->w->e->s;
    curl_easy_setopt(c, CURLOPT_PRIVATE, v);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_fn);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, v);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(s->timeout_ns / 1000000ull));
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "loadscope/" LOADSCOPE_VERSION);
    if (!s->keepalive) {
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
    }
}

ls_err http_vu_init(struct vu *v)
{
    const struct scenario *s = v->w->e->s;
    ls_err rc = http_reply_open(v);
    if (rc != LS_OK)
        return rc;
    v->easy = curl_easy_init();
    if (!v->easy)
        return LS_ERR_CURL;
    CURL *c = v->easy;
    http_easy_setup(c, v, on_body, v->errbuf);
    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, v);
    return build_headers(v);
}

void http_vu_free(struct vu *v)
{
    if (v->easy) {
        if (v->in_flight && v->w->multi)
            curl_multi_remove_handle(v->w->multi, v->easy);
        curl_easy_cleanup(v->easy);
        v->easy = NULL;
    }
    curl_slist_free_all(v->headers);
    v->headers = NULL;
    sse_close(v->sse);
    v->sse = NULL;
    free(v->resp);
    v->resp = NULL;
}

void http_worker_free(struct worker *w)
{
    if (w->multi) {
        curl_multi_cleanup(w->multi);
        w->multi = NULL;
    }
}

/* ------------------------------------------------------------ sending */

void http_send(struct vu *v)
{
    struct worker *w = v->w;
    CURL *c = v->easy;
    if (v->h1) { /* the native HTTP/1.1 client (engine_h1.c) */
        h1_send(v);
        return;
    }
    http_reply_reset(v);

    if (v->phase == VU_INIT || v->phase == VU_DELETE || v->phase == VU_NOTIFY) {
        /* Session or revision changed since the last request: new headers. */
        if (build_headers(v) != LS_OK) {
            vu_fail_now(v, LS_EC_OTHER, "out of memory building headers");
            return;
        }
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, v->headers);
    if (v->phase == VU_DELETE) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
        v->req_len = 0;
    } else {
        v->rpc_id = v->phase == VU_NOTIFY ? -1 : (int64_t)v->seq + 1;
        if (v->phase == VU_INIT)
            v->rpc_id = 0;
        long n = eng_build_request(v, v->rpc_id, v->req, v->req_cap);
        if (n < 0) {
            vu_fail_now(v, LS_EC_OTHER, "request larger than its buffer");
            return;
        }
        v->req_len = (size_t)n;
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, v->req);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)v->req_len);
    }
    CURLMcode mc = curl_multi_add_handle(w->multi, c);
    if (mc != CURLM_OK) {
        char why[160];
        snprintf(why, sizeof(why), "curl_multi_add_handle: %s", curl_multi_strerror(mc));
        vu_fail_now(v, LS_EC_SEND, why);
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

/*
 * Classifies a complete HTTP reply: the status, then the body gathered by
 * http_body_bytes() (JSON in v->resp, or the SSE parser's verdict in v->res).
 * Shared by the libcurl and the native HTTP/1.1 clients.
 */
void http_classify(struct vu *v, long status, struct xfer_result *r)
{
    if (v->phase == VU_DELETE) {
        r->err = LS_EC_OK; /* 200, 204, or 405 from a server that keeps sessions: all fine */
    } else if ((status == 404 || status == 400) && v->session_id[0] && v->phase != VU_INIT) {
        r->err = LS_EC_SESSION_LOST;
        snprintf(r->detail, sizeof(r->detail), "HTTP %ld for session %.120s", status, v->session_id);
    } else if (status >= 400 || status < 200) {
        r->err = LS_EC_HTTP;
        snprintf(r->detail, sizeof(r->detail), "HTTP %ld", status);
    } else if (v->phase == VU_NOTIFY) {
        r->err = LS_EC_OK;
    } else if (v->resp_is_sse) {
        sse_finish(v->sse);
        r->err = v->res.err;
        r->rpc_code = v->res.rpc_code;
        memcpy(r->detail, v->res.detail, sizeof(r->detail));
        if (!v->reply_seen) {
            r->err = LS_EC_PROTOCOL;
            snprintf(r->detail, sizeof(r->detail), "event stream ended without the reply to id %lld",
                     (long long)v->rpc_id);
        }
    } else {
        struct jsonrpc_msg m;
        if (v->resp_len == 0) {
            r->err = LS_EC_PROTOCOL;
            snprintf(r->detail, sizeof(r->detail), "empty reply body (HTTP %ld)", status);
        } else if (jsonrpc_scan(v->resp, v->resp_len, &m) != LS_OK) {
            r->err = LS_EC_PROTOCOL;
            snprintf(r->detail, sizeof(r->detail), "reply body is not valid JSON");
        } else if (!m.id_is_int || m.id_int != v->rpc_id) {
            r->err = LS_EC_PROTOCOL;
            snprintf(r->detail, sizeof(r->detail), "reply id does not match request id %lld",
                     (long long)v->rpc_id);
        } else {
            eng_classify(v, &m, r);
        }
    }
}

static void finish(struct worker *w, CURL *c, CURLcode result)
{
    struct vu *v = NULL;
    curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&v);
    curl_multi_remove_handle(w->multi, c);
    v->in_flight = false;
    atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);

    struct xfer_result r = {0};
    long status = 0, conns = 0;
    curl_off_t dns = 0, conn = 0, app = 0, pre = 0, start = 0, down = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
    curl_easy_getinfo(c, CURLINFO_NAMELOOKUP_TIME_T, &dns);
    curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &conn);
    curl_easy_getinfo(c, CURLINFO_APPCONNECT_TIME_T, &app);
    curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &pre);
    curl_easy_getinfo(c, CURLINFO_STARTTRANSFER_TIME_T, &start);
    curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &down);
    r.status = (uint16_t)status;
    r.new_conn = conns > 0;
    r.dns_us = (uint32_t)dns;
    r.connect_us = us_between(dns, conn);
    r.tls_us = app > 0 ? us_between(conn, app) : 0;
    r.ttfb_us = us_between(pre, start);
    r.bytes_out = (uint32_t)v->req_len;
    r.bytes_in = (uint32_t)down;

    if (result != CURLE_OK) {
        r.err = http_curl_class(result);
        snprintf(r.detail, sizeof(r.detail), "%.190s",
                 v->errbuf[0] ? v->errbuf : curl_easy_strerror(result));
    } else {
        http_classify(v, status, &r);
    }
    vu_on_reply(v, &r);
}

static void read_done(struct worker *w)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(w->multi, &left))) {
        if (m->msg == CURLMSG_DONE && aws_owns(m->easy_handle))
            aws_on_done(w, m->easy_handle, m->data.result);
        else if (m->msg == CURLMSG_DONE)
            finish(w, m->easy_handle, m->data.result);
    }
}

void http_on_socket(struct worker *w, int fd, uint32_t events)
{
    int flags = 0, running;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
        flags |= CURL_CSELECT_IN;
    if (events & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
    if (events & EPOLLERR)
        flags |= CURL_CSELECT_ERR;
    curl_multi_socket_action(w->multi, fd, flags, &running);
    read_done(w);
}

void http_on_timeout(struct worker *w)
{
    int running;
    w->curl_deadline_ns = UINT64_MAX;
    curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    read_done(w);
}

void http_abort_all(struct worker *w)
{
    if (!w->multi)
        return;
    for (uint32_t i = 0; i < w->nvu; i++) {
        struct vu *v = &w->vus[i];
        if (v->in_flight && v->easy) {
            curl_multi_remove_handle(w->multi, v->easy);
            v->in_flight = false;
            atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
        }
    }
}
