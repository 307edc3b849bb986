"""`loadscope export` against a real session, read back with Python's csv module.

Runs a short session against the fixture MCP server over HTTP with step names
that need CSV quoting and neutralizing (a comma, a double quote, a leading
'='; a newline is written into a copy of the database, since scenarios refuse
control characters in names), exports samples, intervals and summaries, and
checks every cell against the SQLite database: row counts, each sample's
fields and derived latencies, interval percentiles, summary numbers and
errors by class. A run killed with SIGKILL: every stored sample exported, the
missing summary said. Also: CRLF row ends, formula cells neutralized, standard
output vs -o (through a temporary file beside FILE, nothing left behind on
failure or SIGINT), "latest",
bad session ids and options, '.' decimals under a German locale, and a
memory check: max RSS of exporting 50k and 500k samples (ratio close to 1).
"""
import csv
import io
import os
import resource
import shutil
import sqlite3
import subprocess
import sys

from lsutil import (BIN, HttpServer, TempDir, check, db, finish, last_session, run_loadscope,
                    write_scenario)

SF_NEW_CONN, SF_WARMUP, SF_LATE = 1, 2, 4
NAMES = ["a,b", 'say "hi"', "=cmd", "plain", "two\nlines"]  # the last set in a DB copy

tmp = TempDir()
dbpath = tmp.file("export.db")


