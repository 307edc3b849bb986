/*
 * shim_inside_hooks: the interposed calls that show what the target does
 * besides allocating (records kept by shim_inside.c).
 *
 * - connect, close, getaddrinfo: every thread. A TCP connect to an IP peer
 *   counts a new connection to that ip:port (nonblocking ones that are under
 *   way included), charged to its stack; closing that socket counts a close;
 *   each getaddrinfo counts a lookup of its name. socket, accept, accept4,
 *   dup2, dup3 and fclose only keep the per-fd tables right.
 * - sleeps, fsync and fdatasync, read/write/pread/pwrite on regular files,
 *   poll and select with a timeout: timed on async runtime workers only.
 *   Every other thread pays one thread-local compare and a jump to glibc.
 * - pthread_mutex_lock and pthread_rwlock_{rd,wr}lock try the lock first and
 *   time only a call that has to wait, so the uncontended path is glibc's
 *   trylock. syscall() is interposed for FUTEX_WAIT* (Rust's std Mutex,
 *   Condvar and thread parking, parking_lot): every wait is timed and charged
 *   to its stack, and loadscope tells a lock's wait from a thread parking by
 *   the functions on that stack. Every other system call is passed on as it
 *   came, with the six argument registers glibc's syscall() would pass.
 * - pthread_create counts thread creations per stack.
 * - prctl(PR_SET_NAME) and pthread_setname_np make the thread decide again
 *   whether it is a worker.
 *
 * glibc's definitions are looked up once (shim_inside_hooks_init, from the
 * constructor), or on first use by a call made before it ran. Each hook
 * keeps errno as glibc left it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <linux/futex.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shim_int.h"

#define RET __builtin_return_address(0)
#define FRAME __builtin_frame_address(0)
/* The hook's frame must outlive the record's stack walk: no tail call after it. */
#define KEEP_FRAME(x) __asm__ volatile("" : "+r"(x))
#define ACTIVE() atomic_load_explicit(&shim_active, memory_order_relaxed)

/* The next definition of name after ours (glibc's), looked up once into *slot. */
static void *lookup(const char *name, void *_Atomic *slot)
{
    void *sym = atomic_load_explicit(slot, memory_order_acquire);
    if (sym == NULL) {
        int guard = shim_tls.guard;
        shim_enter(); /* dlsym may allocate */
        sym = dlsym(RTLD_NEXT, name);
        if (!guard)
            shim_leave();
        atomic_store_explicit(slot, sym, memory_order_release);
    }
    return sym;
}

