/*
 * store_read: reading sessions back (contract in store_read.h).
 *
 * Each reader prepares its statement on the caller's connection, steps it
 * handing one row at a time to the callback, and finalizes it: nothing is
 * kept on the handle, so store.c's lifetime rules are untouched and a
 * reader is as cheap to add as a function. SQLite streams rows from its
 * page cache (bounded by cache_size), so memory does not grow with the
 * session. Unsigned 64-bit columns were stored by two's-complement cast
 * (see store.c) and are read back with the opposite cast.
 */
#include "store_read.h"
#include "store_int.h"

#include "aws/aws_retry.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

/* Prepares sql for one reader; the message names the reader. */
static ls_err r_prepare(struct store *st, const char *sql, sqlite3_stmt **out, const char *what)
{
    int rc = sqlite3_prepare_v2(st->db, sql, -1, out, NULL);

    if (rc == SQLITE_OK)
        return LS_OK;
    st_err(st, "%s: preparing the query: %s", what, sqlite3_errmsg(st->db));
    return LS_ERR_DB;
}

/* Fails with LS_ERR_NOTFOUND and a message when session id does not exist. */
static ls_err r_need_session(struct store *st, int64_t id, const char *what)
{
    sqlite3_stmt *s = st->has_session;
    ls_err e = LS_OK;
    int rc;

    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        st_err(st, "%s: no session %lld in this database", what, (long long)id);
        e = LS_ERR_NOTFOUND;
    } else if (rc != SQLITE_ROW) {
        st_err(st, "%s of session %lld: %s", what, (long long)id, sqlite3_errmsg(st->db));
        e = LS_ERR_DB;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return e;
}

/* The end of a stepping loop: SQLITE_DONE is success, anything else an error. */
static ls_err r_step_error(struct store *st, int rc, const char *what, int64_t session)
{
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return LS_OK;
    st_err(st, "%s of session %lld: %s", what, (long long)session, sqlite3_errmsg(st->db));
    return LS_ERR_DB;
}

static const char *r_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);

    return t != NULL ? (const char *)t : "";
}

static uint64_t r_u64(sqlite3_stmt *s, int i)
{
    return (uint64_t)sqlite3_column_int64(s, i);
}

static char *r_dup(sqlite3_stmt *s, int i)
{
    return strdup(r_text(s, i));
}

void store_session_clear(struct store_session *x)
{
    if (x == NULL)
        return;
    free(x->name);
    free(x->scenario_path);
    free(x->scenario_text);
    free(x->target);
    free(x->params_json);
    free(x->host);
    free(x->version);
    free(x->status_text);
    memset(x, 0, sizeof(*x));
}

ls_err store_session_get(struct store *st, int64_t id, struct store_session *out)
{
    sqlite3_stmt *s = NULL;
    ls_err e;
    int rc;

    if (st == NULL || out == NULL)
        return LS_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    e = r_prepare(st,
                  "SELECT id, name, scenario_path, scenario_text, target, params_json, host, "
                  "version, status_text, started_unix_ns, ended_unix_ns, exit_code "
                  "FROM sessions WHERE id = ?1",
                  &s, "reading a session");
    if (e != LS_OK)
        return e;
    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        st_err(st, "no session %lld in this database", (long long)id);
        e = LS_ERR_NOTFOUND;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        e = r_step_error(st, rc, "reading", id);
        goto out;
    }
    out->id = sqlite3_column_int64(s, 0);
    out->name = r_dup(s, 1);
    out->scenario_path = r_dup(s, 2);
    out->scenario_text = r_dup(s, 3);
    out->target = r_dup(s, 4);
    out->params_json = r_dup(s, 5);
    out->host = r_dup(s, 6);
    out->version = r_dup(s, 7);
    out->status_text = r_dup(s, 8);
    out->started_unix_ns = sqlite3_column_int64(s, 9);
    out->ended_unix_ns = sqlite3_column_int64(s, 10); /* NULL reads as 0 */
    out->exit_code = sqlite3_column_type(s, 11) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 11);
    if (out->name == NULL || out->scenario_path == NULL || out->scenario_text == NULL ||
        out->target == NULL || out->params_json == NULL || out->host == NULL ||
        out->version == NULL || out->status_text == NULL) {
        store_session_clear(out);
        st_err(st, "reading session %lld: out of memory", (long long)id);
        e = LS_ERR_NOMEM;
    }
