//! Handing a leased delivery back without an attempt: deferred to a later
//! time, or abandoned (ended dead), each with a reason; and how long a
//! delivery keeps its reason.

use super::{
    attempts, clock, delivery_id, failed_attempt, finish, get, insert, lease, lease_and_finish,
    lease_lost, lease_of, lease_one, leased_ids, next_due, ok, ok_attempt, secs, start,
    start_with_dlv_1,
};
use crate::clock::Clock;
use crate::store::{
    bounded_reason, DeliveryState, Lease, NextState, Store, MAX_REASON_LEN, REASON_ENDPOINT_DELETED,
};

/// `defer` hands a leased delivery back without an attempt, due at `until`:
/// pending, its attempt count and records unchanged, its `next_attempt_at`
/// `until`, its `reason` the one given (cut by
/// [`bounded_reason`] when longer than [`MAX_REASON_LEN`]); it is not leased
/// before `until` and is at `until`. The deferred lease is spent, and a stale
/// lease (spent, taken over, or of an unknown delivery) can neither defer nor
/// abandon: `LeaseLost`, nothing changed.
pub async fn defer_hands_back_until_later(store: &dyn Store) {
    const C: &str = "defer_hands_back_until_later";
    let clock = clock();
    start_with_dlv_1(store, C, clock.now()).await;
    lease_and_finish(
        store,
        C,
        clock.now(),
        "dlv_1",
        failed_attempt(1, clock.now()),
        NextState::RetryAt(clock.now() + secs(10)),
    )
    .await;
    clock.advance(secs(10));
    let a = lease_one(store, C, clock.now(), "dlv_1").await;
    let until = clock.now() + secs(120);
    let reason = "endpoint could not be read: connection refused";
    ok(C, "defer", store.defer(&a, until, reason).await);
    let d = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d.state, d.attempts, d.next_attempt_at, d.reason.as_deref()),
        (DeliveryState::Pending, 1, until, Some(reason)),
        "after defer: pending, the attempt count unchanged, due at until, the reason kept"
    );
    ensure_eq!(
        C,
        attempts(store, C, "dlv_1").await.len(),
        1,
        "defer must not record an attempt"
    );
    ensure!(
        C,
        lease(store, C, clock.now(), 10, secs(60)).await.is_empty(),
        "a deferred delivery was leased before its time"
    );
    ensure!(
        C,
        lease(store, C, until - secs(1), 10, secs(60))
            .await
            .is_empty(),
        "a deferred delivery was leased before its time"
    );
    ensure_eq!(
        C,
        next_due(store, C, clock.now()).await,
        Some(until),
        "next_due of a deferred delivery: its new due time"
    );

    // The deferred lease is spent.
    let attempt = failed_attempt(2, clock.now());
    lease_lost(
        C,
        "defer with a spent lease",
        store.defer(&a, clock.now(), "again").await,
    );
    lease_lost(
        C,
        "abandon with a spent lease",
        store.abandon(&a, "again").await,
    );
    lease_lost(C, "release with a spent lease", store.release(&a).await);
    lease_lost(
        C,
        "finish_attempt with a spent lease",
        store
            .finish_attempt(&a, attempt.clone(), NextState::Dead)
            .await,
    );
    let d = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d.state, d.attempts, d.next_attempt_at, d.reason.as_deref()),
        (DeliveryState::Pending, 1, until, Some(reason)),
        "a spent lease changed the delivery"
    );

    clock.set(until);
    let b = lease(store, C, clock.now(), 10, secs(30)).await;
    ensure_eq!(C, leased_ids(&b), vec!["dlv_1"], "due at until");
    ensure_eq!(
        C,
        (b[0].delivery.attempts, b[0].delivery.reason.as_deref()),
        (1, Some(reason)),
        "the leased snapshot shows the attempt count and the reason"
    );
    let b = b[0].lease.clone();
    // b runs out and c takes over: b is stale.
    clock.advance(secs(30));
    let c = lease_one(store, C, clock.now(), "dlv_1").await;
    lease_lost(
        C,
        "defer with a lease taken over",
        store.defer(&b, clock.now() + secs(5), "stale").await,
    );
    lease_lost(
        C,
        "abandon with a lease taken over",
        store.abandon(&b, "stale").await,
    );
    let ghost = Lease::new(delivery_id("dlv_missing"), c.token, c.expires_at);
    lease_lost(
        C,
        "defer of an unknown delivery",
        store.defer(&ghost, clock.now(), "ghost").await,
    );
    lease_lost(
        C,
        "abandon of an unknown delivery",
        store.abandon(&ghost, "ghost").await,
    );
    let d = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d.state, d.attempts, d.reason.as_deref()),
        (DeliveryState::Pending, 1, Some(reason)),
        "a stale lease changed the delivery"
    );

    // A long reason is cut; due at once when `until` is now.
    let long = "é".repeat(MAX_REASON_LEN);
    ok(C, "defer", store.defer(&c, clock.now(), &long).await);
    let d = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        d.reason,
        Some(bounded_reason(long)),
        "a reason over MAX_REASON_LEN bytes must be kept cut, as bounded_reason cuts it"
    );
    let d2 = lease_one(store, C, clock.now(), "dlv_1").await;
    finish(
        store,
        C,
        &d2,
        ok_attempt(2, clock.now()),
        NextState::Succeeded,
    )
    .await;
    ensure_eq!(
        C,
        attempts(store, C, "dlv_1").await.len(),
        2,
        "two attempts in all"
    );
}

