"""AWS steps against real emulators on 127.0.0.1: dynalite (DynamoDB) and s3rver (S3).

1. A mixed scenario (an MCP step on server-everything over stdio, plus
   GetItem/PutItem/Query/BatchGetItem on dynalite and PutObject/GetObject on
   s3rver) after a setup phase: stored samples, summary rows, setup events,
   and the emulators' own state (items and objects written) checked exactly.
2. A BatchGetItem of 150 large items: split into 100 + 50 keys, dynalite
   answers the first call partly (its reply passes 1 MB) and the rest comes
   through UnprocessedKeys; the fault proxy (no faults) counts the calls and
   the items returned.
3. Through the fault proxy: throttled GetItems retried within
   AWS_MAX_ATTEMPTS with jittered backoff, the stored attempt counts equal to
   the proxy's count; 5xx on S3 PUT retried the same way; a
   ValidationException never retried.
4. The secret access key and session token (unique fake values) appear
   nowhere: database files, stdout/stderr of every run, every export.
"""
import glob
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from lsutil import (BIN, EVERYTHING, FIXTURES, TempDir, check, db, finish,  # noqa: E402
                    run_loadscope, write_scenario)

DYNALITE = os.path.join(FIXTURES, "node_modules", "dynalite", "cli.js")
S3RVER = os.path.join(FIXTURES, "node_modules", "s3rver", "bin", "s3rver.js")
PROXY = os.path.join(FIXTURES, "aws-fault-proxy.mjs")

SECRET = "lsTestSecret%s" % hashlib.sha256(os.urandom(16)).hexdigest()[:24]
TOKEN = "lsTestToken%s" % hashlib.sha256(os.urandom(16)).hexdigest()[:32]
ENV = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": SECRET,
       "AWS_SESSION_TOKEN": TOKEN, "AWS_REGION": "us-east-1",
       "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
for k in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE",
          "AWS_MAX_ATTEMPTS", "AWS_DEFAULT_REGION"):
    os.environ.pop(k, None)

