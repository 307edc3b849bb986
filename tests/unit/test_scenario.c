/*
 * Unit tests for scenario: a full scenario read from a file with every field
 * checked, defaults, exact messages (file:line:col and JSON path) for many
 * invalid scenarios, the numeric placeholder rule, step naming, open-loop
 * rate ramps and the duration parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "scenario/scenario.h"

#define NS_PER_MS 1000000ULL
#define NS_PER_S 1000000000ULL

static struct scenario *parse_ok(const char *text)
{
    struct scenario *s = NULL;
    char err[512];
    ls_err rc = scenario_parse("t.json", text, strlen(text), &s, err, sizeof err);
    if (rc != LS_OK)
        fail_msg("unexpected error: %s", err);
    assert_non_null(s);
    return s;
}

/* ---- a full scenario from a file ----------------------------------------- */

static const char full_text[] =
    "{\n"
    "  \"name\": \"full\",\n"
    "  \"target\": {\"transport\": \"http\", \"url\": \"http://127.0.0.1:8931/mcp\",\n"
    "             \"command\": [\"node\", \"server.js\", \"--port\", \"8931\"],\n"
    "             \"env\": {\"A\": \"1\", \"B\": \"two words\"}, \"cwd\": \"fixtures\",\n"
    "             \"ready_timeout\": \"2.5s\",\n"
    "             \"headers\": {\"X-Token\": \"abc\", \"X-Other\": \"d e\"}},\n"
    "  \"mcp\": {\"protocol_version\": \"2025-06-18\", \"session\": \"per_iteration\",\n"
    "          \"client_name\": \"lt\"},\n"
    "  \"load\": {\"model\": \"open\", \"rate\": 100, \"max_in_flight\": 64,\n"
    "           \"stages\": [{\"duration\": \"10s\", \"target\": 200}, {\"duration\": 5, "
    "\"target\": 50}],\n"
    "           \"warmup\": \"1m30s\"},\n"
    "  \"http\": {\"keepalive\": false, \"timeout\": \"750ms\"},\n"
    "  \"steps\": [\n"
    "    {\"name\": \"echo\", \"weight\": 3, \"method\": \"tools/call\", \"tool\": \"echo\",\n"
    "     \"arguments\": {\"message\": \"hi ${seq}\", \"n\": \"${rand:1:100}\",\n"
    "                   \"list\": [1.50, -2e3, true, null, {\"w\": \"${worker}\"}]}},\n"
    "    {\"name\": \"list\", \"method\": \"tools/list\"},\n"
    "    {\"name\": \"page2\", \"method\": \"tools/list\", \"cursor\": \"c-${seq}\"},\n"
    "    {\"name\": \"doc\", \"weight\": 2, \"method\": \"resources/read\", \"uri\": "
    "\"demo://${rand:1:9}\"},\n"
    "    {\"name\": \"greet\", \"method\": \"prompts/get\", \"prompt\": \"p\",\n"
    "     \"arguments\": {\"who\": \"${worker}\"}},\n"
    "    {\"name\": \"ping\", \"method\": \"ping\"}\n"
    "  ],\n"
    "  \"thresholds\": [\"p99.9 <= 1.5s\", \"mean < 20ms\", \"max<2s\", \"error_rate < 1%\",\n"
    "                 \"error_rate <= 0.005\", \"rate >= 150/s\", \"p50 > 500us\",\n"
    "                 {\"step\": \"doc\", \"check\": \"p75 < 5ms\"}]\n"
    "}\n";

static void check_threshold(const struct scn_threshold *t, const char *text, int step,
                            enum scn_metric m, double pct, enum scn_cmp cmp, double limit)
{
    assert_string_equal(t->text, text);
    assert_int_equal(t->step, step);
    assert_int_equal(t->metric, m);
    if (m == SCN_M_PERCENTILE)
        assert_true(t->percentile == pct);
    assert_int_equal(t->cmp, cmp);
    if (t->limit != limit)
        fail_msg("%s: limit %.17g, want %.17g", text, t->limit, limit);
}

