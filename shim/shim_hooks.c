/*
 * shim_hooks: the interposed allocation functions, the shim's only exports.
 *
 * Each calls glibc's own entry point (__libc_malloc & co.), which needs no
 * dlsym bootstrap and so works from the first allocation the loader makes.
 * The hooks pass their own frame to the recorder: the stack walk starts at
 * the hook's caller.
 *
 * Each hook first reads the gate (one word for the process: not tracing,
 * tracing with the pointer table, or headers) and the thread's fast pointer
 * (set while the thread is traced and not inside the shim). malloc, calloc,
 * realloc and free keep their common paths free of a frame: in count and
 * sampled mode an allocation that takes no stack is counted ahead and the
 * hook ends in a jump to glibc; everything else goes through one out-of-line
 * function, which gets the hook's frame.
 *
 * Two ways to find a freed block's record:
 * - headers (full mode; see shim_hdr_decide): each block is asked of glibc 16
 *   bytes larger (or, for memalign and its kind, larger by the alignment) and
 *   its record sits in front of the pointer the caller gets; free reads it
 *   back and gives glibc the block's real start, realloc keeps it in front,
 *   malloc_usable_size answers for the caller's part only;
 * - the pointer table (sampled mode, and full mode when headers could not be
 *   chosen): a free takes the block out of the table before it goes back to
 *   glibc (afterwards another thread could already have been given the same
 *   address); realloc does the same and puts the record back if it fails.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim_int.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

/* C23's sized frees: glibc 2.36 lacks them, but a program built against a newer libc may call them. */
SHIM_EXPORT void free_sized(void *p, size_t size);
SHIM_EXPORT void free_aligned_sized(void *p, size_t align, size_t size);
SHIM_EXPORT size_t malloc_usable_size(void *p);

#define ACTIVE() SHIM_LIKELY(atomic_load_explicit(&shim_active, memory_order_relaxed))
#define RECORD(p, n, re)                                                                          \
    do {                                                                                          \
        if ((p) != NULL && ACTIVE())                                                              \
            shim_on_alloc((p), (n), __builtin_return_address(0), __builtin_frame_address(0),     \
                          (re));                                                                  \
    } while (0)

#define HDR 16u /* the header's size, and glibc's alignment */

/*
 * Header mode: glibc gave base (or NULL); the caller's pointer is 2^lg bytes
 * in, with the block's header just before it (counted and charged to its
 * stack when this thread is being traced, "not counted" otherwise).
 */
static inline __attribute__((always_inline)) void *hdr_give(void *base, size_t size, unsigned lg,
                                                            void *ret, void *frame, bool re)
{
    if (base == NULL)
        return NULL;
    char *p = (char *)base + ((size_t)1 << lg);
    shim_on_hdr_alloc(p, size, lg, ret, frame, re);
    return p;
}

/* hdr_free's other cases: not tracing, a thread with no state yet or inside the shim, a block not counted. */
static __attribute__((noinline)) void hdr_free_other(void *p, uint64_t size_stack, uint64_t info)
{
    if (ACTIVE())
        shim_on_hdr_free(size_stack, info);
    __libc_free((char *)p - ((size_t)1 << SHIM_HDR_LG(info)));
}

/*
 * Header mode: frees p (not NULL), charging it first. The common case (a
 * traced thread freeing a counted block) ends in a jump to glibc, the others
 * in a jump to hdr_free_other, so this sets up no frame.
 */
static inline __attribute__((always_inline)) void hdr_free(void *p)
{
    const struct shim_hdr *h = (const struct shim_hdr *)p - 1;
    uint64_t size_stack = h->size_stack, info = h->info;
    struct shim_thread *t = shim_tls.fast;
    if (SHIM_LIKELY(t != NULL && ACTIVE() && shim_hdr_mine(t, info))) {
        shim_hdr_charge_free(t, size_stack, info);
        __libc_free((char *)p - ((size_t)1 << SHIM_HDR_LG(info)));
        return;
    }
    hdr_free_other(p, size_stack, info);
}

