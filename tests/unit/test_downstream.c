/*
 * test_downstream: the downstream proxy's pure parts, with exact values:
 * operation names (DynamoDB's X-Amz-Target, every S3 table row, x-id), the
 * SDK's attempt header, batch counting, the attribution of a call to the
 * MCP requests in flight (the counters and the split), the seeded fault
 * draws (repeatable, per service, the configured shares, the operations
 * filter, the latency distributions), the services' fault replies read back
 * by the error parsers, and the model's per-request figures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aws/aws_proto.h"
#include "downstream/ds_int.h"
#include "downstream/ds_model.h"
#include "proto/h1.h"

/* ------------------------------------------------------------ naming */

static const char *name(enum aws_service svc, const char *method, const char *target,
                        const char *amz_target, bool copy)
{
    static char out[DS_OP_MAX];
    struct ds_req_facts f = {method, strlen(method), target, strlen(target), amz_target,
                             amz_target ? strlen(amz_target) : 0, copy};
    ds_op_name(svc, &f, out);
    return out;
}

static void test_op_names(void **state)
{
    (void)state;
    assert_string_equal(name(AWS_DYNAMODB, "POST", "/", "DynamoDB_20120810.BatchGetItem", false),
                        "BatchGetItem");
    assert_string_equal(name(AWS_DYNAMODB, "POST", "/", "GetItem", false), "GetItem");
    assert_string_equal(name(AWS_DYNAMODB, "POST", "/", NULL, false), "(unknown)");
    /* a DynamoDB call that reached the S3 proxy (AWS_ENDPOINT_URL) is still named by its target */
    assert_string_equal(name(AWS_S3, "POST", "/", "DynamoDB_20120810.Query", false), "Query");
    static const struct {
        const char *method, *target;
        bool copy;
        const char *want;
    } s3[] = {
        {"GET", "/", false, "ListBuckets"},
        {"GET", "/bkt?list-type=2&prefix=a", false, "ListObjectsV2"},
        {"GET", "/bkt/", false, "ListObjects"},
        {"GET", "/bkt?uploads", false, "ListMultipartUploads"},
        {"GET", "/bkt?location", false, "GetBucketLocation"},
        {"HEAD", "/bkt", false, "HeadBucket"},
        {"PUT", "/bkt", false, "CreateBucket"},
        {"DELETE", "/bkt", false, "DeleteBucket"},
        {"POST", "/bkt?delete", false, "DeleteObjects"},
        {"GET", "/bkt/a/b.bin", false, "GetObject"},
        {"GET", "/bkt/k?uploadId=7", false, "ListParts"},
        {"GET", "/bkt/k?tagging", false, "GetObjectTagging"},
        {"HEAD", "/bkt/k", false, "HeadObject"},
        {"PUT", "/bkt/k", false, "PutObject"},
        {"PUT", "/bkt/k", true, "CopyObject"},
        {"PUT", "/bkt/k?partNumber=2&uploadId=7", false, "UploadPart"},
        {"PUT", "/bkt/k?partNumber=2&uploadId=7", true, "UploadPartCopy"},
        {"POST", "/bkt/k?uploads", false, "CreateMultipartUpload"},
        {"POST", "/bkt/k?uploadId=7", false, "CompleteMultipartUpload"},
        {"DELETE", "/bkt/k?uploadId=7", false, "AbortMultipartUpload"},
        {"DELETE", "/bkt/k", false, "DeleteObject"},
        {"PATCH", "/bkt/k", false, "(unknown)"},
        /* the Rust SDK names its operation in the query: taken as is */
        {"GET", "/bkt/k?x-id=GetObject", false, "GetObject"},
        {"PUT", "/bkt/k?x-id=PutObject", false, "PutObject"},
        /* absolute-form targets are read after the host */
        {"GET", "http://127.0.0.1:9/bkt/k", false, "GetObject"},
    };
    for (size_t i = 0; i < sizeof s3 / sizeof s3[0]; i++) {
        const char *got = name(AWS_S3, s3[i].method, s3[i].target, NULL, s3[i].copy);
        if (strcmp(got, s3[i].want) != 0)
            fail_msg("%s %s: got %s, want %s", s3[i].method, s3[i].target, got, s3[i].want);
    }
}

