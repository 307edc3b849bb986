/*
 * Unit tests for app/export*.c.
 *
 * The format rows on their own, exact bytes: CSV (header, quoting, the
 * formula quote, empty cells, 0/1 flags) and JSON/JSON Lines (the document
 * head, escapes of quotes, backslashes and control characters, U+FFFD for
 * bytes that are not UTF-8, lines as arrays, null for empty cells and NaN,
 * 64-bit integers whole, '.' decimals under a German LC_NUMERIC), each also
 * parsed back with cJSON. Then whole exports of a small stored session:
 * summary as CSV and JSON with the exact same figures, samples as JSON
 * Lines one object per sample, the refusals (unknown what or format, folded
 * with a format, hotpaths of an untraced session, a missing session), a
 * stop request, a full disk, and -o's temporary file left nowhere.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <ftw.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "export_int.h"
#include "store.h"
#include "store_read.h"

/* ---- the format rows on their own ---- */

static const char *const COLS[] = {"name", "n", "neg", "lat_us", "mean", "share", "flag", "stack"};
#define NCOLS (sizeof(COLS) / sizeof(COLS[0]))

/* Writes two rows through fmt into a memory stream; returns the bytes (caller frees). */
static char *write_rows(const struct export_format *fmt)
{
    static char name[] = "sc\"n", path[] = "p.json", target[] = "http://x", host[] = "h",
                version[] = "0.1", status[] = "";
    struct store_session s = {.id = 7,
                              .name = name,
                              .scenario_path = path,
                              .target = target,
                              .host = host,
                              .version = version,
                              .status_text = status,
                              .started_unix_ns = 1000,
                              .ended_unix_ns = 0,
                              .exit_code = -1};
    struct export_doc d = {.what = "test", .session = &s, .cols = COLS, .ncols = NCOLS};
    struct export_writer *w = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    const struct export_val row1[NCOLS] = {
        {.kind = EXV_TEXT, .v.s = "=a,b \"q\"\\"},
        {.kind = EXV_U64, .v.u = UINT64_MAX},
        {.kind = EXV_I64, .v.i = INT64_MIN},
        {.kind = EXV_FIXED, .decimals = 3, .v.i = -1500},
        {.kind = EXV_F64, .v.d = 0.1},
        {.kind = EXV_NULL},
        {.kind = EXV_BOOL, .v.b = true},
        {.kind = EXV_LINES, .v.s = "f (a.c:1)\nmain (m.c:2)"},
    };
    const struct export_val row2[NCOLS] = {
        {.kind = EXV_TEXT, .v.s = "t\tab\x01\xff\xc3\xa9\n"},
        {.kind = EXV_U64, .v.u = 0},
        {.kind = EXV_I64, .v.i = -5},
        {.kind = EXV_FIXED, .decimals = 3, .v.i = 71637},
        {.kind = EXV_F64, .v.d = NAN},
        {.kind = EXV_F64, .v.d = 1e21},
        {.kind = EXV_BOOL, .v.b = false},
        {.kind = EXV_LINES, .v.s = ""},
    };

    assert_non_null(f);
    assert_int_equal(fmt->open(f, &d, &w), LS_OK);
    for (size_t i = 0; i < NCOLS; i++)
        fmt->cell(w, COLS[i], &row1[i]);
    assert_int_equal(fmt->end_row(w), LS_OK);
    for (size_t i = 0; i < NCOLS; i++)
        fmt->cell(w, COLS[i], &row2[i]);
    assert_int_equal(fmt->end_row(w), LS_OK);
    assert_int_equal(fmt->finish(w), LS_OK);
    assert_int_equal(fmt->write_errno(w), 0);
    fmt->free(w);
    fclose(f);
    return buf;
}

static void test_csv_bytes(void **state)
{
    char *got;

    (void)state;
    got = write_rows(&export_format_csv);
    assert_string_equal(got,
                        "name,n,neg,lat_us,mean,share,flag,stack\r\n"
                        "\"'=a,b \"\"q\"\"\\\",18446744073709551615,-9223372036854775808,-1.500,0.1,,1,"
                        "\"f (a.c:1)\nmain (m.c:2)\"\r\n"
                        "\"t\tab\x01\xef\xbf\xbd\xc3\xa9\n\",0,-5,71.637,,1e+21,0,\r\n");
    free(got);
}