/* REAL(name): glibc's name as a typed pointer (ISO C has no cast from object to function pointer). */
#define DEFINE_REAL(name, ret, ...)                                                               \
    typedef ret (*name##_fn)(__VA_ARGS__);                                                        \
    static void *_Atomic name##_sym;                                                              \
    static inline name##_fn real_##name(void)                                                     \
    {                                                                                             \
        void *p = atomic_load_explicit(&name##_sym, memory_order_relaxed);                        \
        name##_fn f;                                                                              \
        if (SHIM_UNLIKELY(p == NULL))                                                             \
            p = lookup(#name, &name##_sym);                                                       \
        memcpy(&f, &p, sizeof(f));                                                                \
        return f;                                                                                 \
    }

DEFINE_REAL(connect, int, int, __CONST_SOCKADDR_ARG, socklen_t)
DEFINE_REAL(close, int, int)
DEFINE_REAL(fclose, int, FILE *)
DEFINE_REAL(dup2, int, int, int)
DEFINE_REAL(dup3, int, int, int, int)
DEFINE_REAL(socket, int, int, int, int)
DEFINE_REAL(accept, int, int, __SOCKADDR_ARG, socklen_t *)
DEFINE_REAL(accept4, int, int, __SOCKADDR_ARG, socklen_t *, int)
DEFINE_REAL(getaddrinfo, int, const char *, const char *, const struct addrinfo *,
            struct addrinfo **)
DEFINE_REAL(nanosleep, int, const struct timespec *, struct timespec *)
DEFINE_REAL(clock_nanosleep, int, clockid_t, int, const struct timespec *, struct timespec *)
DEFINE_REAL(usleep, int, useconds_t)
DEFINE_REAL(sleep, unsigned, unsigned)
DEFINE_REAL(fsync, int, int)
DEFINE_REAL(fdatasync, int, int)
DEFINE_REAL(read, ssize_t, int, void *, size_t)
DEFINE_REAL(write, ssize_t, int, const void *, size_t)
DEFINE_REAL(pread, ssize_t, int, void *, size_t, off_t)
DEFINE_REAL(pwrite, ssize_t, int, const void *, size_t, off_t)
DEFINE_REAL(pread64, ssize_t, int, void *, size_t, off_t)
DEFINE_REAL(pwrite64, ssize_t, int, const void *, size_t, off_t)
DEFINE_REAL(poll, int, struct pollfd *, nfds_t, int)
DEFINE_REAL(select, int, int, fd_set *, fd_set *, fd_set *, struct timeval *)
DEFINE_REAL(pthread_mutex_lock, int, pthread_mutex_t *)
DEFINE_REAL(pthread_mutex_trylock, int, pthread_mutex_t *)
DEFINE_REAL(pthread_rwlock_rdlock, int, pthread_rwlock_t *)
DEFINE_REAL(pthread_rwlock_tryrdlock, int, pthread_rwlock_t *)
DEFINE_REAL(pthread_rwlock_wrlock, int, pthread_rwlock_t *)
DEFINE_REAL(pthread_rwlock_trywrlock, int, pthread_rwlock_t *)
DEFINE_REAL(pthread_create, int, pthread_t *, const pthread_attr_t *, void *(*)(void *), void *)
DEFINE_REAL(pthread_setname_np, int, pthread_t, const char *)

void shim_inside_hooks_init(void)
{
    (void)real_connect();
    (void)real_close();
    (void)real_fclose();
    (void)real_dup2();
    (void)real_dup3();
    (void)real_socket();
    (void)real_accept();
    (void)real_accept4();
    (void)real_getaddrinfo();
    (void)real_nanosleep();
    (void)real_clock_nanosleep();
    (void)real_usleep();
    (void)real_sleep();
    (void)real_fsync();
    (void)real_fdatasync();
    (void)real_read();
    (void)real_write();
    (void)real_pread();
    (void)real_pwrite();
    (void)real_pread64();
    (void)real_pwrite64();
    (void)real_poll();
    (void)real_select();
    (void)real_pthread_mutex_lock();
    (void)real_pthread_mutex_trylock();
    (void)real_pthread_rwlock_rdlock();
    (void)real_pthread_rwlock_tryrdlock();
    (void)real_pthread_rwlock_wrlock();
    (void)real_pthread_rwlock_trywrlock();
    (void)real_pthread_create();
    (void)real_pthread_setname_np();
}

/* The worker flag of a record made by this thread. */
static inline uint32_t worker_flag(void)
{
    return shim_on_worker() ? LSW_IN_WORKER : 0;
}

/* ---- connections and names ---------------------------------------------------- */

SHIM_EXPORT int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
    const struct sockaddr *sa = addr.__sockaddr__;
    if (shim_tls.guard || !ACTIVE() || sa == NULL ||
        (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
        return real_connect()(fd, addr, len);
    uint64_t t0 = shim_mono_ns();
    int rc = real_connect()(fd, addr, len);
    uint64_t dt = shim_mono_ns() - t0;
    int saved = errno;
    int type = 0;
    socklen_t tl = sizeof(type);
    /* EALREADY, EISCONN: a connection already under way or made, not a new one */
    if ((rc == 0 || (saved != EALREADY && saved != EISCONN)) &&
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM) {
        bool ok = rc == 0 || saved == EINPROGRESS || saved == EINTR;
        uint32_t peer = shim_peer_id(sa, len);
        if (ok)
            shim_fd_peer(fd, peer);
        shim_inside_record(LSW_IN_CONNECT | worker_flag(), peer, !ok, dt, RET, FRAME);
    }
    errno = saved;
    KEEP_FRAME(rc);
    return rc;
}

SHIM_EXPORT int close(int fd)
{
    shim_fd_forget(fd);
    return real_close()(fd);
}

SHIM_EXPORT int fclose(FILE *f)
{
    if (f != NULL)
        shim_fd_forget(fileno(f));
    return real_fclose()(f);
}

SHIM_EXPORT int dup2(int oldfd, int newfd)
{
    if (oldfd != newfd)
        shim_fd_forget(newfd);
    return real_dup2()(oldfd, newfd);
}

SHIM_EXPORT int dup3(int oldfd, int newfd, int flags)
{
    if (oldfd != newfd)
        shim_fd_forget(newfd);
    return real_dup3()(oldfd, newfd, flags);
}

SHIM_EXPORT int socket(int domain, int type, int protocol)
{
    int fd = real_socket()(domain, type, protocol);
    shim_fd_other(fd);
    return fd;
}

SHIM_EXPORT int accept(int fd, __SOCKADDR_ARG addr, socklen_t *len)
{
    int c = real_accept()(fd, addr, len);
    shim_fd_other(c);
    return c;
}

SHIM_EXPORT int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *len, int flags)
{
    int c = real_accept4()(fd, addr, len, flags);
    shim_fd_other(c);
    return c;
}

SHIM_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                            struct addrinfo **res)
{
    if (shim_tls.guard || !ACTIVE())
        return real_getaddrinfo()(node, service, hints, res);
    uint64_t t0 = shim_mono_ns();
    int rc = real_getaddrinfo()(node, service, hints, res);
    uint64_t dt = shim_mono_ns() - t0;
    shim_inside_record(LSW_IN_DNS | worker_flag(), shim_name_id(node, service), rc != 0, dt, RET,
                       FRAME);
    KEEP_FRAME(rc);
    return rc;
}

/* ---- blocking calls on workers --------------------------------------------------- */

/* Times CALL (an expression giving rc) as kind when the thread is a worker and cond holds. */
#define TIMED(kind, cond, type, call)                                                             \
    do {                                                                                          \
        if (SHIM_LIKELY(!shim_on_worker()) || !(cond))                                            \
            return call;                                                                          \
        uint64_t t0_ = shim_mono_ns();                                                            \
        type rc_ = call;                                                                          \
        shim_inside_record((kind) | LSW_IN_WORKER, 0, false, shim_mono_ns() - t0_, RET, FRAME);   \
        KEEP_FRAME(rc_);                                                                          \
        return rc_;                                                                               \
    } while (0)

SHIM_EXPORT int nanosleep(const struct timespec *req, struct timespec *rem)
{
    TIMED(LSW_IN_SLEEP, true, int, real_nanosleep()(req, rem));
}

SHIM_EXPORT int clock_nanosleep(clockid_t clock, int flags, const struct timespec *req,
                                struct timespec *rem)
{
    TIMED(LSW_IN_SLEEP, true, int, real_clock_nanosleep()(clock, flags, req, rem));
}

SHIM_EXPORT int usleep(useconds_t us)
{
    TIMED(LSW_IN_SLEEP, true, int, real_usleep()(us));
}

SHIM_EXPORT unsigned sleep(unsigned s)
{
    TIMED(LSW_IN_SLEEP, true, unsigned, real_sleep()(s));
}

SHIM_EXPORT int fsync(int fd)
{
    TIMED(LSW_IN_FSYNC, true, int, real_fsync()(fd));
}

SHIM_EXPORT int fdatasync(int fd)
{
    TIMED(LSW_IN_FSYNC, true, int, real_fdatasync()(fd));
}

SHIM_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    TIMED(LSW_IN_FILE_READ, shim_fd_regular(fd), ssize_t, real_read()(fd, buf, n));
}

SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    TIMED(LSW_IN_FILE_WRITE, shim_fd_regular(fd), ssize_t, real_write()(fd, buf, n));
}

