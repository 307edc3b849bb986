/*
 * scenario: load, validate and pre-compile a scenario file.
 *
 * Everything is checked before a run starts, and every message points at
 * the offending spot as FILE:LINE:COL plus a JSON path. cJSON builds the
 * tree but keeps no positions, so the raw text is consulted twice:
 *   - json_check() is a strict RFC 8259 scanner run before cJSON; it names
 *     the first syntax error precisely ("unterminated string", "trailing
 *     comma") where cJSON only gives an approximate offset;
 *   - locate() walks the raw text along a JSON path (by member ordinal, so
 *     no key comparison or unescaping is needed) to find a value's offset.
 * Request params are emitted from the raw text rather than from cJSON's
 * doubles so numbers reach the server exactly as written. A string inside
 * tools/call arguments that is exactly one placeholder ("${rand:1:9}") is
 * emitted without quotes, so numeric tool arguments can be randomised.
 */
#include "scenario.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SCN_MAX_STEPS 65000
#define SCN_MAX_STAGES 10000
#define SCN_MAX_DEPTH 200 /* deeper JSON is refused outright */
#define SCN_MAX_FILE_BYTES (16u << 20)
#define SCN_MAX_COUNT 1000000u /* concurrency, max_in_flight, weight */
#define SCN_MAX_NAME_BYTES 128

#define NS_PER_S 1000000000ULL

/* ---- error context ------------------------------------------------------- */

/* One step of a JSON path; lives on the C stack while a value is checked. */
struct jpath {
    const struct jpath *up; /* NULL for the root */
    const char *key;        /* member name; NULL for an array element */
    size_t index;           /* array index when key is NULL */
    long ordinal;           /* position among the parent's children; -1: key missing */
};

struct ctx {
    const char *file; /* name used in messages */
    const char *text; /* NUL-terminated copy of the file */
    size_t len;
    char *err;
    size_t errcap;
    ls_err rc; /* first failure wins */
};

static bool is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static size_t skip_ws(const struct ctx *c, size_t i)
{
    while (i < c->len && is_ws(c->text[i]))
        i++;
    return i;
}

static size_t skip_bom(const struct ctx *c)
{
    if (c->len >= 3 && memcmp(c->text, "\xEF\xBB\xBF", 3) == 0)
        return 3;
    return 0;
}

/* i at an opening quote; returns the index after the closing quote. */
static size_t skip_string(const struct ctx *c, size_t i)
{
    for (i++; i < c->len; i++) {
        if (c->text[i] == '\\')
            i++;
        else if (c->text[i] == '"')
            return i + 1;
    }
    return c->len;
}

