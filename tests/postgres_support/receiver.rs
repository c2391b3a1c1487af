//! A loopback receiver counting requests by delivery id (the `webhook-id`
//! header), and a way to build the `postgres_worker` example: shared by the
//! crash test and the PostgreSQL benchmark.
// This program measures real time; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the receiver saw.
#[derive(Default)]
pub struct Seen {
    /// Arrival times per delivery id.
    pub arrivals: HashMap<String, Vec<Instant>>,
    /// Delivery ids with a request being answered right now.
    pub in_flight: HashSet<String>,
    /// Requests that arrived while another for the same id was in flight.
    pub overlaps: Vec<String>,
    pub total: usize,
}

/// A minimal HTTP/1.1 keep-alive receiver on 127.0.0.1 answering 200 after
/// holding each request for `hold` (so that overlapping attempts are seen).
/// Returns its URL and what it saw.
pub async fn receiver(hold: Duration) -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                continue;
            };
            let state = Arc::clone(&state);
            tokio::spawn(serve(conn, state, hold));
        }
    });
    (url, seen)
}

/// Reads the next request on a keep-alive connection: its head (as text)
/// and its body (by `content-length`), taking them out of `buf`, which keeps
/// what was read beyond them. `None` when the connection ends.
pub async fn read_request(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 8192];
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0usize);
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 8192];
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buf[head_end..head_end + length].to_vec();
    buf.drain(..head_end + length);
    Some((head, body))
}

/// The value of header `name` (any case) in a request head, trimmed.
pub fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

async fn serve(mut conn: TcpStream, seen: Arc<Mutex<Seen>>, hold: Duration) {
    let mut buf = Vec::with_capacity(8192);
    while let Some((head, _)) = read_request(&mut conn, &mut buf).await {
        let id = header(&head, "webhook-id").unwrap_or_default().to_owned();
        {
            let mut s = seen.lock().unwrap();
            s.total += 1;
            s.arrivals
                .entry(id.clone())
                .or_default()
                .push(Instant::now());
            if !s.in_flight.insert(id.clone()) {
                s.overlaps.push(id.clone());
            }
        }
        if !hold.is_zero() {
            tokio::time::sleep(hold).await;
        }
        seen.lock().unwrap().in_flight.remove(&id);
        if conn
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Builds the example with this test's own features and profile (so the
/// library is not rebuilt) and returns the executable's path.
pub fn build_worker(release: bool) -> String {
    let mut features = Vec::new();
    for (on, name) in [
        (cfg!(feature = "rustls"), "rustls"),
        (cfg!(feature = "tokio"), "tokio"),
        (cfg!(feature = "tracing"), "tracing"),
        (cfg!(feature = "reqwest"), "reqwest"),
        (cfg!(feature = "postgres"), "postgres"),
        (cfg!(feature = "test-util"), "test-util"),
    ] {
        if on {
            features.push(name);
        }
    }
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "build",
        "--example",
        "postgres_worker",
        "--message-format=json",
        "--no-default-features",
        "--features",
        &features.join(","),
    ]);
    if release {
        cmd.arg("--release");
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build");
    assert!(out.status.success(), "building postgres_worker failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("executable")?.as_str().map(str::to_owned))
        .find(|p| p.contains("postgres_worker"))
        .expect("cargo reported the example's executable")
}

/// Starts the `postgres_worker` executable `exe` on the test schema `base`
/// (see [`super::schema_name`]) with these extra flags, private targets
/// allowed, its stdout piped (its summary) and its stderr inherited.
pub fn spawn_worker(exe: &str, url: &str, base: &str, flags: &[&str]) -> std::process::Child {
    let schema = super::schema_name(base);
    Command::new(exe)
        .args(["--schema", &schema])
        .args(flags)
        .arg("--allow-private")
        .env("DATABASE_URL", url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start postgres_worker")
}