static void test_sdk_request(void **state)
{
    (void)state;
    uint16_t a, m;
    assert_true(ds_parse_sdk_request("attempt=2; max=3", 16, &a, &m));
    assert_int_equal(a, 2);
    assert_int_equal(m, 3);
    assert_true(ds_parse_sdk_request("max=5;attempt=1", 15, &a, &m));
    assert_int_equal(a, 1);
    assert_int_equal(m, 5);
    assert_true(ds_parse_sdk_request("attempt=4", 9, &a, &m)); /* legacy: no max */
    assert_int_equal(a, 4);
    assert_int_equal(m, 0);
    assert_false(ds_parse_sdk_request("ttl=2021", 8, &a, &m));
    assert_int_equal(a, 0);
    assert_true(ds_parse_sdk_request("attempt=99999", 13, &a, &m));
    assert_int_equal(a, 65535);
}

static void test_batch_count(void **state)
{
    (void)state;
    uint32_t asked, un;
    const char *req = "{\"RequestItems\":{\"a\":{\"Keys\":[{},{},{}],\"ConsistentRead\":true},"
                      "\"b\":{\"Keys\":[{}]}}}";
    const char *resp = "{\"Responses\":{\"a\":[{}]},\"UnprocessedKeys\":{\"a\":{\"Keys\":[{},{}]}}}";
    ds_batch_count("BatchGetItem", req, strlen(req), resp, strlen(resp), &asked, &un);
    assert_int_equal(asked, 4);
    assert_int_equal(un, 2);
    const char *wreq = "{\"RequestItems\":{\"a\":[{\"PutRequest\":{}},{\"DeleteRequest\":{}}],"
                       "\"b\":[{\"PutRequest\":{}}]}}";
    const char *wresp = "{\"UnprocessedItems\":{\"b\":[{\"PutRequest\":{}}]}}";
    ds_batch_count("BatchWriteItem", wreq, strlen(wreq), wresp, strlen(wresp), &asked, &un);
    assert_int_equal(asked, 3);
    assert_int_equal(un, 1);
    ds_batch_count("BatchWriteItem", "not json", 8, "{}", 2, &asked, &un);
    assert_int_equal(asked, 0);
    assert_int_equal(un, 0);
    assert_true(ds_op_is_batch("BatchWriteItem"));
    assert_false(ds_op_is_batch("GetItem"));
}

/* ------------------------------------------------------------ attribution */

struct split {
    int32_t step[DS_SHARES_MAX + 1];
    double w[DS_SHARES_MAX + 1];
    int n;
};

static void on_split(void *ctx, int32_t step, double w)
{
    struct split *s = ctx;
    s->step[s->n] = step;
    s->w[s->n++] = w;
}

static void test_attribution(void **state)
{
    (void)state;
    struct ds_attr a;
    struct ds_call c;
    struct split s;
    assert_int_equal(ds_attr_init(&a, 3), LS_OK); /* steps 0..2, and slot 3 for the rest */

    /* nothing in flight: the call goes wholly to DS_STEP_NONE */
    memset(&c, 0, sizeof c);
    ds_attr_take(&a, &c);
    assert_int_equal(c.in_flight, 0);
    memset(&s, 0, sizeof s);
    ds_attr_split(&c, on_split, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.step[0], DS_STEP_NONE);
    assert_true(s.w[0] == 1.0);

    /* one request in flight: exact */
    ds_attr_begin(&a, 1);
    ds_attr_take(&a, &c);
    assert_int_equal(c.in_flight, 1);
    memset(&s, 0, sizeof s);
    ds_attr_split(&c, on_split, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.step[0], 1);
    assert_true(s.w[0] == 1.0);

    /* three of step 1, one of step 2 and one handshake (step 77 -> the last slot): 3/5, 1/5, 1/5 */
    ds_attr_begin(&a, 1);
    ds_attr_begin(&a, 1);
    ds_attr_begin(&a, 2);
    ds_attr_begin(&a, 77);
    ds_attr_take(&a, &c);
    assert_int_equal(c.in_flight, 5);
    assert_int_equal(c.nshares, 3);
    memset(&s, 0, sizeof s);
    ds_attr_split(&c, on_split, &s);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.step[0], 1);
    assert_true(s.w[0] == 0.6);
    assert_int_equal(s.step[1], 2);
    assert_true(s.w[1] == 0.2);
    assert_int_equal(s.step[2], 3);
    assert_true(s.w[2] == 0.2);

    /* ends are counted per step */
    ds_attr_end(&a, 1);
    ds_attr_end(&a, 77);
    uint64_t ended[4];
    ds_attr_ended(&a, ended);
    assert_int_equal(ended[0], 0);
    assert_int_equal(ended[1], 1);
    assert_int_equal(ended[2], 0);
    assert_int_equal(ended[3], 1);
    ds_attr_take(&a, &c);
    assert_int_equal(c.in_flight, 3);
    ds_attr_free(&a);

    /* more distinct steps than a call remembers: the weights still add up to 1 */
    assert_int_equal(ds_attr_init(&a, 40), LS_OK);
    for (int i = 0; i < 40; i++)
        ds_attr_begin(&a, i);
    ds_attr_take(&a, &c);
    assert_int_equal(c.in_flight, 40);
    assert_int_equal(c.nshares, DS_SHARES_MAX);
    memset(&s, 0, sizeof s);
    ds_attr_split(&c, on_split, &s);
    double sum = 0;
    for (int i = 0; i < s.n; i++)
        sum += s.w[i];
    assert_true(sum > 0.999999 && sum < 1.000001);
    ds_attr_free(&a);
}

