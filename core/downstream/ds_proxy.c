/*
 * ds_proxy: one service's recording proxy, its thread and epoll loop.
 *
 * The target connects to 127.0.0.1:PORT (its SDK found it in
 * AWS_ENDPOINT_URL_*), keeps the connection alive and sends one request at
 * a time. Each request is read whole into the connection's buffer (the
 * h1req parser resumes on every read), named (X-Amz-Target, or S3's method
 * and path), attributed to the MCP requests in flight, and then either
 * answered by an injected fault or forwarded: byte for byte to an http://
 * upstream (ds_plain.c), re-signed through libcurl to an https:// one
 * (ds_tls.c). A reply is relayed to the target as it arrives; when its
 * last byte is written the call is finished and handed to the recorder.
 * "Expect: 100-continue" is answered by the proxy itself (it needs the body
 * before forwarding), so the upstream never sees it.
 *
 * A target that closes its side while a call is in progress has given up on
 * it (an SDK's timeout): the call is recorded then, with status 0, and the
 * upstream's reply dropped. HTTP clients do not half-close to wait for a
 * reply, and writing to a closed peer would first "succeed".
 *
 * Objects closed while a batch of events is being handled (a connection,
 * an upstream connection, a libcurl socket) are freed after the batch: a
 * later event of the same batch may still point at them.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "downstream/ds_proxy_int.h"
#include "util/clock.h"

static void tconn_close(struct ds_proxy *p, struct ds_tconn *t);
static void parse_request(struct ds_proxy *p, struct ds_tconn *t);

/* ------------------------------------------------------------ helpers */

void ds_watch(struct ds_proxy *p, int fd, struct ds_ev *tag, uint32_t *current, uint32_t want)
{
    if (*current == want || fd < 0)
        return;
    struct epoll_event e = {.events = want, .data.ptr = tag};
    if (want == 0)
        epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
    else
        epoll_ctl(p->epfd, *current == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &e);
    *current = want;
}

void ds_bury(struct ds_proxy *p, struct ds_ev *ev)
{
    if (p->ngrave == p->capgrave) {
        size_t cap = p->capgrave ? p->capgrave * 2 : 16;
        struct ds_ev **g = realloc(p->grave, cap * sizeof(*g));
        if (g == NULL)
            return; /* leaks one object rather than risk a use after free */
        p->grave = g;
        p->capgrave = cap;
    }
    p->grave[p->ngrave++] = ev;
}

static void tconn_free(struct ds_tconn *t)
{
    ds_buf_free(&t->in);
    ds_buf_free(&t->out);
    ds_buf_free(&t->cap);
    free(t->done.req_body);
    free(t->done.resp_body);
    free(t);
}

static void empty_grave(struct ds_proxy *p)
{
    for (size_t i = 0; i < p->ngrave; i++) {
        struct ds_ev *ev = p->grave[i];
        if (ev->kind == DS_EV_TARGET)
            tconn_free((struct ds_tconn *)ev);
        else if (!ds_plain_free(ev))
            (void)ds_tls_free(ev);
    }
    p->ngrave = 0;
}

static void set_events(struct ds_proxy *p, struct ds_tconn *t)
{
    uint32_t want = EPOLLIN | EPOLLRDHUP;
    if (ds_buf_avail(&t->out) > 0)
        want |= EPOLLOUT;
    if (t->peer_closed)
        want &= ~(uint32_t)(EPOLLIN | EPOLLRDHUP);
    ds_watch(p, t->fd, &t->ev, &t->events, want ? want : EPOLLERR);
}

/* ------------------------------------------------------------ finishing a call */

