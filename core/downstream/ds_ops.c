/*
 * ds_ops: what a downstream call is: its operation's name, the SDK's
 * attempt header, and the keys or items of a batch call.
 *
 * DynamoDB names itself in X-Amz-Target ("DynamoDB_20120810.GetItem").
 * S3 does not: the operation follows from the method, the path's shape
 * (the service, a bucket, an object) and markers in the query ("?uploads",
 * "?uploadId=", "?list-type=2") or a header (x-amz-copy-source). That is a
 * table, one row per operation, first match wins; the Rust and other recent
 * SDKs also send "x-id=GetObject" in the query, which is taken as is.
 * Requests are path-style (the proxy listens on an IP address, where the
 * SDKs' endpoint rules never put the bucket in the host).
 *
 * Batch bodies are parsed with cJSON on the recorder thread, after the reply
 * has gone to the target.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "downstream/ds_int.h"

enum s3_scope { SC_SERVICE = 0, SC_BUCKET, SC_OBJECT };

/* One S3 operation: method, path shape, a query marker and a header it needs. */
struct s3_row {
    const char *method;
    enum s3_scope scope;
    const char *query;       /* a query parameter that must be present, or NULL */
    bool copy_source;        /* needs x-amz-copy-source */
    const char *name;
};

static const struct s3_row s3_rows[] = {
    {"GET", SC_SERVICE, NULL, false, "ListBuckets"},
    {"GET", SC_BUCKET, "list-type", false, "ListObjectsV2"},
    {"GET", SC_BUCKET, "uploads", false, "ListMultipartUploads"},
    {"GET", SC_BUCKET, "versions", false, "ListObjectVersions"},
    {"GET", SC_BUCKET, "location", false, "GetBucketLocation"},
    {"GET", SC_BUCKET, "versioning", false, "GetBucketVersioning"},
    {"GET", SC_BUCKET, "policy", false, "GetBucketPolicy"},
    {"GET", SC_BUCKET, "acl", false, "GetBucketAcl"},
    {"GET", SC_BUCKET, "tagging", false, "GetBucketTagging"},
    {"GET", SC_BUCKET, NULL, false, "ListObjects"},
    {"HEAD", SC_BUCKET, NULL, false, "HeadBucket"},
    {"PUT", SC_BUCKET, "tagging", false, "PutBucketTagging"},
    {"PUT", SC_BUCKET, "policy", false, "PutBucketPolicy"},
    {"PUT", SC_BUCKET, "versioning", false, "PutBucketVersioning"},
    {"PUT", SC_BUCKET, NULL, false, "CreateBucket"},
    {"DELETE", SC_BUCKET, "tagging", false, "DeleteBucketTagging"},
    {"DELETE", SC_BUCKET, "policy", false, "DeleteBucketPolicy"},
    {"DELETE", SC_BUCKET, NULL, false, "DeleteBucket"},
    {"POST", SC_BUCKET, "delete", false, "DeleteObjects"},
    {"GET", SC_OBJECT, "uploadId", false, "ListParts"},
    {"GET", SC_OBJECT, "tagging", false, "GetObjectTagging"},
    {"GET", SC_OBJECT, "acl", false, "GetObjectAcl"},
    {"GET", SC_OBJECT, "attributes", false, "GetObjectAttributes"},
    {"GET", SC_OBJECT, NULL, false, "GetObject"},
    {"HEAD", SC_OBJECT, NULL, false, "HeadObject"},
    {"PUT", SC_OBJECT, "partNumber", true, "UploadPartCopy"},
    {"PUT", SC_OBJECT, "partNumber", false, "UploadPart"},
    {"PUT", SC_OBJECT, "tagging", false, "PutObjectTagging"},
    {"PUT", SC_OBJECT, "acl", false, "PutObjectAcl"},
    {"PUT", SC_OBJECT, NULL, true, "CopyObject"},
    {"PUT", SC_OBJECT, NULL, false, "PutObject"},
    {"POST", SC_OBJECT, "uploads", false, "CreateMultipartUpload"},
    {"POST", SC_OBJECT, "uploadId", false, "CompleteMultipartUpload"},
    {"POST", SC_OBJECT, "select", false, "SelectObjectContent"},
    {"POST", SC_OBJECT, "restore", false, "RestoreObject"},
    {"DELETE", SC_OBJECT, "uploadId", false, "AbortMultipartUpload"},
    {"DELETE", SC_OBJECT, "tagging", false, "DeleteObjectTagging"},
    {"DELETE", SC_OBJECT, NULL, false, "DeleteObject"},
};

