//! A local webhook receiver that verifies every request.
//!
//! ```text
//! cargo run --example listen -- --secret <secret> [--port 8787] [--scheme hex|standard|both|v1a]
//! ```
//!
//! `--secret` is either a Standard Webhooks secret (`whsec_<base64>`, base64
//! decoded), an Ed25519 public key (`whpk_<base64>`, with `--scheme v1a`;
//! build with `--features ed25519`) or any other string, used as raw bytes
//! (as the hex scheme's Node.js receiver does). It listens on 127.0.0.1 only, answers `401` with the reason
//! for a bad signature (or a hex-signed body whose `timestamp` is more than 6
//! hours old: a replay), `400` for a body that is not JSON, `200` otherwise,
//! and prints one line per request. Requests are deduplicated on
//! `Verified::dedupe_key` (derived from the signed body, the same on every
//! retry and however a replay's headers are changed), remembered 6 hours and
//! 5 minutes: a redelivery is answered `200` and printed as a duplicate.

mod server;

use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;

use hookwire::signature::{Schemes, SigningSecret, Verifier, DEFAULT_MAX_BODY_SIZE};

const USAGE: &str =
    "usage: listen --secret <whsec_...|whpk_...|raw string> [--port N] [--scheme hex|standard|both|v1a]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("listen: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut secret = None;
    let mut port = 8787u16;
    let mut schemes = Schemes::BOTH;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--secret" => secret = Some(value()?),
            "--port" => {
                port = value()?
                    .parse()
                    .map_err(|_| "--port must be a number".to_owned())?
            }
            "--scheme" => schemes = value()?.parse().map_err(|e| format!("{e}"))?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let secret = secret.ok_or("--secret is required")?;
    let verifier = Arc::new(verifier_for(&secret, schemes)?);
    let seen = Arc::new(server::Seen::default());

    let listener = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| format!("cannot listen on port {port}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on http://{addr} (schemes: {schemes}); ctrl-c to stop");
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let (verifier, seen) = (Arc::clone(&verifier), Arc::clone(&seen));
        std::thread::spawn(move || {
            println!(
                "{}",
                server::serve_one(stream, &verifier, &seen, DEFAULT_MAX_BODY_SIZE)
            );
        });
    }
    Ok(())
}

/// The verifier for `--secret` and `--scheme`: a `whpk_` public key verifies
/// `v1a` entries; any other secret is an HMAC secret for `server::verifier`.
fn verifier_for(secret: &str, schemes: Schemes) -> Result<Verifier, String> {
    if secret.starts_with("whpk_") || secret.starts_with("whsk_") {
        return public_key_verifier(secret, schemes);
    }
    let secret = if secret.starts_with("whsec_") {
        secret.parse::<SigningSecret>().map_err(|e| e.to_string())?
    } else {
        SigningSecret::from_raw_str(secret).map_err(|e| e.to_string())?
    };
    Ok(server::verifier(secret, schemes))
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
