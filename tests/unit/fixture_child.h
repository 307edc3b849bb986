/*
 * fixture_child: a fixture program launched with its stdin and stdout on
 * pipes, for the tests that watch a real process (test_threads,
 * test_cpuprof). Header-only: each test program includes it once.
 */
#ifndef LS_TEST_FIXTURE_CHILD_H
#define LS_TEST_FIXTURE_CHILD_H

#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

struct fixture_child {
    pid_t pid;
    int in, out;    /* our ends: its stdin, its stdout */
};

/* Starts argv[0] with pipes on stdin and stdout. False when it cannot. */
static bool child_start(struct fixture_child *c, char *const argv[])
{
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0)
        return false;
    c->pid = fork();
    if (c->pid < 0)
        return false;
    if (c->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c->in = in[1];
    c->out = out[0];
    return true;
}

/* Reads one line (without its newline) within timeout_ms. False on timeout or end. */
static bool child_line(struct fixture_child *c, char *line, size_t cap, int timeout_ms)
{
    size_t n = 0;
    while (n + 1 < cap) {
        struct pollfd p = {.fd = c->out, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) <= 0)
            return false;
        char ch;
        if (read(c->out, &ch, 1) != 1)
            return false;
        if (ch == '\n')
            break;
        line[n++] = ch;
    }
    line[n] = '\0';
    return true;
}

/* Sends the byte the fixture waits for. */
static bool child_go(struct fixture_child *c)
{
    return write(c->in, "g", 1) == 1;
}

/* Reaps the child (after it exits); its wait status. */
static int child_reap(struct fixture_child *c)
{
    int status = -1;
    waitpid(c->pid, &status, 0);
    close(c->in);
    close(c->out);
    return status;
}

#endif
