/*
 * shim_int: what the files of the allocation tracer share (never installed,
 * never seen by core/). Everything here has hidden visibility (the CMake
 * target's default); only the hooks in shim_hooks.c are exported.
 *
 * House rules, because this code runs inside other people's malloc calls:
 * nothing on the hot path may take a lock that libc or the loader may hold,
 * or allocate from malloc; our own memory comes from mmap; a thread-local
 * guard (initial-exec TLS: no allocation on first access) turns every
 * allocation made while we are already inside a hook into a plain pass-through.
 */
#ifndef SHIM_INT_H
#define SHIM_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <emmintrin.h> /* SSE2: in every x86-64 processor */

#include "lsalloc_wire.h"

#define SHIM_EXPORT __attribute__((visibility("default")))
#define SHIM_LIKELY(x) __builtin_expect(!!(x), 1)
#define SHIM_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define SHIM_MAX_STACKS (1u << 16)      /* distinct stacks; beyond: id 0 and counted dropped */
#define SHIM_CACHE 512u                 /* per-thread direct-mapped stack cache */
#define SHIM_SHORT_LIVED_ALLOCS 16u     /* "short-lived": freed by its thread within this many allocations */
#define SHIM_FIX 256u                   /* sampled mode: counters in 1/256 units */
#define SHIM_FPW_BITS 12                /* the frame-pointer cache's way predictor: 4096 slots */
#define SHIM_FPW_SLOTS (1u << SHIM_FPW_BITS)

struct shim_config {
    int mode;                 /* enum lsw_mode */
    int unwind;               /* enum lsw_unwind asked for */
    uint32_t depth;
    uint64_t sample_bytes;    /* Poisson mean interval (sampled mode) */
    uint64_t sample_every;    /* 1-in-N by count (sampled mode), 0: by bytes */
    bool follow_fork;
    bool keep_preload;
    char socket_path[108];
};

/* Per-stack counters one thread keeps (single writer: the owner; read by the flush thread). */
struct shim_stackctr {
    _Atomic uint64_t allocs, bytes, reallocs, frees, freed_bytes, short_lived;
} __attribute__((aligned(64)));         /* one cache line per stack */

enum { SHIM_TS_FREE = 0, SHIM_TS_LIVE = 1, SHIM_TS_EXITED = 2 };

/*
 * A thread's state. What every traced call reads or writes comes first, in
 * the first two cache lines; the rest is touched on slow paths only.
 */
struct shim_thread {
    /* first cache line: what count and sampled modes touch on every call */
    _Atomic uint64_t allocs, bytes_alloc, frees, reallocs; /* exact counters (single writer) */
    int64_t sample_left;                /* bytes or allocations until the next stack is taken */
    uint64_t seq;                       /* with headers: allocations this thread counted (else: allocs) */
    struct shim_stackctr *ctr;          /* per-stack counters, SHIM_MAX_STACKS of them (mmap'd, lazily touched) */
    uint64_t hdr_bits;                  /* this thread's part of a header's info: slot, fork generation, counted */
    /* second: full mode's */
    _Atomic uint64_t ctr_used;          /* bit k: counters of stacks [1024k, 1024k + 1024) touched */
    _Atomic uint64_t bytes_freed;
    _Atomic uint64_t untracked_frees;   /* with headers: frees of blocks never counted */
    _Atomic uint64_t known_frees;       /* without headers: frees found in the pointer table */
    struct shim_fp_entry *fp_cache;     /* frame-pointer mode: SHIM_FPC_ENTRIES, mmap'd on first use */
    uintptr_t stack_lo, stack_hi;       /* the mapping holding this thread's stack */
    uint32_t slot;                      /* index, for short-lived attribution */
    uint32_t cache_gen;                 /* bumped when the thread or its stack bounds change */
    uint64_t fp_history;                /* the stack ids of the thread's last two allocations (fp_way's context) */
    /* cold */
    struct shim_thread *next;           /* global list; states are recycled, never unmapped */
    _Atomic int state;                  /* SHIM_TS_* */
    uint32_t bound_refreshes;           /* re-reads of the maps when sp left the bounds */
    _Atomic uint64_t dropped, walks_fp, walks_unw;
    uint64_t rng;
    struct {
        uint64_t hash;
        uint32_t id;
    } cache[SHIM_CACHE];
    struct shim_unw_entry *unw_cache;   /* libunwind mode: SHIM_UNW_ENTRIES, mmap'd on first use */
    struct shim_in_tab *inside;         /* inside-the-target records (shim_inside.c), mmap'd on first use */
    uint8_t fp_victim[1u << 6];         /* per set of fp_cache: the way to replace next */
    uint8_t fp_way[SHIM_FPW_SLOTS];     /* the way of fp_cache to try first, by key and fp_history */
};

