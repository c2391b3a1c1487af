//! Flow control through the dispatcher, on the manual clock (nothing
//! sleeps): a rate-limited endpoint gets exactly the limiter's schedule; the
//! circuit breaker opens after K failures, sends nothing while open, probes,
//! closes, and holding spends no attempt of the policy; a 429 with
//! Retry-After pauses the whole endpoint; a store without flow control is
//! refused unless the host says so, and then rate-limited endpoints wait
//! with a reason.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hookwire::clock::{Clock, ManualClock};
use hookwire::dispatch::{ConfigError, Dispatcher};
use hookwire::endpoint::Endpoint;
use hookwire::events::OpsEvent;
use hookwire::flow::{CircuitBreaker, CircuitChange, CircuitState, RateLimit};
use hookwire::id::EndpointId;
use hookwire::retry::Policy;
use hookwire::store::{DeliveryFilter, DeliveryState, InMemoryStore, Store};
use hookwire::testing::{MockReply, MockTransport};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

fn clock() -> ManualClock {
    ManualClock::at_unix(1_771_515_000)
}

/// Each request's path and the clock's time when it was sent.
type Arrivals = Arc<Mutex<Vec<(String, SystemTime)>>>;

/// A transport that notes the clock's time of every request, by path,
/// and answers with `reply(path, n)` (n: that path's requests so far).
fn timed(
    clock: &ManualClock,
    reply: impl Fn(&str, usize) -> MockReply + Send + Sync + 'static,
) -> (MockTransport, Arrivals) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (c, s) = (clock.clone(), Arc::clone(&seen));
    let transport = MockTransport::with_fn(move |request, _| {
        let path = request.uri().path().trim_start_matches('/').to_owned();
        let mut seen = s.lock().unwrap();
        let n = seen.iter().filter(|(p, _)| *p == path).count();
        seen.push((path.clone(), c.now()));
        reply(&path, n)
    });
    (transport, seen)
}

fn times_of(seen: &Mutex<Vec<(String, SystemTime)>>, path: &str) -> Vec<SystemTime> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == path)
        .map(|(_, t)| *t)
        .collect()
}

fn pending(store: &InMemoryStore) -> usize {
    block_on(store.deliveries(&DeliveryFilter::all(usize::MAX).state(DeliveryState::Pending)))
        .unwrap()
        .len()
}

