/*
 * test_sse: the event-stream parser against a realistic MCP stream fed whole,
 * split at every byte and byte by byte, in LF, CR, CRLF and mixed line ends,
 * plus the specification's corner cases (BOM, retry, ids holding NUL,
 * unterminated events, a callback that stops).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/sse.h"

#define REC_MAX 64

#define FEED_LIT(p, lit) sse_feed((p), (lit), sizeof(lit) - 1)

struct rec_event {
    char *data;
    size_t data_len;
    char *event;
    char *id;
    int64_t retry_ms;
    bool has_data;
    const char *data_ptr; /* where the parser kept the data, to see it is reused */
};

struct recorder {
    size_t n;
    struct rec_event ev[REC_MAX];
    size_t stop_at;       /* return non-zero from the callback for event number stop_at (1-based), 0 never */
};

static char *dup_bytes(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    assert_non_null(d);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static int record(void *ctx, const struct sse_event *ev)
{
    struct recorder *r = ctx;
    assert_true(r->n < REC_MAX);
    /* The parser promises NUL-terminated strings. */
    assert_int_equal(ev->data[ev->data_len], '\0');
    struct rec_event *e = &r->ev[r->n++];
    e->data = dup_bytes(ev->data, ev->data_len);
    e->data_len = ev->data_len;
    e->event = dup_bytes(ev->event, strlen(ev->event));
    e->id = dup_bytes(ev->id, strlen(ev->id));
    e->retry_ms = ev->retry_ms;
    e->has_data = ev->has_data;
    e->data_ptr = ev->data;
    return r->stop_at != 0 && r->n == r->stop_at;
}

static void rec_free(struct recorder *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->ev[i].data);
        free(r->ev[i].event);
        free(r->ev[i].id);
    }
    r->n = 0;
}

struct want {
    const char *data;
    const char *event;
    const char *id;
    int64_t retry_ms;
    bool has_data;
};

static void check_events(const struct recorder *r, const struct want *w, size_t n)
{
    assert_int_equal(r->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(r->ev[i].data_len, strlen(w[i].data));
        assert_memory_equal(r->ev[i].data, w[i].data, r->ev[i].data_len);
        assert_string_equal(r->ev[i].event, w[i].event);
        assert_string_equal(r->ev[i].id, w[i].id);
        assert_int_equal(r->ev[i].retry_ms, w[i].retry_ms);
        assert_int_equal(r->ev[i].has_data, w[i].has_data);
    }
}

/* Feeds s[0..len) in pieces cut at the offsets in cuts[0..ncuts), then finishes. */
static size_t feed_cut(struct sse_parser *p, const char *s, size_t len, const size_t *cuts, size_t ncuts)
{
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        assert_int_equal(sse_feed(p, s + at, end - at), LS_OK);
        at = end;
    }
    return sse_finish(p);
}

/*
 * Runs one stream whole, split in two at every byte boundary, and one byte at
 * a time, checking each run yields exactly `w` and discards `discarded` bytes.
 */
static void check_all_splits(const char *s, size_t len, const struct want *w, size_t n, size_t discarded)
{
    struct recorder r = { 0 };
    struct sse_parser *p = NULL;
    assert_int_equal(sse_open(record, &r, &p), LS_OK);

    assert_int_equal(feed_cut(p, s, len, NULL, 0), discarded);
    check_events(&r, w, n);
    assert_int_equal(sse_event_count(p), n);
    rec_free(&r);

    for (size_t cut = 0; cut <= len; cut++) {
        sse_reset(p);
        assert_int_equal(feed_cut(p, s, len, &cut, 1), discarded);
        check_events(&r, w, n);
        rec_free(&r);
    }

    sse_reset(p);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(sse_feed(p, s + i, 1), LS_OK);
    assert_int_equal(sse_finish(p), discarded);
    check_events(&r, w, n);
    assert_int_equal(sse_event_count(p), n);
    rec_free(&r);

    sse_close(p);
}

/* What the MCP TypeScript SDK's Streamable HTTP server sends, plus the edges. */
static const char mcp_stream[] =
    "id: 0_0\nretry: 3000\ndata: \n\n"                      /* priming event with retry */
    ": ping\n\n"                                            /* keep-alive comment only */
    "event: message\nid: 0_1\n"
    "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\","
    "\"params\":{\"level\":\"info\",\"data\":\"x\"}}\n\n"
    ": ping\n"
    "event: message\nid: 0_2\n"
    "data: {\"result\":{\"content\":\n"
    "data: [{\"type\":\"text\",\"text\":\"Echo: hi\"}]},\n"
    "data: \"jsonrpc\":\"2.0\",\"id\":3}\n\n"
    "id: 0_3\n\n"                                           /* priming event without data */
    "retry: 5000\nevent: message\n"
    "data: {\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}}\n\n"
    "event: message\ndata\ndata:  two\n:comment\ndata:a:b\n\n"; /* no colon, two spaces, colon in value */

