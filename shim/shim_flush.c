/*
 * shim_flush: the tracer's own thread, its connection to loadscope, and what
 * happens at fork and exit.
 *
 * Every SHIM_FLUSH_NS the flush thread folds the counters of exited threads
 * into its own totals, sends the stacks seen for the first time, sums every
 * thread's per-stack counters and sends one batch of per-stack differences
 * since the last batch, then the process-wide counters. Nothing on the
 * allocation path ever waits for it; it never allocates from malloc (its
 * buffers are mmap'd) and its own allocations, should libc make any for it,
 * are not traced.
 *
 * At exit an atexit handler sends a last batch and BYE. A forked child stops
 * tracing (its copy of the connection belongs to the parent) unless
 * LOADSCOPE_SHIM_FOLLOW_FORK=1, in which case it starts over from zero on a
 * connection of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "shim_int.h"

#define SHIM_FLUSH_NS 200000000ull
#define SEND_CAP (1u << 20)
#define MAX_RANGES 1024u

struct totals {
    uint64_t allocs, bytes, reallocs, frees, freed_bytes, short_lived;
};

struct exact {
    uint64_t allocs, frees, reallocs, bytes_alloc, bytes_freed, untracked, known, dropped, wfp, wunw;
};

static pthread_mutex_t flush_lock = PTHREAD_MUTEX_INITIALIZER;
static int sock_fd = -1;
static _Atomic int stop_flag;
static uint32_t stacks_sent = 1;       /* id 0 needs no STACK message */
static struct totals *retired, *sum, *last;
static struct exact retired_exact;
static uint8_t *sendbuf;
static size_t send_len;
static struct {
    uint64_t lo, hi;
} ranges[MAX_RANGES];
static uint32_t nranges;
static uint64_t lost_sends;

static uint64_t now_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- /proc/self/maps, read with plain system calls into a stack buffer --- */

static uint64_t hex(const char **s)
{
    uint64_t v = 0;
    for (;; (*s)++) {
        char c = **s;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uint64_t)(c - 'a' + 10);
        else
            return v;
    }
}

struct map_line {
    uint64_t lo, hi, off;
    bool exec;
    const char *path;
    size_t path_len;
};

static bool parse_line(const char *s, const char *end, struct map_line *m)
{
    m->lo = hex(&s);
    if (*s++ != '-')
        return false;
    m->hi = hex(&s);
    if (*s++ != ' ' || end - s < 5)
        return false;
    m->exec = s[2] == 'x';
    s += 5;
    m->off = hex(&s);
    /* dev, inode, then spaces up to the path */
    for (int field = 0; field < 2 && s < end; field++) {
        while (s < end && *s == ' ')
            s++;
        while (s < end && *s != ' ')
            s++;
    }
    while (s < end && *s == ' ')
        s++;
    m->path = s;
    m->path_len = (size_t)(end - s);
    return true;
}

typedef bool (*map_fn)(void *ctx, const struct map_line *m); /* false: stop */

static void maps_each(map_fn fn, void *ctx)
{
    char buf[4096];
    size_t have = 0;
    bool skipping = false;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof(buf) - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        have += (size_t)r;
        size_t start = 0;
        for (size_t i = 0; i < have; i++) {
            if (buf[i] != '\n')
                continue;
            struct map_line m;
            if (!skipping && parse_line(buf + start, buf + i, &m) && !fn(ctx, &m))
                goto out;
            skipping = false;
            start = i + 1;
        }
        if (start == 0 && have == sizeof(buf)) {
            /* a line longer than the buffer: use its head, skip its tail */
            struct map_line m;
            if (!skipping && parse_line(buf, buf + have, &m) && !fn(ctx, &m))
                goto out;
            skipping = true;
            have = 0;
            continue;
        }
        memmove(buf, buf + start, have - start);
        have -= start;
    }
out:
    close(fd);
}

