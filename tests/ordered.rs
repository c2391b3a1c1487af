//! Ordered endpoints in memory, driven by tokio workers on tokio's paused
//! clock (nothing sleeps): 1,000 deliveries with random failures reach an
//! ordered endpoint one at a time in publish order, while an unordered
//! endpoint beside it goes in parallel; deleting an ordered endpoint whose
//! head keeps failing wedges nothing.
#![cfg(feature = "tokio")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookwire::clock::Clock;
use hookwire::dispatch::Dispatcher;
use hookwire::endpoint::Endpoint;
use hookwire::id::DeliveryId;
use hookwire::retry::Policy;
use hookwire::store::{DeliveryFilter, DeliveryState, InMemoryStore, Store};
use hookwire::transport::{transport_fn, SendOptions, Transport, WebhookRequest, WebhookResponse};
use hookwire::worker::Worker;

const DELIVERIES: u64 = 1_000;

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

/// What the receiver saw, per endpoint (the URL path).
#[derive(Default)]
struct Seen {
    /// The sequence number of every request, in arrival order.
    requests: HashMap<String, Vec<u64>>,
    /// The sequence numbers answered 2xx, in order.
    delivered: HashMap<String, Vec<u64>>,
    in_flight: HashMap<String, usize>,
    peak: HashMap<String, usize>,
    failures: HashMap<(String, u64), u32>,
}

/// Whether the receiver refuses sequence number `seq` every time, so that
/// its delivery ends dead (and must still end the head's turn).
fn always_fails(seq: u64) -> bool {
    seq % 101 == 50
}

/// A receiver that reads `{"seq":N}`, takes 20 ms, and answers 500 at
/// random (30%, at most 3 times per delivery) or always for
/// [`always_fails`]; else 200.
fn receiver(seen: Arc<Mutex<Seen>>) -> impl Transport {
    let rng = Arc::new(Mutex::new(Rng(0x0bde_4ed5_eed0_0001)));
    transport_fn(move |request: WebhookRequest, _options: SendOptions| {
        let path = request.uri().path().trim_start_matches('/').to_owned();
        let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
        let seq = body["seq"].as_u64().unwrap();
        let fail = {
            let mut s = seen.lock().unwrap();
            s.requests.entry(path.clone()).or_default().push(seq);
            let now = s.in_flight.entry(path.clone()).or_default();
            *now += 1;
            let n = *now;
            let peak = s.peak.entry(path.clone()).or_default();
            *peak = (*peak).max(n);
            let failures = s.failures.entry((path.clone(), seq)).or_default();
            let fail = always_fails(seq) || (*failures < 3 && rng.lock().unwrap().next() % 10 < 3);
            *failures += u32::from(fail);
            fail
        };
        let seen = Arc::clone(&seen);
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let mut s = seen.lock().unwrap();
            *s.in_flight.get_mut(&path).unwrap() -= 1;
            if !fail {
                s.delivered.entry(path).or_default().push(seq);
            }
            let status = if fail { 500 } else { 200 };
            Ok(http::Response::builder()
                .status(status)
                .body(bytes::Bytes::new())
                .unwrap()) as Result<WebhookResponse, _>
        }
    })
}

/// Five attempts, a second apart.
fn policy() -> Policy {
    Policy::custom([Duration::from_secs(1); 4])
        .unwrap()
        .with_timeout(Duration::from_secs(10))
        .unwrap()
}

fn dispatcher(store: &InMemoryStore, seen: &Arc<Mutex<Seen>>) -> Dispatcher {
    Dispatcher::builder(receiver(Arc::clone(seen)), store.clone())
        .clock(VirtualClock::new())
        .policy(policy())
        .concurrency(8)
        .disable_after_dead(None)
        .build()
        .unwrap()
}

fn endpoint(id: &str, ordered: bool) -> Endpoint {
    Endpoint::builder(id, format!("https://hooks.example.com/{id}"))
        .ordered(ordered)
        .build()
        .unwrap()
}

async fn pending(store: &InMemoryStore) -> usize {
    store
        .deliveries(&DeliveryFilter::all(usize::MAX).state(DeliveryState::Pending))
        .await
        .unwrap()
        .len()
}

