//! Retry policy (stub API: implemented in the delivery issue).

use std::fmt;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};

use crate::transport::TransportErrorKind;

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The endpoint answered.
    Response {
        /// Status code.
        status: StatusCode,
        /// The `Retry-After` header, parsed.
        retry_after: Option<Duration>,
    },
    /// No response.
    Error(TransportErrorKind),
}

/// What the policy is told about an attempt that just finished.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AttemptInfo<'a> {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The outcome.
    pub outcome: &'a Outcome,
    /// Now.
    pub now: SystemTime,
    /// A per-(delivery, attempt) seed for deterministic jitter.
    pub jitter_seed: u64,
}

impl<'a> AttemptInfo<'a> {
    /// Builds attempt info.
    pub fn new(attempt: u32, outcome: &'a Outcome, now: SystemTime, jitter_seed: u64) -> Self {
        Self { attempt, outcome, now, jitter_seed }
    }
}

/// The policy's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Done.
    Succeeded,
    /// Try again after this delay.
    RetryIn(Duration),
    /// Stop: dead.
    GiveUp,
    /// Stop and disable the endpoint.
    DisableEndpoint,
}

/// Decides what happens after each attempt.
pub trait RetryPolicy: Send + Sync + fmt::Debug {
    /// The verdict for `info`.
    fn decide(&self, info: &AttemptInfo<'_>) -> Decision;
    /// The timeout of one request.
    fn timeout(&self) -> Duration;
}

/// The default policy (stub).
#[derive(Debug, Clone, Default)]
pub struct Policy;

impl RetryPolicy for Policy {
    fn decide(&self, _info: &AttemptInfo<'_>) -> Decision {
        unimplemented!()
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(10)
    }
}

/// Parses `Retry-After` (seconds or HTTP date) relative to `now` (stub).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let _ = (headers, now);
    None
}
