/*
 * safefile: writing a file whole or not at all, without trusting the
 * directory it goes to.
 *
 * The content goes to a new temporary file beside the destination (so the
 * final rename stays on one filesystem), named DEST.XXXXXX.tmp with a random
 * suffix and created with O_CREAT|O_EXCL|O_NOFOLLOW: a name planted there in
 * advance (a symlink to someone's file, or to one of ours) is never opened,
 * let alone followed or overwritten. Its mode is 0666 less the umask, as for
 * any new file: 0644 under the usual umask 022, 0600 under 077. Commit
 * flushes it to disk and renames it over the destination; abort removes it.
 */
#ifndef LS_SAFEFILE_H
#define LS_SAFEFILE_H

#include <stddef.h>
#include <stdio.h>

#include "util/lserr.h"

struct safefile {
    char *dest;  /* owned copy of the destination path */
    char *tmp;   /* owned: the temporary file's path */
    FILE *f;     /* the stream to write to (owned until commit or abort) */
};

/* Creates the temporary file for dest; sf->f is where to write. On failure err says why. */
LS_MUST_CHECK ls_err safefile_open(const char *dest, struct safefile *sf, char *err, size_t errcap);

/*
 * Flushes, syncs and closes the stream, then renames the temporary file over
 * dest. On failure the temporary file is removed and err says why. sf is
 * emptied either way.
 */
LS_MUST_CHECK ls_err safefile_commit(struct safefile *sf, char *err, size_t errcap);

/* Closes the stream and removes the temporary file; sf is emptied. Safe after a failed open. */
void safefile_abort(struct safefile *sf);

#endif
