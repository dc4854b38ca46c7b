#!/usr/bin/env bash
# Ticket service benchmarks over HTTP against a release `tiketi up` on this machine, with wrk
# (2 threads) sharing the two cores:
#   1. holds on distinct seats of a 50,000-seat event, every request a different buyer
#   2. a contended event: 100 seats, thousands of buyers — how many answers are correct 409s
#   3. seat map of a 5,000-seat event: cached (gzip), revalidated (304), and with caching off
# Usage: loadtests/ticket.sh [seconds-per-run]     Results: lines starting with RESULT.
set -euo pipefail
SECS=${1:-10}
CONNS=${CONNS:-64}
source "$(dirname "$0")/lib.sh"
bench_setup "${BENCH_PORT:-18081}"
export TIKETI_DATABASE_MAX_CONNECTIONS=${DB_CONNS:-32}
bench_start
admin=$(admin_token)
big=$(event '[{"name":"Floor","rows":50,"seats_per_row":100,"price":198000},{"name":"Stands","rows":225,"seats_per_row":200,"price":132000}]' 4)
few=$(event '[{"name":"Floor","rows":5,"seats_per_row":20,"price":110000}]' 4)
hall=$(event '[{"name":"VIP","rows":10,"seats_per_row":50,"price":165000},{"name":"R","rows":30,"seats_per_row":50,"price":143000},{"name":"S","rows":40,"seats_per_row":50,"price":121000},{"name":"A","rows":20,"seats_per_row":50,"price":99000}]' 4)

mint_tokens 50000 >"$work/tokens.txt"
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
TOKENS_FILE=$work/holds-distinct.txt METHOD=POST URL_PATH=/api/events/$big/holds wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/as_buyers.lua "$base" | grep RESULT
echo "== holds, contended (100 seats, one buyer per request), $CONNS connections, ${SECS}s"
TOKENS_FILE=$work/holds-contended.txt METHOD=POST URL_PATH=/api/events/$few/holds wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/as_buyers.lua "$base" | grep RESULT
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

bench_stop
TIKETI_TICKET_SEAT_MAP_CACHE=false bench_start
echo "== seat map (5,000 seats), gzip, caching off, $CONNS connections, ${SECS}s"
wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/report.lua -H 'Accept-Encoding: gzip' "$base$map" | grep RESULT