/*
 * libunwind mode's per-thread stack cache: a stack found by unw_backtrace,
 * keyed by the hook's return address and frame address, with where each of
 * its return addresses sits on the stack, so the next allocation from the same
 * place at the same depth is checked with one load per frame instead of
 * unwound (see unw_cache_hit in shim_core.c).
 */
#define SHIM_UNW_ENTRIES 256u
#define SHIM_UNW_FRAMES 64u
struct shim_unw_entry {
    uintptr_t ret, frame;               /* key; frame 0 means empty */
    uint32_t n;                         /* frames */
    uint32_t id;                        /* stack id */
    uint32_t off[SHIM_UNW_FRAMES];      /* byte offset from frame of return address i's slot */
    uintptr_t frames[SHIM_UNW_FRAMES];
};

/*
 * The frame-pointer walk's per-thread cache (see shim_stack.c): where a walk
 * started and every pair of words it read (a frame's saved frame pointer and
 * return address), with the stack it gave. The pairs' addresses need no
 * room: the walk reads its first pair at the starting frame and each next
 * one where the saved frame pointer just read points.
 */
#define SHIM_FPC_BITS 6                     /* 64 sets */
#define SHIM_FPC_WAYS 8                     /* a helper called from several places at one depth (a power of two) */
#define SHIM_FPC_ENTRIES ((1u << SHIM_FPC_BITS) * SHIM_FPC_WAYS)
#define SHIM_FPC_PAIRS 66u                  /* a 64-frame walk reads the hook's frame and 64 more */
struct shim_fp_entry {
    uintptr_t ret, frame;                   /* key */
    uint32_t gen;                           /* the thread's cache_gen when stored; 0: empty */
    uint32_t npairs, id, pad;
    uintptr_t w[SHIM_FPC_PAIRS][2];         /* pair i was read at frame (i = 0), else at w[i - 1][0] */
};

/*
 * Full mode's block header, when the process started in full mode (see
 * shim_hdr_decide): every block the hooks hand out, traced or not, has these
 * 16 bytes in front of it, so a free finds the block's stack, size and
 * allocating thread there instead of in a shared table. The offset from the
 * start of glibc's block to the caller's pointer is 16, or the alignment
 * asked for by memalign and its kind.
 */
struct shim_hdr {
    uint64_t size_stack;    /* requested size (low 48 bits) | stack id << 48 (0: none) */
    uint64_t info;          /* SHIM_HDR_INFO(seq, thread slot, fork generation, counted, log2 offset) */
};
#define SHIM_HDR_SIZE_MASK ((1ull << 48) - 1)
#define SHIM_HDR_SLOT_NONE 0xFFFFFu
#define SHIM_HDR_INFO(seq, slot, gen, counted, lg)                                                \
    ((uint64_t)(uint32_t)(seq) | (uint64_t)((slot) & 0xFFFFFu) << 32 |                          \
     (uint64_t)((gen) & 63u) << 52 | (uint64_t)((counted) ? 1 : 0) << 58 | (uint64_t)(lg) << 59)
