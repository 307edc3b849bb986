/*
 * live: the shared model of a run being watched (see live.h).
 *
 * One mutex guards the model. The collector holds it while it adds one
 * interval (a histogram merge of the second's buckets, microseconds); the
 * reader holds it while it copies, and copies the histograms only when the
 * generation moved, so a dashboard refreshing ten times a second takes the
 * lock for a bulk copy about once a second.
 */
#include "stats/live.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"

struct live {
    pthread_mutex_t lock;
    struct live_info info;        /* strings owned */
    char **names;                 /* nsteps + 2 step names, owned */
    size_t nsteps_total;

    uint64_t generation;
    enum live_state state;
    uint64_t start_ns;            /* monotonic, live_start; 0: replay clock */
    uint64_t end_ns;              /* monotonic when the state became DONE (live) */
    uint64_t elapsed_ns;          /* replay position */
    uint64_t (*in_flight)(void *ctx);
    void *in_flight_ctx;

    uint32_t seconds_closed;
    uint64_t run_count, run_errors, run_late;
    struct hdr *run_corrected;
    struct live_step *steps;

    struct live_second *history;  /* ring of LIVE_HISTORY_S */
    size_t hist_head, hist_n;     /* next slot to write, entries used */

    struct live_event *events;    /* ring of LIVE_EVENTS */
    size_t ev_head, ev_n;
    uint64_t events_dropped;
    uint64_t merge_errors;        /* histogram merges refused (a configuration mismatch: a bug) */
};

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static ls_err steps_alloc(struct live_step **out, size_t n, char *const *names)
{
    struct live_step *st = calloc(n, sizeof(*st));
    *out = st;
    if (!st)
        return LS_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        st[i].name = names ? names[i] : NULL;
        if (hdr_open_latency(&st[i].corrected) != LS_OK ||
            hdr_open_latency(&st[i].uncorrected) != LS_OK)
            return LS_ERR_NOMEM;
    }
    return LS_OK;
}

static void steps_free(struct live_step *st, size_t n)
{
    if (!st)
        return;
    for (size_t i = 0; i < n; i++) {
        hdr_close(st[i].corrected);
        hdr_close(st[i].uncorrected);
    }
    free(st);
}

ls_err live_open(const struct live_info *info, struct live **out)
{
    ls_err rc = LS_ERR_NOMEM;
    struct live *lv = calloc(1, sizeof(*lv));
    *out = NULL;
    if (!lv)
        return LS_ERR_NOMEM;
    pthread_mutex_init(&lv->lock, NULL);
    lv->info = *info;
    lv->info.scenario = dup_or_empty(info->scenario);
    lv->info.target = dup_or_empty(info->target);
    lv->info.load = dup_or_empty(info->load);
    lv->info.step_names = NULL;
    lv->nsteps_total = (size_t)info->nsteps + 2;
    lv->names = calloc(lv->nsteps_total, sizeof(char *));
    if (!lv->info.scenario || !lv->info.target || !lv->info.load || !lv->names)
        goto fail;
    for (size_t i = 0; i < info->nsteps; i++) {
        lv->names[i] = dup_or_empty(info->step_names ? info->step_names[i] : NULL);
        if (!lv->names[i])
            goto fail;
    }
    lv->names[info->nsteps] = strdup("initialize");
    lv->names[info->nsteps + 1] = strdup("ALL STEPS");
    if (!lv->names[info->nsteps] || !lv->names[info->nsteps + 1])
        goto fail;
    lv->info.step_names = (const char *const *)lv->names;
    if (steps_alloc(&lv->steps, lv->nsteps_total, lv->names) != LS_OK ||
        hdr_open_latency(&lv->run_corrected) != LS_OK)
        goto fail;
    lv->history = calloc(LIVE_HISTORY_S, sizeof(*lv->history));
    lv->events = calloc(LIVE_EVENTS, sizeof(*lv->events));
    if (!lv->history || !lv->events)
        goto fail;
    *out = lv;
    return LS_OK;
fail:
    live_close(lv);
    return rc;
}

void live_close(struct live *lv)
{
    if (!lv)
        return;
    steps_free(lv->steps, lv->nsteps_total);
    hdr_close(lv->run_corrected);
    if (lv->names) {
        for (size_t i = 0; i < lv->nsteps_total; i++)
            free(lv->names[i]);
    }
    free(lv->names);
    free((char *)(uintptr_t)lv->info.scenario);
    free((char *)(uintptr_t)lv->info.target);
    free((char *)(uintptr_t)lv->info.load);
    free(lv->history);
    free(lv->events);
    pthread_mutex_destroy(&lv->lock);
    free(lv);
}

