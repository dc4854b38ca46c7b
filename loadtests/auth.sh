#!/usr/bin/env bash
# Auth over HTTP against a release `tiketi up` on this machine (load generator on the same cores):
#   - GET /api/auth/me under concurrency (token verification + one indexed SELECT)
#   - login throughput (bounded by argon2id)
#   - login with an unknown email vs a wrong password (should cost the same)
# Usage: loadtests/auth.sh [seconds-per-run]     Results: lines starting with RESULT.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
eval "$(./dev env)"
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null || sudo apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --bin tiketi

port=${BENCH_PORT:-18080}
db="tiketi_bench_$$"
psql -q "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
export TIKETI_DATABASE_URL="${DATABASE_URL%/*}/$db"
export TIKETI_PORT=$port TIKETI_LOG=warn TIKETI_REDIS_KEY_PREFIX="bench:$$:" \
  TIKETI_AUTH_IP_LIMIT_PER_MINUTE=1000000000 TIKETI_AUTH_ACCOUNT_LIMIT_PER_MINUTE=1000000000
./target/release/tiketi up > .tiketi/logs/bench-auth.log 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db" >/dev/null; }
trap cleanup EXIT
base=http://127.0.0.1:$port
for _ in $(seq 1 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.2; done

email="bench-$$@example.com"
token=$(curl -sf "$base/api/auth/register" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"password123\",\"name\":\"Bench\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')

echo "== GET /api/auth/me, 64 connections, ${SECS}s"
wrk -t2 -c64 -d"${SECS}s" -s loadtests/report.lua -H "Authorization: Bearer $token" "$base/api/auth/me" | grep RESULT
echo "== POST /api/auth/login (correct password), 8 connections, ${SECS}s"
WRK_BODY="{\"email\":\"$email\",\"password\":\"password123\"}" \
  wrk -t2 -c8 -d"${SECS}s" -s loadtests/report.lua "$base/api/auth/login" | grep RESULT
echo "== POST /api/auth/login (wrong password), 2 connections, ${SECS}s"
WRK_BODY="{\"email\":\"$email\",\"password\":\"wrong-password\"}" \
  wrk -t1 -c2 -d"${SECS}s" -s loadtests/report.lua "$base/api/auth/login" | grep RESULT
echo "== POST /api/auth/login (unknown email), 2 connections, ${SECS}s"
WRK_BODY="{\"email\":\"nobody-$$@example.com\",\"password\":\"wrong-password\"}" \
  wrk -t1 -c2 -d"${SECS}s" -s loadtests/report.lua "$base/api/auth/login" | grep RESULT
