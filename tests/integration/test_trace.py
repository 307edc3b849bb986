"""`loadscope trace` on fixtures with allocation sites known in advance.

Builds fixtures/alloc/alloc_sites.c (gcc) and alloc_sites.rs (rustc, std only),
each with and without frame pointers, runs them under the tracer in every mode
and checks, from the CSV output and the session database:
- full mode: the planted sites rank first with exact allocation, byte,
  realloc, free, short-lived and live figures, blamed on the right function
  and source line, Rust names demangled, vector growth / Box::new labelled;
- count mode: the exact counters equal full mode's (the programs are
  deterministic), no stacks;
- sampled mode (Poisson by bytes and 1-in-N by count): each site's estimate
  lies within 6 standard deviations of the truth, the deviation computed from
  the sampling probabilities;
- every allocation entry point, checked by the program itself under each
  mode (full mode's block headers are invisible to it), the same counters;
- a wrapper exec'ing the program goes on being traced; children started by
  fork+exec or posix_spawn are not, unless --follow-fork;
- a multithreaded Rust run and a forking, threaded C program finish (no
  deadlock) with exact totals, the child traced only with --follow-fork;
- limits: a static binary is refused before launch; a binary carrying a
  jemalloc symbol is run with a warning that is stored;
- the stored per-second rows add up to the printed totals; folded output.
"""
import csv
import io
import math
import os
import re
import shutil
import subprocess

from lsutil import SRC, TempDir, check, db, finish, run_loadscope, rustc

ALLOC = os.path.join(SRC, "fixtures", "alloc")
tmp = TempDir()
dbpath = tmp.file("trace.db")


def build():
    out = {}
    src = os.path.join(ALLOC, "alloc_sites.c")
    for name, flag in (("c_fp", "-fno-omit-frame-pointer"), ("c_nofp", "-fomit-frame-pointer")):
        out[name] = tmp.file(name)
        subprocess.run(["gcc", "-O1", "-g", flag, "-o", out[name], src], check=True)
    out["fork"] = tmp.file("fork")
    subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-pthread", "-o", out["fork"],
                    os.path.join(ALLOC, "alloc_fork.c")], check=True)
    out["api"] = tmp.file("api")
    subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-pthread", "-o", out["api"],
                    os.path.join(ALLOC, "alloc_api.c")], check=True)
    out["exit"] = tmp.file("exit")
    subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-o", out["exit"],
                    os.path.join(ALLOC, "alloc_exit.c")], check=True)
    out["exec"] = tmp.file("exec")
    subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-o", out["exec"],
                    os.path.join(ALLOC, "alloc_exec.c")], check=True)
    out["spawn"] = tmp.file("spawn")
    subprocess.run(["gcc", "-O1", "-g", "-o", out["spawn"], os.path.join(ALLOC, "alloc_spawn.c")],
                   check=True)
    out["static"] = tmp.file("static")
    subprocess.run(["gcc", "-static", "-O1", "-o", out["static"], src], check=True)

    def inline_c(name, text):
        with open(tmp.file(name + ".c"), "w") as f:
            f.write(text)
        out[name] = tmp.file(name)
        subprocess.run(["gcc", "-O1", "-o", out[name], tmp.file(name + ".c")], check=True)

    inline_c("jemalloc", "#include <stdlib.h>\n"
                         "void *je_malloc(size_t n) { return malloc(n); }\n"
                         "int main(void) { free(je_malloc(10)); return 0; }\n")
    inline_c("big", "#include <stdlib.h>\n#include <string.h>\nchar *volatile keep;\n"
                    "int main(void) { keep = malloc(64u << 20); memset(keep, 1, 64u << 20);"
                    " free(keep); return 0; }\n")
    rc = rustc()
    check(rc is not None, "rustc found (PATH or ~/.cargo/bin)")
    if rc:
        rs = os.path.join(ALLOC, "alloc_sites.rs")
        for name, fp in (("rs_fp", "yes"), ("rs_nofp", "no")):
            out[name] = tmp.file(name)
            subprocess.run([rc, "-O", "-g", "-C", "force-frame-pointers=" + fp, "-o", out[name], rs],
                           check=True)
    return out


