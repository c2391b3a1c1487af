//! Flow control (see [`crate::flow`]): the settings kept, a rate limit's
//! schedule (across concurrent leasers too), a pause, and the circuit
//! breaker's states: opening, holding, one probe, opening again for longer,
//! closing.

use std::time::{Duration, SystemTime};

use super::{
    assert_empty, clock, endpoint_id, failed_attempt, finish, insert, lease, leased_ids, next_due,
    ok, ok_attempt, put, put_endpoint, secs,
};
use crate::clock::Clock;
use crate::endpoint::Endpoint;
use crate::flow::{CircuitBreaker, CircuitChange, CircuitState, RateLimit};
use crate::store::{NextState, Store};
use crate::testing::join_all;

fn flow_endpoint(id: &str, rate: Option<RateLimit>, breaker: Option<CircuitBreaker>) -> Endpoint {
    let mut b = Endpoint::builder(id, format!("http://127.0.0.1:9/{id}"));
    if let Some(rate) = rate {
        b = b.rate_limit(rate);
    }
    b = match breaker {
        Some(breaker) => b.circuit_breaker(breaker),
        None => b.without_circuit_breaker(),
    };
    b.build().expect("valid endpoint")
}

/// Inserts `n` deliveries `{prefix}_1..` to `endpoint`, one event each, due at `at`.
async fn insert_many(
    store: &dyn Store,
    check: &str,
    prefix: &str,
    endpoint: &str,
    n: usize,
    at: SystemTime,
) {
    for k in 1..=n {
        let (event, delivery) = (format!("evt_{prefix}_{k}"), format!("{prefix}_{k}"));
        insert(store, check, &event, &[(&delivery, endpoint)], at).await;
    }
}

/// The store says it enforces flow control; rate limits and breakers read
/// back as put, and replacing them changes them.
pub async fn flow_settings_round_trip(store: &dyn Store) {
    const C: &str = "flow_settings_round_trip";
    assert_empty(store, C).await;
    ensure!(
        C,
        store.enforces_flow_control(),
        "the suite checks a store that enforces flow control (enforces_flow_control is false)"
    );
    let rate = RateLimit::per_second(25).burst(4);
    let breaker = CircuitBreaker::after(3)
        .cool_down(secs(7))
        .max_cool_down(secs(70));
    let cases = [
        (Some(rate), Some(breaker)),
        (None, None),
        (
            Some(RateLimit::per_second(1)),
            Some(CircuitBreaker::default()),
        ),
    ];
    for (rate, breaker) in cases {
        put_endpoint(store, C, flow_endpoint("ep_f", rate, breaker)).await;
        let back = ok(C, "endpoint", store.endpoint(&endpoint_id("ep_f")).await)
            .unwrap_or_else(|| panic!("store conformance check `{C}` failed: ep_f not found"));
        ensure_eq!(C, back.rate_limit, rate, "rate limit read back");
        ensure_eq!(
            C,
            back.circuit_breaker,
            breaker,
            "circuit breaker read back"
        );
        let listed = ok(C, "endpoints", store.endpoints().await);
        ensure_eq!(C, listed[0].rate_limit, rate, "rate limit listed");
    }
}

/// A 10/s endpoint with bursts of 3 is leased exactly as the limiter
/// promises ([`RateLimit::earliest`]); `next_due` names its next slot, and
/// an endpoint without a limit is not held back by it.
pub async fn rate_limit_spaces_leases(store: &dyn Store) {
    const C: &str = "rate_limit_spaces_leases";
    assert_empty(store, C).await;
    let rate = RateLimit::per_second(10).burst(3);
    put_endpoint(store, C, flow_endpoint("ep_r", Some(rate), None)).await;
    put(store, C, &["ep_u"]).await;
    let start = clock().now();
    insert_many(store, C, "r", "ep_r", 12, start).await;
    insert_many(store, C, "u", "ep_u", 5, start).await;
    let first = lease(store, C, start, 100, secs(60)).await;
    let of_r = first
        .iter()
        .filter(|l| l.delivery.endpoint_id.as_str() == "ep_r")
        .count();
    ensure_eq!(C, of_r, 3, "a burst of 3 from ep_r at first");
    ensure_eq!(
        C,
        first.len(),
        8,
        "ep_u's 5 deliveries are not held back: {:?}",
        leased_ids(&first)
    );
    ensure_eq!(
        C,
        next_due(store, C, start).await,
        Some(rate.earliest(start, 3)),
        "next_due is ep_r's next slot"
    );
    let health = ok(
        C,
        "endpoint_health",
        store.endpoint_health(&endpoint_id("ep_r")).await,
    )
    .expect("ep_r has health");
    ensure_eq!(
        C,
        health.held_until,
        Some(rate.earliest(start, 3)),
        "health shows when ep_r's gate opens"
    );
    let mut taken = 3u64;
    while taken < 12 {
        let at = rate.earliest(start, taken);
        let early = lease(store, C, at - Duration::from_micros(1), 100, secs(60)).await;
        ensure!(
            C,
            early.is_empty(),
            "leased before slot {taken}: {:?}",
            leased_ids(&early)
        );
        let got = lease(store, C, at, 100, secs(60)).await;
        ensure_eq!(C, got.len(), 1, "one delivery at slot {taken}");
        taken += 1;
    }
}

