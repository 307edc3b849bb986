/*
 * test_aws_proto: DynamoDB JSON and S3 XML error parsing, batch splitting at
 * the 100-key / 25-write limits, UnprocessedKeys/UnprocessedItems follow-ups,
 * URI encoding of keys and object size draws.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "aws/aws_proto.h"

static void test_ddb_errors(void **state)
{
    (void)state;
    char code[64], msg[128];
    const char *a = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException\","
                    "\"message\":\"Requested resource not found\"}";
    assert_true(aws_ddb_parse_error(a, strlen(a), code, sizeof(code), msg, sizeof(msg)));
    assert_string_equal(code, "ResourceNotFoundException");
    assert_string_equal(msg, "Requested resource not found");
    const char *b = "{\"__type\":\"com.amazon.coral.validate#ValidationException\","
                    "\"Message\":\"1 validation error\"}";
    assert_true(aws_ddb_parse_error(b, strlen(b), code, sizeof(code), msg, sizeof(msg)));
    assert_string_equal(code, "ValidationException");
    assert_string_equal(msg, "1 validation error");
    const char *c = "{\"__type\":\"ThrottlingException\"}";
    assert_true(aws_ddb_parse_error(c, strlen(c), code, sizeof(code), msg, sizeof(msg)));
    assert_string_equal(code, "ThrottlingException");
    assert_string_equal(msg, "");
    /* truncated to the buffer */
    char small[8];
    assert_true(aws_ddb_parse_error(a, strlen(a), small, sizeof(small), msg, 5));
    assert_string_equal(small, "Resourc");
    assert_string_equal(msg, "Requ");
    /* not an error document */
    const char *bad[] = {"", "<html>", "{\"Item\":{}}", "{\"__type\":3}", "[1]", "{\"__type\":\"\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(aws_ddb_parse_error(bad[i], strlen(bad[i]), code, sizeof(code), msg, sizeof(msg)));
        assert_string_equal(code, "");
    }
}

static void test_s3_errors(void **state)
{
    (void)state;
    char code[64], msg[128];
    const char *a = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
                    "<Message>The specified key does not exist.</Message><Key>k</Key></Error>";
    assert_true(aws_s3_parse_error(a, strlen(a), code, sizeof(code), msg, sizeof(msg)));
    assert_string_equal(code, "NoSuchKey");
    assert_string_equal(msg, "The specified key does not exist.");
    const char *b = "<Error><Code>SlowDown</Code></Error>";
    assert_true(aws_s3_parse_error(b, strlen(b), code, sizeof(code), msg, sizeof(msg)));
    assert_string_equal(code, "SlowDown");
    assert_string_equal(msg, "");
    /* only the bytes given are read: a cut document has no code */
    assert_false(aws_s3_parse_error(b, 18, code, sizeof(code), msg, sizeof(msg)));
    const char *bad[] = {"", "<Error></Error>", "<Code>X</Code>", "<Error><Code></Code></Error>",
                         "{\"__type\":\"x\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(aws_s3_parse_error(bad[i], strlen(bad[i]), code, sizeof(code), msg, sizeof(msg)));
        assert_string_equal(code, "");
    }
}

/* {"RequestItems":{"A":{"Keys":[n keys],"ProjectionExpression":"pk"},"B":{"Keys":[m keys]}},"ReturnConsumedCapacity":"TOTAL"} */
static char *batch_get_body(int na, int nb)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *ri = cJSON_AddObjectToObject(root, "RequestItems");
    const char *names[2] = {"A", "B"};
    int counts[2] = {na, nb};
    for (int t = 0; t < 2; t++) {
        if (counts[t] == 0)
            continue;
        cJSON *tab = cJSON_AddObjectToObject(ri, names[t]);
        cJSON *keys = cJSON_AddArrayToObject(tab, "Keys");
        for (int i = 0; i < counts[t]; i++) {
            char k[32];
            snprintf(k, sizeof(k), "%s%d", names[t], i);
            cJSON *key = cJSON_CreateObject();
            cJSON *pk = cJSON_AddObjectToObject(key, "pk");
            cJSON_AddStringToObject(pk, "S", k);
            cJSON_AddItemToArray(keys, key);
        }
        if (t == 0)
            cJSON_AddStringToObject(tab, "ProjectionExpression", "pk");
    }
    cJSON_AddStringToObject(root, "ReturnConsumedCapacity", "TOTAL");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* Keys of table t in the call (0 if absent), and its first key's pk. */
