/*
 * alloc: the reader thread that receives the shim's streams (see alloc.h).
 *
 * One thread owns the listening socket, every connection (one per traced
 * process) and their symbol tables: it parses messages, turns each new stack
 * into text once, adds deltas into per-second buckets and per-stack totals,
 * and closes seconds ALLOC_CLOSE_LAG_NS after they end. A mutex guards what
 * other threads read (the stack list for snapshots, request counts, status);
 * the reader holds it for the time of one batch, never across I/O.
 */
#include "alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../shim/lsalloc_wire.h"
#include "alloc_int.h"
#include "symbols.h"

#define ALLOC_CLOSE_LAG_NS 1500000000ull
#define ALLOC_RING 64u
#define ALLOC_MAX_CONNS 64

struct conn {
    int fd;
    int pid, ppid;
    bool hello, bye, closed;
    bool exec_image;            /* the same process, traced before it exec'd this image */
    uint32_t mode, unwind;
    uint8_t *buf;
    size_t len, cap;
    struct sym_table *sym;
    uint64_t *mod_starts;
    size_t nmods, capmods;
    uint32_t *keys;             /* shim stack id -> stack index + 1 */
    size_t nkeys;
    struct lsw_counters ctr;
};

struct stack {
    uint32_t key;
    int pid;
    char *blame, *blame_fn, *blame_file, *text, *folded;
    const char *label;
    uint32_t blame_line;
    uint64_t allocs, bytes, reallocs, frees, freed_bytes, short_lived;
    int64_t live;
    int64_t live_first;
    bool have_first;
    uint32_t row_sec;
    size_t row_idx;
    bool row_valid;
};

struct bucket {
    bool used;
    uint32_t second;
    struct alloc_row *rows;
    size_t n, cap;
    struct alloc_procstat procs[ALLOC_MAX_CONNS];
    char *names[ALLOC_MAX_CONNS];
    size_t nprocs;
};

struct alloc {
    struct alloc_opts o;
    struct alloc_sink sink;
    char dir[64], path[108];
    char shim[4096];
    struct scn_kv env[8];
    char envbuf[8][160];
    char keybuf[8][40];
    size_t nenv;
    int lfd, epfd;
    pthread_t th;
    bool started;
    _Atomic int stop;
    _Atomic uint64_t origin_ns;

    pthread_mutex_t lock;       /* guards what follows */
    struct conn *conns[ALLOC_MAX_CONNS];
    size_t nconns;
    struct stack **stacks;
    size_t nstacks, capstacks;
    uint64_t *requests;         /* per second */
    size_t nreq;
    int watch[ALLOC_MAX_CONNS];
    size_t nwatch;
    struct alloc_procstat last_proc[ALLOC_MAX_CONNS];
    uint64_t last_cpu[ALLOC_MAX_CONNS];
    uint32_t traced_seconds;
    char warning[512];
    bool warned_rss;

    struct bucket ring[ALLOC_RING];
    uint32_t next_close;        /* every second below is closed */
    uint32_t max_second;        /* highest second any data fell into */
    bool any_data;
    uint32_t sampled_upto;      /* /proc read for every second below */
};

const char *alloc_mode_name(enum alloc_mode m)
{
    switch (m) {
    case ALLOC_COUNT:
        return "count";
    case ALLOC_FULL:
        return "full";
    case ALLOC_SAMPLED:
        return "sampled";
    default:
        return NULL;
    }
}

bool alloc_mode_parse(const char *s, enum alloc_mode *out)
{
    static const enum alloc_mode all[] = {ALLOC_COUNT, ALLOC_FULL, ALLOC_SAMPLED};
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(s, alloc_mode_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    }
    return false;
}