struct find_ctx {
    uintptr_t addr, lo, hi;
    bool found;
};

static bool find_cb(void *ctx, const struct map_line *m)
{
    struct find_ctx *f = ctx;
    if (f->addr >= m->lo && f->addr < m->hi) {
        f->lo = m->lo;
        f->hi = m->hi;
        f->found = true;
        return false;
    }
    return true;
}

bool shim_maps_find(uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
    struct find_ctx f = {.addr = addr};
    maps_each(find_cb, &f);
    if (f.found) {
        *lo = f.lo;
        *hi = f.hi;
    }
    return f.found;
}

/*
 * The image's peak resident set in bytes: VmHWM of /proc/self/status, the
 * kernel's own count for this image's memory (an exec starts a new one), so
 * a peak between two batches is not missed. 0 when it cannot be read.
 */
static uint64_t peak_rss(void)
{
    char buf[2048];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = strstr(buf, "\nVmHWM:");
    if (p == NULL)
        return 0;
    p += 7;
    while (*p == ' ' || *p == '\t')
        p++;
    uint64_t kib = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        kib = kib * 10 + (uint64_t)(*p - '0');
    return kib * 1024u;
}

/* --- sending --- */

static void send_all(const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0 && sock_fd >= 0) {
        ssize_t w = send(sock_fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(sock_fd);
            sock_fd = -1;
            lost_sends++;
            return;
        }
        b += w;
        n -= (size_t)w;
    }
}

static void flush_buf(void)
{
    if (send_len > 0)
        send_all(sendbuf, send_len);
    send_len = 0;
}

/* Appends a message; flushes first if it would not fit. */
static void put_msg(uint32_t type, const void *a, size_t alen, const void *b, size_t blen)
{
    struct lsw_header h = {.type = type, .len = (uint32_t)(alen + blen)};
    if (send_len + sizeof(h) + alen + blen > SEND_CAP)
        flush_buf();
    if (sizeof(h) + alen + blen > SEND_CAP)
        return;
    memcpy(sendbuf + send_len, &h, sizeof(h));
    send_len += sizeof(h);
    if (alen) {
        memcpy(sendbuf + send_len, a, alen);
        send_len += alen;
    }
    if (blen) {
        memcpy(sendbuf + send_len, b, blen);
        send_len += blen;
    }
}

struct maps_msg {
    uint8_t *p;
    size_t len, cap;
    uint32_t count;
};

static bool maps_cb(void *ctx, const struct map_line *m)
{
    struct maps_msg *mm = ctx;
    /* Every file mapping, in address order: the first one of a file (offset 0) fixes its load bias. */
    if (m->path_len == 0 || m->path[0] != '/')
        return true;
    if (m->exec && nranges < MAX_RANGES) {
        ranges[nranges].lo = m->lo;
        ranges[nranges].hi = m->hi;
        nranges++;
    }
    struct lsw_map rec = {.start = m->lo, .end = m->hi, .offset = m->off,
                          .path_len = (uint32_t)m->path_len};
    if (mm->len + sizeof(rec) + m->path_len > mm->cap)
        return false;
    memcpy(mm->p + mm->len, &rec, sizeof(rec));
    memcpy(mm->p + mm->len + sizeof(rec), m->path, m->path_len);
    mm->len += sizeof(rec) + m->path_len;
    mm->count++;
    return true;
}

static void send_maps(void)
{
    size_t cap = 256 * 1024;
    uint8_t *p = shim_mmap(cap);
    if (p == NULL)
        return;
    struct maps_msg mm = {.p = p + sizeof(uint32_t), .cap = cap - sizeof(uint32_t)};
    nranges = 0;
    maps_each(maps_cb, &mm);
    memcpy(p, &mm.count, sizeof(uint32_t));
    put_msg(LSW_MAPS, p, sizeof(uint32_t) + mm.len, NULL, 0);
    shim_munmap(p, cap);
}

