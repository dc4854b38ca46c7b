# The faults of `sale.sh --chaos`, one after another while the buyers run (source it after
# topology.sh; `chaos_run` runs in the background). Each fault is followed by the time until the
# service is whole again — every process answers /readyz and an event page loads through nginx —
# and the buyers' errors meanwhile are in goose's report (errors over time) and the outcomes.
#
#   kill -9 of ticket-1, realtime-1, payment-1 and the worker (each restarted at once, as a
#   Deployment's controller would); a Redis crash (SIGKILL, restarted empty — the waiting room
#   comes back from its checkpoint and the buyers' receipts: the queue's order before and after
#   is compared); a PostgreSQL restart (the local cluster, fast mode); Toss faults (2 s latency,
#   then 5xx on confirms, then approvals whose answer is lost); a rolling restart (SIGTERM, one
#   process at a time, as a deploy does).

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# Milliseconds from $1 (ms) until everything is whole again (at most two minutes).
chaos_whole() {
  local t0=$1 deadline=$(( $(date +%s) + 120 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    local ok=1
    for name in "${TOPOLOGY_NAMES[@]}"; do
      curl -sf -m 1 "http://127.0.0.1:${TOPOLOGY_PORTS[$name]}/readyz" >/dev/null || { ok=0; break; }
    done
    [ "$ok" = 1 ] && curl -sf -m 2 "$base/api/events/$CHAOS_EVENT" >/dev/null && { echo $(( $(now_ms) - t0 )); return; }
    sleep 0.1
  done
  echo "never (over 120000)"
}

chaos_report() { # chaos_report <what> <injected at, ms> <ms until whole>
  echo "RESULT chaos: $1: whole again after $3 ms (at=$(( $2 / 1000 )))" | tee -a "$CHAOS_OUT"
}

chaos_kill() { # chaos_kill <name>: SIGKILL, then started again at once
  local pid t0
  pid=$(topology_pid "$1") t0=$(now_ms)
  kill -9 "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  topology_run "$1"
  chaos_report "kill -9 $1" "$t0" "$(chaos_whole "$t0")"
}

queue_order() { # queue_order <event>: the waiting room's queue, in order
  redis-cli -p "$REDIS_PORT" ZRANGE "${TIKETI_REDIS_KEY_PREFIX}{ev:$1}:q" 0 -1
}

chaos_redis() {
  local event pid t0
  for event in $CHAOS_EVENTS; do
    queue_order "$event" >"$work/queue-before.$event"
    redis-cli -p "$REDIS_PORT" ZRANGE "${TIKETI_REDIS_KEY_PREFIX}{ev:$event}:active" 0 -1 >"$work/active-before.$event"
  done
  pid=$(topology_pid redis) t0=$(now_ms)
  kill -9 "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  redis_start
  chaos_report "Redis crashed and restarted empty" "$t0" "$(chaos_whole "$t0")"
  # Waiters show their receipts within a poll or two (the sale's buyers) or at once (the
  # realtime role, for its sockets); the grace holds admission meanwhile. Looked at before the
  # grace ends (it began before Redis was whole again), so nobody has been admitted since.
  sleep $(( ${TIKETI_QUEUE_RESTORE_GRACE_SECS:-10} * 6 / 10 ))
  for event in $CHAOS_EVENTS; do
    queue_order "$event" >"$work/queue-after.$event"
    python3 - "$work/queue-before.$event" "$work/queue-after.$event" "$work/active-before.$event" "$event" <<'PY' | tee -a "$CHAOS_OUT"
import sys
before, after, admitted = ([l.strip() for l in open(f) if l.strip()] for f in sys.argv[1:4])
where = {u: i for i, u in enumerate(after)}
kept = [u for u in before if u in where]
in_order = all(where[a] < where[b] for a, b in zip(kept, kept[1:]))
# Ahead of the last waiter who came back may stand only people who were there before the crash:
# waiters, or buyers admitted in its last moments who had not heard yet (their receipts put them
# back at the head). Anyone else would have joined after it.
last = max((where[u] for u in kept), default=-1)
there = set(before) | set(admitted)
newer = [u for u in after[: last + 1] if u not in there]
back_admitted = sum(1 for u in after[: last + 1] if u in set(admitted))
print(f"RESULT chaos: Redis restart, room {sys.argv[4]}: {len(before)} waiting before, {len(kept)} back in the queue "
      f"{'in the same order' if in_order else 'OUT OF ORDER'}; {len(newer)} who joined after the crash ahead of them "
      f"(must be 0); {back_admitted} of {len(admitted)} admitted before the crash back at the head by their receipts "
      f"(only those not yet told should be); {len(before) - len(kept)} not back (admitted since, left, or gave up)")
PY
  done
}

chaos_postgres() {
  local t0
  t0=$(now_ms)
  pg_ctlcluster "$(pg_lsclusters -h | awk 'NR == 1 {print $1}')" main restart -m fast
  chaos_report "PostgreSQL restarted" "$t0" "$(chaos_whole "$t0")"
}

chaos_toss() { # chaos_toss <label> <faults json> <seconds>
  local at
  at=$(date +%s)
  curl -sf -X PUT "$SANDBOX_URL/sandbox/faults" -H 'content-type: application/json' -d "$2" >/dev/null
  sleep "$3"
  curl -sf -X DELETE "$SANDBOX_URL/sandbox/faults" >/dev/null
  echo "RESULT chaos: Toss $1 for $3 s: the buyers' outcomes and the checker tell what it cost (at=$at)" | tee -a "$CHAOS_OUT"
}

chaos_rolling() { # SIGTERM one process at a time, each back before the next
  local t0
  t0=$(now_ms)
  for name in ticket-1 ticket-2 realtime-1 realtime-2 payment-1 payment-2; do
    local pid
    pid=$(topology_pid "$name")
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    topology_run "$name"
  done
  chaos_report "rolling restart (ticket ×2, realtime ×2, payment ×2)" "$t0" "$(chaos_whole "$t0")"
}

chaos_run() { # chaos_run "<event ids>" <report file>: the timeline, one fault every CHAOS_EVERY s
  # A fault whose step fails (a command refused) must not end the timeline: each step's trace
  # goes to the run's chaos.log instead.
  set +e -x
  CHAOS_EVENTS=$1 CHAOS_OUT=$2
  CHAOS_EVENT=${1%% *}
  local every=${CHAOS_EVERY:-20}
  sleep "$every"; chaos_kill ticket-1
  sleep "$every"; chaos_kill realtime-1
  sleep "$every"; chaos_kill payment-1
  sleep "$every"; chaos_kill worker
  sleep "$every"; chaos_redis
  sleep "$every"; chaos_postgres
  sleep "$every"; chaos_toss "2 s latency" '{"latency_ms": 2000}' 10
  chaos_toss "500 on the next 20 confirms" '{"server_error": 20}' 10
  chaos_toss "approval answers lost (next 10)" '{"drop_after_approve": 10}' 10
  sleep "$every"; chaos_rolling
}
