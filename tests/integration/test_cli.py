"""The command line as k6 and oha users expect it: refusal of bad scenarios
before anything starts, overrides of duration/rate/concurrency/db, threshold
exit codes, and a clean stop on SIGINT that keeps what was recorded.
"""
import json
import os
import signal
import subprocess
import time

from lsutil import (BIN, EVERYTHING, TempDir, check, db, finish, last_session, run_loadscope,
                    write_scenario)

tmp = TempDir()
dbpath = tmp.file("cli.db")

def base(**load):
    return {
        "name": "cli",
        "target": {"transport": "stdio", "command": ["node", EVERYTHING, "stdio"]},
        "load": dict({"model": "closed", "concurrency": 2, "duration": "1s"}, **load),
        "steps": [{"name": "echo", "method": "tools/call", "tool": "echo", "arguments": {"message": "x"}}],
    }

print("a bad scenario is refused with file:line:col and the JSON path")
bad = tmp.file("bad.json")
with open(bad, "w") as f:
    f.write('{\n  "name": "bad",\n  "target": {"transport": "stdio", "command": ["true"]},\n'
            '  "load": {"model": "closed", "concurrency": -3, "duration": "1s"},\n'
            '  "steps": [{"method": "ping"}]\n}\n')
rc, out, err = run_loadscope(["run", bad, "--headless", "--db", dbpath])
check(rc == 2, "exit code 2 (got %d)" % rc)
check("bad.json:4:" in err and "$.load.concurrency" in err, "message names line 4 and the path: %s" % err.strip())
check(not os.path.exists(dbpath), "nothing ran: no database was created")

syntax = tmp.file("syntax.json")
with open(syntax, "w") as f:
    f.write('{\n  "name": "x",\n  "steps": [ }\n')
rc, out, err = run_loadscope(["run", syntax, "--headless", "--db", dbpath])
check(rc == 2 and "syntax.json:3:" in err, "JSON syntax error located at line 3: %s" % err.strip())

rc, out, err = run_loadscope(["run", tmp.file("missing.json"), "--headless"])
check(rc == 2 and "missing.json" in err, "a missing file is named: %s" % err.strip())
rc, out, err = run_loadscope(["run", write_scenario(tmp, "ok.json", base()), "--duration", "ten"])
check(rc == 2 and "--duration" in err, "a bad override is refused: %s" % err.strip())

print("overrides")
path = write_scenario(tmp, "base.json", base())
rc, out, err = run_loadscope(["run", path, "--headless", "--db", dbpath, "--quiet",
                              "--duration", "2s", "--concurrency", "3"])
check(rc == 0, "run with overrides exits 0 (%d)" % rc)
conn = db(dbpath)
s = last_session(conn)
params = json.loads(s["params_json"])
check(params["duration_ns"] == 2_000_000_000 and params["concurrency"] == 3,
      "stored parameters carry the overrides: %s" % params)
vus = conn.execute("SELECT count(DISTINCT vu) FROM samples WHERE session_id=?", (s["id"],)).fetchone()[0]
check(vus == 3, "three virtual users ran (%d)" % vus)
elapsed = (s["ended_unix_ns"] - s["started_unix_ns"]) / 1e9
check(2.0 <= elapsed < 15, "the run lasted its 2 s (%.2f s including start and stop)" % elapsed)

rc, out, err = run_loadscope(["run", path, "--headless", "--db", dbpath, "--quiet",
                              "--rate", "50", "--duration", "2s"])
check(rc == 0, "--rate switches to an open loop and exits 0 (%d)" % rc)
s = last_session(conn)
params = json.loads(s["params_json"])
n = conn.execute("SELECT count(*) FROM samples WHERE session_id=? AND step=0", (s["id"],)).fetchone()[0]
check(params["model"] == "open" and 90 <= n <= 101, "50/s for 2 s sent about 100 requests (%d)" % n)

print("thresholds")
sc = base()
sc["thresholds"] = ["p99 < 1us", "error_rate < 1%"]
rc, out, err = run_loadscope(["run", write_scenario(tmp, "thr.json", sc), "--headless", "--db", dbpath, "--quiet"])
check(rc == 99, "a crossed threshold exits 99 (got %d)" % rc)
s = last_session(conn)
sm = conn.execute("SELECT count, errors FROM summaries WHERE session_id=? AND step=-1", (s["id"],)).fetchone()
# The error-rate line must say what the stored summary says (a loaded machine can time a request out).
want = "ok   error_rate < 1%" if sm and sm["errors"] * 100 < sm["count"] else "FAIL error_rate < 1%"
check("FAIL p99 < 1us" in out and want in out,
      "each threshold reported (p99 failed; %s with %s errors in %s)" % (
          want.split()[0], sm and sm["errors"], sm and sm["count"]))
check(s["exit_code"] == 99, "the session records exit code 99")

print("SIGINT stops cleanly and keeps what was recorded")
path = write_scenario(tmp, "long.json", base(duration="60s"))
p = subprocess.Popen([BIN, "run", path, "--headless", "--db", dbpath], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True)
time.sleep(3)
p.send_signal(signal.SIGINT)
t = time.monotonic()
out, err = p.communicate(timeout=30)
check(p.returncode == 130, "exit code 130 after SIGINT (got %d)" % p.returncode)
check(time.monotonic() - t < 10, "stopped promptly")
s = last_session(conn)
n = conn.execute("SELECT count(*) FROM samples WHERE session_id=?", (s["id"],)).fetchone()[0]
sm = conn.execute("SELECT count FROM summaries WHERE session_id=? AND step=-1", (s["id"],)).fetchone()
check(n > 50 and s["status_text"] == "interrupted", "samples kept (%d), session marked interrupted" % n)
check(sm is not None and sm["count"] == n - 1, "summary covers every sample but the handshake (%s of %d)" %
      (sm and sm["count"], n))
check("summary:" in out, "the summary is still printed")
finish()
