//! One slow endpoint must not slow the others: nine endpoints that answer at
//! once and one that is slow, 300 events, the default `Worker` and
//! `ReqwestTransport` over loopback HTTP (the policy's timeout set to 1 s).
//! The figure is the nine fast endpoints' deliveries per second with the slow
//! one present, against their rate without it, measured in the same run.
//!
//! The slow endpoint either always exceeds the timeout (answers after 1.5 s)
//! or fails slowly, below it (503 after 900 ms). Runs in memory, and on
//! `PgStore` when `HOOKWIRE_TEST_DATABASE_URL` is set (feature `postgres`).
//!
//! ```text
//! cargo bench --bench isolation
//! HOOKWIRE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo bench --bench isolation --all-features
//! ```
#![allow(missing_docs)]
// This program measures real time; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

#[path = "support/loopback.rs"]
#[allow(dead_code)]
mod loopback;
#[cfg(feature = "postgres")]
#[path = "../tests/postgres_support/mod.rs"]
mod postgres_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookwire::dispatch::Dispatcher;
use hookwire::endpoint::Endpoint;
use hookwire::retry::Policy;
use hookwire::store::{InMemoryStore, Store};
use hookwire::transport::ReqwestTransport;
use hookwire::worker::Worker;

const EVENTS: usize = 300;
const FAST: usize = 9;
const RUNS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Slow {
    /// Not present.
    Absent,
    /// Answers after 1.5 s: every attempt times out at 1 s.
    TimesOut,
    /// Answers 503 after 900 ms, below the timeout.
    FailsSlowly,
}

fn answer(path: &str) -> (Duration, u16) {
    match path {
        "/slow" => (Duration::from_millis(1500), 200),
        "/slow503" => (Duration::from_millis(900), 503),
        _ => (Duration::ZERO, 200),
    }
}

/// Seconds for the fast endpoints to receive their `EVENTS * FAST` deliveries.
async fn run(store: Arc<dyn Store>, base: &str, served: &loopback::Served, slow: Slow) -> f64 {
    let policy = Policy::default()
        .with_timeout(Duration::from_secs(1))
        .unwrap();
    let dispatcher = Dispatcher::builder(ReqwestTransport::new(), store)
        .allow_private_targets(true) // the bench's receiver is on 127.0.0.1
        .policy(policy)
        .build()
        .unwrap();
    for i in 0..FAST {
        let ep = Endpoint::builder(format!("ep_fast_{i}"), format!("{base}/fast/{i}"))
            .build()
            .unwrap();
        dispatcher.add_endpoint(ep).await.unwrap();
    }
    let slow_path = match slow {
        Slow::Absent => None,
        Slow::TimesOut => Some("/slow"),
        Slow::FailsSlowly => Some("/slow503"),
    };
    if let Some(path) = slow_path {
        let ep = Endpoint::builder("ep_slow", format!("{base}{path}"))
            .build()
            .unwrap();
        dispatcher.add_endpoint(ep).await.unwrap();
    }
    let fast_served = || {
        let by_path = served.by_path.lock().unwrap();
        by_path
            .iter()
            .filter(|(p, _)| p.starts_with("/fast/"))
            .map(|(_, n)| n)
            .sum::<usize>()
    };
    let before = fast_served();
    let worker = Worker::new(dispatcher.clone()).spawn().unwrap();
    let start = Instant::now();
    for i in 0..EVENTS {
        let body = format!(r#"{{"action":"updateExperience","n":{i}}}"#);
        dispatcher
            .publish_json("updateExperience", body)
            .await
            .unwrap();
    }
    while fast_served() < before + EVENTS * FAST {
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(start.elapsed() < Duration::from_secs(120), "too slow");
    }
    let secs = start.elapsed().as_secs_f64();
    // The slow endpoint's requests still in flight take up to its delay.
    let _ = worker.shutdown().await;
    secs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn scenario(
    name: &str,
    base: &str,
    served: &loopback::Served,
    make: &dyn Fn() -> futures::future::BoxFuture<'static, Arc<dyn Store>>,
) {
    let fast = (EVENTS * FAST) as f64;
    for slow in [Slow::TimesOut, Slow::FailsSlowly] {
        let (mut alone, mut with) = (Vec::new(), Vec::new());
        // Alternating, so that both see the same machine.
        for _ in 0..RUNS {
            alone.push(fast / run(make().await, base, served, Slow::Absent).await);
            with.push(fast / run(make().await, base, served, slow).await);
        }
        let (alone, with) = (median(alone), median(with));
        println!(
            "{name}, slow endpoint {}: fast endpoints alone {alone:.0}/s, with it {with:.0}/s: ratio {:.2}",
            match slow {
                Slow::TimesOut => "timing out (1.5 s, timeout 1 s)",
                Slow::FailsSlowly => "failing slowly (503 after 900 ms)",
                Slow::Absent => unreachable!(),
            },
            with / alone
        );
    }
}

fn main() {
    // `cargo bench` passes criterion-style flags; this harness takes none.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let served = Arc::new(loopback::Served::default());
        let addr = loopback::start(served.clone(), answer).await;
        let base = format!("http://{addr}");
        scenario("in memory", &base, &served, &|| {
            Box::pin(async { Arc::new(InMemoryStore::new()) as Arc<dyn Store> })
        })
        .await;
        #[cfg(feature = "postgres")]
        match std::env::var("HOOKWIRE_TEST_DATABASE_URL") {
            Ok(url) => {
                scenario("PgStore", &base, &served, &move || {
                    let url = url.clone();
                    Box::pin(async move {
                        Arc::new(postgres_support::fresh_store(&url, "hw_bench_isolation", 8).await)
                            as Arc<dyn Store>
                    })
                })
                .await
            }
            Err(_) => println!("PgStore: HOOKWIRE_TEST_DATABASE_URL not set, skipped"),
        }
    });
}