/* ------------------------------------------------------------ faults */

static void test_fault_seeding(void **state)
{
    (void)state;
    struct scn_ds_faults cfg = {.throttle = 0.10, .server_error = 0.05, .reset = 0.02, .any = true};
    struct ds_faulter f1, f2, f3, f4;
    ds_fault_init(&f1, &cfg, 42, AWS_DYNAMODB);
    ds_fault_init(&f2, &cfg, 42, AWS_DYNAMODB);
    ds_fault_init(&f3, &cfg, 43, AWS_DYNAMODB);
    ds_fault_init(&f4, &cfg, 42, AWS_S3);
    uint64_t counts[DS_FAULT__COUNT] = {0};
    int same = 0, differs3 = 0, differs4 = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        uint64_t d1, d2, d3, d4;
        enum ds_fault a = ds_fault_draw(&f1, "GetItem", &d1);
        enum ds_fault b = ds_fault_draw(&f2, "GetItem", &d2);
        enum ds_fault c = ds_fault_draw(&f3, "GetItem", &d3);
        enum ds_fault e = ds_fault_draw(&f4, "GetItem", &d4);
        counts[a]++;
        same += a == b;
        differs3 += a != c;
        differs4 += a != e;
    }
    assert_int_equal(same, n);    /* the same seed draws the same faults */
    assert_true(differs3 > n / 10); /* another seed, another sequence */
    assert_true(differs4 > n / 10); /* each service its own sequence */
    /* the shares, within 3 standard deviations of a binomial draw */
    assert_true(counts[DS_FAULT_THROTTLE] > 19000 && counts[DS_FAULT_THROTTLE] < 21000);
    assert_true(counts[DS_FAULT_SERVER_ERROR] > 9300 && counts[DS_FAULT_SERVER_ERROR] < 10700);
    assert_true(counts[DS_FAULT_RESET] > 3600 && counts[DS_FAULT_RESET] < 4400);
    assert_int_equal(counts[DS_FAULT_DELAY], 0);

    /* no faults configured: nothing, and no draw */
    struct scn_ds_faults none = {0};
    ds_fault_init(&f1, &none, 1, AWS_S3);
    uint64_t d;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(ds_fault_draw(&f1, "GetObject", &d), DS_FAULT_NONE);

    /* an operations filter: other operations draw nothing, so the sequence is theirs alone */
    char get_item[] = "GetItem";
    char *ops[] = {get_item, NULL};
    struct scn_ds_faults only = {.throttle = 0.5, .operations = ops, .any = true};
    ds_fault_init(&f1, &only, 9, AWS_DYNAMODB);
    ds_fault_init(&f2, &only, 9, AWS_DYNAMODB);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(ds_fault_draw(&f1, "PutItem", &d), DS_FAULT_NONE);
        assert_int_equal(ds_fault_draw(&f1, "GetItem", &d), ds_fault_draw(&f2, "GetItem", &d));
    }
}