static void test_full_scenario_from_file(void **state)
{
    (void)state;
    char path[] = "/tmp/ls_scenario_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, full_text, sizeof full_text - 1), (ssize_t)(sizeof full_text - 1));
    close(fd);

    struct scenario *s = NULL;
    char err[512] = "";
    ls_err rc = scenario_load(path, &s, err, sizeof err);
    unlink(path);
    if (rc != LS_OK)
        fail_msg("%s", err);

    assert_string_equal(s->path, path);
    assert_string_equal(s->text, full_text);
    assert_string_equal(s->name, "full");

    assert_int_equal(s->transport, SCN_HTTP);
    assert_string_equal(s->command[0], "node");
    assert_string_equal(s->command[1], "server.js");
    assert_string_equal(s->command[2], "--port");
    assert_string_equal(s->command[3], "8931");
    assert_null(s->command[4]);
    assert_int_equal(s->env_count, 2);
    assert_string_equal(s->env[0].key, "A");
    assert_string_equal(s->env[0].value, "1");
    assert_string_equal(s->env[1].key, "B");
    assert_string_equal(s->env[1].value, "two words");
    assert_string_equal(s->cwd, "fixtures");
    assert_int_equal(s->processes, SCN_PROCS_SHARED);
    assert_string_equal(s->url, "http://127.0.0.1:8931/mcp");
    assert_int_equal(s->header_count, 2);
    assert_string_equal(s->headers[0].key, "X-Token");
    assert_string_equal(s->headers[0].value, "abc");
    assert_string_equal(s->headers[1].key, "X-Other");
    assert_string_equal(s->headers[1].value, "d e");
    assert_int_equal(s->ready_timeout_ns, 2500 * NS_PER_MS);

    assert_string_equal(s->protocol_version, "2025-06-18");
    assert_int_equal(s->session, SCN_SESSION_PER_ITERATION);
    assert_string_equal(s->client_name, "lt");

    assert_int_equal(s->model, SCN_OPEN);
    assert_true(s->rate == 100.0);
    assert_int_equal(s->stage_count, 2);
    assert_int_equal(s->stages[0].duration_ns, 10 * NS_PER_S);
    assert_true(s->stages[0].target_rate == 200.0);
    assert_int_equal(s->stages[1].duration_ns, 5 * NS_PER_S);
    assert_true(s->stages[1].target_rate == 50.0);
    assert_int_equal(s->max_in_flight, 64);
    assert_int_equal(s->concurrency, 64);            /* open model without concurrency: the cap */
    assert_int_equal(s->duration_ns, 15 * NS_PER_S); /* sum of the stages */
    assert_int_equal(s->warmup_ns, 90 * NS_PER_S);

    assert_false(s->keepalive);
    assert_int_equal(s->timeout_ns, 750 * NS_PER_MS);

    assert_int_equal(s->step_count, 6);
    assert_int_equal(s->weight_total, 3 + 1 + 1 + 2 + 1 + 1);
    static const char *const names[] = {"echo", "list", "page2", "doc", "greet", "ping"};
    static const enum scn_method methods[] = {SCN_TOOLS_CALL,     SCN_TOOLS_LIST,  SCN_TOOLS_LIST,
                                              SCN_RESOURCES_READ, SCN_PROMPTS_GET, SCN_PING};
    static const char *const mnames[] = {"tools/call",     "tools/list",  "tools/list",
                                         "resources/read", "prompts/get", "ping"};
    static const uint32_t weights[] = {3, 1, 1, 2, 1, 1};
    static const char *const params[] = {
        "{\"name\":\"echo\",\"arguments\":{\"message\":\"hi ${seq}\",\"n\":${rand:1:100},"
        "\"list\":[1.50,-2e3,true,null,{\"w\":${worker}}]}}",
        "{}",
        "{\"cursor\":\"c-${seq}\"}",
        "{\"uri\":\"demo://${rand:1:9}\"}",
        "{\"name\":\"p\",\"arguments\":{\"who\":\"${worker}\"}}",
        NULL,
    };
    for (size_t i = 0; i < 6; i++) {
        const struct scn_step *st = &s->steps[i];
        assert_string_equal(st->name, names[i]);
        assert_int_equal(st->method, methods[i]);
        assert_string_equal(st->method_name, mnames[i]);
        assert_int_equal(st->weight, weights[i]);
        if (params[i] == NULL) {
            assert_null(st->params_text);
            assert_null(st->params);
        } else {
            assert_string_equal(st->params_text, params[i]);
            assert_non_null(st->params);
        }
        assert_int_equal(scenario_step_index(s, names[i]), (int)i);
    }
    assert_int_equal(scenario_step_index(s, "nope"), -1);
    assert_true(tmpl_is_constant(s->steps[1].params));

    /* rendering: seq, worker and the numeric rule; the result parses as JSON */
    struct tmpl_vars v = {.seq = 17, .worker = 4, .rng = NULL};
    char buf[512];
    assert_true(tmpl_max_len(s->steps[0].params) < sizeof buf);
    long n = tmpl_render(s->steps[0].params, &v, buf, sizeof buf);
    assert_string_equal(buf, "{\"name\":\"echo\",\"arguments\":{\"message\":\"hi 17\",\"n\":1,"
                             "\"list\":[1.50,-2e3,true,null,{\"w\":4}]}}");
    assert_int_equal(n, (long)strlen(buf));
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    cJSON *args = cJSON_GetObjectItemCaseSensitive(j, "arguments");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(args, "n")));
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(args, "message")));
    cJSON_Delete(j);
    tmpl_render(s->steps[4].params, &v, buf, sizeof buf);
    assert_string_equal(buf, "{\"name\":\"p\",\"arguments\":{\"who\":\"4\"}}");

    assert_int_equal(s->threshold_count, 8);
    check_threshold(&s->thresholds[0], "p99.9 <= 1.5s", -1, SCN_M_PERCENTILE, 99.9, SCN_LE, 1.5e9);
    check_threshold(&s->thresholds[1], "mean < 20ms", -1, SCN_M_MEAN, 0, SCN_LT, 20e6);
    check_threshold(&s->thresholds[2], "max<2s", -1, SCN_M_MAX, 0, SCN_LT, 2e9);
    check_threshold(&s->thresholds[3], "error_rate < 1%", -1, SCN_M_ERROR_RATE, 0, SCN_LT,
                    1.0 / 100.0);
    check_threshold(&s->thresholds[4], "error_rate <= 0.005", -1, SCN_M_ERROR_RATE, 0, SCN_LE,
                    0.005);
    check_threshold(&s->thresholds[5], "rate >= 150/s", -1, SCN_M_RATE, 0, SCN_GE, 150);
    check_threshold(&s->thresholds[6], "p50 > 500us", -1, SCN_M_PERCENTILE, 50, SCN_GT, 500e3);
    check_threshold(&s->thresholds[7], "p75 < 5ms", 3, SCN_M_PERCENTILE, 75, SCN_LT, 5e6);
    scenario_free(s);
}

