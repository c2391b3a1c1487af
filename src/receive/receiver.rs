//! [`Receiver`]: verify, parse, deduplicate, framework-free.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use serde::de::DeserializeOwned;

use super::dedupe::{DedupeError, DedupeStore, DEFAULT_DEDUPE_TTL};
use super::memory::{MemoryDedupe, DEFAULT_DEDUPE_CAPACITY};
use super::rejection::Rejection;
use crate::signature::{Verified, Verifier};

/// What to do with a delivery whose dedupe key was seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Duplicates {
    /// Answer `200` at once, without running the handler (the default): the
    /// sender records the delivery as delivered.
    #[default]
    Answer,
    /// Hand it to the handler, marked ([`Received::duplicate`]).
    Deliver,
}

/// A verified, parsed, deduplicated delivery.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Received<T> {
    /// The body, parsed.
    pub payload: T,
    /// What the signature proved: the dedupe key, the signed id and time.
    pub verified: Verified,
    /// Whether its dedupe key had been seen before; only ever `true` with
    /// [`Duplicates::Deliver`].
    pub duplicate: bool,
}

/// A receiving setting that cannot work, refused by [`ReceiverBuilder::build`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiverError {
    /// The dedupe store forgets keys before the verifier stops accepting
    /// their replays.
    #[error(
        "the dedupe store keeps keys {ttl:?}, but the verifier accepts a replay for {window:?}: \
         keep keys at least that long"
    )]
    DedupeWindowTooShort {
        /// The store's TTL.
        ttl: Duration,
        /// [`Verifier::replay_window`].
        window: Duration,
    },
}

/// Receives signed webhooks: the body size, the signature and timestamp
/// ([`Verifier`]), the typed parse, and deduplication on
/// [`Verified::dedupe_key`] through a [`DedupeStore`].
///
/// The adapters take it from the server's state (axum's `FromRef`, a tower
/// layer's constructor); [`receive`](Self::receive) serves any other server.
/// Cheap to clone (shared).
///
/// # Examples
///
/// ```
/// use hookwire::clock::ManualClock;
/// use hookwire::http::HeaderMap;
/// use hookwire::id::DeliveryId;
/// use hookwire::receive::{Receiver, Rejection};
/// use hookwire::signature::{Schemes, Signer, SigningSecret, Verifier};
///
/// # futures::executor::block_on(async {
/// let secret = SigningSecret::generate();
/// let verifier = Verifier::new(secret.clone()).with_clock(ManualClock::at_unix(1_700_000_000));
/// let receiver = Receiver::new(verifier);
///
/// let body = br#"{"action":"startExperience","timestamp":1700000000000}"#;
/// let mut headers = HeaderMap::new();
/// Signer::new(secret).sign_into(&mut headers, Schemes::BOTH, &DeliveryId::generate(), 1_700_000_000, body);
///
/// let received = receiver.receive::<serde_json::Value>(&headers, body).await.unwrap();
/// assert_eq!(received.payload["action"], "startExperience");
/// // The same delivery again: answered 200 without reaching the handler.
/// let again = receiver.receive::<serde_json::Value>(&headers, body).await.unwrap_err();
/// assert!(matches!(again, Rejection::Duplicate { .. }));
/// assert_eq!(again.status(), 200);
/// # });
/// ```
#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Inner>,
}

struct Inner {
    verifier: Verifier,
    dedupe: Option<Arc<dyn DedupeStore>>,
    duplicates: Duplicates,
}

impl Receiver {
    /// A receiver over `verifier`, deduplicating in a [`MemoryDedupe`] of
    /// [`DEFAULT_DEDUPE_CAPACITY`] keys kept as long as the verifier accepts
    /// a replay (at least [`DEFAULT_DEDUPE_TTL`]), answering duplicates `200`.
    pub fn new(verifier: Verifier) -> Self {
        let store = default_store(&verifier);
        Self::from_parts(verifier, Some(store), Duplicates::Answer)
    }

    /// A receiver with another dedupe store, or other settings.
    pub fn builder(verifier: Verifier) -> ReceiverBuilder {
        ReceiverBuilder {
            verifier,
            dedupe: None,
            no_dedupe: false,
            duplicates: Duplicates::Answer,
        }
    }

