/*
 * test_symbols: symbolization of real processes against places known in
 * advance.
 *
 * The test builds fixtures/alloc/sym_c.c (gcc -O2 -g) and sym_rust.rs three
 * ways (legacy mangling with frame pointers, legacy without, v0 with) into a
 * temporary directory, runs each, reads the addresses it prints (function
 * pointers, program counters at lines marked "@line:NAME" in the source,
 * and in the frame-pointer builds the return addresses of planted
 * allocations) and checks exact function names, file basenames, lines,
 * inlined chains, labels, classes and blame frames, live and from an
 * offline map snapshot. Stripped, deleted and missing files, direct
 * demangling (v0, legacy, C++, 20 KB names) and synthetic blame stacks are
 * checked too. Resolve throughput is printed, not asserted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "symbols/symbols.h"

#define FIXTURES LS_SOURCE_DIR "/fixtures/alloc"
#define MAX_PROBES 64
#define MAX_ADDRS 64

/* ---- fixtures: build, run, read -------------------------------------------- */

static char tmpdir[256];
static char rustc[1024];

struct probe {
    char kind[16]; /* fn, pc, stack, base */
    char name[64];
    uint64_t addr[MAX_ADDRS];
    size_t naddr;
};

struct fixture {
    pid_t pid;
    int to_child; /* its stdin: closing it ends the fixture */
    struct probe probes[MAX_PROBES];
    size_t nprobes;
};

static void find_rustc(void)
{
    FILE *p = popen("command -v rustc 2>/dev/null", "r");
    if (p) {
        if (fgets(rustc, sizeof rustc, p))
            rustc[strcspn(rustc, "\n")] = '\0';
        pclose(p);
    }
    if (rustc[0])
        return;
    const char *home = getenv("HOME");
    if (home) {
        snprintf(rustc, sizeof rustc, "%s/.cargo/bin/rustc", home);
        if (access(rustc, X_OK) == 0)
            return;
    }
    rustc[0] = '\0';
}

static int build_fixtures(void **state)
{
    (void)state;
    find_rustc();
    if (!rustc[0]) {
        fprintf(stderr, "test_symbols: rustc not found (neither on PATH nor in ~/.cargo/bin); "
                        "scripts/install-deps.sh installs it\n");
        return -1;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ls_symbols_XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    /* The four builds run in parallel; each keeps its compiler output in a log. */
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && ("
             "cc -O2 -g -o sym_c '" FIXTURES "/sym_c.c' >sym_c.log 2>&1 & "
             "'%s' -O -C debuginfo=2 -C force-frame-pointers=yes --edition 2021 -o sym_rust_fp "
             "'" FIXTURES "/sym_rust.rs' >sym_rust_fp.log 2>&1 & "
             "'%s' -O -C debuginfo=2 --edition 2021 -o sym_rust_nofp "
             "'" FIXTURES "/sym_rust.rs' >sym_rust_nofp.log 2>&1 & "
             "'%s' -O -C debuginfo=2 -C force-frame-pointers=yes -C symbol-mangling-version=v0 "
             "--edition 2021 -o sym_rust_v0 '" FIXTURES "/sym_rust.rs' >sym_rust_v0.log 2>&1 & "
             "wait)",
             tmpdir, rustc, rustc, rustc);
    if (system(cmd) != 0)
        return -1;
    static const char *const bins[] = {"sym_c", "sym_rust_fp", "sym_rust_nofp", "sym_rust_v0"};
    for (size_t i = 0; i < 4; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", tmpdir, bins[i]);
        if (access(path, X_OK) != 0) {
            fprintf(stderr, "test_symbols: building %s failed:\n", bins[i]);
            snprintf(cmd, sizeof cmd, "cat '%s/%s.log' >&2", tmpdir, bins[i]);
            (void)!system(cmd);
            return -1;
        }
    }
    return 0;
}

static int remove_fixtures(void **state)
{
    (void)state;
    if (tmpdir[0]) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        (void)!system(cmd);
    }
    return 0;
}

