//! The delivery engine: lease, start, settle, record, as one continuous flow.
//!
//! One engine drives both [`Dispatcher::run_due`](super::Dispatcher::run_due)
//! (lease once, attempt each delivery once, record, return) and a worker's
//! loop (keep up to `concurrency` requests in flight, lease more as slots
//! free, record each attempt as it completes, wait when nothing is due).
//!
//! It holds every future it waits on in one task and polls them together: the
//! requests in flight, at most one lease call, at most one endpoint read, at
//! most one record call, the hand-backs, and (in a worker) the wait for more
//! work. A slot that frees is refilled at once; a completed attempt is
//! recorded with whatever else completed meanwhile, without waiting for the
//! rest of its lease batch.
//!
//! # One fault, one delivery
//!
//! - A transport (or the code it calls) that panics fails that attempt with
//!   [`TransportErrorKind::Panicked`]; the policy retries it like any failure.
//!   A store call that panics counts as a store error.
//! - An endpoint that cannot be read defers its own deliveries (with the
//!   reason); an endpoint that no longer exists ends its deliveries dead with
//!   the reason `endpoint deleted`. The rest of the batch goes on.
//! - No endpoint holds more than its share of a worker's slots (see
//!   [`DispatcherBuilder::endpoint_share`](super::DispatcherBuilder::endpoint_share)):
//!   the deliveries of an endpoint at its share are not leased, so a slow
//!   endpoint never takes the slots of the others.
//! - In a worker, a request still pending at the policy's timeout is given up
//!   as [`TransportErrorKind::Timeout`] even if its transport does not keep
//!   the timeout contract.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use futures_util::future::poll_fn;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;

use super::attempt::{self, DisableReason, Sent};
use super::idle::{Idle, LiveCounters, Tally};
use super::request::RequestTemplate;
use super::run::{AttemptReport, RunReport};
use super::signals::{self, AttemptSpan};
use super::state::Inner;
use crate::endpoint::{Endpoint, Gone};
use crate::id::EndpointId;
use crate::retry::Decision;
use crate::store::{
    Finish, FinishReport, LeaseRequest, Leased, StoreError, StoreErrorKind, REASON_ENDPOINT_DELETED,
};
use crate::transport::{TransportError, TransportErrorKind};

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type LeaseCall<'a> = BoxFut<'a, Result<Vec<Leased>, StoreError>>;
type ReadCall<'a> = BoxFut<'a, Vec<Result<Option<Endpoint>, StoreError>>>;
type RecordCall<'a> = BoxFut<'a, Vec<Result<FinishReport, StoreError>>>;
type HandbackCall<'a> = BoxFut<'a, (HandbackKind, Leased, Result<(), StoreError>)>;
type DisableCall<'a> = BoxFut<'a, (EndpointId, DisableReason, Result<bool, StoreError>)>;

/// How long the engine backs off after a store failure, at first and at most.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// How long a delivery whose endpoint could not be read waits before it is
/// leased again.
pub(super) const ENDPOINT_RETRY: Duration = Duration::from_secs(5);

/// What the engine is asked to do.
pub(super) enum Mode<'w> {
    /// Lease up to `limit` deliveries once, attempt each once, record, and
    /// return ([`Dispatcher::run_due`](super::Dispatcher::run_due)).
    Once {
        /// At most this many.
        limit: usize,
    },
    /// Deliver until the worker stops.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    Continuous {
        /// The worker's timers, wake-ups and stop signal.
        idle: &'w dyn Idle,
        /// The most deliveries one lease call takes.
        batch: usize,
        /// The longest wait when nothing is due.
        poll_interval: Duration,
        /// Where live counts go.
        counters: &'w LiveCounters,
    },
}

/// Runs the engine to its end: for [`Mode::Once`] when every leased delivery
/// is recorded, for [`Mode::Continuous`] when the worker stops and nothing is
/// left in flight.
pub(super) async fn run(inner: &Inner, mode: Mode<'_>) -> Result<RunReport, StoreError> {
    let mut engine = Engine::new(inner, mode);
    poll_fn(|cx| engine.poll(cx)).await;
    match engine.failed_lease.take() {
        Some(e) => Err(e),
        None => Ok(engine.report),
    }
}

