/*
 * aws_sign: an AWS request signed exactly as it is sent.
 *
 * The Host header is the endpoint URL's authority as util/url.h gives it:
 * the host, and the port unless it is the scheme's default (an explicit
 * ":443" on https or ":80" on http is left out, as curl sends it and the
 * AWS SDKs sign it). It goes first among the signed headers, as curl sends
 * it; path and query are signed as they appear in the URL.
 *
 * The engine signs every AWS request with aws_sign_request() and the Host
 * of its endpoint; `loadscope aws sign` shows the same computation for a
 * URL with aws_sign_url(). One code path, so the command can never show a
 * Host or a signature other than the one the engine sends.
 */
#ifndef LS_AWS_SIGN_H
#define LS_AWS_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "aws/sigv4.h"
#include "util/lserr.h"

struct aws_sign_request {
    const char *service;                 /* SigV4 service name: "dynamodb", "s3", ... */
    const char *region;
    const char *amz_date;                /* "20150830T123600Z" */
    const char *method;                  /* "POST", ... */
    const char *host;                    /* the Host header value; NULL when headers has one */
    const char *path;                    /* as sent */
    const char *query;                   /* without '?'; "" or NULL when none */
    const struct sigv4_header *headers;  /* sent besides Host, in this order */
    size_t header_count;
    const uint8_t *body;
    size_t body_len;
};

/* Most headers a request may carry besides Host. */
#define AWS_SIGN_MAX_HEADERS 64

/*
 * Signs rq with the service's rules (sigv4_params_for_service). On success
 * *out holds the signature and the headers the signer adds; free it with
 * sigv4_result_free() (also after a failure). err never holds a secret.
 */
LS_MUST_CHECK ls_err aws_sign_request(const struct aws_sign_request *rq,
                                      const struct sigv4_credentials *c, struct sigv4_result *out,
                                      char *err, size_t errcap);

/*
 * Signs a request to url (http:// or https://; spaces allowed in its path
 * and query): rq->host, rq->path and rq->query are ignored and taken from
 * the URL (Host only when rq->headers has none). *host, when given,
 * receives the Host value used (malloc'd, the caller's; NULL when the
 * headers carried one). On a bad URL returns LS_ERR_INVALID with
 * "URL: what is wrong" in err.
 */
LS_MUST_CHECK ls_err aws_sign_url(const struct aws_sign_request *rq, const char *url,
                                  const struct sigv4_credentials *c, struct sigv4_result *out,
                                  char **host, char *err, size_t errcap);

#endif
