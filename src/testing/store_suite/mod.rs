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

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::clock::ManualClock;
use crate::endpoint::Endpoint;
use crate::id::{DeliveryId, EndpointId, EventId};
use crate::store::{
    AttemptRecord, AttemptResult, Delivery, DeliveryFilter, FinishReport, Lease, LeaseRequest,
    Leased, NewDelivery, NewEvent, NextState, Store, StoreError, StoreErrorKind,
};

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

// The checks, by what they exercise. Declared after the macros above, which
// they use.
mod attempts;
mod endpoints;
mod flow;
mod handbacks;
mod health;
mod leasing;
mod ledger;
mod ordering;
mod queries;
mod retention;
mod signing;

pub use self::attempts::{
    attempt_errors_keep_their_kind_and_reason, dead_in_a_row_is_counted_per_endpoint,
    dead_then_redeliver, finish_attempts_records_each, retry_makes_pending_again_later,
    success_is_final,
};
pub use self::endpoints::{
    delete_endpoint_ends_queued_deliveries, deliveries_to_missing_endpoints_are_leased,
    disabled_endpoints_are_not_leased, endpoints_by_id_answers_each_in_order, endpoints_round_trip,
    subscribers_follow_subscriptions,
};
pub use self::flow::{
    circuit_breaker_opens_probes_and_closes, concurrent_leasers_share_a_rate,
    flow_settings_round_trip, max_in_flight_holds_across_leasers, pause_holds_an_endpoint,
    rate_limit_spaces_leases,
};
pub use self::handbacks::{
    abandon_ends_dead_without_an_attempt, defer_hands_back_until_later, reasons_stay_until_replaced,
};
pub use self::health::{
    attempt_totals_survive_redeliver, attempts_page_by_cursor, deliveries_page_by_cursor,
    disable_endpoint_is_true_once, endpoint_health_follows_attempts,
};
pub use self::leasing::{
    concurrent_leasers_are_disjoint, expired_lease_not_taken_over_can_finish, leases_expire,
    leasing_respects_limit, leasing_respects_now, lost_lease_cannot_record,
    next_due_is_the_earliest_leasable_time, release_makes_due_again, skipped_endpoints_stay_queued,
};
pub use self::ledger::{claim_once_is_exactly_once, insert_is_idempotent, skips_are_newest_first};
pub use self::ordering::{
    concurrent_leasers_take_one_ordered_head, ordered_endpoint_leases_its_head_only,
    ordered_flag_round_trips, ordered_head_keeps_its_turn_through_handbacks,
    ordered_redelivery_takes_its_place,
};
pub use self::queries::{
    deliveries_are_filtered, deliveries_share_the_event_payload, due_stats_count_what_is_due,
};
pub use self::retention::prune_removes_old_succeeded_only;
pub use self::signing::signing_keys_keep_their_rotation_schedule;

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
        skipped_endpoints_stay_queued,
        next_due_is_the_earliest_leasable_time,
        defer_hands_back_until_later,
        abandon_ends_dead_without_an_attempt,
        reasons_stay_until_replaced,
        attempt_errors_keep_their_kind_and_reason,
        disabled_endpoints_are_not_leased,
        deliveries_to_missing_endpoints_are_leased,
        endpoints_by_id_answers_each_in_order,
        delete_endpoint_ends_queued_deliveries,
        dead_in_a_row_is_counted_per_endpoint,
        deliveries_are_filtered,
        due_stats_count_what_is_due,
        claim_once_is_exactly_once,
        skips_are_newest_first,
        prune_removes_old_succeeded_only,
        disable_endpoint_is_true_once,
        endpoint_health_follows_attempts,
        attempt_totals_survive_redeliver,
        deliveries_page_by_cursor,
        attempts_page_by_cursor,
        signing_keys_keep_their_rotation_schedule,
        ordered_flag_round_trips,
        ordered_endpoint_leases_its_head_only,
        ordered_head_keeps_its_turn_through_handbacks,
        ordered_redelivery_takes_its_place,
        concurrent_leasers_take_one_ordered_head,
        flow_settings_round_trip,
        rate_limit_spaces_leases,
        concurrent_leasers_share_a_rate,
        pause_holds_an_endpoint,
        circuit_breaker_opens_probes_and_closes,
        max_in_flight_holds_across_leasers,
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

// ------------------------------------------------------------ shared helpers
//
// Each takes the check's name, so that a failure names the check. The store
// calls wrapped here panic on an error, naming the call.

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

