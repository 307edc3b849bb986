"""`loadscope aws sign` and the engine sign the same request the same way.

The engine's DynamoDB requests go through a small recording HTTP proxy on
127.0.0.1 (libcurl honours http_proxy), so the endpoint's host needs no DNS
and its port may be the scheme's default: the proxy sees exactly the Host,
X-Amz-Date and Authorization the engine sent. The same request (method, URL,
Content-Type, X-Amz-Target, body, date, credentials with a session token)
then goes through `loadscope aws sign`, whose Host and signature must be the
engine's, byte for byte:
  - http://fakehost:80: the explicit default port is left out of Host by both
    (before the one URL parser, aws sign dropped it and the engine kept it);
  - http://fakehost:8080: a port that is not the default is kept by both.
For https the engine cannot be observed through a plain proxy; there
`aws sign` must give https://fakehost:443/ the Host and signature of
https://fakehost/ (test_aws_sign's unit twin, tests/unit/test_aws_sign.c,
checks the engine's own header builder for https://host:443).
"""
import http.server
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(__file__))
from lsutil import TempDir, check, finish, run_loadscope, write_scenario  # noqa: E402

SECRET = "engineSignSecret/9z"
TOKEN = "engineSignToken+abc"
ENV = {"AWS_ACCESS_KEY_ID": "AKIDENGINESIGN", "AWS_SECRET_ACCESS_KEY": SECRET,
       "AWS_SESSION_TOKEN": TOKEN, "AWS_REGION": "us-east-1",
       "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
for k in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE",
          "AWS_MAX_ATTEMPTS", "AWS_DEFAULT_REGION", "NO_PROXY", "no_proxy", "HTTP_PROXY",
          "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(k, None)

recorded = []
lock = threading.Lock()


class Recorder(http.server.BaseHTTPRequestHandler):
    """A forward proxy that answers every DynamoDB call itself with {} and keeps what it got."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with lock:
            recorded.append({"target": self.path, "headers": dict(self.headers.items()),
                             "body": body.decode("utf-8")})
        reply = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, fmt, *args):
        pass


def sections(out):
    res, name, lines = {}, None, []
    for line in out.split("\n"):
        if line.startswith("--- "):
            if name:
                res[name] = "\n".join(lines).strip("\n")
            name, lines = line[4:], []
        else:
            lines.append(line)
    if name:
        res[name] = "\n".join(lines).strip("\n")
    return res


def sign(url, extra):
    rc, out, err = run_loadscope(["aws", "sign", "--service", "dynamodb", "--method", "POST",
                                  "--url", url] + extra, env=ENV, timeout=30)
    return rc, out, err


def engine_request(tmp, endpoint, proxy_port, dbpath):
    """Runs one short DynamoDB load at endpoint through the proxy; returns the first request seen."""
    with lock:
        del recorded[:]
    scn = {"name": "sign agree", "target": {"transport": "aws"},
           "aws": {"region": "us-east-1", "endpoints": {"dynamodb": endpoint}},
           "load": {"model": "open", "rate": 20, "duration": "1s"},
           "steps": [{"method": "dynamodb.GetItem",
                      "request": {"TableName": "t", "Key": {"pk": {"S": "k-${seq}"}}}}]}
    path = write_scenario(tmp, "agree.json", scn)
    env = dict(ENV)
    env["http_proxy"] = "http://127.0.0.1:%d" % proxy_port
    rc, out, err = run_loadscope(["run", path, "--headless", "--db", dbpath, "--quiet"], env=env,
                                 timeout=60)
    check(rc == 0, "%s: the run completed (exit %d)%s"
          % (endpoint, rc, "" if rc == 0 else ": " + err.strip()[-300:]))
    with lock:
        got = list(recorded)
    check(len(got) >= 5, "%s: the proxy saw the engine's requests (%d)" % (endpoint, len(got)))
    check(SECRET not in out + err and TOKEN not in out + err, "%s: no secret in the run's output"
          % endpoint)
    return got[0] if got else None


def agree(tmp, endpoint, want_host, proxy_port, dbpath):
    print("engine and aws sign for %s" % endpoint)
    req = engine_request(tmp, endpoint, proxy_port, dbpath)
    if not req:
        return
    h = {k.lower(): v for k, v in req["headers"].items()}
    check(h.get("host") == want_host, "the engine sent Host: %s (got %r)" % (want_host, h.get("host")))
    check(h.get("x-amz-security-token") == TOKEN, "the engine sent the session token")
    engine_sig = h.get("authorization", "").split("Signature=")[-1]
    rc, out, err = sign(endpoint + "/", [
        "--header", "Content-Type: " + h.get("content-type", ""),
        "--header", "X-Amz-Target: " + h.get("x-amz-target", ""),
        "--body", req["body"], "--date", h.get("x-amz-date", "")])
    check(rc == 0, "aws sign ran (exit %d)%s" % (rc, "" if rc == 0 else ": " + err.strip()))
    s = sections(out)
    sent = s.get("headers to send", "").split("\n")
    check(sent and sent[0] == "Host: " + want_host,
          "aws sign shows Host: %s first among the headers to send (%r)"
          % (want_host, sent[0] if sent else None))
    check("host:%s\n" % want_host in s.get("canonical request", ""),
          "aws sign signed host:%s" % want_host)
    check(s.get("signature") == engine_sig and len(engine_sig) == 64,
          "aws sign's signature is the engine's (%s)" % engine_sig)
    check(SECRET not in out + err and TOKEN not in out + err, "aws sign printed no secret")


def main():
    tmp = TempDir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    port = server.server_address[1]
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        agree(tmp, "http://fakehost:80", "fakehost", port, tmp.file("a.db"))
        agree(tmp, "http://fakehost:8080", "fakehost:8080", port, tmp.file("b.db"))
    finally:
        server.shutdown()
        server.server_close()

    print("https: an explicit :443 signs as no port at all")
    args = ["--date", "20150830T123600Z", "--body", "{}",
            "--header", "X-Amz-Target: DynamoDB_20120810.GetItem"]
    rc1, out1, err1 = sign("https://fakehost:443/", args)
    rc2, out2, err2 = sign("https://fakehost/", args)
    s1, s2 = sections(out1), sections(out2)
    check(rc1 == 0 and rc2 == 0, "aws sign ran for both%s"
          % ("" if rc1 == rc2 == 0 else ": " + err1.strip() + " " + err2.strip()))
    check(s1.get("headers to send", "").startswith("Host: fakehost\n"),
          "https://fakehost:443/ gives Host: fakehost")
    check(s1.get("signature") and s1.get("signature") == s2.get("signature"),
          "and the signature of https://fakehost/")
    rc3, out3, _ = sign("https://fakehost:8443/", args)
    check(rc3 == 0 and sections(out3).get("headers to send", "").startswith("Host: fakehost:8443\n"),
          "https://fakehost:8443/ keeps its port")
    finish()


main()
