/*
 * shim_core: the tracer's state and what each allocation and free records.
 *
 * Set-up happens once, in the library constructor (environment, tables, the
 * flush thread, fork handlers); the hooks only ever touch thread-local state,
 * the lock-free stack table and one pointer-table shard.
 *
 * Each thread owns a struct shim_thread (mmap'd, registered once in a global
 * list and recycled after the thread exits): exact counters and per-stack
 * counters it alone writes with relaxed atomic stores, which the flush thread
 * reads without stopping it. A free is charged to the allocating stack in the
 * freeing thread's own counters; sums over threads come out right.
 *
 * Stacks: a frame-pointer walk bounded by the mapping that holds the thread's
 * stack (read once per thread from /proc/self/maps with plain system calls,
 * never pthread_getattr_np, which takes locks and allocates), each step
 * checked for alignment and strict increase so a frame without a frame
 * pointer ends the walk instead of faulting. With unwind=auto the first walks
 * whose caller is in the main executable are compared with libunwind's
 * unw_backtrace; if the frame-pointer walks come out clearly shallower, the
 * target has no frame pointers and libunwind is used from then on. In that
 * mode each thread caches the stacks it unwound, keyed by the hook's return
 * and frame addresses, and proves a hit by re-reading each return address's
 * stack slot (see unw_cache_hit): most allocations cost a few loads instead
 * of an unwind.
 *
 * The hooks' common case (counting; sampled mode's countdown and filter) is
 * inline in shim_int.h; this file has the slow paths.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <dlfcn.h>
#include <link.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "shim_int.h"

struct shim_config shim_cfg;
_Atomic int shim_hdr_state;
uint32_t shim_fork_gen;
_Atomic int shim_active;
_Atomic int shim_unwind_now;

__thread struct shim_tls shim_tls;

static struct shim_thread *_Atomic thread_list;
static _Atomic uint32_t thread_slots;
static pthread_key_t thread_key;
static bool thread_key_ok;

void shim_guard_set(int v)
{
    if (v)
        shim_enter();
    else
        shim_leave();
}

_Atomic int shim_gate;

/*
 * The gate from its two inputs. They change only at start-up and in a forked
 * child, but a thread's first hook call may decide the headers while the
 * constructor turns tracing on: whoever stores last checks the inputs again.
 */
static int gate_of_inputs(void)
{
    int h = atomic_load(&shim_hdr_state);
    if (h != 1)
        return h == 2 ? SHIM_GATE_HDR : SHIM_GATE_UNDECIDED;
    return atomic_load(&shim_active) ? SHIM_GATE_TABLE : SHIM_GATE_OFF;
}

int shim_gate_update(void)
{
    for (;;) {
        int g = gate_of_inputs();
        atomic_store(&shim_gate, g);
        if (gate_of_inputs() == g)
            return g;
    }
}

int shim_gate_decide(void)
{
    (void)shim_hdr_decide();
    return shim_gate_update();
}

