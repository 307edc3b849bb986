/*
 * alloc: the allocation profiler's handle and its public entry points (see
 * alloc.h): opening the tracer's socket and starting the reader thread, the
 * environment a target is launched with, the run's origin, request counts,
 * watched pids, finishing and closing.
 *
 * One thread (the reader) owns the listening socket, every connection (one
 * per traced process) and their symbol tables; a mutex in struct alloc
 * guards what other threads read (the stack list for snapshots, request
 * counts, status), and the reader holds it for the time of one batch, never
 * across I/O. The rest of the module is split by what it does:
 *   alloc_reader.c    the reader thread: accepting connections, reading and
 *                     parsing the shim's messages (shim/lsalloc_wire.h)
 *   alloc_stacks.c    turning a new stack into text once and registering it
 *   alloc_seconds.c   per-second buckets: deltas and /proc samples in,
 *                     closed seconds out to the sink
 *   alloc_snapshot.c  what other threads read: hot paths, status, and
 *                     per-process summaries
 *   alloc_target.c    the target's ELF file, /proc figures, stacks as text
 * alloc_int.h holds the types and functions these files share.
 */
#include "alloc/alloc.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lsalloc_wire.h"
#include "alloc/alloc_int.h"
#include "symbols/symbols.h"

const char *alloc_mode_name(enum alloc_mode m)
{
    switch (m) {
    case ALLOC_COUNT:
        return "count";
    case ALLOC_FULL:
        return "full";
    case ALLOC_SAMPLED:
        return "sampled";
    default:
        return NULL;
    }
}

bool alloc_mode_parse(const char *s, enum alloc_mode *out)
{
    static const enum alloc_mode all[] = {ALLOC_COUNT, ALLOC_FULL, ALLOC_SAMPLED};
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(s, alloc_mode_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    }
    return false;
}

uint64_t alloc_now_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void alloc_event(struct alloc *a, const char *kind, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (strcmp(kind, "alloc_warning") == 0 && a->warning[0] == '\0')
        snprintf(a->warning, sizeof(a->warning), "%s", msg);
    if (a->sink.event)
        a->sink.event(a->sink.ctx, kind, msg);
}

/* ---- public ------------------------------------------------------------------ */

static void set_env(struct alloc *a, const char *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_env(struct alloc *a, const char *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->envbuf[a->nenv], sizeof(a->envbuf[0]), fmt, ap);
    va_end(ap);
    snprintf(a->keybuf[a->nenv], sizeof(a->keybuf[0]), "%s", k);
    a->env[a->nenv].key = a->keybuf[a->nenv];
    a->env[a->nenv].value = a->envbuf[a->nenv];
    a->nenv++;
}

ls_err alloc_open(const struct alloc_opts *o, const struct alloc_sink *sink, struct alloc **out,
                  char *err, size_t errcap)
{
    ls_err rc = LS_ERR_IO;
    struct alloc *a = calloc(1, sizeof(*a));
    *out = NULL;
    if (a == NULL)
        return LS_ERR_NOMEM;
    a->o = *o;
    a->o.shim_path = NULL;
    a->o.worker_threads = NULL; /* the caller's string: given to the environment below */
    if (sink)
        a->sink = *sink;
    a->lfd = a->epfd = -1;
    pthread_mutex_init(&a->lock, NULL);
    atomic_store(&a->origin_ns, alloc_now_unix_ns());
    if (o->shim_path) {
        snprintf(a->shim, sizeof(a->shim), "%s", o->shim_path);
    } else if (alloc_default_shim(a->shim, sizeof(a->shim)) != LS_OK) {
        snprintf(err, errcap, "cannot find libloadscope-shim.so next to the loadscope executable");
        rc = LS_ERR_NOTFOUND;
        goto fail;
    }
    if (access(a->shim, R_OK) != 0) {
        snprintf(err, errcap, "allocation tracer %s: %s", a->shim, strerror(errno));
        rc = LS_ERR_NOTFOUND;
        goto fail;
    }
    snprintf(a->dir, sizeof(a->dir), "/tmp/loadscope-alloc-XXXXXX");
    if (mkdtemp(a->dir) == NULL) {
        snprintf(err, errcap, "cannot create a directory for the tracer's socket: %s",
                 strerror(errno));
        a->dir[0] = '\0';
        goto fail;
    }
    snprintf(a->path, sizeof(a->path), "%s/sock", a->dir);
    a->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, a->path, strlen(a->path) + 1);
    if (a->lfd < 0 || bind(a->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(a->lfd, 64) != 0) {
        snprintf(err, errcap, "tracer socket %s: %s", a->path, strerror(errno));
        goto fail;
    }
    a->epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (a->epfd < 0 || epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->lfd, &ev) != 0) {
        snprintf(err, errcap, "epoll: %s", strerror(errno));
        goto fail;
    }
    set_env(a, LSW_ENV_SOCKET, "%s", a->path);
    set_env(a, LSW_ENV_MODE, "%s", alloc_mode_name(o->mode) ? alloc_mode_name(o->mode) : "full");
    if (o->depth)
        set_env(a, LSW_ENV_DEPTH, "%u", o->depth);
    if (o->sample_bytes)
        set_env(a, LSW_ENV_SAMPLE_BYTES, "%" PRIu64, o->sample_bytes);
    if (o->sample_every)
        set_env(a, LSW_ENV_SAMPLE_EVERY, "%" PRIu64, o->sample_every);
    if (o->follow_fork)
        set_env(a, LSW_ENV_FOLLOW_FORK, "1");
    if (o->worker_threads)
        set_env(a, LSW_ENV_WORKERS, "%s", o->worker_threads);
    if (pthread_create(&a->th, NULL, alloc_reader_main, a) != 0) {
        snprintf(err, errcap, "cannot start the allocation reader thread");
        goto fail;
    }
    a->started = true;
    *out = a;
    return LS_OK;
