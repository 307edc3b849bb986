"""`loadscope run --trace-allocations` against a launched stdio MCP server.

Runs @modelcontextprotocol/server-everything (node, glibc-linked) under load
with the tracer in sampled mode for 3 s and checks what was stored: the
per-second hot-path rows carry the requests completed in that second (equal
to the all-steps interval's count), per-process /proc rows exist with RSS and
threads, the summary names the process as complete, and the end summary
prints the hot-path table per request. A server started through a shell is
traced as the shell's child only with --trace-children. A Rust MCP server
(fixtures/alloc/mcp_server.rs, built here) under full tracing: its own
functions lead the hot paths with file:line, and each of the top stacks
allocates a whole number of times per request (full mode counts every
allocation). Also: the scenario key is validated.
"""
import json
import os
import subprocess

from lsutil import (EVERYTHING, SRC, TempDir, check, db, finish, last_session, run_loadscope, rustc,
                    write_scenario)

tmp = TempDir()
dbpath = tmp.file("run.db")
scn = {
    "name": "traced everything",
    "target": {"transport": "stdio", "command": ["node", EVERYTHING, "stdio"]},
    "load": {"model": "closed", "concurrency": 4, "duration": "3s"},
    "steps": [{"name": "echo", "method": "tools/call", "tool": "echo", "arguments": {"message": "hi"}}],
}
path = write_scenario(tmp, "s.json", scn)
rc, out, err = run_loadscope(["run", path, "--headless", "--quiet", "--db", dbpath,
                              "--trace-allocations=sampled"], timeout=120)
check(rc == 0, "run completed (%d) %s" % (rc, err[-300:]))
check("allocations (sampled mode" in out and "allocs/req" in out, "summary prints hot paths per request")
conn = db(dbpath)
sid = last_session(conn)["id"]
rows = conn.execute("SELECT second, sum(allocs) AS a, max(requests) AS r FROM alloc_intervals "
                    "WHERE session_id = ? GROUP BY second ORDER BY second", (sid,)).fetchall()
check(len(rows) >= 3, "hot paths stored for %d seconds" % len(rows))
reqs = {r["second"]: r["count"] for r in conn.execute(
    "SELECT second, count FROM intervals WHERE session_id = ? AND step = -1", (sid,))}
mism = [(r["second"], r["r"], reqs.get(r["second"], 0)) for r in rows if r["r"] != reqs.get(r["second"], 0)]
check(not mism, "each second's requests column equals the interval's count (%s)" % mism[:3])
check(sum(r["a"] for r in rows) > 0, "allocations recorded")
procs = conn.execute("SELECT count(*), min(rss_bytes), min(threads) FROM alloc_process WHERE session_id = ?",
                     (sid,)).fetchone()
check(procs[0] >= 3 and procs[1] > 0 and procs[2] >= 1, "per-second /proc rows (%s)" % (tuple(procs),))
summ = conn.execute("SELECT * FROM alloc_summary WHERE session_id = ?", (sid,)).fetchall()
check(len(summ) == 1 and summ[0]["mode"] == "sampled" and summ[0]["allocs"] > 0,
      "one traced process summarized")
nst = conn.execute("SELECT count(*) FROM alloc_stacks WHERE session_id = ?", (sid,)).fetchone()[0]
check(nst > 0, "stacks stored (%d)" % nst)

# A server launched through a shell (as npx or uvx would): node runs as the
# shell's child, traced only with --trace-children.
wrapped = dict(scn, load={"model": "closed", "concurrency": 2, "duration": "2s"})
wrapped["target"] = {"transport": "stdio",
                     "command": ["sh", "-c", 'node "$0" stdio; exit $?', EVERYTHING]}
