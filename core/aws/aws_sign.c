/*
 * aws_sign: an AWS request signed as it is sent, for the engine and for
 * `loadscope aws sign` alike (see aws_sign.h).
 */
#include "aws/aws_sign.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/url.h"

ls_err aws_sign_request(const struct aws_sign_request *rq, const struct sigv4_credentials *c,
                        struct sigv4_result *out, char *err, size_t errcap)
{
    struct sigv4_header hs[AWS_SIGN_MAX_HEADERS + 1];
    size_t nh = 0;
    memset(out, 0, sizeof(*out));
    if (rq->header_count > AWS_SIGN_MAX_HEADERS) {
        snprintf(err, errcap, "more than %d headers to sign", AWS_SIGN_MAX_HEADERS);
        return LS_ERR_INVALID;
    }
    if (rq->host) /* first, as curl sends it */
        hs[nh++] = (struct sigv4_header){"Host", rq->host};
    for (size_t i = 0; i < rq->header_count; i++)
        hs[nh++] = rq->headers[i];
    struct sigv4_request r = {.method = rq->method,
                              .path = rq->path,
                              .query = rq->query ? rq->query : "",
                              .headers = hs,
                              .header_count = nh,
                              .body = rq->body,
                              .body_len = rq->body_len};
    struct sigv4_params p;
    sigv4_params_for_service(&p, rq->service, rq->region, rq->amz_date);
    return sigv4_sign(&r, c, &p, out, err, errcap);
}

ls_err aws_sign_url(const struct aws_sign_request *rq, const char *url,
                    const struct sigv4_credentials *c, struct sigv4_result *out, char **host,
                    char *err, size_t errcap)
{
    struct ls_url u;
    memset(out, 0, sizeof(*out));
    if (host)
        *host = NULL;
    ls_err rc = url_parse(url, URL_ALLOW_SPACE, &u, err, errcap);
    if (rc != LS_OK)
        return rc;
    bool has_host = false;
    for (size_t i = 0; i < rq->header_count; i++)
        has_host |= strcasecmp(rq->headers[i].name, "host") == 0;
    struct aws_sign_request r = *rq;
    r.host = has_host ? NULL : u.authority;
    r.path = u.path;
    r.query = u.query ? u.query : "";
    rc = aws_sign_request(&r, c, out, err, errcap);
    if (rc == LS_OK && host && !has_host) {
        *host = strdup(u.authority);
        if (!*host) {
            snprintf(err, errcap, "out of memory");
            rc = LS_ERR_NOMEM;
        }
    }
    url_free(&u);
    return rc;
}
