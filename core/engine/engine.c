/*
 * engine: run control, the worker loop and the virtual users' state machine.
 *
 * Each worker thread owns an epoll set watching its libcurl sockets and its
 * stdio targets' pipes, its virtual users and a sample ring. A virtual user
 * (VU) runs the MCP handshake when it needs a session, then calls the
 * scenario's steps: back to back in the closed-loop model, or when the
 * open-loop schedule hands it a send time. Latency is measured both from that
 * intended time (corrected for coordinated omission, as wrk2 does) and from
 * the actual send. The per-request path formats into buffers sized once,
 * pushes a fixed-size sample into a lock-free ring and takes no lock.
 */
#include "engine/engine.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine_int.h"
#include "util/url.h"
#include "scenario/mcp_methods.h"

_Atomic int ls_stop_requested;

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
#define LATE_NS (1 * NS_PER_MS)      /* a send this far behind schedule is late */
#define HEARTBEAT_NS (50 * NS_PER_MS) /* longest sleep: keeps the collector's clock moving */
#define EVENTS_PER_CLASS 5           /* error messages logged per class and worker */

static const char *const supported_revisions[] = {"2025-11-25", "2025-06-18", "2025-03-26"};

/* ---------------------------------------------------------------- events */

void eng_event(struct engine *e, const char *kind, const char *fmt, ...)
{
    if (!e->cb.event)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    e->cb.event(e->cb.ctx, eng_now(e), kind, msg);
}

/* ------------------------------------------------------------- requests */

static bool is_churn(const struct engine *e)
{
    return e->s->session == SCN_SESSION_PER_ITERATION;
}

static bool open_model(const struct engine *e)
{
    return e->s->model == SCN_OPEN;
}

/* Writes v in decimal at p (no terminator); returns the length (at most 20). */
static int fmt_i64(char *p, int64_t v)
{
    char tmp[24];
    int n = 0, len = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        p[len++] = '-';
    while (n)
        p[len++] = tmp[--n];
    return len;
}

