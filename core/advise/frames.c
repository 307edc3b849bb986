/*
 * frames: reading a stack as the hot-path model writes it (innermost first,
 * "function (file:line)" per line, " [inlined]" after inlined frames,
 * "module+0x..." for unknown ones) and saying what it does: the code kind
 * of a frame, the kind of an allocation (format!, clone, growth, serde,
 * spawn ... or a dependency's own business), and whether a futex wait is a
 * contended lock or a runtime's parking. Strings only; calls libc and
 * core/symbols' sym_classify and sym_label_of.
 */
#include <stdlib.h>
#include <string.h>

#include "advise/advise_int.h"
#include "symbols/symbols.h"

struct fline {
    const char *fn;   /* "" when unknown */
    const char *file; /* "" when unknown */
    uint32_t line;
};

static bool has(const char *s, const char *needle)
{
    return strstr(s, needle) != NULL;
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool unknown_fn(const char *fn)
{
    if (!*fn || strcmp(fn, "??") == 0)
        return true;
    /* "libfoo.so+0x1a2b": a module and an offset, no symbol */
    return has(fn, "+0x") && !has(fn, "::") && !strchr(fn, ' ');
}

/* Splits one line into function, file and line, in place. */
static void parse_line(char *s, struct fline *f)
{
    size_t len = strlen(s);
    while (len && (s[len - 1] == '\r' || s[len - 1] == ' '))
        s[--len] = '\0';
    static const char inl[] = " [inlined]";
    if (len >= sizeof(inl) - 1 && strcmp(s + len - (sizeof(inl) - 1), inl) == 0) {
        len -= sizeof(inl) - 1;
        s[len] = '\0';
    }
    f->fn = s;
    f->file = "";
    f->line = 0;
    if (len > 4 && s[len - 1] == ')') {
        char *p = s + len - 2;
        while (p > s && *p >= '0' && *p <= '9')
            p--;
        char *colon = p;
        if (*colon == ':' && colon < s + len - 2) {
            char *open = NULL;
            for (char *q = colon - 1; q > s; q--)
                if (q[-1] == ' ' && q[0] == '(') {
                    open = q - 1;
                    break;
                }
            if (open) {
                *open = '\0';
                *colon = '\0';
                s[len - 1] = '\0';
                f->file = open + 2;
                f->line = (uint32_t)strtoul(colon + 1, NULL, 10);
            }
        }
    }
    if (unknown_fn(f->fn))
        f->fn = "";
}

/* Reads text into frames; *buf holds their strings. False when out of memory. */
static bool read_stack(const char *text, char **buf, struct fline **out, size_t *n)
{
    size_t len = strlen(text), lines = 1;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    *buf = malloc(len + 1);
    *out = calloc(lines, sizeof(**out));
    *n = 0;
    if (*buf == NULL || *out == NULL) {
        free(*buf);
        free(*out);
        *buf = NULL;
        *out = NULL;
        return false;
    }
    memcpy(*buf, text, len + 1);
    char *s = *buf;
    while (s) {
        char *nl = strchr(s, '\n');
        if (nl)
            *nl = '\0';
        if (*s)
            parse_line(s, &(*out)[(*n)++]);
        s = nl ? nl + 1 : NULL;
    }
    return true;
}

/* ---- Rust paths ---------------------------------------------------------------- */

static const char *skip_sigils(const char *fn)
{
    for (;;) {
        if (*fn == '&')
            fn++;
        else if (starts(fn, "mut "))
            fn += 4;
        else if (starts(fn, "*const "))
            fn += 7;
        else if (starts(fn, "*mut "))
            fn += 5;
        else if (starts(fn, "dyn "))
            fn += 4;
        else
            return fn;
    }
}

/* As symbols_classify's: "<T as Trait>::f" is T's path unless T is no path (u8, [T], str). */
static const char *path_start(const char *fn)
{
    while (*fn == '<')
        fn = skip_sigils(fn + 1);
    const char *as = strstr(fn, " as ");
    if (as) {
        const char *sep = strstr(fn, "::");
        if (!sep || sep > as)
            return path_start(as + 4);
    }
    return fn;
}

/* The crate a Rust (or C++) path starts with; "" for a plain C name. */
static void crate_of(const char *fn, char *buf, size_t cap)
{
    const char *p = path_start(fn);
    size_t n = 0;
    buf[0] = '\0';
    if (!has(p, "::"))
        return;
    while (p[n] && !(p[n] == ':' && p[n + 1] == ':') && p[n] != '<' && p[n] != ' ' && n + 1 < cap) {
        buf[n] = p[n];
        n++;
    }
    buf[n] = '\0';
}

/* Crates of the standard library, and those std vendors (they have std's paths). */
static bool std_crate(const char *c)
{
    static const char *const crates[] = {"std", "core", "alloc", "hashbrown", "__gnu_cxx", NULL};
    for (size_t i = 0; crates[i]; i++)
        if (strcmp(c, crates[i]) == 0)
            return true;
    return false;
}

enum adv_code adv_code_of(const char *function, const char *file)
{
    const char *fn = adv_s(function), *fl = adv_s(file);
    if (unknown_fn(fn))
        return ADV_CODE_UNKNOWN;
    /* ~/.cargo/registry and Debian's directory source /usr/share/cargo/registry */
    if (has(fl, "/cargo/registry/") || has(fl, "/.cargo/git/"))
        return ADV_CODE_DEP;
    struct sym_frame sf = {.function = fn, .file = fl, .module = "", .main_module = true};
    switch (sym_classify(&sf)) {
    case SYM_ALLOCATOR:
        return ADV_CODE_ALLOCATOR;
    case SYM_STDLIB:
        return ADV_CODE_STD;
    case SYM_DEPENDENCY:
        return ADV_CODE_DEP;
    case SYM_USER:
        break;
    }
    return ADV_CODE_USER;
}

/* ---- allocation kinds ---------------------------------------------------------- */

const char *adv_alloc_kind_name(enum adv_alloc_kind k)
{
    static const char *const names[ADV_AK__COUNT] = {
        [ADV_AK_OTHER] = "other",         [ADV_AK_FORMAT] = "format!",
        [ADV_AK_CLONE] = "clone",         [ADV_AK_GROWTH] = "vector growth",
        [ADV_AK_SERDE] = "serde",         [ADV_AK_REHASH] = "hash map rehash",
        [ADV_AK_BOX] = "Box/Arc/Rc::new", [ADV_AK_SPAWN] = "task spawn",
        [ADV_AK_THREAD] = "thread spawn", [ADV_AK_LIBRARY] = "inside a dependency",
    };
    return (unsigned)k < ADV_AK__COUNT ? names[k] : "other";
}

/* The hot-path label's kind (symbols' sym_label_name strings). */
static enum adv_alloc_kind kind_of_label(const char *label)
{
    static const struct {
        enum sym_label l;
        enum adv_alloc_kind k;
    } map[] = {
        {SYM_LABEL_FORMAT, ADV_AK_FORMAT},      {SYM_LABEL_CLONE, ADV_AK_CLONE},
        {SYM_LABEL_VEC_GROWTH, ADV_AK_GROWTH},  {SYM_LABEL_SERDE_STRING, ADV_AK_SERDE},
        {SYM_LABEL_HASH_REHASH, ADV_AK_REHASH}, {SYM_LABEL_BOX_NEW, ADV_AK_BOX},
    };
    if (label == NULL || !*label)
        return ADV_AK_OTHER;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(label, sym_label_name(map[i].l)) == 0)
            return map[i].k;
    return ADV_AK_OTHER;
}

