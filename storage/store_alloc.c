/*
 * store_alloc: writing and reading the allocation tables (see store_alloc.h).
 */
#include "store_alloc.h"
#include "store_inside_int.h"
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

struct store_alloc {
    sqlite3 *db;
    int64_t session;
    sqlite3_stmt *ins_stack, *ins_row, *ins_proc, *ins_sum;
    sqlite3_stmt *ins_inside;   /* store_inside.c's rows, in the same transaction */
    char errmsg[STORE_MSG_CAP];
};

static const char SQL_STACK[] =
    "INSERT OR REPLACE INTO alloc_stacks(session_id, stack_key, pid, blame_function, blame_file,"
    " blame_line, label, frames, folded) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)";
static const char SQL_ROW[] =
    "INSERT OR REPLACE INTO alloc_intervals(session_id, second, stack_key, allocs, bytes, reallocs,"
    " frees, freed_bytes, short_lived, live_bytes, requests) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)";
static const char SQL_PROC[] =
    "INSERT OR REPLACE INTO alloc_process(session_id, second, pid, rss_bytes, cpu_pct, threads,"
    " thread_names, allocs, frees, bytes_allocated, dropped) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)";
static const char SQL_SUM[] =
    "INSERT OR REPLACE INTO alloc_summary(session_id, pid, ppid, mode, unwind, allocs, frees,"
    " reallocs, bytes_allocated, bytes_freed, untracked_frees, dropped, stacks, threads, complete,"
    " warning, peak_rss) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)";

