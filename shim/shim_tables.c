/*
 * shim_tables: the tracer's two process-wide tables, in mmap'd memory.
 *
 * The stack table interns call stacks: a stack's 64-bit hash claims a slot
 * by compare-and-swap, takes the next id, copies its frames into an
 * append-only arena and publishes the id; lookups are plain atomic loads, so
 * interning never locks. Ids are small integers, which lets each thread keep
 * its per-stack counters in flat arrays.
 *
 * The pointer table maps a live block to its stack, size and allocating
 * thread, so a free is charged to the stack that allocated it (live bytes per
 * stack, leaks, short-lived share). It is split into 256 shards, each a
 * linear-probing table with its own spinlock: a lock is held for a handful of
 * loads and stores, never across a call into libc, so two threads meet on one
 * only when their blocks hash to the same shard at the same instant. A shard
 * grows by doubling (new memory from mmap). In sampled mode most frees are of
 * blocks that were never sampled: a counting filter (one byte per bucket,
 * updated with atomics) answers "certainly not tracked" for them without
 * touching any lock; the hooks read it inline (shim_maybe_tracked). It is a
 * bitmap of SHIM_FILTER_BITS bits (512 bytes, 8 cache lines, in .bss: no
 * pointer to load first) because the sampled live set is small (live bytes
 * over the mean interval), so it stays in the L1 cache, where the 1 MiB byte
 * filter it replaces cost a cache miss on most frees. A bit is set while its
 * bucket's count of tracked blocks (filt_count, touched only when a sampled
 * block comes or goes, under filt_lock, which is only ever taken inside a
 * shard lock) is above zero. With k sampled blocks live, a free needlessly
 * takes the table path with chance about k / SHIM_FILTER_BITS.
 */
#include <string.h>
#include <sys/mman.h>

#include "shim_int.h"

#define ST_SLOTS (SHIM_MAX_STACKS * 2u)
#define ST_ARENA_FRAMES (SHIM_MAX_STACKS * 40u)
#define ST_OVERFLOW UINT32_MAX

struct st_slot {
    _Atomic uint64_t hash;
    _Atomic uint32_t id;   /* 0 until published; ST_OVERFLOW when the table was full */
    uint32_t pad;
};

struct st_meta {
    _Atomic uint32_t ready;
    uint32_t n;
    uint64_t off;
};

static struct st_slot *st_slots;
static struct st_meta *st_meta;
static uint64_t *st_arena;
static _Atomic uint64_t st_arena_used;
static _Atomic uint32_t st_next_id = 1;
static _Atomic uint64_t st_dropped;

#define PT_SHARDS 256u
#define PT_INITIAL 512u

struct pt_slot {
    uintptr_t key;          /* 0: empty */
    struct shim_block b;
};

struct pt_shard {
    _Atomic int lock;
    uint32_t cap, used;
    struct pt_slot *slots;
    char pad[64 - sizeof(int) - 2 * sizeof(uint32_t) - sizeof(void *)];
};

static struct pt_shard *pt_shards;
_Atomic uint64_t shim_filter_bits[SHIM_FILTER_BITS / 64];
static uint32_t filt_count[SHIM_FILTER_BITS];
static _Atomic int filt_lock;
static bool filt_on;                 /* sampled mode only */

/* Full mode without headers: every block may be in the table, so the filter says "maybe" for all. */
static void filt_fill(void)
{
    uint64_t v = shim_cfg.mode == LSW_MODE_FULL ? ~0ull : 0;
    for (uint32_t i = 0; i < SHIM_FILTER_BITS / 64; i++)
        atomic_store(&shim_filter_bits[i], v);
}

bool shim_tables_init(void)
{
    st_slots = shim_mmap(ST_SLOTS * sizeof(*st_slots));
    st_meta = shim_mmap(SHIM_MAX_STACKS * sizeof(*st_meta));
    st_arena = shim_mmap(ST_ARENA_FRAMES * sizeof(uint64_t));
    pt_shards = shim_mmap(PT_SHARDS * sizeof(*pt_shards));
    filt_on = shim_cfg.mode == LSW_MODE_SAMPLED;
    filt_fill();
    return st_slots && st_meta && st_arena && pt_shards;
}