/// Inserts the new event `event` (created at `due_at`) with `deliveries`, all
/// due at `due_at`; the store must take it.
async fn insert(
    store: &dyn Store,
    check: &str,
    event: &str,
    deliveries: &[(&str, &str)],
    due_at: SystemTime,
) {
    let inserted = try_insert(
        store,
        check,
        new_event(event, due_at),
        new_deliveries(deliveries, due_at),
    )
    .await;
    ensure!(
        check,
        inserted,
        "insert_event of new event {event} returned false"
    );
}

/// `insert_event`, whatever it answers.
async fn try_insert(
    store: &dyn Store,
    check: &str,
    event: NewEvent,
    deliveries: Vec<NewDelivery>,
) -> bool {
    ok(
        check,
        "insert_event",
        store.insert_event(event, deliveries).await,
    )
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

/// `lease` with `request` (a skip list, say); the store must answer.
async fn lease_with(store: &dyn Store, check: &str, request: LeaseRequest) -> Vec<Leased> {
    ok(check, "lease", store.lease(request).await)
}

/// `next_due(now)`; the store must answer.
async fn next_due(store: &dyn Store, check: &str, now: SystemTime) -> Option<SystemTime> {
    ok(check, "next_due", store.next_due(now).await)
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

/// The preamble of most checks: verifies the store is empty, then puts
/// `endpoints` (enabled, subscribed to every event).
async fn start(store: &dyn Store, check: &str, endpoints: &[&str]) {
    assert_empty(store, check).await;
    put(store, check, endpoints).await;
}

/// [`start`] with endpoint `ep_a`, then event `evt_1` with one delivery,
/// `dlv_1` to `ep_a`, due at `due_at`: the preamble of the checks that follow
/// one delivery through its life.
async fn start_with_dlv_1(store: &dyn Store, check: &str, due_at: SystemTime) {
    start(store, check, &["ep_a"]).await;
    insert(store, check, "evt_1", &[("dlv_1", "ep_a")], due_at).await;
}

/// An endpoint like [`endpoint`]'s, disabled.
fn disabled_endpoint(id: &str) -> Endpoint {
    Endpoint::builder(id, format!("http://127.0.0.1:9/{id}"))
        .enabled(false)
        .build()
        .expect("valid endpoint")
}

async fn put_endpoint(store: &dyn Store, check: &str, endpoint: Endpoint) {
    ok(check, "put_endpoint", store.put_endpoint(endpoint).await);
}

/// `set_endpoint_enabled` on endpoint `id`: whether the endpoint exists.
async fn set_enabled(store: &dyn Store, check: &str, id: &str, enabled: bool) -> bool {
    ok(
        check,
        "set_endpoint_enabled",
        store.set_endpoint_enabled(&endpoint_id(id), enabled).await,
    )
}

/// The delivery `id`, if it is stored.
async fn find(store: &dyn Store, check: &str, id: &str) -> Option<Delivery> {
    ok(check, "delivery", store.delivery(&delivery_id(id)).await)
}

/// The attempts recorded for delivery `id`, oldest first.
async fn attempts(store: &dyn Store, check: &str, id: &str) -> Vec<AttemptRecord> {
    ok(check, "attempts", store.attempts(&delivery_id(id)).await)
}

async fn list(store: &dyn Store, check: &str, filter: &DeliveryFilter) -> Vec<Delivery> {
    ok(check, "deliveries", store.deliveries(filter).await)
}

/// The lease of delivery `id` among `leased`.
#[track_caller]
fn lease_of(check: &str, leased: &[Leased], id: &str) -> Lease {
    match leased.iter().find(|l| l.delivery.id.as_str() == id) {
        Some(l) => l.lease.clone(),
        None => panic!("store conformance check `{check}` failed: {id} was not leased"),
    }
}

/// Records `attempt` under `lease` and moves the delivery to `next`; the
/// store must accept it.
async fn finish(
    store: &dyn Store,
    check: &str,
    lease: &Lease,
    attempt: AttemptRecord,
    next: NextState,
) -> FinishReport {
    ok(
        check,
        "finish_attempt",
        store.finish_attempt(lease, attempt, next).await,
    )
}

/// Leases delivery `id` at `now` ([`lease_one`]), then [`finish`]es it.
async fn lease_and_finish(
    store: &dyn Store,
    check: &str,
    now: SystemTime,
    id: &str,
    attempt: AttemptRecord,
    next: NextState,
) -> FinishReport {
    let lease = lease_one(store, check, now, id).await;
    finish(store, check, &lease, attempt, next).await
}
