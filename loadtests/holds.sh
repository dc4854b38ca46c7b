#!/usr/bin/env bash
# Hold levers, measured as ratios within one run: distinct-seat holds (one buyer per request, a
# fresh 50,000-seat event per round) against a release `tiketi up`, the server started again with
# and without the lever each round, alternating so drift on the machine hits both alike.
#   lever: TIKETI_TICKET_HOLD_ASYNC_COMMIT=true (the hold's transaction commits without waiting
#   for its WAL flush; see docs/benchmarks.md for why a lost hold is safe)
# Usage: loadtests/holds.sh [seconds-per-round] [rounds]     Results: lines starting with RESULT.
set -euo pipefail
SECS=${1:-10}
ROUNDS=${2:-3}
CONNS=${CONNS:-32}
source "$(dirname "$0")/lib.sh"
bench_setup "${BENCH_PORT:-18087}"
export TIKETI_DATABASE_MAX_CONNECTIONS=${DB_CONNS:-32}
bench_start
admin=$(admin_token)
mint_tokens 50000 >"$work/tokens.txt"
bench_stop

round() { # round <label> <async commit: true|false>
  TIKETI_TICKET_HOLD_ASYNC_COMMIT=$2 bench_start
  local ev; ev=$(event "$STADIUM" 4)
  seat_buyers "$ev" "$work/holds.txt"
  echo "== $1: holds on distinct seats, $CONNS connections, ${SECS}s"
  TOKENS_FILE=$work/holds.txt METHOD=POST URL_PATH=/api/events/$ev/holds \
    wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/as_buyers.lua "$base" | grep RESULT | sed "s/^RESULT /RESULT $1 /"
  bench_stop
}
for i in $(seq 1 "$ROUNDS"); do
  round "sync-$i" false
  round "async-$i" true
done