static int call_keys(const char *call, const char *t, char *first, size_t cap)
{
    cJSON *root = cJSON_Parse(call);
    assert_non_null(root);
    assert_string_equal(cJSON_GetObjectItem(root, "ReturnConsumedCapacity")->valuestring, "TOTAL");
    cJSON *tab = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "RequestItems"), t);
    int n = 0;
    if (tab) {
        cJSON *keys = cJSON_GetObjectItem(tab, "Keys");
        n = cJSON_GetArraySize(keys);
        if (first && n > 0)
            snprintf(first, cap, "%s",
                     cJSON_GetObjectItem(cJSON_GetObjectItem(keys->child, "pk"), "S")->valuestring);
        if (strcmp(t, "A") == 0)
            assert_string_equal(cJSON_GetObjectItem(tab, "ProjectionExpression")->valuestring, "pk");
        else
            assert_null(cJSON_GetObjectItem(tab, "ProjectionExpression"));
    }
    cJSON_Delete(root);
    return n;
}

static void test_batch_get_split(void **state)
{
    (void)state;
    char *body = batch_get_body(150, 100);
    struct aws_batch *b = NULL;
    char err[200], first[32];
    assert_int_equal(aws_batch_open(AWS_BATCH_GET, body, strlen(body), &b, err, sizeof(err)), LS_OK);
    assert_int_equal(aws_batch_calls(b), 3);
    size_t len;
    bool fu;
    uint32_t items;
    /* call 1: A0..A99 */
    const char *c = aws_batch_current(b, &len);
    assert_int_equal(strlen(c), len);
    assert_int_equal(call_keys(c, "A", first, sizeof(first)), 100);
    assert_string_equal(first, "A0");
    assert_int_equal(call_keys(c, "B", NULL, 0), 0);
    /* dynalite-style partial answer: 2 items back, A60..A99 unprocessed */
    char *reply = malloc(100000);
    size_t off = (size_t)sprintf(reply, "{\"Responses\":{\"A\":[{\"pk\":{\"S\":\"A0\"}},{\"pk\":{\"S\":\"A1\"}}]},"
                                        "\"UnprocessedKeys\":{\"A\":{\"Keys\":[");
    for (int i = 60; i < 100; i++)
        off += (size_t)sprintf(reply + off, "%s{\"pk\":{\"S\":\"A%d\"}}", i > 60 ? "," : "", i);
    sprintf(reply + off, "],\"ProjectionExpression\":\"pk\"}}}");
    assert_int_equal(aws_batch_reply(b, reply, strlen(reply), &fu, &items), LS_OK);
    assert_true(fu);
    assert_int_equal(items, 2);
    /* the follow-up comes first: the 40 unprocessed keys */
    c = aws_batch_current(b, NULL);
    assert_int_equal(call_keys(c, "A", first, sizeof(first)), 40);
    assert_string_equal(first, "A60");
    assert_int_equal(call_keys(c, "B", NULL, 0), 0);
    const char *done = "{\"Responses\":{\"A\":[]},\"UnprocessedKeys\":{}}";
    assert_int_equal(aws_batch_reply(b, done, strlen(done), &fu, &items), LS_OK);
    assert_false(fu);
    /* call 2: A100..A149 and B0..B49 */
    c = aws_batch_current(b, NULL);
    assert_int_equal(call_keys(c, "A", first, sizeof(first)), 50);
    assert_string_equal(first, "A100");
    assert_int_equal(call_keys(c, "B", first, sizeof(first)), 50);
    assert_string_equal(first, "B0");
    assert_int_equal(aws_batch_reply(b, "{}", 2, &fu, &items), LS_OK);
    assert_false(fu);
    /* call 3: B50..B99 */
    c = aws_batch_current(b, NULL);
    assert_int_equal(call_keys(c, "B", first, sizeof(first)), 50);
    assert_string_equal(first, "B50");
    assert_int_equal(aws_batch_reply(b, "not json", 8, &fu, &items), LS_ERR_PARSE);
    assert_int_equal(aws_batch_reply(b, "{}", 2, &fu, &items), LS_OK);
    assert_null(aws_batch_current(b, NULL));
    aws_batch_free(b);
    free(reply);
    free(body);

    /* exactly 100 keys: one call */
    body = batch_get_body(100, 0);
    assert_int_equal(aws_batch_open(AWS_BATCH_GET, body, strlen(body), &b, err, sizeof(err)), LS_OK);
    assert_int_equal(aws_batch_calls(b), 1);
    aws_batch_free(b);
    free(body);
}

