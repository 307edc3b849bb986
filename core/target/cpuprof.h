/*
 * cpuprof: where the target spends its CPU, sampled by the kernel.
 *
 * perf_event_open's software task clock fires every 1/hz of CPU time a
 * thread uses (99 Hz by default: 10.1 ms of CPU a sample) and records the
 * thread's user-space call chain, walked by the kernel along frame
 * pointers; no perf binary is involved. One event per CPU and per thread
 * of the target, each inherited by the threads and processes created
 * after it, writes into one ring buffer per CPU, which a reader thread
 * drains. Stacks are symbolized once, when first seen, by the symbolizer
 * (symbols.h) against the process's /proc/PID/maps.
 *
 * A per-task event costs the target at each of its context switches (its
 * perf context is switched with it: about half a microsecond a switch on a
 * 2-core VM, a few percent of a server that blocks often). When the kernel
 * allows it (CAP_PERFMON or root, or perf_event_paranoid <= 0), one
 * cpu-clock event per CPU samples every process instead and the reader
 * keeps the target's and its descendants' samples (status.system_wide):
 * nothing is added to the target's context switches.
 *
 * What the kernel can give decides what is shown, and the status says it:
 * - kernel.perf_event_paranoid 2 (the default) lets an unprivileged
 *   loadscope sample its own children in user mode only: CPU spent in the
 *   kernel on the target's behalf (system calls) is not sampled, and the
 *   shares are of user CPU (status.user_only). With the privilege, samples
 *   taken in the kernel keep the user stack at entry and end in a
 *   "[kernel]" frame. When the kernel refuses altogether, cpuprof_open says
 *   why in one sentence for the caller to show once, and the run goes on.
 * - Call chains need frame pointers. A binary built without them (Rust's
 *   release default) gives stacks one or two frames deep: the status's
 *   shallow share says so, so a screen can suggest
 *   RUSTFLAGS="-C force-frame-pointers=yes".
 *
 * One model per concern: the reader feeds the live cpuprof_model; storage
 * feeds another in replay from the same per-second rows.
 */
#ifndef LS_CPUPROF_H
#define LS_CPUPROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "util/lserr.h"

#define CPUPROF_SHALLOW_FRAMES 2  /* a stack this deep or less: likely no frame pointers */

/* A stack seen for the first time. Strings belong to whoever hands it over. */
struct cpu_stack_info {
    uint32_t key;               /* 1, 2, ... in the order first seen */
    int pid;
    uint32_t depth;             /* user addresses in the kernel's call chain */
    bool kernel;                /* sampled in the kernel: the user stack at entry, leaf "[kernel]" */
    const char *leaf_function;  /* the innermost frame: where the CPU was */
    const char *leaf_file;      /* "" when unknown */
    uint32_t leaf_line;
    const char *blame_function; /* the innermost frame of the target's own code (symbols.h's blame) */
    const char *blame_file;
    uint32_t blame_line;
    const char *frames;         /* one per line, innermost first: "function (file:line)" */
    const char *folded;         /* root;...;leaf, function names only, for flame graphs */
};

/* A stack's samples within one second. */
struct cpu_row {
    uint32_t key;
    uint32_t samples;
};

/* One closed second. */
struct cpu_second {
    uint32_t second;            /* since the origin, as intervals.second */
    uint64_t period_ns;         /* CPU time one sample stands for */
    uint32_t samples;           /* every sample in the second (the rows' sum) */
    uint32_t shallow;           /* of which CPUPROF_SHALLOW_FRAMES deep or less */
    uint32_t lost;              /* samples the kernel dropped (ring full) */
    const struct cpu_row *rows;
    size_t nrows;
};

/* ---- the model: stacks and seconds in, hot paths and functions out ---------------- */

struct cpuprof_model;

LS_MUST_CHECK ls_err cpuprof_model_new(struct cpuprof_model **out);

/* Adds a stack (strings copied). A key added twice keeps the first. */
LS_MUST_CHECK ls_err cpuprof_model_add_stack(struct cpuprof_model *m, const struct cpu_stack_info *s);

/* Adds one second's rows (rows for unknown keys are counted in the totals only). */
LS_MUST_CHECK ls_err cpuprof_model_add_second(struct cpuprof_model *m, const struct cpu_second *s);

/* Requests completed in a second (CPU time per request). */
void cpuprof_model_requests(struct cpuprof_model *m, uint32_t second, uint64_t count);

/* A stack's figures over the seconds added. Strings belong to the model. */
struct cpu_hot {
    struct cpu_stack_info s;
    uint64_t samples;
    double share;               /* of every sample */
    double cpu_ms;              /* samples * period */
    double cpu_us_per_req;      /* over the requests of the seconds added (0: none) */
};

/* Copies up to cap stacks, most samples first. Returns how many. */
size_t cpuprof_model_stacks(const struct cpuprof_model *m, struct cpu_hot *out, size_t cap);