SHIM_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    TIMED(LSW_IN_FILE_READ, shim_fd_regular(fd), ssize_t, real_pread()(fd, buf, n, off));
}

SHIM_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    TIMED(LSW_IN_FILE_WRITE, shim_fd_regular(fd), ssize_t, real_pwrite()(fd, buf, n, off));
}

SHIM_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off_t off)
{
    TIMED(LSW_IN_FILE_READ, shim_fd_regular(fd), ssize_t, real_pread64()(fd, buf, n, off));
}

SHIM_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    TIMED(LSW_IN_FILE_WRITE, shim_fd_regular(fd), ssize_t, real_pwrite64()(fd, buf, n, off));
}

/* A negative timeout waits for ever: as blocking as a long one. */
SHIM_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    TIMED(LSW_IN_POLL, timeout_ms != 0, int, real_poll()(fds, n, timeout_ms));
}

SHIM_EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *timeout)
{
    TIMED(LSW_IN_POLL, timeout == NULL || timeout->tv_sec != 0 || timeout->tv_usec != 0, int,
          real_select()(n, r, w, e, timeout));
}

/* ---- locks and futexes ----------------------------------------------------------- */

/* Locks with lock after try failed with EBUSY, timing the wait; otherwise try's answer stands. */
#define LOCK_TIMED(try, lock, m)                                                                  \
    do {                                                                                          \
        if (shim_tls.guard || !ACTIVE())                                                          \
            return lock(m);                                                                       \
        int rc_ = try(m);                                                                         \
        if (SHIM_LIKELY(rc_ != EBUSY))                                                            \
            return rc_;                                                                           \
        uint64_t t0_ = shim_mono_ns();                                                            \
        rc_ = lock(m);                                                                            \
        shim_inside_record(LSW_IN_MUTEX | worker_flag(), 0, false, shim_mono_ns() - t0_, RET,     \
                           FRAME);                                                                \
        KEEP_FRAME(rc_);                                                                          \
        return rc_;                                                                               \
    } while (0)

