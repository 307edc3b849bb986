/*
 * store_threads: the inside-the-target tables' schema, the thread sampler's
 * rows written and read back (see store_threads.h). The CPU profile's rows
 * are in store_threads_cpu.c.
 */
#include "store_threads.h"
#include "store_threads_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "target/procstat.h"

ls_err store_threads_migrate(sqlite3 *db, char *msg, size_t cap)
{
    return store_db_exec(
        db,
        "CREATE TABLE thread_seconds (  -- core/target/threads.h; described in store_threads.h\n"
        "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
        "  second INTEGER NOT NULL, pid INTEGER NOT NULL,\n"
        "  name TEXT NOT NULL,  -- the thread group: trailing digits folded\n"
        "  threads INTEGER, created INTEGER, cpu_pct REAL,\n"
        "  running REAL, runnable REAL, blocked REAL,  -- shares of the group's thread time\n"
        "  samples INTEGER, state_r INTEGER, state_s INTEGER, state_d INTEGER, state_other INTEGER,\n"
        "  passes INTEGER,\n"
        "  flags INTEGER,  -- 1: running/runnable from schedstat; 2: system calls readable\n"
        "  PRIMARY KEY(session_id, second, pid, name));\n"
        "CREATE TABLE thread_syscalls (  -- blocked observations by system call\n"
        "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
        "  second INTEGER NOT NULL, pid INTEGER NOT NULL, name TEXT NOT NULL,\n"
        "  syscall INTEGER NOT NULL,  -- this machine's number; -1: blocked outside a call\n"
        "  syscall_name TEXT, samples INTEGER,\n"
        "  PRIMARY KEY(session_id, second, pid, name, syscall));\n"
        "CREATE TABLE cpu_stacks (  -- core/target/cpuprof.h\n"
        "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
        "  stack_key INTEGER NOT NULL, pid INTEGER, depth INTEGER,\n"
        "  kernel INTEGER,  -- 1: sampled in the kernel, the user stack at entry\n"
        "  leaf_function TEXT, leaf_file TEXT, leaf_line INTEGER,\n"
        "  blame_function TEXT, blame_file TEXT, blame_line INTEGER,\n"
        "  frames TEXT,  -- one frame per line, innermost first\n"
        "  folded TEXT,  -- root;...;leaf, for flame graphs\n"
        "  PRIMARY KEY(session_id, stack_key));\n"
        "CREATE TABLE cpu_samples (\n"
        "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
        "  second INTEGER NOT NULL, stack_key INTEGER NOT NULL, samples INTEGER,\n"
        "  PRIMARY KEY(session_id, second, stack_key));\n"
        "CREATE TABLE cpu_seconds (\n"
        "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
        "  second INTEGER NOT NULL, samples INTEGER,\n"
        "  shallow INTEGER,  -- samples of stacks 2 frames deep or less (no frame pointers?)\n"
        "  lost INTEGER, period_ns INTEGER,  -- CPU time one sample stands for\n"
        "  PRIMARY KEY(session_id, second));\n",
        "creating the thread and CPU profile tables", msg, cap);
}

/* ---- writing ------------------------------------------------------------------------ */

struct store_threads {
    sqlite3 *db;
    int64_t session;
    sqlite3_stmt *ins_group, *ins_sys;
    char errmsg[STORE_MSG_CAP];
};

static const char SQL_GROUP[] =
    "INSERT OR REPLACE INTO thread_seconds(session_id, second, pid, name, threads, created, cpu_pct,"
    " running, runnable, blocked, samples, state_r, state_s, state_d, state_other, passes, flags)"
    " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)";
static const char SQL_SYS[] =
    "INSERT OR REPLACE INTO thread_syscalls(session_id, second, pid, name, syscall, syscall_name,"
    " samples) VALUES(?1,?2,?3,?4,?5,?6,?7)";

ls_err store_threads_connect(struct store *st, sqlite3 **db, const char *what)
{
    const char *path = sqlite3_db_filename(st->db, "main");
    if (path == NULL || path[0] == '\0' ||
        sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        st_err(st, "opening %s for %s: %s", path && path[0] ? path : "(memory)", what,
               *db ? sqlite3_errmsg(*db) : "no memory");
        return LS_ERR_DB;
    }
    return store_db_configure(*db, st->errmsg, sizeof(st->errmsg));
}

ls_err store_threads_open(struct store *st, int64_t session_id, struct store_threads **out)
{
    *out = NULL;
    struct store_threads *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return LS_ERR_NOMEM;
    w->session = session_id;
    ls_err e = store_threads_connect(st, &w->db, "thread rows");
    if (e == LS_OK)
        e = store_db_prepare(w->db, SQL_GROUP, &w->ins_group, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_db_prepare(w->db, SQL_SYS, &w->ins_sys, st->errmsg, sizeof(st->errmsg));
    if (e != LS_OK) {
        store_threads_close(w);
        return e;
    }
    *out = w;
    return LS_OK;
}

const char *store_threads_errmsg(const struct store_threads *w)
{
    return w->errmsg;
}

static ls_err step(sqlite3 *db, sqlite3_stmt *s, const char *what, char *msg, size_t cap)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_DONE)
        return LS_OK;
    store_msg_set(msg, cap, "%s: %s", what, sqlite3_errmsg(db));
    return LS_ERR_DB;
}

