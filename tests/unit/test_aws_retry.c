/*
 * test_aws_retry: the standard retry mode's classification table, the
 * full-jitter backoff bounds with a seeded generator, and the code table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "aws/aws_retry.h"

#define MS 1000000ull

struct row {
    enum aws_transport_fault tf;
    unsigned status;
    const char *code;
    enum aws_retry_kind want;
};

static void test_classify_table(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {AWS_TF_NONE, 200, "", AWS_RK_OK},
        {AWS_TF_NONE, 204, NULL, AWS_RK_OK},
        /* throttling, whatever the status */
        {AWS_TF_NONE, 400, "ProvisionedThroughputExceededException", AWS_RK_THROTTLE},
        {AWS_TF_NONE, 400, "ThrottlingException", AWS_RK_THROTTLE},
        {AWS_TF_NONE, 400, "ThrottledException", AWS_RK_THROTTLE},
        {AWS_TF_NONE, 400, "Throttling", AWS_RK_THROTTLE},
        {AWS_TF_NONE, 503, "RequestLimitExceeded", AWS_RK_THROTTLE},
        {AWS_TF_NONE, 503, "RequestThrottled", AWS_RK_THROTTLE},
        {AWS_TF_NONE, 429, "TooManyRequestsException", AWS_RK_THROTTLE},
        {AWS_TF_NONE, 503, "SlowDown", AWS_RK_THROTTLE},
        {AWS_TF_NONE, 400, "TransactionInProgressException", AWS_RK_THROTTLE},
        {AWS_TF_NONE, 429, "", AWS_RK_THROTTLE},
        /* transient */
        {AWS_TF_NONE, 500, "InternalServerError", AWS_RK_TRANSIENT},
        {AWS_TF_NONE, 500, "InternalError", AWS_RK_TRANSIENT},
        {AWS_TF_NONE, 502, "", AWS_RK_TRANSIENT},
        {AWS_TF_NONE, 503, "ServiceUnavailable", AWS_RK_TRANSIENT},
        {AWS_TF_NONE, 504, NULL, AWS_RK_TRANSIENT},
        {AWS_TF_NONE, 400, "RequestTimeout", AWS_RK_TRANSIENT},
        {AWS_TF_TIMEOUT, 0, NULL, AWS_RK_TRANSIENT},
        {AWS_TF_CONNECTION, 0, NULL, AWS_RK_TRANSIENT},
        /* never */
        {AWS_TF_NONE, 400, "ValidationException", AWS_RK_NEVER},
        {AWS_TF_NONE, 400, "ConditionalCheckFailedException", AWS_RK_NEVER},
        {AWS_TF_NONE, 400, "ResourceNotFoundException", AWS_RK_NEVER},
        {AWS_TF_NONE, 403, "AccessDenied", AWS_RK_NEVER},
        {AWS_TF_NONE, 404, "NoSuchKey", AWS_RK_NEVER},
        {AWS_TF_NONE, 404, "NoSuchBucket", AWS_RK_NEVER},
        {AWS_TF_NONE, 403, "SignatureDoesNotMatch", AWS_RK_NEVER},
        {AWS_TF_NONE, 501, "NotImplemented", AWS_RK_NEVER},
        {AWS_TF_NONE, 400, "", AWS_RK_NEVER},
        {AWS_TF_NONE, 200, "ValidationException", AWS_RK_NEVER},
        {AWS_TF_OTHER, 0, NULL, AWS_RK_NEVER},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        enum aws_retry_kind got = aws_retry_classify(rows[i].tf, rows[i].status, rows[i].code);
        if (got != rows[i].want)
            fail_msg("row %zu (%u %s): got %d, want %d", i, rows[i].status,
                     rows[i].code ? rows[i].code : "(null)", (int)got, (int)rows[i].want);
    }
}

static void test_backoff_caps(void **state)
{
    (void)state;
    assert_int_equal(aws_retry_backoff_cap_ns(0), 0);
    assert_int_equal(aws_retry_backoff_cap_ns(1), 100 * MS);
    assert_int_equal(aws_retry_backoff_cap_ns(2), 200 * MS);
    assert_int_equal(aws_retry_backoff_cap_ns(3), 400 * MS);
    assert_int_equal(aws_retry_backoff_cap_ns(8), 12800 * MS);
    assert_int_equal(aws_retry_backoff_cap_ns(9), 20000 * MS); /* 25.6 s capped */
    assert_int_equal(aws_retry_backoff_cap_ns(64), 20000 * MS);
    assert_int_equal(aws_retry_backoff_cap_ns(UINT32_MAX), 20000 * MS);
}

/* Full jitter: uniform over [0, cap]; with a fixed seed the draws are reproducible. */
static void test_backoff_full_jitter(void **state)
{
    (void)state;
    for (uint32_t failed = 1; failed <= 10; failed++) {
        struct tmpl_rng rng;
        tmpl_rng_seed(&rng, 42 + failed);
        uint64_t cap = aws_retry_backoff_cap_ns(failed);
        uint64_t lo = UINT64_MAX, hi = 0;
        double sum = 0;
        const int n = 20000;
        uint64_t below_half = 0;
        for (int i = 0; i < n; i++) {
            uint64_t d = aws_retry_backoff_ns(failed, &rng);
            assert_true(d <= cap);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
            sum += (double)d;
            below_half += d < cap / 2;
        }
        /* the whole range is used, evenly */
        assert_true(lo < cap / 1000);
        assert_true(hi > cap - cap / 1000);
        double mean = sum / n / (double)cap;
        assert_true(mean > 0.49 && mean < 0.51);
        assert_true(below_half > (uint64_t)(n * 0.48) && below_half < (uint64_t)(n * 0.52));
    }
    /* same seed, same sequence */
    struct tmpl_rng a, b;
    tmpl_rng_seed(&a, 7);
    tmpl_rng_seed(&b, 7);
    for (int i = 0; i < 100; i++)
        assert_int_equal(aws_retry_backoff_ns(3, &a), aws_retry_backoff_ns(3, &b));
}

static void test_code_table(void **state)
{
    (void)state;
    assert_int_equal(aws_code_index(NULL, 0), 0);
    assert_int_equal(aws_code_index("", 0), 0);
    assert_string_equal(aws_code_name(0), "");
    assert_string_equal(aws_code_name(AWS_CODE_UNLISTED), "unlisted");
    assert_int_equal(aws_code_index("NoSuchThing", 11), AWS_CODE_UNLISTED);
    static const char *const known[] = {"ValidationException", "ProvisionedThroughputExceededException",
                                        "SlowDown", "NoSuchKey", "InternalError",
                                        "ConditionalCheckFailedException", "AccessDenied"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        uint16_t ix = aws_code_index(known[i], strlen(known[i]));
        assert_true(ix > AWS_CODE_UNLISTED && ix < aws_code_count());
        assert_string_equal(aws_code_name(ix), known[i]);
    }
    /* a prefix is not the code */
    assert_int_equal(aws_code_index("Validation", 10), AWS_CODE_UNLISTED);
    assert_null(aws_code_name(aws_code_count()));
    assert_true(aws_code_is_throttling("SlowDown"));
    assert_false(aws_code_is_throttling("ValidationException"));
    assert_false(aws_code_is_throttling(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_table),
        cmocka_unit_test(test_backoff_caps),
        cmocka_unit_test(test_backoff_full_jitter),
        cmocka_unit_test(test_code_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
