#!/usr/bin/env python3
"""The advisor, proven on a planted fault: fixtures/advise/mcp_fault.rs (an MCP
server over stdio, std only, built here) makes exactly 8 format! allocations
per request at one line when run as `mcp_fault format`, and none as
`mcp_fault clean`. Under `loadscope run --trace-allocations=full --headless`,
`loadscope export latest --what findings` (computed from the stored session:
the hot paths, the inside rows, the intervals) must rank
alloc.format_in_hot_path first with evidence "8.00 ..." and where naming the
fixture's file:line; the clean switch must draw no warning or critical
finding. Both builds: with frame pointers, and as users build it (no forced
frame pointers: stacks from libunwind). The JSON and markdown exports say the
same."""
import csv
import io
import json
import os
import subprocess

from lsutil import SRC, TempDir, check, finish, run_loadscope, rustc, write_scenario

tmp = TempDir()
dbpath = tmp.file("run.db")
fixture = os.path.join(SRC, "fixtures", "advise", "mcp_fault.rs")
line = next(i + 1 for i, t in enumerate(open(fixture)) if "// FORMAT_LINE" in t)

rc_path = rustc()
check(rc_path is not None, "rustc found (PATH or ~/.cargo/bin)")


def build(name, flags):
    out = tmp.file(name)
    b = subprocess.run([rc_path, "-O", "-g"] + flags + ["-o", out, fixture], capture_output=True,
                       text=True, timeout=300)
    check(b.returncode == 0, "fixtures/advise/mcp_fault.rs builds %s (%s)" % (flags, b.stderr[-300:]))
    return out


def run(server, switch):
    scn = {
        "name": "planted %s" % switch,
        "target": {"transport": "stdio", "command": [server, switch]},
        "load": {"model": "closed", "concurrency": 4, "duration": "2s"},
        "steps": [{"name": "echo", "method": "tools/call", "tool": "echo",
                   "arguments": {"message": "hi"}}],
    }
    path = write_scenario(tmp, "%s.json" % switch, scn)
    rc, out, err = run_loadscope(["run", path, "--headless", "--quiet", "--db", dbpath,
                                  "--trace-allocations=full"], timeout=180)
    check(rc == 0, "%s %s ran under full tracing (%d) %s" % (os.path.basename(server), switch, rc,
                                                             err[-300:]))


def export(fmt):
    rc, out, err = run_loadscope(["export", "latest", "--what", "findings", "--format", fmt,
                                  "--db", dbpath])
    check(rc == 0, "export --what findings --format %s exits 0 (%d %s)" % (fmt, rc, err[-200:]))
    return out


COLS = ["rank", "rule", "severity", "title", "evidence", "where", "fix", "impact", "confidence",
        "first_s", "last_s"]

for name, flags in (("fp", ["-C", "force-frame-pointers=yes"]), ("plain", [])):
    server = build("mcp_fault_" + name, flags)
    run(server, "format")
    rows = list(csv.reader(io.StringIO(export("csv"))))
    check(rows and rows[0] == COLS, "[%s] the CSV columns are %s (%s)" % (name, ",".join(COLS),
                                                                        rows[:1]))
    top = dict(zip(COLS, rows[1])) if len(rows) > 1 else {}
    check(top.get("rank") == "1" and top.get("rule") == "alloc.format_in_hot_path",
          "[%s] the planted format! is the top finding (%s)" % (name, rows[1:3]))
    check(top.get("evidence", "").startswith("8.00 format! allocations per request"),
          "[%s] judged at 8.00 per request at its site: %s" % (name, top.get("evidence")))
    check(top.get("where", "").endswith("(mcp_fault.rs:%d)" % line) and
          "planted_format" in top.get("where", ""),
          "[%s] where names the function and file:line %d: %s" % (name, line, top.get("where")))
    check(top.get("severity") in ("warning", "critical") and top.get("fix"),
          "[%s] a %s with a fix: %s" % (name, top.get("severity"), top.get("fix")))
    ok_s = top.get("first_s", "").isdigit() and top.get("last_s", "").isdigit()
    check(ok_s and int(top["first_s"]) <= int(top["last_s"]),
          "[%s] first and last second seen: %s..%s" % (name, top.get("first_s"), top.get("last_s")))

    doc = json.loads(export("json"))
    js = doc.get("rows") if isinstance(doc, dict) else None
    if js is None and isinstance(doc, dict):
        js = next((v for v in doc.values() if isinstance(v, list)), None)
    check(bool(js) and js[0]["rule"] == "alloc.format_in_hot_path" and
          js[0]["evidence"] == top.get("evidence") and js[0]["where"] == top.get("where"),
          "[%s] the JSON export says the same (%s)" % (name, str(js[:1])[:200]))
    md = export("markdown")
    check("## The run" in md and "closed loop, 4 virtual users" in md and "**Results:**" in md,
          "[%s] the markdown report starts with the run" % name)
    check("### 1. [%s] " % top.get("severity") in md and
          "- **Where:** `%s`" % top.get("where") in md and "- **Proposed change:** " in md and
          "- **Expected effect:** " in md and "- **Evidence:** 8.00 " in md,
          "[%s] the markdown report gives the finding's evidence, where, change and effect" % name)

    run(server, "clean")
    rows = list(csv.reader(io.StringIO(export("csv"))))
    loud = [r for r in rows[1:] if len(r) > 2 and r[2] in ("warning", "critical")]
    check(rows and rows[0] == COLS and not loud,
          "[%s] the clean switch draws no warning or critical finding (%s)" % (name, loud[:2]))

finish()