out:
    sqlite3_finalize(s);
    return e;
}

ls_err store_session_latest(struct store *st, int64_t *id)
{
    sqlite3_stmt *s = NULL;
    ls_err e;
    int rc;

    if (st == NULL || id == NULL)
        return LS_ERR_INVALID;
    /* the same order as store_list_sessions: newest first */
    e = r_prepare(st, "SELECT id FROM sessions ORDER BY started_unix_ns DESC, id DESC LIMIT 1", &s,
                  "finding the latest session");
    if (e != LS_OK)
        return e;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
    } else if (rc == SQLITE_DONE) {
        st_err(st, "no sessions in this database yet");
        e = LS_ERR_NOTFOUND;
    } else {
        st_err(st, "finding the latest session: %s", sqlite3_errmsg(st->db));
        e = LS_ERR_DB;
    }
    sqlite3_finalize(s);
    return e;
}

ls_err store_steps_each(struct store *st, int64_t session, store_step_fn fn, void *ctx)
{
    sqlite3_stmt *s = NULL;
    ls_err e;
    int rc;

    if (st == NULL || fn == NULL)
        return LS_ERR_INVALID;
    e = r_need_session(st, session, "reading steps");
    if (e == LS_OK)
        e = r_prepare(st,
                      "SELECT idx, name, method, params, weight FROM steps "
                      "WHERE session_id = ?1 ORDER BY idx",
                      &s, "reading steps");
    if (e != LS_OK)
        return e;
    sqlite3_bind_int64(s, 1, session);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_step x = {
            .idx = sqlite3_column_int(s, 0),
            .name = r_text(s, 1),
            .method = r_text(s, 2),
            .params = r_text(s, 3),
            .weight = (uint32_t)sqlite3_column_int64(s, 4),
        };
        if (fn(ctx, &x) != 0)
            break;
    }
    e = r_step_error(st, rc, "reading steps", session);
    sqlite3_finalize(s);
    return e;
}

/* Reads the ten percentiles and two means laid out as in both tables, from column i. */
static void r_latencies(sqlite3_stmt *s, int i, int64_t *c[5], double *mean, int64_t *u[5],
                        double *u_mean)
{
    for (int k = 0; k < 5; k++)
        *c[k] = sqlite3_column_int64(s, i + k);
    *mean = sqlite3_column_double(s, i + 5);
    for (int k = 0; k < 5; k++)
        *u[k] = sqlite3_column_int64(s, i + 6 + k);
    *u_mean = sqlite3_column_double(s, i + 11);
}

#define LATENCY_COLUMNS                                                                            \
    "p50_us, p90_us, p99_us, p999_us, max_us, mean_us, u_p50_us, u_p90_us, u_p99_us, "             \
    "u_p999_us, u_max_us, u_mean_us"

