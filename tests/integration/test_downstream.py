"""The downstream recording proxies against real emulators on 127.0.0.1.

The proxies run in build/ds_driver (tests/downstream/ds_driver.c): the
scenario's target.downstream and downstream_faults, a session database, and
commands on stdin for the MCP requests in flight. Real SigV4-signed AWS
requests go through them from a small stand-in for an AWS SDK (below: its
own credentials, amz-sdk-request and amz-sdk-invocation-id on every attempt,
a kept-alive connection, the standard retry classification), and what the
driver stored is read back from SQLite.

1. Calls and rows: DynamoDB (dynalite) and S3 (s3rver) operations, one row
   per call the client made, named, with status, bytes, new connections,
   invocation ids; calls made before the origin; per step, the calls per MCP
   request exactly (8 GetItem per request of one step, 1 BatchGetItem per
   request of another, a PutItem split between two steps in flight); the
   per-second rows add up to the call rows; the live model equals the model
   replayed from the database; a 2 MB PutObject with Expect: 100-continue.
2. Faults: throttles, 5xx and resets injected into GetItem and S3 PUTs,
   retried by the client: stored attempts = the client's attempts = the
   proxy's tally, retries (attempt > 1) = the client's retries = rows minus
   invocations, each fault's rows = the tally's count; the same seed gives
   the same faults call for call, another seed others; added latency within
   its distribution.
3. Unprocessed keys: BatchWriteItem of 150 items of 20 KB, then BatchGetItem
   of 100 keys, whose reply passes dynalite's 1 MB and leaves keys in
   UnprocessedKeys; the stored asked/unprocessed counts equal what the client
   sent and got, follow-ups included.
4. HTTPS re-signing: the proxies in front of a TLS endpoint (node,
   fixtures/sigv4-tls-front.mjs, with a certificate made here by openssl and
   given through AWS_CA_BUNDLE) that recomputes every signature with the
   configuration chain's secret and session token before forwarding to
   dynalite or s3rver; the client signs with other credentials, every
   re-signed request verifies; without the CA bundle the certificate is
   refused (502, an event). The chain's secret and token appear nowhere.
"""
import datetime
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from lsutil import FIXTURES, SRC, TempDir, check, db, finish  # noqa: E402

BUILD = os.environ.get("LOADSCOPE_BUILD") or os.path.join(SRC, "build")
DRIVER = os.path.join(BUILD, "ds_driver")
DYNALITE = os.path.join(FIXTURES, "node_modules", "dynalite", "cli.js")
S3RVER = os.path.join(FIXTURES, "node_modules", "s3rver", "bin", "s3rver.js")
FRONT = os.path.join(FIXTURES, "sigv4-tls-front.mjs")

