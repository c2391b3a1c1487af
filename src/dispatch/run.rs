//! One delivery run: lease what is due, send it with bounded concurrency,
//! record each settled attempt, and report.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, SystemTime};

use futures_util::future::poll_fn;
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::attempt::{self, DisableReason, Sent};
use super::request::RequestTemplate;
use super::state::Inner;
use super::DispatchError;
use crate::id::{DeliveryId, EndpointId};
use crate::retry::Decision;
use crate::store::{AttemptResult, Finish, Lease, Leased, StoreError, StoreErrorKind};
use crate::transport::{SendOptions, TransportError, TransportErrorKind};

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
    /// 1 for the first attempt.
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
    /// Deliveries that ended dead.
    pub dead: usize,
    /// Attempts whose result could not be recorded because another worker
    /// took the delivery over (its lease had expired).
    pub lease_lost: usize,
    /// Store failures while recording; the delivery stays leased until its
    /// lease expires, then is attempted again (at-least-once).
    pub store_errors: usize,
    /// Deliveries handed back unattempted, due again at once: their endpoint
    /// was disabled or removed since leasing, or less of their lease was left
    /// than a request may take (lease fewer at a time, or lease for longer).
    pub released: usize,
    /// Endpoints disabled during this run, and why.
    pub disabled: Vec<(EndpointId, DisableReason)>,
    /// Every attempt, in completion order.
    pub attempts: Vec<AttemptReport>,
}

/// Leases up to `limit` due deliveries and attempts each once; see
/// [`Dispatcher::run_due`](super::Dispatcher::run_due).
pub(super) async fn run_due(inner: &Inner, limit: usize) -> Result<RunReport, DispatchError> {
    let now = inner.clock.now();
    let leased = inner.store().lease_due(now, limit, inner.lease).await?;
    let mut report = RunReport {
        leased: leased.len(),
        attempts: Vec::with_capacity(leased.len()),
        ..RunReport::default()
    };
    if leased.is_empty() {
        return Ok(report);
    }
    // One store read per endpoint per run, not per delivery; each delivery
    // then finds its endpoint by position.
    let mut endpoints: Vec<Option<RequestTemplate>> = Vec::new();
    let mut by_id: HashMap<EndpointId, usize, foldhash::fast::RandomState> = HashMap::default();
    let mut endpoint_of = Vec::with_capacity(leased.len());
    for l in &leased {
        let id = &l.delivery.endpoint_id;
        let at = match by_id.get(id) {
            Some(&at) => at,
            None => {
                let endpoint = inner.store().endpoint(id).await?;
                endpoints.push(
                    endpoint.map(|e| RequestTemplate::new(e, inner.targets, &inner.user_agent)),
                );
                by_id.insert(id.clone(), endpoints.len() - 1);
                endpoints.len() - 1
            }
        };
        endpoint_of.push(at);
    }
    let batch = inner.concurrency.min(report.leased);
    let mut run = Run {
        queue: leased.into_iter().zip(endpoint_of),
        endpoints: &endpoints,
        in_flight: FuturesUnordered::new(),
        batch,
        finishes: Vec::with_capacity(batch),
        attempts: Vec::with_capacity(batch),
        handed_back: Vec::new(),
        options: inner.send_options(),
    };
    // Each turn starts and collects what it can without waiting, then
    // records what completed with one store call.
    loop {
        let finished = poll_fn(|cx| pump(inner, cx, &mut run)).await;
        record(inner, &mut report, &mut run).await;
        if finished {
            break;
        }
    }
    for (id, _) in &report.disabled {
        if inner.store().set_endpoint_enabled(id, false).await.is_err() {
            report.store_errors += 1;
        }
    }
    Ok(report)
}

/// One [`run_due`] call's deliveries, from leased to recorded.
struct Run<'a, 'e> {
    /// Not yet started: each with the position of its endpoint.
    queue: std::iter::Zip<std::vec::IntoIter<Leased>, std::vec::IntoIter<usize>>,
    endpoints: &'e [Option<RequestTemplate>],
    in_flight: FuturesUnordered<InFlight<'a>>,
    /// How many attempts are recorded together (at most).
    batch: usize,
    /// Settled attempts, not yet recorded: what to store, and what to report.
    finishes: Vec<Finish>,
    attempts: Vec<AttemptReport>,
    /// Not attempted, to hand back.
    handed_back: Vec<Lease>,
    options: SendOptions,
}

