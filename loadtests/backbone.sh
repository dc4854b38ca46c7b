#!/usr/bin/env bash
# The event backbone on this machine's two cores — a release server, PostgreSQL, Redis, moto (the
# AWS emulator, one Python process) and wrk (2 threads) all share them:
#   1. holds on distinct seats of a 50,000-seat event with the worker running (outbox relay,
#      consumers scheduling each hold's expiry), then the same on a second event without it
#   2. the relay: the rows both runs left unpublished, relayed by a worker that starts — events/s to
#      moto over a fixed window (RELAY_SECS, default 30)
#   3. the emulator alone: SNS PublishBatch of the relay's shape and size (PUBLISH_EVENTS, default
#      1,000), no database
#   4. webhook receipt: POST /webhooks/toss, every request a new delivery (DynamoDB put + SQS send)
# CPU seconds of the server and of moto are printed after each run: moto shares the two cores.
# Usage: loadtests/backbone.sh [seconds-per-run]     Results: lines starting with RESULT.
set -euo pipefail
SECS=${1:-10}
CONNS=${CONNS:-32}
source "$(dirname "$0")/lib.sh"
bench_setup "${BENCH_PORT:-18085}"
# A fresh emulator of the benchmark's own: moto slows down with the state that tests leave in it.
moto_port=$(( ${BENCH_PORT:-18085} + 50 ))
.tiketi/venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >>.tiketi/logs/bench-moto.log 2>&1 &
moto=$!
trap 'kill "$moto" 2>/dev/null; bench_cleanup' EXIT
export AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port
for _ in $(seq 1 100); do curl -sf "$AWS_ENDPOINT_URL/moto-api/" >/dev/null && break; sleep 0.1; done
export TIKETI_DATABASE_MAX_CONNECTIONS=${DB_CONNS:-32}
cargo build --release --quiet -p tiketi-loadtests --bin publish
bench_start
admin=$(admin_token)
stadium='[{"name":"Floor","rows":50,"seats_per_row":100,"price":198000},{"name":"Stands","rows":225,"seats_per_row":200,"price":132000}]'
with=$(event "$stadium" 4)
without=$(event "$stadium" 4)
mint_tokens 100000 >"$work/tokens.txt"
for e in with without; do
  curl -sf "$base/api/events/${!e}/seats" | json '"\n".join(s["id"] for s in d["seats"])' >"$work/$e-seats.txt"
done
head -n 50000 "$work/tokens.txt" | paste -d' ' - "$work/with-seats.txt" >"$work/with.txt"
tail -n 50000 "$work/tokens.txt" | paste -d' ' - "$work/without-seats.txt" >"$work/without.txt"
unpublished() { psql -tAq "$TIKETI_DATABASE_URL" -c "SELECT count(*) FROM ticket.outbox WHERE published_at IS NULL"; }
# CPU seconds a process has used so far (user + system), to split a run's CPU between processes.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$1/stat"; }
cpu_split() { # cpu_split <label> <server cpu before> <moto cpu before> <seconds>
  python3 -c "import sys; l, s, m, t = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]); print(f'RESULT cpu {l}: server={s:.1f}s moto={m:.1f}s of {2 * t:.0f} core-seconds')" \
    "$1" "$(python3 -c "print($(cpu "$server") - $2)")" "$(python3 -c "print($(cpu "$moto") - $3)")" "$4"
}

echo "== holds, distinct seats, worker running (relay + consumers), $CONNS connections, ${SECS}s"
s0=$(cpu "$server"); m0=$(cpu "$moto")
TOKENS_FILE=$work/with.txt METHOD=POST URL_PATH=/api/events/$with/holds wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/as_buyers.lua "$base" | grep RESULT
cpu_split "holds with the worker" "$s0" "$m0" "$SECS"
bench_stop

TIKETI_ROLES=auth,ticket,realtime,payment bench_start serve
echo "== holds, distinct seats, no worker, $CONNS connections, ${SECS}s"
s0=$(cpu "$server"); m0=$(cpu "$moto")
TOKENS_FILE=$work/without.txt METHOD=POST URL_PATH=/api/events/$without/holds wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/as_buyers.lua "$base" | grep RESULT
cpu_split "holds without the worker" "$s0" "$m0" "$SECS"
bench_stop

# The relay drains what both runs left unpublished; measured over a fixed window, not to the end.
RELAY_SECS=${RELAY_SECS:-30}
backlog=$(unpublished)
bench_start
s0=$(cpu "$server"); m0=$(cpu "$moto")
sleep "$RELAY_SECS"
left=$(unpublished)
echo "RESULT relay backlog=$backlog relayed=$((backlog - left)) secs=$RELAY_SECS events_per_s=$(((backlog - left) / RELAY_SECS))"
cpu_split "relay" "$s0" "$m0" "$RELAY_SECS"
bench_stop

echo "== the emulator alone: PublishBatch, 10 per call, 10 calls at once, into the runs' queues"
m0=$(cpu "$moto")
./target/release/publish "${PUBLISH_EVENTS:-1000}" | grep RESULT
echo "RESULT cpu emulator alone: moto=$(python3 -c "print(round($(cpu "$moto") - $m0, 1))")s"
# moto's cost per message grows with the messages already queued (the stats queue is not
# consumed yet): the same into a topic whose queues start empty, in 200-event steps.
echo "== the emulator alone, into empty queues"
TIKETI_AWS_NAME_PREFIX="bench$$-empty-" ./target/release/tiketi aws bootstrap >/dev/null 2>&1
for step in 1 2 3 4 5; do
  TIKETI_AWS_NAME_PREFIX="bench$$-empty-" ./target/release/publish 200 | grep RESULT | sed "s/^RESULT /RESULT after $(( (step - 1) * 200 )) queued: /"
done

# Without the worker, so the relay's leftovers do not compete for the emulator.
TIKETI_ROLES=auth,ticket,realtime,payment bench_start serve
echo "== webhook receipt (inbox put + enqueue on moto), every request a new delivery, $CONNS connections, ${SECS}s"
s0=$(cpu "$server"); m0=$(cpu "$moto")
wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/webhooks.lua "$base" | grep RESULT
cpu_split "webhook receipt" "$s0" "$m0" "$SECS"
echo "RESULT machine: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
