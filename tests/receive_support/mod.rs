//! Shared by the receiving tests (axum, tower, Redis): signed requests for
//! every case, a real HTTP client, and a client that streams a huge body.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookwire::clock::ManualClock;
use hookwire::http::{HeaderMap, HeaderValue};
use hookwire::id::DeliveryId;
use hookwire::model::ExperienceWebhook;
use hookwire::signature::{Schemes, Signer, SigningSecret, Verified, Verifier};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The receivers' "now", Unix seconds.
pub const NOW: u64 = 1_771_515_680;
/// The body limit the receivers under test run with.
pub const LIMIT: usize = 64 * 1024;
/// The shared secret.
pub const SECRET: &str = "receive-test-secret";

pub fn secret() -> SigningSecret {
    SigningSecret::from_raw_str(SECRET).unwrap()
}

pub fn clock() -> ManualClock {
    ManualClock::at_unix(NOW)
}

/// The verifier every receiver under test uses: both schemes, on [`clock`],
/// with a [`LIMIT`] byte body limit.
pub fn verifier() -> Verifier {
    Verifier::new(secret())
        .with_clock(clock())
        .with_max_body_size(LIMIT)
}

/// The startExperience fixture with `timestamp` set to `at_ms` (so that each
/// body, and so each dedupe key, is distinct).
pub fn lifecycle_body(at_ms: u64) -> Vec<u8> {
    let text = std::fs::read("tests/fixtures/experience/startExperience.json").unwrap();
    let mut value: serde_json::Value = serde_json::from_slice(&text).unwrap();
    value["timestamp"] = at_ms.into();
    serde_json::to_vec(&value).unwrap()
}

/// Signs `body` as hookwire does, with `schemes`, at `at` (Unix seconds).
pub fn signed(schemes: Schemes, at: u64, body: &[u8]) -> HeaderMap {
    signed_with(&secret(), schemes, at, body)
}

pub fn signed_with(secret: &SigningSecret, schemes: Schemes, at: u64, body: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    Signer::new(secret.clone()).sign_into(
        &mut h,
        schemes,
        &DeliveryId::generate(),
        at as i64,
        body,
    );
    // `sign_into` writes `webhook-id` for every scheme; hex-only senders may not.
    if !schemes.standard {
        h.remove("webhook-id");
    }
    h
}

/// What the handler saw, in order.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub calls: Arc<Mutex<Vec<(Verified, ExperienceWebhook)>>>,
}

impl Seen {
    pub fn record(&self, verified: Verified, payload: ExperienceWebhook) {
        self.calls.lock().unwrap().push((verified, payload));
    }

    pub fn count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    pub fn last(&self) -> (Verified, ExperienceWebhook) {
        self.calls.lock().unwrap().last().cloned().expect("a call")
    }
}

/// POSTs over real HTTP (reqwest); returns the status and the body.
pub async fn post(addr: SocketAddr, headers: &HeaderMap, body: &[u8]) -> (u16, String) {
    let client = reqwest::Client::new();
    let mut request = client
        .post(format!("http://{addr}/webhooks"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_bytes());
    }
    let response = request.send().await.expect("the receiver answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Streams a body of `total` bytes to `addr` (announced with a
/// `content-length` when `announce`, chunked otherwise) while reading the
/// answer. Returns the status and how many body bytes had been written
/// when the answer arrived.
pub async fn stream_huge(
    addr: SocketAddr,
    headers: &HeaderMap,
    total: usize,
    announce: bool,
) -> (u16, usize) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let mut head = String::from("POST /webhooks HTTP/1.1\r\nhost: localhost\r\n");
    match announce {
        true => head.push_str(&format!("content-length: {total}\r\n")),
        false => head.push_str("transfer-encoding: chunked\r\n"),
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str("\r\n");
    write.write_all(head.as_bytes()).await.unwrap();
    let written = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&written);
    let writer = tokio::spawn(async move {
        let chunk = vec![b'x'; 16 * 1024];
        let mut sent = 0;
        while sent < total {
            let framed = match announce {
                true => chunk.clone(),
                false => [
                    format!("{:x}\r\n", chunk.len()).into_bytes(),
                    chunk.clone(),
                    b"\r\n".to_vec(),
                ]
                .concat(),
            };
            if write.write_all(&framed).await.is_err() {
                return;
            }
            sent += chunk.len();
            counter.store(sent, Ordering::SeqCst);
        }
    });
    let mut answer = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(20), read.read_exact(&mut answer))
        .await
        .expect("an answer before the body is sent")
        .expect("an answer, not a reset");
    let at = written.load(Ordering::SeqCst);
    writer.abort();
    let status = std::str::from_utf8(&answer[9..12])
        .unwrap()
        .parse()
        .unwrap();
    (status, at)
}

