/*
 * hdr: High Dynamic Range latency histograms (after Gil Tene's HdrHistogram).
 *
 * The layout is HdrHistogram's: values are split into buckets by powers of
 * two; each bucket holds sub_bucket_count/2 linear sub-buckets (bucket 0 holds
 * all sub_bucket_count of them), so every bucket keeps the same relative
 * precision. A value's slot is found with one count-leading-zeros and two
 * shifts, which keeps hdr_record_n branch-light; the counts live in the same
 * allocation as the header, so a histogram is one malloc and one free.
 *
 * Statistics are derived from the counts alone (min is the lowest equivalent
 * of the smallest value, max the highest equivalent of the largest, the mean
 * uses each bucket's median equivalent) so a histogram read back from its
 * encoding, or merged from several, reports exactly what the original did.
 *
 * Encoding (version 1, all integers LEB128 varints unless said otherwise):
 *   "LSHD"  4 bytes magic
 *   0x01    1 byte version
 *   lowest, highest, sig_digits, total_count, saturated
 *   entries up to the last non-empty slot: zig-zag varint, a value >= 0 is
 *           the count of the next slot, a value -k < 0 skips k empty slots
 *   crc32   4 bytes little-endian, IEEE CRC-32 of everything before it
 * DEFLATE is left out (HdrHistogram V2 uses it); the CRC takes the place of
 * the integrity check zlib would have given. Decoding checks every bound
 * before it touches memory and validates the whole input before it writes.
 */
#include "stats/hdr.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct hdr {
    int64_t lowest;  /* configured lowest trackable value (>= 1) */
    int64_t highest; /* configured highest trackable value; larger values clamp here */
    int32_t sig_digits;
    int32_t unit_magnitude;                  /* floor(log2(lowest)) */
    int32_t sub_bucket_half_count_magnitude; /* log2(sub_bucket_count) - 1 */
    int32_t sub_bucket_count;                /* 2^ceil(log2(2 * 10^digits)) */
    int32_t sub_bucket_half_count;
    int32_t bucket_count;
    int64_t sub_bucket_mask; /* (sub_bucket_count - 1) << unit_magnitude */
    int32_t counts_len;      /* (bucket_count + 1) * sub_bucket_half_count */
    int64_t total;           /* sum of counts */
    int64_t saturated;       /* counts recorded above highest */
    int64_t min_value;       /* smallest recorded (clamped) value; INT64_MAX when empty */
    int64_t max_value;       /* largest recorded (clamped) value; 0 when empty */
    int64_t counts[];        /* counts_len slots */
};

/* What a configuration needs, computed without allocating (decode uses it to
 * validate an input before committing memory to it). */
struct hdr_layout {
    int32_t unit_magnitude;
    int32_t sub_bucket_half_count_magnitude;
    int32_t bucket_count;
    int32_t counts_len;
};

static const uint8_t hdr_magic[4] = {'L', 'S', 'H', 'D'};
enum { HDR_VERSION = 1, HDR_VARINT_MAX = 10, HDR_CRC_LEN = 4 };

static ls_err hdr_layout_compute(int64_t lowest, int64_t highest, int sig_digits,
                                 struct hdr_layout *lay)
{
    if (lowest < 1 || sig_digits < 1 || sig_digits > 5 || lowest > INT64_MAX / 2 ||
        highest < 2 * lowest)
        return LS_ERR_INVALID;

    int64_t single_unit_max = 2;
    for (int i = 0; i < sig_digits; i++)
        single_unit_max *= 10;
    int32_t sub_bucket_count_magnitude = 0;
    while ((INT64_C(1) << sub_bucket_count_magnitude) < single_unit_max)
        sub_bucket_count_magnitude++;

    int32_t unit_magnitude = 0;
    while ((lowest >> (unit_magnitude + 1)) != 0)
        unit_magnitude++;

    /* Every slot's value range must fit in int64 without overflow. */
    if (unit_magnitude + sub_bucket_count_magnitude > 62)
        return LS_ERR_RANGE;
    int64_t smallest_untrackable = INT64_C(1) << (unit_magnitude + sub_bucket_count_magnitude);
    int32_t buckets = 1;
    while (smallest_untrackable <= highest) {
        if (smallest_untrackable > INT64_MAX / 2)
            return LS_ERR_RANGE;
        smallest_untrackable <<= 1;
        buckets++;
    }

