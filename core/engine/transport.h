/*
 * transport: what the engine and its transports share, and nothing more.
 *
 * A transport carries a virtual user's exchanges to the target: MCP over
 * stdio, MCP's Streamable HTTP over libcurl or over loadscope's own
 * HTTP/1.1 client, or AWS operations. Each is one row of struct
 * transport_ops (as curl's Curl_handler) in its own file, listed at the end
 * of this header; the worker picks, per slot, the first row that wants the
 * scenario (engine_worker.c) and from then on only calls through the row.
 *
 * A transport keeps its own state behind the slot's pointer in the engine,
 * the worker and each virtual user (e->tp, w->tp, v->tp), never in their
 * shared fields. It calls back into the engine only through the struct
 * eng_hooks the engine hands it (e->hooks): "this exchange is over", "build
 * the request for this phase", "classify this JSON-RPC reply", "log this
 * event", "watch this process", "the target is gone". Transports include
 * this header (and their own), never engine_int.h, so the engine's files
 * and the transports do not call each other by name.
 *
 * Threads: everything per worker runs on that worker's thread; the
 * engine-level calls (engine_open/close, the target hooks) on the control
 * thread, before the workers start or after they stopped.
 */
#ifndef LS_TRANSPORT_H
#define LS_TRANSPORT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/engine.h"
#include "proto/jsonrpc.h"
#include "scenario/template.h"
#include "stats/ring.h"
#include "target/proc.h"
#include "util/clock.h"

/* epoll tags: the top byte of epoll_event.data.u64 names its handler (w->ev_fn). */
#define EV_TAG_SHIFT 56
#define EV_TAGS_MAX 8

#define RING_CAPACITY (1u << 15)

/* Transports a virtual user may use at once: its MCP target's, and AWS operations'. */
enum tp_slot { TP_MCP = 0, TP_AWS = 1, TP__SLOTS };

enum vu_phase {
    VU_NEED_INIT = 0, /* must run the MCP handshake before calling */
    VU_WAIT_CONN,     /* a shared session: another VU is running its handshake */
    VU_INIT,          /* initialize sent */
    VU_NOTIFY,        /* notifications/initialized sent (HTTP: awaiting 202) */
    VU_READY,         /* may call */
    VU_CALL,          /* a step's request is in flight */
    VU_DELETE,        /* HTTP DELETE of the session in flight */
    VU_DONE,          /* finished: no more requests */
};

/* How one exchange went, filled by a transport before it hands the result over. */
struct xfer_result {
    enum ls_errclass err;
    uint16_t status;
    int32_t rpc_code;
    uint32_t bytes_in, bytes_out;
    uint32_t dns_us, connect_us, tls_us, ttfb_us;
    bool new_conn;
    char detail[200];     /* for the event log when err != OK */
    /* AWS operations; 0 for MCP */
    uint16_t attempts, retries, followups, aws_code;
    uint32_t backoff_us, last_try_us;
};

struct vu;
struct worker;
struct engine;

/*
 * One MCP session shared by several VUs (a stdio process they all talk to):
 * the first VU runs the handshake, the others wait on it. Owned by the
 * transport, run by the engine's VU machine.
 */
struct vu_share {
    bool ready;               /* the handshake is done */
    bool initializing;        /* a VU is running it */
    struct vu *waiters;       /* VUs waiting for it (VU_WAIT_CONN), through next_waiter */
};

struct vu {
    struct worker *w;
    uint32_t id;              /* global virtual user / slot number */
    enum vu_phase phase;
    struct vu *next_free;     /* open loop: idle list */
    struct vu *next_waiter;   /* waiting for a shared session's handshake */

    /* the exchange in flight */
    uint16_t step;
    uint32_t seq;
    uint64_t intended_ns, start_ns, init_start_ns;
    bool in_flight;
    bool pending_call;        /* open loop: dispatched; call once the handshake is done */
    bool has_session;         /* a session id (or stateless) is established */
    int64_t rpc_id;           /* JSON-RPC id of the request in flight; -1: a notification */
    struct xfer_result init_res;     /* the initialize exchange, reported with the handshake */
    struct xfer_result deferred_res; /* a reply waiting for the next loop turn */
    struct vu *next_deferred;

    char *req;                /* MCP request body (eng_hooks.build_request), sized once */
    size_t req_cap, req_len;

    /* the MCP session */
    char session_id[256];     /* Mcp-Session-Id; "" when none */
    char proto[32];           /* negotiated protocol revision */

    void *tp[TP__SLOTS];      /* each transport's state for this VU; NULL when unused */
};

typedef void (*eng_ev_fn)(struct worker *w, uint64_t val, uint32_t events);

struct worker {
    struct engine *e;
    uint16_t index;
    pthread_t thread;
    int epfd;
    eng_ev_fn ev_fn[EV_TAGS_MAX]; /* epoll tag -> handler; 0 is no tag */
    const struct transport_ops *tp_ops[TP__SLOTS]; /* the transport of each slot; NULL: none */
    void *tp[TP__SLOTS];        /* each transport's state for this worker */
    struct curlm *curlm;        /* the libcurl multi handle its libcurl transports share, or NULL */
    struct vu *vus;
    uint32_t nvu;
    struct vu *free_list;       /* open loop: ready, idle VUs */
    struct ls_ring ring;
    _Atomic uint64_t heartbeat_ns;
    _Atomic uint64_t in_flight;
    struct tmpl_rng rng;
    uint32_t seq;
    uint64_t next_intended_ns;  /* open loop schedule */
    uint64_t ring_full_waits;
    uint32_t events_by_class[LS_EC__COUNT];
    bool stopping;              /* no new requests */
    uint32_t reply_depth;       /* replies on the stack right now */
    struct vu *deferred_head;   /* replies handed over too deep in the stack: FIFO */
    struct vu *deferred_tail;
};

