/*
 * engine_vu: the virtual users' state machine.
 *
 * Owns what a virtual user (VU) does and when: the MCP handshake when it
 * needs a session (shared with other VUs when its transport shares one),
 * the weighted pick of a step and its send, what a finished exchange means
 * for the VU (next step, a new session after a lost one, DELETE at the end
 * of an iteration or of the run), the JSON-RPC requests it sends and how a
 * reply is classified, and the one fixed-size sample each exchange leaves
 * in the worker's ring. Transports call back through the hooks here
 * (vu_hook_*); this file calls transports only through their rows
 * (w->tp_ops). Latency is measured both from the intended send time
 * (open loop, corrected for coordinated omission as wrk2 does) and from the
 * actual send. The per-request path formats into buffers sized once and
 * takes no lock.
 */
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine_int.h"
#include "scenario/mcp_methods.h"

#define NS_PER_MS 1000000ull
#define LATE_NS (1 * NS_PER_MS)      /* a send this far behind schedule is late */
#define EVENTS_PER_CLASS 5           /* error messages logged per class and worker */

/* How deep replies may nest on one stack (a reply starts the next send, which
 * may fail at once and reply again) before they wait for the next loop turn. */
#define REPLY_DEPTH_MAX 8

static const char *const supported_revisions[] = {"2025-11-25", "2025-06-18", "2025-03-26"};

static bool is_churn(const struct engine *e)
{
    return e->s->session == SCN_SESSION_PER_ITERATION;
}

static bool open_model(const struct engine *e)
{
    return e->s->model == SCN_OPEN;
}

static const struct transport_ops *mcp_tp(const struct worker *w)
{
    return w->tp_ops[TP_MCP];
}

/* ------------------------------------------------------------- requests */

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

size_t vu_request_capacity(const struct scenario *s)
{
    size_t cap = 1024 + strlen(s->protocol_version) + strlen(s->client_name);
    for (size_t i = 0; i < s->step_count; i++) {
        size_t need = 256 + (s->steps[i].params ? tmpl_max_len(s->steps[i].params) : 0);
        if (need > cap)
            cap = need;
    }
    return cap;
}

/* A step's request: {"jsonrpc":"2.0","id":ID,"method":M,"params":RENDERED}. */
static long build_call(struct vu *v, int64_t id, char *buf, size_t cap)
{
    struct engine *e = v->w->e;
    const struct scn_step *st = &e->s->steps[v->step];
    if (!st->params)
        return jsonrpc_format_request(buf, cap, id, st->method_name, NULL, 0);
    /* The hot path: plain copies instead of snprintf (it showed in profiles). */
    static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":";
    size_t mlen = strlen(st->method_name);
    if (cap < sizeof(head) + 21 + mlen + 24)
        return -1;
    memcpy(buf, head, sizeof(head) - 1);
    int n = (int)(sizeof(head) - 1);
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

long vu_hook_build_request(struct vu *v, int64_t id, char *buf, size_t cap)
{
    const struct scenario *s = v->w->e->s;
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
    case VU_CALL:
        return build_call(v, id, buf, cap);
    default:
        return -1;
    }
}

/* initialize's result must name a revision loadscope speaks; it becomes v->proto. */
static enum ls_errclass check_initialize(struct vu *v, const struct jsonrpc_msg *m,
                                         struct xfer_result *r)
{
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
    snprintf(r->detail, sizeof(r->detail),
             "server chose protocol revision %.*s, which loadscope does not speak",
             (int)(pv.len > 40 ? 40 : pv.len), pv.p);
    return r->err = LS_EC_PROTOCOL;
}

