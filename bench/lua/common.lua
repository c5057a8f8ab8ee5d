-- Shared by every scenario: per-thread seeds and a JSON line of results from done().
-- The generated prelude defines TOKEN, IDS_FILE (every account id, one per line), PATCH_IDS and RUN.
local threads = {}
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

init = function(args)
  math.randomseed(tid * 7919 + os.time())
end

auth = { ["Authorization"] = "Bearer " .. TOKEN }

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"socket_errors":%d,"http_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
