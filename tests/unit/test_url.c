/*
 * Unit tests for core/util/url.c: the parts of http and https URLs, the
 * Host value with the scheme's default port left out whether it is written
 * or not (":443", ":80", "0443"), IPv6 literals with and without a zone,
 * paths and queries kept as written (dot segments, spaces when allowed,
 * UTF-8, empty query vs none), user information noticed, and the refusals:
 * other schemes, an empty host, an empty or bad port, spaces when not
 * allowed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "util/url.h"

static struct ls_url ok(const char *text, unsigned flags)
{
    struct ls_url u;
    char err[256];
    ls_err rc = url_parse(text, flags, &u, err, sizeof err);
    if (rc != LS_OK)
        fail_msg("url_parse(%s): %s", text, err);
    return u;
}

static void refused(const char *text, unsigned flags, const char *want_err)
{
    struct ls_url u;
    char err[256];
    assert_int_equal(url_parse(text, flags, &u, err, sizeof err), LS_ERR_INVALID);
    assert_null(u.host);
    if (want_err)
        assert_string_equal(err, want_err);
}

static void test_parts(void **state)
{
    (void)state;
    struct ls_url u = ok("http://127.0.0.1:8931/mcp?x=1#frag", 0);
    assert_false(u.https);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 8931);
    assert_false(u.default_port);
    assert_string_equal(u.authority, "127.0.0.1:8931");
    assert_string_equal(u.path, "/mcp");
    assert_string_equal(u.query, "x=1");
    assert_false(u.has_userinfo);
    url_free(&u);
    assert_null(u.path);
    url_free(NULL);

    u = ok("HTTPS://Example.Test", 0);
    assert_true(u.https);
    assert_string_equal(u.host, "Example.Test");
    assert_int_equal(u.port, 443);
    assert_true(u.default_port);
    assert_string_equal(u.authority, "Example.Test");
    assert_string_equal(u.path, "/");
    assert_null(u.query);
    url_free(&u);

    u = ok("http://h/?", 0);
    assert_string_equal(u.query, "");
    url_free(&u);
}

/* The Host a URL gives drops the scheme's default port, written or not. */
static void test_default_ports(void **state)
{
    (void)state;
    static const struct {
        const char *url, *authority;
        unsigned port;
    } cases[] = {
        {"https://host:443/", "host", 443},
        {"https://host/", "host", 443},
        {"https://host:0443/", "host", 443},
        {"https://host:80/", "host:80", 80},
        {"http://host:80/", "host", 80},
        {"http://host:443/", "host:443", 443},
        {"http://host:8000/", "host:8000", 8000},
        {"https://[::1]:443/", "[::1]", 443},
        {"https://[::1]:8443/", "[::1]:8443", 8443},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ls_url u = ok(cases[i].url, 0);
        assert_string_equal(u.authority, cases[i].authority);
        assert_int_equal(u.port, cases[i].port);
        url_free(&u);
    }
}

static void test_ipv6(void **state)
{
    (void)state;
    struct ls_url u = ok("http://[::1]:9000?q", 0);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.authority, "[::1]:9000");
    assert_string_equal(u.path, "/");
    assert_string_equal(u.query, "q");
    url_free(&u);
    u = ok("http://[fe80::1%25eth0]/", 0);
    assert_string_equal(u.host, "fe80::1%eth0");
    assert_string_equal(u.authority, "[fe80::1%25eth0]");
    url_free(&u);
}

static void test_paths(void **state)
{
    (void)state;
    struct ls_url u = ok("http://h//example/../a/./b//", 0);
    assert_string_equal(u.path, "//example/../a/./b//");
    url_free(&u);
    u = ok("http://h/example space/?a b=c d", URL_ALLOW_SPACE);
    assert_string_equal(u.path, "/example space/");
    assert_string_equal(u.query, "a b=c d");
    url_free(&u);
    u = ok("http://h/\xe1\x88\xb4?\xe1\x88\xb4=bar&%E1%88%B4=x", 0);
    assert_string_equal(u.path, "/\xe1\x88\xb4");
    assert_string_equal(u.query, "\xe1\x88\xb4=bar&%E1%88%B4=x");
    url_free(&u);
    u = ok("http://user:pw@h:81/p", 0);
    assert_true(u.has_userinfo);
    assert_string_equal(u.authority, "h:81");
    url_free(&u);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("ftp://x/", 0, "ftp://x/: expected an http:// or https:// URL");
    refused("http:///x", 0, "http:///x: empty host");
    refused("http://u@/x", 0, "http://u@/x: empty host");
    refused("http://a:/", 0, "http://a:/: bad port");
    refused("http://a:99999/", 0, "http://a:99999/: bad port");
    refused("http://a:0/", 0, "http://a:0/: bad port");
    refused("http://a/b c", 0, NULL);
    refused("http://[::1/", 0, NULL);
    refused("not a url", 0, NULL);
    refused("", 0, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts),    cmocka_unit_test(test_default_ports),
        cmocka_unit_test(test_ipv6),     cmocka_unit_test(test_paths),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
