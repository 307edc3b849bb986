/*
 * alloc_inside_model: the inside-the-target figures of a run (see
 * alloc_inside.h), fed one second's rows at a time, by the reader live or by
 * storage in replay. Pure: no I/O, no locks (the live handle takes its own).
 *
 * It keeps per site (kind, worker or not, stack, target) totals over the run
 * and per second the totals of each kind, so a screen can show the run, a
 * window or one second. Targets, blames and stacks are copied once.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc/alloc_inside.h"

static const char *const kind_names[ALLOC_IN__COUNT] = {
    "connect", "close", "dns", "sleep", "fsync", "file_read", "file_write", "poll",
    "lock_wait", "park", "thread_create",
};

const char *alloc_inside_kind_name(enum alloc_inside_kind k)
{
    return (unsigned)k < ALLOC_IN__COUNT ? kind_names[k] : "?";
}

bool alloc_inside_kind_parse(const char *s, enum alloc_inside_kind *out)
{
    for (int k = 0; k < ALLOC_IN__COUNT; k++) {
        if (strcmp(s, kind_names[k]) == 0) {
            *out = (enum alloc_inside_kind)k;
            return true;
        }
    }
    return false;
}

bool alloc_inside_blocking(enum alloc_inside_kind k, bool worker)
{
    switch (k) {
    case ALLOC_IN_SLEEP:
    case ALLOC_IN_FSYNC:
    case ALLOC_IN_FILE_READ:
    case ALLOC_IN_FILE_WRITE:
    case ALLOC_IN_POLL:
    case ALLOC_IN_DNS:
        return worker;
    default:
        return false;
    }
}

/* True when a line of frames (one per line) has a function whose name contains needle. */
static bool frames_have(const char *frames, const char *needle)
{
    size_t nl = strlen(needle);
    for (const char *p = frames; p != NULL && *p;) {
        size_t len = strcspn(p, "\n");
        /* the function's part of the line: up to " (file:line)" or " [inlined]" */
        size_t fn = len;
        for (size_t i = 0; i + 1 < len; i++) {
            if (p[i] == ' ' && (p[i + 1] == '(' || p[i + 1] == '[')) {
                fn = i;
                break;
            }
        }
        for (size_t i = 0; i + nl <= fn; i++)
            if (memcmp(p + i, needle, nl) == 0)
                return true;
        p += len;
        if (*p == '\n')
            p++;
    }
    return false;
}

bool alloc_inside_off_worker_stack(const char *frames)
{
    static const char *const schedulers[] = {
        "tokio::runtime::scheduler::multi_thread::worker::",
        "tokio::runtime::scheduler::multi_thread_alt::worker::",
        "tokio::runtime::scheduler::current_thread::",
        "tokio::runtime::thread_pool::worker::", /* tokio before 1.21 */
        "tokio::runtime::basic_scheduler::",
    };
    if (frames_have(frames, "block_in_place"))
        return true;
    if (!frames_have(frames, "tokio::runtime::blocking::task::BlockingTask"))
        return false;
    for (size_t i = 0; i < sizeof(schedulers) / sizeof(schedulers[0]); i++)
        if (frames_have(frames, schedulers[i]))
            return false;
    return true;
}

/*
 * The last path segment of a frame line's function, without its parameters
 * or trailing generic arguments: "std::sys::sync::mutex::futex::Mutex::lock_contended"
 * gives "lock_contended".
 */
static size_t frame_leaf(const char *line, size_t len, const char **leaf)
{
    size_t end = len;
    const char *cut = NULL;
    for (size_t i = 0; i + 1 < len && cut == NULL; i++)
        if (line[i] == ' ' && (line[i + 1] == '(' || line[i + 1] == '['))
            cut = line + i; /* " (file:line)", " [inlined]" */
    if (cut != NULL)
        end = (size_t)(cut - line);
    const char *paren = memchr(line, '(', end);
    if (paren != NULL && paren > line)
        end = (size_t)(paren - line); /* C++ parameters */
    while (end > 0 && line[end - 1] == '>') { /* trailing generic arguments */
        int depth = 0;
        size_t i = end;
        while (i > 0) {
            i--;
            if (line[i] == '>')
                depth++;
            else if (line[i] == '<' && --depth == 0)
                break;
        }
        if (depth != 0)
            break;
        end = i;
    }
    size_t start = 0;
    for (size_t i = 0; i + 1 < end; i++)
        if (line[i] == ':' && line[i + 1] == ':')
            start = i + 2;
    *leaf = line + start;
    return end - start;
}

