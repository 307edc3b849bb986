/*
 * shim_hooks: the interposed allocation functions, the shim's only exports.
 *
 * Each calls glibc's own entry point (__libc_malloc & co.), which needs no
 * dlsym bootstrap and so works from the first allocation the loader makes.
 * A free is taken out of the pointer table before the block goes back to
 * glibc (afterwards another thread could already have been given the same
 * address); realloc does the same and puts the record back if it fails.
 * The hooks pass their own frame to the recorder: the stack walk starts at
 * the hook's caller.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <malloc.h>

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

#define ACTIVE() SHIM_LIKELY(atomic_load_explicit(&shim_active, memory_order_relaxed))
#define RECORD(p, n, re)                                                                          \
    do {                                                                                          \
        if ((p) != NULL && ACTIVE())                                                              \
            shim_on_alloc((p), (n), __builtin_return_address(0), __builtin_frame_address(0),     \
                          (re));                                                                  \
    } while (0)

SHIM_EXPORT void *malloc(size_t size)
{
    void *p = __libc_malloc(size);
    RECORD(p, size, false);
    return p;
}

SHIM_EXPORT void free(void *p)
{
    if (p != NULL && ACTIVE())
        shim_on_free(p);
    __libc_free(p);
}

SHIM_EXPORT void *calloc(size_t n, size_t size)
{
    void *p = __libc_calloc(n, size);
    RECORD(p, n * size, false);
    return p;
}

/* realloc's body, shared with reallocarray so both report the caller's stack. */
static inline __attribute__((always_inline)) void *do_realloc(void *p, size_t size, void *ret,
                                                              void *frame)
{
    if (p == NULL || !ACTIVE()) {
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
    return do_realloc(p, size, __builtin_return_address(0), __builtin_frame_address(0));
}

SHIM_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return do_realloc(p, total, __builtin_return_address(0), __builtin_frame_address(0));
}

SHIM_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
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
    void *p = __libc_memalign(align, size);
    RECORD(p, size, false);
    return p;
}

SHIM_EXPORT void *memalign(size_t align, size_t size)
{
    void *p = __libc_memalign(align, size);
    RECORD(p, size, false);
    return p;
}

SHIM_EXPORT void *valloc(size_t size)
{
    void *p = __libc_valloc(size);
    RECORD(p, size, false);
    return p;
}

SHIM_EXPORT void *pvalloc(size_t size)
{
    void *p = __libc_pvalloc(size);
    RECORD(p, size, false);
    return p;
}

SHIM_EXPORT void free_sized(void *p, size_t size)
{
    (void)size;
    if (p != NULL && ACTIVE())
        shim_on_free(p);
    __libc_free(p);
}

SHIM_EXPORT void free_aligned_sized(void *p, size_t align, size_t size)
{
    (void)align;
    (void)size;
    if (p != NULL && ACTIVE())
        shim_on_free(p);
    __libc_free(p);
}
