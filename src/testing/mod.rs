//! Test utilities for hosts and for implementations of hookwire's ports.
//!
//! Enabled by the `test-util` feature. [`ManualClock`](crate::clock::ManualClock)
//! is always available, outside this module.
//!
//! - [`store_conformance`] (and the individual checks in [`store_suite`]):
//!   the behaviour every [`Store`](crate::store::Store) must have, run against
//!   [`InMemoryStore`](crate::store::InMemoryStore) in this crate's tests and
//!   against any other backend by its own tests.

//! - [`MockTransport`]: a scripted [`Transport`](crate::transport::Transport)
//!   that records every request it sees.

mod mock_transport;
pub mod store_suite;

pub use mock_transport::*;
pub use store_suite::store_conformance;

use futures_util::future::join_all;
