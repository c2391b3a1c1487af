//! The [`Store`] conformance suite: every behaviour the dispatcher relies on,
//! checked through the public API only, so it runs against any implementation.
//!
//! [`store_conformance`] runs every check, each on a fresh, empty store from
//! the caller's factory. Each check is also a `pub async fn` taking an empty
//! `&dyn Store`, so a backend can run (or skip) checks one by one.
//!
//! The suite never spawns tasks and needs no runtime: concurrency comes from
//! polling several store calls at once (`join_all`), which exercises real
//! races on a backend whose calls suspend (a database pool, say) and is
//! harmless on one whose calls complete at once. Times are whole seconds after
//! `1_700_000_000` (from a [`ManualClock`]), durations whole milliseconds, so
//! backends storing microseconds compare exactly.
//!
//! A failing check panics with a message naming it:
//! ``store conformance check `leasing_respects_now` failed: ...``.
//!
//! # Examples
//!
//! Running the whole suite on [`InMemoryStore`](crate::store::InMemoryStore),
//! under any executor:
//!
//! ```
//! use hookwire::store::InMemoryStore;
//! use hookwire::testing::store_conformance;
//!
//! futures::executor::block_on(store_conformance(|| async { InMemoryStore::new() }));
//! ```
//!
//! A backend behind a trait object, and a single check:
//!
//! ```
//! use std::sync::Arc;
//! use hookwire::store::{InMemoryStore, Store};
//! use hookwire::testing::{store_conformance, store_suite};
//!
//! futures::executor::block_on(async {
//!     store_conformance(|| async { Arc::new(InMemoryStore::new()) as Arc<dyn Store> }).await;
//!     store_suite::leasing_respects_limit(&InMemoryStore::new()).await;
//! });
//! ```
//!
//! A database backend's factory would empty its tables and return the store:
//! `store_conformance(|| async { truncate(&pool).await; PgStore::new(pool.clone()) })`.

use std::collections::HashSet;
use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::join_all;
use crate::clock::{Clock, ManualClock};
use crate::endpoint::{Endpoint, EndpointUrl};
use crate::id::{DeliveryId, EndpointId, EventId};
use crate::store::{
    AttemptRecord, AttemptResult, Claim, Delivery, DeliveryFilter, DeliveryState, Finish, Lease,
    Leased, NewDelivery, NewEvent, NextState, SkipRecord, Store, StoreError, StoreErrorKind,
    MAX_RECORDED_BODY,
};
use crate::transport::TransportErrorKind;

/// The Unix time (seconds) every check's [`ManualClock`] starts at.
pub const START_UNIX: u64 = 1_700_000_000;

macro_rules! ensure {
    ($check:expr, $cond:expr, $($msg:tt)+) => {
        assert!(
            $cond,
            "store conformance check `{}` failed: {}",
            $check,
            format_args!($($msg)+)
        )
    };
}

macro_rules! ensure_eq {
    ($check:expr, $left:expr, $right:expr, $($msg:tt)+) => {
        assert_eq!(
            $left,
            $right,
            "store conformance check `{}` failed: {}",
            $check,
            format_args!($($msg)+)
        )
    };
}

/// Runs every check, each on a fresh store from `make`.
///
/// `make` must return an **empty** store each time it is called (a database
/// backend truncates its tables first); each check verifies this before it
/// starts. `S` can be a concrete store, an `Arc<dyn Store>` or a
/// `Box<dyn Store>`.
///
/// # Panics
///
/// When a check fails, with a message naming the check.
///
/// # Examples
///
/// ```
/// use hookwire::store::InMemoryStore;
/// use hookwire::testing::store_conformance;
///
/// futures::executor::block_on(store_conformance(|| async { InMemoryStore::new() }));
/// ```
pub async fn store_conformance<S, F, Fut>(mut make: F)
where
    S: Store,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    macro_rules! run {
        ($($check:ident),* $(,)?) => {$(
            {
                let store = make().await;
                let _running = Running(stringify!($check));
                $check(&store).await;
            }
        )*};
    }
    run!(
        endpoints_round_trip,
        subscribers_follow_subscriptions,
        insert_is_idempotent,
        deliveries_share_the_event_payload,
        leasing_respects_now,
        leasing_respects_limit,
        leases_expire,
        concurrent_leasers_are_disjoint,
        lost_lease_cannot_record,
        finish_attempts_records_each,
        expired_lease_not_taken_over_can_finish,
        retry_makes_pending_again_later,
        success_is_final,
        dead_then_redeliver,
        release_makes_due_again,
        disabled_endpoints_are_not_leased,
        unknown_endpoints_are_not_leased,
        dead_in_a_row_is_counted_per_endpoint,
        deliveries_are_filtered,
        claim_once_is_exactly_once,
        skips_are_newest_first,
        prune_removes_old_succeeded_only,
    );
}

/// Names the running check on stderr if it panics.
struct Running(&'static str);

impl Drop for Running {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("store conformance: check `{}` failed", self.0);
        }
    }
}

// ---------------------------------------------------------------- helpers

