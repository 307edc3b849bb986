/*
 * Unit tests for core/stats/ring.h and core/stats/collector.c.
 *
 * The ring: order, full at capacity, the contiguous run up to the wrap. The
 * collector: a second is reported only when every worker's heartbeat has
 * passed its end (a slow worker holds it open), each once, with exact
 * (latencies under 2048 us sit in unit-wide buckets, so maxima read back exact)
 * counts, errors, late sends and latencies per step and for all steps; the
 * warm-up is marked and kept out of the totals; the handshake step is not in
 * step -1. Every number asserted is computed from the samples pushed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "stats/collector.h"
#include "stats/ring.h"

#define NS 1000000000ull

static void test_ring(void **state)
{
    (void)state;
    struct ls_sample slots[4];
    struct ls_ring r = {.slots = slots, .mask = 3};
    struct ls_sample s = {0};
    for (uint32_t i = 0; i < 4; i++) {
        s.seq = i;
        assert_true(ls_ring_push(&r, &s));
    }
    s.seq = 99;
    assert_false(ls_ring_push(&r, &s)); /* full */
    size_t n;
    const struct ls_sample *p = ls_ring_peek(&r, &n);
    assert_int_equal(n, 4);
    assert_int_equal(p[0].seq, 0);
    assert_int_equal(p[3].seq, 3);
    ls_ring_release(&r, 3);
    s.seq = 4;
    assert_true(ls_ring_push(&r, &s));
    s.seq = 5;
    assert_true(ls_ring_push(&r, &s));
    p = ls_ring_peek(&r, &n); /* slot 3 up to the end, then the wrap */
    assert_int_equal(n, 1);
    assert_int_equal(p[0].seq, 3);
    ls_ring_release(&r, 1);
    p = ls_ring_peek(&r, &n);
    assert_int_equal(n, 2);
    assert_int_equal(p[0].seq, 4);
    assert_int_equal(p[1].seq, 5);
    ls_ring_release(&r, 2);
    p = ls_ring_peek(&r, &n);
    assert_int_equal(n, 0);
}

#define MAXIV 64

/* What the sink saw; written by the collector thread, read by the test under mu. */
struct seen {
    pthread_mutex_t mu;
    struct {
        uint32_t second;
        int32_t step;
        bool warmup;
        uint64_t count, errors, late;
        int64_t max_us;
    } iv[MAXIV];
    size_t niv;
    uint64_t samples;
};

static void on_samples(void *ctx, const struct ls_sample *s, size_t n)
{
    (void)s;
    struct seen *x = ctx;
    pthread_mutex_lock(&x->mu);
    x->samples += n;
    pthread_mutex_unlock(&x->mu);
}

static void on_interval(void *ctx, const struct coll_interval *iv)
{
    struct seen *x = ctx;
    pthread_mutex_lock(&x->mu);
    assert_true(x->niv < MAXIV);
    x->iv[x->niv].second = iv->second;
    x->iv[x->niv].step = iv->step;
    x->iv[x->niv].warmup = iv->warmup;
    x->iv[x->niv].count = iv->count;
    x->iv[x->niv].errors = iv->errors;
    x->iv[x->niv].late = iv->late;
    x->iv[x->niv].max_us = hdr_max(iv->corrected);
    x->niv++;
    pthread_mutex_unlock(&x->mu);
}

static size_t find(struct seen *x, uint32_t second, int32_t step)
{
    size_t found = MAXIV, hits = 0;
    pthread_mutex_lock(&x->mu);
    for (size_t i = 0; i < x->niv; i++) {
        if (x->iv[i].second == second && x->iv[i].step == step) {
            found = i;
            hits++;
        }
    }
    pthread_mutex_unlock(&x->mu);
    assert_true(hits <= 1); /* each second is reported once */
    return found;
}

static void push(struct ls_ring *r, uint16_t step, uint64_t intended_ns, uint64_t start_ns, uint64_t end_ns,
                 uint8_t err)
{
    /* flags as the engine sets them: sent in the (1 s) warm-up, sent late */
    struct ls_sample s = {.intended_ns = intended_ns, .start_ns = start_ns, .end_ns = end_ns, .step = step,
                          .err = err,
                          .flags = (uint8_t)((start_ns > intended_ns ? LS_SF_LATE : 0) |
                                             (intended_ns < NS ? LS_SF_WARMUP : 0))};
    assert_true(ls_ring_push(r, &s));
}