static bool known_pc(uint64_t pc)
{
    for (uint32_t i = 0; i < nranges; i++)
        if (pc >= ranges[i].lo && pc < ranges[i].hi)
            return true;
    return false;
}

static void send_hello(void)
{
    struct lsw_hello h;
    memset(&h, 0, sizeof(h));
    h.version = LSW_VERSION;
    h.pid = (int32_t)getpid();
    h.ppid = (int32_t)getppid();
    h.mode = (uint32_t)shim_cfg.mode;
    h.unwind = (uint32_t)atomic_load(&shim_unwind_now);
    h.depth = shim_cfg.depth;
    h.sample_bytes = shim_cfg.sample_every ? 0 : shim_cfg.sample_bytes;
    h.sample_every = shim_cfg.sample_every;
    h.start_unix_ns = now_unix_ns();
    h.flags = shim_exec_image ? LSW_HELLO_EXEC : 0;
    ssize_t n = readlink("/proc/self/exe", h.exe, sizeof(h.exe) - 1);
    if (n > 0)
        h.exe[n] = '\0';
    put_msg(LSW_HELLO, &h, sizeof(h), NULL, 0);
    send_maps();
    flush_buf();
}

static void add_totals(struct totals *d, const struct shim_stackctr *c)
{
    d->allocs += atomic_load_explicit(&c->allocs, memory_order_relaxed);
    d->bytes += atomic_load_explicit(&c->bytes, memory_order_relaxed);
    d->reallocs += atomic_load_explicit(&c->reallocs, memory_order_relaxed);
    d->frees += atomic_load_explicit(&c->frees, memory_order_relaxed);
    d->freed_bytes += atomic_load_explicit(&c->freed_bytes, memory_order_relaxed);
    d->short_lived += atomic_load_explicit(&c->short_lived, memory_order_relaxed);
}

static void add_exact(struct exact *e, struct shim_thread *t)
{
    e->allocs += atomic_load_explicit(&t->allocs, memory_order_relaxed);
    e->frees += atomic_load_explicit(&t->frees, memory_order_relaxed);
    e->reallocs += atomic_load_explicit(&t->reallocs, memory_order_relaxed);
    e->bytes_alloc += atomic_load_explicit(&t->bytes_alloc, memory_order_relaxed);
    e->bytes_freed += atomic_load_explicit(&t->bytes_freed, memory_order_relaxed);
    e->untracked += atomic_load_explicit(&t->untracked_frees, memory_order_relaxed);
    e->known += atomic_load_explicit(&t->known_frees, memory_order_relaxed);
    e->dropped += atomic_load_explicit(&t->dropped, memory_order_relaxed);
    e->wfp += atomic_load_explicit(&t->walks_fp, memory_order_relaxed);
    e->wunw += atomic_load_explicit(&t->walks_unw, memory_order_relaxed);
}

/* Moves an exited thread's counters into the retired totals and frees its state for reuse. */
static void fold_exited(void)
{
    for (struct shim_thread *t = shim_thread_list(); t; t = t->next) {
        if (atomic_load_explicit(&t->state, memory_order_acquire) != SHIM_TS_EXITED)
            continue;
        add_exact(&retired_exact, t);
        atomic_store(&t->allocs, 0);
        atomic_store(&t->frees, 0);
        atomic_store(&t->reallocs, 0);
        atomic_store(&t->bytes_alloc, 0);
        atomic_store(&t->bytes_freed, 0);
        atomic_store(&t->untracked_frees, 0);
        atomic_store(&t->known_frees, 0);
        atomic_store(&t->dropped, 0);
        atomic_store(&t->walks_fp, 0);
        atomic_store(&t->walks_unw, 0);
        t->seq = 0;
        uint32_t nst = shim_stacks_count();
        uint64_t used = atomic_load_explicit(&t->ctr_used, memory_order_acquire);
        for (uint32_t k = 0; k < 64 && k * SHIM_CTR_CHUNK < nst; k++) {
            if (!((used >> k) & 1))
                continue;
            for (uint32_t i = k * SHIM_CTR_CHUNK; i < (k + 1) * SHIM_CTR_CHUNK && i < nst; i++)
                add_totals(&retired[i], &t->ctr[i]);
        }
        shim_ctr_clear(t);
        shim_inside_fold(t);
        atomic_store_explicit(&t->state, SHIM_TS_FREE, memory_order_release);
    }
}

