/*
 * test_alloc: the allocation reader's wire parsing, fed by hand-made tracer
 * streams over its real socket: stacks and deltas add up exactly, seconds and
 * requests line up, partial writes are reassembled, a corrupt stream is
 * dropped with an event, and the modes parse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc/alloc.h"
#include "lsalloc_wire.h"

struct seen {
    int stacks, intervals, errors, warnings;
    char last_warning[256];
    uint64_t row_allocs, requests;
    char last_error[256];
};

static void on_stack(void *ctx, const struct alloc_stack_info *s)
{
    (void)s;
    ((struct seen *)ctx)->stacks++;
}

static void on_interval(void *ctx, const struct alloc_interval *iv)
{
    struct seen *sn = ctx;
    sn->intervals++;
    sn->requests += iv->requests;
    for (size_t i = 0; i < iv->nrows; i++)
        sn->row_allocs += iv->rows[i].allocs;
}

static void on_event(void *ctx, const char *kind, const char *msg)
{
    struct seen *sn = ctx;
    if (strcmp(kind, "alloc_error") == 0) {
        sn->errors++;
        snprintf(sn->last_error, sizeof(sn->last_error), "%s", msg);
    } else if (strcmp(kind, "alloc_warning") == 0) {
        sn->warnings++;
        snprintf(sn->last_warning, sizeof(sn->last_warning), "%s", msg);
    }
}

static int connect_to(struct alloc *a)
{
    const struct scn_kv *kv;
    size_t n;
    const char *pre;
    alloc_inject(a, &kv, &n, &pre);
    const char *path = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, LSW_ENV_SOCKET) == 0)
            path = kv[i].value;
    assert_non_null(path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/*
 * A run's origin a minute ahead of now: until the end, no second is due, so
 * the reader closes and samples only the seconds the test sends (an origin in
 * the past makes it catch up, one /proc sample and one interval per second,
 * for every second since).
 */
static uint64_t test_origin(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec + 60) * 1000000000ull;
}

static uint8_t buf[65536];
static size_t blen;

static void put(uint32_t type, const void *p, size_t n)
{
    struct lsw_header h = {type, (uint32_t)n};
    memcpy(buf + blen, &h, sizeof(h));
    if (n > 0)
        memcpy(buf + blen + sizeof(h), p, n);
    blen += sizeof(h) + n;
}

static void test_stream(void **state)
{
    (void)state;
    struct seen sn = {0};
    struct alloc_opts o = {.mode = ALLOC_FULL, .shim_path = "/dev/null"};
    struct alloc_sink sink = {.ctx = &sn, .stack = on_stack, .interval = on_interval, .event = on_event};
    struct alloc *a = NULL;
    char err[256];
    assert_int_equal(alloc_open(&o, &sink, &a, err, sizeof(err)), LS_OK);
    uint64_t origin = test_origin();
    alloc_set_origin(a, origin);
    alloc_requests(a, 0, 10);
    alloc_requests(a, 1, 30);

    int fd = connect_to(a);
    blen = 0;
    struct lsw_hello h = {.version = LSW_VERSION, .pid = 999999, .ppid = 1, .mode = LSW_MODE_FULL,
                          .unwind = LSW_UNWIND_FP, .depth = 64};
    put(LSW_HELLO, &h, sizeof(h));
    uint32_t nmaps = 0;
    put(LSW_MAPS, &nmaps, sizeof(nmaps));
    for (uint32_t id = 1; id <= 2; id++) {
        uint8_t st[sizeof(struct lsw_stack) + 16];
        struct lsw_stack s = {.id = id, .nframes = 2};
        uint64_t pcs[2] = {0x1000 * id, 0x2000};
        memcpy(st, &s, sizeof(s));
        memcpy(st + sizeof(s), pcs, sizeof(pcs));
        put(LSW_STACK, st, sizeof(st));
    }
    /* second 0: stack 1 x 5, stack 2 x 7; second 1: stack 1 x 3 (and 2 freed) */
    for (int sec = 0; sec < 2; sec++) {
        uint8_t d[sizeof(struct lsw_delta_head) + 2 * sizeof(struct lsw_delta)];
        struct lsw_delta_head dh = {.t_unix_ns = origin + (uint64_t)sec * 1000000000ull + 500,
                                    .count = sec == 0 ? 2 : 1};
        struct lsw_delta r[2] = {
            {.stack_id = 1, .allocs = sec == 0 ? 5 : 3, .bytes = sec == 0 ? 320 : 192,
             .frees = sec == 0 ? 0 : 2, .freed_bytes = sec == 0 ? 0 : 128,
             .live_bytes = sec == 0 ? 320 : 384},
            {.stack_id = 2, .allocs = 7, .bytes = 7000, .reallocs = 6, .live_bytes = 7000}};
        memcpy(d, &dh, sizeof(dh));
        memcpy(d + sizeof(dh), r, dh.count * sizeof(r[0]));
        put(LSW_DELTA, d, sizeof(dh) + dh.count * sizeof(r[0]));
    }
    struct lsw_counters c = {.allocs = 15, .frees = 2, .bytes_allocated = 7512, .stacks = 2,
                             .unwind = LSW_UNWIND_FP};
    put(LSW_COUNTERS, &c, sizeof(c));
    put(LSW_BYE, NULL, 0);
    /* Byte by byte for the first part: the reader reassembles messages. */
    for (size_t i = 0; i < 40; i++)
        assert_int_equal(write(fd, buf + i, 1), 1);
    assert_int_equal(write(fd, buf + 40, blen - 40), (ssize_t)(blen - 40));
    close(fd);

    /* A corrupt stream: a header announcing more than the limit. */
    int bad = connect_to(a);
    struct lsw_header hh = {LSW_HELLO, LSW_MAX_PAYLOAD + 1};
    assert_int_equal(write(bad, &hh, sizeof(hh)), (ssize_t)sizeof(hh));

    alloc_finish(a, 2000000000ull);
    close(bad);
    assert_int_equal(sn.stacks, 2);
    assert_int_equal(sn.row_allocs, 15);
    assert_true(sn.intervals >= 2);
    assert_int_equal(sn.requests, 40);
    assert_int_equal(sn.errors, 1);
    assert_non_null(strstr(sn.last_error, "refused"));

    struct alloc_hot hot[4];
    size_t n = alloc_snapshot(a, ALLOC_BY_ALLOCS, hot, 4);
    assert_int_equal(n, 2);
    assert_int_equal(hot[0].allocs, 8);
    assert_int_equal(hot[0].bytes, 512);
    assert_int_equal(hot[0].frees, 2);
    assert_int_equal(hot[0].live_bytes, 384);
    assert_int_equal(hot[0].live_growth_bytes, 64);
    assert_int_equal(hot[1].allocs, 7);
    assert_int_equal(hot[1].reallocs, 6);
    n = alloc_snapshot(a, ALLOC_BY_BYTES, hot, 1);
    assert_int_equal(n, 1);
    assert_int_equal(hot[0].bytes, 7000);
    /* per request: 15 allocations over 40 requests */
    assert_true(hot[0].allocs_per_req > 0.174 && hot[0].allocs_per_req < 0.176);

    struct alloc_status st;
    alloc_status(a, &st);
    assert_int_equal(st.processes, 2);
    assert_int_equal(st.allocs, 15);
    assert_int_equal(st.frees, 2);
    assert_string_equal(st.unwind, "fp");
    alloc_close(a);
}