void *shim_mmap(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void shim_munmap(void *p, size_t bytes)
{
    munmap(p, bytes);
}

struct shim_thread *shim_thread_list(void)
{
    return atomic_load(&thread_list);
}

uint64_t shim_threads_seen(void)
{
    return atomic_load(&thread_slots);
}

/* --- small math without libm (the shim links libc and libunwind only) --- */

double shim_exp(double x)
{
    if (x < -700)
        return 0;
    int k = (int)(x / 0.6931471805599453 + (x < 0 ? -0.5 : 0.5));
    double r = x - k * 0.6931471805599453, term = 1, sum = 1;
    for (int i = 1; i < 20; i++) {
        term *= r / i;
        sum += term;
    }
    while (k > 0) {
        sum *= 2;
        k--;
    }
    while (k < 0) {
        sum /= 2;
        k++;
    }
    return sum;
}

double shim_ln(double x)
{
    int e = 0;
    if (x <= 0)
        return -1e300;
    while (x > 1.5) {
        x /= 2;
        e++;
    }
    while (x < 0.75) {
        x *= 2;
        e--;
    }
    double y = (x - 1) / (x + 1), y2 = y * y, term = y, sum = 0;
    for (int i = 1; i < 40; i += 2) {
        sum += term / i;
        term *= y2;
    }
    return 2 * sum + e * 0.6931471805599453;
}

static inline uint64_t rng_next(struct shim_thread *t)
{
    uint64_t x = t->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    t->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* A uniform double in (0, 1]. */
static inline double rng_unit(struct shim_thread *t)
{
    return ((double)(rng_next(t) >> 11) + 1.0) / 9007199254740992.0;
}

/* Distance to the next sample: exponential in bytes, geometric in allocations. */
static int64_t next_sample_gap(struct shim_thread *t)
{
    double u = rng_unit(t);
    if (shim_cfg.sample_every > 0) {
        if (shim_cfg.sample_every == 1)
            return 1;
        double q = shim_ln(1.0 - 1.0 / (double)shim_cfg.sample_every);
        return (int64_t)(shim_ln(u) / q) + 1;
    }
    return (int64_t)(-shim_ln(u) * (double)shim_cfg.sample_bytes) + 1;
}

/*
 * A sampled block's weight in SHIM_FIX units: N for 1-in-N, and
 * 1 / (1 - exp(-size / interval)) for Poisson sampling by bytes, the chance
 * that a block of that size contains a sample point.
 */
uint64_t shim_sample_weight_fix(uint64_t size)
{
    if (shim_cfg.sample_every > 0)
        return shim_cfg.sample_every * SHIM_FIX;
    double p = 1.0 - shim_exp(-(double)size / (double)shim_cfg.sample_bytes);
    if (p <= 0)
        return (uint64_t)shim_cfg.sample_bytes * SHIM_FIX;
    return (uint64_t)((double)SHIM_FIX / p + 0.5);
}

/* --- threads --- */

static void thread_exit(void *arg)
{
    struct shim_thread *t = arg;
    if (shim_tls.self == t) {
        shim_tls.self = NULL;
        shim_tls.fast = NULL;
    }
    atomic_store_explicit(&t->state, SHIM_TS_EXITED, memory_order_release);
}

/* What the thread puts in the info of every header it counts (see SHIM_HDR_INFO). */
static void shim_thread_hdr_bits(struct shim_thread *t)
{
    uint32_t slot = t->slot < SHIM_HDR_SLOT_NONE ? t->slot : SHIM_HDR_SLOT_NONE;
    t->hdr_bits = SHIM_HDR_INFO(0, slot, shim_fork_gen, true, 0);
}

static struct shim_thread *thread_get(void)
{
    struct shim_thread *t = shim_tls.self;
    if (SHIM_LIKELY(t != NULL))
        return t;
    /* Reuse a state the flush thread has folded and freed, else map a new one. */
    for (t = atomic_load(&thread_list); t; t = t->next) {
        int expect = SHIM_TS_FREE;
        if (atomic_compare_exchange_strong(&t->state, &expect, SHIM_TS_LIVE))
            break;
    }
    if (t == NULL) {
        t = shim_mmap(sizeof(*t));
        if (t == NULL)
            return NULL;
        t->ctr = shim_mmap((size_t)SHIM_MAX_STACKS * sizeof(struct shim_stackctr));
        if (t->ctr == NULL) {
            shim_munmap(t, sizeof(*t));
            return NULL;
        }
        t->slot = atomic_fetch_add(&thread_slots, 1);
        atomic_store(&t->state, SHIM_TS_LIVE);
        struct shim_thread *head = atomic_load(&thread_list);
        do {
            t->next = head;
        } while (!atomic_compare_exchange_weak(&thread_list, &head, t));
    }
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    t->stack_lo = t->stack_hi = 0;
    t->bound_refreshes = 0;
    if (shim_cfg.mode != LSW_MODE_COUNT)
        (void)shim_maps_find(sp, &t->stack_lo, &t->stack_hi);
    t->rng = ((uint64_t)syscall(SYS_gettid) << 32) ^ (uint64_t)sp ^ 0x9E3779B97F4A7C15ull;
    if (t->rng == 0)
        t->rng = 1;
    t->sample_left = shim_cfg.mode == LSW_MODE_SAMPLED ? next_sample_gap(t)
                     : shim_cfg.mode == LSW_MODE_COUNT ? INT64_MAX
                                                       : 0;
    memset(t->cache, 0, sizeof(t->cache));
    t->cache_gen++; /* a recycled state's cached walks were of another thread's stack */
    shim_thread_hdr_bits(t);
    shim_tls.self = t;
    if (thread_key_ok)
        pthread_setspecific(thread_key, t); /* the key's slot is preallocated: no malloc */
    return t;
}

struct shim_thread *shim_thread_get(void)
{
    return thread_get();
}

#define bump shim_bump

/* Zeroes the per-stack counters the thread touched and forgets they were (its thread is gone, or forked away). */
void shim_ctr_clear(struct shim_thread *t)
{
    uint64_t used = atomic_load(&t->ctr_used);
    for (uint32_t k = 0; k < 64; k++)
        if ((used >> k) & 1)
            memset((void *)&t->ctr[k * SHIM_CTR_CHUNK], 0, SHIM_CTR_CHUNK * sizeof(*t->ctr));
    atomic_store(&t->ctr_used, 0);
}

/* --- the records --- */

/* An allocation by a thread with no state yet, or made inside the shim (guard set: not traced). */
void shim_record_alloc(void *p, size_t size, void *ret, void *frame, bool realloc_of_block)
{
    if (SHIM_UNLIKELY(shim_tls.guard))
        return;
    shim_enter();
    struct shim_thread *t = thread_get();
    shim_leave();
    if (SHIM_UNLIKELY(t == NULL))
        return;
    shim_on_alloc(p, size, ret, frame, realloc_of_block);
}

/* Takes the stack of an allocation already counted (every one in full mode, a sample in sampled mode). */
void shim_record_stack(struct shim_thread *t, void *p, size_t size, void *ret, void *frame,
                       bool realloc_of_block)
{
    if (shim_cfg.mode == LSW_MODE_COUNT) {
        t->sample_left = INT64_MAX; /* 8 EiB counted: start again */
        return;
    }
    shim_enter();
    uint64_t w = 1;
    if (shim_cfg.mode == LSW_MODE_SAMPLED) {
        do {
            t->sample_left += next_sample_gap(t);
        } while (t->sample_left <= 0);
        w = shim_sample_weight_fix(size);
    }
    uint32_t id = shim_stack_of(t, ret, frame);
    struct shim_stackctr *sc = shim_ctr(t, id);
    bump(&sc->allocs, w);
    bump(&sc->bytes, w * size);
    if (realloc_of_block)
        bump(&sc->reallocs, w);
    struct shim_block b = {.size = size, .stack = id, .thread = t->slot, .seq = (uint32_t)t->allocs};
    if (!shim_ptr_insert((uintptr_t)p, &b))
        bump(&t->dropped, 1);
    shim_leave();
}

/* Charges a freed block (already out of the table) to its stack. */
void shim_account_free(const struct shim_block *b, bool known)
{
    struct shim_thread *t = thread_get();
    if (t == NULL)
        return;
    bump(&t->frees, 1);
    if (!known)
        return;
    bump(&t->known_frees, 1);
    if (shim_cfg.mode == LSW_MODE_FULL)
        bump(&t->bytes_freed, b->size);
    uint64_t w = shim_cfg.mode == LSW_MODE_SAMPLED ? shim_sample_weight_fix(b->size) : 1;
    struct shim_stackctr *sc = shim_ctr(t, b->stack);
    bump(&sc->frees, w);
    bump(&sc->freed_bytes, w * b->size);
    if (b->thread == t->slot && (uint32_t)t->allocs - b->seq < SHIM_SHORT_LIVED_ALLOCS)
        bump(&sc->short_lived, w);
}

void shim_hdr_alloc_slow(void *p, size_t size, unsigned lg, void *ret, void *frame, bool re)
{
    shim_enter();
    struct shim_thread *t = thread_get();
    shim_leave();
    if (t != NULL)
        shim_on_hdr_alloc(p, size, lg, ret, frame, re);
}

void shim_hdr_free_slow(uint64_t size_stack, uint64_t info)
{
    if (shim_tls.guard)
        return;
    shim_enter();
    struct shim_thread *t = thread_get();
    shim_leave();
    if (t != NULL)
        shim_on_hdr_free(size_stack, info);
}

void shim_record_free(void *p)
{
    if (SHIM_UNLIKELY(shim_tls.guard) || p == NULL)
        return;
    shim_enter();
    struct shim_block b;
    bool known = shim_cfg.mode != LSW_MODE_COUNT && shim_ptr_remove((uintptr_t)p, &b);
    shim_account_free(&b, known);
    shim_leave();
}

bool shim_take_block(void *p, struct shim_block *out)
{
    if (shim_tls.guard || p == NULL || shim_cfg.mode == LSW_MODE_COUNT)
        return false;
    shim_enter();
    bool found = shim_ptr_remove((uintptr_t)p, out);
    shim_leave();
    return found;
}

void shim_put_back(void *p, const struct shim_block *b)
{
    shim_enter();
    (void)shim_ptr_insert((uintptr_t)p, b);
    shim_leave();
}

/* realloc moved or dropped a block: charge the old one as freed. */
void shim_realloc_freed(const struct shim_block *b, bool known)
{
    if (shim_tls.guard)
        return;
    shim_enter();
    shim_account_free(b, known);
    shim_leave();
}

/* --- set-up --- */

/* The value of environment variable name (NULL if unset), read from environ without libc's help. */
static char *env_raw(const char *name)
{
    extern char **environ;
    size_t len = strlen(name);
    if (environ == NULL)
        return NULL;
    for (char **e = environ; *e != NULL; e++)
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
            return *e + len + 1;
    return NULL;
}

/*
 * Headers go on every block, or on none: the choice is made on the first call
 * of any hook (the loader and other libraries' constructors allocate before
 * ours runs) and never changes, so every pointer that reaches free came from a
 * hook that made the same choice. Full mode with a socket to report to gets
 * headers; sampled mode keeps its filter and table (measured faster: with
 * headers on every block, 1.28x against 1.20x on bench/alloc_overhead.sh's C
 * target). With no environment to read yet, or LOADSCOPE_SHIM_HEADERS=0 (for
 * a program that looks at its blocks' neighbours), full mode uses the shared
 * pointer table instead.
 */
/*
 * A process that inherited LD_PRELOAD without being asked for: a child
 * started without a fork handler running (posix_spawn, vfork), when neither
 * --follow-fork nor KEEP_PRELOAD asked for children. The traced process
 * writes its pid in LOADSCOPE_SHIM_PID; an image it exec's (a wrapper script
 * exec'ing the real program) has the same pid and goes on being traced.
 */
static long env_pid(void)
{
    const char *v = env_raw(LSW_ENV_PID);
    long pid = 0;
    for (; v != NULL && *v >= '0' && *v <= '9'; v++)
        pid = pid * 10 + (*v - '0');
    return pid;
}

static bool untraced_descendant(void)
{
    long pid = env_pid();
    if (pid == 0 || pid == (long)getpid())
        return false;
    const char *follow = env_raw(LSW_ENV_FOLLOW_FORK), *keep = env_raw(LSW_ENV_KEEP_PRELOAD);
    return !(follow != NULL && strcmp(follow, "1") == 0) && !(keep != NULL && strcmp(keep, "1") == 0);
}

int shim_hdr_decide(void)
{
    const char *sock = env_raw(LSW_ENV_SOCKET);
    const char *mode = env_raw(LSW_ENV_MODE);
    const char *hdr = env_raw(LSW_ENV_HEADERS);
    bool off = hdr != NULL && strcmp(hdr, "0") == 0;
    bool full = mode == NULL || strcmp(mode, "full") == 0;
    int want = !off && sock != NULL && *sock != '\0' && full && !untraced_descendant() ? 2 : 1;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&shim_hdr_state, &expect, want))
        return expect;
    return want;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return dflt;
    uint64_t x = 0;
    for (; *v >= '0' && *v <= '9'; v++)
        x = x * 10 + (uint64_t)(*v - '0');
    return x ? x : dflt;
}

