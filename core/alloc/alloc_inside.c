/*
 * alloc_inside: the reader's side of the inside-the-target records (see
 * alloc_inside.h and shim/lsalloc_wire.h's INSIDE, PEER and NAME).
 *
 * A connection's PEER and NAME messages name the shim's ids as text
 * ("127.0.0.1:8080", "localhost"), interned once per run; each INSIDE record
 * becomes a row of its second (in the second's bucket, next to the
 * allocation rows), keyed by kind, worker or not, stack key and target. A
 * futex wait is a lock wait or parking depending on its stack
 * (alloc_inside_lock_stack), and a call on a thread named as a worker ran on
 * a blocking pool's thread instead when its stack says so
 * (alloc_inside_off_worker_stack), each decided once per stack. When a second closes,
 * its rows go to the sink with the allocation rows, then into the run's
 * inside model, which the snapshot functions read under the handle's lock.
 * Reader thread only, but for the model and the dropped counts (under the
 * handle's lock).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lsalloc_wire.h"
#include "alloc/alloc.h"
#include "alloc/alloc_inside.h"
#include "alloc/alloc_int.h"

/* A connection's shim ids of peers and names, as indexes into the run's targets (+1; 0: unknown). */
struct alloc_inside_conn {
    uint32_t *peers, *names;
    size_t npeers, nnames;
    uint64_t dropped;           /* the shim's cumulative count */
};

/* The run's inside state. */
struct alloc_inside_state {
    char **targets;             /* "ip:port" and names, each once */
    size_t ntargets, captargets;
    uint8_t *stack_class;      /* by stack key: 0 not decided, bit 0: decided, bit 1: a lock's
                                   wait (futex), bit 2: not on a worker (alloc_inside_off_worker_stack) */
    size_t capclass;
    struct alloc_inside_model *model; /* guarded by the handle's lock */
};

static struct alloc_inside_state *state(struct alloc *a)
{
    if (a->inside == NULL) {
        struct alloc_inside_state *s = calloc(1, sizeof(*s));
        if (s == NULL)
            return NULL;
        if (alloc_inside_model_open(&s->model) != LS_OK) {
            free(s);
            return NULL;
        }
        pthread_mutex_lock(&a->lock);
        a->inside = s;
        pthread_mutex_unlock(&a->lock);
    }
    return a->inside;
}

static struct alloc_inside_conn *conn_state(struct alloc_conn *c)
{
    if (c->inside == NULL)
        c->inside = calloc(1, sizeof(*c->inside));
    return c->inside;
}

void alloc_inside_free(struct alloc *a)
{
    struct alloc_inside_state *s = a->inside;
    for (size_t i = 0; i < a->nconns; i++) {
        struct alloc_inside_conn *ic = a->conns[i]->inside;
        if (ic != NULL) {
            free(ic->peers);
            free(ic->names);
            free(ic);
        }
    }
    for (size_t i = 0; i < ALLOC_RING; i++)
        free(a->ring[i].in_rows);
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ntargets; i++)
        free(s->targets[i]);
    free(s->targets);
    free(s->stack_class);
    alloc_inside_model_close(s->model);
    free(s);
    a->inside = NULL;
}

/* Interns text as a target; its index + 1, 0 when out of memory. */
static uint32_t intern(struct alloc_inside_state *s, const char *text)
{
    for (size_t i = 0; i < s->ntargets; i++)
        if (strcmp(s->targets[i], text) == 0)
            return (uint32_t)i + 1;
    if (s->ntargets == s->captargets) {
        size_t nc = s->captargets ? s->captargets * 2 : 32;
        char **n = realloc(s->targets, nc * sizeof(*n));
        if (n == NULL)
            return 0;
        s->targets = n;
        s->captargets = nc;
    }
    char *copy = strdup(text);
    if (copy == NULL)
        return 0;
    s->targets[s->ntargets++] = copy;
    return (uint32_t)s->ntargets;
}

/* Maps a shim id to a target in *map (grown as needed). */
static void map_set(uint32_t **map, size_t *n, uint32_t id, uint32_t target)
{
    if (id >= *n) {
        size_t nn = (size_t)id + 64;
        uint32_t *m = realloc(*map, nn * sizeof(*m));
        if (m == NULL)
            return;
        memset(m + *n, 0, (nn - *n) * sizeof(*m));
        *map = m;
        *n = nn;
    }
    (*map)[id] = target;
}

static const char *map_get(const struct alloc_inside_state *s, const uint32_t *map, size_t n,
                           uint32_t id)
{
    if (id == 0 || id >= n || map[id] == 0)
        return "";
    return s->targets[map[id] - 1];
}