/* i at the start of a value in already-validated text; returns its end. */
static size_t skip_value(const struct ctx *c, size_t i)
{
    if (i >= c->len)
        return c->len;
    char ch = c->text[i];
    if (ch == '"')
        return skip_string(c, i);
    if (ch == '{' || ch == '[') {
        size_t depth = 0;
        while (i < c->len) {
            ch = c->text[i];
            if (ch == '"') {
                i = skip_string(c, i);
                continue;
            }
            if (ch == '{' || ch == '[')
                depth++;
            else if ((ch == '}' || ch == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return c->len;
    }
    while (i < c->len && !is_ws(c->text[i]) && c->text[i] != ',' && c->text[i] != ']' &&
           c->text[i] != '}')
        i++;
    return i;
}

/*
 * Offset of the value at path p (or of its parent when the key is missing);
 * *keypos, when given, receives the offset of the member's key.
 */
static size_t locate(const struct ctx *c, const struct jpath *p, size_t *keypos)
{
    if (p->up == NULL) {
        size_t at = skip_ws(c, skip_bom(c));
        if (keypos != NULL)
            *keypos = at;
        return at;
    }
    size_t at = locate(c, p->up, NULL);
    if (keypos != NULL)
        *keypos = at;
    if (p->ordinal < 0 || at >= c->len)
        return at;
    char open = c->text[at];
    if (open != '{' && open != '[')
        return at;
    size_t i = at + 1;
    for (long k = 0;; k++) {
        i = skip_ws(c, i);
        if (i >= c->len)
            return at;
        size_t kp = i;
        if (open == '{') {
            i = skip_ws(c, skip_string(c, i));
            if (i < c->len && c->text[i] == ':')
                i++;
            i = skip_ws(c, i);
        }
        if (k == p->ordinal) {
            if (keypos != NULL)
                *keypos = kp;
            return i;
        }
        i = skip_ws(c, skip_value(c, i));
        if (i >= c->len || c->text[i] != ',')
            return at;
        i++;
    }
}

static void line_col(const struct ctx *c, size_t pos, unsigned *line, unsigned *col)
{
    unsigned l = 1, k = 1;
    for (size_t i = 0; i < pos && i < c->len; i++) {
        unsigned char ch = (unsigned char)c->text[i];
        if (ch == '\n') {
            l++;
            k = 1;
        } else if ((ch & 0xC0) != 0x80) { /* count characters, not UTF-8 continuation bytes */
            k++;
        }
    }
    *line = l;
    *col = k;
}

struct sbuf {
    char *p;
    size_t cap;
    size_t n;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n && b->n + 1 < b->cap; i++)
        b->p[b->n++] = s[i];
    if (b->cap > 0)
        b->p[b->n] = '\0';
}

static bool is_ident(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

static void path_fmt(const struct jpath *p, struct sbuf *b)
{
    if (p->up == NULL) {
        sb_add(b, "$", 1);
        return;
    }
    path_fmt(p->up, b);
    if (p->key == NULL) {
        char tmp[32];
        int n = snprintf(tmp, sizeof tmp, "[%zu]", p->index);
        sb_add(b, tmp, (size_t)n);
    } else if (is_ident(p->key)) {
        sb_add(b, ".", 1);
        sb_add(b, p->key, strlen(p->key));
    } else {
        sb_add(b, "[\"", 2);
        for (const char *k = p->key; *k != '\0'; k++) {
            if (*k == '"' || *k == '\\')
                sb_add(b, "\\", 1);
            if ((unsigned char)*k < 0x20)
                sb_add(b, "?", 1);
            else
                sb_add(b, k, 1);
        }
        sb_add(b, "\"]", 2);
    }
}

static void vfail_at(struct ctx *c, const struct jpath *p, size_t pos, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void vfail_at(struct ctx *c, const struct jpath *p, size_t pos, const char *fmt, va_list ap)
{
    if (c->rc != LS_OK)
        return;
    c->rc = LS_ERR_INVALID;
    if (c->err == NULL || c->errcap == 0)
        return;
    char path[256];
    char msg[768];
    struct sbuf b = {path, sizeof path, 0};
    path_fmt(p, &b);
    vsnprintf(msg, sizeof msg, fmt, ap);
    unsigned line, col;
    line_col(c, pos, &line, &col);
    snprintf(c->err, c->errcap, "%s:%u:%u: %s: %s", c->file, line, col, path, msg);
}

static void fail_at(struct ctx *c, const struct jpath *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(struct ctx *c, const struct jpath *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_key(struct ctx *c, const struct jpath *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_at(struct ctx *c, const struct jpath *p, size_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(c, p, pos, fmt, ap);
    va_end(ap);
}

/* Reports at the value (or, for a missing key, at the enclosing object). */
static void fail(struct ctx *c, const struct jpath *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(c, p, locate(c, p, NULL), fmt, ap);
    va_end(ap);
}

/* Reports at the member's key: for unknown, duplicate and misplaced keys. */
static void fail_key(struct ctx *c, const struct jpath *p, const char *fmt, ...)
{
    size_t kp = 0;
    va_list ap;
    locate(c, p, &kp);
    va_start(ap, fmt);
    vfail_at(c, p, kp, fmt, ap);
    va_end(ap);
}

/* Syntax errors have no JSON path: "FILE:LINE:COL: invalid JSON: WHAT". */
static void fail_syntax(struct ctx *c, size_t pos, const char *what)
{
    if (c->rc != LS_OK)
        return;
    c->rc = LS_ERR_INVALID;
    if (c->err == NULL || c->errcap == 0)
        return;
    unsigned line, col;
    line_col(c, pos, &line, &col);
    snprintf(c->err, c->errcap, "%s:%u:%u: invalid JSON: %s", c->file, line, col, what);
}

static void nomem(struct ctx *c)
{
    if (c->rc != LS_OK)
        return;
    c->rc = LS_ERR_NOMEM;
    if (c->err != NULL && c->errcap > 0)
        snprintf(c->err, c->errcap, "%s: out of memory", c->file);
}

/* Short description of a value as written, for "found ..." */
static const char *found(const struct ctx *c, const cJSON *v, const struct jpath *p, char *buf,
                         size_t cap)
{
    if (cJSON_IsObject(v))
        return "an object";
    if (cJSON_IsArray(v))
        return v->child != NULL ? "an array" : "an empty array";
    size_t at = locate(c, p, NULL);
    size_t n = skip_value(c, at) - at;
    if (n > 40) {
        int cut = 36;
        while (cut > 1 && ((unsigned char)c->text[at + (size_t)cut] & 0xC0) == 0x80)
            cut--; /* do not split a UTF-8 sequence */
        snprintf(buf, cap, "%.*s...%s", cut, c->text + at, c->text[at] == '"' ? "\"" : "");
    } else {
        snprintf(buf, cap, "%.*s", (int)n, c->text + at);
    }
    return buf;
}

/* "expected WHAT, found X" or, for a missing key, "expected WHAT, but the key is missing" */
static void expected(struct ctx *c, const cJSON *v, const struct jpath *p, const char *what)
{
    char tmp[64];
    if (v == NULL)
        fail(c, p, "expected %s, but the key is missing", what);
    else
        fail(c, p, "expected %s, found %s", what, found(c, v, p, tmp, sizeof tmp));
}

/* ---- strict syntax check ------------------------------------------------- */

static void describe_char(char ch, char *buf, size_t cap)
{
    unsigned char u = (unsigned char)ch;
    if (u >= 0x20 && u < 0x7F)
        snprintf(buf, cap, "'%c'", ch);
    else
        snprintf(buf, cap, "byte 0x%02X", u);
}

static bool is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/*
 * Checks that the text is exactly one JSON value (RFC 8259). On an error
 * returns false with *at the offset and what[] the description.
 */
static bool json_check(const struct ctx *c, size_t *at, char *what, size_t cap)
{
    const char *t = c->text;
    size_t n = c->len;
    char stack[SCN_MAX_DEPTH];
    size_t sp = 0;
    size_t i = skip_bom(c);
    char ch_desc[16];

value:
    i = skip_ws(c, i);
    if (i >= n) {
        snprintf(what, cap, "unexpected end of input; expected a value");
        goto bad;
    }
    switch (t[i]) {
    case '{':
    case '[':
        if (sp == SCN_MAX_DEPTH) {
            snprintf(what, cap, "nesting deeper than %d levels", SCN_MAX_DEPTH);
            goto bad;
        }
        stack[sp++] = t[i];
        i = skip_ws(c, i + 1);
        if (i < n && t[i] == (stack[sp - 1] == '{' ? '}' : ']')) {
            sp--;
            i++;
            goto after;
        }
        if (stack[sp - 1] == '{')
            goto key;
        goto value;
    case '"':
        goto string;
    case 't':
    case 'f':
    case 'n': {
        static const char *const lits[] = {"true", "false", "null"};
        for (int k = 0; k < 3; k++) {
            size_t ln = strlen(lits[k]);
            if (n - i >= ln && memcmp(t + i, lits[k], ln) == 0) {
                i += ln;
                goto after;
            }
        }
        break;
    }
    default:
        if (t[i] == '-' || is_digit(t[i])) {
            size_t s = i;
            if (t[i] == '-')
                i++;
            if (i < n && t[i] == '0') {
                i++;
                if (i < n && is_digit(t[i])) {
                    i = s;
                    snprintf(what, cap, "invalid number (leading zero)");
                    goto bad;
                }
            } else if (i < n && is_digit(t[i])) {
                while (i < n && is_digit(t[i]))
                    i++;
            } else {
                i = s;
                snprintf(what, cap, "invalid number");
                goto bad;
            }
            if (i < n && t[i] == '.') {
                i++;
                if (i >= n || !is_digit(t[i])) {
                    i = s;
                    snprintf(what, cap, "invalid number (no digit after '.')");
                    goto bad;
                }
                while (i < n && is_digit(t[i]))
                    i++;
            }
            if (i < n && (t[i] == 'e' || t[i] == 'E')) {
                i++;
                if (i < n && (t[i] == '+' || t[i] == '-'))
                    i++;
                if (i >= n || !is_digit(t[i])) {
                    i = s;
                    snprintf(what, cap, "invalid number (no digit in the exponent)");
                    goto bad;
                }
                while (i < n && is_digit(t[i]))
                    i++;
            }
            goto after;
        }
        break;
    }
    describe_char(t[i], ch_desc, sizeof ch_desc);
    snprintf(what, cap, "unexpected %s; expected a value", ch_desc);
    goto bad;

key:
    i = skip_ws(c, i);
    if (i >= n) {
        snprintf(what, cap, "unexpected end of input; expected a key in double quotes");
        goto bad;
    }
    if (t[i] == '}') {
        snprintf(what, cap, "trailing comma before '}'");
        goto bad;
    }
    if (t[i] != '"') {
        describe_char(t[i], ch_desc, sizeof ch_desc);
        snprintf(what, cap, "unexpected %s; expected a key in double quotes", ch_desc);
        goto bad;
    }
    /* fall into string; `after` sees the ':' because the top is '{' */
    stack[sp - 1] = ':';

string : {
    size_t s = i;
    for (i++;; i++) {
        if (i >= n) {
            i = s;
            snprintf(what, cap, "unterminated string");
            goto bad;
        }
        unsigned char u = (unsigned char)t[i];
        if (u == '"')
            break;
        if (u < 0x20) {
            snprintf(what, cap, "control character 0x%02X in a string (escape it)", u);
            goto bad;
        }
        if (u == '\\') {
            if (i + 1 >= n) {
                i = s;
                snprintf(what, cap, "unterminated string");
                goto bad;
            }
            char e = t[i + 1];
            if (e == 'u') {
                for (int k = 2; k < 6; k++) {
                    if (i + (size_t)k >= n || !is_hex(t[i + (size_t)k])) {
                        snprintf(what, cap, "invalid \\u escape (expected 4 hex digits)");
                        goto bad;
                    }
                }
                i += 5;
            } else if (strchr("\"\\/bfnrt", e) != NULL && e != '\0') {
                i++;
            } else {
                describe_char(e, ch_desc, sizeof ch_desc);
                snprintf(what, cap, "invalid escape \\ followed by %s", ch_desc);
                goto bad;
            }
        }
    }
    i++;
}

after:
    i = skip_ws(c, i);
    if (sp == 0) {
        if (i < n) {
            describe_char(t[i], ch_desc, sizeof ch_desc);
            snprintf(what, cap, "unexpected %s after the end of the document", ch_desc);
            goto bad;
        }
        return true;
    }
    if (stack[sp - 1] == ':') {
        stack[sp - 1] = '{';
        if (i < n && t[i] == ':') {
            i++;
            goto value;
        }
        if (i >= n) {
            snprintf(what, cap, "unexpected end of input; expected ':' after the key");
            goto bad;
        }
        describe_char(t[i], ch_desc, sizeof ch_desc);
        snprintf(what, cap, "unexpected %s; expected ':' after the key", ch_desc);
        goto bad;
    }
    {
        char close = stack[sp - 1] == '{' ? '}' : ']';
        if (i < n && t[i] == close) {
            sp--;
            i++;
            goto after;
        }
        if (i < n && t[i] == ',') {
            i = skip_ws(c, i + 1);
            if (stack[sp - 1] == '{')
                goto key;
            if (i < n && t[i] == ']') {
                snprintf(what, cap, "trailing comma before ']'");
                goto bad;
            }
            goto value;
        }
        if (i >= n) {
            snprintf(what, cap, "unexpected end of input; expected ',' or '%c'", close);
            goto bad;
        }
        describe_char(t[i], ch_desc, sizeof ch_desc);
        snprintf(what, cap, "unexpected %s; expected ',' or '%c'", ch_desc, close);
        goto bad;
    }

bad:
    *at = i;
    return false;
}

/* ---- suggestions for misspellings ---------------------------------------- */

/* Optimal string alignment distance (edits with adjacent transpositions). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

/* The closest name within two edits (and fewer edits than its length), or NULL. */
static const char *suggest(const char *word, const char *const *names, size_t count)
{
    const char *best = NULL;
    size_t bestd = 3;
    for (size_t i = 0; i < count; i++) {
        size_t d = edit_distance(word, names[i]);
        if (d < bestd && d < strlen(names[i])) {
            best = names[i];
            bestd = d;
        }
    }
    return best;
}

/* Writes `"a", "b" or "c"` into buf. */
static void name_list(const char *const *names, size_t count, char *buf, size_t cap)
{
    struct sbuf b = {buf, cap, 0};
    sb_add(&b, "", 0);
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            sb_add(&b, i + 1 == count ? " or " : ", ", i + 1 == count ? 4 : 2);
        sb_add(&b, "\"", 1);
        sb_add(&b, names[i], strlen(names[i]));
        sb_add(&b, "\"", 1);
    }
}

/* ---- typed access -------------------------------------------------------- */

struct field {
    const cJSON *v; /* NULL when the key is missing */
    struct jpath p;
};

static struct field field(const cJSON *obj, const char *key, const struct jpath *up)
{
    struct field f = {NULL, {up, key, 0, -1}};
    long k = 0;
    for (const cJSON *it = obj->child; it != NULL; it = it->next, k++) {
        if (it->string != NULL && strcmp(it->string, key) == 0) {
            f.v = it;
            f.p.ordinal = k;
            break;
        }
    }
    return f;
}

static struct jpath elem_path(const struct jpath *up, size_t index)
{
    struct jpath p = {up, NULL, index, (long)index};
    return p;
}

/*
 * Checks that v is an object whose keys are all in `allowed` and unique.
 * `what` describes the object for the type error.
 */
static bool check_object(struct ctx *c, const cJSON *v, const struct jpath *p,
                         const char *const *allowed, size_t nallowed, const char *what)
{
    if (!cJSON_IsObject(v)) {
        expected(c, v, p, what);
        return false;
    }
    long k = 0;
    for (const cJSON *it = v->child; it != NULL; it = it->next, k++) {
        struct jpath kp = {p, it->string, 0, k};
        bool known = allowed == NULL;
        for (size_t i = 0; i < nallowed && !known; i++)
            known = strcmp(it->string, allowed[i]) == 0;
        if (!known) {
            const char *s = suggest(it->string, allowed, nallowed);
            if (s != NULL) {
                fail_key(c, &kp, "unknown key \"%s\"; did you mean \"%s\"?", it->string, s);
            } else {
                char list[512];
                name_list(allowed, nallowed, list, sizeof list);
                fail_key(c, &kp, "unknown key \"%s\"; expected %s", it->string, list);
            }
            return false;
        }
        for (const cJSON *prev = v->child; prev != it; prev = prev->next) {
            if (strcmp(prev->string, it->string) == 0) {
                fail_key(c, &kp, "duplicate key \"%s\"", it->string);
                return false;
            }
        }
    }
    return true;
}

#define CHECK_OBJECT(c, v, p, keys, what)                                                          \
    check_object((c), (v), (p), (keys), sizeof(keys) / sizeof((keys)[0]), (what))

static bool need(struct ctx *c, const struct field *f, const char *what)
{
    if (f->v != NULL)
        return true;
    expected(c, NULL, &f->p, what);
    return false;
}

static const char *as_string(struct ctx *c, const struct field *f, bool nonempty)
{
    if (!cJSON_IsString(f->v) || (nonempty && f->v->valuestring[0] == '\0')) {
        expected(c, f->v, &f->p, nonempty ? "a non-empty string" : "a string");
        return NULL;
    }
    return f->v->valuestring;
}

static bool as_u32(struct ctx *c, const struct field *f, uint32_t lo, uint32_t hi, uint32_t *out)
{
    const cJSON *v = f->v;
    if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && v->valuedouble > hi) {
        char tmp[64];
        fail(c, &f->p, "expected an integer no larger than %u, found %s", hi,
             found(c, v, &f->p, tmp, sizeof tmp));
        return false;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo) {
        char what[64];
        if (lo == 1)
            snprintf(what, sizeof what, "a positive integer");
        else
            snprintf(what, sizeof what, "an integer from %u to %u", lo, hi);
        expected(c, v, &f->p, what);
        return false;
    }
    *out = (uint32_t)v->valuedouble;
    return true;
}

/* A finite number >= 0 (or > 0 when positive is set). */
static bool as_rate(struct ctx *c, const struct field *f, bool positive, double *out)
{
    const cJSON *v = f->v;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
        (positive && v->valuedouble == 0)) {
        expected(c, v, &f->p,
                 positive ? "a number greater than 0 (requests per second)"
                          : "a number >= 0 (requests per second)");
        return false;
    }
    *out = v->valuedouble;
    return true;
}

static bool as_bool(struct ctx *c, const struct field *f, bool *out)
{
    if (!cJSON_IsBool(f->v)) {
        expected(c, f->v, &f->p, "true or false");
        return false;
    }
    *out = cJSON_IsTrue(f->v);
    return true;
}

/* Durations are strings ("1m30s") or JSON numbers of seconds. */
static bool as_duration(struct ctx *c, const struct field *f, bool positive, uint64_t *out)
{
    const cJSON *v = f->v;
    uint64_t ns = 0;
    bool ok = false;
    if (cJSON_IsString(v)) {
        ok = scenario_parse_duration(v->valuestring, &ns);
    } else if (cJSON_IsNumber(v)) {
        double sec = v->valuedouble;
        ok = isfinite(sec) && sec >= 0 && sec < 9e9; /* about 285 years */
        if (ok)
            ns = (uint64_t)(sec * 1e9 + 0.5);
    }
    if (!ok) {
        expected(c, v, &f->p,
                 "a duration like \"10s\", \"250ms\" or \"1m30s\", or a number of seconds");
        return false;
    }
    if (positive && ns == 0) {
        expected(c, v, &f->p, "a duration greater than 0");
        return false;
    }
    *out = ns;
    return true;
}

/* Returns the index of the string value among names, or -1 after reporting. */
static int as_enum(struct ctx *c, const struct field *f, const char *const *names, size_t count)
{
    char list[256];
    char tmp[64];
    name_list(names, count, list, sizeof list);
    if (!cJSON_IsString(f->v)) {
        char what[300];
        snprintf(what, sizeof what, "one of %s", list);
        expected(c, f->v, &f->p, what);
        return -1;
    }
    for (size_t i = 0; i < count; i++)
        if (strcmp(f->v->valuestring, names[i]) == 0)
            return (int)i;
    const char *s = suggest(f->v->valuestring, names, count);
    if (s != NULL)
        fail(c, &f->p, "expected one of %s, found %s; did you mean \"%s\"?", list,
             found(c, f->v, &f->p, tmp, sizeof tmp), s);
    else
        fail(c, &f->p, "expected one of %s, found %s", list,
             found(c, f->v, &f->p, tmp, sizeof tmp));
    return -1;
}

#define AS_ENUM(c, f, names) as_enum((c), (f), (names), sizeof(names) / sizeof((names)[0]))

static char *dup_str(struct ctx *c, const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        nomem(c);
    return d;
}

/* ---- durations ----------------------------------------------------------- */

bool scenario_parse_duration(const char *text, uint64_t *ns)
{
    static const struct {
        const char *suffix;
        uint64_t ns;
    } units[] = {
        {"ns", 1ULL},       {"us", 1000ULL}, {"\xC2\xB5s", 1000ULL}, /* µs */
        {"ms", 1000000ULL}, {"s", NS_PER_S}, {"m", 60 * NS_PER_S},   {"h", 3600 * NS_PER_S},
    };
    if (text == NULL || text[0] == '\0')
        return false;
    if (strcmp(text, "0") == 0) {
        *ns = 0;
        return true;
    }
    uint64_t total = 0;
    const char *p = text;
    while (*p != '\0') {
        uint64_t whole = 0, frac = 0, scale = 1;
        int digits = 0;
        while (is_digit(*p)) {
            uint64_t d = (uint64_t)(*p - '0');
            if (whole > (UINT64_MAX - d) / 10)
                return false;
            whole = whole * 10 + d;
            digits++;
            p++;
        }
        if (*p == '.') {
            p++;
            while (is_digit(*p)) {
                if (scale < NS_PER_S) { /* beyond nanoseconds the digits only truncate */
                    frac = frac * 10 + (uint64_t)(*p - '0');
                    scale *= 10;
                }
                digits++;
                p++;
            }
        }
        if (digits == 0)
            return false;
        uint64_t unit = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t sl = strlen(units[i].suffix);
            if (strncmp(p, units[i].suffix, sl) == 0) {
                /* "ms" must not be read as "m" followed by junk "s": longest first */
                if (units[i].suffix[0] == 'm' && sl == 1 && p[1] == 's')
                    continue;
                unit = units[i].ns;
                p += sl;
                break;
            }
        }
        if (unit == 0)
            return false;
        if (whole > UINT64_MAX / unit)
            return false;
        /* frac < scale, so neither product overflows; the sum is exact (truncated) */
        uint64_t part = whole * unit + frac * (unit / scale) + frac * (unit % scale) / scale;
        if (part < whole * unit || total > UINT64_MAX - part)
            return false;
        total += part;
    }
    *ns = total;
    return true;
}

/* ---- target, mcp, load, http --------------------------------------------- */

/* Object of string values, e.g. env or headers. */
static bool parse_kv(struct ctx *c, const struct field *f, bool header, struct scn_kv **out,
                     size_t *count)
{
    if (!check_object(c, f->v, &f->p, NULL, 0, "an object of strings"))
        return false;
    size_t n = (size_t)cJSON_GetArraySize(f->v);
    *out = calloc(n > 0 ? n : 1, sizeof **out);
    if (*out == NULL) {
        nomem(c);
        return false;
    }
    long k = 0;
    for (const cJSON *it = f->v->child; it != NULL; it = it->next, k++) {
        struct jpath p = {&f->p, it->string, 0, k};
        if (!cJSON_IsString(it)) {
            expected(c, it, &p, "a string");
            return false;
        }
        const char *key = it->string;
        bool bad = key[0] == '\0';
        for (const char *q = key; *q != '\0' && !bad; q++)
            bad = header ? ((unsigned char)*q <= 0x20 || *q == ':' || (unsigned char)*q >= 0x7F)
                         : *q == '=';
        if (bad) {
            fail_key(c, &p,
                     header ? "bad header name \"%s\"; expected a token without spaces "
                              "or ':'"
                            : "bad variable name \"%s\"; expected a non-empty name "
                              "without '='",
                     key);
            return false;
        }
        if (header && strpbrk(it->valuestring, "\r\n") != NULL) {
            expected(c, it, &p, "a header value without line breaks");
            return false;
        }
        (*out)[*count].key = dup_str(c, key);
        (*out)[*count].value = dup_str(c, it->valuestring);
        (*count)++;
        if (c->rc != LS_OK)
            return false;
    }
    return true;
}

static bool parse_target(struct ctx *c, struct scenario *s, const struct field *ft)
{
    static const char *const keys[] = {"transport", "command", "env",           "cwd",
                                       "processes", "url",     "ready_timeout", "headers",
                                       "trace_allocations"};
    static const char *const transports[] = {"stdio", "http", "aws"};
    static const char *const procs[] = {"shared", "per_vu"};
    const struct jpath *pt = &ft->p;

    if (!need(c, ft, "an object") || !CHECK_OBJECT(c, ft->v, pt, keys, "an object"))
        return false;
    const cJSON *t = ft->v;

    struct field f = field(t, "transport", pt);
    if (!need(c, &f, "\"stdio\" or \"http\""))
        return false;
    int tr = AS_ENUM(c, &f, transports);
    if (tr < 0)
        return false;
    s->transport = tr == 0 ? SCN_STDIO : tr == 1 ? SCN_HTTP : SCN_AWS;
    if (s->transport == SCN_AWS) {
        /* AWS steps only: no MCP target, so nothing else belongs here. */
        long k = 0;
        for (const cJSON *it = t->child; it != NULL; it = it->next, k++) {
            struct jpath kp = {pt, it->string, 0, k};
            if (strcmp(it->string, "transport") != 0) {
                fail_key(c, &kp, "not allowed with \"transport\": \"aws\" (no MCP target)");
                return false;
            }
        }
        return true;
    }

    /* keys that belong to the other transport */
    static const char *const http_only[] = {"url", "ready_timeout", "headers"};
    for (size_t i = 0; i < 3 && s->transport == SCN_STDIO; i++) {
        f = field(t, http_only[i], pt);
        if (f.v != NULL) {
            fail_key(c, &f.p, "only allowed with \"transport\": \"http\"");
            return false;
        }
    }
    f = field(t, "processes", pt);
    if (f.v != NULL && s->transport == SCN_HTTP) {
        fail_key(c, &f.p, "only allowed with \"transport\": \"stdio\"");
        return false;
    }

    f = field(t, "command", pt);
    if (f.v != NULL || s->transport == SCN_STDIO) {
        const char *what = "a non-empty array of strings (the program and its arguments)";
        if (!cJSON_IsArray(f.v) || cJSON_GetArraySize(f.v) == 0) {
            expected(c, f.v, &f.p, what);
            return false;
        }
        size_t n = (size_t)cJSON_GetArraySize(f.v);
        s->command = calloc(n + 1, sizeof *s->command);
        if (s->command == NULL) {
            nomem(c);
            return false;
        }
        size_t i = 0;
        for (const cJSON *it = f.v->child; it != NULL; it = it->next, i++) {
            struct field fe = {it, elem_path(&f.p, i)};
            const char *arg = as_string(c, &fe, i == 0);
            if (arg == NULL)
                return false;
            s->command[i] = dup_str(c, arg);
            if (s->command[i] == NULL)
                return false;
        }
    }

    static const char *const launch_keys[] = {"env", "cwd", "trace_allocations"};
    for (size_t i = 0; i < 3 && s->command == NULL; i++) {
        f = field(t, launch_keys[i], pt);
        if (f.v != NULL) {
            fail_key(c, &f.p, "only allowed together with \"command\"");
            return false;
        }
    }
    f = field(t, "env", pt);
    if (f.v != NULL && !parse_kv(c, &f, false, &s->env, &s->env_count))
        return false;
    f = field(t, "cwd", pt);
    if (f.v != NULL) {
        const char *cwd = as_string(c, &f, true);
        if (cwd == NULL || (s->cwd = dup_str(c, cwd)) == NULL)
            return false;
    }
    /* Allocation profiling of the launched target: false, true (= "full") or a mode. */
    f = field(t, "trace_allocations", pt);
    if (f.v != NULL) {
        static const char *const modes[] = {"count", "full", "sampled"};
        if (cJSON_IsBool(f.v)) {
            s->trace_allocations = cJSON_IsTrue(f.v) ? 2 : 0;
        } else if (cJSON_IsString(f.v)) {
            int m = AS_ENUM(c, &f, modes);
            if (m < 0)
                return false;
            s->trace_allocations = (uint8_t)(m + 1);
        } else {
            expected(c, f.v, &f.p, "false, true, \"count\", \"full\" or \"sampled\"");
            return false;
        }
    }
    f = field(t, "processes", pt);
    if (f.v != NULL) {
        int pr = AS_ENUM(c, &f, procs);
        if (pr < 0)
            return false;
        s->processes = pr == 0 ? SCN_PROCS_SHARED : SCN_PROCS_PER_VU;
    }

    if (s->transport == SCN_HTTP) {
        f = field(t, "url", pt);
        const char *what = "a URL starting with http:// or https://";
        if (!need(c, &f, what))
            return false;
        const char *url = cJSON_IsString(f.v) ? f.v->valuestring : NULL;
        if (url == NULL || !((strncasecmp(url, "http://", 7) == 0 && url[7] != '\0') ||
                             (strncasecmp(url, "https://", 8) == 0 && url[8] != '\0'))) {
            expected(c, f.v, &f.p, what);
            return false;
        }
        if ((s->url = dup_str(c, url)) == NULL)
            return false;
        f = field(t, "ready_timeout", pt);
        if (f.v != NULL && !as_duration(c, &f, true, &s->ready_timeout_ns))
            return false;
        f = field(t, "headers", pt);
        if (f.v != NULL && !parse_kv(c, &f, true, &s->headers, &s->header_count))
            return false;
    }
    return true;
}

static bool parse_mcp(struct ctx *c, struct scenario *s, const struct field *fm)
{
    static const char *const keys[] = {"protocol_version", "session", "client_name"};
    static const char *const versions[] = {"2025-03-26", "2025-06-18", "2025-11-25"};
    static const char *const sessions[] = {"per_vu", "per_iteration"};
    if (!CHECK_OBJECT(c, fm->v, &fm->p, keys, "an object"))
        return false;
    struct field f = field(fm->v, "protocol_version", &fm->p);
    if (f.v != NULL) {
        int v = AS_ENUM(c, &f, versions);
        if (v < 0)
            return false;
        free(s->protocol_version);
        if ((s->protocol_version = dup_str(c, versions[v])) == NULL)
            return false;
    }
    f = field(fm->v, "session", &fm->p);
    if (f.v != NULL) {
        int v = AS_ENUM(c, &f, sessions);
        if (v < 0)
            return false;
        s->session = v == 0 ? SCN_SESSION_PER_VU : SCN_SESSION_PER_ITERATION;
    }
    f = field(fm->v, "client_name", &fm->p);
    if (f.v != NULL) {
        const char *name = as_string(c, &f, true);
        if (name == NULL)
            return false;
        free(s->client_name);
        if ((s->client_name = dup_str(c, name)) == NULL)
            return false;
    }
    return true;
}

static bool parse_stages(struct ctx *c, struct scenario *s, const struct field *fs)
{
    static const char *const keys[] = {"duration", "target"};
    const char *what = "a non-empty array of {\"duration\", \"target\"} objects";
    if (!cJSON_IsArray(fs->v) || cJSON_GetArraySize(fs->v) == 0) {
        expected(c, fs->v, &fs->p, what);
        return false;
    }
    size_t n = (size_t)cJSON_GetArraySize(fs->v);
    if (n > SCN_MAX_STAGES) {
        fail(c, &fs->p, "expected at most %d stages, found %zu", SCN_MAX_STAGES, n);
        return false;
    }
    s->stages = calloc(n, sizeof *s->stages);
    if (s->stages == NULL) {
        nomem(c);
        return false;
    }
    size_t i = 0;
    for (const cJSON *it = fs->v->child; it != NULL; it = it->next, i++) {
        struct jpath p = elem_path(&fs->p, i);
        if (!CHECK_OBJECT(c, it, &p, keys,
                          "an object like {\"duration\": \"30s\", \"target\": 100}"))
            return false;
        struct field f = field(it, "duration", &p);
        if (!need(c, &f, "a duration") || !as_duration(c, &f, false, &s->stages[i].duration_ns))
            return false;
        f = field(it, "target", &p);
        if (!need(c, &f, "a number >= 0 (requests per second)") ||
            !as_rate(c, &f, false, &s->stages[i].target_rate))
            return false;
        s->stage_count++;
    }
    return true;
}

static bool parse_load(struct ctx *c, struct scenario *s, const struct field *fl)
{
    static const char *const keys[] = {"model", "concurrency",   "duration", "warmup",
                                       "rate",  "max_in_flight", "stages"};
    static const char *const models[] = {"closed", "open"};
    const struct jpath *pl = &fl->p;
    if (!need(c, fl, "an object") || !CHECK_OBJECT(c, fl->v, pl, keys, "an object"))
        return false;
    const cJSON *l = fl->v;

    struct field f = field(l, "model", pl);
    s->model = SCN_CLOSED;
    if (f.v != NULL) {
        int m = AS_ENUM(c, &f, models);
        if (m < 0)
            return false;
        s->model = m == 0 ? SCN_CLOSED : SCN_OPEN;
    }
    struct field fconc = field(l, "concurrency", pl);
    if (fconc.v != NULL && !as_u32(c, &fconc, 1, SCN_MAX_COUNT, &s->concurrency))
        return false;

    if (s->model == SCN_CLOSED) {
        static const char *const open_only[] = {"rate", "max_in_flight", "stages"};
        for (size_t i = 0; i < 3; i++) {
            f = field(l, open_only[i], pl);
            if (f.v != NULL) {
                fail_key(c, &f.p, "only allowed with \"model\": \"open\"");
                return false;
            }
        }
        if (fconc.v == NULL)
            s->concurrency = 1;
    } else {
        struct field fst = field(l, "stages", pl);
        if (fst.v != NULL && !parse_stages(c, s, &fst))
            return false;
        f = field(l, "rate", pl);
        if (f.v == NULL && fst.v == NULL) {
            fail(c, &f.p,
                 "expected a number greater than 0 (requests per second) or "
                 "\"stages\", but the key is missing");
            return false;
        }
        if (f.v != NULL && !as_rate(c, &f, fst.v == NULL, &s->rate))
            return false;
        f = field(l, "max_in_flight", pl);
        s->max_in_flight = fconc.v != NULL ? s->concurrency : 1000;
        if (f.v != NULL && !as_u32(c, &f, 1, SCN_MAX_COUNT, &s->max_in_flight))
            return false;
        if (fconc.v == NULL)
            s->concurrency = s->max_in_flight;
    }

    f = field(l, "duration", pl);
    if (f.v != NULL) {
        if (!as_duration(c, &f, true, &s->duration_ns))
            return false;
    } else if (s->stage_count > 0) {
        uint64_t sum = 0;
        for (size_t i = 0; i < s->stage_count; i++) {
            if (sum > UINT64_MAX - s->stages[i].duration_ns) {
                fail(c, &f.p, "stage durations add up to more than %llu ns",
                     (unsigned long long)UINT64_MAX);
                return false;
            }
            sum += s->stages[i].duration_ns;
        }
        if (sum == 0) {
            struct jpath ps = field(l, "stages", pl).p;
            fail(c, &ps, "stage durations add up to 0; expected a total greater than 0");
            return false;
        }
        s->duration_ns = sum;
    } else {
        expected(c, NULL, &f.p, "a duration like \"10s\"");
        return false;
    }
    f = field(l, "warmup", pl);
    if (f.v != NULL && !as_duration(c, &f, false, &s->warmup_ns))
        return false;
    return true;
}

static bool parse_http(struct ctx *c, struct scenario *s, const struct field *fh)
{
    static const char *const keys[] = {"keepalive", "timeout", "client"};
    static const char *const clients[] = {"native", "curl"};
    if (!CHECK_OBJECT(c, fh->v, &fh->p, keys, "an object"))
        return false;
    struct field f = field(fh->v, "keepalive", &fh->p);
    if (f.v != NULL && !as_bool(c, &f, &s->keepalive))
        return false;
    f = field(fh->v, "timeout", &fh->p);
    if (f.v != NULL && !as_duration(c, &f, true, &s->timeout_ns))
        return false;
    f = field(fh->v, "client", &fh->p);
    if (f.v != NULL) {
        int k = AS_ENUM(c, &f, clients);
        if (k < 0)
            return false;
        s->http_client = k == 0 ? SCN_CLIENT_NATIVE : SCN_CLIENT_CURL;
        /* The native client speaks plain HTTP/1.1; TLS stays with libcurl. */
        if (s->http_client == SCN_CLIENT_NATIVE && s->url != NULL &&
            strncasecmp(s->url, "http://", 7) != 0) {
            fail(c, &f.p, "the native client speaks plain http:// only; use \"curl\" for %s",
                 s->url);
            return false;
        }
    }
    return true;
}

/* ---- steps and their params ---------------------------------------------- */

struct dbuf {
    char *p;
    size_t n;
    size_t cap;
    bool oom;
};

static void db_add(struct dbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void db_str(struct dbuf *b, const char *s)
{
    db_add(b, s, strlen(s));
}

/* Checks the placeholders of one raw string (between its quotes). */
static bool check_template(struct ctx *c, const struct jpath *p, size_t pos, const char *s,
                           size_t n, bool *single)
{
    struct tmpl *t = NULL;
    char terr[200];
    ls_err rc = tmpl_compile(s, n, &t, terr, sizeof terr);
    if (rc == LS_ERR_NOMEM) {
        nomem(c);
        return false;
    }
    if (rc != LS_OK) {
        fail_at(c, p, pos, "bad template: %s", terr);
        return false;
    }
    /* exactly one placeholder and nothing else: "${...}" with a single '}' */
    *single = !tmpl_is_constant(t) && n >= 3 && s[0] == '$' && s[1] == '{' &&
              memchr(s, '}', n) == s + n - 1;
    tmpl_free(t);
    return true;
}

/*
 * Emits the value `v` found at raw offset *pos into b, compacted, walking the
 * cJSON tree and the raw text side by side. `numeric` turns single
 * placeholder strings into bare numbers (tools/call arguments).
 */
static bool emit_value(struct ctx *c, struct dbuf *b, const cJSON *v, const struct jpath *p,
                       size_t *pos, bool numeric)
{
    size_t i = skip_ws(c, *pos);
    if (i >= c->len)
        goto broken;
    if (cJSON_IsString(v)) {
        size_t end = skip_string(c, i);
        bool single = false;
        if (!check_template(c, p, i, c->text + i + 1, end - i - 2, &single))
            return false;
        if (numeric && single)
            db_add(b, c->text + i + 1, end - i - 2);
        else
            db_add(b, c->text + i, end - i);
        *pos = end;
        return true;
    }
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        bool obj = cJSON_IsObject(v);
        if (c->text[i] != (obj ? '{' : '['))
            goto broken;
        db_add(b, obj ? "{" : "[", 1);
        i++;
        size_t k = 0;
        for (const cJSON *it = v->child; it != NULL; it = it->next, k++) {
            struct jpath cp = {p, obj ? it->string : NULL, k, (long)k};
            i = skip_ws(c, i);
            if (k > 0) {
                if (i >= c->len || c->text[i] != ',')
                    goto broken;
                db_add(b, ",", 1);
                i = skip_ws(c, i + 1);
            }
            if (obj) {
                for (const cJSON *prev = v->child; prev != it; prev = prev->next) {
                    if (strcmp(prev->string, it->string) == 0) {
                        fail_at(c, &cp, i, "duplicate key \"%s\"", it->string);
                        return false;
                    }
                }
                size_t kend = skip_string(c, i);
                bool single;
                if (i >= c->len || c->text[i] != '"' ||
                    !check_template(c, &cp, i, c->text + i + 1, kend - i - 2, &single))
                    goto broken_or_reported;
                db_add(b, c->text + i, kend - i);
                db_add(b, ":", 1);
                i = skip_ws(c, kend);
                if (i >= c->len || c->text[i] != ':')
                    goto broken;
                i++;
            }
            if (!emit_value(c, b, it, &cp, &i, numeric))
                return false;
        }
        i = skip_ws(c, i);
        if (i >= c->len || c->text[i] != (obj ? '}' : ']'))
            goto broken;
        db_add(b, obj ? "}" : "]", 1);
        *pos = i + 1;
        return true;
    }
    /* numbers, true, false, null: exactly as written */
    size_t end = skip_value(c, i);
    db_add(b, c->text + i, end - i);
    *pos = end;
    return true;

broken_or_reported:
    if (c->rc != LS_OK)
        return false;
broken:
    fail_at(c, p, i, "internal error: the text and the parsed tree disagree");
    c->rc = LS_ERR_INTERNAL;
    return false;
}

static bool emit_field(struct ctx *c, struct dbuf *b, const struct field *f, bool numeric)
{
    size_t pos = locate(c, &f->p, NULL);
    return emit_value(c, b, f->v, &f->p, &pos, numeric);
}

static const char *const method_names[] = {"tools/call", "tools/list", "resources/read",
                                           "prompts/get", "ping"};
static const enum scn_method method_ids[] = {SCN_TOOLS_CALL, SCN_TOOLS_LIST, SCN_RESOURCES_READ,
                                             SCN_PROMPTS_GET, SCN_PING};

/* Which optional step keys each method takes (same order as method_names). */
static bool method_takes(int m, const char *key)
{
    static const char *const takes[5][2] = {{"tool", "arguments"},
                                            {"cursor", NULL},
                                            {"uri", NULL},
                                            {"prompt", "arguments"},
                                            {NULL, NULL}};
    for (int i = 0; i < 2; i++)
        if (takes[m][i] != NULL && strcmp(takes[m][i], key) == 0)
            return true;
    return false;
}

/* ---- AWS steps and the "aws" object --------------------------------------- */

#define SCN_MAX_OBJECT_BYTES (1ull << 30) /* 1 GiB: one buffer of the largest size is kept */
#define SCN_MAX_SETUP_COUNT 10000000u

static const char *const aws_method_names[] = {
    "dynamodb.GetItem",      "dynamodb.PutItem",        "dynamodb.UpdateItem",
    "dynamodb.DeleteItem",   "dynamodb.Query",          "dynamodb.BatchGetItem",
    "dynamodb.BatchWriteItem", "s3.PutObject",          "s3.GetObject"};
static const enum scn_method aws_method_ids[] = {
    SCN_DDB_GET_ITEM,       SCN_DDB_PUT_ITEM,    SCN_DDB_UPDATE_ITEM,
    SCN_DDB_DELETE_ITEM,    SCN_DDB_QUERY,       SCN_DDB_BATCH_GET_ITEM,
    SCN_DDB_BATCH_WRITE_ITEM, SCN_S3_PUT_OBJECT, SCN_S3_GET_OBJECT};

/* True when a step's "method" names an AWS operation (or tries to: "dynamodb.", "s3."). */
static bool is_aws_method_value(const cJSON *m)
{
    return cJSON_IsString(m) && (strncmp(m->valuestring, "dynamodb.", 9) == 0 ||
                                 strncmp(m->valuestring, "s3.", 3) == 0);
}

/* A JSON integer in [lo, hi] as uint64 (sizes, counts). */
static bool as_u64(struct ctx *c, const struct field *f, uint64_t lo, uint64_t hi, const char *what,
                   uint64_t *out)
{
    const cJSON *v = f->v;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < (double)lo ||
        v->valuedouble > (double)hi) {
        expected(c, v, &f->p, what);
        return false;
    }
    *out = (uint64_t)v->valuedouble;
    return true;
}

static bool as_positive_number(struct ctx *c, const struct field *f, bool zero_ok, const char *what,
                               double *out)
{
    const cJSON *v = f->v;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
        (!zero_ok && v->valuedouble == 0)) {
        expected(c, v, &f->p, what);
        return false;
    }
    *out = v->valuedouble;
    return true;
}

/*
 * An object size: a number of bytes, {"uniform": [LO, HI]},
 * {"lognormal": {"median": M, "sigma": S, "max": MAX}} or
 * {"choices": [{"size": N, "weight": W}, ...]}.
 */
static bool parse_size(struct ctx *c, const struct field *f, struct scn_size *out)
{
    static const char *const keys[] = {"uniform", "lognormal", "choices"};
    const char *what = "a size in bytes, or an object with one of \"uniform\", \"lognormal\" or "
                       "\"choices\"";
    const char *bytes = "a whole number of bytes from 0 to 1073741824";
    if (cJSON_IsNumber(f->v)) {
        out->kind = SCN_SIZE_FIXED;
        if (!as_u64(c, f, 0, SCN_MAX_OBJECT_BYTES, bytes, &out->lo))
            return false;
        out->hi = out->lo;
        return true;
    }
    if (!CHECK_OBJECT(c, f->v, &f->p, keys, what))
        return false;
    if (cJSON_GetArraySize(f->v) != 1) {
        expected(c, f->v, &f->p, "exactly one of \"uniform\", \"lognormal\" or \"choices\"");
        return false;
    }
    struct field u = field(f->v, "uniform", &f->p);
    struct field l = field(f->v, "lognormal", &f->p);
    struct field ch = field(f->v, "choices", &f->p);
    if (u.v != NULL) {
        if (!cJSON_IsArray(u.v) || cJSON_GetArraySize(u.v) != 2) {
            expected(c, u.v, &u.p, "[LO, HI]: two sizes in bytes");
            return false;
        }
        struct field lo = {u.v->child, elem_path(&u.p, 0)};
        struct field hi = {u.v->child->next, elem_path(&u.p, 1)};
        if (!as_u64(c, &lo, 0, SCN_MAX_OBJECT_BYTES, bytes, &out->lo) ||
            !as_u64(c, &hi, 0, SCN_MAX_OBJECT_BYTES, bytes, &out->hi))
            return false;
        if (out->hi < out->lo) {
            fail(c, &hi.p, "expected HI >= LO (%llu), found %llu", (unsigned long long)out->lo,
                 (unsigned long long)out->hi);
            return false;
        }
        out->kind = SCN_SIZE_UNIFORM;
        return true;
    }
    if (l.v != NULL) {
        static const char *const lkeys[] = {"median", "sigma", "max"};
        if (!CHECK_OBJECT(c, l.v, &l.p, lkeys, "an object with \"median\" and \"sigma\""))
            return false;
        struct field m = field(l.v, "median", &l.p);
        struct field sg = field(l.v, "sigma", &l.p);
        struct field mx = field(l.v, "max", &l.p);
        if (!need(c, &m, "a number of bytes greater than 0") ||
            !as_positive_number(c, &m, false, "a number of bytes greater than 0", &out->median))
            return false;
        if (!need(c, &sg, "a number >= 0") ||
            !as_positive_number(c, &sg, true, "a number >= 0", &out->sigma))
            return false;
        if (out->median > (double)SCN_MAX_OBJECT_BYTES) {
            expected(c, m.v, &m.p, bytes);
            return false;
        }
        double def = out->median * 100.0;
        out->hi = def > (double)SCN_MAX_OBJECT_BYTES ? SCN_MAX_OBJECT_BYTES : (uint64_t)def;
        if (mx.v != NULL && !as_u64(c, &mx, 0, SCN_MAX_OBJECT_BYTES, bytes, &out->hi))
            return false;
        out->kind = SCN_SIZE_LOGNORMAL;
        return true;
    }
    if (!cJSON_IsArray(ch.v) || cJSON_GetArraySize(ch.v) == 0) {
        expected(c, ch.v, &ch.p, "a non-empty array of {\"size\": BYTES, \"weight\": W}");
        return false;
    }
    size_t n = (size_t)cJSON_GetArraySize(ch.v);
    out->choices = calloc(n, sizeof *out->choices);
    if (out->choices == NULL) {
        nomem(c);
        return false;
    }
    out->kind = SCN_SIZE_CHOICES;
    size_t i = 0;
    uint64_t total = 0;
    for (const cJSON *it = ch.v->child; it != NULL; it = it->next, i++) {
        static const char *const ckeys[] = {"size", "weight"};
        struct jpath ep = elem_path(&ch.p, i);
        if (!CHECK_OBJECT(c, it, &ep, ckeys, "an object {\"size\": BYTES, \"weight\": W}"))
            return false;
        struct field fs = field(it, "size", &ep);
        struct field fw = field(it, "weight", &ep);
        uint32_t w = 1;
        if (!need(c, &fs, bytes) || !as_u64(c, &fs, 0, SCN_MAX_OBJECT_BYTES, bytes, &out->choices[i].bytes))
            return false;
        if (fw.v != NULL && !as_u32(c, &fw, 1, SCN_MAX_COUNT, &w))
            return false;
        out->choices[i].weight = w;
        out->choice_count = i + 1;
        total += w;
        if (out->choices[i].bytes > out->hi)
            out->hi = out->choices[i].bytes;
    }
    if (total > UINT32_MAX) {
        fail(c, &ch.p, "weights add up to more than %u", UINT32_MAX);
        return false;
    }
    out->weight_total = (uint32_t)total;
    return true;
}

/* Compiles a string value as a template (S3 keys). */
static bool compile_string_template(struct ctx *c, const struct field *f, struct tmpl **out)
{
    const char *s = as_string(c, f, true);
    if (s == NULL)
        return false;
    char terr[200];
    ls_err rc = tmpl_compile(s, strlen(s), out, terr, sizeof terr);
    if (rc == LS_ERR_NOMEM) {
        nomem(c);
        return false;
    }
    if (rc != LS_OK) {
        fail(c, &f->p, "bad template: %s", terr);
        return false;
    }
    return true;
}

/* Emits an object value compactly (placeholders kept as strings) and compiles it. */
static bool compile_json_template(struct ctx *c, const struct field *f, const char *what,
                                  char **text, struct tmpl **out)
{
    struct dbuf b = {0};
    bool ok = false;
    if (!cJSON_IsObject(f->v)) {
        expected(c, f->v, &f->p, what);
        goto out;
    }
    if (!emit_field(c, &b, f, false))
        goto out;
    if (b.oom) {
        nomem(c);
        goto out;
    }
    char terr[200];
    ls_err rc = tmpl_compile(b.p, b.n, out, terr, sizeof terr);
    if (rc == LS_ERR_NOMEM) {
        nomem(c);
        goto out;
    }
    if (rc != LS_OK) {
        fail(c, &f->p, "internal error: request does not compile: %s", terr);
        c->rc = LS_ERR_INTERNAL;
        goto out;
    }
    if (text != NULL) {
        *text = b.p;
        b.p = NULL;
    }
    ok = true;
out:
    free(b.p);
    return ok;
}

/* S3 bucket names: 3-63 of [a-z0-9.-] (path-style requests put them in the path as is). */
static const char *as_bucket(struct ctx *c, const struct field *f)
{
    const char *what = "a bucket name: 3 to 63 of a-z, 0-9, '.' and '-'";
    const char *b = cJSON_IsString(f->v) ? f->v->valuestring : NULL;
    size_t n = b != NULL ? strlen(b) : 0;
    bool ok = n >= 3 && n <= 63;
    for (size_t i = 0; ok && i < n; i++)
        ok = (b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '.' ||
             b[i] == '-';
    if (!ok) {
        expected(c, f->v, &f->p, what);
        return NULL;
    }
    return b;
}

static bool parse_aws_step(struct ctx *c, struct scn_step *st, const cJSON *v, const struct jpath *p)
{
    static const char *const keys[] = {"name", "weight", "method", "request", "bucket", "key", "size"};
    if (!CHECK_OBJECT(c, v, p, keys, "an object with a \"method\""))
        return false;
    struct field f = field(v, "method", p);
    int m = AS_ENUM(c, &f, aws_method_names);
    if (m < 0)
        return false;
    st->method = aws_method_ids[m];
    st->method_name = aws_method_names[m];
    st->aws = calloc(1, sizeof *st->aws);
    if (st->aws == NULL) {
        nomem(c);
        return false;
    }
    bool s3 = strncmp(st->method_name, "s3.", 3) == 0;
    st->aws->service = s3 ? SCN_AWS_S3 : SCN_AWS_DYNAMODB;
    st->aws->op = strchr(st->method_name, '.') + 1;

    /* keys the method does not take */
    for (size_t i = 3; i < sizeof keys / sizeof keys[0]; i++) {
        bool takes = s3 ? (strcmp(keys[i], "request") != 0 &&
                           (strcmp(keys[i], "size") != 0 || st->method == SCN_S3_PUT_OBJECT))
                        : strcmp(keys[i], "request") == 0;
        f = field(v, keys[i], p);
        if (f.v != NULL && !takes) {
            fail_key(c, &f.p, "not allowed for method \"%s\"", st->method_name);
            return false;
        }
    }

    st->weight = 1;
    f = field(v, "weight", p);
    if (f.v != NULL && !as_u32(c, &f, 1, SCN_MAX_COUNT, &st->weight))
        return false;
    f = field(v, "name", p);
    if (f.v != NULL) {
        const char *name = as_string(c, &f, true);
        if (name == NULL)
            return false;
        bool bad = strlen(name) > SCN_MAX_NAME_BYTES;
        for (const char *q = name; *q != '\0' && !bad; q++)
            bad = (unsigned char)*q < 0x20;
        if (bad) {
            expected(c, f.v, &f.p, "a name of at most 128 bytes without control characters");
            return false;
        }
        if ((st->name = dup_str(c, name)) == NULL)
            return false;
    }

    if (!s3) {
        f = field(v, "request", p);
        if (!need(c, &f, "an object (the DynamoDB request JSON)"))
            return false;
        if (!cJSON_IsObject(f.v)) {
            expected(c, f.v, &f.p, "an object (the DynamoDB request JSON)");
            return false;
        }
        bool batch = st->method == SCN_DDB_BATCH_GET_ITEM || st->method == SCN_DDB_BATCH_WRITE_ITEM;
        struct field need_f = field(f.v, batch ? "RequestItems" : "TableName", &f.p);
        if (batch) {
            if (!need(c, &need_f, "an object of tables") ||
                !check_object(c, need_f.v, &need_f.p, NULL, 0, "an object of tables"))
                return false;
            if (need_f.v->child == NULL) {
                expected(c, need_f.v, &need_f.p, "an object with at least one table");
                return false;
            }
        } else if (!need(c, &need_f, "a non-empty string (the table)") ||
                   !as_string(c, &need_f, true)) {
            return false;
        }
        return compile_json_template(c, &f, "an object (the DynamoDB request JSON)",
                                     &st->params_text, &st->aws->request);
    }

    struct field fb = field(v, "bucket", p);
    struct field fk = field(v, "key", p);
    struct field fz = field(v, "size", p);
    if (!need(c, &fb, "a bucket name") || as_bucket(c, &fb) == NULL)
        return false;
    if ((st->aws->bucket = dup_str(c, fb.v->valuestring)) == NULL)
        return false;
    if (!need(c, &fk, "a non-empty string (the object key; placeholders allowed)") ||
        !compile_string_template(c, &fk, &st->aws->key))
        return false;
    struct dbuf b = {0};
    db_str(&b, "{\"bucket\":");
    bool ok = emit_field(c, &b, &fb, false);
    db_str(&b, ",\"key\":");
    ok = ok && emit_field(c, &b, &fk, false);
    if (ok && st->method == SCN_S3_PUT_OBJECT) {
        if (!need(c, &fz, "a size in bytes, or an object with one of \"uniform\", \"lognormal\" or "
                          "\"choices\"") ||
            !parse_size(c, &fz, &st->aws->size)) {
            ok = false;
        } else {
            db_str(&b, ",\"size\":");
            ok = emit_field(c, &b, &fz, false);
        }
    }
    db_str(&b, "}");
    if (ok && b.oom) {
        nomem(c);
        ok = false;
    }
    if (ok) {
        st->params_text = b.p;
        b.p = NULL;
    }
    free(b.p);
    return ok;
}

static bool parse_aws_setup(struct ctx *c, struct scn_aws_setup *a, const cJSON *v,
                            const struct jpath *p)
{
    static const char *const keys[] = {"create_table", "wait_active", "put_items", "create_bucket",
                                       "put_objects"};
    static const char *const actions[] = {"create_table", "put_items", "create_bucket",
                                          "put_objects"};
    const char *what = "an object with one of \"create_table\", \"put_items\", \"create_bucket\" or "
                       "\"put_objects\"";
    if (!CHECK_OBJECT(c, v, p, keys, what))
        return false;
    int which = -1;
    long k = 0;
    for (const cJSON *it = v->child; it != NULL; it = it->next, k++) { /* in file order */
        int i = 0;
        while (i < 4 && strcmp(it->string, actions[i]) != 0)
            i++;
        if (i == 4)
            continue;
        if (which >= 0) {
            struct jpath kp = {p, it->string, 0, k};
            fail_key(c, &kp, "one action per setup entry; this one already has \"%s\"",
                     actions[which]);
            return false;
        }
        which = i;
    }
    if (which < 0) {
        expected(c, v, p, what);
        return false;
    }
    a->ignore_exists = true;
    struct field fw = field(v, "wait_active", p);
    if (fw.v != NULL && which != 0) {
        fail_key(c, &fw.p, "only allowed with \"create_table\"");
        return false;
    }
    struct field f = field(v, actions[which], p);
    switch (which) {
    case 0: {
        a->kind = SCN_SETUP_CREATE_TABLE;
        a->wait_active = true;
        if (fw.v != NULL && !as_bool(c, &fw, &a->wait_active))
            return false;
        if (!cJSON_IsObject(f.v)) {
            expected(c, f.v, &f.p, "an object (the DynamoDB CreateTable request JSON)");
            return false;
        }
        struct field ft = field(f.v, "TableName", &f.p);
        const char *t;
        if (!need(c, &ft, "a non-empty string (the table)") || (t = as_string(c, &ft, true)) == NULL)
            return false;
        if ((a->table = dup_str(c, t)) == NULL)
            return false;
        struct tmpl *tt = NULL;
        bool ok = compile_json_template(c, &f, "an object (the DynamoDB CreateTable request JSON)",
                                        &a->body, &tt);
        tmpl_free(tt);
        return ok;
    }
    case 1: {
        static const char *const pkeys[] = {"table", "count", "item"};
        a->kind = SCN_SETUP_PUT_ITEMS;
        if (!CHECK_OBJECT(c, f.v, &f.p, pkeys, "an object with \"table\", \"count\" and \"item\""))
            return false;
        struct field ft = field(f.v, "table", &f.p);
        struct field fc = field(f.v, "count", &f.p);
        struct field fi = field(f.v, "item", &f.p);
        const char *t;
        if (!need(c, &ft, "a non-empty string (the table)") || (t = as_string(c, &ft, true)) == NULL ||
            (a->table = dup_str(c, t)) == NULL)
            return false;
        if (!need(c, &fc, "a positive integer") || !as_u32(c, &fc, 1, SCN_MAX_SETUP_COUNT, &a->count))
            return false;
        if (!need(c, &fi, "an object (a DynamoDB item: attribute -> typed value)"))
            return false;
        return compile_json_template(c, &fi, "an object (a DynamoDB item: attribute -> typed value)",
                                     NULL, &a->item);
    }
    case 2: {
        a->kind = SCN_SETUP_CREATE_BUCKET;
        const char *b = as_bucket(c, &f);
        return b != NULL && (a->bucket = dup_str(c, b)) != NULL;
    }
    default: {
        static const char *const okeys[] = {"bucket", "count", "key", "size"};
        a->kind = SCN_SETUP_PUT_OBJECTS;
        if (!CHECK_OBJECT(c, f.v, &f.p, okeys,
                          "an object with \"bucket\", \"count\", \"key\" and \"size\""))
            return false;
        struct field fb = field(f.v, "bucket", &f.p);
        struct field fc = field(f.v, "count", &f.p);
        struct field fk = field(f.v, "key", &f.p);
        struct field fz = field(f.v, "size", &f.p);
        const char *b;
        if (!need(c, &fb, "a bucket name") || (b = as_bucket(c, &fb)) == NULL ||
            (a->bucket = dup_str(c, b)) == NULL)
            return false;
        if (!need(c, &fc, "a positive integer") || !as_u32(c, &fc, 1, SCN_MAX_SETUP_COUNT, &a->count))
            return false;
        if (!need(c, &fk, "a non-empty string (the object key; placeholders allowed)") ||
            !compile_string_template(c, &fk, &a->key))
            return false;
        return need(c, &fz, "a size in bytes, or an object with one of \"uniform\", \"lognormal\" "
                            "or \"choices\"") &&
               parse_size(c, &fz, &a->size);
    }
    }
}

static bool parse_aws(struct ctx *c, struct scenario *s, const struct field *fa)
{
    static const char *const keys[] = {"region", "profile", "endpoints", "setup"};
    static const char *const services[] = {"dynamodb", "s3"};
    if (!CHECK_OBJECT(c, fa->v, &fa->p, keys, "an object"))
        return false;
    s->aws = calloc(1, sizeof *s->aws);
    if (s->aws == NULL) {
        nomem(c);
        return false;
    }
    struct scn_aws *a = s->aws;
    struct field f = field(fa->v, "region", &fa->p);
    const char *str;
    if (f.v != NULL && ((str = as_string(c, &f, true)) == NULL || (a->region = dup_str(c, str)) == NULL))
        return false;
    f = field(fa->v, "profile", &fa->p);
    if (f.v != NULL && ((str = as_string(c, &f, true)) == NULL || (a->profile = dup_str(c, str)) == NULL))
        return false;
    f = field(fa->v, "endpoints", &fa->p);
    if (f.v != NULL) {
        if (!CHECK_OBJECT(c, f.v, &f.p, services, "an object of service -> URL"))
            return false;
        for (int i = 0; i < SCN_AWS__SERVICES; i++) {
            struct field fe = field(f.v, services[i], &f.p);
            if (fe.v == NULL)
                continue;
            const char *what = "a URL starting with http:// or https://";
            const char *url = cJSON_IsString(fe.v) ? fe.v->valuestring : NULL;
            if (url == NULL || !((strncasecmp(url, "http://", 7) == 0 && url[7] != '\0') ||
                                 (strncasecmp(url, "https://", 8) == 0 && url[8] != '\0'))) {
                expected(c, fe.v, &fe.p, what);
                return false;
            }
            if ((a->endpoint[i] = dup_str(c, url)) == NULL)
                return false;
        }
    }
    f = field(fa->v, "setup", &fa->p);
    if (f.v != NULL) {
        if (!cJSON_IsArray(f.v)) {
            expected(c, f.v, &f.p, "an array of setup actions");
            return false;
        }
        size_t n = (size_t)cJSON_GetArraySize(f.v);
        a->setup = calloc(n ? n : 1, sizeof *a->setup);
        if (a->setup == NULL) {
            nomem(c);
            return false;
        }
        size_t i = 0;
        for (const cJSON *it = f.v->child; it != NULL; it = it->next, i++) {
            struct jpath p = elem_path(&f.p, i);
            a->setup_count = i + 1;
            if (!parse_aws_setup(c, &a->setup[i], it, &p))
                return false;
            if (a->setup[i].kind == SCN_SETUP_PUT_OBJECTS && a->setup[i].size.hi > a->max_object_bytes)
                a->max_object_bytes = a->setup[i].size.hi;
        }
    }
    return true;
}

/*
 * After steps, target and "aws" are read: MCP steps need an MCP target,
 * "transport": "aws" needs AWS steps; the largest object is noted.
 */
static bool check_aws_mix(struct ctx *c, struct scenario *s, const cJSON *root)
{
    struct jpath pr = {NULL, NULL, 0, 0};
    struct field fs = field(root, "steps", &pr);
    size_t i = 0;
    uint64_t max_obj = s->aws != NULL ? s->aws->max_object_bytes : 0;
    for (const cJSON *it = fs.v->child; it != NULL && i < s->step_count; it = it->next, i++) {
        const struct scn_step *st = &s->steps[i];
        if (st->aws != NULL) {
            s->has_aws_steps = true;
            if (st->method == SCN_S3_PUT_OBJECT && st->aws->size.hi > max_obj)
                max_obj = st->aws->size.hi;
        } else {
            s->has_mcp_steps = true;
            if (s->transport == SCN_AWS) {
                struct jpath ps = elem_path(&fs.p, i);
                struct field fm = field(it, "method", &ps);
                fail(c, &fm.p,
                     "MCP method \"%s\" needs an MCP target; \"transport\": \"aws\" runs AWS "
                     "steps only (\"dynamodb.*\", \"s3.*\")",
                     st->method_name);
                return false;
            }
        }
    }
    if (s->transport == SCN_AWS && !s->has_aws_steps) {
        expected(c, fs.v, &fs.p, "at least one AWS step with \"transport\": \"aws\"");
        return false;
    }
    if (s->aws != NULL)
        s->aws->max_object_bytes = max_obj;
    else if (s->has_aws_steps && max_obj > 0) {
        s->aws = calloc(1, sizeof *s->aws);
        if (s->aws == NULL) {
            nomem(c);
            return false;
        }
        s->aws->max_object_bytes = max_obj;
    }
    return true;
}

static void free_size(struct scn_size *z)
{
    free(z->choices);
}

static void free_aws(struct scenario *s)
{
    for (size_t i = 0; i < s->step_count; i++) {
        struct scn_aws_step *a = s->steps[i].aws;
        if (a == NULL)
            continue;
        tmpl_free(a->request);
        free(a->bucket);
        tmpl_free(a->key);
        free_size(&a->size);
        free(a);
    }
    if (s->aws == NULL)
        return;
    for (size_t i = 0; i < s->aws->setup_count; i++) {
        struct scn_aws_setup *a = &s->aws->setup[i];
        free(a->body);
        free(a->table);
        tmpl_free(a->item);
        free(a->bucket);
        tmpl_free(a->key);
        free_size(&a->size);
    }
    free(s->aws->setup);
    free(s->aws->region);
    free(s->aws->profile);
    for (int i = 0; i < SCN_AWS__SERVICES; i++)
        free(s->aws->endpoint[i]);
    free(s->aws);
}

static bool parse_step(struct ctx *c, struct scn_step *st, const cJSON *v, const struct jpath *p)
{
    if (cJSON_IsObject(v) && is_aws_method_value(cJSON_GetObjectItemCaseSensitive(v, "method")))
        return parse_aws_step(c, st, v, p);
    static const char *const keys[] = {"name",      "weight", "method", "tool",
                                       "arguments", "uri",    "prompt", "cursor"};
    if (!CHECK_OBJECT(c, v, p, keys, "an object with a \"method\""))
        return false;
    struct field f = field(v, "method", p);
    if (!need(c, &f, "a method name"))
        return false;
    int m = AS_ENUM(c, &f, method_names);
    if (m < 0)
        return false;
    st->method = method_ids[m];
    st->method_name = method_names[m];

    /* keys that the method does not take */
    for (size_t i = 3; i < sizeof keys / sizeof keys[0]; i++) {
        f = field(v, keys[i], p);
        if (f.v != NULL && !method_takes(m, keys[i])) {
            fail_key(c, &f.p, "not allowed for method \"%s\"", method_names[m]);
            return false;
        }
    }

    st->weight = 1;
    f = field(v, "weight", p);
    if (f.v != NULL && !as_u32(c, &f, 1, SCN_MAX_COUNT, &st->weight))
        return false;

    f = field(v, "name", p);
    if (f.v != NULL) {
        const char *name = as_string(c, &f, true);
        if (name == NULL)
            return false;
        bool bad = strlen(name) > SCN_MAX_NAME_BYTES;
        for (const char *q = name; *q != '\0' && !bad; q++)
            bad = (unsigned char)*q < 0x20;
        if (bad) {
            expected(c, f.v, &f.p, "a name of at most 128 bytes without control characters");
            return false;
        }
        if ((st->name = dup_str(c, name)) == NULL)
            return false;
    }

    struct dbuf b = {0};
    bool ok = false;
    struct field fa = field(v, "arguments", p);
    switch (st->method) {
    case SCN_TOOLS_CALL:
        f = field(v, "tool", p);
        if (!need(c, &f, "a non-empty string (the tool to call)") || !as_string(c, &f, true))
            goto out;
        db_str(&b, "{\"name\":");
        if (!emit_field(c, &b, &f, false))
            goto out;
        db_str(&b, ",\"arguments\":");
        if (fa.v == NULL) {
            db_str(&b, "{}");
        } else {
            if (!cJSON_IsObject(fa.v)) {
                expected(c, fa.v, &fa.p, "an object");
                goto out;
            }
            if (!emit_field(c, &b, &fa, true))
                goto out;
        }
        db_str(&b, "}");
        break;
    case SCN_TOOLS_LIST:
        f = field(v, "cursor", p);
        if (f.v == NULL) {
            db_str(&b, "{}");
            break;
        }
        if (!as_string(c, &f, false))
            goto out;
        db_str(&b, "{\"cursor\":");
        if (!emit_field(c, &b, &f, false))
            goto out;
        db_str(&b, "}");
        break;
    case SCN_RESOURCES_READ:
        f = field(v, "uri", p);
        if (!need(c, &f, "a non-empty string (the resource URI)") || !as_string(c, &f, true))
            goto out;
        db_str(&b, "{\"uri\":");
        if (!emit_field(c, &b, &f, false))
            goto out;
        db_str(&b, "}");
        break;
    case SCN_PROMPTS_GET:
        f = field(v, "prompt", p);
        if (!need(c, &f, "a non-empty string (the prompt name)") || !as_string(c, &f, true))
            goto out;
        db_str(&b, "{\"name\":");
        if (!emit_field(c, &b, &f, false))
            goto out;
        if (fa.v != NULL) {
            if (!check_object(c, fa.v, &fa.p, NULL, 0, "an object of strings"))
                goto out;
            long k = 0;
            for (const cJSON *it = fa.v->child; it != NULL; it = it->next, k++) {
                struct jpath ap = {&fa.p, it->string, 0, k};
                if (!cJSON_IsString(it)) {
                    expected(c, it, &ap, "a string (prompt arguments are strings)");
                    goto out;
                }
            }
            db_str(&b, ",\"arguments\":");
            if (!emit_field(c, &b, &fa, false))
                goto out;
        }
        db_str(&b, "}");
        break;
    case SCN_PING:
        ok = true;
        goto out;
    default: /* AWS methods are read by parse_aws_step */
        goto out;
    }
    if (b.oom) {
        nomem(c);
        goto out;
    }
    char terr[200];
    ls_err rc = tmpl_compile(b.p, b.n, &st->params, terr, sizeof terr);
    if (rc == LS_ERR_NOMEM) {
        nomem(c);
        goto out;
    }
    if (rc != LS_OK) { /* each string was checked; only a bug gets here */
        fail(c, p, "internal error: params do not compile: %s", terr);
        c->rc = LS_ERR_INTERNAL;
        goto out;
    }
    st->params_text = b.p;
    b.p = NULL;
    ok = true;
out:
    free(b.p);
    return ok;
}

/*
 * Names unnamed steps after their method; when another unnamed step has the
 * same method or a step is explicitly named so, "#INDEX" is appended.
 */
static bool name_steps(struct ctx *c, struct scenario *s, const cJSON *arr,
                       const struct jpath *psteps)
{
    bool *unnamed = calloc(s->step_count, sizeof *unnamed);
    if (unnamed == NULL) {
        nomem(c);
        return false;
    }
    for (size_t i = 0; i < s->step_count; i++)
        unnamed[i] = s->steps[i].name == NULL;
    bool ok = false;
    for (size_t i = 0; i < s->step_count; i++) {
        struct scn_step *st = &s->steps[i];
        if (!unnamed[i])
            continue;
        bool clash = false;
        for (size_t j = 0; j < s->step_count && !clash; j++) {
            if (j == i)
                continue;
            if (unnamed[j])
                clash = s->steps[j].method == st->method;
            else
                clash = strcmp(s->steps[j].name, st->method_name) == 0;
        }
        char tmp[64];
        if (clash)
            snprintf(tmp, sizeof tmp, "%s#%zu", st->method_name, i);
        else
            snprintf(tmp, sizeof tmp, "%s", st->method_name);
        if ((st->name = dup_str(c, tmp)) == NULL)
            goto out;
    }
    size_t i = 0;
    for (const cJSON *it = arr->child; it != NULL && i < s->step_count; it = it->next, i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(s->steps[i].name, s->steps[j].name) == 0) {
                struct jpath pi = elem_path(psteps, i);
                struct field f = field(it, "name", &pi);
                fail(c, &f.p,
                     "duplicate step name \"%s\" (also $.steps[%zu]); step names must "
                     "be unique",
                     s->steps[i].name, j);
                goto out;
            }
        }
    }
    ok = true;
out:
    free(unnamed);
    return ok;
}

