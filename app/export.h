/*
 * export: a stored session written out as CSV, JSON or JSON Lines.
 *
 * One library for `loadscope export` and the dashboard's e key alike: it
 * reads through storage's streaming readers and writes to a FILE (or to a
 * path, through PATH.tmp renamed over PATH once complete), prints nothing,
 * touches no signal handler or file descriptor, and says what went wrong in
 * the caller's buffer. Rows stream from the database to the output: an
 * export of millions of samples runs in the same memory as one of a hundred.
 *
 * What can be exported ("whats": samples, intervals, summary, hotpaths,
 * folded, findings) and how ("formats": csv, json, jsonl) are two tables
 * (export_int.h); the command line and the usage text name their rows. A
 * what may have a text format of its own: findings' markdown, the hand-off
 * report.
 * The JSON shapes are described by docs/export.schema.json.
 */
#ifndef LS_EXPORT_H
#define LS_EXPORT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/lserr.h"

struct store;

struct export_opts {
    const char *what;     /* a what's name: "samples", "intervals", "summary", ... */
    const char *format;   /* "csv", "json", "jsonl"; NULL: csv (folded: its own text) */
    const char *out_name; /* names the output in messages ("standard output", a path);
                             NULL: "the output" */
    const volatile sig_atomic_t *stop; /* non-NULL: read after every row; once non-zero the
                                          export stops with LS_ERR_INTERRUPTED */
};

struct export_result {
    uint64_t rows;   /* rows written (folded: lines), a CSV header not counted */
    bool tabular;    /* rows are records of a format (false: folded stacks) */
    char note[320];  /* non-empty: worth telling the user though not an error (a
                        session that has no summary because it did not finish) */
};

/*
 * Checks that opts names a known what and a format it can be written in,
 * before anything is opened. LS_ERR_INVALID with a message naming the
 * choices otherwise.
 */
LS_MUST_CHECK ls_err export_check(const struct export_opts *opts, char *err, size_t errcap);

/*
 * Writes opts->what of session (an existing id) in opts->format to out, and
 * flushes it. out is borrowed and left open. res may be NULL.
 *
 * Returns LS_OK; LS_ERR_INVALID for a bad what or format; LS_ERR_NOTFOUND
 * when there is no such session, or nothing of that kind to export (hotpaths
 * of a session traced without stacks); LS_ERR_IO when writing failed;
 * LS_ERR_INTERRUPTED when *opts->stop was set; LS_ERR_DB or LS_ERR_NOMEM.
 * err gets a message in every case but LS_OK. On an error after the first
 * byte, out holds an incomplete export.
 */
LS_MUST_CHECK ls_err export_session(struct store *st, int64_t session,
                                    const struct export_opts *opts, FILE *out,
                                    struct export_result *res, char *err, size_t errcap);

/*
 * As export_session, into path: written to path.tmp, synced and renamed over
 * path only when complete. On any error path.tmp is removed and path is left
 * as it was (and nothing is created when the session has nothing to export).
 */
LS_MUST_CHECK ls_err export_session_file(struct store *st, int64_t session,
                                         const struct export_opts *opts, const char *path,
                                         struct export_result *res, char *err, size_t errcap);

/* The names of the whats (i from 0; NULL past the last) and of the formats. */
const char *export_what_name(size_t i);
const char *export_format_name(size_t i);

#endif
