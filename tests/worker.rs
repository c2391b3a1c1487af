//! The tokio worker over real loopback HTTP with `ReqwestTransport`: signed
//! deliveries that verify, a receiver that is down for a while, and a graceful
//! shutdown mid-run that loses nothing.
#![cfg(all(feature = "tokio", feature = "reqwest"))]
// This program measures real time; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookwire::dispatch::Dispatcher;
use hookwire::endpoint::Endpoint;
use hookwire::flow::CircuitBreaker;
use hookwire::retry::Policy;
use hookwire::signature::{Schemes, SigningSecret, Verifier};
use hookwire::store::{DeliveryFilter, DeliveryState, InMemoryStore, Store};
use hookwire::transport::ReqwestTransport;
use hookwire::worker::Worker;
use support::http_server::{closed_port, Recorded, Reply, TestServer};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Short delays so the tests run in well under a second of retrying.
fn fast_policy() -> Policy {
    Policy::custom([
        ms(100),
        ms(200),
        ms(300),
        ms(400),
        ms(500),
        ms(500),
        ms(500),
        ms(500),
    ])
    .unwrap()
    .with_timeout(Duration::from_secs(2))
    .unwrap()
}

fn dispatcher(store: &InMemoryStore) -> Dispatcher {
    let transport = ReqwestTransport::builder().build().unwrap();
    Dispatcher::builder(transport, store.clone())
        .allow_private_targets(true)
        .policy(fast_policy())
        .concurrency(4)
        .build()
        .unwrap()
}

fn endpoint(url: String, secret: &SigningSecret) -> Endpoint {
    Endpoint::builder("ep_local", url)
        .signing(secret.clone(), Schemes::BOTH)
        .build()
        .unwrap()
}

fn header_map(r: &Recorded) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (k, v) in &r.headers {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            map.append(k, v);
        }
    }
    map
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(ms(20)).await;
    }
}

async fn count(store: &InMemoryStore, state: DeliveryState) -> usize {
    store
        .deliveries(&DeliveryFilter::all(usize::MAX).state(state))
        .await
        .unwrap()
        .len()
}

