/*
 * fuzz_jsonrpc: libFuzzer target for the JSON-RPC scanner.
 *
 * Beyond not crashing, checks that every span lies inside the input, that a
 * reported "result" value is itself valid JSON (it rescans inside a fresh
 * response), that a request's method and id survive jsonrpc_format_request
 * and a rescan, and that json_find_member agrees with itself on the result.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/jsonrpc.h"

static void check_span(struct json_span s, const uint8_t *data, size_t size)
{
    if (!s.p) {
        if (s.len != 0)
            abort();
        return;
    }
    if (s.p < (const char *)data || s.len > size || s.p + s.len > (const char *)data + size)
        abort();
}

static void check_result_rescans(const struct jsonrpc_msg *m)
{
    static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":";
    size_t n = sizeof head - 1 + m->result.len + 1;
    char *b = malloc(n);
    if (!b)
        abort();
    memcpy(b, head, sizeof head - 1);
    memcpy(b + sizeof head - 1, m->result.p, m->result.len);
    b[n - 1] = '}';
    struct jsonrpc_msg r;
    if (jsonrpc_scan(b, n, &r) != LS_OK || r.kind != JSONRPC_RESPONSE || r.result.len != m->result.len ||
        memcmp(r.result.p, m->result.p, m->result.len) != 0)
        abort();
    free(b);
}

static void check_request_roundtrip(const struct jsonrpc_msg *m)
{
    char *method = malloc(m->method.len + 1);
    size_t cap = m->method.len + 128;
    char *out = malloc(cap);
    if (!method || !out)
        abort();
    memcpy(method, m->method.p, m->method.len);
    method[m->method.len] = '\0';
    int64_t id = m->id_is_int && m->id_int >= 0 ? m->id_int : -1;
    long n = jsonrpc_format_request(out, cap, id, method, "{}", 2);
    if (n < 0)
        abort();
    struct jsonrpc_msg r;
    if (jsonrpc_scan(out, (size_t)n, &r) != LS_OK)
        abort();
    if (r.kind != (id >= 0 ? JSONRPC_REQUEST : JSONRPC_NOTIFICATION))
        abort();
    if (r.method.len != m->method.len || memcmp(r.method.p, m->method.p, m->method.len) != 0)
        abort();
    if (id >= 0 && (!r.id_is_int || r.id_int != id))
        abort();
    /* One byte short of text plus NUL is refused. */
    if (jsonrpc_format_request(out, (size_t)n, id, method, "{}", 2) != -1)
        abort();
    free(method);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jsonrpc_msg m;
    ls_err err = jsonrpc_scan((const char *)data, size, &m);
    if (err != LS_OK) {
        if (err != LS_ERR_PARSE || m.kind != JSONRPC_INVALID || m.id.p || m.result.p)
            abort();
        return 0;
    }
    check_span(m.id, data, size);
    check_span(m.method, data, size);
    check_span(m.result, data, size);
    check_span(m.error, data, size);
    check_span(m.error_message, data, size);
    if (m.kind == JSONRPC_RESPONSE && !m.result.p)
        abort();
    if (m.kind == JSONRPC_ERROR && (!m.error.p || m.error.p[0] != '{'))
        abort();
    if ((m.kind == JSONRPC_REQUEST || m.kind == JSONRPC_NOTIFICATION) && !m.method.p)
        abort();
    if (m.id_is_int && !m.id.p)
        abort();
    if (m.result.p) {
        check_result_rescans(&m);
        struct json_span v;
        if (json_find_member(m.result, "isError", &v)) {
            check_span(v, data, size);
            if (json_span_is_true(v) != (v.len == 4 && memcmp(v.p, "true", 4) == 0))
                abort();
        }
    }
    if (m.error.p) {
        struct json_span v;
        if (json_find_member(m.error, "code", &v))
            check_span(v, data, size);
    }
    if (m.method.p)
        check_request_roundtrip(&m);
    return 0;
}
