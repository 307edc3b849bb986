/*
 * cpuprof: the perf events, their ring buffers and the reader thread (see
 * cpuprof.h).
 *
 * Events: one per (thread, CPU), software task clock in frequency mode,
 * inherit=1 so threads and processes created later are sampled into their
 * creator's event. The kernel refuses to mmap an inherited per-thread event
 * on "any CPU" (cpu = -1), hence one event per CPU, the first thread's
 * event on each CPU owning that CPU's ring and the others redirected into
 * it (PERF_EVENT_IOC_SET_OUTPUT), as perf record does. Sample times are
 * CLOCK_MONOTONIC (use_clockid), so they fall into loadscope's seconds.
 *
 * The reader thread polls the rings every 100 ms (or when a quarter of one
 * fills), keys each call chain by its addresses, symbolizes a chain the
 * first time it is seen, counts it in its second, and closes a second a
 * quarter of a second after it ended: its rows go to the sink, then into
 * the model under the lock. The reader owns the stacks, the seconds and
 * the symbol tables; the lock guards the model and the status.
 */
#include "target/cpuprof.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "symbols/symbols.h"
#include "target/procstat.h"
#include "util/clock.h"
#include "util/dynbuf.h"

#define RING_PAGES 32               /* data pages per CPU (128 KiB with 4 KiB pages) */
#define MAX_CHAIN 127               /* the kernel's default perf_event_max_stack */
#define OPEN_SECONDS 8              /* seconds open at once (late samples join the oldest) */
#define CLOSE_LAG_NS 250000000ull   /* a second is closed this long after it ends */
#define POLL_MS 100
#define MAX_SYMTABS 64

/*
 * A call chain seen, found by its addresses. Chains that symbolize to the
 * same functions (the same path through different addresses of a loop)
 * share one stack key: a hot path is a path of functions, as in a flame graph.
 */
struct pstack {
    uint64_t hash;
    int pid;
    bool kernel;
    uint32_t n;
    uint64_t *pcs;              /* innermost first */
    uint32_t key;               /* the stack it counts for */
    uint32_t row_sec;           /* the second row_idx refers to */
    size_t row_idx;
    bool row_valid;
};

struct bucket {
    bool used;
    uint32_t second;
    struct cpu_row *rows;
    size_t n, cap;
    uint32_t samples, shallow, lost;
};

struct ring {
    int fd;                     /* the CPU's leading event */
    void *base;
    size_t data_size;
};

/* A process seen by a system-wide profile, and whether it is the target or one of its descendants. */
struct member {
    int pid;                    /* 0: a free slot */
    bool in;
};

struct symtab {
    int pid;
    struct sym_table *t;        /* NULL: could not be opened (process gone) */
    uint64_t vdso_lo, vdso_hi;  /* the kernel's [vdso] (clock_gettime & co.): no file to read */
};

struct cpuprof {
    struct cpuprof_opts o;
    struct cpuprof_sink sink;
    uint64_t period_ns;
    bool user_only;
    bool system_wide;           /* one cpu-clock event per CPU for every process, ours picked out */
    int *fds;                   /* every event */
    size_t nfds, capfds;
    struct ring *rings;         /* one per CPU that has events */
    size_t nrings;
    int *ring_of_cpu;           /* CPU -> index in rings, -1: offline */
    size_t page;
    pthread_t th;
    bool started;
    _Atomic int stop;
    _Atomic uint64_t origin_ns; /* CLOCK_MONOTONIC instant of second 0 */

    /* the reader's */
    struct pstack **chains;
    size_t nchains, capchains;
    uint32_t *hash;             /* chains by address hash, open addressing: index + 1, 0 = free */
    size_t caphash;
    char **ids;                 /* stack key - 1 -> "pid kernel folded", what makes a stack one */
    uint64_t *idhash;
    size_t nids, capids;
    uint32_t *khash;            /* keys by id hash, open addressing: key, 0 = free */
    size_t capkhash;
    struct bucket ring[OPEN_SECONDS];
    uint32_t next_close;        /* every second below is closed */
    uint32_t max_second;
    bool any;
    struct symtab syms[MAX_SYMTABS];
    size_t nsyms;
    uint8_t *rec;               /* one record, copied out of the ring */
    size_t reccap;
    struct sym_frame *fr;       /* frames of one chain */
    size_t frcap;
    bool warned_shallow, warned_lost;
    struct member *members;     /* system-wide: pids known to be ours or not; open addressing */
    size_t nmembers, capmembers;

    pthread_mutex_t lock;       /* guards what follows */
    struct cpuprof_model *model;
    uint64_t threads_created, late;
    char warning[256];
    bool running;
};

/* ---- opening the events --------------------------------------------------------- */

