/*
 * store_writer: the writer thread that takes a run's samples, intervals,
 * summaries and events off the engine's hands and batches them into SQLite
 * transactions on a connection of its own (see store.c for the model).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "aws_retry.h"
#include "store.h"
#include "store_int.h"


#define WBLOCK_SAMPLES 4096    /* samples per queue block (~290 KiB) */
#define WFREE_KEEP 4           /* written blocks kept for reuse */
#define WTXN_MAX_SAMPLES 65536 /* samples per transaction at most */
#define WFLUSH_NS 100000000LL  /* commit what is queued at least this often */
#define WRETRY_NS 250000000LL  /* pause after a failed transaction */
#define WFINISH_ATTEMPTS 3     /* failed transactions in a row before finish gives up */
#define WMULTI 256             /* rows per multi-row sample INSERT */
#define WSAMPLE_PARAMS 23      /* parameters per sample row besides the shared ?1 */

struct wblock {
    struct wblock *next;
    size_t n;
    struct ls_sample s[WBLOCK_SAMPLES];
};

enum witem_kind { WI_INTERVAL, WI_SUMMARY, WI_EVENT };

/* A queued non-sample row; its blobs and strings live in data[]. */
struct witem {
    struct witem *next;
    enum witem_kind kind;
    union {
        struct store_interval iv; /* hist / u_hist point into data */
        struct store_summary sm;
        struct {
            uint64_t t_ns;
            const char *kind;    /* into data */
            const char *message; /* into data, or NULL */
        } ev;
    } u;
    uint8_t data[];
};

struct wlist { /* a FIFO of blocks and one of items */
    struct wblock *head, *tail;
    struct witem *ihead, *itail;
};

struct store_writer {
    struct store *st; /* borrowed: must outlive the writer */
    int64_t session_id;
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool mu_ready, cv_ready;

    /* Under mu: what producers queued, and spare blocks. */
    struct wlist q;
    struct wblock *free;
    unsigned nfree;
    bool stop;

    /* Writer thread only (finish reads them after the join). */
    sqlite3 *db;
    sqlite3_stmt *begin, *commit, *rollback;
    sqlite3_stmt *ins_sample, *ins_samples; /* one row; WMULTI rows */
    sqlite3_stmt *ins_interval, *ins_summary, *ins_event;
    struct wlist pending; /* taken from q, not yet committed */
    ls_err first_err;
    char first_msg[STORE_MSG_CAP];
    char last_msg[STORE_MSG_CAP];

    _Atomic uint64_t committed; /* samples committed */
    _Atomic uint64_t errors;    /* errors met (SQLite's and given-up rows) */
};

__attribute__((format(printf, 2, 3))) static void w_error(struct store_writer *w, const char *fmt,
                                                          ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(w->last_msg, sizeof(w->last_msg), fmt, ap);
    va_end(ap);
    if (w->first_err == LS_OK) {
        w->first_err = LS_ERR_DB;
        memcpy(w->first_msg, w->last_msg, sizeof(w->first_msg));
    }
    atomic_fetch_add(&w->errors, 1);
}

static bool is_row_error(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
        return true;
    default:
        return false;
    }
}

enum wstep { WS_OK, WS_ROW_REJECTED, WS_TXN_FAILED };

/*
 * Steps an insert inside the writer's transaction. A row the database refuses
 * (a constraint) is reported (unless quiet_rows: the caller will retry the
 * rows one by one) and skipped; anything that ends the transaction fails it,
 * so the whole batch is kept and retried.
 */
static enum wstep w_step(struct store_writer *w, sqlite3_stmt *s, const char *what, long long key,
                         bool quiet_rows)
{
    int rc = sqlite3_step(s);
    bool row_error;

    if (rc == SQLITE_DONE) {
        sqlite3_reset(s);
        return WS_OK;
    }
    row_error = !sqlite3_get_autocommit(w->db) && is_row_error(rc);
    if (!row_error || !quiet_rows)
        w_error(w, "writing %s %lld of session %lld: %s", what, key, (long long)w->session_id,
                sqlite3_errmsg(w->db));
    sqlite3_reset(s);
    return row_error ? WS_ROW_REJECTED : WS_TXN_FAILED;
}