def export(args, env=None):
    """Runs loadscope export; returns (rc, stdout bytes, stderr text)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([BIN, "export"] + args, capture_output=True, env=e, timeout=300)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def parse(raw):
    """Parses CSV bytes with the csv module; checks that every record ends in CRLF."""
    text = raw.decode("utf-8")  # must be valid UTF-8
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows


def crlf_only(raw):
    """True if every line break outside quoted cells is CRLF (a bare LF only inside quotes)."""
    inq = False
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i:i + 1]
        if c == b'"':
            inq = not inq
        elif not inq and c == b"\n":
            if i == 0 or raw[i - 1:i] != b"\r":
                return False
        elif not inq and c == b"\r" and raw[i + 1:i + 2] != b"\n":
            return False
        i += 1
    return raw.endswith(b"\r\n") and not inq


def neutral(s):
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s


def num_ok(cell, value):
    """A numeric cell equals the stored value exactly (doubles read back exactly)."""
    if isinstance(value, float):
        return float(cell) == value
    return int(cell) == value


# --- a real session ----------------------------------------------------------
print("a short session against the fixture HTTP server")
srv = HttpServer(tmp, mode="json")
try:
    sc = {
        "name": "export, \"quoted\"",
        "target": {"transport": "http", "url": srv.url},
        "load": {"model": "open", "rate": 400, "max_in_flight": 16, "duration": "1500ms",
                 "warmup": "500ms"},
        "steps": [
            {"name": NAMES[0], "weight": 3, "method": "tools/call", "tool": "echo",
             "arguments": {"message": "m${seq}"}},
            {"name": NAMES[1], "weight": 1, "method": "tools/call", "tool": "fail"},
            {"name": NAMES[2], "weight": 1, "method": "tools/call", "tool": "add",
             "arguments": {"a": "${rand:1:5}", "b": "${rand:1:5}"}},
            {"name": NAMES[3], "weight": 1, "method": "ping"},
        ],
    }
    path = write_scenario(tmp, "export.json", sc)
    rc, out, err = run_loadscope(["run", path, "--headless", "--db", dbpath, "--quiet"])
    check(rc == 0, "the run exits 0 (got %d) %s" % (rc, err[-400:]))

    print("a run killed with SIGKILL: what it stored is exported, and the missing summary is said")
    import signal
    import time
    killed_db = tmp.file("killed.db")
    kpath = write_scenario(tmp, "killed.json", {
        "name": "killed", "target": {"transport": "http", "url": srv.url},
        "load": {"model": "closed", "concurrency": 2, "duration": "60s"},
        "steps": [{"method": "tools/call", "tool": "echo", "arguments": {"message": "k"}}]})
    p = subprocess.Popen([BIN, "run", kpath, "--headless", "--db", killed_db],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.5)  # past the first stored second
    p.kill()
    p.wait(timeout=30)
    kconn = db(killed_db)
    ksid = last_session(kconn)["id"]
    stored = kconn.execute("SELECT COUNT(*) FROM samples WHERE session_id=?", (ksid,)).fetchone()[0]
    kconn.close()
    rc, raw, err = export([str(ksid), "--what", "samples", "--db", killed_db])
    rows = list(csv.reader(io.StringIO(raw.decode())))
    check(rc == 0 and stored > 0 and len(rows) == stored + 1,
          "every stored sample of the killed run is exported (%d rows, %d stored)" %
          (len(rows) - 1, stored))
    rc, raw, err = export([str(ksid), "--what", "summary", "--db", killed_db])
    check(rc == 0 and raw.decode().count("\n") == 1 and
          ("session %d has no summary (it did not finish" % ksid) in err,
          "the killed run's summary export is the header alone, and says why: %s" %
          err.strip()[:200])
finally:
    srv.stop()

conn = db(dbpath)
sid = last_session(conn)["id"]
CLASSES = [r["name"] for r in conn.execute("SELECT id, name FROM error_classes ORDER BY id")]
check(CLASSES[:3] == ["ok", "connect", "timeout"] and len(CLASSES) >= 11,
      "error class names from the database: %s" % ",".join(CLASSES))
steps = {r["idx"]: r["name"] for r in
         conn.execute("SELECT idx, name FROM steps WHERE session_id=?", (sid,))}
check([steps[i] for i in range(4)] == NAMES[:4] and steps[4] == "initialize",
      "steps stored with their awkward names: %r" % steps)

# --- samples -------------------------------------------------------------------
print("samples")
rc, raw, err = export([str(sid), "--what", "samples", "--db", dbpath])
check(rc == 0, "export samples exits 0 (got %d) %s" % (rc, err))
check(crlf_only(raw), "samples: every row ends in CRLF")
rows = parse(raw)
hdr = rows[0]
want_hdr = ["seq", "worker", "vu", "step", "step_name", "intended_ns", "start_ns", "end_ns",
            "latency_us", "u_latency_us", "dns_us", "connect_us", "tls_us", "ttfb_us",
            "bytes_out", "bytes_in", "status", "err", "error_class", "rpc_code", "flags",
            "new_conn", "warmup", "late", "attempts", "followups", "retries", "backoff_us",
            "last_try_us", "aws_code"]
check(hdr == want_hdr, "samples header: %s" % ",".join(hdr))
dbrows = conn.execute(
    "SELECT seq, worker, vu, step, intended_ns, start_ns, end_ns, dns_us, connect_us, tls_us, "
    "ttfb_us, bytes_out, bytes_in, status, err, rpc_code, flags, attempts, followups, retries, "
    "backoff_us, last_try_us, aws_code FROM samples "
    "WHERE session_id=? ORDER BY rowid", (sid,)).fetchall()
check(len(rows) - 1 == len(dbrows) and len(dbrows) > 100,
      "one row per stored sample (%d rows, %d samples)" % (len(rows) - 1, len(dbrows)))
bad = []
for got, r in zip(rows[1:], dbrows):
    g = dict(zip(hdr, got))
    exp_ = {
        "seq": str(r["seq"]), "worker": str(r["worker"]), "vu": str(r["vu"]),
        "step": str(r["step"]), "step_name": neutral(steps[r["step"]]),
        "intended_ns": str(r["intended_ns"]), "start_ns": str(r["start_ns"]),
        "end_ns": str(r["end_ns"]),
        "latency_us": "%d.%03d" % divmod(r["end_ns"] - r["intended_ns"], 1000),
        "u_latency_us": "%d.%03d" % divmod(r["end_ns"] - r["start_ns"], 1000),
        "dns_us": str(r["dns_us"]), "connect_us": str(r["connect_us"]),
        "tls_us": str(r["tls_us"]), "ttfb_us": str(r["ttfb_us"]),
        "bytes_out": str(r["bytes_out"]), "bytes_in": str(r["bytes_in"]),
        "status": str(r["status"]), "err": str(r["err"]), "error_class": CLASSES[r["err"]],
        "rpc_code": str(r["rpc_code"]), "flags": str(r["flags"]),
        "new_conn": str(int(bool(r["flags"] & SF_NEW_CONN))),
        "warmup": str(int(bool(r["flags"] & SF_WARMUP))),
        "late": str(int(bool(r["flags"] & SF_LATE))),
        "attempts": str(r["attempts"]), "followups": str(r["followups"]),
        "retries": str(r["retries"]), "backoff_us": str(r["backoff_us"]),
        "last_try_us": str(r["last_try_us"]), "aws_code": r["aws_code"] or "",
    }
    if g != exp_:
        bad.append((got, exp_))
check(not bad, "every sample's 30 cells match the database (%d mismatches%s)" %
      (len(bad), (": first %r" % (bad[0],)) if bad else ""))
names_seen = {r[4] for r in rows[1:]}
check({"a,b", 'say "hi"', "'=cmd", "plain", "initialize"} <= names_seen,
      "step names read back: comma and quote intact, '=cmd' neutralized: %r" % sorted(names_seen))
check(b'"a,b"' in raw and b'"say ""hi"""' in raw and b",'=cmd," in raw,
      "raw bytes: quoted comma, doubled quotes, quote-prefixed formula")