static const struct want mcp_want[] = {
    { "", "", "0_0", 3000, true },
    { "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"x\"}}",
      "message", "0_1", 3000, true },
    { "{\"result\":{\"content\":\n[{\"type\":\"text\",\"text\":\"Echo: hi\"}]},\n\"jsonrpc\":\"2.0\",\"id\":3}",
      "message", "0_2", 3000, true },
    { "", "", "0_3", 3000, false },
    { "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}}", "message", "0_3", 5000, true },
    { "\n two\na:b", "message", "0_3", 5000, true },
};

#define NWANT(w) (sizeof(w) / sizeof((w)[0]))

/* Rewrites every "\n" of s as the line end eols[k % neols] for the k-th line. */
static char *with_eols(const char *s, const char *const *eols, size_t neols, size_t *out_len)
{
    size_t n = strlen(s);
    char *o = malloc(2 * n + 1);
    assert_non_null(o);
    size_t len = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n') {
            const char *e = eols[k++ % neols];
            memcpy(o + len, e, strlen(e));
            len += strlen(e);
        } else {
            o[len++] = s[i];
        }
    }
    o[len] = '\0';
    *out_len = len;
    return o;
}

static void test_mcp_stream_lf(void **state)
{
    (void)state;
    check_all_splits(mcp_stream, sizeof mcp_stream - 1, mcp_want, NWANT(mcp_want), 0);
}

static void test_mcp_stream_crlf(void **state)
{
    (void)state;
    static const char *const eols[] = { "\r\n" };
    size_t len;
    char *s = with_eols(mcp_stream, eols, 1, &len);
    size_t lines = 0;
    for (size_t i = 0; i < sizeof mcp_stream - 1; i++)
        lines += mcp_stream[i] == '\n';
    assert_int_equal(len, sizeof mcp_stream - 1 + lines);
    check_all_splits(s, len, mcp_want, NWANT(mcp_want), 0);
    free(s);
}

static void test_mcp_stream_cr(void **state)
{
    (void)state;
    static const char *const eols[] = { "\r" };
    size_t len;
    char *s = with_eols(mcp_stream, eols, 1, &len);
    check_all_splits(s, len, mcp_want, NWANT(mcp_want), 0);
    free(s);
}

static void test_mcp_stream_mixed_eols(void **state)
{
    (void)state;
    /* A CR line end is never followed by an LF line end here: that would be one CRLF. */
    static const char *const eols[] = { "\r\n", "\r", "\r\n", "\n", "\r", "\r\n", "\n", "\n" };
    size_t len;
    char *s = with_eols(mcp_stream, eols, NWANT(eols), &len);
    check_all_splits(s, len, mcp_want, NWANT(mcp_want), 0);
    free(s);
}

static void test_cr_then_lf_is_one_line_end(void **state)
{
    (void)state;
    /* "\r" then "\n" in the next feed is one line end, not a blank line. */
    struct recorder r = { 0 };
    struct sse_parser *p = NULL;
    assert_int_equal(sse_open(record, &r, &p), LS_OK);
    assert_int_equal(FEED_LIT(p, "data: a\r"), LS_OK);
    assert_int_equal(FEED_LIT(p, "\ndata: b\r"), LS_OK);
    assert_int_equal(r.n, 0);
    assert_int_equal(FEED_LIT(p, "\n\r"), LS_OK);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ev[0].data, "a\nb");
    /* An LF after the blank line's CR belongs to it: it is not a second blank line. */
    assert_int_equal(FEED_LIT(p, "\ndata: c\n\n"), LS_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.ev[1].data, "c");
    /* Two CRs are two line ends: the second is a blank line. */
    assert_int_equal(FEED_LIT(p, "data: d\r\r"), LS_OK);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.ev[2].data, "d");
    assert_int_equal(sse_finish(p), 0);
    rec_free(&r);
    sse_close(p);
}

