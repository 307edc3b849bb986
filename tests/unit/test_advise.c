/*
 * test_advise: the advisor on synthetic facts. For every rule: facts where
 * it fires (rule, severity, the evidence text with its numbers and
 * thresholds, where) and facts just below its threshold where it stays
 * silent. A clean server (shared client, batched reads, idle workers parked
 * in futex, small allocations, a cache that warms up then stays flat) draws
 * no finding at all; rules whose inputs were not measured are listed and
 * silent; the ranking is checked; sites are judged, not stacks (6.56 + 1.44
 * allocations per request at one line are one site at 8.00); a growth inside
 * core::fmt::write is format!, not vector growth.
 *
 * Stacks are written as the hot-path model writes them: innermost first,
 * "function (file:line)" per line, with rustc's /rustc/<hash>/library paths
 * and Debian's /usr/share/cargo/registry crates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advise/advise.h"

#define RUSTC "/rustc/17067e9ac6d7e98f18d4a8b7ab1ac5e1ef54de9b/library"
#define REG "/usr/share/cargo/registry"
#define SRC "/work/fixtures/rust-mcp/src"

/* ---- helpers ------------------------------------------------------------------- */

/* 10000 requests over 10 s, 16 virtual users, 2 CPUs; p50 2 ms, p99 5 ms both ways. */
static struct adv_facts base(void)
{
    struct adv_facts f = {0};
    f.run = (struct adv_run){
        .measured = true, .requests = 10000, .duration_s = 10, .concurrency = 16, .cores = 2};
    f.lat = (struct adv_latency){
        .measured = true, .p50_us = 2000, .p99_us = 5000, .u_p50_us = 2000, .u_p99_us = 5000};
    return f;
}

static struct adv_report eval(const struct adv_facts *f)
{
    struct adv_report r;
    assert_int_equal(adv_evaluate(f, &r), LS_OK);
    return r;
}

static const struct adv_finding *find(const struct adv_report *r, const char *rule)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->findings[i].rule, rule) == 0)
            return &r->findings[i];
    return NULL;
}

static size_t count(const struct adv_report *r, const char *rule)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += strcmp(r->findings[i].rule, rule) == 0;
    return n;
}

/* The severity the rule fired with (the test fails when it did not fire). */
static int severity_of(const struct adv_report *r, const char *rule)
{
    const struct adv_finding *f = find(r, rule);
    if (f == NULL)
        fail_msg("%s did not fire", rule);
    return f ? (int)f->severity : -1;
}

/* The rule fires once with this severity, evidence and where; returns the finding. */
static const struct adv_finding *expect(const struct adv_report *r, const char *rule,
                                        enum adv_severity sev, const char *evidence,
                                        const char *where)
{
    const struct adv_finding *f = find(r, rule);
    if (f == NULL)
        fail_msg("%s did not fire", rule);
    assert_int_equal(count(r, rule), 1);
    assert_int_equal(f->severity, sev);
    assert_string_equal(f->evidence, evidence);
    assert_string_equal(f->where, where);
    assert_non_null(f->title);
    assert_true(*f->title);
    assert_non_null(f->fix);
    assert_true(*f->fix);
    assert_true(f->impact >= 0 && f->impact <= 1);
    assert_true(f->confidence > 0 && f->confidence <= 1);
    return f;
}

static void silent(const struct adv_facts *f, const char *rule)
{
    struct adv_report r = eval(f);
    if (find(&r, rule))
        fail_msg("%s fired: %s", rule, find(&r, rule)->evidence);
    adv_report_free(&r);
}

static bool listed_not_measured(const struct adv_report *r, const char *rule, uint32_t *missing)
{
    for (size_t i = 0; i < r->n_not_measured; i++)
        if (strcmp(r->not_measured[i].rule, rule) == 0) {
            if (missing)
                *missing = r->not_measured[i].missing;
            return true;
        }
    return false;
}

/* ---- stacks -------------------------------------------------------------------- */

/* format! whose growth happens inside core::fmt::write (labelled "vector growth" today). */
static const char FORMAT_GROWTH_STACK[] =
    "realloc\n"
    "alloc::alloc::realloc (" RUSTC "/alloc/src/alloc.rs:138) [inlined]\n"
    "alloc::raw_vec::finish_grow<alloc::alloc::Global> (" RUSTC "/alloc/src/raw_vec/mod.rs:789)\n"
    "alloc::raw_vec::RawVecInner<A>::grow_amortized (" RUSTC "/alloc/src/raw_vec/mod.rs:683)\n"
    "alloc::raw_vec::RawVecInner<A>::reserve::do_reserve_and_handle (" RUSTC
    "/alloc/src/raw_vec/mod.rs:557)\n"
    "alloc::string::String::push_str (" RUSTC "/alloc/src/string.rs:1114) [inlined]\n"
    "<alloc::string::String as core::fmt::Write>::write_str (" RUSTC "/alloc/src/string.rs:3242)\n"
    "core::fmt::write (" RUSTC "/core/src/fmt/mod.rs:1682)\n"
    "alloc::fmt::format::format_inner (" RUSTC "/alloc/src/fmt.rs:639)\n"
    "fixture::keys::order_key (" SRC "/keys.rs:17)\n"
    "fixture::tools::get_orders::{{closure}} (" SRC "/tools.rs:52)";

/* The same format!'s first allocation (with_capacity inside format_inner). */
static const char FORMAT_ALLOC_STACK[] =
    "malloc\n"
    "alloc::alloc::alloc (" RUSTC "/alloc/src/alloc.rs:95) [inlined]\n"
    "alloc::raw_vec::RawVecInner<A>::try_allocate_in (" RUSTC "/alloc/src/raw_vec/mod.rs:476)\n"
    "alloc::string::String::with_capacity (" RUSTC "/alloc/src/string.rs:500) [inlined]\n"
    "alloc::fmt::format::format_inner (" RUSTC "/alloc/src/fmt.rs:637)\n"
    "fixture::keys::order_key (" SRC "/keys.rs:17)\n"
    "fixture::tools::get_orders::{{closure}} (" SRC "/tools.rs:58)";

static const char PUSH_GROWTH_STACK[] =
    "realloc\n"
    "alloc::alloc::realloc (" RUSTC "/alloc/src/alloc.rs:138) [inlined]\n"
    "alloc::raw_vec::finish_grow<alloc::alloc::Global> (" RUSTC "/alloc/src/raw_vec/mod.rs:789)\n"
    "alloc::raw_vec::RawVecInner<A>::grow_one (" RUSTC "/alloc/src/raw_vec/mod.rs:570)\n"
    "alloc::vec::Vec<T,A>::push (" RUSTC "/alloc/src/vec/mod.rs:2400) [inlined]\n"
    "fixture::tools::collect_rows (" SRC "/tools.rs:140)";

static const char TO_STRING_U64_STACK[] =
    "realloc\n"
    "alloc::raw_vec::finish_grow<alloc::alloc::Global> (" RUSTC "/alloc/src/raw_vec/mod.rs:789)\n"
    "alloc::raw_vec::RawVecInner<A>::grow_amortized (" RUSTC "/alloc/src/raw_vec/mod.rs:683)\n"
    "<alloc::string::String as core::fmt::Write>::write_str (" RUSTC "/alloc/src/string.rs:3242)\n"
    "core::fmt::Formatter::pad_integral (" RUSTC "/core/src/fmt/mod.rs:1500)\n"
    "core::fmt::num::imp::<impl core::fmt::Display for u64>::fmt (" RUSTC
    "/core/src/fmt/num.rs:300)\n"
    "<T as alloc::string::ToString>::to_string (" RUSTC "/alloc/src/string.rs:2700)\n"
    "fixture::tools::page_token (" SRC "/tools.rs:160)";

static const char STR_TO_STRING_STACK[] =
    "malloc\n"
    "alloc::raw_vec::RawVecInner<A>::try_allocate_in (" RUSTC "/alloc/src/raw_vec/mod.rs:476)\n"
    "<T as alloc::slice::hack::ConvertVec>::to_vec (" RUSTC "/alloc/src/slice.rs:446)\n"
    "<str as alloc::string::ToString>::to_string (" RUSTC "/alloc/src/string.rs:2800)\n"
    "fixture::tools::table_name (" SRC "/tools.rs:170)";

static const char CLONE_VEC_STACK[] =
    "malloc\n"
    "alloc::raw_vec::RawVecInner<A>::try_allocate_in (" RUSTC "/alloc/src/raw_vec/mod.rs:476)\n"
    "<T as alloc::slice::hack::ConvertVec>::to_vec (" RUSTC "/alloc/src/slice.rs:446)\n"
    "<alloc::string::String as core::clone::Clone>::clone (" RUSTC "/alloc/src/string.rs:2100)\n"
    "<alloc::vec::Vec<T,A> as core::clone::Clone>::clone (" RUSTC "/alloc/src/vec/mod.rs:3100)\n"
    "fixture::tools::list_products (" SRC "/tools.rs:210)";

static const char SERDE_VALUE_STACK[] =
    "malloc\n"
    "<T as alloc::slice::hack::ConvertVec>::to_vec (" RUSTC "/alloc/src/slice.rs:446)\n"
    "alloc::str::<impl alloc::borrow::ToOwned for str>::to_owned (" RUSTC "/alloc/src/str.rs:210)\n"
    "<serde_json::value::de::ValueVisitor as serde::de::Visitor>::visit_str (" REG
    "/serde_json-1.0.87/src/value/de.rs:80)\n"
    "serde_json::de::from_slice (" REG "/serde_json-1.0.87/src/de.rs:2600)\n"
    "fixture::mcp::handle (" SRC "/mcp.rs:40)";

