/*
 * fuzz_sse: libFuzzer target for the event-stream parser.
 *
 * Beyond not crashing, checks that chunking does not matter: the input fed
 * whole and fed in pseudo-random pieces (cuts derived from the input, so runs
 * are reproducible) must give the same events and the same discarded count.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sse.h"

struct digest {
    uint64_t hash;  /* FNV-1a over every field of every event */
    uint64_t n;
};

static void mix(struct digest *d, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        d->hash ^= b[i];
        d->hash *= 1099511628211ULL;
    }
    d->hash ^= 0xFF; /* separator so field boundaries count */
    d->hash *= 1099511628211ULL;
}

static int on_event(void *ctx, const struct sse_event *ev)
{
    struct digest *d = ctx;
    if (ev->data[ev->data_len] != '\0')
        abort();
    if (!ev->has_data && ev->data_len != 0)
        abort();
    mix(d, ev->data, ev->data_len);
    mix(d, ev->event, strlen(ev->event));
    mix(d, ev->id, strlen(ev->id));
    mix(d, &ev->retry_ms, sizeof ev->retry_ms);
    mix(d, &ev->has_data, sizeof ev->has_data);
    d->n++;
    return 0;
}

static size_t run(const uint8_t *data, size_t size, uint32_t seed, struct digest *d)
{
    struct sse_parser *p = NULL;
    d->hash = 1469598103934665603ULL;
    d->n = 0;
    if (sse_open(on_event, d, &p) != LS_OK)
        abort();
    size_t at = 0;
    uint32_t x = seed | 1;
    while (at < size) {
        size_t n = size - at;
        if (seed != 0) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            size_t piece = x % 7 + 1;
            n = piece < n ? piece : n;
        }
        if (sse_feed(p, (const char *)data + at, n) != LS_OK)
            abort();
        at += n;
    }
    size_t discarded = sse_finish(p);
    if (discarded > size)
        abort();
    if (sse_event_count(p) != d->n)
        abort();
    sse_close(p);
    return discarded;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct digest whole, cut;
    size_t dw = run(data, size, 0, &whole);
    size_t dc = run(data, size, (uint32_t)size * 2654435761u + (size ? data[0] : 0), &cut);
    if (dw != dc || whole.n != cut.n || whole.hash != cut.hash)
        abort();
    return 0;
}
