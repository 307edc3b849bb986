"""`loadscope trace`: every stack depth works, and the exit status is the program's.

- Depths 1 to 64 on the Rust allocation fixture built with frame pointers
  (fixtures/alloc/alloc_sites.rs): `--depth 2` once died with SIGSEGV in the
  reader thread (the symbolizer counted frames past a full buffer); each
  depth must exit 0 and store as many allocations as the program made.
- The exit status is the traced program's, as time and heaptrack give it:
  `exit 3` gives 3, a program ended by SIGTERM gives 143.
"""
import os
import subprocess

from lsutil import BIN, SRC, TempDir, check, db, finish, last_session, rustc

tmp = TempDir()
dbpath = tmp.file("trace.db")
rc_path = rustc()
check(rc_path is not None, "rustc found (PATH or ~/.cargo/bin)")
prog = tmp.file("alloc_sites_rs")
build = subprocess.run([rc_path, "-O", "-g", "-C", "force-frame-pointers=yes", "-o", prog,
                        os.path.join(SRC, "fixtures", "alloc", "alloc_sites.rs")],
                       capture_output=True, text=True, timeout=300)
check(build.returncode == 0, "fixtures/alloc/alloc_sites.rs builds (%s)" % build.stderr[-300:])


def trace(*args):
    p = subprocess.run([BIN, "trace", "--db", dbpath] + list(args), capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout, p.stderr


bad, counts = [], set()
conn = db(dbpath) if os.path.exists(dbpath) else None
for depth in range(1, 65):
    rc, out, err = trace("--depth", str(depth), "--format", "csv", "--", prog)
    if rc != 0:
        bad.append((depth, rc, err[-200:]))
        continue
    conn = db(dbpath)
    sid = last_session(conn)["id"]
    n = conn.execute("SELECT coalesce(sum(allocs), 0) FROM alloc_intervals WHERE session_id = ?",
                     (sid,)).fetchone()[0]
    counts.add(n)
check(not bad, "every depth from 1 to 64 exits 0 (%s)" % bad[:3])
check(len(counts) == 1 and min(counts) > 0,
      "every depth stores the same number of allocations (%s)" % sorted(counts))

rc, _, _ = trace("--", "sh", "-c", "exit 3")
check(rc == 3, "a program exiting 3 gives 3 (%d)" % rc)
rc, _, _ = trace("--", "sh", "-c", "kill -TERM $$")
check(rc == 143, "a program ended by SIGTERM gives 128 + 15 (%d)" % rc)
rc, _, _ = trace("--", "true")
check(rc == 0, "a program exiting 0 gives 0 (%d)" % rc)
finish()
