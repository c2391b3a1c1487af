//! The dedupe port: has this signed delivery been seen before?

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::signature::{DEFAULT_BODY_TOLERANCE, DEFAULT_TOLERANCE};

/// How long a dedupe store remembers a key by default: 6 hours 5 minutes,
/// as long as a default [`Verifier`](crate::signature::Verifier) accepts a
/// replay of the same body ([`Verifier::replay_window`](crate::signature::Verifier::replay_window)),
/// which also covers hookwire's retry horizon.
pub const DEFAULT_DEDUPE_TTL: Duration = DEFAULT_BODY_TOLERANCE.saturating_add(DEFAULT_TOLERANCE);

/// Remembers the [`dedupe_key`](crate::signature::Verified::dedupe_key)s of
/// deliveries already accepted, each for [`ttl`](Self::ttl).
///
/// Keys are only ever the verified, signed key: the adapters call
/// [`seen_before`](Self::seen_before) after the signature checked, never with
/// an unsigned header. Asynchronous because a shared store (Redis) is across
/// the network. [`MemoryDedupe`](super::MemoryDedupe) serves one process,
/// `RedisDedupe` (feature `redis`) many machines.
///
/// # Examples
///
/// ```
/// use hookwire::receive::{DedupeStore, MemoryDedupe};
///
/// # futures::executor::block_on(async {
/// let store = MemoryDedupe::new();
/// assert_eq!(store.seen_before("sha256_ab").await, Ok(false)); // recorded now
/// assert_eq!(store.seen_before("sha256_ab").await, Ok(true)); // a redelivery
/// store.forget("sha256_ab").await?;
/// assert_eq!(store.seen_before("sha256_ab").await, Ok(false));
/// # Ok::<(), hookwire::receive::DedupeError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait DedupeStore: Send + Sync + fmt::Debug {
    /// Records `key` and answers whether it was already recorded (and not yet
    /// expired), in one atomic step: of two concurrent calls with one key,
    /// exactly one answers `false`.
    ///
    /// # Errors
    ///
    /// [`DedupeError`] when the store cannot answer; a receiver answers 503
    /// then (the sender retries), never 200.
    async fn seen_before(&self, key: &str) -> Result<bool, DedupeError>;

    /// Forgets `key`, so that a redelivery is handled again: for a handler
    /// that failed after the key was recorded.
    ///
    /// # Errors
    ///
    /// [`DedupeError`] when the store cannot answer.
    async fn forget(&self, key: &str) -> Result<(), DedupeError>;

    /// How long a key is remembered.
    fn ttl(&self) -> Duration;
}

/// A shared store is a store: one `Arc<dyn DedupeStore>` can serve many
/// receivers.
#[async_trait]
impl<S: DedupeStore + ?Sized> DedupeStore for std::sync::Arc<S> {
    async fn seen_before(&self, key: &str) -> Result<bool, DedupeError> {
        (**self).seen_before(key).await
    }

    async fn forget(&self, key: &str) -> Result<(), DedupeError> {
        (**self).forget(key).await
    }

    fn ttl(&self) -> Duration {
        (**self).ttl()
    }
}

/// Why a dedupe store could not answer. A receiver answers 503.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DedupeError {
    /// Every slot holds a key younger than the TTL: forgetting one early
    /// would let its replay through, so new deliveries wait (503).
    #[error("dedupe store full: {capacity} keys younger than their ttl")]
    Full {
        /// The store's capacity, in keys.
        capacity: usize,
    },
    /// The store could not be reached, or did not answer in time.
    #[error("dedupe store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl PartialEq for DedupeError {
    /// Equal when of the same kind (and capacity); sources are not compared.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Full { capacity: a }, Self::Full { capacity: b }) => a == b,
            (Self::Unavailable(_), Self::Unavailable(_)) => true,
            _ => false,
        }
    }
}