ls_err store_alloc_open(struct store *st, int64_t session_id, struct store_alloc **out)
{
    ls_err e = LS_ERR_DB;
    struct store_alloc *w = calloc(1, sizeof(*w));
    *out = NULL;
    if (w == NULL)
        return LS_ERR_NOMEM;
    w->session = session_id;
    const char *path = sqlite3_db_filename(st->db, "main");
    if (path == NULL || sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        st_err(st, "opening %s for allocation rows: %s", path ? path : "(memory)",
               w->db ? sqlite3_errmsg(w->db) : "no memory");
        goto fail;
    }
    e = store_db_configure(w->db, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_db_prepare(w->db, SQL_STACK, &w->ins_stack, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_db_prepare(w->db, SQL_ROW, &w->ins_row, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_db_prepare(w->db, SQL_PROC, &w->ins_proc, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_db_prepare(w->db, SQL_SUM, &w->ins_sum, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_inside_prepare(w->db, &w->ins_inside, st->errmsg, sizeof(st->errmsg));
    if (e != LS_OK)
        goto fail;
    *out = w;
    return LS_OK;
fail:
    store_alloc_close(w);
    return e;
}

const char *store_alloc_errmsg(const struct store_alloc *w)
{
    return w->errmsg;
}

static ls_err step(struct store_alloc *w, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_DONE)
        return LS_OK;
    store_msg_set(w->errmsg, sizeof(w->errmsg), "%s: %s", what, sqlite3_errmsg(w->db));
    return LS_ERR_DB;
}

ls_err store_alloc_stack(struct store_alloc *w, const struct alloc_stack_info *s)
{
    sqlite3_stmt *q = w->ins_stack;
    sqlite3_bind_int64(q, 1, w->session);
    sqlite3_bind_int64(q, 2, s->key);
    sqlite3_bind_int64(q, 3, s->pid);
    store_bind_text(q, 4, s->blame_function);
    store_bind_text(q, 5, s->blame_file);
    sqlite3_bind_int64(q, 6, s->blame_line);
    store_bind_text(q, 7, s->label);
    store_bind_text(q, 8, s->stack);
    store_bind_text(q, 9, s->folded);
    return step(w, q, "storing a stack");
}

ls_err store_alloc_interval(struct store_alloc *w, const struct alloc_interval *iv)
{
    ls_err e = store_db_exec(w->db, "BEGIN", "allocation rows", w->errmsg, sizeof(w->errmsg));
    if (e != LS_OK)
        return e;
    for (size_t i = 0; i < iv->nrows && e == LS_OK; i++) {
        const struct alloc_row *r = &iv->rows[i];
        sqlite3_stmt *q = w->ins_row;
        sqlite3_bind_int64(q, 1, w->session);
        sqlite3_bind_int64(q, 2, iv->second);
        sqlite3_bind_int64(q, 3, r->key);
        sqlite3_bind_int64(q, 4, (int64_t)r->allocs);
        sqlite3_bind_int64(q, 5, (int64_t)r->bytes);
        sqlite3_bind_int64(q, 6, (int64_t)r->reallocs);
        sqlite3_bind_int64(q, 7, (int64_t)r->frees);
        sqlite3_bind_int64(q, 8, (int64_t)r->freed_bytes);
        sqlite3_bind_int64(q, 9, (int64_t)r->short_lived);
        sqlite3_bind_int64(q, 10, r->live_bytes);
        sqlite3_bind_int64(q, 11, (int64_t)iv->requests);
        e = step(w, q, "storing an allocation row");
    }
    for (size_t i = 0; i < iv->nprocs && e == LS_OK; i++) {
        const struct alloc_procstat *p = &iv->procs[i];
        sqlite3_stmt *q = w->ins_proc;
        sqlite3_bind_int64(q, 1, w->session);
        sqlite3_bind_int64(q, 2, iv->second);
        sqlite3_bind_int64(q, 3, p->pid);
        sqlite3_bind_int64(q, 4, (int64_t)p->rss_bytes);
        sqlite3_bind_double(q, 5, p->cpu_pct);
        sqlite3_bind_int64(q, 6, p->threads);
        store_bind_text(q, 7, p->thread_names);
        sqlite3_bind_int64(q, 8, (int64_t)p->allocs);
        sqlite3_bind_int64(q, 9, (int64_t)p->frees);
        sqlite3_bind_int64(q, 10, (int64_t)p->bytes_allocated);
        sqlite3_bind_int64(q, 11, (int64_t)p->dropped);
        e = step(w, q, "storing process figures");
    }
    if (e == LS_OK)
        e = store_inside_write(w->db, w->ins_inside, w->session, iv, w->errmsg, sizeof(w->errmsg));
    if (e == LS_OK)
        return store_db_exec(w->db, "COMMIT", "allocation rows", w->errmsg, sizeof(w->errmsg));
    (void)sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
    return e;
}

ls_err store_alloc_summary(struct store_alloc *w, const struct alloc_proc_summary *s,
                           const char *warning)
{
    sqlite3_stmt *q = w->ins_sum;
    sqlite3_bind_int64(q, 1, w->session);
    sqlite3_bind_int64(q, 2, s->pid);
    sqlite3_bind_int64(q, 3, s->ppid);
    store_bind_text(q, 4, s->mode);
    store_bind_text(q, 5, s->unwind);
    sqlite3_bind_int64(q, 6, (int64_t)s->allocs);
    sqlite3_bind_int64(q, 7, (int64_t)s->frees);
    sqlite3_bind_int64(q, 8, (int64_t)s->reallocs);
    sqlite3_bind_int64(q, 9, (int64_t)s->bytes_allocated);
    sqlite3_bind_int64(q, 10, (int64_t)s->bytes_freed);
    sqlite3_bind_int64(q, 11, (int64_t)s->untracked_frees);
    sqlite3_bind_int64(q, 12, (int64_t)s->dropped);
    sqlite3_bind_int64(q, 13, (int64_t)s->stacks);
    sqlite3_bind_int64(q, 14, (int64_t)s->threads);
    sqlite3_bind_int(q, 15, s->said_bye ? 1 : 0);
    store_bind_text(q, 16, warning && warning[0] ? warning : NULL);
    if (s->peak_rss > 0)
        sqlite3_bind_int64(q, 17, (int64_t)s->peak_rss);
    else
        sqlite3_bind_null(q, 17);
    return step(w, q, "storing an allocation summary");
}

void store_alloc_close(struct store_alloc *w)
{
    if (w == NULL)
        return;
    sqlite3_finalize(w->ins_stack);
    sqlite3_finalize(w->ins_row);
    sqlite3_finalize(w->ins_proc);
    sqlite3_finalize(w->ins_sum);
    sqlite3_finalize(w->ins_inside);
    sqlite3_close(w->db);
    free(w);
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

ls_err store_alloc_hotpaths(struct store *st, int64_t session_id, int by_bytes, size_t limit,
                            store_hotpath_fn fn, void *ctx)
{
    char sql[1400];
    sqlite3_stmt *s = NULL;
    snprintf(sql, sizeof(sql),
             "SELECT k.stack_key, k.pid, k.blame_function, k.blame_file, k.blame_line, k.label,"
             " k.frames, k.folded, sum(i.allocs), sum(i.bytes), sum(i.reallocs), sum(i.frees),"
             " sum(i.freed_bytes), sum(i.short_lived),"
             " (SELECT live_bytes FROM alloc_intervals l WHERE l.session_id = k.session_id"
             "   AND l.stack_key = k.stack_key ORDER BY l.second DESC LIMIT 1),"
             " count(i.second),"
             " (SELECT coalesce(sum(count), 0) FROM intervals r WHERE r.session_id = k.session_id"
             "   AND r.step = -1)"
             " FROM alloc_stacks k JOIN alloc_intervals i"
             "   ON i.session_id = k.session_id AND i.stack_key = k.stack_key"
             " WHERE k.session_id = ?1 GROUP BY k.stack_key"
             " ORDER BY %s DESC, k.stack_key LIMIT ?2",
             by_bytes ? "sum(i.bytes)" : "sum(i.allocs)");
    ls_err e = store_db_prepare(st->db, sql, &s, st->errmsg, sizeof(st->errmsg));
    if (e != LS_OK)
        return e;
    sqlite3_bind_int64(s, 1, session_id);
    sqlite3_bind_int64(s, 2, limit ? (int64_t)limit : -1);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_hotpath h = {
            .stack_key = sqlite3_column_int64(s, 0), .pid = sqlite3_column_int64(s, 1),
            .blame_function = col_text(s, 2), .blame_file = col_text(s, 3),
            .blame_line = sqlite3_column_int64(s, 4), .label = col_text(s, 5),
            .frames = col_text(s, 6), .folded = col_text(s, 7),
            .allocs = (uint64_t)sqlite3_column_int64(s, 8),
            .bytes = (uint64_t)sqlite3_column_int64(s, 9),
            .reallocs = (uint64_t)sqlite3_column_int64(s, 10),
            .frees = (uint64_t)sqlite3_column_int64(s, 11),
            .freed_bytes = (uint64_t)sqlite3_column_int64(s, 12),
            .short_lived = (uint64_t)sqlite3_column_int64(s, 13),
            .live_bytes = sqlite3_column_int64(s, 14),
            .seconds = (uint64_t)sqlite3_column_int64(s, 15),
            .requests = (uint64_t)sqlite3_column_int64(s, 16)};
        if (fn(ctx, &h) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        st_err(st, "reading hot paths: %s", sqlite3_errmsg(st->db));
        e = LS_ERR_DB;
    }
    sqlite3_finalize(s);
    return e;
}
