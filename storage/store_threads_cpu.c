/*
 * store_threads_cpu: the CPU profile's rows written and read back (see
 * store_threads.h): cpu_stacks once per stack, cpu_seconds and cpu_samples
 * once per closed second.
 */
#include "store_threads.h"
#include "store_threads_int.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

struct store_cpu {
    sqlite3 *db;
    int64_t session;
    sqlite3_stmt *ins_stack, *ins_second, *ins_row;
    char errmsg[STORE_MSG_CAP];
};

static const char SQL_STACK[] =
    "INSERT OR REPLACE INTO cpu_stacks(session_id, stack_key, pid, depth, kernel, leaf_function,"
    " leaf_file, leaf_line, blame_function, blame_file, blame_line, frames, folded)"
    " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)";
static const char SQL_SECOND[] =
    "INSERT OR REPLACE INTO cpu_seconds(session_id, second, samples, shallow, lost, period_ns)"
    " VALUES(?1,?2,?3,?4,?5,?6)";
static const char SQL_ROW[] =
    "INSERT OR REPLACE INTO cpu_samples(session_id, second, stack_key, samples) VALUES(?1,?2,?3,?4)";

ls_err store_cpu_open(struct store *st, int64_t session_id, struct store_cpu **out)
{
    *out = NULL;
    struct store_cpu *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return LS_ERR_NOMEM;
    w->session = session_id;
    ls_err e = store_threads_connect(st, &w->db, "CPU profile rows");
    if (e == LS_OK)
        e = store_db_prepare(w->db, SQL_STACK, &w->ins_stack, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_db_prepare(w->db, SQL_SECOND, &w->ins_second, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_db_prepare(w->db, SQL_ROW, &w->ins_row, st->errmsg, sizeof(st->errmsg));
    if (e != LS_OK) {
        store_cpu_close(w);
        return e;
    }
    *out = w;
    return LS_OK;
}

const char *store_cpu_errmsg(const struct store_cpu *w)
{
    return w->errmsg;
}

static ls_err step(struct store_cpu *w, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_DONE)
        return LS_OK;
    store_msg_set(w->errmsg, sizeof(w->errmsg), "%s: %s", what, sqlite3_errmsg(w->db));
    return LS_ERR_DB;
}

ls_err store_cpu_stack(struct store_cpu *w, const struct cpu_stack_info *s)
{
    sqlite3_stmt *q = w->ins_stack;
    sqlite3_bind_int64(q, 1, w->session);
    sqlite3_bind_int64(q, 2, s->key);
    sqlite3_bind_int64(q, 3, s->pid);
    sqlite3_bind_int64(q, 4, s->depth);
    sqlite3_bind_int(q, 5, s->kernel ? 1 : 0);
    store_bind_text(q, 6, s->leaf_function);
    store_bind_text(q, 7, s->leaf_file);
    sqlite3_bind_int64(q, 8, s->leaf_line);
    store_bind_text(q, 9, s->blame_function);
    store_bind_text(q, 10, s->blame_file);
    sqlite3_bind_int64(q, 11, s->blame_line);
    store_bind_text(q, 12, s->frames);
    store_bind_text(q, 13, s->folded);
    return step(w, q, "storing a CPU stack");
}

ls_err store_cpu_second(struct store_cpu *w, const struct cpu_second *s)
{
    ls_err e = store_db_exec(w->db, "BEGIN", "CPU profile rows", w->errmsg, sizeof(w->errmsg));
    if (e != LS_OK)
        return e;
    sqlite3_stmt *q = w->ins_second;
    sqlite3_bind_int64(q, 1, w->session);
    sqlite3_bind_int64(q, 2, s->second);
    sqlite3_bind_int64(q, 3, s->samples);
    sqlite3_bind_int64(q, 4, s->shallow);
    sqlite3_bind_int64(q, 5, s->lost);
    sqlite3_bind_int64(q, 6, (int64_t)s->period_ns);
    e = step(w, q, "storing a CPU second");
    for (size_t i = 0; i < s->nrows && e == LS_OK; i++) {
        q = w->ins_row;
        sqlite3_bind_int64(q, 1, w->session);
        sqlite3_bind_int64(q, 2, s->second);
        sqlite3_bind_int64(q, 3, s->rows[i].key);
        sqlite3_bind_int64(q, 4, s->rows[i].samples);
        e = step(w, q, "storing a CPU stack's second");
    }
    if (e == LS_OK)
        return store_db_exec(w->db, "COMMIT", "CPU profile rows", w->errmsg, sizeof(w->errmsg));
    (void)sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
    return e;
}

void store_cpu_close(struct store_cpu *w)
{
    if (w == NULL)
        return;
    sqlite3_finalize(w->ins_stack);
    sqlite3_finalize(w->ins_second);
    sqlite3_finalize(w->ins_row);
    sqlite3_close(w->db);
    free(w);
}

/* ---- reading -------------------------------------------------------------------------- */

static const char *text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

ls_err store_cpu_each_stack(struct store *st, int64_t session_id, store_cpu_stack_fn fn, void *ctx)
{
    static const char sql[] =
        "SELECT stack_key, pid, depth, kernel, leaf_function, leaf_file, leaf_line, blame_function,"
        " blame_file, blame_line, frames, folded FROM cpu_stacks WHERE session_id = ?1"
        " ORDER BY stack_key";
    sqlite3_stmt *s = NULL;
    ls_err e = store_threads_prepare(st, sql, session_id, &s);
    if (e != LS_OK)
        return e;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct cpu_stack_info k = {
            .key = (uint32_t)sqlite3_column_int64(s, 0), .pid = (int)sqlite3_column_int64(s, 1),
            .depth = (uint32_t)sqlite3_column_int64(s, 2), .kernel = sqlite3_column_int(s, 3) != 0,
            .leaf_function = text(s, 4), .leaf_file = text(s, 5),
            .leaf_line = (uint32_t)sqlite3_column_int64(s, 6), .blame_function = text(s, 7),
            .blame_file = text(s, 8), .blame_line = (uint32_t)sqlite3_column_int64(s, 9),
            .frames = text(s, 10), .folded = text(s, 11)};
        if (fn(ctx, &k) != 0)
            break;
    }
    return store_threads_done(st, s, rc, "reading the CPU stacks");
}

