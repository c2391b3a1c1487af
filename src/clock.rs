//! The only source of "now" in hookwire.
//!
//! The core never reads the wall clock directly: every component that needs the
//! time asks a [`Clock`]. Production code uses [`SystemClock`]; tests use
//! [`ManualClock`] and move time forward explicitly, so nothing ever sleeps.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time.
///
/// # Examples
///
/// ```
/// use hookwire::clock::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::at_unix(1_700_000_000);
/// let before = clock.now();
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now().duration_since(before).unwrap(), Duration::from_secs(5));
/// ```
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to; cheap to clone (clones share the time).
///
/// # Examples
///
/// ```
/// use hookwire::clock::{Clock, ManualClock};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let clock = ManualClock::at_unix(100);
/// let shared = clock.clone();
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(shared.now(), UNIX_EPOCH + Duration::from_secs(101));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    state: Arc<ManualState>,
}

/// The time twice: under a lock (the truth, for writers) and, when it fits,
/// as nanoseconds since the Unix epoch in an atomic (what readers load, with
/// no lock and no read-modify-write).
struct ManualState {
    time: Mutex<SystemTime>,
    /// Nanoseconds since the epoch, or [`NOT_FAST`] when the time is before
    /// the epoch or too far after it (then readers take the lock).
    nanos: AtomicU64,
}

const NOT_FAST: u64 = u64::MAX;

/// `t + d`, or, where that overflows, the latest time after `t` the platform
/// can represent (to within a nanosecond): where "never" falls.
pub(crate) fn saturating_add(t: SystemTime, d: Duration) -> SystemTime {
    if let Some(later) = t.checked_add(d) {
        return later;
    }
    // Add ever smaller steps while they fit: after a step fails, at most
    // one of the next (half as large) fits, so this ends within about 200
    // steps.
    let (mut at, mut step) = (t, d);
    while !step.is_zero() {
        if let Some(later) = at.checked_add(step) {
            at = later;
        } else {
            step /= 2;
        }
    }
    at
}

fn fast_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_nanos()).ok())
        .filter(|&n| n != NOT_FAST)
        .unwrap_or(NOT_FAST)
}

impl ManualClock {
    /// A clock standing at `time`.
    pub fn new(time: SystemTime) -> Self {
        Self {
            state: Arc::new(ManualState {
                time: Mutex::new(time),
                nanos: AtomicU64::new(fast_nanos(time)),
            }),
        }
    }

    /// A clock standing at `secs` seconds after the Unix epoch.
    pub fn at_unix(secs: u64) -> Self {
        Self::new(UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// Moves the clock forward by `by` (stopping at the latest time the
    /// platform can represent).
    pub fn advance(&self, by: Duration) {
        self.update(|now| saturating_add(now, by));
    }

    /// Sets the clock to `time` (which may be earlier than now).
    pub fn set(&self, time: SystemTime) {
        self.update(|_| time);
    }

    fn update(&self, f: impl FnOnce(SystemTime) -> SystemTime) {
        let mut time = self
            .state
            .time
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *time = f(*time);
        self.state.nanos.store(fast_nanos(*time), Ordering::Release);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        match self.state.nanos.load(Ordering::Acquire) {
            NOT_FAST => *self
                .state
                .time
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            nanos => UNIX_EPOCH + Duration::from_nanos(nanos),
        }
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at_unix(10);
        assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(10));
        clock.set(UNIX_EPOCH);
        assert_eq!(clock.now(), UNIX_EPOCH);
    }

    #[test]
    fn manual_clock_keeps_times_outside_the_fast_range() {
        let before_epoch = UNIX_EPOCH - Duration::from_secs(5);
        let clock = ManualClock::new(before_epoch);
        assert_eq!(clock.now(), before_epoch);
        clock.advance(Duration::from_secs(7));
        assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(2));
        let far = UNIX_EPOCH + Duration::from_secs(1 << 40);
        clock.set(far);
        assert_eq!(clock.now(), far);
        clock.advance(Duration::from_nanos(1));
        assert_eq!(clock.now(), far + Duration::from_nanos(1));
    }

    #[test]
    fn manual_clock_saturates_instead_of_overflowing() {
        let clock = ManualClock::at_unix(0);
        clock.advance(Duration::MAX);
        let end = clock.now();
        assert!(end > UNIX_EPOCH + Duration::from_secs(1 << 40));
        clock.advance(Duration::from_secs(1));
        assert!(clock.now() >= end);
    }

    #[test]
    fn clocks_are_object_safe() {
        let clocks: Vec<Arc<dyn Clock>> =
            vec![Arc::new(SystemClock), Arc::new(ManualClock::at_unix(0))];
        assert_eq!(clocks[1].now(), UNIX_EPOCH);
        assert!(clocks[0].now() > UNIX_EPOCH);
    }
}
