/*
 * alloc_stacks: the traced stacks, each turned into text once.
 *
 * A connection's module map (from the shim's MAPS messages) feeds its symbol
 * table; a stack the shim describes for the first time is resolved against
 * it (core/symbols.h), given its blame frame and label (alloc_stack_text in
 * alloc_target.c), keyed in the run's stack list and handed to the sink.
 * Reader thread only; the stack list is shared with other threads under the
 * handle's lock.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/alloc.h"
#include "alloc/alloc_int.h"
#include "symbols/symbols.h"

void alloc_add_module(struct alloc_conn *c, uint64_t start, uint64_t end, uint64_t off,
                      const char *path)
{
    for (size_t i = 0; i < c->nmods; i++)
        if (c->mod_starts[i] == start)
            return;
    if (c->nmods == c->capmods) {
        size_t nc = c->capmods ? c->capmods * 2 : 32;
        uint64_t *n = realloc(c->mod_starts, nc * sizeof(*n));
        if (n == NULL)
            return;
        c->mod_starts = n;
        c->capmods = nc;
    }
    if (sym_add_module(c->sym, start, end, off, path) == LS_OK)
        c->mod_starts[c->nmods++] = start;
}

struct alloc_stack *alloc_new_stack(struct alloc *a, struct alloc_conn *c, const uint64_t *pcs,
                                    uint32_t n)
{
    struct alloc_stack *s = calloc(1, sizeof(*s));
    struct sym_frame *fr = calloc((size_t)n * 8 + 1, sizeof(*fr));
    struct alloc_text t = {0};
    if (s == NULL || fr == NULL)
        goto fail;
    size_t nf = 0;
    for (uint32_t i = 0; i < n; i++)
        nf += sym_resolve(c->sym, pcs[i], fr + nf, (size_t)n * 8 - nf);
    if (!alloc_stack_text(fr, nf, a->o.include_deps, &t))
        goto fail;
    s->pid = c->pid;
    s->blame = t.blame;
    s->blame_fn = t.blame_fn;
    s->blame_file = t.blame_file;
    s->blame_line = t.blame_line;
    s->label = t.label;
    s->text = t.text;
    s->folded = t.folded;
    free(fr);
    return s;
fail:
    alloc_text_free(&t);
    free(fr);
    free(s);
    return NULL;
}

struct alloc_stack *alloc_unattributed_stack(struct alloc_conn *c)
{
    struct alloc_stack *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->pid = c->pid;
    s->blame = strdup("(unattributed: tracer's stack table full)");
    s->blame_fn = strdup("(unattributed)");
    s->blame_file = strdup("");
    s->text = strdup("(unattributed)");
    s->folded = strdup("(unattributed)");
    s->label = "";
    if (!s->blame || !s->blame_fn || !s->blame_file || !s->text || !s->folded) {
        alloc_stack_free(s);
        return NULL;
    }
    return s;
}

void alloc_stack_free(struct alloc_stack *s)
{
    if (s == NULL)
        return;
    free(s->blame);
    free(s->blame_fn);
    free(s->blame_file);
    free(s->text);
    free(s->folded);
    free(s);
}

bool alloc_register_stack(struct alloc *a, struct alloc_conn *c, uint32_t id,
                          struct alloc_stack *s)
{
    if (id >= c->nkeys) {
        size_t nk = id + 1024;
        uint32_t *k = realloc(c->keys, nk * sizeof(*k));
        if (k == NULL)
            return false;
        memset(k + c->nkeys, 0, (nk - c->nkeys) * sizeof(*k));
        c->keys = k;
        c->nkeys = nk;
    }
    pthread_mutex_lock(&a->lock);
    if (a->nstacks == a->capstacks) {
        size_t nc = a->capstacks ? a->capstacks * 2 : 256;
        struct alloc_stack **ns = realloc(a->stacks, nc * sizeof(*ns));
        if (ns == NULL) {
            pthread_mutex_unlock(&a->lock);
            return false;
        }
        a->stacks = ns;
        a->capstacks = nc;
    }
    s->key = (uint32_t)a->nstacks + 1;
    a->stacks[a->nstacks++] = s;
    pthread_mutex_unlock(&a->lock);
    c->keys[id] = s->key;
    if (a->sink.stack) {
        struct alloc_stack_info si = {.key = s->key, .pid = s->pid, .blame_function = s->blame_fn,
                                      .blame_file = s->blame_file, .blame_line = s->blame_line,
                                      .label = s->label, .stack = s->text, .folded = s->folded};
        a->sink.stack(a->sink.ctx, &si);
    }
    return true;
}
