/*
 * procstat: parsing /proc's text and reading a process's figures (see
 * procstat.h). The repeated per-task passes of the thread sampler are in
 * procstat_tasks.c, the system calls' names in procstat_syscalls.c.
 */
#include "target/procstat.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- parsers ------------------------------------------------------------------ */

/* The stat fields after the name, numbered as in proc(5). */
enum {
    F_STATE = 3, F_PPID = 4, F_UTIME = 14, F_STIME = 15, F_THREADS = 20, F_START = 22,
    F_RSS = 24, F_PROCESSOR = 39, F_LAST = F_PROCESSOR
};

ls_err procstat_parse_stat(const char *text, struct procstat_stat *out)
{
    memset(out, 0, sizeof(*out));
    out->processor = -1;
    const char *open = strchr(text, '(');
    const char *close = strrchr(text, ')');
    if (open == NULL || close == NULL || close < open)
        return LS_ERR_PARSE;
    char *end = NULL;
    errno = 0;
    long pid = strtol(text, &end, 10);
    if (end == text || errno != 0 || pid <= 0 || pid > INT_MAX)
        return LS_ERR_PARSE;
    out->pid = (int)pid;
    size_t n = (size_t)(close - open - 1);
    if (n >= sizeof(out->comm))
        n = sizeof(out->comm) - 1;
    memcpy(out->comm, open + 1, n);
    out->comm[n] = '\0';

    const char *p = close + 1;
    int field = F_STATE;
    while (field <= F_LAST) {
        while (*p == ' ')
            p++;
        if (*p == '\0' || *p == '\n')
            break;
        if (field == F_STATE) {
            out->state = *p++;
            if (*p != ' ' && *p != '\0' && *p != '\n')
                return LS_ERR_PARSE;
            field++;
            continue;
        }
        /* Fields we do not keep are skipped (some are unsigned 64-bit, some negative). */
        const char *tok = p;
        p += strcspn(p, " \n");
        int64_t v = 0;
        if (field == F_PPID || field == F_UTIME || field == F_STIME || field == F_THREADS ||
            field == F_START || field == F_RSS || field == F_PROCESSOR) {
            errno = 0;
            v = strtoll(tok, &end, 10);
            if (end != p || errno != 0)
                return LS_ERR_PARSE;
        }
        switch (field) {
        case F_PPID: out->ppid = (int)v; break;
        case F_UTIME: out->utime_ticks = (uint64_t)v; break;
        case F_STIME: out->stime_ticks = (uint64_t)v; break;
        case F_THREADS: out->num_threads = (uint32_t)v; break;
        case F_START: out->starttime_ticks = (uint64_t)v; break;
        case F_RSS: out->rss_pages = v > 0 ? (uint64_t)v : 0; break;
        case F_PROCESSOR: out->processor = (int)v; break;
        default: break;
        }
        field++;
    }
    /* Everything up to the resident set is in every kernel's line. */
    return field > F_RSS ? LS_OK : LS_ERR_PARSE;
}

/* A hexadecimal ("0x..") or decimal number; false when there is none. */
static bool parse_u64(const char **p, uint64_t *v)
{
    char *end = NULL;
    while (**p == ' ')
        (*p)++;
    errno = 0;
    unsigned long long x = strtoull(*p, &end, 0);
    if (end == *p || errno != 0)
        return false;
    *p = end;
    *v = x;
    return true;
}

ls_err procstat_parse_syscall(const char *text, struct procstat_syscall *out)
{
    memset(out, 0, sizeof(*out));
    if (strncmp(text, "running", 7) == 0) {
        out->nr = PROCSTAT_SYS_RUNNING;
        return LS_OK;
    }
    char *end = NULL;
    errno = 0;
    long nr = strtol(text, &end, 10);
    if (end == text || errno != 0 || nr < -1 || nr > 100000)
        return LS_ERR_PARSE;
    const char *p = end;
    out->nr = (int)nr;
    if (nr >= 0) {
        for (int i = 0; i < 6; i++)
            if (!parse_u64(&p, &out->args[i]))
                return LS_ERR_PARSE;
    }
    if (!parse_u64(&p, &out->sp) || !parse_u64(&p, &out->pc))
        return LS_ERR_PARSE;
    return LS_OK;
}

const char *procstat_syscall_text(int nr, char *buf, size_t cap)
{
    const char *name = procstat_syscall_name(nr);
    if (name != NULL)
        snprintf(buf, cap, "%s", name);
    else if (nr == PROCSTAT_SYS_RUNNING)
        snprintf(buf, cap, "running");
    else if (nr < 0)
        snprintf(buf, cap, "no call");
    else
        snprintf(buf, cap, "syscall %d", nr);
    return buf;
}

ls_err procstat_parse_schedstat(const char *text, struct procstat_sched *out)
{
    const char *p = text;
    memset(out, 0, sizeof(*out));
    if (!parse_u64(&p, &out->run_ns) || !parse_u64(&p, &out->wait_ns) ||
        !parse_u64(&p, &out->timeslices))
        return LS_ERR_PARSE;
    return LS_OK;
}

