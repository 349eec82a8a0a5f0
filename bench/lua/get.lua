-- GET one path (BENCH_PATH), optionally with the form's cookie (BENCH_COOKIE = "sr_csrf=..."), like a
-- returning front-desk browser. No response() on purpose: wrk then skips parsing bodies, exactly as
-- for the static-file reference run that uses this same script.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH") or "/"
local cookie = os.getenv("BENCH_COOKIE") or ""
if cookie ~= "" then wrk.headers["Cookie"] = cookie end
