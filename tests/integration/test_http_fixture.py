"""loadscope against the fixture MCP server (@modelcontextprotocol/sdk) over
Streamable HTTP on 127.0.0.1, in both response modes (SSE and JSON).

Checks what the server itself counted against what loadscope stored: tool
calls, sessions opened and deleted; that isError results are their own
error class; keep-alive (one new connection per virtual user); session churn
(a session per iteration, each deleted); and per-step percentiles against the
stored samples.

Every part runs once per HTTP client: loadscope's native HTTP/1.1 client and
libcurl ("http": {"client": ...}). LOADSCOPE_HTTP_CLIENTS (comma-separated,
default "native,curl") picks which; with both, the two-mode runs are
shortened so the test takes about as long as one client's full run did.
"""
import os

from lsutil import (HttpServer, TempDir, check, close_to_hdr, db, finish, hdr_rank_value,
                    last_session, measured_latencies, run_loadscope, write_scenario,
                    SF_NEW_CONN, SF_WARMUP)

EC_TOOL = 6
tmp = TempDir()
dbpath = tmp.file("http.db")
CLIENTS = [c for c in os.environ.get("LOADSCOPE_HTTP_CLIENTS", "native,curl").split(",") if c]
DURATION, WARMUP = ("2s", "500ms") if len(CLIENTS) == 1 else ("1s", "300ms")
client = CLIENTS[0]


def scenario(url, **load):
    sc = {
        "name": "fixture-http",
        "target": {"transport": "http", "url": url},
        "http": {"client": client},
        "load": dict({"model": "closed", "concurrency": 6, "duration": DURATION, "warmup": WARMUP}, **load),
        "steps": [
            {"name": "echo", "weight": 3, "method": "tools/call", "tool": "echo",
             "arguments": {"message": "m${seq}"}},
            {"name": "add", "weight": 1, "method": "tools/call", "tool": "add",
             "arguments": {"a": "${rand:1:5}", "b": "${rand:1:5}"}},
            {"name": "fail", "weight": 1, "method": "tools/call", "tool": "fail"},
            {"name": "doc", "weight": 1, "method": "resources/read", "uri": "fixture://doc/${rand:1:3}"},
            {"name": "greet", "weight": 1, "method": "prompts/get", "prompt": "greet",
             "arguments": {"name": "Ada"}},
        ],
    }
    return sc


