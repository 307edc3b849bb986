/*
 * scenario_downstream: the target's "downstream" (which AWS services of the
 * launched target go through a recording proxy, and where they go on to)
 * and "downstream_faults" (what the proxies inject). The format and rules
 * are in scenario_downstream.h; messages follow the rest of the loader
 * (FILE:LINE:COL: $.path: ...).
 */
#include "scenario/scenario_int.h"
#include "scenario/scenario_downstream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const services[] = {"dynamodb", "s3"};

#define RATE_WHAT "a fraction from 0 to 1 or a percentage like \"5%\""
#define SEED_MAX 9007199254740991.0 /* 2^53 - 1: every integer up to it is exact in JSON */

/* A rate: a JSON number in [0, 1] or a string "N%" with N in [0, 100]. */
static bool as_share(struct ctx *c, const struct field *f, double *out)
{
    const cJSON *v = f->v;
    double x = -1;
    if (cJSON_IsNumber(v)) {
        x = v->valuedouble;
    } else if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        char *end = NULL;
        size_t n = strlen(s);
        if (n >= 2 && s[n - 1] == '%' && (s[0] >= '0' && s[0] <= '9')) {
            double p = strtod(s, &end);
            if (end == s + n - 1 && isfinite(p))
                x = p / 100.0;
        }
    }
    if (!(x >= 0 && x <= 1)) {
        scn_expected(c, v, &f->p, RATE_WHAT);
        return false;
    }
    *out = x;
    return true;
}

static bool as_dur(struct ctx *c, const struct field *f, uint64_t *ns)
{
    return scn_need(c, f, "a duration") && scn_as_duration(c, f, false, ns);
}

/* "latency": a duration, {"uniform": [LO, HI]} or {"lognormal": {...}}. */
static bool parse_latency(struct ctx *c, const struct field *f, struct scn_ds_latency *out)
{
    static const char *const keys[] = {"uniform", "lognormal"};
    const char *what = "a duration, {\"uniform\": [LO, HI]} or {\"lognormal\": {\"median\", "
                       "\"sigma\", \"max\"}}";
    if (cJSON_IsString(f->v) || cJSON_IsNumber(f->v)) {
        out->kind = SCN_DSL_FIXED;
        if (!scn_as_duration(c, f, false, &out->lo_ns))
            return false;
        out->hi_ns = out->lo_ns;
        return true;
    }
    if (!CHECK_OBJECT(c, f->v, &f->p, keys, what))
        return false;
    if (cJSON_GetArraySize(f->v) != 1) {
        scn_expected(c, f->v, &f->p, "exactly one of \"uniform\" or \"lognormal\"");
        return false;
    }
    struct field u = scn_field(f->v, "uniform", &f->p);
    if (u.v != NULL) {
        if (!cJSON_IsArray(u.v) || cJSON_GetArraySize(u.v) != 2) {
            scn_expected(c, u.v, &u.p, "[LO, HI]: two durations");
            return false;
        }
        struct field lo = {u.v->child, scn_elem_path(&u.p, 0)};
        struct field hi = {u.v->child->next, scn_elem_path(&u.p, 1)};
        if (!as_dur(c, &lo, &out->lo_ns) || !as_dur(c, &hi, &out->hi_ns))
            return false;
        if (out->hi_ns < out->lo_ns) {
            scn_fail(c, &hi.p, "expected HI >= LO");
            return false;
        }
        out->kind = SCN_DSL_UNIFORM;
        return true;
    }
    static const char *const lkeys[] = {"median", "sigma", "max"};
    struct field l = scn_field(f->v, "lognormal", &f->p);
    if (!CHECK_OBJECT(c, l.v, &l.p, lkeys, "an object with \"median\" and \"sigma\""))
        return false;
    struct field m = scn_field(l.v, "median", &l.p);
    struct field sg = scn_field(l.v, "sigma", &l.p);
    struct field mx = scn_field(l.v, "max", &l.p);
    if (!scn_need(c, &m, "a duration greater than 0") ||
        !scn_as_duration(c, &m, true, &out->median_ns))
        return false;
    if (!scn_need(c, &sg, "a number >= 0") || !cJSON_IsNumber(sg.v) ||
        !isfinite(sg.v->valuedouble) || sg.v->valuedouble < 0 || sg.v->valuedouble > 10) {
        scn_expected(c, sg.v, &sg.p, "a number from 0 to 10");
        return false;
    }
    out->sigma = sg.v->valuedouble;
    out->hi_ns = out->median_ns > UINT64_MAX / 100 ? UINT64_MAX : out->median_ns * 100;
    if (mx.v != NULL && !scn_as_duration(c, &mx, true, &out->hi_ns))
        return false;
    out->kind = SCN_DSL_LOGNORMAL;
    return true;
}

static bool parse_operations(struct ctx *c, const struct field *f, struct scn_ds_faults *fl)
{
    const char *what = "a non-empty array of operation names (\"GetItem\", \"PutObject\", ...)";
    if (!cJSON_IsArray(f->v) || cJSON_GetArraySize(f->v) == 0) {
        scn_expected(c, f->v, &f->p, what);
        return false;
    }
    size_t n = (size_t)cJSON_GetArraySize(f->v);
    fl->operations = calloc(n + 1, sizeof *fl->operations);
    if (fl->operations == NULL) {
        scn_nomem(c);
        return false;
    }
    size_t i = 0;
    for (const cJSON *it = f->v->child; it != NULL; it = it->next, i++) {
        struct field fe = {it, scn_elem_path(&f->p, i)};
        const char *op = scn_as_string(c, &fe, true);
        if (op == NULL || (fl->operations[i] = scn_dup_str(c, op)) == NULL)
            return false;
    }
    return true;
}

