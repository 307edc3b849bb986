/*
 * store: the SQLite session database (the model is described in store.h).
 *
 * Two halves live here. The synchronous half (open, schema, sessions, steps,
 * listing) runs on the caller's connection. The writer half owns a second
 * connection to the same file and a thread: producers copy samples into
 * blocks of WBLOCK_SAMPLES under a mutex held only for the memcpy, and the
 * thread moves whole blocks to its own pending list and writes them in
 * transactions. Pending rows are dropped only once their transaction has
 * committed; a failed transaction keeps them and is retried, so a slow disk
 * costs memory, not samples. The first failed transaction is reported at
 * once (the run stops: what follows would not be stored either) and marks
 * the session storage_failed. Only at finish, after WFINISH_ATTEMPTS
 * failures in a row, does the writer give up, and then it says how many
 * rows it could not write.
 *
 * This file holds opening (for writing: the file created 0600; read-only:
 * nothing created or changed), sessions, steps and listing; the schema and
 * its migrations are in store_schema.c, the closing of sessions whose
 * process is gone in store_orphans.c.
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
#include "store_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "target/proc.h"


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

/*
 * Creates the database file, if it does not exist, readable and writable by
 * its owner only: runs may hold tokens. SQLite gives the -wal, -shm and
 * -journal files the database file's mode, so they are 0600 too. (The file
 * is made here with an explicit mode rather than under umask(077): umask is
 * the whole process's, and other threads may create files meanwhile.)
 */
static ls_err create_private(const char *path, char *msg, size_t cap)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd >= 0) {
        close(fd);
        return LS_OK;
    }
    if (errno == EEXIST)
        return LS_OK;
    store_msg_set(msg, cap, "creating %s: %s", path, strerror(errno));
    return LS_ERR_IO;
}

