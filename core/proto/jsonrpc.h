/*
 * jsonrpc: JSON-RPC 2.0 framing for MCP without allocating on the hot path.
 *
 * jsonrpc_scan() reads one message's top level in a single pass without
 * building a tree, finding what the engine needs to match and classify a
 * reply: its kind, id, method, error code and message, and the span of the
 * result. json_find_member() looks one key up in an object span (used for
 * result.isError and result.protocolVersion). The pending table maps request
 * ids to the caller's cookies so replies may arrive in any order.
 */
#ifndef LS_JSONRPC_H
#define LS_JSONRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/lserr.h"

enum jsonrpc_kind {
    JSONRPC_INVALID = 0,   /* not a JSON object or not JSON-RPC 2.0 */
    JSONRPC_RESPONSE,      /* has id and result */
    JSONRPC_ERROR,         /* has id (maybe null) and error */
    JSONRPC_REQUEST,       /* has id and method: a server-to-client request */
    JSONRPC_NOTIFICATION,  /* method without id */
};

struct json_span {
    const char *p;         /* points into the scanned buffer; NULL when absent */
    size_t len;
};

struct jsonrpc_msg {
    enum jsonrpc_kind kind;
    bool id_is_int;        /* the id was an integer (what loadscope sends) */
    int64_t id_int;
    struct json_span id;         /* raw id token, quotes included for strings */
    struct json_span method;     /* string contents without quotes, escapes left as is */
    struct json_span result;     /* raw JSON value of "result" */
    struct json_span error;      /* raw JSON value of "error" */
    int64_t error_code;          /* error.code, 0 when absent */
    struct json_span error_message; /* error.message contents without quotes */
};

/*
 * Scans buf[0..len) as one JSON-RPC message. Validates JSON syntax of the
 * whole message (nesting depth up to 64) while finding the top-level members.
 * LS_ERR_PARSE for malformed JSON; a well-formed object that is not
 * JSON-RPC 2.0 gives LS_OK with kind JSONRPC_INVALID.
 * Spans in *out point into buf.
 *
 * Classification: "jsonrpc" must be the string "2.0" and an id, when present,
 * a string, number or null. A string "method" makes a REQUEST (with a non-null
 * id) or a NOTIFICATION (no id); method together with result or error, or
 * with a null id (MCP forbids it), is INVALID. Otherwise an object "error"
 * with an id member (null allowed) and no result is an ERROR, and "result"
 * with a non-null id is a RESPONSE; anything else is INVALID. id_is_int is
 * set only for an integer token without fraction or exponent that fits
 * int64. A repeated key: the last one wins. Keys are matched raw (escapes
 * not decoded). On LS_ERR_PARSE *out is all zero (kind JSONRPC_INVALID).
 */
LS_MUST_CHECK ls_err jsonrpc_scan(const char *buf, size_t len, struct jsonrpc_msg *out);

/*
 * Finds member `key` (plain ASCII, compared to the raw unescaped key) at the
 * top level of the JSON object in `obj`; sets *val to its raw value span.
 * Returns false when obj is not an object or the key is absent, and also
 * when obj is not well-formed JSON (anything but white space after the
 * object included). When the key repeats, the last one wins.
 */
bool json_find_member(struct json_span obj, const char *key, struct json_span *val);

/* True when span is the literal `true`. */
bool json_span_is_true(struct json_span v);

/*
 * Writes {"jsonrpc":"2.0","id":ID,"method":"METHOD","params":PARAMS} (params
 * omitted when params_json is NULL; id omitted when id < 0, which makes a
 * notification) into buf. Returns the length written, or -1 if cap is too
 * small. method must not need escaping (MCP method names never do).
 * The text is NUL-terminated, so cap must exceed the length by one;
 * params_json is copied as is (params_len bytes, not validated).
 */
long jsonrpc_format_request(char *buf, size_t cap, int64_t id, const char *method,
                            const char *params_json, size_t params_len);

/*
 * Pending requests: id -> cookie, fixed capacity, no allocation after open.
 * Ids are integers the caller allocates (typically increasing); any order of
 * completion is fine.
 */
struct jsonrpc_pending;
LS_MUST_CHECK ls_err jsonrpc_pending_open(uint32_t capacity, struct jsonrpc_pending **out);
void jsonrpc_pending_close(struct jsonrpc_pending *t);
/* LS_ERR_FULL when capacity requests are pending; LS_ERR_INVALID for a duplicate id. */
LS_MUST_CHECK ls_err jsonrpc_pending_put(struct jsonrpc_pending *t, int64_t id, uint64_t cookie);
/* Removes id; returns false if it was not pending (a stray or duplicate reply). */
bool jsonrpc_pending_take(struct jsonrpc_pending *t, int64_t id, uint64_t *cookie);
uint32_t jsonrpc_pending_count(const struct jsonrpc_pending *t);
/*
 * Removes every entry, calling fn for each (e.g. to fail them when the target
 * dies), in no particular order; fn may be NULL and must not use the table.
 */
void jsonrpc_pending_drain(struct jsonrpc_pending *t, void (*fn)(void *ctx, int64_t id, uint64_t cookie),
                           void *ctx);

#endif
