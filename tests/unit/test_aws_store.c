/*
 * test_aws_store: schema version 2 (AWS sample columns and error classes):
 * a version-1 database is brought forward on open, and a sample's AWS
 * fields round-trip through the writer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/aws_retry.h"
#include "store.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/ls-aws-store-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static long long q_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    long long v = -1;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void exec(sqlite3 *db, const char *sql)
{
    char *e = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK)
        fail_msg("%s: %s", sql, e);
}

/* Version 1 of the schema, as loadscope 0.1 created it (a fixed part of history). */
static const char SCHEMA_V1[] =
    "CREATE TABLE sessions (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT, scenario_path TEXT, scenario_text TEXT, target TEXT,\n"
    "  params_json TEXT, host TEXT, version TEXT,\n"
    "  started_unix_ns INTEGER NOT NULL,\n"
    "  ended_unix_ns INTEGER,  -- NULL while running or when the run died\n"
    "  exit_code INTEGER, status_text TEXT);\n"
    "CREATE INDEX sessions_started ON sessions(started_unix_ns);\n"
    "CREATE TABLE steps (\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
    "  idx INTEGER NOT NULL, name TEXT, method TEXT, weight INTEGER, params TEXT,\n"
    "  PRIMARY KEY(session_id, idx));\n"
    "CREATE TABLE samples (  -- one row per request; times in ns since the run's start\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
    "  seq INTEGER, worker INTEGER, vu INTEGER, step INTEGER,\n"
    "  intended_ns INTEGER, start_ns INTEGER, end_ns INTEGER,\n"
    "  dns_us INTEGER, connect_us INTEGER, tls_us INTEGER, ttfb_us INTEGER,\n"
    "  bytes_out INTEGER, bytes_in INTEGER, status INTEGER,\n"
    "  err INTEGER,  -- error_classes.id\n"
    "  flags INTEGER, rpc_code INTEGER);\n"
    "CREATE INDEX samples_session_step ON samples(session_id, step);\n"
    "CREATE TABLE intervals (  -- step -1: all steps together\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
    "  second INTEGER NOT NULL, step INTEGER NOT NULL, warmup INTEGER,\n"
    "  count INTEGER, errors INTEGER, late INTEGER,\n"
    "  p50_us INTEGER, p90_us INTEGER, p99_us INTEGER, p999_us INTEGER,\n"
    "  max_us INTEGER, mean_us REAL,\n"
    "  u_p50_us INTEGER, u_p90_us INTEGER, u_p99_us INTEGER, u_p999_us INTEGER,\n"
    "  u_max_us INTEGER, u_mean_us REAL,\n"
    "  hist BLOB, u_hist BLOB,  -- hdr_encode of the corrected / uncorrected histogram\n"
    "  PRIMARY KEY(session_id, second, step));\n"
    "CREATE TABLE summaries (  -- measured part of the run; step -1: all steps\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
    "  step INTEGER NOT NULL, count INTEGER, errors INTEGER, rate REAL,\n"
    "  err_json TEXT,  -- {\"class name\": count} for non-zero classes\n"
    "  p50_us INTEGER, p90_us INTEGER, p99_us INTEGER, p999_us INTEGER,\n"
    "  max_us INTEGER, mean_us REAL,\n"
    "  u_p50_us INTEGER, u_p90_us INTEGER, u_p99_us INTEGER, u_p999_us INTEGER,\n"
    "  u_max_us INTEGER, u_mean_us REAL,\n"
    "  PRIMARY KEY(session_id, step));\n"
    "CREATE TABLE events (\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
    "  t_ns INTEGER NOT NULL, kind TEXT NOT NULL, message TEXT);\n"
    "CREATE INDEX events_session ON events(session_id, t_ns);\n"
    "CREATE TABLE error_classes (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);\n";

