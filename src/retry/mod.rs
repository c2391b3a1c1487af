//! Retry policy: what happens after each delivery attempt.
//!
//! A retry policy is a plain value with one question to answer: *this attempt
//! just finished like this; what now?* It does no I/O, never sleeps and keeps no
//! state between calls (`&self`): the attempt number comes from the store, so a
//! decision survives a restart, and the answer is data ([`Decision`]), not a
//! future. The dispatcher turns [`Decision::RetryIn`] into a due time and lets
//! the store hold the delivery until then.
//!
//! [`Policy`] is the configurable policy shipped with the crate;
//! [`RetryPolicy`] is the trait to implement for anything else.
//!
//! # The default policy
//!
//! [`Policy::default()`] gives **5 attempts in all**, a **10 s
//! timeout** per request, only **2xx** counts as success, and the delays between
//! attempts grow:
//!
//! | attempt | starts (nominal, counted from the first attempt) | if it fails |
//! |---|---|---|
//! | 1 | 0 | retry in 5 s |
//! | 2 | 5 s | retry in 5 min |
//! | 3 | 5 min 5 s | retry in 30 min |
//! | 4 | 35 min 5 s | retry in 2 h |
//! | 5 | 2 h 35 min 5 s | give up |
//!
//! Each nominal delay gets **±20 % jitter** (see [`Policy::with_jitter`]),
//! derived deterministically from [`Attempt::jitter_seed`]. A
//! `Retry-After` header can lengthen a delay up to a **1 h cap**
//! ([`Policy::with_retry_after_cap`]), never shorten it.
//!
//! [`Policy::standard_webhooks()`] is the Standard Webhooks example schedule
//! (10 attempts over about 75 h) and [`Policy::custom`] takes any list of delays.
//!
//! # Classification
//!
//! [`classify`] sorts an [`Outcome`] into a [`Class`]; [`Policy`] maps it as follows:
//!
//! | outcome | class | decision |
//! |---|---|---|
//! | 2xx | [`Class::Success`] | [`Decision::Succeeded`] |
//! | 410 Gone | [`Class::Gone`] | [`Decision::DisableEndpoint`] (or retried like any failure, see [`Policy::with_disable_on_gone`]) |
//! | 429, 502, 503, 504, [`Timeout`](TransportErrorKind::Timeout) | [`Class::Overloaded`] | retry (with the optional overload floor, [`Policy::with_overload_min_delay`]) |
//! | 1xx, 3xx (redirects are never followed), other 4xx and 5xx; [`Connect`](TransportErrorKind::Connect), [`Interrupted`](TransportErrorKind::Interrupted), [`Other`](TransportErrorKind::Other) | [`Class::Failed`] | retry |
//! | [`Rejected`](TransportErrorKind::Rejected) (refused before sending) | [`Class::Fatal`] | [`Decision::GiveUp`] |
//!
//! "Retry" means [`Decision::RetryIn`] while attempts remain and
//! [`Decision::GiveUp`] once the last attempt has failed.
//!
//! # Examples
//!
//! ```
//! use hookwire::retry::{Attempt, Decision, Outcome, Policy, RetryPolicy};
//! use hookwire::http::StatusCode;
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! let policy = Policy::default().with_jitter(0.0)?;
//! let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let failed = Outcome::Response { status: StatusCode::SERVICE_UNAVAILABLE, retry_after: None };
//!
//! // The first attempt failed: try again in 5 s.
//! let info = Attempt::new(1, &failed, now, 42);
//! assert_eq!(policy.decide(&info), Decision::RetryIn(Duration::from_secs(5)));
//!
//! // The fifth (last) attempt failed: give up.
//! let info = Attempt::new(5, &failed, now, 42);
//! assert_eq!(policy.decide(&info), Decision::GiveUp);
//!
//! // 410 Gone disables the endpoint.
//! let gone = Outcome::Response { status: StatusCode::GONE, retry_after: None };
//! assert_eq!(policy.decide(&Attempt::new(1, &gone, now, 42)), Decision::DisableEndpoint);
//! # Ok::<(), hookwire::retry::InvalidPolicy>(())
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::transport::TransportErrorKind;

