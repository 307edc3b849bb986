/*
 * proc: the target process loadscope launches and watches.
 *
 * A target runs in its own process group (so a terminal's Ctrl-C reaches
 * loadscope, which then stops the target in order) with, on request, its
 * stdin and stdout on non-blocking pipes (MCP over stdio). Its stderr, and
 * its stdout when not piped, go to an unlinked temporary file whose last
 * lines are quoted when the target fails to start or dies.
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
 * Stops the target: closes stdin, waits up to grace_ns, then SIGTERM to the
 * group, waits up to grace_ns again, then SIGKILL. Returns its wait status
 * (or -1 if it could not be reaped).
 */
int proc_stop(struct ls_proc *p, uint64_t grace_ns);

/* Writes the last lines of the target's stderr/stdout log (at most cap-1 bytes). */
void proc_log_tail(struct ls_proc *p, char *buf, size_t cap);

/* "exited with status 3" / "killed by signal 9 (Killed)" */
void proc_describe_status(int status, char *buf, size_t cap);

/* Frees p; stops the process first (SIGKILL) if it still runs. NULL is ignored. */
void proc_free(struct ls_proc *p);

/*
 * Waits until a TCP connection to host:port succeeds, the process exits
 * (LS_ERR_SPAWN) or timeout_ns passes (LS_ERR_TIMEOUT). p may be NULL.
 */
LS_MUST_CHECK ls_err proc_wait_port(struct ls_proc *p, const char *host, int port,
                                    uint64_t timeout_ns, char *err, size_t errcap);

#endif