/// Concurrent leasers together take no more than the limiter allows.
pub async fn concurrent_leasers_share_a_rate(store: &dyn Store) {
    const C: &str = "concurrent_leasers_share_a_rate";
    assert_empty(store, C).await;
    let rate = RateLimit::per_second(2).burst(5);
    put_endpoint(store, C, flow_endpoint("ep_r", Some(rate), None)).await;
    let now = clock().now();
    insert_many(store, C, "r", "ep_r", 40, now).await;
    let calls = (0..8).map(|_| store.lease_due(now, 10, secs(60)));
    let mut total = 0;
    for result in join_all(calls).await {
        total += ok(C, "lease_due", result).len();
    }
    ensure_eq!(C, total, 5, "8 leasers at once share a burst of 5");
}

/// A paused endpoint's deliveries are not leased until the pause ends; a
/// shorter pause keeps the longer; an unknown endpoint answers `false`.
pub async fn pause_holds_an_endpoint(store: &dyn Store) {
    const C: &str = "pause_holds_an_endpoint";
    assert_empty(store, C).await;
    put(store, C, &["ep_p", "ep_u"]).await;
    let now = clock().now();
    insert_many(store, C, "p", "ep_p", 3, now).await;
    insert_many(store, C, "u", "ep_u", 1, now).await;
    let id = endpoint_id("ep_p");
    ensure!(
        C,
        ok(
            C,
            "pause_endpoint",
            store.pause_endpoint(&id, now + secs(30)).await
        ),
        "pausing ep_p answers true"
    );
    ensure!(
        C,
        ok(
            C,
            "pause_endpoint",
            store.pause_endpoint(&id, now + secs(5)).await
        ),
        "pausing ep_p again answers true"
    );
    ensure!(
        C,
        !ok(
            C,
            "pause_endpoint",
            store.pause_endpoint(&endpoint_id("ep_none"), now).await
        ),
        "pausing an unknown endpoint answers false"
    );
    let got = lease(store, C, now + secs(10), 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&got),
        vec!["u_1"],
        "only ep_u while ep_p is paused (the longer pause holds)"
    );
    ensure_eq!(
        C,
        next_due(store, C, now + secs(10)).await,
        Some(now + secs(30)),
        "next_due is the pause's end"
    );
    let got = lease(store, C, now + secs(30), 10, secs(60)).await;
    ensure_eq!(C, got.len(), 3, "ep_p's deliveries after the pause");
}