mod classify;
mod policy;
mod retry_after;

pub use classify::{classify, Class};
pub use policy::{InvalidPolicy, Policy};
pub use retry_after::{retry_after, RETRY_AFTER_MAX};

/// How an attempt ended, as the policy judges it: a status and its
/// `Retry-After`, or the kind of transport failure.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The endpoint answered.
    Response {
        /// Status code.
        status: StatusCode,
        /// The `Retry-After` header, parsed with [`retry_after()`].
        retry_after: Option<Duration>,
    },
    /// No response.
    Error(TransportErrorKind),
}

impl Outcome {
    /// A response with `status` and no `Retry-After`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::retry::Outcome;
    /// use hookwire::http::StatusCode;
    ///
    /// let outcome = Outcome::status(StatusCode::OK);
    /// assert_eq!(outcome, Outcome::Response { status: StatusCode::OK, retry_after: None });
    /// ```
    pub fn status(status: StatusCode) -> Self {
        Self::Response {
            status,
            retry_after: None,
        }
    }

    /// The outcome of a received response: its status and its `Retry-After`
    /// header, parsed with [`retry_after()`] relative to `now`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::retry::Outcome;
    /// use std::time::{Duration, UNIX_EPOCH};
    ///
    /// let response = http::Response::builder()
    ///     .status(429)
    ///     .header("retry-after", "30")
    ///     .body(())
    ///     .unwrap();
    /// let outcome = Outcome::from_response(&response, UNIX_EPOCH);
    /// assert_eq!(outcome.retry_after(), Some(Duration::from_secs(30)));
    /// ```
    pub fn from_response<B>(response: &http::Response<B>, now: SystemTime) -> Self {
        Self::Response {
            status: response.status(),
            retry_after: retry_after(response.headers(), now),
        }
    }

    /// The `Retry-After` delay the endpoint asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Response { retry_after, .. } => *retry_after,
            Self::Error(_) => None,
        }
    }
}

/// What the policy is told about an attempt that just finished: the
/// policy's view of an attempt. (The store records
/// [`AttemptRecord`](crate::store::AttemptRecord)s; a run reports
/// [`AttemptReport`](crate::dispatch::AttemptReport)s.)
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Attempt<'a> {
    /// The number of the attempt that just finished: 1 for the first attempt
    /// since the delivery was created or last redelivered (a redelivery
    /// gives it a fresh allowance). (0 is treated as 1.)
    pub attempt: u32,
    /// The outcome.
    pub outcome: &'a Outcome,
    /// Now.
    pub now: SystemTime,
    /// A per-(delivery, attempt) seed for deterministic jitter: the same seed
    /// always yields the same delay.
    pub jitter_seed: u64,
}

impl<'a> Attempt<'a> {
    /// Builds attempt info.
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::retry::{Attempt, Outcome};
    /// use hookwire::http::StatusCode;
    /// use std::time::UNIX_EPOCH;
    ///
    /// let outcome = Outcome::status(StatusCode::OK);
    /// let info = Attempt::new(1, &outcome, UNIX_EPOCH, 7);
    /// assert_eq!(info.attempt, 1);
    /// ```
    pub fn new(attempt: u32, outcome: &'a Outcome, now: SystemTime, jitter_seed: u64) -> Self {
        Self {
            attempt,
            outcome,
            now,
            jitter_seed,
        }
    }
}

/// The policy's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Delivered: done.
    Succeeded,
    /// Try again after this delay (already jittered and adjusted for
    /// `Retry-After`).
    RetryIn(Duration),
    /// Stop: the failure is permanent or the attempts are used up.
    GiveUp,
    /// Stop and disable the endpoint (410 Gone).
    DisableEndpoint,
}

