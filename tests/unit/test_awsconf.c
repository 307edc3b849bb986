/*
 * Unit tests for awsconf: every precedence rule of the credentials, region,
 * endpoint and max-attempts chains, with temporary credentials/config files
 * and the environment set per case; the INI dialect; the exact error
 * messages (file:line, never a secret); the secrets guard.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aws/awsconf.h"

static char home[256];
static char cred_file[512], conf_file[512];

static const char *const VARS[] = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_S3",
    "AWS_MAX_ATTEMPTS",
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A fresh HOME with ~/.aws and no AWS variables. */
static int setup(void **state)
{
    (void)state;
    snprintf(home, sizeof home, "/tmp/ls-awsconf-XXXXXX");
    if (!mkdtemp(home))
        return -1;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/.aws", home);
    if (mkdir(dir, 0700) != 0)
        return -1;
    snprintf(cred_file, sizeof cred_file, "%s/.aws/credentials", home);
    snprintf(conf_file, sizeof conf_file, "%s/.aws/config", home);
    for (size_t i = 0; i < sizeof VARS / sizeof VARS[0]; i++)
        unsetenv(VARS[i]);
    setenv("HOME", home, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(cred_file);
    unlink(conf_file);
    char p[600];
    snprintf(p, sizeof p, "%s/other.ini", home);
    unlink(p);
    snprintf(p, sizeof p, "%s/.aws", home);
    rmdir(p);
    rmdir(home);
    return 0;
}

static void load_ok(const char *sprofile, const char *sregion, const char *const sep[2],
                    struct aws_config *c)
{
    char err[512];
    ls_err rc = awsconf_load(sprofile, sregion, sep, c, err, sizeof err);
    if (rc != LS_OK)
        fail_msg("awsconf_load: %s", err);
}

static void load_fails(ls_err want, const char *want_msg, const char *sprofile)
{
    struct aws_config c;
    char err[2048];
    assert_int_equal(awsconf_load(sprofile, NULL, NULL, &c, err, sizeof err), want);
    assert_string_equal(err, want_msg);
    assert_null(c.secret_access_key);
}

static void test_env_credentials_first(void **state)
{
    (void)state;
    write_file(cred_file, "[default]\naws_access_key_id = FILEKEY1234\n"
                          "aws_secret_access_key = filesecret\n");
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    setenv("AWS_REGION", "eu-west-1", 1);
    struct aws_config c;
    load_ok(NULL, NULL, NULL, &c);
    assert_string_equal(c.access_key_id, "AKIDEXAMPLE");
    assert_string_equal(c.secret_access_key, "envsecret");
    assert_string_equal(c.session_token, "envtoken");
    assert_string_equal(c.profile, "default");
    assert_string_equal(c.region, "eu-west-1");
    assert_string_equal(c.endpoint[AWS_DYNAMODB], "https://dynamodb.eu-west-1.amazonaws.com");
    assert_string_equal(c.endpoint[AWS_S3], "https://s3.eu-west-1.amazonaws.com");
    assert_int_equal(c.max_attempts, 3);
    assert_string_equal(c.source,
                        "profile default; credentials *******MPLE from environment with a "
                        "session token; region eu-west-1 from AWS_REGION; dynamodb endpoint from "
                        "the regional default; s3 endpoint from the regional default");
    assert_null(strstr(c.source, "envsecret"));
    assert_null(strstr(c.source, "envtoken"));
    awsconf_free(&c);
    assert_null(c.secret_access_key);

    /* half the pair in the environment is an error, not a fall-through */
    unsetenv("AWS_SECRET_ACCESS_KEY");
    load_fails(LS_ERR_INVALID, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not", NULL);
}

static void test_files_and_profiles(void **state)
{
    (void)state;
    write_file(cred_file, "# credentials\n"
                          "[default]\n"
                          "aws_access_key_id=DEFAULTKEY\n"
                          "aws_secret_access_key=defaultsecret\n"
                          "\n"
                          "[dev]\n"
                          "  AWS_ACCESS_KEY_ID   =   DEVKEY0001   \n"
                          "aws_secret_access_key = devsecret ; inline comment\n"
                          "aws_session_token = devtoken\n");
    write_file(conf_file, "; config\n"
                          "[default]\n"
                          "region = us-west-2\n"
                          "[profile dev]\n"
                          "region = ap-south-1\n"
                          "endpoint_url = http://127.0.0.1:8000/\n"
                          "max_attempts = 5\n"
                          "s3 =\n"
                          "  max_concurrent_requests = 20\n"
                          "  addressing_style = path\n"
                          "[prod]\n"
                          "region = us-east-2\n"
                          "[profile cfgonly]\n"
                          "aws_access_key_id = CFGKEY0002\n"
                          "aws_secret_access_key = cfgsecret\n"
                          "region = sa-east-1\n");
    struct aws_config c;

    /* no profile anywhere: [default] of both files */
    load_ok(NULL, "eu-north-1", NULL, &c);
    assert_string_equal(c.access_key_id, "DEFAULTKEY");
    assert_string_equal(c.secret_access_key, "defaultsecret");
    assert_null(c.session_token);
    assert_string_equal(c.region, "us-west-2"); /* the profile's region beats the scenario's */
    assert_int_equal(c.max_attempts, 3);
    awsconf_free(&c);

    /* the scenario's profile */
    load_ok("dev", NULL, NULL, &c);
    assert_string_equal(c.profile, "dev");
    assert_string_equal(c.access_key_id, "DEVKEY0001");
    assert_string_equal(c.secret_access_key, "devsecret");
    assert_string_equal(c.session_token, "devtoken");
    assert_string_equal(c.region, "ap-south-1");
    assert_string_equal(c.endpoint[AWS_DYNAMODB], "http://127.0.0.1:8000");
    assert_string_equal(c.endpoint[AWS_S3], "http://127.0.0.1:8000");
    assert_int_equal(c.max_attempts, 5);
    char want[4096];
    snprintf(want, sizeof want,
             "profile dev; credentials ******0001 from %s:7 with a session token; region "
             "ap-south-1 from %s:5; dynamodb endpoint from %s:6; s3 endpoint from %s:6",
             cred_file, conf_file, conf_file, conf_file);
    want[sizeof c.source - 1] = '\0'; /* source is bounded; long paths are cut */
    assert_string_equal(c.source, want);
    awsconf_free(&c);

    /* AWS_PROFILE beats the scenario's profile */
    setenv("AWS_PROFILE", "cfgonly", 1);
    load_ok("dev", NULL, NULL, &c);
    assert_string_equal(c.profile, "cfgonly");
    assert_string_equal(c.access_key_id, "CFGKEY0002"); /* from the config file */
    assert_string_equal(c.region, "sa-east-1");
    awsconf_free(&c);

    /* "[prod]" in the config file is not a profile section */
    setenv("AWS_PROFILE", "prod", 1);
    char msg[2048];
    snprintf(msg, sizeof msg,
             "profile \"prod\" (from AWS_PROFILE) is not in %s nor in %s (as [profile prod])",
             cred_file, conf_file);
    load_fails(LS_ERR_NOTFOUND, msg, NULL);
    unsetenv("AWS_PROFILE");
    snprintf(msg, sizeof msg,
             "profile \"nope\" (from the scenario) is not in %s nor in %s (as [profile nope])",
             cred_file, conf_file);
    load_fails(LS_ERR_NOTFOUND, msg, "nope");

    /* the credentials file beats the config file for the same profile */
    write_file(cred_file, "[cfgonly]\naws_access_key_id = CREDWINS01\naws_secret_access_key = s\n");
    load_ok("cfgonly", NULL, NULL, &c);
    assert_string_equal(c.access_key_id, "CREDWINS01");
    awsconf_free(&c);
}

static void test_explicit_file_paths(void **state)
{
    (void)state;
    char other[1024];
    snprintf(other, sizeof other, "%s/other.ini", home);
    write_file(other, "[default]\naws_access_key_id = OTHERKEY01\naws_secret_access_key = o\n"
                      "aws_access_key_id = LASTWINS01\n");
    write_file(cred_file, "[default]\naws_access_key_id = HOMEKEY001\naws_secret_access_key = h\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", "~/other.ini", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    struct aws_config c;
    load_ok(NULL, NULL, NULL, &c);
    assert_string_equal(c.access_key_id, "LASTWINS01");
    awsconf_free(&c);

    /* a config file named in the environment must exist */
    setenv("AWS_CONFIG_FILE", "/nonexistent/loadscope/config", 1);
    load_fails(LS_ERR_IO, "/nonexistent/loadscope/config: No such file or directory", NULL);
    unsetenv("AWS_CONFIG_FILE");

    /* default files may be missing; then there is nothing at all */
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unlink(cred_file);
    snprintf(other, sizeof other,
             "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
             "aws_access_key_id and aws_secret_access_key for profile \"default\" in %s",
             cred_file);
    load_fails(LS_ERR_NOTFOUND, other, NULL);
}

static void test_region_precedence(void **state)
{
    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "S", 1);
    write_file(conf_file, "[default]\nregion = cn-north-1\n");
    struct aws_config c;
    setenv("AWS_REGION", "eu-west-1", 1);
    setenv("AWS_DEFAULT_REGION", "eu-west-2", 1);
    load_ok(NULL, "eu-west-3", NULL, &c);
    assert_string_equal(c.region, "eu-west-1");
    awsconf_free(&c);
    unsetenv("AWS_REGION");
    load_ok(NULL, "eu-west-3", NULL, &c);
    assert_string_equal(c.region, "eu-west-2");
    awsconf_free(&c);
    unsetenv("AWS_DEFAULT_REGION");
    load_ok(NULL, "eu-west-3", NULL, &c);
    assert_string_equal(c.region, "cn-north-1");
    assert_string_equal(c.endpoint[AWS_S3], "https://s3.cn-north-1.amazonaws.com.cn");
    awsconf_free(&c);
    unlink(conf_file);
    load_ok(NULL, "eu-west-3", NULL, &c);
    assert_string_equal(c.region, "eu-west-3");
    awsconf_free(&c);
    char msg[1024];
    snprintf(msg, sizeof msg,
             "no AWS region: set AWS_REGION or AWS_DEFAULT_REGION, region in profile \"default\" "
             "of %s, or the scenario's region",
             conf_file);
    load_fails(LS_ERR_NOTFOUND, msg, NULL);
    setenv("AWS_REGION", "US East", 1);
    load_fails(LS_ERR_INVALID,
               "region \"US East\" from AWS_REGION: expected lower-case letters, digits and '-' "
               "(like us-east-1)",
               NULL);
}

static void test_endpoint_and_attempts_precedence(void **state)
{
    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "S", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    write_file(conf_file, "[default]\nendpoint_url = http://profile:1\nmax_attempts = 7\n");
    const char *const scn[2] = {"http://scenario-ddb:2", "http://scenario-s3:3"};
    struct aws_config c;
    setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:4567", 1);
    setenv("AWS_ENDPOINT_URL", "http://all:9", 1);
    setenv("AWS_MAX_ATTEMPTS", "1", 1);
    load_ok(NULL, NULL, scn, &c);
    assert_string_equal(c.endpoint[AWS_DYNAMODB], "http://127.0.0.1:4567");
    assert_string_equal(c.endpoint[AWS_S3], "http://all:9");
    assert_int_equal(c.max_attempts, 1);
    awsconf_free(&c);
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_MAX_ATTEMPTS");
    setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:4568/", 1);
    load_ok(NULL, NULL, scn, &c);
    assert_string_equal(c.endpoint[AWS_S3], "http://127.0.0.1:4568");
    assert_int_equal(c.max_attempts, 7);
    awsconf_free(&c);
    unsetenv("AWS_ENDPOINT_URL_DYNAMODB");
    unsetenv("AWS_ENDPOINT_URL_S3");
    load_ok(NULL, NULL, scn, &c);
    assert_string_equal(c.endpoint[AWS_DYNAMODB], "http://profile:1");
    awsconf_free(&c);
    unlink(conf_file);
    load_ok(NULL, NULL, scn, &c);
    assert_string_equal(c.endpoint[AWS_DYNAMODB], "http://scenario-ddb:2");
    assert_string_equal(c.endpoint[AWS_S3], "http://scenario-s3:3");
    assert_int_equal(c.max_attempts, 3);
    awsconf_free(&c);

    setenv("AWS_ENDPOINT_URL", "127.0.0.1:4567", 1);
    load_fails(LS_ERR_INVALID,
               "dynamodb endpoint from AWS_ENDPOINT_URL: expected an http:// or https:// URL",
               NULL);
    unsetenv("AWS_ENDPOINT_URL");
    setenv("AWS_MAX_ATTEMPTS", "0", 1);
    load_fails(LS_ERR_INVALID,
               "max attempts \"0\" from AWS_MAX_ATTEMPTS: expected an integer from 1 to 100", NULL);
    setenv("AWS_MAX_ATTEMPTS", "3x", 1);
    load_fails(LS_ERR_INVALID,
               "max attempts \"3x\" from AWS_MAX_ATTEMPTS: expected an integer from 1 to 100",
               NULL);
}

/* Malformed files are refused with file:line and without the line's text. */
static void test_parse_errors_hide_secrets(void **state)
{
    (void)state;
    char msg[700];
    write_file(cred_file, "[default]\naws_access_key_id = K\nwJalrXUtnFEMI/K7MDENG+bPxRfiCY\n");
    snprintf(msg, sizeof msg, "%s:3: expected \"key = value\", a [section] or a comment",
             cred_file);
    load_fails(LS_ERR_PARSE, msg, NULL);

    write_file(cred_file, "aws_secret_access_key = TOPSECRET\n[default]\n");
    snprintf(msg, sizeof msg, "%s:1: a key before any [section]", cred_file);
    load_fails(LS_ERR_PARSE, msg, NULL);

    write_file(cred_file, "\n[default\n");
    snprintf(msg, sizeof msg, "%s:2: section header without a closing ']'", cred_file);
    load_fails(LS_ERR_PARSE, msg, NULL);

    write_file(cred_file, "[default]\n\n  aws_secret_access_key = TOPSECRET\n");
    snprintf(msg, sizeof msg,
             "%s:3: profile \"default\" has aws_secret_access_key but no aws_access_key_id",
             cred_file);
    load_fails(LS_ERR_INVALID, msg, NULL);

    write_file(cred_file, "[default]\n = TOPSECRET\n");
    snprintf(msg, sizeof msg, "%s:2: \"=\" without a key", cred_file);
    load_fails(LS_ERR_PARSE, msg, NULL);
}

static void test_secrets_guard(void **state)
{
    (void)state;
    const char *secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const char *token = "AQoDYXdzEPT//////////wEXAMPLE==";
    const char clean[] = "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/...";
    assert_null(awsconf_find_secret(secret, token, clean, sizeof clean - 1));
    const char raw[] = "x=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY&";
    assert_string_equal(awsconf_find_secret(secret, token, raw, sizeof raw - 1),
                        "secret access key");
    const char enc[] = "q=wJalrXUtnFEMI%2FK7MDENG%2BbPxRfiCYEXAMPLEKEY";
    assert_string_equal(awsconf_find_secret(secret, token, enc, sizeof enc - 1),
                        "secret access key");
    const char enc_slash[] = "/wJalrXUtnFEMI/K7MDENG%2BbPxRfiCYEXAMPLEKEY";
    assert_string_equal(awsconf_find_secret(secret, token, enc_slash, sizeof enc_slash - 1),
                        "secret access key");
    const char tok[] =
        "X-Amz-Security-Token=AQoDYXdzEPT%2F%2F%2F%2F%2F%2F%2F%2F%2F%2FwEXAMPLE%3D%3D";
    assert_string_equal(awsconf_find_secret(secret, token, tok, sizeof tok - 1), "session token");
    /* a prefix is not the secret; an empty secret matches nothing */
    const char part[] = "wJalrXUtnFEMI/K7MDENG";
    assert_null(awsconf_find_secret(secret, NULL, part, sizeof part - 1));
    assert_null(awsconf_find_secret("", "", clean, sizeof clean - 1));
    assert_null(awsconf_scan_secrets(NULL, clean, sizeof clean - 1));

    char m[32];
    awsconf_mask_key_id("AKIDEXAMPLE", m, sizeof m);
    assert_string_equal(m, "*******MPLE");
    awsconf_mask_key_id("ABCD", m, sizeof m);
    assert_string_equal(m, "****");
    awsconf_mask_key_id("AKIDEXAMPLE", m, 4);
    assert_string_equal(m, "***");
    assert_string_equal(awsconf_service_name(AWS_S3), "s3");
    assert_string_equal(awsconf_service_name(AWS_DYNAMODB), "dynamodb");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_env_credentials_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_and_profiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_explicit_file_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_region_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_endpoint_and_attempts_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_errors_hide_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_guard, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
