//! Ordered delivery across processes: 4 `postgres_worker` processes share
//! one database and deliver 1,000 deliveries to one ordered endpoint, a
//! loopback receiver that reads each body's sequence number and fails at
//! random (25%, at most twice per delivery, so that every one succeeds
//! within the policy). One worker is killed with SIGKILL mid-run and a new
//! one started.
//!
//! What is asserted, exactly:
//! - never two requests in flight at the receiver at once;
//! - the requests' sequence numbers, in arrival order, start at 0 and each
//!   is the previous one's (a retry, or a head sent again after a lease
//!   expired) or the next: never a gap, never an earlier one after a later;
//! - the 2xx answers' sequence numbers are the same walk: 0 to 999, each
//!   once, except that a number may repeat right after itself (at-least-once:
//!   the killed worker may have sent the head and died before recording it),
//!   and only once in the run (one kill);
//! - every delivery ends succeeded.
//!
//! Needs `HOOKWIRE_TEST_DATABASE_URL` (see `tests/postgres.rs`).
#![cfg(all(feature = "postgres", feature = "test-util", feature = "reqwest"))]
// This program measures real time; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

mod postgres_support;

use std::collections::HashMap;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookwire::endpoint::Endpoint;
use hookwire::store::{PgStore, Store};
use postgres_support::receiver::{build_worker, read_request, spawn_worker};
use postgres_support::{database_url, fresh_store, publish_seq, stop_workers, wait_all_succeeded};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const DELIVERIES: u64 = 1_000;
const WORKERS: usize = 4;
const LEASE_SECS: u64 = 5;
const SCHEMA: &str = "hw_test_ordered";

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    /// Every request's sequence number, in arrival order.
    requests: Vec<u64>,
    /// The sequence numbers answered 200, in order.
    delivered: Vec<u64>,
    in_flight: usize,
    peak: usize,
    failures: HashMap<u64, u32>,
    rng: u64,
}

impl Seen {
    /// xorshift64*, seeded: whether to fail this request.
    fn roll(&mut self, seq: u64) -> bool {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let roll = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % 4 == 0;
        let failures = self.failures.entry(seq).or_default();
        let fail = roll && *failures < 2;
        *failures += u32::from(fail);
        fail
    }
}

/// A keep-alive HTTP/1.1 receiver on 127.0.0.1 reading `{"seq":N}`,
/// holding each request 5 ms, then answering 500 or 200 (see [`Seen::roll`]).
async fn receiver() -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen {
        rng: 0x0bde_4ed5_eed0_0002,
        ..Seen::default()
    }));
    let state = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(serve(conn, Arc::clone(&state)));
        }
    });
    (url, seen)
}

async fn serve(mut conn: TcpStream, seen: Arc<Mutex<Seen>>) {
    let mut buf = Vec::with_capacity(8192);
    while let Some((_, body)) = read_request(&mut conn, &mut buf).await {
        let body: serde_json::Value = serde_json::from_slice(&body).expect("a JSON body");
        let seq = body["seq"].as_u64().expect("a sequence number");
        let fail = {
            let mut s = seen.lock().unwrap();
            s.requests.push(seq);
            s.in_flight += 1;
            s.peak = s.peak.max(s.in_flight);
            s.roll(seq)
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        {
            let mut s = seen.lock().unwrap();
            s.in_flight -= 1;
            if !fail {
                s.delivered.push(seq);
            }
        }
        let answer: &[u8] = if fail {
            b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
        };
        if conn.write_all(answer).await.is_err() {
            return;
        }
    }
}

fn start_worker(exe: &str, url: &str) -> Child {
    spawn_worker(
        exe,
        url,
        SCHEMA,
        &[
            "--lease-secs",
            &LEASE_SECS.to_string(),
            "--concurrency",
            "16",
            "--batch",
            "32",
            "--poll-ms",
            "50",
            "--retry-ms",
            "20",
        ],
    )
}

/// Steps of a walk over sequence numbers that are a repeat (`0`), the next
/// (`1`), or anything else (`None`).
fn steps(walk: &[u64]) -> Result<usize, String> {
    let mut repeats = 0;
    if walk.first() != Some(&0) {
        return Err(format!("it starts at {:?}, not 0", walk.first()));
    }
    for w in walk.windows(2) {
        if w[1] == w[0] {
            repeats += 1;
        } else if w[1] != w[0] + 1 {
            return Err(format!("{} came right after {}", w[1], w[0]));
        }
    }
    if walk.last() != Some(&(DELIVERIES - 1)) {
        return Err(format!("it ends at {:?}", walk.last()));
    }
    Ok(repeats)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordered_endpoint_gets_its_deliveries_in_order_across_workers_and_a_kill() {
    let Some(url) = database_url() else { return };
    let exe = tokio::task::spawn_blocking(|| build_worker(!cfg!(debug_assertions)))
        .await
        .unwrap();
    let (hook, seen) = receiver().await;
    let store: PgStore = fresh_store(&url, SCHEMA, 4).await;
    store
        .put_endpoint(
            Endpoint::builder("ep_ordered", &hook)
                .ordered(true)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    // One after the other: publish order is sequence order.
    publish_seq(&store, DELIVERIES as usize).await;
    let run = Instant::now();
    let mut workers: Vec<Child> = (0..WORKERS).map(|_| start_worker(&exe, &url)).collect();
    while seen.lock().unwrap().delivered.len() < (DELIVERIES / 4) as usize {
        assert!(run.elapsed() < Duration::from_secs(120), "workers too slow");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut victim = workers.remove(0);
    victim.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix.
    let _ = victim.wait();
    let killed_at = run.elapsed();
    workers.push(start_worker(&exe, &url));

    wait_all_succeeded(&store, DELIVERIES as i64, run, Duration::from_secs(240)).await;
    let delivered_in = run.elapsed();
    stop_workers(workers);

    // The receiver's record is read (and its lock released) in this block.
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.peak, 1, "two requests to the ordered endpoint at once");
        let retries = steps(&s.requests)
            .unwrap_or_else(|e| panic!("requests out of publish order: {e}: {:?}", s.requests));
        let repeats = steps(&s.delivered)
            .unwrap_or_else(|e| panic!("deliveries out of publish order: {e}: {:?}", s.delivered));
        assert!(
            repeats <= 1,
            "{repeats} deliveries arrived twice; only the head the killed worker held may"
        );
        assert!(
            retries > 100,
            "the random failures held the queue: {retries}"
        );
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "ordered crash test: {DELIVERIES} deliveries to one ordered endpoint by {WORKERS} \
         workers (+1 restarted) in {delivered_in:?} ({:.0}/s, {} build); killed one at \
         {killed_at:?}; {} requests, {retries} of them repeats; {repeats} delivered twice",
            DELIVERIES as f64 / delivered_in.as_secs_f64(),
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            s.requests.len(),
        );
    }
    postgres_support::drop_schema(&store).await;
}
