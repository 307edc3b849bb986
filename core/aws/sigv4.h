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

#include "util/lserr.h"

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

/*
 * How the path is canonicalized:
 *   normalize_path: dot segments and empty segments are removed, then each
 *     segment is URI-encoded (again: a path sent percent-encoded is encoded
 *     twice, "%20" -> "%2520", as every AWS SDK does for services but S3);
 *   neither flag (S3): the path is signed exactly as sent (encoded once);
 *   encode_path_unnormalized alone: encoded without normalizing, which is
 *     what the test suite's "normalize": false cases ask (aws-c-auth's
 *     use_double_uri_encode without should_normalize_uri_path). No service
 *     needs it.
 */
struct sigv4_params {
    const char *region;          /* "us-east-1" */
    const char *service;         /* "dynamodb", "s3" */
    const char *amz_date;        /* "20150830T123600Z" */
    bool normalize_path;         /* true for every service but S3 */
    bool sign_session_token;     /* include X-Amz-Security-Token in the signed headers */
    bool encode_path_unnormalized; /* see above; false for real services */
    bool add_content_sha256;     /* sign and send x-amz-content-sha256 (S3 requires it) */
};

/*
 * Fills p with the rules the AWS SDKs use for service: S3 signs its path as
 * sent and adds x-amz-content-sha256; everything else normalizes and
 * double-encodes. The session token is signed. The strings are borrowed.
 */
void sigv4_params_for_service(struct sigv4_params *p, const char *service, const char *region,
                              const char *amz_date);

/* Headers the signer adds besides Authorization, at most this many. */
#define SIGV4_MAX_ADDED 3

/* Everything a signature is made of, for debugging and for the request. */
struct sigv4_result {
    char *canonical_request;     /* malloc'd */
    char *string_to_sign;        /* malloc'd */
    char signature[65];          /* lower-case hex */
    char *signed_headers;        /* "host;x-amz-date", malloc'd */
    char *authorization;         /* the whole Authorization header value, malloc'd */
    /*
     * Headers the caller must send too, as "Name: value" lines (malloc'd, in
     * this order): X-Amz-Security-Token (whenever there is a token, signed
     * or not), X-Amz-Date, x-amz-content-sha256 (add_content_sha256). One is
     * left out when r->headers already has it. The token line is a secret:
     * never print or store it.
     */
    char *added[SIGV4_MAX_ADDED];
    size_t added_count;
    char payload_hash[65];       /* the hash that was signed (or "UNSIGNED-PAYLOAD") */
};

/*
 * Signs r; on failure err says why (never with a secret in it). Headers in
 * r->headers named authorization, connection, expect, transfer-encoding,
 * upgrade, user-agent or x-amzn-trace-id are sent but not signed (proxies
 * and libcurl may change them). The payload hash is r->payload_hash, else
 * the value of an x-amz-content-sha256 header in r->headers, else the
 * SHA-256 of the body. Free the result with sigv4_result_free (also after
 * a failure).
 */
LS_MUST_CHECK ls_err sigv4_sign(const struct sigv4_request *r, const struct sigv4_credentials *c,
                                const struct sigv4_params *p, struct sigv4_result *out, char *err,
                                size_t errcap);
/* Frees what out holds and zeroes it; NULL-safe. */
void sigv4_result_free(struct sigv4_result *r);

/* Lower-case hex SHA-256 of data into out (65 bytes). */
void sigv4_sha256_hex(const uint8_t *data, size_t len, char out[65]);

#endif
