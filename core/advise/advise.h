/*
 * advise: the advisor. The facts of a run (one second, a window or the whole
 * run) go in; a ranked list of findings comes out: what to change, where,
 * the numbers that say so (with their thresholds), and how much of the
 * latency, CPU or allocations per request it explains.
 *
 * Pure: no I/O, no threads, no globals. The live model (each second), the
 * end of the run and replay from storage fill the same struct adv_facts, so
 * the three cannot disagree. Owns: the facts' shape, the rule table (one row
 * per rule, one file per family), site aggregation, ranking and rendering.
 * Calls: libc, and core/symbols' pure string classifiers (sym_classify,
 * sym_label_of) so that a frame means the same here as in the hot paths.
 *
 * Facts are a plain struct of arrays with counts. Every pointer in them is
 * the caller's, only read during adv_evaluate() and never kept: the report
 * copies what it shows. Each group has a `measured` flag; a rule whose inputs
 * were not measured is listed in the report as not measured, never guessed.
 */
#ifndef LS_ADVISE_H
#define LS_ADVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/lserr.h"

/* ---- facts -------------------------------------------------------------------- */

/* Input groups; a rule row names the ones it needs. */
enum adv_input {
    ADV_IN_RUN = 1u << 0,        /* run shape: requests, duration, concurrency */
    ADV_IN_GENERATOR = 1u << 1,  /* loadscope's own CPU and late sends */
    ADV_IN_LATENCY = 1u << 2,    /* corrected and uncorrected percentiles */
    ADV_IN_MCP = 1u << 3,        /* handshakes and sessions */
    ADV_IN_DOWNSTREAM = 1u << 4, /* the recording proxy's calls per operation */
    ADV_IN_NET = 1u << 5,        /* the shim's connect/getaddrinfo counts per peer */
    ADV_IN_THREADS = 1u << 6,    /* runtime workers sampled, thread creations */
    ADV_IN_BLOCKING = 1u << 7,   /* blocking calls timed on runtime workers */
    ADV_IN_LOCKS = 1u << 8,      /* lock waits */
    ADV_IN_CPU = 1u << 9,        /* CPU samples with stacks */
    ADV_IN_ALLOC = 1u << 10,     /* allocation stacks with per-request figures */
    ADV_IN_LIVE = 1u << 11,      /* live bytes per stack (frees seen: full or sampled tracing) */
};
#define ADV_IN__COUNT 12

/* What kind of code a frame is. */
enum adv_code {
    ADV_CODE_AUTO = 0,  /* not said: classified here from the function and file strings */
    ADV_CODE_USER,      /* the target's own code */
    ADV_CODE_STD,       /* Rust std/core/alloc, libc, libstdc++ */
    ADV_CODE_DEP,       /* a dependency (cargo registry crate, another shared library) */
    ADV_CODE_ALLOCATOR, /* malloc & co., Rust's allocator shims */
    ADV_CODE_UNKNOWN,   /* no symbol */
};

/* A blame frame: the frame of the target's code a stack is charged to. */
struct adv_frame {
    const char *function; /* demangled; "" or NULL when unknown */
    const char *file;     /* source path; "" or NULL when unknown */
    uint32_t line;        /* 0 when unknown */
    enum adv_code code;   /* from sym_classify with the module known; AUTO: classified here */
};

struct adv_run {
    bool measured;
    uint64_t requests; /* MCP requests completed in the span (scenario steps; handshakes apart) */
    double duration_s; /* the span the facts cover */
    uint32_t concurrency; /* virtual users (closed loop); most requests in flight (open loop) */
    bool open_loop;
    uint32_t cores; /* CPUs the target may run on; 0: not known */
};

struct adv_generator {
    bool measured;
    double cpu_share; /* loadscope's busiest engine thread, share of one core (0..1) */
    uint64_t late;    /* open loop: requests sent >= 1 ms after their intended time */
};

