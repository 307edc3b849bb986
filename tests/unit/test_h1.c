/*
 * test_h1: the HTTP/1.1 response parser fed every response whole, split at
 * every byte boundary and byte by byte, with identical results required
 * (status, framing, kept fields, body, completion, error message); chunked
 * bodies with extensions and trailers, interim responses, HTTP/1.0 and
 * close-delimited bodies; malformed and oversized input rejected with its
 * message; the URL splitter and the request-head writer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/h1.h"

#define BODY_MAX 4096

struct outcome {
    ls_err rc;            /* first error of the feeds or of h1_eof */
    bool complete;
    size_t consumed;      /* bytes consumed before completion or error */
    struct h1_head head;
    bool head_done;
    char body[BODY_MAX];
    size_t body_len;
    uint64_t body_count;
    char err[200];
};

struct sink {
    struct outcome *o;
    size_t stop_after;    /* non-zero: stop once this many body bytes arrived */
};

static int on_body(void *ctx, const char *data, size_t len)
{
    struct sink *s = ctx;
    assert_true(s->o->body_len + len <= BODY_MAX);
    memcpy(s->o->body + s->o->body_len, data, len);
    s->o->body_len += len;
    return s->stop_after && s->o->body_len >= s->stop_after;
}

/* Feeds text in pieces of the given sizes (0-terminated list, the rest last); eof: close after. */
static void run(const char *text, size_t len, const size_t *pieces, bool eof, struct outcome *o)
{
    struct h1_parser *p;
    struct sink s = {o, 0};
    memset(o, 0, sizeof(*o));
    assert_int_equal(h1_parser_open(on_body, &s, &p), LS_OK);
    size_t at = 0;
    for (size_t k = 0; at < len; k++) {
        size_t n = pieces && pieces[k] ? pieces[k] : len - at;
        if (n > len - at)
            n = len - at;
        size_t used = 0;
        o->rc = h1_feed(p, text + at, n, &used);
        o->consumed += used;
        at += n;
        if (o->rc != LS_OK || h1_complete(p))
            break;
        assert_int_equal(used, n);
    }
    if (o->rc == LS_OK && !h1_complete(p) && eof)
        o->rc = h1_eof(p);
    o->complete = h1_complete(p);
    o->head_done = h1_head_done(p);
    if (o->head_done)
        o->head = *h1_head(p);
    o->body_count = h1_body_bytes(p);
    snprintf(o->err, sizeof(o->err), "%s", h1_error(p));
    h1_parser_close(p);
}

static void assert_same(const struct outcome *a, const struct outcome *b)
{
    assert_int_equal(a->rc, b->rc);
    assert_int_equal(a->complete, b->complete);
    if (a->rc == LS_OK) /* after an error, how much was consumed is not specified */
        assert_int_equal(a->consumed, b->consumed);
    assert_int_equal(a->head_done, b->head_done);
    assert_memory_equal(&a->head, &b->head, sizeof(a->head));
    assert_int_equal(a->body_len, b->body_len);
    assert_memory_equal(a->body, b->body, a->body_len);
    assert_int_equal(a->body_count, b->body_count);
    assert_string_equal(a->err, b->err);
}

/* Whole, every two-piece split, byte by byte: all the same. Returns the whole-feed outcome. */
static void feed_all_ways(const char *text, size_t len, bool eof, struct outcome *whole)
{
    struct outcome *o = malloc(sizeof(*o));
    assert_non_null(o);
    run(text, len, NULL, eof, whole);
    for (size_t cut = 1; cut < len; cut++) {
        size_t pieces[] = {cut, 0};
        run(text, len, pieces, eof, o);
        assert_same(whole, o);
    }
    size_t *ones = malloc((len + 1) * sizeof(size_t));
    assert_non_null(ones);
    for (size_t i = 0; i < len; i++)
        ones[i] = 1;
    ones[len] = 0;
    run(text, len, ones, eof, o);
    assert_same(whole, o);
    free(ones);
    free(o);
}

#define FEED(lit, eof, o) feed_all_ways((lit), sizeof(lit) - 1, (eof), (o))

static struct outcome out;

/* ------------------------------------------------------------ good replies */

