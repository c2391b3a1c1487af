//! Known-answer vectors, negative cases and property tests for signing and
//! verification. Nothing here reads the wall clock: every verifier gets a
//! `ManualClock`.

use std::time::{Duration, UNIX_EPOCH};

use hookwire::clock::ManualClock;
use hookwire::http::{HeaderMap, HeaderValue, StatusCode};
use hookwire::id::DeliveryId;
use hookwire::signature::{
    Schemes, SecretError, Signer, SigningSecret, Verified, Verifier, VerifyError,
    HEADER_HEX_SIGNATURE, HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP,
};
use proptest::prelude::*;

const SECRET_A: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const ID_A: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const TS_A: i64 = 1649367553;
const BODY_A: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
const SIG_A: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

const SECRET_B: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID_B: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS_B: i64 = 1614265330;
const BODY_B: &[u8] = br#"{"test": 2432232314}"#;
const SIG_B: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

const NOW: u64 = 1_700_000_000;

fn secret(s: &str) -> SigningSecret {
    s.parse().unwrap()
}

fn clock_at(ts: i64) -> ManualClock {
    ManualClock::at_unix(u64::try_from(ts).unwrap())
}

fn standard_headers(id: &str, ts: &str, sig: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(HEADER_WEBHOOK_ID, HeaderValue::from_str(id).unwrap());
    h.insert(HEADER_WEBHOOK_TIMESTAMP, HeaderValue::from_str(ts).unwrap());
    h.insert(
        HEADER_WEBHOOK_SIGNATURE,
        HeaderValue::from_str(sig).unwrap(),
    );
    h
}

fn hex_headers(sig: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(HEADER_HEX_SIGNATURE, HeaderValue::from_str(sig).unwrap());
    h
}

fn verifier_a() -> Verifier {
    Verifier::new(secret(SECRET_A)).with_clock(clock_at(TS_A))
}

fn no_match(name: &'static str) -> Result<Verified, VerifyError> {
    Err(VerifyError::NoMatchingSignature { name })
}

// ---------------------------------------------------------------- vectors

#[test]
fn standard_vector_a_signs_and_verifies() {
    let signer = Signer::new(secret(SECRET_A));
    let id = DeliveryId::new(ID_A).unwrap();
    assert_eq!(signer.standard_signature(&id, TS_A, BODY_A), SIG_A);
    let v = verifier_a()
        .verify(&standard_headers(ID_A, "1649367553", SIG_A), BODY_A)
        .unwrap();
    assert_eq!(v.id, ID_A);
    assert_eq!(
        v.timestamp,
        Some(UNIX_EPOCH + Duration::from_secs(1649367553))
    );
    assert_eq!(v.schemes, Schemes::STANDARD);
}

