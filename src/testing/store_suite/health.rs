//! What an operator reads: disabling with a record, endpoint health, attempt
//! numbers that keep growing across redeliveries, and paged listings of
//! deliveries and attempts in both orders.

use std::time::SystemTime;

use bytes::Bytes;
use futures_util::future::join_all;

use super::{
    endpoint, endpoint_id, failed_attempt, finish, get, insert, lease, lease_and_finish, lease_of,
    list, ok, ok_attempt, put, put_endpoint, secs, set_enabled, start, start_with_dlv_1,
};
use crate::clock::Clock;
use crate::store::{
    AttemptFilter, AttemptOutcome, AttemptRecord, AttemptResult, Cursor, Delivery, DeliveryCounts,
    DeliveryFilter, Disabling, EndpointHealth, ListedAttempt, NextState, Order, Store,
};
use crate::transport::TransportErrorKind;

async fn health(store: &dyn Store, check: &str, id: &str) -> EndpointHealth {
    match ok(
        check,
        "endpoint_health",
        store.endpoint_health(&endpoint_id(id)).await,
    ) {
        Some(h) => h,
        None => panic!("store conformance check `{check}` failed: no health for endpoint {id}"),
    }
}

async fn disable(store: &dyn Store, check: &str, id: &str, at: SystemTime, why: &str) -> bool {
    ok(
        check,
        "disable_endpoint",
        store.disable_endpoint(&endpoint_id(id), at, why).await,
    )
}

fn refused_attempt(n: u32, at: SystemTime) -> AttemptRecord {
    AttemptRecord::new(
        n,
        at,
        secs(0),
        AttemptResult::error(TransportErrorKind::Connect, "connection refused"),
    )
}

/// `disable_endpoint` disables an enabled endpoint and records when and why,
/// answering `true` once: of several concurrent calls exactly one, and later
/// calls `false` with the first record kept. A missing endpoint answers
/// `false`. Enabling clears the record (by `set_endpoint_enabled` or by
/// putting the endpoint enabled); `set_endpoint_enabled(false)` records
/// nothing.
pub async fn disable_endpoint_is_true_once(store: &dyn Store) {
    const C: &str = "disable_endpoint_is_true_once";
    let clock = super::clock();
    start(store, C, &["ep_a", "ep_b"]).await;
    let at = clock.now();
    let answers = join_all((0..4).map(|i| {
        let why = format!("endpoint answered 410 gone ({i})");
        async move { store.disable_endpoint(&endpoint_id("ep_a"), at, &why).await }
    }))
    .await;
    let answers: Vec<bool> = answers
        .into_iter()
        .map(|r| ok(C, "disable_endpoint", r))
        .collect();
    ensure_eq!(
        C,
        answers.iter().filter(|&&b| b).count(),
        1,
        "of four concurrent disable_endpoint calls exactly one must answer true, got {answers:?}"
    );
    let h = health(store, C, "ep_a").await;
    ensure!(C, !h.enabled, "a disabled endpoint's health says enabled");
    let first = answers.iter().position(|&b| b).unwrap_or(0);
    ensure_eq!(
        C,
        h.disabled,
        Some(Disabling::new(
            at,
            format!("endpoint answered 410 gone ({first})")
        )),
        "the disabling record must be the call that answered true"
    );
    let stored = ok(C, "endpoint", store.endpoint(&endpoint_id("ep_a")).await);
    ensure!(
        C,
        stored.is_some_and(|e| !e.enabled),
        "disable_endpoint must disable the endpoint"
    );

    clock.advance(secs(60));
    ensure!(
        C,
        !disable(store, C, "ep_a", clock.now(), "again").await,
        "disabling a disabled endpoint must answer false"
    );
    ensure_eq!(
        C,
        health(store, C, "ep_a").await.disabled.map(|d| d.at),
        Some(at),
        "disabling again must keep the first record"
    );
    ensure!(
        C,
        !disable(store, C, "ep_missing", clock.now(), "gone").await,
        "disabling a missing endpoint must answer false"
    );
    ensure!(
        C,
        ok(
            C,
            "endpoint_health",
            store.endpoint_health(&endpoint_id("ep_missing")).await
        )
        .is_none(),
        "a missing endpoint has no health"
    );

    ensure!(C, set_enabled(store, C, "ep_a", true).await, "enable ep_a");
    let h = health(store, C, "ep_a").await;
    ensure_eq!(
        C,
        (h.enabled, h.disabled),
        (true, None),
        "enabling must clear the disabling record"
    );
    ensure!(
        C,
        disable(
            store,
            C,
            "ep_a",
            clock.now(),
            "5 deliveries in a row ended dead"
        )
        .await,
        "an endpoint enabled again can be disabled again"
    );
    put_endpoint(store, C, endpoint("ep_a")).await;
    let h = health(store, C, "ep_a").await;
    ensure_eq!(
        C,
        (h.enabled, h.disabled),
        (true, None),
        "putting the endpoint enabled must clear the disabling record"
    );

    ensure!(
        C,
        set_enabled(store, C, "ep_b", false).await,
        "disable ep_b"
    );
    let h = health(store, C, "ep_b").await;
    ensure_eq!(
        C,
        (h.enabled, h.disabled),
        (false, None),
        "set_endpoint_enabled(false) records no disabling"
    );
    ensure!(
        C,
        !disable(store, C, "ep_b", clock.now(), "late").await,
        "disable_endpoint on an endpoint disabled by set_endpoint_enabled answers false"
    );
}

