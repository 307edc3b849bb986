/*
 * store_writer_thread: the writer thread. It waits until a full block of
 * samples or another row is queued (or WFLUSH_NS passes), takes the whole
 * queue, and writes it in transactions of at most WTXN_MAX_SAMPLES samples
 * or WTXN_MAX_NS of work, whichever comes first, so that what is queued is
 * committed at least every WCOMMIT_MAX_NS (the bound on what a kill -9
 * loses, as long as the writer keeps up). A failed transaction keeps its
 * rows and is retried after WRETRY_NS; the first one is reported at once
 * (store_writer_on_failure). When finishing, WFINISH_ATTEMPTS failures in a
 * row make it give up and say what was lost. Written blocks go back to the
 * producers' spare list.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "store_int.h"
#include "store_writer_int.h"

#define WFREE_KEEP 4           /* written blocks kept for reuse */
#define WTXN_MAX_SAMPLES 65536 /* samples per transaction at most */
#define WFLUSH_NS 100000000LL  /* wake for what is queued at least this often */
#define WTXN_MAX_NS 150000000LL /* a transaction takes no more blocks after this long */
/* WFLUSH_NS + WTXN_MAX_NS: how long a queued sample may wait to be committed. */
#define WCOMMIT_MAX_NS 250000000LL
#define WRETRY_NS 250000000LL  /* pause after a failed transaction */
#define WFINISH_ATTEMPTS 3     /* failed transactions in a row before finish gives up */

static bool wlist_empty(const struct wlist *l)
{
    return l->head == NULL && l->ihead == NULL;
}

/* Appends all of src to dst and empties src. */
void sw_wlist_move(struct wlist *dst, struct wlist *src)
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

void sw_free_items(struct witem *it)
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
    sw_error(w, "%s (session %lld): %s", what, (long long)w->session_id, sqlite3_errmsg(w->db));
    return false;
}

/*
 * Writes all pending items and a prefix of the pending blocks (up to
 * WTXN_MAX_SAMPLES samples) in one transaction. On commit they leave the
 * pending list; on failure everything stays pending for a retry.
 */
static long long mono_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/*
 * Marks the session storage_failed (exit code 1) and ended, in a transaction
 * of one row, first thing after the failure: on a full disk the little room
 * left (what the failed transaction took in the WAL) goes to the status
 * rather than to rows written later, so the session says what happened even
 * when the caller's own end of session cannot be written. Under a file size
 * limit the WAL itself is at the limit: it is checkpointed and emptied first.
 */
static void w_mark_failed(struct store_writer *w)
{
    struct timespec now;
    char sql[256];

    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(sql, sizeof(sql),
             "UPDATE sessions SET status_text = 'storage_failed', exit_code = 1, "
             "ended_unix_ns = %lld WHERE id = %lld",
             (long long)now.tv_sec * 1000000000LL + now.tv_nsec, (long long)w->session_id);
    if (sqlite3_exec(w->db, sql, NULL, NULL, NULL) == SQLITE_OK)
        return;
    /* No room at the end of the WAL (a file size limit): move it into the database, which may
     * still grow, and write the status at the start of an emptied WAL. */
    if (sqlite3_exec(w->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(w->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        atomic_fetch_add(&w->errors, 1);
}

/* The first failed transaction: kept for store_writer_failed, and told to the caller once. */
static void w_failed(struct store_writer *w)
{
    void (*fn)(void *, const char *);
    void *ctx;

    if (atomic_load_explicit(&w->failed, memory_order_relaxed))
        return;
    memcpy(w->fail_msg, w->last_msg, sizeof(w->fail_msg));
    atomic_store_explicit(&w->failed, true, memory_order_release);
    w_mark_failed(w);
    pthread_mutex_lock(&w->mu);
    fn = w->on_fail;
    ctx = w->on_fail_ctx;
    pthread_mutex_unlock(&w->mu);
    if (fn != NULL)
        fn(ctx, w->fail_msg);
}

static bool w_write_txn(struct store_writer *w)
{
    struct wblock *b, *stop_at;
    uint64_t nsamples = 0; /* taken into this transaction */
    uint64_t written = 0;  /* of which the database accepted */
    long long began = mono_ns();

    if (!w_sql(w, w->begin, "beginning a transaction"))
        goto failed;
    for (const struct witem *it = w->pending.ihead; it != NULL; it = it->next)
        if (sw_write_item(w, it) == WS_TXN_FAILED)
            goto failed;
    for (b = w->pending.head; b != NULL; b = b->next) {
        if (nsamples > 0 &&
            (nsamples + b->n > WTXN_MAX_SAMPLES || mono_ns() - began >= WTXN_MAX_NS))
            break;
        if (sw_write_samples(w, b->s, b->n, &written) == WS_TXN_FAILED)
            goto failed;
        nsamples += b->n;
    }
    stop_at = b;
    if (!w_sql(w, w->commit, "committing"))
        goto failed;

    atomic_fetch_add(&w->committed, written);
    sw_free_items(w->pending.ihead);
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
    w_failed(w);
    return false;
}

/*
 * Finish gave up: one last try for each interval, summary and event row
 * alone (a small row may fit where the samples did not: on a full disk the
 * space the failed transactions took in the WAL is there to reuse), then
 * count what could not be written, say so and free it.
 */
static void w_give_up(struct store_writer *w)
{
    uint64_t ns = 0, nitems = 0;
    struct wblock *blocks = w->pending.head, *blocks_tail = w->pending.tail;
    struct witem *it = w->pending.ihead, *left = NULL, *left_tail = NULL;

    /* One transaction each: the event saying what happened is worth more than an interval. */
    w->pending.head = w->pending.tail = NULL;
    while (it != NULL) {
        struct witem *next = it->next;

        it->next = NULL;
        w->pending.ihead = w->pending.itail = it;
        if (!w_write_txn(w)) { /* kept: back on the list of what is left */
            if (left_tail != NULL)
                left_tail->next = it;
            else
                left = it;
            left_tail = it;
        }
        it = next;
    }
    w->pending.ihead = left;
    w->pending.itail = left_tail;
    w->pending.head = blocks;
    w->pending.tail = blocks_tail;

    for (const struct wblock *b = w->pending.head; b != NULL; b = b->next)
        ns += b->n;
    for (const struct witem *x = w->pending.ihead; x != NULL; x = x->next)
        nitems++;
    sw_error(w,
            "session %lld: gave up after %d failed transactions in a row: "
            "%llu samples and %llu interval/summary/event rows were NOT written",
            (long long)w->session_id, WFINISH_ATTEMPTS, (unsigned long long)ns,
            (unsigned long long)nitems);
    sw_free_items(w->pending.ihead);
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
 * The writer thread runs at the load workers' priority. It once ran at nice
 * 10 to leave a saturated machine's CPU to the workers and the target, but
 * then it fell seconds behind (on 2 cores, 4 busy threads left it a twentieth
 * of a core, some 30,000 samples/s against 50,000 produced), and all of that
 * backlog was lost to a kill -9. Its cost is about 1.5 us of CPU per sample.
 */
void *sw_main(void *arg)
{
    struct store_writer *w = arg;
    bool failed = false;
    int finish_failures = 0;

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
        sw_wlist_move(&w->pending, &w->q);
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