static void test_defaults(void **state)
{
    (void)state;
    struct scenario *s = parse_ok("{\"target\": {\"transport\": \"stdio\", \"command\": [\"srv\"]},"
                                  " \"load\": {\"duration\": 2.5},"
                                  " \"steps\": [{\"method\": \"ping\"}]}");
    assert_string_equal(s->name, "t"); /* from the file name */
    assert_int_equal(s->transport, SCN_STDIO);
    assert_string_equal(s->command[0], "srv");
    assert_null(s->command[1]);
    assert_int_equal(s->env_count, 0);
    assert_null(s->cwd);
    assert_int_equal(s->processes, SCN_PROCS_SHARED);
    assert_null(s->url);
    assert_int_equal(s->header_count, 0);
    assert_int_equal(s->ready_timeout_ns, 15 * NS_PER_S);
    assert_string_equal(s->protocol_version, "2025-11-25");
    assert_int_equal(s->session, SCN_SESSION_PER_VU);
    assert_string_equal(s->client_name, "loadscope");
    assert_int_equal(s->model, SCN_CLOSED);
    assert_int_equal(s->concurrency, 1);
    assert_int_equal(s->duration_ns, 2500 * NS_PER_MS);
    assert_int_equal(s->warmup_ns, 0);
    assert_true(s->keepalive);
    assert_int_equal(s->timeout_ns, 30 * NS_PER_S);
    assert_int_equal(s->step_count, 1);
    assert_string_equal(s->steps[0].name, "ping");
    assert_int_equal(s->steps[0].weight, 1);
    assert_int_equal(s->weight_total, 1);
    assert_int_equal(s->threshold_count, 0);
    assert_true(scenario_rate_at(s, 0) == 0.0); /* closed loop has no arrival rate */
    scenario_free(s);

    /* open loop: max_in_flight from concurrency; per-VU processes */
    s = parse_ok("{\"target\": {\"transport\": \"stdio\", \"command\": [\"srv\"],"
                 " \"processes\": \"per_vu\"},"
                 " \"load\": {\"model\": \"open\", \"rate\": 50, \"concurrency\": 12,"
                 " \"duration\": \"1m\"},"
                 " \"steps\": [{\"method\": \"tools/call\", \"tool\": \"t\"}]}");
    assert_int_equal(s->processes, SCN_PROCS_PER_VU);
    assert_int_equal(s->concurrency, 12);
    assert_int_equal(s->max_in_flight, 12);
    assert_int_equal(s->duration_ns, 60 * NS_PER_S);
    assert_string_equal(s->steps[0].params_text, "{\"name\":\"t\",\"arguments\":{}}");
    scenario_free(s);

    s = parse_ok("{\"target\": {\"transport\": \"http\", \"url\": \"https://x\"},"
                 " \"load\": {\"model\": \"open\", \"rate\": 0.5, \"duration\": \"3s\"},"
                 " \"steps\": [{\"method\": \"ping\"}]}");
    assert_null(s->command);
    assert_int_equal(s->max_in_flight, 1000);
    assert_int_equal(s->concurrency, 1000);
    scenario_free(s);
}