#define JSON_ROW1                                                                                  \
    "{\"name\":\"=a,b \\\"q\\\"\\\\\",\"n\":18446744073709551615,\"neg\":-9223372036854775808,"    \
    "\"lat_us\":-1.500,\"mean\":0.1,\"share\":null,\"flag\":true,"                                 \
    "\"stack\":[\"f (a.c:1)\",\"main (m.c:2)\"]}"
#define JSON_ROW2                                                                                  \
    "{\"name\":\"t\\tab\\u0001\xef\xbf\xbd\xc3\xa9\\n\",\"n\":0,\"neg\":-5,\"lat_us\":71.637,"     \
    "\"mean\":null,\"share\":1e+21,\"flag\":false,\"stack\":[]}"

static void test_json_bytes(void **state)
{
    char *got;
    cJSON *doc, *rows;

    (void)state;
    got = write_rows(&export_format_json);
    assert_string_equal(got,
                        "{\"format\":\"loadscope-export\",\"version\":1,\"what\":\"test\","
                        "\"session\":{\"id\":7,\"name\":\"sc\\\"n\",\"scenario_path\":\"p.json\","
                        "\"target\":\"http://x\",\"host\":\"h\",\"loadscope_version\":\"0.1\","
                        "\"started_unix_ns\":1000,\"ended_unix_ns\":null,\"exit_code\":null,"
                        "\"status\":null},"
                        "\"columns\":[\"name\",\"n\",\"neg\",\"lat_us\",\"mean\",\"share\",\"flag\","
                        "\"stack\"],\"rows\":[\n" JSON_ROW1 ",\n" JSON_ROW2 "\n]}\n");
    doc = cJSON_Parse(got);
    assert_non_null(doc);
    rows = cJSON_GetObjectItemCaseSensitive(doc, "rows");
    assert_int_equal(cJSON_GetArraySize(rows), 2);
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rows, 0), "name")->valuestring,
        "=a,b \"q\"\\");
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rows, 1), "name")->valuestring,
        "t\tab\x01\xef\xbf\xbd\xc3\xa9\n");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rows, 1), "mean")));
    cJSON_Delete(doc);
    free(got);
}

static void test_jsonl_bytes(void **state)
{
    char *got, *nl;
    cJSON *row;

    (void)state;
    got = write_rows(&export_format_jsonl);
    assert_string_equal(got, JSON_ROW1 "\n" JSON_ROW2 "\n");
    nl = strchr(got, '\n');
    *nl = '\0';
    row = cJSON_Parse(got);
    assert_non_null(row);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row, "flag")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(row, "stack")), 2);
    cJSON_Delete(row);
    free(got);
}

/* An empty document is still a document. */
static void test_json_no_rows(void **state)
{
    static char completed[] = "completed";
    struct store_session s = {.id = 1, .exit_code = 0, .ended_unix_ns = 9, .status_text = completed};
    struct export_doc d = {.what = "summary", .session = &s, .cols = COLS, .ncols = 1};
    struct export_writer *w = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cJSON *doc;

    (void)state;
    assert_int_equal(export_format_json.open(f, &d, &w), LS_OK);
    assert_int_equal(export_format_json.finish(w), LS_OK);
    export_format_json.free(w);
    fclose(f);
    assert_non_null(strstr(buf, "\"ended_unix_ns\":9,\"exit_code\":0,\"status\":\"completed\"}"));
    assert_non_null(strstr(buf, "\"columns\":[\"name\"],\"rows\":[]}\n"));
    doc = cJSON_Parse(buf);
    assert_non_null(doc);
    cJSON_Delete(doc);
    free(buf);
}

/* '.' decimals whatever LC_NUMERIC says. */
static void test_json_locale(void **state)
{
    char *got;

    (void)state;
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8") == NULL) {
        print_message("de_DE.UTF-8 not installed: checking under C only\n");
    } else {
        char probe[16];

        snprintf(probe, sizeof(probe), "%.1f", 1.5);
        assert_string_equal(probe, "1,5");
    }
    got = write_rows(&export_format_json);
    assert_non_null(strstr(got, "\"mean\":0.1,"));
    assert_non_null(strstr(got, "\"lat_us\":-1.500,"));
    setlocale(LC_NUMERIC, "C");
    free(got);
}

