#!/usr/bin/env bash
# Ticket service benchmarks over HTTP against a release `tiketi up` on this machine, with wrk
# (2 threads) sharing the two cores:
#   1. holds on distinct seats of a 50,000-seat event, every request a different buyer
#   2. a contended event: 100 seats, thousands of buyers — how many answers are correct 409s
#   3. seat map of a 5,000-seat event: cached (gzip), revalidated (304), and with caching off
# Usage: loadtests/ticket.sh [seconds-per-run]     Results: lines starting with RESULT.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${CONNS:-64}
eval "$(./dev env)"
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null || sudo apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet -p tiketi --bin tiketi
cargo build --release --quiet -p tiketi-loadtests --bin mint-tokens

work=$(mktemp -d /tmp/tiketi-bench.XXXX)
port=${BENCH_PORT:-18081}
base=http://127.0.0.1:$port
db="tiketi_bench_$$"
psql -q "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
export TIKETI_DATABASE_URL="${DATABASE_URL%/*}/$db" TIKETI_DATA_DIR=$work/data TIKETI_PORT=$port TIKETI_LOG=warn \
  TIKETI_REDIS_KEY_PREFIX="bench:$$:" TIKETI_ADMIN_EMAIL=bench@tiketi.local TIKETI_ADMIN_PASSWORD=dev-only-bench-password \
  TIKETI_DATABASE_MAX_CONNECTIONS=${DB_CONNS:-32}
server=
start() { ./target/release/tiketi up >>.tiketi/logs/bench-ticket.log 2>&1 & server=$!
  for _ in $(seq 1 150); do curl -sf "$base/healthz" >/dev/null && return; sleep 0.2; done; echo "server did not start"; exit 1; }
stop() { [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true; server=; }
cleanup() { [ -n "${KEEP:-}" ] && { echo "kept $work $db"; return; }; stop; psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db" >/dev/null; rm -rf "$work"; }
trap cleanup EXIT
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
start

admin=$(curl -sf "$base/api/auth/login" -H 'content-type: application/json' \
  -d '{"email":"bench@tiketi.local","password":"dev-only-bench-password"}' | json 'd["access_token"]')
post() { curl -sf "$base$1" -H "authorization: Bearer $admin" -H 'content-type: application/json' -d "$2"; }
now=$(date -u +%s)
iso() { date -u -d "@$((now + $1))" +%Y-%m-%dT%H:%M:%SZ; }
event() { # event <venue sections json> <max per order> → event id
  local venue; venue=$(post /api/admin/venues "{\"name\":\"Bench $RANDOM\",\"sections\":$1}" | json 'd["id"]')
  post /api/admin/events "{\"title\":\"Bench\",\"artist\":\"Bench\",\"venue_id\":\"$venue\",\"max_seats_per_order\":$2,
    \"starts_at\":\"$(iso 86400)\",\"sale_opens_at\":\"$(iso -60)\",\"sale_closes_at\":\"$(iso 3600)\"}" | json 'd["id"]'
}
big=$(event '[{"name":"Floor","rows":50,"seats_per_row":100,"price":198000},{"name":"Stands","rows":225,"seats_per_row":200,"price":132000}]' 4)
few=$(event '[{"name":"Floor","rows":5,"seats_per_row":20,"price":110000}]' 4)
hall=$(event '[{"name":"VIP","rows":10,"seats_per_row":50,"price":165000},{"name":"R","rows":30,"seats_per_row":50,"price":143000},{"name":"S","rows":40,"seats_per_row":50,"price":121000},{"name":"A","rows":20,"seats_per_row":50,"price":99000}]' 4)

./target/release/mint-tokens "$TIKETI_DATA_DIR" 50000 >"$work/tokens.txt"
curl -sf "$base/api/events/$big/seats" | json '"\n".join(s["id"] for s in d["seats"])' >"$work/big-seats.txt"
paste -d' ' "$work/tokens.txt" "$work/big-seats.txt" >"$work/holds-distinct.txt"
curl -sf "$base/api/events/$few/seats" | json '"\n".join(s["id"] for s in d["seats"])' >"$work/few-seats.txt"
python3 - "$work" <<'PY'
import random, sys
work = sys.argv[1]
tokens = open(f"{work}/tokens.txt").read().split()
seats = open(f"{work}/few-seats.txt").read().split()
random.seed(7)
with open(f"{work}/holds-contended.txt", "w") as f:
    for t in tokens: f.write(f"{t} {random.choice(seats)}\n")
PY

echo "== holds, distinct seats (50,000-seat event, one buyer per request), $CONNS connections, ${SECS}s"
EVENT_ID=$big HOLDS_FILE=$work/holds-distinct.txt wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/holds.lua "$base" | grep RESULT
echo "== holds, contended (100 seats, one buyer per request), $CONNS connections, ${SECS}s"
EVENT_ID=$few HOLDS_FILE=$work/holds-contended.txt wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/holds.lua "$base" | grep RESULT
held=$(curl -sf "$base/api/events/$few/seats" | json 'sum(1 for s in d["seats"] if s["status"] == "held")')
echo "RESULT contended_seats_held=$held of 100"

cache_counts() { curl -sf "$base/metrics" | python3 -c '
import sys
hit = miss = 0
for line in sys.stdin:
    if line.startswith("tiketi_cache_requests_total{") and "cache=\"seat_map\"" in line:
        n = float(line.rsplit(" ", 1)[1])
        if "result=\"hit\"" in line: hit += n
        else: miss += n
print(int(hit), int(miss))'; }
map=/api/events/$hall/seats
raw=$(curl -sf "$base$map" | wc -c); gz=$(curl -sf -H 'accept-encoding: gzip' "$base$map" | wc -c)
etag=$(curl -sfI "$base$map" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
echo "RESULT seat_map_bytes raw=$raw gzip=$gz seats=5000"
read -r h0 m0 < <(cache_counts)
echo "== seat map (5,000 seats), gzip, cached, $CONNS connections, ${SECS}s"
wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/report.lua -H 'Accept-Encoding: gzip' "$base$map" | grep RESULT
read -r h1 m1 < <(cache_counts)
echo "RESULT seat_map_cache hits=$((h1 - h0)) misses=$((m1 - m0))"
echo "== seat map (5,000 seats), If-None-Match (304), $CONNS connections, ${SECS}s"
wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/report.lua -H "If-None-Match: $etag" "$base$map" | grep RESULT

stop
TIKETI_TICKET_SEAT_MAP_CACHE=false start
echo "== seat map (5,000 seats), gzip, caching off, $CONNS connections, ${SECS}s"
wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/report.lua -H 'Accept-Encoding: gzip' "$base$map" | grep RESULT
