//! A local webhook receiver that verifies every request.
//!
//! ```text
//! cargo run --example listen -- --secret <secret> [--port 8787] [--scheme hex|standard|both|v1a]
//! ```
//!
//! `--secret` is either a Standard Webhooks secret (`whsec_<base64>`, base64
//! decoded), an Ed25519 public key (`whpk_<base64>`, with `--scheme v1a`;
//! build with `--features ed25519`) or any other string, used as raw bytes
//! (as the hex scheme's Node.js receiver does). It listens on 127.0.0.1 only (`--port 0` picks a free port)
//! and answers `401` with the reason for a bad signature (or a hex-signed body
//! whose `timestamp` is more than 6 hours old: a replay), `400` for a body that
//! is not JSON, `413` for one over 1 MiB, `200` otherwise, printing one line per
//! request (control characters escaped). Requests are deduplicated on
//! `Verified::dedupe_key` (only ever signed data, the same on every retry and
//! however a replay's headers are changed), remembered 6 hours and
//! 5 minutes: a redelivery is answered `200` and printed as a duplicate.
//!
//! It runs on axum with hookwire's `Webhook` extractor, served by hyper
//! (strict HTTP/1.1 parsing) with connection, concurrency, size and time
//! limits (see `app.rs`).

mod app;

use std::process::ExitCode;
use std::sync::Arc;

use hookwire::clock::SystemClock;

const USAGE: &str =
    "usage: listen --secret <whsec_...|whpk_...|raw string> [--port N] [--scheme hex|standard|both|v1a]";

const HELP: &str = "\
listen: a local webhook receiver on 127.0.0.1 that verifies, deduplicates and prints every request

usage: listen --secret SECRET [--port N] [--scheme hex|standard|both|v1a]

flags:
  --secret SECRET  whsec_... (base64), whpk_... (Ed25519 public key, --features ed25519)
                   or a raw string (the hex scheme's shared secret)
  --port N         the port to listen on (default 8787; 0 picks a free one)
  --scheme SCHEME  which signatures to accept: hex, standard, both (default) or v1a
  -h, --help       print this help and exit";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("listen: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let mut secret = None;
    let mut port = 8787u16;
    let mut scheme = "both".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--secret" => secret = Some(value()?),
            "--port" => {
                port = value()?
                    .parse()
                    .map_err(|_| "--port must be a number".to_owned())?
            }
            "--scheme" => scheme = value()?,
            "-h" | "--help" => {
                println!("{HELP}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {}", app::escaped(other))),
        }
    }
    let secret = secret.ok_or("--secret is required")?;
    let verifier = app::verifier(&secret, &scheme)?;
    let receiver = app::receiver(verifier, SystemClock);
    let log: app::Log = Arc::new(|line| println!("{line}"));

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on port {port}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!(
        "listening on http://{addr} (schemes: {}); ctrl-c to stop",
        app::escaped(&scheme.to_ascii_lowercase())
    );
    app::serve(listener, app::app(receiver, log)).await;
    Ok(())
}