static uint64_t now_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void emit_event(struct alloc *a, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void emit_event(struct alloc *a, const char *kind, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (strcmp(kind, "alloc_warning") == 0 && a->warning[0] == '\0')
        snprintf(a->warning, sizeof(a->warning), "%s", msg);
    if (a->sink.event)
        a->sink.event(a->sink.ctx, kind, msg);
}

static uint32_t second_of(const struct alloc *a, uint64_t t_ns)
{
    uint64_t o = atomic_load(&a->origin_ns);
    return t_ns <= o ? 0 : (uint32_t)((t_ns - o) / 1000000000ull);
}

/* ---- seconds ---------------------------------------------------------------- */

static struct bucket *bucket_for(struct alloc *a, uint32_t sec)
{
    if (sec < a->next_close)
        sec = a->next_close; /* late data joins the oldest open second */
    if (sec >= a->next_close + ALLOC_RING)
        sec = a->next_close + ALLOC_RING - 1;
    struct bucket *b = &a->ring[sec % ALLOC_RING];
    if (!b->used) {
        b->used = true;
        b->second = sec;
        b->n = 0;
        b->nprocs = 0;
    }
    if (sec > a->max_second || !a->any_data)
        a->max_second = sec;
    a->any_data = true;
    return b;
}

static void close_second(struct alloc *a, uint32_t sec)
{
    struct bucket *b = &a->ring[sec % ALLOC_RING];
    struct alloc_interval iv = {.second = sec};
    pthread_mutex_lock(&a->lock);
    iv.requests = sec < a->nreq ? a->requests[sec] : 0;
    a->traced_seconds = sec + 1;
    pthread_mutex_unlock(&a->lock);
    if (b->used && b->second == sec) {
        iv.rows = b->rows;
        iv.nrows = b->n;
        iv.procs = b->procs;
        iv.nprocs = b->nprocs;
    }
    if (a->sink.interval)
        a->sink.interval(a->sink.ctx, &iv);
    if (b->used && b->second == sec) {
        for (size_t i = 0; i < b->nprocs; i++) {
            free(b->names[i]);
            b->names[i] = NULL;
        }
        b->used = false;
        b->n = 0;
        b->nprocs = 0;
    }
    a->next_close = sec + 1;
}

/* Reads /proc for every watched process into the bucket of second sec. */
static void sample_procs(struct alloc *a, uint32_t sec)
{
    struct bucket *b = bucket_for(a, sec);
    pthread_mutex_lock(&a->lock);
    size_t nw = a->nwatch;
    int pids[ALLOC_MAX_CONNS];
    memcpy(pids, a->watch, nw * sizeof(int));
    pthread_mutex_unlock(&a->lock);
    uint64_t rss_total = 0;
    for (size_t i = 0; i < nw && b->nprocs < ALLOC_MAX_CONNS; i++) {
        struct alloc_procstat ps = {.pid = pids[i]};
        uint64_t ticks = 0;
        char *names = NULL;
        if (!alloc_proc_read(pids[i], &ps.rss_bytes, &ticks, &ps.threads, &names))
            continue;
        pthread_mutex_lock(&a->lock);
        uint64_t prev = a->last_cpu[i];
        a->last_cpu[i] = ticks;
        for (size_t c = 0; c < a->nconns; c++) {
            if (a->conns[c]->pid == pids[i]) {
                ps.allocs = a->conns[c]->ctr.allocs;
                ps.frees = a->conns[c]->ctr.frees;
                ps.bytes_allocated = a->conns[c]->ctr.bytes_allocated;
                ps.dropped = a->conns[c]->ctr.dropped;
            }
        }
        ps.cpu_pct = prev && ticks >= prev ? alloc_ticks_to_pct(ticks - prev) : 0;
        a->last_proc[i] = ps;
        a->last_proc[i].thread_names = NULL;
        pthread_mutex_unlock(&a->lock);
        rss_total += ps.rss_bytes;
        ps.thread_names = names;
        b->names[b->nprocs] = names;
        b->procs[b->nprocs++] = ps;
    }
    /* A global allocator that bypasses malloc shows as RSS the shim never saw. */
    if (!a->warned_rss && a->o.mode != ALLOC_COUNT && rss_total > (256ull << 20)) {
        uint64_t seen = 0;
        pthread_mutex_lock(&a->lock);
        for (size_t c = 0; c < a->nconns; c++)
            seen += a->conns[c]->ctr.bytes_allocated;
        pthread_mutex_unlock(&a->lock);
        if (seen < rss_total / 16) {
            a->warned_rss = true;
            emit_event(a, "alloc_warning",
                       "the target's RSS is %" PRIu64 " MiB but the tracer saw only %" PRIu64
                       " MiB allocated through malloc: it likely uses its own global allocator "
                       "(jemalloc, mimalloc) that the tracer cannot see",
                       rss_total >> 20, seen >> 20);
        }
    }
}

static void tick(struct alloc *a, bool final)
{
    uint32_t now_sec = second_of(a, now_unix_ns());
    while (a->sampled_upto <= now_sec && !final) {
        if (a->sampled_upto == now_sec)
            break; /* sample a second at its end */
        sample_procs(a, a->sampled_upto);
        a->sampled_upto++;
    }
    uint64_t lagged = now_unix_ns() - ALLOC_CLOSE_LAG_NS;
    uint32_t upto = final ? (a->any_data ? a->max_second + 1 : a->next_close)
                          : second_of(a, lagged);
    if (final && a->sampled_upto == now_sec && now_sec + 1 > a->next_close) {
        sample_procs(a, now_sec);
        a->sampled_upto++;
        if (upto < now_sec + 1)
            upto = now_sec + 1;
    }
    if (!final && lagged <= atomic_load(&a->origin_ns))
        return;
    while (a->next_close < upto)
        close_second(a, a->next_close);
}

/* ---- stacks ----------------------------------------------------------------- */

static void add_module_once(struct conn *c, uint64_t start, uint64_t end, uint64_t off,
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

static struct stack *new_stack(struct alloc *a, struct conn *c, const uint64_t *pcs, uint32_t n)
{
    struct stack *s = calloc(1, sizeof(*s));
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

static struct stack *unattributed_stack(struct conn *c)
{
    struct stack *s = calloc(1, sizeof(*s));
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
        free(s->blame);
        free(s->blame_fn);
        free(s->blame_file);
        free(s->text);
        free(s->folded);
        free(s);
        return NULL;
    }
    return s;
}

static bool register_stack(struct alloc *a, struct conn *c, uint32_t id, struct stack *s)
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
        struct stack **ns = realloc(a->stacks, nc * sizeof(*ns));
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

/* ---- messages --------------------------------------------------------------- */

static void on_delta(struct alloc *a, struct conn *c, const uint8_t *p, uint32_t len)
{
    struct lsw_delta_head h;
    memcpy(&h, p, sizeof(h));
    if ((uint64_t)h.count * sizeof(struct lsw_delta) + sizeof(h) != len) {
        emit_event(a, "alloc_error", "pid %d: malformed DELTA (%u records in %u bytes)", c->pid,
                   h.count, len);
        return;
    }
    struct bucket *b = bucket_for(a, second_of(a, h.t_unix_ns));
    pthread_mutex_lock(&a->lock);
    for (uint32_t i = 0; i < h.count; i++) {
        struct lsw_delta d;
        memcpy(&d, p + sizeof(h) + (size_t)i * sizeof(d), sizeof(d));
        if (d.stack_id == 0 && (c->nkeys == 0 || c->keys[0] == 0)) {
            pthread_mutex_unlock(&a->lock);
            struct stack *s = unattributed_stack(c);
            if (s == NULL || !register_stack(a, c, 0, s)) {
                pthread_mutex_lock(&a->lock);
                continue;
            }
            pthread_mutex_lock(&a->lock);
        }
        if (d.stack_id >= c->nkeys || c->keys[d.stack_id] == 0)
            continue; /* a stack the shim never described: ignored (it always sends STACK first) */
        struct stack *s = a->stacks[c->keys[d.stack_id] - 1];
        s->allocs += d.allocs;
        s->bytes += d.bytes;
        s->reallocs += d.reallocs;
        s->frees += d.frees;
        s->freed_bytes += d.freed_bytes;
        s->short_lived += d.short_lived;
        s->live = d.live_bytes;
        if (!s->row_valid || s->row_sec != b->second || s->row_idx >= b->n ||
            b->rows[s->row_idx].key != s->key) {
            if (b->n == b->cap) {
                size_t nc = b->cap ? b->cap * 2 : 64;
                struct alloc_row *nr = realloc(b->rows, nc * sizeof(*nr));
                if (nr == NULL)
                    continue;
                b->rows = nr;
                b->cap = nc;
            }
            s->row_sec = b->second;
            s->row_idx = b->n++;
            s->row_valid = true;
            memset(&b->rows[s->row_idx], 0, sizeof(struct alloc_row));
            b->rows[s->row_idx].key = s->key;
        }
        struct alloc_row *r = &b->rows[s->row_idx];
        r->allocs += d.allocs;
        r->bytes += d.bytes;
        r->reallocs += d.reallocs;
        r->frees += d.frees;
        r->freed_bytes += d.freed_bytes;
        r->short_lived += d.short_lived;
        r->live_bytes = d.live_bytes;
        if (!s->have_first) {
            s->have_first = true;
            s->live_first = d.live_bytes;
        }
    }
    pthread_mutex_unlock(&a->lock);
}

static void on_message(struct alloc *a, struct conn *c, uint32_t type, const uint8_t *p, uint32_t len)
{
    if (!c->hello && type != LSW_HELLO) {
        emit_event(a, "alloc_error", "a traced process sent message %u before its hello", type);
        return;
    }
    switch (type) {
    case LSW_HELLO: {
        struct lsw_hello h;
        if (len < sizeof(h) || c->hello)
            break;
        memcpy(&h, p, sizeof(h));
        h.exe[sizeof(h.exe) - 1] = '\0';
        if (h.version != LSW_VERSION) {
            emit_event(a, "alloc_error", "pid %d: tracer speaks version %u, loadscope %u", h.pid,
                       h.version, LSW_VERSION);
            break;
        }
        c->hello = true;
        c->pid = h.pid;
        c->ppid = h.ppid;
        c->mode = h.mode;
        c->unwind = h.unwind;
        c->exec_image = (h.flags & LSW_HELLO_EXEC) != 0;
        alloc_watch_pid(a, h.pid);
        emit_event(a, "alloc_start", "tracing pid %d (%s)%s, mode %s", h.pid, h.exe,
                   c->exec_image ? " after exec" : "",
                   h.mode == LSW_MODE_COUNT ? "count" : h.mode == LSW_MODE_FULL ? "full" : "sampled");
        break;
    }
    case LSW_MAPS: {
        uint32_t n;
        size_t off = sizeof(n);
        if (len < sizeof(n))
            break;
        memcpy(&n, p, sizeof(n));
        for (uint32_t i = 0; i < n && off + sizeof(struct lsw_map) <= len; i++) {
            struct lsw_map m;
            memcpy(&m, p + off, sizeof(m));
            off += sizeof(m);
            if (m.path_len > len - off || m.path_len >= 4096)
                break;
            char path[4096];
            memcpy(path, p + off, m.path_len);
            path[m.path_len] = '\0';
            off += m.path_len;
            if (path[0] == '/')
                add_module_once(c, m.start, m.end, m.offset, path);
        }
        break;
    }
    case LSW_STACK: {
        struct lsw_stack s;
        if (len < sizeof(s))
            break;
        memcpy(&s, p, sizeof(s));
        if (s.nframes > LSW_MAX_FRAMES || sizeof(s) + (size_t)s.nframes * 8 != len || s.id == 0) {
            emit_event(a, "alloc_error", "pid %d: malformed STACK message", c->pid);
            break;
        }
        uint64_t pcs[LSW_MAX_FRAMES];
        memcpy(pcs, p + sizeof(s), (size_t)s.nframes * 8);
        if (s.id < c->nkeys && c->keys[s.id] != 0)
            break; /* already known */
        struct stack *st = new_stack(a, c, pcs, s.nframes);
        if (st == NULL || !register_stack(a, c, s.id, st))
            emit_event(a, "alloc_error", "pid %d: out of memory for a stack", c->pid);
        break;
    }
    case LSW_DELTA:
        if (len >= sizeof(struct lsw_delta_head))
            on_delta(a, c, p, len);
        break;
    case LSW_COUNTERS:
        if (len >= sizeof(struct lsw_counters)) {
            pthread_mutex_lock(&a->lock);
            memcpy(&c->ctr, p, sizeof(c->ctr));
            c->unwind = c->ctr.unwind;
            pthread_mutex_unlock(&a->lock);
        }
        break;
    case LSW_BYE:
        c->bye = true;
        break;
    default:
        emit_event(a, "alloc_error", "pid %d: unknown message type %u", c->pid, type);
    }
}

/* Parses what is buffered; false when the stream is corrupt (the connection is dropped). */
static bool parse_buffer(struct alloc *a, struct conn *c)
{
    size_t off = 0;
    while (c->len - off >= sizeof(struct lsw_header)) {
        struct lsw_header h;
        memcpy(&h, c->buf + off, sizeof(h));
        if (h.len > LSW_MAX_PAYLOAD) {
            emit_event(a, "alloc_error", "pid %d: message of %u bytes refused (at most %u)",
                       c->pid, h.len, LSW_MAX_PAYLOAD);
            return false;
        }
        if (c->len - off - sizeof(h) < h.len)
            break;
        on_message(a, c, h.type, c->buf + off + sizeof(h), h.len);
        off += sizeof(h) + h.len;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    return true;
}

static void conn_close(struct alloc *a, struct conn *c)
{
    if (c->closed)
        return;
    epoll_ctl(a->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->closed = true;
}

/*
 * A connection that closed without its last batch: killed, _exit, or an exec
 * (the socket closes with the old image; the new one says hello again with
 * LSW_HELLO_EXEC). Judged when the reader ends, since the new image's hello
 * may be read before or after the old connection's end.
 */
static void warn_unfinished(struct alloc *a)
{
    for (size_t i = 0; i < a->nconns; i++) {
        const struct conn *c = a->conns[i];
        if (!c->hello || c->bye || !c->closed)
            continue;
        bool exec = false; /* a later image of the same process replaced this one */
        for (size_t j = i + 1; j < a->nconns; j++)
            exec |= a->conns[j]->pid == c->pid && a->conns[j]->exec_image;
        if (exec)
            continue; /* its last 200 ms belong to the image it replaced itself with */
        emit_event(a, "alloc_warning",
                   "pid %d ended without its last batch (killed, or exited through _exit): "
                   "up to 200 ms of its allocations are missing",
                   c->pid);
    }
}

static void conn_read(struct alloc *a, struct conn *c)
{
    for (;;) {
        if (c->cap - c->len < 65536) {
            size_t nc = c->cap ? c->cap * 2 : 262144;
            uint8_t *nb = realloc(c->buf, nc);
            if (nb == NULL) {
                conn_close(a, c);
                return;
            }
            c->buf = nb;
            c->cap = nc;
        }
        ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            (void)parse_buffer(a, c);
            conn_close(a, c);
            return;
        }
        c->len += (size_t)r;
        if (!parse_buffer(a, c)) {
            conn_close(a, c);
            return;
        }
    }
}

static void accept_all(struct alloc *a)
{
    for (;;) {
        int fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct conn *c = calloc(1, sizeof(*c));
        if (c == NULL || a->nconns >= ALLOC_MAX_CONNS || sym_open_offline(&c->sym) != LS_OK) {
            emit_event(a, "alloc_error", "too many traced processes (at most %d) or no memory",
                       ALLOC_MAX_CONNS);
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev);
        pthread_mutex_lock(&a->lock);
        a->conns[a->nconns++] = c;
        pthread_mutex_unlock(&a->lock);
    }
}

static bool all_done(struct alloc *a)
{
    for (size_t i = 0; i < a->nconns; i++)
        if (!a->conns[i]->closed)
            return false;
    return true;
}

static void *reader_main(void *arg)
{
    struct alloc *a = arg;
    struct epoll_event evs[16];
    for (;;) {
        int stop = atomic_load(&a->stop);
        if (stop && all_done(a))
            break;
        int n = epoll_wait(a->epfd, evs, 16, 100);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL)
                accept_all(a);
            else
                conn_read(a, evs[i].data.ptr);
        }
        if (stop == 2)
            break; /* waited long enough */
        tick(a, false);
    }
    accept_all(a);
    for (size_t i = 0; i < a->nconns; i++)
        if (!a->conns[i]->closed)
            conn_read(a, a->conns[i]);
    warn_unfinished(a);
    tick(a, true);
    return NULL;
}

/* ---- public ------------------------------------------------------------------ */

static void set_env(struct alloc *a, const char *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_env(struct alloc *a, const char *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->envbuf[a->nenv], sizeof(a->envbuf[0]), fmt, ap);
    va_end(ap);
    snprintf(a->keybuf[a->nenv], sizeof(a->keybuf[0]), "%s", k);
    a->env[a->nenv].key = a->keybuf[a->nenv];
    a->env[a->nenv].value = a->envbuf[a->nenv];
    a->nenv++;
}

ls_err alloc_open(const struct alloc_opts *o, const struct alloc_sink *sink, struct alloc **out,
                  char *err, size_t errcap)
{
    ls_err rc = LS_ERR_IO;
    struct alloc *a = calloc(1, sizeof(*a));
    *out = NULL;
    if (a == NULL)
        return LS_ERR_NOMEM;
    a->o = *o;
    a->o.shim_path = NULL;
    if (sink)
        a->sink = *sink;
    a->lfd = a->epfd = -1;
    pthread_mutex_init(&a->lock, NULL);
    atomic_store(&a->origin_ns, now_unix_ns());
    if (o->shim_path) {
        snprintf(a->shim, sizeof(a->shim), "%s", o->shim_path);
    } else if (alloc_default_shim(a->shim, sizeof(a->shim)) != LS_OK) {
        snprintf(err, errcap, "cannot find libloadscope-shim.so next to the loadscope executable");
        rc = LS_ERR_NOTFOUND;
        goto fail;
    }
    if (access(a->shim, R_OK) != 0) {
        snprintf(err, errcap, "allocation tracer %s: %s", a->shim, strerror(errno));
        rc = LS_ERR_NOTFOUND;
        goto fail;
    }
    snprintf(a->dir, sizeof(a->dir), "/tmp/loadscope-alloc-XXXXXX");
    if (mkdtemp(a->dir) == NULL) {
        snprintf(err, errcap, "cannot create a directory for the tracer's socket: %s",
                 strerror(errno));
        a->dir[0] = '\0';
        goto fail;
    }
    snprintf(a->path, sizeof(a->path), "%s/sock", a->dir);
    a->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, a->path, strlen(a->path) + 1);
    if (a->lfd < 0 || bind(a->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(a->lfd, 64) != 0) {
        snprintf(err, errcap, "tracer socket %s: %s", a->path, strerror(errno));
        goto fail;
    }
    a->epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (a->epfd < 0 || epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->lfd, &ev) != 0) {
        snprintf(err, errcap, "epoll: %s", strerror(errno));
        goto fail;
    }
    set_env(a, LSW_ENV_SOCKET, "%s", a->path);
    set_env(a, LSW_ENV_MODE, "%s", alloc_mode_name(o->mode) ? alloc_mode_name(o->mode) : "full");
    if (o->depth)
        set_env(a, LSW_ENV_DEPTH, "%u", o->depth);
    if (o->sample_bytes)
        set_env(a, LSW_ENV_SAMPLE_BYTES, "%" PRIu64, o->sample_bytes);
    if (o->sample_every)
        set_env(a, LSW_ENV_SAMPLE_EVERY, "%" PRIu64, o->sample_every);
    if (o->follow_fork)
        set_env(a, LSW_ENV_FOLLOW_FORK, "1");
    if (pthread_create(&a->th, NULL, reader_main, a) != 0) {
        snprintf(err, errcap, "cannot start the allocation reader thread");
        goto fail;
    }
    a->started = true;
    *out = a;
    return LS_OK;
fail:
    alloc_close(a);
    return rc;
}