static bool parse_steps(struct ctx *c, struct scenario *s, const struct field *fs)
{
    const char *what = "a non-empty array of steps";
    if (!need(c, fs, what))
        return false;
    if (!cJSON_IsArray(fs->v) || cJSON_GetArraySize(fs->v) == 0) {
        expected(c, fs->v, &fs->p, what);
        return false;
    }
    size_t n = (size_t)cJSON_GetArraySize(fs->v);
    if (n > SCN_MAX_STEPS) {
        fail(c, &fs->p, "expected at most %d steps, found %zu", SCN_MAX_STEPS, n);
        return false;
    }
    s->steps = calloc(n, sizeof *s->steps);
    if (s->steps == NULL) {
        nomem(c);
        return false;
    }
    size_t i = 0;
    uint64_t total = 0;
    for (const cJSON *it = fs->v->child; it != NULL; it = it->next, i++) {
        struct jpath p = elem_path(&fs->p, i);
        s->step_count = i + 1;
        if (!parse_step(c, &s->steps[i], it, &p))
            return false;
        total += s->steps[i].weight;
    }
    if (total > UINT32_MAX) {
        fail(c, &fs->p, "step weights add up to %llu; expected at most %u",
             (unsigned long long)total, UINT32_MAX);
        return false;
    }
    s->weight_total = (uint32_t)total;
    return name_steps(c, s, fs->v, &fs->p);
}