fn clock() -> ManualClock {
    ManualClock::at_unix(START_UNIX)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn endpoint_id(id: &str) -> EndpointId {
    EndpointId::new(id).expect("valid endpoint id")
}

fn event_id(id: &str) -> EventId {
    EventId::new(id).expect("valid event id")
}

fn delivery_id(id: &str) -> DeliveryId {
    DeliveryId::new(id).expect("valid delivery id")
}

fn endpoint(id: &str) -> Endpoint {
    Endpoint::builder(id, format!("http://127.0.0.1:9/{id}"))
        .build()
        .expect("valid endpoint")
}

fn payload_of(event: &str) -> Bytes {
    Bytes::from(format!(r#"{{"event":"{event}","data":[1,2,3]}}"#))
}

fn new_event(id: &str, created_at: SystemTime) -> NewEvent {
    NewEvent::new(event_id(id), "startExperience", payload_of(id), created_at)
}

/// `(delivery id, endpoint id)` pairs, all due at `due_at`.
fn new_deliveries(pairs: &[(&str, &str)], due_at: SystemTime) -> Vec<NewDelivery> {
    pairs
        .iter()
        .map(|(d, e)| NewDelivery::new(delivery_id(d), endpoint_id(e), due_at))
        .collect()
}

fn failed_attempt(n: u32, at: SystemTime) -> AttemptRecord {
    AttemptRecord::new(
        n,
        at,
        Duration::from_millis(250),
        AttemptResult::Response {
            status: 503,
            body: Bytes::from_static(b"try later"),
        },
    )
}

fn ok_attempt(n: u32, at: SystemTime) -> AttemptRecord {
    AttemptRecord::new(
        n,
        at,
        Duration::from_millis(40),
        AttemptResult::Response {
            status: 200,
            body: Bytes::new(),
        },
    )
}

#[track_caller]
fn ok<T>(check: &str, what: &str, result: Result<T, StoreError>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!(
            "store conformance check `{check}` failed: {what} returned an error: {e} ({:?})",
            e.kind()
        ),
    }
}

#[track_caller]
fn lease_lost<T: Debug>(check: &str, what: &str, result: Result<T, StoreError>) {
    match result {
        Err(e) if e.kind() == StoreErrorKind::LeaseLost => {}
        Err(e) => panic!(
            "store conformance check `{check}` failed: {what} should fail with LeaseLost, failed with {:?}",
            e.kind()
        ),
        Ok(v) => panic!(
            "store conformance check `{check}` failed: {what} should fail with LeaseLost, returned {v:?}"
        ),
    }
}

fn ids(deliveries: &[Delivery]) -> Vec<&str> {
    deliveries.iter().map(|d| d.id.as_str()).collect()
}

fn leased_ids(leased: &[Leased]) -> Vec<&str> {
    leased.iter().map(|l| l.delivery.id.as_str()).collect()
}

async fn assert_empty(store: &dyn Store, check: &str) {
    let endpoints = ok(check, "endpoints", store.endpoints().await);
    let deliveries = ok(
        check,
        "deliveries",
        store.deliveries(&DeliveryFilter::all(1)).await,
    );
    let skips = ok(check, "skips", store.skips(1).await);
    ensure!(
        check,
        endpoints.is_empty() && deliveries.is_empty() && skips.is_empty(),
        "the store given to the check is not empty (the factory must return an empty store)"
    );
}

async fn put(store: &dyn Store, check: &str, endpoints: &[&str]) {
    for id in endpoints {
        ok(
            check,
            "put_endpoint",
            store.put_endpoint(endpoint(id)).await,
        );
    }
}

async fn insert(
    store: &dyn Store,
    check: &str,
    event: &str,
    deliveries: &[(&str, &str)],
    due_at: SystemTime,
) {
    let inserted = ok(
        check,
        "insert_event",
        store
            .insert_event(new_event(event, due_at), new_deliveries(deliveries, due_at))
            .await,
    );
    ensure!(
        check,
        inserted,
        "insert_event of new event {event} returned false"
    );
}

async fn get(store: &dyn Store, check: &str, id: &str) -> Delivery {
    match ok(check, "delivery", store.delivery(&delivery_id(id)).await) {
        Some(d) => d,
        None => panic!("store conformance check `{check}` failed: delivery {id} not found"),
    }
}

async fn lease(
    store: &dyn Store,
    check: &str,
    now: SystemTime,
    limit: usize,
    lease_for: Duration,
) -> Vec<Leased> {
    ok(
        check,
        "lease_due",
        store.lease_due(now, limit, lease_for).await,
    )
}

/// Leases exactly the one delivery `id` at `now`.
async fn lease_one(store: &dyn Store, check: &str, now: SystemTime, id: &str) -> Lease {
    let mut leased = lease(store, check, now, 10, secs(60)).await;
    ensure_eq!(
        check,
        leased_ids(&leased),
        vec![id],
        "lease_due should return only {id}"
    );
    leased.pop().map(|l| l.lease).expect("checked above")
}

// ----------------------------------------------------------------- checks

/// `subscribers(kind)` lists the enabled endpoints whose filter matches
/// `kind`, in id order, and follows enabling, disabling and replacement.
pub async fn subscribers_follow_subscriptions(store: &dyn Store) {
    const C: &str = "subscribers_follow_subscriptions";
    assert_empty(store, C).await;
    let only_start = Endpoint::builder("ep_b", "http://127.0.0.1:9/ep_b")
        .events(["startExperience"])
        .build()
        .expect("valid endpoint");
    let off = Endpoint::builder("ep_c", "http://127.0.0.1:9/ep_c")
        .enabled(false)
        .build()
        .expect("valid endpoint");
    for e in [endpoint("ep_d"), only_start, off, endpoint("ep_a")] {
        ok(C, "put_endpoint", store.put_endpoint(e).await);
    }
    let ids = |v: Vec<EndpointId>| v.iter().map(|i| i.to_string()).collect::<Vec<_>>();
    let start = ok(C, "subscribers", store.subscribers("startExperience").await);
    ensure_eq!(
        C,
        ids(start),
        vec!["ep_a", "ep_b", "ep_d"],
        "start subscribers"
    );
    let create = ok(
        C,
        "subscribers",
        store.subscribers("createExperience").await,
    );
    ensure_eq!(C, ids(create), vec!["ep_a", "ep_d"], "create subscribers");
    ok(
        C,
        "set_endpoint_enabled",
        store
            .set_endpoint_enabled(&endpoint_id("ep_a"), false)
            .await,
    );
    ok(
        C,
        "set_endpoint_enabled",
        store.set_endpoint_enabled(&endpoint_id("ep_c"), true).await,
    );
    let create = ok(
        C,
        "subscribers",
        store.subscribers("createExperience").await,
    );
    ensure_eq!(
        C,
        ids(create),
        vec!["ep_c", "ep_d"],
        "after enabling ep_c and disabling ep_a"
    );
    let none = ok(C, "subscribers", store.subscribers("").await);
    ensure_eq!(
        C,
        ids(none),
        vec!["ep_c", "ep_d"],
        "an empty kind matches only all-event endpoints"
    );
}

/// Endpoints: absent before being put, listed in id order, replaced by a put
/// with the same id, enabled and disabled (`false` for an unknown id).
pub async fn endpoints_round_trip(store: &dyn Store) {
    const C: &str = "endpoints_round_trip";
    assert_empty(store, C).await;
    let a = endpoint_id("ep_a");
    ensure!(
        C,
        ok(C, "endpoint", store.endpoint(&a).await).is_none(),
        "an endpoint exists before any was put"
    );
    put(store, C, &["ep_b", "ep_a"]).await;
    let listed = ok(C, "endpoints", store.endpoints().await);
    let listed: Vec<&str> = listed.iter().map(|e| e.id.as_str()).collect();
    ensure_eq!(
        C,
        listed,
        vec!["ep_a", "ep_b"],
        "endpoints() must list in id order"
    );

    let got = ok(C, "endpoint", store.endpoint(&a).await);
    let got = got.unwrap_or_else(|| panic!("store conformance check `{C}` failed: ep_a not found"));
    ensure_eq!(C, got.id, a, "endpoint() returned another endpoint");
    ensure_eq!(
        C,
        got.url,
        EndpointUrl::parse("http://127.0.0.1:9/ep_a").expect("valid url"),
        "the endpoint's URL was not kept"
    );
    ensure!(C, got.enabled, "a new endpoint should be enabled");

    let replacement = Endpoint::builder("ep_a", "http://127.0.0.1:9/replaced")
        .description("replaced")
        .build()
        .expect("valid endpoint");
    ok(C, "put_endpoint", store.put_endpoint(replacement).await);
    let got =
        ok(C, "endpoint", store.endpoint(&a).await).map(|e| (e.description, e.url.to_string()));
    ensure_eq!(
        C,
        got,
        Some((
            "replaced".to_owned(),
            "http://127.0.0.1:9/replaced".to_owned()
        )),
        "put_endpoint with an existing id must replace the endpoint"
    );
    ensure_eq!(
        C,
        ok(C, "endpoints", store.endpoints().await).len(),
        2,
        "replacing an endpoint must not add one"
    );

    ensure!(
        C,
        ok(
            C,
            "set_endpoint_enabled",
            store.set_endpoint_enabled(&a, false).await
        ),
        "set_endpoint_enabled on a known endpoint returned false"
    );
    let enabled = ok(C, "endpoint", store.endpoint(&a).await).map(|e| e.enabled);
    ensure_eq!(C, enabled, Some(false), "the endpoint should be disabled");
    ensure!(
        C,
        ok(
            C,
            "set_endpoint_enabled",
            store.set_endpoint_enabled(&a, true).await
        ),
        "set_endpoint_enabled on a known endpoint returned false"
    );
    let enabled = ok(C, "endpoint", store.endpoint(&a).await).map(|e| e.enabled);
    ensure_eq!(
        C,
        enabled,
        Some(true),
        "the endpoint should be enabled again"
    );
    ensure!(
        C,
        !ok(
            C,
            "set_endpoint_enabled",
            store
                .set_endpoint_enabled(&endpoint_id("ep_missing"), true)
                .await
        ),
        "set_endpoint_enabled on an unknown endpoint must return false"
    );
    ensure!(
        C,
        ok(
            C,
            "endpoint",
            store.endpoint(&endpoint_id("ep_missing")).await
        )
        .is_none(),
        "set_endpoint_enabled on an unknown endpoint must not create it"
    );
}

/// Inserting the same event twice returns `false` and stores nothing the second
/// time (not even new deliveries); an event with no deliveries is idempotent too.
pub async fn insert_is_idempotent(store: &dyn Store) {
    const C: &str = "insert_is_idempotent";
    assert_empty(store, C).await;
    let now = clock().now();
    put(store, C, &["ep_a", "ep_b"]).await;
    insert(
        store,
        C,
        "evt_1",
        &[("dlv_1", "ep_a"), ("dlv_2", "ep_b")],
        now,
    )
    .await;

    let again = ok(
        C,
        "insert_event",
        store
            .insert_event(
                new_event("evt_1", now),
                new_deliveries(&[("dlv_1", "ep_a"), ("dlv_3", "ep_a")], now),
            )
            .await,
    );
    ensure!(C, !again, "inserting an existing event must return false");
    ensure!(
        C,
        ok(C, "delivery", store.delivery(&delivery_id("dlv_3")).await).is_none(),
        "a repeated insert must store nothing, but its new delivery dlv_3 exists"
    );
    let all = ok(
        C,
        "deliveries",
        store.deliveries(&DeliveryFilter::all(100)).await,
    );
    ensure_eq!(
        C,
        ids(&all),
        vec!["dlv_1", "dlv_2"],
        "one set of deliveries expected"
    );
    let leased = lease(store, C, now, 100, secs(60)).await;
    ensure_eq!(
        C,
        leased.len(),
        2,
        "a repeated insert must not queue deliveries twice"
    );

    let empty = ok(
        C,
        "insert_event",
        store
            .insert_event(new_event("evt_2", now), Vec::new())
            .await,
    );
    ensure!(
        C,
        empty,
        "an event with no deliveries must be stored (true)"
    );
    let empty = ok(
        C,
        "insert_event",
        store
            .insert_event(new_event("evt_2", now), Vec::new())
            .await,
    );
    ensure!(
        C,
        !empty,
        "an event with no deliveries must be idempotent too"
    );
}

/// A delivery snapshot carries its event's id, kind, payload and creation time;
/// the deliveries of one event (and their leases) return the same payload
/// bytes; a per-delivery URL is kept.
pub async fn deliveries_share_the_event_payload(store: &dyn Store) {
    const C: &str = "deliveries_share_the_event_payload";
    assert_empty(store, C).await;
    let clock = clock();
    let created = clock.now();
    clock.advance(secs(10));
    let due = clock.now();
    put(store, C, &["ep_a", "ep_b"]).await;
    let payload = payload_of("evt_1");
    let event = NewEvent::new(event_id("evt_1"), "endExperience", payload.clone(), created);
    let deliveries = vec![
        NewDelivery::new(delivery_id("dlv_1"), endpoint_id("ep_a"), due),
        NewDelivery::new(delivery_id("dlv_2"), endpoint_id("ep_b"), due)
            .with_url("http://127.0.0.1:9/accounts/42"),
    ];
    let inserted = ok(
        C,
        "insert_event",
        store.insert_event(event, deliveries).await,
    );
    ensure!(C, inserted, "insert_event of a new event returned false");

    let d1 = get(store, C, "dlv_1").await;
    ensure_eq!(C, d1.id, delivery_id("dlv_1"), "wrong delivery id");
    ensure_eq!(C, d1.event_id, event_id("evt_1"), "wrong event id");
    ensure_eq!(C, &*d1.event_kind, "endExperience", "wrong event kind");
    ensure_eq!(C, d1.payload, payload, "wrong payload");
    ensure_eq!(C, d1.endpoint_id, endpoint_id("ep_a"), "wrong endpoint id");
    ensure_eq!(
        C,
        d1.url,
        None,
        "a delivery without its own URL has url None"
    );
    ensure_eq!(
        C,
        d1.state,
        DeliveryState::Pending,
        "a new delivery is pending"
    );
    ensure_eq!(C, d1.attempts, 0, "a new delivery has no attempts");
    ensure_eq!(
        C,
        d1.next_attempt_at,
        due,
        "next_attempt_at must be the delivery's due_at"
    );
    ensure_eq!(
        C,
        d1.created_at,
        created,
        "created_at must be the event's created_at"
    );

    let d2 = get(store, C, "dlv_2").await;
    ensure_eq!(
        C,
        d2.payload,
        d1.payload,
        "deliveries of one event must share the payload"
    );
    ensure_eq!(
        C,
        d2.event_kind,
        d1.event_kind,
        "deliveries of one event share the kind"
    );
    ensure_eq!(
        C,
        d2.url.as_deref(),
        Some("http://127.0.0.1:9/accounts/42"),
        "the per-delivery URL was not kept"
    );

    let leased = lease(store, C, due, 10, secs(30)).await;
    ensure_eq!(C, leased.len(), 2, "both deliveries are due");
    for l in &leased {
        ensure_eq!(
            C,
            l.delivery.payload,
            payload,
            "a leased delivery must carry the payload"
        );
        ensure_eq!(
            C,
            l.lease.delivery_id,
            l.delivery.id,
            "the lease must name its delivery"
        );
        ensure_eq!(
            C,
            l.lease.expires_at,
            due + secs(30),
            "a lease expires at now + lease_for"
        );
        let stored = get(store, C, l.delivery.id.as_str()).await;
        ensure_eq!(
            C,
            l.delivery,
            stored,
            "the leased snapshot must match delivery()"
        );
    }
    ensure!(
        C,
        ok(C, "attempts", store.attempts(&delivery_id("dlv_1")).await).is_empty(),
        "a new delivery has no attempt records"
    );
    ensure!(
        C,
        ok(
            C,
            "delivery",
            store.delivery(&delivery_id("dlv_missing")).await
        )
        .is_none(),
        "delivery() of an unknown id must be None"
    );
    ensure!(
        C,
        ok(
            C,
            "attempts",
            store.attempts(&delivery_id("dlv_missing")).await
        )
        .is_empty(),
        "attempts() of an unknown id must be empty"
    );
}

/// Deliveries due later than `now` are not leased; due exactly at `now` they
/// are; earliest due first.
pub async fn leasing_respects_now(store: &dyn Store) {
    const C: &str = "leasing_respects_now";
    assert_empty(store, C).await;
    let clock = clock();
    let now = clock.now();
    put(store, C, &["ep_a"]).await;
    insert(store, C, "evt_now", &[("dlv_now", "ep_a")], now).await;
    insert(
        store,
        C,
        "evt_later",
        &[("dlv_later", "ep_a")],
        now + secs(60),
    )
    .await;
    insert(
        store,
        C,
        "evt_past",
        &[("dlv_past", "ep_a")],
        now - secs(60),
    )
    .await;

    let leased = lease(store, C, now, 10, secs(300)).await;
    ensure_eq!(
        C,
        leased_ids(&leased),
        vec!["dlv_past", "dlv_now"],
        "only deliveries due at or before now, earliest first"
    );
    clock.advance(secs(59));
    let leased = lease(store, C, clock.now(), 10, secs(300)).await;
    ensure_eq!(
        C,
        leased_ids(&leased),
        Vec::<&str>::new(),
        "dlv_later is not due yet"
    );
    clock.advance(secs(1));
    let leased = lease(store, C, clock.now(), 10, secs(300)).await;
    ensure_eq!(
        C,
        leased_ids(&leased),
        vec!["dlv_later"],
        "dlv_later is due exactly now"
    );
}

/// `limit` bounds each call (0 leases nothing); successive calls take the
/// next-earliest due deliveries, whatever the insertion order.
pub async fn leasing_respects_limit(store: &dyn Store) {
    const C: &str = "leasing_respects_limit";
    assert_empty(store, C).await;
    let now = clock().now();
    put(store, C, &["ep_a"]).await;
    // Inserted out of due order; dlv_0 is due first, dlv_4 last.
    for k in [3u64, 1, 4, 0, 2] {
        let (event, delivery) = (format!("evt_{k}"), format!("dlv_{k}"));
        insert(store, C, &event, &[(&delivery, "ep_a")], now - secs(10 - k)).await;
    }
    let none = lease(store, C, now, 0, secs(60)).await;
    ensure!(
        C,
        none.is_empty(),
        "limit 0 must lease nothing, leased {:?}",
        leased_ids(&none)
    );
    let first = lease(store, C, now, 2, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&first),
        vec!["dlv_0", "dlv_1"],
        "limit 2 of 5, earliest first"
    );
    let second = lease(store, C, now, 2, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&second),
        vec!["dlv_2", "dlv_3"],
        "the next two"
    );
    let third = lease(store, C, now, 2, secs(60)).await;
    ensure_eq!(C, leased_ids(&third), vec!["dlv_4"], "the last one");
    let fourth = lease(store, C, now, 2, secs(60)).await;
    ensure!(C, fourth.is_empty(), "everything is leased already");
}

