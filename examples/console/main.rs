//! The operator console, live: three endpoints (one healthy, one flaky, one
//! always failing) fed an event every 200 ms by a worker, and the console
//! for this machine at a printed URL.
//!
//! ```text
//! cargo run --example console --features console -- --port 8089 --seconds 60
//! ```
//!
//! Open the printed URL: the endpoints with their health; `ep_failing` with
//! its chart and dead deliveries (press Redeliver and reload to see the new
//! attempt); a delivery's attempts, with the echoed bearer token redacted.
//! After `N` seconds it stops the traffic and the worker, prints what the
//! worker did, and exits 0.
// This program runs on the wall clock; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

mod demo;

use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: console [--port PORT] [--seconds N]";

const HELP: &str = "\
console: the operator console, live, over a worker with a healthy, a flaky and a failing endpoint

usage: console [--port PORT] [--seconds N]

flags:
  --port PORT   serve the console on 127.0.0.1:PORT (default 8089)
  --seconds N   stop the traffic and the worker after N seconds (default 60)
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
    Ok(Some((port.unwrap_or(8089), seconds.unwrap_or(60))))
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
    let demo = match demo::start(port).await {
        Ok(demo) => demo,
        Err(e) => {
            eprintln!("console: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("console: {}", demo.console_url);
    println!("(loopback clients only; stopping in {seconds} s)");
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let dispatcher = demo.dispatcher.clone();
    let summary = demo.stop().await;
    println!(
        "worker: {} attempts, {} succeeded, {} retried, {} dead",
        summary.attempts, summary.succeeded, summary.retried, summary.dead
    );
    match dispatcher.endpoints_health().await {
        Ok(health) => {
            for h in health {
                let d = h.deliveries;
                println!(
                    "{:<11} {} pending, {} succeeded, {} dead",
                    h.endpoint_id.as_str(),
                    d.pending,
                    d.succeeded,
                    d.dead
                );
            }
        }
        Err(e) => eprintln!("console: reading the health failed: {e}"),
    }
    ExitCode::SUCCESS
}
