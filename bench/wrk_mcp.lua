-- wrk_mcp.lua: the request loadscope sends for a tools/call step, as a
-- constant-body wrk POST, so that wrk and loadscope put the same bytes on
-- the wire against bench/vs_wrk.sh's echo server.
--
-- Body: the step {"method":"tools/call","tool":"echo",
-- "arguments":{"message":"hello"}} rendered the way core/engine.c renders it.
-- Headers: those engine_http.c sets after the handshake (the echo server hands
-- out numeric session ids; wrk reuses one, which the echo server accepts).
-- wrk sends one id for every request; the echo server answers each with it.
--
-- Usage: wrk -t2 -c64 -d5s -s bench/wrk_mcp.lua http://127.0.0.1:PORT/mcp

wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call",' ..
           '"params":{"name":"echo","arguments":{"message":"hello"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Mcp-Session-Id"] = "1"
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"

-- No response() hook: defining one makes wrk hand every reply to Lua, which
-- would slow wrk down. wrk itself counts HTTP statuses >= 400 as errors.
function done(summary, latency, requests)
   local errs = summary.errors
   io.write(string.format("wrk_mcp: requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
      summary.requests, errs.status, errs.connect, errs.read, errs.write, errs.timeout))
end