ls_err store_intervals_each(struct store *st, int64_t session, int32_t step_filter,
                            store_interval_fn fn, void *ctx)
{
    sqlite3_stmt *s = NULL;
    ls_err e;
    int rc;

    if (st == NULL || fn == NULL)
        return LS_ERR_INVALID;
    e = r_need_session(st, session, "reading intervals");
    if (e == LS_OK)
        e = r_prepare(st,
                      "SELECT second, step, warmup, count, errors, late, " LATENCY_COLUMNS
                      ", hist, u_hist FROM intervals WHERE session_id = ?1 "
                      "AND (?2 IS NULL OR step = ?2) ORDER BY second, step",
                      &s, "reading intervals");
    if (e != LS_OK)
        return e;
    sqlite3_bind_int64(s, 1, session);
    if (step_filter != INT32_MIN)
        sqlite3_bind_int(s, 2, step_filter);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_interval iv;

        memset(&iv, 0, sizeof(iv));
        iv.second = (uint32_t)sqlite3_column_int64(s, 0);
        iv.step = sqlite3_column_int(s, 1);
        iv.warmup = (uint8_t)(sqlite3_column_int(s, 2) != 0);
        iv.count = r_u64(s, 3);
        iv.errors = r_u64(s, 4);
        iv.late = r_u64(s, 5);
        r_latencies(
            s, 6, (int64_t *[5]){&iv.p50_us, &iv.p90_us, &iv.p99_us, &iv.p999_us, &iv.max_us},
            &iv.mean_us,
            (int64_t *[5]){&iv.u_p50_us, &iv.u_p90_us, &iv.u_p99_us, &iv.u_p999_us, &iv.u_max_us},
            &iv.u_mean_us);
        /* blob first, then its size, as SQLite documents */
        iv.hist = sqlite3_column_blob(s, 18);
        iv.hist_len = (size_t)sqlite3_column_bytes(s, 18);
        iv.u_hist = sqlite3_column_blob(s, 19);
        iv.u_hist_len = (size_t)sqlite3_column_bytes(s, 19);
        if (fn(ctx, &iv) != 0)
            break;
    }
    e = r_step_error(st, rc, "reading intervals", session);
    sqlite3_finalize(s);
    return e;
}

/*
 * The rowid range holding a session's samples, from the (session_id, step)
 * index. Scanning that range in rowid order keeps "the order they were
 * stored" without a sort of every sample (which ORDER BY rowid over the
 * index would need); rows of other sessions inside the range, when two runs
 * wrote at once, are skipped by the session test.
 */
static ls_err r_sample_range(struct store *st, int64_t session, int64_t *lo, int64_t *hi, bool *any)
{
    sqlite3_stmt *s = NULL;
    ls_err e = r_prepare(st,
                         "SELECT min(rowid), max(rowid), count(*) FROM samples "
                         "WHERE session_id = ?1",
                         &s, "reading samples");
    int rc;

    if (e != LS_OK)
        return e;
    sqlite3_bind_int64(s, 1, session);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *any = sqlite3_column_int64(s, 2) > 0;
        *lo = sqlite3_column_int64(s, 0);
        *hi = sqlite3_column_int64(s, 1);
    } else {
        e = r_step_error(st, rc == SQLITE_DONE ? SQLITE_ERROR : rc, "reading samples", session);
    }
    sqlite3_finalize(s);
    return e;
}

