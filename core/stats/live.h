/*
 * live: the run as people watch it, shared by the dashboard, the headless
 * progress line and replay, so all three show the same numbers.
 *
 * The model is fed one closed second at a time: during a run by the
 * collector's interval callback (live_on_interval, collector thread), in
 * replay by the stored intervals (live_on_stored). It keeps
 *   - a bounded per-second history of all steps together (rate, p50/p99
 *     corrected and uncorrected, errors, late sends) for the time series;
 *   - per step, cumulative histograms over the measured seconds (the sum of
 *     every closed non-warm-up interval: with no warm-up this is exactly the
 *     end-of-run summary), counts, errors by class and phase-time sums;
 *   - a "whole run" histogram of all steps that includes the warm-up;
 *   - the last run events (error messages by class, target exits);
 *   - run facts: scenario, target, elapsed and remaining time, in flight.
 *
 * A reader (the UI thread) copies it into a struct live_snapshot it owns
 * with live_snapshot_take(), under a mutex the writer holds only while it
 * adds one interval. Histograms are copied only when something changed. No
 * curses here: drawing is tui/'s business.
 */
#ifndef LS_LIVE_H
#define LS_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats/collector.h"
#include "stats/hdr.h"
#include "util/lserr.h"
#include "stats/sample.h"

struct alloc;
struct hotpaths;
struct ds_model;

#define LIVE_HISTORY_S 3600 /* seconds of time series kept (a ring: memory is bounded) */
#define LIVE_EVENTS 64      /* last run events kept */
#define LIVE_EVENT_LEN 256  /* bytes kept of each event message (with the NUL) */

enum live_state {
    LIVE_STARTING = 0, /* nothing closed yet */
    LIVE_RUNNING,      /* seconds are arriving */
    LIVE_STOPPING,     /* no new requests; in-flight ones finishing */
    LIVE_DONE,         /* the run is over (or the replay reached its end) */
};

/* What the model is told about the run when it is opened; every string is copied. */
struct live_info {
    const char *scenario;          /* scenario name */
    const char *target;            /* "stdio: node ..." or the URL */
    const char *load;              /* "closed loop, 16 virtual users", shown in the header */
    const char *const *step_names; /* nsteps names (the handshake is added as "initialize") */
    uint32_t nsteps;
    uint64_t warmup_ns, duration_ns;
    int64_t session;               /* its id in the database (0: none) */
    struct alloc *alloc;           /* the run's allocation tracer (borrowed), NULL when not tracing */
    struct hotpaths *hot;          /* its hot-path model, fed by the tracer (borrowed) */
    struct ds_model *ds;           /* the downstream calls' model (borrowed), NULL without target.downstream */
};

/* Sums of the request phases over some requests (microseconds). */
struct live_phases {
    uint64_t requests;   /* how many requests the sums cover */
    uint64_t dns_us, connect_us, tls_us, ttfb_us, transfer_us;
    uint64_t new_conns;  /* requests that opened a connection */
};

/* One closed second of all scenario steps together. */
struct live_second {
    uint32_t second;     /* since run start, warm-up included */
    bool warmup;
    uint64_t count, errors, late;
    int64_t p50_us, p99_us, max_us;     /* corrected */
    int64_t u_p50_us, u_p99_us;         /* uncorrected */
};

/* A step's figures. Index nsteps is the handshake, nsteps + 1 all scenario steps. */
struct live_step {
    const char *name;            /* borrowed from the model: valid while it is open */
    /* measured seconds (warm-up excluded) */
    uint64_t count, errors, late;
    uint64_t err_by_class[LS_EC__COUNT]; /* failures only: [LS_EC_OK] stays 0 */
    struct live_phases phases;
    struct hdr *corrected, *uncorrected; /* owned by the model or the snapshot */
    /* the last closed second this step saw requests in */
    bool has_last;
    struct live_second last;
};

struct live_event {
    uint64_t t_ns;               /* since run start */
    char kind[24];               /* "tool_error", "target_exit", ... */
    char message[LIVE_EVENT_LEN];
};

