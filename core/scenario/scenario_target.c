/*
 * scenario_target: the scenario's "target", "mcp", "load" and "http" objects.
 *
 * Besides types and ranges these enforce which keys go together: keys of
 * the other transport ("url" with stdio) or model ("rate" with closed) are
 * refused at the key, launch options need "command", and the open model's
 * defaults (max_in_flight, concurrency, duration from the stages) are
 * filled in here.
 */
#include "scenario/scenario_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SCN_MAX_STAGES 10000

/* Object of string values, e.g. env or headers. */
static bool parse_kv(struct ctx *c, const struct field *f, bool header, struct scn_kv **out,
                     size_t *count)
{
    if (!scn_check_object(c, f->v, &f->p, NULL, 0, "an object of strings"))
        return false;
    size_t n = (size_t)cJSON_GetArraySize(f->v);
    *out = calloc(n > 0 ? n : 1, sizeof **out);
    if (*out == NULL) {
        scn_nomem(c);
        return false;
    }
    long k = 0;
    for (const cJSON *it = f->v->child; it != NULL; it = it->next, k++) {
        struct jpath p = {&f->p, it->string, 0, k};
        if (!cJSON_IsString(it)) {
            scn_expected(c, it, &p, "a string");
            return false;
        }
        const char *key = it->string;
        bool bad = key[0] == '\0';
        for (const char *q = key; *q != '\0' && !bad; q++)
            bad = header ? ((unsigned char)*q <= 0x20 || *q == ':' || (unsigned char)*q >= 0x7F)
                         : *q == '=';
        if (bad) {
            scn_fail_key(c, &p,
                         header ? "bad header name \"%s\"; expected a token without spaces "
                                  "or ':'"
                                : "bad variable name \"%s\"; expected a non-empty name "
                                  "without '='",
                         key);
            return false;
        }
        if (header && strpbrk(it->valuestring, "\r\n") != NULL) {
            scn_expected(c, it, &p, "a header value without line breaks");
            return false;
        }
        (*out)[*count].key = scn_dup_str(c, key);
        (*out)[*count].value = scn_dup_str(c, it->valuestring);
        (*count)++;
        if (c->rc != LS_OK)
            return false;
    }
    return true;
}

/* "transport": "aws" has no MCP target, so nothing but "transport" belongs in the object. */
static bool aws_target_only(struct ctx *c, const cJSON *t, const struct jpath *pt)
{
    long k = 0;
    for (const cJSON *it = t->child; it != NULL; it = it->next, k++) {
        struct jpath kp = {pt, it->string, 0, k};
        if (strcmp(it->string, "transport") != 0) {
            scn_fail_key(c, &kp, "not allowed with \"transport\": \"aws\" (no MCP target)");
            return false;
        }
    }
    return true;
}

/* Keys that belong to the other transport. */
static bool other_transport_keys(struct ctx *c, const struct scenario *s, const cJSON *t,
                                 const struct jpath *pt)
{
    static const char *const http_only[] = {"url", "ready_timeout", "headers"};
    for (size_t i = 0; i < 3 && s->transport == SCN_STDIO; i++) {
        struct field f = scn_field(t, http_only[i], pt);
        if (f.v != NULL) {
            scn_fail_key(c, &f.p, "only allowed with \"transport\": \"http\"");
            return false;
        }
    }
    struct field f = scn_field(t, "processes", pt);
    if (f.v != NULL && s->transport == SCN_HTTP) {
        scn_fail_key(c, &f.p, "only allowed with \"transport\": \"stdio\"");
        return false;
    }
    return true;
}

/* "command": the program and its arguments (required for stdio). */
static bool parse_command(struct ctx *c, struct scenario *s, const cJSON *t,
                          const struct jpath *pt)
{
    struct field f = scn_field(t, "command", pt);
    if (f.v == NULL && s->transport != SCN_STDIO)
        return true;
    const char *what = "a non-empty array of strings (the program and its arguments)";
    if (!cJSON_IsArray(f.v) || cJSON_GetArraySize(f.v) == 0) {
        scn_expected(c, f.v, &f.p, what);
        return false;
    }
    size_t n = (size_t)cJSON_GetArraySize(f.v);
    s->command = calloc(n + 1, sizeof *s->command);
    if (s->command == NULL) {
        scn_nomem(c);
        return false;
    }
    size_t i = 0;
    for (const cJSON *it = f.v->child; it != NULL; it = it->next, i++) {
        struct field fe = {it, scn_elem_path(&f.p, i)};
        const char *arg = scn_as_string(c, &fe, i == 0);
        if (arg == NULL)
            return false;
        s->command[i] = scn_dup_str(c, arg);
        if (s->command[i] == NULL)
            return false;
    }
    return true;
}

