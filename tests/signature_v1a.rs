//! Standard Webhooks `v1a` (Ed25519, feature `ed25519`): hookwire's
//! signatures checked by ed25519-dalek alone, signatures made outside
//! hookwire verified by it, mixed `v1`/`v1a` headers, public-key-only
//! receivers, refusals, and bad keys as typed errors.
#![cfg(feature = "ed25519")]

use base64::Engine as _;
use ed25519_dalek::Signer as _;
use hookwire::clock::ManualClock;
use hookwire::endpoint::{Endpoint, EndpointError, Signing};
use hookwire::http::{HeaderMap, HeaderValue};
use hookwire::id::DeliveryId;
use hookwire::signature::{
    Ed25519PublicKey, Ed25519SecretKey, KeyError, Schemes, SecretError, Signer, SigningSecret,
    Verifier, VerifyError,
};

const TS: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"action":"startExperience","timestamp":1700000000000}"#;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn id() -> DeliveryId {
    DeliveryId::new("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W").unwrap()
}

fn headers(sig: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("webhook-id", HeaderValue::from_str(id().as_str()).unwrap());
    h.insert("webhook-timestamp", HeaderValue::from(TS));
    h.insert("webhook-signature", HeaderValue::from_str(sig).unwrap());
    h
}

fn receiver(key: Ed25519PublicKey) -> Verifier {
    Verifier::from_public_key(key).with_clock(ManualClock::at_unix(TS as u64))
}

/// `v1a,` and a signature of `id.ts.body` made by ed25519-dalek alone.
fn foreign_v1a(seed: [u8; 32], body: &[u8]) -> String {
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let message = [format!("{}.{TS}.", id().as_str()).as_bytes(), body].concat();
    format!("v1a,{}", B64.encode(key.sign(&message).to_bytes()))
}

#[test]
fn hookwire_signatures_verify_with_ed25519_dalek_alone() {
    let seed = [42u8; 32];
    let key = Ed25519SecretKey::from_seed(&seed);
    let header = Signer::from_key(key.clone()).v1a_signature(&id(), TS, BODY);
    // Ed25519 is deterministic: the same bytes as a signature made outside.
    assert_eq!(header, foreign_v1a(seed, BODY));
    let sig = B64.decode(header.strip_prefix("v1a,").unwrap()).unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
    let public = ed25519_dalek::VerifyingKey::from_bytes(&key.public_key().to_bytes()).unwrap();
    let message = [format!("{}.{TS}.", id().as_str()).as_bytes(), BODY].concat();
    assert!(public.verify_strict(&message, &sig).is_ok());
    assert!(public.verify_strict(b"msg_x.1700000000.{}", &sig).is_err());
}

#[test]
fn a_public_key_verifies_foreign_signatures_and_refuses_tampering() {
    let seed = [7u8; 32];
    let public = Ed25519SecretKey::from_seed(&seed).public_key();
    let v = receiver(public);
    let verified = v.verify(&headers(&foreign_v1a(seed, BODY)), BODY).unwrap();
    assert_eq!(verified.schemes, Schemes::V1A);
    assert_eq!(verified.id, id().as_str());
    assert!(verified.timestamp.is_some());

    let refused = Err(VerifyError::NoMatchingSignature {
        name: "webhook-signature",
    });
    // A tampered body, another key, another id, another timestamp.
    assert_eq!(v.verify(&headers(&foreign_v1a(seed, BODY)), b"{}"), refused);
    assert_eq!(
        v.verify(&headers(&foreign_v1a([8u8; 32], BODY)), BODY),
        refused
    );
    let mut other_id = headers(&foreign_v1a(seed, BODY));
    other_id.insert("webhook-id", HeaderValue::from_static("msg_other"));
    assert_eq!(v.verify(&other_id, BODY), refused);
    let mut other_ts = headers(&foreign_v1a(seed, BODY));
    other_ts.insert("webhook-timestamp", HeaderValue::from(TS + 1));
    assert_eq!(v.verify(&other_ts, BODY), refused);
    // A flipped bit in the signature.
    let good = foreign_v1a(seed, BODY);
    let mut raw = B64.decode(&good[4..]).unwrap();
    raw[10] ^= 1;
    assert_eq!(
        v.verify(&headers(&format!("v1a,{}", B64.encode(raw))), BODY),
        refused
    );
}

