//! The `listen` example's receiver: an axum app over hookwire's
//! [`Webhook`] extractor, and a hyper server with limits. Shared with
//! `tests/signature_listen.rs`; not part of hookwire's API.
// This program runs on the wall clock; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use hookwire::clock::Clock;
use hookwire::receive::{
    axum::Webhook, DedupeError, Duplicates, MemoryDedupe, Receiver, Rejection,
};
use hookwire::signature::{
    Schemes, SigningSecret, Verifier, DEFAULT_BODY_TOLERANCE, DEFAULT_TOLERANCE,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// The verifier `listen` runs, from its `--secret` and `--scheme` flags:
/// hookwire's defaults (the hex scheme's body timestamp checked, 6 hours
/// back). `secret` is a Standard Webhooks secret (`whsec_<base64>`) or any
/// other string, used as raw bytes (as the hex scheme's Node.js receiver does).
pub fn verifier(secret: &str, scheme: &str) -> Result<Verifier, String> {
    let schemes: Schemes = scheme.parse().map_err(|e| format!("{e}"))?;
    if secret.starts_with("whpk_") || secret.starts_with("whsk_") {
        return public_key_verifier(secret, schemes);
    }
    let secret = match secret.starts_with("whsec_") {
        true => secret.parse::<SigningSecret>(),
        false => SigningSecret::from_raw_str(secret),
    }
    .map_err(|e| e.to_string())?;
    Ok(Verifier::new(secret).with_schemes(schemes))
}

/// A receiver holding only a public key (a `whsk_` secret key is refused:
/// a receiver should never hold it).
#[cfg(feature = "ed25519")]
fn public_key_verifier(key: &str, schemes: Schemes) -> Result<Verifier, String> {
    let key: hookwire::signature::Ed25519PublicKey =
        key.parse().map_err(|e| format!("--secret: {e}"))?;
    if !schemes.v1a {
        return Err(
            "a whpk_ public key verifies v1a signatures only: pass --scheme v1a".to_owned(),
        );
    }
    Ok(Verifier::from_public_key(key).with_schemes(schemes))
}

#[cfg(not(feature = "ed25519"))]
fn public_key_verifier(_: &str, _: Schemes) -> Result<Verifier, String> {
    Err("--secret: a whpk_ key needs the ed25519 feature (cargo run --features ed25519 --example listen)".to_owned())
}

/// How long a dedupe key is remembered: as long as the verifier accepts a
/// replay of the same body (its body timestamp tolerance, plus the clock
/// tolerance for a sender whose clock runs ahead).
pub const DEDUPE_WINDOW: Duration = DEFAULT_BODY_TOLERANCE.saturating_add(DEFAULT_TOLERANCE);
/// How many dedupe keys are remembered at most (then 503, never forgetting early).
pub const SEEN_CAPACITY: usize = 100_000;
/// Connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 256;
/// Requests handled at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// The time a client has to send a request's head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The time a request has from its head to its answer (the body included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a connection is kept, whatever it does.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// The most bytes of a request head buffered.
pub const MAX_HEAD: usize = 16 * 1024;

/// Where the one-line summaries go (stdout in the example).
pub type Log = Arc<dyn Fn(String) + Send + Sync>;

/// The receiver: `verifier`, a [`MemoryDedupe`] on `clock` remembering keys
/// [`DEDUPE_WINDOW`], duplicates handed to the handler (to print them).
pub fn receiver(verifier: Verifier, clock: impl Clock + 'static) -> Receiver {
    let dedupe = MemoryDedupe::with_limits(SEEN_CAPACITY, DEDUPE_WINDOW).with_clock(clock);
    Receiver::builder(verifier)
        .dedupe(dedupe)
        .duplicates(Duplicates::Deliver)
        .build()
        .expect("the window covers the default verifier's")
}

#[derive(Clone)]
struct Listen {
    receiver: Receiver,
}

impl FromRef<Listen> for Receiver {
    fn from_ref(state: &Listen) -> Receiver {
        state.receiver.clone()
    }
}

/// The app: every path and method, verified; `REQUEST_TIMEOUT`, the
/// verifier's body limit and `MAX_IN_FLIGHT` enforced by tower layers; one
/// line logged per request, whoever answered it.
pub fn app(receiver: Receiver, log: Log) -> Router {
    let limit = receiver.max_body_size();
    Router::new()
        .fallback(any(handle))
        .with_state(Listen { receiver })
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(middleware::from_fn_with_state(log, log_line))
        .layer(GlobalConcurrencyLimitLayer::new(MAX_IN_FLIGHT))
}

/// The line the handler wrote for its answer.
#[derive(Clone)]
struct Line(String);

/// Logs one line per request, escaped: the handler's, or (for an answer a
/// layer gave: too large, too slow) the status and the request.
async fn log_line(State(log): State<Log>, request: Request, next: Next) -> Response {
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let response = next.run(request).await;
    let line = match response.extensions().get::<Line>() {
        Some(Line(line)) => line.clone(),
        None => format!("[{}] refused {method} {uri}", response.status().as_u16()),
    };
    log(escaped(&line));
    response
}

async fn handle(
    method: Method,
    uri: Uri,
    webhook: Result<Webhook<serde_json::Value>, Rejection>,
) -> Response {
    let (status, body, line) = match webhook {
        Ok(webhook) => {
            let tag = if webhook.duplicate {
                "duplicate"
            } else {
                "verified"
            };
            let line = format!(
                "[200] {tag} {} via {}: {}",
                webhook.verified.id,
                webhook.verified.schemes,
                summary(&webhook.payload)
            );
            (
                StatusCode::OK,
                if webhook.duplicate { "duplicate" } else { "ok" }.to_owned(),
                line,
            )
        }
        Err(Rejection::Dedupe(DedupeError::Full { capacity })) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "busy".to_owned(),
            format!("[503] busy: {capacity} dedupe keys held"),
        ),
        // A local debugging tool: the reason goes back to the sender too.
        Err(rejection) => {
            let status = rejection.status();
            let line = format!("[{}] rejected {method} {uri}: {rejection}", status.as_u16());
            (status, rejection.to_string(), line)
        }
    };
    let mut response = (status, body).into_response();
    response.extensions_mut().insert(Line(line));
    response
}

/// `text` with every control character (terminal escapes included) and
/// bidirectional override written as a `\u{..}` escape: request targets,
/// ids and payload text reach a terminal as plain text.
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Serves `app` on `listener` until the process ends: at most
/// [`MAX_CONNECTIONS`] connections, hyper's strict HTTP/1.1 parsing (heads up
/// to [`MAX_HEAD`] read within [`HEADER_TIMEOUT`]), each connection kept at
/// most [`CONNECTION_LIFETIME`].
pub async fn serve(listener: TcpListener, app: Router) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEAD);
            let connection = http.serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
            drop(slot);
        });
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
