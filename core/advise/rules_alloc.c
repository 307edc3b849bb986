/*
 * rules_alloc: the rules about allocations and memory, judged per site
 * (every stack whose blame frame is the same file:line) of the user's own
 * code: allocator internals, std, dependencies and unknown frames never
 * fire, and a site must carry a meaningful share of the process's
 * allocations per request. What a stack does (format!, clone, growth,
 * serde) is read from its frames (frames.c), so a growth inside
 * core::fmt::write is format!, not vector growth. One row per rule; calls
 * advise_int.h helpers only.
 *
 *   rule                       fires when (per user site)                       severity
 *   alloc.format_in_hot_path   format! allocations per request >= 4 and         warning
 *                              >= 5% of the process's
 *   alloc.clone_in_hot_path    clone allocations per request >= 8 or clone      warning
 *                              bytes per request >= 64 KiB, and >= 5% of the
 *                              process's allocations or bytes
 *   alloc.vec_growth           growth reallocations per request >= 6 and        warning
 *                              growth allocations >= 5% of the process's
 *   alloc.serde_churn          serde allocations per request (all user sites)   >= 256 and >= 70%:
 *                              >= 32 and >= 50% of the process's                warning, else info
 *   mem.live_bytes_growing     live bytes grow >= 1 MiB and >= 32 B per         critical when it
 *                              request, end >= 1.5x start, rising in >= 60%     keeps >= 50% of
 * what of seconds (any site but the allocator's)        it allocates and rises in >= 80%
 */
#include <stdio.h>

#include "advise/advise_int.h"

#define SHARE_MIN 0.05          /* of the process's allocations (or bytes) per request */
#define FORMAT_MIN 4.0          /* format! allocations per request at a site */
#define CLONE_MIN 8.0           /* clone allocations per request at a site */
#define CLONE_BYTES_MIN 65536.0 /* or clone bytes per request */
#define GROWTH_REALLOCS_MIN 6.0 /* reallocations in growth chains per request */
#define SERDE_INFO 32.0         /* serde allocations per request, all user sites */
#define SERDE_INFO_SHARE 0.50
#define SERDE_WARN 256.0
#define SERDE_WARN_SHARE 0.70
#define LIVE_GROWTH_MIN (1024.0 * 1024) /* bytes over the span */
#define LIVE_PER_REQ_MIN 32.0           /* bytes kept per request */
#define LIVE_END_OVER_START 1.5
#define LIVE_RISING 0.60 /* share of seconds the live bytes rose */
#define LIVE_RISING_CRIT 0.80
#define LIVE_RETAINED_CRIT 0.50 /* growth over bytes allocated at the site */

/* The process's allocations (bytes) per request, for shares: as given, or the sites' sum. */
static double total_of(const struct adv_ctx *cx, bool bytes)
{
    double t = bytes ? cx->f->alloc.bytes_per_req : cx->f->alloc.allocs_per_req;
    if (t > 0)
        return t;
    for (size_t i = 0; i < cx->asites.n; i++)
        t += bytes ? cx->asites.sites[i].bytes_per_req : cx->asites.sites[i].allocs_per_req;
    return t;
}

static double share_of(double v, double total)
{
    return total > 0 ? v / total : 0;
}

static void emit_site(struct adv_ctx *cx, const struct adv_rule *r, const struct adv_alloc_site *s,
                      double impact, double confidence, char *title, char *evidence)
{
    struct adv_draft d = {
        .severity = ADV_WARNING,
        .impact = impact,
        .confidence = confidence,
        .title = title,
        .evidence = evidence,
        .where = adv_where_frame(&s->blame),
        .detail = adv_alloc_site_detail(cx->f, s),
    };
    adv_emit(cx, r, &d);
}

static void format_in_hot_path(struct adv_ctx *cx, const struct adv_rule *r)
{
    double total = total_of(cx, false);
    for (size_t i = 0; i < cx->asites.n; i++) {
        const struct adv_alloc_site *s = &cx->asites.sites[i];
        double v = s->kind_allocs_per_req[ADV_AK_FORMAT], sh = share_of(v, total);
        if (s->blame.code != ADV_CODE_USER || v < FORMAT_MIN || sh < SHARE_MIN)
            continue;
        emit_site(cx, r, s, sh, 0.8,
                  adv_strf("format! on the hot path: %.2f allocations per request", v),
                  adv_strf("%.2f format! allocations per request at this site (threshold >= %.0f), "
                           "%.1f%% of the process's %.2f (threshold >= %.0f%%); %zu stack%s",
                           v, FORMAT_MIN, sh * 100, total, SHARE_MIN * 100, s->nstacks,
                           s->nstacks == 1 ? "" : "s"));
    }
}