static int read_paranoid(void)
{
    char buf[32] = "";
    int fd = open("/proc/sys/kernel/perf_event_paranoid", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -100;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    return n > 0 ? atoi(buf) : -100;
}

void cpuprof_refusal_text(int e, char *buf, size_t cap)
{
    int par = read_paranoid();
    char ptext[48] = "unknown";
    if (par != -100)
        snprintf(ptext, sizeof(ptext), "%d", par);
    switch (e) {
    case EACCES:
    case EPERM:
        snprintf(buf, cap,
                 "no CPU profile: the kernel refused perf_event_open (%s); kernel.perf_event_paranoid "
                 "is %s (2 or less lets a user profile its own processes; above 2, or a container's "
                 "seccomp profile, forbids it without CAP_PERFMON)",
                 strerror(e), ptext);
        break;
    case ENOENT:
    case ENODEV:
    case EOPNOTSUPP:
        snprintf(buf, cap, "no CPU profile: this kernel has no task-clock perf event (%s)", strerror(e));
        break;
    case ENOSYS:
        snprintf(buf, cap,
                 "no CPU profile: perf_event_open is not available (%s: a kernel without "
                 "CONFIG_PERF_EVENTS, or blocked by a seccomp filter)",
                 strerror(e));
        break;
    case EMFILE:
    case ENFILE:
        snprintf(buf, cap,
                 "no CPU profile: out of file descriptors for one perf event per thread and CPU (%s); "
                 "raise 'ulimit -n'",
                 strerror(e));
        break;
    case ESRCH:
        snprintf(buf, cap, "no CPU profile: the target process is gone");
        break;
    default:
        snprintf(buf, cap, "no CPU profile: perf_event_open failed (%s)", strerror(e));
        break;
    }
}

static int perf_open(struct cpuprof *p, pid_t tid, int cpu)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof(a));
    a.size = sizeof(a);
    a.type = PERF_TYPE_SOFTWARE;
    /* a CPU's clock samples whoever runs on it; a task's clock, the task */
    a.config = p->system_wide ? PERF_COUNT_SW_CPU_CLOCK : PERF_COUNT_SW_TASK_CLOCK;
    a.freq = 1;
    a.sample_freq = p->o.hz;
    a.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CALLCHAIN;
    a.inherit = !p->system_wide;
    a.exclude_kernel = p->user_only;
    a.exclude_hv = 1;
    a.exclude_callchain_kernel = 1;
    a.task = 1;                 /* fork records: threads created, exactly */
    a.comm = 1;
    a.comm_exec = 1;            /* an exec changes the process's maps */
    a.use_clockid = 1;
    a.clockid = CLOCK_MONOTONIC;
    a.sample_max_stack = MAX_CHAIN;
    a.watermark = 1;
    a.wakeup_watermark = (uint32_t)(RING_PAGES * p->page / 4);
    return (int)syscall(SYS_perf_event_open, &a, tid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

static bool keep_fd(struct cpuprof *p, int fd)
{
    if (p->nfds == p->capfds) {
        size_t nc = p->capfds ? p->capfds * 2 : 32;
        int *n = realloc(p->fds, nc * sizeof(*n));
        if (n == NULL)
            return false;
        p->fds = n;
        p->capfds = nc;
    }
    p->fds[p->nfds++] = fd;
    return true;
}

/*
 * Opens the events of thread tid on every CPU; the first thread's own the
 * rings (a CPU that is offline gets none, and no events). Returns 0, or the
 * errno of the failure (ESRCH: the thread ended).
 */
static int open_thread(struct cpuprof *p, pid_t tid, int ncpu, bool first)
{
    for (int c = 0; c < ncpu; c++) {
        if (!first && p->ring_of_cpu[c] < 0)
            continue;
        int fd = perf_open(p, tid, c);
        if (fd < 0) {
            if (first && errno == ENODEV) {
                p->ring_of_cpu[c] = -1; /* offline */
                continue;
            }
            return errno;
        }
        if (!keep_fd(p, fd)) {
            close(fd);
            return ENOMEM;
        }
        if (first) {
            size_t len = (1 + RING_PAGES) * p->page;
            void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (base == MAP_FAILED)
                return errno;
            p->ring_of_cpu[c] = (int)p->nrings;
            p->rings[p->nrings++] = (struct ring){.fd = fd, .base = base, .data_size = RING_PAGES * p->page};
        } else if (ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, p->rings[p->ring_of_cpu[c]].fd) != 0) {
            return errno;
        }
    }
    return first && p->nrings == 0 ? ENODEV : 0;
}

static void close_events(struct cpuprof *p)
{
    for (size_t i = 0; i < p->nrings; i++)
        munmap(p->rings[i].base, (1 + RING_PAGES) * p->page);
    for (size_t i = 0; i < p->nfds; i++)
        close(p->fds[i]);
    p->nrings = p->nfds = 0;
}

/*
 * Per-task events cost the target at each of its context switches (the
 * kernel switches their perf context with the task: about half a
 * microsecond each on this 2-core VM, a few percent of a server that
 * blocks often), so when the kernel allows it (CAP_PERFMON, or
 * perf_event_paranoid <= 0) one event per CPU samples every process and
 * the reader keeps the target's. Otherwise, per-task events.
 */
