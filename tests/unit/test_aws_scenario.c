/*
 * test_aws_scenario: the scenario loader's AWS parts: steps, sizes, the
 * "aws" object and its setup, transport "aws", and the exact messages
 * (file:line:col and JSON path) for mistakes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "scenario/scenario.h"

static struct scenario *parse_ok(const char *text)
{
    struct scenario *s = NULL;
    char err[512];
    ls_err rc = scenario_parse("t.json", text, strlen(text), &s, err, sizeof(err));
    if (rc != LS_OK)
        fail_msg("unexpected error: %s", err);
    return s;
}

static void parse_err(const char *text, const char *want)
{
    struct scenario *s = NULL;
    char err[512];
    ls_err rc = scenario_parse("t.json", text, strlen(text), &s, err, sizeof(err));
    if (rc == LS_OK) {
        scenario_free(s);
        fail_msg("accepted, expected: %s", want);
    }
    assert_null(s);
    if (strcmp(err, want) != 0)
        fail_msg("\n got: %s\nwant: %s", err, want);
}

#define LOAD "\"load\": {\"concurrency\": 2, \"duration\": \"1s\"},\n"

static void test_aws_only(void **state)
{
    (void)state;
    struct scenario *s = parse_ok(
        "{\"target\": {\"transport\": \"aws\"},\n" LOAD
        "\"aws\": {\"region\": \"eu-west-1\", \"profile\": \"p\",\n"
        "  \"endpoints\": {\"dynamodb\": \"http://127.0.0.1:4567\", \"s3\": \"http://127.0.0.1:4568/\"},\n"
        "  \"setup\": [{\"create_table\": {\"TableName\": \"t\", \"KeySchema\": []}, \"wait_active\": false},\n"
        "             {\"put_items\": {\"table\": \"t\", \"count\": 30, \"item\": {\"pk\": {\"S\": \"k${seq}\"}}}},\n"
        "             {\"create_bucket\": \"bkt\"},\n"
        "             {\"put_objects\": {\"bucket\": \"bkt\", \"count\": 3, \"key\": \"o/${seq}\", \"size\": 70000}}]},\n"
        "\"steps\": [{\"method\": \"dynamodb.GetItem\", \"request\": {\"TableName\": \"t\", \"Key\": {\"pk\": {\"N\": \"${rand:1:9}\"}}}},\n"
        "  {\"name\": \"put\", \"weight\": 2, \"method\": \"s3.PutObject\", \"bucket\": \"bkt\", \"key\": \"a b/${seq}\",\n"
        "   \"size\": {\"lognormal\": {\"median\": 1000, \"sigma\": 1}}},\n"
        "  {\"method\": \"s3.GetObject\", \"bucket\": \"bkt\", \"key\": \"o/${rand:0:2}\"},\n"
        "  {\"method\": \"dynamodb.BatchGetItem\", \"request\": {\"RequestItems\": {\"t\": {\"Keys\": []}}}}]}\n");
    assert_int_equal(s->transport, SCN_AWS);
    assert_true(s->has_aws_steps);
    assert_false(s->has_mcp_steps);
    assert_string_equal(s->aws->region, "eu-west-1");
    assert_string_equal(s->aws->profile, "p");
    assert_string_equal(s->aws->endpoint[SCN_AWS_S3], "http://127.0.0.1:4568/");
    assert_int_equal(s->aws->setup_count, 4);
    assert_int_equal(s->aws->setup[0].kind, SCN_SETUP_CREATE_TABLE);
    assert_false(s->aws->setup[0].wait_active);
    assert_string_equal(s->aws->setup[0].table, "t");
    assert_string_equal(s->aws->setup[0].body, "{\"TableName\":\"t\",\"KeySchema\":[]}");
    assert_int_equal(s->aws->setup[1].count, 30);
    assert_string_equal(s->aws->setup[2].bucket, "bkt");
    assert_int_equal(s->aws->setup[3].size.kind, SCN_SIZE_FIXED);
    /* the largest object: lognormal's default max is 100 x the median */
    assert_int_equal(s->aws->max_object_bytes, 100000);
    assert_int_equal(s->step_count, 4);
    assert_string_equal(s->steps[0].name, "dynamodb.GetItem");
    assert_string_equal(s->steps[0].method_name, "dynamodb.GetItem");
    assert_string_equal(s->steps[0].aws->op, "GetItem");
    /* DynamoDB numbers are strings: a lone placeholder stays quoted */
    assert_string_equal(s->steps[0].params_text,
                        "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"N\":\"${rand:1:9}\"}}}");
    assert_int_equal(s->steps[1].method, SCN_S3_PUT_OBJECT);
    assert_int_equal(s->steps[1].weight, 2);
    assert_int_equal(s->steps[1].aws->service, SCN_AWS_S3);
    assert_string_equal(s->steps[1].params_text,
                        "{\"bucket\":\"bkt\",\"key\":\"a b/${seq}\",\"size\":{\"lognormal\":"
                        "{\"median\":1000,\"sigma\":1}}}");
    assert_int_equal(s->steps[1].aws->size.kind, SCN_SIZE_LOGNORMAL);
    assert_int_equal(s->steps[3].method, SCN_DDB_BATCH_GET_ITEM);
    assert_int_equal(s->weight_total, 5);
    scenario_free(s);
}

