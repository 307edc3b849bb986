/*
 * procstat: the one reader of /proc for the target's figures.
 *
 * Process figures (name, state, resident set and its peak, CPU ticks,
 * threads, open descriptors) for the Target screen and the allocation
 * tracer's per-second rows; per-task figures (/proc/PID/task/TID/stat,
 * syscall and schedstat) for the thread sampler (threads.h); thread names
 * folded into groups ("tokio-runtime-w" for every tokio worker) for all of
 * them. The parsers take text, so the tests feed them captured lines; the
 * readers only open, read and hand the text over.
 *
 * /proc/PID/task/TID/syscall is readable only by a process allowed to
 * ptrace the task (loadscope, as the target's parent, is); when it is not,
 * the sampler carries on without system calls and says so once.
 */
#ifndef LS_PROCSTAT_H
#define LS_PROCSTAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/lserr.h"

/* ---- parsers (pure: text in, figures out) --------------------------------------- */

/* One line of /proc/PID/stat or /proc/PID/task/TID/stat. */
struct procstat_stat {
    int pid;                    /* the task's id (the TID for a task's file) */
    char comm[64];              /* the kernel's name (15 bytes at most today), may hold ' ' and ')' */
    char state;                 /* R running or runnable, S sleeping, D uninterruptible, Z, T, t, X, I */
    int ppid;
    uint64_t utime_ticks;       /* user CPU, clock ticks (sysconf(_SC_CLK_TCK)) */
    uint64_t stime_ticks;       /* system CPU, clock ticks */
    uint32_t num_threads;       /* the process's */
    uint64_t starttime_ticks;   /* since boot: a reused TID has another */
    uint64_t rss_pages;
    int processor;              /* the CPU it last ran on */
};

/*
 * Parses a stat line. The name is the text between the first '(' and the
 * last ')' (a name may hold both, and spaces: "(a) b)"). Fails with
 * LS_ERR_PARSE when the line is cut or not a stat line.
 */
LS_MUST_CHECK ls_err procstat_parse_stat(const char *text, struct procstat_stat *out);

#define PROCSTAT_SYS_RUNNING (-2) /* on a CPU, or runnable: in no system call to name */
#define PROCSTAT_SYS_NONE (-1)    /* blocked outside a system call (a page fault, a stop) */

/* One reading of /proc/PID/task/TID/syscall. */
struct procstat_syscall {
    int nr;                     /* the call's number, or PROCSTAT_SYS_RUNNING / _NONE */
    uint64_t args[6];           /* when nr >= 0 */
    uint64_t sp, pc;            /* user stack pointer and program counter (0 when running) */
};

/* Parses "running", "-1 SP PC" or "NR A1 .. A6 SP PC". LS_ERR_PARSE otherwise. */
LS_MUST_CHECK ls_err procstat_parse_syscall(const char *text, struct procstat_syscall *out);

/* The name of system call nr on this architecture ("futex"), or NULL when not in the table. */
const char *procstat_syscall_name(int nr);

/* Writes nr's name, or "syscall NR", or "running" / "no call", into buf. Returns buf. */
const char *procstat_syscall_text(int nr, char *buf, size_t cap);

/* One reading of /proc/PID/task/TID/schedstat (kernels with CONFIG_SCHED_INFO). */
struct procstat_sched {
    uint64_t run_ns;            /* time on a CPU */
    uint64_t wait_ns;           /* time runnable, waiting on a run queue */
    uint64_t timeslices;
};

/* Parses "RUN WAIT SLICES". LS_ERR_PARSE otherwise. */
LS_MUST_CHECK ls_err procstat_parse_schedstat(const char *text, struct procstat_sched *out);

/*
 * Reads "Key:   N kB" from /proc/PID/status text into bytes (VmHWM, VmRSS).
 * False when the key is absent (a kernel thread, a zombie).
 */
bool procstat_status_kb(const char *status_text, const char *key, uint64_t *bytes);

/*
 * A thread's group: its name with trailing digits folded ("worker-12" and
 * "worker-3" are "worker-"), cut to cap - 1 bytes. An all-digit name stays
 * as it is. Returns out.
 */
char *procstat_group_name(const char *comm, char *out, size_t cap);

/* True for the allocation tracer's own thread ("loadscope-shim"), which screens leave out. */
bool procstat_is_tracer_thread(const char *comm);

