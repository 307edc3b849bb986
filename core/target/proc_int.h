/*
 * proc_int: what proc.c (launching, stopping), proc_log.c (the output ring)
 * and proc_port.c (readiness) share; included by those three only.
 */
#ifndef LS_PROC_INT_H
#define LS_PROC_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "target/proc.h"

struct ls_proc {
    pid_t pid;
    int in_fd;             /* our write end of its stdin */
    int out_fd;            /* our read end of its stdout */
    bool had_stdin;        /* stdin was our pipe: closing it is how a stdio server is asked to end */
    bool exited;
    int status;
    uint64_t start_ticks;  /* its start, in clock ticks after boot (proc_start_ticks); 0: unknown */

    /* The output ring (proc_log.c): its stderr, and its stdout when not piped. */
    int log_fd;            /* our read end of the pipe, non-blocking; -1: none (inherited stdio) */
    int wake_fd;           /* eventfd that tells the drain thread to end; -1 until started */
    pthread_t drain;
    bool drain_started;
    pthread_mutex_t log_mu; /* guards what follows, and reads of log_fd */
    bool log_mu_ready;
    bool log_eof;          /* every writer closed the pipe */
    uint64_t log_bytes;    /* everything it wrote, kept or not */
    size_t ring_head;      /* where the next byte goes */
    size_t ring_len;       /* bytes held, at most PROC_LOG_RING_BYTES */
    char ring[PROC_LOG_RING_BYTES];
};

/* proc_log.c */

/* Starts the drain thread for p->log_fd (set by the caller). On failure err says why. */
LS_MUST_CHECK ls_err proc_log_start(struct ls_proc *p, char *err, size_t errcap);
/* Stops the drain thread and closes the pipe; safe when it never started. */
void proc_log_stop(struct ls_proc *p);

#endif