static uint64_t unfix(uint64_t v)
{
    return shim_cfg.mode == LSW_MODE_SAMPLED ? (v + SHIM_FIX / 2) / SHIM_FIX : v;
}

static void flush_once(bool final)
{
    (void)final;
    if (sock_fd < 0)
        return;
    fold_exited();

    /* New stacks (and the module map, if one of them points outside what was sent). */
    uint32_t nst = shim_stacks_count();
    bool maps_sent = false;
    for (; stacks_sent < nst; stacks_sent++) {
        uint32_t n;
        const uint64_t *f = shim_stack_frames(stacks_sent, &n);
        if (f == NULL)
            break; /* being published: next time */
        for (uint32_t i = 0; i < n && !maps_sent; i++) {
            if (!known_pc(f[i])) {
                send_maps();
                maps_sent = true;
            }
        }
        struct lsw_stack s = {.id = stacks_sent, .nframes = n};
        put_msg(LSW_STACK, &s, sizeof(s), f, n * sizeof(uint64_t));
    }

    /* Per-stack sums over threads, differences from the last batch. */
    memset(sum, 0, stacks_sent * sizeof(*sum));
    memcpy(sum, retired, stacks_sent * sizeof(*sum));
    struct exact ex = retired_exact;
    for (struct shim_thread *t = shim_thread_list(); t; t = t->next) {
        if (atomic_load_explicit(&t->state, memory_order_acquire) != SHIM_TS_LIVE)
            continue;
        add_exact(&ex, t);
        /* Only the ranges of stacks this thread touched: a thread uses few of them. */
        uint64_t used = atomic_load_explicit(&t->ctr_used, memory_order_acquire);
        for (uint32_t k = 0; k < 64 && k * SHIM_CTR_CHUNK < stacks_sent; k++) {
            if (!((used >> k) & 1))
                continue;
            for (uint32_t i = k * SHIM_CTR_CHUNK; i < (k + 1) * SHIM_CTR_CHUNK && i < stacks_sent; i++)
                add_totals(&sum[i], &t->ctr[i]);
        }
    }
    bool headers = atomic_load(&shim_hdr_state) == 2;
    if (!headers && shim_cfg.mode != LSW_MODE_COUNT)
        ex.untracked += ex.frees - ex.known; /* frees the pointer table had no record of */
    if (headers) {
        /* With headers, counted blocks are in the per-stack counters only (see shim_on_hdr_alloc). */
        for (uint32_t i = 0; i < stacks_sent; i++) {
            ex.allocs += sum[i].allocs;
            ex.bytes_alloc += sum[i].bytes;
            ex.reallocs += sum[i].reallocs;
            ex.frees += sum[i].frees;
            ex.bytes_freed += sum[i].freed_bytes;
        }
    }
    struct lsw_delta_head head = {.t_unix_ns = now_unix_ns()};
    size_t max_rec = (SEND_CAP / 2 - sizeof(head)) / sizeof(struct lsw_delta);
    static struct lsw_delta recs[4096];
    if (max_rec > 4096)
        max_rec = 4096;
    for (uint32_t id = 0; id < stacks_sent; id++) {
        struct totals s = {unfix(sum[id].allocs), unfix(sum[id].bytes), unfix(sum[id].reallocs),
                           unfix(sum[id].frees), unfix(sum[id].freed_bytes),
                           unfix(sum[id].short_lived)};
        struct totals *l = &last[id];
        if (s.allocs == l->allocs && s.frees == l->frees && s.bytes == l->bytes &&
            s.freed_bytes == l->freed_bytes)
            continue;
        struct lsw_delta *d = &recs[head.count++];
        d->stack_id = id;
        d->pad = 0;
        d->allocs = s.allocs - l->allocs;
        d->bytes = s.bytes - l->bytes;
        d->reallocs = s.reallocs - l->reallocs;
        d->frees = s.frees - l->frees;
        d->freed_bytes = s.freed_bytes - l->freed_bytes;
        d->short_lived = s.short_lived - l->short_lived;
        d->live_bytes = (int64_t)(s.bytes - s.freed_bytes);
        *l = s;
        if (head.count == max_rec) {
            put_msg(LSW_DELTA, &head, sizeof(head), recs, head.count * sizeof(*recs));
            head.count = 0;
        }
    }
    if (head.count > 0)
        put_msg(LSW_DELTA, &head, sizeof(head), recs, head.count * sizeof(*recs));

    shim_inside_flush(put_msg, stacks_sent);

    struct lsw_counters c = {
        .t_unix_ns = head.t_unix_ns, .allocs = ex.allocs, .frees = ex.frees,
        .reallocs = ex.reallocs, .bytes_allocated = ex.bytes_alloc, .bytes_freed = ex.bytes_freed,
        .untracked_frees = ex.untracked, .dropped = ex.dropped + lost_sends,
        .stacks = nst > 0 ? nst - 1 : 0, .threads = shim_threads_seen(),
        .unwind = (uint32_t)atomic_load(&shim_unwind_now), .walks_fp = ex.wfp,
        .walks_libunwind = ex.wunw, .peak_rss = peak_rss()};
    put_msg(LSW_COUNTERS, &c, sizeof(c), NULL, 0);
    flush_buf();
}