#define SHIM_HDR_SEQ(i) ((uint32_t)(i))
#define SHIM_HDR_SLOT(i) ((uint32_t)((i) >> 32) & 0xFFFFFu)
#define SHIM_HDR_GEN(i) ((uint32_t)((i) >> 52) & 63u)
#define SHIM_HDR_COUNTED(i) (((i) >> 58) & 1u)
#define SHIM_HDR_LG(i) ((unsigned)((i) >> 59))

/* What the pointer table keeps per tracked block. */
struct shim_block {
    uint64_t size;
    uint32_t stack;      /* stack id */
    uint32_t thread;     /* allocating thread's slot */
    uint32_t seq;        /* its allocation count then (low 32 bits) */
};

extern struct shim_config shim_cfg;
extern _Atomic int shim_hdr_state;   /* 0: not decided yet, 1: plain blocks, 2: headers (full mode) */
extern uint32_t shim_fork_gen;       /* headers of blocks from before a followed fork are not charged */
extern _Atomic int shim_active;      /* 1 while tracing this process */
extern _Atomic int shim_unwind_now;  /* enum lsw_unwind in use */

/*
 * This thread's state and recursion guard, side by side in one initial-exec
 * TLS block (the library is built with -ftls-model=initial-exec): the hooks'
 * fast paths below read both with two %fs-relative loads.
 */
/* Decides, on the first hook call, whether this process's blocks carry headers; returns the state. */
int shim_hdr_decide(void);

struct shim_tls {
    struct shim_thread *fast; /* self while the guard is clear, else NULL: the hooks' one test */
    struct shim_thread *self; /* NULL until the thread's first traced call */
    int guard;                /* 1: inside the shim; allocations pass through untraced */
    uint32_t worker_gen;      /* shim_names_gen when `worker` was decided; 0: not decided */
    bool worker;              /* the thread's name marks an async runtime's worker */
};
extern __thread struct shim_tls shim_tls;

/* Sets the recursion guard: this thread's allocations pass through untraced until shim_leave. */
static inline void shim_enter(void)
{
    shim_tls.guard = 1;
    shim_tls.fast = NULL;
}

static inline void shim_leave(void)
{
    shim_tls.guard = 0;
    shim_tls.fast = shim_tls.self;
}

/*
 * What every hook reads first, one word for the process: how its blocks are
 * kept and whether they are traced. It follows shim_hdr_state and
 * shim_active (shim_gate_update), and is decided on the first hook call.
 */
enum {
    SHIM_GATE_UNDECIDED = 0,
    SHIM_GATE_OFF = 1,   /* plain blocks, not tracing: the hooks only pass calls on to glibc */
    SHIM_GATE_TABLE = 2, /* plain blocks, tracing: counters, and the pointer table for sampled blocks */
    SHIM_GATE_HDR = 3,   /* blocks with headers (full mode), tracing or not */
};
extern _Atomic int shim_gate;
/* Recomputes shim_gate after shim_hdr_state or shim_active changed; returns it. */
int shim_gate_update(void);

/* Decides the gate on the first hook call of the process (see shim_hdr_decide); returns it. */
int shim_gate_decide(void);

static inline __attribute__((always_inline)) int shim_gate_load(void)
{
    return atomic_load_explicit(&shim_gate, memory_order_relaxed);
}

/* A bitmap filter of the pointer table (see shim_tables.c): empty in count mode, full in full mode. */
#define SHIM_FILTER_BITS 4096u
extern _Atomic uint64_t shim_filter_bits[SHIM_FILTER_BITS / 64];

static inline uint64_t shim_ptr_hash(uintptr_t p)
{
    uint64_t h = (uint64_t)(p >> 4) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 31);
}

/* False when p is certainly not in the pointer table. */
static inline bool shim_maybe_tracked(uintptr_t p)
{
    uint32_t b = (uint32_t)shim_ptr_hash(p) & (SHIM_FILTER_BITS - 1);
    return (atomic_load_explicit(&shim_filter_bits[b / 64], memory_order_acquire) >> (b & 63)) & 1;
}

