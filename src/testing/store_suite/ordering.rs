//! Ordered endpoints: the flag kept, one delivery at a time in publish
//! order, a failing head holding the rest, and what ends a head's turn (a
//! success, a dead end, an abandon), what does not (a retry, a release, a
//! defer, an expired lease), and where a redelivery goes.

use std::collections::HashSet;

use super::{
    assert_empty, clock, endpoint_id, failed_attempt, finish, get, insert, lease, lease_of,
    leased_ids, next_due, ok, ok_attempt, put, put_endpoint, secs,
};
use crate::clock::Clock;
use crate::endpoint::Endpoint;
use crate::store::{DeliveryState, NextState, Store, REASON_ENDPOINT_DELETED};
use crate::testing::join_all;

fn ordered_endpoint(id: &str) -> Endpoint {
    Endpoint::builder(id, format!("http://127.0.0.1:9/{id}"))
        .ordered(true)
        .build()
        .expect("valid endpoint")
}

/// Puts the ordered endpoint `ep_o` and the unordered `ep_u`, then inserts
/// one event per delivery, `dlv_1` to `dlv_{n}` to `ep_o` in that order,
/// each due `due_before(k)` seconds before `now` (publish order and due
/// order may differ).
async fn start_ordered(
    store: &dyn Store,
    check: &str,
    now: std::time::SystemTime,
    n: u64,
    due_before: impl Fn(u64) -> u64,
) {
    assert_empty(store, check).await;
    put_endpoint(store, check, ordered_endpoint("ep_o")).await;
    put(store, check, &["ep_u"]).await;
    for k in 1..=n {
        let (event, delivery) = (format!("evt_{k}"), format!("dlv_{k}"));
        insert(
            store,
            check,
            &event,
            &[(&delivery, "ep_o")],
            now - secs(due_before(k)),
        )
        .await;
    }
}

/// The `ordered` flag reads back as put, through `endpoint` and
/// `endpoints`, and a replacement changes it.
pub async fn ordered_flag_round_trips(store: &dyn Store) {
    const C: &str = "ordered_flag_round_trips";
    assert_empty(store, C).await;
    let id = endpoint_id("ep_o");
    for ordered in [true, false, true] {
        let endpoint = Endpoint::builder("ep_o", "http://127.0.0.1:9/ep_o")
            .ordered(ordered)
            .build()
            .expect("valid endpoint");
        put_endpoint(store, C, endpoint).await;
        let got = ok(C, "endpoint", store.endpoint(&id).await).map(|e| e.ordered);
        ensure_eq!(
            C,
            got,
            Some(ordered),
            "endpoint() must return ordered as put"
        );
        let listed = ok(C, "endpoints", store.endpoints().await);
        let listed = listed.iter().find(|e| e.id == id).map(|e| e.ordered);
        ensure_eq!(
            C,
            listed,
            Some(ordered),
            "endpoints() must return ordered as put"
        );
    }
}