/* Hands the call to the recorder and gets the connection ready for the next request. */
static void finish_call(struct ds_proxy *p, struct ds_tconn *t, uint16_t status, const char *detail)
{
    struct ds_call *c = &t->done.call;
    uint64_t now = ls_now_ns();
    c->service = (uint8_t)p->svc;
    c->status = status;
    c->latency_ns = now - t->t0_ns;
    if (c->upstream_ns == 0 && t->up_t0_ns != 0 && t->state == DS_T_UPSTREAM)
        c->upstream_ns = now - t->up_t0_ns;
    c->bytes_in = t->req.msg_len ? t->req.msg_len : t->req.head_len;
    c->bytes_out = t->out_bytes;
    c->fault = (uint8_t)t->fault;
    if (detail && !c->detail[0])
        snprintf(c->detail, sizeof c->detail, "%s", detail);
    if (t->capture && t->cap.len > 0) {
        t->done.resp_body = t->cap.p;
        t->done.resp_len = t->cap.len;
        t->cap = (struct ds_buf){0};
    }
    t->done.t0_ns = t->t0_ns;
    (void)ds_recorder_push(p->d->rec, &t->done);
    memset(&t->done, 0, sizeof(t->done));
    ds_buf_clear(&t->cap);
    /* the next request, if its bytes are already here */
    uint64_t used = t->req.msg_len ? t->req.msg_len : ds_buf_avail(&t->in);
    ds_buf_consume(&t->in, (size_t)(used < ds_buf_avail(&t->in) ? used : ds_buf_avail(&t->in)));
    h1req_reset(&t->req);
    t->state = DS_T_IDLE;
    t->sent_continue = t->is_head = t->capture = false;
    t->reply_started = t->reply_done = t->up_retried = t->paced = false;
    t->fault = DS_FAULT_NONE;
    t->up_t0_ns = t->wake_ns = t->out_bytes = 0;
}

/* After a call finished: close, or read the next request already buffered. */
static void after_call(struct ds_proxy *p, struct ds_tconn *t)
{
    if (t->close_after || t->peer_closed) {
        tconn_close(p, t);
        return;
    }
    if (ds_buf_avail(&t->in) > 0) {
        t->state = DS_T_READ;
        t->t0_ns = ls_now_ns();
        parse_request(p, t);
    }
}

