/*
 * engine_h1: MCP's Streamable HTTP transport over loadscope's own HTTP/1.1
 * client, for plain http:// targets.
 *
 * libcurl re-parses the URL, formats headers, searches its connection cache
 * and polls a reused socket for liveness on every request; at tens of
 * thousands of requests a second that dominates the client's CPU. Here each
 * virtual user owns one non-blocking TCP socket in the worker's epoll set
 * (tag EV_H1, low bits the VU's index) and a request head formatted once per
 * session (rebuilt when the session id or the protocol revision changes).
 * A request is one writev (head, Content-Length, body); the reply is read
 * with recv into the worker's buffer and parsed in place by core/h1, its body
 * handed to the same JSON / SSE handling and classification as the libcurl
 * transport's (engine_http_reply.c). This file is the "h1" transport row.
 *
 * Connections: opened at a VU's first request, kept alive, reopened when the
 * server closes (a request that found its reused connection closed before
 * any reply byte is retried once on a new one, as curl does), and one per
 * request when keep-alive is off. Timeouts: every exchange of a worker has
 * the same timeout, so deadlines arrive in send order and an intrusive list
 * in that order gives the next deadline in O(1) with O(1) removal.
 *
 * The per-request path allocates nothing, takes no lock, and makes no
 * syscall but writev, recv and (only when the interest set changes, e.g. a
 * new connection or a partial write) epoll_ctl.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine/engine_http_reply.h"
#include "engine/transport.h"
#include "proto/h1.h"

#define H1_RBUF_BYTES (64 * 1024) /* one recv's worth; shared by the worker's VUs */
#define H1_MAX_ADDRS 8

struct h1_vu {
    struct vu *v;
    struct worker *w;
    struct http_reply rep;     /* the reply's body and classification */
    uint32_t index;            /* in the worker's VU array (epoll tag) */
    int fd;                    /* -1: no connection */
    uint32_t ev;               /* epoll interest registered; 0 when not registered */
    bool connecting;
    bool exchange;             /* a request is in flight on this VU */
    bool sending;              /* not all of the request is written yet */
    bool reused;               /* the connection served an earlier exchange */
    bool retried;              /* this exchange already moved to a new connection */
    bool head_applied;         /* the reply head's fields were handed to the VU */
    bool new_conn;             /* this exchange opened a connection */
    uint8_t addr_try;          /* addresses tried for this connection */
    struct h1_parser *parser;

    char *head;                /* request head without Content-Length and blank line */
    size_t head_len, head_cap;
    bool head_is_post;         /* head[] holds the POST head of the current session */
    char clen[48];
    size_t clen_len;
    struct iovec iov[3];
    size_t out_total, out_done; /* bytes of the request, and written so far */

    uint64_t deadline_ns;
    struct h1_vu *tprev, *tnext; /* in the worker's deadline list while exchange */
    uint64_t conn_start_ns, connect_us, sent_ns, first_byte_ns;
};

struct h1_worker {
    uint64_t tag;              /* epoll tag of the VUs' sockets */
    struct h1_url url;
    struct sockaddr_storage addrs[H1_MAX_ADDRS];
    socklen_t addr_lens[H1_MAX_ADDRS];
    int addr_family[H1_MAX_ADDRS];
    uint8_t naddr, good;       /* addresses resolved; the one that last connected */
    uint32_t dns_us;           /* the resolution's time, reported on the first connection */
    char **custom;             /* scenario headers as "Name: value" */
    size_t ncustom;
    size_t head_cap;
    struct h1_vu *vus;
    struct h1_vu *thead, *ttail; /* exchanges in flight, by deadline */
    char rbuf[H1_RBUF_BYTES];
};

static const char ua_field[] = "User-Agent: loadscope/" LOADSCOPE_VERSION;

static struct h1_worker *hw_of(const struct worker *w)
{
    return w->tp[TP_MCP];
}

static struct h1_vu *h1_of(const struct vu *v)
{
    return v->tp[TP_MCP];
}

/* ------------------------------------------------------------ set-up */

