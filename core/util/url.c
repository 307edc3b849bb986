/*
 * url: http(s) URLs through libcurl's URL API (see url.h). This is the one
 * file of util/ that calls a library beyond libc: the URL grammar is
 * libcurl's, so what the engine's libcurl transfers send and what the rest
 * of loadscope computes from the same URL cannot drift apart.
 */
#include "util/url.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libcurl's leniencies a load tester refuses: no host at all, or a ':' with no port. */
static ls_err check_authority(const char *text, char *err, size_t errcap)
{
    const char *sep = strstr(text, "://");
    if (!sep)
        return LS_OK; /* curl refuses it */
    const char *a = sep + 3;
    size_t alen = strcspn(a, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (a[i] == '@')
            at = a + i;
    if (at) {
        alen -= (size_t)(at + 1 - a);
        a = at + 1;
    }
    if (alen == 0) {
        snprintf(err, errcap, "%s: empty host", text);
        return LS_ERR_INVALID;
    }
    if (a[alen - 1] == ':') {
        snprintf(err, errcap, "%s: bad port", text);
        return LS_ERR_INVALID;
    }
    return LS_OK;
}

static char *get_part(CURLU *u, CURLUPart what, unsigned flags, CURLUcode *rc)
{
    char *s = NULL;
    *rc = curl_url_get(u, what, &s, flags);
    if (*rc != CURLUE_OK)
        return NULL;
    char *copy = strdup(s);
    curl_free(s);
    if (!copy)
        *rc = CURLUE_OUT_OF_MEMORY;
    return copy;
}

/*
 * The host for resolving (IPv6 without brackets, a zone as "%zone") and the
 * Host header value (brackets kept, the zone as "%25zone", the port unless
 * it is the scheme's default). host is as curl gives it. False when out of
 * memory.
 */
static bool host_and_authority(struct ls_url *out, const char *host, const char *zone)
{
    size_t hl = strlen(host);
    bool v6 = hl >= 2 && host[0] == '[' && host[hl - 1] == ']';
    const char *h = v6 ? host + 1 : host;
    int hn = (int)(v6 ? hl - 2 : hl);
    int n1, n2;
    if (zone) {
        n1 = asprintf(&out->host, "%.*s%%%s", hn, h, zone);
        n2 = asprintf(&out->authority, "[%.*s%%25%s]", hn, h, zone);
    } else {
        n1 = asprintf(&out->host, "%.*s", hn, h);
        n2 = asprintf(&out->authority, "%s", host);
    }
    if (n1 < 0)
        out->host = NULL;
    if (n2 < 0)
        out->authority = NULL;
    if (out->authority && !out->default_port) {
        char *a = NULL;
        if (asprintf(&a, "%s:%u", out->authority, out->port) < 0)
            a = NULL;
        free(out->authority);
        out->authority = a;
    }
    return out->host && out->authority;
}

ls_err url_parse(const char *text, unsigned flags, struct ls_url *out, char *err, size_t errcap)
{
    ls_err rc = LS_OK;
    CURLUcode uc;
    char *scheme = NULL, *host = NULL, *zone = NULL, *port = NULL, *user = NULL;
    memset(out, 0, sizeof(*out));
    if (err && errcap)
        err[0] = '\0';
    CURLU *u = curl_url();
    if (!u)
        return LS_ERR_NOMEM;
    unsigned cf = CURLU_PATH_AS_IS | CURLU_NON_SUPPORT_SCHEME;
    if (flags & URL_ALLOW_SPACE)
        cf |= CURLU_ALLOW_SPACE;
    uc = curl_url_set(u, CURLUPART_URL, text, cf);
    if (uc == CURLUE_OUT_OF_MEMORY) {
        rc = LS_ERR_NOMEM;
        goto out;
    }
    if (uc != CURLUE_OK) {
        if (uc == CURLUE_BAD_PORT_NUMBER)
            snprintf(err, errcap, "%s: bad port", text);
        else if (uc == CURLUE_NO_HOST)
            snprintf(err, errcap, "%s: empty host", text);
        else
            snprintf(err, errcap, "%s: %s", text, curl_url_strerror(uc));
        rc = LS_ERR_INVALID;
        goto out;
    }
    scheme = get_part(u, CURLUPART_SCHEME, 0, &uc);
    if (!scheme || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        snprintf(err, errcap, "%s: expected an http:// or https:// URL", text);
        rc = LS_ERR_INVALID;
        goto out;
    }
    rc = check_authority(text, err, errcap);
    if (rc != LS_OK)
        goto out;
    out->https = strcasecmp(scheme, "https") == 0;
    host = get_part(u, CURLUPART_HOST, 0, &uc);
    if (!host || !host[0]) {
        snprintf(err, errcap, "%s: empty host", text);
        rc = LS_ERR_INVALID;
        goto out;
    }
    zone = get_part(u, CURLUPART_ZONEID, 0, &uc);
    port = get_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT, &uc);
    unsigned long pn = port ? strtoul(port, NULL, 10) : 0;
    if (pn == 0 || pn > 65535) {
        snprintf(err, errcap, "%s: bad port", text);
        rc = LS_ERR_INVALID;
        goto out;
    }
    out->port = (unsigned)pn;
    out->default_port = pn == (out->https ? 443u : 80u);
    user = get_part(u, CURLUPART_USER, 0, &uc);
    out->has_userinfo = user != NULL;
    if (!user) {
        char *pw = get_part(u, CURLUPART_PASSWORD, 0, &uc);
        out->has_userinfo = pw != NULL;
        free(pw);
    }

    if (!host_and_authority(out, host, zone))
        goto nomem;
    out->path = get_part(u, CURLUPART_PATH, 0, &uc);
    if (out->path && !out->path[0]) {
        free(out->path);
        out->path = strdup("/");
    }
    out->query = get_part(u, CURLUPART_QUERY, 0, &uc);
    if (!out->query && uc != CURLUE_NO_QUERY)
        goto nomem;
    if (!out->path)
        goto nomem;
    goto out;
nomem:
    snprintf(err, errcap, "out of memory");
    rc = LS_ERR_NOMEM;
out:
    if (rc != LS_OK)
        url_free(out);
    free(scheme);
    free(host);
    free(zone);
    free(port);
    free(user);
    curl_url_cleanup(u);
    return rc;
}

void url_free(struct ls_url *u)
{
    if (!u)
        return;
    free(u->host);
    free(u->authority);
    free(u->path);
    free(u->query);
    memset(u, 0, sizeof(*u));
}