static ls_err open_events(struct cpuprof *p, char *err, size_t errcap)
{
    int ncpu = (int)sysconf(_SC_NPROCESSORS_CONF);
    if (ncpu <= 0)
        ncpu = 1;
    p->rings = calloc((size_t)ncpu, sizeof(*p->rings));
    p->ring_of_cpu = calloc((size_t)ncpu, sizeof(*p->ring_of_cpu));
    int *tids = calloc(4096, sizeof(*tids));
    int *done = calloc(4096, sizeof(*done));
    size_t ndone = 0;
    ls_err e = LS_ERR_NOMEM;
    if (p->rings == NULL || p->ring_of_cpu == NULL || tids == NULL || done == NULL)
        goto out;
    p->user_only = p->o.user_only;
    if (!p->o.per_task) {
        p->system_wide = true;
        if (open_thread(p, -1, ncpu, true) == 0) {
            e = LS_OK;
            goto out;
        }
        close_events(p);
        p->system_wide = false;
    }
    /* the main thread first: its events own the rings; kernel-mode samples when allowed */
    int r = open_thread(p, p->o.pid, ncpu, true);
    if ((r == EACCES || r == EPERM) && !p->user_only) {
        close_events(p);
        p->user_only = true;
        r = open_thread(p, p->o.pid, ncpu, true);
    }
    if (r != 0) {
        cpuprof_refusal_text(r, err, errcap);
        e = r == ESRCH ? LS_ERR_NOTFOUND : LS_ERR_IO;
        goto out;
    }
    done[ndone++] = p->o.pid;
    /* then every other thread, listed again until no new one shows (one may spawn meanwhile) */
    for (int round = 0; round < 10; round++) {
        size_t n = procstat_task_ids(p->o.pid, tids, 4096), added = 0;
        for (size_t i = 0; i < n && ndone < 4096; i++) {
            bool seen = false;
            for (size_t k = 0; k < ndone && !seen; k++)
                seen = done[k] == tids[i];
            if (seen)
                continue;
            r = open_thread(p, tids[i], ncpu, false);
            if (r != 0 && r != ESRCH) {
                cpuprof_refusal_text(r, err, errcap);
                e = LS_ERR_IO;
                goto out;
            }
            done[ndone++] = tids[i];
            added++;
        }
        if (added == 0)
            break;
    }
    e = LS_OK;
out:
    free(tids);
    free(done);
    return e;
}

/* ---- system-wide: which processes are ours -------------------------------------------- */

static struct member *member_slot(struct cpuprof *p, int pid)
{
    if ((p->nmembers + 1) * 2 > p->capmembers) {
        size_t nc = p->capmembers ? p->capmembers * 2 : 256;
        struct member *n = calloc(nc, sizeof(*n));
        if (n == NULL)
            return NULL;
        for (size_t i = 0; i < p->capmembers; i++) {
            if (p->members[i].pid == 0)
                continue;
            size_t j = (size_t)p->members[i].pid * 2654435761u & (nc - 1);
            while (n[j].pid)
                j = (j + 1) & (nc - 1);
            n[j] = p->members[i];
        }
        free(p->members);
        p->members = n;
        p->capmembers = nc;
    }
    size_t j = (size_t)pid * 2654435761u & (p->capmembers - 1);
    while (p->members[j].pid && p->members[j].pid != pid)
        j = (j + 1) & (p->capmembers - 1);
    return &p->members[j];
}

static void member_set(struct cpuprof *p, int pid, bool in)
{
    struct member *m = member_slot(p, pid);
    if (m == NULL)
        return;
    if (m->pid == 0)
        p->nmembers++;
    m->pid = pid;
    m->in = in;
}

/* True when pid is the target or descends from it: known, or found up its parents in /proc. */
static bool member_of(struct cpuprof *p, int pid)
{
    if (pid == p->o.pid)
        return true;
    if (pid <= 1)
        return false;
    struct member *m = member_slot(p, pid);
    if (m && m->pid == pid)
        return m->in;
    int chain[32], n = 0, cur = pid;
    bool in = false;
    while (n < 32) {
        struct procstat_proc pr;
        if (procstat_read(cur, 0, &pr) != LS_OK)
            break; /* gone before we asked: not counted */
        chain[n++] = cur;
        if (pr.ppid == p->o.pid) {
            in = true;
            break;
        }
        if (pr.ppid <= 1)
            break;
        struct member *a = member_slot(p, pr.ppid);
        if (a && a->pid == pr.ppid) {
            in = a->in;
            break;
        }
        cur = pr.ppid;
    }
    for (int i = 0; i < n; i++)
        member_set(p, chain[i], in);
    if (n == 0)
        member_set(p, pid, false);
    return in;
}

/* ---- stacks ------------------------------------------------------------------------ */

static uint64_t chain_hash(int pid, bool kernel, const uint64_t *pcs, uint32_t n)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(uint32_t)pid ^ ((uint64_t)kernel << 40);
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ pcs[i]) * 1099511628211ull;
    return h ? h : 1;
}

