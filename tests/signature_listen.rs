//! The `listen` example's receiver, over real loopback TCP: verified, duplicate,
//! bad signature, not JSON and oversized requests get the right answers; a
//! captured delivery replayed however cannot make real deliveries look like
//! duplicates, and old replays are refused; hyper's strict parsing, escaped
//! logging, and slow connections that hold nothing up.

// This program measures real time; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

#[path = "../examples/listen/app.rs"]
#[allow(dead_code)]
mod app;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookwire::clock::ManualClock;

use hookwire::http::HeaderMap;
use hookwire::id::DeliveryId;
use hookwire::signature::{Schemes, Signer, SigningSecret, Verifier};

/// Sends one request (its own connection, closed after the answer).
fn send(
    addr: std::net::SocketAddr,
    headers: &HeaderMap,
    body: &[u8],
    content_length: Option<usize>,
) -> (u16, String) {
    let mut head = format!(
        "POST /webhook HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-length: {}\r\n",
        content_length.unwrap_or(body.len())
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    head.push_str("\r\n");
    send_raw(addr, head.as_bytes(), body)
}

/// Writes `head` and `body` as they are, reads the answer.
fn send_raw(addr: std::net::SocketAddr, head: &[u8], body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head).unwrap();
    // A server refusing an oversized body may answer before reading it all.
    let _ = s.write_all(body);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp).into_owned();
    assert!(resp.len() >= 12, "no answer: {resp:?}");
    let status = resp[9..12].parse().unwrap();
    let reason = resp.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, reason)
}

/// The `listen` app (its receiver and dedupe store on `clock`) served as the
/// example serves it, on a port of its own; returns the address and the
/// lines it logs.
fn listen_on(
    verifier: Verifier,
    clock: &ManualClock,
) -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let receiver = app::receiver(verifier.with_clock(clock.clone()), clock.clone());
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&lines);
    let log: app::Log = Arc::new(move |line| sink.lock().unwrap().push(line));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            app::serve(listener, app::app(receiver, log)).await;
        });
    });
    (addr, lines)
}

const RAW_SECRET: &str = "listen-test-secret";

fn lines_of(lines: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    lines.lock().unwrap().clone()
}

#[test]
fn listen_answers_each_case() {
    let secret = SigningSecret::from_raw_str(RAW_SECRET).unwrap();
    let now = 1_700_000_000;
    let clock = ManualClock::at_unix(now as u64);
    let verifier = app::verifier(RAW_SECRET, "both")
        .unwrap()
        .with_max_body_size(1024);
    let (addr, lines) = listen_on(verifier, &clock);

    let signer = Signer::new(secret);
    let body = std::fs::read("tests/fixtures/experience/startExperience.json").unwrap();
    let mut h = HeaderMap::new();
    let id = DeliveryId::new("dlv_listen_1").unwrap();
    signer.sign_into(&mut h, Schemes::BOTH, &id, now, &body);

    // The fixture is about 6 KiB, over this server's 1 KiB limit.
    assert_eq!(send(addr, &h, &body, None).0, 413);
    let small = br#"{"action":"startExperience","experience":{"id":"e1","name":"Price test","status":"paused"}}"#;
    signer.sign_into(&mut h, Schemes::BOTH, &id, now, small);
    assert_eq!(send(addr, &h, small, None), (200, "ok".to_owned()));
    assert_eq!(send(addr, &h, small, None), (200, "duplicate".to_owned()));
    let (status, reason) = send(addr, &h, b"{\"action\":\"x\"}", None);
    assert_eq!(
        (status, reason.as_str()),
        (
            401,
            "no signature in header webhook-signature matches a configured secret"
        )
    );
    signer.sign_into(
        &mut h,
        Schemes::BOTH,
        &DeliveryId::new("dlv_2").unwrap(),
        now,
        b"not json",
    );
    assert_eq!(send(addr, &h, b"not json", None).0, 400);
    let journey = br#"{"eventTitle":"Plan upgraded","profile":{"email":"a@example.com"}}"#;
    signer.sign_into(
        &mut h,
        Schemes::STANDARD,
        &DeliveryId::new("dlv_3").unwrap(),
        now,
        journey,
    );
    h.remove("x-intelligems-signature");
    assert_eq!(send(addr, &h, journey, None).0, 200);

    let lines = lines_of(&lines);
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert!(lines[0].starts_with("[413]"), "{lines:?}");
    assert_eq!(
        lines[1],
        "[200] verified dlv_listen_1 via both: startExperience experience \"Price test\" (e1, status paused)"
    );
    assert!(
        lines[2].starts_with("[200] duplicate dlv_listen_1"),
        "{lines:?}"
    );
    assert!(
        lines[3].starts_with("[401] rejected POST /webhook"),
        "{lines:?}"
    );
    assert!(lines[4].starts_with("[400]"), "{lines:?}");
    assert_eq!(
        lines[5],
        "[200] verified dlv_3 via standard: Plan upgraded for a@example.com"
    );
}

