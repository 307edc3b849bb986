/*
 * store_inside_int: how the inside rows are created and written, for the
 * storage files that do it (store.c's migrations, store_alloc.c's
 * per-second transaction). Included by storage files only.
 */
#ifndef LS_STORE_INSIDE_INT_H
#define LS_STORE_INSIDE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "alloc/alloc.h"
#include "util/lserr.h"

/* The schema's version 6: the inside_seconds table. */
LS_MUST_CHECK ls_err store_inside_migrate(sqlite3 *db, char *msg, size_t cap);

/* Prepares the insert of an inside row on db. */
LS_MUST_CHECK ls_err store_inside_prepare(sqlite3 *db, sqlite3_stmt **out, char *msg, size_t cap);

/* Writes a closed second's inside rows with ins (inside the caller's transaction). */
LS_MUST_CHECK ls_err store_inside_write(sqlite3 *db, sqlite3_stmt *ins, int64_t session_id,
                                        const struct alloc_interval *iv, char *msg, size_t cap);

#endif
