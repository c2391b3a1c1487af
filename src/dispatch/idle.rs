//! What a worker's delivery loop needs from its runtime, and the counts it
//! keeps while it runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// A future the runtime hands the engine.
pub(crate) type IdleFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The runtime's side of a delivery loop: timers, wake-ups and the stop
/// signal. The core never sleeps by itself; the tokio `Worker` implements
/// this.
pub(crate) trait Idle: Send + Sync {
    /// Resolves after `timeout`, or as soon as the loop is woken (something
    /// was published) or asked to stop, whichever comes first.
    fn wait(&self, timeout: Duration) -> IdleFuture<'_>;

    /// Resolves after `duration` (a request's deadline, a back-off).
    fn sleep(&self, duration: Duration) -> IdleFuture<'_>;

    /// Whether the loop should stop: lease nothing more, finish or hand back
    /// what it holds, then return.
    fn stopping(&self) -> bool;
}

/// Counts a delivery loop keeps while it runs, readable at any time by the
/// worker that runs it.
#[derive(Debug, Default)]
pub(crate) struct LiveCounters {
    pub(crate) leases: AtomicU64,
    pub(crate) leased: AtomicU64,
    pub(crate) attempts: AtomicU64,
    pub(crate) succeeded: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) dead: AtomicU64,
    pub(crate) lease_lost: AtomicU64,
    pub(crate) store_errors: AtomicU64,
    pub(crate) released: AtomicU64,
    pub(crate) deferred: AtomicU64,
    pub(crate) abandoned: AtomicU64,
    pub(crate) endpoints_disabled: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
}

/// One thing the engine counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tally {
    Leased(usize),
    Attempt,
    Succeeded,
    Retried,
    Dead,
    LeaseLost,
    StoreError,
    Released,
    Deferred,
    Abandoned,
    EndpointDisabled,
    Panic,
}

impl LiveCounters {
    pub(crate) fn tally(&self, t: Tally) {
        if let Tally::Leased(_) = t {
            self.leases.fetch_add(1, Ordering::Relaxed);
        }
        let (counter, n) = match t {
            Tally::Leased(n) => (&self.leased, n as u64),
            Tally::Attempt => (&self.attempts, 1),
            Tally::Succeeded => (&self.succeeded, 1),
            Tally::Retried => (&self.retried, 1),
            Tally::Dead => (&self.dead, 1),
            Tally::LeaseLost => (&self.lease_lost, 1),
            Tally::StoreError => (&self.store_errors, 1),
            Tally::Released => (&self.released, 1),
            Tally::Deferred => (&self.deferred, 1),
            Tally::Abandoned => (&self.abandoned, 1),
            Tally::EndpointDisabled => (&self.endpoints_disabled, 1),
            Tally::Panic => (&self.panics, 1),
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set_in_flight(&self, n: usize) {
        self.in_flight.store(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn last_error(&self, error: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error);
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn get(&self, counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