static void *flush_main(void *arg)
{
    (void)arg;
    shim_guard_set(1);
    prctl(PR_SET_NAME, "loadscope-shim", 0, 0, 0);
    while (!atomic_load(&stop_flag)) {
        struct timespec ts = {0, (long)SHIM_FLUSH_NS};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&flush_lock);
        if (!atomic_load(&stop_flag))
            flush_once(false);
        pthread_mutex_unlock(&flush_lock);
    }
    return NULL;
}

/* The process being traced, as the kernel numbers it (a vfork child shares our memory, not our pid). */
static pid_t traced_pid;

/* The last batch and a goodbye (flush_lock held). */
static void send_last(void)
{
    if (sock_fd >= 0 && atomic_load(&shim_active)) {
        atomic_store(&stop_flag, 1);
        flush_once(true);
        put_msg(LSW_BYE, NULL, 0, NULL, 0);
        flush_buf();
        close(sock_fd);
        sock_fd = -1;
    }
}

static void shim_atexit(void)
{
    shim_guard_set(1);
    pthread_mutex_lock(&flush_lock);
    send_last();
    pthread_mutex_unlock(&flush_lock);
    shim_guard_set(0);
}

/*
 * Sends from the traced process itself (not from a vfork or posix_spawn
 * child, which runs in our memory with a pid of its own) what it counted
 * since the last batch, and with goodbye, a goodbye; only if flush_lock comes
 * free within 100 ms: this thread may hold it already (an _exit or exec from
 * a signal handler that interrupted a flush).
 */
static void send_before_end(bool goodbye)
{
    int guard = shim_tls.guard;
    shim_enter();
    if (sock_fd >= 0 && atomic_load(&shim_active) && (pid_t)syscall(SYS_getpid) == traced_pid) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        if (pthread_mutex_timedlock(&flush_lock, &until) == 0) {
            if (goodbye)
                send_last();
            else
                flush_once(false);
            pthread_mutex_unlock(&flush_lock);
        }
    }
    if (!guard)
        shim_leave();
}

