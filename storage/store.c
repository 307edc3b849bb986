/*
 * store: the SQLite session database (the model is described in store.h).
 *
 * Two halves live here. The synchronous half (open, schema, sessions, steps,
 * listing) runs on the caller's connection. The writer half owns a second
 * connection to the same file and a thread: producers copy samples into
 * blocks of WBLOCK_SAMPLES under a mutex held only for the memcpy, and the
 * thread moves whole blocks to its own pending list and writes them in
 * transactions. Pending rows are dropped only once their transaction has
 * committed; a failed transaction keeps them and is retried, so a slow or
 * briefly failing disk costs memory, not samples. Only at finish, after
 * WFINISH_ATTEMPTS failures in a row, does the writer give up, and then it
 * says how many rows it could not write.
 *
 * A second connection (rather than sharing the caller's) keeps the writer's
 * transactions and statements its own: the caller may read the database, or
 * another process may list sessions, while a run is being written (WAL).
 *
 * Unsigned 64-bit values (times in ns, counts) are stored as SQLite's signed
 * INTEGER by two's-complement cast; they round-trip exactly when read back
 * with the opposite cast, and read naturally in SQL below 2^63.
 */
#include "store.h"
#include "store_inside_int.h"
#include "store_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "store_downstream.h"
#include "store_findings.h"

/*
 * Version 1. Adding an error class to enum ls_errclass must bump the version:
 * error_classes is filled when the schema is created.
 */
static const char STORE_SCHEMA_V1[] =
    "CREATE TABLE sessions (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT, scenario_path TEXT, scenario_text TEXT, target TEXT,\n"
    "  params_json TEXT, host TEXT, version TEXT,\n"
    "  started_unix_ns INTEGER NOT NULL,\n"
    "  ended_unix_ns INTEGER,  -- NULL while running or when the run died\n"
    "  exit_code INTEGER, status_text TEXT);\n"
    "CREATE INDEX sessions_started ON sessions(started_unix_ns);\n"
    "CREATE TABLE steps (\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
    "  idx INTEGER NOT NULL, name TEXT, method TEXT, weight INTEGER, params TEXT,\n"
    "  PRIMARY KEY(session_id, idx));\n"
    "CREATE TABLE samples (  -- one row per request; times in ns since the run's start\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
    "  seq INTEGER, worker INTEGER, vu INTEGER, step INTEGER,\n"
    "  intended_ns INTEGER, start_ns INTEGER, end_ns INTEGER,\n"
    "  dns_us INTEGER, connect_us INTEGER, tls_us INTEGER, ttfb_us INTEGER,\n"
    "  bytes_out INTEGER, bytes_in INTEGER, status INTEGER,\n"
    "  err INTEGER,  -- error_classes.id\n"
    "  flags INTEGER, rpc_code INTEGER);\n"
    "CREATE INDEX samples_session_step ON samples(session_id, step);\n"
    "CREATE TABLE intervals (  -- step -1: all steps together\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
    "  second INTEGER NOT NULL, step INTEGER NOT NULL, warmup INTEGER,\n"
    "  count INTEGER, errors INTEGER, late INTEGER,\n"
    "  p50_us INTEGER, p90_us INTEGER, p99_us INTEGER, p999_us INTEGER,\n"
    "  max_us INTEGER, mean_us REAL,\n"
    "  u_p50_us INTEGER, u_p90_us INTEGER, u_p99_us INTEGER, u_p999_us INTEGER,\n"
    "  u_max_us INTEGER, u_mean_us REAL,\n"
    "  hist BLOB, u_hist BLOB,  -- hdr_encode of the corrected / uncorrected histogram\n"
    "  PRIMARY KEY(session_id, second, step));\n"
    "CREATE TABLE summaries (  -- measured part of the run; step -1: all steps\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
    "  step INTEGER NOT NULL, count INTEGER, errors INTEGER, rate REAL,\n"
    "  err_json TEXT,  -- {\"class name\": count} for non-zero classes\n"
    "  p50_us INTEGER, p90_us INTEGER, p99_us INTEGER, p999_us INTEGER,\n"
    "  max_us INTEGER, mean_us REAL,\n"
    "  u_p50_us INTEGER, u_p90_us INTEGER, u_p99_us INTEGER, u_p999_us INTEGER,\n"
    "  u_max_us INTEGER, u_mean_us REAL,\n"
    "  PRIMARY KEY(session_id, step));\n"
    "CREATE TABLE events (\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
    "  t_ns INTEGER NOT NULL, kind TEXT NOT NULL, message TEXT);\n"
    "CREATE INDEX events_session ON events(session_id, t_ns);\n"
    "CREATE TABLE error_classes (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);\n";