    lay->unit_magnitude = unit_magnitude;
    lay->sub_bucket_half_count_magnitude = sub_bucket_count_magnitude - 1;
    lay->bucket_count = buckets;
    lay->counts_len = (buckets + 1) * (INT32_C(1) << (sub_bucket_count_magnitude - 1));
    return LS_OK;
}

/* Slot of v, which must be in [0, highest trackable]. */
static inline int32_t hdr_index_of(const struct hdr *h, int64_t v)
{
    int32_t pow2ceiling = 64 - __builtin_clzll((unsigned long long)(v | h->sub_bucket_mask));
    int32_t bucket = pow2ceiling - h->unit_magnitude - (h->sub_bucket_half_count_magnitude + 1);
    int32_t sub_bucket = (int32_t)(v >> (bucket + h->unit_magnitude));
    return ((bucket + 1) << h->sub_bucket_half_count_magnitude) +
           (sub_bucket - h->sub_bucket_half_count);
}

/* Lowest value of slot i. */
static int64_t hdr_value_at_index(const struct hdr *h, int32_t i)
{
    int32_t bucket = (i >> h->sub_bucket_half_count_magnitude) - 1;
    int32_t sub_bucket = (i & (h->sub_bucket_half_count - 1)) + h->sub_bucket_half_count;
    if (bucket < 0) {
        sub_bucket -= h->sub_bucket_half_count;
        bucket = 0;
    }
    return (int64_t)sub_bucket << (bucket + h->unit_magnitude);
}

/* Width of slot i's value range. */
static int64_t hdr_width_at_index(const struct hdr *h, int32_t i)
{
    int32_t bucket = (i >> h->sub_bucket_half_count_magnitude) - 1;
    if (bucket < 0)
        bucket = 0;
    return INT64_C(1) << (bucket + h->unit_magnitude);
}

static int64_t hdr_clamp(const struct hdr *h, int64_t v)
{
    v = v < h->lowest ? h->lowest : v;
    return v > h->highest ? h->highest : v;
}

static void hdr_clear(struct hdr *h)
{
    memset(h->counts, 0, (size_t)h->counts_len * sizeof h->counts[0]);
    h->total = 0;
    h->saturated = 0;
    h->min_value = INT64_MAX;
    h->max_value = 0;
}

/* Fills every field but the counts, which the caller provides or ignores. */
static void hdr_init_header(struct hdr *h, int64_t lowest, int64_t highest, int sig_digits,
                            const struct hdr_layout *lay)
{
    h->lowest = lowest;
    h->highest = highest;
    h->sig_digits = sig_digits;
    h->unit_magnitude = lay->unit_magnitude;
    h->sub_bucket_half_count_magnitude = lay->sub_bucket_half_count_magnitude;
    h->sub_bucket_count = INT32_C(2) << lay->sub_bucket_half_count_magnitude;
    h->sub_bucket_half_count = h->sub_bucket_count / 2;
    h->bucket_count = lay->bucket_count;
    h->sub_bucket_mask = (int64_t)(h->sub_bucket_count - 1) << lay->unit_magnitude;
    h->counts_len = lay->counts_len;
    h->total = 0;
    h->saturated = 0;
    h->min_value = INT64_MAX;
    h->max_value = 0;
}

ls_err hdr_open(int64_t lowest, int64_t highest, int sig_digits, struct hdr **out)
{
    struct hdr_layout lay;
    struct hdr *h = NULL;
    ls_err rc;

    if (out == NULL)
        return LS_ERR_INVALID;
    *out = NULL;
    rc = hdr_layout_compute(lowest, highest, sig_digits, &lay);
    if (rc != LS_OK)
        goto out;
    h = malloc(sizeof *h + (size_t)lay.counts_len * sizeof h->counts[0]);
    if (h == NULL) {
        rc = LS_ERR_NOMEM;
        goto out;
    }
    hdr_init_header(h, lowest, highest, sig_digits, &lay);
    hdr_clear(h);
    *out = h;
out:
    return rc;
}