ls_err store_threads_second(struct store_threads *w, const struct threads_second *s)
{
    ls_err e = store_db_exec(w->db, "BEGIN", "thread rows", w->errmsg, sizeof(w->errmsg));
    if (e != LS_OK)
        return e;
    int flags = (s->have_sched ? 1 : 0) | (s->have_syscall ? 2 : 0);
    for (size_t i = 0; i < s->ngroups && e == LS_OK; i++) {
        const struct threads_group_second *g = &s->groups[i];
        sqlite3_stmt *q = w->ins_group;
        sqlite3_bind_int64(q, 1, w->session);
        sqlite3_bind_int64(q, 2, s->second);
        sqlite3_bind_int64(q, 3, g->pid);
        store_bind_text(q, 4, g->name);
        sqlite3_bind_int64(q, 5, g->threads);
        sqlite3_bind_int64(q, 6, g->created);
        sqlite3_bind_double(q, 7, g->cpu_pct);
        sqlite3_bind_double(q, 8, g->running);
        sqlite3_bind_double(q, 9, g->runnable);
        sqlite3_bind_double(q, 10, g->blocked);
        sqlite3_bind_int64(q, 11, g->samples);
        sqlite3_bind_int64(q, 12, g->state_r);
        sqlite3_bind_int64(q, 13, g->state_s);
        sqlite3_bind_int64(q, 14, g->state_d);
        sqlite3_bind_int64(q, 15, g->state_other);
        sqlite3_bind_int64(q, 16, s->passes);
        sqlite3_bind_int(q, 17, flags);
        e = step(w->db, q, "storing a thread group's second", w->errmsg, sizeof(w->errmsg));
        for (uint32_t k = 0; k < g->nsys && k < THREADS_TOP_SYSCALLS && e == LS_OK; k++) {
            char name[32];
            q = w->ins_sys;
            sqlite3_bind_int64(q, 1, w->session);
            sqlite3_bind_int64(q, 2, s->second);
            sqlite3_bind_int64(q, 3, g->pid);
            store_bind_text(q, 4, g->name);
            sqlite3_bind_int64(q, 5, g->sys[k].nr);
            store_bind_text(q, 6, procstat_syscall_text(g->sys[k].nr, name, sizeof(name)));
            sqlite3_bind_int64(q, 7, g->sys[k].samples);
            e = step(w->db, q, "storing a thread group's system calls", w->errmsg, sizeof(w->errmsg));
        }
    }
    if (e == LS_OK)
        return store_db_exec(w->db, "COMMIT", "thread rows", w->errmsg, sizeof(w->errmsg));
    (void)sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
    return e;
}

void store_threads_close(struct store_threads *w)
{
    if (w == NULL)
        return;
    sqlite3_finalize(w->ins_group);
    sqlite3_finalize(w->ins_sys);
    sqlite3_close(w->db);
    free(w);
}

/* ---- reading -------------------------------------------------------------------------- */

ls_err store_threads_prepare(struct store *st, const char *sql, int64_t session_id, sqlite3_stmt **out)
{
    ls_err e = store_db_prepare(st->db, sql, out, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        sqlite3_bind_int64(*out, 1, session_id);
    return e;
}

ls_err store_threads_done(struct store *st, sqlite3_stmt *s, int rc, const char *what)
{
    ls_err e = LS_OK;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        st_err(st, "%s: %s", what, sqlite3_errmsg(st->db));
        e = LS_ERR_DB;
    }
    sqlite3_finalize(s);
    return e;
}

/* One second's groups, gathered before the callback. */
struct gather {
    struct threads_group_second *g;
    size_t n, cap;
    struct threads_second sec;
};

static bool gather_add(struct gather *ga, const struct threads_group_second *g)
{
    if (ga->n == ga->cap) {
        size_t nc = ga->cap ? ga->cap * 2 : 16;
        struct threads_group_second *n = realloc(ga->g, nc * sizeof(*n));
        if (n == NULL)
            return false;
        ga->g = n;
        ga->cap = nc;
    }
    ga->g[ga->n++] = *g;
    return true;
}

/* Attaches the syscall rows of second sec (the cursor's rows from where it stands) to ga's groups. */
static int attach_syscalls(sqlite3_stmt *q, int rc, uint32_t sec, struct gather *ga)
{
    while (rc == SQLITE_ROW && (uint32_t)sqlite3_column_int64(q, 0) <= sec) {
        if ((uint32_t)sqlite3_column_int64(q, 0) == sec) {
            int pid = (int)sqlite3_column_int64(q, 1);
            const unsigned char *name = sqlite3_column_text(q, 2);
            for (size_t i = 0; i < ga->n && name; i++) {
                struct threads_group_second *g = &ga->g[i];
                if (g->pid != pid || strcmp(g->name, (const char *)name) != 0)
                    continue;
                if (g->nsys < THREADS_TOP_SYSCALLS)
                    g->sys[g->nsys++] = (struct threads_syscall){(int)sqlite3_column_int64(q, 3),
                                                                 (uint32_t)sqlite3_column_int64(q, 4)};
                break;
            }
        }
        rc = sqlite3_step(q);
    }
    return rc;
}