void store_msg_set(char *buf, size_t cap, const char *fmt,
                                                          ...)
{
    va_list ap;

    if (buf == NULL || cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}


/* Runs sql (possibly several statements) on db; on failure writes what/why to msg. */
ls_err store_db_exec(sqlite3 *db, const char *sql, const char *what, char *msg, size_t cap)
{
    char *emsg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &emsg);

    if (rc == SQLITE_OK)
        return LS_OK;
    store_msg_set(msg, cap, "%s: %s", what, emsg != NULL ? emsg : sqlite3_errstr(rc));
    sqlite3_free(emsg);
    return LS_ERR_DB;
}

ls_err store_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, char *msg, size_t cap)
{
    int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);

    if (rc == SQLITE_OK)
        return LS_OK;
    store_msg_set(msg, cap, "preparing \"%.60s...\": %s", sql, sqlite3_errmsg(db));
    return LS_ERR_DB;
}

/* Binds a string or SQL NULL; SQLite copies the text. */
int store_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v == NULL)
        return sqlite3_bind_null(s, i);
    return sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

/* Sets the per-connection pragmas both the store and its writer use. */
ls_err store_db_configure(sqlite3 *db, char *msg, size_t cap)
{
    sqlite3_extended_result_codes(db, 1);
    if (sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS) != SQLITE_OK) {
        store_msg_set(msg, cap, "busy_timeout: %s", sqlite3_errmsg(db));
        return LS_ERR_DB;
    }
    return store_db_exec(db, "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;", "pragmas", msg, cap);
}

/* mkdir -p of the directory part of path (mode 0700: runs may hold tokens). */
static ls_err mkdir_parents(const char *path, char *msg, size_t cap)
{
    ls_err e = LS_OK;
    char *dir = strdup(path);
    char *slash;

    if (dir == NULL)
        return LS_ERR_NOMEM;
    slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        goto out;
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        bool last = *p == '\0';

        if (*p != '/' && !last)
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            store_msg_set(msg, cap, "creating directory %s: %s", dir, strerror(errno));
            e = LS_ERR_IO;
            goto out;
        }
        if (last)
            break;
        *p = '/';
    }
out:
    free(dir);
    return e;
}

static ls_err read_user_version(sqlite3 *db, int *out, char *msg, size_t cap)
{
    sqlite3_stmt *s = NULL;
    ls_err e = LS_OK;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        store_msg_set(msg, cap, "reading schema version: %s", sqlite3_errmsg(db));
        e = LS_ERR_DB;
        goto out;
    }
    *out = sqlite3_column_int(s, 0);
out:
    sqlite3_finalize(s);
    return e;
}

static ls_err refuse_newer(const char *path, int v, char *msg, size_t cap)
{
    store_msg_set(msg, cap,
            "%s: database schema version %d is newer than this loadscope's version %d; "
            "use a newer loadscope or another database file",
            path, v, STORE_SCHEMA_VERSION);
    return LS_ERR_DB;
}

/* Version 1: the base schema, and the names of the error classes. */
static ls_err migrate_v1(sqlite3 *db, char *msg, size_t cap)
{
    sqlite3_stmt *s = NULL;
    ls_err e = store_db_exec(db, STORE_SCHEMA_V1, "creating schema", msg, cap);

    if (e != LS_OK)
        goto out;
    e = store_db_prepare(db, "INSERT INTO error_classes(id, name) VALUES(?1, ?2)", &s, msg, cap);
    if (e != LS_OK)
        goto out;
    for (int c = 0; c < LS_EC__COUNT; c++) {
        sqlite3_bind_int(s, 1, c);
        sqlite3_bind_text(s, 2, ls_errclass_name((enum ls_errclass)c), -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) {
            store_msg_set(msg, cap, "filling error_classes: %s", sqlite3_errmsg(db));
            e = LS_ERR_DB;
            goto out;
        }
        sqlite3_reset(s);
    }
out:
    sqlite3_finalize(s);
    return e;
}