/// Decides what happens after each attempt.
///
/// Implementations must be stateless (`&self`) and pure: the same
/// [`Attempt`] always gets the same [`Decision`].
///
/// # Examples
///
/// A policy that never retries:
///
/// ```
/// use hookwire::retry::{classify, Attempt, Class, Decision, RetryPolicy};
/// use std::time::Duration;
///
/// #[derive(Debug)]
/// struct OneShot;
///
/// impl RetryPolicy for OneShot {
///     fn decide(&self, info: &Attempt<'_>) -> Decision {
///         match classify(info.outcome) {
///             Class::Success => Decision::Succeeded,
///             _ => Decision::GiveUp,
///         }
///     }
///     fn timeout(&self) -> Duration {
///         Duration::from_secs(5)
///     }
/// }
/// ```
pub trait RetryPolicy: Send + Sync + fmt::Debug {
    /// The verdict for `info`.
    fn decide(&self, info: &Attempt<'_>) -> Decision;
    /// The timeout of one request.
    fn timeout(&self) -> Duration;
}

impl<P: RetryPolicy + ?Sized> RetryPolicy for Arc<P> {
    fn decide(&self, info: &Attempt<'_>) -> Decision {
        (**self).decide(info)
    }
    fn timeout(&self) -> Duration {
        (**self).timeout()
    }
}

impl<P: RetryPolicy + ?Sized> RetryPolicy for Box<P> {
    fn decide(&self, info: &Attempt<'_>) -> Decision {
        (**self).decide(info)
    }
    fn timeout(&self) -> Duration {
        (**self).timeout()
    }
}

impl<P: RetryPolicy + ?Sized> RetryPolicy for &P {
    fn decide(&self, info: &Attempt<'_>) -> Decision {
        (**self).decide(info)
    }
    fn timeout(&self) -> Duration {
        (**self).timeout()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn _obj_safe(_: &dyn RetryPolicy) {}

    #[test]
    fn forwarding_impls_agree() {
        let outcome = Outcome::status(StatusCode::INTERNAL_SERVER_ERROR);
        let info = Attempt::new(2, &outcome, UNIX_EPOCH, 9);
        let policy = Policy::default();
        let expected = policy.decide(&info);
        let arc: Arc<dyn RetryPolicy> = Arc::new(policy.clone());
        let boxed: Box<dyn RetryPolicy> = Box::new(policy.clone());
        assert_eq!(arc.decide(&info), expected);
        assert_eq!(boxed.decide(&info), expected);
        fn through<P: RetryPolicy>(policy: P, info: &Attempt<'_>) -> Decision {
            policy.decide(info)
        }
        assert_eq!(through(&policy, &info), expected);
        assert_eq!(arc.timeout(), Duration::from_secs(10));
        assert_eq!(boxed.timeout(), Duration::from_secs(10));
        _obj_safe(&policy);
    }

    #[test]
    fn outcome_from_response() {
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let response = http::Response::builder()
            .status(503)
            .header("retry-after", "Wed, 21 Oct 2015 07:28:20 GMT")
            .body(())
            .unwrap();
        assert_eq!(
            Outcome::from_response(&response, now),
            Outcome::Response {
                status: StatusCode::SERVICE_UNAVAILABLE,
                retry_after: Some(Duration::from_secs(20)),
            }
        );
        let plain = http::Response::new(());
        assert_eq!(
            Outcome::from_response(&plain, now),
            Outcome::status(StatusCode::OK)
        );
    }

    #[test]
    fn outcome_helpers() {
        let outcome = Outcome::Response {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(outcome.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(
            Outcome::Error(TransportErrorKind::Timeout).retry_after(),
            None
        );
    }

    #[test]
    fn types_are_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Policy>();
        assert_send_sync::<InvalidPolicy>();
        assert_send_sync::<Decision>();
    }
}