void ds_tconn_flush(struct ds_proxy *p, struct ds_tconn *t)
{
    if (t->fd < 0)
        return;
    while (ds_buf_avail(&t->out) > 0) {
        ssize_t n = send(t->fd, t->out.p + t->out.start, ds_buf_avail(&t->out), MSG_NOSIGNAL);
        if (n > 0) {
            ds_buf_consume(&t->out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        /* the target is gone: the reply cannot be delivered */
        t->peer_closed = true;
        ds_buf_clear(&t->out);
        if (t->state != DS_T_IDLE && t->state != DS_T_READ) {
            if (t->up)
                ds_plain_abandon(p, t);
            if (t->easy)
                ds_tls_abandon(p, t);
            finish_call(p, t, 0, "the target closed the connection before the reply was sent");
        }
        tconn_close(p, t);
        return;
    }
    if (t->paced && ds_buf_avail(&t->out) < DS_RELAY_HIGH / 2) {
        t->paced = false;
        ds_plain_pace(p, t, false);
    }
    if (t->doomed && ds_buf_avail(&t->out) == 0) {
        tconn_close(p, t);
        return;
    }
    if (t->reply_done && ds_buf_avail(&t->out) == 0) {
        finish_call(p, t, t->done.call.status, NULL);
        after_call(p, t);
        return;
    }
    set_events(p, t);
}

bool ds_reply_bytes(struct ds_proxy *p, struct ds_tconn *t, const char *b, size_t n)
{
    if (!ds_buf_add(&t->out, b, n))
        return false;
    t->out_bytes += n;
    t->reply_started = true;
    ds_tconn_flush(p, t);
    if (t->fd >= 0 && t->up && ds_buf_avail(&t->out) > DS_RELAY_HIGH && !t->paced) {
        t->paced = true;
        ds_plain_pace(p, t, true);
    }
    return true;
}

void ds_reply_done(struct ds_proxy *p, struct ds_tconn *t, uint16_t status)
{
    t->done.call.status = status;
    t->done.call.upstream_ns = ls_now_ns() - t->up_t0_ns;
    t->reply_done = true;
    t->state = DS_T_REPLY;
    ds_tconn_flush(p, t);
}

/* A reply the proxy makes itself (not a fault): 400, 413, 502, 504. */
static void own_reply(struct ds_proxy *p, struct ds_tconn *t, uint16_t status, const char *reason,
                      const char *msg, bool close)
{
    char head[256];
    size_t ml = strlen(msg);
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %u %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n",
                      status, reason, ml + 1, close ? "Connection: close\r\n" : "");
    if (close)
        t->close_after = true;
    t->done.call.status = status;
    if (!ds_buf_add(&t->out, head, (size_t)hn) || !ds_buf_add(&t->out, msg, ml) ||
        !ds_buf_add(&t->out, "\n", 1)) {
        tconn_close(p, t);
        return;
    }
    t->out_bytes += (uint64_t)hn + ml + 1;
    t->reply_started = t->reply_done = true;
    t->state = DS_T_REPLY;
    ds_tconn_flush(p, t);
}

void ds_upstream_failed(struct ds_proxy *p, struct ds_tconn *t, bool timeout, const char *fmt, ...)
{
    char why[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    atomic_fetch_add(&p->t_up_errors, 1);
    if (t->up)
        ds_plain_abandon(p, t);
    if (t->easy)
        ds_tls_abandon(p, t);
    snprintf(t->done.call.detail, sizeof t->done.call.detail, "upstream: %.110s", why);
    t->done.call.upstream_ns = ls_now_ns() - t->up_t0_ns;
    if (!t->reply_started) {
        char msg[800];
        snprintf(msg, sizeof msg, "loadscope downstream proxy: %.500s %s: %s", p->up->url,
                 timeout ? "did not answer in time" : "failed", why);
        own_reply(p, t, timeout ? 504 : 502, timeout ? "Gateway Timeout" : "Bad Gateway", msg,
                  false);
        return;
    }
    /* part of the reply went out already: the connection cannot be trusted any more */
    t->close_after = true;
    t->reply_done = true;
    t->state = DS_T_REPLY;
    t->done.call.status = 0;
    ds_tconn_flush(p, t);
}

/* ------------------------------------------------------------ requests */

static void forward(struct ds_proxy *p, struct ds_tconn *t)
{
    const char *base = t->in.p + t->in.start;
    t->state = DS_T_UPSTREAM;
    t->up_t0_ns = ls_now_ns();
    t->wake_ns = t->up_t0_ns + DS_UPSTREAM_TIMEOUT_NS;
    atomic_fetch_add(&p->t_forwarded, 1);
    if (ds_op_is_batch(t->done.call.op) && t->req.body_len > 0 && t->req.body_len < DS_CAPTURE_BATCH) {
        t->done.req_body = malloc((size_t)t->req.body_len);
        if (t->done.req_body) {
            h1req_body(&t->req, base, t->done.req_body);
            t->done.req_len = (size_t)t->req.body_len;
        }
    }
    if (p->up->tls)
        ds_tls_forward(p, t);
    else
        ds_plain_forward(p, t);
}

/* Answers with an injected fault instead of forwarding (t may be closed after). */
static void apply_fault(struct ds_proxy *p, struct ds_tconn *t)
{
    atomic_fetch_add(&p->t_faults[t->fault], 1);
    if (t->fault == DS_FAULT_RESET) {
        struct linger lg = {1, 0}; /* close with RST, as a dropped connection looks */
        setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        t->state = DS_T_REPLY;
        finish_call(p, t, 0, NULL);
        t->close_after = true;
        tconn_close(p, t);
        return;
    }
    uint16_t status = 0;
    const char *code = "";
    size_t before = ds_buf_avail(&t->out);
    if (!ds_fault_reply(p->svc, t->fault, t->is_head, t->close_after, &t->out, &status, &code)) {
        tconn_close(p, t);
        return;
    }
    t->out_bytes += ds_buf_avail(&t->out) - before;
    snprintf(t->done.call.aws_code, sizeof t->done.call.aws_code, "%s", code);
    t->done.call.status = status;
    t->reply_started = t->reply_done = true;
    t->state = DS_T_REPLY;
    ds_tconn_flush(p, t);
}

/* The head is in: name the call, take its attribution, draw its fault. */
static void on_head(struct ds_proxy *p, struct ds_tconn *t)
{
    const char *base = t->in.p + t->in.start;
    struct h1req *r = &t->req;
    struct ds_call *c = &t->done.call;
    if (r->content_length > DS_BODY_MAX) {
        atomic_fetch_add(&p->t_bad, 1);
        t->doomed = true; /* refused before it was a call */
        own_reply(p, t, 413, "Payload Too Large", "loadscope downstream proxy: body over 1 GiB",
                  true);
        return;
    }
    struct ds_req_facts f = {.method = base + r->method.off, .method_len = r->method.len,
                             .target = base + r->target.off, .target_len = r->target.len};
    size_t n;
    f.amz_target = h1req_field(r, base, "x-amz-target", &f.amz_target_len);
    f.copy_source = h1req_field(r, base, "x-amz-copy-source", &n) != NULL;
    ds_op_name(p->svc, &f, c->op);
    t->is_head = r->method.len == 4 && memcmp(f.method, "HEAD", 4) == 0;
    const char *v = h1req_field(r, base, "amz-sdk-request", &n);
    if (v)
        ds_parse_sdk_request(v, n, &c->attempt, &c->max_attempts);
    v = h1req_field(r, base, "amz-sdk-invocation-id", &n);
    if (v) {
        size_t k = n < sizeof c->invocation_id - 1 ? n : sizeof c->invocation_id - 1;
        memcpy(c->invocation_id, v, k);
        c->invocation_id[k] = '\0';
    }
    c->new_conn = t->requests == 0;
    t->requests++;
    ds_attr_take(&p->d->attr, c);
    t->fault = ds_fault_draw(&p->faults, c->op, &c->delay_ns);
    t->close_after = t->close_after || !r->keep_alive;
    if (r->expect_continue && !h1req_complete(r)) {
        if (t->fault == DS_FAULT_THROTTLE || t->fault == DS_FAULT_SERVER_ERROR ||
            t->fault == DS_FAULT_RESET) {
            /* refused before the body: the body will not follow on a known boundary */
            t->close_after = true;
            atomic_fetch_add(&p->t_calls, 1);
            apply_fault(p, t);
            return;
        }
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        t->sent_continue = true;
        if (ds_buf_add(&t->out, cont, sizeof cont - 1))
            t->out_bytes += sizeof cont - 1;
        ds_tconn_flush(p, t);
    }
}

/* The whole request is in. */
static void on_complete(struct ds_proxy *p, struct ds_tconn *t)
{
    atomic_fetch_add(&p->t_calls, 1);
    switch (t->fault) {
    case DS_FAULT_THROTTLE:
    case DS_FAULT_SERVER_ERROR:
    case DS_FAULT_RESET:
        apply_fault(p, t);
        return;
    case DS_FAULT_DELAY:
        atomic_fetch_add(&p->t_faults[DS_FAULT_DELAY], 1);
        t->state = DS_T_DELAY;
        t->wake_ns = ls_now_ns() + t->done.call.delay_ns;
        return;
    default:
        forward(p, t);
    }
}

static void parse_request(struct ds_proxy *p, struct ds_tconn *t)
{
    bool had_head = h1req_head_done(&t->req);
    if (h1req_parse(&t->req, t->in.p + t->in.start, ds_buf_avail(&t->in)) != LS_OK) {
        char msg[240];
        atomic_fetch_add(&p->t_bad, 1);
        snprintf(msg, sizeof msg, "loadscope downstream proxy: bad request: %s", t->req.err);
        ds_event(p->d, "%s proxy: %s", awsconf_service_name(p->svc), msg);
        t->doomed = true; /* not a call: nothing to record */
        own_reply(p, t, 400, "Bad Request", msg, true);
        return;
    }
    if (!had_head && h1req_head_done(&t->req)) {
        on_head(p, t);
        if (t->fd < 0 || t->state != DS_T_READ)
            return;
    }
    if (h1req_complete(&t->req))
        on_complete(p, t);
}

/* ------------------------------------------------------------ the target's connections */

static void tconn_close(struct ds_proxy *p, struct ds_tconn *t)
{
    if (t->fd < 0)
        return;
    if (t->up)
        ds_plain_abandon(p, t);
    if (t->easy)
        ds_tls_abandon(p, t);
    ds_watch(p, t->fd, &t->ev, &t->events, 0);
    close(t->fd);
    t->fd = -1;
    if (t->prev)
        t->prev->next = t->next;
    else
        p->conns = t->next;
    if (t->next)
        t->next->prev = t->prev;
    p->nconns--;
    ds_bury(p, &t->ev);
}

/* A call in progress that cannot end normally (the target left, or the proxy stops). */
static void abort_call(struct ds_proxy *p, struct ds_tconn *t, const char *why)
{
    if (t->state == DS_T_IDLE || t->state == DS_T_READ)
        return; /* no complete request: not a call */
    if (t->up)
        ds_plain_abandon(p, t);
    if (t->easy)
        ds_tls_abandon(p, t);
    finish_call(p, t, 0, why);
}

static void read_target(struct ds_proxy *p, struct ds_tconn *t)
{
    for (;;) {
        if (!ds_buf_reserve(&t->in, 1 << 16, 0)) {
            abort_call(p, t, "out of memory");
            tconn_close(p, t);
            return;
        }
        size_t room = t->in.cap - t->in.len;
        ssize_t n = recv(t->fd, t->in.p + t->in.len, room, 0);
        if (n > 0) {
            if (t->state == DS_T_IDLE) {
                t->state = DS_T_READ;
                t->t0_ns = ls_now_ns();
            }
            t->in.len += (size_t)n;
            if ((size_t)n < room)
                break; /* a short read: the socket is empty for now */
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        t->peer_closed = true;
        break;
    }
    if (t->state == DS_T_READ)
        parse_request(p, t);
    if (t->fd >= 0 && t->peer_closed) {
        abort_call(p, t, "the target closed the connection before the reply was sent");
        tconn_close(p, t);
    }
}

static void accept_all(struct ds_proxy *p)
{
    for (;;) {
        int fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return;
        }
        struct ds_tconn *t = calloc(1, sizeof(*t));
        if (t == NULL) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        t->ev.kind = DS_EV_TARGET;
        t->fd = fd;
        h1req_reset(&t->req);
        t->next = p->conns;
        if (p->conns)
            p->conns->prev = t;
        p->conns = t;
        p->nconns++;
        atomic_fetch_add(&p->t_conns, 1);
        set_events(p, t);
    }
}

/* ------------------------------------------------------------ the loop */

static uint64_t next_wake(struct ds_proxy *p)
{
    uint64_t w = p->up->tls ? ds_tls_deadline(p) : UINT64_MAX;
    for (struct ds_tconn *t = p->conns; t; t = t->next)
        if ((t->state == DS_T_DELAY || t->state == DS_T_UPSTREAM) && t->wake_ns < w)
            w = t->wake_ns;
    if (atomic_load(&p->stopping)) {
        uint64_t s = atomic_load(&p->stop_deadline_ns);
        if (s < w)
            w = s;
    }
    return w;
}

static void timers(struct ds_proxy *p, uint64_t now)
{
    for (struct ds_tconn *t = p->conns, *next; t; t = next) {
        next = t->next;
        if (t->fd < 0 || t->wake_ns == 0 || t->wake_ns > now)
            continue;
        if (t->state == DS_T_DELAY)
            forward(p, t);
        else if (t->state == DS_T_UPSTREAM)
            ds_upstream_failed(p, t, true, "no reply within %llu s",
                               (unsigned long long)(DS_UPSTREAM_TIMEOUT_NS / 1000000000ull));
    }
    if (p->up->tls && ds_tls_deadline(p) <= now)
        ds_tls_timeout(p);
}

/* When stopping: stop listening, close connections between calls; true once none is busy. */
static bool drained(struct ds_proxy *p)
{
    if (p->lfd >= 0) {
        epoll_ctl(p->epfd, EPOLL_CTL_DEL, p->lfd, NULL);
        close(p->lfd);
        p->lfd = -1;
    }
    bool busy = false;
    for (struct ds_tconn *t = p->conns, *next; t; t = next) {
        next = t->next;
        if (t->state == DS_T_IDLE)
            tconn_close(p, t);
        else
            busy = true;
    }
    return !busy;
}

static void *proxy_main(void *arg)
{
    struct ds_proxy *p = arg;
    struct epoll_event evs[64];
    for (;;) {
        uint64_t now = ls_now_ns();
        if (atomic_load(&p->stopping) &&
            (drained(p) || now >= atomic_load(&p->stop_deadline_ns)))
            break;
        uint64_t wake = next_wake(p);
        struct timespec ts = {1, 0};
        if (wake != UINT64_MAX) {
            uint64_t d = wake > now ? wake - now : 0;
            if (d < 1000000000ull)
                ts = (struct timespec){0, (long)d};
        }
        int n = epoll_pwait2(p->epfd, evs, 64, &ts, NULL);
        if (n < 0 && errno != EINTR) {
            ds_event(p->d, "%s proxy: epoll: %s", awsconf_service_name(p->svc), strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            struct ds_ev *ev = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            switch (ev->kind) {
            case DS_EV_LISTEN:
                if (p->lfd >= 0)
                    accept_all(p);
                break;
            case DS_EV_WAKE: {
                uint64_t x;
                if (read(p->wakefd, &x, sizeof x) < 0) { /* nothing to do: it was a wake-up */
                }
                break;
            }
            case DS_EV_TARGET: {
                struct ds_tconn *t = (struct ds_tconn *)ev;
                if (t->fd < 0)
                    break;
                if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                    read_target(p, t);
                if (t->fd >= 0 && (e & EPOLLOUT))
                    ds_tconn_flush(p, t);
                break;
            }
            case DS_EV_UP:
                ds_plain_event(p, ev, e);
                break;
            case DS_EV_CURL:
                ds_tls_socket(p, ev, e);
                break;
            default:
                break;
            }
        }
        timers(p, ls_now_ns());
        empty_grave(p);
    }
    /* Calls still in progress at the deadline are recorded as such. */
    for (struct ds_tconn *t = p->conns, *next; t; t = next) {
        next = t->next;
        abort_call(p, t, "the proxy stopped before the reply");
        tconn_close(p, t);
    }
    ds_plain_close_idle(p);
    empty_grave(p);
    return NULL;
}

/* ------------------------------------------------------------ open / stop */

ls_err ds_proxy_open(struct downstream *d, enum aws_service svc, const struct ds_upstream *up,
                     struct ds_proxy **out, char *err, size_t errcap)
{
    ls_err rc = LS_ERR_IO;
    struct ds_proxy *p = calloc(1, sizeof(*p));
    *out = NULL;
    if (p == NULL)
        return LS_ERR_NOMEM;
    const char *name = awsconf_service_name(svc);
    p->ev_listen.kind = DS_EV_LISTEN;
    p->ev_wake.kind = DS_EV_WAKE;
    p->d = d;
    p->svc = svc;
    p->up = up;
    p->lfd = p->wakefd = -1;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    p->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->epfd < 0 || p->wakefd < 0 || p->lfd < 0) {
        snprintf(err, errcap, "downstream %s proxy: %s", name, strerror(errno));
        goto fail;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(p->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(p->lfd, 1024) != 0 ||
        getsockname(p->lfd, (struct sockaddr *)&a, &al) != 0) {
        snprintf(err, errcap, "downstream %s proxy: listening on 127.0.0.1: %s", name,
                 strerror(errno));
        goto fail;
    }
    p->port = ntohs(a.sin_port);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &p->ev_listen};
    struct epoll_event w = {.events = EPOLLIN, .data.ptr = &p->ev_wake};
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->lfd, &e) != 0 ||
        epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wakefd, &w) != 0) {
        snprintf(err, errcap, "downstream %s proxy: epoll: %s", name, strerror(errno));
        goto fail;
    }
    ds_fault_init(&p->faults, &d->cfg->faults[svc], d->cfg->seed, svc);
    rc = up->tls ? ds_tls_open(p, err, errcap) : ds_plain_open(p, err, errcap);
    if (rc != LS_OK)
        goto fail;
    if (pthread_create(&p->thread, NULL, proxy_main, p) != 0) {
        snprintf(err, errcap, "downstream %s proxy: cannot start its thread", name);
        rc = LS_ERR_INTERNAL;
        goto fail;
    }
    p->started = true;
    *out = p;
    return LS_OK;
