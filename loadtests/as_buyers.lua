-- Every request as a different buyer: reads TOKENS_FILE, one "<access token> [<seat id>]" per
-- line; thread i takes lines i, i+n, … and wraps around. METHOD and URL_PATH come from the
-- environment; a line with a seat id sends a hold body for that seat. Answers are counted by
-- status, so the summary tells correct 409s from anything else.
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
local body_for = function(seat) return '{"seat_ids":["' .. seat .. '"]}' end
local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  threads[#threads + 1] = thread
end
function init(args)
  nthreads = tonumber(os.getenv("WRK_THREADS") or "2")
  nxt = tid
  statuses = {}
  wrk.method = os.getenv("METHOD") or "GET"
  wrk.path = os.getenv("URL_PATH")
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  local token, seat = tokens[((nxt - 1) % #tokens) + 1]:match("(%S+)%s*(%S*)")
  nxt = nxt + nthreads
  wrk.headers["Authorization"] = "Bearer " .. token
  return wrk.format(nil, nil, nil, seat ~= "" and body_for(seat) or nil)
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
  io.write(string.format("RESULT requests=%d rps=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f statuses=%s\n",
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, table.concat(parts, ",")))
end