uint32_t shim_stack_intern(uint64_t hash, void *const *frames, uint32_t n)
{
    uint32_t i = (uint32_t)hash & (ST_SLOTS - 1);

    for (uint32_t probes = 0; probes < ST_SLOTS;) {
        uint64_t h = atomic_load_explicit(&st_slots[i].hash, memory_order_acquire);
        if (h == 0) {
            uint64_t expect = 0;
            if (!atomic_compare_exchange_strong(&st_slots[i].hash, &expect, hash))
                continue; /* someone claimed it: look again at the same slot */
            uint32_t id = atomic_fetch_add(&st_next_id, 1);
            uint64_t off = atomic_fetch_add(&st_arena_used, n);
            if (id >= SHIM_MAX_STACKS || off + n > ST_ARENA_FRAMES) {
                atomic_store_explicit(&st_slots[i].id, ST_OVERFLOW, memory_order_release);
                atomic_fetch_add(&st_dropped, 1);
                return 0;
            }
            for (uint32_t k = 0; k < n; k++)
                st_arena[off + k] = (uint64_t)(uintptr_t)frames[k];
            st_meta[id].n = n;
            st_meta[id].off = off;
            atomic_store_explicit(&st_meta[id].ready, 1, memory_order_release);
            atomic_store_explicit(&st_slots[i].id, id, memory_order_release);
            return id;
        }
        if (h == hash) {
            /* Published a few instructions after the claim; bounded in case a fork cut it short. */
            for (uint32_t spin = 0; spin < (1u << 22); spin++) {
                uint32_t id = atomic_load_explicit(&st_slots[i].id, memory_order_acquire);
                if (id == ST_OVERFLOW)
                    return 0;
                if (id != 0)
                    return id;
            }
            return 0;
        }
        i = (i + 1) & (ST_SLOTS - 1);
        probes++;
    }
    atomic_fetch_add(&st_dropped, 1);
    return 0;
}

uint32_t shim_stacks_count(void)
{
    uint32_t n = atomic_load(&st_next_id);
    return n > SHIM_MAX_STACKS ? SHIM_MAX_STACKS : n;
}

const uint64_t *shim_stack_frames(uint32_t id, uint32_t *n)
{
    if (id == 0 || id >= SHIM_MAX_STACKS ||
        !atomic_load_explicit(&st_meta[id].ready, memory_order_acquire))
        return NULL;
    *n = st_meta[id].n;
    return st_arena + st_meta[id].off;
}

uint64_t shim_stack_dropped(void)
{
    return atomic_load(&st_dropped);
}

#define ptr_hash shim_ptr_hash

/*
 * A block's shard. glibc gives each thread's arena heaps of their own,
 * aligned on 64 MiB: shards are grouped by that heap (32 groups of 8), so
 * threads on different arenas take different locks and write different shard
 * lines, instead of every lock word bouncing between cores on every call.
 */
static inline struct pt_shard *pt_shard_of(uintptr_t p, uint64_t h)
{
    uint64_t g = (uint64_t)(p >> 26) * 0x9E3779B97F4A7C15ull;
    return &pt_shards[((g >> 59) << 3) | (h >> 61)];
}

static inline void spin_lock(_Atomic int *l)
{
    while (atomic_exchange_explicit(l, 1, memory_order_acquire)) {
        while (atomic_load_explicit(l, memory_order_relaxed)) {
#if defined(__x86_64__) || defined(__i386__)
            __asm__ volatile("pause");
#endif
        }
    }
}

static inline void spin_unlock(_Atomic int *l)
{
    atomic_store_explicit(l, 0, memory_order_release);
}

/* A tracked block came (+1) or went (-1) in the bucket of hash h (a shard lock is held). */
static void filt_adjust(uint64_t h, int d)
{
    uint32_t b = (uint32_t)h & (SHIM_FILTER_BITS - 1);
    uint64_t bit = 1ull << (b & 63);
    spin_lock(&filt_lock);
    if (d > 0 && filt_count[b]++ == 0)
        atomic_fetch_or_explicit(&shim_filter_bits[b / 64], bit, memory_order_release);
    else if (d < 0 && filt_count[b] > 0 && --filt_count[b] == 0)
        atomic_fetch_and_explicit(&shim_filter_bits[b / 64], ~bit, memory_order_relaxed);
    spin_unlock(&filt_lock);
}

