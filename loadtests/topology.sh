# Production's topology on one machine, for the whole-sale runs (source it after lib.sh's
# bench_setup): every role its own `tiketi serve --role …` process — ticket, realtime and payment
# with two replicas each (production runs more; one would make a restart an outage) — behind nginx routing by path as the Istio gateway does (k8s/base/mesh), the
# worker, a Toss sandbox of the run's own whose webhooks come back through nginx, and the local
# stack's PostgreSQL, and a Redis and an AWS emulator (moto) of the run's own — Redis without
# persistence, like ElastiCache's nodes: restarting it loses everything, which `sale.sh --chaos`
# does on purpose; moto fresh, since it slows down with the state other runs leave in it. One data folder
# holds the signing keys every process shares (in the cloud: Secrets Manager). Pids are kept in
# files, so a fault injected from a background job restarts processes the clean-up still finds.
#
#   topology_start       migrates, starts the processes and nginx; `$base` is nginx
#   topology_pid <name>  the pid of one process (ticket-1, realtime-2, payment-1, worker, …; redis)
#   topology_run <name>  starts one process and waits until it is ready
#   redis_start          (re)starts the run's Redis
#   topology_stop        stops everything it started (before bench_cleanup, which removes the pid files)

# name → port; ticket, realtime and payment have two replicas each.
declare -A TOPOLOGY_PORTS
TOPOLOGY_NAMES=(auth ticket-1 ticket-2 realtime-1 realtime-2 payment-1 payment-2 stats worker)

topology_role() { echo "${1%-[0-9]}"; }

topology_start() { # topology_start <first port>
  local first=$1 i=0
  for name in "${TOPOLOGY_NAMES[@]}"; do TOPOLOGY_PORTS[$name]=$((first + 1 + i)); i=$((i + 1)); done
  local lb=$first internal=$((first + 20)) sandbox=$((first + 21))
  REDIS_PORT=$((first + 22))
  local moto=$((first + 23))
  base=http://127.0.0.1:$lb
  mkdir -p "$work/pids"
  redis_start
  export TIKETI_REDIS_URL=redis://127.0.0.1:$REDIS_PORT
  if curl -sf "http://127.0.0.1:$moto/moto-api/" >/dev/null; then
    echo "port $moto already has an emulator (a leftover run?): stop it first"; exit 1
  fi
  .tiketi/venv/bin/moto_server -H 127.0.0.1 -p "$moto" >>"$work/moto.log" 2>&1 &
  echo $! >"$work/pids/moto"
  export AWS_ENDPOINT_URL=http://127.0.0.1:$moto
  for _ in $(seq 1 100); do curl -sf "$AWS_ENDPOINT_URL/moto-api/" >/dev/null && break; sleep 0.1; done
  command -v nginx >/dev/null || apt-get install -y -qq nginx-light >/dev/null \
    || sudo apt-get install -y -qq nginx-light >/dev/null
  cargo build --release --quiet -p tiketi-toss-sandbox

  # The run's own Toss sandbox: its webhooks reach the payment role through nginx.
  TOSS_SANDBOX_ADDR=127.0.0.1:$sandbox TOSS_SANDBOX_SECRET_KEY=test_sk_dev-only-tiketi-sandbox \
    TOSS_SANDBOX_CLIENT_KEY=test_ck_dev-only-tiketi-sandbox TOSS_SANDBOX_WEBHOOK_URL=$base/webhooks/toss \
    ./target/release/toss-sandbox >>"$work/toss-sandbox.log" 2>&1 &
  echo $! >"$work/pids/sandbox"
  export TIKETI_TOSS_API_URL=http://127.0.0.1:$sandbox SANDBOX_URL=http://127.0.0.1:$sandbox
  # Where roles find each other, as in k8s/base/config.env (nginx's internal port stands in for
  # the ticket and payment Services).
  export TIKETI_INTERNAL_URL=http://127.0.0.1:$internal/ TIKETI_TICKET_PAYMENT_URL=http://127.0.0.1:$internal/ \
    TIKETI_JWKS_URL=http://127.0.0.1:${TOPOLOGY_PORTS[auth]}/api/auth/jwks TIKETI_PUBLIC_URL=$base/ \
    TIKETI_TRUSTED_PROXY_HOPS=1
  # A stopping process answers 3 s more, closing each connection after its answer, and nginx
  # drops upstream connections idle for 2 s: when the process stops, nginx holds none to it that
  # a request could be racing down (in the cluster, the preStop wait does this: the pod leaves the
  # endpoints before SIGTERM).
  export TIKETI_SHUTDOWN_DELAY_MS=3000

  ./target/release/tiketi migrate >>"$work/tiketi.log" 2>&1
  # Queues, topic and table made once, as Terraform does; the roles start (and restart) without
  # creating anything, as in the cloud.
  ./target/release/tiketi aws bootstrap >>"$work/tiketi.log" 2>&1
  export TIKETI_AWS_BOOTSTRAP=false
  # The auth role first: it creates the admin and the keys the others load from the shared folder.
  topology_run auth
  for name in "${TOPOLOGY_NAMES[@]}"; do [ "$name" = auth ] || topology_run "$name"; done
  topology_nginx "$lb" "$internal"
  for _ in $(seq 1 100); do curl -sf "$base/healthz" >/dev/null && return; sleep 0.1; done
  echo "nginx did not answer (see $work/nginx-error.log)"; exit 1
}

