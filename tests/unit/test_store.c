/*
 * Unit tests for storage/store.c: schema creation and versioning, sessions,
 * the writer (samples from several threads, intervals, summaries, events,
 * failing transactions), listing, and the default path. Everything the store
 * writes is read back with plain sqlite3 queries and compared exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "target/proc.h"

struct fx {
    char dir[64];   /* a fresh directory under /tmp */
    char path[128]; /* dir/s.db */
    struct store *st;
};

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[256];

    assert_non_null(f);
    strcpy(f->dir, "/tmp/ls_store_test.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/s.db", f->dir);
    assert_int_equal(store_open(f->path, &f->st, err, sizeof(err)), LS_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    store_close(f->st);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* A raw connection for checking what the store wrote. */
static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static int64_t q_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t v;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* The first column of the single row of sql as text (caller frees); NULL for SQL NULL. */
static char *q_text(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    const unsigned char *t;
    char *v;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    t = sqlite3_column_text(s, 0);
    v = t != NULL ? strdup((const char *)t) : NULL;
    sqlite3_finalize(s);
    return v;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg != NULL ? msg : "?");
}

static int64_t new_session(struct store *st, const char *name, int64_t started)
{
    struct store_session_info info = {.name = name, .started_unix_ns = started};
    int64_t id = 0;

    assert_int_equal(store_session_begin(st, &info, &id), LS_OK);
    return id;
}

static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Sample seq of worker: every field from a hash, over its whole range. */
static struct ls_sample make_sample(uint16_t worker, uint32_t seq)
{
    struct ls_sample s;
    uint64_t h = mix64(((uint64_t)worker << 32) | seq);
    uint64_t g = mix64(h);

    memset(&s, 0, sizeof(s));
    s.intended_ns = h;
    s.start_ns = g;
    s.end_ns = mix64(g);
    s.dns_us = (uint32_t)(h >> 7);
    s.connect_us = (uint32_t)(g >> 3);
    s.tls_us = (uint32_t)(h >> 32);
    s.ttfb_us = (uint32_t)(g >> 32);
    s.bytes_out = (uint32_t)h;
    s.bytes_in = (uint32_t)g;
    s.vu = (uint32_t)(h >> 16);
    s.step = seq % 11 == 0 ? LS_STEP_INITIALIZE : (uint16_t)(h % 5);
    s.worker = worker;
    s.status = (uint16_t)(g >> 48);
    s.err = (uint8_t)(g % LS_EC__COUNT);
    s.flags = (uint8_t)(h >> 56);
    s.seq = seq;
    s.rpc_code = (int32_t)(uint32_t)(g >> 20);
    return s;
}

static uint64_t sample_hash(const struct ls_sample *s, uint64_t acc)
{
    const uint64_t f[] = {s->seq,
                          s->worker,
                          s->vu,
                          s->step,
                          s->intended_ns,
                          s->start_ns,
                          s->end_ns,
                          s->dns_us,
                          s->connect_us,
                          s->tls_us,
                          s->ttfb_us,
                          s->bytes_out,
                          s->bytes_in,
                          s->status,
                          s->err,
                          s->flags,
                          (uint64_t)(int64_t)s->rpc_code};

    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        acc = mix64(acc ^ f[i]) + i;
    return acc;
}

/* Reads back the session's samples in (worker, seq) order. */
static size_t read_samples(sqlite3 *db, int64_t sid, struct ls_sample *out, size_t cap)
{
    sqlite3_stmt *s = NULL;
    size_t n = 0;

    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT seq, worker, vu, step, intended_ns, start_ns, "
                                        "end_ns, dns_us, connect_us, tls_us, ttfb_us, "
                                        "bytes_out, bytes_in, status, err, flags, rpc_code "
                                        "FROM samples WHERE session_id = ?1 ORDER BY worker, seq",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(s, 1, sid);
    while (sqlite3_step(s) == SQLITE_ROW) {
        struct ls_sample x;

        assert_true(n < cap);
        memset(&x, 0, sizeof(x));
        x.seq = (uint32_t)sqlite3_column_int64(s, 0);
        x.worker = (uint16_t)sqlite3_column_int(s, 1);
        x.vu = (uint32_t)sqlite3_column_int64(s, 2);
        x.step = (uint16_t)sqlite3_column_int(s, 3);
        x.intended_ns = (uint64_t)sqlite3_column_int64(s, 4);
        x.start_ns = (uint64_t)sqlite3_column_int64(s, 5);
        x.end_ns = (uint64_t)sqlite3_column_int64(s, 6);
        x.dns_us = (uint32_t)sqlite3_column_int64(s, 7);
        x.connect_us = (uint32_t)sqlite3_column_int64(s, 8);
        x.tls_us = (uint32_t)sqlite3_column_int64(s, 9);
        x.ttfb_us = (uint32_t)sqlite3_column_int64(s, 10);
        x.bytes_out = (uint32_t)sqlite3_column_int64(s, 11);
        x.bytes_in = (uint32_t)sqlite3_column_int64(s, 12);
        x.status = (uint16_t)sqlite3_column_int(s, 13);
        x.err = (uint8_t)sqlite3_column_int(s, 14);
        x.flags = (uint8_t)sqlite3_column_int(s, 15);
        x.rpc_code = sqlite3_column_int(s, 16);
        /* Stored values must already be in range: nothing may be truncated by the casts. */
        assert_true(sqlite3_column_int64(s, 0) >= 0 && sqlite3_column_int64(s, 0) <= UINT32_MAX);
        assert_true(sqlite3_column_int64(s, 2) >= 0 && sqlite3_column_int64(s, 2) <= UINT32_MAX);
        out[n++] = x;
    }
    sqlite3_finalize(s);
    return n;
}

/* ---------------------------------------------------------------- schema */

static void test_open_creates_schema(void **state)
{
    struct fx *f = *state;
    sqlite3 *db = raw_open(f->path);
    char *mode;

    assert_int_equal(q_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    mode = q_text(db, "PRAGMA journal_mode");
    assert_string_equal(mode, "wal");
    free(mode);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name "
                               "IN ('sessions', 'steps', 'samples', 'intervals', 'summaries', "
                               "'events', 'error_classes')"),
                     7);
    /* Samples are indexed by session alone (version 4): in order, cheap to append. */
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                               "name = 'samples_session'"),
                     1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                               "name = 'samples_session_step'"),
                     0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM error_classes"), LS_EC__COUNT);
    for (int c = 0; c < LS_EC__COUNT; c++) {
        char sql[96];
        char *name;

        snprintf(sql, sizeof(sql), "SELECT name FROM error_classes WHERE id = %d", c);
        name = q_text(db, sql);
        assert_string_equal(name, ls_errclass_name((enum ls_errclass)c));
        free(name);
    }
    sqlite3_close(db);
    assert_string_equal(store_errmsg(f->st), "");
}

