/*
 * sse: incremental text/event-stream parser (WHATWG HTML, "Server-sent
 * events", section "Interpreting an event stream").
 *
 * The parser is a byte-level state machine, so a chunk boundary may fall
 * anywhere - inside a field name, inside a value, between the CR and LF of a
 * CRLF, inside the BOM - without buffering whole lines: value bytes go
 * straight into the buffer of the field they belong to. Runs of value and
 * comment bytes are copied or skipped in bulk; only field names and line ends
 * are looked at byte by byte.
 *
 * Buffers (dynbufs: data, event type, last event id and a scratch id) live as long as
 * the parser and only grow, so a stream of similar events allocates nothing
 * after the first one.
 */
#include "proto/sse.h"

#include "util/dynbuf.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum sse_state {
    SSE_ST_NAME,        /* reading a field name; name_len 0 means at line start */
    SSE_ST_VALUE_START, /* just after the colon: one space may be skipped */
    SSE_ST_VALUE,       /* reading a field value up to the line end */
    SSE_ST_SKIP,        /* reading a comment line up to the line end */
};

enum sse_field {
    SSE_F_DATA,
    SSE_F_EVENT,
    SSE_F_ID,
    SSE_F_RETRY,
    SSE_F_OTHER, /* unknown field: ignored, as the specification says */
};

enum sse_cr {
    SSE_CR_NONE = 0,
    SSE_CR_LINE,  /* a CR ended a field or comment line; an LF next is part of it */
    SSE_CR_BLANK, /* a CR ended a blank line; an LF next is part of it */
};

#define SSE_FIELD_MAX_BYTES ((size_t)1 << 30) /* one event's data (or type, or id) larger fails */

#define SSE_NAME_MAX 8 /* longer than any known field name: "retry" is 5 */

struct sse_parser {
    sse_event_fn fn;
    void *ctx;

    struct dynbuf data;   /* data lines of the current event, each followed by "\n" */
    struct dynbuf event;  /* event type of the current event */
    struct dynbuf id;     /* last event id buffer (stream state) */
    struct dynbuf id_new; /* the id line being read; swapped into id when accepted */

    enum sse_state state;
    enum sse_field field;
    enum sse_cr cr;
    char name[SSE_NAME_MAX];
    size_t name_len;       /* saturates at SSE_NAME_MAX */

    bool id_has_nul;       /* the id line being read holds a NUL: ignore it */
    bool retry_bad;        /* the retry line being read has a non-digit or overflows */
    size_t retry_digits;
    int64_t retry_val;

    bool had_data;         /* the current block has a data field */
    bool had_event;        /* ... an event field */
    bool had_id;           /* ... an accepted id field */

    unsigned bom_matched;  /* bytes of a leading BOM matched so far */
    bool bom_done;         /* past the point where a BOM may appear */

    int64_t retry_ms;      /* last valid retry value, -1 if none */
    size_t tail_bytes;     /* raw bytes since the end of the last blank line */
    uint64_t events;
};

static const char sse_bom[3] = { '\xEF', '\xBB', '\xBF' };

static ls_err sse_buf_append(struct dynbuf *b, const char *src, size_t n)
{
    ls_err err = dyn_addn(b, src, n);
    if (err != LS_OK)
        dyn_reset(b); /* the parser reports the failure; the buffer is usable after a reset */
    return err == LS_ERR_RANGE ? LS_ERR_NOMEM : err;
}

static void sse_buf_clear(struct dynbuf *b)
{
    dyn_reset(b);
}

/* A buffer's text; "" while nothing was added. */
static const char *sse_buf_str(const struct dynbuf *b)
{
    return dyn_ptr(b) ? dyn_ptr(b) : "";
}

/* Forgets the block of fields being collected (at a blank line or end of stream). */
static void sse_clear_block(struct sse_parser *p)
{
    sse_buf_clear(&p->data);
    sse_buf_clear(&p->event);
    p->had_data = false;
    p->had_event = false;
    p->had_id = false;
}

static void sse_clear_line(struct sse_parser *p)
{
    p->state = SSE_ST_NAME;
    p->name_len = 0;
    p->cr = SSE_CR_NONE;
}