/// A hex signature cut in half, a Standard one cut short.
pub fn truncated(mut headers: HeaderMap) -> HeaderMap {
    if let Some(v) = headers.get("x-intelligems-signature") {
        let cut = v.to_str().unwrap()[..32].to_owned();
        headers.insert(
            "x-intelligems-signature",
            HeaderValue::from_str(&cut).unwrap(),
        );
    }
    if let Some(v) = headers.get("webhook-signature") {
        let full = v.to_str().unwrap().to_owned();
        let cut = full[..full.len() / 2].to_owned();
        headers.insert("webhook-signature", HeaderValue::from_str(&cut).unwrap());
    }
    headers
}

/// The cases every receiving adapter must answer alike. Each starts from a
/// fresh receiver (`addr`) whose handler records into `seen`.
/// One `#[tokio::test]` per case in [`cases`], each against a fresh server
/// from the calling file's own `started()`: the axum and tower suites run
/// the same list.
#[allow(unused_macros)] // receive_redis has no `started()`
macro_rules! every_case {
    () => {
        every_case!(
            valid_hex,
            valid_standard,
            tampered,
            stale,
            wrong_secret,
            truncated_signature,
            missing_headers,
            oversized,
            not_json,
            duplicate,
            connection_test,
            unknown_action,
        );
    };
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let (addr, seen) = started().await;
            receive_support::cases::$name(addr, &seen).await;
        }
    )*};
}

pub mod cases {
    use super::*;

    const MS: u64 = NOW * 1000;

    pub async fn valid_hex(addr: SocketAddr, seen: &Seen) {
        let body = lifecycle_body(MS);
        assert_eq!(
            post(addr, &signed(Schemes::HEX, NOW, &body), &body).await,
            (200, "ok".to_owned())
        );
        assert_eq!(seen.count(), 1);
        let (verified, payload) = seen.last();
        assert_eq!(verified.schemes, Schemes::HEX);
        assert_eq!(verified.id, verified.dedupe_key, "hex signs no id");
        assert!(
            matches!(payload, ExperienceWebhook::Event(_)),
            "{payload:?}"
        );
        assert_eq!(payload.action(), "startExperience");
    }

    pub async fn valid_standard(addr: SocketAddr, seen: &Seen) {
        let body = lifecycle_body(MS + 1);
        let headers = signed(Schemes::STANDARD, NOW - 10, &body);
        assert_eq!(post(addr, &headers, &body).await, (200, "ok".to_owned()));
        let (verified, payload) = seen.last();
        assert_eq!(verified.schemes, Schemes::STANDARD);
        assert_eq!(verified.id, headers["webhook-id"].to_str().unwrap());
        assert!(
            matches!(payload, ExperienceWebhook::Event(_)),
            "{payload:?}"
        );
        assert_eq!(payload.action(), "startExperience");
        assert_eq!(seen.count(), 1);
    }

    pub async fn tampered(addr: SocketAddr, seen: &Seen) {
        for schemes in [Schemes::HEX, Schemes::STANDARD, Schemes::BOTH] {
            let body = lifecycle_body(MS + 2);
            let headers = signed(schemes, NOW, &body);
            let mut tampered = body.clone();
            tampered.push(b' ');
            assert_eq!(
                post(addr, &headers, &tampered).await,
                (401, "Unauthorized".to_owned()),
                "{schemes}"
            );
        }
        assert_eq!(seen.count(), 0);
    }

    pub async fn stale(addr: SocketAddr, seen: &Seen) {
        // Standard: signed 6 minutes ago (tolerance 5). Hex: a body 7 hours old.
        let body = lifecycle_body(MS + 3);
        assert_eq!(
            post(addr, &signed(Schemes::STANDARD, NOW - 360, &body), &body)
                .await
                .0,
            401
        );
        let old = lifecycle_body(MS - 7 * 3600 * 1000);
        assert_eq!(
            post(addr, &signed(Schemes::HEX, NOW, &old), &old).await.0,
            401
        );
        assert_eq!(seen.count(), 0);
    }

    pub async fn wrong_secret(addr: SocketAddr, seen: &Seen) {
        let wrong = SigningSecret::from_raw_str("another-secret").unwrap();
        for schemes in [Schemes::HEX, Schemes::STANDARD] {
            let body = lifecycle_body(MS + 4);
            let (status, text) = post(addr, &signed_with(&wrong, schemes, NOW, &body), &body).await;
            assert_eq!((status, text.as_str()), (401, "Unauthorized"), "{schemes}");
        }
        assert_eq!(seen.count(), 0);
    }

