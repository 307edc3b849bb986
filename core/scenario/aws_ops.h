/*
 * aws_ops: the AWS operations loadscope sends, one table row each.
 *
 * A row says how an operation is sent and read: its service, the HTTP
 * method, the X-Amz-Target (DynamoDB's JSON protocol) and Content-Type, what
 * its body is (the step's rendered request, an object of the step's size,
 * nothing), whether its path names an S3 object, the batch it is split into
 * (the limits are aws_proto's), how much of a reply is kept, and how one
 * attempt's outcome is classed for retries. Rows with a step method
 * ("dynamodb.GetItem") may be scenario steps; the others (CreateTable,
 * DescribeTable, CreateBucket) serve the setup phase. The scenario loader
 * reads AWS steps through the rows, the engine sends every AWS request from
 * them.
 *
 * Adding an operation is one row in aws_ops.c (and, for a step, its enum
 * scn_method value).
 */
#ifndef LS_AWS_OPS_H
#define LS_AWS_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include "aws/aws_proto.h"
#include "aws/aws_retry.h"
#include "scenario/scenario.h"

enum aws_op_body {
    AWS_BODY_NONE = 0,    /* no body (S3 GetObject) */
    AWS_BODY_REQUEST,     /* the step's rendered "request" JSON (DynamoDB) */
    AWS_BODY_OBJECT,      /* an object of the step's "size" (S3 PutObject) */
};

#define AWS_OP_MAX 64 /* rows the table may have */
#define AWS_OP_MAX_KEYS 3

struct aws_op {
    const char *method;        /* the step's "method" ("dynamodb.GetItem"); NULL: setup only */
    const char *name;          /* the operation, "GetItem" */
    enum scn_method id;        /* steps: st->method; 0 for setup-only rows */
    enum scn_aws_service service;
    const char *http_method;   /* "POST", "PUT", "GET" */
    const char *target;        /* X-Amz-Target value; NULL: none (S3) */
    const char *content_type;  /* NULL: none */
    enum aws_op_body body;
    bool object_path;          /* the path is /BUCKET/KEY (S3), else "/" */
    /* step keys the operation takes besides "name", "weight", "method"; NULL-padded */
    const char *keys[AWS_OP_MAX_KEYS];
    const char *needs;         /* DynamoDB: the member the request needs ("TableName", ...) */
    enum aws_batch_kind batch; /* 0, or the batch the request is split into (aws_proto.h) */
    size_t keep_reply_bytes;   /* of a reply body, kept for the error reader; 0: all */
    /* the retry class of one attempt's outcome */
    enum aws_retry_kind (*retry)(enum aws_transport_fault tf, unsigned status, const char *code);
};

extern const struct aws_op aws_ops[];
extern const size_t aws_op_count;

/* The row whose step method is method ("dynamodb.GetItem"), or NULL. */
const struct aws_op *aws_op_by_method(const char *method);

/* The row of the operation name of service ("CreateTable"), or NULL. */
const struct aws_op *aws_op_by_name(enum scn_aws_service service, const char *name);

#endif
