/*
 * engine_stdio: MCP over a target's stdin/stdout, on the worker's epoll.
 *
 * Messages are newline-delimited JSON. Requests from every VU sharing a
 * process are written back to back (a VU never waits for another's reply);
 * replies are matched to their VU by id through the pending table, in
 * whatever order they come. Notifications from the server are counted;
 * requests from the server (ping, roots/list, ...) are answered at once so
 * the server never stalls waiting for us.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "engine/engine_int.h"

#define STDIO_READ_CHUNK 65536

static ls_err conn_watch(struct stdio_conn *c, int fd, uint64_t tag, uint32_t events, int op)
{
    struct epoll_event ev = {0};
    ev.events = events;
    ev.data.u64 = (tag << EV_TAG_SHIFT) | c->index;
    return epoll_ctl(c->w->epfd, op, fd, &ev) == 0 ? LS_OK : LS_ERR_IO;
}

ls_err stdio_conn_open(struct worker *w, struct stdio_conn *c, char *err, size_t errcap)
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
    if (conn_watch(c, c->out_fd, EV_STDOUT, EPOLLIN, EPOLL_CTL_ADD) != LS_OK) {
        snprintf(err, errcap, "epoll_ctl: %s", strerror(errno));
        return LS_ERR_IO;
    }
    pthread_mutex_lock(&e->procs_lock);
    struct ls_proc **np = realloc(e->procs, (e->nprocs + 1) * sizeof(*np));
    if (np) {
        e->procs = np;
        e->procs[e->nprocs++] = c->proc;
    }
    pthread_mutex_unlock(&e->procs_lock);
    return np ? LS_OK : LS_ERR_NOMEM;
}

void stdio_conn_free(struct stdio_conn *c)
{
    if (c->proc) {
        struct engine *e = c->w->e;
        pthread_mutex_lock(&e->procs_lock);
        for (size_t i = 0; i < e->nprocs; i++) {
            if (e->procs[i] == c->proc)
                e->procs[i] = NULL;
        }
        pthread_mutex_unlock(&e->procs_lock);
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
            if (!c->want_out && conn_watch(c, c->in_fd, EV_STDIN, EPOLLOUT, EPOLL_CTL_ADD) == LS_OK)
                c->want_out = true;
            return;
        }
        char why[128];
        snprintf(why, sizeof(why), "writing to the target's stdin failed: %s",
                 n < 0 ? strerror(errno) : "nothing written");
        stdio_conn_died(c, why);
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

void stdio_send(struct vu *v)
{
    struct stdio_conn *c = v->conn;
    struct worker *w = v->w;
    memset(&v->res, 0, sizeof(v->res));
    if (c->dead) {
        vu_fail_now(v, LS_EC_TARGET_EXIT, "the target process has exited");
        return;
    }
    bool notify = v->phase == VU_NOTIFY;
    v->rpc_id = notify ? -1 : c->next_id++;
    long n = eng_build_request(v, v->rpc_id, v->req, v->req_cap);
    if (n < 0) {
        vu_fail_now(v, LS_EC_OTHER, "request larger than its buffer");
        return;
    }
    v->req_len = (size_t)n;
    if (!notify) {
        ls_err rc = jsonrpc_pending_put(c->pending, v->rpc_id, (uint64_t)(v - w->vus));
        if (rc != LS_OK) {
            vu_fail_now(v, LS_EC_SEND, "too many requests pending on this process");
            return;
        }
        v->in_flight = true;
        v->deadline_ns = eng_now(w->e) + w->e->s->timeout_ns;
        atomic_fetch_add_explicit(&w->in_flight, 1, memory_order_relaxed);
    }
    if (!queue_line(c, v->req, v->req_len)) {
        if (!notify) {
            uint64_t cookie;
            jsonrpc_pending_take(c->pending, v->rpc_id, &cookie);
            v->in_flight = false;
            atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
        }
        vu_fail_now(v, LS_EC_SEND, "out of memory queueing the request");
        return;
    }
    if (notify) {
        /* A notification has no reply: the handshake is complete once it is written. */
        struct xfer_result r = {.bytes_out = (uint32_t)v->req_len + 1};
        vu_on_reply(v, &r);
    }
}

