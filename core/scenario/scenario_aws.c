/*
 * scenario_aws: AWS steps ("dynamodb.GetItem" ... "s3.GetObject") and the
 * top-level "aws" object (region, profile, endpoints, setup actions).
 *
 * DynamoDB request bodies keep their placeholders as strings (DynamoDB
 * numbers are strings); S3 steps take a bucket, a key template and, for
 * PutObject, a size distribution. scn_check_aws_mix() runs last: MCP steps
 * need an MCP target, "transport": "aws" needs AWS steps, and the largest
 * object any step or setup can put is noted.
 */
#include "scenario/scenario_int.h"

#include "scenario/aws_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SCN_MAX_OBJECT_BYTES (1ull << 30) /* 1 GiB: one buffer of the largest size is kept */
#define SCN_MAX_SETUP_COUNT 10000000u

/* True when a step's "method" names an AWS operation (or tries to: "dynamodb.", "s3."). */
bool scn_is_aws_method_value(const cJSON *m)
{
    return cJSON_IsString(m) &&
           (strncmp(m->valuestring, "dynamodb.", 9) == 0 || strncmp(m->valuestring, "s3.", 3) == 0);
}

/* A JSON integer in [lo, hi] as uint64 (sizes, counts). */
static bool as_u64(struct ctx *c, const struct field *f, uint64_t lo, uint64_t hi, const char *what,
                   uint64_t *out)
{
    const cJSON *v = f->v;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < (double)lo || v->valuedouble > (double)hi) {
        scn_expected(c, v, &f->p, what);
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
        scn_expected(c, v, &f->p, what);
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
        scn_expected(c, f->v, &f->p, "exactly one of \"uniform\", \"lognormal\" or \"choices\"");
        return false;
    }
    struct field u = scn_field(f->v, "uniform", &f->p);
    struct field l = scn_field(f->v, "lognormal", &f->p);
    struct field ch = scn_field(f->v, "choices", &f->p);
    if (u.v != NULL) {
        if (!cJSON_IsArray(u.v) || cJSON_GetArraySize(u.v) != 2) {
            scn_expected(c, u.v, &u.p, "[LO, HI]: two sizes in bytes");
            return false;
        }
        struct field lo = {u.v->child, scn_elem_path(&u.p, 0)};
        struct field hi = {u.v->child->next, scn_elem_path(&u.p, 1)};
        if (!as_u64(c, &lo, 0, SCN_MAX_OBJECT_BYTES, bytes, &out->lo) ||
            !as_u64(c, &hi, 0, SCN_MAX_OBJECT_BYTES, bytes, &out->hi))
            return false;
        if (out->hi < out->lo) {
            scn_fail(c, &hi.p, "expected HI >= LO (%llu), found %llu", (unsigned long long)out->lo,
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
        struct field m = scn_field(l.v, "median", &l.p);
        struct field sg = scn_field(l.v, "sigma", &l.p);
        struct field mx = scn_field(l.v, "max", &l.p);
        if (!scn_need(c, &m, "a number of bytes greater than 0") ||
            !as_positive_number(c, &m, false, "a number of bytes greater than 0", &out->median))
            return false;
        if (!scn_need(c, &sg, "a number >= 0") ||
            !as_positive_number(c, &sg, true, "a number >= 0", &out->sigma))
            return false;
        if (out->median > (double)SCN_MAX_OBJECT_BYTES) {
            scn_expected(c, m.v, &m.p, bytes);
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
        scn_expected(c, ch.v, &ch.p, "a non-empty array of {\"size\": BYTES, \"weight\": W}");
        return false;
    }
    size_t n = (size_t)cJSON_GetArraySize(ch.v);
    out->choices = calloc(n, sizeof *out->choices);
    if (out->choices == NULL) {
        scn_nomem(c);
        return false;
    }
    out->kind = SCN_SIZE_CHOICES;
    size_t i = 0;
    uint64_t total = 0;
    for (const cJSON *it = ch.v->child; it != NULL; it = it->next, i++) {
        static const char *const ckeys[] = {"size", "weight"};
        struct jpath ep = scn_elem_path(&ch.p, i);
        if (!CHECK_OBJECT(c, it, &ep, ckeys, "an object {\"size\": BYTES, \"weight\": W}"))
            return false;
        struct field fs = scn_field(it, "size", &ep);
        struct field fw = scn_field(it, "weight", &ep);
        uint32_t w = 1;
        if (!scn_need(c, &fs, bytes) ||
            !as_u64(c, &fs, 0, SCN_MAX_OBJECT_BYTES, bytes, &out->choices[i].bytes))
            return false;
        if (fw.v != NULL && !scn_as_u32(c, &fw, 1, SCN_MAX_COUNT, &w))
            return false;
        out->choices[i].weight = w;
        out->choice_count = i + 1;
        total += w;
        if (out->choices[i].bytes > out->hi)
            out->hi = out->choices[i].bytes;
    }
    if (total > UINT32_MAX) {
        scn_fail(c, &ch.p, "weights add up to more than %u", UINT32_MAX);
        return false;
    }
    out->weight_total = (uint32_t)total;
    return true;
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
        scn_expected(c, f->v, &f->p, what);
        return NULL;
    }
    return b;
}

/* The keys an AWS step may have: its own, then every key some operation takes, in table order. */
static size_t aws_step_keys(const char **keys, size_t cap)
{
    size_t n = 0;
    keys[n++] = "name";
    keys[n++] = "weight";
    keys[n++] = "method";
    for (size_t o = 0; o < aws_op_count; o++) {
        for (size_t k = 0; k < AWS_OP_MAX_KEYS && aws_ops[o].keys[k] != NULL; k++) {
            bool seen = false;
            for (size_t i = 0; i < n && !seen; i++)
                seen = strcmp(keys[i], aws_ops[o].keys[k]) == 0;
            if (!seen && n < cap)
                keys[n++] = aws_ops[o].keys[k];
        }
    }
    return n;
}

static bool op_takes(const struct aws_op *op, const char *key)
{
    for (size_t k = 0; k < AWS_OP_MAX_KEYS && op->keys[k] != NULL; k++)
        if (strcmp(op->keys[k], key) == 0)
            return true;
    return false;
}

/* A DynamoDB step's "request": an object with the member its operation needs. */
static bool parse_ddb_request(struct ctx *c, struct scn_step *st, const cJSON *v,
                              const struct jpath *p)
{
    const struct aws_op *op = st->aws->row;
    struct field f = scn_field(v, "request", p);
    if (!scn_need(c, &f, "an object (the DynamoDB request JSON)"))
        return false;
    if (!cJSON_IsObject(f.v)) {
        scn_expected(c, f.v, &f.p, "an object (the DynamoDB request JSON)");
        return false;
    }
    struct field need_f = scn_field(f.v, op->needs, &f.p);
    if (op->batch) {
        if (!scn_need(c, &need_f, "an object of tables") ||
            !scn_check_object(c, need_f.v, &need_f.p, NULL, 0, "an object of tables"))
            return false;
        if (need_f.v->child == NULL) {
            scn_expected(c, need_f.v, &need_f.p, "an object with at least one table");
            return false;
        }
    } else if (!scn_need(c, &need_f, "a non-empty string (the table)") ||
               !scn_as_string(c, &need_f, true)) {
        return false;
    }
    return scn_compile_json_template(c, &f, "an object (the DynamoDB request JSON)",
                                     &st->params_text, &st->aws->request);
}

static bool parse_s3_object(struct ctx *c, struct scn_step *st, const cJSON *v,
                            const struct jpath *p);

bool scn_parse_aws_step(struct ctx *c, struct scn_step *st, const cJSON *v, const struct jpath *p)
{
    const char *keys[3 + AWS_OP_MAX * AWS_OP_MAX_KEYS];
    size_t nkeys = aws_step_keys(keys, sizeof keys / sizeof keys[0]);
    if (!scn_check_object(c, v, p, keys, nkeys, "an object with a \"method\""))
        return false;
    const char *names[AWS_OP_MAX];
    const struct aws_op *rows[AWS_OP_MAX];
    size_t nnames = 0;
    for (size_t i = 0; i < aws_op_count; i++) {
        if (aws_ops[i].method != NULL) {
            rows[nnames] = &aws_ops[i];
            names[nnames++] = aws_ops[i].method;
        }
    }
    struct field f = scn_field(v, "method", p);
    int m = scn_as_enum(c, &f, names, nnames);
    if (m < 0)
        return false;
    const struct aws_op *op = rows[m];
    st->method = op->id;
    st->method_name = op->method;
    st->aws = calloc(1, sizeof *st->aws);
    if (st->aws == NULL) {
        scn_nomem(c);
        return false;
    }
    st->aws->row = op;
    st->aws->service = op->service;
    st->aws->op = op->name;

    /* keys the method does not take */
    for (size_t i = 3; i < nkeys; i++) {
        f = scn_field(v, keys[i], p);
        if (f.v != NULL && !op_takes(op, keys[i])) {
            scn_fail_key(c, &f.p, "not allowed for method \"%s\"", st->method_name);
            return false;
        }
    }

    if (!scn_step_weight_name(c, st, v, p))
        return false;
    if (op->body == AWS_BODY_REQUEST)
        return parse_ddb_request(c, st, v, p);
    return parse_s3_object(c, st, v, p);
}

/* An S3 step's "bucket", "key" and, when it puts an object, "size". */
static bool parse_s3_object(struct ctx *c, struct scn_step *st, const cJSON *v,
                            const struct jpath *p)
{
    struct field fb = scn_field(v, "bucket", p);
    struct field fk = scn_field(v, "key", p);
    struct field fz = scn_field(v, "size", p);
    if (!scn_need(c, &fb, "a bucket name") || as_bucket(c, &fb) == NULL)
        return false;
    if ((st->aws->bucket = scn_dup_str(c, fb.v->valuestring)) == NULL)
        return false;
    if (!scn_need(c, &fk, "a non-empty string (the object key; placeholders allowed)") ||
        !scn_compile_string_template(c, &fk, &st->aws->key))
        return false;
    struct dynbuf b;
    dyn_init(&b, SCN_MAX_EMIT_BYTES);
    scn_db_str(&b, "{\"bucket\":");
    bool ok = scn_emit_field(c, &b, &fb, false);
    scn_db_str(&b, ",\"key\":");
    ok = ok && scn_emit_field(c, &b, &fk, false);
    if (ok && st->aws->row->body == AWS_BODY_OBJECT) {
        if (!scn_need(c, &fz,
                      "a size in bytes, or an object with one of \"uniform\", \"lognormal\" or "
                      "\"choices\"") ||
            !parse_size(c, &fz, &st->aws->size)) {
            ok = false;
        } else {
            scn_db_str(&b, ",\"size\":");
            ok = scn_emit_field(c, &b, &fz, false);
        }
    }
    scn_db_str(&b, "}");
    ok = ok && scn_emit_done(c, &b);
    if (ok) {
        st->params_text = dyn_take(&b, NULL);
        if (st->params_text == NULL) {
            scn_nomem(c);
            ok = false;
        }
    }
    dyn_free(&b);
    return ok;
}

static bool parse_aws_setup(struct ctx *c, struct scn_aws_setup *a, const cJSON *v,
                            const struct jpath *p)
{
    static const char *const keys[] = {"create_table", "wait_active", "put_items", "create_bucket",
                                       "put_objects"};
    static const char *const actions[] = {"create_table", "put_items", "create_bucket",
                                          "put_objects"};
    const char *what =
        "an object with one of \"create_table\", \"put_items\", \"create_bucket\" or "
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
            scn_fail_key(c, &kp, "one action per setup entry; this one already has \"%s\"",
                         actions[which]);
            return false;
        }
        which = i;
    }
    if (which < 0) {
        scn_expected(c, v, p, what);
        return false;
    }
    a->ignore_exists = true;
    struct field fw = scn_field(v, "wait_active", p);
    if (fw.v != NULL && which != 0) {
        scn_fail_key(c, &fw.p, "only allowed with \"create_table\"");
        return false;
    }
    struct field f = scn_field(v, actions[which], p);
    switch (which) {
    case 0: {
        a->kind = SCN_SETUP_CREATE_TABLE;
        a->wait_active = true;
        if (fw.v != NULL && !scn_as_bool(c, &fw, &a->wait_active))
            return false;
        if (!cJSON_IsObject(f.v)) {
            scn_expected(c, f.v, &f.p, "an object (the DynamoDB CreateTable request JSON)");
            return false;
        }
        struct field ft = scn_field(f.v, "TableName", &f.p);
        const char *t;
        if (!scn_need(c, &ft, "a non-empty string (the table)") ||
            (t = scn_as_string(c, &ft, true)) == NULL)
            return false;
        if ((a->table = scn_dup_str(c, t)) == NULL)
            return false;
        struct tmpl *tt = NULL;
        bool ok = scn_compile_json_template(
            c, &f, "an object (the DynamoDB CreateTable request JSON)", &a->body, &tt);
        tmpl_free(tt);
        return ok;
    }
    case 1: {
        static const char *const pkeys[] = {"table", "count", "item"};
        a->kind = SCN_SETUP_PUT_ITEMS;
        if (!CHECK_OBJECT(c, f.v, &f.p, pkeys, "an object with \"table\", \"count\" and \"item\""))
            return false;
        struct field ft = scn_field(f.v, "table", &f.p);
        struct field fc = scn_field(f.v, "count", &f.p);
        struct field fi = scn_field(f.v, "item", &f.p);
        const char *t;
        if (!scn_need(c, &ft, "a non-empty string (the table)") ||
            (t = scn_as_string(c, &ft, true)) == NULL || (a->table = scn_dup_str(c, t)) == NULL)
            return false;
        if (!scn_need(c, &fc, "a positive integer") ||
            !scn_as_u32(c, &fc, 1, SCN_MAX_SETUP_COUNT, &a->count))
            return false;
        if (!scn_need(c, &fi, "an object (a DynamoDB item: attribute -> typed value)"))
            return false;
        return scn_compile_json_template(
            c, &fi, "an object (a DynamoDB item: attribute -> typed value)", NULL, &a->item);
    }
    case 2: {
        a->kind = SCN_SETUP_CREATE_BUCKET;
        const char *b = as_bucket(c, &f);
        return b != NULL && (a->bucket = scn_dup_str(c, b)) != NULL;
    }
    default: {
        static const char *const okeys[] = {"bucket", "count", "key", "size"};
        a->kind = SCN_SETUP_PUT_OBJECTS;
        if (!CHECK_OBJECT(c, f.v, &f.p, okeys,
                          "an object with \"bucket\", \"count\", \"key\" and \"size\""))
            return false;
        struct field fb = scn_field(f.v, "bucket", &f.p);
        struct field fc = scn_field(f.v, "count", &f.p);
        struct field fk = scn_field(f.v, "key", &f.p);
        struct field fz = scn_field(f.v, "size", &f.p);
        const char *b;
        if (!scn_need(c, &fb, "a bucket name") || (b = as_bucket(c, &fb)) == NULL ||
            (a->bucket = scn_dup_str(c, b)) == NULL)
            return false;
        if (!scn_need(c, &fc, "a positive integer") ||
            !scn_as_u32(c, &fc, 1, SCN_MAX_SETUP_COUNT, &a->count))
            return false;
        if (!scn_need(c, &fk, "a non-empty string (the object key; placeholders allowed)") ||
            !scn_compile_string_template(c, &fk, &a->key))
            return false;
        return scn_need(c, &fz,
                        "a size in bytes, or an object with one of \"uniform\", \"lognormal\" "
                        "or \"choices\"") &&
               parse_size(c, &fz, &a->size);
    }
    }
}

