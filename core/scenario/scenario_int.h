/*
 * scenario_int: what the parts of the scenario loader share. Private to
 * core/scenario*.c; no other file includes it.
 *
 * The loader is split by responsibility:
 *   scenario.c             entry points, the root object, durations, freeing
 *   scenario_json.c        the raw text: strict RFC 8259 check, finding a
 *                          path's value, line and column
 *   scenario_field.c       messages ("FILE:LINE:COL: $.path: ..."), "did you
 *                          mean" suggestions and the typed field readers
 *   scenario_target.c      "target", "mcp", "load" (with "stages"), "http"
 *   scenario_steps.c       "steps": params emitted from the raw text, templates
 *   scenario_thresholds.c  "thresholds"
 *   scenario_aws.c         AWS steps and the "aws" object
 *   scenario_downstream.c  the target's "downstream" and "downstream_faults"
 * One struct ctx carries the text and the first error through all of them:
 * a reader that refuses a value reports it with scn_fail*() / scn_expected()
 * and returns false (NULL, -1), and the first report wins.
 */
#ifndef LS_SCENARIO_INT_H
#define LS_SCENARIO_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "scenario/scenario.h"
#include "util/dynbuf.h"

#define SCN_MAX_COUNT 1000000u /* concurrency, max_in_flight, weight */
#define SCN_MAX_NAME_BYTES 128

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

/* A member looked up by scn_field(): its value and its path. */
struct field {
    const cJSON *v; /* NULL when the key is missing */
    struct jpath p;
};

/* Emitted request JSON is at most this long (it is a compact copy of part of the file). */
#define SCN_MAX_EMIT_BYTES ((size_t)(32u << 20))

static inline bool scn_is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* ---- scenario_json.c: the raw text ---------------------------------------- */

/* Index of the first non-blank byte at or after i. */
size_t scn_skip_ws(const struct ctx *c, size_t i);
/* i at an opening quote; returns the index after the closing quote. */
size_t scn_skip_string(const struct ctx *c, size_t i);
/* i at the start of a value in already-validated text; returns its end. */
size_t scn_skip_value(const struct ctx *c, size_t i);
/*
 * Offset of the value at path p (or of its parent when the key is missing);
 * *keypos, when given, receives the offset of the member's key.
 */
size_t scn_locate(const struct ctx *c, const struct jpath *p, size_t *keypos);
/* 1-based line and column (in characters) of byte offset pos. */
void scn_line_col(const struct ctx *c, size_t pos, unsigned *line, unsigned *col);
/*
 * Checks that the text is exactly one JSON value (RFC 8259). On an error
 * returns false with *at the offset and what[] the description.
 */
bool scn_json_check(const struct ctx *c, size_t *at, char *what, size_t cap);

/* ---- scenario_field.c: messages and typed access -------------------------- */

