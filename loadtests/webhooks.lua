-- Toss webhook deliveries, each with a transmission id of its own (so every request is a new
-- delivery: inbox put + enqueue), for an order that does not exist (the worker notes and drops it).
local counter = 0
local prefix = tostring(os.time()) .. "-" .. tostring(math.random(1000000))
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
function init(args)
  n = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = '{"eventType":"PAYMENT_STATUS_CHANGED","createdAt":"2026-12-02T10:00:00.000",' ..
    '"data":{"paymentKey":"bench","orderId":"bench-order","status":"DONE","totalAmount":1000,"balanceAmount":1000}}'
end
function request()
  n = n + 1
  wrk.headers["tosspayments-webhook-transmission-id"] = "bench-" .. prefix .. "-" .. tid .. "-" .. n
  return wrk.format(nil, "/webhooks/toss")
end
function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d rps=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f non2xx=%d socket_errors=%d\n",
    summary.requests, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