static struct symtab *symtab_of(struct cpuprof *p, int pid)
{
    for (size_t i = 0; i < p->nsyms; i++)
        if (p->syms[i].pid == pid)
            return &p->syms[i];
    if (p->nsyms == MAX_SYMTABS) {
        sym_close(p->syms[0].t);
        memmove(p->syms, p->syms + 1, (MAX_SYMTABS - 1) * sizeof(p->syms[0]));
        p->nsyms--;
    }
    struct symtab *s = &p->syms[p->nsyms++];
    memset(s, 0, sizeof(*s));
    s->pid = pid;
    if (sym_open(pid, &s->t) != LS_OK)
        s->t = NULL;
    /* The vDSO has no file: an address there would make the symbolizer read the maps again. */
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/%d/maps", pid);
    FILE *f = fopen(path, "re");
    while (f && fgets(line, sizeof(line), f)) {
        unsigned long long lo, hi;
        if (strstr(line, "[vdso]") && sscanf(line, "%llx-%llx", &lo, &hi) == 2) {
            s->vdso_lo = lo;
            s->vdso_hi = hi;
        }
    }
    if (f)
        fclose(f);
    return s;
}

/* An exec'd process has new maps: its symbol table starts over. */
static void symtab_forget(struct cpuprof *p, int pid)
{
    for (size_t i = 0; i < p->nsyms; i++) {
        if (p->syms[i].pid == pid) {
            sym_close(p->syms[i].t);
            p->syms[i] = p->syms[--p->nsyms];
            return;
        }
    }
}

/* Appends s to b unless a previous add failed (*e says so). */
static void add(struct dynbuf *b, ls_err *e, const char *s)
{
    if (*e == LS_OK)
        *e = dyn_add(b, s);
}

/* Appends a frame's name: the function, else module+offset; ';' and newlines made ',' (they part frames). */
static void add_name(struct dynbuf *b, ls_err *e, const struct sym_frame *fr)
{
    if (*e != LS_OK)
        return;
    size_t at = dyn_len(b);
    if (fr->function && fr->function[0])
        *e = dyn_add(b, fr->function);
    else
        *e = dyn_addf(b, "%s+0x%" PRIx64, fr->module && fr->module[0] ? fr->module : "??", fr->module_offset);
    for (char *c = *e == LS_OK ? dyn_ptr(b) + at : NULL; c && *c; c++)
        if (*c == ';' || *c == '\n')
            *c = ',';
}

/*
 * Symbolizes a new chain into info. The four texts (frames, folded, the
 * leaf's and the blame frame's names) are malloc'd and handed to the caller,
 * who frees them after info's last use; the files point into the symbol table.
 */
static bool describe(struct cpuprof *p, const struct pstack *s, struct cpu_stack_info *info, char *texts[4])
{
    size_t need = (size_t)s->n * 8 + 1;
    if (need > p->frcap) {
        struct sym_frame *n = realloc(p->fr, need * sizeof(*n));
        if (n == NULL)
            return false;
        p->fr = n;
        p->frcap = need;
    }
    struct symtab *st = symtab_of(p, s->pid);
    size_t nf = 0;
    for (uint32_t i = 0; i < s->n && nf < need; i++) {
        /* The innermost address of a user-mode sample is where the CPU was, not a
         * return address: +1 undoes the symbolizer's step back into the call. */
        uint64_t pc = i == 0 && !s->kernel ? s->pcs[i] + 1 : s->pcs[i];
        if (s->pcs[i] >= st->vdso_lo && s->pcs[i] < st->vdso_hi)
            p->fr[nf++] = (struct sym_frame){.function = "[vdso]", .file = "", .module = "[vdso]", .pc = pc};
        else if (st->t)
            nf += sym_resolve(st->t, pc, p->fr + nf, need - nf);
        else
            p->fr[nf++] = (struct sym_frame){.function = "", .file = "", .module = "", .pc = pc};
    }
    struct dynbuf b[4]; /* frames, folded, leaf, blame */
    ls_err e = LS_OK;
    for (int i = 0; i < 4; i++)
        dyn_init(&b[i], 1u << 20);
    if (s->kernel)
        add(&b[0], &e, nf ? "[kernel]\n" : "[kernel]");
    for (size_t i = 0; i < nf; i++) {
        add_name(&b[0], &e, &p->fr[i]);
        if (p->fr[i].file && p->fr[i].file[0] && e == LS_OK)
            e = dyn_addf(&b[0], " (%s:%u)", p->fr[i].file, p->fr[i].line);
        if (p->fr[i].inlined)
            add(&b[0], &e, " [inlined]");
        if (i + 1 < nf)
            add(&b[0], &e, "\n");
    }
    for (size_t i = nf; i-- > 0;) {
        add_name(&b[1], &e, &p->fr[i]);
        if (i)
            add(&b[1], &e, ";");
    }
    if (s->kernel)
        add(&b[1], &e, nf ? ";[kernel]" : "[kernel]");
    size_t bi = nf ? sym_blame(p->fr, nf, p->o.include_deps) : 0;
    if (s->kernel)
        add(&b[2], &e, "[kernel]");
    else if (nf)
        add_name(&b[2], &e, &p->fr[0]);
    else
        add(&b[2], &e, "??");
    if (nf)
        add_name(&b[3], &e, &p->fr[bi]);
    else
        add(&b[3], &e, "??");
    for (int i = 0; i < 4; i++) {
        texts[i] = e == LS_OK ? dyn_take(&b[i], NULL) : NULL;
        dyn_free(&b[i]);
        if (texts[i] == NULL)
            e = LS_ERR_NOMEM;
    }
    if (e != LS_OK)
        return false;
    memset(info, 0, sizeof(*info));
    info->key = s->key;
    info->pid = s->pid;
    info->depth = s->n;
    info->kernel = s->kernel;
    info->frames = texts[0];
    info->folded = texts[1];
    info->leaf_function = texts[2];
    info->leaf_file = !s->kernel && nf && p->fr[0].file ? p->fr[0].file : "";
    info->leaf_line = !s->kernel && nf ? p->fr[0].line : 0;
    info->blame_function = texts[3];
    info->blame_file = nf && p->fr[bi].file ? p->fr[bi].file : "";
    info->blame_line = nf ? p->fr[bi].line : 0;
    return true;
}