/* A copy of the model, owned by its reader. */
struct live_snapshot {
    const struct live_info *info; /* borrowed from the model (strings copied there) */
    uint64_t generation;          /* bumps with every change: equal means nothing new */
    enum live_state state;
    uint64_t elapsed_ns;          /* run time shown: wall clock live, position in replay */
    uint64_t in_flight;           /* 0 when not known (replay) */
    bool in_flight_known;
    uint32_t seconds_closed;      /* seconds fed so far */
    uint64_t run_count, run_errors, run_late; /* all steps, warm-up included */
    struct hdr *run_corrected;    /* all steps, warm-up included */
    size_t nsteps_total;          /* nsteps + 2 */
    struct live_step *steps;
    size_t nhistory;              /* oldest first */
    struct live_second *history;  /* LIVE_HISTORY_S slots */
    size_t nevents;               /* oldest first */
    struct live_event *events;    /* LIVE_EVENTS slots */
    uint64_t events_dropped;      /* older events no longer kept */
};

struct live;

/* Opens an empty model. info's strings are copied. */
LS_MUST_CHECK ls_err live_open(const struct live_info *info, struct live **out);

/* Frees the model; NULL is ignored. Snapshots taken from it must be freed first. */
void live_close(struct live *lv);

/* Forgets everything fed so far (replay seeks back this way). */
void live_reset(struct live *lv);

/*
 * Feeds one closed second of one step as the collector reports it. Any
 * thread (the collector's), never concurrently with itself.
 */
void live_on_interval(struct live *lv, const struct coll_interval *iv);

/*
 * Replaces a step's measured figures (counts, errors by class, histograms)
 * with the run's exact totals once it is over, so the last screen agrees
 * with the summary to the request: the interval sums count whole seconds
 * after the warm-up, the totals count requests intended after it.
 */
void live_set_totals(struct live *lv, int step, const struct coll_totals *t);

/* A stored interval (replay): the percentiles as stored, the histograms encoded. */
struct live_stored {
    uint32_t second;
    int32_t step;
    bool warmup;
    uint64_t count, errors, late;
    int64_t p50_us, p99_us, max_us, u_p50_us, u_p99_us;
    const uint8_t *hist, *u_hist; /* hdr_encode bytes; NULL/0: not stored */
    size_t hist_len, u_hist_len;
};

/*
 * Feeds a stored interval. LS_ERR_PARSE if a histogram does not decode
 * (the counts are then still added, the histograms are not).
 */
LS_MUST_CHECK ls_err live_on_stored(struct live *lv, const struct live_stored *st);

/* Records a run event (any thread). */
void live_on_event(struct live *lv, uint64_t t_ns, const char *kind, const char *message);

/*
 * Adds error counts by class to a step outside the intervals (replay takes
 * them from the stored summaries, as intervals do not keep classes).
 */
void live_add_errors(struct live *lv, int step, const uint64_t by_class[LS_EC__COUNT]);

/* The state shown (any thread). */
void live_set_state(struct live *lv, enum live_state st);

/*
 * Where the elapsed time comes from: live runs count from live_start()
 * (wall clock, monotonic); replay sets its position with live_set_elapsed().
 */
void live_start(struct live *lv);
void live_set_elapsed(struct live *lv, uint64_t elapsed_ns);

/*
 * How to ask for the number of requests in flight; fn is called by
 * live_snapshot_take on the reader's thread, and only once an interval has
 * arrived (the engine is running then). NULL: unknown.
 */
void live_set_in_flight_fn(struct live *lv, uint64_t (*fn)(void *ctx), void *ctx);

/* Stops calling the in-flight function (before the engine it reads is closed). */
void live_forget_in_flight(struct live *lv);

/* The last closed second of all steps (false if none yet). Any thread. */
bool live_last_second(struct live *lv, struct live_second *out);

/* Allocates a snapshot sized for lv. Free it with live_snapshot_free (NULL-safe). */
LS_MUST_CHECK ls_err live_snapshot_new(const struct live *lv, struct live_snapshot **out);
void live_snapshot_free(struct live_snapshot *snap);

/*
 * Brings snap up to date with the model. Histograms and history are copied
 * only when the generation changed; elapsed time and in flight always.
 */
void live_snapshot_take(struct live *lv, struct live_snapshot *snap);

/* Elapsed and remaining time of the run shown in snap (remaining 0 when over). */
uint64_t live_remaining_ns(const struct live_snapshot *snap);

#endif