ls_err hdr_open_latency(struct hdr **out)
{
    return hdr_open(HDR_LS_LOWEST, HDR_LS_HIGHEST, HDR_LS_DIGITS, out);
}

void hdr_close(struct hdr *h)
{
    free(h);
}

void hdr_reset(struct hdr *h)
{
    hdr_clear(h);
}

size_t hdr_memory_size(const struct hdr *h)
{
    return sizeof *h + (size_t)h->counts_len * sizeof h->counts[0];
}

void hdr_record_n(struct hdr *h, int64_t value, int64_t count)
{
    /* The one branch is taken only by a caller's bug and predicts perfectly;
     * the clamps and min/max compile to conditional moves. */
    if (count <= 0)
        return;
    int64_t v = value < h->lowest ? h->lowest : value;
    int64_t over = v > h->highest;
    v = over ? h->highest : v;
    h->counts[hdr_index_of(h, v)] += count;
    h->total += count;
    h->saturated += over * count;
    h->min_value = v < h->min_value ? v : h->min_value;
    h->max_value = v > h->max_value ? v : h->max_value;
}

static int hdr_same_config(const struct hdr *a, const struct hdr *b)
{
    return a->lowest == b->lowest && a->highest == b->highest && a->sig_digits == b->sig_digits;
}

