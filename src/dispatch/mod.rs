//! The dispatcher: publish events, then deliver what is due.
//!
//! [`Dispatcher::publish`] serializes an event **once**, and stores one
//! delivery per enabled endpoint subscribed to its kind; every delivery shares
//! the same bytes. [`Dispatcher::run_due`] leases the deliveries that are due,
//! signs each attempt, sends them through the [`Transport`] with bounded
//! concurrency, asks the [`RetryPolicy`] what to do with the outcome, and
//! records the attempt and the next state in the [`Store`].
//!
//! The dispatcher does no I/O of its own and never sleeps: the host's runtime
//! calls `run_due` on its own cadence (the `tokio` worker does that for you).
//!
//! Every request carries:
//! - `content-type: application/json` and a `user-agent`;
//! - `webhook-id`: the delivery id, the same on every attempt, so a receiver
//!   deduplicates on it; the same value as `idempotency-key`;
//! - the endpoint's signature headers: the hex signature (identical on every
//!   attempt, since the body is) and/or the Standard Webhooks headers, signed
//!   again on each attempt with a fresh `webhook-timestamp`;
//! - the endpoint's own headers (authentication included).

mod journey;
mod request;

use request::RequestTemplate;

pub use journey::{Fire, FireOutcome, JourneyFireError};

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::future::poll_fn;
use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::clock::{saturating_add, Clock, SystemClock};
use crate::endpoint::{Endpoint, EndpointError};
use crate::id::{DeliveryId, EndpointId, EventId};
use crate::model::Event;
use crate::retry::{self, AttemptInfo, Decision, Outcome, Policy, RetryPolicy};
use crate::store::{
    AttemptRecord, AttemptResult, Delivery, DeliveryFilter, DeliveryState, Finish, Lease, Leased,
    NewDelivery, NewEvent, NextState, Store, StoreError, StoreErrorKind,
};
use crate::transport::{SendOptions, Transport, TransportError, TransportErrorKind};

/// The `idempotency-key` header: the delivery id, stable across attempts.
pub const HEADER_IDEMPOTENCY_KEY: &str = "idempotency-key";

const IDEMPOTENCY_KEY: http::HeaderName = http::HeaderName::from_static(HEADER_IDEMPOTENCY_KEY);

/// Publishes events and delivers them. Cheap to clone: clones share everything.
///
/// # Examples
///
/// ```
/// use hookwire::clock::ManualClock;
/// use hookwire::dispatch::Dispatcher;
/// use hookwire::endpoint::Endpoint;
/// use hookwire::store::InMemoryStore;
/// use hookwire::transport::{transport_fn, WebhookResponse};
///
/// # futures::executor::block_on(async {
/// let transport = transport_fn(|_request, _options| async { Ok(WebhookResponse::new(Default::default())) });
/// let dispatcher = Dispatcher::builder(transport, InMemoryStore::new())
///     .clock(ManualClock::at_unix(1_771_515_000))
///     .build();
/// dispatcher
///     .add_endpoint(Endpoint::builder("ep_1", "https://hooks.example.com/in").build()?)
///     .await?;
/// let published = dispatcher
///     .publish_json("createExperience", br#"{"action":"createExperience"}"#.to_vec())
///     .await?;
/// assert_eq!(published.deliveries.len(), 1);
/// let report = dispatcher.run_due(100).await?;
/// assert_eq!(report.succeeded, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Arc<dyn Transport>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    policy: Arc<dyn RetryPolicy>,
    lease: Duration,
    concurrency: usize,
    disable_after_dead: Option<u32>,
    max_response_body: usize,
    allow_private_targets: bool,
    on_publish: Mutex<Vec<PublishHook>>,
    /// Whether `on_publish` holds any hook (read without the lock).
    has_hooks: AtomicBool,
    /// The length of the last payload `publish` serialized.
    payload_hint: AtomicUsize,
    kinds: Kinds,
}

/// The event kinds published so far, each allocated once and shared by the
/// events of that kind (a host publishes a handful of kinds, again and
/// again). Holds at most [`Kinds::MAX`]; past that, kinds are allocated per
/// event.
#[derive(Default)]
struct Kinds(Mutex<Vec<Arc<str>>>);

