//! A rate limit across processes: 4 `postgres_worker` processes share one
//! database and deliver 200 deliveries to one endpoint limited to 10 a
//! second with bursts of 5, a loopback receiver that notes when each
//! request arrives.
//!
//! What is asserted, exactly:
//! - no window of one second (from any arrival) holds more than the rate
//!   plus the burst (15);
//! - the limiter did limit: the last arrival comes no sooner than the
//!   limiter allows the 200th (`RateLimit::earliest`: 19.5 s after the
//!   first), less a little for the first's own delay;
//! - every delivery ends succeeded, each received once.
//!
//! Needs `HOOKWIRE_TEST_DATABASE_URL` (see `tests/postgres.rs`).
#![cfg(all(feature = "postgres", feature = "test-util", feature = "reqwest"))]
// This program measures real time; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

mod postgres_support;

use std::process::Child;
use std::time::{Duration, Instant, UNIX_EPOCH};

use hookwire::endpoint::Endpoint;
use hookwire::flow::RateLimit;
use hookwire::store::{PgStore, Store};
use postgres_support::receiver::{build_worker, receiver, spawn_worker};
use postgres_support::{database_url, fresh_store, publish_seq, stop_workers, wait_all_succeeded};

const DELIVERIES: usize = 200;
const WORKERS: usize = 4;
const SCHEMA: &str = "hw_test_rate";

fn start_worker(exe: &str, url: &str) -> Child {
    spawn_worker(
        exe,
        url,
        SCHEMA,
        &["--concurrency", "16", "--batch", "32", "--poll-ms", "1000"],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_worker_processes_keep_one_endpoints_rate_limit() {
    let Some(url) = database_url() else { return };
    let exe = tokio::task::spawn_blocking(|| build_worker(!cfg!(debug_assertions)))
        .await
        .unwrap();
    let (hook, seen) = receiver(Duration::ZERO).await;
    let store: PgStore = fresh_store(&url, SCHEMA, 4).await;
    let limit = RateLimit::per_second(10).burst(5);
    store
        .put_endpoint(
            Endpoint::builder("ep_limited", &hook)
                .rate_limit(limit)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    // One after the other: publish order is sequence order.
    publish_seq(&store, DELIVERIES).await;
    let run = Instant::now();
    let workers: Vec<Child> = (0..WORKERS).map(|_| start_worker(&exe, &url)).collect();
    wait_all_succeeded(&store, DELIVERIES as i64, run, Duration::from_secs(120)).await;
    stop_workers(workers);

    let s = seen.lock().unwrap();
    assert_eq!(s.arrivals.len(), DELIVERIES, "every delivery received");
    assert!(
        s.arrivals.values().all(|a| a.len() == 1),
        "a delivery was received twice"
    );
    let mut at: Vec<Instant> = s.arrivals.values().flatten().copied().collect();
    at.sort();
    let most = (0..at.len())
        .map(|i| {
            at[i..]
                .iter()
                .take_while(|t| **t < at[i] + Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0);
    let bound = (limit.per_second + limit.burst) as usize;
    assert!(
        most <= bound,
        "{most} requests in one second, above the rate plus the burst ({bound})"
    );
    let span = at[at.len() - 1] - at[0];
    let promised = limit
        .earliest(UNIX_EPOCH, DELIVERIES as u64 - 1)
        .duration_since(UNIX_EPOCH)
        .unwrap();
    assert!(
        span + Duration::from_millis(100) >= promised,
        "{DELIVERIES} requests in {span:?}: faster than the limiter allows ({promised:?})"
    );
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "rate test: {DELIVERIES} deliveries at {}/s (burst {}) by {WORKERS} workers in {span:?} \
         (the limiter's promise: {promised:?}); at most {most} in any second",
        limit.per_second,
        limit.burst,
    );
}
