//! Quickstart: the main job, end to end, in a few seconds.
//!
//! `cargo run --example quickstart` starts a receiver on 127.0.0.1 that
//! verifies signatures with hookwire's own `Verifier`, registers three
//! endpoints (every event with the hex scheme; start and end only with
//! Standard Webhooks; one that answers 503 twice and then 200), publishes the
//! six lifecycle events of an experience built from typed values, fires a
//! journey signup POST and a consent-revocation DELETE (showing a skip for
//! missing consent and an ignored duplicate fire), runs the worker with a fast
//! demo retry schedule until every delivery settles, and prints a report.

mod demo;
mod seed_data;

const HELP: &str = "\
quickstart: the main job end to end: a local receiver, three endpoints, six events, two journey steps, a report

usage: quickstart

flags:
  -h, --help   print this help and exit";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("-h" | "--help") => {
            println!("{HELP}");
            return Ok(());
        }
        Some(other) => return Err(format!("unknown argument {other:?}\n\n{HELP}").into()),
    }
    let report = demo::run(true).await?;

    println!(
        "\n{:<34} {:<18} {:>8} {:<10} {:<9} {:>9}",
        "endpoint", "event", "attempts", "outcome", "last", "latency"
    );
    for row in &report.rows {
        println!(
            "{:<34} {:<18} {:>8} {:<10} {:<9} {:>6} ms",
            row.endpoint,
            row.event,
            row.attempts,
            row.outcome.to_string(),
            row.last,
            row.latency.as_millis()
        );
    }
    println!("\nreceiver (route, event): accepted deliveries / requests");
    for ((route, event), r) in &report.received {
        println!(
            "  /{route:<10} {event:<18} {} / {}{}",
            r.deliveries,
            r.requests,
            if r.rejected > 0 {
                format!(", {} REJECTED", r.rejected)
            } else {
                String::new()
            }
        );
    }
    let settled = report
        .rows
        .iter()
        .filter(|r| r.outcome == hookwire::store::DeliveryState::Succeeded)
        .count();
    println!(
        "\n{settled} of {} deliveries succeeded; {} journey fire skipped, {} duplicate fire ignored; {:.1} s",
        report.rows.len(),
        report.skipped.len(),
        report.duplicate_fires,
        report.elapsed.as_secs_f64()
    );
    if settled != report.rows.len() || report.received.values().any(|r| r.rejected > 0) {
        return Err("some deliveries did not succeed".into());
    }
    Ok(())
}
