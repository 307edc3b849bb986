/*
 * aws_retry: the standard retry mode's classification and backoff, and the
 * table of AWS error codes a sample can name (see aws_retry.h).
 *
 * The code lists follow the AWS SDKs' standard mode (botocore's
 * retries/standard.py and the Java SDK's RetryUtils): throttling codes are
 * retried with backoff, as are transient codes and HTTP 500/502/503/504;
 * anything else that failed is returned to the caller at once.
 */
#include "aws/aws_retry.h"

#include <string.h>

static const char *const throttling_codes[] = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
};

static const char *const transient_codes[] = {
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalServerError",
    "ServiceUnavailable",
    "IDPCommunicationError",
};

/*
 * Codes samples can carry. Index 0 is "no code", 1 an unlisted one; the
 * order is stable (stored databases keep the names, not the indexes, but a
 * run's counters use the indexes).
 */
static const char *const code_table[] = {
    "",
    "unlisted",
    /* throttling */
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    /* transient */
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalServerError",
    "ServiceUnavailable",
    "IDPCommunicationError",
    /* DynamoDB client errors */
    "ValidationException",
    "ConditionalCheckFailedException",
    "ResourceNotFoundException",
    "ResourceInUseException",
    "ItemCollectionSizeLimitExceededException",
    "TransactionConflictException",
    "TransactionCanceledException",
    "SerializationException",
    "UnrecognizedClientException",
    "MissingAuthenticationTokenException",
    "IncompleteSignatureException",
    "InvalidSignatureException",
    "AccessDeniedException",
    "ExpiredTokenException",
    "UnknownOperationException",
    /* S3 client errors */
    "AccessDenied",
    "NoSuchKey",
    "NoSuchBucket",
    "BucketAlreadyExists",
    "BucketAlreadyOwnedByYou",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "RequestTimeTooSkewed",
    "InvalidRequest",
    "InvalidArgument",
    "InvalidBucketName",
    "EntityTooLarge",
    "MethodNotAllowed",
    "XAmzContentSHA256Mismatch",
    "BadDigest",
    "AuthorizationHeaderMalformed",
    "NotImplemented",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int in_list(const char *code, const char *const *list, size_t n)
{
    if (code == NULL || code[0] == '\0')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(code, list[i]) == 0)
            return 1;
    return 0;
}

int aws_code_is_throttling(const char *code)
{
    return in_list(code, throttling_codes, NELEM(throttling_codes));
}

enum aws_retry_kind aws_retry_classify(enum aws_transport_fault tf, unsigned status,
                                       const char *code)
{
    switch (tf) {
    case AWS_TF_TIMEOUT:
    case AWS_TF_CONNECTION:
        return AWS_RK_TRANSIENT;
    case AWS_TF_OTHER:
        return AWS_RK_NEVER;
    case AWS_TF_NONE:
        break;
    }
    if (aws_code_is_throttling(code) || status == 429)
        return AWS_RK_THROTTLE;
    if (in_list(code, transient_codes, NELEM(transient_codes)))
        return AWS_RK_TRANSIENT;
    if (status == 500 || status == 502 || status == 503 || status == 504)
        return AWS_RK_TRANSIENT;
    if (status >= 200 && status < 300 && (code == NULL || code[0] == '\0'))
        return AWS_RK_OK;
    return AWS_RK_NEVER;
}

uint64_t aws_retry_backoff_cap_ns(uint32_t failed)
{
    if (failed == 0)
        return 0;
    uint64_t d = AWS_RETRY_BASE_NS;
    for (uint32_t i = 1; i < failed && d < AWS_RETRY_CAP_NS; i++)
        d *= 2;
    return d < AWS_RETRY_CAP_NS ? d : AWS_RETRY_CAP_NS;
}

uint64_t aws_retry_backoff_ns(uint32_t failed, struct tmpl_rng *rng)
{
    uint64_t cap = aws_retry_backoff_cap_ns(failed);
    if (cap == 0)
        return 0;
    return (uint64_t)tmpl_rng_range(rng, 0, (int64_t)cap);
}

uint16_t aws_code_index(const char *code, size_t len)
{
    if (code == NULL || len == 0)
        return 0;
    for (size_t i = 2; i < NELEM(code_table); i++)
        if (strlen(code_table[i]) == len && memcmp(code_table[i], code, len) == 0)
            return (uint16_t)i;
    return AWS_CODE_UNLISTED;
}

const char *aws_code_name(uint16_t index)
{
    return index < NELEM(code_table) ? code_table[index] : NULL;
}

uint16_t aws_code_count(void)
{
    return (uint16_t)NELEM(code_table);
}