void live_reset(struct live *lv)
{
    pthread_mutex_lock(&lv->lock);
    for (size_t i = 0; i < lv->nsteps_total; i++) {
        struct live_step *st = &lv->steps[i];
        hdr_reset(st->corrected);
        hdr_reset(st->uncorrected);
        st->count = st->errors = st->late = 0;
        memset(st->err_by_class, 0, sizeof(st->err_by_class));
        memset(&st->phases, 0, sizeof(st->phases));
        st->has_last = false;
        memset(&st->last, 0, sizeof(st->last));
    }
    hdr_reset(lv->run_corrected);
    lv->run_count = lv->run_errors = lv->run_late = 0;
    lv->seconds_closed = 0;
    lv->hist_head = lv->hist_n = 0;
    lv->ev_head = lv->ev_n = 0;
    lv->events_dropped = 0;
    lv->state = LIVE_STARTING;
    lv->generation++;
    pthread_mutex_unlock(&lv->lock);
}

/* Index into steps for a reported step number (-1: all). */
static size_t step_slot(const struct live *lv, int32_t step)
{
    if (step < 0)
        return lv->nsteps_total - 1;
    if ((size_t)step >= lv->nsteps_total - 1)
        return lv->nsteps_total - 2; /* the handshake */
    return (size_t)step;
}

/* What every interval does to the model, whichever way its histograms arrive. Lock held. */
static void add_counts(struct live *lv, struct live_step *st, const struct live_second *sec,
                       int32_t step)
{
    if (!sec->warmup) {
        st->count += sec->count;
        st->errors += sec->errors;
        st->late += sec->late;
    }
    if (sec->count > 0 || step < 0) {
        st->has_last = true;
        st->last = *sec;
    }
    if (step >= 0)
        return;
    lv->run_count += sec->count;
    lv->run_errors += sec->errors;
    lv->run_late += sec->late;
    if (sec->second + 1 > lv->seconds_closed)
        lv->seconds_closed = sec->second + 1;
    lv->history[lv->hist_head] = *sec;
    lv->hist_head = (lv->hist_head + 1) % LIVE_HISTORY_S;
    if (lv->hist_n < LIVE_HISTORY_S)
        lv->hist_n++;
    if (lv->state == LIVE_STARTING)
        lv->state = LIVE_RUNNING;
}

void live_on_interval(struct live *lv, const struct coll_interval *iv)
{
    struct live_second sec = {
        .second = iv->second,
        .warmup = iv->warmup,
        .count = iv->count,
        .errors = iv->errors,
        .late = iv->late,
    };
    /* Percentiles of the second, computed outside the lock. */
    if (iv->count) {
        sec.p50_us = hdr_value_at_percentile(iv->corrected, 50);
        sec.p99_us = hdr_value_at_percentile(iv->corrected, 99);
        sec.max_us = hdr_max(iv->corrected);
        sec.u_p50_us = hdr_value_at_percentile(iv->uncorrected, 50);
        sec.u_p99_us = hdr_value_at_percentile(iv->uncorrected, 99);
    }
    pthread_mutex_lock(&lv->lock);
    struct live_step *st = &lv->steps[step_slot(lv, iv->step)];
    add_counts(lv, st, &sec, iv->step);
    if (!iv->warmup && iv->count) {
        /* The collector's histograms share our configuration: a failure is a bug, counted. */
        if (hdr_add(st->corrected, iv->corrected) != LS_OK ||
            hdr_add(st->uncorrected, iv->uncorrected) != LS_OK)
            lv->merge_errors++;
        for (int c = 1; c < LS_EC__COUNT; c++)
            st->err_by_class[c] += iv->err_by_class[c];
        st->phases.requests += iv->count;
        st->phases.dns_us += iv->dns_us;
        st->phases.connect_us += iv->connect_us;
        st->phases.tls_us += iv->tls_us;
        st->phases.ttfb_us += iv->ttfb_us;
        st->phases.transfer_us += iv->transfer_us;
        st->phases.new_conns += iv->new_conns;
    }
    if (iv->step < 0 && iv->count && hdr_add(lv->run_corrected, iv->corrected) != LS_OK)
        lv->merge_errors++;
    lv->generation++;
    pthread_mutex_unlock(&lv->lock);
}

