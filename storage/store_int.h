/*
 * store_int: what the storage files share; included by the storage files only.
 *
 * struct store is the synchronous handle (the caller's connection and its
 * prepared statements); the helpers keep SQLite's error text in a buffer.
 */
#ifndef LS_STORE_INT_H
#define LS_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store.h"

#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_MSG_CAP 512

struct store {
    sqlite3 *db;
    sqlite3_stmt *ins_session;
    sqlite3_stmt *ins_step;
    sqlite3_stmt *end_session;
    sqlite3_stmt *list_sessions;
    sqlite3_stmt *has_session;
    bool readonly;           /* opened by store_open_readonly */
    char host[256];          /* this machine's name: owner pids are looked at only here */
    char errmsg[STORE_MSG_CAP];
};

/* snprintf into msg (NULL or cap 0: nothing). */
void store_msg_set(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define st_err(st, ...) store_msg_set((st)->errmsg, sizeof((st)->errmsg), __VA_ARGS__)

/* Runs sql (possibly several statements) on db; on failure writes what/why to msg. */
LS_MUST_CHECK ls_err store_db_exec(sqlite3 *db, const char *sql, const char *what, char *msg,
                                   size_t cap);
/* Prepares one statement; on failure writes SQLite's message to msg. */
LS_MUST_CHECK ls_err store_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, char *msg,
                                      size_t cap);
/* Busy timeout and pragmas every connection gets. */
LS_MUST_CHECK ls_err store_db_configure(sqlite3 *db, char *msg, size_t cap);
/* Binds a string, or NULL when v is NULL. */
int store_bind_text(sqlite3_stmt *s, int i, const char *v);

/* store_schema.c */

/*
 * Refuses a file that is not loadscope's, or written by a newer loadscope;
 * *version gets its schema version (0 for a new, empty file). Writes nothing.
 */
LS_MUST_CHECK ls_err store_schema_check(sqlite3 *db, const char *path, int *version, char *msg,
                                        size_t cap);
/* store_schema_check, then creates or brings the schema up to STORE_SCHEMA_VERSION. */
LS_MUST_CHECK ls_err store_schema_ensure(sqlite3 *db, const char *path, char *msg, size_t cap);

/* store_orphans.c */

/*
 * Closes the sessions of this host whose writing process is gone without
 * ending them (see store.h, store_open). Needs a writable connection.
 */
LS_MUST_CHECK ls_err store_orphans_close(sqlite3 *db, char *msg, size_t cap);
/*
 * True if the session's writer (owner_pid, owner_start on host) is known to
 * be gone: on this host, and no process with that pid and start exists.
 */
bool store_owner_gone(const char *host, int64_t owner_pid, int64_t owner_start);
/* Whether session id stored any result (as store_orphans_close judges: interrupted, else failed). */
bool store_orphan_has_results(sqlite3 *db, int64_t id);

#endif
