-- A poll source's cursor is a position in one platform object; the
-- identity of that object (server.triggers: "poll of notion <db>",
-- "webhook <id> of airtable <base>/<table>") is stored with it, so a
-- change of the source made while Sluice was stopped resets the cursor at
-- the next start, as a reload does (ADR 0089, ADR 0045). '' on rows written
-- before: unknown, adopted by the next read (see pipeline.Gate.PollCursorIdentify).
ALTER TABLE poll_cursors ADD COLUMN identity TEXT NOT NULL DEFAULT '';
