"""`loadscope compare`: a known slowdown found, no change called on noise.

The echo fixture (build/mcp_echo_server) serves one virtual user; a second
server adds a known service time (--delay-us 2000) to every call. Checks:
- compare A B calls p50 worse, and the interval of the p50 change holds the
  planted 2 ms (a sleep overshoots by a little, never less: the interval
  lies in [2 ms, 3 ms]); `--fail-if 'p50 +10%'` exits 99, `--fail-if
  'p50 +50ms'` exits 0; a gate on an unknown step is refused (exit 2);
- compare A A calls nothing different;
- A/A calibration (random halves of a 16-second session, 100 rounds): p50 is
  called different in at most 12 of 100 (the promise is about 5);
- latest~1 names the session before the latest.
"""
import os
import re
import subprocess
import time

from lsutil import BIN, TempDir, check, finish, run_loadscope, write_scenario

tmp = TempDir()
dbpath = tmp.file("cmp.db")
ECHO = os.path.join(os.environ.get("LOADSCOPE_BUILD") or os.path.dirname(BIN), "mcp_echo_server")


def serve(delay_us):
    out = tmp.file("echo-%d.out" % delay_us)
    p = subprocess.Popen([ECHO, "--port", "0", "--delay-us", str(delay_us)], stdout=open(out, "w"),
                         stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        m = re.search(r"^LISTENING (http:\S+)$", open(out).read(), re.M)
        if m:
            return p, m.group(1)
        time.sleep(0.05)
    p.kill()
    raise RuntimeError("the echo server did not start")


def run(name, url, seconds):
    path = write_scenario(tmp, name + ".json", {
        "name": name,
        "target": {"transport": "http", "url": url},
        "load": {"model": "closed", "concurrency": 1, "duration": "%ds" % seconds, "warmup": "1s"},
        "steps": [{"name": "echo", "method": "tools/call", "tool": "echo", "arguments": {"message": "x"}}],
    })
    rc, out, err = run_loadscope(["run", path, "--headless", "--quiet", "--db", dbpath], timeout=120)
    check(rc == 0, "%s ran (%d) %s" % (name, rc, err[-300:]))


def compare(*args):
    p = subprocess.run([BIN, "compare", "--db", dbpath] + list(args), capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout, p.stderr


def row(out, step, metric):
    """(A, B, change, interval text, verdict) of a metric in a step's block."""
    block = out.split("\n" + step + "\n", 1)[1]
    for line in block.split("\n"):
        if line.startswith("  %s " % metric):
            return line
    return ""


def ms(text):
    v = float(re.match(r"[+-]?([\d.]+)", text).group(1))
    return v if text.rstrip().endswith("ms") else v / 1000 if text.rstrip().endswith("us") else v * 1000


fast, url_fast = serve(0)
slow, url_slow = serve(2000)
try:
    run("fast", url_fast, 16)    # session 1
    run("slow", url_slow, 4)     # session 2
finally:
    for p in (fast, slow):
        p.terminate()
        p.wait(timeout=10)

rc, out, err = compare("1", "2", "--fail-if", "p50 +10%")
check(rc == 99, "the slowdown crosses 'p50 +10%%' (exit %d) %s" % (rc, err[-200:]))
p50 = row(out, "ALL STEPS", "p50")
check(p50.rstrip().endswith("worse"), "p50 called worse: %s" % p50.strip())
m = re.search(r"\[([+-][\d.]+m?s|[+-][\d.]+us), ([+-][\d.]+m?s|[+-][\d.]+us)\]", p50)
check(m is not None and 2.0 <= ms(m.group(1)) <= ms(m.group(2)) <= 3.0,
      "the interval of the p50 change holds the planted 2 ms (%s)" % (m and m.groups(),))
check(row(out, "echo", "p50").rstrip().endswith("worse"), "and for the step echo")
check("GATE p50 +10%: holds" in out, "the gate says it holds")
rc, out, _ = compare("1", "2", "--fail-if", "p50 +50ms")
check(rc == 0 and "no condition holds" in out, "'p50 +50ms' does not hold (exit %d)" % rc)
rc, _, err = compare("1", "2", "--fail-if", "nosuch: p50 +10%")
check(rc == 2 and "no step \"nosuch\"" in err, "a gate on an unknown step is refused (%d: %s)" % (rc, err.strip()))
rc, out, _ = compare("latest~1", "latest")
check(rc == 0 and "A: session 1 (fast)" in out and "B: session 2 (slow)" in out, "latest~1 and latest")

rc, out, _ = compare("1", "1")
verdicts = re.findall(r"(better|worse)\s*$", out, re.M)
check(rc == 0 and not verdicts, "A against itself: nothing called different (%s)" % verdicts)

# A/A: random halves of one session, 100 times. A method that counted requests as independent
# calls nearly every split different; a 95% interval promises about 5 of 100 (a percentile
# bootstrap over 8 seconds a side runs a little narrow; the bound leaves it room).
rc, out, err = compare("--calibrate", "1", "--rounds", "100", "--resamples", "500")
m = re.search(r"p50\s+called different in\s+(\d+) of 100", out)
check(rc == 0 and m is not None and int(m.group(1)) <= 12,
      "A/A: p50 called different in at most 12 of 100 random splits (%s)" % (m and m.group(1)))
print(out)
finish()
