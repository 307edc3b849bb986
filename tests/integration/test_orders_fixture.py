"""The Rust fault fixture (fixtures/orders, tokio + hyper + serde_json) against
dynalite and s3rver on 127.0.0.1: each switch does exactly what it says.

Builds it with scripts/build-orders.sh into build-orders/ (a no-op
when up to date), then drives it over MCP Streamable HTTP from Python and
compares the server's own tally (GET /stats) with what each switch must do:
- clean build: one BatchGetItem per get_orders (and a follow-up for the
  UnprocessedKeys of 8 big items), one BatchWriteItem per put_orders, no new
  connection after warm-up, no planted site run; the written items are in
  dynalite (Scan) and the receipts in s3rver (ListObjectsV2);
- GetItem per key (8 per call), PutItem per item, a client per call (one new
  connection per call), UnprocessedKeys dropped (4 of 8 big orders found);
- retries, through a forwarding proxy written here that recomputes every
  SigV4 signature and throttles the first K attempts of each invocation:
  standard mode (3 attempts, back-off slept) against no back-off (up to 10,
  none slept), the proxy's count of attempts equal to the server's, the
  `amz-sdk-request` and `amz-sdk-invocation-id` headers as the SDK sends them;
- the in-process switches all at once: each planted site ran once per call
  (k = 8 format! keys, 1024 pushes, 4 KiB cached, ...) and sits at the
  file:line that /stats names (the source line holds the planted statement);
- `loadscope run` launching the fixture itself (target.command): requests
  stored, no errors, and the tally the server wrote when stopped agrees with
  the stored samples (tool calls, sessions, BatchGetItem per get_orders).
"""
import hashlib
import hmac
import http.client
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(__file__))
from lsutil import SRC, TempDir, check, db, finish, run_loadscope, write_scenario  # noqa: E402
from test_aws import DYNALITE, S3RVER, Proc, ddb, free_port, s3_sizes  # noqa: E402

# One build for every loadscope build (plain, sanitized): the fixture is the
# user's server, never sanitized, and takes minutes to build cold.
OUT = os.environ.get("LOADSCOPE_ORDERS_DIR") or os.path.join(SRC, "build-orders")
BUILD_SCRIPT = os.path.join(SRC, "scripts", "build-orders.sh")
ORDERS_SRC = os.path.join(SRC, "fixtures", "orders")

# s3rver knows the S3RVER account only; dynalite accepts any key.
CREDS = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER",
         "AWS_SESSION_TOKEN": "orders-fixture-token", "AWS_REGION": "us-east-1"}
PROTO = "2025-06-18"


# ---------------------------------------------------------------- the SigV4 checking proxy

def sigv4_ok(method, path, headers, body, secret):
    """Recomputes the Authorization header's signature from what arrived."""
    auth = headers.get("Authorization", "")
    try:
        algo, rest = auth.split(" ", 1)
        parts = dict(p.strip().split("=", 1) for p in rest.split(","))
        _, date, region, service, _ = parts["Credential"].split("/")
        names = parts["SignedHeaders"].split(";")
    except (ValueError, KeyError):
        return False
    if algo != "AWS4-HMAC-SHA256" or "host" not in names or "x-amz-date" not in names:
        return False
    payload = headers.get("x-amz-content-sha256", "")
    if payload != hashlib.sha256(body).hexdigest():
        return False
    canon = "".join("%s:%s\n" % (n, " ".join(headers.get(n, "").split())) for n in names)
    creq = "\n".join([method, path.split("?")[0], "", canon, ";".join(names), payload])
    amz_date = headers.get("x-amz-date", "")
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, "%s/%s/%s/aws4_request" % (date, region, service),
                     hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(hmac.new(k, sts.encode(), hashlib.sha256).hexdigest(), parts["Signature"])


