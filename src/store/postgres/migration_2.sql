-- hookwire PostgreSQL schema, version 2: when a delivery finished (its last
-- attempt's start plus its duration, in microseconds; NULL while pending), so
-- that succeeded deliveries can be pruned by age.

ALTER TABLE {schema}.deliveries ADD COLUMN finished_at BIGINT;

CREATE INDEX deliveries_succeeded ON {schema}.deliveries (finished_at, seq)
    WHERE state = 'succeeded';