/// A leased delivery is not leased again before its lease expires; at expiry
/// it is, with a new token and a new expiry.
pub async fn leases_expire(store: &dyn Store) {
    const C: &str = "leases_expire";
    assert_empty(store, C).await;
    let clock = clock();
    let now = clock.now();
    put(store, C, &["ep_a"]).await;
    insert(store, C, "evt_1", &[("dlv_1", "ep_a")], now).await;

    let first = lease(store, C, now, 10, secs(30)).await;
    ensure_eq!(C, leased_ids(&first), vec!["dlv_1"], "the delivery is due");
    let first = &first[0].lease;
    ensure_eq!(
        C,
        first.expires_at,
        now + secs(30),
        "a lease expires at now + lease_for"
    );
    ensure!(
        C,
        lease(store, C, now, 10, secs(30)).await.is_empty(),
        "leased twice at once"
    );
    clock.advance(secs(29));
    ensure!(
        C,
        lease(store, C, clock.now(), 10, secs(30)).await.is_empty(),
        "leased again before the lease expired"
    );
    clock.advance(secs(1));
    let second = lease(store, C, clock.now(), 10, secs(30)).await;
    ensure_eq!(
        C,
        leased_ids(&second),
        vec!["dlv_1"],
        "an expired lease must be taken over"
    );
    let second = &second[0].lease;
    ensure!(
        C,
        second.token != first.token,
        "a new lease must get a new token"
    );
    ensure_eq!(
        C,
        second.expires_at,
        clock.now() + secs(30),
        "the new lease's expiry"
    );
    clock.advance(secs(29));
    ensure!(
        C,
        lease(store, C, clock.now(), 10, secs(30)).await.is_empty(),
        "leased again before the new lease expired"
    );
}