static bool h1_wanted(const struct scenario *s)
{
    return s->transport == SCN_HTTP && s->http_client != SCN_CLIENT_CURL && s->url &&
           strncasecmp(s->url, "http://", 7) == 0;
}

static void h1_on_event(struct worker *w, uint64_t vu_index, uint32_t events);

static ls_err worker_open(struct worker *w, char *err, size_t errcap)
{
    const struct scenario *s = w->e->s;
    ls_err rc = LS_OK;
    struct addrinfo hints = {0}, *res = NULL;
    struct h1_worker *hw = calloc(1, sizeof(*hw));
    if (!hw)
        return LS_ERR_NOMEM;
    w->tp[TP_MCP] = hw;
    hw->tag = eng_ev_tag(w, h1_on_event);
    rc = h1_parse_url(s->url, &hw->url, err, errcap);
    if (rc != LS_OK)
        return rc;

    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    uint64_t t0 = ls_now_ns();
    int g = getaddrinfo(hw->url.host, hw->url.port, &hints, &res);
    hw->dns_us = (uint32_t)((ls_now_ns() - t0) / 1000);
    if (g != 0) {
        snprintf(err, errcap, "cannot resolve %s: %s", hw->url.host, gai_strerror(g));
        return LS_ERR_INVALID;
    }
    for (struct addrinfo *a = res; a && hw->naddr < H1_MAX_ADDRS; a = a->ai_next) {
        if (a->ai_addrlen > sizeof(hw->addrs[0]))
            continue;
        memcpy(&hw->addrs[hw->naddr], a->ai_addr, a->ai_addrlen);
        hw->addr_lens[hw->naddr] = a->ai_addrlen;
        hw->addr_family[hw->naddr] = a->ai_family;
        hw->naddr++;
    }
    freeaddrinfo(res);
    if (hw->naddr == 0) {
        snprintf(err, errcap, "cannot resolve %s: no usable address", hw->url.host);
        return LS_ERR_INVALID;
    }

    size_t cap = 512 + strlen(hw->url.target) + strlen(hw->url.authority) + H1_SESSION_ID_MAX;
    hw->ncustom = s->header_count;
    if (s->header_count) {
        hw->custom = calloc(s->header_count, sizeof(char *));
        if (!hw->custom)
            return LS_ERR_NOMEM;
    }
    for (size_t i = 0; i < s->header_count; i++) {
        size_t n = strlen(s->headers[i].key) + strlen(s->headers[i].value) + 3;
        hw->custom[i] = malloc(n);
        if (!hw->custom[i])
            return LS_ERR_NOMEM;
        snprintf(hw->custom[i], n, "%s: %s", s->headers[i].key, s->headers[i].value);
        cap += n + 2;
    }
    hw->head_cap = cap;
    hw->vus = calloc(w->nvu ? w->nvu : 1, sizeof(struct h1_vu));
    if (!hw->vus)
        return LS_ERR_NOMEM;
    for (uint32_t i = 0; i < w->nvu; i++)
        hw->vus[i].fd = -1;
    return LS_OK;
}

static ls_err h1_worker_open(struct worker *w, char *err, size_t errcap)
{
    err[0] = '\0';
    ls_err rc = worker_open(w, err, errcap);
    if (rc != LS_OK && !err[0])
        snprintf(err, errcap, "cannot set up the HTTP client: %s", ls_strerror(rc));
    return rc;
}

static int on_body(void *ctx, const char *data, size_t len);

static ls_err h1_vu_open(struct vu *v, char *err, size_t errcap)
{
    struct worker *w = v->w;
    struct h1_worker *hw = hw_of(w);
    uint32_t i = (uint32_t)(v - w->vus);
    struct h1_vu *h = &hw->vus[i];
    h->v = v;
    h->w = w;
    h->index = i;
    h->fd = -1;
    v->tp[TP_MCP] = h;
    ls_err rc = http_reply_open(&h->rep, v);
    if (rc == LS_OK)
        rc = h1_parser_open(on_body, h, &h->parser);
    if (rc == LS_OK) {
        h->head_cap = hw->head_cap;
        h->head = malloc(h->head_cap);
        rc = h->head ? LS_OK : LS_ERR_NOMEM;
    }
    if (rc != LS_OK)
        snprintf(err, errcap, "cannot set up a virtual user: %s", ls_strerror(rc));
    return rc;
}