outputs = []  # every stdout/stderr, for the secrets scan


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Proc:
    """A fixture server on 127.0.0.1, stopped by PID."""

    def __init__(self, tmp, name, argv, ready_url):
        self.log = open(tmp.file(name + ".log"), "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                urllib.request.urlopen(ready_url, timeout=1).read()
                return
            except Exception:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("%s did not start" % name)

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


class Proxy(Proc):
    def __init__(self, tmp, upstream, *faults):
        self.port = free_port()
        Proc.__init__(self, tmp, "proxy-%d" % self.port,
                      ["node", PROXY, "--upstream", upstream, "--port", str(self.port)] +
                      list(faults), "http://127.0.0.1:%d/stats" % self.port)
        self.url = "http://127.0.0.1:%d" % self.port

    def stats(self):
        with urllib.request.urlopen(self.url + "/stats", timeout=5) as r:
            return json.loads(r.read())


def amz_headers(payload=b""):
    """Headers the emulators accept (neither checks the signature's value)."""
    date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return {"x-amz-date": date, "x-amz-content-sha256": hashlib.sha256(payload).hexdigest(),
            "Authorization": "AWS4-HMAC-SHA256 Credential=S3RVER/%s/us-east-1/s3/aws4_request, "
                             "SignedHeaders=host;x-amz-date, Signature=%s" % (date[:8], "0" * 64)}


def ddb(url, op, body):
    data = json.dumps(body).encode()
    h = amz_headers(data)
    h["Content-Type"] = "application/x-amz-json-1.0"
    h["X-Amz-Target"] = "DynamoDB_20120810." + op
    req = urllib.request.Request(url + "/", data=data, headers=h, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def s3_sizes(url, bucket, prefix):
    """{key: size} of the objects under prefix, from ListObjectsV2."""
    import xml.etree.ElementTree as ET
    req = urllib.request.Request("%s/%s?list-type=2&prefix=%s&max-keys=100000" % (url, bucket, prefix),
                                 headers=amz_headers())
    with urllib.request.urlopen(req, timeout=10) as r:
        root = ET.fromstring(r.read())
    ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    out = {}
    for c in root.iter(ns + "Contents"):
        out[c.find(ns + "Key").text] = int(c.find(ns + "Size").text)
    return out


def run(args, env_extra=None):
    env = dict(ENV)
    if env_extra:
        env.update(env_extra)
    rc, out, err = run_loadscope(args, env=env, timeout=180)
    outputs.append(out)
    outputs.append(err)
    return rc, out, err


def table(name, big=False):
    t = {"TableName": name,
         "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "N"}],
         "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                       {"AttributeName": "sk", "KeyType": "RANGE"}],
         "BillingMode": "PAY_PER_REQUEST"}
    return {"create_table": t, "wait_active": True}


def samples(conn, session, step):
    return conn.execute("SELECT * FROM samples WHERE session_id=? AND step=? ORDER BY seq",
                        (session, step)).fetchall()


# ---------------------------------------------------------------- the tests

def test_mixed(tmp, dyn_url, s3_url, dbpath):
    print("mixed MCP + DynamoDB + S3 scenario with setup")
    scn = {
        "name": "aws mixed",
        "target": {"transport": "stdio", "command": ["node", EVERYTHING, "stdio"]},
        "aws": {"region": "us-east-1",
                "endpoints": {"dynamodb": dyn_url, "s3": s3_url},
                "setup": [table("orders"),
                          {"put_items": {"table": "orders", "count": 100,
                                         "item": {"pk": {"S": "cust-${seq}"}, "sk": {"N": "1"},
                                                  "total": {"N": "${rand:1:999}"}}}},
                          {"create_bucket": "blobs"},
                          {"put_objects": {"bucket": "blobs", "count": 10, "key": "seed/${seq}.bin",
                                           "size": 2048}}]},
        "load": {"model": "closed", "concurrency": 4, "duration": "2s"},
        "steps": [
            {"name": "echo", "method": "tools/call", "tool": "echo",
             "arguments": {"message": "hi ${seq}"}},
            {"name": "get", "method": "dynamodb.GetItem",
             "request": {"TableName": "orders",
                         "Key": {"pk": {"S": "cust-${rand:0:99}"}, "sk": {"N": "1"}}}},
            {"name": "put", "method": "dynamodb.PutItem",
             "request": {"TableName": "orders", "Item": {"pk": {"S": "new-w${worker}-${seq}"},
                                                          "sk": {"N": "1"}}}},
            {"name": "query", "method": "dynamodb.Query",
             "request": {"TableName": "orders", "KeyConditionExpression": "pk = :p",
                         "ExpressionAttributeValues": {":p": {"S": "cust-${rand:0:99}"}}}},
            {"name": "bget", "method": "dynamodb.BatchGetItem",
             "request": {"RequestItems": {"orders": {"Keys": [
                 {"pk": {"S": "cust-1"}, "sk": {"N": "1"}},
                 {"pk": {"S": "cust-2"}, "sk": {"N": "1"}}]}}}},
            {"name": "s3put", "method": "s3.PutObject", "bucket": "blobs", "key": "up/${seq}.bin",
             "size": {"choices": [{"size": 100, "weight": 3}, {"size": 5000, "weight": 1}]}},
            {"name": "s3get", "method": "s3.GetObject", "bucket": "blobs",
             "key": "seed/${rand:0:9}.bin"},
        ],
    }
    path = write_scenario(tmp, "mixed.json", scn)
    rc, out, err = run(["run", path, "--headless", "--db", dbpath, "--quiet"])
    check(rc == 0, "mixed run exits 0 (got %d)%s" % (rc, "" if rc == 0 else ": " + err[-600:]))
    conn = db(dbpath)
    sid = conn.execute("SELECT max(id) FROM sessions").fetchone()[0]
    names = [r["name"] for r in conn.execute("SELECT name FROM steps WHERE session_id=? ORDER BY idx",
                                             (sid,))]
    counts = {}
    for i, name in enumerate(names[:7]):
        rows = samples(conn, sid, i)
        counts[name] = len(rows)
        check(len(rows) > 0, "step %s has samples (%d)" % (name, len(rows)))
        check(all(r["err"] == 0 for r in rows), "step %s: no errors" % name)
        if name == "echo":
            check(all(r["attempts"] == 0 and r["aws_code"] is None for r in rows),
                  "MCP samples carry no AWS attempts")
            continue
        check(all(r["attempts"] == 1 and r["retries"] == 0 and r["followups"] == 0 and
                  r["backoff_us"] == 0 and r["aws_code"] is None for r in rows),
              "step %s: one attempt each, no retry, no follow-up, no code" % name)
        check(all(r["last_try_us"] <= (r["end_ns"] - r["start_ns"]) // 1000 + 1 for r in rows),
              "step %s: the final attempt fits in the sample's latency" % name)
        check(all(r["status"] == 200 for r in rows), "step %s: HTTP 200" % name)
    # nothing but the scenario's steps and the handshake: the setup left no samples
    other = conn.execute("SELECT count(*) FROM samples WHERE session_id=? AND step NOT BETWEEN 0 AND 7",
                         (sid,)).fetchone()[0]
    check(other == 0, "setup requests are not samples (%d stray)" % other)
    setup = [r["message"] for r in conn.execute(
        "SELECT message FROM events WHERE session_id=? AND kind='aws_setup' ORDER BY rowid", (sid,))]
    check(len(setup) == 5 and setup[0].startswith("create_table orders: created, ACTIVE after") and
          setup[1].startswith("put_items orders: 100 item(s) in 4 BatchWriteItem call(s)") and
          setup[2].startswith("create_bucket blobs: created") and
          setup[3].startswith("put_objects blobs: 10 object(s), 20480 bytes") and
          setup[4].startswith("setup done: 4 action(s)"),
          "setup events: %s" % setup)

    # the emulators' own state: every stored PutItem / PutObject sample is there, nothing more
    scan = ddb(dyn_url, "Scan", {"TableName": "orders", "Select": "COUNT"})
    check(scan["Count"] == 100 + counts["put"],
          "orders holds 100 seeded + %d put items (Scan: %d)" % (counts["put"], scan["Count"]))
    objs = s3_sizes(s3_url, "blobs", "up/")
    puts = samples(conn, sid, names.index("s3put"))
    check(len(objs) == len(puts), "s3rver holds one object per PutObject sample (%d vs %d)" %
          (len(objs), len(puts)))
    check(sum(objs.values()) == sum(r["bytes_out"] for r in puts),
          "object bytes in s3rver equal the stored bytes_out (%d)" % sum(objs.values()))
    check(set(objs.values()) <= {100, 5000}, "object sizes come from the choices")
    gets = samples(conn, sid, names.index("s3get"))
    check(all(r["bytes_in"] == 2048 for r in gets), "every GetObject read 2048 bytes")
    # summaries: each step's measured count equals its samples
    for i, name in enumerate(names[:7]):
        sm = conn.execute("SELECT count, errors, err_json FROM summaries WHERE session_id=? AND step=?",
                          (sid, i)).fetchone()
        check(sm is not None and sm["count"] == counts[name] and sm["errors"] == 0 and
              sm["err_json"] == "{}", "summary of %s: %d requests, no errors" % (name, counts[name]))
    aws_ops = sum(counts[n] for n in names[1:7])
    check("aws: %d operation(s), %d HTTP attempt(s), 0 retries, 0 batch follow-up(s)" % (aws_ops, aws_ops)
          in out, "printed summary counts %d AWS operations and attempts" % aws_ops)
    conn.close()


def test_big_batch(tmp, dyn_url, dbpath):
    print("BatchGetItem of 150 large items: split 100 + 50, completed through UnprocessedKeys")
    proxy = Proxy(tmp, dyn_url)
    try:
        blob = "x" * 20000
        keys = [{"pk": {"S": "big-%d" % i}, "sk": {"N": "1"}} for i in range(150)]
        scn = {
            "target": {"transport": "aws"},
            "aws": {"endpoints": {"dynamodb": proxy.url, "s3": proxy.url},
                    "setup": [table("big"),
                              {"put_items": {"table": "big", "count": 150,
                                             "item": {"pk": {"S": "big-${seq}"}, "sk": {"N": "1"},
                                                      "blob": {"S": blob}}}}]},
            "load": {"model": "closed", "concurrency": 1, "duration": "1s"},
            "steps": [{"name": "bget", "method": "dynamodb.BatchGetItem",
                       "request": {"RequestItems": {"big": {"Keys": keys}}}}],
        }
        path = write_scenario(tmp, "big.json", scn)
        rc, out, err = run(["run", path, "--headless", "--db", dbpath, "--quiet"])
        check(rc == 0, "big batch run exits 0 (got %d)%s" % (rc, "" if rc == 0 else ": " + err[-400:]))
        conn = db(dbpath)
        sid = conn.execute("SELECT max(id) FROM sessions").fetchone()[0]
        rows = samples(conn, sid, 0)
        st = proxy.stats()
        check(len(rows) > 0, "big batch samples: %d" % len(rows))
        check(all(r["err"] == 0 for r in rows), "every batch completed without error")
        check(all(r["followups"] >= 1 for r in rows),
              "every batch needed UnprocessedKeys follow-ups (%s)" % sorted({r["followups"] for r in rows}))
        check(all(r["attempts"] == 2 + r["followups"] and r["retries"] == 0 for r in rows),
              "attempts = 2 split calls + follow-ups")
        check(sum(r["attempts"] for r in rows) == st["by_op"]["BatchGetItem"]["requests"],
              "stored attempts (%d) = BatchGetItem calls the proxy saw (%d)" %
              (sum(r["attempts"] for r in rows), st["by_op"]["BatchGetItem"]["requests"]))
        check(st["batch_get_items"] == 150 * len(rows),
              "the proxy saw %d items returned = 150 per batch" % st["batch_get_items"])
        check(all(r["bytes_in"] > 150 * 20000 for r in rows), "each batch read all 150 blobs")
        conn.close()
    finally:
        proxy.stop()


def test_throttled(tmp, dyn_url, dbpath):
    print("throttled GetItem through the fault proxy, AWS_MAX_ATTEMPTS=2 and default 3")
    for max_attempts in (2, 3):
        proxy = Proxy(tmp, dyn_url, "--throttle", "0.4", "--only", "GetItem", "--seed", "11")
        try:
            scn = {
                "target": {"transport": "aws"},
                "aws": {"endpoints": {"dynamodb": proxy.url, "s3": proxy.url}},
                "load": {"model": "closed", "concurrency": 4, "duration": "1s"},
                "steps": [{"name": "get", "method": "dynamodb.GetItem",
                           "request": {"TableName": "orders",
                                       "Key": {"pk": {"S": "cust-${rand:0:99}"}, "sk": {"N": "1"}}}}],
            }
            path = write_scenario(tmp, "throttle%d.json" % max_attempts, scn)
            env = {"AWS_MAX_ATTEMPTS": str(max_attempts)} if max_attempts != 3 else None
            rc, out, err = run(["run", path, "--headless", "--db", dbpath, "--quiet"], env)
            check(rc == 0, "throttle run exits 0 (got %d)%s" % (rc, "" if rc == 0 else ": " + err[-400:]))
            conn = db(dbpath)
            sid = conn.execute("SELECT max(id) FROM sessions").fetchone()[0]
            rows = samples(conn, sid, 0)
            st = proxy.stats()["by_op"]["GetItem"]
            attempts = sum(r["attempts"] for r in rows)
            check(attempts == st["requests"],
                  "max %d: stored attempts %d = proxy's GetItem requests %d" %
                  (max_attempts, attempts, st["requests"]))
            final_throttled = [r for r in rows if r["err"] != 0]
            check(sum(r["retries"] for r in rows) + len(final_throttled) == st["throttled"],
                  "max %d: retries + final throttles = throttles the proxy sent (%d)" %
                  (max_attempts, st["throttled"]))
            check(max(r["attempts"] for r in rows) == max_attempts,
                  "max %d: no operation went past %d attempts" % (max_attempts, max_attempts))
            check(all(r["retries"] == r["attempts"] - 1 for r in rows), "retries = attempts - 1")
            check(len(final_throttled) > 0 and all(
                r["attempts"] == max_attempts and r["aws_code"] == "ProvisionedThroughputExceededException"
                for r in final_throttled),
                "max %d: %d operations throttled on every attempt, code kept" %
                (max_attempts, len(final_throttled)))
            names = dict(conn.execute("SELECT id, name FROM error_classes").fetchall())
            check(all(names[r["err"]] == "throttled" for r in final_throttled),
                  "their class is \"throttled\"")
            # full jitter: each backoff is within [0, 100 ms * (2^retries - 1)], and they differ
            retried = [r for r in rows if r["retries"] > 0]
            check(all(0 <= r["backoff_us"] <= 100000 * (2 ** r["retries"] - 1) for r in retried),
                  "every backoff within the full-jitter bound (base 100 ms, doubling)")
            check(len({r["backoff_us"] for r in retried}) > len(retried) // 2,
                  "backoffs are jittered (%d distinct of %d)" %
                  (len({r["backoff_us"] for r in retried}), len(retried)))
            sm = conn.execute("SELECT err_json FROM summaries WHERE session_id=? AND step=0",
                              (sid,)).fetchone()
            measured_throttled = sum(1 for r in final_throttled if not r["flags"] & 2)
            check(json.loads(sm["err_json"]) == {"throttled": measured_throttled},
                  "summary counts the throttled class: %s" % sm["err_json"])
            check("failed with ProvisionedThroughputExceededException" in out,
                  "printed summary names the AWS error code")
            conn.close()
        finally:
            proxy.stop()


def test_s3_5xx(tmp, s3_url, dbpath):
    print("S3 PutObject through the fault proxy answering 500 InternalError")
    proxy = Proxy(tmp, s3_url, "--server-error", "0.35", "--only", "PUT", "--seed", "5")
    try:
        scn = {
            "target": {"transport": "aws"},
            "aws": {"endpoints": {"dynamodb": proxy.url, "s3": proxy.url}},
            "load": {"model": "closed", "concurrency": 2, "duration": "1s"},
            "steps": [{"name": "put", "method": "s3.PutObject", "bucket": "blobs",
                       "key": "retry/${seq}-${worker}", "size": {"uniform": [10, 3000]}}],
        }
        path = write_scenario(tmp, "s3retry.json", scn)
        rc, out, err = run(["run", path, "--headless", "--db", dbpath, "--quiet"])
        check(rc == 0, "s3 5xx run exits 0 (got %d)%s" % (rc, "" if rc == 0 else ": " + err[-400:]))
        conn = db(dbpath)
        sid = conn.execute("SELECT max(id) FROM sessions").fetchone()[0]
        rows = samples(conn, sid, 0)
        st = proxy.stats()["by_op"]["PUT"]
        check(sum(r["attempts"] for r in rows) == st["requests"],
              "stored attempts %d = PUTs the proxy saw %d" % (sum(r["attempts"] for r in rows),
                                                              st["requests"]))
        failed = [r for r in rows if r["err"] != 0]
        check(sum(r["retries"] for r in rows) + len(failed) == st["server_errors"],
              "retries + final failures = 500s sent (%d)" % st["server_errors"])
        check(any(r["retries"] > 0 and r["err"] == 0 for r in rows), "some PUTs succeeded on a retry")
        check(all(r["aws_code"] == "InternalError" and r["attempts"] == 3 for r in failed),
              "final failures tried 3 times and keep the code InternalError")
        ok = [r for r in rows if r["err"] == 0]
        objs = s3_sizes(s3_url, "blobs", "retry/")
        check(len(objs) == len(ok), "one object per successful PUT (%d)" % len(ok))
        conn.close()
    finally:
        proxy.stop()


def test_not_retried(tmp, dyn_url, dbpath):
    print("ValidationException is never retried")
    proxy = Proxy(tmp, dyn_url, "--client-error", "1", "--only", "GetItem")
    try:
        scn = {
            "target": {"transport": "aws"},
            "aws": {"endpoints": {"dynamodb": proxy.url, "s3": proxy.url}},
            "load": {"model": "closed", "concurrency": 2, "duration": "0.5s"},
            "steps": [{"name": "get", "method": "dynamodb.GetItem",
                       "request": {"TableName": "orders",
                                   "Key": {"pk": {"S": "cust-1"}, "sk": {"N": "1"}}}}],
        }
        path = write_scenario(tmp, "validation.json", scn)
        rc, out, err = run(["run", path, "--headless", "--db", dbpath, "--quiet"])
        # Every GetItem failed: the run did not do its job (exit 1, see test_refused.py).
        check(rc == 1 and "no measured request succeeded" in err,
              "validation run, nothing succeeded: exits 1 (got %d)" % rc)
        conn = db(dbpath)
        sid = conn.execute("SELECT max(id) FROM sessions").fetchone()[0]
        rows = samples(conn, sid, 0)
        st = proxy.stats()["by_op"]["GetItem"]
        names = dict(conn.execute("SELECT id, name FROM error_classes").fetchall())
        check(len(rows) > 0 and len(rows) == st["requests"],
              "one request per operation (%d samples, %d requests)" % (len(rows), st["requests"]))
        check(all(r["attempts"] == 1 and r["retries"] == 0 and r["backoff_us"] == 0 and
                  names[r["err"]] == "aws_client_error" and r["aws_code"] == "ValidationException"
                  and r["status"] == 400 for r in rows),
              "every sample: 1 attempt, aws_client_error, ValidationException, HTTP 400")
        conn.close()
    finally:
        proxy.stop()


def test_no_secrets(tmp, dbpath):
    print("the secret key and session token are nowhere")
    conn = db(dbpath)
    sessions = [r[0] for r in conn.execute("SELECT id FROM sessions")]
    conn.close()
    blobs = [("stdout/stderr", "\n".join(outputs).encode())]
    for f in glob.glob(dbpath + "*"):
        with open(f, "rb") as fh:
            blobs.append((os.path.basename(f), fh.read()))
    exported = 0
    for sid in sessions:
        for what in ("samples", "intervals", "summary"):
            p = subprocess.run([BIN, "export", str(sid), "--what", what, "--db", dbpath],
                               capture_output=True, env=dict(os.environ, **ENV), timeout=60)
            if p.returncode == 0:
                exported += 1
            blobs.append(("export %d %s" % (sid, what), p.stdout + p.stderr))
    check(exported == 3 * len(sessions), "every export ran (%d of %d)" % (exported, 3 * len(sessions)))
    for name, data in blobs:
        for secret, what in ((SECRET, "secret key"), (TOKEN, "session token")):
            for form in (secret.encode(), secret.encode().hex().encode()):
                if form in data:
                    check(False, "%s found in %s" % (what, name))
    check(len(blobs) > 3, "scanned %d outputs, database files and exports" % len(blobs))


def main():
    tmp = TempDir()
    dbpath = tmp.file("aws.db")
    dport, sport = free_port(), free_port()
    dyn_url = "http://127.0.0.1:%d" % dport
    s3_url = "http://127.0.0.1:%d" % sport
    dyn = Proc(tmp, "dynalite", ["node", DYNALITE, "--host", "127.0.0.1", "--port", str(dport),
                                 "--createTableMs", "50"], dyn_url + "/")
    s3dir = tmp.file("s3")
    os.makedirs(s3dir)
    try:
        s3 = Proc(tmp, "s3rver", ["node", S3RVER, "-d", s3dir, "-a", "127.0.0.1", "-p", str(sport),
                                  "--allow-mismatched-signatures", "-s"], s3_url + "/")
    except Exception:
        dyn.stop()
        raise
    try:
        test_mixed(tmp, dyn_url, s3_url, dbpath)
        test_big_batch(tmp, dyn_url, dbpath)
        test_throttled(tmp, dyn_url, dbpath)
        test_s3_5xx(tmp, s3_url, dbpath)
        test_not_retried(tmp, dyn_url, dbpath)
        test_no_secrets(tmp, dbpath)
    finally:
        dyn.stop()
        s3.stop()
    finish()


if __name__ == "__main__":
    main()
