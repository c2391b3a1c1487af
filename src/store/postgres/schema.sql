-- hookwire PostgreSQL schema, version 1.
-- `{schema}` is replaced by the (quoted) schema name. Times are BIGINT
-- microseconds since the Unix epoch, always taken from the dispatcher's clock
-- (never SQL now()). Ids use the "C" collation so they sort byte-wise.

CREATE SCHEMA IF NOT EXISTS {schema};

-- Endpoints. Signing secrets and header values are stored IN THE CLEAR:
-- restrict access to this schema.
CREATE TABLE {schema}.endpoints (
    id               TEXT COLLATE "C" PRIMARY KEY,
    url              TEXT    NOT NULL,
    allow_private    BOOLEAN NOT NULL,
    method           TEXT    NOT NULL,
    -- NULL: every event kind; otherwise the kinds subscribed to.
    events           TEXT[],
    -- NULL: unsigned.
    signing_current  BYTEA,
    signing_previous BYTEA[] NOT NULL DEFAULT '{}',
    sign_hex         BOOLEAN NOT NULL DEFAULT FALSE,
    sign_standard    BOOLEAN NOT NULL DEFAULT FALSE,
    -- [[name, base64 value, sensitive], ...] in order.
    headers          JSONB   NOT NULL DEFAULT '[]',
    enabled          BOOLEAN NOT NULL,
    description      TEXT    NOT NULL DEFAULT '',
    dead_in_a_row    INTEGER NOT NULL DEFAULT 0
);

-- Each payload is stored once per event, whatever its number of deliveries.
CREATE TABLE {schema}.events (
    id         TEXT COLLATE "C" PRIMARY KEY,
    kind       TEXT   NOT NULL,
    payload    BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE {schema}.deliveries (
    -- Creation order (deliveries() lists oldest first) and the join key.
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               TEXT COLLATE "C" NOT NULL UNIQUE,
    event_id         TEXT COLLATE "C" NOT NULL,
    -- No foreign key: deliveries to unknown endpoints are kept, parked.
    endpoint_id      TEXT COLLATE "C" NOT NULL,
    url              TEXT,
    state            TEXT   NOT NULL CHECK (state IN ('pending', 'succeeded', 'dead')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    -- When a pending delivery can next be leased: next_attempt_at, or the
    -- lease's expiry while leased.
    available_at     BIGINT NOT NULL,
    lease_token      BIGINT,
    lease_expires_at BIGINT
);

-- The lease query's index: pending deliveries by when they can be leased.
CREATE INDEX deliveries_due ON {schema}.deliveries (available_at, seq) WHERE state = 'pending';
CREATE INDEX deliveries_event ON {schema}.deliveries (event_id);
CREATE INDEX deliveries_endpoint ON {schema}.deliveries (endpoint_id, seq);

-- Lease tokens: unique across every process sharing the database.
CREATE SEQUENCE {schema}.lease_tokens AS BIGINT;

CREATE TABLE {schema}.attempts (
    delivery_seq BIGINT NOT NULL,
    seq          BIGINT GENERATED ALWAYS AS IDENTITY,
    attempt      BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    duration_us  BIGINT NOT NULL,
    -- A response: status and the first bytes of its body; or a transport error.
    status       INTEGER,
    body         BYTEA,
    error        TEXT,
    PRIMARY KEY (delivery_seq, seq)
);

-- The exactly-once journey ledger: the primary key is the guarantee.
CREATE TABLE {schema}.ledger (
    key         TEXT COLLATE "C" PRIMARY KEY,
    delivery_id TEXT COLLATE "C" NOT NULL
);

CREATE TABLE {schema}.skips (
    seq    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key    TEXT   NOT NULL,
    reason TEXT   NOT NULL,
    at     BIGINT NOT NULL
);