/* Binds one sample's 23 columns (all but session_id) from parameter base on. */
static void bind_sample(sqlite3_stmt *s, int base, const struct ls_sample *x)
{
    sqlite3_bind_int64(s, base + 0, x->seq);
    sqlite3_bind_int(s, base + 1, x->worker);
    sqlite3_bind_int64(s, base + 2, x->vu);
    sqlite3_bind_int(s, base + 3, x->step);
    sqlite3_bind_int64(s, base + 4, (sqlite3_int64)x->intended_ns);
    sqlite3_bind_int64(s, base + 5, (sqlite3_int64)x->start_ns);
    sqlite3_bind_int64(s, base + 6, (sqlite3_int64)x->end_ns);
    sqlite3_bind_int64(s, base + 7, x->dns_us);
    sqlite3_bind_int64(s, base + 8, x->connect_us);
    sqlite3_bind_int64(s, base + 9, x->tls_us);
    sqlite3_bind_int64(s, base + 10, x->ttfb_us);
    sqlite3_bind_int64(s, base + 11, x->bytes_out);
    sqlite3_bind_int64(s, base + 12, x->bytes_in);
    sqlite3_bind_int(s, base + 13, x->status);
    sqlite3_bind_int(s, base + 14, x->err);
    sqlite3_bind_int(s, base + 15, x->flags);
    sqlite3_bind_int(s, base + 16, x->rpc_code);
    sqlite3_bind_int(s, base + 17, x->attempts);
    sqlite3_bind_int(s, base + 18, x->followups);
    sqlite3_bind_int(s, base + 19, x->retries);
    sqlite3_bind_int64(s, base + 20, x->backoff_us);
    sqlite3_bind_int64(s, base + 21, x->last_try_us);
    if (x->aws_code != 0 && aws_code_name(x->aws_code) != NULL)
        sqlite3_bind_text(s, base + 22, aws_code_name(x->aws_code), -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, base + 22);
}

static enum wstep w_write_sample(struct store_writer *w, const struct ls_sample *x)
{
    bind_sample(w->ins_sample, 2, x); /* ?1 (session) stays bound */
    return w_step(w, w->ins_sample, "sample seq", x->seq, false);
}

/*
 * Writes samples x[0..n) with the WMULTI-row statement where it can: one
 * statement per WMULTI rows costs far less than WMULTI statements. If the
 * database refuses a row, the whole statement is undone, so that chunk is
 * written again row by row to keep every row it can and report the others.
 */
static enum wstep w_write_samples(struct store_writer *w, const struct ls_sample *x, size_t n,
                                  uint64_t *written)
{
    size_t i = 0;
    enum wstep r;

    for (; i + WMULTI <= n; i += WMULTI) {
        for (int k = 0; k < WMULTI; k++)
            bind_sample(w->ins_samples, 2 + k * WSAMPLE_PARAMS, &x[i + (size_t)k]);
        r = w_step(w, w->ins_samples, "samples from seq", x[i].seq, true);
        if (r == WS_TXN_FAILED)
            return r;
        if (r == WS_OK) {
            *written += WMULTI;
            continue;
        }
        for (size_t k = i; k < i + WMULTI; k++) {
            r = w_write_sample(w, &x[k]);
            if (r == WS_TXN_FAILED)
                return r;
            *written += r == WS_OK;
        }
    }
    for (; i < n; i++) {
        r = w_write_sample(w, &x[i]);
        if (r == WS_TXN_FAILED)
            return r;
        *written += r == WS_OK;
    }
    return WS_OK;
}

