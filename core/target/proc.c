/*
 * proc: launching, watching and stopping the target process.
 */
#include "target/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"

extern char **environ;

struct ls_proc {
    pid_t pid;
    int in_fd;      /* our write end of its stdin */
    int out_fd;     /* our read end of its stdout */
    int log_fd;     /* unlinked file holding its stderr (and stdout when not piped) */
    bool exited;
    int status;
};

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The value of key in environ-style vars (n entries), or NULL. */
static const char *env_lookup(char *const *vars, size_t n, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < n; i++)
        if (strncmp(vars[i], key, kl) == 0 && vars[i][kl] == '=')
            return vars[i] + kl + 1;
    return NULL;
}

/* True if key is set again by a later override (o->env then the injection). */
static bool overridden_later(const struct ls_proc_opts *o, size_t j, const char *key)
{
    size_t total = o->env_count + (o->inject ? o->inject->env_count : 0);
    for (size_t m = j + 1; m < total; m++) {
        const struct scn_kv *kv = m < o->env_count ? &o->env[m] : &o->inject->env[m - o->env_count];
        if (strcmp(kv->key, key) == 0)
            return true;
    }
    return o->inject && o->inject->preload && strcmp(key, "LD_PRELOAD") == 0;
}

/* Builds environ plus overrides; the strings of o->env are borrowed, the array is ours. */
static char **build_env(const struct ls_proc_opts *o, char **owned, size_t *owned_n)
{
    size_t n = 0;
    while (environ[n])
        n++;
    size_t inj = o->inject ? o->inject->env_count : 0;
    char **envp = calloc(n + o->env_count + inj + 2, sizeof(*envp));
    if (!envp)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (size_t j = 0; j < o->env_count + inj; j++) {
            const struct scn_kv *kv = j < o->env_count ? &o->env[j] : &o->inject->env[j - o->env_count];
            size_t kl = strlen(kv->key);
            if (strncmp(environ[i], kv->key, kl) == 0 && environ[i][kl] == '=')
                replaced = true;
        }
        if (o->inject && o->inject->preload && strncmp(environ[i], "LD_PRELOAD=", 11) == 0)
            replaced = true;
        if (!replaced)
            envp[k++] = environ[i];
    }
    *owned_n = 0;
    if (o->inject && o->inject->preload) {
        /* Ours first, then what the scenario's env or our own environment preloads. */
        const char *had = NULL;
        for (size_t j = 0; j < o->env_count; j++)
            if (strcmp(o->env[j].key, "LD_PRELOAD") == 0)
                had = o->env[j].value;
        if (had == NULL)
            had = env_lookup(environ, n, "LD_PRELOAD");
        size_t len = strlen(o->inject->preload) + (had ? strlen(had) + 1 : 0) + 12;
        char *kv = malloc(len);
        if (kv) {
            snprintf(kv, len, "LD_PRELOAD=%s%s%s", o->inject->preload, had && *had ? ":" : "",
                     had ? had : "");
            owned[(*owned_n)++] = kv;
            envp[k++] = kv;
        }
    }
    for (size_t j = 0; j < inj; j++) {
        const struct scn_kv *e = &o->inject->env[j];
        if (overridden_later(o, o->env_count + j, e->key))
            continue;
        size_t len = strlen(e->key) + strlen(e->value) + 2;
        char *kv = malloc(len);
        if (!kv)
            break;
        snprintf(kv, len, "%s=%s", e->key, e->value);
        owned[(*owned_n)++] = kv;
        envp[k++] = kv;
    }
    for (size_t j = 0; j < o->env_count; j++) {
        if (overridden_later(o, j, o->env[j].key))
            continue;
        size_t len = strlen(o->env[j].key) + strlen(o->env[j].value) + 2;
        char *kv = malloc(len);
        if (!kv)
            break;
        snprintf(kv, len, "%s=%s", o->env[j].key, o->env[j].value);
        owned[(*owned_n)++] = kv;
        envp[k++] = kv;
    }
    envp[k] = NULL;
    return envp;
}