/// Per endpoint: its deliveries in flight in this engine, its share, its
/// request template as last read, and the deliveries leased for it that wait
/// for one of its slots.
struct EndpointLoad {
    in_flight: u32,
    share: u32,
    template: Option<RequestTemplate>,
    /// When `template` was read (a worker reads it again after
    /// [`ENDPOINT_FRESH`]).
    read_at: SystemTime,
    /// Disabled by this engine since it was read.
    disabled: bool,
    /// How long its attempts take, smoothed; `None` until one completes.
    pace: Option<Duration>,
    held: VecDeque<Leased>,
}

impl EndpointLoad {
    /// How many deliveries may wait here for one of its slots: its share;
    /// for an endpoint that answers fast, a lease batch more, so that its
    /// slots stay busy while the next lease is on its way. A slow endpoint's
    /// backlog stays in the store, where other workers can take it.
    fn hold_cap(&self, batch: usize) -> usize {
        let fast = self.pace.is_some_and(|p| p < FAST_ATTEMPT);
        self.share as usize + if fast { batch } else { 0 }
    }

    /// Whether the next lease should pass this endpoint by: as many of its
    /// deliveries wait here as may.
    fn full(&self, batch: usize) -> bool {
        self.held.len() >= self.hold_cap(batch)
    }

    fn record_pace(&mut self, took: Duration) {
        self.pace = Some(match self.pace {
            None => took,
            Some(p) => (p * 7 + took) / 8,
        });
    }
}

/// Attempts faster than this (smoothed) make an endpoint fast: a worker keeps
/// a lease batch of its deliveries at hand.
const FAST_ATTEMPT: Duration = Duration::from_millis(100);

/// How long a worker sends with an endpoint as it last read it before it
/// reads it again: a change to an endpoint (its URL, secret, headers, flow
/// settings, or its deletion) reaches a running worker within this time.
/// Leasing never returns the deliveries of a disabled endpoint, and `run_due`
/// reads every endpoint it sends to.
pub(super) const ENDPOINT_FRESH: Duration = Duration::from_secs(1);

/// A request the transport did not complete at once.
struct InFlight<'a> {
    leased: Option<Leased>,
    started_at: SystemTime,
    gone: Gone,
    span: AttemptSpan,
    send: BoxFut<'a, Sent>,
    /// The worker's deadline: the policy's timeout.
    deadline: Option<BoxFut<'a, ()>>,
}

impl Future for InFlight<'_> {
    type Output = (Leased, SystemTime, Gone, AttemptSpan, Sent);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let sent = match this.send.as_mut().poll(cx) {
            Poll::Ready(sent) => sent,
            Poll::Pending => match this.deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
                Some(Poll::Ready(())) => Err(TransportError::new(
                    TransportErrorKind::Timeout,
                    "the transport did not end the request within the policy's timeout",
                )),
                _ => return Poll::Pending,
            },
        };
        match this.leased.take() {
            Some(leased) => {
                Poll::Ready((leased, this.started_at, this.gone, this.span.clone(), sent))
            }
            // Polled again after completing: never resolve twice.
            None => Poll::Pending,
        }
    }
}

/// One settled attempt waiting for its record.
struct Settled {
    finish: Finish,
    report: AttemptReport,
}

/// What to do with a leased delivery that is not sent.
enum Handback {
    /// Due again at once (shutdown, its endpoint disabled since leasing,
    /// too little lease left, its endpoint at its share).
    Release,
    /// Due again at `until`, with a reason (its endpoint unreadable).
    Defer(SystemTime, String),
    /// Ended dead without an attempt (its endpoint deleted).
    Abandon(&'static str),
}

struct Engine<'a> {
    inner: &'a Inner,
    once: bool,
    idle: Option<&'a dyn Idle>,
    counters: Option<&'a LiveCounters>,
    lease_batch: usize,
    poll_interval: Duration,
    concurrency: usize,

    /// Leased, endpoint read, not yet started.
    queue: VecDeque<Leased>,
    in_flight: FuturesUnordered<InFlight<'a>>,
    load: HashMap<EndpointId, EndpointLoad, foldhash::fast::RandomState>,
    /// How many deliveries wait in the endpoints' `held` queues.
    held: usize,
    /// The endpoints the last lease call skipped.
    skipped: Vec<EndpointId>,