static const char HYPER_FORMAT_STACK[] =
    "malloc\n"
    "alloc::fmt::format::format_inner (" RUSTC "/alloc/src/fmt.rs:637)\n"
    "hyper::proto::h1::role::encode_headers (" REG "/hyper-0.14.19/src/proto/h1/role.rs:300)\n"
    "hyper::client::Client<C,B>::request (" REG "/hyper-0.14.19/src/client/client.rs:150)\n"
    "fixture::aws::send (" SRC "/aws.rs:90)";

/* The same without debug info: dependencies are told by their crate name. */
static const char HYPER_FORMAT_NODEBUG_STACK[] = "malloc\n"
                                                 "alloc::fmt::format::format_inner\n"
                                                 "hyper::proto::h1::role::encode_headers\n"
                                                 "hyper::client::Client<C,B>::request\n"
                                                 "fixture::aws::send";

static const char SPAWN_STACK[] =
    "malloc\n"
    "alloc::alloc::exchange_malloc (" RUSTC "/alloc/src/alloc.rs:330) [inlined]\n"
    "alloc::boxed::Box<T>::new (" RUSTC "/alloc/src/boxed.rs:250) [inlined]\n"
    "tokio::runtime::task::core::Cell<T,S>::new (" REG
    "/tokio-1.24.2/src/runtime/task/core.rs:120)\n"
    "tokio::runtime::task::new_task (" REG "/tokio-1.24.2/src/runtime/task/mod.rs:300)\n"
    "tokio::task::spawn::spawn_inner (" REG "/tokio-1.24.2/src/task/spawn.rs:180)\n"
    "tokio::task::spawn::spawn (" REG "/tokio-1.24.2/src/task/spawn.rs:166)\n"
    "fixture::tools::fan_out::{{closure}} (" SRC "/tools.rs:200)";

static const char CACHE_STACK[] = "malloc\n"
                                  "hashbrown::raw::RawTable<T,A>::reserve_rehash (" RUSTC
                                  "/std/src/../../hashbrown/src/raw/mod.rs:1000)\n"
                                  "std::collections::hash::map::HashMap<K,V,S>::insert (" RUSTC
                                  "/std/src/collections/hash/map.rs:1100)\n"
                                  "fixture::cache::remember (" SRC "/cache.rs:30)";

static const char MUTEX_STACK[] =
    "syscall\n"
    "std::sys::pal::unix::futex::futex_wait (" RUSTC "/std/src/sys/pal/unix/futex.rs:72)\n"
    "std::sys::sync::mutex::futex::Mutex::lock_contended (" RUSTC
    "/std/src/sys/sync/mutex/futex.rs:62)\n"
    "std::sync::mutex::Mutex<T>::lock (" RUSTC "/std/src/sync/mutex.rs:317) [inlined]\n"
    "fixture::state::bump (" SRC "/state.rs:40)\n"
    "fixture::tools::put_order::{{closure}} (" SRC "/tools.rs:99)";

static const char PARKING_LOT_STACK[] =
    "syscall\n"
    "parking_lot_core::thread_parker::imp::ThreadParker::futex_wait (" REG
    "/parking_lot_core-0.9.3/src/thread_parker/linux.rs:112)\n"
    "parking_lot_core::parking_lot::park (" REG "/parking_lot_core-0.9.3/src/parking_lot.rs:600)\n"
    "parking_lot::raw_mutex::RawMutex::lock_slow (" REG
    "/parking_lot-0.12.1/src/raw_mutex.rs:262)\n"
    "fixture::state::bump (" SRC "/state.rs:41)";

/* An idle tokio worker: it waits in futex too, through a Condvar. */
static const char TOKIO_PARK_STACK[] =
    "syscall\n"
    "std::sys::pal::unix::futex::futex_wait (" RUSTC "/std/src/sys/pal/unix/futex.rs:72)\n"
    "std::sys::sync::condvar::futex::Condvar::wait_optional_timeout (" RUSTC
    "/std/src/sys/sync/condvar/futex.rs:50)\n"
    "std::sync::condvar::Condvar::wait (" RUSTC "/std/src/sync/condvar.rs:190)\n"
    "tokio::loom::std::parking_lot::Condvar::wait (" REG
    "/tokio-1.24.2/src/loom/std/parking_lot.rs:150)\n"
    "tokio::runtime::scheduler::multi_thread::park::Inner::park_condvar (" REG
    "/tokio-1.24.2/src/runtime/scheduler/multi_thread/park.rs:170)\n"
    "tokio::runtime::scheduler::multi_thread::park::Parker::park (" REG
    "/tokio-1.24.2/src/runtime/scheduler/multi_thread/park.rs:90)\n"
    "tokio::runtime::scheduler::multi_thread::worker::Context::park_timeout (" REG
    "/tokio-1.24.2/src/runtime/scheduler/multi_thread/worker.rs:500)";

/* A woken tokio worker re-taking its Condvar's mutex: contended, but still the runtime's idling. */
static const char TOKIO_PARK_RELOCK_STACK[] =
    "syscall\n"
    "std::sys::pal::unix::futex::futex_wait (" RUSTC "/std/src/sys/pal/unix/futex.rs:72)\n"
    "std::sys::sync::mutex::futex::Mutex::lock_contended (" RUSTC
    "/std/src/sys/sync/mutex/futex.rs:62)\n"
    "std::sys::sync::condvar::futex::Condvar::wait_optional_timeout (" RUSTC
    "/std/src/sys/sync/condvar/futex.rs:55)\n"
    "std::sync::condvar::Condvar::wait (" RUSTC "/std/src/sync/condvar.rs:190)\n"
    "tokio::runtime::scheduler::multi_thread::park::Inner::park_condvar (" REG
    "/tokio-1.24.2/src/runtime/scheduler/multi_thread/park.rs:170)";

/* tokio's own scheduler lock, contended, with no user frame. */
static const char TOKIO_LOCK_STACK[] =
    "syscall\n"
    "std::sys::sync::mutex::futex::Mutex::lock_contended (" RUSTC
    "/std/src/sys/sync/mutex/futex.rs:62)\n"
    "tokio::runtime::scheduler::multi_thread::worker::Core::maintenance (" REG
    "/tokio-1.24.2/src/runtime/scheduler/multi_thread/worker.rs:650)";

static const char SLEEP_STACK[] = "clock_nanosleep\n"
                                  "nanosleep\n"
                                  "std::thread::sleep (" RUSTC "/std/src/thread/mod.rs:900)\n"
                                  "fixture::tools::get_orders::{{closure}} (" SRC "/tools.rs:88)";

#define F_ORDER_KEY                                                                                \
    {                                                                                              \
        "fixture::keys::order_key", SRC "/keys.rs", 17, ADV_CODE_AUTO                              \
    }

/* ---- stack reading: format! vs growth, and the other kinds --------------------------- */

static void test_alloc_kinds(void **state)
{
    (void)state;
    struct adv_frame key = F_ORDER_KEY;
    /* The rule: a growth inside core::fmt::write is format!, whatever the label says. */
    assert_int_equal(adv_alloc_kind_of("vector growth", FORMAT_GROWTH_STACK, &key), ADV_AK_FORMAT);
    assert_int_equal(adv_alloc_kind_of("format!", FORMAT_ALLOC_STACK, &key), ADV_AK_FORMAT);
    struct adv_frame push = {"fixture::tools::collect_rows", SRC "/tools.rs", 140, 0};
    assert_int_equal(adv_alloc_kind_of("vector growth", PUSH_GROWTH_STACK, &push), ADV_AK_GROWTH);
    /* to_string of a Display type formats; of a &str it copies. */
    struct adv_frame tok = {"fixture::tools::page_token", SRC "/tools.rs", 160, 0};
    assert_int_equal(adv_alloc_kind_of("vector growth", TO_STRING_U64_STACK, &tok), ADV_AK_FORMAT);
    struct adv_frame tn = {"fixture::tools::table_name", SRC "/tools.rs", 170, 0};
    assert_int_equal(adv_alloc_kind_of("clone/to_owned", STR_TO_STRING_STACK, &tn), ADV_AK_CLONE);
    struct adv_frame lp = {"fixture::tools::list_products", SRC "/tools.rs", 210, 0};
    assert_int_equal(adv_alloc_kind_of("clone/to_owned", CLONE_VEC_STACK, &lp), ADV_AK_CLONE);
    /* serde's strings are serde's, though a to_owned does the copy. */
    struct adv_frame mh = {"fixture::mcp::handle", SRC "/mcp.rs", 40, 0};
    assert_int_equal(adv_alloc_kind_of("clone/to_owned", SERDE_VALUE_STACK, &mh), ADV_AK_SERDE);
    /* A format! inside hyper is hyper's business, with or without debug info. */
    struct adv_frame send = {"fixture::aws::send", SRC "/aws.rs", 90, 0};
    assert_int_equal(adv_alloc_kind_of("format!", HYPER_FORMAT_STACK, &send), ADV_AK_LIBRARY);
    struct adv_frame send_nd = {"fixture::aws::send", "", 0, 0};
    assert_int_equal(adv_alloc_kind_of("format!", HYPER_FORMAT_NODEBUG_STACK, &send_nd),
                     ADV_AK_LIBRARY);
    struct adv_frame fan = {"fixture::tools::fan_out::{{closure}}", SRC "/tools.rs", 200, 0};
    assert_int_equal(adv_alloc_kind_of("Box/Arc/Rc::new", SPAWN_STACK, &fan), ADV_AK_SPAWN);
    struct adv_frame rem = {"fixture::cache::remember", SRC "/cache.rs", 30, 0};
    assert_int_equal(adv_alloc_kind_of("hash map rehash", CACHE_STACK, &rem), ADV_AK_REHASH);
    /* No stack, or a blame frame not in it: the label decides. */
    assert_int_equal(adv_alloc_kind_of("vector growth", NULL, &key), ADV_AK_GROWTH);
    assert_int_equal(adv_alloc_kind_of("format!", PUSH_GROWTH_STACK, &key), ADV_AK_FORMAT);
    assert_int_equal(adv_alloc_kind_of("", NULL, NULL), ADV_AK_OTHER);
    assert_string_equal(adv_alloc_kind_name(ADV_AK_FORMAT), "format!");
    assert_string_equal(adv_alloc_kind_name(ADV_AK_GROWTH), "vector growth");
}

