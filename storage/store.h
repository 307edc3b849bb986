/*
 * store: loadscope's SQLite session database; the only user of sqlite3.h.
 *
 * One file holds many sessions. A session row keeps the scenario text, the
 * target, start/end, host and loadscope version; beside it are the steps,
 * every sample, per-second intervals (per step, plus step -1 for all steps
 * together) with encoded HDR histograms, per-step summaries and run events.
 *
 * The database runs in WAL mode with prepared statements. During a run all
 * writes go through a store_writer: a thread of its own that batches them
 * into transactions, so the load engine never waits on the disk. The
 * writer's queue copies what it is given and grows as needed: a slow disk
 * costs memory, never a lost sample. It commits what it holds at least
 * every WCOMMIT_MAX_NS (250 ms), so a kill -9 loses what the last quarter
 * second queued plus any backlog the writer could not yet catch up with. A
 * transaction the disk refuses is a failure the run is told of at once
 * (store_writer_on_failure). Schema changes are versioned with PRAGMA
 * user_version.
 */
#ifndef LS_STORE_H
#define LS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "util/lserr.h"
#include "stats/sample.h"

#define STORE_SCHEMA_VERSION 10

struct store;

/*
 * Opens for writing (creating if needed, with parent directories, mode 0600
 * for the file and so for its -wal and -shm) the database at path and brings
 * its schema to STORE_SCHEMA_VERSION. A database written by a newer
 * loadscope, or an SQLite file that is not loadscope's (LS_ERR_INVALID), is
 * refused with a message and left untouched. Sessions of this host whose
 * process ended without closing them are closed as "interrupted" (they
 * stored results; exit code 130) or "failed" (exit code 1), with an event.
 * err gets the message.
 */
LS_MUST_CHECK ls_err store_open(const char *path, struct store **out, char *err, size_t errcap);

/*
 * Opens an existing database for reading only (sessions, export, replay):
 * no file is created (LS_ERR_NOTFOUND, with a message, when there is none),
 * nothing is written, the journal mode is left alone, so it works on a
 * read-only mount and on another user's readable file. A file that is not
 * loadscope's is refused (LS_ERR_INVALID). A file of an older schema is
 * brought forward first when it may be written, else refused with why.
 * Listing through this handle shows an unfinished session whose process is
 * gone as "interrupted" or "failed", as store_open would close it (the file
 * is not changed).
 */
LS_MUST_CHECK ls_err store_open_readonly(const char *path, struct store **out, char *err,
                                         size_t errcap);
void store_close(struct store *st);

/* The last error message on this handle ("" if none). */
const char *store_errmsg(const struct store *st);

/*
 * Writes the default database path, $XDG_DATA_HOME/loadscope/sessions.db or
 * $HOME/.local/share/loadscope/sessions.db, into buf.
 */
LS_MUST_CHECK ls_err store_default_path(char *buf, size_t cap);

struct store_session_info {
    const char *name;           /* scenario name */
    const char *scenario_path;
    const char *scenario_text;  /* the whole scenario file */
    const char *target;         /* "stdio: node server.js" or the URL */
    const char *params_json;    /* effective run parameters after command-line overrides */
    const char *host;           /* hostname of the machine */
    const char *version;        /* loadscope version */
    int64_t started_unix_ns;
};

/* Inserts a session row; *session_id receives its id. Synchronous (before the run). */
LS_MUST_CHECK ls_err store_session_begin(struct store *st, const struct store_session_info *info,
                                         int64_t *session_id);

/* Records step idx of the session (synchronous, before the run). */
LS_MUST_CHECK ls_err store_add_step(struct store *st, int64_t session_id, int idx, const char *name,
                                    const char *method, uint32_t weight, const char *params);

/* Marks the session ended with the run's exit status (synchronous, after the writer finished). */
LS_MUST_CHECK ls_err store_session_end(struct store *st, int64_t session_id, int64_t ended_unix_ns,
                                       int exit_code, const char *status_text);

