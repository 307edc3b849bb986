/*
 * symbols_demangle: the table's strings. Every string a frame hands out is
 * interned here (one copy per distinct text, freed by sym_close), and names
 * are demangled: Rust v0 "_R..." and legacy "_ZN...17h<hash>E" through
 * libiberty's Rust demangler, then C++; a ".llvm.NNN" suffix (ThinLTO) is cut
 * before anything looks, and a legacy hash libiberty left is dropped. The
 * result has no fixed size (async Rust names run to kilobytes). Demangled
 * names are memoized per mangled name.
 */
#include "symbols/symbols.h"
#include "symbols/symbols_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* libiberty.h (pulled in by demangle.h) tests configure macros it never defines. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wundef"
#include <demangle.h>
#pragma GCC diagnostic pop

/* ---- string maps ------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211u;
    }
    return h;
}

static struct strmap_ent *strmap_find(const struct strmap *m, const char *key, size_t len)
{
    if (m->cap == 0)
        return NULL;
    size_t i = hash_bytes(key, len) & (m->cap - 1);
    while (m->slots[i].key) {
        if (strlen(m->slots[i].key) == len && memcmp(m->slots[i].key, key, len) == 0)
            return &m->slots[i];
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

static bool strmap_grow(struct strmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 256;
    struct strmap_ent *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return false;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        size_t j = hash_bytes(m->slots[i].key, strlen(m->slots[i].key)) & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return true;
}

/* Inserts key (copied) with value; value NULL means "the key itself". */
static struct strmap_ent *strmap_put(struct strmap *m, const char *key, size_t len,
                                     const char *value)
{
    if ((m->used + 1) * 4 > m->cap * 3 && !strmap_grow(m))
        return NULL;
    char *k = malloc(len + 1);
    if (!k)
        return NULL;
    memcpy(k, key, len);
    k[len] = '\0';
    size_t i = hash_bytes(k, len) & (m->cap - 1);
    while (m->slots[i].key)
        i = (i + 1) & (m->cap - 1);
    m->slots[i].key = k;
    m->slots[i].value = value ? value : k;
    m->used++;
    return &m->slots[i];
}

void sym_strmap_free(struct strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static const char *intern_n(struct sym_table *t, const char *s, size_t len)
{
    struct strmap_ent *e = strmap_find(&t->strings, s, len);
    if (e)
        return e->value;
    e = strmap_put(&t->strings, s, len, NULL);
    return e ? e->value : "";
}

const char *sym_intern(struct sym_table *t, const char *s)
{
    return s ? intern_n(t, s, strlen(s)) : "";
}

/* ---- demangling --------------------------------------------------------- */

static bool is_hex_run(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

char *sym_demangle(const char *mangled)
{
    if (!mangled)
        return strdup("");
    /* ".llvm.NNNN" (ThinLTO promotion) goes before anything else looks. */
    size_t len = strlen(mangled);
    const char *llvm = strstr(mangled, ".llvm.");
    if (llvm)
        len = (size_t)(llvm - mangled);
    char *in = malloc(len + 1);
    if (!in)
        return NULL;
    memcpy(in, mangled, len);
    in[len] = '\0';

    char *out = NULL;
    if (in[0] == '_' && (in[1] == 'R' || in[1] == 'Z'))
        out = cplus_demangle(in, DMGL_PARAMS | DMGL_ANSI | DMGL_RUST);
    if (!out && in[0] == '_' && in[1] == 'Z')
        out = cplus_demangle(in, DMGL_PARAMS | DMGL_ANSI | DMGL_GNU_V3 | DMGL_RET_DROP);
    if (out) {
        free(in);
        in = out;
    }
    /* A legacy Rust hash left over (a name libiberty would not take). */
    size_t n = strlen(in);
    if (n > 19 && memcmp(in + n - 19, "::h", 3) == 0 && is_hex_run(in + n - 16, 16))
        in[n - 19] = '\0';
    return in;
}

/* Demangles through the table's memo; the result is interned. */
const char *sym_demangle_cached(struct sym_table *t, const char *mangled)
{
    if (!mangled || !*mangled)
        return "";
    size_t len = strlen(mangled);
    struct strmap_ent *e = strmap_find(&t->demangled, mangled, len);
    if (e)
        return e->value;
    char *d = sym_demangle(mangled);
    const char *v = d ? sym_intern(t, d) : sym_intern(t, mangled);
    free(d);
    strmap_put(&t->demangled, mangled, len, v); /* a failed memo only costs time */
    return v;
}