def line_of(path, text):
    """The line of the code (not the header comment) holding text."""
    found = None
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if text in line and not line.lstrip().startswith(("*", "//", "/*")):
                found = i
    assert found, "%s not in %s" % (text, path)
    return found


def trace(args, cmd, expect_rc=0, env=None):
    rc, out, err = run_loadscope(["trace", "--db", dbpath] + args + ["--"] + cmd, timeout=120, env=env)
    check(rc == expect_rc, "trace %s %s: exit %d (expected %d) %s" % (
        " ".join(args), os.path.basename(cmd[0]), rc, expect_rc, err.strip()[-300:]))
    return out, err


def csv_rows(args, cmd, env=None):
    out, _ = trace(args + ["--format", "csv"], cmd, env=env)
    return list(csv.DictReader(io.StringIO(out)))


def site(rows, fn):
    got = [r for r in rows if r["blame_function"].endswith(fn)]
    return got[0] if len(got) == 1 else None


def last_summary():
    conn = db(dbpath)
    sid = conn.execute("SELECT max(id) FROM sessions").fetchone()[0]
    rows = conn.execute("SELECT * FROM alloc_summary WHERE session_id = ? ORDER BY pid",
                        (sid,)).fetchall()
    return conn, sid, rows


bins = build()
C_SRC = os.path.join(ALLOC, "alloc_sites.c")
RS_SRC = os.path.join(ALLOC, "alloc_sites.rs")
GROW_BYTES = sum(4096 * (i + 1) for i in range(250))
C_SITES = {  # name: (allocs, bytes, reallocs, frees, short_lived, live, source marker)
    "site_small": (1000, 64000, 0, 1000, 1000, 0, "char *p = malloc(64);"),
    "site_grow": (250, GROW_BYTES, 249, 250, 250, 0, "buf = realloc(buf"),
    "site_leak": (100, 100000, 0, 0, 0, 100000, "char *p = malloc(1000);"),
    "site_calloc": (10, 5120, 0, 10, 10, 0, "calloc(16, 32)"),
    "site_aligned": (5, 1280, 0, 5, 5, 0, "posix_memalign(&p, 64, 256)"),
}
RS_SITES = {
    "alloc_sites::site_small": (1000, 64000, 0, 1000, 1000, 0, "Box::new([i as u8; 64])"),
    "alloc_sites::site_grow": (250, 250 * 4096, 0, 250, 250, 0, "v.push([1u8; 4096])"),
    "alloc_sites::site_leak": (100, 100000, 0, 0, 0, 100000, "String::with_capacity(1000)"),
}


def check_exact(label, rows, sites, src):
    order = sorted(sites, key=lambda s: -sites[s][0])
    top = [r["blame_function"] for r in rows[:len(order)]]
    check(top == order, "%s: planted sites rank first in order: %s" % (label, top))
    for name, (n, b, re, fr, sl, live, marker) in sites.items():
        r = site(rows, name)
        if r is None:
            check(False, "%s: %s found once" % (label, name))
            continue
        got = tuple(int(r[k]) for k in ("allocs", "bytes", "reallocs", "frees", "short_lived",
                                        "live_bytes"))
        check(got == (n, b, re, fr, sl, live), "%s: %s exact %s == %s" % (
            label, name, got, (n, b, re, fr, sl, live)))
        want_line = line_of(src, marker)
        check(r["blame_file"].endswith(os.path.basename(src)) and int(r["blame_line"]) == want_line,
              "%s: %s blamed on %s:%s (want line %d)" % (label, name, os.path.basename(
                  r["blame_file"]), r["blame_line"], want_line))


