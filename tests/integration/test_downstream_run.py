"""`loadscope run` with target.downstream: a launched target's own AWS calls.

The target is fixtures/mcp-dynamo-stdio.mjs, an MCP server over stdio whose
tools make SigV4-signed DynamoDB calls (node's crypto, no SDK) to the
endpoint in AWS_ENDPOINT_URL_DYNAMODB, as an unmodified AWS SDK would; it
keeps its own tally of the calls it made. dynalite is the real upstream.
What loadscope stored is read back from SQLite and compared with exact
figures:

1. Closed loop, one virtual user, two steps: get8 (8 GetItem per tools/call)
   and batch (1 BatchGetItem of 4 keys). Per step, the downstream calls per
   MCP request are 8 and 1 exactly; every call row is attributed to the step
   whose request was in flight; the rows equal the target's own tally, by
   operation; the requests the proxies counted per step equal the samples;
   the per-second rows add up to the call rows; one connection for the
   whole run (kept alive). The headless summary names both operations.
   Export: --what downstream rows = the SQL count, in CSV, JSON and JSON
   Lines; --what downstream-seconds rows = the per-second rows.
2. Four virtual users, a new connection per call, allocations traced
   (--trace-allocations=count, so the tracer's environment and the proxies'
   are merged): 5 GetItem per request exactly, rows = the tally, new
   connections = calls, allocation rows stored too.
3. In tmux at 80x24: run 1's scenario live with the dashboard, whose
   Downstream screen at the end shows 8.00 GetItem per get8 request and as
   many calls as the stored rows and the target's tally; then the replay of
   run 1: the Downstream tab is listed, its screen shows both operations and
   the per-step figures, inside 80 columns; a session without downstream
   data lists no such tab.
4. The real Rust fixture (fixtures/orders: tokio + hyper 0.14, SigV4,
   built by scripts/build-orders.sh into build-orders/ or
   $LOADSCOPE_ORDERS_DIR, a no-op when built) launched over Streamable HTTP
   with DynamoDB and S3 proxied (its start-up's table, seed and bucket calls
   too): with ORDERS_FAULT_GET_PER_KEY 8 GetItem per get_orders exactly,
   without it 1 BatchGetItem; the rows during get_orders equal the
   fixture's own attempts, all rows its attempts with start-up's; with
   ORDERS_FAULT_CLIENT_PER_CALL a new connection per downstream call, with
   the shared client none during the load.
"""
import csv
import glob
import io
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from lsutil import BIN, FIXTURES, SRC, TempDir, check, db, finish, run_loadscope  # noqa: E402

