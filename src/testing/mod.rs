//! Test utilities for hosts and for implementations of hookwire's ports.
//!
//! Enabled by the `test-util` feature. [`ManualClock`](crate::clock::ManualClock)
//! is always available, outside this module.
//!
//! - [`store_conformance`] (and the individual checks in [`store_suite`]):
//!   the behaviour every [`Store`](crate::store::Store) must have, run against
//!   [`InMemoryStore`](crate::store::InMemoryStore) in this crate's tests and
//!   against any other backend by its own tests.

pub mod store_suite;

pub use store_suite::store_conformance;

#[cfg(not(feature = "test-util"))]
use futures::future::join_all;
#[cfg(feature = "test-util")]
use futures_util::future::join_all;