/* This thread's counters of stack id, marked as touched so the flush thread reads only those. */
#define SHIM_CTR_CHUNK 1024u
static inline struct shim_stackctr *shim_ctr(struct shim_thread *t, uint32_t id)
{
    uint64_t bit = 1ull << (id / SHIM_CTR_CHUNK);
    uint64_t used = atomic_load_explicit(&t->ctr_used, memory_order_relaxed);
    if (SHIM_UNLIKELY(!(used & bit)))
        atomic_store_explicit(&t->ctr_used, used | bit, memory_order_release);
    return &t->ctr[id];
}

/* Adds v to a counter only its owner thread writes (no locked instruction). */
static inline void shim_bump(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

/* shim_core.c */
void *shim_mmap(size_t bytes);
void shim_munmap(void *p, size_t bytes);
struct shim_thread *shim_thread_list(void);
uint64_t shim_threads_seen(void);
/* Slow paths of shim_on_alloc/shim_on_free: first call of a thread, guard set, a stack to take. */
void shim_record_alloc(void *p, size_t size, void *ret, void *frame, bool realloc_of_block);
void shim_record_stack(struct shim_thread *t, void *p, size_t size, void *ret, void *frame,
                       bool realloc_of_block);
void shim_record_free(void *p);
/* realloc support: takes p's record out before the block changes hands; puts it back if realloc failed. */
bool shim_take_block(void *p, struct shim_block *out);
void shim_put_back(void *p, const struct shim_block *b);
void shim_account_free(const struct shim_block *b, bool known);
void shim_realloc_freed(const struct shim_block *b, bool known);
void shim_reset_after_fork(void);
/* Takes the shim out of LD_PRELOAD so the programs this process starts run untraced. */
void shim_strip_preload(bool in_fork_child);
void shim_ctr_clear(struct shim_thread *t);
/* Writes this process's pid to LOADSCOPE_SHIM_PID (allocates: call with the guard set). */
void shim_note_pid(void);
extern bool shim_exec_image;         /* this image replaced a traced one of the same process (exec) */
uint64_t shim_sample_weight_fix(uint64_t size);
double shim_exp(double x);
/* Sets this thread's recursion guard (1: its allocations are not traced). */
void shim_guard_set(int v);
double shim_ln(double x);

/* Charges the free of a block with a header (a thread with no state yet, or the guard set). */
void shim_hdr_free_slow(uint64_t size_stack, uint64_t info);
/* shim_on_hdr_alloc for a thread with no state yet: makes it, then counts the block. */
void shim_hdr_alloc_slow(void *p, size_t size, unsigned lg, void *ret, void *frame, bool re);

/* shim_stack.c */
void shim_stack_init(void);
/* shim_stack_of with the guard set (the walk may call into libc or libunwind). */
uint32_t shim_stack_slow(struct shim_thread *t, void *ret, void *frame);
/* The stack id of an allocation whose hook has frame `frame` and return address `ret` (0: dropped). */
uint32_t shim_stack_of(struct shim_thread *t, void *ret, void *frame);

/* shim_tables.c */
bool shim_tables_init(void);
uint32_t shim_stack_intern(uint64_t hash, void *const *frames, uint32_t n);
uint32_t shim_stacks_count(void);
/* Frames of stack id (NULL if not yet published). */
const uint64_t *shim_stack_frames(uint32_t id, uint32_t *n);
uint64_t shim_stack_dropped(void);
bool shim_ptr_insert(uintptr_t p, const struct shim_block *b);
bool shim_ptr_remove(uintptr_t p, struct shim_block *out);
void shim_ptr_lock_all(void);
void shim_ptr_unlock_all(void);
void shim_ptr_clear(void);

/* shim_inside.c: connections, DNS, blocking calls, lock waits, thread creations */
#define SHIM_FD_MAX 65536u                  /* fds the per-fd tables cover */
extern _Atomic uint32_t shim_names_gen;     /* bumped when a thread renames another */
/* Reads the table sizes and the worker names; maps the per-fd tables (constructor). */
void shim_inside_init(void);
/* Decides (and caches in shim_tls) whether this thread is a runtime worker; see shim_on_worker. */
bool shim_worker_decide(void);
/*
 * Charges one call of kind (enum lsw_inside_kind, with LSW_IN_WORKER) to the
 * stack of the hook whose return address and frame are given (none for
 * LSW_IN_CLOSE), with obj (a peer or name id, or 0), whether it failed and
 * the time it took. Keeps errno. Nothing when the guard is set or tracing is off.
 */
void shim_inside_record(uint32_t kind, uint32_t obj, bool failed, uint64_t time_ns, void *ret,
                        void *frame);
/* The id of a TCP peer (0: table full); of a name getaddrinfo was asked for (0: table full). */
uint32_t shim_peer_id(const void *sockaddr, uint32_t len);
uint32_t shim_name_id(const char *node, const char *service);
/* True when fd is a regular file (cached per fd, forgotten at close). */
bool shim_fd_regular(int fd);
/* The fd is about to be closed (or replaced by dup2): forgets its class; counts a peer's close. */
void shim_fd_forget(int fd);
/* The fd was just made by socket() or accept(): not a regular file. */
void shim_fd_other(int fd);
/* A connect() on fd reached peer. */
void shim_fd_peer(int fd, uint32_t peer);
/* Flush thread: folds an exited thread's records into the retired totals. */
void shim_inside_fold(struct shim_thread *t);
/*
 * Flush thread: sends new peers and names, then one INSIDE message of the
 * differences since the last; records naming a stack id >= stacks_sent wait
 * for the next batch. put is shim_flush.c's message writer.
 */
void shim_inside_flush(void (*put)(uint32_t type, const void *a, size_t alen, const void *b,
                                   size_t blen),
                       uint32_t stacks_sent);
/* In a forked child that keeps tracing: every count starts over; peers and names are sent again. */
void shim_inside_reset_after_fork(void);
/* shim_inside_hooks.c (absent from the bench's build without the hooks): glibc's definitions looked up. */
void shim_inside_hooks_init(void) __attribute__((weak));

/* Monotonic nanoseconds (vDSO). */
uint64_t shim_mono_ns(void);

/* This thread's state, made on first use; call with the guard set. */
struct shim_thread *shim_thread_get(void);

/*
 * A system call without glibc's syscall() (which the shim interposes): -1
 * and errno on failure, as glibc's. x86-64 only, like the rest of the shim.
 */
static inline long shim_raw_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
    long ret;
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register long r9 __asm__("r9") = a6;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    if ((unsigned long)ret > -4096ul) {
        errno = (int)-ret;
        return -1;
    }
    return ret;
}