fails = sum(1 for r in rows[1:] if r[4] == 'say "hi"' and r[18] == "tool_error")
check(fails > 0 and fails == sum(1 for r in dbrows if r["step"] == 1),
      "the failing step's samples are tool_error by name (%d)" % fails)

# --- intervals -----------------------------------------------------------------
print("intervals")
rc, raw, err = export([str(sid), "--what", "intervals", "--db", dbpath])
check(rc == 0, "export intervals exits 0 (got %d) %s" % (rc, err))
check(crlf_only(raw), "intervals: every row ends in CRLF")
rows = parse(raw)
hdr = rows[0]
lat = ["p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us",
       "u_p50_us", "u_p90_us", "u_p99_us", "u_p999_us", "u_max_us", "u_mean_us"]
check(hdr == ["second", "step", "step_name", "warmup", "count", "rate_per_s", "errors", "late"]
      + lat, "intervals header: %s" % ",".join(hdr))
dbiv = conn.execute("SELECT * FROM intervals WHERE session_id=? ORDER BY second, step",
                    (sid,)).fetchall()
check(len(rows) - 1 == len(dbiv) and len(dbiv) >= 3,
      "one row per stored interval (%d rows, %d intervals)" % (len(rows) - 1, len(dbiv)))
bad = []
for got, r in zip(rows[1:], dbiv):
    g = dict(zip(hdr, got))
    ok = (g["second"] == str(r["second"]) and g["step"] == str(r["step"])
          and g["step_name"] == ("ALL" if r["step"] == -1 else neutral(steps[r["step"]]))
          and g["warmup"] == str(r["warmup"]) and g["count"] == str(r["count"])
          and g["rate_per_s"] == str(r["count"]) and g["errors"] == str(r["errors"])
          and g["late"] == str(r["late"])
          and all(num_ok(g[c], r[c]) for c in lat)
          and all("." not in g[c] for c in lat if not c.endswith("mean_us")))
    if not ok:
        bad.append((got, tuple(r)))
check(not bad, "every interval's cells (percentiles, mean, counts) match the database "
      "(%d mismatches%s)" % (len(bad), (": first %r" % (bad[0],)) if bad else ""))
check(sum(1 for r in rows[1:] if r[2] == "ALL") == sum(1 for r in dbiv if r["step"] == -1),
      "step -1 is named ALL")