/// After 3 failures in a row the circuit opens (reported by the attempt
/// that opened it, shown in health); nothing is leased for the cool-down,
/// attempts in flight when it opened do not count as probes; then exactly
/// one probe is leased; its failure opens it for twice as long; a success
/// closes it and the held deliveries flow, their attempt counts untouched.
pub async fn circuit_breaker_opens_probes_and_closes(store: &dyn Store) {
    const C: &str = "circuit_breaker_opens_probes_and_closes";
    assert_empty(store, C).await;
    let breaker = CircuitBreaker::after(3).cool_down(secs(10));
    put_endpoint(store, C, flow_endpoint("ep_b", None, Some(breaker))).await;
    let t = clock().now();
    insert_many(store, C, "b", "ep_b", 6, t).await;
    let leased = lease(store, C, t, 4, secs(60)).await;
    ensure_eq!(C, leased.len(), 4, "four leased before anything failed");
    let fail = |l: &crate::store::Leased, at| {
        let attempt = failed_attempt(l.delivery.attempts_total + 1, at);
        let next = NextState::RetryAt(at + secs(1));
        (attempt, next)
    };
    let mut reports = Vec::new();
    for l in &leased[..3] {
        let (attempt, next) = fail(l, t);
        reports.push(finish(store, C, &l.lease, attempt, next).await);
    }
    let opened_at = t + Duration::from_millis(250);
    ensure_eq!(C, reports[0].circuit, None, "one failure changes nothing");
    ensure_eq!(
        C,
        reports[2].circuit,
        Some(CircuitChange::Opened {
            until: opened_at + secs(10),
            failures: 3
        }),
        "the third failure opens the circuit, until its end plus the cool-down"
    );
    let health = ok(
        C,
        "endpoint_health",
        store.endpoint_health(&endpoint_id("ep_b")).await,
    )
    .expect("ep_b has health");
    ensure_eq!(
        C,
        health.circuit,
        CircuitState::Open {
            since: opened_at,
            until: opened_at + secs(10)
        },
        "health shows the open circuit"
    );
    // The fourth was in flight when it opened: its failure is no probe.
    let (attempt, next) = fail(&leased[3], t);
    let report = finish(store, C, &leased[3].lease, attempt, next).await;
    ensure_eq!(C, report.circuit, None, "an attempt begun before it opened");
    let held = lease(store, C, t + secs(5), 10, secs(60)).await;
    ensure!(
        C,
        held.is_empty(),
        "leased while open: {:?}",
        leased_ids(&held)
    );
    ensure_eq!(
        C,
        next_due(store, C, t + secs(5)).await,
        Some(opened_at + secs(10)),
        "next_due is the end of the cool-down"
    );
    // One probe, and the gate closes behind it.
    let probe_at = opened_at + secs(10);
    let probe = lease(store, C, probe_at, 10, secs(60)).await;
    ensure_eq!(C, probe.len(), 1, "exactly one probe");
    let more = lease(store, C, probe_at + secs(1), 10, secs(60)).await;
    ensure!(
        C,
        more.is_empty(),
        "a second delivery while the probe is out: {:?}",
        leased_ids(&more)
    );
    let (attempt, next) = fail(&probe[0], probe_at);
    let report = finish(store, C, &probe[0].lease, attempt, next).await;
    let reopened_at = probe_at + Duration::from_millis(250);
    ensure_eq!(
        C,
        report.circuit,
        Some(CircuitChange::Opened {
            until: reopened_at + secs(20),
            failures: 5
        }),
        "a failed probe opens it for twice as long"
    );
    let early = lease(store, C, reopened_at + secs(19), 10, secs(60)).await;
    ensure!(
        C,
        early.is_empty(),
        "leased before the longer cool-down ended"
    );
    let probe_at = reopened_at + secs(20);
    let probe = lease(store, C, probe_at, 10, secs(60)).await;
    ensure_eq!(C, probe.len(), 1, "the second probe");
    let attempt = ok_attempt(probe[0].delivery.attempts_total + 1, probe_at);
    let report = finish(store, C, &probe[0].lease, attempt, NextState::Succeeded).await;
    ensure_eq!(
        C,
        report.circuit,
        Some(CircuitChange::Closed),
        "a success closes it"
    );
    let rest = lease(store, C, probe_at + secs(1), 10, secs(60)).await;
    ensure_eq!(C, rest.len(), 5, "the held deliveries flow again");
    for l in &rest {
        // Each failed once (four before it opened, one as the first probe);
        // holding spent no attempt.
        ensure_eq!(
            C,
            l.delivery.attempts,
            1,
            "{}'s attempts: holding must spend none",
            l.delivery.id
        );
    }
}

/// An endpoint's `max_in_flight` holds across leasers: no more of its
/// deliveries are out at once (held by unexpired leases), whoever leases;
/// one finishing, or a lease expiring, makes room; others' are not held.
pub async fn max_in_flight_holds_across_leasers(store: &dyn Store) {
    const C: &str = "max_in_flight_holds_across_leasers";
    assert_empty(store, C).await;
    let capped = Endpoint::builder("ep_c", "http://127.0.0.1:9/ep_c")
        .max_in_flight(3)
        .build()
        .expect("valid endpoint");
    put_endpoint(store, C, capped).await;
    put(store, C, &["ep_u"]).await;
    let now = clock().now();
    insert_many(store, C, "c", "ep_c", 10, now).await;
    insert_many(store, C, "u", "ep_u", 4, now).await;
    let calls = (0..8).map(|_| store.lease_due(now, 4, secs(30)));
    let mut out = Vec::new();
    for result in join_all(calls).await {
        out.extend(ok(C, "lease_due", result));
    }
    let of_c: Vec<_> = out
        .iter()
        .filter(|l| l.delivery.endpoint_id.as_str() == "ep_c")
        .collect();
    ensure_eq!(
        C,
        of_c.len(),
        3,
        "8 leasers at once took 3 of ep_c (its max)"
    );
    ensure_eq!(C, out.len(), 7, "and all 4 of ep_u");
    let more = lease(store, C, now + secs(1), 10, secs(30)).await;
    ensure!(
        C,
        more.is_empty(),
        "leased beyond the max: {:?}",
        leased_ids(&more)
    );
    let done = of_c[0];
    let attempt = ok_attempt(1, now);
    finish(store, C, &done.lease, attempt, NextState::Succeeded).await;
    let one = lease(store, C, now + secs(1), 10, secs(30)).await;
    ensure_eq!(C, one.len(), 1, "one finished: room for one");
    // The leases expire: what they held is out no more.
    let later = lease(store, C, now + secs(40), 20, secs(30)).await;
    let of_c = later
        .iter()
        .filter(|l| l.delivery.endpoint_id.as_str() == "ep_c")
        .count();
    ensure_eq!(C, of_c, 3, "after the leases expired, 3 of ep_c again");
}
