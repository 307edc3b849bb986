/*
 * aws_ops: the table of AWS operations (see aws_ops.h). DynamoDB speaks its
 * JSON protocol (POST /, X-Amz-Target, application/x-amz-json-1.0); S3 is
 * addressed path-style (/BUCKET/KEY), and only the first 64 KiB of an S3
 * reply are kept: enough for an error document, never a whole object.
 * Every operation retries the SDKs' standard way (aws_retry.h).
 */
#include "scenario/aws_ops.h"

#include <string.h>

#define DDB_JSON "application/x-amz-json-1.0"
#define DDB_TARGET(op) "DynamoDB_20120810." op
#define S3_KEEP_BYTES (64u * 1024u)

#define DDB_STEP(op, id, needs, batch)                                                          \
    {"dynamodb." op, op, id, SCN_AWS_DYNAMODB, "POST", DDB_TARGET(op), DDB_JSON,               \
     AWS_BODY_REQUEST, false, {"request", NULL, NULL}, needs, batch, 0, aws_retry_classify}
#define DDB_SETUP(op)                                                                              \
    {NULL, op, 0, SCN_AWS_DYNAMODB, "POST", DDB_TARGET(op), DDB_JSON, AWS_BODY_REQUEST, false,   \
     {NULL, NULL, NULL}, NULL, 0, 0, aws_retry_classify}

const struct aws_op aws_ops[] = {
    DDB_STEP("GetItem", SCN_DDB_GET_ITEM, "TableName", 0),
    DDB_STEP("PutItem", SCN_DDB_PUT_ITEM, "TableName", 0),
    DDB_STEP("UpdateItem", SCN_DDB_UPDATE_ITEM, "TableName", 0),
    DDB_STEP("DeleteItem", SCN_DDB_DELETE_ITEM, "TableName", 0),
    DDB_STEP("Query", SCN_DDB_QUERY, "TableName", 0),
    DDB_STEP("BatchGetItem", SCN_DDB_BATCH_GET_ITEM, "RequestItems", AWS_BATCH_GET),
    DDB_STEP("BatchWriteItem", SCN_DDB_BATCH_WRITE_ITEM, "RequestItems", AWS_BATCH_WRITE),
    {"s3.PutObject", "PutObject", SCN_S3_PUT_OBJECT, SCN_AWS_S3, "PUT", NULL,
     "application/octet-stream", AWS_BODY_OBJECT, true, {"bucket", "key", "size"}, NULL, 0,
     S3_KEEP_BYTES, aws_retry_classify},
    {"s3.GetObject", "GetObject", SCN_S3_GET_OBJECT, SCN_AWS_S3, "GET", NULL, NULL, AWS_BODY_NONE,
     true, {"bucket", "key", NULL}, NULL, 0, S3_KEEP_BYTES, aws_retry_classify},
    /* the setup phase's own */
    DDB_SETUP("CreateTable"),
    DDB_SETUP("DescribeTable"),
    {NULL, "CreateBucket", 0, SCN_AWS_S3, "PUT", NULL, NULL, AWS_BODY_NONE, false,
     {NULL, NULL, NULL}, NULL, 0, S3_KEEP_BYTES, aws_retry_classify},
};
const size_t aws_op_count = sizeof(aws_ops) / sizeof(aws_ops[0]);
_Static_assert(sizeof(aws_ops) / sizeof(aws_ops[0]) <= AWS_OP_MAX, "raise AWS_OP_MAX");

const struct aws_op *aws_op_by_method(const char *method)
{
    for (size_t i = 0; i < aws_op_count; i++)
        if (aws_ops[i].method && strcmp(aws_ops[i].method, method) == 0)
            return &aws_ops[i];
    return NULL;
}

const struct aws_op *aws_op_by_name(enum scn_aws_service service, const char *name)
{
    for (size_t i = 0; i < aws_op_count; i++)
        if (aws_ops[i].service == service && strcmp(aws_ops[i].name, name) == 0)
            return &aws_ops[i];
    return NULL;
}
