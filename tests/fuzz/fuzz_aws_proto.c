/*
 * fuzz_aws_proto: libFuzzer target for what loadscope reads from AWS:
 * DynamoDB (JSON) and S3 (XML) error replies, and batch requests and their
 * replies (UnprocessedKeys / UnprocessedItems).
 *
 * The first byte picks what the rest is: 0 an error reply for both readers,
 * 1 a BatchGetItem request, 2 a BatchWriteItem request, 3 a batch request
 * whose every call is answered with the input itself (follow-ups), and its
 * bits 2..7 cut the error readers' buffers short. Beyond not crashing: the
 * error readers always leave terminated strings within their buffers, and
 * "" for both when they say false; every call a batch makes is a JSON
 * object with "RequestItems" and at most the service's limit of entries
 * (100 keys, 25 writes); a batch ends (a bounded number of calls answered
 * with "{}"); percent-encoding keeps only unreserved characters.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "aws/aws_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

#define MAX_CALLS 2000

static void check_error_readers(const char *body, size_t len, size_t cap)
{
    char code[96], msg[160];
    size_t ccap = cap < sizeof code ? cap : sizeof code;
    size_t mcap = cap < sizeof msg ? cap : sizeof msg;
    memset(code, 'x', sizeof code);
    memset(msg, 'x', sizeof msg);
    bool ok = aws_ddb_parse_error(body, len, code, ccap, msg, mcap);
    CHECK(memchr(code, '\0', ccap) != NULL && memchr(msg, '\0', mcap) != NULL);
    CHECK(ok || (code[0] == '\0' && msg[0] == '\0'));
    memset(code, 'x', sizeof code);
    memset(msg, 'x', sizeof msg);
    ok = aws_s3_parse_error(body, len, code, ccap, msg, mcap);
    CHECK(memchr(code, '\0', ccap) != NULL && memchr(msg, '\0', mcap) != NULL);
    CHECK(ok || code[0] == '\0');
}

/* Entries of one call: keys (get) or write requests (write), across its tables. */
static int call_entries(enum aws_batch_kind kind, const char *body, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    CHECK(cJSON_IsObject(root));
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "RequestItems");
    CHECK(cJSON_IsObject(items) && items->child != NULL);
    int n = 0;
    for (const cJSON *t = items->child; t; t = t->next) {
        const cJSON *e = kind == AWS_BATCH_GET ? cJSON_GetObjectItemCaseSensitive(t, "Keys") : t;
        CHECK(cJSON_IsArray(e));
        n += cJSON_GetArraySize(e);
    }
    cJSON_Delete(root);
    return n;
}

static void check_batch(enum aws_batch_kind kind, const char *body, size_t len, bool self_reply)
{
    struct aws_batch *b = NULL;
    char err[256];
    ls_err rc = aws_batch_open(kind, body, len, &b, err, sizeof err);
    if (rc != LS_OK) {
        CHECK(b == NULL && (rc == LS_ERR_INVALID || rc == LS_ERR_NOMEM));
        CHECK(memchr(err, '\0', sizeof err) != NULL);
        return;
    }
    int limit = kind == AWS_BATCH_GET ? AWS_BATCH_GET_MAX_KEYS : AWS_BATCH_WRITE_MAX_ITEMS;
    CHECK(aws_batch_calls(b) >= 1);
    size_t calls = 0, clen = 0;
    const char *call;
    while ((call = aws_batch_current(b, &clen)) != NULL) {
        CHECK(++calls <= MAX_CALLS);
        CHECK(strlen(call) == clen);
        int n = call_entries(kind, call, clen);
        CHECK(n >= 1 && n <= limit);
        bool followup = false;
        uint32_t items = 0;
        /* The input itself as the first reply (its unprocessed entries come back), then "{}". */
        if (self_reply && calls == 1)
            rc = aws_batch_reply(b, body, len, &followup, &items);
        else
            rc = aws_batch_reply(b, "{}", 2, &followup, &items);
        CHECK(rc == LS_OK || rc == LS_ERR_PARSE || rc == LS_ERR_NOMEM || rc == LS_ERR_INVALID);
        if (rc == LS_ERR_PARSE && !(self_reply && calls == 1))
            abort(); /* "{}" is an object */
        if (rc != LS_OK && rc != LS_ERR_PARSE)
            break;
        if (rc == LS_ERR_PARSE)
            break;
    }
    aws_batch_free(b);
}

static void check_uri_encode(const char *s, size_t len)
{
    size_t cap = 3 * len + 1;
    char *out = malloc(cap);
    CHECK(out != NULL);
    long n = aws_uri_encode(s, len, len % 2 == 0, out, cap);
    CHECK(n >= 0 && (size_t)n < cap && out[n] == '\0');
    for (long i = 0; i < n; i++) {
        char c = out[i];
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.' || c == '~' || c == '%' || c == '/';
        CHECK(plain);
    }
    CHECK(aws_uri_encode(s, len, false, out, (size_t)n) == -1 || n == 0);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    size_t cap = (size_t)(data[0] >> 2) + 1;
    switch (data[0] & 3) {
    case 0:
        check_error_readers(body, len, cap);
        check_error_readers(body, len, 4096);
        check_uri_encode(body, len);
        break;
    case 1:
        check_batch(AWS_BATCH_GET, body, len, false);
        break;
    case 2:
        check_batch(AWS_BATCH_WRITE, body, len, false);
        break;
    default:
        check_batch(data[0] & 4 ? AWS_BATCH_WRITE : AWS_BATCH_GET, body, len, true);
        break;
    }
    return 0;
}
