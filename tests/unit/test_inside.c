/*
 * test_inside: what the tracer sees inside the target besides allocations
 * (core/alloc/alloc_inside.h), on the loadscope side: a hand-made tracer
 * stream of INSIDE, PEER and NAME messages through the reader's real socket
 * gives exact per-second rows and live sites (kinds, worker flag, peers and
 * names as text, per-request figures, a pthread wait as a lock wait, a futex
 * wait with no lock on its stack as parking); the stack classifier tells
 * std's, parking_lot's and pthread's contended paths from parking; the model
 * sorts and windows; and a session stored and read back feeds a model that
 * equals the live one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc/alloc.h"
#include "alloc/alloc_inside.h"
#include "lsalloc_wire.h"
#include "store.h"
#include "store_alloc.h"
#include "store_inside.h"

/* ---- the classifier and the kinds --------------------------------------------------- */

static void test_lock_stack(void **state)
{
    (void)state;
    /* std's futex Mutex (as the symbolizer writes it, with the file and an inlined frame) */
    assert_true(alloc_inside_lock_stack(
        "std::sys::pal::unix::futex::futex_wait (library/std/src/sys/pal/unix/futex.rs:73) [inlined]\n"
        "<std::sys::sync::mutex::futex::Mutex>::lock_contended (library/std/src/sys/sync/mutex/futex.rs:61)\n"
        "app::handler (src/main.rs:29)"));
    assert_true(alloc_inside_lock_stack("std::sys::sync::rwlock::futex::RwLock::write_contended\nmain"));
    /* parking_lot */
    assert_true(alloc_inside_lock_stack(
        "parking_lot_core::parking_lot::park\n"
        "parking_lot::raw_mutex::RawMutex::lock_slow (raw_mutex.rs:260)\napp::f"));
    assert_true(alloc_inside_lock_stack("x\n<parking_lot::raw_rwlock::RawRwLock>::lock_shared_slow"));
    /* glibc, and a C++ name with its parameters */
    assert_true(alloc_inside_lock_stack("__lll_lock_wait (lowlevellock.c:49)\npthread_mutex_lock"));
    assert_true(alloc_inside_lock_stack("ns::Pool<int>::lock_slow(int, char const*)\nmain"));
    /* generic arguments after the name */
    assert_true(alloc_inside_lock_stack("lib::Mutex::lock_contended<u64>\nmain"));
    /* parking: tokio's idle worker, a condition variable, a channel */
    assert_false(alloc_inside_lock_stack(
        "std::sys::pal::unix::futex::futex_wait [inlined]\n"
        "<std::sys::sync::condvar::futex::Condvar>::wait_optional_timeout\n"
        "tokio::runtime::park::Inner::park (park.rs:120)\n"
        "tokio::runtime::scheduler::multi_thread::worker::Context::park_timeout"));
    assert_false(alloc_inside_lock_stack("<std::thread::thread::Thread>::park\nstd::sync::mpmc::list::Channel<T>::recv"));
    /* a name that only contains a lock's */
    assert_false(alloc_inside_lock_stack("app::unlock_slowly\napp::my_lock_contended_counter"));
    assert_false(alloc_inside_lock_stack(""));
}

/* tokio's frames, as the symbolizer writes them (tokio 1.x, multi-thread runtime) */
#define TOKIO_WORKER_ROOT                                                                          \
    "tokio::runtime::scheduler::multi_thread::worker::Context::run_task (worker.rs:591)\n"          \
    "tokio::runtime::scheduler::multi_thread::worker::run (worker.rs:454)\n"                        \
    "<tokio::runtime::blocking::task::BlockingTask<T> as core::future::future::Future>::poll\n"      \
    "tokio::runtime::blocking::pool::Inner::run (pool.rs:511)\n"                                   \
    "std::sys::thread::unix::Thread::new::thread_start"