static void test_fault_latency(void **state)
{
    (void)state;
    struct ds_faulter f;
    uint64_t d;
    struct scn_ds_faults u = {.latency_share = 1.0, .any = true,
                              .latency = {.kind = SCN_DSL_UNIFORM, .lo_ns = 5000000, .hi_ns = 20000000}};
    ds_fault_init(&f, &u, 3, AWS_DYNAMODB);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < 20000; i++) {
        assert_int_equal(ds_fault_draw(&f, "GetItem", &d), DS_FAULT_DELAY);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(lo >= 5000000 && lo < 5100000);
    assert_true(hi <= 20000000 && hi > 19900000);

    /* half the calls delayed, by a fixed 7 ms */
    struct scn_ds_faults h = {.latency_share = 0.5, .any = true,
                              .latency = {.kind = SCN_DSL_FIXED, .lo_ns = 7000000, .hi_ns = 7000000}};
    ds_fault_init(&f, &h, 3, AWS_S3);
    int delayed = 0;
    for (int i = 0; i < 20000; i++) {
        enum ds_fault x = ds_fault_draw(&f, "GetObject", &d);
        if (x == DS_FAULT_DELAY) {
            delayed++;
            assert_int_equal(d, 7000000);
        } else {
            assert_int_equal(x, DS_FAULT_NONE);
            assert_int_equal(d, 0);
        }
    }
    assert_true(delayed > 9700 && delayed < 10300);

    /* lognormal: half below the median, clamped at the max */
    struct scn_ds_faults l = {.latency_share = 1.0, .any = true,
                              .latency = {.kind = SCN_DSL_LOGNORMAL, .median_ns = 10000000,
                                          .sigma = 1.0, .hi_ns = 50000000}};
    ds_fault_init(&f, &l, 5, AWS_DYNAMODB);
    int below = 0, at_max = 0;
    for (int i = 0; i < 20000; i++) {
        (void)ds_fault_draw(&f, "GetItem", &d);
        below += d < 10000000;
        at_max += d == 50000000;
        assert_true(d <= 50000000);
    }
    assert_true(below > 9700 && below < 10300);
    /* P(exp(z) > 5) = P(z > 1.609) = 5.4% */
    assert_true(at_max > 900 && at_max < 1250);
}

/* A fault reply, read back as the SDK would: status, code, body framing. */
static void check_reply(enum aws_service svc, enum ds_fault fault, uint16_t want_status,
                        const char *want_code)
{
    struct ds_buf b = {0};
    uint16_t status;
    const char *code;
    assert_true(ds_fault_reply(svc, fault, false, false, &b, &status, &code));
    assert_int_equal(status, want_status);
    assert_string_equal(code, want_code);
    const char *body = strstr(b.p, "\r\n\r\n");
    assert_non_null(body);
    body += 4;
    size_t blen = b.len - (size_t)(body - b.p);
    char got[64], msg[256];
    if (svc == AWS_DYNAMODB)
        assert_true(aws_ddb_parse_error(body, blen, got, sizeof got, msg, sizeof msg));
    else
        assert_true(aws_s3_parse_error(body, blen, got, sizeof got, msg, sizeof msg));
    assert_string_equal(got, want_code);
    /* the reply parses as HTTP/1.1 with its exact length, and keeps the connection */
    struct h1_parser *p;
    size_t used;
    assert_int_equal(h1_parser_open(NULL, NULL, &p), LS_OK);
    assert_int_equal(h1_feed(p, b.p, b.len, &used), LS_OK);
    assert_true(h1_complete(p));
    assert_int_equal(used, b.len);
    assert_int_equal(h1_head(p)->status, want_status);
    assert_true(h1_head(p)->keep_alive);
    h1_parser_close(p);
    ds_buf_free(&b);
    /* HEAD: no body; close: says so */
    assert_true(ds_fault_reply(svc, fault, true, true, &b, &status, &code));
    assert_non_null(strstr(b.p, "Content-Length: 0\r\n"));
    assert_non_null(strstr(b.p, "Connection: close\r\n"));
    assert_int_equal(b.len, (size_t)(strstr(b.p, "\r\n\r\n") + 4 - b.p));
    ds_buf_free(&b);
}