static void test_reopen_keeps_data(void **state)
{
    struct fx *f = *state;
    char err[256];
    int64_t id = new_session(f->st, "kept", 42);
    sqlite3 *db;

    store_close(f->st);
    f->st = NULL;
    assert_int_equal(store_open(f->path, &f->st, err, sizeof(err)), LS_OK);
    assert_string_equal(err, "");
    assert_int_equal(new_session(f->st, "second", 43), id + 1);
    db = raw_open(f->path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sessions"), 2);
    assert_int_equal(q_int(db, "SELECT count(*) FROM error_classes"), LS_EC__COUNT);
    assert_int_equal(q_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    sqlite3_close(db);
}

static void test_newer_version_refused(void **state)
{
    struct fx *f = *state;
    char path[160];
    char err[512];
    struct store *st = (struct store *)&err; /* must be reset to NULL */
    sqlite3 *db;

    snprintf(path, sizeof(path), "%s/new.db", f->dir);
    db = raw_open(path);
    raw_exec(db, "CREATE TABLE future(x); PRAGMA user_version = 99;");
    sqlite3_close(db);
    assert_int_equal(store_open(path, &st, err, sizeof(err)), LS_ERR_DB);
    assert_null(st);
    assert_non_null(strstr(err, "schema version 99"));
    {
        char want[64];

        snprintf(want, sizeof(want), "this loadscope's version %d", STORE_SCHEMA_VERSION);
        assert_non_null(strstr(err, want));
    }
    assert_non_null(strstr(err, path));
    /* Refused untouched: still version 99, no tables of ours. */
    db = raw_open(path);
    assert_int_equal(q_int(db, "PRAGMA user_version"), 99);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master"), 1);
    sqlite3_close(db);
}

static void test_not_a_database(void **state)
{
    struct fx *f = *state;
    char path[160];
    char err[512];
    struct store *st = NULL;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/junk.db", f->dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite file\n", fp);
    fclose(fp);
    assert_int_equal(store_open(path, &st, err, sizeof(err)), LS_ERR_DB);
    assert_null(st);
    assert_non_null(strstr(err, "not a database"));
}

static void test_open_creates_nested_dirs(void **state)
{
    struct fx *f = *state;
    char path[256], dir[128];
    char err[256];
    struct store *st = NULL;
    struct stat sb;

    snprintf(dir, sizeof(dir), "%s/a/b/c", f->dir);
    snprintf(path, sizeof(path), "%s/sessions.db", dir);
    assert_int_equal(store_open(path, &st, err, sizeof(err)), LS_OK);
    assert_int_equal(stat(dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    store_close(st);

    /* A path through a regular file cannot be created. */
    snprintf(path, sizeof(path), "%s/sessions.db/x/y.db", dir);
    assert_int_equal(store_open(path, &st, err, sizeof(err)), LS_ERR_IO);
    assert_null(st);
    assert_non_null(strstr(err, "creating directory"));
}

/* ---------------------------------------------------------------- sessions */

static void test_session_round_trip(void **state)
{
    struct fx *f = *state;
    struct store_session_info info = {
        .name = "tools smoke",
        .scenario_path = "/srv/s.json",
        .scenario_text = "{\"name\": \"tools smoke\"}\n",
        .target = "stdio: node server.js",
        .params_json = "{\"vus\":4}",
        .host = "bench-1",
        .version = "0.1.0",
        .started_unix_ns = 1700000000123456789LL,
    };
    int64_t id = 0;
    sqlite3 *db;
    sqlite3_stmt *s = NULL;

    assert_int_equal(store_session_begin(f->st, &info, &id), LS_OK);
    assert_int_equal(id, 1);
    assert_int_equal(store_add_step(f->st, id, 0, "list", "tools/list", 3, NULL), LS_OK);
    assert_int_equal(
        store_add_step(f->st, id, 1, "echo", "tools/call", 4000000000u, "{\"name\":\"echo\"}"),
        LS_OK);
    /* Same index twice is refused, with SQLite's reason. */
    assert_int_equal(store_add_step(f->st, id, 1, "dup", "x", 1, NULL), LS_ERR_DB);
    assert_non_null(strstr(store_errmsg(f->st), "UNIQUE"));
    /* A step of a session that does not exist violates the foreign key. */
    assert_int_equal(store_add_step(f->st, id + 7, 0, "x", "x", 1, NULL), LS_ERR_DB);
    assert_non_null(strstr(store_errmsg(f->st), "FOREIGN KEY"));

    db = raw_open(f->path);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT name, scenario_path, scenario_text, target, "
                                        "params_json, host, version, started_unix_ns, "
                                        "ended_unix_ns IS NULL, exit_code IS NULL "
                                        "FROM sessions WHERE id = 1",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal(sqlite3_column_text(s, 0), info.name);
    assert_string_equal(sqlite3_column_text(s, 1), info.scenario_path);
    assert_string_equal(sqlite3_column_text(s, 2), info.scenario_text);
    assert_string_equal(sqlite3_column_text(s, 3), info.target);
    assert_string_equal(sqlite3_column_text(s, 4), info.params_json);
    assert_string_equal(sqlite3_column_text(s, 5), info.host);
    assert_string_equal(sqlite3_column_text(s, 6), info.version);
    assert_int_equal(sqlite3_column_int64(s, 7), info.started_unix_ns);
    assert_int_equal(sqlite3_column_int(s, 8), 1);
    assert_int_equal(sqlite3_column_int(s, 9), 1);
    sqlite3_finalize(s);

    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT idx, name, method, weight, params FROM steps "
                                        "WHERE session_id = 1 ORDER BY idx",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 0);
    assert_string_equal(sqlite3_column_text(s, 1), "list");
    assert_string_equal(sqlite3_column_text(s, 2), "tools/list");
    assert_int_equal(sqlite3_column_int64(s, 3), 3);
    assert_int_equal(sqlite3_column_type(s, 4), SQLITE_NULL);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 1);
    assert_string_equal(sqlite3_column_text(s, 1), "echo");
    assert_string_equal(sqlite3_column_text(s, 2), "tools/call");
    assert_int_equal(sqlite3_column_int64(s, 3), 4000000000LL);
    assert_string_equal(sqlite3_column_text(s, 4), "{\"name\":\"echo\"}");
    assert_int_equal(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);

    assert_int_equal(store_session_end(f->st, id, 1700000060000000000LL, 3, "p99 over budget"),
                     LS_OK);
    assert_int_equal(q_int(db, "SELECT ended_unix_ns FROM sessions WHERE id = 1"),
                     1700000060000000000LL);
    assert_int_equal(q_int(db, "SELECT exit_code FROM sessions WHERE id = 1"), 3);
    {
        char *t = q_text(db, "SELECT status_text FROM sessions WHERE id = 1");

        assert_string_equal(t, "p99 over budget");
        free(t);
    }
    assert_int_equal(store_session_end(f->st, 99, 1, 0, "x"), LS_ERR_NOTFOUND);
    assert_non_null(strstr(store_errmsg(f->st), "99"));
    sqlite3_close(db);
}

/* ---------------------------------------------------------------- writer */

#define NPRODUCERS 2
#define PER_PRODUCER 50000

struct producer {
    struct store_writer *w;
    uint16_t worker;
    ls_err result;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    static _Thread_local struct ls_sample buf[1000];
    uint32_t seq = 0;

    p->result = LS_OK;
    while (seq < PER_PRODUCER && p->result == LS_OK) {
        size_t n = 1 + (seq * 7919u + p->worker * 31u) % 1000u; /* 1..1000, uneven */

        if (n > PER_PRODUCER - seq)
            n = PER_PRODUCER - seq;
        for (size_t i = 0; i < n; i++)
            buf[i] = make_sample(p->worker, seq + (uint32_t)i);
        p->result = store_writer_samples(p->w, buf, n);
        seq += (uint32_t)n;
    }
    return NULL;
}

/* Waits (bounded) until cond(w) holds; the bound only keeps a broken build from hanging. */
static void wait_for(struct store_writer *w, uint64_t (*get)(const struct store_writer *),
                     uint64_t at_least)
{
    struct timespec ms10 = {0, 10000000};

    for (int i = 0; i < 6000 && get(w) < at_least; i++)
        nanosleep(&ms10, NULL);
    assert_true(get(w) >= at_least);
}

static void test_writer_two_threads(void **state)
{
    struct fx *f = *state;
    const size_t total = (size_t)NPRODUCERS * PER_PRODUCER;
    int64_t sid = new_session(f->st, "threads", 1);
    int64_t other = new_session(f->st, "other", 2);
    struct store_writer *w = NULL;
    struct producer p[NPRODUCERS];
    pthread_t th[NPRODUCERS];
    struct ls_sample *got = calloc(total + 1, sizeof(*got));
    uint64_t want_sum = 0, got_sum = 0;
    sqlite3 *db;
    size_t n;

    assert_non_null(got);
    assert_int_equal(store_writer_start(f->st, sid, &w), LS_OK);
    assert_int_equal(store_writer_samples(w, NULL, 0), LS_OK);
    for (int i = 0; i < NPRODUCERS; i++) {
        p[i].w = w;
        p[i].worker = (uint16_t)(i == 0 ? 0 : 0xFFFF); /* extremes of the worker range */
        assert_int_equal(pthread_create(&th[i], NULL, produce, &p[i]), 0);
    }
    for (int i = 0; i < NPRODUCERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(p[i].result, LS_OK);
    }
    wait_for(w, store_writer_committed, total); /* committed without a finish */
    assert_int_equal(store_writer_committed(w), total);
    assert_int_equal(store_writer_errors(w), 0);
    assert_int_equal(store_writer_finish(w), LS_OK);

    db = raw_open(f->path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM samples"), total);
    assert_int_equal(q_int(db, "SELECT count(*) FROM samples WHERE session_id = 2"), 0);
    (void)other;
    n = read_samples(db, sid, got, total + 1);
    assert_int_equal(n, total);
    for (size_t i = 0; i < n; i++) {
        uint16_t worker = (uint16_t)(i < PER_PRODUCER ? 0 : 0xFFFF);
        struct ls_sample want = make_sample(worker, (uint32_t)(i % PER_PRODUCER));

        if (memcmp(&want, &got[i], sizeof(want)) != 0)
            fail_msg("sample %zu (worker %u seq %u) differs", i, worker, want.seq);
        want_sum = sample_hash(&want, want_sum);
        got_sum = sample_hash(&got[i], got_sum);
    }
    assert_int_equal(got_sum, want_sum);
    /* The extremes survive: 64-bit times above 2^63 come back through the signed column. */
    assert_true(q_int(db, "SELECT count(*) FROM samples WHERE intended_ns < 0") > 0);
    assert_int_equal(q_int(db, "SELECT max(worker) FROM samples"), 0xFFFF);
    assert_int_equal(q_int(db, "SELECT count(*) FROM samples WHERE step = 65534"),
                     2 * ((PER_PRODUCER + 10) / 11));
    sqlite3_close(db);
    free(got);
}

static void test_writer_no_session(void **state)
{
    struct fx *f = *state;
    struct store_writer *w = NULL;

    assert_int_equal(store_writer_start(f->st, 12345, &w), LS_ERR_NOTFOUND);
    assert_null(w);
    assert_non_null(strstr(store_errmsg(f->st), "12345"));
}

static void test_intervals_blobs(void **state)
{
    struct fx *f = *state;
    int64_t sid = new_session(f->st, "iv", 1);
    struct store_writer *w = NULL;
    uint8_t big[5000], small[1] = {0};
    struct store_interval iv[3];
    sqlite3 *db;
    sqlite3_stmt *s = NULL;
    int row = 0;

    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)mix64(i);
    memset(iv, 0, sizeof(iv));
    iv[0] = (struct store_interval){
        .second = 0,
        .step = -1,
        .warmup = 1,
        .count = 10,
        .errors = 2,
        .late = 1,
        .p50_us = 100,
        .p90_us = 200,
        .p99_us = 300,
        .p999_us = 400,
        .max_us = 500,
        .u_p50_us = 90,
        .u_p90_us = 190,
        .u_p99_us = 290,
        .u_p999_us = 390,
        .u_max_us = 490,
        .mean_us = 123.25,
        .u_mean_us = 0.1,
        .hist = big,
        .hist_len = sizeof(big),
        .u_hist = small,
        .u_hist_len = sizeof(small),
    };
    iv[1] = iv[0];
    iv[1].second = 7;
    iv[1].step = 3;
    iv[1].warmup = 0;
    iv[1].count = UINT64_MAX; /* stored as -1, read back exactly */
    iv[1].mean_us = 1e300;
    iv[1].hist = big + 1;
    iv[1].hist_len = 17;
    iv[1].u_hist = NULL;
    iv[1].u_hist_len = 99; /* ignored without bytes */
    iv[2] = iv[0];
    iv[2].second = 4294967295u;
    iv[2].hist = NULL;
    iv[2].hist_len = 0;

    assert_int_equal(store_writer_start(f->st, sid, &w), LS_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_writer_interval(w, &iv[i]), LS_OK);
    big[1] ^= 0xFF; /* the writer copied the bytes: changing ours changes nothing */
    assert_int_equal(store_writer_finish(w), LS_OK);
    big[1] ^= 0xFF;

    db = raw_open(f->path);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT second, step, warmup, count, errors, late, "
                                        "p50_us, p90_us, p99_us, p999_us, max_us, mean_us, "
                                        "u_p50_us, u_p90_us, u_p99_us, u_p999_us, u_max_us, "
                                        "u_mean_us, hist, u_hist FROM intervals "
                                        "WHERE session_id = ?1 ORDER BY second, step",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(s, 1, sid);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const struct store_interval *x = &iv[row == 0 ? 0 : row == 1 ? 1 : 2];

        assert_true(row < 3);
        assert_int_equal(sqlite3_column_int64(s, 0), x->second);
        assert_int_equal(sqlite3_column_int(s, 1), x->step);
        assert_int_equal(sqlite3_column_int(s, 2), x->warmup);
        assert_int_equal((uint64_t)sqlite3_column_int64(s, 3), x->count);
        assert_int_equal(sqlite3_column_int64(s, 4), x->errors);
        assert_int_equal(sqlite3_column_int64(s, 5), x->late);
        assert_int_equal(sqlite3_column_int64(s, 6), x->p50_us);
        assert_int_equal(sqlite3_column_int64(s, 7), x->p90_us);
        assert_int_equal(sqlite3_column_int64(s, 8), x->p99_us);
        assert_int_equal(sqlite3_column_int64(s, 9), x->p999_us);
        assert_int_equal(sqlite3_column_int64(s, 10), x->max_us);
        assert_true(sqlite3_column_double(s, 11) == x->mean_us);
        assert_int_equal(sqlite3_column_int64(s, 12), x->u_p50_us);
        assert_int_equal(sqlite3_column_int64(s, 13), x->u_p90_us);
        assert_int_equal(sqlite3_column_int64(s, 14), x->u_p99_us);
        assert_int_equal(sqlite3_column_int64(s, 15), x->u_p999_us);
        assert_int_equal(sqlite3_column_int64(s, 16), x->u_max_us);
        assert_true(sqlite3_column_double(s, 17) == x->u_mean_us);
        if (x->hist == NULL) {
            assert_int_equal(sqlite3_column_type(s, 18), SQLITE_NULL);
        } else {
            assert_int_equal(sqlite3_column_bytes(s, 18), x->hist_len);
            assert_memory_equal(sqlite3_column_blob(s, 18), x->hist, x->hist_len);
        }
        if (x->u_hist == NULL) {
            assert_int_equal(sqlite3_column_type(s, 19), SQLITE_NULL);
        } else {
            assert_int_equal(sqlite3_column_bytes(s, 19), x->u_hist_len);
            assert_memory_equal(sqlite3_column_blob(s, 19), x->u_hist, x->u_hist_len);
        }
        row++;
    }
    assert_int_equal(row, 3);
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static void test_summaries_err_json(void **state)
{
    struct fx *f = *state;
    int64_t sid = new_session(f->st, "sum", 1);
    struct store_writer *w = NULL;
    struct store_summary a, b;
    sqlite3 *db;
    sqlite3_stmt *s = NULL;
    char *t;

    memset(&a, 0, sizeof(a));
    a.step = -1;
    a.count = 1000;
    a.errors = 12;
    a.rate = 333.3333333333333;
    a.err_by_class[LS_EC_CONNECT] = 3;
    a.err_by_class[LS_EC_RPC] = 8;
    a.err_by_class[LS_EC_OTHER] = 1;
    a.p50_us = 1;
    a.p90_us = 2;
    a.p99_us = 3;
    a.p999_us = 4;
    a.max_us = 5;
    a.mean_us = 2.5;
    a.u_p50_us = 6;
    a.u_p90_us = 7;
    a.u_p99_us = 8;
    a.u_p999_us = 9;
    a.u_max_us = 10;
    a.u_mean_us = 7.75;
    b = a;
    b.step = 2;
    memset(b.err_by_class, 0, sizeof(b.err_by_class));
    b.err_by_class[LS_EC_OK] = 988; /* a caller counting successes too */
    b.err_by_class[LS_EC_TIMEOUT] = 18446744073709551615ull;

    assert_int_equal(store_writer_start(f->st, sid, &w), LS_OK);
    assert_int_equal(store_writer_summary(w, &a), LS_OK);
    assert_int_equal(store_writer_summary(w, &b), LS_OK);
    b.step = 3;
    memset(b.err_by_class, 0, sizeof(b.err_by_class));
    assert_int_equal(store_writer_summary(w, &b), LS_OK);
    assert_int_equal(store_writer_finish(w), LS_OK);

    db = raw_open(f->path);
    t = q_text(db, "SELECT err_json FROM summaries WHERE step = -1");
    assert_string_equal(t, "{\"connect\":3,\"rpc_error\":8,\"other\":1}");
    free(t);
    t = q_text(db, "SELECT err_json FROM summaries WHERE step = 2");
    assert_string_equal(t, "{\"ok\":988,\"timeout\":18446744073709551615}");
    free(t);
    t = q_text(db, "SELECT err_json FROM summaries WHERE step = 3");
    assert_string_equal(t, "{}");
    free(t);
    /* SQLite's JSON functions can read it. */
    assert_int_equal(q_int(db, "SELECT json_extract(err_json, '$.rpc_error') FROM summaries "
                               "WHERE step = -1"),
                     8);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT session_id, count, errors, rate, p50_us, p90_us, "
                                        "p99_us, p999_us, max_us, mean_us, u_p50_us, u_p90_us, "
                                        "u_p99_us, u_p999_us, u_max_us, u_mean_us "
                                        "FROM summaries WHERE step = -1",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(s, 0), sid);
    assert_int_equal(sqlite3_column_int64(s, 1), 1000);
    assert_int_equal(sqlite3_column_int64(s, 2), 12);
    assert_true(sqlite3_column_double(s, 3) == a.rate);
    for (int i = 0; i < 5; i++)
        assert_int_equal(sqlite3_column_int64(s, 4 + i), i + 1);
    assert_true(sqlite3_column_double(s, 9) == 2.5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(sqlite3_column_int64(s, 10 + i), i + 6);
    assert_true(sqlite3_column_double(s, 15) == 7.75);
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static void test_events(void **state)
{
    struct fx *f = *state;
    int64_t sid = new_session(f->st, "ev", 1);
    struct store_writer *w = NULL;
    char msg[64];
    sqlite3 *db;
    sqlite3_stmt *s = NULL;

    strcpy(msg, "server exited with status 1");
    assert_int_equal(store_writer_start(f->st, sid, &w), LS_OK);
    assert_int_equal(store_writer_event(w, 5000000000ull, "target_exit", msg), LS_OK);
    msg[0] = 'X'; /* copied */
    assert_int_equal(store_writer_event(w, 1, "session_lost", NULL), LS_OK);
    assert_int_equal(store_writer_event(w, 2, "error", ""), LS_OK);
    assert_int_equal(store_writer_event(w, 3, NULL, "x"), LS_ERR_INVALID);
    assert_int_equal(store_writer_finish(w), LS_OK);

    db = raw_open(f->path);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT session_id, t_ns, kind, message FROM events "
                                        "ORDER BY t_ns",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(s, 0), sid);
    assert_int_equal(sqlite3_column_int64(s, 1), 1);
    assert_string_equal(sqlite3_column_text(s, 2), "session_lost");
    assert_int_equal(sqlite3_column_type(s, 3), SQLITE_NULL);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(s, 1), 2);
    assert_string_equal(sqlite3_column_text(s, 2), "error");
    assert_string_equal(sqlite3_column_text(s, 3), "");
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(s, 1), 5000000000LL);
    assert_string_equal(sqlite3_column_text(s, 2), "target_exit");
    assert_string_equal(sqlite3_column_text(s, 3), "server exited with status 1");
    assert_int_equal(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* A refused row is reported; the rest of its transaction is still written. */
static void test_writer_row_rejected(void **state)
{
    struct fx *f = *state;
    int64_t sid = new_session(f->st, "dup", 1);
    struct store_writer *w = NULL;
    struct store_summary sm;
    struct ls_sample x[10];
    sqlite3 *db;

    memset(&sm, 0, sizeof(sm));
    sm.step = 4;
    for (uint32_t i = 0; i < 10; i++)
        x[i] = make_sample(1, i);
    assert_int_equal(store_writer_start(f->st, sid, &w), LS_OK);
    assert_int_equal(store_writer_summary(w, &sm), LS_OK);
    sm.count = 5;
    assert_int_equal(store_writer_summary(w, &sm), LS_OK); /* same (session, step) */
    assert_int_equal(store_writer_samples(w, x, 10), LS_OK);
    assert_int_equal(store_writer_event(w, 9, "after", NULL), LS_OK);
    assert_int_equal(store_writer_finish(w), LS_ERR_DB);
    assert_non_null(strstr(store_errmsg(f->st), "summary of step 4"));
    assert_non_null(strstr(store_errmsg(f->st), "UNIQUE"));

    db = raw_open(f->path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM summaries"), 1);
    assert_int_equal(q_int(db, "SELECT count FROM summaries"), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM samples"), 10);
    assert_int_equal(q_int(db, "SELECT count(*) FROM events"), 1);
    sqlite3_close(db);
}

/*
 * One refused sample inside a multi-row INSERT: the writer falls back to one
 * row at a time for that chunk, so exactly that sample is missing and named.
 */
static void test_writer_sample_rejected(void **state)
{
    struct fx *f = *state;
    int64_t sid = new_session(f->st, "reject", 1);
    struct store_writer *w = NULL;
    static struct ls_sample x[10000];
    sqlite3 *db = raw_open(f->path);

    raw_exec(db, "CREATE TRIGGER refuse BEFORE INSERT ON samples WHEN NEW.seq IN (300, 9999) "
                 "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;");
    for (uint32_t i = 0; i < 10000; i++)
        x[i] = make_sample(2, i);
    assert_int_equal(store_writer_start(f->st, sid, &w), LS_OK);
    assert_int_equal(store_writer_samples(w, x, 10000), LS_OK);
    wait_for(w, store_writer_committed, 9998);
    assert_int_equal(store_writer_committed(w), 9998); /* refused rows are not counted */
    assert_int_equal(store_writer_errors(w), 2);
    assert_int_equal(store_writer_finish(w), LS_ERR_DB);
    /* Two errors, one per refused row (none for the undone multi-row statement). */
    assert_non_null(strstr(store_errmsg(f->st), "sample seq 300 of session"));
    assert_non_null(strstr(store_errmsg(f->st), "refused by the test"));
    assert_non_null(strstr(store_errmsg(f->st), "(2 errors in all; last: writing sample seq 9999"));
    assert_int_equal(q_int(db, "SELECT count(*) FROM samples"), 9998);
    assert_int_equal(q_int(db, "SELECT count(*) FROM samples WHERE seq IN (300, 9999)"), 0);
    assert_int_equal(q_int(db, "SELECT sum(seq) FROM samples"), 9999 * 10000 / 2 - 300 - 9999);
    sqlite3_close(db);
}

/* Makes every sample insert roll its transaction back while poison has a row. */
static sqlite3 *poison(const char *path)
{
    sqlite3 *db = raw_open(path);

    raw_exec(db, "CREATE TABLE poison(x);"
                 "INSERT INTO poison VALUES(1);"
                 "CREATE TRIGGER poisoned BEFORE INSERT ON samples "
                 "WHEN EXISTS (SELECT 1 FROM poison) "
                 "BEGIN SELECT RAISE(ROLLBACK, 'poisoned by the test'); END;");
    return db;
}

/* A failed transaction keeps its rows and is retried: none are lost. */
static void test_writer_retries_failed_txn(void **state)
{
    struct fx *f = *state;
    int64_t sid = new_session(f->st, "retry", 1);
    struct store_writer *w = NULL;
    sqlite3 *db = poison(f->path);
    struct ls_sample x[1000];

    for (uint32_t i = 0; i < 1000; i++)
        x[i] = make_sample(3, i);
    assert_int_equal(store_writer_start(f->st, sid, &w), LS_OK);
    assert_int_equal(store_writer_samples(w, x, 1000), LS_OK);
    assert_int_equal(store_writer_event(w, 1, "tick", NULL), LS_OK);
    wait_for(w, store_writer_errors, 1);
    assert_int_equal(store_writer_committed(w), 0);
    raw_exec(db, "DELETE FROM poison");
    wait_for(w, store_writer_committed, 1000);
    assert_int_equal(store_writer_finish(w), LS_ERR_DB); /* the first error is still told */
    assert_non_null(strstr(store_errmsg(f->st), "poisoned by the test"));
    assert_null(strstr(store_errmsg(f->st), "NOT written"));

    assert_int_equal(q_int(db, "SELECT count(*) FROM samples"), 1000);
    assert_int_equal(q_int(db, "SELECT count(*) FROM events"), 1);
    assert_int_equal(q_int(db, "SELECT count(DISTINCT seq) FROM samples WHERE worker = 3"), 1000);
    sqlite3_close(db);
}

/*
 * When the database keeps failing, finish gives up and says exactly what was
 * lost; the small rows (here the summary) get a last try of their own and
 * are kept where only the samples fail.
 */
static void test_writer_gives_up_loudly(void **state)
{
    struct fx *f = *state;
    int64_t sid = new_session(f->st, "lost", 1);
    struct store_writer *w = NULL;
    sqlite3 *db = poison(f->path);
    struct ls_sample x[1000];
    struct store_summary sm;

    memset(&sm, 0, sizeof(sm));
    for (uint32_t i = 0; i < 1000; i++)
        x[i] = make_sample(3, i);
    assert_int_equal(store_writer_start(f->st, sid, &w), LS_OK);
    assert_int_equal(store_writer_samples(w, x, 1000), LS_OK);
    assert_int_equal(store_writer_summary(w, &sm), LS_OK); /* after: always in a failing txn */
    assert_int_equal(store_writer_finish(w), LS_ERR_DB);
    assert_non_null(strstr(store_errmsg(f->st), "poisoned by the test"));
    assert_non_null(strstr(store_errmsg(f->st),
                           "1000 samples and 0 interval/summary/event rows were NOT written"));
    assert_int_equal(q_int(db, "SELECT count(*) FROM samples"), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM summaries"), 1);
    sqlite3_close(db);
}

/* ------------------------------------------------ files, ownership, failures */

/* A whole file's bytes (for "left untouched"); *n gets the length. */
static char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    char *buf;

    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = malloc(*n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, *n, fp), *n);
    fclose(fp);
    return buf;
}

static unsigned mode_of(const char *path)
{
    struct stat sb;

    assert_int_equal(stat(path, &sb), 0);
    return (unsigned)(sb.st_mode & 07777);
}

/* The database and its -wal and -shm are 0600 whatever the umask: runs may hold tokens. */
static void test_file_modes(void **state)
{
    struct fx *f = *state;
    char path[160], wal[170], shm[170], err[256];
    struct store *st = NULL;
    struct store_writer *w = NULL;
    struct ls_sample x = make_sample(0, 1);
    mode_t old = umask(0);

    snprintf(path, sizeof(path), "%s/modes.db", f->dir);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    snprintf(shm, sizeof(shm), "%s-shm", path);
    assert_int_equal(store_open(path, &st, err, sizeof(err)), LS_OK);
    umask(old);
    int64_t sid = new_session(st, "modes", 1);
    assert_int_equal(store_writer_start(st, sid, &w), LS_OK);
    assert_int_equal(store_writer_samples(w, &x, 1), LS_OK);
    wait_for(w, store_writer_committed, 1);
    assert_int_equal(mode_of(path), 0600);
    assert_int_equal(mode_of(wal), 0600);
    assert_int_equal(mode_of(shm), 0600);
    assert_int_equal(store_writer_finish(w), LS_OK);
    store_close(st);
}

/* Another program's SQLite file is refused, for writing and for reading, and left as it was. */
static void test_foreign_database_refused(void **state)
{
    struct fx *f = *state;
    char path[160], err[512];
    struct store *st = (struct store *)&err;
    sqlite3 *db;
    size_t n0, n1;
    char *before, *after;

    snprintf(path, sizeof(path), "%s/theirs.db", f->dir);
    db = raw_open(path);
    raw_exec(db, "CREATE TABLE users(name TEXT); INSERT INTO users VALUES('ada');");
    sqlite3_close(db);
    before = slurp(path, &n0);
    assert_int_equal(store_open(path, &st, err, sizeof(err)), LS_ERR_INVALID);
    assert_null(st);
    assert_non_null(strstr(err, "not loadscope's"));
    assert_non_null(strstr(err, "users"));
    assert_int_equal(store_open_readonly(path, &st, err, sizeof(err)), LS_ERR_INVALID);
    assert_non_null(strstr(err, "not loadscope's"));
    after = slurp(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    db = raw_open(path);
    {
        char *mode = q_text(db, "PRAGMA journal_mode");

        assert_string_equal(mode, "delete");
        free(mode);
    }
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master"), 1);
    /* A "sessions" table of someone else's at a version number we know: refused too. */
    raw_exec(db, "CREATE TABLE sessions(id INTEGER, who TEXT); PRAGMA user_version = 3;");
    sqlite3_close(db);
    assert_int_equal(store_open(path, &st, err, sizeof(err)), LS_ERR_INVALID);
    assert_non_null(strstr(err, "not loadscope's"));
    free(before);
    free(after);
}

static int count_rows(void *ctx, const struct store_session_row *row)
{
    (void)row;
    (*(int *)ctx)++;
    return 0;
}

/* Read-only: a missing file is not created; an existing one is read without a WAL switch. */
static void test_readonly_open(void **state)
{
    struct fx *f = *state;
    char path[160], wal[170], err[512];
    struct store *st = (struct store *)&err;
    sqlite3 *db;
    int n = 0;

    snprintf(path, sizeof(path), "%s/typo.db", f->dir);
    assert_int_equal(store_open_readonly(path, &st, err, sizeof(err)), LS_ERR_NOTFOUND);
    assert_null(st);
    assert_non_null(strstr(err, "no session database at"));
    assert_non_null(strstr(err, path));
    assert_int_equal(access(path, F_OK), -1);

    new_session(f->st, "ro", 1);
    store_close(f->st);
    f->st = NULL;
    db = raw_open(f->path);
    raw_exec(db, "PRAGMA journal_mode=DELETE");
    sqlite3_close(db);
    assert_int_equal(store_open_readonly(f->path, &st, err, sizeof(err)), LS_OK);
    assert_int_equal(store_list_sessions(st, count_rows, &n), LS_OK);
    assert_int_equal(n, 1);
    store_close(st);
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    assert_int_equal(access(wal, F_OK), -1);
    db = raw_open(f->path);
    {
        char *mode = q_text(db, "PRAGMA journal_mode");

        assert_string_equal(mode, "delete");
        free(mode);
    }
    sqlite3_close(db);
}

/* A pid that no longer exists. */
static pid_t dead_pid(void)
{
    pid_t c = fork();

    if (c == 0)
        _exit(0);
    assert_int_equal(waitpid(c, NULL, 0), c);
    return c;
}

struct statuses {
    char text[8][32];
    int n;
};

static int collect_status(void *ctx, const struct store_session_row *row)
{
    struct statuses *s = ctx;

    if (s->n < 8 && row->id >= 1 && row->id <= 8)
        snprintf(s->text[row->id - 1], sizeof(s->text[0]), "%s", row->status_text);
    s->n++;
    return 0;
}

/*
 * Sessions whose process is gone are closed at the next open for writing:
 * interrupted with what they stored, failed with nothing; a live owner's,
 * another host's and an older loadscope's are left as they are.
 */
static void test_orphans_closed(void **state)
{
    struct fx *f = *state;
    char host[256] = "", sql[4096], err[512];
    struct store *ro = NULL, *rw = NULL;
    struct statuses seen;
    pid_t gone = dead_pid();
    sqlite3 *db = raw_open(f->path);

    gethostname(host, sizeof(host) - 1);
    /* A session begun through the store names this process. */
    int64_t mine = new_session(f->st, "mine", 1000);
    assert_int_equal(mine, 1);
    snprintf(sql, sizeof(sql), "SELECT owner_pid = %d AND owner_start = %llu FROM sessions "
             "WHERE id = 1", (int)getpid(), (unsigned long long)proc_start_ticks(getpid()));
    assert_int_equal(q_int(db, sql), 1);
    snprintf(sql, sizeof(sql),
             "UPDATE sessions SET host = '%s' WHERE id = 1;"
             "INSERT INTO sessions(id, name, host, started_unix_ns, owner_pid, owner_start) VALUES"
             " (2, 'killed', '%s', 5000000000, %d, 12345),"
             " (3, 'launch failed', '%s', 7000000000, %d, 12345),"
             " (4, 'elsewhere', 'another-host', 1, %d, 12345),"
             " (5, 'old loadscope', '%s', 1, NULL, NULL);"
             "INSERT INTO samples(session_id, seq, end_ns) VALUES (2, 1, 1500000000);"
             "INSERT INTO events(session_id, t_ns, kind, message) VALUES (2, 2000000000, 'x', 'y');",
             host, host, (int)gone, host, (int)gone, (int)gone, host);
    raw_exec(db, sql);

    /* Read-only listing says so without changing the file. */
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(store_open_readonly(f->path, &ro, err, sizeof(err)), LS_OK);
    assert_int_equal(store_list_sessions(ro, collect_status, &seen), LS_OK);
    store_close(ro);
    assert_string_equal(seen.text[1], "interrupted");
    assert_string_equal(seen.text[2], "failed");
    assert_string_equal(seen.text[0], "");
    assert_int_equal(q_int(db, "SELECT count(*) FROM sessions WHERE ended_unix_ns IS NULL"), 5);

    assert_int_equal(store_open(f->path, &rw, err, sizeof(err)), LS_OK);
    store_close(rw);
    assert_int_equal(q_int(db, "SELECT ended_unix_ns FROM sessions WHERE id = 2"), 7000000000LL);
    assert_int_equal(q_int(db, "SELECT exit_code FROM sessions WHERE id = 2"), 130);
    {
        char *t = q_text(db, "SELECT status_text FROM sessions WHERE id = 2");

        assert_string_equal(t, "interrupted");
        free(t);
        t = q_text(db, "SELECT status_text FROM sessions WHERE id = 3");
        assert_string_equal(t, "failed");
        free(t);
        snprintf(sql, sizeof(sql), "SELECT message FROM events WHERE session_id = 2 AND "
                 "kind = 'interrupted'");
        t = q_text(db, sql);
        snprintf(sql, sizeof(sql), "loadscope (pid %d) ended without closing this session",
                 (int)gone);
        assert_non_null(strstr(t, sql));
        free(t);
    }
    assert_int_equal(q_int(db, "SELECT ended_unix_ns FROM sessions WHERE id = 3"), 7000000000LL);
    assert_int_equal(q_int(db, "SELECT exit_code FROM sessions WHERE id = 3"), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sessions WHERE ended_unix_ns IS NULL "
                               "AND id IN (1, 4, 5)"), 3);
    sqlite3_close(db);
}

struct failures {
    int calls;
    char msg[512];
};

static void on_fail(void *ctx, const char *message)
{
    struct failures *fl = ctx;

    fl->calls++;
    snprintf(fl->msg, sizeof(fl->msg), "%s", message);
}

/*
 * The first failed transaction is told at once (once), is readable from any
 * thread, and marks the session storage_failed; the rows stay queued and are
 * written when the database takes them again.
 */
static void test_writer_failure_reported(void **state)
{
    struct fx *f = *state;
    int64_t sid = new_session(f->st, "fails", 1);
    struct store_writer *w = NULL;
    sqlite3 *db = poison(f->path);
    struct failures fl;
    struct ls_sample x[100];
    char msg[512];

    memset(&fl, 0, sizeof(fl));
    for (uint32_t i = 0; i < 100; i++)
        x[i] = make_sample(1, i);
    assert_int_equal(store_writer_start(f->st, sid, &w), LS_OK);
    store_writer_on_failure(w, on_fail, &fl);
    assert_int_equal(store_writer_failed(w, msg, sizeof(msg)), LS_OK);
    assert_int_equal(store_writer_samples(w, x, 100), LS_OK);
    wait_for(w, store_writer_errors, 2);
    assert_int_equal(store_writer_failed(w, msg, sizeof(msg)), LS_ERR_DB);
    assert_non_null(strstr(msg, "poisoned by the test"));
    assert_int_equal(fl.calls, 1);
    assert_string_equal(fl.msg, msg);
    {
        char *t = q_text(db, "SELECT status_text FROM sessions WHERE id = 1");

        assert_string_equal(t, "storage_failed");
        free(t);
    }
    assert_int_equal(q_int(db, "SELECT exit_code FROM sessions WHERE id = 1"), 1);
    assert_true(q_int(db, "SELECT ended_unix_ns FROM sessions WHERE id = 1") > 0);
    raw_exec(db, "DELETE FROM poison");
    wait_for(w, store_writer_committed, 100);
    assert_int_equal(store_writer_finish(w), LS_ERR_DB);
    assert_int_equal(fl.calls, 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM samples"), 100);
    sqlite3_close(db);
}

/* ---------------------------------------------------------------- listing */

struct listed {
    int64_t id[8];
    int64_t samples[8];
    char names[8][16];
    int64_t ended[8];
    int exit_code[8];
    int n;
    int stop_after;
};

static int collect(void *ctx, const struct store_session_row *row)
{
    struct listed *l = ctx;

    assert_true(l->n < 8);
    l->id[l->n] = row->id;
    l->samples[l->n] = row->samples;
    snprintf(l->names[l->n], sizeof(l->names[0]), "%s", row->name);
    l->ended[l->n] = row->ended_unix_ns;
    l->exit_code[l->n] = row->exit_code;
    assert_non_null(row->target);
    assert_non_null(row->status_text);
    l->n++;
    return l->n == l->stop_after;
}

static void add_samples(struct store *st, int64_t sid, uint32_t n)
{
    struct store_writer *w = NULL;

    assert_int_equal(store_writer_start(st, sid, &w), LS_OK);
    for (uint32_t i = 0; i < n; i++) {
        struct ls_sample x = make_sample(0, i);

        assert_int_equal(store_writer_samples(w, &x, 1), LS_OK);
    }
    assert_int_equal(store_writer_finish(w), LS_OK);
}

static void test_list_sessions(void **state)
{
    struct fx *f = *state;
    int64_t a = new_session(f->st, "oldest", 100);
    int64_t b = new_session(f->st, "newest", 300);
    int64_t c = new_session(f->st, "middle", 200);
    int64_t d = new_session(f->st, "tie", 200); /* same start: higher id first */
    struct listed l;

    add_samples(f->st, a, 5);
    add_samples(f->st, c, 4097); /* more than one queue block */
    add_samples(f->st, d, 1);
    assert_int_equal(store_session_end(f->st, c, 250, 2, "failed"), LS_OK);

    memset(&l, 0, sizeof(l));
    assert_int_equal(store_list_sessions(f->st, collect, &l), LS_OK);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.id[0], b);
    assert_int_equal(l.id[1], d);
    assert_int_equal(l.id[2], c);
    assert_int_equal(l.id[3], a);
    assert_string_equal(l.names[0], "newest");
    assert_string_equal(l.names[3], "oldest");
    assert_int_equal(l.samples[0], 0);
    assert_int_equal(l.samples[1], 1);
    assert_int_equal(l.samples[2], 4097);
    assert_int_equal(l.samples[3], 5);
    assert_int_equal(l.ended[2], 250);
    assert_int_equal(l.exit_code[2], 2);
    assert_int_equal(l.ended[0], 0);

    memset(&l, 0, sizeof(l));
    l.stop_after = 2;
    assert_int_equal(store_list_sessions(f->st, collect, &l), LS_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.id[1], d);
    /* The statement was reset: a second full listing starts over. */
    memset(&l, 0, sizeof(l));
    assert_int_equal(store_list_sessions(f->st, collect, &l), LS_OK);
    assert_int_equal(l.n, 4);
}

/* ---------------------------------------------------------------- default path */

static void restore_env(const char *name, const char *saved)
{
    if (saved != NULL)
        setenv(name, saved, 1);
    else
        unsetenv(name);
}

static void test_default_path(void **state)
{
    char *xdg = getenv("XDG_DATA_HOME") != NULL ? strdup(getenv("XDG_DATA_HOME")) : NULL;
    char *home = getenv("HOME") != NULL ? strdup(getenv("HOME")) : NULL;
    char buf[128];
    char tiny[10];

    (void)state;
    setenv("XDG_DATA_HOME", "/data/x", 1);
    setenv("HOME", "/home/u", 1);
    assert_int_equal(store_default_path(buf, sizeof(buf)), LS_OK);
    assert_string_equal(buf, "/data/x/loadscope/sessions.db");

    unsetenv("XDG_DATA_HOME");
    assert_int_equal(store_default_path(buf, sizeof(buf)), LS_OK);
    assert_string_equal(buf, "/home/u/.local/share/loadscope/sessions.db");

    setenv("XDG_DATA_HOME", "", 1);
    assert_int_equal(store_default_path(buf, sizeof(buf)), LS_OK);
    assert_string_equal(buf, "/home/u/.local/share/loadscope/sessions.db");

    setenv("XDG_DATA_HOME", "relative/dir", 1); /* invalid per the XDG spec: ignored */
    assert_int_equal(store_default_path(buf, sizeof(buf)), LS_OK);
    assert_string_equal(buf, "/home/u/.local/share/loadscope/sessions.db");

    assert_int_equal(store_default_path(tiny, sizeof(tiny)), LS_ERR_RANGE);
    assert_string_equal(tiny, "");

    unsetenv("XDG_DATA_HOME");
    unsetenv("HOME");
    assert_int_equal(store_default_path(buf, sizeof(buf)), LS_ERR_NOTFOUND);

    restore_env("XDG_DATA_HOME", xdg);
    restore_env("HOME", home);
    free(xdg);
    free(home);
}

/* ---------------------------------------------------------------- throughput */

static double clock_s(clockid_t id)
{
    struct timespec t;

    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Prints the writer's rate for 500k samples; asserts only that all arrived. */
static void test_writer_throughput(void **state)
{
    struct fx *f = *state;
    const uint32_t total = 500000;
    int64_t sid = new_session(f->st, "rate", 1);
    struct store_writer *w = NULL;
    static struct ls_sample buf[256];
    double t0, t1, p0, p1, m0, m1;
    sqlite3 *db;

    assert_int_equal(store_writer_start(f->st, sid, &w), LS_OK);
    t0 = clock_s(CLOCK_MONOTONIC);
    p0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    m0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    for (uint32_t seq = 0; seq < total; seq += 256) {
        for (uint32_t i = 0; i < 256; i++)
            buf[i] = make_sample(0, seq + i);
        assert_int_equal(store_writer_samples(w, buf, 256 < total - seq ? 256 : total - seq),
                         LS_OK);
    }
    m1 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    assert_int_equal(store_writer_finish(w), LS_OK);
    t1 = clock_s(CLOCK_MONOTONIC);
    p1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    /* The writer's CPU time (process minus this producer thread) tells the rate on an idle
     * core even when the machine is shared and the wall-clock figure suffers. */
    print_message("store writer: %u samples in %.3f s = %.0f samples/s wall; writer thread "
                  "%.3f s CPU = %.0f samples per CPU second\n",
                  total, t1 - t0, total / (t1 - t0), (p1 - p0) - (m1 - m0),
                  total / ((p1 - p0) - (m1 - m0)));

    db = raw_open(f->path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM samples"), total);
    assert_int_equal(q_int(db, "SELECT count(DISTINCT seq) FROM samples"), total);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_version_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_creates_nested_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_two_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_no_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_intervals_blobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_summaries_err_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_row_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_sample_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_retries_failed_txn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_gives_up_loudly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_database_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphans_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_failure_reported, setup, teardown),
        cmocka_unit_test(test_default_path),
        cmocka_unit_test_setup_teardown(test_writer_throughput, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
