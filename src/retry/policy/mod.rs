//! The configurable policy: a schedule of delays, jitter, `Retry-After`, 410.

use std::time::Duration;

use super::classify::{classify, Class};
use super::{Attempt, Decision, RetryPolicy};

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(60 * 60);

/// A configurable retry policy: a fixed schedule of delays with jitter,
/// `Retry-After` honoured within a cap, and 410 Gone disabling the endpoint.
///
/// The [module docs](super) give the classification table.
///
/// # The delay before the next attempt
///
/// After failed attempt `n` (1-based), if `n` is less than
/// [`max_attempts`](Self::max_attempts), the policy answers
/// [`Decision::RetryIn`] with the **largest** of:
///
/// 1. the jittered delay: `schedule[n - 1] × f`, where `f` is drawn uniformly
///    from `[1 - jitter, 1 + jitter)` by a hash of
///    [`jitter_seed`](Attempt::jitter_seed) (the same seed always gives the
///    same `f`; with jitter 0 the delay is exactly `schedule[n - 1]`);
/// 2. the endpoint's `Retry-After`, clamped to
///    [`retry_after_cap`](Self::retry_after_cap) (so it can lengthen a delay,
///    never shorten it);
/// 3. for an [overloaded](Class::Overloaded) outcome only,
///    [`overload_min_delay`](Self::overload_min_delay) (zero, so no effect, by
///    default).
///
/// Every configured duration is at most [`MAX_DELAY`](Self::MAX_DELAY), so a
/// `RetryIn` delay is always less than twice that (60 days) and adding it to
/// the current time cannot overflow.
///
/// # Default
///
/// [`Policy::default()`]: 5 attempts, a 10 s timeout, only 2xx succeeds:
///
/// - schedule `[5 s, 5 min, 30 min, 2 h]`, so 5 attempts in all;
/// - timeout 10 s;
/// - jitter 0.2 (±20 %);
/// - `Retry-After` cap 1 h;
/// - 410 Gone disables the endpoint;
/// - no overload minimum delay.
///
/// # Examples
///
/// ```
/// use hookwire::retry::Policy;
/// use std::time::Duration;
///
/// let policy = Policy::default();
/// assert_eq!(policy.max_attempts(), 5);
/// assert_eq!(policy.timeout(), Duration::from_secs(10));
/// assert_eq!(
///     policy.schedule(),
///     [5, 300, 1800, 7200].map(Duration::from_secs)
/// );
///
/// let custom = Policy::custom([Duration::from_secs(1), Duration::from_secs(10)])?
///     .with_timeout(Duration::from_secs(3))?
///     .with_jitter(0.1)?
///     .with_disable_on_gone(false);
/// assert_eq!(custom.max_attempts(), 3);
/// # Ok::<(), hookwire::retry::InvalidPolicy>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    schedule: Vec<Duration>,
    timeout: Duration,
    jitter: f64,
    retry_after_cap: Duration,
    overload_min_delay: Duration,
    disable_on_gone: bool,
}

/// Why a policy was refused at construction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidPolicy {
    /// The schedule allows more attempts than [`Policy::MAX_ATTEMPTS`].
    #[error("a policy allows at most {max} attempts")]
    TooManyAttempts {
        /// The maximum number of attempts.
        max: u32,
    },
    /// A delay in the schedule is longer than [`Policy::MAX_DELAY`].
    #[error("delay {index} of the schedule ({delay:?}) exceeds the maximum of {max:?}")]
    DelayTooLong {
        /// Its index in the schedule (0 for the delay after the first attempt).
        index: usize,
        /// The delay.
        delay: Duration,
        /// The maximum.
        max: Duration,
    },
    /// The request timeout is zero.
    #[error("timeout must be greater than zero")]
    ZeroTimeout,
    /// The request timeout is longer than [`Policy::MAX_TIMEOUT`].
    #[error("timeout {timeout:?} exceeds the maximum of {max:?}")]
    TimeoutTooLong {
        /// The timeout.
        timeout: Duration,
        /// The maximum.
        max: Duration,
    },
    /// The jitter is NaN, negative, or not less than 1.
    #[error("jitter must be a number in [0, 1)")]
    InvalidJitter,
    /// The `Retry-After` cap is longer than [`Policy::MAX_DELAY`].
    #[error("retry-after cap {cap:?} exceeds the maximum of {max:?}")]
    RetryAfterCapTooLong {
        /// The cap.
        cap: Duration,
        /// The maximum.
        max: Duration,
    },
    /// The overload minimum delay is longer than [`Policy::MAX_DELAY`].
    #[error("overload minimum delay {delay:?} exceeds the maximum of {max:?}")]
    OverloadDelayTooLong {
        /// The delay.
        delay: Duration,
        /// The maximum.
        max: Duration,
    },
}