/// Many concurrent `lease_due` calls over many due deliveries never hand out
/// the same delivery twice, and together hand out all of them.
pub async fn concurrent_leasers_are_disjoint(store: &dyn Store) {
    const C: &str = "concurrent_leasers_are_disjoint";
    const DELIVERIES: usize = 200;
    const LEASERS: usize = 16;
    const LIMIT: usize = 20;
    assert_empty(store, C).await;
    let now = clock().now();
    put(store, C, &["ep_a", "ep_b", "ep_c", "ep_d"]).await;
    let mut expected = HashSet::new();
    for e in 0..DELIVERIES / 4 {
        let names: Vec<(String, &str)> = ["ep_a", "ep_b", "ep_c", "ep_d"]
            .iter()
            .map(|ep| (format!("dlv_{e}_{ep}"), *ep))
            .collect();
        let pairs: Vec<(&str, &str)> = names.iter().map(|(d, ep)| (d.as_str(), *ep)).collect();
        insert(store, C, &format!("evt_{e}"), &pairs, now).await;
        expected.extend(names.into_iter().map(|(d, _)| d));
    }

    let results = join_all((0..LEASERS).map(|_| store.lease_due(now, LIMIT, secs(60)))).await;
    let mut seen = HashSet::new();
    let mut tokens = HashSet::new();
    for result in results {
        let leased = ok(C, "lease_due", result);
        ensure!(
            C,
            leased.len() <= LIMIT,
            "a call leased {} > limit {LIMIT}",
            leased.len()
        );
        for l in leased {
            ensure!(
                C,
                seen.insert(l.delivery.id.as_str().to_owned()),
                "delivery {} was leased by two concurrent calls",
                l.delivery.id
            );
            ensure!(
                C,
                tokens.insert(l.lease.token),
                "lease token {} handed out twice",
                l.lease.token
            );
        }
    }
    ensure_eq!(
        C,
        seen.len(),
        DELIVERIES,
        "together the calls must lease every due delivery"
    );
    ensure!(
        C,
        seen == expected,
        "the leased set differs from the inserted set"
    );
    let results = join_all((0..4).map(|_| store.lease_due(now, LIMIT, secs(60)))).await;
    for result in results {
        let leased = ok(C, "lease_due", result);
        ensure!(C, leased.is_empty(), "everything is leased already");
    }
}

/// After lease A expires and B takes the delivery over, A can neither record an
/// attempt nor release (LeaseLost, nothing recorded); B can. Spent leases and
/// leases of unknown deliveries are refused too.
pub async fn lost_lease_cannot_record(store: &dyn Store) {
    const C: &str = "lost_lease_cannot_record";
    assert_empty(store, C).await;
    let clock = clock();
    put(store, C, &["ep_a"]).await;
    insert(store, C, "evt_1", &[("dlv_1", "ep_a")], clock.now()).await;
    let a = lease(store, C, clock.now(), 10, secs(30)).await;
    ensure_eq!(C, a.len(), 1, "the delivery is due");
    let a = a[0].lease.clone();
    clock.advance(secs(30));
    let b = lease_one(store, C, clock.now(), "dlv_1").await;

    let attempt = failed_attempt(1, clock.now());
    lease_lost(
        C,
        "finish_attempt with a lease taken over",
        store
            .finish_attempt(&a, attempt.clone(), NextState::Succeeded)
            .await,
    );
    lease_lost(
        C,
        "release with a lease taken over",
        store.release(&a).await,
    );
    let d = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d.state, d.attempts),
        (DeliveryState::Pending, 0),
        "a lost lease recorded something"
    );
    ensure!(
        C,
        ok(C, "attempts", store.attempts(&d.id).await).is_empty(),
        "a lost lease appended an attempt"
    );

    ok(
        C,
        "finish_attempt with the current lease",
        store
            .finish_attempt(&b, ok_attempt(1, clock.now()), NextState::Succeeded)
            .await,
    );
    let d = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d.state, d.attempts),
        (DeliveryState::Succeeded, 1),
        "B's attempt was not recorded"
    );
    lease_lost(
        C,
        "finish_attempt with a spent lease",
        store
            .finish_attempt(&b, attempt.clone(), NextState::Dead)
            .await,
    );
    lease_lost(C, "release with a spent lease", store.release(&b).await);
    lease_lost(
        C,
        "finish_attempt with the old lease after success",
        store
            .finish_attempt(&a, attempt.clone(), NextState::Dead)
            .await,
    );
    let history = ok(C, "attempts", store.attempts(&d.id).await);
    ensure_eq!(C, history.len(), 1, "only B's attempt may be recorded");

    let ghost = Lease::new(delivery_id("dlv_missing"), b.token, b.expires_at);
    lease_lost(
        C,
        "finish_attempt for an unknown delivery",
        store
            .finish_attempt(&ghost, attempt, NextState::Succeeded)
            .await,
    );
    lease_lost(
        C,
        "release for an unknown delivery",
        store.release(&ghost).await,
    );
}

