//! Flow control per endpoint: a rate limit, a circuit breaker, and pauses
//! asked for by the receiver.
//!
//! Each is a **gate** on the endpoint's queue in the store: while it is
//! closed, the endpoint's deliveries are not leased (not attempted, not
//! counted against the retry policy), and [`Store::next_due`] says when it
//! opens, so a worker sleeps until then instead of polling. Because the gate
//! lives in the store, every worker that shares the store honours it:
//! [`InMemoryStore`] within one process, [`PgStore`](crate::store) across
//! processes and machines.
//!
//! - [`RateLimit`]: at most `per_second` deliveries a second on average, with
//!   bursts of up to `burst` (the generic cell rate algorithm: a delivery
//!   leased at `now` moves the endpoint's *theoretical arrival time* one
//!   interval on; the gate closes while it is more than `burst` intervals
//!   ahead). In any window of `t` seconds an endpoint gets at most
//!   `burst + t * per_second` deliveries.
//! - [`CircuitBreaker`] (on by default: [`CircuitBreaker::default`]): after
//!   `failures` failed attempts in a row the circuit **opens** and the gate
//!   stays closed for `cool_down`; then **one probe** delivery goes out (the
//!   gate closes again behind it until it is recorded or its lease expires).
//!   A success closes the circuit, and the held deliveries flow at the
//!   endpoint's rate; a failed probe opens it again for twice as long, up to
//!   `max_cool_down`. Attempts that were in flight when it opened do not
//!   count as probes. Nothing is dropped and no attempt is spent while it is
//!   open; its state shows in
//!   [`EndpointHealth::circuit`](crate::store::EndpointHealth::circuit), in
//!   the run report, and as the operational events
//!   [`CircuitOpened`](crate::events::OpsEvent::CircuitOpened) and
//!   [`CircuitClosed`](crate::events::OpsEvent::CircuitClosed).
//! - [`max_in_flight`](crate::endpoint::EndpointBuilder::max_in_flight):
//!   no more of its deliveries out at once (held by unexpired leases),
//!   whichever workers hold them.
//! - A `429 Too Many Requests` or `503 Service Unavailable` with a
//!   `Retry-After` pauses the whole endpoint for that long (at most
//!   [`MAX_PAUSE`]; [`Store::pause_endpoint`]), not only the delivery that
//!   got it. The attempt that got it counts as an attempt, as ever.
//!
//! A store declares that it enforces all of this (and [ordered
//! endpoints](crate#ordered-endpoints)) with
//! [`Store::enforces_flow_control`]; the dispatcher refuses to build on one
//! that does not, unless told to go without.
//!
//! [`Store::next_due`]: crate::store::Store::next_due
//! [`Store::pause_endpoint`]: crate::store::Store::pause_endpoint
//! [`Store::enforces_flow_control`]: crate::store::Store::enforces_flow_control
//! [`InMemoryStore`]: crate::store::InMemoryStore

use std::time::{Duration, SystemTime};

use crate::clock::saturating_add;

/// The longest a receiver's `Retry-After` pauses an endpoint: a longer one
/// (or a date far ahead) is cut to this, so that a hostile or mistaken
/// header cannot stop an endpoint for days.
pub const MAX_PAUSE: Duration = Duration::from_secs(3600);

/// The most deliveries a second a [`RateLimit`] may allow: its interval is
/// counted in whole microseconds.
pub const MAX_PER_SECOND: u32 = 1_000_000;

/// At most `per_second` deliveries a second to one endpoint, with bursts of
/// up to `burst`. See the [module docs](self).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use hookwire::flow::RateLimit;
///
/// let limit = RateLimit::per_second(10).burst(5);
/// assert_eq!(limit.interval(), Duration::from_millis(100));
/// // A backlog that starts at t: five at once, then one every 100 ms.
/// let t = UNIX_EPOCH;
/// assert_eq!(limit.earliest(t, 4), t);
/// assert_eq!(limit.earliest(t, 5), t + Duration::from_millis(100));
/// assert_eq!(limit.earliest(t, 14), t + Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    /// Deliveries a second, on average (1 to [`MAX_PER_SECOND`]).
    pub per_second: u32,
    /// How many may go at once after a quiet spell (at least 1).
    pub burst: u32,
}

impl RateLimit {
    /// `n` deliveries a second, one at a time (a burst of 1).
    pub fn per_second(n: u32) -> Self {
        Self {
            per_second: n,
            burst: 1,
        }
    }