#[test]
fn standard_vector_b_signs_and_verifies() {
    let signer = Signer::new(secret(SECRET_B));
    let id = DeliveryId::new(ID_B).unwrap();
    assert_eq!(signer.standard_signature(&id, TS_B, BODY_B), SIG_B);
    let verifier = Verifier::new(secret(SECRET_B)).with_clock(clock_at(TS_B));
    assert!(verifier
        .verify(&standard_headers(ID_B, "1614265330", SIG_B), BODY_B)
        .is_ok());
    // Python's test also uses the unpadded secret: a different key (23 bytes).
    let unpadded =
        Verifier::new(secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS")).with_clock(clock_at(TS_B));
    assert_eq!(
        unpadded.verify(&standard_headers(ID_B, "1614265330", SIG_B), BODY_B),
        no_match(HEADER_WEBHOOK_SIGNATURE)
    );
}

#[test]
fn standard_vector_a_negative() {
    let h = standard_headers(
        ID_A,
        "1649367553",
        "v1,R3PTzyfHASBKHH98a7yexTwaJ4yNIcGhFQc1yuN+BPU=",
    );
    assert_eq!(
        verifier_a().verify(&h, BODY_A),
        no_match(HEADER_WEBHOOK_SIGNATURE)
    );
}

const OTHERS: [&str; 3] = [
    "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ=",
    "v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q=",
    "v1,9DfC1c3eeOrXB6w/5dIDydLNQaEyww5KalE5jLBZucE=",
];

#[test]
fn standard_vector_a_among_several_signatures() {
    let with = format!("{} {} {SIG_A} {}", OTHERS[0], OTHERS[1], OTHERS[2]);
    assert!(verifier_a()
        .verify(&standard_headers(ID_A, "1649367553", &with), BODY_A)
        .is_ok());
    let without = OTHERS.join(" ");
    assert_eq!(
        verifier_a().verify(&standard_headers(ID_A, "1649367553", &without), BODY_A),
        no_match(HEADER_WEBHOOK_SIGNATURE)
    );
    // Unknown versions around it are skipped, and so are extra spaces.
    let mixed = format!("v1a,AAAA  v2,{}  {SIG_A} ", &SIG_A[3..]);
    assert!(verifier_a()
        .verify(&standard_headers(ID_A, "1649367553", &mixed), BODY_A)
        .is_ok());
}

#[test]
fn github_hex_vector() {
    let s = SigningSecret::from_raw_str("It's a Secret to Everybody").unwrap();
    let sig = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(
        Signer::new(s.clone())
            .hex_signature(b"Hello, World!")
            .as_deref(),
        Some(sig)
    );
    // The vector's body has no timestamp.
    let verifier = Verifier::new(s)
        .with_schemes(Schemes::HEX)
        .with_body_timestamp_check(false)
        .with_clock(clock_at(0));
    let v = verifier
        .verify(&hex_headers(sig), b"Hello, World!")
        .unwrap();
    assert_eq!(v.schemes, Schemes::HEX);
    assert_eq!(
        v.dedupe_key,
        "sha256_dffd6021bb2bd5b0af676290809ec3a53191dd81c7f70a4b28688a362182986f"
    );
    assert_eq!(v.id, v.dedupe_key, "hex signs no id: the id is the body's");
    assert_eq!(v.timestamp, None);
    // Upper case is accepted too.
    assert!(verifier
        .verify(&hex_headers(&sig.to_ascii_uppercase()), b"Hello, World!")
        .is_ok());
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn rfc4231_hmac_sha256_cases() {
    let aa131 = vec![0xaa; 131];
    let cases: [(Vec<u8>, Vec<u8>, &str); 6] = [
        (
            vec![0x0b; 20],
            b"Hi There".to_vec(),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            b"Jefe".to_vec(),
            b"what do ya want for nothing?".to_vec(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            vec![0xaa; 20],
            vec![0xdd; 50],
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
        ),
        (
            (1u8..=25).collect(),
            vec![0xcd; 50],
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
        ),
        (
            aa131.clone(),
            b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
        (
            aa131,
            b"This is a test using a larger than block-size key and a larger than block-size data. \
The key needs to be hashed before being used by the HMAC algorithm."
                .to_vec(),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        ),
    ];
    for (key, data, expected) in cases {
        let s = SigningSecret::from_bytes(key).unwrap();
        assert_eq!(
            Signer::new(s.clone()).hex_signature(&data).as_deref(),
            Some(expected)
        );
        let verifier = Verifier::new(s)
            .with_schemes(Schemes::HEX)
            .with_body_timestamp_check(false);
        assert!(verifier.verify(&hex_headers(expected), &data).is_ok());
        assert_eq!(unhex(expected).len(), 32);
    }
}

// ---------------------------------------------------------------- signer

#[test]
fn sign_into_writes_the_right_headers() {
    let id = DeliveryId::new("dlv_1").unwrap();
    let signer = Signer::new(secret(SECRET_A))
        .with_previous(secret(SECRET_B))
        .unwrap();

    let mut h = HeaderMap::new();
    h.insert(HEADER_HEX_SIGNATURE, HeaderValue::from_static("stale"));
    h.append(HEADER_WEBHOOK_ID, HeaderValue::from_static("stale"));
    signer.sign_into(&mut h, Schemes::HEX, &id, 5, b"body");
    assert_eq!(h.get_all(HEADER_WEBHOOK_ID).iter().count(), 1);
    assert_eq!(h[HEADER_WEBHOOK_ID], "dlv_1");
    assert_eq!(
        h[HEADER_HEX_SIGNATURE],
        Signer::new(secret(SECRET_A))
            .hex_signature(b"body")
            .unwrap()
            .as_str()
    );
    assert!(h.get(HEADER_WEBHOOK_SIGNATURE).is_none());
    assert!(h.get(HEADER_WEBHOOK_TIMESTAMP).is_none());

    let mut h = HeaderMap::new();
    signer.sign_into(&mut h, Schemes::STANDARD, &id, -5, b"body");
    assert!(h.get(HEADER_HEX_SIGNATURE).is_none());
    assert_eq!(h[HEADER_WEBHOOK_TIMESTAMP], "-5");
    let sig = h[HEADER_WEBHOOK_SIGNATURE].to_str().unwrap();
    let parts: Vec<&str> = sig.split(' ').collect();
    assert_eq!(parts.len(), 2, "current and previous secret");
    assert_eq!(
        parts[1],
        Signer::new(secret(SECRET_B)).standard_signature(&id, -5, b"body")
    );
    // Signing again replaces, never appends.
    signer.sign_into(&mut h, Schemes::BOTH, &id, 6, b"body");
    assert_eq!(h.get_all(HEADER_WEBHOOK_SIGNATURE).iter().count(), 1);
    assert_eq!(h[HEADER_WEBHOOK_TIMESTAMP], "6");
    assert_eq!(
        format!("{signer:?}"),
        "Signer { current: SigningSecret([redacted]), previous: 1 }"
    );
}

#[test]
fn rotation_old_secret_receivers_keep_verifying() {
    let (old, new) = (SigningSecret::generate(), SigningSecret::generate());
    let signer = Signer::new(new.clone()).with_previous(old.clone()).unwrap();
    let id = DeliveryId::generate();
    let mut h = HeaderMap::new();
    signer.sign_into(&mut h, Schemes::BOTH, &id, NOW as i64, b"x");
    let clock = ManualClock::at_unix(NOW);
    // Receiver on the old secret: standard matches on the second entry, but
    // the hex signature (current secret only) does not, and every present
    // scheme must verify.
    let old_both = Verifier::new(old.clone()).with_clock(clock.clone());
    assert_eq!(old_both.verify(&h, b"x"), no_match(HEADER_HEX_SIGNATURE));
    let old_std = old_both.clone().with_schemes(Schemes::STANDARD);
    assert!(old_std.verify(&h, b"x").is_ok());
    // A receiver trusting both secrets verifies everything.
    let both = Verifier::new(old).with_secret(new).with_clock(clock);
    assert_eq!(both.verify(&h, b"x").unwrap().schemes, Schemes::BOTH);
}

// ---------------------------------------------------------------- negatives

fn signed(schemes: Schemes, ts: i64, body: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    Signer::new(secret(SECRET_A)).sign_into(
        &mut h,
        schemes,
        &DeliveryId::new("dlv_neg").unwrap(),
        ts,
        body,
    );
    h
}

/// A verifier at `NOW` for bodies without a timestamp.
fn verifier_now(schemes: Schemes) -> Verifier {
    Verifier::new(secret(SECRET_A))
        .with_schemes(schemes)
        .with_body_timestamp_check(false)
        .with_clock(ManualClock::at_unix(NOW))
}

#[test]
fn tampered_body_and_wrong_secret_are_rejected() {
    for (schemes, name) in [
        (Schemes::HEX, HEADER_HEX_SIGNATURE),
        (Schemes::STANDARD, HEADER_WEBHOOK_SIGNATURE),
        (Schemes::BOTH, HEADER_WEBHOOK_SIGNATURE),
    ] {
        let h = signed(schemes, NOW as i64, b"{\"a\":1}");
        assert!(verifier_now(schemes).verify(&h, b"{\"a\":1}").is_ok());
        assert_eq!(
            verifier_now(schemes).verify(&h, b"{\"a\":2}"),
            no_match(name)
        );
        let wrong = Verifier::new(SigningSecret::generate())
            .with_schemes(schemes)
            .with_body_timestamp_check(false)
            .with_clock(ManualClock::at_unix(NOW));
        assert_eq!(wrong.verify(&h, b"{\"a\":1}"), no_match(name));
    }
}

#[test]
fn truncated_empty_and_unknown_version_signatures_match_nothing() {
    let v = verifier_a();
    for sig in [
        "v1,",
        "v1,tZ1I",
        &SIG_A[..SIG_A.len() - 2],
        "v2,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        "v1a,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        "tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=AAAA",
        "v1,!!!!/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
    ] {
        assert_eq!(
            v.verify(&standard_headers(ID_A, "1649367553", sig), BODY_A),
            no_match(HEADER_WEBHOOK_SIGNATURE),
            "{sig}"
        );
    }
    // An empty header value holds no signature either.
    let mut h = standard_headers(ID_A, "1649367553", SIG_A);
    h.insert(HEADER_WEBHOOK_SIGNATURE, HeaderValue::from_static(""));
    assert_eq!(v.verify(&h, BODY_A), no_match(HEADER_WEBHOOK_SIGNATURE));
}

#[test]
fn wrong_length_and_non_hex_signatures_are_malformed() {
    let v = verifier_now(Schemes::HEX);
    let good = Signer::new(secret(SECRET_A)).hex_signature(b"b").unwrap();
    for (sig, reason) in [
        (&good[..63], "expected 64 hex characters"),
        (&format!("{good}0")[..], "expected 64 hex characters"),
        ("", "expected 64 hex characters"),
        (&format!("sha256={good}")[..], "expected 64 hex characters"),
        (
            &format!("{}zz", &good[..62])[..],
            "contains a character that is not a hex digit",
        ),
    ] {
        assert_eq!(
            v.verify(&hex_headers(sig), b"b"),
            Err(VerifyError::MalformedHeader {
                name: HEADER_HEX_SIGNATURE,
                reason
            }),
            "{sig}"
        );
    }
    // Right length, wrong value: no match.
    let flipped: String = good.chars().rev().collect();
    assert_eq!(
        v.verify(&hex_headers(&flipped), b"b"),
        no_match(HEADER_HEX_SIGNATURE)
    );
}

#[test]
fn tolerance_bounds_are_exact() {
    let v = verifier_now(Schemes::STANDARD);
    let now = NOW as i64;
    for ts in [now - 300, now + 300, now] {
        assert!(
            v.verify(&signed(Schemes::STANDARD, ts, b"b"), b"b").is_ok(),
            "{ts}"
        );
    }
    assert_eq!(
        v.verify(&signed(Schemes::STANDARD, now - 301, b"b"), b"b"),
        Err(VerifyError::TimestampTooOld {
            age_secs: 301,
            tolerance_secs: 300
        })
    );
    assert_eq!(
        v.verify(&signed(Schemes::STANDARD, now + 301, b"b"), b"b"),
        Err(VerifyError::TimestampInFuture {
            ahead_secs: 301,
            tolerance_secs: 300
        })
    );
    // A custom tolerance, including zero.
    let strict = v.clone().with_tolerance(Duration::ZERO);
    assert!(strict
        .verify(&signed(Schemes::STANDARD, now, b"b"), b"b")
        .is_ok());
    assert!(strict
        .verify(&signed(Schemes::STANDARD, now - 1, b"b"), b"b")
        .is_err());
}

#[test]
fn extreme_and_negative_timestamps_are_rejected_without_overflow() {
    let v = verifier_now(Schemes::STANDARD);
    let now = NOW as i64;
    for (ts, err) in [
        (
            -1,
            VerifyError::TimestampTooOld {
                age_secs: NOW + 1,
                tolerance_secs: 300,
            },
        ),
        (
            i64::MIN,
            VerifyError::TimestampTooOld {
                age_secs: (i128::from(now) - i128::from(i64::MIN)) as u64,
                tolerance_secs: 300,
            },
        ),
        (
            i64::MAX,
            VerifyError::TimestampInFuture {
                ahead_secs: (i64::MAX - now) as u64,
                tolerance_secs: 300,
            },
        ),
    ] {
        assert_eq!(
            v.verify(&signed(Schemes::STANDARD, ts, b"b"), b"b"),
            Err(err),
            "{ts}"
        );
    }
    // Even with the largest tolerance, nothing overflows.
    let lax = v.with_tolerance(Duration::MAX);
    for ts in [i64::MIN, -1, 0, i64::MAX] {
        assert!(
            lax.verify(&signed(Schemes::STANDARD, ts, b"b"), b"b")
                .is_ok(),
            "{ts}"
        );
    }
    // Out-of-range and non-numeric values are malformed.
    for ts in [
        "9223372036854775808",
        "-9223372036854775809",
        "1e9",
        "",
        "1 2",
    ] {
        let mut h = signed(Schemes::STANDARD, now, b"b");
        h.insert(HEADER_WEBHOOK_TIMESTAMP, HeaderValue::from_str(ts).unwrap());
        assert!(
            matches!(
                verifier_now(Schemes::STANDARD).verify(&h, b"b"),
                Err(VerifyError::MalformedHeader {
                    name: HEADER_WEBHOOK_TIMESTAMP,
                    ..
                })
            ),
            "{ts}"
        );
    }
}

#[test]
fn ten_thousand_candidates_are_refused_cheaply() {
    let many = vec![SIG_A; 10_000].join(" ");
    let h = standard_headers(ID_A, "1649367553", &many);
    assert_eq!(
        verifier_a().verify(&h, BODY_A),
        Err(VerifyError::MalformedHeader {
            name: HEADER_WEBHOOK_SIGNATURE,
            reason: "longer than 4096 bytes"
        })
    );
    // Within 4 KiB but more than 16 entries.
    let seventeen = vec!["v1,x"; 17].join(" ");
    assert_eq!(
        verifier_a().verify(&standard_headers(ID_A, "1649367553", &seventeen), BODY_A),
        Err(VerifyError::MalformedHeader {
            name: HEADER_WEBHOOK_SIGNATURE,
            reason: "more than 16 signatures"
        })
    );
    // Sixteen, the last one valid, verifies.
    let sixteen = format!("{} {SIG_A}", vec!["v1,x"; 15].join(" "));
    assert!(verifier_a()
        .verify(&standard_headers(ID_A, "1649367553", &sixteen), BODY_A)
        .is_ok());
}

#[test]
fn a_16_mib_body_is_refused_before_hashing() {
    let body = vec![b'a'; 16 * 1024 * 1024];
    for schemes in [Schemes::HEX, Schemes::STANDARD, Schemes::BOTH] {
        // No headers at all: the size is checked first.
        assert_eq!(
            verifier_now(schemes).verify(&HeaderMap::new(), &body),
            Err(VerifyError::BodyTooLarge {
                size: body.len(),
                limit: 1024 * 1024
            })
        );
    }
    let h = signed(Schemes::BOTH, NOW as i64, &body);
    let big = verifier_now(Schemes::BOTH).with_max_body_size(body.len());
    assert!(big.verify(&h, &body).is_ok());
    assert!(verifier_now(Schemes::BOTH)
        .with_max_body_size(1024 * 1024)
        .verify(
            &signed(Schemes::BOTH, NOW as i64, &body[..1024 * 1024]),
            &body[..1024 * 1024]
        )
        .is_ok());
}

#[test]
fn missing_and_duplicated_headers_are_named() {
    let full = signed(Schemes::BOTH, NOW as i64, b"b");
    let v = verifier_now(Schemes::BOTH);
    assert_eq!(
        v.verify(&HeaderMap::new(), b"b"),
        Err(VerifyError::MissingHeader {
            name: "x-intelligems-signature or webhook-signature"
        })
    );
    assert_eq!(
        verifier_now(Schemes::HEX).verify(&HeaderMap::new(), b"b"),
        Err(VerifyError::MissingHeader {
            name: HEADER_HEX_SIGNATURE
        })
    );
    for name in [HEADER_WEBHOOK_ID, HEADER_WEBHOOK_TIMESTAMP] {
        let mut h = full.clone();
        h.remove(name);
        assert_eq!(v.verify(&h, b"b"), Err(VerifyError::MissingHeader { name }));
        let mut h = full.clone();
        h.append(name, HeaderValue::from_static("1"));
        assert_eq!(
            v.verify(&h, b"b"),
            Err(VerifyError::MalformedHeader {
                name,
                reason: "appears more than once"
            })
        );
    }
    // Standard headers alone satisfy STANDARD and BOTH but not HEX.
    let mut std_only = full.clone();
    std_only.remove(HEADER_HEX_SIGNATURE);
    assert!(v.verify(&std_only, b"b").is_ok());
    assert_eq!(
        verifier_now(Schemes::HEX).verify(&std_only, b"b"),
        Err(VerifyError::MissingHeader {
            name: HEADER_HEX_SIGNATURE
        })
    );
    // Hex alone satisfies BOTH; the unsigned webhook-id is not taken: the
    // id is derived from the (signed) body, like the dedupe key.
    let mut hex_only = full.clone();
    hex_only.remove(HEADER_WEBHOOK_SIGNATURE);
    let verified = v.verify(&hex_only, b"b").unwrap();
    assert_eq!(verified.schemes, Schemes::HEX);
    assert_ne!(verified.id, "dlv_neg");
    assert_eq!(verified.id, verified.dedupe_key);
    assert_eq!(
        verified.dedupe_key,
        v.verify(&full, b"b").unwrap().dedupe_key
    );
}

#[test]
fn ids_with_dots_are_refused() {
    let mut h = standard_headers("msg.1", "1649367553", SIG_A);
    assert_eq!(
        verifier_a().verify(&h, BODY_A),
        Err(VerifyError::MalformedHeader {
            name: HEADER_WEBHOOK_ID,
            reason: "contains `.`"
        })
    );
    h.insert(HEADER_WEBHOOK_ID, HeaderValue::from_static(""));
    assert!(matches!(
        verifier_a().verify(&h, BODY_A),
        Err(VerifyError::MalformedHeader {
            name: HEADER_WEBHOOK_ID,
            ..
        })
    ));
}

#[test]
fn body_timestamp_check_for_hex() {
    let clock = ManualClock::at_unix(NOW);
    let v = Verifier::new(secret(SECRET_A))
        .with_schemes(Schemes::HEX)
        .with_clock(clock.clone())
        .with_body_tolerance(Duration::from_secs(300));
    let ms = NOW * 1000;
    let body = |ts: i128| {
        format!(
            r#"{{"action":"startExperience","experience":{{"timestamp":"x"}},"timestamp":{ts}}}"#
        )
    };
    let ok = body(i128::from(ms - 300_000));
    let v1 = v
        .verify(&signed(Schemes::HEX, 0, ok.as_bytes()), ok.as_bytes())
        .unwrap();
    assert_eq!(
        v1.timestamp,
        Some(UNIX_EPOCH + Duration::from_millis(ms - 300_000))
    );
    let old = body(i128::from(ms - 300_001));
    assert_eq!(
        v.verify(&signed(Schemes::HEX, 0, old.as_bytes()), old.as_bytes()),
        Err(VerifyError::TimestampTooOld {
            age_secs: 300,
            tolerance_secs: 300
        })
    );
    let future = body(i128::from(ms + 301_000));
    assert_eq!(
        v.verify(
            &signed(Schemes::HEX, 0, future.as_bytes()),
            future.as_bytes()
        ),
        Err(VerifyError::TimestampInFuture {
            ahead_secs: 301,
            tolerance_secs: 300
        })
    );
    for bad in [
        r#"{"timestamp":"yesterday"}"#,
        r#"{"action":"x"}"#,
        r#"{"timestamp":1.5}"#,
    ] {
        assert!(
            matches!(
                v.verify(&signed(Schemes::HEX, 0, bad.as_bytes()), bad.as_bytes()),
                Err(VerifyError::InvalidBodyTimestamp { .. })
            ),
            "{bad}"
        );
    }
    for extreme in [i128::from(i64::MIN), i128::from(i64::MAX)] {
        let b = body(extreme);
        assert!(v
            .verify(&signed(Schemes::HEX, 0, b.as_bytes()), b.as_bytes())
            .is_err());
    }
    // RFC 3339 text (journey payloads) is read too.
    let text = format!(
        r#"{{"eventTitle":"x","timestamp":"{}"}}"#,
        hookwire::model::rfc3339::format(UNIX_EPOCH + Duration::from_secs(NOW - 60)).unwrap()
    );
    let t = v
        .verify(&signed(Schemes::HEX, 0, text.as_bytes()), text.as_bytes())
        .unwrap();
    assert_eq!(
        t.timestamp,
        Some(UNIX_EPOCH + Duration::from_secs(NOW - 60))
    );
    // On by default, 6 hours back (the default retry horizon), 5 minutes ahead.
    let default = Verifier::new(secret(SECRET_A)).with_clock(clock.clone());
    let at = |age_secs: i64| body(i128::from(ms) - i128::from(age_secs) * 1000);
    for (age, ok) in [
        (0, true),
        (9_360, true),  // 2.6 hours: the default policy's last attempt
        (11_160, true), // 3.1 hours: with the most jitter
        (21_600, true), // the bound itself
        (21_601, false),
        (30 * 86_400, false),
        (-300, true),
        (-301, false),
    ] {
        let b = at(age);
        assert_eq!(
            default
                .verify(&signed(Schemes::HEX, 0, b.as_bytes()), b.as_bytes())
                .is_ok(),
            ok,
            "{age}"
        );
    }
    // An explicit opt-out for payloads without a timestamp.
    let off = Verifier::new(secret(SECRET_A))
        .with_body_timestamp_check(false)
        .with_clock(clock);
    assert!(off.verify(&signed(Schemes::HEX, 0, b"{}"), b"{}").is_ok());
    assert_eq!(
        default
            .verify(&signed(Schemes::HEX, 0, b"{}"), b"{}")
            .unwrap_err()
            .to_string(),
        "body has no usable timestamp: missing field `timestamp` at line 1 column 2"
    );
}

#[test]
fn verify_json_types_the_body_or_says_why_not() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Event {
        action: String,
    }
    let body = br#"{"action":"endExperience","extra":true}"#;
    let v = verifier_now(Schemes::BOTH);
    let (verified, event): (_, Event) = v
        .verify_json(&signed(Schemes::BOTH, NOW as i64, body), body)
        .unwrap();
    assert_eq!(event.action, "endExperience");
    assert_eq!(verified.id, "dlv_neg");
    let err = v
        .verify_json::<Event>(&signed(Schemes::BOTH, NOW as i64, b"[1]"), b"[1]")
        .unwrap_err();
    assert!(matches!(err, VerifyError::InvalidJson { ref path, .. } if path == "[0]"));
    assert!(err
        .to_string()
        .starts_with("body is not valid JSON for the expected type at `[0]`: "));
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    // A bad signature is reported before the JSON is looked at.
    assert_eq!(
        v.verify_json::<Event>(&signed(Schemes::BOTH, NOW as i64, b"{}"), b"[1]"),
        Err(VerifyError::NoMatchingSignature {
            name: HEADER_WEBHOOK_SIGNATURE
        })
    );
}

#[test]
fn errors_and_debug_never_show_secrets() {
    let s = secret(SECRET_A);
    let v = Verifier::new(s.clone()).with_clock(ManualClock::at_unix(0));
    let debug = format!("{v:?} {s:?} {s} {:?}", Signer::new(s.clone()));
    assert!(!debug.contains("C2FVsBQ"), "{debug}");
    assert!(!debug.contains(&format!("{:?}", s.expose_bytes())));
    for e in [
        VerifyError::MissingHeader { name: "x" },
        VerifyError::BodyTooLarge { size: 2, limit: 1 },
        VerifyError::TimestampTooOld {
            age_secs: 1,
            tolerance_secs: 0,
        },
    ] {
        let m = e.to_string();
        assert!(
            !m.ends_with('.') && m.chars().next().unwrap().is_lowercase(),
            "{m}"
        );
    }
    assert_eq!(
        "nope".parse::<SigningSecret>(),
        Err(SecretError::MissingPrefix)
    );
}

#[test]
fn schemes_parse_and_display() {
    for (s, v) in [
        ("hex", Schemes::HEX),
        ("standard", Schemes::STANDARD),
        ("BOTH", Schemes::BOTH),
    ] {
        assert_eq!(s.parse::<Schemes>().unwrap(), v);
        assert_eq!(v.to_string(), s.to_ascii_lowercase());
    }
    assert!("".parse::<Schemes>().is_err());
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sign_then_verify_round_trips(
        key in proptest::collection::vec(any::<u8>(), 1..80),
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        id in "[A-Za-z0-9_-]{1,40}",
        skew in -300i64..=300,
        scheme in 0u8..3,
    ) {
        let s = SigningSecret::from_bytes(key).unwrap();
        let schemes = [Schemes::HEX, Schemes::STANDARD, Schemes::BOTH][usize::from(scheme)];
        let id = DeliveryId::new(id).unwrap();
        let mut h = HeaderMap::new();
        Signer::new(s.clone()).sign_into(&mut h, schemes, &id, NOW as i64 + skew, &body);
        let v = Verifier::new(s)
            .with_schemes(schemes)
            .with_body_timestamp_check(false)
            .with_clock(ManualClock::at_unix(NOW));
        let verified = v.verify(&h, &body).unwrap();
        if schemes.standard {
            prop_assert_eq!(verified.id.as_str(), id.as_str());
        } else {
            prop_assert_eq!(&verified.id, &verified.dedupe_key);
        }
        prop_assert_eq!(verified.schemes, schemes);
        if !body.is_empty() {
            let mut tampered = body.clone();
            tampered[0] ^= 1;
            let rejected = matches!(v.verify(&h, &tampered), Err(VerifyError::NoMatchingSignature { .. }));
            prop_assert!(rejected);
        }
    }

    #[test]
    fn whsec_round_trips(key in proptest::collection::vec(any::<u8>(), 1..80)) {
        let s = SigningSecret::from_bytes(key).unwrap();
        prop_assert_eq!(s.to_whsec().parse::<SigningSecret>().unwrap(), s);
    }

    #[test]
    fn arbitrary_headers_never_panic(
        values in proptest::collection::vec(
            (0usize..4, proptest::collection::vec(any::<u8>(), 0..200)), 0..8),
        body in proptest::collection::vec(any::<u8>(), 0..256),
        scheme in 0u8..3,
        sigs in proptest::collection::vec("(v1|v1a|v2|)[,]?[A-Za-z0-9+/=]{0,46}", 0..20),
    ) {
        const NAMES: [&str; 4] = [HEADER_HEX_SIGNATURE, HEADER_WEBHOOK_ID, HEADER_WEBHOOK_TIMESTAMP, HEADER_WEBHOOK_SIGNATURE];
        let schemes = [Schemes::HEX, Schemes::STANDARD, Schemes::BOTH][usize::from(scheme)];
        let mut h = signed(Schemes::BOTH, NOW as i64, &body);
        for (i, v) in values {
            if let Ok(v) = HeaderValue::from_bytes(&v) {
                h.insert(NAMES[i], v);
            }
        }
        if let Ok(v) = HeaderValue::from_str(&sigs.join(" ")) {
            h.append(HEADER_WEBHOOK_SIGNATURE, v);
        }
        let v = verifier_now(schemes).with_body_timestamp_check(scheme == 0);
        let _ = v.verify(&h, &body);
        let _ = v.verify_json::<serde_json::Value>(&h, &body);
        let _ = hookwire::signature::standard::parse_signature_header(sigs.join(" ").as_bytes());
    }
}

/// svix CVE-2024-21491: a verifier comparing only as many bytes as the
/// candidate holds accepted any prefix of the real signature. Every prefix
/// (and the empty one) of a real signature is refused, under both schemes.
#[test]
fn a_truncated_signature_is_refused_by_both_schemes() {
    let body = br#"{"action":"startExperience","timestamp":1700000000000}"#;
    let h = signed(Schemes::BOTH, NOW as i64, body);
    let v_std = verifier_now(Schemes::STANDARD);
    let v_hex = verifier_now(Schemes::HEX);
    assert!(v_std.verify(&h, body).is_ok());
    assert!(v_hex.verify(&h, body).is_ok());

    let full_std = h[HEADER_WEBHOOK_SIGNATURE].to_str().unwrap().to_owned();
    let b64 = full_std.strip_prefix("v1,").unwrap();
    // (Dropping only the `=` padding leaves the same MAC, accepted.)
    for len in 0..b64.trim_end_matches('=').len() {
        let mut t = h.clone();
        t.insert(
            HEADER_WEBHOOK_SIGNATURE,
            HeaderValue::from_str(&format!("v1,{}", &b64[..len])).unwrap(),
        );
        assert!(v_std.verify(&t, body).is_err(), "standard prefix {len}");
    }
    // The decoded MAC cut short, re-encoded as valid base64.
    let mac = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap();
    for len in [1, 16, 31] {
        let short = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &mac[..len]);
        let mut t = h.clone();
        t.insert(
            HEADER_WEBHOOK_SIGNATURE,
            HeaderValue::from_str(&format!("v1,{short}")).unwrap(),
        );
        assert!(v_std.verify(&t, body).is_err(), "standard {len} bytes");
    }

    let full_hex = h[HEADER_HEX_SIGNATURE].to_str().unwrap().to_owned();
    for len in 0..full_hex.len() {
        let mut t = HeaderMap::new();
        t.insert(
            HEADER_HEX_SIGNATURE,
            HeaderValue::from_str(&full_hex[..len]).unwrap(),
        );
        assert!(v_hex.verify(&t, body).is_err(), "hex prefix {len}");
    }
}

// ------------------------------------------------------- one typed parse path

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/experience/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn verify_json_names_the_path_of_a_bad_field() {
    use hookwire::model::{ExperienceEvent, ExperienceWebhook};
    let mut doc: serde_json::Value = serde_json::from_slice(&fixture("createExperience")).unwrap();
    doc["experience"]["variations"][0]["percentage"] = serde_json::json!("fifty");
    let body = doc.to_string().into_bytes();
    let h = signed(Schemes::BOTH, NOW as i64, &body);
    let v = verifier_now(Schemes::BOTH);
    let expected_path = "experience.variations[0].percentage";
    let err = v.verify_json::<ExperienceEvent>(&h, &body).unwrap_err();
    let VerifyError::InvalidJson { path, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(path, expected_path);
    assert!(message.contains("fifty"), "{message}");
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    // The envelope parses its body again below the top level: the path is
    // the same, and the message is the inner one, not nested.
    let err = v.verify_json::<ExperienceWebhook>(&h, &body).unwrap_err();
    let VerifyError::InvalidJson { path, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(path, expected_path);
    assert!(!message.contains("invalid payload"), "{message}");
    assert_eq!(
        err.to_string(),
        format!("body is not valid JSON for the expected type at `{expected_path}`: {message}")
    );
    // And the good fixture parses through the same path.
    let good = fixture("createExperience");
    let (_, hook) = v
        .verify_json::<ExperienceWebhook>(&signed(Schemes::BOTH, NOW as i64, &good), &good)
        .unwrap();
    assert_eq!(hook.action(), "createExperience");
}

#[test]
fn a_signed_body_that_is_not_json_is_a_bad_request_whatever_the_timestamp_setting() {
    let clock = ManualClock::at_unix(NOW);
    let fresh = format!(r#"{{"timestamp":{}}}"#, NOW * 1000);
    for body in [
        "not json".to_owned(),
        // The timestamp is read (and is fine) before the syntax error.
        format!("{} trailing", fresh),
        // A mistyped timestamp before the syntax error: still not JSON.
        r#"{"timestamp": true, !!}"#.to_owned(),
        String::new(),
    ] {
        let body = body.as_bytes();
        for check in [true, false] {
            for schemes in [Schemes::HEX, Schemes::STANDARD, Schemes::BOTH] {
                let v = Verifier::new(secret(SECRET_A))
                    .with_schemes(schemes)
                    .with_body_timestamp_check(check)
                    .with_clock(clock.clone());
                let h = signed(schemes, NOW as i64, body);
                let err = v.verify_json::<serde_json::Value>(&h, body).unwrap_err();
                assert!(
                    matches!(&err, VerifyError::InvalidJson { .. }),
                    "{schemes} check={check} {:?}: {err:?}",
                    String::from_utf8_lossy(body)
                );
                assert_eq!(err.status(), StatusCode::BAD_REQUEST);
                // `verify` alone reads the body only for the hex timestamp check.
                let plain = v.verify(&h, body);
                if check && schemes == Schemes::HEX {
                    assert_eq!(plain.unwrap_err(), err);
                } else {
                    assert!(plain.is_ok(), "{schemes} check={check}");
                }
            }
        }
    }
    // JSON without a usable timestamp stays an authentication failure.
    let v = Verifier::new(secret(SECRET_A))
        .with_schemes(Schemes::HEX)
        .with_clock(clock);
    let err = v
        .verify(&signed(Schemes::HEX, 0, b"{}"), b"{}")
        .unwrap_err();
    assert!(matches!(err, VerifyError::InvalidBodyTimestamp { .. }));
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn each_error_has_its_status_class() {
    let v = verifier_now(Schemes::BOTH);
    let body = br#"{"a":1}"#;
    let good = signed(Schemes::BOTH, NOW as i64, body);
    let status = |r: Result<Verified, VerifyError>| r.unwrap_err().status();

    // 413: too large, before anything else.
    assert_eq!(
        status(v.clone().with_max_body_size(3).verify(&good, body)),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // 401: missing, malformed or duplicated headers.
    assert_eq!(
        status(v.verify(&HeaderMap::new(), body)),
        StatusCode::UNAUTHORIZED
    );
    let mut no_id = good.clone();
    no_id.remove(HEADER_WEBHOOK_ID);
    assert_eq!(status(v.verify(&no_id, body)), StatusCode::UNAUTHORIZED);
    let mut twice = good.clone();
    twice.append(HEADER_HEX_SIGNATURE, HeaderValue::from_static("00"));
    assert_eq!(status(v.verify(&twice, body)), StatusCode::UNAUTHORIZED);
    // 401: tampered body, wrong secret.
    assert_eq!(
        status(v.verify(&good, br#"{"a":2}"#)),
        StatusCode::UNAUTHORIZED
    );
    let other = Verifier::new(secret(SECRET_B))
        .with_body_timestamp_check(false)
        .with_clock(ManualClock::at_unix(NOW));
    assert_eq!(status(other.verify(&good, body)), StatusCode::UNAUTHORIZED);
    // 401: stale and future timestamps.
    for ts in [NOW as i64 - 301, NOW as i64 + 301] {
        let err = v
            .verify(&signed(Schemes::STANDARD, ts, body), body)
            .unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::TimestampTooOld { .. } | VerifyError::TimestampInFuture { .. }
            ),
            "{err:?}"
        );
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    }
    // Every variant, by construction.
    for (err, code) in [
        (VerifyError::MissingHeader { name: "x" }, 401),
        (
            VerifyError::MalformedHeader {
                name: "x",
                reason: "y",
            },
            401,
        ),
        (VerifyError::NoMatchingSignature { name: "x" }, 401),
        (
            VerifyError::TimestampTooOld {
                age_secs: 1,
                tolerance_secs: 0,
            },
            401,
        ),
        (
            VerifyError::TimestampInFuture {
                ahead_secs: 1,
                tolerance_secs: 0,
            },
            401,
        ),
        (
            VerifyError::InvalidBodyTimestamp {
                message: "m".into(),
            },
            401,
        ),
        (VerifyError::BodyTooLarge { size: 2, limit: 1 }, 413),
        (
            VerifyError::InvalidJson {
                path: ".".into(),
                message: "m".into(),
            },
            400,
        ),
    ] {
        assert_eq!(err.status().as_u16(), code, "{err:?}");
    }
}

/// The dedupe key follows what the verifier accepts: with the hex scheme
/// (which signs the body alone) it is the body's SHA-256, the same however a
/// replay's headers were changed; without it, the signed `webhook-id`, the
/// same on every attempt of one delivery, and a replay under another id is
/// refused by its signature.
#[test]
fn the_dedupe_key_is_the_bodys_hash_with_hex_and_the_signed_id_without() {
    let secret = secret(SECRET_A);
    let signer = Signer::new(secret.clone());
    let id = DeliveryId::new(ID_A).unwrap();
    let body = BODY_A;
    let attempt = |ts: i64| {
        let mut h = HeaderMap::new();
        signer.sign_into(&mut h, Schemes::BOTH, &id, ts, body);
        h
    };
    let first = attempt(NOW as i64);
    let retry = attempt(NOW as i64 + 30);

    let standard = Verifier::new(secret.clone())
        .with_schemes(Schemes::STANDARD)
        .with_clock(clock_at(NOW as i64 + 30));
    let a = standard.verify(&first, body).unwrap();
    let b = standard.verify(&retry, body).unwrap();
    assert_eq!(a.dedupe_key, format!("id_{ID_A}"));
    assert_eq!(a.dedupe_key, b.dedupe_key, "every attempt, one key");
    // The same body and signature under another id: refused, so no other
    // key can be had for this delivery.
    let mut other_id = first.clone();
    other_id.insert(HEADER_WEBHOOK_ID, HeaderValue::from_static("msg_other"));
    assert!(matches!(
        standard.verify(&other_id, body),
        Err(VerifyError::NoMatchingSignature { .. })
    ));

    // With hex accepted, the body's hash, whichever scheme verified.
    let both = Verifier::new(secret)
        .with_body_timestamp_check(false)
        .with_clock(clock_at(NOW as i64 + 30));
    let mut hex_only = first.clone();
    for name in [
        HEADER_WEBHOOK_ID,
        HEADER_WEBHOOK_TIMESTAMP,
        HEADER_WEBHOOK_SIGNATURE,
    ] {
        hex_only.remove(name);
    }
    let keys: Vec<String> = [&first, &retry, &hex_only]
        .into_iter()
        .map(|h| both.verify(h, body).unwrap().dedupe_key)
        .collect();
    assert!(keys[0].starts_with("sha256_"), "{}", keys[0]);
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
}