enum ls_errclass vu_hook_classify(struct vu *v, const struct jsonrpc_msg *m, struct xfer_result *r)
{
    if (m->kind == JSONRPC_ERROR) {
        r->rpc_code = (int32_t)m->error_code;
        snprintf(r->detail, sizeof(r->detail), "JSON-RPC error %lld: %.*s",
                 (long long)m->error_code,
                 (int)(m->error_message.len > 150 ? 150 : m->error_message.len),
                 m->error_message.p ? m->error_message.p : "");
        return r->err = LS_EC_RPC;
    }
    if (m->kind != JSONRPC_RESPONSE) {
        snprintf(r->detail, sizeof(r->detail), "reply is not a JSON-RPC response");
        return r->err = LS_EC_PROTOCOL;
    }
    if (v->phase == VU_INIT)
        return check_initialize(v, m, r);
    if (v->phase == VU_CALL) {
        /* The method's row knows whether a result can still say the call failed. */
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
    /* Lost sessions have an event of their own (reply_now). */
    if (r->err == LS_EC_OK || r->err >= LS_EC__COUNT || r->err == LS_EC_SESSION_LOST)
        return;
    uint32_t n = ++w->events_by_class[r->err];
    if (n <= EVENTS_PER_CLASS)
        eng_event(w->e, ls_errclass_name((enum ls_errclass)r->err), "%s (vu %u, %s%s)",
                  r->detail[0] ? r->detail : ls_errclass_name((enum ls_errclass)r->err), v->id,
                  what,
                  n == EVENTS_PER_CLASS
                      ? "; further errors of this class on this worker are counted, not logged"
                      : "");
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

/* The session v shares with other VUs through its MCP transport, or NULL. */
static struct vu_share *shared_session(struct vu *v)
{
    const struct transport_ops *t = mcp_tp(v->w);
    if (!t || !t->share || is_churn(v->w->e))
        return NULL;
    return t->share(v);
}

/* A session v holds is ended by a DELETE exchange (Streamable HTTP with an id). */
static bool ends_with_delete(const struct vu *v)
{
    const struct transport_ops *t = mcp_tp(v->w);
    return t && t->ends_sessions && v->session_id[0];
}

static void vu_send(struct vu *v)
{
    mcp_tp(v->w)->send(v);
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
    /* An AWS step goes to the AWS transport, an MCP step to the target's. */
    if (!s->steps[step].aws)
        mcp_hook(w->e, step, true);
    w->tp_ops[s->steps[step].aws ? TP_AWS : TP_MCP]->send(v);
}

/* Joins the shared session's handshake: ready, wait for it, or run it. True when it may call. */
static bool join_shared(struct vu *v, struct vu_share *sh)
{
    if (sh->ready)
        return true;
    if (sh->initializing) {
        v->phase = VU_WAIT_CONN;
        v->next_waiter = sh->waiters;
        sh->waiters = v;
        return false;
    }
    sh->initializing = true;
    start_handshake(v);
    return false;
}

void vu_next(struct vu *v)
{
    struct worker *w = v->w;
    struct engine *e = w->e;
    if (w->stopping) {
        if (v->has_session && ends_with_delete(v) && !atomic_load(&e->abort_now)) {
            v->phase = VU_DELETE;
            vu_send(v);
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
        struct vu_share *sh = shared_session(v);
        if (!sh) {
            start_handshake(v);
            return;
        }
        if (!join_shared(v, sh))
            return;
        v->phase = VU_READY;
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

void vu_scheduled(struct vu *v)
{
    if (v->phase == VU_NEED_INIT)
        vu_next(v);
    else
        start_call(v);
}

/* The handshake finished (well or not): wake the VUs waiting on the shared session. */
static void release_waiters(struct vu_share *sh, bool ok)
{
    if (!sh)
        return;
    sh->initializing = false;
    if (ok)
        sh->ready = true;
    struct vu *list = sh->waiters;
    sh->waiters = NULL;
    while (list) {
        struct vu *n = list->next_waiter;
        list->phase = VU_NEED_INIT;
        vu_next(list);
        list = n;
    }
}

/* The handshake failed at initialize or at the notification: a new one later. */
static void handshake_failed(struct vu *v)
{
    release_waiters(shared_session(v), false);
    v->phase = VU_NEED_INIT;
    v->has_session = false;
}

static void on_initialize(struct vu *v, struct xfer_result *r)
{
    v->init_res = *r;
    if (r->err != LS_EC_OK) {
        record(v, (uint16_t)v->w->e->s->step_count,
               v->pending_call ? v->intended_ns : v->init_start_ns, v->init_start_ns, r, 0, 0);
        log_error(v, r, "initialize");
        handshake_failed(v);
        if (v->w->stopping)
            v->pending_call = false;
        vu_next(v);
        return;
    }
    v->phase = VU_NOTIFY;
    vu_send(v);
}

/* The handshake's one sample covers initialize and the notification. */
static void on_initialized(struct vu *v, struct xfer_result *r)
{
    struct worker *w = v->w;
    struct engine *e = w->e;
    struct xfer_result ir = v->init_res;
    if (r->err != LS_EC_OK) {
        ir.err = r->err;
        ir.status = r->status;
        memcpy(ir.detail, r->detail, sizeof(ir.detail));
    }
    record(v, (uint16_t)e->s->step_count, v->pending_call ? v->intended_ns : v->init_start_ns,
           v->init_start_ns, &ir, r->bytes_in, r->bytes_out);
    if (ir.err != LS_EC_OK) {
        log_error(v, &ir, "notifications/initialized");
        handshake_failed(v);
        vu_next(v);
        return;
    }
    v->has_session = true;
    v->phase = VU_READY;
    release_waiters(shared_session(v), true);
    /* A handshake that belongs to an iteration (churn) or to a scheduled send
     * completes that iteration, even when the run is stopping meanwhile. */
    if (w->stopping && (is_churn(e) || v->pending_call)) {
        start_call(v);
        return;
    }
    vu_next(v);
}

static void on_call_done(struct vu *v, struct xfer_result *r)
{
    struct engine *e = v->w->e;
    record(v, v->step, v->intended_ns, v->start_ns, r, 0, 0);
    log_error(v, r, e->s->steps[v->step].name);
    if (r->err == LS_EC_SESSION_LOST) {
        v->has_session = false;
        v->session_id[0] = '\0';
        v->phase = VU_NEED_INIT;
    } else if (is_churn(e)) {
        if (ends_with_delete(v)) {
            v->phase = VU_DELETE;
            vu_send(v);
            return;
        }
        v->has_session = false;
        v->phase = VU_NEED_INIT;
    } else {
        v->phase = VU_READY;
    }
    vu_next(v);
}

static void reply_now(struct vu *v, struct xfer_result *r)
{
    struct worker *w = v->w;
    struct engine *e = w->e;
    if (r->err == LS_EC_SESSION_LOST && v->phase != VU_INIT) {
        atomic_fetch_add(&e->reinit, 1);
        if (atomic_load(&e->reinit) <= 20)
            eng_event(e, "session_lost",
                      "vu %u: server answered %u for session %s; re-initializing", v->id,
                      r->status, v->session_id);
    }
    switch (v->phase) {
    case VU_INIT:
        on_initialize(v, r);
        return;
    case VU_NOTIFY:
        on_initialized(v, r);
        return;
    case VU_CALL:
        on_call_done(v, r);
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

/*
 * Hands a finished exchange to its VU. A send that fails synchronously (a
 * refused connect, a dead pipe) replies from inside the call that started it;
 * without a bound a VU failing in a closed loop would recurse until the stack
 * overflows. Past REPLY_DEPTH_MAX the reply is queued and run by the worker
 * loop on its next turn instead.
 */
void vu_hook_reply(struct vu *v, struct xfer_result *r)
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
    reply_now(v, r);
    w->reply_depth--;
}

void vu_run_deferred(struct worker *w)
{
    struct vu *list = w->deferred_head;
    w->deferred_head = w->deferred_tail = NULL;
    while (list) {
        struct vu *n = list->next_deferred;
        struct xfer_result r = list->deferred_res;
        vu_hook_reply(list, &r);
        list = n;
    }
}

void vu_hook_target_lost(struct worker *w, struct vu_share *share, const char *message)
{
    struct engine *e = w->e;
    eng_event(e, "target_exit", "%s", message);
    atomic_store(&e->target_died, true);
    atomic_store(&e->stop, true);
    /* The run is over for this worker: no VU may start anything new. */
    w->stopping = true;
    w->free_list = NULL;
    /* VUs waiting on the handshake can never get one now. */
    if (share) {
        struct vu *list = share->waiters;
        share->waiters = NULL;
        for (; list; list = list->next_waiter)
            list->phase = VU_DONE;
    }
}