#[test]
fn a_public_key_cannot_be_used_to_forge_a_v1_entry() {
    // Someone who knows the public key computes a `v1` HMAC keyed with it: a
    // receiver holding only the public key looks at `v1a` entries only.
    let key = Ed25519SecretKey::generate();
    let as_hmac = SigningSecret::from_bytes(key.public_key().to_bytes().to_vec()).unwrap();
    let forged = Signer::new(as_hmac).standard_signature(&id(), TS, BODY);
    assert_eq!(
        receiver(key.public_key()).verify(&headers(&forged), BODY),
        Err(VerifyError::NoMatchingSignature {
            name: "webhook-signature"
        })
    );
    // Nor does a hex header get a public-key receiver's attention.
    let mut hex = HeaderMap::new();
    hex.insert("x-intelligems-signature", HeaderValue::from_static("00"));
    assert_eq!(
        receiver(key.public_key()).verify(&hex, BODY),
        Err(VerifyError::MissingHeader {
            name: "webhook-signature"
        })
    );
}

#[test]
fn mixed_headers_verify_on_whichever_key_a_receiver_holds() {
    let secret = SigningSecret::generate();
    let key = Ed25519SecretKey::generate();
    let signer = Signer::new(secret.clone())
        .with_current(key.clone())
        .unwrap();
    let mut h = HeaderMap::new();
    signer.sign_into(&mut h, Schemes::STANDARD | Schemes::V1A, &id(), TS, BODY);
    let clock = ManualClock::at_unix(TS as u64);

    let v1_only = Verifier::new(secret.clone()).with_clock(clock.clone());
    assert_eq!(v1_only.verify(&h, BODY).unwrap().schemes, Schemes::STANDARD);
    let v1a_only = receiver(key.public_key());
    assert_eq!(v1a_only.verify(&h, BODY).unwrap().schemes, Schemes::V1A);
    // Holding both: `v1` is checked first (cheaper), `v1a` when it fails.
    let both = Verifier::new(secret)
        .with_public_key(key.public_key())
        .with_clock(clock);
    assert_eq!(both.schemes(), Schemes::BOTH | Schemes::V1A);
    assert_eq!(both.verify(&h, BODY).unwrap().schemes, Schemes::STANDARD);
    let mut v1a_entry_only = HeaderMap::new();
    Signer::from_key(key).sign_into(&mut v1a_entry_only, Schemes::V1A, &id(), TS, BODY);
    assert_eq!(
        both.verify(&v1a_entry_only, BODY).unwrap().schemes,
        Schemes::V1A
    );
    // With `v1a` turned off, its entries are ignored.
    let no_v1a = both.clone().with_schemes(Schemes::STANDARD);
    assert!(no_v1a.verify(&v1a_entry_only, BODY).is_err());

    // Entries the receiver cannot use (unknown versions, garbage, other
    // keys) do not stop a good one from matching.
    let good = v1a_only_header(&v1a_entry_only);
    let noisy = format!(
        "v2,abc v1a,short v1,{} {} v1a,{}",
        B64.encode([0u8; 32]),
        good,
        B64.encode([0u8; 64])
    );
    assert!(v1a_only.verify(&headers(&noisy), BODY).is_ok());
}

fn v1a_only_header(h: &HeaderMap) -> String {
    h["webhook-signature"].to_str().unwrap().to_owned()
}