/*
 * True when the calling thread is an async runtime's worker (its name
 * matches LOADSCOPE_WORKER_THREADS). Decided once per thread, again after a
 * rename: one thread-local compare on every other call.
 */
static inline __attribute__((always_inline)) bool shim_on_worker(void)
{
    if (SHIM_LIKELY(shim_tls.worker_gen == atomic_load_explicit(&shim_names_gen, memory_order_relaxed)))
        return shim_tls.worker;
    return shim_worker_decide();
}

/* shim_flush.c */
void shim_flush_start(void);
/* Sends the last batch and a goodbye before _exit or _Exit ends the process (they skip atexit). */
void shim_flush_before_exit(void);
/* Sends what the process counted since the last batch before an exec replaces its image. */
void shim_flush_before_exec(void);

/* shim_hooks.c: looks up glibc's definitions the hooks call on (from the constructor). */
void shim_hooks_init(void);
void shim_fork_prepare(void);
void shim_fork_parent(void);
void shim_fork_child(void);
/* Reads the bounds of the mapping holding addr from /proc/self/maps; false if none. */
bool shim_maps_find(uintptr_t addr, uintptr_t *lo, uintptr_t *hi);


/*
 * The hooks' fast paths without headers, inlined into each hook. Exact
 * counters for every allocation, then one countdown says whether this one
 * takes a stack: bytes or allocations to the next sample in sampled mode,
 * never in count mode (it starts at INT64_MAX), every time in full mode
 * without headers (it stays at 0). No shared state is touched.
 */