/// `finish_attempts` records each entry as `finish_attempt` would, answers
/// in order, and a lost lease in the batch spoils only its own entry.
pub async fn finish_attempts_records_each(store: &dyn Store) {
    const C: &str = "finish_attempts_records_each";
    assert_empty(store, C).await;
    let clock = clock();
    put(store, C, &["ep_a"]).await;
    insert(
        store,
        C,
        "evt_1",
        &[("dlv_1", "ep_a"), ("dlv_2", "ep_a"), ("dlv_3", "ep_a")],
        clock.now(),
    )
    .await;
    ensure!(
        C,
        store.finish_attempts(Vec::new()).await.is_empty(),
        "an empty batch answers nothing"
    );
    let leased = lease(store, C, clock.now(), 10, secs(30)).await;
    ensure_eq!(C, leased.len(), 3, "all three are due");
    let lease_of = |id: &str| {
        leased
            .iter()
            .find(|l| l.delivery.id.as_str() == id)
            .map(|l| l.lease.clone())
            .expect("leased")
    };
    // dlv_3's first lease goes stale: released, then leased again.
    let stale = lease_of("dlv_3");
    ok(C, "release", store.release(&stale).await);
    let fresh = lease_one(store, C, clock.now(), "dlv_3").await;
    let retry_at = clock.now() + secs(60);
    let results = store
        .finish_attempts(vec![
            Finish::new(
                lease_of("dlv_1"),
                ok_attempt(1, clock.now()),
                NextState::Succeeded,
            ),
            Finish::new(stale, failed_attempt(1, clock.now()), NextState::Dead),
            Finish::new(
                lease_of("dlv_2"),
                failed_attempt(1, clock.now()),
                NextState::RetryAt(retry_at),
            ),
        ])
        .await;
    ensure_eq!(C, results.len(), 3, "one result per entry");
    let mut results = results.into_iter();
    ok(
        C,
        "finish_attempts entry 1",
        results.next().expect("3 results"),
    );
    lease_lost(
        C,
        "finish_attempts entry 2 (stale lease)",
        results.next().expect("3 results"),
    );
    ok(
        C,
        "finish_attempts entry 3",
        results.next().expect("3 results"),
    );
    let d1 = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d1.state, d1.attempts),
        (DeliveryState::Succeeded, 1),
        "dlv_1"
    );
    let d2 = get(store, C, "dlv_2").await;
    ensure_eq!(
        C,
        (d2.state, d2.attempts, d2.next_attempt_at),
        (DeliveryState::Pending, 1, retry_at),
        "dlv_2 must be retried later"
    );
    let d3 = get(store, C, "dlv_3").await;
    ensure_eq!(
        C,
        (d3.state, d3.attempts),
        (DeliveryState::Pending, 0),
        "the stale entry recorded something"
    );
    ok(
        C,
        "finish_attempt with dlv_3's current lease",
        store
            .finish_attempt(&fresh, ok_attempt(1, clock.now()), NextState::Succeeded)
            .await,
    );
}

/// A lease that expired but was not taken over still holds the delivery: its
/// attempt is recorded (the token is what counts, not the clock).
pub async fn expired_lease_not_taken_over_can_finish(store: &dyn Store) {
    const C: &str = "expired_lease_not_taken_over_can_finish";
    assert_empty(store, C).await;
    let clock = clock();
    put(store, C, &["ep_a"]).await;
    insert(store, C, "evt_1", &[("dlv_1", "ep_a")], clock.now()).await;
    let leased = lease(store, C, clock.now(), 10, secs(30)).await;
    ensure_eq!(C, leased.len(), 1, "the delivery is due");
    clock.advance(secs(45));
    let retry_at = clock.now() + secs(100);
    ok(
        C,
        "finish_attempt with an expired lease nobody took over",
        store
            .finish_attempt(
                &leased[0].lease,
                failed_attempt(1, clock.now()),
                NextState::RetryAt(retry_at),
            )
            .await,
    );
    let d = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d.attempts, d.next_attempt_at),
        (1, retry_at),
        "the attempt was not recorded"
    );
}

/// Retry: the attempt is appended, the count goes up, the delivery stays
/// pending and is due again exactly at the retry time (not before); the history
/// lists attempts oldest first, exactly as recorded.
pub async fn retry_makes_pending_again_later(store: &dyn Store) {
    const C: &str = "retry_makes_pending_again_later";
    assert_empty(store, C).await;
    let clock = clock();
    put(store, C, &["ep_a"]).await;
    insert(store, C, "evt_1", &[("dlv_1", "ep_a")], clock.now()).await;
    let first = lease_one(store, C, clock.now(), "dlv_1").await;
    let retry_at = clock.now() + secs(300);
    let attempt1 = failed_attempt(1, clock.now());
    let report = ok(
        C,
        "finish_attempt",
        store
            .finish_attempt(&first, attempt1.clone(), NextState::RetryAt(retry_at))
            .await,
    );
    ensure_eq!(
        C,
        report.dead_in_a_row,
        0,
        "a retry leaves dead_in_a_row unchanged (0)"
    );
    let d = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d.state, d.attempts, d.next_attempt_at),
        (DeliveryState::Pending, 1, retry_at),
        "after a retry: pending, 1 attempt, due at the retry time"
    );
    ensure!(
        C,
        lease(store, C, clock.now(), 10, secs(60)).await.is_empty(),
        "a retried delivery must not be leased before its retry time"
    );
    ensure!(
        C,
        lease(store, C, retry_at - secs(1), 10, secs(60))
            .await
            .is_empty(),
        "a retried delivery must not be leased before its retry time"
    );
    clock.set(retry_at);
    let second = lease(store, C, clock.now(), 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&second),
        vec!["dlv_1"],
        "due again at the retry time"
    );
    ensure_eq!(
        C,
        second[0].delivery.attempts,
        1,
        "the leased snapshot shows 1 attempt"
    );
    ensure!(
        C,
        second[0].lease.token != first.token,
        "a new lease must get a new token"
    );

    let big_body = Bytes::from(vec![b'x'; MAX_RECORDED_BODY * 2]);
    let attempt2 = AttemptRecord::new(
        2,
        clock.now(),
        Duration::from_millis(10_000),
        AttemptResult::Response {
            status: 500,
            body: big_body,
        },
    );
    let attempt3 = AttemptRecord::new(
        3,
        clock.now() + secs(60),
        Duration::from_millis(1),
        AttemptResult::Error(TransportErrorKind::Timeout),
    );
    ok(
        C,
        "finish_attempt",
        store
            .finish_attempt(
                &second[0].lease,
                attempt2.clone(),
                NextState::RetryAt(clock.now() + secs(60)),
            )
            .await,
    );
    clock.advance(secs(60));
    let third = lease_one(store, C, clock.now(), "dlv_1").await;
    ok(
        C,
        "finish_attempt",
        store
            .finish_attempt(
                &third,
                attempt3.clone(),
                NextState::RetryAt(clock.now() + secs(600)),
            )
            .await,
    );
    let history = ok(C, "attempts", store.attempts(&delivery_id("dlv_1")).await);
    ensure_eq!(
        C,
        history,
        vec![attempt1, attempt2, attempt3],
        "attempt records must come back as recorded, oldest first"
    );
    ensure_eq!(
        C,
        get(store, C, "dlv_1").await.attempts,
        3,
        "three attempts counted"
    );
}

/// Success: recorded, final (never leased again, not redeliverable).
pub async fn success_is_final(store: &dyn Store) {
    const C: &str = "success_is_final";
    assert_empty(store, C).await;
    let clock = clock();
    put(store, C, &["ep_a"]).await;
    insert(store, C, "evt_1", &[("dlv_1", "ep_a")], clock.now()).await;
    let l = lease_one(store, C, clock.now(), "dlv_1").await;
    ok(
        C,
        "finish_attempt",
        store
            .finish_attempt(&l, ok_attempt(1, clock.now()), NextState::Succeeded)
            .await,
    );
    let d = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d.state, d.attempts),
        (DeliveryState::Succeeded, 1),
        "after success"
    );
    ensure!(
        C,
        lease(store, C, clock.now() + secs(86_400 * 365), 10, secs(60))
            .await
            .is_empty(),
        "a succeeded delivery must never be leased again"
    );
    ensure!(
        C,
        !ok(C, "redeliver", store.redeliver(&d.id, clock.now()).await),
        "redeliver of a succeeded delivery must return false"
    );
    ensure_eq!(
        C,
        get(store, C, "dlv_1").await.state,
        DeliveryState::Succeeded,
        "still succeeded"
    );
}