static bool env_is(const char *name, const char *val)
{
    const char *v = getenv(name);
    return v != NULL && strcmp(v, val) == 0;
}

/*
 * Takes our own path out of LD_PRELOAD, in place (no allocation), so children
 * run untraced. An emptied variable is removed unless in_fork_child (unsetenv
 * takes the environment lock, which another thread may have held at fork).
 */
void shim_strip_preload(bool in_fork_child)
{
    Dl_info di;
    char *v = getenv("LD_PRELOAD");
    if (v == NULL || dladdr(&shim_cfg, &di) == 0 || di.dli_fname == NULL)
        return;
    const char *base = strrchr(di.dli_fname, '/');
    base = base ? base + 1 : di.dli_fname;
    char *w = v;
    for (char *r = v; *r;) {
        while (*r == ':' || *r == ' ')
            r++;
        char *tok = r;
        while (*r && *r != ':' && *r != ' ')
            r++;
        size_t len = (size_t)(r - tok);
        if (len == 0)
            break;
        const char *tb = tok;
        for (char *q = tok; q < r; q++)
            if (*q == '/')
                tb = q + 1;
        bool ours = (size_t)(r - tb) == strlen(base) && strncmp(tb, base, strlen(base)) == 0;
        if (!ours) {
            if (w != v)
                *w++ = ':';
            memmove(w, tok, len);
            w += len;
        }
    }
    *w = '\0';
    if (*v == '\0' && !in_fork_child)
        unsetenv("LD_PRELOAD");
}