static void bind_blob_or_null(sqlite3_stmt *s, int i, const uint8_t *p, size_t n)
{
    if (p == NULL || n == 0)
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_blob64(s, i, p, n, SQLITE_STATIC);
}

/* Binds the ten percentile columns and two means starting at parameter i. */
static void bind_latencies(sqlite3_stmt *s, int i, const int64_t c[5], double mean,
                           const int64_t u[5], double u_mean)
{
    for (int k = 0; k < 5; k++)
        sqlite3_bind_int64(s, i + k, c[k]);
    sqlite3_bind_double(s, i + 5, mean);
    for (int k = 0; k < 5; k++)
        sqlite3_bind_int64(s, i + 6 + k, u[k]);
    sqlite3_bind_double(s, i + 11, u_mean);
}

/* {"connect":3,"timeout":1}: every class with a non-zero count, in enum order. */
static void err_json(const struct store_summary *sm, char *buf, size_t cap)
{
    size_t len = 0;
    bool first = true;

    len += (size_t)snprintf(buf, cap, "{");
    for (int c = 0; c < LS_EC__COUNT && len < cap; c++) {
        if (sm->err_by_class[c] == 0)
            continue;
        len += (size_t)snprintf(buf + len, cap - len, "%s\"%s\":%llu", first ? "" : ",",
                                ls_errclass_name((enum ls_errclass)c),
                                (unsigned long long)sm->err_by_class[c]);
        first = false;
    }
    if (len < cap)
        snprintf(buf + len, cap - len, "}");
}

static enum wstep w_write_item(struct store_writer *w, const struct witem *it)
{
    sqlite3_stmt *s;

    switch (it->kind) {
    case WI_INTERVAL: {
        const struct store_interval *iv = &it->u.iv;
        const int64_t c[5] = {iv->p50_us, iv->p90_us, iv->p99_us, iv->p999_us, iv->max_us};
        const int64_t u[5] = {iv->u_p50_us, iv->u_p90_us, iv->u_p99_us, iv->u_p999_us,
                              iv->u_max_us};

        s = w->ins_interval;
        sqlite3_bind_int64(s, 2, iv->second);
        sqlite3_bind_int(s, 3, iv->step);
        sqlite3_bind_int(s, 4, iv->warmup);
        sqlite3_bind_int64(s, 5, (sqlite3_int64)iv->count);
        sqlite3_bind_int64(s, 6, (sqlite3_int64)iv->errors);
        sqlite3_bind_int64(s, 7, (sqlite3_int64)iv->late);
        bind_latencies(s, 8, c, iv->mean_us, u, iv->u_mean_us);
        bind_blob_or_null(s, 20, iv->hist, iv->hist_len);
        bind_blob_or_null(s, 21, iv->u_hist, iv->u_hist_len);
        return w_step(w, s, "interval of second", iv->second, false);
    }
    case WI_SUMMARY: {
        const struct store_summary *sm = &it->u.sm;
        const int64_t c[5] = {sm->p50_us, sm->p90_us, sm->p99_us, sm->p999_us, sm->max_us};
        const int64_t u[5] = {sm->u_p50_us, sm->u_p90_us, sm->u_p99_us, sm->u_p999_us,
                              sm->u_max_us};
        char json[1024];

        err_json(sm, json, sizeof(json));
        s = w->ins_summary;
        sqlite3_bind_int(s, 2, sm->step);
        sqlite3_bind_int64(s, 3, (sqlite3_int64)sm->count);
        sqlite3_bind_int64(s, 4, (sqlite3_int64)sm->errors);
        sqlite3_bind_double(s, 5, sm->rate);
        sqlite3_bind_text(s, 6, json, -1, SQLITE_TRANSIENT);
        bind_latencies(s, 7, c, sm->mean_us, u, sm->u_mean_us);
        return w_step(w, s, "summary of step", sm->step, false);
    }
    case WI_EVENT:
        s = w->ins_event;
        sqlite3_bind_int64(s, 2, (sqlite3_int64)it->u.ev.t_ns);
        sqlite3_bind_text(s, 3, it->u.ev.kind, -1, SQLITE_STATIC);
        store_bind_text(s, 4, it->u.ev.message);
        return w_step(w, s, "event at ns", (long long)it->u.ev.t_ns, false);
    }
    return WS_TXN_FAILED;
}

