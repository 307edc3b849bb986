/*
 * engine_stdio: the "stdio" transport, MCP over a target's stdin/stdout on
 * the worker's epoll.
 *
 * Messages are newline-delimited JSON. Each worker launches one process
 * ("processes": "shared", whose VUs share its one MCP session: struct
 * vu_share) or one per VU. Requests from every VU sharing a process are
 * written back to back (a VU never waits for another's reply); replies are
 * matched to their VU by id through the pending table, in whatever order
 * they come. Notifications from the server are counted; requests from the
 * server (ping, roots/list, ...) are answered at once from a small table so
 * the server never stalls waiting for us. A process that dies ends the run
 * (eng_hooks.target_lost).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "engine/transport.h"

#define STDIO_READ_CHUNK 65536
#define STDIO_SCAN_NS (100 * 1000000ull) /* how often requests are checked for their timeout */
#define STDIO_LOGGED 5                    /* protocol problems logged per worker */

struct stdio_conn {
    struct worker *w;
    uint32_t index;
    struct ls_proc *proc;
    int in_fd, out_fd;
    char *wbuf;               /* a queue with a read offset, emptied as the pipe takes it */
    size_t wlen, woff, wcap;
    bool want_out;            /* EPOLLOUT registered */
    char *rbuf;               /* lines read, up to the last complete one */
    size_t rlen, rcap;
    struct jsonrpc_pending *pending;
    int64_t next_id;
    bool dead;
    struct vu_share share;    /* the process's MCP session, shared by its VUs */
    uint64_t notifications, server_requests;
};

/* A VU's stdio state. */
struct stdio_vu {
    struct stdio_conn *conn;
    uint64_t deadline_ns;     /* when the request in flight times out */
};

struct stdio_worker {
    uint64_t tag;             /* epoll tag: low bits (conn index << 1) | is_stdin */
    struct stdio_conn *conns;
    uint32_t nconn;
    struct stdio_vu *vus;
    uint64_t last_scan_ns;
};

static struct stdio_worker *sw_of(const struct worker *w)
{
    return w->tp[TP_MCP];
}

static struct stdio_vu *sv_of(const struct vu *v)
{
    return v->tp[TP_MCP];
}

static void conn_died(struct stdio_conn *c, const char *why);

static ls_err conn_watch(struct stdio_conn *c, int fd, bool is_stdin, uint32_t events, int op)
{
    struct epoll_event ev = {0};
    ev.events = events;
    ev.data.u64 = sw_of(c->w)->tag | ((uint64_t)c->index << 1) | (is_stdin ? 1u : 0u);
    return epoll_ctl(c->w->epfd, op, fd, &ev) == 0 ? LS_OK : LS_ERR_IO;
}

/* ------------------------------------------------------------ set-up */

static bool stdio_wanted(const struct scenario *s)
{
    return s->transport == SCN_STDIO;
}

static ls_err conn_open(struct worker *w, struct stdio_conn *c, char *err, size_t errcap)
{
    struct engine *e = w->e;
    const struct scenario *s = e->s;
    c->w = w;
    c->in_fd = c->out_fd = -1;
    c->next_id = 1;
    struct ls_proc_opts po = {.argv = s->command, .env = s->env, .env_count = s->env_count,
                              .cwd = s->cwd ? s->cwd : e->o.base_dir, .pipe_stdio = true,
                              .inject = e->o.inject};
    ls_err rc = proc_spawn(&po, &c->proc, err, errcap);
    if (rc != LS_OK)
        return rc;
    c->in_fd = proc_stdin_fd(c->proc);
    c->out_fd = proc_stdout_fd(c->proc);
    uint32_t cap = (s->processes == SCN_PROCS_SHARED ? w->nvu : 1) * 2 + 16;
    rc = jsonrpc_pending_open(cap, &c->pending);
    if (rc != LS_OK)
        return rc;
    c->rcap = STDIO_READ_CHUNK * 2;
    c->rbuf = malloc(c->rcap);
    c->wcap = 65536;
    c->wbuf = malloc(c->wcap);
    if (!c->rbuf || !c->wbuf)
        return LS_ERR_NOMEM;
    if (conn_watch(c, c->out_fd, false, EPOLLIN, EPOLL_CTL_ADD) != LS_OK) {
        snprintf(err, errcap, "epoll_ctl: %s", strerror(errno));
        return LS_ERR_IO;
    }
    return e->hooks->target_started(e, c->proc);
}

