"""The dashboard's Hot paths screen, driven through tmux as a person would.

A run with --trace-allocations=sampled against @modelcontextprotocol/
server-everything over stdio (node, launched and stopped by loadscope):
- the screen tabs gain "5 Hot paths"; the screen shows the target's pid, RSS,
  CPU and threads by name, and a ranked table; the Overview gets a top-3 panel;
- s toggles the ranking between allocations/s and bytes/s, Enter opens the
  selected path's full stack and Esc closes it; the bottom line lists them;
- at the end of the run, the top path's blame, allocation count, per-request
  figure and stack on screen equal what was stored (alloc_stacks and
  alloc_intervals), ranked by allocations and by bytes;
- 80x24 keeps every line within the width, the table, the detail and the
  Overview's panel;
- replay of the session shows Hot paths as screen 4 with the same top path.

tmux runs on a private socket and its server is killed at the end.
"""
import os
import re
import shlex
import subprocess
import time

import lstmux
from lstmux import PROMPT, exited, has, keys, screen, tmux, typeline
from lsutil import BIN, EVERYTHING, TempDir, check, db, finish, run_loadscope, write_scenario

tmp = TempDir()
dbpath = tmp.file("hot.db")


def wait_for(pred, what, timeout=40):
    """As lstmux.wait_for, with a longer default: node under the tracer starts slowly."""
    return lstmux.wait_for(pred, what, timeout)


def key_line(lines):
    out = []
    for l in reversed(lines):
        if not l.strip():
            break
        if "quit" in l or "screen" in l or "sort" in l or "back" in l:
            out.insert(0, l)
        else:
            break
    return " ".join(out)


def fmt_count(v):
    """dash_hot.c's fmt_count."""
    if v < 1000:
        return ("%.2f" if v < 100 and v != int(v) else "%.0f") % v
    if v < 1e6:
        return "%.1fk" % (v / 1e3)
    if v < 1e9:
        return "%.2fM" % (v / 1e6)
    return "%.2fG" % (v / 1e9)


def table_rows(lines):
    """Ranked rows of the Hot paths table: {rank: fields}."""
    out = {}
    for l in lines:
        m = re.match(r"^\s+(\d+)\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\d+%\s", l)
        if m:
            out[int(m.group(1))] = l.split()
    return out


def detail(lines):
    """(title, allocs) of the selected path's detail under the table."""
    title = allocs = None
    for i, l in enumerate(lines):
        m = re.match(r"^ #1 (.*?)\s+pid \d+\s*$", l)
        if m and i + 1 < len(lines):
            a = re.search(r"allocs (\d+)\s+bytes", lines[i + 1])
            if a:
                title, allocs = m.group(1), int(a.group(1))
    return title, allocs


def settled(read, what, timeout=60):
    """Waits until read() gives one value three times over 3 s; returns it."""
    deadline = time.monotonic() + timeout
    seen = [read()]
    while time.monotonic() < deadline:
        time.sleep(1.5)
        seen.append(read())
        if len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3] and seen[-1][0][1] is not None:
            return seen[-1]
    raise RuntimeError("figures never settled: " + what)


def stored_top(conn, sid, by):
    """The stored top path by allocations or bytes: (blame, allocs, bytes, frames)."""
    r = conn.execute(
        "SELECT k.blame_function, k.blame_file, k.blame_line, k.frames, sum(i.allocs) AS a, sum(i.bytes) AS b"
        " FROM alloc_stacks k JOIN alloc_intervals i ON i.session_id = k.session_id AND i.stack_key = k.stack_key"
        " WHERE k.session_id = ? GROUP BY k.stack_key ORDER BY %s DESC, k.stack_key LIMIT 1" % by,
        (sid,)).fetchone()
    base = os.path.basename(r["blame_file"] or "")
    blame = "%s (%s:%d)" % (r["blame_function"], base, r["blame_line"]) if base else r["blame_function"]
    return blame, r["a"], r["b"], r["frames"]


scenario = write_scenario(tmp, "hot.json", {
    "name": "hot paths test",
    "target": {"transport": "stdio", "command": ["node", EVERYTHING, "stdio"]},
    "load": {"model": "closed", "concurrency": 4, "duration": "4s", "warmup": "0s"},
    "steps": [{"name": "echo", "method": "tools/call", "tool": "echo", "arguments": {"message": "m${seq}"}}],
})

