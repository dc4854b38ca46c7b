#!/usr/bin/env bash
# The cached seat map against a static file server: GET /api/events/{id}/seats for a 5,000-seat
# event (gzip, answered from the server's memory) on a release `tiketi up`, and nginx serving the
# very same bytes from a file (sendfile, as it serves static files at its best), in alternating
# rounds of the same length and connections, so drift on the machine hits both alike. Between
# them, the floor: a bare axum server (`static-bytes`, no layers) answering the same bytes from
# memory — what hyper itself costs. Each run also reports the server's CPU per request (user, and
# user + system, in µs), the steadier measure of what our own per-request work costs.
# Target: the seat map ≥ 0.8 of nginx's requests/s.
# Usage: loadtests/seatmap_static.sh [seconds-per-round] [rounds]   Results: lines starting with RESULT.
set -euo pipefail
SECS=${1:-8}
ROUNDS=${2:-3}
READERS=${READERS:-32}
source "$(dirname "$0")/lib.sh"
bench_setup "${BENCH_PORT:-18088}"
nginx_port=${NGINX_PORT:-18089}
floor_port=${FLOOR_PORT:-18090}
cargo build --release --quiet -p tiketi-loadtests --bin static-bytes
command -v nginx >/dev/null || apt-get install -y -qq nginx-light >/dev/null \
  || sudo apt-get install -y -qq nginx-light >/dev/null
bench_start
admin=$(admin_token)
event=$(event "$HALL" 4)
seats=/api/events/$event/seats
curl -sf -H 'Accept-Encoding: gzip' "$base$seats" -o "$work/seats.json.gz"

# nginx's workers run as an unprivileged user: the file and its folder must be readable to them.
chmod 755 "$work" && chmod 644 "$work/seats.json.gz" && mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    location = $seats {
      alias $work/seats.json.gz;
      default_type application/json;
      add_header Content-Encoding gzip;
      add_header Vary accept-encoding;
      add_header Cache-Control no-cache;
    }
  }
}
EOF
nginx -c "$work/nginx.conf" -p "$work" -e "$work/nginx-error.log"
./target/release/static-bytes "$floor_port" "$seats" "$work/seats.json.gz" >/dev/null &
floor=$!
trap 'kill "$(cat "$work/nginx.pid" 2>/dev/null)" "$floor" 2>/dev/null || true; bench_cleanup' EXIT
for url in "http://127.0.0.1:$nginx_port$seats" "http://127.0.0.1:$floor_port$seats"; do
  for _ in $(seq 1 50); do curl -sf "$url" -o /dev/null && break; sleep 0.1; done
  cmp <(curl -sf -H 'Accept-Encoding: gzip' "$base$seats") <(curl -sf "$url") ||
    { echo "$url does not serve the same bytes"; exit 1; }
done

# CPU ticks (user, and user + system) the processes with the given pids have used so far.
ticks() { for pid in "$@"; do cat "/proc/$pid/stat"; done 2>/dev/null | awk '{u += $14; t += $14 + $15} END {print u, t}'; }

reads() { # reads <url> <label> <server pids…>: requests/s on stdout; wrk's RESULT line on stderr,
  # with the server's CPU per request in µs (user, and user + system)
  local url=$1 label=$2 out before after
  shift 2
  before=$(ticks "$@")
  out=$(wrk -t1 -c"$READERS" -d"${SECS}s" -s loadtests/report.lua -H 'Accept-Encoding: gzip' "$url" | grep RESULT)
  after=$(ticks "$@")
  out="$out $(python3 -c "
b, a = [int(x) for x in '$before'.split()], [int(x) for x in '$after'.split()]
n, tick = int('$out'.split('requests=')[1].split()[0]), 1e6 / $(getconf CLK_TCK)
print(f'server_user_us_per_req={(a[0] - b[0]) * tick / n:.2f} server_cpu_us_per_req={(a[1] - b[1]) * tick / n:.2f}')")"
  echo "RESULT $label ${out#RESULT }" >&2
  echo "$out" | sed -n 's/.* rps=\([0-9.]*\).*/\1/p'
}

echo "== $(stat -c %s "$work/seats.json.gz") bytes gzipped, $READERS connections, ${SECS}s per run, $ROUNDS rounds"
for i in $(seq 1 "$ROUNDS"); do
  ours=$(reads "$base$seats" "tiketi-$i" "$server")
  bare=$(reads "http://127.0.0.1:$floor_port$seats" "axum-$i" "$floor")
  nginx=$(cat "$work/nginx.pid")
  theirs=$(reads "http://127.0.0.1:$nginx_port$seats" "nginx-$i" "$nginx" $(pgrep -P "$nginx"))
  echo "RESULT round $i: seat map / nginx = $(python3 -c "print(f'{$ours / $theirs:.2f}')")," \
    "seat map / bare axum = $(python3 -c "print(f'{$ours / $bare:.2f}')")," \
    "bare axum / nginx = $(python3 -c "print(f'{$bare / $theirs:.2f}')")"
done