static bool wlist_empty(const struct wlist *l)
{
    return l->head == NULL && l->ihead == NULL;
}

/* Appends all of src to dst and empties src. */
static void wlist_move(struct wlist *dst, struct wlist *src)
{
    if (src->head != NULL) {
        if (dst->tail != NULL)
            dst->tail->next = src->head;
        else
            dst->head = src->head;
        dst->tail = src->tail;
    }
    if (src->ihead != NULL) {
        if (dst->itail != NULL)
            dst->itail->next = src->ihead;
        else
            dst->ihead = src->ihead;
        dst->itail = src->itail;
    }
    memset(src, 0, sizeof(*src));
}

/* Gives written blocks back to the spare list (a few) or to free(). */
static void w_release_blocks(struct store_writer *w, struct wblock *b)
{
    struct wblock *drop = NULL;

    pthread_mutex_lock(&w->mu);
    while (b != NULL) {
        struct wblock *next = b->next;

        if (w->nfree < WFREE_KEEP) {
            b->next = w->free;
            w->free = b;
            w->nfree++;
        } else {
            b->next = drop;
            drop = b;
        }
        b = next;
    }
    pthread_mutex_unlock(&w->mu);
    while (drop != NULL) {
        struct wblock *next = drop->next;

        free(drop);
        drop = next;
    }
}

static void free_items(struct witem *it)
{
    while (it != NULL) {
        struct witem *next = it->next;

        free(it);
        it = next;
    }
}

static bool w_sql(struct store_writer *w, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);

    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return true;
    w_error(w, "%s (session %lld): %s", what, (long long)w->session_id, sqlite3_errmsg(w->db));
    return false;
}

/*
 * Writes all pending items and a prefix of the pending blocks (up to
 * WTXN_MAX_SAMPLES samples) in one transaction. On commit they leave the
 * pending list; on failure everything stays pending for a retry.
 */
static bool w_write_txn(struct store_writer *w)
{
    struct wblock *b, *stop_at;
    uint64_t nsamples = 0; /* taken into this transaction */
    uint64_t written = 0;  /* of which the database accepted */

    if (!w_sql(w, w->begin, "beginning a transaction"))
        goto failed;
    for (const struct witem *it = w->pending.ihead; it != NULL; it = it->next)
        if (w_write_item(w, it) == WS_TXN_FAILED)
            goto failed;
    for (b = w->pending.head; b != NULL; b = b->next) {
        if (nsamples > 0 && nsamples + b->n > WTXN_MAX_SAMPLES)
            break;
        if (w_write_samples(w, b->s, b->n, &written) == WS_TXN_FAILED)
            goto failed;
        nsamples += b->n;
    }
    stop_at = b;
    if (!w_sql(w, w->commit, "committing"))
        goto failed;

    atomic_fetch_add(&w->committed, written);
    free_items(w->pending.ihead);
    w->pending.ihead = w->pending.itail = NULL;
    b = w->pending.head;
    if (stop_at == NULL) {
        w->pending.head = w->pending.tail = NULL;
    } else {
        struct wblock *last = b;

        while (last->next != stop_at)
            last = last->next;
        last->next = NULL;
        w->pending.head = stop_at;
    }
    w_release_blocks(w, b);
    return true;

failed:
    if (!sqlite3_get_autocommit(w->db))
        (void)w_sql(w, w->rollback, "rolling back");
    return false;
}