full = {}
for name, sites, src in (("c_fp", C_SITES, C_SRC), ("c_nofp", C_SITES, C_SRC),
                         ("rs_fp", RS_SITES, RS_SRC), ("rs_nofp", RS_SITES, RS_SRC)):
    if name not in bins:
        continue
    rows = csv_rows(["--mode", "full", "--top", "0"], [bins[name]])
    check_exact(name + " full", rows, sites, src)
    conn, sid, summ = last_summary()
    check(len(summ) == 1 and summ[0]["complete"] == 1, name + ": one process, last batch arrived")
    want_unwind = "fp" if name.endswith("_fp") else "libunwind"
    check(summ and summ[0]["unwind"] == want_unwind, "%s: unwinder chosen automatically: %s" % (
        name, summ[0]["unwind"] if summ else None))
    full[name] = (summ[0]["allocs"], summ[0]["frees"], summ[0]["reallocs"],
                  summ[0]["bytes_allocated"]) if summ else None
    # Stored per-second rows add up to the totals.
    for r in rows:
        s = conn.execute("SELECT sum(allocs), sum(bytes), sum(frees) FROM alloc_intervals k "
                         "JOIN alloc_stacks t USING (session_id, stack_key) WHERE session_id = ? "
                         "AND t.blame_function = ? AND t.stack_key IN (SELECT stack_key FROM "
                         "alloc_stacks WHERE session_id = ? AND frames = ?)",
                         (sid, r["blame_function"], sid, r["stack"])).fetchone()
        if (s[0], s[1], s[2]) != (int(r["allocs"]), int(r["bytes"]), int(r["frees"])):
            check(False, "%s: stored seconds of %s add up (%s vs %s)" % (
                name, r["blame_function"], tuple(s), (r["allocs"], r["bytes"], r["frees"])))
            break
    else:
        check(True, "%s: stored per-second rows add up to every stack's totals" % name)
    if name.startswith("rs"):
        labels = {r["blame_function"]: r["label"] for r in rows}
        check(labels.get("alloc_sites::site_grow") == "vector growth",
              "%s: site_grow labelled vector growth (%r)" % (name, labels.get("alloc_sites::site_grow")))
        mangled = [r["blame_function"] for r in rows if r["blame_function"].startswith(("_R", "_ZN"))]
        check(not mangled and "17h" not in "".join(labels), "%s: no mangled names (%s)" % (name, mangled[:2]))

    # Full mode without block headers (the shared pointer table): the same figures.
    if name in ("c_fp", "rs_fp"):
        rows = csv_rows(["--mode", "full", "--top", "0"], [bins[name]],
                        env={"LOADSCOPE_SHIM_HEADERS": "0"})
        check_exact(name + " full, no headers", rows, sites, src)
        _, _, summ2 = last_summary()
        got = (summ2[0]["allocs"], summ2[0]["frees"], summ2[0]["reallocs"],
               summ2[0]["bytes_allocated"]) if summ2 else None
        check(got == full[name], "%s full mode without headers: exact counters %s == with headers %s"
              % (name, got, full[name]))

    # Count mode: the same exact counters, no stacks.
    out, _ = trace(["--mode", "count"], [bins[name]])
    conn, sid, summ = last_summary()
    got = (summ[0]["allocs"], summ[0]["frees"], summ[0]["reallocs"], summ[0]["bytes_allocated"]) \
        if summ else None
    check(got == full[name], "%s count mode: exact counters %s == full mode's %s" % (name, got, full[name]))
    nst = conn.execute("SELECT count(*) FROM alloc_stacks WHERE session_id = ?", (sid,)).fetchone()[0]
    check(nst == 0, "%s count mode: no stacks stored (%d)" % (name, nst))


def poisson_bound(sizes_counts, interval):
    """Expected estimate and its standard deviation for Poisson sampling by bytes."""
    var = 0.0
    for size, count in sizes_counts:
        p = 1 - math.exp(-size / interval)
        var += count * (1 - p) / p
    return math.sqrt(var)