/* Reports at offset pos, naming path p. */
void scn_fail_at(struct ctx *c, const struct jpath *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Reports at the value (or, for a missing key, at the enclosing object). */
void scn_fail(struct ctx *c, const struct jpath *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reports at the member's key: for unknown, duplicate and misplaced keys. */
void scn_fail_key(struct ctx *c, const struct jpath *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Syntax errors have no JSON path: "FILE:LINE:COL: invalid JSON: WHAT". */
void scn_fail_syntax(struct ctx *c, size_t pos, const char *what);
void scn_nomem(struct ctx *c);
/* Short description of a value as written, for "found ..."; may return buf. */
const char *scn_found(const struct ctx *c, const cJSON *v, const struct jpath *p, char *buf,
                      size_t cap);
/* "expected WHAT, found X" or, for a missing key, "expected WHAT, but the key is missing" */
void scn_expected(struct ctx *c, const cJSON *v, const struct jpath *p, const char *what);
/* The closest name within two edits (and fewer edits than its length), or NULL. */
const char *scn_suggest(const char *word, const char *const *names, size_t count);

/* The member `key` of obj (v NULL when missing), its path below up. */
struct field scn_field(const cJSON *obj, const char *key, const struct jpath *up);
struct jpath scn_elem_path(const struct jpath *up, size_t index);
/*
 * Checks that v is an object whose keys are all in `allowed` (any key when
 * allowed is NULL) and unique. `what` describes the object for the type error.
 */
bool scn_check_object(struct ctx *c, const cJSON *v, const struct jpath *p,
                      const char *const *allowed, size_t nallowed, const char *what);
#define CHECK_OBJECT(c, v, p, keys, what)                                                          \
    scn_check_object((c), (v), (p), (keys), sizeof(keys) / sizeof((keys)[0]), (what))
/* False, after "expected WHAT, but the key is missing", when f is missing. */
bool scn_need(struct ctx *c, const struct field *f, const char *what);
/* The readers below report and return false (NULL, -1) on a wrong value. */
const char *scn_as_string(struct ctx *c, const struct field *f, bool nonempty);
bool scn_as_u32(struct ctx *c, const struct field *f, uint32_t lo, uint32_t hi, uint32_t *out);
/* A finite number >= 0 (or > 0 when positive is set). */
bool scn_as_rate(struct ctx *c, const struct field *f, bool positive, double *out);
bool scn_as_bool(struct ctx *c, const struct field *f, bool *out);
/* Durations are strings ("1m30s") or JSON numbers of seconds. */
bool scn_as_duration(struct ctx *c, const struct field *f, bool positive, uint64_t *out);
/* Returns the index of the string value among names, or -1 after reporting. */
int scn_as_enum(struct ctx *c, const struct field *f, const char *const *names, size_t count);
#define AS_ENUM(c, f, names) scn_as_enum((c), (f), (names), sizeof(names) / sizeof((names)[0]))
/* strdup that reports out of memory; the caller owns the copy. */
char *scn_dup_str(struct ctx *c, const char *s);

/* ---- scenario_target.c ---------------------------------------------------- */

bool scn_parse_target(struct ctx *c, struct scenario *s, const struct field *ft);
bool scn_parse_mcp(struct ctx *c, struct scenario *s, const struct field *fm);
bool scn_parse_load(struct ctx *c, struct scenario *s, const struct field *fl);
/* After scn_parse_target: "client": "native" needs an http:// URL. */
bool scn_parse_http(struct ctx *c, struct scenario *s, const struct field *fh);

/* ---- scenario_steps.c ----------------------------------------------------- */

/* Appends s to emitted JSON; a failure is sticky in b (checked once, by scn_emit_done()). */
void scn_db_str(struct dynbuf *b, const char *s);
/*
 * Appends f's value compactly, copied from the raw text (numbers as
 * written); `numeric` writes strings that are exactly one placeholder
 * without quotes. Checks every string's placeholders.
 */
bool scn_emit_field(struct ctx *c, struct dynbuf *b, const struct field *f, bool numeric);
/* False, after reporting out of memory, when an append to b failed. */
bool scn_emit_done(struct ctx *c, const struct dynbuf *b);
/* Compiles a non-empty string value as a template (S3 keys); *out is the caller's. */
bool scn_compile_string_template(struct ctx *c, const struct field *f, struct tmpl **out);
/*
 * Emits an object value compactly (placeholders kept as strings) and
 * compiles it into *out; *text, when given, receives the emitted JSON.
 * Both are the caller's.
 */
bool scn_compile_json_template(struct ctx *c, const struct field *f, const char *what, char **text,
                               struct tmpl **out);
/* Reads "steps", names the unnamed ones and sets weight_total. */
/* A step's "weight" (default 1) and "name", the keys MCP and AWS steps share. */
bool scn_step_weight_name(struct ctx *c, struct scn_step *st, const cJSON *v, const struct jpath *p);
bool scn_parse_steps(struct ctx *c, struct scenario *s, const struct field *fs);

/* ---- scenario_thresholds.c ------------------------------------------------ */

/* After scn_parse_steps: a check may name a step. */
bool scn_parse_thresholds(struct ctx *c, struct scenario *s, const struct field *ft);

/* ---- scenario_aws.c ------------------------------------------------------- */

/* True when a step's "method" names an AWS operation (or tries to: "dynamodb.", "s3."). */
bool scn_is_aws_method_value(const cJSON *m);
bool scn_parse_aws_step(struct ctx *c, struct scn_step *st, const cJSON *v, const struct jpath *p);
bool scn_parse_aws(struct ctx *c, struct scenario *s, const struct field *fa);
/*
 * After steps, target and "aws" are read: MCP steps need an MCP target,
 * "transport": "aws" needs AWS steps; the largest object is noted.
 */
bool scn_check_aws_mix(struct ctx *c, struct scenario *s, const cJSON *root);
/* Frees the steps' st->aws and s->aws (NULL-safe). */
void scn_free_aws(struct scenario *s);

/* ---- scenario_downstream.c ------------------------------------------------ */

/* "downstream" and "downstream_faults" of the target object t (path pt); s->command is read. */
bool scn_parse_downstream(struct ctx *c, struct scenario *s, const cJSON *t, const struct jpath *pt);
/* Frees s->downstream (NULL-safe). */
void scn_free_downstream(struct scenario *s);

#endif
