/*
 * shim_inside: what the tracer sees inside the target besides allocations:
 * TCP connections and DNS lookups per peer and name, blocking calls on an
 * async runtime's worker threads, lock and futex waits, thread creations.
 * The interposed functions are in shim_inside_hooks.c; this file keeps the
 * records and sends them.
 *
 * Each thread keeps its records in a table of its own (mmap'd on its first
 * record): one entry per (kind, worker or not, object, stack), counters only
 * the owner writes, an entry's key published last, so the flush thread reads
 * the table while the owner adds to it. The flush thread sums the threads'
 * tables into its own (with the retired totals of exited threads) and sends
 * the differences since the last batch, as the allocation counters are sent.
 *
 * Peers (ip:port) and names (what getaddrinfo was asked for) are interned in
 * two small process-wide tables under a spinlock held for a few loads and
 * stores: connect() and getaddrinfo() cost far more than that. Each is named
 * to loadscope once (PEER, NAME) before a record uses its id.
 *
 * Which threads are workers: their names (prctl(PR_GET_NAME), the kernel's 15
 * bytes) start with one of LOADSCOPE_WORKER_THREADS' comma-separated names,
 * each cut at 15 bytes too (tokio's "tokio-runtime-worker" shows as
 * "tokio-runtime-w"). A thread decides once, on its first hooked call, and
 * again after it is renamed (shim_inside_hooks.c interposes prctl and
 * pthread_setname_np).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "shim_int.h"

#define IN_SLOTS 512u           /* a thread's distinct records */
#define AGG_SLOTS 8192u         /* the process's distinct records */
#define PEER_MAX 1024u
#define NAME_MAX_ 1024u
#define NAME_LEN 256u
#define WORKER_NAMES 16
#define COMM_LEN 15             /* the kernel keeps 15 bytes of a thread's name */

/* A record's key: kind and worker flag, object, stack id; never 0 (a kind is never 0). */
static inline uint64_t in_key(uint32_t kind, uint32_t obj, uint32_t stack)
{
    return (uint64_t)kind << 40 | (uint64_t)(obj & 0xFFFFFu) << 20 | (stack & 0xFFFFFu);
}

struct shim_in_entry {
    _Atomic uint64_t key;       /* 0: empty; published after the counters are zero */
    _Atomic uint64_t count, failed, time_ns;
};

struct shim_in_tab {
    struct shim_in_entry e[IN_SLOTS];
};

/* The flush thread's sum of one record over threads. */
struct agg {
    uint64_t key;
    uint64_t retired[3];        /* count, failed, time_ns of exited threads */
    uint64_t cur[3];            /* this batch's sum over live threads */
    uint64_t last[3];           /* what was sent so far */
};

_Atomic uint32_t shim_names_gen = 1;

static bool ready;                              /* shim_inside_init ran: worker names are known */
static char workers[WORKER_NAMES][COMM_LEN + 1];
static int nworkers;
static _Atomic uint8_t *fd_class;               /* 0: unknown, 1: regular file, 2: something else */
static _Atomic uint16_t *fd_peer;               /* peer id of a socket connect() opened, 0: none */
static struct agg *agg;
static _Atomic uint64_t in_dropped;

static _Atomic int tables_lock;
static struct lsw_peer peers[PEER_MAX + 1];     /* index = id */
static _Atomic uint32_t npeers;                 /* ids 1..npeers are published */
static uint32_t peers_sent;
static char (*names)[NAME_LEN];                 /* index = id, NUL-terminated */
static _Atomic uint32_t nnames;
static uint32_t names_sent;

uint64_t shim_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void lock_tables(void)
{
    while (atomic_exchange_explicit(&tables_lock, 1, memory_order_acquire))
        while (atomic_load_explicit(&tables_lock, memory_order_relaxed))
            __asm__ volatile("pause");
}

static void unlock_tables(void)
{
    atomic_store_explicit(&tables_lock, 0, memory_order_release);
}

/* --- set-up and the worker test --- */

static void parse_workers(const char *list)
{
    nworkers = 0;
    while (list != NULL && *list && nworkers < WORKER_NAMES) {
        size_t len = strcspn(list, ",");
        size_t keep = len < COMM_LEN ? len : COMM_LEN;
        size_t lead = 0;
        while (lead < keep && list[lead] == ' ')
            lead++;
        if (keep > lead) {
            memcpy(workers[nworkers], list + lead, keep - lead);
            workers[nworkers][keep - lead] = '\0';
            nworkers++;
        }
        list += len;
        if (*list == ',')
            list++;
    }
}