for client, srv_mode in [(c, m) for c in CLIENTS for m in ("sse", "json")]:
    mode = "%s %s" % (client, srv_mode)  # names the run in every check below
    print("client %s, mode %s, session per virtual user" % (client, srv_mode))
    srv = HttpServer(tmp, mode=srv_mode)
    try:
        path = write_scenario(tmp, "http-%s.json" % srv_mode, scenario(srv.url))
        rc, out, err = run_loadscope(["run", path, "--headless", "--db", dbpath, "--quiet"])
        print(out)
        print(err[-2000:])
        check(rc == 0, "%s: exits 0 (got %d)" % (mode, rc))
        stats = srv.stats()
    finally:
        srv.stop()
    conn = db(dbpath)
    sid = last_session(conn)["id"]
    q = lambda sql, *a: conn.execute(sql, (sid,) + a).fetchone()[0]
    calls = q("SELECT count(*) FROM samples WHERE session_id=? AND step IN (0,1,2)")
    check(calls == stats["tool_calls"], "%s: tool calls stored %d == server counted %d" %
          (mode, calls, stats["tool_calls"]))
    inits = q("SELECT count(*) FROM samples WHERE session_id=? AND step=5")
    check(inits == 6 == stats["sessions_opened"], "%s: 6 sessions opened (stored %d, server %d)" %
          (mode, inits, stats["sessions_opened"]))
    check(stats["sessions_deleted"] == 6, "%s: every session deleted at the end (%d)" %
          (mode, stats["sessions_deleted"]))
    fails = q("SELECT count(*) FROM samples WHERE session_id=? AND step=2")
    tool_errs = q("SELECT count(*) FROM samples WHERE session_id=? AND step=2 AND err=?", EC_TOOL)
    check(fails > 0 and tool_errs == fails, "%s: every isError result is a tool_error (%d/%d)" %
          (mode, tool_errs, fails))
    other_errs = q("SELECT count(*) FROM samples WHERE session_id=? AND step!=2 AND err!=0")
    check(other_errs == 0, "%s: no other errors (%d)" % (mode, other_errs))
    sm = conn.execute("SELECT err_json, errors FROM summaries WHERE session_id=? AND step=2", (sid,)).fetchone()
    meas_fails = q("SELECT count(*) FROM samples WHERE session_id=? AND step=2 AND (flags&?)=0", SF_WARMUP)
    check(sm["errors"] == meas_fails and ('"tool_error":%d' % meas_fails) in sm["err_json"].replace(" ", ""),
          "%s: summary counts tool_error by name: %s" % (mode, sm["err_json"]))
    newc = q("SELECT count(*) FROM samples WHERE session_id=? AND (flags&?)!=0", SF_NEW_CONN)
    check(newc == 6, "%s: keep-alive: one new connection per virtual user (%d)" % (mode, newc))
    st200 = q("SELECT count(*) FROM samples WHERE session_id=? AND status=200")
    total = q("SELECT count(*) FROM samples WHERE session_id=?")
    check(st200 == total, "%s: all %d replies were HTTP 200" % (mode, total))
    inb = q("SELECT min(bytes_in) FROM samples WHERE session_id=? AND step=0")
    check(inb > 20, "%s: response bytes recorded (%d)" % (mode, inb))
    for idx, name in ((0, "echo"), (3, "doc")):
        s = conn.execute("SELECT * FROM summaries WHERE session_id=? AND step=?", (sid, idx)).fetchone()
        lat = measured_latencies(conn, sid, idx, True)
        for p, col in ((50, "p50_us"), (99, "p99_us")):
            check(close_to_hdr(hdr_rank_value(lat, p), s[col]),
                  "%s %s %s stored %d vs exact %d" % (mode, name, col, s[col], hdr_rank_value(lat, p)))

def check_c(cond, what):
    check(cond, "%s: %s" % (client, what))


