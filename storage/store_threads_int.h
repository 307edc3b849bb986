/*
 * store_threads_int: what store_threads.c and store_threads_cpu.c share, and
 * the migration store.c runs; storage files only.
 */
#ifndef LS_STORE_THREADS_INT_H
#define LS_STORE_THREADS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store_int.h"

/* Schema version 10: the thread and CPU profile tables (described in store_threads.h). */
LS_MUST_CHECK ls_err store_threads_migrate(sqlite3 *db, char *msg, size_t cap);

/* A writer's own connection to st's database file; on failure st's message says why. */
LS_MUST_CHECK ls_err store_threads_connect(struct store *st, sqlite3 **db, const char *what);

/* Prepares sql on st's connection with session_id bound to ?1. */
LS_MUST_CHECK ls_err store_threads_prepare(struct store *st, const char *sql, int64_t session_id,
                                          sqlite3_stmt **out);

/* Finalizes s; LS_ERR_DB with what in st's message when rc is an error. */
LS_MUST_CHECK ls_err store_threads_done(struct store *st, sqlite3_stmt *s, int rc, const char *what);

/* Calls fn with the requests completed in each second of the session (intervals, step -1). */
LS_MUST_CHECK ls_err store_threads_requests(struct store *st, int64_t session_id,
                                           void (*fn)(void *ctx, uint32_t second, uint64_t count),
                                           void *ctx);

#endif