/*
 * Version 2: AWS steps. Samples get the attempt count (retries, split batch
 * calls and follow-ups included), the follow-ups for UnprocessedKeys/Items,
 * the retries, the backoff scheduled between attempts, the final attempt's
 * own latency and the AWS error code; error_classes gets the AWS classes
 * (throttled, aws_client_error, aws_server_error). A database created at
 * version 1 already holds every class its loadscope knew, so names are
 * inserted only where missing.
 */
static ls_err migrate_v2(sqlite3 *db, char *msg, size_t cap)
{
    sqlite3_stmt *s = NULL;
    ls_err e = store_db_exec(db,
                             "ALTER TABLE samples ADD COLUMN attempts INTEGER DEFAULT 0;\n"
                             "ALTER TABLE samples ADD COLUMN followups INTEGER DEFAULT 0;\n"
                             "ALTER TABLE samples ADD COLUMN retries INTEGER DEFAULT 0;\n"
                             "ALTER TABLE samples ADD COLUMN backoff_us INTEGER DEFAULT 0;\n"
                             "ALTER TABLE samples ADD COLUMN last_try_us INTEGER DEFAULT 0;\n"
                             "ALTER TABLE samples ADD COLUMN aws_code TEXT;  -- NULL: none\n",
                             "adding the AWS sample columns", msg, cap);

    if (e != LS_OK)
        goto out;
    e = store_db_prepare(db, "INSERT OR IGNORE INTO error_classes(id, name) VALUES(?1, ?2)", &s, msg,
                         cap);
    if (e != LS_OK)
        goto out;
    for (int c = 0; c < LS_EC__COUNT; c++) {
        sqlite3_bind_int(s, 1, c);
        sqlite3_bind_text(s, 2, ls_errclass_name((enum ls_errclass)c), -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) {
            store_msg_set(msg, cap, "adding error classes: %s", sqlite3_errmsg(db));
            e = LS_ERR_DB;
            goto out;
        }
        sqlite3_reset(s);
    }
out:
    sqlite3_finalize(s);
    return e;
}

/*
 * Version 3: allocation profiling (core/alloc.h). alloc_stacks holds each
 * traced stack once, as text; alloc_intervals one row per second per stack
 * that allocated or freed in it; alloc_process the target's /proc figures
 * per second; alloc_summary each traced process's exact counters at the end.
 */
static ls_err migrate_v3(sqlite3 *db, char *msg, size_t cap)
{
    return store_db_exec(
        db,
        "CREATE TABLE alloc_stacks (\n"
        "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
        "  stack_key INTEGER NOT NULL, pid INTEGER,\n"
        "  blame_function TEXT, blame_file TEXT, blame_line INTEGER,\n"
        "  label TEXT,  -- common Rust fault marked by a frame (\"vector growth\", ...) or ''\n"
        "  frames TEXT,  -- one frame per line, innermost first\n"
        "  folded TEXT,  -- root;...;innermost, for flame graphs\n"
        "  PRIMARY KEY(session_id, stack_key));\n"
        "CREATE TABLE alloc_intervals (  -- second: since the run's start, as intervals.second\n"
        "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
        "  second INTEGER NOT NULL, stack_key INTEGER NOT NULL,\n"
        "  allocs INTEGER, bytes INTEGER, reallocs INTEGER, frees INTEGER, freed_bytes INTEGER,\n"
        "  short_lived INTEGER, live_bytes INTEGER,\n"
        "  requests INTEGER,  -- requests completed in the second (all steps)\n"
        "  PRIMARY KEY(session_id, second, stack_key));\n"
        "CREATE TABLE alloc_process (\n"
        "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
        "  second INTEGER NOT NULL, pid INTEGER NOT NULL,\n"
        "  rss_bytes INTEGER, cpu_pct REAL, threads INTEGER,\n"
        "  thread_names TEXT,  -- JSON {name: count}, trailing digits folded\n"
        "  allocs INTEGER, frees INTEGER, bytes_allocated INTEGER, dropped INTEGER,\n"
        "  PRIMARY KEY(session_id, second, pid));\n"
        "CREATE TABLE alloc_summary (\n"
        "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
        "  pid INTEGER NOT NULL, ppid INTEGER, mode TEXT, unwind TEXT,\n"
        "  allocs INTEGER, frees INTEGER, reallocs INTEGER,\n"
        "  bytes_allocated INTEGER, bytes_freed INTEGER,  -- bytes_freed: full mode only\n"
        "  untracked_frees INTEGER, dropped INTEGER, stacks INTEGER, threads INTEGER,\n"
        "  complete INTEGER,  -- 1: the process's last batch arrived\n"
        "  warning TEXT,\n"
        "  PRIMARY KEY(session_id, pid));\n",
        "creating the allocation tables", msg, cap);
}

