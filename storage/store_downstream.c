/*
 * store_downstream: writing and reading the downstream tables (see
 * store_downstream.h). Unsigned counts are stored by two's-complement cast
 * as elsewhere in storage; a call's "shares" (several steps in flight) is a
 * small JSON object {"STEP": IN_FLIGHT, ...}, written and read here.
 */
#include "store_downstream.h"
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "stats/hdr.h"

static const char SCHEMA[] =
    "CREATE TABLE downstream_calls (  -- one row per call the target made through a proxy\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
    "  seq INTEGER NOT NULL,  -- in the order calls finished\n"
    "  service TEXT NOT NULL, op TEXT NOT NULL,\n"
    "  start_ns INTEGER,  -- first request byte, since the run's start (negative: before it)\n"
    "  latency_us INTEGER,  -- first request byte received -> last reply byte sent\n"
    "  upstream_us INTEGER,  -- the upstream alone; NULL: not forwarded\n"
    "  status INTEGER,  -- sent to the target; 0: no reply (reset, the target left)\n"
    "  aws_code TEXT,  -- NULL: none\n"
    "  bytes_in INTEGER, bytes_out INTEGER,  -- request from / reply to the target\n"
    "  new_conn INTEGER,  -- 1: first request on a connection the target opened\n"
    "  attempt INTEGER, max_attempts INTEGER,  -- amz-sdk-request; NULL when absent\n"
    "  invocation_id TEXT,  -- amz-sdk-invocation-id; NULL when absent\n"
    "  batch_asked INTEGER, batch_unprocessed INTEGER,  -- NULL unless a batch call\n"
    "  fault TEXT,  -- injected: 'throttle', 'server_error', 'reset', 'delay'; NULL: none\n"
    "  delay_us INTEGER,\n"
    "  in_flight INTEGER,  -- MCP requests in flight in the target when it arrived\n"
    "  step INTEGER,  -- the step of those requests; -1: none in flight; -2: several steps\n"
    "  shares TEXT,  -- several steps: {\"STEP\": IN_FLIGHT, ...}\n"
    "  detail TEXT,  -- the proxy's own trouble; NULL: none\n"
    "  PRIMARY KEY(session_id, seq));\n"
    "CREATE TABLE downstream_seconds (  -- second: since the run's start, as intervals.second\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
    "  second INTEGER NOT NULL, service TEXT NOT NULL, op TEXT NOT NULL,\n"
    "  calls INTEGER, errors INTEGER, throttles INTEGER, server_errors INTEGER,\n"
    "  retries INTEGER,  -- calls with attempt > 1\n"
    "  new_conns INTEGER, faults INTEGER, bytes_in INTEGER, bytes_out INTEGER,\n"
    "  batch_asked INTEGER, batch_unprocessed INTEGER,\n"
    "  p50_us INTEGER, p99_us INTEGER, max_us INTEGER, mean_us REAL,\n"
    "  up_p50_us INTEGER, up_p99_us INTEGER,\n"
    "  hist BLOB, up_hist BLOB,  -- hdr_encode of latency / upstream latency (us)\n"
    "  PRIMARY KEY(session_id, second, service, op));\n"
    "CREATE TABLE downstream_attribution (  -- calls counted against a step's MCP requests\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
    "  second INTEGER NOT NULL, step INTEGER NOT NULL,  -- -1: none in flight\n"
    "  service TEXT NOT NULL, op TEXT NOT NULL,\n"
    "  calls REAL, time_us REAL, new_conns REAL,  -- fractions when steps shared a call\n"
    "  PRIMARY KEY(session_id, second, step, service, op));\n"
    "CREATE TABLE downstream_requests (  -- MCP requests of a step that ended in the second\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
    "  second INTEGER NOT NULL, step INTEGER NOT NULL, requests INTEGER,\n"
    "  PRIMARY KEY(session_id, second, step));\n";

ls_err store_downstream_migrate(struct sqlite3 *db, char *msg, size_t cap)
{
    return store_db_exec(db, SCHEMA, "creating the downstream tables", msg, cap);
}

struct store_downstream {
    sqlite3 *db;
    int64_t session;
    sqlite3_stmt *ins_call, *ins_sec, *ins_attr, *ins_req;
    uint8_t *enc;
    size_t enccap;
    char errmsg[STORE_MSG_CAP];
};