void alloc_inject(const struct alloc *a, const struct scn_kv **kv, size_t *n, const char **preload)
{
    *kv = a->env;
    *n = a->nenv;
    *preload = a->shim;
}

void alloc_set_origin(struct alloc *a, uint64_t unix_ns)
{
    atomic_store(&a->origin_ns, unix_ns);
}

void alloc_requests(struct alloc *a, uint32_t second, uint64_t count)
{
    pthread_mutex_lock(&a->lock);
    if (second >= a->nreq) {
        size_t nn = second + 64;
        uint64_t *r = realloc(a->requests, nn * sizeof(*r));
        if (r != NULL) {
            memset(r + a->nreq, 0, (nn - a->nreq) * sizeof(*r));
            a->requests = r;
            a->nreq = nn;
        }
    }
    if (second < a->nreq)
        a->requests[second] += count;
    pthread_mutex_unlock(&a->lock);
}

void alloc_watch_pid(struct alloc *a, pid_t pid)
{
    pthread_mutex_lock(&a->lock);
    bool have = false;
    for (size_t i = 0; i < a->nwatch; i++)
        have |= a->watch[i] == (int)pid;
    if (!have && a->nwatch < ALLOC_MAX_CONNS)
        a->watch[a->nwatch++] = (int)pid;
    pthread_mutex_unlock(&a->lock);
}

