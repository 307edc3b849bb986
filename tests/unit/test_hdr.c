/*
 * test_hdr: the latency histogram against exact computation.
 *
 * Every data set is also sorted, and each answer of the histogram is checked
 * against the exact order statistic / sum of the same data, using a bucket
 * formula written here independently of core/hdr.c (HdrHistogram's layout:
 * slots of width 2^unit below 2^(s + unit), then 2^(floor(log2 v) - s + 1)).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats/hdr.h"

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1). */
static double rng_unit(void)
{
    return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
}

static double rng_normal(void)
{
    return sqrt(-2.0 * log(rng_unit())) * cos(6.283185307179586 * rng_unit());
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The reference slot layout: s = log2(sub_bucket_count), u = unit magnitude. */
struct ref {
    int s;
    int u;
};

static int floor_log2(int64_t v)
{
    int k = 0;
    while ((v >> (k + 1)) != 0)
        k++;
    return k;
}

static int64_t ref_width(struct ref r, int64_t v)
{
    if (v < (INT64_C(1) << (r.s + r.u)))
        return INT64_C(1) << r.u;
    return INT64_C(1) << (floor_log2(v) - r.s + 1);
}

static int64_t ref_lowest(struct ref r, int64_t v)
{
    return v - v % ref_width(r, v);
}

static int64_t ref_highest(struct ref r, int64_t v)
{
    return ref_lowest(r, v) + ref_width(r, v) - 1;
}

static const struct ref ref_latency = {11, 0}; /* 2 * 10^3 -> 2048 sub-buckets, lowest 1 */

static struct hdr *open_latency(void)
{
    struct hdr *h = NULL;
    assert_int_equal(hdr_open_latency(&h), LS_OK);
    assert_non_null(h);
    return h;
}

/* Asserts a and b hold exactly the same buckets and counts. */
static void assert_same_buckets(const struct hdr *a, const struct hdr *b)
{
    struct hdr_iter ia, ib;
    hdr_iter_init(&ia, a);
    hdr_iter_init(&ib, b);
    for (;;) {
        int na = hdr_iter_next(&ia);
        int nb = hdr_iter_next(&ib);
        assert_int_equal(na, nb);
        if (!na)
            break;
        assert_int_equal(ia.value, ib.value);
        assert_int_equal(ia.value_lowest, ib.value_lowest);
        assert_int_equal(ia.count, ib.count);
        assert_int_equal(ia.cumulative, ib.cumulative);
    }
    assert_int_equal(hdr_total_count(a), hdr_total_count(b));
    assert_int_equal(hdr_saturated(a), hdr_saturated(b));
    assert_int_equal(hdr_min(a), hdr_min(b));
    assert_int_equal(hdr_max(a), hdr_max(b));
    assert_true(hdr_mean(a) == hdr_mean(b));
    assert_true(hdr_stddev(a) == hdr_stddev(b));
}

/* Bitwise CRC-32 (IEEE), independent of the table-driven one in hdr.c. */
static uint32_t test_crc32(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* A hand-built encoding, for inputs hdr_encode would never produce. */
struct enc {
    uint8_t b[256];
    size_t n;
};

static void enc_byte(struct enc *e, uint8_t v)
{
    assert_true(e->n < sizeof e->b);
    e->b[e->n++] = v;
}

static void enc_varint(struct enc *e, uint64_t u)
{
    while (u >= 0x80) {
        enc_byte(e, (uint8_t)(u | 0x80));
        u >>= 7;
    }
    enc_byte(e, (uint8_t)u);
}

static void enc_count(struct enc *e, uint64_t c)
{
    enc_varint(e, c << 1);
}

static void enc_zeros(struct enc *e, uint64_t run)
{
    enc_varint(e, ((run - 1) << 1) | 1);
}

static void enc_header(struct enc *e, uint64_t lowest, uint64_t highest, uint64_t digits,
                       uint64_t total, uint64_t saturated)
{
    e->n = 0;
    enc_byte(e, 'L');
    enc_byte(e, 'S');
    enc_byte(e, 'H');
    enc_byte(e, 'D');
    enc_byte(e, 1);
    enc_varint(e, lowest);
    enc_varint(e, highest);
    enc_varint(e, digits);
    enc_varint(e, total);
    enc_varint(e, saturated);
}

static void enc_seal(struct enc *e)
{
    uint32_t crc = test_crc32(e->b, e->n);
    for (int k = 0; k < 4; k++)
        enc_byte(e, (uint8_t)(crc >> (8 * k)));
}

static ls_err decode_enc(const struct enc *e)
{
    struct hdr *h = NULL;
    ls_err rc = hdr_decode(e->b, e->n, &h);
    if (rc != LS_OK)
        assert_null(h);
    hdr_close(h);
    return rc;
}

static uint8_t *encode_alloc(const struct hdr *h, size_t *len)
{
    size_t cap = hdr_encoded_size_max(h);
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    assert_int_equal(hdr_encode(h, buf, cap, len), LS_OK);
    assert_int_equal(*len, cap);
    return buf;
}

/* ---- data sets ---------------------------------------------------------- */

enum { N_DATA = 20000 };

struct dataset {
    const char *name;
    int64_t *v;
    size_t n;
};

static void make_dataset(int which, struct dataset *d)
{
    size_t n = N_DATA;
    rng_state = 0x1234u + (uint64_t)which;
    d->v = calloc(N_DATA, sizeof *d->v);
    assert_non_null(d->v);
    switch (which) {
    case 0:
        d->name = "uniform 1..100000 us";
        for (size_t i = 0; i < n; i++)
            d->v[i] = 1 + (int64_t)(rng_next() % 100000);
        break;
    case 1:
        /* log-normal around 2 ms with a Pareto tail on 2 % of requests */
        d->name = "log-normal + pareto tail";
        for (size_t i = 0; i < n; i++) {
            double x = exp(log(2000.0) + 0.8 * rng_normal());
            if (rng_next() % 100 < 2)
                x = 20000.0 / pow(rng_unit(), 1.0 / 1.2);
            d->v[i] = clamp64((int64_t)x, 1, HDR_LS_HIGHEST);
        }
        break;
    case 2:
        d->name = "constant 12345 us";
        for (size_t i = 0; i < n; i++)
            d->v[i] = 12345;
        break;
    case 3:
        d->name = "single value";
        n = 1;
        d->v[0] = 777777;
        break;
    case 4:
        d->name = "log-uniform 1 us .. 1 h";
        for (size_t i = 0; i < n; i++)
            d->v[i] =
                clamp64((int64_t)exp(rng_unit() * log((double)HDR_LS_HIGHEST)), 1, HDR_LS_HIGHEST);
        d->v[0] = 1;
        d->v[1] = HDR_LS_HIGHEST;
        break;
    case 5:
        d->name = "small exact 1..2047 us";
        for (size_t i = 0; i < n; i++)
            d->v[i] = 1 + (int64_t)(rng_next() % 2047);
        break;
    default:
        fail();
    }
    d->n = n;
}

enum { N_DATASETS = 6 };

static struct hdr *hist_of(const struct dataset *d)
{
    struct hdr *h = open_latency();
    for (size_t i = 0; i < d->n; i++)
        hdr_record(h, d->v[i]);
    return h;
}

static int64_t *sorted_copy(const struct dataset *d)
{
    int64_t *s = malloc(d->n * sizeof *s);
    assert_non_null(s);
    memcpy(s, d->v, d->n * sizeof *s);
    qsort(s, d->n, sizeof *s, cmp_i64);
    return s;
}

/* ---- tests -------------------------------------------------------------- */

static void test_open_rejects_bad_config(void **state)
{
    (void)state;
    struct hdr *h = (struct hdr *)&h; /* must be reset to NULL on failure */
    assert_int_equal(hdr_open(0, 1000, 3, &h), LS_ERR_INVALID);
    assert_null(h);
    assert_int_equal(hdr_open(-5, 1000, 3, &h), LS_ERR_INVALID);
    assert_int_equal(hdr_open(1, 1000, 0, &h), LS_ERR_INVALID);
    assert_int_equal(hdr_open(1, 1000, 6, &h), LS_ERR_INVALID);
    assert_int_equal(hdr_open(10, 19, 3, &h), LS_ERR_INVALID);
    assert_int_equal(hdr_open(INT64_MAX / 2 + 1, INT64_MAX, 3, &h), LS_ERR_INVALID);
    assert_int_equal(hdr_open(1, INT64_MAX, 3, &h), LS_ERR_RANGE);
    assert_int_equal(hdr_open(1, INT64_C(1) << 62, 3, &h), LS_ERR_RANGE);
    assert_null(h);
    /* the largest accepted highest, with its top slot ending at 2^62 - 1 */
    assert_int_equal(hdr_open(1, (INT64_C(1) << 62) - 1, 1, &h), LS_OK);
    hdr_record(h, INT64_MAX);
    assert_int_equal(hdr_saturated(h), 1);
    assert_int_equal(hdr_max(h), (INT64_C(1) << 62) - 1);
    hdr_close(h);
    assert_int_equal(hdr_open(10, 20, 1, &h), LS_OK);
    hdr_close(h);
    hdr_close(NULL);
}

static void test_memory_bounded(void **state)
{
    (void)state;
    struct hdr *h = open_latency();
    size_t mem = hdr_memory_size(h);
    /* 22 buckets cover 3.6e9 with 2048 sub-buckets: (22 + 1) * 1024 slots */
    print_message("latency histogram: %zu bytes\n", mem);
    assert_true(mem >= 23 * 1024 * sizeof(int64_t));
    assert_true(mem < 23 * 1024 * sizeof(int64_t) + 256);
    assert_true(mem < 256 * 1024);
    for (int i = 0; i < 100000; i++)
        hdr_record(h, i * 1000);
    assert_int_equal(hdr_memory_size(h), mem);
    hdr_close(h);
}

static void test_equivalent_ranges(void **state)
{
    (void)state;
    static const int sub_mag[6] = {0, 5, 8, 11, 15, 18}; /* ceil(log2(2 * 10^d)) */
    struct {
        int64_t lowest, highest;
        int digits;
    } cfg[] = {
        {1, HDR_LS_HIGHEST, 3}, {1, 1000000, 1},       {1, 100000000, 2}, {1, 3600000000, 4},
        {1, 3600000000, 5},     {1000, 1000000000, 2}, {3, 1 << 20, 3},
    };
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        struct hdr *h = NULL;
        assert_int_equal(hdr_open(cfg[c].lowest, cfg[c].highest, cfg[c].digits, &h), LS_OK);
        struct ref r = {sub_mag[cfg[c].digits], floor_log2(cfg[c].lowest)};
        rng_state = 99 + c;
        for (int i = 0; i < 20000; i++) {
            int64_t v;
            if (i < 5000)
                v = i;
            else if (i < 5200)
                v = (INT64_C(1) << ((i - 5000) / 6)) + (i % 3) - 1;
            else
                v = (int64_t)exp(rng_unit() * log((double)cfg[c].highest));
            int64_t cv = clamp64(v, cfg[c].lowest, cfg[c].highest);
            int64_t lo = hdr_lowest_equivalent(h, v);
            int64_t hi = hdr_highest_equivalent(h, v);
            assert_int_equal(lo, ref_lowest(r, cv));
            assert_int_equal(hi, ref_highest(r, cv));
            assert_true(lo <= cv && cv <= hi);
            /* slots are contiguous: the next slot starts right after */
            if (hi + 1 <= cfg[c].highest)
                assert_int_equal(hdr_lowest_equivalent(h, hi + 1), hi + 1);
            /* relative precision past the first bucket: a slot is at most
             * 1/10^digits of its values */
            if (lo >= (INT64_C(1) << (r.s + r.u))) {
                int64_t p10 = 1;
                for (int d = 0; d < cfg[c].digits; d++)
                    p10 *= 10;
                assert_true((hi - lo + 1) * p10 <= lo);
            }
        }
        hdr_close(h);
    }
    /* a few exact values of the latency layout */
    struct hdr *h = open_latency();
    assert_int_equal(hdr_highest_equivalent(h, 2047), 2047);
    assert_int_equal(hdr_highest_equivalent(h, 2048), 2049);
    assert_int_equal(hdr_lowest_equivalent(h, 4097), 4096);
    assert_int_equal(hdr_highest_equivalent(h, 4097), 4099);
    assert_int_equal(hdr_lowest_equivalent(h, 1000000), 999936);
    assert_int_equal(hdr_highest_equivalent(h, 1000000), 1000447);
    assert_int_equal(hdr_lowest_equivalent(h, HDR_LS_HIGHEST), 3598712832);
    assert_int_equal(hdr_highest_equivalent(h, HDR_LS_HIGHEST), 3600809983);
    assert_int_equal(hdr_highest_equivalent(h, INT64_MAX), 3600809983);
    assert_int_equal(hdr_lowest_equivalent(h, -7), 1);
    hdr_close(h);
}

static void test_empty(void **state)
{
    (void)state;
    struct hdr *h = open_latency();
    assert_int_equal(hdr_total_count(h), 0);
    assert_int_equal(hdr_min(h), 0);
    assert_int_equal(hdr_max(h), 0);
    assert_true(hdr_mean(h) == 0.0);
    assert_true(hdr_stddev(h) == 0.0);
    assert_int_equal(hdr_value_at_percentile(h, 50.0), 0);
    assert_int_equal(hdr_value_at_percentile(h, 100.0), 0);
    struct hdr_iter it;
    hdr_iter_init(&it, h);
    assert_int_equal(hdr_iter_next(&it), 0);

    size_t len;
    uint8_t *buf = encode_alloc(h, &len);
    struct hdr *d = NULL;
    assert_int_equal(hdr_decode(buf, len, &d), LS_OK);
    assert_same_buckets(h, d);
    assert_int_equal(hdr_decode_add(h, buf, len), LS_OK);
    assert_int_equal(hdr_total_count(h), 0);
    hdr_close(d);
    free(buf);
    hdr_close(h);
}

static void check_percentile(const struct hdr *h, const int64_t *sorted, size_t n, double p)
{
    int64_t rank = (int64_t)(p / 100.0 * (double)n + 0.5);
    rank = rank < 1 ? 1 : rank > (int64_t)n ? (int64_t)n : rank;
    int64_t exact = clamp64(sorted[rank - 1], HDR_LS_LOWEST, HDR_LS_HIGHEST);
    int64_t got = hdr_value_at_percentile(h, p);
    if (got != ref_highest(ref_latency, exact))
        fail_msg("p%.4f: got %lld, exact %lld, want %lld", p, (long long)got, (long long)exact,
                 (long long)ref_highest(ref_latency, exact));
    /* within 0.1 % of the exact order statistic */
    assert_true(got >= exact);
    assert_true((got - exact) * 1000 <= exact);
}

static void test_percentiles_against_sort(void **state)
{
    (void)state;
    for (int which = 0; which < N_DATASETS; which++) {
        struct dataset d;
        make_dataset(which, &d);
        struct hdr *h = hist_of(&d);
        int64_t *s = sorted_copy(&d);
        static const double fixed[] = {50.0, 90.0, 99.0, 99.9, 99.99, 100.0, 0.0001, 25.0, 75.0};
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
            check_percentile(h, s, d.n, fixed[i]);
        for (double p = 0.25; p <= 100.0; p += 0.25)
            check_percentile(h, s, d.n, p);
        for (double p = 99.0; p < 100.0; p += 0.001)
            check_percentile(h, s, d.n, p);
        rng_state = 77;
        for (int i = 0; i < 2000; i++)
            check_percentile(h, s, d.n, 100.0 * rng_unit());
        assert_int_equal(hdr_value_at_percentile(h, 100.0), ref_highest(ref_latency, s[d.n - 1]));
        assert_int_equal(hdr_value_at_percentile(h, 100.0), hdr_max(h));
        assert_int_equal(hdr_value_at_percentile(h, 250.0), hdr_max(h));
        assert_int_equal(hdr_value_at_percentile(h, -1.0), ref_highest(ref_latency, s[0]));
        assert_int_equal(hdr_value_at_percentile(h, NAN), ref_highest(ref_latency, s[0]));
        print_message("%-28s p50=%lld p99=%lld p99.9=%lld max=%lld\n", d.name,
                      (long long)hdr_value_at_percentile(h, 50.0),
                      (long long)hdr_value_at_percentile(h, 99.0),
                      (long long)hdr_value_at_percentile(h, 99.9), (long long)hdr_max(h));
        free(s);
        free(d.v);
        hdr_close(h);
    }
}

static void test_stats_against_exact(void **state)
{
    (void)state;
    for (int which = 0; which < N_DATASETS; which++) {
        struct dataset d;
        make_dataset(which, &d);
        struct hdr *h = hist_of(&d);
        int64_t *s = sorted_copy(&d);

        assert_int_equal(hdr_total_count(h), (int64_t)d.n);
        assert_int_equal(hdr_saturated(h), 0);
        assert_int_equal(hdr_min(h), ref_lowest(ref_latency, s[0]));
        assert_int_equal(hdr_max(h), ref_highest(ref_latency, s[d.n - 1]));
        assert_true(hdr_min(h) <= s[0] && s[0] - hdr_min(h) <= s[0] / 1000);
        assert_true(hdr_max(h) >= s[d.n - 1] && (hdr_max(h) - s[d.n - 1]) * 1000 <= s[d.n - 1]);

        /* HdrHistogram's mean and stddev, computed from the sorted data
         * bucket by bucket in the same order, so the doubles are identical */
        double true_sum = 0.0, sum = 0.0, sq = 0.0;
        for (size_t i = 0; i < d.n; i++)
            true_sum += (double)s[i];
        for (int pass = 0; pass < 2; pass++) {
            double mean = sum / (double)d.n;
            for (size_t i = 0; i < d.n;) {
                int64_t lo = ref_lowest(ref_latency, s[i]);
                int64_t hi = ref_highest(ref_latency, s[i]);
                int64_t cnt = 0;
                while (i < d.n && s[i] <= hi) {
                    cnt++;
                    i++;
                }
                double median = (double)(lo + ((hi - lo + 1) >> 1));
                if (pass == 0) {
                    sum += (double)cnt * median;
                } else {
                    double dv = median - mean;
                    sq += dv * dv * (double)cnt;
                }
            }
        }
        double mean = sum / (double)d.n;
        double true_mean = true_sum / (double)d.n;
        assert_true(hdr_mean(h) == mean);
        assert_true(hdr_stddev(h) == sqrt(sq / (double)d.n));
        assert_true(fabs(hdr_mean(h) - true_mean) <= true_mean / 1000.0);
        free(s);
        free(d.v);
        hdr_close(h);
    }
    /* a textbook set whose stddev is exactly 2 (all slots exact below 2048) */
    struct hdr *h = open_latency();
    static const int64_t v[] = {2, 4, 4, 4, 5, 5, 7, 9};
    for (size_t i = 0; i < 8; i++)
        hdr_record(h, v[i]);
    assert_true(hdr_mean(h) == 5.0);
    assert_true(hdr_stddev(h) == 2.0);
    hdr_close(h);
}

static void test_saturation_and_clamping(void **state)
{
    (void)state;
    struct hdr *h = open_latency();
    hdr_record(h, 500);
    hdr_record(h, HDR_LS_HIGHEST);
    hdr_record(h, HDR_LS_HIGHEST + 1);
    hdr_record(h, INT64_MAX);
    hdr_record_n(h, 10 * HDR_LS_HIGHEST, 3);
    assert_int_equal(hdr_total_count(h), 7);
    assert_int_equal(hdr_saturated(h), 5);
    assert_int_equal(hdr_max(h), 3600809983);
    assert_int_equal(hdr_value_at_percentile(h, 100.0), 3600809983);
    assert_int_equal(hdr_value_at_percentile(h, 20.0), 500);
    assert_int_equal(hdr_value_at_percentile(h, 30.0), 3600809983);

    /* below lowest: recorded as lowest */
    hdr_record(h, 0);
    hdr_record(h, -12345);
    hdr_record(h, INT64_MIN);
    assert_int_equal(hdr_total_count(h), 10);
    assert_int_equal(hdr_min(h), 1);
    assert_int_equal(hdr_value_at_percentile(h, 30.0), 1);
    assert_int_equal(hdr_saturated(h), 5);

    /* non-positive counts record nothing */
    hdr_record_n(h, 42, 0);
    hdr_record_n(h, 42, -3);
    assert_int_equal(hdr_total_count(h), 10);

    struct hdr *lo = NULL;
    assert_int_equal(hdr_open(1000, 1000000, 2, &lo), LS_OK);
    hdr_record(lo, 3);
    assert_int_equal(hdr_min(lo), 512); /* unit magnitude 9: slot [512, 1023] */
    assert_int_equal(hdr_max(lo), 1023);
    hdr_close(lo);

    hdr_reset(h);
    assert_int_equal(hdr_total_count(h), 0);
    assert_int_equal(hdr_saturated(h), 0);
    assert_int_equal(hdr_max(h), 0);
    struct hdr_iter it;
    hdr_iter_init(&it, h);
    assert_int_equal(hdr_iter_next(&it), 0);
    hdr_record(h, 9);
    assert_int_equal(hdr_min(h), 9);
    assert_int_equal(hdr_max(h), 9);
    hdr_close(h);
}

static void test_iteration(void **state)
{
    (void)state;
    struct hdr *h = open_latency();
    hdr_record_n(h, 3000, 2); /* slot [3000, 3001] */
    hdr_record(h, 7);
    hdr_record(h, 3001);
    hdr_record_n(h, 7, 4);
    struct hdr_iter it;
    hdr_iter_init(&it, h);
    assert_int_equal(hdr_iter_next(&it), 1);
    assert_int_equal(it.value, 7);
    assert_int_equal(it.value_lowest, 7);
    assert_int_equal(it.count, 5);
    assert_int_equal(it.cumulative, 5);
    assert_int_equal(hdr_iter_next(&it), 1);
    assert_int_equal(it.value, 3001);
    assert_int_equal(it.value_lowest, 3000);
    assert_int_equal(it.count, 3);
    assert_int_equal(it.cumulative, 8);
    assert_int_equal(hdr_iter_next(&it), 0);
    assert_int_equal(hdr_iter_next(&it), 0);
    hdr_close(h);

    /* on real data: buckets in order, each count equal to the sorted data's
     * number of values within the bucket */
    for (int which = 0; which < N_DATASETS; which++) {
        struct dataset d;
        make_dataset(which, &d);
        h = hist_of(&d);
        int64_t *s = sorted_copy(&d);
        size_t i = 0;
        int64_t prev = 0, cum = 0;
        hdr_iter_init(&it, h);
        while (hdr_iter_next(&it)) {
            assert_true(it.value_lowest > prev);
            assert_true(it.value >= it.value_lowest);
            assert_int_equal(it.value_lowest, ref_lowest(ref_latency, it.value));
            assert_int_equal(it.value, ref_highest(ref_latency, it.value_lowest));
            int64_t cnt = 0;
            while (i < d.n && s[i] <= it.value) {
                assert_true(s[i] >= it.value_lowest);
                cnt++;
                i++;
            }
            assert_int_equal(it.count, cnt);
            cum += cnt;
            assert_int_equal(it.cumulative, cum);
            prev = it.value;
        }
        assert_int_equal(i, d.n);
        assert_int_equal(cum, (int64_t)d.n);
        free(s);
        free(d.v);
        hdr_close(h);
    }
}

static void test_merge(void **state)
{
    (void)state;
    for (int which = 0; which < N_DATASETS; which++) {
        struct dataset d;
        make_dataset(which, &d);
        struct hdr *whole = hist_of(&d);
        hdr_record(whole, INT64_MAX); /* a saturated one too */
        struct hdr *part[4], *merged = open_latency();
        for (int k = 0; k < 4; k++)
            part[k] = open_latency();
        for (size_t i = 0; i < d.n; i++)
            hdr_record(part[(i * 7) % 4], d.v[i]);
        hdr_record(part[3], INT64_MAX);
        for (int k = 0; k < 4; k++)
            assert_int_equal(hdr_add(merged, part[k]), LS_OK);
        assert_same_buckets(merged, whole);
        assert_int_equal(hdr_saturated(merged), 1);
        for (int k = 0; k < 4; k++)
            hdr_close(part[k]);
        hdr_close(merged);
        hdr_close(whole);
        free(d.v);
    }

    /* another configuration is refused and dst left alone */
    struct hdr *a = open_latency(), *b = NULL, *a2 = open_latency();
    assert_int_equal(hdr_open(1, HDR_LS_HIGHEST, 2, &b), LS_OK);
    hdr_record(a, 10);
    hdr_record(a2, 10);
    hdr_record(b, 20);
    assert_int_equal(hdr_add(a, b), LS_ERR_INVALID);
    assert_same_buckets(a, a2);

    /* a total that would overflow is refused and dst left alone */
    struct hdr *c = open_latency();
    hdr_record_n(c, 5, INT64_MAX - 10);
    hdr_record_n(a2, 11, 11);
    assert_int_equal(hdr_add(c, a), LS_OK);
    assert_int_equal(hdr_total_count(c), INT64_MAX - 9);
    assert_int_equal(hdr_add(c, a2), LS_ERR_RANGE);
    assert_int_equal(hdr_total_count(c), INT64_MAX - 9);
    assert_int_equal(hdr_max(c), 10);
    hdr_close(a);
    hdr_close(a2);
    hdr_close(b);
    hdr_close(c);
}

static void test_encode_golden(void **state)
{
    (void)state;
    /* pins the stored format: 3 x 1 us and 1 x 5 us */
    static const uint8_t want[] = {0x4c, 0x53, 0x48, 0x44, 0x01, 0x01, 0x80, 0xc8,
                                   0xce, 0xb4, 0x0d, 0x03, 0x04, 0x00, 0x01, 0x06,
                                   0x05, 0x02, 0xc0, 0xe0, 0xf6, 0x93};
    struct hdr *h = open_latency();
    hdr_record_n(h, 1, 3);
    hdr_record(h, 5);
    uint8_t buf[64];
    size_t len = 0;
    assert_int_equal(hdr_encoded_size_max(h), sizeof want);
    assert_int_equal(hdr_encode(h, buf, sizeof buf, &len), LS_OK);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    /* too small a buffer: LS_ERR_FULL and the size needed */
    assert_int_equal(hdr_encode(h, buf, sizeof want - 1, &len), LS_ERR_FULL);
    assert_int_equal(len, sizeof want);
    assert_int_equal(hdr_encode(h, NULL, 0, &len), LS_ERR_FULL);
    assert_int_equal(len, sizeof want);
    /* the CRC is the standard one */
    assert_int_equal(test_crc32((const uint8_t *)"123456789", 9), 0xcbf43926u);
    hdr_close(h);
}

static void test_encode_round_trip(void **state)
{
    (void)state;
    for (int which = 0; which < N_DATASETS; which++) {
        struct dataset d;
        make_dataset(which, &d);
        struct hdr *h = hist_of(&d);
        hdr_record_n(h, HDR_LS_HIGHEST + 5, 2);
        size_t len;
        uint8_t *buf = encode_alloc(h, &len);
        print_message("%-28s %zu samples -> %zu bytes\n", d.name, d.n, len);

        struct hdr *dec = NULL;
        assert_int_equal(hdr_decode(buf, len, &dec), LS_OK);
        assert_same_buckets(dec, h);
        assert_int_equal(hdr_saturated(dec), 2);
        for (double p = 1.0; p <= 100.0; p += 1.0)
            assert_int_equal(hdr_value_at_percentile(dec, p), hdr_value_at_percentile(h, p));

        /* re-encoding the decoded histogram gives the same bytes */
        size_t len2;
        uint8_t *buf2 = encode_alloc(dec, &len2);
        assert_int_equal(len2, len);
        assert_memory_equal(buf2, buf, len);

        /* decode_add into an empty and into a full histogram */
        struct hdr *acc = open_latency();
        assert_int_equal(hdr_decode_add(acc, buf, len), LS_OK);
        assert_same_buckets(acc, h);
        assert_int_equal(hdr_decode_add(acc, buf, len), LS_OK);
        struct hdr *twice = open_latency();
        assert_int_equal(hdr_add(twice, h), LS_OK);
        assert_int_equal(hdr_add(twice, h), LS_OK);
        assert_same_buckets(acc, twice);
        assert_int_equal(hdr_total_count(acc), 2 * ((int64_t)d.n + 2));

        /* into a histogram of another configuration: refused, unchanged */
        struct hdr *other = NULL;
        assert_int_equal(hdr_open(1, HDR_LS_HIGHEST, 2, &other), LS_OK);
        assert_int_equal(hdr_decode_add(other, buf, len), LS_ERR_INVALID);
        assert_int_equal(hdr_total_count(other), 0);

        hdr_close(other);
        hdr_close(twice);
        hdr_close(acc);
        free(buf2);
        hdr_close(dec);
        free(buf);
        hdr_close(h);
        free(d.v);
    }
    /* other configurations round-trip too */
    struct hdr *h = NULL, *dec = NULL;
    assert_int_equal(hdr_open(1000, 1000000000, 2, &h), LS_OK);
    rng_state = 5;
    for (int i = 0; i < 5000; i++)
        hdr_record(h, (int64_t)(rng_next() % 2000000000));
    size_t len;
    uint8_t *buf = encode_alloc(h, &len);
    assert_int_equal(hdr_decode(buf, len, &dec), LS_OK);
    assert_same_buckets(dec, h);
    hdr_close(dec);
    free(buf);
    hdr_close(h);
}

static void test_encoded_size_typical_interval(void **state)
{
    (void)state;
    /* one second of a load test at 5000 requests/s: log-normal latencies
     * around a 2 ms median (sigma 0.5), a few slow outliers */
    struct hdr *h = open_latency();
    rng_state = 2024;
    for (int i = 0; i < 5000; i++) {
        double x = exp(log(2000.0) + 0.5 * rng_normal());
        if (i % 500 == 0)
            x *= 20.0;
        hdr_record(h, (int64_t)x);
    }
    size_t len;
    uint8_t *buf = encode_alloc(h, &len);
    struct hdr_iter it;
    int64_t used = 0;
    hdr_iter_init(&it, h);
    while (hdr_iter_next(&it))
        used++;
    print_message("typical 1 s interval: 5000 samples in %lld buckets -> %zu bytes encoded\n",
                  (long long)used, len);
    assert_true(len < 4096);
    free(buf);
    hdr_close(h);
}

static void test_decode_rejects_truncated(void **state)
{
    (void)state;
    struct dataset d;
    make_dataset(1, &d);
    struct hdr *h = hist_of(&d);
    size_t len;
    uint8_t *buf = encode_alloc(h, &len);
    struct hdr *acc = hist_of(&d);
    for (size_t cut = 0; cut < len; cut++) {
        /* a copy of exactly cut bytes so ASan sees any read past the end */
        uint8_t *part = malloc(cut ? cut : 1);
        assert_non_null(part);
        memcpy(part, buf, cut);
        struct hdr *dec = (struct hdr *)&dec;
        assert_int_equal(hdr_decode(part, cut, &dec), LS_ERR_PARSE);
        assert_null(dec);
        assert_int_equal(hdr_decode_add(acc, part, cut), LS_ERR_PARSE);
        free(part);
    }
    assert_same_buckets(acc, h);
    free(buf);
    hdr_close(acc);
    hdr_close(h);
    free(d.v);
}

static void test_decode_rejects_corrupted(void **state)
{
    (void)state;
    struct dataset d;
    make_dataset(0, &d);
    d.n = 3000;
    struct hdr *h = hist_of(&d);
    size_t len;
    uint8_t *buf = encode_alloc(h, &len);
    struct hdr *acc = hist_of(&d);
    static const uint8_t flips[] = {0x01, 0x80, 0xff, 0x40};
    for (size_t i = 0; i < len; i++) {
        for (size_t f = 0; f < sizeof flips; f++) {
            buf[i] ^= flips[f];
            struct hdr *dec = NULL;
            assert_int_equal(hdr_decode(buf, len, &dec), LS_ERR_PARSE);
            assert_null(dec);
            assert_int_equal(hdr_decode_add(acc, buf, len), LS_ERR_PARSE);
            buf[i] ^= flips[f];
        }
    }
    /* an extra byte anywhere, or a byte dropped */
    uint8_t *longer = malloc(len + 1);
    assert_non_null(longer);
    for (size_t i = 0; i <= len; i++) {
        memcpy(longer, buf, i);
        longer[i] = 0;
        memcpy(longer + i + 1, buf + i, len - i);
        struct hdr *dec = NULL;
        assert_int_equal(hdr_decode(longer, len + 1, &dec), LS_ERR_PARSE);
        if (i < len) {
            memcpy(longer, buf, i);
            memcpy(longer + i, buf + i + 1, len - i - 1);
            assert_int_equal(hdr_decode(longer, len - 1, &dec), LS_ERR_PARSE);
        }
    }
    free(longer);
    assert_same_buckets(acc, h);
    struct hdr *dec = NULL;
    assert_int_equal(hdr_decode(buf, len, &dec), LS_OK);
    assert_same_buckets(dec, h);
    hdr_close(dec);
    free(buf);
    hdr_close(acc);
    hdr_close(h);
    free(d.v);
}

/* Encodings with a valid CRC whose content is wrong: the parser's own checks. */
static void test_decode_rejects_bad_content(void **state)
{
    (void)state;
    struct enc e;
    const uint64_t H = HDR_LS_HIGHEST;
    const uint64_t slots = 23 * 1024; /* latency layout; slot of 3.6e9 is 23220 */

    /* baseline: valid, one count at 1 us */
    enc_header(&e, 1, H, 3, 1, 0);
    enc_zeros(&e, 1);
    enc_count(&e, 1);
    enc_seal(&e);
    assert_int_equal(decode_enc(&e), LS_OK);

    /* the same bytes with a wrong CRC */
    e.b[e.n - 1] ^= 0x10;
    assert_int_equal(decode_enc(&e), LS_ERR_PARSE);

    /* bad magic and version (CRC recomputed) */
    enc_header(&e, 1, H, 3, 0, 0);
    e.b[0] = 'X';
    enc_seal(&e);
    assert_int_equal(decode_enc(&e), LS_ERR_PARSE);
    enc_header(&e, 1, H, 3, 0, 0);
    e.b[4] = 2;
    enc_seal(&e);
    assert_int_equal(decode_enc(&e), LS_ERR_PARSE);

    /* impossible configurations */
    static const uint64_t bad_cfg[][3] = {
        {0, H, 3},
        {1, H, 0},
        {1, H, 6},
        {1, H, 300},
        {10, 19, 3},
        {1, (uint64_t)INT64_MAX, 3},
        {1, (uint64_t)INT64_MAX + 1, 3},
        {(uint64_t)1 << 63, UINT64_MAX, 3},
    };
    for (size_t i = 0; i < sizeof bad_cfg / sizeof bad_cfg[0]; i++) {
        enc_header(&e, bad_cfg[i][0], bad_cfg[i][1], bad_cfg[i][2], 0, 0);
        enc_seal(&e);
        assert_int_equal(decode_enc(&e), LS_ERR_PARSE);
    }

    /* a varint longer than 10 bytes, and one with bits past the 64th */
    enc_header(&e, 1, H, 3, 0, 0);
    e.n = 5;
    for (int i = 0; i < 10; i++)
        enc_byte(&e, 0x80);
    enc_byte(&e, 0x01);
    enc_varint(&e, H);
    enc_varint(&e, 3);
    enc_varint(&e, 0);
    enc_varint(&e, 0);
    enc_seal(&e);
    assert_int_equal(decode_enc(&e), LS_ERR_PARSE);
    enc_header(&e, 1, H, 3, 0, 0);
    e.n = 5;
    for (int i = 0; i < 9; i++)
        enc_byte(&e, 0x81);
    enc_byte(&e, 0x02);
    enc_seal(&e);
    assert_int_equal(decode_enc(&e), LS_ERR_PARSE);

    /* an entry cut inside its varint */
    enc_header(&e, 1, H, 3, 1, 0);
    enc_zeros(&e, 1);
    enc_byte(&e, 0x82);
    enc_seal(&e);
    assert_int_equal(decode_enc(&e), LS_ERR_PARSE);

    /* a run of empty slots past the end; exactly to the end is fine */
    enc_header(&e, 1, H, 3, 0, 0);
    enc_zeros(&e, slots + 1);
    enc_seal(&e);
    assert_int_equal(decode_enc(&e), LS_ERR_PARSE);
    enc_header(&e, 1, H, 3, 0, 0);
    enc_zeros(&e, slots);
    enc_seal(&e);
    assert_int_equal(decode_enc(&e), LS_OK);
    enc_header(&e, 1, H, 3, 1, 0);
    enc_zeros(&e, slots);
    enc_count(&e, 1);
    enc_seal(&e);
    assert_int_equal(decode_enc(&e), LS_ERR_PARSE);
    enc_header(&e, 1, H, 3, 0, 0);
    enc_varint(&e, UINT64_MAX); /* a run of 2^63 */
    enc_seal(&e);
    assert_int_equal(decode_enc(&e), LS_ERR_PARSE);

    /* a count where no value can land: slot 0 (below 1 us), past 3.6e9 */
    enc_header(&e, 1, H, 3, 1, 0);
    enc_count(&e, 1);
    enc_seal(&e);
    assert_int_equal(decode_enc(&e), LS_ERR_PARSE);
    enc_header(&e, 1, H, 3, 1, 0);
    enc_zeros(&e, 23220);
    enc_count(&e, 1);
    enc_seal(&e);
    assert_int_equal(decode_enc(&e), LS_OK);
    enc_header(&e, 1, H, 3, 1, 0);
    enc_zeros(&e, 23221);
    enc_count(&e, 1);
    enc_seal(&e);
    assert_int_equal(decode_enc(&e), LS_ERR_PARSE);

    /* the stated total disagrees with the counts */
    enc_header(&e, 1, H, 3, 5, 0);
    enc_zeros(&e, 1);
    enc_count(&e, 4);
    enc_seal(&e);
    assert_int_equal(decode_enc(&e), LS_ERR_PARSE);

    /* counts whose sum overflows int64 */
    enc_header(&e, 1, H, 3, (uint64_t)INT64_MAX, 0);
    enc_zeros(&e, 1);
    enc_count(&e, (uint64_t)INT64_MAX);
    enc_count(&e, (uint64_t)INT64_MAX);
    enc_seal(&e);
    assert_int_equal(decode_enc(&e), LS_ERR_PARSE);

    /* more saturated than total, or than the top slot holds */
    enc_header(&e, 1, H, 3, 1, 2);
    enc_zeros(&e, 1);
    enc_count(&e, 1);
    enc_seal(&e);
    assert_int_equal(decode_enc(&e), LS_ERR_PARSE);
    enc_header(&e, 1, H, 3, 1, 1);
    enc_zeros(&e, 1);
    enc_count(&e, 1);
    enc_seal(&e);
    assert_int_equal(decode_enc(&e), LS_ERR_PARSE);
    enc_header(&e, 1, H, 3, 2, 1);
    enc_zeros(&e, 23220);
    enc_count(&e, 2);
    enc_seal(&e);
    assert_int_equal(decode_enc(&e), LS_OK);

    /* decode_add whose total would overflow dst: refused, dst unchanged */
    struct hdr *dst = open_latency();
    hdr_record_n(dst, 3, INT64_MAX - 1);
    enc_header(&e, 1, H, 3, 2, 0);
    enc_zeros(&e, 1);
    enc_count(&e, 2);
    enc_seal(&e);
    assert_int_equal(hdr_decode_add(dst, e.b, e.n), LS_ERR_RANGE);
    assert_int_equal(hdr_total_count(dst), INT64_MAX - 1);
    assert_int_equal(hdr_min(dst), 3);

    /* far too short, and empty */
    assert_int_equal(hdr_decode_add(dst, e.b, 3), LS_ERR_PARSE);
    assert_int_equal(hdr_decode_add(dst, e.b, 0), LS_ERR_PARSE);
    assert_int_equal(hdr_total_count(dst), INT64_MAX - 1);
    hdr_close(dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_rejects_bad_config),
        cmocka_unit_test(test_memory_bounded),
        cmocka_unit_test(test_equivalent_ranges),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_percentiles_against_sort),
        cmocka_unit_test(test_stats_against_exact),
        cmocka_unit_test(test_saturation_and_clamping),
        cmocka_unit_test(test_iteration),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_encode_golden),
        cmocka_unit_test(test_encode_round_trip),
        cmocka_unit_test(test_encoded_size_typical_interval),
        cmocka_unit_test(test_decode_rejects_truncated),
        cmocka_unit_test(test_decode_rejects_corrupted),
        cmocka_unit_test(test_decode_rejects_bad_content),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
