//! Fault soak, bounded and deterministic: 10,000 events to 3 endpoints over a
//! transport that (seeded) times out, resets, answers 5xx, answers 429 with
//! `Retry-After` (which pauses the whole endpoint), or succeeds; the three
//! endpoints' circuit breakers open again and again; every 200th event goes
//! to an ordered endpoint too, which must get its requests in publish order,
//! and to a rate-limited one, which must never get more than its rate plus
//! its burst in a second. Time is driven by a manual clock; nothing sleeps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hookwire::clock::{Clock, ManualClock};
use hookwire::dispatch::Dispatcher;
use hookwire::endpoint::Endpoint;
use hookwire::flow::{CircuitBreaker, RateLimit};
use hookwire::retry::Policy;
use hookwire::signature::{Schemes, SigningSecret};
use hookwire::store::{AttemptResult, DeliveryFilter, DeliveryState, InMemoryStore, Store};
use hookwire::transport::{transport_fn, TransportError, TransportErrorKind, WebhookResponse};

const EVENTS: usize = 10_000;
const ENDPOINTS: usize = 3;
/// Every this many events, one is also for the ordered endpoint.
const ORDERED_EVERY: usize = 200;
const ORDERED: usize = EVENTS / ORDERED_EVERY;
/// The same events go to a rate-limited endpoint (1 a second, bursts of 2).
const RATED: usize = ORDERED;

