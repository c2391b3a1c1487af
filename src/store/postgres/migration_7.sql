-- hookwire PostgreSQL schema, version 7: ordered endpoints.
--
-- endpoints.ordered: its deliveries go one at a time, in publish order. The
--   lease statement then takes only the head of its queue (its pending
--   delivery with the lowest seq), and only once the head is available.
-- deliveries_pending_by_endpoint: finds that head in one index probe; it
--   holds pending deliveries only, so it stays as small as the queue.

ALTER TABLE {schema}.endpoints ADD COLUMN ordered BOOLEAN NOT NULL DEFAULT false;

CREATE INDEX deliveries_pending_by_endpoint ON {schema}.deliveries (endpoint_id, seq)
    WHERE state = 'pending';
