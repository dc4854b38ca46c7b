-- Holds: every request is a different buyer (token) asking for one seat.
-- Reads loadtests/.work/holds.txt: lines "<token> <seat_id>"; thread i takes lines i, i+n, …
-- Counts answers by status so the summary can tell correct 409s from anything else.
local event = os.getenv("EVENT_ID")
local lines = {}
for line in io.lines(os.getenv("HOLDS_FILE")) do lines[#lines + 1] = line end

local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  threads[#threads + 1] = thread
end

function init(args)
  nthreads = tonumber(os.getenv("WRK_THREADS") or "2")
  next_line = tid
  statuses = {}
  wrk.method = "POST"
  wrk.path = "/api/events/" .. event .. "/holds"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local line = lines[next_line] or lines[((next_line - 1) % #lines) + 1]
  next_line = next_line + nthreads
  local token, seat = line:match("(%S+) (%S+)")
  wrk.headers["Authorization"] = "Bearer " .. token
  return wrk.format(nil, nil, nil, '{"seat_ids":["' .. seat .. '"]}')
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("statuses")) do totals[status] = (totals[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(totals) do parts[#parts + 1] = status .. "=" .. n end
  table.sort(parts)
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT requests=%d rps=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f statuses=%s socket_errors=%d\n",
    summary.requests, summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, table.concat(parts, ","),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
