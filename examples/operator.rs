//! What an operator sees, in one program: Prometheus metrics, operational
//! events as they happen, warnings on stderr, and a health table at the end.
//!
//! ```text
//! cargo run --example operator --all-features -- --port 9464 --seconds 5
//! ```
//!
//! It serves the Prometheus text format at `http://127.0.0.1:PORT/metrics`
//! (with `metrics-exporter-prometheus`), starts a tiny loopback receiver with
//! one healthy endpoint and one that always answers 500, publishes an event
//! every 100 ms to both, runs a `Worker` for `N` seconds, prints every
//! operational event on stdout as it happens (`event: ...`), then shuts the
//! worker down, prints the health of each endpoint, and exits 0.
// This program runs on the wall clock; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

use std::process::ExitCode;
use std::time::Duration;

use hookwire::dispatch::Dispatcher;
use hookwire::endpoint::Endpoint;
use hookwire::retry::Policy;
use hookwire::signature::{Schemes, SigningSecret};
use hookwire::store::{AttemptOutcome, InMemoryStore};
use hookwire::transport::ReqwestTransport;
use hookwire::worker::Worker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const USAGE: &str = "usage: operator --port PORT --seconds N";

const HELP: &str = "\
operator: what an operator sees: Prometheus metrics, operational events and a health table, for N seconds

usage: operator [--port PORT] [--seconds N]

flags:
  --port PORT   serve /metrics on 127.0.0.1:PORT (default 9464)
  --seconds N   how long to run the worker before printing the health table (default 5)
  -h, --help    print this help and exit";

/// The port and seconds, or `None` for `--help`.
fn parse_args() -> Result<Option<(u16, u64)>, String> {
    let mut args = std::env::args().skip(1);
    let (mut port, mut seconds) = (None, None);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--port" => port = Some(value()?.parse().map_err(|e| format!("--port: {e}"))?),
            "--seconds" => seconds = Some(value()?.parse().map_err(|e| format!("--seconds: {e}"))?),
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Some((port.unwrap_or(9464), seconds.unwrap_or(5))))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (port, seconds) = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(port, seconds).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("operator: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(port: u16, seconds: u64) -> Result<(), Box<dyn std::error::Error>> {
    // Warnings and errors (dead deliveries, disabled endpoints, store
    // failures) on stderr.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(std::io::stderr)
        .init();
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(([127, 0, 0, 1], port))
        .install()?;
    hookwire::metrics::describe();
    println!("metrics: http://127.0.0.1:{port}/metrics");

    let receiver = receiver().await?;
    let dispatcher = Dispatcher::builder(ReqwestTransport::new(), InMemoryStore::new())
        // Short retries, so that deliveries end dead within a few seconds.
        .policy(
            Policy::custom([100, 200, 400].map(Duration::from_millis))?
                .with_jitter(0.0)?
                .with_timeout(Duration::from_secs(2))?,
        )
        .disable_after_dead(Some(3))
        // The receiver lives on 127.0.0.1.
        .allow_private_targets(true)
        .on_event(|event| println!("event: {event}"))
        .build()?;
    let secret = SigningSecret::generate();
    for (id, path) in [("ep_healthy", "healthy"), ("ep_failing", "failing")] {
        let mut endpoint = Endpoint::builder(id, format!("http://{receiver}/{path}"))
            .signing(secret.clone(), Schemes::BOTH);
        if path == "failing" {
            // No circuit breaker: the demo shows dead deliveries and a
            // disabling within seconds (a breaker would hold them; see
            // `hookwire::flow`).
            endpoint = endpoint.without_circuit_breaker();
        }
        dispatcher.add_endpoint(endpoint.build()?).await?;
    }
    let running = Worker::new(dispatcher.clone())
        .sample_every(Duration::from_millis(500))
        .spawn()?;

    let until = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let mut n = 0u64;
    while tokio::time::Instant::now() < until {
        n += 1;
        let body = format!(r#"{{"action":"ping","n":{n}}}"#);
        if let Err(e) = dispatcher.publish_json("ping", body.into_bytes()).await {
            eprintln!("publish failed: {e}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let summary = running.shutdown().await;
    println!(
        "worker: {} attempts, {} succeeded, {} retried, {} dead",
        summary.attempts, summary.succeeded, summary.retried, summary.dead
    );
    print_health(&dispatcher).await?;
    Ok(())
}

/// Prints one row per endpoint from `Dispatcher::endpoints_health` (one
/// store call, one query on `PgStore`): enabled, deliveries by state,
/// failures in a row, the last attempt's status or reason, and why it was
/// disabled.
async fn print_health(dispatcher: &Dispatcher) -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "{:<12} {:<8} {:>8} {:>10} {:>6} {:>9}  last attempt / disabled because",
        "endpoint", "enabled", "pending", "succeeded", "dead", "failing"
    );
    for h in dispatcher.endpoints_health().await? {
        let last = match h.last_attempt.map(|a| a.outcome) {
            Some(AttemptOutcome::Status(status)) => format!("HTTP {status}"),
            Some(AttemptOutcome::Failed { reason, .. }) => reason,
            Some(_) => "other".into(),
            None => "never attempted".into(),
        };
        let disabled = h
            .disabled
            .map(|d| format!(" / {}", d.reason))
            .unwrap_or_default();
        println!(
            "{:<12} {:<8} {:>8} {:>10} {:>6} {:>9}  {last}{disabled}",
            h.endpoint_id.as_str(),
            h.enabled,
            h.deliveries.pending,
            h.deliveries.succeeded,
            h.deliveries.dead,
            h.consecutive_failures,
        );
    }
    Ok(())
}

/// A loopback receiver: `/healthy` answers 204, anything else 500.
async fn receiver() -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                // One request per connection: read the head and the body,
                // answer, close.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 || buf.len() > 64 * 1024 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0)
                    .min(1024 * 1024);
                while buf.len() < head_end + length {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let status = if head.starts_with("post /healthy") {
                    "204 No Content"
                } else {
                    "500 Internal Server Error"
                };
                let reply =
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok(addr)
}