static void on_peer(struct alloc *a, struct alloc_conn *c, const uint8_t *p, uint32_t len)
{
    struct lsw_peer peer;
    struct alloc_inside_state *s = state(a);
    struct alloc_inside_conn *ic = conn_state(c);
    if (len < sizeof(peer) || s == NULL || ic == NULL)
        return;
    memcpy(&peer, p, sizeof(peer));
    char addr[INET6_ADDRSTRLEN] = "?", text[INET6_ADDRSTRLEN + 16];
    if (peer.family == AF_INET6) {
        inet_ntop(AF_INET6, peer.addr, addr, sizeof(addr));
        snprintf(text, sizeof(text), "[%s]:%u", addr, peer.port);
    } else {
        inet_ntop(AF_INET, peer.addr, addr, sizeof(addr));
        snprintf(text, sizeof(text), "%s:%u", addr, peer.port);
    }
    map_set(&ic->peers, &ic->npeers, peer.id, intern(s, text));
}

static void on_name(struct alloc *a, struct alloc_conn *c, const uint8_t *p, uint32_t len)
{
    struct lsw_name n;
    struct alloc_inside_state *s = state(a);
    struct alloc_inside_conn *ic = conn_state(c);
    if (len < sizeof(n) || s == NULL || ic == NULL)
        return;
    memcpy(&n, p, sizeof(n));
    if (n.len != len - sizeof(n) || n.len > 1024)
        return;
    char text[1025];
    memcpy(text, p + sizeof(n), n.len);
    text[n.len] = '\0';
    map_set(&ic->names, &ic->nnames, n.id, intern(s, text));
}

#define CLASS_DECIDED 1u
#define CLASS_LOCK 2u
#define CLASS_OFF_WORKER 4u

/* What a stack says (decided once per stack key): CLASS_* bits, 0 for no stack. */
static unsigned class_of(struct alloc *a, struct alloc_inside_state *s, uint32_t key)
{
    if (key == 0 || key > a->nstacks)
        return 0;
    const char *text = a->stacks[key - 1]->text;
    if (key >= s->capclass) {
        size_t nc = (size_t)key + 256;
        uint8_t *n = realloc(s->stack_class, nc);
        if (n == NULL)
            return CLASS_DECIDED | (alloc_inside_lock_stack(text) ? CLASS_LOCK : 0) |
                   (alloc_inside_off_worker_stack(text) ? CLASS_OFF_WORKER : 0);
        memset(n + s->capclass, 0, nc - s->capclass);
        s->stack_class = n;
        s->capclass = nc;
    }
    if (s->stack_class[key] == 0)
        s->stack_class[key] = (uint8_t)(CLASS_DECIDED | (alloc_inside_lock_stack(text) ? CLASS_LOCK : 0) |
                                        (alloc_inside_off_worker_stack(text) ? CLASS_OFF_WORKER : 0));
    return s->stack_class[key];
}

static bool kind_of(struct alloc *a, struct alloc_inside_state *s, uint32_t wire, uint32_t key,
                    enum alloc_inside_kind *out)
{
    switch (wire) {
    case LSW_IN_CONNECT: *out = ALLOC_IN_CONNECT; return true;
    case LSW_IN_CLOSE: *out = ALLOC_IN_CLOSE; return true;
    case LSW_IN_DNS: *out = ALLOC_IN_DNS; return true;
    case LSW_IN_SLEEP: *out = ALLOC_IN_SLEEP; return true;
    case LSW_IN_FSYNC: *out = ALLOC_IN_FSYNC; return true;
    case LSW_IN_FILE_READ: *out = ALLOC_IN_FILE_READ; return true;
    case LSW_IN_FILE_WRITE: *out = ALLOC_IN_FILE_WRITE; return true;
    case LSW_IN_POLL: *out = ALLOC_IN_POLL; return true;
    case LSW_IN_MUTEX: *out = ALLOC_IN_LOCK_WAIT; return true;
    case LSW_IN_FUTEX:
        *out = (class_of(a, s, key) & CLASS_LOCK) ? ALLOC_IN_LOCK_WAIT : ALLOC_IN_PARK;
        return true;
    case LSW_IN_THREAD: *out = ALLOC_IN_THREAD; return true;
    default: return false;
    }
}

/* Adds one record into the second's bucket, merged with a row of the same kind, worker, stack and target. */
static void bucket_add(struct alloc_bucket *b, const struct alloc_inside_row *r)
{
    for (size_t i = 0; i < b->in_n; i++) {
        struct alloc_inside_row *x = &b->in_rows[i];
        if (x->kind == r->kind && x->worker == r->worker && x->key == r->key &&
            x->target == r->target && x->pid == r->pid) {
            x->count += r->count;
            x->failed += r->failed;
            x->time_ns += r->time_ns;
            return;
        }
    }
    if (b->in_n == b->in_cap) {
        size_t nc = b->in_cap ? b->in_cap * 2 : 32;
        struct alloc_inside_row *n = realloc(b->in_rows, nc * sizeof(*n));
        if (n == NULL)
            return;
        b->in_rows = n;
        b->in_cap = nc;
    }
    b->in_rows[b->in_n++] = *r;
}

