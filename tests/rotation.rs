//! Timed secret rotation through the dispatcher, on a manual clock: after
//! `Dispatcher::rotate_signing_key`, deliveries carry the new and the old
//! signature during the grace period (24 hours by default) and only the new
//! one from its end on, on `InMemoryStore` and on `PgStore` (which keeps the
//! schedule in its rows). With the `ed25519` feature the endpoint signs `v1`
//! and `v1a` and both keys are rotated.
//!
//! The PostgreSQL case needs `HOOKWIRE_TEST_DATABASE_URL` (see
//! `tests/postgres.rs`): without it, it says loudly that it was skipped,
//! unless `CI=true`, where it fails.

#[cfg(all(feature = "postgres", feature = "reqwest"))]
mod postgres_support;

use std::sync::Arc;
use std::time::Duration;

use hookwire::clock::{Clock, ManualClock};
use hookwire::dispatch::{DispatchError, Dispatcher};
use hookwire::endpoint::{Endpoint, Signing};
use hookwire::http::HeaderMap;
use hookwire::id::EndpointId;
use hookwire::signature::{
    Schemes, Signer, SigningSecret, Verifier, VerifyError, DEFAULT_ROTATION_GRACE,
};
use hookwire::store::{InMemoryStore, Store};
use hookwire::testing::{MockReply, MockTransport};

const T0: u64 = 1_771_515_000;
const BODY: &[u8] = br#"{"action":"startExperience","timestamp":1771515000000}"#;
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// The keys before and after the rotation, and verifiers for each alone.
struct Keys {
    old: Vec<Verifier>,
    new: Vec<Verifier>,
}

fn endpoint_and_keys(
    clock: &ManualClock,
) -> (Endpoint, Keys, Vec<hookwire::signature::SigningKey>) {
    let (old, new) = (SigningSecret::generate(), SigningSecret::generate());
    let only = |v: Verifier| v.with_clock(clock.clone());
    #[cfg_attr(not(feature = "ed25519"), allow(unused_mut))]
    let mut keys = Keys {
        old: vec![only(
            Verifier::new(old.clone()).with_schemes(Schemes::STANDARD),
        )],
        new: vec![only(
            Verifier::new(new.clone()).with_schemes(Schemes::STANDARD),
        )],
    };
    #[cfg_attr(not(feature = "ed25519"), allow(unused_mut))]
    let mut rotate_to = vec![new.into()];
    let signer = Signer::new(old);
    #[cfg(not(feature = "ed25519"))]
    let (signer, schemes) = (signer, Schemes::STANDARD);
    #[cfg(feature = "ed25519")]
    let (signer, schemes) = {
        use hookwire::signature::Ed25519SecretKey;
        let (old, new) = (Ed25519SecretKey::generate(), Ed25519SecretKey::generate());
        keys.old
            .push(only(Verifier::from_public_key(old.public_key())));
        keys.new
            .push(only(Verifier::from_public_key(new.public_key())));
        rotate_to.push(new.into());
        (
            signer.with_current(old).unwrap(),
            Schemes::STANDARD | Schemes::V1A,
        )
    };
    let endpoint = Endpoint::builder("ep_rotating", "https://hooks.example.com/in")
        .signing_with(Signing::new(signer, schemes))
        .build()
        .unwrap();
    (endpoint, keys, rotate_to)
}

/// Publishes one event, sends it, and returns the request's headers.
async fn send_one(dispatcher: &Dispatcher, transport: &MockTransport) -> HeaderMap {
    let before = transport.request_count();
    dispatcher
        .publish_json("startExperience", BODY)
        .await
        .unwrap();
    let report = dispatcher.run_due(10).await.unwrap();
    assert_eq!(report.attempts.len(), 1, "{report:?}");
    assert_eq!(transport.request_count(), before + 1);
    transport.last_request().unwrap().headers
}

fn entries(headers: &HeaderMap) -> Vec<String> {
    let value = headers["webhook-signature"].to_str().unwrap();
    value
        .split(' ')
        .map(|e| e.split(',').next().unwrap().to_owned())
        .collect()
}