/* Header mode: a block aligned on align (a power of two, or rounded up to one as glibc does). */
static __attribute__((noinline)) void *hdr_aligned(size_t align, size_t size, void *ret, void *frame)
{
    size_t a = HDR;
    while (a < align && a < ((size_t)1 << 31))
        a <<= 1;
    if (a < align || size > SIZE_MAX - a) {
        errno = ENOMEM;
        return NULL;
    }
    return hdr_give(__libc_memalign(a, size + a), size, (unsigned)__builtin_ctzl(a), ret, frame,
                    false);
}

static inline __attribute__((always_inline)) void *hdr_malloc(size_t size, void *ret, void *frame)
{
    if (SHIM_UNLIKELY(size > SIZE_MAX - HDR)) {
        errno = ENOMEM;
        return NULL;
    }
    return hdr_give(__libc_malloc(size + HDR), size, 4, ret, frame, false);
}

static inline __attribute__((always_inline)) void *hdr_calloc(size_t n, size_t size, void *ret,
                                                               void *frame)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total) || total > SIZE_MAX - HDR) {
        errno = ENOMEM;
        return NULL;
    }
    return hdr_give(__libc_calloc(1, total + HDR), total, 4, ret, frame, false);
}

/*
 * The hooks' out-of-line paths are handed the hook's return address and frame
 * (where the stack walk starts), so the hook's frame must outlive the call:
 * KEEP_FRAME stops the compiler turning the call into a jump.
 */
#define KEEP_FRAME(x) __asm__ volatile("" : "+r"(x))
#define RET __builtin_return_address(0)
#define FRAME __builtin_frame_address(0)

/*
 * An allocation of fewer bytes than this is counted before glibc is called,
 * so the hook ends in a jump to glibc instead of a call: no frame of ours
 * stays on the stack and nothing waits for glibc's answer. glibc fails an
 * allocation this small only when the process is out of memory; such a
 * failure is counted as if it had succeeded. Larger allocations are counted
 * after the call, as in full mode.
 */
#define COUNT_AHEAD_MAX ((size_t)1 << 20)

/*
 * Count and sampled modes: counts an allocation of size bytes ahead and says
 * yes, unless it is where the next sample falls (or full mode without
 * headers, where every allocation is), which the caller records the slow way.
 */
static inline __attribute__((always_inline)) bool count_ahead(struct shim_thread *t, size_t size)
{
    int64_t left = t->sample_left - (shim_cfg.sample_every > 0 ? 1 : (int64_t)(size | (size == 0)));
    if (SHIM_UNLIKELY(left <= 0 || size >= COUNT_AHEAD_MAX))
        return false;
    t->sample_left = left;
    shim_bump(&t->allocs, 1);
    shim_bump(&t->bytes_alloc, size);
    return true;
}

/*
 * Every path of malloc and calloc but the two that end in a jump to glibc,
 * out of line in one place, so the hooks themselves set up no frame on those
 * two (the compiler puts the frame on the one branch that calls this). The
 * caller's frame must outlive the call: see KEEP_FRAME.
 */
static __attribute__((noinline)) void *alloc_slow(size_t n, size_t size, bool zero, void *ret,
                                                  void *frame)
{
    int g = shim_gate_load();
    if (SHIM_UNLIKELY(g == SHIM_GATE_UNDECIDED))
        g = shim_gate_decide();
    if (g == SHIM_GATE_HDR)
        return zero ? hdr_calloc(n, size, ret, frame) : hdr_malloc(size, ret, frame);
    void *p = zero ? __libc_calloc(n, size) : __libc_malloc(size);
    if (p != NULL && g == SHIM_GATE_TABLE && ACTIVE())
        shim_on_alloc(p, zero ? n * size : size, ret, frame, false);
    return p;
}

static __attribute__((noinline)) void free_slow(void *p)
{
    int g = shim_gate_load();
    if (SHIM_UNLIKELY(g == SHIM_GATE_UNDECIDED))
        g = shim_gate_decide();
    if (g == SHIM_GATE_HDR) {
        if (p != NULL)
            hdr_free(p);
        return;
    }
    if (p != NULL && g == SHIM_GATE_TABLE && ACTIVE())
        shim_on_free(p);
    __libc_free(p);
}

SHIM_EXPORT void *malloc(size_t size)
{
    int g = shim_gate_load();
    struct shim_thread *t = shim_tls.fast;
    if (SHIM_LIKELY(g == SHIM_GATE_TABLE && t != NULL) && count_ahead(t, size))
        return __libc_malloc(size);
    if (g == SHIM_GATE_OFF)
        return __libc_malloc(size);
    void *p = alloc_slow(1, size, false, RET, FRAME);
    KEEP_FRAME(p);
    return p;
}

