//! The chaos matrix: the tokio `Worker` over a transport that panics, hangs
//! past the timeout, resets, and answers 5xx, 429 and 410 at random; a store
//! that fails (and panics) at random on every method; endpoints deleted and
//! disabled mid-run; the clock jumping forward past the leases and back.
//!
//! Seeded, and on tokio's paused clock: nothing sleeps, each run takes a
//! fraction of a second of real time. After each run drains: every delivery
//! has succeeded or is dead with a recorded reason, none is pending or leased,
//! the attempts recorded account for every request the transport saw, and
//! the worker is still running.
#![cfg(feature = "tokio")]

#[cfg(all(feature = "postgres", feature = "test-util"))]
mod postgres_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use hookwire::clock::Clock;
use hookwire::dispatch::Dispatcher;
use hookwire::endpoint::Endpoint;
use hookwire::id::{DeliveryId, EndpointId};
use hookwire::retry::Policy;
use hookwire::store::{
    AttemptRecord, AttemptResult, Claim, Delivery, DeliveryFilter, DeliveryState, Finish,
    FinishReport, InMemoryStore, Lease, LeaseRequest, Leased, NewDelivery, NewEvent, NextState,
    SkipRecord, Store, StoreError, StoreErrorKind,
};
use hookwire::transport::{
    transport_fn, SendOptions, TransportError, TransportErrorKind, WebhookRequest, WebhookResponse,
};
use hookwire::worker::{RunningWorker, Worker};

/// xorshift64*: small, seeded, good enough to pick faults.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The dispatcher's clock: tokio's (paused) time since the start, plus jumps.
#[derive(Debug, Clone)]
struct VirtualClock {
    base: SystemTime,
    start: tokio::time::Instant,
    /// Nanoseconds added to the elapsed time (negative: jumped back).
    offset: Arc<Mutex<i128>>,
}

impl VirtualClock {
    fn new() -> Self {
        Self {
            base: UNIX_EPOCH + Duration::from_secs(1_771_515_000),
            start: tokio::time::Instant::now(),
            offset: Arc::new(Mutex::new(0)),
        }
    }

    fn jump(&self, by: Duration, forward: bool) {
        let nanos = by.as_nanos() as i128;
        *self.offset.lock().unwrap() += if forward { nanos } else { -nanos };
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> SystemTime {
        let elapsed = self.start.elapsed().as_nanos() as i128;
        let at = elapsed + *self.offset.lock().unwrap();
        let magnitude = Duration::from_nanos(at.unsigned_abs() as u64);
        if at >= 0 {
            self.base + magnitude
        } else {
            self.base - magnitude
        }
    }
}

/// A store that, once switched on, fails at random on every method, and
/// panics at random on the ones only a worker calls.
#[derive(Debug)]
struct Flaky<S = InMemoryStore> {
    inner: S,
    rng: Mutex<Rng>,
    on: AtomicBool,
    /// Per thousand calls.
    error_rate: u64,
    panic_rate: u64,
    faults: AtomicU64,
    /// Attempts `finish_attempts` was handed and did not record: refused
    /// here, or failed in the store underneath.
    refused_attempts: AtomicU64,
    /// Attempts the store underneath refused because their lease was lost.
    lost_attempts: AtomicU64,
    /// Record calls the store underneath failed (a terminated connection).
    failed_underneath: AtomicU64,
    /// Endpoints read back as unreadable rows, or as not there.
    broken: Mutex<HashMap<EndpointId, Broken>>,
}

/// How an endpoint reads back when it is broken.
#[derive(Debug, Clone, Copy)]
enum Broken {
    /// A row that cannot be decoded: `Corrupt`, every time.
    Corrupt,
    /// Its row removed behind the store's back: `None`.
    Missing,
    /// One `Unavailable` error, then readable again.
    FailsOnce,
}

impl Flaky {
    fn new(seed: u64) -> Self {
        // Keep every delivery and its attempts, to count them at the end.
        Self::over(InMemoryStore::with_retention(usize::MAX), seed)
    }
}

impl<S> Flaky<S> {
    fn over(inner: S, seed: u64) -> Self {
        Self {
            inner,
            rng: Mutex::new(Rng::new(seed ^ 0x5eed)),
            on: AtomicBool::new(false),
            error_rate: 40,
            panic_rate: 15,
            faults: AtomicU64::new(0),
            refused_attempts: AtomicU64::new(0),
            lost_attempts: AtomicU64::new(0),
            failed_underneath: AtomicU64::new(0),
            broken: Mutex::new(HashMap::new()),
        }
    }

    fn break_endpoint(&self, id: &str, how: Broken) {
        self.broken
            .lock()
            .unwrap()
            .insert(EndpointId::new(id).unwrap(), how);
    }

    /// How `id` reads back, if it is broken (a one-off failure heals).
    fn broken(&self, id: &EndpointId) -> Option<Result<Option<Endpoint>, StoreError>> {
        let mut broken = self.broken.lock().unwrap();
        let how = *broken.get(id)?;
        Some(match how {
            Broken::Corrupt => Err(StoreError::new(
                StoreErrorKind::Corrupt,
                "column headers: not [[name, base64 value, sensitive], ...]",
            )),
            Broken::Missing => Ok(None),
            Broken::FailsOnce => {
                broken.remove(id);
                Err(StoreError::new(
                    StoreErrorKind::Unavailable,
                    "connection reset",
                ))
            }
        })
    }