for client in CLIENTS:
    print("client %s: session churn: a new session per iteration, keep-alive off" % client)
    srv = HttpServer(tmp, mode="sse")
    try:
        sc = scenario(srv.url, concurrency=3, duration="1s", warmup="0")
        sc["mcp"] = {"session": "per_iteration", "protocol_version": "2025-06-18"}
        sc["http"]["keepalive"] = False
        path = write_scenario(tmp, "churn.json", sc)
        rc, out, err = run_loadscope(["run", path, "--headless", "--db", dbpath, "--quiet"])
        check_c(rc == 0, "churn: exits 0 (got %d) %s" % (rc, err[-500:]))
        stats = srv.stats()
    finally:
        srv.stop()
    conn = db(dbpath)
    sid = last_session(conn)["id"]
    q = lambda sql, *a: conn.execute(sql, (sid,) + a).fetchone()[0]
    inits = q("SELECT count(*) FROM samples WHERE session_id=? AND step=5")
    calls = q("SELECT count(*) FROM samples WHERE session_id=? AND step<5")
    check_c(inits == stats["sessions_opened"] and inits == calls,
          "churn: one handshake per call (%d handshakes, %d calls, server %d)" % (inits, calls, stats["sessions_opened"]))
    check_c(stats["sessions_deleted"] == stats["sessions_opened"],
          "churn: every session deleted (%d of %d)" % (stats["sessions_deleted"], stats["sessions_opened"]))
    newc = q("SELECT count(*) FROM samples WHERE session_id=? AND (flags&?)!=0", SF_NEW_CONN)
    check_c(newc == calls + inits, "keep-alive off: every request on a new connection (%d of %d)" %
          (newc, calls + inits))

    print("client %s: a lost session (404) is re-initialized and counted" % client)
    srv = HttpServer(tmp, mode="json", extra=["--forget-session-every", "25"])
    try:
        sc = scenario(srv.url, concurrency=4, duration="1s", warmup="0")
        path = write_scenario(tmp, "lost.json", sc)
        rc, out, err = run_loadscope(["run", path, "--headless", "--db", dbpath, "--quiet"])
        check_c(rc == 0, "lost sessions: exits 0 (got %d)" % rc)
        stats = srv.stats()
    finally:
        srv.stop()
    conn = db(dbpath)
    sid = last_session(conn)["id"]
    q = lambda sql, *a: conn.execute(sql, (sid,) + a).fetchone()[0]
    lost = q("SELECT count(*) FROM samples WHERE session_id=? AND err=7")
    inits = q("SELECT count(*) FROM samples WHERE session_id=? AND step=5")
    check_c(stats["sessions_forgotten"] > 0 and lost == stats["sessions_forgotten"],
          "every 404 recorded as session_lost (%d, server forgot %d)" % (lost, stats["sessions_forgotten"]))
    # Every loss before the stop is followed by a new handshake of the same
    # virtual user; a loss at the very end may or may not be (the worker can
    # record it in the turn before it notices the stop), so it is not counted
    # either way. Each successful session is one of the 4 first ones or the
    # recovery of exactly one loss.
    end_ns = 1_000_000_000
    recovered_sql = """SELECT count(*) FROM samples l WHERE l.session_id=? AND l.err=7 %s
                       EXISTS (SELECT 1 FROM samples i WHERE i.session_id=l.session_id AND i.step=5
                               AND i.err=0 AND i.vu=l.vu AND i.start_ns >= l.end_ns)"""
    recovered = q(recovered_sql % "AND")
    unrecovered_early = q(recovered_sql % "AND l.end_ns < %d AND NOT" % end_ns)
    good_inits = q("SELECT count(*) FROM samples WHERE session_id=? AND step=5 AND err=0")
    check_c(unrecovered_early == 0 and good_inits == 4 + recovered and recovered >= lost - 8,
          "each lost session re-initialized: %d sessions = 4 + %d recovered of %d lost" %
          (good_inits, recovered, lost))
    check_c(("%d lost session(s) re-initialized" % lost) in out, "the summary says how many sessions were lost")
    ev = q("SELECT count(*) FROM events WHERE session_id=? AND kind='session_lost'")
    check_c(ev == min(lost, 20), "session losses logged as events (%d)" % ev)

client = CLIENTS[0]
print("a target launched by loadscope: command plus URL")
import socket
s_ = socket.socket()
s_.bind(("127.0.0.1", 0))
port = s_.getsockname()[1]
s_.close()
from lsutil import HTTP_SERVER
sc = scenario("http://127.0.0.1:%d/mcp" % port, concurrency=2, duration="1s", warmup="0")
sc["target"]["command"] = ["node", HTTP_SERVER, "--port", str(port), "--mode", "sse"]
path = write_scenario(tmp, "launch.json", sc)
rc, out, err = run_loadscope(["run", path, "--headless", "--db", dbpath, "--quiet"])
check(rc == 0, "launched target: exits 0 (got %d) %s" % (rc, err[-400:]))
sid = last_session(conn)["id"]
n = conn.execute("SELECT count(*) FROM samples WHERE session_id=? AND err=0 AND step<5", (sid,)).fetchone()[0]
check(n > 50, "launched target served the run (%d ok requests)" % n)
ev = conn.execute("SELECT message FROM events WHERE session_id=? AND kind='target_start'", (sid,)).fetchone()
check(ev is not None and ("127.0.0.1:%d" % port) in ev[0], "launch logged: %s" % (ev and ev[0]))
probe = socket.socket()
stopped = probe.connect_ex(("127.0.0.1", port)) != 0
probe.close()
check(stopped, "the launched target was stopped at the end")
finish()
