//! Arbitrary headers and bodies through `Verifier`, with every scheme (hex,
//! `v1`, `v1a` beside `v1`), checking that it never panics and that a
//! verified request really was signed.
#![no_main]

use std::time::Duration;

use hookwire::clock::ManualClock;
use hookwire::http::{HeaderMap, HeaderName, HeaderValue};
use hookwire::id::DeliveryId;
use hookwire::signature::{Ed25519SecretKey, Schemes, Signer, SigningSecret, Verifier};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 4] = [
    "x-intelligems-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let secret = SigningSecret::from_raw_str("fuzz-secret").unwrap();
    let key = Ed25519SecretKey::from_seed(&[7u8; 32]);
    let schemes = match mode & 3 {
        0 => Schemes::HEX,
        1 => Schemes::STANDARD,
        2 => Schemes::BOTH,
        _ => Schemes::STANDARD | Schemes::V1A,
    };
    let now = 1_700_000_000u64;
    let verifier = Verifier::new(secret.clone())
        .with_secret(SigningSecret::from_raw_str("other").unwrap())
        .with_public_key(key.public_key())
        .with_schemes(schemes)
        .with_tolerance(Duration::from_secs(u64::from(mode >> 4) * 60))
        .with_max_body_size(4096)
        .with_body_timestamp_check(mode & 8 != 0)
        .with_clock(ManualClock::at_unix(now));

    // Up to four header values separated by 0xff, then the body.
    let mut parts = rest.splitn(5, |b| *b == 0xff);
    let mut headers = HeaderMap::new();
    let values: Vec<&[u8]> = (0..4).map(|_| parts.next().unwrap_or(b"")).collect();
    let body = parts.next().unwrap_or(b"");

    if mode & 4 != 0 {
        // Start from a validly signed request, then overwrite some headers.
        let id = DeliveryId::new("dlv_fuzz").unwrap();
        let signer = Signer::new(secret).with_current(key).unwrap();
        signer.sign_into(
            &mut headers,
            Schemes::BOTH | Schemes::V1A,
            &id,
            now as i64,
            body,
        );
        assert!(verifier.verify(&headers, body).is_ok() || body.len() > 4096 || mode & 8 != 0);
    }
    for (name, value) in NAMES.iter().zip(values) {
        if value.is_empty() {
            continue;
        }
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.append(HeaderName::from_static(name), v);
        }
    }
    if let Ok(verified) = verifier.verify(&headers, body) {
        assert!(verified.schemes.hex || verified.schemes.standard || verified.schemes.v1a);
        assert!(!verified.id.is_empty());
    }
    let _ = verifier.verify_json::<serde_json::Value>(&headers, body);
});
