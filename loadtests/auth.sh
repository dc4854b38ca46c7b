#!/usr/bin/env bash
# Auth over HTTP against a release `tiketi up` on this machine (load generator on the same cores):
#   - GET /api/auth/me under concurrency (token verification + one indexed SELECT)
#   - login throughput (bounded by argon2id)
#   - login with an unknown email vs a wrong password (should cost the same)
# Usage: loadtests/auth.sh [seconds-per-run]     Results: lines starting with RESULT.
set -euo pipefail
SECS=${1:-20}
source "$(dirname "$0")/lib.sh"
bench_setup "${BENCH_PORT:-18080}"
export TIKETI_AUTH_IP_LIMIT_PER_MINUTE=1000000000 TIKETI_AUTH_ACCOUNT_LIMIT_PER_MINUTE=1000000000
bench_start

email="bench-$$@example.com"
token=$(curl -sf "$base/api/auth/register" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"password123\",\"name\":\"Bench\"}" | json 'd["access_token"]')

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
