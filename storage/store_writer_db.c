/*
 * store_writer_db: the writer thread's connection and what goes through it.
 * It opens the connection, prepares the INSERTs (a one-row and a WMULTI-row
 * sample INSERT, intervals, summaries, events), binds each queued row to
 * them and steps them inside the transaction store_writer_thread.c holds
 * open, telling a row the database refuses (skipped and reported) from a
 * failure that ends the transaction (the batch is kept for a retry).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_retry.h"
#include "store.h"
#include "store_int.h"
#include "store_writer_int.h"

#define WMULTI 256         /* rows per multi-row sample INSERT */
#define WSAMPLE_PARAMS 23  /* parameters per sample row besides the shared ?1 */

__attribute__((format(printf, 2, 3))) void sw_error(struct store_writer *w, const char *fmt, ...)
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
        sw_error(w, "writing %s %lld of session %lld: %s", what, key, (long long)w->session_id,
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
enum wstep sw_write_samples(struct store_writer *w, const struct ls_sample *x, size_t n,
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

enum wstep sw_write_item(struct store_writer *w, const struct witem *it)
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

ls_err sw_open_db(struct store_writer *w, struct store *st)
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
        e = store_db_prepare(w->db, sql, &w->field, st->errmsg, sizeof(st->errmsg));               \
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
