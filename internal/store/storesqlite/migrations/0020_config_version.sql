-- The content hash of the config that captured each event (config.Version),
-- so an operator can tell which mapping and routes judged it. Events from
-- before this column keep ''.
ALTER TABLE events ADD COLUMN config_version TEXT NOT NULL DEFAULT '';