static void test_fault_replies(void **state)
{
    (void)state;
    check_reply(AWS_DYNAMODB, DS_FAULT_THROTTLE, 400, "ProvisionedThroughputExceededException");
    check_reply(AWS_DYNAMODB, DS_FAULT_SERVER_ERROR, 500, "InternalServerError");
    check_reply(AWS_S3, DS_FAULT_THROTTLE, 503, "SlowDown");
    check_reply(AWS_S3, DS_FAULT_SERVER_ERROR, 500, "InternalError");
    struct ds_buf b = {0};
    uint16_t status;
    const char *code;
    assert_false(ds_fault_reply(AWS_S3, DS_FAULT_RESET, false, false, &b, &status, &code));
    assert_string_equal(ds_fault_name(DS_FAULT_SERVER_ERROR), "server_error");
    assert_null(ds_fault_name(DS_FAULT_NONE));
}

/* ------------------------------------------------------------ the model */

static void test_model(void **state)
{
    (void)state;
    struct ds_model *m;
    struct hdr *h1, *h2;
    assert_int_equal(ds_model_open(&m), LS_OK);
    assert_int_equal(hdr_open_latency(&h1), LS_OK);
    assert_int_equal(hdr_open_latency(&h2), LS_OK);
    for (int i = 0; i < 80; i++)
        hdr_record(h1, 1000);
    for (int i = 0; i < 20; i++)
        hdr_record(h1, 9000);
    hdr_record(h2, 500);
    /* second 0: step 0 had 10 requests, 80 GetItem attributed to it; step 1 had 5, 20 + 1 */
    struct ds_op_second ops[] = {
        {.service = AWS_DYNAMODB, .op = "GetItem", .calls = 100, .retries = 3, .new_conns = 2,
         .latency = h1},
        {.service = AWS_S3, .op = "PutObject", .calls = 1, .errors = 1, .latency = h2},
    };
    struct ds_attr_second attr[] = {
        {0, AWS_DYNAMODB, "GetItem", 80, 80 * 1000.0, 2},
        {1, AWS_DYNAMODB, "GetItem", 20, 20 * 9000.0, 0},
        {1, AWS_S3, "PutObject", 0.5, 250, 0},
        {DS_STEP_NONE, AWS_S3, "PutObject", 0.5, 250, 0},
    };
    struct ds_step_second steps[] = {{0, 10}, {1, 5}};
    struct ds_second s = {0, ops, 2, attr, 4, steps, 2};
    ds_model_add_second(m, &s);
    /* second 1: 5 more requests of step 0, no calls */
    struct ds_step_second steps1[] = {{0, 5}};
    struct ds_second s1 = {1, NULL, 0, NULL, 0, steps1, 1};
    ds_model_add_second(m, &s1);
    assert_int_equal(ds_model_seconds(m), 2);

    struct ds_op_view v[4];
    assert_int_equal(ds_model_ops(m, v, 4), 2);
    assert_string_equal(v[0].op, "GetItem");
    assert_int_equal(v[0].calls, 100);
    assert_int_equal(v[0].retries, 3);
    assert_int_equal(v[0].p50_us, 1000);
    assert_int_equal(v[0].p99_us, 9007); /* 9000's bucket (3 significant digits) */
    assert_true(v[0].per_request == 5.0); /* 100 calls / 20 requests */
    assert_true(v[0].calls_per_s == 0);   /* none in the last second */
    assert_string_equal(v[1].op, "PutObject");

    struct ds_step_view sv[16];
    size_t n = ds_model_steps(m, sv, 16);
    assert_int_equal(n, 7);
    /* DS_STEP_NONE first: its total, then its operation */
    assert_int_equal(sv[0].step, DS_STEP_NONE);
    assert_string_equal(sv[0].op, "");
    assert_int_equal(sv[0].requests, 0);
    assert_true(sv[0].calls == 0.5);
    /* step 0: 15 requests, 80 calls: 5.333 per request, 1000 us each */
    assert_int_equal(sv[2].step, 0);
    assert_string_equal(sv[2].op, "");
    assert_int_equal(sv[2].requests, 15);
    assert_true(sv[2].calls_per_request > 5.3333 && sv[2].calls_per_request < 5.3334);
    assert_true(sv[2].time_per_request_us > 5333.33 && sv[2].time_per_request_us < 5333.34);
    assert_true(sv[2].new_conns_per_request > 0.1333 && sv[2].new_conns_per_request < 0.1334);
    assert_string_equal(sv[3].op, "GetItem");
    /* step 1: 5 requests, 20.5 calls; GetItem 4 per request, then PutObject 0.1 */
    assert_int_equal(sv[4].step, 1);
    assert_string_equal(sv[4].op, "");
    assert_true(sv[4].calls_per_request == 4.1);
    assert_string_equal(sv[5].op, "GetItem");
    assert_true(sv[5].calls_per_request == 4.0);
    assert_true(sv[5].time_per_request_us == 36000.0);
    assert_string_equal(sv[6].op, "PutObject");
    assert_true(sv[6].calls_per_request == 0.1);
    hdr_close(h1);
    hdr_close(h2);
    ds_model_close(m);
}