static void h1_worker_close(struct worker *w)
{
    struct h1_worker *hw = hw_of(w);
    if (!hw)
        return;
    for (uint32_t i = 0; i < w->nvu && hw->vus; i++) {
        struct h1_vu *h = &hw->vus[i];
        if (h->fd >= 0)
            close(h->fd);
        h1_parser_close(h->parser);
        free(h->head);
        if (h->v) {
            http_reply_close(&h->rep);
            h->v->tp[TP_MCP] = NULL;
        }
    }
    for (size_t i = 0; i < hw->ncustom && hw->custom; i++)
        free(hw->custom[i]);
    free(hw->custom);
    free(hw->vus);
    free(hw);
    w->tp[TP_MCP] = NULL;
}

/* ------------------------------------------------------------ helpers */

static void list_remove(struct h1_worker *hw, struct h1_vu *h)
{
    if (h->tprev)
        h->tprev->tnext = h->tnext;
    else
        hw->thead = h->tnext;
    if (h->tnext)
        h->tnext->tprev = h->tprev;
    else
        hw->ttail = h->tprev;
    h->tprev = h->tnext = NULL;
}

static void list_append(struct h1_worker *hw, struct h1_vu *h)
{
    h->tnext = NULL;
    h->tprev = hw->ttail;
    if (hw->ttail)
        hw->ttail->tnext = h;
    else
        hw->thead = h;
    hw->ttail = h;
}

static void set_interest(struct h1_vu *h, uint32_t ev)
{
    if (h->ev == ev)
        return;
    struct epoll_event e = {.events = ev};
    e.data.u64 = hw_of(h->w)->tag | h->index;
    epoll_ctl(h->w->epfd, h->ev ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, h->fd, &e);
    h->ev = ev;
}

static void close_conn(struct h1_vu *h)
{
    if (h->fd >= 0)
        close(h->fd); /* also leaves the epoll set */
    h->fd = -1;
    h->ev = 0;
    h->connecting = false;
    h->reused = false;
}

static uint32_t us_since(uint64_t from_ns, uint64_t to_ns)
{
    return to_ns > from_ns ? (uint32_t)((to_ns - from_ns) / 1000) : 0;
}

/* Ends the exchange: fills what every result carries and hands it to the VU. */
static void end_exchange(struct h1_vu *h, struct xfer_result *r)
{
    struct vu *v = h->v;
    struct worker *w = h->w;
    list_remove(hw_of(w), h);
    h->exchange = false;
    h->sending = false;
    v->in_flight = false;
    atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
    r->new_conn = h->new_conn;
    if (h->new_conn) {
        r->connect_us = (uint32_t)h->connect_us;
        /* resolved once per worker: reported on its first connection */
        r->dns_us = hw_of(w)->dns_us;
        hw_of(w)->dns_us = 0;
    }
    if (h->first_byte_ns && h->sent_ns)
        r->ttfb_us = us_since(h->sent_ns, h->first_byte_ns);
    r->bytes_out = (uint32_t)v->req_len;
    r->bytes_in = (uint32_t)h1_body_bytes(h->parser);
    tp_reply(v, r);
}

static void fail(struct h1_vu *h, enum ls_errclass err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct h1_vu *h, enum ls_errclass err, const char *fmt, ...)
{
    struct xfer_result r = {.err = err};
    const struct h1_head *hd = h1_head(h->parser);
    if (h1_head_done(h->parser))
        r.status = hd->status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r.detail, sizeof(r.detail), fmt, ap);
    va_end(ap);
    close_conn(h);
    end_exchange(h, &r);
}

/* The reply head's fields the VU needs, before any body byte is handled. */
static void apply_head(struct h1_vu *h)
{
    const struct h1_head *hd = h1_head(h->parser);
    h->head_applied = true;
    http_reply_content_type(&h->rep, hd->content_type, strlen(hd->content_type));
    if (hd->has_session_id)
        http_reply_session_id(&h->rep, hd->session_id, strlen(hd->session_id));
}