path = write_scenario(tmp, "wrapped.json", wrapped)
keyed = dict(wrapped, target=dict(wrapped["target"], trace_children=True))
keyed_path = write_scenario(tmp, "wrapped-key.json", keyed)
for children, how, scn_path in ((False, [], path), (True, ["--trace-children"], path),
                                (True, [], keyed_path)):
    args = ["run", scn_path, "--headless", "--quiet", "--db", dbpath, "--trace-allocations=count"]
    rc, out, err = run_loadscope(args + how, timeout=120)
    sid = last_session(conn)["id"]
    summ = conn.execute("SELECT pid, ppid, allocs FROM alloc_summary WHERE session_id = ? ORDER BY pid",
                        (sid,)).fetchall()
    big = [r for r in summ if r["allocs"] > 10000]
    if children:
        check(rc == 0 and len(summ) == 2 and len(big) == 1 and big[0]["ppid"] == summ[0]["pid"],
              "%s: the shell and its node child traced (%s)"
              % (how[0] if how else "target.trace_children", [tuple(r) for r in summ]))
    else:
        check(rc == 0 and len(summ) == 1 and not big,
              "without --trace-children only the shell is traced (%s)" % [tuple(r) for r in summ])

# A Rust MCP server (std only, built here) under load with full stacks: its
# hot paths are its own functions, demangled, with file:line, and since full
# mode counts every allocation, a stack that allocates a fixed number of
# times per request shows that many allocations per request.
rc_path = rustc()
check(rc_path is not None, "rustc found (PATH or ~/.cargo/bin)")
server = tmp.file("mcp_server")
build = subprocess.run([rc_path, "-O", "-g", "-C", "force-frame-pointers=yes", "-o", server,
                        os.path.join(SRC, "fixtures", "alloc", "mcp_server.rs")],
                       capture_output=True, text=True, timeout=300)
check(build.returncode == 0, "fixtures/alloc/mcp_server.rs builds (%s)" % build.stderr[-300:])
stats = tmp.file("server-stats")
rust_scn = dict(scn, name="traced rust server", target={"transport": "stdio", "command": [server, stats]},
                load=dict(scn["load"], duration="2s"))
path = write_scenario(tmp, "rust.json", rust_scn)
rc, out, err = run_loadscope(["run", path, "--headless", "--quiet", "--db", dbpath,
                              "--trace-allocations=full"], timeout=120)
check(rc == 0, "the Rust server ran under full tracing (%d) %s" % (rc, err[-300:]))
sid = last_session(conn)["id"]
served = int(open(stats).read().split()[1]) - 1  # tools/call replies (the first was initialize's)
top = conn.execute(
    "SELECT s.blame_function AS fn, s.blame_file AS file, s.blame_line AS line, sum(i.allocs) AS a "
    "FROM alloc_intervals i JOIN alloc_stacks s ON s.session_id = i.session_id AND "
    "s.stack_key = i.stack_key WHERE i.session_id = ? GROUP BY i.stack_key ORDER BY a DESC LIMIT 5",
    (sid,)).fetchall()
check(len(top) == 5 and all(r["fn"].startswith("mcp_server::") and r["file"].endswith("mcp_server.rs")
                            and r["line"] > 0 for r in top),
      "the top hot paths are the server's own functions with file:line: %s" %
      ["%s (%s:%s)" % (r["fn"], os.path.basename(r["file"] or ""), r["line"]) for r in top])
per_req = [r["a"] / served for r in top]
check(served > 1000 and all(abs(x - round(x)) < 0.01 and round(x) >= 1 for x in per_req),
      "each top stack allocates a whole number of times per request (%s over %d requests)" %
      (["%.3f" % x for x in per_req], served))

bad = dict(scn)
bad["target"] = dict(scn["target"], trace_allocations="everything")
path = write_scenario(tmp, "bad.json", bad)
rc, out, err = run_loadscope(["run", path, "--headless", "--db", dbpath])
check(rc == 2 and "trace_allocations" in err, "bad trace_allocations refused (%d: %s)" % (rc, err.strip()[:160]))
bad["target"] = dict(scn["target"], trace_children="yes")
path = write_scenario(tmp, "bad2.json", bad)
rc, out, err = run_loadscope(["run", path, "--headless", "--db", dbpath])
check(rc == 2 and "$.target.trace_children" in err, "bad trace_children refused (%d: %s)"
      % (rc, err.strip()[:160]))
rc, out, err = run_loadscope(["run", path, "--headless", "--db", dbpath, "--trace-allocations=some"])
check(rc == 2, "bad --trace-allocations mode refused")
finish()
