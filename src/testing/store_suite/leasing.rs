//! Leasing: which deliveries are due, how many one call takes, when a lease
//! runs out, and what a lease lost to another worker or released still allows.

use std::collections::HashSet;

use super::{
    attempts, clock, delivery_id, failed_attempt, finish, get, insert, lease, lease_lost,
    lease_one, leased_ids, ok, ok_attempt, secs, start, start_with_dlv_1,
};
use crate::clock::Clock;
use crate::store::{DeliveryState, Lease, NextState, Store};
use crate::testing::join_all;

/// Deliveries due later than `now` are not leased; due exactly at `now` they
/// are; earliest due first.
pub async fn leasing_respects_now(store: &dyn Store) {
    const C: &str = "leasing_respects_now";
    let clock = clock();
    let now = clock.now();
    start(store, C, &["ep_a"]).await;
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
    let now = clock().now();
    start(store, C, &["ep_a"]).await;
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
    let clock = clock();
    let now = clock.now();
    start_with_dlv_1(store, C, now).await;

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
    let now = clock().now();
    start(store, C, &["ep_a", "ep_b", "ep_c", "ep_d"]).await;
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
    let clock = clock();
    start_with_dlv_1(store, C, clock.now()).await;
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
        attempts(store, C, d.id.as_str()).await.is_empty(),
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
    let history = attempts(store, C, d.id.as_str()).await;
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

/// A lease that expired but was not taken over still holds the delivery: its
/// attempt is recorded (the token is what counts, not the clock).
pub async fn expired_lease_not_taken_over_can_finish(store: &dyn Store) {
    const C: &str = "expired_lease_not_taken_over_can_finish";
    let clock = clock();
    start_with_dlv_1(store, C, clock.now()).await;
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

/// Release: no attempt recorded, the delivery is due again at once (new token);
/// the released lease is spent.
pub async fn release_makes_due_again(store: &dyn Store) {
    const C: &str = "release_makes_due_again";
    let clock = clock();
    let now = clock.now();
    start_with_dlv_1(store, C, now - secs(10)).await;
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
        attempts(store, C, d.id.as_str()).await.is_empty(),
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
    finish(store, C, &b, ok_attempt(1, now), NextState::Succeeded).await;
    ensure_eq!(
        C,
        get(store, C, "dlv_1").await.state,
        DeliveryState::Succeeded,
        "B finished"
    );
}