    /// The lease call in progress, and how many it asked for.
    leasing: Option<(usize, LeaseCall<'a>)>,
    reading: Option<(Vec<Leased>, Vec<EndpointId>, ReadCall<'a>)>,
    to_record: Vec<Settled>,
    recording: Option<(Vec<AttemptReport>, RecordCall<'a>)>,
    handbacks: FuturesUnordered<HandbackCall<'a>>,
    disabling: FuturesUnordered<DisableCall<'a>>,

    /// The last lease found nothing more to take: wait for a wake-up, the
    /// next due time or the poll interval before leasing again.
    exhausted: bool,
    /// Armed while exhausted (a worker only).
    waiting: Option<BoxFut<'a, ()>>,
    /// Armed after a store failure.
    backoff: Option<BoxFut<'a, ()>>,
    next_backoff: Duration,
    leased_once: bool,
    failed_lease: Option<StoreError>,
    report: RunReport,
}

#[derive(Clone, Copy)]
enum HandbackKind {
    Release,
    Defer,
    Abandon,
}

impl<'a> Engine<'a> {
    fn new(inner: &'a Inner, mode: Mode<'a>) -> Self {
        let (once, idle, counters, lease_batch, poll_interval) = match mode {
            Mode::Once { limit } => (true, None, None, limit, Duration::ZERO),
            Mode::Continuous {
                idle,
                batch,
                poll_interval,
                counters,
            } => (false, Some(idle), Some(counters), batch, poll_interval),
        };
        Self {
            inner,
            once,
            idle,
            counters,
            lease_batch,
            poll_interval,
            concurrency: inner.concurrency,
            queue: VecDeque::new(),
            in_flight: FuturesUnordered::new(),
            load: HashMap::default(),
            held: 0,
            skipped: Vec::new(),
            leasing: None,
            reading: None,
            to_record: Vec::new(),
            recording: None,
            handbacks: FuturesUnordered::new(),
            disabling: FuturesUnordered::new(),
            exhausted: false,
            waiting: None,
            backoff: None,
            next_backoff: BACKOFF_MIN,
            leased_once: false,
            failed_lease: None,
            report: RunReport::default(),
        }
    }

    fn stopping(&self) -> bool {
        self.idle.is_some_and(|i| i.stopping())
    }

    /// Nothing left to wait for: no request, no store call, nothing queued.
    fn quiet(&self) -> bool {
        self.in_flight.is_empty()
            && self.queue.is_empty()
            && self.held == 0
            && self.leasing.is_none()
            && self.reading.is_none()
            && self.recording.is_none()
            && self.to_record.is_empty()
            && self.handbacks.is_empty()
            && self.disabling.is_empty()
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let mut progress = false;
            progress |= self.collect_sends(cx);
            progress |= self.poll_records(cx);
            progress |= self.poll_side_calls(cx);
            progress |= self.poll_reading(cx);
            progress |= self.poll_leasing(cx);
            progress |= self.start_queued(cx);
            progress |= self.poll_waits(cx);
            progress |= self.maybe_lease();
            if self.quiet() {
                let done = if self.once {
                    self.leased_once || self.failed_lease.is_some()
                } else {
                    self.stopping()
                };
                if done {
                    return Poll::Ready(());
                }
            }
            if !progress {
                return Poll::Pending;
            }
        }
    }

    // ------------------------------------------------------------ leasing

    /// How many more deliveries a worker may hold: its slots and one lease
    /// batch beyond them, so that the next batch is at hand before the slots
    /// free.
    fn room(&self) -> usize {
        (self.concurrency + self.lease_batch)
            .saturating_sub(self.in_flight.len() + self.queue.len() + self.held)
    }

    fn maybe_lease(&mut self) -> bool {
        if self.leasing.is_some() || self.reading.is_some() || self.backoff.is_some() {
            return false;
        }
        if self.once {
            if self.leased_once {
                return false;
            }
        } else if self.stopping() || self.exhausted {
            return false;
        }
        let limit = if self.once {
            self.lease_batch
        } else {
            // Lease in batches that amortise the store's round trip, unless
            // nothing is in flight or queued at all.
            let room = self.room();
            let threshold = (self.lease_batch / 2).max(1);
            let idle = self.in_flight.is_empty() && self.queue.is_empty();
            if room < threshold && !(room > 0 && idle) {
                return false;
            }
            room.min(self.lease_batch)
        };
        if limit == 0 {
            self.leased_once = true;
            return false;
        }
        let skip: Vec<EndpointId> = if self.once {
            Vec::new()
        } else {
            self.load
                .iter()
                .filter(|(_, l)| l.full(self.lease_batch))
                .map(|(id, _)| id.clone())
                .collect()
        };
        self.skipped.clone_from(&skip);
        let inner = self.inner;
        let request = LeaseRequest::new(inner.clock.now(), limit, inner.lease).skip(skip);
        self.leasing = Some((limit, guarded_store(inner.store().lease(request))));
        self.leased_once = true;
        true
    }

    fn poll_leasing(&mut self, cx: &mut Context<'_>) -> bool {
        let Some((asked, leasing)) = self.leasing.as_mut() else {
            return false;
        };
        let asked = *asked;
        let Poll::Ready(result) = leasing.as_mut().poll(cx) else {
            return false;
        };
        self.leasing = None;
        match result {
            Ok(batch) => {
                self.next_backoff = BACKOFF_MIN;
                signals::store_ok(self.inner);
                // Fewer than asked for: nothing more is due now.
                if batch.len() < asked {
                    self.exhausted = true;
                }
                self.tally(Tally::Leased(batch.len()));
                if !batch.is_empty() {
                    self.read_endpoints(batch);
                }
            }
            Err(e) => {
                self.store_failed(&e, "leasing");
                if self.once {
                    self.failed_lease = Some(e);
                } else {
                    self.arm_backoff();
                }
            }
        }
        true
    }

    /// Reads the endpoints of a leased batch, one result per endpoint. A
    /// worker sends at once the deliveries of endpoints it read less than
    /// [`ENDPOINT_FRESH`] ago.
    fn read_endpoints(&mut self, mut batch: Vec<Leased>) {
        if !self.once {
            let now = self.inner.clock.now();
            let fresh = |l: &EndpointLoad| {
                l.template.is_some()
                    && !l.disabled
                    && now
                        .duration_since(l.read_at)
                        .is_ok_and(|age| age < ENDPOINT_FRESH)
            };
            let (ready, stale): (Vec<Leased>, Vec<Leased>) = batch.into_iter().partition(|l| {
                self.load
                    .get(&l.delivery.endpoint_id)
                    .is_some_and(fresh)
            });
            self.queue.extend(ready);
            if stale.is_empty() {
                return;
            }
            batch = stale;
        }
        let mut ids: Vec<EndpointId> = Vec::new();
        for l in &batch {
            if !ids.contains(&l.delivery.endpoint_id) {
                ids.push(l.delivery.endpoint_id.clone());
            }
        }
        let store = self.inner.store();
        let ids_for_call = ids.clone();
        let read: BoxFut<'a, Vec<Result<Option<Endpoint>, StoreError>>> = Box::pin(async move {
            match AssertUnwindSafe(store.endpoints_by_id(&ids_for_call))
                .catch_unwind()
                .await
            {
                Ok(results) => results,
                Err(panic) => {
                    let e = panicked_store(&panic);
                    ids_for_call
                        .iter()
                        .map(|_| Err(copy_store_error(&e)))
                        .collect()
                }
            }
        });
        self.reading = Some((batch, ids, read));
    }

