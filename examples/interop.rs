//! A small command-line face of hookwire's signing API, driven by
//! `tests/interop/run.sh` to check hookwire against third-party verifiers.
//!
//! ```text
//! interop sign-hex <raw-secret> <body-file>
//! interop sign-standard <whsec-secret>[,<old-whsec-secret>...] <id> <timestamp> <body-file>
//! interop verify-hex <raw-secret> <hex-signature> <body-file>
//! interop verify-standard <whsec-secret> <id> <timestamp> <signature> <body-file> [now]
//! interop sign-v1a <whsk-key> <id> <timestamp> <body-file>
//! interop verify-v1a <whpk-key> <id> <timestamp> <signature> <body-file> [now]
//! interop post-v1a <http-url> <whsk-key> <id> <body-file> [signed-body-file]
//! ```
//!
//! `sign-*` print the signature; `verify-*` exit 0 and print `ok`, or exit 1
//! and print the reason. `now` (Unix seconds) defaults to the system clock.
//! `post-v1a` signs `signed-body-file` (default: the body itself) with
//! hookwire at the system clock's now, POSTs the body over HTTP/1.1 to a
//! loopback receiver, prints the status and exits 0 for a 2xx. The `v1a`
//! commands need `--features ed25519`.

use std::process::ExitCode;

#[cfg(feature = "ed25519")]
use hookwire::clock::Clock;
use hookwire::clock::ManualClock;
use hookwire::http::{HeaderMap, HeaderValue};
use hookwire::id::DeliveryId;
use hookwire::signature::{Schemes, Signer, SigningSecret, Verifier};

const HELP: &str = "\
interop: hookwire's signing and verifying from the command line, for checks against other verifiers

usage: interop COMMAND ARGS...

commands:
  sign-hex <raw-secret> <body-file>
  sign-standard <whsec-secret>[,<old-whsec-secret>...] <id> <timestamp> <body-file>
  verify-hex <raw-secret> <hex-signature> <body-file>
  verify-standard <whsec-secret> <id> <timestamp> <signature> <body-file> [now]
  sign-v1a <whsk-key> <id> <timestamp> <body-file>                       (--features ed25519)
  verify-v1a <whpk-key> <id> <timestamp> <signature> <body-file> [now]   (--features ed25519)
  post-v1a <http-url> <whsk-key> <id> <body-file> [signed-body-file]     (--features ed25519)

flags:
  -h, --help   print this help and exit

sign-* print the signature; verify-* print ok and exit 0, or the reason and exit 1";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(args.first().map(String::as_str), Some("-h" | "--help")) {
        println!("{HELP}");
        return ExitCode::SUCCESS;
    }
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
        ["sign-hex", secret, body] => Signer::new(raw(secret)?)
            .hex_signature(&read(body)?)
            .ok_or_else(|| "no secret".to_owned()),
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
        ["sign-v1a" | "verify-v1a" | "post-v1a", ..] => v1a(&a),
        _ => Err("usage: see examples/interop.rs".to_owned()),
    }
}

#[cfg(not(feature = "ed25519"))]
fn v1a(_: &[&str]) -> Result<String, String> {
    Err("the v1a commands need the `ed25519` feature: cargo build --features ed25519 --example interop".to_owned())
}

#[cfg(feature = "ed25519")]
fn v1a(a: &[&str]) -> Result<String, String> {
    use hookwire::signature::{Ed25519PublicKey, Ed25519SecretKey};
    let secret = |s: &str| s.parse::<Ed25519SecretKey>().map_err(|e| e.to_string());
    let id = |s: &str| DeliveryId::new(s).map_err(|e| e.to_string());
    let ts = |s: &str| s.parse::<i64>().map_err(|_| "bad timestamp".to_owned());
    match a {
        ["sign-v1a", key, msg_id, at, body] => {
            let signer = Signer::from_key(secret(key)?);
            Ok(signer.v1a_signature(&id(msg_id)?, ts(at)?, &read(body)?))
        }
        ["verify-v1a", key, msg_id, at, sig, body, rest @ ..] => {
            let key: Ed25519PublicKey = key.parse().map_err(|e| format!("{e}"))?;
            let mut headers = HeaderMap::new();
            headers.insert("webhook-id", header(msg_id)?);
            headers.insert("webhook-timestamp", header(at)?);
            headers.insert("webhook-signature", header(sig)?);
            let mut verifier = Verifier::from_public_key(key);
            if let [now] = rest {
                let now: u64 = now.parse().map_err(|_| "bad now".to_owned())?;
                verifier = verifier.with_clock(ManualClock::at_unix(now));
            }
            verifier
                .verify(&headers, &read(body)?)
                .map(|v| format!("ok {}", v.id))
                .map_err(|e| e.to_string())
        }
        ["post-v1a", url, key, msg_id, body, rest @ ..] => {
            let body = read(body)?;
            let signed = match rest {
                [signed] => read(signed)?,
                _ => body.clone(),
            };
            let now = hookwire::clock::unix_secs(hookwire::clock::SystemClock.now());
            let mut headers = HeaderMap::new();
            Signer::from_key(secret(key)?).sign_into(
                &mut headers,
                Schemes::V1A,
                &id(msg_id)?,
                now,
                &signed,
            );
            let status = post(url, &headers, &body)?;
            if (200..300).contains(&status) {
                Ok(format!("{status}"))
            } else {
                Err(format!("answered {status}"))
            }
        }
        _ => Err("usage: see examples/interop.rs".to_owned()),
    }
}

/// POSTs `body` with `headers` to a plain `http://host:port/path` URL and
/// returns the response's status (one request, `connection: close`).
#[cfg(feature = "ed25519")]
fn post(url: &str, headers: &HeaderMap, body: &[u8]) -> Result<u16, String> {
    use std::io::{Read, Write};
    let rest = url
        .strip_prefix("http://")
        .ok_or("post-v1a takes an http:// URL")?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let mut stream =
        std::net::TcpStream::connect(authority).map_err(|e| format!("connect {authority}: {e}"))?;
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        let value = value.to_str().map_err(|e| e.to_string())?;
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let line = response.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    line.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no HTTP status in {line:?}"))
}