static void test_code_of(void **state)
{
    (void)state;
    assert_int_equal(adv_code_of("fixture::keys::order_key", SRC "/keys.rs"), ADV_CODE_USER);
    assert_int_equal(adv_code_of("bytes::bytes_mut::BytesMut::reserve_inner",
                                 REG "/bytes-1.2.1/src/bytes_mut.rs"),
                     ADV_CODE_DEP);
    assert_int_equal(adv_code_of("hyper::client::Client<C,B>::request",
                                 "/home/u/.cargo/registry/src/hyper-0.14.19/src/client.rs"),
                     ADV_CODE_DEP);
    assert_int_equal(adv_code_of("core::fmt::write", RUSTC "/core/src/fmt/mod.rs"), ADV_CODE_STD);
    assert_int_equal(adv_code_of("malloc", ""), ADV_CODE_ALLOCATOR);
    assert_int_equal(adv_code_of("__rust_alloc", ""), ADV_CODE_ALLOCATOR);
    assert_int_equal(adv_code_of("libfoo.so+0x1a2b", ""), ADV_CODE_UNKNOWN);
    assert_int_equal(adv_code_of("", ""), ADV_CODE_UNKNOWN);
    assert_int_equal(adv_code_of(NULL, NULL), ADV_CODE_UNKNOWN);
}

static void test_lock_or_parking(void **state)
{
    (void)state;
    assert_true(adv_is_lock_wait(MUTEX_STACK));
    /* parking_lot's lock_slow sleeps in parking_lot_core::park: still a lock wait. */
    assert_true(adv_is_lock_wait(PARKING_LOT_STACK));
    assert_true(
        adv_is_lock_wait("__pthread_mutex_lock_full\npthread_mutex_lock\nhandle (srv.c:40)"));
    /* An idle tokio worker parked in futex is not lock contention. */
    assert_false(adv_is_lock_wait(TOKIO_PARK_STACK));
    assert_false(adv_is_lock_wait(TOKIO_PARK_RELOCK_STACK));
    assert_false(
        adv_is_lock_wait("syscall\nstd::thread::park (" RUSTC "/std/src/thread/mod.rs:1000)"));
    assert_false(adv_is_lock_wait("syscall\nfutex_wait"));
    assert_false(adv_is_lock_wait(NULL));
    assert_false(adv_is_lock_wait(""));
}

/* ---- sites, not stacks ----------------------------------------------------------- */

/* The case: one format! line reached through two return paths of a state machine. */
static struct adv_alloc_stack format_stacks[3];

static struct adv_facts format_facts(double a, double b, double total)
{
    struct adv_facts f = base();
    format_stacks[0] = (struct adv_alloc_stack){.blame = F_ORDER_KEY,
                                                .label = "vector growth",
                                                .stack = FORMAT_GROWTH_STACK,
                                                .allocs = (uint64_t)(a * 10000),
                                                .bytes = (uint64_t)(a * 10000 * 48),
                                                .allocs_per_req = a,
                                                .bytes_per_req = a * 48,
                                                .reallocs_per_req = a};
    format_stacks[1] = (struct adv_alloc_stack){.blame = F_ORDER_KEY,
                                                .label = "format!",
                                                .stack = FORMAT_ALLOC_STACK,
                                                .allocs = (uint64_t)(b * 10000),
                                                .bytes = (uint64_t)(b * 10000 * 24),
                                                .allocs_per_req = b,
                                                .bytes_per_req = b * 24};
    format_stacks[2] =
        (struct adv_alloc_stack){.blame = {"fixture::tools::collect_rows", SRC "/tools.rs", 140, 0},
                                 .label = "vector growth",
                                 .stack = PUSH_GROWTH_STACK,
                                 .allocs = 10000,
                                 .bytes = 640000,
                                 .allocs_per_req = 1,
                                 .bytes_per_req = 64,
                                 .reallocs_per_req = 1};
    f.alloc = (struct adv_alloc){.measured = true,
                                 .allocs_per_req = total,
                                 .bytes_per_req = 4096,
                                 .stacks = format_stacks,
                                 .nstacks = 3};
    return f;
}

static void test_sites_aggregate(void **state)
{
    (void)state;
    struct adv_facts f = format_facts(6.56, 1.44, 40);
    struct adv_alloc_sites s;
    assert_int_equal(adv_alloc_sites_build(&f.alloc, &s), LS_OK);
    assert_int_equal(s.n, 2);
    const struct adv_alloc_site *k = &s.sites[0];
    assert_string_equal(k->blame.function, "fixture::keys::order_key");
    assert_int_equal(k->blame.line, 17);
    assert_int_equal(k->blame.code, ADV_CODE_USER);
    assert_true(fabs(k->allocs_per_req - 8.00) < 0.01);
    assert_true(fabs(k->kind_allocs_per_req[ADV_AK_FORMAT] - 8.00) < 0.01);
    assert_true(k->kind_allocs_per_req[ADV_AK_GROWTH] == 0);
    assert_int_equal(k->nstacks, 2);
    assert_int_equal(k->stacks[0], 0); /* the 6.56 stack first */
    assert_int_equal(k->stacks[1], 1);
    assert_int_equal(s.kinds[0], ADV_AK_FORMAT);
    assert_int_equal(s.kinds[2], ADV_AK_GROWTH);
    assert_true(fabs(s.sites[1].allocs_per_req - 1.00) < 0.01);
    assert_true(k->live_rising < 0); /* no series */
    adv_alloc_sites_free(&s);
    adv_alloc_sites_free(&s); /* emptied: safe twice */
}

/* ---- alloc rules ----------------------------------------------------------------- */

static void test_format_in_hot_path(void **state)
{
    (void)state;
    struct adv_facts f = format_facts(6.56, 1.44, 40);
    struct adv_report r = eval(&f);
    const struct adv_finding *x =
        expect(&r, "alloc.format_in_hot_path", ADV_WARNING,
               "8.00 format! allocations per request at this site (threshold >= 4), 20.0% of the "
               "process's 40.00 (threshold >= 5%); 2 stacks",
               "fixture::keys::order_key (keys.rs:17)");
    assert_true(fabs(x->impact - 0.2) < 1e-9);
    /* The stacks are kept as evidence, biggest first. */
    assert_non_null(strstr(x->detail, "6.56 allocations per request\nrealloc\n"));
    assert_true(strstr(x->detail, "6.56") < strstr(x->detail, "1.44 allocations per request"));
    /* The growth inside core::fmt::write is not vector growth: 6.56 reallocs stay silent. */
    assert_null(find(&r, "alloc.vec_growth"));
    assert_int_equal(r.n, 1);
    adv_report_free(&r);

    /* Just below: 3.99 per request, or 4.00 but 4.97% of the process's. */
    f = format_facts(2.49, 1.5, 40);
    silent(&f, "alloc.format_in_hot_path");
    f = format_facts(2.5, 1.5, 80.5);
    silent(&f, "alloc.format_in_hot_path");
    f = format_facts(2.5, 1.5, 80);
    struct adv_report r2 = eval(&f);
    expect(&r2, "alloc.format_in_hot_path", ADV_WARNING,
           "4.00 format! allocations per request at this site (threshold >= 4), 5.0% of the "
           "process's 80.00 (threshold >= 5%); 2 stacks",
           "fixture::keys::order_key (keys.rs:17)");
    adv_report_free(&r2);
}

static struct adv_alloc_stack one_stack[2];

static struct adv_facts one_site(const char *label, const char *stack, struct adv_frame blame,
                                 double allocs, double bytes, double reallocs, double total)
{
    struct adv_facts f = base();
    one_stack[0] = (struct adv_alloc_stack){.blame = blame,
                                            .label = label,
                                            .stack = stack,
                                            .allocs = (uint64_t)(allocs * 10000),
                                            .bytes = (uint64_t)(bytes * 10000),
                                            .allocs_per_req = allocs,
                                            .bytes_per_req = bytes,
                                            .reallocs_per_req = reallocs};
    f.alloc = (struct adv_alloc){.measured = true,
                                 .allocs_per_req = total,
                                 .bytes_per_req = 200000,
                                 .stacks = one_stack,
                                 .nstacks = 1};
    return f;
}

static void test_clone_in_hot_path(void **state)
{
    (void)state;
    struct adv_frame lp = {"fixture::tools::list_products", SRC "/tools.rs", 210, 0};
    struct adv_facts f = one_site("clone/to_owned", CLONE_VEC_STACK, lp, 1001, 80000, 0, 1200);
    struct adv_report r = eval(&f);
    expect(&r, "alloc.clone_in_hot_path", ADV_WARNING,
           "1001.00 clone allocations per request at this site (threshold >= 8) or 78.1 KiB per "
           "request (threshold >= 64 KiB); 83.4% of the process's allocations, 40.0% of its bytes "
           "(threshold >= 5%)",
           "fixture::tools::list_products (tools.rs:210)");
    adv_report_free(&r);
    /* Below: 7.99 clones carrying 60000 bytes. */
    f = one_site("clone/to_owned", CLONE_VEC_STACK, lp, 7.99, 60000, 0, 50);
    silent(&f, "alloc.clone_in_hot_path");
    /* Many clones, but 4.9% of the process's allocations and bytes. */
    f = one_site("clone/to_owned", CLONE_VEC_STACK, lp, 9.8, 9800, 0, 200);
    silent(&f, "alloc.clone_in_hot_path");
}