/* ---- invalid scenarios ----------------------------------------------------- */

#define T_ "  \"target\": {\"transport\": \"stdio\", \"command\": [\"srv\"]},\n"
#define L_ "  \"load\": {\"concurrency\": 2, \"duration\": \"5s\"},\n"
#define S_ "  \"steps\": [{\"name\": \"a\", \"method\": \"tools/call\", \"tool\": \"echo\"}]\n"
static const struct bad_case {
    const char *text;
    const char *want;
} bad_cases[] = {
    /* syntax */
    {"{\n  \"a\": 1\n  \"b\": 2\n}",
     "t.json:3:3: invalid JSON: unexpected '\"'; expected ',' or '}'"},
    {"{\n  \"a\": \"abc\n}",
     "t.json:2:12: invalid JSON: control character 0x0A in a string (escape it)"},
    {"{\"a\": [1, 2,]}", "t.json:1:13: invalid JSON: trailing comma before ']'"},
    {"", "t.json:1:1: invalid JSON: unexpected end of input; expected a value"},
    {"{\"a\": 01}", "t.json:1:7: invalid JSON: invalid number (leading zero)"},
    {"{\"a\": \"\\q\"}", "t.json:1:8: invalid JSON: invalid escape \\ followed by 'q'"},
    {"{} x", "t.json:1:4: invalid JSON: unexpected 'x' after the end of the document"},
    {"[1,\n 2", "t.json:2:3: invalid JSON: unexpected end of input; expected ',' or ']'"},
    {"{\"a\": \"abc", "t.json:1:7: invalid JSON: unterminated string"},
    {"{\n  \"a\" 1}", "t.json:2:7: invalid JSON: unexpected '1'; expected ':' after the key"},
    /* types and values */
    {"[]", "t.json:1:1: $: expected an object, found an empty array"},
    {"{\n" T_ "  \"load\": {\"concurrency\": \"8\", \"duration\": \"5s\"},\n" S_ "}",
     "t.json:3:27: $.load.concurrency: expected a positive integer, found \"8\""},
    {"{\n" T_ "  \"load\": {\"concurrency\": -3, \"duration\": \"5s\"},\n" S_ "}",
     "t.json:3:27: $.load.concurrency: expected a positive integer, found -3"},
    {"{\n" T_ "  \"load\": {\"concurrency\": 2.5, \"duration\": \"5s\"},\n" S_ "}",
     "t.json:3:27: $.load.concurrency: expected a positive integer, found 2.5"},
    {"{\n" T_ "  \"load\": {\"concurency\": 2, \"duration\": \"5s\"},\n" S_ "}",
     "t.json:3:12: $.load.concurency: unknown key \"concurency\"; did you mean \"concurrency\"?"},
    {"{\n" T_ L_ S_ ", \"foo\": 1}",
     "t.json:5:3: $.foo: unknown key \"foo\"; expected \"name\", \"target\", \"mcp\", \"load\", "
     "\"http\", \"steps\", \"thresholds\" or \"aws\""},
    {"{\n" T_ L_ "  \"steps\": [{\"method\": \"tools/cal\", \"tool\": \"echo\"}]\n}",
     "t.json:4:24: $.steps[0].method: expected one of \"tools/call\", \"tools/list\", "
     "\"resources/read\", \"prompts/get\" or \"ping\", found \"tools/cal\"; did you mean "
     "\"tools/call\"?"},
    {"{\n" T_ L_ "  \"steps\": [{\"method\": \"tools/call\"}]\n}",
     "t.json:4:13: $.steps[0].tool: expected a non-empty string (the tool to call), but the key is "
     "missing"},
    {"{\n" T_ L_ "  \"steps\": [{\"method\": \"tools/call\", \"tool\": \"t\",\n    \"arguments\": "
                 "{\"q\": {\"deep\": [\"ok\", \"x${sq}\"]}}}]\n}",
     "t.json:5:40: $.steps[0].arguments.q.deep[1]: bad template: unknown placeholder ${sq} at "
     "offset 1; expected ${seq}, ${worker} or ${rand:LO:HI}"},
    {"{\n" T_ L_ S_ ",\n  \"thresholds\": [\"p99 << 5ms\"]\n}",
     "t.json:6:18: $.thresholds[0]: bad check \"p99 << 5ms\": expected a single value after the "
     "operator, found \"< 5ms\""},
    {"{\n" T_ L_ S_ ",\n  \"thresholds\": [\"p99 < 5\"]\n}",
     "t.json:6:18: $.thresholds[0]: bad check \"p99 < 5\": \"5\" is not a duration (like 50ms or "
     "1.5s)"},
    {"{\n" T_ L_ S_ ",\n  \"thresholds\": [\"p999x < 5ms\"]\n}",
     "t.json:6:18: $.thresholds[0]: bad check \"p999x < 5ms\": unknown metric \"p999x\"; expected "
     "pNN (like p99 or p99.9), mean, max, error_rate or rate"},
    {"{\n" T_ L_ S_ ",\n  \"thresholds\": [\"error_rate < 150%\"]\n}",
     "t.json:6:18: $.thresholds[0]: bad check \"error_rate < 150%\": \"150%\" is not an error rate "
     "(like 1% or 0.01)"},
    {"{\n" T_ L_ S_ ",\n  \"thresholds\": [{\"step\": \"b\", \"check\": \"p50 < 1ms\"}]\n}",
     "t.json:6:27: $.thresholds[0].step: no step named \"b\""},
    {"{\n" T_ "  \"load\": {\"concurrency\": 2, \"duration\": \"10 s\"},\n" S_ "}",
     "t.json:3:42: $.load.duration: expected a duration like \"10s\", \"250ms\" or \"1m30s\", or a "
     "number of seconds, found \"10 s\""},
    {"{\n" T_ "  \"load\": {\"concurrency\": 2, \"duration\": \"0s\"},\n" S_ "}",
     "t.json:3:42: $.load.duration: expected a duration greater than 0, found \"0s\""},
    {"{\n" T_ "  \"load\": {\"concurrency\": 2},\n" S_ "}",
     "t.json:3:11: $.load.duration: expected a duration like \"10s\", but the key is missing"},
    {"{\n" T_ L_ "  \"steps\": [{\"name\": \"a\", \"method\": \"ping\"},\n            {\"name\": "
                 "\"a\", \"method\": \"ping\"}]\n}",
     "t.json:5:22: $.steps[1].name: duplicate step name \"a\" (also $.steps[0]); step names must "
     "be unique"},
    {"{\n" T_ L_ "  \"steps\": [{\"method\": \"tools/call\", \"tool\": \"t\", \"uri\": \"x\"}]\n}",
     "t.json:4:51: $.steps[0].uri: not allowed for method \"tools/call\""},
    {"{\n" T_ L_ "  \"steps\": []\n}",
     "t.json:4:12: $.steps: expected a non-empty array of steps, found an empty array"},
    {"{\n" T_ L_ "  \"steps\": [{\"method\": \"resources/read\", \"uri\": \"a://${rand:9:1}\"}]\n}",
     "t.json:4:49: $.steps[0].uri: bad template: reversed bounds in ${rand:9:1} at offset 4; "
     "expected LO <= HI"},
    {"{\n  \"target\": {\"transport\": \"stdio\", \"command\": \"node server.js\"},\n" L_ S_ "}",
     "t.json:2:47: $.target.command: expected a non-empty array of strings (the program and its "
     "arguments), found \"node server.js\""},
    {"{\n  \"target\": {\"transport\": \"stdio\", \"command\": [\"x\"], \"url\": "
     "\"http://a\"},\n" L_ S_ "}",
     "t.json:2:54: $.target.url: only allowed with \"transport\": \"http\""},
    {"{\n  \"target\": {\"transport\": \"http\", \"url\": \"ftp://a\"},\n" L_ S_ "}",
     "t.json:2:42: $.target.url: expected a URL starting with http:// or https://, found "
     "\"ftp://a\""},
    {"{\n  \"target\": {\"transport\": \"http\"},\n" L_ S_ "}",
     "t.json:2:13: $.target.url: expected a URL starting with http:// or https://, but the key is "
     "missing"},
    {"{\n" T_ "  \"load\": {\"model\": \"open\", \"duration\": \"5s\"},\n" S_ "}",
     "t.json:3:11: $.load.rate: expected a number greater than 0 (requests per second) or "
     "\"stages\", but the key is missing"},
    {"{\n" T_ "  \"load\": {\"model\": \"closed\", \"rate\": 5, \"duration\": \"5s\"},\n" S_ "}",
     "t.json:3:31: $.load.rate: only allowed with \"model\": \"open\""},
    {"{\n" T_ L_ "  \"mcp\": {\"protocol_version\": \"2024-11-05\"},\n" S_ "}",
     "t.json:4:31: $.mcp.protocol_version: expected one of \"2025-03-26\", \"2025-06-18\" or "
     "\"2025-11-25\", found \"2024-11-05\"; did you mean \"2025-11-25\"?"},
    {"{\n" T_ L_ "  \"load\": {},\n" S_ "}", "t.json:4:3: $.load: duplicate key \"load\""},
    {"{\n" T_ L_ "  \"steps\": [{\"method\": \"tools/call\", \"tool\": \"t\", \"arguments\": {\"a "
                 "b\": \"${x}\"}}]\n}",
     "t.json:4:72: $.steps[0].arguments[\"a b\"]: bad template: unknown placeholder ${x} at offset "
     "0; expected ${seq}, ${worker} or ${rand:LO:HI}"},
    {"{\n" T_ L_ "  \"steps\": [{\"method\": \"prompts/get\", \"prompt\": \"p\", \"arguments\": "
                 "{\"n\": 5}}]\n}",
     "t.json:4:73: $.steps[0].arguments.n: expected a string (prompt arguments are strings), found "
     "5"},
    {"{\n" T_ L_ "  \"http\": {\"keepalive\": \"yes\"},\n" S_ "}",
     "t.json:4:25: $.http.keepalive: expected true or false, found \"yes\""},
    {"{\n" T_ L_ "  \"steps\": [{\"name\": \"echo\", \"method\": \"ping\"}]"
     ",\n  \"thresholds\": [{\"step\": \"ehco\", \"check\": \"p50 < 1ms\"}]\n}",
     "t.json:5:27: $.thresholds[0].step: no step named \"ehco\"; did you mean \"echo\"?"},
    /* target.worker_threads */
    {"{\n  \"target\": {\"transport\": \"stdio\", \"command\": [\"x\"], \"worker_threads\": \"tokio\"},\n" L_ S_ "}",
     "t.json:2:72: $.target.worker_threads: expected an array of thread names, found \"tokio\""},
    {"{\n  \"target\": {\"transport\": \"stdio\", \"command\": [\"x\"], \"worker_threads\": [\"a,b\"]},\n" L_ S_ "}",
     "t.json:2:73: $.target.worker_threads[0]: a thread name has no comma and at most 15 bytes (the "
     "kernel's limit)"},
    {"{\n  \"target\": {\"transport\": \"http\", \"url\": \"http://127.0.0.1:1/\", \"worker_threads\": []},\n" L_ S_ "}",
     "t.json:2:65: $.target.worker_threads: only allowed together with \"command\""},
};

