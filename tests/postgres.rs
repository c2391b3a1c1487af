//! PgStore against a real PostgreSQL server: the conformance suite, leasing
//! and claiming from many connections at once, endpoint persistence, and a
//! restart with deliveries still due.
//!
//! Needs `HOOKWIRE_TEST_DATABASE_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/test`); without it the tests say loudly
//! that they were skipped, unless `CI=true`, where they fail. Each test works in
//! a schema of its own, so they run in parallel.
#![cfg(all(feature = "postgres", feature = "test-util", feature = "reqwest"))]
// This program measures real time; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

mod postgres_support;
mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use hookwire::bytes::Bytes;
use hookwire::dispatch::Dispatcher;
use hookwire::endpoint::{Endpoint, EventFilter};
use hookwire::http::Method;
use hookwire::id::{DeliveryId, EndpointId, EventId};
use hookwire::signature::{Schemes, Signer, SigningSecret};
use hookwire::store::{
    Claim, DeliveryFilter, NewDelivery, NewEvent, PgStore, Store, StoreErrorKind,
};
use hookwire::testing::store_conformance;
use hookwire::transport::ReqwestTransport;
use hookwire::worker::Worker;
use postgres_support::{counts, database_url, drop_schema, fresh_store, store, truncate};
use support::http_server::{Reply, TestServer};
use tokio::sync::Barrier;

fn t0() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn endpoint(id: &str, url: &str) -> Endpoint {
    Endpoint::builder(id, url).build().expect("valid endpoint")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_conformance_suite() {
    let Some(url) = database_url() else { return };
    let store = fresh_store(&url, "hw_test_conformance", 8).await;
    store_conformance(|| {
        let store = store.clone();
        async move {
            truncate(&store).await;
            store
        }
    })
    .await;
    drop_schema(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_conformance_suite_as_arc_dyn_store() {
    let Some(url) = database_url() else { return };
    let store = fresh_store(&url, "hw_test_conformance_dyn", 8).await;
    store_conformance(|| {
        let store = store.clone();
        async move {
            truncate(&store).await;
            Arc::new(store) as Arc<dyn Store>
        }
    })
    .await;
    drop_schema(&store).await;
}

/// 16 tasks, each on its own connection, lease 2,000 due deliveries at once:
/// no delivery is handed out twice, and together they take all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_leasers_never_share_a_delivery() {
    let Some(url) = database_url() else { return };
    const EVENTS: usize = 500;
    let store = fresh_store(&url, "hw_test_leasers", 4).await;
    let endpoints = ["ep_a", "ep_b", "ep_c", "ep_d"];
    for id in endpoints {
        store
            .put_endpoint(endpoint(id, "http://127.0.0.1:9/"))
            .await
            .unwrap();
    }
    for e in 0..EVENTS {
        let event = NewEvent::new(
            EventId::new(format!("evt_{e}")).unwrap(),
            "startExperience",
            Bytes::from(format!("{{\"n\":{e}}}")),
            t0(),
        );
        let deliveries = endpoints
            .iter()
            .map(|ep| {
                NewDelivery::new(
                    DeliveryId::new(format!("dlv_{e}_{ep}")).unwrap(),
                    EndpointId::new(*ep).unwrap(),
                    t0() + Duration::from_secs((e % 7) as u64),
                )
            })
            .collect();
        assert!(store.insert_event(event, deliveries).await.unwrap());
    }
    let barrier = Arc::new(Barrier::new(16));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = postgres_support::store(&url, "hw_test_leasers", 1);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                // Open the connection first, so the leases really race.
                drop(store.pool().get().await.unwrap());
                barrier.wait().await;
                let mut mine = Vec::new();
                loop {
                    let batch = store
                        .lease_due(t0() + Duration::from_secs(10), 25, Duration::from_secs(60))
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        break;
                    }
                    mine.extend(batch.into_iter().map(|l| (l.delivery.id, l.lease.token)));
                }
                mine
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut tokens = HashSet::new();
    let mut busy = 0;
    for task in tasks {
        let mine = task.await.unwrap();
        if !mine.is_empty() {
            busy += 1;
        }
        for (id, token) in mine {
            assert!(seen.insert(id.clone()), "{id} was leased twice");
            assert!(tokens.insert(token), "token {token} handed out twice");
        }
    }
    assert_eq!(seen.len(), EVENTS * endpoints.len());
    eprintln!(
        "16 leasers: {} deliveries leased by {busy} tasks",
        seen.len()
    );
    drop_schema(&store).await;
}

/// 8 tasks, each with its own connection, fire the same journey step for the
/// same profile at once, 50 times over: one delivery per step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_claims_store_one_delivery() {
    let Some(url) = database_url() else { return };
    const KEYS: usize = 50;
    const CLAIMERS: usize = 8;
    let store = fresh_store(&url, "hw_test_claims", 2).await;
    store
        .put_endpoint(endpoint("ep_a", "http://127.0.0.1:9/"))
        .await
        .unwrap();
    let barrier = Arc::new(Barrier::new(CLAIMERS));
    let tasks: Vec<_> = (0..CLAIMERS)
        .map(|c| {
            let store = postgres_support::store(&url, "hw_test_claims", 1);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                drop(store.pool().get().await.unwrap());
                let mut out = Vec::new();
                for k in 0..KEYS {
                    barrier.wait().await;
                    let key = format!("journey-1/step-{k}/profile-42");
                    let event = NewEvent::new(
                        EventId::new(format!("evt_{k}_{c}")).unwrap(),
                        "startExperience",
                        Bytes::from_static(b"{}"),
                        t0(),
                    );
                    let delivery = NewDelivery::new(
                        DeliveryId::new(format!("dlv_{k}_{c}")).unwrap(),
                        EndpointId::new("ep_a").unwrap(),
                        t0(),
                    );
                    out.push((k, store.claim_once(&key, event, delivery).await.unwrap()));
                }
                out
            })
        })
        .collect();
    let mut by_key: HashMap<usize, Vec<Claim>> = HashMap::new();
    for task in tasks {
        for (k, claim) in task.await.unwrap() {
            by_key.entry(k).or_default().push(claim);
        }
    }
    for (k, claims) in &by_key {
        let inserted: Vec<&DeliveryId> = claims
            .iter()
            .filter_map(|c| match c {
                Claim::Inserted(id) => Some(id),
                _ => None,
            })
            .collect();
        assert_eq!(inserted.len(), 1, "key {k}: {claims:?}");
        for c in claims {
            if let Claim::Existing(id) = c {
                assert_eq!(id, inserted[0], "key {k}");
            }
        }
    }
    let all = store
        .deliveries(&DeliveryFilter::all(usize::MAX))
        .await
        .unwrap();
    assert_eq!(all.len(), KEYS, "one delivery per journey step");
    drop_schema(&store).await;
}