ROUNDS = 20
if "c_fp" in bins:
    B = 4096
    rows = csv_rows(["--mode", "sampled", "--sample-bytes", str(B), "--top", "0"], [bins["c_fp"], str(ROUNDS)])
    for name, sizes in (("site_small", [(64, 1000)]), ("site_leak", [(1000, 100)]),
                        ("site_grow", [(4096 * (i + 1), 1) for i in range(250)])):
        truth = sum(c for _, c in sizes) * ROUNDS
        sd = poisson_bound([(s, c * ROUNDS) for s, c in sizes], B)
        r = site(rows, name)
        est = int(r["allocs"]) if r else 0
        check(abs(est - truth) <= 6 * sd + 1, "sampled by bytes (%d B): %s estimate %d, truth %d, 6 sd = %.0f"
              % (B, name, est, truth, 6 * sd))
    N = 10
    rows = csv_rows(["--mode", "sampled", "--sample-every", str(N), "--top", "0"], [bins["c_fp"], str(ROUNDS)])
    for name, n in (("site_small", 1000), ("site_grow", 250), ("site_leak", 100)):
        truth = n * ROUNDS
        sd = N * math.sqrt(truth * (1 / N) * (1 - 1 / N))
        r = site(rows, name)
        est = int(r["allocs"]) if r else 0
        check(abs(est - truth) <= 6 * sd, "sampled 1 in %d: %s estimate %d, truth %d, 6 sd = %.0f"
              % (N, name, est, truth, 6 * sd))
        check(est % N == 0, "sampled 1 in %d: %s estimate is a multiple of %d" % (N, name, N))
    _, sid, summ = last_summary()
    check(summ and summ[0]["allocs"] == ROUNDS * 1365 + 1,
          "sampled mode keeps exact counters (%s allocations)" % (summ[0]["allocs"] if summ else None))

# Multithreaded: 4 threads run the Rust sites at once.
if "rs_fp" in bins:
    rows = csv_rows(["--mode", "full", "--top", "0"], [bins["rs_fp"], "threads", "4"])
    for name, (n, b, _, fr, _, live, _) in RS_SITES.items():
        r = site(rows, name)
        got = (int(r["allocs"]), int(r["bytes"]), int(r["frees"]), int(r["live_bytes"])) if r else None
        check(got == (4 * n, 4 * b, 4 * fr, 4 * live), "4 threads: %s %s == %s" % (name, got, (4 * n, 4 * b, 4 * fr, 4 * live)))
    _, _, summ = last_summary()
    check(summ and summ[0]["threads"] >= 5 and summ[0]["complete"] == 1,
          "4 threads: threads seen %s, complete" % (summ[0]["threads"] if summ else None))

# Forking, threaded C program: the child only with --follow-fork.
rows = csv_rows(["--mode", "full", "--top", "0"], [bins["fork"]])
funcs = {r["blame_function"]: int(r["allocs"]) for r in rows}
check(funcs.get("thread_site") == 20000 and funcs.get("parent_site") == 300 and "child_site" not in funcs,
      "fork: parent's sites exact, child not traced by default (%s)" % {k: v for k, v in funcs.items() if "site" in k})
_, _, summ = last_summary()
check(len(summ) == 1, "fork: one traced process without --follow-fork")
parent_allocs = summ[0]["allocs"] if summ else None
rows = csv_rows(["--mode", "full", "--top", "0", "--follow-fork"], [bins["fork"]])
child = sorted(int(r["allocs"]) for r in rows if r["blame_function"] == "child_site")
check(child == [7, 200], "fork --follow-fork: the child's two sites (%s)" % child)
_, _, summ = last_summary()
check(len(summ) == 2 and all(s["complete"] == 1 for s in summ) and summ[0]["pid"] == summ[1]["ppid"],
      "fork --follow-fork: two processes, parent and child, both complete")
