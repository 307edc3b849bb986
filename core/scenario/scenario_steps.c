/*
 * scenario_steps: the scenario's "steps" and their request params.
 *
 * Request params are emitted from the raw text rather than from cJSON's
 * doubles so numbers reach the server exactly as written; every string is
 * checked as a template on the way. A string inside tools/call arguments
 * that is exactly one placeholder ("${rand:1:9}") is emitted without
 * quotes, so numeric tool arguments can be randomised. AWS steps are handed
 * to scenario_aws.c, which uses the emitters and template compilers here.
 * Unnamed steps are named after their method once all are read.
 */
#include "scenario/scenario_int.h"

#include "scenario/mcp_methods.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCN_MAX_STEPS 65000

/* Appends to emitted JSON; a failure stays in b and is reported once, by scn_emit_done(). */
static void db_add(struct dynbuf *b, const char *s, size_t n)
{
    if (dyn_addn(b, s, n) != LS_OK)
        return; /* sticky: dyn_error(b) says it */
}

void scn_db_str(struct dynbuf *b, const char *s)
{
    db_add(b, s, strlen(s));
}

bool scn_emit_done(struct ctx *c, const struct dynbuf *b)
{
    if (dyn_error(b) == LS_OK)
        return true;
    scn_nomem(c);
    return false;
}

