/*
 * alloc_int: what the alloc module's files share (not for other modules):
 * alloc.c, alloc_reader.c, alloc_stacks.c, alloc_seconds.c,
 * alloc_snapshot.c, alloc_target.c and alloc_inside.c.
 */
#ifndef LS_ALLOC_INT_H
#define LS_ALLOC_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsalloc_wire.h"
#include "alloc/alloc.h"
#include "symbols/symbols.h"

/* A stack turned into text once, when first seen. Every string is malloc'd. */
struct alloc_text {
    char *blame;          /* "function (file:line)" */
    char *blame_fn, *blame_file;
    uint32_t blame_line;
    const char *label;    /* static */
    char *text;           /* one frame per line, innermost first */
    char *folded;         /* root first, ';'-separated */
};

/* Fills t from n resolved frames (innermost first); false when out of memory. */
bool alloc_stack_text(const struct sym_frame *fr, size_t n, bool include_deps, struct alloc_text *t);
void alloc_text_free(struct alloc_text *t);

/*
 * Reads /proc/PID: resident bytes, CPU ticks (user + system), threads (the
 * shim's own excluded) and a malloc'd JSON object of thread names with
 * trailing digits folded. False when the process is gone.
 */
bool alloc_proc_read(int pid, uint64_t *rss_bytes, uint64_t *cpu_ticks, uint32_t *threads,
                     char **names_json);

/* CPU ticks over one second as a percentage of one core. */
double alloc_ticks_to_pct(uint64_t ticks);

/* ---- the handle and what its files share ------------------------------------- */

#define ALLOC_RING 64u          /* seconds open at once (late data joins the oldest) */
#define ALLOC_MAX_CONNS 64      /* traced processes, counting each exec'd image */

/*
 * One traced process's connection (a process that exec's connects again).
 * The reader thread owns it; other threads read its flags and counters under
 * the handle's lock.
 */
struct alloc_conn {
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
    struct alloc_inside_conn *inside; /* its peers and names (alloc_inside.c) */
};

/* A traced stack and its totals over the run. Strings are malloc'd, label is static. */
struct alloc_stack {
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

/* One open second: a row per stack seen in it and the /proc samples. Reader thread only. */
struct alloc_bucket {
    bool used;
    uint32_t second;
    struct alloc_row *rows;
    size_t n, cap;
    struct alloc_procstat procs[ALLOC_MAX_CONNS];
    char *names[ALLOC_MAX_CONNS];
    size_t nprocs;
    struct alloc_inside_row *in_rows; /* inside-the-target rows (alloc_inside.c) */
    size_t in_n, in_cap;
};

/* The handle: options, the socket, and the run so far. */
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
    struct alloc_conn *conns[ALLOC_MAX_CONNS];
    size_t nconns;
    struct alloc_stack **stacks;
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

    struct alloc_bucket ring[ALLOC_RING];
    uint32_t next_close;        /* every second below is closed */
    uint32_t max_second;        /* highest second any data fell into */
    bool any_data;
    uint32_t sampled_upto;      /* /proc read for every second below */
    struct alloc_inside_state *inside; /* created by the reader; the model under lock (alloc_inside.c) */
};

/* CLOCK_REALTIME in nanoseconds (alloc.c). */
uint64_t alloc_now_unix_ns(void);

/*
 * Hands an event to the sink (alloc.c); the first "alloc_warning" is also
 * kept for alloc_status(). Messages are cut at 511 bytes.
 */
void alloc_event(struct alloc *a, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The reader thread (alloc_reader.c); arg is the struct alloc. */
void *alloc_reader_main(void *arg);

/* Adds a module of the traced process to c's symbol table, once per start (alloc_stacks.c). */
void alloc_add_module(struct alloc_conn *c, uint64_t start, uint64_t end, uint64_t off,
                      const char *path);

/*
 * Symbolizes n pcs (innermost first) into a new stack of c's process, or
 * the placeholder for deltas the shim could not attribute (alloc_stacks.c).
 * Returns a malloc'd stack not yet keyed, or NULL when out of memory.
 */
struct alloc_stack *alloc_new_stack(struct alloc *a, struct alloc_conn *c, const uint64_t *pcs,
                                    uint32_t n);
struct alloc_stack *alloc_unattributed_stack(struct alloc_conn *c);
/* Frees a stack and its strings. */
void alloc_stack_free(struct alloc_stack *s);

/*
 * Keys s in the run (the handle keeps it from then on), maps the shim's id
 * to it and hands it to the sink. False when out of memory: s stays the
 * caller's.
 */
bool alloc_register_stack(struct alloc *a, struct alloc_conn *c, uint32_t id,
                          struct alloc_stack *s);

/* Adds a DELTA message's records into their second and the stacks' totals (alloc_seconds.c). */
void alloc_on_delta(struct alloc *a, struct alloc_conn *c, const uint8_t *p, uint32_t len);

/* The run second of a CLOCK_REALTIME instant, and its open bucket (alloc_seconds.c). */
uint32_t alloc_second_of(const struct alloc *a, uint64_t t_ns);
struct alloc_bucket *alloc_bucket_for(struct alloc *a, uint32_t sec);

/* An INSIDE, PEER or NAME message of connection c (alloc_inside.c). */
void alloc_inside_on_message(struct alloc *a, struct alloc_conn *c, uint32_t type,
                             const uint8_t *p, uint32_t len);
/* A second closed (its rows went to the sink): feeds the run's inside model (alloc_inside.c). */
void alloc_inside_close_second(struct alloc *a, const struct alloc_interval *iv);
/* Frees the inside state of the run, of its connections and buckets (alloc_inside.c). */
void alloc_inside_free(struct alloc *a);

/*
 * Samples /proc for every second that has ended and closes the seconds
 * ALLOC_CLOSE_LAG_NS old; final: closes every second data fell into (and
 * the current one) (alloc_seconds.c).
 */
void alloc_tick(struct alloc *a, bool final);

#endif
