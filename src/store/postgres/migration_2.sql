-- hookwire PostgreSQL schema, version 2: when a delivery finished (its last
-- attempt's start plus its duration, in microseconds; NULL while pending), so
-- that succeeded deliveries can be pruned by age.

ALTER TABLE {schema}.deliveries ADD COLUMN finished_at BIGINT;

CREATE INDEX deliveries_succeeded ON {schema}.deliveries (finished_at, seq)
    WHERE state = 'succeeded';

-- Deliveries that finished before this version: when their last attempt did.
UPDATE {schema}.deliveries d
SET finished_at = a.finished_at
FROM (
    SELECT delivery_seq, max(started_at + duration_us) AS finished_at
    FROM {schema}.attempts
    GROUP BY delivery_seq
) a
WHERE a.delivery_seq = d.seq AND d.state <> 'pending';
