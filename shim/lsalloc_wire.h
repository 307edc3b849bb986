/*
 * lsalloc_wire: what the allocation tracer (shim/, injected into the target)
 * sends to loadscope (core/alloc.c), and the only thing the two share.
 *
 * Transport: one Unix stream socket connection per traced process (path in
 * LOADSCOPE_SHIM_SOCKET). Every message is a struct lsw_header followed by
 * `len` bytes of payload; integers are the machine's own (the shim and
 * loadscope always run on the same host). Messages are never one per
 * allocation: the shim aggregates per thread and its flush thread sends, about
 * every 200 ms, the new stacks, one batch of per-stack deltas and the
 * process-wide counters.
 *
 * Order on a connection: HELLO first; a STACK before any DELTA or INSIDE
 * record naming its id, a PEER or NAME before any INSIDE record naming it;
 * MAPS whenever the shim sees a return address outside the modules it last
 * sent; INSIDE and COUNTERS after each batch; BYE when the process exits
 * normally.
 */
#ifndef LSALLOC_WIRE_H
#define LSALLOC_WIRE_H

#include <stdint.h>

#define LSW_VERSION 4
#define LSW_MAX_PAYLOAD (1u << 20)  /* a reader refuses longer messages */
#define LSW_MAX_FRAMES 256          /* deepest stack the shim sends */

/* Environment the launcher sets for the shim. */
#define LSW_ENV_SOCKET "LOADSCOPE_SHIM_SOCKET"
#define LSW_ENV_MODE "LOADSCOPE_SHIM_MODE"             /* count | full | sampled */
#define LSW_ENV_DEPTH "LOADSCOPE_SHIM_DEPTH"           /* frames per stack, default 64 */
#define LSW_ENV_SAMPLE_BYTES "LOADSCOPE_SHIM_SAMPLE_BYTES" /* Poisson mean interval in bytes */
#define LSW_ENV_SAMPLE_EVERY "LOADSCOPE_SHIM_SAMPLE_EVERY" /* 1-in-N by count instead */
#define LSW_ENV_UNWIND "LOADSCOPE_SHIM_UNWIND"         /* auto | fp | libunwind */
#define LSW_ENV_FOLLOW_FORK "LOADSCOPE_SHIM_FOLLOW_FORK" /* 1: forked children reconnect */
#define LSW_ENV_KEEP_PRELOAD "LOADSCOPE_SHIM_KEEP_PRELOAD" /* 1: children exec'd with the shim */
#define LSW_ENV_HEADERS "LOADSCOPE_SHIM_HEADERS"       /* 0: full mode without block headers */
#define LSW_ENV_PID "LOADSCOPE_SHIM_PID"               /* set by the shim: the traced process's pid */
/* Comma-separated thread names (prefixes, 15 bytes at most count, as the kernel keeps them)
 * of an async runtime's workers; unset: "tokio-runtime-worker"; empty: none. */
#define LSW_ENV_WORKERS "LOADSCOPE_WORKER_THREADS"
#define LSW_DEFAULT_WORKERS "tokio-runtime-worker"

enum lsw_type {
    LSW_HELLO = 1,
    LSW_MAPS = 2,
    LSW_STACK = 3,
    LSW_DELTA = 4,
    LSW_COUNTERS = 5,
    LSW_BYE = 6,
    LSW_INSIDE = 7,
    LSW_PEER = 8,
    LSW_NAME = 9,
};

enum lsw_mode { LSW_MODE_COUNT = 0, LSW_MODE_FULL = 1, LSW_MODE_SAMPLED = 2 };

enum lsw_unwind {
    LSW_UNWIND_NONE = 0,      /* count mode: no stacks */
    LSW_UNWIND_FP = 1,        /* validated frame-pointer walk */
    LSW_UNWIND_LIBUNWIND = 2, /* libunwind's unw_backtrace */
    LSW_UNWIND_AUTO = 3,      /* still deciding (first walks are compared) */
};

struct lsw_header {
    uint32_t type; /* enum lsw_type */
    uint32_t len;  /* payload bytes after this header */
};

struct lsw_hello {
    uint32_t version;        /* LSW_VERSION */
    int32_t pid, ppid;
    uint32_t mode;           /* enum lsw_mode */
    uint32_t unwind;         /* enum lsw_unwind at start */
    uint32_t depth;          /* max frames per stack */
    uint64_t sample_bytes;   /* sampled mode: mean Poisson interval in bytes (0: by count) */
    uint64_t sample_every;   /* sampled mode by count: 1 in N */
    uint64_t start_unix_ns;  /* CLOCK_REALTIME when the shim started */
    uint32_t flags;          /* LSW_HELLO_* */
    uint32_t pad;
    char exe[256];           /* /proc/self/exe, NUL-terminated, may be truncated */
};

/* The process was traced before it exec'd this image (a wrapper script, env, a pyenv shim). */
#define LSW_HELLO_EXEC 1u

/* MAPS payload: a uint32_t count, then count of these, each followed by path_len bytes. */
struct lsw_map {
    uint64_t start, end;     /* a file mapping [start, end), in address order */
    uint64_t offset;         /* file offset of start */
    uint32_t path_len;       /* bytes of path that follow (no NUL) */
    uint32_t pad;
};

