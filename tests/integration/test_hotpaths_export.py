"""`loadscope export --what hotpaths|folded` on a traced session.

Builds fixtures/alloc/alloc_sites.c (planted sites with counts known in
advance, see test_trace.py), traces it in full mode, exports the session's hot
paths as CSV and reads them back with Python's csv module:
- the planted sites rank first with their exact allocation, byte, realloc,
  free, short-lived and live figures, blamed on the right function and line;
- every row agrees with the database: per-stack sums of alloc_intervals, the
  short-lived share, rates over the traced seconds (last stored second + 1);
- per-request cells are empty (a trace has no requests);
- the full stack is one cell holding newlines (RFC 4180 quoting), innermost
  frame first, starting at the blame frame;
- folded output has one "root;...;leaf count" line per stack, counts equal;
- -o FILE writes the same bytes; a count-mode session (no stacks), an
  unknown --what and a missing session are refused with a clear message.
"""
import csv
import io
import os
import subprocess

from lsutil import BIN, SRC, TempDir, check, db, finish, run_loadscope

ALLOC = os.path.join(SRC, "fixtures", "alloc")
C_SRC = os.path.join(ALLOC, "alloc_sites.c")
tmp = TempDir()
dbpath = tmp.file("hot.db")
exe = tmp.file("c_fp")
subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-o", exe, C_SRC], check=True)


def line_of(text):
    found = None
    with open(C_SRC) as f:
        for i, line in enumerate(f, 1):
            if text in line and not line.lstrip().startswith(("*", "//", "/*")):
                found = i
    return found


GROW_BYTES = sum(4096 * (i + 1) for i in range(250))
SITES = {  # name: (allocs, bytes, reallocs, frees, short_lived, live, source marker)
    "site_small": (1000, 64000, 0, 1000, 1000, 0, "char *p = malloc(64);"),
    "site_grow": (250, GROW_BYTES, 249, 250, 250, 0, "buf = realloc(buf"),
    "site_leak": (100, 100000, 0, 0, 0, 100000, "char *p = malloc(1000);"),
    "site_calloc": (10, 5120, 0, 10, 10, 0, "calloc(16, 32)"),
    "site_aligned": (5, 1280, 0, 5, 5, 0, "posix_memalign(&p, 64, 256)"),
}

rc, out, err = run_loadscope(["trace", "--db", dbpath, "--", exe, "3"])
check(rc == 0, "trace ran (%d) %s" % (rc, err.strip()[-200:]))
conn = db(dbpath)
sid = conn.execute("SELECT max(id) FROM sessions").fetchone()[0]

p = subprocess.run([BIN, "export", str(sid), "--what", "hotpaths", "--db", dbpath], capture_output=True)
rc, out, err = p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8")
check(rc == 0, "export hotpaths exit 0 (%d) %s" % (rc, err.strip()))
check(out.endswith("\r\n") and out.split("\n", 1)[0].endswith("\r"), "rows end in CRLF")
rows = list(csv.DictReader(io.StringIO(out, newline="")))
check(len(rows) == conn.execute("SELECT count(*) FROM alloc_stacks WHERE session_id=?", (sid,)).fetchone()[0],
      "one row per stored stack (%d)" % len(rows))
check([int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1)), "ranks 1..n")
check(all(int(rows[i]["allocs"]) >= int(rows[i + 1]["allocs"]) for i in range(len(rows) - 1)),
      "ranked by allocations")

order = sorted(SITES, key=lambda s: -SITES[s][0])
check([r["blame_function"] for r in rows[:len(order)]] == order,
      "planted sites rank first: %s" % [r["blame_function"] for r in rows[:len(order)]])
for name, (n, b, re_, fr, sl, live, marker) in SITES.items():
    got = [r for r in rows if r["blame_function"] == name]
    if len(got) != 1:
        check(False, "%s: one row" % name)
        continue
    r = got[0]
    want = (3 * n, 3 * b, 3 * re_, 3 * fr, 3 * sl, 3 * live)
    have = tuple(int(r[k]) for k in ("allocs", "bytes", "reallocs", "frees", "short_lived", "live_bytes"))
    check(have == want, "%s: exact figures %s == %s" % (name, have, want))
    ln = line_of(marker)
    check(r["blame_file"].endswith("alloc_sites.c") and int(r["blame_line"]) == ln
          and r["blame"] == "%s (alloc_sites.c:%d)" % (name, ln),
          "%s: blamed on alloc_sites.c:%d (%s)" % (name, ln, r["blame"]))
    share = float(r["short_lived_share"])
    check(share == (sl / n), "%s: short-lived share %s == %s" % (name, share, sl / n))
    frames = r["stack"].split("\n")
    check(len(frames) >= 2 and frames[0].startswith(name + " (") and any(f.startswith("main ") for f in frames),
          "%s: full stack in one cell, innermost first (%d frames)" % (name, len(frames)))

