//! End-to-end PostgreSQL throughput: deliveries per second with 1, 2 and 4
//! `postgres_worker` processes delivering to a loopback receiver answering 200,
//! beside the server's own ceiling measured in the same run (pgbench's
//! simple-update TPS on the same database).
//!
//! ```text
//! HOOKWIRE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo bench --bench postgres --features postgres,test-util
//! ```
//!
//! Settings (environment): `HOOKWIRE_BENCH_DELIVERIES` per run (default
//! 20,000), `HOOKWIRE_BENCH_WORKERS` (default `1,2,4`),
//! `HOOKWIRE_BENCH_CONCURRENCY` per worker (default 32), `HOOKWIRE_BENCH_POOL`
//! connections per worker (default 8), `HOOKWIRE_BENCH_BATCH` (default 64),
//! `HOOKWIRE_BENCH_PGBENCH_SECS` (default 10; 0 skips pgbench),
//! `HOOKWIRE_BENCH_ASYNC_COMMIT=1` to add a 4-worker run with
//! `synchronous_commit=off` (an opt-in that may lose the last few hundred
//! milliseconds of committed state on a server crash). Deliveries are inserted
//! with SQL before the workers start (the publishing cost is not measured);
//! the clock runs from the receiver's first request until every delivery is
//! recorded as succeeded. With flow control in use (skipped with
//! `HOOKWIRE_BENCH_FLOW=0`), 4 workers also deliver 10,000 to one endpoint
//! limited to 2,000 a second (the ratio to that limit is reported) and 2,000
//! to one ordered endpoint.
// This program measures real time; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

#[path = "../tests/postgres_support/mod.rs"]
mod postgres_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hookwire::endpoint::Endpoint;
use hookwire::flow::RateLimit;
use hookwire::store::{PgStore, Store};
use postgres_support::receiver::{build_worker, receiver};

const SCHEMA: &str = "hw_bench";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pgbench(url: &str, seconds: u32) -> f64 {
    let init = Command::new("pgbench")
        .args(["-i", "-q", "-s", "10", url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !init.is_ok_and(|s| s.success()) {
        eprintln!("pgbench -i failed (is pgbench installed?)");
        return f64::NAN;
    }
    let out = Command::new("pgbench")
        .args(["-N", "-c", "8", "-j", "2", "-T", &seconds.to_string(), url])
        .output();
    let Ok(out) = out else { return f64::NAN };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(f64::NAN)
}

fn start_worker(exe: &str, url: &str, concurrency: usize, pool: usize, batch: usize) -> Child {
    Command::new(exe)
        .args([
            "--schema",
            &postgres_support::schema_name(SCHEMA),
            "--concurrency",
            &concurrency.to_string(),
            "--pool",
            &pool.to_string(),
            "--batch",
            &batch.to_string(),
            "--poll-ms",
            "20",
            "--allow-private",
        ])
        .env("DATABASE_URL", url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start postgres_worker")
}

/// `n` events, one delivery each, due now, inserted in two statements; then a
/// checkpoint, so that the seeding's writes do not slow the measured run.
async fn seed(store: &PgStore, n: usize) {
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros(),
    )
    .unwrap();
    let n = i64::try_from(n).unwrap();
    let client = store.pool().get().await.unwrap();
    let s = store.schema();
    client
        .execute(
            &format!(
                "INSERT INTO {s}.events (id, kind, payload, created_at)
                 SELECT 'evt_' || g, 'startExperience',
                   convert_to('{{\"n\":' || g || ',\"data\":\"' || repeat('x', 200) || '\"}}', 'UTF8'), $1
                 FROM generate_series(1, $2::bigint) g"
            ),
            &[&now, &n],
        )
        .await
        .unwrap();
    client
        .execute(
            &format!(
                "INSERT INTO {s}.deliveries (id, event_id, endpoint_id, state, next_attempt_at, available_at)
                 SELECT 'dlv_' || g, 'evt_' || g, 'ep_bench', 'pending', $1, $1
                 FROM generate_series(1, $2::bigint) g ORDER BY g"
            ),
            &[&now, &n],
        )
        .await
        .unwrap();
    client
        .batch_execute(&format!(
            "ANALYZE {s}.deliveries; ANALYZE {s}.events; CHECKPOINT"
        ))
        .await
        .unwrap();
}

struct Run {
    label: String,
    workers: usize,
    rate: f64,
    seconds: f64,
    duplicates: usize,
}

/// The bench endpoint's flow settings.
#[derive(Clone, Copy)]
enum Shape {
    Plain,
    Rated(RateLimit),
    Ordered,
}

async fn run(exe: &str, url: &str, worker_url: &str, workers: usize, label: &str) -> Run {
    let n: usize = env_or("HOOKWIRE_BENCH_DELIVERIES", 20_000);
    run_shaped(exe, url, worker_url, workers, label, Shape::Plain, n).await
}

async fn run_shaped(
    exe: &str,
    url: &str,
    worker_url: &str,
    workers: usize,
    label: &str,
    shape: Shape,
    n: usize,
) -> Run {
    let concurrency: usize = env_or("HOOKWIRE_BENCH_CONCURRENCY", 32);
    let pool: usize = env_or("HOOKWIRE_BENCH_POOL", 8);
    let batch: usize = env_or("HOOKWIRE_BENCH_BATCH", 64);
    let (hook, seen) = receiver(Duration::ZERO).await;
    let store = postgres_support::fresh_store(url, SCHEMA, 2).await;
    let endpoint = Endpoint::builder("ep_bench", &hook);
    let endpoint = match shape {
        Shape::Plain => endpoint,
        Shape::Rated(limit) => endpoint.rate_limit(limit),
        Shape::Ordered => endpoint.ordered(true),
    };
    store.put_endpoint(endpoint.build().unwrap()).await.unwrap();
    seed(&store, n).await;
    let mut children: Vec<Child> = (0..workers)
        .map(|_| start_worker(exe, worker_url, concurrency, pool, batch))
        .collect();
    let client = store.pool().get().await.unwrap();
    let pending_sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {}.deliveries WHERE state = 'pending')",
        store.schema()
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    let done = loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let pending: bool = client.query_one(&pending_sql, &[]).await.unwrap().get(0);
        if !pending {
            break Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "the run did not finish in 10 minutes"
        );
    };
    for c in &children {
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
    }
    for c in &mut children {
        let _ = c.wait();
    }
    let s = seen.lock().unwrap();
    let first = s
        .arrivals
        .values()
        .filter_map(|t| t.first())
        .min()
        .copied()
        .unwrap_or(done);
    let seconds = done.duration_since(first).as_secs_f64();
    assert_eq!(s.arrivals.len(), n, "every delivery reached the receiver");
    Run {
        label: label.to_owned(),
        workers,
        rate: n as f64 / seconds,
        seconds,
        duplicates: s.arrivals.values().filter(|t| t.len() > 1).count(),
    }
}

