/*
 * proc_port: waiting for a launched HTTP target to listen, and making sure
 * that what answers is the target.
 *
 * A port that answers proves only that something listens. After a kill -9
 * an earlier run's server may still hold it; the new target then fails to
 * bind (or, with SO_REUSEPORT, shares the port and gets part of the load),
 * and a run would measure the stale server under the new target's pid. So
 * once the port answers, the listening sockets on it are looked up in
 * /proc/net/tcp and tcp6 and their processes in /proc/PID/fd: a process
 * outside the target's group (and not its descendant) that started before
 * the target is refused, naming it. A listener whose process cannot be seen
 * (another user's, as a container runtime's port proxy) is let through.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "target/proc_int.h"
#include "util/clock.h"

#define MAX_LISTENERS 16

/* A listening socket on the port: its inode, and its local address. */
struct listener {
    unsigned long inode;
    int family;                 /* AF_INET or AF_INET6 */
    unsigned char addr[16];     /* 4 or 16 bytes, network order */
};

static void nap_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Parses /proc/net/tcp or tcp6 for sockets listening on port; appends to ls. */
static void read_listeners(const char *path, int family, int port, struct listener *ls, size_t *n)
{
    char line[512];
    FILE *f = fopen(path, "re");

    if (f == NULL)
        return;
    /* "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode" */
    if (fgets(line, sizeof(line), f) == NULL) {
        fclose(f);
        return;
    }
    while (*n < MAX_LISTENERS && fgets(line, sizeof(line), f) != NULL) {
        char local[64], remote[64];
        unsigned lport, st, uid;
        unsigned long inode;
        int used;

        if (sscanf(line, " %*s %63[0-9A-Fa-f]:%x %63s %x %*s %*s %*s %u %*s %lu%n", local, &lport,
                   remote, &st, &uid, &inode, &used) < 6)
            continue;
        if (st != 0x0A || (int)lport != port) /* 0A: TCP_LISTEN */
            continue;
        struct listener *l = &ls[*n];
        size_t words = family == AF_INET ? 1 : 4;

        if (strlen(local) != words * 8)
            continue;
        /* The kernel prints each 32-bit word of the address as a native-endian number. */
        for (size_t w = 0; w < words; w++) {
            char hex[9];
            uint32_t v;

            memcpy(hex, local + w * 8, 8);
            hex[8] = '\0';
            v = (uint32_t)strtoul(hex, NULL, 16);
            memcpy(l->addr + w * 4, &v, 4);
        }
        l->family = family;
        l->inode = inode;
        (*n)++;
    }
    fclose(f);
}

static bool all_zero(const unsigned char *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != 0)
            return false;
    return true;
}

/* True if a connection to one of ai's addresses could land on listener l. */
static bool listener_serves(const struct listener *l, const struct addrinfo *ai)
{
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (all_zero(l->addr, l->family == AF_INET ? 4 : 16))
        return true; /* the wildcard address */
    for (const struct addrinfo *a = ai; a != NULL; a = a->ai_next) {
        if (a->ai_family == AF_INET) {
            const unsigned char *v4 = (const unsigned char *)&((const struct sockaddr_in *)(const void *)a->ai_addr)->sin_addr;

            if (l->family == AF_INET && memcmp(l->addr, v4, 4) == 0)
                return true;
            if (l->family == AF_INET6 && memcmp(l->addr, v4mapped, 12) == 0 &&
                memcmp(l->addr + 12, v4, 4) == 0)
                return true;
        } else if (a->ai_family == AF_INET6 && l->family == AF_INET6) {
            const unsigned char *v6 = (const unsigned char *)&((const struct sockaddr_in6 *)(const void *)a->ai_addr)->sin6_addr;

            if (memcmp(l->addr, v6, 16) == 0)
                return true;
        }
    }
    return false;
}

/* Reads fields of /proc/PID/stat: parent pid and process group. False if pid is gone. */
static bool stat_ids(pid_t pid, pid_t *ppid, pid_t *pgrp)
{
    char path[64], buf[1024];
    int fd, pp, pg;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *q = strrchr(buf, ')');
    if (q == NULL || sscanf(q + 1, " %*c %d %d", &pp, &pg) != 2)
        return false;
    *ppid = pp;
    *pgrp = pg;
    return true;
}

/* True if pid is the target, in its process group, or descends from it. */
static bool is_ours(const struct ls_proc *p, pid_t pid)
{
    for (int depth = 0; depth < 64 && pid > 1; depth++) {
        pid_t ppid, pgrp;

        if (pid == p->pid)
            return true;
        if (!stat_ids(pid, &ppid, &pgrp))
            return false;
        if (pgrp == p->pid)
            return true;
        pid = ppid;
    }
    return false;
}