impl Kinds {
    const MAX: usize = 64;

    fn get(&self, kind: &str) -> Arc<str> {
        let mut kinds = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(k) = kinds.iter().find(|k| ***k == *kind) {
            return Arc::clone(k);
        }
        let k: Arc<str> = Arc::from(kind);
        if kinds.len() < Self::MAX {
            kinds.push(Arc::clone(&k));
        }
        k
    }
}

type PublishHook = Arc<dyn Fn() + Send + Sync>;

impl Inner {
    // Calls go through `&dyn`, not `Arc<dyn>`: the `Arc` forwarding impls
    // would box every future a second time.
    fn store(&self) -> &dyn Store {
        &*self.store
    }

    fn transport(&self) -> &dyn Transport {
        &*self.transport
    }
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Dispatcher")
            .field("transport", &i.transport)
            .field("store", &i.store)
            .field("clock", &i.clock)
            .field("policy", &i.policy)
            .field("lease", &i.lease)
            .field("concurrency", &i.concurrency)
            .field("disable_after_dead", &i.disable_after_dead)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Dispatcher`]; every setting has a default.
#[derive(Debug)]
#[must_use]
pub struct DispatcherBuilder {
    transport: Arc<dyn Transport>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    policy: Arc<dyn RetryPolicy>,
    lease: Option<Duration>,
    concurrency: usize,
    disable_after_dead: Option<u32>,
    max_response_body: usize,
    allow_private_targets: bool,
}

impl DispatcherBuilder {
    /// The clock (default: [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The retry policy (default: [`Policy::default`], the seed's 5 attempts
    /// with a 10 s timeout).
    pub fn policy(mut self, policy: impl RetryPolicy + 'static) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// How long a worker holds a leased delivery before another may take it
    /// (default: the policy's timeout times 2 plus 30 s). Keep it well above
    /// the request timeout, or slow requests get delivered twice.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = Some(lease);
        self
    }

    /// How many requests one `run_due` call has in flight at once (default 32,
    /// at least 1).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Disable an endpoint once this many of its deliveries in a row have
    /// ended dead (default 5); `None` never disables for that reason.
    pub fn disable_after_dead(mut self, count: Option<u32>) -> Self {
        self.disable_after_dead = count.map(|c| c.max(1));
        self
    }

    /// How much of a response body the transport reads (default 64 KiB; the
    /// first 1 KiB is recorded with the attempt).
    pub fn max_response_body(mut self, bytes: usize) -> Self {
        self.max_response_body = bytes;
        self
    }

    /// Lets journey steps render URLs that point at loopback or private
    /// addresses (default: refused, the SSRF guard). For development only.
    pub fn allow_private_targets(mut self, allow: bool) -> Self {
        self.allow_private_targets = allow;
        self
    }

    /// Builds the dispatcher.
    pub fn build(self) -> Dispatcher {
        let lease = self
            .lease
            .unwrap_or_else(|| self.policy.timeout().saturating_mul(2) + Duration::from_secs(30));
        Dispatcher {
            inner: Arc::new(Inner {
                transport: self.transport,
                store: self.store,
                clock: self.clock,
                policy: self.policy,
                lease,
                concurrency: self.concurrency,
                disable_after_dead: self.disable_after_dead,
                max_response_body: self.max_response_body,
                allow_private_targets: self.allow_private_targets,
                on_publish: Mutex::new(Vec::new()),
                has_hooks: AtomicBool::new(false),
                payload_hint: AtomicUsize::new(0),
                kinds: Kinds::default(),
            }),
        }
    }
}

/// What [`Dispatcher::publish`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// The new event's id.
    pub event_id: EventId,
    /// One delivery per subscribed, enabled endpoint.
    pub deliveries: Vec<(DeliveryId, EndpointId)>,
}

/// One attempt made by [`Dispatcher::run_due`].
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

/// What one [`Dispatcher::run_due`] call did.
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

/// What a connection test got back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TestReport {
    /// The response, or the transport failure.
    pub result: AttemptResult,
    /// How long it took.
    pub duration: Duration,
    /// Whether it counts as a success (a 2xx answer).
    pub success: bool,
}

/// A dispatcher operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError {
    /// The store failed.
    #[error("webhook store operation failed")]
    Store(#[from] StoreError),
    /// The event could not be serialized.
    #[error("event could not be serialized")]
    Serialize(#[source] serde_json::Error),
    /// No endpoint has this id.
    #[error("no endpoint {0}")]
    UnknownEndpoint(EndpointId),
    /// An endpoint (or a journey step's target) is not valid.
    #[error("invalid endpoint")]
    Endpoint(#[from] EndpointError),
    /// A journey step could not be fired.
    #[error("journey step could not be fired")]
    Journey(#[from] JourneyFireError),
}

impl Dispatcher {
    /// Starts building a dispatcher over `transport` and `store`.
    pub fn builder(
        transport: impl Transport + 'static,
        store: impl Store + 'static,
    ) -> DispatcherBuilder {
        DispatcherBuilder {
            transport: Arc::new(transport),
            store: Arc::new(store),
            clock: Arc::new(SystemClock),
            policy: Arc::new(Policy::default()),
            lease: None,
            concurrency: 32,
            disable_after_dead: Some(5),
            max_response_body: 64 * 1024,
            allow_private_targets: false,
        }
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.inner.store
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.inner.clock
    }

    /// The retry policy.
    pub fn policy(&self) -> &dyn RetryPolicy {
        &*self.inner.policy
    }

    /// Adds an endpoint, or replaces the one with the same id.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Store`] if the store fails.
    pub async fn add_endpoint(&self, endpoint: Endpoint) -> Result<(), DispatchError> {
        Ok(self.inner.store().put_endpoint(endpoint).await?)
    }

    /// Enables or disables an endpoint.
    ///
    /// # Errors
    ///
    /// [`DispatchError::UnknownEndpoint`] if there is no such endpoint.
    pub async fn set_endpoint_enabled(
        &self,
        id: &EndpointId,
        enabled: bool,
    ) -> Result<(), DispatchError> {
        if self.inner.store().set_endpoint_enabled(id, enabled).await? {
            Ok(())
        } else {
            Err(DispatchError::UnknownEndpoint(id.clone()))
        }
    }

    /// Serializes `event` once and stores one delivery per enabled endpoint
    /// subscribed to its kind, due now. An event no endpoint subscribes to
    /// is not stored (`deliveries` is empty).
    ///
    /// # Errors
    ///
    /// [`DispatchError::Serialize`] if the event does not serialize;
    /// [`DispatchError::Store`] if the store fails (nothing is stored then).
    pub async fn publish<E: Event + ?Sized>(&self, event: &E) -> Result<Published, DispatchError> {
        // Sized like the last payload: events of a kind tend to be alike in
        // size, and one allocation beats growing from 128 bytes by doubling.
        let hint = self.inner.payload_hint.load(Ordering::Relaxed);
        let mut payload = Vec::with_capacity(hint.clamp(128, 1 << 20));
        serde_json::to_writer(&mut payload, event).map_err(DispatchError::Serialize)?;
        // The store keeps the buffer as it is: never hold more than a quarter
        // more than the payload (a hint from a larger event, or growth).
        if payload.capacity() - payload.len() > payload.len() / 4 {
            payload.shrink_to_fit();
        }
        self.inner
            .payload_hint
            .store(payload.len(), Ordering::Relaxed);
        self.publish_json(event.kind(), payload).await
    }

    /// Publishes an already serialized JSON payload of `kind`. The bytes are
    /// sent and signed exactly as given.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Store`] if the store fails (nothing is stored then).
    pub async fn publish_json(
        &self,
        kind: &str,
        payload: impl Into<Bytes>,
    ) -> Result<Published, DispatchError> {
        let now = self.inner.clock.now();
        let event_id = EventId::generate();
        let subscribers = self.inner.store().subscribers(kind).await?;
        let mut deliveries = Vec::with_capacity(subscribers.len());
        let new: Vec<NewDelivery> = subscribers
            .into_iter()
            .map(|endpoint_id| {
                let id = DeliveryId::generate();
                deliveries.push((id.clone(), endpoint_id.clone()));
                NewDelivery::new(id, endpoint_id, now)
            })
            .collect();
        // An event nobody subscribes to is not stored: there is nothing to
        // deliver, and a store must not grow with events nobody receives.
        if !deliveries.is_empty() {
            let kind = self.inner.kinds.get(kind);
            let event = NewEvent::new(event_id.clone(), kind, payload.into(), now);
            self.inner.store().insert_event(event, new).await?;
            self.notify_published();
        }
        Ok(Published {
            event_id,
            deliveries,
        })
    }

    /// Registers `hook`, called (synchronously, so keep it cheap) after every
    /// publish or journey fire that stored something: a worker uses it to wake
    /// at once instead of waiting for its next poll.
    pub fn on_publish(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.inner
            .on_publish
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::new(hook));
        self.inner.has_hooks.store(true, Ordering::Release);
    }

    pub(crate) fn notify_published(&self) {
        if !self.inner.has_hooks.load(Ordering::Acquire) {
            return;
        }
        let hooks = self
            .inner
            .on_publish
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for hook in hooks {
            hook();
        }
    }

    /// Leases up to `limit` due deliveries and attempts each once, at most
    /// [`concurrency`](DispatcherBuilder::concurrency) at a time.
    ///
    /// Failures of single deliveries are counted in the report, not returned.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Store`] if leasing fails (nothing was attempted).
    pub async fn run_due(&self, limit: usize) -> Result<RunReport, DispatchError> {
        let inner = &*self.inner;
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
                    endpoints.push(endpoint.map(RequestTemplate::new));
                    by_id.insert(id.clone(), endpoints.len() - 1);
                    endpoints.len() - 1
                }
            };
            endpoint_of.push(at);
        }
        let options = SendOptions::new(inner.policy.timeout(), inner.max_response_body);
        let batch = inner.concurrency.min(report.leased);
        let mut run = Run {
            queue: leased.into_iter().zip(endpoint_of),
            endpoints: &endpoints,
            in_flight: FuturesUnordered::new(),
            batch,
            finishes: Vec::with_capacity(batch),
            attempts: Vec::with_capacity(batch),
            handed_back: Vec::new(),
            options,
        };
        // Each turn starts and collects what it can without waiting, then
        // records what completed with one store call.
        loop {
            let finished = poll_fn(|cx| self.pump(cx, &mut run)).await;
            self.record(&mut report, &mut run).await;
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

    /// Starts leased deliveries (at most `concurrency` in flight) and
    /// collects finished ones, without waiting, until a batch is complete.
    ///
    /// Each request is polled once as soon as it is built: one the transport
    /// completes at once (an in-process queue, a mock) never needs a place
    /// among the requests in flight; the others join them.
    ///
    /// Ready(true): nothing is left to start or to wait for. Ready(false): a
    /// batch (or whatever was ready) waits to be recorded. Pending: every
    /// request in flight is waiting, and will wake the task.
    fn pump<'a>(&'a self, cx: &mut Context<'_>, run: &mut Run<'a, '_>) -> Poll<bool> {
        let inner = &*self.inner;
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
                // A request must be over before its lease is, or another
                // worker could take the delivery while this one still sends
                // it: with too little lease left, hand it back.
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
                let request =
                    template.request(delivery.url.as_deref(), &delivery.id, body, started_at);
                let mut send = match request {
                    Ok(request) => inner.transport().send(request, run.options),
                    // A URL that no longer parses can never be sent: not retried.
                    Err(_) => {
                        let result = Err(TransportError::from_kind(TransportErrorKind::Rejected));
                        self.judged(run, leased, started_at, result);
                        continue;
                    }
                };
                match send.as_mut().poll(cx) {
                    Poll::Ready(result) => {
                        self.judged(run, leased, started_at, result);
                    }
                    Poll::Pending => run.in_flight.push(InFlight {
                        leased: Some(leased),
                        started_at,
                        send,
                    }),
                }
            }
            while run.finishes.len() + run.handed_back.len() < batch {
                match run.in_flight.poll_next_unpin(cx) {
                    Poll::Ready(Some((leased, started_at, result))) => {
                        progressed = true;
                        self.judged(run, leased, started_at, result);
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

    /// Judges one attempt the moment it completes; it waits in `run` to be
    /// recorded with the rest of its batch.
    fn judged(
        &self,
        run: &mut Run<'_, '_>,
        leased: Leased,
        started_at: SystemTime,
        result: SendResult,
    ) {
        let finished_at = self.inner.clock.now();
        let (finish, attempt) = self.judge(leased, started_at, finished_at, result);
        run.finishes.push(finish);
        run.attempts.push(attempt);
    }

    /// Hands back the deliveries not attempted, then records the judged
    /// attempts with one store call.
    async fn record(&self, report: &mut RunReport, run: &mut Run<'_, '_>) {
        let store = self.inner.store();
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
        // A store that answers fewer entries than asked recorded nothing
        // for the rest, as far as anyone can tell.
        let recorded = recorded
            .into_iter()
            .map(|r| r.map(|f| f.dead_in_a_row))
            .chain(std::iter::repeat_with(|| {
                Err(StoreError::from_kind(StoreErrorKind::Other))
            }));
        for (mut attempt, store) in run.attempts.drain(..).zip(recorded) {
            attempt.recorded = store.is_ok();
            self.count(report, &attempt, store);
            report.attempts.push(attempt);
        }
    }

    /// Adds one attempt's outcome to the run's report.
    fn count(
        &self,
        report: &mut RunReport,
        attempt: &AttemptReport,
        store: Result<u32, StoreError>,
    ) {
        match store {
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
                    if let Some(limit) = self.inner.disable_after_dead {
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

    /// Makes a dead delivery pending again, due now, with a fresh run of the
    /// retry policy. Returns `false` if there is no such dead delivery.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Store`] if the store fails.
    pub async fn redeliver(&self, id: &DeliveryId) -> Result<bool, DispatchError> {
        let now = self.inner.clock.now();
        Ok(self.inner.store().redeliver(id, now).await?)
    }

    /// Removes the succeeded deliveries that finished more than `older_than`
    /// ago by the dispatcher's clock, with their attempt records and each
    /// event left with no delivery, a thousand at a time until none is left,
    /// and returns how many it removed. Pending and dead deliveries and the
    /// journey ledger stay. See [`Store::prune_succeeded`]; a store that does
    /// not prune removes nothing.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Store`] if the store fails (what was removed before
    /// stays removed).
    pub async fn prune_succeeded(&self, older_than: Duration) -> Result<usize, DispatchError> {
        const CHUNK: usize = 1_000;
        let Some(before) = self.inner.clock.now().checked_sub(older_than) else {
            return Ok(0);
        };
        let mut total = 0;
        loop {
            let n = self.inner.store().prune_succeeded(before, CHUNK).await?;
            total += n;
            if n < CHUNK {
                return Ok(total);
            }
        }
    }

    /// Dead deliveries, oldest first, at most `limit`.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Store`] if the store fails.
    pub async fn dead(&self, limit: usize) -> Result<Vec<Delivery>, DispatchError> {
        let filter = DeliveryFilter::all(limit).state(DeliveryState::Dead);
        Ok(self.inner.store().deliveries(&filter).await?)
    }

    /// Sends a harmless test event to one endpoint now, outside the queue (no
    /// delivery is stored, no retry), and returns what happened. The body is
    /// `{"action":"testWebhook","timestamp":<unix ms>}`, signed like any other.
    ///
    /// # Errors
    ///
    /// [`DispatchError::UnknownEndpoint`] if there is no such endpoint.
    pub async fn test_endpoint(&self, id: &EndpointId) -> Result<TestReport, DispatchError> {
        let inner = &*self.inner;
        let endpoint = inner
            .store()
            .endpoint(id)
            .await?
            .ok_or_else(|| DispatchError::UnknownEndpoint(id.clone()))?;
        let now = inner.clock.now();
        let body = serde_json::to_vec(&serde_json::json!({
            "action": "testWebhook",
            "timestamp": unix_millis(now),
        }))
        .map_err(DispatchError::Serialize)?;
        let request = RequestTemplate::new(endpoint).request(
            None,
            &DeliveryId::generate(),
            Bytes::from(body),
            now,
        )?;
        let options = SendOptions::new(inner.policy.timeout(), inner.max_response_body);
        let result = inner.transport().send(request, options).await;
        let end = inner.clock.now();
        let result = attempt_result(result);
        let success = matches!(result, AttemptResult::Response { status, .. } if (200..300).contains(&status));
        Ok(TestReport {
            result,
            duration: end.duration_since(now).unwrap_or_default(),
            success,
        })
    }

    /// Asks the policy about one attempt's outcome: what to record, and the
    /// attempt's report (not yet marked recorded).
    fn judge(
        &self,
        leased: Leased,
        started_at: SystemTime,
        finished_at: SystemTime,
        sent: SendResult,
    ) -> (Finish, AttemptReport) {
        let inner = &*self.inner;
        let Leased { delivery, lease } = leased;
        let number = delivery.attempts.saturating_add(1);
        let duration = finished_at.duration_since(started_at).unwrap_or_default();
        let outcome = match &sent {
            Ok(response) => Outcome::Response {
                status: response.status(),
                retry_after: retry::retry_after(response.headers(), finished_at),
            },
            Err(e) => Outcome::Error(e.kind()),
        };
        let seed = jitter_seed(&delivery.id, number);
        let decision = inner
            .policy
            .decide(&AttemptInfo::new(number, &outcome, finished_at, seed));
        let next = match decision {
            Decision::Succeeded => NextState::Succeeded,
            // A policy's delay can be anything: never overflow the clock.
            Decision::RetryIn(delay) => NextState::RetryAt(saturating_add(finished_at, delay)),
            _ => NextState::Dead,
        };
        let result = attempt_result(sent);
        #[cfg(feature = "tracing")]
        {
            let status = match &result {
                AttemptResult::Response { status, .. } => *status,
                _ => 0,
            };
            let span = tracing::info_span!(
                "hookwire.attempt",
                delivery_id = %delivery.id,
                endpoint = %delivery.endpoint_id,
                attempt = number,
            );
            let _entered = span.enter();
            match &result {
                AttemptResult::Error(kind) => {
                    tracing::info!(error = %kind, decision = ?decision, duration_ms = duration.as_millis() as u64, "attempt failed")
                }
                _ => {
                    tracing::info!(status, decision = ?decision, duration_ms = duration.as_millis() as u64, "attempt answered")
                }
            }
        }
        let record = AttemptRecord::new(number, started_at, duration, result.clone());
        (
            Finish::new(lease, record, next),
            AttemptReport {
                delivery_id: delivery.id,
                endpoint_id: delivery.endpoint_id,
                event_kind: delivery.event_kind,
                attempt: number,
                result,
                duration,
                decision,
                recorded: false,
            },
        )
    }
}

/// One [`Dispatcher::run_due`] call's deliveries, from leased to recorded.
struct Run<'a, 'e> {
    /// Not yet started: each with the position of its endpoint.
    queue: std::iter::Zip<std::vec::IntoIter<Leased>, std::vec::IntoIter<usize>>,
    endpoints: &'e [Option<RequestTemplate>],
    in_flight: FuturesUnordered<InFlight<'a>>,
    /// How many attempts are recorded together (at most).
    batch: usize,
    /// Judged attempts, not yet recorded: what to store, and what to report.
    finishes: Vec<Finish>,
    attempts: Vec<AttemptReport>,
    /// Not attempted, to hand back.
    handed_back: Vec<Lease>,
    options: SendOptions,
}

type SendResult = Result<crate::transport::WebhookResponse, TransportError>;

/// A request the transport did not complete at once.
struct InFlight<'a> {
    leased: Option<Leased>,
    started_at: SystemTime,
    send: Pin<Box<dyn Future<Output = SendResult> + Send + 'a>>,
}

impl Future for InFlight<'_> {
    type Output = (Leased, SystemTime, SendResult);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let result = ready!(this.send.as_mut().poll(cx));
        match this.leased.take() {
            Some(leased) => Poll::Ready((leased, this.started_at, result)),
            // Polled again after completing: a contract breach of the
            // caller's; never resolve twice.
            None => Poll::Pending,
        }
    }
}

fn attempt_result(
    sent: Result<crate::transport::WebhookResponse, crate::transport::TransportError>,
) -> AttemptResult {
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.into_body();
            let keep = body.len().min(crate::store::MAX_RECORDED_BODY);
            AttemptResult::Response {
                status,
                body: body.slice(..keep),
            }
        }
        Err(e) => AttemptResult::Error(e.kind()),
    }
}

fn unix_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
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
