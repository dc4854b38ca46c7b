#!/usr/bin/env bash
# The event backbone on this machine's two cores — a release server, PostgreSQL, Redis, moto (the
# AWS emulator, one Python process) and wrk (2 threads) all share them:
#   1. holds on distinct seats of a 50,000-seat event with the worker running (outbox relay,
#      consumers scheduling each hold's expiry), then the same on a second event without it
#   2. the relay: the rows run 1 left unpublished, relayed by a worker that starts — events/s to moto
#   3. the emulator alone: SNS PublishBatch of the relay's shape and size, no database
#   4. webhook receipt: POST /webhooks/toss, every request a new delivery (DynamoDB put + SQS send)
# Usage: loadtests/backbone.sh [seconds-per-run]     Results: lines starting with RESULT.
set -euo pipefail
SECS=${1:-10}
CONNS=${CONNS:-32}
source "$(dirname "$0")/lib.sh"
bench_setup "${BENCH_PORT:-18085}"
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

echo "== holds, distinct seats, worker running (relay + consumers), $CONNS connections, ${SECS}s"
TOKENS_FILE=$work/with.txt METHOD=POST URL_PATH=/api/events/$with/holds wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/as_buyers.lua "$base" | grep RESULT
for _ in $(seq 1 300); do [ "$(unpublished)" = 0 ] && break; sleep 0.2; done
echo "RESULT unpublished_after_run=$(unpublished)"
bench_stop

TIKETI_ROLES=auth,ticket,realtime,payment bench_start serve
echo "== holds, distinct seats, no worker, $CONNS connections, ${SECS}s"
TOKENS_FILE=$work/without.txt METHOD=POST URL_PATH=/api/events/$without/holds wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/as_buyers.lua "$base" | grep RESULT
bench_stop

backlog=$(unpublished)
bench_start
start=$(date +%s.%N); at_start=$(unpublished)
for _ in $(seq 1 3000); do [ "$(unpublished)" = 0 ] && break; sleep 0.1; done
end=$(date +%s.%N)
python3 -c "import sys; n, s, e = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]); print(f'RESULT relay backlog={sys.argv[4]} relayed={n} secs={e - s:.1f} events_per_s={n / (e - s):.0f}')" \
  "$at_start" "$start" "$end" "$backlog"

echo "== the emulator alone: PublishBatch, 10 per call, 10 calls at once"
./target/release/publish "$backlog" | grep RESULT

echo "== webhook receipt (inbox put + enqueue on moto), every request a new delivery, $CONNS connections, ${SECS}s"
wrk -t2 -c"$CONNS" -d"${SECS}s" -s loadtests/webhooks.lua "$base" | grep RESULT
