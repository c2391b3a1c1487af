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
mod tests {
    use super::*;
    use crate::retry::Outcome;
    use crate::transport::TransportErrorKind;
    use http::StatusCode;
    use std::time::{SystemTime, UNIX_EPOCH};

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn decide(policy: &Policy, attempt: u32, outcome: &Outcome) -> Decision {
        policy.decide(&Attempt::new(attempt, outcome, now(), 42))
    }

    fn status(code: u16) -> Outcome {
        Outcome::status(StatusCode::from_u16(code).unwrap())
    }

    fn no_jitter() -> Policy {
        Policy::default().with_jitter(0.0).unwrap()
    }

    #[test]
    fn default_is_five_attempts_ten_seconds_2xx_only() {
        let p = Policy::default();
        assert_eq!(p.max_attempts(), 5);
        assert_eq!(p.timeout(), Duration::from_secs(10));
        assert_eq!(RetryPolicy::timeout(&p), Duration::from_secs(10));
        assert_eq!(p.schedule(), [5, 300, 1800, 7200].map(Duration::from_secs));
        assert_eq!(p.jitter(), 0.2);
        assert_eq!(p.retry_after_cap(), Duration::from_secs(3600));
        assert_eq!(p.overload_min_delay(), Duration::ZERO);
        assert!(p.disable_on_gone());
    }

    #[test]
    fn standard_webhooks_preset() {
        let p = Policy::standard_webhooks();
        assert_eq!(p.max_attempts(), 10);
        assert_eq!(p.timeout(), Duration::from_secs(15));
        assert_eq!(
            p.schedule(),
            [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400].map(Duration::from_secs)
        );
        assert_eq!(p.jitter(), 0.2);
    }

    #[test]
    fn decision_table() {
        let p = no_jitter();
        let five = Decision::RetryIn(Duration::from_secs(5));
        let table: Vec<(Outcome, Decision)> = vec![
            (status(200), Decision::Succeeded),
            (status(201), Decision::Succeeded),
            (status(204), Decision::Succeeded),
            (status(299), Decision::Succeeded),
            (status(100), five),
            (status(301), five),
            (status(302), five),
            (status(304), five),
            (status(400), five),
            (status(404), five),
            (status(410), Decision::DisableEndpoint),
            (status(429), five),
            (status(500), five),
            (status(502), five),
            (status(503), five),
            (status(504), five),
            (Outcome::Error(TransportErrorKind::Connect), five),
            (Outcome::Error(TransportErrorKind::Timeout), five),
            (Outcome::Error(TransportErrorKind::Interrupted), five),
            (Outcome::Error(TransportErrorKind::Other), five),
            (
                Outcome::Error(TransportErrorKind::Rejected),
                Decision::GiveUp,
            ),
        ];
        for (outcome, expected) in &table {
            assert_eq!(decide(&p, 1, outcome), *expected, "{outcome:?}");
        }
    }

    #[test]
    fn terminal_classes_ignore_the_attempt_number() {
        let p = Policy::default();
        for attempt in [0, 1, 5, 6, u32::MAX] {
            assert_eq!(decide(&p, attempt, &status(200)), Decision::Succeeded);
            assert_eq!(decide(&p, attempt, &status(410)), Decision::DisableEndpoint);
            assert_eq!(
                decide(&p, attempt, &Outcome::Error(TransportErrorKind::Rejected)),
                Decision::GiveUp
            );
        }
    }

    #[test]
    fn gone_is_an_ordinary_failure_when_not_disabling() {
        let p = no_jitter().with_disable_on_gone(false);
        assert_eq!(
            decide(&p, 1, &status(410)),
            Decision::RetryIn(Duration::from_secs(5))
        );
        assert_eq!(decide(&p, 5, &status(410)), Decision::GiveUp);
    }

