/*
 * test_jsonrpc: the scanner on real server-everything replies and on
 * malformed JSON, json_find_member, the exact request text, and the pending
 * table (out-of-order replies, strays, duplicates, full, drain, and a long
 * random run checked against a plain array).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/jsonrpc.h"

#define LIT(s) (s), (sizeof(s) - 1)

static void assert_span(struct json_span sp, const char *want)
{
    assert_non_null(sp.p);
    assert_int_equal(sp.len, strlen(want));
    assert_memory_equal(sp.p, want, sp.len);
}

static void assert_absent(struct json_span sp)
{
    assert_null(sp.p);
    assert_int_equal(sp.len, 0);
}

/* Deterministic xorshift64 for shuffles and random runs. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* ---- scanning real replies ---- */

static void test_scan_response(void **state)
{
    (void)state;
    static const char msg[] =
        "{\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"Echo: hi\"}]},\"jsonrpc\":\"2.0\",\"id\":3}";
    struct jsonrpc_msg m;
    assert_int_equal(jsonrpc_scan(LIT(msg), &m), LS_OK);
    assert_int_equal(m.kind, JSONRPC_RESPONSE);
    assert_true(m.id_is_int);
    assert_int_equal(m.id_int, 3);
    assert_span(m.id, "3");
    assert_span(m.result, "{\"content\":[{\"type\":\"text\",\"text\":\"Echo: hi\"}]}");
    assert_ptr_equal(m.result.p, msg + 10);
    assert_absent(m.method);
    assert_absent(m.error);
    assert_absent(m.error_message);
    assert_int_equal(m.error_code, 0);

    struct json_span v;
    assert_true(json_find_member(m.result, "content", &v));
    assert_span(v, "[{\"type\":\"text\",\"text\":\"Echo: hi\"}]");
    assert_false(json_find_member(m.result, "isError", &v));
}

static void test_scan_notification(void **state)
{
    (void)state;
    static const char msg[] = "{\"method\":\"notifications/tools/list_changed\",\"jsonrpc\":\"2.0\"}";
    struct jsonrpc_msg m;
    assert_int_equal(jsonrpc_scan(LIT(msg), &m), LS_OK);
    assert_int_equal(m.kind, JSONRPC_NOTIFICATION);
    assert_span(m.method, "notifications/tools/list_changed");
    assert_absent(m.id);
    assert_false(m.id_is_int);
    assert_absent(m.result);
}

static void test_scan_server_request(void **state)
{
    (void)state;
    static const char msg[] = "{\"jsonrpc\":\"2.0\",\"id\":\"srv-1\",\"method\":\"roots/list\"}";
    struct jsonrpc_msg m;
    assert_int_equal(jsonrpc_scan(LIT(msg), &m), LS_OK);
    assert_int_equal(m.kind, JSONRPC_REQUEST);
    assert_span(m.id, "\"srv-1\"");
    assert_false(m.id_is_int);
    assert_int_equal(m.id_int, 0);
    assert_span(m.method, "roots/list");
}

static void test_scan_error(void **state)
{
    (void)state;
    static const char msg[] =
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32602,\"message\":\"Invalid params\"}}";
    struct jsonrpc_msg m;
    assert_int_equal(jsonrpc_scan(LIT(msg), &m), LS_OK);
    assert_int_equal(m.kind, JSONRPC_ERROR);
    assert_true(m.id_is_int);
    assert_int_equal(m.id_int, 4);
    assert_span(m.error, "{\"code\":-32602,\"message\":\"Invalid params\"}");
    assert_int_equal(m.error_code, -32602);
    assert_span(m.error_message, "Invalid params");
    assert_absent(m.result);

    /* A parse error answer has a null id; nested data, escapes in the message. */
    static const char msg2[] =
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"message\":\"bad \\\"x\\\"\",\"data\":{\"code\":1,"
        "\"message\":\"inner\"},\"code\":-32700}}";
    assert_int_equal(jsonrpc_scan(LIT(msg2), &m), LS_OK);
    assert_int_equal(m.kind, JSONRPC_ERROR);
    assert_span(m.id, "null");
    assert_false(m.id_is_int);
    assert_int_equal(m.error_code, -32700);
    assert_span(m.error_message, "bad \\\"x\\\"");
}