    fn from_parts(
        verifier: Verifier,
        dedupe: Option<Arc<dyn DedupeStore>>,
        duplicates: Duplicates,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                verifier,
                dedupe,
                duplicates,
            }),
        }
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    /// The largest body accepted: [`Verifier::max_body_size`].
    pub fn max_body_size(&self) -> usize {
        self.inner.verifier.max_body_size()
    }

    /// Verifies `body` against `headers`, parses it as `T` and checks its
    /// dedupe key.
    ///
    /// # Errors
    ///
    /// A [`Rejection`], each with its [`status`](Rejection::status): the
    /// verifier's error, [`Rejection::Dedupe`] (503) when the store cannot
    /// answer, [`Rejection::Duplicate`] (200) for a delivery seen before
    /// (with [`Duplicates::Answer`]).
    pub async fn receive<T: DeserializeOwned>(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Received<T>, Rejection> {
        let (verified, payload) = self
            .inner
            .verifier
            .verify_json::<T>(headers, body)
            .map_err(Rejection::Verify)?;
        let duplicate = match &self.inner.dedupe {
            Some(store) => store
                .seen_before(&verified.dedupe_key)
                .await
                .map_err(Rejection::Dedupe)?,
            None => false,
        };
        if duplicate && self.inner.duplicates == Duplicates::Answer {
            return Err(Rejection::Duplicate {
                verified: Box::new(verified),
            });
        }
        Ok(Received {
            payload,
            verified,
            duplicate,
        })
    }

    /// Forgets a dedupe key, so that the sender's next attempt is handled
    /// again: call it when handling an accepted delivery failed (and you
    /// answer an error, so the sender retries).
    ///
    /// # Errors
    ///
    /// [`DedupeError`] when the store cannot answer.
    pub async fn forget(&self, dedupe_key: &str) -> Result<(), DedupeError> {
        match &self.inner.dedupe {
            Some(store) => store.forget(dedupe_key).await,
            None => Ok(()),
        }
    }

    /// What the adapters do when the handler answered an error for a
    /// delivery they recorded: forget its key so that the retry is handled.
    /// If the store cannot forget, the retry will be answered as a
    /// duplicate: a warning under the `tracing` feature says so.
    #[cfg(any(feature = "axum", feature = "tower"))]
    pub(crate) async fn forget_failed(&self, dedupe_key: &str) {
        if let Err(e) = self.forget(dedupe_key).await {
            #[cfg(feature = "tracing")]
            tracing::warn!(
                error = %e,
                "the dedupe store could not forget a failed delivery: its retry will be answered as a duplicate"
            );
            #[cfg(not(feature = "tracing"))]
            let _ = e;
        }
    }
}

/// A [`MemoryDedupe`] keeping keys as long as `verifier` accepts a replay,
/// and at least [`DEFAULT_DEDUPE_TTL`].
fn default_store(verifier: &Verifier) -> Arc<dyn DedupeStore> {
    let ttl = verifier
        .replay_window()
        .unwrap_or(DEFAULT_DEDUPE_TTL)
        .max(DEFAULT_DEDUPE_TTL);
    Arc::new(MemoryDedupe::with_limits(DEFAULT_DEDUPE_CAPACITY, ttl))
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("verifier", &self.inner.verifier)
            .field("dedupe", &self.inner.dedupe)
            .field("duplicates", &self.inner.duplicates)
            .finish()
    }
}

/// Builds a [`Receiver`] with another dedupe store or duplicate handling.
///
/// # Examples
///
/// ```
/// use hookwire::receive::{Duplicates, MemoryDedupe, Receiver, ReceiverError};
/// use hookwire::signature::{SigningSecret, Verifier};
/// use std::time::Duration;
///
/// let verifier = Verifier::new(SigningSecret::generate());
/// let receiver = Receiver::builder(verifier.clone())
///     .dedupe(MemoryDedupe::with_limits(10_000, Duration::from_secs(7 * 3600)))
///     .duplicates(Duplicates::Deliver)
///     .build()?;
///
/// // A store that forgets keys while the verifier still accepts their replays.
/// let short = Receiver::builder(verifier)
///     .dedupe(MemoryDedupe::with_limits(10_000, Duration::from_secs(60)))
///     .build();
/// assert!(matches!(short, Err(ReceiverError::DedupeWindowTooShort { .. })));
/// # Ok::<(), ReceiverError>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct ReceiverBuilder {
    verifier: Verifier,
    dedupe: Option<Arc<dyn DedupeStore>>,
    no_dedupe: bool,
    duplicates: Duplicates,
}

impl ReceiverBuilder {
    /// Deduplicates in `store` (its TTL must cover
    /// [`Verifier::replay_window`]): any [`DedupeStore`], an
    /// `Arc<dyn DedupeStore>` shared with other receivers included.
    pub fn dedupe(mut self, store: impl DedupeStore + 'static) -> Self {
        self.dedupe = Some(Arc::new(store));
        self.no_dedupe = false;
        self
    }

    /// Deduplicates in a store already shared.
    #[deprecated(note = "use `dedupe`, which takes an `Arc<dyn DedupeStore>` too")]
    pub fn shared_dedupe(self, store: Arc<dyn DedupeStore>) -> Self {
        self.dedupe(store)
    }

    /// Does not deduplicate: for handlers that are idempotent themselves.
    pub fn without_dedupe(mut self) -> Self {
        self.dedupe = None;
        self.no_dedupe = true;
        self
    }

    /// What to do with a duplicate (default [`Duplicates::Answer`]).
    pub fn duplicates(mut self, duplicates: Duplicates) -> Self {
        self.duplicates = duplicates;
        self
    }

    /// The receiver.
    ///
    /// # Errors
    ///
    /// [`ReceiverError::DedupeWindowTooShort`] if the store forgets keys
    /// before the verifier stops accepting their replays.
    pub fn build(self) -> Result<Receiver, ReceiverError> {
        if self.no_dedupe {
            return Ok(Receiver::from_parts(self.verifier, None, self.duplicates));
        }
        let store = match self.dedupe {
            Some(store) => store,
            None => default_store(&self.verifier),
        };
        if let Some(window) = self.verifier.replay_window() {
            if store.ttl() < window {
                return Err(ReceiverError::DedupeWindowTooShort {
                    ttl: store.ttl(),
                    window,
                });
            }
        }
        Ok(Receiver::from_parts(
            self.verifier,
            Some(store),
            self.duplicates,
        ))
    }
}
