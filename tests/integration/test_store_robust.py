"""The session database under bad conditions, read back with Python's sqlite3.

1. Disk full (a 2 MB tmpfs when this runs as root, else a 2 MB file size
   limit): the run stops at the first failed write, says so on stderr while
   running, keeps what was written, and exits 1 with status storage_failed
   although its thresholds would have failed it with 99.
2. A file size limit (ulimit -f): no SIGXFSZ death; the same storage failure.
3. kill -9 during a run under umask 000: at most one second of what the
   progress lines reported is lost; the database, its -wal and -shm are 0600.
4. The killed session, one killed before it stored anything and a trace
   that could not launch its program are "unfinished" no more: `sessions`
   shows them as interrupted / failed at once (read-only, file unchanged),
   and the next run closes them so (exit code 130 / 1), with an event.
5. Read-only use: `sessions --db` on a missing file says so and creates
   nothing; another program's SQLite file is refused by sessions, export and
   run, byte for byte untouched; a database on a read-only mount and one
   owned by another user are listed and exported.
6. `export -o F`: a symlink planted at F.tmp is not followed (its target
   keeps its bytes), F gets the CSV with the umask's mode (0644 under 022,
   0600 under 077).
"""
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import threading
import time

from lsutil import BIN, TempDir, check, db, finish, last_session, run_loadscope, write_scenario

BUILD = os.environ.get("LOADSCOPE_BUILD") or os.path.dirname(BIN)
ECHO = os.path.join(BUILD, "mcp_echo_server")
STEP = [{"name": "echo", "method": "tools/call", "tool": "echo", "arguments": {"message": "x"}}]
tmp = TempDir()
os.chmod(tmp.path, 0o755)  # part 5 reads a file here as another user
IS_ROOT = os.geteuid() == 0


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def mode(path):
    return os.stat(path).st_mode & 0o7777


class Run:
    """loadscope run in the background; stderr gathered line by line."""

    def __init__(self, args, preexec=None):
        self.p = subprocess.Popen([BIN, "run"] + args, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, preexec_fn=preexec)
        self.lines = []
        self.out = []
        self._t = [threading.Thread(target=self._read, args=(self.p.stderr, self.lines), daemon=True),
                   threading.Thread(target=self._read, args=(self.p.stdout, self.out), daemon=True)]
        for t in self._t:
            t.start()

    @staticmethod
    def _read(f, into):
        for line in f:
            into.append((time.monotonic(), line))

    def err(self):
        return "".join(line for _, line in self.lines)

    def wait_lines(self, pattern, n, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.p.poll() is None:
            if len(re.findall(pattern, self.err())) >= n:
                return True
            time.sleep(0.01)
        return False

    def wait(self, timeout=120):
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        for t in self._t:
            t.join(5)
        return self.p.returncode


echo = subprocess.Popen([ECHO, "--port", "0"], stdout=subprocess.PIPE, text=True)
URL = echo.stdout.readline().split()[1]


def scenario(name, load, thresholds=None):
    sc = {"name": name, "target": {"transport": "http", "url": URL}, "load": load, "steps": STEP}
    if thresholds:
        sc["thresholds"] = thresholds
    return write_scenario(tmp, name + ".json", sc)


def storage_failure_checks(what, r, rc, dbpath, started):
    err = r.err()
    print(err[-800:])
    conn = db(dbpath)
    s = last_session(conn)
    n = conn.execute("SELECT count(*) FROM samples WHERE session_id=?", (s["id"],)).fetchone()[0]
    said = [t for t, line in r.lines if "storage_failed: storing the session failed" in line]
    stored = [t for t, line in r.lines if "stored (storage_failed)" in line]
    check(rc == 1, "%s: exit 1, not 99 for the thresholds (got %d)" % (what, rc))
    check(s["status_text"] == "storage_failed" and s["exit_code"] == 1 and s["ended_unix_ns"],
          "%s: session %s, exit code %s" % (what, s["status_text"], s["exit_code"]))
    check(n > 1000, "%s: what was written is kept (%d samples)" % (what, n))
    check(conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok",
          "%s: integrity_check ok" % what)
    check(said and stored and said[0] < stored[0] and said[0] - started < 20,
          "%s: said on stderr at once, %.1f s into a 60 s run, before the end" %
          (what, (said[0] - started) if said else -1))
    conn.close()


# --- 1. disk full ------------------------------------------------------------------------
print("1. disk full: storage failure wins over thresholds")
full = scenario("full", {"model": "open", "rate": 5000, "max_in_flight": 64, "duration": "60s"},
                ["p99 < 1us"])
mnt = tmp.file("mnt")
os.mkdir(mnt)
mounted = IS_ROOT and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt],
                                     capture_output=True).returncode == 0
limit = None if mounted else (lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20)))
print("  a 2 MB %s" % ("tmpfs" if mounted else "file size limit (not root: no tmpfs)"))
dbpath = os.path.join(mnt, "full.db")
t0 = time.monotonic()
r = Run([full, "--headless", "--quiet", "--db", dbpath], preexec=limit)
rc = r.wait()
storage_failure_checks("disk full", r, rc, dbpath, t0)
if mounted:
    subprocess.run(["umount", mnt])

