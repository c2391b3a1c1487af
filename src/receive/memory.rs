//! [`MemoryDedupe`]: a bounded dedupe store for one process.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::dedupe::{DedupeError, DedupeStore, DEFAULT_DEDUPE_TTL};
use crate::clock::{Clock, SystemClock};

/// How many keys [`MemoryDedupe::new`] holds: 100,000 (about 200 bytes each).
pub const DEFAULT_DEDUPE_CAPACITY: usize = 100_000;

/// A dedupe store in memory, bounded in size and in time.
///
/// Each key is kept for the TTL ([`DEFAULT_DEDUPE_TTL`] by default) and never
/// forgotten earlier: when all `capacity` slots hold keys younger than that,
/// [`seen_before`](DedupeStore::seen_before) answers [`DedupeError::Full`]
/// (a 503: the sender retries later) rather than let a replay through.
/// Each check is O(1) (amortized: expired keys are dropped oldest first, as
/// they are met). Keys live in this process only: receivers on several
/// machines share a `RedisDedupe` (feature `redis`) instead.
///
/// # Examples
///
/// ```
/// use hookwire::clock::ManualClock;
/// use hookwire::receive::{DedupeStore, MemoryDedupe};
/// use std::time::Duration;
///
/// # futures::executor::block_on(async {
/// let clock = ManualClock::at_unix(1_700_000_000);
/// let store = MemoryDedupe::with_limits(2, Duration::from_secs(60)).with_clock(clock.clone());
/// assert_eq!(store.seen_before("a").await, Ok(false));
/// assert_eq!(store.seen_before("b").await, Ok(false));
/// assert!(store.seen_before("c").await.is_err()); // full: nothing expired yet
/// clock.advance(Duration::from_secs(61));
/// assert_eq!(store.seen_before("a").await, Ok(false)); // expired, recorded anew
/// # });
/// ```
pub struct MemoryDedupe {
    state: Mutex<State>,
    capacity: usize,
    ttl: Duration,
    clock: Arc<dyn Clock>,
}

#[derive(Default)]
struct State {
    /// Each live key and when it was recorded.
    keys: HashMap<Arc<str>, SystemTime>,
    /// Keys in the order recorded (oldest first). An entry whose time no
    /// longer matches `keys` was forgotten or recorded again: skipped.
    order: VecDeque<(SystemTime, Arc<str>)>,
}

impl MemoryDedupe {
    /// [`DEFAULT_DEDUPE_CAPACITY`] keys, each kept [`DEFAULT_DEDUPE_TTL`], on
    /// the system clock.
    pub fn new() -> Self {
        Self::with_limits(DEFAULT_DEDUPE_CAPACITY, DEFAULT_DEDUPE_TTL)
    }

    /// At most `capacity` keys (at least 1), each kept `ttl`.
    pub fn with_limits(capacity: usize, ttl: Duration) -> Self {
        Self {
            state: Mutex::default(),
            capacity: capacity.max(1),
            ttl,
            clock: Arc::new(SystemClock),
        }
    }

    /// The clock that ages keys.
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How many keys are held (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.lock().keys.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for MemoryDedupe {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    /// Drops keys recorded more than `ttl` before `now`.
    fn expire(&mut self, now: SystemTime, ttl: Duration) {
        while let Some((at, key)) = self.order.front() {
            if now.duration_since(*at).unwrap_or_default() <= ttl {
                break;
            }
            if self.keys.get(key) == Some(at) {
                self.keys.remove(key);
            }
            self.order.pop_front();
        }
    }

    /// Drops stale entries from `order` once it is twice as long as needed
    /// (forgotten keys leave them behind); amortized O(1).
    fn compact(&mut self, capacity: usize) {
        if self.order.len() >= capacity.saturating_mul(2) {
            let keys = &self.keys;
            self.order.retain(|(at, key)| keys.get(key) == Some(at));
        }
    }
}

#[async_trait]
impl DedupeStore for MemoryDedupe {
    async fn seen_before(&self, key: &str) -> Result<bool, DedupeError> {
        let now = self.clock.now();
        let mut state = self.lock();
        state.expire(now, self.ttl);
        if state.keys.contains_key(key) {
            return Ok(true);
        }
        if state.keys.len() >= self.capacity {
            return Err(DedupeError::Full {
                capacity: self.capacity,
            });
        }
        state.compact(self.capacity);
        let key: Arc<str> = Arc::from(key);
        state.keys.insert(Arc::clone(&key), now);
        state.order.push_back((now, key));
        Ok(false)
    }

    async fn forget(&self, key: &str) -> Result<(), DedupeError> {
        self.lock().keys.remove(key);
        Ok(())
    }

    fn ttl(&self) -> Duration {
        self.ttl
    }
}

impl fmt::Debug for MemoryDedupe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryDedupe")
            .field("keys", &self.len())
            .field("capacity", &self.capacity)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use futures::executor::block_on;

    #[test]
    fn keys_are_kept_for_the_ttl_and_not_a_moment_longer() {
        let clock = ManualClock::at_unix(1_000_000);
        let store =
            MemoryDedupe::with_limits(10, Duration::from_secs(100)).with_clock(clock.clone());
        assert_eq!(block_on(store.seen_before("k")), Ok(false));
        clock.advance(Duration::from_secs(100));
        assert_eq!(
            block_on(store.seen_before("k")),
            Ok(true),
            "the bound itself is kept"
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(block_on(store.seen_before("k")), Ok(false));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn a_full_store_refuses_rather_than_forget_early() {
        let clock = ManualClock::at_unix(1_000_000);
        let store = MemoryDedupe::with_limits(3, Duration::from_secs(10)).with_clock(clock.clone());
        for k in ["a", "b", "c"] {
            assert_eq!(block_on(store.seen_before(k)), Ok(false));
        }
        assert_eq!(
            block_on(store.seen_before("d")),
            Err(DedupeError::Full { capacity: 3 })
        );
        assert_eq!(block_on(store.seen_before("a")), Ok(true), "still known");
        clock.advance(Duration::from_secs(11));
        assert_eq!(block_on(store.seen_before("d")), Ok(false));
        assert_eq!(store.len(), 1, "the expired keys were dropped");
    }

    #[test]
    fn forgetting_and_recording_again_stays_bounded() {
        let store = MemoryDedupe::with_limits(4, Duration::from_secs(3600))
            .with_clock(ManualClock::at_unix(1_000_000));
        for _ in 0..1000 {
            assert_eq!(block_on(store.seen_before("k")), Ok(false));
            block_on(store.forget("k")).unwrap();
        }
        assert!(
            store.lock().order.len() <= 8,
            "{}",
            store.lock().order.len()
        );
        assert!(store.is_empty());
    }

    #[test]
    fn a_key_recorded_again_after_forget_keeps_its_new_time() {
        let clock = ManualClock::at_unix(1_000_000);
        let store = MemoryDedupe::with_limits(4, Duration::from_secs(10)).with_clock(clock.clone());
        assert_eq!(block_on(store.seen_before("k")), Ok(false));
        block_on(store.forget("k")).unwrap();
        clock.advance(Duration::from_secs(8));
        assert_eq!(block_on(store.seen_before("k")), Ok(false));
        clock.advance(Duration::from_secs(5)); // the first entry has expired, the second not
        assert_eq!(block_on(store.seen_before("k")), Ok(true));
    }
}
