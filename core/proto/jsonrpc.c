/*
 * jsonrpc: a validating single-pass JSON scanner that extracts what the
 * engine needs from a JSON-RPC 2.0 message, a request formatter, and the
 * table of pending request ids.
 *
 * The scanner never builds a tree and never allocates. Nesting is tracked
 * with an explicit depth counter and a 64-bit stack (one bit per open
 * container: object or array), so there is no recursion at all and the depth
 * limit of 64 is exact. The top-level object and the "error" object are walked
 * member by member; every other value is validated and skipped as a whole
 * while its span is recorded.
 *
 * Keys are compared raw (escapes not decoded): JSON-RPC's keys are plain
 * ASCII, and a peer that spells "id" as "\u0069d" gets no match. When a key
 * appears twice the last one wins, as in JavaScript's JSON.parse.
 *
 * Why hand-written, where the rest of loadscope reads JSON with cJSON: this
 * runs on every reply of the hot path (tens of thousands a second per
 * worker), and needs only the kind, the id, the error and the span of the
 * result. cJSON would allocate a node (and copy a string) for every value of
 * every reply, tool results included, to throw them away at once; here the
 * reply is validated in one pass over the receive buffer and what the engine
 * needs is returned as spans into it. Anything read off the hot path (the
 * scenario, AWS error replies and batches, setup replies) uses cJSON.
 */
#include "proto/jsonrpc.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64u

/* The cursor of a scan over s[0..len). */
struct jscan {
    const char *s;
    size_t len;
    size_t pos;
};

/* What scan_value learned about a scalar at its top level. */
struct jval {
    struct json_span raw;  /* the whole value */
    char type;             /* first byte: '{', '[', '"', 't', 'f', 'n', or '0' for a number */
    bool is_int;           /* a number without fraction or exponent that fits int64 */
    int64_t ival;
    struct json_span str;  /* string contents without quotes */
};

