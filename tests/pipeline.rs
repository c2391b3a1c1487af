//! The worker's continuous pipeline, on tokio's paused clock (nothing sleeps):
//! a completed attempt is recorded before a slower one of the same lease
//! completes; an endpoint at its share gets no more in flight while the others
//! proceed; a shutdown mid-pipeline loses nothing.
#![cfg(feature = "tokio")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookwire::clock::Clock;
use hookwire::dispatch::Dispatcher;
use hookwire::endpoint::Endpoint;
use hookwire::id::{DeliveryId, EndpointId};
use hookwire::retry::Policy;
use hookwire::store::{DeliveryFilter, DeliveryState, InMemoryStore, Store};
use hookwire::transport::{
    transport_fn, SendOptions, Transport, TransportError, WebhookRequest, WebhookResponse,
};
use hookwire::worker::Worker;

/// The dispatcher's clock on tokio's paused time.
#[derive(Debug, Clone)]
struct VirtualClock {
    base: SystemTime,
    start: tokio::time::Instant,
}

impl VirtualClock {
    fn new() -> Self {
        Self {
            base: UNIX_EPOCH + Duration::from_secs(1_771_515_000),
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> SystemTime {
        self.base + self.start.elapsed()
    }
}

/// Per endpoint (the URL path): requests in flight now, and the most at once.
#[derive(Debug, Default)]
struct Load {
    now: HashMap<String, usize>,
    peak: HashMap<String, usize>,
    done: Vec<(String, Duration)>,
}

/// A transport whose requests to `/{endpoint}` take the time `delay`
/// gives for it (on tokio's clock), recording the load per endpoint.
fn timed(load: Arc<Mutex<Load>>, delay: fn(&str) -> Duration) -> impl Transport {
    let start = tokio::time::Instant::now();
    transport_fn(move |request: WebhookRequest, _options: SendOptions| {
        let endpoint = request.uri().path().trim_start_matches('/').to_owned();
        {
            let mut l = load.lock().unwrap();
            let now = l.now.entry(endpoint.clone()).or_default();
            *now += 1;
            let n = *now;
            let peak = l.peak.entry(endpoint.clone()).or_default();
            *peak = (*peak).max(n);
        }
        let load = Arc::clone(&load);
        async move {
            tokio::time::sleep(delay(&endpoint)).await;
            let mut l = load.lock().unwrap();
            *l.now.get_mut(&endpoint).unwrap() -= 1;
            l.done.push((endpoint, start.elapsed()));
            Ok::<WebhookResponse, TransportError>(WebhookResponse::new(bytes::Bytes::new()))
        }
    })
}

fn policy() -> Policy {
    Policy::custom([Duration::from_secs(1)])
        .unwrap()
        .with_timeout(Duration::from_secs(30))
        .unwrap()
}

fn endpoint(id: &str) -> Endpoint {
    Endpoint::builder(id, format!("https://hooks.example.com/{id}"))
        .build()
        .unwrap()
}

async fn state(store: &InMemoryStore, id: &DeliveryId) -> DeliveryState {
    store.delivery(id).await.unwrap().unwrap().state
}

#[tokio::test(start_paused = true)]
async fn a_completed_attempt_is_recorded_before_a_slower_one_of_its_lease_completes() {
    let load = Arc::new(Mutex::new(Load::default()));
    let store = InMemoryStore::new();
    let transport = timed(Arc::clone(&load), |ep| match ep {
        "ep_fast" => Duration::from_millis(100),
        _ => Duration::from_secs(20),
    });
    let dispatcher = Dispatcher::builder(transport, store.clone())
        .clock(VirtualClock::new())
        .policy(policy())
        .build()
        .unwrap();
    dispatcher.add_endpoint(endpoint("ep_fast")).await.unwrap();
    dispatcher.add_endpoint(endpoint("ep_slow")).await.unwrap();
    let p = dispatcher.publish_json("ping", &b"{}"[..]).await.unwrap();
    let id = |ep: &str| {
        p.deliveries
            .iter()
            .find(|(_, e)| e.as_str() == ep)
            .map(|(d, _)| d.clone())
            .unwrap()
    };
    // Both go out in one lease call.
    let running = Worker::new(dispatcher.clone()).spawn().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        state(&store, &id("ep_fast")).await,
        DeliveryState::Succeeded
    );
    assert_eq!(store.attempts(&id("ep_fast")).await.unwrap().len(), 1);
    assert_eq!(state(&store, &id("ep_slow")).await, DeliveryState::Pending);
    assert_eq!(running.status().in_flight, 1);
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(
        state(&store, &id("ep_slow")).await,
        DeliveryState::Succeeded
    );
    let summary = running.shutdown().await;
    assert_eq!(summary.leased, 2);
    assert_eq!(summary.runs, summary.runs.max(1));
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_at_its_share_gets_no_more_in_flight_while_others_proceed() {
    let load = Arc::new(Mutex::new(Load::default()));
    let store = InMemoryStore::new();
    // Slow: every request takes 10 s. Fast: 10 ms.
    let transport = timed(Arc::clone(&load), |ep| match ep {
        "ep_slow" => Duration::from_secs(10),
        _ => Duration::from_millis(10),
    });
    let clock = VirtualClock::new();
    let dispatcher = Dispatcher::builder(transport, store.clone())
        .clock(clock.clone())
        .policy(policy())
        .concurrency(12)
        .max_in_flight_per_endpoint(2)
        .build()
        .unwrap();
    for ep in ["ep_slow", "ep_fast_1", "ep_fast_2"] {
        dispatcher.add_endpoint(endpoint(ep)).await.unwrap();
    }
    // One with a share of its own, above the default.
    dispatcher
        .add_endpoint(
            Endpoint::builder("ep_big", "https://hooks.example.com/ep_big")
                .max_in_flight(5)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    for _ in 0..30 {
        dispatcher.publish_json("ping", &b"{}"[..]).await.unwrap();
    }
    let running = Worker::new(dispatcher.clone()).spawn().unwrap();
    // In 2 s, the slow endpoint has had 2 in flight the whole time; the
    // others, all 90 of theirs delivered.
    tokio::time::sleep(Duration::from_secs(2)).await;
    {
        let l = load.lock().unwrap();
        assert_eq!(l.peak["ep_slow"], 2, "{l:?}");
        assert_eq!(l.now["ep_slow"], 2, "{l:?}");
        assert!(
            l.peak["ep_fast_1"] <= 2 && l.peak["ep_fast_2"] <= 2,
            "{l:?}"
        );
        assert_eq!(l.peak["ep_big"], 5, "its own share: {l:?}");
        let fast_done = l.done.iter().filter(|(e, _)| e != "ep_slow").count();
        assert_eq!(fast_done, 90, "{l:?}");
    }
    // The slow endpoint's others wait in the queue, unattempted: not leased
    // by this worker (at most its share waits here for a slot).
    let slow = store
        .deliveries(
            &DeliveryFilter::all(100)
                .endpoint(EndpointId::new("ep_slow").unwrap())
                .state(DeliveryState::Pending),
        )
        .await
        .unwrap();
    assert_eq!(slow.len(), 30);
    assert!(slow.iter().filter(|d| d.attempts == 0).count() >= 28);
    let leasable = store
        .lease_due(clock.now(), 100, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(leasable.len() >= 30 - 2 - 2, "{} leasable", leasable.len());
    for l in &leasable {
        store.release(&l.lease).await.unwrap();
    }
    let summary = running.shutdown().await;
    assert_eq!(summary.dead, 0);
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_mid_pipeline_loses_nothing() {
    let load = Arc::new(Mutex::new(Load::default()));
    let store = InMemoryStore::new();
    let transport = timed(Arc::clone(&load), |_| Duration::from_secs(5));
    let clock = VirtualClock::new();
    let dispatcher = Dispatcher::builder(transport, store.clone())
        .clock(clock.clone())
        .policy(policy())
        .concurrency(4)
        .build()
        .unwrap();
    dispatcher.add_endpoint(endpoint("ep_a")).await.unwrap();
    dispatcher.add_endpoint(endpoint("ep_b")).await.unwrap();
    for _ in 0..20 {
        dispatcher.publish_json("ping", &b"{}"[..]).await.unwrap();
    }
    let running = Worker::new(dispatcher.clone()).spawn().unwrap();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let in_flight = running.status().in_flight;
    assert_eq!(in_flight, 4);
    // Shutdown waits for what is in flight and records it.
    let summary = running.shutdown().await;
    let all = store.deliveries(&DeliveryFilter::all(100)).await.unwrap();
    assert_eq!(all.len(), 40);
    let succeeded = all
        .iter()
        .filter(|d| d.state == DeliveryState::Succeeded)
        .count();
    let requests = load.lock().unwrap().done.len();
    assert_eq!(summary.succeeded as usize, succeeded);
    assert_eq!(requests, succeeded, "every request made is recorded");
    assert_eq!(
        succeeded, 8,
        "the 4 done at 5 s, and the 4 in flight at the stop"
    );
    // The rest are pending, unattempted, and leasable at once: none is held.
    let rest = store
        .lease_due(clock.now(), 100, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(rest.len(), 40 - succeeded);
    assert!(rest.iter().all(|l| l.delivery.attempts == 0));
}

#[tokio::test(start_paused = true)]
async fn a_fast_endpoint_alone_is_leased_in_batches_and_nothing_goes_back() {
    let load = Arc::new(Mutex::new(Load::default()));
    let store = InMemoryStore::new();
    let transport = timed(Arc::clone(&load), |_| Duration::from_millis(10));
    let dispatcher = Dispatcher::builder(transport, store.clone())
        .clock(VirtualClock::new())
        .policy(policy())
        .concurrency(32)
        .build()
        .unwrap();
    dispatcher.add_endpoint(endpoint("ep_only")).await.unwrap();
    let n = 1_280;
    for _ in 0..n {
        dispatcher.publish_json("ping", &b"{}"[..]).await.unwrap();
    }
    let running = Worker::new(dispatcher.clone()).spawn().unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let summary = running.shutdown().await;
    assert_eq!(summary.succeeded, n);
    // Its share (16 of 32 slots) in flight, never more ...
    assert_eq!(load.lock().unwrap().peak["ep_only"], 16);
    // ... and, once its pace is known, a lease batch of its deliveries at
    // hand: only the first lease brought more than could wait (each one back
    // is a store round trip), and lease calls bring more than a share each on
    // average (empty ones included).
    assert!(summary.released <= 64 - 2 * 16, "{summary:?}");
    assert!(
        summary.runs * 24 <= n,
        "{} lease calls for {n}",
        summary.runs
    );
}