static const char SQL_CALL[] =
    "INSERT OR REPLACE INTO downstream_calls(session_id, seq, service, op, start_ns, latency_us,"
    " upstream_us, status, aws_code, bytes_in, bytes_out, new_conn, attempt, max_attempts,"
    " invocation_id, batch_asked, batch_unprocessed, fault, delay_us, in_flight, step, shares,"
    " detail) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,"
    "?22,?23)";
static const char SQL_SEC[] =
    "INSERT OR REPLACE INTO downstream_seconds(session_id, second, service, op, calls, errors,"
    " throttles, server_errors, retries, new_conns, faults, bytes_in, bytes_out, batch_asked,"
    " batch_unprocessed, p50_us, p99_us, max_us, mean_us, up_p50_us, up_p99_us, hist, up_hist)"
    " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23)";
static const char SQL_ATTR[] =
    "INSERT OR REPLACE INTO downstream_attribution(session_id, second, step, service, op, calls,"
    " time_us, new_conns) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)";
static const char SQL_REQ[] =
    "INSERT OR REPLACE INTO downstream_requests(session_id, second, step, requests)"
    " VALUES(?1,?2,?3,?4)";

ls_err store_downstream_open(struct store *st, int64_t session_id, struct store_downstream **out)
{
    ls_err e = LS_ERR_DB;
    struct store_downstream *w = calloc(1, sizeof(*w));
    *out = NULL;
    if (w == NULL)
        return LS_ERR_NOMEM;
    w->session = session_id;
    const char *path = sqlite3_db_filename(st->db, "main");
    if (path == NULL || path[0] == '\0' ||
        sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        st_err(st, "opening %s for downstream rows: %s", path ? path : "(memory)",
               w->db ? sqlite3_errmsg(w->db) : "no memory");
        goto fail;
    }
    e = store_db_configure(w->db, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_db_prepare(w->db, SQL_CALL, &w->ins_call, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_db_prepare(w->db, SQL_SEC, &w->ins_sec, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_db_prepare(w->db, SQL_ATTR, &w->ins_attr, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_db_prepare(w->db, SQL_REQ, &w->ins_req, st->errmsg, sizeof(st->errmsg));
    if (e != LS_OK)
        goto fail;
    *out = w;
    return LS_OK;
fail:
    store_downstream_close(w);
    return e;
}

const char *store_downstream_errmsg(const struct store_downstream *w)
{
    return w->errmsg;
}

void store_downstream_close(struct store_downstream *w)
{
    if (w == NULL)
        return;
    sqlite3_finalize(w->ins_call);
    sqlite3_finalize(w->ins_sec);
    sqlite3_finalize(w->ins_attr);
    sqlite3_finalize(w->ins_req);
    sqlite3_close(w->db);
    free(w->enc);
    free(w);
}

static ls_err step(struct store_downstream *w, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_DONE)
        return LS_OK;
    store_msg_set(w->errmsg, sizeof(w->errmsg), "%s: %s", what, sqlite3_errmsg(w->db));
    return LS_ERR_DB;
}

static ls_err begin(struct store_downstream *w)
{
    return store_db_exec(w->db, "BEGIN", "downstream rows", w->errmsg, sizeof(w->errmsg));
}

static ls_err end(struct store_downstream *w, ls_err e)
{
    if (e == LS_OK)
        return store_db_exec(w->db, "COMMIT", "downstream rows", w->errmsg, sizeof(w->errmsg));
    (void)sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
    return e;
}

static void bind_opt(sqlite3_stmt *q, int i, bool present, int64_t v)
{
    if (present)
        sqlite3_bind_int64(q, i, v);
    else
        sqlite3_bind_null(q, i);
}

/* The call's step: the one step in flight, -1 for none, -2 for several (then shares). */
static int64_t call_step(const struct ds_call *c, char *shares, size_t cap)
{
    shares[0] = '\0';
    if (c->nshares == 0)
        return DS_STEP_NONE;
    if (c->nshares == 1)
        return c->shares[0].step;
    size_t n = 0;
    n += (size_t)snprintf(shares + n, cap - n, "{");
    for (uint16_t i = 0; i < c->nshares && n < cap; i++)
        n += (size_t)snprintf(shares + n, cap - n, "%s\"%d\":%u", i ? "," : "",
                              (int)c->shares[i].step, (unsigned)c->shares[i].in_flight);
    if (n < cap)
        snprintf(shares + n, cap - n, "}");
    return -2;
}

ls_err store_downstream_calls(struct store_downstream *w, const struct ds_call *c, size_t n)
{
    if (n == 0)
        return LS_OK;
    ls_err e = begin(w);
    if (e != LS_OK)
        return e;
    for (size_t i = 0; i < n && e == LS_OK; i++) {
        const struct ds_call *x = &c[i];
        sqlite3_stmt *q = w->ins_call;
        char shares[DS_SHARES_MAX * 24 + 4];
        int64_t stp = call_step(x, shares, sizeof shares);
        bool batch = ds_op_is_batch(x->op);
        sqlite3_bind_int64(q, 1, w->session);
        sqlite3_bind_int64(q, 2, (int64_t)x->seq);
        store_bind_text(q, 3, awsconf_service_name((enum aws_service)x->service));
        store_bind_text(q, 4, x->op);
        sqlite3_bind_int64(q, 5, x->start_ns);
        sqlite3_bind_int64(q, 6, (int64_t)((x->latency_ns + 999) / 1000));
        bind_opt(q, 7, x->upstream_ns > 0, (int64_t)((x->upstream_ns + 999) / 1000));
        sqlite3_bind_int(q, 8, x->status);
        store_bind_text(q, 9, x->aws_code[0] ? x->aws_code : NULL);
        sqlite3_bind_int64(q, 10, (int64_t)x->bytes_in);
        sqlite3_bind_int64(q, 11, (int64_t)x->bytes_out);
        sqlite3_bind_int(q, 12, x->new_conn ? 1 : 0);
        bind_opt(q, 13, x->attempt > 0, x->attempt);
        bind_opt(q, 14, x->max_attempts > 0, x->max_attempts);
        store_bind_text(q, 15, x->invocation_id[0] ? x->invocation_id : NULL);
        bind_opt(q, 16, batch, x->batch_asked);
        bind_opt(q, 17, batch, x->batch_unprocessed);
        store_bind_text(q, 18, ds_fault_name((enum ds_fault)x->fault));
        bind_opt(q, 19, x->fault == DS_FAULT_DELAY, (int64_t)(x->delay_ns / 1000));
        sqlite3_bind_int64(q, 20, x->in_flight);
        sqlite3_bind_int64(q, 21, stp);
        store_bind_text(q, 22, shares[0] ? shares : NULL);
        store_bind_text(q, 23, x->detail[0] ? x->detail : NULL);
        e = step(w, q, "storing a downstream call");
    }
    return end(w, e);
}

/* Encodes h into w->enc; binds it (or NULL) at index i. */
static ls_err bind_hist(struct store_downstream *w, sqlite3_stmt *q, int i, const struct hdr *h)
{
    if (h == NULL || hdr_total_count(h) == 0) {
        sqlite3_bind_null(q, i);
        return LS_OK;
    }
    size_t need = hdr_encoded_size_max(h), len = 0;
    if (need > w->enccap) {
        uint8_t *p = realloc(w->enc, need);
        if (p == NULL)
            return LS_ERR_NOMEM;
        w->enc = p;
        w->enccap = need;
    }
    if (hdr_encode(h, w->enc, w->enccap, &len) != LS_OK)
        return LS_ERR_INTERNAL;
    sqlite3_bind_blob(q, i, w->enc, (int)len, SQLITE_TRANSIENT);
    return LS_OK;
}

static int64_t pct(const struct hdr *h, double p)
{
    return h && hdr_total_count(h) ? hdr_value_at_percentile(h, p) : 0;
}

ls_err store_downstream_second(struct store_downstream *w, const struct ds_second *s)
{
    if (s->nops == 0 && s->nattr == 0 && s->nsteps == 0)
        return LS_OK;
    ls_err e = begin(w);
    if (e != LS_OK)
        return e;
    for (size_t i = 0; i < s->nops && e == LS_OK; i++) {
        const struct ds_op_second *o = &s->ops[i];
        sqlite3_stmt *q = w->ins_sec;
        sqlite3_bind_int64(q, 1, w->session);
        sqlite3_bind_int64(q, 2, s->second);
        store_bind_text(q, 3, awsconf_service_name((enum aws_service)o->service));
        store_bind_text(q, 4, o->op);
        const uint64_t v[] = {o->calls,     o->errors,          o->throttles, o->server_errors,
                              o->retries,   o->new_conns,       o->faults,    o->bytes_in,
                              o->bytes_out, o->batch_asked,     o->batch_unprocessed};
        for (int k = 0; k < 11; k++)
            sqlite3_bind_int64(q, 5 + k, (int64_t)v[k]);
        sqlite3_bind_int64(q, 16, pct(o->latency, 50));
        sqlite3_bind_int64(q, 17, pct(o->latency, 99));
        sqlite3_bind_int64(q, 18, o->latency ? hdr_max(o->latency) : 0);
        sqlite3_bind_double(q, 19, o->latency ? hdr_mean(o->latency) : 0);
        sqlite3_bind_int64(q, 20, pct(o->upstream, 50));
        sqlite3_bind_int64(q, 21, pct(o->upstream, 99));
        e = bind_hist(w, q, 22, o->latency);
        if (e == LS_OK)
            e = bind_hist(w, q, 23, o->upstream);
        if (e == LS_OK)
            e = step(w, q, "storing a downstream second");
        else
            sqlite3_reset(q);
    }
    for (size_t i = 0; i < s->nattr && e == LS_OK; i++) {
        const struct ds_attr_second *a = &s->attr[i];
        sqlite3_stmt *q = w->ins_attr;
        sqlite3_bind_int64(q, 1, w->session);
        sqlite3_bind_int64(q, 2, s->second);
        sqlite3_bind_int64(q, 3, a->step);
        store_bind_text(q, 4, awsconf_service_name((enum aws_service)a->service));
        store_bind_text(q, 5, a->op);
        sqlite3_bind_double(q, 6, a->calls);
        sqlite3_bind_double(q, 7, a->time_us);
        sqlite3_bind_double(q, 8, a->new_conns);
        e = step(w, q, "storing a downstream attribution");
    }
    for (size_t i = 0; i < s->nsteps && e == LS_OK; i++) {
        sqlite3_stmt *q = w->ins_req;
        sqlite3_bind_int64(q, 1, w->session);
        sqlite3_bind_int64(q, 2, s->second);
        sqlite3_bind_int64(q, 3, s->steps[i].step);
        sqlite3_bind_int64(q, 4, (int64_t)s->steps[i].requests);
        e = step(w, q, "storing downstream requests");
    }
    return end(w, e);
}

/* ------------------------------------------------------------ reading */

static const char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

static uint8_t service_of(const char *name)
{
    return strcmp(name, "s3") == 0 ? AWS_S3 : AWS_DYNAMODB;
}

/* Reads {"STEP": N, ...} back into c->shares. */
static void read_shares(const char *txt, struct ds_call *c)
{
    const char *p = txt;
    while (*p && c->nshares < DS_SHARES_MAX) {
        while (*p && *p != '"')
            p++;
        if (!*p)
            break;
        char *end;
        long step = strtol(p + 1, &end, 10);
        p = end;
        while (*p && *p != ':')
            p++;
        if (!*p)
            break;
        unsigned long n = strtoul(p + 1, &end, 10);
        p = end;
        c->shares[c->nshares++] = (struct ds_share){(int32_t)step, (uint32_t)n};
    }
}

ls_err store_downstream_calls_each(struct store *st, int64_t session_id, store_ds_call_fn fn,
                                   void *ctx)
{
    sqlite3_stmt *s = NULL;
    ls_err e = store_db_prepare(
        st->db,
        "SELECT seq, service, op, start_ns, latency_us, upstream_us, status, aws_code, bytes_in,"
        " bytes_out, new_conn, attempt, max_attempts, invocation_id, batch_asked,"
        " batch_unprocessed, fault, delay_us, in_flight, step, shares, detail"
        " FROM downstream_calls WHERE session_id = ?1 ORDER BY seq",
        &s, st->errmsg, sizeof(st->errmsg));
    if (e != LS_OK)
        return e;
    sqlite3_bind_int64(s, 1, session_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct ds_call c;
        memset(&c, 0, sizeof c);
        c.seq = (uint64_t)sqlite3_column_int64(s, 0);
        c.service = service_of(col_text(s, 1));
        snprintf(c.op, sizeof c.op, "%s", col_text(s, 2));
        c.start_ns = sqlite3_column_int64(s, 3);
        c.latency_ns = (uint64_t)sqlite3_column_int64(s, 4) * 1000;
        c.upstream_ns = (uint64_t)sqlite3_column_int64(s, 5) * 1000;
        c.status = (uint16_t)sqlite3_column_int(s, 6);
        snprintf(c.aws_code, sizeof c.aws_code, "%s", col_text(s, 7));
        c.bytes_in = (uint64_t)sqlite3_column_int64(s, 8);
        c.bytes_out = (uint64_t)sqlite3_column_int64(s, 9);
        c.new_conn = sqlite3_column_int(s, 10) != 0;
        c.attempt = (uint16_t)sqlite3_column_int(s, 11);
        c.max_attempts = (uint16_t)sqlite3_column_int(s, 12);
        snprintf(c.invocation_id, sizeof c.invocation_id, "%s", col_text(s, 13));
        c.batch_asked = (uint32_t)sqlite3_column_int64(s, 14);
        c.batch_unprocessed = (uint32_t)sqlite3_column_int64(s, 15);
        const char *f = col_text(s, 16);
        for (int k = 1; k < DS_FAULT__COUNT; k++)
            if (strcmp(f, ds_fault_name((enum ds_fault)k)) == 0)
                c.fault = (uint8_t)k;
        c.delay_ns = (uint64_t)sqlite3_column_int64(s, 17) * 1000;
        c.in_flight = (uint32_t)sqlite3_column_int64(s, 18);
        int64_t stp = sqlite3_column_int64(s, 19);
        if (stp >= 0)
            c.shares[c.nshares++] = (struct ds_share){(int32_t)stp, c.in_flight};
        else if (stp == -2)
            read_shares(col_text(s, 20), &c);
        snprintf(c.detail, sizeof c.detail, "%s", col_text(s, 21));
        if (fn(ctx, &c) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        st_err(st, "reading downstream calls: %s", sqlite3_errmsg(st->db));
        e = LS_ERR_DB;
    }
    sqlite3_finalize(s);
    return e;
}

/* One second's rows, gathered for the callback. */
struct sec_rows {
    struct ds_op_second *ops;
    struct ds_attr_second *attr;
    struct ds_step_second *steps;
    size_t nops, nattr, nsteps, capops, capattr, capsteps;
};

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *np = realloc(*p, n * elem);
    if (np == NULL)
        return false;
    *p = np;
    *cap = n;
    return true;
}

static void free_rows(struct sec_rows *r)
{
    for (size_t i = 0; i < r->nops; i++) {
        free((char *)(uintptr_t)r->ops[i].op);
        hdr_close((struct hdr *)(uintptr_t)r->ops[i].latency);
        hdr_close((struct hdr *)(uintptr_t)r->ops[i].upstream);
    }
    for (size_t i = 0; i < r->nattr; i++)
        free((char *)(uintptr_t)r->attr[i].op);
    r->nops = r->nattr = r->nsteps = 0;
}

static const struct hdr *decode(sqlite3_stmt *s, int i)
{
    const void *b = sqlite3_column_blob(s, i);
    int n = sqlite3_column_bytes(s, i);
    struct hdr *h = NULL;
    if (b == NULL || n <= 0 || hdr_decode(b, (size_t)n, &h) != LS_OK)
        return NULL;
    return h;
}

ls_err store_downstream_seconds_each(struct store *st, int64_t session_id, store_ds_second_fn fn,
                                     void *ctx)
{
    sqlite3_stmt *secs = NULL, *qo = NULL, *qa = NULL, *qr = NULL;
    struct sec_rows r = {0};
    ls_err e = store_db_prepare(st->db,
                                "SELECT second FROM downstream_seconds WHERE session_id = ?1"
                                " UNION SELECT second FROM downstream_attribution WHERE session_id = ?1"
                                " UNION SELECT second FROM downstream_requests WHERE session_id = ?1"
                                " ORDER BY 1",
                                &secs, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_db_prepare(st->db,
                             "SELECT service, op, calls, errors, throttles, server_errors, retries,"
                             " new_conns, faults, bytes_in, bytes_out, batch_asked,"
                             " batch_unprocessed, hist, up_hist FROM downstream_seconds"
                             " WHERE session_id = ?1 AND second = ?2 ORDER BY service, op",
                             &qo, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_db_prepare(st->db,
                             "SELECT step, service, op, calls, time_us, new_conns"
                             " FROM downstream_attribution WHERE session_id = ?1 AND second = ?2"
                             " ORDER BY step, service, op",
                             &qa, st->errmsg, sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_db_prepare(st->db,
                             "SELECT step, requests FROM downstream_requests"
                             " WHERE session_id = ?1 AND second = ?2 ORDER BY step",
                             &qr, st->errmsg, sizeof(st->errmsg));
    if (e != LS_OK)
        goto out;
    sqlite3_bind_int64(secs, 1, session_id);
    int rc;
    while ((rc = sqlite3_step(secs)) == SQLITE_ROW) {
        int64_t second = sqlite3_column_int64(secs, 0);
        sqlite3_stmt *qs[3] = {qo, qa, qr};
        for (int k = 0; k < 3; k++) {
            sqlite3_reset(qs[k]);
            sqlite3_bind_int64(qs[k], 1, session_id);
            sqlite3_bind_int64(qs[k], 2, second);
        }
        while (e == LS_OK && sqlite3_step(qo) == SQLITE_ROW) {
            if (!grow((void **)&r.ops, &r.capops, r.nops + 1, sizeof(*r.ops))) {
                e = LS_ERR_NOMEM;
                break;
            }
            struct ds_op_second *o = &r.ops[r.nops++];
            memset(o, 0, sizeof(*o));
            o->service = service_of(col_text(qo, 0));
            o->op = strdup(col_text(qo, 1));
            uint64_t *v[] = {&o->calls,     &o->errors,      &o->throttles, &o->server_errors,
                             &o->retries,   &o->new_conns,   &o->faults,    &o->bytes_in,
                             &o->bytes_out, &o->batch_asked, &o->batch_unprocessed};
            for (int k = 0; k < 11; k++)
                *v[k] = (uint64_t)sqlite3_column_int64(qo, 2 + k);
            o->latency = decode(qo, 13);
            o->upstream = decode(qo, 14);
            if (o->op == NULL)
                e = LS_ERR_NOMEM;
        }
        while (e == LS_OK && sqlite3_step(qa) == SQLITE_ROW) {
            if (!grow((void **)&r.attr, &r.capattr, r.nattr + 1, sizeof(*r.attr))) {
                e = LS_ERR_NOMEM;
                break;
            }
            struct ds_attr_second *a = &r.attr[r.nattr++];
            a->step = (int32_t)sqlite3_column_int64(qa, 0);
            a->service = service_of(col_text(qa, 1));
            a->op = strdup(col_text(qa, 2));
            a->calls = sqlite3_column_double(qa, 3);
            a->time_us = sqlite3_column_double(qa, 4);
            a->new_conns = sqlite3_column_double(qa, 5);
            if (a->op == NULL)
                e = LS_ERR_NOMEM;
        }
        while (e == LS_OK && sqlite3_step(qr) == SQLITE_ROW) {
            if (!grow((void **)&r.steps, &r.capsteps, r.nsteps + 1, sizeof(*r.steps))) {
                e = LS_ERR_NOMEM;
                break;
            }
            r.steps[r.nsteps++] = (struct ds_step_second){(int32_t)sqlite3_column_int64(qr, 0),
                                                          (uint64_t)sqlite3_column_int64(qr, 1)};
        }
        int stop = 0;
        if (e == LS_OK) {
            struct ds_second s = {(uint32_t)second, r.ops, r.nops, r.attr, r.nattr, r.steps, r.nsteps};
            stop = fn(ctx, &s);
        }
        free_rows(&r);
        if (e != LS_OK || stop)
            break;
    }
    if (e == LS_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) {
        st_err(st, "reading downstream seconds: %s", sqlite3_errmsg(st->db));
        e = LS_ERR_DB;
    }
out:
    free_rows(&r);
    free(r.ops);
    free(r.attr);
    free(r.steps);
    sqlite3_finalize(secs);
    sqlite3_finalize(qo);
    sqlite3_finalize(qa);
    sqlite3_finalize(qr);
    return e;
}

static int to_model(void *ctx, const struct ds_second *s)
{
    ds_model_add_second(ctx, s);
    return 0;
}

ls_err store_downstream_model(struct store *st, int64_t session_id, struct ds_model *m)
{
    return store_downstream_seconds_each(st, session_id, to_model, m);
}
