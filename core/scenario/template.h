/*
 * template: request text with ${seq}, ${worker} and ${rand:LO:HI}.
 *
 * A template is compiled once when the scenario loads (errors name the bad
 * placeholder and its offset) and rendered on the hot path into a caller's
 * buffer without allocating. `$${` renders a literal `${`.
 *   ${seq}        per-worker request sequence number (0, 1, 2, ...)
 *   ${worker}     index of the virtual user that sends the request
 *   ${rand:LO:HI} uniform integer in [LO, HI], LO <= HI, both int64
 */
#ifndef LS_TEMPLATE_H
#define LS_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "util/lserr.h"

struct tmpl;

/* Per-renderer random state (xoshiro256**); seed once per worker. */
struct tmpl_rng {
    uint64_t s[4];
};
void tmpl_rng_seed(struct tmpl_rng *r, uint64_t seed);
uint64_t tmpl_rng_next(struct tmpl_rng *r);
/* Uniform in [lo, hi] without modulo bias. */
int64_t tmpl_rng_range(struct tmpl_rng *r, int64_t lo, int64_t hi);

struct tmpl_vars {
    uint64_t seq;
    uint64_t worker;
    struct tmpl_rng *rng;       /* advanced by each ${rand}; NULL renders every ${rand:LO:HI} as LO */
};

/*
 * Compiles text[0..len). On a bad placeholder returns LS_ERR_INVALID and
 * writes e.g. "unknown placeholder ${foo} at offset 12; expected ${seq},
 * ${worker} or ${rand:LO:HI}" into err (errcap bytes, always terminated).
 * *out owns the compiled template (it copies the text).
 */
LS_MUST_CHECK ls_err tmpl_compile(const char *text, size_t len, struct tmpl **out, char *err,
                                  size_t errcap);
void tmpl_free(struct tmpl *t);

/* True when the template has no placeholder (render is a plain copy). */
int tmpl_is_constant(const struct tmpl *t);

/*
 * Upper bound of the rendered size (without the NUL), for sizing buffers
 * once: ${seq} and ${worker} count 20 digits, ${rand:LO:HI} the wider of LO
 * and HI as printed.
 */
size_t tmpl_max_len(const struct tmpl *t);

/*
 * Renders into buf (cap bytes, NUL-terminated); returns the length, or -1 if
 * cap is too small (never when cap > tmpl_max_len()).
 */
long tmpl_render(const struct tmpl *t, const struct tmpl_vars *v, char *buf, size_t cap);

#endif