void alloc_finish(struct alloc *a, uint64_t wait_ns)
{
    if (a == NULL || !a->started)
        return;
    atomic_store(&a->stop, 1);
    struct timespec ts = {0, 20000000};
    for (uint64_t waited = 0; waited < wait_ns; waited += 20000000) {
        bool done;
        pthread_mutex_lock(&a->lock);
        done = true;
        for (size_t i = 0; i < a->nconns; i++)
            done &= a->conns[i]->closed;
        pthread_mutex_unlock(&a->lock);
        if (done)
            break;
        nanosleep(&ts, NULL);
    }
    atomic_store(&a->stop, 2);
    pthread_join(a->th, NULL);
    a->started = false;
}

static int cmp_hot(const void *x, const void *y, void *by)
{
    const struct alloc_hot *p = x, *q = y;
    uint64_t a, b;
    switch (*(enum alloc_sort *)by) {
    case ALLOC_BY_BYTES:
        a = p->bytes;
        b = q->bytes;
        break;
    case ALLOC_BY_LIVE:
        a = (uint64_t)(p->live_bytes > 0 ? p->live_bytes : 0);
        b = (uint64_t)(q->live_bytes > 0 ? q->live_bytes : 0);
        break;
    default:
        a = p->allocs;
        b = q->allocs;
    }
    if (a != b)
        return a > b ? -1 : 1;
    return p->key < q->key ? -1 : p->key > q->key;
}