bool procstat_status_kb(const char *status_text, const char *key, uint64_t *bytes)
{
    size_t kl = strlen(key);
    for (const char *line = status_text; line && *line;) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            const char *p = line + kl + 1;
            uint64_t kb = 0;
            if (!parse_u64(&p, &kb))
                return false;
            *bytes = kb * 1024;
            return true;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return false;
}

char *procstat_group_name(const char *comm, char *out, size_t cap)
{
    size_t l = strcspn(comm, "\n");
    size_t k = l;
    while (k > 0 && isdigit((unsigned char)comm[k - 1]))
        k--;
    if (k == 0)
        k = l; /* "1234": nothing would be left */
    if (k >= cap)
        k = cap - 1;
    memcpy(out, comm, k);
    out[k] = '\0';
    return out;
}

bool procstat_is_tracer_thread(const char *comm)
{
    return strcmp(comm, "loadscope-shim") == 0;
}

/* ---- the process ------------------------------------------------------------- */

/* Reads a small /proc file into buf; the byte count, or -1 with errno set. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    int saved = errno;
    close(fd);
    errno = saved;
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

static uint32_t count_fds(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    uint32_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

ls_err procstat_read(int pid, unsigned what, struct procstat_proc *out)
{
    char path[64], buf[4096];
    struct procstat_stat st;
    memset(out, 0, sizeof(*out));
    out->pid = pid;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (read_small(path, buf, sizeof(buf)) <= 0)
        return LS_ERR_NOTFOUND;
    ls_err e = procstat_parse_stat(buf, &st);
    if (e != LS_OK)
        return e;
    snprintf(out->name, sizeof(out->name), "%s", st.comm);
    out->ppid = st.ppid;
    out->state = st.state;
    out->alive = st.state != 'Z' && st.state != 'X' && st.state != 'x';
    long page = sysconf(_SC_PAGESIZE);
    out->rss_bytes = st.rss_pages * (uint64_t)(page > 0 ? page : 4096);
    out->utime_ticks = st.utime_ticks;
    out->stime_ticks = st.stime_ticks;
    out->threads = st.num_threads;
    if (what & PROCSTAT_STATUS) {
        snprintf(path, sizeof(path), "/proc/%d/status", pid);
        if (read_small(path, buf, sizeof(buf)) > 0)
            (void)procstat_status_kb(buf, "VmHWM", &out->hwm_bytes);
    }
    if (what & PROCSTAT_FDS)
        out->fds = count_fds(pid);
    return LS_OK;
}

double procstat_ticks_pct(uint64_t ticks, double seconds)
{
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0 || seconds <= 0)
        return 0;
    return 100.0 * (double)ticks / (double)hz / seconds;
}

size_t procstat_thread_groups(int pid, struct procstat_group_count *out, size_t cap,
                              uint32_t *threads)
{
    char path[64];
    size_t n = 0;
    *threads = 0;
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char cpath[300], comm[64], group[sizeof(out->name)];
        snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/comm", pid, de->d_name);
        if (read_small(cpath, comm, sizeof(comm)) <= 0)
            continue;
        comm[strcspn(comm, "\n")] = '\0';
        if (procstat_is_tracer_thread(comm))
            continue;
        procstat_group_name(comm, group, sizeof(group));
        (*threads)++;
        size_t k = 0;
        while (k < n && strcmp(out[k].name, group) != 0)
            k++;
        if (k == n && n < cap) {
            memcpy(out[n].name, group, sizeof(group));
            out[n++].count = 0;
        }
        if (k < n)
            out[k].count++;
    }
    closedir(d);
    return n;
}

char *procstat_groups_text(const struct procstat_group_count *g, size_t n, char *buf, size_t cap)
{
    size_t off = 0;
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < n && off < cap; i++) {
        int w = snprintf(buf + off, cap - off, "%s%s x%" PRIu32, i ? ", " : "", g[i].name, g[i].count);
        if (w < 0)
            break;
        off += (size_t)w;
    }
    return buf;
}

size_t procstat_task_ids(int pid, int *out, size_t cap)
{
    char path[64];
    size_t n = 0;
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < cap)
        if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
            out[n++] = atoi(de->d_name);
    closedir(d);
    return n;
}

size_t procstat_children(int pid, int *out, size_t cap)
{
    char path[64];
    size_t n = 0;
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < cap) {
        if (de->d_name[0] == '.')
            continue;
        char cpath[300], buf[4096];
        snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", pid, de->d_name);
        if (read_small(cpath, buf, sizeof(buf)) <= 0)
            continue;
        for (const char *p = buf; *p && n < cap;) {
            char *end = NULL;
            long c = strtol(p, &end, 10);
            if (end == p)
                break;
            if (c > 0)
                out[n++] = (int)c;
            p = end;
        }
    }
    closedir(d);
    return n;
}
