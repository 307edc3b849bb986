/*
 * advise_int: what the advisor's files share (not for other modules): the
 * rule row, the evaluation context, emitting a finding, event sites and a
 * few formatting helpers. advise.c, frames.c, sites.c and rules_*.c.
 */
#ifndef LS_ADVISE_INT_H
#define LS_ADVISE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "advise/advise.h"

struct adv_ctx;
struct adv_rule;

typedef void (*adv_eval_fn)(struct adv_ctx *cx, const struct adv_rule *r);

/* One rule: a row of its family's table (curl's Curl_handler style). */
struct adv_rule {
    const char *id;       /* stable: stored, exported, tested */
    const char *family;   /* "aws", "runtime", "alloc", "load" */
    uint32_t needs_all;   /* enum adv_input bits that must all be measured */
    uint32_t needs_any;   /* of these, at least one (0: none asked) */
    const char *fix;      /* the default fix */
    adv_eval_fn evaluate; /* emits 0..n findings through adv_emit */
};

extern const struct adv_rule adv_rules_aws[];
extern const size_t adv_rules_aws_n;
extern const struct adv_rule adv_rules_runtime[];
extern const size_t adv_rules_runtime_n;
extern const struct adv_rule adv_rules_alloc[];
extern const size_t adv_rules_alloc_n;
extern const struct adv_rule adv_rules_load[];
extern const size_t adv_rules_load_n;

/* One evaluation. Rules read f, have and the sites; they write through adv_emit only. */
struct adv_ctx {
    const struct adv_facts *f;
    uint32_t have;                 /* enum adv_input bits measured */
    struct adv_alloc_sites asites; /* built when ADV_IN_ALLOC is measured */
    struct adv_finding *v;         /* findings so far */
    size_t n, cap;
    ls_err err; /* first failure (out of memory); emitting stops */
};

/* A finding being made. Strings are malloc'd (adv_strf); adv_emit takes them all. */
struct adv_draft {
    enum adv_severity severity;
    double impact, confidence; /* clamped to 0..1 */
    char *title, *evidence, *where;
    char *detail;    /* NULL: "" */
    const char *fix; /* NULL: the rule's; copied */
};

/*
 * Adds a finding of rule r. Takes ownership of d's strings, also on
 * failure; a NULL title, evidence or where (out of memory) sets cx->err.
 */
void adv_emit(struct adv_ctx *cx, const struct adv_rule *r, struct adv_draft *d);

/* printf into a malloc'd string; NULL when out of memory. */
char *adv_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable string for evidence lists and details (oom sticks). */
struct adv_buf {
    char *p;
    size_t len, cap;
    bool oom;
};
void adv_buf_addf(struct adv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands over the string ("" when empty); NULL when out of memory. */
char *adv_buf_take(struct adv_buf *b);

/* s, or "" for NULL. */
const char *adv_s(const char *s);
/* The part of a path after its last '/'. */
const char *adv_base(const char *path);
double adv_clamp01(double x);
/* A duration for evidence: "850 us" below a millisecond, else "1.25 ms" or "2.50 s". */
void adv_fmt_us(char *buf, size_t cap, double us);
/* A byte count: "512 B", "64.0 KiB", "3.50 MiB", "1.20 GiB". */
void adv_fmt_bytes(char *buf, size_t cap, double bytes);

/* "function (file.rs:42)", "function", or "??"; malloc'd. */
char *adv_where_frame(const struct adv_frame *fr);
/* The frame's code, resolving ADV_CODE_AUTO. */
enum adv_code adv_frame_code(const struct adv_frame *fr);

/* The step of that name (NULL when none or not measured). */
const struct adv_step *adv_step_named(const struct adv_facts *f, const char *name);
/* The p50 (corrected) a request of step (NULL: all steps) is compared with; 0: not known. */
double adv_ref_p50_us(const struct adv_ctx *cx, const char *step);

/* ---- event sites (blocking calls, lock waits, thread creations, CPU) ------------ */

enum adv_group_by {
    ADV_BY_LINE,     /* blame file:line (function when the file is unknown) */
    ADV_BY_FUNCTION, /* blame function and file */
};

/*
 * Puts n frames into sites: site_of[i] gets frame i's site, numbered in
 * key order from 0; returns the number of sites, or SIZE_MAX when out of
 * memory.
 */
size_t adv_group(const struct adv_frame *const *frames, size_t n, enum adv_group_by by,
                 size_t *site_of);

struct adv_event_site {
    struct adv_frame blame; /* of its biggest stack (by share, then time); code resolved */
    const char *call;       /* the biggest stack's call */
    uint64_t count;
    double per_req, us_per_req, share;
    const size_t *stacks; /* indices into the events, biggest first */
    size_t nstacks;
};

struct adv_event_sites {
    struct adv_event_site *sites; /* biggest share first (then time per request) */
    size_t n;
    size_t *order;
};

/*
 * Groups the events keep() accepts (NULL: all) into sites. The sites point
 * into ev: it must outlive them.
 */
LS_MUST_CHECK ls_err adv_event_sites_build(const struct adv_event *ev, size_t n,
                                           enum adv_group_by by,
                                           bool (*keep)(const struct adv_event *e),
                                           struct adv_event_sites *out);
void adv_event_sites_free(struct adv_event_sites *s);

/*
 * The stacks behind a site as text: for each of the n (at most 8) given,
 * "<value> <unit>" then the stack, separated by a blank line; NULL stacks
 * are skipped; "(k more stacks)" when the site has total > n. malloc'd
 * ("" when none); NULL when out of memory.
 */
char *adv_detail(const char *const *stacks, const double *values, size_t n, size_t total,
                 const char *unit);

/* The details of an alloc site, an event site (values: per request). */
char *adv_alloc_site_detail(const struct adv_facts *f, const struct adv_alloc_site *s);
char *adv_event_site_detail(const struct adv_event *ev, const struct adv_event_site *s,
                            const char *unit);

#endif