/* Doubles a shard (lock held). False when mmap failed. */
static bool pt_grow(struct pt_shard *s)
{
    uint32_t ncap = s->cap ? s->cap * 2 : PT_INITIAL;
    struct pt_slot *ns = shim_mmap((size_t)ncap * sizeof(*ns));
    if (ns == NULL)
        return false;
    for (uint32_t i = 0; i < s->cap; i++) {
        if (s->slots[i].key == 0)
            continue;
        uint32_t j = (uint32_t)(ptr_hash(s->slots[i].key) >> 8) & (ncap - 1);
        while (ns[j].key != 0)
            j = (j + 1) & (ncap - 1);
        ns[j] = s->slots[i];
    }
    if (s->slots)
        shim_munmap(s->slots, (size_t)s->cap * sizeof(*s->slots));
    s->slots = ns;
    s->cap = ncap;
    return true;
}

bool shim_ptr_insert(uintptr_t p, const struct shim_block *b)
{
    uint64_t h = ptr_hash(p);
    struct pt_shard *s = pt_shard_of(p, h);
    bool ok = true;

    spin_lock(&s->lock);
    if ((s->used + 1) * 10 > s->cap * 7 && !pt_grow(s)) {
        ok = false;
        goto out;
    }
    uint32_t j = (uint32_t)(h >> 8) & (s->cap - 1);
    while (s->slots[j].key != 0 && s->slots[j].key != p)
        j = (j + 1) & (s->cap - 1);
    if (s->slots[j].key == 0)
        s->used++;
    s->slots[j].key = p;
    s->slots[j].b = *b;
    if (filt_on)
        filt_adjust(h, +1);
out:
    spin_unlock(&s->lock);
    return ok;
}

bool shim_ptr_remove(uintptr_t p, struct shim_block *out)
{
    uint64_t h = ptr_hash(p);
    struct pt_shard *s = pt_shard_of(p, h);
    bool found = false;

    if (filt_on && !shim_maybe_tracked(p))
        return false;
    spin_lock(&s->lock);
    if (s->cap == 0)
        goto out;
    uint32_t mask = s->cap - 1, j = (uint32_t)(h >> 8) & mask;
    while (s->slots[j].key != 0 && s->slots[j].key != p)
        j = (j + 1) & mask;
    if (s->slots[j].key == 0)
        goto out;
    *out = s->slots[j].b;
    found = true;
    /* Backward-shift deletion keeps probe chains intact without tombstones. */
    uint32_t hole = j;
    for (uint32_t k = (j + 1) & mask; s->slots[k].key != 0; k = (k + 1) & mask) {
        uint32_t home = (uint32_t)(ptr_hash(s->slots[k].key) >> 8) & mask;
        if (((k - home) & mask) >= ((k - hole) & mask)) {
            s->slots[hole] = s->slots[k];
            hole = k;
        }
    }
    s->slots[hole].key = 0;
    s->used--;
    if (filt_on)
        filt_adjust(h, -1);
out:
    spin_unlock(&s->lock);
    return found;
}

void shim_ptr_lock_all(void)
{
    for (uint32_t i = 0; i < PT_SHARDS; i++)
        spin_lock(&pt_shards[i].lock);
}

void shim_ptr_unlock_all(void)
{
    for (uint32_t i = 0; i < PT_SHARDS; i++)
        spin_unlock(&pt_shards[i].lock);
}

/* After fork, in a child that keeps tracing: blocks inherited from the parent are untracked. */
void shim_ptr_clear(void)
{
    for (uint32_t i = 0; i < PT_SHARDS; i++) {
        struct pt_shard *s = &pt_shards[i];
        if (s->slots)
            memset(s->slots, 0, (size_t)s->cap * sizeof(*s->slots));
        s->used = 0;
    }
    memset(filt_count, 0, sizeof(filt_count));
    filt_fill();
}