static void conn_free(struct stdio_conn *c)
{
    if (c->proc) {
        c->w->e->hooks->target_stopping(c->w->e, c->proc);
        /* Closing stdin is how an MCP stdio server is told to end. */
        proc_stop(c->proc, 2000000000ull);
        proc_free(c->proc);
        c->proc = NULL;
    }
    jsonrpc_pending_close(c->pending);
    c->pending = NULL;
    free(c->rbuf);
    free(c->wbuf);
    c->rbuf = c->wbuf = NULL;
}

static void stdio_on_event(struct worker *w, uint64_t val, uint32_t events);

static ls_err stdio_worker_open(struct worker *w, char *err, size_t errcap)
{
    const struct scenario *s = w->e->s;
    struct stdio_worker *sw = calloc(1, sizeof(*sw));
    if (!sw)
        return LS_ERR_NOMEM;
    w->tp[TP_MCP] = sw;
    sw->tag = eng_ev_tag(w, stdio_on_event);
    sw->nconn = s->processes == SCN_PROCS_SHARED ? 1 : w->nvu;
    sw->conns = calloc(sw->nconn ? sw->nconn : 1, sizeof(struct stdio_conn));
    sw->vus = calloc(w->nvu ? w->nvu : 1, sizeof(struct stdio_vu));
    if (!sw->conns || !sw->vus) {
        sw->nconn = 0;
        return LS_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < sw->nconn; i++) {
        sw->conns[i].index = i;
        ls_err rc = conn_open(w, &sw->conns[i], err, errcap);
        if (rc != LS_OK)
            return rc;
    }
    return LS_OK;
}

static ls_err stdio_vu_open(struct vu *v, char *err, size_t errcap)
{
    struct worker *w = v->w;
    struct stdio_worker *sw = sw_of(w);
    uint32_t i = (uint32_t)(v - w->vus);
    (void)err;
    (void)errcap;
    sw->vus[i].conn = &sw->conns[w->e->s->processes == SCN_PROCS_SHARED ? 0 : i];
    v->tp[TP_MCP] = &sw->vus[i];
    return LS_OK;
}

static void stdio_worker_close(struct worker *w)
{
    struct stdio_worker *sw = sw_of(w);
    if (!sw)
        return;
    for (uint32_t i = 0; i < sw->nconn; i++)
        if (sw->conns[i].w)
            conn_free(&sw->conns[i]);
    for (uint32_t i = 0; i < w->nvu; i++)
        w->vus[i].tp[TP_MCP] = NULL;
    free(sw->conns);
    free(sw->vus);
    free(sw);
    w->tp[TP_MCP] = NULL;
}

static struct vu_share *stdio_share(struct vu *v)
{
    return &sv_of(v)->conn->share;
}

/* ------------------------------------------------------------ writing */

/* Writes what is queued; registers for EPOLLOUT while the pipe is full. */
static void flush_out(struct stdio_conn *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = write(c->in_fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (n > 0) {
            c->woff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out && conn_watch(c, c->in_fd, true, EPOLLOUT, EPOLL_CTL_ADD) == LS_OK)
                c->want_out = true;
            return;
        }
        char why[128];
        snprintf(why, sizeof(why), "writing to the target's stdin failed: %s",
                 n < 0 ? strerror(errno) : "nothing written");
        conn_died(c, why);
        return;
    }
    c->woff = c->wlen = 0;
    if (c->want_out) {
        epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->in_fd, NULL);
        c->want_out = false;
    }
}

/* Queues one line (len bytes plus "\n"); false only when memory runs out. */
static bool queue_line(struct stdio_conn *c, const char *line, size_t len)
{
    if (c->woff > 0 && c->woff == c->wlen)
        c->woff = c->wlen = 0;
    if (c->wlen + len + 1 > c->wcap) {
        if (c->woff > 0) {
            memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
            c->wlen -= c->woff;
            c->woff = 0;
        }
        size_t cap = c->wcap;
        while (c->wlen + len + 1 > cap)
            cap *= 2;
        if (cap != c->wcap) {
            char *n = realloc(c->wbuf, cap);
            if (!n)
                return false;
            c->wbuf = n;
            c->wcap = cap;
        }
    }
    memcpy(c->wbuf + c->wlen, line, len);
    c->wbuf[c->wlen + len] = '\n';
    c->wlen += len + 1;
    if (!c->want_out)
        flush_out(c);
    return true;
}