traced = conn.execute(
    "SELECT max(coalesce((SELECT max(second)+1 FROM alloc_intervals WHERE session_id=?1),0),"
    " coalesce((SELECT max(second)+1 FROM alloc_process WHERE session_id=?1),0))", (sid,)).fetchone()[0]
bad = []
for r in rows:
    s = conn.execute("SELECT sum(allocs), sum(bytes), sum(reallocs), sum(frees), sum(short_lived), count(*),"
                     " (SELECT live_bytes FROM alloc_intervals l WHERE l.session_id=?1 AND l.stack_key=?2"
                     "  ORDER BY second DESC LIMIT 1), (SELECT pid FROM alloc_stacks WHERE session_id=?1"
                     "  AND stack_key=?2) FROM alloc_intervals WHERE session_id=?1 AND stack_key=?2",
                     (sid, int(r["stack_key"]))).fetchone()
    mine = (int(r["allocs"]), int(r["bytes"]), int(r["reallocs"]), int(r["frees"]), int(r["short_lived"]),
            int(r["seconds"]), int(r["live_bytes"]), int(r["pid"]))
    if tuple(s) != mine:
        bad.append((r["blame_function"], tuple(s), mine))
    if int(r["traced_seconds"]) != traced or float(r["allocs_per_s"]) != int(r["allocs"]) / traced \
            or float(r["bytes_per_s"]) != int(r["bytes"]) / traced:
        bad.append((r["blame_function"], "rates", r["allocs_per_s"], r["bytes_per_s"], traced))
    if r["allocs_per_req"] != "" or r["bytes_per_req"] != "" or r["requests"] != "0":
        bad.append((r["blame_function"], "per request", r["allocs_per_req"]))
check(not bad, "every row agrees with the database (sums, live, pid, rates over %d s; no per-request "
      "figures without requests) %s" % (traced, bad[:2]))

# -o FILE: the same bytes, through a temporary file.
outfile = tmp.file("hot.csv")
rc, _, err = run_loadscope(["export", str(sid), "--what", "hotpaths", "--db", dbpath, "-o", outfile])
with open(outfile, newline="", encoding="utf-8") as f:
    check(rc == 0 and f.read() == out, "-o FILE holds the same CSV (%s)" % err.strip())

# Folded stacks for flame graphs.
rc, fout, err = run_loadscope(["export", str(sid), "--what", "folded", "--db", dbpath])
lines = fout.strip("\n").split("\n")
folded = dict(l.rsplit(" ", 1) for l in lines)
check(rc == 0 and len(lines) == len([r for r in rows if int(r["allocs"]) > 0]),
      "folded: one line per allocating stack (%d)" % len(lines))
fold_db = {r["folded"]: r["allocs"] for r in conn.execute(
    "SELECT k.folded, sum(i.allocs) AS allocs FROM alloc_stacks k JOIN alloc_intervals i USING (session_id,"
    " stack_key) WHERE k.session_id=? GROUP BY k.stack_key", (sid,))}
check({k: int(v) for k, v in folded.items()} == fold_db, "folded: each stack's count equals the database")
small = [k for k in folded if k.endswith(";main;site_small")]
check(len(small) == 1 and folded[small[0]] == "3000", "folded: root;...;main;site_small 3000 (%s)" % small)

# Refusals, said clearly.
rc, _, err = run_loadscope(["trace", "--db", dbpath, "--mode", "count", "--", exe])
cid = conn.execute("SELECT max(id) FROM sessions").fetchone()[0]
rc, out, err = run_loadscope(["export", str(cid), "--what", "hotpaths", "--db", dbpath])
check(rc == 2 and "count mode" in err and out == "", "count-mode session refused (%d: %s)" % (rc, err.strip()))
rc, out, err = run_loadscope(["export", str(sid), "--what", "flames", "--db", dbpath])
check(rc == 2 and "hotpaths" in err and "folded" in err, "unknown --what lists hotpaths and folded (%s)" % err.strip())
rc, out, err = run_loadscope(["export", "999", "--what", "hotpaths", "--db", dbpath])
check(rc == 2 and "no session 999" in err, "missing session named (%s)" % err.strip())
finish()
