/*
 * engine_http_reply: a Streamable HTTP reply, whichever client read it.
 *
 * Both HTTP transports (libcurl's, engine_http.c, and the native HTTP/1.1
 * client, engine_h1.c) hand the reply's Content-Type, Mcp-Session-Id and
 * body bytes here and ask for its classification once it is complete.
 * JSON bodies are gathered and scanned whole; event streams go through the
 * SSE parser, and the event that carries the reply to the VU's request id
 * settles it. Private to those two files.
 */
#ifndef LS_ENGINE_HTTP_REPLY_H
#define LS_ENGINE_HTTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/transport.h"
#include "proto/sse.h"
#include "util/dynbuf.h"

#define HTTP_REPLY_MAX_BYTES ((size_t)1 << 30) /* a JSON reply body larger than this fails */

struct http_reply {
    struct vu *v;
    struct dynbuf body;      /* a JSON body, gathered whole */
    bool is_sse;             /* Content-Type: text/event-stream */
    struct sse_parser *sse;
    bool reply_seen;         /* the event answering our id arrived */
    struct xfer_result res;  /* the classification of that event */
};

/* Prepares r for v's replies; http_reply_close() frees it (also after a failure). */
LS_MUST_CHECK ls_err http_reply_open(struct http_reply *r, struct vu *v);
void http_reply_close(struct http_reply *r);

/* Before each exchange. */
void http_reply_reset(struct http_reply *r);

/* The reply's Content-Type value (len bytes). */
void http_reply_content_type(struct http_reply *r, const char *value, size_t len);

/* The reply's Mcp-Session-Id: kept as the VU's session when it answers initialize. */
void http_reply_session_id(struct http_reply *r, const char *value, size_t len);

/* Body bytes as they come; false when they cannot be held or parsed (the transfer fails). */
bool http_reply_body(struct http_reply *r, const char *buf, size_t len);

/* Classifies the complete reply with HTTP status into out (err, detail, rpc_code). */
void http_reply_classify(struct http_reply *r, long status, struct xfer_result *out);

#endif