SHIM_EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
    LOCK_TIMED(real_pthread_mutex_trylock(), real_pthread_mutex_lock(), m);
}

SHIM_EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
    LOCK_TIMED(real_pthread_rwlock_tryrdlock(), real_pthread_rwlock_rdlock(), l);
}

SHIM_EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
    LOCK_TIMED(real_pthread_rwlock_trywrlock(), real_pthread_rwlock_wrlock(), l);
}

/* The futex operations that wait. */
static inline bool futex_waits(long op)
{
    switch (op & FUTEX_CMD_MASK) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET:
    case FUTEX_LOCK_PI:
    case FUTEX_LOCK_PI2:
    case FUTEX_WAIT_REQUEUE_PI:
        return true;
    default:
        return false;
    }
}

SHIM_EXPORT long syscall(long n, ...)
{
    va_list ap;
    va_start(ap, n);
    long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long),
         a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
    va_end(ap);
    if (SHIM_LIKELY(n == SYS_futex) && futex_waits(a2) && !shim_tls.guard && ACTIVE()) {
        uint64_t t0 = shim_mono_ns();
        long rc = shim_raw_syscall(n, a1, a2, a3, a4, a5, a6);
        shim_inside_record(LSW_IN_FUTEX | worker_flag(), 0, false, shim_mono_ns() - t0, RET, FRAME);
        KEEP_FRAME(rc);
        return rc;
    }
    if (n == SYS_close)
        shim_fd_forget((int)a1);
    return shim_raw_syscall(n, a1, a2, a3, a4, a5, a6);
}

/* ---- threads --------------------------------------------------------------------- */

SHIM_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *),
                               void *arg)
{
    if (!shim_tls.guard && ACTIVE())
        shim_inside_record(LSW_IN_THREAD | worker_flag(), 0, false, 0, RET, FRAME);
    int rc = real_pthread_create()(th, attr, fn, arg);
    KEEP_FRAME(rc);
    return rc;
}

SHIM_EXPORT int prctl(int option, ...)
{
    va_list ap;
    va_start(ap, option);
    unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long),
                  a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
    va_end(ap);
    int rc = (int)shim_raw_syscall(SYS_prctl, option, (long)a2, (long)a3, (long)a4, (long)a5, 0);
    if (option == PR_SET_NAME && rc == 0)
        shim_tls.worker_gen = 0; /* decided again on the next hooked call */
    return rc;
}

SHIM_EXPORT int pthread_setname_np(pthread_t th, const char *name)
{
    int rc = real_pthread_setname_np()(th, name);
    if (rc == 0) {
        if (pthread_equal(th, pthread_self()))
            shim_tls.worker_gen = 0;
        else
            atomic_fetch_add(&shim_names_gen, 1); /* every thread asks again, once */
    }
    return rc;
}