CHAIN_KEY = "S3RVER"  # s3rver knows no other key id; the secrets differ
CHAIN_SECRET = "chainSecret%s" % hashlib.sha256(os.urandom(16)).hexdigest()[:24]
CHAIN_TOKEN = "chainToken%s" % hashlib.sha256(os.urandom(16)).hexdigest()[:32]
outputs = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Proc:
    """A fixture server on 127.0.0.1, stopped by PID."""

    def __init__(self, tmp, name, argv, ready):
        self.log = open(tmp.file(name + ".log"), "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if ready():
                    return
            except Exception:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("%s did not start (see %s)" % (name, tmp.file(name + ".log")))

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def url_ready(url):
    return lambda: urllib.request.urlopen(url, timeout=1).read() is not None


# ------------------------------------------------------------------ the driver

def base_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": CHAIN_KEY, "AWS_SECRET_ACCESS_KEY": CHAIN_SECRET,
                "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
    env.update(extra or {})
    return env


def scenario(downstream, faults=None, nsteps=4):
    t = {"transport": "stdio", "command": ["true"], "downstream": downstream}
    if faults:
        t["downstream_faults"] = faults
    return {"name": "downstream", "target": t, "load": {"duration": "1s"},
            "steps": [{"name": "s%d" % i, "method": "ping"} for i in range(nsteps)]}


class Driver:
    def __init__(self, tmp, name, scn, env=None):
        self.path = tmp.file(name + ".json")
        self.db = tmp.file(name + ".db")
        with open(self.path, "w") as f:
            json.dump(scn, f)
        self.errpath = tmp.file(name + ".stderr")
        self.err = open(self.errpath, "w")
        self.p = subprocess.Popen([DRIVER, self.path, self.db], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.err, text=True, bufsize=1,
                                  env=base_env(env))
        self.env, self.out = {}, []
        for line in self.p.stdout:
            self.out.append(line)
            if line.startswith("SESSION "):
                self.session = int(line.split()[1])
            elif line.startswith("ENV "):
                k, v = line[4:].strip().split("=", 1)
                self.env[k] = v
            elif line.startswith("READY"):
                return
        raise RuntimeError("ds_driver did not start: %s" % open(self.errpath).read())

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        reply = self.p.stdout.readline()
        self.out.append(reply)
        return reply.strip()

    def stop(self, wait_ms=3000):
        self.p.stdin.write("stop %d\n" % wait_ms)
        self.p.stdin.flush()
        res = {}
        for line in self.p.stdout:
            self.out.append(line)
            tag, _, rest = line.strip().partition(" ")
            if tag in ("TALLY", "LIVE", "REPLAY"):
                res[tag] = json.loads(rest)
            elif tag == "STORE_ERRORS":
                res[tag] = int(rest)
            elif tag == "DONE":
                break
        self.p.stdin.close()
        rc = self.p.wait(timeout=30)
        self.err.close()
        check(rc == 0 and res.get("STORE_ERRORS") == 0,
              "ds_driver (%s) stopped cleanly, nothing lost in storage" % os.path.basename(self.path))
        outputs.append("".join(self.out))
        outputs.append(open(self.errpath).read())
        return res

    def rows(self, sql, args=()):
        conn = db(self.db)
        r = conn.execute(sql, args).fetchall()
        conn.close()
        return r


# ------------------------------------------------------------------ a small AWS SDK

def _enc(s):
    return urllib.parse.quote(s, safe="-_.~")


def sigv4(method, host, path, query, headers, body, service, key, secret, token=None):
    amz = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    h = {k.lower(): v for k, v in headers.items()}
    h["host"] = host
    h["x-amz-date"] = amz
    if token:
        h["x-amz-security-token"] = token
    payload = hashlib.sha256(body).hexdigest()
    if service == "s3":
        h["x-amz-content-sha256"] = payload
    signed = sorted(k for k in h if k not in ("user-agent", "expect"))
    pairs = sorted((_enc(urllib.parse.unquote(k)), _enc(urllib.parse.unquote(v)))
                   for k, _, v in (p.partition("=") for p in query.split("&") if p))
    uri = path if service == "s3" else "/".join(_enc(s) for s in path.split("/"))
    creq = "\n".join([method, uri, "&".join("%s=%s" % p for p in pairs),
                      "".join("%s:%s\n" % (k, " ".join(h[k].split())) for k in signed),
                      ";".join(signed), payload])
    scope = "%s/us-east-1/%s/aws4_request" % (amz[:8], service)
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (amz[:8], "us-east-1", service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    out = dict(headers)
    out["X-Amz-Date"] = amz
    if token:
        out["X-Amz-Security-Token"] = token
    if service == "s3":
        out["x-amz-content-sha256"] = payload
    out["Authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        key, scope, ";".join(signed), sig)
    return out


class Sdk:
    """An AWS SDK's habits, as the proxies see them: one kept-alive connection (reopened after a
    reset), SigV4 with the client's own credentials, amz-sdk-request / amz-sdk-invocation-id on
    every attempt, throttles, 5xx and resets retried up to max_attempts (no backoff: the test
    needs no sleep)."""

    def __init__(self, endpoint, service, max_attempts=3, key="S3RVER", secret="target-secret"):
        u = urllib.parse.urlparse(endpoint)
        self.host, self.port, self.service = u.hostname, u.port, service
        self.max, self.key, self.secret = max_attempts, key, secret
        self.conn = None
        self.opened = self.attempts = self.retries = self.invocations = 0
        self.resets = self.throttles = self.server_errors = 0

    def close(self):
        if self.conn:
            self.conn.close()
        self.conn = None

    def _once(self, method, target, body, headers):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            self.opened += 1
        path, _, query = target.partition("?")
        h = sigv4(method, "%s:%d" % (self.host, self.port), path, query, headers, body,
                  self.service, self.key, self.secret)
        self.conn.request(method, target, body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read()
        if r.getheader("connection", "").lower() == "close":
            self.close()
        return r.status, data

    def call(self, method, target, body=b"", headers=None):
        inv = str(uuid.uuid4())
        self.invocations += 1
        status = 0
        for attempt in range(1, self.max + 1):
            h = dict(headers or {})
            h["amz-sdk-invocation-id"] = inv
            h["amz-sdk-request"] = "attempt=%d; max=%d" % (attempt, self.max)
            self.attempts += 1
            if attempt > 1:
                self.retries += 1
            try:
                status, data = self._once(method, target, body, h)
            except (ConnectionError, http.client.HTTPException):
                self.resets += 1
                self.close()
                continue
            throttled = (status == 400 and b"ProvisionedThroughputExceeded" in data) or status == 503
            if throttled:
                self.throttles += 1
            elif status >= 500:
                self.server_errors += 1
            if not (throttled or status >= 500):
                return status, data
        return status, b""

    def ddb(self, op, req):
        status, data = self.call("POST", "/", json.dumps(req).encode(),
                                 {"X-Amz-Target": "DynamoDB_20120810." + op,
                                  "Content-Type": "application/x-amz-json-1.0"})
        return status, (json.loads(data) if data else {})


# ------------------------------------------------------------------ the tests

def key(i):
    return {"pk": {"S": "k%d" % i}}


def test_calls_and_rows(tmp, dyn_url, s3_url):
    print("calls and rows: DynamoDB and S3 through the proxies, attribution per step")
    d = Driver(tmp, "rows", scenario({"dynamodb": dyn_url, "s3": s3_url}))
    check(d.env == {"AWS_ENDPOINT_URL_DYNAMODB": d.env.get("AWS_ENDPOINT_URL_DYNAMODB"),
                    "AWS_ENDPOINT_URL_S3": d.env.get("AWS_ENDPOINT_URL_S3")} and
          d.env["AWS_ENDPOINT_URL_DYNAMODB"].startswith("http://127.0.0.1:") and
          d.env["AWS_ENDPOINT_URL_DYNAMODB"] != d.env["AWS_ENDPOINT_URL_S3"],
          "two services: AWS_ENDPOINT_URL_DYNAMODB and _S3, no AWS_ENDPOINT_URL (%s)" % d.env)
    ddb = Sdk(d.env["AWS_ENDPOINT_URL_DYNAMODB"], "dynamodb")
    s3 = Sdk(d.env["AWS_ENDPOINT_URL_S3"], "s3")
    # before the origin: set-up calls, stored before second 0 with no step
    status, _ = ddb.ddb("CreateTable", {
        "TableName": "orders", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]})
    check(status == 200, "CreateTable through the proxy: %d" % status)
    for _ in range(100):
        status, r = ddb.ddb("DescribeTable", {"TableName": "orders"})
        if r.get("Table", {}).get("TableStatus") == "ACTIVE":
            break
        time.sleep(0.02)
    pre = ddb.attempts
    status, r = ddb.ddb("BatchWriteItem", {"RequestItems": {"orders": [
        {"PutRequest": {"Item": dict(key(i), total={"N": str(i)})}} for i in range(20)]}})
    check(status == 200 and not r.get("UnprocessedItems"), "20 items written in one BatchWriteItem")
    d.cmd("origin")
    # step 0: 8 GetItem per request, one request at a time, then two at once
    for rq in range(5):
        d.cmd("begin 0")
        for i in range(8):
            status, r = ddb.ddb("GetItem", {"TableName": "orders", "Key": key(rq + i)})
            check(status == 200 and "Item" in r, "GetItem %d/%d" % (rq, i)) if i == 0 else None
        d.cmd("end 0")
    d.cmd("begin 0")
    d.cmd("begin 0")
    for i in range(16):
        ddb.ddb("GetItem", {"TableName": "orders", "Key": key(i)})
    d.cmd("end 0")
    d.cmd("end 0")
    # step 1: one BatchGetItem of 8 keys per request, on a new connection each time
    for rq in range(5):
        d.cmd("begin 1")
        ddb.close()
        status, r = ddb.ddb("BatchGetItem", {"RequestItems": {"orders": {
            "Keys": [key(rq + i) for i in range(8)]}}})
        check(status == 200 and len(r["Responses"]["orders"]) == 8, "BatchGetItem %d: 8 items" % rq)
        d.cmd("end 1")
    # steps 2 and 3 in flight together: their PutItem is split in halves
    d.cmd("begin 2")
    d.cmd("begin 3")
    status, _ = ddb.ddb("PutItem", {"TableName": "orders", "Item": key(999)})
    d.cmd("end 2")
    d.cmd("end 3")
    check(status == 200, "PutItem shared by steps 2 and 3")
    # S3 with nothing in flight
    blob = os.urandom(3000)
    s3_calls = [("PUT", "/blobs", b""), ("PUT", "/blobs/a%20b/one.bin", blob),
                ("GET", "/blobs/a%20b/one.bin", b""), ("HEAD", "/blobs/a%20b/one.bin", b""),
                ("GET", "/blobs?list-type=2&prefix=a", b""), ("DELETE", "/blobs/a%20b/one.bin", b"")]
    got = []
    for method, target, body in s3_calls:
        got.append(s3.call(method, target, body))
    check([g[0] for g in got] == [200, 200, 200, 200, 200, 204] and got[2][1] == blob,
          "S3 CreateBucket, PutObject, GetObject (same bytes), HeadObject, ListObjectsV2, "
          "DeleteObject: %s" % [g[0] for g in got])
    # a 2 MB PutObject with Expect: 100-continue from curl: answered at once by the proxy
    big = tmp.file("big.bin")
    with open(big, "wb") as f:
        f.write(os.urandom(2 << 20))
    t0 = time.monotonic()
    cp = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-T", big,
                         "-H", "Expect: 100-continue", "--aws-sigv4", "aws:amz:us-east-1:s3",
                         "-u", "S3RVER:x", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                         d.env["AWS_ENDPOINT_URL_S3"] + "/blobs/big.bin"],
                        capture_output=True, text=True, timeout=30)
    took = time.monotonic() - t0
    check(cp.stdout == "200" and took < 0.9,
          "2 MB PUT with Expect: 100-continue: %s in %.3f s (curl waits 1 s for a 100 that "
          "does not come)" % (cp.stdout, took))
    size = len(urllib.request.urlopen(s3_url + "/blobs/big.bin", timeout=10).read())
    check(size == 2 << 20, "s3rver holds the 2 MB object: %d bytes" % size)
    ddb.close()
    s3.close()
    res = d.stop()

    calls = d.rows("SELECT * FROM downstream_calls WHERE session_id=? ORDER BY seq", (d.session,))
    sent = ddb.attempts + s3.attempts + 1
    tally = res["TALLY"]
    check(res["STORE_ERRORS"] == 0, "no storage error")
    check(len(calls) == sent == tally["dynamodb"]["calls"] + tally["s3"]["calls"],
          "one row per call: %d rows, %d sent, tally %d + %d" %
          (len(calls), sent, tally["dynamodb"]["calls"], tally["s3"]["calls"]))
    check([c["seq"] for c in calls] == list(range(1, len(calls) + 1)), "seq runs 1..%d" % len(calls))
    ops = {}
    for c in calls:
        ops[c["op"]] = ops.get(c["op"], 0) + 1
    check(ops.get("GetItem") == 56 and ops.get("BatchGetItem") == 5 and ops.get("PutItem") == 1 and
          ops.get("CreateBucket") == 1 and ops.get("PutObject") == 2 and ops.get("GetObject") == 1 and
          ops.get("HeadObject") == 1 and ops.get("ListObjectsV2") == 1 and ops.get("DeleteObject") == 1
          and ops.get("BatchWriteItem") == 1 and ops.get("CreateTable") == 1,
          "operations named: %s" % ops)
    check(all(c["status"] in (200, 204) and c["aws_code"] is None and c["fault"] is None
              for c in calls), "every call succeeded, no code, no fault")
    check(sum(c["new_conn"] for c in calls) == ddb.opened + s3.opened + 1 ==
          tally["dynamodb"]["connections"] + tally["s3"]["connections"],
          "new connections: %d stored = %d opened by the clients = tally %d" %
          (sum(c["new_conn"] for c in calls), ddb.opened + s3.opened + 1,
           tally["dynamodb"]["connections"] + tally["s3"]["connections"]))
    bget = [c for c in calls if c["op"] == "BatchGetItem"]
    check(all(c["new_conn"] == 1 and c["batch_asked"] == 8 and c["batch_unprocessed"] == 0
              for c in bget), "each BatchGetItem: a new connection, 8 keys asked, 0 unprocessed")
    bw = [c for c in calls if c["op"] == "BatchWriteItem"]
    check(bw[0]["batch_asked"] == 20 and bw[0]["batch_unprocessed"] == 0,
          "BatchWriteItem: 20 items asked, 0 unprocessed")
    check(all(c["batch_asked"] is None for c in calls if c["op"] not in ("BatchGetItem", "BatchWriteItem")),
          "only batch calls carry batch counts")
    check(all(c["start_ns"] < 0 and c["step"] == -1 for c in calls[:pre]) and
          all(c["start_ns"] >= 0 for c in calls[pre + 1:]),
          "the %d set-up calls came before the origin, with nothing in flight" % pre)
    inv = [c["invocation_id"] for c in calls if c["invocation_id"]]
    check(len(inv) == ddb.invocations + s3.invocations == len(set(inv)) and
          all(c["attempt"] == 1 and c["max_attempts"] == 3 for c in calls if c["invocation_id"]),
          "%d invocation ids, all distinct, attempt=1; max=3" % len(inv))
    put = [c for c in calls if c["op"] == "PutObject" and c["bytes_in"] > 2 << 20]
    check(len(put) == 1 and put[0]["status"] == 200 and put[0]["bytes_out"] > 25,
          "the 2 MB PUT is one call (%d bytes in), its 100 Continue and reply sent" %
          (put[0]["bytes_in"] if put else 0))
    shared = [c for c in calls if c["op"] == "PutItem"][0]
    check(shared["step"] == -2 and json.loads(shared["shares"]) == {"2": 1, "3": 1} and
          shared["in_flight"] == 2, "PutItem: two steps in flight, shares %s" % shared["shares"])
    check(all(c["upstream_us"] is not None and c["upstream_us"] <= c["latency_us"] for c in calls),
          "upstream time within each call's latency")

    # per second: the rows add up to the calls
    secs = d.rows("SELECT op, sum(calls) n, sum(new_conns) nc, sum(batch_asked) ba "
                  "FROM downstream_seconds WHERE session_id=? GROUP BY op", (d.session,))
    check({r["op"]: r["n"] for r in secs} == ops, "downstream_seconds add up to the calls per operation")
    # per step: exact calls per request
    steps = {(s["step"], s["op"]): s for s in res["LIVE"]["steps"]}
    g = steps.get((0, "GetItem"))
    check(g is not None and g["requests"] == 7 and abs(g["calls_per_request"] - 8.0) < 1e-9,
          "step 0: 7 requests, 8 GetItem per request (%s)" % (g and g["calls_per_request"]))
    b = steps.get((1, "BatchGetItem"))
    check(b is not None and b["requests"] == 5 and abs(b["calls_per_request"] - 1.0) < 1e-9 and
          abs(b["new_conns_per_request"] - 1.0) < 1e-9,
          "step 1: 1 BatchGetItem and 1 new connection per request")
    p2, p3 = steps.get((2, "PutItem")), steps.get((3, "PutItem"))
    check(p2 and p3 and p2["calls"] == 0.5 and p3["calls"] == 0.5 and p2["requests"] == 1,
          "steps 2 and 3: half a PutItem each")
    none = steps.get((-1, ""))
    check(none is not None and abs(none["calls"] - (pre + 1 + len(s3_calls) + 1)) < 1e-9,
          "calls with nothing in flight: %s" % (none and none["calls"]))
    req = {r["step"]: r["n"] for r in d.rows("SELECT step, sum(requests) n FROM downstream_requests "
                                             "WHERE session_id=? GROUP BY step", (d.session,))}
    check(req == {0: 7, 1: 5, 2: 1, 3: 1}, "stored MCP requests per step: %s" % req)
    check(res["LIVE"] == res["REPLAY"], "the model replayed from the database equals the live one")
    return d


def fault_run(tmp, name, dyn_url, s3_url, seed):
    faults = {"seed": seed,
              "dynamodb": {"throttle": "25%", "server_error": "10%", "reset": "5%",
                           "operations": ["GetItem"]},
              "s3": {"throttle": 0.2, "latency": {"uniform": ["20ms", "30ms"]},
                     "latency_share": "50%", "operations": ["GetObject", "PutObject"]}}
    d = Driver(tmp, name, scenario({"dynamodb": dyn_url, "s3": s3_url}, faults))
    d.cmd("origin")
    ddb = Sdk(d.env["AWS_ENDPOINT_URL_DYNAMODB"], "dynamodb")
    s3 = Sdk(d.env["AWS_ENDPOINT_URL_S3"], "s3", max_attempts=6)  # every object gets written
    final = {"ok": 0, "failed": 0}
    for i in range(120):
        status, _ = ddb.ddb("GetItem", {"TableName": "orders", "Key": key(i % 20)})
        final["ok" if status == 200 else "failed"] += 1
    for i in range(10):
        ddb.ddb("PutItem", {"TableName": "orders", "Item": key(100 + i)})  # never faulted
    for i in range(30):
        s3.call("PUT", "/blobs/f%d" % i, b"x" * 100)
        s3.call("GET", "/blobs/f%d" % i)
    ddb.close()
    s3.close()
    res = d.stop()
    return d, res, ddb, s3, final


def test_faults(tmp, dyn_url, s3_url):
    print("faults: throttles, 5xx, resets and latency, retried by the client, counted exactly")
    d, res, ddb, s3, final = fault_run(tmp, "faults", dyn_url, s3_url, 7)
    t = res["TALLY"]
    calls = d.rows("SELECT * FROM downstream_calls WHERE session_id=? ORDER BY seq", (d.session,))
    dcalls = [c for c in calls if c["service"] == "dynamodb"]
    scalls = [c for c in calls if c["service"] == "s3"]
    check(len(dcalls) == ddb.attempts == t["dynamodb"]["calls"],
          "DynamoDB: %d rows = %d attempts by the client = tally %d" %
          (len(dcalls), ddb.attempts, t["dynamodb"]["calls"]))
    check(len(scalls) == s3.attempts == t["s3"]["calls"],
          "S3: %d rows = %d attempts = tally %d" % (len(scalls), s3.attempts, t["s3"]["calls"]))
    for svc, rows, client in (("dynamodb", dcalls, ddb), ("s3", scalls, s3)):
        for f in ("throttle", "server_error", "reset", "delay"):
            n = sum(1 for c in rows if c["fault"] == f)
            check(n == t[svc][f], "%s %s: %d rows = tally %d" % (svc, f, n, t[svc][f]))
        retries = sum(1 for c in rows if c["attempt"] > 1)
        invs = len({c["invocation_id"] for c in rows})
        check(retries == client.retries == len(rows) - invs,
              "%s retries: %d stored (attempt > 1) = %d by the client = %d rows - %d invocations" %
              (svc, retries, client.retries, len(rows), invs))
        sec = d.rows("SELECT sum(retries) r, sum(throttles) th, sum(faults) f FROM downstream_seconds "
                     "WHERE session_id=? AND service=?", (d.session, svc))[0]
        check(sec["r"] == retries and sec["th"] == t[svc]["throttle"] and
              sec["f"] == sum(t[svc][f] for f in ("throttle", "server_error", "reset", "delay")),
              "%s per second: %d retries, %d throttles, %d faults" % (svc, sec["r"], sec["th"], sec["f"]))
    check(t["dynamodb"]["throttle"] == ddb.throttles and t["dynamodb"]["server_error"] == ddb.server_errors
          and t["dynamodb"]["reset"] == ddb.resets,
          "the client met what the proxy injected: %d throttles, %d 5xx, %d resets" %
          (ddb.throttles, ddb.server_errors, ddb.resets))
    check(t["dynamodb"]["throttle"] > 10 and t["dynamodb"]["server_error"] > 3 and
          t["dynamodb"]["reset"] > 0, "every DynamoDB fault kind happened")
    check(all(c["status"] == 400 and c["aws_code"] == "ProvisionedThroughputExceededException"
              for c in dcalls if c["fault"] == "throttle") and
          all(c["status"] == 500 and c["aws_code"] == "InternalServerError"
              for c in dcalls if c["fault"] == "server_error") and
          all(c["status"] == 0 and c["bytes_out"] == 0 for c in dcalls if c["fault"] == "reset"),
          "throttle 400 ProvisionedThroughputExceededException, 500 InternalServerError, reset: no reply")
    check(all(c["fault"] is None for c in dcalls if c["op"] == "PutItem"), "PutItem never faulted")
    resets = [i for i, c in enumerate(dcalls) if c["fault"] == "reset"]
    check(all(i + 1 < len(dcalls) and dcalls[i + 1]["new_conn"] == 1 for i in resets),
          "after each reset the client came back on a new connection")
    check(all(c["status"] == 503 and c["aws_code"] == "SlowDown" for c in scalls if c["fault"] == "throttle"),
          "S3 throttles: 503 SlowDown")
    delayed = [c for c in scalls if c["fault"] == "delay"]
    check(len(delayed) > 5 and all(20000 <= c["delay_us"] <= 30000 and
                                   c["latency_us"] >= c["delay_us"] and c["status"] == 200
                                   for c in delayed),
          "%d S3 calls delayed 20-30 ms, each slower than its delay, then answered" % len(delayed))
    check(final["ok"] + final["failed"] == 120 and final["failed"] ==
          sum(1 for c in dcalls if c["op"] == "GetItem" and c["attempt"] == 3 and c["fault"]),
          "GetItem invocations failed on their 3rd attempt: %d" % final["failed"])
    seq7 = [(c["service"], c["op"], c["fault"]) for c in calls]
    check(res["LIVE"] == res["REPLAY"], "live model = replayed model")

    d2, res2, _, _, _ = fault_run(tmp, "faults_again", dyn_url, s3_url, 7)
    again = [(c["service"], c["op"], c["fault"]) for c in
             d2.rows("SELECT * FROM downstream_calls WHERE session_id=? ORDER BY seq", (d2.session,))]
    d3, _, _, _, _ = fault_run(tmp, "faults_other", dyn_url, s3_url, 8)
    other = [(c["service"], c["op"], c["fault"]) for c in
             d3.rows("SELECT * FROM downstream_calls WHERE session_id=? ORDER BY seq", (d3.session,))]
    check(again == seq7, "seed 7 again: the same %d calls meet the same faults" % len(seq7))
    check(other != seq7, "seed 8: other faults")


def test_unprocessed(tmp, dyn_url):
    print("BatchGetItem past 1 MB: unprocessed keys counted, follow-ups included")
    d = Driver(tmp, "batch", scenario({"dynamodb": dyn_url}))
    check(set(d.env) == {"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"} and
          d.env["AWS_ENDPOINT_URL"] == d.env["AWS_ENDPOINT_URL_DYNAMODB"],
          "one service: AWS_ENDPOINT_URL too")
    d.cmd("origin")
    c = Sdk(d.env["AWS_ENDPOINT_URL_DYNAMODB"], "dynamodb")
    c.ddb("CreateTable", {"TableName": "big", "BillingMode": "PAY_PER_REQUEST",
                          "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                          "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]})
    for _ in range(100):
        if c.ddb("DescribeTable", {"TableName": "big"})[1].get("Table", {}).get("TableStatus") == "ACTIVE":
            break
        time.sleep(0.02)
    blob = "x" * 20000
    for b in range(6):
        c.ddb("BatchWriteItem", {"RequestItems": {"big": [
            {"PutRequest": {"Item": {"pk": {"S": "b%d" % i}, "blob": {"S": blob}}}}
            for i in range(b * 25, b * 25 + 25)]}})
    keys = [{"pk": {"S": "b%d" % i}} for i in range(100)]
    asked, unprocessed, got = [], [], 0
    while keys:
        status, r = c.ddb("BatchGetItem", {"RequestItems": {"big": {"Keys": keys}}})
        asked.append(len(keys))
        got += len(r.get("Responses", {}).get("big", []))
        keys = r.get("UnprocessedKeys", {}).get("big", {}).get("Keys", [])
        unprocessed.append(len(keys))
    c.close()
    res = d.stop()
    check(len(asked) > 1 and unprocessed[0] > 0 and got == 100,
          "dynalite left %d of 100 keys unprocessed; %d calls to get all 100" % (unprocessed[0], len(asked)))
    rows = d.rows("SELECT op, batch_asked, batch_unprocessed FROM downstream_calls WHERE session_id=? "
                  "AND op LIKE 'Batch%' ORDER BY seq", (d.session,))
    w = [(r["batch_asked"], r["batch_unprocessed"]) for r in rows if r["op"] == "BatchWriteItem"]
    g = [(r["batch_asked"], r["batch_unprocessed"]) for r in rows if r["op"] == "BatchGetItem"]
    check(w == [(25, 0)] * 6, "6 BatchWriteItem of 25 items, none unprocessed")
    check(g == list(zip(asked, unprocessed)), "stored BatchGetItem asked/unprocessed %s = client's %s" %
          (g, list(zip(asked, unprocessed))))
    op = [o for o in res["LIVE"]["ops"] if o["op"] == "BatchGetItem"][0]
    check(op["batch_asked"] == sum(asked) and op["batch_unprocessed"] == sum(unprocessed),
          "model: %d keys asked, %d unprocessed" % (op["batch_asked"], op["batch_unprocessed"]))


