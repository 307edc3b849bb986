"""`loadscope export --format json|jsonl` against real sessions, validated and read back.

A short open-loop run against the fixture MCP server over HTTP (awkward step
names, a failing step, so there are errors by class) and a traced run of
fixtures/alloc/alloc_sites.c (hot paths). For each what:
- every JSON document, and every JSON Lines row, validates against
  docs/export.schema.json (JSON Schema draft 2020-12, Python's jsonschema);
- the document's columns are the CSV header, and every row equals the CSV
  export's row cell by cell (an empty cell is null, 0/1 flags are booleans,
  numbers equal exactly, text is the step's own name where the CSV quotes a
  formula, a stack's frames are the CSV cell's lines);
- real values: the JSON summary's requests and p99 are the CSV summary's and
  the database's; jsonl has one line per sample (SELECT count(*)) and per
  interval; the session object is the sessions row;
- -o FILE writes the same bytes as standard output and says how many rows;
- '.' decimals under a German locale; bad --format and folded with a
  --format are refused (exit 2); and jsonl of 10x the samples runs in about
  the same memory (max RSS ratio close to 1).
"""
import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys

from lsutil import (BIN, SRC, HttpServer, TempDir, check, db, finish, last_session, run_loadscope,
                    write_scenario)

try:
    import jsonschema
except ImportError:
    print("python3's jsonschema is missing: install Debian's python3-jsonschema "
          "(scripts/install-deps.sh does)")
    sys.exit(1)

SCHEMA_PATH = os.path.join(SRC, "docs", "export.schema.json")
with open(SCHEMA_PATH) as f:
    SCHEMA = json.load(f)
jsonschema.Draft202012Validator.check_schema(SCHEMA)
DOC = jsonschema.Draft202012Validator(SCHEMA)
ROW_DEF = {"samples": "sample", "intervals": "interval", "summary": "summary",
           "hotpaths": "hotpath"}


def row_validator(what):
    """A validator for one JSON Lines row of `what`: the schema's own definition."""
    return jsonschema.Draft202012Validator({
        "$schema": SCHEMA["$schema"], "$defs": SCHEMA["$defs"],
        "$ref": "#/$defs/" + ROW_DEF[what]})


def errors_of(validator, instance, limit=3):
    return ["%s at %s" % (e.message[:160], "/".join(str(p) for p in e.absolute_path))
            for e in list(validator.iter_errors(instance))[:limit]]


tmp = TempDir()
dbpath = tmp.file("json.db")