static bool hash_grow(struct cpuprof *p)
{
    size_t nc = p->caphash ? p->caphash * 2 : 1024;
    uint32_t *n = calloc(nc, sizeof(*n));
    if (n == NULL)
        return false;
    for (size_t i = 0; i < p->nchains; i++) {
        size_t j = p->chains[i]->hash & (nc - 1);
        while (n[j])
            j = (j + 1) & (nc - 1);
        n[j] = (uint32_t)i + 1;
    }
    free(p->hash);
    p->hash = n;
    p->caphash = nc;
    return true;
}

static uint64_t text_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static bool khash_grow(struct cpuprof *p)
{
    size_t nc = p->capkhash ? p->capkhash * 2 : 1024;
    uint32_t *n = calloc(nc, sizeof(*n));
    if (n == NULL)
        return false;
    for (size_t i = 0; i < p->nids; i++) {
        size_t j = p->idhash[i] & (nc - 1);
        while (n[j])
            j = (j + 1) & (nc - 1);
        n[j] = (uint32_t)i + 1;
    }
    free(p->khash);
    p->khash = n;
    p->capkhash = nc;
    return true;
}

/*
 * The key of the stack a newly symbolized chain belongs to: an existing one
 * when a chain of the same process already gave the same functions (*is_new
 * false), else a new key holding id (taken over). 0 when out of memory.
 */
static uint32_t key_for(struct cpuprof *p, char *id, bool *is_new)
{
    *is_new = false;
    if ((p->nids + 1) * 2 > p->capkhash && !khash_grow(p))
        return 0;
    uint64_t h = text_hash(id);
    size_t j = h & (p->capkhash - 1);
    while (p->khash[j]) {
        uint32_t k = p->khash[j];
        if (p->idhash[k - 1] == h && strcmp(p->ids[k - 1], id) == 0)
            return k;
        j = (j + 1) & (p->capkhash - 1);
    }
    if (p->nids == p->capids) {
        size_t nc = p->capids ? p->capids * 2 : 256;
        char **ni = realloc(p->ids, nc * sizeof(*ni));
        if (ni == NULL)
            return 0;
        p->ids = ni;
        uint64_t *nh = realloc(p->idhash, nc * sizeof(*nh));
        if (nh == NULL)
            return 0;
        p->idhash = nh;
        p->capids = nc;
    }
    p->ids[p->nids] = id;
    p->idhash[p->nids] = h;
    p->khash[j] = (uint32_t)++p->nids;
    *is_new = true;
    return (uint32_t)p->nids;
}

/* The chain's stack, found by its addresses; a new chain is symbolized and, when new, its stack
 * handed to the sink and the model. */
static struct pstack *stack_for(struct cpuprof *p, int pid, bool kernel, const uint64_t *pcs, uint32_t n)
{
    if ((p->nchains + 1) * 2 > p->caphash && !hash_grow(p))
        return NULL;
    uint64_t h = chain_hash(pid, kernel, pcs, n);
    size_t j = h & (p->caphash - 1);
    while (p->hash[j]) {
        struct pstack *s = p->chains[p->hash[j] - 1];
        if (s->hash == h && s->pid == pid && s->kernel == kernel && s->n == n &&
            memcmp(s->pcs, pcs, n * sizeof(*pcs)) == 0)
            return s;
        j = (j + 1) & (p->caphash - 1);
    }
    if (p->nchains == p->capchains) {
        size_t nc = p->capchains ? p->capchains * 2 : 256;
        struct pstack **ns = realloc(p->chains, nc * sizeof(*ns));
        if (ns == NULL)
            return NULL;
        p->chains = ns;
        p->capchains = nc;
    }
    struct pstack *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->pcs = malloc((n ? n : 1) * sizeof(*pcs));
    if (s->pcs == NULL) {
        free(s);
        return NULL;
    }
    memcpy(s->pcs, pcs, n * sizeof(*pcs));
    s->hash = h;
    s->pid = pid;
    s->kernel = kernel;
    s->n = n;
    struct cpu_stack_info info;
    char *texts[4] = {NULL, NULL, NULL, NULL}, *id = NULL;
    bool is_new = false;
    bool ok = describe(p, s, &info, texts) && asprintf(&id, "%d %d %s", pid, (int)kernel, texts[1]) >= 0;
    if (ok)
        s->key = key_for(p, id, &is_new);
    if (!is_new)
        free(id); /* key_for keeps a new stack's id */
    if (ok && s->key != 0) {
        p->chains[p->nchains++] = s;
        p->hash[j] = (uint32_t)p->nchains;
    }
    if (ok && is_new) {
        info.key = s->key;
        if (p->sink.stack)
            p->sink.stack(p->sink.ctx, &info);
        pthread_mutex_lock(&p->lock);
        ls_err e = cpuprof_model_add_stack(p->model, &info);
        pthread_mutex_unlock(&p->lock);
        (void)e; /* out of memory: the screens miss a stack, storage has it */
    }
    for (int i = 0; i < 4; i++)
        free(texts[i]);
    if (!ok || s->key == 0) {
        free(s->pcs);
        free(s);
        return NULL;
    }
    return s;
}