static void test_vec_growth(void **state)
{
    (void)state;
    struct adv_frame cr = {"fixture::tools::collect_rows", SRC "/tools.rs", 140, 0};
    struct adv_facts f = one_site("vector growth", PUSH_GROWTH_STACK, cr, 10, 40000, 9, 40);
    struct adv_report r = eval(&f);
    expect(&r, "alloc.vec_growth", ADV_WARNING,
           "9.00 reallocations per request in growth chains at this site (threshold >= 6); 10.00 "
           "growth allocations per request, 25.0% of the process's (threshold >= 5%)",
           "fixture::tools::collect_rows (tools.rs:140)");
    adv_report_free(&r);
    f = one_site("vector growth", PUSH_GROWTH_STACK, cr, 7, 40000, 5.99, 40);
    silent(&f, "alloc.vec_growth");
}

static void test_serde_churn(void **state)
{
    (void)state;
    struct adv_frame mh = {"fixture::mcp::handle", SRC "/mcp.rs", 40, 0};
    struct adv_facts f = one_site("clone/to_owned", SERDE_VALUE_STACK, mh, 300, 9000, 0, 400);
    struct adv_report r = eval(&f);
    expect(&r, "alloc.serde_churn", ADV_WARNING,
           "300.00 serde allocations per request (threshold >= 32 info, >= 256 warning), 75.0% of "
           "the process's (threshold >= 50% info, >= 70% warning), over 1 site; the top one 300.00",
           "fixture::mcp::handle (mcp.rs:40)");
    /* Not a clone: serde did the copying. */
    assert_null(find(&r, "alloc.clone_in_hot_path"));
    adv_report_free(&r);
    f = one_site("clone/to_owned", SERDE_VALUE_STACK, mh, 40, 900, 0, 60);
    struct adv_report r2 = eval(&f);
    expect(&r2, "alloc.serde_churn", ADV_INFO,
           "40.00 serde allocations per request (threshold >= 32 info, >= 256 warning), 66.7% of "
           "the process's (threshold >= 50% info, >= 70% warning), over 1 site; the top one 40.00",
           "fixture::mcp::handle (mcp.rs:40)");
    adv_report_free(&r2);
    f = one_site("clone/to_owned", SERDE_VALUE_STACK, mh, 31.9, 900, 0, 40);
    silent(&f, "alloc.serde_churn");
    f = one_site("clone/to_owned", SERDE_VALUE_STACK, mh, 100, 900, 0, 201);
    silent(&f, "alloc.serde_churn");
}

static int64_t series_up[10], series_warm[10];

static struct adv_facts cache_facts(int64_t start, int64_t end, const int64_t *series)
{
    struct adv_frame rem = {"fixture::cache::remember", SRC "/cache.rs", 30, 0};
    struct adv_facts f = one_site("", CACHE_STACK, rem, 1, 1100, 0, 40);
    one_stack[0].live_start_bytes = start;
    one_stack[0].live_end_bytes = end;
    one_stack[0].live_series = series;
    f.alloc.live_measured = true;
    f.alloc.nseries = series ? 10 : 0;
    return f;
}

static void test_live_bytes_growing(void **state)
{
    (void)state;
    const int64_t MiB = 1024 * 1024;
    for (int t = 0; t < 10; t++) {
        series_up[t] = MiB + (int64_t)t * MiB * 10 / 9; /* 1 -> 11 MiB, rising every second */
        series_warm[t] = t < 3 ? MiB * (t + 1) * 4 : MiB * 12; /* warms up, then flat */
    }
    struct adv_facts f = cache_facts(MiB, series_up[9], series_up);
    struct adv_report r = eval(&f);
    /* 11000000 bytes allocated at the site over 10000 requests; 10 MiB of it kept. */
    expect(&r, "mem.live_bytes_growing", ADV_CRITICAL,
           "live bytes 1.00 MiB -> 11.00 MiB (+10.00 MiB, threshold >= 1 MiB and >= 1.5x), 1049 "
           "bytes kept per request (threshold >= 32), rising in 100% of seconds (threshold >= "
           "60%); keeps 95% of what it allocates",
           "fixture::cache::remember (cache.rs:30)");
    adv_report_free(&r);
    /* Without a series: a warning, on start and end alone. */
    f = cache_facts(MiB, 4 * MiB, NULL);
    struct adv_report r2 = eval(&f);
    expect(&r2, "mem.live_bytes_growing", ADV_WARNING,
           "live bytes 1.00 MiB -> 4.00 MiB (+3.00 MiB, threshold >= 1 MiB and >= 1.5x), 315 bytes "
           "kept per request (threshold >= 32); keeps 29% of what it allocates",
           "fixture::cache::remember (cache.rs:30)");
    adv_report_free(&r2);
    /* Just below: 1 MiB - 1 byte of growth; or a cache that warmed up and stays flat. */
    f = cache_facts(MiB, 2 * MiB - 1, NULL);
    silent(&f, "mem.live_bytes_growing");
    f = cache_facts(series_warm[0], series_warm[9], series_warm);
    silent(&f, "mem.live_bytes_growing");
    /* Not measured without frees (count mode): listed, silent. */
    f = cache_facts(MiB, series_up[9], series_up);
    f.alloc.live_measured = false;
    struct adv_report r3 = eval(&f);
    uint32_t missing = 0;
    assert_null(find(&r3, "mem.live_bytes_growing"));
    assert_true(listed_not_measured(&r3, "mem.live_bytes_growing", &missing));
    assert_int_equal(missing, ADV_IN_LIVE);
    adv_report_free(&r3);
}

static void test_spawn_per_request(void **state)
{
    (void)state;
    struct adv_frame fan = {"fixture::tools::fan_out::{{closure}}", SRC "/tools.rs", 200, 0};
    struct adv_facts f = one_site("Box/Arc/Rc::new", SPAWN_STACK, fan, 8, 8 * 512, 0, 40);
    struct adv_report r = eval(&f);
    expect(&r, "runtime.spawn_per_request", ADV_WARNING,
           "8.00 task spawns per request at this site (threshold >= 1 info, >= 4 warning), counted "
           "by the runtime's task allocations",
           "fixture::tools::fan_out::{{closure}} (tools.rs:200)");
    adv_report_free(&r);
    f = one_site("Box/Arc/Rc::new", SPAWN_STACK, fan, 1, 512, 0, 40);
    struct adv_report r2 = eval(&f);
    expect(&r2, "runtime.spawn_per_request", ADV_INFO,
           "1.00 task spawns per request at this site (threshold >= 1 info, >= 4 warning), counted "
           "by the runtime's task allocations",
           "fixture::tools::fan_out::{{closure}} (tools.rs:200)");
    adv_report_free(&r2);
    f = one_site("Box/Arc/Rc::new", SPAWN_STACK, fan, 0.99, 512, 0, 40);
    silent(&f, "runtime.spawn_per_request");
}

/* Allocator internals, dependencies and unknown frames never fire, whatever their numbers. */
static void test_alloc_not_user_silent(void **state)
{
    (void)state;
    struct adv_frame alloc_fr = {"alloc::raw_vec::finish_grow", RUSTC "/alloc/src/raw_vec/mod.rs",
                                 789, 0};
    struct adv_facts f = one_site("vector growth", NULL, alloc_fr, 50, 1e6, 40, 60);
    struct adv_report r = eval(&f);
    assert_int_equal(r.n, 0);
    adv_report_free(&r);
    struct adv_frame bytes = {"bytes::bytes_mut::BytesMut::reserve_inner",
                              REG "/bytes-1.2.1/src/bytes_mut.rs", 600, 0};
    f = one_site("vector growth", NULL, bytes, 50, 1e6, 40, 60);
    r = eval(&f);
    assert_int_equal(r.n, 0);
    adv_report_free(&r);
    struct adv_frame send = {"fixture::aws::send", SRC "/aws.rs", 90, 0};
    f = one_site("format!", HYPER_FORMAT_STACK, send, 50, 1e4, 0, 60);
    r = eval(&f);
    assert_int_equal(r.n, 0);
    adv_report_free(&r);
    struct adv_frame unk = {"libfoo.so+0x1a2b", "", 0, 0};
    f = one_site("format!", NULL, unk, 50, 1e4, 0, 60);
    r = eval(&f);
    assert_int_equal(r.n, 0);
    adv_report_free(&r);
}

/* ---- aws rules ------------------------------------------------------------------- */

static struct adv_op ops[4];
static struct adv_peer peers[2];

static struct adv_facts op_facts(struct adv_op op)
{
    struct adv_facts f = base();
    ops[0] = op;
    f.ds = (struct adv_downstream){.measured = true, .ops = ops, .nops = 1};
    return f;
}

static struct adv_op get_item(double cpr, double conns)
{
    return (struct adv_op){.service = "dynamodb",
                           .operation = "GetItem",
                           .step = "get_orders",
                           .calls = (uint64_t)(cpr * 10000),
                           .attempts = (uint64_t)(cpr * 10000),
                           .calls_per_req = cpr,
                           .keys_per_call = 1,
                           .p50_us = 500,
                           .p99_us = 900,
                           .us_per_req = cpr * 500,
                           .conns_measured = true,
                           .new_conns_per_call = conns};
}

