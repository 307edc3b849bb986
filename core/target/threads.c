/*
 * threads: the sampler thread (see threads.h).
 *
 * Each pass reads every watched process's tasks (procstat_tasks_pass) and
 * adds, per thread group of the current second, one observation of each
 * task's state (and of its system call when blocked); every tenth pass also
 * adds the task's CPU, run and wait clocks since they were last read. A second is closed by
 * the first pass that falls in the next one: its rows go to the sink, then
 * into the model under the lock. The sampler thread owns everything but the
 * model and the status, which the lock guards.
 */
#include "target/threads.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "target/procstat.h"
#include "util/clock.h"

#define MAX_PROCS 64
#define ACC_SYSCALLS 32
#define CLOCK_EVERY 10 /* passes: the clocks are read at 10 Hz when sampling at 100 */

/* A task between passes. */
struct task_state {
    int tid, pid;
    uint64_t start_ticks;
    bool have_base;             /* the clocks below were read (or are zero: a task created since) */
    uint64_t cpu_ns;            /* user + system, from schedstat's run clock or from ticks */
    uint64_t run_ns, wait_ns;   /* schedstat's clocks (0 without) */
    uint64_t seen_ns;           /* when its clocks were last read */
    uint64_t pass;              /* the pass it was last observed in */
};

/* A watched process. */
struct watched {
    int pid;
    struct procstat_tasks *pt;
    uint64_t passes;
    bool late;                  /* found after sampling began: its tasks are new */
};

/* A thread group within the current second. */
struct group_acc {
    int pid;
    char name[THREADS_NAME_CAP];
    uint32_t in_pass, threads_max, created;
    uint32_t samples, state_r, state_s, state_d, state_other;
    uint64_t cpu_ns, run_ns, wait_ns, thread_ns;
    bool all_sched;             /* every delta came with schedstat's clocks */
    uint32_t nsys;
    struct threads_syscall sys[ACC_SYSCALLS];
};

struct threads {
    struct threads_opts o;
    struct threads_sink sink;
    uint64_t period_ns;
    pthread_t th;
    bool started;
    _Atomic int stop;
    _Atomic uint64_t origin_ns;  /* CLOCK_MONOTONIC instant of second 0 */

    /* the sampler thread's */
    struct watched w[MAX_PROCS];
    size_t nw;
    struct task_state *ts;
    size_t nts, capts, hint;
    struct group_acc *acc;
    size_t nacc, capacc;
    bool have_cur;
    uint32_t cur_second, passes_in_sec;
    uint64_t span_ns;           /* wall time the second's clock passes covered (since the previous one) */
    uint64_t last_clock_ns;
    uint64_t pass_no, last_pass_ns;
    bool sched_seen, sys_seen, warned_sys;
    long hz_ticks;

    pthread_mutex_t lock;       /* guards what follows */
    struct threads_model *model;
    struct threads_status st;
};

/* ---- per-task bookkeeping -------------------------------------------------------- */

static struct task_state *task_find(struct threads *t, int tid)
{
    if (t->hint < t->nts && t->ts[t->hint].tid == tid)
        return &t->ts[t->hint++];
    for (size_t i = 0; i < t->nts; i++) {
        if (t->ts[i].tid == tid) {
            t->hint = i + 1;
            return &t->ts[i];
        }
    }
    return NULL;
}

static struct task_state *task_add(struct threads *t)
{
    if (t->nts == t->capts) {
        size_t nc = t->capts ? t->capts * 2 : 64;
        struct task_state *n = realloc(t->ts, nc * sizeof(*n));
        if (n == NULL)
            return NULL;
        t->ts = n;
        t->capts = nc;
    }
    struct task_state *s = &t->ts[t->nts++];
    memset(s, 0, sizeof(*s));
    return s;
}

