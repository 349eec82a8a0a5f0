-- Fetches form tokens before a POST run: GET the form with one browser's cookie, keep each
-- csrf_token (each one is distinct and bound to that cookie), stop after BENCH_QUOTA per thread.
-- Writes BENCH_WORK/tokens.<tid>, one token a line.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH") or "/appointment"
wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE")
local out

function init(args)
   out = io.open(work .. "/tokens." .. tid, "w")
end

function flush_thread_files() out:flush() end

function response(status, headers, body)
   if stopped then return end
   local token = nil
   if status == 200 and body then
      token = body:match('name="csrf_token"%s+value="([^"]*)"') or body:match('value="([^"]*)"%s+name="csrf_token"')
   end
   if token then out:write(token, "\n") else no_token = no_token + 1 end
   count_response(status, token ~= nil)
end