/* One scenario step's latency. */
struct adv_step {
    const char *name; /* the step (tool) name */
    uint64_t requests;
    double p50_us, p99_us;     /* corrected for coordinated omission */
    double u_p50_us, u_p99_us; /* uncorrected */
};

struct adv_latency {
    bool measured;
    double p50_us, p99_us;     /* all scenario steps, corrected */
    double u_p50_us, u_p99_us; /* uncorrected */
    const struct adv_step *steps;
    size_t nsteps;
};

struct adv_mcp {
    bool measured;
    uint64_t handshakes;    /* initialize exchanges in the span */
    double handshake_share; /* handshake time over all request time (handshakes included), 0..1 */
    bool session_per_iteration; /* the scenario opens a session per iteration */
};

/* One downstream operation (of one step, or of all steps). */
struct adv_op {
    const char *service;   /* "dynamodb", "s3" */
    const char *operation; /* "GetItem", "BatchGetItem", "PutItem", "GetObject" ... */
    const char *step;      /* the step the calls are charged to; NULL or "": all steps */
    uint64_t calls;        /* SDK invocations (the attempts of one invocation count once) */
    uint64_t attempts;     /* HTTP attempts, retries included */
    uint64_t throttles;    /* attempts answered with a throttling error */
    double calls_per_req;  /* per MCP request of the step */
    double keys_per_call;  /* keys/items per call (1 for single-item operations; 0: not known) */
    uint64_t unprocessed;  /* keys/items answered unprocessed (batch operations) */
    uint64_t unprocessed_followed; /* of those, asked for again in a later call */
    double p50_us, p99_us;         /* per call */
    double us_per_req;             /* downstream time of this operation per MCP request */
    bool conns_measured;
    double new_conns_per_call; /* new TCP connections the target opened per call */
    bool retry_gap_measured;
    double retry_gap_p50_us; /* median wait between an attempt's answer and its retry */
};

/* Each call counts in one row: rows are per (service, operation, step), step "" when not split. */
struct adv_downstream {
    bool measured;
    const struct adv_op *ops;
    size_t nops;
};

/* A peer the target connected to, as the shim saw it. */
struct adv_peer {
    const char *peer;    /* "127.0.0.1:8000", "dynamodb.eu-west-1.amazonaws.com:443" */
    const char *service; /* "dynamodb" when the peer is a known downstream endpoint; "" or NULL */
    uint64_t new_conns;  /* new TCP connections in the span */
    double new_conns_per_req; /* per MCP request */
    double lookups_per_req;   /* DNS lookups per MCP request */
};

struct adv_net {
    bool measured;
    const struct adv_peer *peers;
    size_t npeers;
};

/*
 * One stack of the target's threads and what happened there: a blocking
 * call, a lock wait, a thread creation, or CPU samples.
 */
struct adv_event {
    struct adv_frame blame;
    const char *call;  /* "nanosleep", "read", "futex", "pthread_mutex_lock"; NULL for CPU */
    const char *stack; /* innermost first, "function (file:line)" per line; NULL: not kept */
    uint64_t count;    /* calls, waits, creations or samples in the span */
    double per_req;    /* count per MCP request */
    double us_per_req; /* time per MCP request: blocked, waiting, or on CPU */
    double share;      /* blocking and locks: of runtime worker time; CPU: of the target's CPU */
};

struct adv_events {
    bool measured;
    const struct adv_event *ev;
    size_t n;
};

struct adv_threads {
    bool measured;
    uint32_t workers;  /* runtime worker threads (tokio-runtime-worker, or named in the scenario) */
    double busy_share; /* workers' share of time running or runnable, 0..1 */
    double parked_share;      /* workers' share of time parked by the runtime (idle), 0..1 */
    double creations_per_req; /* threads created per MCP request */
    const struct adv_event *creations; /* where threads were created (may be none) */
    size_t ncreations;
};

