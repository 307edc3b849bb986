/*
 * hotpaths_store: the hot-path model (core/alloc/hotpaths.h) fed from a
 * stored session, for replay: the same stacks, per-second rows, /proc rows
 * and requests per second the live run fed it, read back from SQLite.
 */
#ifndef LS_APP_HOTPATHS_STORE_H
#define LS_APP_HOTPATHS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "util/lserr.h"

struct store;
struct hotpaths;

/*
 * Builds the model of session id into *out (the caller closes it with
 * hotpaths_close). *out stays NULL, and LS_OK is returned, when the session
 * has no stacks. On failure, why is in err.
 */
LS_MUST_CHECK ls_err hotpaths_load(struct store *st, int64_t session, struct hotpaths **out, char *err,
                                   size_t errcap);

#endif