static void test_sized_json(void **state)
{
    (void)state;
    static const char r[] = "HTTP/1.1 200 OK\r\n"
                            "Content-Type: application/json\r\n"
                            "Content-Length: 28\r\n"
                            "mcp-session-id: 3f2a-77\r\n"
                            "Date: Mon, 01 Jan 2026 00:00:00 GMT\r\n"
                            "\r\n"
                            "{\"jsonrpc\":\"2.0\",\"id\":1,\"r\"}";
    FEED(r, false, &out);
    assert_int_equal(out.rc, LS_OK);
    assert_true(out.complete);
    assert_int_equal(out.consumed, sizeof(r) - 1);
    assert_int_equal(out.head.status, 200);
    assert_int_equal(out.head.version_minor, 1);
    assert_int_equal(out.head.framing, H1_BODY_LENGTH);
    assert_int_equal(out.head.content_length, 28);
    assert_true(out.head.keep_alive);
    assert_string_equal(out.head.content_type, "application/json");
    assert_true(out.head.has_session_id);
    assert_string_equal(out.head.session_id, "3f2a-77");
    assert_int_equal(out.body_len, 28);
    assert_memory_equal(out.body, "{\"jsonrpc\":\"2.0\",\"id\":1,\"r\"}", 28);
}

static void test_chunked_extensions_trailers(void **state)
{
    (void)state;
    static const char r[] = "HTTP/1.1 200 OK\r\n"
                            "Content-Type: text/event-stream\r\n"
                            "Transfer-Encoding: chunked\r\n"
                            "Connection: keep-alive\r\n"
                            "\r\n"
                            "5;name=value\r\n"
                            "hello\r\n"
                            "7 ; q=\"a;b\" ;flag\r\n"
                            ", world\r\n"
                            "A\r\n"
                            "0123456789\r\n"
                            "0;last\r\n"
                            "X-Checksum: abc\r\n"
                            "X-More: 1\r\n"
                            "\r\n";
    FEED(r, false, &out);
    assert_int_equal(out.rc, LS_OK);
    assert_true(out.complete);
    assert_int_equal(out.consumed, sizeof(r) - 1);
    assert_int_equal(out.head.framing, H1_BODY_CHUNKED);
    assert_true(out.head.keep_alive);
    assert_string_equal(out.head.content_type, "text/event-stream");
    assert_false(out.head.has_session_id);
    assert_int_equal(out.body_len, 22);
    assert_memory_equal(out.body, "hello, world0123456789", 22);
    assert_int_equal(out.body_count, 22);
}

static void test_interim_skipped(void **state)
{
    (void)state;
    static const char r[] = "HTTP/1.1 100 Continue\r\n\r\n"
                            "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                            "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
    FEED(r, false, &out);
    assert_int_equal(out.rc, LS_OK);
    assert_true(out.complete);
    assert_int_equal(out.head.status, 202);
    assert_int_equal(out.head.framing, H1_BODY_LENGTH);
    assert_int_equal(out.body_len, 0);
}

static void test_http10_close_delimited(void **state)
{
    (void)state;
    static const char r[] = "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\":1}";
    FEED(r, true, &out);
    assert_int_equal(out.rc, LS_OK);
    assert_true(out.complete);
    assert_int_equal(out.head.version_minor, 0);
    assert_int_equal(out.head.framing, H1_BODY_CLOSE);
    assert_false(out.head.keep_alive);
    assert_int_equal(out.body_len, 7);
    /* Without the close it is not complete. */
    FEED(r, false, &out);
    assert_int_equal(out.rc, LS_OK);
    assert_false(out.complete);
    assert_int_equal(out.body_len, 7);
}

static void test_http10_keep_alive_and_close(void **state)
{
    (void)state;
    static const char ka[] = "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok";
    FEED(ka, false, &out);
    assert_true(out.complete);
    assert_true(out.head.keep_alive);
    static const char cl[] = "HTTP/1.1 200 OK\r\nConnection: foo, close\r\nContent-Length: 2\r\n\r\nok";
    FEED(cl, false, &out);
    assert_true(out.complete);
    assert_false(out.head.keep_alive);
    static const char n10[] = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
    FEED(n10, false, &out);
    assert_true(out.complete);
    assert_false(out.head.keep_alive);
}

static void test_no_body_statuses_and_lf(void **state)
{
    (void)state;
    static const char r204[] = "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n";
    FEED(r204, false, &out);
    assert_true(out.complete);
    assert_int_equal(out.head.framing, H1_BODY_NONE);
    /* Bare LF line ends; no reason phrase. */
    static const char lf[] = "HTTP/1.1 404\nContent-Length: 3\n\nabc";
    FEED(lf, false, &out);
    assert_int_equal(out.rc, LS_OK);
    assert_true(out.complete);
    assert_int_equal(out.head.status, 404);
    assert_int_equal(out.body_len, 3);
}