/* Forgets tasks not seen in the last pass (they ended). */
static void task_sweep(struct threads *t)
{
    for (size_t i = 0; i < t->nts;) {
        if (t->ts[i].pass + 1 < t->pass_no)
            t->ts[i] = t->ts[--t->nts];
        else
            i++;
    }
    t->hint = 0;
}

static struct group_acc *acc_of(struct threads *t, int pid, const char *name)
{
    for (size_t i = 0; i < t->nacc; i++)
        if (t->acc[i].pid == pid && strcmp(t->acc[i].name, name) == 0)
            return &t->acc[i];
    if (t->nacc == t->capacc) {
        size_t nc = t->capacc ? t->capacc * 2 : 16;
        struct group_acc *n = realloc(t->acc, nc * sizeof(*n));
        if (n == NULL)
            return NULL;
        t->acc = n;
        t->capacc = nc;
    }
    struct group_acc *g = &t->acc[t->nacc++];
    memset(g, 0, sizeof(*g));
    g->pid = pid;
    snprintf(g->name, sizeof(g->name), "%s", name);
    g->all_sched = true;
    return g;
}

static void acc_syscall(struct group_acc *g, int nr)
{
    for (uint32_t i = 0; i < g->nsys; i++) {
        if (g->sys[i].nr == nr) {
            g->sys[i].samples++;
            return;
        }
    }
    if (g->nsys < ACC_SYSCALLS)
        g->sys[g->nsys++] = (struct threads_syscall){nr, 1};
}

/* ---- a pass -------------------------------------------------------------------------- */

struct pass_ctx {
    struct threads *t;
    struct watched *w;
    uint64_t now, dt;
    bool clock;                 /* a clock pass: CPU, run and wait clocks read */
};

static void on_task(void *ctx, const struct procstat_task *task)
{
    struct pass_ctx *pc = ctx;
    struct threads *t = pc->t;
    const struct procstat_stat *st = &task->st;
    if (procstat_is_tracer_thread(st->comm) || st->state == 'Z' || st->state == 'X')
        return;
    char name[THREADS_NAME_CAP];
    procstat_group_name(st->comm, name, sizeof(name));
    struct group_acc *g = acc_of(t, pc->w->pid, name);
    if (g == NULL)
        return;
    bool is_new = task->is_new || (pc->w->late && pc->w->passes == 0);
    struct task_state *s = task_find(t, st->pid);
    if (s != NULL && s->start_ticks != st->starttime_ticks) {
        s->tid = 0; /* a reused TID: start over */
        s = NULL;
        is_new = true;
    }
    if (s == NULL) {
        s = task_add(t);
        if (s == NULL)
            return;
        s->tid = st->pid;
        s->pid = pc->w->pid;
        s->start_ticks = st->starttime_ticks;
        /* A task created since sampling began has used its clocks since it began, within
         * the last period; one there from the start gets its baseline at a clock pass. */
        s->have_base = is_new;
        s->seen_ns = pc->now - pc->dt;
    }
    s->pass = t->pass_no;
    if (pc->clock) {
        uint64_t tick_ns = 1000000000ull / (uint64_t)t->hz_ticks;
        uint64_t cpu_ns = task->have_sched ? task->sched.run_ns
                                           : (st->utime_ticks + st->stime_ticks) * tick_ns;
        if (s->have_base) {
            g->cpu_ns += cpu_ns >= s->cpu_ns ? cpu_ns - s->cpu_ns : 0;
            if (task->have_sched) {
                g->run_ns += task->sched.run_ns >= s->run_ns ? task->sched.run_ns - s->run_ns : 0;
                g->wait_ns += task->sched.wait_ns >= s->wait_ns ? task->sched.wait_ns - s->wait_ns : 0;
            } else {
                g->all_sched = false;
            }
            g->thread_ns += pc->now - s->seen_ns;
        }
        s->have_base = true;
        s->cpu_ns = cpu_ns;
        s->run_ns = task->sched.run_ns;
        s->wait_ns = task->sched.wait_ns;
        s->seen_ns = pc->now;
        if (task->have_sched)
            t->sched_seen = true;
    }

    g->samples++;
    g->in_pass++;
    if (is_new)
        g->created++;
    switch (st->state) {
    case 'R': g->state_r++; break;
    case 'S': g->state_s++; break;
    case 'D': g->state_d++; break;
    default: g->state_other++; break;
    }
    if ((st->state == 'S' || st->state == 'D') && task->have_syscall) {
        acc_syscall(g, task->sys.nr);
        t->sys_seen = true;
    }
}

