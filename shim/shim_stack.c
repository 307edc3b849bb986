/*
 * shim_stack: the call stack of an allocation, as a small integer id.
 *
 * Two ways to walk (shim_int.h explains when each is used): a frame-pointer
 * walk bounded by the mapping that holds the thread's stack (read once per
 * thread from /proc/self/maps with plain system calls, never
 * pthread_getattr_np, which takes locks and allocates), each step checked for
 * alignment and strict increase so a frame without a frame pointer ends the
 * walk instead of faulting; and libunwind's unw_backtrace. With unwind=auto
 * the first walks whose caller is in the main executable are compared with
 * libunwind; if the frame-pointer walks come out clearly shallower, the target
 * has no frame pointers and libunwind is used from then on.
 *
 * Most allocations come from a few places, so each thread caches the stacks
 * it has walked and proves a hit without walking:
 * - frame pointers: the walk is a function of the words it reads (its
 *   starting frame, the stack bounds and the depth are the cache key), so a
 *   cached walk records the address and value of every word it read; if every
 *   one of those words still holds its value, walking again would read the
 *   same words, take the same branches and give the same stack. The check is
 *   a run of independent loads the processor issues together, where the walk
 *   is a chain of dependent ones, and it gives the stack id without hashing.
 * - libunwind: see unw_cache_hit below (a hit there rests on fixed frame
 *   layouts, not on a proof).
 */
#include <string.h>
#include <sys/auxv.h>
#include <link.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "shim_int.h"

#define bump shim_bump

/* Main executable's text, to judge frame pointers on walks that start there. */
static uintptr_t exe_lo, exe_hi;
#define AUTO_WALKS 16
static _Atomic uint32_t auto_done, auto_shallow;

/*
 * The stack hash: one multiply-xorshift step per frame in two lanes (even
 * frames in one, odd in the other, so the two dependency chains of about six
 * cycles a step run side by side), then the lanes and the depth folded
 * together. The frame-pointer walk computes it as it goes (the steps overlap
 * the walk's dependent loads); stack_hash() computes the same value over an
 * array. Stacks are told apart by this 64-bit value alone.
 */
#define HASH_BASIS 0xcbf29ce484222325ull
#define HASH_BASIS2 0x84222325cbf29ce4ull

static inline uint64_t hash_step(uint64_t h, uintptr_t frame)
{
    h ^= (uint64_t)frame;
    h *= 0x100000001b3ull;
    return h ^ (h >> 29);
}

static inline uint64_t hash_finish(uint64_t even, uint64_t odd, uint32_t n)
{
    uint64_t h = hash_step(even, (uintptr_t)odd);
    h ^= (uint64_t)n * 0x9E3779B97F4A7C15ull;
    return h ? h : 1;
}

static inline uint64_t stack_hash(void *const *f, uint32_t n)
{
    uint64_t h[2] = {HASH_BASIS, HASH_BASIS2};
    for (uint32_t i = 0; i < n; i++)
        h[i & 1] = hash_step(h[i & 1], (uintptr_t)f[i]);
    return hash_finish(h[0], h[1], n);
}


/* Two adjacent stack words a walk read (a frame's saved frame pointer and return address) and where. */
struct shim_fp_pair {
    uintptr_t at;
    uintptr_t w[2];
};

/* The pairs of words a frame-pointer walk read, in order. */
struct fp_log {
    uint32_t n;
    bool full;                          /* more pairs than a cache entry holds */
    struct shim_fp_pair pair[SHIM_FPC_PAIRS];
};

/* Reads the two words at `at` (a frame: saved frame pointer, return address), noting them in log. */
static inline void fp_read(uintptr_t at, uintptr_t w[2], struct fp_log *log)
{
    w[0] = ((const uintptr_t *)at)[0];
    w[1] = ((const uintptr_t *)at)[1];
    if (log != NULL) {
        if (log->n < SHIM_FPC_PAIRS) {
            log->pair[log->n].at = at;
            log->pair[log->n].w[0] = w[0];
            log->pair[log->n].w[1] = w[1];
            log->n++;
        } else {
            log->full = true;
        }
    }
}