static void test_stops_at_message_end(void **state)
{
    (void)state;
    static const char r[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n";
    FEED(r, false, &out);
    assert_true(out.complete);
    assert_int_equal(out.consumed, sizeof(r) - 1 - 17);
    assert_int_equal(out.body_len, 2);
}

static void test_list_lengths_and_te(void **state)
{
    (void)state;
    static const char same[] = "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc";
    FEED(same, false, &out);
    assert_true(out.complete);
    assert_int_equal(out.head.content_length, 3);
    /* Transfer-Encoding wins over Content-Length, and the connection is not reused. */
    static const char both[] = "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "2\r\nok\r\n0\r\n\r\n";
    FEED(both, false, &out);
    assert_true(out.complete);
    assert_int_equal(out.head.framing, H1_BODY_CHUNKED);
    assert_false(out.head.keep_alive);
    assert_int_equal(out.body_len, 2);
    /* chunked not last: the body runs to the close. */
    static const char gz[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nxyz";
    FEED(gz, true, &out);
    assert_true(out.complete);
    assert_int_equal(out.head.framing, H1_BODY_CLOSE);
    assert_int_equal(out.body_len, 3);
    static const char two[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "0\r\n\r\n";
    FEED(two, false, &out);
    assert_true(out.complete);
    assert_int_equal(out.head.framing, H1_BODY_CHUNKED);
}

/* ------------------------------------------------------------ bad replies */

static void expect_error(const char *text, size_t len, bool eof, const char *msg)
{
    feed_all_ways(text, len, eof, &out);
    assert_int_not_equal(out.rc, LS_OK);
    assert_false(out.complete);
    if (!strstr(out.err, msg))
        fail_msg("error \"%s\" does not contain \"%s\"", out.err, msg);
}

#define BAD(lit, msg) expect_error((lit), sizeof(lit) - 1, false, (msg))
#define BAD_EOF(lit, msg) expect_error((lit), sizeof(lit) - 1, true, (msg))

static void test_malformed(void **state)
{
    (void)state;
    BAD("HTTP/2 200\r\n\r\n", "not an HTTP/1.x status line: \"HTTP/2 200\"");
    BAD("HTTP/1.1 20 OK\r\n\r\n", "not an HTTP/1.x status line");
    BAD("HTTP/1.1 099 Low\r\n\r\n", "not an HTTP/1.x status line");
    BAD("HTTP/1.1 200OK\r\n\r\n", "not an HTTP/1.x status line");
    BAD("\r\nHTTP/1.1 200 OK\r\n\r\n", "not an HTTP/1.x status line");
    BAD("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", "malformed header field: \"NoColon\"");
    BAD("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", "malformed header field");
    BAD("HTTP/1.1 200 OK\r\nX: a\r\n  folded\r\n\r\n", "obsolete line folding in the header");
    BAD("HTTP/1.1 200 OK\r\nX: a\x01z\r\n\r\n", "control character in field X");
    BAD("HTTP/1.1 200 OK\r\nX: a\rz\r\n\r\n", "stray CR or NUL inside a line");
    BAD("HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n", "Content-Length is not a number");
    BAD("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", "Content-Length is not a number");
    BAD("HTTP/1.1 200 OK\r\nContent-Length: 5,\r\n\r\n", "Content-Length is not a number");
    BAD("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n", "conflicting Content-Length values");
    BAD("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "conflicting Content-Length values");
    BAD("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", "Content-Length too large");
    BAD("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size line: \"zz\"");
    BAD("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n",
        "bad chunk size line");
    BAD("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
        "chunk data longer than its size");
    BAD("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
        "chunk size too large");
    BAD("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=\x02\r\nok\r\n",
        "control character in a chunk extension");
    BAD("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
        "malformed trailer field");
    BAD("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", "server switched protocols (101)");
    BAD_EOF("", "connection closed before any response byte");
    BAD_EOF("HTTP/1.1 200 OK\r\nContent-Le", "connection closed inside the response head");
    BAD_EOF("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "connection closed after 3 of 10 body bytes");
    BAD_EOF("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            "connection closed inside the chunked body after 3 bytes");
}

static void test_nul_in_header(void **state)
{
    (void)state;
    static const char r[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
    expect_error(r, sizeof(r) - 1, false, "stray CR or NUL inside a line");
}

static char *repeat(const char *prefix, char c, size_t n, const char *suffix)
{
    size_t a = strlen(prefix), b = strlen(suffix);
    char *s = malloc(a + n + b + 1);
    assert_non_null(s);
    memcpy(s, prefix, a);
    memset(s + a, c, n);
    memcpy(s + a + n, suffix, b + 1);
    return s;
}

static void test_limits(void **state)
{
    (void)state;
    /* A field line of exactly H1_LINE_MAX bytes passes; one more byte does not. */
    char *ok = repeat("HTTP/1.1 200 OK\r\nX: ", 'a', H1_LINE_MAX - 3, "\r\nContent-Length: 0\r\n\r\n");
    feed_all_ways(ok, strlen(ok), false, &out);
    assert_int_equal(out.rc, LS_OK);
    assert_true(out.complete);
    free(ok);
    char *bad = repeat("HTTP/1.1 200 OK\r\nX: ", 'a', H1_LINE_MAX - 2, "\r\nContent-Length: 0\r\n\r\n");
    expect_error(bad, strlen(bad), false, "line longer than 8192 bytes");
    free(bad);
    /* No line end at all. */
    bad = repeat("HTTP/1.1 200 OK\r\nX: ", 'a', H1_LINE_MAX + 100, "");
    expect_error(bad, strlen(bad), false, "line longer than 8192 bytes");
    free(bad);

    /* Too many fields. */
    size_t cap = 64 + (H1_FIELDS_MAX + 1) * 8;
    char *many = malloc(cap);
    assert_non_null(many);
    size_t n = (size_t)snprintf(many, cap, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i <= H1_FIELDS_MAX; i++)
        n += (size_t)snprintf(many + n, cap - n, "A: 1\r\n");
    n += (size_t)snprintf(many + n, cap - n, "\r\n");
    run(many, n, NULL, false, &out);
    assert_int_equal(out.rc, LS_ERR_PARSE);
    assert_string_equal(out.err, "more than 128 header fields");
    free(many);

    /* A head over H1_HEAD_MAX made of lines within the line limit. */
    size_t lines = H1_HEAD_MAX / 4000 + 2;
    cap = 64 + lines * 4010;
    char *big = malloc(cap);
    assert_non_null(big);
    n = (size_t)snprintf(big, cap, "HTTP/1.1 200 OK\r\n");
    for (size_t i = 0; i < lines; i++) {
        n += (size_t)snprintf(big + n, cap - n, "X: ");
        memset(big + n, 'v', 4000);
        n += 4000;
        n += (size_t)snprintf(big + n, cap - n, "\r\n");
    }
    run(big, n, NULL, false, &out);
    assert_int_equal(out.rc, LS_ERR_PARSE);
    assert_string_equal(out.err, "response head larger than 65536 bytes");
    free(big);

    /* Session ids: 255 bytes kept, 256 refused, invisible characters refused. */
    char *sid = repeat("HTTP/1.1 200 OK\r\nMcp-Session-Id: ", 's', H1_SESSION_ID_MAX,
                       "\r\nContent-Length: 0\r\n\r\n");
    run(sid, strlen(sid), NULL, false, &out);
    assert_true(out.complete);
    assert_int_equal(strlen(out.head.session_id), H1_SESSION_ID_MAX);
    free(sid);
    sid = repeat("HTTP/1.1 200 OK\r\nMcp-Session-Id: ", 's', H1_SESSION_ID_MAX + 1,
                 "\r\nContent-Length: 0\r\n\r\n");
    expect_error(sid, strlen(sid), false, "Mcp-Session-Id longer than 255 bytes");
    free(sid);
    BAD("HTTP/1.1 200 OK\r\nMcp-Session-Id: a\xc3\xa9\r\n\r\n", "not visible ASCII");

    /* Interim responses are bounded. */
    char *interim = malloc(32 * (H1_INTERIM_MAX + 2));
    assert_non_null(interim);
    n = 0;
    for (int i = 0; i <= H1_INTERIM_MAX; i++)
        n += (size_t)sprintf(interim + n, "HTTP/1.1 100 Continue\r\n\r\n");
    run(interim, n, NULL, false, &out);
    assert_string_equal(out.err, "more than 16 interim (1xx) responses");
    free(interim);
}

static void test_body_consumer_stops(void **state)
{
    (void)state;
    static const char r[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
    struct h1_parser *p;
    struct outcome o = {0};
    struct sink s = {&o, 4};
    assert_int_equal(h1_parser_open(on_body, &s, &p), LS_OK);
    size_t used;
    assert_int_equal(h1_feed(p, r, 40, &used), LS_OK);
    assert_int_equal(h1_feed(p, r + 40, 2, &used), LS_OK);
    assert_int_equal(h1_feed(p, r + 42, 8, &used), LS_ERR_INVALID);
    assert_string_equal(h1_error(p), "the body consumer stopped");
    /* Reset makes it usable again. */
    h1_parser_reset(p);
    s.stop_after = 0;
    o.body_len = 0;
    assert_int_equal(h1_feed(p, r, sizeof(r) - 1, &used), LS_OK);
    assert_true(h1_complete(p));
    assert_int_equal(o.body_len, 10);
    h1_parser_close(p);
}

/* ------------------------------------------------------------ requests */

static void test_parse_url(void **state)
{
    (void)state;
    struct h1_url u;
    char err[256];
    assert_int_equal(h1_parse_url("http://127.0.0.1:8931/mcp?x=1#frag", &u, err, sizeof(err)), LS_OK);
    assert_string_equal(u.host, "127.0.0.1");
    assert_string_equal(u.port, "8931");
    assert_string_equal(u.authority, "127.0.0.1:8931");
    assert_string_equal(u.target, "/mcp?x=1");
    assert_int_equal(h1_parse_url("HTTP://example.test", &u, err, sizeof(err)), LS_OK);
    assert_string_equal(u.port, "80");
    assert_string_equal(u.authority, "example.test");
    assert_string_equal(u.target, "/");
    assert_int_equal(h1_parse_url("http://[::1]:9000?q", &u, err, sizeof(err)), LS_OK);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.authority, "[::1]:9000");
    assert_string_equal(u.target, "/?q");
    assert_int_equal(h1_parse_url("https://a/", &u, err, sizeof(err)), LS_ERR_INVALID);
    assert_string_equal(err, "https://a/: the native HTTP client speaks plain http:// only");
    assert_int_equal(h1_parse_url("http://u:p@a/", &u, err, sizeof(err)), LS_ERR_INVALID);
    assert_string_equal(err, "http://u:p@a/: user information in the URL is not supported");
    assert_int_equal(h1_parse_url("http://a:99999/", &u, err, sizeof(err)), LS_ERR_INVALID);
    assert_string_equal(err, "http://a:99999/: bad port");
    assert_int_equal(h1_parse_url("http://a:/", &u, err, sizeof(err)), LS_ERR_INVALID);
    assert_int_equal(h1_parse_url("http:///x", &u, err, sizeof(err)), LS_ERR_INVALID);
    assert_string_equal(err, "http:///x: empty host");
    assert_int_equal(h1_parse_url("http://a/b c", &u, err, sizeof(err)), LS_ERR_INVALID);
    assert_int_equal(h1_parse_url("http://[::1/", &u, err, sizeof(err)), LS_ERR_INVALID);
}

static void test_format_head(void **state)
{
    (void)state;
    struct h1_url u;
    char err[128], buf[512], len[48];
    assert_int_equal(h1_parse_url("http://127.0.0.1:8080/mcp", &u, err, sizeof(err)), LS_OK);
    const char *fields[] = {"Content-Type: application/json", "Mcp-Session-Id: s1"};
    long n = h1_format_head(buf, sizeof(buf), "POST", &u, fields, 2);
    static const char want[] = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                               "Content-Type: application/json\r\nMcp-Session-Id: s1\r\n";
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(buf, want, sizeof(want) - 1);
    assert_int_equal(h1_format_head(buf, 40, "POST", &u, fields, 2), -1);
    const char *inject[] = {"X: a\r\nEvil: 1"};
    assert_int_equal(h1_format_head(buf, sizeof(buf), "POST", &u, inject, 1), -1);
    size_t k = h1_format_length(len, 0);
    assert_int_equal(k, 21);
    assert_memory_equal(len, "Content-Length: 0\r\n\r\n", 21);
    k = h1_format_length(len, 18446744073709551615ull);
    assert_memory_equal(len, "Content-Length: 18446744073709551615\r\n\r\n", k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sized_json),
        cmocka_unit_test(test_chunked_extensions_trailers),
        cmocka_unit_test(test_interim_skipped),
        cmocka_unit_test(test_http10_close_delimited),
        cmocka_unit_test(test_http10_keep_alive_and_close),
        cmocka_unit_test(test_no_body_statuses_and_lf),
        cmocka_unit_test(test_stops_at_message_end),
        cmocka_unit_test(test_list_lengths_and_te),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_nul_in_header),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_body_consumer_stops),
        cmocka_unit_test(test_parse_url),
        cmocka_unit_test(test_format_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
