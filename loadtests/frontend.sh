#!/usr/bin/env bash
# The web app in headless Chromium against a release `tiketi up`: JavaScript and CSS a buyer's
# first page downloads (target < 200 KB gzip), and on a 50,000-seat event the seat map's first
# paint (navigation start → 50,000 seats drawn) and the time from a 1,000-seat `seats.changed`
# reaching the page to its redraw; the waiting room's proof of work solved in the browser
# (difficulty TIKETI_QUEUE_PROOF_DIFFICULTY, 16 here); then Lighthouse's scores for the first page.
# Usage: loadtests/frontend.sh     Results: lines starting with RESULT.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_setup "${BENCH_PORT:-18087}"
(cd frontend && npm run --silent build >/dev/null)
export TIKETI_WEB_DIR=$PWD/frontend/dist
export TIKETI_QUEUE_PROOF_DIFFICULTY=${TIKETI_QUEUE_PROOF_DIFFICULTY:-16}
bench_start
cd frontend
TIKETI_E2E_URL=$base TIKETI_E2E_ARTIFACTS=$work/e2e TIKETI_E2E_ADMIN_EMAIL=bench@tiketi.local \
  TIKETI_E2E_ADMIN_PASSWORD=dev-only-bench-password npx playwright test -c playwright.bench.config.ts 2>&1 |
  grep -E 'RESULT|passed|failed|Error'
# Lighthouse (mobile emulation with its default throttling) on the buyer's first page.
CHROME_PATH=/usr/bin/chromium npx --yes lighthouse@12.8.2 "$base/" --quiet --output=json --output-path="$work/lighthouse.json" \
  --only-categories=performance,accessibility,best-practices,seo \
  --chrome-flags="--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage"
python3 - "$work/lighthouse.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
scores = ", ".join(f"{name} {round(c['score'] * 100)}" for name, c in report["categories"].items())
audits = report["audits"]
timings = ", ".join(f"{k} {audits[k]['displayValue']}" for k in
                    ["first-contentful-paint", "largest-contentful-paint", "total-blocking-time", "cumulative-layout-shift"])
print(f"RESULT lighthouse /: {scores}; {timings}")
PY