/*
 * "worker_threads": the thread names of the target's async runtime workers
 * (["tokio-runtime-worker", "actix-rt"]), where the tracer times blocking
 * calls; kept comma-separated, as the shim reads them. A name holds no comma
 * and is at most 15 bytes long, as the kernel keeps thread names.
 */
static bool parse_worker_threads(struct ctx *c, struct scenario *s, const cJSON *t,
                                 const struct jpath *pt)
{
    struct field f = scn_field(t, "worker_threads", pt);
    if (f.v == NULL)
        return true;
    if (!cJSON_IsArray(f.v)) {
        scn_expected(c, f.v, &f.p, "an array of thread names");
        return false;
    }
    size_t len = 1;
    long k = 0;
    for (const cJSON *it = f.v->child; it != NULL; it = it->next, k++) {
        struct jpath ip = {&f.p, NULL, (size_t)k, k};
        if (!cJSON_IsString(it) || it->valuestring[0] == '\0') {
            scn_expected(c, it, &ip, "a thread name");
            return false;
        }
        if (strchr(it->valuestring, ',') != NULL || strlen(it->valuestring) > 15) {
            scn_fail_key(c, &ip, "a thread name has no comma and at most 15 bytes (the kernel's limit)");
            return false;
        }
        len += strlen(it->valuestring) + 1;
    }
    s->worker_threads = calloc(1, len);
    if (s->worker_threads == NULL) {
        scn_nomem(c);
        return false;
    }
    for (const cJSON *it = f.v->child; it != NULL; it = it->next) {
        if (s->worker_threads[0])
            strcat(s->worker_threads, ",");
        strcat(s->worker_threads, it->valuestring);
    }
    return true;
}

/* A launched target's "env", "cwd", "trace_allocations", "trace_children" and "processes". */
static bool parse_launch(struct ctx *c, struct scenario *s, const cJSON *t, const struct jpath *pt)
{
    static const char *const launch_keys[] = {"env", "cwd", "trace_allocations", "trace_children",
                                              "worker_threads"};
    static const char *const procs[] = {"shared", "per_vu"};
    struct field f;
    for (size_t i = 0; i < 5 && s->command == NULL; i++) {
        f = scn_field(t, launch_keys[i], pt);
        if (f.v != NULL) {
            scn_fail_key(c, &f.p, "only allowed together with \"command\"");
            return false;
        }
    }
    f = scn_field(t, "env", pt);
    if (f.v != NULL && !parse_kv(c, &f, false, &s->env, &s->env_count))
        return false;
    f = scn_field(t, "cwd", pt);
    if (f.v != NULL) {
        const char *cwd = scn_as_string(c, &f, true);
        if (cwd == NULL || (s->cwd = scn_dup_str(c, cwd)) == NULL)
            return false;
    }
    /* Allocation profiling of the launched target: false, true (= "full") or a mode. */
    f = scn_field(t, "trace_allocations", pt);
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
            scn_expected(c, f.v, &f.p, "false, true, \"count\", \"full\" or \"sampled\"");
            return false;
        }
    }
    /* ... and of the processes it starts (a server behind npx, uvx or a shell). */
    f = scn_field(t, "trace_children", pt);
    if (f.v != NULL && !scn_as_bool(c, &f, &s->trace_children))
        return false;
    if (!scn_parse_downstream(c, s, t, pt))
        return false;
    if (!parse_worker_threads(c, s, t, pt))
        return false;
    f = scn_field(t, "processes", pt);
    if (f.v != NULL) {
        int pr = AS_ENUM(c, &f, procs);
        if (pr < 0)
            return false;
        s->processes = pr == 0 ? SCN_PROCS_SHARED : SCN_PROCS_PER_VU;
    }
    return true;
}

/* An HTTP target's "url", "ready_timeout" and "headers". */
static bool parse_http_target(struct ctx *c, struct scenario *s, const cJSON *t,
                              const struct jpath *pt)
{
    struct field f = scn_field(t, "url", pt);
    const char *what = "a URL starting with http:// or https://";
    if (!scn_need(c, &f, what))
        return false;
    const char *url = cJSON_IsString(f.v) ? f.v->valuestring : NULL;
    if (url == NULL || !((strncasecmp(url, "http://", 7) == 0 && url[7] != '\0') ||
                         (strncasecmp(url, "https://", 8) == 0 && url[8] != '\0'))) {
        scn_expected(c, f.v, &f.p, what);
        return false;
    }
    if ((s->url = scn_dup_str(c, url)) == NULL)
        return false;
    f = scn_field(t, "ready_timeout", pt);
    if (f.v != NULL && !scn_as_duration(c, &f, true, &s->ready_timeout_ns))
        return false;
    f = scn_field(t, "headers", pt);
    if (f.v != NULL && !parse_kv(c, &f, true, &s->headers, &s->header_count))
        return false;
    return true;
}