struct engine {
    const struct scenario *s;
    struct engine_opts o;
    struct engine_callbacks cb;
    const struct eng_hooks *hooks; /* what transports call back */
    uint32_t nworkers;
    struct worker *workers;
    struct coll_source *sources;
    struct collector *coll;
    uint64_t t0_ns;             /* monotonic start */
    uint64_t end_ns;            /* run-relative end of the measured part */
    uint64_t stopped_at_ns;     /* run-relative time new requests stopped */
    _Atomic bool stop;          /* no new requests */
    _Atomic bool abort_now;     /* grace over: drop what is in flight */
    _Atomic bool target_died;
    _Atomic uint64_t reinit;
    struct ls_proc *http_proc;  /* launched HTTP target */
    pthread_mutex_t procs_lock;
    struct ls_proc **procs;     /* stdio processes, for the control thread to watch */
    size_t nprocs;
    const struct transport_ops *tp_ops[TP__SLOTS]; /* the run's transports */
    void *tp[TP__SLOTS];        /* each transport's run-wide state (AWS configuration) */
};

/* What the engine offers its transports: every call back into it. */
struct eng_hooks {
    /* The exchange v started is over (any phase); r is copied. */
    void (*reply)(struct vu *v, struct xfer_result *r);
    /* Writes v's JSON-RPC request for its phase with this id; its length, or -1 (cap too small). */
    long (*build_request)(struct vu *v, int64_t id, char *buf, size_t cap);
    /* Classifies the JSON-RPC reply m to v's request into r (r->err, detail); returns r->err. */
    enum ls_errclass (*classify)(struct vu *v, const struct jsonrpc_msg *m, struct xfer_result *r);
    /* An event of the run ("target_exit", "protocol", "aws_setup", ...). */
    void (*event)(struct engine *e, const char *kind, const char *message);
    /* A target process was launched / is about to be stopped (control thread: watch it). */
    ls_err (*target_started)(struct engine *e, struct ls_proc *p);
    void (*target_stopping)(struct engine *e, struct ls_proc *p);
    /* The target behind share (NULL: none) is gone: the run stops, its waiting VUs end. */
    void (*target_lost)(struct worker *w, struct vu_share *share, const char *message);
};

/* One transport: a row, in its own file. Any pointer but send may be NULL. */
struct transport_ops {
    const char *name;           /* "stdio", "curl", "h1", "aws" */
    enum tp_slot slot;
    bool (*wanted)(const struct scenario *s);
    /* Run-wide set-up before the workers start (control thread), and its undoing. */
    ls_err (*engine_open)(struct engine *e, char *err, size_t errcap);
    void (*engine_close)(struct engine *e);
    /* The worker's state (w->vus exist), then each VU's ("attach"); err says why not. */
    ls_err (*worker_open)(struct worker *w, char *err, size_t errcap);
    ls_err (*vu_open)(struct vu *v, char *err, size_t errcap);
    /* Starts the exchange v's phase calls for (INIT, NOTIFY, CALL, DELETE; AWS: CALL). */
    void (*send)(struct vu *v);
    /* Readiness of one of its descriptors; val is the tag's low bits, as it registered them. */
    eng_ev_fn on_event;
    /* Timers and timeouts that are due at now. */
    void (*tick)(struct worker *w, uint64_t now);
    /* The next time tick has work; UINT64_MAX when none. */
    uint64_t (*next_deadline)(const struct worker *w);
    /* The grace period is over: drop whatever is in flight, without results. */
    void (*cancel_all)(struct worker *w);
    /* Frees a VU's and then the worker's state; also after a partial set-up. */
    void (*vu_close)(struct vu *v);
    void (*worker_close)(struct worker *w);
    /* The session v shares with other VUs, or NULL (each VU has its own). */
    struct vu_share *(*share)(struct vu *v);
    /* A session with an id is ended by a DELETE exchange (Streamable HTTP). */
    bool ends_sessions;
};

/* The rows, one per transport file. */
extern const struct transport_ops tp_stdio; /* engine_stdio.c */
extern const struct transport_ops tp_h1;    /* engine_h1.c */
extern const struct transport_ops tp_curl;  /* engine_http.c */
extern const struct transport_ops tp_aws;   /* engine_aws.c */

/* ------------------------------------------------------------ helpers */

static inline uint64_t eng_now(const struct engine *e)
{
    return ls_now_ns() - e->t0_ns;
}

/*
 * The epoll tag of handler fn in w, registering it on first use (worker
 * thread, set-up). Descriptors are added with data.u64 = tag | low bits.
 */
static inline uint64_t eng_ev_tag(struct worker *w, eng_ev_fn fn)
{
    uint64_t t = 1;
    for (; t < EV_TAGS_MAX && w->ev_fn[t] && w->ev_fn[t] != fn; t++)
        ;
    if (t == EV_TAGS_MAX)
        return 0; /* more handlers than tags: a bug, caught by the set-up's check */
    w->ev_fn[t] = fn;
    return t << EV_TAG_SHIFT;
}

static inline void tp_reply(struct vu *v, struct xfer_result *r)
{
    v->w->e->hooks->reply(v, r);
}

/* Ends v's exchange at once with err and detail (nothing was sent, or it cannot be). */
static inline void tp_fail_now(struct vu *v, enum ls_errclass err, const char *detail)
{
    struct xfer_result r = {.err = err};
    snprintf(r.detail, sizeof(r.detail), "%s", detail);
    tp_reply(v, &r);
}

static inline void tp_event(struct engine *e, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void tp_event(struct engine *e, const char *kind, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    e->hooks->event(e, kind, msg);
}

#endif