/// An ordered endpoint's deliveries are leased one at a time, in publish
/// order (not due order), while an unordered endpoint's go together; the
/// held ones are neither leased nor reported due (`next_due`, `due_stats`).
/// A retry keeps the head's turn (the next waits for its retry); a success
/// and a dead end pass the turn on.
pub async fn ordered_endpoint_leases_its_head_only(store: &dyn Store) {
    const C: &str = "ordered_endpoint_leases_its_head_only";
    let clock = clock();
    let now = clock.now();
    // dlv_3 is due first, dlv_1 last: publish order still rules.
    start_ordered(store, C, now, 3, |k| k * 10).await;
    insert(
        store,
        C,
        "evt_u",
        &[("dlv_u1", "ep_u"), ("dlv_u2", "ep_u")],
        now,
    )
    .await;
    let stats = ok(C, "due_stats", store.due_stats(now).await);
    ensure!(
        C,
        stats.is_some_and(|s| s.due == 3),
        "due_stats must count the ordered endpoint's head only (1) and ep_u's 2: {stats:?}"
    );

    let leased = lease(store, C, now, 10, secs(60)).await;
    let mut got = leased_ids(&leased);
    got.sort_unstable();
    ensure_eq!(
        C,
        got,
        vec!["dlv_1", "dlv_u1", "dlv_u2"],
        "one lease takes ep_o's first published delivery only, and all of ep_u's"
    );
    for id in ["dlv_u1", "dlv_u2"] {
        let l = lease_of(C, &leased, id);
        finish(store, C, &l, ok_attempt(1, now), NextState::Succeeded).await;
    }
    let again = lease(store, C, now, 10, secs(60)).await;
    ensure!(
        C,
        again.is_empty(),
        "nothing of ep_o while its head is leased, got {:?}",
        leased_ids(&again)
    );
    let next = next_due(store, C, now).await;
    ensure_eq!(
        C,
        next,
        Some(now + secs(60)),
        "with its head leased, ep_o has nothing due before that lease expires"
    );

    // A retry keeps the turn: dlv_2 waits for dlv_1's next attempt.
    let head = lease_of(C, &leased, "dlv_1");
    let retry_at = now + secs(30);
    finish(
        store,
        C,
        &head,
        failed_attempt(1, now),
        NextState::RetryAt(retry_at),
    )
    .await;
    let held = lease(store, C, now, 10, secs(60)).await;
    ensure!(
        C,
        held.is_empty(),
        "a failing head holds the deliveries behind it, got {:?}",
        leased_ids(&held)
    );
    ensure_eq!(
        C,
        next_due(store, C, now).await,
        Some(retry_at),
        "next_due must be the head's retry, not a held delivery's due time"
    );
    let stats = ok(C, "due_stats", store.due_stats(now).await);
    ensure!(
        C,
        stats.is_some_and(|s| s.due == 0),
        "held deliveries are not due: {stats:?}"
    );
    clock.advance(secs(30));
    let t = clock.now();
    let leased = lease(store, C, t, 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&leased),
        vec!["dlv_1"],
        "the head again, at its retry"
    );
    finish(
        store,
        C,
        &lease_of(C, &leased, "dlv_1"),
        ok_attempt(2, t),
        NextState::Succeeded,
    )
    .await;

    // A success passes the turn on, and so does a dead end.
    let leased = lease(store, C, t, 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&leased),
        vec!["dlv_2"],
        "after its head succeeded, the next in publish order"
    );
    finish(
        store,
        C,
        &lease_of(C, &leased, "dlv_2"),
        failed_attempt(1, t),
        NextState::Dead,
    )
    .await;
    let leased = lease(store, C, t, 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&leased),
        vec!["dlv_3"],
        "after its head ended dead, the next in publish order"
    );
}

/// What a head's turn survives: an expired lease (the same head is leased
/// again, not the next), a release, a defer (the rest wait until then);
/// what ends it: an abandon. Disabling holds everything; enabling resumes in
/// order; deleting the endpoint ends the queued deliveries and leaves none
/// waiting.
pub async fn ordered_head_keeps_its_turn_through_handbacks(store: &dyn Store) {
    const C: &str = "ordered_head_keeps_its_turn_through_handbacks";
    let clock = clock();
    let now = clock.now();
    start_ordered(store, C, now, 4, |_| 0).await;

    let first = lease(store, C, now, 10, secs(60)).await;
    ensure_eq!(C, leased_ids(&first), vec!["dlv_1"], "the head first");
    clock.advance(secs(60));
    let t = clock.now();
    let again = lease(store, C, t, 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&again),
        vec!["dlv_1"],
        "an expired head is leased again; the next does not overtake it"
    );
    ok(
        C,
        "release",
        store.release(&lease_of(C, &again, "dlv_1")).await,
    );
    let released = lease(store, C, t, 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&released),
        vec!["dlv_1"],
        "a released head is due again at once, still first"
    );
    let until = t + secs(20);
    ok(
        C,
        "defer",
        store
            .defer(
                &lease_of(C, &released, "dlv_1"),
                until,
                "endpoint unreadable",
            )
            .await,
    );
    let deferred = lease(store, C, t, 10, secs(60)).await;
    ensure!(
        C,
        deferred.is_empty(),
        "a deferred head holds the rest until then, got {:?}",
        leased_ids(&deferred)
    );
    ensure_eq!(
        C,
        next_due(store, C, t).await,
        Some(until),
        "next_due is the deferred head's time"
    );
    clock.advance(secs(20));
    let t = clock.now();
    let leased = lease(store, C, t, 10, secs(60)).await;
    ensure_eq!(C, leased_ids(&leased), vec!["dlv_1"], "the deferred head");
    ok(
        C,
        "abandon",
        store
            .abandon(&lease_of(C, &leased, "dlv_1"), "given up")
            .await,
    );
    let leased = lease(store, C, t, 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&leased),
        vec!["dlv_2"],
        "an abandoned head ends its turn"
    );
    finish(
        store,
        C,
        &lease_of(C, &leased, "dlv_2"),
        ok_attempt(1, t),
        NextState::Succeeded,
    )
    .await;

    // Disabled: nothing; enabled again: in order.
    ok(
        C,
        "set_endpoint_enabled",
        store
            .set_endpoint_enabled(&endpoint_id("ep_o"), false)
            .await,
    );
    ensure!(
        C,
        lease(store, C, t, 10, secs(60)).await.is_empty(),
        "a disabled ordered endpoint's deliveries stay queued"
    );
    ok(
        C,
        "set_endpoint_enabled",
        store.set_endpoint_enabled(&endpoint_id("ep_o"), true).await,
    );
    let leased = lease(store, C, t, 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&leased),
        vec!["dlv_3"],
        "enabled again, the next in publish order"
    );

    // Deleted with its head leased: the queued one ends dead at once, the
    // leased one is leased again once its lease expires (to be ended).
    ok(
        C,
        "delete_endpoint",
        store.delete_endpoint(&endpoint_id("ep_o")).await,
    );
    let d4 = get(store, C, "dlv_4").await;
    ensure_eq!(
        C,
        (d4.state, d4.reason.as_deref()),
        (DeliveryState::Dead, Some(REASON_ENDPOINT_DELETED)),
        "a queued delivery of a deleted ordered endpoint ends dead"
    );
    clock.advance(secs(60));
    let leased = lease(store, C, clock.now(), 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&leased),
        vec!["dlv_3"],
        "the deleted endpoint's leased delivery comes back when its lease expires"
    );
}