    fn poll_reading(&mut self, cx: &mut Context<'_>) -> bool {
        let Some((_, _, read)) = self.reading.as_mut() else {
            return false;
        };
        let Poll::Ready(results) = read.as_mut().poll(cx) else {
            return false;
        };
        let Some((batch, ids, _)) = self.reading.take() else {
            return false;
        };
        let inner = self.inner;
        let read_at = inner.clock.now();
        // Per endpoint id: readable, or why not.
        let mut outcome: Vec<Result<(), Handback>> = Vec::with_capacity(ids.len());
        let mut results = results.into_iter();
        for id in &ids {
            let result = results
                .next()
                .unwrap_or_else(|| Err(StoreError::from_kind(StoreErrorKind::Other)));
            outcome.push(match result {
                Ok(Some(endpoint)) => {
                    let share = endpoint
                        .max_in_flight
                        .unwrap_or(inner.endpoint_share)
                        .max(1);
                    let template = RequestTemplate::new(endpoint, inner.targets, &inner.user_agent);
                    let load = self.load.entry(id.clone()).or_insert(EndpointLoad {
                        in_flight: 0,
                        share,
                        template: None,
                        read_at,
                        disabled: false,
                        pace: None,
                        held: VecDeque::new(),
                    });
                    load.share = share;
                    load.template = Some(template);
                    load.read_at = read_at;
                    load.disabled = false;
                    Ok(())
                }
                Ok(None) => Err(Handback::Abandon(REASON_ENDPOINT_DELETED)),
                Err(e) => {
                    self.store_failed(&e, "reading an endpoint");
                    let until = crate::clock::saturating_add(inner.clock.now(), ENDPOINT_RETRY);
                    Err(Handback::Defer(
                        until,
                        crate::store::bounded_reason(format!(
                            "endpoint could not be read: {}",
                            error_chain(&e)
                        )),
                    ))
                }
            });
        }
        for leased in batch {
            let at = ids
                .iter()
                .position(|id| *id == leased.delivery.endpoint_id)
                .unwrap_or(0);
            match &outcome[at] {
                Ok(()) => self.queue.push_back(leased),
                Err(Handback::Abandon(reason)) => self.hand_back(leased, Handback::Abandon(reason)),
                Err(Handback::Defer(until, reason)) => {
                    self.hand_back(leased, Handback::Defer(*until, reason.clone()))
                }
                Err(Handback::Release) => self.hand_back(leased, Handback::Release),
            }
        }
        true
    }