/* Writes a database exactly as version 1 left it, with one session. */
static void make_v1(const char *path)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    exec(db, SCHEMA_V1);
    exec(db, "INSERT INTO error_classes(id, name) VALUES (0, 'ok'), (1, 'connect'), (2, 'timeout'), "
             "(3, 'http_status'), (4, 'protocol'), (5, 'rpc_error'), (6, 'tool_error'), "
             "(7, 'session_lost'), (8, 'target_exit'), (9, 'send'), (10, 'other');"
             "INSERT INTO sessions(name, started_unix_ns) VALUES ('old', 1);"
             "PRAGMA user_version = 1;");
    sqlite3_close(db);
}

static void test_migrates_v1(void **state)
{
    (void)state;
    char path[300], err[256];
    struct store *st = NULL;
    snprintf(path, sizeof(path), "%s/v1.db", dir);
    make_v1(path);

    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(q_int(db, "PRAGMA user_version"), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM error_classes"), LS_EC_OTHER + 1);
    sqlite3_close(db);

    if (store_open(path, &st, err, sizeof(err)) != LS_OK)
        fail_msg("opening a version 1 database: %s", err);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(q_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_true(STORE_SCHEMA_VERSION >= 2);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sessions WHERE name = 'old'"), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM pragma_table_info('samples') WHERE name IN "
                               "('attempts', 'followups', 'retries', 'backoff_us', 'last_try_us', "
                               "'aws_code')"),
                     6);
    assert_int_equal(q_int(db, "SELECT id FROM error_classes WHERE name = 'throttled'"), LS_EC_THROTTLED);
    assert_int_equal(q_int(db, "SELECT id FROM error_classes WHERE name = 'aws_client_error'"),
                     LS_EC_AWS_CLIENT);
    assert_int_equal(q_int(db, "SELECT id FROM error_classes WHERE name = 'aws_server_error'"),
                     LS_EC_AWS_SERVER);
    assert_int_equal(q_int(db, "SELECT id FROM error_classes WHERE name = 'other'"), LS_EC_OTHER);
    sqlite3_close(db);
    store_close(st);
}

static void test_aws_fields_stored(void **state)
{
    (void)state;
    char path[300], err[256];
    struct store *st = NULL;
    struct store_writer *w = NULL;
    snprintf(path, sizeof(path), "%s/fields.db", dir);
    assert_int_equal(store_open(path, &st, err, sizeof(err)), LS_OK);
    struct store_session_info info = {.name = "aws", .started_unix_ns = 1};
    int64_t id;
    assert_int_equal(store_session_begin(st, &info, &id), LS_OK);
    assert_int_equal(store_writer_start(st, id, &w), LS_OK);
    uint16_t code = aws_code_index("SlowDown", 8);
    struct ls_sample s[2] = {
        {.seq = 1, .err = LS_EC_THROTTLED, .attempts = 3, .retries = 2, .followups = 0,
         .aws_code = code, .backoff_us = 123456, .last_try_us = 789, .status = 503},
        {.seq = 2, .err = LS_EC_OK, .attempts = 4, .retries = 0, .followups = 2, .aws_code = 0,
         .backoff_us = 0, .last_try_us = 55, .status = 200},
    };
    assert_int_equal(store_writer_samples(w, s, 2), LS_OK);
    assert_int_equal(store_writer_finish(w), LS_OK);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(q_int(db, "SELECT attempts * 1000000 + retries * 10000 + followups FROM samples WHERE seq = 1"),
                     3020000);
    assert_int_equal(q_int(db, "SELECT backoff_us FROM samples WHERE seq = 1"), 123456);
    assert_int_equal(q_int(db, "SELECT last_try_us FROM samples WHERE seq = 1"), 789);
    assert_int_equal(q_int(db, "SELECT count(*) FROM samples WHERE seq = 1 AND aws_code = 'SlowDown'"), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM samples s JOIN error_classes c ON c.id = s.err "
                               "WHERE seq = 1 AND c.name = 'throttled'"),
                     1);
    assert_int_equal(q_int(db, "SELECT attempts * 1000000 + retries * 10000 + followups FROM samples WHERE seq = 2"),
                     4000002);
    assert_int_equal(q_int(db, "SELECT count(*) FROM samples WHERE seq = 2 AND aws_code IS NULL"), 1);
    sqlite3_close(db);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrates_v1),
        cmocka_unit_test(test_aws_fields_stored),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
