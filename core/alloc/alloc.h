/*
 * alloc: loadscope's side of allocation profiling.
 *
 * alloc_open() makes a private Unix socket and a reader thread; the target
 * is launched with the shim (shim/, LD_PRELOAD) and the environment
 * alloc_inject() gives, and every traced process (the target, and its forked
 * children when followed) connects and streams per-stack deltas (see
 * shim/lsalloc_wire.h). The reader symbolizes each new stack from the
 * process's own module map (core/symbols.h), picks its blame frame and label,
 * and aggregates per run second (seconds counted from the origin the caller
 * sets, so they line up with the load run's seconds). A second is closed a
 * little after it ends (deltas arrive every ~200 ms) and handed to the sink
 * with the target's RSS, CPU and threads read from /proc. Hot paths
 * (per-stack totals) can be snapshotted at any time from any thread.
 * The same streams carry what the shim sees inside the target besides
 * allocations (connections, DNS, blocking calls on runtime workers, lock
 * waits, thread creations): each second's rows reach the sink in struct
 * alloc_interval, and alloc_inside.h reads them live.
 *
 * alloc_check_target() looks at the target's ELF file before launch: a
 * static or musl binary cannot be traced by LD_PRELOAD, and a binary
 * carrying jemalloc or mimalloc symbols likely allocates past malloc.
 */
#ifndef LS_ALLOC_H
#define LS_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/lserr.h"
#include "scenario/scenario.h"

enum alloc_mode { ALLOC_OFF = 0, ALLOC_COUNT, ALLOC_FULL, ALLOC_SAMPLED };

struct alloc_inside_row; /* alloc/alloc_inside.h */

/* "count" / "full" / "sampled" (NULL for ALLOC_OFF). */
const char *alloc_mode_name(enum alloc_mode m);
/* Parses a mode word; false if unknown. */
bool alloc_mode_parse(const char *s, enum alloc_mode *out);

struct alloc_opts {
    enum alloc_mode mode;
    uint32_t depth;             /* frames per stack; 0: the shim's default (64) */
    uint64_t sample_bytes;      /* sampled: mean Poisson interval; 0: the shim's default (512 KiB) */
    uint64_t sample_every;      /* sampled: 1-in-N by count instead of bytes (0: by bytes) */
    bool follow_fork;           /* forked children are traced too */
    const char *shim_path;      /* libloadscope-shim.so; NULL: found next to the executable */
    bool include_deps;          /* blame may land in std/dependency code (default: user code) */
    const char *worker_threads; /* comma-separated thread names of the async runtime's workers;
                                   NULL: the shim's default ("tokio-runtime-worker") */
};

/* A hot path: one traced stack with its totals over the run so far. */
struct alloc_hot {
    uint32_t key;               /* stack key, unique in the run */
    int pid;
    const char *blame;          /* "function (file:line)"; owned by the alloc handle */
    const char *blame_function, *blame_file;
    uint32_t blame_line;
    const char *label;          /* "vector growth", ... or "" */
    const char *stack;          /* every frame, innermost first, one per line */
    const char *folded;         /* "root;...;innermost" */
    uint64_t allocs, bytes, reallocs, frees, freed_bytes, short_lived;
    int64_t live_bytes;
    int64_t live_growth_bytes;  /* live bytes now minus at the end of the first traced second */
    double allocs_per_s, bytes_per_s;     /* over the traced seconds */
    double allocs_per_req, bytes_per_req; /* over the requests completed (0 if none) */
};

/* One stack's figures within one second. */
struct alloc_row {
    uint32_t key;
    uint64_t allocs, bytes, reallocs, frees, freed_bytes, short_lived;
    int64_t live_bytes;         /* at the end of the second */
};

/* A target process within one second (read from /proc). */
struct alloc_procstat {
    int pid;
    uint64_t rss_bytes;
    double cpu_pct;             /* of one core */
    uint32_t threads;
    const char *thread_names;   /* JSON object name -> count (digits folded: "tokio-runtime-w") */
    uint64_t allocs, frees, bytes_allocated; /* exact counters, cumulative */
    uint64_t dropped;
};

struct alloc_interval {
    uint32_t second;
    uint64_t requests;          /* requests completed in the second (0 when not under load) */
    const struct alloc_row *rows;
    size_t nrows;
    const struct alloc_procstat *procs;
    size_t nprocs;
    const struct alloc_inside_row *inside; /* connections, DNS, blocking calls, lock waits (alloc_inside.h) */
    size_t ninside;
};