    /// Rolls for a fault: `Err` to fail the call, a panic when `may_panic`.
    fn roll(&self, may_panic: bool) -> Result<(), StoreError> {
        if !self.on.load(Ordering::SeqCst) {
            return Ok(());
        }
        let n = self.rng.lock().unwrap().below(1000);
        if may_panic && n < self.panic_rate {
            self.faults.fetch_add(1, Ordering::SeqCst);
            panic!("injected store panic");
        }
        if n < self.panic_rate + self.error_rate {
            self.faults.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::new(
                StoreErrorKind::Unavailable,
                "injected store failure",
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl<S: Store> Store for Flaky<S> {
    async fn put_endpoint(&self, endpoint: Endpoint) -> Result<(), StoreError> {
        self.roll(false)?;
        self.inner.put_endpoint(endpoint).await
    }
    async fn endpoint(&self, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        self.roll(true)?;
        if let Some(broken) = self.broken(id) {
            return broken;
        }
        self.inner.endpoint(id).await
    }
    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        self.roll(false)?;
        self.inner.endpoints().await
    }
    async fn subscribers(&self, kind: &str) -> Result<Vec<EndpointId>, StoreError> {
        self.roll(false)?;
        self.inner.subscribers(kind).await
    }
    async fn set_endpoint_enabled(
        &self,
        id: &EndpointId,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        self.roll(true)?;
        self.inner.set_endpoint_enabled(id, enabled).await
    }
    async fn disable_endpoint(
        &self,
        id: &EndpointId,
        at: SystemTime,
        reason: &str,
    ) -> Result<bool, StoreError> {
        self.roll(true)?;
        self.inner.disable_endpoint(id, at, reason).await
    }
    async fn insert_event(
        &self,
        event: NewEvent,
        deliveries: Vec<NewDelivery>,
    ) -> Result<bool, StoreError> {
        self.roll(false)?;
        self.inner.insert_event(event, deliveries).await
    }
    async fn claim_once(
        &self,
        key: &str,
        event: NewEvent,
        delivery: NewDelivery,
    ) -> Result<Claim, StoreError> {
        self.roll(false)?;
        self.inner.claim_once(key, event, delivery).await
    }
    async fn record_skip(&self, skip: SkipRecord) -> Result<(), StoreError> {
        self.roll(false)?;
        self.inner.record_skip(skip).await
    }
    async fn skips(&self, limit: usize) -> Result<Vec<SkipRecord>, StoreError> {
        self.roll(false)?;
        self.inner.skips(limit).await
    }
    fn enforces_flow_control(&self) -> bool {
        self.inner.enforces_flow_control()
    }
    async fn pause_endpoint(&self, id: &EndpointId, until: SystemTime) -> Result<bool, StoreError> {
        self.roll(true)?;
        self.inner.pause_endpoint(id, until).await
    }
    async fn lease(&self, request: LeaseRequest) -> Result<Vec<Leased>, StoreError> {
        self.roll(true)?;
        self.inner.lease(request).await
    }
    async fn next_due(&self, now: SystemTime) -> Result<Option<SystemTime>, StoreError> {
        self.roll(true)?;
        self.inner.next_due(now).await
    }
    async fn endpoints_by_id(
        &self,
        ids: &[EndpointId],
    ) -> Vec<Result<Option<Endpoint>, StoreError>> {
        if let Err(e) = self.roll(true) {
            let kind = e.kind();
            return ids
                .iter()
                .map(|_| Err(StoreError::from_kind(kind)))
                .collect();
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(match self.broken(id) {
                Some(broken) => broken,
                None => self.inner.endpoint(id).await,
            });
        }
        out
    }
    async fn delete_endpoint(&self, id: &EndpointId) -> Result<bool, StoreError> {
        self.roll(false)?;
        self.inner.delete_endpoint(id).await
    }
    async fn finish_attempt(
        &self,
        lease: &Lease,
        attempt: AttemptRecord,
        next: NextState,
    ) -> Result<FinishReport, StoreError> {
        self.roll(false)?;
        self.inner.finish_attempt(lease, attempt, next).await
    }
    async fn finish_attempts(&self, batch: Vec<Finish>) -> Vec<Result<FinishReport, StoreError>> {
        let n = batch.len() as u64;
        // Counted before the roll: a panic records nothing either.
        self.refused_attempts.fetch_add(n, Ordering::SeqCst);
        if let Err(e) = self.roll(true) {
            let kind = e.kind();
            return batch
                .iter()
                .map(|_| Err(StoreError::from_kind(kind)))
                .collect();
        }
        self.refused_attempts.fetch_sub(n, Ordering::SeqCst);
        let results = self.inner.finish_attempts(batch).await;
        if results
            .iter()
            .any(|r| matches!(r, Err(e) if e.kind() != StoreErrorKind::LeaseLost))
        {
            self.failed_underneath.fetch_add(1, Ordering::SeqCst);
        }
        for r in &results {
            match r {
                Err(e) if e.kind() == StoreErrorKind::LeaseLost => {
                    self.lost_attempts.fetch_add(1, Ordering::SeqCst);
                }
                Err(_) => {
                    self.refused_attempts.fetch_add(1, Ordering::SeqCst);
                }
                Ok(_) => {}
            }
        }
        results
    }
    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        self.roll(true)?;
        self.inner.release(lease).await
    }
    async fn defer(
        &self,
        lease: &Lease,
        until: SystemTime,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.roll(true)?;
        self.inner.defer(lease, until, reason).await
    }
    async fn abandon(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        self.roll(true)?;
        self.inner.abandon(lease, reason).await
    }
    async fn delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        self.roll(false)?;
        self.inner.delivery(id).await
    }
    async fn attempts(&self, id: &DeliveryId) -> Result<Vec<AttemptRecord>, StoreError> {
        self.roll(false)?;
        self.inner.attempts(id).await
    }
    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        self.roll(false)?;
        self.inner.deliveries(filter).await
    }
    async fn prune_succeeded(&self, before: SystemTime, max: usize) -> Result<usize, StoreError> {
        self.roll(false)?;
        self.inner.prune_succeeded(before, max).await
    }
    async fn redeliver(&self, id: &DeliveryId, now: SystemTime) -> Result<bool, StoreError> {
        self.roll(false)?;
        self.inner.redeliver(id, now).await
    }
}

/// What the chaos transport did, by kind.
#[derive(Debug, Default)]
struct Seen {
    requests: AtomicU64,
    panics: AtomicU64,
    hangs: AtomicU64,
    by_delivery: Mutex<HashMap<String, u64>>,
}

/// A transport that picks, per request, a 200, a 503, a 429 with
/// `Retry-After: 3`, a 410, a reset, a panic or a hang.
fn chaos_transport(seed: u64, seen: Arc<Seen>) -> impl hookwire::transport::Transport {
    let rng = Arc::new(Mutex::new(Rng::new(seed)));
    transport_fn(move |request: WebhookRequest, _options: SendOptions| {
        seen.requests.fetch_add(1, Ordering::SeqCst);
        let id = request.headers()["webhook-id"]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        *seen.by_delivery.lock().unwrap().entry(id).or_default() += 1;
        let roll = rng.lock().unwrap().below(100);
        let seen = Arc::clone(&seen);
        async move {
            let status = |code: u16| {
                http::Response::builder()
                    .status(code)
                    .body(bytes::Bytes::new())
                    .unwrap()
            };
            match roll {
                0..=49 => Ok(status(200)),
                50..=61 => Ok(status(503)),
                62..=67 => {
                    let mut r = status(429);
                    r.headers_mut().insert("retry-after", "3".parse().unwrap());
                    Ok::<WebhookResponse, TransportError>(r)
                }
                68..=70 => Ok(status(410)),
                71..=79 => Err(TransportError::new(
                    TransportErrorKind::Interrupted,
                    "connection reset by peer",
                )),
                80..=89 => {
                    seen.panics.fetch_add(1, Ordering::SeqCst);
                    panic!("injected transport panic")
                }
                _ => {
                    seen.hangs.fetch_add(1, Ordering::SeqCst);
                    std::future::pending().await
                }
            }
        }
    })
}

const ENDPOINTS: [&str; 6] = ["ep_0", "ep_1", "ep_2", "ep_3", "ep_4", "ep_5"];

/// Publishes `n` events; returns how many deliveries they made.
async fn publish(dispatcher: &Dispatcher, n: usize) -> usize {
    let mut deliveries = 0;
    for i in 0..n {
        // The store may refuse: try again, as a host would.
        let body = format!(r#"{{"action":"updateExperience","n":{i}}}"#);
        loop {
            if let Ok(p) = dispatcher
                .publish_json("updateExperience", body.clone())
                .await
            {
                deliveries += p.deliveries.len();
                break;
            }
        }
    }
    deliveries
}

async fn pending(store: &dyn Store) -> usize {
    store
        .deliveries(&DeliveryFilter::all(usize::MAX).state(DeliveryState::Pending))
        .await
        .unwrap()
        .len()
}

async fn sleep_secs(n: u64) {
    tokio::time::sleep(Duration::from_secs(n)).await;
}

/// What changes between the in-memory run (tokio's paused clock, a unit of
/// one virtual second) and the PostgreSQL one (real time, shorter units).
struct Matrix<S> {
    store: Arc<Flaky<S>>,
    /// One step of the scenario: delays, timeouts and jumps are counted in it.
    unit: Duration,
    /// Done once mid-run (for PostgreSQL: terminate the worker's connections).
    disturb: Option<Box<dyn Fn() -> futures::future::BoxFuture<'static, ()> + Send + Sync>>,
}

/// Re-enables the endpoints that were disabled (by a 410, by dead deliveries
/// in a row, or mid-run), as an operator would, so that nothing stays parked.
async fn enable_all(store: &dyn Store, deleted: &[&str]) {
    for id in ENDPOINTS.iter().filter(|id| !deleted.contains(id)) {
        store
            .set_endpoint_enabled(&EndpointId::new(*id).unwrap(), true)
            .await
            .unwrap();
    }
}

async fn run_one_seed(seed: u64) {
    let matrix = Matrix {
        store: Arc::new(Flaky::new(seed)),
        unit: Duration::from_secs(1),
        disturb: None,
    };
    run_matrix(seed, matrix).await;
}

async fn run_matrix<S: Store + 'static>(seed: u64, matrix: Matrix<S>) {
    let Matrix {
        store,
        unit,
        disturb,
    } = matrix;
    let sleep = |n: u32| tokio::time::sleep(unit * n);
    let clock = VirtualClock::new();
    let seen = Arc::new(Seen::default());
    let policy = Policy::custom([1, 2, 4, 8].map(|n| unit * n))
        .unwrap()
        .with_timeout(unit * 2)
        .unwrap()
        .with_retry_after_cap(unit * 3)
        .unwrap();
    let dispatcher =
        Dispatcher::builder(chaos_transport(seed, Arc::clone(&seen)), Arc::clone(&store))
            .clock(clock.clone())
            .policy(policy)
            .lease(unit * 10)
            .concurrency(8)
            .build()
            .unwrap();
    for id in ENDPOINTS {
        dispatcher
            .add_endpoint(
                Endpoint::builder(id, format!("https://hooks.example.com/{id}"))
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    let mut published = publish(&dispatcher, 40).await;
    let running: RunningWorker = Worker::new(dispatcher.clone())
        .poll_interval(unit)
        .batch_size(8)
        .spawn()
        .unwrap();
    store.on.store(true, Ordering::SeqCst);

    let inner: &dyn Store = &store.inner;
    let ep = |id: &str| EndpointId::new(id).unwrap();
    // Mid-run: more events, an endpoint disabled and enabled again, one
    // deleted, the clock jumping past every lease (10 units) and back.
    sleep(3).await;
    published += publish(&dispatcher, 30).await;
    inner
        .set_endpoint_enabled(&ep("ep_2"), false)
        .await
        .unwrap();
    sleep(4).await;
    assert!(inner.delete_endpoint(&ep("ep_5")).await.unwrap());
    clock.jump(unit * 30, true);
    if let Some(disturb) = &disturb {
        disturb().await;
    }
    sleep(4).await;
    published += publish(&dispatcher, 30).await;
    clock.jump(unit * 12, false);
    sleep(6).await;
    inner.set_endpoint_enabled(&ep("ep_2"), true).await.unwrap();

    // Drain: until nothing is pending, within a bound.
    let mut waited = 0;
    loop {
        enable_all(inner, &["ep_5"]).await;
        if pending(inner).await == 0 && running.status().in_flight == 0 {
            break;
        }
        assert!(waited < 2_000, "seed {seed}: not drained after 2,000 units");
        sleep(5).await;
        waited += 5;
    }
    // Let the last records land.
    sleep(5).await;

    let status = running.status();
    assert!(!running.is_finished(), "seed {seed}: the worker stopped");
    assert_eq!(status.loops_running, 1, "seed {seed}: {status:?}");

    let all = inner
        .deliveries(&DeliveryFilter::all(usize::MAX))
        .await
        .unwrap();
    assert_eq!(all.len(), published, "seed {seed}");
    let mut recorded = 0u64;
    let mut dead = 0;
    for d in &all {
        let attempts = inner.attempts(&d.id).await.unwrap();
        recorded += attempts.len() as u64;
        match d.state {
            DeliveryState::Succeeded => {
                let last = attempts.last().expect("a success has its attempt");
                assert!(
                    matches!(last.result, AttemptResult::Response { status, .. } if (200..300).contains(&status)),
                    "seed {seed}: {d:?}"
                );
            }
            DeliveryState::Dead => {
                dead += 1;
                // The reason is kept: the delivery's own, or its last attempt's.
                let reason = d.reason.clone().or_else(|| {
                    attempts.last().map(|a| match &a.result {
                        AttemptResult::Response { status, .. } => format!("HTTP {status}"),
                        AttemptResult::Error { reason, .. } => reason.clone(),
                        _ => String::new(),
                    })
                });
                assert!(
                    reason.is_some_and(|r| !r.is_empty()),
                    "seed {seed}: dead without a reason: {d:?}"
                );
            }
            other => panic!("seed {seed}: {other:?} after draining: {d:?}"),
        }
    }
    // Every request the transport saw is recorded, except those whose record
    // the store refused or lost to a lease taken over after the clock jumped
    // (both counted by the store).
    let summary = running.shutdown().await;
    let requests = seen.requests.load(Ordering::SeqCst);
    let refused = store.refused_attempts.load(Ordering::SeqCst);
    let lost = store.lost_attempts.load(Ordering::SeqCst);
    assert_eq!(
        requests,
        recorded + refused + lost,
        "seed {seed}: {summary:?}"
    );
    let faults = store.faults.load(Ordering::SeqCst);
    eprintln!(
        "seed {seed}: {} deliveries ({dead} dead), {requests} requests ({} panicked, {} hung), \
         {recorded} recorded, {refused} refused by the store, {lost} leases lost, {faults} store faults",
        all.len(),
        seen.panics.load(Ordering::SeqCst),
        seen.hangs.load(Ordering::SeqCst),
    );
    // Bounded: each refused record call covers at most one batch.
    let underneath = store.failed_underneath.load(Ordering::SeqCst);
    assert!(
        refused <= (faults + underneath) * 8,
        "seed {seed}: {refused} refused, {faults} faults, {underneath} failed underneath"
    );
    // The matrix really ran.
    assert!(seen.panics.load(Ordering::SeqCst) > 0, "seed {seed}");
    assert!(recorded > 0, "seed {seed}");
    assert!(seen.hangs.load(Ordering::SeqCst) > 0, "seed {seed}");
    assert!(faults > 0, "seed {seed}");
    assert!(dead > 0, "seed {seed}");
    assert!(
        all.iter()
            .any(|d| d.reason.as_deref() == Some("endpoint deleted")),
        "seed {seed}: nothing ended for the deleted endpoint"
    );
    assert_eq!(
        summary.panics,
        seen.panics.load(Ordering::SeqCst),
        "seed {seed}"
    );
}

/// Keeps the injected panics out of the test's output; any other panic is
/// printed as usual.
fn quiet_injected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let injected = info
            .payload()
            .downcast_ref::<&str>()
            .is_some_and(|m| m.starts_with("injected"));
        if !injected {
            default(info);
        }
    }));
}

