//! The connection test from the command line: deliver one event through the
//! full pipeline (store, dispatcher, signing, retry policy, HTTP) and print
//! every attempt.
//!
//! ```text
//! cargo run --example send -- --url URL --secret SECRET [--secret SECRET] \
//!     [--scheme hex|standard|both|v1a|standard+v1a] [--event FILE.json] [--allow-private]
//! ```
//!
//! Without `--event`, a harmless test event is sent. `SECRET` is a `whsec_…`
//! secret (base64), a `whsk_…` Ed25519 secret key (for `--scheme v1a`; build
//! with `--features ed25519`) or any other string, used as raw bytes (as the
//! seed's Node.js verifier does). Give `--secret` twice (a `whsec_` and a
//! `whsk_`) to sign `v1` and `v1a` at once. Exits 0 when the delivery
//! succeeds, 1 when it ends dead, 2 on bad arguments.
// This program runs on the wall clock; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use hookwire::clock::{Clock, SystemClock};
use hookwire::dispatch::Dispatcher;
use hookwire::endpoint::Endpoint;
use hookwire::endpoint::Signing;
use hookwire::model::ConnectionTest;
use hookwire::retry::{Decision, Policy};
use hookwire::signature::{Schemes, Signer, SigningKey, SigningSecret};
use hookwire::store::{AttemptResult, DeliveryState, InMemoryStore, Store};
use hookwire::transport::ReqwestTransport;

struct Args {
    url: String,
    secrets: Vec<String>,
    schemes: Schemes,
    event: Option<String>,
    allow_private: bool,
}

const USAGE: &str = "usage: send --url URL --secret SECRET [--secret SECRET] [--scheme hex|standard|both|v1a|standard+v1a] [--event FILE.json] [--allow-private]";

const HELP: &str = "\
send: deliver one signed event (the connection test by default) to a URL and print every attempt

usage: send --url URL --secret SECRET [--secret SECRET] [--scheme SCHEME] [--event FILE.json] [--allow-private]

flags:
  --url URL          where to POST (http or https)
  --secret SECRET    whsec_... (base64), whsk_... (Ed25519, --features ed25519) or a raw string;
                     twice to sign v1 and v1a at once
  --scheme SCHEME    hex (default), standard, both, v1a or standard+v1a
  --event FILE.json  send this experience event instead of the connection test
  --allow-private    allow loopback and private targets (local receivers)
  -h, --help         print this help and exit

exit status: 0 delivered, 1 the delivery ended dead, 2 bad arguments";

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut url, mut secrets, mut schemes, mut event, mut allow_private) =
        (None, Vec::new(), Schemes::HEX, None, false);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--url" => url = Some(value("--url")?),
            "--secret" => secrets.push(value("--secret")?),
            "--scheme" => {
                schemes = value("--scheme")?
                    .parse()
                    .map_err(|e| format!("--scheme: {e}"))?
            }
            "--event" => event = Some(value("--event")?),
            "--allow-private" => allow_private = true,
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Args {
        url: url.ok_or_else(|| format!("--url is required\n{USAGE}"))?,
        secrets: match secrets.is_empty() {
            true => return Err(format!("--secret is required\n{USAGE}")),
            false => secrets,
        },
        schemes,
        event,
        allow_private,
    })
}

fn parse_secret(s: &str) -> Result<SigningKey, String> {
    if s.starts_with("whsec_") {
        s.parse::<SigningSecret>()
            .map(SigningKey::from)
            .map_err(|e| format!("--secret: {e}"))
    } else if s.starts_with("whsk_") || s.starts_with("whpk_") {
        parse_ed25519(s)
    } else {
        SigningSecret::from_raw_str(s)
            .map(SigningKey::from)
            .map_err(|e| format!("--secret: {e}"))
    }
}

/// A `whsk_` key (a `whpk_` public key is refused with the reason: it
/// cannot sign).
#[cfg(feature = "ed25519")]
fn parse_ed25519(s: &str) -> Result<SigningKey, String> {
    s.parse::<hookwire::signature::Ed25519SecretKey>()
        .map(SigningKey::from)
        .map_err(|e| format!("--secret: {e}"))
}

#[cfg(not(feature = "ed25519"))]
fn parse_ed25519(_: &str) -> Result<SigningKey, String> {
    Err("--secret: a whsk_ key needs the ed25519 feature (cargo run --features ed25519 --example send)".to_owned())
}