#define TOKIO_POOL_ROOT                                                                            \
    "<tokio::runtime::blocking::task::BlockingTask<T> as core::future::future::Future>::poll (task.rs:42)\n" \
    "tokio::runtime::task::core::Core<T,S>::poll [inlined]\n"                                      \
    "tokio::runtime::blocking::pool::Inner::run (pool.rs:511)\n"                                   \
    "std::sys::thread::unix::Thread::new::thread_start"

static void test_off_worker(void **state)
{
    (void)state;
    /* a handler's std::thread::sleep on a worker: blocks the runtime */
    assert_false(alloc_inside_off_worker_stack(
        "std::thread::sleep\napp::handler (src/main.rs:40)\n" TOKIO_WORKER_ROOT));
    /* the same sleep in spawn_blocking's closure: the pool's thread, named as the workers */
    assert_true(alloc_inside_off_worker_stack(
        "std::thread::sleep\napp::handler::{{closure}} (src/main.rs:44)\n" TOKIO_POOL_ROOT));
    /* hyper's resolver: getaddrinfo on the pool */
    assert_true(alloc_inside_off_worker_stack(
        "<std::net::SocketAddrs>::resolve\nhyper::client::connect::dns::GaiResolver::call::{{closure}}\n"
        TOKIO_POOL_ROOT));
    /* block_in_place hands the worker's duties over first */
    assert_true(alloc_inside_off_worker_stack(
        "std::fs::read\ntokio::runtime::scheduler::multi_thread::worker::block_in_place\n"
        TOKIO_WORKER_ROOT));
    /* not tokio at all, or a stack cut before its root: the thread's name decides */
    assert_false(alloc_inside_off_worker_stack("nanosleep\nworker (inside_sites.c:153)"));
    assert_false(alloc_inside_off_worker_stack(""));
    /* a path is not a frame's name */
    assert_false(alloc_inside_off_worker_stack("f (/src/tokio/runtime/blocking/task.rs:1)"));
}

static void test_kinds(void **state)
{
    (void)state;
    for (int k = 0; k < ALLOC_IN__COUNT; k++) {
        enum alloc_inside_kind back;
        assert_true(alloc_inside_kind_parse(alloc_inside_kind_name((enum alloc_inside_kind)k), &back));
        assert_int_equal(back, k);
    }
    enum alloc_inside_kind x;
    assert_false(alloc_inside_kind_parse("nap", &x));
    assert_string_equal(alloc_inside_kind_name(ALLOC_IN_LOCK_WAIT), "lock_wait");
    assert_true(alloc_inside_blocking(ALLOC_IN_SLEEP, true));
    assert_false(alloc_inside_blocking(ALLOC_IN_SLEEP, false)); /* a blocking pool's thread */
    assert_true(alloc_inside_blocking(ALLOC_IN_DNS, true));
    assert_false(alloc_inside_blocking(ALLOC_IN_DNS, false));
    assert_false(alloc_inside_blocking(ALLOC_IN_LOCK_WAIT, true));
}

/* ---- the model ------------------------------------------------------------------------ */