/* Checks the placeholders of one raw string (between its quotes). */
static bool check_template(struct ctx *c, const struct jpath *p, size_t pos, const char *s,
                           size_t n, bool *single)
{
    struct tmpl *t = NULL;
    char terr[200];
    ls_err rc = tmpl_compile(s, n, &t, terr, sizeof terr);
    if (rc == LS_ERR_NOMEM) {
        scn_nomem(c);
        return false;
    }
    if (rc != LS_OK) {
        scn_fail_at(c, p, pos, "bad template: %s", terr);
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
static bool emit_value(struct ctx *c, struct dynbuf *b, const cJSON *v, const struct jpath *p,
                       size_t *pos, bool numeric)
{
    size_t i = scn_skip_ws(c, *pos);
    if (i >= c->len)
        goto broken;
    if (cJSON_IsString(v)) {
        size_t end = scn_skip_string(c, i);
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
            i = scn_skip_ws(c, i);
            if (k > 0) {
                if (i >= c->len || c->text[i] != ',')
                    goto broken;
                db_add(b, ",", 1);
                i = scn_skip_ws(c, i + 1);
            }
            if (obj) {
                for (const cJSON *prev = v->child; prev != it; prev = prev->next) {
                    if (strcmp(prev->string, it->string) == 0) {
                        scn_fail_at(c, &cp, i, "duplicate key \"%s\"", it->string);
                        return false;
                    }
                }
                size_t kend = scn_skip_string(c, i);
                bool single;
                if (i >= c->len || c->text[i] != '"' ||
                    !check_template(c, &cp, i, c->text + i + 1, kend - i - 2, &single))
                    goto broken_or_reported;
                db_add(b, c->text + i, kend - i);
                db_add(b, ":", 1);
                i = scn_skip_ws(c, kend);
                if (i >= c->len || c->text[i] != ':')
                    goto broken;
                i++;
            }
            if (!emit_value(c, b, it, &cp, &i, numeric))
                return false;
        }
        i = scn_skip_ws(c, i);
        if (i >= c->len || c->text[i] != (obj ? '}' : ']'))
            goto broken;
        db_add(b, obj ? "}" : "]", 1);
        *pos = i + 1;
        return true;
    }
    /* numbers, true, false, null: exactly as written */
    size_t end = scn_skip_value(c, i);
    db_add(b, c->text + i, end - i);
    *pos = end;
    return true;

broken_or_reported:
    if (c->rc != LS_OK)
        return false;
broken:
    scn_fail_at(c, p, i, "internal error: the text and the parsed tree disagree");
    c->rc = LS_ERR_INTERNAL;
    return false;
}

bool scn_emit_field(struct ctx *c, struct dynbuf *b, const struct field *f, bool numeric)
{
    size_t pos = scn_locate(c, &f->p, NULL);
    return emit_value(c, b, f->v, &f->p, &pos, numeric);
}

/* Compiles a string value as a template (S3 keys). */
bool scn_compile_string_template(struct ctx *c, const struct field *f, struct tmpl **out)
{
    const char *s = scn_as_string(c, f, true);
    if (s == NULL)
        return false;
    char terr[200];
    ls_err rc = tmpl_compile(s, strlen(s), out, terr, sizeof terr);
    if (rc == LS_ERR_NOMEM) {
        scn_nomem(c);
        return false;
    }
    if (rc != LS_OK) {
        scn_fail(c, &f->p, "bad template: %s", terr);
        return false;
    }
    return true;
}

/* Emits an object value compactly (placeholders kept as strings) and compiles it. */
bool scn_compile_json_template(struct ctx *c, const struct field *f, const char *what, char **text,
                               struct tmpl **out)
{
    struct dynbuf b;
    bool ok = false;
    dyn_init(&b, SCN_MAX_EMIT_BYTES);
    if (!cJSON_IsObject(f->v)) {
        scn_expected(c, f->v, &f->p, what);
        goto out;
    }
    if (!scn_emit_field(c, &b, f, false) || !scn_emit_done(c, &b))
        goto out;
    char terr[200];
    ls_err rc = tmpl_compile(dyn_ptr(&b), dyn_len(&b), out, terr, sizeof terr);
    if (rc == LS_ERR_NOMEM) {
        scn_nomem(c);
        goto out;
    }
    if (rc != LS_OK) {
        scn_fail(c, &f->p, "internal error: request does not compile: %s", terr);
        c->rc = LS_ERR_INTERNAL;
        goto out;
    }
    if (text != NULL) {
        *text = dyn_take(&b, NULL);
        if (*text == NULL) {
            scn_nomem(c);
            goto out;
        }
    }
    ok = true;
out:
    dyn_free(&b);
    return ok;
}

/* A step's "weight" (default 1) and "name", the keys MCP and AWS steps share. */
bool scn_step_weight_name(struct ctx *c, struct scn_step *st, const cJSON *v, const struct jpath *p)
{
    struct field f;
    st->weight = 1;
    f = scn_field(v, "weight", p);
    if (f.v != NULL && !scn_as_u32(c, &f, 1, SCN_MAX_COUNT, &st->weight))
        return false;

    f = scn_field(v, "name", p);
    if (f.v != NULL) {
        const char *name = scn_as_string(c, &f, true);
        if (name == NULL)
            return false;
        bool bad = strlen(name) > SCN_MAX_NAME_BYTES;
        for (const char *q = name; *q != '\0' && !bad; q++)
            bad = (unsigned char)*q < 0x20;
        if (bad) {
            scn_expected(c, f.v, &f.p, "a name of at most 128 bytes without control characters");
            return false;
        }
        if ((st->name = scn_dup_str(c, name)) == NULL)
            return false;
    }
    return true;
}

/*
 * The keys an MCP step may have: its own, then every key some method takes,
 * in table order. Returns how many were written to keys (cap >= 3 + all).
 */
static size_t mcp_step_keys(const char **keys, size_t cap)
{
    size_t n = 0;
    keys[n++] = "name";
    keys[n++] = "weight";
    keys[n++] = "method";
    for (size_t m = 0; m < mcp_method_count; m++) {
        for (size_t k = 0; k < MCP_METHOD_MAX_KEYS && mcp_methods[m].keys[k] != NULL; k++) {
            bool seen = false;
            for (size_t i = 0; i < n && !seen; i++)
                seen = strcmp(keys[i], mcp_methods[m].keys[k]) == 0;
            if (!seen && n < cap)
                keys[n++] = mcp_methods[m].keys[k];
        }
    }
    return n;
}

static bool method_takes(const struct mcp_method *m, const char *key)
{
    for (size_t k = 0; k < MCP_METHOD_MAX_KEYS && m->keys[k] != NULL; k++)
        if (strcmp(m->keys[k], key) == 0)
            return true;
    return false;
}

/* Compiles the params the method's row builds from the step into st->params. */
static bool build_params(struct ctx *c, struct scn_step *st, const cJSON *v, const struct jpath *p)
{
    struct dynbuf b;
    bool ok = false;
    dyn_init(&b, SCN_MAX_EMIT_BYTES);
    if (!st->mcp->params(c, &b, v, p) || !scn_emit_done(c, &b))
        goto out;
    char terr[200];
    ls_err rc = tmpl_compile(dyn_ptr(&b), dyn_len(&b), &st->params, terr, sizeof terr);
    if (rc == LS_ERR_NOMEM) {
        scn_nomem(c);
        goto out;
    }
    if (rc != LS_OK) { /* each string was checked; only a bug gets here */
        scn_fail(c, p, "internal error: params do not compile: %s", terr);
        c->rc = LS_ERR_INTERNAL;
        goto out;
    }
    st->params_text = dyn_take(&b, NULL);
    if (st->params_text == NULL) {
        scn_nomem(c);
        goto out;
    }
    ok = true;
out:
    dyn_free(&b);
    return ok;
}

static bool parse_step(struct ctx *c, struct scn_step *st, const cJSON *v, const struct jpath *p)
{
    if (cJSON_IsObject(v) && scn_is_aws_method_value(cJSON_GetObjectItemCaseSensitive(v, "method")))
        return scn_parse_aws_step(c, st, v, p);
    const char *keys[3 + MCP_METHOD_MAX * MCP_METHOD_MAX_KEYS];
    size_t nkeys = mcp_step_keys(keys, sizeof keys / sizeof keys[0]);
    if (!scn_check_object(c, v, p, keys, nkeys, "an object with a \"method\""))
        return false;
    struct field f = scn_field(v, "method", p);
    if (!scn_need(c, &f, "a method name"))
        return false;
    const char *names[MCP_METHOD_MAX];
    for (size_t i = 0; i < mcp_method_count; i++)
        names[i] = mcp_methods[i].name;
    int m = scn_as_enum(c, &f, names, mcp_method_count);
    if (m < 0)
        return false;
    st->mcp = &mcp_methods[m];
    st->method = st->mcp->id;
    st->method_name = st->mcp->name;

    /* keys that the method does not take */
    for (size_t i = 3; i < nkeys; i++) {
        f = scn_field(v, keys[i], p);
        if (f.v != NULL && !method_takes(st->mcp, keys[i])) {
            scn_fail_key(c, &f.p, "not allowed for method \"%s\"", st->method_name);
            return false;
        }
    }
    if (!scn_step_weight_name(c, st, v, p))
        return false;
    return st->mcp->params == NULL || build_params(c, st, v, p);
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
        scn_nomem(c);
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
        if ((st->name = scn_dup_str(c, tmp)) == NULL)
            goto out;
    }
    size_t i = 0;
    for (const cJSON *it = arr->child; it != NULL && i < s->step_count; it = it->next, i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(s->steps[i].name, s->steps[j].name) == 0) {
                struct jpath pi = scn_elem_path(psteps, i);
                struct field f = scn_field(it, "name", &pi);
                scn_fail(c, &f.p,
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

bool scn_parse_steps(struct ctx *c, struct scenario *s, const struct field *fs)
{
    const char *what = "a non-empty array of steps";
    if (!scn_need(c, fs, what))
        return false;
    if (!cJSON_IsArray(fs->v) || cJSON_GetArraySize(fs->v) == 0) {
        scn_expected(c, fs->v, &fs->p, what);
        return false;
    }
    size_t n = (size_t)cJSON_GetArraySize(fs->v);
    if (n > SCN_MAX_STEPS) {
        scn_fail(c, &fs->p, "expected at most %d steps, found %zu", SCN_MAX_STEPS, n);
        return false;
    }
    s->steps = calloc(n, sizeof *s->steps);
    if (s->steps == NULL) {
        scn_nomem(c);
        return false;
    }
    size_t i = 0;
    uint64_t total = 0;
    for (const cJSON *it = fs->v->child; it != NULL; it = it->next, i++) {
        struct jpath p = scn_elem_path(&fs->p, i);
        s->step_count = i + 1;
        if (!parse_step(c, &s->steps[i], it, &p))
            return false;
        total += s->steps[i].weight;
    }
    if (total > UINT32_MAX) {
        scn_fail(c, &fs->p, "step weights add up to %llu; expected at most %u",
                 (unsigned long long)total, UINT32_MAX);
        return false;
    }
    s->weight_total = (uint32_t)total;
    return name_steps(c, s, fs->v, &fs->p);
}