class DdbProxy:
    """Forwards to dynalite, checks each signature, records the SDK headers,
    and throttles the first `throttle_first` attempts of every invocation of
    `throttle_op` (400 ProvisionedThroughputExceededException)."""

    def __init__(self, upstream_port, secret, throttle_op="", throttle_first=0):
        self.records = []
        self.lock = threading.Lock()
        attempts_seen = {}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                op = (self.headers.get("X-Amz-Target") or "").split(".")[-1]
                inv = self.headers.get("amz-sdk-invocation-id")
                with proxy.lock:
                    seen = attempts_seen.get(inv, 0) + 1
                    attempts_seen[inv] = seen
                    throttle = op == throttle_op and seen <= throttle_first
                    proxy.records.append({
                        "op": op, "inv": inv, "req": self.headers.get("amz-sdk-request"),
                        "sig_ok": sigv4_ok("POST", self.path, self.headers, body, secret),
                        "throttled": throttle})
                if throttle:
                    data = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#"
                                       "ProvisionedThroughputExceededException",
                                       "message": "throttled by the test"}).encode()
                    status, ctype = 400, "application/x-amz-json-1.0"
                else:
                    conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=10)
                    hdrs = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                    conn.request("POST", self.path, body, hdrs)
                    r = conn.getresponse()
                    data, status = r.read(), r.status
                    ctype = r.getheader("Content-Type", "application/x-amz-json-1.0")
                    conn.close()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def ops(self, op):
        with self.lock:
            return [r for r in self.records if r["op"] == op]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- the fixture over MCP

class Fixture:
    """orders-server on a port it picks, one MCP session; stopped by PID."""

    def __init__(self, tmp, binary, dyn_url, s3_url, faults=(), extra_env=None, name="fixture"):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and not k.startswith("ORDERS_")}
        env.update(CREDS)
        env["AWS_ENDPOINT_URL_DYNAMODB"] = dyn_url
        env["AWS_ENDPOINT_URL_S3"] = s3_url
        for f in faults:
            env["ORDERS_FAULT_" + f] = "1"
        env.update(extra_env or {})
        self.name = name
        self.log_path = tmp.file("%s.log" % name)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([binary, "--port", "0"], stdout=subprocess.PIPE,
                                     stderr=self.log, env=env)
        line = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not line.endswith(b"\n"):
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 256)
                if not chunk:
                    break
                line += chunk
            elif self.proc.poll() is not None:
                break
        if not line.startswith(b"LISTENING http://127.0.0.1:"):
            self.stop()
            raise RuntimeError("%s did not start: %r; log: %s" % (name, line, open(self.log_path).read()[-800:]))
        self.url = line.split()[1].decode()
        self.base = self.url[:-len("/mcp")]
        self.sid = None
        self.next_id = 1

    def post(self, body, sid=None, method="POST"):
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
             "MCP-Protocol-Version": PROTO}
        if sid:
            h["Mcp-Session-Id"] = sid
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url, data=data, headers=h, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
                return r.status, r.headers, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, e.headers, (json.loads(raw) if raw else None)

    def open_session(self):
        st, hdrs, body = self.post({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                                    "params": {"protocolVersion": PROTO, "capabilities": {},
                                               "clientInfo": {"name": "test", "version": "1"}}})
        self.sid = hdrs.get("Mcp-Session-Id")
        st2, _, _ = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, self.sid)
        return st, body, st2

    def rpc(self, method, params=None):
        self.next_id += 1
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            body["params"] = params
        return self.post(body, self.sid)

    def call(self, tool, **args):
        """(isError, parsed text) of one tools/call."""
        st, _, body = self.rpc("tools/call", {"name": tool, "arguments": args})
        if st != 200 or "result" not in body:
            return True, {"http": st, "body": body}
        res = body["result"]
        text = res["content"][0]["text"]
        try:
            text = json.loads(text)
        except ValueError:
            pass
        return bool(res.get("isError")), text

    def stats(self):
        with urllib.request.urlopen(self.base + "/stats", timeout=10) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


def op(stats, name):
    """The tally of one downstream operation (zeros when it never ran)."""
    zero = {k: 0 for k in ("calls", "attempts", "retries", "throttles", "failures", "backoff_us",
                           "keys", "items", "unprocessed", "unprocessed_dropped")}
    return dict(zero, **stats["downstream"].get(name, {}))