fn main() {
    let url = std::env::var("HOOKWIRE_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .ok()
        .filter(|u| !u.is_empty());
    let Some(url) = url else {
        eprintln!("SKIPPED: the postgres bench needs HOOKWIRE_TEST_DATABASE_URL");
        return;
    };
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: skip then.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!(
            "postgres bench: not run under `cargo test` (use `cargo bench --bench postgres`)"
        );
        return;
    }
    let exe = build_worker(true);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let workers: Vec<usize> = std::env::var("HOOKWIRE_BENCH_WORKERS")
        .unwrap_or_else(|_| "1,2,4".to_owned())
        .split(',')
        .filter_map(|w| w.trim().parse().ok())
        .collect();
    let pgbench_secs: u32 = env_or("HOOKWIRE_BENCH_PGBENCH_SECS", 10);
    let tps_before = if pgbench_secs > 0 {
        pgbench(&url, pgbench_secs)
    } else {
        f64::NAN
    };
    let mut runs = Vec::new();
    for &w in &workers {
        runs.push(runtime.block_on(run(&exe, &url, &url, w, "synchronous_commit=on")));
    }
    if std::env::var("HOOKWIRE_BENCH_ASYNC_COMMIT").is_ok_and(|v| v == "1") {
        let sep = if url.contains('?') { '&' } else { '?' };
        let async_url = format!("{url}{sep}options=-c%20synchronous_commit%3Doff");
        runs.push(runtime.block_on(run(&exe, &url, &async_url, 4, "synchronous_commit=off")));
    }
    // Flow control in use, beside: one endpoint limited to 2,000 a second
    // (the rate reached, against that limit), and one ordered endpoint (one
    // delivery in flight at a time, across the workers).
    let mut flow_runs = Vec::new();
    if std::env::var("HOOKWIRE_BENCH_FLOW").map_or(true, |v| v != "0") {
        let limit = RateLimit::per_second(2_000).burst(100);
        flow_runs.push((
            "rate-limited to 2,000/s (burst 100)",
            Some(f64::from(limit.per_second)),
            runtime.block_on(run_shaped(
                &exe,
                &url,
                &url,
                4,
                "rate-limited",
                Shape::Rated(limit),
                10_000,
            )),
        ));
        flow_runs.push((
            "ordered",
            None,
            runtime.block_on(run_shaped(
                &exe,
                &url,
                &url,
                4,
                "ordered",
                Shape::Ordered,
                2_000,
            )),
        ));
    }
    let tps_after = if pgbench_secs > 0 {
        pgbench(&url, pgbench_secs)
    } else {
        f64::NAN
    };
    let tps = (tps_before + tps_after) / 2.0;
    println!(
        "\npgbench -N (simple-update, 8 clients): {tps_before:.0} TPS before, {tps_after:.0} TPS after, mean {tps:.0}"
    );
    println!(
        "| workers | commit | deliveries/s | seconds | delivered twice | ratio to pgbench TPS |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &runs {
        println!(
            "| {} | {} | {:.0} | {:.2} | {} | {:.2} |",
            r.workers,
            r.label,
            r.rate,
            r.seconds,
            r.duplicates,
            r.rate / tps
        );
    }
    if !flow_runs.is_empty() {
        println!("\n| flow control, 4 workers | deliveries | deliveries/s | seconds | delivered twice | ratio to its limit |");
        println!("|---|---|---|---|---|---|");
        for (what, limit, r) in &flow_runs {
            let n = (r.rate * r.seconds).round();
            let ratio = limit.map_or("-".to_owned(), |l| format!("{:.2}", r.rate / l));
            println!(
                "| {what} | {n:.0} | {:.0} | {:.2} | {} | {ratio} |",
                r.rate, r.seconds, r.duplicates
            );
        }
    }
}
