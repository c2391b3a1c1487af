//! The crash test: 4 `postgres_worker` processes share one database and
//! deliver 20,000 deliveries to a loopback receiver that counts requests by
//! delivery id. One worker is killed with SIGKILL mid-run and a new one
//! started. Every delivery must end succeeded, none lost; only deliveries the
//! killed worker had in flight may arrive twice (the count is reported); and no
//! delivery may be attempted by two workers at once while its lease is valid.
//!
//! Needs `HOOKWIRE_TEST_DATABASE_URL` (see `tests/postgres.rs`).
#![cfg(all(feature = "postgres", feature = "test-util", feature = "reqwest"))]
// This program measures real time; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

mod postgres_support;

use std::process::Child;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use hookwire::dispatch::Dispatcher;
use hookwire::endpoint::Endpoint;
use hookwire::store::{PgStore, Store};
use hookwire::testing::MockTransport;
use postgres_support::receiver::{build_worker, receiver, spawn_worker};
use postgres_support::{database_url, fresh_store, stop_workers, wait_all_succeeded};

const DELIVERIES: usize = 20_000;
const WORKERS: usize = 4;
const LEASE_SECS: u64 = 5;
const CONCURRENCY: usize = 16;
const BATCH: usize = 32;
const SCHEMA: &str = "hw_test_crash";

fn start_worker(exe: &str, url: &str) -> Child {
    spawn_worker(
        exe,
        url,
        SCHEMA,
        &[
            "--lease-secs",
            &LEASE_SECS.to_string(),
            "--concurrency",
            &CONCURRENCY.to_string(),
            "--batch",
            &BATCH.to_string(),
            "--poll-ms",
            "50",
        ],
    )
}

/// Publishes `n` events through a dispatcher over the same schema.
async fn publish(store: &PgStore, n: usize) {
    let dispatcher = Dispatcher::builder(MockTransport::new(Vec::new()), store.clone())
        .build()
        .unwrap();
    futures::stream::iter(0..n)
        .map(|i| {
            let d = dispatcher.clone();
            async move {
                d.publish_json("startExperience", format!("{{\"n\":{i}}}"))
                    .await
                    .unwrap()
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_loses_nothing() {
    let Some(url) = database_url() else { return };
    let exe = tokio::task::spawn_blocking(|| build_worker(!cfg!(debug_assertions)))
        .await
        .unwrap();
    let (hook, seen) = receiver(Duration::from_millis(10)).await;
    let store = fresh_store(&url, SCHEMA, 16).await;
    store
        .put_endpoint(Endpoint::builder("ep_receiver", &hook).build().unwrap())
        .await
        .unwrap();
    // The workers start while the application publishes.
    let run = Instant::now();
    let mut workers: Vec<Child> = (0..WORKERS).map(|_| start_worker(&exe, &url)).collect();
    let publisher = {
        let store = store.clone();
        tokio::spawn(async move {
            publish(&store, DELIVERIES).await;
            run.elapsed()
        })
    };
    // Mid-run: a quarter delivered.
    while seen.lock().unwrap().total < DELIVERIES / 4 {
        assert!(run.elapsed() < Duration::from_secs(120), "workers too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (in_flight_at_kill, total_at_kill) = {
        let s = seen.lock().unwrap();
        (s.in_flight.len(), s.total)
    };
    let mut victim = workers.remove(0);
    victim.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix.
    let _ = victim.wait();
    let killed_at = run.elapsed();
    workers.push(start_worker(&exe, &url));
    let published = publisher.await.unwrap();

    wait_all_succeeded(&store, DELIVERIES as i64, run, Duration::from_secs(180)).await;
    let delivered_in = run.elapsed();

    // Stop the others gracefully and read their summaries.
    let summaries = stop_workers(workers);

    // Every delivery: succeeded, exactly one attempt recorded, received.
    let client = store.pool().get().await.unwrap();
    let attempts: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {}.attempts", store.schema()),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        attempts, DELIVERIES as i64,
        "one attempt recorded per delivery"
    );
    let ids: Vec<String> = client
        .query(
            &format!("SELECT id FROM {}.deliveries", store.schema()),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // The receiver's record is read (and its lock released) in this block.
    {
        let s = seen.lock().unwrap();
        for id in &ids {
            assert!(
                s.arrivals.contains_key(id),
                "{id} never reached the receiver"
            );
        }
        assert_eq!(s.arrivals.len(), DELIVERIES, "unknown ids were received");
        assert!(
            s.overlaps.is_empty(),
            "deliveries attempted by two workers at once: {:?}",
            s.overlaps
        );
        let lease = Duration::from_secs(LEASE_SECS);
        let mut duplicated = 0;
        for (id, times) in &s.arrivals {
            if times.len() > 1 {
                duplicated += 1;
                // A second attempt only once the first one's lease ran out (its
                // request left within a second of being leased).
                let gap = times[1].duration_since(times[0]);
                assert!(
                    gap + Duration::from_secs(1) >= lease,
                    "{id} attempted again {gap:?} after the first attempt, within its lease"
                );
            }
        }
        assert!(
            duplicated <= BATCH,
            "{duplicated} deliveries arrived twice; only the killed worker's batch ({BATCH}) may"
        );
        // Straight to stderr, past the harness's capture: CI logs show it.
        let mut report = format!(
            "crash test: {DELIVERIES} deliveries by {WORKERS} workers (+1 restarted), \
             published in {published:?}, all succeeded after {delivered_in:?} \
             ({:.0}/s, {} build); killed one at {killed_at:?} after {total_at_kill} requests \
             ({in_flight_at_kill} in flight at the receiver); \
             {duplicated} delivered more than once; {} requests in all; 0 overlaps\n",
            DELIVERIES as f64 / delivered_in.as_secs_f64(),
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            s.total
        );
        for summary in summaries {
            report.push_str(&format!("  {summary}\n"));
        }
        use std::io::Write as _;
        let _ = std::io::stderr().write_all(report.as_bytes());
    }
    drop(client);
    postgres_support::drop_schema(&store).await;
}