/*
 * Version 4: samples are indexed by session only. The (session_id, step)
 * index took about half of every sample insert (each step's rows land in the
 * middle of the index), which on a 2-core machine is CPU taken from the load
 * workers; a session-only index is appended to in order, still serves the
 * per-session range scans and counts, and a step filter scans the session.
 */
static ls_err migrate_v4(sqlite3 *db, char *msg, size_t cap)
{
    return store_db_exec(db,
                         "DROP INDEX IF EXISTS samples_session_step;\n"
                         "CREATE INDEX samples_session ON samples(session_id);\n",
                         "re-indexing samples", msg, cap);
}

/*
 * Version 5: the allocation summary keeps each traced process's peak
 * resident set (the kernel's VmHWM, as the tracer last read it).
 */
static ls_err migrate_v5(sqlite3 *db, char *msg, size_t cap)
{
    return store_db_exec(db,
                         "ALTER TABLE alloc_summary ADD COLUMN peak_rss INTEGER;"
                         "  -- bytes, the largest of its images'; NULL: not known\n",
                         "adding the peak resident set", msg, cap);
}

/* Version 7: the launched target's downstream AWS calls (store_downstream.c). */
static ls_err migrate_v7(sqlite3 *db, char *msg, size_t cap)
{
    return store_downstream_migrate(db, msg, cap);
}

/*
 * The schema's history: migration i brings a database from version i to
 * i + 1. A new table or column is a new entry here (and STORE_SCHEMA_VERSION
 * goes up by one); old databases are brought forward when opened.
 */
typedef ls_err (*store_migration_fn)(sqlite3 *db, char *msg, size_t cap);
static const store_migration_fn migrations[STORE_SCHEMA_VERSION] = {
    migrate_v1,
    migrate_v2,
    migrate_v3,
    migrate_v4,
    migrate_v5,
    store_inside_migrate, /* version 6: inside_seconds (store_inside.c) */
    migrate_v7,           /* version 7: the downstream tables (store_downstream.c) */
    store_findings_migrate, /* version 8: findings (store_findings.c) */
};

/* Runs the migrations from version v up, inside the caller's transaction. */
static ls_err migrate(sqlite3 *db, int v, char *msg, size_t cap)
{
    ls_err e = LS_OK;
    char sql[64];
    for (int i = v; i < STORE_SCHEMA_VERSION && e == LS_OK; i++)
        e = migrations[i](db, msg, cap);
    if (e == LS_OK) {
        snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", STORE_SCHEMA_VERSION);
        e = store_db_exec(db, sql, "setting schema version", msg, cap);
    }
    return e;
}

/*
 * Checks the schema version; creates or migrates the schema when it is older.
 * The common case (already current) takes no write lock, so listing sessions
 * never waits on a running writer.
 */