size_t alloc_snapshot(struct alloc *a, enum alloc_sort by, struct alloc_hot *out, size_t cap)
{
    pthread_mutex_lock(&a->lock);
    size_t n = a->nstacks;
    struct alloc_hot *all = calloc(n ? n : 1, sizeof(*all));
    uint64_t reqs = 0;
    for (size_t i = 0; i < a->nreq; i++)
        reqs += a->requests[i];
    double secs = a->traced_seconds ? a->traced_seconds : 1;
    for (size_t i = 0; all && i < n; i++) {
        const struct stack *s = a->stacks[i];
        struct alloc_hot *h = &all[i];
        h->key = s->key;
        h->pid = s->pid;
        h->blame = s->blame;
        h->blame_function = s->blame_fn;
        h->blame_file = s->blame_file;
        h->blame_line = s->blame_line;
        h->label = s->label;
        h->stack = s->text;
        h->folded = s->folded;
        h->allocs = s->allocs;
        h->bytes = s->bytes;
        h->reallocs = s->reallocs;
        h->frees = s->frees;
        h->freed_bytes = s->freed_bytes;
        h->short_lived = s->short_lived;
        h->live_bytes = s->live;
        h->live_growth_bytes = s->live - s->live_first;
        h->allocs_per_s = (double)s->allocs / secs;
        h->bytes_per_s = (double)s->bytes / secs;
        h->allocs_per_req = reqs ? (double)s->allocs / (double)reqs : 0;
        h->bytes_per_req = reqs ? (double)s->bytes / (double)reqs : 0;
    }
    pthread_mutex_unlock(&a->lock);
    if (all == NULL)
        return 0;
    qsort_r(all, n, sizeof(*all), cmp_hot, &by);
    if (n > cap)
        n = cap;
    memcpy(out, all, n * sizeof(*out));
    free(all);
    return n;
}