/* ---- thresholds ---------------------------------------------------------- */

/* Plain decimal: digits with at most one '.', at least one digit. */
static bool plain_number(const char *s, size_t n, double *out)
{
    char tmp[64];
    size_t digits = 0, dots = 0;
    if (n == 0 || n >= sizeof tmp)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (is_digit(s[i]))
            digits++;
        else if (s[i] == '.')
            dots++;
        else
            return false;
    }
    if (digits == 0 || dots > 1)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    *out = strtod(tmp, NULL);
    return true;
}

/* Parses "METRIC OP VALUE"; on failure writes the reason into why. */
static bool parse_check(const char *text, struct scn_threshold *th, char *why, size_t cap)
{
    const char *p = text;
    while (*p == ' ')
        p++;
    const char *m = p;
    while (*p != '\0' && *p != ' ' && *p != '<' && *p != '>' && *p != '=')
        p++;
    size_t mlen = (size_t)(p - m);
    bool latency = true;
    if (mlen == 4 && memcmp(m, "mean", 4) == 0) {
        th->metric = SCN_M_MEAN;
    } else if (mlen == 3 && memcmp(m, "max", 3) == 0) {
        th->metric = SCN_M_MAX;
    } else if (mlen == 10 && memcmp(m, "error_rate", 10) == 0) {
        th->metric = SCN_M_ERROR_RATE;
        latency = false;
    } else if (mlen == 4 && memcmp(m, "rate", 4) == 0) {
        th->metric = SCN_M_RATE;
        latency = false;
    } else if (mlen >= 2 && m[0] == 'p' && plain_number(m + 1, mlen - 1, &th->percentile) &&
               th->percentile > 0 && th->percentile <= 100) {
        th->metric = SCN_M_PERCENTILE;
    } else {
        snprintf(why, cap,
                 "unknown metric \"%.*s\"; expected pNN (like p99 or p99.9), mean, max, "
                 "error_rate or rate",
                 (int)(mlen > 40 ? 40 : mlen), m);
        return false;
    }
    while (*p == ' ')
        p++;
    if (p[0] == '<' && p[1] == '=') {
        th->cmp = SCN_LE;
        p += 2;
    } else if (p[0] == '>' && p[1] == '=') {
        th->cmp = SCN_GE;
        p += 2;
    } else if (p[0] == '<') {
        th->cmp = SCN_LT;
        p++;
    } else if (p[0] == '>') {
        th->cmp = SCN_GT;
        p++;
    } else {
        snprintf(why, cap, "expected <, <=, > or >= after \"%.*s\"", (int)(mlen > 40 ? 40 : mlen),
                 m);
        return false;
    }
    while (*p == ' ')
        p++;
    const char *val = p;
    size_t vlen = strlen(val);
    while (vlen > 0 && val[vlen - 1] == ' ')
        vlen--;
    char vbuf[64];
    if (vlen == 0) {
        snprintf(why, cap, "expected a value after the operator");
        return false;
    }
    if (vlen >= sizeof vbuf || memchr(val, ' ', vlen) != NULL || strchr("<>=", val[0]) != NULL) {
        snprintf(why, cap, "expected a single value after the operator, found \"%.*s\"",
                 (int)(vlen > 40 ? 40 : vlen), val);
        return false;
    }
    memcpy(vbuf, val, vlen);
    vbuf[vlen] = '\0';
    if (latency) {
        uint64_t ns;
        if (!scenario_parse_duration(vbuf, &ns)) {
            snprintf(why, cap, "\"%s\" is not a duration (like 50ms or 1.5s)", vbuf);
            return false;
        }
        th->limit = (double)ns;
    } else if (th->metric == SCN_M_ERROR_RATE) {
        double x;
        bool pct = vbuf[vlen - 1] == '%';
        if (!plain_number(vbuf, pct ? vlen - 1 : vlen, &x) || x > (pct ? 100.0 : 1.0)) {
            snprintf(why, cap, "\"%s\" is not an error rate (like 1%% or 0.01)", vbuf);
            return false;
        }
        th->limit = pct ? x / 100.0 : x;
    } else {
        double x;
        bool per_s = vlen > 2 && strcmp(vbuf + vlen - 2, "/s") == 0;
        if (!plain_number(vbuf, per_s ? vlen - 2 : vlen, &x)) {
            snprintf(why, cap, "\"%s\" is not a rate in requests per second (like 200)", vbuf);
            return false;
        }
        th->limit = x;
    }
    return true;
}