void shim_inside_init(void)
{
    const char *w = getenv(LSW_ENV_WORKERS);
    parse_workers(w != NULL ? w : LSW_DEFAULT_WORKERS);
    fd_class = shim_mmap(SHIM_FD_MAX);
    fd_peer = shim_mmap(SHIM_FD_MAX * sizeof(uint16_t));
    agg = shim_mmap(AGG_SLOTS * sizeof(struct agg));
    names = shim_mmap((size_t)(NAME_MAX_ + 1) * NAME_LEN);
    if (shim_inside_hooks_init)
        shim_inside_hooks_init();
    ready = true;
}

bool shim_worker_decide(void)
{
    /* Not cached: inside the shim (the flush thread always is), before set-up, or not tracing. */
    if (shim_tls.guard || !ready || !atomic_load_explicit(&shim_active, memory_order_relaxed))
        return false;
    uint32_t gen = atomic_load_explicit(&shim_names_gen, memory_order_relaxed);
    bool w = false;
    char comm[COMM_LEN + 2];
    memset(comm, 0, sizeof(comm));
    int saved = errno;
    if (nworkers > 0 && shim_raw_syscall(SYS_prctl, PR_GET_NAME, (long)comm, 0, 0, 0, 0) == 0) {
        for (int i = 0; i < nworkers && !w; i++)
            w = strncmp(comm, workers[i], strlen(workers[i])) == 0;
    }
    errno = saved;
    shim_tls.worker = w;
    shim_tls.worker_gen = gen;
    return w;
}

/* --- per-fd tables --- */

bool shim_fd_regular(int fd)
{
    if (fd < 0)
        return false;
    if ((unsigned)fd < SHIM_FD_MAX && fd_class != NULL) {
        uint8_t c = atomic_load_explicit(&fd_class[fd], memory_order_relaxed);
        if (SHIM_LIKELY(c != 0))
            return c == 1;
    }
    struct stat st;
    int saved = errno;
    bool reg = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    errno = saved;
    if ((unsigned)fd < SHIM_FD_MAX && fd_class != NULL)
        atomic_store_explicit(&fd_class[fd], reg ? 1 : 2, memory_order_relaxed);
    return reg;
}

void shim_fd_other(int fd)
{
    if (fd >= 0 && (unsigned)fd < SHIM_FD_MAX && fd_class != NULL)
        atomic_store_explicit(&fd_class[fd], 2, memory_order_relaxed);
}

void shim_fd_forget(int fd)
{
    if (fd < 0 || (unsigned)fd >= SHIM_FD_MAX || fd_class == NULL)
        return;
    atomic_store_explicit(&fd_class[fd], 0, memory_order_relaxed);
    if (SHIM_LIKELY(atomic_load_explicit(&fd_peer[fd], memory_order_relaxed) == 0))
        return;
    uint32_t peer = atomic_exchange_explicit(&fd_peer[fd], 0, memory_order_relaxed);
    if (peer != 0)
        shim_inside_record(LSW_IN_CLOSE, peer, false, 0, NULL, NULL);
}

void shim_fd_peer(int fd, uint32_t peer)
{
    if (fd >= 0 && (unsigned)fd < SHIM_FD_MAX && fd_peer != NULL)
        atomic_store_explicit(&fd_peer[fd], (uint16_t)peer, memory_order_relaxed);
}

/* --- peers and names --- */

uint32_t shim_peer_id(const void *sockaddr, uint32_t len)
{
    struct lsw_peer p;
    memset(&p, 0, sizeof(p));
    const struct sockaddr *sa = sockaddr;
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = sockaddr;
        p.family = AF_INET;
        p.port = ntohs(in->sin_port);
        memcpy(p.addr, &in->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = sockaddr;
        p.family = AF_INET6;
        p.port = ntohs(in6->sin6_port);
        memcpy(p.addr, &in6->sin6_addr, 16);
    } else {
        return 0;
    }
    uint32_t id = 0;
    lock_tables();
    uint32_t n = atomic_load_explicit(&npeers, memory_order_relaxed);
    for (uint32_t i = 1; i <= n && id == 0; i++)
        if (peers[i].family == p.family && peers[i].port == p.port &&
            memcmp(peers[i].addr, p.addr, 16) == 0)
            id = i;
    if (id == 0 && n < PEER_MAX) {
        id = n + 1;
        p.id = id;
        peers[id] = p;
        atomic_store_explicit(&npeers, id, memory_order_release);
    }
    unlock_tables();
    return id;
}

