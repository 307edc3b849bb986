/*
 * collector: draining the workers' rings into per-second histograms.
 */
#include "stats/collector.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COLL_SLOTS 4 /* seconds open at once; workers lag by well under one */
#define NS_PER_S 1000000000ull

struct coll_step {
    struct hdr *corrected;   /* allocated on first use, reset for reuse */
    struct hdr *uncorrected;
    uint64_t count, errors, late;
    uint64_t dns_us, connect_us, tls_us, ttfb_us, transfer_us, new_conns; /* sums */
    uint64_t err_by_class[LS_EC__COUNT];
};

struct coll_slot {
    bool open;
    uint32_t second;
    struct coll_step *steps; /* nsteps + 2: steps, initialize, all */
};

struct collector {
    uint32_t nsteps;
    uint64_t warmup_ns;
    const struct coll_source *sources;
    size_t nsources;
    struct coll_sink sink;

    struct coll_slot slots[COLL_SLOTS];
    uint32_t next_to_close;  /* lowest second not yet reported */

    struct coll_step *totals; /* nsteps + 2, measured part only */
    uint64_t (*err_by_class)[LS_EC__COUNT];

    pthread_t thread;
    bool started;
    _Atomic bool stop;
    _Atomic uint64_t seen;
};

static size_t all_index(const struct collector *c)
{
    return c->nsteps + 1;
}

static ls_err step_ready(struct coll_step *st)
{
    if (st->corrected)
        return LS_OK;
    ls_err rc = hdr_open_latency(&st->corrected);
    if (rc == LS_OK)
        rc = hdr_open_latency(&st->uncorrected);
    return rc;
}

ls_err collector_open(uint32_t nsteps, uint64_t warmup_ns, const struct coll_source *sources,
                      size_t nsources, const struct coll_sink *sink, struct collector **out)
{
    struct collector *c = calloc(1, sizeof(*c));
    *out = NULL;
    if (!c)
        return LS_ERR_NOMEM;
    c->nsteps = nsteps;
    c->warmup_ns = warmup_ns;
    c->sources = sources;
    c->nsources = nsources;
    c->sink = *sink;
    c->totals = calloc(nsteps + 2, sizeof(*c->totals));
    c->err_by_class = calloc(nsteps + 2, sizeof(*c->err_by_class));
    if (!c->totals || !c->err_by_class)
        goto nomem;
    for (size_t i = 0; i < nsteps + 2; i++) {
        if (step_ready(&c->totals[i]) != LS_OK)
            goto nomem;
    }
    for (int s = 0; s < COLL_SLOTS; s++) {
        c->slots[s].steps = calloc(nsteps + 2, sizeof(struct coll_step));
        if (!c->slots[s].steps)
            goto nomem;
    }
    *out = c;
    return LS_OK;
nomem:
    collector_close(c);
    return LS_ERR_NOMEM;
}

/* Reports second `slot->second` and frees the slot for reuse. */
static void close_slot(struct collector *c, struct coll_slot *slot)
{
    bool warm = (uint64_t)slot->second * NS_PER_S < c->warmup_ns;
    for (size_t i = 0; i < c->nsteps + 2; i++) {
        struct coll_step *st = &slot->steps[i];
        bool all = i == all_index(c);
        if (!all && st->count == 0)
            continue;
        if (all && step_ready(st) != LS_OK)
            continue; /* out of memory: nothing recorded into it either */
        struct coll_interval iv = {
            .second = slot->second,
            .step = all ? -1 : (int32_t)i,
            .warmup = warm,
            .count = st->count,
            .errors = st->errors,
            .late = st->late,
            .corrected = st->corrected,
            .uncorrected = st->uncorrected,
            .dns_us = st->dns_us,
            .connect_us = st->connect_us,
            .tls_us = st->tls_us,
            .ttfb_us = st->ttfb_us,
            .transfer_us = st->transfer_us,
            .new_conns = st->new_conns,
        };
        memcpy(iv.err_by_class, st->err_by_class, sizeof(iv.err_by_class));
        if (c->sink.interval)
            c->sink.interval(c->sink.ctx, &iv);
        if (st->corrected) {
            hdr_reset(st->corrected);
            hdr_reset(st->uncorrected);
        }
        st->count = st->errors = st->late = 0;
        st->dns_us = st->connect_us = st->tls_us = st->ttfb_us = st->transfer_us = 0;
        st->new_conns = 0;
        memset(st->err_by_class, 0, sizeof(st->err_by_class));
    }
    slot->open = false;
}

/* Closes, in order, every second before `second`. */
static void close_before(struct collector *c, uint32_t second)
{
    while (c->next_to_close < second) {
        struct coll_slot *slot = &c->slots[c->next_to_close % COLL_SLOTS];
        if (!slot->open) {
            slot->open = true;
            slot->second = c->next_to_close;
        }
        close_slot(c, slot);
        c->next_to_close++;
    }
}

static void add_to(struct coll_step *st, const struct ls_sample *s, int64_t corr_us, int64_t unc_us)
{
    if (step_ready(st) != LS_OK)
        return;
    hdr_record(st->corrected, corr_us);
    hdr_record(st->uncorrected, unc_us);
    st->count++;
    if (s->err != LS_EC_OK) {
        st->errors++;
        st->err_by_class[s->err < LS_EC__COUNT ? s->err : LS_EC_OTHER]++;
    }
    if (s->flags & LS_SF_LATE)
        st->late++;
    /* Phases: what DNS, connect, TLS and the first byte leave of the latency is transfer. */
    uint64_t before = (uint64_t)s->dns_us + s->connect_us + s->tls_us + s->ttfb_us;
    uint64_t lat_us = (uint64_t)unc_us;
    st->dns_us += s->dns_us;
    st->connect_us += s->connect_us;
    st->tls_us += s->tls_us;
    st->ttfb_us += s->ttfb_us;
    st->transfer_us += lat_us > before ? lat_us - before : 0;
    if (s->flags & LS_SF_NEW_CONN)
        st->new_conns++;
}