bool scn_parse_aws(struct ctx *c, struct scenario *s, const struct field *fa)
{
    static const char *const keys[] = {"region", "profile", "endpoints", "setup"};
    static const char *const services[] = {"dynamodb", "s3"};
    if (!CHECK_OBJECT(c, fa->v, &fa->p, keys, "an object"))
        return false;
    s->aws = calloc(1, sizeof *s->aws);
    if (s->aws == NULL) {
        scn_nomem(c);
        return false;
    }
    struct scn_aws *a = s->aws;
    struct field f = scn_field(fa->v, "region", &fa->p);
    const char *str;
    if (f.v != NULL &&
        ((str = scn_as_string(c, &f, true)) == NULL || (a->region = scn_dup_str(c, str)) == NULL))
        return false;
    f = scn_field(fa->v, "profile", &fa->p);
    if (f.v != NULL &&
        ((str = scn_as_string(c, &f, true)) == NULL || (a->profile = scn_dup_str(c, str)) == NULL))
        return false;
    f = scn_field(fa->v, "endpoints", &fa->p);
    if (f.v != NULL) {
        if (!CHECK_OBJECT(c, f.v, &f.p, services, "an object of service -> URL"))
            return false;
        for (int i = 0; i < SCN_AWS__SERVICES; i++) {
            struct field fe = scn_field(f.v, services[i], &f.p);
            if (fe.v == NULL)
                continue;
            const char *what = "a URL starting with http:// or https://";
            const char *url = cJSON_IsString(fe.v) ? fe.v->valuestring : NULL;
            if (url == NULL || !((strncasecmp(url, "http://", 7) == 0 && url[7] != '\0') ||
                                 (strncasecmp(url, "https://", 8) == 0 && url[8] != '\0'))) {
                scn_expected(c, fe.v, &fe.p, what);
                return false;
            }
            if ((a->endpoint[i] = scn_dup_str(c, url)) == NULL)
                return false;
        }
    }
    f = scn_field(fa->v, "setup", &fa->p);
    if (f.v != NULL) {
        if (!cJSON_IsArray(f.v)) {
            scn_expected(c, f.v, &f.p, "an array of setup actions");
            return false;
        }
        size_t n = (size_t)cJSON_GetArraySize(f.v);
        a->setup = calloc(n ? n : 1, sizeof *a->setup);
        if (a->setup == NULL) {
            scn_nomem(c);
            return false;
        }
        size_t i = 0;
        for (const cJSON *it = f.v->child; it != NULL; it = it->next, i++) {
            struct jpath p = scn_elem_path(&f.p, i);
            a->setup_count = i + 1;
            if (!parse_aws_setup(c, &a->setup[i], it, &p))
                return false;
            if (a->setup[i].kind == SCN_SETUP_PUT_OBJECTS &&
                a->setup[i].size.hi > a->max_object_bytes)
                a->max_object_bytes = a->setup[i].size.hi;
        }
    }
    return true;
}

