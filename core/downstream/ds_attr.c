/*
 * ds_attr: which MCP requests a downstream call belongs to.
 *
 * The engine's workers count each step's requests in flight in the target
 * (downstream_mcp_begin / _end: one atomic add each, every step's counters
 * on a cache line of their own). When a call reaches the proxy, the
 * counters are read: the call belongs to the requests in flight at that
 * moment, each an equal part, so a step with k of the n requests in flight
 * gets k/n of the call (its time and its new connection too). With one
 * request in flight that is exact; with several it is the even split the
 * proxy can honestly make, since nothing in a call says which request made
 * it. A call that arrives with nothing in flight (set-up, background work)
 * goes to DS_STEP_NONE.
 *
 * The counters are read one by one while workers update them, so a share
 * may miss a request that began or ended during the read; the weights are
 * normalised over what was read, so each call still counts exactly once.
 */
#include <stdlib.h>
#include <string.h>

#include "downstream/ds_int.h"

ls_err ds_attr_init(struct ds_attr *a, uint32_t nsteps)
{
    a->nslots = nsteps + 1;
    a->slots = aligned_alloc(64, sizeof(*a->slots) * a->nslots);
    if (a->slots == NULL)
        return LS_ERR_NOMEM;
    for (uint32_t i = 0; i < a->nslots; i++) {
        atomic_init(&a->slots[i].in_flight, 0);
        atomic_init(&a->slots[i].ended, 0);
    }
    atomic_init(&a->total, 0);
    return LS_OK;
}

void ds_attr_free(struct ds_attr *a)
{
    free(a->slots);
    a->slots = NULL;
    a->nslots = 0;
}

static uint32_t slot_of(const struct ds_attr *a, int step)
{
    return step >= 0 && (uint32_t)step < a->nslots - 1 ? (uint32_t)step : a->nslots - 1;
}

void ds_attr_begin(struct ds_attr *a, int step)
{
    atomic_fetch_add_explicit(&a->slots[slot_of(a, step)].in_flight, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->total, 1, memory_order_relaxed);
}

void ds_attr_end(struct ds_attr *a, int step)
{
    struct ds_attr_slot *s = &a->slots[slot_of(a, step)];
    atomic_fetch_sub_explicit(&s->in_flight, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->ended, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&a->total, 1, memory_order_relaxed);
}

void ds_attr_take(struct ds_attr *a, struct ds_call *c)
{
    c->in_flight = 0;
    c->nshares = 0;
    if (atomic_load_explicit(&a->total, memory_order_relaxed) <= 0)
        return;
    for (uint32_t i = 0; i < a->nslots; i++) {
        int64_t n = atomic_load_explicit(&a->slots[i].in_flight, memory_order_relaxed);
        if (n <= 0)
            continue;
        c->in_flight += (uint32_t)n;
        /* Past DS_SHARES_MAX distinct steps the rest are counted in in_flight only. */
        if (c->nshares < DS_SHARES_MAX)
            c->shares[c->nshares++] = (struct ds_share){(int32_t)i, (uint32_t)n};
    }
}

void ds_attr_ended(struct ds_attr *a, uint64_t *ended)
{
    for (uint32_t i = 0; i < a->nslots; i++)
        ended[i] = atomic_load_explicit(&a->slots[i].ended, memory_order_relaxed);
}

void ds_attr_split(const struct ds_call *c, void (*fn)(void *ctx, int32_t step, double weight),
                   void *ctx)
{
    uint64_t kept = 0;
    for (uint16_t i = 0; i < c->nshares; i++)
        kept += c->shares[i].in_flight;
    if (kept == 0) {
        fn(ctx, DS_STEP_NONE, 1.0);
        return;
    }
    for (uint16_t i = 0; i < c->nshares; i++)
        fn(ctx, c->shares[i].step, (double)c->shares[i].in_flight / (double)kept);
}
