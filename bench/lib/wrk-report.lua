-- wrk script: no request/response hooks (so wrk keeps its static, Lua-free fast path),
-- only a done() that prints one machine-readable line with exact microsecond percentiles.

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"durationUs":%d,"requests":%d,"bytes":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"statusErrors":%d,"timeouts":%d,"p50Us":%d,"p99Us":%d,"meanUs":%.3f}\n',
      summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99), latency.mean))
end
