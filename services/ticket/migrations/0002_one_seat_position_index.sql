-- A section belongs to one event, so (event_id, section_id, row_label, number) is as unique as
-- (section_id, row_label, number) and also serves the seat-map scan. One index instead of two:
-- every hold updates seats, and a non-HOT update writes an entry into every index.
ALTER TABLE ticket.seats ADD CONSTRAINT seats_position UNIQUE (event_id, section_id, row_label, number);
ALTER TABLE ticket.seats DROP CONSTRAINT seats_section_id_row_label_number_key;
DROP INDEX ticket.seats_event;