static bool parse_thresholds(struct ctx *c, struct scenario *s, const struct field *ft)
{
    static const char *const keys[] = {"step", "check"};
    if (!cJSON_IsArray(ft->v)) {
        expected(c, ft->v, &ft->p, "an array of checks like \"p99 < 50ms\"");
        return false;
    }
    size_t n = (size_t)cJSON_GetArraySize(ft->v);
    s->thresholds = calloc(n > 0 ? n : 1, sizeof *s->thresholds);
    if (s->thresholds == NULL) {
        nomem(c);
        return false;
    }
    size_t i = 0;
    for (const cJSON *it = ft->v->child; it != NULL; it = it->next, i++) {
        struct jpath p = elem_path(&ft->p, i);
        struct scn_threshold *th = &s->thresholds[i];
        struct field fc = {it, p};
        th->step = -1;
        if (cJSON_IsObject(it)) {
            if (!CHECK_OBJECT(c, it, &p, keys, "an object"))
                return false;
            struct field f = field(it, "step", &p);
            const char *name;
            if (!need(c, &f, "a step name") || (name = as_string(c, &f, true)) == NULL)
                return false;
            th->step = scenario_step_index(s, name);
            if (th->step < 0) {
                const char *names[64];
                size_t k = 0;
                for (; k < s->step_count && k < 64; k++)
                    names[k] = s->steps[k].name;
                const char *sug = suggest(name, names, k);
                char tmp[64];
                if (sug != NULL)
                    fail(c, &f.p, "no step named %s; did you mean \"%s\"?",
                         found(c, f.v, &f.p, tmp, sizeof tmp), sug);
                else
                    fail(c, &f.p, "no step named %s", found(c, f.v, &f.p, tmp, sizeof tmp));
                return false;
            }
            fc = field(it, "check", &p);
            if (!need(c, &fc, "a check like \"p99 < 50ms\""))
                return false;
        }
        if (!cJSON_IsString(fc.v)) {
            expected(c, fc.v, &fc.p,
                     "a check like \"p99 < 50ms\" or {\"step\": ..., \"check\": ...}");
            return false;
        }
        char why[200];
        if (!parse_check(fc.v->valuestring, th, why, sizeof why)) {
            char tmp[64];
            fail(c, &fc.p, "bad check %s: %s", found(c, fc.v, &fc.p, tmp, sizeof tmp), why);
            return false;
        }
        if ((th->text = dup_str(c, fc.v->valuestring)) == NULL)
            return false;
        s->threshold_count++;
    }
    return true;
}

