//! The PostgreSQL store (cargo feature `postgres`).
//!
//! [`PgStore`] keeps endpoints, events, deliveries, attempts, the journey
//! ledger and skips in one schema of a PostgreSQL database (10 or newer, for
//! identity columns; tested on 15), so deliveries survive a restart and any
//! number of workers, on any number of machines, share them.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::{
    AttemptRecord, AttemptResult, Claim, Delivery, DeliveryFilter, DeliveryState, Finish,
    FinishReport, Lease, Leased, NewDelivery, NewEvent, NextState, SkipRecord, Store, StoreError,
    StoreErrorKind,
};
use crate::endpoint::{Endpoint, EndpointUrl, EventFilter, Signing};
use crate::id::{DeliveryId, EndpointId, EventId};
use crate::signature::{Schemes, Signer, SigningSecret};
use crate::transport::TransportErrorKind;

pub use deadpool_postgres;
pub use tokio_postgres;

/// The versioned migrations, oldest first: `(version, SQL)`, with `{schema}`
/// standing for the quoted schema name.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("postgres/schema.sql")),
    (2, include_str!("postgres/migration_2.sql")),
    (3, include_str!("postgres/migration_3.sql")),
];

/// The schema [`PgStore::new`] uses.
pub const DEFAULT_SCHEMA: &str = "hookwire";

/// A [`Store`] in PostgreSQL: durable, shared by every worker on every machine
/// that connects to the same database and schema.
///
/// Built over a [`deadpool_postgres::Pool`] the host supplies (or one
/// [`connect`](Self::connect) makes). Call [`migrate`](Self::migrate) once at
/// start-up (it is idempotent and safe when many processes start at once), or
/// apply [`schema_sql`](Self::schema_sql) with your own migrator.
///
/// # How it works
///
/// - Each event's payload is stored once (`events`), whatever its number of
///   deliveries; a leased batch shares one [`Bytes`] per event.
/// - [`lease_due`](Store::lease_due) is one statement: it picks due pending
///   deliveries to enabled endpoints with `FOR UPDATE SKIP LOCKED`, so
///   concurrent workers never wait on each other nor take the same delivery,
///   and stamps each with a token from a database sequence (unique across
///   processes) and an expiry computed from the `now` it is given (the
///   dispatcher's clock, never SQL `now()`). A worker that crashes holds its
///   deliveries only until their lease runs out.
/// - [`finish_attempt`](Store::finish_attempt) is one statement too: it checks
///   the token, appends the attempt, moves the delivery and keeps the
///   endpoint's dead-in-a-row count. The endpoint's row is written only when
///   that count changes, so successes to one endpoint do not queue on its row.
///   [`finish_attempts`](Store::finish_attempts) runs a batch of them in one
///   transaction, pipelined on one connection (one commit per batch).
/// - Nothing is removed unless asked: [`prune_succeeded`](Store::prune_succeeded)
///   (or [`Worker::prune_succeeded_after`](crate::worker::Worker::prune_succeeded_after))
///   deletes old succeeded deliveries with their attempts and orphaned events,
///   oldest first, by an index on when they finished (schema version 2).
/// - [`claim_once`](Store::claim_once) relies on the ledger's primary key:
///   concurrent claims from any number of processes store one delivery.
/// - Times are stored as microseconds since the Unix epoch.
///
/// Its behaviour matches [`InMemoryStore`](crate::store::InMemoryStore)'s
/// (both pass the conformance suite), except that skips are never dropped (prune
/// the `skips` table yourself) and leasing scans past pending deliveries to
/// disabled or unknown endpoints instead of parking them aside.
///
/// # Security
///
/// Endpoint signing secrets and header values (API keys included) are stored
/// in the database **in the clear**: restrict who can read the schema.
///
/// # Examples
///
/// ```no_run
/// use hookwire::store::PgStore;
///
/// # async fn run() -> Result<(), hookwire::store::StoreError> {
/// let store = PgStore::connect("postgres://postgres@127.0.0.1:5432/app", 16)?
///     .with_schema("webhooks")?;
/// store.migrate().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub struct PgStore {
    pool: Pool,
    schema: String,
    sql: std::sync::Arc<Sql>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .field("pool_size", &status.size)
            .field("pool_max_size", &status.max_size)
            .finish()
    }
}

impl PgStore {
    /// A store over `pool`, in the schema [`DEFAULT_SCHEMA`] (`hookwire`).
    pub fn new(pool: Pool) -> Self {
        Self::build(pool, DEFAULT_SCHEMA.to_owned())
    }

