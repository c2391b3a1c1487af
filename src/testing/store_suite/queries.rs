//! Reading back: a delivery's snapshot (its event's fields, its payload
//! shared) and the filtered list of deliveries.

use super::{
    attempts, clock, delivery_id, endpoint_id, event_id, failed_attempt, find, finish, get, ids,
    insert, lease, list, ok, payload_of, secs, start, try_insert,
};
use crate::clock::Clock;
use crate::store::{DeliveryFilter, DeliveryState, NewDelivery, NewEvent, NextState, Store};

/// A delivery snapshot carries its event's id, kind, payload and creation time;
/// the deliveries of one event (and their leases) return the same payload
/// bytes; a per-delivery URL is kept.
pub async fn deliveries_share_the_event_payload(store: &dyn Store) {
    const C: &str = "deliveries_share_the_event_payload";
    let clock = clock();
    let created = clock.now();
    clock.advance(secs(10));
    let due = clock.now();
    start(store, C, &["ep_a", "ep_b"]).await;
    let payload = payload_of("evt_1");
    let event = NewEvent::new(event_id("evt_1"), "endExperience", payload.clone(), created);
    let deliveries = vec![
        NewDelivery::new(delivery_id("dlv_1"), endpoint_id("ep_a"), due),
        NewDelivery::new(delivery_id("dlv_2"), endpoint_id("ep_b"), due)
            .with_url("http://127.0.0.1:9/accounts/42"),
    ];
    let inserted = try_insert(store, C, event, deliveries).await;
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
        attempts(store, C, "dlv_1").await.is_empty(),
        "a new delivery has no attempt records"
    );
    ensure!(
        C,
        find(store, C, "dlv_missing").await.is_none(),
        "delivery() of an unknown id must be None"
    );
    ensure!(
        C,
        attempts(store, C, "dlv_missing").await.is_empty(),
        "attempts() of an unknown id must be empty"
    );
}

/// `deliveries()` filters by state, endpoint and event (combined with AND),
/// lists oldest first and stops at `limit`.
pub async fn deliveries_are_filtered(store: &dyn Store) {
    const C: &str = "deliveries_are_filtered";
    let clock = clock();
    start(store, C, &["ep_a", "ep_b"]).await;
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
        finish(store, C, &l.lease, failed_attempt(1, clock.now()), next).await;
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
        let got = list(store, C, &filter).await;
        ensure_eq!(C, ids(&got), expected, "filter {name:?}");
    }
}

/// `due_stats` counts the deliveries leasable now (not those due later, held
/// by a lease, finished, or to a disabled endpoint) and says since when the
/// oldest waits.
pub async fn due_stats_count_what_is_due(store: &dyn Store) {
    const C: &str = "due_stats_count_what_is_due";
    let clock = clock();
    let t0 = clock.now();
    start(store, C, &["ep_a", "ep_b", "ep_off"]).await;
    let stats = ok(C, "due_stats", store.due_stats(t0).await);
    ensure!(
        C,
        stats.is_some_and(|s| s.due == 0 && s.oldest.is_none()),
        "an empty store has nothing due (and due_stats must be measured, not None): {stats:?}"
    );
    insert(
        store,
        C,
        "evt_1",
        &[("dlv_1", "ep_a"), ("dlv_2", "ep_b")],
        t0,
    )
    .await;
    insert(store, C, "evt_2", &[("dlv_3", "ep_off")], t0).await;
    clock.advance(secs(5));
    insert(store, C, "evt_3", &[("dlv_4", "ep_a")], clock.now()).await;
    insert(
        store,
        C,
        "evt_4",
        &[("dlv_5", "ep_a")],
        clock.now() + secs(60),
    )
    .await;
    ok(
        C,
        "set_endpoint_enabled",
        store
            .set_endpoint_enabled(&endpoint_id("ep_off"), false)
            .await,
    );
    let now = clock.now();
    let stats = ok(C, "due_stats", store.due_stats(now).await)
        .unwrap_or(crate::store::DueStats::new(u64::MAX, None));
    ensure_eq!(C, stats.due, 3, "dlv_1, dlv_2 and dlv_4 are due");
    ensure_eq!(C, stats.oldest, Some(t0), "the oldest waits since t0");
    ensure_eq!(C, stats.lag(now), secs(5), "the lag");
    // Leased, they are no longer due; succeeded, neither.
    let leased = lease(store, C, now, 2, secs(30)).await;
    ensure_eq!(C, leased.len(), 2, "two leased");
    let stats = ok(C, "due_stats", store.due_stats(now).await)
        .unwrap_or(crate::store::DueStats::new(u64::MAX, None));
    ensure_eq!(C, stats.due, 1, "one left due");
}