/// Asserts the ordered endpoint's requests, in arrival order, are `0..n`
/// in publish order with repeats: each request's sequence number is the
/// previous one's (a retry of the head) or the next (its turn passed on),
/// never a gap and never an earlier one after a later one.
fn assert_in_publish_order(requests: &[u64], n: u64) {
    assert_eq!(requests.first(), Some(&0), "the first published goes first");
    for w in requests.windows(2) {
        assert!(
            w[1] == w[0] || w[1] == w[0] + 1,
            "request for {} after one for {}: out of publish order",
            w[1],
            w[0]
        );
    }
    assert_eq!(requests.last(), Some(&(n - 1)), "every delivery was tried");
}

#[tokio::test(start_paused = true)]
async fn a_thousand_deliveries_with_random_failures_arrive_in_publish_order() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let store = InMemoryStore::with_retention(usize::MAX);
    let d = dispatcher(&store, &seen);
    d.add_endpoint(endpoint("ep_ordered", true)).await.unwrap();
    d.add_endpoint(endpoint("ep_free", false)).await.unwrap();
    let mut ordered_ids: Vec<DeliveryId> = Vec::new();
    for seq in 0..DELIVERIES {
        let p = d
            .publish_json("updateExperience", format!(r#"{{"seq":{seq}}}"#))
            .await
            .unwrap();
        let (id, _) = p
            .deliveries
            .iter()
            .find(|(_, e)| e.as_str() == "ep_ordered")
            .unwrap();
        ordered_ids.push(id.clone());
    }
    // Two workers share the store, each with 8 slots.
    let workers: Vec<_> = (0..2)
        .map(|_| {
            Worker::new(d.clone())
                .poll_interval(Duration::from_secs(1))
                .spawn()
                .unwrap()
        })
        .collect();
    let mut waited = 0;
    while pending(&store).await > 0 {
        tokio::time::sleep(Duration::from_secs(10)).await;
        waited += 1;
        assert!(waited < 1_000, "deliveries did not settle");
    }
    for w in workers {
        w.shutdown().await;
    }

    {
        let s = seen.lock().unwrap();
        assert_eq!(
            s.peak["ep_ordered"], 1,
            "never two in flight for an ordered endpoint"
        );
        assert!(
            s.peak["ep_free"] > 1,
            "the unordered endpoint beside it still goes in parallel"
        );
        assert_in_publish_order(&s.requests["ep_ordered"], DELIVERIES);
        let expected: Vec<u64> = (0..DELIVERIES).filter(|&q| !always_fails(q)).collect();
        assert_eq!(
            s.delivered["ep_ordered"], expected,
            "each delivered once, in publish order, the dead ones left out"
        );
        let retried = s.requests["ep_ordered"].len() as u64 - DELIVERIES;
        assert!(retried > 300, "random failures held the queue: {retried}");
    }
    for (seq, id) in ordered_ids.iter().enumerate() {
        let delivery = store.delivery(id).await.unwrap().unwrap();
        let want = if always_fails(seq as u64) {
            DeliveryState::Dead
        } else {
            DeliveryState::Succeeded
        };
        assert_eq!(delivery.state, want, "delivery {seq}");
    }
    let free = store
        .deliveries(&DeliveryFilter::all(usize::MAX).endpoint("ep_free".parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(free.len() as u64, DELIVERIES);
}

#[tokio::test(start_paused = true)]
async fn deleting_an_ordered_endpoint_with_a_failing_head_wedges_nothing() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let store = InMemoryStore::with_retention(usize::MAX);
    let d = dispatcher(&store, &seen);
    d.add_endpoint(endpoint("ep_ordered", true)).await.unwrap();
    // Sequence number 50 always fails: it holds 51 to 59 behind it.
    for seq in 50..60 {
        d.publish_json("updateExperience", format!(r#"{{"seq":{seq}}}"#))
            .await
            .unwrap();
    }
    let worker = Worker::new(d.clone())
        .poll_interval(Duration::from_secs(1))
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    {
        let s = seen.lock().unwrap();
        assert!(
            s.requests["ep_ordered"].iter().all(|&q| q == 50),
            "only the failing head was tried: {:?}",
            s.requests["ep_ordered"]
        );
    }
    assert!(d
        .delete_endpoint(&"ep_ordered".parse().unwrap())
        .await
        .unwrap());
    let mut waited = 0;
    while pending(&store).await > 0 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        waited += 1;
        assert!(
            waited < 60,
            "the deleted endpoint's deliveries stayed pending"
        );
    }
    worker.shutdown().await;
    let dead = store
        .deliveries(&DeliveryFilter::all(usize::MAX).state(DeliveryState::Dead))
        .await
        .unwrap();
    assert_eq!(dead.len(), 10, "every delivery ended");
}