/*
 * The frame-pointer walk from the hook's own frame (the shim keeps frame
 * pointers: frame[0] is the caller's fp, frame[1] the return address ret).
 * Its course depends only on frame, ret, the thread's stack bounds, max and
 * the pairs of words it reads, which go to log when log is not NULL.
 */
static uint32_t walk_fp(struct shim_thread *t, void **out, uint32_t max, uintptr_t frame, void *ret,
                        uint64_t *hash, struct fp_log *log)
{
    uint32_t n = 0;
    uint64_t h = HASH_BASIS, h2 = HASH_BASIS2; /* lanes: even frames, odd frames */
    uintptr_t w[2];
    out[n++] = ret;
    h = hash_step(h, (uintptr_t)ret);
    uintptr_t hi = t->stack_hi - 2 * sizeof(uintptr_t);
    if (frame < t->stack_lo || frame > hi || (frame & (sizeof(uintptr_t) - 1)) != 0)
        goto out;
    fp_read(frame, w, log);
    uintptr_t fp = w[0];
    uintptr_t prev = frame;
    while (n < max) {
        if (fp <= prev || fp > hi || (fp & (sizeof(uintptr_t) - 1)) != 0)
            break;
        fp_read(fp, w, log);
        uintptr_t ra = w[1];
        if (ra < 4096)
            break;
        out[n++] = (void *)ra; /* n is now even when ra sat at an odd index */
        if (n & 1)
            h = hash_step(h, ra);
        else
            h2 = hash_step(h2, ra);
        prev = fp;
        fp = w[0];
    }
out:
    *hash = hash_finish(h, h2, n);
    return n;
}

static uint32_t walk_unw(void **out, uint32_t max, void *ret)
{
    void *buf[LSW_MAX_FRAMES + 8];
    int got = unw_backtrace(buf, (int)(max + 8 < LSW_MAX_FRAMES + 8 ? max + 8 : LSW_MAX_FRAMES + 8));
    int start = -1;
    for (int i = 0; i < got && i < 8; i++) {
        if (buf[i] == ret) {
            start = i;
            break;
        }
    }
    uint32_t n = 0;
    if (start < 0) {
        out[n++] = ret;
        return n;
    }
    for (int i = start; i < got && n < max; i++)
        out[n++] = buf[i];
    return n;
}


static uint32_t take_stack(struct shim_thread *t, void **out, void *ret, void *frame, uint64_t *hash)
{
    uint32_t max = shim_cfg.depth;
    int how = atomic_load_explicit(&shim_unwind_now, memory_order_relaxed);
    if (how == LSW_UNWIND_LIBUNWIND) {
        bump(&t->walks_unw, 1);
        uint32_t un = walk_unw(out, max, ret);
        *hash = stack_hash(out, un);
        return un;
    }
    bump(&t->walks_fp, 1);
    uint32_t n = walk_fp(t, out, max, (uintptr_t)frame, ret, hash, NULL);
    if (SHIM_UNLIKELY(how == LSW_UNWIND_AUTO) && (uintptr_t)ret >= exe_lo &&
        (uintptr_t)ret < exe_hi) {
        void *u[LSW_MAX_FRAMES];
        uint32_t un = walk_unw(u, max, ret);
        if (n + 2 < un)
            atomic_fetch_add(&auto_shallow, 1);
        uint32_t done = atomic_fetch_add(&auto_done, 1) + 1;
        if (done == AUTO_WALKS) {
            int pick = atomic_load(&auto_shallow) * 4 >= AUTO_WALKS ? LSW_UNWIND_LIBUNWIND
                                                                   : LSW_UNWIND_FP;
            atomic_store(&shim_unwind_now, pick);
        }
        if (n + 2 < un) {
            memcpy(out, u, un * sizeof(void *));
            n = un;
            *hash = stack_hash(out, n);
        }
    }
    return n;
}


