#!/usr/bin/env bash
# What finding one reservation's seats, one reservation or one stored webhook costs while a sale
# has HOLDS of each, with statistics taken before the sale (nothing held, pending or waiting), as
# a production database has them when an on-sale starts. Each lookup is timed by EXPLAIN ANALYZE
# (3 runs, each in a rolled-back transaction) in two forms: as the code writes it now, and as it
# was before 2026-12-05, when its plan went through an index of only held seats, only pending
# reservations or only unapplied webhooks, which those statistics show as empty, and scanned
# every one of them. The statements are copied from the code (settle.rs, reservations.rs,
# webhooks.rs); `tests/it` checks the code's own plans.
# Usage: loadtests/lookups.sh [holds, default 30000]   Results: lines starting with RESULT.
set -euo pipefail
HOLDS=${1:-30000}
source "$(dirname "$0")/lib.sh"
bench_setup "${BENCH_PORT:-18093}"
bench_start
admin=$(admin_token)
event=$(event "$STADIUM" 4)
bench_stop
sql() { psql -qtAX -v ON_ERROR_STOP=1 "$TIKETI_DATABASE_URL" "$@"; }

# Before the sale: reservations and webhooks of earlier sales, all ended or applied; the index the
# seat lookup used to find, as it stood then; statistics.
sql -c "INSERT INTO ticket.reservations (id, event_id, user_id, status, amount, expires_at, created_at, updated_at)
        SELECT gen_random_uuid(), '$event', gen_random_uuid(), 'expired', 1000, now(), now(), now()
        FROM generate_series(1, 500)" \
  -c "INSERT INTO payment.webhook_inbox (id, kind, body, received_at, applied_at)
      SELECT 'earlier-' || n, 'PAYMENT_STATUS_CHANGED', '{}', now(), now() FROM generate_series(1, 500) AS n" \
  -c "CREATE INDEX seats_event_held_until ON ticket.seats (event_id, held_until) WHERE status = 'held'" \
  -c "ANALYZE ticket.seats, ticket.reservations, payment.webhook_inbox"
# The sale: HOLDS holds of one seat each, HOLDS webhooks waiting.
sql -c "WITH held AS (
          UPDATE ticket.seats SET status = 'held', held_until = now() + interval '10 minutes',
            reservation_id = gen_random_uuid()
          WHERE id IN (SELECT id FROM ticket.seats WHERE event_id = '$event' ORDER BY id LIMIT $HOLDS)
          RETURNING reservation_id, event_id)
        INSERT INTO ticket.reservations (id, event_id, user_id, status, amount, expires_at, created_at, updated_at)
        SELECT reservation_id, event_id, gen_random_uuid(), 'pending', 1000, now() + interval '10 minutes', now(), now()
        FROM held" \
  -c "INSERT INTO payment.webhook_inbox (id, kind, body, received_at)
      SELECT 'waiting-' || n, 'PAYMENT_STATUS_CHANGED', '{}', now() FROM generate_series(1, $HOLDS) AS n"
reservation=$(sql -c "SELECT reservation_id FROM ticket.seats WHERE status = 'held' ORDER BY id OFFSET $((HOLDS / 2)) LIMIT 1")
webhook=waiting-$((HOLDS / 2))

timed() { # timed <lookup> <form> <statement>
  local times=() indexes plan
  for _ in 1 2 3; do
    plan=$(sql -c "BEGIN" -c "EXPLAIN (ANALYZE, FORMAT JSON) $3" -c "ROLLBACK")
    times+=("$(grep -o '"Execution Time": [0-9.]*' <<<"$plan" | grep -o '[0-9.]*$')")
  done
  indexes=$(grep -o '"Index Name": "[a-z_]*"' <<<"$plan" | cut -d'"' -f4 | sort -u | paste -sd, -)
  echo "RESULT lookup=$1 form=$2 holds=$HOLDS execution_ms=$(IFS=/; echo "${times[*]}") indexes=$indexes"
}

sell="UPDATE ticket.seats SET status = 'sold', held_until = NULL
  WHERE id IN (SELECT id FROM ticket.seats WHERE reservation_id = '$reservation' AND status = 'held' ORDER BY id FOR UPDATE)
  RETURNING id"
timed sell before "$sell"
sql -c "DROP INDEX ticket.seats_event_held_until"
timed sell now "$sell"

timed confirm before "UPDATE ticket.reservations r SET status = 'confirmed', updated_at = now()
  WHERE id = '$reservation' AND status = 'pending'
    AND NOT EXISTS (SELECT 1 FROM ticket.events e WHERE e.id = r.event_id AND e.cancelled_at IS NOT NULL)"
timed confirm now "WITH r AS (SELECT id, event_id, status, expires_at FROM ticket.reservations WHERE id = '$reservation' FOR UPDATE)
  UPDATE ticket.reservations t SET status = 'confirmed', updated_at = now() FROM r
  WHERE t.id = r.id AND r.status = 'pending'
    AND NOT EXISTS (SELECT 1 FROM ticket.events e WHERE e.id = r.event_id AND e.cancelled_at IS NOT NULL)"

timed webhook before "UPDATE payment.webhook_inbox SET attempts = attempts + 1
  WHERE id = '$webhook' AND applied_at IS NULL RETURNING body"
timed webhook now "WITH w AS (SELECT id, applied_at FROM payment.webhook_inbox WHERE id = '$webhook' FOR UPDATE)
  UPDATE payment.webhook_inbox t SET attempts = t.attempts + 1 FROM w WHERE t.id = w.id AND w.applied_at IS NULL
  RETURNING t.body"