uint32_t shim_name_id(const char *node, const char *service)
{
    char want[NAME_LEN];
    size_t len = 0;
    const char *parts[2] = {node != NULL ? node : "(none)", service};
    for (int k = 0; k < 2; k++) {
        if (parts[k] == NULL)
            continue;
        if (k == 1 && len < NAME_LEN - 1)
            want[len++] = ':';
        for (const char *s = parts[k]; *s && len < NAME_LEN - 1; s++)
            want[len++] = *s;
    }
    want[len] = '\0';
    if (names == NULL)
        return 0;
    uint32_t id = 0;
    lock_tables();
    uint32_t n = atomic_load_explicit(&nnames, memory_order_relaxed);
    for (uint32_t i = 1; i <= n && id == 0; i++)
        if (strcmp(names[i], want) == 0)
            id = i;
    if (id == 0 && n < NAME_MAX_) {
        id = n + 1;
        memcpy(names[id], want, len + 1);
        atomic_store_explicit(&nnames, id, memory_order_release);
    }
    unlock_tables();
    return id;
}

/* --- records --- */

static struct shim_in_entry *in_entry(struct shim_thread *t, uint64_t key)
{
    if (SHIM_UNLIKELY(t->inside == NULL)) {
        t->inside = shim_mmap(sizeof(struct shim_in_tab));
        if (t->inside == NULL)
            return NULL;
    }
    struct shim_in_entry *e = t->inside->e;
    uint32_t i = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 40) & (IN_SLOTS - 1);
    for (uint32_t probe = 0; probe < IN_SLOTS; probe++, i = (i + 1) & (IN_SLOTS - 1)) {
        uint64_t k = atomic_load_explicit(&e[i].key, memory_order_relaxed);
        if (k == key)
            return &e[i];
        if (k == 0) {
            atomic_store_explicit(&e[i].key, key, memory_order_release); /* counters are zero */
            return &e[i];
        }
    }
    return NULL;
}

void shim_inside_record(uint32_t kind, uint32_t obj, bool failed, uint64_t time_ns, void *ret,
                        void *frame)
{
    if (shim_tls.guard || !atomic_load_explicit(&shim_active, memory_order_relaxed))
        return;
    int saved = errno;
    shim_enter();
    struct shim_thread *t = shim_thread_get();
    if (t == NULL)
        goto out;
    uint32_t stack = 0;
    if (ret != NULL) {
        if (SHIM_UNLIKELY(t->stack_hi == 0)) {
            /* count mode reads no stack bounds for allocations; these calls still get stacks */
            (void)shim_maps_find((uintptr_t)__builtin_frame_address(0), &t->stack_lo, &t->stack_hi);
            t->cache_gen++;
        }
        stack = shim_stack_of(t, ret, frame);
    }
    struct shim_in_entry *e = in_entry(t, in_key(kind, obj, stack));
    if (e == NULL) {
        atomic_fetch_add(&in_dropped, 1);
        goto out;
    }
    shim_bump(&e->count, 1);
    if (failed)
        shim_bump(&e->failed, 1);
    shim_bump(&e->time_ns, time_ns);
out:
    shim_leave();
    errno = saved;
}

/* --- the flush thread's side --- */

static struct agg *agg_find(uint64_t key)
{
    if (agg == NULL)
        return NULL;
    uint32_t i = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 40) & (AGG_SLOTS - 1);
    for (uint32_t probe = 0; probe < AGG_SLOTS; probe++, i = (i + 1) & (AGG_SLOTS - 1)) {
        if (agg[i].key == key)
            return &agg[i];
        if (agg[i].key == 0) {
            agg[i].key = key;
            return &agg[i];
        }
    }
    return NULL;
}

static void add3(uint64_t d[3], const struct shim_in_entry *e)
{
    d[0] += atomic_load_explicit(&e->count, memory_order_relaxed);
    d[1] += atomic_load_explicit(&e->failed, memory_order_relaxed);
    d[2] += atomic_load_explicit(&e->time_ns, memory_order_relaxed);
}