static void stdio_send(struct vu *v)
{
    struct stdio_vu *sv = sv_of(v);
    struct stdio_conn *c = sv->conn;
    struct worker *w = v->w;
    if (c->dead) {
        tp_fail_now(v, LS_EC_TARGET_EXIT, "the target process has exited");
        return;
    }
    bool notify = v->phase == VU_NOTIFY;
    v->rpc_id = notify ? -1 : c->next_id++;
    long n = w->e->hooks->build_request(v, v->rpc_id, v->req, v->req_cap);
    if (n < 0) {
        tp_fail_now(v, LS_EC_OTHER, "request larger than its buffer");
        return;
    }
    v->req_len = (size_t)n;
    if (!notify) {
        ls_err rc = jsonrpc_pending_put(c->pending, v->rpc_id, (uint64_t)(v - w->vus));
        if (rc != LS_OK) {
            tp_fail_now(v, LS_EC_SEND, "too many requests pending on this process");
            return;
        }
        v->in_flight = true;
        sv->deadline_ns = eng_now(w->e) + w->e->s->timeout_ns;
        atomic_fetch_add_explicit(&w->in_flight, 1, memory_order_relaxed);
    }
    if (!queue_line(c, v->req, v->req_len)) {
        if (!notify) {
            uint64_t cookie;
            jsonrpc_pending_take(c->pending, v->rpc_id, &cookie);
            v->in_flight = false;
            atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
        }
        tp_fail_now(v, LS_EC_SEND, "out of memory queueing the request");
        return;
    }
    if (notify) {
        /* A notification has no reply: the handshake is complete once it is written. */
        struct xfer_result r = {.bytes_out = (uint32_t)v->req_len + 1};
        tp_reply(v, &r);
    }
}

/* ------------------------------------------------------------ reading */

/* What loadscope answers the server's own requests: one row each; the rest get -32601. */
static const struct {
    const char *method;
    const char *result;
} server_requests[] = {
    {"ping", "{}"},
    {"roots/list", "{\"roots\":[]}"},
};

static void answer_server_request(struct stdio_conn *c, const struct jsonrpc_msg *m)
{
    char line[512];
    int n;
    const char *result = NULL;
    for (size_t i = 0; i < sizeof(server_requests) / sizeof(server_requests[0]) && !result; i++) {
        size_t len = strlen(server_requests[i].method);
        if (m->method.len == len && memcmp(m->method.p, server_requests[i].method, len) == 0)
            result = server_requests[i].result;
    }
    if (m->id.len > 200)
        return;
    if (result)
        n = snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%.*s,\"result\":%s}",
                     (int)m->id.len, m->id.p, result);
    else
        n = snprintf(line, sizeof(line),
                     "{\"jsonrpc\":\"2.0\",\"id\":%.*s,\"error\":{\"code\":-32601,\"message\":"
                     "\"loadscope does not offer this method\"}}",
                     (int)m->id.len, m->id.p);
    if (n > 0 && (size_t)n < sizeof(line))
        queue_line(c, line, (size_t)n);
}

static void handle_line(struct stdio_conn *c, const char *line, size_t len)
{
    struct worker *w = c->w;
    struct jsonrpc_msg m;
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (len == 0)
        return;
    if (jsonrpc_scan(line, len, &m) != LS_OK || m.kind == JSONRPC_INVALID) {
        if (++w->events_by_class[LS_EC_PROTOCOL] <= STDIO_LOGGED)
            tp_event(w->e, "protocol", "target wrote a line that is not JSON-RPC: %.120s", line);
        return;
    }
    switch (m.kind) {
    case JSONRPC_NOTIFICATION:
        c->notifications++;
        return;
    case JSONRPC_REQUEST:
        c->server_requests++;
        answer_server_request(c, &m);
        return;
    default:
        break;
    }
    uint64_t cookie;
    if (!m.id_is_int || !jsonrpc_pending_take(c->pending, m.id_int, &cookie)) {
        /* A reply after its request timed out, or to an id we never sent. */
        if (++w->events_by_class[LS_EC_OTHER] <= STDIO_LOGGED)
            tp_event(w->e, "stray_reply", "reply to id %.*s matches no pending request",
                     (int)(m.id.len > 40 ? 40 : m.id.len), m.id.p ? m.id.p : "?");
        return;
    }
    struct vu *v = &w->vus[cookie];
    v->in_flight = false;
    atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
    struct xfer_result r = {.bytes_out = (uint32_t)v->req_len + 1, .bytes_in = (uint32_t)len + 1};
    r.ttfb_us = (uint32_t)((eng_now(w->e) - v->start_ns) / 1000);
    w->e->hooks->classify(v, &m, &r);
    tp_reply(v, &r);
}

