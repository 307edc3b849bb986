/*
 * engine_int: what the engine's parts (control, HTTP, stdio) share.
 * Not a public header: only core/engine*.c include it.
 */
#ifndef LS_ENGINE_INT_H
#define LS_ENGINE_INT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/clock.h"
#include "engine/engine.h"
#include "proto/jsonrpc.h"
#include "target/proc.h"
#include "stats/ring.h"
#include "proto/sse.h"
#include "scenario/template.h"

/* epoll tags: the top byte of epoll_event.data.u64 says what woke us. */
#define EV_TAG_SHIFT 56
#define EV_CURL 1ull   /* low bits: the socket */
#define EV_STDOUT 2ull /* low bits: index of the stdio connection in its worker */
#define EV_STDIN 3ull
#define EV_H1 4ull     /* low bits: index of the VU in its worker (native HTTP/1.1 client) */

#define RING_CAPACITY (1u << 15)

enum vu_phase {
    VU_NEED_INIT = 0, /* must run the MCP handshake before calling */
    VU_WAIT_CONN,     /* stdio shared: another VU is running the process's handshake */
    VU_INIT,          /* initialize sent */
    VU_NOTIFY,        /* notifications/initialized sent (HTTP: awaiting 202) */
    VU_READY,         /* may call */
    VU_CALL,          /* a step's request is in flight */
    VU_DELETE,        /* HTTP DELETE of the session in flight */
    VU_DONE,          /* finished: no more requests */
};

/* How one exchange went, filled by a transport before vu_on_reply(). */
struct xfer_result {
    enum ls_errclass err;
    uint16_t status;
    int32_t rpc_code;
    uint32_t bytes_in, bytes_out;
    uint32_t dns_us, connect_us, tls_us, ttfb_us;
    bool new_conn;
    char detail[200];     /* for the event log when err != OK */
    /* AWS steps (engine_aws.c); 0 for MCP */
    uint16_t attempts, retries, followups, aws_code;
    uint32_t backoff_us, last_try_us;
};

struct stdio_conn;
struct worker;
struct aws_vu;
struct aws_worker;
struct aws_engine;
struct h1_vu;
struct h1_worker;

struct vu {
    struct worker *w;
    uint32_t id;              /* global virtual user / slot number */
    enum vu_phase phase;
    struct vu *next_free;     /* open loop: idle list */
    struct vu *next_waiter;   /* stdio: waiting for its connection's handshake */

    /* the exchange in flight */
    uint16_t step;
    uint32_t seq;
    uint64_t intended_ns, start_ns, init_start_ns;
    bool warmup, late;
    bool in_flight;
    bool pending_call;        /* open loop: dispatched; call once the handshake is done */
    bool has_session;         /* HTTP: a session id (or stateless) is established */
    int64_t rpc_id;
    uint64_t deadline_ns;     /* stdio request timeout */
    struct xfer_result init_res; /* the initialize exchange, reported with the handshake */
    struct xfer_result deferred_res; /* a reply waiting for the next loop turn (see vu_on_reply) */
    struct vu *next_deferred;

    char *req;                /* request body buffer, sized once */
    size_t req_cap, req_len;

    /* MCP over HTTP */
    CURL *easy;
    struct curl_slist *headers;
    char session_id[256];
    char proto[32];           /* negotiated protocol revision */
    char *resp;
    size_t resp_len, resp_cap;
    bool resp_is_sse;
    struct sse_parser *sse;
    bool reply_seen;          /* the matching JSON-RPC reply was found */
    struct xfer_result res;   /* classification of the reply so far */
    char errbuf[CURL_ERROR_SIZE];
    struct h1_vu *h1;         /* native HTTP/1.1 client state; NULL with libcurl */

    /* MCP over stdio */
    struct stdio_conn *conn;

    struct aws_vu *aws;       /* AWS steps' own easy handle and state; NULL without AWS steps */
};

struct stdio_conn {
    struct worker *w;
    uint32_t index;
    struct ls_proc *proc;
    int in_fd, out_fd;
    char *wbuf;
    size_t wlen, woff, wcap;
    bool want_out;            /* EPOLLOUT registered */
    char *rbuf;
    size_t rlen, rcap;
    struct jsonrpc_pending *pending;
    int64_t next_id;
    bool ready;               /* the process's handshake is done */
    bool initializing;
    bool dead;
    struct vu *waiters;
    uint64_t notifications, server_requests;
};