#[tokio::test(start_paused = true)]
async fn nothing_is_lost_or_stuck_under_chaos() {
    quiet_injected_panics();
    for seed in [1, 2, 3, 42, 2026] {
        run_one_seed(seed).await;
    }
}

// ------------------------------------------------------------------------
// Each case the faults issue reproduced, as a regression test.

fn fast_policy() -> Policy {
    Policy::custom([1, 2, 4, 8].map(Duration::from_secs))
        .unwrap()
        .with_jitter(0.0)
        .unwrap()
        .with_timeout(Duration::from_secs(2))
        .unwrap()
}

fn endpoint(id: &str) -> Endpoint {
    Endpoint::builder(id, format!("https://hooks.example.com/{id}"))
        .build()
        .unwrap()
}

/// A transport answering 200, except that the requests numbered in `panics`
/// (0-based) panic; it counts every request.
fn panicking_on(
    panics: &'static [u64],
    count: Arc<AtomicU64>,
) -> impl hookwire::transport::Transport {
    transport_fn(move |_request: WebhookRequest, _options: SendOptions| {
        let n = count.fetch_add(1, Ordering::SeqCst);
        async move {
            if panics.contains(&n) {
                panic!("injected transport panic on request {n}");
            }
            Ok::<WebhookResponse, TransportError>(WebhookResponse::new(bytes::Bytes::new()))
        }
    })
}