ls_err sse_open(sse_event_fn fn, void *ctx, struct sse_parser **out)
{
    ls_err err = LS_OK;
    struct sse_parser *p = NULL;

    *out = NULL;
    if (!fn) {
        err = LS_ERR_INVALID;
        goto out;
    }
    p = calloc(1, sizeof *p);
    if (!p) {
        err = LS_ERR_NOMEM;
        goto out;
    }
    p->fn = fn;
    p->ctx = ctx;
    dyn_init(&p->data, SSE_FIELD_MAX_BYTES);
    dyn_init(&p->event, SSE_FIELD_MAX_BYTES);
    dyn_init(&p->id, SSE_FIELD_MAX_BYTES);
    dyn_init(&p->id_new, SSE_FIELD_MAX_BYTES);
    sse_reset(p);
    *out = p;
    p = NULL;
out:
    sse_close(p);
    return err;
}

void sse_close(struct sse_parser *p)
{
    if (!p)
        return;
    dyn_free(&p->data);
    dyn_free(&p->event);
    dyn_free(&p->id);
    dyn_free(&p->id_new);
    free(p);
}

void sse_reset(struct sse_parser *p)
{
    sse_clear_block(p);
    sse_clear_line(p);
    sse_buf_clear(&p->id);
    sse_buf_clear(&p->id_new);
    p->retry_ms = -1;
    p->tail_bytes = 0;
    p->events = 0;
    p->bom_matched = 0;
    p->bom_done = false;
}

static enum sse_field sse_field_of(const struct sse_parser *p)
{
    size_t n = p->name_len;

    if (n == 4 && memcmp(p->name, "data", 4) == 0)
        return SSE_F_DATA;
    if (n == 5 && memcmp(p->name, "event", 5) == 0)
        return SSE_F_EVENT;
    if (n == 2 && memcmp(p->name, "id", 2) == 0)
        return SSE_F_ID;
    if (n == 5 && memcmp(p->name, "retry", 5) == 0)
        return SSE_F_RETRY;
    return SSE_F_OTHER;
}

/* The field name is complete: prepare to receive its value. */
static void sse_begin_field(struct sse_parser *p)
{
    p->field = sse_field_of(p);
    switch (p->field) {
    case SSE_F_EVENT:
        sse_buf_clear(&p->event); /* a later event field replaces an earlier one */
        break;
    case SSE_F_ID:
        sse_buf_clear(&p->id_new);
        p->id_has_nul = false;
        break;
    case SSE_F_RETRY:
        p->retry_bad = false;
        p->retry_digits = 0;
        p->retry_val = 0;
        break;
    case SSE_F_DATA:
    case SSE_F_OTHER:
        break;
    }
}

/* Value bytes (no CR or LF among them) for the current field. */
static ls_err sse_value_bytes(struct sse_parser *p, const char *s, size_t n)
{
    switch (p->field) {
    case SSE_F_DATA:
        return sse_buf_append(&p->data, s, n);
    case SSE_F_EVENT:
        return sse_buf_append(&p->event, s, n);
    case SSE_F_ID:
        if (p->id_has_nul)
            return LS_OK;
        if (memchr(s, '\0', n)) {
            p->id_has_nul = true;
            return LS_OK;
        }
        return sse_buf_append(&p->id_new, s, n);
    case SSE_F_RETRY:
        for (size_t i = 0; i < n && !p->retry_bad; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c < '0' || c > '9' || p->retry_val > (INT64_MAX - (c - '0')) / 10) {
                p->retry_bad = true;
                break;
            }
            p->retry_val = p->retry_val * 10 + (c - '0');
            p->retry_digits++;
        }
        return LS_OK;
    case SSE_F_OTHER:
        break;
    }
    return LS_OK;
}

/* The line holding the current field ended: apply the field. */
static ls_err sse_end_field(struct sse_parser *p)
{
    switch (p->field) {
    case SSE_F_DATA:
        p->had_data = true;
        return sse_buf_append(&p->data, "\n", 1);
    case SSE_F_EVENT:
        p->had_event = true;
        break;
    case SSE_F_ID:
        if (!p->id_has_nul) {
            struct dynbuf t = p->id;
            p->id = p->id_new;
            p->id_new = t;
            p->had_id = true;
        }
        break;
    case SSE_F_RETRY:
        if (!p->retry_bad && p->retry_digits > 0)
            p->retry_ms = p->retry_val;
        break;
    case SSE_F_OTHER:
        break;
    }
    return LS_OK;
}