ls_err store_cpu_each_second(struct store *st, int64_t session_id, store_cpu_second_fn fn, void *ctx)
{
    static const char sql_sec[] =
        "SELECT second, samples, shallow, lost, period_ns FROM cpu_seconds WHERE session_id = ?1"
        " ORDER BY second";
    static const char sql_rows[] =
        "SELECT second, stack_key, samples FROM cpu_samples WHERE session_id = ?1"
        " ORDER BY second, stack_key";
    sqlite3_stmt *s = NULL, *r = NULL;
    ls_err e = store_threads_prepare(st, sql_sec, session_id, &s);
    if (e == LS_OK)
        e = store_threads_prepare(st, sql_rows, session_id, &r);
    if (e != LS_OK) {
        sqlite3_finalize(s);
        return e;
    }
    struct cpu_row *rows = NULL;
    size_t cap = 0;
    int rc, rr = sqlite3_step(r);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct cpu_second cs = {.second = (uint32_t)sqlite3_column_int64(s, 0),
                                .samples = (uint32_t)sqlite3_column_int64(s, 1),
                                .shallow = (uint32_t)sqlite3_column_int64(s, 2),
                                .lost = (uint32_t)sqlite3_column_int64(s, 3),
                                .period_ns = (uint64_t)sqlite3_column_int64(s, 4)};
        size_t n = 0;
        while (rr == SQLITE_ROW && (uint32_t)sqlite3_column_int64(r, 0) <= cs.second) {
            if ((uint32_t)sqlite3_column_int64(r, 0) == cs.second) {
                if (n == cap) {
                    size_t nc = cap ? cap * 2 : 64;
                    struct cpu_row *nr = realloc(rows, nc * sizeof(*nr));
                    if (nr == NULL) {
                        e = LS_ERR_NOMEM;
                        break;
                    }
                    rows = nr;
                    cap = nc;
                }
                rows[n++] = (struct cpu_row){(uint32_t)sqlite3_column_int64(r, 1),
                                             (uint32_t)sqlite3_column_int64(r, 2)};
            }
            rr = sqlite3_step(r);
        }
        cs.rows = rows;
        cs.nrows = n;
        if (e != LS_OK || fn(ctx, &cs) != 0)
            break;
    }
    free(rows);
    ls_err e2 = store_threads_done(st, r, rr, "reading the CPU samples");
    ls_err e3 = store_threads_done(st, s, rc, "reading the CPU seconds");
    return e != LS_OK ? e : e3 != LS_OK ? e3 : e2;
}

static int load_stack(void *ctx, const struct cpu_stack_info *s)
{
    return cpuprof_model_add_stack(ctx, s) != LS_OK;
}

static int load_second(void *ctx, const struct cpu_second *s)
{
    return cpuprof_model_add_second(ctx, s) != LS_OK;
}

static void load_requests(void *ctx, uint32_t second, uint64_t count)
{
    cpuprof_model_requests(ctx, second, count);
}

ls_err store_cpu_load(struct store *st, int64_t session_id, struct cpuprof_model *m)
{
    ls_err e = store_cpu_each_stack(st, session_id, load_stack, m);
    if (e == LS_OK)
        e = store_cpu_each_second(st, session_id, load_second, m);
    if (e == LS_OK)
        e = store_threads_requests(st, session_id, load_requests, m);
    return e;
}
