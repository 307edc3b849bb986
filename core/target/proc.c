/*
 * proc: launching, watching and stopping the target process.
 *
 * Every target is forked by one spawner thread, started on first use and
 * kept for the life of the process. The reason is PR_SET_PDEATHSIG, which
 * makes the target die with loadscope (kill -9 included): the kernel sends
 * that signal when the thread that forked the child ends, not the process,
 * so a target forked by a load worker would be killed when that worker's
 * run ends. The spawner forks with vfork (the parent's pages are not copied,
 * nor made copy-on-write under the load workers), and the child does only
 * system calls on data prepared before the fork: it resets every signal to
 * its default, takes its own process group, sets the parent-death signal,
 * arranges fds 0-2, changes directory and execs, and reports a failure
 * (which step, errno) through a close-on-exec pipe.
 *
 * The spawner is the one piece of process-wide state here: a queue of
 * requests under a mutex, and the thread.
 */
#include "target/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "target/proc_int.h"
#include "util/clock.h"

extern char **environ;

/* The signal a target gets when loadscope ends without stopping it. SIGTERM
 * rather than SIGKILL: wrappers (npx, uvx, a shell) pass it on to the server
 * they started, where SIGKILL would leave that server behind. */
#define PROC_DEATH_SIGNAL SIGTERM

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

/* ---- the spawner thread ------------------------------------------------ */

enum spawn_step { SPAWN_SETPGID = 1, SPAWN_DEATHSIG, SPAWN_PARENT_GONE, SPAWN_DUP, SPAWN_CHDIR,
                  SPAWN_EXEC };

/* One fork-and-exec, prepared by proc_spawn and carried out by the spawner. */
struct spawn_req {
    char *const *argv;
    char *const *envp;
    const char *cwd;      /* NULL: inherit */
    int fd_src[3];        /* what becomes fds 0, 1, 2 (-1: keep ours) */
    pid_t parent;         /* our pid: the child checks it still has that parent */
    /* results */
    pid_t pid;            /* the child, or -1 */
    int step;             /* 0, or the enum spawn_step that failed */
    int err;              /* its errno */
    bool done;
    struct spawn_req *next;
};

static pthread_mutex_t spawner_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t spawner_cv = PTHREAD_COND_INITIALIZER;
static struct spawn_req *spawner_queue; /* under spawner_mu */
/* Under spawner_mu: the process the spawner thread runs in (a fork has none), 0 before the first. */
static pid_t spawner_pid;
static bool spawner_running;            /* under spawner_mu: whether it could be started there */

/* In the vfork child: says which step failed and why, and ends. */
__attribute__((noreturn)) static void child_fail(int errfd, int step)
{
    int msg[2] = {step, errno};
    ssize_t w = write(errfd, msg, sizeof(msg));
    (void)w;
    _exit(127);
}

/* The vfork child: system calls only, on what the request holds; never returns. */
__attribute__((noreturn)) static void child_exec(const struct spawn_req *r, int errfd)
{
    struct sigaction dfl;
    sigset_t none;

    /* Every signal was blocked by the spawner: reset them while none can arrive. */
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)sigaction(sig, &dfl, NULL); /* the C library's own signals refuse: fine */
    if (setpgid(0, 0) != 0)
        child_fail(errfd, SPAWN_SETPGID);
    if (prctl(PR_SET_PDEATHSIG, PROC_DEATH_SIGNAL) != 0)
        child_fail(errfd, SPAWN_DEATHSIG);
    /* loadscope may have died before the line above: then nobody would ever stop us. */
    if (getppid() != r->parent) {
        errno = ESRCH;
        child_fail(errfd, SPAWN_PARENT_GONE);
    }
    for (int fd = 0; fd < 3; fd++) {
        int src = r->fd_src[fd];

        if (src < 0)
            continue;
        if (src == fd ? fcntl(fd, F_SETFD, 0) != 0 : dup2(src, fd) < 0)
            child_fail(errfd, SPAWN_DUP);
    }
    if (r->cwd != NULL && chdir(r->cwd) != 0)
        child_fail(errfd, SPAWN_CHDIR);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvpe(r->argv[0], r->argv, r->envp);
    child_fail(errfd, SPAWN_EXEC);
}