/// Dead: recorded, never leased again; redeliver makes it pending, due at the
/// given time, with the attempt count reset and the history kept; redeliver of
/// a pending or unknown delivery returns `false`.
pub async fn dead_then_redeliver(store: &dyn Store) {
    const C: &str = "dead_then_redeliver";
    assert_empty(store, C).await;
    let clock = clock();
    put(store, C, &["ep_a"]).await;
    insert(store, C, "evt_1", &[("dlv_1", "ep_a")], clock.now()).await;
    let l = lease_one(store, C, clock.now(), "dlv_1").await;
    ok(
        C,
        "finish_attempt",
        store
            .finish_attempt(
                &l,
                failed_attempt(1, clock.now()),
                NextState::RetryAt(clock.now() + secs(10)),
            )
            .await,
    );
    clock.advance(secs(10));
    let l = lease_one(store, C, clock.now(), "dlv_1").await;
    ok(
        C,
        "finish_attempt",
        store
            .finish_attempt(&l, failed_attempt(2, clock.now()), NextState::Dead)
            .await,
    );
    let d = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d.state, d.attempts),
        (DeliveryState::Dead, 2),
        "after giving up"
    );
    ensure!(
        C,
        lease(store, C, clock.now() + secs(86_400 * 365), 10, secs(60))
            .await
            .is_empty(),
        "a dead delivery must not be leased"
    );
    ensure!(
        C,
        !ok(
            C,
            "redeliver",
            store
                .redeliver(&delivery_id("dlv_missing"), clock.now())
                .await
        ),
        "redeliver of an unknown delivery must return false"
    );

    clock.advance(secs(3600));
    let now = clock.now();
    ensure!(
        C,
        ok(C, "redeliver", store.redeliver(&d.id, now).await),
        "redeliver of a dead delivery"
    );
    let d = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d.state, d.attempts, d.next_attempt_at),
        (DeliveryState::Pending, 0, now),
        "after redeliver: pending, 0 attempts, due now"
    );
    let history = ok(C, "attempts", store.attempts(&d.id).await);
    ensure_eq!(
        C,
        history.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        vec![1, 2],
        "redeliver must keep the attempt history"
    );
    ensure!(
        C,
        !ok(C, "redeliver", store.redeliver(&d.id, now).await),
        "redeliver of a pending delivery must return false"
    );
    ensure!(
        C,
        lease(store, C, now - secs(1), 10, secs(60))
            .await
            .is_empty(),
        "a redelivered delivery is due at the redeliver time, not before"
    );
    let l = lease(store, C, now, 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&l),
        vec!["dlv_1"],
        "a redelivered delivery is due at once"
    );
    ensure_eq!(
        C,
        l[0].delivery.attempts,
        0,
        "the leased snapshot shows 0 attempts"
    );
    ok(
        C,
        "finish_attempt",
        store
            .finish_attempt(&l[0].lease, ok_attempt(1, now), NextState::Succeeded)
            .await,
    );
    ensure_eq!(
        C,
        ok(C, "attempts", store.attempts(&d.id).await).len(),
        3,
        "history grows on"
    );
}

/// Release: no attempt recorded, the delivery is due again at once (new token);
/// the released lease is spent.
pub async fn release_makes_due_again(store: &dyn Store) {
    const C: &str = "release_makes_due_again";
    assert_empty(store, C).await;
    let clock = clock();
    let now = clock.now();
    put(store, C, &["ep_a"]).await;
    insert(store, C, "evt_1", &[("dlv_1", "ep_a")], now - secs(10)).await;
    let a = lease_one(store, C, now, "dlv_1").await;
    ok(C, "release", store.release(&a).await);
    let d = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d.state, d.attempts),
        (DeliveryState::Pending, 0),
        "release records nothing"
    );
    ensure!(
        C,
        d.next_attempt_at <= now,
        "a released delivery must be due at once"
    );
    ensure!(
        C,
        ok(C, "attempts", store.attempts(&d.id).await).is_empty(),
        "release must not append an attempt"
    );
    lease_lost(C, "release twice", store.release(&a).await);
    let b = lease_one(store, C, now, "dlv_1").await;
    ensure!(C, a.token != b.token, "a new lease must get a new token");
    lease_lost(
        C,
        "finish_attempt with a released lease",
        store
            .finish_attempt(&a, ok_attempt(1, now), NextState::Succeeded)
            .await,
    );
    ok(
        C,
        "finish_attempt",
        store
            .finish_attempt(&b, ok_attempt(1, now), NextState::Succeeded)
            .await,
    );
    ensure_eq!(
        C,
        get(store, C, "dlv_1").await.state,
        DeliveryState::Succeeded,
        "B finished"
    );
}

/// Deliveries to a disabled endpoint stay pending and are not leased (even
/// when their lease expires while disabled); they are leased again once the
/// endpoint is enabled, whether by `set_endpoint_enabled` or by `put_endpoint`.
pub async fn disabled_endpoints_are_not_leased(store: &dyn Store) {
    const C: &str = "disabled_endpoints_are_not_leased";
    assert_empty(store, C).await;
    let clock = clock();
    let now = clock.now();
    put(store, C, &["ep_on", "ep_x"]).await;
    let off = Endpoint::builder("ep_off", "http://127.0.0.1:9/off")
        .enabled(false)
        .build()
        .expect("valid endpoint");
    ok(C, "put_endpoint", store.put_endpoint(off).await);
    insert(
        store,
        C,
        "evt_1",
        &[("dlv_on", "ep_on"), ("dlv_off", "ep_off")],
        now,
    )
    .await;
    let leased = lease(store, C, now, 10, secs(600)).await;
    ensure_eq!(
        C,
        leased_ids(&leased),
        vec!["dlv_on"],
        "a disabled endpoint's delivery was leased"
    );
    ensure_eq!(
        C,
        get(store, C, "dlv_off").await.state,
        DeliveryState::Pending,
        "stays pending"
    );

    // Disabled after its delivery was queued.
    insert(store, C, "evt_2", &[("dlv_on2", "ep_on")], now).await;
    ensure!(
        C,
        ok(
            C,
            "set_endpoint_enabled",
            store
                .set_endpoint_enabled(&endpoint_id("ep_on"), false)
                .await
        ),
        "disable"
    );
    ensure!(
        C,
        lease(store, C, now, 10, secs(600)).await.is_empty(),
        "nothing may be leased while both endpoints are disabled"
    );
    ensure!(
        C,
        ok(
            C,
            "set_endpoint_enabled",
            store
                .set_endpoint_enabled(&endpoint_id("ep_off"), true)
                .await
        ),
        "enable"
    );
    let leased = lease(store, C, now, 10, secs(600)).await;
    ensure_eq!(
        C,
        leased_ids(&leased),
        vec!["dlv_off"],
        "re-enabled: its delivery is leased"
    );
    // Re-enabled by replacing the endpoint.
    ok(
        C,
        "put_endpoint",
        store.put_endpoint(endpoint("ep_on")).await,
    );
    let leased = lease(store, C, now, 10, secs(600)).await;
    ensure_eq!(
        C,
        leased_ids(&leased),
        vec!["dlv_on2"],
        "enabled by put_endpoint: leased"
    );

    // Disabled while one of its deliveries is leased and the lease runs out.
    insert(store, C, "evt_3", &[("dlv_x", "ep_x")], now).await;
    let x = lease(store, C, now, 10, secs(30)).await;
    ensure_eq!(C, leased_ids(&x), vec!["dlv_x"], "dlv_x is due");
    let disabled = Endpoint::builder("ep_x", "http://127.0.0.1:9/ep_x")
        .enabled(false)
        .build()
        .expect("valid endpoint");
    ok(C, "put_endpoint", store.put_endpoint(disabled).await);
    clock.advance(secs(30));
    ensure!(
        C,
        lease(store, C, clock.now(), 10, secs(30)).await.is_empty(),
        "an expired lease on a disabled endpoint's delivery must not be taken over"
    );
    ensure!(
        C,
        ok(
            C,
            "set_endpoint_enabled",
            store.set_endpoint_enabled(&endpoint_id("ep_x"), true).await
        ),
        "enable"
    );
    let again = lease(store, C, clock.now(), 10, secs(30)).await;
    ensure_eq!(
        C,
        leased_ids(&again),
        vec!["dlv_x"],
        "taken over once enabled again"
    );
    ensure!(
        C,
        again[0].lease.token != x[0].lease.token,
        "a new lease must get a new token"
    );
}