ls_err hdr_add(struct hdr *dst, const struct hdr *src)
{
    if (!hdr_same_config(dst, src))
        return LS_ERR_INVALID;
    if (src->total == 0)
        return LS_OK;
    if (src->total > INT64_MAX - dst->total)
        return LS_ERR_RANGE;
    int32_t first = hdr_index_of(src, src->min_value);
    int32_t last = hdr_index_of(src, src->max_value);
    for (int32_t i = first; i <= last; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    dst->saturated += src->saturated;
    dst->min_value = src->min_value < dst->min_value ? src->min_value : dst->min_value;
    dst->max_value = src->max_value > dst->max_value ? src->max_value : dst->max_value;
    return LS_OK;
}

int64_t hdr_total_count(const struct hdr *h)
{
    return h->total;
}

int64_t hdr_saturated(const struct hdr *h)
{
    return h->saturated;
}

int64_t hdr_lowest_equivalent(const struct hdr *h, int64_t v)
{
    return hdr_value_at_index(h, hdr_index_of(h, hdr_clamp(h, v)));
}

int64_t hdr_highest_equivalent(const struct hdr *h, int64_t v)
{
    int32_t i = hdr_index_of(h, hdr_clamp(h, v));
    return hdr_value_at_index(h, i) + hdr_width_at_index(h, i) - 1;
}

int64_t hdr_min(const struct hdr *h)
{
    return h->total == 0 ? 0 : hdr_lowest_equivalent(h, h->min_value);
}

int64_t hdr_max(const struct hdr *h)
{
    return h->total == 0 ? 0 : hdr_highest_equivalent(h, h->max_value);
}

/* The value HdrHistogram uses to stand for a whole slot in the mean. */
static double hdr_median_at_index(const struct hdr *h, int32_t i)
{
    return (double)(hdr_value_at_index(h, i) + (hdr_width_at_index(h, i) >> 1));
}

double hdr_mean(const struct hdr *h)
{
    if (h->total == 0)
        return 0.0;
    int32_t first = hdr_index_of(h, h->min_value);
    int32_t last = hdr_index_of(h, h->max_value);
    double sum = 0.0;
    for (int32_t i = first; i <= last; i++) {
        if (h->counts[i] != 0)
            sum += (double)h->counts[i] * hdr_median_at_index(h, i);
    }
    return sum / (double)h->total;
}

double hdr_stddev(const struct hdr *h)
{
    if (h->total == 0)
        return 0.0;
    double mean = hdr_mean(h);
    int32_t first = hdr_index_of(h, h->min_value);
    int32_t last = hdr_index_of(h, h->max_value);
    double sq = 0.0;
    for (int32_t i = first; i <= last; i++) {
        if (h->counts[i] != 0) {
            double d = hdr_median_at_index(h, i) - mean;
            sq += d * d * (double)h->counts[i];
        }
    }
    return sqrt(sq / (double)h->total);
}

int64_t hdr_value_at_percentile(const struct hdr *h, double p)
{
    if (h->total == 0)
        return 0;
    if (p >= 100.0)
        return hdr_max(h);
    /* NaN and p <= 0 ask for the first value; the rank is bounded before the
     * conversion so a huge total cannot overflow it. */
    int64_t want = 1;
    if (p > 0.0) {
        double r = p / 100.0 * (double)h->total + 0.5;
        if (r >= (double)h->total)
            want = h->total;
        else if (r >= 1.0)
            want = (int64_t)r;
    }
    int32_t first = hdr_index_of(h, h->min_value);
    int32_t last = hdr_index_of(h, h->max_value);
    int64_t cumulative = 0;
    for (int32_t i = first; i <= last; i++) {
        cumulative += h->counts[i];
        if (cumulative >= want)
            return hdr_value_at_index(h, i) + hdr_width_at_index(h, i) - 1;
    }
    return hdr_max(h); /* not reached: counts sum to total */
}

void hdr_iter_init(struct hdr_iter *it, const struct hdr *h)
{
    memset(it, 0, sizeof *it);
    it->h = h;
    /* start just before the smallest value's slot: nothing lies below it */
    it->index = h->total == 0 ? -1 : hdr_index_of(h, h->min_value) - 1;
}

int hdr_iter_next(struct hdr_iter *it)
{
    const struct hdr *h = it->h;
    if (h->total == 0 || it->cumulative >= h->total)
        return 0;
    for (int32_t i = it->index + 1; i < h->counts_len; i++) {
        if (h->counts[i] != 0) {
            it->index = i;
            it->count = h->counts[i];
            it->cumulative += it->count;
            it->value_lowest = hdr_value_at_index(h, i);
            it->value = it->value_lowest + hdr_width_at_index(h, i) - 1;
            return 1;
        }
    }
    return 0;
}

/* ---- encoding ---------------------------------------------------------- */

/* IEEE CRC-32 (zlib's), four bits at a time: a 16-entry table is enough for
 * the few kilobytes an interval takes and needs no mutable state. */
static uint32_t hdr_crc32(const uint8_t *p, size_t n)
{
    static const uint32_t tab[16] = {
        0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
        0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
        0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
    };
    uint32_t crc = 0xffffffffu;
    for (size_t k = 0; k < n; k++) {
        crc ^= p[k];
        crc = (crc >> 4) ^ tab[crc & 15u];
        crc = (crc >> 4) ^ tab[crc & 15u];
    }
    return crc ^ 0xffffffffu;
}

/* A bounded writer: counts what it would write, stores only what fits. */
struct hdr_wbuf {
    uint8_t *buf;
    size_t cap;
    size_t len;
};

static void hdr_put_byte(struct hdr_wbuf *w, uint8_t b)
{
    if (w->buf != NULL && w->len < w->cap)
        w->buf[w->len] = b;
    w->len++;
}

static void hdr_put_varint(struct hdr_wbuf *w, uint64_t u)
{
    while (u >= 0x80u) {
        hdr_put_byte(w, (uint8_t)(u | 0x80u));
        u >>= 7;
    }
    hdr_put_byte(w, (uint8_t)u);
}

/* Zig-zag without signed overflow: 0,-1,1,-2,... -> 0,1,2,3,... */
static uint64_t hdr_zigzag(int64_t v)
{
    return v >= 0 ? (uint64_t)v << 1 : (((uint64_t)(-(v + 1))) << 1) | 1u;
}

static void hdr_encode_into(const struct hdr *h, struct hdr_wbuf *w)
{
    for (size_t k = 0; k < sizeof hdr_magic; k++)
        hdr_put_byte(w, hdr_magic[k]);
    hdr_put_byte(w, HDR_VERSION);
    hdr_put_varint(w, (uint64_t)h->lowest);
    hdr_put_varint(w, (uint64_t)h->highest);
    hdr_put_varint(w, (uint64_t)h->sig_digits);
    hdr_put_varint(w, (uint64_t)h->total);
    hdr_put_varint(w, (uint64_t)h->saturated);
    if (h->total != 0) {
        int32_t first = hdr_index_of(h, h->min_value);
        int32_t last = hdr_index_of(h, h->max_value);
        int64_t zeros = first;
        for (int32_t i = first; i <= last; i++) {
            if (h->counts[i] == 0) {
                zeros++;
                continue;
            }
            if (zeros != 0)
                hdr_put_varint(w, hdr_zigzag(-zeros));
            zeros = 0;
            hdr_put_varint(w, hdr_zigzag(h->counts[i]));
        }
    }
    size_t body = w->len;
    uint32_t crc = 0;
    if (w->buf != NULL && body <= w->cap)
        crc = hdr_crc32(w->buf, body);
    for (int k = 0; k < HDR_CRC_LEN; k++)
        hdr_put_byte(w, (uint8_t)(crc >> (8 * k)));
}

size_t hdr_encoded_size_max(const struct hdr *h)
{
    struct hdr_wbuf w = {NULL, 0, 0};
    hdr_encode_into(h, &w);
    return w.len;
}

ls_err hdr_encode(const struct hdr *h, uint8_t *buf, size_t cap, size_t *len)
{
    struct hdr_wbuf w = {buf, cap, 0};
    hdr_encode_into(h, &w);
    *len = w.len;
    return w.len <= cap ? LS_OK : LS_ERR_FULL;
}

/* A bounded reader: never looks at p[end] or beyond. */
struct hdr_rbuf {
    const uint8_t *p;
    size_t pos;
    size_t end;
};

/* Reads an unsigned LEB128 of at most 10 bytes whose value fits in 64 bits. */
static int hdr_get_varint(struct hdr_rbuf *r, uint64_t *out)
{
    uint64_t u = 0;
    for (int k = 0; k < HDR_VARINT_MAX; k++) {
        if (r->pos >= r->end)
            return 0;
        uint8_t b = r->p[r->pos++];
        if (k == HDR_VARINT_MAX - 1 && b > 1)
            return 0; /* bits beyond the 64th */
        u |= (uint64_t)(b & 0x7fu) << (7 * k);
        if ((b & 0x80u) == 0) {
            *out = u;
            return 1;
        }
    }
    return 0;
}

static int hdr_get_int64(struct hdr_rbuf *r, int64_t *out)
{
    uint64_t u;
    if (!hdr_get_varint(r, &u) || u > (uint64_t)INT64_MAX)
        return 0;
    *out = (int64_t)u;
    return 1;
}

/* What an encoding's header says, and where its entries are. */
struct hdr_decoded {
    int64_t lowest;
    int64_t highest;
    int64_t digits;
    int64_t total;
    int64_t saturated;
    struct hdr_layout lay;
    struct hdr_rbuf entries; /* the entries, without the CRC */
};

static ls_err hdr_parse_header(const uint8_t *buf, size_t len, struct hdr_decoded *d)
{
    if (buf == NULL || len < sizeof hdr_magic + 1 + HDR_CRC_LEN)
        return LS_ERR_PARSE;
    if (memcmp(buf, hdr_magic, sizeof hdr_magic) != 0 || buf[sizeof hdr_magic] != HDR_VERSION)
        return LS_ERR_PARSE;
    size_t body = len - HDR_CRC_LEN;
    uint32_t want = (uint32_t)buf[body] | (uint32_t)buf[body + 1] << 8 |
                    (uint32_t)buf[body + 2] << 16 | (uint32_t)buf[body + 3] << 24;
    if (hdr_crc32(buf, body) != want)
        return LS_ERR_PARSE;

    struct hdr_rbuf r = {buf, sizeof hdr_magic + 1, body};
    if (!hdr_get_int64(&r, &d->lowest) || !hdr_get_int64(&r, &d->highest) ||
        !hdr_get_int64(&r, &d->digits) || !hdr_get_int64(&r, &d->total) ||
        !hdr_get_int64(&r, &d->saturated))
        return LS_ERR_PARSE;
    if (d->digits > 5 || d->saturated > d->total)
        return LS_ERR_PARSE;
    if (hdr_layout_compute(d->lowest, d->highest, (int)d->digits, &d->lay) != LS_OK)
        return LS_ERR_PARSE;
    d->entries = r;
    return LS_OK;
}

/*
 * Walks the entries of d against the slot layout of h (which has d's
 * configuration). With counts == NULL it only validates: every slot in
 * bounds, counts only where a recorded value can land, the sum equal to the
 * stated total and the saturated count within the highest slot. Otherwise it
 * adds the counts in and reports the first and last non-empty slots.
 */
static ls_err hdr_walk_entries(const struct hdr *h, const struct hdr_decoded *d, int64_t *counts,
                               int32_t *first, int32_t *last)
{
    struct hdr_rbuf r = d->entries;
    int32_t lo = hdr_index_of(h, h->lowest);
    int32_t hi = hdr_index_of(h, h->highest);
    int64_t idx = 0;
    int64_t sum = 0;
    int64_t at_highest = 0;
    *first = -1;
    *last = -1;
    while (r.pos < r.end) {
        uint64_t u;
        if (!hdr_get_varint(&r, &u))
            return LS_ERR_PARSE;
        if (u & 1u) {
            uint64_t run = (u >> 1) + 1;
            if (run > (uint64_t)(h->counts_len - idx))
                return LS_ERR_PARSE;
            idx += (int64_t)run;
            continue;
        }
        int64_t c = (int64_t)(u >> 1);
        if (idx < lo || idx > hi || c > INT64_MAX - sum)
            return LS_ERR_PARSE;
        sum += c;
        if (idx == hi)
            at_highest = c;
        if (c != 0) {
            if (*first < 0)
                *first = (int32_t)idx;
            *last = (int32_t)idx;
            if (counts != NULL)
                counts[idx] += c;
        }
        idx++;
    }
    if (sum != d->total || d->saturated > at_highest)
        return LS_ERR_PARSE;
    return LS_OK;
}

/* Adds validated entries into h and widens its min/max to cover them. */
static void hdr_apply(struct hdr *h, const struct hdr_decoded *d)
{
    int32_t first, last;
    if (hdr_walk_entries(h, d, h->counts, &first, &last) != LS_OK || first < 0)
        return; /* validated by the caller: only an empty histogram gets here */
    int64_t lo = hdr_clamp(h, hdr_value_at_index(h, first));
    int64_t hi = hdr_clamp(h, hdr_value_at_index(h, last));
    h->min_value = lo < h->min_value ? lo : h->min_value;
    h->max_value = hi > h->max_value ? hi : h->max_value;
    h->total += d->total;
    h->saturated += d->saturated;
}

ls_err hdr_decode(const uint8_t *buf, size_t len, struct hdr **out)
{
    struct hdr_decoded d;
    struct hdr probe; /* the configuration's header alone, to validate against */
    struct hdr *h = NULL;
    int32_t first, last;
    ls_err rc;

    if (out == NULL)
        return LS_ERR_INVALID;
    *out = NULL;
    rc = hdr_parse_header(buf, len, &d);
    if (rc != LS_OK)
        goto out;
    hdr_init_header(&probe, d.lowest, d.highest, (int)d.digits, &d.lay);
    rc = hdr_walk_entries(&probe, &d, NULL, &first, &last);
    if (rc != LS_OK)
        goto out;
    rc = hdr_open(d.lowest, d.highest, (int)d.digits, &h);
    if (rc != LS_OK)
        goto out;
    hdr_apply(h, &d);
    *out = h;
    h = NULL;
out:
    hdr_close(h);
    return rc;
}

ls_err hdr_decode_add(struct hdr *dst, const uint8_t *buf, size_t len)
{
    struct hdr_decoded d;
    int32_t first, last;
    ls_err rc = hdr_parse_header(buf, len, &d);
    if (rc != LS_OK)
        return rc;
    if (d.lowest != dst->lowest || d.highest != dst->highest || d.digits != dst->sig_digits)
        return LS_ERR_INVALID;
    rc = hdr_walk_entries(dst, &d, NULL, &first, &last);
    if (rc != LS_OK)
        return rc;
    if (d.total > INT64_MAX - dst->total)
        return LS_ERR_RANGE;
    hdr_apply(dst, &d);
    return LS_OK;
}