ls_err store_samples_each(struct store *st, int64_t session, store_sample_fn fn, void *ctx)
{
    sqlite3_stmt *s = NULL;
    int64_t lo = 0, hi = 0;
    bool any = false;
    ls_err e;
    int rc;

    if (st == NULL || fn == NULL)
        return LS_ERR_INVALID;
    e = r_need_session(st, session, "reading samples");
    if (e == LS_OK)
        e = r_sample_range(st, session, &lo, &hi, &any);
    if (e != LS_OK || !any)
        return e;
    e = r_prepare(st,
                  "SELECT seq, worker, vu, step, intended_ns, start_ns, end_ns, dns_us, "
                  "connect_us, tls_us, ttfb_us, bytes_out, bytes_in, status, err, flags, "
                  "rpc_code, attempts, followups, retries, backoff_us, last_try_us, aws_code "
                  "FROM samples NOT INDEXED "
                  "WHERE rowid BETWEEN ?2 AND ?3 AND session_id = ?1 ORDER BY rowid",
                  &s, "reading samples");
    if (e != LS_OK)
        return e;
    sqlite3_bind_int64(s, 1, session);
    sqlite3_bind_int64(s, 2, lo);
    sqlite3_bind_int64(s, 3, hi);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct ls_sample x;

        memset(&x, 0, sizeof(x));
        x.seq = (uint32_t)sqlite3_column_int64(s, 0);
        x.worker = (uint16_t)sqlite3_column_int(s, 1);
        x.vu = (uint32_t)sqlite3_column_int64(s, 2);
        x.step = (uint16_t)sqlite3_column_int(s, 3);
        x.intended_ns = r_u64(s, 4);
        x.start_ns = r_u64(s, 5);
        x.end_ns = r_u64(s, 6);
        x.dns_us = (uint32_t)sqlite3_column_int64(s, 7);
        x.connect_us = (uint32_t)sqlite3_column_int64(s, 8);
        x.tls_us = (uint32_t)sqlite3_column_int64(s, 9);
        x.ttfb_us = (uint32_t)sqlite3_column_int64(s, 10);
        x.bytes_out = (uint32_t)sqlite3_column_int64(s, 11);
        x.bytes_in = (uint32_t)sqlite3_column_int64(s, 12);
        x.status = (uint16_t)sqlite3_column_int(s, 13);
        x.err = (uint8_t)sqlite3_column_int(s, 14);
        x.flags = (uint8_t)sqlite3_column_int(s, 15);
        x.rpc_code = (int32_t)sqlite3_column_int64(s, 16);
        x.attempts = (uint16_t)sqlite3_column_int(s, 17);
        x.followups = (uint16_t)sqlite3_column_int(s, 18);
        x.retries = (uint16_t)sqlite3_column_int(s, 19);
        x.backoff_us = (uint32_t)sqlite3_column_int64(s, 20);
        x.last_try_us = (uint32_t)sqlite3_column_int64(s, 21);
        /* stored by name (NULL: none); a name no longer in the table reads as "unlisted" */
        if (sqlite3_column_type(s, 22) != SQLITE_NULL)
            x.aws_code = aws_code_index((const char *)sqlite3_column_text(s, 22),
                                        (size_t)sqlite3_column_bytes(s, 22));
        if (fn(ctx, &x) != 0)
            break;
    }
    e = r_step_error(st, rc, "reading samples", session);
    sqlite3_finalize(s);
    return e;
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/*
 * Parses err_json ({"connect":3,"timeout":1}, as the writer stores it) into
 * counts by class. NULL or "" is no errors. An unknown class name or a
 * malformed object is refused with a message naming the step.
 */
static ls_err parse_err_json(struct store *st, int64_t session, int32_t step, const char *json,
                             uint64_t counts[LS_EC__COUNT])
{
    const char *p = json;
    const char *why = NULL;

    memset(counts, 0, sizeof(uint64_t) * LS_EC__COUNT);
    if (json == NULL)
        return LS_OK;
    p = skip_ws(p);
    if (*p == '\0')
        return LS_OK;
    if (*p++ != '{') {
        why = "expected '{'";
        goto bad;
    }
    p = skip_ws(p);
    if (*p == '}')
        goto end;
    for (;;) {
        const char *name;
        size_t len;
        int cls = -1;
        uint64_t v = 0;

        if (*p++ != '"') {
            why = "expected a quoted class name";
            goto bad;
        }
        name = p;
        while (*p != '"' && *p != '\0' && *p != '\\')
            p++;
        if (*p != '"') {
            why = "unterminated class name";
            goto bad;
        }
        len = (size_t)(p - name);
        p++;
        for (int c = 0; c < LS_EC__COUNT && cls < 0; c++) {
            const char *n = ls_errclass_name((enum ls_errclass)c);

            if (strlen(n) == len && memcmp(n, name, len) == 0)
                cls = c;
        }
        if (cls < 0) {
            st_err(st, "summary of step %d of session %lld: unknown error class \"%.*s\" in %s",
                   (int)step, (long long)session, (int)(len > 40 ? 40 : len), name, json);
            return LS_ERR_PARSE;
        }
        p = skip_ws(p);
        if (*p++ != ':') {
            why = "expected ':'";
            goto bad;
        }
        p = skip_ws(p);
        if (!isdigit((unsigned char)*p)) {
            why = "expected a count";
            goto bad;
        }
        while (isdigit((unsigned char)*p)) {
            unsigned d = (unsigned)(*p - '0');

            if (v > (UINT64_MAX - d) / 10) {
                why = "count out of range";
                goto bad;
            }
            v = v * 10 + d;
            p++;
        }
        counts[cls] = v;
        p = skip_ws(p);
        if (*p == ',') {
            p = skip_ws(p + 1);
            continue;
        }
        if (*p == '}')
            break;
        why = "expected ',' or '}'";
        goto bad;
    }
end:
    p = skip_ws(p + 1);
    if (*p == '\0')
        return LS_OK;
    why = "text after the object";
bad:
    st_err(st, "summary of step %d of session %lld: bad err_json at offset %ld (%s): %.80s",
           (int)step, (long long)session, (long)(p - json), why, json);
    return LS_ERR_PARSE;
}

