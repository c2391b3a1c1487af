//! One delivery run and its report: what [`Dispatcher::run_due`](super::Dispatcher::run_due)
//! did, attempt by attempt.

use std::sync::Arc;
use std::time::Duration;

use super::attempt::DisableReason;
use super::engine::{self, Mode};
use super::state::Inner;
use super::DispatchError;
use crate::id::{DeliveryId, EndpointId};
use crate::retry::Decision;
use crate::store::AttemptResult;
use crate::transport::TransportErrorKind;

/// One attempt made by [`Dispatcher::run_due`](super::Dispatcher::run_due):
/// the host's view of an attempt. (The policy saw it as a
/// [`retry::Attempt`](crate::retry::Attempt); the store keeps an
/// [`AttemptRecord`](crate::store::AttemptRecord).)
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttemptReport {
    /// The delivery.
    pub delivery_id: DeliveryId,
    /// Its endpoint.
    pub endpoint_id: EndpointId,
    /// The event kind.
    pub event_kind: Arc<str>,
    /// Its number, as recorded ([`AttemptRecord::attempt`](crate::store::AttemptRecord::attempt)):
    /// 1 for the delivery's first attempt, growing across redeliveries.
    pub attempt: u32,
    /// What came back.
    pub result: AttemptResult,
    /// How long the exchange took.
    pub duration: Duration,
    /// What the policy decided.
    pub decision: Decision,
    /// Whether the store accepted the record (`false`: the lease was lost to
    /// another worker, or the store failed; see [`RunReport`]).
    pub recorded: bool,
}

impl AttemptReport {
    /// Whether the transport panicked on this attempt (the dispatcher caught
    /// it and recorded a [`TransportErrorKind::Panicked`] failure).
    pub fn panicked(&self) -> bool {
        matches!(
            self.result,
            AttemptResult::Error {
                kind: TransportErrorKind::Panicked,
                ..
            }
        )
    }
}

/// What one [`Dispatcher::run_due`](super::Dispatcher::run_due) call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunReport {
    /// Deliveries leased.
    pub leased: usize,
    /// Attempts that succeeded.
    pub succeeded: usize,
    /// Attempts that failed and were scheduled again.
    pub retried: usize,
    /// Deliveries that ended dead (after an attempt, or abandoned).
    pub dead: usize,
    /// Attempts whose result could not be recorded because another worker
    /// took the delivery over (its lease had expired).
    pub lease_lost: usize,
    /// Store failures while recording; the delivery stays leased until its
    /// lease expires, then is attempted again (at-least-once).
    pub store_errors: usize,
    /// Deliveries handed back unattempted, due again at once: their endpoint
    /// was disabled since leasing, held as many in flight as it may, or less
    /// of their lease was left than a request may take.
    pub released: usize,
    /// Deliveries handed back unattempted until later, with a reason: their
    /// endpoint could not be read (see [`Delivery::reason`](crate::store::Delivery::reason)).
    pub deferred: usize,
    /// Deliveries ended dead unattempted: their endpoint no longer exists
    /// (reason `endpoint deleted`). Counted in `dead` too.
    pub abandoned: usize,
    /// Endpoints disabled during this run, and why.
    pub disabled: Vec<(EndpointId, DisableReason)>,
    /// Endpoints whose circuit opened or closed during this run (see
    /// [`crate::flow`]), in the order the store reported it.
    pub circuits: Vec<(EndpointId, crate::flow::CircuitChange)>,
    /// Endpoints a receiver asked to pause (`429` or `503` with
    /// `Retry-After`), and until when.
    pub paused: Vec<(EndpointId, std::time::SystemTime)>,
    /// Every attempt, in completion order.
    pub attempts: Vec<AttemptReport>,
}

/// What [`Dispatcher::run_until_idle`](super::Dispatcher::run_until_idle) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdleReport {
    /// How many `run_due` runs it made.
    pub runs: usize,
    /// Whether it reached idle: nothing was due before the given time when
    /// it stopped. `false`: it stopped at its bound of runs, or the next due
    /// time lies ahead on a clock that cannot jump ([`next_due`](Self::next_due)).
    pub idle: bool,
    /// The next time something is due, as the store last said (`None`:
    /// nothing pending, or the store does not say).
    pub next_due: Option<std::time::SystemTime>,
    /// Every run's counts and attempts, added up.
    pub total: RunReport,
}

impl RunReport {
    /// Adds `other`'s counts and attempts to this report.
    fn absorb(&mut self, other: RunReport) {
        self.leased += other.leased;
        self.succeeded += other.succeeded;
        self.retried += other.retried;
        self.dead += other.dead;
        self.lease_lost += other.lease_lost;
        self.store_errors += other.store_errors;
        self.released += other.released;
        self.deferred += other.deferred;
        self.abandoned += other.abandoned;
        self.disabled.extend(other.disabled);
        self.circuits.extend(other.circuits);
        self.paused.extend(other.paused);
        self.attempts.extend(other.attempts);
    }
}

/// Runs until nothing is due before `before`, at most `max_runs` runs; see
/// [`Dispatcher::run_until_idle`](super::Dispatcher::run_until_idle).
pub(super) async fn run_until_idle(
    inner: &Inner,
    before: std::time::SystemTime,
    max_runs: usize,
) -> Result<IdleReport, DispatchError> {
    // Enough for a lease call's worth of work, not so much that one run
    // holds leases for long.
    let batch = inner.concurrency.saturating_mul(4).max(64);
    let mut report = IdleReport::default();
    while report.runs < max_runs {
        let run = run_due(inner, batch).await?;
        report.runs += 1;
        let leased = run.leased;
        report.total.absorb(run);
        if leased > 0 {
            continue;
        }
        let now = inner.clock.now();
        report.next_due = inner.store().next_due(now).await?;
        match report.next_due {
            Some(t) if t < before => {
                // Due now but not leased (its endpoint at its share): run
                // again; due later: jump there if the clock can.
                if t > now && !inner.clock.jump_to(t) {
                    return Ok(report);
                }
            }
            _ => {
                report.idle = true;
                return Ok(report);
            }
        }
    }
    Ok(report)
}

/// Leases up to `limit` due deliveries and attempts each once; see
/// [`Dispatcher::run_due`](super::Dispatcher::run_due).
pub(super) async fn run_due(inner: &Inner, limit: usize) -> Result<RunReport, DispatchError> {
    Ok(engine::run(inner, Mode::Once { limit }).await?)
}