bool shim_exec_image;

/*
 * Notes this process's pid for the images it exec's and the children it
 * starts (see untraced_descendant). The value has a fixed width, so a forked
 * child rewrites it in place: setenv there could wait forever on the
 * environment lock another thread of the parent held at the fork.
 */
#define PID_DIGITS 10
void shim_note_pid(void)
{
    char buf[PID_DIGITS + 1];
    unsigned long pid = (unsigned long)getpid();
    for (int i = PID_DIGITS - 1; i >= 0; i--) {
        buf[i] = (char)('0' + pid % 10);
        pid /= 10;
    }
    buf[PID_DIGITS] = '\0';
    char *cur = env_raw(LSW_ENV_PID);
    if (cur != NULL && strlen(cur) == PID_DIGITS)
        memcpy(cur, buf, PID_DIGITS);
    else
        setenv(LSW_ENV_PID, buf, 1); /* at start-up, before any thread or fork */
}

static void config_from_env(void)
{
    const char *sock = getenv(LSW_ENV_SOCKET);
    if (sock)
        strncpy(shim_cfg.socket_path, sock, sizeof(shim_cfg.socket_path) - 1);
    shim_cfg.mode = LSW_MODE_FULL;
    if (env_is(LSW_ENV_MODE, "count"))
        shim_cfg.mode = LSW_MODE_COUNT;
    else if (env_is(LSW_ENV_MODE, "sampled"))
        shim_cfg.mode = LSW_MODE_SAMPLED;
    shim_cfg.depth = (uint32_t)env_u64(LSW_ENV_DEPTH, 64);
    if (shim_cfg.depth > LSW_MAX_FRAMES)
        shim_cfg.depth = LSW_MAX_FRAMES;
    shim_cfg.sample_bytes = env_u64(LSW_ENV_SAMPLE_BYTES, 512 * 1024);
    shim_cfg.sample_every = getenv(LSW_ENV_SAMPLE_EVERY) ? env_u64(LSW_ENV_SAMPLE_EVERY, 0) : 0;
    shim_cfg.unwind = LSW_UNWIND_AUTO;
    if (env_is(LSW_ENV_UNWIND, "fp"))
        shim_cfg.unwind = LSW_UNWIND_FP;
    else if (env_is(LSW_ENV_UNWIND, "libunwind"))
        shim_cfg.unwind = LSW_UNWIND_LIBUNWIND;
    if (shim_headers())
        shim_cfg.mode = LSW_MODE_FULL; /* the choice made on the first allocation stands */
    if (shim_cfg.mode == LSW_MODE_COUNT)
        shim_cfg.unwind = LSW_UNWIND_NONE;
    shim_cfg.follow_fork = env_is(LSW_ENV_FOLLOW_FORK, "1");
    shim_cfg.keep_preload = env_is(LSW_ENV_KEEP_PRELOAD, "1") || shim_cfg.follow_fork;
}

