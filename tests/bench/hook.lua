-- wrk script for ci/bench-sidecar (docs/PERFORMANCE.md): POST realistic CDS Hooks requests,
-- each with a fresh pre-signed JWT (the sidecar refuses a replayed jti and checks aud).
--
--   wrk -t T -c C -d D --timeout 10s -s tests/bench/hook.lua URL -- TOKENS BODIES T [reuse]
--
-- TOKENS: one JWT per line (ehrgate-bench-tokens); thread i of T uses lines i, i+T, i+2T, ...
-- BODIES: a file naming one request-body file per line (tests/bench/make_requests.py); the
--         bodies are sent round robin, so every configuration sees the same mix.
-- reuse:  cycle through the tokens (for targets that do not check them: the upstream, nginx).
--         Without it a thread stops when its tokens run out, so a run is "at most N requests
--         within D seconds" and the rate wrk reports is over the time actually run.
-- done() prints one key=value line: requests, rate, latency percentiles (ms), errors.

local counter = 0
function setup(thread)
   thread:set("tid", counter)
   counter = counter + 1
end

local tokens, reqs = {}, {}
local ti, bi, reuse = 0, 0, false

function init(args)
   local nthreads = tonumber(args[3]) or 1
   reuse = args[4] == "reuse"
   local i = 0
   for line in io.lines(args[1]) do
      if line ~= "" then
         if i % nthreads == tid then tokens[#tokens + 1] = line end
         i = i + 1
      end
   end
   local host = wrk.host .. ":" .. tostring(wrk.port)
   for path in io.lines(args[2]) do
      if path ~= "" then
         local f = assert(io.open(path, "rb"))
         local body = f:read("*a")
         f:close()
         reqs[#reqs + 1] = {
            "POST " .. wrk.path .. " HTTP/1.1\r\nHost: " .. host ..
               "\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: " ..
               #body .. "\r\nAuthorization: Bearer ",
            "\r\n\r\n" .. body }
      end
   end
   assert(#tokens > 0 and #reqs > 0, "hook.lua: no tokens or no bodies")
end

function request()
   ti = ti + 1
   if ti > #tokens then
      if reuse then
         ti = 1
      else
         -- out of fresh tokens: stop this thread; the request returned below is never answered
         -- within the run (the loop stops first) and is not counted
         wrk.thread:stop()
         ti = #tokens
      end
   end
   bi = bi % #reqs + 1
   local r = reqs[bi]
   return r[1] .. tokens[ti] .. r[2]
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "tool=wrk done=%d secs=%.2f rps=%.0f status_ge400=%d errors=%d timeouts=%d " ..
      "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
      summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
      e.status, e.connect + e.read + e.write, e.timeout,
      latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
      latency.max / 1e3))
end