static void test_new_connection_per_call(void **state)
{
    (void)state;
    struct adv_facts f = op_facts(get_item(1, 1.0));
    peers[0] = (struct adv_peer){.peer = "127.0.0.1:41000",
                                 .service = "dynamodb",
                                 .new_conns = 10000,
                                 .new_conns_per_req = 1.0,
                                 .lookups_per_req = 1.0};
    f.net = (struct adv_net){.measured = true, .peers = peers, .npeers = 1};
    struct adv_report r = eval(&f);
    const struct adv_finding *x =
        expect(&r, "aws.new_connection_per_call", ADV_CRITICAL,
               "1.00 new TCP connections per dynamodb call (threshold >= 0.50) over 10000 calls; "
               "1.00 DNS lookups per request",
               "dynamodb calls (GetItem)");
    assert_true(fabs(x->impact - 0.25) < 1e-9); /* 500 us of a 2 ms p50 */
    adv_report_free(&r);
    /* 0.50: a warning; 0.49: silent (the peer's 0.49 per request too). */
    f = op_facts(get_item(1, 0.5));
    struct adv_report r2 = eval(&f);
    assert_int_equal(severity_of(&r2, "aws.new_connection_per_call"), ADV_WARNING);
    adv_report_free(&r2);
    f = op_facts(get_item(1, 0.49));
    peers[0].new_conns = 4900;
    peers[0].new_conns_per_req = 0.49;
    f.net = (struct adv_net){.measured = true, .peers = peers, .npeers = 1};
    silent(&f, "aws.new_connection_per_call");
    /* From the shim alone (an HTTPS endpoint the proxy does not see inside). */
    f = base();
    peers[0] = (struct adv_peer){.peer = "52.94.0.10:443",
                                 .service = "",
                                 .new_conns = 9000,
                                 .new_conns_per_req = 0.9,
                                 .lookups_per_req = 0.9};
    f.net = (struct adv_net){.measured = true, .peers = peers, .npeers = 1};
    struct adv_report r3 = eval(&f);
    expect(&r3, "aws.new_connection_per_call", ADV_CRITICAL,
           "0.90 new TCP connections per MCP request to 52.94.0.10:443 (threshold >= 0.50); 0.90 "
           "DNS lookups per request",
           "connections to 52.94.0.10:443");
    assert_false(listed_not_measured(&r3, "aws.new_connection_per_call", NULL));
    adv_report_free(&r3);
    peers[0].new_conns_per_req = 0.49;
    silent(&f, "aws.new_connection_per_call");
}

static void test_unbatched_reads(void **state)
{
    (void)state;
    struct adv_facts f = op_facts(get_item(8, 0));
    static const struct adv_step steps[] = {{"get_orders", 10000, 5000, 9000, 5000, 9000}};
    f.lat.steps = steps;
    f.lat.nsteps = 1;
    struct adv_report r = eval(&f);
    const struct adv_finding *x =
        expect(&r, "aws.unbatched_reads", ADV_CRITICAL,
               "8.00 GetItem per get_orders request (threshold >= 2); 1 key each; p50 500 us per "
               "call",
               "dynamodb GetItem in step get_orders");
    assert_true(fabs(x->impact - 0.7) < 1e-9); /* 7 calls of 500 us saved of a 5 ms p50 */
    assert_null(find(&r, "aws.new_connection_per_call"));
    adv_report_free(&r);
    f = op_facts(get_item(2, 0));
    struct adv_report r2 = eval(&f);
    expect(&r2, "aws.unbatched_reads", ADV_WARNING,
           "2.00 GetItem per get_orders request (threshold >= 2); 1 key each; p50 500 us per call",
           "dynamodb GetItem in step get_orders");
    adv_report_free(&r2);
    f = op_facts(get_item(1.99, 0));
    silent(&f, "aws.unbatched_reads");
    /* One BatchGetItem of 8 keys is what it should be. */
    struct adv_op batch = get_item(1, 0);
    batch.operation = "BatchGetItem";
    batch.keys_per_call = 8;
    f = op_facts(batch);
    silent(&f, "aws.unbatched_reads");
}

static void test_unbatched_writes(void **state)
{
    (void)state;
    struct adv_op put = get_item(3, 0);
    put.operation = "PutItem";
    put.step = "";
    struct adv_facts f = op_facts(put);
    struct adv_report r = eval(&f);
    expect(&r, "aws.unbatched_writes", ADV_WARNING,
           "3.00 PutItem per request (threshold >= 2); 1 item each; p50 500 us per call",
           "dynamodb PutItem in every step");
    adv_report_free(&r);
    put.calls_per_req = 1.99;
    f = op_facts(put);
    silent(&f, "aws.unbatched_writes");
}

static void test_retry_storm(void **state)
{
    (void)state;
    struct adv_op op = get_item(1, 0);
    op.calls = 1000;
    op.attempts = 1500;
    op.throttles = 500;
    op.retry_gap_measured = true;
    op.retry_gap_p50_us = 300;
    struct adv_facts f = op_facts(op);
    struct adv_report r = eval(&f);
    const struct adv_finding *x =
        expect(&r, "aws.retry_storm", ADV_CRITICAL,
               "0.50 retries per call (threshold >= 0.20) with a median wait of 300 us before a "
               "retry (threshold < 5 ms: no backoff); 500 of 1500 attempts throttled",
               "dynamodb GetItem in step get_orders");
    assert_true(fabs(x->impact - 1.0 / 3) < 1e-9);
    adv_report_free(&r);
    /* Just below without backoff: 0.19 retries per call. */
    op.attempts = 1190;
    f = op_facts(op);
    silent(&f, "aws.retry_storm");
    /* With backoff: 0.49 is silent, 0.60 a warning. */
    op.retry_gap_p50_us = 40000;
    op.attempts = 1490;
    f = op_facts(op);
    silent(&f, "aws.retry_storm");
    op.attempts = 1600;
    op.throttles = 600;
    f = op_facts(op);
    struct adv_report r2 = eval(&f);
    expect(&r2, "aws.retry_storm", ADV_WARNING,
           "0.60 retries per call (threshold >= 0.50); 600 of 1600 attempts throttled; median "
           "wait 40.00 ms before a retry",
           "dynamodb GetItem in step get_orders");
    adv_report_free(&r2);
}

static void test_unprocessed_dropped(void **state)
{
    (void)state;
    struct adv_op op = get_item(1, 0);
    op.operation = "BatchGetItem";
    op.keys_per_call = 100;
    op.unprocessed = 200;
    op.unprocessed_followed = 0;
    struct adv_facts f = op_facts(op);
    struct adv_report r = eval(&f);
    expect(&r, "aws.unprocessed_dropped", ADV_CRITICAL,
           "200 of 200 unprocessed keys never asked for again (100.0%, threshold >= 5%)",
           "dynamodb BatchGetItem in step get_orders");
    adv_report_free(&r);
    /* 9 of 200 (4.5%): the window's edge, silent; all followed: silent. */
    op.unprocessed_followed = 191;
    f = op_facts(op);
    silent(&f, "aws.unprocessed_dropped");
    op.unprocessed_followed = 200;
    f = op_facts(op);
    silent(&f, "aws.unprocessed_dropped");
    /* Fewer than 10 returned: not judged. */
    op.unprocessed = 9;
    op.unprocessed_followed = 0;
    f = op_facts(op);
    silent(&f, "aws.unprocessed_dropped");
}

/* ---- runtime rules --------------------------------------------------------------- */

static struct adv_event evs[4];

static struct adv_facts blocking_facts(double share, double per_req)
{
    struct adv_facts f = base();
    evs[0] = (struct adv_event){
        .blame = {"fixture::tools::get_orders::{{closure}}", SRC "/tools.rs", 88, 0},
        .call = "nanosleep",
        .stack = SLEEP_STACK,
        .count = (uint64_t)(per_req * 10000),
        .per_req = per_req,
        .us_per_req = 5000,
        .share = share};
    f.blocking = (struct adv_events){.measured = true, .ev = evs, .n = 1};
    return f;
}

static void test_blocking_on_worker(void **state)
{
    (void)state;
    struct adv_facts f = blocking_facts(0.30, 1.0);
    struct adv_report r = eval(&f);
    const struct adv_finding *x =
        expect(&r, "runtime.blocking_on_worker", ADV_CRITICAL,
               "nanosleep on runtime workers: 30.0% of worker time (threshold >= 5%), 5.00 ms per "
               "request, 1.00 calls per request (threshold >= 0.10)",
               "fixture::tools::get_orders::{{closure}} (tools.rs:88)");
    assert_true(x->impact == 1.0); /* 5 ms blocked of a 2 ms p50: capped */
    assert_non_null(strstr(x->detail, "std::thread::sleep"));
    adv_report_free(&r);
    f = blocking_facts(0.05, 1.0);
    struct adv_report r2 = eval(&f);
    assert_int_equal(severity_of(&r2, "runtime.blocking_on_worker"), ADV_WARNING);
    adv_report_free(&r2);
    f = blocking_facts(0.049, 1.0);
    silent(&f, "runtime.blocking_on_worker");
    f = blocking_facts(0.30, 0.099);
    silent(&f, "runtime.blocking_on_worker");
    /* Two stacks at one line, 3% each: one site at 6% fires. */
    f = blocking_facts(0.03, 0.5);
    evs[1] = evs[0];
    evs[1].stack = "nanosleep\nstd::thread::sleep (" RUSTC "/std/src/thread/mod.rs:900)\n"
                   "fixture::tools::get_orders::{{closure}} (" SRC "/tools.rs:88)";
    f.blocking.n = 2;
    struct adv_report r3 = eval(&f);
    expect(&r3, "runtime.blocking_on_worker", ADV_WARNING,
           "nanosleep on runtime workers: 6.0% of worker time (threshold >= 5%), 10.00 ms per "
           "request, 1.00 calls per request (threshold >= 0.10)",
           "fixture::tools::get_orders::{{closure}} (tools.rs:88)");
    adv_report_free(&r3);
}

