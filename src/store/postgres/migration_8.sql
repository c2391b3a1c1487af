-- hookwire PostgreSQL schema, version 8: flow control (see the crate's
-- `flow` module).
--
-- Settings, from the endpoint: rate_per_second and rate_burst (NULL: no
--   limit); breaker_failures, breaker_cool_down_us, breaker_max_us (NULL
--   failures: no breaker).
-- State: tat, the limiter's theoretical arrival time; paused_until, a
--   receiver's Retry-After; circuit_*, an open circuit (NULL: closed):
--   since when, its cool-down, when the first probe could go, and when the
--   next may (a probe's lease expiry while it is out).
-- gate_at: the latest of the times the gate waits for; the lease statement
--   passes over an endpoint's deliveries while it is in the future.

ALTER TABLE {schema}.endpoints
    ADD COLUMN rate_per_second INTEGER,
    ADD COLUMN rate_burst INTEGER,
    ADD COLUMN breaker_failures INTEGER,
    ADD COLUMN breaker_cool_down_us BIGINT,
    ADD COLUMN breaker_max_us BIGINT,
    ADD COLUMN tat BIGINT,
    ADD COLUMN paused_until BIGINT,
    ADD COLUMN circuit_since BIGINT,
    ADD COLUMN circuit_cool_down_us BIGINT,
    ADD COLUMN circuit_first_probe BIGINT,
    ADD COLUMN circuit_probe_at BIGINT;

ALTER TABLE {schema}.endpoints ADD COLUMN gate_at BIGINT GENERATED ALWAYS AS (
    GREATEST(paused_until, circuit_probe_at,
             tat - (rate_burst - 1)::BIGINT * (1000000 / rate_per_second))
) STORED;

-- An endpoint's deliveries out now, counted by the lease statement for an
-- endpoint with a max_in_flight (across every worker): the leased ones
-- only, so it stays as small as what is in flight.
CREATE INDEX deliveries_leased ON {schema}.deliveries (endpoint_id)
    WHERE lease_token IS NOT NULL AND state = 'pending';

-- Endpoints put before this version keep the default breaker.
UPDATE {schema}.endpoints SET breaker_failures = 10,
    breaker_cool_down_us = 30000000, breaker_max_us = 600000000;