    /// Bursts of up to `burst` deliveries.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// The time between two deliveries at the steady rate, in whole
    /// microseconds (what every store counts in).
    pub fn interval(&self) -> Duration {
        Duration::from_micros(u64::from(
            1_000_000 / self.per_second.clamp(1, MAX_PER_SECOND),
        ))
    }

    /// Why it cannot be used, if it cannot.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.per_second == 0 || self.per_second > MAX_PER_SECOND {
            return Err("per_second must be between 1 and 1,000,000");
        }
        if self.burst == 0 {
            return Err("burst must be at least 1");
        }
        Ok(())
    }

    /// The earliest time the `n`-th delivery (from 0) of a backlog that is
    /// all due at `start`, to an endpoint idle before it, may be leased:
    /// what the limiter promises.
    pub fn earliest(&self, start: SystemTime, n: u64) -> SystemTime {
        let over = (n + 1).saturating_sub(u64::from(self.burst));
        let step = u64::try_from(self.interval().as_micros()).unwrap_or(u64::MAX);
        saturating_add(start, Duration::from_micros(over.saturating_mul(step)))
    }
}

/// The breaker's settings: open after `failures` failed attempts in a row,
/// hold for `cool_down`, doubling after each failed probe up to
/// `max_cool_down`. See the [module docs](self).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hookwire::flow::CircuitBreaker;
///
/// let breaker = CircuitBreaker::default();
/// assert_eq!(breaker.failures, 10);
/// assert_eq!(breaker.cool_down, Duration::from_secs(30));
/// assert_eq!(breaker.max_cool_down, Duration::from_secs(600));
/// let eager = CircuitBreaker::after(3).cool_down(Duration::from_secs(5));
/// assert_eq!(eager.failures, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CircuitBreaker {
    /// Failed attempts in a row that open the circuit (at least 1).
    pub failures: u32,
    /// How long it stays open the first time (at least 1 ms).
    pub cool_down: Duration,
    /// The longest it stays open after failed probes (at least `cool_down`).
    pub max_cool_down: Duration,
}

impl Default for CircuitBreaker {
    /// 10 failures in a row; 30 s, doubling to 10 minutes.
    fn default() -> Self {
        Self {
            failures: 10,
            cool_down: Duration::from_secs(30),
            max_cool_down: Duration::from_secs(600),
        }
    }
}

impl CircuitBreaker {
    /// Opens after `failures` failed attempts in a row, with the default
    /// cool-downs.
    pub fn after(failures: u32) -> Self {
        Self {
            failures,
            ..Self::default()
        }
    }

    /// Stays open for `cool_down` the first time (and `max_cool_down` is
    /// raised to it if it was lower).
    pub fn cool_down(mut self, cool_down: Duration) -> Self {
        self.cool_down = cool_down;
        self.max_cool_down = self.max_cool_down.max(cool_down);
        self
    }

    /// Stays open at most `max_cool_down` after failed probes.
    pub fn max_cool_down(mut self, max_cool_down: Duration) -> Self {
        self.max_cool_down = max_cool_down;
        self
    }

    /// Why it cannot be used, if it cannot.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.failures == 0 {
            return Err("failures must be at least 1");
        }
        if self.cool_down < Duration::from_millis(1) {
            return Err("cool_down must be at least 1 ms");
        }
        if self.max_cool_down < self.cool_down {
            return Err("max_cool_down must be at least cool_down");
        }
        Ok(())
    }

    /// The cool-down after `cool_down`: twice as long, at most the maximum.
    pub(crate) fn next_cool_down(&self, cool_down: Duration) -> Duration {
        cool_down.saturating_mul(2).min(self.max_cool_down)
    }
}

/// An endpoint's circuit, as its health reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CircuitState {
    /// Deliveries flow.
    #[default]
    Closed,
    /// Held since `since`; a probe may go out from `until` on.
    Open {
        /// When it opened (last).
        since: SystemTime,
        /// When the cool-down ends.
        until: SystemTime,
    },
}

/// A change of an endpoint's circuit, reported with the attempt that made it
/// ([`FinishReport::circuit`](crate::store::FinishReport::circuit)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CircuitChange {
    /// It opened (or opened again after a failed probe): nothing is sent
    /// before `until`.
    Opened {
        /// When the cool-down ends and a probe may go out.
        until: SystemTime,
        /// Failed attempts in a row so far.
        failures: u32,
    },
    /// A success closed it.
    Closed,
}