static const char *unwind_name(uint32_t u)
{
    switch (u) {
    case LSW_UNWIND_FP:
        return "fp";
    case LSW_UNWIND_LIBUNWIND:
        return "libunwind";
    case LSW_UNWIND_AUTO:
        return "auto";
    default:
        return "none";
    }
}

void alloc_status(struct alloc *a, struct alloc_status *st)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->nconns; i++) {
        st->execs += a->conns[i]->exec_image;
        st->processes += !a->conns[i]->exec_image;
    }
    for (size_t i = 0; i < a->nconns; i++) {
        const struct lsw_counters *c = &a->conns[i]->ctr;
        st->allocs += c->allocs;
        st->frees += c->frees;
        st->reallocs += c->reallocs;
        st->bytes_allocated += c->bytes_allocated;
        st->bytes_freed += c->bytes_freed;
        st->dropped += c->dropped;
        st->untracked_frees += c->untracked_frees;
        st->stacks += c->stacks;
    }
    st->unwind = a->nconns ? unwind_name(a->conns[0]->unwind) : "none";
    for (size_t i = 0; i < a->nstacks; i++)
        st->live_bytes += a->stacks[i]->live;
    for (size_t i = 0; i < a->nreq; i++)
        st->requests += a->requests[i];
    for (size_t i = 0; i < a->nwatch; i++)
        st->rss_bytes += a->last_proc[i].rss_bytes;
    st->traced_seconds = a->traced_seconds;
    snprintf(st->warning, sizeof(st->warning), "%s", a->warning);
    pthread_mutex_unlock(&a->lock);
}