/* ---- whole exports of a stored session ---- */

struct fx {
    char dir[64];
    char path[128];
    struct store *st;
    int64_t sid;
};

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

#define NSAMPLES 25

/* A session with two steps, 25 samples, 2 seconds of intervals and its summaries. */
static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct store_writer *w = NULL;
    struct store_session_info info = {.name = "unit",
                                      .scenario_path = "u.json",
                                      .scenario_text = "{}",
                                      .target = "http://127.0.0.1:1/mcp",
                                      .params_json = "{}",
                                      .host = "h",
                                      .version = "0.1",
                                      .started_unix_ns = 1700000000000000000};
    char err[256];

    assert_non_null(f);
    strcpy(f->dir, "/tmp/ls_export_test.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/s.db", f->dir);
    assert_int_equal(store_open(f->path, &f->st, err, sizeof(err)), LS_OK);
    assert_int_equal(store_session_begin(f->st, &info, &f->sid), LS_OK);
    assert_int_equal(store_add_step(f->st, f->sid, 0, "=echo", "tools/call", 1, "{}"), LS_OK);
    assert_int_equal(store_add_step(f->st, f->sid, 1, "initialize", "initialize", 0, NULL), LS_OK);
    assert_int_equal(store_writer_start(f->st, f->sid, &w), LS_OK);
    for (uint32_t i = 0; i < NSAMPLES; i++) {
        struct ls_sample s;

        memset(&s, 0, sizeof(s));
        s.seq = i;
        s.step = i == 0 ? 1 : 0;
        s.intended_ns = 1000000ull * i;
        s.start_ns = 1000000ull * i + 10;
        s.end_ns = 1000000ull * i + 71637;
        s.err = (uint8_t)(i % 5 == 4 ? LS_EC_TIMEOUT : LS_EC_OK);
        s.flags = (uint8_t)(i == 0 ? LS_SF_NEW_CONN | LS_SF_WARMUP : 0);
        s.status = 200;
        assert_int_equal(store_writer_samples(w, &s, 1), LS_OK);
    }
    for (uint32_t sec = 0; sec < 2; sec++) {
        for (int32_t step = -1; step < 1; step++) {
            struct store_interval iv = {.second = sec, .step = step, .warmup = sec == 0,
                                        .count = 12, .errors = 2, .p50_us = 70, .p90_us = 71,
                                        .p99_us = 72, .p999_us = 73, .max_us = 74,
                                        .u_p50_us = 69, .u_max_us = 73, .mean_us = 70.5,
                                        .u_mean_us = 69.25};
            assert_int_equal(store_writer_interval(w, &iv), LS_OK);
        }
    }
    for (int32_t step = -1; step < 1; step++) {
        struct store_summary sm = {.step = step, .count = 12, .errors = 2, .rate = 12.5,
                                   .p50_us = 70, .p90_us = 71, .p99_us = 72, .p999_us = 73,
                                   .max_us = 74, .u_p50_us = 69, .u_p90_us = 70,
                                   .u_p99_us = 71, .u_p999_us = 72, .u_max_us = 73,
                                   .mean_us = 70.5, .u_mean_us = 69.25};
        sm.err_by_class[LS_EC_TIMEOUT] = 2;
        assert_int_equal(store_writer_summary(w, &sm), LS_OK);
    }
    assert_int_equal(store_writer_finish(w), LS_OK);
    assert_int_equal(store_session_end(f->st, f->sid, 1700000002000000000, 0, "completed"), LS_OK);
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

/* Runs an export into memory; returns its bytes (caller frees) and the outcome in *e. */
static char *run_export(struct fx *f, const char *what, const char *format, ls_err *e,
                        struct export_result *res, char *err, size_t errcap)
{
    struct export_opts o = {.what = what, .format = format};
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);

    assert_non_null(m);
    *e = export_session(f->st, f->sid, &o, m, res, err, errcap);
    fclose(m);
    return buf;
}

