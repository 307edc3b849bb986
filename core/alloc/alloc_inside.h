/*
 * alloc_inside: what the tracer sees inside the target besides allocations,
 * as loadscope keeps it: new TCP connections per peer (ip:port) and DNS
 * lookups per name, each with its call stack; blocking calls on an async
 * runtime's worker threads (sleeps, fsync, regular-file I/O, DNS, poll) with
 * their time; lock waits, told apart from threads parking (a futex wait
 * whose stack passes through a lock's contended path is a lock wait, any
 * other is parking: an idle tokio worker waits in futex too); thread
 * creations.
 *
 * The shim sends these with its batches (shim/lsalloc_wire.h: INSIDE, PEER,
 * NAME); the reader (alloc_inside.c) adds them into the run's seconds, where
 * they reach the sink with each closed second (struct alloc_interval's
 * inside rows) and feed the inside model below, which the live screens read
 * (alloc_inside_snapshot, alloc_inside_totals) and replay feeds from the
 * session database, so live and replay are one computation.
 */
#ifndef LS_ALLOC_INSIDE_H
#define LS_ALLOC_INSIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/lserr.h"

enum alloc_inside_kind {
    ALLOC_IN_CONNECT = 0, /* a new TCP connection (target: peer ip:port); failed: refused at once */
    ALLOC_IN_CLOSE,       /* one of those closed (target: peer; no stack) */
    ALLOC_IN_DNS,         /* a getaddrinfo call (target: the name); on a worker it also blocked it */
    ALLOC_IN_SLEEP,       /* timed on threads named as workers only, as the four after it */
    ALLOC_IN_FSYNC,
    ALLOC_IN_FILE_READ,
    ALLOC_IN_FILE_WRITE,
    ALLOC_IN_POLL,
    ALLOC_IN_LOCK_WAIT,   /* waiting for a lock held by another thread */
    ALLOC_IN_PARK,        /* a futex wait that is not a lock's: idle, a condition variable, a channel */
    ALLOC_IN_THREAD,      /* a thread created */
    ALLOC_IN__COUNT
};

/* "connect", "close", "dns", "sleep", "fsync", "file_read", "file_write", "poll", "lock_wait", "park", "thread_create". */
const char *alloc_inside_kind_name(enum alloc_inside_kind k);
/* Parses a kind name; false if unknown. */
bool alloc_inside_kind_parse(const char *s, enum alloc_inside_kind *out);
/* True for a blocking call on a runtime worker: sleep, fsync, file I/O, poll or DNS, with worker set. */
bool alloc_inside_blocking(enum alloc_inside_kind k, bool worker);

/*
 * True when a futex wait with this stack (frames one per line, innermost
 * first, as struct alloc_hot's stack) waits for a lock: a frame is a lock's
 * contended path (std's lock_contended / read_contended / write_contended,
 * parking_lot's lock_slow and kin, pthread_mutex_lock, pthread_rwlock_*).
 */
bool alloc_inside_lock_stack(const char *frames);

/*
 * True when a call with this stack, on a thread named as a worker, did not
 * block the runtime: tokio names its blocking pool's threads as its workers
 * ("tokio-runtime-worker"; the workers themselves run as tasks of that pool),
 * so a stack under the pool's BlockingTask and under no scheduler's frame is
 * spawn_blocking's (or hyper's DNS resolver's) thread; a stack through
 * block_in_place handed its worker's duties over first.
 */
bool alloc_inside_off_worker_stack(const char *frames);

/* One (kind, stack, worker or not, target) within one second. */
struct alloc_inside_row {
    enum alloc_inside_kind kind;
    bool worker;            /* on an async runtime's worker: its thread's name says so, and its
                               stack is not a blocking-pool task's (alloc_inside_off_worker_stack) */
    uint32_t key;           /* stack key, as struct alloc_hot's (0: no stack) */
    int pid;
    const char *target;     /* connect, close: "ip:port"; dns: the name; else "" (owned by the producer) */
    uint64_t count, failed;
    uint64_t time_ns;       /* wall time in those calls */
};

/* ---- the model: fed per second, live or from storage --------------------------- */

/* A site's totals: one stack of one kind (and target), over the seconds fed so far. */
struct alloc_inside_site {
    enum alloc_inside_kind kind;
    bool worker;
    uint32_t key;
    int pid;
    const char *target;     /* owned by the model: valid until it is closed */
    const char *blame;      /* "function (file:line)" of the stack, "" if none (owned by the model) */
    const char *stack;      /* frames, one per line ("" if none; owned by the model) */
    uint64_t count, failed, time_ns;
    uint32_t seconds;       /* seconds in which it was seen */
    double count_per_req, time_per_req_ns; /* over the requests completed (0 if none) */
};

/* Totals per kind over a span of seconds (or one second). */
struct alloc_inside_totals {
    uint64_t count[ALLOC_IN__COUNT], failed[ALLOC_IN__COUNT], time_ns[ALLOC_IN__COUNT];
    uint64_t worker_count[ALLOC_IN__COUNT], worker_time_ns[ALLOC_IN__COUNT]; /* of which on workers */
    uint64_t requests;      /* requests completed in the span */
    uint32_t seconds;       /* seconds in the span that had any figure */
};

struct alloc_inside_model;

LS_MUST_CHECK ls_err alloc_inside_model_open(struct alloc_inside_model **out);
void alloc_inside_model_close(struct alloc_inside_model *m);

/*
 * Adds a row of second `second`; blame and stack describe r->key (NULL: none)
 * and are copied once per key, as is r->target.
 */
LS_MUST_CHECK ls_err alloc_inside_model_add(struct alloc_inside_model *m, uint32_t second,
                                            const struct alloc_inside_row *r, const char *blame,
                                            const char *stack);

/* Requests completed in a second (adds to what was given for it). */
void alloc_inside_model_requests(struct alloc_inside_model *m, uint32_t second, uint64_t count);

/*
 * Copies up to cap sites into out, most time first (then most calls);
 * returns how many there are in all. Strings stay the model's.
 */
size_t alloc_inside_model_sites(const struct alloc_inside_model *m, struct alloc_inside_site *out,
                                size_t cap);

/* Totals over seconds [from, to) (to = UINT32_MAX: all). */
void alloc_inside_model_totals(const struct alloc_inside_model *m, uint32_t from, uint32_t to,
                               struct alloc_inside_totals *out);

/* ---- the live run (struct alloc, alloc.h) --------------------------------------- */

struct alloc;

/*
 * Copies up to cap of the live model's sites (seconds closed so far), most
 * time first, into out; returns how many it copied. Strings stay valid until
 * alloc_close. Any thread.
 */
size_t alloc_inside_snapshot(struct alloc *a, struct alloc_inside_site *out, size_t cap);

/* Totals over closed seconds [from, to) of the live run. Any thread. */
void alloc_inside_totals(struct alloc *a, uint32_t from, uint32_t to, struct alloc_inside_totals *out);

/* What the shim could not record (its tables full), over all traced processes. Any thread. */
uint64_t alloc_inside_dropped(struct alloc *a);

#endif
