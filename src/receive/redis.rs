//! [`RedisDedupe`]: one dedupe store shared by receivers on many machines.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::dedupe::{DedupeError, DedupeStore, DEFAULT_DEDUPE_TTL};

/// How long one Redis call (connecting included) may take by default: 2 s.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// A dedupe store in Redis (feature `redis`): `SET <prefix><key> 1 NX PX <ttl>`,
/// atomic across every receiver sharing the server.
///
/// The connection (a `redis` [`ConnectionManager`], which reconnects by
/// itself) is opened on first use, so a receiver starts while Redis is down
/// and answers 503 until it is back; every call is bounded by a timeout
/// ([`DEFAULT_REDIS_TIMEOUT`]). A failed call is [`DedupeError::Unavailable`]:
/// never a guess that the key is new. `Debug` never shows the URL (it may
/// hold a password).
///
/// # Examples
///
/// ```no_run
/// use hookwire::receive::{DedupeStore, RedisDedupe};
///
/// # async fn f() -> Result<(), hookwire::receive::DedupeError> {
/// let store = RedisDedupe::open("redis://127.0.0.1:6379/")?.with_prefix("orders:webhooks:");
/// assert!(!store.seen_before("sha256_ab").await?);
/// assert!(store.seen_before("sha256_ab").await?);
/// # Ok(()) }
/// ```
pub struct RedisDedupe {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    prefix: String,
    ttl: Duration,
    timeout: Duration,
}

impl RedisDedupe {
    /// A store on the server at `url` (`redis://host:port/db`), keys prefixed
    /// `hookwire:dedupe:`, kept [`DEFAULT_DEDUPE_TTL`]. Does not connect yet.
    ///
    /// # Errors
    ///
    /// [`DedupeError::Unavailable`] if `url` is not a Redis URL.
    pub fn open(url: &str) -> Result<Self, DedupeError> {
        let client = redis::Client::open(url).map_err(|e| DedupeError::Unavailable(Box::new(e)))?;
        Ok(Self::new(client))
    }

    /// A store over `client`; see [`open`](Self::open).
    pub fn new(client: redis::Client) -> Self {
        Self {
            client,
            connection: OnceCell::new(),
            prefix: "hookwire:dedupe:".to_owned(),
            ttl: DEFAULT_DEDUPE_TTL,
            timeout: DEFAULT_REDIS_TIMEOUT,
        }
    }

    /// The prefix of every key written (several receivers with distinct
    /// secrets on one server keep distinct prefixes).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a key is kept (at least 1 ms).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// How long one call, connecting included, may take.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn connection(&self) -> Result<ConnectionManager, DedupeError> {
        let connect = || async {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(self.timeout)
                .set_response_timeout(self.timeout)
                .set_number_of_retries(1);
            ConnectionManager::new_with_config(self.client.clone(), config)
                .await
                .map_err(unavailable)
        };
        self.connection.get_or_try_init(connect).await.cloned()
    }

    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, DedupeError>>,
    ) -> Result<T, DedupeError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(elapsed) => Err(DedupeError::Unavailable(Box::new(elapsed))),
        }
    }
}

fn unavailable(e: redis::RedisError) -> DedupeError {
    DedupeError::Unavailable(Box::new(e))
}

#[async_trait]
impl DedupeStore for RedisDedupe {
    async fn seen_before(&self, key: &str) -> Result<bool, DedupeError> {
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        self.bounded(async {
            let mut connection = self.connection().await?;
            // `OK` when set (new), nil when the key already existed.
            let set: Option<String> = redis::cmd("SET")
                .arg(format!("{}{key}", self.prefix))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms)
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            Ok(set.is_none())
        })
        .await
    }

    async fn forget(&self, key: &str) -> Result<(), DedupeError> {
        self.bounded(async {
            let mut connection = self.connection().await?;
            let _: i64 = redis::cmd("DEL")
                .arg(format!("{}{key}", self.prefix))
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    fn ttl(&self) -> Duration {
        self.ttl
    }
}

impl fmt::Debug for RedisDedupe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisDedupe")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .field("timeout", &self.timeout)
            .field("connected", &self.connection.initialized())
            .finish_non_exhaustive()
    }
}
