/*
 * store_schema: the session database's schema, its history of migrations,
 * and the checks made before anything in a file is touched: a database
 * written by a newer loadscope, or one that is not loadscope's at all (an
 * SQLite file of another program), is refused and left as it was.
 *
 * The schema is versioned with PRAGMA user_version: migration i brings a
 * database from version i to i + 1, and old files are brought forward when
 * opened for writing.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "store_downstream.h"
#include "store_findings.h"
#include "store_inside_int.h"
#include "store_int.h"
#include "store_threads_int.h"

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

/*
 * Version 6: each session names the process writing it, its pid and when
 * that process started (clock ticks after boot; the pair names a process for
 * good, a reused pid starting later), so a session its process left
 * unfinished (kill -9, a crash, a launch that failed before the end was
 * written) can be told from one still running, and closed as what it is
 * (store_orphans.c).
 */
static ls_err migrate_v6(sqlite3 *db, char *msg, size_t cap)
{
    return store_db_exec(db,
                         "ALTER TABLE sessions ADD COLUMN owner_pid INTEGER;"
                         "  -- NULL: written before version 6\n"
                         "ALTER TABLE sessions ADD COLUMN owner_start INTEGER;"
                         "  -- owner_pid's start, clock ticks after boot; 0: unknown\n",
                         "adding the sessions' owner", msg, cap);
}

/* Version 8: the launched target's downstream AWS calls (store_downstream.c). */
static ls_err migrate_v8(sqlite3 *db, char *msg, size_t cap)
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
    migrate_v6,
    store_inside_migrate,  /* version 7: inside_seconds (store_inside.c) */
    migrate_v8,
    store_findings_migrate, /* version 9: findings (store_findings.c) */
    store_threads_migrate,  /* version 10: thread groups and the CPU profile (store_threads.c) */
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
 * Refuses a file that is not loadscope's before anything touches it. Every
 * SQLite file starts at user_version 0: at 0 a file of ours is empty, so
 * tables there are another program's; at a version of ours the sessions
 * table must have our columns (another program may use user_version too).
 */
static ls_err check_ours(sqlite3 *db, const char *path, int v, char *msg, size_t cap)
{
    sqlite3_stmt *s = NULL;
    const char *sql = v == 0
        ? "SELECT count(*), group_concat(name, ', ') FROM (SELECT name FROM sqlite_master "
          "WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name LIMIT 6)"
        : "SELECT count(*) = 4, (SELECT group_concat(name, ', ') FROM (SELECT name FROM "
          "sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' "
          "ORDER BY name LIMIT 6)) FROM pragma_table_info('sessions') WHERE name IN "
          "('started_unix_ns', 'scenario_text', 'status_text', 'params_json')";
    ls_err e = LS_OK;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        store_msg_set(msg, cap, "%s: reading its tables: %s", path, sqlite3_errmsg(db));
        e = LS_ERR_DB;
        goto out;
    }
    bool foreign = v == 0 ? sqlite3_column_int(s, 0) > 0 : sqlite3_column_int(s, 0) == 0;
    if (foreign) {
        const unsigned char *names = sqlite3_column_text(s, 1);

        store_msg_set(msg, cap,
                      "%s is an SQLite database but not loadscope's (it holds %s%s and no "
                      "loadscope sessions); loadscope leaves it as it is: pass --db with "
                      "another file",
                      path, names != NULL ? "tables " : "no tables",
                      names != NULL ? (const char *)names : "");
        e = LS_ERR_INVALID;
    }
out:
    sqlite3_finalize(s);
    return e;
}

ls_err store_schema_check(sqlite3 *db, const char *path, int *version, char *msg, size_t cap)
{
    int v = 0;
    ls_err e = read_user_version(db, &v, msg, cap);

    /* A newer loadscope's schema is its own business: say which version to use. */
    if (e == LS_OK && (v > STORE_SCHEMA_VERSION || v < 0))
        e = refuse_newer(path, v, msg, cap);
    if (e == LS_OK)
        e = check_ours(db, path, v, msg, cap);
    if (e == LS_OK)
        *version = v;
    return e;
}

/*
 * Checks the file and its schema version; creates or migrates the schema
 * when it is older. The common case (already current) takes no write lock,
 * so listing sessions never waits on a running writer.
 */
ls_err store_schema_ensure(sqlite3 *db, const char *path, char *msg, size_t cap)
{
    int v = 0;
    ls_err e = store_schema_check(db, path, &v, msg, cap);

    if (e != LS_OK)
        return e;
    if (v == STORE_SCHEMA_VERSION)
        return LS_OK;

    e = store_db_exec(db, "BEGIN IMMEDIATE", "locking the database", msg, cap);
    if (e != LS_OK)
        return e;
    /* Another process may have won the race, or written its own tables meanwhile. */
    e = store_schema_check(db, path, &v, msg, cap);
    if (e == LS_OK && v < STORE_SCHEMA_VERSION)
        e = migrate(db, v, msg, cap);
    if (e == LS_OK)
        e = store_db_exec(db, "COMMIT", "committing schema", msg, cap);
    if (e != LS_OK && !sqlite3_get_autocommit(db))
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return e;
}