static void test_summary_csv_and_json(void **state)
{
    struct fx *f = *state;
    struct export_result res;
    char err[512];
    ls_err e;
    char *csv = run_export(f, "summary", NULL, &e, &res, err, sizeof(err));
    char *json;
    char line[512];
    cJSON *doc, *row;

    assert_int_equal(e, LS_OK);
    assert_int_equal(res.rows, 2);
    assert_true(res.tabular);
    assert_string_equal(res.note, "");
    /* the header's fixed part, then one errors_<class> per class but ok */
    {
        static const char head[] = "step,step_name,count,rate_per_s,errors,error_rate,p50_us,";

        assert_int_equal(strncmp(csv, head, strlen(head)), 0);
    }
    assert_non_null(strstr(csv, ",u_mean_us,errors_connect,errors_timeout,"));
    snprintf(line, sizeof(line), "\r\n0,'=echo,12,12.5,2,0.16666666666666666,70,71,72,73,74,70.5,"
                                 "69,70,71,72,73,69.25,0,2,");
    assert_non_null(strstr(csv, line));
    assert_non_null(strstr(csv, "\r\n-1,ALL,12,12.5,2,"));

    json = run_export(f, "summary", "json", &e, &res, err, sizeof(err));
    assert_int_equal(e, LS_OK);
    doc = cJSON_Parse(json);
    assert_non_null(doc);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(doc, "what")->valuestring, "summary");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(
                         cJSON_GetObjectItemCaseSensitive(doc, "session"), "exit_code")->valueint, 0);
    row = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "rows"), 1);
    /* JSON text is not neutralized: the step's own name */
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(row, "step_name")->valuestring, "=echo");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(row, "count")->valueint, 12);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(row, "p99_us")->valueint, 72);
    assert_true(cJSON_GetObjectItemCaseSensitive(row, "rate_per_s")->valuedouble == 12.5);
    assert_true(cJSON_GetObjectItemCaseSensitive(row, "error_rate")->valuedouble == 2.0 / 12.0);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(row, "errors_timeout")->valueint, 2);
    /* the columns list the row's keys in order */
    {
        const cJSON *cols = cJSON_GetObjectItemCaseSensitive(doc, "columns");
        const cJSON *k = row->child;
        int i = 0;

        for (; k != NULL; k = k->next, i++)
            assert_string_equal(cJSON_GetArrayItem(cols, i)->valuestring, k->string);
        assert_int_equal(i, cJSON_GetArraySize(cols));
    }
    cJSON_Delete(doc);
    free(json);
    free(csv);
}

static void test_samples_jsonl(void **state)
{
    struct fx *f = *state;
    struct export_result res;
    char err[512];
    ls_err e;
    char *out = run_export(f, "samples", "jsonl", &e, &res, err, sizeof(err));
    char *p = out, *nl;
    int n = 0;

    assert_int_equal(e, LS_OK);
    assert_int_equal(res.rows, NSAMPLES);
    while ((nl = strchr(p, '\n')) != NULL) {
        cJSON *row;

        *nl = '\0';
        row = cJSON_Parse(p);
        assert_non_null(row);
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(row, "seq")->valueint, n);
        assert_true(cJSON_GetObjectItemCaseSensitive(row, "latency_us")->valuedouble ==
                    71.637);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(row, "error_class")->valuestring,
                            n % 5 == 4 ? "timeout" : "ok");
        assert_true(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(row, "warmup")));
        assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(row, "aws_code")));
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(row, "step_name")->valuestring,
                            n == 0 ? "initialize" : "=echo");
        cJSON_Delete(row);
        p = nl + 1;
        n++;
    }
    assert_int_equal(n, NSAMPLES);
    assert_int_equal(*p, '\0');
    assert_non_null(strstr(out, "\"latency_us\":71.637,\"u_latency_us\":71.627,"));
    free(out);
}