static inline __attribute__((always_inline)) void shim_on_alloc(void *p, size_t size, void *ret,
                                                                void *frame, bool realloc_of_block)
{
    struct shim_thread *t = shim_tls.fast;
    if (SHIM_UNLIKELY(t == NULL)) {
        shim_record_alloc(p, size, ret, frame, realloc_of_block);
        return;
    }
    shim_bump(&t->allocs, 1);
    shim_bump(&t->bytes_alloc, size);
    if (realloc_of_block)
        shim_bump(&t->reallocs, 1);
    t->sample_left -= shim_cfg.sample_every > 0 ? 1 : (int64_t)(size | (size == 0));
    if (SHIM_LIKELY(t->sample_left > 0))
        return;
    shim_record_stack(t, p, size, ret, frame, realloc_of_block);
}

/*
 * A free without headers: counted on the spot in count mode, and when the
 * filter says the block is certainly not in the pointer table (most frees in
 * sampled mode), without a lock or a shared cache line written; otherwise
 * looked up in the table (full mode's filter is full).
 */
static inline __attribute__((always_inline)) void shim_on_free(void *p)
{
    struct shim_thread *t = shim_tls.fast;
    if (SHIM_LIKELY(t != NULL) &&
        (shim_cfg.mode == LSW_MODE_COUNT || !shim_maybe_tracked((uintptr_t)p))) {
        shim_bump(&t->frees, 1);
        return;
    }
    shim_record_free(p);
}

/* True when every block carries a struct shim_hdr (decided once, before the first block). */
static inline __attribute__((always_inline)) bool shim_headers(void)
{
    int s = atomic_load_explicit(&shim_hdr_state, memory_order_relaxed);
    if (SHIM_UNLIKELY(s == 0))
        s = shim_hdr_decide();
    return s == 2;
}

/* The bits of a header's info that say "counted, in this fork generation": equal to the thread's. */
#define SHIM_HDR_MINE_MASK ((63ull << 52) | (1ull << 58))
#define SHIM_HDR_SLOT_MASK (0xFFFFFull << 32)

/* True when a header's block was counted by this process in its present fork generation. */
static inline __attribute__((always_inline)) bool shim_hdr_mine(const struct shim_thread *t, uint64_t info)
{
    return ((info ^ t->hdr_bits) & SHIM_HDR_MINE_MASK) == 0;
}

/*
 * Charges the free of a counted block to its stack in this thread's own
 * counters, no table, no lock. The thread's exact totals of counted blocks
 * are the sums of its per-stack counters (shim_flush.c). No branch on
 * "short-lived" (freed by its own thread within a few allocations): the
 * answer changes from one free to the next.
 */
static inline __attribute__((always_inline)) void shim_hdr_charge_free(struct shim_thread *t,
                                                                       uint64_t size_stack,
                                                                       uint64_t info)
{
    struct shim_stackctr *sc = shim_ctr(t, (uint32_t)(size_stack >> 48));
    shim_bump(&sc->frees, 1);
    shim_bump(&sc->freed_bytes, size_stack & SHIM_HDR_SIZE_MASK);
    uint64_t short_lived = (uint64_t)(((info ^ t->hdr_bits) & SHIM_HDR_SLOT_MASK) == 0) &
                           (uint64_t)((uint32_t)t->seq - SHIM_HDR_SEQ(info) < SHIM_SHORT_LIVED_ALLOCS);
    shim_bump(&sc->short_lived, short_lived);
}

