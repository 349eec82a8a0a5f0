-- The full booking: POST the form with a distinct valid token (read from BENCH_WORK/tokens.<tid>),
-- the matching cookie, a distinct US mobile number (+1 650 2xx xxxx) and a future time.
-- Only 303 counts as success; each 303's Location goes to BENCH_WORK/locations.<tid> for the
-- data-loss check. A thread whose tokens run out keeps sending (an invalid token -> 403) and
-- counts it as "exhausted".
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
local path = os.getenv("BENCH_PATH") or "/appointment"
local phone_base = tonumber(os.getenv("BENCH_PHONE_BASE") or "0")
local dates = {}
for d in string.gmatch(os.getenv("BENCH_DATES") or "", "[^,]+") do table.insert(dates, d) end
local headers = {["Content-Type"] = "application/x-www-form-urlencoded",
                 ["Cookie"] = os.getenv("BENCH_COOKIE")}
local tokens, ntokens, next_token = {}, 0, 1
local locations

function init(args)
   for line in io.lines(work .. "/tokens." .. tid) do
      if line ~= "" then ntokens = ntokens + 1; tokens[ntokens] = line end
   end
   locations = io.open(work .. "/locations." .. tid, "w")
   locations:setvbuf("line")
end

function flush_thread_files() locations:flush() end

function request()
   local token
   -- index over all threads: token j of thread t is the (j*T + t)-th token of the run
   local index = (next_token - 1) * nthreads + tid
   if next_token <= ntokens then
      token = tokens[next_token]
   else
      token = "exhausted"
      exhausted = exhausted + 1
   end
   next_token = next_token + 1
   local n = phone_base + index
   local body = "csrf_token=" .. token ..
      "&patient_name=Bench+Patient+" .. n ..
      "&doctor_name=Dr.+Grace+Hopper" ..
      "&phone=%2B1650" .. string.format("%07d", 2000000 + (n % 1000000)) ..
      "&appointment_date=" .. dates[(n % #dates) + 1] ..
      "&appointment_time=" .. string.format("%02d%%3A%02d", 8 + (n % 10), (n * 7) % 60)
   return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
   if stopped then return end
   if status == 303 then
      local location = headers["Location"] or headers["location"]
      if location then locations:write(location, "\n") end
   end
   count_response(status, status == 303)
end