if len(summ) == 2:
    check(summ[0]["allocs"] == parent_allocs and summ[1]["allocs"] >= 207
          and summ[1]["frees"] >= 200,
          "fork --follow-fork: parent's totals unchanged (%d), child's start from zero (%d)"
          % (summ[0]["allocs"], summ[1]["allocs"]))

# Every entry point, its results checked by the program itself: full mode's
# block headers must be invisible (alignment, usable size, realloc of aligned
# blocks, realloc(p, 0), libc's own blocks, frees in a thread and a child).
api = {}
for mode in ("full", "count", "sampled"):
    rc, out, err = run_loadscope(["trace", "--db", dbpath, "--mode", mode, "--", bins["api"]])
    _, _, summ = last_summary()
    check(rc == 0 and "allocs 27" in out and "FAILED" not in err,
          "alloc_api under %s mode: every check held (rc %d, %s)" % (mode, rc,
                                                                      (err.strip().splitlines() or [""])[0][:160]))
    api[mode] = (summ[0]["allocs"], summ[0]["frees"], summ[0]["reallocs"],
                 summ[0]["bytes_allocated"]) if summ else None
check(api["full"] == api["count"] == api["sampled"] and api["full"][0] >= 27,
      "alloc_api: the same exact counters in every mode (%s)" % api)

# A wrapper that exec's the program (sh -c 'exec ...', env, a pyenv shim) is
# the same process: the program's image goes on being traced, the wrapper's
# image sends what it counted before the exec, and is not reported as killed.
out, err = trace(["--mode", "full", "--top", "0", "--format", "csv"],
                 ["sh", "-c", "exec \"$0\"", bins["c_fp"]])
rows = list(csv.DictReader(io.StringIO(out)))
program = [r for r in rows if "alloc_sites.c" in r["stack"]]
check_exact("sh -c 'exec c_fp'", program, C_SITES, C_SRC)
_, _, summ = last_summary()
check(len(summ) == 1 and summ[0]["complete"] == 1 and summ[0]["allocs"] > full["c_fp"][0]
      and "ended without" not in err,
      "exec: one process, both images' counters in its row (%s allocations, the program alone "
      "%s), no killed warning (%s)"
      % (summ[0]["allocs"] if summ else None, full["c_fp"][0], err.strip()[-120:]))
# Children are not traced unless asked, whether started by fork and exec
# (the fork handler takes the tracer out of the child's LD_PRELOAD) or by
# posix_spawn (no fork handler runs: the tracer in the child sees it was not
# asked for and stays inactive).
for label, cmd in (("fork+exec child", ["sh", "-c", "\"$0\"; true", bins["c_fp"]]),
                   ("posix_spawn child", [bins["spawn"], bins["c_fp"]])):
    out, err = trace(["--mode", "full", "--top", "0", "--format", "csv"], cmd)
    rows = list(csv.DictReader(io.StringIO(out)))
    _, _, summ = last_summary()
    check(site(rows, "site_small") is None and len(summ) == 1,
          "%s: not traced (%d processes, site_small %s)" % (label, len(summ),
                                                           site(rows, "site_small") is not None))
out, err = trace(["--mode", "full", "--top", "0", "--format", "csv", "--follow-fork"],
                 [bins["spawn"], bins["c_fp"]])
rows = list(csv.DictReader(io.StringIO(out)))
check_exact("posix_spawn child, --follow-fork", rows, C_SITES, C_SRC)

# A process that ends through _exit or _Exit (no atexit): its last batch,
# which holds every allocation of this short program, still arrives.
for how in ([], ["Exit"]):
    label = "_Exit" if how else "_exit"
    out, err = trace(["--mode", "full", "--top", "0", "--format", "csv"], [bins["exit"]] + how)
    rows = list(csv.DictReader(io.StringIO(out)))
    got = site(rows, "site_exit")
    _, _, summ = last_summary()
    check(got is not None and int(got["allocs"]) == 1000 and int(got["frees"]) == 1000 and
          len(summ) == 1 and summ[0]["complete"] == 1 and "last batch" not in err,
          "%s: the last batch arrives (site_exit %s, complete %s)" %
          (label, got and (got["allocs"], got["frees"]), summ and summ[0]["complete"]))