/// `abandon` ends a leased delivery dead without an attempt: its attempt
/// count and records unchanged, its reason kept; it is never leased again,
/// and it does not change its endpoint's dead-in-a-row count (the next
/// delivery to end dead counts as if it had not happened). The abandoned
/// lease is spent; a lease taken over cannot abandon (`LeaseLost`, the
/// delivery stays pending). An abandoned delivery can be redelivered.
pub async fn abandon_ends_dead_without_an_attempt(store: &dyn Store) {
    const C: &str = "abandon_ends_dead_without_an_attempt";
    let clock = clock();
    let now = clock.now();
    start(store, C, &["ep_a"]).await;
    insert(
        store,
        C,
        "evt_1",
        &[("dlv_1", "ep_a"), ("dlv_2", "ep_a"), ("dlv_3", "ep_a")],
        now,
    )
    .await;
    let leased = lease(store, C, now, 10, secs(60)).await;
    ensure_eq!(C, leased.len(), 3, "all three are due");
    let report = finish(
        store,
        C,
        &lease_of(C, &leased, "dlv_1"),
        failed_attempt(1, now),
        NextState::Dead,
    )
    .await;
    ensure_eq!(C, report.dead_in_a_row, 1, "dlv_1 ended dead");

    let l2 = lease_of(C, &leased, "dlv_2");
    ok(
        C,
        "abandon",
        store.abandon(&l2, REASON_ENDPOINT_DELETED).await,
    );
    let d2 = get(store, C, "dlv_2").await;
    ensure_eq!(
        C,
        (d2.state, d2.attempts, d2.reason.as_deref()),
        (DeliveryState::Dead, 0, Some(REASON_ENDPOINT_DELETED)),
        "after abandon: dead, no attempt, the reason kept"
    );
    ensure!(
        C,
        attempts(store, C, "dlv_2").await.is_empty(),
        "abandon must not record an attempt"
    );
    lease_lost(
        C,
        "abandon with a spent lease",
        store.abandon(&l2, "again").await,
    );
    lease_lost(C, "release with a spent lease", store.release(&l2).await);
    lease_lost(
        C,
        "finish_attempt with an abandoned lease",
        store
            .finish_attempt(&l2, ok_attempt(1, now), NextState::Succeeded)
            .await,
    );
    let d2 = get(store, C, "dlv_2").await;
    ensure_eq!(
        C,
        (d2.state, d2.attempts),
        (DeliveryState::Dead, 0),
        "a spent lease changed the abandoned delivery"
    );

    let report = finish(
        store,
        C,
        &lease_of(C, &leased, "dlv_3"),
        failed_attempt(1, now),
        NextState::Dead,
    )
    .await;
    ensure_eq!(
        C,
        report.dead_in_a_row,
        2,
        "abandon must not count towards dead in a row, nor reset it"
    );
    ensure!(
        C,
        lease(store, C, now + secs(86_400 * 365), 10, secs(60))
            .await
            .is_empty(),
        "an abandoned delivery must never be leased again"
    );

    // A lease taken over cannot abandon.
    insert(store, C, "evt_2", &[("dlv_4", "ep_a")], now).await;
    let a = lease(store, C, now, 10, secs(30)).await;
    ensure_eq!(C, leased_ids(&a), vec!["dlv_4"], "dlv_4 is due");
    clock.advance(secs(30));
    let b = lease_one(store, C, clock.now(), "dlv_4").await;
    lease_lost(
        C,
        "abandon with a lease taken over",
        store.abandon(&a[0].lease, "stale").await,
    );
    let d4 = get(store, C, "dlv_4").await;
    ensure_eq!(
        C,
        (d4.state, d4.reason),
        (DeliveryState::Pending, None),
        "a stale lease abandoned the delivery"
    );
    ok(C, "abandon", store.abandon(&b, "gone for good").await);

    // Redelivered: pending, due at once, no attempts.
    let later = clock.now();
    ensure!(
        C,
        ok(C, "redeliver", store.redeliver(&d2.id, later).await),
        "an abandoned delivery must be redeliverable"
    );
    let d2 = get(store, C, "dlv_2").await;
    ensure_eq!(
        C,
        (d2.state, d2.attempts, d2.next_attempt_at),
        (DeliveryState::Pending, 0, later),
        "after redeliver: pending, no attempts, due at the redeliver time"
    );
    let again = lease(store, C, later, 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&again),
        vec!["dlv_2"],
        "a redelivered abandoned delivery is leased"
    );
}