/* ---- the whole file ------------------------------------------------------ */

static bool parse_root(struct ctx *c, struct scenario *s, const cJSON *root)
{
    static const char *const keys[] = {"name", "target", "mcp",        "load",
                                       "http", "steps",  "thresholds", "aws"};
    struct jpath pr = {NULL, NULL, 0, 0};
    if (!CHECK_OBJECT(c, root, &pr, keys, "an object"))
        return false;

    struct field f = field(root, "name", &pr);
    if (f.v != NULL) {
        const char *name = as_string(c, &f, true);
        if (name == NULL || (s->name = dup_str(c, name)) == NULL)
            return false;
    } else {
        /* the file name without directory and ".json" */
        const char *base = strrchr(c->file, '/');
        base = base != NULL ? base + 1 : c->file;
        size_t n = strlen(base);
        if (n > 5 && strcmp(base + n - 5, ".json") == 0)
            n -= 5;
        if (n == 0) {
            base = "scenario";
            n = 8;
        }
        s->name = strndup(base, n);
        if (s->name == NULL) {
            nomem(c);
            return false;
        }
    }

    f = field(root, "target", &pr);
    if (!parse_target(c, s, &f))
        return false;
    f = field(root, "mcp", &pr);
    if (f.v != NULL && !parse_mcp(c, s, &f))
        return false;
    f = field(root, "load", &pr);
    if (!parse_load(c, s, &f))
        return false;
    f = field(root, "http", &pr);
    if (f.v != NULL && !parse_http(c, s, &f))
        return false;
    f = field(root, "steps", &pr);
    if (!parse_steps(c, s, &f))
        return false;
    f = field(root, "thresholds", &pr);
    if (f.v != NULL && !parse_thresholds(c, s, &f))
        return false;
    f = field(root, "aws", &pr);
    if (f.v != NULL && !parse_aws(c, s, &f))
        return false;
    return check_aws_mix(c, s, root);
}

