-- What a waiting room needs to come back after Redis loses its state (a restart without
-- persistence, a failover to a replica that missed the last writes): its generation and counters,
-- written by every admission step. Waiters' places come back from the receipts they hold.
CREATE TABLE ticket.waiting_rooms (
    event_id       uuid PRIMARY KEY REFERENCES ticket.events (id),
    -- The generation of the room's state in Redis: a new one begins when the state is found lost.
    epoch          integer NOT NULL CHECK (epoch >= 1),
    opened         boolean NOT NULL DEFAULT false,
    -- How many the pre-queue draw placed; arrivals after the opening, over every generation.
    drawn          bigint NOT NULL DEFAULT 0,
    arrivals       bigint NOT NULL DEFAULT 0,
    served         bigint NOT NULL DEFAULT 0,
    joins          bigint NOT NULL DEFAULT 0,
    -- Live admissions by the minute they end by ({"<minute end, ms>": count}): the slots that
    -- stay taken after a loss until their buyers show their admission tokens again or the minute ends.
    admitted_until jsonb NOT NULL DEFAULT '{}',
    saved_at       timestamptz NOT NULL
);