def scan_count(dyn_url, prefix):
    """Items whose pk starts with prefix, counted by dynalite itself."""
    n, start = 0, None
    while True:
        body = {"TableName": "orders", "Select": "COUNT", "FilterExpression": "begins_with(pk, :p)",
                "ExpressionAttributeValues": {":p": {"S": prefix}}}
        if start:
            body["ExclusiveStartKey"] = start
        r = ddb(dyn_url, "Scan", body)
        n += r["Count"]
        start = r.get("LastEvaluatedKey")
        if not start:
            return n


# ---------------------------------------------------------------- the checks

def test_clean(tmp, binary, dyn_url, s3_url):
    print("clean build: batching, one shared client, nothing planted")
    fx = Fixture(tmp, binary, dyn_url, s3_url, name="clean")
    try:
        st, body, st2 = fx.open_session()
        check(st == 200 and fx.sid and body["result"]["protocolVersion"] == PROTO and st2 == 202,
              "initialize answers %s with a session id, the notification 202 (%s, %s)" % (PROTO, st, st2))
        _, _, tl = fx.rpc("tools/list")
        names = sorted(t["name"] for t in tl["result"]["tools"])
        check(names == ["get_orders", "get_receipt", "price_quote", "put_orders", "stats"],
              "tools/list: %s" % names)
        s0 = fx.stats()
        check(s0["faults"] == [] and s0["downstream"] == {} and
              s0["setup"]["downstream"]["dynamodb.DescribeTable"]["calls"] >= 1,
              "no switch on; start-up's calls are kept apart under setup")
        results = [fx.call("get_orders", customer="cust-%d" % i) for i in range(6)]
        s1 = fx.stats()
        check(all(not e and r["found"] == 8 for e, r in results), "6 get_orders found 8 orders each")
        bg = op(s1, "dynamodb.BatchGetItem")
        check(bg["calls"] == 6 and bg["attempts"] == 6 and bg["keys"] == 48 and bg["items"] == 48,
              "one BatchGetItem of 8 keys per get_orders (%s)" % bg)
        check(op(s1, "dynamodb.GetItem")["calls"] == 0, "no GetItem")
        conns_warm = s1["new_connections"]["dynamodb"]
        check(conns_warm <= 1, "at most one new DynamoDB connection for the first call (%d)" % conns_warm)
        for i in range(10):
            fx.call("get_orders", customer="warm-%d" % i)
        s2 = fx.stats()
        check(s2["new_connections"]["dynamodb"] == conns_warm,
              "shared client: 0 new connections over 10 more calls (%d -> %d)" %
              (conns_warm, s2["new_connections"]["dynamodb"]))

        err, big = fx.call("get_orders", customer="ada", big=True)
        s3 = fx.stats()
        d = {k: op(s3, "dynamodb.BatchGetItem")[k] - op(s2, "dynamodb.BatchGetItem")[k]
             for k in ("calls", "keys", "items", "unprocessed", "unprocessed_dropped")}
        check(not err and big["found"] == 8 and d == {"calls": 2, "keys": 12, "items": 8,
                                                     "unprocessed": 4, "unprocessed_dropped": 0},
              "8 big orders: dynalite leaves 4 unprocessed, one follow-up reads them (%s, %s)" % (big, d))

        puts = [fx.call("put_orders", customer="writer", n=4) for _ in range(3)]
        s4 = fx.stats()
        bw = op(s4, "dynamodb.BatchWriteItem")
        check(all(not e and r["written"] == 4 for e, r in puts) and bw["calls"] == 3 and bw["items"] == 12 and
              op(s4, "dynamodb.PutItem")["calls"] == 0,
              "3 put_orders of 4: 3 BatchWriteItem, 12 items, no PutItem (%s)" % bw)
        prefix = puts[0][1]["first"].rsplit("-", 2)[0] + "-"
        check(scan_count(dyn_url, prefix) == 12, "dynalite holds the 12 items under %s" % prefix)

        rid = "r%d" % os.getpid()
        e1, r1 = fx.call("get_receipt", id=rid)
        e2, r2 = fx.call("get_receipt", id=rid)
        s5 = fx.stats()
        check(not e1 and not e2 and r1["status"] == "created" and r2["status"] == "found" and
              r1["bytes"] == r2["bytes"], "get_receipt: created, then found (%s, %s)" % (r1, r2))
        check(op(s5, "s3.GetObject")["calls"] == 2 and op(s5, "s3.PutObject")["calls"] == 1,
              "S3: 2 GetObject, 1 PutObject")
        objs = s3_sizes(s3_url, "receipts", "receipts/%s" % rid)
        check(objs == {"receipts/%s.json" % rid: r1["bytes"]},
              "s3rver holds the receipt with its size (%s)" % objs)

        err, q = fx.call("price_quote", items=64)
        check(not err and q["items"] == 64 and q["quote_cents"] > 0, "price_quote answers (%s)" % q)
        err, st_tool = fx.call("stats")
        check(not err and st_tool["mcp"]["tools_call"] >= 23, "the stats tool answers the tally")

        s6 = fx.stats()
        planted = {k: v for k, v in s6["planted"].items() if k != "quote_rounds" and v}
        check(planted == {}, "no planted site ran (%s)" % planted)
        check(sorted(s6["sites"]) == ["compute_quote", "reprice_book"], "no site marked: %s" % sorted(s6["sites"]))
        check(all(v["retries"] == 0 and v["failures"] == 0 for v in s6["downstream"].values()),
              "no retry, no failure")
        check(s6["mcp"]["tools_call"] == 24 and s6["tool_calls"]["get_orders"] == 17 and
              s6["mcp"]["tool_errors"] == 0, "24 tool calls counted, 17 get_orders (%s)" % s6["tool_calls"])

        st, _, _ = fx.post(None, fx.sid, method="DELETE")
        st2, _, _ = fx.rpc("ping")
        s7 = fx.stats()
        check(st == 200 and st2 == 404 and s7["mcp"]["sessions_deleted"] == 1 and
              s7["mcp"]["unknown_sessions"] == 1, "DELETE ends the session; its next request is 404")
    finally:
        fx.stop()