static void clone_in_hot_path(struct adv_ctx *cx, const struct adv_rule *r)
{
    double total = total_of(cx, false), total_b = total_of(cx, true);
    for (size_t i = 0; i < cx->asites.n; i++) {
        const struct adv_alloc_site *s = &cx->asites.sites[i];
        double v = s->kind_allocs_per_req[ADV_AK_CLONE], b = s->kind_bytes_per_req[ADV_AK_CLONE];
        double sh = share_of(v, total), shb = share_of(b, total_b);
        if (s->blame.code != ADV_CODE_USER || (v < CLONE_MIN && b < CLONE_BYTES_MIN) ||
            (sh < SHARE_MIN && shb < SHARE_MIN))
            continue;
        char bytes[32];
        adv_fmt_bytes(bytes, sizeof(bytes), b);
        emit_site(cx, r, s, sh > shb ? sh : shb, 0.8,
                  adv_strf("Clones on the hot path: %.2f allocations, %s per request", v, bytes),
                  adv_strf("%.2f clone allocations per request at this site (threshold >= %.0f) "
                           "or %s per request (threshold >= 64 KiB); %.1f%% of the process's "
                           "allocations, %.1f%% of its bytes (threshold >= %.0f%%)",
                           v, CLONE_MIN, bytes, sh * 100, shb * 100, SHARE_MIN * 100));
    }
}

static void vec_growth(struct adv_ctx *cx, const struct adv_rule *r)
{
    double total = total_of(cx, false);
    for (size_t i = 0; i < cx->asites.n; i++) {
        const struct adv_alloc_site *s = &cx->asites.sites[i];
        double re = s->kind_reallocs_per_req[ADV_AK_GROWTH];
        double v = s->kind_allocs_per_req[ADV_AK_GROWTH], sh = share_of(v, total);
        if (s->blame.code != ADV_CODE_USER || re < GROWTH_REALLOCS_MIN || sh < SHARE_MIN)
            continue;
        emit_site(cx, r, s, sh, 0.75,
                  adv_strf("A collection grows by reallocation: %.2f reallocs per request", re),
                  adv_strf("%.2f reallocations per request in growth chains at this site "
                           "(threshold >= %.0f); %.2f growth allocations per request, %.1f%% of "
                           "the process's (threshold >= %.0f%%)",
                           re, GROWTH_REALLOCS_MIN, v, sh * 100, SHARE_MIN * 100));
    }
}

static void serde_churn(struct adv_ctx *cx, const struct adv_rule *r)
{
    double total = total_of(cx, false), serde = 0, top = 0;
    const struct adv_alloc_site *where = NULL;
    size_t nsites = 0;
    for (size_t i = 0; i < cx->asites.n; i++) {
        const struct adv_alloc_site *s = &cx->asites.sites[i];
        double v = s->kind_allocs_per_req[ADV_AK_SERDE];
        if (s->blame.code != ADV_CODE_USER || v <= 0)
            continue;
        serde += v;
        nsites++;
        if (v > top) {
            top = v;
            where = s;
        }
    }
    double sh = share_of(serde, total);
    if (where == NULL || serde < SERDE_INFO || sh < SERDE_INFO_SHARE)
        return;
    bool warn = serde >= SERDE_WARN && sh >= SERDE_WARN_SHARE;
    struct adv_draft d = {
        .severity = warn ? ADV_WARNING : ADV_INFO,
        .impact = sh,
        .confidence = 0.6,
        .title = adv_strf("serde (de)serialization makes %.0f%% of the allocations", sh * 100),
        .evidence = adv_strf("%.2f serde allocations per request (threshold >= %.0f info, >= %.0f "
                             "warning), %.1f%% of the process's (threshold >= %.0f%% info, >= "
                             "%.0f%% warning), over %zu site%s; the top one %.2f",
                             serde, SERDE_INFO, SERDE_WARN, sh * 100, SERDE_INFO_SHARE * 100,
                             SERDE_WARN_SHARE * 100, nsites, nsites == 1 ? "" : "s", top),
        .where = adv_where_frame(&where->blame),
        .detail = adv_alloc_site_detail(cx->f, where),
    };
    adv_emit(cx, r, &d);
}