    // ------------------------------------------------------------ sending

    /// Starts queued deliveries while slots are free.
    fn start_queued(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        let inner = self.inner;
        let timeout = inner.policy.timeout();
        let options = inner.send_options();
        if self.stopping() && self.held > 0 {
            let held: Vec<Leased> = self
                .load
                .values_mut()
                .flat_map(|l| l.held.drain(..))
                .collect();
            self.held = 0;
            for leased in held {
                self.hand_back(leased, Handback::Release);
            }
            progress = true;
        }
        while self.in_flight.len() < self.concurrency {
            let Some(mut leased) = self.queue.pop_front() else {
                break;
            };
            progress = true;
            if self.stopping() {
                self.hand_back(leased, Handback::Release);
                continue;
            }
            let Some(load) = self.load.get_mut(&leased.delivery.endpoint_id) else {
                self.hand_back(leased, Handback::Release);
                continue;
            };
            // A worker keeps each endpoint to its share of the slots: a
            // delivery leased beyond it waits for one of its endpoint's slots
            // (or goes back if as many wait already). One run of `run_due`
            // waits for all of its deliveries anyway.
            if !self.once && load.in_flight >= load.share {
                if load.held.len() < load.hold_cap(self.lease_batch) {
                    load.held.push_back(leased);
                    self.held += 1;
                } else {
                    self.hand_back(leased, Handback::Release);
                }
                continue;
            }
            let Some(template) = load.template.as_ref() else {
                self.hand_back(leased, Handback::Release);
                continue;
            };
            // Read when the attempt is about to start (not when leased).
            let started_at = inner.clock.now();
            // A request must be over before its lease is, or another worker
            // could take the delivery while this one still sends it.
            let in_time = started_at
                .checked_add(timeout)
                .is_some_and(|end| end <= leased.lease.expires_at);
            let endpoint = template.endpoint();
            if !endpoint.enabled || load.disabled || !in_time {
                self.hand_back(leased, Handback::Release);
                continue;
            }
            let gone = endpoint.gone;
            let span = signals::attempt_span(
                &leased.delivery.id,
                &endpoint.id,
                leased.delivery.attempts_total.saturating_add(1),
                &endpoint.method,
                endpoint.url.host(),
            );
            let body = std::mem::take(&mut leased.delivery.payload);
            let delivery = &leased.delivery;
            let request = template.request(delivery.url.as_deref(), &delivery.id, body, started_at);
            let mut send: BoxFut<'a, Sent> = match request {
                Ok(request) => {
                    let transport = inner.transport();
                    let send = signals::in_span(&span, || {
                        std::panic::catch_unwind(AssertUnwindSafe(|| {
                            transport.send(request, options)
                        }))
                    });
                    match send {
                        Ok(send) => {
                            let send = AssertUnwindSafe(send).catch_unwind().map(|r| match r {
                                Ok(sent) => sent,
                                Err(panic) => Err(panicked_transport(&panic)),
                            });
                            Box::pin(signals::instrument(send, &span))
                        }
                        Err(panic) => Box::pin(std::future::ready(Err(panicked_transport(&panic)))),
                    }
                }
                // A request that cannot be built can never be sent: not retried.
                Err(e) => Box::pin(std::future::ready(Err(TransportError::new(
                    TransportErrorKind::Rejected,
                    e,
                )))),
            };
            load.in_flight += 1;
            match send.as_mut().poll(cx) {
                Poll::Ready(sent) => {
                    self.complete(leased, started_at, gone, &span, sent);
                }
                Poll::Pending => {
                    let deadline = self.idle.map(|i| i.sleep(timeout));
                    self.in_flight.push(InFlight {
                        leased: Some(leased),
                        started_at,
                        gone,
                        span,
                        send,
                        deadline,
                    });
                    signals::in_flight(1);
                    if let Some(c) = self.counters {
                        c.set_in_flight(self.in_flight.len());
                    }
                }
            }
        }
        progress
    }

    fn collect_sends(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while let Poll::Ready(Some((leased, started_at, gone, span, sent))) =
            self.in_flight.poll_next_unpin(cx)
        {
            progress = true;
            signals::in_flight(-1);
            self.complete(leased, started_at, gone, &span, sent);
            if let Some(c) = self.counters {
                c.set_in_flight(self.in_flight.len());
            }
        }
        progress
    }

    /// Settles one attempt the moment it completes; it waits in `to_record`
    /// for the next record call.
    fn complete(
        &mut self,
        leased: Leased,
        started_at: SystemTime,
        gone: Gone,
        span: &AttemptSpan,
        sent: Sent,
    ) {
        let finished_at = self.inner.clock.now();
        if let Some(l) = self.load.get_mut(&leased.delivery.endpoint_id) {
            l.in_flight = l.in_flight.saturating_sub(1);
            l.record_pace(finished_at.duration_since(started_at).unwrap_or_default());
            if let Some(next) = l.held.pop_front() {
                // Its slot goes to the next delivery leased for it.
                self.held -= 1;
                self.queue.push_front(next);
            }
            if self.exhausted
                && !l.full(self.lease_batch)
                && self.skipped.contains(&leased.delivery.endpoint_id)
            {
                // The last lease passed this endpoint by: it may have more due.
                self.exhausted = false;
                self.waiting = None;
            }
        }
        let created_at = leased.delivery.created_at;
        let (finish, report) =
            attempt::settle(self.inner, leased, started_at, finished_at, gone, sent);
        signals::in_span(span, || {
            signals::attempt_settled(&report, created_at, finished_at)
        });
        self.to_record.push(Settled { finish, report });
    }

    // ------------------------------------------------------------ recording

    fn poll_records(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        if let Some((_, recording)) = self.recording.as_mut() {
            if let Poll::Ready(results) = recording.as_mut().poll(cx) {
                if let Some((reports, _)) = self.recording.take() {
                    self.account(reports, results);
                }
                progress = true;
            }
        }
        if self.recording.is_none() && !self.to_record.is_empty() {
            let settled = std::mem::take(&mut self.to_record);
            let mut finishes = Vec::with_capacity(settled.len());
            let mut reports = Vec::with_capacity(settled.len());
            for s in settled {
                finishes.push(s.finish);
                reports.push(s.report);
            }
            let n = finishes.len();
            let store = self.inner.store();
            let call: BoxFut<'a, Vec<Result<FinishReport, StoreError>>> = Box::pin(async move {
                match AssertUnwindSafe(store.finish_attempts(finishes))
                    .catch_unwind()
                    .await
                {
                    Ok(results) => results,
                    Err(panic) => {
                        let e = panicked_store(&panic);
                        (0..n).map(|_| Err(copy_store_error(&e))).collect()
                    }
                }
            });
            self.recording = Some((reports, call));
            progress = true;
        }
        progress
    }

    /// Counts what the store recorded, and disables endpoints the outcome
    /// calls for.
    fn account(
        &mut self,
        reports: Vec<AttemptReport>,
        results: Vec<Result<FinishReport, StoreError>>,
    ) {
        // A store that answers fewer entries than asked recorded nothing for
        // the rest, as far as anyone can tell.
        let mut results = results.into_iter();
        for mut attempt in reports {
            let stored = results
                .next()
                .unwrap_or_else(|| Err(StoreError::from_kind(StoreErrorKind::Other)));
            attempt.recorded = stored.is_ok();
            match stored {
                Ok(finish) => {
                    self.next_backoff = BACKOFF_MIN;
                    signals::store_ok(self.inner);
                    signals::attempt_recorded(self.inner, &attempt);
                    self.count_recorded(&attempt, finish.dead_in_a_row);
                }
                Err(e) if e.kind() == StoreErrorKind::LeaseLost => self.tally(Tally::LeaseLost),
                Err(e) => self.store_failed(&e, "recording"),
            }
            self.tally(Tally::Attempt);
            if attempt.panicked() {
                self.tally(Tally::Panic);
            }
            if self.once {
                self.report.attempts.push(attempt);
            }
        }
    }

    fn count_recorded(&mut self, attempt: &AttemptReport, dead_in_a_row: u32) {
        match attempt.decision {
            Decision::Succeeded => self.tally(Tally::Succeeded),
            Decision::RetryIn(_) => self.tally(Tally::Retried),
            Decision::DisableEndpoint => {
                self.tally(Tally::Dead);
                self.disable(&attempt.endpoint_id, DisableReason::Gone);
            }
            _ => {
                self.tally(Tally::Dead);
                if let Some(limit) = self.inner.disable_after_dead {
                    if dead_in_a_row >= limit {
                        self.disable(
                            &attempt.endpoint_id,
                            DisableReason::DeadInARow(dead_in_a_row),
                        );
                    }
                }
            }
        }
    }

    /// Disables an endpoint, once while the store call is under way however
    /// many of its attempts call for it; the store says whether this call
    /// disabled it.
    fn disable(&mut self, id: &EndpointId, reason: DisableReason) {
        if self.report.disabled.iter().any(|(d, _)| d == id) {
            return;
        }
        self.report.disabled.push((id.clone(), reason));
        if let Some(load) = self.load.get_mut(id) {
            // Its deliveries leased or held here are not sent.
            load.disabled = true;
        }
        let store = self.inner.store();
        let id = id.clone();
        let at = self.inner.clock.now();
        self.disabling.push(Box::pin(async move {
            // `true` only for the call that disabled it: an endpoint already
            // disabled (by another worker, or an earlier run) is not counted
            // again.
            let why = reason.to_string();
            let result = AssertUnwindSafe(store.disable_endpoint(&id, at, &why))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Err(panicked_store(&panic)));
            (id, reason, result)
        }));
    }

    // ------------------------------------------------------------ hand-backs

    fn hand_back(&mut self, leased: Leased, how: Handback) {
        let store = self.inner.store();
        let call: BoxFut<'a, (HandbackKind, Leased, Result<(), StoreError>)> =
            Box::pin(async move {
                let (kind, call): (HandbackKind, BoxFut<'_, Result<(), StoreError>>) = match &how {
                    Handback::Release => (HandbackKind::Release, store.release(&leased.lease)),
                    Handback::Defer(until, reason) => (
                        HandbackKind::Defer,
                        store.defer(&leased.lease, *until, reason),
                    ),
                    Handback::Abandon(reason) => {
                        (HandbackKind::Abandon, store.abandon(&leased.lease, reason))
                    }
                };
                let result = AssertUnwindSafe(call)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|panic| Err(panicked_store(&panic)));
                (kind, leased, result)
            });
        self.handbacks.push(call);
    }

    fn poll_side_calls(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while let Poll::Ready(Some((kind, leased, result))) = self.handbacks.poll_next_unpin(cx) {
            progress = true;
            match (kind, result) {
                (_, Err(e)) if e.kind() == StoreErrorKind::LeaseLost => {
                    self.tally(Tally::LeaseLost)
                }
                (_, Err(e)) => self.store_failed(&e, "handing a delivery back"),
                (HandbackKind::Release, Ok(())) => self.tally(Tally::Released),
                (HandbackKind::Defer, Ok(())) => self.tally(Tally::Deferred),
                (HandbackKind::Abandon, Ok(())) => {
                    self.tally(Tally::Abandoned);
                    self.tally(Tally::Dead);
                    let d = &leased.delivery;
                    let reason = REASON_ENDPOINT_DELETED.to_owned();
                    signals::delivery_dead(self.inner, &d.id, &d.endpoint_id, d.attempts, reason);
                }
            }
        }
        while let Poll::Ready(Some((id, reason, result))) = self.disabling.poll_next_unpin(cx) {
            progress = true;
            // The store's answer decides from now on: a run's report keeps
            // the endpoints it did disable; a worker forgets them, so that one
            // enabled again and failing again is disabled again.
            let keep = self.once && matches!(result, Ok(true));
            if !keep {
                self.report.disabled.retain(|(d, _)| *d != id);
            }
            match result {
                Ok(true) => {
                    self.tally(Tally::EndpointDisabled);
                    signals::endpoint_disabled(self.inner, &id, reason.to_string());
                }
                Ok(false) => {}
                Err(e) => self.store_failed(&e, "disabling an endpoint"),
            }
        }
        progress
    }

    // ------------------------------------------------------------ waiting

    fn store_failed(&mut self, e: &StoreError, doing: &'static str) {
        self.tally(Tally::StoreError);
        let chain = error_chain(e);
        signals::store_failed(self.inner, doing, &chain);
        if let Some(c) = self.counters {
            c.last_error(format!("store failed {doing}: {chain}"));
        }
    }

    /// Counts one thing in the run's report and, in a worker, its live counts.
    fn tally(&mut self, t: Tally) {
        let r = &mut self.report;
        match t {
            Tally::Leased(n) => r.leased += n,
            Tally::Attempt | Tally::Panic | Tally::EndpointDisabled => {}
            Tally::Succeeded => r.succeeded += 1,
            Tally::Retried => r.retried += 1,
            Tally::Dead => r.dead += 1,
            Tally::LeaseLost => r.lease_lost += 1,
            Tally::StoreError => r.store_errors += 1,
            Tally::Released => r.released += 1,
            Tally::Deferred => r.deferred += 1,
            Tally::Abandoned => r.abandoned += 1,
        }
        if let Some(c) = self.counters {
            c.tally(t);
        }
    }

    fn arm_backoff(&mut self) {
        if let Some(idle) = self.idle {
            self.backoff = Some(idle.sleep(self.next_backoff));
            self.next_backoff = (self.next_backoff * 2).min(BACKOFF_MAX);
        }
    }

    fn poll_waits(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        if let Some(backoff) = self.backoff.as_mut() {
            if backoff.as_mut().poll(cx).is_ready() {
                self.backoff = None;
                progress = true;
            }
        }
        let Some(idle) = self.idle else {
            return progress;
        };
        if self.stopping() {
            self.waiting = None;
            return progress;
        }
        if self.exhausted && self.waiting.is_none() {
            let inner = self.inner;
            let poll_interval = self.poll_interval;
            let skipped = !self.skipped.is_empty();
            let now = inner.clock.now();
            // Until the next due time, a wake-up (a publish) or the poll
            // interval, whichever comes first.
            self.waiting = Some(Box::pin(async move {
                let next = AssertUnwindSafe(inner.store().next_due(now))
                    .catch_unwind()
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .flatten();
                let wait = match next {
                    // Due now, yet the last lease took less than it asked:
                    // what is due belongs to endpoints at their share. Wait
                    // for one of their slots (a completion ends the wait), a
                    // publish or the poll interval, not for the due time.
                    Some(at) if at <= now && skipped => poll_interval,
                    Some(at) => at
                        .duration_since(now)
                        .unwrap_or_default()
                        .min(poll_interval),
                    None => poll_interval,
                };
                // Something due now that the last lease did not take (a race,
                // or an endpoint at its share): wait a moment, never spin.
                let wait = wait.max(Duration::from_millis(1));
                idle.wait(wait).await;
            }));
        }
        if let Some(waiting) = self.waiting.as_mut() {
            if waiting.as_mut().poll(cx).is_ready() {
                self.waiting = None;
                self.exhausted = false;
                progress = true;
            }
        }
        progress
    }
}

