#!/usr/bin/env bash
# Payments end to end against the Toss sandbox, all on this machine's two cores: a release
# `tiketi up`, a release sandbox process, PostgreSQL, Redis and the load generator.
# Each buyer first holds one seat of a fresh 50,000-seat event (untimed); then, CONC buyers at a
# time: checkout → the sandbox's payment window (approve, no browser) → confirm.
# Rounds alternate a lever off and on, the server started again each round, so drift hits both
# alike:
#   LEVER (default TIKETI_INTERNAL_IN_PROCESS, OFF=false ON=true): the server's internal calls
#   (payment → ticket) over HTTP or in process
#   LEVER=TIKETI_ROLES OFF=auth,ticket,payment,realtime,stats,worker ON=auth,ticket,payment: with
#   and without the worker (whose outbox relay publishes into moto on these same cores)
# WEBHOOKS=0: the sandbox sends no webhooks (the receiver writes each into moto). With
# ROLES="auth ticket payment" (only those roles in every round, any LEVER; e.g. LEVER=TIKETI_BIN
# to compare two builds), that measures the payment path alone, as holds.sh's ROLES does.
# Usage: loadtests/payment.sh [seconds-per-round] [rounds]      Results: lines starting with RESULT.
set -euo pipefail
SECS=${1:-20}
ROUNDS=${2:-1}
CONC=${CONC:-32}
BUYERS=${BUYERS:-30000}
LEVER=${LEVER:-TIKETI_INTERNAL_IN_PROCESS}
OFF=${OFF:-false}
ON=${ON:-true}
source "$(dirname "$0")/lib.sh"
bench_setup "${BENCH_PORT:-18084}"
cargo build --release --quiet -p tiketi-toss-sandbox --bin toss-sandbox
cargo build --release --quiet -p tiketi-loadtests --bin payflow
sandbox_port=${SANDBOX_PORT:-18092}
webhook_url=$base/webhooks/toss
[ "${WEBHOOKS:-1}" = 0 ] && webhook_url=
TOSS_SANDBOX_ADDR=127.0.0.1:$sandbox_port TOSS_SANDBOX_WEBHOOK_URL=$webhook_url RUST_LOG=warn \
  ./target/release/toss-sandbox >>.tiketi/logs/bench-sandbox.log 2>&1 &
sandbox=$!
trap 'kill $sandbox 2>/dev/null || true; bench_cleanup' EXIT
export TIKETI_TOSS_API_URL=http://127.0.0.1:$sandbox_port TIKETI_DATABASE_MAX_CONNECTIONS=${DB_CONNS:-32}
bench_start
admin=$(admin_token)
mint_tokens "$BUYERS" >"$work/tokens.txt"
bench_stop

round() { # round <label> <lever value>
  export "$LEVER=$2"
  if [ "$LEVER" = TIKETI_ROLES ]; then
    bench_start serve
  elif [ -n "${ROLES:-}" ]; then
    # shellcheck disable=SC2046 # one --role per word
    bench_start serve $(printf -- '--role %s ' $ROLES)
  else
    bench_start
  fi
  local event; event=$(event "$STADIUM" 4)
  seat_buyers "$event" "$work/buyers.txt"
  echo "== $1 ($LEVER=$2): checkout + window + confirm, $CONC buyers at a time, ${SECS}s"
  SERVER_PID=$server ./target/release/payflow "$base" "$event" "$work/buyers.txt" "$CONC" "$SECS" |
    sed "s/^RESULT /RESULT $1 /"
  confirm_share | sed "s/^RESULT /RESULT $1 /"
  bench_stop
}

# Where the confirm's time goes: our handler in total vs the Toss (sandbox) calls inside it.
confirm_share() {
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
}

for i in $(seq 1 "$ROUNDS"); do
  round "off-$i" "$OFF"
  round "on-$i" "$ON"
done