# --- 2. ulimit -f -------------------------------------------------------------------------
print("2. a file size limit (ulimit -f 2048): no SIGXFSZ, a storage failure")
dbpath = tmp.file("fsize.db")
t0 = time.monotonic()
r = Run([full, "--headless", "--quiet", "--db", dbpath],
        preexec=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20)))
rc = r.wait()
check(rc != -signal.SIGXFSZ, "not killed by SIGXFSZ (exit %d)" % rc)
storage_failure_checks("ulimit -f", r, rc, dbpath, t0)

# --- 3. kill -9: at most one second lost; files 0600 -------------------------------------
print("3. kill -9 during a saturating run under umask 000")
dbpath = tmp.file("killed.db")
kill = scenario("kill", {"model": "closed", "concurrency": 32, "duration": "60s"})
r = Run([kill, "--headless", "--db", dbpath], preexec=lambda: os.umask(0))
r.wait_lines(r"\]\s+rate\s+\d+/s", 9)
rates = [int(x) for x in re.findall(r"\]\s+rate\s+(\d+)/s", r.err())]
os.kill(r.p.pid, signal.SIGKILL)
r.wait()
conn = db(dbpath)
killed = last_session(conn)["id"]
stored = conn.execute("SELECT count(*) FROM samples WHERE session_id=?", (killed,)).fetchone()[0]
printed = sum(rates)
second = max(rates) if rates else 0
print("  progress lines %s: %d printed, %d stored" % (rates, printed, stored))
check(len(rates) >= 8 and stored >= printed - second,
      "stored %d >= printed %d - one second's worth %d (lost %.2f s)" %
      (stored, printed, second, (printed - stored) / second if second else -1))
check(conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "integrity_check ok")
for suffix in ("", "-wal", "-shm"):
    f = dbpath + suffix
    check(os.path.exists(f) and mode(f) == 0o600,
          "%s is 0600 under umask 000 (%s)" % (os.path.basename(f),
                                               oct(mode(f)) if os.path.exists(f) else "missing"))
conn.close()

# --- 4. unfinished sessions ---------------------------------------------------------------
print("4. sessions left unfinished are closed when the database is next opened")
# A run killed before it stored any result: its target never listens.
never = write_scenario(tmp, "never.json", {
    "name": "never", "target": {"transport": "http", "url": "http://127.0.0.1:9/mcp",
                                "command": ["sleep", "60"], "ready_timeout": "60s"},
    "load": {"model": "closed", "concurrency": 1, "duration": "5s"}, "steps": STEP})
r = Run([never, "--headless", "--db", dbpath])
r.wait_lines(r"session \d+ in", 1)
time.sleep(0.3)
os.kill(r.p.pid, signal.SIGKILL)
r.wait()
conn = db(dbpath)
nothing = last_session(conn)["id"]
conn.close()
# A trace whose program cannot be launched (no execute permission) leaves its session behind.
noexec = tmp.file("noexec-true")
shutil.copy("/bin/true", noexec)
os.chmod(noexec, 0o644)
rc, out, err = run_loadscope(["trace", "--db", dbpath, "--", noexec])
conn = db(dbpath)
traced = last_session(conn)["id"]
check(rc == 1 and "cannot launch" in err and traced > nothing and
      conn.execute("SELECT ended_unix_ns FROM sessions WHERE id=?", (traced,)).fetchone()[0] is None,
      "a trace that cannot launch its program leaves session %d unfinished (%s)" %
      (traced, err.strip()))
conn.close()
before = sha(dbpath)
rc, out, err = run_loadscope(["sessions", "--db", dbpath])
rows = {int(line.split()[0]): line for line in out.splitlines()[1:] if line.strip()}
check(rc == 0 and "interrupted" in rows.get(killed, "") and "failed" in rows.get(nothing, "") and
      "failed" in rows.get(traced, ""),
      "`sessions` shows the killed run interrupted, the two that stored nothing failed:\n%s" % out)
check(sha(dbpath) == before, "... without changing the file (read-only)")
short = scenario("short", {"model": "closed", "concurrency": 2, "duration": "1s"})
rc, out, err = run_loadscope(["run", short, "--headless", "--quiet", "--db", dbpath])
conn = db(dbpath)
k = conn.execute("SELECT * FROM sessions WHERE id=?", (killed,)).fetchone()
z = conn.execute("SELECT * FROM sessions WHERE id=?", (nothing,)).fetchone()
last_end = conn.execute("SELECT max(end_ns) FROM samples WHERE session_id=?", (killed,)).fetchone()[0]
ev = conn.execute("SELECT message FROM events WHERE session_id=? AND kind='interrupted'",
                  (killed,)).fetchall()
check(rc == 0 and k["status_text"] == "interrupted" and k["exit_code"] == 130 and
      k["ended_unix_ns"] >= k["started_unix_ns"] + last_end,
      "the killed run: interrupted, exit code 130, ended at its last stored sample")
check(z["status_text"] == "failed" and z["exit_code"] == 1 and z["ended_unix_ns"] > 0,
      "the run killed before storing anything: failed, exit code 1")