static void test_refusals(void **state)
{
    struct fx *f = *state;
    struct export_opts o = {0};
    char err[512], *out;
    ls_err e;

    o.what = "flames";
    assert_int_equal(export_check(&o, err, sizeof(err)), LS_ERR_INVALID);
    assert_string_equal(err, "--what flames: expected samples, intervals, summary, findings, downstream or "
                             "downstream-seconds (a traced session also has hotpaths and folded)");
    o.what = "samples";
    o.format = "xml";
    assert_int_equal(export_check(&o, err, sizeof(err)), LS_ERR_INVALID);
    assert_string_equal(err, "--format xml: expected csv, json or jsonl");
    o.what = "folded";
    o.format = "json";
    assert_int_equal(export_check(&o, err, sizeof(err)), LS_ERR_INVALID);
    assert_non_null(strstr(err, "takes no --format"));
    o.format = NULL;
    assert_int_equal(export_check(&o, err, sizeof(err)), LS_OK);

    out = run_export(f, "hotpaths", "json", &e, NULL, err, sizeof(err));
    assert_int_equal(e, LS_ERR_NOTFOUND);
    assert_non_null(strstr(err, "has no allocation stacks to export (it was not traced)"));
    assert_string_equal(out, ""); /* refused before a byte */
    free(out);

    o.what = "summary";
    {
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);

        e = export_session(f->st, f->sid + 100, &o, m, NULL, err, sizeof(err));
        fclose(m);
        assert_int_equal(e, LS_ERR_NOTFOUND);
        assert_non_null(strstr(err, "no session"));
        assert_int_equal(len, 0);
        free(buf);
    }
    assert_string_equal(export_what_name(0), "samples");
    assert_string_equal(export_what_name(5), "findings");
    assert_string_equal(export_what_name(6), "downstream");
    assert_string_equal(export_what_name(7), "downstream-seconds");
    assert_null(export_what_name(8));
    assert_string_equal(export_format_name(2), "jsonl");
    assert_null(export_format_name(3));
}

static void test_stop_and_full_disk(void **state)
{
    struct fx *f = *state;
    volatile sig_atomic_t stop = 1;
    struct export_opts o = {.what = "samples", .format = "jsonl", .stop = &stop};
    struct export_result res;
    char err[512], *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    ls_err e;

    e = export_session(f->st, f->sid, &o, m, &res, err, sizeof(err));
    fclose(m);
    assert_int_equal(e, LS_ERR_INTERRUPTED);
    assert_int_equal(res.rows, 1); /* stops after the row it was writing */
    free(buf);

    if (access("/dev/full", W_OK) == 0) {
        FILE *full = fopen("/dev/full", "w");

        o.stop = NULL;
        o.out_name = "the full disk";
        assert_non_null(full);
        e = export_session(f->st, f->sid, &o, full, NULL, err, sizeof(err));
        fclose(full);
        assert_int_equal(e, LS_ERR_IO);
        assert_non_null(strstr(err, "writing the full disk: No space left on device"));
    }
}

static void test_file(void **state)
{
    struct fx *f = *state;
    struct export_opts o = {.what = "intervals", .format = "json"};
    struct export_result res;
    char path[192], tmp[200], err[512], *mem;
    struct stat sb;
    ls_err e;
    FILE *in;
    size_t n;

    snprintf(path, sizeof(path), "%s/iv.json", f->dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    assert_int_equal(export_session_file(f->st, f->sid, &o, path, &res, err, sizeof(err)), LS_OK);
    assert_int_equal(res.rows, 4);
    assert_int_not_equal(stat(tmp, &sb), 0);
    /* the file holds what a FILE export writes */
    mem = run_export(f, "intervals", "json", &e, NULL, err, sizeof(err));
    assert_int_equal(e, LS_OK);
    in = fopen(path, "rb");
    assert_non_null(in);
    {
        char *disk = calloc(1, strlen(mem) + 16);

        assert_non_null(disk);
        n = fread(disk, 1, strlen(mem) + 15, in);
        assert_int_equal(n, strlen(mem));
        assert_memory_equal(disk, mem, n);
        free(disk);
    }
    fclose(in);
    free(mem);

    /* nothing to export: no file, no temporary file */
    o.what = "hotpaths";
    snprintf(path, sizeof(path), "%s/hot.csv", f->dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    assert_int_equal(export_session_file(f->st, f->sid, &o, path, &res, err, sizeof(err)),
                     LS_ERR_NOTFOUND);
    assert_int_not_equal(stat(path, &sb), 0);
    assert_int_not_equal(stat(tmp, &sb), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_bytes),
        cmocka_unit_test(test_json_bytes),
        cmocka_unit_test(test_jsonl_bytes),
        cmocka_unit_test(test_json_no_rows),
        cmocka_unit_test(test_json_locale),
        cmocka_unit_test_setup_teardown(test_summary_csv_and_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_samples_jsonl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_and_full_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
