//! A tiny, bounded HTTP/1.1 receiver for signed webhooks: the engine of
//! `examples/listen`, also used by `tests/signature_listen.rs`. Not part of
//! hookwire's API.
//!
//! It reads one request per connection (`Content-Length` bodies only, headers at
//! most 16 KiB, body at most the verifier's limit), verifies it, answers, and
//! closes the connection.
// This program runs on the wall clock; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hookwire::clock::{Clock, SystemClock};
use hookwire::http::{HeaderMap, HeaderName, HeaderValue};
use hookwire::signature::{
    Schemes, SigningSecret, Verifier, VerifyError, DEFAULT_BODY_TOLERANCE, DEFAULT_TOLERANCE,
};

/// The verifier the example runs: hookwire's defaults (the hex scheme's body
/// timestamp checked, 6 hours back), for `schemes`.
pub fn verifier(secret: SigningSecret, schemes: Schemes) -> Verifier {
    Verifier::new(secret).with_schemes(schemes)
}

/// How long a dedupe key is remembered: as long as the verifier accepts a
/// replay of the same body (its body timestamp tolerance, plus the clock
/// tolerance for a sender whose clock runs ahead). Anything older is
/// refused by the verifier, so forgetting it then is safe.
pub const DEDUPE_WINDOW: Duration = DEFAULT_BODY_TOLERANCE.saturating_add(DEFAULT_TOLERANCE);

/// The largest request head (request line and headers) read, in bytes.
pub const MAX_HEAD: usize = 16 * 1024;
/// The most headers read.
pub const MAX_HEADERS: usize = 100;
/// How many dedupe keys are remembered at most.
pub const SEEN_CAPACITY: usize = 100_000;

/// Dedupe keys ([`Verified::dedupe_key`](hookwire::signature::Verified::dedupe_key))
/// already seen, each kept for [`DEDUPE_WINDOW`]. A key is never forgotten
/// earlier: when all [`SEEN_CAPACITY`] are younger than that, new requests
/// are answered 503 (the sender retries later) rather than risking a
/// replay slipping through.
#[derive(Debug)]
pub struct Seen {
    inner: Mutex<Keys>,
    clock: Arc<dyn Clock>,
}

impl Default for Seen {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

/// The keys remembered, and when each was first seen (oldest first).
type Keys = (HashSet<String>, VecDeque<(SystemTime, String)>);

/// Every remembered key is younger than [`DEDUPE_WINDOW`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl Seen {
    /// An empty set on `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Mutex::default(),
            clock,
        }
    }

    /// Records `key`; `Ok(true)` if it had been seen before.
    pub fn check_and_insert(&self, key: &str) -> Result<bool, Full> {
        let now = self.clock.now();
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (set, order) = &mut *guard;
        if set.contains(key) {
            return Ok(true);
        }
        while let Some((at, old)) = order.front() {
            if now.duration_since(*at).unwrap_or_default() <= DEDUPE_WINDOW {
                break;
            }
            set.remove(old);
            order.pop_front();
        }
        if order.len() >= SEEN_CAPACITY {
            return Err(Full);
        }
        set.insert(key.to_owned());
        order.push_back((now, key.to_owned()));
        Ok(false)
    }
}

/// What happened to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The HTTP status sent.
    pub status: u16,
    /// The response body sent (the reason, for errors).
    pub reason: String,
    /// The one-line summary printed by the example.
    pub line: String,
}

/// A request as read off the wire.
#[derive(Debug)]
pub struct Request {
    /// Method, e.g. `POST`.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Raw body.
    pub body: Vec<u8>,
}

/// Reads one request; `Err((status, reason))` when it cannot be read.
pub fn read_request(stream: &mut TcpStream, max_body: usize) -> Result<Request, (u16, String)> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut reader = BufReader::new(stream.take((MAX_HEAD + max_body) as u64 + 1));
    let mut head_len = 0usize;
    let mut line = Vec::new();
    let mut next_line =
        |reader: &mut BufReader<_>, line: &mut Vec<u8>| -> Result<(), (u16, String)> {
            line.clear();
            let mut limited = (reader as &mut BufReader<_>).take((MAX_HEAD - head_len) as u64);
            let n = limited
                .read_until(b'\n', line)
                .map_err(|e| (400, format!("cannot read request: {e}")))?;
            head_len += n;
            if n == 0 || !line.ends_with(b"\n") {
                return Err((431, "request head too large or truncated".to_owned()));
            }
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                line.pop();
            }
            Ok(())
        };

    next_line(&mut reader, &mut line)?;
    let request_line = String::from_utf8_lossy(&line).into_owned();
    let mut parts = request_line.split(' ');
    let (method, target) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v)) if v.starts_with("HTTP/1.") => (m.to_owned(), t.to_owned()),
        _ => return Err((400, "malformed request line".to_owned())),
    };

    let mut headers = HeaderMap::new();
    loop {
        next_line(&mut reader, &mut line)?;
        if line.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err((431, "too many headers".to_owned()));
        }
        let colon = line
            .iter()
            .position(|b| *b == b':')
            .ok_or((400, "malformed header line".to_owned()))?;
        let name = HeaderName::from_bytes(line[..colon].trim_ascii())
            .map_err(|_| (400, "malformed header name".to_owned()))?;
        let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii())
            .map_err(|_| (400, "malformed header value".to_owned()))?;
        headers.append(name, value);
    }

    if headers.contains_key("transfer-encoding") {
        return Err((
            411,
            "chunked bodies are not supported, send content-length".to_owned(),
        ));
    }
    let len = match headers.get("content-length") {
        None => 0,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or((400, "malformed content-length".to_owned()))?,
    };
    if len > max_body {
        return Err((413, format!("body is {len} bytes, the limit is {max_body}")));
    }
    let mut body = vec![0u8; len];
    reader
        .read_exact(&mut body)
        .map_err(|e| (400, format!("cannot read body: {e}")))?;
    Ok(Request {
        method,
        target,
        headers,
        body,
    })
}