static void test_bom(void **state)
{
    (void)state;
    static const char s1[] = "\xEF\xBB\xBF" "data: a\n\n";
    static const struct want w1[] = { { "a", "", "", -1, true } };
    check_all_splits(s1, sizeof s1 - 1, w1, 1, 0);

    /* Only one BOM, only at the start: later ones make the field name unknown. */
    static const char s2[] = "\xEF\xBB\xBF\xEF\xBB\xBF" "data: a\n\n" "data: b\n\n";
    static const struct want w2[] = { { "b", "", "", -1, true } };
    check_all_splits(s2, sizeof s2 - 1, w2, 1, 0);

    static const char s3[] = "data: a\n\n\xEF\xBB\xBF" "data: b\n\ndata: c\n\n";
    static const struct want w3[] = { { "a", "", "", -1, true }, { "c", "", "", -1, true } };
    check_all_splits(s3, sizeof s3 - 1, w3, 2, 0);

    /* A partial BOM is not skipped: its bytes start the field name. */
    static const char s4[] = "\xEF\xBB" "data: a\n\ndata: b\n\n";
    static const struct want w4[] = { { "b", "", "", -1, true } };
    check_all_splits(s4, sizeof s4 - 1, w4, 1, 0);

    /* A stream of only part of a BOM: those bytes are discarded. */
    static const struct want none[] = { { "", "", "", -1, false } };
    check_all_splits("\xEF\xBB", 2, none, 0, 2);
}

static void test_retry(void **state)
{
    (void)state;
    static const char s[] =
        "retry: 12a\ndata: 1\n\n"                    /* non-digit: ignored */
        "retry: 1500\ndata: 2\n\n"                   /* accepted */
        "retry:  200\ndata: 3\n\n"                   /* second space is a non-digit */
        "retry: -5\nretry:\nretry\nretry: 1 \ndata: 4\n\n" /* sign, empty, no colon, trailing space */
        "retry: 9223372036854775808\ndata: 5\n\n"    /* overflows int64: ignored */
        "retry:9223372036854775807\ndata: 6\n\n"     /* largest accepted */
        "retry: 0\n\n"                               /* retry alone is no event ... */
        "data: 7\n\n";                               /* ... but is stream state */
    static const struct want w[] = {
        { "1", "", "", -1, true },
        { "2", "", "", 1500, true },
        { "3", "", "", 1500, true },
        { "4", "", "", 1500, true },
        { "5", "", "", 1500, true },
        { "6", "", "", INT64_MAX, true },
        { "7", "", "", 0, true },
    };
    check_all_splits(s, sizeof s - 1, w, NWANT(w), 0);
}

static void test_id(void **state)
{
    (void)state;
    static const char s[] =
        "id: 1\ndata: a\n\n"
        "id: 2\0x\ndata: b\n\n"    /* NUL: the field is ignored, the id stays "1" */
        "id: \0\n\n"               /* an ignored id alone is no event */
        "data: c\n\n"              /* the id persists across events */
        "data: d\nid: 7\n\n"       /* applies to the event it appears in, wherever */
        "id\n\n"                   /* no colon: resets the id to "", reported */
        "id: 8\n: c\nid: 9\n\n";   /* the last one wins */
    static const struct want w[] = {
        { "a", "", "1", -1, true },
        { "b", "", "1", -1, true },
        { "c", "", "1", -1, true },
        { "d", "", "7", -1, true },
        { "", "", "", -1, false },
        { "", "", "9", -1, false },
    };
    check_all_splits(s, sizeof s - 1, w, NWANT(w), 0);
}

static void test_event_type_and_unknown_fields(void **state)
{
    (void)state;
    static const char s[] =
        "event: a\ndata: 1\n\n"
        "data: 2\n\n"               /* the type does not persist */
        "event: x\nevent: y\n\n"    /* event alone is reported; the last wins */
        "event\ndata: 3\n\n"        /* no colon: empty type */
        "dataX: 1\nDATA: 2\nfoo\nverylongfieldname: z\ndata: 4\n\n"
        ": only a comment\n\n"
        "\n\n\n"
        "retry\n\n";
    static const struct want w[] = {
        { "1", "a", "", -1, true },
        { "2", "", "", -1, true },
        { "", "y", "", -1, false },
        { "3", "", "", -1, true },
        { "4", "", "", -1, true },
    };
    check_all_splits(s, sizeof s - 1, w, NWANT(w), 0);
}

static void test_finish_discards_unterminated(void **state)
{
    (void)state;
    static const char s1[] = "data: x\n\ndata: partial\nid: 9";
    static const struct want w1[] = { { "x", "", "", -1, true } };
    check_all_splits(s1, sizeof s1 - 1, w1, 1, strlen("data: partial\nid: 9"));

    /* The trailing LF of a CRLF blank line is not counted; later CRLFs are. */
    static const char s2[] = "data: y\r\n\r\ndata: z\r\n";
    static const struct want w2[] = { { "y", "", "", -1, true } };
    check_all_splits(s2, sizeof s2 - 1, w2, 1, strlen("data: z\r\n"));

    static const char s3[] = "data: only\n";
    check_all_splits(s3, sizeof s3 - 1, w1, 0, sizeof s3 - 1);

    /* The id of a discarded event was still seen: it stays after finish. */
    struct recorder r = { 0 };
    struct sse_parser *p = NULL;
    assert_int_equal(sse_open(record, &r, &p), LS_OK);
    assert_int_equal(FEED_LIT(p, "id: 5\ndata: lost"), LS_OK);
    assert_int_equal(sse_finish(p), 16);
    assert_int_equal(sse_finish(p), 0);
    assert_int_equal(FEED_LIT(p, "data: kept\n\n"), LS_OK);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ev[0].data, "kept");
    assert_string_equal(r.ev[0].id, "5");
    rec_free(&r);
    sse_close(p);
}