/// Case 1: a panic in a transport fails one attempt; it neither kills the
/// worker nor loses the attempts completed beside it.
#[tokio::test(start_paused = true)]
async fn a_transport_panic_fails_one_attempt_and_delivery_goes_on() {
    quiet_injected_panics();
    // Inside one run: 10 deliveries, the third request panics. Exactly 10
    // requests, 10 attempts recorded; the panicked one is retried.
    let count = Arc::new(AtomicU64::new(0));
    let store = InMemoryStore::new();
    let clock = VirtualClock::new();
    let dispatcher = Dispatcher::builder(panicking_on(&[2], Arc::clone(&count)), store.clone())
        .clock(clock.clone())
        .policy(fast_policy())
        .build()
        .unwrap();
    dispatcher.add_endpoint(endpoint("ep_a")).await.unwrap();
    for _ in 0..10 {
        dispatcher.publish_json("ping", &b"{}"[..]).await.unwrap();
    }
    let report = dispatcher.run_due(100).await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 10);
    assert_eq!(report.attempts.len(), 10);
    assert!(report.attempts.iter().all(|a| a.recorded));
    assert_eq!((report.succeeded, report.retried), (9, 1));
    let panicked: Vec<_> = report.attempts.iter().filter(|a| a.panicked()).collect();
    assert_eq!(panicked.len(), 1);
    match &panicked[0].result {
        AttemptResult::Error { kind, reason } => {
            assert_eq!(*kind, TransportErrorKind::Panicked);
            assert!(
                reason.contains("injected transport panic on request 2"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }

    // A worker: the first two requests panic; it goes on delivering, and
    // later events are sent.
    let count = Arc::new(AtomicU64::new(0));
    let store = InMemoryStore::new();
    let dispatcher = Dispatcher::builder(panicking_on(&[0, 1], Arc::clone(&count)), store.clone())
        .clock(VirtualClock::new())
        .policy(fast_policy())
        .build()
        .unwrap();
    dispatcher.add_endpoint(endpoint("ep_a")).await.unwrap();
    let running = Worker::new(dispatcher.clone()).spawn().unwrap();
    for _ in 0..2 {
        dispatcher.publish_json("ping", &b"{}"[..]).await.unwrap();
    }
    sleep_secs(10).await;
    for _ in 0..3 {
        dispatcher.publish_json("ping", &b"{}"[..]).await.unwrap();
    }
    sleep_secs(10).await;
    assert!(!running.is_finished());
    assert_eq!(running.status().loops_running, 1);
    let summary = running.shutdown().await;
    assert_eq!(summary.succeeded, 5, "{summary:?}");
    assert_eq!(summary.panics, 2, "{summary:?}");
    assert_eq!(count.load(Ordering::SeqCst), 7);
    assert!(summary.runs > 0);
}

/// Case 2: one endpoint that cannot be read holds back only its own
/// deliveries; one that reads back as gone ends its own dead; one read
/// failure defers only that endpoint's deliveries.
#[tokio::test(start_paused = true)]
async fn one_unreadable_endpoint_holds_back_only_its_own_deliveries() {
    let clock = VirtualClock::new();
    let store = Arc::new(Flaky::new(7));
    let count = Arc::new(AtomicU64::new(0));
    let dispatcher = Dispatcher::builder(panicking_on(&[], Arc::clone(&count)), Arc::clone(&store))
        .clock(clock.clone())
        .policy(fast_policy())
        .build()
        .unwrap();
    for id in ["ep_good", "ep_corrupt", "ep_missing", "ep_flaky"] {
        dispatcher.add_endpoint(endpoint(id)).await.unwrap();
    }
    for _ in 0..5 {
        dispatcher.publish_json("ping", &b"{}"[..]).await.unwrap();
    }
    store.break_endpoint("ep_corrupt", Broken::Corrupt);
    store.break_endpoint("ep_missing", Broken::Missing);
    store.break_endpoint("ep_flaky", Broken::FailsOnce);

    let report = dispatcher.run_due(100).await.unwrap();
    assert_eq!(report.leased, 20);
    assert_eq!(report.succeeded, 5, "ep_good: {report:?}");
    assert_eq!(report.abandoned, 5, "ep_missing: {report:?}");
    assert_eq!(report.deferred, 10, "ep_corrupt and ep_flaky: {report:?}");
    assert_eq!(count.load(Ordering::SeqCst), 5);
    let inner = &store.inner;
    let of = |id: &str| DeliveryFilter::all(100).endpoint(EndpointId::new(id).unwrap());
    for d in inner.deliveries(&of("ep_missing")).await.unwrap() {
        assert_eq!(d.state, DeliveryState::Dead);
        assert_eq!(d.reason.as_deref(), Some("endpoint deleted"));
    }
    for d in inner.deliveries(&of("ep_corrupt")).await.unwrap() {
        assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 0));
        let reason = d.reason.unwrap();
        assert!(
            reason.starts_with("endpoint could not be read: "),
            "{reason}"
        );
        assert!(reason.contains("corrupt"), "{reason}");
    }
    // The one-off failure heals: once the deferral is over, ep_flaky's
    // deliveries go out; ep_corrupt's are held back again, nothing more.
    clock.jump(Duration::from_secs(6), true);
    let report = dispatcher.run_due(100).await.unwrap();
    assert_eq!((report.succeeded, report.deferred), (5, 5), "{report:?}");
}