# PostgreSQL connections per process of a role: the local cluster allows 100, and nine processes
# at the default pool of 20 would ask for 180 (the psql calls and the checker need some too).
topology_db_connections() {
  case "$1" in ticket) echo 16 ;; payment) echo 10 ;; worker) echo 8 ;; *) echo 4 ;; esac
}

topology_run() { # topology_run <name>: starts one process and waits until it is ready
  local name=$1 port=${TOPOLOGY_PORTS[$1]} role; role=$(topology_role "$1")
  TIKETI_PORT=$port TIKETI_DATABASE_MAX_CONNECTIONS=$(topology_db_connections "$role") \
    ./target/release/tiketi serve --role "$role" >>"$work/$name.log" 2>&1 &
  echo $! >"$work/pids/$name"
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.1; done
  echo "$name did not become ready (see $work/$name.log)"; exit 1
}

topology_pid() { cat "$work/pids/$1"; }

redis_start() {
  # A Redis left on the port (by a run that did not clean up) would answer in this one's place.
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    echo "port $REDIS_PORT already has a Redis (a leftover run?): stop it first"; exit 1
  fi
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --maxclients 50000 \
    >>"$work/redis.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$work/pids/redis"
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null && redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return
    sleep 0.05
  done
  echo "the run's Redis did not start (see $work/redis.log)"; exit 1
}

topology_nginx() { # topology_nginx <public port> <internal port>
  local ticket="server 127.0.0.1:${TOPOLOGY_PORTS[ticket-1]} max_fails=0; server 127.0.0.1:${TOPOLOGY_PORTS[ticket-2]} max_fails=0;"
  local realtime="server 127.0.0.1:${TOPOLOGY_PORTS[realtime-1]} max_fails=0; server 127.0.0.1:${TOPOLOGY_PORTS[realtime-2]} max_fails=0;"
  local payment="server 127.0.0.1:${TOPOLOGY_PORTS[payment-1]} max_fails=0; server 127.0.0.1:${TOPOLOGY_PORTS[payment-2]} max_fails=0;"
  mkdir -p "$work/nginx"
  cat >"$work/nginx.conf" <<EOF
worker_processes ${TOPOLOGY_NGINX_WORKERS:-1};
worker_rlimit_nofile 200000;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 120000; }
http {
  access_log off;
  # Bodies stay in memory (the realtime role's watch calls carry a thousand waiters, ~40 KB): the
  # workers run as an unprivileged user who may not write temp files under the run's folder.
  client_body_buffer_size 1m;
  proxy_max_temp_file_size 0;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  proxy_http_version 1.1;
  proxy_set_header Host \$host;
  proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
  # A replica that is gone (killed, restarting) is skipped for the next one, for requests that are
  # safe to repeat; the others fail to the client as they would behind any load balancer.
  proxy_next_upstream error timeout http_502 http_503;
  map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }
  # Sockets leave for a replica from one of eight source addresses: one address has ~28,000
  # ephemeral ports per destination, fewer than the sockets a replica takes over when the other
  # one dies (in a cluster every pod has an address of its own).
  split_clients "\$remote_addr\$remote_port" \$ws_source {
    12.5% 127.0.0.11; 12.5% 127.0.0.12; 12.5% 127.0.0.13; 12.5% 127.0.0.14;
    12.5% 127.0.0.15; 12.5% 127.0.0.16; 12.5% 127.0.0.17; * 127.0.0.18;
  }
  upstream auth { server 127.0.0.1:${TOPOLOGY_PORTS[auth]}; keepalive 64; keepalive_timeout 2s; }
  upstream ticket { $ticket keepalive 128; keepalive_timeout 2s; }
  upstream realtime { $realtime }
  upstream payment { $payment keepalive 64; keepalive_timeout 2s; }
  upstream stats { server 127.0.0.1:${TOPOLOGY_PORTS[stats]}; keepalive 16; keepalive_timeout 2s; }
  server {
    listen 127.0.0.1:$1 backlog=65535 reuseport;
    proxy_set_header Connection "";
    location /ws { proxy_pass http://realtime; proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade; proxy_read_timeout 1h; proxy_bind \$ws_source; }
    location /api/auth { proxy_pass http://auth; }
    location /api/admin/stats { proxy_pass http://stats; }
    location /api/admin/reports { proxy_pass http://stats; }
    location /api/payments { proxy_pass http://payment; }
    location /webhooks/toss { proxy_pass http://payment; }
    location /internal/ { return 404; }
    location /metrics { return 404; }
    location / { proxy_pass http://ticket; }
  }
  # The mesh's view of the ticket and payment Services, for internal calls between roles.
  server {
    listen 127.0.0.1:$2;
    proxy_set_header Connection "";
    location /internal/ticket/ { proxy_pass http://ticket; }
    location /internal/payment/ { proxy_pass http://payment; }
    location / { return 404; }
  }
}
EOF
  nginx -c "$work/nginx.conf" -p "$work" -e "$work/nginx-error.log"
}

topology_stop() { # topology_stop: every process it started, Redis included
  # Each kill may find its process gone already: under `set -e` (as in an EXIT trap) a failed
  # kill would end the trap before the rest of the clean-up.
  [ -f "$work/nginx.pid" ] && { kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; }
  for file in "$work"/pids/*; do kill "$(cat "$file")" 2>/dev/null || true; done
  sleep 1
  for file in "$work"/pids/*; do kill -9 "$(cat "$file")" 2>/dev/null || true; done
  return 0
}