/* Starts a fixture binary and reads its probes up to "ready". */
static void fixture_start(struct fixture *fx, const char *path, const char *arg)
{
    memset(fx, 0, sizeof *fx);
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execl(path, path, arg, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    fx->pid = pid;
    fx->to_child = in[1];
    FILE *f = fdopen(out[0], "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    bool ready = false;
    while (getline(&line, &cap, f) > 0) {
        if (strncmp(line, "ready", 5) == 0) {
            ready = true;
            break;
        }
        assert_true(fx->nprobes < MAX_PROBES);
        struct probe *p = &fx->probes[fx->nprobes++];
        int pos = 0;
        if (strncmp(line, "base ", 5) == 0) {
            strcpy(p->kind, "base");
            strcpy(p->name, "base");
            pos = 5;
        } else {
            assert_int_equal(sscanf(line, "%15s %63s %n", p->kind, p->name, &pos), 2);
        }
        char *s = line + pos;
        while (*s && *s != '\n') {
            assert_true(p->naddr < MAX_ADDRS);
            p->addr[p->naddr++] = strtoull(s, &s, 16);
            while (*s == ' ')
                s++;
        }
    }
    free(line);
    fclose(f);
    if (!ready)
        fail_msg("%s %s did not print ready", path, arg ? arg : "");
}

static void fixture_stop(struct fixture *fx)
{
    close(fx->to_child);
    int status = 0;
    assert_int_equal(waitpid(fx->pid, &status, 0), fx->pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static const struct probe *probe(const struct fixture *fx, const char *kind, const char *name)
{
    for (size_t i = 0; i < fx->nprobes; i++)
        if (strcmp(fx->probes[i].kind, kind) == 0 && strcmp(fx->probes[i].name, name) == 0)
            return &fx->probes[i];
    fail_msg("the fixture printed no probe %s %s", kind, name);
    return NULL;
}

/* The line of "@line:NAME" in a fixture source. */
static uint32_t marked_line(const char *source, const char *name)
{
    char path[512], tag[96];
    snprintf(path, sizeof path, FIXTURES "/%s", source);
    snprintf(tag, sizeof tag, "@line:%s", name);
    size_t tl = strlen(tag);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[1024];
    uint32_t n = 0, found = 0;
    while (fgets(buf, sizeof buf, f)) {
        n++;
        const char *m = strstr(buf, tag);
        if (m && (m[tl] == '\n' || m[tl] == ' ' || m[tl] == '\0')) {
            found = n;
            break;
        }
    }
    fclose(f);
    if (!found)
        fail_msg("no %s in %s", tag, source);
    return found;
}

static const char *base_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static void expect_frame(const struct sym_frame *f, const char *fn, const char *file_base,
                         uint32_t line, bool inlined)
{
    assert_string_equal(f->function, fn);
    assert_string_equal(base_of(f->file), file_base);
    if (line)
        assert_int_equal(f->line, line);
    assert_int_equal(f->inlined, inlined);
}

/* Loads pid's current maps into an offline table. */
static struct sym_table *offline_from_maps(pid_t pid)
{
    struct sym_table *t = NULL;
    assert_int_equal(sym_open_offline(&t), LS_OK);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0)
        assert_int_equal(sym_add_maps_line(t, line), LS_OK);
    free(line);
    fclose(f);
    return t;
}

/* ---- demangling ------------------------------------------------------------ */

static void check_demangle(const char *in, const char *want)
{
    char *d = sym_demangle(in);
    assert_non_null(d);
    assert_string_equal(d, want);
    free(d);
}

static void test_demangle_known(void **state)
{
    (void)state;
    /* Rust legacy: the hash goes, with or without a ThinLTO suffix. */
    check_demangle("_ZN4core3fmt5write17h1234567890abcdefE", "core::fmt::write");
    check_demangle("_ZN4core3fmt5write17h1234567890abcdefE.llvm.123456", "core::fmt::write");
    check_demangle("_ZN3std2rt10lang_start28_$u7b$$u7b$closure$u7d$$u7d$17h0123456789abcdefE",
                   "std::rt::lang_start::{{closure}}");
    check_demangle("_ZN5alloc7raw_vec19RawVec$LT$T$C$A$GT$8grow_one17h0011223344556677E",
                   "alloc::raw_vec::RawVec<T,A>::grow_one");
    /* Rust v0: crate disambiguators are not shown. */
    check_demangle("_RNvNtCs1234_5alloc5alloc5alloc", "alloc::alloc::alloc");
    check_demangle("_RNvCs15kBYyAo9fc_7mycrate7example.llvm.999", "mycrate::example");
    check_demangle("_RNvMs_NtCsd4VYFwevHkG_4main3fooNtB4_3Foo3bar", "<main::foo::Foo>::bar");
    check_demangle("_RINvCs1234_7mycrate3fooINtB2_1LINtB2_1LhEEEB2_",
                   "mycrate::foo::<mycrate::L<mycrate::L<u8>>>");
    /* C++, return types dropped; ThinLTO suffix dropped. */
    check_demangle("_Znwm", "operator new(unsigned long)");
    check_demangle("_ZNSt6vectorIiSaIiEE17_M_realloc_insertIJRKiEEEvN9__gnu_cxx17__normal_"
                   "iteratorIPiS1_EEDpOT_",
                   "std::vector<int, std::allocator<int> >::_M_realloc_insert<int const&>(__gnu_"
                   "cxx::__normal_iterator<int*, std::vector<int, std::allocator<int> > >, int "
                   "const&)");
    check_demangle("_ZL3foov.llvm.1234", "foo()");
    /* Not mangled, or not valid: returned as given. */
    check_demangle("main", "main");
    check_demangle("", "");
    check_demangle("_ZN4core3fmt5write17h1234567890abcdeE",
                   "_ZN4core3fmt5write17h1234567890abcdeE");
}

/* Names of 20 KB (async Rust runs to that) come back whole. */
static void test_demangle_huge(void **state)
{
    (void)state;
    size_t cap = 64 * 1024;
    char *m = calloc(1, cap), *want = calloc(1, cap);
    assert_non_null(m);
    assert_non_null(want);

    /* v0: a generic function over a 1000-element tuple of a crate type. */
    strcpy(m, "_RINvCs1234_7mycrate3fooT");
    strcpy(want, "mycrate::foo::<(");
    for (int i = 0; i < 1000; i++) {
        strcat(m, "NtB2_9Structure");
        strcat(want, i ? ", mycrate::Structure" : "mycrate::Structure");
    }
    strcat(m, "EEB2_");
    strcat(want, ")>");
    assert_true(strlen(want) > 20000);
    check_demangle(m, want);

    /* Legacy: 2000 path segments, then the hash. */
    strcpy(m, "_ZN");
    want[0] = '\0';
    for (int i = 0; i < 2000; i++) {
        char seg[32];
        snprintf(seg, sizeof seg, "8seg%05d", i);
        strcat(m, seg);
        if (i)
            strcat(want, "::");
        strcat(want, seg + 1);
    }
    strcat(m, "17h0123456789abcdefE.llvm.42");
    assert_true(strlen(want) > 19000);
    check_demangle(m, want);
    free(m);
    free(want);
}

/* ---- classification, labels, blame on synthetic frames --------------------- */

static struct sym_frame mk(const char *fn, const char *file, const char *module, bool main_module)
{
    return (struct sym_frame){
        .function = fn, .file = file, .module = module, .main_module = main_module};
}

static void test_classify_and_label(void **state)
{
    (void)state;
    static const char rs[] = "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/";
    char path[256];
    struct {
        struct sym_frame f;
        enum sym_kind kind;
        enum sym_label label;
    } cases[] = {
        {mk("malloc", "", "libc.so.6", false), SYM_ALLOCATOR, SYM_LABEL_NONE},
        {mk("posix_memalign", "", "libc.so.6", false), SYM_ALLOCATOR, SYM_LABEL_NONE},
        {mk("reallocarray", "", "libc.so.6", false), SYM_ALLOCATOR, SYM_LABEL_NONE},
        {mk("operator new(unsigned long)", "", "libstdc++.so.6", false), SYM_ALLOCATOR,
         SYM_LABEL_NONE},
        {mk("__rust_alloc", "", "app", true), SYM_ALLOCATOR, SYM_LABEL_NONE},
        {mk("__rustc::__rust_alloc_zeroed", "", "app", true), SYM_ALLOCATOR, SYM_LABEL_NONE},
        {mk("__rdl_realloc", "", "app", true), SYM_ALLOCATOR, SYM_LABEL_NONE},
        {mk("__rg_alloc", "", "app", true), SYM_ALLOCATOR, SYM_LABEL_NONE},
        {mk("alloc::alloc::exchange_malloc", "", "app", true), SYM_ALLOCATOR, SYM_LABEL_NONE},
        {mk("<alloc::alloc::Global as core::alloc::Allocator>::allocate", "", "app", true),
         SYM_ALLOCATOR, SYM_LABEL_NONE},
        {mk("alloc::raw_vec::finish_grow", "", "app", true), SYM_ALLOCATOR, SYM_LABEL_VEC_GROWTH},
        {mk("alloc::raw_vec::RawVec<T,A>::grow_one", "", "app", true), SYM_ALLOCATOR,
         SYM_LABEL_VEC_GROWTH},
        {mk("<alloc::raw_vec::RawVecInner<_>>::reserve::do_reserve_and_handle::<alloc::alloc::"
            "Global>",
            "", "app", true),
         SYM_ALLOCATOR, SYM_LABEL_VEC_GROWTH},
        {mk("alloc::raw_vec::RawVec<T,A>::reserve_for_push", "", "app", true), SYM_ALLOCATOR,
         SYM_LABEL_VEC_GROWTH},
        {mk("alloc_thing", "", "libloadscope-shim.so", false), SYM_ALLOCATOR, SYM_LABEL_NONE},
        {mk("alloc::fmt::format::format_inner", "", "app", true), SYM_STDLIB, SYM_LABEL_FORMAT},
        {mk("<alloc::string::String as core::clone::Clone>::clone", "", "app", true), SYM_STDLIB,
         SYM_LABEL_CLONE},
        {mk("<alloc::vec::Vec<T,A> as core::clone::Clone>::clone", "", "app", true), SYM_STDLIB,
         SYM_LABEL_CLONE},
        {mk("<str as alloc::borrow::ToOwned>::to_owned", "", "app", true), SYM_STDLIB,
         SYM_LABEL_CLONE},
        {mk("<T as alloc::string::ToString>::to_string", "", "app", true), SYM_STDLIB,
         SYM_LABEL_CLONE},
        {mk("alloc::slice::<impl [T]>::to_vec", "", "app", true), SYM_STDLIB, SYM_LABEL_CLONE},
        {mk("hashbrown::raw::RawTable<T,A>::reserve_rehash",
            "/rust/deps/hashbrown-0.16.1/src/"
            "raw/mod.rs",
            "app", true),
         SYM_STDLIB, SYM_LABEL_HASH_REHASH},
        {mk("hashbrown::raw::RawTableInner::resize_inner",
            "/root/.cargo/registry/src/index.crates.io-6f17d22bba15001f/hashbrown-0.14.5/src/"
            "raw/mod.rs",
            "app", true),
         SYM_DEPENDENCY, SYM_LABEL_HASH_REHASH},
        {mk("<serde::de::impls::StringVisitor as serde::de::Visitor>::visit_str",
            "/home/u/.cargo/registry/src/x/serde-1.0.200/src/de/impls.rs", "app", true),
         SYM_DEPENDENCY, SYM_LABEL_SERDE_STRING},
        /* a crate built from Debian's packaged sources (cargo's directory source) */
        {mk("hyper::proto::h1::role::Server::encode",
            "/usr/share/cargo/registry/hyper-0.14.19/src/proto/h1/role.rs", "app", true),
         SYM_DEPENDENCY, SYM_LABEL_NONE},
        {mk("serde_json::read::SliceRead::parse_str",
            "/home/u/.cargo/git/checkouts/json/src/"
            "read.rs",
            "app", true),
         SYM_DEPENDENCY, SYM_LABEL_SERDE_STRING},
        {mk("alloc::boxed::Box<T>::new", "", "app", true), SYM_STDLIB, SYM_LABEL_BOX_NEW},
        {mk("<alloc::sync::Arc<u8>>::new", "", "app", true), SYM_STDLIB, SYM_LABEL_BOX_NEW},
        {mk("alloc::rc::Rc<T>::new", "", "app", true), SYM_STDLIB, SYM_LABEL_BOX_NEW},
        {mk("<u64 as core::fmt::Display>::fmt", "", "app", true), SYM_STDLIB, SYM_LABEL_NONE},
        {mk("std::vector<int, std::allocator<int> >::_M_realloc_insert<int const&>(int const&)",
            "/usr/include/c++/12/bits/vector.tcc", "app", true),
         SYM_STDLIB, SYM_LABEL_VEC_GROWTH},
        {mk("myapp::handlers::handle", "/src/myapp/src/handlers.rs", "myapp", true), SYM_USER,
         SYM_LABEL_NONE},
        {mk("<myapp::Foo as core::clone::Clone>::clone", "/src/myapp/src/lib.rs", "myapp", true),
         SYM_USER, SYM_LABEL_NONE},
        {mk("helper", "/src/lib/helper.c", "libhelper.so", false), SYM_DEPENDENCY, SYM_LABEL_NONE},
        {mk("", "", "", false), SYM_USER, SYM_LABEL_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (sym_classify(&cases[i].f) != cases[i].kind ||
            sym_label_of(&cases[i].f) != cases[i].label)
            fail_msg("case %zu \"%s\": kind %d label %d, want %d %d", i, cases[i].f.function,
                     (int)sym_classify(&cases[i].f), (int)sym_label_of(&cases[i].f),
                     (int)cases[i].kind, (int)cases[i].label);
    }
    /* A user-looking name in the shipped std's source is std. */
    snprintf(path, sizeof path, "%salloc/src/vec/mod.rs", rs);
    struct sym_frame f = mk("alloc::vec::Vec<T,A>::push", path, "app", true);
    assert_int_equal(sym_classify(&f), SYM_STDLIB);
    f = mk("<alloc::vec::Vec<u8>>::reserve", "library/alloc/src/vec/mod.rs", "app", true);
    assert_int_equal(sym_classify(&f), SYM_STDLIB);
    assert_string_equal(sym_label_name(SYM_LABEL_VEC_GROWTH), "vector growth");
    assert_string_equal(sym_label_name(SYM_LABEL_NONE), "");
}

static void test_blame_synthetic(void **state)
{
    (void)state;
    struct sym_frame st[] = {
        mk("malloc", "", "libc.so.6", false),
        mk("__rust_alloc", "", "app", true),
        mk("alloc::raw_vec::finish_grow", "library/alloc/src/raw_vec/mod.rs", "app", true),
        mk("alloc::vec::Vec<T,A>::push", "library/alloc/src/vec/mod.rs", "app", true),
        mk("serde_json::de::Deserializer<R>::parse_str",
           "/h/.cargo/registry/src/x/serde_json-1.0/src/de.rs", "app", true),
        mk("myapp::parse_request", "/src/myapp/src/main.rs", "app", true),
        mk("main", "", "app", true),
    };
    size_t n = sizeof st / sizeof st[0];
    assert_int_equal(sym_blame(st, n, false), 5);
    assert_int_equal(sym_blame(st, n, true), 3);
    /* Nothing of the user's: the first non-allocator frame. */
    assert_int_equal(sym_blame(st, 5, false), 3);
    /* Only allocator frames: frame 0. */
    assert_int_equal(sym_blame(st, 3, false), 0);
    assert_int_equal(sym_blame(st, 0, false), 0);
}

/* ---- the C fixture ----------------------------------------------------------- */

static void check_c_chain(struct sym_table *t, const struct fixture *fx, const char *module)
{
    const struct probe *pc = probe(fx, "pc", "inner_site");
    const struct probe *base = probe(fx, "base", "base");
    struct sym_frame fr[16];
    size_t n = sym_resolve(t, pc->addr[0], fr, 16);
    assert_int_equal(n, 3);
    expect_frame(&fr[0], "inner_site", "sym_c.c", marked_line("sym_c.c", "inner_site"), true);
    expect_frame(&fr[1], "middle", "sym_c.c", marked_line("sym_c.c", "middle"), true);
    expect_frame(&fr[2], "main", "sym_c.c", marked_line("sym_c.c", "main"), false);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(fr[i].module, module);
        assert_true(fr[i].main_module);
        assert_int_equal(fr[i].pc, pc->addr[0]);
        assert_int_equal(fr[i].module_offset, pc->addr[0] - base->addr[0]);
        assert_int_equal(sym_classify(&fr[i]), SYM_USER);
    }
    assert_int_equal(sym_blame(fr, n, false), 0);
    /* A smaller cap keeps the innermost frame and the real function. */
    struct sym_frame two[2];
    assert_int_equal(sym_resolve(t, pc->addr[0], two, 2), 2);
    assert_string_equal(two[0].function, "inner_site");
    assert_string_equal(two[1].function, "main");

    const struct probe *fn = probe(fx, "fn", "where");
    n = sym_resolve(t, fn->addr[0] + 1, fr, 16);
    assert_int_equal(n, 1);
    expect_frame(&fr[0], "where", "sym_c.c", 0, false);
}

static void test_c_fixture(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/sym_c", tmpdir);
    struct fixture fx;
    fixture_start(&fx, path, NULL);

    struct sym_table *t = NULL;
    assert_int_equal(sym_open(fx.pid, &t), LS_OK);
    check_c_chain(t, &fx, "sym_c");
    struct sym_stats st;
    sym_get_stats(t, &st);
    assert_int_equal(st.lookups, 3);
    assert_int_equal(st.misses, 2); /* the capped lookup came from the cache */
    assert_int_equal(st.cached_pcs, 2);
    /* A full buffer takes nothing more: trace --depth 2 once counted past its end and crashed. */
    struct sym_frame none[1];
    const struct probe *pc = probe(&fx, "pc", "inner_site");
    assert_int_equal(sym_resolve(t, pc->addr[0], none, 0), 0);
    assert_int_equal(sym_resolve(t, pc->addr[0], NULL, 4), 0);
    sym_close(t);

    /* The same from an offline snapshot of the maps. */
    t = offline_from_maps(fx.pid);
    check_c_chain(t, &fx, "sym_c");
    sym_close(t);
    fixture_stop(&fx);
}

/*
 * The maps read again (an address outside every module) and a module added
 * later (an offline table) must leave the modules already known resolvable:
 * elfutils refuses a module reported twice and drops it, which left every
 * other re-read with the main executable unresolved (seen by the CPU
 * profiler, whose vDSO addresses re-read the maps).
 */
static void test_c_reread(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/sym_c", tmpdir);
    struct fixture fx;
    fixture_start(&fx, path, NULL);
    const struct probe *fn = probe(&fx, "fn", "where");
    const struct probe *pc = probe(&fx, "pc", "inner_site");
    struct sym_frame fr[16];

    struct sym_table *t = NULL;
    assert_int_equal(sym_open(fx.pid, &t), LS_OK);
    assert_int_equal(sym_resolve(t, fn->addr[0] + 1, fr, 16), 1);
    assert_string_equal(fr[0].function, "where");
    for (int round = 0; round < 2; round++) {
        usleep(120 * 1000); /* past the 100 ms between re-reads */
        (void)sym_resolve(t, 0x10 + (uint64_t)round, fr, 16); /* in no module: the maps are read again */
        struct sym_stats st;
        sym_get_stats(t, &st);
        assert_int_equal(st.maps_reads, 2 + (uint64_t)round);
        assert_int_equal(sym_resolve(t, pc->addr[0] + (uint64_t)round, fr, 16), 3);
        assert_string_equal(fr[2].function, "main");
    }
    sym_close(t);

    /* offline: the executable first, resolved; then the rest of the maps */
    t = NULL;
    assert_int_equal(sym_open_offline(&t), LS_OK);
    char mpath[64], *line = NULL;
    size_t cap = 0;
    snprintf(mpath, sizeof mpath, "/proc/%d/maps", (int)fx.pid);
    FILE *f = fopen(mpath, "r");
    assert_non_null(f);
    bool rest = false;
    while (getline(&line, &cap, f) > 0) {
        if (!rest && strstr(line, "/sym_c") == NULL) {
            assert_int_equal(sym_resolve(t, fn->addr[0] + 1, fr, 16), 1);
            assert_string_equal(fr[0].function, "where");
            rest = true;
        }
        assert_int_equal(sym_add_maps_line(t, line), LS_OK);
        if (rest) {
            assert_int_equal(sym_resolve(t, pc->addr[0], fr, 16), 3);
            assert_string_equal(fr[0].function, "inner_site");
        }
    }
    free(line);
    fclose(f);
    assert_true(rest);
    sym_close(t);
    fixture_stop(&fx);
}

static void test_c_stripped(void **state)
{
    (void)state;
    char cmd[2048], path[512];
    snprintf(path, sizeof path, "%s/sym_c_stripped", tmpdir);
    snprintf(cmd, sizeof cmd, "cp '%s/sym_c' '%s' && strip '%s'", tmpdir, path, path);
    assert_int_equal(system(cmd), 0);
    struct fixture fx;
    fixture_start(&fx, path, NULL);
    struct sym_table *t = NULL;
    assert_int_equal(sym_open(fx.pid, &t), LS_OK);
    const struct probe *pc = probe(&fx, "pc", "inner_site");
    const struct probe *base = probe(&fx, "base", "base");
    struct sym_frame fr[8];
    assert_int_equal(sym_resolve(t, pc->addr[0], fr, 8), 1);
    assert_string_equal(fr[0].function, "");
    assert_string_equal(fr[0].file, "");
    assert_int_equal(fr[0].line, 0);
    assert_string_equal(fr[0].module, "sym_c_stripped");
    assert_true(fr[0].main_module);
    assert_int_equal(fr[0].module_offset, pc->addr[0] - base->addr[0]);
    sym_close(t);
    fixture_stop(&fx);
}

/* Whether this process may open /proc/PID/map_files entries (CAP_SYS_ADMIN). */
static bool can_open_map_files(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return false;
    char line[1024];
    bool ok = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long long a, b;
        if (!strchr(line, '/'))
            continue; /* anonymous mappings (ASan's shadow) have no map_files entry */
        if (sscanf(line, "%llx-%llx", &a, &b) == 2) {
            char p[128];
            snprintf(p, sizeof p, "/proc/self/map_files/%llx-%llx", a, b);
            int fd = open(p, O_RDONLY);
            ok = fd >= 0;
            if (fd >= 0)
                close(fd);
        }
        break;
    }
    fclose(f);
    return ok;
}

static void test_c_deleted(void **state)
{
    (void)state;
    char cmd[2048], path[512];
    snprintf(path, sizeof path, "%s/sym_c_deleted", tmpdir);
    snprintf(cmd, sizeof cmd, "cp '%s/sym_c' '%s'", tmpdir, path);
    assert_int_equal(system(cmd), 0);
    struct fixture fx;
    fixture_start(&fx, path, NULL);
    assert_int_equal(unlink(path), 0);
    struct sym_table *t = NULL;
    assert_int_equal(sym_open(fx.pid, &t), LS_OK);
    if (can_open_map_files()) {
        check_c_chain(t, &fx, "sym_c_deleted");
    } else {
        /* Unreadable: the module is still named, the offset still right. */
        const struct probe *pc = probe(&fx, "pc", "inner_site");
        struct sym_frame fr[8];
        assert_int_equal(sym_resolve(t, pc->addr[0], fr, 8), 1);
        assert_string_equal(fr[0].function, "");
        assert_string_equal(fr[0].module, "sym_c_deleted");
        assert_true(fr[0].main_module);
    }
    sym_close(t);
    fixture_stop(&fx);
}

static void test_missing_and_unknown(void **state)
{
    (void)state;
    struct sym_table *t = NULL;
    assert_int_equal(sym_open_offline(&t), LS_OK);
    assert_int_equal(sym_add_module(t, 0x400000, 0x401000, 0, "/nonexistent/bin/app"), LS_OK);
    assert_int_equal(
        sym_add_module(t, 0x7f0000001000, 0x7f0000003000, 0x2000, "/nonexistent/lib/libgone.so"),
        LS_OK);
    struct sym_frame fr[4];
    assert_int_equal(sym_resolve(t, 0x7f0000001235, fr, 4), 1);
    assert_string_equal(fr[0].function, "");
    assert_string_equal(fr[0].file, "");
    assert_string_equal(fr[0].module, "libgone.so");
    assert_false(fr[0].main_module);
    assert_int_equal(fr[0].module_offset, 0x2235);
    assert_int_equal(sym_classify(&fr[0]), SYM_DEPENDENCY);
    assert_int_equal(sym_resolve(t, 0x400010, fr, 4), 1);
    assert_string_equal(fr[0].module, "app");
    assert_true(fr[0].main_module);
    assert_int_equal(sym_classify(&fr[0]), SYM_USER);
    /* Outside every module. */
    assert_int_equal(sym_resolve(t, 0x1234, fr, 4), 1);
    assert_string_equal(fr[0].function, "");
    assert_string_equal(fr[0].module, "");
    assert_int_equal(fr[0].module_offset, 0);
    assert_int_equal(fr[0].pc, 0x1234);

    assert_int_equal(sym_add_module(t, 0x2000, 0x1000, 0, "/x"), LS_ERR_INVALID);
    assert_int_equal(sym_add_module(t, 0x1000, 0x2000, 0, ""), LS_ERR_INVALID);
    assert_int_equal(sym_add_maps_line(t, "not a maps line"), LS_ERR_PARSE);
    assert_int_equal(sym_add_maps_line(t, "7f00-7f10 rw-p 00000000 00:00 0 \n"), LS_OK);
    sym_close(t);
    sym_close(NULL);

    assert_int_equal(sym_open(-1, &t), LS_ERR_INVALID);
    assert_null(t);
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    assert_int_equal(sym_open(pid, &t), LS_ERR_NOTFOUND);
    assert_null(t);
}

/* ---- the Rust fixture -------------------------------------------------------- */

static const char *find_label(const struct sym_frame *fr, size_t n, enum sym_label l)
{
    for (size_t i = 0; i < n; i++)
        if (sym_label_of(&fr[i]) == l)
            return fr[i].function;
    return NULL;
}

/* Resolves a whole printed stack into fr (innermost first); returns the count. */
static size_t resolve_stack(struct sym_table *t, const struct probe *p, struct sym_frame *fr,
                            size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < p->naddr && n < cap; i++)
        n += sym_resolve(t, p->addr[i], fr + n, cap - n);
    return n;
}

/* The stack printed as site: its blame frame is user_fn at the line marked marker. */
static void check_planted(struct sym_table *t, const struct fixture *fx, const char *site,
                          const char *marker, const char *user_fn, enum sym_label label)
{
    struct sym_frame fr[256];
    size_t n = resolve_stack(t, probe(fx, "stack", site), fr, 256);
    assert_true(n > 1);
    assert_int_equal(sym_classify(&fr[0]), SYM_ALLOCATOR);
    if (!find_label(fr, n, label))
        fail_msg("stack %s: no frame labelled \"%s\"", site, sym_label_name(label));
    size_t b = sym_blame(fr, n, false);
    expect_frame(&fr[b], user_fn, "sym_rust.rs", marked_line("sym_rust.rs", marker), false);
    assert_int_equal(sym_classify(&fr[b]), SYM_USER);
    for (size_t i = 0; i < b; i++) {
        enum sym_kind k = sym_classify(&fr[i]);
        if (k != SYM_ALLOCATOR && k != SYM_STDLIB)
            fail_msg("stack %s: frame %zu \"%s\" (%s) is neither allocator nor std", site, i,
                     fr[i].function, fr[i].file);
    }
    /* With dependencies allowed, blame stops at the first non-allocator frame. */
    size_t bd = sym_blame(fr, n, true);
    assert_true(bd <= b);
    assert_int_not_equal(sym_classify(&fr[bd]), SYM_ALLOCATOR);
    for (size_t i = 0; i < bd; i++)
        assert_int_equal(sym_classify(&fr[i]), SYM_ALLOCATOR);
}

static void check_rust(struct sym_table *t, const struct fixture *fx, bool v0, bool stacks)
{
    struct sym_frame fr[64];
    size_t n;

    n = sym_resolve(t, probe(fx, "fn", "plant_vec_growth")->addr[0] + 1, fr, 64);
    assert_int_equal(n, 1);
    expect_frame(&fr[0], "sym_rust::plant_vec_growth", "sym_rust.rs", 0, false);
    assert_true(fr[0].main_module);
    assert_int_equal(sym_classify(&fr[0]), SYM_USER);

    n = sym_resolve(t, probe(fx, "fn", "inline_caller")->addr[0] + 1, fr, 64);
    expect_frame(&fr[n - 1], "sym_rust::inline_caller", "sym_rust.rs", 0, false);

    /* The deeply nested generic: v0 names carry the type arguments, legacy does not. */
    char want[2048] = "<";
    for (int i = 0; i < 10; i++)
        strcat(want, v0 ? "sym_rust::server::handlers::Layer<" : "");
    strcat(want, v0 ? "u8" : "sym_rust::server::handlers::Layer<T");
    for (int i = 0; i < (v0 ? 10 : 1); i++)
        strcat(want, ">");
    strcat(want, " as sym_rust::server::handlers::Service>::call");
    n = sym_resolve(t, probe(fx, "fn", "deep_call")->addr[0] + 1, fr, 64);
    expect_frame(&fr[n - 1], want, "sym_rust.rs", 0, false);

    n = sym_resolve(t, probe(fx, "fn", "string_clone")->addr[0] + 1, fr, 64);
    expect_frame(&fr[n - 1], "<alloc::string::String as core::clone::Clone>::clone", "string.rs", 0,
                 false);
    assert_int_equal(sym_classify(&fr[n - 1]), SYM_STDLIB);
    assert_int_equal(sym_label_of(&fr[n - 1]), SYM_LABEL_CLONE);

    n = sym_resolve(t, probe(fx, "fn", "fmt_format")->addr[0] + 1, fr, 64);
    expect_frame(&fr[n - 1], "alloc::fmt::format", "fmt.rs", 0, false);
    assert_int_equal(sym_classify(&fr[n - 1]), SYM_STDLIB);
    assert_int_equal(sym_label_of(&fr[n - 1]), SYM_LABEL_FORMAT);

    /* An always-inlined helper: its own line, then the call site in its caller. */
    n = sym_resolve(t, probe(fx, "pc", "inlined_helper")->addr[0], fr, 64);
    assert_int_equal(n, 2);
    expect_frame(&fr[0], "sym_rust::inlined_helper", "sym_rust.rs",
                 marked_line("sym_rust.rs", "inlined_helper"), true);
    expect_frame(&fr[1], "sym_rust::inline_caller", "sym_rust.rs",
                 marked_line("sym_rust.rs", "inline_call"), false);

    /* The body of an async fn. */
    n = sym_resolve(t, probe(fx, "pc", "async_body")->addr[0], fr, 64);
    assert_true(n >= 1);
    expect_frame(&fr[0],
                 v0 ? "sym_rust::server::handlers::handle_request::{closure#0}"
                    : "sym_rust::server::handlers::handle_request::{{closure}}",
                 "sym_rust.rs", marked_line("sym_rust.rs", "async_body"), n > 1);
    assert_string_equal(fr[n - 1].function, "sym_rust::main");

    if (!stacks)
        return;
    check_planted(t, fx, "vec_growth", "vec_push", "sym_rust::plant_vec_growth",
                  SYM_LABEL_VEC_GROWTH);
    check_planted(t, fx, "format", "format", "sym_rust::plant_format", SYM_LABEL_FORMAT);
    check_planted(t, fx, "to_string", "to_string", "sym_rust::plant_to_string", SYM_LABEL_CLONE);
    check_planted(t, fx, "clone", "clone", "sym_rust::plant_clone", SYM_LABEL_CLONE);
    check_planted(t, fx, "hash_insert", "hash_insert", "sym_rust::plant_hashmap",
                  SYM_LABEL_HASH_REHASH);
    check_planted(t, fx, "box_new", "box_new", "sym_rust::plant_box", SYM_LABEL_BOX_NEW);
}

static void run_rust(const char *bin, bool v0, bool stacks)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, bin);
    struct fixture fx;
    fixture_start(&fx, path, "addrs");
    struct sym_table *t = NULL;
    assert_int_equal(sym_open(fx.pid, &t), LS_OK);
    check_rust(t, &fx, v0, stacks);
    /* Everything again, from the cache. */
    check_rust(t, &fx, v0, stacks);
    sym_close(t);

    t = offline_from_maps(fx.pid);
    check_rust(t, &fx, v0, stacks);
    sym_close(t);
    fixture_stop(&fx);
}