def export(args, env=None):
    """Runs loadscope export; returns (rc, stdout bytes, stderr text)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([BIN, "export"] + args, capture_output=True, env=e, timeout=300)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def neutral(s):
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s


def cell_equal(j, c):
    """A JSON value equals the CSV cell written for the same column."""
    if j is None:
        return c == ""
    if isinstance(j, bool):
        return c == ("1" if j else "0")
    if isinstance(j, int):
        return c == str(j)
    if isinstance(j, float):
        return c != "" and float(c) == j
    if isinstance(j, list):
        return c == "\n".join(j)
    return c == neutral(j)


def same_rows(what, jrows, crows, cols):
    """Every JSON row equals its CSV row; returns the mismatches."""
    bad = []
    if len(jrows) != len(crows):
        return ["%d JSON rows, %d CSV rows" % (len(jrows), len(crows))]
    for j, c in zip(jrows, crows):
        if list(j.keys()) != cols:
            bad.append(("keys", list(j.keys())[:5]))
            continue
        for k, v in zip(cols, c):
            if not cell_equal(j[k], v):
                bad.append((k, j[k], v))
    return bad


def csv_rows(raw):
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    return rows[0], rows[1:]


def jsonl_rows(raw):
    text = raw.decode("utf-8")
    check(text == "" or text.endswith("\n"), "jsonl ends with a newline")
    return [json.loads(line) for line in text.split("\n") if line != ""]


# --- a real session ------------------------------------------------------------
print("a short session against the fixture HTTP server")
srv = HttpServer(tmp, mode="json")
try:
    sc = {
        "name": "json \"export\"",
        "target": {"transport": "http", "url": srv.url},
        "load": {"model": "open", "rate": 300, "max_in_flight": 16, "duration": "1500ms",
                 "warmup": "500ms"},
        "steps": [
            {"name": "=echo, \"quoted\"\\", "weight": 3, "method": "tools/call", "tool": "echo",
             "arguments": {"message": "m${seq}"}},
            {"name": "fails", "weight": 1, "method": "tools/call", "tool": "fail"},
            {"name": "ping", "weight": 1, "method": "ping"},
        ],
    }
    path = write_scenario(tmp, "json.json", sc)
    rc, out, err = run_loadscope(["run", path, "--headless", "--db", dbpath, "--quiet"])
    check(rc == 0, "the run exits 0 (got %d) %s" % (rc, err[-400:]))
finally:
    srv.stop()

conn = db(dbpath)
sess = last_session(conn)
sid = sess["id"]

# --- every what, json and jsonl against csv ------------------------------------
docs = {}
for what in ("samples", "intervals", "summary"):
    print(what)
    rc, craw, err = export([str(sid), "--what", what, "--db", dbpath])
    check(rc == 0, "%s csv exits 0 (%d) %s" % (what, rc, err.strip()))
    cols, crows = csv_rows(craw)
    rc, jraw, err = export([str(sid), "--what", what, "--format", "json", "--db", dbpath])
    check(rc == 0 and err == "", "%s json exits 0 quietly (%d) %s" % (what, rc, err.strip()))
    check(jraw.endswith(b"\n]}\n"), "%s json: one row per line, closed" % what)
    doc = json.loads(jraw.decode("utf-8"))
    docs[what] = doc
    problems = errors_of(DOC, doc)
    check(not problems, "%s json validates against docs/export.schema.json %s" % (what, problems))
    check(doc["what"] == what and doc["columns"] == cols,
          "%s json: what, and the columns are the CSV header" % what)
    bad = same_rows(what, doc["rows"], crows, cols)
    check(not bad, "%s json: every row equals the CSV row, cell by cell (%d rows) %s" %
          (what, len(crows), bad[:3]))
    rc, lraw, err = export([str(sid), "--what", what, "--format", "jsonl", "--db", dbpath])
    lines = jsonl_rows(lraw)
    check(rc == 0 and lines == doc["rows"], "%s jsonl: the document's rows, one per line (%d)" %
          (what, len(lines)))
    rv = row_validator(what)
    invalid = [errors_of(rv, r, 1) for r in lines if not rv.is_valid(r)]
    check(not invalid, "%s jsonl: every line validates as #/$defs/%s %s" %
          (what, ROW_DEF[what], invalid[:2]))

# --- real values ----------------------------------------------------------------
print("real values")
n_samples = conn.execute("SELECT count(*) FROM samples WHERE session_id=?", (sid,)).fetchone()[0]
n_iv = conn.execute("SELECT count(*) FROM intervals WHERE session_id=?", (sid,)).fetchone()[0]
check(len(docs["samples"]["rows"]) == n_samples > 100,
      "one sample row per stored sample (%d, SELECT count(*) %d)" %
      (len(docs["samples"]["rows"]), n_samples))
check(len(docs["intervals"]["rows"]) == n_iv >= 3, "one interval row per stored interval (%d)" % n_iv)
rc, craw, _ = export([str(sid), "--what", "summary", "--db", dbpath])
cols, crows = csv_rows(craw)
call = dict(zip(cols, crows[0]))
jall = docs["summary"]["rows"][0]
dball = conn.execute("SELECT count, errors, rate, p99_us FROM summaries WHERE session_id=? AND step=-1",
                     (sid,)).fetchone()
check(jall["step"] == -1 and jall["step_name"] == "ALL" and
      jall["count"] == int(call["count"]) == dball["count"] > 0 and
      jall["p99_us"] == int(call["p99_us"]) == dball["p99_us"] > 0 and
      jall["rate_per_s"] == float(call["rate_per_s"]) == dball["rate"],
      "summary ALL: requests %d, p99 %dus, rate %s in JSON, CSV and the database" %
      (jall["count"], jall["p99_us"], jall["rate_per_s"]))
fails = [r for r in docs["summary"]["rows"] if r["step_name"] == "fails"][0]
check(fails["errors"] == fails["errors_tool_error"] == fails["count"] > 0 and fails["error_rate"] == 1.0,
      "the failing step: every request a tool_error, error rate 1.0 (%d)" % fails["errors"])
names = {r["step_name"] for r in docs["samples"]["rows"]}
check("=echo, \"quoted\"\\" in names, "JSON keeps the step's own name (quote, backslash, no formula quote)")
check(all(isinstance(r["warmup"], bool) for r in docs["samples"]["rows"]) and
      sum(r["warmup"] for r in docs["samples"]["rows"]) ==
      conn.execute("SELECT count(*) FROM samples WHERE session_id=? AND (flags & 2) != 0",
                   (sid,)).fetchone()[0],
      "warmup is a boolean, true exactly for the warm-up samples")
s = docs["summary"]["session"]
check(s["id"] == sid and s["name"] == sess["name"] and s["target"] == sess["target"]
      and s["started_unix_ns"] == sess["started_unix_ns"]
      and s["ended_unix_ns"] == sess["ended_unix_ns"] and s["exit_code"] == sess["exit_code"] == 0
      and s["status"] == sess["status_text"] and s["loadscope_version"] == sess["version"],
      "the session object is the sessions row: %r" % s)

broken = json.loads(json.dumps(docs["summary"]))
broken["rows"][0]["count"] = "41"
broken["rows"][1]["p99"] = 5
check(len(list(DOC.iter_errors(broken))) == 2 and
      not row_validator("samples").is_valid(dict(docs["samples"]["rows"][0], late=1)),
      "the schema is not vacuous: a string count, an unknown key and a 0/1 flag are refused")

# --- -o FILE, locale, refusals ---------------------------------------------------
print("-o FILE, locale and refusals")
outp = tmp.file("iv.jsonl")
rc, raw, err = export([str(sid), "--what", "intervals", "--format", "jsonl", "--db", dbpath,
                       "-o", outp])
_, same, _ = export([str(sid), "--what", "intervals", "--format", "jsonl", "--db", dbpath])
check(rc == 0 and raw == b"" and open(outp, "rb").read() == same and not os.path.exists(outp + ".tmp"),
      "-o writes the same bytes, nothing on stdout, no .tmp left")
check(("%d rows written to %s" % (n_iv, outp)) in err, "-o says how many rows: %s" % err.strip())
env = {"LC_ALL": "de_DE.UTF-8", "LC_NUMERIC": "de_DE.UTF-8", "LANG": "de_DE.UTF-8"}
rc, de_raw, _ = export([str(sid), "--what", "intervals", "--format", "json", "--db", dbpath], env=env)
rc2, c_raw, _ = export([str(sid), "--what", "intervals", "--format", "json", "--db", dbpath],
                       env={"LC_ALL": "C"})
check(rc == 0 and de_raw == c_raw and json.loads(c_raw)["rows"],
      "LC_ALL=de_DE.UTF-8 gives the same JSON bytes as LC_ALL=C")
for args, needle in ((["--what", "summary", "--format", "xml"], "expected csv, json or jsonl"),
                     (["--what", "folded", "--format", "json"], "takes no --format")):
    rc, raw, err = export([str(sid)] + args + ["--db", dbpath])
    check(rc == 2 and needle in err and raw == b"", "%s: exit 2, \"%s\" (%d: %s)" %
          (" ".join(args), needle, rc, err.strip()))

# --- a traced session: hot paths ----------------------------------------------------
print("hot paths of a traced run")
exe = tmp.file("alloc_sites")
subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-o", exe,
                os.path.join(SRC, "fixtures", "alloc", "alloc_sites.c")], check=True)
rc, out, err = run_loadscope(["trace", "--db", dbpath, "--", exe, "2"])
check(rc == 0, "trace ran (%d) %s" % (rc, err.strip()[-200:]))
tid = conn.execute("SELECT max(id) FROM sessions").fetchone()[0]
rc, craw, err = export([str(tid), "--what", "hotpaths", "--db", dbpath])
cols, crows = csv_rows(craw)
rc, jraw, err = export([str(tid), "--what", "hotpaths", "--format", "json", "--db", dbpath])
doc = json.loads(jraw)
problems = errors_of(DOC, doc)
check(rc == 0 and not problems, "hotpaths json validates %s" % problems)
bad = same_rows("hotpaths", doc["rows"], crows, cols)
check(not bad and len(crows) > 5, "hotpaths json: every row equals the CSV row (%d rows) %s" %
      (len(crows), bad[:3]))
small = [r for r in doc["rows"] if r["blame_function"] == "site_small"]
check(len(small) == 1 and small[0]["allocs"] == 2000 and small[0]["stack"][0].startswith("site_small (")
      and any(f.startswith("main ") for f in small[0]["stack"])
      and small[0]["allocs_per_req"] is None,
      "site_small: 2000 allocations, its stack an array innermost first, no per-request figure")
keys = {r["stack_key"] for r in doc["rows"]}
check(keys == {r[0] for r in conn.execute("SELECT stack_key FROM alloc_stacks WHERE session_id=?",
                                          (tid,))},
      "stack keys (64-bit) read back whole")

# --- memory: jsonl of 50k and 500k samples ---------------------------------------------
print("memory: jsonl of 50k and 500k samples")


def synth_db(path, n):
    """The real session's samples repeated until the session holds about n."""
    c = sqlite3.connect(path)
    c.execute("PRAGMA journal_mode=OFF")
    c.execute("PRAGMA synchronous=OFF")
    c.execute("DELETE FROM samples WHERE session_id != ?", (sid,))
    base = c.execute("SELECT count(*) FROM samples WHERE session_id=?", (sid,)).fetchone()[0]
    cols_ = [r[1] for r in c.execute("PRAGMA table_info(samples)")]
    c.execute("""WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM k WHERE i < ?)
                 INSERT INTO samples(%s) SELECT %s
                 FROM k, (SELECT * FROM samples WHERE session_id=? LIMIT 100)""" %
              (", ".join(cols_), ", ".join("seq + 1000000 * (k.i + 1)" if x == "seq" else x
                                           for x in cols_)),
              ((n - base) // 100 - 1, sid))
    c.commit()
    got = c.execute("SELECT count(*) FROM samples WHERE session_id=?", (sid,)).fetchone()[0]
    c.close()
    return got


def child_maxrss_kb(args):
    code = ("import resource,subprocess,sys\n"
            "p=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)\n"
            "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    p = subprocess.run([sys.executable, "-c", code, BIN, "export"] + args,
                       capture_output=True, text=True, timeout=600)
    rc, kb = p.stdout.split()
    return int(rc), int(kb)


sizes = {}
for n in (50_000, 500_000):
    big = tmp.file("big-%d.db" % n)
    shutil.copy(dbpath, big)
    got = synth_db(big, n)
    rc, kb = child_maxrss_kb([str(sid), "--what", "samples", "--format", "jsonl", "--db", big])
    sizes[n] = (got, kb)
    check(rc == 0, "jsonl of %d samples: exit 0" % got)
    print("  %d samples: max RSS %d KiB" % (got, kb))
(n1, kb1), (n2, kb2) = sizes[50_000], sizes[500_000]
check(kb2 / kb1 < 1.15, "max RSS of 10x the rows is %.3fx (%d vs %d KiB): constant memory" %
      (kb2 / kb1, kb2, kb1))

shutil.rmtree(tmp.path, ignore_errors=True)
finish()