static void test_scan_tool_error_result(void **state)
{
    (void)state;
    static const char msg[] =
        "{\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"Error: boom\"}],\"isError\":true},"
        "\"jsonrpc\":\"2.0\",\"id\":5}";
    struct jsonrpc_msg m;
    struct json_span v;
    assert_int_equal(jsonrpc_scan(LIT(msg), &m), LS_OK);
    assert_int_equal(m.kind, JSONRPC_RESPONSE);
    assert_int_equal(m.id_int, 5);
    assert_true(json_find_member(m.result, "isError", &v));
    assert_span(v, "true");
    assert_true(json_span_is_true(v));

    static const char msg2[] = "{\"jsonrpc\":\"2.0\",\"id\":6,\"result\":{\"isError\":false,\"content\":[]}}";
    assert_int_equal(jsonrpc_scan(LIT(msg2), &m), LS_OK);
    assert_true(json_find_member(m.result, "isError", &v));
    assert_span(v, "false");
    assert_false(json_span_is_true(v));
}

static void test_scan_nested_id_not_confused(void **state)
{
    (void)state;
    static const char msg[] =
        "{\"jsonrpc\":\"2.0\",\"result\":{\"id\":99,\"method\":\"x\",\"items\":[{\"id\":100},"
        "{\"error\":{\"code\":7}}],\"jsonrpc\":\"1.0\"},\"id\":7}";
    struct jsonrpc_msg m;
    assert_int_equal(jsonrpc_scan(LIT(msg), &m), LS_OK);
    assert_int_equal(m.kind, JSONRPC_RESPONSE);
    assert_int_equal(m.id_int, 7);
    assert_span(m.id, "7");
    assert_absent(m.method);
    assert_absent(m.error);
    assert_int_equal(m.error_code, 0);

    struct json_span v;
    assert_true(json_find_member(m.result, "id", &v));
    assert_span(v, "99");
    assert_true(json_find_member(m.result, "items", &v));
    assert_span(v, "[{\"id\":100},{\"error\":{\"code\":7}}]");
    assert_false(json_find_member(m.result, "code", &v));
}

static void test_scan_strings_with_braces(void **state)
{
    (void)state;
    static const char msg[] =
        "{\"jsonrpc\":\"2.0\",\"id\":8,\"result\":{\"text\":\"a } \\\" { ] [ \\\\\\\" , \\\"id\\\":1 \\u00e9\\n\","
        "\"k}\":\"\\\\\"}}";
    struct jsonrpc_msg m;
    assert_int_equal(jsonrpc_scan(LIT(msg), &m), LS_OK);
    assert_int_equal(m.kind, JSONRPC_RESPONSE);
    assert_int_equal(m.id_int, 8);
    assert_span(m.result, "{\"text\":\"a } \\\" { ] [ \\\\\\\" , \\\"id\\\":1 \\u00e9\\n\",\"k}\":\"\\\\\"}");
    struct json_span v;
    assert_true(json_find_member(m.result, "text", &v));
    assert_span(v, "\"a } \\\" { ] [ \\\\\\\" , \\\"id\\\":1 \\u00e9\\n\"");
    assert_true(json_find_member(m.result, "k}", &v));
    assert_span(v, "\"\\\\\"");
    assert_false(json_find_member(m.result, "id", &v));
}

