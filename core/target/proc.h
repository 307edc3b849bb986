/*
 * proc: the target process loadscope launches and watches.
 *
 * A target runs in its own process group (so a terminal's Ctrl-C reaches
 * loadscope, which then stops the target in order) with, on request, its
 * stdin and stdout on non-blocking pipes (MCP over stdio). It dies with
 * loadscope: it gets SIGTERM when loadscope ends in any way, kill -9
 * included (PR_SET_PDEATHSIG, set between fork and exec; all targets are
 * forked by one thread that lives as long as the process, because the
 * kernel sends that signal when the forking *thread* ends).
 *
 * Its stderr, and its stdout when not piped, go to a pipe that a thread of
 * ours drains into a ring of the last PROC_LOG_RING_BYTES; the rest is only
 * counted. A target printing gigabytes costs loadscope that ring and no
 * disk; the ring's last lines are quoted when the target fails to start or
 * dies.
 */
#ifndef LS_PROC_H
#define LS_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/lserr.h"
#include "scenario/scenario.h"

struct ls_proc;

/* The launched target's output kept in memory, per target (its last lines are quoted). */
#define PROC_LOG_RING_BYTES 16384

/*
 * Injection into a launched target (allocation profiling): env entries are
 * added after (and win over) ls_proc_opts.env, and preload is prepended to
 * LD_PRELOAD, keeping whatever the environment already preloads.
 */
struct proc_inject {
    const struct scn_kv *env;
    size_t env_count;
    const char *preload;        /* a shared object path, or NULL */
};

struct ls_proc_opts {
    char *const *argv;          /* NULL-terminated; argv[0] looked up in PATH */
    const struct scn_kv *env;   /* added to (or replacing in) the inherited environment */
    size_t env_count;
    const char *cwd;            /* NULL: inherit */
    bool pipe_stdio;            /* stdin/stdout as pipes for MCP over stdio */
    const struct proc_inject *inject; /* NULL, or what the allocation tracer needs */
    bool inherit_stdio;         /* keep our stdin/stdout/stderr (loadscope trace); no log file */
};

/* Starts the process. On failure err says which command and why. */
LS_MUST_CHECK ls_err proc_spawn(const struct ls_proc_opts *o, struct ls_proc **out, char *err,
                                size_t errcap);

pid_t proc_pid(const struct ls_proc *p);
int proc_stdin_fd(const struct ls_proc *p);  /* -1 unless pipe_stdio; non-blocking */
int proc_stdout_fd(const struct ls_proc *p); /* -1 unless pipe_stdio; non-blocking */

/* Closes our end of the target's stdin (the polite way to end an MCP stdio server). */
void proc_close_stdin(struct ls_proc *p);

/*
 * Reaps the process if it has exited, without blocking. Returns true once it
 * has exited; *status gets the wait status. Safe to call repeatedly.
 */
bool proc_poll_exit(struct ls_proc *p, int *status);

/*
 * Stops the target. A stdio target (its stdin is our pipe) is asked first by
 * closing stdin and given grace_ns to end; any other gets SIGTERM at once.
 * Then SIGTERM to its group, up to grace_ns more, then SIGKILL. Returns its
 * wait status (or -1 if it could not be reaped).
 */
int proc_stop(struct ls_proc *p, uint64_t grace_ns);

/*
 * Writes the last lines of the target's stderr/stdout (at most cap-1 bytes,
 * starting at a line), after taking in whatever it wrote so far. When more
 * was written than the ring keeps, the text starts with
 * "[N earlier bytes not kept]" and a newline.
 */
void proc_log_tail(struct ls_proc *p, char *buf, size_t cap);

/* Bytes the target wrote to its stderr/stdout log so far, kept or not. */
uint64_t proc_log_bytes(struct ls_proc *p);

/*
 * When process pid started, in clock ticks after boot (field 22 of
 * /proc/PID/stat); 0 when there is no such process. With the pid it names a
 * process for good: a reused pid has a later start.
 */
uint64_t proc_start_ticks(pid_t pid);

/* "exited with status 3" / "killed by signal 9 (Killed)" */
void proc_describe_status(int status, char *buf, size_t cap);

/* Frees p; stops the process first (SIGKILL) if it still runs. NULL is ignored. */
void proc_free(struct ls_proc *p);

/*
 * Waits until a TCP connection to host:port succeeds, the process exits
 * (LS_ERR_SPAWN) or timeout_ns passes (LS_ERR_TIMEOUT). p may be NULL.
 *
 * With p, the port must be p's: when it answers but p has exited, or a
 * process outside p's group that was running before p was launched listens
 * on that port (a stale server of an earlier run: p then failed to bind, or
 * shares the port through SO_REUSEPORT), it is refused with LS_ERR_SPAWN and
 * a message naming that process. A listener whose process cannot be seen
 * (another user's, as a container runtime's port proxy) is not refused.
 */
LS_MUST_CHECK ls_err proc_wait_port(struct ls_proc *p, const char *host, int port,
                                    uint64_t timeout_ns, char *err, size_t errcap);

#endif
