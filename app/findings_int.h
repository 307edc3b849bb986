/*
 * findings_int: what findings_facts.c and findings.c share (not for other
 * modules): a stored session loaded once (struct ff_src) and the cumulative
 * states of the models a span's facts are the difference of, so the
 * per-second windows of findings_store() read the database once.
 */
#ifndef LS_APP_FINDINGS_INT_H
#define LS_APP_FINDINGS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc/alloc_inside.h"
#include "alloc/hotpaths.h"
#include "downstream/downstream.h"
#include "findings.h"
#include "store.h"
#include "store_read.h"

/* The hot-path model ranked at one second boundary: sums over [0, upto). */
struct ff_cum {
    uint32_t upto;
    struct hotpath_row *hot; /* by key; strings owned by the model */
    size_t nhot, caphot;
    struct hotpaths_totals tot;
};

/* A path's live bytes at one second boundary; a state's are sorted by key. */
struct ff_live {
    uint32_t key;
    int64_t live_bytes;
};
struct ff_lives {
    struct ff_live *v;
    size_t n, cap;
};

/* The live bytes of state c into l (reusing its memory). */
LS_MUST_CHECK ls_err ff_lives_of(const struct ff_cum *c, struct ff_lives *l);

/* Ranks hp at upto into c (reusing its memory). hp NULL or upto 0: empty. */
LS_MUST_CHECK ls_err ff_cum_take(struct hotpaths *hp, uint32_t upto, struct ff_cum *c);
void ff_cum_free(struct ff_cum *c);

/* The downstream model's state after the seconds before upto. */
struct ff_ds {
    uint32_t upto;
    struct ds_op_view *ops;
    size_t nops;
    struct ds_step_view *steps;
    size_t nsteps;
};

struct ds_model;
LS_MUST_CHECK ls_err ff_ds_take(struct ds_model *m, struct ff_ds *d);
void ff_ds_free(struct ff_ds *d);

/* One second of the stored run (all steps; the handshake apart). */
typedef struct {
    uint64_t requests, handshakes;
    double req_us, hs_us; /* time in them (uncorrected means times counts) */
    bool has_latency;
    uint8_t *hist, *u_hist; /* encoded all-steps histograms (owned) */
    size_t hist_len, u_hist_len;
} ff_sec_t;

/* A stored inside row, its strings owned. */
struct ff_in {
    uint32_t second;
    struct alloc_inside_row row;
    char *target, *blame, *frames;
};

/* A stored session, read once. */
struct ff_src {
    struct store_session session;
    bool open_loop, per_iteration, frees_seen, traced;
    uint32_t concurrency;
    uint32_t seconds; /* the run's seconds: [0, seconds) */
    char **step_names;
    size_t nsteps;
    struct store_summary all_sum, hs_sum, *step_sum; /* all steps, the handshake, each step */
    bool has_sum;
    ff_sec_t *sec;
    size_t nsec, capsec;
    struct hotpaths *hp; /* NULL: no stacks */
    struct ff_in *in;
    size_t nin, capin;
    struct ds_model *dsm;
    struct ff_ds *ds; /* after each stored downstream second, in order */
    size_t nds, capds;
    ls_err err;
};

LS_MUST_CHECK ls_err ff_src_load(struct store *st, int64_t session, struct ff_src **out, char *err,
                                 size_t errcap);
void ff_src_free(struct ff_src *s);

/* Builds the facts of s over seconds [from, to) (clipped to the run). */
LS_MUST_CHECK ls_err findings_facts_build(struct findings_facts *ff, const struct ff_src *s,
                                          uint32_t from, uint32_t to);

/* The downstream state at upto (the last stored second before it); NULL: none. */
const struct ff_ds *ff_ds_at(const struct ff_src *s, uint32_t upto);

/*
 * Builds the facts of seconds [from, to) of s into ff: cfrom and cto are
 * the hot-path states at from and to (cfrom NULL: empty); series, nseries
 * paths' live bytes at points between them, oldest first, for the
 * live-bytes series (may be none).
 */
LS_MUST_CHECK ls_err ff_build(struct findings_facts *ff, const struct ff_src *s, uint32_t from,
                              uint32_t to, const struct ff_cum *cfrom, const struct ff_cum *cto,
                              const struct ff_lives *const *series, size_t nseries);

#endif