/// Case 2, a worker: a store answering `None` for an endpoint ends its
/// deliveries instead of spinning, and a worker with nothing it can send
/// waits instead of polling.
#[tokio::test(start_paused = true)]
async fn a_worker_with_nothing_to_send_waits_instead_of_spinning() {
    let store = Arc::new(Flaky::new(8));
    let count = Arc::new(AtomicU64::new(0));
    let dispatcher = Dispatcher::builder(panicking_on(&[], Arc::clone(&count)), Arc::clone(&store))
        .clock(VirtualClock::new())
        .policy(fast_policy())
        .build()
        .unwrap();
    dispatcher
        .add_endpoint(endpoint("ep_missing"))
        .await
        .unwrap();
    for _ in 0..20 {
        dispatcher.publish_json("ping", &b"{}"[..]).await.unwrap();
    }
    store.break_endpoint("ep_missing", Broken::Missing);
    let running = Worker::new(dispatcher.clone())
        .poll_interval(Duration::from_secs(1))
        .spawn()
        .unwrap();
    sleep_secs(60).await;
    let summary = running.shutdown().await;
    assert_eq!(summary.abandoned, 20, "{summary:?}");
    assert_eq!(count.load(Ordering::SeqCst), 0);
    // A lease call a second at most (the poll interval), plus the first ones:
    // the old worker made tens of thousands in this time.
    assert!(summary.runs <= 70, "{summary:?}");
}

