//! A delivery worker over PostgreSQL: start as many as you like, on as many
//! machines as you like, against the same database and schema.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/app \
//!   cargo run --release --example postgres_worker --features postgres -- --concurrency 32
//! ```
//!
//! Flags (each also read from the environment variable in brackets):
//!
//! - `--database-url URL` (`DATABASE_URL`), required
//! - `--concurrency N` (`HOOKWIRE_CONCURRENCY`): requests in flight, default 32
//! - `--schema NAME` (`HOOKWIRE_SCHEMA`): default `hookwire`
//! - `--lease-secs N` (`HOOKWIRE_LEASE_SECS`): how long a leased delivery is
//!   held before another worker may take it over (default: the dispatcher's,
//!   twice the request timeout plus 30 s); the request timeout is capped at
//!   half of it
//! - `--batch N` (`HOOKWIRE_BATCH`): deliveries leased per round, default 2 x concurrency
//! - `--pool N` (`HOOKWIRE_POOL`): database connections, default concurrency + 2 (at most 64)
//! - `--poll-ms N` (`HOOKWIRE_POLL_MS`): idle poll interval, default 200
//! - `--threads N` (`HOOKWIRE_THREADS`): tokio worker threads, default 1
//! - `--retry-ms N` (`HOOKWIRE_RETRY_MS`): retry a failed attempt after N ms,
//!   up to the default policy's attempts (default: the default policy's
//!   delays; for tests that make receivers fail on purpose)
//! - `--allow-private` (`HOOKWIRE_ALLOW_PRIVATE=1`): allow loopback and private
//!   targets (development and tests only)
//!
//! It migrates the schema (idempotent; safe when several start at once), then
//! runs until SIGTERM or Ctrl-C, finishes the requests in flight, and prints
//! its summary. Endpoints and events are created by the application (a
//! `Dispatcher` over a `PgStore` on the same schema), not by the worker.

use std::time::Duration;

use hookwire::dispatch::Dispatcher;
use hookwire::retry::Policy;
use hookwire::store::PgStore;
use hookwire::transport::ReqwestTransport;
use hookwire::worker::Worker;

#[derive(Debug)]
struct Options {
    database_url: String,
    concurrency: usize,
    schema: String,
    lease: Option<Duration>,
    batch: Option<usize>,
    pool: Option<usize>,
    poll: Duration,
    threads: usize,
    retry: Option<Duration>,
    allow_private: bool,
}

const HELP: &str = "\
postgres_worker: a delivery worker over PostgreSQL; start as many as you like against one schema

usage: postgres_worker --database-url URL [--concurrency N] [--schema NAME] [--lease-secs N]
                       [--batch N] [--pool N] [--poll-ms N] [--threads N] [--allow-private]

flags (each also read from the environment variable in brackets):
  --database-url URL  [DATABASE_URL] required
  --concurrency N     [HOOKWIRE_CONCURRENCY] requests in flight (default 32)
  --schema NAME       [HOOKWIRE_SCHEMA] the store's schema (default hookwire)
  --lease-secs N      [HOOKWIRE_LEASE_SECS] how long a leased delivery is held (default: the dispatcher's)
  --batch N           [HOOKWIRE_BATCH] deliveries leased per round (default 2 x concurrency)
  --pool N            [HOOKWIRE_POOL] database connections (default concurrency + 2, at most 64)
  --poll-ms N         [HOOKWIRE_POLL_MS] idle poll interval (default 200)
  --threads N         [HOOKWIRE_THREADS] tokio worker threads (default 1)
  --allow-private     [HOOKWIRE_ALLOW_PRIVATE=1] allow loopback and private targets (development only)
  -h, --help          print this help and exit";

fn usage(problem: &str) -> ! {
    eprintln!(
        "postgres_worker: {problem}\n\
         usage: postgres_worker --database-url URL [--concurrency N] [--schema NAME] \
         [--lease-secs N] [--batch N] [--pool N] [--poll-ms N] [--threads N] [--retry-ms N] \
         [--allow-private]"
    );
    std::process::exit(2)
}

fn options() -> Options {
    let mut flags: Vec<(String, Option<String>)> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let arg = if arg == "-h" {
            "--help".to_owned()
        } else {
            arg
        };
        let Some(name) = arg.strip_prefix("--") else {
            usage(&format!("unexpected argument {arg:?}"));
        };
        if let Some((name, value)) = name.split_once('=') {
            flags.push((name.to_owned(), Some(value.to_owned())));
        } else if name == "allow-private" || name == "help" {
            flags.push((name.to_owned(), None));
        } else {
            let value = args
                .next()
                .unwrap_or_else(|| usage(&format!("--{name} needs a value")));
            flags.push((name.to_owned(), Some(value)));
        }
    }
    if flags.iter().any(|(n, _)| n == "help") {
        println!("{HELP}");
        std::process::exit(0)
    }
    let known = [
        "database-url",
        "concurrency",
        "schema",
        "lease-secs",
        "batch",
        "pool",
        "poll-ms",
        "threads",
        "retry-ms",
        "allow-private",
    ];
    if let Some((n, _)) = flags.iter().find(|(n, _)| !known.contains(&n.as_str())) {
        usage(&format!("unknown flag --{n}"));
    }
    let get = |flag: &str, env: &str| -> Option<String> {
        flags
            .iter()
            .rev()
            .find(|(n, _)| n == flag)
            .and_then(|(_, v)| v.clone())
            .or_else(|| std::env::var(env).ok().filter(|v| !v.is_empty()))
    };
    let number = |flag: &str, env: &str| -> Option<u64> {
        get(flag, env).map(|v| {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("--{flag} must be a whole number, not {v:?}")))
        })
    };
    let as_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let database_url = get("database-url", "DATABASE_URL")
        .unwrap_or_else(|| usage("--database-url or DATABASE_URL is required"));
    let concurrency = number("concurrency", "HOOKWIRE_CONCURRENCY").map_or(32, as_usize);
    Options {
        database_url,
        concurrency: concurrency.max(1),
        schema: get("schema", "HOOKWIRE_SCHEMA").unwrap_or_else(|| "hookwire".to_owned()),
        lease: number("lease-secs", "HOOKWIRE_LEASE_SECS").map(Duration::from_secs),
        batch: number("batch", "HOOKWIRE_BATCH").map(as_usize),
        pool: number("pool", "HOOKWIRE_POOL").map(as_usize),
        poll: Duration::from_millis(number("poll-ms", "HOOKWIRE_POLL_MS").unwrap_or(200)),
        threads: number("threads", "HOOKWIRE_THREADS")
            .map_or(1, as_usize)
            .max(1),
        retry: number("retry-ms", "HOOKWIRE_RETRY_MS").map(Duration::from_millis),
        allow_private: flags.iter().any(|(n, _)| n == "allow-private")
            || std::env::var("HOOKWIRE_ALLOW_PRIVATE").is_ok_and(|v| v == "1" || v == "true"),
    }
}