static void skip_ws(struct jscan *j)
{
    while (j->pos < j->len) {
        char c = j->s[j->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        j->pos++;
    }
}

static bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/*
 * Checks the UTF-8 sequence starting with lead byte s[i] (>= 0x80) and returns
 * its length, or 0 when it is malformed, overlong, a surrogate or above
 * U+10FFFF (RFC 3629's table).
 */
static size_t utf8_seq(const unsigned char *s, size_t i, size_t len)
{
    unsigned char c = s[i];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */

    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (len - i < n)
        return 0;
    if (s[i + 1] < lo || s[i + 1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++) {
        if (!is_cont(s[i + k]))
            return 0;
    }
    return n;
}

/* At '"': validates a string; *contents gets the bytes between the quotes. */
static ls_err scan_string(struct jscan *j, struct json_span *contents)
{
    const unsigned char *s = (const unsigned char *)j->s;
    size_t i = j->pos + 1;

    while (i < j->len) {
        unsigned char c = s[i];
        if (c == '"') {
            if (contents) {
                contents->p = j->s + j->pos + 1;
                contents->len = i - j->pos - 1;
            }
            j->pos = i + 1;
            return LS_OK;
        }
        if (c == '\\') {
            if (i + 1 >= j->len)
                return LS_ERR_PARSE;
            switch (s[i + 1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                i += 2;
                break;
            case 'u':
                if (j->len - i < 6)
                    return LS_ERR_PARSE;
                for (size_t k = 2; k < 6; k++) {
                    if (!is_hex(s[i + k]))
                        return LS_ERR_PARSE;
                }
                i += 6;
                break;
            default:
                return LS_ERR_PARSE;
            }
        } else if (c < 0x20) {
            return LS_ERR_PARSE; /* control characters must be escaped */
        } else if (c < 0x80) {
            i++;
        } else {
            size_t n = utf8_seq(s, i, j->len);
            if (n == 0)
                return LS_ERR_PARSE;
            i += n;
        }
    }
    return LS_ERR_PARSE; /* unterminated */
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* At '-' or a digit: validates a number per RFC 8259 and reads it when an int64. */
static ls_err scan_number(struct jscan *j, bool *is_int, int64_t *ival)
{
    const char *s = j->s;
    size_t i = j->pos;
    bool neg = false, frac = false, overflow = false;
    uint64_t mag = 0;

    if (s[i] == '-') {
        neg = true;
        i++;
    }
    if (i >= j->len || !is_digit(s[i]))
        return LS_ERR_PARSE;
    if (s[i] == '0') {
        i++; /* a leading zero stands alone; "01" fails on the byte after */
    } else {
        uint64_t max = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        while (i < j->len && is_digit(s[i])) {
            unsigned d = (unsigned)(s[i] - '0');
            if (mag > (max - d) / 10)
                overflow = true;
            else
                mag = mag * 10 + d;
            i++;
        }
    }
    if (i < j->len && s[i] == '.') {
        frac = true;
        i++;
        if (i >= j->len || !is_digit(s[i]))
            return LS_ERR_PARSE;
        while (i < j->len && is_digit(s[i]))
            i++;
    }
    if (i < j->len && (s[i] == 'e' || s[i] == 'E')) {
        frac = true;
        i++;
        if (i < j->len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= j->len || !is_digit(s[i]))
            return LS_ERR_PARSE;
        while (i < j->len && is_digit(s[i]))
            i++;
    }
    j->pos = i;
    *is_int = !frac && !overflow;
    if (*is_int) {
        /* -(2^63) has no positive counterpart: negate in unsigned arithmetic. */
        *ival = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    }
    return LS_OK;
}

static ls_err scan_literal(struct jscan *j, const char *lit, size_t n)
{
    if (j->len - j->pos < n || memcmp(j->s + j->pos, lit, n) != 0)
        return LS_ERR_PARSE;
    j->pos += n;
    return LS_OK;
}

/* A string, number or literal at j->pos; fills *v when non-NULL. */
static ls_err scan_scalar(struct jscan *j, struct jval *v)
{
    struct json_span str = { NULL, 0 };
    bool is_int = false;
    int64_t ival = 0;
    ls_err err;
    char c = j->s[j->pos];
    char type = c;

    switch (c) {
    case '"':
        err = scan_string(j, &str);
        break;
    case 't':
        err = scan_literal(j, "true", 4);
        break;
    case 'f':
        err = scan_literal(j, "false", 5);
        break;
    case 'n':
        err = scan_literal(j, "null", 4);
        break;
    default:
        if (c != '-' && !is_digit(c))
            return LS_ERR_PARSE;
        type = '0';
        err = scan_number(j, &is_int, &ival);
        break;
    }
    if (err == LS_OK && v) {
        v->type = type;
        v->str = str;
        v->is_int = is_int;
        v->ival = ival;
    }
    return err;
}

/* At a member: reads `"key" :` and leaves j->pos at the value. */
static ls_err scan_key_colon(struct jscan *j, struct json_span *key)
{
    ls_err err;

    skip_ws(j);
    if (j->pos >= j->len || j->s[j->pos] != '"')
        return LS_ERR_PARSE;
    err = scan_string(j, key);
    if (err != LS_OK)
        return err;
    skip_ws(j);
    if (j->pos >= j->len || j->s[j->pos] != ':')
        return LS_ERR_PARSE;
    j->pos++;
    skip_ws(j);
    return LS_OK;
}

/*
 * Validates one value of any kind starting at j->pos (after white space),
 * nested inside `depth` containers already; records its span in *v (and its
 * scalar details when it is a scalar). Iterative: `stack` holds one bit per
 * container opened inside the value, 1 for an object, top at bit 0.
 */
static ls_err scan_value(struct jscan *j, unsigned depth, struct jval *v)
{
    uint64_t stack = 0;
    unsigned level = 0;
    size_t start;
    ls_err err;

    skip_ws(j);
    start = j->pos;
    memset(v, 0, sizeof *v);
    for (;;) {
        /* A value is expected here. */
        skip_ws(j);
        if (j->pos >= j->len)
            return LS_ERR_PARSE;
        char c = j->s[j->pos];
        if (c == '{' || c == '[') {
            bool is_obj = c == '{';
            if (depth + level + 1 > JSON_MAX_DEPTH)
                return LS_ERR_PARSE;
            if (level == 0)
                v->type = c;
            stack = (stack << 1) | (is_obj ? 1u : 0u);
            level++;
            j->pos++;
            skip_ws(j);
            if (j->pos < j->len && j->s[j->pos] == (is_obj ? '}' : ']')) {
                j->pos++;
                stack >>= 1;
                level--;
            } else {
                if (is_obj) {
                    err = scan_key_colon(j, NULL);
                    if (err != LS_OK)
                        return err;
                }
                continue;
            }
        } else {
            err = scan_scalar(j, level == 0 ? v : NULL);
            if (err != LS_OK)
                return err;
        }

        /* A value ended: close containers until one wants another value. */
        for (;;) {
            if (level == 0) {
                v->raw.p = j->s + start;
                v->raw.len = j->pos - start;
                return LS_OK;
            }
            bool is_obj = (stack & 1u) != 0;
            skip_ws(j);
            if (j->pos >= j->len)
                return LS_ERR_PARSE;
            c = j->s[j->pos];
            if (c == ',') {
                j->pos++;
                if (is_obj) {
                    err = scan_key_colon(j, NULL);
                    if (err != LS_OK)
                        return err;
                }
                break;
            }
            if (c != (is_obj ? '}' : ']'))
                return LS_ERR_PARSE;
            j->pos++;
            stack >>= 1;
            level--;
        }
    }
}

static bool span_eq(struct json_span a, const char *lit)
{
    size_t n = strlen(lit);
    return a.p && a.len == n && memcmp(a.p, lit, n) == 0;
}

/*
 * At '{': walks an object's members, calling on_member for each with the key
 * and a cursor at the value; on_member must consume the value.
 */
typedef ls_err (*member_fn)(void *ctx, struct jscan *j, struct json_span key);

static ls_err scan_object(struct jscan *j, member_fn on_member, void *ctx)
{
    ls_err err;
    struct json_span key;

    j->pos++;
    skip_ws(j);
    if (j->pos < j->len && j->s[j->pos] == '}') {
        j->pos++;
        return LS_OK;
    }
    for (;;) {
        err = scan_key_colon(j, &key);
        if (err != LS_OK)
            return err;
        err = on_member(ctx, j, key);
        if (err != LS_OK)
            return err;
        skip_ws(j);
        if (j->pos >= j->len)
            return LS_ERR_PARSE;
        char c = j->s[j->pos++];
        if (c == '}')
            return LS_OK;
        if (c != ',')
            return LS_ERR_PARSE;
    }
}

/* Members of the "error" object (depth 2). */
static ls_err error_member(void *ctx, struct jscan *j, struct json_span key)
{
    struct jsonrpc_msg *m = ctx;
    struct jval v;
    ls_err err = scan_value(j, 2, &v);

    if (err != LS_OK)
        return err;
    if (span_eq(key, "code")) {
        m->error_code = v.type == '0' && v.is_int ? v.ival : 0;
    } else if (span_eq(key, "message")) {
        m->error_message = v.type == '"' ? v.str : (struct json_span){ NULL, 0 };
    }
    return LS_OK;
}

/* What the top level held, beyond what goes straight into the message. */
struct top_state {
    struct jsonrpc_msg *m;
    bool version_ok;     /* "jsonrpc":"2.0" */
    bool has_id;
    char id_type;        /* jval type of the id */
    bool has_method;
    bool method_is_string;
    bool has_result;
    bool has_error;
    bool error_is_object;
};

static ls_err top_member(void *ctx, struct jscan *j, struct json_span key)
{
    struct top_state *t = ctx;
    struct jsonrpc_msg *m = t->m;
    struct jval v;
    ls_err err;

    if (span_eq(key, "error")) {
        t->has_error = true;
        m->error_code = 0;
        m->error_message = (struct json_span){ NULL, 0 };
        if (j->pos < j->len && j->s[j->pos] == '{') {
            size_t start = j->pos;
            err = scan_object(j, error_member, m);
            if (err != LS_OK)
                return err;
            t->error_is_object = true;
            m->error = (struct json_span){ j->s + start, j->pos - start };
            return LS_OK;
        }
        err = scan_value(j, 1, &v);
        if (err != LS_OK)
            return err;
        t->error_is_object = false;
        m->error = v.raw;
        return LS_OK;
    }

    err = scan_value(j, 1, &v);
    if (err != LS_OK)
        return err;
    if (span_eq(key, "jsonrpc")) {
        t->version_ok = v.type == '"' && span_eq(v.str, "2.0");
    } else if (span_eq(key, "id")) {
        t->has_id = true;
        t->id_type = v.type;
        m->id = v.raw;
        m->id_is_int = v.type == '0' && v.is_int;
        m->id_int = m->id_is_int ? v.ival : 0;
    } else if (span_eq(key, "method")) {
        t->has_method = true;
        t->method_is_string = v.type == '"';
        m->method = t->method_is_string ? v.str : (struct json_span){ NULL, 0 };
    } else if (span_eq(key, "result")) {
        t->has_result = true;
        m->result = v.raw;
    }
    return LS_OK;
}

static enum jsonrpc_kind classify(const struct top_state *t)
{
    if (!t->version_ok)
        return JSONRPC_INVALID;
    if (t->has_id && t->id_type != '"' && t->id_type != '0' && t->id_type != 'n')
        return JSONRPC_INVALID; /* ids are strings, numbers or (errors only) null */
    bool null_id = t->has_id && t->id_type == 'n';
    if (t->has_method) {
        if (!t->method_is_string || t->has_result || t->has_error || null_id)
            return JSONRPC_INVALID;
        return t->has_id ? JSONRPC_REQUEST : JSONRPC_NOTIFICATION;
    }
    if (t->has_error) {
        if (!t->has_id || t->has_result || !t->error_is_object)
            return JSONRPC_INVALID;
        return JSONRPC_ERROR;
    }
    if (t->has_result && t->has_id && !null_id)
        return JSONRPC_RESPONSE;
    return JSONRPC_INVALID;
}

ls_err jsonrpc_scan(const char *buf, size_t len, struct jsonrpc_msg *out)
{
    struct jscan j = { buf, len, 0 };
    struct top_state t = { .m = out };
    struct jval v;
    bool is_object = false;
    ls_err err;

    memset(out, 0, sizeof *out);
    out->kind = JSONRPC_INVALID;
    if (!buf)
        return LS_ERR_PARSE;
    skip_ws(&j);
    if (j.pos < j.len && j.s[j.pos] == '{') {
        is_object = true;
        err = scan_object(&j, top_member, &t);
    } else {
        /* Well-formed but not an object (a batch, a bare value): INVALID. */
        err = scan_value(&j, 0, &v);
    }
    if (err != LS_OK)
        goto fail;
    skip_ws(&j);
    if (j.pos != j.len) {
        err = LS_ERR_PARSE; /* trailing garbage */
        goto fail;
    }
    if (is_object)
        out->kind = classify(&t);
    return LS_OK;
fail:
    memset(out, 0, sizeof *out);
    out->kind = JSONRPC_INVALID;
    return err;
}

struct find_state {
    const char *key;
    struct json_span *val;
    bool found;
};

static ls_err find_member(void *ctx, struct jscan *j, struct json_span key)
{
    struct find_state *f = ctx;
    struct jval v;
    ls_err err = scan_value(j, 1, &v);

    if (err == LS_OK && span_eq(key, f->key)) {
        *f->val = v.raw;
        f->found = true;
    }
    return err;
}

bool json_find_member(struct json_span obj, const char *key, struct json_span *val)
{
    struct jscan j = { obj.p, obj.len, 0 };
    struct json_span found = { NULL, 0 };
    struct find_state f = { key, &found, false };

    if (!obj.p || !key)
        return false;
    skip_ws(&j);
    if (j.pos >= j.len || j.s[j.pos] != '{')
        return false;
    if (scan_object(&j, find_member, &f) != LS_OK)
        return false;
    skip_ws(&j);
    if (j.pos != j.len || !f.found)
        return false;
    *val = found;
    return true;
}

bool json_span_is_true(struct json_span v)
{
    return span_eq(v, "true");
}

long jsonrpc_format_request(char *buf, size_t cap, int64_t id, const char *method,
                            const char *params_json, size_t params_len)
{
    static const char head[] = "{\"jsonrpc\":\"2.0\"";
    static const char id_key[] = ",\"id\":";
    static const char method_key[] = ",\"method\":\"";
    static const char params_key[] = "\",\"params\":";
    char digits[20];
    size_t ndigits = 0;
    size_t method_len, need;

    if (!buf || !method)
        return -1;
    if (id >= 0) {
        uint64_t u = (uint64_t)id;
        char rev[20];
        do {
            rev[ndigits++] = (char)('0' + u % 10);
            u /= 10;
        } while (u != 0);
        for (size_t k = 0; k < ndigits; k++)
            digits[k] = rev[ndigits - 1 - k];
    }
    method_len = strlen(method);
    if (method_len > SIZE_MAX / 4 || params_len > SIZE_MAX / 4)
        return -1;
    need = sizeof head - 1 + sizeof method_key - 1 + method_len + 1; /* ... "}" */
    if (id >= 0)
        need += sizeof id_key - 1 + ndigits;
    /* params_key carries the method's closing quote */
    need += params_json ? sizeof params_key - 1 + params_len : 1;
    if (need >= cap || need > (size_t)LONG_MAX)
        return -1; /* no room for the text and its NUL */

    char *o = buf;
    memcpy(o, head, sizeof head - 1);
    o += sizeof head - 1;
    if (id >= 0) {
        memcpy(o, id_key, sizeof id_key - 1);
        o += sizeof id_key - 1;
        memcpy(o, digits, ndigits);
        o += ndigits;
    }
    memcpy(o, method_key, sizeof method_key - 1);
    o += sizeof method_key - 1;
    memcpy(o, method, method_len);
    o += method_len;
    if (params_json) {
        memcpy(o, params_key, sizeof params_key - 1);
        o += sizeof params_key - 1;
        memcpy(o, params_json, params_len);
        o += params_len;
    } else {
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return (long)(o - buf);
}

/* ---- pending table: open addressing, linear probing, backward-shift delete ---- */

struct pending_slot {
    int64_t id;
    uint64_t cookie;
};

struct jsonrpc_pending {
    uint32_t capacity;          /* most entries allowed at once */
    uint32_t count;
    uint32_t mask;              /* slots - 1; slots is a power of two >= 2 * capacity */
    unsigned char *used;        /* one byte per slot */
    struct pending_slot *slots;
};

#define PENDING_MAX_CAPACITY (UINT32_C(1) << 30)

/* splitmix64's finalizer: sequential ids spread over the whole table. */
static uint32_t pending_home(const struct jsonrpc_pending *t, int64_t id)
{
    uint64_t x = (uint64_t)id;
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return (uint32_t)x & t->mask;
}

ls_err jsonrpc_pending_open(uint32_t capacity, struct jsonrpc_pending **out)
{
    ls_err err = LS_OK;
    struct jsonrpc_pending *t = NULL;
    uint64_t slots = 2;

    *out = NULL;
    if (capacity == 0) {
        err = LS_ERR_INVALID;
        goto out;
    }
    if (capacity > PENDING_MAX_CAPACITY) {
        err = LS_ERR_RANGE;
        goto out;
    }
    while (slots < 2 * (uint64_t)capacity)
        slots *= 2;
    t = calloc(1, sizeof *t);
    if (!t) {
        err = LS_ERR_NOMEM;
        goto out;
    }
    t->capacity = capacity;
    t->mask = (uint32_t)(slots - 1);
    t->used = calloc(slots, 1);
    t->slots = calloc(slots, sizeof *t->slots);
    if (!t->used || !t->slots) {
        err = LS_ERR_NOMEM;
        goto out;
    }
    *out = t;
    t = NULL;
out:
    jsonrpc_pending_close(t);
    return err;
}

void jsonrpc_pending_close(struct jsonrpc_pending *t)
{
    if (!t)
        return;
    free(t->used);
    free(t->slots);
    free(t);
}

ls_err jsonrpc_pending_put(struct jsonrpc_pending *t, int64_t id, uint64_t cookie)
{
    uint32_t i = pending_home(t, id);

    while (t->used[i]) {
        if (t->slots[i].id == id)
            return LS_ERR_INVALID;
        i = (i + 1) & t->mask;
    }
    if (t->count == t->capacity)
        return LS_ERR_FULL;
    t->used[i] = 1;
    t->slots[i].id = id;
    t->slots[i].cookie = cookie;
    t->count++;
    return LS_OK;
}

bool jsonrpc_pending_take(struct jsonrpc_pending *t, int64_t id, uint64_t *cookie)
{
    uint32_t i = pending_home(t, id);

    while (t->used[i] && t->slots[i].id != id)
        i = (i + 1) & t->mask;
    if (!t->used[i])
        return false;
    if (cookie)
        *cookie = t->slots[i].cookie;

    /*
     * Backward-shift deletion: pull later members of the probe run into the
     * hole when their home slot does not lie cyclically in (hole, j], so that
     * every entry stays reachable from its home without tombstones.
     */
    uint32_t hole = i;
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (!t->used[j])
            break;
        uint32_t home = pending_home(t, t->slots[j].id);
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays)
            continue;
        t->slots[hole] = t->slots[j];
        hole = j;
    }
    t->used[hole] = 0;
    t->count--;
    return true;
}

uint32_t jsonrpc_pending_count(const struct jsonrpc_pending *t)
{
    return t->count;
}

void jsonrpc_pending_drain(struct jsonrpc_pending *t, void (*fn)(void *ctx, int64_t id, uint64_t cookie),
                           void *ctx)
{
    for (uint32_t i = 0; i <= t->mask && t->count > 0; i++) {
        if (!t->used[i])
            continue;
        struct pending_slot e = t->slots[i];
        t->used[i] = 0;
        t->count--;
        if (fn)
            fn(ctx, e.id, e.cookie);
    }
}