static inline uint32_t stack_id(struct shim_thread *t, uint64_t h, void **frames, uint32_t n)
{
    uint32_t c = (uint32_t)(h >> 7) & (SHIM_CACHE - 1);
    if (t->cache[c].hash == h)
        return t->cache[c].id;
    uint32_t id = shim_stack_intern(h, frames, n);
    if (id == 0) {
        bump(&t->dropped, 1);
        return 0;
    }
    t->cache[c].hash = h;
    t->cache[c].id = id;
    return id;
}

/*
 * libunwind mode, the common case made cheap. Given the same return address
 * and the same stack pointer, a function at the same instruction has the same
 * frame layout, so its caller's return address sits in the same slot; if that
 * slot holds the same caller as last time, the same holds one level up, and
 * so on: checking every cached slot proves the stack is the cached one,
 * without unwinding. The slots are learnt on a miss by finding each return
 * address unw_backtrace gave, in order, in the stack above the hook's frame.
 * The proof needs fixed frame layouts: a function in the chain whose frame
 * size varies at run time (alloca, a variable-length array) could let stale
 * return addresses left in the stack by an earlier, identical-looking call
 * pass the check, and that allocation would be charged to the earlier stack.
 */
static struct shim_unw_entry *unw_cache_slot(struct shim_thread *t, uintptr_t ret, uintptr_t frame)
{
    if (SHIM_UNLIKELY(t->unw_cache == NULL)) {
        t->unw_cache = shim_mmap(SHIM_UNW_ENTRIES * sizeof(struct shim_unw_entry));
        if (t->unw_cache == NULL)
            return NULL;
    }
    uint64_t h = (uint64_t)(ret ^ (frame << 13)) * 0x9E3779B97F4A7C15ull;
    return &t->unw_cache[h >> 56]; /* 256 entries */
}

static bool unw_cache_hit(struct shim_thread *t, uintptr_t ret, uintptr_t frame, uint32_t *id)
{
    struct shim_unw_entry *e = unw_cache_slot(t, ret, frame);
    if (e == NULL || e->frame != frame || e->ret != ret || e->n == 0 ||
        frame < t->stack_lo || frame + e->off[e->n - 1] + sizeof(uintptr_t) > t->stack_hi)
        return false;
    for (uint32_t i = 1; i < e->n; i++)
        if (*(const uintptr_t *)(frame + e->off[i]) != e->frames[i])
            return false;
    *id = e->id;
    return true;
}

static void unw_cache_store(struct shim_thread *t, uintptr_t ret, uintptr_t frame,
                            void *const *frames, uint32_t n, uint32_t id)
{
    struct shim_unw_entry *e = unw_cache_slot(t, ret, frame);
    if (e == NULL || n == 0 || n > SHIM_UNW_FRAMES || id == 0 || (uintptr_t)frames[0] != ret ||
        frame < t->stack_lo || frame + 2 * sizeof(uintptr_t) > t->stack_hi)
        return;
    e->n = 0; /* invalid while it is rewritten */
    e->off[0] = sizeof(uintptr_t);
    e->frames[0] = ret;
    uintptr_t at = frame + 2 * sizeof(uintptr_t);
    uintptr_t limit = t->stack_hi - sizeof(uintptr_t);
    if (limit - at > (256u << 10))
        limit = at + (256u << 10); /* bound the search on a miss */
    for (uint32_t i = 1; i < n; i++) {
        uintptr_t want = (uintptr_t)frames[i];
        while (at <= limit && *(const uintptr_t *)at != want)
            at += sizeof(uintptr_t);
        if (at > limit)
            return; /* not found (a signal frame, a switched stack): not cached */
        e->off[i] = (uint32_t)(at - frame);
        e->frames[i] = want;
        at += sizeof(uintptr_t);
    }
    e->ret = ret;
    e->frame = frame;
    e->id = id;
    e->n = n;
}


