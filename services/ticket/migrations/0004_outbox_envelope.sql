-- Outbox rows become domain-event envelopes: the aggregate they are about and its version, so
-- consumers can dedupe and never let an older event undo a newer one. Runs with search_path = ticket.

ALTER TABLE ticket.outbox ADD COLUMN aggregate_id uuid, ADD COLUMN version bigint;
-- Rows written before this migration: the reservation (or event) they name, at the lifecycle step
-- their kind stands for (reservation_version in tiketi-shared's events module).
UPDATE ticket.outbox SET
    aggregate_id = coalesce((payload->>'reservation_id')::uuid, (payload->>'event_id')::uuid),
    version = CASE kind WHEN 'reservation.held' THEN 1 WHEN 'reservation.refunded' THEN 3
                        WHEN 'event.created' THEN 1 ELSE 2 END;
ALTER TABLE ticket.outbox ALTER COLUMN aggregate_id SET NOT NULL, ALTER COLUMN version SET NOT NULL;
-- The relay's work list, oldest first; published rows are pruned by age.
DROP INDEX ticket.outbox_unpublished;
CREATE INDEX outbox_unpublished ON ticket.outbox (created_at, id) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON ticket.outbox (published_at) WHERE published_at IS NOT NULL;

-- An event's version grows with every change of it (created = 1), for its domain events.
ALTER TABLE ticket.events ADD COLUMN version bigint NOT NULL DEFAULT 1;
