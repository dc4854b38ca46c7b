# What every benchmark script shares: the local stack, wrk, a release `tiketi up` on a fresh
# database with its own Redis prefix, cleaned up on exit. Source it, then call bench_setup.

bench_setup() { # bench_setup <port>
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  eval "$(./dev env)"
  command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null || sudo apt-get install -y -qq wrk >/dev/null; }
  cargo build --release --quiet -p tiketi --bin tiketi
  work=$(mktemp -d /tmp/tiketi-bench.XXXX)
  base=http://127.0.0.1:$1
  db="tiketi_bench_$$"
  prefix="bench:$$:"
  # Queues and topic of the benchmark's own in the emulator (`tiketi up` creates them).
  export TIKETI_AWS_NAME_PREFIX="bench$$-"
  psql -q "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
  export TIKETI_DATABASE_URL="${DATABASE_URL%/*}/$db" TIKETI_DATA_DIR=$work/data TIKETI_PORT=$1 TIKETI_LOG=warn \
    TIKETI_REDIS_KEY_PREFIX=$prefix TIKETI_ADMIN_EMAIL=bench@tiketi.local TIKETI_ADMIN_PASSWORD=dev-only-bench-password
  server=
  trap bench_cleanup EXIT
}

bench_start() { # bench_start [tiketi arguments, default: up]; TIKETI_BIN runs another build
  "${TIKETI_BIN:-./target/release/tiketi}" "${@:-up}" >>.tiketi/logs/bench.log 2>&1 &
  server=$!
  for _ in $(seq 1 150); do curl -sf "$base/healthz" >/dev/null && return; sleep 0.2; done
  echo "server did not start (see .tiketi/logs/bench.log)"; exit 1
}

bench_stop() { [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true; server=; }

bench_cleanup() {
  bench_stop
  psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db" >/dev/null
  # (A run with a Redis of its own has stopped it by now: nothing to delete there.)
  redis-cli -u "$TIKETI_REDIS_URL" --scan --pattern "$prefix*" 2>/dev/null | xargs -r -n 500 redis-cli -u "$TIKETI_REDIS_URL" DEL >/dev/null
  rm -rf "$work"
}

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# POST as the admin (`admin` holds the token from admin_token).
post() { curl -sf "$base$1" -H "authorization: Bearer $admin" -H 'content-type: application/json' -d "$2"; }

# An RFC 3339 time $1 seconds from when the script started.
iso() { date -u -d "@$(($(date -u +%s) + $1))" +%Y-%m-%dT%H:%M:%SZ; }

admin_token() {
  curl -sf "$base/api/auth/login" -H 'content-type: application/json' \
    -d '{"email":"bench@tiketi.local","password":"dev-only-bench-password"}' | json 'd["access_token"]'
}

mint_tokens() { # mint_tokens <count> > file
  cargo build --release --quiet -p tiketi-loadtests --bin mint-tokens >&2
  ./target/release/mint-tokens "$TIKETI_DATA_DIR" "$1"
}

# The venues the benchmarks use: 50,000 seats, and 5,000.
STADIUM='[{"name":"Floor","rows":50,"seats_per_row":100,"price":198000},{"name":"Stands","rows":225,"seats_per_row":200,"price":132000}]'
HALL='[{"name":"VIP","rows":10,"seats_per_row":50,"price":165000},{"name":"R","rows":30,"seats_per_row":50,"price":143000},{"name":"S","rows":40,"seats_per_row":50,"price":121000},{"name":"A","rows":20,"seats_per_row":50,"price":99000}]'

# seat_buyers <event> <out file>: "<token> <seat>" lines pairing $work/tokens.txt with the event's
# seats in map order, one seat per buyer, as many as the shorter of the two has lines.
seat_buyers() {
  curl -sf "$base/api/events/$1/seats" | json '"\n".join(s["id"] for s in d["seats"])' >"$work/seats.$1"
  local n; n=$(wc -l <"$work/tokens.txt"); [ "$(wc -l <"$work/seats.$1")" -lt "$n" ] && n=$(wc -l <"$work/seats.$1")
  paste -d' ' <(head -n "$n" "$work/tokens.txt") <(head -n "$n" "$work/seats.$1") >"$2"
}

# An event on sale now at a new venue: event <sections json> <max seats per order> → event id
event() {
  local venue; venue=$(post /api/admin/venues "{\"name\":\"Bench $RANDOM\",\"sections\":$1}" | json 'd["id"]')
  post /api/admin/events "{\"title\":\"Bench\",\"artist\":\"Bench\",\"venue_id\":\"$venue\",\"max_seats_per_order\":$2,
    \"starts_at\":\"$(iso 86400)\",\"sale_opens_at\":\"$(iso -60)\",\"sale_closes_at\":\"$(iso 3600)\"}" | json 'd["id"]'
}
