/*
 * test_h1req: the HTTP/1.1 request parser over a growing buffer. Every
 * request is parsed whole, grown by every two-piece split and byte by byte,
 * with identical results required (head, fields, framing, sizes, decoded
 * body, error message); Content-Length and chunked bodies (extensions,
 * trailers), keep-alive rules of 1.0 and 1.1, Expect: 100-continue, empty
 * lines before the request line, a second request after the first; and the
 * refusals: smuggling (Transfer-Encoding with Content-Length), bad framing,
 * obsolete folding, white space before the colon, control characters,
 * limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/h1req.h"

struct outcome {
    ls_err rc;
    bool head_done, complete;
    char method[16], target[256];
    uint8_t version_minor;
    uint32_t nfields, head_len;
    int framing;
    uint64_t content_length, msg_len, body_len;
    bool keep_alive, expect_continue;
    char fields[1024]; /* "name=value\n" each */
    char body[1024];
    char err[160];
};

static void take(const char *text, const struct h1req *r, struct outcome *o)
{
    o->head_done = h1req_head_done(r);
    o->complete = h1req_complete(r);
    snprintf(o->err, sizeof o->err, "%s", r->err);
    if (!o->head_done)
        return;
    snprintf(o->method, sizeof o->method, "%.*s", (int)r->method.len, text + r->method.off);
    snprintf(o->target, sizeof o->target, "%.*s", (int)r->target.len, text + r->target.off);
    o->version_minor = r->version_minor;
    o->nfields = r->nfields;
    o->head_len = r->head_len;
    o->framing = (int)r->framing;
    o->content_length = r->content_length;
    o->keep_alive = r->keep_alive;
    o->expect_continue = r->expect_continue;
    size_t n = 0;
    for (uint32_t i = 0; i < r->nfields && n < sizeof o->fields; i++)
        n += (size_t)snprintf(o->fields + n, sizeof o->fields - n, "%.*s=%.*s\n",
                              (int)r->fields[i].name.len, text + r->fields[i].name.off,
                              (int)r->fields[i].value.len, text + r->fields[i].value.off);
    if (o->complete) {
        o->msg_len = r->msg_len;
        o->body_len = r->body_len;
        assert_true(r->body_len < sizeof o->body);
        h1req_body(r, text, o->body);
    }
}

/* Grows the buffer by the given piece sizes (0-terminated; NULL: whole). */
static void run(const char *text, size_t len, const size_t *pieces, struct outcome *o)
{
    struct h1req *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    memset(o, 0, sizeof(*o));
    h1req_reset(r);
    /* a copy that grows, so the parser cannot read past what "arrived" unnoticed (ASan) */
    char *buf = NULL;
    size_t have = 0;
    for (size_t k = 0; have < len; k++) {
        size_t n = pieces && pieces[k] ? pieces[k] : len - have;
        if (n > len - have)
            n = len - have;
        char *nb = realloc(buf, have + n);
        assert_non_null(nb);
        buf = nb;
        memcpy(buf + have, text + have, n);
        have += n;
        o->rc = h1req_parse(r, buf, have);
        if (o->rc != LS_OK || h1req_complete(r))
            break;
    }
    take(buf, r, o);
    free(buf);
    free(r);
}

static void assert_same(const struct outcome *a, const struct outcome *b)
{
    assert_int_equal(a->rc, b->rc);
    assert_int_equal(a->head_done, b->head_done);
    assert_int_equal(a->complete, b->complete);
    assert_string_equal(a->method, b->method);
    assert_string_equal(a->target, b->target);
    assert_string_equal(a->fields, b->fields);
    assert_int_equal(a->framing, b->framing);
    assert_int_equal(a->content_length, b->content_length);
    assert_int_equal(a->msg_len, b->msg_len);
    assert_int_equal(a->body_len, b->body_len);
    assert_memory_equal(a->body, b->body, a->body_len);
    assert_int_equal(a->keep_alive, b->keep_alive);
    assert_int_equal(a->expect_continue, b->expect_continue);
    assert_string_equal(a->err, b->err);
}

