//! A tokio worker that keeps deliveries moving (cargo feature `tokio`).
//!
//! The [`Worker`] calls [`Dispatcher::run_due`] in a loop: straight away again
//! while full batches keep coming, otherwise after the poll interval, or at
//! once when something is published through the same dispatcher. Shutting
//! down stops leasing new deliveries, lets the batch in flight finish (each
//! request is bounded by the policy's timeout), and returns a summary: nothing
//! in flight is dropped, and whatever is still due stays due in the store.
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
//! let dispatcher = Dispatcher::builder(transport, InMemoryStore::new()).build();
//! let running = Worker::new(dispatcher.clone())
//!     .poll_interval(Duration::from_millis(200))
//!     .spawn();
//! // ... publish events through `dispatcher` ...
//! let summary = running.shutdown().await;
//! assert_eq!(summary.dead, 0);
//! # Ok(())
//! # }
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::dispatch::{Dispatcher, RunReport};

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
}

/// Totals over a worker's life, returned when it shuts down.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerSummary {
    /// `run_due` calls made.
    pub runs: u64,
    /// Attempts made.
    pub attempts: u64,
    /// Attempts that succeeded.
    pub succeeded: u64,
    /// Attempts scheduled for a retry.
    pub retried: u64,
    /// Deliveries that ended dead.
    pub dead: u64,
    /// Attempts whose lease had been taken over by another worker.
    pub lease_lost: u64,
    /// Store failures (recording attempts, or leasing).
    pub store_errors: u64,
    /// Deliveries handed back unattempted (see `RunReport::released`).
    pub released: u64,
    /// Endpoints disabled.
    pub endpoints_disabled: u64,
    /// Succeeded deliveries pruned (see [`Worker::prune_succeeded_after`]).
    pub pruned: u64,
}

impl WorkerSummary {
    fn merge(&mut self, other: &WorkerSummary) {
        self.runs += other.runs;
        self.attempts += other.attempts;
        self.succeeded += other.succeeded;
        self.retried += other.retried;
        self.dead += other.dead;
        self.lease_lost += other.lease_lost;
        self.store_errors += other.store_errors;
        self.released += other.released;
        self.endpoints_disabled += other.endpoints_disabled;
        self.pruned += other.pruned;
    }

    fn add(&mut self, report: &RunReport) {
        self.runs += 1;
        self.attempts += report.attempts.len() as u64;
        self.succeeded += report.succeeded as u64;
        self.retried += report.retried as u64;
        self.dead += report.dead as u64;
        self.lease_lost += report.lease_lost as u64;
        self.store_errors += report.store_errors as u64;
        self.released += report.released as u64;
        self.endpoints_disabled += report.disabled.len() as u64;
    }
}

#[derive(Debug, Default)]
struct Signal {
    wake: Notify,
    stop: AtomicBool,
}

/// A worker that is running; shut it down with [`shutdown`](Self::shutdown).
#[derive(Debug)]
pub struct RunningWorker {
    signal: Arc<Signal>,
    joins: Vec<JoinHandle<WorkerSummary>>,
}

impl RunningWorker {
    /// Asks the worker to run at once (as publishing does).
    pub fn wake(&self) {
        self.signal.wake.notify_one();
    }

    /// Whether every one of the worker's loops has ended.
    pub fn is_finished(&self) -> bool {
        self.joins.iter().all(JoinHandle::is_finished)
    }

    /// Stops leasing, waits for the batches in flight to finish, and returns
    /// the totals. A loop whose task panicked contributes nothing.
    pub async fn shutdown(self) -> WorkerSummary {
        self.signal.stop.store(true, Ordering::SeqCst);
        self.signal.wake.notify_waiters();
        // A loop between its stop check and its wait gets this permit.
        self.signal.wake.notify_one();
        let mut summary = WorkerSummary::default();
        for join in self.joins {
            summary.merge(&join.await.unwrap_or_default());
        }
        summary
    }
}

impl Worker {
    /// A worker for `dispatcher`: polls every second, leases 64 at a time,
    /// in 2 loops.
    pub fn new(dispatcher: Dispatcher) -> Self {
        Self {
            dispatcher,
            poll_interval: Duration::from_secs(1),
            batch: 64,
            loops: 2,
            prune_after: None,
            prune_every: Duration::from_secs(60),
        }
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
    /// (default 1 minute).
    pub fn prune_every(mut self, every: Duration) -> Self {
        self.prune_every = every;
        self
    }

    /// How many `run_due` loops run at once (default 2, at least 1). One
    /// `run_due` call waits for its slowest request before leasing again;
    /// several loops keep requests flowing meanwhile, and overlap a database
    /// store's round trips. At most `loops` times the dispatcher's
    /// concurrency requests are in flight.
    ///
    /// Loops are not free: each adds its own store calls, and spreads the
    /// work over more of the runtime's threads, which then contend for the
    /// allocator. With `InMemoryStore`, one loop leasing several times the
    /// concurrency per call ([`batch_size`](Self::batch_size)) was the
    /// fastest setting measured (`benches/http.rs`, BENCHMARKS.md): 1 loop
    /// of 32 in flight, leasing 128, delivered about 40 % more per second
    /// than 4 loops of 8 leasing 8.
    pub fn loops(mut self, loops: usize) -> Self {
        self.loops = loops.max(1);
        self
    }

    /// How long to wait between polls when nothing is due (default 1 s).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How many deliveries one `run_due` call leases (default 64, at least 1).
    /// The dispatcher's concurrency bounds how many of them are in flight.
    pub fn batch_size(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Starts the worker on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// If called outside a tokio runtime (as `tokio::spawn` does).
    pub fn spawn(self) -> RunningWorker {
        let signal = Arc::new(Signal::default());
        let hook_signal = Arc::downgrade(&signal);
        self.dispatcher.on_publish(move || {
            if let Some(s) = hook_signal.upgrade() {
                s.wake.notify_one();
            }
        });
        let joins = (0..self.loops)
            // The first loop also prunes, if asked to.
            .map(|i| tokio::spawn(self.clone().run(Arc::clone(&signal), i == 0)))
            .collect();
        RunningWorker { signal, joins }
    }

    async fn run(self, signal: Arc<Signal>, prunes: bool) -> WorkerSummary {
        let mut summary = WorkerSummary::default();
        let mut next_prune = tokio::time::Instant::now();
        while !signal.stop.load(Ordering::SeqCst) {
            if let Some(age) = self.prune_after.filter(|_| prunes) {
                if tokio::time::Instant::now() >= next_prune {
                    match self.dispatcher.prune_succeeded(age).await {
                        Ok(n) => summary.pruned += n as u64,
                        Err(_) => summary.store_errors += 1,
                    }
                    let now = tokio::time::Instant::now();
                    next_prune = now
                        .checked_add(self.prune_every)
                        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400));
                }
            }
            let full = match self.dispatcher.run_due(self.batch).await {
                Ok(report) => {
                    summary.add(&report);
                    report.leased >= self.batch
                }
                Err(_) => {
                    summary.store_errors += 1;
                    false
                }
            };
            if full || signal.stop.load(Ordering::SeqCst) {
                continue;
            }
            // Wait for the next poll, a publish, or shutdown.
            let _ = tokio::time::timeout(self.poll_interval, signal.wake.notified()).await;
        }
        summary
    }
}