ls_err scenario_parse(const char *name, const char *text, size_t len, struct scenario **out,
                      char *err, size_t errcap)
{
    struct ctx c = {name != NULL ? name : "scenario", NULL, len, err, errcap, LS_OK};
    cJSON *root = NULL;
    struct scenario *s = NULL;

    *out = NULL;
    if (err != NULL && errcap > 0)
        err[0] = '\0';
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        nomem(&c);
        goto out;
    }
    s->text = malloc(len + 1);
    s->path = strdup(c.file);
    s->protocol_version = strdup("2025-11-25");
    s->client_name = strdup("loadscope");
    if (s->text == NULL || s->path == NULL || s->protocol_version == NULL ||
        s->client_name == NULL) {
        nomem(&c);
        goto out;
    }
    memcpy(s->text, text, len);
    s->text[len] = '\0';
    c.text = s->text;
    s->processes = SCN_PROCS_SHARED;
    s->session = SCN_SESSION_PER_VU;
    s->keepalive = true;
    s->timeout_ns = 30 * NS_PER_S;
    s->ready_timeout_ns = 15 * NS_PER_S;

    const char *nul = memchr(text, '\0', len);
    size_t at = 0;
    char what[128];
    if (nul != NULL) {
        fail_syntax(&c, (size_t)(nul - text), "NUL byte");
        goto out;
    }
    if (!json_check(&c, &at, what, sizeof what)) {
        fail_syntax(&c, at, what);
        goto out;
    }
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(s->text, len + 1, &end, 1);
    if (root == NULL) {
        /* json_check accepted it, so cJSON ran out of memory or hit a limit */
        size_t pos = end != NULL && end >= s->text ? (size_t)(end - s->text) : 0;
        fail_syntax(&c, pos, "rejected by the JSON parser here");
        goto out;
    }
    parse_root(&c, s, root);