static void parse_all_ways(const char *text, size_t len, struct outcome *whole)
{
    struct outcome *o = malloc(sizeof(*o));
    assert_non_null(o);
    run(text, len, NULL, whole);
    for (size_t cut = 1; cut < len; cut++) {
        size_t pieces[] = {cut, 0};
        run(text, len, pieces, o);
        assert_same(whole, o);
    }
    size_t *ones = malloc((len + 1) * sizeof(size_t));
    assert_non_null(ones);
    for (size_t i = 0; i < len; i++)
        ones[i] = 1;
    ones[len] = 0;
    run(text, len, ones, o);
    assert_same(whole, o);
    free(ones);
    free(o);
}

#define PARSE(lit, o) parse_all_ways((lit), sizeof(lit) - 1, (o))

static struct outcome out;

static void test_dynamodb_post(void **state)
{
    (void)state;
    static const char r[] =
        "POST / HTTP/1.1\r\n"
        "Host: 127.0.0.1:4567\r\n"
        "X-Amz-Target: DynamoDB_20120810.GetItem\r\n"
        "amz-sdk-request:   attempt=2; max=3  \r\n"
        "Content-Type: application/x-amz-json-1.0\r\n"
        "Content-Length: 17\r\n"
        "\r\n"
        "{\"TableName\":\"t\"}"
        "GET /next HTTP/1.1\r\n\r\n"; /* the next request on the connection: not ours */
    PARSE(r, &out);
    assert_int_equal(out.rc, LS_OK);
    assert_true(out.complete);
    assert_string_equal(out.method, "POST");
    assert_string_equal(out.target, "/");
    assert_int_equal(out.version_minor, 1);
    assert_int_equal(out.framing, H1REQ_BODY_LENGTH);
    assert_int_equal(out.content_length, 17);
    assert_int_equal(out.body_len, 17);
    assert_memory_equal(out.body, "{\"TableName\":\"t\"}", 17);
    assert_int_equal(out.msg_len, sizeof(r) - 1 - strlen("GET /next HTTP/1.1\r\n\r\n"));
    assert_true(out.keep_alive);
    assert_false(out.expect_continue);
    assert_string_equal(out.fields, "Host=127.0.0.1:4567\n"
                                    "X-Amz-Target=DynamoDB_20120810.GetItem\n"
                                    "amz-sdk-request=attempt=2; max=3\n"
                                    "Content-Type=application/x-amz-json-1.0\n"
                                    "Content-Length=17\n");
}

static void test_field_lookup(void **state)
{
    (void)state;
    static const char r[] = "GET /b/k?x-id=GetObject HTTP/1.1\r\nhost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n";
    struct h1req req;
    h1req_reset(&req);
    assert_int_equal(h1req_parse(&req, r, sizeof(r) - 1), LS_OK);
    assert_true(h1req_complete(&req));
    assert_int_equal(req.framing, H1REQ_BODY_NONE);
    assert_int_equal(req.msg_len, sizeof(r) - 1);
    size_t n;
    const char *v = h1req_field(&req, r, "x-a", &n);
    assert_non_null(v);
    assert_int_equal(n, 1);
    assert_memory_equal(v, "1", 1); /* the first one */
    assert_null(h1req_field(&req, r, "x-b", &n));
    assert_int_equal(n, 0);
}

static void test_chunked(void **state)
{
    (void)state;
    static const char r[] = "PUT /bucket/key HTTP/1.1\r\n"
                            "Transfer-Encoding: gzip, chunked\r\n"
                            "\r\n"
                            "5;ext=\"a;b\"\r\nhello\r\n"
                            "1\r\n,\r\n"
                            "A\n0123456789\n"
                            "0\r\n"
                            "x-amz-checksum-crc32: AAAAAA==\r\n"
                            "\r\n";
    PARSE(r, &out);
    assert_int_equal(out.rc, LS_OK);
    assert_true(out.complete);
    assert_int_equal(out.framing, H1REQ_BODY_CHUNKED);
    assert_int_equal(out.body_len, 16);
    assert_memory_equal(out.body, "hello,0123456789", 16);
    assert_int_equal(out.msg_len, sizeof(r) - 1);
}

