/*
 * hdr: High Dynamic Range latency histograms (after Gil Tene's HdrHistogram).
 *
 * Values are integers in a caller-chosen unit (loadscope records microseconds)
 * from 1 up to a configured highest trackable value, kept to a configured
 * number of significant decimal digits: with 3 digits any recorded value is
 * reported within 0.1 % of itself. Memory is fixed at creation whatever the
 * number of samples, so a run of any length stays bounded.
 *
 * A histogram is not thread-safe: each thread records into its own and a
 * reader merges them (hdr_add). Recording never allocates.
 */
#ifndef LS_HDR_H
#define LS_HDR_H

#include <stddef.h>
#include <stdint.h>

#include "util/lserr.h"

struct hdr;

/* loadscope's standard latency histogram: 1 us .. 1 h (3.6e9 us), 3 digits. */
#define HDR_LS_LOWEST 1
#define HDR_LS_HIGHEST 3600000000LL
#define HDR_LS_DIGITS 3

/*
 * Creates a histogram tracking [lowest, highest] with sig_digits (1..5)
 * significant digits. lowest >= 1, highest >= 2 * lowest; a highest whose
 * slots would not fit in int64 (about 2^62 and up) is LS_ERR_RANGE.
 * On success *out owns the histogram; free it with hdr_close().
 */
LS_MUST_CHECK ls_err hdr_open(int64_t lowest, int64_t highest, int sig_digits, struct hdr **out);

/* Shorthand for hdr_open(HDR_LS_LOWEST, HDR_LS_HIGHEST, HDR_LS_DIGITS, out). */
LS_MUST_CHECK ls_err hdr_open_latency(struct hdr **out);

/* Frees h; NULL is ignored. */
void hdr_close(struct hdr *h);

/* Forgets every recorded value, keeping the configuration. */
void hdr_reset(struct hdr *h);

/*
 * Records `count` occurrences of `value`. Values below lowest are recorded as
 * lowest; values above highest are clamped to highest and counted in
 * hdr_saturated(). Never fails, never allocates.
 */
void hdr_record_n(struct hdr *h, int64_t value, int64_t count);
static inline void hdr_record(struct hdr *h, int64_t value)
{
    hdr_record_n(h, value, 1);
}

/*
 * Adds every count of src into dst. Both must have the same configuration
 * (lowest, highest, digits); otherwise LS_ERR_INVALID and dst is unchanged.
 * LS_ERR_RANGE (dst unchanged) if the total count would overflow int64.
 * Does not allocate.
 */
LS_MUST_CHECK ls_err hdr_add(struct hdr *dst, const struct hdr *src);

int64_t hdr_total_count(const struct hdr *h);
int64_t hdr_min(const struct hdr *h);  /* lowest equivalent of the smallest value; 0 when empty */
int64_t hdr_max(const struct hdr *h);  /* highest equivalent of the largest value; 0 when empty */
double hdr_mean(const struct hdr *h);  /* of each bucket's median equivalent value; 0 when empty */
double hdr_stddev(const struct hdr *h);
int64_t hdr_saturated(const struct hdr *h); /* values recorded above highest */

/*
 * The value at percentile p (0 < p <= 100): the highest value equivalent to
 * the smallest recorded value v such that at least p % of all counts are <= v
 * (HdrHistogram's definition). 0 when empty.
 */
int64_t hdr_value_at_percentile(const struct hdr *h, double p);

/* Largest/smallest value that lands in the same bucket as v. */
int64_t hdr_highest_equivalent(const struct hdr *h, int64_t v);
int64_t hdr_lowest_equivalent(const struct hdr *h, int64_t v);

/*
 * Iteration over non-empty buckets in increasing value order.
 * Initialise with hdr_iter_init, then call hdr_iter_next until it returns 0.
 */
struct hdr_iter {
    const struct hdr *h;
    int32_t index;           /* internal cursor */
    int64_t value;           /* highest equivalent value of the bucket */
    int64_t value_lowest;    /* lowest equivalent value of the bucket */
    int64_t count;           /* counts in this bucket */
    int64_t cumulative;      /* counts up to and including this bucket */
};
void hdr_iter_init(struct hdr_iter *it, const struct hdr *h);
int hdr_iter_next(struct hdr_iter *it);

/*
 * Compact encoding for storage: a small header (magic, version, lowest,
 * highest, digits) then the counts as zig-zag LEB128 varints with runs of
 * empty buckets collapsed. hdr_encoded_size_max() bounds the size.
 * hdr_encode writes at most cap bytes and stores the size in *len
 * (LS_ERR_FULL if cap is too small; *len is then the size needed).
 * hdr_encoded_size_max() is the exact size of the current contents' encoding.
 * The encoding ends in a CRC-32, so a damaged byte (any burst of up to 32
 * bits) is always caught.
 */
size_t hdr_encoded_size_max(const struct hdr *h);
LS_MUST_CHECK ls_err hdr_encode(const struct hdr *h, uint8_t *buf, size_t cap, size_t *len);

/*
 * Decodes buf into a new histogram (*out, caller frees with hdr_close).
 * Rejects truncated or corrupt input with LS_ERR_PARSE, never reading past len.
 */
LS_MUST_CHECK ls_err hdr_decode(const uint8_t *buf, size_t len, struct hdr **out);

/*
 * Decodes buf and adds its counts into dst (same configuration required);
 * lets a reader merge many stored intervals without allocating.
 * LS_ERR_PARSE for corrupt input, LS_ERR_INVALID for another configuration,
 * LS_ERR_RANGE if the total would overflow; dst is unchanged on any error.
 */
LS_MUST_CHECK ls_err hdr_decode_add(struct hdr *dst, const uint8_t *buf, size_t len);

/*
 * Bytes held by h (header and counts): fixed at hdr_open whatever is
 * recorded. About 184 KiB for the latency configuration.
 */
size_t hdr_memory_size(const struct hdr *h);

#endif
