/*
 * Unit tests for core/aws/aws_sign.c and the engine's use of it: for an
 * endpoint written with the scheme's default port (https://host:443), the
 * headers the engine sends (aws_engine_endpoints, aws_build_signed_headers)
 * and what `loadscope aws sign` computes for the same URL (aws_sign_url)
 * have the same Host and the same signature, for DynamoDB and for S3; a
 * port that is not the default is kept by both. The integration twin,
 * tests/integration/test_aws_sign_engine.py, watches the real binary send
 * to http://fakehost:80 through a proxy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws/aws_sign.h"
#include "engine/engine_aws_int.h"

#define KEY_ID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define TOKEN "session+token/value"

/* The value of header name in the engine's list ("" when absent). */
static const char *header(const struct curl_slist *h, const char *name)
{
    size_t n = strlen(name);
    for (; h; h = h->next)
        if (strncasecmp(h->data, name, n) == 0 && h->data[n] == ':')
            return h->data + n + 2;
    return "";
}

static void engine_setup(struct aws_engine *ae, const char *ddb, const char *s3)
{
    char err[256];
    memset(ae, 0, sizeof(*ae));
    ae->conf.access_key_id = strdup(KEY_ID);
    ae->conf.secret_access_key = strdup(SECRET);
    ae->conf.session_token = strdup(TOKEN);
    ae->conf.region = strdup("us-east-1");
    ae->conf.endpoint[AWS_DYNAMODB] = strdup(ddb);
    ae->conf.endpoint[AWS_S3] = strdup(s3);
    if (aws_engine_endpoints(ae, err, sizeof err) != LS_OK)
        fail_msg("aws_engine_endpoints: %s", err);
}

static void engine_teardown(struct aws_engine *ae)
{
    awsconf_free(&ae->conf);
    for (int i = 0; i < AWS__SERVICES; i++)
        free(ae->base[i]);
}

/*
 * Signs one request the engine's way and the command's way (same date,
 * headers and body) and checks both say want_host and agree on the signature.
 */
static void agree(struct aws_engine *ae, enum aws_service svc, const char *method,
                  const char *path, const char *target, const char *ctype, const char *url,
                  const char *want_host)
{
    char err[256];
    const char *body = "{\"TableName\":\"t\"}";
    struct curl_slist *sent = NULL;
    assert_int_equal(aws_build_signed_headers(ae, svc, method, path, target, ctype,
                                              (const uint8_t *)body, strlen(body), &sent, err,
                                              sizeof err),
                     LS_OK);
    assert_string_equal(header(sent, "Host"), want_host);
    const char *auth = header(sent, "Authorization");
    const char *engine_sig = strstr(auth, "Signature=");
    assert_non_null(engine_sig);
    engine_sig += strlen("Signature=");

    struct sigv4_header hs[2];
    size_t nh = 0;
    if (ctype)
        hs[nh++] = (struct sigv4_header){"Content-Type", ctype};
    if (target)
        hs[nh++] = (struct sigv4_header){"X-Amz-Target", target};
    struct aws_sign_request rq = {.service = awsconf_service_name(svc),
                                  .region = "us-east-1",
                                  .amz_date = header(sent, "X-Amz-Date"),
                                  .method = method,
                                  .headers = hs,
                                  .header_count = nh,
                                  .body = (const uint8_t *)body,
                                  .body_len = strlen(body)};
    struct sigv4_credentials c = {KEY_ID, SECRET, TOKEN};
    struct sigv4_result res;
    char *host = NULL;
    if (aws_sign_url(&rq, url, &c, &res, &host, err, sizeof err) != LS_OK)
        fail_msg("aws_sign_url(%s): %s", url, err);
    assert_string_equal(host, want_host);
    assert_string_equal(res.signature, engine_sig);
    assert_string_equal(res.authorization, auth);
    free(host);
    sigv4_result_free(&res);
    curl_slist_free_all(sent);
}

static void test_default_port_agrees(void **state)
{
    (void)state;
    struct aws_engine ae;
    engine_setup(&ae, "https://ddb.example:443/", "https://s3.example:443");
    assert_string_equal(ae.base[AWS_DYNAMODB], "https://ddb.example:443");
    assert_string_equal(ae.host[AWS_DYNAMODB], "ddb.example");
    assert_string_equal(ae.host[AWS_S3], "s3.example");
    agree(&ae, AWS_DYNAMODB, "POST", "/", "DynamoDB_20120810.GetItem", "application/x-amz-json-1.0",
          "https://ddb.example:443/", "ddb.example");
    agree(&ae, AWS_S3, "PUT", "/bucket/some%20key", NULL, "application/octet-stream",
          "https://s3.example:443/bucket/some%20key", "s3.example");
    /* and written without the port: the same */
    agree(&ae, AWS_DYNAMODB, "POST", "/", "DynamoDB_20120810.GetItem", "application/x-amz-json-1.0",
          "https://ddb.example/", "ddb.example");
    engine_teardown(&ae);

    engine_setup(&ae, "http://ddb.example:80", "http://s3.example:80/");
    assert_string_equal(ae.host[AWS_DYNAMODB], "ddb.example");
    agree(&ae, AWS_DYNAMODB, "POST", "/", "DynamoDB_20120810.PutItem", "application/x-amz-json-1.0",
          "http://ddb.example:80/", "ddb.example");
    engine_teardown(&ae);
}

static void test_other_port_kept(void **state)
{
    (void)state;
    struct aws_engine ae;
    engine_setup(&ae, "http://127.0.0.1:4567", "https://[::1]:8443/");
    assert_string_equal(ae.host[AWS_DYNAMODB], "127.0.0.1:4567");
    assert_string_equal(ae.host[AWS_S3], "[::1]:8443");
    agree(&ae, AWS_DYNAMODB, "POST", "/", "DynamoDB_20120810.Query", "application/x-amz-json-1.0",
          "http://127.0.0.1:4567/", "127.0.0.1:4567");
    agree(&ae, AWS_S3, "PUT", "/b/k", NULL, "application/octet-stream", "https://[::1]:8443/b/k",
          "[::1]:8443");
    engine_teardown(&ae);
}

static void test_bad_urls(void **state)
{
    (void)state;
    struct aws_engine ae;
    char err[256];
    memset(&ae, 0, sizeof ae);
    ae.conf.endpoint[AWS_DYNAMODB] = strdup("http:///nohost");
    ae.conf.endpoint[AWS_S3] = strdup("http://s3");
    assert_int_equal(aws_engine_endpoints(&ae, err, sizeof err), LS_ERR_INVALID);
    assert_non_null(strstr(err, "cannot read the host of dynamodb endpoint"));
    engine_teardown(&ae);

    struct aws_sign_request rq = {.service = "dynamodb", .region = "us-east-1",
                                  .amz_date = "20150830T123600Z", .method = "GET"};
    struct sigv4_credentials c = {KEY_ID, SECRET, NULL};
    struct sigv4_result res;
    assert_int_equal(aws_sign_url(&rq, "http://h:99999/", &c, &res, NULL, err, sizeof err),
                     LS_ERR_INVALID);
    assert_string_equal(err, "http://h:99999/: bad port");
    sigv4_result_free(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_port_agrees),
        cmocka_unit_test(test_other_port_kept),
        cmocka_unit_test(test_bad_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