enum cpu_fn_by {
    CPU_FN_SELF = 0,            /* samples with the function innermost (where the CPU was) */
    CPU_FN_TOTAL,               /* samples with the function anywhere on the stack */
    CPU_FN_BLAME,               /* samples whose blame frame is the function */
};

/* A function's figures. Strings belong to the model. */
struct cpu_fn {
    const char *function;
    const char *file;           /* of the stack that gave it the most samples ("" unknown) */
    uint32_t line;              /* likewise: its hottest line */
    uint64_t self_samples, total_samples, blame_samples;
    double share;               /* of every sample, by the order asked for */
    double cpu_us_per_req;      /* by the order asked for (0: no requests) */
};

/*
 * Copies up to cap functions, most samples first by `by`, into out. Returns
 * how many. Computed afresh on each call (a screen calls it twice a second).
 */
size_t cpuprof_model_functions(const struct cpuprof_model *m, enum cpu_fn_by by, struct cpu_fn *out,
                               size_t cap);

struct cpu_totals {
    uint64_t samples, shallow, lost;
    uint64_t period_ns;
    uint32_t seconds, stacks;
    uint64_t requests;
    double shallow_share;       /* shallow / samples */
    bool no_frame_pointers;     /* most stacks (20 samples or more) are shallow */
};
void cpuprof_model_totals(const struct cpuprof_model *m, struct cpu_totals *out);

/*
 * Writes the folded stacks ("root;...;leaf COUNT\n", the input of
 * flamegraph.pl and speedscope), most samples first. LS_ERR_IO on a write error.
 */
LS_MUST_CHECK ls_err cpuprof_model_write_folded(const struct cpuprof_model *m, FILE *f);

void cpuprof_model_free(struct cpuprof_model *m);

/* ---- the profiler ------------------------------------------------------------------ */

struct cpuprof_opts {
    pid_t pid;
    unsigned hz;                /* samples per second of CPU; 0: 99 */
    bool include_deps;          /* the blame frame may be in a dependency */
    bool user_only;             /* do not try kernel-mode samples even when allowed */
    bool per_task;              /* per-task events even when system-wide ones are allowed */
};

struct cpuprof_sink {
    void *ctx;
    void (*stack)(void *ctx, const struct cpu_stack_info *s);       /* reader thread */
    void (*second)(void *ctx, const struct cpu_second *s);          /* reader thread */
    void (*event)(void *ctx, const char *kind, const char *message); /* "cpuprof_warning" */
};

struct cpuprof;

/*
 * Starts profiling o->pid and its threads (those there now and those
 * created later) and the processes it forks from now on. The sink (copied)
 * is called from the reader thread; its ctx must outlive the handle.
 * When the kernel refuses, err gets one sentence to show the user
 * (perf_event_paranoid, a missing permission, no perf events in this
 * kernel) and the result is LS_ERR_IO; LS_ERR_NOTFOUND when there is no
 * such process.
 */
LS_MUST_CHECK ls_err cpuprof_open(const struct cpuprof_opts *o, const struct cpuprof_sink *sink,
                                  struct cpuprof **out, char *err, size_t errcap);

/* Second 0 starts at this CLOCK_REALTIME instant (as alloc_set_origin). Any thread. */
void cpuprof_set_origin(struct cpuprof *p, uint64_t unix_ns);

/* Requests completed in a run second. Any thread. */
void cpuprof_requests(struct cpuprof *p, uint32_t second, uint64_t count);

/* The live model's stacks, functions, totals and folded text, under the reader's lock. */
size_t cpuprof_stacks(struct cpuprof *p, struct cpu_hot *out, size_t cap);
size_t cpuprof_functions(struct cpuprof *p, enum cpu_fn_by by, struct cpu_fn *out, size_t cap);
LS_MUST_CHECK ls_err cpuprof_write_folded(struct cpuprof *p, FILE *f);

struct cpuprof_status {
    bool running;
    unsigned hz;
    uint64_t period_ns;
    bool user_only;             /* kernel-mode samples not allowed (perf_event_paranoid >= 2) */
    bool system_wide;           /* one event per CPU, the target's samples picked out (privileged) */
    int events;                 /* perf events open (CPUs, or threads x CPUs) */
    struct cpu_totals totals;
    uint64_t threads_created;   /* exact, from the kernel's fork records */
    uint64_t late_samples;      /* arrived after their second was closed (added to a later one) */
    char warning[256];          /* "" or the limit to show (shallow stacks, lost samples) */
};
void cpuprof_status(struct cpuprof *p, struct cpuprof_status *out);

/* Drains the rings, closes every open second (handed to the sink) and stops the reader. */
void cpuprof_finish(struct cpuprof *p);

/* Finishes if needed, closes the events and frees. Strings from snapshots die here. NULL is ignored. */
void cpuprof_close(struct cpuprof *p);

/*
 * The sentence cpuprof_open gives for perf_event_open's errno e (exposed
 * for the tests and for callers that open events themselves).
 */
void cpuprof_refusal_text(int e, char *buf, size_t cap);

#endif