static void test_worker_threads(void **state)
{
    (void)state;
    struct scenario *s = parse_ok("{\n  \"target\": {\"transport\": \"stdio\", \"command\": [\"x\"], "
                                  "\"worker_threads\": [\"tokio-runtime-w\", \"actix-rt\"]},\n" L_ S_ "}");
    assert_string_equal(s->worker_threads, "tokio-runtime-w,actix-rt");
    scenario_free(s);
    s = parse_ok("{\n" T_ L_ S_ "}");
    assert_null(s->worker_threads);
    scenario_free(s);
}

static void test_invalid_scenarios(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        struct scenario *s = (struct scenario *)&s;
        char err[512];
        ls_err rc = scenario_parse("t.json", bad_cases[i].text, strlen(bad_cases[i].text), &s, err,
                                   sizeof err);
        if (rc != LS_ERR_INVALID)
            fail_msg("case %zu: rc %d, want LS_ERR_INVALID", i, rc);
        assert_null(s);
        if (strcmp(err, bad_cases[i].want) != 0)
            fail_msg("case %zu:\n got: %s\nwant: %s", i, err, bad_cases[i].want);
    }
}

static void test_load_errors(void **state)
{
    (void)state;
    struct scenario *s = NULL;
    char err[256];
    assert_int_equal(scenario_load("/nonexistent/x.json", &s, err, sizeof err), LS_ERR_IO);
    assert_null(s);
    assert_string_equal(err, "/nonexistent/x.json: cannot open: No such file or directory");

    /* a NUL byte inside the text */
    assert_int_equal(scenario_parse("n.json", "{\n \0}", 4, &s, err, sizeof err), LS_ERR_INVALID);
    assert_string_equal(err, "n.json:2:2: invalid JSON: NUL byte");

    /* tiny and absent error buffers are fine */
    char small[6];
    assert_int_equal(scenario_parse("n.json", "[", 1, &s, small, sizeof small), LS_ERR_INVALID);
    assert_string_equal(small, "n.jso");
    assert_int_equal(scenario_parse("n.json", "[", 1, &s, NULL, 0), LS_ERR_INVALID);
}