bool alloc_inside_lock_stack(const char *frames)
{
    static const char *const exact[] = {
        "lock_contended",       /* std's futex Mutex */
        "read_contended",       /* std's futex RwLock */
        "write_contended",
        "lock_slow",            /* parking_lot's RawMutex, RawFairMutex */
        "lock_exclusive_slow",  /* parking_lot's RawRwLock */
        "lock_shared_slow",
        "lock_upgradable_slow",
        "upgrade_slow",
        "pthread_mutex_lock",
        "pthread_mutex_timedlock",
        "pthread_rwlock_rdlock",
        "pthread_rwlock_wrlock",
        "__lll_lock_wait",
    };
    const char *p = frames;
    while (p != NULL && *p) {
        size_t len = strcspn(p, "\n");
        const char *leaf;
        size_t n = frame_leaf(p, len, &leaf);
        for (size_t k = 0; k < sizeof(exact) / sizeof(exact[0]); k++)
            if (n == strlen(exact[k]) && memcmp(leaf, exact[k], n) == 0)
                return true;
        p += len;
        if (*p == '\n')
            p++;
    }
    return false;
}

/* ---- the model ------------------------------------------------------------------ */

struct site {
    struct alloc_inside_site s;
    uint32_t target;            /* index into targets */
    uint32_t last_second;
    bool seen;
};

struct keytext {
    char *blame, *stack;
};

struct second {
    uint64_t count[ALLOC_IN__COUNT], failed[ALLOC_IN__COUNT], time_ns[ALLOC_IN__COUNT];
    uint64_t worker_count[ALLOC_IN__COUNT], worker_time_ns[ALLOC_IN__COUNT];
    uint64_t requests;
    bool any;
};

struct alloc_inside_model {
    struct site *sites;
    size_t nsites, capsites;
    uint32_t *index;            /* open addressing: site index + 1, 0 empty */
    size_t capindex;
    char **targets;
    size_t ntargets, captargets;
    struct keytext *keys;       /* by stack key */
    size_t capkeys;
    struct second *secs;
    size_t nsecs;
};

ls_err alloc_inside_model_open(struct alloc_inside_model **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? LS_OK : LS_ERR_NOMEM;
}

void alloc_inside_model_close(struct alloc_inside_model *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->ntargets; i++)
        free(m->targets[i]);
    for (size_t i = 0; i < m->capkeys; i++) {
        free(m->keys[i].blame);
        free(m->keys[i].stack);
    }
    free(m->targets);
    free(m->keys);
    free(m->sites);
    free(m->index);
    free(m->secs);
    free(m);
}

static bool target_of(struct alloc_inside_model *m, const char *t, uint32_t *out)
{
    if (t == NULL)
        t = "";
    for (size_t i = 0; i < m->ntargets; i++) {
        if (strcmp(m->targets[i], t) == 0) {
            *out = (uint32_t)i;
            return true;
        }
    }
    if (m->ntargets == m->captargets) {
        size_t nc = m->captargets ? m->captargets * 2 : 16;
        char **n = realloc(m->targets, nc * sizeof(*n));
        if (n == NULL)
            return false;
        m->targets = n;
        m->captargets = nc;
    }
    char *copy = strdup(t);
    if (copy == NULL)
        return false;
    m->targets[m->ntargets] = copy;
    *out = (uint32_t)m->ntargets++;
    return true;
}

static bool key_text(struct alloc_inside_model *m, uint32_t key, const char *blame,
                     const char *stack)
{
    if (key >= m->capkeys) {
        size_t nc = key + 256;
        struct keytext *n = realloc(m->keys, nc * sizeof(*n));
        if (n == NULL)
            return false;
        memset(n + m->capkeys, 0, (nc - m->capkeys) * sizeof(*n));
        m->keys = n;
        m->capkeys = nc;
    }
    struct keytext *k = &m->keys[key];
    if (k->blame == NULL)
        k->blame = strdup(blame ? blame : "");
    if (k->stack == NULL)
        k->stack = strdup(stack ? stack : "");
    return k->blame != NULL && k->stack != NULL;
}

