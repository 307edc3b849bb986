/*
 * store_writer: the writer thread that takes a run's samples, intervals,
 * summaries and events off the engine's hands and batches them into SQLite
 * transactions on a connection of its own (see store.c for the model).
 *
 * This file holds the public entry points: starting and finishing the
 * writer, and the producers' side of its queue. The thread and its
 * transactions are in store_writer_thread.c; the connection, its prepared
 * statements and the binding of each row are in store_writer_db.c; what they
 * share is in store_writer_int.h.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "store_int.h"
#include "store_writer_int.h"

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
    sw_wlist_move(&w->pending, &w->q);
    sw_free_items(w->pending.ihead);
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
    atomic_init(&w->failed, false);
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

    e = sw_open_db(w, st);
    if (e != LS_OK)
        goto out;
    if (pthread_create(&w->thread, NULL, sw_main, w) != 0) {
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

ls_err store_writer_failed(struct store_writer *w, char *msg, size_t cap)
{
    if (w == NULL || !atomic_load_explicit(&w->failed, memory_order_acquire))
        return LS_OK;
    store_msg_set(msg, cap, "%s", w->fail_msg);
    return LS_ERR_DB;
}

void store_writer_on_failure(struct store_writer *w, void (*fn)(void *ctx, const char *message),
                             void *ctx)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->on_fail = fn;
    w->on_fail_ctx = ctx;
    pthread_mutex_unlock(&w->mu);
}

uint64_t store_writer_committed(const struct store_writer *w)
{
    return w != NULL ? atomic_load(&w->committed) : 0;
}

uint64_t store_writer_errors(const struct store_writer *w)
{
    return w != NULL ? atomic_load(&w->errors) : 0;
}