/// An endpoint's health: its deliveries counted by state, the attempt
/// recorded last (delivery, number, start, status or failure and reason),
/// when the last success was sent, the failures since, and nothing of
/// another endpoint's; every endpoint's in id order; an endpoint deleted and
/// put again starts with no attempts.
pub async fn endpoint_health_follows_attempts(store: &dyn Store) {
    const C: &str = "endpoint_health_follows_attempts";
    let clock = super::clock();
    start(store, C, &["ep_b", "ep_a"]).await;
    let h = health(store, C, "ep_a").await;
    ensure_eq!(
        C,
        h,
        EndpointHealth::new(endpoint_id("ep_a"), true),
        "a new endpoint's health"
    );
    let t0 = clock.now();
    insert(
        store,
        C,
        "evt_1",
        &[("dlv_1", "ep_a"), ("dlv_2", "ep_a"), ("dlv_3", "ep_b")],
        t0,
    )
    .await;
    insert(store, C, "evt_2", &[("dlv_4", "ep_a")], t0).await;

    // dlv_1: refused, then delivered. dlv_2: 503 then dead. dlv_3 (ep_b): delivered.
    let leased = lease(store, C, t0, 10, secs(60)).await;
    ensure_eq!(C, leased.len(), 4, "all four deliveries are due");
    finish(
        store,
        C,
        &lease_of(C, &leased, "dlv_1"),
        refused_attempt(1, t0),
        NextState::RetryAt(t0 + secs(10)),
    )
    .await;
    finish(
        store,
        C,
        &lease_of(C, &leased, "dlv_3"),
        ok_attempt(1, t0),
        NextState::Succeeded,
    )
    .await;
    finish(
        store,
        C,
        &lease_of(C, &leased, "dlv_2"),
        failed_attempt(1, t0 + secs(1)),
        NextState::Dead,
    )
    .await;
    ok(
        C,
        "release",
        store.release(&lease_of(C, &leased, "dlv_4")).await,
    );
    let h = health(store, C, "ep_a").await;
    ensure_eq!(
        C,
        h.deliveries,
        DeliveryCounts::new(2, 0, 1),
        "ep_a: dlv_1 and dlv_4 pending, dlv_2 dead"
    );
    ensure_eq!(
        C,
        h.consecutive_failures,
        2,
        "two failed attempts and no success"
    );
    ensure_eq!(C, h.last_success_at, None, "no success yet");
    let last = h.last_attempt.expect("ep_a has attempts");
    ensure_eq!(
        C,
        (
            last.delivery_id.as_str(),
            last.attempt,
            last.started_at,
            last.outcome
        ),
        ("dlv_2", 1, t0 + secs(1), AttemptOutcome::Status(503)),
        "ep_a's last attempt is dlv_2's 503"
    );
    let b = health(store, C, "ep_b").await;
    ensure_eq!(
        C,
        (b.deliveries, b.consecutive_failures, b.last_success_at),
        (DeliveryCounts::new(0, 1, 0), 0, Some(t0)),
        "ep_b: one success, counted apart from ep_a"
    );

    clock.advance(secs(10));
    let t1 = clock.now();
    let leased = lease(store, C, t1, 10, secs(60)).await;
    finish(
        store,
        C,
        &lease_of(C, &leased, "dlv_4"),
        refused_attempt(1, t1),
        NextState::RetryAt(t1 + secs(30)),
    )
    .await;
    let h = health(store, C, "ep_a").await;
    ensure_eq!(
        C,
        h.last_attempt
            .map(|a| (a.delivery_id.to_string(), a.outcome)),
        Some((
            "dlv_4".to_owned(),
            AttemptOutcome::Failed {
                kind: TransportErrorKind::Connect,
                reason: "connection refused".to_owned()
            }
        )),
        "a failed attempt keeps its kind and reason in the health"
    );
    ensure_eq!(C, h.consecutive_failures, 3, "three failures in a row");
    finish(
        store,
        C,
        &lease_of(C, &leased, "dlv_1"),
        ok_attempt(2, t1 + secs(2)),
        NextState::Succeeded,
    )
    .await;
    let h = health(store, C, "ep_a").await;
    ensure_eq!(
        C,
        (
            h.deliveries,
            h.consecutive_failures,
            h.last_success_at,
            h.last_attempt.map(|a| (a.attempt, a.outcome))
        ),
        (
            DeliveryCounts::new(1, 1, 1),
            0,
            Some(t1 + secs(2)),
            Some((2, AttemptOutcome::Status(200)))
        ),
        "a success resets the failures and is the last success"
    );
    ok(
        C,
        "redeliver",
        store.redeliver(&super::delivery_id("dlv_2"), t1).await,
    );
    ensure_eq!(
        C,
        health(store, C, "ep_a").await.deliveries,
        DeliveryCounts::new(2, 1, 0),
        "a redelivered delivery counts as pending"
    );

    let all = ok(C, "endpoints_health", store.endpoints_health().await);
    let ids: Vec<&str> = all.iter().map(|h| h.endpoint_id.as_str()).collect();
    ensure_eq!(C, ids, vec!["ep_a", "ep_b"], "every endpoint, in id order");
    ensure_eq!(
        C,
        all[0],
        health(store, C, "ep_a").await,
        "endpoints_health agrees with endpoint_health"
    );

    ensure!(
        C,
        ok(
            C,
            "delete_endpoint",
            store.delete_endpoint(&endpoint_id("ep_b")).await
        ),
        "delete ep_b"
    );
    ensure!(
        C,
        ok(
            C,
            "endpoint_health",
            store.endpoint_health(&endpoint_id("ep_b")).await
        )
        .is_none(),
        "a deleted endpoint has no health"
    );
    put(store, C, &["ep_b"]).await;
    let b = health(store, C, "ep_b").await;
    ensure_eq!(
        C,
        (b.last_attempt, b.last_success_at, b.consecutive_failures),
        (None, None, 0),
        "an endpoint put again after a delete starts with no attempts"
    );
    ensure_eq!(
        C,
        b.deliveries,
        DeliveryCounts::new(0, 1, 0),
        "the deliveries kept under its id are still counted"
    );
}