/* Forks and execs one request (on the spawner thread, every signal blocked). */
static void spawn_one(struct spawn_req *r)
{
    int errpipe[2];
    pid_t pid;

    r->pid = -1;
    if (pipe2(errpipe, O_CLOEXEC) != 0) {
        r->step = SPAWN_EXEC;
        r->err = errno;
        return;
    }
    pid = vfork();
    if (pid == 0)
        child_exec(r, errpipe[1]);
    close(errpipe[1]);
    if (pid < 0) {
        r->step = SPAWN_EXEC;
        r->err = errno;
        close(errpipe[0]);
        return;
    }
    /* vfork returned: the child has exec'd (the pipe closed empty) or failed. */
    int msg[2];
    ssize_t n;

    do
        n = read(errpipe[0], msg, sizeof(msg));
    while (n < 0 && errno == EINTR);
    close(errpipe[0]);
    if (n == (ssize_t)sizeof(msg)) {
        r->step = msg[0];
        r->err = msg[1];
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        return;
    }
    r->pid = pid;
}

static void *spawner_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&spawner_mu);
    for (;;) {
        while (spawner_queue == NULL)
            pthread_cond_wait(&spawner_cv, &spawner_mu);
        struct spawn_req *r = spawner_queue;

        spawner_queue = r->next;
        pthread_mutex_unlock(&spawner_mu);
        spawn_one(r);
        pthread_mutex_lock(&spawner_mu);
        r->done = true;
        pthread_cond_broadcast(&spawner_cv);
    }
    return NULL;
}

/* Starts the spawner in this process if it has none; under spawner_mu. */
static void spawner_start_locked(void)
{
    pthread_attr_t attr;
    pthread_t t;
    sigset_t all, old;

    if (spawner_pid == getpid())
        return;
    /* After a fork: the parent's spawner is not here, and its wait left marks on the condition. */
    if (spawner_pid != 0)
        pthread_cond_init(&spawner_cv, NULL);
    spawner_pid = getpid();
    spawner_queue = NULL;
    spawner_running = false;

    /* Signals are for the other threads; the spawner's children start with all blocked. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_attr_init(&attr) == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        spawner_running = pthread_create(&t, &attr, spawner_main, NULL) == 0;
        pthread_attr_destroy(&attr);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/*
 * Runs r on the spawner thread and waits for it. Without a spawner (the
 * thread could not be created) it forks here, every signal blocked the same
 * way; the target then dies when this thread does.
 */
static void spawn_run(struct spawn_req *r)
{
    pthread_mutex_lock(&spawner_mu);
    spawner_start_locked();
    bool running = spawner_running;
    pthread_mutex_unlock(&spawner_mu);
    if (!running) {
        sigset_t all, old;

        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        spawn_one(r);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return;
    }
    pthread_mutex_lock(&spawner_mu);
    r->next = NULL;
    r->done = false;
    struct spawn_req **tail = &spawner_queue;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = r;
    pthread_cond_broadcast(&spawner_cv);
    while (!r->done)
        pthread_cond_wait(&spawner_cv, &spawner_mu);
    pthread_mutex_unlock(&spawner_mu);
}

/* ---- launching --------------------------------------------------------- */

ls_err proc_spawn(const struct ls_proc_opts *o, struct ls_proc **out, char *err, size_t errcap)
{
    ls_err rc = LS_ERR_SPAWN;
    int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, log_pipe[2] = {-1, -1};
    int null_fd = -1;
    char **envp = NULL;
    char *owned[256];
    size_t owned_n = 0;
    struct spawn_req req;
    struct ls_proc *p = calloc(1, sizeof(*p));

    *out = NULL;
    if (!p)
        return LS_ERR_NOMEM;
    p->in_fd = p->out_fd = p->log_fd = p->wake_fd = -1;
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
    if (pthread_mutex_init(&p->log_mu, NULL) != 0) {
        rc = LS_ERR_NOMEM;
        goto out;
    }
    p->log_mu_ready = true;

    memset(&req, 0, sizeof(req));
    req.fd_src[0] = req.fd_src[1] = req.fd_src[2] = -1;
    if (!o->inherit_stdio) {
        if (pipe2(log_pipe, O_CLOEXEC) != 0) {
            snprintf(err, errcap, "cannot create the pipe for the target's output: %s",
                     strerror(errno));
            rc = LS_ERR_IO;
            goto out;
        }
        req.fd_src[2] = log_pipe[1];
    }
    if (o->pipe_stdio) {
        if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0) {
            snprintf(err, errcap, "pipe: %s", strerror(errno));
            rc = LS_ERR_IO;
            goto out;
        }
        req.fd_src[0] = in_pipe[0];
        req.fd_src[1] = out_pipe[1];
    } else if (!o->inherit_stdio) {
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0) {
            snprintf(err, errcap, "/dev/null: %s", strerror(errno));
            rc = LS_ERR_IO;
            goto out;
        }
        req.fd_src[0] = null_fd;
        req.fd_src[1] = log_pipe[1];
    }
    envp = build_env(o, owned, &owned_n);
    if (!envp) {
        rc = LS_ERR_NOMEM;
        goto out;
    }
    req.argv = o->argv;
    req.envp = envp;
    req.cwd = o->cwd;
    req.parent = getpid();
    spawn_run(&req);
    if (req.pid < 0) {
        if (req.step == SPAWN_CHDIR)
            snprintf(err, errcap, "cannot launch \"%s\": cannot change to %s: %s", o->argv[0],
                     o->cwd, strerror(req.err));
        else
            snprintf(err, errcap, "cannot launch \"%s\"%s%s: %s%s", o->argv[0],
                     o->cwd ? " in " : "", o->cwd ? o->cwd : "",
                     req.step == SPAWN_EXEC ? "" : "setting up its process: ",
                     strerror(req.err));
        goto out;
    }
    p->pid = req.pid;
    p->start_ticks = proc_start_ticks(p->pid);
    if (o->pipe_stdio) {
        p->in_fd = in_pipe[1];
        p->out_fd = out_pipe[0];
        p->had_stdin = true;
        in_pipe[1] = out_pipe[0] = -1;
        fcntl(p->in_fd, F_SETFL, fcntl(p->in_fd, F_GETFL) | O_NONBLOCK);
        fcntl(p->out_fd, F_SETFL, fcntl(p->out_fd, F_GETFL) | O_NONBLOCK);
    }
    if (log_pipe[0] >= 0) {
        close(log_pipe[1]);
        log_pipe[1] = -1;
        p->log_fd = log_pipe[0];
        log_pipe[0] = -1;
        if (proc_log_start(p, err, errcap) != LS_OK) {
            /* The target runs: stop it rather than leave it writing into a pipe nobody reads. */
            kill(-p->pid, SIGKILL);
            while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR) {
            }
            rc = LS_ERR_IO;
            goto out;
        }
    }
    *out = p;
    p = NULL;
    rc = LS_OK;