static void test_scan_whitespace_and_ids(void **state)
{
    (void)state;
    struct jsonrpc_msg m;
    static const char ws[] = " \t\r\n{ \"jsonrpc\" : \"2.0\" , \"id\" : -42 , \"result\" : [ 1 , 2 ] } \n";
    assert_int_equal(jsonrpc_scan(LIT(ws), &m), LS_OK);
    assert_int_equal(m.kind, JSONRPC_RESPONSE);
    assert_int_equal(m.id_int, -42);
    assert_span(m.id, "-42");
    assert_span(m.result, "[ 1 , 2 ]");

    static const struct {
        const char *id;
        bool is_int;
        int64_t val;
    } ids[] = {
        { "0", true, 0 },
        { "-0", true, 0 },
        { "9223372036854775807", true, INT64_MAX },
        { "-9223372036854775808", true, INT64_MIN },
        { "9223372036854775808", false, 0 },
        { "-9223372036854775809", false, 0 },
        { "123456789012345678901234567890", false, 0 },
        { "1.0", false, 0 },
        { "1e2", false, 0 },
        { "-5E-1", false, 0 },
        { "\"12\"", false, 0 },
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char buf[128];
        int n = snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":null}", ids[i].id);
        assert_int_equal(jsonrpc_scan(buf, (size_t)n, &m), LS_OK);
        assert_int_equal(m.kind, JSONRPC_RESPONSE);
        assert_int_equal(m.id_is_int, ids[i].is_int);
        assert_int_equal(m.id_int, ids[i].val);
        assert_span(m.id, ids[i].id);
        assert_span(m.result, "null");
    }

    /* The last of repeated keys wins. */
    static const char dup[] = "{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":1,\"id\":2}";
    assert_int_equal(jsonrpc_scan(LIT(dup), &m), LS_OK);
    assert_int_equal(m.kind, JSONRPC_RESPONSE);
    assert_int_equal(m.id_int, 2);
}

static void test_scan_well_formed_but_invalid(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{\"jsonrpc\":\"1.0\",\"id\":1,\"result\":1}",
        "{\"jsonrpc\":2.0,\"id\":1,\"result\":1}",
        "{\"jsonrpc\":\"2\\u002e0\",\"id\":1,\"result\":1}", /* keys and values compared raw */
        "{\"id\":1,\"result\":1}",
        "{\"jsonrpc\":\"2.0\",\"id\":1}",
        "{\"jsonrpc\":\"2.0\",\"result\":1}",
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":1}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{\"code\":1}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"result\":1}",
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"m\"}",
        "{\"jsonrpc\":\"2.0\",\"method\":3}",
        "{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":1}",
        "{\"jsonrpc\":\"2.0\",\"id\":true,\"result\":1}",
        "{\"jsonrpc\":\"2.0\",\"id\":[1],\"result\":1}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"bad\"}",
        "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1}}",
        "{}",
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1}]",
        "42",
        "\"x\"",
        "null",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct jsonrpc_msg m;
        ls_err err = jsonrpc_scan(cases[i], strlen(cases[i]), &m);
        if (err != LS_OK || m.kind != JSONRPC_INVALID)
            fail_msg("case %zu (%s): err %d kind %d", i, cases[i], (int)err, (int)m.kind);
    }
}

/* ---- malformed JSON ---- */

static void expect_parse_error(const char *s, size_t len)
{
    struct jsonrpc_msg m;
    memset(&m, 0xAB, sizeof m);
    ls_err err = jsonrpc_scan(s, len, &m);
    if (err != LS_ERR_PARSE)
        fail_msg("accepted malformed input (err %d): %.*s", (int)err, (int)len, s);
    assert_int_equal(m.kind, JSONRPC_INVALID);
    assert_null(m.id.p);
    assert_null(m.result.p);
    assert_false(m.id_is_int);
}