static void test_callback_stop(void **state)
{
    (void)state;
    struct recorder r = { .stop_at = 2 };
    struct sse_parser *p = NULL;
    static const char s[] = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
    assert_int_equal(sse_open(record, &r, &p), LS_OK);
    assert_int_equal(sse_feed(p, s, sizeof s - 1), LS_ERR_INVALID);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.ev[1].data, "2");
    assert_int_equal(sse_event_count(p), 2);
    rec_free(&r);

    /* After a reset the parser works again. */
    r.stop_at = 0;
    sse_reset(p);
    assert_int_equal(sse_event_count(p), 0);
    assert_int_equal(sse_feed(p, s, sizeof s - 1), LS_OK);
    assert_int_equal(r.n, 3);
    assert_int_equal(sse_event_count(p), 3);
    rec_free(&r);
    sse_close(p);
}

static void test_reset_forgets_stream_state(void **state)
{
    (void)state;
    struct recorder r = { 0 };
    struct sse_parser *p = NULL;
    assert_int_equal(sse_open(record, &r, &p), LS_OK);
    assert_int_equal(FEED_LIT(p, "id: 3\nretry: 10\ndata: a\n\nevent: e\ndata: half"), LS_OK);
    assert_int_equal(r.n, 1);
    sse_reset(p);
    assert_int_equal(FEED_LIT(p, "\xEF\xBB\xBF" "data: b\n\n"), LS_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.ev[1].data, "b");
    assert_string_equal(r.ev[1].event, "");
    assert_string_equal(r.ev[1].id, "");
    assert_int_equal(r.ev[1].retry_ms, -1);
    assert_int_equal(sse_event_count(p), 1);
    rec_free(&r);
    sse_close(p);
}

static void test_buffers_reused(void **state)
{
    (void)state;
    /* A large event grows the data buffer; smaller ones after it reuse it. */
    size_t big_len = 100000;
    char *big = malloc(big_len + 16);
    assert_non_null(big);
    memcpy(big, "data: ", 6);
    for (size_t i = 0; i < big_len; i++)
        big[6 + i] = (char)('a' + i % 26);
    memcpy(big + 6 + big_len, "\n\n", 2);
    size_t total = 6 + big_len + 2;

    struct recorder r = { 0 };
    struct sse_parser *p = NULL;
    assert_int_equal(sse_open(record, &r, &p), LS_OK);
    for (size_t at = 0; at < total; at += 777) {
        size_t n = total - at < 777 ? total - at : 777;
        assert_int_equal(sse_feed(p, big + at, n), LS_OK);
    }
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].data_len, big_len);
    assert_memory_equal(r.ev[0].data, big + 6, big_len);
    for (int i = 0; i < 20; i++)
        assert_int_equal(FEED_LIT(p, "event: message\ndata: {\"id\":1}\n\n"), LS_OK);
    assert_int_equal(r.n, 21);
    for (size_t i = 1; i < r.n; i++) {
        assert_string_equal(r.ev[i].data, "{\"id\":1}");
        assert_ptr_equal(r.ev[i].data_ptr, r.ev[0].data_ptr);
    }
    rec_free(&r);
    sse_close(p);
    free(big);
}

static void test_open_rejects_null_callback(void **state)
{
    (void)state;
    struct sse_parser *p = (struct sse_parser *)&p;
    assert_int_equal(sse_open(NULL, NULL, &p), LS_ERR_INVALID);
    assert_null(p);
    sse_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mcp_stream_lf),
        cmocka_unit_test(test_mcp_stream_crlf),
        cmocka_unit_test(test_mcp_stream_cr),
        cmocka_unit_test(test_mcp_stream_mixed_eols),
        cmocka_unit_test(test_cr_then_lf_is_one_line_end),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_retry),
        cmocka_unit_test(test_id),
        cmocka_unit_test(test_event_type_and_unknown_fields),
        cmocka_unit_test(test_finish_discards_unterminated),
        cmocka_unit_test(test_callback_stop),
        cmocka_unit_test(test_reset_forgets_stream_state),
        cmocka_unit_test(test_buffers_reused),
        cmocka_unit_test(test_open_rejects_null_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