/* Waits (bounded) until the collector has seen n samples. */
static void wait_seen(struct collector *c, uint64_t n)
{
    for (int i = 0; i < 2000 && collector_seen(c) < n; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(collector_seen(c), n);
}

static void test_seconds_closed_by_heartbeats(void **state)
{
    (void)state;
    static struct ls_sample s0[64], s1[64];
    struct ls_ring r0 = {.slots = s0, .mask = 63}, r1 = {.slots = s1, .mask = 63};
    _Atomic uint64_t hb0 = 0, hb1 = 0;
    struct coll_source src[2] = {{&r0, &hb0}, {&r1, &hb1}};
    static struct seen x = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct coll_sink sink = {.ctx = &x, .samples = on_samples, .interval = on_interval};
    struct collector *c;
    /* 2 steps (0, 1), the handshake is step 2; one second of warm-up */
    assert_int_equal(collector_open(2, 1 * NS, src, 2, &sink, &c), LS_OK);
    assert_int_equal(collector_start(c), LS_OK);

    /* second 0 (warm-up): worker 0, step 0, 2 ms */
    push(&r0, 0, 100000000, 100000000, 102000000, LS_EC_OK);
    /* second 1: worker 0 step 0 1.3 ms; worker 1 step 1 1.8 ms failed; the handshake 1 ms */
    push(&r0, 0, 1100000000, 1100000000, 1101300000, LS_EC_OK);
    push(&r1, 1, 1200000000, 1200000000, 1201800000, LS_EC_TIMEOUT);
    push(&r1, 2, 1300000000, 1300000000, 1301000000, LS_EC_OK);
    /* second 2: an open-loop send 1.5 ms late (intended 2.000, sent 2.0015, done 2.0019) */
    push(&r0, 0, 2000000000, 2001500000, 2001900000, LS_EC_OK);
    atomic_store(&hb0, 3 * NS);      /* worker 0 is past second 2 */
    atomic_store(&hb1, 1 * NS + 5);  /* worker 1 is still in second 1 */
    wait_seen(c, 5);
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    /* Only second 0 is closed: worker 1's heartbeat has not passed second 1. */
    assert_int_not_equal(find(&x, 0, -1), MAXIV);
    assert_int_equal(find(&x, 1, -1), MAXIV);
    atomic_store(&hb1, 3 * NS);
    for (int i = 0; i < 2000 && find(&x, 2, -1) == MAXIV; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    collector_finish(c);

    size_t i0 = find(&x, 0, -1), i1 = find(&x, 1, -1), i2 = find(&x, 2, -1);
    assert_int_not_equal(i1, MAXIV);
    assert_int_not_equal(i2, MAXIV);
    assert_true(x.iv[i0].warmup);
    assert_int_equal(x.iv[i0].count, 1);
    assert_false(x.iv[i1].warmup);
    assert_int_equal(x.iv[i1].count, 2);  /* the handshake is not a scenario step */
    assert_int_equal(x.iv[i1].errors, 1);
    assert_int_equal(x.iv[i1].max_us, 1800);
    size_t h = find(&x, 1, 2);
    assert_int_not_equal(h, MAXIV);
    assert_int_equal(x.iv[h].count, 1);
    assert_int_equal(x.iv[i2].late, 1);
    /* corrected latency runs from the intended start: 1.9 ms, not 0.4 ms */
    assert_int_equal(x.iv[i2].max_us, 1900);
    assert_int_equal(x.samples, 5);

    /* Totals leave the warm-up out. */
    struct coll_totals t;
    collector_totals(c, -1, &t);
    assert_int_equal(t.count, 3);
    assert_int_equal(t.errors, 1);
    assert_int_equal(t.late, 1);
    assert_int_equal(t.err_by_class[LS_EC_TIMEOUT], 1);
    assert_int_equal(hdr_max(t.uncorrected), 1800);
    collector_totals(c, 0, &t);
    assert_int_equal(t.count, 2);
    assert_int_equal(hdr_max(t.corrected), 1900);
    assert_int_equal(hdr_max(t.uncorrected), 1300);
    collector_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring),
        cmocka_unit_test(test_seconds_closed_by_heartbeats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