check(any("." in r[hdr.index("mean_us")] for r in rows[1:]),
      "means carry '.' decimals")

# --- summary -------------------------------------------------------------------
print("summary")
rc, raw, err = export([str(sid), "--what", "summary", "--db", dbpath])
check(rc == 0, "export summary exits 0 (got %d) %s" % (rc, err))
check(crlf_only(raw), "summary: every row ends in CRLF")
rows = parse(raw)
hdr = rows[0]
import json
check(hdr[:6] == ["step", "step_name", "count", "rate_per_s", "errors", "error_rate"]
      and hdr[6:18] == lat and hdr[18:] == ["errors_" + c for c in CLASSES[1:]],
      "summary header: %s" % ",".join(hdr))
dbsm = conn.execute("SELECT * FROM summaries WHERE session_id=? ORDER BY step", (sid,)).fetchall()
check(len(rows) - 1 == len(dbsm) == 6, "one row per step plus ALL (%d rows, %d summaries)" %
      (len(rows) - 1, len(dbsm)))
bad = []
for got, r in zip(rows[1:], dbsm):
    g = dict(zip(hdr, got))
    byclass = json.loads(r["err_json"]) if r["err_json"] else {}
    ok = (g["step"] == str(r["step"])
          and g["step_name"] == ("ALL" if r["step"] == -1 else neutral(steps[r["step"]]))
          and g["count"] == str(r["count"]) and num_ok(g["rate_per_s"], r["rate"])
          and g["errors"] == str(r["errors"])
          and (float(g["error_rate"]) == r["errors"] / r["count"] if r["count"] else
               g["error_rate"] == "")
          and all(num_ok(g[c], r[c]) for c in lat)
          and all(g["errors_" + c] == str(byclass.get(c, 0)) for c in CLASSES[1:]))
    if not ok:
        bad.append((got, tuple(r)))
check(not bad, "every summary's cells (rate, error rate, percentiles, errors by class) match "
      "(%d mismatches%s)" % (len(bad), (": first %r" % (bad[0],)) if bad else ""))
fail_row = [r for r in rows[1:] if r[0] == "1"][0]
check(int(fail_row[hdr.index("errors_tool_error")]) == int(fail_row[hdr.index("errors")]) > 0,
      "err_json parsed back: the failing step's errors are all tool_error (%s)" %
      fail_row[hdr.index("errors_tool_error")])

# --- a newline in a step name (written into a copy of the database) ------------
print("a newline in a step name, a negative rpc code, a NULL err_json")
db2 = tmp.file("newline.db")
shutil.copy(dbpath, db2)
c2 = sqlite3.connect(db2)
c2.execute("UPDATE steps SET name=? WHERE session_id=? AND idx=3", (NAMES[4], sid))
c2.execute("UPDATE samples SET rpc_code=-32603 WHERE session_id=? AND step=3", (sid,))
c2.execute("UPDATE summaries SET err_json=NULL WHERE session_id=? AND step=3", (sid,))
c2.execute("UPDATE samples SET attempts=3, retries=2, backoff_us=150000, aws_code=? "
           "WHERE session_id=? AND step=2", ("ThrottlingException", sid))
c2.execute("UPDATE samples SET aws_code='=NotAnAwsCode' WHERE session_id=? AND step=0", (sid,))
c2.commit()
c2.close()
rc, raw, err = export([str(sid), "--what", "samples", "--db", db2])
rows = parse(raw)
nl = [r for r in rows[1:] if r[3] == "3"]
hdr = rows[0]
check(rc == 0 and nl and all(r[4] == "two\nlines" for r in nl) and crlf_only(raw),
      "a newline inside a name is quoted and read back whole (%d rows)" % len(nl))