static void answer_server_request(struct stdio_conn *c, const struct jsonrpc_msg *m)
{
    char line[512];
    int n;
    const char *result = NULL;
    if (m->method.len == 4 && memcmp(m->method.p, "ping", 4) == 0)
        result = "{}";
    else if (m->method.len == 10 && memcmp(m->method.p, "roots/list", 10) == 0)
        result = "{\"roots\":[]}";
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
        if (++w->events_by_class[LS_EC_PROTOCOL] <= 5)
            eng_event(w->e, "protocol", "target wrote a line that is not JSON-RPC: %.120s",
                      line);
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
        if (++w->events_by_class[LS_EC_OTHER] <= 5)
            eng_event(w->e, "stray_reply", "reply to id %.*s matches no pending request",
                      (int)(m.id.len > 40 ? 40 : m.id.len), m.id.p ? m.id.p : "?");
        return;
    }
    struct vu *v = &w->vus[cookie];
    v->in_flight = false;
    atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
    struct xfer_result r = {.bytes_out = (uint32_t)v->req_len + 1, .bytes_in = (uint32_t)len + 1};
    r.ttfb_us = (uint32_t)((eng_now(w->e) - v->start_ns) / 1000);
    eng_classify(v, &m, &r);
    vu_on_reply(v, &r);
}

void stdio_on_readable(struct stdio_conn *c)
{
    if (c->dead)
        return;
    for (;;) {
        if (c->rcap - c->rlen < STDIO_READ_CHUNK) {
            char *n = realloc(c->rbuf, c->rcap * 2);
            if (!n) {
                stdio_conn_died(c, "out of memory reading the target's output");
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
            stdio_conn_died(c, n == 0 ? "the target closed its stdout" : strerror(errno));
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

void stdio_on_writable(struct stdio_conn *c)
{
    if (!c->dead)
        flush_out(c);
}

static void fail_pending(void *ctx, int64_t id, uint64_t cookie)
{
    struct stdio_conn *c = ctx;
    struct vu *v = &c->w->vus[cookie];
    (void)id;
    v->in_flight = false;
    atomic_fetch_sub_explicit(&c->w->in_flight, 1, memory_order_relaxed);
    vu_fail_now(v, LS_EC_TARGET_EXIT, "the target process exited with the request in flight");
}

void stdio_conn_died(struct stdio_conn *c, const char *why)
{
    struct engine *e = c->w->e;
    if (c->dead)
        return;
    c->dead = true;
    epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->out_fd, NULL);
    if (c->want_out) {
        epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->in_fd, NULL);
        c->want_out = false;
    }
    eng_event(e, "target_exit", "stdio target pid %d: %s", (int)proc_pid(c->proc), why);
    atomic_store(&e->target_died, true);
    atomic_store(&e->stop, true);
    /* The run is over for this worker: no VU may start anything new. */
    c->w->stopping = true;
    c->w->free_list = NULL;
    jsonrpc_pending_drain(c->pending, fail_pending, c);
    /* VUs waiting on the handshake can never get one now. */
    struct vu *list = c->waiters;
    c->waiters = NULL;
    for (; list; list = list->next_waiter)
        list->phase = VU_DONE;
}

void stdio_scan_timeouts(struct worker *w, uint64_t now)
{
    for (uint32_t i = 0; i < w->nvu; i++) {
        struct vu *v = &w->vus[i];
        if (!v->in_flight || now < v->deadline_ns || !v->conn)
            continue;
        uint64_t cookie;
        if (!jsonrpc_pending_take(v->conn->pending, v->rpc_id, &cookie))
            continue;
        v->in_flight = false;
        atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
        char why[96];
        snprintf(why, sizeof(why), "no reply to id %lld within %.1f s", (long long)v->rpc_id,
                 (double)w->e->s->timeout_ns / 1e9);
        vu_fail_now(v, LS_EC_TIMEOUT, why);
    }
}
