"""The dashboard driven through tmux, as a person would: a live run against
the fixture MCP server (launched by loadscope, so the Target screen has a
process), every key listed on the bottom line, a resize to 80x24 and back,
q leaving the session stored and the shell's terminal settings unchanged,
and replay of the stored session showing the summary's percentiles.

tmux runs on a private socket (tmux -L lstest-PID) and its server is killed
at the end; the fixture server is launched and stopped by loadscope itself.
"""
import os
import re
import shlex
import signal
import socket
import subprocess
import time

from lstmux import PROMPT, exited, has, keys, screen, tmux, typeline, wait_for
from lsutil import BIN, HTTP_SERVER, TempDir, check, db, finish, write_scenario

tmp = TempDir()
dbpath = tmp.file("dash.db")


def fmt_us(us):
    """report_fmt_us, as the dashboard and the summary print latency."""
    if us < 1000:
        return "%dus" % us
    if us < 1000000:
        return "%.2fms" % (us / 1e3)
    return "%.2fs" % (us / 1e6)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def percentile_table(lines):
    """{name: (corrected, uncorrected)} from the percentile table on screen."""
    out = {}
    for l in lines:
        lat = r"(\d[\d.]*(?:us|ms|s)|-)"
        m = re.search(r"\b(p50|p90|p99|p99\.9|max|mean)\s+%s\s+%s\s*$" % (lat, lat), l)
        if m:
            out[m.group(1)] = (m.group(2), m.group(3))
    return out


def step_row(lines, name):
    for l in lines:
        if l.startswith(" " + name):
            return l.split()
    return None


def key_line(lines):
    """The bottom key line(s): from the last line up, while they look like key help."""
    out = []
    for l in reversed(lines):
        if not l.strip():
            break
        if "quit" in l or "speed" in l or "screen" in l:
            out.insert(0, l)
        else:
            break
    return " ".join(out)


def check_layout(lines, width, what):
    check(all(len(l) <= width for l in lines), "%s: no line wider than %d" % (what, width))
    check(any("loadscope" in l for l in lines[:1]), "%s: title bar on the first line" % what)
    check(any("[1 Overview]" in l for l in lines), "%s: screen tabs shown" % what)
    check(any("percentile" in l for l in lines), "%s: percentile table heading" % what)
    check(any(l.startswith(" step ") for l in lines), "%s: step table heading" % what)
    check("q quit" in key_line(lines), "%s: key line at the bottom" % what)


port = free_port()
url = "http://127.0.0.1:%d/mcp" % port
scenario = write_scenario(tmp, "dash.json", {
    "name": "dashboard test",
    "target": {"transport": "http", "url": url,
               "command": ["node", HTTP_SERVER, "--port", str(port), "--mode", "sse"]},
    "load": {"model": "closed", "concurrency": 4, "duration": "4s", "warmup": "0s"},
    "steps": [
        {"name": "echo", "weight": 3, "method": "tools/call", "tool": "echo",
         "arguments": {"message": "m${seq}"}},
        {"name": "fail", "weight": 1, "method": "tools/call", "tool": "fail"},
    ],
})

tmux("kill-server", check_rc=False)
env_cmd = "env -i PATH=%s HOME=%s TERM=screen PS1='%s ' bash --norc --noprofile -i" % (
    shlex.quote(os.environ.get("PATH", "/usr/bin:/bin")), shlex.quote(tmp.path), PROMPT)
