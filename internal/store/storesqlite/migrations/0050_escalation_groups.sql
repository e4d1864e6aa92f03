-- Failure groups: escalations with the same destination, kind, platform
-- status and platform code share a group_id (pipeline.GroupKey:
-- "destination:kind:status:code", "-" for no destination), so identical
-- failures are counted and acted on as one. Existing rows are grouped by
-- what they recorded (their platform code was not kept).
ALTER TABLE escalations ADD COLUMN group_id TEXT NOT NULL DEFAULT '';
ALTER TABLE escalations ADD COLUMN code TEXT NOT NULL DEFAULT '';
UPDATE escalations SET group_id =
    COALESCE(NULLIF((SELECT d.destination FROM deliveries d WHERE d.id = escalations.delivery_id), ''), '-')
    || ':' || kind || ':' || CAST(last_status AS TEXT) || ':';
CREATE INDEX escalations_group ON escalations (status, group_id);