/// A delivery's attempts are numbered on across a redelivery: its
/// `attempts` restarts at 0 for the retry policy, its `attempts_total` does
/// not, and the records keep their numbers.
pub async fn attempt_totals_survive_redeliver(store: &dyn Store) {
    const C: &str = "attempt_totals_survive_redeliver";
    let clock = super::clock();
    start_with_dlv_1(store, C, clock.now()).await;
    for n in 1..=3 {
        let next = if n == 3 {
            NextState::Dead
        } else {
            NextState::RetryAt(clock.now())
        };
        let d = get(store, C, "dlv_1").await;
        ensure_eq!(
            C,
            (d.attempts, d.attempts_total),
            (n - 1, n - 1),
            "before attempt {n}"
        );
        lease_and_finish(
            store,
            C,
            clock.now(),
            "dlv_1",
            failed_attempt(d.attempts_total + 1, clock.now()),
            next,
        )
        .await;
        clock.advance(secs(1));
    }
    ensure!(
        C,
        ok(
            C,
            "redeliver",
            store
                .redeliver(&super::delivery_id("dlv_1"), clock.now())
                .await
        ),
        "redeliver dlv_1"
    );
    let d = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d.attempts, d.attempts_total),
        (0, 3),
        "a redelivery resets attempts, not attempts_total"
    );
    lease_and_finish(
        store,
        C,
        clock.now(),
        "dlv_1",
        ok_attempt(d.attempts_total + 1, clock.now()),
        NextState::Succeeded,
    )
    .await;
    let d = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d.attempts, d.attempts_total),
        (1, 4),
        "after the attempt that followed the redelivery"
    );
    let numbers: Vec<u32> = super::attempts(store, C, "dlv_1")
        .await
        .iter()
        .map(|a| a.attempt)
        .collect();
    ensure_eq!(
        C,
        numbers,
        vec![1, 2, 3, 4],
        "attempt numbers keep growing across a redelivery"
    );
}