/* Finish gave up: count what could not be written, say so and free it. */
static void w_give_up(struct store_writer *w)
{
    uint64_t ns = 0, nitems = 0;

    for (const struct wblock *b = w->pending.head; b != NULL; b = b->next)
        ns += b->n;
    for (const struct witem *it = w->pending.ihead; it != NULL; it = it->next)
        nitems++;
    w_error(w,
            "session %lld: gave up after %d failed transactions in a row: "
            "%llu samples and %llu interval/summary/event rows were NOT written",
            (long long)w->session_id, WFINISH_ATTEMPTS, (unsigned long long)ns,
            (unsigned long long)nitems);
    free_items(w->pending.ihead);
    w_release_blocks(w, w->pending.head);
    memset(&w->pending, 0, sizeof(w->pending));
}

static struct timespec deadline_after(long long ns)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    ns += t.tv_nsec;
    t.tv_sec += (time_t)(ns / 1000000000LL);
    t.tv_nsec = (long)(ns % 1000000000LL);
    return t;
}

/* True when a full block or a non-sample row is queued (worth waking for). */
static bool w_ready_locked(const struct store_writer *w)
{
    return w->q.ihead != NULL ||
           (w->q.head != NULL && (w->q.head != w->q.tail || w->q.head->n == WBLOCK_SAMPLES));
}

/*
 * Nice value of the writer thread. On a machine the load saturates, the
 * disk work yields to the load workers and the target (the writer catches up
 * in idle moments and at the end, its queue holding what waits); it never
 * drops anything, it only goes second.
 */
#define WRITER_NICE 10

static void *w_main(void *arg)
{
    struct store_writer *w = arg;
    bool failed = false;
    int finish_failures = 0;

    /* Linux applies nice per thread; failure (a locked-down system) is harmless. */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WRITER_NICE);

    for (;;) {
        bool stopping;

        pthread_mutex_lock(&w->mu);
        if (!w->stop) {
            struct timespec dl = deadline_after(failed ? WRETRY_NS : WFLUSH_NS);

            /* After a failure, pause the full WRETRY_NS: retrying at once rarely helps. */
            while (!w->stop && (failed || !w_ready_locked(w)))
                if (pthread_cond_timedwait(&w->cv, &w->mu, &dl) != 0)
                    break;
        }
        stopping = w->stop;
        wlist_move(&w->pending, &w->q);
        pthread_mutex_unlock(&w->mu);

        failed = false;
        while (!wlist_empty(&w->pending)) {
            if (!w_write_txn(w)) {
                failed = true;
                break;
            }
        }
        if (!stopping)
            continue;
        if (!failed) {
            bool empty;

            pthread_mutex_lock(&w->mu);
            empty = wlist_empty(&w->q);
            pthread_mutex_unlock(&w->mu);
            if (empty)
                break;
            continue;
        }
        if (++finish_failures >= WFINISH_ATTEMPTS) {
            w_give_up(w);
            break;
        }
        {
            struct timespec pause = {0, WRETRY_NS};

            nanosleep(&pause, NULL);
        }
    }
    return NULL;
}

static void w_free(struct store_writer *w)
{
    sqlite3_finalize(w->begin);
    sqlite3_finalize(w->commit);
    sqlite3_finalize(w->rollback);
    sqlite3_finalize(w->ins_sample);
    sqlite3_finalize(w->ins_samples);
    sqlite3_finalize(w->ins_interval);
    sqlite3_finalize(w->ins_summary);
    sqlite3_finalize(w->ins_event);
    sqlite3_close(w->db);
    wlist_move(&w->pending, &w->q);
    free_items(w->pending.ihead);
    for (struct wblock *b = w->pending.head; b != NULL;) {
        struct wblock *next = b->next;

        free(b);
        b = next;
    }
    while (w->free != NULL) {
        struct wblock *next = w->free->next;

        free(w->free);
        w->free = next;
    }
    if (w->cv_ready)
        pthread_cond_destroy(&w->cv);
    if (w->mu_ready)
        pthread_mutex_destroy(&w->mu);
    free(w);
}