/// Every endpoint field survives the database: method, filter, secrets
/// (current and previous), schemes, headers (sensitive ones stay sensitive).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_keep_every_field() {
    let Some(url) = database_url() else { return };
    let store = fresh_store(&url, "hw_test_endpoints", 2).await;
    let current = SigningSecret::from_bytes(vec![1u8; 32]).unwrap();
    let previous = SigningSecret::from_bytes(vec![2u8; 24]).unwrap();
    let signing = hookwire::endpoint::Signing::new(
        Signer::new(current).with_previous(previous).unwrap(),
        Schemes::HEX,
    );
    let ep = Endpoint::builder("ep_full", "https://hooks.example.com/a?b=c")
        .method(Method::PUT)
        .events(["startExperience", "endExperience"])
        .signing_with(signing)
        .header("x-team", "growth")
        .secret_header("authorization", "Bearer abc")
        .description("full")
        .enabled(false)
        .build()
        .unwrap();
    store.put_endpoint(ep.clone()).await.unwrap();
    let got = store.endpoint(&ep.id).await.unwrap().unwrap();
    assert_eq!(got.url, ep.url);
    assert_eq!(got.method, Method::PUT);
    assert_eq!(got.events, ep.events);
    assert!(matches!(got.events, EventFilter::Only(_)));
    assert_eq!(got.description, "full");
    assert!(!got.enabled);
    let signing = got.signing.expect("signing kept");
    assert_eq!(
        signing.signer.current().unwrap().expose_bytes(),
        &[1u8; 32][..]
    );
    let previous: Vec<&[u8]> = signing
        .signer
        .previous()
        .iter()
        .map(|s| s.key.expose_bytes())
        .collect();
    assert_eq!(previous, vec![&[2u8; 24][..]]);
    assert_eq!(signing.schemes, Schemes::HEX);
    assert_eq!(got.headers, ep.headers);
    assert!(got.headers["authorization"].is_sensitive());
    assert!(!got.headers["x-team"].is_sensitive());

    // Unsigned, all events, a private target (the target guard is the
    // dispatcher's; the store keeps the URL as it is).
    let plain = endpoint("ep_plain", "http://127.0.0.1:8080/x");
    store.put_endpoint(plain.clone()).await.unwrap();
    let got = store.endpoint(&plain.id).await.unwrap().unwrap();
    assert!(got.signing.is_none());
    assert_eq!(got.events, EventFilter::All);
    assert_eq!(got.url, plain.url);
    assert!(got.headers.is_empty());
    drop_schema(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent_and_safe_to_run_at_once() {
    let Some(url) = database_url() else { return };
    let store = fresh_store(&url, "hw_test_migrate", 2).await;
    store.migrate().await.unwrap();
    // A new schema migrated by 6 processes starting at once.
    let schema = "hw_test_migrate_race";
    let raced = postgres_support::store(&url, schema, 1);
    drop_schema(&raced).await;
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let store = postgres_support::store(&url, schema, 1);
            tokio::spawn(async move { store.migrate().await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert!(raced.endpoints().await.unwrap().is_empty());
    drop_schema(&raced).await;
    assert!(PgStore::schema_sql("x").contains("CREATE TABLE \"x\".deliveries"));
    assert_eq!(
        PgStore::migrations("x").len() as i32,
        PgStore::SCHEMA_VERSION
    );

    // Schema names are checked.
    for bad in ["", "Bad", "a-b", "1a", "a\"b"] {
        let err = PgStore::connect(&url, 1)
            .unwrap()
            .with_schema(bad)
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Other, "{bad:?}");
    }
    // System schemas are refused, `public` unless chosen on purpose.
    for (system, says) in [
        ("public", "with_public_schema"),
        ("information_schema", "system schema"),
        ("pg_catalog", "system schema"),
        ("pg_temp", "system schema"),
        ("pg_temp_3", "system schema"),
        ("pg_toast", "system schema"),
        ("pg_toast_temp_1", "system schema"),
    ] {
        let err = PgStore::connect(&url, 1)
            .unwrap()
            .with_schema(system)
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Other, "{system}");
        let why = std::error::Error::source(&err)
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(why.contains(says), "{system}: {why}");
    }
    let public = PgStore::connect(&url, 1).unwrap().with_public_schema();
    assert_eq!(public.schema(), "public");
    drop_schema(&store).await;
}

/// Unreadable rows are reported as Corrupt, never a panic; an unreachable
/// database as Unavailable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_are_corrupt_and_a_dead_server_is_unavailable() {
    let Some(url) = database_url() else { return };
    let store = fresh_store(&url, "hw_test_corrupt", 2).await;
    store
        .put_endpoint(endpoint("ep_a", "http://127.0.0.1:9/"))
        .await
        .unwrap();
    let event = NewEvent::new(EventId::new("evt_1").unwrap(), "k", Bytes::new(), t0());
    let d = NewDelivery::new(
        DeliveryId::new("dlv_1").unwrap(),
        EndpointId::new("ep_a").unwrap(),
        t0(),
    );
    store.insert_event(event, vec![d]).await.unwrap();
    {
        let client = store.pool().get().await.unwrap();
        let s = store.schema();
        client
            .batch_execute(&format!(
                "UPDATE {s}.endpoints SET headers = '{{\"no\": 1}}';
                 ALTER TABLE {s}.deliveries DROP CONSTRAINT deliveries_state_check;
                 UPDATE {s}.deliveries SET state = 'weird';"
            ))
            .await
            .unwrap();
    }
    let err = store.endpoints().await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt);
    let err = store
        .delivery(&DeliveryId::new("dlv_1").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt);

    let nowhere = PgStore::connect("postgres://postgres@127.0.0.1:1/test", 1).unwrap();
    let err = nowhere.endpoints().await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Unavailable);
    // Duplicate delivery ids are a Conflict, and store nothing.
    let store = fresh_store(&url, "hw_test_corrupt", 2).await;
    let mk = |e: &str| NewEvent::new(EventId::new(e).unwrap(), "k", Bytes::new(), t0());
    let d = |id: &str| {
        NewDelivery::new(
            DeliveryId::new(id).unwrap(),
            EndpointId::new("ep_a").unwrap(),
            t0(),
        )
    };
    assert!(store
        .insert_event(mk("evt_1"), vec![d("dlv_1")])
        .await
        .unwrap());
    let err = store
        .insert_event(mk("evt_2"), vec![d("dlv_2"), d("dlv_1")])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Conflict);
    assert!(store.insert_event(mk("evt_2"), vec![]).await.unwrap());
    drop_schema(&store).await;
}