/// A store future whose panic becomes a store error.
fn guarded_store<'a, T: Send + 'a>(
    fut: BoxFut<'a, Result<T, StoreError>>,
) -> BoxFut<'a, Result<T, StoreError>> {
    Box::pin(
        AssertUnwindSafe(fut)
            .catch_unwind()
            .map(|r| r.unwrap_or_else(|panic| Err(panicked_store(&panic)))),
    )
}

/// The message a panic carried, if it was a string.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

fn panicked_transport(panic: &Box<dyn std::any::Any + Send>) -> TransportError {
    TransportError::new(
        TransportErrorKind::Panicked,
        PanicText(format!(
            "the transport panicked: {}",
            panic_message(&**panic)
        )),
    )
}

fn panicked_store(panic: &Box<dyn std::any::Any + Send>) -> StoreError {
    StoreError::new(
        StoreErrorKind::Other,
        PanicText(format!("the store panicked: {}", panic_message(&**panic))),
    )
}

/// A caught panic, as an error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct PanicText(String);

/// The same error again, its causes kept as text (`StoreError` is not `Clone`).
fn copy_store_error(e: &StoreError) -> StoreError {
    StoreError::new(e.kind(), PanicText(error_chain(e)))
}

/// An error and its causes, joined by `: `.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let part = cause.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = cause.source();
    }
    text
}

/// Shares one engine setting between builder and engine.
pub(super) fn default_share(concurrency: usize) -> u32 {
    u32::try_from((concurrency / 2).max(1)).unwrap_or(u32::MAX)
}