/// xorshift64*: a tiny deterministic generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn fault_soak_every_delivery_settles_and_nothing_is_lost() {
    let rng = Arc::new(Mutex::new(Rng(0x5eed_1234_abcd_0001)));
    let requests = Arc::new(AtomicU64::new(0));
    // The ordered endpoint's requests: their sequence numbers, in order.
    let ordered_seen = Arc::new(Mutex::new(Vec::<u64>::new()));
    // When the rate-limited endpoint's requests were sent, by the clock.
    let rated_seen = Arc::new(Mutex::new(Vec::<SystemTime>::new()));
    let clock = ManualClock::at_unix(1_771_515_000);
    let (r, n, o) = (rng.clone(), requests.clone(), ordered_seen.clone());
    let (rs, c) = (rated_seen.clone(), clock.clone());
    let transport = transport_fn(move |req: hookwire::transport::WebhookRequest, _opts| {
        let roll = r.lock().unwrap().next() % 100;
        n.fetch_add(1, Ordering::SeqCst);
        if req.uri().path() == "/rated" {
            rs.lock().unwrap().push(c.now());
        }
        if req.uri().path() == "/ordered" {
            let body: serde_json::Value = serde_json::from_slice(req.body()).unwrap();
            o.lock().unwrap().push(body["seq"].as_u64().unwrap());
        }
        async move {
            match roll {
                0..=39 => Ok(WebhookResponse::new(Bytes::new())),
                40..=54 => Err(TransportError::from_kind(TransportErrorKind::Timeout)),
                55..=69 => Err(TransportError::from_kind(TransportErrorKind::Interrupted)),
                70..=84 => Ok(http::Response::builder()
                    .status(502)
                    .body(Bytes::new())
                    .unwrap()),
                _ => Ok(http::Response::builder()
                    .status(429)
                    // 1 to 15 s: each pauses the whole endpoint that long.
                    .header("retry-after", (roll - 84).to_string())
                    .body(Bytes::new())
                    .unwrap()),
            }
        }
    });
    // Keep every delivery: the checks below count them all.
    let store = InMemoryStore::with_retention(usize::MAX);
    let policy = Policy::default();
    let max_attempts = policy.max_attempts();
    let dispatcher = Dispatcher::builder(transport, store.clone())
        .clock(clock.clone())
        .policy(policy)
        .disable_after_dead(None)
        .build()
        .unwrap();

    futures::executor::block_on(async {
        for i in 0..ENDPOINTS {
            let ep = Endpoint::builder(format!("ep_{i}"), format!("https://hooks.example.com/{i}"))
                .signing(SigningSecret::generate(), Schemes::BOTH)
                // 60% of attempts fail: the breakers open again and again
                // (cool-downs short enough for the soak to end).
                .circuit_breaker(
                    CircuitBreaker::after(10)
                        .cool_down(Duration::from_secs(5))
                        .max_cool_down(Duration::from_secs(60)),
                )
                .build()
                .unwrap();
            dispatcher.add_endpoint(ep).await.unwrap();
        }
        let ordered = Endpoint::builder("ep_ordered", "https://hooks.example.com/ordered")
            .events(["orderedExperience"])
            .ordered(true)
            .build()
            .unwrap();
        dispatcher.add_endpoint(ordered).await.unwrap();
        let rated = Endpoint::builder("ep_rated", "https://hooks.example.com/rated")
            .events(["orderedExperience"])
            .rate_limit(RateLimit::per_second(1).burst(2))
            .build()
            .unwrap();
        dispatcher.add_endpoint(rated).await.unwrap();
        for i in 0..EVENTS {
            let (kind, fanout) = if i % ORDERED_EVERY == 0 {
                ("orderedExperience", ENDPOINTS + 2)
            } else {
                ("updateExperience", ENDPOINTS)
            };
            let seq = i / ORDERED_EVERY;
            let body = format!(r#"{{"action":"{kind}","timestamp":{i},"seq":{seq}}}"#);
            let p = dispatcher.publish_json(kind, body).await.unwrap();
            assert_eq!(p.deliveries.len(), fanout);
        }

        // Drive time forward in steps until nothing is pending.
        let mut rounds = 0;
        loop {
            loop {
                let report = dispatcher.run_due(2000).await.unwrap();
                assert_eq!(report.lease_lost, 0);
                assert_eq!(report.store_errors, 0);
                if report.leased == 0 {
                    break;
                }
            }
            let pending = store
                .deliveries(&DeliveryFilter::all(1).state(DeliveryState::Pending))
                .await
                .unwrap();
            if pending.is_empty() {
                break;
            }
            clock.advance(Duration::from_secs(60));
            rounds += 1;
            // A failing ordered head holds the rest for its retries' delays.
            assert!(rounds < 10_000, "deliveries did not settle");
        }

        let all = store
            .deliveries(&DeliveryFilter::all(usize::MAX))
            .await
            .unwrap();
        assert_eq!(
            all.len(),
            EVENTS * ENDPOINTS + ORDERED + RATED,
            "no delivery lost"
        );
        let (mut succeeded, mut dead, mut attempts_recorded) = (0, 0, 0u64);
        for d in &all {
            let attempts = store.attempts(&d.id).await.unwrap();
            assert_eq!(attempts.len() as u32, d.attempts);
            attempts_recorded += attempts.len() as u64;
            let last = attempts.last().expect("every delivery was attempted");
            match d.state {
                DeliveryState::Succeeded => {
                    succeeded += 1;
                    assert!(d.attempts <= max_attempts);
                    assert!(matches!(
                        last.result,
                        AttemptResult::Response { status: 200, .. }
                    ));
                }
                DeliveryState::Dead => {
                    dead += 1;
                    assert_eq!(
                        d.attempts, max_attempts,
                        "dead only after exactly the policy's attempts"
                    );
                }
                other => panic!("delivery {} left {other}", d.id),
            }
            for w in attempts.windows(2) {
                assert!(w[1].started_at > w[0].started_at);
            }
        }
        // Nothing is left leased or due, however far time moves.
        clock.advance(Duration::from_secs(365 * 86_400));
        assert_eq!(dispatcher.run_due(10).await.unwrap().leased, 0);
        assert_eq!(
            attempts_recorded,
            requests.load(Ordering::SeqCst),
            "attempts recorded = requests seen"
        );
        assert_eq!(succeeded + dead, EVENTS * ENDPOINTS + ORDERED + RATED);
        // The ordered endpoint's requests walk its deliveries in publish
        // order: each is the previous one again (a retry) or the next (the
        // turn passed on after a success or a dead end); never a gap, never
        // an earlier one after a later one.
        let walk = ordered_seen.lock().unwrap().clone();
        assert_eq!(walk.first(), Some(&0));
        assert_eq!(walk.last(), Some(&(ORDERED as u64 - 1)));
        for w in walk.windows(2) {
            assert!(
                w[1] == w[0] || w[1] == w[0] + 1,
                "ordered endpoint: {} right after {}",
                w[1],
                w[0]
            );
        }
        // The rate-limited endpoint never got more than its rate plus its
        // burst in a second.
        let rated = rated_seen.lock().unwrap().clone();
        assert!(rated.len() >= RATED, "every rated delivery was tried");
        for (i, t) in rated.iter().enumerate() {
            let in_second = rated[i..]
                .iter()
                .take_while(|u| **u < *t + Duration::from_secs(1))
                .count();
            assert!(
                in_second <= 3,
                "{in_second} requests to ep_rated within a second"
            );
        }
        assert!(
            dead > 0 && succeeded > dead,
            "the mix exercised both ends: {succeeded} ok, {dead} dead"
        );
        eprintln!("soak: {succeeded} succeeded, {dead} dead, {attempts_recorded} attempts, {rounds} minutes simulated");
    });
}
