/*
 * sse: an incremental parser for text/event-stream (WHATWG "server-sent
 * events"), as MCP's Streamable HTTP transport uses it.
 *
 * Bytes are fed in whatever pieces the network delivers (a chunk boundary may
 * fall anywhere, even inside a CRLF); each complete event is handed to a
 * callback. Handles LF, CR and CRLF line ends, a leading BOM, comment lines
 * (":..."), multi-line data (joined with "\n"), `event`, `id` (ignored when it
 * holds NUL), `retry` (digits only), fields without a colon, one optional
 * space after the colon, and empty "priming" events (an id and no data), which
 * are reported with data_len 0 so the caller can skip them.
 *
 * What is reported, precisely: at each blank line, the block of fields since
 * the previous blank line becomes an event when it held at least one `data`
 * field (even an empty one: the specification dispatches these), or, beyond
 * the specification, when it held an accepted `id` field or an `event` field
 * (so MCP's priming event "id: x\n\n" is visible). has_data tells the two
 * apart. Blocks of only comments, `retry`, ignored ids or unknown fields, and
 * blank lines with nothing before them, are not reported.
 *
 * The parser keeps one growable buffer per field; it allocates only when an
 * event is larger than any seen before, never per event.
 */
#ifndef LS_SSE_H
#define LS_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/lserr.h"

struct sse_event {
    const char *data;     /* data lines joined with "\n", NUL-terminated; valid during the callback */
    size_t data_len;
    const char *event;    /* event type, "" when none was given (means "message") */
    const char *id;       /* last event id seen on the stream so far, "" if none */
    int64_t retry_ms;     /* last valid retry value on the stream, -1 if none */
    bool has_data;        /* the event had a data field; false for an id/event-only event */
};

/* Return 0 to continue, non-zero to stop feeding (sse_feed returns LS_ERR_INVALID). */
typedef int (*sse_event_fn)(void *ctx, const struct sse_event *ev);

struct sse_parser;

/* Creates a parser that calls fn(ctx, ...) for each event. *out owns it. */
LS_MUST_CHECK ls_err sse_open(sse_event_fn fn, void *ctx, struct sse_parser **out);
void sse_close(struct sse_parser *p);

/* Forgets any partial event and stream state (for reuse on a new response). */
void sse_reset(struct sse_parser *p);

/*
 * Feeds len bytes. Calls the callback for each event completed by these bytes.
 * LS_ERR_NOMEM if an event outgrows memory, LS_ERR_INVALID if the callback
 * asked to stop. After either error the rest of buf was not parsed and the
 * parser should be reset (or closed) before it is fed again. The parser does
 * not keep buf.
 */
LS_MUST_CHECK ls_err sse_feed(struct sse_parser *p, const char *buf, size_t len);

/*
 * Signals end of stream. Per the specification an event not terminated by a
 * blank line is discarded; returns the number of bytes so discarded: every
 * stream byte after the line end of the last blank line (all of them, a full BOM
 * excepted, if there was no blank line), so 0 when the stream ended cleanly.
 * Afterwards the partial event and line are forgotten; the last event id,
 * retry and event count are kept until sse_reset.
 */
size_t sse_finish(struct sse_parser *p);

/* Events delivered since open/reset (priming events included). */
uint64_t sse_event_count(const struct sse_parser *p);

#endif
