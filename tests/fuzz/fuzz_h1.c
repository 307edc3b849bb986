/*
 * fuzz_h1: libFuzzer target for the HTTP/1.1 response parser.
 *
 * Beyond not crashing, checks that chunking does not matter: the input fed
 * whole and fed in pseudo-random pieces (cuts derived from the input, so runs
 * are reproducible) must give the same outcome, head, body and error text.
 * Several responses in a row are parsed as on a kept-alive connection.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/h1.h"

struct digest {
    uint64_t hash; /* FNV-1a over the body bytes, then the heads and outcomes */
};

static void mix(struct digest *d, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        d->hash ^= b[i];
        d->hash *= 1099511628211ULL;
    }
    d->hash ^= 0xFF;
    d->hash *= 1099511628211ULL;
}

static int on_body(void *ctx, const char *data, size_t len)
{
    struct digest *d = ctx;
    const unsigned char *b = (const unsigned char *)data;
    for (size_t i = 0; i < len; i++) { /* no separator: piece boundaries must not count */
        d->hash ^= b[i];
        d->hash *= 1099511628211ULL;
    }
    return 0;
}

static void finish_response(struct h1_parser *p, struct digest *d, ls_err rc)
{
    const struct h1_head *h = h1_head(p);
    bool done = h1_complete(p), head = h1_head_done(p);
    mix(d, &rc, sizeof rc);
    mix(d, &done, sizeof done);
    mix(d, &head, sizeof head);
    if (head) {
        mix(d, &h->status, sizeof h->status);
        mix(d, &h->framing, sizeof h->framing);
        mix(d, &h->keep_alive, sizeof h->keep_alive);
        mix(d, h->content_type, strlen(h->content_type));
        mix(d, h->session_id, strlen(h->session_id));
        if (strlen(h->session_id) > H1_SESSION_ID_MAX)
            abort();
    }
    uint64_t body = h1_body_bytes(p);
    mix(d, &body, sizeof body);
    mix(d, h1_error(p), strlen(h1_error(p)));
}

/* Parses responses back to back; pieces are cut by a small PRNG seeded from seed (0: whole). */
static void run(const uint8_t *data, size_t size, uint32_t seed, struct digest *d)
{
    struct h1_parser *p = NULL;
    d->hash = 1469598103934665603ULL;
    if (h1_parser_open(on_body, d, &p) != LS_OK)
        abort();
    size_t at = 0;
    uint32_t x = seed;
    ls_err rc = LS_OK;
    while (at < size) {
        size_t n = size - at;
        if (seed) {
            x = x * 1103515245u + 12345u;
            n = 1 + (x >> 16) % 97;
            if (n > size - at)
                n = size - at;
        }
        size_t used = 0;
        rc = h1_feed(p, (const char *)data + at, n, &used);
        if (rc != LS_OK)
            break;
        if (used > n)
            abort();
        at += used;
        if (h1_complete(p)) {
            finish_response(p, d, rc);
            h1_parser_reset(p);
        } else if (used != n) {
            abort(); /* an incomplete message consumes everything */
        }
    }
    if (rc == LS_OK && h1_bytes_seen(p) > 0)
        rc = h1_eof(p);
    finish_response(p, d, rc);
    h1_parser_close(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct digest whole, cut;
    run(data, size, 0, &whole);
    uint32_t seed = 0x9e3779b9u;
    for (size_t i = 0; i < size && i < 8; i++)
        seed = seed * 31 + data[i];
    run(data, size, seed | 1, &cut);
    if (whole.hash != cut.hash)
        abort();
    return 0;
}
