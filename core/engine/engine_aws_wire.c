/*
 * engine_aws_wire: what every AWS request and reply goes through, for the
 * load's operations (engine_aws_op.c) and the setup phase
 * (engine_aws_setup.c) alike. Each request is signed afresh with SigV4 and
 * the time of the call; its headers are exactly the ones signed (Host,
 * Content-Type, X-Amz-Target for DynamoDB, the X-Amz-* the signer adds)
 * plus Authorization, with curl's Expect and Accept turned off. A failed
 * reply's error code and message are read per service (DynamoDB JSON, S3
 * XML), and a libcurl result is mapped to the transport fault the retry
 * policy (aws_retry.h) classifies.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/aws_proto.h"
#include "aws/aws_retry.h"
#include "aws/awsconf.h"
#include "engine/engine_aws_int.h"
#include "aws/aws_sign.h"
#include "aws/sigv4.h"

/* -------------------------------------------------------------- helpers */

static void amz_now(char out[17])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static struct curl_slist *add_header(struct curl_slist *h, const char *line, bool *ok)
{
    struct curl_slist *t = curl_slist_append(h, line);
    if (!t) {
        *ok = false;
        return h;
    }
    return t;
}

/*
 * Signs and lists the headers of one request. method/path/query as sent;
 * target is the X-Amz-Target operation (DynamoDB) or NULL; ctype the
 * Content-Type or NULL. On failure err says why (never with a secret).
 */
ls_err aws_build_signed_headers(const struct aws_engine *ae, enum aws_service svc,
                                const char *method, const char *path, const char *target,
                                const char *ctype, const uint8_t *body, size_t body_len,
                                struct curl_slist **out, char *err, size_t errcap)
{
    char amz_date[17];
    struct sigv4_header hs[2];
    size_t nh = 0;
    struct sigv4_result res = {0};
    struct curl_slist *h = NULL;
    bool ok = true;
    char line[512];

    amz_now(amz_date);
    if (ctype)
        hs[nh++] = (struct sigv4_header){"content-type", ctype};
    if (target)
        hs[nh++] = (struct sigv4_header){"x-amz-target", target};
    struct aws_sign_request rq = {.service = awsconf_service_name(svc),
                                  .region = ae->conf.region,
                                  .amz_date = amz_date,
                                  .method = method,
                                  .host = ae->host[svc],
                                  .path = path,
                                  .query = "",
                                  .headers = hs,
                                  .header_count = nh,
                                  .body = body,
                                  .body_len = body_len};
    struct sigv4_credentials c = {ae->conf.access_key_id, ae->conf.secret_access_key,
                                  ae->conf.session_token};
    ls_err rc = aws_sign_request(&rq, &c, &res, err, errcap);
    if (rc != LS_OK)
        goto out;
    snprintf(line, sizeof(line), "Host: %s", ae->host[svc]);
    h = add_header(h, line, &ok);
    if (ctype) {
        snprintf(line, sizeof(line), "Content-Type: %s", ctype);
        h = add_header(h, line, &ok);
    }
    if (target) {
        snprintf(line, sizeof(line), "X-Amz-Target: %s", target);
        h = add_header(h, line, &ok);
    }
    for (size_t i = 0; i < res.added_count; i++)
        h = add_header(h, res.added[i], &ok);
    {
        size_t n = strlen(res.authorization) + 16;
        char *a = malloc(n);
        if (!a) {
            ok = false;
        } else {
            snprintf(a, n, "Authorization: %s", res.authorization);
            h = add_header(h, a, &ok);
            free(a);
        }
    }
    h = add_header(h, "Expect:", &ok);
    h = add_header(h, "Accept:", &ok);
    if (!ok) {
        snprintf(err, errcap, "out of memory building request headers");
        rc = LS_ERR_NOMEM;
    }
out:
    sigv4_result_free(&res);
    if (rc != LS_OK) {
        curl_slist_free_all(h);
        h = NULL;
    }
    *out = h;
    return rc;
}

/* Reads the error code and message of a failed reply. */
void aws_parse_error(enum aws_service svc, const char *body, size_t len, char *code,
                        size_t codecap, char *msg, size_t msgcap)
{
    if (svc == AWS_DYNAMODB)
        aws_ddb_parse_error(body, len, code, codecap, msg, msgcap);
    else
        aws_s3_parse_error(body, len, code, codecap, msg, msgcap);
}

enum aws_transport_fault aws_fault_of(CURLcode result)
{
    switch (curlm_class(result)) {
    case LS_EC_OK:
        return AWS_TF_NONE;
    case LS_EC_TIMEOUT:
        return AWS_TF_TIMEOUT;
    case LS_EC_CONNECT:
        return AWS_TF_CONNECTION;
    default:
        return AWS_TF_OTHER;
    }
}
