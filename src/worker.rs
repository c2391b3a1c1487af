//! A tokio worker that keeps deliveries moving (cargo feature `tokio`).
//!
//! Each of the [`Worker`]'s loops runs the dispatcher's delivery engine
//! continuously: it keeps up to the dispatcher's
//! [`concurrency`](crate::dispatch::DispatcherBuilder::concurrency) requests
//! in flight, leases more as requests complete, records each attempt as it
//! completes, and, when nothing is due, waits for the next due time, a
//! publish through the same dispatcher, or the poll interval, whichever
//! comes first. It never polls in a busy loop.
//!
//! A loop that ends unexpectedly (a panic outside any one attempt) is
//! restarted and counted ([`WorkerStatus::loops_restarted`]); a panic inside
//! one attempt's transport fails only that attempt. Shutting down stops
//! leasing, lets the requests in flight finish (each bounded by the policy's
//! timeout), records them, hands back anything not started, and returns a
//! summary: nothing in flight is dropped, and whatever is still due stays due
//! in the store.
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use hookwire::dispatch::Dispatcher;
//! use hookwire::store::InMemoryStore;
//! use hookwire::transport::{transport_fn, WebhookResponse};
//! use hookwire::worker::Worker;
//! use std::time::Duration;
//!
//! let transport = transport_fn(|_req, _opts| async { Ok(WebhookResponse::new(Default::default())) });
//! let dispatcher = Dispatcher::builder(transport, InMemoryStore::new()).build()?;
//! let running = Worker::new(dispatcher.clone())
//!     .poll_interval(Duration::from_millis(200))
//!     .spawn()?;
//! // ... publish events through `dispatcher` ...
//! assert_eq!(running.status().loops_restarted, 0);
//! let summary = running.shutdown().await;
//! assert_eq!(summary.dead, 0);
//! # Ok(())
//! # }
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::dispatch::engine::panic_message;
use crate::dispatch::idle::{Idle, IdleFuture, LiveCounters};
use crate::dispatch::Dispatcher;

/// Runs a [`Dispatcher`] on tokio. Configure, then [`spawn`](Self::spawn).
#[derive(Debug, Clone)]
#[must_use]
pub struct Worker {
    dispatcher: Dispatcher,
    poll_interval: Duration,
    batch: usize,
    loops: usize,
    prune_after: Option<Duration>,
    prune_every: Duration,
    sample_every: Duration,
}

/// Totals over a worker's life, returned when it shuts down.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerSummary {
    /// Lease calls made.
    pub runs: u64,
    /// Deliveries leased.
    pub leased: u64,
    /// Attempts made.
    pub attempts: u64,
    /// Attempts that succeeded.
    pub succeeded: u64,
    /// Attempts scheduled for a retry.
    pub retried: u64,
    /// Deliveries that ended dead (after an attempt, or abandoned).
    pub dead: u64,
    /// Attempts whose lease had been taken over by another worker.
    pub lease_lost: u64,
    /// Store failures (leasing, reading endpoints, recording, handing back).
    pub store_errors: u64,
    /// Deliveries handed back unattempted, due again at once.
    pub released: u64,
    /// Deliveries handed back until later because their endpoint could not
    /// be read.
    pub deferred: u64,
    /// Deliveries ended dead unattempted because their endpoint no longer
    /// exists.
    pub abandoned: u64,
    /// Endpoints disabled (each counted once per loop).
    pub endpoints_disabled: u64,
    /// Attempts whose transport panicked (caught, recorded, retried).
    pub panics: u64,
    /// Loops restarted after ending unexpectedly.
    pub loops_restarted: u64,
    /// Succeeded deliveries pruned (see [`Worker::prune_succeeded_after`]).
    pub pruned: u64,
}

/// How a running worker is doing; see [`RunningWorker::status`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStatus {
    /// Loops running now (the configured number, unless shutting down).
    pub loops_running: usize,
    /// Loops restarted after ending unexpectedly (a panic outside any one
    /// attempt).
    pub loops_restarted: u64,
    /// Requests in flight now.
    pub in_flight: u64,
    /// The totals so far (as [`RunningWorker::shutdown`] will report them).
    pub totals: WorkerSummary,
    /// The last store failure or loop restart, in words, if any.
    pub last_error: Option<String>,
}

/// A [`Worker`] setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// `batch_size(0)`: nothing could ever be leased.
    #[error("batch_size must be at least 1")]
    ZeroBatch,
    /// `loops(0)`: nothing would run.
    #[error("loops must be at least 1")]
    ZeroLoops,
    /// A zero poll interval would poll the store in a busy loop.
    #[error("poll_interval must be greater than zero")]
    ZeroPollInterval,
    /// A zero prune interval would prune in a busy loop.
    #[error("prune_every must be greater than zero")]
    ZeroPruneEvery,
    /// A zero sampling interval would sample in a busy loop.
    #[error("sample_every must be greater than zero")]
    ZeroSampleEvery,
}