/// Deliveries to an endpoint that does not exist are stored but not leased
/// until the endpoint is put.
pub async fn unknown_endpoints_are_not_leased(store: &dyn Store) {
    const C: &str = "unknown_endpoints_are_not_leased";
    assert_empty(store, C).await;
    let now = clock().now();
    insert(store, C, "evt_1", &[("dlv_ghost", "ep_ghost")], now).await;
    ensure_eq!(
        C,
        get(store, C, "dlv_ghost").await.state,
        DeliveryState::Pending,
        "stored, pending"
    );
    ensure!(
        C,
        lease(store, C, now, 10, secs(60)).await.is_empty(),
        "a delivery to an unknown endpoint must not be leased"
    );
    put(store, C, &["ep_ghost"]).await;
    let leased = lease(store, C, now, 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&leased),
        vec!["dlv_ghost"],
        "leased once its endpoint exists"
    );
}

/// `dead_in_a_row` counts per endpoint: +1 on dead, unchanged on retry, 0 on
/// success, and 0 again when the endpoint is re-enabled.
pub async fn dead_in_a_row_is_counted_per_endpoint(store: &dyn Store) {
    const C: &str = "dead_in_a_row_is_counted_per_endpoint";
    assert_empty(store, C).await;
    let clock = clock();
    let now = clock.now();
    put(store, C, &["ep_a", "ep_b"]).await;
    let pairs = [
        ("dlv_a1", "ep_a"),
        ("dlv_a2", "ep_a"),
        ("dlv_b1", "ep_b"),
        ("dlv_a3", "ep_a"),
        ("dlv_a4", "ep_a"),
        ("dlv_a5", "ep_a"),
        ("dlv_a6", "ep_a"),
    ];
    insert(store, C, "evt_1", &pairs, now).await;
    let leased = lease(store, C, now, 10, secs(60)).await;
    ensure_eq!(C, leased.len(), 7, "all seven are due");
    let steps = [
        ("dlv_a1", NextState::Dead, 1),
        ("dlv_a2", NextState::Dead, 2),
        ("dlv_b1", NextState::Dead, 1),
        ("dlv_a3", NextState::RetryAt(now + secs(60)), 2),
        ("dlv_a4", NextState::Succeeded, 0),
        ("dlv_a5", NextState::Dead, 1),
        // ep_a is disabled and enabled again before this one finishes.
        ("dlv_a6", NextState::Dead, 1),
    ];
    for (id, next, expected) in steps {
        if id == "dlv_a6" {
            let ep_a = EndpointId::new("ep_a").expect("valid id");
            ok(
                C,
                "set_endpoint_enabled",
                store.set_endpoint_enabled(&ep_a, false).await,
            );
            ok(
                C,
                "set_endpoint_enabled",
                store.set_endpoint_enabled(&ep_a, true).await,
            );
        }
        let l = leased
            .iter()
            .find(|l| l.delivery.id.as_str() == id)
            .unwrap_or_else(|| panic!("store conformance check `{C}` failed: {id} was not leased"));
        let report = ok(
            C,
            "finish_attempt",
            store
                .finish_attempt(&l.lease, failed_attempt(1, now), next)
                .await,
        );
        ensure_eq!(
            C,
            report.dead_in_a_row,
            expected,
            "dead_in_a_row after {id} moved to {next:?}"
        );
    }
}

/// `deliveries()` filters by state, endpoint and event (combined with AND),
/// lists oldest first and stops at `limit`.
pub async fn deliveries_are_filtered(store: &dyn Store) {
    const C: &str = "deliveries_are_filtered";
    assert_empty(store, C).await;
    let clock = clock();
    put(store, C, &["ep_a", "ep_b"]).await;
    insert(
        store,
        C,
        "evt_1",
        &[("dlv_1", "ep_a"), ("dlv_2", "ep_b")],
        clock.now(),
    )
    .await;
    clock.advance(secs(1));
    insert(
        store,
        C,
        "evt_2",
        &[("dlv_3", "ep_a"), ("dlv_4", "ep_b")],
        clock.now(),
    )
    .await;
    clock.advance(secs(1));
    insert(store, C, "evt_3", &[("dlv_5", "ep_a")], clock.now()).await;
    let leased = lease(store, C, clock.now(), 10, secs(60)).await;
    for l in &leased {
        let next = match l.delivery.id.as_str() {
            "dlv_2" => NextState::Succeeded,
            "dlv_3" => NextState::Dead,
            _ => {
                ok(C, "release", store.release(&l.lease).await);
                continue;
            }
        };
        ok(
            C,
            "finish_attempt",
            store
                .finish_attempt(&l.lease, failed_attempt(1, clock.now()), next)
                .await,
        );
    }
    let (a, b) = (endpoint_id("ep_a"), endpoint_id("ep_b"));
    let cases: Vec<(&str, DeliveryFilter, Vec<&str>)> = vec![
        (
            "all",
            DeliveryFilter::all(100),
            vec!["dlv_1", "dlv_2", "dlv_3", "dlv_4", "dlv_5"],
        ),
        ("limit 2", DeliveryFilter::all(2), vec!["dlv_1", "dlv_2"]),
        ("limit 0", DeliveryFilter::all(0), vec![]),
        (
            "pending",
            DeliveryFilter::all(100).state(DeliveryState::Pending),
            vec!["dlv_1", "dlv_4", "dlv_5"],
        ),
        (
            "succeeded",
            DeliveryFilter::all(100).state(DeliveryState::Succeeded),
            vec!["dlv_2"],
        ),
        (
            "dead",
            DeliveryFilter::all(100).state(DeliveryState::Dead),
            vec!["dlv_3"],
        ),
        (
            "endpoint a",
            DeliveryFilter::all(100).endpoint(a.clone()),
            vec!["dlv_1", "dlv_3", "dlv_5"],
        ),
        (
            "endpoint b",
            DeliveryFilter::all(100).endpoint(b),
            vec!["dlv_2", "dlv_4"],
        ),
        (
            "event 2",
            DeliveryFilter::all(100).event(event_id("evt_2")),
            vec!["dlv_3", "dlv_4"],
        ),
        (
            "endpoint a, pending",
            DeliveryFilter::all(100)
                .endpoint(a.clone())
                .state(DeliveryState::Pending),
            vec!["dlv_1", "dlv_5"],
        ),
        (
            "endpoint a, pending, limit 1",
            DeliveryFilter::all(1)
                .endpoint(a.clone())
                .state(DeliveryState::Pending),
            vec!["dlv_1"],
        ),
        (
            "endpoint a, event 2, dead",
            DeliveryFilter::all(100)
                .endpoint(a)
                .event(event_id("evt_2"))
                .state(DeliveryState::Dead),
            vec!["dlv_3"],
        ),
        (
            "unknown endpoint",
            DeliveryFilter::all(100).endpoint(endpoint_id("ep_zzz")),
            vec![],
        ),
        (
            "unknown event",
            DeliveryFilter::all(100).event(event_id("evt_zzz")),
            vec![],
        ),
    ];
    for (name, filter, expected) in cases {
        let got = ok(C, "deliveries", store.deliveries(&filter).await);
        ensure_eq!(C, ids(&got), expected, "filter {name:?}");
    }
}

