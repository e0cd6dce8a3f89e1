-- wrk script: HTTP/1.1 pipelining. Every write carries `depth` GET requests
-- (RFC 9112 §9.3.2: the server answers them in order on the same connection).
-- Usage: wrk -s pipeline.lua <url> -- <depth> <path>
-- wrk counts each response, so "requests" stays the number of HTTP requests.

init = function(args)
   local depth = tonumber(args[1]) or 16
   local path = args[2] or "/"
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format(nil, path)
   end
   req = table.concat(r)
end

request = function()
   return req
end

-- Same machine-readable line as wrk-report.lua (wrk accepts one script only).
done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"durationUs":%d,"requests":%d,"bytes":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"statusErrors":%d,"timeouts":%d,"p50Us":%d,"p99Us":%d,"meanUs":%.3f}\n',
      summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99), latency.mean))
end
