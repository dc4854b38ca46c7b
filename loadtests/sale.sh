#!/usr/bin/env bash
# The whole on-sale on production's topology (loadtests/topology.sh: every role its own process,
# ticket, realtime and payment two replicas each behind nginx, the worker, a Toss sandbox with webhooks):
# one event with a waiting room opening as the run starts; BUYERS concurrent buyers (goose users,
# loadtests/src/sale.rs) each join, wait, browse, hold (contended seats, retries), check out, pay
# in the sandbox's window and confirm — some abandon, pay by virtual account or ask for a refund —
# while browsers load pages throughout. Meanwhile SOCKETS waiters of a second show (the swarm,
# loadtests/src/swarm.rs) join its waiting room in the first minute and hold a WebSocket each
# through nginx to the realtime replicas until the end, measuring push delay, resumes after a
# restart's close, and ETA accuracy. Then the independent checker (tools/sale-check) reads
# PostgreSQL, Redis, the sandbox and the API and fails the run if any invariant does not hold.
#
# With --chaos, faults are injected one after another while the buyers run (loadtests/chaos.sh:
# kill -9 of each role, a Redis crash, a PostgreSQL restart, Toss faults, a rolling restart), each
# followed by the time until the service is whole again.
#
# Usage: loadtests/sale.sh [--chaos] [buyers] [minutes] [seats] [sockets]
# Results: RESULT lines; in .tiketi/sale/<time>/: every process's log, goose's HTML report and request log, the buyers'
# outcomes, CPU/RSS per process and the waiting room's size every 5 s, the checker's report, and
# sale.png (throughput, p95 latency, queue, CPU and memory over time, faults marked), and with
# --chaos the faults' timings (chaos.txt) and trace (chaos.log).
set -euo pipefail
CHAOS=0
if [ "${1:-}" = --chaos ]; then CHAOS=1; shift; fi
BUYERS=${1:-1000}
MINUTES=${2:-$((CHAOS ? 5 : 3))}
SEATS=${3:-50000}
SOCKETS=${4:-10000}
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/topology.sh"
source "$(dirname "$0")/chaos.sh"
bench_setup "${BENCH_PORT:-18100}"
ulimit -n "$(ulimit -Hn)"
# Every proxied socket takes two of nginx's files, and one process may open only `ulimit -Hn`.
per_process=$(( $(ulimit -n) - 1000 ))
export TOPOLOGY_NGINX_WORKERS=$(( (2 * SOCKETS + per_process - 1) / per_process + 1 ))
# A realtime replica refuses sockets (503, retry) before it runs out of files, so it still
# answers its readiness probe and internal calls when the other one's sockets all come to it.
export TIKETI_REALTIME_MAX_CONNECTIONS=$per_process
if [ $(( SOCKETS / 2 )) -gt "$per_process" ]; then
  echo "at most $(( 2 * per_process )) sockets: each of the two realtime replicas may open $per_process files"; exit 1
fi
out=.tiketi/sale/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
# Every goose user comes from 127.0.0.1: the address budget would refuse them; accounts still count.
export TIKETI_QUEUE_JOIN_IP_LIMIT_PER_MINUTE=1000000000
cargo build --release --quiet -p tiketi-loadtests --bin sale --bin mint-tokens --bin swarm
cargo build --release --quiet -p tiketi-sale-check
# The processes' logs go to the report before the work folder does.
trap 'cp "$work"/*.log "$out/" 2>/dev/null || true; topology_stop; bench_cleanup || true' EXIT
topology_start "${BENCH_PORT:-18100}"
admin=$(admin_token)

# SEATS seats in sections of 50 rows x 100; max_active = BUYERS (every goose user can be in at
# once), admitting up to 1,200 a minute.
sections=$(python3 -c "import json; n = max(1, $SEATS // 5000); print(json.dumps([{'name': f'S{i + 1}', 'rows': 50, 'seats_per_row': 100, 'price': 99000 + 11000 * (i % 3)} for i in range(n)]))")
venue=$(post /api/admin/venues "{\"name\":\"Sale Arena\",\"sections\":$sections}" | json 'd["id"]')
event=$(post /api/admin/events "{\"title\":\"The Sale\",\"artist\":\"Tiketi\",\"venue_id\":\"$venue\",\"max_seats_per_order\":4,
  \"starts_at\":\"$(iso 86400)\",\"sale_opens_at\":\"$(iso -1)\",\"sale_closes_at\":\"$(iso 7200)\",
  \"waiting_room\":{\"enabled\":true,\"max_active\":$BUYERS,\"admit_per_minute\":1200}}" | json 'd["id"]')