static void test_rust_legacy_fp(void **state)
{
    (void)state;
    run_rust("sym_rust_fp", false, true);
}

static void test_rust_legacy_nofp(void **state)
{
    (void)state;
    /* Without frame pointers the fixture's own stack walk is meaningless. */
    run_rust("sym_rust_nofp", false, false);
}

static void test_rust_v0(void **state)
{
    (void)state;
    run_rust("sym_rust_v0", true, true);
}

/* ---- throughput (printed, not asserted) ------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_throughput(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/sym_rust_fp", tmpdir);
    struct fixture fx;
    fixture_start(&fx, path, "addrs");
    struct sym_table *t = NULL;
    assert_int_equal(sym_open(fx.pid, &t), LS_OK);
    /* Distinct pcs every 4 bytes from a known function onwards (80 KB of the fixture's code). */
    uint64_t start = probe(&fx, "fn", "plant_vec_growth")->addr[0];
    enum { DISTINCT = 20000, REPEAT = 20 };
    struct sym_frame fr[32];
    size_t named = 0;
    double t0 = now_s();
    for (uint64_t i = 0; i < DISTINCT; i++) {
        size_t n = sym_resolve(t, start + 1 + i * 4, fr, 32);
        named += fr[n - 1].function[0] != '\0';
    }
    double t1 = now_s();
    for (int r = 0; r < REPEAT; r++)
        for (uint64_t i = 0; i < DISTINCT; i++)
            (void)sym_resolve(t, start + 1 + i * 4, fr, 32);
    double t2 = now_s();
    struct sym_stats st;
    sym_get_stats(t, &st);
    assert_int_equal(st.cached_pcs, DISTINCT);
    assert_int_equal(st.misses, DISTINCT);
    printf("symbols: %d distinct pcs (%zu named) uncached %.0f pcs/s; cached %.0f lookups/s\n",
           DISTINCT, named, DISTINCT / (t1 - t0), DISTINCT * (double)REPEAT / (t2 - t1));
    sym_close(t);
    fixture_stop(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demangle_known),
        cmocka_unit_test(test_demangle_huge),
        cmocka_unit_test(test_classify_and_label),
        cmocka_unit_test(test_blame_synthetic),
        cmocka_unit_test(test_missing_and_unknown),
        cmocka_unit_test(test_c_fixture),
        cmocka_unit_test(test_c_reread),
        cmocka_unit_test(test_c_stripped),
        cmocka_unit_test(test_c_deleted),
        cmocka_unit_test(test_rust_legacy_fp),
        cmocka_unit_test(test_rust_legacy_nofp),
        cmocka_unit_test(test_rust_v0),
        cmocka_unit_test(test_throughput),
    };
    return cmocka_run_group_tests(tests, build_fixtures, remove_fixtures);
}
