-- hookwire PostgreSQL schema, version 5: an operator sees everything.
--
-- deliveries.attempts_total: attempts ever made, redeliveries included (the
--   next attempt's number is one more); `attempts` still counts those since
--   the last redelivery, for the retry policy.
-- endpoints.disabled_at, disabled_reason: when and why the endpoint was
--   disabled (NULL while enabled, or when disabled without a record).
-- endpoints.last_*: its last recorded attempt (delivery, number, start, and
--   status or error kind and reason); last_success_at: when the last attempt
--   that succeeded was sent; consecutive_failures: attempts recorded since
--   the last success. Kept current by every recorded attempt, so that an
--   endpoint's health is one row and a count.
-- attempts_seq: attempts listed across deliveries, in the order recorded.

ALTER TABLE {schema}.deliveries ADD COLUMN attempts_total BIGINT NOT NULL DEFAULT 0;
UPDATE {schema}.deliveries d
SET attempts_total = GREATEST(d.attempts,
  (SELECT count(*) FROM {schema}.attempts a WHERE a.delivery_seq = d.seq));

ALTER TABLE {schema}.endpoints
  ADD COLUMN disabled_at BIGINT,
  ADD COLUMN disabled_reason TEXT,
  ADD COLUMN last_attempt_delivery TEXT,
  ADD COLUMN last_attempt_number BIGINT,
  ADD COLUMN last_attempt_at BIGINT,
  ADD COLUMN last_status INTEGER,
  ADD COLUMN last_error TEXT,
  ADD COLUMN last_reason TEXT,
  ADD COLUMN last_success_at BIGINT,
  ADD COLUMN consecutive_failures BIGINT NOT NULL DEFAULT 0;

-- What the history already says: each endpoint's last attempt, and its last
-- success (the last attempt of a delivery that succeeded). Failures in a row
-- before this version are not counted.
UPDATE {schema}.endpoints ep
SET last_attempt_delivery = l.delivery_id, last_attempt_number = l.attempt,
  last_attempt_at = l.started_at, last_status = l.status, last_error = l.error,
  last_reason = COALESCE(l.reason, l.error)
FROM (
  SELECT DISTINCT ON (d.endpoint_id) d.endpoint_id, d.id AS delivery_id, a.attempt,
    a.started_at, a.status, a.error, a.reason
  FROM {schema}.attempts a JOIN {schema}.deliveries d ON d.seq = a.delivery_seq
  ORDER BY d.endpoint_id, a.seq DESC
) l
WHERE ep.id = l.endpoint_id;

UPDATE {schema}.endpoints ep
SET last_success_at = s.at
FROM (
  SELECT d.endpoint_id, max(a.started_at) AS at
  FROM {schema}.deliveries d
  JOIN LATERAL (
    SELECT started_at FROM {schema}.attempts a
    WHERE a.delivery_seq = d.seq ORDER BY a.seq DESC LIMIT 1
  ) a ON TRUE
  WHERE d.state = 'succeeded'
  GROUP BY d.endpoint_id
) s
WHERE ep.id = s.endpoint_id;

CREATE INDEX attempts_seq ON {schema}.attempts (seq);