/// Every worker stops (gracefully) with deliveries still due; one started
/// later, over a new pool, delivers all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_due_at_a_stop_are_delivered_after_a_restart() {
    let Some(url) = database_url() else { return };
    const EVENTS: usize = 2_000;
    let schema = "hw_test_restart";
    let server = TestServer::always(Reply::status(200)).await;
    let store0 = fresh_store(&url, schema, 4).await;
    store0
        .put_endpoint(endpoint("ep_a", &server.url("/hook")))
        .await
        .unwrap();
    // The receiver is on 127.0.0.1.
    let dispatcher = |store: PgStore, concurrency: usize| {
        let transport = ReqwestTransport::builder().build().unwrap();
        Dispatcher::builder(transport, store)
            .allow_private_targets(true)
            .concurrency(concurrency)
            .build()
            .unwrap()
    };
    let publisher = dispatcher(store0.clone(), 8);
    for i in 0..EVENTS {
        publisher
            .publish_json("startExperience", format!("{{\"n\":{i}}}"))
            .await
            .unwrap();
    }
    // Two workers run until a few hundred are through, then all stop.
    let workers: Vec<_> = (0..2)
        .map(|_| {
            Worker::new(dispatcher(store(&url, schema, 4), 8))
                .poll_interval(Duration::from_millis(50))
                .batch_size(16)
                .spawn()
                .unwrap()
        })
        .collect();
    let started = Instant::now();
    while counts(&store0).await.1 < 200 {
        assert!(started.elapsed() < Duration::from_secs(60), "too slow");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for w in workers {
        w.shutdown().await;
    }
    let (pending, succeeded, _) = counts(&store0).await;
    assert!(pending > 0, "every delivery went out before the stop");
    eprintln!("stopped with {pending} due, {succeeded} delivered");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        counts(&store0).await.0,
        pending,
        "nothing moves while stopped"
    );

    // Later: one worker, a new pool.
    let worker = Worker::new(dispatcher(store(&url, schema, 4), 16))
        .poll_interval(Duration::from_millis(50))
        .spawn()
        .unwrap();
    let started = Instant::now();
    while counts(&store0).await.1 < EVENTS as i64 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not all delivered after the restart: {:?}",
            counts(&store0).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let summary = worker.shutdown().await;
    assert_eq!(counts(&store0).await, (0, EVENTS as i64, 0));
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for r in server.requests() {
        *per_id
            .entry(r.header("webhook-id").unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_id.len(), EVENTS, "every delivery reached the receiver");
    let dupes = per_id.values().filter(|&&n| n > 1).count();
    assert_eq!(dupes, 0, "a graceful stop delivers nothing twice");
    eprintln!("after the restart: {summary:?}");
    drop_schema(&store0).await;
}

