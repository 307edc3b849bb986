"""`loadscope trace` sees inside the target: connections, DNS, blocking calls, locks.

Builds fixtures/inside/inside_sites.c (gcc, frame pointers) and inside_sites.rs
(rustc, std only, with and without frame pointers), runs them under the
tracer and reads back, from the session database's inside_seconds and
alloc_stacks, figures known in advance:
- C: exactly CONNECTS new TCP connections to the program's own listening
  socket (one peer ip:port) and as many closes, LOOKUPS getaddrinfo calls for
  localhost:80, each charged to the fixture's line; on the thread named
  tokio-runtime-worker, SLEEPS sleeps taking at least SLEEPS x SLEEP_MS,
  FILE_WRITES writes, FSYNCS fsyncs, FILE_READS preads on a regular file and
  POLLS polls, each at its line; a thread renamed with prctl counts only its
  sleeps after the rename, one renamed by another thread all of its own; the
  main thread's sleep does not count (no worker); MUTEX_ROUNDS pthread mutex
  waits and FUTEX_ROUNDS waits of a futex lock written like std's
  (lock_contended) are lock waits of at least the holder's hold time, and
  PARKS futex waits of an idle thread are parking, never lock waits;
  THREADS thread creations. The same exact counts in count mode.
- with LOADSCOPE_WORKER_THREADS naming no thread of the program, nothing
  counts as blocking; with a list whose second entry is tokio's, the same as
  by default.
- Rust: std::thread::sleep on a tokio-runtime-worker thread, SLEEPS times,
  blamed on the fixture's line; ROUNDS waits for a contended std Mutex as
  lock waits at the fixture's line; the mpsc receives park, and are parking.
"""
import os
import re
import subprocess

from lsutil import SRC, TempDir, check, db, finish, run_loadscope, rustc

INSIDE = os.path.join(SRC, "fixtures", "inside")
C_SRC = os.path.join(INSIDE, "inside_sites.c")
RS_SRC = os.path.join(INSIDE, "inside_sites.rs")
tmp = TempDir()
dbpath = tmp.file("inside.db")


def constants(path, pattern):
    """The fixture's own figures, so the test and the program cannot drift apart."""
    out = {}
    with open(path) as f:
        for line in f:
            m = re.match(pattern, line)
            if m:
                out[m.group(1)] = int(m.group(2))
    return out


def site_line(path, marker):
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if marker in line:
                return i
    raise AssertionError("%s not in %s" % (marker, path))


C = constants(C_SRC, r"#define (\w+) (\d+)\b")
RS = constants(RS_SRC, r"const (\w+): \w+ = (\d+);")


def build():
    out = {"c": tmp.file("inside_c")}
    subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-pthread", "-o", out["c"], C_SRC],
                   check=True)
    rc = rustc()
    check(rc is not None, "rustc found (PATH or ~/.cargo/bin)")
    if rc:
        for name, fp in (("rs_fp", "yes"), ("rs_nofp", "no")):
            out[name] = tmp.file(name)
            subprocess.run([rc, "-O", "-g", "-C", "force-frame-pointers=" + fp, "-o", out[name], RS_SRC],
                           check=True)
    return out


def trace(args, cmd, env=None):
    rc, out, err = run_loadscope(["trace", "--db", dbpath] + args + ["--"] + cmd, timeout=120, env=env)
    check(rc == 0, "trace %s %s: exit %d %s" % (" ".join(args), os.path.basename(cmd[0]), rc,
                                                 err.strip()[-300:]))
    return out


def rows():
    """The last session's inside rows, summed over seconds, with their stacks."""
    conn = db(dbpath)
    sid = conn.execute("SELECT max(id) FROM sessions").fetchone()[0]
    return conn.execute(
        "SELECT i.kind, i.worker, i.target, i.stack_key, sum(i.count) AS count,"
        " sum(i.failed) AS failed, sum(i.time_ns) AS time_ns, k.blame_function, k.blame_file,"
        " k.blame_line, k.frames FROM inside_seconds i LEFT JOIN alloc_stacks k"
        " ON k.session_id = i.session_id AND k.stack_key = i.stack_key"
        " WHERE i.session_id = ? GROUP BY i.kind, i.worker, i.target, i.stack_key", (sid,)).fetchall()


def total(rs, kind, pred=lambda r: True):
    got = [r for r in rs if r["kind"] == kind and pred(r)]
    return sum(r["count"] for r in got), sum(r["time_ns"] for r in got), got


