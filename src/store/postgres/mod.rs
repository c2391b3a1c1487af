//! [`PgStore`]: the PostgreSQL store (cargo feature `postgres`); the type's
//! docs say how it works. Its public items are re-exported by the parent
//! module.

mod migrate;
mod rows;
mod sql;
mod store_impl;

use std::fmt;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use self::rows::db_error;
use self::sql::{quote, Sql};
use super::{StoreError, StoreErrorKind};

/// The connection pool a [`PgStore`] runs on ([`PgStore::new`],
/// [`PgStore::pool`]): `deadpool_postgres::Pool`, of the `deadpool-postgres`
/// version hookwire depends on. A host that builds its own pool depends on
/// that version of `deadpool-postgres` (and `tokio-postgres`) too.
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use deadpool_postgres::Pool as PgPool;

/// The schema [`PgStore::new`] uses.
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub const DEFAULT_SCHEMA: &str = "hookwire";

/// A [`Store`](crate::store::Store) in PostgreSQL (cargo feature `postgres`):
/// durable, shared by every worker on every machine that connects to the same
/// database and schema.
///
/// It keeps endpoints, events, deliveries, attempts, the journey ledger and
/// skips in one schema of a PostgreSQL database (10 or newer, for identity
/// columns; tested on 15), so deliveries survive a restart and any number of
/// workers, on any number of machines, share them.
///
/// Built over a [`PgPool`] the host supplies (or one
/// [`connect`](Self::connect) makes). Call [`migrate`](Self::migrate) once at
/// start-up (it is idempotent and safe when many processes start at once), or
/// apply [`schema_sql`](Self::schema_sql) with your own migrator.
///
/// # How it works
///
/// - Each event's payload is stored once (`events`), whatever its number of
///   deliveries; a leased batch shares one [`Bytes`](bytes::Bytes) per event.
/// - [`lease`](crate::store::Store::lease) is one statement: it picks due
///   pending deliveries to enabled or missing endpoints, earliest first by the
///   `deliveries_due` index, with `FOR UPDATE SKIP LOCKED`, so
///   concurrent workers never wait on each other nor take the same delivery,
///   and stamps each with a token from a database sequence (unique across
///   processes) and an expiry computed from the `now` it is given (the
///   dispatcher's clock, never SQL `now()`). A worker that crashes holds its
///   deliveries only until their lease runs out.
/// - [`finish_attempt`](crate::store::Store::finish_attempt) is one statement
///   too: it checks the token, appends the attempt, moves the delivery and keeps the
///   endpoint's row current: its dead-in-a-row count and its health (last
///   attempt, last success, failures in a row; schema version 5). Attempts to
///   one endpoint therefore take turns on its row, each for the length of its
///   transaction.
///   [`finish_attempts`](crate::store::Store::finish_attempts) runs a batch of
///   them in one transaction, pipelined on one connection (one commit per
///   batch), after locking the batch's endpoint rows in id order.
/// - [`endpoint_health`](crate::store::Store::endpoint_health) and
///   [`endpoints_health`](crate::store::Store::endpoints_health) are one
///   statement each: the endpoint rows, and their deliveries counted by state
///   through the `deliveries_endpoint` index (the count reads each of an
///   endpoint's kept deliveries).
/// - Listings page by keyset: [`deliveries`](crate::store::Store::deliveries)
///   by the deliveries' `seq` (the primary key, or `deliveries_endpoint` for
///   one endpoint), [`list_attempts`](crate::store::Store::list_attempts) by
///   the attempts' `seq` (`attempts_seq`), either way; a
///   [`Cursor`](crate::store::Cursor) is that `seq`.
/// - Nothing is removed unless asked:
///   [`prune_succeeded`](crate::store::Store::prune_succeeded) (or
///   [`Worker::prune_succeeded_after`](crate::worker::Worker::prune_succeeded_after))
///   deletes old succeeded deliveries with their attempts and orphaned events,
///   oldest first, by an index on when they finished (schema version 2).
/// - [`claim_once`](crate::store::Store::claim_once) relies on the ledger's
///   primary key: concurrent claims from any number of processes store one delivery.
/// - Times are stored as microseconds since the Unix epoch.
///
/// Its behaviour matches [`InMemoryStore`](crate::store::InMemoryStore)'s
/// (both pass the conformance suite), except that skips are never dropped (prune
/// the `skips` table yourself), and that leasing and
/// [`next_due`](crate::store::Store::next_due) read past the due deliveries of
/// disabled endpoints and of the endpoints a lease skips
/// ([`LeaseRequest::skip`](crate::store::LeaseRequest::skip)) where the
/// in-memory store never reads them: a lease reads its `limit` deliveries
/// plus those it passes over (about 5 ms for a skipped backlog of 20,000
/// due first, against about 1 ms with none).
/// [`delete_endpoint`](crate::store::Store::delete_endpoint) reads the
/// endpoint's deliveries, finished ones included, by the `endpoint_id` index.
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
    /// Whether an endpoint has a `max_in_flight`, as last read, and when
    /// (Unix µs of a lease's `now`): such endpoints are leased apart.
    capped: std::sync::Arc<Capped>,
}

/// See [`PgStore::capped`].
#[derive(Debug, Default)]
struct Capped {
    present: std::sync::atomic::AtomicBool,
    read_at: std::sync::atomic::AtomicI64,
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
    /// System schemas are refused: `information_schema`, `pg_catalog` and
    /// every name starting with `pg_` (PostgreSQL reserves them: `pg_temp`,
    /// `pg_toast`, ...), and `public`, which other applications share; a
    /// host that really wants hookwire's tables in `public` says so with
    /// [`with_public_schema`](Self::with_public_schema).
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::Other`] if `name` is not such a name, or names a
    /// system schema or `public`.
    ///
    /// ```no_run
    /// # fn f(store: hookwire::store::PgStore) {
    /// let err = store.with_schema("information_schema").unwrap_err();
    /// let why = std::error::Error::source(&err).unwrap().to_string();
    /// assert!(why.contains("system schema"));
    /// # }
    /// ```
    pub fn with_schema(self, name: &str) -> Result<Self, StoreError> {
        if name == "public" {
            return Err(StoreError::new(
                StoreErrorKind::Other,
                "schema \"public\" is shared with other applications: use with_public_schema() to put hookwire's tables there on purpose",
            ));
        }
        if name == "information_schema" || name.starts_with("pg_") {
            return Err(StoreError::new(
                StoreErrorKind::Other,
                format!("schema {name:?} is a PostgreSQL system schema: choose a schema of hookwire's own"),
            ));
        }
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

    /// The same store in the `public` schema, chosen on purpose (its tables
    /// then sit beside other applications' tables).
    pub fn with_public_schema(self) -> Self {
        Self::build(self.pool, "public".to_owned())
    }

    fn build(pool: Pool, schema: String) -> Self {
        let sql = std::sync::Arc::new(Sql::new(&quote(&schema)));
        Self {
            pool,
            schema,
            sql,
            capped: std::sync::Arc::default(),
        }
    }

    /// The connection pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The schema's name.
    pub fn schema(&self) -> &str {
        &self.schema
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