/* The process holding socket inode, or 0 when none can be seen. */
static pid_t socket_owner(unsigned long inode)
{
    char want[64];
    pid_t found = 0;
    DIR *proc = opendir("/proc");
    struct dirent *de;

    if (proc == NULL)
        return 0;
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    while (found == 0 && (de = readdir(proc)) != NULL) {
        char fddir[300];
        DIR *fds;
        struct dirent *fe;

        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        snprintf(fddir, sizeof(fddir), "/proc/%s/fd", de->d_name);
        fds = opendir(fddir);
        if (fds == NULL)
            continue; /* gone, or not ours to look into */
        while ((fe = readdir(fds)) != NULL) {
            char link[600], target[64];
            ssize_t n;

            if (fe->d_name[0] == '.')
                continue;
            snprintf(link, sizeof(link), "%s/%s", fddir, fe->d_name);
            n = readlink(link, target, sizeof(target) - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            if (strcmp(target, want) == 0) {
                found = (pid_t)atoi(de->d_name);
                break;
            }
        }
        closedir(fds);
    }
    closedir(proc);
    return found;
}

/* "node server.mjs --port 8080" from /proc/PID/cmdline, at most cap-1 bytes. */
static void cmdline_of(pid_t pid, char *buf, size_t cap)
{
    char path[64];
    ssize_t n;
    int fd;

    buf[0] = '\0';
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0) {
        buf[0] = '\0';
        return;
    }
    while (n > 0 && buf[n - 1] == '\0')
        n--;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0' || !isprint((unsigned char)buf[i]))
            buf[i] = buf[i] == '\0' ? ' ' : '?';
    buf[n] = '\0';
}

/*
 * Looks for a process, older than p and not p's, listening where a
 * connection to ai would land. Returns its pid (and its command line in
 * cmd), or 0.
 */
static pid_t stale_listener(const struct ls_proc *p, int port, const struct addrinfo *ai,
                            char *cmd, size_t cmdcap)
{
    struct listener ls[MAX_LISTENERS];
    size_t n = 0;

    read_listeners("/proc/net/tcp", AF_INET, port, ls, &n);
    read_listeners("/proc/net/tcp6", AF_INET6, port, ls, &n);
    for (size_t i = 0; i < n; i++) {
        if (!listener_serves(&ls[i], ai))
            continue;
        pid_t owner = socket_owner(ls[i].inode);
        if (owner <= 0 || is_ours(p, owner))
            continue;
        uint64_t started = proc_start_ticks(owner);
        /* Started in the same tick or later: it may be the target's doing (a port proxy). */
        if (started == 0 || p->start_ticks == 0 || started >= p->start_ticks)
            continue;
        cmdline_of(owner, cmd, cmdcap);
        return owner;
    }
    return 0;
}

ls_err proc_wait_port(struct ls_proc *p, const char *host, int port, uint64_t timeout_ns, char *err,
                      size_t errcap)
{
    uint64_t deadline = ls_now_ns() + timeout_ns;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errcap, "cannot resolve %s: %s", host, gai_strerror(gai));
        return LS_ERR_INVALID;
    }
    ls_err rc = LS_ERR_TIMEOUT;
    for (;;) {
        bool answered = false;

        for (struct addrinfo *a = ai; a && !answered; a = a->ai_next) {
            int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
            if (fd < 0)
                continue;
            answered = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
            close(fd);
        }
        int st;
        if (answered && p == NULL) {
            rc = LS_OK;
            goto out;
        }
        if (answered) {
            char cmd[256], tail[1024];
            pid_t stale = stale_listener(p, port, ai, cmd, sizeof(cmd));

            if (stale > 0) {
                snprintf(err, errcap,
                         "%s:%d is served by another process, pid %d (%s), running since before "
                         "the target (pid %d) was launched: a server left from an earlier run? "
                         "Stop it or use another port; loadscope will not measure it in the "
                         "target's place",
                         host, port, (int)stale, cmd[0] ? cmd : "command not readable",
                         (int)p->pid);
                rc = LS_ERR_SPAWN;
                goto out;
            }
            if (!proc_poll_exit(p, &st)) {
                rc = LS_OK;
                goto out;
            }
            char how[96];
            proc_describe_status(st, how, sizeof(how));
            proc_log_tail(p, tail, sizeof(tail));
            snprintf(err, errcap,
                     "the target (pid %d) %s, yet %s:%d answers: another process serves that "
                     "port (a server left from an earlier run?); loadscope will not measure it "
                     "in the target's place%s%s",
                     (int)p->pid, how, host, port, tail[0] ? "; the target's last output:\n" : "",
                     tail);
            rc = LS_ERR_SPAWN;
            goto out;
        }
        if (p && proc_poll_exit(p, &st)) {
            char how[96], tail[1024];
            proc_describe_status(st, how, sizeof(how));
            proc_log_tail(p, tail, sizeof(tail));
            snprintf(err, errcap, "the target %s before listening on %s:%d%s%s", how, host, port,
                     tail[0] ? "; its last output:\n" : "", tail);
            rc = LS_ERR_SPAWN;
            goto out;
        }
        if (ls_now_ns() >= deadline) {
            snprintf(err, errcap, "nothing listened on %s:%d within %.1f s", host, port,
                     (double)timeout_ns / 1e9);
            goto out;
        }
        nap_ms(20);
    }
out:
    freeaddrinfo(ai);
    return rc;
}