impl Default for Policy {
    /// 5 attempts, a 10 s timeout, only 2xx succeeds; see [`Policy`]'s `# Default` section.
    fn default() -> Self {
        Self {
            schedule: vec![5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR],
            timeout: 10 * SECOND,
            jitter: 0.2,
            retry_after_cap: HOUR,
            overload_min_delay: Duration::ZERO,
            disable_on_gone: true,
        }
    }
}

impl Policy {
    /// The most attempts a policy may allow (first attempt included): 100.
    pub const MAX_ATTEMPTS: u32 = 100;
    /// The longest request timeout a policy may have: 5 minutes.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(5 * 60);
    /// The longest delay, `Retry-After` cap or overload minimum delay a policy
    /// may have: 30 days.
    pub const MAX_DELAY: Duration = Duration::from_secs(30 * 24 * 60 * 60);

    /// The Standard Webhooks example schedule: the first attempt, then retries
    /// after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h, so 10
    /// attempts over about 75 h.
    ///
    /// The timeout is 15 s (the low end of the spec's 15–30 s advice); jitter,
    /// `Retry-After` cap and 410 handling are as in [`Policy::default()`].
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::retry::Policy;
    /// use std::time::Duration;
    ///
    /// let policy = Policy::standard_webhooks();
    /// assert_eq!(policy.max_attempts(), 10);
    /// assert_eq!(policy.timeout(), Duration::from_secs(15));
    /// let total: Duration = policy.schedule().iter().sum();
    /// assert_eq!(total, Duration::from_secs(75 * 3600 + 35 * 60 + 5));
    /// ```
    pub fn standard_webhooks() -> Self {
        Self {
            schedule: vec![
                5 * SECOND,
                5 * MINUTE,
                30 * MINUTE,
                2 * HOUR,
                5 * HOUR,
                10 * HOUR,
                14 * HOUR,
                20 * HOUR,
                24 * HOUR,
            ],
            timeout: 15 * SECOND,
            ..Self::default()
        }
    }

    /// A policy with `schedule` as the delays between attempts: the first
    /// attempt, then one retry per delay. The other settings are those of
    /// [`Policy::default()`].
    ///
    /// An empty schedule is allowed and means a single attempt with no retry.
    /// A zero delay is allowed and means "retry at once".
    ///
    /// # Errors
    ///
    /// [`InvalidPolicy::TooManyAttempts`] if the schedule has more than
    /// `MAX_ATTEMPTS - 1` delays (an endless iterator is refused, not
    /// collected), [`InvalidPolicy::DelayTooLong`] if a delay exceeds
    /// [`MAX_DELAY`](Self::MAX_DELAY).
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::retry::{InvalidPolicy, Policy};
    /// use std::time::Duration;
    ///
    /// let policy = Policy::custom([1, 2, 4, 8].map(Duration::from_secs))?;
    /// assert_eq!(policy.max_attempts(), 5);
    ///
    /// let endless = std::iter::repeat(Duration::from_secs(1));
    /// assert_eq!(
    ///     Policy::custom(endless),
    ///     Err(InvalidPolicy::TooManyAttempts { max: 100 })
    /// );
    /// # Ok::<(), InvalidPolicy>(())
    /// ```
    pub fn custom(schedule: impl IntoIterator<Item = Duration>) -> Result<Self, InvalidPolicy> {
        let max_delays = (Self::MAX_ATTEMPTS - 1) as usize;
        let mut delays = Vec::new();
        for (index, delay) in schedule.into_iter().enumerate() {
            if index >= max_delays {
                return Err(InvalidPolicy::TooManyAttempts {
                    max: Self::MAX_ATTEMPTS,
                });
            }
            if delay > Self::MAX_DELAY {
                return Err(InvalidPolicy::DelayTooLong {
                    index,
                    delay,
                    max: Self::MAX_DELAY,
                });
            }
            delays.push(delay);
        }
        Ok(Self {
            schedule: delays,
            ..Self::default()
        })
    }