/*
 * The free of a block with a header, given the header's two words. A block
 * that was never counted (allocated before tracing started, inside the shim,
 * or before a followed fork) only counts as an untracked free.
 */
static inline __attribute__((always_inline)) void shim_on_hdr_free(uint64_t size_stack, uint64_t info)
{
    struct shim_thread *t = shim_tls.fast;
    if (SHIM_UNLIKELY(t == NULL)) {
        shim_hdr_free_slow(size_stack, info);
        return;
    }
    if (SHIM_UNLIKELY(!shim_hdr_mine(t, info))) {
        shim_bump(&t->frees, 1);
        shim_bump(&t->untracked_frees, 1);
        return;
    }
    shim_hdr_charge_free(t, size_stack, info);
}

/*
 * The ways of fp_cache's set other than the one predicted (a helper called
 * from several places at one depth): true and *id when one holds.
 */
bool shim_fp_other_ways(struct shim_thread *t, uint32_t set, uint32_t slot, uintptr_t ret,
                        uintptr_t frame, uint32_t *id);

/* The hash of a frame-pointer cache key: its top bits pick the set. */
static inline uint64_t shim_fpc_key(uintptr_t ret, uintptr_t frame)
{
    return (uint64_t)(ret ^ (frame << 13)) * 0x9E3779B97F4A7C15ull;
}

static inline uint32_t shim_fpc_set(uint64_t key)
{
    return (uint32_t)(key >> (64 - SHIM_FPC_BITS));
}

/*
 * The slot of fp_way that says which way of the set to try first: the key
 * and the thread's last two stacks. Ways that share a key (the same helper
 * at the same depth, called from several places) answer in turn in a
 * server, which handles each request with the same sequence of allocations:
 * the stacks before an allocation tell which of them it is, where the way
 * that answered last is wrong about half the time.
 */
static inline uint32_t shim_fpw_slot(const struct shim_thread *t, uint64_t key)
{
    return (uint32_t)((key ^ t->fp_history * 0xC2B2AE3D27D4EB4Full) >> (64 - SHIM_FPW_BITS));
}

/* Records the stack of the thread's allocation in fp_history. */
static inline void shim_fp_history_push(struct shim_thread *t, uint32_t id)
{
    t->fp_history = t->fp_history << 32 | id;
}

/* True when every pair of words entry e's walk read still holds what it read. */
static inline __attribute__((always_inline)) bool shim_fp_holds(const struct shim_fp_entry *e)
{
    /*
     * Independent 16-byte loads the processor overlaps (each address comes
     * from the entry, not from the stack word read before it), two pairs a
     * turn into two accumulators, folded with no branch until the end.
     */
    uint32_t n = e->npairs, i = 1;
    __m128i acc = _mm_xor_si128(_mm_loadu_si128((const __m128i *)e->frame),
                                _mm_load_si128((const __m128i *)e->w[0]));
    __m128i acc2 = _mm_setzero_si128();
    for (; i + 1 < n; i += 2) {
        __m128i a = _mm_loadu_si128((const __m128i *)e->w[i - 1][0]);
        __m128i b = _mm_loadu_si128((const __m128i *)e->w[i][0]);
        acc = _mm_or_si128(acc, _mm_xor_si128(a, _mm_load_si128((const __m128i *)e->w[i])));
        acc2 = _mm_or_si128(acc2, _mm_xor_si128(b, _mm_load_si128((const __m128i *)e->w[i + 1])));
    }
    if (i < n)
        acc2 = _mm_or_si128(acc2, _mm_xor_si128(_mm_loadu_si128((const __m128i *)e->w[i - 1][0]),
                                                _mm_load_si128((const __m128i *)e->w[i])));
    acc = _mm_or_si128(acc, acc2);
    return _mm_movemask_epi8(_mm_cmpeq_epi8(acc, _mm_setzero_si128())) == 0xFFFF;
}

/*
 * The frame-pointer cache's answer for (ret, frame), t->fp_cache mapped: the
 * way of the set fp_way predicts, inline, then (out of line) the others.
 */