def test_unbatched_and_connections(tmp, binary, dyn_url, s3_url):
    print("GetItem per key, PutItem per item, a client per call, UnprocessedKeys dropped")
    fx = Fixture(tmp, binary, dyn_url, s3_url, faults=["GET_PER_KEY", "PUT_PER_ITEM"], name="unbatched")
    try:
        fx.open_session()
        res = [fx.call("get_orders", customer="c%d" % i) for i in range(3)]
        puts = [fx.call("put_orders", customer="single", n=4) for _ in range(2)]
        s = fx.stats()
        gi, bg = op(s, "dynamodb.GetItem"), op(s, "dynamodb.BatchGetItem")
        check(all(not e and r["found"] == 8 for e, r in res) and gi["calls"] == 24 and gi["items"] == 24 and
              bg["calls"] == 0, "3 get_orders: 24 GetItem (8 per call), no BatchGetItem (%d, %d)" %
              (gi["calls"], bg["calls"]))
        pi, bw = op(s, "dynamodb.PutItem"), op(s, "dynamodb.BatchWriteItem")
        check(pi["calls"] == 8 and bw["calls"] == 0, "2 put_orders of 4: 8 PutItem, no BatchWriteItem")
        prefix = puts[0][1]["first"].rsplit("-", 2)[0] + "-"
        check(scan_count(dyn_url, prefix) == 8, "dynalite holds the 8 items under %s" % prefix)
    finally:
        fx.stop()

    fx = Fixture(tmp, binary, dyn_url, s3_url, faults=["CLIENT_PER_CALL"], name="client-per-call")
    try:
        fx.open_session()
        s0 = fx.stats()
        for i in range(5):
            fx.call("get_orders", customer="c%d" % i)
        fx.call("get_receipt", id="cpc%d" % os.getpid())
        s1 = fx.stats()
        dd = s1["new_connections"]["dynamodb"] - s0["new_connections"]["dynamodb"]
        ds3 = s1["new_connections"]["s3"] - s0["new_connections"]["s3"]
        calls = op(s1, "dynamodb.BatchGetItem")["calls"]
        s3calls = op(s1, "s3.GetObject")["calls"] + op(s1, "s3.PutObject")["calls"]
        check(calls == 5 and dd == 5, "client per call: 5 BatchGetItem, 5 new connections (%d)" % dd)
        check(s3calls == 2 and ds3 == 2, "and one per S3 call (%d of %d)" % (ds3, s3calls))
    finally:
        fx.stop()

    fx = Fixture(tmp, binary, dyn_url, s3_url, faults=["DROP_UNPROCESSED"], name="drop-unprocessed")
    try:
        fx.open_session()
        err, big = fx.call("get_orders", customer="ada", big=True)
        s = fx.stats()
        bg = op(s, "dynamodb.BatchGetItem")
        check(not err and big["found"] == 4 and bg["calls"] == 1 and bg["unprocessed"] == 4 and
              bg["unprocessed_dropped"] == 4,
              "UnprocessedKeys dropped: 1 BatchGetItem, 4 of 8 found, 4 dropped (%s)" % bg)
    finally:
        fx.stop()


