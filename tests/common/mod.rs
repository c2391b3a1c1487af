//! Shared test helpers: a fixed start time and a ready-made endpoint. The
//! scripted transport is `hookwire::testing::MockTransport`.
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookwire::endpoint::Endpoint;

pub const T0: u64 = 1_771_515_000;

pub fn t(secs_after_t0: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + secs_after_t0)
}

pub fn endpoint(id: &str) -> Endpoint {
    Endpoint::builder(id, format!("https://hooks.example.com/{id}"))
        .build()
        .unwrap()
}
