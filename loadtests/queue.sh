#!/usr/bin/env bash
# Waiting room over HTTP against a release `tiketi up` (wrk, 2 threads, on the same two cores):
#   1. joins, every request a different buyer (50,000 buyers, then rejoins, which keep the place)
#   2. status polls with 50,000 waiters in one event
#   3. Redis memory per waiter
# Usage: loadtests/queue.sh [seconds-per-run]     Results: lines starting with RESULT.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${CONNS:-64}
eval "$(./dev env)"
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null || sudo apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet -p tiketi --bin tiketi
cargo build --release --quiet -p tiketi-loadtests --bin mint-tokens

work=$(mktemp -d /tmp/tiketi-bench.XXXX)
port=${BENCH_PORT:-18082}
base=http://127.0.0.1:$port
db="tiketi_bench_$$"
prefix="bench:$$:"
psql -q "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
export TIKETI_DATABASE_URL="${DATABASE_URL%/*}/$db" TIKETI_DATA_DIR=$work/data TIKETI_PORT=$port TIKETI_LOG=warn \
  TIKETI_REDIS_KEY_PREFIX=$prefix TIKETI_ADMIN_EMAIL=bench@tiketi.local TIKETI_ADMIN_PASSWORD=dev-only-bench-password \
  TIKETI_QUEUE_JOIN_IP_LIMIT_PER_MINUTE=1000000000 TIKETI_QUEUE_PRESENCE_TIMEOUT_SECS=600
./target/release/tiketi up >>.tiketi/logs/bench-queue.log 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db" >/dev/null
  redis-cli -u "$TIKETI_REDIS_URL" --scan --pattern "$prefix*" | xargs -r -n 500 redis-cli -u "$TIKETI_REDIS_URL" DEL >/dev/null; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 1 150); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.2; done
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
admin=$(curl -sf "$base/api/auth/login" -H 'content-type: application/json' \
  -d '{"email":"bench@tiketi.local","password":"dev-only-bench-password"}' | json 'd["access_token"]')
post() { curl -sf "$base$1" -H "authorization: Bearer $admin" -H 'content-type: application/json' -d "$2"; }
now=$(date -u +%s); iso() { date -u -d "@$((now + $1))" +%Y-%m-%dT%H:%M:%SZ; }
venue=$(post /api/admin/venues '{"name":"Bench Arena","sections":[{"name":"A","rows":10,"seats_per_row":10,"price":1000}]}' | json 'd["id"]')
event=$(post /api/admin/events "{\"title\":\"Bench\",\"artist\":\"Bench\",\"venue_id\":\"$venue\",\"starts_at\":\"$(iso 86400)\",
  \"sale_opens_at\":\"$(iso -60)\",\"sale_closes_at\":\"$(iso 3600)\",\"waiting_room\":{\"enabled\":true,\"max_active\":100,\"admit_per_minute\":100}}" | json 'd["id"]')
./target/release/mint-tokens "$TIKETI_DATA_DIR" 50000 >"$work/tokens.txt"
used() { redis-cli -u "$TIKETI_REDIS_URL" info memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r'; }
before=$(used)

echo "== joins, 50,000 distinct buyers then rejoins, $CONNS connections, ${SECS}s"
TOKENS_FILE=$work/tokens.txt METHOD=POST URL_PATH=/api/events/$event/queue \
  wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/as_buyers.lua "$base" | grep RESULT
key="$prefix{ev:$event}:q"
waiters=$(redis-cli -u "$TIKETI_REDIS_URL" zcard "$key")
after=$(used)
echo "RESULT waiters=$waiters redis_bytes_per_waiter=$(( (after - before) / (waiters > 0 ? waiters : 1) ))"
echo "== status polls with $waiters waiters, $CONNS connections, ${SECS}s"
TOKENS_FILE=$work/tokens.txt METHOD=GET URL_PATH=/api/events/$event/queue \
  wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/as_buyers.lua "$base" | grep RESULT