static void find_exe_text(void)
{
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
    size_t n = getauxval(AT_PHNUM);
    uintptr_t bias = 0;
    if (ph == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        if (ph[i].p_type == PT_PHDR)
            bias = (uintptr_t)ph - ph[i].p_vaddr;
    for (size_t i = 0; i < n; i++) {
        if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X))
            continue;
        uintptr_t lo = bias + ph[i].p_vaddr, hi = lo + ph[i].p_memsz;
        if (exe_hi == 0 || lo < exe_lo)
            exe_lo = lo;
        if (hi > exe_hi)
            exe_hi = hi;
    }
}


/* --- the frame-pointer cache --- */

/* The first way of the set for (ret, frame); NULL if the cache cannot be mapped. */
static struct shim_fp_entry *fp_cache_set(struct shim_thread *t, uintptr_t ret, uintptr_t frame,
                                          uint32_t *set)
{
    if (SHIM_UNLIKELY(t->fp_cache == NULL)) {
        t->fp_cache = shim_mmap(SHIM_FPC_ENTRIES * sizeof(struct shim_fp_entry));
        if (t->fp_cache == NULL)
            return NULL;
    }
    *set = shim_fpc_set(shim_fpc_key(ret, frame));
    return &t->fp_cache[*set * SHIM_FPC_WAYS];
}

/* The first two pairs of e's walk still hold: where ways that share a key differ (the helper's caller). */
static inline bool fp_head_holds(const struct shim_fp_entry *e)
{
    __m128i d = _mm_xor_si128(_mm_loadu_si128((const __m128i *)e->frame),
                              _mm_load_si128((const __m128i *)e->w[0]));
    if (e->npairs > 1)
        d = _mm_or_si128(d, _mm_xor_si128(_mm_loadu_si128((const __m128i *)e->w[0][0]),
                                          _mm_load_si128((const __m128i *)e->w[1])));
    return _mm_movemask_epi8(_mm_cmpeq_epi8(d, _mm_setzero_si128())) == 0xFFFF;
}

bool shim_fp_other_ways(struct shim_thread *t, uint32_t set, uint32_t slot, uintptr_t ret,
                        uintptr_t frame, uint32_t *id)
{
    const struct shim_fp_entry *w = &t->fp_cache[set * SHIM_FPC_WAYS];
    uint32_t first = t->fp_way[slot];
    for (uint32_t k = 1; k < SHIM_FPC_WAYS; k++) {
        uint32_t way = (first + k) & (SHIM_FPC_WAYS - 1);
        const struct shim_fp_entry *e = &w[way];
        if (e->frame == frame && e->ret == ret && e->gen == t->cache_gen && fp_head_holds(e) &&
            shim_fp_holds(e)) {
            t->fp_way[slot] = (uint8_t)way;
            *id = e->id;
            return true;
        }
    }
    return false;
}

/* True (and *id) when a walk from (ret, frame) would read exactly what a cached walk read. */
static inline bool fp_cache_hit(struct shim_thread *t, uintptr_t ret, uintptr_t frame, uint32_t *id)
{
    uint32_t set;
    return fp_cache_set(t, ret, frame, &set) != NULL && shim_fp_lookup(t, ret, frame, id);
}