/// Pages through `filter` with pages of `size`, each continued after the
/// previous page's last cursor.
async fn page_deliveries(
    store: &dyn Store,
    check: &str,
    filter: DeliveryFilter,
    size: usize,
) -> Vec<Delivery> {
    let mut out: Vec<Delivery> = Vec::new();
    let mut filter = DeliveryFilter {
        limit: size,
        ..filter
    };
    loop {
        let page = list(store, check, &filter).await;
        ensure!(
            check,
            page.len() <= size,
            "a page of {size} returned {} deliveries",
            page.len()
        );
        let Some(last) = page.last() else {
            return out;
        };
        filter = filter.after(last.cursor);
        out.extend(page);
        ensure!(check, out.len() <= 100, "paging never ends");
    }
}

async fn page_attempts(
    store: &dyn Store,
    check: &str,
    filter: AttemptFilter,
    size: usize,
) -> Vec<ListedAttempt> {
    let mut out: Vec<ListedAttempt> = Vec::new();
    let mut filter = AttemptFilter {
        limit: size,
        ..filter
    };
    loop {
        let page = ok(check, "list_attempts", store.list_attempts(&filter).await);
        ensure!(
            check,
            page.len() <= size,
            "a page of {size} returned {} attempts",
            page.len()
        );
        let Some(last) = page.last() else {
            return out;
        };
        filter = filter.after(last.cursor);
        out.extend(page);
        ensure!(check, out.len() <= 100, "paging never ends");
    }
}

fn delivery_ids(ds: &[Delivery]) -> Vec<String> {
    ds.iter().map(|d| d.id.to_string()).collect()
}