static void test_scan_malformed(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "",
        "   ",
        "{",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"abc}",     /* unterminated string */
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"a\\x\"}",  /* bad escape */
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"\\u12G4\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"\\u12\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"\\",
        "{\"jsonrpc\":\"2.0\",\"id\":01,\"result\":1}",        /* leading zero */
        "{\"jsonrpc\":\"2.0\",\"id\":-01,\"result\":1}",
        "{\"jsonrpc\":\"2.0\",\"id\":00,\"result\":1}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,}",        /* trailing comma */
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":[1,2,]}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":1,}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":[,1]}",
        "{,\"jsonrpc\":\"2.0\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1} x",       /* trailing garbage */
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1}{}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1}}",
        "{\"jsonrpc\" \"2.0\"}",
        "{\"jsonrpc\":\"2.0\" \"id\":1}",
        "{jsonrpc:\"2.0\"}",
        "{'jsonrpc':'2.0'}",
        "{\"a\":tru}",
        "{\"a\":True}",
        "{\"a\":nul}",
        "{\"a\":falsey}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":1e}",
        "{\"a\":1e+}",
        "{\"a\":+1}",
        "{\"a\":-}",
        "{\"a\":0x10}",
        "{\"a\":[1 2]}",
        "{\"a\":[1}",
        "{\"a\":{]}",
        "{\"a\":\"tab\there\"}",                                /* raw control character */
        "{\"a\":\"\xC0\x80\"}",                                 /* overlong UTF-8 */
        "{\"a\":\"\xE0\x9F\xBF\"}",                             /* overlong 3-byte */
        "{\"a\":\"\xF0\x8F\xBF\xBF\"}",                         /* overlong 4-byte */
        "{\"a\":\"\xE2\x82\x41\"}",                             /* bad continuation */
        "{\"a\":\"\xED\xA0\x80\"}",                             /* UTF-8 surrogate */
        "{\"a\":\"\xE2\x82\"}",                                 /* truncated sequence */
        "{\"a\":\"\xF4\x90\x80\x80\"}",                         /* above U+10FFFF */
        "{\"a\":\"\x80\"}",
        "{\"a\":1}\f",                                          /* form feed is not white space */
        "\xEF\xBB\xBF{\"a\":1}",                                /* no BOM in JSON-RPC */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_parse_error(cases[i], strlen(cases[i]));

    /* A NUL after the object, counted in len, is garbage. */
    expect_parse_error("{\"a\":1}\0", 8);
    /* Truncated at every byte, a valid reply is malformed. */
    static const char full[] = "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32602,\"message\":\"I\"}}";
    for (size_t n = 0; n < sizeof full - 1; n++)
        expect_parse_error(full, n);
}

static void test_scan_utf8_accepted(void **state)
{
    (void)state;
    static const char msg[] =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"text\":\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xEF\xBF\xBF\"}}";
    struct jsonrpc_msg m;
    assert_int_equal(jsonrpc_scan(LIT(msg), &m), LS_OK);
    assert_int_equal(m.kind, JSONRPC_RESPONSE);
}

/* Builds {"jsonrpc":"2.0","id":1,"result":[[...]]} with `arrays` nested arrays in result. */
static size_t nested(char *buf, size_t cap, unsigned arrays)
{
    static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":";
    size_t n = sizeof head - 1;
    assert_true(n + 2 * arrays + 1 < cap);
    memcpy(buf, head, n);
    for (unsigned i = 0; i < arrays; i++)
        buf[n++] = '[';
    for (unsigned i = 0; i < arrays; i++)
        buf[n++] = ']';
    buf[n++] = '}';
    return n;
}