/// 8 dispatchers, each over its own connection (as 8 processes would be),
/// fire the same journey step for the same profile at once: one delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_dispatchers_firing_one_journey_step_enqueue_once() {
    use hookwire::dispatch::{Fire, FireOutcome};
    use hookwire::model::journey::{ConsentState, JourneyStep, Profile};
    use hookwire::testing::MockTransport;

    let Some(url) = database_url() else { return };
    let schema = "hw_test_journey";
    let store0 = fresh_store(&url, schema, 2).await;
    let step = JourneyStep::builder(
        "jrn_onboarding",
        "step_signup",
        "Signup Completed",
        "POST",
        "https://api.crm.example.com/leads",
    )
    .required_consent("marketing")
    .build()
    .unwrap();
    let mut profile = Profile {
        profile_id: Some("usr_12ab45c99d77".into()),
        email: Some("user@example.com".into()),
        identity_resolved: true,
        ..Profile::default()
    };
    profile
        .consents
        .insert("marketing".into(), ConsentState::Granted);
    let barrier = Arc::new(Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let dispatcher =
                Dispatcher::builder(MockTransport::new(Vec::new()), store(&url, schema, 1))
                    .build()
                    .unwrap();
            let (step, profile, barrier) = (step.clone(), profile.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                dispatcher.store().endpoints().await.unwrap(); // connect first
                barrier.wait().await;
                dispatcher.fire(&step, Fire::new(&profile)).await.unwrap()
            })
        })
        .collect();
    let mut enqueued = Vec::new();
    let mut duplicates = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            FireOutcome::Enqueued(id) => enqueued.push(id),
            FireOutcome::Duplicate(id) => duplicates.push(id),
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(enqueued.len(), 1, "{enqueued:?} {duplicates:?}");
    assert!(duplicates.iter().all(|d| *d == enqueued[0]));
    let all = store0
        .deliveries(&DeliveryFilter::all(usize::MAX))
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "one delivery for the step");
    drop_schema(&store0).await;
}

/// A database at schema version 1 upgrades in place, and the successes it
/// recorded before the upgrade can be pruned (their finish time is backfilled
/// from their attempts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_schema_upgrades_and_its_old_successes_can_be_pruned() {
    let Some(url) = database_url() else { return };
    let store = postgres_support::store(&url, "hw_test_upgrade", 2);
    let schema = store.schema().to_owned();
    let (_, v1) = PgStore::migrations(&schema).remove(0);
    {
        let client = store.pool().get().await.unwrap();
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE;
                 {v1}
                 CREATE TABLE {schema}.hookwire_migrations (
                     version INTEGER PRIMARY KEY,
                     applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
                 INSERT INTO {schema}.hookwire_migrations (version) VALUES (1);
                 INSERT INTO {schema}.endpoints (id, url, allow_private, method, enabled)
                   VALUES ('ep_a', 'http://127.0.0.1:9/in', TRUE, 'POST', TRUE);"
            ))
            .await
            .unwrap();
    }
    // Version 1's statements are enough to store these.
    let deliveries = vec![
        NewDelivery::new(
            DeliveryId::new("dlv_old").unwrap(),
            EndpointId::new("ep_a").unwrap(),
            t0(),
        ),
        NewDelivery::new(
            DeliveryId::new("dlv_pending").unwrap(),
            EndpointId::new("ep_a").unwrap(),
            t0(),
        ),
    ];
    let event = NewEvent::new(
        EventId::new("evt_1").unwrap(),
        "startExperience",
        Bytes::from_static(b"{}"),
        t0(),
    );
    assert!(store.insert_event(event, deliveries).await.unwrap());
    // dlv_old succeeded under version 1: attempt at t0, 5 ms.
    let started = t0().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64;
    {
        let client = store.pool().get().await.unwrap();
        client
            .batch_execute(&format!(
                "UPDATE {schema}.deliveries SET state = 'succeeded', attempts = 1 WHERE id = 'dlv_old';
                 INSERT INTO {schema}.attempts (delivery_seq, attempt, started_at, duration_us, status)
                   SELECT seq, 1, {started}, 5000, 200 FROM {schema}.deliveries WHERE id = 'dlv_old';"
            ))
            .await
            .unwrap();
    }

    store.migrate().await.unwrap();
    // Version 3 dropped the endpoints' private-targets flag: the row reads back.
    let ep_a = store
        .endpoint(&EndpointId::new("ep_a").unwrap())
        .await
        .unwrap()
        .expect("ep_a kept");
    assert_eq!(ep_a.url.host(), "127.0.0.1");
    assert_eq!(
        store
            .prune_succeeded(t0() + Duration::from_millis(4), 10)
            .await
            .unwrap(),
        0,
        "it finished at t0 + 5 ms"
    );
    assert_eq!(
        store
            .prune_succeeded(t0() + Duration::from_millis(6), 10)
            .await
            .unwrap(),
        1
    );
    assert!(store
        .delivery(&DeliveryId::new("dlv_old").unwrap())
        .await
        .unwrap()
        .is_none());
    let pending = store
        .delivery(&DeliveryId::new("dlv_pending").unwrap())
        .await
        .unwrap()
        .expect("pending deliveries are never pruned");
    assert_eq!(&pending.payload[..], b"{}", "its event stays");
    drop_schema(&store).await;
}