/// A delivery's `reason` is `None` until it is first deferred or abandoned;
/// then it stays (through release, attempts, success and redelivery) until
/// the next defer or abandon replaces it.
pub async fn reasons_stay_until_replaced(store: &dyn Store) {
    const C: &str = "reasons_stay_until_replaced";
    let clock = clock();
    let now = clock.now();
    start_with_dlv_1(store, C, now).await;
    ensure_eq!(
        C,
        get(store, C, "dlv_1").await.reason,
        None,
        "a new delivery has no reason"
    );
    let a = lease_one(store, C, now, "dlv_1").await;
    ok(C, "release", store.release(&a).await);
    ensure_eq!(
        C,
        get(store, C, "dlv_1").await.reason,
        None,
        "release gives no reason"
    );
    let b = lease_one(store, C, now, "dlv_1").await;
    ok(C, "defer", store.defer(&b, now, "first").await);

    let c = lease(store, C, now, 10, secs(60)).await;
    ensure_eq!(C, leased_ids(&c), vec!["dlv_1"], "deferred to now: due");
    ensure_eq!(
        C,
        c[0].delivery.reason.as_deref(),
        Some("first"),
        "the leased snapshot carries the reason"
    );
    ok(C, "release", store.release(&c[0].lease).await);
    ensure_eq!(
        C,
        get(store, C, "dlv_1").await.reason.as_deref(),
        Some("first"),
        "release must keep the reason"
    );
    let retry_at = now + secs(10);
    lease_and_finish(
        store,
        C,
        now,
        "dlv_1",
        failed_attempt(1, now),
        NextState::RetryAt(retry_at),
    )
    .await;
    ensure_eq!(
        C,
        get(store, C, "dlv_1").await.reason.as_deref(),
        Some("first"),
        "an attempt must keep the reason"
    );

    let d = lease_one(store, C, retry_at, "dlv_1").await;
    ok(C, "abandon", store.abandon(&d, "second").await);
    ensure_eq!(
        C,
        get(store, C, "dlv_1").await.reason.as_deref(),
        Some("second"),
        "abandon replaces the reason"
    );
    ensure!(
        C,
        ok(
            C,
            "redeliver",
            store.redeliver(&d.delivery_id, retry_at).await
        ),
        "redeliver of an abandoned delivery"
    );
    ensure_eq!(
        C,
        get(store, C, "dlv_1").await.reason.as_deref(),
        Some("second"),
        "redeliver must keep the reason"
    );
    lease_and_finish(
        store,
        C,
        retry_at,
        "dlv_1",
        ok_attempt(1, retry_at),
        NextState::Succeeded,
    )
    .await;
    ensure_eq!(
        C,
        get(store, C, "dlv_1").await.reason.as_deref(),
        Some("second"),
        "success must keep the reason"
    );
}