SHIM_EXPORT void *calloc(size_t n, size_t size)
{
    int g = shim_gate_load();
    struct shim_thread *t = shim_tls.fast;
    size_t total;
    if (SHIM_LIKELY(g == SHIM_GATE_TABLE && t != NULL) && !__builtin_mul_overflow(n, size, &total) &&
        count_ahead(t, total))
        return __libc_calloc(n, size);
    if (g == SHIM_GATE_OFF)
        return __libc_calloc(n, size);
    void *p = alloc_slow(n, size, true, RET, FRAME);
    KEEP_FRAME(p);
    return p;
}

SHIM_EXPORT void free(void *p)
{
    int g = shim_gate_load();
    struct shim_thread *t = shim_tls.fast;
    /* Counted on the spot in count mode, and when the filter says the block is certainly not in the table. */
    if (SHIM_LIKELY(g == SHIM_GATE_TABLE && t != NULL && p != NULL) &&
        (shim_cfg.mode == LSW_MODE_COUNT || !shim_maybe_tracked((uintptr_t)p))) {
        shim_bump(&t->frees, 1);
        __libc_free(p);
        return;
    }
    if (g == SHIM_GATE_OFF) {
        __libc_free(p);
        return;
    }
    if (g == SHIM_GATE_HDR && p != NULL) {
        hdr_free(p);
        return;
    }
    free_slow(p);
}

/*
 * Header mode's realloc. glibc's realloc moves the header with the block; a
 * block from memalign (header further in) is copied into a new plain block,
 * which realloc allows (it never promised more than malloc's alignment).
 * realloc(p, 0) frees p and returns NULL, as glibc's does.
 */
static __attribute__((noinline)) void *hdr_realloc(void *p, size_t size, void *ret, void *frame)
{
    if (p == NULL)
        return hdr_malloc(size, ret, frame);
    if (size == 0) {
        hdr_free(p);
        return NULL;
    }
    if (size > SIZE_MAX - HDR) {
        errno = ENOMEM;
        return NULL;
    }
    const struct shim_hdr *h = (const struct shim_hdr *)p - 1;
    uint64_t size_stack = h->size_stack, info = h->info;
    if (SHIM_HDR_LG(info) != 4) {
        void *q = hdr_give(__libc_malloc(size + HDR), size, 4, ret, frame, true);
        if (q == NULL)
            return NULL;
        uint64_t old = size_stack & SHIM_HDR_SIZE_MASK;
        memcpy(q, p, old < size ? old : size);
        hdr_free(p);
        return q;
    }
    void *base = __libc_realloc((char *)p - HDR, size + HDR);
    if (base == NULL)
        return NULL; /* p is still the caller's, header and all */
    if (ACTIVE())
        shim_on_hdr_free(size_stack, info);
    return hdr_give(base, size, 4, ret, frame, true);
}

/*
 * Count and sampled modes: a realloc of a block the pointer table does not
 * hold (in count mode, any block) counted ahead, as the free of the old block
 * and a reallocation, as for malloc (see COUNT_AHEAD_MAX). Not a realloc to
 * size 0, which frees the block and returns NULL.
 */
static inline __attribute__((always_inline)) bool realloc_ahead(struct shim_thread *t, void *p,
                                                               size_t size)
{
    if (p == NULL || size == 0 ||
        (shim_cfg.mode != LSW_MODE_COUNT && shim_maybe_tracked((uintptr_t)p)) || !count_ahead(t, size))
        return false;
    shim_bump(&t->frees, 1);
    shim_bump(&t->reallocs, 1);
    return true;
}