/* The connection before i of the image i replaced by exec, or i itself when it replaced none. */
static size_t exec_prev(const struct alloc *a, size_t i)
{
    if (!a->conns[i]->exec_image)
        return i;
    for (size_t k = i; k-- > 0;)
        if (a->conns[k]->hello && a->conns[k]->pid == a->conns[i]->pid)
            return k;
    return i;
}

static void add_image(struct alloc_proc_summary *s, const struct conn *d)
{
    s->allocs += d->ctr.allocs;
    s->frees += d->ctr.frees;
    s->reallocs += d->ctr.reallocs;
    s->bytes_allocated += d->ctr.bytes_allocated;
    s->bytes_freed += d->ctr.bytes_freed;
    s->untracked_frees += d->ctr.untracked_frees;
    s->dropped += d->ctr.dropped;
    s->stacks += d->ctr.stacks;
    if (d->ctr.threads > s->threads)
        s->threads = d->ctr.threads;
}

void alloc_each_process(struct alloc *a, void (*fn)(void *ctx, const struct alloc_proc_summary *s),
                        void *ctx)
{
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->nconns; i++) {
        const struct conn *c = a->conns[i];
        if (!c->hello)
            continue;
        /* A process that exec'd is one process: its images' counters add up under its last one. */
        bool later = false;
        for (size_t j = i + 1; j < a->nconns; j++)
            later |= a->conns[j]->hello && a->conns[j]->pid == c->pid && a->conns[j]->exec_image;
        if (later)
            continue;
        struct alloc_proc_summary s = {
            .pid = c->pid, .ppid = c->ppid,
            .mode = c->mode == LSW_MODE_COUNT ? "count" : c->mode == LSW_MODE_FULL ? "full" : "sampled",
            .unwind = unwind_name(c->unwind), .said_bye = c->bye};
        for (size_t k = i;;) {
            add_image(&s, a->conns[k]);
            size_t prev = exec_prev(a, k);
            if (prev == k)
                break;
            k = prev;
        }
        fn(ctx, &s);
    }
    pthread_mutex_unlock(&a->lock);
}

void alloc_close(struct alloc *a)
{
    if (a == NULL)
        return;
    if (a->started)
        alloc_finish(a, 0);
    for (size_t i = 0; i < a->nconns; i++) {
        struct conn *c = a->conns[i];
        if (!c->closed && c->fd >= 0)
            close(c->fd);
        sym_close(c->sym);
        free(c->buf);
        free(c->keys);
        free(c->mod_starts);
        free(c);
    }
    for (size_t i = 0; i < a->nstacks; i++) {
        struct stack *s = a->stacks[i];
        free(s->blame);
        free(s->blame_fn);
        free(s->blame_file);
        free(s->text);
        free(s->folded);
        free(s);
    }
    for (size_t i = 0; i < ALLOC_RING; i++) {
        free(a->ring[i].rows);
        for (size_t k = 0; k < a->ring[i].nprocs; k++)
            free(a->ring[i].names[k]);
    }
    free(a->stacks);
    free(a->requests);
    if (a->lfd >= 0)
        close(a->lfd);
    if (a->epfd >= 0)
        close(a->epfd);
    if (a->path[0])
        unlink(a->path);
    if (a->dir[0])
        rmdir(a->dir);
    pthread_mutex_destroy(&a->lock);
    free(a);
}
