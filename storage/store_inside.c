/*
 * store_inside: the inside_seconds table (see store_inside.h): created by
 * the schema's version 6, written a second at a time with the allocation
 * rows, read back for replay and exports.
 */
#include "store_inside.h"
#include "store_inside_int.h"
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

/*
 * Version 6: one row per second per (kind, stack, worker or not, target).
 * kind is alloc_inside_kind_name's: connect, close, dns (per peer or name in
 * target), sleep, fsync, file_read, file_write, poll (blocking calls timed
 * on an async runtime's worker threads), lock_wait, park (futex waits told
 * apart by their stacks), thread_create. stack_key is alloc_stacks'.
 */
ls_err store_inside_migrate(sqlite3 *db, char *msg, size_t cap)
{
    return store_db_exec(
        db,
        "CREATE TABLE inside_seconds (  -- second: since the run's start, as intervals.second\n"
        "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
        "  second INTEGER NOT NULL,\n"
        "  kind TEXT NOT NULL,  -- connect close dns sleep fsync file_read file_write poll"
        " lock_wait park thread_create\n"
        "  stack_key INTEGER NOT NULL,  -- alloc_stacks.stack_key; 0: none (close)\n"
        "  worker INTEGER NOT NULL,  -- 1: on an async runtime's worker thread\n"
        "  target TEXT NOT NULL,  -- connect, close: the peer ip:port; dns: the name; else ''\n"
        "  pid INTEGER,\n"
        "  count INTEGER, failed INTEGER,  -- calls, and of those failed (connect, dns)\n"
        "  time_ns INTEGER,  -- wall time in those calls\n"
        "  requests INTEGER,  -- requests completed in the second (all steps)\n"
        "  PRIMARY KEY(session_id, second, kind, stack_key, worker, target, pid));\n",
        "creating the inside tables", msg, cap);
}

ls_err store_inside_prepare(sqlite3 *db, sqlite3_stmt **out, char *msg, size_t cap)
{
    return store_db_prepare(db,
                            "INSERT OR REPLACE INTO inside_seconds(session_id, second, kind,"
                            " stack_key, worker, target, pid, count, failed, time_ns, requests)"
                            " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
                            out, msg, cap);
}

