/*
 * proc_log: the launched target's output, kept as a ring of its last
 * PROC_LOG_RING_BYTES and counted beyond that.
 *
 * The target writes its stderr (and its stdout when that is not an MCP
 * pipe) into a pipe; a drain thread per target reads it into the ring as
 * fast as it comes, so the target never blocks on its own logging and
 * loadscope holds the ring and nothing more, on disk or in memory, however
 * much it prints. proc_log_tail also reads what is waiting in the pipe
 * before quoting, so the last lines of a target that just died are there
 * without waiting on the thread. An eventfd ends the thread at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "target/proc_int.h"

/* Bytes one pump takes from the pipe before letting go of the lock. */
#define PROC_LOG_PUMP_MAX (1024 * 1024)

/*
 * Reads what the pipe holds (at most max bytes) into the ring, under log_mu.
 * Returns false once the pipe is at its end or broken.
 */
static bool pump_locked(struct ls_proc *p, size_t max)
{
    size_t taken = 0;

    while (!p->log_eof && p->log_fd >= 0 && taken < max) {
        size_t room = PROC_LOG_RING_BYTES - p->ring_head;
        ssize_t n = read(p->log_fd, p->ring + p->ring_head, room);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            p->log_eof = true;
            break;
        }
        p->ring_head = (p->ring_head + (size_t)n) % PROC_LOG_RING_BYTES;
        p->ring_len += (size_t)n;
        if (p->ring_len > PROC_LOG_RING_BYTES)
            p->ring_len = PROC_LOG_RING_BYTES;
        p->log_bytes += (uint64_t)n;
        taken += (size_t)n;
    }
    return !p->log_eof;
}

static void *drain_main(void *arg)
{
    struct ls_proc *p = arg;
    struct pollfd pf[2] = {{.fd = p->log_fd, .events = POLLIN}, {.fd = p->wake_fd, .events = POLLIN}};

    for (;;) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[1].revents != 0)
            break;
        if (pf[0].revents == 0)
            continue;
        pthread_mutex_lock(&p->log_mu);
        bool more = pump_locked(p, PROC_LOG_PUMP_MAX);
        pthread_mutex_unlock(&p->log_mu);
        if (!more)
            break;
    }
    return NULL;
}

ls_err proc_log_start(struct ls_proc *p, char *err, size_t errcap)
{
    pthread_attr_t attr;
    sigset_t all, old;
    int rc;

    fcntl(p->log_fd, F_SETFL, fcntl(p->log_fd, F_GETFL) | O_NONBLOCK);
    p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->wake_fd < 0) {
        snprintf(err, errcap, "eventfd: %s", strerror(errno));
        return LS_ERR_IO;
    }
    if (pthread_attr_init(&attr) != 0) {
        snprintf(err, errcap, "cannot start the thread reading the target's output");
        return LS_ERR_NOMEM;
    }
    /* It reads straight into the ring: a small stack is plenty. */
    pthread_attr_setstacksize(&attr, 64 * 1024);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&p->drain, &attr, drain_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        snprintf(err, errcap, "cannot start the thread reading the target's output: %s",
                 strerror(rc));
        return LS_ERR_NOMEM;
    }
    p->drain_started = true;
    return LS_OK;
}

void proc_log_stop(struct ls_proc *p)
{
    if (p->drain_started) {
        uint64_t one = 1;
        ssize_t w = write(p->wake_fd, &one, sizeof(one));

        (void)w;
        pthread_join(p->drain, NULL);
        p->drain_started = false;
    }
    if (p->wake_fd >= 0)
        close(p->wake_fd);
    p->wake_fd = -1;
    if (p->log_fd >= 0)
        close(p->log_fd);
    p->log_fd = -1;
}

void proc_log_tail(struct ls_proc *p, char *buf, size_t cap)
{
    size_t n, from, skip = 0;
    uint64_t dropped;

    if (cap == 0)
        return;
    buf[0] = '\0';
    if (!p || !p->log_mu_ready)
        return;
    pthread_mutex_lock(&p->log_mu);
    (void)pump_locked(p, PROC_LOG_PUMP_MAX);
    n = cap - 1;
    /* When some is left out, keep room for the marker that says how much. */
    if ((p->log_bytes > n || p->ring_len > n) && n > 128)
        n -= 64;
    if (n > p->ring_len)
        n = p->ring_len;
    from = (p->ring_head + PROC_LOG_RING_BYTES - n) % PROC_LOG_RING_BYTES;
    for (size_t i = 0; i < n; i++)
        buf[i] = p->ring[(from + i) % PROC_LOG_RING_BYTES];
    buf[n] = '\0';
    dropped = p->log_bytes - n;
    pthread_mutex_unlock(&p->log_mu);

    /* NULs in the output would end the text early: show them as spaces. */
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    /* Start at a line when we cut, and drop the final newline. */
    if (dropped > 0) {
        char *nl = memchr(buf, '\n', n);

        if (nl != NULL && (size_t)(nl + 1 - buf) < n) {
            skip = (size_t)(nl + 1 - buf);
            dropped += skip;
        }
    }
    while (n > skip && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    size_t keep = n - skip;
    char head[64];
    int hl = 0;

    if (dropped > 0) {
        hl = snprintf(head, sizeof(head), "[%" PRIu64 " earlier bytes not kept]\n", dropped);
        if ((size_t)hl >= cap)
            hl = 0; /* no room even for the marker: the text alone */
    }
    /* The marker goes first; the text gives way to it at its start, keeping its end. */
    if ((size_t)hl + keep > cap - 1) {
        size_t cut = (size_t)hl + keep - (cap - 1);

        skip += cut;
        keep -= cut;
    }
    memmove(buf + hl, buf + skip, keep);
    memcpy(buf, head, (size_t)hl);
    buf[(size_t)hl + keep] = '\0';
}

uint64_t proc_log_bytes(struct ls_proc *p)
{
    uint64_t n;

    if (!p || !p->log_mu_ready)
        return 0;
    pthread_mutex_lock(&p->log_mu);
    (void)pump_locked(p, PROC_LOG_PUMP_MAX);
    n = p->log_bytes;
    pthread_mutex_unlock(&p->log_mu);
    return n;
}