/* ---- seconds ------------------------------------------------------------------------ */

static uint32_t second_of(struct cpuprof *p, uint64_t mono_ns)
{
    uint64_t o = atomic_load(&p->origin_ns);
    return mono_ns > o ? (uint32_t)((mono_ns - o) / 1000000000ull) : 0;
}

static struct bucket *bucket_for(struct cpuprof *p, uint32_t sec)
{
    if (sec < p->next_close) {
        pthread_mutex_lock(&p->lock);
        p->late++;
        pthread_mutex_unlock(&p->lock);
        sec = p->next_close; /* its second is closed: it joins the oldest open one */
    }
    struct bucket *b = &p->ring[sec % OPEN_SECONDS];
    if (b->used && b->second != sec)
        return NULL; /* more than OPEN_SECONDS ahead: cannot happen with a sane origin */
    if (!b->used) {
        b->used = true;
        b->second = sec;
        b->n = 0;
        b->samples = b->shallow = b->lost = 0;
    }
    if (!p->any || sec > p->max_second)
        p->max_second = sec;
    p->any = true;
    return b;
}

static void count(struct bucket *b, struct pstack *s)
{
    b->samples++;
    if (s->n <= CPUPROF_SHALLOW_FRAMES)
        b->shallow++;
    if (s->row_valid && s->row_sec == b->second && s->row_idx < b->n && b->rows[s->row_idx].key == s->key) {
        b->rows[s->row_idx].samples++;
        return;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (b->rows[i].key == s->key) {
            b->rows[i].samples++;
            s->row_sec = b->second;
            s->row_idx = i;
            s->row_valid = true;
            return;
        }
    }
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        struct cpu_row *n = realloc(b->rows, nc * sizeof(*n));
        if (n == NULL)
            return;
        b->rows = n;
        b->cap = nc;
    }
    b->rows[b->n] = (struct cpu_row){s->key, 1};
    s->row_sec = b->second;
    s->row_idx = b->n++;
    s->row_valid = true;
}

static void event(struct cpuprof *p, const char *msg)
{
    pthread_mutex_lock(&p->lock);
    if (p->warning[0] == '\0')
        snprintf(p->warning, sizeof(p->warning), "%s", msg);
    pthread_mutex_unlock(&p->lock);
    if (p->sink.event)
        p->sink.event(p->sink.ctx, "cpuprof_warning", msg);
}

static void close_one(struct cpuprof *p, uint32_t sec)
{
    struct bucket *b = &p->ring[sec % OPEN_SECONDS];
    struct cpu_second cs = {.second = sec, .period_ns = p->period_ns};
    if (b->used && b->second == sec) {
        cs.samples = b->samples;
        cs.shallow = b->shallow;
        cs.lost = b->lost;
        cs.rows = b->rows;
        cs.nrows = b->n;
    }
    if (p->sink.second)
        p->sink.second(p->sink.ctx, &cs);
    struct cpu_totals t;
    pthread_mutex_lock(&p->lock);
    ls_err e = cpuprof_model_add_second(p->model, &cs);
    cpuprof_model_totals(p->model, &t);
    pthread_mutex_unlock(&p->lock);
    (void)e;
    b->used = false;
    p->next_close = sec + 1;
    if (t.no_frame_pointers && !p->warned_shallow) {
        p->warned_shallow = true;
        event(p, "most CPU samples have 2 frames or fewer: the target was likely built without frame "
                 "pointers (Rust: RUSTFLAGS=\"-C force-frame-pointers=yes\"; C and C++: "
                 "-fno-omit-frame-pointer), so its stacks stop at the running function");
    }
    if (t.lost > 0 && !p->warned_lost) {
        p->warned_lost = true;
        event(p, "the kernel dropped CPU samples (its ring buffer filled before loadscope read it): "
                 "the profile's shares hold, its totals are low");
    }
}

/* Closes every second due at now (final: every second data fell into, and the current one). */
static void close_due(struct cpuprof *p, uint64_t now, bool final)
{
    uint64_t o = atomic_load(&p->origin_ns);
    uint32_t upto; /* close seconds below */
    if (final) {
        uint32_t cur = second_of(p, now);
        upto = (p->any && p->max_second > cur ? p->max_second : cur) + 1;
    } else {
        if (now < o + CLOSE_LAG_NS + 1000000000ull)
            return;
        upto = (uint32_t)((now - o - CLOSE_LAG_NS) / 1000000000ull);
    }
    /* seconds before the first sample (the origin set after the profile began) are not rows */
    while (p->next_close < upto)
        close_one(p, p->next_close);
}

