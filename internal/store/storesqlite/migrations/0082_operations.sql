-- What an event asks of its destinations: '' (create or update the record)
-- or 'delete' (the record was archived, trashed or destroyed at its
-- source). Deliveries copy it from their event.
ALTER TABLE events ADD COLUMN operation TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN operation TEXT NOT NULL DEFAULT '';
