#!/usr/bin/env bash
# Payments end to end against the Toss sandbox, all on this machine's two cores: a release
# `tiketi up`, a release sandbox process, PostgreSQL, Redis and the load generator.
# Each buyer first holds one seat of a 50,000-seat event (untimed); then, CONC buyers at a time:
# checkout → the sandbox's payment window (approve, no browser) → confirm.
# Usage: loadtests/payment.sh [seconds]      Results: lines starting with RESULT.
set -euo pipefail
SECS=${1:-20}
CONC=${CONC:-32}
BUYERS=${BUYERS:-30000}
source "$(dirname "$0")/lib.sh"
bench_setup "${BENCH_PORT:-18084}"
cargo build --release --quiet -p tiketi-toss-sandbox --bin toss-sandbox
cargo build --release --quiet -p tiketi-loadtests --bin payflow
sandbox_port=${SANDBOX_PORT:-18092}
TOSS_SANDBOX_ADDR=127.0.0.1:$sandbox_port TOSS_SANDBOX_WEBHOOK_URL=$base/webhooks/toss RUST_LOG=warn \
  ./target/release/toss-sandbox >>.tiketi/logs/bench-sandbox.log 2>&1 &
sandbox=$!
trap 'kill $sandbox 2>/dev/null || true; bench_cleanup' EXIT
export TIKETI_TOSS_API_URL=http://127.0.0.1:$sandbox_port TIKETI_DATABASE_MAX_CONNECTIONS=${DB_CONNS:-32}
bench_start
admin=$(admin_token)
venue=$(post /api/admin/venues '{"name":"Bench Arena","sections":[{"name":"Floor","rows":50,"seats_per_row":100,"price":198000},{"name":"Stands","rows":225,"seats_per_row":200,"price":132000}]}' | json 'd["id"]')
event=$(post /api/admin/events "{\"title\":\"Bench\",\"artist\":\"Bench\",\"venue_id\":\"$venue\",\"max_seats_per_order\":4,
  \"starts_at\":\"$(iso 86400)\",\"sale_opens_at\":\"$(iso -60)\",\"sale_closes_at\":\"$(iso 3600)\"}" | json 'd["id"]')
mint_tokens "$BUYERS" >"$work/tokens.txt"
curl -sf "$base/api/events/$event/seats" | json "\"\\n\".join(s[\"id\"] for s in d[\"seats\"][:$BUYERS])" >"$work/seats.txt"
paste -d' ' "$work/tokens.txt" "$work/seats.txt" >"$work/buyers.txt"

echo "== checkout + window + confirm, $CONC buyers at a time, ${SECS}s"
./target/release/payflow "$base" "$event" "$work/buyers.txt" "$CONC" "$SECS"

# Where the confirm's time goes: our handler in total vs the Toss (sandbox) calls inside it.
curl -sf "$base/metrics" | python3 -c '
import sys
sums = {}
for line in sys.stdin:
    if line.startswith("#"): continue
    name, _, value = line.rpartition(" ")
    for key, metric in (("confirm", "tiketi_http_request_duration_seconds_sum{"), ("checkout", "tiketi_http_request_duration_seconds_sum{"), ("toss", "tiketi_toss_call_seconds_sum{")):
        if name.startswith(metric) and (key == "toss" and "path=\"confirm\"" in name or key != "toss" and f"route=\"/api/payments/{key}\"" in name and "status=\"2" in name):
            sums[key] = sums.get(key, 0.0) + float(value)
c, t, k = sums.get("confirm", 0.0), sums.get("toss", 0.0), sums.get("checkout", 0.0)
if c:
    print(f"RESULT confirm_time_share toss={t / c:.0%} ours={(c - t) / c:.0%} (server-side sums: confirm {c:.1f}s, Toss calls {t:.1f}s; checkout {k:.1f}s)")
'