    /// A store over a new pool of at most `max_connections` connections
    /// (without TLS) to the database at `url` (`postgres://user@host:port/db`
    /// or a key-value connection string). Connections are opened on demand.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::Other`] if `url` is not a valid connection string.
    pub fn connect(url: &str, max_connections: usize) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::new(StoreErrorKind::Other, e))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections.max(1))
            .build()
            .map_err(|e| StoreError::new(StoreErrorKind::Other, e))?;
        Ok(Self::new(pool))
    }

    /// The same store in schema `name` instead: a lowercase letter or `_`
    /// followed by lowercase letters, digits and `_`, at most 63 bytes.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::Other`] if `name` is not such a name.
    pub fn with_schema(self, name: &str) -> Result<Self, StoreError> {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(StoreError::new(
                StoreErrorKind::Other,
                format!("invalid schema name {name:?}: use [a-z_][a-z0-9_]*, at most 63 bytes"),
            ));
        }
        Ok(Self::build(self.pool, name.to_owned()))
    }

    fn build(pool: Pool, schema: String) -> Self {
        let sql = std::sync::Arc::new(Sql::new(&quote(&schema)));
        Self { pool, schema, sql }
    }

    /// The connection pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The schema's name.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The latest schema version [`migrate`](Self::migrate) applies.
    pub const SCHEMA_VERSION: i32 = 3;

    /// The full schema (every migration in order) for schema `schema`, for
    /// hosts applying migrations with their own tool. The schema name is used
    /// as given, double-quoted. A schema created this way is not known to
    /// [`migrate`](Self::migrate), which would try to create it again: use one
    /// or the other (or record the versions in `<schema>.hookwire_migrations`).
    pub fn schema_sql(schema: &str) -> String {
        Self::migrations(schema)
            .into_iter()
            .map(|(_, sql)| sql)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every migration, oldest first, as `(version, SQL)` for schema `schema`.
    /// [`migrate`](Self::migrate) records the versions it applied in
    /// `<schema>.hookwire_migrations`.
    pub fn migrations(schema: &str) -> Vec<(i32, String)> {
        let quoted = quote(schema);
        MIGRATIONS
            .iter()
            .map(|(v, sql)| (*v, sql.replace("{schema}", &quoted)))
            .collect()
    }

    /// Creates the schema and applies the migrations it lacks, in one
    /// transaction under an advisory lock: idempotent, and safe when several
    /// processes start at once.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::Unavailable`] if the database cannot be reached, or
    /// another kind if a migration fails (nothing is applied then).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let quoted = quote(&self.schema);
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('hookwire migrate ' || $1::text))",
            &[&self.schema],
        )
        .await
        .map_err(db_error)?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {quoted};
             CREATE TABLE IF NOT EXISTS {quoted}.hookwire_migrations (
                 version INTEGER PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             );"
        ))
        .await
        .map_err(db_error)?;
        let applied: Vec<i32> = tx
            .query(
                &format!("SELECT version FROM {quoted}.hookwire_migrations"),
                &[],
            )
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(corrupt)?;
        for (version, sql) in Self::migrations(&self.schema) {
            if applied.contains(&version) {
                continue;
            }
            tx.batch_execute(&sql).await.map_err(db_error)?;
            tx.execute(
                &format!("INSERT INTO {quoted}.hookwire_migrations (version) VALUES ($1)"),
                &[&version],
            )
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::new(StoreErrorKind::Unavailable, e))
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(db_error)?;
        client.query(&stmt, params).await.map_err(db_error)
    }

    async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(db_error)?;
        client.execute(&stmt, params).await.map_err(db_error)
    }
}

/// Every statement, with the schema name filled in once.
#[derive(Debug)]
struct Sql {
    put_endpoint: String,
    endpoint: String,
    endpoints: String,
    set_enabled: String,
    insert_event: String,
    claim: String,
    claimed: String,
    record_skip: String,
    skips: String,
    lease: String,
    finish: String,
    release: String,
    delivery: String,
    attempts: String,
    deliveries: String,
    prune: String,
    redeliver: String,
}

const ENDPOINT_COLUMNS: &str = "id, url, method, events, signing_current, \
     signing_previous, sign_hex, sign_standard, headers, enabled, description";

const DELIVERY_COLUMNS: &str = "d.id, d.event_id, ev.kind, ev.payload, d.endpoint_id, d.url, \
     d.state, d.attempts, d.next_attempt_at, ev.created_at";

