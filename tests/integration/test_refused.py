"""A server that is not there: every connect is refused at once.

In a closed loop a refused connect fails inside the call that sent it, and
the virtual user sends again straight away: the engine must neither recurse
into a stack overflow nor stall, and must record every failure as a connect
error of the initialize handshake. Nothing succeeded, so the run failed:
exit 1, the session stored as failed, an event saying why. Both HTTP client
paths are run.
"""
import socket

from lsutil import TempDir, check, db, finish, last_session, run_loadscope, write_scenario

tmp = TempDir()
dbpath = tmp.file("refused.db")
s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()  # nothing listens there now

for client in ("native", "curl"):
    sc = {
        "name": "refused-" + client,
        "target": {"transport": "http", "url": "http://127.0.0.1:%d/mcp" % port},
        "http": {"client": client},
        "load": {"model": "closed", "concurrency": 4, "duration": "1s"},
        "steps": [{"name": "echo", "method": "tools/call", "tool": "echo"}],
    }
    path = write_scenario(tmp, "refused-%s.json" % client, sc)
    rc, out, err = run_loadscope(["run", path, "--headless", "--db", dbpath, "--quiet"])
    # Nothing succeeded: the run did not do its job (exit 1, status failed, and why).
    check(rc == 1 and "no measured request succeeded" in err,
          "%s: the run fails (exit %d) %s" % (client, rc, err[-300:]))
    conn = db(dbpath)
    sid = last_session(conn)["id"]
    n, bad = conn.execute("SELECT count(*), sum(err != 1 OR step != 1) FROM samples WHERE session_id=?",
                          (sid,)).fetchone()
    check(n >= 50, "%s: the refusals were retried and recorded (%d samples)" % (client, n))
    check(bad == 0, "%s: every sample is a connect error of the handshake (%d are not)" % (client, bad))
    st = conn.execute("SELECT status_text, exit_code FROM sessions WHERE id=?", (sid,)).fetchone()
    check(tuple(st) == ("failed", 1), "%s: the session is stored as failed (%s)" % (client, tuple(st)))
    why = conn.execute("SELECT message FROM events WHERE session_id=? AND kind='run_failed'", (sid,)).fetchone()
    check(why is not None and "handshake" in why[0], "%s: the event says why: %s" % (client, why and why[0]))
    ev = conn.execute("SELECT message FROM events WHERE session_id=? AND kind='connect'", (sid,)).fetchone()
    check(ev is not None and str(port) in ev[0], "%s: the error names the address: %s" % (client, ev and ev[0]))
finish()
