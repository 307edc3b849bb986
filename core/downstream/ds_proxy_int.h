/*
 * ds_proxy_int: one service's proxy, shared by its three files: ds_proxy.c
 * (the loop and the target's side), ds_plain.c (http:// upstreams) and
 * ds_tls.c (https:// upstreams through libcurl). Everything here is owned by
 * the proxy's thread; only the tally is read from elsewhere (atomics).
 */
#ifndef LS_DS_PROXY_INT_H
#define LS_DS_PROXY_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "downstream/ds_int.h"
#include "proto/h1.h"
#include "proto/h1req.h"

#define DS_BODY_MAX (1ull << 30)        /* largest request body taken (1 GiB) */
#define DS_CAPTURE_BATCH (32u << 20)    /* batch reply bytes kept for counting */
#define DS_CAPTURE_ERROR (64u << 10)    /* error reply bytes kept for the code */
#define DS_RELAY_HIGH (4u << 20)        /* reply bytes queued to the target before pausing upstream */
#define DS_UPSTREAM_TIMEOUT_NS (120ull * 1000000000ull)
#define DS_IDLE_UPSTREAM_MAX 64         /* kept-alive upstream connections per proxy */

/* What an epoll registration points at: the first member of each watched object. */
enum ds_evkind { DS_EV_LISTEN = 1, DS_EV_WAKE, DS_EV_TARGET, DS_EV_UP, DS_EV_CURL };
struct ds_ev {
    uint8_t kind;
};

enum ds_tstate {
    DS_T_IDLE = 0,   /* between requests */
    DS_T_READ,       /* a request is arriving */
    DS_T_DELAY,      /* complete, waiting out an injected latency */
    DS_T_UPSTREAM,   /* forwarded; the reply is on its way */
    DS_T_REPLY,      /* the whole reply is queued in out */
};

struct ds_uconn;
struct ds_easy;

/* A connection the target opened to the proxy, and the call it carries. */
struct ds_tconn {
    struct ds_ev ev;             /* DS_EV_TARGET */
    int fd;                      /* -1 once closed (the object waits in the graveyard) */
    struct ds_tconn *prev, *next;
    struct ds_buf in;            /* the current request from its first byte (and any after it) */
    struct ds_buf out;           /* reply bytes not yet written */
    struct h1req req;
    enum ds_tstate state;
    uint32_t events;             /* epoll interest registered */
    uint32_t requests;           /* requests begun on this connection */
    bool sent_continue;          /* the proxy answered "100 Continue" itself */
    bool close_after;            /* close once the reply is out */
    bool peer_closed;
    bool is_head;                /* HEAD: the reply has no body whatever its length says */
    bool capture;                /* keep the reply body (batch call or error) */
    bool reply_started;          /* reply bytes have been queued for this call */
    bool reply_done;             /* the whole reply is queued */
    bool up_retried;             /* a reused upstream connection failed once already */
    bool paced;                  /* the upstream is paused until out drains */
    bool doomed;                 /* a bad request: close once out drains, record nothing */
    enum ds_fault fault;
    uint64_t t0_ns;              /* first byte of the request */
    uint64_t up_t0_ns;           /* sent upstream */
    uint64_t wake_ns;            /* DELAY: when to forward; UPSTREAM: when to give up */
    uint64_t out_bytes;          /* reply bytes queued for this call */
    size_t cap_max;
    struct ds_buf cap;           /* the reply body kept (capture) */
    struct ds_done done;         /* the call being recorded */
    struct ds_uconn *up;         /* http:// upstream in use */
    struct ds_easy *easy;        /* https:// transfer in use */
};

struct ds_proxy {
    struct ds_ev ev_listen;      /* DS_EV_LISTEN */
    struct ds_ev ev_wake;        /* DS_EV_WAKE */
    struct downstream *d;
    enum aws_service svc;
    const struct ds_upstream *up;
    int epfd, lfd, wakefd;
    uint16_t port;
    pthread_t thread;
    bool started;
    _Atomic int stopping;
    _Atomic uint64_t stop_deadline_ns;
    struct ds_faulter faults;
    struct ds_tconn *conns;      /* every open target connection */
    size_t nconns;