struct worker {
    struct engine *e;
    uint16_t index;
    pthread_t thread;
    int epfd;
    CURLM *multi;
    uint64_t curl_deadline_ns;  /* UINT64_MAX: no curl timer */
    struct vu *vus;
    uint32_t nvu;
    struct vu *free_list;       /* open loop: ready, idle VUs */
    struct stdio_conn *conns;
    uint32_t nconn;
    struct ls_ring ring;
    _Atomic uint64_t heartbeat_ns;
    _Atomic uint64_t in_flight;
    struct tmpl_rng rng;
    uint32_t seq;
    uint64_t next_intended_ns;  /* open loop schedule */
    uint64_t ring_full_waits;
    uint32_t events_by_class[LS_EC__COUNT];
    bool stopping;              /* no new requests */
    uint64_t last_timeout_scan_ns;
    uint32_t reply_depth;       /* vu_on_reply calls on the stack right now */
    struct vu *deferred_head;   /* replies handed over too deep in the stack: FIFO */
    struct vu *deferred_tail;
    struct aws_worker *aws;     /* AWS steps: backoff timers, counters; NULL without */
    struct h1_worker *h1;       /* native HTTP/1.1 client; NULL with libcurl */
};

struct engine {
    const struct scenario *s;
    struct engine_opts o;
    struct engine_callbacks cb;
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
    char *resolved_cwd;
    struct aws_engine *aws;     /* AWS configuration and endpoints; NULL without AWS */
};

static inline uint64_t eng_now(const struct engine *e)
{
    return ls_now_ns() - e->t0_ns;
}

/* engine.c */
void eng_event(struct engine *e, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void vu_on_reply(struct vu *v, struct xfer_result *r);
void vu_fail_now(struct vu *v, enum ls_errclass err, const char *detail);
long eng_build_request(struct vu *v, int64_t id, char *buf, size_t cap);
enum ls_errclass eng_classify(struct vu *v, const struct jsonrpc_msg *m, struct xfer_result *r);

/* engine_http.c */
/* The error class of a failed libcurl transfer (MCP and AWS alike). */
enum ls_errclass http_curl_class(CURLcode result);
/* The options every libcurl handle of a VU gets (MCP and AWS alike). */
void http_easy_setup(CURL *c, struct vu *v, curl_write_callback body_fn, char *errbuf);
LS_MUST_CHECK ls_err http_worker_init(struct worker *w);
LS_MUST_CHECK ls_err http_vu_init(struct vu *v);
void http_vu_free(struct vu *v);
void http_worker_free(struct worker *w);
void http_send(struct vu *v);           /* sends per v->phase: INIT, NOTIFY, CALL, DELETE */
void http_on_socket(struct worker *w, int fd, uint32_t events);
void http_on_timeout(struct worker *w);
void http_abort_all(struct worker *w);
/* Shared by the libcurl and native clients: reply buffers, body bytes, classification. */
LS_MUST_CHECK ls_err http_reply_open(struct vu *v);
void http_reply_reset(struct vu *v);
bool http_body_bytes(struct vu *v, const char *buf, size_t len);
void http_classify(struct vu *v, long status, struct xfer_result *r);

/* engine_h1.c: the native HTTP/1.1 client for plain http:// targets */
bool h1_wanted(const struct scenario *s);
LS_MUST_CHECK ls_err h1_worker_init(struct worker *w, char *err, size_t errcap);
LS_MUST_CHECK ls_err h1_vu_init(struct vu *v);
void h1_worker_free(struct worker *w);
void h1_send(struct vu *v);             /* sends per v->phase, as http_send */
void h1_on_event(struct worker *w, uint32_t vu_index, uint32_t events);
void h1_check_timeouts(struct worker *w, uint64_t now);
uint64_t h1_next_deadline(const struct worker *w); /* UINT64_MAX when nothing is in flight */
void h1_abort_all(struct worker *w);

/* engine_aws.c: AWS steps on the worker's libcurl multi handle, and the setup phase */
LS_MUST_CHECK ls_err aws_engine_prepare(struct engine *e, char *err, size_t errcap); /* config + setup */
void aws_engine_free(struct engine *e);
LS_MUST_CHECK ls_err aws_worker_init(struct worker *w); /* after the VUs exist */
void aws_worker_free(struct worker *w);
void aws_start(struct vu *v);           /* runs v->step, an AWS step (phase VU_CALL) */
bool aws_owns(CURL *easy);              /* the easy handle belongs to an AWS step */
void aws_on_done(struct worker *w, CURL *easy, CURLcode result);
void aws_on_tick(struct worker *w, uint64_t now); /* sends retries whose backoff is over */
uint64_t aws_next_deadline(const struct worker *w); /* UINT64_MAX: no backoff pending */
void aws_abort_all(struct worker *w);

/* engine_stdio.c */
LS_MUST_CHECK ls_err stdio_conn_open(struct worker *w, struct stdio_conn *c, char *err, size_t errcap);
void stdio_conn_free(struct stdio_conn *c);
void stdio_send(struct vu *v);          /* sends per v->phase: INIT, NOTIFY, CALL */
void stdio_on_readable(struct stdio_conn *c);
void stdio_on_writable(struct stdio_conn *c);
void stdio_scan_timeouts(struct worker *w, uint64_t now);
void stdio_conn_died(struct stdio_conn *c, const char *why);

#endif