/* realloc's other paths, shared with reallocarray so both report the caller's stack. */
static __attribute__((noinline)) void *realloc_slow(void *p, size_t size, void *ret, void *frame)
{
    int g = shim_gate_load();
    if (SHIM_UNLIKELY(g == SHIM_GATE_UNDECIDED))
        g = shim_gate_decide();
    if (g == SHIM_GATE_HDR) {
        void *q = hdr_realloc(p, size, ret, frame);
        KEEP_FRAME(q);
        return q;
    }
    if (p == NULL || g != SHIM_GATE_TABLE) {
        void *q = __libc_realloc(p, size);
        if (q != NULL && ACTIVE())
            shim_on_alloc(q, size, ret, frame, false);
        return q;
    }
    struct shim_block b;
    bool known = shim_on_realloc_take(p, &b);
    void *q = __libc_realloc(p, size);
    if (q == NULL && size != 0) {
        if (known)
            shim_put_back(p, &b); /* failed: p is still the caller's */
        return NULL;
    }
    shim_on_realloc_freed(&b, known);
    if (q != NULL)
        shim_on_alloc(q, size, ret, frame, true);
    return q;
}

SHIM_EXPORT void *realloc(void *p, size_t size)
{
    int g = shim_gate_load();
    struct shim_thread *t = shim_tls.fast;
    if (SHIM_LIKELY(g == SHIM_GATE_TABLE && t != NULL) && realloc_ahead(t, p, size))
        return __libc_realloc(p, size);
    if (g == SHIM_GATE_OFF)
        return __libc_realloc(p, size);
    void *q = realloc_slow(p, size, RET, FRAME);
    KEEP_FRAME(q);
    return q;
}

SHIM_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    void *q = realloc_slow(p, total, RET, FRAME);
    KEEP_FRAME(q);
    return q;
}

SHIM_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    if (shim_headers()) {
        void *q = hdr_aligned(align, size, RET, FRAME);
        KEEP_FRAME(q);
        if (q == NULL)
            return ENOMEM;
        *out = q;
        return 0;
    }
    void *p = __libc_memalign(align, size);
    if (p == NULL)
        return ENOMEM;
    RECORD(p, size, false);
    *out = p;
    return 0;
}

SHIM_EXPORT void *aligned_alloc(size_t align, size_t size)
{
    if (align == 0 || (align & (align - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    if (shim_headers()) {
        void *q = hdr_aligned(align, size, RET, FRAME);
        KEEP_FRAME(q);
        return q;
    }
    void *p = __libc_memalign(align, size);
    RECORD(p, size, false);
    return p;
}

SHIM_EXPORT void *memalign(size_t align, size_t size)
{
    if (shim_headers()) {
        void *q = hdr_aligned(align, size, RET, FRAME);
        KEEP_FRAME(q);
        return q;
    }
    void *p = __libc_memalign(align, size);
    RECORD(p, size, false);
    return p;
}

SHIM_EXPORT void *valloc(size_t size)
{
    if (shim_headers()) {
        void *q = hdr_aligned((size_t)getpagesize(), size, RET, FRAME);
        KEEP_FRAME(q);
        return q;
    }
    void *p = __libc_valloc(size);
    RECORD(p, size, false);
    return p;
}

SHIM_EXPORT void *pvalloc(size_t size)
{
    if (shim_headers()) {
        size_t page = (size_t)getpagesize();
        if (size > SIZE_MAX - page) {
            errno = ENOMEM;
            return NULL;
        }
        size_t rounded = size ? (size + page - 1) & ~(page - 1) : page;
        void *q = hdr_aligned(page, rounded, RET, FRAME);
        KEEP_FRAME(q);
        return q;
    }
    void *p = __libc_pvalloc(size);
    size_t page = (size_t)getpagesize();
    RECORD(p, size ? (size + page - 1) & ~(page - 1) : page, false); /* what the caller got */
    return p;
}

SHIM_EXPORT void free_sized(void *p, size_t size)
{
    (void)size;
    free(p);
}

SHIM_EXPORT void free_aligned_sized(void *p, size_t align, size_t size)
{
    (void)align;
    (void)size;
    free(p);
}

/*
 * _exit and _Exit: the last batch first (they skip atexit), then the end of
 * the process as glibc's own do it, with the exit_group system call.
 */
SHIM_EXPORT void _exit(int status)
{
    shim_flush_before_exit();
    for (;;)
        syscall(SYS_exit_group, status);
}

SHIM_EXPORT void _Exit(int status)
{
    shim_flush_before_exit();
    for (;;)
        syscall(SYS_exit_group, status);
}

/* The next definition of name after ours (glibc's), looked up once into *slot; NULL if none. */
static void *next_symbol(const char *name, void *_Atomic *slot)
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

/*
 * The exec family: the batch first (see shim_flush_before_exec), then glibc's
 * own. glibc's execl and execv call its execve internally, past our hook, so
 * each is interposed; those that search PATH are handed to glibc's.
 */
extern char **environ;

SHIM_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    shim_flush_before_exec();
    return (int)syscall(SYS_execve, path, argv, envp);
}

SHIM_EXPORT int execv(const char *path, char *const argv[])
{
    return execve(path, argv, environ);
}

SHIM_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
    shim_flush_before_exec();
    return (int)syscall(SYS_execveat, dirfd, path, argv, envp, flags);
}

/*
 * glibc's definitions of what we interpose and call on: looked up by
 * shim_hooks_init in the constructor, so that no dlsym (which may lock and
 * allocate) runs in a vfork child, which shares its parent's memory.
 */
static void *_Atomic next_execvp, *_Atomic next_execvpe, *_Atomic next_fexecve,
    *_Atomic next_malloc_usable_size;

void shim_hooks_init(void)
{
    (void)next_symbol("execvp", &next_execvp);
    (void)next_symbol("execvpe", &next_execvpe);
    (void)next_symbol("fexecve", &next_fexecve);
    (void)next_symbol("malloc_usable_size", &next_malloc_usable_size);
}

/* Calls glibc's function name (an exec that searches PATH, or fexecve) with the batch sent first. */
#define EXEC_NEXT(name, type, ...)                                                                 \
    do {                                                                                          \
        type fn;                                                                                  \
        void *sym = next_symbol(#name, &next_##name);                                             \
        if (sym == NULL) {                                                                        \
            errno = ENOSYS;                                                                       \
            return -1;                                                                            \
        }                                                                                         \
        memcpy(&fn, &sym, sizeof(fn)); /* ISO C has no cast from object to function pointer */   \
        shim_flush_before_exec();                                                                 \
        return fn(__VA_ARGS__);                                                                   \
    } while (0)

typedef int (*execvp_fn)(const char *, char *const[]);
typedef int (*execvpe_fn)(const char *, char *const[], char *const[]);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);

SHIM_EXPORT int execvp(const char *file, char *const argv[])
{
    EXEC_NEXT(execvp, execvp_fn, file, argv);
}

SHIM_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    EXEC_NEXT(execvpe, execvpe_fn, file, argv, envp);
}