def test_retries(tmp, binary, dyn_port, s3_url):
    print("retries through a SigV4-checking, throttling proxy")
    secret = CREDS["AWS_SECRET_ACCESS_KEY"]
    cases = [
        # (switches, throttled attempts per call, calls, attempts per call, fails, max in header)
        ([], 2, 3, 3, False, 3),
        ([], 5, 1, 3, True, 3),
        (["RETRY_NO_BACKOFF"], 5, 2, 6, False, 10),
    ]
    for faults, first, ncalls, per_call, fails, max_att in cases:
        label = "%s, %d throttled" % (faults[0] if faults else "standard", first)
        proxy = DdbProxy(dyn_port, secret, "BatchGetItem", first)
        try:
            fx = Fixture(tmp, binary, proxy.url, s3_url, faults=faults,
                         name="retry-%s-%d" % ("nb" if faults else "std", first))
            try:
                fx.open_session()
                res = [fx.call("get_orders", customer="r%d" % i) for i in range(ncalls)]
                s = fx.stats()
            finally:
                fx.stop()
        finally:
            proxy.stop()
        bg = op(s, "dynamodb.BatchGetItem")
        throttled = min(first, per_call)
        check(all(e == fails for e, _ in res), "%s: calls %s" % (label, "fail" if fails else "succeed"))
        check(bg["calls"] == ncalls and bg["attempts"] == ncalls * per_call and
              bg["retries"] == ncalls * (per_call - 1) and bg["throttles"] == ncalls * throttled and
              bg["failures"] == (ncalls if fails else 0),
              "%s: %d attempts per call, throttles and failures counted (%s)" % (label, per_call, bg))
        if faults:
            check(bg["backoff_us"] == 0, "%s: no back-off slept" % label)
        else:
            check(bg["backoff_us"] > 0, "%s: back-off slept (%d us)" % (label, bg["backoff_us"]))
        recs = proxy.ops("BatchGetItem")
        check(len(recs) == bg["attempts"], "%s: the proxy saw %d BatchGetItem, the server counted %d" %
              (label, len(recs), bg["attempts"]))
        by_inv = {}
        for r in recs:
            by_inv.setdefault(r["inv"], []).append(r["req"])
        want = ["attempt=%d; max=%d" % (a, max_att) for a in range(1, per_call + 1)]
        check(len(by_inv) == ncalls and all(v == want for v in by_inv.values()),
              "%s: one invocation id per call, amz-sdk-request %s" % (label, want))
        check(all(r["sig_ok"] for r in proxy.records),
              "%s: every one of %d signatures verifies" % (label, len(proxy.records)))


def site_line(site):
    """The source line a 'src/orders.rs:N' site points at."""
    path, line = site.rsplit(":", 1)
    with open(os.path.join(ORDERS_SRC, path)) as f:
        return f.read().split("\n")[int(line) - 1]