ls_err live_on_stored(struct live *lv, const struct live_stored *in)
{
    ls_err rc = LS_OK;
    struct live_second sec = {
        .second = in->second,
        .warmup = in->warmup,
        .count = in->count,
        .errors = in->errors,
        .late = in->late,
        .p50_us = in->p50_us,
        .p99_us = in->p99_us,
        .max_us = in->max_us,
        .u_p50_us = in->u_p50_us,
        .u_p99_us = in->u_p99_us,
    };
    pthread_mutex_lock(&lv->lock);
    struct live_step *st = &lv->steps[step_slot(lv, in->step)];
    add_counts(lv, st, &sec, in->step);
    if (!in->warmup && in->count) {
        if (in->hist_len && hdr_decode_add(st->corrected, in->hist, in->hist_len) != LS_OK)
            rc = LS_ERR_PARSE;
        if (in->u_hist_len && hdr_decode_add(st->uncorrected, in->u_hist, in->u_hist_len) != LS_OK)
            rc = LS_ERR_PARSE;
    }
    if (in->step < 0 && in->count && in->hist_len &&
        hdr_decode_add(lv->run_corrected, in->hist, in->hist_len) != LS_OK)
        rc = LS_ERR_PARSE;
    lv->generation++;
    pthread_mutex_unlock(&lv->lock);
    return rc;
}

void live_set_totals(struct live *lv, int step, const struct coll_totals *t)
{
    pthread_mutex_lock(&lv->lock);
    struct live_step *st = &lv->steps[step_slot(lv, step)];
    st->count = t->count;
    st->errors = t->errors;
    st->late = t->late;
    for (int c = 1; c < LS_EC__COUNT; c++)
        st->err_by_class[c] = t->err_by_class[c];
    st->err_by_class[LS_EC_OK] = 0;
    hdr_reset(st->corrected);
    hdr_reset(st->uncorrected);
    if ((t->corrected && hdr_add(st->corrected, t->corrected) != LS_OK) ||
        (t->uncorrected && hdr_add(st->uncorrected, t->uncorrected) != LS_OK))
        lv->merge_errors++;
    lv->generation++;
    pthread_mutex_unlock(&lv->lock);
}

void live_on_event(struct live *lv, uint64_t t_ns, const char *kind, const char *message)
{
    pthread_mutex_lock(&lv->lock);
    struct live_event *ev = &lv->events[lv->ev_head];
    ev->t_ns = t_ns;
    snprintf(ev->kind, sizeof(ev->kind), "%s", kind ? kind : "");
    snprintf(ev->message, sizeof(ev->message), "%s", message ? message : "");
    lv->ev_head = (lv->ev_head + 1) % LIVE_EVENTS;
    if (lv->ev_n < LIVE_EVENTS)
        lv->ev_n++;
    else
        lv->events_dropped++;
    lv->generation++;
    pthread_mutex_unlock(&lv->lock);
}

void live_add_errors(struct live *lv, int step, const uint64_t by_class[LS_EC__COUNT])
{
    pthread_mutex_lock(&lv->lock);
    struct live_step *st = &lv->steps[step_slot(lv, step)];
    for (int c = 1; c < LS_EC__COUNT; c++)
        st->err_by_class[c] += by_class[c];
    lv->generation++;
    pthread_mutex_unlock(&lv->lock);
}

void live_set_state(struct live *lv, enum live_state st)
{
    pthread_mutex_lock(&lv->lock);
    if (st == LIVE_DONE && lv->state != LIVE_DONE)
        lv->end_ns = ls_now_ns();
    lv->state = st;
    lv->generation++;
    pthread_mutex_unlock(&lv->lock);
}

void live_start(struct live *lv)
{
    pthread_mutex_lock(&lv->lock);
    lv->start_ns = ls_now_ns();
    pthread_mutex_unlock(&lv->lock);
}

void live_set_elapsed(struct live *lv, uint64_t elapsed_ns)
{
    pthread_mutex_lock(&lv->lock);
    lv->start_ns = 0;
    lv->elapsed_ns = elapsed_ns;
    pthread_mutex_unlock(&lv->lock);
}

void live_set_in_flight_fn(struct live *lv, uint64_t (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&lv->lock);
    lv->in_flight = fn;
    lv->in_flight_ctx = ctx;
    pthread_mutex_unlock(&lv->lock);
}

void live_forget_in_flight(struct live *lv)
{
    live_set_in_flight_fn(lv, NULL, NULL);
}