    /// Sets the timeout of one request.
    ///
    /// # Errors
    ///
    /// [`InvalidPolicy::ZeroTimeout`] for zero,
    /// [`InvalidPolicy::TimeoutTooLong`] above [`MAX_TIMEOUT`](Self::MAX_TIMEOUT).
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::retry::{InvalidPolicy, Policy};
    /// use std::time::Duration;
    ///
    /// let policy = Policy::default().with_timeout(Duration::from_secs(30))?;
    /// assert_eq!(policy.timeout(), Duration::from_secs(30));
    /// assert_eq!(Policy::default().with_timeout(Duration::ZERO), Err(InvalidPolicy::ZeroTimeout));
    /// # Ok::<(), InvalidPolicy>(())
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, InvalidPolicy> {
        if timeout.is_zero() {
            return Err(InvalidPolicy::ZeroTimeout);
        }
        if timeout > Self::MAX_TIMEOUT {
            return Err(InvalidPolicy::TimeoutTooLong {
                timeout,
                max: Self::MAX_TIMEOUT,
            });
        }
        self.timeout = timeout;
        Ok(self)
    }

    /// Sets the jitter: each scheduled delay is multiplied by a factor drawn
    /// from `[1 - jitter, 1 + jitter)`. 0 turns jitter off.
    ///
    /// # Errors
    ///
    /// [`InvalidPolicy::InvalidJitter`] unless `0 <= jitter < 1`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::retry::{InvalidPolicy, Policy};
    ///
    /// assert_eq!(Policy::default().with_jitter(0.5)?.jitter(), 0.5);
    /// assert_eq!(Policy::default().with_jitter(f64::NAN), Err(InvalidPolicy::InvalidJitter));
    /// assert_eq!(Policy::default().with_jitter(1.0), Err(InvalidPolicy::InvalidJitter));
    /// # Ok::<(), InvalidPolicy>(())
    /// ```
    pub fn with_jitter(mut self, jitter: f64) -> Result<Self, InvalidPolicy> {
        // NaN fails both comparisons.
        if !(0.0..1.0).contains(&jitter) {
            return Err(InvalidPolicy::InvalidJitter);
        }
        self.jitter = jitter;
        Ok(self)
    }

    /// Sets the longest delay a `Retry-After` header can impose. Zero makes
    /// the policy ignore `Retry-After`.
    ///
    /// # Errors
    ///
    /// [`InvalidPolicy::RetryAfterCapTooLong`] above [`MAX_DELAY`](Self::MAX_DELAY).
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::retry::Policy;
    /// use std::time::Duration;
    ///
    /// let policy = Policy::default().with_retry_after_cap(Duration::from_secs(600))?;
    /// assert_eq!(policy.retry_after_cap(), Duration::from_secs(600));
    /// # Ok::<(), hookwire::retry::InvalidPolicy>(())
    /// ```
    pub fn with_retry_after_cap(mut self, cap: Duration) -> Result<Self, InvalidPolicy> {
        if cap > Self::MAX_DELAY {
            return Err(InvalidPolicy::RetryAfterCapTooLong {
                cap,
                max: Self::MAX_DELAY,
            });
        }
        self.retry_after_cap = cap;
        Ok(self)
    }

    /// Sets the minimum delay after an [overloaded](Class::Overloaded) outcome
    /// (429, 502, 503, 504 or a timeout). Zero, the default, has no effect;
    /// Svix uses 60 s.
    ///
    /// # Errors
    ///
    /// [`InvalidPolicy::OverloadDelayTooLong`] above [`MAX_DELAY`](Self::MAX_DELAY).
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::retry::{Attempt, Decision, Outcome, Policy, RetryPolicy};
    /// use hookwire::http::StatusCode;
    /// use std::time::{Duration, UNIX_EPOCH};
    ///
    /// let policy = Policy::default()
    ///     .with_jitter(0.0)?
    ///     .with_overload_min_delay(Duration::from_secs(60))?;
    /// let throttled = Outcome::status(StatusCode::TOO_MANY_REQUESTS);
    /// let info = Attempt::new(1, &throttled, UNIX_EPOCH, 0);
    /// assert_eq!(policy.decide(&info), Decision::RetryIn(Duration::from_secs(60)));
    /// # Ok::<(), hookwire::retry::InvalidPolicy>(())
    /// ```
    pub fn with_overload_min_delay(mut self, delay: Duration) -> Result<Self, InvalidPolicy> {
        if delay > Self::MAX_DELAY {
            return Err(InvalidPolicy::OverloadDelayTooLong {
                delay,
                max: Self::MAX_DELAY,
            });
        }
        self.overload_min_delay = delay;
        Ok(self)
    }

    /// Whether 410 Gone disables the endpoint (`true`, the default) or is
    /// retried like any other failure (`false`).
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::retry::Policy;
    ///
    /// assert!(!Policy::default().with_disable_on_gone(false).disable_on_gone());
    /// ```
    pub fn with_disable_on_gone(mut self, disable: bool) -> Self {
        self.disable_on_gone = disable;
        self
    }

