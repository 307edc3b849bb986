/*
 * sigv4: AWS Signature Version 4.
 *
 * Builds the canonical request, the string to sign and the signature exactly
 * as the AWS SDKs do (checked against the official v4 test suite in
 * ../shared/aws-sigv4-vectors), including session tokens and S3's
 * x-amz-content-sha256. Used on every AWS request the engine sends, and by
 * `loadscope aws sign` to show its work when a signature does not match.
 */
#ifndef LS_SIGV4_H
#define LS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lserr.h"

struct sigv4_header {
    const char *name;
    const char *value;
};

struct sigv4_request {
    const char *method;          /* "GET", "POST", ... */
    const char *path;            /* the request path as sent, e.g. "/" or "/bucket/key%20x" */
    const char *query;           /* raw query string without '?', may be "" */
    const struct sigv4_header *headers; /* every header that is sent (host included) */
    size_t header_count;
    const uint8_t *body;
    size_t body_len;
    const char *payload_hash;    /* precomputed hex SHA-256 or "UNSIGNED-PAYLOAD"; NULL: hash body */
};

struct sigv4_credentials {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;   /* NULL or "" when none */
};

struct sigv4_params {
    const char *region;          /* "us-east-1" */
    const char *service;         /* "dynamodb", "s3" */
    const char *amz_date;        /* "20150830T123600Z" */
    bool normalize_path;         /* true for every service but S3 */
    bool sign_session_token;     /* include X-Amz-Security-Token in the signed headers */
};

/* Everything a signature is made of, for debugging and for the request. */
struct sigv4_result {
    char *canonical_request;     /* malloc'd */
    char *string_to_sign;        /* malloc'd */
    char signature[65];          /* lower-case hex */
    char *signed_headers;        /* "host;x-amz-date", malloc'd */
    char *authorization;         /* the whole Authorization header value, malloc'd */
};

/* Signs r; on failure err says why. Free the result with sigv4_result_free. */
LS_MUST_CHECK ls_err sigv4_sign(const struct sigv4_request *r, const struct sigv4_credentials *c,
                                const struct sigv4_params *p, struct sigv4_result *out, char *err,
                                size_t errcap);
void sigv4_result_free(struct sigv4_result *r);

/* Lower-case hex SHA-256 of data into out (65 bytes). */
void sigv4_sha256_hex(const uint8_t *data, size_t len, char out[65]);

#endif
