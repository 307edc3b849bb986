/*
 * fuzz_h1req: libFuzzer target for the HTTP/1.1 request parser.
 *
 * Parses the input as requests back to back on one kept-alive connection,
 * the buffer growing either all at once or in pseudo-random pieces (cuts
 * derived from the input, so runs are reproducible); both must reach the
 * same outcome, heads, decoded bodies and error text. Each complete body is
 * decoded with h1req_body into a buffer of exactly body_len bytes, so a
 * decoder that writes or reads past what it was given trips ASan.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/h1req.h"

static void mix(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 1099511628211ULL;
    }
    *h ^= 0xFF;
    *h *= 1099511628211ULL;
}

static void digest(uint64_t *h, const char *buf, const struct h1req *r, ls_err rc)
{
    bool head = h1req_head_done(r), done = h1req_complete(r);
    mix(h, &rc, sizeof rc);
    mix(h, &head, sizeof head);
    mix(h, &done, sizeof done);
    mix(h, r->err, strlen(r->err));
    if (!head)
        return;
    mix(h, buf + r->method.off, r->method.len);
    mix(h, buf + r->target.off, r->target.len);
    for (uint32_t i = 0; i < r->nfields; i++) {
        mix(h, buf + r->fields[i].name.off, r->fields[i].name.len);
        mix(h, buf + r->fields[i].value.off, r->fields[i].value.len);
    }
    mix(h, &r->framing, sizeof r->framing);
    mix(h, &r->keep_alive, sizeof r->keep_alive);
    mix(h, &r->expect_continue, sizeof r->expect_continue);
    if (!done)
        return;
    if (r->body_len > r->msg_len || r->head_len > r->msg_len)
        abort();
    mix(h, &r->msg_len, sizeof r->msg_len);
    char *body = malloc(r->body_len ? (size_t)r->body_len : 1);
    if (body == NULL)
        abort();
    h1req_body(r, buf, body);
    mix(h, body, (size_t)r->body_len);
    free(body);
}

/* Pieces cut by a small PRNG seeded from seed (0: the whole input at once). */
static uint64_t run(const uint8_t *data, size_t size, uint32_t seed)
{
    uint64_t h = 1469598103934665603ULL;
    struct h1req r;
    size_t start = 0; /* where the current request begins */
    size_t have = 0;  /* bytes "arrived" so far */
    uint32_t x = seed;
    h1req_reset(&r);
    while (start < size) {
        size_t n = size - have;
        if (seed && n > 0) {
            x = x * 1103515245u + 12345u;
            n = 1 + (x >> 16) % 61;
            if (n > size - have)
                n = size - have;
        }
        have += n;
        /* a copy of exactly what arrived, so reading past it is caught */
        size_t len = have - start;
        char *buf = malloc(len ? len : 1);
        if (buf == NULL)
            abort();
        memcpy(buf, data + start, len);
        ls_err rc = h1req_parse(&r, buf, len);
        bool done = rc == LS_OK && h1req_complete(&r);
        if (rc == LS_OK && !done && have < size) {
            free(buf); /* wait for more bytes */
            continue;
        }
        digest(&h, buf, &r, rc);
        free(buf);
        if (!done)
            break; /* an error, or the input ends inside a request */
        start += (size_t)r.msg_len;
        h1req_reset(&r);
    }
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t seed = 0x9e3779b9u;
    for (size_t i = 0; i < size && i < 8; i++)
        seed = seed * 31 + data[i];
    if (run(data, size, 0) != run(data, size, seed | 1))
        abort();
    return 0;
}
