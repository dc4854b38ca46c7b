-- Venues, events, seats, reservations and the outbox. Runs with search_path = ticket.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE ticket.venues (
    id         uuid PRIMARY KEY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    address    text,
    seat_count integer NOT NULL CHECK (seat_count > 0),
    -- Set only by `tiketi seed`, so re-seeding never duplicates and never touches API data.
    seed_key   text UNIQUE,
    created_at timestamptz NOT NULL
);

-- A block of rows × seats_per_row seats at one price: a 50,000-seat venue is a few rows here.
CREATE TABLE ticket.venue_sections (
    id            uuid PRIMARY KEY,
    venue_id      uuid NOT NULL REFERENCES ticket.venues (id),
    position      integer NOT NULL,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    rows          integer NOT NULL CHECK (rows BETWEEN 1 AND 1000),
    seats_per_row integer NOT NULL CHECK (seats_per_row BETWEEN 1 AND 1000),
    price         bigint NOT NULL CHECK (price >= 0),
    UNIQUE (venue_id, position),
    UNIQUE (venue_id, name)
);

CREATE TABLE ticket.events (
    id                   uuid PRIMARY KEY,
    venue_id             uuid NOT NULL REFERENCES ticket.venues (id),
    title                text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    artist               text NOT NULL CHECK (length(artist) BETWEEN 1 AND 200),
    description          text,
    poster_url           text,
    starts_at            timestamptz NOT NULL,
    sale_opens_at        timestamptz NOT NULL,
    sale_closes_at       timestamptz NOT NULL,
    max_seats_per_order  integer NOT NULL CHECK (max_seats_per_order BETWEEN 1 AND 20),
    waiting_room_enabled boolean NOT NULL DEFAULT false,
    max_active           integer NOT NULL CHECK (max_active > 0),
    admit_per_minute     integer NOT NULL CHECK (admit_per_minute > 0),
    cancelled_at         timestamptz,
    -- Lower-cased title, artist and venue name: what `q` searches (trigram index below).
    search_text          text NOT NULL,
    seed_key             text UNIQUE,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    CHECK (sale_opens_at < sale_closes_at),
    CHECK (sale_closes_at <= starts_at)
);
CREATE INDEX events_search_trgm ON ticket.events USING gin (search_text gin_trgm_ops);
CREATE INDEX events_starts_at ON ticket.events (starts_at, id);

-- The event's copy of the venue's sections: what it sells, at the price it sells.
CREATE TABLE ticket.event_sections (
    id         uuid PRIMARY KEY,
    event_id   uuid NOT NULL REFERENCES ticket.events (id),
    position   integer NOT NULL,
    name       text NOT NULL,
    price      bigint NOT NULL CHECK (price >= 0),
    seat_count integer NOT NULL CHECK (seat_count > 0),
    UNIQUE (event_id, position)
);

CREATE TABLE ticket.reservations (
    id                  uuid PRIMARY KEY,
    event_id            uuid NOT NULL REFERENCES ticket.events (id),
    user_id             uuid NOT NULL,
    status              text NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled', 'expired', 'refunded')),
    amount              bigint NOT NULL CHECK (amount >= 0),
    expires_at          timestamptz NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    -- Set when the event is cancelled while this reservation is paid: the payment role refunds it.
    refund_requested_at timestamptz
);
CREATE INDEX reservations_user ON ticket.reservations (user_id, created_at DESC);
CREATE INDEX reservations_event_user ON ticket.reservations (event_id, user_id) WHERE status IN ('pending', 'confirmed');
-- The sweeper's work list.
CREATE INDEX reservations_pending_expiry ON ticket.reservations (expires_at) WHERE status = 'pending';

-- One row per seat of an event. A seat names at most one reservation (the column holds one id),
-- and it names one exactly when it is not available.
CREATE TABLE ticket.seats (
    id             uuid PRIMARY KEY,
    event_id       uuid NOT NULL REFERENCES ticket.events (id),
    section_id     uuid NOT NULL REFERENCES ticket.event_sections (id),
    row_label      text NOT NULL,
    number         integer NOT NULL,
    label          text NOT NULL,
    price          bigint NOT NULL CHECK (price >= 0),
    status         text NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'held', 'sold')),
    -- Deferred: a hold points its seats at the reservation before inserting it with their total.
    reservation_id uuid REFERENCES ticket.reservations (id) DEFERRABLE INITIALLY DEFERRED,
    held_until     timestamptz,
    CHECK ((status = 'available') = (reservation_id IS NULL)),
    CHECK ((status = 'held') = (held_until IS NOT NULL)),
    UNIQUE (section_id, row_label, number)
);
CREATE INDEX seats_event ON ticket.seats (event_id, section_id, row_label, number);
CREATE INDEX seats_reservation ON ticket.seats (reservation_id) WHERE reservation_id IS NOT NULL;
-- "Is anything left?" probes for the event status without counting.
CREATE INDEX seats_event_available ON ticket.seats (event_id) WHERE status = 'available';
CREATE INDEX seats_event_held_until ON ticket.seats (event_id, held_until) WHERE status = 'held';

-- Which seats a reservation covers, for its whole life (seats.reservation_id is cleared on release).
-- `live` is true while the reservation is pending or confirmed; the partial unique index makes
-- "one seat, one live reservation" a property of the schema, not only of the code.
CREATE TABLE ticket.reservation_seats (
    reservation_id uuid NOT NULL REFERENCES ticket.reservations (id),
    seat_id        uuid NOT NULL REFERENCES ticket.seats (id),
    price          bigint NOT NULL CHECK (price >= 0),
    live           boolean NOT NULL DEFAULT true,
    PRIMARY KEY (reservation_id, seat_id)
);
CREATE UNIQUE INDEX reservation_seats_one_live_holder ON ticket.reservation_seats (seat_id) WHERE live;

-- Domain events written in the same transaction as the change they describe; the queue worker
-- relays unpublished rows to SQS, so nothing is lost if a process dies after committing.
CREATE TABLE ticket.outbox (
    id           uuid PRIMARY KEY,
    kind         text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON ticket.outbox (created_at) WHERE published_at IS NULL;