/// Case 3: a lease not longer than the request timeout is refused when the
/// dispatcher is built, with what to change; so are the worker's settings
/// that cannot work.
#[test]
fn impossible_settings_are_refused_when_built() {
    let transport = || panicking_on(&[], Arc::new(AtomicU64::new(0)));
    let err = Dispatcher::builder(transport(), InMemoryStore::new())
        .lease(Duration::from_secs(5))
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the lease (5s) must be longer than the request timeout (10s): lease for at least twice the timeout, or shorten the policy's timeout"
    );
    for (builder, what) in [
        (
            Dispatcher::builder(transport(), InMemoryStore::new()).concurrency(0),
            "concurrency must be at least 1",
        ),
        (
            Dispatcher::builder(transport(), InMemoryStore::new()).max_in_flight_per_endpoint(0),
            "max_in_flight_per_endpoint must be at least 1",
        ),
        (
            Dispatcher::builder(transport(), InMemoryStore::new()).disable_after_dead(Some(0)),
            "disable_after_dead must be at least 1 (None never disables)",
        ),
    ] {
        assert_eq!(builder.build().unwrap_err().to_string(), what);
    }
    let dispatcher = Dispatcher::builder(transport(), InMemoryStore::new())
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        for (worker, what) in [
            (
                Worker::new(dispatcher.clone()).batch_size(0),
                "batch_size must be at least 1",
            ),
            (
                Worker::new(dispatcher.clone()).loops(0),
                "loops must be at least 1",
            ),
            (
                Worker::new(dispatcher.clone()).poll_interval(Duration::ZERO),
                "poll_interval must be greater than zero",
            ),
        ] {
            assert_eq!(worker.spawn().unwrap_err().to_string(), what);
        }
    });
}

