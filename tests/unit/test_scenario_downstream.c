/*
 * test_scenario_downstream: the target's "downstream" and
 * "downstream_faults" keys: what is read (URLs, "aws", rates as fractions
 * and percentages, latency distributions, the operations filter, the seed)
 * and the exact message, with file:line:col and JSON path, for each mistake.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "scenario/scenario.h"
#include "scenario/scenario_downstream.h"

static struct scenario *parse_ok(const char *text)
{
    struct scenario *s = NULL;
    char err[512];
    if (scenario_parse("t.json", text, strlen(text), &s, err, sizeof(err)) != LS_OK)
        fail_msg("unexpected error: %s", err);
    return s;
}

static void parse_err(const char *text, const char *want)
{
    struct scenario *s = NULL;
    char err[512];
    if (scenario_parse("t.json", text, strlen(text), &s, err, sizeof(err)) == LS_OK) {
        scenario_free(s);
        fail_msg("accepted, expected: %s", want);
    }
    assert_null(s);
    if (strcmp(err, want) != 0)
        fail_msg("\n got: %s\nwant: %s", err, want);
}

#define HEAD "{\"target\": {\"transport\": \"http\", \"url\": \"http://127.0.0.1:1/mcp\",\n"
#define TAIL "\"load\": {\"duration\": \"1s\"}, \"steps\": [{\"method\": \"ping\"}]}\n"

static void test_read(void **state)
{
    (void)state;
    struct scenario *s = parse_ok(
        HEAD "  \"command\": [\"./server\"],\n"
             "  \"downstream\": {\"dynamodb\": \"http://127.0.0.1:4567\", \"s3\": \"aws\"},\n"
             "  \"downstream_faults\": {\"seed\": 77,\n"
             "    \"dynamodb\": {\"throttle\": \"10%\", \"server_error\": 0.05, \"reset\": \"0.5%\",\n"
             "                 \"latency\": {\"uniform\": [\"5ms\", 0.02]}, \"latency_share\": \"25%\",\n"
             "                 \"operations\": [\"GetItem\", \"BatchGetItem\"]},\n"
             "    \"s3\": {\"latency\": {\"lognormal\": {\"median\": \"10ms\", \"sigma\": 0.5}}}}},\n" TAIL);
    const struct scn_downstream *d = s->downstream;
    assert_non_null(d);
    assert_string_equal(d->url[SCN_AWS_DYNAMODB], "http://127.0.0.1:4567");
    assert_string_equal(d->url[SCN_AWS_S3], "aws");
    assert_int_equal(d->seed, 77);
    const struct scn_ds_faults *f = &d->faults[SCN_AWS_DYNAMODB];
    assert_true(f->any);
    assert_true(f->throttle == 0.10);
    assert_true(f->server_error == 0.05);
    assert_true(f->reset == 0.005);
    assert_int_equal(f->latency.kind, SCN_DSL_UNIFORM);
    assert_int_equal(f->latency.lo_ns, 5000000);
    assert_int_equal(f->latency.hi_ns, 20000000);
    assert_true(f->latency_share == 0.25);
    assert_string_equal(f->operations[0], "GetItem");
    assert_string_equal(f->operations[1], "BatchGetItem");
    assert_null(f->operations[2]);
    f = &d->faults[SCN_AWS_S3];
    assert_true(f->any);
    assert_int_equal(f->latency.kind, SCN_DSL_LOGNORMAL);
    assert_int_equal(f->latency.median_ns, 10000000);
    assert_int_equal(f->latency.hi_ns, 1000000000); /* 100 x the median by default */
    assert_true(f->latency_share == 1.0);
    assert_null(f->operations);
    scenario_free(s);

    /* one service, no faults: the seed defaults to 1 and nothing is drawn */
    s = parse_ok("{\"target\": {\"transport\": \"stdio\", \"command\": [\"x\"],\n"
                 "  \"downstream\": {\"s3\": \"https://s3.eu-west-1.amazonaws.com\"}},\n" TAIL);
    assert_null(s->downstream->url[SCN_AWS_DYNAMODB]);
    assert_int_equal(s->downstream->seed, 1);
    assert_false(s->downstream->faults[SCN_AWS_S3].any);
    scenario_free(s);
}

