/*
 * scenario_field: messages and typed access for the scenario loader.
 *
 * Every refusal is one line, "FILE:LINE:COL: $.json.path: what was found
 * and what was expected", with a "did you mean" for near misses among the
 * names allowed at that spot. The readers here (scn_field, scn_check_object,
 * scn_as_*) look a member up in cJSON's tree, check its type and range, and
 * on a wrong value report it through struct ctx and return false; the first
 * report wins.
 */
#include "scenario/scenario_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_SHOWN_BYTES 255 /* of a JSON path in a message; longer paths are cut */

/* Appends to a path being formatted; a failure is sticky in b (the path is then left out). */
static void sb_add(struct dynbuf *b, const char *s, size_t n)
{
    if (dyn_addn(b, s, n) != LS_OK)
        return;
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

static void path_fmt(const struct jpath *p, struct dynbuf *b)
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
    char msg[768];
    struct dynbuf path;
    dyn_init(&path, SCN_MAX_EMIT_BYTES);
    path_fmt(p, &path);
    vsnprintf(msg, sizeof msg, fmt, ap);
    unsigned line, col;
    scn_line_col(c, pos, &line, &col);
    snprintf(c->err, c->errcap, "%s:%u:%u: %.*s: %s", c->file, line, col, PATH_SHOWN_BYTES,
             dyn_ptr(&path) ? dyn_ptr(&path) : "$", msg);
    dyn_free(&path);
}

void scn_fail_at(struct ctx *c, const struct jpath *p, size_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(c, p, pos, fmt, ap);
    va_end(ap);
}

/* Reports at the value (or, for a missing key, at the enclosing object). */
void scn_fail(struct ctx *c, const struct jpath *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(c, p, scn_locate(c, p, NULL), fmt, ap);
    va_end(ap);
}

/* Reports at the member's key: for unknown, duplicate and misplaced keys. */
void scn_fail_key(struct ctx *c, const struct jpath *p, const char *fmt, ...)
{
    size_t kp = 0;
    va_list ap;
    scn_locate(c, p, &kp);
    va_start(ap, fmt);
    vfail_at(c, p, kp, fmt, ap);
    va_end(ap);
}

/* Syntax errors have no JSON path: "FILE:LINE:COL: invalid JSON: WHAT". */
void scn_fail_syntax(struct ctx *c, size_t pos, const char *what)
{
    if (c->rc != LS_OK)
        return;
    c->rc = LS_ERR_INVALID;
    if (c->err == NULL || c->errcap == 0)
        return;
    unsigned line, col;
    scn_line_col(c, pos, &line, &col);
    snprintf(c->err, c->errcap, "%s:%u:%u: invalid JSON: %s", c->file, line, col, what);
}

void scn_nomem(struct ctx *c)
{
    if (c->rc != LS_OK)
        return;
    c->rc = LS_ERR_NOMEM;
    if (c->err != NULL && c->errcap > 0)
        snprintf(c->err, c->errcap, "%s: out of memory", c->file);
}

