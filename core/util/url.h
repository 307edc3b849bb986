/*
 * url: http:// and https:// URLs, split by libcurl's URL API (curl_url()).
 *
 * The one URL parser of loadscope: the engine's readiness check and AWS
 * endpoints, the native HTTP/1.1 client's request line, and `loadscope aws
 * sign` all read URLs here, so they agree on the Host header a URL gives:
 * the host, and the port only when it is not the scheme's default (an
 * explicit ":443" on https, ":80" on http is left out, as curl sends it and
 * as the AWS SDKs sign it).
 *
 * libcurl is lenient where a load tester should not be: it reads
 * "http:///x" as host "x" and "http://a:/" as no port at all. url_parse()
 * refuses both (an empty host, an empty port), and any scheme but http and
 * https. Paths are kept exactly as written (dot segments too: a signer or a
 * server may care), without decoding.
 */
#ifndef LS_URL_H
#define LS_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/lserr.h"

#define URL_ALLOW_SPACE 1u /* a space in the path or query is part of it, not an error */

/* A URL's parts; the strings are owned by the struct (url_free()). */
struct ls_url {
    bool https;
    char *host;        /* name or address as written; IPv6 without brackets ("fe80::1%eth0") */
    unsigned port;     /* the URL's port, else the scheme's default */
    bool default_port; /* port is the scheme's default (written or not) */
    char *authority;   /* the Host value: host (IPv6 in brackets), ":port" unless default_port */
    char *path;        /* as written, "/" when empty; fragment dropped */
    char *query;       /* after '?' (possibly ""), NULL when the URL has none */
    bool has_userinfo; /* "user[:password]@" before the host (not part of authority) */
};

/*
 * Splits text (flags: URL_ALLOW_SPACE or 0). On failure returns
 * LS_ERR_INVALID (LS_ERR_NOMEM) with "TEXT: what is wrong" in err and *out
 * empty; on success *out owns its strings, free them with url_free().
 */
LS_MUST_CHECK ls_err url_parse(const char *text, unsigned flags, struct ls_url *out, char *err,
                               size_t errcap);

/* Frees what u holds and zeroes it; NULL-safe. */
void url_free(struct ls_url *u);

#endif