#define SAMPLE_COLUMNS                                                                             \
    "INSERT INTO samples(session_id, seq, worker, vu, step, intended_ns, start_ns, end_ns, "       \
    "dns_us, connect_us, tls_us, ttfb_us, bytes_out, bytes_in, status, err, flags, "               \
    "rpc_code, attempts, followups, retries, backoff_us, last_try_us, aws_code) VALUES"

/* Prepares the WMULTI-row sample INSERT: (?1, ?2 .. ?18), (?1, ?19 .. ?35), ... */
static ls_err w_prepare_multi(struct store_writer *w, struct store *st)
{
    size_t cap = sizeof(SAMPLE_COLUMNS) + (size_t)WMULTI * (WSAMPLE_PARAMS * 8 + 8);
    char *sql = malloc(cap);
    size_t len;
    ls_err e;

    if (sql == NULL)
        return LS_ERR_NOMEM;
    len = (size_t)snprintf(sql, cap, "%s", SAMPLE_COLUMNS);
    for (int r = 0; r < WMULTI; r++) {
        len += (size_t)snprintf(sql + len, cap - len, "%s(?1", r > 0 ? "," : "");
        for (int k = 0; k < WSAMPLE_PARAMS; k++)
            len += (size_t)snprintf(sql + len, cap - len, ",?%d", 2 + r * WSAMPLE_PARAMS + k);
        len += (size_t)snprintf(sql + len, cap - len, ")");
    }
    e = store_db_prepare(w->db, sql, &w->ins_samples, st->errmsg, sizeof(st->errmsg));
    free(sql);
    return e;
}

static ls_err w_open_db(struct store_writer *w, struct store *st)
{
    const char *file = sqlite3_db_filename(st->db, "main");
    ls_err e;
    int rc;

    if (file == NULL || file[0] == '\0') {
        st_err(st, "the writer needs a database file, not an in-memory database");
        return LS_ERR_INVALID;
    }
    /* The connection is used by one thread at a time (start, then the writer, then finish). */
    rc = sqlite3_open_v2(file, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        st_err(st, "writer: %s: %s", file,
               w->db != NULL ? sqlite3_errmsg(w->db) : sqlite3_errstr(rc));
        return LS_ERR_DB;
    }
    e = store_db_configure(w->db, st->errmsg, sizeof(st->errmsg));
    if (e != LS_OK)
        return e;
    /* A larger page cache keeps the samples index's hot pages in memory. */
    e = store_db_exec(w->db, "PRAGMA cache_size=-32768", "writer cache size", st->errmsg,
                sizeof(st->errmsg));
    if (e != LS_OK)
        return e;

#define WPREP(field, sql)                                                                          \
    do {                                                                                           \
        e = store_db_prepare(w->db, sql, &w->field, st->errmsg, sizeof(st->errmsg));                     \
        if (e != LS_OK)                                                                            \
            return e;                                                                              \
    } while (0)
    WPREP(begin, "BEGIN IMMEDIATE");
    WPREP(commit, "COMMIT");
    WPREP(rollback, "ROLLBACK");
    WPREP(ins_sample, SAMPLE_COLUMNS "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
                                     "?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)");
    WPREP(ins_interval,
          "INSERT INTO intervals(session_id, second, step, warmup, count, errors, late, "
          "p50_us, p90_us, p99_us, p999_us, max_us, mean_us, u_p50_us, u_p90_us, u_p99_us, "
          "u_p999_us, u_max_us, u_mean_us, hist, u_hist) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, "
          "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)");
    WPREP(ins_summary,
          "INSERT INTO summaries(session_id, step, count, errors, rate, err_json, p50_us, "
          "p90_us, p99_us, p999_us, max_us, mean_us, u_p50_us, u_p90_us, u_p99_us, u_p999_us, "
          "u_max_us, u_mean_us) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
          "?13, ?14, ?15, ?16, ?17, ?18)");
    WPREP(ins_event, "INSERT INTO events(session_id, t_ns, kind, message) "
                     "VALUES(?1, ?2, ?3, ?4)");
#undef WPREP
    e = w_prepare_multi(w, st);
    if (e != LS_OK)
        return e;
    sqlite3_bind_int64(w->ins_sample, 1, w->session_id);
    sqlite3_bind_int64(w->ins_samples, 1, w->session_id);
    sqlite3_bind_int64(w->ins_interval, 1, w->session_id);
    sqlite3_bind_int64(w->ins_summary, 1, w->session_id);
    sqlite3_bind_int64(w->ins_event, 1, w->session_id);
    return LS_OK;
}

