-- The worker's side of at-least-once delivery. Runs with search_path = worker.

-- Domain events the worker has acted on: a redelivered event finds its id here and is skipped.
-- Kept longer than any queue keeps a message (SQS: 14 days at most), then pruned.
CREATE TABLE worker.consumed_events (
    event_id    uuid PRIMARY KEY,
    kind        text NOT NULL,
    consumed_at timestamptz NOT NULL
);
CREATE INDEX consumed_events_age ON worker.consumed_events (consumed_at);