static int cmp_sys(const void *x, const void *y)
{
    const struct threads_syscall *a = x, *b = y;
    if (a->samples != b->samples)
        return a->samples > b->samples ? -1 : 1;
    return a->nr < b->nr ? -1 : a->nr > b->nr;
}

static double clamp01(double v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* Turns the current second's accumulators into rows, hands them over and starts afresh. */
static void close_second(struct threads *t)
{
    if (!t->have_cur)
        return;
    struct threads_group_second *rows = calloc(t->nacc ? t->nacc : 1, sizeof(*rows));
    size_t n = 0;
    for (size_t i = 0; rows && i < t->nacc; i++) {
        struct group_acc *g = &t->acc[i];
        if (g->samples == 0)
            continue;
        struct threads_group_second *r = &rows[n++];
        r->pid = g->pid;
        memcpy(r->name, g->name, sizeof(r->name));
        r->threads = g->threads_max;
        r->created = g->created;
        /* CPU over the wall time the second's passes covered (the first and last are partial) */
        uint64_t span = t->span_ns ? t->span_ns : 1000000000ull;
        r->cpu_pct = 100.0 * (double)g->cpu_ns / (double)span;
        r->samples = g->samples;
        r->state_r = g->state_r;
        r->state_s = g->state_s;
        r->state_d = g->state_d;
        r->state_other = g->state_other;
        if (g->all_sched && t->sched_seen && g->thread_ns > 0) {
            r->running = clamp01((double)g->run_ns / (double)g->thread_ns);
            r->runnable = clamp01((double)g->wait_ns / (double)g->thread_ns);
            if (r->running + r->runnable > 1)
                r->runnable = 1 - r->running;
            r->blocked = 1 - r->running - r->runnable;
        } else {
            r->running = (double)g->state_r / g->samples;
            r->runnable = 0;
            r->blocked = (double)(g->state_s + g->state_d) / g->samples;
        }
        qsort(g->sys, g->nsys, sizeof(g->sys[0]), cmp_sys);
        r->nsys = g->nsys < THREADS_TOP_SYSCALLS ? g->nsys : THREADS_TOP_SYSCALLS;
        memcpy(r->sys, g->sys, r->nsys * sizeof(r->sys[0]));
    }
    struct threads_second sec = {.second = t->cur_second, .passes = t->passes_in_sec,
                                 .have_sched = t->sched_seen, .have_syscall = t->sys_seen,
                                 .groups = rows, .ngroups = n};
    if (rows && t->sink.second)
        t->sink.second(t->sink.ctx, &sec);
    pthread_mutex_lock(&t->lock);
    if (rows && threads_model_add(t->model, &sec) != LS_OK)
        t->st.dropped_seconds++; /* out of memory: the screens miss a second, storage has it */
    pthread_mutex_unlock(&t->lock);
    free(rows);
    t->nacc = 0;
    t->have_cur = false;
    t->passes_in_sec = 0;
    t->span_ns = 0;
    task_sweep(t);
}

static void watch_add(struct threads *t, int pid, bool late)
{
    if (t->nw >= MAX_PROCS)
        return;
    for (size_t i = 0; i < t->nw; i++)
        if (t->w[i].pid == pid)
            return;
    struct procstat_tasks *pt = NULL;
    if (procstat_tasks_open(pid, PROCSTAT_TASK_SYSCALL | PROCSTAT_TASK_SCHED, &pt) != LS_OK)
        return;
    t->w[t->nw++] = (struct watched){.pid = pid, .pt = pt, .late = late};
}

/* Watches the descendants of every watched process not yet watched. */
static void find_children(struct threads *t)
{
    for (size_t i = 0; i < t->nw; i++) {
        int kids[64];
        size_t n = procstat_children(t->w[i].pid, kids, 64);
        for (size_t k = 0; k < n; k++)
            watch_add(t, kids[k], true);
    }
}

static void warn_syscalls(struct threads *t)
{
    for (size_t i = 0; i < t->nw && !t->warned_sys; i++) {
        int e = procstat_tasks_syscall_errno(t->w[i].pt);
        if (e == 0)
            continue;
        t->warned_sys = true;
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "the system calls of process %d's threads cannot be read (/proc/%d/task/*/syscall: "
                 "%s): blocked threads are shown without the call they wait in (loadscope must be "
                 "allowed to ptrace the target; it is when it launched it)",
                 t->w[i].pid, t->w[i].pid, strerror(e));
        pthread_mutex_lock(&t->lock);
        snprintf(t->st.warning, sizeof(t->st.warning), "%s", msg);
        pthread_mutex_unlock(&t->lock);
        if (t->sink.event)
            t->sink.event(t->sink.ctx, "threads_warning", msg);
    }
}