ls_err store_writer_start(struct store *st, int64_t session_id, struct store_writer **out)
{
    struct store_writer *w = NULL;
    pthread_condattr_t ca;
    ls_err e = LS_OK;
    int rc;

    if (st == NULL || out == NULL)
        return LS_ERR_INVALID;
    *out = NULL;
    sqlite3_bind_int64(st->has_session, 1, session_id);
    rc = sqlite3_step(st->has_session);
    sqlite3_reset(st->has_session);
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE)
            st_err(st, "writer: no session %lld", (long long)session_id);
        else
            st_err(st, "writer: looking up session %lld: %s", (long long)session_id,
                   sqlite3_errmsg(st->db));
        return rc == SQLITE_DONE ? LS_ERR_NOTFOUND : LS_ERR_DB;
    }

    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return LS_ERR_NOMEM;
    w->st = st;
    w->session_id = session_id;
    atomic_init(&w->committed, 0);
    atomic_init(&w->errors, 0);
    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        e = LS_ERR_INTERNAL;
        goto out;
    }
    w->mu_ready = true;
    if (pthread_condattr_init(&ca) != 0) {
        e = LS_ERR_INTERNAL;
        goto out;
    }
    rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        e = LS_ERR_INTERNAL;
        goto out;
    }
    w->cv_ready = true;

    e = w_open_db(w, st);
    if (e != LS_OK)
        goto out;
    if (pthread_create(&w->thread, NULL, w_main, w) != 0) {
        st_err(st, "writer: could not start its thread");
        e = LS_ERR_INTERNAL;
        goto out;
    }
    w->thread_started = true;
out:
    if (e != LS_OK) {
        w_free(w);
        return e;
    }
    *out = w;
    return LS_OK;
}

ls_err store_writer_samples(struct store_writer *w, const struct ls_sample *s, size_t n)
{
    if (w == NULL || (s == NULL && n > 0))
        return LS_ERR_INVALID;
    while (n > 0) {
        struct wblock *tail;
        size_t k;

        pthread_mutex_lock(&w->mu);
        if (w->stop) {
            pthread_mutex_unlock(&w->mu);
            return LS_ERR_INVALID;
        }
        tail = w->q.tail;
        if (tail == NULL || tail->n == WBLOCK_SAMPLES) {
            struct wblock *b = w->free;

            if (b != NULL) {
                w->free = b->next;
                w->nfree--;
            } else {
                /* Allocate outside the lock; other producers may append meanwhile. */
                pthread_mutex_unlock(&w->mu);
                b = malloc(sizeof(*b));
                if (b == NULL)
                    return LS_ERR_NOMEM;
                pthread_mutex_lock(&w->mu);
                if (w->stop) {
                    pthread_mutex_unlock(&w->mu);
                    free(b);
                    return LS_ERR_INVALID;
                }
            }
            b->next = NULL;
            b->n = 0;
            if (w->q.tail != NULL)
                w->q.tail->next = b;
            else
                w->q.head = b;
            w->q.tail = b;
            tail = b;
        }
        k = WBLOCK_SAMPLES - tail->n;
        if (k > n)
            k = n;
        memcpy(&tail->s[tail->n], s, k * sizeof(*s));
        tail->n += k;
        if (tail->n == WBLOCK_SAMPLES)
            pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        s += k;
        n -= k;
    }
    return LS_OK;
}