static void test_scan_depth(void **state)
{
    (void)state;
    char buf[512];
    struct jsonrpc_msg m;

    /* The top-level object is depth 1: 63 arrays inside make 64, the limit. */
    size_t n = nested(buf, sizeof buf, 63);
    assert_int_equal(jsonrpc_scan(buf, n, &m), LS_OK);
    assert_int_equal(m.kind, JSONRPC_RESPONSE);
    assert_int_equal(m.result.len, 126);
    n = nested(buf, sizeof buf, 64);
    expect_parse_error(buf, n);

    /* Objects count the same, also inside "error". */
    static const char err63[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,\"data\":";
    n = sizeof err63 - 1;
    memcpy(buf, err63, n);
    for (int i = 0; i < 62; i++)
        buf[n++] = '[';
    for (int i = 0; i < 62; i++)
        buf[n++] = ']';
    buf[n++] = '}';
    buf[n++] = '}';
    assert_int_equal(jsonrpc_scan(buf, n, &m), LS_OK);
    assert_int_equal(m.kind, JSONRPC_ERROR);
    assert_int_equal(m.error_code, 1);
    n = sizeof err63 - 1;
    for (int i = 0; i < 63; i++) {
        memcpy(buf + n, "{\"k\":", 5);
        n += 5;
    }
    buf[n++] = '0';
    for (int i = 0; i < 63; i++)
        buf[n++] = '}';
    buf[n++] = '}';
    buf[n++] = '}';
    expect_parse_error(buf, n);

    /* A bare top-level array: 64 deep is well-formed (not JSON-RPC), 65 is not. */
    memset(buf, '[', 64);
    memset(buf + 64, ']', 64);
    assert_int_equal(jsonrpc_scan(buf, 128, &m), LS_OK);
    assert_int_equal(m.kind, JSONRPC_INVALID);
    memset(buf, '[', 65);
    memset(buf + 65, ']', 65);
    expect_parse_error(buf, 130);

    /* Very deep input fails fast without recursion. */
    static char deep[100000];
    memset(deep, '[', sizeof deep);
    expect_parse_error(deep, sizeof deep);
}

/* ---- json_find_member ---- */

static void test_find_member(void **state)
{
    (void)state;
    struct json_span v = { NULL, 0 };
    struct json_span obj = { LIT(" { \"a\" : 1 , \"isErrorX\" : true , \"b\" : [ {\"isError\":true} ] , \"a\" : \"last\" } ") };

    assert_true(json_find_member(obj, "a", &v));
    assert_span(v, "\"last\"");
    assert_true(json_find_member(obj, "b", &v));
    assert_span(v, "[ {\"isError\":true} ]");
    v.p = NULL;
    assert_false(json_find_member(obj, "isError", &v));
    assert_null(v.p); /* untouched when not found */
    assert_false(json_find_member(obj, "", &v));

    struct json_span empty = { LIT("{}") };
    assert_false(json_find_member(empty, "a", &v));
    struct json_span arr = { LIT("[{\"a\":1}]") };
    assert_false(json_find_member(arr, "a", &v));
    struct json_span bad = { LIT("{\"a\":1,") };
    assert_false(json_find_member(bad, "a", &v));
    struct json_span trailing = { LIT("{\"a\":1} x") };
    assert_false(json_find_member(trailing, "a", &v));
    struct json_span none = { NULL, 0 };
    assert_false(json_find_member(none, "a", &v));
    struct json_span escaped = { LIT("{\"\\u0061\":1,\"e\\\"q\":2}") };
    assert_false(json_find_member(escaped, "a", &v));
    assert_true(json_find_member(escaped, "e\\\"q", &v));
    assert_span(v, "2");

    assert_true(json_span_is_true((struct json_span){ LIT("true") }));
    assert_false(json_span_is_true((struct json_span){ LIT("true ") }));
    assert_false(json_span_is_true((struct json_span){ LIT("\"true\"") }));
    assert_false(json_span_is_true((struct json_span){ NULL, 0 }));
}

/* ---- jsonrpc_format_request ---- */

static void test_format_request(void **state)
{
    (void)state;
    char buf[256];
    static const char params[] = "{\"name\":\"echo\",\"arguments\":{\"message\":\"hi\"}}";
    static const char want1[] =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"message\":\"hi\"}}}";
    long n = jsonrpc_format_request(buf, sizeof buf, 1, "tools/call", LIT(params));
    assert_int_equal(n, sizeof want1 - 1);
    assert_string_equal(buf, want1);

    static const char want2[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
    n = jsonrpc_format_request(buf, sizeof buf, -1, "notifications/initialized", NULL, 0);
    assert_int_equal(n, sizeof want2 - 1);
    assert_string_equal(buf, want2);

    static const char want3[] = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ping\"}";
    n = jsonrpc_format_request(buf, sizeof buf, 0, "ping", NULL, 0);
    assert_int_equal(n, sizeof want3 - 1);
    assert_string_equal(buf, want3);

    static const char want4[] = "{\"jsonrpc\":\"2.0\",\"id\":9223372036854775807,\"method\":\"tools/list\",\"params\":[1,2]}";
    n = jsonrpc_format_request(buf, sizeof buf, INT64_MAX, "tools/list", "[1,2]xyz", 5);
    assert_int_equal(n, sizeof want4 - 1);
    assert_string_equal(buf, want4);

    /* What it writes scans back as the request it is. */
    n = jsonrpc_format_request(buf, sizeof buf, 77, "tools/call", LIT(params));
    struct jsonrpc_msg m;
    assert_int_equal(jsonrpc_scan(buf, (size_t)n, &m), LS_OK);
    assert_int_equal(m.kind, JSONRPC_REQUEST);
    assert_int_equal(m.id_int, 77);
    assert_span(m.method, "tools/call");

    /* Every buffer too small for text and NUL is refused, with no write past cap (ASan). */
    for (size_t cap = 0; cap <= sizeof want1; cap++) {
        char *b = malloc(cap ? cap : 1);
        assert_non_null(b);
        n = jsonrpc_format_request(b, cap, 1, "tools/call", LIT(params));
        if (cap < sizeof want1) {
            assert_int_equal(n, -1);
        } else {
            assert_int_equal(n, sizeof want1 - 1);
            assert_string_equal(b, want1);
        }
        free(b);
    }
    assert_int_equal(jsonrpc_format_request(buf, sizeof buf, 1, NULL, NULL, 0), -1);
}

/* ---- pending table ---- */

static uint64_t cookie_of(int64_t id)
{
    return (uint64_t)id * UINT64_C(0x9E3779B97F4A7C15) + 13;
}

static void test_pending_out_of_order(void **state)
{
    (void)state;
    enum { N = 1000 };
    struct jsonrpc_pending *t = NULL;
    int64_t ids[N];
    uint64_t rng = 0x1234567;

    assert_int_equal(jsonrpc_pending_open(N, &t), LS_OK);
    for (int i = 0; i < N; i++) {
        ids[i] = i + 1;
        assert_int_equal(jsonrpc_pending_put(t, ids[i], cookie_of(ids[i])), LS_OK);
    }
    assert_int_equal(jsonrpc_pending_count(t), N);
    assert_int_equal(jsonrpc_pending_put(t, N + 1, 0), LS_ERR_FULL);

    for (int i = N - 1; i > 0; i--) {
        int k = (int)(rng_next(&rng) % (uint64_t)(i + 1));
        int64_t x = ids[i];
        ids[i] = ids[k];
        ids[k] = x;
    }
    for (int i = 0; i < N; i++) {
        uint64_t c = 0;
        assert_true(jsonrpc_pending_take(t, ids[i], &c));
        assert_int_equal(c, cookie_of(ids[i]));
        assert_int_equal(jsonrpc_pending_count(t), N - 1 - i);
        assert_false(jsonrpc_pending_take(t, ids[i], &c)); /* a second reply is a stray */
    }
    jsonrpc_pending_close(t);
}

static void test_pending_arbitrary_ids(void **state)
{
    (void)state;
    static const int64_t ids[] = {
        0, -1, 1, INT64_MIN, INT64_MAX, INT64_MIN + 1, INT64_MAX - 1, -32602,
        (int64_t)1 << 32, -((int64_t)1 << 32), 1024, 2048, 4096, 8192,
    };
    enum { K = sizeof ids / sizeof ids[0] };
    struct jsonrpc_pending *t = NULL;
    assert_int_equal(jsonrpc_pending_open(K, &t), LS_OK);
    for (int i = 0; i < K; i++)
        assert_int_equal(jsonrpc_pending_put(t, ids[i], cookie_of(ids[i])), LS_OK);
    for (int i = 0; i < K; i++)
        assert_int_equal(jsonrpc_pending_put(t, ids[i], 1), LS_ERR_INVALID);
    for (int i = K - 1; i >= 0; i -= 2) {
        uint64_t c;
        assert_true(jsonrpc_pending_take(t, ids[i], &c));
        assert_int_equal(c, cookie_of(ids[i]));
    }
    for (int i = K - 2; i >= 0; i -= 2) {
        uint64_t c;
        assert_true(jsonrpc_pending_take(t, ids[i], &c));
        assert_int_equal(c, cookie_of(ids[i]));
    }
    assert_int_equal(jsonrpc_pending_count(t), 0);
    jsonrpc_pending_close(t);
}

static void test_pending_stray_duplicate_full(void **state)
{
    (void)state;
    struct jsonrpc_pending *t = NULL;
    uint64_t c = 0;

    assert_int_equal(jsonrpc_pending_open(3, &t), LS_OK);
    assert_false(jsonrpc_pending_take(t, 1, &c));
    assert_int_equal(jsonrpc_pending_put(t, 1, 10), LS_OK);
    assert_int_equal(jsonrpc_pending_put(t, 2, 20), LS_OK);
    assert_int_equal(jsonrpc_pending_put(t, 2, 21), LS_ERR_INVALID);
    assert_int_equal(jsonrpc_pending_put(t, 3, 30), LS_OK);
    assert_int_equal(jsonrpc_pending_put(t, 4, 40), LS_ERR_FULL);
    assert_int_equal(jsonrpc_pending_put(t, 2, 22), LS_ERR_INVALID); /* duplicate even when full */
    assert_int_equal(jsonrpc_pending_count(t), 3);
    assert_false(jsonrpc_pending_take(t, 99, &c));
    assert_false(jsonrpc_pending_take(t, -2, &c));
    assert_true(jsonrpc_pending_take(t, 2, &c));
    assert_int_equal(c, 20); /* the rejected duplicate did not replace the cookie */
    assert_false(jsonrpc_pending_take(t, 2, &c));
    assert_int_equal(jsonrpc_pending_put(t, 4, 40), LS_OK);
    assert_true(jsonrpc_pending_take(t, 4, NULL));
    assert_true(jsonrpc_pending_take(t, 1, &c));
    assert_int_equal(c, 10);
    assert_true(jsonrpc_pending_take(t, 3, &c));
    assert_int_equal(c, 30);
    assert_int_equal(jsonrpc_pending_count(t), 0);
    jsonrpc_pending_close(t);

    struct jsonrpc_pending *bad = (struct jsonrpc_pending *)&bad;
    assert_int_equal(jsonrpc_pending_open(0, &bad), LS_ERR_INVALID);
    assert_null(bad);
    assert_int_equal(jsonrpc_pending_open(UINT32_MAX, &bad), LS_ERR_RANGE);
    assert_null(bad);
    jsonrpc_pending_close(NULL);
}

struct drained {
    size_t n;
    int64_t id[16];
    uint64_t cookie[16];
};

static void on_drain(void *ctx, int64_t id, uint64_t cookie)
{
    struct drained *d = ctx;
    assert_true(d->n < 16);
    d->id[d->n] = id;
    d->cookie[d->n] = cookie;
    d->n++;
}

static void test_pending_drain(void **state)
{
    (void)state;
    static const int64_t ids[] = { 5, -7, 1000000000000, 0, 3 };
    struct jsonrpc_pending *t = NULL;
    struct drained d = { 0 };

    assert_int_equal(jsonrpc_pending_open(8, &t), LS_OK);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(jsonrpc_pending_put(t, ids[i], cookie_of(ids[i])), LS_OK);
    assert_true(jsonrpc_pending_take(t, 0, NULL));
    jsonrpc_pending_drain(t, on_drain, &d);
    assert_int_equal(jsonrpc_pending_count(t), 0);
    assert_int_equal(d.n, 4);
    /* Each remaining id exactly once, with its cookie. */
    for (size_t i = 0; i < 5; i++) {
        size_t seen = 0;
        for (size_t k = 0; k < d.n; k++) {
            if (d.id[k] == ids[i]) {
                seen++;
                assert_int_equal(d.cookie[k], cookie_of(ids[i]));
            }
        }
        assert_int_equal(seen, ids[i] == 0 ? 0 : 1);
    }
    assert_false(jsonrpc_pending_take(t, 5, NULL));
    assert_int_equal(jsonrpc_pending_put(t, 5, 1), LS_OK);
    jsonrpc_pending_drain(t, NULL, NULL);
    assert_int_equal(jsonrpc_pending_count(t), 0);
    d.n = 0;
    jsonrpc_pending_drain(t, on_drain, &d);
    assert_int_equal(d.n, 0);
    jsonrpc_pending_close(t);
}

/* A long random mix of puts and takes agrees with a plain array at every step. */
static void test_pending_random_against_model(void **state)
{
    (void)state;
    enum { CAP = 48 };
    struct jsonrpc_pending *t = NULL;
    int64_t mid[CAP];
    uint64_t mcookie[CAP];
    uint32_t mn = 0;
    uint64_t rng = 0xC0FFEE;

    assert_int_equal(jsonrpc_pending_open(CAP, &t), LS_OK);
    for (int step = 0; step < 300000; step++) {
        uint64_t r = rng_next(&rng);
        /* Mostly a small id range so duplicates and collisions are common. */
        int64_t id = (r >> 8) % 8 == 0 ? (int64_t)rng_next(&rng) : (int64_t)((r >> 16) % 96) - 48;
        int at = -1;
        for (uint32_t k = 0; k < mn; k++) {
            if (mid[k] == id)
                at = (int)k;
        }
        if (r % 2 == 0) {
            uint64_t c = rng_next(&rng);
            ls_err want = at >= 0 ? LS_ERR_INVALID : mn == CAP ? LS_ERR_FULL : LS_OK;
            assert_int_equal(jsonrpc_pending_put(t, id, c), want);
            if (want == LS_OK) {
                mid[mn] = id;
                mcookie[mn] = c;
                mn++;
            }
        } else {
            uint64_t c = 0;
            assert_int_equal(jsonrpc_pending_take(t, id, &c), at >= 0);
            if (at >= 0) {
                assert_int_equal(c, mcookie[at]);
                mn--;
                mid[at] = mid[mn];
                mcookie[at] = mcookie[mn];
            }
        }
        assert_int_equal(jsonrpc_pending_count(t), mn);
    }
    for (uint32_t k = 0; k < mn; k++) {
        uint64_t c = 0;
        assert_true(jsonrpc_pending_take(t, mid[k], &c));
        assert_int_equal(c, mcookie[k]);
    }
    assert_int_equal(jsonrpc_pending_count(t), 0);
    jsonrpc_pending_close(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_response),
        cmocka_unit_test(test_scan_notification),
        cmocka_unit_test(test_scan_server_request),
        cmocka_unit_test(test_scan_error),
        cmocka_unit_test(test_scan_tool_error_result),
        cmocka_unit_test(test_scan_nested_id_not_confused),
        cmocka_unit_test(test_scan_strings_with_braces),
        cmocka_unit_test(test_scan_whitespace_and_ids),
        cmocka_unit_test(test_scan_well_formed_but_invalid),
        cmocka_unit_test(test_scan_malformed),
        cmocka_unit_test(test_scan_utf8_accepted),
        cmocka_unit_test(test_scan_depth),
        cmocka_unit_test(test_find_member),
        cmocka_unit_test(test_format_request),
        cmocka_unit_test(test_pending_out_of_order),
        cmocka_unit_test(test_pending_arbitrary_ids),
        cmocka_unit_test(test_pending_stray_duplicate_full),
        cmocka_unit_test(test_pending_drain),
        cmocka_unit_test(test_pending_random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