/* ---- the process ---------------------------------------------------------------- */

struct procstat_proc {
    int pid, ppid;
    char name[64];
    char state;
    bool alive;                 /* false for a zombie or a dead process */
    uint64_t rss_bytes;
    uint64_t hwm_bytes;         /* peak resident set (VmHWM); 0 unless PROCSTAT_STATUS */
    uint64_t utime_ticks, stime_ticks;
    uint32_t threads;           /* every task, the tracer's thread included */
    uint32_t fds;               /* open descriptors; 0 unless PROCSTAT_FDS, or unreadable */
};

enum {
    PROCSTAT_STATUS = 1 << 0,   /* also read /proc/PID/status (VmHWM) */
    PROCSTAT_FDS = 1 << 1,      /* also count /proc/PID/fd */
};

/*
 * Reads pid's figures (what: PROCSTAT_* flags). LS_ERR_NOTFOUND when there
 * is no such process, LS_ERR_PARSE when its stat cannot be read as one.
 */
LS_MUST_CHECK ls_err procstat_read(int pid, unsigned what, struct procstat_proc *out);

/* CPU ticks over seconds as a percentage of one core (0 when seconds <= 0). */
double procstat_ticks_pct(uint64_t ticks, double seconds);

/* A thread group and how many of the process's tasks are in it. */
struct procstat_group_count {
    char name[32];
    uint32_t count;
};

/*
 * Counts pid's tasks by group (procstat_group_name; the tracer's thread left
 * out), in the order first seen; groups past cap are counted in *threads
 * only. Returns the number of groups (0 when the process is gone).
 */
size_t procstat_thread_groups(int pid, struct procstat_group_count *out, size_t cap,
                              uint32_t *threads);

/* "tokio-runtime-w x4, main x1" into buf (cut to cap). Returns buf. */
char *procstat_groups_text(const struct procstat_group_count *g, size_t n, char *buf, size_t cap);

/* The TIDs of pid's tasks now; returns how many were written to out (at most cap). */
size_t procstat_task_ids(int pid, int *out, size_t cap);

/*
 * The children of every task of pid, from /proc/PID/task/TID/children
 * (kernels with CONFIG_PROC_CHILDREN). Returns how many were written to out
 * (at most cap).
 */
size_t procstat_children(int pid, int *out, size_t cap);

/* ---- the tasks of a process, read again and again (the thread sampler) ----------- */

enum {
    PROCSTAT_TASK_SYSCALL = 1 << 0, /* read syscall too */
    PROCSTAT_TASK_SCHED = 1 << 1,   /* read schedstat too */
};

/* One task in one pass. */
struct procstat_task {
    struct procstat_stat st;
    bool have_syscall;          /* sys was read (the file exists and we may read it) */
    struct procstat_syscall sys;
    bool have_sched;            /* sched was read */
    struct procstat_sched sched;
    bool is_new;                /* listed for the first time, after the first pass: created since */
};

struct procstat_tasks;

/*
 * Opens pid's task list for repeated passes (what: PROCSTAT_TASK_* flags).
 * Each task's files stay open between passes and are read again with
 * pread, which saves the path walk of reopening them at 100 passes a
 * second. LS_ERR_NOTFOUND when the process is gone.
 */
LS_MUST_CHECK ls_err procstat_tasks_open(int pid, unsigned what, struct procstat_tasks **out);

typedef void (*procstat_task_fn)(void *ctx, const struct procstat_task *t);

/*
 * One pass: lists pid's tasks again and calls fn for each task that could
 * be read (the struct is valid during the call). what (PROCSTAT_TASK_*,
 * within those given at open) says which files to read besides stat in
 * this pass: schedstat's clocks are cumulative and may be read less often;
 * syscall is read only for a task blocked (S or D), a running one being in
 * no call to name. Tasks that ended are forgotten. LS_ERR_NOTFOUND once
 * the process is gone.
 */
LS_MUST_CHECK ls_err procstat_tasks_pass(struct procstat_tasks *t, unsigned what, procstat_task_fn fn,
                                         void *ctx);

/*
 * Why syscall files could not be read: 0, or the errno of the first refusal
 * (EACCES when the task may not be traced by us).
 */
int procstat_tasks_syscall_errno(const struct procstat_tasks *t);

/* Closes every file. NULL is ignored. */
void procstat_tasks_close(struct procstat_tasks *t);

#endif
