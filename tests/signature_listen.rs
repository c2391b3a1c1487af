//! The `listen` example's receiver, over real loopback TCP: verified, duplicate,
//! bad signature, not JSON and oversized requests get the right answers.

#[path = "../examples/listen/server.rs"]
#[allow(dead_code)]
mod server;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use hookwire::clock::ManualClock;

use hookwire::http::HeaderMap;
use hookwire::id::DeliveryId;
use hookwire::signature::{Schemes, Signer, SigningSecret, Verifier};

fn send(
    addr: std::net::SocketAddr,
    headers: &HeaderMap,
    body: &[u8],
    content_length: Option<usize>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "POST /webhook HTTP/1.1\r\nhost: localhost\r\ncontent-length: {}\r\n",
        content_length.unwrap_or(body.len())
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    // A server refusing an oversized body may answer before reading it all.
    let _ = s.write_all(body);
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    let reason = resp.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, reason)
}

#[test]
fn listen_answers_each_case() {
    let secret = SigningSecret::generate();
    let now = 1_700_000_000;
    let verifier = Verifier::new(secret.clone()).with_clock(ManualClock::at_unix(now as u64));
    let seen = server::Seen::default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    const REQUESTS: usize = 6;
    let handle = std::thread::spawn(move || {
        listener
            .incoming()
            .take(REQUESTS)
            .map(|s| server::serve_one(s.unwrap(), &verifier, &seen, 1024))
            .collect::<Vec<_>>()
    });

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

    let lines = handle.join().unwrap();
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
        let line = server::summary(&v);
        assert!(line.contains(expected), "{line}");
    }
}