check(all(r[19] == "-32603" for r in nl), "negative numbers in numeric cells are not neutralized")
check(len(rows) - 1 == len(dbrows), "row count unchanged by the embedded newline")
aws = [r for r in rows[1:] if r[3] == "2"]
check(aws and all(r[24:30] == ["3", "0", "2", "150000", r[28], "ThrottlingException"] for r in aws),
      "AWS columns read back (attempts, retries, backoff, code): %r" % (aws[0][24:30],))
check(all(r[29] == "unlisted" for r in rows[1:] if r[3] == "0"),
      "a code name not in loadscope's table reads back as \"unlisted\"")
rc, raw, err = export([str(sid), "--what", "summary", "--db", db2])
check(rc == 0 and any(r[1] == "two\nlines" for r in parse(raw)),
      "summary with a NULL err_json exports (%s)" % err.strip())

# --- output to a file, latest, errors -----------------------------------------
print("-o FILE, latest, and errors")
outp = tmp.file("out.csv")
rc, raw_stdout, err = export(["latest", "--what", "intervals", "--db", dbpath, "-o", outp])
leftover = [n for n in os.listdir(os.path.dirname(outp)) if n.endswith(".tmp")]
check(rc == 0 and raw_stdout == b"" and os.path.exists(outp) and leftover == [],
      "-o writes the file, nothing to stdout, no temporary file left (rc %d) %s %s" %
      (rc, err.strip(), leftover))
rc2, same, _ = export([str(sid), "--what", "intervals", "--db", dbpath])
check(open(outp, "rb").read() == same, "latest == session %d, and -o == stdout byte for byte" % sid)
check(outp in err, "the file is named on stderr: %s" % err.strip())
rc, raw, err = export([str(sid), "--what", "samples", "--db", dbpath, "-o", outp])
check(rc == 0 and len(parse(open(outp, "rb").read())) == len(dbrows) + 1,
      "-o replaces an existing file")

before = open(outp, "rb").read()
rc, raw, err = export([str(sid), "--what", "samples", "--db", dbpath, "-o",
                       tmp.file("no/such/dir/x.csv")])
check(rc == 1 and "no/such/dir/x.csv" in err, "an unwritable -o fails with exit 1 naming it: %s"
      % err.strip())
if os.path.exists("/dev/full"):
    # /dev/full: writing fails with ENOSPC; the message names the output
    p = subprocess.run("%s export %d --what samples --db %s > /dev/full" % (BIN, sid, dbpath),
                       shell=True, capture_output=True, text=True)
    check(p.returncode == 1 and "standard output" in p.stderr and "No space" in p.stderr,
          "a full disk on stdout: exit 1 and says so: %s" % p.stderr.strip())
check(open(outp, "rb").read() == before, "a failed export leaves the previous file untouched")

for args, code, needle in (
        (["999", "--what", "samples"], 2, "no session 999"),
        (["abc", "--what", "samples"], 2, "bad session \"abc\""),
        (["-3", "--what", "samples"], 2, "-3"),
        ([str(sid), "--what", "bogus"], 2, "expected samples, intervals, summary, findings, downstream or downstream-seconds"),
        ([str(sid)], 2, "--what is required"),
        (["--what", "samples"], 2, "which session"),
        ([str(sid), "--what", "samples", "--frobnicate"], 2, "--frobnicate")):
    rc, raw, err = export(args + ["--db", dbpath])
    check(rc == code and needle in err and raw == b"",
          "export %s: exit %d with \"%s\" (got %d: %s)" % (" ".join(args), code, needle, rc,
                                                          err.strip()))
missing = tmp.file("missing.db")
rc, raw, err = export(["latest", "--what", "samples", "--db", missing])
check(rc == 1 and missing in err and not os.path.exists(missing),
      "a missing database: exit 1, named, not created (%s)" % err.strip())
# A loadscope database without sessions: a copy of this one, emptied.
empty = tmp.file("empty.db")
src = sqlite3.connect(dbpath)
src.execute("VACUUM INTO ?", (empty,))
src.close()
e = sqlite3.connect(empty)
e.execute("PRAGMA foreign_keys=ON")
e.execute("DELETE FROM sessions")
e.commit()
e.close()
rc, raw, err = export(["latest", "--what", "samples", "--db", empty])
check(rc == 1 and "no sessions" in err, "latest in an empty database: exit 1 (%s)" % err.strip())