static struct adv_facts lock_facts(const char *stack, struct adv_frame blame, double us)
{
    struct adv_facts f = base();
    evs[0] = (struct adv_event){.blame = blame,
                                .call = "futex",
                                .stack = stack,
                                .count = 10000,
                                .per_req = 1.0,
                                .us_per_req = us,
                                .share = 0.2};
    f.locks = (struct adv_events){.measured = true, .ev = evs, .n = 1};
    return f;
}

static void test_lock_contention(void **state)
{
    (void)state;
    struct adv_frame bump = {"fixture::state::bump", SRC "/state.rs", 40, 0};
    struct adv_facts f = lock_facts(MUTEX_STACK, bump, 1200);
    struct adv_report r = eval(&f);
    const struct adv_finding *x =
        expect(&r, "runtime.lock_contention", ADV_CRITICAL,
               "1.20 ms lock wait per request, 60.0% of the p50 2.00 ms (threshold >= 10% and >= "
               "10 us); 1.00 waits per request",
               "fixture::state::bump (state.rs:40)");
    assert_true(fabs(x->impact - 0.6) < 1e-9);
    adv_report_free(&r);
    f = lock_facts(MUTEX_STACK, bump, 200);
    struct adv_report r2 = eval(&f);
    assert_int_equal(severity_of(&r2, "runtime.lock_contention"), ADV_WARNING);
    adv_report_free(&r2);
    f = lock_facts(MUTEX_STACK, bump, 199);
    silent(&f, "runtime.lock_contention");
    /* Idle workers parked in futex: not contention, however long. */
    struct adv_frame park = {
        "tokio::runtime::scheduler::multi_thread::worker::Context::park_timeout",
        REG "/tokio-1.24.2/src/runtime/scheduler/multi_thread/worker.rs", 500, 0};
    f = lock_facts(TOKIO_PARK_STACK, park, 50000);
    silent(&f, "runtime.lock_contention");
    /* The runtime's own lock, no user frame: the runtime's business. */
    struct adv_frame maint = {"tokio::runtime::scheduler::multi_thread::worker::Core::maintenance",
                              REG "/tokio-1.24.2/src/runtime/scheduler/multi_thread/worker.rs", 650,
                              0};
    f = lock_facts(TOKIO_LOCK_STACK, maint, 5000);
    silent(&f, "runtime.lock_contention");
    /* A bare futex with no stack could be parking: silent. */
    f = lock_facts(NULL, bump, 5000);
    silent(&f, "runtime.lock_contention");
}

static void test_workers_saturated(void **state)
{
    (void)state;
    struct adv_facts f = base();
    f.threads = (struct adv_threads){.measured = true, .workers = 1, .busy_share = 0.95};
    struct adv_report r = eval(&f);
    /* 0.95 x 1 worker x 10 s / 10000 requests = 950 us needed; p50 2 ms is 2.1x. */
    expect(&r, "runtime.workers_saturated", ADV_WARNING,
           "workers busy 95.0% of the time (threshold >= 90%); p50 2.00 ms is 2.1x the 950 us of "
           "worker time a request needs (threshold >= 2x); 1 worker on 2 CPUs for 16 requests in "
           "flight",
           "runtime worker threads (1)");
    adv_report_free(&r);
    f.threads.busy_share = 0.89;
    silent(&f, "runtime.workers_saturated");
    /* As many workers as CPUs, all busy: CPU-bound at this load, an info. */
    f.threads = (struct adv_threads){.measured = true, .workers = 2, .busy_share = 0.95};
    f.lat.p50_us = 4000;
    struct adv_report r2 = eval(&f);
    expect(&r2, "runtime.workers_saturated", ADV_INFO,
           "workers busy 95.0% of the time (threshold >= 90%); p50 4.00 ms is 2.1x the 1.90 ms of "
           "worker time a request needs (threshold >= 2x); 2 workers on 2 CPUs for 16 requests in "
           "flight",
           "runtime worker threads (2)");
    adv_report_free(&r2);
    /* No queue: p50 1.9x the worker time. */
    f.lat.p50_us = 3610;
    silent(&f, "runtime.workers_saturated");
}

static void test_thread_per_request(void **state)
{
    (void)state;
    struct adv_facts f = base();
    evs[0] = (struct adv_event){
        .blame = {"fixture::tools::report::{{closure}}", SRC "/tools.rs", 120, 0},
        .call = "clone3",
        .count = 10000,
        .per_req = 1.0};
    f.threads = (struct adv_threads){.measured = true,
                                     .workers = 2,
                                     .busy_share = 0.4,
                                     .creations_per_req = 1.0,
                                     .creations = evs,
                                     .ncreations = 1};
    struct adv_report r = eval(&f);
    expect(&r, "runtime.thread_per_request", ADV_CRITICAL,
           "1.00 thread creations per request (threshold >= 0.10)",
           "fixture::tools::report::{{closure}} (tools.rs:120)");
    adv_report_free(&r);
    f.threads.creations_per_req = 0.1;
    f.threads.ncreations = 0;
    struct adv_report r2 = eval(&f);
    expect(&r2, "runtime.thread_per_request", ADV_WARNING,
           "0.10 thread creations per request (threshold >= 0.10)", "thread creations");
    adv_report_free(&r2);
    f.threads.creations_per_req = 0.099;
    silent(&f, "runtime.thread_per_request");
}

static void test_cpu_hot_function(void **state)
{
    (void)state;
    struct adv_facts f = base();
    /* One function, two lines of it: judged as one function at 45%. */
    evs[0] = (struct adv_event){.blame = {"fixture::sign::hmac_sha256", SRC "/sign.rs", 30, 0},
                                .stack = "fixture::sign::hmac_sha256 (" SRC "/sign.rs:30)",
                                .count = 3000,
                                .per_req = 0.3,
                                .us_per_req = 150,
                                .share = 0.30};
    evs[1] = (struct adv_event){.blame = {"fixture::sign::hmac_sha256", SRC "/sign.rs", 34, 0},
                                .count = 1500,
                                .per_req = 0.15,
                                .us_per_req = 80,
                                .share = 0.15};
    evs[2] = (struct adv_event){.blame = {"hyper::proto::h1::role::parse_headers",
                                          REG "/hyper-0.14.19/src/proto/h1/role.rs", 100, 0},
                                .count = 5000,
                                .per_req = 0.5,
                                .us_per_req = 300,
                                .share = 0.50};
    f.cpu = (struct adv_events){.measured = true, .ev = evs, .n = 3};
    struct adv_report r = eval(&f);
    expect(&r, "cpu.hot_function", ADV_WARNING,
           "45.0% of the target's CPU (threshold >= 40% warning, >= 20% info), 230 us of CPU per "
           "request (threshold >= 100 us warning, >= 20 us info)",
           "fixture::sign::hmac_sha256 (sign.rs:30)");
    adv_report_free(&r); /* hyper's 50% is hyper's: not a user function */
    evs[1].share = 0.04;
    struct adv_report r2 = eval(&f);
    assert_int_equal(severity_of(&r2, "cpu.hot_function"), ADV_INFO);
    adv_report_free(&r2);
    evs[0].share = 0.15;
    silent(&f, "cpu.hot_function"); /* 19% */
}

/* ---- load rules ------------------------------------------------------------------ */

static void test_generator_saturated(void **state)
{
    (void)state;
    struct adv_facts f = base();
    f.gen = (struct adv_generator){.measured = true, .cpu_share = 0.95};
    struct adv_report r = eval(&f);
    expect(&r, "load.generator_saturated", ADV_WARNING,
           "busiest engine thread at 95.0% of a core (threshold >= 90%); 0.0% of requests sent "
           "late",
           "loadscope's engine");
    adv_report_free(&r);
    f.gen.cpu_share = 0.89;
    silent(&f, "load.generator_saturated");
    f.run.open_loop = true;
    f.gen = (struct adv_generator){.measured = true, .cpu_share = 0.70, .late = 600};
    struct adv_report r2 = eval(&f);
    expect(&r2, "load.generator_saturated", ADV_WARNING,
           "6.0% of requests sent late (threshold >= 5%) with the busiest engine thread at 70.0% "
           "of a core (threshold >= 60%)",
           "loadscope's engine");
    adv_report_free(&r2);
    f.gen.cpu_share = 0.5; /* late, but the engine is idle: the server holds the connections */
    silent(&f, "load.generator_saturated");
    f.gen = (struct adv_generator){.measured = true, .cpu_share = 0.70, .late = 499};
    silent(&f, "load.generator_saturated");
}

static void test_coordinated_omission(void **state)
{
    (void)state;
    struct adv_facts f = base();
    f.run.open_loop = true;
    f.lat.p99_us = 20000;
    f.lat.u_p99_us = 4000;
    f.lat.p50_us = 2500;
    static const struct adv_step steps[] = {
        {"echo", 5000, 1500, 12000, 1500, 4000},  /* 3x */
        {"slow", 5000, 4000, 60000, 3000, 10000}, /* 6x: the worst */
        {"tiny", 10, 1000, 90000, 1000, 1000},    /* too few requests to judge */
    };
    f.lat.steps = steps;
    f.lat.nsteps = 3;
    struct adv_report r = eval(&f);
    expect(&r, "load.coordinated_omission", ADV_WARNING,
           "corrected p99 60.00 ms vs uncorrected 10.00 ms: 6.00x (threshold >= 2x and >= 1 ms "
           "apart); p50 4.00 ms vs 3.00 ms",
           "step slow");
    adv_report_free(&r);
    f.lat.nsteps = 0;
    struct adv_report r2 = eval(&f);
    expect(&r2, "load.coordinated_omission", ADV_WARNING,
           "corrected p99 20.00 ms vs uncorrected 4.00 ms: 5.00x (threshold >= 2x and >= 1 ms "
           "apart); p50 2.50 ms vs 2.00 ms",
           "all steps");
    adv_report_free(&r2);
    f.lat.p99_us = 7999;
    silent(&f, "load.coordinated_omission");
    f.lat.p99_us = 1350; /* 3x but 900 us apart */
    f.lat.u_p99_us = 450;
    silent(&f, "load.coordinated_omission");
}

