/*
 * alloc_reader: the reader thread that receives the shim's streams.
 *
 * It accepts a connection per traced process (and per image a process
 * exec's), reads each without blocking into the connection's buffer, cuts
 * the buffer into messages (shim/lsalloc_wire.h) and acts on them: a hello
 * starts watching the pid, maps feed the connection's symbol table, a new
 * stack is symbolized once (alloc_stacks.c), deltas go into the current
 * second (alloc_seconds.c), counters are kept for status and summaries.
 * Between reads it lets alloc_tick() sample /proc and close seconds; at the
 * end it drains every connection, warns about processes that ended without
 * their last batch and closes every open second.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lsalloc_wire.h"
#include "alloc/alloc.h"
#include "alloc/alloc_int.h"
#include "symbols/symbols.h"

/* ---- messages --------------------------------------------------------------- */

static void on_message(struct alloc *a, struct alloc_conn *c, uint32_t type, const uint8_t *p,
                       uint32_t len)
{
    if (!c->hello && type != LSW_HELLO) {
        alloc_event(a, "alloc_error", "a traced process sent message %u before its hello", type);
        return;
    }
    switch (type) {
    case LSW_HELLO: {
        struct lsw_hello h;
        if (len < sizeof(h) || c->hello)
            break;
        memcpy(&h, p, sizeof(h));
        h.exe[sizeof(h.exe) - 1] = '\0';
        if (h.version != LSW_VERSION) {
            alloc_event(a, "alloc_error", "pid %d: tracer speaks version %u, loadscope %u", h.pid,
                       h.version, LSW_VERSION);
            break;
        }
        pthread_mutex_lock(&a->lock); /* snapshots and summaries read these */
        c->hello = true;
        c->pid = h.pid;
        c->ppid = h.ppid;
        c->mode = h.mode;
        c->unwind = h.unwind;
        c->exec_image = (h.flags & LSW_HELLO_EXEC) != 0;
        pthread_mutex_unlock(&a->lock);
        alloc_watch_pid(a, h.pid);
        alloc_event(a, "alloc_start", "tracing pid %d (%s)%s, mode %s", h.pid, h.exe,
                   c->exec_image ? " after exec" : "",
                   h.mode == LSW_MODE_COUNT ? "count" : h.mode == LSW_MODE_FULL ? "full" : "sampled");
        break;
    }
    case LSW_MAPS: {
        uint32_t n;
        size_t off = sizeof(n);
        if (len < sizeof(n))
            break;
        memcpy(&n, p, sizeof(n));
        for (uint32_t i = 0; i < n && off + sizeof(struct lsw_map) <= len; i++) {
            struct lsw_map m;
            memcpy(&m, p + off, sizeof(m));
            off += sizeof(m);
            if (m.path_len > len - off || m.path_len >= 4096)
                break;
            char path[4096];
            memcpy(path, p + off, m.path_len);
            path[m.path_len] = '\0';
            off += m.path_len;
            if (path[0] == '/')
                alloc_add_module(c, m.start, m.end, m.offset, path);
        }
        break;
    }
    case LSW_STACK: {
        struct lsw_stack s;
        if (len < sizeof(s))
            break;
        memcpy(&s, p, sizeof(s));
        if (s.nframes > LSW_MAX_FRAMES || sizeof(s) + (size_t)s.nframes * 8 != len || s.id == 0) {
            alloc_event(a, "alloc_error", "pid %d: malformed STACK message", c->pid);
            break;
        }
        uint64_t pcs[LSW_MAX_FRAMES];
        memcpy(pcs, p + sizeof(s), (size_t)s.nframes * 8);
        if (s.id < c->nkeys && c->keys[s.id] != 0)
            break; /* already known */
        struct alloc_stack *st = alloc_new_stack(a, c, pcs, s.nframes);
        if (st == NULL || !alloc_register_stack(a, c, s.id, st)) {
            alloc_stack_free(st); /* not registered: nobody else holds it */
            alloc_event(a, "alloc_error", "pid %d: out of memory for a stack", c->pid);
        }
        break;
    }
    case LSW_DELTA:
        if (len >= sizeof(struct lsw_delta_head))
            alloc_on_delta(a, c, p, len);
        break;
    case LSW_COUNTERS:
        if (len >= sizeof(struct lsw_counters)) {
            pthread_mutex_lock(&a->lock);
            memcpy(&c->ctr, p, sizeof(c->ctr));
            c->unwind = c->ctr.unwind;
            pthread_mutex_unlock(&a->lock);
        }
        break;
    case LSW_INSIDE:
    case LSW_PEER:
    case LSW_NAME:
        alloc_inside_on_message(a, c, type, p, len);
        break;
    case LSW_BYE:
        pthread_mutex_lock(&a->lock);
        c->bye = true;
        pthread_mutex_unlock(&a->lock);
        break;
    default:
        alloc_event(a, "alloc_error", "pid %d: unknown message type %u", c->pid, type);
    }
}