/// hyper parses strictly: a signed `+5` length and two lengths that disagree
/// are refused (the hand-written server took the first); what is logged
/// reaches the terminal escaped.
#[test]
fn listen_parses_strictly_and_logs_escaped() {
    let secret = SigningSecret::from_raw_str(RAW_SECRET).unwrap();
    let now = 1_700_000_000;
    let clock = ManualClock::at_unix(now as u64);
    let (addr, lines) = listen_on(app::verifier(RAW_SECRET, "both").unwrap(), &clock);

    let body = br#"{"action":"x"}"#;
    let plus = b"POST /a HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: +14\r\n\r\n";
    assert_eq!(send_raw(addr, plus, body).0, 400);
    let two = b"POST /a HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 14\r\ncontent-length: 5\r\n\r\n";
    assert_eq!(send_raw(addr, two, body).0, 400);

    // A signed body whose action holds a terminal escape (clear screen).
    let evil = b"{\"action\":\"start\\u001b[2J\\u202eExperience\"}";
    let mut h = HeaderMap::new();
    Signer::new(secret).sign_into(&mut h, Schemes::BOTH, &DeliveryId::generate(), now, evil);
    assert_eq!(send(addr, &h, evil, None), (200, "ok".to_owned()));
    let lines = lines_of(&lines);
    let line = lines.last().unwrap();
    assert!(
        !line.contains('\u{1b}') && !line.contains('\u{202e}'),
        "{line:?}"
    );
    assert!(
        line.contains("start\\u{1b}[2J\\u{202e}Experience"),
        "{line}"
    );
}

/// Slow clients do not hold the server: 100 connections that never finish
/// their request head, and a real delivery is still answered at once.
#[test]
fn slow_connections_do_not_stop_deliveries() {
    let secret = SigningSecret::from_raw_str(RAW_SECRET).unwrap();
    let now = 1_700_000_000;
    let clock = ManualClock::at_unix(now as u64);
    let (addr, _lines) = listen_on(app::verifier(RAW_SECRET, "both").unwrap(), &clock);
    let slow: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"POST /webhook HTTP/1.1\r\nhost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    let body = br#"{"action":"startExperience","experience":{"id":"e1"}}"#;
    let mut h = HeaderMap::new();
    Signer::new(secret).sign_into(&mut h, Schemes::BOTH, &DeliveryId::generate(), now, body);
    let started = std::time::Instant::now();
    assert_eq!(send(addr, &h, body, None), (200, "ok".to_owned()));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(slow);
}

#[test]
fn summaries_read_fixtures() {
    for (path, expected) in [
        (
            "tests/fixtures/experience/createExperience.json",
            "createExperience experience",
        ),
        ("tests/fixtures/journey/put-plan-upgraded.json", " for "),
    ] {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let line = app::summary(&v);
        assert!(line.contains(expected), "{line}");
    }
}

fn event_body(n: u32, at_ms: u64) -> Vec<u8> {
    format!(
        r#"{{"action":"startExperience","experience":{{"id":"e{n}","name":"Test {n}","status":"live"}},"timestamp":{at_ms}}}"#
    )
    .into_bytes()
}

/// What hookwire sends for one attempt: both schemes, the attempt's time in
/// `webhook-timestamp`.
fn attempt(signer: &Signer, id: &DeliveryId, attempt_at: u64, body: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    signer.sign_into(&mut h, Schemes::BOTH, id, attempt_at as i64, body);
    h
}

fn hex_only(h: &HeaderMap, webhook_id: Option<&str>) -> HeaderMap {
    let mut r = HeaderMap::new();
    r.insert(
        "x-intelligems-signature",
        h["x-intelligems-signature"].clone(),
    );
    if let Some(id) = webhook_id {
        r.insert("webhook-id", id.parse().unwrap());
    }
    r
}

