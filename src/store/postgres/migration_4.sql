-- hookwire PostgreSQL schema, version 4: nothing fails without a reason,
-- and every endpoint keeps its flow settings.
--
-- attempts.reason: why an attempt failed, in words (the error and its causes).
-- deliveries.reason: why a delivery was last handed back or ended without an
--   attempt (for example "endpoint deleted").
-- endpoints.max_in_flight: its own cap on requests in flight (NULL: the
--   dispatcher's share), any u32, hence BIGINT; endpoints.gone: what a 404
--   or 410 means for it.

ALTER TABLE {schema}.attempts ADD COLUMN reason TEXT;
ALTER TABLE {schema}.deliveries ADD COLUMN reason TEXT;
ALTER TABLE {schema}.endpoints ADD COLUMN max_in_flight BIGINT;
ALTER TABLE {schema}.endpoints ADD COLUMN gone TEXT NOT NULL DEFAULT 'disables-endpoint';
