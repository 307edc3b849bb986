"""A stdio server killed mid-run leaves a complete, readable session.

The target (server-everything, started through a shell that records its pid
and then execs node, so the pid is node's) is killed with SIGKILL while
requests are in flight. loadscope must notice, end the run with exit code 3,
record the in-flight requests as target_exit failures, log the exit, and
leave a database that passes SQLite's integrity check.
"""
import os
import signal
import subprocess
import time

from lsutil import (BIN, EVERYTHING, TempDir, check, db, finish, last_session, write_scenario)

EC_TARGET_EXIT = 8
tmp = TempDir()
dbpath = tmp.file("dies.db")
pidfile = tmp.file("target.pid")
sc = {
    "name": "dies",
    "target": {"transport": "stdio",
               "command": ["sh", "-c", 'echo $$ > "%s"; exec node "%s" stdio' % (pidfile, EVERYTHING)]},
    "load": {"model": "closed", "concurrency": 8, "duration": "60s"},
    "steps": [{"name": "echo", "method": "tools/call", "tool": "echo", "arguments": {"message": "x"}}],
}
path = write_scenario(tmp, "dies.json", sc)
p = subprocess.Popen([BIN, "run", path, "--headless", "--db", dbpath], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True)
deadline = time.monotonic() + 20
while not os.path.exists(pidfile) and time.monotonic() < deadline:
    time.sleep(0.05)
time.sleep(2.5)
pid = int(open(pidfile).read().strip())
os.kill(pid, signal.SIGKILL)
t_kill = time.monotonic()
try:
    out, err = p.communicate(timeout=30)
except subprocess.TimeoutExpired:
    p.kill()
    out, err = p.communicate()
elapsed = time.monotonic() - t_kill
print(out)
print(err[-2000:])
check(p.returncode == 3, "exit code 3 when the target dies (got %d)" % p.returncode)
check(elapsed < 15, "run ended soon after the kill (%.1f s), not at its 60 s duration" % elapsed)

conn = db(dbpath)
check(conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "database integrity_check ok")
s = last_session(conn)
sid = s["id"]
check(s["exit_code"] == 3 and s["ended_unix_ns"] > 0, "session closed with exit code 3")
ok = conn.execute("SELECT count(*) FROM samples WHERE session_id=? AND step=0 AND err=0", (sid,)).fetchone()[0]
dead = conn.execute("SELECT count(*) FROM samples WHERE session_id=? AND err=?", (sid, EC_TARGET_EXIT)).fetchone()[0]
check(ok > 100, "requests before the kill kept (%d)" % ok)
check(1 <= dead <= 8, "in-flight requests recorded as target_exit (%d)" % dead)
ev = conn.execute("SELECT message FROM events WHERE session_id=? AND kind='target_exit'", (sid,)).fetchall()
check(any("signal 9" in r[0] for r in ev), "event says the target was killed by signal 9: %s" %
      [r[0] for r in ev])
check("target_exit" in err, "the exit is reported on stderr")
sm = conn.execute("SELECT count, errors FROM summaries WHERE session_id=? AND step=0", (sid,)).fetchone()
check(sm is not None and sm["count"] == ok + dead and sm["errors"] == dead,
      "summary written with the failures counted")
finish()