def at_line(src, marker):
    """A row whose stack has the fixture's line of marker (a loop the compiler unrolled makes several)."""
    want = "%s:%d)" % (os.path.basename(src), site_line(src, marker))
    return lambda r: r["frames"] is not None and any(
        want in f for f in r["frames"].split("\n") if os.path.basename(src) in f)


def blamed_at(src, marker):
    line = site_line(src, marker)
    return lambda r: (r["blame_file"] or "").endswith(os.path.basename(src)) and r["blame_line"] == line


def check_c(label, rs, port):
    ms = 1000000
    n, _, got = total(rs, "connect")
    peer = "127.0.0.1:%s" % port
    check(n == C["CONNECTS"] and all(r["target"] == peer for r in got),
          "%s: %d connects, all to %s (%s)" % (label, n, peer, [(r["target"], r["count"]) for r in got]))
    check(got and all(blamed_at(C_SRC, "SITE connect")(r) for r in got),
          "%s: connects blamed on the connect line" % label)
    check(sum(r["failed"] for r in got) == 0, "%s: no connect failed" % label)
    n, _, got = total(rs, "close")
    check(n == C["CONNECTS"] and all(r["target"] == peer for r in got),
          "%s: %d closes of those connections" % (label, n))
    n, _, got = total(rs, "dns")
    check(n == C["LOOKUPS"] and all(r["target"] == "localhost:80" and r["worker"] == 0 for r in got)
          and all(blamed_at(C_SRC, "SITE dns")(r) for r in got),
          "%s: %d lookups of localhost:80 at the getaddrinfo line" % (label, n))

    n, t, got = total(rs, "sleep", at_line(C_SRC, "SITE sleep"))
    check(n == C["SLEEPS"] and t >= C["SLEEPS"] * C["SLEEP_MS"] * ms,
          "%s: worker sleeps %d (want %d), %.1f ms >= %d ms planted" % (
              label, n, C["SLEEPS"], t / ms, C["SLEEPS"] * C["SLEEP_MS"]))
    check(got and all(r["worker"] == 1 and blamed_at(C_SRC, "SITE sleep")(r) for r in got),
          "%s: worker sleeps blamed on the nanosleep line, on a worker" % label)
    n, _, _ = total(rs, "sleep", at_line(C_SRC, "SITE usleep"))
    check(n == C["LATE_SLEEPS"], "%s: renamed by prctl: %d sleeps after the rename (want %d)" % (
        label, n, C["LATE_SLEEPS"]))
    n, _, _ = total(rs, "sleep", at_line(C_SRC, "SITE clock_nanosleep"))
    check(n == C["NAMED_SLEEPS"], "%s: renamed by the main thread: %d sleeps (want %d)" % (
        label, n, C["NAMED_SLEEPS"]))
    n, _, _ = total(rs, "sleep")
    want = C["SLEEPS"] + C["LATE_SLEEPS"] + C["NAMED_SLEEPS"]
    check(n == want, "%s: no other sleep counts (main, holder are no workers): %d == %d" % (label, n, want))
    for kind, marker, want in (("file_write", "SITE write", C["FILE_WRITES"]),
                               ("fsync", "SITE fsync", C["FSYNCS"]),
                               ("file_read", "SITE pread", C["FILE_READS"]),
                               ("poll", "SITE poll", C["POLLS"])):
        n, t, got = total(rs, kind)
        check(n == want and all(blamed_at(C_SRC, marker)(r) and r["worker"] == 1 for r in got),
              "%s: %s %d (want %d) at its line" % (label, kind, n, want))
    _, t, _ = total(rs, "poll")
    check(t >= C["POLLS"] * C["POLL_MS"] * ms, "%s: polls took %.1f ms >= planted %d ms" % (
        label, t / ms, C["POLLS"] * C["POLL_MS"]))

    hold = C["HOLD_MS"] * ms
    n, t, got = total(rs, "lock_wait", at_line(C_SRC, "SITE mutex"))
    check(n == C["MUTEX_ROUNDS"] and t >= 0.8 * C["MUTEX_ROUNDS"] * hold,
          "%s: pthread mutex: %d lock waits (want %d), %.1f ms" % (label, n, C["MUTEX_ROUNDS"], t / ms))
    n, t, got = total(rs, "lock_wait", at_line(C_SRC, "SITE futex lock"))
    check(n == C["FUTEX_ROUNDS"] and t >= 0.8 * C["FUTEX_ROUNDS"] * hold
          and all("lock_contended" in r["frames"] for r in got),
          "%s: futex lock through lock_contended: %d lock waits (want %d), %.1f ms" % (
              label, n, C["FUTEX_ROUNDS"], t / ms))
    n, _, _ = total(rs, "lock_wait")
    check(n == C["MUTEX_ROUNDS"] + C["FUTEX_ROUNDS"], "%s: no other lock wait (%d)" % (label, n))
    n, t, got = total(rs, "park", at_line(C_SRC, "SITE park"))
    check(n == C["PARKS"] and t >= C["PARKS"] * C["PARK_MS"] * ms * 0.9,
          "%s: idle futex waits are parking: %d (want %d)" % (label, n, C["PARKS"]))
    n, _, _ = total(rs, "lock_wait", at_line(C_SRC, "SITE park"))
    check(n == 0, "%s: idle futex waits are not lock waits" % label)
    n, _, got = total(rs, "thread_create")
    check(n == C["THREADS"] and all(r["blame_function"] == "main" for r in got),
          "%s: %d thread creations (want %d) in main" % (label, n, C["THREADS"]))


