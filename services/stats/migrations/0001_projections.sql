-- The stats role's read models, built only from domain events (never from another schema).
-- Runs with search_path = stats.
--
-- Applying an event is order-independent: facts are merged (a later lifecycle step never loses
-- to an earlier one arriving late, by the aggregate's version) and every derived figure is
-- recomputed from the facts it depends on, so any delivery order — and a replay — ends equal.

-- Every domain event applied, kept whole: redeliveries find their id here and change nothing,
-- and a rebuild replays this log into empty projections.
CREATE TABLE stats.applied_events (
    id           uuid PRIMARY KEY,
    kind         text NOT NULL,
    aggregate_id uuid NOT NULL,
    version      bigint NOT NULL,
    occurred_at  timestamptz NOT NULL,
    payload      jsonb NOT NULL,
    applied_at   timestamptz NOT NULL
);

CREATE TABLE stats.events (
    id            uuid PRIMARY KEY,
    title         text NOT NULL DEFAULT '',
    sale_opens_at timestamptz,
    -- The event's version the title and opening come from.
    version       bigint NOT NULL DEFAULT 0,
    cancelled_at  timestamptz
);

CREATE TABLE stats.sections (
    id         uuid PRIMARY KEY,
    event_id   uuid NOT NULL,
    position   integer NOT NULL,
    name       text NOT NULL,
    price      bigint NOT NULL,
    seat_count bigint NOT NULL
);
CREATE INDEX sections_event ON stats.sections (event_id, position);

-- The seat heatmap: one row per seat, its figures recomputed from the reservations naming it.
-- A reservation event may arrive before the seat's catalogue part: it then creates the row with
-- what it knows (the catalogue fills section, position and label), so the two always meet on one
-- row lock and the later of them recomputes with the other's facts in view.
CREATE TABLE stats.seats (
    id            uuid PRIMARY KEY,
    event_id      uuid NOT NULL,
    section_id    uuid,
    -- Order of the seat in the event's catalogue (section, row, number).
    position      integer,
    label         text,
    holds         integer NOT NULL DEFAULT 0,
    expired_holds integer NOT NULL DEFAULT 0,
    -- When the reservation that owns it now was confirmed; NULL = not sold.
    sold_at       timestamptz
);
CREATE INDEX seats_event ON stats.seats (event_id, position);
CREATE INDEX seats_event_sold ON stats.seats (event_id, section_id) WHERE sold_at IS NOT NULL;

-- status: pending → confirmed | expired | cancelled; confirmed → refunded (the lifecycle
-- versions 1, 2, 3 of tiketi_shared::events::reservation_version).
CREATE TABLE stats.reservations (
    id           uuid PRIMARY KEY,
    event_id     uuid NOT NULL,
    user_id      uuid,
    seat_ids     uuid[] NOT NULL DEFAULT '{}',
    amount       bigint,
    status       text NOT NULL,
    version      bigint NOT NULL,
    expires_at   timestamptz,
    held_at      timestamptz,
    confirmed_at timestamptz,
    ended_at     timestamptz,
    refunded_at  timestamptz
);
CREATE INDEX reservations_event ON stats.reservations (event_id, status);
CREATE INDEX reservations_pending ON stats.reservations (expires_at) WHERE status = 'pending';

CREATE TABLE stats.reservation_seats (
    seat_id        uuid NOT NULL,
    reservation_id uuid NOT NULL,
    PRIMARY KEY (seat_id, reservation_id)
);

-- Orders as their newest snapshot says; `approved_at` is when the money was captured.
CREATE TABLE stats.orders (
    id             uuid PRIMARY KEY,
    reservation_id uuid NOT NULL,
    event_id       uuid NOT NULL,
    user_id        uuid NOT NULL,
    amount         bigint NOT NULL,
    status         text NOT NULL,
    balance_amount bigint NOT NULL,
    method         text,
    payment_key    text,
    approved_at    timestamptz,
    version        bigint NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX orders_approved ON stats.orders (approved_at) WHERE approved_at IS NOT NULL;
CREATE INDEX orders_event ON stats.orders (event_id, approved_at);
CREATE INDEX orders_reservation ON stats.orders (reservation_id);

-- Every snapshot of every order, by version: refunds are the drops in balance between them.
CREATE TABLE stats.order_changes (
    order_id       uuid NOT NULL,
    version        bigint NOT NULL,
    status         text NOT NULL,
    balance_amount bigint NOT NULL,
    occurred_at    timestamptz NOT NULL,
    PRIMARY KEY (order_id, version)
);

-- Money given back: one row per order version whose balance dropped, recomputed per order.
CREATE TABLE stats.refunds (
    order_id    uuid NOT NULL,
    version     bigint NOT NULL,
    event_id    uuid NOT NULL,
    amount      bigint NOT NULL,
    refunded_at timestamptz NOT NULL,
    PRIMARY KEY (order_id, version)
);
CREATE INDEX refunds_at ON stats.refunds (refunded_at);

-- The newest count of each event's waiting room.
CREATE TABLE stats.waiting_rooms (
    event_id   uuid PRIMARY KEY,
    joined     bigint NOT NULL,
    admitted   bigint NOT NULL,
    waiting    bigint NOT NULL,
    active     bigint NOT NULL,
    version    bigint NOT NULL,
    counted_at timestamptz NOT NULL
);

-- Finance reports: requested here, built by the stats-report function, files in S3.
CREATE TABLE stats.reports (
    id           uuid PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('settlement', 'sales')),
    status       text NOT NULL CHECK (status IN ('pending', 'ready', 'failed')),
    period_from  timestamptz NOT NULL,
    period_to    timestamptz NOT NULL,
    event_id     uuid,
    requested_by text NOT NULL,
    -- [{name, key, content_type, bytes, sha256}] once ready.
    files        jsonb NOT NULL DEFAULT '[]',
    failure      text,
    created_at   timestamptz NOT NULL,
    completed_at timestamptz,
    CHECK (period_from < period_to)
);
CREATE INDEX reports_newest ON stats.reports (created_at DESC);
-- The daily settlement is made once per period, however many schedulers ask.
CREATE UNIQUE INDEX reports_one_scheduled ON stats.reports (kind, period_from, period_to)
    WHERE requested_by = 'schedule';
