-- The payment role's domain events (order created, order changed), written in the transaction of
-- the change and relayed by the queue worker, as the ticket role's are. Runs with search_path = payment.

CREATE TABLE payment.outbox (
    id           uuid PRIMARY KEY,
    kind         text NOT NULL,
    aggregate_id uuid NOT NULL,
    version      bigint NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON payment.outbox (created_at, id) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON payment.outbox (published_at) WHERE published_at IS NOT NULL;

-- Grows with every change of the order (created = 1): the version of its domain events.
ALTER TABLE payment.orders ADD COLUMN version bigint NOT NULL DEFAULT 1;