/// Delivery ids seen by the receiver with a 2xx answer, and how often.
fn delivered(server: &TestServer) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for r in server.requests() {
        *seen
            .entry(r.header("webhook-id").unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_delivers_signed_requests_that_the_receiver_verifies() {
    let secret = SigningSecret::generate();
    let verifier = Verifier::new(secret.clone()).with_schemes(Schemes::BOTH);
    let rejected = Arc::new(AtomicUsize::new(0));
    let r2 = rejected.clone();
    let server = TestServer::start(
        move |req| match verifier.verify(&header_map(req), &req.body) {
            Ok(_) => Reply::status(204),
            Err(e) => {
                r2.fetch_add(1, Ordering::SeqCst);
                Reply::status(401).body(e.to_string())
            }
        },
    )
    .await;
    let store = InMemoryStore::new();
    let d = dispatcher(&store);
    d.add_endpoint(endpoint(server.url("/hooks"), &secret))
        .await
        .unwrap();
    let running = Worker::new(d.clone())
        .poll_interval(Duration::from_secs(30))
        .spawn()
        .unwrap();
    for i in 0..20 {
        d.publish_json(
            "startExperience",
            format!(r#"{{"action":"startExperience","timestamp":{i}}}"#),
        )
        .await
        .unwrap();
    }
    // The poll interval is 30 s: only the publish wake-up can make this quick.
    wait_until("20 deliveries", Duration::from_secs(10), || {
        server.requests().len() >= 20
    })
    .await;
    let summary = running.shutdown().await;
    assert_eq!(
        rejected.load(Ordering::SeqCst),
        0,
        "every signature verified"
    );
    assert_eq!(summary.succeeded, 20);
    assert_eq!(count(&store, DeliveryState::Succeeded).await, 20);
    assert!(delivered(&server).values().all(|&n| n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_survives_a_receiver_that_is_down_for_a_while() {
    let secret = SigningSecret::generate();
    let addr = closed_port().await;
    let store = InMemoryStore::new();
    let d = dispatcher(&store);
    // Its 10 refused first attempts open its circuit: a short cool-down,
    // then the probe finds the receiver back.
    let mut ep = endpoint(format!("http://{addr}/hooks"), &secret);
    ep.circuit_breaker = Some(CircuitBreaker::default().cool_down(ms(200)));
    d.add_endpoint(ep).await.unwrap();
    let running = Worker::new(d.clone())
        .poll_interval(ms(50))
        .spawn()
        .unwrap();
    for i in 0..10 {
        d.publish_json(
            "endExperience",
            format!(r#"{{"action":"endExperience","timestamp":{i}}}"#),
        )
        .await
        .unwrap();
    }
    // Let every delivery fail at least once against the closed port.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all = store.deliveries(&DeliveryFilter::all(100)).await.unwrap();
        if all.iter().all(|d| d.attempts >= 1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no attempts while the receiver was down"
        );
        tokio::time::sleep(ms(20)).await;
    }
    assert_eq!(count(&store, DeliveryState::Succeeded).await, 0);

    let server = TestServer::start_at(addr, |_| Reply::status(200)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&store, DeliveryState::Succeeded).await < 10 {
        assert!(
            Instant::now() < deadline,
            "retries did not land after the receiver came back"
        );
        tokio::time::sleep(ms(20)).await;
    }
    let summary = running.shutdown().await;
    assert_eq!(summary.dead, 0);
    assert!(summary.retried >= 10);
    let seen = delivered(&server);
    assert_eq!(seen.len(), 10);
    assert!(
        seen.values().all(|&n| n == 1),
        "each delivered once: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_mid_run_finishes_or_leaves_due_and_loses_nothing() {
    let secret = SigningSecret::generate();
    let server = TestServer::always(Reply::status(200).after(ms(60))).await;
    let store = InMemoryStore::new();
    let d = dispatcher(&store);
    d.add_endpoint(endpoint(server.url("/slow"), &secret))
        .await
        .unwrap();
    for i in 0..60 {
        d.publish_json(
            "updateExperience",
            format!(r#"{{"action":"updateExperience","timestamp":{i}}}"#),
        )
        .await
        .unwrap();
    }
    let running = Worker::new(d.clone())
        .batch_size(8)
        .poll_interval(ms(50))
        .spawn()
        .unwrap();
    // Shut down as soon as deliveries are flowing: some done, most not.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the worker never started delivering"
        );
        tokio::time::sleep(ms(5)).await;
    }
    let summary = running.shutdown().await;
    assert!(
        summary.succeeded > 0 && summary.succeeded < 60,
        "stopped mid-run: {summary:?}"
    );
    let succeeded = count(&store, DeliveryState::Succeeded).await;
    assert_eq!(
        succeeded as u64, summary.succeeded,
        "what was in flight finished and was recorded"
    );
    // Everything else is pending, due, and not held by any lease.
    let pending = count(&store, DeliveryState::Pending).await;
    assert_eq!(succeeded + pending, 60, "nothing lost");
    let now = hookwire::clock::Clock::now(&hookwire::clock::SystemClock);
    let leasable = store
        .lease_due(now, usize::MAX, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(leasable.len(), pending, "no delivery left leased");
    for l in &leasable {
        store.release(&l.lease).await.unwrap();
    }
    // A new worker finishes the job; nobody got anything twice.
    let running = Worker::new(d.clone())
        .batch_size(8)
        .poll_interval(ms(20))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(&store, DeliveryState::Succeeded).await < 60 {
        assert!(
            Instant::now() < deadline,
            "the second worker did not finish"
        );
        tokio::time::sleep(ms(20)).await;
    }
    running.shutdown().await;
    let seen = delivered(&server);
    assert_eq!(seen.len(), 60);
    assert!(seen.values().all(|&n| n == 1), "each delivered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_prunes_succeeded_deliveries_when_asked() {
    let store = InMemoryStore::with_retention(usize::MAX);
    let transport = hookwire::transport::transport_fn(|_request, _options| async {
        Ok(hookwire::transport::WebhookResponse::new(Default::default()))
    });
    let dispatcher = Dispatcher::builder(transport, store.clone())
        .build()
        .unwrap();
    dispatcher
        .add_endpoint(
            Endpoint::builder("ep_a", "https://hooks.example.com/in")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let worker = Worker::new(dispatcher.clone())
        .poll_interval(ms(10))
        .prune_succeeded_after(Duration::ZERO)
        .prune_every(ms(20))
        .spawn()
        .unwrap();
    for _ in 0..5 {
        dispatcher
            .publish_json("startExperience", b"{}".to_vec())
            .await
            .unwrap();
    }
    let listed = || {
        let store = store.clone();
        async move {
            store
                .deliveries(&DeliveryFilter::all(usize::MAX))
                .await
                .unwrap()
                .len()
        }
    };
    let started = Instant::now();
    while listed().await > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nothing was pruned"
        );
        tokio::time::sleep(ms(10)).await;
    }
    let summary = worker.shutdown().await;
    assert_eq!(summary.succeeded, 5);
    assert_eq!(summary.pruned, 5);
}
