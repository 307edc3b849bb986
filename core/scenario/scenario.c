/*
 * scenario: load, validate and pre-compile a scenario file.
 *
 * Everything is checked before a run starts, and every message points at
 * the offending spot as FILE:LINE:COL plus a JSON path. This file holds the
 * entry points (scenario_parse/load/free, durations, the open-loop rate)
 * and the root object; the parts live beside it (see scenario_int.h):
 *   - scenario_json.c: the raw text. A strict RFC 8259 check runs before
 *     cJSON to name the first syntax error precisely, and values are
 *     located in the text by JSON path, since cJSON keeps no positions;
 *   - scenario_field.c: messages, "did you mean" and typed field readers;
 *   - scenario_target.c: "target", "mcp", "load", "http";
 *   - scenario_steps.c: "steps", whose params are emitted from the raw text
 *     so numbers reach the server exactly as written;
 *   - scenario_thresholds.c: "thresholds";
 *   - scenario_aws.c: AWS steps and the "aws" object.
 */
#include "scenario/scenario_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCN_MAX_FILE_BYTES (16u << 20)

#define NS_PER_S 1000000000ULL

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
        while (scn_is_digit(*p)) {
            uint64_t d = (uint64_t)(*p - '0');
            if (whole > (UINT64_MAX - d) / 10)
                return false;
            whole = whole * 10 + d;
            digits++;
            p++;
        }
        if (*p == '.') {
            p++;
            while (scn_is_digit(*p)) {
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

/* ---- the whole file ------------------------------------------------------ */

static bool parse_root(struct ctx *c, struct scenario *s, const cJSON *root)
{
    static const char *const keys[] = {"name", "target", "mcp",        "load",
                                       "http", "steps",  "thresholds", "aws"};
    struct jpath pr = {NULL, NULL, 0, 0};
    if (!CHECK_OBJECT(c, root, &pr, keys, "an object"))
        return false;

    struct field f = scn_field(root, "name", &pr);
    if (f.v != NULL) {
        const char *name = scn_as_string(c, &f, true);
        if (name == NULL || (s->name = scn_dup_str(c, name)) == NULL)
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
            scn_nomem(c);
            return false;
        }
    }

    f = scn_field(root, "target", &pr);
    if (!scn_parse_target(c, s, &f))
        return false;
    f = scn_field(root, "mcp", &pr);
    if (f.v != NULL && !scn_parse_mcp(c, s, &f))
        return false;
    f = scn_field(root, "load", &pr);
    if (!scn_parse_load(c, s, &f))
        return false;
    f = scn_field(root, "http", &pr);
    if (f.v != NULL && !scn_parse_http(c, s, &f))
        return false;
    f = scn_field(root, "steps", &pr);
    if (!scn_parse_steps(c, s, &f))
        return false;
    f = scn_field(root, "thresholds", &pr);
    if (f.v != NULL && !scn_parse_thresholds(c, s, &f))
        return false;
    f = scn_field(root, "aws", &pr);
    if (f.v != NULL && !scn_parse_aws(c, s, &f))
        return false;
    return scn_check_aws_mix(c, s, root);
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
        scn_nomem(&c);
        goto out;
    }
    s->text = malloc(len + 1);
    s->path = strdup(c.file);
    s->protocol_version = strdup("2025-11-25");
    s->client_name = strdup("loadscope");
    if (s->text == NULL || s->path == NULL || s->protocol_version == NULL ||
        s->client_name == NULL) {
        scn_nomem(&c);
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
        scn_fail_syntax(&c, (size_t)(nul - text), "NUL byte");
        goto out;
    }
    if (!scn_json_check(&c, &at, what, sizeof what)) {
        scn_fail_syntax(&c, at, what);
        goto out;
    }
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(s->text, len + 1, &end, 1);
    if (root == NULL) {
        /* scn_json_check accepted it, so cJSON ran out of memory or hit a limit */
        size_t pos = end != NULL && end >= s->text ? (size_t)(end - s->text) : 0;
        scn_fail_syntax(&c, pos, "rejected by the JSON parser here");
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
    struct dynbuf buf;
    FILE *f = fopen(path, "rb");

    *out = NULL;
    if (f == NULL) {
        if (err != NULL && errcap > 0)
            snprintf(err, errcap, "%s: cannot open: %s", path, strerror(errno));
        return LS_ERR_IO;
    }
    dyn_init(&buf, (size_t)SCN_MAX_FILE_BYTES + 1);
    ls_err rc = dyn_read(&buf, f);
    if (rc == LS_ERR_RANGE) {
        rc = LS_ERR_INVALID;
        if (err != NULL && errcap > 0)
            snprintf(err, errcap, "%s: file too large (more than %u bytes)", path,
                     SCN_MAX_FILE_BYTES);
    } else if (rc == LS_ERR_NOMEM) {
        if (err != NULL && errcap > 0)
            snprintf(err, errcap, "%s: out of memory", path);
    } else if (rc != LS_OK) {
        rc = LS_ERR_IO;
        if (err != NULL && errcap > 0)
            snprintf(err, errcap, "%s: read failed: %s", path, strerror(errno));
    } else {
        rc = scenario_parse(path, dyn_ptr(&buf) != NULL ? dyn_ptr(&buf) : "", dyn_len(&buf), out,
                            err, errcap);
    }
    dyn_free(&buf);
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
    free(s->worker_threads);
    free(s->url);
    free_kv(s->headers, s->header_count);
    free(s->protocol_version);
    free(s->client_name);
    free(s->stages);
    scn_free_aws(s);
    scn_free_downstream(s);
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