impl Sql {
    fn new(s: &str) -> Self {
        Self {
            put_endpoint: format!(
                "INSERT INTO {s}.endpoints ({ENDPOINT_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (id) DO UPDATE SET
                   url = EXCLUDED.url,
                   method = EXCLUDED.method, events = EXCLUDED.events,
                   signing_current = EXCLUDED.signing_current,
                   signing_previous = EXCLUDED.signing_previous,
                   sign_hex = EXCLUDED.sign_hex, sign_standard = EXCLUDED.sign_standard,
                   headers = EXCLUDED.headers, enabled = EXCLUDED.enabled,
                   description = EXCLUDED.description"
            ),
            endpoint: format!("SELECT {ENDPOINT_COLUMNS} FROM {s}.endpoints WHERE id = $1"),
            endpoints: format!("SELECT {ENDPOINT_COLUMNS} FROM {s}.endpoints ORDER BY id"),
            set_enabled: format!(
                "UPDATE {s}.endpoints SET enabled = $2,
                   dead_in_a_row = CASE WHEN $2 THEN 0 ELSE dead_in_a_row END
                 WHERE id = $1"
            ),
            // One statement: atomic, one round trip. A duplicate delivery id
            // aborts all of it.
            insert_event: format!(
                "WITH ev AS (
                   INSERT INTO {s}.events (id, kind, payload, created_at)
                   VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING RETURNING id
                 ), dl AS (
                   INSERT INTO {s}.deliveries
                     (id, event_id, endpoint_id, url, state, next_attempt_at, available_at)
                   SELECT n.id, ev.id, n.endpoint_id, n.url, 'pending', n.due_at, n.due_at
                   FROM ev, unnest($5::text[], $6::text[], $7::text[], $8::bigint[])
                     WITH ORDINALITY AS n(id, endpoint_id, url, due_at, ord)
                   ORDER BY n.ord
                   RETURNING 1
                 )
                 SELECT (SELECT count(*) FROM ev) AS inserted, (SELECT count(*) FROM dl) AS deliveries"
            ),
            claim: format!(
                "WITH l AS (
                   INSERT INTO {s}.ledger (key, delivery_id) VALUES ($1, $2)
                   ON CONFLICT (key) DO NOTHING RETURNING delivery_id
                 ), ev AS (
                   INSERT INTO {s}.events (id, kind, payload, created_at)
                   SELECT $3, $4, $5, $6 FROM l RETURNING id
                 ), dl AS (
                   INSERT INTO {s}.deliveries
                     (id, event_id, endpoint_id, url, state, next_attempt_at, available_at)
                   SELECT $2, ev.id, $7, $8, 'pending', $9, $9 FROM ev
                   RETURNING 1
                 )
                 SELECT (SELECT count(*) FROM l) + (SELECT count(*) FROM dl) AS inserted"
            ),
            claimed: format!("SELECT delivery_id FROM {s}.ledger WHERE key = $1"),
            record_skip: format!("INSERT INTO {s}.skips (key, reason, at) VALUES ($1, $2, $3)"),
            skips: format!("SELECT key, reason, at FROM {s}.skips ORDER BY seq DESC LIMIT $1"),
            lease: format!(
                "WITH due AS (
                   SELECT d.seq, d.available_at AS was
                   FROM {s}.deliveries d JOIN {s}.endpoints e ON e.id = d.endpoint_id
                   WHERE d.state = 'pending' AND d.available_at <= $1 AND e.enabled
                   ORDER BY d.available_at, d.seq
                   LIMIT $2
                   FOR UPDATE OF d SKIP LOCKED
                 ), upd AS (
                   UPDATE {s}.deliveries d
                   SET lease_token = nextval('{s}.lease_tokens'),
                       lease_expires_at = $3, available_at = $3
                   FROM due WHERE d.seq = due.seq
                   RETURNING d.seq, d.id, d.event_id, d.endpoint_id, d.url, d.state,
                     d.attempts, d.next_attempt_at, d.lease_token
                 )
                 SELECT d.id, d.event_id, ev.kind, ev.payload, d.endpoint_id, d.url,
                   d.state, d.attempts, d.next_attempt_at, ev.created_at, d.lease_token
                 FROM upd d JOIN due ON due.seq = d.seq
                   JOIN {s}.events ev ON ev.id = d.event_id
                 ORDER BY due.was, due.seq"
            ),
            // One statement: check the token, append the attempt, move the
            // delivery, count dead deliveries in a row. The endpoint's row is
            // only written when its count changes.
            finish: format!(
                "WITH d AS (
                   UPDATE {s}.deliveries SET
                     attempts = attempts + 1,
                     state = $3,
                     next_attempt_at = COALESCE($4, next_attempt_at),
                     available_at = COALESCE($4, next_attempt_at),
                     finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE $6::BIGINT + $7::BIGINT END,
                     lease_token = NULL, lease_expires_at = NULL
                   WHERE id = $1 AND lease_token = $2 AND state = 'pending'
                   RETURNING seq, endpoint_id
                 ), a AS (
                   INSERT INTO {s}.attempts
                     (delivery_seq, attempt, started_at, duration_us, status, body, error)
                   SELECT seq, $5, $6, $7, $8, $9, $10 FROM d
                 ), e AS (
                   UPDATE {s}.endpoints ep
                   SET dead_in_a_row = CASE WHEN $3 = 'dead' THEN ep.dead_in_a_row + 1 ELSE 0 END
                   FROM d
                   WHERE ep.id = d.endpoint_id
                     AND ($3 = 'dead' OR ($3 = 'succeeded' AND ep.dead_in_a_row <> 0))
                   RETURNING ep.dead_in_a_row
                 )
                 SELECT EXISTS (SELECT 1 FROM d) AS found,
                   COALESCE(
                     (SELECT dead_in_a_row FROM e),
                     CASE WHEN $3 = 'succeeded' THEN 0 ELSE
                       (SELECT ep.dead_in_a_row FROM {s}.endpoints ep JOIN d ON ep.id = d.endpoint_id)
                     END,
                     0) AS dead"
            ),
            release: format!(
                "UPDATE {s}.deliveries
                 SET lease_token = NULL, lease_expires_at = NULL, available_at = next_attempt_at
                 WHERE id = $1 AND lease_token = $2 AND state = 'pending'"
            ),
            delivery: format!(
                "SELECT {DELIVERY_COLUMNS}
                 FROM {s}.deliveries d JOIN {s}.events ev ON ev.id = d.event_id
                 WHERE d.id = $1"
            ),
            attempts: format!(
                "SELECT a.attempt, a.started_at, a.duration_us, a.status, a.body, a.error
                 FROM {s}.attempts a JOIN {s}.deliveries d ON d.seq = a.delivery_seq
                 WHERE d.id = $1
                 ORDER BY a.seq"
            ),
            deliveries: format!(
                "SELECT {DELIVERY_COLUMNS}
                 FROM {s}.deliveries d JOIN {s}.events ev ON ev.id = d.event_id
                 WHERE ($1::text IS NULL OR d.state = $1)
                   AND ($2::text IS NULL OR d.endpoint_id = $2)
                   AND ($3::text IS NULL OR d.event_id = $3)
                 ORDER BY d.seq
                 LIMIT $4"
            ),
            // Oldest finished first; attempts go with their delivery, and an
            // event with its last delivery. The ledger is never pruned.
            prune: format!(
                "WITH gone AS (
                   DELETE FROM {s}.deliveries WHERE seq IN (
                     SELECT seq FROM {s}.deliveries
                     WHERE state = 'succeeded' AND finished_at < $1
                     ORDER BY finished_at, seq
                     LIMIT $2
                     FOR UPDATE SKIP LOCKED)
                   RETURNING seq, event_id
                 ), a AS (
                   DELETE FROM {s}.attempts WHERE delivery_seq IN (SELECT seq FROM gone)
                 ), ev AS (
                   DELETE FROM {s}.events e
                   WHERE e.id IN (SELECT event_id FROM gone)
                     AND NOT EXISTS (
                       SELECT 1 FROM {s}.deliveries d
                       WHERE d.event_id = e.id AND d.seq NOT IN (SELECT seq FROM gone))
                 )
                 SELECT count(*) FROM gone"
            ),
            redeliver: format!(
                "UPDATE {s}.deliveries
                 SET state = 'pending', attempts = 0, next_attempt_at = $2, available_at = $2,
                   lease_token = NULL, lease_expires_at = NULL, finished_at = NULL
                 WHERE id = $1 AND state = 'dead'"
            ),
        }
    }
}