/// A redelivered delivery of an ordered endpoint takes its place by publish
/// order: it goes before the deliveries published after it, yet never while
/// one of them is in flight: not before that one is finished or its lease
/// expired.
pub async fn ordered_redelivery_takes_its_place(store: &dyn Store) {
    const C: &str = "ordered_redelivery_takes_its_place";
    let clock = clock();
    let now = clock.now();
    start_ordered(store, C, now, 3, |_| 0).await;
    let leased = lease(store, C, now, 10, secs(60)).await;
    finish(
        store,
        C,
        &lease_of(C, &leased, "dlv_1"),
        failed_attempt(1, now),
        NextState::Dead,
    )
    .await;
    let in_flight = lease(store, C, now, 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&in_flight),
        vec!["dlv_2"],
        "dlv_2 after dlv_1"
    );

    let redelivered = ok(
        C,
        "redeliver",
        store
            .redeliver(&crate::id::DeliveryId::new("dlv_1").expect("id"), now)
            .await,
    );
    ensure!(C, redelivered, "redeliver of a dead delivery must succeed");
    let meanwhile = lease(store, C, now, 10, secs(60)).await;
    ensure!(
        C,
        meanwhile.is_empty(),
        "a redelivered delivery must not go while a later one is in flight, got {:?}",
        leased_ids(&meanwhile)
    );
    finish(
        store,
        C,
        &lease_of(C, &in_flight, "dlv_2"),
        ok_attempt(1, now),
        NextState::Succeeded,
    )
    .await;
    // By the in-flight lease's expiry at the latest, it goes: before dlv_3.
    clock.advance(secs(60));
    let leased = lease(store, C, clock.now(), 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&leased),
        vec!["dlv_1"],
        "the redelivered delivery goes before those published after it"
    );
}

/// Many leasers at once take one delivery of an ordered endpoint between
/// them, and it is the first published.
pub async fn concurrent_leasers_take_one_ordered_head(store: &dyn Store) {
    const C: &str = "concurrent_leasers_take_one_ordered_head";
    let now = clock().now();
    start_ordered(store, C, now, 6, |_| 0).await;
    let calls = (0..4).map(|_| store.lease_due(now, 3, secs(60)));
    let mut taken = Vec::new();
    for result in join_all(calls).await {
        taken.extend(
            ok(C, "lease_due", result)
                .into_iter()
                .map(|l| l.delivery.id.to_string()),
        );
    }
    let distinct: HashSet<&String> = taken.iter().collect();
    ensure_eq!(
        C,
        (taken.len(), distinct.len()),
        (1, 1),
        "concurrent leases of an ordered endpoint must take one delivery in all: {taken:?}"
    );
    ensure_eq!(C, taken[0], "dlv_1", "and it is the first published");
}
