"""loadscope against @modelcontextprotocol/server-everything over stdio.

Runs the real binary headless, then reads the SQLite session back: sample
counts per step agree with the stored summaries, per-step percentiles agree
with an exact computation over the stored samples (corrected and
uncorrected), intervals add up to the samples, and the one shared server
process did exactly one handshake.
"""
import os
import re

from lsutil import (EVERYTHING, TempDir, check, close_to_hdr, db, finish, hdr_rank_value,
                    last_session, measured_latencies, run_loadscope, write_scenario, SF_WARMUP)

tmp = TempDir()
dbpath = tmp.file("s.db")

scenario = {
    "name": "everything-stdio",
    "target": {"transport": "stdio", "command": ["node", EVERYTHING, "stdio"]},
    "load": {"model": "closed", "concurrency": 8, "duration": "3s", "warmup": "1s"},
    "steps": [
        {"name": "echo", "weight": 3, "method": "tools/call", "tool": "echo",
         "arguments": {"message": "hi ${seq} from ${worker}"}},
        {"name": "sum", "weight": 2, "method": "tools/call", "tool": "get-sum",
         "arguments": {"a": "${rand:1:9}", "b": "${rand:10:19}"}},
        {"name": "list", "weight": 1, "method": "tools/list"},
        {"name": "read", "weight": 1, "method": "resources/read",
         "uri": "demo://resource/dynamic/text/${rand:1:50}"},
        {"name": "ping", "weight": 1, "method": "ping"},
    ],
    "thresholds": ["error_rate < 1%"],
}
path = write_scenario(tmp, "everything.json", scenario)

print("shared process, closed loop")
rc, out, err = run_loadscope(["run", path, "--headless", "--db", dbpath])
print(out)
print(err[-3000:])
check(rc == 0, "run exits 0 (got %d)" % rc)
progress = [l for l in err.splitlines() if re.match(r"\[\s*\d+s\] rate", l)]
check(len(progress) >= 3, "one progress line a second (%d lines)" % len(progress))

conn = db(dbpath)
sess = last_session(conn)
sid = sess["id"]
check(sess["ended_unix_ns"] > sess["started_unix_ns"], "session has an end")
check(sess["exit_code"] == 0, "session exit code 0")
check(sess["scenario_text"] == open(path).read(), "scenario text stored verbatim")
steps = conn.execute("SELECT idx, name FROM steps WHERE session_id=? ORDER BY idx", (sid,)).fetchall()
check([s["name"] for s in steps] == ["echo", "sum", "list", "read", "ping", "initialize"],
      "steps stored, handshake last")

init_idx = len(scenario["steps"])
inits = conn.execute("SELECT count(*) FROM samples WHERE session_id=? AND step=?",
                     (sid, init_idx)).fetchone()[0]
check(inits == 1, "one shared process: exactly one timed initialize (got %d)" % inits)

total = conn.execute("SELECT count(*) FROM samples WHERE session_id=?", (sid,)).fetchone()[0]
errors = conn.execute("SELECT count(*) FROM samples WHERE session_id=? AND err != 0", (sid,)).fetchone()[0]
check(total > 200, "a real load ran (%d samples)" % total)
check(errors == 0, "no failed requests (%d)" % errors)

for s in steps:
    idx = s["idx"]
    sm = conn.execute("SELECT * FROM summaries WHERE session_id=? AND step=?", (sid, idx)).fetchone()
    n = conn.execute("SELECT count(*) FROM samples WHERE session_id=? AND step=? AND (flags & ?)=0",
                     (sid, idx, SF_WARMUP)).fetchone()[0]
    check(sm is not None and sm["count"] == n,
          "%s: summary count %s equals measured samples %d" % (s["name"], sm and sm["count"], n))
    if not n or idx == init_idx:
        continue
    for corrected, prefix in ((True, ""), (False, "u_")):
        lat = measured_latencies(conn, sid, idx, corrected)
        for p, col in ((50, "p50_us"), (90, "p90_us"), (99, "p99_us"), (99.9, "p999_us")):
            exact = hdr_rank_value(lat, p)
            got = sm[prefix + col]
            check(close_to_hdr(exact, got), "%s %s%s: stored %d vs exact %d" %
                  (s["name"], prefix, col, got, exact))
        check(close_to_hdr(lat[-1], sm[prefix + "max_us"]), "%s %smax: %d vs %d" %
              (s["name"], prefix, sm[prefix + "max_us"], lat[-1]))
    # every sample of the step is in exactly one interval row of that step
    iv = conn.execute("SELECT sum(count) FROM intervals WHERE session_id=? AND step=?",
                      (sid, idx)).fetchone()[0]
    alln = conn.execute("SELECT count(*) FROM samples WHERE session_id=? AND step=?", (sid, idx)).fetchone()[0]
    check(iv == alln, "%s: intervals hold all %d samples (got %s)" % (s["name"], alln, iv))

# The all-steps interval row exists for every second, warm-up flagged.
rows = conn.execute("SELECT second, warmup, count FROM intervals WHERE session_id=? AND step=-1 "
                    "ORDER BY second", (sid,)).fetchall()
check([r["second"] for r in rows] == list(range(len(rows))), "one all-steps interval per second")
check(len(rows) >= 4 and rows[0]["warmup"] == 1 and rows[-1]["warmup"] == 0,
      "warm-up second flagged, measured seconds not")
blob = conn.execute("SELECT hist FROM intervals WHERE session_id=? AND step=-1 AND count>0",
                    (sid,)).fetchone()[0]
check(blob is not None and 0 < len(blob) < 8192, "interval histogram stored compactly (%d bytes)" % len(blob or b""))

# The printed summary agrees with the database.
m = re.search(r"^echo\s+(\d+)\s", out, re.M)
n_echo = conn.execute("SELECT count FROM summaries WHERE session_id=? AND step=0", (sid,)).fetchone()[0]
check(m is not None and int(m.group(1)) == n_echo, "printed echo count matches the database")
check("ok   error_rate < 1%" in out, "threshold reported as passed")

print("one process per virtual user")
scenario["target"]["processes"] = "per_vu"
scenario["load"] = {"model": "closed", "concurrency": 3, "duration": "2s", "warmup": "3s"}
path2 = write_scenario(tmp, "per-vu.json", scenario)
rc, out, err = run_loadscope(["run", path2, "--headless", "--db", dbpath, "--quiet"])
check(rc == 0, "per_vu run exits 0 (got %d): %s" % (rc, err[-500:]))
sid2 = last_session(conn)["id"]
inits = conn.execute("SELECT count(*) FROM samples WHERE session_id=? AND step=?",
                     (sid2, init_idx)).fetchone()[0]
check(inits == 3, "three processes: three handshakes (got %d)" % inits)
vus = conn.execute("SELECT count(DISTINCT vu) FROM samples WHERE session_id=? AND step<?",
                   (sid2, init_idx)).fetchone()[0]
check(vus == 3, "all three virtual users sent requests (%d)" % vus)

rc, out, err = run_loadscope(["sessions", "--db", dbpath])
check(rc == 0 and out.count("everything-stdio") == 2, "sessions lists both runs")
finish()