static inline __attribute__((always_inline)) bool shim_fp_lookup(struct shim_thread *t, uintptr_t ret,
                                                                 uintptr_t frame, uint32_t *id)
{
    uint64_t key = shim_fpc_key(ret, frame);
    uint32_t set = shim_fpc_set(key), slot = shim_fpw_slot(t, key);
    const struct shim_fp_entry *e = &t->fp_cache[set * SHIM_FPC_WAYS + t->fp_way[slot]];
    if (SHIM_LIKELY(((e->ret ^ ret) | (e->frame ^ frame) | (e->gen ^ t->cache_gen)) == 0) &&
        SHIM_LIKELY(shim_fp_holds(e))) {
        *id = e->id;
        return true;
    }
    return shim_fp_other_ways(t, set, slot, ret, frame, id);
}

/*
 * The stack id of an allocation, the common case inline: frame pointers, and
 * the walk from this hook frame found in the cache, starting with the way
 * fp_way predicts; the stack found goes into the thread's history.
 */
static inline __attribute__((always_inline)) uint32_t shim_stack_fast(struct shim_thread *t, void *ret,
                                                                      void *frame)
{
    if (SHIM_LIKELY(atomic_load_explicit(&shim_unwind_now, memory_order_relaxed) == LSW_UNWIND_FP &&
                    t->fp_cache != NULL)) {
        uint32_t id;
        if (shim_fp_lookup(t, (uintptr_t)ret, (uintptr_t)frame, &id)) {
            shim_fp_history_push(t, id);
            return id;
        }
    }
    return shim_stack_slow(t, ret, frame);
}

/*
 * Full mode with headers: the block at p (header in front, 2^lg bytes after
 * glibc's start) counted, its stack charged, its header written. Outside
 * tracing (a thread with no state yet, the guard set, tracing off) the header
 * says "not counted".
 */
static inline __attribute__((always_inline)) void shim_on_hdr_alloc(void *p, size_t size, unsigned lg,
                                                                    void *ret, void *frame, bool re)
{
    struct shim_hdr *h = (struct shim_hdr *)p - 1;
    struct shim_thread *t = shim_tls.fast;
    if (SHIM_UNLIKELY(t == NULL || !atomic_load_explicit(&shim_active, memory_order_relaxed))) {
        h->size_stack = size & SHIM_HDR_SIZE_MASK;
        h->info = (uint64_t)lg << 59;
        if (t == NULL && !shim_tls.guard && atomic_load_explicit(&shim_active, memory_order_relaxed))
            shim_hdr_alloc_slow(p, size, lg, ret, frame, re);
        return;
    }
    uint32_t id = shim_stack_fast(t, ret, frame);
    uint64_t seq = ++t->seq;
    struct shim_stackctr *sc = shim_ctr(t, id);
    shim_bump(&sc->allocs, 1);
    shim_bump(&sc->bytes, size);
    if (re)
        shim_bump(&sc->reallocs, 1);
    h->size_stack = (size & SHIM_HDR_SIZE_MASK) | (uint64_t)id << 48;
    h->info = (uint32_t)seq | t->hdr_bits | (uint64_t)lg << 59;
}

/* realloc: takes p's record out of the table, skipping the call when it certainly has none. */
static inline __attribute__((always_inline)) bool shim_on_realloc_take(void *p, struct shim_block *out)
{
    if (!shim_maybe_tracked((uintptr_t)p))
        return false;
    return shim_take_block(p, out);
}

/* realloc moved or resized a block: its old self counts as freed. */
static inline __attribute__((always_inline)) void shim_on_realloc_freed(const struct shim_block *b,
                                                                        bool known)
{
    struct shim_thread *t = shim_tls.fast;
    if (SHIM_LIKELY(!known && t != NULL)) {
        shim_bump(&t->frees, 1);
        return;
    }
    shim_realloc_freed(b, known);
}

#endif