/* ---- steps ----------------------------------------------------------------- */

#define HEAD_                                                                                      \
    "{\"target\": {\"transport\": \"stdio\", \"command\": [\"srv\"]},"                             \
    " \"load\": {\"duration\": \"1s\"}, "

static void test_numeric_placeholder_rule(void **state)
{
    (void)state;
    struct scenario *s = parse_ok(
        HEAD_ "\"steps\": [{\"method\": \"tools/call\", \"tool\": \"${seq}\", \"arguments\": {"
              "\"a\": \"${seq}\", \"b\": \" ${seq}\", \"c\": \"${seq}${seq}\","
              " \"d\": \"$${seq}\", \"e\": [\"${rand:-5:-5}\", \"x${worker}\"],"
              " \"f\": {\"g\": \"${worker}\"}, \"h\": \"\\u0024{seq}\", \"${seq}\": 1,"
              " \"i\": 12345678901234567890123, \"j\": \"caf\\u00e9 \\\"q\\\"\"}}]}");
    const char *want =
        "{\"name\":\"${seq}\",\"arguments\":{\"a\":${seq},\"b\":\" ${seq}\","
        "\"c\":\"${seq}${seq}\",\"d\":\"$${seq}\",\"e\":[${rand:-5:-5},\"x${worker}\"],"
        "\"f\":{\"g\":${worker}},\"h\":\"\\u0024{seq}\",\"${seq}\":1,"
        "\"i\":12345678901234567890123,\"j\":\"caf\\u00e9 \\\"q\\\"\"}}";
    assert_string_equal(s->steps[0].params_text, want);

    struct tmpl_vars v = {.seq = 7, .worker = 2, .rng = NULL};
    char buf[512];
    assert_true(tmpl_render(s->steps[0].params, &v, buf, sizeof buf) > 0);
    assert_string_equal(buf, "{\"name\":\"7\",\"arguments\":{\"a\":7,\"b\":\" 7\",\"c\":\"77\","
                             "\"d\":\"${seq}\",\"e\":[-5,\"x2\"],\"f\":{\"g\":2},"
                             "\"h\":\"\\u0024{seq}\",\"7\":1,\"i\":12345678901234567890123,"
                             "\"j\":\"caf\\u00e9 \\\"q\\\"\"}}");
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    cJSON_Delete(j);
    scenario_free(s);

    /* elsewhere a lone placeholder stays a string */
    s = parse_ok(HEAD_ "\"steps\": [{\"method\": \"resources/read\", \"uri\": \"${seq}\"},"
                       " {\"method\": \"prompts/get\", \"prompt\": \"p\","
                       " \"arguments\": {\"n\": \"${seq}\"}}]}");
    assert_string_equal(s->steps[0].params_text, "{\"uri\":\"${seq}\"}");
    assert_string_equal(s->steps[1].params_text,
                        "{\"name\":\"p\",\"arguments\":{\"n\":\"${seq}\"}}");
    scenario_free(s);
}

