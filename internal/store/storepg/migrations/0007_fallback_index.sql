-- Deliveries still owed a fallback copy, found without scanning a paused
-- destination's whole backlog.
CREATE INDEX deliveries_needing_fallback ON deliveries (destination, seq)
    WHERE state = 'pending' AND fallback != '' AND fallback_id = '';
