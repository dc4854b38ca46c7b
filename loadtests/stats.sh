#!/usr/bin/env bash
# Stats benchmarks against a release `tiketi up` (every role, the worker relaying through moto):
#   1. the operators' dashboards alone: 20 refreshing the overview every second, 10 refreshing the
#      50,000-seat heatmap (gzip) every 2 seconds
#   2. distinct-seat holds on the 50,000-seat event, alone and with those dashboards meanwhile
#      (holds/s with / without, and the dashboards' latency under the sale)
#   3. how far the stats role is behind the sale afterwards, and its pace through the emulator
# The stats role's own costs (apply rate without SQS, heatmap build, a 100,000-order report) come
# from `target/release/stats-bench` (run at the end).
# Usage: loadtests/stats.sh [seconds-per-run]     Results: lines starting with RESULT.
set -euo pipefail
SECS=${1:-10}
CONNS=${CONNS:-64}
source "$(dirname "$0")/lib.sh"
bench_setup "${BENCH_PORT:-18084}"
# A fresh emulator of the benchmark's own: moto slows down with the state that tests leave in it.
moto_port=$(( ${BENCH_PORT:-18084} + 50 ))
.tiketi/venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >>.tiketi/logs/bench-moto.log 2>&1 &
moto=$!
trap 'kill "$moto" 2>/dev/null; bench_cleanup' EXIT
export AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port
for _ in $(seq 1 100); do curl -sf "$AWS_ENDPOINT_URL/moto-api/" >/dev/null && break; sleep 0.1; done
export TIKETI_DATABASE_MAX_CONNECTIONS=${DB_CONNS:-32} TIKETI_STATS_DAILY_SETTLEMENT=false
bench_start
admin=$(admin_token)
big=$(event '[{"name":"Floor","rows":50,"seats_per_row":100,"price":198000},{"name":"Stands","rows":225,"seats_per_row":200,"price":132000}]' 4)
mint_tokens 50000 >"$work/tokens.txt"
curl -sf "$base/api/events/$big/seats" | json '"\n".join(s["id"] for s in d["seats"])' >"$work/seats.txt"
paste -d' ' "$work/tokens.txt" "$work/seats.txt" >"$work/holds.txt"
head -n 25000 "$work/holds.txt" >"$work/holds-1.txt"
tail -n 25000 "$work/holds.txt" >"$work/holds-2.txt"

applied() { psql -tAq "$TIKETI_DATABASE_URL" -c "SELECT count(*) FROM stats.applied_events"; }
outboxed() { psql -tAq "$TIKETI_DATABASE_URL" -c "SELECT (SELECT count(*) FROM ticket.outbox) + (SELECT count(*) FROM payment.outbox)"; }
lag() { # lag <label>: how far behind the stats role is, and what it applies over LAG_SECS
  local a0 a1 secs=${LAG_SECS:-20}
  a0=$(applied); sleep "$secs"; a1=$(applied)
  echo "RESULT $1 outbox=$(outboxed) applied=$a1 applied_per_s=$(( (a1 - a0) / secs ))"
}
wait_applied() { # until the stats role has every outbox row (≤ 120 s)
  for _ in $(seq 1 1200); do [ "$(applied)" -ge "$(outboxed)" ] && return; sleep 0.1; done
  echo "the stats role did not catch up"; exit 1
}
wait_applied
heatmap=/api/admin/stats/events/$big/heatmap
seats=$(curl -sf --compressed "$base$heatmap" -H "authorization: Bearer $admin" | json 'len(d["seats"])')
gz=$(curl -sf -H 'accept-encoding: gzip' "$base$heatmap" -H "authorization: Bearer $admin" | wc -c)
echo "RESULT heatmap_seats=$seats gzip_bytes=$gz"

dash() { # dash <path> <secs> <dashboards> <refresh ms> [extra wrk args]: dashboards polling as the admin
  WRK_DELAY_MS=$4 wrk -t1 -c"$3" -d"$2s" -s loadtests/paced.lua -H "Authorization: Bearer $admin" "${@:5}" "$base$1" | grep RESULT
}
overview() { dash /api/admin/stats/overview "$1" 20 1000; }
heat() { dash "$heatmap" "$1" 10 2000 -H 'Accept-Encoding: gzip'; }
echo "== dashboards alone, ${SECS}s"
overview "$SECS" >"$work/overview.txt" &
polls=$!
heat "$SECS" >"$work/heatmap.txt" &
polls="$polls $!"
# shellcheck disable=SC2086
wait $polls
echo "overview alone: $(cat "$work/overview.txt")"
echo "heatmap alone: $(cat "$work/heatmap.txt")"

echo "== holds alone (distinct seats, one buyer per request), $CONNS connections, ${SECS}s"
TOKENS_FILE=$work/holds-1.txt METHOD=POST URL_PATH=/api/events/$big/holds wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/as_buyers.lua "$base" | grep RESULT
echo "== holds with the dashboards refreshing meanwhile, ${SECS}s"
overview "$SECS" >"$work/overview.txt" &
polls=$!
heat "$SECS" >"$work/heatmap.txt" &
polls="$polls $!"
TOKENS_FILE=$work/holds-2.txt METHOD=POST URL_PATH=/api/events/$big/holds wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/as_buyers.lua "$base" | grep RESULT
# shellcheck disable=SC2086
wait $polls
echo "overview under the sale: $(cat "$work/overview.txt")"
echo "heatmap under the sale: $(cat "$work/heatmap.txt")"
lag stats_after_both_hold_runs

bench_stop
cargo build --release --quiet -p tiketi-loadtests --bin stats-bench
echo "== the stats role's own costs (no SQS): apply rate, heatmap build, a 100,000-order report"
./target/release/stats-bench 10000 100000 | sed 's/^/RESULT /'