/// Starts leased deliveries (at most `concurrency` in flight) and collects
/// finished ones, without waiting, until a batch is complete.
///
/// Each request is polled once as soon as it is built: one the transport
/// completes at once (an in-process queue, a mock) never needs a place among
/// the requests in flight; the others join them.
///
/// Ready(true): nothing is left to start or to wait for. Ready(false): a
/// batch (or whatever was ready) waits to be recorded. Pending: every
/// request in flight is waiting, and will wake the task.
fn pump<'a>(inner: &'a Inner, cx: &mut Context<'_>, run: &mut Run<'a, '_>) -> Poll<bool> {
    let batch = run.batch;
    let timeout = inner.policy.timeout();
    loop {
        let mut progressed = false;
        while run.in_flight.len() < inner.concurrency
            && run.finishes.len() + run.handed_back.len() < batch
        {
            let Some((mut leased, at)) = run.queue.next() else {
                break;
            };
            progressed = true;
            // Read when the attempt is about to start (not when leased).
            let started_at = inner.clock.now();
            let template = run.endpoints.get(at).and_then(Option::as_ref);
            // A request must be over before its lease is, or another worker
            // could take the delivery while this one still sends it: with too
            // little lease left, hand it back.
            let in_time = started_at
                .checked_add(timeout)
                .is_some_and(|end| end <= leased.lease.expires_at);
            let template = match template {
                Some(t) if t.endpoint().enabled && in_time => t,
                // Removed or disabled since leasing, or its lease too short.
                _ => {
                    run.handed_back.push(leased.lease);
                    continue;
                }
            };
            let body = std::mem::take(&mut leased.delivery.payload);
            let delivery = &leased.delivery;
            let request = template.request(delivery.url.as_deref(), &delivery.id, body, started_at);
            let mut send = match request {
                Ok(request) => inner.transport().send(request, run.options),
                // A request that cannot be built can never be sent: not retried.
                Err(e) => {
                    let sent = Err(TransportError::new(TransportErrorKind::Rejected, e));
                    complete(inner, run, leased, started_at, sent);
                    continue;
                }
            };
            match send.as_mut().poll(cx) {
                Poll::Ready(sent) => complete(inner, run, leased, started_at, sent),
                Poll::Pending => run.in_flight.push(InFlight {
                    leased: Some(leased),
                    started_at,
                    send,
                }),
            }
        }
        while run.finishes.len() + run.handed_back.len() < batch {
            match run.in_flight.poll_next_unpin(cx) {
                Poll::Ready(Some((leased, started_at, sent))) => {
                    progressed = true;
                    complete(inner, run, leased, started_at, sent);
                }
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        let idle = run.in_flight.is_empty() && run.queue.len() == 0;
        let ready = !run.finishes.is_empty() || !run.handed_back.is_empty();
        if run.finishes.len() + run.handed_back.len() >= batch || (ready && !progressed) {
            return Poll::Ready(idle);
        }
        if idle {
            return Poll::Ready(true);
        }
        if !progressed {
            // Every request in flight returned Pending above, so each has
            // registered this task's waker.
            return Poll::Pending;
        }
    }
}

/// Settles one attempt the moment it completes; it waits in `run` to be
/// recorded with the rest of its batch.
fn complete(
    inner: &Inner,
    run: &mut Run<'_, '_>,
    leased: Leased,
    started_at: SystemTime,
    sent: Sent,
) {
    let finished_at = inner.clock.now();
    let (finish, attempt) = attempt::settle(inner, leased, started_at, finished_at, sent);
    run.finishes.push(finish);
    run.attempts.push(attempt);
}

/// Hands back the deliveries not attempted, then records the settled
/// attempts with one store call.
async fn record(inner: &Inner, report: &mut RunReport, run: &mut Run<'_, '_>) {
    let store = inner.store();
    for lease in run.handed_back.drain(..) {
        // Handed back untouched; it is due again at once.
        let _ = store.release(&lease).await;
        report.released += 1;
    }
    if run.finishes.is_empty() {
        return;
    }
    let batch = std::mem::replace(&mut run.finishes, Vec::with_capacity(run.batch));
    let recorded = store.finish_attempts(batch).await;
    // A store that answers fewer entries than asked recorded nothing for the
    // rest, as far as anyone can tell.
    let recorded = recorded
        .into_iter()
        .map(|r| r.map(|f| f.dead_in_a_row))
        .chain(std::iter::repeat_with(|| {
            Err(StoreError::from_kind(StoreErrorKind::Other))
        }));
    for (mut attempt, stored) in run.attempts.drain(..).zip(recorded) {
        attempt.recorded = stored.is_ok();
        count(inner, report, &attempt, stored);
        report.attempts.push(attempt);
    }
}

/// Adds one attempt's outcome to the run's report.
fn count(
    inner: &Inner,
    report: &mut RunReport,
    attempt: &AttemptReport,
    stored: Result<u32, StoreError>,
) {
    match stored {
        Ok(dead_in_a_row) => match attempt.decision {
            Decision::Succeeded => report.succeeded += 1,
            Decision::RetryIn(_) => report.retried += 1,
            Decision::DisableEndpoint => {
                report.dead += 1;
                report
                    .disabled
                    .push((attempt.endpoint_id.clone(), DisableReason::Gone));
            }
            _ => {
                report.dead += 1;
                if let Some(limit) = inner.disable_after_dead {
                    if dead_in_a_row >= limit
                        && !report
                            .disabled
                            .iter()
                            .any(|(id, _)| *id == attempt.endpoint_id)
                    {
                        report.disabled.push((
                            attempt.endpoint_id.clone(),
                            DisableReason::DeadInARow(dead_in_a_row),
                        ));
                    }
                }
            }
        },
        Err(e) if e.kind() == StoreErrorKind::LeaseLost => report.lease_lost += 1,
        Err(_) => report.store_errors += 1,
    }
}

/// A request the transport did not complete at once.
struct InFlight<'a> {
    leased: Option<Leased>,
    started_at: SystemTime,
    send: Pin<Box<dyn Future<Output = Sent> + Send + 'a>>,
}

impl Future for InFlight<'_> {
    type Output = (Leased, SystemTime, Sent);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let sent = ready!(this.send.as_mut().poll(cx));
        match this.leased.take() {
            Some(leased) => Poll::Ready((leased, this.started_at, sent)),
            // Polled again after completing: a contract breach of the
            // caller's; never resolve twice.
            None => Poll::Pending,
        }
    }
}