static void set_name(char out[DS_OP_MAX], const char *s, size_t n)
{
    if (n >= DS_OP_MAX)
        n = DS_OP_MAX - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* True when the query (without '?') has a parameter named name, with or without a value. */
static bool query_has(const char *q, size_t qn, const char *name, const char **value, size_t *vlen)
{
    size_t nl = strlen(name);
    size_t i = 0;
    while (i < qn) {
        size_t s = i;
        while (i < qn && q[i] != '&')
            i++;
        size_t e = i;
        size_t k = s;
        while (k < e && q[k] != '=')
            k++;
        if (k - s == nl && memcmp(q + s, name, nl) == 0) {
            if (value) {
                *value = k < e ? q + k + 1 : q + e;
                *vlen = k < e ? e - k - 1 : 0;
            }
            return true;
        }
        i++;
    }
    return false;
}

static void s3_name(const struct ds_req_facts *f, char out[DS_OP_MAX])
{
    const char *t = f->target;
    size_t n = f->target_len;
    const char *q = memchr(t, '?', n);
    size_t pn = q ? (size_t)(q - t) : n;
    size_t qn = q ? n - pn - 1 : 0;
    const char *qs = q ? q + 1 : "";
    const char *xid;
    size_t xlen;
    if (query_has(qs, qn, "x-id", &xid, &xlen) && xlen > 0) {
        set_name(out, xid, xlen);
        return;
    }
    /* Path-style: "/", "/bucket", "/bucket/", "/bucket/key..." (absolute-form: after the host). */
    const char *path = t;
    if (pn > 7 && strncasecmp(path, "http", 4) == 0) {
        const char *sl = memchr(path + 7, '/', pn - 7);
        size_t skip = sl ? (size_t)(sl - path) : pn;
        path += skip;
        pn -= skip;
    }
    size_t i = 0;
    while (i < pn && path[i] == '/')
        i++;
    enum s3_scope scope = SC_SERVICE;
    if (i < pn) {
        size_t b = i;
        while (i < pn && path[i] != '/')
            i++;
        scope = i > b ? SC_BUCKET : SC_SERVICE;
        if (i < pn && i + 1 < pn)
            scope = SC_OBJECT;
    }
    for (size_t r = 0; r < sizeof(s3_rows) / sizeof(s3_rows[0]); r++) {
        const struct s3_row *row = &s3_rows[r];
        if (row->scope != scope || strlen(row->method) != f->method_len ||
            memcmp(row->method, f->method, f->method_len) != 0)
            continue;
        if (row->query && !query_has(qs, qn, row->query, NULL, NULL))
            continue;
        if (row->copy_source && !f->copy_source)
            continue;
        set_name(out, row->name, strlen(row->name));
        return;
    }
    set_name(out, "(unknown)", 9);
}

void ds_op_name(enum aws_service svc, const struct ds_req_facts *f, char out[DS_OP_MAX])
{
    if (f->amz_target != NULL && f->amz_target_len > 0) {
        const char *dot = memchr(f->amz_target, '.', f->amz_target_len);
        const char *s = dot ? dot + 1 : f->amz_target;
        size_t n = f->amz_target_len - (size_t)(s - f->amz_target);
        if (n > 0) {
            set_name(out, s, n);
            return;
        }
    }
    if (svc == AWS_S3) {
        s3_name(f, out);
        return;
    }
    set_name(out, "(unknown)", 9);
}

/* Reads a decimal number at s (up to end); 0 digits: false. */
static bool read_u16(const char *s, const char *end, uint16_t *out)
{
    uint32_t x = 0;
    const char *p = s;
    while (p < end && *p >= '0' && *p <= '9') {
        x = x * 10 + (uint32_t)(*p - '0');
        if (x > 65535)
            x = 65535;
        p++;
    }
    *out = (uint16_t)x;
    return p > s;
}

bool ds_parse_sdk_request(const char *v, size_t n, uint16_t *attempt, uint16_t *max)
{
    const char *end = v + n;
    bool any = false;
    *attempt = 0;
    *max = 0;
    for (const char *p = v; p < end;) {
        while (p < end && (*p == ' ' || *p == ';' || *p == '\t'))
            p++;
        const char *k = p;
        while (p < end && *p != '=' && *p != ';')
            p++;
        size_t kl = (size_t)(p - k);
        if (p < end && *p == '=') {
            p++;
            if (kl == 7 && strncasecmp(k, "attempt", 7) == 0)
                any = read_u16(p, end, attempt) || any;
            else if (kl == 3 && strncasecmp(k, "max", 3) == 0)
                any = read_u16(p, end, max) || any;
        }
        while (p < end && *p != ';')
            p++;
    }
    return any;
}

bool ds_op_is_batch(const char *op)
{
    return strcmp(op, "BatchGetItem") == 0 || strcmp(op, "BatchWriteItem") == 0;
}

/* Keys (get) or requests (write) in an object of table -> entry. */
static uint32_t count_items(const cJSON *tables, bool get)
{
    uint32_t n = 0;
    if (!cJSON_IsObject(tables))
        return 0;
    for (const cJSON *t = tables->child; t != NULL; t = t->next) {
        const cJSON *arr = get ? cJSON_GetObjectItemCaseSensitive(t, "Keys") : t;
        if (cJSON_IsArray(arr))
            n += (uint32_t)cJSON_GetArraySize(arr);
    }
    return n;
}

void ds_batch_count(const char *op, const char *req, size_t req_len, const char *resp,
                    size_t resp_len, uint32_t *asked, uint32_t *unprocessed)
{
    bool get = strcmp(op, "BatchGetItem") == 0;
    *asked = 0;
    *unprocessed = 0;
    if (req != NULL && req_len > 0) {
        cJSON *j = cJSON_ParseWithLength(req, req_len);
        if (j != NULL)
            *asked = count_items(cJSON_GetObjectItemCaseSensitive(j, "RequestItems"), get);
        cJSON_Delete(j);
    }
    if (resp != NULL && resp_len > 0) {
        cJSON *j = cJSON_ParseWithLength(resp, resp_len);
        if (j != NULL)
            *unprocessed = count_items(
                cJSON_GetObjectItemCaseSensitive(j, get ? "UnprocessedKeys" : "UnprocessedItems"),
                get);
        cJSON_Delete(j);
    }
}