# The second show's waiting room, for the swarm: admitting half of them within the run (some are
# still waiting when Redis crashes).
show=$(post /api/admin/events "{\"title\":\"The Sale, second show\",\"artist\":\"Tiketi\",\"venue_id\":\"$venue\",
  \"starts_at\":\"$(iso 90000)\",\"sale_opens_at\":\"$(iso -1)\",\"sale_closes_at\":\"$(iso 7200)\",
  \"waiting_room\":{\"enabled\":true,\"max_active\":1000000,\"admit_per_minute\":$(( SOCKETS / MINUTES / 2 > 600 ? SOCKETS / MINUTES / 2 : 600 ))}}" | json 'd["id"]')
# A new buyer (token) for every iteration: a buyer cycles in ~5 s when the room is quick; then
# one for every socket.
buyer_tokens=$((BUYERS * MINUTES * 20 + 1000))
mint_tokens $((buyer_tokens + SOCKETS)) >"$work/all-tokens.txt"
head -n "$buyer_tokens" "$work/all-tokens.txt" >"$work/tokens.txt"
tail -n "+$((buyer_tokens + 1))" "$work/all-tokens.txt" >"$work/socket-tokens.txt"
echo "== sale: $BUYERS buyers for ${MINUTES} min, $SEATS seats, event $event; $SOCKETS sockets waiting for show $show (report: $out)"

# CPU (ticks) and RSS (KiB) of every process every 5 s, and the waiting room (rows named `queue`:
# waiting, admitted).
(
  echo "t,name,cpu_ticks,rss_kib"
  while sleep 5; do
    for name in "${TOPOLOGY_NAMES[@]}" redis moto; do
      pid=$(topology_pid "$name")
      # A process may end between the two reads (a chaos step): its row is left out.
      ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) || continue
      rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null) || continue
      if [ -n "$ticks" ] && [ -n "$rss" ]; then echo "$(date +%s),$name,$ticks,$rss"; fi
    done
    # Groups of processes, summed: nginx's workers, PostgreSQL's backends, the load generators
    # (goose and the swarm: they share the machine); and the machine's busy time, all cores.
    for group in "nginx:$(pgrep -d, -P "$(cat "$work/nginx.pid" 2>/dev/null || echo 1)" nginx)" \
      "postgres:$(pgrep -d, -x postgres)" "load:$(pgrep -d, -f 'target/release/(sale|swarm) ')"; do
      pids=${group#*:}
      [ -n "$pids" ] || continue
      echo "$(date +%s),${group%%:*},$(for p in ${pids//,/ }; do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done | awk '{s += $1} END {print s + 0}'),$(for p in ${pids//,/ }; do awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null; done | awk '{s += $1} END {print s + 0}')"
    done
    echo "$(date +%s),machine,$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat),0"
    for name in ticket-1 ticket-2; do
      # The ticket replicas' cache counters (hits, misses), summed over caches; a replica killed
      # and started again begins at zero, which plot_sale.py and the report below allow for.
      curl -sf -m 1 "http://127.0.0.1:${TOPOLOGY_PORTS[$name]}/metrics" | awk -v t="$(date +%s)" -v n="cache-$name" \
        '/^tiketi_cache_requests_total/ { if ($0 ~ /result="hit"/) h += $NF; else m += $NF } END { print t "," n "," h + 0 "," m + 0 }'
    done
    for row in "queue $event" "show $show"; do
      set -- $row
      key="${TIKETI_REDIS_KEY_PREFIX}{ev:$2}"
      echo "$(date +%s),$1,$(redis-cli -p "$REDIS_PORT" ZCARD "$key:q" 2>/dev/null || echo 0),$(redis-cli -p "$REDIS_PORT" ZCARD "$key:active" 2>/dev/null || echo 0)"
    done
  done
) >"$out/processes.csv" &
sampler=$!
chaos=
if [ "$CHAOS" = 1 ]; then
  (chaos_run "$event $show" "$out/chaos.txt" >"$out/chaos.log" 2>&1) &
  chaos=$!
fi

# The swarm, one process per `per_process` sockets (each may open only so many), through nginx.
swarms=()
if [ "$SOCKETS" -gt 0 ]; then
  split -n "l/$(( (SOCKETS + per_process - 1) / per_process ))" -d "$work/socket-tokens.txt" "$work/socket-tokens."
  for file in "$work"/socket-tokens.[0-9]*; do
    ./target/release/swarm "$base" "ws://${base#http://}" "$show" "$file" "$(wc -l <"$file")" "$TIKETI_REDIS_URL" \
      "${TIKETI_REDIS_KEY_PREFIX}queue:$show" "$(topology_pid realtime-1)" $(( MINUTES * 60 - 45 )) >"$out/swarm.${file##*.}.txt" 2>&1 &
    swarms+=($!)
  done
fi

SALE_EVENT=$event SALE_TOKENS=$work/tokens.txt SALE_SANDBOX=$SANDBOX_URL SALE_OUTCOMES=$out/outcomes.txt \
  ./target/release/sale --host "$base" --users "$BUYERS" --hatch-rate "$(( (BUYERS + 29) / 30 ))" \
  --run-time "${MINUTES}m" --no-reset-metrics --report-file "$out/report.html" \
  --request-log "$out/requests.json" --request-format json --quiet 2>"$out/goose.log" >"$out/goose.txt" || true