static void fp_cache_store(struct shim_thread *t, uintptr_t ret, uintptr_t frame,
                           const struct fp_log *log, uint32_t id)
{
    uint32_t set;
    struct shim_fp_entry *w = fp_cache_set(t, ret, frame, &set);
    if (w == NULL || log->full || id == 0)
        return;
    /* An empty or stale way if there is one, else the ways in turn. */
    struct shim_fp_entry *e = NULL;
    for (uint32_t k = 0; k < SHIM_FPC_WAYS && e == NULL; k++)
        if (w[k].gen != t->cache_gen)
            e = &w[k];
    if (e == NULL) {
        e = &w[t->fp_victim[set] % SHIM_FPC_WAYS];
        t->fp_victim[set]++;
    }
    if (log->n == 0 || log->pair[0].at != frame)
        return;
    for (uint32_t i = 1; i < log->n; i++)
        if (log->pair[i].at != log->pair[i - 1].w[0])
            return; /* not a chain (cannot happen with walk_fp as it is): not cached */
    e->gen = 0; /* invalid while it is rewritten (cache_gen starts at 1) */
    for (uint32_t i = 0; i < log->n; i++) {
        e->w[i][0] = log->pair[i].w[0];
        e->w[i][1] = log->pair[i].w[1];
    }
    e->npairs = log->n;
    e->ret = ret;
    e->frame = frame;
    e->id = id;
    e->gen = t->cache_gen;
    t->fp_way[shim_fpw_slot(t, shim_fpc_key(ret, frame))] = (uint8_t)(e - w);
}

/* The stack of an allocation the caches could not answer: walked, interned, cached. */
static __attribute__((noinline)) uint32_t stack_walk(struct shim_thread *t, void *ret, void *frame,
                                                     int how)
{
    void *frames[LSW_MAX_FRAMES];
    uint64_t h;
    uint32_t id, n;
    if (how == LSW_UNWIND_FP) {
        bump(&t->walks_fp, 1);
        struct fp_log log;
        log.n = 0;
        log.full = false;
        n = walk_fp(t, frames, shim_cfg.depth, (uintptr_t)frame, ret, &h, &log);
        id = stack_id(t, h, frames, n);
        fp_cache_store(t, (uintptr_t)ret, (uintptr_t)frame, &log, id);
        return id;
    }
    n = take_stack(t, frames, ret, frame, &h);
    id = stack_id(t, h, frames, n);
    if (how == LSW_UNWIND_LIBUNWIND)
        unw_cache_store(t, (uintptr_t)ret, (uintptr_t)frame, frames, n, id);
    return id;
}

/* On a stack the thread's bounds do not cover (a signal or coroutine stack). */
static __attribute__((noinline)) bool stack_rebound(struct shim_thread *t, uintptr_t sp)
{
    if (t->bound_refreshes < 8) {
        t->bound_refreshes++;
        (void)shim_maps_find(sp, &t->stack_lo, &t->stack_hi);
        t->cache_gen++;
    }
    return sp >= t->stack_lo && sp < t->stack_hi;
}

static uint32_t stack_find(struct shim_thread *t, void *ret, void *frame)
{
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    if (SHIM_UNLIKELY(sp < t->stack_lo || sp >= t->stack_hi) && !stack_rebound(t, sp)) {
        /* Still not on a stack we know: the hook's caller alone, never a walk. */
        void *one[1] = {ret};
        return stack_id(t, stack_hash(one, 1), one, 1);
    }
    uint32_t id;
    int how = atomic_load_explicit(&shim_unwind_now, memory_order_relaxed);
    if (SHIM_LIKELY(how == LSW_UNWIND_FP)) {
        if (fp_cache_hit(t, (uintptr_t)ret, (uintptr_t)frame, &id))
            return id;
    } else if (how == LSW_UNWIND_LIBUNWIND &&
               unw_cache_hit(t, (uintptr_t)ret, (uintptr_t)frame, &id)) {
        bump(&t->walks_unw, 1);
        return id;
    }
    return stack_walk(t, ret, frame, how);
}

uint32_t shim_stack_of(struct shim_thread *t, void *ret, void *frame)
{
    uint32_t id = stack_find(t, ret, frame);
    shim_fp_history_push(t, id);
    return id;
}

uint32_t shim_stack_slow(struct shim_thread *t, void *ret, void *frame)
{
    shim_enter();
    uint32_t id = shim_stack_of(t, ret, frame);
    shim_leave();
    return id;
}

void shim_stack_init(void)
{
    find_exe_text();
}
