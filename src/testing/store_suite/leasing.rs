//! Leasing: which deliveries are due, how many one call takes, which
//! endpoints a call skips, when a lease runs out, when the next delivery can
//! be leased, and what a lease lost to another worker or released still
//! allows.

use std::collections::HashSet;

use super::{
    assert_empty, attempts, clock, delivery_id, disabled_endpoint, endpoint_id, failed_attempt,
    finish, get, insert, lease, lease_lost, lease_one, lease_with, leased_ids, next_due, ok,
    ok_attempt, put_endpoint, secs, set_enabled, start, start_with_dlv_1,
};
use crate::clock::Clock;
use crate::store::{DeliveryState, Lease, LeaseRequest, NextState, Store, REASON_ENDPOINT_DELETED};
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

/// The deliveries of the endpoints in [`LeaseRequest::skip`] are not leased
/// and stay queued as they were, and they do not use up the limit: it is
/// filled from the other endpoints' due deliveries, earliest first, even
/// when the skipped ones are due earlier. Once their endpoint is no longer
/// skipped they are leased, in their due order, with nothing recorded.
/// Skipping an unknown endpoint changes nothing; a missing endpoint's
/// deliveries can be skipped like any other's.
pub async fn skipped_endpoints_stay_queued(store: &dyn Store) {
    const C: &str = "skipped_endpoints_stay_queued";
    let now = clock().now();
    start(store, C, &["ep_a", "ep_b", "ep_c"]).await;
    let due = [
        ("dlv_a1", "ep_a", 40),
        ("dlv_a2", "ep_a", 30),
        ("dlv_b1", "ep_b", 20),
        ("dlv_ghost", "ep_ghost", 15),
        ("dlv_c1", "ep_c", 10),
        ("dlv_b2", "ep_b", 0),
    ];
    for (i, (delivery, endpoint, ago)) in due.into_iter().enumerate() {
        let event = format!("evt_{i}");
        insert(store, C, &event, &[(delivery, endpoint)], now - secs(ago)).await;
    }
    let skip = |ids: &[&str]| ids.iter().map(|id| endpoint_id(id)).collect::<Vec<_>>();
    let request = |limit, ids: &[&str]| LeaseRequest::new(now, limit, secs(60)).skip(skip(ids));

    let first = lease_with(store, C, request(2, &["ep_a"])).await;
    ensure_eq!(
        C,
        leased_ids(&first),
        vec!["dlv_b1", "dlv_ghost"],
        "skipping ep_a: the limit is filled from the others, earliest first"
    );
    for id in ["dlv_a1", "dlv_a2"] {
        let d = get(store, C, id).await;
        ensure_eq!(
            C,
            (d.state, d.attempts, d.reason),
            (DeliveryState::Pending, 0, None),
            "skipped {id} must stay pending, untouched"
        );
    }
    let none = lease_with(store, C, request(10, &["ep_a", "ep_b", "ep_c"])).await;
    ensure_eq!(
        C,
        leased_ids(&none),
        Vec::<&str>::new(),
        "every endpoint with something due is skipped"
    );
    let unknown = lease_with(store, C, request(1, &["ep_zzz", "ep_a"])).await;
    ensure_eq!(
        C,
        leased_ids(&unknown),
        vec!["dlv_c1"],
        "skipping an unknown endpoint changes nothing"
    );
    let a = lease_with(store, C, request(10, &["ep_b"])).await;
    ensure_eq!(
        C,
        leased_ids(&a),
        vec!["dlv_a1", "dlv_a2"],
        "no longer skipped, ep_a's deliveries are leased in their due order"
    );
    for l in &a {
        let d = &l.delivery;
        ensure!(
            C,
            d.attempts == 0 && d.next_attempt_at <= now - secs(30),
            "{} was changed while skipped: {} attempts, due {:?}",
            d.id,
            d.attempts,
            d.next_attempt_at
        );
    }
    let rest = lease_with(store, C, request(10, &[])).await;
    ensure_eq!(
        C,
        leased_ids(&rest),
        vec!["dlv_b2"],
        "nothing skipped: the last one"
    );

    // A missing endpoint's deliveries can be skipped too.
    insert(store, C, "evt_ghost", &[("dlv_ghost2", "ep_ghost")], now).await;
    let skipped = lease_with(store, C, request(10, &["ep_ghost"])).await;
    ensure!(
        C,
        skipped.is_empty(),
        "a skipped missing endpoint's delivery was leased"
    );
    let taken = lease_with(store, C, request(10, &["ep_a"])).await;
    ensure_eq!(
        C,
        leased_ids(&taken),
        vec!["dlv_ghost2"],
        "not skipped, it is leased"
    );
}