/*
 * After steps, target and "aws" are read: MCP steps need an MCP target,
 * "transport": "aws" needs AWS steps; the largest object is noted.
 */
bool scn_check_aws_mix(struct ctx *c, struct scenario *s, const cJSON *root)
{
    struct jpath pr = {NULL, NULL, 0, 0};
    struct field fs = scn_field(root, "steps", &pr);
    size_t i = 0;
    uint64_t max_obj = s->aws != NULL ? s->aws->max_object_bytes : 0;
    for (const cJSON *it = fs.v->child; it != NULL && i < s->step_count; it = it->next, i++) {
        const struct scn_step *st = &s->steps[i];
        if (st->aws != NULL) {
            s->has_aws_steps = true;
            if (st->aws->row->body == AWS_BODY_OBJECT && st->aws->size.hi > max_obj)
                max_obj = st->aws->size.hi;
        } else {
            s->has_mcp_steps = true;
            if (s->transport == SCN_AWS) {
                struct jpath ps = scn_elem_path(&fs.p, i);
                struct field fm = scn_field(it, "method", &ps);
                scn_fail(c, &fm.p,
                         "MCP method \"%s\" needs an MCP target; \"transport\": \"aws\" runs AWS "
                         "steps only (\"dynamodb.*\", \"s3.*\")",
                         st->method_name);
                return false;
            }
        }
    }
    if (s->transport == SCN_AWS && !s->has_aws_steps) {
        scn_expected(c, fs.v, &fs.p, "at least one AWS step with \"transport\": \"aws\"");
        return false;
    }
    if (s->aws != NULL)
        s->aws->max_object_bytes = max_obj;
    else if (s->has_aws_steps && max_obj > 0) {
        s->aws = calloc(1, sizeof *s->aws);
        if (s->aws == NULL) {
            scn_nomem(c);
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

void scn_free_aws(struct scenario *s)
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