ls_err store_inside_write(sqlite3 *db, sqlite3_stmt *q, int64_t session_id,
                          const struct alloc_interval *iv, char *msg, size_t cap)
{
    for (size_t i = 0; i < iv->ninside; i++) {
        const struct alloc_inside_row *r = &iv->inside[i];
        sqlite3_bind_int64(q, 1, session_id);
        sqlite3_bind_int64(q, 2, iv->second);
        sqlite3_bind_text(q, 3, alloc_inside_kind_name(r->kind), -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 4, r->key);
        sqlite3_bind_int(q, 5, r->worker ? 1 : 0);
        store_bind_text(q, 6, r->target ? r->target : "");
        sqlite3_bind_int64(q, 7, r->pid);
        sqlite3_bind_int64(q, 8, (int64_t)r->count);
        sqlite3_bind_int64(q, 9, (int64_t)r->failed);
        sqlite3_bind_int64(q, 10, (int64_t)r->time_ns);
        sqlite3_bind_int64(q, 11, (int64_t)iv->requests);
        int rc = sqlite3_step(q);
        sqlite3_reset(q);
        sqlite3_clear_bindings(q);
        if (rc != SQLITE_DONE) {
            store_msg_set(msg, cap, "storing an inside row: %s", sqlite3_errmsg(db));
            return LS_ERR_DB;
        }
    }
    return LS_OK;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

static const char *base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

ls_err store_inside_each(struct store *st, int64_t session_id, store_inside_fn fn, void *ctx)
{
    static const char sql[] =
        "SELECT i.second, i.kind, i.worker, i.stack_key, i.pid, i.target, i.count, i.failed,"
        " i.time_ns, i.requests, k.blame_function, k.blame_file, k.blame_line, k.frames"
        " FROM inside_seconds i LEFT JOIN alloc_stacks k"
        "   ON k.session_id = i.session_id AND k.stack_key = i.stack_key"
        " WHERE i.session_id = ?1"
        " ORDER BY i.second, i.kind, i.stack_key, i.worker, i.target, i.pid";
    sqlite3_stmt *s = NULL;
    ls_err e = store_db_prepare(st->db, sql, &s, st->errmsg, sizeof(st->errmsg));
    if (e != LS_OK)
        return e;
    sqlite3_bind_int64(s, 1, session_id);
    int rc;
    char blame[1024];
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_inside_row r = {
            .second = (uint32_t)sqlite3_column_int64(s, 0),
            .worker = sqlite3_column_int(s, 2) != 0,
            .stack_key = sqlite3_column_int64(s, 3),
            .pid = sqlite3_column_int64(s, 4),
            .target = col_text(s, 5),
            .count = (uint64_t)sqlite3_column_int64(s, 6),
            .failed = (uint64_t)sqlite3_column_int64(s, 7),
            .time_ns = (uint64_t)sqlite3_column_int64(s, 8),
            .requests = (uint64_t)sqlite3_column_int64(s, 9),
            .frames = col_text(s, 13),
            .blame = blame};
        if (!alloc_inside_kind_parse(col_text(s, 1), &r.kind))
            continue; /* a kind a newer loadscope wrote */
        /* as the live model has it: alloc_stack_text's "function (file:line)", file by its base name */
        const char *fn_name = col_text(s, 10), *file = col_text(s, 11);
        if (sqlite3_column_type(s, 10) == SQLITE_NULL)
            blame[0] = '\0';
        else if (file[0])
            snprintf(blame, sizeof(blame), "%s (%s:%lld)", fn_name, base(file),
                     (long long)sqlite3_column_int64(s, 12));
        else
            snprintf(blame, sizeof(blame), "%s", fn_name);
        if (fn(ctx, &r) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        st_err(st, "reading the inside rows of session %lld: %s", (long long)session_id,
               sqlite3_errmsg(st->db));
        e = LS_ERR_DB;
    }
    sqlite3_finalize(s);
    return e;
}

struct load_ctx {
    struct alloc_inside_model *m;
    ls_err e;
};

static int load_row(void *ctx, const struct store_inside_row *r)
{
    struct load_ctx *lc = ctx;
    struct alloc_inside_row row = {.kind = r->kind, .worker = r->worker, .key = (uint32_t)r->stack_key,
                                   .pid = (int)r->pid, .target = r->target, .count = r->count,
                                   .failed = r->failed, .time_ns = r->time_ns};
    lc->e = alloc_inside_model_add(lc->m, r->second, &row, r->stack_key ? r->blame : NULL,
                                   r->stack_key ? r->frames : NULL);
    return lc->e != LS_OK;
}

ls_err store_inside_load(struct store *st, int64_t session_id, struct alloc_inside_model *m)
{
    struct load_ctx lc = {.m = m, .e = LS_OK};
    ls_err e = store_inside_each(st, session_id, load_row, &lc);
    if (e != LS_OK || lc.e != LS_OK)
        return e != LS_OK ? e : lc.e;
    sqlite3_stmt *s = NULL;
    e = store_db_prepare(st->db,
                         "SELECT second, count FROM intervals WHERE session_id = ?1 AND step = -1"
                         " ORDER BY second",
                         &s, st->errmsg, sizeof(st->errmsg));
    if (e != LS_OK)
        return e;
    sqlite3_bind_int64(s, 1, session_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        alloc_inside_model_requests(m, (uint32_t)sqlite3_column_int64(s, 0),
                                    (uint64_t)sqlite3_column_int64(s, 1));
    if (rc != SQLITE_DONE) {
        st_err(st, "reading the requests of session %lld: %s", (long long)session_id,
               sqlite3_errmsg(st->db));
        e = LS_ERR_DB;
    }
    sqlite3_finalize(s);
    return e;
}