# --- locale --------------------------------------------------------------------
print("a German locale")
have_de = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout
de = "de_DE.UTF-8" if "de_DE.utf8" in have_de.replace("UTF-8", "utf8") else None
print("  de_DE.UTF-8 %s" % ("installed" if de else "not installed: LC_NUMERIC set anyway"))
env = {"LC_ALL": "de_DE.UTF-8", "LC_NUMERIC": "de_DE.UTF-8", "LANG": "de_DE.UTF-8"}
rc, de_raw, err = export([str(sid), "--what", "summary", "--db", dbpath], env=env)
rc2, c_raw, _ = export([str(sid), "--what", "summary", "--db", dbpath], env={"LC_ALL": "C"})
check(rc == 0 and de_raw == c_raw, "LC_ALL=de_DE.UTF-8 gives the same bytes as LC_ALL=C")
# loadscope never calls setlocale for numbers; make the process German anyway
# (a preloaded constructor calls setlocale(LC_ALL, "")) to prove '.' holds.
cc = shutil.which("cc") or shutil.which("gcc")
if de and cc:
    src = tmp.file("setloc.c")
    so = tmp.file("setloc.so")
    with open(src, "w") as f:
        f.write('#include <locale.h>\n#include <stdio.h>\n'
                '__attribute__((constructor)) static void ls_setloc(void) {\n'
                '    setlocale(LC_ALL, "");\n'
                '    fprintf(stderr, "setloc: %.1f\\n", 1.5);\n}\n')
    subprocess.run([cc, "-shared", "-fPIC", "-o", so, src], check=True)
    env2 = dict(env, LD_PRELOAD=so, ASAN_OPTIONS="verify_asan_link_order=0:" +
                os.environ.get("ASAN_OPTIONS", ""))
    rc, de_raw2, err = export([str(sid), "--what", "summary", "--db", dbpath], env=env2)
    check("setloc: 1,5" in err, "the preloaded setlocale made the process German (%s)" %
          err.strip()[:100])
    check(rc == 0 and de_raw2 == c_raw,
          "with setlocale(LC_ALL, \"\") in force under de_DE, decimals stay '.' (rc %d %s)" %
          (rc, err.strip()[:200]))
rows = parse(c_raw)
# rate, error rate and the means are the fractional columns; a rate can be a
# whole number (400 requests in exactly 1 s), so look at all of them.
frac = [r[i] for r in rows[1:] for i in (3, 5, 11, 17) if r[i]]
check(any("." in v for v in frac) and not any("," in v for v in frac),
      "fractional cells written with '.' decimals: %s" % frac[:8])

# --- memory: 50k vs 500k samples ----------------------------------------------
print("memory: exporting 50k and 500k samples")