fail:
    alloc_close(a);
    return rc;
}

void alloc_inject(const struct alloc *a, const struct scn_kv **kv, size_t *n, const char **preload)
{
    *kv = a->env;
    *n = a->nenv;
    *preload = a->shim;
}

void alloc_set_origin(struct alloc *a, uint64_t unix_ns)
{
    atomic_store(&a->origin_ns, unix_ns);
}

void alloc_requests(struct alloc *a, uint32_t second, uint64_t count)
{
    pthread_mutex_lock(&a->lock);
    if (second >= a->nreq) {
        size_t nn = second + 64;
        uint64_t *r = realloc(a->requests, nn * sizeof(*r));
        if (r != NULL) {
            memset(r + a->nreq, 0, (nn - a->nreq) * sizeof(*r));
            a->requests = r;
            a->nreq = nn;
        }
    }
    if (second < a->nreq)
        a->requests[second] += count;
    pthread_mutex_unlock(&a->lock);
}

void alloc_watch_pid(struct alloc *a, pid_t pid)
{
    pthread_mutex_lock(&a->lock);
    bool have = false;
    for (size_t i = 0; i < a->nwatch; i++)
        have |= a->watch[i] == (int)pid;
    if (!have && a->nwatch < ALLOC_MAX_CONNS)
        a->watch[a->nwatch++] = (int)pid;
    pthread_mutex_unlock(&a->lock);
}

void alloc_finish(struct alloc *a, uint64_t wait_ns)
{
    if (a == NULL || !a->started)
        return;
    atomic_store(&a->stop, 1);
    struct timespec ts = {0, 20000000};
    for (uint64_t waited = 0; waited < wait_ns; waited += 20000000) {
        bool done;
        pthread_mutex_lock(&a->lock);
        done = true;
        for (size_t i = 0; i < a->nconns; i++)
            done &= a->conns[i]->closed;
        pthread_mutex_unlock(&a->lock);
        if (done)
            break;
        nanosleep(&ts, NULL);
    }
    atomic_store(&a->stop, 2);
    pthread_join(a->th, NULL);
    a->started = false;
}

void alloc_close(struct alloc *a)
{
    if (a == NULL)
        return;
    if (a->started)
        alloc_finish(a, 0);
    alloc_inside_free(a);
    for (size_t i = 0; i < a->nconns; i++) {
        struct alloc_conn *c = a->conns[i];
        if (!c->closed && c->fd >= 0)
            close(c->fd);
        sym_close(c->sym);
        free(c->buf);
        free(c->keys);
        free(c->mod_starts);
        free(c);
    }
    for (size_t i = 0; i < a->nstacks; i++)
        alloc_stack_free(a->stacks[i]);
    for (size_t i = 0; i < ALLOC_RING; i++) {
        free(a->ring[i].rows);
        for (size_t k = 0; k < a->ring[i].nprocs; k++)
            free(a->ring[i].names[k]);
    }
    free(a->stacks);
    free(a->requests);
    if (a->lfd >= 0)
        close(a->lfd);
    if (a->epfd >= 0)
        close(a->epfd);
    if (a->path[0])
        unlink(a->path);
    if (a->dir[0])
        rmdir(a->dir);
    pthread_mutex_destroy(&a->lock);
    free(a);
}
