/*
 * store_list: sessions with their headline figures (contract in store_list.h).
 *
 * One statement: the session row, the number of stored samples (through
 * the (session_id, step) index, as store_list_sessions counts them), the
 * all-steps summary by its primary key, and sums over the measured
 * all-steps intervals (correlated, so each reads its session's range of the
 * (session_id, second, step) key rather than every session's intervals).
 */
#include "store_list.h"
#include "store_int.h"

#include <string.h>

#include <sqlite3.h>

static const char *text_or_empty(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);

    return t != NULL ? (const char *)t : "";
}

ls_err store_sessions_stats_each(struct store *st, store_session_stats_fn fn, void *ctx)
{
    static const char sql[] =
        "SELECT s.id, s.name, s.target, s.started_unix_ns, s.ended_unix_ns, s.exit_code, "
        "s.status_text, (SELECT count(*) FROM samples m WHERE m.session_id = s.id), "
        "sm.step IS NOT NULL, sm.count, sm.errors, sm.rate, sm.p99_us, "
        "(SELECT count(*) FROM intervals i WHERE i.session_id = s.id AND i.step = -1 "
        " AND i.warmup = 0), "
        "(SELECT sum(count) FROM intervals i WHERE i.session_id = s.id AND i.step = -1 "
        " AND i.warmup = 0), "
        "(SELECT sum(errors) FROM intervals i WHERE i.session_id = s.id AND i.step = -1 "
        " AND i.warmup = 0), "
        "s.host, s.owner_pid, s.owner_start "
        "FROM sessions s "
        "LEFT JOIN summaries sm ON sm.session_id = s.id AND sm.step = -1 "
        "ORDER BY s.started_unix_ns DESC, s.id DESC";
    sqlite3_stmt *s = NULL;
    ls_err e = LS_OK;
    int rc;

    if (st == NULL || fn == NULL)
        return LS_ERR_INVALID;
    e = store_db_prepare(st->db, sql, &s, st->errmsg, sizeof(st->errmsg));
    if (e != LS_OK)
        return e;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_session_stats x;

        memset(&x, 0, sizeof(x));
        x.row.id = sqlite3_column_int64(s, 0);
        x.row.name = text_or_empty(s, 1);
        x.row.target = text_or_empty(s, 2);
        x.row.started_unix_ns = sqlite3_column_int64(s, 3);
        x.row.ended_unix_ns = sqlite3_column_int64(s, 4); /* NULL reads as 0 */
        x.row.exit_code = sqlite3_column_int(s, 5);
        x.row.status_text = text_or_empty(s, 6);
        x.row.samples = sqlite3_column_int64(s, 7);
        x.has_summary = sqlite3_column_int(s, 8) != 0;
        /* unsigned columns were stored by two's-complement cast (store.c) */
        x.sum_count = (uint64_t)sqlite3_column_int64(s, 9);
        x.sum_errors = (uint64_t)sqlite3_column_int64(s, 10);
        x.sum_rate = sqlite3_column_double(s, 11);
        x.sum_p99_us = sqlite3_column_int64(s, 12);
        x.iv_seconds = (uint64_t)sqlite3_column_int64(s, 13);
        x.iv_count = (uint64_t)sqlite3_column_int64(s, 14);
        x.iv_errors = (uint64_t)sqlite3_column_int64(s, 15);
        /* Unfinished, its process gone: said as the next open for writing will close it
         * (store_list_sessions says the same). */
        if (sqlite3_column_type(s, 4) == SQLITE_NULL &&
            store_owner_gone(text_or_empty(s, 16), sqlite3_column_int64(s, 17),
                             sqlite3_column_int64(s, 18)))
            x.row.status_text = store_orphan_has_results(st->db, x.row.id) ? "interrupted" : "failed";
        if (fn(ctx, &x) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_msg_set(st->errmsg, sizeof(st->errmsg), "listing sessions: %s",
                      sqlite3_errmsg(st->db));
        e = LS_ERR_DB;
    }
    sqlite3_finalize(s);
    return e;
}