    #[test]
    fn exact_nominal_delays_then_exhaustion() {
        let p = no_jitter();
        let failed = status(500);
        let expected = [
            (0, Decision::RetryIn(Duration::from_secs(5))),
            (1, Decision::RetryIn(Duration::from_secs(5))),
            (2, Decision::RetryIn(Duration::from_secs(300))),
            (3, Decision::RetryIn(Duration::from_secs(1800))),
            (4, Decision::RetryIn(Duration::from_secs(7200))),
            (5, Decision::GiveUp),
            (6, Decision::GiveUp),
            (u32::MAX, Decision::GiveUp),
        ];
        for (attempt, decision) in expected {
            assert_eq!(decide(&p, attempt, &failed), decision, "attempt {attempt}");
        }
    }

    #[test]
    fn standard_webhooks_exhausts_after_ten_attempts() {
        let p = Policy::standard_webhooks().with_jitter(0.0).unwrap();
        let failed = Outcome::Error(TransportErrorKind::Connect);
        assert_eq!(
            decide(&p, 9, &failed),
            Decision::RetryIn(Duration::from_secs(86_400))
        );
        assert_eq!(decide(&p, 10, &failed), Decision::GiveUp);
    }

    #[test]
    fn empty_schedule_means_one_attempt() {
        let p = Policy::custom([]).unwrap();
        assert_eq!(p.max_attempts(), 1);
        assert_eq!(decide(&p, 1, &status(503)), Decision::GiveUp);
        assert_eq!(decide(&p, 1, &status(200)), Decision::Succeeded);
    }

    #[test]
    fn zero_delay_retries_at_once() {
        let p = Policy::custom([Duration::ZERO]).unwrap();
        assert_eq!(
            decide(&p, 1, &status(500)),
            Decision::RetryIn(Duration::ZERO)
        );
    }

    #[test]
    fn jitter_is_bounded_and_deterministic() {
        let p = Policy::default();
        let base = Duration::from_secs(300);
        let (low, high) = (base.mul_f64(0.8), base.mul_f64(1.2));
        let mut seen = std::collections::HashSet::new();
        for seed in 0..1000u64 {
            let d = p.jittered_delay(2, seed).unwrap();
            assert!(d >= low && d < high, "seed {seed}: {d:?}");
            assert_eq!(p.jittered_delay(2, seed), Some(d));
            seen.insert(d);
        }
        // Different seeds give different delays.
        assert!(seen.len() > 990, "only {} distinct delays", seen.len());
        // Both halves of the range are used.
        assert!(seen.iter().any(|d| *d < base) && seen.iter().any(|d| *d > base));
        assert_ne!(p.jittered_delay(2, 1), p.jittered_delay(2, 2));
    }

    #[test]
    fn decide_uses_the_jittered_delay() {
        let p = Policy::default();
        let outcome = status(500);
        for seed in [0, 1, u64::MAX] {
            let info = Attempt::new(3, &outcome, now(), seed);
            assert_eq!(
                p.decide(&info),
                Decision::RetryIn(p.jittered_delay(3, seed).unwrap())
            );
        }
    }

    #[test]
    fn retry_after_lengthens_within_the_cap() {
        let p = no_jitter();
        let with = |secs: u64| Outcome::Response {
            status: StatusCode::SERVICE_UNAVAILABLE,
            retry_after: Some(Duration::from_secs(secs)),
        };
        let table = [
            // (attempt, retry-after, expected delay)
            (1, 0, 5),          // shorter than the schedule: the schedule wins
            (1, 3, 5),          // idem
            (1, 120, 120),      // longer: honoured
            (1, 3600, 3600),    // exactly the cap
            (1, 3601, 3600),    // clamped to the cap
            (1, 1 << 31, 3600), // huge: clamped
            (4, 60, 7200),      // the schedule is already longer than the cap
            (4, 1 << 31, 7200), // idem
        ];
        for (attempt, asked, expected) in table {
            assert_eq!(
                decide(&p, attempt, &with(asked)),
                Decision::RetryIn(Duration::from_secs(expected)),
                "attempt {attempt}, retry-after {asked}"
            );
        }
        // Retry-After does not extend the number of attempts.
        assert_eq!(decide(&p, 5, &with(10)), Decision::GiveUp);
        // A zero cap ignores Retry-After.
        let ignoring = no_jitter().with_retry_after_cap(Duration::ZERO).unwrap();
        assert_eq!(
            decide(&ignoring, 1, &with(120)),
            Decision::RetryIn(Duration::from_secs(5))
        );
        // Retry-After never extends the duration past Duration::MAX-ish values.
        let max = Outcome::Response {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(Duration::MAX),
        };
        assert_eq!(
            decide(&p, 1, &max),
            Decision::RetryIn(Duration::from_secs(3600))
        );
    }