static void test_step_names(void **state)
{
    (void)state;
    struct scenario *s = parse_ok(
        HEAD_ "\"steps\": [{\"method\": \"tools/list\"}, {\"method\": \"tools/list\"},"
              " {\"name\": \"ping\", \"method\": \"tools/call\", \"tool\": \"x\"},"
              " {\"method\": \"ping\"}, {\"method\": \"resources/read\", \"uri\": \"u\"}]}");
    assert_int_equal(s->step_count, 5);
    assert_string_equal(s->steps[0].name, "tools/list#0");
    assert_string_equal(s->steps[1].name, "tools/list#1");
    assert_string_equal(s->steps[2].name, "ping");
    assert_string_equal(s->steps[3].name, "ping#3");
    assert_string_equal(s->steps[4].name, "resources/read");
    scenario_free(s);
}

/* ---- rate ramps ------------------------------------------------------------- */

static void test_rate_at(void **state)
{
    (void)state;
    struct scenario *s =
        parse_ok("{\"target\": {\"transport\": \"stdio\", \"command\": [\"srv\"]},"
                 " \"load\": {\"model\": \"open\", \"rate\": 100, \"stages\": ["
                 "{\"duration\": \"10s\", \"target\": 200}, {\"duration\": \"5s\", \"target\": 50},"
                 " {\"duration\": 0, \"target\": 400}, {\"duration\": \"4s\", \"target\": 400}]},"
                 " \"steps\": [{\"method\": \"ping\"}]}");
    assert_int_equal(s->duration_ns, 19 * NS_PER_S);
    assert_true(scenario_rate_at(s, 0) == 100.0);
    assert_true(scenario_rate_at(s, 5 * NS_PER_S) == 150.0);
    assert_true(scenario_rate_at(s, 2500 * NS_PER_MS) == 125.0);
    assert_true(scenario_rate_at(s, 10 * NS_PER_S) == 200.0);
    assert_true(scenario_rate_at(s, 12500 * NS_PER_MS) == 125.0);
    assert_true(scenario_rate_at(s, 15 * NS_PER_S - 1) > 50.0);
    assert_true(scenario_rate_at(s, 15 * NS_PER_S) == 400.0); /* zero-length stage: a jump */
    assert_true(scenario_rate_at(s, 17 * NS_PER_S) == 400.0);
    assert_true(scenario_rate_at(s, 19 * NS_PER_S) == 400.0);
    assert_true(scenario_rate_at(s, 1000 * NS_PER_S) == 400.0);
    assert_true(scenario_rate_at(s, UINT64_MAX) == 400.0);
    scenario_free(s);

    /* ramp from 0; an explicit duration longer than the stages holds the last target */
    s = parse_ok("{\"target\": {\"transport\": \"stdio\", \"command\": [\"srv\"]},"
                 " \"load\": {\"model\": \"open\", \"duration\": \"1m\", \"stages\": ["
                 "{\"duration\": \"4s\", \"target\": 80}]},"
                 " \"steps\": [{\"method\": \"ping\"}]}");
    assert_true(s->rate == 0.0);
    assert_int_equal(s->duration_ns, 60 * NS_PER_S);
    assert_true(scenario_rate_at(s, 0) == 0.0);
    assert_true(scenario_rate_at(s, 1 * NS_PER_S) == 20.0);
    assert_true(scenario_rate_at(s, 3 * NS_PER_S) == 60.0);
    assert_true(scenario_rate_at(s, 30 * NS_PER_S) == 80.0);
    scenario_free(s);

    /* constant rate without stages */
    s = parse_ok("{\"target\": {\"transport\": \"stdio\", \"command\": [\"srv\"]},"
                 " \"load\": {\"model\": \"open\", \"rate\": 33, \"duration\": \"5s\"},"
                 " \"steps\": [{\"method\": \"ping\"}]}");
    assert_true(scenario_rate_at(s, 0) == 33.0);
    assert_true(scenario_rate_at(s, 4 * NS_PER_S) == 33.0);
    scenario_free(s);
}