    /// The nominal delays between attempts, before jitter: `schedule()[n - 1]`
    /// follows failed attempt `n`.
    pub fn schedule(&self) -> &[Duration] {
        &self.schedule
    }

    /// The number of attempts in all, the first included: `schedule().len() + 1`.
    pub fn max_attempts(&self) -> u32 {
        // The schedule holds fewer than MAX_ATTEMPTS delays.
        u32::try_from(self.schedule.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// The timeout of one request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The jitter fraction, in `[0, 1)`.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// The longest delay a `Retry-After` header can impose.
    pub fn retry_after_cap(&self) -> Duration {
        self.retry_after_cap
    }

    /// The minimum delay after an overloaded outcome.
    pub fn overload_min_delay(&self) -> Duration {
        self.overload_min_delay
    }

    /// Whether 410 Gone disables the endpoint.
    pub fn disable_on_gone(&self) -> bool {
        self.disable_on_gone
    }

    /// The nominal (unjittered) delay after failed attempt `attempt`
    /// (1-based; 0 counts as 1), or `None` if it was the last attempt.
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::retry::Policy;
    /// use std::time::Duration;
    ///
    /// let policy = Policy::default();
    /// assert_eq!(policy.nominal_delay(1), Some(Duration::from_secs(5)));
    /// assert_eq!(policy.nominal_delay(4), Some(Duration::from_secs(7200)));
    /// assert_eq!(policy.nominal_delay(5), None);
    /// ```
    pub fn nominal_delay(&self, attempt: u32) -> Option<Duration> {
        let index = usize::try_from(attempt.max(1) - 1).ok()?;
        self.schedule.get(index).copied()
    }

    /// The jittered delay after failed attempt `attempt` for `jitter_seed`,
    /// before any `Retry-After` or overload adjustment; `None` if it was the
    /// last attempt.
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::retry::Policy;
    /// use std::time::Duration;
    ///
    /// let policy = Policy::default();
    /// let d = policy.jittered_delay(2, 1234).unwrap();
    /// assert!(d >= Duration::from_secs(240) && d < Duration::from_secs(360));
    /// assert_eq!(policy.jittered_delay(2, 1234), Some(d)); // deterministic
    /// ```
    pub fn jittered_delay(&self, attempt: u32, jitter_seed: u64) -> Option<Duration> {
        self.nominal_delay(attempt)
            .map(|base| apply_jitter(base, self.jitter, jitter_seed))
    }
}

impl RetryPolicy for Policy {
    fn decide(&self, info: &Attempt<'_>) -> Decision {
        let class = classify(info.outcome);
        match class {
            Class::Success => return Decision::Succeeded,
            Class::Gone if self.disable_on_gone => return Decision::DisableEndpoint,
            Class::Fatal => return Decision::GiveUp,
            Class::Gone | Class::Overloaded | Class::Failed => {}
        }
        let Some(mut delay) = self.jittered_delay(info.attempt, info.jitter_seed) else {
            return Decision::GiveUp;
        };
        if class == Class::Overloaded {
            delay = delay.max(self.overload_min_delay);
        }
        if let Some(asked) = info.outcome.retry_after() {
            delay = delay.max(asked.min(self.retry_after_cap));
        }
        Decision::RetryIn(delay)
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// SplitMix64's output function: a well-mixed 64-bit hash of `seed`.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `base × f`, `f` uniform in `[1 - jitter, 1 + jitter)` from `seed`, in exact
/// integer arithmetic on nanoseconds (jitter in fixed point, 32 fractional bits).
fn apply_jitter(base: Duration, jitter: f64, seed: u64) -> Duration {
    const ONE: u128 = 1 << 32;
    if jitter <= 0.0 || base.is_zero() {
        return base;
    }
    // jitter is in (0, 1), so this is in [0, 2^32]; `as` saturates anyway.
    let jitter_fixed = (jitter * ONE as f64).round() as u128;
    let nanos = base.as_nanos(); // < 2^94
    let spread = nanos * jitter_fixed / ONE; // <= nanos
    let unit = u128::from(splitmix64(seed) >> 32); // uniform in [0, 2^32)
    let low = nanos - spread;
    let offset = 2 * spread * unit / ONE; // < 2^95 * 2^32 before dividing
    nanos_to_duration(low + offset)
}

fn nanos_to_duration(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    match u64::try_from(nanos / NANOS_PER_SEC) {
        // The remainder is below 10^9, so it fits in u32.
        Ok(secs) => Duration::new(secs, (nanos % NANOS_PER_SEC) as u32),
        Err(_) => Duration::MAX,
    }
}

#[cfg(test)]
mod tests;
