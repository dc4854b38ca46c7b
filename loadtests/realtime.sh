#!/usr/bin/env bash
# WebSocket swarm against release builds: N authenticated sockets on one event's queue, spread
# over R realtime processes (`tiketi serve --role realtime`, each behind its own port as behind a
# load balancer), while the waiting room admits 10 buyers a second. One swarm process per
# replica opens its sockets from 8 source addresses (127.0.0.1-8) and measures delivery delay.
# Every process here is limited to the container's hard limit of open files (`ulimit -Hn`), so
# one process holds at most that many sockets; R is chosen to fit.
# Usage: loadtests/realtime.sh [sockets] [hold-seconds]    Results: lines starting with RESULT.
set -euo pipefail
SOCKETS=${1:-50000}
HOLD=${2:-30}
source "$(dirname "$0")/lib.sh"
ulimit -n "$(ulimit -Hn)"
per_process=$(( $(ulimit -n) - 1000 ))
replicas=$(( (SOCKETS + per_process - 1) / per_process ))
bench_setup "${BENCH_PORT:-18083}"
export TIKETI_QUEUE_JOIN_IP_LIMIT_PER_MINUTE=1000000000 TIKETI_REALTIME_MAX_CONNECTIONS=$per_process
bench_start
cargo build --release --quiet -p tiketi-loadtests --bin swarm
admin=$(admin_token)
venue=$(post /api/admin/venues '{"name":"Swarm Arena","sections":[{"name":"A","rows":10,"seats_per_row":10,"price":1000}]}' | json 'd["id"]')
event=$(post /api/admin/events "{\"title\":\"Swarm\",\"artist\":\"Swarm\",\"venue_id\":\"$venue\",\"starts_at\":\"$(iso 86400)\",
  \"sale_opens_at\":\"$(iso -60)\",\"sale_closes_at\":\"$(iso 3600)\",\"waiting_room\":{\"enabled\":true,\"max_active\":1000000,\"admit_per_minute\":600}}" | json 'd["id"]')
mint_tokens "$SOCKETS" >"$work/tokens.txt"
split -n "l/$replicas" -d "$work/tokens.txt" "$work/tokens."
echo "== $SOCKETS sockets over $replicas realtime processes (at most $per_process each), ${HOLD}s of admissions"

pids=()
for r in $(seq 0 $((replicas - 1))); do
  port=$(( ${BENCH_PORT:-18083} + 1 + r ))
  TIKETI_PORT=$port TIKETI_INTERNAL_URL=$base ./target/release/tiketi serve --role realtime >>.tiketi/logs/bench.log 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
done
trap 'kill "${pids[@]}" 2>/dev/null; bench_cleanup' EXIT

outs=()
for r in $(seq 0 $((replicas - 1))); do
  port=$(( ${BENCH_PORT:-18083} + 1 + r ))
  file=$(printf "%s/tokens.%02d" "$work" "$r")
  ./target/release/swarm "$base" "ws://127.0.0.1:$port" "$event" "$file" "$(wc -l <"$file")" "$TIKETI_REDIS_URL" \
    "${prefix}queue:$event" "${pids[$r]}" "$HOLD" >"$work/swarm.$r" 2>&1 &
  outs+=($!)
done
wait "${outs[@]}" || true
for r in $(seq 0 $((replicas - 1))); do echo "-- realtime process $r"; grep RESULT "$work/swarm.$r" || cat "$work/swarm.$r"; done
echo "RESULT machine: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