tmux("new-session", "-d", "-s", "t", "-x", "120", "-y", "40", "-c", tmp.path, env_cmd)
tmux("set-option", "-t", "t", "window-size", "manual")
try:
    wait_for(has(PROMPT), "the shell prompt")
    typeline("stty -g > stty.before")
    typeline("%s run %s --db %s --workers 1; echo LSEXIT=$?" % (BIN, scenario, dbpath))

    # --- live: the overview fills in while the run goes
    lines = wait_for(lambda l: has("RUNNING")(l) and has("<=")(l), "a running overview with a histogram")
    check(any(re.match(r"^ <=\s*\S+ #+\s+\d+\s+[\d.]+%", l) for l in lines),
          "live: latency histogram bars drawn")
    check("p99" in percentile_table(lines), "live: percentile table shown")
    check(any("target http://127.0.0.1:%d/mcp" % port in l for l in lines), "live: header names the target")
    keys("4")
    lines = wait_for(has("node"), "the Target screen listing the launched server", timeout=10)
    row = [l for l in lines if "node" in l][0].split()
    check(row[0].isdigit() and ("MiB" in row or "KiB" in row),
          "live: Target screen shows the server's pid and RSS: %s" % " ".join(row))
    keys("1")

    # --- the run ends; the last screen agrees with the stored summary
    # (stored as the run ends, before the last screen says DONE; compared after q)
    lines = wait_for(has("DONE"), "the end of the run", timeout=40)
    time.sleep(0.4)
    done_lines = lines = screen()

    # --- every key on the bottom line
    kl = key_line(lines)
    print("  key line: " + kl)
    listed = ["Tab/1-4 screen", "Up/Down step", "Enter detail", "p pause", "e export", "? keys", "q quit"]
    for k in listed:
        check(k in kl, "overview lists '%s'" % k)
    keys("Tab")
    check("[2 Steps]" in "\n".join(wait_for(has("[2 Steps]"), "Tab")), "Tab: next screen")
    keys("3")
    errors_lines = lines = wait_for(has("[3 Errors]"), "3: Errors")
    m = [re.search(r"(\d+)-(\d+) of (\d+) kept", l) for l in lines]
    m = [x for x in m if x]
    kl = key_line(lines)
    if "Up/Down scroll" in kl and m:
        before = m[0].group(2)
        keys("Up")
        lines = wait_for(lambda l: any(re.search(r"-%d of" % (int(before) - 1), x) for x in l), "Up scrolls")
        check(True, "Errors: Up shows older messages")
        keys("Down")
        wait_for(lambda l: any(re.search(r"-%s of" % before, x) for x in l), "Down scrolls back")
        check(True, "Errors: Down scrolls back")
    check(any("tool_error" in l and "]" in l for l in lines), "Errors screen: last messages listed")
    keys("4")
    wait_for(has("[4 Target]"), "4: Target")
    keys("1")
    lines = wait_for(has("[1 Overview]"), "1: Overview")
    check(any("latency: ALL STEPS" in l for l in lines), "Overview: ALL STEPS selected at first")
    keys("Up")
    wait_for(has("latency: initialize"), "Up selects the step above")
    keys("Up")
    wait_for(has("latency: fail"), "Up again")
    check(True, "Up/Down: selects steps (histogram follows)")
    keys("Enter")
    lines = wait_for(has("[2 Steps]"), "Enter opens the step detail")
    check(any("phase (mean per request)" in l for l in lines), "Enter: step detail with phases")
    check(any("first byte" in l for l in lines) and any("new connections per request" in l for l in lines),
          "step detail: first byte and new connections per request")
    detail_lines = lines
    keys("Down")
    keys("1")
    wait_for(has("latency: initialize"), "Down selects the step below")
    keys("Down")
    wait_for(has("latency: ALL STEPS"), "Down back to ALL STEPS")
    keys("p")
    lines = wait_for(has("PAUSED"), "p pauses")
    check("p resume" in key_line(lines), "p: paused, key line offers resume")
    keys("p")
    wait_for(lambda l: not has("PAUSED")(l), "p resumes")
    check(True, "p: resumed")
    keys("?")
    lines = wait_for(has("any key: close this help"), "? opens the key help")
    check(any("Tab, Shift-Tab" in l for l in lines), "?: key help shown")
    keys("x")
    wait_for(has("[1 Overview]"), "any key closes the help")
    keys("e")
    lines = wait_for(has("exported loadscope-"), "e exports", timeout=30)
    sid = int(re.search(r"session (\d+)", "\n".join(lines)).group(1))
    check(all(os.path.exists(os.path.join(tmp.path, "loadscope-%d-%s.csv" % (sid, w)))
              for w in ("summary", "intervals", "samples"))
          and not os.path.exists(os.path.join(tmp.path, "loadscope-%d-hotpaths.csv" % sid)),
          "e: summary, intervals and samples CSV written (no hot paths: the session was not traced)")

    # --- resize to 80x24 and back
    tmux("resize-window", "-t", "t", "-x", "80", "-y", "24")
    lines = wait_for(lambda l: len(l) == 24 and has("[1 Overview]")(l), "the 80x24 redraw")
    time.sleep(0.4)
    check_layout(screen(), 80, "80x24")
    tmux("resize-window", "-t", "t", "-x", "120", "-y", "40")
    lines = wait_for(lambda l: len(l) == 40 and has("[1 Overview]")(l), "the 120x40 redraw")
    time.sleep(0.4)
    check_layout(screen(), 120, "120x40")

    # --- q: back at the prompt, terminal settings as before, session stored
    keys("q")
    lines = wait_for(exited, "the shell after q", timeout=30)
    check(any(l.strip() == "LSEXIT=0" for l in lines), "q: loadscope exited 0 after a completed run")
    check(any("summary: dashboard test" in l for l in lines), "q: the summary is printed after the dashboard")
    typeline("stty -g > stty.after; cmp -s stty.before stty.after && echo STTY_SAME || echo STTY_DIFF")
    lines = wait_for(lambda l: any(x.strip() in ("STTY_SAME", "STTY_DIFF") for x in l), "stty comparison")
    check(any(l.strip() == "STTY_SAME" for l in lines), "q: terminal modes restored (stty -g unchanged)")
    if not any(l.strip() == "STTY_SAME" for l in lines):
        print("\n".join(lines))
        print(open(os.path.join(tmp.path, "stty.before")).read(), open(os.path.join(tmp.path, "stty.after")).read())
    conn = db(dbpath)
    sm = conn.execute("SELECT * FROM summaries WHERE session_id=? AND step=-1", (sid,)).fetchone()
    table = percentile_table(done_lines)
    for name, col, ucol in (("p50", "p50_us", "u_p50_us"), ("p90", "p90_us", "u_p90_us"),
                            ("p99", "p99_us", "u_p99_us"), ("p99.9", "p999_us", "u_p999_us"),
                            ("max", "max_us", "u_max_us")):
        want = (fmt_us(sm[col]), fmt_us(sm[ucol]))
        check(table.get(name) == want, "live end: %s on screen %s == summary %s" % (name, table.get(name), want))
    allrow = step_row(done_lines, "ALL STEPS")
    check(allrow is not None and int(allrow[2]) == sm["count"],
          "live end: ALL STEPS requests on screen %s == summary %d" % (allrow and allrow[2], sm["count"]))
    check(("errors %8d (" % sm["errors"]) in done_lines[3],
          "live end: header errors == summary errors (%d): %s" % (sm["errors"], done_lines[3].strip()))
    fails = conn.execute("SELECT count(*) FROM samples WHERE session_id=? AND err=6", (sid,)).fetchone()[0]
    check(any(re.search(r"tool_error\s+%d\s" % fails, l) for l in errors_lines),
          "Errors screen: tool_error count == stored failures (%d)" % fails)
    fail_row = conn.execute("SELECT count FROM summaries WHERE session_id=? AND step=1", (sid,)).fetchone()[0]
    check(any(("requests %d " % fail_row) in l for l in detail_lines),
          "step detail: requests of 'fail' == summary (%d)" % fail_row)
    st = conn.execute("SELECT status_text, exit_code FROM sessions WHERE id=?", (sid,)).fetchone()
    check(st["status_text"] == "completed" and st["exit_code"] == 0, "q: session stored as completed")
    n = conn.execute("SELECT count(*) FROM samples WHERE session_id=?", (sid,)).fetchone()[0]
    tot = conn.execute("SELECT sum(count) FROM summaries WHERE session_id=? AND step>=0", (sid,)).fetchone()[0]
    check(n == tot, "q: every sample stored (%d == summary total %d)" % (n, tot))

    # --- replay (monochrome, NO_COLOR) shows the headless summary's percentiles
    typeline("clear; NO_COLOR=1 TERM=vt100 %s replay %d --db %s; echo LSEXIT=$?" % (BIN, sid, dbpath))
    lines = wait_for(has("REPLAY"), "the replay screen")
    kl = key_line(lines)
    for k in ("space/p", "-/+ speed", "Left/Right 1s", "[/] 10s", "Home/End", "w worst", "e export"):
        check(k in kl, "replay lists '%s'" % k)
    check("Tab/1-3 screen" in kl, "replay: three screens (no Target)")
    keys("End")
    lines = wait_for(has("REPLAY END"), "End jumps to the end")
    time.sleep(0.4)
    lines = screen()
    table = percentile_table(lines)
    for name, col, ucol in (("p50", "p50_us", "u_p50_us"), ("p90", "p90_us", "u_p90_us"),
                            ("p99", "p99_us", "u_p99_us"), ("p99.9", "p999_us", "u_p999_us"),
                            ("max", "max_us", "u_max_us")):
        want = (fmt_us(sm[col]), fmt_us(sm[ucol]))
        check(table.get(name) == want, "replay: %s %s == summary %s" % (name, table.get(name), want))
    allrow = step_row(lines, "ALL STEPS")
    check(allrow is not None and int(allrow[2]) == sm["count"], "replay: ALL STEPS requests == summary")
    keys("Home")
    wait_for(lambda l: has("0.0s/")(l) or has("0.1s/")(l), "Home goes to the start")
    check(True, "replay: Home")
    keys("space")
    lines = wait_for(has("playing"), "space plays")
    keys("space")
    wait_for(has("paused"), "space pauses")
    keys("+")
    wait_for(has(" 2x "), "+ speeds up")
    keys("-")
    keys("-")
    wait_for(has(" 0.5x "), "- slows down")
    check(True, "replay: space, +, - work")
    keys("Right")
    wait_for(has("1.0s/"), "Right: one second on")
    keys("]")
    wait_for(has("REPLAY END"), "]: ten seconds on (clamped to the end)")
    keys("[")
    wait_for(has("0.0s/"), "[: ten seconds back")
    keys("Right")
    keys("Right")
    wait_for(has("2.0s/"), "Right twice")
    keys("Left")
    wait_for(has("1.0s/"), "Left: one second back")
    check(True, "replay: Left/Right, [ and ] seek")
    worst = conn.execute("SELECT second, p99_us FROM intervals WHERE session_id=? AND step=-1 AND count>0 "
                         "ORDER BY p99_us DESC, second ASC LIMIT 1", (sid,)).fetchone()
    keys("w")
    lines = wait_for(has("worst second"), "w jumps to the worst second")
    check(any(("worst second %d (p99 %s)" % (worst["second"] + 1, fmt_us(worst["p99_us"]))) in l for l in lines),
          "w: worst second %d with p99 %s" % (worst["second"] + 1, fmt_us(worst["p99_us"])))
    keys("q")
    lines = wait_for(exited, "the shell after replay", timeout=15)
    check(any(l.strip() == "LSEXIT=0" for l in lines), "replay: q exits 0")
    typeline("stty -g > stty.after2; cmp -s stty.before stty.after2 && echo STTY2_SAME || echo STTY2_DIFF")
    lines = wait_for(lambda l: any(x.strip() in ("STTY2_SAME", "STTY2_DIFF") for x in l), "stty after replay")
    check(any(l.strip() == "STTY2_SAME" for l in lines), "replay: terminal modes restored")
    if not any(l.strip() == "STTY2_SAME" for l in lines):
        print("\n".join(lines))
        print(open(os.path.join(tmp.path, "stty.before")).read(), open(os.path.join(tmp.path, "stty.after2")).read())

    # --- Ctrl-C in replay: exit 130, terminal as it was
    typeline("clear; %s replay %d --db %s; echo LSEXIT=$?" % (BIN, sid, dbpath))
    wait_for(has("REPLAY"), "the replay, to interrupt it")
    keys("C-c")
    lines = wait_for(exited, "the shell after Ctrl-C", timeout=15)
    check(any(l.strip() == "LSEXIT=130" for l in lines), "Ctrl-C: replay exits 130")
    typeline("stty -g > stty.after4; cmp -s stty.before stty.after4 && echo STTY4_SAME || echo STTY4_DIFF")
    lines = wait_for(lambda l: any(x.strip() in ("STTY4_SAME", "STTY4_DIFF") for x in l), "stty after Ctrl-C")
    check(any(l.strip() == "STTY4_SAME" for l in lines), "Ctrl-C: terminal modes restored")
    state = tmux("display-message", "-p", "-t", "t", "#{alternate_on} #{cursor_flag}").strip()
    check(state == "0 1", "Ctrl-C: back on the main screen with the cursor shown (%r)" % state)

    # --- SIGUSR1 and SIGUSR2 do not end the dashboard (they would leave curses' modes behind)
    typeline("clear; %s replay %d --db %s; echo LSEXIT=$?" % (BIN, sid, dbpath))
    wait_for(has("REPLAY"), "the replay, to signal it")
    pids = subprocess.run(["pgrep", "-n", "-f", "%s replay %d" % (BIN, sid)], capture_output=True,
                          text=True).stdout.split()
    if pids:
        os.kill(int(pids[0]), signal.SIGUSR1)
        os.kill(int(pids[0]), signal.SIGUSR2)
    time.sleep(0.5)
    check(len(pids) == 1 and has("REPLAY")(screen()) and not exited(screen()),
          "SIGUSR1/SIGUSR2: the dashboard is still up")
    keys("q")
    lines = wait_for(exited, "the shell after q", timeout=15)
    check(any(l.strip() == "LSEXIT=0" for l in lines), "SIGUSR1/SIGUSR2: q still exits 0")
    typeline("stty -g > stty.after5; cmp -s stty.before stty.after5 && echo STTY5_SAME || echo STTY5_DIFF")
    lines = wait_for(lambda l: any(x.strip() in ("STTY5_SAME", "STTY5_DIFF") for x in l), "stty after USR1")
    check(any(l.strip() == "STTY5_SAME" for l in lines), "SIGUSR1/SIGUSR2: terminal modes restored")

    # --- a crash (SIGSEGV) still gives the terminal back: modes, main screen, cursor
    typeline("ulimit -c 0; clear; %s replay %d --db %s; echo LSEXIT=$?" % (BIN, sid, dbpath))
    wait_for(has("REPLAY"), "the replay, to crash it")
    pids = subprocess.run(["pgrep", "-n", "-f", "%s replay %d" % (BIN, sid)], capture_output=True,
                          text=True).stdout.split()
    check(len(pids) == 1, "the replay's pid found (%s)" % pids)
    if pids:
        os.kill(int(pids[0]), signal.SIGSEGV)
    lines = wait_for(exited, "the shell after the crash", timeout=15)
    code = [l.strip() for l in lines if re.match(r"^LSEXIT=\d+$", l.strip())]
    # The crash goes on to the handler that was there before: the default one (death by
    # SIGSEGV, 139), or in the sanitizer build AddressSanitizer's, which reports and exits 1.
    check(code == ["LSEXIT=139"] or (code and code[0] != "LSEXIT=0"
                                     and any("AddressSanitizer" in l for l in lines)),
          "SIGSEGV: the crash went on to the previous handler (%s)" % code)
    typeline("stty -g > stty.after3; cmp -s stty.before stty.after3 && echo STTY3_SAME || echo STTY3_DIFF")
    lines = wait_for(lambda l: any(x.strip() in ("STTY3_SAME", "STTY3_DIFF") for x in l), "stty after the crash")
    check(any(l.strip() == "STTY3_SAME" for l in lines), "SIGSEGV: terminal modes restored")
    state = tmux("display-message", "-p", "-t", "t", "#{alternate_on} #{cursor_flag}").strip()
    check(state == "0 1", "SIGSEGV: back on the main screen with the cursor shown (%r)" % state)

    # --- kill -9 while the final screen waits for q: the summaries were stored as the run ended
    typeline("clear; %s run %s --db %s --workers 1 --duration 1s; echo LSEXIT=$?" % (BIN, scenario, dbpath))
    wait_for(has("DONE"), "the end of a short run", timeout=40)
    time.sleep(1.0)
    pids = subprocess.run(["pgrep", "-n", "-f", "%s run %s" % (BIN, scenario)], capture_output=True,
                          text=True).stdout.split()
    check(len(pids) == 1, "the run's pid found (%s)" % pids)
    if pids:
        os.kill(int(pids[0]), signal.SIGKILL)
    wait_for(exited, "the shell after kill -9", timeout=15)
    conn = db(dbpath)
    killed = conn.execute("SELECT max(id) FROM sessions").fetchone()[0]
    rows = conn.execute("SELECT step, count FROM summaries WHERE session_id=? ORDER BY step",
                        (killed,)).fetchall()
    n = conn.execute("SELECT count(*) FROM samples WHERE session_id=?", (killed,)).fetchone()[0]
    conn.close()
    tot = sum(c for st, c in rows if st >= 0)
    allrow = [c for st, c in rows if st == -1]
    check(killed != sid and len(rows) == 4 and tot == n and n > 0 and allrow and allrow[0] > 0,
          "kill -9 on the final screen: the summary rows are stored (%d rows, %d counted, %d samples)"
          % (len(rows), tot, n))

    # --- no terminal: a clear refusal, nothing run
    p = subprocess.run([BIN, "run", scenario, "--db", dbpath], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=30)
    check(p.returncode == 2 and "--headless" in p.stderr,
          "without a terminal: exit 2 with a hint to use --headless (%d: %s)" % (p.returncode, p.stderr.strip()))
finally:
    tmux("kill-server", check_rc=False)

finish()