/// `next_due(now)` answers when a delivery can next be leased: `None` with
/// nothing to lease; otherwise the earliest due time of a queued delivery or
/// expiry of a lease, never before `now`. Deliveries to a disabled endpoint
/// do not count, not even a leased one whose endpoint was disabled since;
/// deliveries to a missing endpoint do; finished ones do not; a retry counts
/// from its retry time.
pub async fn next_due_is_the_earliest_leasable_time(store: &dyn Store) {
    const C: &str = "next_due_is_the_earliest_leasable_time";
    let now = clock().now();
    assert_empty(store, C).await;
    ensure_eq!(C, next_due(store, C, now).await, None, "an empty store");
    start(store, C, &["ep_a"]).await;
    put_endpoint(store, C, disabled_endpoint("ep_off")).await;

    insert(
        store,
        C,
        "evt_off",
        &[("dlv_off", "ep_off")],
        now - secs(100),
    )
    .await;
    ensure_eq!(
        C,
        next_due(store, C, now).await,
        None,
        "a disabled endpoint's delivery does not count"
    );
    insert(
        store,
        C,
        "evt_later",
        &[("dlv_later", "ep_a")],
        now + secs(300),
    )
    .await;
    ensure_eq!(
        C,
        next_due(store, C, now).await,
        Some(now + secs(300)),
        "a delivery due later: its due time"
    );
    ensure_eq!(
        C,
        next_due(store, C, now + secs(400)).await,
        Some(now + secs(400)),
        "due already: now, never a time before it"
    );
    insert(
        store,
        C,
        "evt_ghost",
        &[("dlv_ghost", "ep_ghost")],
        now + secs(200),
    )
    .await;
    ensure_eq!(
        C,
        next_due(store, C, now).await,
        Some(now + secs(200)),
        "a missing endpoint's delivery counts"
    );
    insert(store, C, "evt_1", &[("dlv_1", "ep_a")], now - secs(50)).await;
    ensure_eq!(
        C,
        next_due(store, C, now).await,
        Some(now),
        "a delivery due in the past: now"
    );

    let leased = lease(store, C, now, 10, secs(30)).await;
    ensure_eq!(C, leased_ids(&leased), vec!["dlv_1"], "dlv_1 alone is due");
    ensure_eq!(
        C,
        next_due(store, C, now).await,
        Some(now + secs(30)),
        "a leased delivery counts from its lease's expiry"
    );
    finish(
        store,
        C,
        &leased[0].lease,
        ok_attempt(1, now),
        NextState::Succeeded,
    )
    .await;
    ensure_eq!(
        C,
        next_due(store, C, now).await,
        Some(now + secs(200)),
        "a succeeded delivery no longer counts"
    );

    let t = now + secs(200);
    let ghost = lease(store, C, t, 10, secs(60)).await;
    ensure_eq!(C, leased_ids(&ghost), vec!["dlv_ghost"], "dlv_ghost is due");
    ensure_eq!(
        C,
        next_due(store, C, t).await,
        Some(t + secs(60)),
        "the leased missing endpoint's delivery: its lease's expiry"
    );
    ok(
        C,
        "abandon",
        store
            .abandon(&ghost[0].lease, REASON_ENDPOINT_DELETED)
            .await,
    );
    ensure_eq!(
        C,
        next_due(store, C, t).await,
        Some(now + secs(300)),
        "an abandoned delivery no longer counts"
    );

    ensure!(C, set_enabled(store, C, "ep_off", true).await, "enable");
    ensure_eq!(
        C,
        next_due(store, C, t).await,
        Some(t),
        "enabled again, its delivery (due long ago) counts: now"
    );
    let off = lease(store, C, t, 10, secs(30)).await;
    ensure_eq!(C, leased_ids(&off), vec!["dlv_off"], "dlv_off is due");
    ensure!(C, set_enabled(store, C, "ep_off", false).await, "disable");
    ensure_eq!(
        C,
        next_due(store, C, t).await,
        Some(now + secs(300)),
        "a leased delivery whose endpoint was disabled since does not count"
    );

    let u = now + secs(300);
    let later = lease(store, C, u, 10, secs(60)).await;
    ensure_eq!(C, leased_ids(&later), vec!["dlv_later"], "dlv_later is due");
    let retry_at = u + secs(1000);
    finish(
        store,
        C,
        &later[0].lease,
        failed_attempt(1, u),
        NextState::RetryAt(retry_at),
    )
    .await;
    ensure_eq!(
        C,
        next_due(store, C, u).await,
        Some(retry_at),
        "a retried delivery counts from its retry time"
    );
    let again = lease(store, C, retry_at, 10, secs(60)).await;
    ensure_eq!(C, leased_ids(&again), vec!["dlv_later"], "due again");
    finish(
        store,
        C,
        &again[0].lease,
        failed_attempt(2, retry_at),
        NextState::Dead,
    )
    .await;
    ensure_eq!(
        C,
        next_due(store, C, retry_at).await,
        None,
        "nothing left to lease (dlv_off waits for its endpoint)"
    );
}
