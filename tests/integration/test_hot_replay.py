"""Live and replay show the same Hot paths for the same second.

The Hot paths screen ranks one model (core/alloc/hotpaths.h): the live run's
tracer feeds it as each second closes, and replay feeds it from SQLite. This
test drives both through tmux, as a person would: a Rust MCP server
(fixtures/alloc/mcp_server.rs) under sampled tracing, the dashboard on Hot paths;
whenever the screen's "over Ns" changes, the totals line and the table are
captured (kept once three captures 0.3 s apart agree, so a second's
requests that arrived after its rows are in). Then `loadscope replay` of the same
session is paused, sent to second 0 (Home) and stepped one second at a time
(Right); at each captured second its totals line and table must equal the
live ones, character for character (as many table rows as both screens
show).
"""
import os
import re
import shlex
import subprocess
import time

import lstmux
from lstmux import PROMPT, exited, has, keys, screen, tmux, typeline
from lsutil import BIN, SRC, TempDir, check, db, finish, last_session, rustc, write_scenario

tmp = TempDir()
dbpath = tmp.file("hot.db")

rc_path = rustc()
check(rc_path is not None, "rustc found (PATH or ~/.cargo/bin)")
server = tmp.file("mcp_server")
build = subprocess.run([rc_path, "-O", "-g", "-C", "force-frame-pointers=yes", "-o", server,
                        os.path.join(SRC, "fixtures", "alloc", "mcp_server.rs")],
                       capture_output=True, text=True, timeout=300)
check(build.returncode == 0, "fixtures/alloc/mcp_server.rs builds (%s)" % build.stderr[-300:])
scenario = write_scenario(tmp, "hot.json", {
    "name": "hot replay test",
    "target": {"transport": "stdio", "command": [server, tmp.file("stats")]},
    "load": {"model": "closed", "concurrency": 2, "duration": "10s", "warmup": "0s"},
    "steps": [{"name": "echo", "method": "tools/call", "tool": "echo", "arguments": {"message": "m${seq}"}}],
})

TOTALS = re.compile(r"^ allocations \S+\s+\S+/s\s+\S+/req\s+live \S+\s+stacks \d+\s+over (\d+)s")
ROW = re.compile(r"^\s+\d+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\d+%\s")


def figures(lines):
    """(second, the totals line and the ranked rows) of a Hot paths screen, or None."""
    tot = [l for l in lines if TOTALS.match(l)]
    if len(tot) != 1:
        return None
    rows = [l.rstrip() for l in lines if ROW.match(l)]
    return int(TOTALS.match(tot[0]).group(1)), [tot[0].rstrip()] + rows


tmux("kill-server", check_rc=False)
env_cmd = "env -i PATH=%s HOME=%s TERM=screen PS1='%s ' bash --norc --noprofile -i" % (
    shlex.quote(os.environ.get("PATH", "/usr/bin:/bin")), shlex.quote(tmp.path), PROMPT)
tmux("new-session", "-d", "-s", "t", "-x", "120", "-y", "40", "-c", tmp.path, env_cmd)
tmux("set-option", "-t", "t", "window-size", "manual")
live = {}
try:
    lstmux.wait_for(has(PROMPT), "the shell prompt")
    typeline("%s run %s --db %s --workers 1 --trace-allocations=sampled; echo LSEXIT=$?" % (BIN, scenario, dbpath))
    lstmux.wait_for(has("5 Hot paths"), "the Hot paths tab", timeout=40)
    keys("5")
    lstmux.wait_for(has("[5 Hot paths]"), "the Hot paths screen")
    # Follow the run: keep each second's figures once three captures in a row
    # (0.3 s apart) agree, so requests that came after the rows are in.
    streak, prev = 0, None
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        lines = screen()
        if any("DONE" in l for l in lines[:2]):
            break
        f = figures(lines)
        streak = streak + 1 if f and f == prev else 1
        if f and streak >= 3 and f[0] > 0 and len(f[1]) > 1:
            live[f[0]] = f[1]
        prev = f
        time.sleep(0.3)
    check(len(live) >= 2, "live: figures captured for %d seconds (%s)" % (len(live), sorted(live)))
    keys("q")
    lines = lstmux.wait_for(exited, "the shell after q", timeout=60)
    check(any(l.strip() == "LSEXIT=0" for l in lines), "the live run exits 0")

    conn = db(dbpath)
    sid = last_session(conn)["id"]
    missing = conn.execute("SELECT count(DISTINCT stack_key) FROM alloc_intervals WHERE session_id = ? AND "
                           "stack_key NOT IN (SELECT stack_key FROM alloc_stacks WHERE session_id = ?)",
                           (sid, sid)).fetchone()[0]
    check(missing == 0, "every stack with stored rows is stored (%d missing)" % missing)
    sid = last_session(conn)["id"]
    typeline("clear; %s replay %d --db %s; echo LSEXIT=$?" % (BIN, sid, dbpath))
    lstmux.wait_for(has("REPLAY"), "the replay")
    keys("4")
    lstmux.wait_for(has("[4 Hot paths]"), "replay: Hot paths")
    keys("Space")  # pause
    lstmux.wait_for(has(" paused "), "replay paused")
    keys("Home")
    lstmux.wait_for(lambda l: figures(l) is None or figures(l)[0] == 0, "replay at second 0")
    agree, compared = [], 0
    for second in range(1, max(live) + 1 if live else 1):
        keys("Right")
        lines = lstmux.wait_for(lambda l, s=second: figures(l) is not None and figures(l)[0] == s,
                                "replay at second %d" % second, timeout=10)
        if second in live:
            compared += 1
            got = figures(lines)[1]
            # The replay's key line takes two rows at 120 columns: compare the rows both show.
            n = min(len(got), len(live[second]))
            if n >= 10 and got[:n] == live[second][:n]:
                agree.append(second)
            else:
                diff = [(i, a, b) for i, (a, b) in enumerate(zip(live[second], got)) if a != b]
                print("  second %d: %d live lines, %d replay lines; first difference %s" % (
                    second, len(live[second]), len(got), diff[:1]))
    check(compared >= 2 and len(agree) == compared,
          "replay shows the live Hot paths at each captured second (%d of %d agree)" % (len(agree), compared))
    keys("q")
    lstmux.wait_for(exited, "the shell after replay", timeout=15)
finally:
    tmux("kill-server", check_rc=False)

finish()