static void test_keep_alive_rules(void **state)
{
    (void)state;
    PARSE("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &out);
    assert_true(out.complete);
    assert_false(out.keep_alive);
    PARSE("GET / HTTP/1.0\r\n\r\n", &out);
    assert_int_equal(out.version_minor, 0);
    assert_false(out.keep_alive);
    PARSE("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &out);
    assert_true(out.keep_alive);
    PARSE("GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n", &out);
    assert_false(out.keep_alive);
}

static void test_expect_and_empty_lines(void **state)
{
    (void)state;
    /* empty lines before the request line are skipped; bare LF ends lines */
    static const char r[] = "\r\n\nPUT /b/k HTTP/1.1\nExpect: 100-Continue\nContent-Length: 3\n\nabc";
    PARSE(r, &out);
    assert_int_equal(out.rc, LS_OK);
    assert_true(out.complete);
    assert_string_equal(out.method, "PUT");
    assert_true(out.expect_continue);
    assert_int_equal(out.body_len, 3);
    assert_memory_equal(out.body, "abc", 3);
    /* the head is done before the body: the proxy answers 100 Continue then */
    static const char h[] = "PUT /b/k HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
    PARSE(h, &out);
    assert_true(out.head_done);
    assert_false(out.complete);
    assert_int_equal(out.head_len, sizeof(h) - 1);
    PARSE("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &out);
    assert_true(out.complete);
    assert_int_equal(out.framing, H1REQ_BODY_LENGTH);
    assert_int_equal(out.body_len, 0);
}

static void expect_error(const char *text, const char *msg)
{
    parse_all_ways(text, strlen(text), &out);
    assert_int_equal(out.rc, LS_ERR_PARSE);
    if (strcmp(out.err, msg) != 0)
        fail_msg("\n got: %s\nwant: %s", out.err, msg);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                 "both Transfer-Encoding and Content-Length (refused: request smuggling)");
    expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                 "Transfer-Encoding does not end in chunked");
    expect_error("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                 "Transfer-Encoding in an HTTP/1.0 request");
    expect_error("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                 "conflicting Content-Length values");
    expect_error("POST / HTTP/1.1\r\nContent-Length: 3x\r\n\r\n", "Content-Length is not a number");
    expect_error("GET / HTTP/1.1\r\nHost : x\r\n\r\n", "malformed header field: \"Host : x\"");
    expect_error("GET / HTTP/1.1\r\nA: 1\r\n  folded\r\n\r\n", "obsolete line folding in the head");
    expect_error("GET / HTTP/1.1\r\nA: x\001y\r\n\r\n", "control character in field A");
    expect_error("GET /a b HTTP/1.1\r\n\r\n", "not an HTTP/1.x request: \"GET /a b HTTP/1.1\"");
    expect_error("GET  / HTTP/1.1\r\n\r\n", "malformed request target in \"GET  / HTTP/1.1\"");
    expect_error("PRI * HTTP/2.0\r\n\r\n", "not an HTTP/1.x request: \"PRI * HTTP/2.0\"");
    expect_error("G(T / HTTP/1.1\r\n\r\n", "malformed request line: \"G(T / HTTP/1.1\"");
    expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                 "bad chunk size line: \"zz\"");
    expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
                 "chunk data longer than its size");
}

static void test_limits(void **state)
{
    (void)state;
    /* a line with no end in sight */
    size_t n = H1REQ_LINE_MAX + 10;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memcpy(big, "GET /", 5);
    memset(big + 5, 'a', n - 5);
    big[n] = '\0';
    struct h1req r;
    h1req_reset(&r);
    assert_int_equal(h1req_parse(&r, big, n), LS_ERR_PARSE);
    assert_string_equal(r.err, "line longer than 16384 bytes");
    free(big);
    /* too many fields */
    char *many = malloc(64 * 1024);
    assert_non_null(many);
    size_t k = (size_t)sprintf(many, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= H1REQ_FIELDS_MAX; i++)
        k += (size_t)sprintf(many + k, "F%d: v\r\n", i);
    k += (size_t)sprintf(many + k, "\r\n");
    h1req_reset(&r);
    assert_int_equal(h1req_parse(&r, many, k), LS_ERR_PARSE);
    assert_string_equal(r.err, "more than 128 header fields");
    free(many);
    /* an error sticks until reset */
    assert_int_equal(h1req_parse(&r, "GET / HTTP/1.1\r\n\r\n", 18), LS_ERR_PARSE);
    h1req_reset(&r);
    assert_int_equal(h1req_parse(&r, "GET / HTTP/1.1\r\n\r\n", 18), LS_OK);
    assert_true(h1req_complete(&r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dynamodb_post),     cmocka_unit_test(test_field_lookup),
        cmocka_unit_test(test_chunked),           cmocka_unit_test(test_keep_alive_rules),
        cmocka_unit_test(test_expect_and_empty_lines), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
