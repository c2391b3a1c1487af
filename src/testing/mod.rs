//! Test utilities (stub).

mod mock_transport;
pub use mock_transport::*;