static void on_readable(struct stdio_conn *c)
{
    if (c->dead)
        return;
    for (;;) {
        if (c->rcap - c->rlen < STDIO_READ_CHUNK) {
            char *n = realloc(c->rbuf, c->rcap * 2);
            if (!n) {
                conn_died(c, "out of memory reading the target's output");
                return;
            }
            c->rbuf = n;
            c->rcap *= 2;
        }
        ssize_t n = read(c->out_fd, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            conn_died(c, n == 0 ? "the target closed its stdout" : strerror(errno));
            return;
        }
        size_t start = 0;
        size_t scan_from = c->rlen;
        c->rlen += (size_t)n;
        for (size_t i = scan_from; i < c->rlen; i++) {
            if (c->rbuf[i] == '\n') {
                handle_line(c, c->rbuf + start, i - start);
                if (c->dead)
                    return;
                start = i + 1;
            }
        }
        if (start > 0) {
            memmove(c->rbuf, c->rbuf + start, c->rlen - start);
            c->rlen -= start;
        }
    }
}

static void stdio_on_event(struct worker *w, uint64_t val, uint32_t events)
{
    struct stdio_conn *c = &sw_of(w)->conns[val >> 1];
    (void)events;
    if (val & 1) {
        if (!c->dead)
            flush_out(c);
    } else {
        on_readable(c);
    }
}

/* ------------------------------------------------------------ endings */

static void fail_pending(void *ctx, int64_t id, uint64_t cookie)
{
    struct stdio_conn *c = ctx;
    struct vu *v = &c->w->vus[cookie];
    (void)id;
    v->in_flight = false;
    atomic_fetch_sub_explicit(&c->w->in_flight, 1, memory_order_relaxed);
    tp_fail_now(v, LS_EC_TARGET_EXIT, "the target process exited with the request in flight");
}

static void conn_died(struct stdio_conn *c, const char *why)
{
    struct worker *w = c->w;
    if (c->dead)
        return;
    c->dead = true;
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->out_fd, NULL);
    if (c->want_out) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->in_fd, NULL);
        c->want_out = false;
    }
    char msg[600];
    snprintf(msg, sizeof(msg), "stdio target pid %d: %s", (int)proc_pid(c->proc), why);
    /* The run stops; VUs waiting on this process's handshake end. */
    w->e->hooks->target_lost(w, &c->share, msg);
    jsonrpc_pending_drain(c->pending, fail_pending, c);
}

static void stdio_tick(struct worker *w, uint64_t now)
{
    struct stdio_worker *sw = sw_of(w);
    if (!sw->nconn || now < sw->last_scan_ns + STDIO_SCAN_NS)
        return;
    sw->last_scan_ns = now;
    for (uint32_t i = 0; i < w->nvu; i++) {
        struct vu *v = &w->vus[i];
        struct stdio_vu *sv = sv_of(v);
        if (!v->in_flight || !sv || now < sv->deadline_ns || !sv->conn)
            continue;
        uint64_t cookie;
        if (!jsonrpc_pending_take(sv->conn->pending, v->rpc_id, &cookie))
            continue;
        v->in_flight = false;
        atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
        char why[96];
        snprintf(why, sizeof(why), "no reply to id %lld within %.1f s", (long long)v->rpc_id,
                 (double)w->e->s->timeout_ns / 1e9);
        tp_fail_now(v, LS_EC_TIMEOUT, why);
    }
}

const struct transport_ops tp_stdio = {
    .name = "stdio",
    .slot = TP_MCP,
    .wanted = stdio_wanted,
    .worker_open = stdio_worker_open,
    .vu_open = stdio_vu_open,
    .send = stdio_send,
    .on_event = stdio_on_event,
    .tick = stdio_tick,
    .worker_close = stdio_worker_close,
    .share = stdio_share,
};