static int on_body(void *ctx, const char *data, size_t len)
{
    struct h1_vu *h = ctx;
    if (!h->head_applied)
        apply_head(h);
    return http_reply_body(&h->rep, data, len) ? 0 : 1;
}

/* ------------------------------------------------------------ sending */

static bool build_head(struct h1_vu *h, bool post)
{
    struct vu *v = h->v;
    struct h1_worker *hw = hw_of(h->w);
    const struct scenario *s = h->w->e->s;
    const char *fields[8 + 64];
    char sid[H1_SESSION_ID_MAX + 20], proto[64];
    size_t n = 0;
    fields[n++] = ua_field;
    fields[n++] = "Content-Type: application/json";
    fields[n++] = "Accept: application/json, text/event-stream";
    if (v->session_id[0]) {
        snprintf(sid, sizeof(sid), "Mcp-Session-Id: %s", v->session_id);
        fields[n++] = sid;
    }
    /* The header exists from revision 2025-06-18 on. */
    if (v->proto[0] && strcmp(v->proto, "2025-03-26") != 0) {
        snprintf(proto, sizeof(proto), "MCP-Protocol-Version: %s", v->proto);
        fields[n++] = proto;
    }
    if (!s->keepalive)
        fields[n++] = "Connection: close";
    long len = h1_format_head(h->head, h->head_cap, post ? "POST" : "DELETE", &hw->url, fields, n);
    if (len < 0)
        return false;
    /* Scenario headers last, as the libcurl path sends them. */
    for (size_t i = 0; i < hw->ncustom; i++) {
        size_t k = strlen(hw->custom[i]);
        if ((size_t)len + k + 2 > h->head_cap)
            return false;
        memcpy(h->head + len, hw->custom[i], k);
        memcpy(h->head + len + k, "\r\n", 2);
        len += (long)(k + 2);
    }
    h->head_len = (size_t)len;
    h->head_is_post = post;
    return true;
}

static void start_connect(struct h1_vu *h);

/* Writes what is left of the request; on completion waits for the reply. now_ns: 0, or the time. */
static void write_some(struct h1_vu *h, uint64_t now_ns)
{
    for (;;) {
        /* Skip what was written already. */
        struct iovec iov[3];
        int cnt = 0;
        size_t skip = h->out_done;
        for (int i = 0; i < 3; i++) {
            if (skip >= h->iov[i].iov_len) {
                skip -= h->iov[i].iov_len;
                continue;
            }
            iov[cnt].iov_base = (char *)h->iov[i].iov_base + skip;
            iov[cnt].iov_len = h->iov[i].iov_len - skip;
            skip = 0;
            cnt++;
        }
        ssize_t n = writev(h->fd, iov, cnt);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_interest(h, EPOLLIN | EPOLLOUT);
                return;
            }
            int e = errno;
            if (h->reused && !h->retried && h1_bytes_seen(h->parser) == 0) {
                /* The server closed the kept-alive connection meanwhile: once more, anew. */
                h->retried = true;
                close_conn(h);
                h->out_done = 0;
                start_connect(h);
                return;
            }
            fail(h, LS_EC_CONNECT, "sending the request to %s: %s", hw_of(h->w)->url.authority,
                 strerror(e));
            return;
        }
        h->out_done += (size_t)n;
        if (h->out_done >= h->out_total) {
            h->sending = false;
            h->sent_ns = now_ns ? now_ns : eng_now(h->w->e);
            set_interest(h, EPOLLIN);
            return;
        }
    }
}

