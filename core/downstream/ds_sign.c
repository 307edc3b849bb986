/*
 * ds_sign: re-signing a target's request for an https:// upstream.
 *
 * The target signed its request for the proxy's address (Host
 * 127.0.0.1:PORT), so the real service would refuse that signature. The
 * request is signed again with core/aws/sigv4 for the upstream's host, at
 * the current time, with the configuration chain's credentials: every field
 * the target sent is kept and signed (the SDK's own amz-sdk-* and
 * x-amz-* fields included) except the ones tied to the old signature or to
 * the hop (Host, Authorization, X-Amz-Date, X-Amz-Security-Token,
 * Content-Length, which libcurl sets, and the hop-by-hop fields). The
 * payload hash is the target's x-amz-content-sha256 when it sent one
 * (UNSIGNED-PAYLOAD and unsigned streaming trailers stay valid), else the
 * body's. A payload whose chunks carry their own signatures
 * (STREAMING-AWS4-HMAC-SHA256-PAYLOAD*) cannot be re-signed without
 * re-chunking it, and is refused with a message.
 *
 * The Authorization value and the session token exist only in the header
 * list handed to libcurl; neither is stored nor printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws/sigv4.h"
#include "downstream/ds_int.h"

static const char *const dropped[] = {
    "host",          "authorization",       "x-amz-date", "x-amz-security-token",
    "content-length", "connection",         "keep-alive", "proxy-connection",
    "proxy-authorization", "te",            "trailer",    "transfer-encoding",
    "upgrade",       "expect",
};

static bool is_dropped(const char *name)
{
    for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
        if (strcasecmp(name, dropped[i]) == 0)
            return true;
    return false;
}

void ds_hdrs_free(struct ds_hdrs *h)
{
    for (size_t i = 0; i < h->n; i++) {
        explicit_bzero(h->line[i], strlen(h->line[i])); /* the token and signature go too */
        free(h->line[i]);
    }
    free(h->line);
    *h = (struct ds_hdrs){0};
}

static bool add_line(struct ds_hdrs *h, const char *name, const char *value)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 32;
        char **l = realloc(h->line, cap * sizeof(*l));
        if (l == NULL)
            return false;
        h->line = l;
        h->cap = cap;
    }
    char *s = NULL;
    if (value != NULL) {
        if (asprintf(&s, "%s: %s", name, value) < 0)
            return false;
    } else if ((s = strdup(name)) == NULL) {
        return false;
    }
    h->line[h->n++] = s;
    return true;
}

ls_err ds_resign(const struct aws_config *conf, enum aws_service svc, const char *authority,
                 const char *method, const char *path, const char *query,
                 const char *const *names, const char *const *values, size_t nfields,
                 const uint8_t *body, size_t body_len, struct ds_hdrs *out, char *err,
                 size_t errcap)
{
    ls_err rc = LS_OK;
    struct sigv4_result res = {0};
    struct sigv4_header *hs = calloc(nfields + 1, sizeof(*hs));
    memset(out, 0, sizeof(*out));
    if (hs == NULL)
        return LS_ERR_NOMEM;
    size_t nh = 0;
    hs[nh++] = (struct sigv4_header){"host", authority};
    for (size_t i = 0; i < nfields; i++) {
        if (is_dropped(names[i]))
            continue;
        if (strcasecmp(names[i], "x-amz-content-sha256") == 0 &&
            strncmp(values[i], "STREAMING-AWS4-HMAC-SHA256", 26) == 0) {
            snprintf(err, errcap,
                     "the request's payload is signed chunk by chunk (%.40s); loadscope cannot "
                     "re-sign it for the upstream",
                     values[i]);
            rc = LS_ERR_INVALID;
            goto out;
        }
        hs[nh++] = (struct sigv4_header){names[i], values[i]};
    }
    char amz_date[17];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &tm);
    struct sigv4_params prm;
    sigv4_params_for_service(&prm, awsconf_service_name(svc), conf->region, amz_date);
    struct sigv4_request r = {.method = method, .path = path, .query = query ? query : "",
                              .headers = hs, .header_count = nh, .body = body,
                              .body_len = body_len};
    struct sigv4_credentials c = {conf->access_key_id, conf->secret_access_key,
                                  conf->session_token};
    rc = sigv4_sign(&r, &c, &prm, &res, err, errcap);
    if (rc != LS_OK)
        goto out;
    bool ok = add_line(out, "Host", authority);
    for (size_t i = 1; i < nh && ok; i++)
        ok = add_line(out, hs[i].name, hs[i].value);
    for (size_t i = 0; i < res.added_count && ok; i++)
        ok = add_line(out, res.added[i], NULL);
    ok = ok && add_line(out, "Authorization", res.authorization);
    if (!ok) {
        snprintf(err, errcap, "out of memory");
        rc = LS_ERR_NOMEM;
    }
out:
    sigv4_result_free(&res);
    free(hs);
    if (rc != LS_OK)
        ds_hdrs_free(out);
    return rc;
}
