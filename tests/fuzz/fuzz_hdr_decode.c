/*
 * fuzz_hdr_decode: hdr_decode / hdr_decode_add on arbitrary bytes.
 *
 * Each input is tried three ways:
 *  1. as it is, so the framing (magic, version, length, CRC) is exercised;
 *  2. with its last four bytes replaced by the right CRC-32, so mutations get
 *     past the checksum and reach the header and entry checks;
 *  3. as (value, count) pairs recorded into a latency histogram, so the
 *     encoder meets fuzzer-chosen contents.
 * Whatever decodes must be internally consistent and survive an exact
 * encode -> decode -> encode round trip; anything else must be refused
 * without touching memory it does not own (ASan/UBSan watch that).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stats/hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

/* Same IEEE CRC-32 as the encoding's trailer, written bitwise. */
static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void check_same(const struct hdr *a, const struct hdr *b)
{
    struct hdr_iter ia, ib;
    hdr_iter_init(&ia, a);
    hdr_iter_init(&ib, b);
    for (;;) {
        int na = hdr_iter_next(&ia);
        int nb = hdr_iter_next(&ib);
        CHECK(na == nb);
        if (!na)
            break;
        CHECK(ia.value == ib.value && ia.count == ib.count && ia.cumulative == ib.cumulative);
    }
    CHECK(hdr_total_count(a) == hdr_total_count(b));
    CHECK(hdr_saturated(a) == hdr_saturated(b));
    CHECK(hdr_min(a) == hdr_min(b));
    CHECK(hdr_max(a) == hdr_max(b));
}

/* Invariants of any histogram, then an exact round trip through the encoding. */
static void check_histogram(struct hdr *h)
{
    struct hdr_iter it;
    int64_t cum = 0, prev = -1;
    hdr_iter_init(&it, h);
    while (hdr_iter_next(&it)) {
        CHECK(it.count > 0);
        CHECK(it.value_lowest > prev && it.value >= it.value_lowest);
        CHECK(it.cumulative == cum + it.count);
        cum = it.cumulative;
        prev = it.value;
    }
    CHECK(cum == hdr_total_count(h));
    CHECK(hdr_saturated(h) <= hdr_total_count(h));
    if (cum > 0) {
        CHECK(hdr_min(h) <= hdr_max(h));
        CHECK(hdr_value_at_percentile(h, 100.0) == hdr_max(h));
        int64_t last = 0;
        static const double ps[] = {0.0, 50.0, 99.9, 100.0};
        for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
            int64_t v = hdr_value_at_percentile(h, ps[i]);
            CHECK(v >= last && v >= hdr_min(h) && v <= hdr_max(h));
            last = v;
        }
        double mean = hdr_mean(h);
        CHECK(mean >= (double)hdr_min(h) && mean <= (double)hdr_max(h) + 1.0);
        CHECK(hdr_stddev(h) >= 0.0);
    }

    size_t cap = hdr_encoded_size_max(h), len = 0, len2 = 0;
    uint8_t *buf = malloc(cap);
    uint8_t *buf2 = NULL;
    struct hdr *back = NULL;
    CHECK(buf != NULL);
    CHECK(hdr_encode(h, buf, cap, &len) == LS_OK && len == cap);
    CHECK(hdr_decode(buf, len, &back) == LS_OK);
    check_same(h, back);
    buf2 = malloc(len);
    CHECK(buf2 != NULL);
    CHECK(hdr_encode(back, buf2, len, &len2) == LS_OK && len2 == len);
    CHECK(memcmp(buf, buf2, len) == 0);

    /* merging the encoding back in doubles every count, or overflows */
    int64_t total = hdr_total_count(back);
    ls_err rc = hdr_decode_add(back, buf, len);
    CHECK(rc == LS_OK || rc == LS_ERR_RANGE);
    CHECK(hdr_total_count(back) == (rc == LS_OK ? 2 * total : total));
    free(buf2);
    free(buf);
    hdr_close(back);
}

/* Returns whether data decoded. latency is an empty latency histogram. */
static int try_decode(const uint8_t *data, size_t size, struct hdr *latency)
{
    struct hdr *h = NULL;
    ls_err rc = hdr_decode(data, size, &h);
    int ok = rc == LS_OK;
    if (ok) {
        CHECK(h != NULL);
        check_histogram(h);
    } else {
        CHECK(h == NULL);
        CHECK(rc == LS_ERR_PARSE || rc == LS_ERR_NOMEM);
    }
    /* decode_add into an empty histogram agrees with decode, or refuses
     * (another configuration) without touching it */
    rc = hdr_decode_add(latency, data, size);
    if (rc == LS_OK) {
        CHECK(ok);
        check_same(h, latency);
        hdr_reset(latency);
    } else {
        CHECK(hdr_total_count(latency) == 0);
        CHECK(!ok || rc == LS_ERR_INVALID);
    }
    hdr_close(h);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hdr *latency = NULL;
    if (hdr_open_latency(&latency) != LS_OK)
        return 0;

    /* 1: as given, through an exactly sized copy so ASan sees overreads */
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        goto out;
    memcpy(copy, data, size);
    int decoded = try_decode(copy, size, latency);

    /* 2: with a correct CRC trailer, if it was not */
    if (size >= 4) {
        uint32_t crc = crc32_ieee(copy, size - 4);
        int changed = 0;
        for (int k = 0; k < 4; k++) {
            uint8_t b = (uint8_t)(crc >> (8 * k));
            changed |= copy[size - 4 + k] != b;
            copy[size - 4 + k] = b;
        }
        if (changed)
            decoded |= try_decode(copy, size, latency);
    }
    /* checking a wide histogram scans every slot several times: give the
     * value-list reading only to inputs that are no encoding at all */
    if (decoded)
        goto out;

    /* 3: the input as (value, count) pairs */
    hdr_reset(latency);
    for (size_t i = 0; i + 10 <= size; i += 10) {
        uint64_t v = 0;
        for (int k = 0; k < 8; k++)
            v |= (uint64_t)data[i + k] << (8 * k);
        int64_t count = (int64_t)(data[i + 8] | data[i + 9] << 8) - 16;
        /* shift the value into a range the latency histogram spans */
        int64_t value = (int64_t)(v >> (v & 63u));
        hdr_record_n(latency, value, count);
    }
    check_histogram(latency);

out:
    free(copy);
    hdr_close(latency);
    return 0;
}