if [ -n "$chaos" ]; then wait "$chaos" || true; cat "$out/chaos.txt"; fi
[ ${#swarms[@]} -gt 0 ] && { wait "${swarms[@]}" || true; }
kill "$sampler" 2>/dev/null || true
for file in "$out"/swarm.*.txt; do [ -f "$file" ] && { echo "-- sockets (${file##*/})"; grep RESULT "$file" || tail -5 "$file"; }; done
grep -E "^ *(Name|[0-9] |browse|seat map|join|queue status|hold|checkout|payment window|confirm|refund|Aggregated)" "$out/goose.txt" | head -60 || true

python3 - "$out/outcomes.txt" "$out/processes.csv" <<'PY'
import collections, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
count = collections.Counter(r[0] for r in rows)
wanted = len(rows) - count["sold_out"]
ended_paid = count["paid"] + count["virtual"] + count["refunded"]
# Buyers who gave up waiting never reached the seats: counted against success, as they should be.
waits = sorted(float(r[1]) for r in rows)
pct = lambda p: waits[min(len(waits) - 1, int(p * len(waits)))] if waits else float("nan")
print(f"RESULT buyers={len(rows)} " + " ".join(f"{k}={v}" for k, v in sorted(count.items())))
print(f"RESULT booking success (paid or paying, of buyers who wanted seats while seats remained, "
      f"abandoners excluded): {ended_paid / max(1, wanted - count['abandoned']):.3f}")
print(f"RESULT waiting-room wait: p50={pct(.5):.1f}s p95={pct(.95):.1f}s max={pct(1):.1f}s")
# ETA accuracy: buyers who were promised a wait and then admitted (they went on past waiting).
promised = [(float(r[1]), float(r[2])) for r in rows if len(r) > 2 and r[2] != "-" and r[0] not in ("gave_up", "failed")]
if promised:
    error = sorted(w - p for w, p in promised)
    q = lambda p: error[min(len(error) - 1, int(p * len(error)))]
    print(f"RESULT eta (buyers): {len(error)} promised then admitted; admitted − promised "
          f"p10={q(.1):+.1f}s p50={q(.5):+.1f}s p90={q(.9):+.1f}s")
# Cache hit rate from the ticket replicas' own counters: increases summed, a restart's reset allowed for.
last, totals = {}, [0.0, 0.0]
for line in open(sys.argv[2]):
    t, name, *values = line.strip().split(",")
    if not name.startswith("cache-"):
        continue
    values = [float(v) for v in values]
    before = last.get(name, [0.0, 0.0])
    for i in (0, 1):
        totals[i] += values[i] - before[i] if values[i] >= before[i] else values[i]
    last[name] = values
if sum(totals):
    print(f"RESULT cache hit rate (ticket replicas' tiketi_cache_requests_total): {totals[0] / sum(totals):.3f} "
          f"of {sum(totals):.0f} look-ups")
PY

# The backbone catches up before the end state is judged: every outbox row published (the relay
# runs at the AWS emulator's pace here: ~16 events/s once its queues hold a backlog — benchmarks.md
# "Event backbone"), then a moment for the consumers.
unpublished() {
  psql -tA "$TIKETI_DATABASE_URL" -c "SELECT (SELECT count(*) FROM ticket.outbox WHERE published_at IS NULL)
    + (SELECT count(*) FROM payment.outbox WHERE published_at IS NULL)"
}
drain_start=$(date +%s) backlog=$(unpublished)
while [ "$(unpublished)" -gt 0 ] && [ $(( $(date +%s) - drain_start )) -lt $(( ${DRAIN_MINUTES:-30} * 60 )) ]; do sleep 5; done
echo "RESULT backbone: $backlog events unpublished when the load stopped, $(unpublished) left after $(( $(date +%s) - drain_start ))s"
# Then until the stats role (which receives every event) has applied them all.
behind() {
  psql -tA "$TIKETI_DATABASE_URL" -c "SELECT (SELECT count(*) FROM ticket.outbox) + (SELECT count(*) FROM payment.outbox)
    - (SELECT count(*) FROM stats.applied_events)"
}
while [ "$(behind)" -gt 0 ] && [ $(( $(date +%s) - drain_start )) -lt $(( ${DRAIN_MINUTES:-30} * 60 )) ]; do sleep 5; done
echo "RESULT backbone: stats $(behind) events behind after $(( $(date +%s) - drain_start ))s"
sleep 5
# (Database, Redis, the sandbox and the admin come from the environment, as the servers' do.)
checked=0
./target/release/sale-check --event "$event" --api-url "$base" | tee "$out/check.txt" || checked=$?

# Plots, for reading the run by looking.
venv=.tiketi/venv-plot
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check matplotlib==3.11.2; }
"$venv/bin/python" loadtests/plot_sale.py "$out" || echo "plotting failed (the figures above stand)"
exit "$checked"