tmux("kill-server", check_rc=False)
env_cmd = "env -i PATH=%s HOME=%s TERM=screen PS1='%s ' bash --norc --noprofile -i" % (
    shlex.quote(os.environ.get("PATH", "/usr/bin:/bin")), shlex.quote(tmp.path), PROMPT)
tmux("new-session", "-d", "-s", "t", "-x", "120", "-y", "40", "-c", tmp.path, env_cmd)
tmux("set-option", "-t", "t", "window-size", "manual")
try:
    wait_for(has(PROMPT), "the shell prompt")
    typeline("%s run %s --db %s --workers 1 --trace-allocations=sampled; echo LSEXIT=$?" % (BIN, scenario, dbpath))
    lines = wait_for(has("5 Hot paths"), "the Hot paths tab")
    check("Tab/1-5 screen" in key_line(lines), "traced run: five screens listed")
    lines = wait_for(has("allocation hot paths"), "the Overview's hot-path panel")
    check(True, "Overview: hot-path panel shown")
    keys("5")
    lines = wait_for(lambda l: has("[5 Hot paths]")(l) and len(table_rows(l)) >= 3 and has("CPU ")(l)
                     and not has("CPU ...")(l), "Hot paths rows and the target's CPU")
    procline = [l for l in lines if re.match(r"^ pid \d+\s+RSS \S+\s+CPU [\d.]+%\s+threads \d+\s+node x\d+", l)]
    check(len(procline) == 1, "Hot paths: target pid, RSS, CPU and threads by name (%s)" % procline)
    check(any("allocs/s*" in l and "blame: function (file:line)" in l for l in lines),
          "Hot paths: ranked by allocs/s at first, blame column")
    kl = key_line(lines)
    for k in ("Up/Down path", "Enter stack", "s sort by bytes", "q quit"):
        check(k in kl, "Hot paths lists '%s'" % k)
    keys("s")
    lines = wait_for(lambda l: has("bytes/s*")(l) and "s sort by allocs" in key_line(l), "s: by bytes")
    rows = table_rows(lines)
    check(True, "s: ranking by bytes/s, key line offers allocs")
    keys("s")
    wait_for(has("allocs/s*"), "s: back to allocs")
    keys("Enter")
    lines = wait_for(has("stack of #1"), "Enter opens the stack")
    try:
        lines = wait_for(lambda l: "Enter/Esc back" in key_line(l) and any(re.match(r"^\s+0 \S", x) for x in l),
                         "the stack's frames and keys", timeout=5)
        check(True, "Enter: the full stack, frame 0 first, key line offers back")
    except RuntimeError:
        check(False, "Enter: the full stack, frame 0 first, key line offers back")
    keys("Escape")
    wait_for(has("allocs/s*"), "Esc closes the stack")
    check(True, "Esc: back to the table")

    # --- the end: the load has stopped (the idle target stays up until loadscope exits); the
    # tracer may still be reading and symbolizing a backlog: wait until the figures stand still
    wait_for(has("DONE"), "the end of the run", timeout=60)
    top_allocs = settled(lambda: (detail(screen()), table_rows(screen()).get(1)), "top path by allocations")[0]
    lines = screen()
    row1 = table_rows(lines).get(1)
    keys("s")
    wait_for(has("bytes/s*"), "by bytes at the end")
    time.sleep(0.8)
    top_bytes_title = detail(screen())[0]
    keys("s")
    wait_for(has("allocs/s*"), "allocs again")
    keys("Enter")
    stack_lines = wait_for(has("stack of #1"), "the stack at the end")
    at = [i for i, l in enumerate(stack_lines) if "stack of #1" in l][0]
    frames_on_screen = [re.sub(r"^\s+\d+ ", "", l).rstrip() for l in stack_lines[at + 1:]
                        if re.match(r"^\s+\d+ \S", l)]
    keys("Escape")
    wait_for(has("allocs/s*"), "table again")

    # --- 80x24
    tmux("resize-window", "-t", "t", "-x", "80", "-y", "24")
    lines = wait_for(lambda l: len(l) == 24 and has("[5 Hot paths]")(l), "the 80x24 redraw")
    time.sleep(0.4)
    lines = screen()
    check(all(len(l) <= 80 for l in lines), "80x24: no line wider than 80")
    check(len(table_rows(lines)) >= 5 and any(re.match(r"^   allocs \d+  bytes ", l) for l in lines)
          and "q quit" in key_line(lines),
          "80x24: table, detail of the selected path and key line")
    keys("1")
    lines = wait_for(lambda l: len(l) == 24 and has("[1 Overview]")(l), "80x24 overview")
    time.sleep(0.4)
    lines = screen()
    check(has("allocation hot paths")(lines) and any(l.startswith(" step ") for l in lines)
          and has("percentile")(lines), "80x24 Overview: histogram, steps and the hot-path panel fit")
    panel = [l for l in lines if re.match(r"^ [123] +\S+/s", l)]
    check(len(panel) == 3, "80x24 Overview: top 3 paths in the panel (%d)" % len(panel))
    tmux("resize-window", "-t", "t", "-x", "120", "-y", "40")
    wait_for(lambda l: len(l) == 40, "back to 120x40")

    keys("q")
    lines = wait_for(exited, "the shell after q", timeout=60)
    check(any(l.strip() == "LSEXIT=0" for l in lines), "q: exit 0")

    conn = db(dbpath)
    sid = conn.execute("SELECT max(id) FROM sessions").fetchone()[0]
    blame, allocs, nbytes, frames = stored_top(conn, sid, "a")
    check(top_allocs[0] and blame.startswith(top_allocs[0]) and top_allocs[1] == allocs,
          "end: top path by allocations on screen %s == stored %s" % (top_allocs, (blame, allocs)))
    requests = conn.execute("SELECT sum(count) FROM intervals WHERE session_id=? AND step=-1", (sid,)).fetchone()[0]
    want = fmt_count(allocs / requests)
    check(row1 is not None and row1[3] == want, "end: top path's allocations per request %s == stored %d/%d (%s)"
          % (row1 and row1[3], allocs, requests, want))
    bblame = stored_top(conn, sid, "b")[0]
    check(top_bytes_title and bblame.startswith(top_bytes_title), "end: top path by bytes on screen %r == stored %r" % (top_bytes_title, bblame))
    want_frames = frames.split("\n")
    n = min(len(want_frames), len(frames_on_screen))
    check(n >= min(len(want_frames), 20) and all(want_frames[i].startswith(frames_on_screen[i]) and frames_on_screen[i]
                                                  for i in range(n)),
          "end: full stack on screen is the stored one (%d of %d frames shown)" % (n, len(want_frames)))
    for i in range(n):
        if not want_frames[i].startswith(frames_on_screen[i]):
            print("  frame %d: screen %r, stored %r" % (i, frames_on_screen[i], want_frames[i]))
            break

    # --- replay: Hot paths is screen 4 (no Target), the same top path at the end
    typeline("clear; %s replay %d --db %s; echo LSEXIT=$?" % (BIN, sid, dbpath))
    lines = wait_for(has("REPLAY"), "the replay")
    check("Tab/1-4 screen" in key_line(lines) and has("4 Hot paths")(lines), "replay: Hot paths is screen 4")
    keys("End")
    wait_for(has("REPLAY END"), "End")
    # e on a traced session writes its hot paths too, the same bytes `loadscope export` writes.
    keys("e")
    lines = wait_for(has("exported loadscope-"), "e exports", timeout=30)
    got = {}
    for what, name in (("hotpaths", "hotpaths.csv"), ("folded", "stacks.folded")):
        path = os.path.join(tmp.path, "loadscope-%d-%s" % (sid, name))
        rc, ref, _ = run_loadscope(["export", str(sid), "--what", what, "--db", dbpath])
        got[name] = os.path.exists(path) and rc == 0 and open(path).read() == ref and len(ref) > 0
    check(all(got.values()), "e in replay of a traced session: hot paths CSV and folded stacks "
          "written, equal to loadscope export (%s)" % got)
    keys("4")
    lines = wait_for(lambda l: has("[4 Hot paths]")(l) and detail(l)[1] is not None, "replay Hot paths")
    d = detail(lines)
    check(d[0] and blame.startswith(d[0]) and d[1] == allocs, "replay end: top path %s == stored %s" % (d, (blame, allocs)))
    keys("q")
    lines = wait_for(exited, "the shell after replay", timeout=15)
    check(any(l.strip() == "LSEXIT=0" for l in lines), "replay: q exits 0")
finally:
    tmux("kill-server", check_rc=False)

finish()