static void test_batch_write_split(void **state)
{
    (void)state;
    char *body = malloc(20000);
    size_t off = (size_t)sprintf(body, "{\"RequestItems\":{\"T\":[");
    for (int i = 0; i < 60; i++)
        off += (size_t)sprintf(body + off, "%s{\"PutRequest\":{\"Item\":{\"pk\":{\"S\":\"k%d\"}}}}",
                               i ? "," : "", i);
    sprintf(body + off, "]}}");
    struct aws_batch *b = NULL;
    char err[200];
    assert_int_equal(aws_batch_open(AWS_BATCH_WRITE, body, strlen(body), &b, err, sizeof(err)), LS_OK);
    assert_int_equal(aws_batch_calls(b), 3);
    int sizes[3] = {25, 25, 10};
    bool fu;
    uint32_t items;
    for (int call = 0; call < 3; call++) {
        cJSON *root = cJSON_Parse(aws_batch_current(b, NULL));
        cJSON *t = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "RequestItems"), "T");
        assert_int_equal(cJSON_GetArraySize(t), sizes[call]);
        cJSON_Delete(root);
        if (call == 0) {
            /* 3 items unprocessed: a follow-up of 3 before call 2 */
            const char *r = "{\"UnprocessedItems\":{\"T\":[{\"PutRequest\":{\"Item\":{\"pk\":{\"S\":\"k1\"}}}},"
                            "{\"PutRequest\":{\"Item\":{\"pk\":{\"S\":\"k2\"}}}},"
                            "{\"PutRequest\":{\"Item\":{\"pk\":{\"S\":\"k3\"}}}}]}}";
            assert_int_equal(aws_batch_reply(b, r, strlen(r), &fu, &items), LS_OK);
            assert_true(fu);
            root = cJSON_Parse(aws_batch_current(b, NULL));
            t = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "RequestItems"), "T");
            assert_int_equal(cJSON_GetArraySize(t), 3);
            cJSON_Delete(root);
        }
        assert_int_equal(aws_batch_reply(b, "{\"UnprocessedItems\":{}}", 23, &fu, &items), LS_OK);
        assert_false(fu);
    }
    assert_null(aws_batch_current(b, NULL));
    aws_batch_free(b);
    free(body);
}