static void on_inside(struct alloc *a, struct alloc_conn *c, const uint8_t *p, uint32_t len)
{
    struct lsw_inside_head h;
    struct alloc_inside_state *s = state(a);
    struct alloc_inside_conn *ic = conn_state(c);
    if (s == NULL || ic == NULL || len < sizeof(h))
        return;
    memcpy(&h, p, sizeof(h));
    if ((uint64_t)h.count * sizeof(struct lsw_inside) + sizeof(h) != len) {
        alloc_event(a, "alloc_error", "pid %d: malformed INSIDE (%u records in %u bytes)", c->pid,
                    h.count, len);
        return;
    }
    pthread_mutex_lock(&a->lock);
    ic->dropped = h.dropped;
    pthread_mutex_unlock(&a->lock);
    if (h.count == 0)
        return;
    struct alloc_bucket *b = alloc_bucket_for(a, alloc_second_of(a, h.t_unix_ns));
    for (uint32_t i = 0; i < h.count; i++) {
        struct lsw_inside d;
        memcpy(&d, p + sizeof(h) + (size_t)i * sizeof(d), sizeof(d));
        uint32_t key = d.stack_id < c->nkeys ? c->keys[d.stack_id] : 0;
        uint32_t wire = d.kind & ~LSW_IN_WORKER;
        struct alloc_inside_row r = {.worker = (d.kind & LSW_IN_WORKER) != 0, .key = key,
                                     .pid = c->pid, .count = d.count, .failed = d.failed,
                                     .time_ns = d.time_ns, .target = ""};
        if (!kind_of(a, s, wire, key, &r.kind))
            continue;
        if (r.worker && (class_of(a, s, key) & CLASS_OFF_WORKER))
            r.worker = false; /* tokio's blocking pool shares its workers' name */
        if (wire == LSW_IN_CONNECT || wire == LSW_IN_CLOSE)
            r.target = map_get(s, ic->peers, ic->npeers, d.obj);
        else if (wire == LSW_IN_DNS)
            r.target = map_get(s, ic->names, ic->nnames, d.obj);
        bucket_add(b, &r);
    }
}

void alloc_inside_on_message(struct alloc *a, struct alloc_conn *c, uint32_t type,
                             const uint8_t *p, uint32_t len)
{
    switch (type) {
    case LSW_PEER:
        on_peer(a, c, p, len);
        break;
    case LSW_NAME:
        on_name(a, c, p, len);
        break;
    case LSW_INSIDE:
        on_inside(a, c, p, len);
        break;
    default:
        break;
    }
}

void alloc_inside_close_second(struct alloc *a, const struct alloc_interval *iv)
{
    struct alloc_inside_state *s = state(a); /* from the first second on: every second's requests count */
    if (s == NULL)
        return;
    pthread_mutex_lock(&a->lock);
    alloc_inside_model_requests(s->model, iv->second, iv->requests);
    for (size_t i = 0; i < iv->ninside; i++) {
        const struct alloc_inside_row *r = &iv->inside[i];
        const struct alloc_stack *st = r->key > 0 && r->key <= a->nstacks ? a->stacks[r->key - 1] : NULL;
        if (alloc_inside_model_add(s->model, iv->second, r, st ? st->blame : NULL,
                                   st ? st->text : NULL) != LS_OK)
            break;
    }
    pthread_mutex_unlock(&a->lock);
}

/* ---- what other threads read ------------------------------------------------------ */

size_t alloc_inside_snapshot(struct alloc *a, struct alloc_inside_site *out, size_t cap)
{
    size_t n = 0;
    pthread_mutex_lock(&a->lock);
    if (a->inside != NULL)
        n = alloc_inside_model_sites(a->inside->model, out, cap);
    pthread_mutex_unlock(&a->lock);
    return n < cap ? n : cap;
}

void alloc_inside_totals(struct alloc *a, uint32_t from, uint32_t to, struct alloc_inside_totals *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&a->lock);
    if (a->inside != NULL)
        alloc_inside_model_totals(a->inside->model, from, to, out);
    pthread_mutex_unlock(&a->lock);
}

uint64_t alloc_inside_dropped(struct alloc *a)
{
    uint64_t n = 0;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->nconns; i++)
        if (a->conns[i]->inside != NULL)
            n += a->conns[i]->inside->dropped;
    pthread_mutex_unlock(&a->lock);
    return n;
}