/* The formatting machinery: format!, write!, to_string of a Display type. */
static bool is_fmt(const char *fn)
{
    const char *p = path_start(fn);
    return starts(p, "core::fmt::") || has(fn, " as core::fmt::") ||
           starts(p, "alloc::fmt::format") || starts(p, "std::fmt::format");
}

/* serde or a format crate, or an impl of serde's traits (a derive). */
static bool is_serde(const char *fn, const char *crate)
{
    return starts(crate, "serde") || has(fn, " as serde::");
}

static bool same_file(const char *a, const char *b)
{
    if (!*a || !*b)
        return true;
    return strcmp(adv_base(a), adv_base(b)) == 0;
}

/* The blame frame's index in fr, or n when it is not there. */
static size_t find_blame(const struct fline *fr, size_t n, const struct adv_frame *b)
{
    const char *bfn = adv_s(b->function), *bfile = adv_s(b->file);
    for (size_t i = 0; i < n; i++)
        if (strcmp(fr[i].fn, bfn) == 0 && (b->line == 0 || fr[i].line == b->line) &&
            same_file(fr[i].file, bfile))
            return i;
    return n;
}

/* A frame of a crate the user's code called (not std, not the blame frame's crate). */
static bool is_dependency(const struct fline *f, const char *crate, const char *user_crate)
{
    enum adv_code c = adv_code_of(f->fn, f->file);
    if (c == ADV_CODE_DEP)
        return true;
    if (c != ADV_CODE_USER || *f->file)
        return false;
    /* No file (a build without debug info): the crate name says it. */
    return *crate && !std_crate(crate) && strcmp(crate, user_crate) != 0;
}