static void test_batch_bad_input(void **state)
{
    (void)state;
    struct aws_batch *b = (struct aws_batch *)&b;
    char err[200];
    struct {
        enum aws_batch_kind k;
        const char *body, *msg;
    } cases[] = {
        {AWS_BATCH_GET, "[]", "the request is not a JSON object"},
        {AWS_BATCH_GET, "{}", "the request has no \"RequestItems\" object with a table in it"},
        {AWS_BATCH_GET, "{\"RequestItems\":{}}", "the request has no \"RequestItems\" object with a table in it"},
        {AWS_BATCH_GET, "{\"RequestItems\":{\"T\":[]}}", "RequestItems.T: expected an object with a \"Keys\" array"},
        {AWS_BATCH_WRITE, "{\"RequestItems\":{\"T\":{}}}", "RequestItems.T: expected an array of write requests"},
        {AWS_BATCH_GET, "{\"RequestItems\":{\"T\":{\"Keys\":[]}}}", "the request has no keys"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(aws_batch_open(cases[i].k, cases[i].body, strlen(cases[i].body), &b, err,
                                        sizeof(err)),
                         LS_ERR_INVALID);
        assert_null(b);
        assert_string_equal(err, cases[i].msg);
    }
}

static void test_uri_encode(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(aws_uri_encode("a b/c~d_e.f-g", 13, true, out, sizeof(out)), 15);
    assert_string_equal(out, "a%20b/c~d_e.f-g");
    assert_int_equal(aws_uri_encode("a/b+c=", 6, false, out, sizeof(out)), 12);
    assert_string_equal(out, "a%2Fb%2Bc%3D");
    assert_int_equal(aws_uri_encode("\xc3\xa9", 2, true, out, sizeof(out)), 6);
    assert_string_equal(out, "%C3%A9");
    assert_int_equal(aws_uri_encode("abc", 3, true, out, 3), -1);
    assert_int_equal(aws_uri_encode("abc", 3, true, out, 4), 3);
    assert_int_equal(aws_uri_encode(" ", 1, true, out, 3), -1);
}

static void test_size_draws(void **state)
{
    (void)state;
    struct tmpl_rng rng;
    tmpl_rng_seed(&rng, 99);
    struct scn_size fixed = {.kind = SCN_SIZE_FIXED, .lo = 4096, .hi = 4096};
    assert_int_equal(aws_size_draw(&fixed, &rng), 4096);
    struct scn_size uni = {.kind = SCN_SIZE_UNIFORM, .lo = 10, .hi = 20};
    int seen[11] = {0};
    for (int i = 0; i < 11000; i++) {
        uint64_t v = aws_size_draw(&uni, &rng);
        assert_true(v >= 10 && v <= 20);
        seen[v - 10]++;
    }
    for (int i = 0; i < 11; i++)
        assert_true(seen[i] > 850 && seen[i] < 1150);
    struct scn_size_choice ch[2] = {{100, 3}, {5000, 1}};
    struct scn_size choices = {.kind = SCN_SIZE_CHOICES, .choices = ch, .choice_count = 2,
                               .weight_total = 4, .hi = 5000};
    int small = 0;
    for (int i = 0; i < 8000; i++) {
        uint64_t v = aws_size_draw(&choices, &rng);
        assert_true(v == 100 || v == 5000);
        small += v == 100;
    }
    assert_true(small > 5800 && small < 6200); /* 3 in 4 */
    struct scn_size ln = {.kind = SCN_SIZE_LOGNORMAL, .median = 1000, .sigma = 0.5, .hi = 3000};
    int below = 0, capped = 0;
    for (int i = 0; i < 10000; i++) {
        uint64_t v = aws_size_draw(&ln, &rng);
        assert_true(v <= 3000);
        below += v < 1000;
        capped += v == 3000;
    }
    assert_true(below > 4800 && below < 5200);   /* the median */
    assert_true(capped > 80 && capped < 220);    /* P(Z > ln 3 / 0.5) = 1.4 % */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ddb_errors),     cmocka_unit_test(test_s3_errors),
        cmocka_unit_test(test_batch_get_split), cmocka_unit_test(test_batch_write_split),
        cmocka_unit_test(test_batch_bad_input), cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_size_draws),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