/*
 * One pass over every watched process at now. States and system calls are
 * observed at every pass; the clocks (schedstat, CPU ticks) are cumulative,
 * so they are read at every CLOCK_EVERY-th pass only, which saves a third
 * of a pass.
 */
static void pass(struct threads *t, uint64_t now)
{
    uint64_t origin = atomic_load(&t->origin_ns);
    uint32_t sec = now > origin ? (uint32_t)((now - origin) / 1000000000ull) : 0;
    if (t->have_cur && sec != t->cur_second) {
        close_second(t);
        if (t->o.children)
            find_children(t);
    }
    t->have_cur = true;
    t->cur_second = sec;
    t->pass_no++;
    bool clock = t->last_clock_ns == 0 || now - t->last_clock_ns >= CLOCK_EVERY * t->period_ns - t->period_ns / 2;
    struct pass_ctx pc = {.t = t, .now = now, .dt = t->last_pass_ns ? now - t->last_pass_ns : 0,
                          .clock = clock};
    unsigned what = PROCSTAT_TASK_SYSCALL | (clock ? PROCSTAT_TASK_SCHED : 0);
    for (size_t i = 0; i < t->nw;) {
        pc.w = &t->w[i];
        t->hint = 0;
        if (procstat_tasks_pass(t->w[i].pt, what, on_task, &pc) != LS_OK) {
            procstat_tasks_close(t->w[i].pt);
            t->w[i] = t->w[--t->nw];
            continue;
        }
        t->w[i].passes++;
        i++;
    }
    for (size_t i = 0; i < t->nacc; i++) {
        if (t->acc[i].in_pass > t->acc[i].threads_max)
            t->acc[i].threads_max = t->acc[i].in_pass;
        t->acc[i].in_pass = 0;
    }
    t->passes_in_sec++;
    if (clock) {
        t->span_ns += t->last_clock_ns ? now - t->last_clock_ns : 0;
        t->last_clock_ns = now;
    }
    t->last_pass_ns = now;
    if (!t->warned_sys && t->pass_no <= 2)
        warn_syscalls(t);
}