SHIM_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    EXEC_NEXT(fexecve, fexecve_fn, fd, argv, envp);
}

/* The arguments of execl and its kind, up to the NULL that ends them, in the array argv (n + 1 long). */
#define EXECL_ARGS(first, ap, argv, n)                                                             \
    size_t n = 1;                                                                                 \
    va_list ap;                                                                                   \
    va_start(ap, first);                                                                          \
    while (va_arg(ap, char *) != NULL)                                                            \
        n++;                                                                                      \
    va_end(ap);                                                                                   \
    char *argv[n + 1];                                                                            \
    argv[0] = (char *)(uintptr_t)(first); /* exec never writes through it */                       \
    va_start(ap, first);                                                                          \
    for (size_t i = 1; i <= n; i++)                                                               \
        argv[i] = va_arg(ap, char *); /* the last one read is the NULL */

SHIM_EXPORT int execl(const char *path, const char *arg, ...)
{
    EXECL_ARGS(arg, ap, argv, n)
    va_end(ap);
    return execve(path, argv, environ);
}

SHIM_EXPORT int execle(const char *path, const char *arg, ...)
{
    EXECL_ARGS(arg, ap, argv, n)
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, argv, envp);
}

SHIM_EXPORT int execlp(const char *file, const char *arg, ...)
{
    EXECL_ARGS(arg, ap, argv, n)
    va_end(ap);
    return execvp(file, argv);
}

/* With headers, the caller's part of the block only; glibc's own answer otherwise. */
SHIM_EXPORT size_t malloc_usable_size(void *p)
{
    size_t (*fn)(void *);
    void *sym = next_symbol("malloc_usable_size", &next_malloc_usable_size);
    memcpy(&fn, &sym, sizeof(fn)); /* ISO C has no cast from object to function pointer */
    if (p == NULL || fn == NULL)
        return 0;
    if (!shim_headers())
        return fn(p);
    size_t off = (size_t)1 << SHIM_HDR_LG(((const struct shim_hdr *)p - 1)->info);
    return fn((char *)p - off) - off;
}