static void test_model(void **state)
{
    (void)state;
    struct alloc_inside_model *m;
    assert_int_equal(alloc_inside_model_open(&m), LS_OK);
    struct alloc_inside_row a = {.kind = ALLOC_IN_SLEEP, .worker = true, .key = 3, .pid = 7,
                                 .target = "", .count = 2, .time_ns = 40000000};
    struct alloc_inside_row c = {.kind = ALLOC_IN_CONNECT, .key = 4, .pid = 7,
                                 .target = "10.0.0.1:443", .count = 5, .failed = 1, .time_ns = 1000};
    assert_int_equal(alloc_inside_model_add(m, 0, &a, "h (main.rs:9)", "h (main.rs:9)\nmain"), LS_OK);
    assert_int_equal(alloc_inside_model_add(m, 0, &c, "c (net.rs:3)", "c"), LS_OK);
    a.count = 1;
    a.time_ns = 20000000;
    assert_int_equal(alloc_inside_model_add(m, 2, &a, "ignored: first copy stays", NULL), LS_OK);
    /* the same stack on a thread that is no worker is another site */
    a.worker = false;
    assert_int_equal(alloc_inside_model_add(m, 2, &a, NULL, NULL), LS_OK);
    alloc_inside_model_requests(m, 0, 10);
    alloc_inside_model_requests(m, 2, 10);

    struct alloc_inside_site s[8];
    size_t n = alloc_inside_model_sites(m, s, 8);
    assert_int_equal(n, 3);
    assert_int_equal(s[0].kind, ALLOC_IN_SLEEP);
    assert_true(s[0].worker);
    assert_int_equal(s[0].count, 3);
    assert_int_equal(s[0].time_ns, 60000000);
    assert_int_equal(s[0].seconds, 2);
    assert_string_equal(s[0].blame, "h (main.rs:9)");
    assert_string_equal(s[0].stack, "h (main.rs:9)\nmain");
    assert_true(s[0].count_per_req > 0.149 && s[0].count_per_req < 0.151);
    assert_true(s[0].time_per_req_ns > 2999999 && s[0].time_per_req_ns < 3000001);
    assert_false(s[1].worker);
    assert_int_equal(s[2].kind, ALLOC_IN_CONNECT);
    assert_string_equal(s[2].target, "10.0.0.1:443");
    assert_int_equal(s[2].failed, 1);
    /* fewer slots than sites: the largest, and the count of all */
    assert_int_equal(alloc_inside_model_sites(m, s, 1), 3);

    struct alloc_inside_totals t;
    alloc_inside_model_totals(m, 0, UINT32_MAX, &t);
    assert_int_equal(t.count[ALLOC_IN_SLEEP], 4);
    assert_int_equal(t.worker_count[ALLOC_IN_SLEEP], 3);
    assert_int_equal(t.worker_time_ns[ALLOC_IN_SLEEP], 60000000);
    assert_int_equal(t.count[ALLOC_IN_CONNECT], 5);
    assert_int_equal(t.requests, 20);
    assert_int_equal(t.seconds, 2);
    alloc_inside_model_totals(m, 1, 3, &t);
    assert_int_equal(t.count[ALLOC_IN_SLEEP], 2);
    assert_int_equal(t.count[ALLOC_IN_CONNECT], 0);
    assert_int_equal(t.requests, 10);
    assert_int_equal(t.seconds, 1);
    alloc_inside_model_close(m);
}

/* ---- the reader ------------------------------------------------------------------------- */

struct seen {
    int stacks, intervals, errors;
    uint64_t inside_rows, connects, lock_waits, parks;
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
    for (size_t i = 0; i < iv->ninside; i++) {
        const struct alloc_inside_row *r = &iv->inside[i];
        sn->inside_rows++;
        if (r->kind == ALLOC_IN_CONNECT)
            sn->connects += r->count;
        if (r->kind == ALLOC_IN_LOCK_WAIT)
            sn->lock_waits += r->count;
        if (r->kind == ALLOC_IN_PARK)
            sn->parks += r->count;
    }
}