enum adv_alloc_kind adv_alloc_kind_of(const char *label, const char *stack,
                                      const struct adv_frame *blame)
{
    enum adv_alloc_kind from_label = kind_of_label(label);
    if (stack == NULL || !*stack || blame == NULL || !*adv_s(blame->function))
        return from_label;
    char *buf;
    struct fline *fr;
    size_t n;
    if (!read_stack(stack, &buf, &fr, &n))
        return from_label;
    enum adv_alloc_kind kind = ADV_AK__COUNT, mech = ADV_AK_OTHER;
    bool clone = false;
    size_t b = find_blame(fr, n, blame);
    if (b == n)
        goto out;
    char user_crate[128], crate[128];
    crate_of(blame->function, user_crate, sizeof(user_crate));
    /* Nearest the user's code first: what it called decides, not the allocator's plumbing. */
    for (size_t i = b; i-- > 0 && kind == ADV_AK__COUNT;) {
        const char *fn = fr[i].fn;
        if (!*fn)
            continue;
        crate_of(fn, crate, sizeof(crate));
        struct sym_frame sf = {.function = fn, .file = fr[i].file, .module = ""};
        enum sym_label l = sym_label_of(&sf);
        if (is_serde(fn, crate) || l == SYM_LABEL_SERDE_STRING)
            kind = ADV_AK_SERDE;
        else if (is_fmt(fn) || l == SYM_LABEL_FORMAT)
            kind = ADV_AK_FORMAT;
        else if (strcmp(crate, "tokio") == 0 && has(fn, "spawn"))
            kind = ADV_AK_SPAWN;
        else if (strcmp(crate, "std") == 0 && has(fn, "thread") && has(fn, "spawn"))
            kind = ADV_AK_THREAD;
        else if (l == SYM_LABEL_CLONE)
            clone = true; /* to_string() of a Display type formats below: keep looking */
        else if (l != SYM_LABEL_NONE) {
            if (mech == ADV_AK_OTHER)
                mech = kind_of_label(sym_label_name(l));
        } else if (is_dependency(&fr[i], crate, user_crate))
            kind = ADV_AK_LIBRARY;
    }
out:
    if (kind == ADV_AK__COUNT)
        kind = clone ? ADV_AK_CLONE : mech != ADV_AK_OTHER ? mech : from_label;
    free(buf);
    free(fr);
    return kind;
}

/* ---- lock waits and parking ------------------------------------------------------ */

static bool is_lock_frame(const char *fn)
{
    static const char *const marks[] = {
        "lock_contended",       "lock_slow",      "lock_exclusive_slow", "lock_shared_slow",
        "lock_upgradable_slow", "read_contended", "write_contended",     NULL};
    static const char *const pthread[] = {"pthread_mutex_lock",
                                          "pthread_mutex_timedlock",
                                          "pthread_rwlock_rdlock",
                                          "pthread_rwlock_wrlock",
                                          "pthread_rwlock_timedrdlock",
                                          "pthread_rwlock_timedwrlock",
                                          "__pthread_mutex_lock",
                                          "___pthread_mutex_lock",
                                          "__pthread_rwlock_rdlock",
                                          "__pthread_rwlock_wrlock",
                                          NULL};
    for (size_t i = 0; marks[i]; i++)
        if (has(fn, marks[i]))
            return true;
    for (size_t i = 0; pthread[i]; i++)
        if (starts(fn, pthread[i]))
            return true;
    return false;
}

static bool is_park_frame(const char *fn)
{
    char crate[64];
    crate_of(fn, crate, sizeof(crate));
    if (strcmp(crate, "tokio") == 0 && has(fn, "park"))
        return true; /* the runtime's idle workers */
    if (strcmp(crate, "std") == 0 &&
        (has(fn, "thread::park") || has(fn, "thread_parking") || has(fn, "Parker")))
        return true;
    return has(fn, "Condvar") || has(fn, "condvar") || starts(fn, "pthread_cond_");
}

bool adv_is_lock_wait(const char *stack)
{
    if (stack == NULL || !*stack)
        return false;
    char *buf;
    struct fline *fr;
    size_t n;
    if (!read_stack(stack, &buf, &fr, &n))
        return false;
    bool lock = false, park = false;
    for (size_t i = 0; i < n; i++) {
        lock |= is_lock_frame(fr[i].fn);
        park |= is_park_frame(fr[i].fn);
    }
    free(buf);
    free(fr);
    return lock && !park;
}