static void test_session_churn(void **state)
{
    (void)state;
    struct adv_facts f = base();
    f.mcp = (struct adv_mcp){.measured = true,
                             .handshakes = 10000,
                             .handshake_share = 0.30,
                             .session_per_iteration = true};
    struct adv_report r = eval(&f);
    expect(&r, "mcp.session_churn_cost", ADV_WARNING,
           "handshakes 30.0% of request time (threshold >= 25% warning, >= 10% info); 1.00 "
           "handshakes per request with a session per iteration",
           "initialize (a session per iteration)");
    adv_report_free(&r);
    f.mcp.handshake_share = 0.12;
    struct adv_report r2 = eval(&f);
    assert_int_equal(severity_of(&r2, "mcp.session_churn_cost"), ADV_INFO);
    adv_report_free(&r2);
    f.mcp.handshake_share = 0.099;
    silent(&f, "mcp.session_churn_cost");
    f.mcp.handshake_share = 0.5;
    f.mcp.session_per_iteration = false;
    silent(&f, "mcp.session_churn_cost");
}

/* ---- a clean server -------------------------------------------------------------- */

static void test_clean_server(void **state)
{
    (void)state;
    struct adv_facts f = base();
    f.gen = (struct adv_generator){.measured = true, .cpu_share = 0.55};
    f.mcp = (struct adv_mcp){.measured = true, .handshakes = 16, .handshake_share = 0.002};
    /* A shared client (a handful of connections for the run), one batched read, one write. */
    static const struct adv_op clean_ops[] = {
        {.service = "dynamodb",
         .operation = "BatchGetItem",
         .step = "get_orders",
         .calls = 5000,
         .attempts = 5000,
         .calls_per_req = 1,
         .keys_per_call = 8,
         .p50_us = 700,
         .p99_us = 1500,
         .us_per_req = 700,
         .conns_measured = true,
         .new_conns_per_call = 0.0016},
        {.service = "dynamodb",
         .operation = "PutItem",
         .step = "put_order",
         .calls = 5000,
         .attempts = 5003,
         .throttles = 3,
         .calls_per_req = 1,
         .keys_per_call = 1,
         .p50_us = 600,
         .p99_us = 1400,
         .us_per_req = 600,
         .conns_measured = true,
         .new_conns_per_call = 0.0016,
         .retry_gap_measured = true,
         .retry_gap_p50_us = 30000},
        {.service = "s3",
         .operation = "GetObject",
         .step = "get_doc",
         .calls = 3000,
         .attempts = 3000,
         .calls_per_req = 1,
         .p50_us = 900,
         .us_per_req = 900,
         .conns_measured = true,
         .new_conns_per_call = 0.002},
    };
    f.ds = (struct adv_downstream){.measured = true, .ops = clean_ops, .nops = 3};
    static const struct adv_peer clean_peers[] = {
        {"127.0.0.1:41000", "dynamodb", 16, 0.0016, 0.0001},
        {"127.0.0.1:41001", "s3", 6, 0.0006, 0.0001},
    };
    f.net = (struct adv_net){.measured = true, .peers = clean_peers, .npeers = 2};
    /* Two workers, idle a third of the time, parked in futex; no thread per request. */
    f.threads = (struct adv_threads){.measured = true,
                                     .workers = 2,
                                     .busy_share = 0.62,
                                     .parked_share = 0.35,
                                     .creations_per_req = 0.0004};
    static struct adv_event blocking[1], locks[3], cpu[3];
    blocking[0] = (struct adv_event){.blame = {"fixture::main::{{closure}}", SRC "/main.rs", 20, 0},
                                     .call = "getaddrinfo",
                                     .count = 1,
                                     .per_req = 0.0001,
                                     .us_per_req = 0.1,
                                     .share = 0.0001};
    f.blocking = (struct adv_events){.measured = true, .ev = blocking, .n = 1};
    locks[0] = (struct adv_event){.blame = {"tokio::runtime::scheduler::multi_thread::worker::"
                                            "Context::park_timeout",
                                            REG "/tokio-1.24.2/src/runtime/scheduler/"
                                                "multi_thread/worker.rs",
                                            500, 0},
                                  .call = "futex",
                                  .stack = TOKIO_PARK_STACK,
                                  .count = 40000,
                                  .per_req = 4,
                                  .us_per_req = 700,
                                  .share = 0.35};
    locks[1] = (struct adv_event){.blame = {"tokio::runtime::scheduler::multi_thread::worker::"
                                            "Core::maintenance",
                                            REG "/tokio-1.24.2/src/runtime/scheduler/"
                                                "multi_thread/worker.rs",
                                            650, 0},
                                  .call = "futex",
                                  .stack = TOKIO_LOCK_STACK,
                                  .count = 300,
                                  .per_req = 0.03,
                                  .us_per_req = 3,
                                  .share = 0.001};
    locks[2] = (struct adv_event){.blame = {"fixture::state::bump", SRC "/state.rs", 40, 0},
                                  .call = "futex",
                                  .stack = MUTEX_STACK,
                                  .count = 50,
                                  .per_req = 0.005,
                                  .us_per_req = 2,
                                  .share = 0.0005};
    f.locks = (struct adv_events){.measured = true, .ev = locks, .n = 3};
    cpu[0] = (struct adv_event){.blame = {"hyper::proto::h1::role::parse_headers",
                                          REG "/hyper-0.14.19/src/proto/h1/role.rs", 100, 0},
                                .count = 3000,
                                .per_req = 0.3,
                                .us_per_req = 40,
                                .share = 0.30};
    cpu[1] = (struct adv_event){.blame = {"fixture::sign::hmac_sha256", SRC "/sign.rs", 30, 0},
                                .count = 1200,
                                .per_req = 0.12,
                                .us_per_req = 15,
                                .share = 0.12};
    cpu[2] = (struct adv_event){.blame = {"fixture::mcp::handle", SRC "/mcp.rs", 40, 0},
                                .count = 900,
                                .per_req = 0.09,
                                .us_per_req = 11,
                                .share = 0.09};
    f.cpu = (struct adv_events){.measured = true, .ev = cpu, .n = 3};
    /* Allocations: serde's, hyper's, a format! per signing line, a small clone, start-up. */
    static int64_t slab[10];
    for (int t = 0; t < 10; t++)
        slab[t] = t < 2 ? 200000 * (t + 1) : 400000;
    static struct adv_alloc_stack st[8];
    st[0] = (struct adv_alloc_stack){.blame = {"fixture::mcp::handle", SRC "/mcp.rs", 40, 0},
                                     .label = "clone/to_owned",
                                     .stack = SERDE_VALUE_STACK,
                                     .allocs = 200000,
                                     .bytes = 4000000,
                                     .allocs_per_req = 20,
                                     .bytes_per_req = 400};
    st[1] = (struct adv_alloc_stack){.blame = {"bytes::bytes_mut::BytesMut::reserve_inner",
                                               REG "/bytes-1.2.1/src/bytes_mut.rs", 600, 0},
                                     .label = "vector growth",
                                     .allocs = 150000,
                                     .bytes = 60000000,
                                     .allocs_per_req = 15,
                                     .bytes_per_req = 6000,
                                     .reallocs_per_req = 12,
                                     .live_start_bytes = 200000,
                                     .live_end_bytes = 400000,
                                     .live_series = slab};
    for (int k = 0; k < 3; k++) /* one format! per signing line per call */
        st[2 + k] = (struct adv_alloc_stack){
            .blame = {"fixture::sign::canonical_request", SRC "/sign.rs", (uint32_t)(50 + k), 0},
            .label = "format!",
            .allocs = 10000,
            .bytes = 960000,
            .allocs_per_req = 1,
            .bytes_per_req = 96};
    st[5] =
        (struct adv_alloc_stack){.blame = {"fixture::tools::table_name", SRC "/tools.rs", 170, 0},
                                 .label = "clone/to_owned",
                                 .stack = STR_TO_STRING_STACK,
                                 .allocs = 20000,
                                 .bytes = 320000,
                                 .allocs_per_req = 2,
                                 .bytes_per_req = 32};
    st[6] = (struct adv_alloc_stack){.blame = {"fixture::main", SRC "/main.rs", 12, 0},
                                     .label = "vector growth",
                                     .allocs = 1,
                                     .bytes = 65536,
                                     .allocs_per_req = 0.0001,
                                     .bytes_per_req = 6.5,
                                     .live_start_bytes = 65536,
                                     .live_end_bytes = 65536};
    st[7] = (struct adv_alloc_stack){.blame = {"malloc", "", 0, 0},
                                     .label = "",
                                     .allocs = 300000,
                                     .bytes = 3000000,
                                     .allocs_per_req = 30,
                                     .bytes_per_req = 300,
                                     .reallocs_per_req = 20};
    f.alloc = (struct adv_alloc){.measured = true,
                                 .live_measured = true,
                                 .allocs_per_req = 71,
                                 .bytes_per_req = 7000,
                                 .stacks = st,
                                 .nstacks = 8,
                                 .nseries = 10};
    struct adv_report r = eval(&f);
    for (size_t i = 0; i < r.n; i++)
        print_message("clean server drew: %s %s: %s\n", adv_severity_name(r.findings[i].severity),
                      r.findings[i].rule, r.findings[i].evidence);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.n_not_measured, 0);
    adv_report_free(&r);
}