static void on_event(void *ctx, const char *kind, const char *msg)
{
    struct seen *sn = ctx;
    if (strcmp(kind, "alloc_error") == 0) {
        sn->errors++;
        snprintf(sn->last_error, sizeof(sn->last_error), "%s", msg);
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

static uint64_t test_origin(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec + 60) * 1000000000ull;
}

static uint8_t buf[65536];
static size_t blen;

static void put(uint32_t type, const void *p, size_t n, const void *q, size_t qn)
{
    struct lsw_header h = {type, (uint32_t)(n + qn)};
    memcpy(buf + blen, &h, sizeof(h));
    if (n > 0)
        memcpy(buf + blen + sizeof(h), p, n);
    if (qn > 0)
        memcpy(buf + blen + sizeof(h) + n, q, qn);
    blen += sizeof(h) + n + qn;
}

static void put_inside(uint64_t t_ns, const struct lsw_inside *r, uint32_t n, uint64_t dropped)
{
    struct lsw_inside_head h = {.t_unix_ns = t_ns, .count = n, .dropped = dropped};
    put(LSW_INSIDE, &h, sizeof(h), r, n * sizeof(*r));
}

static void test_stream(void **state)
{
    (void)state;
    struct seen sn = {0};
    struct alloc_opts o = {.mode = ALLOC_FULL, .shim_path = "/dev/null",
                           .worker_threads = "tokio-runtime-worker,actix-rt"};
    struct alloc_sink sink = {.ctx = &sn, .stack = on_stack, .interval = on_interval, .event = on_event};
    struct alloc *a = NULL;
    char err[256];
    assert_int_equal(alloc_open(&o, &sink, &a, err, sizeof(err)), LS_OK);

    /* the worker names reach the target's environment */
    const struct scn_kv *kv;
    size_t nkv;
    const char *pre;
    alloc_inject(a, &kv, &nkv, &pre);
    bool named = false;
    for (size_t i = 0; i < nkv; i++)
        named |= strcmp(kv[i].key, LSW_ENV_WORKERS) == 0 &&
                 strcmp(kv[i].value, "tokio-runtime-worker,actix-rt") == 0;
    assert_true(named);

    uint64_t origin = test_origin();
    alloc_set_origin(a, origin);
    alloc_requests(a, 0, 4);
    alloc_requests(a, 1, 4);

    int fd = connect_to(a);
    blen = 0;
    struct lsw_hello h = {.version = LSW_VERSION, .pid = 4242, .ppid = 1, .mode = LSW_MODE_FULL,
                          .unwind = LSW_UNWIND_FP, .depth = 64};
    put(LSW_HELLO, &h, sizeof(h), NULL, 0);
    uint32_t nmaps = 0;
    put(LSW_MAPS, &nmaps, sizeof(nmaps), NULL, 0);
    for (uint32_t id = 1; id <= 4; id++) {
        struct lsw_stack s = {.id = id, .nframes = 1};
        uint64_t pc = 0x1000 * id;
        put(LSW_STACK, &s, sizeof(s), &pc, sizeof(pc));
    }
    struct lsw_peer p4 = {.id = 1, .family = 2 /* AF_INET */, .port = 8000, .addr = {127, 0, 0, 1}};
    struct lsw_peer p6 = {.id = 2, .family = 10 /* AF_INET6 */, .port = 443,
                          .addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
    put(LSW_PEER, &p4, sizeof(p4), NULL, 0);
    put(LSW_PEER, &p6, sizeof(p6), NULL, 0);
    struct lsw_name nm = {.id = 1, .len = 12};
    put(LSW_NAME, &nm, sizeof(nm), "localhost:80", 12);

    uint64_t t0 = origin + 500, t1 = origin + 1000000000ull + 500;
    struct lsw_inside r0[] = {
        {.kind = LSW_IN_CONNECT, .stack_id = 1, .obj = 1, .count = 8, .failed = 0, .time_ns = 800},
        {.kind = LSW_IN_CONNECT, .stack_id = 1, .obj = 2, .count = 1, .failed = 1, .time_ns = 50},
        {.kind = LSW_IN_CLOSE, .stack_id = 0, .obj = 1, .count = 8},
        {.kind = LSW_IN_DNS | LSW_IN_WORKER, .stack_id = 2, .obj = 1, .count = 4, .time_ns = 4000000},
        {.kind = LSW_IN_SLEEP | LSW_IN_WORKER, .stack_id = 3, .count = 4, .time_ns = 80000000},
        {.kind = LSW_IN_MUTEX | LSW_IN_WORKER, .stack_id = 4, .count = 2, .time_ns = 6000000},
        {.kind = LSW_IN_FUTEX | LSW_IN_WORKER, .stack_id = 3, .count = 6, .time_ns = 9000000},
        {.kind = LSW_IN_THREAD, .stack_id = 2, .count = 3},
    };
    put_inside(t0, r0, sizeof(r0) / sizeof(r0[0]), 0);
    /* the same row again in second 0 merges; second 1 gets its own */
    put_inside(t0 + 1000, r0, 1, 0);
    struct lsw_inside r1[] = {
        {.kind = LSW_IN_SLEEP | LSW_IN_WORKER, .stack_id = 3, .count = 1, .time_ns = 20000000},
        {.kind = 99, .stack_id = 3, .count = 1}, /* a kind a newer tracer sends: skipped */
    };
    put_inside(t1, r1, 2, 5);
    put(LSW_BYE, NULL, 0, NULL, 0);
    assert_int_equal(write(fd, buf, blen), (ssize_t)blen);
    close(fd);
    alloc_finish(a, 2000000000ull);

    assert_int_equal(sn.errors, 0);
    assert_int_equal(sn.stacks, 4);
    assert_int_equal(sn.connects, 17);
    assert_int_equal(sn.lock_waits, 2); /* the mutex; the futex wait's stack has no lock on it */
    assert_int_equal(sn.parks, 6);
    assert_int_equal(alloc_inside_dropped(a), 5);

    struct alloc_inside_site s[16];
    size_t n = alloc_inside_snapshot(a, s, 16);
    assert_int_equal(n, 8);
    /* most time first: the sleeps (100 ms over two seconds) */
    assert_int_equal(s[0].kind, ALLOC_IN_SLEEP);
    assert_true(s[0].worker);
    assert_int_equal(s[0].count, 5);
    assert_int_equal(s[0].time_ns, 100000000);
    assert_int_equal(s[0].seconds, 2);
    assert_int_equal(s[0].pid, 4242);
    assert_true(s[0].count_per_req > 0.624 && s[0].count_per_req < 0.626); /* 5 over 8 requests */
    bool v4 = false, v6 = false, dns = false, close_seen = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i].kind == ALLOC_IN_CONNECT && strcmp(s[i].target, "127.0.0.1:8000") == 0)
            v4 = s[i].count == 16 && s[i].failed == 0;
        if (s[i].kind == ALLOC_IN_CONNECT && strcmp(s[i].target, "[::1]:443") == 0)
            v6 = s[i].count == 1 && s[i].failed == 1;
        if (s[i].kind == ALLOC_IN_DNS)
            dns = strcmp(s[i].target, "localhost:80") == 0 && s[i].worker && s[i].count == 4;
        if (s[i].kind == ALLOC_IN_CLOSE)
            close_seen = s[i].key == 0 && s[i].count == 8 && strcmp(s[i].target, "127.0.0.1:8000") == 0;
    }
    assert_true(v4);
    assert_true(v6);
    assert_true(dns);
    assert_true(close_seen);

    struct alloc_inside_totals t;
    alloc_inside_totals(a, 0, UINT32_MAX, &t);
    assert_int_equal(t.count[ALLOC_IN_THREAD], 3);
    assert_int_equal(t.worker_count[ALLOC_IN_DNS], 4);
    assert_int_equal(t.requests, 8);
    alloc_inside_totals(a, 1, 2, &t);
    assert_int_equal(t.count[ALLOC_IN_SLEEP], 1);
    assert_int_equal(t.count[ALLOC_IN_CONNECT], 0);

    /* the allocation hot paths do not list the inside records' stacks */
    struct alloc_hot hot[8];
    assert_int_equal(alloc_snapshot(a, ALLOC_BY_ALLOCS, hot, 8), 0);
    alloc_close(a);
}

