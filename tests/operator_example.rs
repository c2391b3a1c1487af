//! Runs `examples/operator.rs` as an operator would (`cargo run --example
//! operator --all-features -- --port PORT --seconds N`): `/metrics` serves
//! hookwire's metrics in the Prometheus text format, operational events are
//! printed as they happen, the health table at the end, and the program
//! exits 0 by itself.
#![cfg(all(
    feature = "tokio",
    feature = "reqwest",
    feature = "metrics",
    feature = "tracing"
))]
// This program measures real time; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `GET /metrics`, or `None` while nothing listens.
fn scrape(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

#[test]
fn the_operator_example_serves_metrics_prints_events_and_exits() {
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().unwrap().port()
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut child = Command::new(cargo)
        .args([
            "run",
            "--quiet",
            "--example",
            "operator",
            "--all-features",
            "--",
        ])
        .args(["--port", &port.to_string(), "--seconds", "4"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cargo runs");
    let mut stdout = child.stdout.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let mut stderr = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });

    // Up once built (which may take a while on a cold target dir); scraped
    // after a second and a half of work.
    let started = Instant::now();
    let mut metrics = None;
    while started.elapsed() < Duration::from_secs(600) {
        if let Some(first) = scrape(port) {
            std::thread::sleep(Duration::from_millis(1500));
            metrics = scrape(port).or(Some(first));
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the example did not exit by itself");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = out.join().unwrap();
    let stderr = err.join().unwrap();
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");

    let metrics = metrics.unwrap_or_else(|| panic!("/metrics never answered\n{stdout}\n{stderr}"));
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    for name in [
        "hookwire_attempts_total",
        "hookwire_attempt_duration_seconds",
        "hookwire_deliveries_succeeded_total",
        "hookwire_deliveries_due",
        "hookwire_due_lag_seconds",
    ] {
        assert!(metrics.contains(name), "{name} missing:\n{metrics}");
    }
    assert!(metrics.contains(r#"endpoint="ep_failing""#), "{metrics}");
    assert!(metrics.contains(r#"outcome="success""#), "{metrics}");

    // Events as they happened, and the health table.
    assert!(
        stdout.contains("event: delivery ")
            && stdout.contains(" to ep_failing dead after 4 attempts: HTTP 500"),
        "{stdout}"
    );
    assert!(
        stdout.contains("event: endpoint ep_failing disabled: 3 deliveries in a row ended dead"),
        "{stdout}"
    );
    let table: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("endpoint "))
        .collect();
    assert_eq!(table.len(), 3, "{stdout}");
    let failing = table.iter().find(|l| l.starts_with("ep_failing")).unwrap();
    assert!(
        failing.contains("false")
            && failing.ends_with("HTTP 500 / 3 deliveries in a row ended dead"),
        "{failing}"
    );
    let healthy = table.iter().find(|l| l.starts_with("ep_healthy")).unwrap();
    assert!(
        healthy.contains("true") && healthy.ends_with("HTTP 204"),
        "{healthy}"
    );
    // Warnings went to stderr.
    assert!(stderr.contains("endpoint disabled"), "{stderr}");
}
