#!/usr/bin/env bash
# Hold levers, measured as ratios within one run against a release `tiketi up`: the server started
# again with the lever off and on each round, alternating so drift on the machine hits both alike.
# Each round: holds on distinct seats (one buyer per request, a fresh 50,000-seat event) and, with
# CONTENDED=1, holds contended for 100 seats (mostly correct 409s).
#   LEVER (default TIKETI_TICKET_HOLD_BATCH, OFF=1 ON=32): concurrent holds share transactions
#   LEVER=TIKETI_TICKET_HOLD_ASYNC_COMMIT OFF=false ON=true: a hold's transaction commits without
#   waiting for its WAL flush (docs/benchmarks.md says why a lost hold is safe)
#   LEVER=TIKETI_BIN OFF=<a build> ON=<another>: two builds against each other
# ROLES="auth ticket" serves only those roles in the rounds: without the worker's outbox relay,
# whose publishing into the AWS emulator (moto) takes most of a core on this machine during holds.
# Usage: loadtests/holds.sh [seconds-per-round] [rounds]     Results: lines starting with RESULT.
set -euo pipefail
SECS=${1:-10}
ROUNDS=${2:-3}
CONNS=${CONNS:-32}
LEVER=${LEVER:-TIKETI_TICKET_HOLD_BATCH}
OFF=${OFF:-1}
ON=${ON:-32}
CONTENDED=${CONTENDED:-0}
source "$(dirname "$0")/lib.sh"
bench_setup "${BENCH_PORT:-18087}"
export TIKETI_DATABASE_MAX_CONNECTIONS=${DB_CONNS:-32}
bench_start
admin=$(admin_token)
mint_tokens 50000 >"$work/tokens.txt"
bench_stop

holds() { # holds <label> <event> <tokens and seats file>
  TOKENS_FILE=$3 METHOD=POST URL_PATH=/api/events/$2/holds \
    wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/as_buyers.lua "$base" | grep RESULT | sed "s/^RESULT /RESULT $1 /"
}

round() { # round <label> <lever value>
  export "$LEVER=$2"
  if [ -n "${ROLES:-}" ]; then
    # shellcheck disable=SC2046 # one --role per word
    bench_start serve $(printf -- '--role %s ' $ROLES)
  else
    bench_start
  fi
  local ev; ev=$(event "$STADIUM" 4)
  seat_buyers "$ev" "$work/holds.txt"
  echo "== $1 ($LEVER=$2): holds on distinct seats, $CONNS connections, ${SECS}s"
  holds "$1" "$ev" "$work/holds.txt"
  if [ "$CONTENDED" = 1 ]; then
    local few; few=$(event '[{"name":"Floor","rows":5,"seats_per_row":20,"price":110000}]' 4)
    curl -sf "$base/api/events/$few/seats" | json '"\n".join(s["id"] for s in d["seats"])' >"$work/few.txt"
    python3 -c "import random, sys
random.seed(7); seats = open('$work/few.txt').read().split()
for t in open('$work/tokens.txt').read().split(): print(t, random.choice(seats))" >"$work/contended.txt"
    echo "== $1 ($LEVER=$2): holds contended for 100 seats, $CONNS connections, ${SECS}s"
    holds "$1-contended" "$few" "$work/contended.txt"
    echo "RESULT $1-contended seats held: $(curl -sf "$base/api/events/$few/seats" |
      json 'sum(1 for s in d["seats"] if s["status"] == "held")') of 100"
  fi
  bench_stop
}
# The first server on a fresh database holds slower (its tables have no statistics yet): a short
# round with the lever off warms up first, unreported.
SECS=5 CONTENDED=0 round warm-up "$OFF" >/dev/null
for i in $(seq 1 "$ROUNDS"); do
  round "off-$i" "$OFF"
  round "on-$i" "$ON"
done
