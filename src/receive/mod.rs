//! Receiving webhooks: verify, parse, deduplicate, then the handler.
//!
//! [`Receiver`] holds the [`Verifier`](crate::signature::Verifier), a
//! [`DedupeStore`] and what to do with duplicates; the adapters are thin
//! layers over [`Receiver::receive`]:
//!
//! | server | adapter | feature |
//! |---|---|---|
//! | axum 0.8 | `axum::Webhook<T>`, an extractor taking the `Receiver` from state | `axum` |
//! | any tower-based server (hyper, tonic, ...) | `tower::WebhookLayer`: the verified bytes passed on, [`Verified`](crate::signature::Verified) in the request's extensions | `tower` |
//! | anything else | [`Receiver::receive`] with the headers and the raw body, [`Rejection::to_response`] | |
//!
//! Every path answers the same way: 413 for a body over the limit (not read
//! to its end), 401 for a signature or timestamp that fails, 400 for a signed
//! body that is not the expected JSON, 503 when the dedupe store cannot
//! answer (the sender retries), 200 for a duplicate without running the
//! handler. Response bodies carry the status's reason only.
//!
//! Dedupe stores: [`MemoryDedupe`] (one process, bounded in size and time)
//! and `RedisDedupe` (feature `redis`, shared by many machines). Keys are
//! kept at least as long as the verifier accepts a replay
//! ([`Verifier::replay_window`](crate::signature::Verifier::replay_window)):
//! [`ReceiverBuilder::build`] refuses a store that forgets sooner.
//!
//! # Examples
//!
//! ```
//! use hookwire::receive::{MemoryDedupe, Receiver};
//! use hookwire::signature::{SigningSecret, Verifier};
//!
//! let verifier = Verifier::new(SigningSecret::from_raw_str("shared-secret").unwrap());
//! let receiver = Receiver::builder(verifier).dedupe(MemoryDedupe::new()).build()?;
//! # let _ = receiver;
//! # Ok::<(), hookwire::receive::ReceiverError>(())
//! ```

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
#[cfg(any(feature = "axum", feature = "tower"))]
mod body;
mod dedupe;
mod memory;
mod receiver;
#[cfg(feature = "redis")]
mod redis;
mod rejection;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{RedisDedupe, DEFAULT_REDIS_TIMEOUT};
pub use dedupe::{DedupeError, DedupeStore, DEFAULT_DEDUPE_TTL};
pub use memory::{MemoryDedupe, DEFAULT_DEDUPE_CAPACITY};
pub use receiver::{Duplicates, Received, Receiver, ReceiverBuilder, ReceiverError};
pub use rejection::Rejection;