#[test]
fn bad_keys_are_typed_errors() {
    let key = Ed25519SecretKey::generate();
    let (whsk, whpk) = (key.to_whsk(), key.public_key().to_whpk());
    // A public key given to a signer, a secret key given to a receiver.
    assert_eq!(
        whpk.parse::<Ed25519SecretKey>().unwrap_err(),
        KeyError::PublicKeyGivenAsSecret
    );
    assert_eq!(
        whsk.parse::<Ed25519PublicKey>().unwrap_err(),
        KeyError::SecretKeyGivenAsPublic
    );
    assert_eq!(
        whpk.parse::<SigningSecret>().unwrap_err(),
        SecretError::MissingPrefix
    );
    // Wrong prefix, not base64, wrong length.
    assert_eq!(
        whsk.replacen("whsk_", "whsec_", 1)
            .parse::<Ed25519SecretKey>()
            .unwrap_err(),
        KeyError::MissingPrefix { expected: "whsk_" }
    );
    assert_eq!(
        "whsk_@@@@".parse::<Ed25519SecretKey>().unwrap_err(),
        KeyError::InvalidBase64
    );
    assert_eq!(
        "whpk_@@@@".parse::<Ed25519PublicKey>().unwrap_err(),
        KeyError::InvalidBase64
    );
    assert_eq!(
        format!("whpk_{}", B64.encode([9u8; 33]))
            .parse::<Ed25519PublicKey>()
            .unwrap_err(),
        KeyError::InvalidLength {
            len: 33,
            expected: "32"
        }
    );
    assert_eq!(
        format!("whsk_{}", B64.encode([9u8; 16]))
            .parse::<Ed25519SecretKey>()
            .unwrap_err(),
        KeyError::InvalidLength {
            len: 16,
            expected: "32 or 64"
        }
    );
    // Messages never carry the key.
    for e in [
        KeyError::InvalidBase64,
        KeyError::MismatchedKeyPair,
        KeyError::PublicKeyGivenAsSecret,
    ] {
        assert!(!e.to_string().contains(&whsk[5..]));
    }
    // An endpoint asked to sign `v1a` without an Ed25519 key, or `v1`
    // without a secret, is refused when built.
    let err = Endpoint::builder("ep_1", "https://hooks.example.com/")
        .signing(SigningSecret::generate(), Schemes::STANDARD | Schemes::V1A)
        .build()
        .unwrap_err();
    assert_eq!(err, EndpointError::MissingSigningKey { scheme: "v1a" });
    assert_eq!(
        err.to_string(),
        "endpoint signs with v1a but its signer holds no key for it"
    );
    let err = Endpoint::builder("ep_1", "https://hooks.example.com/")
        .signing_with(Signing::new(Signer::from_key(key), Schemes::BOTH))
        .build()
        .unwrap_err();
    assert_eq!(err, EndpointError::MissingSigningKey { scheme: "hex" });
}

#[test]
fn ed25519_keys_never_reach_debug_output() {
    let key = Ed25519SecretKey::generate();
    let whsk = key.to_whsk();
    let endpoint = Endpoint::builder("ep_1", "https://hooks.example.com/")
        .signing_with(Signing::new(
            Signer::from_key(key.clone())
                .rotate(
                    Ed25519SecretKey::generate(),
                    std::time::UNIX_EPOCH,
                    std::time::Duration::from_secs(60),
                )
                .unwrap(),
            Schemes::V1A,
        ))
        .build()
        .unwrap();
    let seed_b64 = B64.encode(key.expose_seed());
    for shown in [
        format!("{endpoint:?}"),
        format!("{key:?}"),
        format!("{key}"),
    ] {
        assert!(!shown.contains(&whsk[5..30]), "{shown}");
        assert!(!shown.contains(&seed_b64[..20]), "{shown}");
    }
    assert!(format!("{endpoint:?}").contains("Ed25519SecretKey([redacted])"));
}

/// A header stuffed with `v1a` entries costs a bounded number of Ed25519
/// checks: only the first `MAX_V1A_ENTRIES_CHECKED` are looked at, so a
/// genuine signature placed after them is not found (and the refusal is the
/// usual one), while within them it verifies.
#[test]
fn only_the_first_v1a_entries_are_checked() {
    use hookwire::signature::MAX_V1A_ENTRIES_CHECKED;

    let seed = [9u8; 32];
    let public = Ed25519SecretKey::from_seed(&seed).public_key();
    let genuine = foreign_v1a(seed, BODY);
    let forged = foreign_v1a([1u8; 32], BODY);
    for before in [0, MAX_V1A_ENTRIES_CHECKED - 1, MAX_V1A_ENTRIES_CHECKED, 15] {
        let mut entries = vec![forged.as_str(); before];
        entries.push(&genuine);
        let result = receiver(public).verify(&headers(&entries.join(" ")), BODY);
        if before < MAX_V1A_ENTRIES_CHECKED {
            assert!(result.is_ok(), "{before} entries before it: {result:?}");
        } else {
            assert!(
                matches!(result, Err(VerifyError::NoMatchingSignature { .. })),
                "{before} entries before it: {result:?}"
            );
        }
    }
}

/// A receiver holding only a public key accepts only signed ids: its dedupe
/// key is the `webhook-id`, with no pass over the body spent on it.
#[test]
fn a_public_key_receiver_dedupes_on_the_signed_id() {
    let seed = [5u8; 32];
    let public = Ed25519SecretKey::from_seed(&seed).public_key();
    let verified = receiver(public)
        .verify(&headers(&foreign_v1a(seed, BODY)), BODY)
        .unwrap();
    assert_eq!(verified.dedupe_key, format!("id_{}", id().as_str()));
    assert_eq!(verified.id, id().as_str());
}