/// Verifies `request` and decides the answer.
pub fn handle(verifier: &Verifier, seen: &Seen, request: &Request) -> Outcome {
    let status_for = |e: &VerifyError| match e {
        VerifyError::InvalidJson { .. } => 400,
        VerifyError::BodyTooLarge { .. } => 413,
        _ => 401,
    };
    match verifier.verify_json::<serde_json::Value>(&request.headers, &request.body) {
        Err(e) => Outcome {
            status: status_for(&e),
            reason: e.to_string(),
            line: format!(
                "[{}] rejected {} {}: {e}",
                status_for(&e),
                request.method,
                request.target
            ),
        },
        Ok((verified, event)) => {
            // The key a signature covers, the same however the delivery is
            // replayed: never the (unsigned, for hex) `webhook-id` header.
            let Ok(duplicate) = seen.check_and_insert(&verified.dedupe_key) else {
                return Outcome {
                    status: 503,
                    reason: "busy".to_owned(),
                    line: format!("[503] busy: {} dedupe keys held", SEEN_CAPACITY),
                };
            };
            let what = summary(&event);
            let tag = if duplicate { "duplicate" } else { "verified" };
            Outcome {
                status: 200,
                reason: if duplicate { "duplicate" } else { "ok" }.to_owned(),
                line: format!(
                    "[200] {tag} {} via {}: {what}",
                    verified.id, verified.schemes
                ),
            }
        }
    }
}

fn str_of(v: &serde_json::Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// A readable one-line summary of an experience or journey event.
pub fn summary(event: &serde_json::Value) -> String {
    if let Some(action) = event.get("action").and_then(str_of) {
        let Some(exp) = event.get("experience") else {
            return format!("{action} (no experience: a connection test)");
        };
        let exp = Some(exp);
        let name = exp
            .and_then(|e| e.get("name"))
            .and_then(str_of)
            .unwrap_or_default();
        let id = exp
            .and_then(|e| e.get("id"))
            .and_then(str_of)
            .unwrap_or_default();
        let status = exp.and_then(|e| e.get("status")).and_then(str_of);
        let status = status
            .map(|st| format!(", status {st}"))
            .unwrap_or_default();
        return format!("{action} experience {name:?} ({id}{status})");
    }
    if let Some(title) = event.get("eventTitle").and_then(str_of) {
        let email = event
            .pointer("/profile/email")
            .and_then(str_of)
            .unwrap_or_else(|| "(no email)".to_owned());
        return format!("{title} for {email}");
    }
    let keys: Vec<&str> = event
        .as_object()
        .map(|o| o.keys().map(String::as_str).take(5).collect())
        .unwrap_or_default();
    format!("unrecognised event with keys {keys:?}")
}

/// Writes a plain-text response and closes.
pub fn respond(stream: &mut TcpStream, status: u16, reason: &str) {
    let text = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        411 => "Length Required",
        413 => "Content Too Large",
        503 => "Service Unavailable",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let response = format!(
        "HTTP/1.1 {status} {text}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reason}",
        reason.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

/// Closes a connection whose request was refused before its body was read.
///
/// Closing a socket with unread data makes the kernel send a reset, which can
/// destroy the answer before the client reads it. So: stop writing, then read
/// and discard what the client still sends, for at most 2 s and 64 MiB.
pub fn drain_and_close(stream: &mut TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 16 * 1024];
    let mut total = 0usize;
    while total < 64 << 20 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}

/// Serves one connection: read, verify, answer. Returns the summary line.
pub fn serve_one(
    mut stream: TcpStream,
    verifier: &Verifier,
    seen: &Seen,
    max_body: usize,
) -> String {
    match read_request(&mut stream, max_body) {
        Ok(request) => {
            let outcome = handle(verifier, seen, &request);
            respond(&mut stream, outcome.status, &outcome.reason);
            outcome.line
        }
        Err((status, reason)) => {
            respond(&mut stream, status, &reason);
            drain_and_close(&mut stream);
            format!("[{status}] unreadable request: {reason}")
        }
    }
}
