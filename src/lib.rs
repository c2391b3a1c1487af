//! hookwire: typed, signed, retried outbound webhooks.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod clock;
pub mod dispatch;
pub mod endpoint;
pub mod id;
pub mod model;
pub mod retry;
pub mod signature;
pub mod store;
pub mod template;
pub mod transport;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod worker;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use bytes;
pub use http;
