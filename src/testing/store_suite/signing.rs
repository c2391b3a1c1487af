//! Signing keys: every key of an endpoint's signer, current and previous,
//! comes back with its rotation schedule, and a later rotation replaces it.

use super::{assert_empty, endpoint_id, ok, START_UNIX};
use crate::endpoint::{Endpoint, Signing};
use crate::signature::{PreviousKey, Schemes, Signer, SigningSecret, DEFAULT_ROTATION_GRACE};
use crate::store::Store;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn hmac(byte: u8, len: usize) -> SigningSecret {
    SigningSecret::from_bytes(vec![byte; len]).expect("valid secret")
}

#[cfg(feature = "ed25519")]
fn ed25519(byte: u8) -> crate::signature::Ed25519SecretKey {
    crate::signature::Ed25519SecretKey::from_seed(&[byte; 32])
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(START_UNIX + secs)
}

/// The schemes the check signs with: every one this build can sign.
fn schemes() -> Schemes {
    #[cfg(feature = "ed25519")]
    return Schemes::BOTH | Schemes::V1A;
    #[cfg(not(feature = "ed25519"))]
    Schemes::BOTH
}

async fn put_and_read(store: &dyn Store, check: &str, signer: Signer) -> Signer {
    let endpoint = Endpoint::builder("ep_keys", "http://127.0.0.1:9/ep_keys")
        .signing_with(Signing::new(signer, schemes()))
        .build()
        .expect("valid endpoint");
    ok(check, "put_endpoint", store.put_endpoint(endpoint).await);
    let got = ok(
        check,
        "endpoint",
        store.endpoint(&endpoint_id("ep_keys")).await,
    );
    let got = got
        .unwrap_or_else(|| panic!("store conformance check `{check}` failed: ep_keys not found"));
    let signing = got.signing.unwrap_or_else(|| {
        panic!("store conformance check `{check}` failed: the signing was lost")
    });
    ensure_eq!(
        check,
        signing.schemes,
        schemes(),
        "the schemes were not kept"
    );
    signing.signer
}

/// An endpoint's keys come back as put: the current HMAC secret (and, with
/// the `ed25519` feature, Ed25519 key), each previous key with its expiry
/// (whole seconds) or none, in order; a later rotation, put again, drops
/// the keys expired by then and keeps the new schedule.
pub async fn signing_keys_keep_their_rotation_schedule(store: &dyn Store) {
    const C: &str = "signing_keys_keep_their_rotation_schedule";
    assert_empty(store, C).await;
    let signer = Signer::new(hmac(2, 24))
        .with_previous(hmac(3, 40))
        .and_then(|s| s.rotate(hmac(1, 32), at(0), DEFAULT_ROTATION_GRACE))
        .expect("a valid rotation");
    #[cfg(feature = "ed25519")]
    let signer = signer
        .with_current(ed25519(5))
        .and_then(|s| s.rotate(ed25519(6), at(10), Duration::from_secs(3600)))
        .expect("a valid rotation");
    let got = put_and_read(store, C, signer).await;
    ensure_eq!(
        C,
        got.current(),
        Some(&hmac(1, 32)),
        "the current secret was not kept"
    );
    ensure_eq!(
        C,
        got.previous(),
        &[
            PreviousKey::new(hmac(3, 40), None),
            PreviousKey::new(hmac(2, 24), Some(at(86_400))),
        ][..],
        "the previous secrets and their expiries were not kept"
    );
    #[cfg(feature = "ed25519")]
    {
        ensure_eq!(
            C,
            got.current_ed25519(),
            Some(&ed25519(6)),
            "the current Ed25519 key was not kept"
        );
        ensure_eq!(
            C,
            got.previous_ed25519(),
            &[PreviousKey::new(ed25519(5), Some(at(3610)))][..],
            "the previous Ed25519 keys and their expiries were not kept"
        );
    }

    // A day later: the first rotation's keys have expired and are dropped.
    let again = got
        .rotate(hmac(4, 64), at(86_400), Duration::from_secs(60))
        .expect("a valid rotation");
    let got = put_and_read(store, C, again).await;
    ensure_eq!(
        C,
        got.current(),
        Some(&hmac(4, 64)),
        "the new current secret was not kept"
    );
    ensure_eq!(
        C,
        got.previous(),
        &[
            PreviousKey::new(hmac(3, 40), None),
            PreviousKey::new(hmac(1, 32), Some(at(86_460))),
        ][..],
        "a replacing put must keep the new schedule only"
    );
    #[cfg(feature = "ed25519")]
    ensure!(
        C,
        got.previous_ed25519().is_empty(),
        "an Ed25519 key expired at the rotation must be gone"
    );
}