fail:
    ds_proxy_close(p);
    return rc;
}

uint16_t ds_proxy_port(const struct ds_proxy *p)
{
    return p->port;
}

void ds_proxy_stop(struct ds_proxy *p, uint64_t deadline_ns)
{
    if (p == NULL || !p->started)
        return;
    atomic_store(&p->stop_deadline_ns, deadline_ns);
    atomic_store(&p->stopping, 1);
    uint64_t one = 1;
    if (write(p->wakefd, &one, sizeof one) < 0) { /* the loop wakes within a second anyway */
    }
    pthread_join(p->thread, NULL);
    p->started = false;
}

void ds_proxy_close(struct ds_proxy *p)
{
    if (p == NULL)
        return;
    ds_proxy_stop(p, 0);
    if (p->up->tls)
        ds_tls_close(p);
    empty_grave(p); /* libcurl let go of its sockets while cleaning up */
    if (p->lfd >= 0)
        close(p->lfd);
    if (p->wakefd >= 0)
        close(p->wakefd);
    if (p->epfd >= 0)
        close(p->epfd);
    free(p->grave);
    free(p);
}

void ds_proxy_tally(const struct ds_proxy *p, struct ds_tally *out)
{
    struct ds_proxy *q = (struct ds_proxy *)(uintptr_t)p; /* atomics are read, not changed */
    out->calls = atomic_load(&q->t_calls);
    out->forwarded = atomic_load(&q->t_forwarded);
    out->connections = atomic_load(&q->t_conns);
    out->upstream_errors = atomic_load(&q->t_up_errors);
    out->bad_requests = atomic_load(&q->t_bad);
    for (int i = 0; i < DS_FAULT__COUNT; i++)
        out->faults[i] = atomic_load(&q->t_faults[i]);
}