/// The attack that used to work: replays of one captured hex-signed body,
/// carrying the `webhook-id`s of the next real deliveries, made the receiver
/// answer those deliveries as duplicates (so the sender recorded them as
/// delivered). Now the receiver deduplicates on a key the signature covers.
#[test]
fn replays_cannot_poison_the_listen_receivers_dedupe() {
    let secret = SigningSecret::from_raw_str(RAW_SECRET).unwrap();
    let signer = Signer::new(secret.clone());
    let t0 = 1_700_000_000u64;
    let clock = ManualClock::at_unix(t0);
    let (addr, lines) = listen_on(app::verifier(RAW_SECRET, "both").unwrap(), &clock);

    // A real delivery, captured by the attacker.
    let captured_body = event_body(1, t0 * 1000);
    let captured = attempt(&signer, &DeliveryId::generate(), t0, &captured_body);
    assert_eq!(
        send(addr, &captured, &captured_body, None),
        (200, "ok".to_owned())
    );

    // The next real deliveries' ids (as if predicted: the worst case).
    let next: Vec<DeliveryId> = (0..2).map(|_| DeliveryId::generate()).collect();
    for id in &next {
        let poison = hex_only(&captured, Some(id.as_str()));
        assert_eq!(
            send(addr, &poison, &captured_body, None),
            (200, "duplicate".to_owned()),
            "a replay is a duplicate of the captured delivery, whatever its webhook-id"
        );
    }
    // The real deliveries arrive: new, not duplicates.
    for (n, id) in next.iter().enumerate() {
        let body = event_body(2 + n as u32, t0 * 1000 + 1);
        let h = attempt(&signer, id, t0 + 1, &body);
        assert_eq!(send(addr, &h, &body, None), (200, "ok".to_owned()), "{id}");
    }

    // The captured delivery with its Standard Webhooks headers stripped: a
    // duplicate (the hex signature alone still verifies).
    let stripped = hex_only(&captured, None);
    assert_eq!(
        send(addr, &stripped, &captured_body, None),
        (200, "duplicate".to_owned())
    );
    // With its webhook-id changed and the Standard headers kept: refused.
    let mut changed = captured.clone();
    changed.insert("webhook-id", "dlv_attacker".parse().unwrap());
    assert_eq!(send(addr, &changed, &captured_body, None).0, 401);

    // A body signed 30 days ago, Standard headers removed: refused.
    let month_old = event_body(9, (t0 - 30 * 86_400) * 1000);
    let old = hex_only(
        &attempt(
            &signer,
            &DeliveryId::generate(),
            t0 - 30 * 86_400,
            &month_old,
        ),
        None,
    );
    let (status, reason) = send(addr, &old, &month_old, None);
    assert_eq!(status, 401, "{reason}");
    assert!(reason.starts_with("timestamp is 2592000s old"), "{reason}");

    // A real retry 2.6 hours after the event (the default policy's last
    // attempt) is accepted, as hookwire sends it and hex-only.
    let late_body = event_body(10, t0 * 1000 + 2);
    let late_hex_body = event_body(11, t0 * 1000 + 3);
    clock.advance(Duration::from_secs(9_360));
    let now = t0 + 9_360;
    let retry = attempt(&signer, &DeliveryId::generate(), now, &late_body);
    assert_eq!(send(addr, &retry, &late_body, None), (200, "ok".to_owned()));
    let retry_hex = hex_only(
        &attempt(&signer, &DeliveryId::generate(), now, &late_hex_body),
        None,
    );
    assert_eq!(
        send(addr, &retry_hex, &late_hex_body, None),
        (200, "ok".to_owned())
    );
    // ...and its redelivery is still a duplicate: keys outlive the tolerance.
    assert_eq!(
        send(addr, &retry_hex, &late_hex_body, None),
        (200, "duplicate".to_owned())
    );
    // The captured body, 2.6 hours on: still remembered as seen.
    assert_eq!(
        send(addr, &stripped, &captured_body, None),
        (200, "duplicate".to_owned())
    );

    let lines = lines_of(&lines);
    assert_eq!(lines.len(), 12, "{lines:?}");
}

/// The dedupe window covers the verifier's body tolerance and its clock
/// tolerance: nothing the verifier accepts has been forgotten.
#[test]
fn the_listen_dedupe_window_covers_what_the_verifier_accepts() {
    use hookwire::signature::{DEFAULT_BODY_TOLERANCE, DEFAULT_TOLERANCE};
    assert!(app::DEDUPE_WINDOW >= DEFAULT_BODY_TOLERANCE + DEFAULT_TOLERANCE);
    let verifier = app::verifier(RAW_SECRET, "both").unwrap();
    assert!(Some(app::DEDUPE_WINDOW) >= verifier.replay_window());
    // The example's receiver is built over exactly that window.
    let clock = ManualClock::at_unix(1_000_000);
    let _ = app::receiver(verifier, clock);
    assert!(app::verifier(RAW_SECRET, "sha1").is_err());
    assert!(app::verifier("whsec_not base64!", "hex").is_err());
}