/* Parses what is buffered; false when the stream is corrupt (the connection is dropped). */
static bool parse_buffer(struct alloc *a, struct alloc_conn *c)
{
    size_t off = 0;
    while (c->len - off >= sizeof(struct lsw_header)) {
        struct lsw_header h;
        memcpy(&h, c->buf + off, sizeof(h));
        if (h.len > LSW_MAX_PAYLOAD) {
            alloc_event(a, "alloc_error", "pid %d: message of %u bytes refused (at most %u)",
                       c->pid, h.len, LSW_MAX_PAYLOAD);
            return false;
        }
        if (c->len - off - sizeof(h) < h.len)
            break;
        on_message(a, c, h.type, c->buf + off + sizeof(h), h.len);
        off += sizeof(h) + h.len;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    return true;
}

/* ---- connections and the thread --------------------------------------------- */

static void conn_close(struct alloc *a, struct alloc_conn *c)
{
    if (c->closed)
        return;
    epoll_ctl(a->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    pthread_mutex_lock(&a->lock); /* alloc_finish waits on closed */
    c->fd = -1;
    c->closed = true;
    pthread_mutex_unlock(&a->lock);
}

/*
 * A connection that closed without its last batch: killed, an _exit that
 * found the flush lock busy for 100 ms, or an exec (the socket closes with the
 * old image; the new one says hello again with LSW_HELLO_EXEC). Judged when
 * the reader ends, since the new image's hello may be read before or after the
 * old connection's end.
 */
static void warn_unfinished(struct alloc *a)
{
    for (size_t i = 0; i < a->nconns; i++) {
        const struct alloc_conn *c = a->conns[i];
        if (!c->hello || c->bye || !c->closed)
            continue;
        bool exec = false; /* a later image of the same process replaced this one */
        for (size_t j = i + 1; j < a->nconns; j++)
            exec |= a->conns[j]->pid == c->pid && a->conns[j]->exec_image;
        if (exec)
            continue; /* its last 200 ms belong to the image it replaced itself with */
        alloc_event(a, "alloc_warning",
                   "pid %d ended without its last batch (killed, or its goodbye could not be sent): "
                   "up to 200 ms of its allocations are missing",
                   c->pid);
    }
}

static void conn_read(struct alloc *a, struct alloc_conn *c)
{
    for (;;) {
        if (c->cap - c->len < 65536) {
            size_t nc = c->cap ? c->cap * 2 : 262144;
            uint8_t *nb = realloc(c->buf, nc);
            if (nb == NULL) {
                conn_close(a, c);
                return;
            }
            c->buf = nb;
            c->cap = nc;
        }
        ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            (void)parse_buffer(a, c);
            conn_close(a, c);
            return;
        }
        c->len += (size_t)r;
        if (!parse_buffer(a, c)) {
            conn_close(a, c);
            return;
        }
    }
}

static void accept_all(struct alloc *a)
{
    for (;;) {
        int fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct alloc_conn *c = calloc(1, sizeof(*c));
        if (c == NULL || a->nconns >= ALLOC_MAX_CONNS || sym_open_offline(&c->sym) != LS_OK) {
            alloc_event(a, "alloc_error", "too many traced processes (at most %d) or no memory",
                       ALLOC_MAX_CONNS);
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev);
        pthread_mutex_lock(&a->lock);
        a->conns[a->nconns++] = c;
        pthread_mutex_unlock(&a->lock);
    }
}

static bool all_done(struct alloc *a)
{
    for (size_t i = 0; i < a->nconns; i++)
        if (!a->conns[i]->closed)
            return false;
    return true;
}

/*
 * The reader runs behind the target and the load: naming a new stack reads
 * debug information (a libc with libc6-dbg takes about 70 ms of CPU), and a
 * tracer that takes a core from the program it measures changes the figures.
 * The shim's sends block rather than drop while the reader is behind.
 */
#define READER_NICE 10

void *alloc_reader_main(void *arg)
{
    struct alloc *a = arg;
    struct epoll_event evs[16];
    /* Linux applies nice per thread; failure (a locked-down system) is harmless. */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), READER_NICE);
    for (;;) {
        int stop = atomic_load(&a->stop);
        if (stop && all_done(a))
            break;
        int n = epoll_wait(a->epfd, evs, 16, 100);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL)
                accept_all(a);
            else
                conn_read(a, evs[i].data.ptr);
        }
        if (stop == 2)
            break; /* waited long enough */
        alloc_tick(a, false);
    }
    accept_all(a);
    for (size_t i = 0; i < a->nconns; i++)
        if (!a->conns[i]->closed)
            conn_read(a, a->conns[i]);
    warn_unfinished(a);
    alloc_tick(a, true);
    return NULL;
}
