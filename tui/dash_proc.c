/*
 * dash_proc: the target process's figures from /proc, for the Target screen.
 * Plain file reading: no curses here.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dash.h"

static bool read_status(int pid, struct dash_proc_info *out)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Name:", 5) == 0) {
            char *p = line + 5;
            p += strspn(p, " \t");
            p[strcspn(p, "\n")] = '\0';
            snprintf(out->name, sizeof(out->name), "%s", p);
        } else if (strncmp(line, "State:", 6) == 0) {
            char *p = line + 6;
            p += strspn(p, " \t");
            out->state = *p ? *p : '?';
        } else if (strncmp(line, "VmRSS:", 6) == 0) {
            out->rss_kb = strtoull(line + 6, NULL, 10);
        } else if (strncmp(line, "Threads:", 8) == 0) {
            out->threads = strtoull(line + 8, NULL, 10);
        }
    }
    fclose(f);
    return true;
}

/* utime and stime: fields 14 and 15, counted after the ")" that ends the command name. */
static bool read_stat(int pid, struct dash_proc_info *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return false;
    p++;
    /* after ")": field 3 (state) is the first; utime is field 14 */
    unsigned long long ut = 0, st = 0;
    int field = 2;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        field++;
        if (field == 14)
            ut = strtoull(tok, NULL, 10);
        else if (field == 15) {
            st = strtoull(tok, NULL, 10);
            break;
        }
    }
    out->cpu_ticks = ut + st;
    return field == 15;
}

static uint64_t count_fds(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    uint64_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n;
}

bool dash_proc_read(int pid, struct dash_proc_info *out)
{
    memset(out, 0, sizeof(*out));
    out->pid = pid;
    if (!read_status(pid, out) || !read_stat(pid, out))
        return false;
    /* A reaped-but-listed or zombie process has no memory to show. */
    out->alive = out->state != 'Z' && out->state != 'X';
    out->fds = count_fds(pid);
    return out->alive;
}