long eng_build_request(struct vu *v, int64_t id, char *buf, size_t cap)
{
    struct engine *e = v->w->e;
    const struct scenario *s = e->s;
    int n;
    switch (v->phase) {
    case VU_INIT:
        n = snprintf(buf, cap,
                     "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"initialize\",\"params\":"
                     "{\"protocolVersion\":\"%s\",\"capabilities\":{},\"clientInfo\":"
                     "{\"name\":\"%s\",\"version\":\"%s\"}}}",
                     (long long)id, s->protocol_version, s->client_name, LOADSCOPE_VERSION);
        return n < 0 || (size_t)n >= cap ? -1 : n;
    case VU_NOTIFY:
        n = snprintf(buf, cap, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
        return n < 0 || (size_t)n >= cap ? -1 : n;
    case VU_CALL: {
        const struct scn_step *st = &s->steps[v->step];
        if (!st->params)
            return jsonrpc_format_request(buf, cap, id, st->method_name, NULL, 0);
        /* The hot path: plain copies instead of snprintf (it showed in profiles). */
        static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":";
        size_t mlen = strlen(st->method_name);
        if (cap < sizeof(head) + 21 + mlen + 24)
            return -1;
        memcpy(buf, head, sizeof(head) - 1);
        n = (int)(sizeof(head) - 1);
        n += fmt_i64(buf + n, id);
        memcpy(buf + n, ",\"method\":\"", 11);
        n += 11;
        memcpy(buf + n, st->method_name, mlen);
        n += (int)mlen;
        memcpy(buf + n, "\",\"params\":", 11);
        n += 11;
        struct tmpl_vars vars = {
            .seq = (uint64_t)v->seq * e->nworkers + v->w->index,
            .worker = v->id,
            .rng = &v->w->rng,
        };
        long m = tmpl_render(st->params, &vars, buf + n, cap - (size_t)n);
        if (m < 0 || (size_t)n + (size_t)m + 2 > cap)
            return -1;
        buf[n + m] = '}';
        buf[n + m + 1] = '\0';
        return n + m + 1;
    }
    default:
        return -1;
    }
}

enum ls_errclass eng_classify(struct vu *v, const struct jsonrpc_msg *m, struct xfer_result *r)
{
    if (m->kind == JSONRPC_ERROR) {
        r->rpc_code = (int32_t)m->error_code;
        snprintf(r->detail, sizeof(r->detail), "JSON-RPC error %lld: %.*s",
                 (long long)m->error_code, (int)(m->error_message.len > 150 ? 150 : m->error_message.len),
                 m->error_message.p ? m->error_message.p : "");
        return r->err = LS_EC_RPC;
    }
    if (m->kind != JSONRPC_RESPONSE) {
        snprintf(r->detail, sizeof(r->detail), "reply is not a JSON-RPC response");
        return r->err = LS_EC_PROTOCOL;
    }
    if (v->phase == VU_INIT) {
        struct json_span pv;
        if (!json_find_member(m->result, "protocolVersion", &pv) || pv.len < 2 || pv.p[0] != '"') {
            snprintf(r->detail, sizeof(r->detail), "initialize result has no protocolVersion");
            return r->err = LS_EC_PROTOCOL;
        }
        for (size_t i = 0; i < sizeof(supported_revisions) / sizeof(*supported_revisions); i++) {
            const char *rev = supported_revisions[i];
            if (pv.len - 2 == strlen(rev) && memcmp(pv.p + 1, rev, pv.len - 2) == 0) {
                snprintf(v->proto, sizeof(v->proto), "%s", rev);
                return r->err = LS_EC_OK;
            }
        }
        snprintf(r->detail, sizeof(r->detail), "server chose protocol revision %.*s, which loadscope does not speak",
                 (int)(pv.len > 40 ? 40 : pv.len), pv.p);
        return r->err = LS_EC_PROTOCOL;
    }
    if (v->phase == VU_CALL) {
        const struct scn_step *st = &v->w->e->s->steps[v->step];
        if (st->mcp && st->mcp->result_failed &&
            st->mcp->result_failed(st, m->result, r->detail, sizeof(r->detail)))
            return r->err = LS_EC_TOOL;
    }
    return r->err = LS_EC_OK;
}

/* ------------------------------------------------------------- samples */

static void push_sample(struct worker *w, const struct ls_sample *s)
{
    /* The collector drains every 10 ms; a full ring means it fell behind: wait, never drop. */
    while (!ls_ring_push(&w->ring, s)) {
        w->ring_full_waits++;
        sched_yield();
    }
}

static void log_error(struct vu *v, const struct xfer_result *r, const char *what)
{
    struct worker *w = v->w;
    /* Lost sessions have an event of their own (vu_on_reply). */
    if (r->err == LS_EC_OK || r->err >= LS_EC__COUNT || r->err == LS_EC_SESSION_LOST)
        return;
    uint32_t n = ++w->events_by_class[r->err];
    if (n <= EVENTS_PER_CLASS)
        eng_event(w->e, ls_errclass_name((enum ls_errclass)r->err), "%s (vu %u, %s%s)",
                  r->detail[0] ? r->detail : ls_errclass_name((enum ls_errclass)r->err), v->id, what,
                  n == EVENTS_PER_CLASS ? "; further errors of this class on this worker are counted, not logged" : "");
}

/* The MCP hooks (engine_opts.mcp_hooks): a request of step enters or leaves the target. */
static void mcp_hook(const struct engine *e, int step, bool begin)
{
    const struct engine_mcp_hooks *h = e->o.mcp_hooks;
    if (!h)
        return;
    if ((size_t)step < e->s->step_count && e->s->steps[step].aws)
        return;
    if (begin && h->begin)
        h->begin(h->ctx, step);
    else if (!begin && h->end)
        h->end(h->ctx, step);
}

static void record(struct vu *v, uint16_t step, uint64_t intended, uint64_t start,
                   const struct xfer_result *r, uint32_t extra_in, uint32_t extra_out)
{
    struct worker *w = v->w;
    mcp_hook(w->e, step, false);
    struct ls_sample s = {
        .intended_ns = intended,
        .start_ns = start,
        .end_ns = eng_now(w->e),
        .dns_us = r->dns_us,
        .connect_us = r->connect_us,
        .tls_us = r->tls_us,
        .ttfb_us = r->ttfb_us,
        .bytes_out = r->bytes_out + extra_out,
        .bytes_in = r->bytes_in + extra_in,
        .vu = v->id,
        .step = step,
        .worker = w->index,
        .status = r->status,
        .err = (uint8_t)r->err,
        .flags = (uint8_t)((r->new_conn ? LS_SF_NEW_CONN : 0) |
                           (intended < w->e->s->warmup_ns ? LS_SF_WARMUP : 0) |
                           (start > intended + LATE_NS ? LS_SF_LATE : 0)),
        .seq = v->seq,
        .rpc_code = r->rpc_code,
        .attempts = r->attempts,
        .followups = r->followups,
        .aws_code = r->aws_code,
        .retries = r->retries,
        .backoff_us = r->backoff_us,
        .last_try_us = r->last_try_us,
    };
    if (s.end_ns < s.start_ns)
        s.end_ns = s.start_ns;
    push_sample(w, &s);
}

/* ------------------------------------------------------ the VU machine */

static void vu_send(struct vu *v)
{
    if (v->w->e->s->transport == SCN_HTTP)
        http_send(v);
    else
        stdio_send(v);
}

static void start_handshake(struct vu *v)
{
    uint64_t now = eng_now(v->w->e);
    v->init_start_ns = now;
    if (!v->pending_call)
        v->intended_ns = now;
    v->phase = VU_INIT;
    v->session_id[0] = '\0';
    v->proto[0] = '\0';
    mcp_hook(v->w->e, (int)v->w->e->s->step_count, true);
    vu_send(v);
}

static void start_call(struct vu *v)
{
    struct worker *w = v->w;
    const struct scenario *s = w->e->s;
    /* Weighted pick of the step. */
    uint32_t pick = (uint32_t)tmpl_rng_range(&w->rng, 0, (int64_t)s->weight_total - 1);
    uint16_t step = 0;
    for (size_t i = 0; i < s->step_count; i++) {
        if (pick < s->steps[i].weight) {
            step = (uint16_t)i;
            break;
        }
        pick -= s->steps[i].weight;
    }
    v->step = step;
    v->seq = w->seq++;
    v->phase = VU_CALL;
    v->start_ns = eng_now(w->e);
    /* Closed loop: a VU sends when it is ready, so intended and actual coincide. */
    if (!open_model(w->e) || !v->pending_call)
        v->intended_ns = v->start_ns;
    v->pending_call = false;
    if (s->steps[step].aws) {
        aws_start(v);
    } else {
        mcp_hook(w->e, step, true);
        vu_send(v);
    }
}

/* A VU with nothing in flight decides what it does next. */
static void vu_next(struct vu *v)
{
    struct worker *w = v->w;
    struct engine *e = w->e;
    if (w->stopping) {
        if (e->s->transport == SCN_HTTP && v->has_session && v->session_id[0] &&
            !atomic_load(&e->abort_now)) {
            v->phase = VU_DELETE;
            http_send(v);
            return;
        }
        v->phase = VU_DONE;
        return;
    }
    if (v->phase == VU_NEED_INIT && open_model(e) && !v->pending_call) {
        v->next_free = w->free_list;
        w->free_list = v;
        return;
    }
    if (v->phase == VU_NEED_INIT) {
        struct stdio_conn *c = v->conn;
        if (c && !is_churn(e)) {
            if (c->ready) {
                v->phase = VU_READY;
            } else if (c->initializing) {
                v->phase = VU_WAIT_CONN;
                v->next_waiter = c->waiters;
                c->waiters = v;
                return;
            } else {
                c->initializing = true;
                start_handshake(v);
                return;
            }
        } else {
            start_handshake(v);
            return;
        }
    }
    if (v->phase == VU_READY) {
        if (open_model(e) && !v->pending_call) {
            v->next_free = w->free_list;
            w->free_list = v;
        } else {
            start_call(v);
        }
    }
}

/* The handshake finished (well or not): wake the VUs waiting on this stdio process. */
static void release_waiters(struct stdio_conn *c, bool ok)
{
    if (!c)
        return;
    c->initializing = false;
    if (ok)
        c->ready = true;
    struct vu *list = c->waiters;
    c->waiters = NULL;
    while (list) {
        struct vu *n = list->next_waiter;
        list->phase = VU_NEED_INIT;
        vu_next(list);
        list = n;
    }
}

/* How deep replies may nest on one stack (a reply starts the next send, which
 * may fail at once and reply again) before they wait for the next loop turn. */
#define REPLY_DEPTH_MAX 8

static void vu_on_reply_now(struct vu *v, struct xfer_result *r);

/*
 * Hands a finished exchange to its VU. A send that fails synchronously (a
 * refused connect, a dead pipe) replies from inside the call that started it;
 * without a bound a VU failing in a closed loop would recurse until the stack
 * overflows. Past REPLY_DEPTH_MAX the reply is queued and run by the worker
 * loop on its next turn instead.
 */
void vu_on_reply(struct vu *v, struct xfer_result *r)
{
    struct worker *w = v->w;
    if (w->reply_depth >= REPLY_DEPTH_MAX) {
        v->deferred_res = *r;
        v->next_deferred = NULL;
        if (w->deferred_tail)
            w->deferred_tail->next_deferred = v;
        else
            w->deferred_head = v;
        w->deferred_tail = v;
        return;
    }
    w->reply_depth++;
    vu_on_reply_now(v, r);
    w->reply_depth--;
}

/* Runs the replies queued by vu_on_reply (those queued meanwhile wait a turn). */
static void run_deferred(struct worker *w)
{
    struct vu *list = w->deferred_head;
    w->deferred_head = w->deferred_tail = NULL;
    while (list) {
        struct vu *n = list->next_deferred;
        struct xfer_result r = list->deferred_res;
        vu_on_reply(list, &r);
        list = n;
    }
}

static void vu_on_reply_now(struct vu *v, struct xfer_result *r)
{
    struct worker *w = v->w;
    struct engine *e = w->e;
    uint16_t init_step = (uint16_t)e->s->step_count;
    if (r->err == LS_EC_SESSION_LOST && v->phase != VU_INIT) {
        atomic_fetch_add(&e->reinit, 1);
        if (atomic_load(&e->reinit) <= 20)
            eng_event(e, "session_lost", "vu %u: server answered %u for session %s; re-initializing",
                      v->id, r->status, v->session_id);
    }
    switch (v->phase) {
    case VU_INIT:
        v->init_res = *r;
        if (r->err != LS_EC_OK) {
            record(v, init_step, v->pending_call ? v->intended_ns : v->init_start_ns,
                   v->init_start_ns, r, 0, 0);
            log_error(v, r, "initialize");
            release_waiters(v->conn && !is_churn(e) ? v->conn : NULL, false);
            v->phase = VU_NEED_INIT;
            v->has_session = false;
            if (w->stopping)
                v->pending_call = false;
            vu_next(v);
            return;
        }
        v->phase = VU_NOTIFY;
        vu_send(v);
        return;
    case VU_NOTIFY: {
        struct xfer_result ir = v->init_res;
        if (r->err != LS_EC_OK) {
            ir.err = r->err;
            ir.status = r->status;
            memcpy(ir.detail, r->detail, sizeof(ir.detail));
        }
        record(v, init_step, v->pending_call ? v->intended_ns : v->init_start_ns, v->init_start_ns,
               &ir, r->bytes_in, r->bytes_out);
        if (ir.err != LS_EC_OK) {
            log_error(v, &ir, "notifications/initialized");
            release_waiters(v->conn && !is_churn(e) ? v->conn : NULL, false);
            v->phase = VU_NEED_INIT;
            v->has_session = false;
            vu_next(v);
            return;
        }
        v->has_session = true;
        v->phase = VU_READY;
        if (v->conn && !is_churn(e))
            release_waiters(v->conn, true);
        /* A handshake that belongs to an iteration (churn) or to a scheduled send
         * completes that iteration, even when the run is stopping meanwhile. */
        if (w->stopping && (is_churn(e) || v->pending_call)) {
            start_call(v);
            return;
        }
        vu_next(v);
        return;
    }
    case VU_CALL:
        record(v, v->step, v->intended_ns, v->start_ns, r, 0, 0);
        log_error(v, r, e->s->steps[v->step].name);
        if (r->err == LS_EC_SESSION_LOST) {
            v->has_session = false;
            v->session_id[0] = '\0';
            v->phase = VU_NEED_INIT;
        } else if (is_churn(e)) {
            if (e->s->transport == SCN_HTTP && v->session_id[0]) {
                v->phase = VU_DELETE;
                http_send(v);
                return;
            }
            v->has_session = false;
            v->phase = VU_NEED_INIT;
        } else {
            v->phase = VU_READY;
        }
        vu_next(v);
        return;
    case VU_DELETE:
        v->has_session = false;
        v->session_id[0] = '\0';
        v->phase = w->stopping ? VU_DONE : VU_NEED_INIT;
        if (!w->stopping)
            vu_next(v);
        return;
    default:
        return;
    }
}

void vu_fail_now(struct vu *v, enum ls_errclass err, const char *detail)
{
    struct xfer_result r = {.err = err};
    snprintf(r.detail, sizeof(r.detail), "%s", detail);
    vu_on_reply(v, &r);
}

/* -------------------------------------------------------- the schedule */

/* Open loop: hands every due send time to an idle VU, wrk2-style. */
static void schedule(struct worker *w, uint64_t now)
{
    struct engine *e = w->e;
    while (!w->stopping && w->free_list && w->next_intended_ns <= now &&
           w->next_intended_ns < e->end_ns) {
        struct vu *v = w->free_list;
        w->free_list = v->next_free;
        v->intended_ns = w->next_intended_ns;
        v->pending_call = true;
        uint64_t t = w->next_intended_ns;
        double rate = scenario_rate_at(e->s, t > e->s->warmup_ns ? t - e->s->warmup_ns : 0);
        double share = rate / (double)e->nworkers;
        /* A stage at rate 0 pauses the schedule; look again 10 ms later. */
        w->next_intended_ns += share > 0 ? (uint64_t)(1e9 / share) : 10 * NS_PER_MS;
        if (v->phase == VU_NEED_INIT)
            vu_next(v);
        else
            start_call(v);
    }
}

static uint64_t next_wake(struct worker *w, uint64_t now)
{
    uint64_t wake = now + HEARTBEAT_NS;
    if (w->curl_deadline_ns < wake)
        wake = w->curl_deadline_ns;
    if (w->aws && aws_next_deadline(w) < wake)
        wake = aws_next_deadline(w);
    if (w->h1 && h1_next_deadline(w) < wake)
        wake = h1_next_deadline(w);
    if (open_model(w->e) && !w->stopping && w->free_list && w->next_intended_ns < wake)
        wake = w->next_intended_ns;
    return wake;
}

static void begin_stopping(struct worker *w)
{
    w->stopping = true;
    /* Idle VUs holding a session end it now. */
    for (uint32_t i = 0; i < w->nvu; i++) {
        struct vu *v = &w->vus[i];
        if (!v->in_flight && (v->phase == VU_READY || v->phase == VU_NEED_INIT))
            vu_next(v);
    }
    w->free_list = NULL;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct engine *e = w->e;
    struct epoll_event evs[256];

    for (uint32_t i = 0; i < w->nvu; i++)
        vu_next(&w->vus[i]);

    for (;;) {
        uint64_t now = eng_now(e);
        atomic_store_explicit(&w->heartbeat_ns, now, memory_order_release);
        if (!w->stopping && (atomic_load(&e->stop) || now >= e->end_ns))
            begin_stopping(w);
        if (w->stopping && !w->deferred_head &&
            atomic_load_explicit(&w->in_flight, memory_order_relaxed) == 0)
            break;
        if (atomic_load(&e->abort_now)) {
            http_abort_all(w);
            aws_abort_all(w);
            h1_abort_all(w);
            break;
        }
        schedule(w, now);

        uint64_t wake = w->deferred_head ? now : next_wake(w, now);
        uint64_t wait_ns = wake > now ? wake - now : 0;
        struct timespec ts = {(time_t)(wait_ns / NS_PER_S), (long)(wait_ns % NS_PER_S)};
        int n = epoll_pwait2(w->epfd, evs, 256, &ts, NULL);
        if (n < 0 && errno != EINTR) {
            eng_event(e, "error", "worker %u: epoll: %s", w->index, strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64 >> EV_TAG_SHIFT;
            uint64_t val = evs[i].data.u64 & ((1ull << EV_TAG_SHIFT) - 1);
            if (tag == EV_CURL)
                http_on_socket(w, (int)val, evs[i].events);
            else if (tag == EV_STDOUT)
                stdio_on_readable(&w->conns[val]);
            else if (tag == EV_STDIN)
                stdio_on_writable(&w->conns[val]);
            else if (tag == EV_H1)
                h1_on_event(w, (uint32_t)val, evs[i].events);
        }
        run_deferred(w);
        now = eng_now(e);
        if (w->multi && now >= w->curl_deadline_ns)
            http_on_timeout(w);
        if (w->aws)
            aws_on_tick(w, now);
        if (w->h1)
            h1_check_timeouts(w, now);
        if (w->nconn && now >= w->last_timeout_scan_ns + 100 * NS_PER_MS) {
            w->last_timeout_scan_ns = now;
            stdio_scan_timeouts(w, now);
        }
    }
    atomic_store_explicit(&w->heartbeat_ns, UINT64_MAX, memory_order_release);
    return NULL;
}

/* --------------------------------------------------------------- set-up */

ls_err engine_open(const struct scenario *s, const struct engine_opts *o,
                   const struct engine_callbacks *cb, struct engine **out)
{
    struct engine *e = calloc(1, sizeof(*e));
    *out = NULL;
    if (!e)
        return LS_ERR_NOMEM;
    e->s = s;
    e->o = *o;
    if (cb)
        e->cb = *cb;
    if (e->o.grace_ns == 0)
        e->o.grace_ns = s->timeout_ns < 10 * NS_PER_S ? s->timeout_ns : 10 * NS_PER_S;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    uint32_t vus = s->model == SCN_CLOSED ? s->concurrency : s->max_in_flight;
    uint32_t nw = o->workers;
    if (nw == 0) {
        /* One stdio server process is fed best from one thread. */
        if (s->transport == SCN_STDIO && s->processes == SCN_PROCS_SHARED)
            nw = 1;
        else
            nw = (uint32_t)cpus;
    }
    if (nw > vus)
        nw = vus;
    if (nw < 1)
        nw = 1;
    e->nworkers = nw;
    pthread_mutex_init(&e->procs_lock, NULL);
    *out = e;
    return LS_OK;
}

static size_t request_capacity(const struct scenario *s)
{
    size_t cap = 1024 + strlen(s->protocol_version) + strlen(s->client_name);
    for (size_t i = 0; i < s->step_count; i++) {
        size_t need = 256 + (s->steps[i].params ? tmpl_max_len(s->steps[i].params) : 0);
        if (need > cap)
            cap = need;
    }
    return cap;
}

static ls_err worker_setup(struct engine *e, struct worker *w, uint32_t first_vu, uint32_t nvu,
                           char *err, size_t errcap)
{
    const struct scenario *s = e->s;
    w->e = e;
    w->curl_deadline_ns = UINT64_MAX;
    w->ring.slots = calloc(RING_CAPACITY, sizeof(struct ls_sample));
    w->ring.mask = RING_CAPACITY - 1;
    w->vus = calloc(nvu ? nvu : 1, sizeof(struct vu));
    if (!w->ring.slots || !w->vus)
        return LS_ERR_NOMEM;
    w->nvu = nvu;
    tmpl_rng_seed(&w->rng, 0x10adc0de ^ ((uint64_t)w->index << 32) ^ (uint64_t)ls_unix_ns());
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epfd < 0) {
        snprintf(err, errcap, "epoll_create1: %s", strerror(errno));
        return LS_ERR_IO;
    }
    /* Interleave the workers' schedules so their sends do not coincide. */
    double rate0 = scenario_rate_at(s, 0);
    if (s->model == SCN_OPEN && rate0 > 0)
        w->next_intended_ns = (uint64_t)(1e9 / rate0) * w->index;

    size_t cap = request_capacity(s);
    ls_err rc;
    if (s->transport == SCN_HTTP) {
        rc = http_worker_init(w);
        if (rc != LS_OK) {
            snprintf(err, errcap, "cannot set up libcurl: %s", ls_strerror(rc));
            return rc;
        }
        if (h1_wanted(s)) {
            rc = h1_worker_init(w, err, errcap);
            if (rc != LS_OK) {
                if (!err[0])
                    snprintf(err, errcap, "cannot set up the HTTP client: %s", ls_strerror(rc));
                return rc;
            }
        }
    } else if (s->transport == SCN_STDIO) {
        w->nconn = s->processes == SCN_PROCS_SHARED ? 1 : nvu;
        w->conns = calloc(w->nconn, sizeof(struct stdio_conn));
        if (!w->conns)
            return LS_ERR_NOMEM;
        for (uint32_t i = 0; i < w->nconn; i++) {
            w->conns[i].index = i;
            rc = stdio_conn_open(w, &w->conns[i], err, errcap);
            if (rc != LS_OK)
                return rc;
        }
    }
    for (uint32_t i = 0; i < nvu; i++) {
        struct vu *v = &w->vus[i];
        v->w = w;
        v->id = first_vu + i;
        v->phase = s->transport == SCN_AWS ? VU_READY : VU_NEED_INIT; /* AWS only: no handshake */
        v->req_cap = cap;
        v->req = malloc(cap);
        if (!v->req)
            return LS_ERR_NOMEM;
        if (s->transport == SCN_HTTP && w->h1) {
            rc = h1_vu_init(v);
            if (rc != LS_OK) {
                snprintf(err, errcap, "cannot set up a virtual user: %s", ls_strerror(rc));
                return rc;
            }
        } else if (s->transport == SCN_HTTP) {
            rc = http_vu_init(v);
            if (rc != LS_OK) {
                snprintf(err, errcap, "cannot set up a libcurl handle: %s", ls_strerror(rc));
                return rc;
            }
        } else if (s->transport == SCN_STDIO) {
            v->conn = &w->conns[s->processes == SCN_PROCS_SHARED ? 0 : i];
        }
    }
    rc = aws_worker_init(w);
    if (rc != LS_OK) {
        snprintf(err, errcap, "cannot set up the AWS client: %s", ls_strerror(rc));
        return rc;
    }
    return LS_OK;
}

static void worker_free(struct worker *w)
{
    for (uint32_t i = 0; i < w->nvu; i++) {
        if (w->vus[i].w)
            http_vu_free(&w->vus[i]);
        free(w->vus[i].req);
    }
    h1_worker_free(w);
    aws_worker_free(w);
    http_worker_free(w);
    for (uint32_t i = 0; i < w->nconn; i++)
        stdio_conn_free(&w->conns[i]);
    free(w->conns);
    free(w->vus);
    free(w->ring.slots);
    if (w->epfd > 0)
        close(w->epfd);
}

/* Host and port of an http(s) URL for the readiness check (util/url.h). */
static bool url_host_port(const char *url, char *host, size_t hostcap, int *port)
{
    struct ls_url u;
    char err[256];
    if (url_parse(url, 0, &u, err, sizeof(err)) != LS_OK)
        return false;
    snprintf(host, hostcap, "%s", u.host);
    *port = (int)u.port;
    url_free(&u);
    return true;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool any_stdio_exit(struct engine *e, char *msg, size_t cap)
{
    bool died = false;
    pthread_mutex_lock(&e->procs_lock);
    for (size_t i = 0; i < e->nprocs && !died; i++) {
        int st;
        if (e->procs[i] && proc_poll_exit(e->procs[i], &st)) {
            char how[96], tail[512];
            proc_describe_status(st, how, sizeof(how));
            proc_log_tail(e->procs[i], tail, sizeof(tail));
            snprintf(msg, cap, "target pid %d %s%s%s", (int)proc_pid(e->procs[i]), how,
                     tail[0] ? "; last output: " : "", tail);
            died = true;
        }
    }
    pthread_mutex_unlock(&e->procs_lock);
    return died;
}

ls_err engine_run(struct engine *e, enum engine_end *end, char *err, size_t errcap)
{
    const struct scenario *s = e->s;
    ls_err rc = LS_OK;
    uint32_t started = 0;
    *end = ENGINE_FAILED;
    err[0] = '\0';

    /* Launch an HTTP target and wait for its port before anything is timed. */
    if (s->transport == SCN_HTTP && s->command) {
        struct ls_proc_opts po = {.argv = s->command, .env = s->env, .env_count = s->env_count,
                                  .cwd = s->cwd ? s->cwd : e->o.base_dir, .inject = e->o.inject};
        rc = proc_spawn(&po, &e->http_proc, err, errcap);
        if (rc != LS_OK)
            goto out;
        char host[256];
        int port;
        if (!url_host_port(s->url, host, sizeof(host), &port)) {
            snprintf(err, errcap, "cannot read host and port from %s", s->url);
            rc = LS_ERR_INVALID;
            goto out;
        }
        rc = proc_wait_port(e->http_proc, host, port, s->ready_timeout_ns, err, errcap);
        if (rc != LS_OK)
            goto out;
        eng_event(e, "target_start", "launched pid %d, listening on %s:%d",
                  (int)proc_pid(e->http_proc), host, port);
    }

    /* AWS configuration and the setup phase: before the load, its own events, no samples. */
    e->t0_ns = ls_now_ns();
    rc = aws_engine_prepare(e, err, errcap);
    if (rc != LS_OK)
        goto out;

    e->workers = calloc(e->nworkers, sizeof(struct worker));
    e->sources = calloc(e->nworkers, sizeof(struct coll_source));
    if (!e->workers || !e->sources) {
        rc = LS_ERR_NOMEM;
        goto out;
    }
    uint32_t vus = s->model == SCN_CLOSED ? s->concurrency : s->max_in_flight;
    uint32_t first = 0;
    /* Timestamps before t0 would underflow: set it now, reset just before the threads start. */
    e->t0_ns = ls_now_ns();
    for (uint32_t i = 0; i < e->nworkers; i++) {
        struct worker *w = &e->workers[i];
        w->index = (uint16_t)i;
        uint32_t n = vus / e->nworkers + (i < vus % e->nworkers ? 1 : 0);
        rc = worker_setup(e, w, first, n, err, errcap);
        if (rc != LS_OK)
            goto out;
        first += n;
        e->sources[i].ring = &w->ring;
        e->sources[i].heartbeat_ns = &w->heartbeat_ns;
    }
    struct coll_sink sink = {.ctx = e->cb.ctx, .samples = e->cb.samples, .interval = e->cb.interval};
    rc = collector_open((uint32_t)s->step_count, s->warmup_ns, e->sources, e->nworkers, &sink,
                        &e->coll);
    if (rc != LS_OK)
        goto out;

    e->end_ns = s->warmup_ns + s->duration_ns;
    e->t0_ns = ls_now_ns();
    if (e->o.mcp_hooks && e->o.mcp_hooks->origin)
        e->o.mcp_hooks->origin(e->o.mcp_hooks->ctx, e->t0_ns);
    rc = collector_start(e->coll);
    if (rc != LS_OK)
        goto out;
    for (; started < e->nworkers; started++) {
        if (pthread_create(&e->workers[started].thread, NULL, worker_main, &e->workers[started]) != 0) {
            snprintf(err, errcap, "cannot start worker thread %u", started);
            atomic_store(&e->stop, true);
            atomic_store(&e->abort_now, true);
            rc = LS_ERR_NOMEM;
            break;
        }
    }

    /* Control: the clock, Ctrl-C and the target's health. */
    enum engine_end why = ENGINE_COMPLETED;
    char msg[1024];
    while (rc == LS_OK) {
        uint64_t now = eng_now(e);
        if (atomic_load(&ls_stop_requested)) {
            why = ENGINE_INTERRUPTED;
            eng_event(e, "interrupted", "stopped by signal after %.1f s", (double)now / 1e9);
            break;
        }
        if (now >= e->end_ns)
            break;
        int st;
        if (e->http_proc && proc_poll_exit(e->http_proc, &st)) {
            char how[96], tail[512];
            proc_describe_status(st, how, sizeof(how));
            proc_log_tail(e->http_proc, tail, sizeof(tail));
            eng_event(e, "target_exit", "target pid %d %s%s%s", (int)proc_pid(e->http_proc), how,
                      tail[0] ? "; last output: " : "", tail);
            why = ENGINE_TARGET_EXITED;
            break;
        }
        bool pipe_closed = atomic_load(&e->target_died);
        bool exited = any_stdio_exit(e, msg, sizeof(msg));
        /* The pipes often notice first: give the exit status a moment to arrive for the log. */
        for (int i = 0; pipe_closed && !exited && i < 50; i++) {
            sleep_ms(10);
            exited = any_stdio_exit(e, msg, sizeof(msg));
        }
        if (pipe_closed || exited) {
            eng_event(e, "target_exit", "%s", exited ? msg : "the target closed its stdout");
            why = ENGINE_TARGET_EXITED;
            break;
        }
        sleep_ms(10);
    }
    e->stopped_at_ns = eng_now(e);
    atomic_store(&e->stop, true);

    /* Grace: in-flight requests may finish; then whatever is left is dropped. */
    uint64_t grace_end = ls_now_ns() + e->o.grace_ns;
    for (;;) {
        bool all_done = true;
        for (uint32_t i = 0; i < started; i++) {
            if (atomic_load(&e->workers[i].heartbeat_ns) != UINT64_MAX)
                all_done = false;
        }
        if (all_done)
            break;
        if (ls_now_ns() >= grace_end) {
            uint64_t left = engine_in_flight(e);
            atomic_store(&e->abort_now, true);
            if (left)
                eng_event(e, "interrupted", "%llu request(s) still in flight after the %.1f s grace period were abandoned",
                          (unsigned long long)left, (double)e->o.grace_ns / 1e9);
            break;
        }
        sleep_ms(5);
    }
    for (uint32_t i = 0; i < started; i++)
        pthread_join(e->workers[i].thread, NULL);
    if (why == ENGINE_COMPLETED && atomic_load(&e->target_died))
        why = ENGINE_TARGET_EXITED;
    if (e->coll)
        collector_finish(e->coll);
    *end = why;
out:
    return rc;
}

void engine_totals(const struct engine *e, int step, struct coll_totals *out)
{
    if (e->coll)
        collector_totals(e->coll, step, out);
    else
        memset(out, 0, sizeof(*out));
}

double engine_measured_seconds(const struct engine *e)
{
    uint64_t end = e->stopped_at_ns < e->end_ns ? e->stopped_at_ns : e->end_ns;
    if (end <= e->s->warmup_ns)
        return 0;
    return (double)(end - e->s->warmup_ns) / 1e9;
}

uint64_t engine_in_flight(const struct engine *e)
{
    uint64_t n = 0;
    if (!e->workers)
        return 0;
    for (uint32_t i = 0; i < e->nworkers; i++)
        n += atomic_load_explicit(&e->workers[i].in_flight, memory_order_relaxed);
    return n;
}

uint32_t engine_workers(const struct engine *e)
{
    return e->nworkers;
}

uint64_t engine_sessions_reinit(const struct engine *e)
{
    return atomic_load(&e->reinit);
}

size_t engine_target_pids(struct engine *e, int *pids, size_t cap)
{
    size_t n = 0;
    if (e->http_proc) {
        if (n < cap)
            pids[n] = (int)proc_pid(e->http_proc);
        n++;
    }
    pthread_mutex_lock(&e->procs_lock);
    for (size_t i = 0; i < e->nprocs; i++) {
        if (!e->procs[i])
            continue;
        if (n < cap)
            pids[n] = (int)proc_pid(e->procs[i]);
        n++;
    }
    pthread_mutex_unlock(&e->procs_lock);
    return n;
}

void engine_close(struct engine *e)
{
    if (!e)
        return;
    collector_close(e->coll);
    if (e->workers) {
        for (uint32_t i = 0; i < e->nworkers; i++)
            worker_free(&e->workers[i]);
    }
    if (e->http_proc) {
        proc_stop(e->http_proc, 2 * NS_PER_S);
        proc_free(e->http_proc);
    }
    aws_engine_free(e);
    free(e->procs);
    free(e->workers);
    free(e->sources);
    pthread_mutex_destroy(&e->procs_lock);
    free(e);
}

int engine_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void engine_global_cleanup(void)
{
    curl_global_cleanup();
}

const char *engine_http_version(void)
{
    return curl_version();
}