/* In a forked child that keeps tracing: start from zero, as a process of its own. */
void shim_reset_after_fork(void)
{
    struct shim_thread *me = shim_tls.self;
    for (struct shim_thread *t = atomic_load(&thread_list); t; t = t->next) {
        atomic_store(&t->allocs, 0);
        atomic_store(&t->frees, 0);
        atomic_store(&t->reallocs, 0);
        atomic_store(&t->bytes_alloc, 0);
        atomic_store(&t->bytes_freed, 0);
        atomic_store(&t->untracked_frees, 0);
        atomic_store(&t->known_frees, 0);
        atomic_store(&t->dropped, 0);
        shim_ctr_clear(t);
        if (t != me)
            atomic_store(&t->state, SHIM_TS_FREE); /* its thread does not exist here */
    }
    shim_ptr_clear();
    shim_inside_reset_after_fork();
    shim_fork_gen++; /* the parent's blocks keep their headers but are not charged here */
    if (me != NULL)
        shim_thread_hdr_bits(me);
}

__attribute__((constructor(101))) static void shim_init(void)
{
    shim_enter();
    shim_hooks_init();
    config_from_env();
    if (untraced_descendant()) {
        /* Inherited, not asked for: stay out of the way, and out of its own children. */
        shim_strip_preload(false);
        goto out;
    }
    shim_exec_image = env_pid() == (long)getpid();
    shim_note_pid();
    shim_stack_init();
    atomic_store(&shim_unwind_now, shim_cfg.unwind);
    if (shim_cfg.socket_path[0] == '\0' || !shim_tables_init())
        goto out;
    shim_inside_init();
    thread_key_ok = pthread_key_create(&thread_key, thread_exit) == 0;
    pthread_atfork(shim_fork_prepare, shim_fork_parent, shim_fork_child);
    shim_flush_start();
out:
    shim_leave();
}