static uint64_t site_hash(enum alloc_inside_kind kind, bool worker, uint32_t key, uint32_t target)
{
    uint64_t h = ((uint64_t)kind << 1 | (worker ? 1u : 0u)) ^ (uint64_t)key << 8 ^ (uint64_t)target << 40;
    h *= 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

static bool index_grow(struct alloc_inside_model *m)
{
    size_t nc = m->capindex ? m->capindex * 2 : 256;
    uint32_t *n = calloc(nc, sizeof(*n));
    if (n == NULL)
        return false;
    for (size_t i = 0; i < m->nsites; i++) {
        const struct site *s = &m->sites[i];
        size_t j = site_hash(s->s.kind, s->s.worker, s->s.key, s->target) & (nc - 1);
        while (n[j] != 0)
            j = (j + 1) & (nc - 1);
        n[j] = (uint32_t)i + 1;
    }
    free(m->index);
    m->index = n;
    m->capindex = nc;
    return true;
}

static struct site *site_of(struct alloc_inside_model *m, const struct alloc_inside_row *r,
                            uint32_t target)
{
    if ((m->nsites + 1) * 2 > m->capindex && !index_grow(m))
        return NULL;
    size_t j = site_hash(r->kind, r->worker, r->key, target) & (m->capindex - 1);
    for (; m->index[j] != 0; j = (j + 1) & (m->capindex - 1)) {
        struct site *s = &m->sites[m->index[j] - 1];
        if (s->s.kind == r->kind && s->s.worker == r->worker && s->s.key == r->key &&
            s->target == target)
            return s;
    }
    if (m->nsites == m->capsites) {
        size_t nc = m->capsites ? m->capsites * 2 : 64;
        struct site *n = realloc(m->sites, nc * sizeof(*n));
        if (n == NULL)
            return NULL;
        m->sites = n;
        m->capsites = nc;
    }
    struct site *s = &m->sites[m->nsites];
    memset(s, 0, sizeof(*s));
    s->s.kind = r->kind;
    s->s.worker = r->worker;
    s->s.key = r->key;
    s->s.pid = r->pid;
    s->target = target;
    m->index[j] = (uint32_t)++m->nsites;
    return s;
}

static struct second *second_of(struct alloc_inside_model *m, uint32_t second)
{
    if (second >= m->nsecs) {
        size_t nn = (size_t)second + 64;
        struct second *n = realloc(m->secs, nn * sizeof(*n));
        if (n == NULL)
            return NULL;
        memset(n + m->nsecs, 0, (nn - m->nsecs) * sizeof(*n));
        m->secs = n;
        m->nsecs = nn;
    }
    return &m->secs[second];
}

ls_err alloc_inside_model_add(struct alloc_inside_model *m, uint32_t second,
                              const struct alloc_inside_row *r, const char *blame,
                              const char *stack)
{
    uint32_t target;
    if ((unsigned)r->kind >= ALLOC_IN__COUNT)
        return LS_ERR_RANGE;
    if (!target_of(m, r->target, &target) || !key_text(m, r->key, blame, stack))
        return LS_ERR_NOMEM;
    struct site *s = site_of(m, r, target);
    struct second *sec = second_of(m, second);
    if (s == NULL || sec == NULL)
        return LS_ERR_NOMEM;
    s->s.count += r->count;
    s->s.failed += r->failed;
    s->s.time_ns += r->time_ns;
    if (!s->seen || s->last_second != second) {
        s->s.seconds++;
        s->seen = true;
        s->last_second = second;
    }
    sec->count[r->kind] += r->count;
    sec->failed[r->kind] += r->failed;
    sec->time_ns[r->kind] += r->time_ns;
    if (r->worker) {
        sec->worker_count[r->kind] += r->count;
        sec->worker_time_ns[r->kind] += r->time_ns;
    }
    sec->any = true;
    return LS_OK;
}

void alloc_inside_model_requests(struct alloc_inside_model *m, uint32_t second, uint64_t count)
{
    struct second *sec = second_of(m, second);
    if (sec != NULL)
        sec->requests += count;
}

static int cmp_site(const void *x, const void *y)
{
    const struct alloc_inside_site *p = x, *q = y;
    if (p->time_ns != q->time_ns)
        return p->time_ns > q->time_ns ? -1 : 1;
    if (p->count != q->count)
        return p->count > q->count ? -1 : 1;
    if (p->kind != q->kind)
        return p->kind < q->kind ? -1 : 1;
    if (p->key != q->key)
        return p->key < q->key ? -1 : 1;
    return strcmp(p->target, q->target);
}

size_t alloc_inside_model_sites(const struct alloc_inside_model *m, struct alloc_inside_site *out,
                                size_t cap)
{
    uint64_t reqs = 0;
    for (size_t i = 0; i < m->nsecs; i++)
        reqs += m->secs[i].requests;
    struct alloc_inside_site *all = calloc(m->nsites ? m->nsites : 1, sizeof(*all));
    if (all == NULL)
        return 0;
    for (size_t i = 0; i < m->nsites; i++) {
        const struct site *s = &m->sites[i];
        all[i] = s->s;
        all[i].target = m->targets[s->target];
        all[i].blame = s->s.key < m->capkeys && m->keys[s->s.key].blame ? m->keys[s->s.key].blame : "";
        all[i].stack = s->s.key < m->capkeys && m->keys[s->s.key].stack ? m->keys[s->s.key].stack : "";
        all[i].count_per_req = reqs ? (double)s->s.count / (double)reqs : 0;
        all[i].time_per_req_ns = reqs ? (double)s->s.time_ns / (double)reqs : 0;
    }
    qsort(all, m->nsites, sizeof(*all), cmp_site);
    size_t n = m->nsites < cap ? m->nsites : cap;
    if (n > 0)
        memcpy(out, all, n * sizeof(*out));
    free(all);
    return m->nsites;
}

void alloc_inside_model_totals(const struct alloc_inside_model *m, uint32_t from, uint32_t to,
                               struct alloc_inside_totals *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = from; i < m->nsecs && i < to; i++) {
        const struct second *s = &m->secs[i];
        for (int k = 0; k < ALLOC_IN__COUNT; k++) {
            out->count[k] += s->count[k];
            out->failed[k] += s->failed[k];
            out->time_ns[k] += s->time_ns[k];
            out->worker_count[k] += s->worker_count[k];
            out->worker_time_ns[k] += s->worker_time_ns[k];
        }
        out->requests += s->requests;
        out->seconds += s->any;
    }
}