/// 32 concurrent `claim_once` calls on one key (each with its own event and
/// delivery ids): exactly one `Inserted`, every other `Existing` with the same
/// id, and only the winner's event and delivery stored. Later claims of the key
/// are `Existing`; another key is independent.
pub async fn claim_once_is_exactly_once(store: &dyn Store) {
    const C: &str = "claim_once_is_exactly_once";
    const CLAIMS: usize = 32;
    assert_empty(store, C).await;
    let now = clock().now();
    put(store, C, &["ep_a"]).await;
    let key = "journey-1/step-2/profile-3";
    let claims = join_all((0..CLAIMS).map(|i| {
        let event = new_event(&format!("evt_{i}"), now);
        let delivery = NewDelivery::new(delivery_id(&format!("dlv_{i}")), endpoint_id("ep_a"), now);
        store.claim_once(key, event, delivery)
    }))
    .await;
    let mut inserted = Vec::new();
    let mut existing = Vec::new();
    for (i, claim) in claims.into_iter().enumerate() {
        match ok(C, "claim_once", claim) {
            Claim::Inserted(id) => inserted.push((i, id)),
            Claim::Existing(id) => existing.push(id),
        }
    }
    ensure_eq!(
        C,
        inserted.len(),
        1,
        "exactly one concurrent claim must insert"
    );
    let (winner, id) = inserted.remove(0);
    ensure_eq!(
        C,
        id,
        delivery_id(&format!("dlv_{winner}")),
        "Inserted must name its own delivery"
    );
    ensure!(
        C,
        existing.iter().all(|e| *e == id),
        "every other claim must return Existing({id}), got {existing:?}"
    );
    let all = ok(
        C,
        "deliveries",
        store.deliveries(&DeliveryFilter::all(100)).await,
    );
    ensure_eq!(
        C,
        ids(&all),
        vec![id.as_str()],
        "exactly one delivery must be stored"
    );
    let d = get(store, C, id.as_str()).await;
    ensure_eq!(
        C,
        d.event_id,
        event_id(&format!("evt_{winner}")),
        "the winner's event is stored"
    );
    ensure_eq!(
        C,
        d.payload,
        payload_of(&format!("evt_{winner}")),
        "the winner's payload"
    );
    let loser = (winner + 1) % CLAIMS;
    let stored = ok(
        C,
        "insert_event",
        store
            .insert_event(new_event(&format!("evt_{loser}"), now), Vec::new())
            .await,
    );
    ensure!(
        C,
        stored,
        "a losing claim's event evt_{loser} must not have been stored"
    );

    let again = ok(
        C,
        "claim_once",
        store
            .claim_once(
                key,
                new_event("evt_late", now),
                NewDelivery::new(delivery_id("dlv_late"), endpoint_id("ep_a"), now),
            )
            .await,
    );
    ensure_eq!(
        C,
        again,
        Claim::Existing(id.clone()),
        "a later claim of the key"
    );
    let other = ok(
        C,
        "claim_once",
        store
            .claim_once(
                "journey-1/step-2/profile-4",
                new_event("evt_other", now),
                NewDelivery::new(delivery_id("dlv_other"), endpoint_id("ep_a"), now),
            )
            .await,
    );
    ensure_eq!(
        C,
        other,
        Claim::Inserted(delivery_id("dlv_other")),
        "another key is independent"
    );
    let leased = lease(store, C, now, 10, secs(60)).await;
    let mut leased: Vec<&str> = leased_ids(&leased);
    leased.sort_unstable();
    let mut expected = vec![id.as_str(), "dlv_other"];
    expected.sort_unstable();
    ensure_eq!(
        C,
        leased,
        expected,
        "claimed deliveries are queued like any other"
    );
}

/// Skips come back newest first, at most `limit`, exactly as recorded.
pub async fn skips_are_newest_first(store: &dyn Store) {
    const C: &str = "skips_are_newest_first";
    assert_empty(store, C).await;
    let clock = clock();
    let mut recorded = Vec::new();
    for i in 0..5 {
        let skip = SkipRecord::new(
            format!("journey-1/step-{i}/profile-9"),
            format!("consent \"marketing\" not granted ({i})"),
            clock.now(),
        );
        ok(C, "record_skip", store.record_skip(skip.clone()).await);
        recorded.push(skip);
        clock.advance(secs(1));
    }
    recorded.reverse();
    let got = ok(C, "skips", store.skips(3).await);
    ensure_eq!(
        C,
        got,
        recorded[..3].to_vec(),
        "skips(3): the three newest, newest first"
    );
    let got = ok(C, "skips", store.skips(100).await);
    ensure_eq!(C, got, recorded, "skips(100): all five, newest first");
    let got = ok(C, "skips", store.skips(0).await);
    ensure!(C, got.is_empty(), "skips(0) must be empty");
}

/// `prune_succeeded` removes succeeded deliveries that finished before the
/// cutoff (oldest first, at most `max`) with their attempts; pending and dead
/// ones stay, and an event stays while a delivery of it does.
pub async fn prune_removes_old_succeeded_only(store: &dyn Store) {
    const C: &str = "prune_removes_old_succeeded_only";
    assert_empty(store, C).await;
    let clock = clock();
    let t0 = clock.now();
    put(store, C, &["ep_a"]).await;
    insert(
        store,
        C,
        "evt_1",
        &[("dlv_1", "ep_a"), ("dlv_2", "ep_a")],
        t0,
    )
    .await;
    insert(
        store,
        C,
        "evt_2",
        &[("dlv_3", "ep_a"), ("dlv_4", "ep_a")],
        t0,
    )
    .await;
    let leased = lease(store, C, t0, 10, secs(300)).await;
    ensure_eq!(C, leased.len(), 4, "all four are due");
    let lease_of = |id: &str| {
        leased
            .iter()
            .find(|l| l.delivery.id.as_str() == id)
            .map(|l| l.lease.clone())
            .expect("leased")
    };
    let finish = |id: &'static str, at: SystemTime, next: NextState| {
        let lease = lease_of(id);
        async move {
            ok(
                C,
                "finish_attempt",
                store.finish_attempt(&lease, ok_attempt(1, at), next).await,
            )
        }
    };
    finish("dlv_1", t0, NextState::Succeeded).await;
    finish("dlv_2", t0, NextState::Dead).await;
    finish("dlv_3", t0 + secs(100), NextState::Succeeded).await;
    finish("dlv_4", t0, NextState::RetryAt(t0 + secs(1_000))).await;

    ensure_eq!(
        C,
        ok(
            C,
            "prune_succeeded",
            store.prune_succeeded(t0 + secs(50), 0).await
        ),
        0,
        "max 0 removes nothing"
    );
    ensure_eq!(
        C,
        ok(
            C,
            "prune_succeeded",
            store.prune_succeeded(t0 + secs(50), 10).await
        ),
        1,
        "only dlv_1 finished before the cutoff"
    );
    ensure_eq!(
        C,
        ok(
            C,
            "prune_succeeded",
            store.prune_succeeded(t0 + secs(50), 10).await
        ),
        0,
        "pruning again removes nothing"
    );
    ensure!(
        C,
        ok(C, "delivery", store.delivery(&delivery_id("dlv_1")).await).is_none(),
        "dlv_1 must be gone"
    );
    ensure!(
        C,
        ok(C, "attempts", store.attempts(&delivery_id("dlv_1")).await).is_empty(),
        "dlv_1's attempts must be gone"
    );
    // The dead one, and its event, stay.
    let d2 = get(store, C, "dlv_2").await;
    ensure_eq!(
        C,
        (d2.state, &*d2.payload),
        (DeliveryState::Dead, &payload_of("evt_1")[..]),
        "dlv_2"
    );

    ensure_eq!(
        C,
        ok(
            C,
            "prune_succeeded",
            store.prune_succeeded(t0 + secs(200), 10).await
        ),
        1,
        "dlv_3 finished before the later cutoff"
    );
    let left = ok(
        C,
        "deliveries",
        store.deliveries(&DeliveryFilter::all(10)).await,
    );
    ensure_eq!(
        C,
        ids(&left),
        ["dlv_2", "dlv_4"],
        "pending and dead deliveries stay"
    );
    let d4 = get(store, C, "dlv_4").await;
    ensure_eq!(
        C,
        &*d4.payload,
        &payload_of("evt_2")[..],
        "evt_2 stays with dlv_4"
    );

    // At most `max` at a time.
    let later = t0 + secs(300);
    insert(
        store,
        C,
        "evt_3",
        &[("dlv_5", "ep_a"), ("dlv_6", "ep_a"), ("dlv_7", "ep_a")],
        later,
    )
    .await;
    for l in lease(store, C, later, 10, secs(30)).await {
        if l.delivery.id.as_str() != "dlv_4" {
            ok(
                C,
                "finish_attempt",
                store
                    .finish_attempt(&l.lease, ok_attempt(1, later), NextState::Succeeded)
                    .await,
            );
        }
    }
    let cutoff = later + secs(1);
    ensure_eq!(
        C,
        ok(C, "prune_succeeded", store.prune_succeeded(cutoff, 2).await),
        2,
        "max 2"
    );
    ensure_eq!(
        C,
        ok(C, "prune_succeeded", store.prune_succeeded(cutoff, 2).await),
        1,
        "the last one"
    );
}