    /* http:// upstream */
    struct sockaddr_storage up_addr;
    socklen_t up_addrlen;
    struct ds_uconn *idle;       /* kept-alive upstream connections, most recent first */
    size_t nidle;

    /* https:// upstream */
    void *multi;                 /* CURLM * */
    struct ds_easy *free_easy;
    uint64_t curl_deadline_ns;

    struct ds_ev **grave;        /* closed objects, freed after the current batch of events */
    size_t ngrave, capgrave;

    /* counted as it happens; read by any thread */
    _Atomic uint64_t t_calls, t_forwarded, t_conns, t_up_errors, t_bad;
    _Atomic uint64_t t_faults[DS_FAULT__COUNT];

    char scratch[1 << 16];       /* read buffer of the loop */
};

/* ---- ds_proxy.c, for the upstream halves ---- */

/* Queues reply bytes for the target (relayed as they arrive); false when out of memory. */
bool ds_reply_bytes(struct ds_proxy *p, struct ds_tconn *t, const char *b, size_t n);
/* The reply is complete: upstream status, whether the upstream part failed. */
void ds_reply_done(struct ds_proxy *p, struct ds_tconn *t, uint16_t status);
/*
 * The upstream failed: answers 502 (504 on a timeout) when nothing of the
 * reply was sent yet, else closes the target's connection after what was.
 */
void ds_upstream_failed(struct ds_proxy *p, struct ds_tconn *t, bool timeout, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Writes what is queued for the target; may finish the call. */
void ds_tconn_flush(struct ds_proxy *p, struct ds_tconn *t);
/*
 * Queues a closed object (its fd already closed) to be freed once the current
 * batch of events is handled: a later event of the batch may still name it.
 */
void ds_bury(struct ds_proxy *p, struct ds_ev *ev);
/* Frees a buried upstream object (ds_plain.c, ds_tls.c); false when kind is not theirs. */
bool ds_plain_free(struct ds_ev *ev);
bool ds_tls_free(struct ds_ev *ev);
/* Sets the epoll interest of fd (0 removes it); tag is the watched object. */
void ds_watch(struct ds_proxy *p, int fd, struct ds_ev *tag, uint32_t *current, uint32_t want);

/* ---- ds_plain.c, ds_tls.c ---- */

/* Starts forwarding the complete request of t to the plain upstream. */
void ds_plain_forward(struct ds_proxy *p, struct ds_tconn *t);
/* t is going away: detach it from the upstream connection it uses. */
void ds_plain_abandon(struct ds_proxy *p, struct ds_tconn *t);

/* Sets up libcurl for the proxy (https upstream). */
LS_MUST_CHECK ls_err ds_tls_open(struct ds_proxy *p, char *err, size_t errcap);
void ds_tls_close(struct ds_proxy *p);
/* Re-signs and sends the complete request of t; the reply comes back through ds_proxy_reply. */
void ds_tls_forward(struct ds_proxy *p, struct ds_tconn *t);
void ds_tls_abandon(struct ds_proxy *p, struct ds_tconn *t);
/* An event on a libcurl socket (its tag from the epoll data); drives the multi. */
void ds_tls_socket(struct ds_proxy *p, struct ds_ev *ev, uint32_t events);
void ds_tls_timeout(struct ds_proxy *p);
/* When libcurl wants to be called next (ls_now_ns clock), UINT64_MAX for never. */
uint64_t ds_tls_deadline(const struct ds_proxy *p);


/* An event on an upstream connection. */
void ds_plain_event(struct ds_proxy *p, struct ds_ev *ev, uint32_t events);
/* Closes every idle upstream connection. */
void ds_plain_close_idle(struct ds_proxy *p);
/* Reading from the upstream may go on (the target's queue drained) or must pause. */
void ds_plain_pace(struct ds_proxy *p, struct ds_tconn *t, bool pause);
LS_MUST_CHECK ls_err ds_plain_open(struct ds_proxy *p, char *err, size_t errcap);

#endif
