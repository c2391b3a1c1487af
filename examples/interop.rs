//! A small command-line face of hookwire's signing API, driven by
//! `tests/interop/run.sh` to check hookwire against third-party verifiers.
//!
//! ```text
//! interop sign-hex <raw-secret> <body-file>
//! interop sign-standard <whsec-secret>[,<old-whsec-secret>...] <id> <timestamp> <body-file>
//! interop verify-hex <raw-secret> <hex-signature> <body-file>
//! interop verify-standard <whsec-secret> <id> <timestamp> <signature> <body-file> [now]
//! ```
//!
//! `sign-*` print the signature; `verify-*` exit 0 and print `ok`, or exit 1
//! and print the reason. `now` (Unix seconds) defaults to the system clock.

use std::process::ExitCode;

use hookwire::clock::ManualClock;
use hookwire::http::{HeaderMap, HeaderValue};
use hookwire::id::DeliveryId;
use hookwire::signature::{Schemes, Signer, SigningSecret, Verifier};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("interop: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))
}

fn whsec(s: &str) -> Result<SigningSecret, String> {
    s.parse().map_err(|e| format!("{e}"))
}

fn raw(s: &str) -> Result<SigningSecret, String> {
    SigningSecret::from_raw_str(s).map_err(|e| format!("{e}"))
}

fn header(s: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(s).map_err(|e| format!("{e}"))
}

fn run(args: &[String]) -> Result<String, String> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["sign-hex", secret, body] => Ok(Signer::new(raw(secret)?).hex_signature(&read(body)?)),
        ["sign-standard", secrets, id, ts, body] => {
            let mut secrets = secrets.split(',');
            let mut signer = Signer::new(whsec(secrets.next().unwrap_or_default())?);
            for old in secrets {
                signer = signer
                    .with_previous(whsec(old)?)
                    .map_err(|e| e.to_string())?;
            }
            let id = DeliveryId::new(*id).map_err(|e| e.to_string())?;
            let ts: i64 = ts.parse().map_err(|_| "bad timestamp".to_owned())?;
            let mut headers = HeaderMap::new();
            signer.sign_into(&mut headers, Schemes::STANDARD, &id, ts, &read(body)?);
            let sig = &headers[hookwire::signature::HEADER_WEBHOOK_SIGNATURE];
            Ok(sig.to_str().map_err(|e| e.to_string())?.to_owned())
        }
        ["verify-hex", secret, sig, body] => {
            let mut headers = HeaderMap::new();
            headers.insert("x-intelligems-signature", header(sig)?);
            // Signature interop on fixed fixtures and random bytes: they carry
            // no (or an old) `timestamp`, which the replay check would refuse.
            Verifier::new(raw(secret)?)
                .with_schemes(Schemes::HEX)
                .with_body_timestamp_check(false)
                .verify(&headers, &read(body)?)
                .map(|_| "ok".to_owned())
                .map_err(|e| e.to_string())
        }
        ["verify-standard", secret, id, ts, sig, body, rest @ ..] => {
            let mut headers = HeaderMap::new();
            headers.insert("webhook-id", header(id)?);
            headers.insert("webhook-timestamp", header(ts)?);
            headers.insert("webhook-signature", header(sig)?);
            let mut verifier = Verifier::new(whsec(secret)?).with_schemes(Schemes::STANDARD);
            if let [now] = rest {
                let now: u64 = now.parse().map_err(|_| "bad now".to_owned())?;
                verifier = verifier.with_clock(ManualClock::at_unix(now));
            }
            verifier
                .verify(&headers, &read(body)?)
                .map(|v| format!("ok {}", v.id))
                .map_err(|e| e.to_string())
        }
        _ => Err("usage: see examples/interop.rs".to_owned()),
    }
}