/* One second of one step (step -1: all steps together). Latencies in microseconds. */
struct store_interval {
    uint32_t second;            /* seconds since the run's start (warm-up included) */
    int32_t step;
    uint8_t warmup;             /* 1 if the second lies in the warm-up */
    uint64_t count;             /* completed requests */
    uint64_t errors;            /* of which failed */
    uint64_t late;              /* open loop: sent late */
    int64_t p50_us, p90_us, p99_us, p999_us, max_us;        /* corrected */
    int64_t u_p50_us, u_p90_us, u_p99_us, u_p999_us, u_max_us; /* uncorrected */
    double mean_us, u_mean_us;
    const uint8_t *hist;        /* encoded corrected histogram (hdr_encode) */
    size_t hist_len;
    const uint8_t *u_hist;      /* encoded uncorrected histogram */
    size_t u_hist_len;
};

/* A step's result over the measured part of the run (warm-up excluded). */
struct store_summary {
    int32_t step;               /* -1: all steps */
    uint64_t count, errors;
    double rate;                /* completed per second of measured time */
    uint64_t err_by_class[LS_EC__COUNT];
    int64_t p50_us, p90_us, p99_us, p999_us, max_us;
    int64_t u_p50_us, u_p90_us, u_p99_us, u_p999_us, u_max_us;
    double mean_us, u_mean_us;
};

struct store_writer;

/*
 * Starts the writer thread for session_id (LS_ERR_NOTFOUND if there is no
 * such session). The writer opens its own connection to st's file; st must
 * outlive the writer, and finish reports its errors in store_errmsg(st).
 */
LS_MUST_CHECK ls_err store_writer_start(struct store *st, int64_t session_id,
                                        struct store_writer **out);

/* Queues copies of n samples. Never waits on the disk. Thread-safe. */
LS_MUST_CHECK ls_err store_writer_samples(struct store_writer *w, const struct ls_sample *s,
                                          size_t n);
/*
 * Queues an interval (the histogram bytes are copied; a NULL or empty one is
 * stored as SQL NULL). Thread-safe.
 */
LS_MUST_CHECK ls_err store_writer_interval(struct store_writer *w, const struct store_interval *iv);
/*
 * Queues a summary row. Thread-safe. err_json is stored as an object of
 * ls_errclass_name -> count for every class with a non-zero count.
 */
LS_MUST_CHECK ls_err store_writer_summary(struct store_writer *w, const struct store_summary *sm);
/* Queues a run event: kind is a short word ("error", "target_exit", "session_lost", ...). */
LS_MUST_CHECK ls_err store_writer_event(struct store_writer *w, uint64_t t_ns, const char *kind,
                                        const char *message);

/*
 * The writer's failure, if it met one: the first transaction the database
 * refused (disk full, a file size limit, an I/O error, a read-only file).
 * Returns LS_OK while none failed, else LS_ERR_DB with the message in msg
 * (may be NULL). Its rows stay queued and are retried, but a run should stop:
 * what follows would not be stored either. Thread-safe.
 */
ls_err store_writer_failed(struct store_writer *w, char *msg, size_t cap);

/*
 * Calls fn(ctx, message) once, on the writer's thread, when the first
 * transaction fails (see store_writer_failed), so the caller can say so at
 * once and stop the run. fn must not call store_writer_finish. Set it right
 * after store_writer_start.
 */
void store_writer_on_failure(struct store_writer *w, void (*fn)(void *ctx, const char *message),
                             void *ctx);

/*
 * Writes everything still queued, stops and frees the writer. Returns the
 * first error the thread met (all later writes were still attempted).
 */
LS_MUST_CHECK ls_err store_writer_finish(struct store_writer *w);

/* Rows committed so far (samples); readable from any thread. */
uint64_t store_writer_committed(const struct store_writer *w);

/*
 * Errors the writer has met so far (each failed statement or transaction,
 * and a final give-up); readable from any thread. A failed transaction keeps
 * its rows queued and is retried, so errors > 0 does not by itself mean rows
 * were lost; store_writer_finish says whether any were.
 */
uint64_t store_writer_errors(const struct store_writer *w);

/* Listing for `loadscope sessions`. */
struct store_session_row {
    int64_t id;
    const char *name;
    const char *target;
    int64_t started_unix_ns;
    int64_t ended_unix_ns;      /* 0 while running or when the run died */
    int exit_code;
    const char *status_text;
    int64_t samples;
};
typedef int (*store_session_fn)(void *ctx, const struct store_session_row *row);
/*
 * Calls fn for each session, newest first; fn returns non-zero to stop.
 * The row's strings are valid only during the call ("" for a NULL column).
 */
LS_MUST_CHECK ls_err store_list_sessions(struct store *st, store_session_fn fn, void *ctx);

#endif
