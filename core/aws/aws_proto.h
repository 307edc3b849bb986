/*
 * aws_proto: what loadscope reads and writes on the wire for DynamoDB and S3,
 * apart from the transport: error replies, batch splitting and follow-ups,
 * URI encoding of S3 keys, object sizes drawn from a distribution.
 *
 * DynamoDB errors are JSON {"__type": "com.amazonaws.dynamodb.v20120810#Code",
 * "message": "..."} (or "Message"); S3 errors are XML
 * <Error><Code>..</Code><Message>..</Message></Error>.
 *
 * Batches: BatchGetItem takes at most 100 keys and BatchWriteItem at most 25
 * put/delete requests per call, counted across tables. aws_batch_open()
 * splits a request into calls within the limit (keeping each table's other
 * fields and the request's top-level fields), and aws_batch_reply() turns a
 * reply's UnprocessedKeys / UnprocessedItems into the next call until
 * nothing is left. Batches allocate: they are built per operation, not per
 * byte of the hot path.
 */
#ifndef LS_AWS_PROTO_H
#define LS_AWS_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/lserr.h"
#include "scenario/scenario.h"
#include "scenario/template.h"

#define AWS_BATCH_GET_MAX_KEYS 100
#define AWS_BATCH_WRITE_MAX_ITEMS 25

/*
 * Reads a DynamoDB error reply: code gets the part of __type after '#'
 * (the whole value when there is none), msg the message. Returns false when
 * body is not such an object (code and msg are then "").
 */
bool aws_ddb_parse_error(const char *body, size_t len, char *code, size_t codecap, char *msg,
                         size_t msgcap);

/* Reads an S3 XML error reply's Code and Message; false when there is no <Code>. */
bool aws_s3_parse_error(const char *body, size_t len, char *code, size_t codecap, char *msg,
                        size_t msgcap);

enum aws_batch_kind { AWS_BATCH_GET = 1, AWS_BATCH_WRITE = 2 };

struct aws_batch;

/*
 * Splits the request body (JSON with "RequestItems") into calls within the
 * limit. On bad input returns LS_ERR_INVALID with a message in err.
 * *out owns the calls; free with aws_batch_free().
 */
LS_MUST_CHECK ls_err aws_batch_open(enum aws_batch_kind kind, const char *body, size_t len,
                                    struct aws_batch **out, char *err, size_t errcap);

/* The call to send now (NUL-terminated, owned by b), or NULL when done. */
const char *aws_batch_current(const struct aws_batch *b, size_t *len);

/*
 * The current call succeeded with reply body resp. Unprocessed keys/items
 * become the next call (*followup set true), otherwise the next split call
 * is up. *items counts entries in Responses (BatchGetItem; 0 otherwise).
 * LS_ERR_PARSE when resp is not a JSON object.
 */
LS_MUST_CHECK ls_err aws_batch_reply(struct aws_batch *b, const char *resp, size_t len,
                                     bool *followup, uint32_t *items);

/* Calls the split made (before follow-ups). */
size_t aws_batch_calls(const struct aws_batch *b);

void aws_batch_free(struct aws_batch *b);

/*
 * Percent-encodes s as SigV4 and S3 want it (RFC 3986 unreserved kept, and
 * '/' kept when keep_slash). Returns the length, or -1 if cap is too small.
 */
long aws_uri_encode(const char *s, size_t len, bool keep_slash, char *out, size_t cap);

/* Draws an object size from d. */
uint64_t aws_size_draw(const struct scn_size *d, struct tmpl_rng *rng);

#endif