def test_in_process(tmp, binary, dyn_url, s3_url):
    print("every in-process switch: each planted site runs exactly as documented")
    switches = ["BLOCKING_SLEEP", "BLOCKING_READ", "MUTEX", "FORMAT_KEYS", "CLONE", "VEC_GROWTH",
                "SERDE_CHURN", "UNBOUNDED_CACHE", "THREAD_PER_REQUEST", "SPAWN_PER_REQUEST", "CPU_HOT"]
    fx = Fixture(tmp, binary, dyn_url, s3_url, faults=switches, name="in-process")
    try:
        fx.open_session()
        s0 = fx.stats()
        check(s0["faults"] == ["ORDERS_FAULT_" + sw for sw in switches], "/stats lists the switches on")
        n = 5
        res = [fx.call("get_orders", customer="p%d" % i) for i in range(n)]
        s = fx.stats()
    finally:
        fx.stop()
    check(all(not e and r["found"] == 8 for e, r in res), "5 get_orders found 8 orders each")
    check(op(s, "dynamodb.BatchGetItem")["calls"] == n, "still one BatchGetItem per call")
    p = s["planted"]
    want = {"blocking_sleeps": n, "blocking_reads": n, "blocking_read_bytes": n * 262144,
            "mutex_holds": n, "format_keys": 8 * n, "catalog_clones": n, "vec_growth_pushes": 1024 * n,
            "serde_roundtrips": n, "cache_entries": n, "cache_bytes": 4096 * n, "threads_spawned": n,
            "tasks_spawned": n, "quote_rounds": 128 * 1024 * n}
    got = {k: p[k] for k in want}
    check(got == want, "planted counts per call exactly as documented: %s" % got)
    check(p["serde_bytes"] > 10000 * n, "the serde round trip moves a big report (%d bytes)" % p["serde_bytes"])
    statements = {"blocking_sleep": "std::thread::sleep(", "blocking_read": "File::open(",
                  "mutex_lock": ".lock()", "format_keys": "format!(", "catalog_clone": ".clone()",
                  "vec_growth": ".push(", "serde_serialize": "serde_json::to_string(",
                  "serde_deserialize": "serde_json::from_str(", "cache_insert": "vec![",
                  "thread_spawn": ".spawn(", "task_spawn": "tokio::spawn("}
    sites = s["sites"]
    for name, stmt in statements.items():
        where = sites.get(name, "")
        ok = where.startswith("src/orders.rs:") and stmt in site_line(where)
        check(ok, "site %s at %s holds %r" % (name, where, stmt))