/* One traced image: hello (exec flag as given), its counters, and a goodbye or not. */
static void send_image(struct alloc *a, int pid, bool exec, uint64_t allocs, bool bye)
{
    int fd = connect_to(a);
    blen = 0;
    struct lsw_hello h = {.version = LSW_VERSION, .pid = pid, .ppid = 1, .mode = LSW_MODE_COUNT,
                          .unwind = LSW_UNWIND_NONE, .flags = exec ? LSW_HELLO_EXEC : 0};
    put(LSW_HELLO, &h, sizeof(h));
    struct lsw_counters c = {.allocs = allocs, .frees = allocs / 2, .bytes_allocated = 16 * allocs};
    put(LSW_COUNTERS, &c, sizeof(c));
    if (bye)
        put(LSW_BYE, NULL, 0);
    assert_int_equal(write(fd, buf, blen), (ssize_t)blen);
    close(fd); /* connections are accepted in the order they were made: images stay in order */
}

struct procs {
    int n;
    struct alloc_proc_summary s[4];
};

static void on_proc(void *ctx, const struct alloc_proc_summary *s)
{
    struct procs *p = ctx;
    if (p->n < 4)
        p->s[p->n++] = *s;
}

/*
 * A process that exec'd twice (a wrapper script, then env, then the program)
 * and was killed in its last image, beside another that ended normally: one
 * process with the three images' counters added up, two execs, and one
 * warning, for the killed image only (the first two images' missing last
 * batches were execs, not kills).
 */
static void test_exec_images(void **state)
{
    (void)state;
    struct seen sn = {0};
    struct alloc_opts o = {.mode = ALLOC_COUNT, .shim_path = "/dev/null"};
    struct alloc_sink sink = {.ctx = &sn, .stack = on_stack, .interval = on_interval, .event = on_event};
    struct alloc *a = NULL;
    char err[256];
    assert_int_equal(alloc_open(&o, &sink, &a, err, sizeof(err)), LS_OK);
    alloc_set_origin(a, test_origin());
    send_image(a, 999991, false, 3, false);
    send_image(a, 999991, true, 5, false);
    send_image(a, 999991, true, 7, false);
    send_image(a, 999992, false, 11, true);
    alloc_finish(a, 2000000000ull);

    struct alloc_status st;
    alloc_status(a, &st);
    assert_int_equal(st.processes, 2);
    assert_int_equal(st.execs, 2);
    assert_int_equal(st.allocs, 26);
    struct procs p = {0};
    alloc_each_process(a, on_proc, &p);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.s[0].pid, 999991);
    assert_int_equal(p.s[0].allocs, 15);
    assert_int_equal(p.s[0].frees, 1 + 2 + 3);
    assert_int_equal(p.s[0].bytes_allocated, 16 * 15);
    assert_false(p.s[0].said_bye);
    assert_int_equal(p.s[1].pid, 999992);
    assert_int_equal(p.s[1].allocs, 11);
    assert_true(p.s[1].said_bye);
    assert_int_equal(sn.warnings, 1);
    assert_non_null(strstr(sn.last_warning, "pid 999991 ended without its last batch"));
    assert_int_equal(sn.errors, 0);
    alloc_close(a);
}

static void test_modes(void **state)
{
    (void)state;
    enum alloc_mode m;
    assert_true(alloc_mode_parse("sampled", &m));
    assert_int_equal(m, ALLOC_SAMPLED);
    assert_true(alloc_mode_parse("count", &m));
    assert_int_equal(m, ALLOC_COUNT);
    assert_false(alloc_mode_parse("Full", &m));
    assert_string_equal(alloc_mode_name(ALLOC_FULL), "full");
    assert_null(alloc_mode_name(ALLOC_OFF));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_exec_images),
        cmocka_unit_test(test_modes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