out:
    cJSON_Delete(root);
    if (c.rc != LS_OK) {
        scenario_free(s);
        return c.rc;
    }
    *out = s;
    return LS_OK;
}

ls_err scenario_load(const char *path, struct scenario **out, char *err, size_t errcap)
{
    ls_err rc = LS_OK;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    FILE *f = fopen(path, "rb");

    *out = NULL;
    if (f == NULL) {
        if (err != NULL && errcap > 0)
            snprintf(err, errcap, "%s: cannot open: %s", path, strerror(errno));
        return LS_ERR_IO;
    }
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                rc = LS_ERR_NOMEM;
                if (err != NULL && errcap > 0)
                    snprintf(err, errcap, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
        if (n > SCN_MAX_FILE_BYTES) {
            rc = LS_ERR_INVALID;
            if (err != NULL && errcap > 0)
                snprintf(err, errcap, "%s: file too large (more than %u bytes)", path,
                         SCN_MAX_FILE_BYTES);
            goto out;
        }
    }
    if (ferror(f)) {
        rc = LS_ERR_IO;
        if (err != NULL && errcap > 0)
            snprintf(err, errcap, "%s: read failed: %s", path, strerror(errno));
        goto out;
    }
    rc = scenario_parse(path, buf != NULL ? buf : "", n, out, err, errcap);
out:
    free(buf);
    fclose(f);
    return rc;
}

static void free_kv(struct scn_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

void scenario_free(struct scenario *s)
{
    if (s == NULL)
        return;
    free(s->path);
    free(s->text);
    free(s->name);
    for (char **a = s->command; a != NULL && *a != NULL; a++)
        free(*a);
    free(s->command);
    free_kv(s->env, s->env_count);
    free(s->cwd);
    free(s->url);
    free_kv(s->headers, s->header_count);
    free(s->protocol_version);
    free(s->client_name);
    free(s->stages);
    free_aws(s);
    for (size_t i = 0; i < s->step_count; i++) {
        free(s->steps[i].name);
        free(s->steps[i].params_text);
        tmpl_free(s->steps[i].params);
    }
    free(s->steps);
    for (size_t i = 0; i < s->threshold_count; i++)
        free(s->thresholds[i].text);
    free(s->thresholds);
    free(s);
}

double scenario_rate_at(const struct scenario *s, uint64_t t_ns)
{
    if (s->model != SCN_OPEN)
        return 0;
    double from = s->rate;
    uint64_t start = 0;
    for (size_t i = 0; i < s->stage_count; i++) {
        uint64_t d = s->stages[i].duration_ns;
        double to = s->stages[i].target_rate;
        if (t_ns - start < d) /* t_ns >= start always holds here */
            return from + (to - from) * ((double)(t_ns - start) / (double)d);
        from = to;
        start = d > UINT64_MAX - start ? UINT64_MAX : start + d;
        if (t_ns < start)
            return from;
    }
    return from;
}

int scenario_step_index(const struct scenario *s, const char *name)
{
    for (size_t i = 0; i < s->step_count; i++)
        if (s->steps[i].name != NULL && strcmp(s->steps[i].name, name) == 0)
            return (int)i;
    return -1;
}