ls_err store_threads_each_second(struct store *st, int64_t session_id, store_threads_second_fn fn,
                                 void *ctx)
{
    static const char sql_g[] =
        "SELECT second, pid, name, threads, created, cpu_pct, running, runnable, blocked, samples,"
        " state_r, state_s, state_d, state_other, passes, flags FROM thread_seconds"
        " WHERE session_id = ?1 ORDER BY second, pid, name";
    static const char sql_s[] =
        "SELECT second, pid, name, syscall, samples FROM thread_syscalls WHERE session_id = ?1"
        " ORDER BY second, pid, name, samples DESC, syscall";
    sqlite3_stmt *g = NULL, *q = NULL;
    struct gather ga = {0};
    ls_err e = store_threads_prepare(st, sql_g, session_id, &g);
    if (e == LS_OK)
        e = store_threads_prepare(st, sql_s, session_id, &q);
    if (e != LS_OK) {
        sqlite3_finalize(g);
        return e;
    }
    int rc = sqlite3_step(g), rq = sqlite3_step(q);
    bool stop = false;
    while (rc == SQLITE_ROW && !stop) {
        uint32_t sec = (uint32_t)sqlite3_column_int64(g, 0);
        int flags = sqlite3_column_int(g, 15);
        ga.n = 0;
        ga.sec = (struct threads_second){.second = sec, .passes = (uint32_t)sqlite3_column_int64(g, 14),
                                         .have_sched = (flags & 1) != 0, .have_syscall = (flags & 2) != 0};
        while (rc == SQLITE_ROW && (uint32_t)sqlite3_column_int64(g, 0) == sec) {
            struct threads_group_second r = {
                .pid = (int)sqlite3_column_int64(g, 1),
                .threads = (uint32_t)sqlite3_column_int64(g, 3),
                .created = (uint32_t)sqlite3_column_int64(g, 4),
                .cpu_pct = sqlite3_column_double(g, 5),
                .running = sqlite3_column_double(g, 6),
                .runnable = sqlite3_column_double(g, 7),
                .blocked = sqlite3_column_double(g, 8),
                .samples = (uint32_t)sqlite3_column_int64(g, 9),
                .state_r = (uint32_t)sqlite3_column_int64(g, 10),
                .state_s = (uint32_t)sqlite3_column_int64(g, 11),
                .state_d = (uint32_t)sqlite3_column_int64(g, 12),
                .state_other = (uint32_t)sqlite3_column_int64(g, 13)};
            const unsigned char *name = sqlite3_column_text(g, 2);
            snprintf(r.name, sizeof(r.name), "%s", name ? (const char *)name : "");
            if (!gather_add(&ga, &r)) {
                e = LS_ERR_NOMEM;
                stop = true;
                break;
            }
            rc = sqlite3_step(g);
        }
        if (stop)
            break;
        rq = attach_syscalls(q, rq, sec, &ga);
        ga.sec.groups = ga.g;
        ga.sec.ngroups = ga.n;
        stop = fn(ctx, &ga.sec) != 0;
    }
    free(ga.g);
    ls_err e2 = store_threads_done(st, q, rq, "reading the thread groups' system calls");
    ls_err e3 = store_threads_done(st, g, rc, "reading the thread groups");
    return e != LS_OK ? e : e3 != LS_OK ? e3 : e2;
}

ls_err store_threads_requests(struct store *st, int64_t session_id,
                             void (*fn)(void *ctx, uint32_t second, uint64_t count), void *ctx)
{
    static const char sql[] =
        "SELECT second, count FROM intervals WHERE session_id = ?1 AND step = -1 ORDER BY second";
    sqlite3_stmt *s = NULL;
    ls_err e = store_threads_prepare(st, sql, session_id, &s);
    if (e != LS_OK)
        return e;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        fn(ctx, (uint32_t)sqlite3_column_int64(s, 0), (uint64_t)sqlite3_column_int64(s, 1));
    return store_threads_done(st, s, rc, "reading the requests per second");
}

static int load_second(void *ctx, const struct threads_second *s)
{
    return threads_model_add(ctx, s) != LS_OK;
}

static void load_requests(void *ctx, uint32_t second, uint64_t count)
{
    threads_model_requests(ctx, second, count);
}

ls_err store_threads_load(struct store *st, int64_t session_id, struct threads_model *m)
{
    ls_err e = store_threads_each_second(st, session_id, load_second, m);
    if (e == LS_OK)
        e = store_threads_requests(st, session_id, load_requests, m);
    return e;
}