/// A database at schema version 3 (the last before reasons and the
/// endpoints' flow settings) upgrades in place with every row intact: its
/// endpoints read back with the default flow settings, its deliveries with
/// no reason, its failed attempts with their error's name as the reason; and
/// the new columns work at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_3_schema_upgrades_to_4_with_its_rows_intact() {
    use hookwire::endpoint::Gone;
    use hookwire::store::{AttemptResult, DeliveryState, REASON_ENDPOINT_DELETED};
    use hookwire::transport::TransportErrorKind;

    let Some(url) = database_url() else { return };
    let store = postgres_support::store(&url, "hw_test_upgrade_3", 2);
    let schema = store.schema().to_owned();
    let up_to_3: Vec<String> = PgStore::migrations(&schema)
        .into_iter()
        .filter(|(v, _)| *v <= 3)
        .map(|(_, sql)| sql)
        .collect();
    assert_eq!(up_to_3.len(), 3);
    let up_to_3 = up_to_3.join("\n");
    let started = t0().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64;
    {
        let client = store.pool().get().await.unwrap();
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE;
                 {up_to_3}
                 CREATE TABLE {schema}.hookwire_migrations (
                     version INTEGER PRIMARY KEY,
                     applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
                 INSERT INTO {schema}.hookwire_migrations (version) VALUES (1), (2), (3);
                 INSERT INTO {schema}.endpoints (id, url, method, events, enabled, description, dead_in_a_row)
                   VALUES ('ep_a', 'http://127.0.0.1:9/in', 'PUT', '{{startExperience}}', TRUE, 'kept', 2),
                          ('ep_off', 'http://127.0.0.1:9/off', 'POST', NULL, FALSE, '', 0);
                 INSERT INTO {schema}.events (id, kind, payload, created_at)
                   VALUES ('evt_1', 'startExperience', '\\x7b7d', {started});
                 INSERT INTO {schema}.deliveries
                     (id, event_id, endpoint_id, url, state, attempts, next_attempt_at, available_at, finished_at)
                   VALUES ('dlv_dead', 'evt_1', 'ep_a', NULL, 'dead', 2, {started}, {started}, {started} + 9000),
                          ('dlv_pending', 'evt_1', 'ep_a', 'http://127.0.0.1:9/in/42', 'pending', 1, {started}, {started}, NULL),
                          ('dlv_off', 'evt_1', 'ep_off', NULL, 'pending', 0, {started}, {started}, NULL);
                 INSERT INTO {schema}.attempts (delivery_seq, attempt, started_at, duration_us, status, body, error)
                   SELECT seq, 1, {started}, 4000, NULL::INTEGER, NULL::BYTEA, 'timeout' FROM {schema}.deliveries WHERE id = 'dlv_dead'
                   UNION ALL
                   SELECT seq, 2, {started} + 5000, 4000, 503, '\\x6e6f', NULL FROM {schema}.deliveries WHERE id = 'dlv_dead'
                   UNION ALL
                   SELECT seq, 1, {started}, 1000, NULL, NULL, 'connect' FROM {schema}.deliveries WHERE id = 'dlv_pending';"
            ))
            .await
            .unwrap();
    }

    store.migrate().await.unwrap();
    {
        let client = store.pool().get().await.unwrap();
        let versions: Vec<i32> = client
            .query(
                &format!("SELECT version FROM {schema}.hookwire_migrations ORDER BY version"),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(versions, (1..=PgStore::SCHEMA_VERSION).collect::<Vec<_>>());
    }

    // Endpoints: every field kept, the flow settings at their defaults.
    let a = EndpointId::new("ep_a").unwrap();
    let ep_a = store.endpoint(&a).await.unwrap().expect("ep_a kept");
    assert_eq!(ep_a.url.full(), "http://127.0.0.1:9/in");
    assert_eq!(ep_a.method, Method::PUT);
    assert!(matches!(ep_a.events, EventFilter::Only(_)));
    assert_eq!((ep_a.enabled, ep_a.description.as_str()), (true, "kept"));
    assert_eq!(
        (ep_a.max_in_flight, ep_a.gone),
        (None, Gone::DisablesEndpoint)
    );
    let listed: Vec<String> = store
        .endpoints()
        .await
        .unwrap()
        .iter()
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(listed, vec!["ep_a", "ep_off"]);

    // Deliveries: as they were, with no reason.
    let dead = store
        .delivery(&DeliveryId::new("dlv_dead").unwrap())
        .await
        .unwrap()
        .expect("dlv_dead kept");
    assert_eq!(
        (dead.state, dead.attempts, dead.reason.as_deref()),
        (DeliveryState::Dead, 2, None)
    );
    assert_eq!(&dead.payload[..], b"{}");
    let pending = store
        .delivery(&DeliveryId::new("dlv_pending").unwrap())
        .await
        .unwrap()
        .expect("dlv_pending kept");
    assert_eq!(
        (pending.state, pending.attempts, pending.url.as_deref()),
        (DeliveryState::Pending, 1, Some("http://127.0.0.1:9/in/42"))
    );
    // Attempts: a failure recorded without a reason reads back with its
    // error's name as the reason.
    let history = store.attempts(&dead.id).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        history[0].result,
        AttemptResult::error(TransportErrorKind::Timeout, "timeout")
    );
    assert!(matches!(
        &history[1].result,
        AttemptResult::Response { status: 503, body } if &body[..] == b"no"
    ));

    // The new columns work at once, beside the old ones: a defer's reason, a
    // count of dead deliveries carried over, an endpoint's flow settings.
    let leased = store
        .lease_due(t0(), 10, Duration::from_secs(30))
        .await
        .unwrap();
    let ids: Vec<&str> = leased.iter().map(|l| l.delivery.id.as_str()).collect();
    assert_eq!(ids, vec!["dlv_pending"], "ep_off is disabled");
    store
        .defer(&leased[0].lease, t0() + Duration::from_secs(5), "deferred")
        .await
        .unwrap();
    let deferred = store.delivery(&pending.id).await.unwrap().unwrap();
    assert_eq!(deferred.reason.as_deref(), Some("deferred"));
    let again = store
        .lease_due(t0() + Duration::from_secs(5), 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    let failed = hookwire::store::AttemptRecord::new(
        2,
        t0() + Duration::from_secs(5),
        Duration::from_millis(1),
        AttemptResult::error(TransportErrorKind::Connect, "connection refused"),
    );
    let report = store
        .finish_attempt(&again[0].lease, failed, hookwire::store::NextState::Dead)
        .await
        .unwrap();
    assert_eq!(report.dead_in_a_row, 3, "ep_a's count of 2 carried over");
    let tuned = Endpoint::builder("ep_off", "http://127.0.0.1:9/off")
        .max_in_flight(u32::MAX)
        .gone(Gone::EndsDelivery)
        .enabled(false)
        .build()
        .unwrap();
    store.put_endpoint(tuned).await.unwrap();
    let off = store
        .endpoint(&EndpointId::new("ep_off").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (off.max_in_flight, off.gone),
        (Some(u32::MAX), Gone::EndsDelivery)
    );
    assert!(store
        .delete_endpoint(&EndpointId::new("ep_off").unwrap())
        .await
        .unwrap());
    let off = store
        .delivery(&DeliveryId::new("dlv_off").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (off.state, off.reason.as_deref()),
        (DeliveryState::Dead, Some(REASON_ENDPOINT_DELETED))
    );
    drop_schema(&store).await;
}

