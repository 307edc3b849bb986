/*
 * store_writer_int: what the store_writer files share; included by
 * store_writer*.c only.
 *
 * struct store_writer is split between producers (the queue under mu) and
 * the writer thread (its connection, statements and pending rows); see the
 * field comments for which side owns what.
 */
#ifndef LS_STORE_WRITER_INT_H
#define LS_STORE_WRITER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "store_int.h"

#define WBLOCK_SAMPLES 4096 /* samples per queue block (~290 KiB) */

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
    void (*on_fail)(void *ctx, const char *message); /* store_writer_on_failure */
    void *on_fail_ctx;

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
    /* The first failed transaction: fail_msg is written once, before failed is set. */
    _Atomic bool failed;
    char fail_msg[STORE_MSG_CAP];
};

enum wstep { WS_OK, WS_ROW_REJECTED, WS_TXN_FAILED };

/* store_writer_db.c: the writer's connection, its statements, and rows written through them. */

/*
 * Records an error: last_msg always, first_err/first_msg for the first one,
 * and counts it in errors.
 */
__attribute__((format(printf, 2, 3))) void sw_error(struct store_writer *w, const char *fmt, ...);
/* Writes samples x[0..n) in the open transaction; *written counts the rows the database took. */
enum wstep sw_write_samples(struct store_writer *w, const struct ls_sample *x, size_t n,
                            uint64_t *written);
/* Writes one queued interval, summary or event row in the open transaction. */
enum wstep sw_write_item(struct store_writer *w, const struct witem *it);
/*
 * Opens the writer's own connection to st's file and prepares its statements
 * (stored in w, finalized by the caller); errors go to st's message.
 */
LS_MUST_CHECK ls_err sw_open_db(struct store_writer *w, struct store *st);

/* store_writer_thread.c: the writer thread and its transactions. */

/* Appends all of src to dst and empties src. */
void sw_wlist_move(struct wlist *dst, struct wlist *src);
/* Frees a list of items. */
void sw_free_items(struct witem *it);
/* The writer thread's body; arg is the struct store_writer. */
void *sw_main(void *arg);

#endif
