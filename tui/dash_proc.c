/*
 * dash_proc: the target process's figures for the Target screen, from the
 * one /proc reader (core/target/procstat.h). No curses here.
 */
#include <stdio.h>
#include <string.h>

#include "dash.h"
#include "target/procstat.h"

bool dash_proc_read(int pid, struct dash_proc_info *out)
{
    struct procstat_proc pr;
    memset(out, 0, sizeof(*out));
    out->pid = pid;
    if (procstat_read(pid, PROCSTAT_FDS, &pr) != LS_OK)
        return false;
    snprintf(out->name, sizeof(out->name), "%.*s", (int)sizeof(out->name) - 1, pr.name);
    out->state = pr.state ? pr.state : '?';
    out->rss_kb = pr.rss_bytes / 1024;
    out->threads = pr.threads;
    out->cpu_ticks = pr.utime_ticks + pr.stime_ticks;
    out->fds = pr.fds;
    /* A reaped-but-listed or zombie process has no memory to show. */
    out->alive = pr.alive;
    return out->alive;
}