/* One allocation stack, as the hot-path model has it (struct alloc_hot). */
struct adv_alloc_stack {
    struct adv_frame blame;
    const char *label;      /* the hot-path label ("vector growth", "format!", ...; "" none) */
    const char *stack;      /* innermost first, "function (file:line)" per line; NULL: not kept */
    uint64_t allocs, bytes; /* totals over the span */
    double allocs_per_req, bytes_per_req;
    double reallocs_per_req; /* of the allocations, reallocs of an existing block */
    int64_t live_start_bytes, live_end_bytes; /* live bytes at the start and end of the span */
    const int64_t *live_series;               /* nseries points, oldest first, or NULL */
};

struct adv_alloc {
    bool measured;
    bool live_measured;                   /* frees are seen: live bytes mean something */
    double allocs_per_req, bytes_per_req; /* the whole process, for shares */
    const struct adv_alloc_stack *stacks;
    size_t nstacks;
    size_t nseries; /* points in every stack's live_series */
};

struct adv_facts {
    struct adv_run run;
    struct adv_generator gen;
    struct adv_latency lat;
    struct adv_mcp mcp;
    struct adv_downstream ds;
    struct adv_net net;
    struct adv_threads threads;
    struct adv_events blocking; /* blocking calls on runtime worker threads */
    struct adv_events locks;    /* lock waits (a runtime's own parking is idle, not a lock wait) */
    struct adv_events cpu;      /* CPU samples */
    struct adv_alloc alloc;
};

/* ---- findings ----------------------------------------------------------------- */

enum adv_severity { ADV_INFO = 0, ADV_WARNING, ADV_CRITICAL };

/* Every string is owned by the report that holds the finding. */
struct adv_finding {
    const char *rule; /* stable id, "aws.unbatched_reads"; static */
    enum adv_severity severity;
    char *title;       /* one line */
    char *evidence;    /* the numbers that triggered it, with their thresholds */
    char *where;       /* "function (file:line)" and/or the step or downstream operation */
    char *fix;         /* what to change, in Rust/tokio/AWS SDK terms */
    char *detail;      /* the stacks behind it with their shares; "" when none */
    double impact;     /* share of latency, CPU or allocations per request it explains, 0..1 */
    double confidence; /* 0..1 */
};

/* A rule that could not be judged. */
struct adv_not_measured {
    const char *rule; /* static */
    uint32_t missing; /* enum adv_input bits not measured (0: too few requests) */
    const char *why;  /* static: "not measured" or "too few requests" */
};

#define ADV_MAX_RULES 32
#define ADV_MIN_REQUESTS 20 /* fewer requests in the span: nothing is judged */
#define ADV_PER_RULE_MAX 5  /* findings kept per rule, the largest */

struct adv_report {
    struct adv_finding *findings; /* ranked: severity, then impact x confidence, then rule, where */
    size_t n;
    struct adv_not_measured not_measured[ADV_MAX_RULES]; /* in rule table order */
    size_t n_not_measured;
};

/*
 * Judges the facts. On success *out holds the findings (the caller frees
 * it with adv_report_free); on LS_ERR_NOMEM it holds nothing. f is only
 * read during the call.
 */
LS_MUST_CHECK ls_err adv_evaluate(const struct adv_facts *f, struct adv_report *out);

/* Frees what a report holds and empties it; NULL and empty reports are fine. */
void adv_report_free(struct adv_report *r);

/* The rule table: count, and the stable id of rule i (NULL past the end). */
size_t adv_rule_count(void);
const char *adv_rule_id(size_t i);
/* What rule id suggests (its default fix); NULL if no such rule. */
const char *adv_rule_fix(const char *id);

/* "critical", "warning", "info". */
const char *adv_severity_name(enum adv_severity s);

/* The names of the inputs in mask, ", "-separated, into buf; returns snprintf's length. */
int adv_input_names(uint32_t mask, char *buf, size_t cap);

