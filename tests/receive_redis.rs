//! `RedisDedupe` against a real Redis server: two receivers share their
//! duplicates, keys expire after their TTL, concurrent checks of one key
//! agree, and with Redis down a receiver answers 503, never 200.
//!
//! Needs `HOOKWIRE_TEST_REDIS_URL` (for example `redis://127.0.0.1:6379/`);
//! without it the tests say loudly that they were skipped, unless `CI=true`,
//! where they fail (`.ci/run` sets it). The Redis-down test needs no server.
#![cfg(all(feature = "redis", feature = "axum"))]
// This program measures real time; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

mod receive_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::{FromRef, State};
use axum::routing::post;
use axum::Router;
use hookwire::model::ExperienceWebhook;
use hookwire::receive::axum::Webhook;
use hookwire::receive::{DedupeStore, Receiver, RedisDedupe};
use hookwire::signature::Schemes;
use receive_support::{lifecycle_body, post as send, signed, Seen, NOW};

const URL_VAR: &str = "HOOKWIRE_TEST_REDIS_URL";

/// The test server's URL; `None` (after saying so loudly) on a developer
/// machine without one. Under `CI=true` a missing URL fails the test.
fn redis_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{URL_VAR} is not set but CI=true: the Redis tests must run in CI (for example {URL_VAR}=redis://127.0.0.1:6379/)");
            }
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED: Redis tests need {URL_VAR} (for example redis://127.0.0.1:6379/) ***\n"
            );
            None
        }
    }
}

/// A key prefix no other test or process uses.
fn prefix(test: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("hookwire:test:{test}:{}:{random:016x}:", std::process::id())
}

/// A store on the test server with keys under `prefix`, checked to answer
/// (with a throwaway key), or `None` when skipped.
async fn store(prefix: &str) -> Option<RedisDedupe> {
    let url = redis_url()?;
    let store = RedisDedupe::open(&url)
        .expect("a Redis URL")
        .with_prefix(prefix);
    store.forget("probe").await.unwrap_or_else(|e| {
        panic!(
            "Redis at {URL_VAR} is unreachable: {e} ({:?})",
            std::error::Error::source(&e)
        )
    });
    Some(store)
}

#[derive(Clone)]
struct App {
    receiver: Receiver,
    seen: Seen,
}

impl FromRef<App> for Receiver {
    fn from_ref(app: &App) -> Receiver {
        app.receiver.clone()
    }
}

async fn handle(State(app): State<App>, webhook: Webhook<ExperienceWebhook>) -> &'static str {
    app.seen.record(webhook.verified, webhook.payload);
    "ok"
}

/// A receiver (axum on 127.0.0.1) deduplicating in `store`.
async fn start(store: RedisDedupe) -> (SocketAddr, Seen) {
    let receiver = Receiver::builder(receive_support::verifier())
        .dedupe(store)
        .build()
        .expect("the default TTL covers the verifier's window");
    let seen = Seen::default();
    let app = Router::new()
        .route("/webhooks", post(handle))
        .with_state(App {
            receiver,
            seen: seen.clone(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, seen)
}

#[tokio::test]
async fn two_receivers_share_their_duplicates() {
    // Two instances (two connections) on one server and one prefix: two machines.
    let shared = prefix("share");
    let Some(first) = store(&shared).await else {
        return;
    };
    let Some(second) = store(&shared).await else {
        return;
    };
    let (a, seen_a) = start(first).await;
    let (b, seen_b) = start(second).await;

    let body = lifecycle_body(NOW * 1000);
    let headers = signed(Schemes::BOTH, NOW, &body);
    assert_eq!(send(a, &headers, &body).await, (200, "ok".to_owned()));
    // The sender's retry lands on the other machine: a duplicate there.
    let retry = signed(Schemes::BOTH, NOW + 5, &body);
    assert_eq!(send(b, &retry, &body).await, (200, "duplicate".to_owned()));
    assert_eq!(send(a, &retry, &body).await, (200, "duplicate".to_owned()));
    assert_eq!((seen_a.count(), seen_b.count()), (1, 0));

    // Another delivery, first seen by the second machine.
    let other = lifecycle_body(NOW * 1000 + 1);
    let headers = signed(Schemes::HEX, NOW, &other);
    assert_eq!(send(b, &headers, &other).await, (200, "ok".to_owned()));
    assert_eq!(
        send(a, &headers, &other).await,
        (200, "duplicate".to_owned())
    );
    assert_eq!((seen_a.count(), seen_b.count()), (1, 1));
}

#[tokio::test]
async fn keys_expire_after_their_ttl() {
    let Some(store) = store(&prefix("ttl")).await else {
        return;
    };
    let store = store.with_ttl(Duration::from_millis(300));
    assert_eq!(store.ttl(), Duration::from_millis(300));
    assert!(!store.seen_before("k").await.unwrap());
    assert!(store.seen_before("k").await.unwrap());
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(
        !store.seen_before("k").await.unwrap(),
        "expired, so new again"
    );
    store.forget("k").await.unwrap();
    assert!(
        !store.seen_before("k").await.unwrap(),
        "forgotten, so new again"
    );
}

#[tokio::test]
async fn concurrent_checks_of_one_key_agree() {
    let Some(store) = store(&prefix("race")).await else {
        return;
    };
    let store = std::sync::Arc::new(store);
    let checks: Vec<_> = (0..16)
        .map(|_| {
            let store = std::sync::Arc::clone(&store);
            tokio::spawn(async move { store.seen_before("same").await.unwrap() })
        })
        .collect();
    let mut new = 0;
    for check in checks {
        if !check.await.unwrap() {
            new += 1;
        }
    }
    assert_eq!(new, 1, "exactly one check sees the key as new");
}

/// Redis down (a closed port): every valid delivery is answered 503, so
/// the sender retries; never 200, and within the store's timeout.
#[tokio::test]
async fn with_redis_down_the_receiver_answers_503() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down = RedisDedupe::open(&format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .with_timeout(Duration::from_millis(500));
    let (addr, seen) = start(down).await;
    let body = lifecycle_body(NOW * 1000);
    let headers = signed(Schemes::BOTH, NOW, &body);
    for _ in 0..3 {
        let started = Instant::now();
        let (status, text) = send(addr, &headers, &body).await;
        assert_eq!((status, text.as_str()), (503, "Service Unavailable"));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    assert_eq!(seen.count(), 0, "the handler never ran");
}