static void live_bytes_growing(struct adv_ctx *cx, const struct adv_rule *r)
{
    double all_growth = 0;
    for (size_t i = 0; i < cx->asites.n; i++) {
        const struct adv_alloc_site *s = &cx->asites.sites[i];
        if (s->live_end_bytes > s->live_start_bytes)
            all_growth += (double)(s->live_end_bytes - s->live_start_bytes);
    }
    double reqs = (double)cx->f->run.requests;
    for (size_t i = 0; i < cx->asites.n; i++) {
        const struct adv_alloc_site *s = &cx->asites.sites[i];
        double start = (double)s->live_start_bytes, end = (double)s->live_end_bytes;
        double growth = end - start, per_req = growth / reqs;
        enum adv_code code = s->blame.code;
        if (code == ADV_CODE_ALLOCATOR || code == ADV_CODE_UNKNOWN || growth < LIVE_GROWTH_MIN ||
            per_req < LIVE_PER_REQ_MIN || (start > 0 && end < LIVE_END_OVER_START * start) ||
            (s->live_rising >= 0 && s->live_rising < LIVE_RISING))
            continue;
        double retained = s->bytes ? growth / (double)s->bytes : 0;
        bool crit = s->live_rising >= LIVE_RISING_CRIT && retained >= LIVE_RETAINED_CRIT;
        char a[32], b[32], g[32], rising[80] = "";
        adv_fmt_bytes(a, sizeof(a), start);
        adv_fmt_bytes(b, sizeof(b), end);
        adv_fmt_bytes(g, sizeof(g), growth);
        if (s->live_rising >= 0)
            snprintf(rising, sizeof(rising), ", rising in %.0f%% of seconds (threshold >= %.0f%%)",
                     s->live_rising * 100, LIVE_RISING * 100);
        struct adv_draft d = {
            .severity = crit ? ADV_CRITICAL : ADV_WARNING,
            .impact = all_growth > 0 ? growth / all_growth : 0,
            .confidence = s->live_rising >= 0 ? 0.85 : 0.6,
            .title = adv_strf("Live memory grows at one site: +%s over the run", g),
            .evidence = adv_strf("live bytes %s -> %s (+%s, threshold >= 1 MiB and >= %.1fx), "
                                 "%.0f bytes kept per request (threshold >= %.0f)%s; keeps %.0f%% "
                                 "of what it allocates",
                                 a, b, g, LIVE_END_OVER_START, per_req, LIVE_PER_REQ_MIN, rising,
                                 retained * 100),
            .where = adv_where_frame(&s->blame),
            .detail = adv_alloc_site_detail(cx->f, s),
        };
        adv_emit(cx, r, &d);
    }
}

const struct adv_rule adv_rules_alloc[] = {
    {"alloc.format_in_hot_path", "alloc", ADV_IN_RUN | ADV_IN_ALLOC, 0,
     "reuse a buffer (clear() then push_str / write!), build keys as &str or with a \"prefix\" "
     "constant and push_str; no format! per item",
     format_in_hot_path},
    {"alloc.clone_in_hot_path", "alloc", ADV_IN_RUN | ADV_IN_ALLOC, 0,
     "borrow (&T, &[T], &str) instead of cloning; share with Arc<T> (Arc::clone is a count), "
     "Cow for maybe-owned data",
     clone_in_hot_path},
    {"alloc.vec_growth", "alloc", ADV_IN_RUN | ADV_IN_ALLOC, 0,
     "Vec::with_capacity / String::with_capacity (or reserve) with the known size, or reuse the "
     "collection across requests (clear keeps the capacity)",
     vec_growth},
    {"alloc.serde_churn", "alloc", ADV_IN_RUN | ADV_IN_ALLOC, 0,
     "deserialize into structs that borrow (&str, Cow<'_, str> with #[serde(borrow)]) instead of "
     "serde_json::Value and String fields; serialize with to_writer into a reused buffer",
     serde_churn},
    {"mem.live_bytes_growing", "alloc", ADV_IN_RUN | ADV_IN_ALLOC | ADV_IN_LIVE, 0,
     "bound the cache (an LRU, a TTL, a maximum size), or find the leak at that stack",
     live_bytes_growing},
};
const size_t adv_rules_alloc_n = sizeof(adv_rules_alloc) / sizeof(adv_rules_alloc[0]);