/// A version-4 schema with rows in it upgrades to version 5: a delivery
/// redelivered before the upgrade numbers its next attempt after the ones it
/// has; each endpoint's health starts from what its history says (its last
/// attempt, its last success), nothing disabled with a record; and the new
/// columns work at once (health kept current by an attempt, a disabling
/// with a reason, attempts listed newest first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_4_schema_upgrades_to_5_with_its_health_drawn_from_history() {
    use hookwire::store::{
        AttemptFilter, AttemptOutcome, AttemptRecord, AttemptResult, DeliveryCounts, DeliveryState,
        NextState, Order,
    };
    use hookwire::transport::TransportErrorKind;

    let Some(url) = database_url() else { return };
    let store = postgres_support::store(&url, "hw_test_upgrade_4", 2);
    let schema = store.schema().to_owned();
    let up_to_4: Vec<String> = PgStore::migrations(&schema)
        .into_iter()
        .filter(|(v, _)| *v <= 4)
        .map(|(_, sql)| sql)
        .collect();
    assert_eq!(up_to_4.len(), 4);
    let up_to_4 = up_to_4.join("\n");
    let started = t0().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64;
    {
        let client = store.pool().get().await.unwrap();
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE;
                 {up_to_4}
                 CREATE TABLE {schema}.hookwire_migrations (
                     version INTEGER PRIMARY KEY,
                     applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
                 INSERT INTO {schema}.hookwire_migrations (version) VALUES (1), (2), (3), (4);
                 INSERT INTO {schema}.endpoints (id, url, method, events, enabled, description, dead_in_a_row)
                   VALUES ('ep_a', 'http://127.0.0.1:9/in', 'POST', NULL, TRUE, '', 0),
                          ('ep_off', 'http://127.0.0.1:9/off', 'POST', NULL, FALSE, '', 0),
                          ('ep_new', 'http://127.0.0.1:9/new', 'POST', NULL, TRUE, '', 0);
                 INSERT INTO {schema}.events (id, kind, payload, created_at)
                   VALUES ('evt_1', 'startExperience', '\\x7b7d', {started});
                 INSERT INTO {schema}.deliveries
                     (id, event_id, endpoint_id, url, state, attempts, next_attempt_at, available_at, finished_at)
                   VALUES ('dlv_ok', 'evt_1', 'ep_a', NULL, 'succeeded', 1, {started}, {started}, {started} + 1000),
                          ('dlv_again', 'evt_1', 'ep_a', NULL, 'pending', 0, {started}, {started}, NULL),
                          ('dlv_off', 'evt_1', 'ep_off', NULL, 'dead', 1, {started}, {started}, {started});
                 INSERT INTO {schema}.attempts (delivery_seq, attempt, started_at, duration_us, status, body, error, reason)
                   SELECT seq, 1, {started}, 1000, 200, '\\x'::BYTEA, NULL::TEXT, NULL::TEXT FROM {schema}.deliveries WHERE id = 'dlv_ok'
                   UNION ALL
                   SELECT seq, 1, {started} + 10, 1000, NULL, NULL, 'connect', 'connection refused' FROM {schema}.deliveries WHERE id = 'dlv_again'
                   UNION ALL
                   SELECT seq, 2, {started} + 20, 1000, 503, '\\x', NULL, NULL FROM {schema}.deliveries WHERE id = 'dlv_again'
                   UNION ALL
                   SELECT seq, 1, {started}, 1000, 500, '\\x', NULL, NULL FROM {schema}.deliveries WHERE id = 'dlv_off';"
            ))
            .await
            .unwrap();
    }

    store.migrate().await.unwrap();
    {
        let client = store.pool().get().await.unwrap();
        let versions: Vec<i32> = client
            .query(
                &format!("SELECT version FROM {schema}.hookwire_migrations ORDER BY version"),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(versions, (1..=PgStore::SCHEMA_VERSION).collect::<Vec<_>>());
    }

    // Totals from the history: dlv_again was redelivered after two attempts.
    let again = store
        .delivery(&DeliveryId::new("dlv_again").unwrap())
        .await
        .unwrap()
        .expect("dlv_again kept");
    assert_eq!((again.attempts, again.attempts_total), (0, 2));

    // Health from the history.
    let a = EndpointId::new("ep_a").unwrap();
    let health = store.endpoint_health(&a).await.unwrap().expect("ep_a");
    assert!(health.enabled);
    assert_eq!(health.deliveries, DeliveryCounts::new(1, 1, 0));
    let last = health.last_attempt.clone().expect("ep_a's last attempt");
    assert_eq!(
        (last.delivery_id.as_str(), last.attempt, last.outcome),
        ("dlv_again", 2, AttemptOutcome::Status(503))
    );
    assert_eq!(last.started_at, t0() + Duration::from_micros(20));
    assert_eq!(health.last_success_at, Some(t0()));
    assert_eq!(health.consecutive_failures, 0, "not counted before v5");
    assert_eq!(health.disabled, None);
    let all = store.endpoints_health().await.unwrap();
    let ids: Vec<&str> = all.iter().map(|h| h.endpoint_id.as_str()).collect();
    assert_eq!(ids, vec!["ep_a", "ep_new", "ep_off"]);
    let off = &all[2];
    assert_eq!(
        (off.enabled, off.disabled.clone(), off.deliveries),
        (false, None, DeliveryCounts::new(0, 0, 1)),
        "disabled before v5: no record of when or why"
    );
    assert_eq!(
        (all[1].last_attempt.clone(), all[1].last_success_at),
        (None, None),
        "an endpoint with no history has none"
    );

    // The new columns work at once.
    let leased = store
        .lease_due(t0(), 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].delivery.attempts_total, 2);
    let record = AttemptRecord::new(
        leased[0].delivery.attempts_total + 1,
        t0() + Duration::from_secs(1),
        Duration::from_millis(1),
        AttemptResult::error(TransportErrorKind::Timeout, "timed out after 10 s"),
    );
    store
        .finish_attempt(&leased[0].lease, record, NextState::Dead)
        .await
        .unwrap();
    let health = store.endpoint_health(&a).await.unwrap().unwrap();
    assert_eq!(health.deliveries, DeliveryCounts::new(0, 1, 1));
    assert_eq!(health.consecutive_failures, 1);
    assert_eq!(
        health.last_attempt.map(|l| (l.attempt, l.outcome)),
        Some((
            3,
            AttemptOutcome::Failed {
                kind: TransportErrorKind::Timeout,
                reason: "timed out after 10 s".to_owned()
            }
        ))
    );
    let newest = store
        .list_attempts(
            &AttemptFilter::all(2)
                .endpoint(a.clone())
                .order(Order::NewestFirst),
        )
        .await
        .unwrap();
    let numbers: Vec<(String, u32)> = newest
        .iter()
        .map(|l| (l.delivery_id.to_string(), l.record.attempt))
        .collect();
    assert_eq!(
        numbers,
        vec![("dlv_again".to_owned(), 3), ("dlv_again".to_owned(), 2)]
    );
    let rest = store
        .list_attempts(
            &AttemptFilter::all(10)
                .endpoint(a.clone())
                .order(Order::NewestFirst)
                .after(newest[1].cursor),
        )
        .await
        .unwrap();
    let numbers: Vec<(String, u32)> = rest
        .iter()
        .map(|l| (l.delivery_id.to_string(), l.record.attempt))
        .collect();
    assert_eq!(
        numbers,
        vec![("dlv_again".to_owned(), 1), ("dlv_ok".to_owned(), 1)]
    );
    assert!(store
        .disable_endpoint(
            &a,
            t0() + Duration::from_secs(2),
            "endpoint answered 410 gone"
        )
        .await
        .unwrap());
    assert!(!store
        .disable_endpoint(&a, t0() + Duration::from_secs(3), "again")
        .await
        .unwrap());
    let health = store.endpoint_health(&a).await.unwrap().unwrap();
    let disabled = health.disabled.expect("a record of the disabling");
    assert_eq!(
        (disabled.at, disabled.reason.as_str()),
        (t0() + Duration::from_secs(2), "endpoint answered 410 gone")
    );
    let dead = store
        .deliveries(&DeliveryFilter::all(10).state(DeliveryState::Dead))
        .await
        .unwrap();
    assert_eq!(dead.len(), 2);
    drop_schema(&store).await;
}