def make_cert(tmp):
    cert, keyf = tmp.file("front-cert.pem"), tmp.file("front-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyf,
                    "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    os.chmod(keyf, 0o600)
    return cert, keyf


class Front(Proc):
    def __init__(self, tmp, cert, keyf, upstream, service, token):
        self.port_file = tmp.file("front-%s.port" % service)
        argv = ["node", FRONT, "--upstream", upstream, "--cert", cert, "--key", keyf,
                "--access-key", CHAIN_KEY, "--secret", CHAIN_SECRET, "--service", service,
                "--port", "0", "--port-file", self.port_file]
        if token:
            argv += ["--token", token]
        self.ctx = ssl.create_default_context(cafile=cert)
        Proc.__init__(self, tmp, "front-" + service, argv, self._ready)
        self.url = "https://127.0.0.1:%d" % self.port

    def _ready(self):
        if not os.path.exists(self.port_file) or not open(self.port_file).read().strip():
            return False
        self.port = int(open(self.port_file).read())
        return True

    def stats(self):
        with urllib.request.urlopen(self.url + "/__stats", context=self.ctx, timeout=5) as r:
            return json.loads(r.read())


def test_https(tmp, dyn_url, s3_url):
    print("https upstream: every request re-signed with the chain's credentials, verified")
    cert, keyf = make_cert(tmp)
    fd = Front(tmp, cert, keyf, dyn_url, "dynamodb", CHAIN_TOKEN)
    fs = Front(tmp, cert, keyf, s3_url, "s3", CHAIN_TOKEN)
    try:
        env = {"AWS_CA_BUNDLE": cert, "AWS_SESSION_TOKEN": CHAIN_TOKEN}
        d = Driver(tmp, "https", scenario({"dynamodb": fd.url, "s3": fs.url}), env)
        d.cmd("origin")
        ddb = Sdk(d.env["AWS_ENDPOINT_URL_DYNAMODB"], "dynamodb")
        s3 = Sdk(d.env["AWS_ENDPOINT_URL_S3"], "s3")
        results = [ddb.ddb("ListTables", {})[0],
                   ddb.ddb("PutItem", {"TableName": "orders", "Item": {
                       "pk": {"S": "ünï cödé / & = ?"}, "n": {"N": "1"}}})[0],
                   ddb.ddb("GetItem", {"TableName": "orders", "Key": {"pk": {"S": "ünï cödé / & = ?"}}})[0],
                   ddb.ddb("Query", {"TableName": "orders", "KeyConditionExpression": "pk = :p",
                                     "ExpressionAttributeValues": {":p": {"S": "k1"}}})[0],
                   ddb.ddb("BatchGetItem", {"RequestItems": {"orders": {"Keys": [key(1), key(2)]}}})[0]]
        payload = os.urandom(5000)
        results += [s3.call("PUT", "/blobs/sp%20ace/%C3%BC%2Bplus.bin", payload)[0],
                    s3.call("GET", "/blobs/sp%20ace/%C3%BC%2Bplus.bin")[0],
                    s3.call("HEAD", "/blobs/sp%20ace/%C3%BC%2Bplus.bin")[0],
                    s3.call("GET", "/blobs?list-type=2&prefix=sp%20ace%2F&max-keys=5")[0],
                    s3.call("DELETE", "/blobs/sp%20ace/%C3%BC%2Bplus.bin")[0]]
        sent = ddb.attempts + s3.attempts
        ddb.close()
        s3.close()
        res = d.stop()
        sd, ss = fd.stats(), fs.stats()
        check(results == [200] * 9 + [204], "every call through the TLS fronts succeeded: %s" % results)
        check(sd["verified"] == 5 and sd["failed"] == 0,
              "DynamoDB front: %d re-signed requests verified, %d failed %s" %
              (sd["verified"], sd["failed"], sd["failures"][:1]))
        check(ss["verified"] == 5 and ss["failed"] == 0,
              "S3 front: %d re-signed requests verified, %d failed %s" %
              (ss["verified"], ss["failed"], ss["failures"][:1]))
        rows = d.rows("SELECT * FROM downstream_calls WHERE session_id=? ORDER BY seq", (d.session,))
        check(len(rows) == sent == res["TALLY"]["dynamodb"]["calls"] + res["TALLY"]["s3"]["calls"],
              "%d rows for %d calls" % (len(rows), sent))
        check(all(r["upstream_us"] and r["detail"] is None for r in rows), "every row went upstream over TLS")
        # the fronts refuse what the proxies did not re-sign
        direct = Sdk(fd.url, "dynamodb")
        req = urllib.request.Request(fd.url + "/", data=b"{}", method="POST", headers=sigv4(
            "POST", "127.0.0.1:%d" % fd.port, "/", "", {"X-Amz-Target": "DynamoDB_20120810.ListTables",
                                                      "Content-Type": "application/x-amz-json-1.0"},
            b"{}", "dynamodb", "S3RVER", "target-secret"))
        try:
            urllib.request.urlopen(req, context=fd.ctx, timeout=5)
            refused = False
        except urllib.error.HTTPError as e:
            refused = e.code == 403
        check(refused and fd.stats()["failed"] == 1, "the verifier refuses the client's own signature")
        del direct

        # without the CA bundle, the self-signed certificate is refused
        d = Driver(tmp, "https_nocabundle", scenario({"dynamodb": fd.url}))
        d.cmd("origin")
        c = Sdk(d.env["AWS_ENDPOINT_URL_DYNAMODB"], "dynamodb", max_attempts=1)
        status, _ = c.call("POST", "/", b"{}", {"X-Amz-Target": "DynamoDB_20120810.ListTables"})
        c.close()
        d.stop()
        rows = d.rows("SELECT status, detail FROM downstream_calls WHERE session_id=?", (d.session,))
        err = open(d.errpath).read()
        check(status == 502 and len(rows) == 1 and rows[0]["status"] == 502 and
              "certificate" in (rows[0]["detail"] or "") and "EVENT downstream:" in err,
              "no CA bundle: 502, \"%s\", and an event" % (rows[0]["detail"] if rows else None))
        check(fd.stats()["requests"] == 6, "the refused connection never reached the front")
    finally:
        fd.stop()
        fs.stop()


def test_no_secrets(tmp):
    print("the chain's secret key and session token are nowhere")
    blobs = [("outputs", "\n".join(outputs).encode())]
    for f in os.listdir(tmp.path):
        if f.endswith((".db", ".db-wal", ".stderr")):
            with open(tmp.file(f), "rb") as fh:
                blobs.append((f, fh.read()))
    for name, data in blobs:
        for secret in (CHAIN_SECRET, CHAIN_TOKEN):
            if secret.encode() in data:
                check(False, "a secret found in %s" % name)
    check(len(blobs) > 5, "scanned %d outputs and database files" % len(blobs))


def main():
    if not os.path.exists(DRIVER):
        print("FAIL %s not built" % DRIVER)
        sys.exit(1)
    tmp = TempDir()
    dport, sport = free_port(), free_port()
    dyn_url, s3_url = "http://127.0.0.1:%d" % dport, "http://127.0.0.1:%d" % sport
    dyn = Proc(tmp, "dynalite", ["node", DYNALITE, "--host", "127.0.0.1", "--port", str(dport),
                                 "--createTableMs", "20"], url_ready(dyn_url + "/"))
    s3dir = tmp.file("s3")
    os.makedirs(s3dir)
    try:
        s3 = Proc(tmp, "s3rver", ["node", S3RVER, "-d", s3dir, "-a", "127.0.0.1", "-p", str(sport),
                                  "--allow-mismatched-signatures", "-s"], url_ready(s3_url + "/"))
    except Exception:
        dyn.stop()
        raise
    try:
        test_calls_and_rows(tmp, dyn_url, s3_url)
        test_faults(tmp, dyn_url, s3_url)
        test_unprocessed(tmp, dyn_url)
        test_https(tmp, dyn_url, s3_url)
        test_no_secrets(tmp)
    finally:
        dyn.stop()
        s3.stop()
        if not os.environ.get("KEEP_TMP"):
            shutil.rmtree(tmp.path, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