/// What the loops, the pruner and the handle share.
#[derive(Debug, Default)]
struct Shared {
    wake: Notify,
    stop: AtomicBool,
    /// Notified once, on shutdown (the pruner waits on it, not on publishes).
    stopped: Notify,
    counters: LiveCounters,
    restarts: AtomicU64,
    running: AtomicU64,
    pruned: AtomicU64,
}

impl Shared {
    fn wake_all(&self) {
        self.wake.notify_waiters();
        // A loop between arming its wait and waiting gets this permit.
        self.wake.notify_one();
    }

    fn summary(&self) -> WorkerSummary {
        let c = &self.counters;
        WorkerSummary {
            runs: c.get(&c.leases),
            leased: c.get(&c.leased),
            attempts: c.get(&c.attempts),
            succeeded: c.get(&c.succeeded),
            retried: c.get(&c.retried),
            dead: c.get(&c.dead),
            lease_lost: c.get(&c.lease_lost),
            store_errors: c.get(&c.store_errors),
            released: c.get(&c.released),
            deferred: c.get(&c.deferred),
            abandoned: c.get(&c.abandoned),
            endpoints_disabled: c.get(&c.endpoints_disabled),
            panics: c.get(&c.panics),
            loops_restarted: self.restarts.load(Ordering::Relaxed),
            pruned: self.pruned.load(Ordering::Relaxed),
        }
    }
}

/// The tokio side of the engine's waits.
struct TokioIdle(Arc<Shared>);

impl Idle for TokioIdle {
    fn wait(&self, timeout: Duration) -> IdleFuture<'_> {
        let shared = &self.0;
        Box::pin(async move {
            let notified = shared.wake.notified();
            tokio::pin!(notified);
            // Registered before the stop flag is read, so a stop in between
            // is not missed.
            notified.as_mut().enable();
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            let _ = tokio::time::timeout(timeout, notified).await;
        })
    }

    fn sleep(&self, duration: Duration) -> IdleFuture<'_> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn stopping(&self) -> bool {
        self.0.stop.load(Ordering::SeqCst)
    }
}

/// A worker that is running; shut it down with [`shutdown`](Self::shutdown).
#[derive(Debug)]
pub struct RunningWorker {
    shared: Arc<Shared>,
    loops: Vec<JoinHandle<()>>,
    pruner: Option<JoinHandle<()>>,
    sampler: Option<JoinHandle<()>>,
}

impl RunningWorker {
    /// Asks the worker to look for due deliveries at once (as publishing does).
    pub fn wake(&self) {
        self.shared.wake_all();
    }

    /// Whether every one of the worker's loops has ended (after
    /// [`shutdown`](Self::shutdown) began, or if the runtime shut down).
    pub fn is_finished(&self) -> bool {
        self.loops.iter().all(JoinHandle::is_finished)
    }