static void record(struct collector *c, const struct ls_sample *s)
{
    uint32_t second = (uint32_t)(s->end_ns / NS_PER_S);
    /* A straggler for a second already reported joins the oldest open one. */
    if (second < c->next_to_close)
        second = c->next_to_close;
    /* Keep at most COLL_SLOTS seconds open: a sample far ahead closes the oldest. */
    if (second >= c->next_to_close + COLL_SLOTS)
        close_before(c, second - COLL_SLOTS + 1);
    struct coll_slot *slot = &c->slots[second % COLL_SLOTS];
    if (!slot->open) {
        slot->open = true;
        slot->second = second;
    }
    size_t idx = s->step < c->nsteps ? s->step : c->nsteps;
    int64_t corr_us = (int64_t)((ls_sample_corrected_ns(s) + 500) / 1000);
    int64_t unc_us = (int64_t)((ls_sample_latency_ns(s) + 500) / 1000);
    add_to(&slot->steps[idx], s, corr_us, unc_us);
    if (idx < c->nsteps)
        add_to(&slot->steps[all_index(c)], s, corr_us, unc_us);
    if (!(s->flags & LS_SF_WARMUP)) {
        add_to(&c->totals[idx], s, corr_us, unc_us);
        c->err_by_class[idx][s->err < LS_EC__COUNT ? s->err : LS_EC_OTHER]++;
        if (idx < c->nsteps) {
            add_to(&c->totals[all_index(c)], s, corr_us, unc_us);
            c->err_by_class[all_index(c)][s->err < LS_EC__COUNT ? s->err : LS_EC_OTHER]++;
        }
    }
}

/* One pass: drain every ring, then close the seconds every worker has left behind. */
static void drain(struct collector *c, bool final)
{
    uint64_t min_hb = UINT64_MAX;
    for (size_t i = 0; i < c->nsources; i++) {
        uint64_t hb = atomic_load_explicit(c->sources[i].heartbeat_ns, memory_order_acquire);
        if (hb < min_hb)
            min_hb = hb;
    }
    for (size_t i = 0; i < c->nsources; i++) {
        struct ls_ring *r = c->sources[i].ring;
        for (;;) {
            size_t n;
            const struct ls_sample *s = ls_ring_peek(r, &n);
            if (n == 0)
                break;
            for (size_t k = 0; k < n; k++)
                record(c, &s[k]);
            if (c->sink.samples)
                c->sink.samples(c->sink.ctx, s, n);
            atomic_fetch_add_explicit(&c->seen, n, memory_order_relaxed);
            ls_ring_release(r, n);
        }
    }
    if (final) {
        uint32_t last = c->next_to_close;
        for (int s = 0; s < COLL_SLOTS; s++) {
            if (c->slots[s].open && c->slots[s].second + 1 > last)
                last = c->slots[s].second + 1;
        }
        close_before(c, last);
    } else if (min_hb != UINT64_MAX) {
        close_before(c, (uint32_t)(min_hb / NS_PER_S));
    }
}

static void *collector_main(void *arg)
{
    struct collector *c = arg;
    struct timespec tick = {0, 10 * 1000 * 1000};
    while (!atomic_load_explicit(&c->stop, memory_order_acquire)) {
        drain(c, false);
        nanosleep(&tick, NULL);
    }
    return NULL;
}

ls_err collector_start(struct collector *c)
{
    if (pthread_create(&c->thread, NULL, collector_main, c) != 0)
        return LS_ERR_NOMEM;
    c->started = true;
    return LS_OK;
}

void collector_finish(struct collector *c)
{
    if (c->started) {
        atomic_store_explicit(&c->stop, true, memory_order_release);
        pthread_join(c->thread, NULL);
        c->started = false;
    }
    drain(c, true);
}

void collector_totals(const struct collector *c, int step, struct coll_totals *out)
{
    size_t idx = step < 0 ? all_index(c) : (size_t)step;
    memset(out, 0, sizeof(*out));
    if (idx > all_index(c))
        return;
    const struct coll_step *st = &c->totals[idx];
    out->count = st->count;
    out->errors = st->errors;
    out->late = st->late;
    memcpy(out->err_by_class, c->err_by_class[idx], sizeof(out->err_by_class));
    out->corrected = st->corrected;
    out->uncorrected = st->uncorrected;
}

uint64_t collector_seen(const struct collector *c)
{
    return atomic_load_explicit(&c->seen, memory_order_relaxed);
}

static void step_free(struct coll_step *st)
{
    hdr_close(st->corrected);
    hdr_close(st->uncorrected);
}

void collector_close(struct collector *c)
{
    if (!c)
        return;
    if (c->started)
        collector_finish(c);
    for (int s = 0; s < COLL_SLOTS; s++) {
        if (c->slots[s].steps) {
            for (size_t i = 0; i < c->nsteps + 2; i++)
                step_free(&c->slots[s].steps[i]);
            free(c->slots[s].steps);
        }
    }
    if (c->totals) {
        for (size_t i = 0; i < c->nsteps + 2; i++)
            step_free(&c->totals[i]);
    }
    free(c->totals);
    free(c->err_by_class);
    free(c);
}
