#!/usr/bin/env bash
# The seat map under a live sale: reads while holds change the map, against a release `tiketi up`
# on this machine (wrk, PostgreSQL, Redis and the server share the two cores). For a 5,000-seat and
# a 50,000-seat event, each on fresh events so every hold takes a free seat:
#   1. reads alone: GET /api/events/{id}/seats (gzip), $READERS connections
#   2. holds alone: distinct seats, one buyer per request, $HOLDERS connections
#   3. both at once (reads of the event being held)
# Targets: reads in 3 ≥ 0.5 of reads in 1; holds in 3 keep p95 < 200 ms. The seat-map rebuilds
# during each run are counted from the server's metrics.
# Then, for comparison, 3 again with TIKETI_TICKET_SEAT_MAP_MAX_AGE_MS=0 (rebuild at every change,
# one rebuild in flight at a time). Last, the socket side: $SOCKETS WebSockets on a realtime
# process of their own, subscribed to a 50,000-seat event's seat map while $HOLDERS connections
# hold seats: delivery delay per version (publish → window received) and the realtime process's
# CPU.
# Usage: loadtests/seatmap.sh [seconds-per-run]     Results: lines starting with RESULT.
set -euo pipefail
SECS=${1:-8}
READERS=${READERS:-32}
HOLDERS=${HOLDERS:-4}
SOCKETS=${SOCKETS:-5000}
SOCKET_SECS=${SOCKET_SECS:-20}
source "$(dirname "$0")/lib.sh"
ulimit -n "$(ulimit -Hn)"
bench_setup "${BENCH_PORT:-18086}"
export TIKETI_DATABASE_MAX_CONNECTIONS=${DB_CONNS:-32}
mint_tokens 50000 >"$work/tokens.txt"

counter() { # counter <metric name> <label filter or empty>: the metric's sum over matching series
  curl -sf "$base/metrics" | awk -v m="$1" -v f="$2" 'index($0, m) == 1 && index($0, f) { s += $NF } END { printf "%d", s }'
}

# holds_file <event> <name>: $work/<name>.txt, "<token> <seat>" lines, one per seat of the event
holds_file() { seat_buyers "$1" "$work/$2.txt"; }

reads() { # reads <event> <label>
  wrk -t1 -c"$READERS" -d"${SECS}s" -s loadtests/report.lua -H 'Accept-Encoding: gzip' "$base/api/events/$1/seats" |
    grep RESULT | sed "s/^RESULT /RESULT $2 reads: /"
}

holds() { # holds <event> <holds file> <label>
  WRK_THREADS=1 TOKENS_FILE=$2 METHOD=POST URL_PATH=/api/events/$1/holds \
    wrk -t1 -c"$HOLDERS" -d"${SECS}s" -s loadtests/as_buyers.lua "$base" | grep RESULT | sed "s/^RESULT /RESULT $3 holds: /"
}

mixed() { # mixed <event> <holds file> <label>
  local b0; b0=$(counter tiketi_seat_map_builds_total '')
  reads "$1" "$3" >"$work/mixed-reads.txt" &
  local reader=$!
  holds "$1" "$2" "$3"
  wait "$reader"
  cat "$work/mixed-reads.txt"
  echo "RESULT $3: seat-map rebuilds=$(($(counter tiketi_seat_map_builds_total '') - b0)) in ${SECS}s"
}

for size in 5000 50000; do
  layout=$HALL; [ "$size" = 50000 ] && layout=$STADIUM
  bench_start
  admin=$(admin_token)
  alone=$(event "$layout" 4); both=$(event "$layout" 4)
  holds_file "$alone" alone; holds_file "$both" both
  echo "== $size seats: reads alone ($READERS connections), holds alone ($HOLDERS connections), then both, ${SECS}s each"
  reads "$alone" "$size alone"
  holds "$alone" "$work/alone.txt" "$size alone"
  mixed "$both" "$work/both.txt" "$size mixed"
  bench_stop
done

echo "== 5000 seats, both at once, rebuilding at every change (max age 0)"
TIKETI_TICKET_SEAT_MAP_MAX_AGE_MS=0 bench_start
admin=$(admin_token)
every=$(event "$HALL" 4)
holds_file "$every" every
mixed "$every" "$work/every.txt" "5000 max-age-0 mixed"
bench_stop

echo "== $SOCKETS sockets on the seat map of a 50,000-seat event while $HOLDERS connections hold, ${SOCKET_SECS}s measured"
cargo build --release --quiet -p tiketi-loadtests --bin swarm
bench_start
admin=$(admin_token)
live=$(event "$STADIUM" 4)
holds_file "$live" live
rt_port=$(( ${BENCH_PORT:-18086} + 1 ))
TIKETI_PORT=$rt_port TIKETI_INTERNAL_URL=$base ./target/release/tiketi serve --role realtime >>.tiketi/logs/bench.log 2>&1 &
realtime=$!
trap 'kill "$realtime" 2>/dev/null; bench_cleanup' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$rt_port/healthz" >/dev/null && break; sleep 0.1; done
./target/release/swarm "$base" "ws://127.0.0.1:$rt_port" "$live" "$work/tokens.txt" "$SOCKETS" "$TIKETI_REDIS_URL" \
  "${prefix}seats:$live" "$realtime" "$SOCKET_SECS" >"$work/swarm.txt" 2>&1 &
swarm=$!
# Holds from when the sockets are up (the swarm prints its socket count) until it is done.
for _ in $(seq 1 600); do grep -q "RESULT sockets=" "$work/swarm.txt" && break; sleep 0.1; done
WRK_THREADS=1 TOKENS_FILE=$work/live.txt METHOD=POST URL_PATH=/api/events/$live/holds \
  wrk -t1 -c"$HOLDERS" -d"$((SOCKET_SECS + 8))s" -s loadtests/as_buyers.lua "$base" | grep RESULT | sed "s/^RESULT /RESULT socket run holds: /" &
holder=$!
wait "$swarm" || true
wait "$holder" || true
grep RESULT "$work/swarm.txt" || cat "$work/swarm.txt"
kill "$realtime" 2>/dev/null || true
echo "RESULT machine: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