ls_err proc_spawn(const struct ls_proc_opts *o, struct ls_proc **out, char *err, size_t errcap)
{
    ls_err rc = LS_ERR_SPAWN;
    int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1};
    char **envp = NULL;
    char *owned[256];
    size_t owned_n = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_init = false, attr_init = false;
    struct ls_proc *p = calloc(1, sizeof(*p));
    *out = NULL;
    if (!p)
        return LS_ERR_NOMEM;
    p->in_fd = p->out_fd = p->log_fd = -1;
    if (!o->argv || !o->argv[0]) {
        snprintf(err, errcap, "no command to launch");
        rc = LS_ERR_INVALID;
        goto out;
    }
    if (o->env_count + (o->inject ? o->inject->env_count + 1 : 0) > 256) {
        snprintf(err, errcap, "too many environment entries (%zu, at most 256)", o->env_count);
        rc = LS_ERR_INVALID;
        goto out;
    }

    char tmpl[] = "/tmp/loadscope-target-XXXXXX";
    p->log_fd = mkostemp(tmpl, O_CLOEXEC);
    if (p->log_fd < 0) {
        snprintf(err, errcap, "cannot create the target's log file: %s", strerror(errno));
        rc = LS_ERR_IO;
        goto out;
    }
    unlink(tmpl);

    if (o->pipe_stdio) {
        if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0) {
            snprintf(err, errcap, "pipe: %s", strerror(errno));
            rc = LS_ERR_IO;
            goto out;
        }
    }
    envp = build_env(o, owned, &owned_n);
    if (!envp) {
        rc = LS_ERR_NOMEM;
        goto out;
    }
    posix_spawn_file_actions_init(&fa);
    fa_init = true;
    posix_spawnattr_init(&attr);
    attr_init = true;
    if (o->pipe_stdio) {
        posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    } else if (!o->inherit_stdio) {
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, p->log_fd, 1);
    }
    if (!o->inherit_stdio)
        posix_spawn_file_actions_adddup2(&fa, p->log_fd, 2);
    if (o->cwd)
        posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    /* Its own process group: the terminal's SIGINT is ours to handle, and we stop the whole group. */
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    int e = posix_spawnp(&p->pid, o->argv[0], &fa, &attr, o->argv, envp);
    if (e != 0) {
        snprintf(err, errcap, "cannot launch \"%s\"%s%s: %s", o->argv[0], o->cwd ? " in " : "",
                 o->cwd ? o->cwd : "", strerror(e));
        goto out;
    }
    if (o->pipe_stdio) {
        p->in_fd = in_pipe[1];
        p->out_fd = out_pipe[0];
        in_pipe[1] = out_pipe[0] = -1;
        fcntl(p->in_fd, F_SETFL, fcntl(p->in_fd, F_GETFL) | O_NONBLOCK);
        fcntl(p->out_fd, F_SETFL, fcntl(p->out_fd, F_GETFL) | O_NONBLOCK);
    }
    *out = p;
    p = NULL;
    rc = LS_OK;
out:
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_init)
        posix_spawnattr_destroy(&attr);
    for (size_t i = 0; i < owned_n; i++)
        free(owned[i]);
    free(envp);
    for (int i = 0; i < 2; i++) {
        if (in_pipe[i] >= 0)
            close(in_pipe[i]);
        if (out_pipe[i] >= 0)
            close(out_pipe[i]);
    }
    if (p) {
        if (p->log_fd >= 0)
            close(p->log_fd);
        free(p);
    }
    return rc;
}

pid_t proc_pid(const struct ls_proc *p)
{
    return p->pid;
}

int proc_stdin_fd(const struct ls_proc *p)
{
    return p->in_fd;
}

int proc_stdout_fd(const struct ls_proc *p)
{
    return p->out_fd;
}

void proc_close_stdin(struct ls_proc *p)
{
    if (p && p->in_fd >= 0) {
        close(p->in_fd);
        p->in_fd = -1;
    }
}

bool proc_poll_exit(struct ls_proc *p, int *status)
{
    if (!p->exited) {
        int st;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->exited = true;
            p->status = st;
        } else if (r < 0 && errno == ECHILD) {
            p->exited = true;
            p->status = -1;
        }
    }
    if (p->exited && status)
        *status = p->status;
    return p->exited;
}

static bool wait_exit(struct ls_proc *p, uint64_t grace_ns)
{
    uint64_t deadline = ls_now_ns() + grace_ns;
    while (!proc_poll_exit(p, NULL)) {
        if (ls_now_ns() >= deadline)
            return false;
        sleep_ns(10 * 1000 * 1000);
    }
    return true;
}

int proc_stop(struct ls_proc *p, uint64_t grace_ns)
{
    proc_close_stdin(p);
    if (!wait_exit(p, grace_ns)) {
        kill(-p->pid, SIGTERM);
        if (!wait_exit(p, grace_ns)) {
            kill(-p->pid, SIGKILL);
            wait_exit(p, 5ull * 1000000000ull);
        }
    }
    /* Whatever it left behind in its group goes too. */
    kill(-p->pid, SIGKILL);
    return p->exited ? p->status : -1;
}

void proc_log_tail(struct ls_proc *p, char *buf, size_t cap)
{
    if (cap == 0)
        return;
    buf[0] = '\0';
    if (!p || p->log_fd < 0)
        return;
    struct stat stt;
    if (fstat(p->log_fd, &stt) != 0)
        return;
    off_t want = (off_t)(cap - 1);
    off_t from = stt.st_size > want ? stt.st_size - want : 0;
    ssize_t n = pread(p->log_fd, buf, (size_t)(stt.st_size - from), from);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
    /* Start at a line boundary when we cut, and drop the final newline. */
    if (from > 0) {
        char *nl = strchr(buf, '\n');
        if (nl)
            memmove(buf, nl + 1, strlen(nl + 1) + 1);
    }
    size_t len = strlen(buf);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
}

void proc_describe_status(int status, char *buf, size_t cap)
{
    if (status == -1)
        snprintf(buf, cap, "exit status unknown");
    else if (WIFEXITED(status))
        snprintf(buf, cap, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, cap, "stopped (wait status %d)", status);
}

void proc_free(struct ls_proc *p)
{
    if (!p)
        return;
    if (!proc_poll_exit(p, NULL)) {
        kill(-p->pid, SIGKILL);
        wait_exit(p, 5ull * 1000000000ull);
    }
    proc_close_stdin(p);
    if (p->out_fd >= 0)
        close(p->out_fd);
    if (p->log_fd >= 0)
        close(p->log_fd);
    free(p);
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
        for (struct addrinfo *a = ai; a; a = a->ai_next) {
            int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
            if (fd < 0)
                continue;
            int ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
            close(fd);
            if (ok) {
                rc = LS_OK;
                goto out;
            }
        }
        int st;
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
        sleep_ns(20 * 1000 * 1000);
    }
out:
    freeaddrinfo(ai);
    return rc;
}