    #[test]
    fn overload_floor_applies_only_to_overload() {
        let p = no_jitter()
            .with_overload_min_delay(Duration::from_secs(60))
            .unwrap();
        let sixty = Decision::RetryIn(Duration::from_secs(60));
        let five = Decision::RetryIn(Duration::from_secs(5));
        assert_eq!(decide(&p, 1, &status(429)), sixty);
        assert_eq!(decide(&p, 1, &status(502)), sixty);
        assert_eq!(decide(&p, 1, &status(503)), sixty);
        assert_eq!(decide(&p, 1, &status(504)), sixty);
        assert_eq!(
            decide(&p, 1, &Outcome::Error(TransportErrorKind::Timeout)),
            sixty
        );
        assert_eq!(decide(&p, 1, &status(500)), five);
        assert_eq!(
            decide(&p, 1, &Outcome::Error(TransportErrorKind::Connect)),
            five
        );
        // Longer scheduled delays are unaffected.
        assert_eq!(
            decide(&p, 2, &status(429)),
            Decision::RetryIn(Duration::from_secs(300))
        );
    }

    #[test]
    fn validation() {
        let d = Policy::default;
        assert_eq!(
            d().with_timeout(Duration::ZERO),
            Err(InvalidPolicy::ZeroTimeout)
        );
        assert_eq!(
            d().with_timeout(Duration::from_secs(301)),
            Err(InvalidPolicy::TimeoutTooLong {
                timeout: Duration::from_secs(301),
                max: Policy::MAX_TIMEOUT
            })
        );
        assert!(d().with_timeout(Duration::from_nanos(1)).is_ok());
        assert!(d().with_timeout(Policy::MAX_TIMEOUT).is_ok());
        for bad in [
            f64::NAN,
            -0.1,
            -0.0 - f64::EPSILON,
            1.0,
            1.5,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_eq!(
                d().with_jitter(bad),
                Err(InvalidPolicy::InvalidJitter),
                "{bad}"
            );
        }
        for good in [0.0, -0.0, 0.2, 0.999_999] {
            assert!(d().with_jitter(good).is_ok(), "{good}");
        }
        let too_long = Policy::MAX_DELAY + Duration::from_nanos(1);
        assert_eq!(
            d().with_retry_after_cap(too_long),
            Err(InvalidPolicy::RetryAfterCapTooLong {
                cap: too_long,
                max: Policy::MAX_DELAY
            })
        );
        assert_eq!(
            d().with_overload_min_delay(too_long),
            Err(InvalidPolicy::OverloadDelayTooLong {
                delay: too_long,
                max: Policy::MAX_DELAY
            })
        );
        assert_eq!(
            Policy::custom([Duration::from_secs(1), too_long]),
            Err(InvalidPolicy::DelayTooLong {
                index: 1,
                delay: too_long,
                max: Policy::MAX_DELAY
            })
        );
        assert!(Policy::custom([Policy::MAX_DELAY]).is_ok());
        assert_eq!(
            Policy::custom(vec![Duration::from_secs(1); 99]).map(|p| p.max_attempts()),
            Ok(100)
        );
        assert_eq!(
            Policy::custom(vec![Duration::from_secs(1); 100]),
            Err(InvalidPolicy::TooManyAttempts { max: 100 })
        );
        assert_eq!(
            Policy::custom(std::iter::repeat(Duration::ZERO)),
            Err(InvalidPolicy::TooManyAttempts { max: 100 })
        );
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            InvalidPolicy::ZeroTimeout.to_string(),
            "timeout must be greater than zero"
        );
        assert_eq!(
            InvalidPolicy::InvalidJitter.to_string(),
            "jitter must be a number in [0, 1)"
        );
        assert_eq!(
            InvalidPolicy::TooManyAttempts { max: 100 }.to_string(),
            "a policy allows at most 100 attempts"
        );
        assert_eq!(
            InvalidPolicy::TimeoutTooLong {
                timeout: Duration::from_secs(301),
                max: Duration::from_secs(300)
            }
            .to_string(),
            "timeout 301s exceeds the maximum of 300s"
        );
    }

    #[test]
    fn extreme_delays_do_not_overflow() {
        assert!(apply_jitter(Duration::MAX, 0.999, u64::MAX) >= Duration::MAX / 2);
        assert_eq!(apply_jitter(Duration::MAX, 0.0, 7), Duration::MAX);
        assert_eq!(nanos_to_duration(u128::MAX), Duration::MAX);
        let p = Policy::custom([Policy::MAX_DELAY])
            .unwrap()
            .with_jitter(0.999_999)
            .unwrap();
        for seed in [0, 1, u64::MAX] {
            let d = p.jittered_delay(1, seed).unwrap();
            assert!(d < 2 * Policy::MAX_DELAY);
            // Adding it to the present cannot overflow.
            assert!(now().checked_add(d).is_some());
        }
    }

    proptest::proptest! {
        #[test]
        fn jittered_delay_stays_in_bounds(
            secs in 0u64..=(1 << 40),
            nanos in 0u32..1_000_000_000,
            jitter in 0.0f64..1.0,
            seed in proptest::num::u64::ANY,
        ) {
            let base = Duration::new(secs, nanos);
            let d = apply_jitter(base, jitter, seed);
            let b = base.as_secs_f64();
            // Fixed-point jitter (2^-32) and f64 rounding: allow a hair of slack.
            let slack = b * 1e-9 + 1e-9;
            proptest::prop_assert!(d.as_secs_f64() >= b * (1.0 - jitter) - slack, "{d:?} < low");
            proptest::prop_assert!(d.as_secs_f64() <= b * (1.0 + jitter) + slack, "{d:?} > high");
            proptest::prop_assert_eq!(apply_jitter(base, jitter, seed), d);
        }

        #[test]
        fn decide_never_panics(
            attempt in proptest::num::u32::ANY,
            code in 100u16..1000,
            retry_after in proptest::option::of(proptest::num::u64::ANY),
            seed in proptest::num::u64::ANY,
            jitter in 0.0f64..1.0,
        ) {
            let p = Policy::standard_webhooks().with_jitter(jitter).unwrap();
            let outcome = Outcome::Response {
                status: StatusCode::from_u16(code).unwrap(),
                retry_after: retry_after.map(Duration::from_secs),
            };
            let info = Attempt::new(attempt, &outcome, now(), seed);
            match p.decide(&info) {
                Decision::RetryIn(d) => {
                    proptest::prop_assert!(attempt < p.max_attempts());
                    proptest::prop_assert!(d < 2 * Policy::MAX_DELAY);
                    let base = p.nominal_delay(attempt).unwrap();
                    proptest::prop_assert!(d >= base.mul_f64(1.0 - jitter).saturating_sub(Duration::from_nanos(1)));
                }
                Decision::GiveUp => proptest::prop_assert!(attempt >= p.max_attempts()),
                Decision::Succeeded => proptest::prop_assert!((200..300).contains(&code)),
                Decision::DisableEndpoint => proptest::prop_assert_eq!(code, 410),
            }
        }
    }
}
