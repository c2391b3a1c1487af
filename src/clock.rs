//! The only source of "now" in hookwire, and its one rule for Unix time.
//!
//! The core never reads the wall clock directly: every component that needs the
//! time asks a [`Clock`]. Production code uses [`SystemClock`]; tests use
//! [`ManualClock`] and move time forward explicitly, so nothing ever sleeps.
//! (`clippy.toml` forbids `SystemTime::now` everywhere but [`SystemClock`].)
//!
//! # Unix time
//!
//! Timestamps cross the wire and the database as integer counts since the
//! Unix epoch (`webhook-timestamp` in seconds, payload `timestamp` fields in
//! milliseconds, PostgreSQL in microseconds). Every conversion in the crate
//! goes through the functions here, with one rule: a time is **rounded down**,
//! towards the past, to the unit, on both sides of the epoch (half a second
//! before the epoch is second −1, not 0), and a count too large for an `i64`
//! saturates at `i64::MIN` or `i64::MAX`. The way back
//! ([`from_unix_secs`], [`from_unix_millis`], [`from_unix_micros`]) is exact,
//! and `None` only where the platform's `SystemTime` cannot hold the time.
//!
//! ```
//! use hookwire::clock::{from_unix_millis, unix_millis, unix_secs};
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! let before = UNIX_EPOCH - Duration::from_millis(1500);
//! assert_eq!(unix_secs(before), -2);
//! assert_eq!(unix_millis(before), -1500);
//! assert_eq!(from_unix_millis(-1500), Some(before));
//! assert_eq!(unix_secs(UNIX_EPOCH + Duration::from_millis(1999)), 1);
//! ```

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

    /// Moves a clock the host controls forward to `time` and returns `true`;
    /// a real clock cannot and returns `false` (the default).
    /// [`Dispatcher::run_until_idle`](crate::dispatch::Dispatcher::run_until_idle)
    /// uses it to reach the next due time in tests and scripts;
    /// [`ManualClock`] jumps.
    fn jump_to(&self, time: SystemTime) -> bool {
        let _ = time;
        false
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
    fn jump_to(&self, time: SystemTime) -> bool {
        (**self).jump_to(time)
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
    fn jump_to(&self, time: SystemTime) -> bool {
        (**self).jump_to(time)
    }
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one place the wall clock is read.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Nanoseconds since the Unix epoch, negative before it; exact (every
/// `SystemTime` fits an `i128` of nanoseconds).
pub(crate) fn unix_nanos(t: SystemTime) -> i128 {
    let nanos = |d: Duration| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX);
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => nanos(after),
        Err(before) => -nanos(before.duration()),
    }
}

/// The time `nanos` nanoseconds after the epoch (before it when negative).
pub(crate) fn from_unix_nanos(nanos: i128) -> Option<SystemTime> {
    let magnitude = nanos.unsigned_abs();
    let d = Duration::new(
        u64::try_from(magnitude / 1_000_000_000).ok()?,
        u32::try_from(magnitude % 1_000_000_000).ok()?,
    );
    if nanos >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
}

/// `t` in whole `unit`s (nanoseconds per unit) since the epoch, rounded
/// down: the [module's rule](self#unix-time); `Err` carries the bound it
/// passed.
fn floor_units(t: SystemTime, unit: i128) -> Result<i64, i64> {
    let units = unix_nanos(t).div_euclid(unit);
    i64::try_from(units).map_err(|_| if units < 0 { i64::MIN } else { i64::MAX })
}

/// Whole milliseconds since the Unix epoch, rounded down, or `None` where
/// that does not fit an `i64`.
pub(crate) fn checked_unix_millis(t: SystemTime) -> Option<i64> {
    floor_units(t, 1_000_000).ok()
}

/// The time `count` `unit`s (nanoseconds per unit) after the epoch (before
/// it when negative), if the platform can represent it.
fn from_units(count: i64, unit: i128) -> Option<SystemTime> {
    from_unix_nanos(i128::from(count) * unit)
}

/// Whole seconds since the Unix epoch, rounded down (see [Unix time](self#unix-time)).
pub fn unix_secs(t: SystemTime) -> i64 {
    floor_units(t, 1_000_000_000).unwrap_or_else(|bound| bound)
}

/// Whole milliseconds since the Unix epoch, rounded down (see [Unix time](self#unix-time)).
pub fn unix_millis(t: SystemTime) -> i64 {
    floor_units(t, 1_000_000).unwrap_or_else(|bound| bound)
}

/// Whole microseconds since the Unix epoch, rounded down (see [Unix time](self#unix-time)).
pub fn unix_micros(t: SystemTime) -> i64 {
    floor_units(t, 1_000).unwrap_or_else(|bound| bound)
}

/// The time `secs` seconds after the Unix epoch (before it when negative).
pub fn from_unix_secs(secs: i64) -> Option<SystemTime> {
    from_units(secs, 1_000_000_000)
}

/// The time `millis` milliseconds after the Unix epoch (before it when negative).
pub fn from_unix_millis(millis: i64) -> Option<SystemTime> {
    from_units(millis, 1_000_000)
}

/// The time `micros` microseconds after the Unix epoch (before it when negative).
pub fn from_unix_micros(micros: i64) -> Option<SystemTime> {
    from_units(micros, 1_000)
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

    /// Moves the clock to `time` if that is later; never back.
    fn jump_to(&self, time: SystemTime) -> bool {
        self.update(|now| now.max(time));
        true
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
    fn unix_time_rounds_down_on_both_sides_of_the_epoch() {
        let before = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(unix_secs(before), -2);
        assert_eq!(unix_millis(before), -1500);
        assert_eq!(unix_micros(before), -1_500_000);
        assert_eq!(unix_millis(UNIX_EPOCH - Duration::from_micros(1500)), -2);
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_nanos(1)), -1);
        assert_eq!(unix_secs(UNIX_EPOCH), 0);
        assert_eq!(unix_secs(UNIX_EPOCH + Duration::from_millis(1999)), 1);
        assert_eq!(unix_millis(UNIX_EPOCH + Duration::from_micros(1999)), 1);
        assert_eq!(from_unix_millis(-1500), Some(before));
        assert_eq!(
            from_unix_secs(-2),
            Some(UNIX_EPOCH - Duration::from_secs(2))
        );
        assert_eq!(
            from_unix_micros(7),
            Some(UNIX_EPOCH + Duration::from_micros(7))
        );
    }

    #[test]
    fn unix_time_round_trips_and_saturates() {
        for ms in [0, 1, -1, 999, -999, 1_771_515_006_494, -1_771_515_006_494] {
            let t = from_unix_millis(ms).unwrap();
            assert_eq!(unix_millis(t), ms);
            assert_eq!(unix_micros(t), ms * 1000);
        }
        let far = saturating_add(UNIX_EPOCH, Duration::MAX);
        assert_eq!(unix_micros(far), i64::MAX);
        assert!(unix_secs(far) > 0);
        // The extremes never panic, whether or not the platform holds them.
        for n in [i64::MIN, i64::MAX] {
            let _ = (from_unix_secs(n), from_unix_millis(n), from_unix_micros(n));
        }
    }

    #[test]
    fn clocks_are_object_safe() {
        let clocks: Vec<Arc<dyn Clock>> =
            vec![Arc::new(SystemClock), Arc::new(ManualClock::at_unix(0))];
        assert_eq!(clocks[1].now(), UNIX_EPOCH);
        assert!(clocks[0].now() > UNIX_EPOCH);
    }
}