/* STACK payload: this, then nframes uint64_t return addresses, innermost (malloc's caller) first. */
struct lsw_stack {
    uint32_t id;             /* 0 is reserved: "stacks table full / unattributed" */
    uint32_t nframes;
};

/*
 * DELTA payload: a struct lsw_delta_head, then count records. Counts are
 * differences since the previous DELTA on this connection; live_bytes is the
 * stack's current total. In sampled mode every figure is the unbiased
 * estimate (each sample weighted by 1/p), rounded.
 */
struct lsw_delta_head {
    uint64_t t_unix_ns;      /* when the batch was taken */
    uint32_t count;
    uint32_t pad;
};

struct lsw_delta {
    uint32_t stack_id;
    uint32_t pad;
    uint64_t allocs;         /* allocations (realloc's new blocks included) */
    uint64_t bytes;          /* bytes requested by them */
    uint64_t reallocs;       /* of which by realloc of an existing block */
    uint64_t frees;          /* blocks from this stack freed (by any thread) */
    uint64_t freed_bytes;
    uint64_t short_lived;    /* freed by the allocating thread within 16 of its allocations */
    int64_t live_bytes;      /* allocated and not yet freed, from this stack */
};

/* COUNTERS payload: exact, cumulative, process-wide; always on in every mode. */
struct lsw_counters {
    uint64_t t_unix_ns;
    uint64_t allocs, frees, reallocs;
    uint64_t bytes_allocated, bytes_freed;
    uint64_t untracked_frees;    /* frees of blocks the table did not know (pre-init, sampled out) */
    uint64_t dropped;            /* events that could not be attributed (tables full, no memory) */
    uint64_t stacks;             /* distinct stacks so far */
    uint64_t threads;            /* threads that allocated so far */
    uint32_t unwind;             /* enum lsw_unwind in use now */
    uint32_t pad;
    uint64_t walks_fp, walks_libunwind;
    uint64_t peak_rss;           /* the image's peak resident set, bytes (VmHWM); 0: not known */
};

/*
 * Inside the target: calls the shim times or counts besides allocations
 * (connections, DNS lookups, blocking calls on an async runtime's worker
 * threads, lock and futex waits, thread creations), each charged to the
 * call's stack (the same stack ids as allocations).
 */
enum lsw_inside_kind {
    LSW_IN_CONNECT = 1,       /* a TCP connect() to an IP peer (obj: peer); failed: refused at once */
    LSW_IN_CLOSE = 2,         /* close() of a socket connect() opened (obj: peer; stack 0) */
    LSW_IN_DNS = 3,           /* getaddrinfo() (obj: name); failed: it returned an error */
    LSW_IN_SLEEP = 4,         /* nanosleep, clock_nanosleep, usleep, sleep (worker threads) */
    LSW_IN_FSYNC = 5,         /* fsync, fdatasync (worker threads) */
    LSW_IN_FILE_READ = 6,     /* read, pread on a regular file (worker threads) */
    LSW_IN_FILE_WRITE = 7,    /* write, pwrite on a regular file (worker threads) */
    LSW_IN_POLL = 8,          /* poll, select with a timeout other than 0 (worker threads) */
    LSW_IN_MUTEX = 9,         /* pthread_mutex_lock / pthread_rwlock_*lock that had to wait */
    LSW_IN_FUTEX = 10,        /* a FUTEX_WAIT* through syscall(): a lock's wait or parking,
                                 told apart by loadscope from the stack */
    LSW_IN_THREAD = 11,       /* pthread_create */
    LSW_IN__COUNT
};

#define LSW_IN_WORKER 0x100u  /* flag in lsw_inside.kind: the calling thread is a runtime worker */

/* INSIDE payload: this head, then count records; figures are differences since the last INSIDE. */
struct lsw_inside_head {
    uint64_t t_unix_ns;
    uint32_t count;
    uint32_t pad;
    uint64_t dropped;        /* cumulative: events no record could hold (tables full) */
};

struct lsw_inside {
    uint32_t kind;           /* enum lsw_inside_kind | LSW_IN_WORKER */
    uint32_t stack_id;       /* 0: none taken (close) or unattributed */
    uint32_t obj;            /* PEER or NAME id for CONNECT, CLOSE, DNS; else 0 */
    uint32_t pad;
    uint64_t count;          /* calls */
    uint64_t failed;         /* of which failed (CONNECT, DNS) */
    uint64_t time_ns;        /* wall time spent in them (monotonic clock) */
};

/* PEER payload: a TCP peer, named once per connection before INSIDE records use its id. */
struct lsw_peer {
    uint32_t id;             /* 1.. */
    uint16_t family;         /* AF_INET or AF_INET6 */
    uint16_t port;           /* host order */
    uint8_t addr[16];        /* network order; AF_INET uses the first 4 */
};

/* NAME payload: this, then len bytes (no NUL): a name getaddrinfo was asked for ("host" or "host:service"). */
struct lsw_name {
    uint32_t id;             /* 1.. */
    uint32_t len;
};

#endif
