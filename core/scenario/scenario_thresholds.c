/*
 * scenario_thresholds: the scenario's "thresholds", checks like
 * "p99 < 50ms", "error_rate < 1%" or {"step": "echo", "check": "rate > 200/s"}.
 *
 * A check's text is kept as written for the report; its metric, operator
 * and limit (latency in ns, rates as fractions or req/s) are parsed here.
 */
#include "scenario/scenario_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Plain decimal: digits with at most one '.', at least one digit. */
static bool plain_number(const char *s, size_t n, double *out)
{
    char tmp[64];
    size_t digits = 0, dots = 0;
    if (n == 0 || n >= sizeof tmp)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (scn_is_digit(s[i]))
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

bool scn_parse_thresholds(struct ctx *c, struct scenario *s, const struct field *ft)
{
    static const char *const keys[] = {"step", "check"};
    if (!cJSON_IsArray(ft->v)) {
        scn_expected(c, ft->v, &ft->p, "an array of checks like \"p99 < 50ms\"");
        return false;
    }
    size_t n = (size_t)cJSON_GetArraySize(ft->v);
    s->thresholds = calloc(n > 0 ? n : 1, sizeof *s->thresholds);
    if (s->thresholds == NULL) {
        scn_nomem(c);
        return false;
    }
    size_t i = 0;
    for (const cJSON *it = ft->v->child; it != NULL; it = it->next, i++) {
        struct jpath p = scn_elem_path(&ft->p, i);
        struct scn_threshold *th = &s->thresholds[i];
        struct field fc = {it, p};
        th->step = -1;
        if (cJSON_IsObject(it)) {
            if (!CHECK_OBJECT(c, it, &p, keys, "an object"))
                return false;
            struct field f = scn_field(it, "step", &p);
            const char *name;
            if (!scn_need(c, &f, "a step name") || (name = scn_as_string(c, &f, true)) == NULL)
                return false;
            th->step = scenario_step_index(s, name);
            if (th->step < 0) {
                const char *names[64];
                size_t k = 0;
                for (; k < s->step_count && k < 64; k++)
                    names[k] = s->steps[k].name;
                const char *sug = scn_suggest(name, names, k);
                char tmp[64];
                if (sug != NULL)
                    scn_fail(c, &f.p, "no step named %s; did you mean \"%s\"?",
                             scn_found(c, f.v, &f.p, tmp, sizeof tmp), sug);
                else
                    scn_fail(c, &f.p, "no step named %s", scn_found(c, f.v, &f.p, tmp, sizeof tmp));
                return false;
            }
            fc = scn_field(it, "check", &p);
            if (!scn_need(c, &fc, "a check like \"p99 < 50ms\""))
                return false;
        }
        if (!cJSON_IsString(fc.v)) {
            scn_expected(c, fc.v, &fc.p,
                         "a check like \"p99 < 50ms\" or {\"step\": ..., \"check\": ...}");
            return false;
        }
        char why[200];
        if (!parse_check(fc.v->valuestring, th, why, sizeof why)) {
            char tmp[64];
            scn_fail(c, &fc.p, "bad check %s: %s", scn_found(c, fc.v, &fc.p, tmp, sizeof tmp), why);
            return false;
        }
        if ((th->text = scn_dup_str(c, fc.v->valuestring)) == NULL)
            return false;
        s->threshold_count++;
    }
    return true;
}