/* Appends an item built by the caller; frees it if the writer is finishing. */
static ls_err w_push_item(struct store_writer *w, struct witem *it)
{
    it->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->stop) {
        pthread_mutex_unlock(&w->mu);
        free(it);
        return LS_ERR_INVALID;
    }
    if (w->q.itail != NULL)
        w->q.itail->next = it;
    else
        w->q.ihead = it;
    w->q.itail = it;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return LS_OK;
}

ls_err store_writer_interval(struct store_writer *w, const struct store_interval *iv)
{
    struct witem *it;
    size_t hl, ul;

    if (w == NULL || iv == NULL)
        return LS_ERR_INVALID;
    hl = iv->hist != NULL ? iv->hist_len : 0;
    ul = iv->u_hist != NULL ? iv->u_hist_len : 0;
    it = malloc(sizeof(*it) + hl + ul);
    if (it == NULL)
        return LS_ERR_NOMEM;
    it->kind = WI_INTERVAL;
    it->u.iv = *iv;
    if (hl > 0)
        memcpy(it->data, iv->hist, hl);
    if (ul > 0)
        memcpy(it->data + hl, iv->u_hist, ul);
    it->u.iv.hist = hl > 0 ? it->data : NULL;
    it->u.iv.hist_len = hl;
    it->u.iv.u_hist = ul > 0 ? it->data + hl : NULL;
    it->u.iv.u_hist_len = ul;
    return w_push_item(w, it);
}

ls_err store_writer_summary(struct store_writer *w, const struct store_summary *sm)
{
    struct witem *it;

    if (w == NULL || sm == NULL)
        return LS_ERR_INVALID;
    it = malloc(sizeof(*it));
    if (it == NULL)
        return LS_ERR_NOMEM;
    it->kind = WI_SUMMARY;
    it->u.sm = *sm;
    return w_push_item(w, it);
}

ls_err store_writer_event(struct store_writer *w, uint64_t t_ns, const char *kind,
                          const char *message)
{
    struct witem *it;
    size_t kl, ml;

    if (w == NULL || kind == NULL)
        return LS_ERR_INVALID;
    kl = strlen(kind) + 1;
    ml = message != NULL ? strlen(message) + 1 : 0;
    it = malloc(sizeof(*it) + kl + ml);
    if (it == NULL)
        return LS_ERR_NOMEM;
    it->kind = WI_EVENT;
    it->u.ev.t_ns = t_ns;
    memcpy(it->data, kind, kl);
    it->u.ev.kind = (const char *)it->data;
    it->u.ev.message = NULL;
    if (message != NULL) {
        memcpy(it->data + kl, message, ml);
        it->u.ev.message = (const char *)(it->data + kl);
    }
    return w_push_item(w, it);
}

ls_err store_writer_finish(struct store_writer *w)
{
    uint64_t nerr;
    ls_err e;

    if (w == NULL)
        return LS_ERR_INVALID;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->thread_started)
        pthread_join(w->thread, NULL);

    e = w->first_err;
    nerr = atomic_load(&w->errors);
    if (nerr == 1)
        st_err(w->st, "%s", w->first_msg);
    else if (nerr > 1)
        st_err(w->st, "%s (%llu errors in all; last: %s)", w->first_msg, (unsigned long long)nerr,
               w->last_msg);
    w_free(w);
    return e;
}

uint64_t store_writer_committed(const struct store_writer *w)
{
    return w != NULL ? atomic_load(&w->committed) : 0;
}

uint64_t store_writer_errors(const struct store_writer *w)
{
    return w != NULL ? atomic_load(&w->errors) : 0;
}