static void start_connect(struct h1_vu *h)
{
    struct h1_worker *hw = hw_of(h->w);
    uint8_t ai = (uint8_t)((hw->good + h->addr_try) % hw->naddr);
    h->new_conn = true;
    h->conn_start_ns = eng_now(h->w->e);
    h->fd = socket(hw->addr_family[ai], SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (h->fd < 0) {
        fail(h, LS_EC_CONNECT, "socket: %s", strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int c = connect(h->fd, (const struct sockaddr *)&hw->addrs[ai], hw->addr_lens[ai]);
    if (c != 0 && errno != EINPROGRESS) {
        int e = errno;
        if (h->addr_try + 1 < hw->naddr) {
            h->addr_try++;
            close_conn(h);
            start_connect(h);
            return;
        }
        fail(h, LS_EC_CONNECT, "connect to %s: %s", hw->url.authority, strerror(e));
        return;
    }
    h->connecting = true;
    set_interest(h, EPOLLIN | EPOLLOUT);
}

static void connected(struct h1_vu *h)
{
    struct h1_worker *hw = hw_of(h->w);
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        soerr = errno;
    if (soerr != 0) {
        if (h->addr_try + 1 < hw->naddr) {
            h->addr_try++;
            close_conn(h);
            start_connect(h);
            return;
        }
        fail(h, LS_EC_CONNECT, "connect to %s: %s", hw->url.authority, strerror(soerr));
        return;
    }
    hw->good = (uint8_t)((hw->good + h->addr_try) % hw->naddr);
    h->addr_try = 0;
    h->connecting = false;
    h->connect_us = us_since(h->conn_start_ns, eng_now(h->w->e));
    write_some(h, 0);
}

static void h1_send(struct vu *v)
{
    struct h1_vu *h = h1_of(v);
    struct worker *w = v->w;
    const struct scenario *s = w->e->s;
    http_reply_reset(&h->rep);
    h1_parser_reset(h->parser);
    h->head_applied = false;
    h->new_conn = false;
    h->retried = false;
    h->connect_us = 0;
    h->sent_ns = h->first_byte_ns = 0;

    bool post = v->phase != VU_DELETE;
    /* The session or revision can change only around INIT, NOTIFY and DELETE. */
    if (!post || v->phase != VU_CALL || !h->head_is_post) {
        if (!build_head(h, post)) {
            h->head_is_post = false;
            tp_fail_now(v, LS_EC_OTHER, "request head larger than its buffer");
            return;
        }
    }
    if (post) {
        v->rpc_id = v->phase == VU_NOTIFY ? -1 : (int64_t)v->seq + 1;
        if (v->phase == VU_INIT)
            v->rpc_id = 0;
        long n = w->e->hooks->build_request(v, v->rpc_id, v->req, v->req_cap);
        if (n < 0) {
            tp_fail_now(v, LS_EC_OTHER, "request larger than its buffer");
            return;
        }
        v->req_len = (size_t)n;
        h->clen_len = h1_format_length(h->clen, v->req_len);
    } else {
        v->req_len = 0;
        memcpy(h->clen, "\r\n", 2);
        h->clen_len = 2;
        h->head_is_post = false; /* the next POST rebuilds its head */
    }
    h->iov[0] = (struct iovec){h->head, h->head_len};
    h->iov[1] = (struct iovec){h->clen, h->clen_len};
    h->iov[2] = (struct iovec){v->req, v->req_len};
    h->out_total = h->head_len + h->clen_len + v->req_len;
    h->out_done = 0;
    h->sending = true;
    h->exchange = true;
    uint64_t now = eng_now(w->e);
    h->deadline_ns = now + s->timeout_ns;
    list_append(hw_of(w), h);
    v->in_flight = true;
    atomic_fetch_add_explicit(&w->in_flight, 1, memory_order_relaxed);

    if (h->fd < 0 || !s->keepalive) {
        if (h->fd >= 0)
            close_conn(h);
        h->addr_try = 0;
        start_connect(h);
    } else {
        write_some(h, now); /* writev returns at once: the request left now */
    }
}

/* ------------------------------------------------------------ replies */

static void complete(struct h1_vu *h, bool extra_bytes)
{
    const struct h1_head *hd = h1_head(h->parser);
    const struct scenario *s = h->w->e->s;
    struct xfer_result r = {0};
    r.status = hd->status;
    if (!hd->keep_alive || !s->keepalive || extra_bytes || h->sending)
        close_conn(h);
    else
        h->reused = true;
    if (!h->head_applied)
        apply_head(h);
    http_reply_classify(&h->rep, hd->status, &r);
    end_exchange(h, &r);
}

/* The connection ended (EOF or error) with the exchange unfinished. */
static void conn_lost(struct h1_vu *h, int err_no)
{
    if (h1_bytes_seen(h->parser) == 0 && h->reused && !h->retried && !h->connecting) {
        /* A kept-alive connection the server had closed: send once more on a new one. */
        h->retried = true;
        close_conn(h);
        h1_parser_reset(h->parser);
        h->out_done = 0;
        h->sending = true;
        start_connect(h);
        return;
    }
    if (err_no == 0 && h1_eof(h->parser) == LS_OK) {
        complete(h, false);
        return;
    }
    if (err_no)
        fail(h, LS_EC_CONNECT, "connection to %s: %s", hw_of(h->w)->url.authority,
             strerror(err_no));
    else
        fail(h, LS_EC_CONNECT, "%s", h1_error(h->parser));
}

static void readable(struct h1_vu *h)
{
    struct h1_worker *hw = hw_of(h->w);
    ssize_t n = recv(h->fd, hw->rbuf, sizeof(hw->rbuf), 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        if (h->exchange)
            conn_lost(h, errno);
        else
            close_conn(h);
        return;
    }
    if (!h->exchange) {
        /* Idle connection: the server closed it (or sent what nobody asked for). */
        close_conn(h);
        return;
    }
    if (n == 0) {
        conn_lost(h, 0);
        return;
    }
    if (!h->first_byte_ns)
        h->first_byte_ns = eng_now(h->w->e);
    size_t used = 0;
    ls_err rc = h1_feed(h->parser, hw->rbuf, (size_t)n, &used);
    if (rc == LS_ERR_INVALID) {
        fail(h, LS_EC_OTHER, "out of memory holding the reply body");
        return;
    }
    if (rc != LS_OK) {
        fail(h, LS_EC_PROTOCOL, "HTTP reply from %s: %s", hw->url.authority, h1_error(h->parser));
        return;
    }
    if (h1_complete(h->parser))
        complete(h, used < (size_t)n);
}

static void h1_on_event(struct worker *w, uint64_t vu_index, uint32_t events)
{
    struct h1_vu *h = &hw_of(w)->vus[vu_index];
    if (h->fd < 0)
        return;
    if (h->connecting) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            connected(h);
        return;
    }
    if (h->sending && (events & (EPOLLOUT | EPOLLERR)) && !(events & EPOLLIN)) {
        write_some(h, 0);
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        readable(h);
    else if (h->sending && (events & EPOLLOUT))
        write_some(h, 0);
}

/* ------------------------------------------------------------ timeouts */

static uint64_t h1_next_deadline(const struct worker *w)
{
    const struct h1_worker *hw = hw_of(w);
    return hw && hw->thead ? hw->thead->deadline_ns : UINT64_MAX;
}

static void h1_check_timeouts(struct worker *w, uint64_t now)
{
    struct h1_worker *hw = hw_of(w);
    const struct scenario *s = w->e->s;
    while (hw->thead && hw->thead->deadline_ns <= now) {
        struct h1_vu *h = hw->thead;
        fail(h, LS_EC_TIMEOUT, "no complete reply within %.3g s",
             (double)s->timeout_ns / 1e9);
    }
}

static void h1_abort_all(struct worker *w)
{
    struct h1_worker *hw = hw_of(w);
    if (!hw)
        return;
    while (hw->thead) {
        struct h1_vu *h = hw->thead;
        list_remove(hw, h);
        close_conn(h);
        h->exchange = false;
        h->v->in_flight = false;
        atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
    }
}

const struct transport_ops tp_h1 = {
    .name = "h1",
    .slot = TP_MCP,
    .wanted = h1_wanted,
    .worker_open = h1_worker_open,
    .vu_open = h1_vu_open,
    .send = h1_send,
    .on_event = h1_on_event,
    .tick = h1_check_timeouts,
    .next_deadline = h1_next_deadline,
    .cancel_all = h1_abort_all,
    .worker_close = h1_worker_close,
    .ends_sessions = true,
};