/// One signer holding every `--secret` as a current key (one of each kind).
fn signer(secrets: &[String]) -> Result<Signer, String> {
    let mut keys = secrets.iter().map(|s| parse_secret(s));
    let first = keys.next().ok_or("--secret is required")??;
    keys.try_fold(Signer::from_key(first), |signer, key| {
        signer.with_current(key?).map_err(|e| e.to_string())
    })
}

/// The event's kind, from its `action` or `eventTitle`.
fn event_kind(body: &[u8]) -> Result<String, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("--event: not JSON: {e}"))?;
    Ok(value
        .get("action")
        .or_else(|| value.get("eventTitle"))
        .and_then(|v| v.as_str())
        .unwrap_or("event")
        .to_owned())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        println!("{HELP}");
        return ExitCode::SUCCESS;
    }
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("send: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> Result<bool, String> {
    let args = parse_args()?;
    let signer = signer(&args.secrets)?;
    let (kind, body) = match &args.event {
        Some(path) => {
            let body = std::fs::read(path).map_err(|e| format!("--event {path}: {e}"))?;
            (event_kind(&body)?, body)
        }
        None => {
            // The connection test `Dispatcher::test_endpoint` sends.
            let test = ConnectionTest::new(SystemTime::now());
            let body = serde_json::to_vec(&test).map_err(|e| e.to_string())?;
            (ConnectionTest::ACTION.to_owned(), body)
        }
    };
    let endpoint = Endpoint::builder("ep_cli", args.url.as_str())
        .signing_with(Signing::new(signer, args.schemes))
        .build()
        .map_err(|e| e.to_string())?;
    // The default policy's attempts and timeout; delays shortened for a
    // command line (the default waits up to 2 h between attempts).
    let default = Policy::default();
    let policy = Policy::custom([1, 2, 4, 8].map(Duration::from_secs))
        .and_then(|p| p.with_timeout(default.timeout()))
        .map_err(|e| e.to_string())?;
    println!(
        "sending {kind} ({} bytes) to {}: {} attempts at most, {:?} timeout each, delays 1 s, 2 s, 4 s, 8 s",
        body.len(),
        endpoint.url,
        policy.max_attempts(),
        policy.timeout()
    );
    let transport = ReqwestTransport::builder()
        .build()
        .map_err(|e| e.to_string())?;
    let store = InMemoryStore::new();
    let dispatcher = Dispatcher::builder(transport, store.clone())
        .policy(policy)
        .allow_private_targets(args.allow_private)
        .build()
        .map_err(|e| e.to_string())?;
    dispatcher
        .add_endpoint(endpoint)
        .await
        .map_err(|e| e.to_string())?;
    let published = dispatcher
        .publish_json(&kind, body)
        .await
        .map_err(|e| e.to_string())?;
    let (id, _) = published
        .deliveries
        .first()
        .ok_or("no delivery was created")?
        .clone();
    println!("delivery {id}");
    loop {
        let report = dispatcher.run_due(1).await.map_err(|e| e.to_string())?;
        for a in &report.attempts {
            let what = match &a.result {
                AttemptResult::Response { status, body } => {
                    let text =
                        String::from_utf8_lossy(&body[..body.len().min(120)]).replace('\n', " ");
                    format!("HTTP {status} {text}")
                }
                AttemptResult::Error { kind, reason } => format!("no response ({kind}): {reason}"),
                _ => "unknown".to_owned(),
            };
            let next = match a.decision {
                Decision::Succeeded => "delivered".to_owned(),
                Decision::RetryIn(d) => format!("retry in {:.1} s", d.as_secs_f64()),
                Decision::DisableEndpoint => "endpoint gone: disabled".to_owned(),
                _ => "giving up".to_owned(),
            };
            println!(
                "attempt {}: {what} in {} ms -> {next}",
                a.attempt,
                a.duration.as_millis()
            );
        }
        let delivery = store
            .delivery(&id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("delivery vanished")?;
        match delivery.state {
            DeliveryState::Succeeded => return Ok(true),
            DeliveryState::Dead => {
                println!("delivery {id} is dead after {} attempts", delivery.attempts);
                return Ok(false);
            }
            _ => {
                let wait = delivery
                    .next_attempt_at
                    .duration_since(SystemClock.now())
                    .unwrap_or_default();
                tokio::time::sleep(wait).await;
            }
        }
    }
}