bool scn_parse_target(struct ctx *c, struct scenario *s, const struct field *ft)
{
    static const char *const keys[] = {"transport",     "command",   "env",
                                       "cwd",           "processes", "url",
                                       "ready_timeout", "headers",   "trace_allocations",
                                       "trace_children", "downstream", "downstream_faults",
                                       "worker_threads"};
    static const char *const transports[] = {"stdio", "http", "aws"};
    const struct jpath *pt = &ft->p;

    if (!scn_need(c, ft, "an object") || !CHECK_OBJECT(c, ft->v, pt, keys, "an object"))
        return false;
    const cJSON *t = ft->v;

    struct field f = scn_field(t, "transport", pt);
    if (!scn_need(c, &f, "\"stdio\" or \"http\""))
        return false;
    int tr = AS_ENUM(c, &f, transports);
    if (tr < 0)
        return false;
    s->transport = tr == 0 ? SCN_STDIO : tr == 1 ? SCN_HTTP : SCN_AWS;
    if (s->transport == SCN_AWS)
        return aws_target_only(c, t, pt);
    return other_transport_keys(c, s, t, pt) && parse_command(c, s, t, pt) &&
           parse_launch(c, s, t, pt) &&
           (s->transport != SCN_HTTP || parse_http_target(c, s, t, pt));
}

bool scn_parse_mcp(struct ctx *c, struct scenario *s, const struct field *fm)
{
    static const char *const keys[] = {"protocol_version", "session", "client_name"};
    static const char *const versions[] = {"2025-03-26", "2025-06-18", "2025-11-25"};
    static const char *const sessions[] = {"per_vu", "per_iteration"};
    if (!CHECK_OBJECT(c, fm->v, &fm->p, keys, "an object"))
        return false;
    struct field f = scn_field(fm->v, "protocol_version", &fm->p);
    if (f.v != NULL) {
        int v = AS_ENUM(c, &f, versions);
        if (v < 0)
            return false;
        free(s->protocol_version);
        if ((s->protocol_version = scn_dup_str(c, versions[v])) == NULL)
            return false;
    }
    f = scn_field(fm->v, "session", &fm->p);
    if (f.v != NULL) {
        int v = AS_ENUM(c, &f, sessions);
        if (v < 0)
            return false;
        s->session = v == 0 ? SCN_SESSION_PER_VU : SCN_SESSION_PER_ITERATION;
    }
    f = scn_field(fm->v, "client_name", &fm->p);
    if (f.v != NULL) {
        const char *name = scn_as_string(c, &f, true);
        if (name == NULL)
            return false;
        free(s->client_name);
        if ((s->client_name = scn_dup_str(c, name)) == NULL)
            return false;
    }
    return true;
}

static bool parse_stages(struct ctx *c, struct scenario *s, const struct field *fs)
{
    static const char *const keys[] = {"duration", "target"};
    const char *what = "a non-empty array of {\"duration\", \"target\"} objects";
    if (!cJSON_IsArray(fs->v) || cJSON_GetArraySize(fs->v) == 0) {
        scn_expected(c, fs->v, &fs->p, what);
        return false;
    }
    size_t n = (size_t)cJSON_GetArraySize(fs->v);
    if (n > SCN_MAX_STAGES) {
        scn_fail(c, &fs->p, "expected at most %d stages, found %zu", SCN_MAX_STAGES, n);
        return false;
    }
    s->stages = calloc(n, sizeof *s->stages);
    if (s->stages == NULL) {
        scn_nomem(c);
        return false;
    }
    size_t i = 0;
    for (const cJSON *it = fs->v->child; it != NULL; it = it->next, i++) {
        struct jpath p = scn_elem_path(&fs->p, i);
        if (!CHECK_OBJECT(c, it, &p, keys,
                          "an object like {\"duration\": \"30s\", \"target\": 100}"))
            return false;
        struct field f = scn_field(it, "duration", &p);
        if (!scn_need(c, &f, "a duration") ||
            !scn_as_duration(c, &f, false, &s->stages[i].duration_ns))
            return false;
        f = scn_field(it, "target", &p);
        if (!scn_need(c, &f, "a number >= 0 (requests per second)") ||
            !scn_as_rate(c, &f, false, &s->stages[i].target_rate))
            return false;
        s->stage_count++;
    }
    return true;
}

