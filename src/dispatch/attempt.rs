//! Settling one attempt: what the policy makes of its outcome, the delivery's
//! next state, and the record the store keeps.

use std::fmt;
use std::time::SystemTime;

use super::run::AttemptReport;
use super::state::Inner;
use crate::clock::saturating_add;
use crate::endpoint::Gone;
use crate::id::DeliveryId;
use crate::retry::{self, Attempt, Decision, Outcome};
use crate::store::{AttemptRecord, AttemptResult, Finish, Leased, NextState, MAX_RECORDED_BODY};
use crate::transport::{TransportError, WebhookResponse};

/// Why the dispatcher disabled an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisableReason {
    /// It answered 410 Gone.
    Gone,
    /// This many deliveries in a row ended dead.
    DeadInARow(u32),
}

impl fmt::Display for DisableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Gone => f.write_str("endpoint answered 410 gone"),
            Self::DeadInARow(n) => write!(f, "{n} deliveries in a row ended dead"),
        }
    }
}

/// What came back from the transport for one attempt.
pub(super) type Sent = Result<WebhookResponse, TransportError>;

/// Asks the policy about one attempt's outcome: what to record in the store,
/// the attempt's report (not yet marked recorded), and until when the
/// receiver asked to pause the whole endpoint (a `429` or `503` with a
/// `Retry-After`, at most [`MAX_PAUSE`](crate::flow::MAX_PAUSE)). `gone` is
/// what the endpoint says a 404 or 410 means.
pub(super) fn settle(
    inner: &Inner,
    leased: Leased,
    started_at: SystemTime,
    finished_at: SystemTime,
    gone: Gone,
    sent: Sent,
) -> (Finish, AttemptReport, Option<SystemTime>) {
    let Leased { delivery, lease } = leased;
    // The policy counts attempts since the last redelivery; the record's
    // number keeps growing across redeliveries.
    let number = delivery.attempts.saturating_add(1);
    let recorded_number = delivery.attempts_total.saturating_add(1);
    let duration = finished_at.duration_since(started_at).unwrap_or_default();
    let outcome = match &sent {
        Ok(response) => Outcome::Response {
            status: response.status(),
            retry_after: retry::retry_after(response.headers(), finished_at),
        },
        Err(e) => Outcome::Error(e.kind()),
    };
    let pause = match &outcome {
        Outcome::Response {
            status,
            retry_after: Some(wait),
        } if *status == http::StatusCode::TOO_MANY_REQUESTS
            || *status == http::StatusCode::SERVICE_UNAVAILABLE =>
        {
            Some(saturating_add(
                finished_at,
                (*wait).min(crate::flow::MAX_PAUSE),
            ))
        }
        _ => None,
    };
    let seed = jitter_seed(&delivery.id, number);
    let decision = decide(inner, &Attempt::new(number, &outcome, finished_at, seed));
    let decision = match (&outcome, gone) {
        (Outcome::Response { status, .. }, Gone::EndsDelivery | Gone::MeansDelivered)
            if *status == http::StatusCode::NOT_FOUND || *status == http::StatusCode::GONE =>
        {
            if gone == Gone::MeansDelivered {
                Decision::Succeeded
            } else {
                Decision::GiveUp
            }
        }
        _ => decision,
    };
    let next = match decision {
        Decision::Succeeded => NextState::Succeeded,
        // A policy's delay can be anything: never overflow the clock.
        Decision::RetryIn(delay) => NextState::RetryAt(saturating_add(finished_at, delay)),
        _ => NextState::Dead,
    };
    let result = recorded_result(sent);
    let record = AttemptRecord::new(recorded_number, started_at, duration, result.clone());
    (
        Finish::new(lease, record, next),
        AttemptReport {
            delivery_id: delivery.id,
            endpoint_id: delivery.endpoint_id,
            event_kind: delivery.event_kind,
            attempt: recorded_number,
            result,
            duration,
            decision,
            recorded: false,
        },
        pause,
    )
}

/// What the store keeps of what came back: the status and the first
/// [`MAX_RECORDED_BODY`] bytes of the body, or the failure's kind.
pub(super) fn recorded_result(sent: Sent) -> AttemptResult {
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.into_body();
            let keep = body.len().min(MAX_RECORDED_BODY);
            AttemptResult::Response {
                status,
                body: body.slice(..keep),
            }
        }
        Err(e) => AttemptResult::error(e.kind(), e.reason()),
    }
}

/// The policy's decision; a policy that panics is treated as asking for a
/// retry a minute later (at most [`Policy::MAX_ATTEMPTS`](crate::retry::Policy::MAX_ATTEMPTS)
/// attempts in all), so that a bug in it loses no delivery.
fn decide(inner: &Inner, attempt: &Attempt<'_>) -> Decision {
    const FALLBACK_DELAY: std::time::Duration = std::time::Duration::from_secs(60);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        inner.policy.decide(attempt)
    })) {
        Ok(decision) => decision,
        Err(_) if attempt.attempt >= crate::retry::Policy::MAX_ATTEMPTS => Decision::GiveUp,
        Err(_) => Decision::RetryIn(FALLBACK_DELAY),
    }
}

/// A hash of the delivery id and attempt number: deterministic jitter per
/// attempt, the same in every process, no random number generator needed.
/// The id is read eight bytes at a time, each word mixed in by a multiply
/// and a shift (the policy mixes the seed again before using it).
fn jitter_seed(id: &DeliveryId, attempt: u32) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes = id.as_str().as_bytes();
    let mut hash = (bytes.len() as u64 ^ u64::from(attempt) << 32).wrapping_mul(K);
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        hash = (hash ^ u64::from_le_bytes(w)).wrapping_mul(K);
        hash ^= hash >> 29;
    }
    let rest = words.remainder();
    let mut w = [0u8; 8];
    w[..rest.len()].copy_from_slice(rest);
    hash = (hash ^ u64::from_le_bytes(w)).wrapping_mul(K);
    hash ^ (hash >> 32)
}