def synth_db(path, n):
    """A session with n synthetic samples (copied from the real session's first rows)."""
    c = sqlite3.connect(path)
    c.execute("PRAGMA journal_mode=OFF")
    c.execute("PRAGMA synchronous=OFF")
    c.execute("DELETE FROM samples WHERE session_id != ?", (sid,))
    base = c.execute("SELECT count(*) FROM samples WHERE session_id=?", (sid,)).fetchone()[0]
    cols = [r[1] for r in c.execute("PRAGMA table_info(samples)")]
    vary = {"seq": "seq + 1000000 * (k.i + 1)", "intended_ns": "intended_ns + k.i",
            "start_ns": "start_ns + k.i", "end_ns": "end_ns + 2 * k.i"}
    c.execute("""WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM k WHERE i < ?)
                 INSERT INTO samples(%s) SELECT %s
                 FROM k, (SELECT * FROM samples WHERE session_id=? LIMIT 100)""" %
              (", ".join(cols), ", ".join(vary.get(x, x) for x in cols)),
              ((n - base) // 100 - 1, sid))
    c.commit()
    got = c.execute("SELECT count(*) FROM samples WHERE session_id=?", (sid,)).fetchone()[0]
    c.close()
    return got


def child_maxrss_kb(args):
    """Runs an export in a fresh child (via a wrapper, so ru_maxrss is that child's own)."""
    code = ("import resource,subprocess,sys\n"
            "p=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE)\n"
            "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "sys.stderr.write(p.stderr.decode())\n")
    p = subprocess.run([sys.executable, "-c", code, BIN, "export"] + args,
                       capture_output=True, text=True, timeout=600)
    rc, kb = p.stdout.split()
    return int(rc), int(kb), p.stderr


sizes = {}
for n in (50_000, 500_000):
    path = tmp.file("big-%d.db" % n)
    shutil.copy(dbpath, path)
    got = synth_db(path, n)
    rc, kb, err = child_maxrss_kb([str(sid), "--what", "samples", "--db", path])
    sizes[n] = (got, kb)
    check(rc == 0, "export of %d samples exits 0 %s" % (got, err.strip()[:200]))
    print("  %d samples: max RSS %d KiB" % (got, kb))
(n1, kb1), (n2, kb2) = sizes[50_000], sizes[500_000]
check(n2 >= 9 * n1, "the big session has about 10x the rows (%d vs %d)" % (n2, n1))
ratio = kb2 / kb1
check(ratio < 1.15, "max RSS of 10x the rows is %.3fx (%d vs %d KiB): constant memory" %
      (ratio, kb2, kb1))
rc, raw, err = export([str(sid), "--what", "samples", "--db", tmp.file("big-500000.db"),
                       "-o", tmp.file("big.csv")])
nrows = sum(1 for _ in csv.reader(open(tmp.file("big.csv"), newline="", encoding="utf-8")))
check(rc == 0 and nrows == n2 + 1, "the 500k export has every row (%d)" % (nrows - 1))

print("interrupted exports (SIGINT while the reader holds the output back)")
import signal
big = tmp.file("big-500000.db")
p = subprocess.Popen([BIN, "export", str(sid), "--what", "samples", "--db", big],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
first = p.stdout.read(4096)  # the pipe fills and the export blocks: it cannot finish first
os.kill(p.pid, signal.SIGINT)
rest, err = p.communicate(timeout=60)
check(p.returncode == 130 and b"interrupted" in err and first.startswith(b"seq,"),
      "stdout: SIGINT gives exit 130 and says the output is incomplete (%d: %s)" %
      (p.returncode, err.decode().strip()))
# -o: the export is stopped (SIGSTOP) the moment its temporary file appears beside FILE,
# then interrupted: exit 130, the temporary file removed, no FILE.
import time
target = tmp.file("interrupted.csv")
p = subprocess.Popen([BIN, "export", str(sid), "--what", "samples", "--db", big, "-o", target],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
tmpname = None
deadline = time.monotonic() + 60
while tmpname is None and p.poll() is None and time.monotonic() < deadline:
    tmpname = next((n for n in os.listdir(tmp.path)
                    if n.startswith("interrupted.csv.") and n.endswith(".tmp")), None)
if tmpname is not None:
    os.kill(p.pid, signal.SIGSTOP)
check(tmpname is not None and not os.path.exists(target),
      "-o writes a temporary file beside FILE first (%s)" % tmpname)
os.kill(p.pid, signal.SIGINT)
os.kill(p.pid, signal.SIGCONT)
out_, err = p.communicate(timeout=60)
left = [n for n in os.listdir(tmp.path) if n.startswith("interrupted.csv")]
check(p.returncode == 130 and left == [],
      "-o: SIGINT gives exit 130, removes the temporary file and creates no FILE (%d: %s; left %s)"
      % (p.returncode, err.decode().strip(), left))

shutil.rmtree(tmp.path, ignore_errors=True)
finish()
