"""Coordinated omission: an open-loop run against a server frozen with SIGSTOP.

The fixture server is paused for 1.2 s in the middle of a 200 req/s run with
four connections (wrk2's setting: -R 200 -c 4). Requests scheduled during the
pause wait for a connection, so their latency from the intended send time
(corrected) shows the stall, while latency from the actual send (uncorrected)
hides it for all but the few requests caught in flight.
"""
import os
import signal
import subprocess
import time

from lsutil import (BIN, HttpServer, TempDir, check, db, finish, hdr_rank_value, last_session,
                    measured_latencies, write_scenario, SF_LATE)

tmp = TempDir()
dbpath = tmp.file("stall.db")
srv = HttpServer(tmp, mode="json")
try:
    sc = {
        "name": "stall",
        "target": {"transport": "http", "url": srv.url},
        "load": {"model": "open", "rate": 200, "max_in_flight": 4, "duration": "6s"},
        "steps": [{"name": "echo", "method": "tools/call", "tool": "echo", "arguments": {"message": "s"}}],
    }
    path = write_scenario(tmp, "stall.json", sc)
    p = subprocess.Popen([BIN, "run", path, "--headless", "--db", dbpath], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    os.kill(srv.proc.pid, signal.SIGSTOP)
    time.sleep(1.2)
    os.kill(srv.proc.pid, signal.SIGCONT)
    out, err = p.communicate(timeout=60)
finally:
    srv.stop()
print(out)
print(err[-1500:])
check(p.returncode == 0, "run exits 0 (got %d)" % p.returncode)
conn = db(dbpath)
sid = last_session(conn)["id"]
n = conn.execute("SELECT count(*) FROM samples WHERE session_id=? AND step=0", (sid,)).fetchone()[0]
check(1100 <= n <= 1210, "the schedule was kept: ~1200 requests in 6 s at 200/s (%d)" % n)
corr = measured_latencies(conn, sid, 0, True)
unc = measured_latencies(conn, sid, 0, False)
c99, u99 = hdr_rank_value(corr, 99), hdr_rank_value(unc, 99)
check(c99 >= 800000, "corrected p99 shows the 1.2 s stall (%d us)" % c99)
check(u99 < 200000, "uncorrected p99 hides it (%d us)" % u99)
check(max(unc) >= 1000000, "the requests caught in flight saw the stall uncorrected too (%d us)" % max(unc))
late = conn.execute("SELECT count(*) FROM samples WHERE session_id=? AND (flags&?)!=0", (sid, SF_LATE)).fetchone()[0]
check(late >= 150, "sends during the stall counted late (%d)" % late)
sm = conn.execute("SELECT p99_us, u_p99_us FROM summaries WHERE session_id=? AND step=-1", (sid,)).fetchone()
check(sm["p99_us"] >= 800000 and sm["u_p99_us"] < 200000,
      "the stored summary shows both sides: corrected p99 %d us, uncorrected %d us" % (sm["p99_us"], sm["u_p99_us"]))
finish()
