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
//! Its steps, by file: `lease.rs` (how much to take, the skip list, the
//! endpoints a batch needs), `send.rs` (starting within the slots and the
//! shares, settling each attempt), `record.rs` (recording, disabling, handing
//! back), `wait.rs` (counting, back-off, waiting when nothing is due),
//! `faults.rs` (panics and error chains as errors).
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
//!   [`DispatcherBuilder::max_in_flight_per_endpoint`](super::DispatcherBuilder::max_in_flight_per_endpoint)):
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

mod faults;
mod lease;
mod record;
mod send;
mod wait;

pub(crate) use faults::error_chain;
#[cfg(feature = "tokio")]
pub(crate) use faults::panic_message;
use faults::{copy_store_error, guarded_store, panicked_store, panicked_transport};

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type LeaseCall<'a> = BoxFut<'a, Result<Vec<Leased>, StoreError>>;
type ReadCall<'a> = BoxFut<'a, Vec<Result<Option<Endpoint>, StoreError>>>;
type RecordCall<'a> = BoxFut<'a, Vec<Result<FinishReport, StoreError>>>;
type HandbackCall<'a> = BoxFut<'a, (HandbackKind, Leased, Result<(), StoreError>)>;
type DisableCall<'a> = BoxFut<'a, (EndpointId, DisableReason, Result<bool, StoreError>)>;
type PauseCall<'a> = BoxFut<'a, Result<bool, StoreError>>;

/// How long the engine backs off after a store failure, at first and at most.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// How long a delivery whose endpoint could not be read waits before it is
/// leased again.
pub(super) const ENDPOINT_RETRY: Duration = Duration::from_secs(5);

/// How long a delivery of a rate-limited or ordered endpoint waits, on a
/// store that does not enforce flow control, before it is leased again.
pub(super) const FLOW_UNSUPPORTED_RETRY: Duration = Duration::from_secs(60);

/// The reason such a delivery is deferred with.
pub(super) const REASON_FLOW_UNSUPPORTED: &str =
    "the store does not enforce flow control: deliveries to rate-limited or ordered endpoints wait";

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
    /// Its metric keys, fetched once per engine rather than per attempt.
    signals: signals::EndpointSignals,
    /// Its flow gate as this engine last learned it (a pause, an open
    /// circuit): its deliveries leased or held here before then go back.
    held_until: Option<SystemTime>,
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
            Some(leased) => Poll::Ready((
                leased,
                this.started_at,
                this.gone,
                std::mem::replace(&mut this.span, signals::no_span()),
                sent,
            )),
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
    pausing: FuturesUnordered<PauseCall<'a>>,

    /// The last lease found nothing more to take: wait for a wake-up, the
    /// next due time or the poll interval before leasing again.
    exhausted: bool,
    /// Armed while exhausted (a worker only).
    waiting: Option<BoxFut<'a, Option<StoreError>>>,
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
            pausing: FuturesUnordered::new(),
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
            && self.pausing.is_empty()
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
}

/// Shares one engine setting between builder and engine.
pub(super) fn default_share(concurrency: usize) -> u32 {
    u32::try_from((concurrency / 2).max(1)).unwrap_or(u32::MAX)
}