fn all_verify(verifiers: &[Verifier], headers: &HeaderMap) -> bool {
    verifiers.iter().all(|v| v.verify(headers, BODY).is_ok())
}

fn none_verify(verifiers: &[Verifier], headers: &HeaderMap) -> bool {
    verifiers.iter().all(|v| {
        v.verify(headers, BODY)
            == Err(VerifyError::NoMatchingSignature {
                name: "webhook-signature",
            })
    })
}

async fn rotation_follows_the_clock(store: Arc<dyn Store>) {
    let clock = ManualClock::at_unix(T0);
    let transport = MockTransport::always(MockReply::ok());
    let dispatcher = Dispatcher::builder(transport.clone(), store.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let (endpoint, keys, rotate_to) = endpoint_and_keys(&clock);
    let id = endpoint.id.clone();
    dispatcher.add_endpoint(endpoint).await.unwrap();
    let kinds = |n: usize| -> Vec<String> {
        let mut kinds = vec!["v1".to_owned(); n];
        if cfg!(feature = "ed25519") {
            kinds.extend(vec!["v1a".to_owned(); n]);
        }
        kinds
    };

    // Before: the old keys only.
    let headers = send_one(&dispatcher, &transport).await;
    assert_eq!(entries(&headers), kinds(1));
    assert!(all_verify(&keys.old, &headers) && none_verify(&keys.new, &headers));

    clock.advance(Duration::from_secs(3600));
    let rotated_at = clock.now();
    for key in rotate_to {
        dispatcher
            .rotate_signing_key(&id, key, DEFAULT_ROTATION_GRACE)
            .await
            .unwrap();
    }
    let stored = store.endpoint(&id).await.unwrap().unwrap();
    let signer = stored.signing.unwrap().signer;
    assert_eq!(signer.previous()[0].expires_at, Some(rotated_at + DAY));

    // During the grace period, to its last second: both, the new first.
    for at in [rotated_at, rotated_at + DAY - Duration::from_secs(1)] {
        clock.set(at);
        let headers = send_one(&dispatcher, &transport).await;
        assert_eq!(entries(&headers), kinds(2), "at {at:?}");
        assert!(all_verify(&keys.new, &headers), "new keys at {at:?}");
        assert!(all_verify(&keys.old, &headers), "old keys at {at:?}");
    }

    // From the end of the grace period on: the new keys only, for ever.
    for at in [rotated_at + DAY, rotated_at + 30 * DAY] {
        clock.set(at);
        let headers = send_one(&dispatcher, &transport).await;
        assert_eq!(entries(&headers), kinds(1), "at {at:?}");
        assert!(all_verify(&keys.new, &headers), "new keys at {at:?}");
        assert!(none_verify(&keys.old, &headers), "old keys at {at:?}");
    }

    // Rotating an unknown or unsigned endpoint is a typed error.
    let missing = EndpointId::new("ep_missing").unwrap();
    assert!(matches!(
        dispatcher
            .rotate_signing_key(&missing, SigningSecret::generate(), DEFAULT_ROTATION_GRACE)
            .await,
        Err(DispatchError::UnknownEndpoint(_))
    ));
    let unsigned = Endpoint::builder("ep_unsigned", "https://hooks.example.com/u")
        .build()
        .unwrap();
    let unsigned_id = unsigned.id.clone();
    dispatcher.add_endpoint(unsigned).await.unwrap();
    assert!(matches!(
        dispatcher
            .rotate_signing_key(
                &unsigned_id,
                SigningSecret::generate(),
                DEFAULT_ROTATION_GRACE
            )
            .await,
        Err(DispatchError::Unsigned(_))
    ));
}

#[tokio::test]
async fn rotation_on_the_in_memory_store() {
    rotation_follows_the_clock(Arc::new(InMemoryStore::new())).await;
}

#[cfg(all(feature = "postgres", feature = "reqwest"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_on_pg_store() {
    let Some(url) = postgres_support::database_url() else {
        return;
    };
    let store = postgres_support::fresh_store(&url, "hw_test_rotation", 2).await;
    rotation_follows_the_clock(Arc::new(store.clone())).await;
    postgres_support::drop_schema(&store).await;
}
