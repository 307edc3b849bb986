/*
 * store_orphans: sessions whose process went away without ending them.
 *
 * A run killed with kill -9, a crash, or a trace whose launch failed before
 * its end was written leaves its session with no end: "unfinished" for
 * ever. Each session names its writer (owner_pid and owner_start, schema
 * version 6); when a database is opened for writing, the sessions of this
 * host whose writer no longer exists are closed: "interrupted" (exit code
 * 130) when they stored any result, "failed" (exit code 1) when they stored
 * nothing, ended at the last moment they stored, with an event that says
 * what happened. Another host's sessions are left alone: a pid means
 * nothing there.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"
#include "store_int.h"
#include "target/proc.h"

#define ORPHANS_MAX 64 /* closed per open; more wait for the next one */

/* Whether session ?1 stored any result: interrupted if so, failed if not. */
#define HAS_RESULTS_SQL                                                                            \
    "SELECT EXISTS(SELECT 1 FROM samples WHERE session_id = ?1) "                                  \
    "OR EXISTS(SELECT 1 FROM intervals WHERE session_id = ?1) "                                    \
    "OR EXISTS(SELECT 1 FROM alloc_process WHERE session_id = ?1) "                                \
    "OR EXISTS(SELECT 1 FROM alloc_summary WHERE session_id = ?1)"

bool store_owner_gone(const char *host, int64_t owner_pid, int64_t owner_start)
{
    char here[256] = "";

    if (owner_pid <= 0 || host == NULL)
        return false;
    gethostname(here, sizeof(here) - 1);
    if (strcmp(host, here) != 0)
        return false;
    if (owner_start > 0)
        return proc_start_ticks((pid_t)owner_pid) != (uint64_t)owner_start;
    /* Its start was not known: only a pid that no longer exists says it is gone. */
    return kill((pid_t)owner_pid, 0) != 0 && errno == ESRCH;
}

/* Runs one query returning one integer (NULL, or no row: 0). */
static ls_err one_int(sqlite3 *db, const char *sql, int64_t id, int64_t *out, char *msg, size_t cap)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);

    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, id);
        rc = sqlite3_step(s);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_msg_set(msg, cap, "closing unfinished sessions: %s", sqlite3_errmsg(db));
        sqlite3_finalize(s);
        return LS_ERR_DB;
    }
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return LS_OK;
}

/*
 * The last moment session id stored (ns after its start) and whether it
 * stored any result. Samples go in roughly the order they ended (the
 * workers' batches interleave), so the latest end is among the last rows
 * stored, found through the session index without a scan of the session.
 */
static ls_err last_stored(sqlite3 *db, int64_t id, int64_t *last_ns, bool *any, char *msg,
                          size_t cap)
{
    int64_t t = 0, v = 0;
    ls_err e = one_int(db, "SELECT max(end_ns) FROM (SELECT end_ns FROM samples "
                           "WHERE session_id = ?1 ORDER BY rowid DESC LIMIT 65536)",
                       id, &t, msg, cap);

    *any = false;
    if (e == LS_OK)
        e = one_int(db, "SELECT (max(second) + 1) * 1000000000 FROM intervals WHERE session_id = ?1",
                    id, &v, msg, cap);
    if (e == LS_OK && v > t)
        t = v;
    if (e == LS_OK)
        e = one_int(db, "SELECT max(t_ns) FROM events WHERE session_id = ?1", id, &v, msg, cap);
    if (e == LS_OK && v > t)
        t = v;
    if (e == LS_OK)
        e = one_int(db, "SELECT (max(second) + 1) * 1000000000 FROM alloc_process "
                        "WHERE session_id = ?1", id, &v, msg, cap);
    if (e == LS_OK && v > t)
        t = v;
    if (e == LS_OK)
        e = one_int(db, HAS_RESULTS_SQL, id, &v, msg, cap);
    if (e == LS_OK) {
        *any = v != 0;
        *last_ns = t;
    }
    return e;
}

bool store_orphan_has_results(sqlite3 *db, int64_t id)
{
    int64_t v = 0;

    return one_int(db, HAS_RESULTS_SQL, id, &v, NULL, 0) == LS_OK && v != 0;
}

/* Ends one orphan, in the caller's transaction. */
static ls_err close_one(sqlite3 *db, int64_t id, int64_t started, int64_t pid, char *msg,
                        size_t cap)
{
    int64_t last = 0;
    bool any = false;
    sqlite3_stmt *s = NULL;
    char text[256];
    ls_err e = last_stored(db, id, &last, &any, msg, cap);
    int rc;

    if (e != LS_OK)
        return e;
    rc = sqlite3_prepare_v2(db,
                            "UPDATE sessions SET ended_unix_ns = ?2, exit_code = ?3, "
                            "status_text = ?4 WHERE id = ?1 AND ended_unix_ns IS NULL",
                            -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, started + last);
        sqlite3_bind_int(s, 3, any ? 130 : 1);
        sqlite3_bind_text(s, 4, any ? "interrupted" : "failed", -1, SQLITE_STATIC);
        rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(s);
    s = NULL;
    /* Another loadscope opening the file at the same time may have closed it first. */
    if (rc == SQLITE_OK && sqlite3_changes(db) == 0)
        return LS_OK;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO events(session_id, t_ns, kind, message) "
                                "VALUES(?1, ?2, ?3, ?4)", -1, &s, NULL);
    if (rc == SQLITE_OK) {
        snprintf(text, sizeof(text),
                 "loadscope (pid %lld) ended without closing this session (killed, crashed, or "
                 "its launch failed); marked %s when the database was next opened",
                 (long long)pid, any ? "interrupted (what it stored is kept)"
                                     : "failed (it stored no result)");
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, last);
        sqlite3_bind_text(s, 3, any ? "interrupted" : "failed", -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, text, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    if (rc != SQLITE_OK) {
        store_msg_set(msg, cap, "closing unfinished session %lld: %s", (long long)id,
                      sqlite3_errmsg(db));
        e = LS_ERR_DB;
    }
    sqlite3_finalize(s);
    return e;
}

ls_err store_orphans_close(sqlite3 *db, char *msg, size_t cap)
{
    struct {
        int64_t id, started, pid;
    } gone[ORPHANS_MAX];
    size_t n = 0;
    sqlite3_stmt *s = NULL;
    ls_err e = LS_OK;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT id, started_unix_ns, owner_pid, owner_start, host "
                                "FROM sessions WHERE ended_unix_ns IS NULL AND owner_pid > 0",
                                -1, &s, NULL);

    if (rc != SQLITE_OK) {
        store_msg_set(msg, cap, "looking for unfinished sessions: %s", sqlite3_errmsg(db));
        return LS_ERR_DB;
    }
    while (n < ORPHANS_MAX && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *host = (const char *)sqlite3_column_text(s, 4);

        if (!store_owner_gone(host, sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 3)))
            continue;
        gone[n].id = sqlite3_column_int64(s, 0);
        gone[n].started = sqlite3_column_int64(s, 1);
        gone[n].pid = sqlite3_column_int64(s, 2);
        n++;
    }
    sqlite3_finalize(s);
    if (n == 0)
        return LS_OK;
    e = store_db_exec(db, "BEGIN IMMEDIATE", "closing unfinished sessions", msg, cap);
    for (size_t i = 0; i < n && e == LS_OK; i++)
        e = close_one(db, gone[i].id, gone[i].started, gone[i].pid, msg, cap);
    if (e == LS_OK)
        e = store_db_exec(db, "COMMIT", "closing unfinished sessions", msg, cap);
    if (e != LS_OK && !sqlite3_get_autocommit(db))
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return e;
}