/* A blank line: report the block as an event if it qualifies, then forget it. */
static ls_err sse_dispatch(struct sse_parser *p)
{
    int rc = 0;

    p->tail_bytes = 0;
    if (p->had_data || p->had_event || p->had_id) {
        if (p->had_data) {
            /* Every data field appended "\n"; the last one is not part of the data. */
            dyn_setlen(&p->data, dyn_len(&p->data) - 1);
        }
        struct sse_event ev = {
            .data = sse_buf_str(&p->data),
            .data_len = dyn_len(&p->data),
            .event = sse_buf_str(&p->event),
            .id = sse_buf_str(&p->id),
            .retry_ms = p->retry_ms,
            .has_data = p->had_data,
        };
        p->events++;
        rc = p->fn(p->ctx, &ev);
    }
    sse_clear_block(p);
    return rc != 0 ? LS_ERR_INVALID : LS_OK;
}

/* Index of the first CR or LF in s[0..n), or n. */
static size_t sse_find_eol(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] != '\n' && s[i] != '\r')
        i++;
    return i;
}

/* Runs bytes (BOM already handled) through the line state machine. */
static ls_err sse_process(struct sse_parser *p, const char *buf, size_t len)
{
    size_t i = 0;
    ls_err err = LS_OK;

    while (i < len) {
        char c = buf[i];

        if (p->cr != SSE_CR_NONE) {
            enum sse_cr kind = p->cr;
            p->cr = SSE_CR_NONE;
            if (c == '\n') {
                /* Second half of a CRLF, possibly split across two feeds. */
                i++;
                if (kind == SSE_CR_LINE)
                    p->tail_bytes++;
                continue;
            }
        }

        switch (p->state) {
        case SSE_ST_NAME:
            i++;
            p->tail_bytes++;
            if (c == '\r' || c == '\n') {
                if (p->name_len == 0) {
                    p->cr = c == '\r' ? SSE_CR_BLANK : SSE_CR_NONE;
                    err = sse_dispatch(p);
                    if (err != LS_OK)
                        return err;
                    break;
                }
                /* A field name without a colon: the value is empty. */
                sse_begin_field(p);
                err = sse_end_field(p);
                if (err != LS_OK)
                    return err;
                p->name_len = 0;
                p->cr = c == '\r' ? SSE_CR_LINE : SSE_CR_NONE;
            } else if (c == ':') {
                if (p->name_len == 0) {
                    p->state = SSE_ST_SKIP; /* comment line */
                } else {
                    sse_begin_field(p);
                    p->state = SSE_ST_VALUE_START;
                }
            } else if (p->name_len < SSE_NAME_MAX) {
                p->name[p->name_len++] = c;
            }
            break;
        case SSE_ST_VALUE_START:
            p->state = SSE_ST_VALUE;
            if (c == ' ') {
                i++;
                p->tail_bytes++;
            }
            break;
        case SSE_ST_VALUE:
        case SSE_ST_SKIP: {
            size_t run = sse_find_eol(buf + i, len - i);
            if (p->state == SSE_ST_VALUE && run > 0) {
                err = sse_value_bytes(p, buf + i, run);
                if (err != LS_OK)
                    return err;
            }
            i += run;
            p->tail_bytes += run;
            if (i == len)
                break;
            c = buf[i];
            i++;
            p->tail_bytes++;
            if (p->state == SSE_ST_VALUE) {
                err = sse_end_field(p);
                if (err != LS_OK)
                    return err;
            }
            p->state = SSE_ST_NAME;
            p->name_len = 0;
            p->cr = c == '\r' ? SSE_CR_LINE : SSE_CR_NONE;
            break;
        }
        }
    }
    return LS_OK;
}

ls_err sse_feed(struct sse_parser *p, const char *buf, size_t len)
{
    size_t i = 0;

    /* A BOM may arrive split over feeds; a partial match that fails is data. */
    while (!p->bom_done && i < len) {
        if (buf[i] == sse_bom[p->bom_matched]) {
            i++;
            p->bom_matched++;
            if (p->bom_matched == sizeof sse_bom)
                p->bom_done = true;
        } else {
            p->bom_done = true;
            ls_err err = sse_process(p, sse_bom, p->bom_matched);
            if (err != LS_OK)
                return err;
        }
    }
    return sse_process(p, buf + i, len - i);
}

size_t sse_finish(struct sse_parser *p)
{
    size_t discarded = p->tail_bytes;

    if (!p->bom_done)
        discarded += p->bom_matched;
    p->bom_done = true;
    p->tail_bytes = 0;
    sse_clear_block(p);
    sse_clear_line(p);
    return discarded;
}

uint64_t sse_event_count(const struct sse_parser *p)
{
    return p->events;
}