bool scn_parse_load(struct ctx *c, struct scenario *s, const struct field *fl)
{
    static const char *const keys[] = {"model", "concurrency",   "duration", "warmup",
                                       "rate",  "max_in_flight", "stages"};
    static const char *const models[] = {"closed", "open"};
    const struct jpath *pl = &fl->p;
    if (!scn_need(c, fl, "an object") || !CHECK_OBJECT(c, fl->v, pl, keys, "an object"))
        return false;
    const cJSON *l = fl->v;

    struct field f = scn_field(l, "model", pl);
    s->model = SCN_CLOSED;
    if (f.v != NULL) {
        int m = AS_ENUM(c, &f, models);
        if (m < 0)
            return false;
        s->model = m == 0 ? SCN_CLOSED : SCN_OPEN;
    }
    struct field fconc = scn_field(l, "concurrency", pl);
    if (fconc.v != NULL && !scn_as_u32(c, &fconc, 1, SCN_MAX_COUNT, &s->concurrency))
        return false;

    if (s->model == SCN_CLOSED) {
        static const char *const open_only[] = {"rate", "max_in_flight", "stages"};
        for (size_t i = 0; i < 3; i++) {
            f = scn_field(l, open_only[i], pl);
            if (f.v != NULL) {
                scn_fail_key(c, &f.p, "only allowed with \"model\": \"open\"");
                return false;
            }
        }
        if (fconc.v == NULL)
            s->concurrency = 1;
    } else {
        struct field fst = scn_field(l, "stages", pl);
        if (fst.v != NULL && !parse_stages(c, s, &fst))
            return false;
        f = scn_field(l, "rate", pl);
        if (f.v == NULL && fst.v == NULL) {
            scn_fail(c, &f.p,
                     "expected a number greater than 0 (requests per second) or "
                     "\"stages\", but the key is missing");
            return false;
        }
        if (f.v != NULL && !scn_as_rate(c, &f, fst.v == NULL, &s->rate))
            return false;
        f = scn_field(l, "max_in_flight", pl);
        s->max_in_flight = fconc.v != NULL ? s->concurrency : 1000;
        if (f.v != NULL && !scn_as_u32(c, &f, 1, SCN_MAX_COUNT, &s->max_in_flight))
            return false;
        if (fconc.v == NULL)
            s->concurrency = s->max_in_flight;
    }

    f = scn_field(l, "duration", pl);
    if (f.v != NULL) {
        if (!scn_as_duration(c, &f, true, &s->duration_ns))
            return false;
    } else if (s->stage_count > 0) {
        uint64_t sum = 0;
        for (size_t i = 0; i < s->stage_count; i++) {
            if (sum > UINT64_MAX - s->stages[i].duration_ns) {
                scn_fail(c, &f.p, "stage durations add up to more than %llu ns",
                         (unsigned long long)UINT64_MAX);
                return false;
            }
            sum += s->stages[i].duration_ns;
        }
        if (sum == 0) {
            struct jpath ps = scn_field(l, "stages", pl).p;
            scn_fail(c, &ps, "stage durations add up to 0; expected a total greater than 0");
            return false;
        }
        s->duration_ns = sum;
    } else {
        scn_expected(c, NULL, &f.p, "a duration like \"10s\"");
        return false;
    }
    f = scn_field(l, "warmup", pl);
    if (f.v != NULL && !scn_as_duration(c, &f, false, &s->warmup_ns))
        return false;
    return true;
}

bool scn_parse_http(struct ctx *c, struct scenario *s, const struct field *fh)
{
    static const char *const keys[] = {"keepalive", "timeout", "client"};
    static const char *const clients[] = {"native", "curl"};
    if (!CHECK_OBJECT(c, fh->v, &fh->p, keys, "an object"))
        return false;
    struct field f = scn_field(fh->v, "keepalive", &fh->p);
    if (f.v != NULL && !scn_as_bool(c, &f, &s->keepalive))
        return false;
    f = scn_field(fh->v, "timeout", &fh->p);
    if (f.v != NULL && !scn_as_duration(c, &f, true, &s->timeout_ns))
        return false;
    f = scn_field(fh->v, "client", &fh->p);
    if (f.v != NULL) {
        int k = AS_ENUM(c, &f, clients);
        if (k < 0)
            return false;
        s->http_client = k == 0 ? SCN_CLIENT_NATIVE : SCN_CLIENT_CURL;
        /* The native client speaks plain HTTP/1.1; TLS stays with libcurl. */
        if (s->http_client == SCN_CLIENT_NATIVE && s->url != NULL &&
            strncasecmp(s->url, "http://", 7) != 0) {
            scn_fail(c, &f.p, "the native client speaks plain http:// only; use \"curl\" for %s",
                     s->url);
            return false;
        }
    }
    return true;
}