/* ---- stored and read back ------------------------------------------------------------ */

static int count_rows(void *ctx, const struct store_inside_row *r)
{
    (void)r;
    (*(int *)ctx)++;
    return 0;
}

static void test_store_replay(void **state)
{
    (void)state;
    char dir[] = "/tmp/test-inside-XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s.db", dir);
    struct store *st = NULL;
    char err[256];
    assert_int_equal(store_open(path, &st, err, sizeof(err)), LS_OK);
    struct store_session_info info = {.name = "inside", .started_unix_ns = 1};
    int64_t sid;
    assert_int_equal(store_session_begin(st, &info, &sid), LS_OK);
    struct store_alloc *w;
    assert_int_equal(store_alloc_open(st, sid, &w), LS_OK);
    struct alloc_stack_info si = {.key = 1, .pid = 9, .blame_function = "app::handler",
                                  .blame_file = "/src/app/main.rs", .blame_line = 42, .label = "",
                                  .stack = "std::thread::sleep\napp::handler (/src/app/main.rs:42)",
                                  .folded = "app::handler;std::thread::sleep"};
    assert_int_equal(store_alloc_stack(w, &si), LS_OK);

    /* the live model, fed as the reader feeds it */
    struct alloc_inside_model *live, *replay;
    assert_int_equal(alloc_inside_model_open(&live), LS_OK);
    assert_int_equal(alloc_inside_model_open(&replay), LS_OK);
    struct alloc_inside_row rows[] = {
        {.kind = ALLOC_IN_SLEEP, .worker = true, .key = 1, .pid = 9, .target = "", .count = 3,
         .time_ns = 60000000},
        {.kind = ALLOC_IN_CLOSE, .key = 0, .pid = 9, .target = "10.1.2.3:443", .count = 2},
    };
    for (uint32_t sec = 0; sec < 3; sec++) {
        struct alloc_interval iv = {.second = sec, .requests = 10 * (sec + 1), .inside = rows,
                                    .ninside = sec == 1 ? 1 : 2};
        assert_int_equal(store_alloc_interval(w, &iv), LS_OK);
        alloc_inside_model_requests(live, sec, iv.requests);
        for (size_t i = 0; i < iv.ninside; i++)
            assert_int_equal(alloc_inside_model_add(live, sec, &rows[i],
                                                    rows[i].key ? "app::handler (main.rs:42)" : NULL,
                                                    rows[i].key ? si.stack : NULL),
                             LS_OK);
    }
    store_alloc_close(w);
    int nrows = 0;
    assert_int_equal(store_inside_each(st, sid, count_rows, &nrows), LS_OK);
    assert_int_equal(nrows, 5);
    assert_int_equal(store_inside_load(st, sid, replay), LS_OK);
    /* no intervals in this session: the live model's requests are given to the replayed one */
    for (uint32_t sec = 0; sec < 3; sec++)
        alloc_inside_model_requests(replay, sec, 10 * (sec + 1));

    struct alloc_inside_site a[4], b[4];
    size_t na = alloc_inside_model_sites(live, a, 4), nb = alloc_inside_model_sites(replay, b, 4);
    assert_int_equal(na, 2);
    assert_int_equal(nb, 2);
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(a[i].kind, b[i].kind);
        assert_int_equal(a[i].worker, b[i].worker);
        assert_int_equal(a[i].key, b[i].key);
        assert_int_equal(a[i].pid, b[i].pid);
        assert_int_equal(a[i].count, b[i].count);
        assert_int_equal(a[i].time_ns, b[i].time_ns);
        assert_int_equal(a[i].seconds, b[i].seconds);
        assert_string_equal(a[i].target, b[i].target);
        assert_string_equal(a[i].blame, b[i].blame);
        assert_string_equal(a[i].stack, b[i].stack);
        assert_true(a[i].count_per_req == b[i].count_per_req);
    }
    assert_int_equal(a[0].count, 9);
    assert_string_equal(a[0].blame, "app::handler (main.rs:42)");
    struct alloc_inside_totals ta, tb;
    alloc_inside_model_totals(live, 0, UINT32_MAX, &ta);
    alloc_inside_model_totals(replay, 0, UINT32_MAX, &tb);
    assert_memory_equal(&ta, &tb, sizeof(ta));
    alloc_inside_model_close(live);
    alloc_inside_model_close(replay);
    store_close(st);
    unlink(path);
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", path);
    unlink(wal);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_stack),
        cmocka_unit_test(test_off_worker),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_store_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
