"""Replies without end: memory stays bounded, the request fails as protocol.

Servers written here, on 127.0.0.1, answer the MCP handshake properly and
then every tools/call with a reply that does not end (bounded here at 256 MiB
so the test stops by itself):
- HTTP: an endless chunked JSON body, and one endless SSE event, with both
  HTTP clients (native, curl);
- stdio: one 64 MiB line before its newline.
With "http": {"max_reply": "1MiB"} each such request fails with class
protocol ("reply over 1048576 bytes"), the run goes on, and loadscope's peak
resident set (getrusage of the child) stays under 200 MB: before the cap a
single such reply took it to gigabytes.
"""
import json
import os
import resource
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lsutil import BIN, TempDir, check, db, finish, last_session, write_scenario

tmp = TempDir()
dbpath = tmp.file("big.db")
CAP = 256 << 20
CHUNK = b"x" * 65536


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_DELETE(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        if "id" not in body:
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if body.get("method") == "initialize":
            out = json.dumps({"jsonrpc": "2.0", "id": body["id"], "result": {
                "protocolVersion": body["params"]["protocolVersion"], "capabilities": {"tools": {}},
                "serverInfo": {"name": "big", "version": "1"}}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Mcp-Session-Id", "s1")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            return
        sse = self.server.mode == "sse"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if sse else "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        head = (b"data: " if sse else b"") + b'{"jsonrpc":"2.0","id":%d,"result":"' % body["id"]
        try:
            for piece in [head] + [CHUNK] * (CAP // len(CHUNK)):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


STDIO_SERVER = r'''
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if "id" not in m:
        continue
    if m.get("method") == "initialize":
        r = {"jsonrpc": "2.0", "id": m["id"], "result": {"protocolVersion": m["params"]["protocolVersion"],
             "capabilities": {"tools": {}}, "serverInfo": {"name": "big", "version": "1"}}}
        sys.stdout.write(json.dumps(r) + "\n")
    else:
        sys.stdout.write('{"jsonrpc":"2.0","id":%d,"result":"' % m["id"])
        for _ in range(1024):
            sys.stdout.write("x" * 65536)
        sys.stdout.write('"}\n')
    sys.stdout.flush()
'''


def run(name, target, extra=None):
    sc = {"name": name, "target": target, "http": dict({"max_reply": "1MiB", "timeout": "20s"}, **(extra or {})),
          "load": {"model": "closed", "concurrency": 2, "duration": "2s"},
          "steps": [{"name": "call", "method": "tools/call", "tool": "big"}]}
    path = write_scenario(tmp, name + ".json", sc)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    p = subprocess.run([BIN, "run", path, "--headless", "--quiet", "--db", dbpath], capture_output=True,
                       text=True, timeout=120)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    conn = db(dbpath)
    sid = last_session(conn)["id"]
    n, proto = conn.execute("SELECT count(*), sum(err = 4) FROM samples WHERE session_id = ? AND step = 0",
                            (sid,)).fetchone()
    msg = conn.execute("SELECT group_concat(message, ' | ') FROM events WHERE session_id = ? AND "
                       "message LIKE '%reply over%'", (sid,)).fetchone()[0] or ""
    check(n and n == proto, "%s: every call failed as protocol (%s of %s)" % (name, proto, n))
    check("reply over 1048576 bytes" in msg, "%s: the reason is given (%s)" % (name, msg[:120]))
    # ru_maxrss of the children is the largest any child reached so far: only a new peak shows.
    check(peak_kb < 200 * 1024 or peak_kb == before,
          "%s: loadscope's peak RSS stays under 200 MB (%.0f MB)" % (name, peak_kb / 1024))


for mode in ("chunked", "sse"):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.mode = mode
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    url = "http://127.0.0.1:%d/mcp" % srv.server_address[1]
    for client in ("native", "curl"):
        run("%s-%s" % (mode, client), {"transport": "http", "url": url}, {"client": client})
    srv.shutdown()

script = tmp.file("big_stdio.py")
open(script, "w").write(STDIO_SERVER)
run("stdio", {"transport": "stdio", "command": [sys.executable, script]})
finish()