#[test]
fn a_rate_limited_endpoint_gets_exactly_the_limiters_schedule() {
    let clock = clock();
    let (transport, seen) = timed(&clock, |_, _| MockReply::ok());
    let store = InMemoryStore::with_retention(usize::MAX);
    let d = Dispatcher::builder(transport, store.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let limit = RateLimit::per_second(10).burst(5);
    block_on(async {
        d.add_endpoint(
            Endpoint::builder("ep_slow", "https://hooks.example.com/slow")
                .rate_limit(limit)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
        d.add_endpoint(
            Endpoint::builder("ep_free", "https://hooks.example.com/free")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
        for seq in 0..1_000 {
            d.publish_json("updateExperience", format!(r#"{{"seq":{seq}}}"#))
                .await
                .unwrap();
        }
    });
    let start = clock.now();
    let report = block_on(d.run_until_idle(start + Duration::from_secs(3_600), 100_000)).unwrap();
    assert!(report.idle, "{report:?}");
    assert_eq!(report.total.succeeded, 2_000);
    assert_eq!(report.total.retried + report.total.dead, 0);
    let slow = times_of(&seen, "slow");
    assert_eq!(slow.len(), 1_000);
    for (n, at) in slow.iter().enumerate() {
        assert_eq!(*at, limit.earliest(start, n as u64), "delivery {n}");
    }
    // Five at once, then one every 100 ms: 99.5 s for the thousandth.
    assert_eq!(slow[999] - Duration::from_millis(99_500), start);
    // The other endpoint went at once, not held by the limited one.
    let free = times_of(&seen, "free");
    assert_eq!(free.len(), 1_000);
    assert!(
        free.iter().all(|t| *t == start),
        "ep_free waited for ep_slow"
    );
    // No window of one second holds more than the rate plus the burst.
    for (i, t) in slow.iter().enumerate() {
        let in_window = slow[i..]
            .iter()
            .take_while(|u| **u < *t + Duration::from_secs(1))
            .count();
        assert!(in_window <= 15, "{in_window} in the second from {n}", n = i);
    }
}

fn breaker_dispatcher(
    clock: &ManualClock,
    transport: MockTransport,
    store: &InMemoryStore,
    events: &Arc<Mutex<Vec<OpsEvent>>>,
) -> Dispatcher {
    let sink = Arc::clone(events);
    Dispatcher::builder(transport, store.clone())
        .clock(clock.clone())
        // Ten attempts a delivery, a second apart, no jitter.
        .policy(Policy::custom([Duration::from_secs(1); 9]).unwrap())
        .disable_after_dead(None)
        .on_event(move |e: &OpsEvent| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap()
}

#[test]
fn the_breaker_opens_holds_probes_and_closes_without_spending_attempts() {
    let clock = clock();
    // Fails its first 5 requests, then succeeds.
    let (transport, seen) = timed(&clock, |_, n| {
        if n < 5 {
            MockReply::status(500)
        } else {
            MockReply::ok()
        }
    });
    let store = InMemoryStore::with_retention(usize::MAX);
    let events = Arc::new(Mutex::new(Vec::new()));
    let d = breaker_dispatcher(&clock, transport, &store, &events);
    let breaker = CircuitBreaker::after(3).cool_down(Duration::from_secs(60));
    let id = EndpointId::new("ep_b").unwrap();
    block_on(async {
        d.add_endpoint(
            Endpoint::builder("ep_b", "https://hooks.example.com/b")
                .circuit_breaker(breaker)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
        for seq in 0..20 {
            d.publish_json("updateExperience", format!(r#"{{"seq":{seq}}}"#))
                .await
                .unwrap();
        }
    });
    let start = clock.now();
    // One at a time, so that the failures come in order.
    let one = |d: &Dispatcher| block_on(d.run_due(1)).unwrap();
    let mut opened = None;
    for _ in 0..3 {
        let r = one(&d);
        assert_eq!(r.retried, 1);
        opened = opened.or(r.circuits.first().cloned());
    }
    let (who, change) = opened.expect("the third failure opens the circuit");
    assert_eq!(who, id);
    assert_eq!(
        change,
        CircuitChange::Opened {
            until: start + Duration::from_secs(60),
            failures: 3
        }
    );
    let health = block_on(store.endpoint_health(&id)).unwrap().unwrap();
    assert!(matches!(health.circuit, CircuitState::Open { .. }));
    // Open: nothing goes, however often the dispatcher runs.
    for secs in [1, 10, 59] {
        clock.set(start + Duration::from_secs(secs));
        let r = block_on(d.run_due(100)).unwrap();
        assert_eq!(r.leased, 0, "leased {secs} s after it opened");
    }
    assert_eq!(seen.lock().unwrap().len(), 3, "0 attempts while open");
    assert_eq!(
        block_on(store.next_due(clock.now())).unwrap(),
        Some(start + Duration::from_secs(60)),
        "a worker would sleep until the probe"
    );
    // The probe fails: open again, twice as long.
    clock.set(start + Duration::from_secs(60));
    let r = block_on(d.run_due(100)).unwrap();
    assert_eq!(r.leased, 1, "one probe");
    assert!(matches!(
        r.circuits.as_slice(),
        [(_, CircuitChange::Opened { until, failures: 4 })]
            if *until == start + Duration::from_secs(180)
    ));
    clock.set(start + Duration::from_secs(179));
    assert_eq!(block_on(d.run_due(100)).unwrap().leased, 0);
    // The second probe fails too (the fifth failure): 240 s.
    clock.set(start + Duration::from_secs(180));
    let r = block_on(d.run_due(100)).unwrap();
    assert_eq!(r.leased, 1);
    // The third probe succeeds and the held deliveries flow.
    clock.set(start + Duration::from_secs(180 + 240));
    let r = block_on(d.run_due(1)).unwrap();
    assert_eq!(r.succeeded, 1, "{r:?}");
    assert_eq!(r.circuits, vec![(id.clone(), CircuitChange::Closed)]);
    let rest = block_on(d.run_until_idle(clock.now() + Duration::from_secs(60), 1_000)).unwrap();
    assert!(rest.idle);
    assert_eq!(pending(&store), 0);
    assert_eq!(
        seen.lock().unwrap().len(),
        5 + 20,
        "five failures, twenty successes"
    );
    // Holding spent nothing of the policy: no delivery was tried more than
    // its own failures plus one, and none ended dead.
    let all = block_on(store.deliveries(&DeliveryFilter::all(100))).unwrap();
    assert!(all.iter().all(|d| d.state == DeliveryState::Succeeded));
    let tries: u32 = all.iter().map(|d| d.attempts).sum();
    assert_eq!(tries, 25);
    assert!(all.iter().all(|d| d.attempts <= 3), "{all:?}");
    // The operator heard of each opening and the closing.
    let events = events.lock().unwrap();
    let opened = events
        .iter()
        .filter(|e| matches!(e, OpsEvent::CircuitOpened { .. }))
        .count();
    let closed = events
        .iter()
        .filter(|e| matches!(e, OpsEvent::CircuitClosed { .. }))
        .count();
    assert_eq!((opened, closed), (3, 1), "{events:?}");
}

#[test]
fn a_429_with_retry_after_pauses_the_whole_endpoint() {
    let clock = clock();
    let (transport, seen) = timed(&clock, |path, n| {
        if path == "busy" && n == 0 {
            MockReply::status(429).header("retry-after", "120")
        } else {
            MockReply::ok()
        }
    });
    let store = InMemoryStore::with_retention(usize::MAX);
    let events = Arc::new(Mutex::new(Vec::new()));
    let d = breaker_dispatcher(&clock, transport, &store, &events);
    block_on(async {
        for (id, path) in [("ep_busy", "busy"), ("ep_calm", "calm")] {
            d.add_endpoint(
                Endpoint::builder(id, format!("https://hooks.example.com/{path}"))
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
        }
        for seq in 0..10 {
            d.publish_json("updateExperience", format!(r#"{{"seq":{seq}}}"#))
                .await
                .unwrap();
        }
    });
    let start = clock.now();
    let r = block_on(d.run_due(1)).unwrap();
    assert_eq!(r.paused.len(), 1, "{r:?}");
    assert_eq!(r.paused[0].1, start + Duration::from_secs(120));
    // The other nine of ep_busy wait; ep_calm's ten go.
    let r = block_on(d.run_due(100)).unwrap();
    assert_eq!(r.succeeded, 10, "{r:?}");
    assert_eq!(times_of(&seen, "busy").len(), 1);
    clock.set(start + Duration::from_secs(119));
    assert_eq!(block_on(d.run_due(100)).unwrap().leased, 0);
    assert_eq!(
        block_on(store.next_due(clock.now())).unwrap(),
        Some(start + Duration::from_secs(120))
    );
    clock.set(start + Duration::from_secs(120));
    let r = block_on(d.run_due(100)).unwrap();
    assert_eq!(r.succeeded, 10, "the nine and the retried one: {r:?}");
    assert_eq!(pending(&store), 0);
}

/// A store that forwards everything but does not claim flow control.
#[derive(Debug, Clone, Default)]
struct Plain(InMemoryStore);

mod plain {
    use super::*;
    use async_trait::async_trait;
    use hookwire::id::DeliveryId;
    use hookwire::store::{
        AttemptRecord, Claim, Delivery, FinishReport, Lease, LeaseRequest, Leased, NewDelivery,
        NewEvent, NextState, SkipRecord, StoreError,
    };

    #[async_trait]
    impl Store for Plain {
        async fn put_endpoint(&self, e: Endpoint) -> Result<(), StoreError> {
            self.0.put_endpoint(e).await
        }
        async fn endpoint(&self, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
            self.0.endpoint(id).await
        }
        async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
            self.0.endpoints().await
        }
        async fn set_endpoint_enabled(
            &self,
            id: &EndpointId,
            on: bool,
        ) -> Result<bool, StoreError> {
            self.0.set_endpoint_enabled(id, on).await
        }
        async fn insert_event(&self, e: NewEvent, d: Vec<NewDelivery>) -> Result<bool, StoreError> {
            self.0.insert_event(e, d).await
        }
        async fn claim_once(
            &self,
            k: &str,
            e: NewEvent,
            d: NewDelivery,
        ) -> Result<Claim, StoreError> {
            self.0.claim_once(k, e, d).await
        }
        async fn record_skip(&self, s: SkipRecord) -> Result<(), StoreError> {
            self.0.record_skip(s).await
        }
        async fn skips(&self, limit: usize) -> Result<Vec<SkipRecord>, StoreError> {
            self.0.skips(limit).await
        }
        async fn lease(&self, r: LeaseRequest) -> Result<Vec<Leased>, StoreError> {
            self.0.lease(r).await
        }
        async fn delete_endpoint(&self, id: &EndpointId) -> Result<bool, StoreError> {
            self.0.delete_endpoint(id).await
        }
        async fn finish_attempt(
            &self,
            l: &Lease,
            a: AttemptRecord,
            n: NextState,
        ) -> Result<FinishReport, StoreError> {
            self.0.finish_attempt(l, a, n).await
        }
        async fn release(&self, l: &Lease) -> Result<(), StoreError> {
            self.0.release(l).await
        }
        async fn defer(&self, l: &Lease, until: SystemTime, why: &str) -> Result<(), StoreError> {
            self.0.defer(l, until, why).await
        }
        async fn abandon(&self, l: &Lease, why: &str) -> Result<(), StoreError> {
            self.0.abandon(l, why).await
        }
        async fn delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
            self.0.delivery(id).await
        }
        async fn attempts(&self, id: &DeliveryId) -> Result<Vec<AttemptRecord>, StoreError> {
            self.0.attempts(id).await
        }
        async fn deliveries(&self, f: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
            self.0.deliveries(f).await
        }
        async fn redeliver(&self, id: &DeliveryId, now: SystemTime) -> Result<bool, StoreError> {
            self.0.redeliver(id, now).await
        }
    }
}

#[test]
fn a_store_without_flow_control_is_refused_or_defers_with_a_reason() {
    let refused = Dispatcher::builder(MockTransport::always(MockReply::ok()), Plain::default())
        .build()
        .unwrap_err();
    assert!(matches!(refused, ConfigError::StoreLacksFlowControl));
    assert!(refused.to_string().contains("without_flow_control"));

    let clock = clock();
    let transport = MockTransport::always(MockReply::ok());
    let store = Plain::default();
    let d = Dispatcher::builder(transport.clone(), store.clone())
        .clock(clock.clone())
        .without_flow_control()
        .build()
        .unwrap();
    block_on(async {
        d.add_endpoint(
            Endpoint::builder("ep_limited", "https://hooks.example.com/limited")
                .rate_limit(RateLimit::per_second(1))
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
        d.add_endpoint(
            Endpoint::builder("ep_plain", "https://hooks.example.com/plain")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
        d.publish_json("updateExperience", br#"{}"#.to_vec())
            .await
            .unwrap();
    });
    let r = block_on(d.run_due(10)).unwrap();
    assert_eq!((r.succeeded, r.deferred), (1, 1), "{r:?}");
    assert_eq!(
        transport.request_count(),
        1,
        "only the plain endpoint was sent to"
    );
    let waiting = block_on(
        store
            .0
            .deliveries(&DeliveryFilter::all(10).state(DeliveryState::Pending)),
    )
    .unwrap();
    assert_eq!(waiting.len(), 1);
    assert!(
        waiting[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("does not enforce flow control")),
        "{:?}",
        waiting[0].reason
    );
}

/// Two workers sharing one store keep an endpoint to its `max_in_flight`
/// between them (each alone would allow that many), on tokio's paused clock.
#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn two_workers_keep_an_endpoint_to_its_max_in_flight_between_them() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use hookwire::transport::{transport_fn, SendOptions, WebhookRequest, WebhookResponse};
    use hookwire::worker::Worker;

    #[derive(Debug, Clone)]
    struct Paused {
        base: SystemTime,
        start: tokio::time::Instant,
    }
    impl Clock for Paused {
        fn now(&self) -> SystemTime {
            self.base + self.start.elapsed()
        }
    }

    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (n, p) = (Arc::clone(&now), Arc::clone(&peak));
    let transport = transport_fn(move |_request: WebhookRequest, _options: SendOptions| {
        let in_flight = n.fetch_add(1, Ordering::SeqCst) + 1;
        p.fetch_max(in_flight, Ordering::SeqCst);
        let n = Arc::clone(&n);
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            n.fetch_sub(1, Ordering::SeqCst);
            Ok(http::Response::builder()
                .status(200)
                .body(bytes::Bytes::new())
                .unwrap()) as Result<WebhookResponse, _>
        }
    });
    let store = InMemoryStore::with_retention(usize::MAX);
    let d = Dispatcher::builder(transport, store.clone())
        .clock(Paused {
            base: SystemTime::UNIX_EPOCH + Duration::from_secs(1_771_515_000),
            start: tokio::time::Instant::now(),
        })
        .build()
        .unwrap();
    d.add_endpoint(
        Endpoint::builder("ep_narrow", "https://hooks.example.com/narrow")
            .max_in_flight(3)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    for seq in 0..60 {
        d.publish_json("updateExperience", format!(r#"{{"seq":{seq}}}"#))
            .await
            .unwrap();
    }
    let workers: Vec<_> = (0..2)
        .map(|_| {
            Worker::new(d.clone())
                .poll_interval(Duration::from_secs(1))
                .spawn()
                .unwrap()
        })
        .collect();
    let mut waited = 0;
    while pending(&store) > 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
        assert!(waited < 1_000, "deliveries did not settle");
    }
    for w in workers {
        w.shutdown().await;
    }
    assert_eq!(
        peak.load(Ordering::SeqCst),
        3,
        "at most 3 in flight, and 3 used"
    );
    // Twenty turns of 50 ms, not twenty seconds of polling: a finished
    // delivery makes room at once.
    assert!(waited <= 30, "took {waited} polls of 100 ms");
}
