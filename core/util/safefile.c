/*
 * safefile: a file written whole or not at all (see safefile.h).
 */
#include "util/safefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define SAFEFILE_TRIES 32 /* names tried before giving up (each taken one is someone's) */

/* Six characters from [A-Za-z0-9], from the kernel's random source (or the clock if it fails). */
static void random_suffix(char out[7])
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[6];

    if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        struct timespec t;
        uint64_t v;

        clock_gettime(CLOCK_REALTIME, &t);
        v = (uint64_t)t.tv_nsec * 2654435761u ^ (uint64_t)getpid() << 20 ^ (uint64_t)t.tv_sec;
        for (int i = 0; i < 6; i++, v >>= 8)
            r[i] = (unsigned char)v;
    }
    for (int i = 0; i < 6; i++)
        out[i] = set[r[i] % (sizeof(set) - 1)];
    out[6] = '\0';
}

static void empty(struct safefile *sf)
{
    free(sf->dest);
    free(sf->tmp);
    sf->dest = sf->tmp = NULL;
    sf->f = NULL;
}

ls_err safefile_open(const char *dest, struct safefile *sf, char *err, size_t errcap)
{
    size_t n = strlen(dest);
    int fd = -1;

    memset(sf, 0, sizeof(*sf));
    sf->dest = strdup(dest);
    sf->tmp = malloc(n + 16);
    if (sf->dest == NULL || sf->tmp == NULL) {
        empty(sf);
        snprintf(err, errcap, "out of memory");
        return LS_ERR_NOMEM;
    }
    for (int i = 0; i < SAFEFILE_TRIES && fd < 0; i++) {
        char sfx[7];

        random_suffix(sfx);
        snprintf(sf->tmp, n + 16, "%s.%s.tmp", dest, sfx);
        fd = open(sf->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        snprintf(err, errcap, "creating %s: %s", sf->tmp, strerror(errno));
        empty(sf);
        return LS_ERR_IO;
    }
    sf->f = fdopen(fd, "w");
    if (sf->f == NULL) {
        snprintf(err, errcap, "opening %s: %s", sf->tmp, strerror(errno));
        close(fd);
        unlink(sf->tmp);
        empty(sf);
        return LS_ERR_IO;
    }
    return LS_OK;
}

ls_err safefile_commit(struct safefile *sf, char *err, size_t errcap)
{
    ls_err rc = LS_OK;

    if (sf->f == NULL) {
        snprintf(err, errcap, "no file open");
        empty(sf);
        return LS_ERR_INVALID;
    }
    if (fflush(sf->f) != 0 || fsync(fileno(sf->f)) != 0) {
        snprintf(err, errcap, "writing %s: %s", sf->dest, strerror(errno));
        rc = LS_ERR_IO;
    }
    if (fclose(sf->f) != 0 && rc == LS_OK) {
        snprintf(err, errcap, "writing %s: %s", sf->dest, strerror(errno));
        rc = LS_ERR_IO;
    }
    sf->f = NULL;
    if (rc == LS_OK && rename(sf->tmp, sf->dest) != 0) {
        snprintf(err, errcap, "renaming %s to %s: %s", sf->tmp, sf->dest, strerror(errno));
        rc = LS_ERR_IO;
    }
    if (rc != LS_OK)
        unlink(sf->tmp);
    empty(sf);
    return rc;
}

void safefile_abort(struct safefile *sf)
{
    if (sf->f != NULL)
        fclose(sf->f);
    if (sf->tmp != NULL)
        unlink(sf->tmp);
    empty(sf);
}