/* ---- records --------------------------------------------------------------------------- */

static void on_sample(struct cpuprof *p, const uint8_t *r, size_t len, uint16_t misc)
{
    if (len < sizeof(struct perf_event_header) + 8 + 8 + 8)
        return;
    const uint8_t *q = r + sizeof(struct perf_event_header);
    uint32_t pid, tid;
    uint64_t time, nr;
    memcpy(&pid, q, 4);
    memcpy(&tid, q + 4, 4);
    memcpy(&time, q + 8, 8);
    memcpy(&nr, q + 16, 8);
    q += 24;
    if (nr > (len - (size_t)(q - r)) / 8)
        return;
    uint64_t pcs[MAX_CHAIN + 1];
    uint32_t n = 0;
    for (uint64_t i = 0; i < nr && n < MAX_CHAIN; i++) {
        uint64_t ip;
        memcpy(&ip, q + i * 8, 8);
        if (ip >= (uint64_t)PERF_CONTEXT_MAX)
            continue; /* a context marker */
        pcs[n++] = ip;
    }
    if (p->system_wide && (pid == 0 || !member_of(p, (int)pid)))
        return; /* another process, or the idle task */
    bool kernel = (misc & PERF_RECORD_MISC_CPUMODE_MASK) == PERF_RECORD_MISC_KERNEL;
    struct pstack *s = stack_for(p, (int)pid, kernel, pcs, n);
    struct bucket *b = bucket_for(p, second_of(p, time));
    if (s && b)
        count(b, s);
}

static void on_record(struct cpuprof *p, const uint8_t *r, size_t len)
{
    struct perf_event_header h;
    memcpy(&h, r, sizeof(h));
    switch (h.type) {
    case PERF_RECORD_SAMPLE:
        on_sample(p, r, len, h.misc);
        break;
    case PERF_RECORD_LOST:
        if (len >= sizeof(h) + 16) {
            uint64_t lost;
            memcpy(&lost, r + sizeof(h) + 8, 8);
            struct bucket *b = bucket_for(p, second_of(p, ls_now_ns()));
            if (b)
                b->lost += (uint32_t)lost;
        }
        break;
    case PERF_RECORD_FORK:
        if (len >= sizeof(h) + 16) {
            uint32_t ids[4]; /* pid, ppid, tid, ptid */
            memcpy(ids, r + sizeof(h), sizeof(ids));
            if (p->system_wide) {
                if (!member_of(p, (int)ids[1]))
                    break;
                member_set(p, (int)ids[0], true); /* a child of ours, however short its life */
            }
            if (ids[0] == ids[1]) {
                pthread_mutex_lock(&p->lock);
                p->threads_created++;
                pthread_mutex_unlock(&p->lock);
            }
        }
        break;
    case PERF_RECORD_COMM:
        if ((h.misc & PERF_RECORD_MISC_COMM_EXEC) && len >= sizeof(h) + 8) {
            uint32_t pid;
            memcpy(&pid, r + sizeof(h), 4);
            symtab_forget(p, (int)pid);
        }
        break;
    default:
        break;
    }
}

/* Reads every complete record of one ring. */
static void drain(struct cpuprof *p, struct ring *rg)
{
    struct perf_event_mmap_page *mp = rg->base;
    const uint8_t *data = (const uint8_t *)rg->base + p->page;
    uint64_t head = __atomic_load_n(&mp->data_head, __ATOMIC_ACQUIRE);
    uint64_t tail = mp->data_tail;
    while (tail + sizeof(struct perf_event_header) <= head) {
        struct perf_event_header h;
        for (size_t i = 0; i < sizeof(h); i++)
            ((uint8_t *)&h)[i] = data[(tail + i) % rg->data_size];
        if (h.size < sizeof(h) || tail + h.size > head)
            break;
        if (h.size > p->reccap) {
            uint8_t *n = realloc(p->rec, h.size);
            if (n == NULL)
                break;
            p->rec = n;
            p->reccap = h.size;
        }
        size_t off = tail % rg->data_size;
        size_t first = rg->data_size - off < h.size ? rg->data_size - off : h.size;
        memcpy(p->rec, data + off, first);
        memcpy(p->rec + first, data, h.size - first);
        on_record(p, p->rec, h.size);
        tail += h.size;
    }
    __atomic_store_n(&mp->data_tail, tail, __ATOMIC_RELEASE);
}