/// Case 4: a 404 or 410 for one rendered journey URL ends that delivery
/// only (a DELETE counts it as already gone); the step goes on for every
/// other profile.
#[tokio::test(start_paused = true)]
async fn a_410_for_one_journey_subscriber_ends_only_that_delivery() {
    use hookwire::dispatch::{Fire, FireOutcome};
    use hookwire::model::journey::{JourneyStep, Profile};
    use hookwire::testing::{MockReply, MockTransport};

    let transport = MockTransport::new([
        MockReply::status(410),
        MockReply::status(200),
        MockReply::status(404),
        MockReply::status(200),
    ]);
    let store = InMemoryStore::new();
    let dispatcher = Dispatcher::builder(transport.clone(), store.clone())
        .clock(VirtualClock::new())
        .policy(fast_policy())
        .build()
        .unwrap();
    let profile = |email: &str| Profile {
        email: Some(email.into()),
        identity_resolved: true,
        ..Profile::default()
    };
    let unsubscribe = JourneyStep::builder(
        "jrn_news",
        "step_unsubscribe",
        "Unsubscribed",
        "DELETE",
        "https://email.example.com/subscribers/{email}",
    )
    .build()
    .unwrap();
    let enrol = JourneyStep::builder(
        "jrn_news",
        "step_enrol",
        "Enrolled",
        "POST",
        "https://crm.example.com/accounts/{email}/enrol",
    )
    .build()
    .unwrap();
    for step in [&unsubscribe, &enrol] {
        for who in ["gone@example.com", "here@example.com"] {
            let p = profile(who);
            assert!(matches!(
                dispatcher.fire(step, Fire::new(&p)).await.unwrap(),
                FireOutcome::Enqueued(_)
            ));
            let report = dispatcher.run_due(10).await.unwrap();
            assert_eq!(report.attempts.len(), 1);
            assert!(report.disabled.is_empty(), "{report:?}");
        }
    }
    let all = store.deliveries(&DeliveryFilter::all(10)).await.unwrap();
    let states: Vec<_> = all.iter().map(|d| d.state).collect();
    // DELETE: 410 means already gone (delivered); POST: 404 ends it dead.
    assert_eq!(
        states,
        [
            DeliveryState::Succeeded,
            DeliveryState::Succeeded,
            DeliveryState::Dead,
            DeliveryState::Succeeded
        ]
    );
    for e in store.endpoints().await.unwrap() {
        assert!(e.enabled, "{} was disabled", e.id);
    }
    assert_eq!(transport.requests().len(), 4);
}

/// Case 5: an endpoint deleted (or its row removed) with deliveries pending
/// leaves none pending: they end dead with the reason `endpoint deleted`.
#[tokio::test(start_paused = true)]
async fn a_deleted_endpoints_deliveries_end_dead_with_a_reason() {
    let count = Arc::new(AtomicU64::new(0));
    let store = InMemoryStore::new();
    let clock = VirtualClock::new();
    let dispatcher = Dispatcher::builder(panicking_on(&[], Arc::clone(&count)), store.clone())
        .clock(clock.clone())
        .policy(fast_policy())
        .build()
        .unwrap();
    dispatcher.add_endpoint(endpoint("ep_a")).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let p = dispatcher.publish_json("ping", &b"{}"[..]).await.unwrap();
        ids.push(p.deliveries[0].0.clone());
    }
    // One is leased when the endpoint goes: it ends when next leased.
    let leased = store
        .lease_due(clock.now(), 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(dispatcher
        .delete_endpoint(&EndpointId::new("ep_a").unwrap())
        .await
        .unwrap());
    assert!(!dispatcher
        .delete_endpoint(&EndpointId::new("ep_a").unwrap())
        .await
        .unwrap());
    store.release(&leased[0].lease).await.unwrap();
    let report = dispatcher.run_due(10).await.unwrap();
    assert_eq!(report.abandoned, 1, "{report:?}");
    for id in &ids {
        let d = store.delivery(id).await.unwrap().unwrap();
        assert_eq!(d.state, DeliveryState::Dead, "{d:?}");
        assert_eq!(d.reason.as_deref(), Some("endpoint deleted"));
    }
    assert_eq!(count.load(Ordering::SeqCst), 0);
    // A delivery stored for an endpoint that is not there at all (its row
    // removed behind the store's back) ends the same way.
    let orphan = NewDelivery::new(
        DeliveryId::new("dlv_orphan").unwrap(),
        EndpointId::new("ep_never").unwrap(),
        clock.now(),
    );
    let event = NewEvent::new(
        hookwire::id::EventId::new("evt_orphan").unwrap(),
        "ping",
        bytes::Bytes::from_static(b"{}"),
        clock.now(),
    );
    store.insert_event(event, vec![orphan]).await.unwrap();
    assert_eq!(dispatcher.run_due(10).await.unwrap().abandoned, 1);
    assert_eq!(
        store
            .delivery(&DeliveryId::new("dlv_orphan").unwrap())
            .await
            .unwrap()
            .unwrap()
            .state,
        DeliveryState::Dead
    );
}