    pub async fn truncated_signature(addr: SocketAddr, seen: &Seen) {
        for schemes in [Schemes::HEX, Schemes::STANDARD] {
            let body = lifecycle_body(MS + 5);
            let headers = truncated(signed(schemes, NOW, &body));
            assert_eq!(post(addr, &headers, &body).await.0, 401, "{schemes}");
        }
        assert_eq!(seen.count(), 0);
    }

    pub async fn missing_headers(addr: SocketAddr, seen: &Seen) {
        let body = lifecycle_body(MS + 6);
        assert_eq!(post(addr, &HeaderMap::new(), &body).await.0, 401);
        let mut no_timestamp = signed(Schemes::STANDARD, NOW, &body);
        no_timestamp.remove("webhook-timestamp");
        assert_eq!(post(addr, &no_timestamp, &body).await.0, 401);
        assert_eq!(seen.count(), 0);
    }

    /// 413 before the client has sent the body: announced (refused unread)
    /// and chunked (refused once past the limit), each 64 MiB against a
    /// 64 KiB limit.
    pub async fn oversized(addr: SocketAddr, seen: &Seen) {
        const TOTAL: usize = 64 << 20;
        let headers = signed(Schemes::BOTH, NOW, b"{}");
        for announce in [true, false] {
            let (status, written) = stream_huge(addr, &headers, TOTAL, announce).await;
            eprintln!("announce={announce}: {status} after {written} of {TOTAL} bytes");
            assert_eq!(status, 413, "announce={announce}");
            // Socket buffers hold a few MiB at most: far from the whole body.
            assert!(
                written < TOTAL / 4,
                "announce={announce}: {written} of {TOTAL} bytes written before the answer"
            );
        }
        // Over the limit by one byte, with a body that is all there.
        let body = vec![b' '; LIMIT + 1];
        assert_eq!(
            post(addr, &signed(Schemes::BOTH, NOW, &body), &body)
                .await
                .0,
            413
        );
        assert_eq!(seen.count(), 0);
    }

    pub async fn not_json(addr: SocketAddr, seen: &Seen) {
        for schemes in [Schemes::STANDARD, Schemes::BOTH, Schemes::HEX] {
            let body = b"not json at all";
            let (status, text) = post(addr, &signed(schemes, NOW, body), body).await;
            assert_eq!((status, text.as_str()), (400, "Bad Request"), "{schemes}");
        }
        assert_eq!(seen.count(), 0);
    }

    pub async fn duplicate(addr: SocketAddr, seen: &Seen) {
        let body = lifecycle_body(MS + 7);
        let first = signed(Schemes::BOTH, NOW, &body);
        assert_eq!(post(addr, &first, &body).await, (200, "ok".to_owned()));
        // The same attempt again, a retry signed anew, and a hex-only replay.
        let retry = signed(Schemes::BOTH, NOW + 5, &body);
        let mut hex_only = first.clone();
        for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            hex_only.remove(name);
        }
        for headers in [&first, &retry, &hex_only] {
            assert_eq!(
                post(addr, headers, &body).await,
                (200, "duplicate".to_owned())
            );
        }
        assert_eq!(seen.count(), 1, "the handler ran once");
    }

    pub async fn connection_test(addr: SocketAddr, seen: &Seen) {
        let body = format!(r#"{{"action":"testWebhook","timestamp":{MS}}}"#).into_bytes();
        assert_eq!(
            post(addr, &signed(Schemes::BOTH, NOW, &body), &body)
                .await
                .0,
            200
        );
        let (_, payload) = seen.last();
        assert!(
            matches!(payload, ExperienceWebhook::ConnectionTest(_)),
            "{payload:?}"
        );
    }

    pub async fn unknown_action(addr: SocketAddr, seen: &Seen) {
        let body = format!(r#"{{"action":"archiveExperience","timestamp":{MS},"experience":{{"id":"e1","newField":[1,2]}},"extra":true}}"#).into_bytes();
        assert_eq!(
            post(addr, &signed(Schemes::BOTH, NOW, &body), &body)
                .await
                .0,
            200
        );
        let (_, payload) = seen.last();
        assert!(
            matches!(payload, ExperienceWebhook::Unknown(_)),
            "{payload:?}"
        );
        assert_eq!(payload.action(), "archiveExperience");
        // Kept: written back, it is what was sent, byte for byte.
        assert_eq!(serde_json::to_vec(&payload).unwrap(), body);
    }
}