/*
 * Renders a finding for the headless summary into buf (always terminated
 * when cap > 0): "1. [critical] title (rule)" then evidence, where and fix
 * lines indented by four. rank 0 leaves the number out. Returns snprintf's
 * length (what it would need).
 */
int adv_render(const struct adv_finding *f, size_t rank, char *buf, size_t cap);

/* ---- sites and stacks (what the rules judge; exposed for views and tests) ------ */

/* What an allocation stack does, read from its frames below the blame frame. */
enum adv_alloc_kind {
    ADV_AK_OTHER = 0,
    ADV_AK_FORMAT,  /* format!, write!, to_string through core::fmt */
    ADV_AK_CLONE,   /* clone/to_owned/to_vec of strings and collections */
    ADV_AK_GROWTH,  /* Vec/String growth (RawVec reserve/grow) */
    ADV_AK_SERDE,   /* serde (de)serialization */
    ADV_AK_REHASH,  /* hash map growth */
    ADV_AK_BOX,     /* Box/Arc/Rc::new */
    ADV_AK_SPAWN,   /* an async task's creation (tokio spawn) */
    ADV_AK_THREAD,  /* a thread's creation (std::thread::spawn) */
    ADV_AK_LIBRARY, /* inside a dependency the blame frame called: not the user's idiom */
    ADV_AK__COUNT
};

/* "format!", "clone", "vector growth", ... */
const char *adv_alloc_kind_name(enum adv_alloc_kind k);

/*
 * The kind of an allocation stack: the frames between the blame frame and
 * the allocator are read nearest the user's code first. Formatting,
 * serde, a task or thread spawn, or a dependency's own code decide at once
 * (a growth inside core::fmt::write is format!, not vector growth); a clone
 * wins over the growth or Box below it. Without a stack, or when the blame
 * frame is not found in it, the hot-path label decides.
 */
enum adv_alloc_kind adv_alloc_kind_of(const char *label, const char *stack,
                                      const struct adv_frame *blame);

/* The code kind of a frame from its strings (what ADV_CODE_AUTO resolves to). */
enum adv_code adv_code_of(const char *function, const char *file);

/*
 * True when a wait's stack passes through a lock's contended path (std's
 * lock_contended, parking_lot's lock_slow, pthread_mutex_lock, rwlocks) and
 * not through a runtime's or a thread's parking (tokio's park, Condvar::wait,
 * std::thread::park): an idle worker waits in futex too.
 */
bool adv_is_lock_wait(const char *stack);

/* An allocation site: the stacks whose blame frame is the same file:line. */
struct adv_alloc_site {
    struct adv_frame blame; /* of its stack with the most allocations; code resolved */
    double allocs_per_req, bytes_per_req, reallocs_per_req;
    double kind_allocs_per_req[ADV_AK__COUNT];
    double kind_bytes_per_req[ADV_AK__COUNT];
    double kind_reallocs_per_req[ADV_AK__COUNT];
    uint64_t allocs, bytes; /* totals over the span */
    int64_t live_start_bytes, live_end_bytes;
    double live_rising;   /* share of the summed series' steps that rose; -1: no series */
    const size_t *stacks; /* indices into the facts' stacks, most allocations first */
    size_t nstacks;
};

struct adv_alloc_sites {
    struct adv_alloc_site *sites; /* most allocations per request first */
    size_t n;
    enum adv_alloc_kind *kinds; /* per stack of the facts */
    size_t *order;              /* storage for the sites' stack lists */
};

/*
 * Groups a's stacks by blame file:line (function when the file is unknown).
 * The result points into a (blame strings): a must outlive it. Free it
 * with adv_alloc_sites_free (NULL-safe fields).
 */
LS_MUST_CHECK ls_err adv_alloc_sites_build(const struct adv_alloc *a, struct adv_alloc_sites *out);
void adv_alloc_sites_free(struct adv_alloc_sites *s);

#endif