// ------------------------------------------------------------ conversions

/// `"name"`, for a name [`PgStore::with_schema`] accepted (or any other: inner
/// quotes are doubled).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn db_error(e: tokio_postgres::Error) -> StoreError {
    let kind = match e.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => StoreErrorKind::Conflict,
        Some(code) => {
            let c = code.code();
            if c.starts_with("08")
                || c.starts_with("53")
                || c.starts_with("57P")
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
            {
                StoreErrorKind::Unavailable
            } else {
                StoreErrorKind::Other
            }
        }
        // No SQL state: the connection failed or closed.
        None => StoreErrorKind::Unavailable,
    };
    StoreError::new(kind, e)
}

fn corrupt(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::new(StoreErrorKind::Corrupt, e)
}

fn micros(t: SystemTime) -> i64 {
    crate::clock::unix_micros(t)
}

fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn time(m: i64) -> Result<SystemTime, StoreError> {
    crate::clock::from_unix_micros(m).ok_or_else(|| corrupt(format!("time {m} µs is out of range")))
}

/// An error of the same kind, its causes kept as text (`StoreError` is not
/// `Clone`: its source is boxed).
fn copy_error(e: Option<&StoreError>) -> StoreError {
    let Some(e) = e else {
        return StoreError::from_kind(StoreErrorKind::Other);
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    if causes.is_empty() {
        StoreError::from_kind(e.kind())
    } else {
        StoreError::new(e.kind(), causes.join(": "))
    }
}

/// The same failure for each of `n` entries.
fn fail_all(n: usize, e: &StoreError) -> Vec<Result<FinishReport, StoreError>> {
    (0..n).map(|_| Err(copy_error(Some(e)))).collect()
}

/// Records one attempt with the prepared `finish` statement on `client`.
async fn finish_on(
    client: &impl tokio_postgres::GenericClient,
    stmt: &tokio_postgres::Statement,
    lease: &Lease,
    attempt: &AttemptRecord,
    next: NextState,
) -> Result<FinishReport, StoreError> {
    let Ok(token) = i64::try_from(lease.token) else {
        return Err(lease_lost());
    };
    let (state, next_at) = state_of(next);
    let (status, body, error) = match &attempt.result {
        AttemptResult::Response { status, body } => {
            (Some(i32::from(*status)), Some(body.as_ref()), None)
        }
        AttemptResult::Error(kind) => (None, None, Some(kind.as_str())),
    };
    let rows = client
        .query(
            stmt,
            &[
                &lease.delivery_id.as_str(),
                &token,
                &state,
                &next_at,
                &i64::from(attempt.attempt),
                &micros(attempt.started_at),
                &duration_micros(attempt.duration),
                &status,
                &body,
                &error,
            ],
        )
        .await
        .map_err(db_error)?;
    let row = rows
        .first()
        .ok_or_else(|| corrupt("finish_attempt returned no row"))?;
    let found: bool = get(row, 0)?;
    if !found {
        return Err(lease_lost());
    }
    let dead: i32 = get(row, 1)?;
    Ok(FinishReport::new(u32::try_from(dead.max(0)).unwrap_or(0)))
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    idx: usize,
) -> Result<T, StoreError> {
    row.try_get(idx).map_err(corrupt)
}

fn count_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn state_of(next: NextState) -> (&'static str, Option<i64>) {
    match next {
        NextState::RetryAt(at) => ("pending", Some(micros(at))),
        NextState::Succeeded => ("succeeded", None),
        NextState::Dead => ("dead", None),
    }
}

/// Decodes `DELIVERY_COLUMNS` (the first ten columns of `row`), sharing one
/// payload per event through `payloads`.
fn delivery_from_row(
    row: &Row,
    payloads: &mut HashMap<String, Bytes>,
) -> Result<Delivery, StoreError> {
    let id: String = get(row, 0)?;
    let event_id: String = get(row, 1)?;
    let payload = match payloads.get(&event_id) {
        Some(p) => p.clone(),
        None => {
            let bytes = Bytes::from(get::<Vec<u8>>(row, 3)?);
            payloads.insert(event_id.clone(), bytes.clone());
            bytes
        }
    };
    let state: String = get(row, 6)?;
    Ok(Delivery {
        id: DeliveryId::new(id).map_err(corrupt)?,
        event_id: EventId::new(event_id).map_err(corrupt)?,
        event_kind: std::sync::Arc::from(get::<&str>(row, 2)?),
        payload,
        endpoint_id: EndpointId::new(get::<String>(row, 4)?).map_err(corrupt)?,
        url: get(row, 5)?,
        state: DeliveryState::from_name(&state)
            .ok_or_else(|| corrupt(format!("unknown delivery state {state:?}")))?,
        attempts: count_u32(get(row, 7)?),
        next_attempt_at: time(get(row, 8)?)?,
        created_at: time(get(row, 9)?)?,
    })
}

fn endpoint_from_row(row: &Row) -> Result<Endpoint, StoreError> {
    let id: String = get(row, 0)?;
    let url: String = get(row, 1)?;
    let method: String = get(row, 2)?;
    let events: Option<Vec<String>> = get(row, 3)?;
    let current: Option<Vec<u8>> = get(row, 4)?;
    let previous: Vec<Vec<u8>> = get(row, 5)?;
    let hex: bool = get(row, 6)?;
    let standard: bool = get(row, 7)?;
    let headers: serde_json::Value = get(row, 8)?;
    let signing = match current {
        None => None,
        Some(current) => {
            let secret = |b: Vec<u8>| {
                SigningSecret::from_bytes(b)
                    .map_err(|e| corrupt(format!("stored signing secret refused: {e}")))
            };
            let mut signer = Signer::new(secret(current)?);
            for p in previous {
                signer = signer.with_previous(secret(p)?);
            }
            Some(Signing::new(signer, Schemes { hex, standard }))
        }
    };
    Ok(Endpoint {
        id: EndpointId::new(id).map_err(corrupt)?,
        url: EndpointUrl::parse(&url).map_err(corrupt)?,
        method: Method::from_bytes(method.as_bytes()).map_err(corrupt)?,
        events: match events {
            None => EventFilter::All,
            Some(kinds) => EventFilter::Only(kinds.into_iter().collect()),
        },
        signing,
        headers: headers_from_json(&headers)?,
        enabled: get(row, 9)?,
        description: get(row, 10)?,
    })
}

fn headers_to_json(headers: &HeaderMap) -> serde_json::Value {
    serde_json::Value::Array(
        headers
            .iter()
            .map(|(name, value)| {
                serde_json::json!([
                    name.as_str(),
                    BASE64.encode(value.as_bytes()),
                    value.is_sensitive()
                ])
            })
            .collect(),
    )
}

fn headers_from_json(json: &serde_json::Value) -> Result<HeaderMap, StoreError> {
    let bad = || corrupt("stored headers are not [[name, base64 value, sensitive], ...]");
    let mut map = HeaderMap::new();
    for entry in json.as_array().ok_or_else(bad)? {
        let (Some(name), Some(value), Some(sensitive)) = (
            entry.get(0).and_then(|v| v.as_str()),
            entry.get(1).and_then(|v| v.as_str()),
            entry.get(2).and_then(|v| v.as_bool()),
        ) else {
            return Err(bad());
        };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(corrupt)?;
        let bytes = BASE64.decode(value).map_err(corrupt)?;
        let mut value = HeaderValue::from_bytes(&bytes).map_err(corrupt)?;
        value.set_sensitive(sensitive);
        map.append(name, value);
    }
    Ok(map)
}

fn attempt_from_row(row: &Row) -> Result<AttemptRecord, StoreError> {
    let status: Option<i32> = get(row, 3)?;
    let body: Option<Vec<u8>> = get(row, 4)?;
    let error: Option<String> = get(row, 5)?;
    let result = match (status, error) {
        (Some(status), None) => AttemptResult::Response {
            status: u16::try_from(status)
                .map_err(|_| corrupt(format!("status {status} out of range")))?,
            body: Bytes::from(body.unwrap_or_default()),
        },
        (None, Some(error)) => AttemptResult::Error(
            TransportErrorKind::from_name(&error)
                .ok_or_else(|| corrupt(format!("unknown transport error {error:?}")))?,
        ),
        _ => return Err(corrupt("an attempt needs a status or an error, not both")),
    };
    let duration: i64 = get(row, 2)?;
    // Not `AttemptRecord::new`'s cut: the body was cut when recorded.
    Ok(AttemptRecord {
        attempt: count_u32(get(row, 0)?),
        started_at: time(get(row, 1)?)?,
        duration: Duration::from_micros(duration.max(0).unsigned_abs()),
        result,
    })
}

fn lease_lost() -> StoreError {
    StoreError::from_kind(StoreErrorKind::LeaseLost)
}

// ------------------------------------------------------------------ Store

#[async_trait]
impl Store for PgStore {
    async fn put_endpoint(&self, endpoint: Endpoint) -> Result<(), StoreError> {
        let events: Option<Vec<&str>> = match &endpoint.events {
            EventFilter::All => None,
            EventFilter::Only(kinds) => Some(kinds.iter().map(String::as_str).collect()),
        };
        let (current, previous, hex, standard) = match &endpoint.signing {
            None => (None, Vec::new(), false, false),
            Some(s) => (
                Some(s.signer.current().expose_bytes()),
                s.signer
                    .previous()
                    .iter()
                    .map(SigningSecret::expose_bytes)
                    .collect(),
                s.schemes.hex,
                s.schemes.standard,
            ),
        };
        let url = endpoint.url.to_string();
        let headers = headers_to_json(&endpoint.headers);
        self.execute(
            &self.sql.put_endpoint,
            &[
                &endpoint.id.as_str(),
                &url,
                &endpoint.method.as_str(),
                &events,
                &current,
                &previous,
                &hex,
                &standard,
                &headers,
                &endpoint.enabled,
                &endpoint.description,
            ],
        )
        .await?;
        Ok(())
    }

    async fn endpoint(&self, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        let rows = self.query(&self.sql.endpoint, &[&id.as_str()]).await?;
        rows.first().map(endpoint_from_row).transpose()
    }

    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let rows = self.query(&self.sql.endpoints, &[]).await?;
        rows.iter().map(endpoint_from_row).collect()
    }

    async fn set_endpoint_enabled(
        &self,
        id: &EndpointId,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        let n = self
            .execute(&self.sql.set_enabled, &[&id.as_str(), &enabled])
            .await?;
        Ok(n > 0)
    }

    async fn insert_event(
        &self,
        event: NewEvent,
        deliveries: Vec<NewDelivery>,
    ) -> Result<bool, StoreError> {
        let ids: Vec<&str> = deliveries.iter().map(|d| d.id.as_str()).collect();
        let endpoints: Vec<&str> = deliveries.iter().map(|d| d.endpoint_id.as_str()).collect();
        let urls: Vec<Option<&str>> = deliveries.iter().map(|d| d.url.as_deref()).collect();
        let due: Vec<i64> = deliveries.iter().map(|d| micros(d.due_at)).collect();
        let rows = self
            .query(
                &self.sql.insert_event,
                &[
                    &event.id.as_str(),
                    &&*event.kind,
                    &event.payload.as_ref(),
                    &micros(event.created_at),
                    &ids,
                    &endpoints,
                    &urls,
                    &due,
                ],
            )
            .await?;
        let inserted: i64 = rows.first().map_or(Ok(0), |r| get(r, 0))?;
        Ok(inserted > 0)
    }

    async fn claim_once(
        &self,
        key: &str,
        event: NewEvent,
        delivery: NewDelivery,
    ) -> Result<Claim, StoreError> {
        let rows = self
            .query(
                &self.sql.claim,
                &[
                    &key,
                    &delivery.id.as_str(),
                    &event.id.as_str(),
                    &&*event.kind,
                    &event.payload.as_ref(),
                    &micros(event.created_at),
                    &delivery.endpoint_id.as_str(),
                    &delivery.url.as_deref(),
                    &micros(delivery.due_at),
                ],
            )
            .await?;
        let inserted: i64 = rows.first().map_or(Ok(0), |r| get(r, 0))?;
        if inserted > 0 {
            return Ok(Claim::Inserted(delivery.id));
        }
        // Claimed before (or concurrently, and that claim has committed): a
        // new statement sees the winner's row.
        let rows = self.query(&self.sql.claimed, &[&key]).await?;
        let Some(row) = rows.first() else {
            // The winner was rolled back after we waited on it: claim again.
            return self.claim_once(key, event, delivery).await;
        };
        let id: String = get(row, 0)?;
        Ok(Claim::Existing(DeliveryId::new(id).map_err(corrupt)?))
    }

    async fn record_skip(&self, skip: SkipRecord) -> Result<(), StoreError> {
        self.execute(
            &self.sql.record_skip,
            &[&skip.key, &skip.reason, &micros(skip.at)],
        )
        .await?;
        Ok(())
    }

    async fn skips(&self, limit_: usize) -> Result<Vec<SkipRecord>, StoreError> {
        if limit_ == 0 {
            return Ok(Vec::new());
        }
        let rows = self.query(&self.sql.skips, &[&limit(limit_)]).await?;
        rows.iter()
            .map(|r| {
                Ok(SkipRecord {
                    key: get(r, 0)?,
                    reason: get(r, 1)?,
                    at: time(get(r, 2)?)?,
                })
            })
            .collect()
    }

    async fn lease_due(
        &self,
        now: SystemTime,
        limit_: usize,
        lease_for: Duration,
    ) -> Result<Vec<Leased>, StoreError> {
        if limit_ == 0 {
            return Ok(Vec::new());
        }
        let now = micros(now);
        let expires = now.saturating_add(duration_micros(lease_for));
        let rows = self
            .query(&self.sql.lease, &[&now, &limit(limit_), &expires])
            .await?;
        let expires_at = time(expires)?;
        let mut payloads = HashMap::new();
        rows.iter()
            .map(|row| {
                let delivery = delivery_from_row(row, &mut payloads)?;
                let token: i64 = get(row, 10)?;
                let token = u64::try_from(token)
                    .map_err(|_| corrupt(format!("negative lease token {token}")))?;
                let lease = Lease::new(delivery.id.clone(), token, expires_at);
                Ok(Leased::new(delivery, lease))
            })
            .collect()
    }

    async fn finish_attempt(
        &self,
        lease: &Lease,
        attempt: AttemptRecord,
        next: NextState,
    ) -> Result<FinishReport, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&self.sql.finish)
            .await
            .map_err(db_error)?;
        finish_on(&**client, &stmt, lease, &attempt, next).await
    }

    /// One connection and one transaction for the batch, its statements
    /// pipelined: the batch waits for about one round trip and one commit
    /// instead of one of each per attempt. If the transaction fails, every
    /// entry in it fails and nothing of it is recorded (the leases then expire
    /// and the deliveries are attempted again). Attempts that end dead are
    /// recorded one by one after it: each updates its endpoint's row, and row
    /// locks held across a batch could deadlock two workers. A success writes
    /// that row only when it resets a non-zero dead-in-a-row count; two such
    /// resets in opposite order can still deadlock, and PostgreSQL then fails
    /// one batch, whose deliveries are attempted again (at least once).
    async fn finish_attempts(&self, batch: Vec<Finish>) -> Vec<Result<FinishReport, StoreError>> {
        if batch.is_empty() {
            return Vec::new();
        }
        let mut client = match self.client().await {
            Ok(client) => client,
            Err(e) => return fail_all(batch.len(), &e),
        };
        let stmt = match client.prepare_cached(&self.sql.finish).await {
            Ok(stmt) => stmt,
            Err(e) => return fail_all(batch.len(), &db_error(e)),
        };
        let mut results: Vec<Option<Result<FinishReport, StoreError>>> =
            batch.iter().map(|_| None).collect();
        let together: Vec<usize> = (0..batch.len())
            .filter(|&i| batch[i].next != NextState::Dead)
            .collect();
        if !together.is_empty() {
            let outcome = async {
                let tx = client.transaction().await.map_err(db_error)?;
                let done = futures_util::future::join_all(together.iter().map(|&i| {
                    let f = &batch[i];
                    finish_on(&*tx, &stmt, &f.lease, &f.attempt, f.next)
                }))
                .await;
                // A lost lease is an answer; any other error aborted the
                // transaction: report it for the whole batch.
                let failed = done
                    .iter()
                    .position(|r| matches!(r, Err(e) if e.kind() != StoreErrorKind::LeaseLost));
                if let Some(at) = failed {
                    return Err(copy_error(done[at].as_ref().err()));
                }
                tx.commit().await.map_err(db_error)?;
                Ok(done)
            }
            .await;
            match outcome {
                Ok(done) => {
                    for (&i, r) in together.iter().zip(done) {
                        results[i] = Some(r);
                    }
                }
                Err(e) => {
                    for &i in &together {
                        results[i] = Some(Err(copy_error(Some(&e))));
                    }
                }
            }
        }
        for (i, f) in batch.iter().enumerate() {
            if results[i].is_none() {
                results[i] = Some(finish_on(&**client, &stmt, &f.lease, &f.attempt, f.next).await);
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(StoreError::from_kind(StoreErrorKind::Other))))
            .collect()
    }

    async fn prune_succeeded(&self, before: SystemTime, max: usize) -> Result<usize, StoreError> {
        if max == 0 {
            return Ok(0);
        }
        let rows = self
            .query(&self.sql.prune, &[&micros(before), &limit(max)])
            .await?;
        let n: i64 = rows
            .first()
            .ok_or_else(|| corrupt("prune returned no row"))
            .and_then(|r| get(r, 0))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let Ok(token) = i64::try_from(lease.token) else {
            return Err(lease_lost());
        };
        let n = self
            .execute(&self.sql.release, &[&lease.delivery_id.as_str(), &token])
            .await?;
        if n == 0 {
            return Err(lease_lost());
        }
        Ok(())
    }

    async fn delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        let rows = self.query(&self.sql.delivery, &[&id.as_str()]).await?;
        let mut payloads = HashMap::new();
        rows.first()
            .map(|r| delivery_from_row(r, &mut payloads))
            .transpose()
    }

    async fn attempts(&self, id: &DeliveryId) -> Result<Vec<AttemptRecord>, StoreError> {
        let rows = self.query(&self.sql.attempts, &[&id.as_str()]).await?;
        rows.iter().map(attempt_from_row).collect()
    }

    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        if filter.limit == 0 {
            return Ok(Vec::new());
        }
        let state = filter.state.map(DeliveryState::as_str);
        let endpoint = filter.endpoint_id.as_ref().map(EndpointId::as_str);
        let event = filter.event_id.as_ref().map(EventId::as_str);
        let rows = self
            .query(
                &self.sql.deliveries,
                &[&state, &endpoint, &event, &limit(filter.limit)],
            )
            .await?;
        let mut payloads = HashMap::new();
        rows.iter()
            .map(|r| delivery_from_row(r, &mut payloads))
            .collect()
    }

    async fn redeliver(&self, id: &DeliveryId, now: SystemTime) -> Result<bool, StoreError> {
        let n = self
            .execute(&self.sql.redeliver, &[&id.as_str(), &micros(now)])
            .await?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copied_error_keeps_its_kind_and_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let original = StoreError::new(StoreErrorKind::Unavailable, io);
        let copy = copy_error(Some(&original));
        assert_eq!(copy.kind(), StoreErrorKind::Unavailable);
        let cause = std::error::Error::source(&copy).map(ToString::to_string);
        assert_eq!(cause.as_deref(), Some("reset by peer"));

        let bare = copy_error(Some(&StoreError::from_kind(StoreErrorKind::LeaseLost)));
        assert_eq!(bare.kind(), StoreErrorKind::LeaseLost);
        assert!(std::error::Error::source(&bare).is_none());
        assert_eq!(copy_error(None).kind(), StoreErrorKind::Other);
    }
}