/// Deliveries list in creation order, oldest or newest first; each carries
/// a cursor, and paging with `after` covers every delivery exactly once, in
/// both orders, with or without a filter; a delivery created while paging
/// (oldest first) comes at the end.
pub async fn deliveries_page_by_cursor(store: &dyn Store) {
    const C: &str = "deliveries_page_by_cursor";
    let clock = super::clock();
    start(store, C, &["ep_a", "ep_b"]).await;
    let now = clock.now();
    insert(
        store,
        C,
        "evt_1",
        &[("dlv_1", "ep_a"), ("dlv_2", "ep_b")],
        now,
    )
    .await;
    insert(store, C, "evt_2", &[("dlv_3", "ep_a")], now).await;
    insert(
        store,
        C,
        "evt_3",
        &[("dlv_4", "ep_b"), ("dlv_5", "ep_a"), ("dlv_6", "ep_a")],
        now,
    )
    .await;
    insert(store, C, "evt_4", &[("dlv_7", "ep_b")], now).await;
    let created: Vec<String> = (1..=7).map(|i| format!("dlv_{i}")).collect();

    let all = list(store, C, &DeliveryFilter::all(100)).await;
    ensure_eq!(
        C,
        delivery_ids(&all),
        created,
        "oldest first is creation order"
    );
    let cursors: Vec<Cursor> = all.iter().map(|d| d.cursor).collect();
    ensure!(
        C,
        cursors.windows(2).all(|w| w[0] < w[1]),
        "cursors grow in creation order: {cursors:?}"
    );
    let newest = list(
        store,
        C,
        &DeliveryFilter::all(100).order(Order::NewestFirst),
    )
    .await;
    let mut reversed = created.clone();
    reversed.reverse();
    ensure_eq!(
        C,
        delivery_ids(&newest),
        reversed,
        "newest first is the reverse of creation order"
    );
    ensure_eq!(
        C,
        delivery_ids(&list(store, C, &DeliveryFilter::all(2).order(Order::NewestFirst)).await),
        vec!["dlv_7", "dlv_6"],
        "the limit takes the newest when newest first"
    );

    for size in [1, 2, 3, 7, 8] {
        let paged = page_deliveries(store, C, DeliveryFilter::all(0), size).await;
        ensure_eq!(
            C,
            delivery_ids(&paged),
            created,
            "pages of {size}, oldest first, cover every delivery once"
        );
        let paged = page_deliveries(
            store,
            C,
            DeliveryFilter::all(0).order(Order::NewestFirst),
            size,
        )
        .await;
        ensure_eq!(
            C,
            delivery_ids(&paged),
            reversed,
            "pages of {size}, newest first, cover every delivery once"
        );
    }
    let paged = page_deliveries(
        store,
        C,
        DeliveryFilter::all(0)
            .endpoint(endpoint_id("ep_a"))
            .order(Order::NewestFirst),
        2,
    )
    .await;
    ensure_eq!(
        C,
        delivery_ids(&paged),
        vec!["dlv_6", "dlv_5", "dlv_3", "dlv_1"],
        "pages of one endpoint's deliveries, newest first"
    );
    let past = list(store, C, &DeliveryFilter::all(100).after(all[2].cursor)).await;
    ensure_eq!(
        C,
        delivery_ids(&past),
        created[3..].to_vec(),
        "after a cursor, oldest first, come the deliveries created after it"
    );
    let before = list(
        store,
        C,
        &DeliveryFilter::all(100)
            .after(all[2].cursor)
            .order(Order::NewestFirst),
    )
    .await;
    ensure_eq!(
        C,
        delivery_ids(&before),
        vec!["dlv_2", "dlv_1"],
        "after a cursor, newest first, come the deliveries created before it"
    );

    // A delivery created between two pages comes last.
    let first = list(store, C, &DeliveryFilter::all(4)).await;
    insert(store, C, "evt_5", &[("dlv_8", "ep_a")], now).await;
    let rest = page_deliveries(store, C, DeliveryFilter::all(0).after(first[3].cursor), 2).await;
    let mut seen = delivery_ids(&first);
    seen.extend(delivery_ids(&rest));
    let mut want = created.clone();
    want.push("dlv_8".to_owned());
    ensure_eq!(
        C,
        seen,
        want,
        "a delivery created while paging is listed once, at the end"
    );
}

