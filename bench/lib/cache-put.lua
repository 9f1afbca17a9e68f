-- wrk script of bench/run-cache.sh and bench/run-fairness.sh: every request PUTs a new cache key
-- with the same body of $BENCH_PUT_BYTES bytes (4 KiB unless set).
-- The URL given to wrk is the cache type's base (.../cache/dependencies/); each key is
-- $BENCH_PUT_PREFIX/<thread>-<n>.tgz, distinct across threads, connections and requests.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

function init(args)
  prefix = wrk.path .. (os.getenv("BENCH_PUT_PREFIX") or "npm/put") .. "/" .. thread_number .. "-"
  body = string.rep("b", tonumber(os.getenv("BENCH_PUT_BYTES") or "4096"))
  wrk.headers["Content-Type"] = "application/octet-stream"
  n = 0
end

function request()
  n = n + 1
  -- nil headers: wrk.headers, which carry the -H Authorization header
  return wrk.format("PUT", prefix .. n .. ".tgz", nil, body)
end
