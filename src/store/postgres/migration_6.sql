-- hookwire PostgreSQL schema, version 6: Ed25519 (`v1a`) keys and timed
-- rotation.
--
-- endpoints.signing_previous_expires: when each of signing_previous stops
--   signing, Unix microseconds, index for index (NULL, or missing for rows
--   written before version 6: until removed).
-- endpoints.sign_v1a: whether `v1a` entries are sent.
-- endpoints.ed25519_current: the current Ed25519 key's 32-byte seed (NULL:
--   none); ed25519_previous and ed25519_previous_expires as for HMAC.

ALTER TABLE {schema}.endpoints
  ADD COLUMN signing_previous_expires BIGINT[] NOT NULL DEFAULT '{}',
  ADD COLUMN sign_v1a BOOLEAN NOT NULL DEFAULT false,
  ADD COLUMN ed25519_current BYTEA,
  ADD COLUMN ed25519_previous BYTEA[] NOT NULL DEFAULT '{}',
  ADD COLUMN ed25519_previous_expires BIGINT[] NOT NULL DEFAULT '{}';
