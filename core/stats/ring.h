/*
 * ring: a single-producer single-consumer queue of samples.
 *
 * Each load worker owns one ring and is its only writer; the collector is its
 * only reader. Push and pop are a copy and one release store: no lock, no
 * allocation. Capacity is a power of two fixed at init.
 */
#ifndef LS_RING_H
#define LS_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats/sample.h"

struct ls_ring {
    struct ls_sample *slots;
    uint32_t mask;
    _Alignas(64) _Atomic uint64_t head; /* next slot to write (producer) */
    _Alignas(64) _Atomic uint64_t tail; /* next slot to read (consumer) */
};

/* Producer: copies *s in; false when the ring is full. */
static inline bool ls_ring_push(struct ls_ring *r, const struct ls_sample *s)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (head - tail > r->mask)
        return false;
    r->slots[head & r->mask] = *s;
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
    return true;
}

/*
 * Consumer: returns a pointer to up to *n contiguous readable samples (no
 * copy); call ls_ring_release(r, n) once they are consumed.
 */
static inline const struct ls_sample *ls_ring_peek(struct ls_ring *r, size_t *n)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint64_t avail = head - tail;
    uint64_t to_end = (uint64_t)r->mask + 1 - (tail & r->mask);
    *n = (size_t)(avail < to_end ? avail : to_end);
    return &r->slots[tail & r->mask];
}

static inline void ls_ring_release(struct ls_ring *r, size_t n)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    atomic_store_explicit(&r->tail, tail + n, memory_order_release);
}

#endif
