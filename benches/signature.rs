//! Signing and verification throughput against the ceiling (raw HMAC-SHA256
//! with `hmac` + `sha2`) and two peers (`standardwebhooks`, `svix`), on the
//! same bytes. Reproduce with `cargo bench --bench signature -- --quick`.
//!
//! With `--features ed25519`, the `v1a_sign/*` and `v1a_verify/*` groups put
//! hookwire's `v1a` beside ed25519-dalek alone on the same message
//! (`cargo bench --bench signature --features ed25519 -- v1a --quick`).
#![allow(missing_docs)]
// This program measures real time; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, Mac};
use hookwire::http::HeaderMap;
use hookwire::id::DeliveryId;
use hookwire::signature::{Schemes, Signer, SigningSecret, Verifier};
use sha2::Sha256;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";

/// ASCII JSON-ish bodies (the peers' `sign` requires UTF-8). The 6 KiB case is
/// a real seed payload.
fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    let filler = |n: usize| {
        let unit = br#"{"action":"updateExperience","experience":{"name":"Price test","status":"started"}},"#;
        unit.iter().copied().cycle().take(n).collect::<Vec<u8>>()
    };
    let seed = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/experience/startExperience.json"
    ))
    .unwrap_or_else(|_| filler(6 * 1024));
    vec![
        ("1KiB", filler(1024)),
        ("6KiB", seed),
        ("64KiB", filler(64 * 1024)),
        ("1MiB", filler(1024 * 1024)),
    ]
}

fn raw_hmac(key: &[u8], body: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().into()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sign(c: &mut Criterion) {
    let secret: SigningSecret = SECRET.parse().unwrap();
    let key = secret.expose_bytes().to_vec();
    let signer = Signer::new(secret);
    let id = DeliveryId::new(ID).unwrap();
    let peer_sw = standardwebhooks::Webhook::new(SECRET).unwrap();
    let peer_svix = svix::webhooks::Webhook::new(SECRET).unwrap();
    let ts = 1_700_000_000;
    for (name, body) in bodies() {
        let mut g = c.benchmark_group(format!("sign/{name}"));
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function("raw_hmac_sha256", |b| {
            b.iter(|| raw_hmac(black_box(&key), black_box(&body)))
        });
        let mut headers = HeaderMap::new();
        g.bench_function("hookwire_hex", |b| {
            b.iter(|| signer.sign_into(&mut headers, Schemes::HEX, &id, ts, black_box(&body)))
        });
        g.bench_function("hookwire_standard", |b| {
            b.iter(|| signer.sign_into(&mut headers, Schemes::STANDARD, &id, ts, black_box(&body)))
        });
        g.bench_function("standardwebhooks", |b| {
            b.iter(|| peer_sw.sign(ID, ts, black_box(&body)).unwrap())
        });
        g.bench_function("svix", |b| {
            b.iter(|| peer_svix.sign(ID, ts, black_box(&body)).unwrap())
        });
        g.finish();
    }
}

fn verify(c: &mut Criterion) {
    let secret: SigningSecret = SECRET.parse().unwrap();
    let key = secret.expose_bytes().to_vec();
    let signer = Signer::new(secret.clone());
    let id = DeliveryId::new(ID).unwrap();
    let peer_sw = standardwebhooks::Webhook::new(SECRET).unwrap();
    let peer_svix = svix::webhooks::Webhook::new(SECRET).unwrap();
    // The bodies here carry no `timestamp`: the replay check is off, so the
    // bench measures the signature check (and the dedupe key's SHA-256).
    let hex = Verifier::new(secret.clone())
        .with_schemes(Schemes::HEX)
        .with_body_timestamp_check(false)
        .with_max_body_size(2 << 20);
    let standard = Verifier::new(secret)
        .with_schemes(Schemes::STANDARD)
        .with_max_body_size(2 << 20);
    for (name, body) in bodies() {
        // Timestamps are "now": every verifier checks against the system clock.
        let mut headers = HeaderMap::new();
        signer.sign_into(&mut headers, Schemes::BOTH, &id, now(), &body);
        let expected = raw_hmac(&key, &body);
        let mut g = c.benchmark_group(format!("verify/{name}"));
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function("raw_hmac_sha256", |b| {
            b.iter(|| {
                let mut mac = Hmac::<Sha256>::new_from_slice(black_box(&key)).unwrap();
                mac.update(black_box(&body));
                mac.verify_slice(&expected).is_ok()
            })
        });
        g.bench_function("hookwire_hex", |b| {
            b.iter(|| hex.verify(&headers, black_box(&body)).unwrap())
        });
        g.bench_function("hookwire_standard", |b| {
            b.iter(|| standard.verify(&headers, black_box(&body)).unwrap())
        });
        g.bench_function(BenchmarkId::new("standardwebhooks", "verify"), |b| {
            b.iter(|| peer_sw.verify(black_box(&body), &headers).unwrap())
        });
        g.bench_function(BenchmarkId::new("svix", "verify"), |b| {
            b.iter(|| peer_svix.verify(black_box(&body), &headers).unwrap())
        });
        g.finish();
    }
}

/// `v1a` (Ed25519) sign and verify beside ed25519-dalek alone, which gets
/// the signed content `id.timestamp.body` already in one buffer.
#[cfg(feature = "ed25519")]
fn v1a(c: &mut Criterion) {
    use ed25519_dalek::Signer as _;
    use hookwire::signature::Ed25519SecretKey;
    use sha2::Digest;

    let seed = [42u8; 32];
    let key = Ed25519SecretKey::from_seed(&seed);
    let dalek = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public = dalek.verifying_key();
    let signer = Signer::from_key(key.clone());
    let verifier = Verifier::from_public_key(key.public_key()).with_max_body_size(2 << 20);
    let id = DeliveryId::new(ID).unwrap();
    for (name, body) in bodies() {
        let ts = now();
        let message = [format!("{ID}.{ts}.").as_bytes(), &body].concat();
        let mut g = c.benchmark_group(format!("v1a_sign/{name}"));
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function("ed25519_dalek", |b| {
            b.iter(|| dalek.sign(black_box(&message)))
        });
        let mut headers = HeaderMap::new();
        g.bench_function("hookwire_v1a", |b| {
            b.iter(|| signer.sign_into(&mut headers, Schemes::V1A, &id, ts, black_box(&body)))
        });
        g.finish();

        let signature = dalek.sign(&message);
        let mut headers = HeaderMap::new();
        signer.sign_into(&mut headers, Schemes::V1A, &id, ts, &body);
        let mut g = c.benchmark_group(format!("v1a_verify/{name}"));
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function("ed25519_dalek", |b| {
            b.iter(|| {
                public
                    .verify_strict(black_box(&message), &signature)
                    .is_ok()
            })
        });
        // What `Verifier::verify` adds on top of the signature: the dedupe
        // key's SHA-256 of the body (`Verified::dedupe_key`).
        g.bench_function("ed25519_dalek_and_dedupe_sha256", |b| {
            b.iter(|| {
                let ok = public
                    .verify_strict(black_box(&message), &signature)
                    .is_ok();
                (ok, sha2::Sha256::digest(black_box(&body)))
            })
        });
        g.bench_function("hookwire_v1a", |b| {
            b.iter(|| verifier.verify(&headers, black_box(&body)).unwrap())
        });
        g.finish();
    }
}

#[cfg(not(feature = "ed25519"))]
fn v1a(_: &mut Criterion) {}

criterion_group!(benches, sign, verify, v1a);
criterion_main!(benches);