/// A version 5 schema (before Ed25519 keys and timed rotation) upgrades to
/// 6: a signed endpoint's secrets come back, previous ones without an
/// expiry (they sign until removed, as before), and `v1a` off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_5_schema_upgrades_to_6_with_its_secrets_untimed() {
    let Some(url) = database_url() else { return };
    let store = postgres_support::store(&url, "hw_test_upgrade_5", 2);
    let schema = store.schema().to_owned();
    let up_to_5: Vec<String> = PgStore::migrations(&schema)
        .into_iter()
        .filter(|(v, _)| *v <= 5)
        .map(|(_, sql)| sql)
        .collect();
    assert_eq!(up_to_5.len(), 5);
    let up_to_5 = up_to_5.join("\n");
    {
        let client = store.pool().get().await.unwrap();
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE;
                 {up_to_5}
                 CREATE TABLE {schema}.hookwire_migrations (
                     version INTEGER PRIMARY KEY,
                     applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
                 INSERT INTO {schema}.hookwire_migrations (version) VALUES (1), (2), (3), (4), (5);
                 INSERT INTO {schema}.endpoints (id, url, method, events, enabled, description,
                     dead_in_a_row, signing_current, signing_previous, sign_hex, sign_standard)
                   VALUES ('ep_signed', 'http://127.0.0.1:9/in', 'POST', NULL, TRUE, '', 0,
                     '\\x0101010101010101010101010101010101010101010101010101010101010101',
                     ARRAY['\\x020202020202020202020202020202020202020202020202'::BYTEA],
                     FALSE, TRUE);"
            ))
            .await
            .unwrap();
    }
    store.migrate().await.unwrap();
    let got = store
        .endpoint(&EndpointId::new("ep_signed").unwrap())
        .await
        .unwrap()
        .unwrap();
    let signing = got.signing.expect("signing kept");
    assert_eq!(signing.schemes, Schemes::STANDARD);
    let signer = &signing.signer;
    assert_eq!(signer.current().unwrap().expose_bytes(), &[1u8; 32][..]);
    assert_eq!(signer.previous().len(), 1);
    assert_eq!(signer.previous()[0].key.expose_bytes(), &[2u8; 24][..]);
    assert_eq!(signer.previous()[0].expires_at, None);
    drop_schema(&store).await;
}