static void test_mixed(void **state)
{
    (void)state;
    struct scenario *s = parse_ok(
        "{\"target\": {\"transport\": \"stdio\", \"command\": [\"srv\"]},\n" LOAD
        "\"steps\": [{\"method\": \"ping\"},\n"
        "  {\"method\": \"s3.PutObject\", \"bucket\": \"bkt\", \"key\": \"k\",\n"
        "   \"size\": {\"choices\": [{\"size\": 10}, {\"size\": 900, \"weight\": 3}]}}]}\n");
    assert_true(s->has_aws_steps);
    assert_true(s->has_mcp_steps);
    assert_null(s->steps[0].aws);
    assert_non_null(s->aws); /* made to carry the largest object size */
    assert_int_equal(s->aws->max_object_bytes, 900);
    assert_int_equal(s->steps[1].aws->size.weight_total, 4);
    scenario_free(s);
}

static void test_errors(void **state)
{
    (void)state;
    parse_err("{\"target\": {\"transport\": \"aws\", \"url\": \"http://x\"},\n" LOAD
              "\"steps\": [{\"method\": \"dynamodb.GetItem\", \"request\": {\"TableName\": \"t\"}}]}",
              "t.json:1:33: $.target.url: not allowed with \"transport\": \"aws\" (no MCP target)");
    parse_err("{\"target\": {\"transport\": \"aws\"},\n" LOAD "\"steps\": [{\"method\": \"ping\"}]}",
              "t.json:3:22: $.steps[0].method: MCP method \"ping\" needs an MCP target; "
              "\"transport\": \"aws\" runs AWS steps only (\"dynamodb.*\", \"s3.*\")");
    parse_err("{\"target\": {\"transport\": \"aws\"},\n" LOAD
              "\"steps\": [{\"method\": \"dynamodb.GetItm\", \"request\": {}}]}",
              "t.json:3:22: $.steps[0].method: expected one of \"dynamodb.GetItem\", "
              "\"dynamodb.PutItem\", \"dynamodb.UpdateItem\", \"dynamodb.DeleteItem\", "
              "\"dynamodb.Query\", \"dynamodb.BatchGetItem\", \"dynamodb.BatchWriteItem\", "
              "\"s3.PutObject\" or \"s3.GetObject\", found \"dynamodb.GetItm\"; did you mean "
              "\"dynamodb.GetItem\"?");
    parse_err("{\"target\": {\"transport\": \"aws\"},\n" LOAD
              "\"steps\": [{\"method\": \"dynamodb.GetItem\", \"request\": {\"Key\": {}}}]}",
              "t.json:3:53: $.steps[0].request.TableName: expected a non-empty string (the table), "
              "but the key is missing");
    parse_err("{\"target\": {\"transport\": \"aws\"},\n" LOAD
              "\"steps\": [{\"method\": \"dynamodb.Query\", \"bucket\": \"b\"}]}",
              "t.json:3:40: $.steps[0].bucket: not allowed for method \"dynamodb.Query\"");
    parse_err("{\"target\": {\"transport\": \"aws\"},\n" LOAD
              "\"steps\": [{\"method\": \"s3.GetObject\", \"bucket\": \"b\", \"key\": \"k\", \"size\": 3}]}",
              "t.json:3:65: $.steps[0].size: not allowed for method \"s3.GetObject\"");
    parse_err("{\"target\": {\"transport\": \"aws\"},\n" LOAD
              "\"steps\": [{\"method\": \"s3.PutObject\", \"bucket\": \"Bad_Bucket\", \"key\": \"k\", \"size\": 3}]}",
              "t.json:3:48: $.steps[0].bucket: expected a bucket name: 3 to 63 of a-z, 0-9, '.' and "
              "'-', found \"Bad_Bucket\"");
    parse_err("{\"target\": {\"transport\": \"aws\"},\n" LOAD
              "\"steps\": [{\"method\": \"s3.PutObject\", \"bucket\": \"bkt\", \"key\": \"k\",\n"
              "  \"size\": {\"uniform\": [500, 100]}}]}",
              "t.json:4:29: $.steps[0].size.uniform[1]: expected HI >= LO (500), found 100");
    parse_err("{\"target\": {\"transport\": \"aws\"},\n" LOAD
              "\"steps\": [{\"method\": \"s3.PutObject\", \"bucket\": \"bkt\", \"key\": \"${bad}\", \"size\": 1}]}",
              "t.json:3:62: $.steps[0].key: bad template: unknown placeholder ${bad} at offset 0; "
              "expected ${seq}, ${worker} or ${rand:LO:HI}");
    parse_err("{\"target\": {\"transport\": \"aws\"},\n" LOAD
              "\"steps\": [{\"method\": \"s3.PutObject\", \"bucket\": \"bkt\", \"key\": \"k\", \"size\": -1}]}",
              "t.json:3:75: $.steps[0].size: expected a whole number of bytes from 0 to 1073741824, "
              "found -1");
    parse_err("{\"target\": {\"transport\": \"aws\"},\n" LOAD
              "\"aws\": {\"setup\": [{\"create_bucket\": \"bkt\", \"put_items\": {}}]},\n"
              "\"steps\": [{\"method\": \"s3.GetObject\", \"bucket\": \"bkt\", \"key\": \"k\"}]}",
              "t.json:3:44: $.aws.setup[0].put_items: one action per setup entry; this one already "
              "has \"create_bucket\"");
    parse_err("{\"target\": {\"transport\": \"aws\"},\n" LOAD
              "\"aws\": {\"setup\": [{\"create_bucket\": \"bkt\", \"wait_active\": true}]},\n"
              "\"steps\": [{\"method\": \"s3.GetObject\", \"bucket\": \"bkt\", \"key\": \"k\"}]}",
              "t.json:3:44: $.aws.setup[0].wait_active: only allowed with \"create_table\"");
    parse_err("{\"target\": {\"transport\": \"aws\"},\n" LOAD
              "\"aws\": {\"endpoints\": {\"dynamodb\": \"ftp://x\"}},\n"
              "\"steps\": [{\"method\": \"s3.GetObject\", \"bucket\": \"bkt\", \"key\": \"k\"}]}",
              "t.json:3:35: $.aws.endpoints.dynamodb: expected a URL starting with http:// or "
              "https://, found \"ftp://x\"");
    parse_err("{\"target\": {\"transport\": \"aws\"},\n" LOAD
              "\"aws\": {\"setup\": [{\"put_items\": {\"table\": \"t\", \"count\": 0, \"item\": {}}}]},\n"
              "\"steps\": [{\"method\": \"s3.GetObject\", \"bucket\": \"bkt\", \"key\": \"k\"}]}",
              "t.json:3:57: $.aws.setup[0].put_items.count: expected a positive integer, found 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_only),
        cmocka_unit_test(test_mixed),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