def test_loadscope_run(tmp, binary, dyn_url, s3_url):
    print("loadscope run launches the fixture and drives it over Streamable HTTP")
    port = free_port()
    stats_file = tmp.file("final-stats.json")
    dbpath = tmp.file("orders.db")
    env = dict(CREDS, AWS_ENDPOINT_URL_DYNAMODB=dyn_url, AWS_ENDPOINT_URL_S3=s3_url,
               ORDERS_STATS_FILE=stats_file)
    scn = {
        "name": "orders fixture",
        "target": {"transport": "http", "url": "http://127.0.0.1:%d/mcp" % port,
                   "command": [binary, "--port", str(port)], "env": env, "ready_timeout": "30s"},
        "load": {"model": "closed", "concurrency": 4, "duration": "2s"},
        "steps": [
            {"name": "orders", "weight": 4, "method": "tools/call", "tool": "get_orders",
             "arguments": {"customer": "vu${worker}", "n": 8}},
            {"name": "put", "weight": 1, "method": "tools/call", "tool": "put_orders",
             "arguments": {"customer": "vu${worker}", "n": 4}},
            {"name": "receipt", "weight": 1, "method": "tools/call", "tool": "get_receipt",
             "arguments": {"id": "ls${rand:1:20}"}},
            {"name": "quote", "weight": 1, "method": "tools/call", "tool": "price_quote",
             "arguments": {"items": 32}},
            {"name": "ping", "weight": 1, "method": "ping"},
        ],
    }
    path = write_scenario(tmp, "orders.json", scn)
    rc, out, err = run_loadscope(["run", path, "--headless", "--duration", "2s", "--db", dbpath, "--quiet"],
                                 timeout=120)
    check(rc == 0, "loadscope run exits 0 (got %d)%s" % (rc, "" if rc == 0 else ": " + err[-800:]))
    conn = db(dbpath)
    sid = conn.execute("SELECT max(id) FROM sessions").fetchone()[0]
    steps = {r["name"]: r["idx"] for r in conn.execute(
        "SELECT name, idx FROM steps WHERE session_id=?", (sid,))}
    count = lambda step: conn.execute("SELECT count(*) FROM samples WHERE session_id=? AND step=?",
                                      (sid, steps[step])).fetchone()[0]
    total = conn.execute("SELECT count(*) FROM samples WHERE session_id=?", (sid,)).fetchone()[0]
    errors = conn.execute("SELECT count(*) FROM samples WHERE session_id=? AND err!=0", (sid,)).fetchone()[0]
    calls = {s: count(s) for s in ("orders", "put", "receipt", "quote", "ping", "initialize")}
    check(calls["orders"] > 0 and all(calls[s] > 0 for s in calls), "requests stored for every step: %s" % calls)
    check(errors == 0, "no errors among %d samples (%d)" % (total, errors))
    try:
        with open(stats_file) as f:
            final = json.load(f)
    except (OSError, ValueError) as e:
        check(False, "the fixture wrote its tally when stopped (%s)" % e)
        return
    tc = final["tool_calls"]
    check(tc["get_orders"] == calls["orders"] and tc["put_orders"] == calls["put"] and
          tc["get_receipt"] == calls["receipt"] and tc["price_quote"] == calls["quote"],
          "the server's tool calls equal the stored samples (%s vs %s)" % (tc, calls))
    check(final["mcp"]["ping"] == calls["ping"] and final["mcp"]["sessions_opened"] == calls["initialize"] == 4,
          "pings and 4 sessions agree (%d, %d)" % (final["mcp"]["ping"], final["mcp"]["sessions_opened"]))
    check(op(final, "dynamodb.BatchGetItem")["calls"] == calls["orders"] and
          op(final, "dynamodb.BatchWriteItem")["calls"] == calls["put"] and
          op(final, "dynamodb.GetItem")["calls"] == 0,
          "one BatchGetItem per stored get_orders, one BatchWriteItem per put_orders")
    check(final["mcp"]["tool_errors"] == 0 and final["faults"] == [], "clean build, no tool error")


def main():
    tmp = TempDir()
    t0 = time.monotonic()
    p = subprocess.run([BUILD_SCRIPT, OUT], capture_output=True, text=True, timeout=1800)
    check(p.returncode == 0, "scripts/build-orders.sh builds the fixture (%.0f s)%s" %
          (time.monotonic() - t0, "" if p.returncode == 0 else ": " + p.stderr[-1500:]))
    if p.returncode != 0:
        finish()
    binary, binary_fp = p.stdout.split()
    check(os.access(binary, os.X_OK) and os.access(binary_fp, os.X_OK),
          "both builds exist (plain and frame pointers)")

    dport, sport = free_port(), free_port()
    dyn_url, s3_url = "http://127.0.0.1:%d" % dport, "http://127.0.0.1:%d" % sport
    dyn = Proc(tmp, "dynalite", ["node", DYNALITE, "--host", "127.0.0.1", "--port", str(dport),
                                 "--createTableMs", "50"], dyn_url + "/")
    s3dir = tmp.file("s3")
    os.makedirs(s3dir)
    try:
        s3 = Proc(tmp, "s3rver", ["node", S3RVER, "-d", s3dir, "-a", "127.0.0.1", "-p", str(sport), "-s"],
                  s3_url + "/")
    except Exception:
        dyn.stop()
        raise
    try:
        test_clean(tmp, binary, dyn_url, s3_url)
        test_unbatched_and_connections(tmp, binary_fp, dyn_url, s3_url)
        test_retries(tmp, binary, dport, s3_url)
        test_in_process(tmp, binary_fp, dyn_url, s3_url)
        test_loadscope_run(tmp, binary, dyn_url, s3_url)
    finally:
        dyn.stop()
        s3.stop()
    finish()


if __name__ == "__main__":
    main()
