-- The Sinch fake alone: POST /xms/v1/<plan>/batches as the module does (BENCH_BODY_TEMPLATE is a
-- body the module really sent, with @TO@ and @REF@ replaced per request), Bearer API token.
-- Only 201 counts as success.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
local path = os.getenv("BENCH_PATH")
local template = os.getenv("BENCH_BODY_TEMPLATE")
local base = tonumber(os.getenv("BENCH_PHONE_BASE") or "0")
local headers = {["Content-Type"] = "application/json",
                 ["Authorization"] = "Bearer " .. (os.getenv("BENCH_BEARER") or "")}
local k = 0

function request()
   local n = base + k * nthreads + tid
   k = k + 1
   local body = template:gsub("@TO@", "+1650" .. string.format("%07d", 2000000 + (n % 1000000)), 1)
                        :gsub("@REF@", "bench-fake-" .. n, 1)
   return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
   if stopped then return end
   count_response(status, status == 201)
end
