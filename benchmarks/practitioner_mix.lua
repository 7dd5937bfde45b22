-- A practitioner's mix of requests for wrk: open a profile, read a chronology, record a concern.
--
--   wrk -t2 -c32 -d30s -s benchmarks/practitioner_mix.lua http://127.0.0.1:PORT -- IDS_FILE TOKEN
--
-- IDS_FILE holds young person ids (one a line) that the token's user may see. Each thread walks the
-- ids from its own offset; the mix is 45% profile, 40% chronology (JSON), 15% new concern. `done`
-- prints one line starting "CSMAP-RESULT " with the figures as JSON for benchmarks/practitioner.py.

local ids = {}
local token = ""
local counter = 0
local threads = {}
thread_number = 0 -- global: setup() sets it in each thread's own Lua state

local concern = '{"context": "neighbourhood", "kind": "risk", "category": "hotspot", '
  .. '"summary": "Seen at the bus station late at night with adults not known to the family", '
  .. '"detail": "Detached youth workers offered a lift home and told the lead practitioner.", '
  .. '"occurred_at": "2026-01-15T22:30:00Z", "occurred_precision": "exact"}'

function setup(thread)
  thread:set("thread_number", #threads)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    table.insert(ids, line)
  end
  token = args[2]
  counter = (thread_number * 7919) % #ids
end

function request()
  counter = counter + 1
  local id = ids[(counter % #ids) + 1]
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["X-Access-Reason"] = "benchmark",
    ["Accept"] = "application/json",
  }
  local pick = counter % 20
  if pick < 9 then
    return wrk.format("GET", "/api/young-people/" .. id, headers)
  elseif pick < 17 then
    return wrk.format("GET", "/api/young-people/" .. id .. "/chronology", headers)
  end
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/api/young-people/" .. id .. "/concerns", headers, concern)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'CSMAP-RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "non_2xx": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, errors.status, errors.connect, errors.read, errors.write,
    errors.timeout))
end