/* Prepares the handle's statements (the inserts too: preparing writes nothing). */
static ls_err prepare_all(struct store *st)
{
    ls_err e = LS_OK;

#define PREP(field, sql)                                                                           \
    do {                                                                                           \
        e = store_db_prepare(st->db, sql, &st->field, st->errmsg, sizeof(st->errmsg));             \
        if (e != LS_OK)                                                                            \
            return e;                                                                              \
    } while (0)
    PREP(ins_session, "INSERT INTO sessions(name, scenario_path, scenario_text, target, "
                      "params_json, host, version, started_unix_ns, owner_pid, owner_start) "
                      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    PREP(ins_step, "INSERT INTO steps(session_id, idx, name, method, weight, params) "
                   "VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    PREP(end_session, "UPDATE sessions SET ended_unix_ns = ?2, exit_code = ?3, "
                      "status_text = ?4 WHERE id = ?1");
    PREP(list_sessions,
         "SELECT s.id, s.name, s.target, s.started_unix_ns, s.ended_unix_ns, s.exit_code, "
         "s.status_text, (SELECT count(*) FROM samples m WHERE m.session_id = s.id), "
         "s.host, s.owner_pid, s.owner_start "
         "FROM sessions s ORDER BY s.started_unix_ns DESC, s.id DESC");
    PREP(has_session, "SELECT 1 FROM sessions WHERE id = ?1");
#undef PREP
    return e;
}

static ls_err open_checks(const char *path, struct store **out, char *err, size_t errcap)
{
    if (err != NULL && errcap > 0)
        err[0] = '\0';
    if (out == NULL)
        return LS_ERR_INVALID;
    *out = NULL;
    if (path == NULL || path[0] == '\0') {
        store_msg_set(err, errcap, "empty database path");
        return LS_ERR_INVALID;
    }
    return LS_OK;
}

ls_err store_open(const char *path, struct store **out, char *err, size_t errcap)
{
    struct store *st = NULL;
    ls_err e = open_checks(path, out, err, errcap);
    int rc;

    if (e != LS_OK)
        return e;
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return LS_ERR_NOMEM;
    gethostname(st->host, sizeof(st->host) - 1);

    e = mkdir_parents(path, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = create_private(path, st->errmsg, sizeof(st->errmsg));
    if (e != LS_OK)
        goto out;
    rc = sqlite3_open_v2(path, &st->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        st_err(st, "%s: %s", path, st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        e = LS_ERR_DB;
        goto out;
    }
    e = store_db_configure(st->db, st->errmsg, sizeof(st->errmsg));
    /* Before anything is written: a newer loadscope's file, or another program's, is refused. */
    if (e == LS_OK) {
        int v = 0;

        e = store_schema_check(st->db, path, &v, st->errmsg, sizeof(st->errmsg));
    }
    /* Only takes effect on a new, empty file; 16 KiB pages make sample inserts cheaper. */
    if (e == LS_OK)
        e = store_db_exec(st->db, "PRAGMA page_size=16384", "page size", st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_schema_ensure(st->db, path, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_db_exec(st->db, "PRAGMA journal_mode=WAL", "enabling WAL", st->errmsg,
                    sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_orphans_close(st->db, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = prepare_all(st);

out:
    if (e != LS_OK) {
        store_msg_set(err, errcap, "%s", st->errmsg);
        store_close(st);
        return e;
    }
    *out = st;
    return LS_OK;
}

/* "file:PATH?immutable=1" with PATH's URI-special characters escaped; NULL when out of memory. */
static char *immutable_uri(const char *path)
{
    size_t n = strlen(path);
    char *uri = malloc(n * 3 + 32);
    size_t k;

    if (uri == NULL)
        return NULL;
    k = (size_t)sprintf(uri, "file:");
    for (const char *c = path; *c != '\0'; c++) {
        if (*c == '%' || *c == '?' || *c == '#')
            k += (size_t)sprintf(uri + k, "%%%02X", (unsigned char)*c);
        else
            uri[k++] = *c;
    }
    strcpy(uri + k, "?immutable=1");
    return uri;
}

/*
 * Opens path read-only and reads its schema version. A WAL database needs
 * its -shm file; on a read-only mount, or in another user's directory, it
 * cannot be made, and nobody can be writing the file there either: it is
 * then read as immutable (no locks, no -shm).
 */
static ls_err open_ro(struct store *st, const char *path, int *version)
{
    char *uri = NULL;
    ls_err e = LS_ERR_DB;

    for (int attempt = 0; attempt < 2; attempt++) {
        int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX | (attempt ? SQLITE_OPEN_URI : 0);
        int rc;

        if (attempt == 1) {
            uri = immutable_uri(path);
            if (uri == NULL)
                return LS_ERR_NOMEM;
        }
        sqlite3_close(st->db);
        st->db = NULL;
        rc = sqlite3_open_v2(attempt ? uri : path, &st->db, flags, NULL);
        if (rc != SQLITE_OK) {
            st_err(st, "%s: %s", path,
                   st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
            continue;
        }
        e = store_db_configure(st->db, st->errmsg, sizeof(st->errmsg));
        if (e == LS_OK)
            e = store_schema_check(st->db, path, version, st->errmsg, sizeof(st->errmsg));
        /* Only a file SQLite could not open for reading (-shm) is worth the second try. */
        if (e != LS_ERR_DB || access(path, R_OK) != 0)
            break;
    }
    free(uri);
    return e;
}

ls_err store_open_readonly(const char *path, struct store **out, char *err, size_t errcap)
{
    struct store *st = NULL;
    struct stat sb;
    ls_err e = open_checks(path, out, err, errcap);
    int v = 0;

    if (e != LS_OK)
        return e;
    if (stat(path, &sb) != 0) {
        store_msg_set(err, errcap, "no session database at %s (%s); run a session first, or pass "
                      "--db FILE", path, strerror(errno));
        return errno == ENOENT ? LS_ERR_NOTFOUND : LS_ERR_IO;
    }
    if (S_ISDIR(sb.st_mode)) {
        store_msg_set(err, errcap, "%s is a directory, not a session database", path);
        return LS_ERR_INVALID;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return LS_ERR_NOMEM;
    st->readonly = true;
    gethostname(st->host, sizeof(st->host) - 1);
    e = open_ro(st, path, &v);
    if (e == LS_OK && v == 0) {
        st_err(st, "%s holds no loadscope sessions (an empty database)", path);
        e = LS_ERR_NOTFOUND;
    }
    if (e == LS_OK && v < STORE_SCHEMA_VERSION) {
        /* An older loadscope's file: bring it forward once, if it may be written here. */
        struct store *rw = NULL;
        char why[STORE_MSG_CAP];

        e = store_open(path, &rw, why, sizeof(why));
        store_close(rw);
        if (e == LS_OK)
            e = open_ro(st, path, &v);
        else
            st_err(st, "%s: schema version %d is older than this loadscope's %d, and could not be "
                   "brought forward here: %s", path, v, STORE_SCHEMA_VERSION, why);
    }
    if (e == LS_OK)
        e = prepare_all(st);
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
    sqlite3_bind_int64(s, 9, (sqlite3_int64)getpid());
    sqlite3_bind_int64(s, 10, (sqlite3_int64)proc_start_ticks(getpid()));
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
        /* Unfinished, its process gone: said as the next open for writing will close it. */
        if (sqlite3_column_type(s, 4) == SQLITE_NULL &&
            store_owner_gone(col_text(s, 8), sqlite3_column_int64(s, 9),
                             sqlite3_column_int64(s, 10)))
            row.status_text = store_orphan_has_results(st->db, row.id) ? "interrupted" : "failed";
        if (fn(ctx, &row) != 0)
            break;
    }
    sqlite3_reset(s);
    return e;
}