/* ------------------------------------------------------------ opening */

static void test_open_aws(void **state)
{
    (void)state;
    char err[512];
    struct downstream *d = NULL;
    char aws[] = "aws", badurl[] = "http://127.0.0.1:9/x?y=1", base[] = "http://127.0.0.1:9/base/";
    struct scn_downstream cfg = {.url = {aws, NULL}, .seed = 1};
    struct downstream_opts o = {.cfg = &cfg, .nsteps = 2};
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_ENDPOINT_URL_DYNAMODB");
    unsetenv("AWS_PROFILE");
    setenv("AWS_CONFIG_FILE", "/dev/null", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null", 1);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    setenv("AWS_REGION", "eu-west-1", 1);
    /* "aws" needs the chain, and the chain needs credentials */
    assert_int_equal(downstream_open(&o, NULL, &d, err, sizeof err), LS_ERR_NOTFOUND);
    assert_null(d);
    assert_non_null(strstr(err, "downstream: AWS configuration: no AWS credentials"));
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
    assert_int_equal(downstream_open(&o, NULL, &d, err, sizeof err), LS_OK);
    assert_string_equal(downstream_upstream(d, AWS_DYNAMODB),
                        "https://dynamodb.eu-west-1.amazonaws.com");
    assert_null(downstream_upstream(d, AWS_S3));
    assert_int_equal(downstream_port(d, AWS_S3), 0);
    const struct scn_kv *kv;
    size_t n;
    downstream_env(d, &kv, &n);
    assert_int_equal(n, 2);
    char want[64];
    snprintf(want, sizeof want, "http://127.0.0.1:%u", downstream_port(d, AWS_DYNAMODB));
    assert_string_equal(kv[0].key, "AWS_ENDPOINT_URL_DYNAMODB");
    assert_string_equal(kv[0].value, want);
    assert_string_equal(kv[1].key, "AWS_ENDPOINT_URL");
    assert_string_equal(kv[1].value, want);
    struct ds_tally t;
    downstream_tally(d, AWS_DYNAMODB, &t);
    assert_int_equal(t.calls, 0);
    downstream_finish(d, 0);
    downstream_finish(d, 0); /* idempotent */
    downstream_close(d);
    /* a base URL with a path keeps it; one with a query is refused */
    struct scn_downstream bad = {.url = {NULL, badurl}};
    o.cfg = &bad;
    assert_int_equal(downstream_open(&o, NULL, &d, err, sizeof err), LS_ERR_INVALID);
    assert_string_equal(err, "downstream s3: \"http://127.0.0.1:9/x?y=1\": an upstream URL takes no "
                             "user and no query");
    struct scn_downstream path = {.url = {NULL, base}};
    o.cfg = &path;
    assert_int_equal(downstream_open(&o, NULL, &d, err, sizeof err), LS_OK);
    assert_string_equal(downstream_upstream(d, AWS_S3), "http://127.0.0.1:9/base");
    downstream_close(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_names),      cmocka_unit_test(test_sdk_request),
        cmocka_unit_test(test_batch_count),   cmocka_unit_test(test_attribution),
        cmocka_unit_test(test_fault_seeding), cmocka_unit_test(test_fault_latency),
        cmocka_unit_test(test_fault_replies), cmocka_unit_test(test_model),
        cmocka_unit_test(test_open_aws),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