static void test_errors(void **state)
{
    (void)state;
    parse_err(HEAD "  \"downstream\": {\"dynamodb\": \"aws\"}},\n" TAIL,
              "t.json:2:3: $.target.downstream: only allowed together with \"command\" (the "
              "proxies reach a target through the environment loadscope launches it with)");
    parse_err(HEAD "  \"command\": [\"x\"], \"downstream\": {\"dynamo\": \"aws\"}},\n" TAIL,
              "t.json:2:36: $.target.downstream.dynamo: unknown key \"dynamo\"; did you mean "
              "\"dynamodb\"?");
    parse_err(HEAD "  \"command\": [\"x\"], \"downstream\": {}},\n" TAIL,
              "t.json:2:35: $.target.downstream: expected at least one of \"dynamodb\" or \"s3\", "
              "found an object");
    parse_err(HEAD "  \"command\": [\"x\"], \"downstream\": {\"s3\": \"ftp://h\"}},\n" TAIL,
              "t.json:2:42: $.target.downstream.s3: expected a URL starting with http:// or "
              "https://, or \"aws\" (the endpoint of the AWS configuration chain), found "
              "\"ftp://h\"");
    parse_err(HEAD "  \"command\": [\"x\"], \"downstream_faults\": {}},\n" TAIL,
              "t.json:2:21: $.target.downstream_faults: only allowed together with "
              "\"downstream\"");
    parse_err(HEAD "  \"command\": [\"x\"], \"downstream\": {\"s3\": \"aws\"},\n"
                   "  \"downstream_faults\": {\"dynamodb\": {\"throttle\": 0.1}}},\n" TAIL,
              "t.json:3:25: $.target.downstream_faults.dynamodb: \"dynamodb\" is not in "
              "\"downstream\": its calls are not proxied");
    parse_err(HEAD "  \"command\": [\"x\"], \"downstream\": {\"s3\": \"aws\"},\n"
                   "  \"downstream_faults\": {\"s3\": {\"throttle\": 5}}},\n" TAIL,
              "t.json:3:44: $.target.downstream_faults.s3.throttle: expected a fraction from 0 "
              "to 1 or a percentage like \"5%\", found 5");
    parse_err(HEAD "  \"command\": [\"x\"], \"downstream\": {\"s3\": \"aws\"},\n"
                   "  \"downstream_faults\": {\"s3\": {\"throttle\": \"120%\"}}},\n" TAIL,
              "t.json:3:44: $.target.downstream_faults.s3.throttle: expected a fraction from 0 "
              "to 1 or a percentage like \"5%\", found \"120%\"");
    parse_err(HEAD "  \"command\": [\"x\"], \"downstream\": {\"s3\": \"aws\"},\n"
                   "  \"downstream_faults\": {\"s3\": {\"throttle\": \"60%\", \"reset\": 0.5}}},\n" TAIL,
              "t.json:3:31: $.target.downstream_faults.s3: throttle, server_error and reset add "
              "up to more than 100% (110%); each call draws one of them at most");
    parse_err(HEAD "  \"command\": [\"x\"], \"downstream\": {\"s3\": \"aws\"},\n"
                   "  \"downstream_faults\": {\"s3\": {\"latency_share\": 0.5}}},\n" TAIL,
              "t.json:3:32: $.target.downstream_faults.s3.latency_share: only allowed together "
              "with \"latency\"");
    parse_err(HEAD "  \"command\": [\"x\"], \"downstream\": {\"s3\": \"aws\"},\n"
                   "  \"downstream_faults\": {\"s3\": {\"latency\": {\"uniform\": [\"9ms\", \"1ms\"]}}}},\n" TAIL,
              "t.json:3:63: $.target.downstream_faults.s3.latency.uniform[1]: expected HI >= LO");
    parse_err(HEAD "  \"command\": [\"x\"], \"downstream\": {\"s3\": \"aws\"},\n"
                   "  \"downstream_faults\": {\"s3\": {\"latency\": \"soon\"}}},\n" TAIL,
              "t.json:3:43: $.target.downstream_faults.s3.latency: expected a duration like "
              "\"10s\", \"250ms\" or \"1m30s\", or a number of seconds, found \"soon\"");
    parse_err(HEAD "  \"command\": [\"x\"], \"downstream\": {\"s3\": \"aws\"},\n"
                   "  \"downstream_faults\": {\"s3\": {\"operations\": []}}},\n" TAIL,
              "t.json:3:46: $.target.downstream_faults.s3.operations: expected a non-empty array "
              "of operation names (\"GetItem\", \"PutObject\", ...), found an empty array");
    parse_err(HEAD "  \"command\": [\"x\"], \"downstream\": {\"s3\": \"aws\"},\n"
                   "  \"downstream_faults\": {\"seed\": -1}},\n" TAIL,
              "t.json:3:33: $.target.downstream_faults.seed: expected an integer from 0 to "
              "9007199254740991, found -1");
    parse_err(HEAD "  \"command\": [\"x\"], \"downstream\": {\"s3\": \"aws\"},\n"
                   "  \"downstream_faults\": {\"s3\": {\"throtle\": 0.1}}},\n" TAIL,
              "t.json:3:32: $.target.downstream_faults.s3.throtle: unknown key \"throtle\"; did "
              "you mean \"throttle\"?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