/* ---- durations ------------------------------------------------------------- */

static void test_parse_duration(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t ns;
    } good[] = {
        {"0", 0},
        {"0s", 0},
        {"250ms", 250 * NS_PER_MS},
        {"10s", 10 * NS_PER_S},
        {"1m30s", 90 * NS_PER_S},
        {"2h", 7200 * NS_PER_S},
        {"1.5s", 1500 * NS_PER_MS},
        {"500us", 500000},
        {"500\xC2\xB5s", 500000},
        {"42ns", 42},
        {".5s", 500 * NS_PER_MS},
        {"1h2m3s4ms5us6ns", 3723004005006ULL},
        {"0.000000001s", 1},
        {"0.0000000019s", 1}, /* below a nanosecond truncates */
        {"1.5h", 5400 * NS_PER_S},
        {"0.1s", 100 * NS_PER_MS},
        {"18446744073709551615ns", UINT64_MAX},
        {"5124095h", 5124095ULL * 3600 * NS_PER_S},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t ns = 12345;
        if (!scenario_parse_duration(good[i].text, &ns))
            fail_msg("\"%s\" rejected", good[i].text);
        if (ns != good[i].ns)
            fail_msg("\"%s\": %llu, want %llu", good[i].text, (unsigned long long)ns,
                     (unsigned long long)good[i].ns);
    }
    static const char *const bad[] = {
        "",
        "1",
        "10",
        "s",
        "-1s",
        "+1s",
        "1 s",
        " 1s",
        "1s ",
        "1sec",
        "1x",
        "1.s.",
        ".s",
        "1..5s",
        "ms",
        "1m30",
        "18446744073709551616ns",
        "5124096h",
        "1e3s",
        "0x10s",
        "1S",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t ns = 777;
        if (scenario_parse_duration(bad[i], &ns))
            fail_msg("\"%s\" accepted as %llu", bad[i], (unsigned long long)ns);
        assert_int_equal(ns, 777);
    }
    uint64_t ns = 0;
    assert_false(scenario_parse_duration(NULL, &ns));
    assert_true(scenario_parse_duration("1.s", &ns)); /* Go accepts a bare trailing dot */
    assert_int_equal(ns, NS_PER_S);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_scenario_from_file),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_invalid_scenarios),
        cmocka_unit_test(test_worker_threads),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_numeric_placeholder_rule),
        cmocka_unit_test(test_step_names),
        cmocka_unit_test(test_rate_at),
        cmocka_unit_test(test_parse_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