/// An endpoint's flow state in a store: its limiter, its pause and its
/// circuit. Every store that keeps state in memory uses this; `PgStore`
/// keeps the same in columns and applies the same rules in SQL (its
/// conformance checks hold both to them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FlowState {
    /// The limiter's theoretical arrival time.
    pub(crate) tat: Option<SystemTime>,
    /// A receiver's pause (`Retry-After`).
    pub(crate) paused_until: Option<SystemTime>,
    /// The circuit: open since, its cool-down, and when the next probe may
    /// go (pushed to a probe's lease expiry while the probe is out).
    pub(crate) open: Option<Open>,
}

/// An open circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Open {
    pub(crate) since: SystemTime,
    pub(crate) cool_down: Duration,
    /// When the next probe may be leased.
    pub(crate) probe_at: SystemTime,
    /// When the first probe could go: attempts started before it were in
    /// flight when it opened, and are not probes.
    pub(crate) first_probe: SystemTime,
}

impl FlowState {
    /// When the gate opens: `None` if it is open at `now`.
    #[cfg(test)]
    pub(crate) fn gate(&self, rate: Option<&RateLimit>, now: SystemTime) -> Option<SystemTime> {
        self.gate_at(rate).filter(|&t| t > now)
    }

    /// The latest of the times the gate waits for (past ones included):
    /// the pause, the circuit's next probe, the limiter's next free slot.
    pub(crate) fn gate_at(&self, rate: Option<&RateLimit>) -> Option<SystemTime> {
        let mut gate = self.paused_until;
        if let Some(open) = &self.open {
            gate = gate.max(Some(open.probe_at));
        }
        if let (Some(rate), Some(tat)) = (rate, self.tat) {
            // A slot is free once tat - (burst - 1) * interval <= now.
            let window = rate.interval().saturating_mul(rate.burst.saturating_sub(1));
            let free_at = tat.checked_sub(window).unwrap_or(SystemTime::UNIX_EPOCH);
            gate = gate.max(Some(free_at));
        }
        gate
    }

    /// A delivery of this endpoint is leased at `now` until `expires_at`:
    /// the limiter moves on; a probe closes the gate behind it. Call only
    /// while [`gate`](Self::gate) is open.
    pub(crate) fn leased(
        &mut self,
        rate: Option<&RateLimit>,
        now: SystemTime,
        expires_at: SystemTime,
    ) {
        if let Some(rate) = rate {
            let from = self.tat.map_or(now, |t| t.max(now));
            self.tat = Some(saturating_add(from, rate.interval()));
        }
        if let Some(open) = &mut self.open {
            open.probe_at = expires_at;
        }
    }

    /// A delivery of this endpoint leased until `expires_at` was handed
    /// back without an attempt: if it was the probe (the gate waits for its
    /// lease), another may go from the end of the cool-down on.
    pub(crate) fn probe_returned(&mut self, expires_at: SystemTime) {
        if let Some(open) = &mut self.open {
            if open.probe_at == expires_at {
                open.probe_at = open.first_probe;
            }
        }
    }

    /// An attempt started at `started_at` was recorded at `now`, leaving
    /// `failures` failed attempts in a row (0 after a success).
    pub(crate) fn attempted(
        &mut self,
        breaker: Option<&CircuitBreaker>,
        succeeded: bool,
        failures: u32,
        started_at: SystemTime,
        now: SystemTime,
    ) -> Option<CircuitChange> {
        if succeeded {
            return self.open.take().map(|_| CircuitChange::Closed);
        }
        let breaker = breaker?;
        let cool_down = match &self.open {
            None if failures >= breaker.failures => breaker.cool_down,
            None => return None,
            // In flight when it opened: not a probe.
            Some(open) if started_at < open.first_probe => return None,
            Some(open) => breaker.next_cool_down(open.cool_down),
        };
        let until = saturating_add(now, cool_down);
        self.open = Some(Open {
            since: now,
            cool_down,
            probe_at: until,
            first_probe: until,
        });
        Some(CircuitChange::Opened { until, failures })
    }

    /// The circuit as health reports it.
    pub(crate) fn circuit(&self) -> CircuitState {
        match &self.open {
            None => CircuitState::Closed,
            Some(open) => CircuitState::Open {
                since: open.since,
                until: open.first_probe,
            },
        }
    }

    /// The endpoint was put again with no breaker: its circuit closes.
    pub(crate) fn breaker_removed(&mut self) {
        self.open = None;
    }