/* Short description of a value as written, for "found ..." */
const char *scn_found(const struct ctx *c, const cJSON *v, const struct jpath *p, char *buf,
                      size_t cap)
{
    if (cJSON_IsObject(v))
        return "an object";
    if (cJSON_IsArray(v))
        return v->child != NULL ? "an array" : "an empty array";
    size_t at = scn_locate(c, p, NULL);
    size_t n = scn_skip_value(c, at) - at;
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
void scn_expected(struct ctx *c, const cJSON *v, const struct jpath *p, const char *what)
{
    char tmp[64];
    if (v == NULL)
        scn_fail(c, p, "expected %s, but the key is missing", what);
    else
        scn_fail(c, p, "expected %s, found %s", what, scn_found(c, v, p, tmp, sizeof tmp));
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
const char *scn_suggest(const char *word, const char *const *names, size_t count)
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

/* Writes `"a", "b" or "c"` into buf (cut to cap). */
static void name_list(const char *const *names, size_t count, char *buf, size_t cap)
{
    struct dynbuf b;
    dyn_init(&b, SCN_MAX_EMIT_BYTES);
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            sb_add(&b, i + 1 == count ? " or " : ", ", i + 1 == count ? 4 : 2);
        sb_add(&b, "\"", 1);
        sb_add(&b, names[i], strlen(names[i]));
        sb_add(&b, "\"", 1);
    }
    snprintf(buf, cap, "%s", dyn_ptr(&b) ? dyn_ptr(&b) : "");
    dyn_free(&b);
}

/* ---- typed access -------------------------------------------------------- */

struct field scn_field(const cJSON *obj, const char *key, const struct jpath *up)
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

struct jpath scn_elem_path(const struct jpath *up, size_t index)
{
    struct jpath p = {up, NULL, index, (long)index};
    return p;
}

/*
 * Checks that v is an object whose keys are all in `allowed` and unique.
 * `what` describes the object for the type error.
 */
bool scn_check_object(struct ctx *c, const cJSON *v, const struct jpath *p,
                      const char *const *allowed, size_t nallowed, const char *what)
{
    if (!cJSON_IsObject(v)) {
        scn_expected(c, v, p, what);
        return false;
    }
    long k = 0;
    for (const cJSON *it = v->child; it != NULL; it = it->next, k++) {
        struct jpath kp = {p, it->string, 0, k};
        bool known = allowed == NULL;
        for (size_t i = 0; i < nallowed && !known; i++)
            known = strcmp(it->string, allowed[i]) == 0;
        if (!known) {
            const char *s = scn_suggest(it->string, allowed, nallowed);
            if (s != NULL) {
                scn_fail_key(c, &kp, "unknown key \"%s\"; did you mean \"%s\"?", it->string, s);
            } else {
                char list[512];
                name_list(allowed, nallowed, list, sizeof list);
                scn_fail_key(c, &kp, "unknown key \"%s\"; expected %s", it->string, list);
            }
            return false;
        }
        for (const cJSON *prev = v->child; prev != it; prev = prev->next) {
            if (strcmp(prev->string, it->string) == 0) {
                scn_fail_key(c, &kp, "duplicate key \"%s\"", it->string);
                return false;
            }
        }
    }
    return true;
}

bool scn_need(struct ctx *c, const struct field *f, const char *what)
{
    if (f->v != NULL)
        return true;
    scn_expected(c, NULL, &f->p, what);
    return false;
}

const char *scn_as_string(struct ctx *c, const struct field *f, bool nonempty)
{
    if (!cJSON_IsString(f->v) || (nonempty && f->v->valuestring[0] == '\0')) {
        scn_expected(c, f->v, &f->p, nonempty ? "a non-empty string" : "a string");
        return NULL;
    }
    return f->v->valuestring;
}

bool scn_as_u32(struct ctx *c, const struct field *f, uint32_t lo, uint32_t hi, uint32_t *out)
{
    const cJSON *v = f->v;
    if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && v->valuedouble > hi) {
        char tmp[64];
        scn_fail(c, &f->p, "expected an integer no larger than %u, found %s", hi,
                 scn_found(c, v, &f->p, tmp, sizeof tmp));
        return false;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo) {
        char what[64];
        if (lo == 1)
            snprintf(what, sizeof what, "a positive integer");
        else
            snprintf(what, sizeof what, "an integer from %u to %u", lo, hi);
        scn_expected(c, v, &f->p, what);
        return false;
    }
    *out = (uint32_t)v->valuedouble;
    return true;
}

/* A finite number >= 0 (or > 0 when positive is set). */
bool scn_as_rate(struct ctx *c, const struct field *f, bool positive, double *out)
{
    const cJSON *v = f->v;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
        (positive && v->valuedouble == 0)) {
        scn_expected(c, v, &f->p,
                     positive ? "a number greater than 0 (requests per second)"
                              : "a number >= 0 (requests per second)");
        return false;
    }
    *out = v->valuedouble;
    return true;
}

bool scn_as_bool(struct ctx *c, const struct field *f, bool *out)
{
    if (!cJSON_IsBool(f->v)) {
        scn_expected(c, f->v, &f->p, "true or false");
        return false;
    }
    *out = cJSON_IsTrue(f->v);
    return true;
}

/* Durations are strings ("1m30s") or JSON numbers of seconds. */
bool scn_as_duration(struct ctx *c, const struct field *f, bool positive, uint64_t *out)
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
        scn_expected(c, v, &f->p,
                     "a duration like \"10s\", \"250ms\" or \"1m30s\", or a number of seconds");
        return false;
    }
    if (positive && ns == 0) {
        scn_expected(c, v, &f->p, "a duration greater than 0");
        return false;
    }
    *out = ns;
    return true;
}

/* Returns the index of the string value among names, or -1 after reporting. */
int scn_as_enum(struct ctx *c, const struct field *f, const char *const *names, size_t count)
{
    char list[256];
    char tmp[64];
    name_list(names, count, list, sizeof list);
    if (!cJSON_IsString(f->v)) {
        char what[300];
        snprintf(what, sizeof what, "one of %s", list);
        scn_expected(c, f->v, &f->p, what);
        return -1;
    }
    for (size_t i = 0; i < count; i++)
        if (strcmp(f->v->valuestring, names[i]) == 0)
            return (int)i;
    const char *s = scn_suggest(f->v->valuestring, names, count);
    if (s != NULL)
        scn_fail(c, &f->p, "expected one of %s, found %s; did you mean \"%s\"?", list,
                 scn_found(c, f->v, &f->p, tmp, sizeof tmp), s);
    else
        scn_fail(c, &f->p, "expected one of %s, found %s", list,
                 scn_found(c, f->v, &f->p, tmp, sizeof tmp));
    return -1;
}

char *scn_dup_str(struct ctx *c, const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        scn_nomem(c);
    return d;
}