t = conn.execute("SELECT * FROM sessions WHERE id=?", (traced,)).fetchone()
check(t["status_text"] == "failed" and t["exit_code"] == 1 and t["ended_unix_ns"] > 0,
      "the trace that could not launch: failed, exit code 1")
check(len(ev) == 1 and "ended without closing this session" in ev[0][0],
      "an event says what happened: %s" % [e[0] for e in ev])
check(conn.execute("SELECT count(*) FROM sessions WHERE ended_unix_ns IS NULL").fetchone()[0] == 0,
      "no session is left unfinished")
conn.close()

# --- 5. read-only use ----------------------------------------------------------------------
print("5. read-only use")
typo = tmp.file("typo.db")
rc, out, err = run_loadscope(["sessions", "--db", typo])
check(rc == 1 and "no session database at %s" % typo in err and not os.path.exists(typo),
      "sessions --db typo.db: exit 1, says so, creates nothing (%s)" % err.strip())
theirs = tmp.file("theirs.db")
import sqlite3
c = sqlite3.connect(theirs)
c.execute("CREATE TABLE users(name TEXT)")
c.execute("INSERT INTO users VALUES ('ada')")
c.commit()
c.close()
before = sha(theirs)
for args in (["sessions", "--db", theirs], ["export", "latest", "--what", "samples", "--db", theirs],
             ["run", short, "--headless", "--db", theirs]):
    rc, out, err = run_loadscope(args)
    check(rc != 0 and "not loadscope's" in err and "users" in err,
          "%s: refused, naming its tables (%s)" % (args[0], err.strip()[:160]))
check(sha(theirs) == before and not os.path.exists(theirs + "-wal"),
      "another program's database is byte for byte untouched")

if IS_ROOT:
    ro = tmp.file("ro")
    os.mkdir(ro)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", ro],
                      capture_output=True).returncode == 0:
        shutil.copy(dbpath, os.path.join(ro, "s.db"))
        subprocess.run(["mount", "-o", "remount,ro", ro], check=True)
        rodb = os.path.join(ro, "s.db")
        rc, out, err = run_loadscope(["sessions", "--db", rodb])
        check(rc == 0 and "interrupted" in out, "sessions on a read-only mount (%s)" % err.strip())
        rc, out, err = run_loadscope(["export", str(killed), "--what", "summary", "--db", rodb])
        check(rc == 0 and out.startswith("step,"), "export on a read-only mount (%s)" % err.strip())
        subprocess.run(["umount", ro])
    else:
        print("  (no tmpfs: the read-only mount is not tried)")
    # Another user's file: readable, in a directory we may not write.
    other = tmp.file("other")
    os.mkdir(other)
    shutil.copy(dbpath, os.path.join(other, "s.db"))
    os.chmod(os.path.join(other, "s.db"), 0o644)
    os.chmod(other, 0o755)
    nobody = lambda: (os.setgid(65534), os.setuid(65534))
    p = subprocess.run([BIN, "sessions", "--db", os.path.join(other, "s.db")], capture_output=True,
                       text=True, preexec_fn=nobody)
    check(p.returncode == 0 and "interrupted" in p.stdout,
          "another user's database is listed (%s)" % p.stderr.strip())
    p = subprocess.run([BIN, "export", str(killed), "--what", "summary", "--db",
                        os.path.join(other, "s.db")], capture_output=True, text=True,
                       preexec_fn=nobody)
    check(p.returncode == 0 and p.stdout.startswith("step,"),
          "and exported (%s)" % p.stderr.strip())
else:
    print("  (not root: the read-only mount and another user's file are not tried)")

# --- 6. export -o: a planted symlink, the umask ------------------------------------------
print("6. export -o F with a symlink planted at F.tmp")
victim = tmp.file("victim.txt")
with open(victim, "w") as f:
    f.write("precious\n")
out_csv = tmp.file("out.csv")
os.symlink(victim, out_csv + ".tmp")
p = subprocess.run([BIN, "export", str(killed), "--what", "intervals", "--db", dbpath, "-o", out_csv],
                   capture_output=True, text=True, preexec_fn=lambda: os.umask(0o022))
check(p.returncode == 0 and open(victim).read() == "precious\n",
      "the symlink's target keeps its bytes (%s)" % p.stderr.strip())
check(os.path.islink(out_csv + ".tmp") and not os.path.islink(out_csv) and
      open(out_csv).read().startswith("second,"), "F is the CSV; the planted link is left alone")
check(mode(out_csv) == 0o644, "F is 0644 under umask 022 (%s)" % oct(mode(out_csv)))
private = tmp.file("private.csv")
p = subprocess.run([BIN, "export", str(killed), "--what", "intervals", "--db", dbpath, "-o", private],
                   capture_output=True, text=True, preexec_fn=lambda: os.umask(0o077))
check(p.returncode == 0 and mode(private) == 0o600,
      "F is 0600 under umask 077 (%s)" % oct(mode(private)))

echo.terminate()
echo.wait(10)
shutil.rmtree(tmp.path, ignore_errors=True)
finish()