static void *reader_main(void *arg)
{
    struct cpuprof *p = arg;
    struct pollfd *pf = calloc(p->nrings ? p->nrings : 1, sizeof(*pf));
    for (size_t i = 0; pf && i < p->nrings; i++)
        pf[i] = (struct pollfd){.fd = p->rings[i].fd, .events = POLLIN};
    while (!atomic_load(&p->stop)) {
        if (pf)
            (void)poll(pf, p->nrings, POLL_MS);
        else
            usleep(POLL_MS * 1000);
        for (size_t i = 0; i < p->nrings; i++)
            drain(p, &p->rings[i]);
        close_due(p, ls_now_ns(), false);
    }
    for (size_t i = 0; i < p->nrings; i++)
        drain(p, &p->rings[i]);
    close_due(p, ls_now_ns(), true);
    free(pf);
    pthread_mutex_lock(&p->lock);
    p->running = false;
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ---- the handle ---------------------------------------------------------------------- */

ls_err cpuprof_open(const struct cpuprof_opts *o, const struct cpuprof_sink *sink,
                    struct cpuprof **out, char *err, size_t errcap)
{
    *out = NULL;
    struct cpuprof *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return LS_ERR_NOMEM;
    p->o = *o;
    if (p->o.hz == 0)
        p->o.hz = 99;
    if (sink)
        p->sink = *sink;
    /* the kernel turns a task clock's frequency into this fixed period */
    p->period_ns = 1000000000ull / p->o.hz;
    long pg = sysconf(_SC_PAGESIZE);
    p->page = pg > 0 ? (size_t)pg : 4096;
    atomic_init(&p->stop, 0);
    atomic_init(&p->origin_ns, ls_now_ns());
    pthread_mutex_init(&p->lock, NULL);
    ls_err e = cpuprof_model_new(&p->model);
    if (e == LS_OK && kill(o->pid, 0) != 0 && errno == ESRCH) {
        snprintf(err, errcap, "no process %d to profile", (int)o->pid);
        e = LS_ERR_NOTFOUND;
    }
    if (e == LS_OK)
        e = open_events(p, err, errcap);
    if (e == LS_OK) {
        p->running = true;
        if (pthread_create(&p->th, NULL, reader_main, p) != 0) {
            snprintf(err, errcap, "starting the CPU profile's reader: %s", strerror(errno));
            p->running = false;
            e = LS_ERR_INTERNAL;
        }
    }
    if (e != LS_OK) {
        cpuprof_close(p);
        return e;
    }
    p->started = true;
    *out = p;
    return LS_OK;
}

void cpuprof_set_origin(struct cpuprof *p, uint64_t unix_ns)
{
    int64_t ago = ls_unix_ns() - (int64_t)unix_ns;
    atomic_store(&p->origin_ns, (uint64_t)((int64_t)ls_now_ns() - ago));
}

void cpuprof_requests(struct cpuprof *p, uint32_t second, uint64_t count)
{
    pthread_mutex_lock(&p->lock);
    cpuprof_model_requests(p->model, second, count);
    pthread_mutex_unlock(&p->lock);
}

size_t cpuprof_stacks(struct cpuprof *p, struct cpu_hot *out, size_t cap)
{
    pthread_mutex_lock(&p->lock);
    size_t n = cpuprof_model_stacks(p->model, out, cap);
    pthread_mutex_unlock(&p->lock);
    return n;
}

size_t cpuprof_functions(struct cpuprof *p, enum cpu_fn_by by, struct cpu_fn *out, size_t cap)
{
    pthread_mutex_lock(&p->lock);
    size_t n = cpuprof_model_functions(p->model, by, out, cap);
    pthread_mutex_unlock(&p->lock);
    return n;
}

ls_err cpuprof_write_folded(struct cpuprof *p, FILE *f)
{
    pthread_mutex_lock(&p->lock);
    ls_err e = cpuprof_model_write_folded(p->model, f);
    pthread_mutex_unlock(&p->lock);
    return e;
}

void cpuprof_status(struct cpuprof *p, struct cpuprof_status *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&p->lock);
    out->running = p->running;
    out->hz = p->o.hz;
    out->period_ns = p->period_ns;
    out->user_only = p->user_only;
    out->system_wide = p->system_wide;
    out->events = (int)p->nfds;
    cpuprof_model_totals(p->model, &out->totals);
    out->threads_created = p->threads_created;
    out->late_samples = p->late;
    snprintf(out->warning, sizeof(out->warning), "%s", p->warning);
    pthread_mutex_unlock(&p->lock);
}

void cpuprof_finish(struct cpuprof *p)
{
    if (p == NULL || !p->started)
        return;
    atomic_store(&p->stop, 1);
    pthread_join(p->th, NULL);
    p->started = false;
}

void cpuprof_close(struct cpuprof *p)
{
    if (p == NULL)
        return;
    cpuprof_finish(p);
    close_events(p);
    free(p->members);
    for (size_t i = 0; i < p->nchains; i++) {
        free(p->chains[i]->pcs);
        free(p->chains[i]);
    }
    for (size_t i = 0; i < p->nids; i++)
        free(p->ids[i]);
    for (size_t i = 0; i < p->nsyms; i++)
        sym_close(p->syms[i].t);
    for (size_t i = 0; i < OPEN_SECONDS; i++)
        free(p->ring[i].rows);
    free(p->chains);
    free(p->hash);
    free(p->ids);
    free(p->idhash);
    free(p->khash);
    free(p->rec);
    free(p->fr);
    free(p->fds);
    free(p->rings);
    free(p->ring_of_cpu);
    cpuprof_model_free(p->model);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
