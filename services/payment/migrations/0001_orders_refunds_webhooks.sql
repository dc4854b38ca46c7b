-- Orders (one Toss payment each), refunds, and the webhook inbox. Runs with search_path = payment.

-- An order pays for one reservation. Its id is the Toss `orderId`.
-- status: created → confirming → paid | awaiting_deposit | failed | refunded (a capture cancelled
-- because the hold was lost); awaiting_deposit → paid | failed; paid → partially_refunded → refunded.
CREATE TABLE payment.orders (
    id                 uuid PRIMARY KEY,
    reservation_id     uuid NOT NULL,
    user_id            uuid NOT NULL,
    event_id           uuid NOT NULL,
    amount             bigint NOT NULL CHECK (amount > 0),
    order_name         text NOT NULL,
    -- The reservation's hold ends here (as of checkout): a confirm well before it skips asking.
    hold_expires_at    timestamptz NOT NULL,
    status             text NOT NULL CHECK (status IN ('created', 'confirming', 'awaiting_deposit', 'paid', 'failed',
                                                      'partially_refunded', 'refunded')),
    -- What Toss said last: key, method and status, money still captured.
    payment_key        text,
    method             text,
    toss_status        text,
    balance_amount     bigint NOT NULL DEFAULT 0 CHECK (balance_amount >= 0 AND balance_amount <= amount),
    approved_at        timestamptz,
    receipt_url        text,
    failure_code       text,
    failure_message    text,
    -- Confirm attempts made with Toss; each answered attempt gets a new Idempotency-Key.
    confirm_attempt    integer NOT NULL DEFAULT 0,
    confirm_started_at timestamptz,
    -- Virtual account: where to pay, until when, and the secret DEPOSIT_CALLBACK must carry.
    va_bank_code       text,
    va_account_number  text,
    va_due_at          timestamptz,
    va_secret          text,
    -- The newest webhook `createdAt` applied: older deliveries change nothing.
    last_webhook_at    timestamptz,
    -- When the ticket role was told a fully refunded order's reservation is refunded (its seats
    -- back on sale); NULL on a refunded order = still to tell.
    released_at        timestamptz,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
-- Checkout is idempotent per reservation: at most one order that is not failed.
CREATE UNIQUE INDEX orders_one_live_per_reservation ON payment.orders (reservation_id) WHERE status <> 'failed';
CREATE INDEX orders_reservation ON payment.orders (reservation_id);
-- The reconciler's work lists.
CREATE INDEX orders_confirming ON payment.orders (confirm_started_at) WHERE status = 'confirming';
CREATE INDEX orders_awaiting_deposit ON payment.orders (va_due_at) WHERE status = 'awaiting_deposit';
CREATE INDEX orders_unreleased ON payment.orders (updated_at) WHERE status = 'refunded' AND released_at IS NULL;

-- A refund (a Toss cancel) of part or all of an order. Written `requested` before Toss is called;
-- its id is the Idempotency-Key, so a retry after a crash replays instead of refunding twice.
CREATE TABLE payment.refunds (
    id           uuid PRIMARY KEY,
    order_id     uuid NOT NULL REFERENCES payment.orders (id),
    amount       bigint NOT NULL CHECK (amount > 0),
    reason       text NOT NULL,
    status       text NOT NULL CHECK (status IN ('requested', 'done', 'failed')),
    -- Who asked: a user id, or 'system' (hold lost, event cancelled).
    requested_by text NOT NULL,
    refund_bank  text,
    refund_account_number text,
    refund_holder_name    text,
    failure_code text,
    created_at   timestamptz NOT NULL,
    completed_at timestamptz
);
-- One refund in flight per order: two concurrent requests cannot together exceed the balance.
CREATE UNIQUE INDEX refunds_one_in_flight ON payment.refunds (order_id) WHERE status = 'requested';
CREATE INDEX refunds_order ON payment.refunds (order_id, created_at);

-- Every webhook delivery, stored before it is applied; the transmission id dedupes retries.
CREATE TABLE payment.webhook_inbox (
    id           text PRIMARY KEY,
    kind         text NOT NULL,
    order_id     text,
    body         jsonb NOT NULL,
    created_at   timestamptz,
    received_at  timestamptz NOT NULL,
    applied_at   timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text
);
CREATE INDEX webhook_inbox_pending ON payment.webhook_inbox (received_at) WHERE applied_at IS NULL;