ls_err store_summaries_each(struct store *st, int64_t session, store_summary_fn fn, void *ctx)
{
    sqlite3_stmt *s = NULL;
    ls_err e;
    int rc;

    if (st == NULL || fn == NULL)
        return LS_ERR_INVALID;
    e = r_need_session(st, session, "reading summaries");
    if (e == LS_OK)
        e = r_prepare(st,
                      "SELECT step, count, errors, rate, err_json, " LATENCY_COLUMNS
                      " FROM summaries WHERE session_id = ?1 ORDER BY step",
                      &s, "reading summaries");
    if (e != LS_OK)
        return e;
    sqlite3_bind_int64(s, 1, session);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_summary sm;

        memset(&sm, 0, sizeof(sm));
        sm.step = sqlite3_column_int(s, 0);
        sm.count = r_u64(s, 1);
        sm.errors = r_u64(s, 2);
        sm.rate = sqlite3_column_double(s, 3);
        e = parse_err_json(st, session, sm.step, (const char *)sqlite3_column_text(s, 4),
                           sm.err_by_class);
        if (e != LS_OK)
            break;
        r_latencies(
            s, 5, (int64_t *[5]){&sm.p50_us, &sm.p90_us, &sm.p99_us, &sm.p999_us, &sm.max_us},
            &sm.mean_us,
            (int64_t *[5]){&sm.u_p50_us, &sm.u_p90_us, &sm.u_p99_us, &sm.u_p999_us, &sm.u_max_us},
            &sm.u_mean_us);
        if (fn(ctx, &sm) != 0)
            break;
    }
    if (e == LS_OK)
        e = r_step_error(st, rc, "reading summaries", session);
    sqlite3_finalize(s);
    return e;
}

ls_err store_events_each(struct store *st, int64_t session, store_event_fn fn, void *ctx)
{
    sqlite3_stmt *s = NULL;
    ls_err e;
    int rc;

    if (st == NULL || fn == NULL)
        return LS_ERR_INVALID;
    e = r_need_session(st, session, "reading events");
    if (e == LS_OK)
        e = r_prepare(st,
                      "SELECT t_ns, kind, message FROM events WHERE session_id = ?1 "
                      "ORDER BY t_ns, rowid",
                      &s, "reading events");
    if (e != LS_OK)
        return e;
    sqlite3_bind_int64(s, 1, session);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (fn(ctx, r_u64(s, 0), r_text(s, 1), r_text(s, 2)) != 0)
            break;
    }
    e = r_step_error(st, rc, "reading events", session);
    sqlite3_finalize(s);
    return e;
}