/// Attempts list across deliveries in the order they were recorded, oldest
/// or newest first, by delivery or by endpoint; paging with `after` covers
/// each exactly once in both orders.
pub async fn attempts_page_by_cursor(store: &dyn Store) {
    const C: &str = "attempts_page_by_cursor";
    let clock = super::clock();
    start(store, C, &["ep_a", "ep_b"]).await;
    insert(
        store,
        C,
        "evt_1",
        &[("dlv_1", "ep_a"), ("dlv_2", "ep_b"), ("dlv_3", "ep_a")],
        clock.now(),
    )
    .await;
    // Recorded order: dlv_3#1, dlv_1#1, dlv_2#1, dlv_3#2, dlv_1#2, dlv_3#3.
    let order = [
        ("dlv_3", 1),
        ("dlv_1", 1),
        ("dlv_2", 1),
        ("dlv_3", 2),
        ("dlv_1", 2),
        ("dlv_3", 3),
    ];
    for round in 0..3u32 {
        let now = clock.now();
        let leased = lease(store, C, now, 10, secs(60)).await;
        for &(id, n) in order.iter().filter(|(_, n)| *n == round + 1) {
            let body = Bytes::from(format!("{id}#{n}"));
            let record = AttemptRecord::new(
                n,
                now,
                secs(0),
                AttemptResult::Response { status: 500, body },
            );
            finish(
                store,
                C,
                &lease_of(C, &leased, id),
                record,
                NextState::RetryAt(now + secs(1)),
            )
            .await;
        }
        for l in &leased {
            // Those not attempted this round go back.
            let _ = store.release(&l.lease).await;
        }
        clock.advance(secs(1));
    }
    let label = |a: &ListedAttempt| match &a.record.result {
        AttemptResult::Response { body, .. } => String::from_utf8_lossy(body).into_owned(),
        AttemptResult::Error { reason, .. } => reason.clone(),
    };
    let labels = |xs: &[ListedAttempt]| xs.iter().map(label).collect::<Vec<_>>();
    let want: Vec<String> = order.iter().map(|(id, n)| format!("{id}#{n}")).collect();
    let mut reversed = want.clone();
    reversed.reverse();

    let all = ok(
        C,
        "list_attempts",
        store.list_attempts(&AttemptFilter::all(100)).await,
    );
    ensure_eq!(
        C,
        labels(&all),
        want,
        "every attempt, in the order recorded"
    );
    ensure!(
        C,
        all.iter().all(|a| {
            let ep = if a.delivery_id.as_str() == "dlv_2" {
                "ep_b"
            } else {
                "ep_a"
            };
            a.endpoint_id.as_str() == ep && label(a).starts_with(a.delivery_id.as_str())
        }),
        "each listed attempt names its delivery and endpoint"
    );
    for size in [1, 2, 4, 6] {
        let paged = page_attempts(store, C, AttemptFilter::all(0), size).await;
        ensure_eq!(
            C,
            labels(&paged),
            want,
            "pages of {size}, oldest first, cover every attempt once"
        );
        let paged = page_attempts(
            store,
            C,
            AttemptFilter::all(0).order(Order::NewestFirst),
            size,
        )
        .await;
        ensure_eq!(
            C,
            labels(&paged),
            reversed,
            "pages of {size}, newest first, cover every attempt once"
        );
    }
    let ep_a = page_attempts(
        store,
        C,
        AttemptFilter::all(0)
            .endpoint(endpoint_id("ep_a"))
            .order(Order::NewestFirst),
        2,
    )
    .await;
    ensure_eq!(
        C,
        labels(&ep_a),
        vec!["dlv_3#3", "dlv_1#2", "dlv_3#2", "dlv_1#1", "dlv_3#1"],
        "one endpoint's attempts, newest first"
    );
    let dlv_3 = page_attempts(
        store,
        C,
        AttemptFilter::all(0).delivery(super::delivery_id("dlv_3")),
        2,
    )
    .await;
    ensure_eq!(
        C,
        labels(&dlv_3),
        vec!["dlv_3#1", "dlv_3#2", "dlv_3#3"],
        "one delivery's attempts, oldest first"
    );
    let none = ok(
        C,
        "list_attempts",
        store
            .list_attempts(&AttemptFilter::all(10).delivery(super::delivery_id("dlv_missing")))
            .await,
    );
    ensure!(C, none.is_empty(), "an unknown delivery has no attempts");
}