static bool parse_service_faults(struct ctx *c, const struct field *f, struct scn_ds_faults *fl)
{
    static const char *const keys[] = {"throttle", "server_error",  "reset",
                                       "latency",  "latency_share", "operations"};
    if (!CHECK_OBJECT(c, f->v, &f->p, keys, "an object of faults"))
        return false;
    struct field ft = scn_field(f->v, "throttle", &f->p);
    struct field fs = scn_field(f->v, "server_error", &f->p);
    struct field fr = scn_field(f->v, "reset", &f->p);
    struct field fl_ = scn_field(f->v, "latency", &f->p);
    struct field fsh = scn_field(f->v, "latency_share", &f->p);
    struct field fo = scn_field(f->v, "operations", &f->p);
    if ((ft.v != NULL && !as_share(c, &ft, &fl->throttle)) ||
        (fs.v != NULL && !as_share(c, &fs, &fl->server_error)) ||
        (fr.v != NULL && !as_share(c, &fr, &fl->reset)))
        return false;
    if (fl->throttle + fl->server_error + fl->reset > 1.0 + 1e-9) {
        scn_fail(c, &f->p,
                 "throttle, server_error and reset add up to more than 100%% (%.4g%%); each call "
                 "draws one of them at most",
                 (fl->throttle + fl->server_error + fl->reset) * 100);
        return false;
    }
    if (fl_.v != NULL && !parse_latency(c, &fl_, &fl->latency))
        return false;
    fl->latency_share = fl_.v != NULL ? 1.0 : 0.0;
    if (fsh.v != NULL) {
        if (fl_.v == NULL) {
            scn_fail_key(c, &fsh.p, "only allowed together with \"latency\"");
            return false;
        }
        if (!as_share(c, &fsh, &fl->latency_share))
            return false;
    }
    if (fo.v != NULL && !parse_operations(c, &fo, fl))
        return false;
    fl->any = fl->throttle > 0 || fl->server_error > 0 || fl->reset > 0 ||
              (fl->latency_share > 0 && fl->latency.kind != SCN_DSL_NONE);
    return true;
}

static bool parse_faults(struct ctx *c, struct scn_downstream *d, const struct field *f)
{
    static const char *const keys[] = {"seed", "dynamodb", "s3"};
    if (!CHECK_OBJECT(c, f->v, &f->p, keys, "an object with \"seed\" and faults per service"))
        return false;
    struct field fs = scn_field(f->v, "seed", &f->p);
    if (fs.v != NULL) {
        const cJSON *v = fs.v;
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
            v->valuedouble > SEED_MAX) {
            scn_expected(c, v, &fs.p, "an integer from 0 to 9007199254740991");
            return false;
        }
        d->seed = (uint64_t)v->valuedouble;
    }
    for (int i = 0; i < SCN_AWS__SERVICES; i++) {
        struct field fv = scn_field(f->v, services[i], &f->p);
        if (fv.v == NULL)
            continue;
        if (d->url[i] == NULL) {
            scn_fail_key(c, &fv.p, "\"%s\" is not in \"downstream\": its calls are not proxied",
                         services[i]);
            return false;
        }
        if (!parse_service_faults(c, &fv, &d->faults[i]))
            return false;
    }
    return true;
}

bool scn_parse_downstream(struct ctx *c, struct scenario *s, const cJSON *t, const struct jpath *pt)
{
    struct field fd = scn_field(t, "downstream", pt);
    struct field ff = scn_field(t, "downstream_faults", pt);
    if (fd.v == NULL && ff.v == NULL)
        return true;
    if (s->command == NULL) {
        scn_fail_key(c, fd.v != NULL ? &fd.p : &ff.p,
                     "only allowed together with \"command\" (the proxies reach a target "
                     "through the environment loadscope launches it with)");
        return false;
    }
    if (fd.v == NULL) {
        scn_fail_key(c, &ff.p, "only allowed together with \"downstream\"");
        return false;
    }
    if (!CHECK_OBJECT(c, fd.v, &fd.p, services, "an object of service -> URL or \"aws\""))
        return false;
    if (fd.v->child == NULL) {
        scn_expected(c, fd.v, &fd.p, "at least one of \"dynamodb\" or \"s3\"");
        return false;
    }
    s->downstream = calloc(1, sizeof *s->downstream);
    if (s->downstream == NULL) {
        scn_nomem(c);
        return false;
    }
    struct scn_downstream *d = s->downstream;
    d->seed = 1;
    for (int i = 0; i < SCN_AWS__SERVICES; i++) {
        struct field fe = scn_field(fd.v, services[i], &fd.p);
        if (fe.v == NULL)
            continue;
        const char *what = "a URL starting with http:// or https://, or \"aws\" (the endpoint of "
                           "the AWS configuration chain)";
        const char *url = cJSON_IsString(fe.v) ? fe.v->valuestring : NULL;
        if (url == NULL || !(strcmp(url, "aws") == 0 ||
                             (strncasecmp(url, "http://", 7) == 0 && url[7] != '\0') ||
                             (strncasecmp(url, "https://", 8) == 0 && url[8] != '\0'))) {
            scn_expected(c, fe.v, &fe.p, what);
            return false;
        }
        if ((d->url[i] = scn_dup_str(c, url)) == NULL)
            return false;
    }
    return ff.v == NULL || parse_faults(c, d, &ff);
}

void scn_free_downstream(struct scenario *s)
{
    struct scn_downstream *d = s->downstream;
    if (d == NULL)
        return;
    for (int i = 0; i < SCN_AWS__SERVICES; i++) {
        free(d->url[i]);
        for (char **o = d->faults[i].operations; o != NULL && *o != NULL; o++)
            free(*o);
        free(d->faults[i].operations);
    }
    free(d);
    s->downstream = NULL;
}