static ls_err ensure_schema(sqlite3 *db, const char *path, char *msg, size_t cap)
{
    int v = 0;
    ls_err e = read_user_version(db, &v, msg, cap);

    if (e != LS_OK)
        return e;
    if (v > STORE_SCHEMA_VERSION || v < 0)
        return refuse_newer(path, v, msg, cap);
    if (v == STORE_SCHEMA_VERSION)
        return LS_OK;

    e = store_db_exec(db, "BEGIN IMMEDIATE", "locking the database", msg, cap);
    if (e != LS_OK)
        return e;
    e = read_user_version(db, &v, msg, cap); /* another process may have won the race */
    if (e == LS_OK && v > STORE_SCHEMA_VERSION)
        e = refuse_newer(path, v, msg, cap);
    if (e == LS_OK && v < STORE_SCHEMA_VERSION)
        e = migrate(db, v, msg, cap);
    if (e == LS_OK)
        e = store_db_exec(db, "COMMIT", "committing schema", msg, cap);
    if (e != LS_OK && !sqlite3_get_autocommit(db))
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return e;
}

ls_err store_open(const char *path, struct store **out, char *err, size_t errcap)
{
    struct store *st = NULL;
    ls_err e = LS_OK;
    int rc;

    if (err != NULL && errcap > 0)
        err[0] = '\0';
    if (out == NULL)
        return LS_ERR_INVALID;
    *out = NULL;
    if (path == NULL || path[0] == '\0') {
        store_msg_set(err, errcap, "empty database path");
        return LS_ERR_INVALID;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return LS_ERR_NOMEM;

    e = mkdir_parents(path, st->errmsg, sizeof(st->errmsg));
    if (e != LS_OK)
        goto out;
    rc = sqlite3_open_v2(path, &st->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        st_err(st, "%s: %s", path, st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        e = LS_ERR_DB;
        goto out;
    }
    /* Version first: a newer loadscope's file is refused before we touch it. */
    e = store_db_configure(st->db, st->errmsg, sizeof(st->errmsg));
    /* Only takes effect on a new, empty file; 16 KiB pages make sample inserts cheaper. */
    if (e == LS_OK)
        e = store_db_exec(st->db, "PRAGMA page_size=16384", "page size", st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = ensure_schema(st->db, path, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_db_exec(st->db, "PRAGMA journal_mode=WAL", "enabling WAL", st->errmsg,
                    sizeof(st->errmsg));
    if (e != LS_OK)
        goto out;

#define PREP(field, sql)                                                                           \
    do {                                                                                           \
        e = store_db_prepare(st->db, sql, &st->field, st->errmsg, sizeof(st->errmsg));                   \
        if (e != LS_OK)                                                                            \
            goto out;                                                                              \
    } while (0)
    PREP(ins_session, "INSERT INTO sessions(name, scenario_path, scenario_text, target, "
                      "params_json, host, version, started_unix_ns) "
                      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    PREP(ins_step, "INSERT INTO steps(session_id, idx, name, method, weight, params) "
                   "VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    PREP(end_session, "UPDATE sessions SET ended_unix_ns = ?2, exit_code = ?3, "
                      "status_text = ?4 WHERE id = ?1");
    PREP(list_sessions,
         "SELECT s.id, s.name, s.target, s.started_unix_ns, s.ended_unix_ns, s.exit_code, "
         "s.status_text, (SELECT count(*) FROM samples m WHERE m.session_id = s.id) "
         "FROM sessions s ORDER BY s.started_unix_ns DESC, s.id DESC");
    PREP(has_session, "SELECT 1 FROM sessions WHERE id = ?1");
#undef PREP

out:
    if (e != LS_OK) {
        store_msg_set(err, errcap, "%s", st->errmsg);
        store_close(st);
        return e;
    }
    *out = st;
    return LS_OK;
}

void store_close(struct store *st)
{
    if (st == NULL)
        return;
    sqlite3_finalize(st->ins_session);
    sqlite3_finalize(st->ins_step);
    sqlite3_finalize(st->end_session);
    sqlite3_finalize(st->list_sessions);
    sqlite3_finalize(st->has_session);
    sqlite3_close(st->db); /* NULL is a no-op */
    free(st);
}

const char *store_errmsg(const struct store *st)
{
    return st != NULL ? st->errmsg : "no store";
}

ls_err store_default_path(char *buf, size_t cap)
{
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    int n;

    if (buf == NULL || cap == 0)
        return LS_ERR_INVALID;
    buf[0] = '\0';
    /* The XDG spec says a relative XDG_DATA_HOME is invalid and to be ignored. */
    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(buf, cap, "%s/loadscope/sessions.db", xdg);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(buf, cap, "%s/.local/share/loadscope/sessions.db", home);
    else
        return LS_ERR_NOTFOUND;
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = '\0';
        return LS_ERR_RANGE;
    }
    return LS_OK;
}

/* Steps a statement that returns no rows and resets it; errors go to st->errmsg. */
static ls_err st_step_done(struct store *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    ls_err e = LS_OK;

    if (rc != SQLITE_DONE) {
        st_err(st, "%s: %s", what, sqlite3_errmsg(st->db));
        e = LS_ERR_DB;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return e;
}

ls_err store_session_begin(struct store *st, const struct store_session_info *info,
                           int64_t *session_id)
{
    sqlite3_stmt *s;
    ls_err e;

    if (st == NULL || info == NULL || session_id == NULL)
        return LS_ERR_INVALID;
    s = st->ins_session;
    store_bind_text(s, 1, info->name);
    store_bind_text(s, 2, info->scenario_path);
    store_bind_text(s, 3, info->scenario_text);
    store_bind_text(s, 4, info->target);
    store_bind_text(s, 5, info->params_json);
    store_bind_text(s, 6, info->host);
    store_bind_text(s, 7, info->version);
    sqlite3_bind_int64(s, 8, info->started_unix_ns);
    e = st_step_done(st, s, "inserting session");
    if (e == LS_OK)
        *session_id = sqlite3_last_insert_rowid(st->db);
    return e;
}

ls_err store_add_step(struct store *st, int64_t session_id, int idx, const char *name,
                      const char *method, uint32_t weight, const char *params)
{
    sqlite3_stmt *s;

    if (st == NULL)
        return LS_ERR_INVALID;
    s = st->ins_step;
    sqlite3_bind_int64(s, 1, session_id);
    sqlite3_bind_int(s, 2, idx);
    store_bind_text(s, 3, name);
    store_bind_text(s, 4, method);
    sqlite3_bind_int64(s, 5, weight);
    store_bind_text(s, 6, params);
    return st_step_done(st, s, "inserting step");
}

ls_err store_session_end(struct store *st, int64_t session_id, int64_t ended_unix_ns, int exit_code,
                         const char *status_text)
{
    sqlite3_stmt *s;
    ls_err e;

    if (st == NULL)
        return LS_ERR_INVALID;
    s = st->end_session;
    sqlite3_bind_int64(s, 1, session_id);
    sqlite3_bind_int64(s, 2, ended_unix_ns);
    sqlite3_bind_int(s, 3, exit_code);
    store_bind_text(s, 4, status_text);
    e = st_step_done(st, s, "ending session");
    if (e == LS_OK && sqlite3_changes(st->db) != 1) {
        st_err(st, "ending session %lld: no such session", (long long)session_id);
        e = LS_ERR_NOTFOUND;
    }
    return e;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);

    return t != NULL ? (const char *)t : "";
}

ls_err store_list_sessions(struct store *st, store_session_fn fn, void *ctx)
{
    sqlite3_stmt *s;
    ls_err e = LS_OK;
    int rc;

    if (st == NULL || fn == NULL)
        return LS_ERR_INVALID;
    s = st->list_sessions;
    for (;;) {
        struct store_session_row row;

        rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            st_err(st, "listing sessions: %s", sqlite3_errmsg(st->db));
            e = LS_ERR_DB;
            break;
        }
        row.id = sqlite3_column_int64(s, 0);
        row.name = col_text(s, 1);
        row.target = col_text(s, 2);
        row.started_unix_ns = sqlite3_column_int64(s, 3);
        row.ended_unix_ns = sqlite3_column_int64(s, 4); /* NULL reads as 0 */
        row.exit_code = sqlite3_column_int(s, 5);
        row.status_text = col_text(s, 6);
        row.samples = sqlite3_column_int64(s, 7);
        if (fn(ctx, &row) != 0)
            break;
    }
    sqlite3_reset(s);
    return e;
}