# A process that replaces itself right after allocating: what its image
# counted goes out before the exec, whichever of the family it calls (glibc's
# execl and execv reach execve past the hook; execlp and the like search PATH).
for how in ("execve", "execv", "execl", "execle", "execlp", "execvp", "execvpe", "fexecve"):
    prog = "true" if how in ("execlp", "execvp", "execvpe") else "/bin/true"
    out, err = trace(["--mode", "full", "--top", "0", "--format", "csv"], [bins["exec"], how, prog])
    got = site(list(csv.DictReader(io.StringIO(out))), "site_exec")
    check(got is not None and int(got["allocs"]) == 1000 and int(got["bytes"]) == 555000 and
          int(got["live_bytes"]) == 555000 and "last batch" not in err,
          "%s: the image's allocations arrive before it is replaced (site_exec %s)" %
          (how, got and (got["allocs"], got["bytes"], got["live_bytes"])))
# An exec that fails leaves the image running, and traced to its end (the program then
# exits 1, and trace gives its status).
out, err = trace(["--mode", "full", "--top", "0", "--format", "csv"],
                 [bins["exec"], "execv", tmp.file("no-such-program")], expect_rc=1)
got = site(list(csv.DictReader(io.StringIO(out))), "site_exec")
_, _, summ = last_summary()
check(got is not None and int(got["allocs"]) == 1000 and len(summ) == 1 and
      summ[0]["complete"] == 1 and "No such file or directory" in err,
      "a failed exec: tracing goes on to the goodbye (site_exec %s, complete %s)" %
      (got and got["allocs"], summ and summ[0]["complete"]))

# The peak resident set is the kernel's own count (VmHWM), so a 64 MiB block
# touched and freed between two batches is in it, where the once-a-second
# /proc sample would miss it (the program, the loader and the tracer add a
# few MiB; they stay well under 16).
out, err = trace(["--mode", "count"], [bins["big"]])
_, _, summ = last_summary()
peak = summ[0]["peak_rss"] if len(summ) == 1 else None
shown = re.search(r"peak RSS ([\d.]+) MiB", out)
check(peak is not None and (64 << 20) <= peak <= (80 << 20) and
      shown is not None and abs(float(shown.group(1)) - peak / 1048576) < 0.06,
      "peak RSS of a 64 MiB block freed at once: stored %s B, shown %s MiB" %
      (peak, shown and shown.group(1)))

# Limits said honestly.
rc, out, err = run_loadscope(["trace", "--db", dbpath, "--", bins["static"]])
check(rc == 1 and "statically linked" in err, "static binary refused before launch (%d, %s)" % (rc, err.strip()[:120]))
out, err = trace([], [bins["jemalloc"]])
check("jemalloc" in err and "bypass malloc" in err, "jemalloc symbol: warning printed")
_, _, summ = last_summary()
check(summ and "jemalloc" in (summ[0]["warning"] or ""), "jemalloc symbol: warning stored")

# Folded output for flame graphs.
out, _ = trace(["--format", "folded", "--top", "0"], [bins["c_fp"]])
folded = dict(l.rsplit(" ", 1) for l in out.strip().split("\n"))
small = [k for k in folded if k.endswith(";site_small")]
check(len(small) == 1 and folded[small[0]] == "1000" and small[0].startswith(("_start", "__libc_start", "main")),
      "folded: root;...;site_small 1000 (%s)" % small[:1])

# The table names the blame frame as function (file:line).
out, _ = trace(["--top", "3"], [bins["c_fp"]])
check("site_small (alloc_sites.c:%d)" % line_of(C_SRC, "char *p = malloc(64);") in out,
      "table shows blame as function (file:line)")

finish()