static void sleep_until(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static void *sampler_main(void *arg)
{
    struct threads *t = arg;
    uint64_t next = ls_now_ns();
    while (!atomic_load(&t->stop)) {
        uint64_t now = ls_now_ns();
        pass(t, now);
        uint64_t done = ls_now_ns();
        pthread_mutex_lock(&t->lock);
        t->st.passes++;
        t->st.pass_ns_total += done - now;
        t->st.processes = (uint32_t)t->nw;
        t->st.have_sched = t->sched_seen;
        t->st.have_syscall = t->sys_seen;
        pthread_mutex_unlock(&t->lock);
        if (t->nw == 0)
            break; /* every watched process is gone */
        next += t->period_ns;
        if (next <= done) {
            pthread_mutex_lock(&t->lock);
            t->st.late_passes++;
            pthread_mutex_unlock(&t->lock);
            next = done + t->period_ns / 2;
        }
        sleep_until(next);
    }
    close_second(t);
    pthread_mutex_lock(&t->lock);
    t->st.running = false;
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* ---- the handle ------------------------------------------------------------------- */

ls_err threads_open(const struct threads_opts *o, const struct threads_sink *sink,
                    struct threads **out, char *err, size_t errcap)
{
    ls_err e = LS_ERR_NOMEM;
    *out = NULL;
    struct threads *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return LS_ERR_NOMEM;
    t->o = *o;
    if (t->o.hz == 0)
        t->o.hz = 100;
    if (t->o.hz > 1000)
        t->o.hz = 1000;
    if (sink)
        t->sink = *sink;
    t->period_ns = 1000000000ull / t->o.hz;
    t->hz_ticks = sysconf(_SC_CLK_TCK);
    if (t->hz_ticks <= 0)
        t->hz_ticks = 100;
    atomic_init(&t->stop, 0);
    atomic_init(&t->origin_ns, ls_now_ns());
    pthread_mutex_init(&t->lock, NULL);
    if (threads_model_new(&t->model) != LS_OK)
        goto fail;
    watch_add(t, o->pid, false);
    if (t->nw == 0) {
        snprintf(err, errcap, "no process %d to sample (/proc/%d/task: %s)", (int)o->pid, (int)o->pid,
                 strerror(errno));
        e = LS_ERR_NOTFOUND;
        goto fail;
    }
    if (t->o.children)
        find_children(t);
    t->st.running = true;
    t->st.hz = t->o.hz;
    if (pthread_create(&t->th, NULL, sampler_main, t) != 0) {
        snprintf(err, errcap, "starting the thread sampler: %s", strerror(errno));
        e = LS_ERR_INTERNAL;
        goto fail;
    }
    t->started = true;
    *out = t;
    return LS_OK;
fail:
    threads_close(t);
    return e;
}

void threads_set_origin(struct threads *t, uint64_t unix_ns)
{
    int64_t ago = ls_unix_ns() - (int64_t)unix_ns;
    atomic_store(&t->origin_ns, (uint64_t)((int64_t)ls_now_ns() - ago));
}

void threads_requests(struct threads *t, uint32_t second, uint64_t count)
{
    pthread_mutex_lock(&t->lock);
    threads_model_requests(t->model, second, count);
    pthread_mutex_unlock(&t->lock);
}

size_t threads_snapshot(struct threads *t, struct threads_group_view *out, size_t cap,
                        uint32_t *last_second)
{
    pthread_mutex_lock(&t->lock);
    size_t n = threads_model_rows(t->model, out, cap, last_second);
    pthread_mutex_unlock(&t->lock);
    return n;
}

void threads_status(struct threads *t, struct threads_status *out)
{
    pthread_mutex_lock(&t->lock);
    *out = t->st;
    pthread_mutex_unlock(&t->lock);
}

void threads_finish(struct threads *t)
{
    if (t == NULL || !t->started)
        return;
    atomic_store(&t->stop, 1);
    pthread_join(t->th, NULL);
    t->started = false;
}

void threads_close(struct threads *t)
{
    if (t == NULL)
        return;
    threads_finish(t);
    for (size_t i = 0; i < t->nw; i++)
        procstat_tasks_close(t->w[i].pt);
    free(t->ts);
    free(t->acc);
    threads_model_free(t->model);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