out:
    for (size_t i = 0; i < owned_n; i++)
        free(owned[i]);
    free(envp);
    for (int i = 0; i < 2; i++) {
        if (in_pipe[i] >= 0)
            close(in_pipe[i]);
        if (out_pipe[i] >= 0)
            close(out_pipe[i]);
        if (log_pipe[i] >= 0)
            close(log_pipe[i]);
    }
    if (null_fd >= 0)
        close(null_fd);
    if (p) {
        proc_log_stop(p);
        if (p->in_fd >= 0)
            close(p->in_fd);
        if (p->out_fd >= 0)
            close(p->out_fd);
        if (p->log_mu_ready)
            pthread_mutex_destroy(&p->log_mu);
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
    /* Only a stdio server is asked by closing its stdin; waiting on any other is time lost. */
    bool asked = p->had_stdin;

    proc_close_stdin(p);
    if (!asked || !wait_exit(p, grace_ns)) {
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
    proc_log_stop(p);
    if (p->log_mu_ready)
        pthread_mutex_destroy(&p->log_mu);
    free(p);
}

uint64_t proc_start_ticks(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long ticks = 0;
    ssize_t n;
    int fd;

    if (pid <= 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: count from its last ')'. */
    char *q = strrchr(buf, ')');
    if (q == NULL)
        return 0;
    /* Fields 3 to 21 (state ... itrealvalue), then 22: starttime. */
    q++;
    for (int field = 3; field <= 22 && q != NULL; field++) {
        while (*q == ' ')
            q++;
        if (field == 22) {
            ticks = strtoull(q, NULL, 10);
            break;
        }
        q = strchr(q, ' ');
    }
    return (uint64_t)ticks;
}
