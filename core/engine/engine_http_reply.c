/*
 * engine_http_reply: a Streamable HTTP reply's body and its classification,
 * for both HTTP clients (see engine_http_reply.h).
 */
#include "engine/engine_http_reply.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The SSE parser hands over each event; the one answering our id settles the reply. */
static int on_sse_event(void *ctx, const struct sse_event *ev)
{
    struct http_reply *r = ctx;
    struct vu *v = r->v;
    if (ev->data_len == 0 || r->reply_seen)
        return 0; /* a priming event, or traffic after our answer */
    struct jsonrpc_msg m;
    if (jsonrpc_scan(ev->data, ev->data_len, &m) != LS_OK) {
        r->res.err = LS_EC_PROTOCOL;
        snprintf(r->res.detail, sizeof(r->res.detail), "event data is not valid JSON");
        r->reply_seen = true;
        return 0;
    }
    if ((m.kind == JSONRPC_RESPONSE || m.kind == JSONRPC_ERROR) && m.id_is_int &&
        m.id_int == v->rpc_id) {
        v->w->e->hooks->classify(v, &m, &r->res);
        r->reply_seen = true;
    }
    /* Notifications and server requests on the stream are allowed; they do not answer us. */
    return 0;
}

ls_err http_reply_open(struct http_reply *r, struct vu *v)
{
    memset(r, 0, sizeof(*r));
    r->v = v;
    dyn_init(&r->body, HTTP_REPLY_MAX_BYTES);
    return sse_open(on_sse_event, r, &r->sse);
}

void http_reply_close(struct http_reply *r)
{
    sse_close(r->sse);
    r->sse = NULL;
    dyn_free(&r->body);
}

void http_reply_reset(struct http_reply *r)
{
    dyn_reset(&r->body);
    r->is_sse = false;
    r->reply_seen = false;
    memset(&r->res, 0, sizeof(r->res));
    sse_reset(r->sse);
}

void http_reply_content_type(struct http_reply *r, const char *value, size_t len)
{
    r->is_sse = len >= 17 && strncasecmp(value, "text/event-stream", 17) == 0;
}

void http_reply_session_id(struct http_reply *r, const char *value, size_t len)
{
    struct vu *v = r->v;
    if (v->phase != VU_INIT || len >= sizeof(v->session_id))
        return;
    memcpy(v->session_id, value, len);
    v->session_id[len] = '\0';
}

bool http_reply_body(struct http_reply *r, const char *buf, size_t len)
{
    if (r->is_sse)
        return sse_feed(r->sse, buf, len) == LS_OK;
    return dyn_addn(&r->body, buf, len) == LS_OK;
}

/* A JSON body: one JSON-RPC message answering our id. */
static void classify_json(struct http_reply *r, long status, struct xfer_result *out)
{
    struct vu *v = r->v;
    struct jsonrpc_msg m;
    if (dyn_len(&r->body) == 0) {
        out->err = LS_EC_PROTOCOL;
        snprintf(out->detail, sizeof(out->detail), "empty reply body (HTTP %ld)", status);
    } else if (jsonrpc_scan(dyn_ptr(&r->body), dyn_len(&r->body), &m) != LS_OK) {
        out->err = LS_EC_PROTOCOL;
        snprintf(out->detail, sizeof(out->detail), "reply body is not valid JSON");
    } else if (!m.id_is_int || m.id_int != v->rpc_id) {
        out->err = LS_EC_PROTOCOL;
        snprintf(out->detail, sizeof(out->detail), "reply id does not match request id %lld",
                 (long long)v->rpc_id);
    } else {
        v->w->e->hooks->classify(v, &m, out);
    }
}

void http_reply_classify(struct http_reply *r, long status, struct xfer_result *out)
{
    struct vu *v = r->v;
    if (v->phase == VU_DELETE) {
        out->err = LS_EC_OK; /* 200, 204, or 405 from a server that keeps sessions: all fine */
    } else if ((status == 404 || status == 400) && v->session_id[0] && v->phase != VU_INIT) {
        out->err = LS_EC_SESSION_LOST;
        snprintf(out->detail, sizeof(out->detail), "HTTP %ld for session %.120s", status,
                 v->session_id);
    } else if (status >= 400 || status < 200) {
        out->err = LS_EC_HTTP;
        snprintf(out->detail, sizeof(out->detail), "HTTP %ld", status);
    } else if (v->phase == VU_NOTIFY) {
        out->err = LS_EC_OK;
    } else if (r->is_sse) {
        sse_finish(r->sse);
        out->err = r->res.err;
        out->rpc_code = r->res.rpc_code;
        memcpy(out->detail, r->res.detail, sizeof(out->detail));
        if (!r->reply_seen) {
            out->err = LS_EC_PROTOCOL;
            snprintf(out->detail, sizeof(out->detail),
                     "event stream ended without the reply to id %lld", (long long)v->rpc_id);
        }
    } else {
        classify_json(r, status, out);
    }
}
