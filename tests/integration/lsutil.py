"""Shared helpers for loadscope's integration tests.

The tests drive the real loadscope binary against real MCP servers on
127.0.0.1, then read back what it stored in SQLite with Python's own sqlite3
module and check it against an exact computation.
"""
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("LOADSCOPE_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "loadscope")
SRC = os.environ.get("LOADSCOPE_SRC") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(SRC, "fixtures")
EVERYTHING = os.path.join(FIXTURES, "node_modules", "@modelcontextprotocol",
                          "server-everything", "dist", "index.js")
HTTP_SERVER = os.path.join(FIXTURES, "mcp-http-server.mjs")

SF_NEW_CONN, SF_WARMUP, SF_LATE = 1, 2, 4

failures = []


def rustc():
    """rustc from PATH, else rustup's copy in ~/.cargo/bin; None when there is none."""
    import shutil
    found = shutil.which("rustc")
    if found:
        return found
    home = os.path.expanduser("~/.cargo/bin/rustc")
    return home if os.path.exists(home) else None


def check(cond, what):
    """Records a failed expectation without stopping the test, and prints it."""
    if cond:
        print("  ok   " + what)
    else:
        print("  FAIL " + what)
        failures.append(what)


def finish():
    """Prints the closing line and exits non-zero on any failure."""
    passed = "failed" if failures else "passed"
    print("%s: %d failure(s)" % (passed, len(failures)))
    sys.exit(1 if failures else 0)


class TempDir:
    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="loadscope-it-")

    def file(self, name):
        return os.path.join(self.path, name)


def write_scenario(tmp, name, scenario):
    path = tmp.file(name)
    with open(path, "w") as f:
        json.dump(scenario, f, indent=2)
    return path


def run_loadscope(args, timeout=120, env=None):
    """Runs loadscope to completion; returns (exit code, stdout, stderr)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=timeout, env=e)
    return p.returncode, p.stdout, p.stderr


class HttpServer:
    """The fixture MCP server on 127.0.0.1 with a port it picks itself; stopped by PID."""

    def __init__(self, tmp, mode="sse", delay_ms=0, extra=()):
        self.port_file = tmp.file("port-%s-%d" % (mode, time.monotonic_ns()))
        self.log = open(tmp.file("server-%s.log" % mode), "w")
        self.proc = subprocess.Popen(
            ["node", HTTP_SERVER, "--port", "0", "--mode", mode, "--delay-ms", str(delay_ms),
             "--port-file", self.port_file] + list(extra),
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        self.port = None
        while time.monotonic() < deadline:
            if os.path.exists(self.port_file):
                txt = open(self.port_file).read().strip()
                if txt:
                    self.port = int(txt)
                    break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise RuntimeError("fixture server did not start")
        self.url = "http://127.0.0.1:%d/mcp" % self.port

    def stats(self):
        import urllib.request
        with urllib.request.urlopen("http://127.0.0.1:%d/stats" % self.port, timeout=5) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def db(path):
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    return conn


def last_session(conn):
    return conn.execute("SELECT * FROM sessions ORDER BY id DESC LIMIT 1").fetchone()


def hdr_rank_value(values, p):
    """The exact order statistic HdrHistogram's percentile definition picks."""
    n = len(values)
    if n == 0:
        return 0
    if p >= 100:
        return values[-1]
    rank = max(1, int(p / 100.0 * n + 0.5))
    return values[min(rank, n) - 1]


def close_to_hdr(exact, got):
    """An HDR answer is the highest value of the bucket holding the exact value (3 digits)."""
    return exact <= got <= exact + max(1, math.ceil(exact / 1000.0)) * 2


def measured_latencies(conn, session, step, corrected=True):
    """Microsecond latencies of a step's measured samples, rounded as loadscope records them."""
    col = "intended_ns" if corrected else "start_ns"
    rows = conn.execute(
        "SELECT end_ns - %s AS lat FROM samples WHERE session_id=? AND step=? "
        "AND (flags & ?) = 0" % col, (session, step, SF_WARMUP)).fetchall()
    return sorted((r["lat"] + 500) // 1000 for r in rows)