/* _exit and _Exit skip atexit: a shell such as dash ends through _exit, and so do many forked children. */
void shim_flush_before_exit(void)
{
    send_before_end(true);
}

/*
 * exec replaces the image, and what it counted since the last batch would go
 * with it. The batch is sent without a goodbye: if exec fails, tracing goes
 * on; if it succeeds, the socket closes with the image and the new one says
 * hello as its successor.
 */
void shim_flush_before_exec(void)
{
    send_before_end(false);
}

static bool connect_socket(void)
{
    struct sockaddr_un a;
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, shim_cfg.socket_path, sizeof(a.sun_path) - 1);
    sock_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock_fd < 0)
        return false;
    if (connect(sock_fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(sock_fd);
        sock_fd = -1;
        return false;
    }
    return true;
}

static bool start_thread(void)
{
    pthread_t th;
    pthread_attr_t at;
    sigset_t all, old;
    bool ok;
    /* The target's signals are never delivered to our thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 256 * 1024);
    ok = pthread_create(&th, &at, flush_main, NULL) == 0;
    pthread_attr_destroy(&at);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return ok;
}

static void say(const char *msg)
{
    ssize_t r = write(2, msg, strlen(msg));
    (void)r;
}

void shim_flush_start(void)
{
    size_t tot = SHIM_MAX_STACKS * sizeof(struct totals);
    retired = shim_mmap(tot);
    sum = shim_mmap(tot);
    last = shim_mmap(tot);
    sendbuf = shim_mmap(SEND_CAP);
    if (!retired || !sum || !last || !sendbuf) {
        say("loadscope-shim: out of memory at start; allocations are not traced\n");
        return;
    }
    if (!connect_socket()) {
        say("loadscope-shim: cannot connect to loadscope's socket; allocations are not traced\n");
        return;
    }
    send_hello();
    traced_pid = (pid_t)syscall(SYS_getpid);
    atomic_store(&shim_active, 1);
    (void)shim_gate_update();
    if (!start_thread())
        say("loadscope-shim: cannot start its thread; only the totals at exit are sent\n");
    atexit(shim_atexit);
}

void shim_fork_prepare(void)
{
    shim_guard_set(1);
    pthread_mutex_lock(&flush_lock);
    shim_ptr_lock_all();
}

void shim_fork_parent(void)
{
    shim_ptr_unlock_all();
    pthread_mutex_unlock(&flush_lock);
    shim_guard_set(0);
}

void shim_fork_child(void)
{
    shim_ptr_unlock_all();
    pthread_mutex_init(&flush_lock, NULL);
    if (sock_fd >= 0)
        close(sock_fd); /* the parent's connection */
    sock_fd = -1;
    send_len = 0;
    if (!shim_cfg.follow_fork || !atomic_load(&shim_active)) {
        atomic_store(&shim_active, 0);
        (void)shim_gate_update();
        if (!shim_cfg.keep_preload)
            shim_strip_preload(true); /* what this child exec's runs untraced */
        shim_guard_set(0);
        return;
    }
    shim_exec_image = false;
    shim_note_pid(); /* a traced process of its own: its exec'd images go on as it */
    shim_reset_after_fork();
    memset(retired, 0, SHIM_MAX_STACKS * sizeof(*retired));
    memset(last, 0, SHIM_MAX_STACKS * sizeof(*last));
    memset(&retired_exact, 0, sizeof(retired_exact));
    stacks_sent = 1;
    lost_sends = 0;
    atomic_store(&stop_flag, 0);
    if (!connect_socket()) {
        atomic_store(&shim_active, 0);
        (void)shim_gate_update();
        shim_guard_set(0);
        return;
    }
    send_hello();
    traced_pid = (pid_t)syscall(SYS_getpid);
    (void)start_thread();
    shim_guard_set(0);
}