    /// Pauses until `until`, keeping a later pause.
    pub(crate) fn pause(&mut self, until: SystemTime) {
        self.paused_until = self.paused_until.max(Some(until));
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    fn at_ms(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn the_limiter_lets_a_burst_through_then_one_per_interval() {
        let rate = RateLimit::per_second(10).burst(5);
        let mut flow = FlowState::default();
        let now = at_ms(1_000);
        for _ in 0..5 {
            assert_eq!(flow.gate(Some(&rate), now), None);
            flow.leased(Some(&rate), now, now);
        }
        assert_eq!(flow.gate(Some(&rate), now), Some(at_ms(1_100)));
        flow.leased(Some(&rate), at_ms(1_100), at_ms(1_100));
        assert_eq!(flow.gate(Some(&rate), at_ms(1_100)), Some(at_ms(1_200)));
        // Quiet for a while: the burst is back, no more.
        let later = at_ms(10_000);
        for _ in 0..5 {
            assert_eq!(flow.gate(Some(&rate), later), None);
            flow.leased(Some(&rate), later, later);
        }
        assert_eq!(flow.gate(Some(&rate), later), Some(at_ms(10_100)));
    }

    #[test]
    fn the_promise_matches_the_limiter() {
        let rate = RateLimit::per_second(7).burst(3);
        let mut flow = FlowState::default();
        let start = at_ms(500);
        let mut now = start;
        for n in 0..200 {
            if let Some(gate) = flow.gate(Some(&rate), now) {
                now = gate;
            }
            assert_eq!(now, rate.earliest(start, n), "delivery {n}");
            flow.leased(Some(&rate), now, now);
        }
    }

    #[test]
    fn the_breaker_opens_probes_and_closes() {
        let breaker = CircuitBreaker::after(3).cool_down(Duration::from_secs(10));
        let mut flow = FlowState::default();
        let t = at_ms(0);
        assert_eq!(flow.attempted(Some(&breaker), false, 2, t, t), None);
        let opened = flow.attempted(Some(&breaker), false, 3, t, t);
        assert_eq!(
            opened,
            Some(CircuitChange::Opened {
                until: at_ms(10_000),
                failures: 3
            })
        );
        assert_eq!(flow.gate(None, at_ms(5_000)), Some(at_ms(10_000)));
        // Started before it opened: not a probe, nothing changes.
        assert_eq!(flow.attempted(Some(&breaker), false, 4, t, at_ms(1)), None);
        // The probe goes at 10 s; the gate closes behind it.
        assert_eq!(flow.gate(None, at_ms(10_000)), None);
        flow.leased(None, at_ms(10_000), at_ms(40_000));
        assert_eq!(flow.gate(None, at_ms(10_001)), Some(at_ms(40_000)));
        // It fails: open again, twice as long.
        let again = flow.attempted(Some(&breaker), false, 5, at_ms(10_000), at_ms(10_500));
        assert_eq!(
            again,
            Some(CircuitChange::Opened {
                until: at_ms(30_500),
                failures: 5
            })
        );
        // The next probe succeeds.
        flow.leased(None, at_ms(30_500), at_ms(60_000));
        let closed = flow.attempted(Some(&breaker), true, 0, at_ms(30_500), at_ms(30_600));
        assert_eq!(closed, Some(CircuitChange::Closed));
        assert_eq!(flow.gate(None, at_ms(30_600)), None);
        assert_eq!(flow.circuit(), CircuitState::Closed);
    }

    #[test]
    fn the_cool_down_doubles_up_to_its_maximum() {
        let breaker = CircuitBreaker::after(1)
            .cool_down(Duration::from_secs(30))
            .max_cool_down(Duration::from_secs(100));
        assert_eq!(
            breaker.next_cool_down(Duration::from_secs(30)),
            Duration::from_secs(60)
        );
        assert_eq!(
            breaker.next_cool_down(Duration::from_secs(60)),
            Duration::from_secs(100)
        );
    }

    #[test]
    fn a_returned_probe_lets_the_next_go() {
        let breaker = CircuitBreaker::after(1).cool_down(Duration::from_secs(1));
        let mut flow = FlowState::default();
        flow.attempted(Some(&breaker), false, 1, at_ms(0), at_ms(0));
        flow.leased(None, at_ms(1_000), at_ms(31_000));
        flow.probe_returned(at_ms(31_000));
        assert_eq!(flow.gate(None, at_ms(2_000)), None);
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(RateLimit::per_second(0).check().is_err());
        assert!(RateLimit::per_second(2_000_000).check().is_err());
        assert!(RateLimit::per_second(5).burst(0).check().is_err());
        assert!(RateLimit::per_second(5).check().is_ok());
        assert!(CircuitBreaker::after(0).check().is_err());
        assert!(CircuitBreaker::default()
            .max_cool_down(Duration::from_secs(1))
            .check()
            .is_err());
        assert!(CircuitBreaker::default()
            .cool_down(Duration::ZERO)
            .check()
            .is_err());
    }
}