bool live_last_second(struct live *lv, struct live_second *out)
{
    pthread_mutex_lock(&lv->lock);
    bool any = lv->hist_n > 0;
    if (any)
        *out = lv->history[(lv->hist_head + LIVE_HISTORY_S - 1) % LIVE_HISTORY_S];
    pthread_mutex_unlock(&lv->lock);
    return any;
}

ls_err live_snapshot_new(const struct live *lv, struct live_snapshot **out)
{
    struct live_snapshot *sn = calloc(1, sizeof(*sn));
    *out = NULL;
    if (!sn)
        return LS_ERR_NOMEM;
    sn->info = &lv->info;
    sn->nsteps_total = lv->nsteps_total;
    sn->generation = UINT64_MAX; /* never equal to the model's: the first take copies */
    if (steps_alloc(&sn->steps, lv->nsteps_total, lv->names) != LS_OK ||
        hdr_open_latency(&sn->run_corrected) != LS_OK)
        goto fail;
    sn->history = calloc(LIVE_HISTORY_S, sizeof(*sn->history));
    sn->events = calloc(LIVE_EVENTS, sizeof(*sn->events));
    if (!sn->history || !sn->events)
        goto fail;
    *out = sn;
    return LS_OK;
fail:
    live_snapshot_free(sn);
    return LS_ERR_NOMEM;
}

void live_snapshot_free(struct live_snapshot *sn)
{
    if (!sn)
        return;
    steps_free(sn->steps, sn->nsteps_total);
    hdr_close(sn->run_corrected);
    free(sn->history);
    free(sn->events);
    free(sn);
}

static void copy_hdr(struct hdr *dst, const struct hdr *src)
{
    hdr_reset(dst);
    /* Same configuration by construction; an empty source adds nothing. */
    if (hdr_add(dst, src) != LS_OK)
        hdr_reset(dst);
}

void live_snapshot_take(struct live *lv, struct live_snapshot *sn)
{
    uint64_t (*fn)(void *) = NULL;
    void *fn_ctx = NULL;
    uint64_t now = ls_now_ns();

    pthread_mutex_lock(&lv->lock);
    sn->state = lv->state;
    if (lv->start_ns) {
        uint64_t until = lv->state == LIVE_DONE && lv->end_ns ? lv->end_ns : now;
        sn->elapsed_ns = until > lv->start_ns ? until - lv->start_ns : 0;
    } else {
        sn->elapsed_ns = lv->elapsed_ns;
    }
    if (lv->generation > 0 && lv->hist_n > 0) {
        fn = lv->in_flight;
        fn_ctx = lv->in_flight_ctx;
    }
    if (sn->generation != lv->generation) {
        sn->generation = lv->generation;
        sn->seconds_closed = lv->seconds_closed;
        sn->run_count = lv->run_count;
        sn->run_errors = lv->run_errors;
        sn->run_late = lv->run_late;
        copy_hdr(sn->run_corrected, lv->run_corrected);
        for (size_t i = 0; i < lv->nsteps_total; i++) {
            struct live_step *d = &sn->steps[i];
            const struct live_step *s = &lv->steps[i];
            struct hdr *c = d->corrected, *u = d->uncorrected;
            *d = *s;
            d->corrected = c;
            d->uncorrected = u;
            copy_hdr(c, s->corrected);
            copy_hdr(u, s->uncorrected);
        }
        /* Rings, linearized oldest first. */
        size_t first = (lv->hist_head + LIVE_HISTORY_S - lv->hist_n) % LIVE_HISTORY_S;
        for (size_t i = 0; i < lv->hist_n; i++)
            sn->history[i] = lv->history[(first + i) % LIVE_HISTORY_S];
        sn->nhistory = lv->hist_n;
        first = (lv->ev_head + LIVE_EVENTS - lv->ev_n) % LIVE_EVENTS;
        for (size_t i = 0; i < lv->ev_n; i++)
            sn->events[i] = lv->events[(first + i) % LIVE_EVENTS];
        sn->nevents = lv->ev_n;
        sn->events_dropped = lv->events_dropped;
    }
    pthread_mutex_unlock(&lv->lock);

    /* Outside the lock: the engine's counters are atomics of their own. */
    sn->in_flight_known = fn != NULL;
    sn->in_flight = fn ? fn(fn_ctx) : 0;
}

uint64_t live_remaining_ns(const struct live_snapshot *sn)
{
    uint64_t total = sn->info->warmup_ns + sn->info->duration_ns;
    if (sn->state == LIVE_DONE || sn->elapsed_ns >= total)
        return 0;
    return total - sn->elapsed_ns;
}