/// The same matrix against `PgStore`, on real time (shorter units), without
/// the store-side panics, and with the worker's database connections
/// terminated (`pg_terminate_backend`) mid-run.
#[cfg(all(feature = "postgres", feature = "test-util"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_or_stuck_under_chaos_on_postgres() {
    quiet_injected_panics();
    let Some(url) = postgres_support::database_url() else {
        return;
    };
    for seed in [11, 12] {
        let app = format!("hookwire_chaos_{seed}_{}", std::process::id());
        let sep = if url.contains('?') { '&' } else { '?' };
        let worker_url = format!("{url}{sep}application_name={app}");
        let schema = format!("hw_chaos_{seed}");
        let store = postgres_support::fresh_store(&worker_url, &schema, 8).await;
        let mut flaky = Flaky::over(store.clone(), seed);
        flaky.panic_rate = 0;
        let admin = postgres_support::store(&url, &schema, 1);
        let disturb = move || {
            let (admin, app) = (admin.clone(), app.clone());
            Box::pin(async move {
                let client = admin.pool().get().await.unwrap();
                let killed = client
                    .query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name = $1",
                        &[&app],
                    )
                    .await
                    .unwrap();
                assert!(
                    !killed.is_empty(),
                    "no connection of the worker's to terminate"
                );
            }) as futures::future::BoxFuture<'static, ()>
        };
        let matrix = Matrix {
            store: Arc::new(flaky),
            unit: Duration::from_millis(100),
            disturb: Some(Box::new(disturb)),
        };
        run_matrix(seed, matrix).await;
    }
}

/// A loop that ends unexpectedly (here the host's clock panics inside it,
/// outside any one attempt) is restarted and counted; what it held comes
/// back when its leases expire.
#[tokio::test(start_paused = true)]
async fn a_worker_loop_that_panics_is_restarted_and_counted() {
    /// Once armed, its second reading inside the worker (when the first
    /// leased delivery is about to start) panics.
    #[derive(Debug, Clone)]
    struct PanicsOnce {
        clock: VirtualClock,
        armed: Arc<AtomicBool>,
        readings: Arc<AtomicU64>,
    }
    impl Clock for PanicsOnce {
        fn now(&self) -> SystemTime {
            // Only inside a spawned task (the worker's), never in the test.
            if tokio::task::try_id().is_some()
                && self.armed.load(Ordering::SeqCst)
                && self.readings.fetch_add(1, Ordering::SeqCst) == 1
            {
                self.armed.store(false, Ordering::SeqCst);
                panic!("injected clock panic");
            }
            self.clock.now()
        }
    }
    quiet_injected_panics();
    let armed = Arc::new(AtomicBool::new(false));
    let clock = PanicsOnce {
        clock: VirtualClock::new(),
        armed: Arc::clone(&armed),
        readings: Arc::new(AtomicU64::new(0)),
    };
    let count = Arc::new(AtomicU64::new(0));
    let store = InMemoryStore::new();
    let dispatcher = Dispatcher::builder(panicking_on(&[], Arc::clone(&count)), store.clone())
        .clock(clock)
        .policy(fast_policy())
        .lease(Duration::from_secs(10))
        .build()
        .unwrap();
    dispatcher.add_endpoint(endpoint("ep_a")).await.unwrap();
    let running = Worker::new(dispatcher.clone()).spawn().unwrap();
    sleep_secs(1).await;
    armed.store(true, Ordering::SeqCst);
    for _ in 0..5 {
        dispatcher.publish_json("ping", &b"{}"[..]).await.unwrap();
    }
    // The dead loop's leases (10 s) expire; the new loop sends them.
    sleep_secs(30).await;
    let status = running.status();
    assert_eq!(status.loops_restarted, 1, "{status:?}");
    assert_eq!(status.loops_running, 1, "{status:?}");
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("injected clock panic")),
        "{status:?}"
    );
    assert_eq!(pending(&store).await, 0);
    let summary = running.shutdown().await;
    assert_eq!(summary.loops_restarted, 1);
    assert_eq!(count.load(Ordering::SeqCst), 5);
}
