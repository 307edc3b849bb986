/*
 * store_alloc_read: the allocation tables read back (see store_alloc_read.h).
 *
 * Like store_read.c, each reader prepares its statement on the caller's
 * connection, steps it and finalizes it, so nothing is kept on the handle.
 */
#include "store_alloc_read.h"
#include "store_int.h"

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

static const char *a_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t != NULL ? (const char *)t : "";
}

/* Prepares sql with the session bound to ?1. */
static ls_err a_prepare(struct store *st, const char *sql, int64_t session_id, sqlite3_stmt **out,
                        const char *what)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, out, NULL) != SQLITE_OK) {
        st_err(st, "%s: preparing the query: %s", what, sqlite3_errmsg(st->db));
        sqlite3_finalize(*out);
        *out = NULL;
        return LS_ERR_DB;
    }
    sqlite3_bind_int64(*out, 1, session_id);
    return LS_OK;
}

static ls_err a_done(struct store *st, sqlite3_stmt *s, int rc, const char *what, int64_t session_id)
{
    ls_err e = LS_OK;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        st_err(st, "%s of session %lld: %s", what, (long long)session_id, sqlite3_errmsg(st->db));
        e = LS_ERR_DB;
    }
    sqlite3_finalize(s);
    return e;
}

ls_err store_alloc_info(struct store *st, int64_t session_id, struct store_alloc_info *out)
{
    static const char sql[] =
        "SELECT (SELECT count(*) FROM sessions WHERE id = ?1),"
        " (SELECT count(*) FROM alloc_stacks WHERE session_id = ?1),"
        " coalesce((SELECT max(second) + 1 FROM intervals WHERE session_id = ?1 AND step = -1),"
        "  max(coalesce((SELECT max(second) + 1 FROM alloc_intervals WHERE session_id = ?1), 0),"
        "      coalesce((SELECT max(second) + 1 FROM alloc_process WHERE session_id = ?1), 0))),"
        " (SELECT coalesce(sum(count), 0) FROM intervals WHERE session_id = ?1 AND step = -1),"
        " (SELECT count(*) FROM alloc_summary WHERE session_id = ?1),"
        " (SELECT mode FROM alloc_summary WHERE session_id = ?1 ORDER BY pid LIMIT 1)";
    sqlite3_stmt *s = NULL;
    memset(out, 0, sizeof(*out));
    ls_err e = a_prepare(st, sql, session_id, &s, "reading the allocation profile");
    if (e != LS_OK)
        return e;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_int64(s, 0) == 0) {
            st_err(st, "no session %lld in this database", (long long)session_id);
            sqlite3_finalize(s);
            return LS_ERR_NOTFOUND;
        }
        out->stacks = (uint64_t)sqlite3_column_int64(s, 1);
        out->seconds = (uint64_t)sqlite3_column_int64(s, 2);
        out->requests = (uint64_t)sqlite3_column_int64(s, 3);
        out->processes = (uint64_t)sqlite3_column_int64(s, 4);
        snprintf(out->mode, sizeof(out->mode), "%s", a_text(s, 5));
    }
    return a_done(st, s, rc, "reading the allocation profile", session_id);
}

ls_err store_alloc_stacks_each(struct store *st, int64_t session_id, store_alloc_stack_fn fn,
                               void *ctx)
{
    static const char sql[] =
        "SELECT stack_key, pid, blame_function, blame_file, blame_line, label, frames, folded"
        " FROM alloc_stacks WHERE session_id = ?1 ORDER BY stack_key";
    sqlite3_stmt *s = NULL;
    ls_err e = a_prepare(st, sql, session_id, &s, "reading the stacks");
    if (e != LS_OK)
        return e;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_alloc_stack_row r = {
            .stack_key = sqlite3_column_int64(s, 0), .pid = sqlite3_column_int64(s, 1),
            .blame_function = a_text(s, 2), .blame_file = a_text(s, 3),
            .blame_line = sqlite3_column_int64(s, 4), .label = a_text(s, 5),
            .frames = a_text(s, 6), .folded = a_text(s, 7)};
        if (fn(ctx, &r) != 0)
            break;
    }
    return a_done(st, s, rc, "reading the stacks", session_id);
}

ls_err store_alloc_seconds_each(struct store *st, int64_t session_id, store_alloc_second_fn fn,
                                void *ctx)
{
    static const char sql[] =
        "SELECT second, stack_key, allocs, bytes, reallocs, frees, freed_bytes, short_lived,"
        " live_bytes, requests FROM alloc_intervals WHERE session_id = ?1"
        " ORDER BY second, stack_key";
    sqlite3_stmt *s = NULL;
    ls_err e = a_prepare(st, sql, session_id, &s, "reading the allocation seconds");
    if (e != LS_OK)
        return e;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_alloc_second r = {
            .second = (uint32_t)sqlite3_column_int64(s, 0),
            .stack_key = sqlite3_column_int64(s, 1),
            .allocs = (uint64_t)sqlite3_column_int64(s, 2),
            .bytes = (uint64_t)sqlite3_column_int64(s, 3),
            .reallocs = (uint64_t)sqlite3_column_int64(s, 4),
            .frees = (uint64_t)sqlite3_column_int64(s, 5),
            .freed_bytes = (uint64_t)sqlite3_column_int64(s, 6),
            .short_lived = (uint64_t)sqlite3_column_int64(s, 7),
            .live_bytes = sqlite3_column_int64(s, 8),
            .requests = (uint64_t)sqlite3_column_int64(s, 9)};
        if (fn(ctx, &r) != 0)
            break;
    }
    return a_done(st, s, rc, "reading the allocation seconds", session_id);
}

ls_err store_alloc_procs_each(struct store *st, int64_t session_id, store_alloc_proc_fn fn,
                              void *ctx)
{
    static const char sql[] =
        "SELECT second, pid, rss_bytes, cpu_pct, threads, thread_names FROM alloc_process"
        " WHERE session_id = ?1 ORDER BY second, pid";
    sqlite3_stmt *s = NULL;
    ls_err e = a_prepare(st, sql, session_id, &s, "reading the traced processes");
    if (e != LS_OK)
        return e;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_alloc_proc p = {
            .second = (uint32_t)sqlite3_column_int64(s, 0), .pid = sqlite3_column_int64(s, 1),
            .rss_bytes = (uint64_t)sqlite3_column_int64(s, 2),
            .cpu_pct = sqlite3_column_double(s, 3),
            .threads = (uint64_t)sqlite3_column_int64(s, 4), .thread_names = a_text(s, 5)};
        if (fn(ctx, &p) != 0)
            break;
    }
    return a_done(st, s, rc, "reading the traced processes", session_id);
}
