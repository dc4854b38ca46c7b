#!/usr/bin/env bash
# Waiting room over HTTP against a release `tiketi up` (wrk, 2 threads, on the same two cores):
#   1. joins, every request a different buyer (50,000 buyers, then rejoins, which keep the place)
#   2. status polls with 50,000 waiters in one event
#   3. Redis memory per waiter
# Usage: loadtests/queue.sh [seconds-per-run]     Results: lines starting with RESULT.
set -euo pipefail
SECS=${1:-10}
CONNS=${CONNS:-64}
source "$(dirname "$0")/lib.sh"
bench_setup "${BENCH_PORT:-18082}"
export TIKETI_QUEUE_JOIN_IP_LIMIT_PER_MINUTE=1000000000 TIKETI_QUEUE_JOIN_ACCOUNT_LIMIT_PER_MINUTE=1000000000 TIKETI_QUEUE_PRESENCE_TIMEOUT_SECS=600
bench_start
admin=$(admin_token)
venue=$(post /api/admin/venues '{"name":"Bench Arena","sections":[{"name":"A","rows":10,"seats_per_row":10,"price":1000}]}' | json 'd["id"]')
event=$(post /api/admin/events "{\"title\":\"Bench\",\"artist\":\"Bench\",\"venue_id\":\"$venue\",\"starts_at\":\"$(iso 86400)\",
  \"sale_opens_at\":\"$(iso -60)\",\"sale_closes_at\":\"$(iso 3600)\",\"waiting_room\":{\"enabled\":true,\"max_active\":100,\"admit_per_minute\":100}}" | json 'd["id"]')
mint_tokens 50000 >"$work/tokens.txt"
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