def port_of(out):
    m = re.search(r"^port (\d+)$", out, re.M)
    return m.group(1) if m else None


bins = build()
out = trace(["--mode", "full"], [bins["c"]])
check_c("c full", rows(), port_of(out))
out = trace(["--mode", "count"], [bins["c"]])
check_c("c count", rows(), port_of(out))
out = trace(["--mode", "full"], [bins["c"]],
            env={"LOADSCOPE_WORKER_THREADS": "actix-rt, tokio-runtime-worker"})
check_c("c, tokio second in the list", rows(), port_of(out))

out = trace(["--mode", "full"], [bins["c"]], env={"LOADSCOPE_WORKER_THREADS": "no-such-pool"})
rs = rows()
blocking = [r for r in rs if r["kind"] in ("sleep", "fsync", "file_read", "file_write", "poll")]
check(not blocking, "no worker named: nothing blocking counted (%s)" % [(r["kind"], r["count"]) for r in blocking])
n, _, got = total(rs, "lock_wait")
check(n == C["MUTEX_ROUNDS"] + C["FUTEX_ROUNDS"] and all(r["worker"] == 0 for r in got),
      "no worker named: lock waits still counted, not on a worker (%d)" % n)
n, _, _ = total(rs, "connect")
check(n == C["CONNECTS"], "no worker named: connects still counted (%d)" % n)

for name in ("rs_fp", "rs_nofp"):
    if name not in bins:
        continue
    trace(["--mode", "full"], [bins[name]])
    rs = rows()
    ms = 1000000
    n, t, got = total(rs, "sleep")
    check(n == RS["SLEEPS"] and t >= RS["SLEEPS"] * RS["SLEEP_MS"] * ms,
          "%s: std::thread::sleep on the worker: %d (want %d), %.1f ms" % (name, n, RS["SLEEPS"], t / ms))
    check(got and all(r["worker"] == 1 and blamed_at(RS_SRC, "SITE sleep")(r)
                      and r["blame_function"] == "inside_sites::blocking_sleep" for r in got),
          "%s: sleeps blamed on the fixture's line (%s)" % (
              name, [(r["blame_function"], r["blame_line"]) for r in got]))
    n, t, got = total(rs, "lock_wait", blamed_at(RS_SRC, "SITE lock"))
    check(n == RS["ROUNDS"] and t >= 0.8 * RS["ROUNDS"] * RS["HOLD_MS"] * ms
          and all("lock_contended" in r["frames"] and r["worker"] == 1 for r in got),
          "%s: contended std Mutex: %d lock waits (want %d) through lock_contended, %.1f ms" % (
              name, n, RS["ROUNDS"], t / ms))
    n, _, got = total(rs, "park")
    check(n >= RS["ROUNDS"] and all("lock_contended" not in (r["frames"] or "") for r in got)
          and any("recv" in (r["frames"] or "") for r in got),
          "%s: the channels' blocking receives are parking (%d)" % (name, n))
    n, _, _ = total(rs, "thread_create")
    check(n == 2, "%s: two threads created (%d)" % (name, n))

finish()