void shim_inside_fold(struct shim_thread *t)
{
    if (t->inside == NULL)
        return;
    for (uint32_t i = 0; i < IN_SLOTS; i++) {
        struct shim_in_entry *e = &t->inside->e[i];
        uint64_t key = atomic_load_explicit(&e->key, memory_order_acquire);
        if (key == 0)
            continue;
        struct agg *a = agg_find(key);
        if (a != NULL)
            add3(a->retired, e);
        else
            atomic_fetch_add(&in_dropped, atomic_load_explicit(&e->count, memory_order_relaxed));
    }
    memset(t->inside, 0, sizeof(*t->inside));
}

typedef void (*put_fn)(uint32_t type, const void *a, size_t alen, const void *b, size_t blen);

static void send_definitions(put_fn put)
{
    uint32_t np = atomic_load_explicit(&npeers, memory_order_acquire);
    for (; peers_sent < np; peers_sent++)
        put(LSW_PEER, &peers[peers_sent + 1], sizeof(struct lsw_peer), NULL, 0);
    uint32_t nn = atomic_load_explicit(&nnames, memory_order_acquire);
    for (; names_sent < nn; names_sent++) {
        const char *s = names[names_sent + 1];
        struct lsw_name n = {.id = names_sent + 1, .len = (uint32_t)strlen(s)};
        put(LSW_NAME, &n, sizeof(n), s, n.len);
    }
}

void shim_inside_flush(put_fn put, uint32_t stacks_sent)
{
    if (agg == NULL)
        return;
    send_definitions(put);
    for (struct shim_thread *t = shim_thread_list(); t; t = t->next) {
        if (atomic_load_explicit(&t->state, memory_order_acquire) != SHIM_TS_LIVE || t->inside == NULL)
            continue;
        for (uint32_t i = 0; i < IN_SLOTS; i++) {
            const struct shim_in_entry *e = &t->inside->e[i];
            uint64_t key = atomic_load_explicit(&e->key, memory_order_acquire);
            if (key == 0)
                continue;
            struct agg *a = agg_find(key);
            if (a != NULL)
                add3(a->cur, e);
        }
    }
    static struct lsw_inside recs[4096];
    struct lsw_inside_head head = {.dropped = atomic_load(&in_dropped)};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    head.t_unix_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    for (uint32_t i = 0; i < AGG_SLOTS; i++) {
        struct agg *a = &agg[i];
        if (a->key == 0)
            continue;
        uint64_t tot[3] = {a->retired[0] + a->cur[0], a->retired[1] + a->cur[1],
                           a->retired[2] + a->cur[2]};
        memset(a->cur, 0, sizeof(a->cur));
        uint32_t kind = (uint32_t)(a->key >> 40), obj = (uint32_t)(a->key >> 20) & 0xFFFFFu,
                 stack = (uint32_t)a->key & 0xFFFFFu;
        if (tot[0] == a->last[0] && tot[2] == a->last[2])
            continue;
        /* its stack, peer or name not named yet: next batch */
        if (stack >= stacks_sent)
            continue;
        uint32_t base = kind & ~LSW_IN_WORKER;
        if ((base == LSW_IN_CONNECT || base == LSW_IN_CLOSE) && obj > peers_sent)
            continue;
        if (base == LSW_IN_DNS && obj > names_sent)
            continue;
        struct lsw_inside *r = &recs[head.count++];
        r->kind = kind;
        r->stack_id = stack;
        r->obj = obj;
        r->pad = 0;
        r->count = tot[0] - a->last[0];
        r->failed = tot[1] - a->last[1];
        r->time_ns = tot[2] - a->last[2];
        memcpy(a->last, tot, sizeof(tot));
        if (head.count == sizeof(recs) / sizeof(recs[0])) {
            put(LSW_INSIDE, &head, sizeof(head), recs, head.count * sizeof(recs[0]));
            head.count = 0;
        }
    }
    static uint64_t dropped_sent;
    if (head.count > 0 || head.dropped != dropped_sent)
        put(LSW_INSIDE, &head, sizeof(head), recs, head.count * sizeof(recs[0]));
    dropped_sent = head.dropped;
}

void shim_inside_reset_after_fork(void)
{
    for (struct shim_thread *t = shim_thread_list(); t; t = t->next)
        if (t->inside != NULL)
            memset(t->inside, 0, sizeof(*t->inside));
    if (agg != NULL)
        memset(agg, 0, AGG_SLOTS * sizeof(*agg));
    atomic_store(&in_dropped, 0);
    atomic_store(&tables_lock, 0);
    peers_sent = 0;
    names_sent = 0;
}