fn main() {
    let options = options();
    let runtime = if options.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(options.threads);
        b
    }
    .enable_all()
    .build()
    .unwrap_or_else(|e| {
        eprintln!("postgres_worker: cannot start the runtime: {e}");
        std::process::exit(1)
    });
    if let Err(e) = runtime.block_on(run(options)) {
        eprintln!("postgres_worker: {e}");
        let mut source = e.source();
        while let Some(s) = source {
            eprintln!("  caused by: {s}");
            source = s.source();
        }
        std::process::exit(1);
    }
}

async fn run(options: Options) -> Result<(), Box<dyn std::error::Error>> {
    let pool = options
        .pool
        .unwrap_or_else(|| (options.concurrency + 2).min(64));
    let store = PgStore::connect(&options.database_url, pool)?.with_schema(&options.schema)?;
    store.migrate().await?;

    let transport = ReqwestTransport::builder().build()?;
    let mut policy = Policy::default();
    if let Some(delay) = options.retry {
        let delays = vec![delay; policy.max_attempts().saturating_sub(1) as usize];
        policy = Policy::custom(delays)?.with_timeout(policy.timeout())?;
    }
    if let Some(lease) = options.lease {
        // A request must end well before its lease runs out.
        let timeout = policy
            .timeout()
            .min(lease / 2)
            .max(Duration::from_millis(100));
        policy = policy.with_timeout(timeout)?;
    }
    let mut builder = Dispatcher::builder(transport, store)
        .policy(policy)
        .concurrency(options.concurrency)
        .allow_private_targets(options.allow_private);
    if let Some(lease) = options.lease {
        builder = builder.lease(lease);
    }
    let dispatcher = builder.build()?;
    let batch = options.batch.unwrap_or(options.concurrency * 2);
    let worker = Worker::new(dispatcher)
        .poll_interval(options.poll)
        .batch_size(batch)
        .spawn()?;
    eprintln!(
        "postgres_worker {}: running (schema {}, concurrency {}, batch {batch}, pool {pool})",
        std::process::id(),
        options.schema,
        options.concurrency
    );

    wait_for_stop().await;
    eprintln!(
        "postgres_worker {}: stopping, finishing the requests in flight",
        std::process::id()
    );
    let summary = worker.shutdown().await;
    println!(
        "postgres_worker {} summary: runs={} leased={} released={} attempts={} succeeded={} \
         retried={} dead={} lease_lost={} store_errors={} endpoints_disabled={}",
        std::process::id(),
        summary.runs,
        summary.leased,
        summary.released,
        summary.attempts,
        summary.succeeded,
        summary.retried,
        summary.dead,
        summary.lease_lost,
        summary.store_errors,
        summary.endpoints_disabled
    );
    Ok(())
}

#[cfg(unix)]
async fn wait_for_stop() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_stop() {
    let _ = tokio::signal::ctrl_c().await;
}