    /// How the worker is doing now: loops running and restarted, requests in
    /// flight, the totals so far, the last error.
    pub fn status(&self) -> WorkerStatus {
        let shared = &self.shared;
        WorkerStatus {
            loops_running: shared.running.load(Ordering::Relaxed) as usize,
            loops_restarted: shared.restarts.load(Ordering::Relaxed),
            in_flight: shared.counters.get(&shared.counters.in_flight),
            totals: shared.summary(),
            last_error: shared
                .counters
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// Stops leasing, waits for the requests in flight to finish and be
    /// recorded, and returns the totals.
    pub async fn shutdown(self) -> WorkerSummary {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake_all();
        self.shared.stopped.notify_waiters();
        for join in self.loops {
            // A supervisor never panics: it catches its loop's panics.
            let _ = join.await;
        }
        for task in [self.pruner, self.sampler].into_iter().flatten() {
            // These tasks end when they see the stop; they catch nothing.
            let _ = task.await;
        }
        self.shared.summary()
    }
}

impl Worker {
    /// A worker for `dispatcher`: one loop, leasing at most 64 at a time,
    /// polling every second when nothing is due.
    pub fn new(dispatcher: Dispatcher) -> Self {
        Self {
            dispatcher,
            poll_interval: Duration::from_secs(1),
            batch: 64,
            loops: 1,
            prune_after: None,
            prune_every: Duration::from_secs(60),
            sample_every: Duration::from_secs(10),
        }
    }

    /// How often the worker samples the queue for the metrics
    /// `hookwire_deliveries_due` and `hookwire_due_lag_seconds` (default
    /// 10 s; zero is refused by [`spawn`](Self::spawn)). Only with the
    /// `metrics` feature.
    pub fn sample_every(mut self, every: Duration) -> Self {
        self.sample_every = every;
        self
    }

    /// Removes succeeded deliveries once they finished more than `age` ago
    /// (default: never), checking at start and then every minute. A database
    /// store otherwise keeps every delivery forever; `InMemoryStore` bounds
    /// itself anyway. See [`Dispatcher::prune_succeeded`].
    pub fn prune_succeeded_after(mut self, age: Duration) -> Self {
        self.prune_after = Some(age);
        self
    }

    /// How often the worker prunes when
    /// [`prune_succeeded_after`](Self::prune_succeeded_after) is set
    /// (default 1 minute; zero is refused by [`spawn`](Self::spawn)).
    pub fn prune_every(mut self, every: Duration) -> Self {
        self.prune_every = every;
        self
    }

    /// How many delivery loops run at once (default 1; 0 is refused by
    /// [`spawn`](Self::spawn)). Each loop keeps up to the dispatcher's
    /// concurrency requests in flight and overlaps its store calls with its
    /// requests, so one loop is usually enough; a second can help when store
    /// round trips are slow. Loops are not free: each spreads the work over
    /// more of the runtime's threads, which then contend for the allocator.
    pub fn loops(mut self, loops: usize) -> Self {
        self.loops = loops;
        self
    }

    /// The longest wait when nothing is due (default 1 s; zero is refused by
    /// [`spawn`](Self::spawn)). A loop wakes earlier for the next due time
    /// the store reports, and at once on a publish.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The most deliveries one lease call takes (default 64; 0 is refused by
    /// [`spawn`](Self::spawn)). A loop never leases more than it has free
    /// slots for.
    pub fn batch_size(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }

    /// Checks the settings and starts the worker on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`WorkerError`] for a setting that cannot work.
    ///
    /// # Panics
    ///
    /// If called outside a tokio runtime (as `tokio::spawn` does).
    pub fn spawn(self) -> Result<RunningWorker, WorkerError> {
        if self.batch == 0 {
            return Err(WorkerError::ZeroBatch);
        }
        if self.loops == 0 {
            return Err(WorkerError::ZeroLoops);
        }
        if self.poll_interval.is_zero() {
            return Err(WorkerError::ZeroPollInterval);
        }
        if self.prune_every.is_zero() {
            return Err(WorkerError::ZeroPruneEvery);
        }
        if self.sample_every.is_zero() {
            return Err(WorkerError::ZeroSampleEvery);
        }
        let shared = Arc::new(Shared::default());
        let hook = Arc::downgrade(&shared);
        self.dispatcher.on_publish(move || {
            if let Some(s) = hook.upgrade() {
                s.wake_all();
            }
        });
        let loops = (0..self.loops)
            .map(|_| tokio::spawn(supervise(self.clone(), Arc::clone(&shared))))
            .collect();
        let pruner = self
            .prune_after
            .map(|age| tokio::spawn(prune(self.clone(), age, Arc::clone(&shared))));
        #[cfg(feature = "metrics")]
        let sampler = Some(tokio::spawn(sample(self.clone(), Arc::clone(&shared))));
        #[cfg(not(feature = "metrics"))]
        let sampler = None;
        Ok(RunningWorker {
            shared,
            loops,
            pruner,
            sampler,
        })
    }
}

/// Runs one loop, and runs it again whenever it ends by panicking.
async fn supervise(worker: Worker, shared: Arc<Shared>) {
    shared.running.fetch_add(1, Ordering::Relaxed);
    loop {
        let (w, s) = (worker.clone(), Arc::clone(&shared));
        let run = tokio::spawn(async move {
            let idle = TokioIdle(Arc::clone(&s));
            w.dispatcher
                .deliver(&idle, w.batch, w.poll_interval, &s.counters)
                .await;
        });
        match run.await {
            Ok(()) => break,
            Err(e) if e.is_panic() => {
                shared.restarts.fetch_add(1, Ordering::Relaxed);
                let message = panic_message(&*e.into_panic());
                #[cfg(feature = "tracing")]
                tracing::warn!(panic = %message, "worker loop restarted after a panic");
                shared.counters.last_error(format!(
                    "a worker loop panicked and was restarted: {message}"
                ));
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                // Never restart in a busy loop.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // Cancelled: the runtime is shutting down.
            Err(_) => break,
        }
    }
    shared.running.fetch_sub(1, Ordering::Relaxed);
}

/// Samples the queue for the metrics every `sample_every`.
#[cfg(feature = "metrics")]
async fn sample(worker: Worker, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        if let Err(e) = worker.dispatcher.sample_queue().await {
            shared
                .counters
                .tally(crate::dispatch::idle::Tally::StoreError);
            shared.counters.last_error(format!(
                "store failed sampling the queue: {}",
                crate::dispatch::engine::error_chain(&e)
            ));
        }
        if !stopped_within(&shared, worker.sample_every).await {
            continue;
        }
        break;
    }
}

/// Waits `d`, or less if the worker stops; whether it stopped.
async fn stopped_within(shared: &Shared, d: Duration) -> bool {
    let stopped = shared.stopped.notified();
    tokio::pin!(stopped);
    stopped.as_mut().enable();
    if shared.stop.load(Ordering::SeqCst) {
        return true;
    }
    tokio::time::timeout(d, stopped).await.is_ok()
}

/// Prunes succeeded deliveries at start and then every `prune_every`.
async fn prune(worker: Worker, age: Duration, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match worker.dispatcher.prune_succeeded(age).await {
            Ok(n) => {
                shared.pruned.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => {
                shared
                    .counters
                    .tally(crate::dispatch::idle::Tally::StoreError);
                shared.counters.last_error(format!(
                    "store failed pruning: {}",
                    crate::dispatch::engine::error_chain(&e)
                ));
            }
        }
        if stopped_within(&shared, worker.prune_every).await {
            break;
        }
    }
}