/* A newly symbolized stack. */
struct alloc_stack_info {
    uint32_t key;
    int pid;
    const char *blame_function, *blame_file;
    uint32_t blame_line;
    const char *label;
    const char *stack;          /* as in struct alloc_hot */
    const char *folded;
};

/* What a traced process reported, at its end (or the run's). */
struct alloc_proc_summary {
    int pid, ppid;
    const char *mode, *unwind;  /* "full", "fp" / "libunwind" */
    uint64_t allocs, frees, reallocs, bytes_allocated, bytes_freed;
    uint64_t untracked_frees, dropped, stacks, threads;
    bool said_bye;              /* exited normally (the last batch arrived) */
    uint64_t peak_rss;          /* bytes, the largest of its images' (VmHWM at the last batch); 0: not known */
};

struct alloc_sink {
    void *ctx;
    void (*stack)(void *ctx, const struct alloc_stack_info *s);       /* reader thread */
    void (*interval)(void *ctx, const struct alloc_interval *iv);     /* reader thread */
    void (*event)(void *ctx, const char *kind, const char *message);  /* reader thread */
};

struct alloc;

/*
 * Creates the socket and starts the reader thread. The sink (copied) is
 * called from the reader thread; its ctx must outlive the handle.
 */
LS_MUST_CHECK ls_err alloc_open(const struct alloc_opts *o, const struct alloc_sink *sink,
                                struct alloc **out, char *err, size_t errcap);

/*
 * The environment to launch a target with: *kv gets entries (owned by a,
 * valid until alloc_close) and *preload the shim's path to put in LD_PRELOAD.
 */
void alloc_inject(const struct alloc *a, const struct scn_kv **kv, size_t *n, const char **preload);

/* Second 0 starts at this CLOCK_REALTIME instant (set before the target starts). */
void alloc_set_origin(struct alloc *a, uint64_t unix_ns);

/* Requests completed in a run second (from the collector's all-steps interval). Any thread. */
void alloc_requests(struct alloc *a, uint32_t second, uint64_t count);

/* A launched process to watch in /proc (the shim's hello also names it). Any thread. */
void alloc_watch_pid(struct alloc *a, pid_t pid);

/*
 * After the target has exited or been stopped: waits up to wait_ns for the
 * traced processes' last batches, closes every open second and stops the
 * reader thread. Snapshots stay available.
 */
void alloc_finish(struct alloc *a, uint64_t wait_ns);

enum alloc_sort { ALLOC_BY_ALLOCS = 0, ALLOC_BY_BYTES, ALLOC_BY_LIVE };

/*
 * Copies up to cap hot paths, largest first, into out; returns how many.
 * The strings stay valid until alloc_close. Any thread.
 */
size_t alloc_snapshot(struct alloc *a, enum alloc_sort by, struct alloc_hot *out, size_t cap);

struct alloc_status {
    uint32_t processes;         /* connections seen: processes, and the images they exec'd */
    uint32_t execs;             /* of those, images that replaced a traced one (exec) */
    uint64_t allocs, frees, reallocs, bytes_allocated, bytes_freed; /* exact, all processes */
    uint64_t dropped, untracked_frees, stacks;
    uint64_t traced_seconds, requests;
    int64_t live_bytes;         /* traced stacks */
    uint64_t rss_bytes;         /* latest, summed over watched processes */
    uint64_t peak_rss;          /* the largest peak resident set of a traced image (0: not known) */
    const char *unwind;         /* of the first process */
    char warning[512];          /* honest limits seen so far ("" if none) */
};
void alloc_status(struct alloc *a, struct alloc_status *out);

/* Per-process summaries; calls fn for each. Any thread, after alloc_finish. */
void alloc_each_process(struct alloc *a, void (*fn)(void *ctx, const struct alloc_proc_summary *s),
                        void *ctx);

void alloc_close(struct alloc *a);

/*
 * Looks at the ELF file a command would run (argv0 resolved in PATH, from
 * cwd when relative). Returns false, with why in msg, when tracing cannot
 * work (static binary, musl). Returns true otherwise; warn gets a warning
 * ("" if none) when the binary carries its own global allocator.
 */
bool alloc_check_target(const char *argv0, const char *cwd, char *msg, size_t msgcap, char *warn,
                        size_t warncap);

/* The shim's default path: libloadscope-shim.so next to /proc/self/exe. */
LS_MUST_CHECK ls_err alloc_default_shim(char *buf, size_t cap);

#endif
