-- A rebuild replays the log in pages, in the order it was applied. Runs with search_path = stats.
CREATE INDEX applied_events_order ON stats.applied_events (applied_at, id);
