-- Held seats by event and expiry, keyed on `held_until IS NOT NULL` (true exactly when the seat is
-- held, by the seats' CHECK) instead of `status = 'held'`. With the status as its predicate, the
-- index also matched "the held seats of reservation X" (confirm, release, extend), and the
-- planner, whose statistics were taken before the sale when nothing was held, scanned every held
-- seat of every event to find one reservation's: a confirm cost more with each hold in the sale.
-- Now only a query that bounds `held_until` can use it, and a reservation's seats are found
-- through `seats_reservation`.
CREATE INDEX seats_event_hold_expiry ON ticket.seats (event_id, held_until) WHERE held_until IS NOT NULL;
DROP INDEX ticket.seats_event_held_until;
