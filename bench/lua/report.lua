-- Shared by every bench script (loaded with dofile): thread ids, per-thread counters, a quota that
-- stops a thread after N responses, and a machine-readable summary line for bench/bench.py.
--
-- Environment (set by bench/bench.py):
--   BENCH_WORK     directory for per-thread files (tokens.<tid>, locations.<tid>, done.<tid>)
--   BENCH_QUOTA    responses per thread after which the thread stops (0 = run for -d)
--   BENCH_THREADS  wrk's -t (so thread t of T can interleave indexes: k*T + t)

local threads = {}
tid = 0            -- overwritten by setup() through thread:set
work = os.getenv("BENCH_WORK") or "."
quota = tonumber(os.getenv("BENCH_QUOTA") or "0") or 0
nthreads = tonumber(os.getenv("BENCH_THREADS") or "1") or 1

-- Counters that done() sums over the threads (numbers only).
counter_names = {"ok", "other", "exhausted", "responses", "no_token"}
ok, other, exhausted, responses, no_token = 0, 0, 0, 0, 0
statuses = {}      -- status (string) -> count
stopped = false

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

-- Call from response(): counts it, and stops the thread once its quota is reached.
function count_response(status, success)
   responses = responses + 1
   if success then ok = ok + 1 else other = other + 1 end
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
   if quota > 0 and responses >= quota and not stopped then
      stopped = true
      if flush_thread_files then flush_thread_files() end
      local f = io.open(work .. "/done." .. tid, "w")
      if f then f:write(responses, "\n"); f:close() end
      wrk.thread:stop()
   end
end

local function json_number(x)
   if x == nil or x ~= x then return "null" end
   return string.format("%.17g", x)
end

function done(summary, latency, requests)
   local parts = {}
   local function add(key, value) table.insert(parts, string.format("%q:%s", key, value)) end
   add("duration_us", json_number(summary.duration))
   add("requests", json_number(summary.requests))
   add("bytes", json_number(summary.bytes))
   local e = summary.errors
   add("errors", string.format('{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
                               e.connect, e.read, e.write, e.status, e.timeout))
   add("latency_us", string.format('{"mean":%s,"stdev":%s,"max":%s,"p50":%s,"p90":%s,"p99":%s,"p999":%s}',
                                   json_number(latency.mean), json_number(latency.stdev), json_number(latency.max),
                                   json_number(latency:percentile(50)), json_number(latency:percentile(90)),
                                   json_number(latency:percentile(99)), json_number(latency:percentile(99.9))))
   local counted = {}
   local merged = {}
   for _, name in ipairs(counter_names) do counted[name] = 0 end
   for _, t in ipairs(threads) do
      for _, name in ipairs(counter_names) do counted[name] = counted[name] + (t:get(name) or 0) end
      local s = t:get("statuses") or {}
      for k, v in pairs(s) do merged[k] = (merged[k] or 0) + v end
   end
   for _, name in ipairs(counter_names) do add("count_" .. name, json_number(counted[name])) end
   local st = {}
   for k, v in pairs(merged) do table.insert(st, string.format("%q:%d", k, v)) end
   add("statuses", "{" .. table.concat(st, ",") .. "}")
   io.write("BENCH_JSON {" .. table.concat(parts, ",") .. "}\n")
end