DYNALITE = os.path.join(FIXTURES, "node_modules", "dynalite", "cli.js")
TARGET = os.path.join(FIXTURES, "mcp-dynamo-stdio.mjs")
TABLE = "loadscope_items"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_dynalite(tmp):
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    log = open(tmp.file("dynalite.log"), "w")
    p = subprocess.Popen(["node", DYNALITE, "--host", "127.0.0.1", "--port", str(port),
                          "--createTableMs", "20"], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/", timeout=1).read()
            return p, url
        except Exception:
            time.sleep(0.05)
    p.kill()
    raise RuntimeError("dynalite did not start")


def target_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": "target", "AWS_SECRET_ACCESS_KEY": "target-secret",
                "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
    return env


def scenario(tmp, name, dyn_url, steps, concurrency, stats, extra_env=None):
    env = {"DS_STATS_DIR": stats, "DS_TABLE": TABLE}
    env.update(extra_env or {})
    scn = {"name": name,
           "target": {"transport": "stdio", "command": ["node", TARGET], "env": env,
                      "downstream": {"dynamodb": dyn_url}},
           "load": {"model": "closed", "concurrency": concurrency, "duration": "3s", "warmup": "0s"},
           "steps": steps}
    path = tmp.file(name + ".json")
    with open(path, "w") as f:
        json.dump(scn, f)
    return path


def tally(stats):
    """The target's own count of its DynamoDB calls, over its processes."""
    tot = {"calls": 0, "by_op": {}, "errors": 0, "tool_calls": 0}
    for p in glob.glob(os.path.join(stats, "*.json")):
        with open(p) as f:
            t = json.load(f)
        tot["calls"] += t["calls"]
        tot["errors"] += t["errors"]
        tot["tool_calls"] += t["tool_calls"]
        for op, n in t["by_op"].items():
            tot["by_op"][op] = tot["by_op"].get(op, 0) + n
    return tot


def one(conn, sql, args=()):
    return conn.execute(sql, args).fetchone()[0]


def per_request(conn, sid, step, op):
    calls = one(conn, "SELECT coalesce(sum(calls), 0) FROM downstream_attribution WHERE session_id = ? "
                      "AND step = ? AND op = ?", (sid, step, op))
    reqs = one(conn, "SELECT coalesce(sum(requests), 0) FROM downstream_requests WHERE session_id = ? "
                     "AND step = ?", (sid, step))
    return calls, reqs


def check_rows_vs_tally(conn, sid, t, what):
    rows = one(conn, "SELECT count(*) FROM downstream_calls WHERE session_id = ?", (sid,))
    check(rows > 0 and rows == t["calls"], "%s: downstream_calls rows %d = the target's tally %d" % (what, rows, t["calls"]))
    for op, n in sorted(t["by_op"].items()):
        got = one(conn, "SELECT count(*) FROM downstream_calls WHERE session_id = ? AND op = ?", (sid, op))
        check(got == n, "%s: %s rows %d = the tally's %d" % (what, op, got, n))
    check(t["errors"] == 0, "%s: the target saw no failed call (%d)" % (what, t["errors"]))
    secs = one(conn, "SELECT coalesce(sum(calls), 0) FROM downstream_seconds WHERE session_id = ?", (sid,))
    check(secs == rows, "%s: the per-second rows add up to the call rows (%d = %d)" % (what, secs, rows))
    return rows


def test_two_steps(tmp, dyn_url):
    print("run 1: one virtual user, get8 and batch")
    stats = tmp.file("stats1")
    os.makedirs(stats)
    steps = [{"name": "get8", "weight": 1, "method": "tools/call", "tool": "get_items", "arguments": {"n": 8}},
             {"name": "batch", "weight": 1, "method": "tools/call", "tool": "batch_get", "arguments": {"n": 4}}]
    path = scenario(tmp, "two-steps", dyn_url, steps, 1, stats)
    dbpath = tmp.file("run.db")
    rc, out, err = run_loadscope(["run", path, "--headless", "--quiet", "--db", dbpath], env=target_env())
    check(rc == 0, "run 1 exits 0 (%d) %s" % (rc, err[-600:] if rc else ""))
    check("downstream:" in out and "GetItem" in out and "BatchGetItem" in out,
          "the headless summary has a downstream block naming both operations")
    conn = db(dbpath)
    sid = one(conn, "SELECT max(id) FROM sessions")
    t = tally(stats)
    rows = check_rows_vs_tally(conn, sid, t, "run 1")

    calls, reqs = per_request(conn, sid, 0, "GetItem")
    check(reqs > 0 and calls == 8 * reqs, "get8: %g GetItem over %d requests = 8 per request exactly" % (calls, reqs))
    calls, reqs = per_request(conn, sid, 1, "BatchGetItem")
    check(reqs > 0 and calls == reqs, "batch: %g BatchGetItem over %d requests = 1 per request exactly" % (calls, reqs))
    for step, op, other in ((0, "GetItem", "BatchGetItem"), (1, "BatchGetItem", "GetItem")):
        c, _ = per_request(conn, sid, step, other)
        check(c == 0, "step %d: no %s attributed to it (%g)" % (step, other, c))
    bad = one(conn, "SELECT count(*) FROM downstream_calls WHERE session_id = ? AND NOT "
                    "((op = 'GetItem' AND step = 0) OR (op = 'BatchGetItem' AND step = 1))", (sid,))
    check(bad == 0, "every call row is attributed to the step in flight (%d are not)" % bad)
    for step in (0, 1):
        samples = one(conn, "SELECT count(*) FROM samples WHERE session_id = ? AND step = ?", (sid, step))
        _, reqs = per_request(conn, sid, step, "")
        check(samples == reqs, "step %d: the proxies' requests %d = the samples %d" % (step, reqs, samples))
    tool_samples = one(conn, "SELECT count(*) FROM samples WHERE session_id = ? AND step IN (0, 1)", (sid,))
    check(t["tool_calls"] == tool_samples, "the target's tool calls %d = the samples %d" % (t["tool_calls"], tool_samples))
    newc = one(conn, "SELECT sum(new_conn) FROM downstream_calls WHERE session_id = ?", (sid,))
    check(newc == 1, "one kept-alive connection for the whole run (%d new)" % newc)
    asked = one(conn, "SELECT coalesce(sum(batch_asked), 0) FROM downstream_calls WHERE session_id = ? "
                      "AND op = 'BatchGetItem'", (sid,))
    check(asked == 4 * t["by_op"].get("BatchGetItem", 0), "BatchGetItem keys asked = 4 per call (%d)" % asked)
    pre = one(conn, "SELECT count(*) FROM downstream_calls WHERE session_id = ? AND start_ns < 0", (sid,))
    check(pre == 0, "no call before the run's start (%d)" % pre)
    # per step in the headless summary
    line = [l for l in out.splitlines() if l.strip().startswith("get8 ")]
    check(bool(line) and " 8.00 " in line[-1], "the summary's get8 row says 8.00 calls per request (%s)" % line)

    # export: rows = the SQL count, each format
    nsec = one(conn, "SELECT count(*) FROM downstream_seconds WHERE session_id = ?", (sid,))
    rc, out, err = run_loadscope(["export", str(sid), "--db", dbpath, "--what", "downstream"])
    recs = list(csv.DictReader(io.StringIO(out)))
    check(rc == 0 and len(recs) == rows, "export csv: %d rows = %d" % (len(recs), rows))
    check(all(r["step_name"] == ("get8" if r["op"] == "GetItem" else "batch") for r in recs),
          "export csv: each row names its step")
    check(sorted(int(r["seq"]) for r in recs) == list(range(1, rows + 1)), "export csv: seq 1..N")
    rc, out, err = run_loadscope(["export", str(sid), "--db", dbpath, "--what", "downstream", "--format", "json"])
    doc = json.loads(out) if rc == 0 else {"rows": []}
    check(len(doc["rows"]) == rows, "export json: %d rows = %d" % (len(doc["rows"]), rows))
    rc, out, err = run_loadscope(["export", str(sid), "--db", dbpath, "--what", "downstream", "--format", "jsonl"])
    lines = [json.loads(l) for l in out.splitlines() if l.strip()]
    check(rc == 0 and len(lines) == rows, "export jsonl: %d rows = %d" % (len(lines), rows))
    rc, out, err = run_loadscope(["export", str(sid), "--db", dbpath, "--what", "downstream-seconds"])
    recs = list(csv.DictReader(io.StringIO(out)))
    check(rc == 0 and len(recs) == nsec, "export downstream-seconds: %d rows = %d" % (len(recs), nsec))
    check(sum(int(r["calls"]) for r in recs) == rows, "export downstream-seconds: calls add up to the call rows")
    conn.close()
    return dbpath, sid


def test_traced_new_conns(tmp, dyn_url):
    print("run 2: four virtual users, a connection per call, allocations traced")
    stats = tmp.file("stats2")
    os.makedirs(stats)
    steps = [{"name": "get5", "method": "tools/call", "tool": "get_items", "arguments": {"n": 5}}]
    path = scenario(tmp, "traced", dyn_url, steps, 4, stats, {"DS_CLIENT_PER_CALL": "1"})
    dbpath = tmp.file("run2.db")
    rc, out, err = run_loadscope(["run", path, "--headless", "--quiet", "--db", dbpath,
                                  "--trace-allocations=count"], env=target_env())
    check(rc == 0, "run 2 exits 0 (%d) %s" % (rc, err[-600:] if rc else ""))
    conn = db(dbpath)
    sid = one(conn, "SELECT max(id) FROM sessions")
    t = tally(stats)
    rows = check_rows_vs_tally(conn, sid, t, "run 2")
    calls, reqs = per_request(conn, sid, 0, "GetItem")
    check(reqs > 0 and abs(calls - 5 * reqs) < 1e-6,
          "get5: %g GetItem over %d requests = 5 per request" % (calls, reqs))
    newc = one(conn, "SELECT sum(new_conn) FROM downstream_calls WHERE session_id = ?", (sid,))
    check(newc == rows, "a new connection per call: %d of %d" % (newc, rows))
    allocs = one(conn, "SELECT count(*) FROM alloc_summary WHERE session_id = ?", (sid,))
    procs = one(conn, "SELECT count(*) FROM alloc_process WHERE session_id = ?", (sid,))
    check(allocs > 0 and procs > 0, "allocations traced alongside (%d alloc_summary, %d alloc_process rows)"
          % (allocs, procs))
    conn.close()


ORDERS_OUT = os.environ.get("LOADSCOPE_ORDERS_DIR") or os.path.join(SRC, "build-orders")
S3RVER = os.path.join(FIXTURES, "node_modules", "s3rver", "bin", "s3rver.js")


def start_s3rver(tmp):
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    d = tmp.file("s3")
    os.makedirs(d, exist_ok=True)
    log = open(tmp.file("s3rver.log"), "w")
    p = subprocess.Popen(["node", S3RVER, "-d", d, "-a", "127.0.0.1", "-p", str(port), "-s"],
                         stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/", timeout=1).read()
            return p, url
        except Exception:
            time.sleep(0.05)
    p.kill()
    raise RuntimeError("s3rver did not start")


def orders_run(tmp, binary, name, dyn_url, s3_url, switches):
    """loadscope run launching the orders fixture (HTTP) with both services proxied; 1 VU of get_orders."""
    port = free_port()
    stats_file = tmp.file(name + "-stats.json")
    env = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER", "AWS_REGION": "us-east-1",
           "ORDERS_STATS_FILE": stats_file}
    env.update(switches)
    scn = {"name": name,
           "target": {"transport": "http", "url": "http://127.0.0.1:%d/mcp" % port,
                      "command": [binary, "--port", str(port)], "env": env, "ready_timeout": "60s",
                      "downstream": {"dynamodb": dyn_url, "s3": s3_url}},
           "load": {"model": "closed", "concurrency": 1, "duration": "2s", "warmup": "0s"},
           "steps": [{"name": "orders", "method": "tools/call", "tool": "get_orders",
                      "arguments": {"customer": "c${seq}", "n": 8}}]}
    path = tmp.file(name + ".json")
    with open(path, "w") as f:
        json.dump(scn, f)
    dbpath = tmp.file(name + ".db")
    rc, out, err = run_loadscope(["run", path, "--headless", "--quiet", "--db", dbpath], timeout=300,
                                 env=target_env())
    check(rc == 0, "%s: loadscope run exits 0 (%d)%s" % (name, rc, "" if rc == 0 else ": " + err[-800:]))
    try:
        with open(stats_file) as f:
            final = json.load(f)
    except (OSError, ValueError) as e:
        check(False, "%s: the fixture wrote its tally (%s)" % (name, e))
        return None, None, None
    conn = db(dbpath)
    sid = one(conn, "SELECT max(id) FROM sessions")
    return conn, sid, final


def test_orders(tmp, dyn_url):
    """The real Rust fixture (tokio + hyper, fixtures/orders) behind the proxies."""
    print("the orders fixture (Rust, tokio + hyper) launched by loadscope run, both services proxied")
    build = os.path.join(SRC, "scripts", "build-orders.sh")
    t0 = time.monotonic()
    p = subprocess.run([build, ORDERS_OUT], capture_output=True, text=True, timeout=3000)
    check(p.returncode == 0, "scripts/build-orders.sh (%.0f s)%s" %
          (time.monotonic() - t0, "" if p.returncode == 0 else ": " + p.stderr[-800:]))
    if p.returncode != 0:
        return
    binary = p.stdout.split()[0]
    s3, s3_url = start_s3rver(tmp)
    try:
        for name, switches, op_name, per_req in (
                ("orders-per-key", {"ORDERS_FAULT_GET_PER_KEY": "1"}, "GetItem", 8),
                ("orders-clean", {"ORDERS_FAULT_CLIENT_PER_CALL": "1"}, "BatchGetItem", 1)):
            conn, sid, final = orders_run(tmp, binary, name, dyn_url, s3_url, switches)
            if conn is None:
                continue
            calls, reqs = per_request(conn, sid, 0, op_name)
            check(reqs > 0 and calls == per_req * reqs,
                  "%s: %g %s over %d get_orders = %d per request exactly" % (name, calls, op_name, reqs, per_req))
            samples = one(conn, "SELECT count(*) FROM samples WHERE session_id = ? AND step = 0", (sid,))
            check(final["tool_calls"]["get_orders"] == samples == reqs,
                  "%s: the fixture's get_orders %d = the samples %d = the proxies' requests %d"
                  % (name, final["tool_calls"]["get_orders"], samples, reqs))
            during = one(conn, "SELECT count(*) FROM downstream_calls WHERE session_id = ? AND step = 0 "
                               "AND op = ?", (sid, op_name))
            want = final["downstream"].get("dynamodb." + op_name, {}).get("attempts", 0)
            check(during == want, "%s: %s rows during get_orders %d = the fixture's attempts %d"
                  % (name, op_name, during, want))
            total = one(conn, "SELECT count(*) FROM downstream_calls WHERE session_id = ?", (sid,))
            setup = final.get("setup", {}).get("downstream", {})
            fixture_all = sum(v.get("attempts", 0) for v in final["downstream"].values()) + \
                sum(v.get("attempts", 0) for v in setup.values())
            check(total == fixture_all, "%s: every call stored: %d rows = the fixture's %d attempts (start-up's included)"
                  % (name, total, fixture_all))
            if "ORDERS_FAULT_CLIENT_PER_CALL" in switches:
                newc = one(conn, "SELECT sum(new_conn) FROM downstream_calls WHERE session_id = ? AND step = 0",
                           (sid,))
                n = conn.execute("SELECT count(*) FROM downstream_calls WHERE session_id = ? AND step = 0",
                                 (sid,)).fetchone()[0]
                check(newc == n and n > 0, "%s: a new connection per downstream call (%d of %d)" % (name, newc, n))
            else:
                newc = one(conn, "SELECT coalesce(sum(new_conn), 0) FROM downstream_calls WHERE session_id = ? "
                                 "AND step = 0", (sid,))
                check(newc <= 1, "%s: the shared client's connection kept alive (%d new during the load)"
                      % (name, newc))
            conn.close()
    finally:
        s3.send_signal(signal.SIGTERM)
        try:
            s3.wait(timeout=5)
        except subprocess.TimeoutExpired:
            s3.kill()


def test_replay(tmp, dyn_url, dbpath, sid):
    print("replay at 80x24")
    if shutil.which("tmux") is None:
        check(False, "tmux is needed for the replay check")
        return
    import lstmux
    from lstmux import PROMPT, exited, has, keys, tmux, typeline
    tmux("kill-server", check_rc=False)
    env_cmd = "env -i PATH=%s HOME=%s TERM=screen PS1='%s ' bash --norc --noprofile -i" % (
        shlex.quote(os.environ.get("PATH", "/usr/bin:/bin")), shlex.quote(tmp.path), PROMPT)
    tmux("new-session", "-d", "-s", "t", "-x", "80", "-y", "24", "-c", tmp.path, env_cmd)
    tmux("set-option", "-t", "t", "window-size", "manual")
    try:
        lstmux.wait_for(has(PROMPT), "the shell prompt")
        # Live: the same scenario with the dashboard; its last screen agrees with the database.
        stats = tmp.file("stats-live")
        os.makedirs(stats)
        steps = [{"name": "get8", "weight": 1, "method": "tools/call", "tool": "get_items", "arguments": {"n": 8}},
                 {"name": "batch", "weight": 1, "method": "tools/call", "tool": "batch_get", "arguments": {"n": 4}}]
        path = scenario(tmp, "live", dyn_url, steps, 1, stats)
        live_db = tmp.file("live.db")
        creds = "AWS_ACCESS_KEY_ID=target AWS_SECRET_ACCESS_KEY=target-secret AWS_REGION=us-east-1"
        typeline("%s %s run %s --db %s; echo LSEXIT=$?" % (creds, BIN, path, live_db))
        lstmux.wait_for(has("5 Downstream"), "the live Downstream tab", timeout=40)
        keys("5")
        lstmux.wait_for(has("[5 Downstream]"), "the live Downstream screen")
        lines = lstmux.wait_for(lambda l: any("DONE" in x for x in l[:2]) and any(x.startswith(" get8 ") for x in l),
                                "the end of the live run", timeout=60)
        get8 = [l for l in lines if l.startswith(" get8 ")]
        check(len(get8) == 1 and "8.00" in get8[0].split(), "live: get8 makes 8.00 calls per request (%s)" % get8)
        total = [l for l in lines if l.startswith(" Downstream: ")]
        conn = db(live_db)
        lsid = one(conn, "SELECT max(id) FROM sessions")
        rows = one(conn, "SELECT count(*) FROM downstream_calls WHERE session_id = ?", (lsid,))
        conn.close()
        check(len(total) == 1 and total[0].split()[1] == str(rows) and rows == tally(stats)["calls"],
              "live: the screen's %s calls = the stored rows %d = the target's tally" % (total, rows))
        keys("q")
        lines = lstmux.wait_for(exited, "the shell after the live run", timeout=30)
        check(any(l.strip() == "LSEXIT=0" for l in lines), "the live run exits 0")
        typeline("clear; %s replay %d --db %s; echo LSEXIT=$?" % (BIN, sid, dbpath))
        lstmux.wait_for(has("4 Downstream"), "the Downstream tab")
        keys("4")
        lines = lstmux.wait_for(has("[4 Downstream]"), "the Downstream screen")
        lines = lstmux.wait_for(has("per step"), "the per-step section")
        check(any("ddb GetItem" in l for l in lines) and any("ddb BatchGetItem" in l for l in lines),
              "replay: both operations listed")
        get8 = [l for l in lines if l.startswith(" get8 ")]
        check(len(get8) == 1 and "8.00" in get8[0].split(), "replay: get8 makes 8.00 calls per request (%s)" % get8)
        batch = [l for l in lines if l.startswith(" batch ")]
        check(len(batch) == 1 and "1.00" in batch[0].split(), "replay: batch makes 1.00 call per request (%s)" % batch)
        head = [l for l in lines if "operation" in l and "p99" in l]
        check(len(head) == 1 and "new conn" in head[0], "replay: the table's heading fits 80 columns (%s)" % head)
        keys("q")
        lines = lstmux.wait_for(exited, "the shell after replay", timeout=15)
        check(any(l.strip() == "LSEXIT=0" for l in lines), "replay exits 0")
        # A session without target.downstream: no Downstream tab.
        plain = tmp.file("plain.json")
        with open(plain, "w") as f:
            json.dump({"name": "plain", "target": {"transport": "stdio", "command": ["node", TARGET]},
                       "load": {"model": "closed", "concurrency": 1, "duration": "1s", "warmup": "0s"},
                       "steps": [{"name": "ping", "method": "ping"}]}, f)
        rc, out, err = run_loadscope(["run", plain, "--headless", "--quiet", "--db", dbpath])
        check(rc == 0 and "downstream:" not in out, "a run without target.downstream prints no downstream block")
        typeline("clear; %s replay latest --db %s; echo LSEXIT=$?" % (BIN, dbpath))
        lines = lstmux.wait_for(has("3 Errors"), "the plain session's tabs")
        check(not any("Downstream" in l for l in lines), "no Downstream tab without downstream data")
        keys("q")
        lstmux.wait_for(lambda l: sum(1 for x in l if x.strip().startswith("LSEXIT=")) >= 1, "the shell", timeout=15)
    finally:
        tmux("kill-server", check_rc=False)


def main():
    for need in (BIN, DYNALITE, TARGET):
        if not os.path.exists(need):
            print("FAIL %s is missing" % need)
            sys.exit(1)
    tmp = TempDir()
    dyn, dyn_url = start_dynalite(tmp)
    try:
        p = subprocess.run(["node", TARGET, "--setup", dyn_url, TABLE], capture_output=True, text=True,
                           timeout=60, env=target_env())
        check(p.returncode == 0, "the table and its 16 items are created (%s)" % p.stderr.strip())
        dbpath, sid = test_two_steps(tmp, dyn_url)
        test_traced_new_conns(tmp, dyn_url)
        test_replay(tmp, dyn_url, dbpath, sid)
        test_orders(tmp, dyn_url)
    finally:
        dyn.send_signal(signal.SIGTERM)
        try:
            dyn.wait(timeout=5)
        except subprocess.TimeoutExpired:
            dyn.kill()
        if not os.environ.get("KEEP_TMP"):
            shutil.rmtree(tmp.path, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
