/*
 * threads: what the target's threads do, sampled from /proc.
 *
 * A sampler thread reads every task of the target (and of its descendants
 * when asked) at 100 Hz by default through procstat_tasks: its state and
 * the system call a blocked task is in at every pass; its CPU ticks and
 * the scheduler's own run and wait clocks (schedstat), which are
 * cumulative, at every tenth pass (a task that ends between two of those
 * takes its last tenth of a second of CPU with it). A pass costs about
 * 15-20 us of the sampler's CPU per task on the 2-core VM this was written
 * on (its /proc files are read with cold caches, 100 times a second): a
 * target with 10 threads costs loadscope 1.5-2% of a core. Per second and per thread group (the
 * tasks of one process whose names fold to one: tokio's workers are one
 * "tokio-runtime-w" group) it computes the CPU used, the share of thread
 * time spent running, runnable (waiting for a CPU) and blocked, the system
 * calls blocked tasks were seen in, and the threads created.
 *
 * Running and runnable both show as state R in /proc; they are told apart
 * by schedstat's clocks, which are exact. Without schedstat (a kernel built
 * without CONFIG_SCHED_INFO) running is the share of R observations and
 * runnable is 0 (threads_second.have_sched says which). System calls are
 * observations: at 100 Hz, a call that lasts less than 10 ms is seen in
 * proportion to its share of time, not counted. Threads that live less than
 * one sampling period can be missed by the creation count.
 *
 * One model per concern: the per-second rows go to a sink (storage) and
 * into a threads_model that screens read; replay feeds a threads_model the
 * rows read back from storage, so live and replay cannot disagree.
 */
#ifndef LS_THREADS_H
#define LS_THREADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/lserr.h"

#define THREADS_TOP_SYSCALLS 4
#define THREADS_NAME_CAP 32

/* A system call and how often blocked tasks of a group were seen in it. */
struct threads_syscall {
    int nr;                     /* procstat_syscall_text() names it; PROCSTAT_SYS_NONE: blocked outside one */
    uint32_t samples;
};

/* One thread group within one second (or, in a model's run figures, over the seconds seen). */
struct threads_group_second {
    int pid;
    char name[THREADS_NAME_CAP]; /* folded ("tokio-runtime-w") */
    uint32_t threads;           /* most tasks of the group in one pass */
    uint32_t created;           /* tasks first listed (created after sampling began) */
    double cpu_pct;             /* of one core, user + system */
    double running, runnable, blocked; /* shares of the group's thread time, each 0..1 */
    uint32_t samples;           /* task observations */
    uint32_t state_r, state_s, state_d, state_other; /* observations by state (R: running or runnable) */
    uint32_t nsys;
    struct threads_syscall sys[THREADS_TOP_SYSCALLS]; /* blocked (S, D) observations by call, most first */
};

/* One closed second. */
struct threads_second {
    uint32_t second;            /* since the origin, as intervals.second */
    uint32_t passes;            /* sampling passes in the second (hz when keeping up) */
    bool have_sched;            /* running and runnable from schedstat's clocks */
    bool have_syscall;          /* system calls were readable */
    const struct threads_group_second *groups;
    size_t ngroups;
};

struct threads_sink {
    void *ctx;
    void (*second)(void *ctx, const struct threads_second *s);  /* the sampler's thread */
    void (*event)(void *ctx, const char *kind, const char *message); /* "threads_warning" */
};

/* ---- the model: per-second rows in, screens' figures out ------------------------- */

struct threads_model;

LS_MUST_CHECK ls_err threads_model_new(struct threads_model **out);

/* Adds one second's rows (copied). Seconds may come in any order, each once. */
LS_MUST_CHECK ls_err threads_model_add(struct threads_model *m, const struct threads_second *s);

/* Requests completed in a second (for creations per request). */
void threads_model_requests(struct threads_model *m, uint32_t second, uint64_t count);

/* A group as a screen shows it. */
struct threads_group_view {
    struct threads_group_second last; /* its row in the latest second added (zeros: absent from it) */
    struct threads_group_second run;  /* over every second: cpu_pct and shares averaged, counts summed,
                                         threads the most seen, syscalls summed */
    uint32_t seconds;           /* seconds the group appeared in */
    double created_per_req;     /* created over the requests of the seconds added (0: no requests) */
};

/*
 * Copies up to cap groups, most CPU over the run first, into out; returns
 * how many. *last_second (may be NULL) gets the latest second added.
 */
size_t threads_model_rows(const struct threads_model *m, struct threads_group_view *out, size_t cap,
                          uint32_t *last_second);

void threads_model_free(struct threads_model *m);

/* ---- the sampler ------------------------------------------------------------------- */

struct threads_opts {
    pid_t pid;
    bool children;              /* also the descendants of pid (listed again each second) */
    unsigned hz;                /* passes per second; 0: 100 (50 or more keeps short waits visible) */
};

struct threads;

/*
 * Starts sampling o->pid on a thread of its own. The sink (copied) is
 * called from that thread; its ctx must outlive the handle. Second 0
 * starts now unless threads_set_origin says otherwise. LS_ERR_NOTFOUND
 * when there is no such process; err says why.
 */
LS_MUST_CHECK ls_err threads_open(const struct threads_opts *o, const struct threads_sink *sink,
                                  struct threads **out, char *err, size_t errcap);

/* Second 0 starts at this CLOCK_REALTIME instant (as alloc_set_origin). Any thread. */
void threads_set_origin(struct threads *t, uint64_t unix_ns);

/* Requests completed in a run second (creations per request). Any thread. */
void threads_requests(struct threads *t, uint32_t second, uint64_t count);

/* The model's rows (threads_model_rows), copied under the sampler's lock. Any thread. */
size_t threads_snapshot(struct threads *t, struct threads_group_view *out, size_t cap,
                        uint32_t *last_second);

struct threads_status {
    bool running;               /* still sampling (false once every watched process is gone) */
    unsigned hz;
    uint32_t processes;         /* watched now */
    uint64_t passes;            /* every pass so far */
    uint64_t late_passes;       /* passes that started a period or more late (the machine is busy) */
    uint64_t pass_ns_total;     /* time spent reading /proc, over all passes */
    uint32_t dropped_seconds;   /* seconds the model could not take (out of memory) */
    bool have_sched, have_syscall;
    char warning[256];          /* why something cannot be read ("" if nothing) */
};
void threads_status(struct threads *t, struct threads_status *out);

/* Stops the sampler and closes the current second (handed to the sink). Snapshots stay. */
void threads_finish(struct threads *t);

/* Finishes if needed and frees. NULL is ignored. */
void threads_close(struct threads *t);

#endif
