/*
 * collector: turns the workers' sample streams into per-second intervals.
 *
 * Every load worker pushes each finished request into its own lock-free ring
 * and publishes a heartbeat (its clock at the top of each loop turn). The
 * collector thread drains the rings, hands the samples on unchanged (to
 * storage), and records them into per-second, per-step HDR histograms of
 * corrected and uncorrected latency. A second is closed, and reported once,
 * when every worker's heartbeat has passed its end: from then on no sample
 * for it can still be on its way. Memory is a few open seconds of
 * histograms plus the run totals, whatever the run length.
 *
 * Step indexes: 0..nsteps-1 are the scenario's steps, nsteps is the MCP
 * initialize handshake, and reports with step -1 cover the scenario's steps
 * together (the handshake excluded).
 */
#ifndef LS_COLLECTOR_H
#define LS_COLLECTOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats/hdr.h"
#include "util/lserr.h"
#include "stats/ring.h"
#include "stats/sample.h"

struct coll_source {
    struct ls_ring *ring;
    _Atomic uint64_t *heartbeat_ns; /* the worker's clock, run-relative */
};

struct coll_interval {
    uint32_t second;            /* since run start, warm-up included */
    int32_t step;               /* -1: all scenario steps */
    bool warmup;                /* the second starts inside the warm-up */
    uint64_t count, errors, late;
    const struct hdr *corrected;   /* microseconds, from the intended start */
    const struct hdr *uncorrected; /* microseconds, from the actual send */
    /* Sums over the second's requests, for the phase breakdown (microseconds). */
    uint64_t dns_us, connect_us, tls_us, ttfb_us;
    uint64_t transfer_us;       /* latency after the first byte (what the phases above leave) */
    uint64_t new_conns;         /* requests that opened a connection */
    uint64_t err_by_class[LS_EC__COUNT]; /* failures by class; [LS_EC_OK] stays 0 */
};

struct coll_sink {
    void *ctx;
    /* Samples in arrival order; called from the collector thread. */
    void (*samples)(void *ctx, const struct ls_sample *s, size_t n);
    /* Each closed second: one call per step that saw samples, then step -1 (always). */
    void (*interval)(void *ctx, const struct coll_interval *iv);
};

/* What a step did over the measured part of the run (warm-up excluded). */
struct coll_totals {
    uint64_t count, errors, late;
    uint64_t err_by_class[LS_EC__COUNT];
    const struct hdr *corrected;
    const struct hdr *uncorrected;
};

struct collector;

/*
 * nsteps scenario steps; warm-up of warmup_ns at the start. The sources'
 * rings and heartbeats are borrowed and must outlive the collector.
 */
LS_MUST_CHECK ls_err collector_open(uint32_t nsteps, uint64_t warmup_ns,
                                    const struct coll_source *sources, size_t nsources,
                                    const struct coll_sink *sink, struct collector **out);

/* Starts the collector thread. */
LS_MUST_CHECK ls_err collector_start(struct collector *c);

/*
 * Call after every worker has stopped: drains what is left, closes every
 * open second and stops the thread.
 */
void collector_finish(struct collector *c);

/* Totals of step (0..nsteps, or -1 for all scenario steps); valid after finish. */
void collector_totals(const struct collector *c, int step, struct coll_totals *out);

/* Samples seen so far (any thread). */
uint64_t collector_seen(const struct collector *c);

void collector_close(struct collector *c);

#endif
