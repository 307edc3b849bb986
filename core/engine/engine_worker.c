/*
 * engine_worker: the worker threads.
 *
 * Owns each worker's set-up and teardown (its ring, its VUs and their
 * request buffers, its epoll set, and the transport of each slot, chosen
 * from the table below), its event loop, the open-loop schedule that hands
 * send times to idle VUs (wrk2-style), and the way a worker stops: no new
 * requests, idle sessions ended, in-flight ones finished or, once the grace
 * period is over, dropped. The loop calls transports only through their
 * rows: readiness through the epoll tag's handler, timers through tick and
 * next_deadline; what a VU does is engine_vu.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine_int.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
#define HEARTBEAT_NS (50 * NS_PER_MS) /* longest sleep: keeps the collector's clock moving */

/*
 * The transports, in the order they are asked: the first row of a slot
 * that wants the scenario serves it (the native HTTP/1.1 client before
 * libcurl: it wants plain http:// unless the scenario asks for curl).
 * Adding a transport is a row here and its own file.
 */
static const struct transport_ops *const transports[] = {&tp_stdio, &tp_h1, &tp_curl, &tp_aws};

void worker_pick_transports(struct engine *e)
{
    for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++) {
        const struct transport_ops *t = transports[i];
        if (!e->tp_ops[t->slot] && t->wanted(e->s))
            e->tp_ops[t->slot] = t;
    }
}

/* ---------------------------------------------------------------- set-up */

ls_err worker_setup(struct engine *e, struct worker *w, uint32_t first_vu, uint32_t nvu,
                    char *err, size_t errcap)
{
    const struct scenario *s = e->s;
    w->e = e;
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

    for (uint32_t i = 0; i < nvu; i++) {
        struct vu *v = &w->vus[i];
        v->w = w;
        v->id = first_vu + i;
        /* Without an MCP transport (AWS steps only) there is no handshake. */
        v->phase = e->tp_ops[TP_MCP] ? VU_NEED_INIT : VU_READY;
    }
    ls_err rc;
    for (int slot = 0; slot < TP__SLOTS; slot++) {
        const struct transport_ops *t = e->tp_ops[slot];
        if (!t)
            continue;
        w->tp_ops[slot] = t;
        if (t->on_event && !eng_ev_tag(w, t->on_event)) {
            snprintf(err, errcap, "more event handlers than epoll tags");
            return LS_ERR_INTERNAL;
        }
        if (t->worker_open) {
            rc = t->worker_open(w, err, errcap);
            if (rc != LS_OK)
                return rc;
        }
    }
    size_t cap = vu_request_capacity(s);
    for (uint32_t i = 0; i < nvu; i++) {
        struct vu *v = &w->vus[i];
        v->req_cap = cap;
        v->req = malloc(cap);
        if (!v->req)
            return LS_ERR_NOMEM;
        for (int slot = 0; slot < TP__SLOTS; slot++) {
            const struct transport_ops *t = w->tp_ops[slot];
            if (t && t->vu_open) {
                rc = t->vu_open(v, err, errcap);
                if (rc != LS_OK)
                    return rc;
            }
        }
    }
    return LS_OK;
}

void worker_free(struct worker *w)
{
    for (int slot = 0; slot < TP__SLOTS; slot++) {
        const struct transport_ops *t = w->tp_ops[slot];
        for (uint32_t i = 0; t && t->vu_close && i < w->nvu; i++)
            t->vu_close(&w->vus[i]);
    }
    for (int slot = 0; slot < TP__SLOTS; slot++) {
        const struct transport_ops *t = w->tp_ops[slot];
        if (t && t->worker_close)
            t->worker_close(w);
    }
    for (uint32_t i = 0; i < w->nvu; i++)
        free(w->vus[i].req);
    free(w->vus);
    free(w->ring.slots);
    if (w->epfd > 0)
        close(w->epfd);
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
        vu_scheduled(v);
    }
}

static uint64_t next_wake(struct worker *w, uint64_t now)
{
    uint64_t wake = now + HEARTBEAT_NS;
    for (int slot = 0; slot < TP__SLOTS; slot++) {
        const struct transport_ops *t = w->tp_ops[slot];
        if (t && t->next_deadline) {
            uint64_t d = t->next_deadline(w);
            if (d < wake)
                wake = d;
        }
    }
    if (w->e->s->model == SCN_OPEN && !w->stopping && w->free_list && w->next_intended_ns < wake)
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

static void cancel_all(struct worker *w)
{
    for (int slot = 0; slot < TP__SLOTS; slot++) {
        const struct transport_ops *t = w->tp_ops[slot];
        if (t && t->cancel_all)
            t->cancel_all(w);
    }
}

static void tick(struct worker *w, uint64_t now)
{
    for (int slot = 0; slot < TP__SLOTS; slot++) {
        const struct transport_ops *t = w->tp_ops[slot];
        if (t && t->tick)
            t->tick(w, now);
    }
}

/* ----------------------------------------------------------- the loop */

void *worker_main(void *arg)
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
            cancel_all(w);
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
            if (tag < EV_TAGS_MAX && w->ev_fn[tag])
                w->ev_fn[tag](w, val, evs[i].events);
        }
        vu_run_deferred(w);
        tick(w, eng_now(e));
    }
    atomic_store_explicit(&w->heartbeat_ns, UINT64_MAX, memory_order_release);
    return NULL;
}