/* ---- not measured, too few requests, ranking, rendering ------------------------------- */

static void test_not_measured(void **state)
{
    (void)state;
    /* Only the run: every rule needs more, every rule is listed, nothing is guessed. */
    struct adv_facts f = base();
    f.lat.measured = false;
    /* Facts that would fire, but their groups say not measured. */
    ops[0] = get_item(8, 1.0);
    f.ds = (struct adv_downstream){.measured = false, .ops = ops, .nops = 1};
    f.threads = (struct adv_threads){.measured = false, .creations_per_req = 5};
    struct adv_report r = eval(&f);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.n_not_measured, adv_rule_count());
    assert_int_equal(adv_rule_count(), 19);
    uint32_t missing = 0;
    assert_true(listed_not_measured(&r, "aws.unbatched_reads", &missing));
    assert_int_equal(missing, ADV_IN_DOWNSTREAM);
    assert_true(listed_not_measured(&r, "aws.new_connection_per_call", &missing));
    assert_int_equal(missing, ADV_IN_DOWNSTREAM | ADV_IN_NET);
    assert_true(listed_not_measured(&r, "runtime.lock_contention", &missing));
    assert_int_equal(missing, ADV_IN_LOCKS | ADV_IN_LATENCY);
    char names[128];
    assert_int_equal(adv_input_names(missing, names, sizeof(names)),
                     (int)strlen("latency, lock waits"));
    assert_string_equal(names, "latency, lock waits");
    assert_string_equal(r.not_measured[0].why, "not measured");
    /* Every id of the table is in the rule table. */
    static const char *const ids[] = {"aws.new_connection_per_call",
                                      "aws.unbatched_reads",
                                      "aws.unbatched_writes",
                                      "aws.retry_storm",
                                      "aws.unprocessed_dropped",
                                      "runtime.blocking_on_worker",
                                      "runtime.lock_contention",
                                      "runtime.workers_saturated",
                                      "runtime.thread_per_request",
                                      "runtime.spawn_per_request",
                                      "alloc.format_in_hot_path",
                                      "alloc.clone_in_hot_path",
                                      "alloc.vec_growth",
                                      "alloc.serde_churn",
                                      "mem.live_bytes_growing",
                                      "cpu.hot_function",
                                      "load.generator_saturated",
                                      "load.coordinated_omission",
                                      "mcp.session_churn_cost"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        assert_true(listed_not_measured(&r, ids[i], NULL));
        assert_non_null(adv_rule_fix(ids[i]));
    }
    assert_null(adv_rule_fix("no.such_rule"));
    assert_null(adv_rule_id(adv_rule_count()));
    adv_report_free(&r);

    /* 19 requests: nothing is judged, whatever was measured. */
    f = op_facts(get_item(8, 1.0));
    f.run.requests = ADV_MIN_REQUESTS - 1;
    struct adv_report r2 = eval(&f);
    assert_int_equal(r2.n, 0);
    assert_int_equal(r2.n_not_measured, adv_rule_count());
    assert_true(listed_not_measured(&r2, "aws.unbatched_reads", &missing));
    assert_int_equal(missing, 0);
    assert_string_equal(r2.not_measured[1].why, "too few requests");
    adv_report_free(&r2);
    /* Not run at all. */
    struct adv_facts none = {0};
    struct adv_report r3 = eval(&none);
    assert_int_equal(r3.n, 0);
    assert_int_equal(r3.n_not_measured, adv_rule_count());
    adv_report_free(&r3);
    adv_report_free(NULL);
}

static void test_ranking(void **state)
{
    (void)state;
    /* blocking (critical, 1.0 x 0.9), unbatched reads (critical, 0.7 x 0.9 = 0.63), then
     * the format! sites: c_key (a warning at 0.8 x 0.8 = 0.64, above the second critical:
     * severity comes first), then two with equal numbers, ordered by where. */
    struct adv_facts f = blocking_facts(0.30, 1.0);
    ops[0] = get_item(8, 0);
    f.ds = (struct adv_downstream){.measured = true, .ops = ops, .nops = 1};
    static const struct adv_step steps[] = {{"get_orders", 10000, 5000, 9000, 5000, 9000}};
    f.lat.steps = steps;
    f.lat.nsteps = 1;
    static struct adv_alloc_stack st[3];
    st[0] = (struct adv_alloc_stack){.blame = {"fixture::b_key", SRC "/b.rs", 1, 0},
                                     .label = "format!",
                                     .allocs = 50000,
                                     .allocs_per_req = 5};
    st[1] = (struct adv_alloc_stack){.blame = {"fixture::a_key", SRC "/a.rs", 1, 0},
                                     .label = "format!",
                                     .allocs = 50000,
                                     .allocs_per_req = 5};
    st[2] = (struct adv_alloc_stack){.blame = {"fixture::c_key", SRC "/c.rs", 1, 0},
                                     .label = "format!",
                                     .allocs = 400000,
                                     .allocs_per_req = 40};
    f.alloc =
        (struct adv_alloc){.measured = true, .allocs_per_req = 50, .stacks = st, .nstacks = 3};
    struct adv_report r = eval(&f);
    assert_int_equal(r.n, 5);
    assert_string_equal(r.findings[0].rule, "runtime.blocking_on_worker");
    assert_string_equal(r.findings[1].rule, "aws.unbatched_reads");
    assert_string_equal(r.findings[2].rule, "alloc.format_in_hot_path");
    assert_string_equal(r.findings[2].where, "fixture::c_key (c.rs:1)");
    assert_true(r.findings[2].impact * r.findings[2].confidence >
                r.findings[1].impact * r.findings[1].confidence);
    assert_string_equal(r.findings[3].where, "fixture::a_key (a.rs:1)");
    assert_string_equal(r.findings[4].where, "fixture::b_key (b.rs:1)");
    /* Deterministic: the same facts, the same order. */
    struct adv_report r2 = eval(&f);
    for (size_t i = 0; i < r.n; i++) {
        assert_string_equal(r.findings[i].rule, r2.findings[i].rule);
        assert_string_equal(r.findings[i].where, r2.findings[i].where);
    }
    adv_report_free(&r2);

    char buf[1024];
    int n = adv_render(&r.findings[1], 2, buf, sizeof(buf));
    assert_int_equal(n, (int)strlen(buf));
    assert_string_equal(
        buf, "2. [critical] 8.00 single-item GetItem calls per get_orders request "
             "(aws.unbatched_reads)\n"
             "    evidence: 8.00 GetItem per get_orders request (threshold >= 2); 1 key each; p50 "
             "500 us per call\n"
             "    where: dynamodb GetItem in step get_orders\n"
             "    fix: one BatchGetItem for the request's keys, in chunks of 100, following "
             "UnprocessedKeys");
    /* A small buffer: cut, terminated, the length it would have needed. */
    char small[16];
    assert_int_equal(adv_render(&r.findings[1], 2, small, sizeof(small)), n);
    assert_string_equal(small, "2. [critical] 8");
    assert_int_equal(adv_render(&r.findings[1], 0, buf, sizeof(buf)), n - 3);
    assert_int_equal(strncmp(buf, "[critical] ", 11), 0);
    adv_report_free(&r);
}

/* More findings of one rule than ADV_PER_RULE_MAX: the largest are kept. */
static void test_per_rule_cap(void **state)
{
    (void)state;
    struct adv_facts f = base();
    static struct adv_alloc_stack st[7];
    static char fn[7][32];
    for (int i = 0; i < 7; i++) {
        snprintf(fn[i], sizeof(fn[i]), "fixture::k%d", i);
        st[i] = (struct adv_alloc_stack){.blame = {fn[i], SRC "/k.rs", (uint32_t)(i + 1), 0},
                                         .label = "format!",
                                         .allocs = 50000,
                                         .allocs_per_req = 5 + i};
    }
    f.alloc =
        (struct adv_alloc){.measured = true, .allocs_per_req = 100, .stacks = st, .nstacks = 7};
    struct adv_report r = eval(&f);
    assert_int_equal(r.n, ADV_PER_RULE_MAX);
    assert_string_equal(r.findings[0].where, "fixture::k6 (k.rs:7)");
    assert_string_equal(r.findings[4].where, "fixture::k2 (k.rs:3)");
    adv_report_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_kinds),
        cmocka_unit_test(test_code_of),
        cmocka_unit_test(test_lock_or_parking),
        cmocka_unit_test(test_sites_aggregate),
        cmocka_unit_test(test_format_in_hot_path),
        cmocka_unit_test(test_clone_in_hot_path),
        cmocka_unit_test(test_vec_growth),
        cmocka_unit_test(test_serde_churn),
        cmocka_unit_test(test_live_bytes_growing),
        cmocka_unit_test(test_spawn_per_request),
        cmocka_unit_test(test_alloc_not_user_silent),
        cmocka_unit_test(test_new_connection_per_call),
        cmocka_unit_test(test_unbatched_reads),
        cmocka_unit_test(test_unbatched_writes),
        cmocka_unit_test(test_retry_storm),
        cmocka_unit_test(test_unprocessed_dropped),
        cmocka_unit_test(test_blocking_on_worker),
        cmocka_unit_test(test_lock_contention),
        cmocka_unit_test(test_workers_saturated),
        cmocka_unit_test(test_thread_per_request),
        cmocka_unit_test(test_cpu_hot_function),
        cmocka_unit_test(test_generator_saturated),
        cmocka_unit_test(test_coordinated_omission),
        cmocka_unit_test(test_session_churn),
        cmocka_unit_test(test_clean_server),
        cmocka_unit_test(test_not_measured),
        cmocka_unit_test(test_ranking),
        cmocka_unit_test(test_per_rule_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
