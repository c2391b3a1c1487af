//! Endpoints: stored, listed, read in batches, replaced, enabled and
//! disabled, deleted, and what a disabled, deleted or unknown endpoint means
//! for its deliveries.

use super::{
    assert_empty, attempts, clock, disabled_endpoint, endpoint, endpoint_id, failed_attempt,
    finish, get, insert, lease, lease_and_finish, lease_of, lease_one, leased_ids, ok, put,
    put_endpoint, secs, set_enabled, start,
};
use crate::clock::Clock;
use crate::endpoint::{Endpoint, EndpointUrl, Gone};
use crate::id::EndpointId;
use crate::store::{DeliveryState, NextState, Store, REASON_ENDPOINT_DELETED};

/// What the checks compare of an endpoint read back: its id, URL,
/// description, enabled flag and flow settings.
fn shape(e: &Endpoint) -> (String, String, String, bool, Option<u32>, Gone) {
    (
        e.id.to_string(),
        e.url.full(),
        e.description.clone(),
        e.enabled,
        e.max_in_flight,
        e.gone,
    )
}

/// Endpoints: absent before being put, listed in id order, replaced by a put
/// with the same id, enabled and disabled (`false` for an unknown id); every
/// field comes back, the flow settings (`max_in_flight`, `gone`) included,
/// at their extremes and when a replacement changes or clears them.
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
    ensure_eq!(
        C,
        (got.max_in_flight, got.gone),
        (None, Gone::DisablesEndpoint),
        "an endpoint built with the defaults must read back with them"
    );

    // The flow settings, set, changed and cleared by replacing ep_b.
    let b = endpoint_id("ep_b");
    let settings = [
        (Some(u32::MAX), Gone::MeansDelivered),
        (Some(1), Gone::EndsDelivery),
        (None, Gone::DisablesEndpoint),
        (Some(7), Gone::MeansDelivered),
    ];
    for (max_in_flight, gone) in settings {
        let mut builder = Endpoint::builder("ep_b", "http://127.0.0.1:9/ep_b").gone(gone);
        if let Some(max) = max_in_flight {
            builder = builder.max_in_flight(max);
        }
        put_endpoint(store, C, builder.build().expect("valid endpoint")).await;
        let got = ok(C, "endpoint", store.endpoint(&b).await).map(|e| (e.max_in_flight, e.gone));
        ensure_eq!(
            C,
            got,
            Some((max_in_flight, gone)),
            "endpoint() must return max_in_flight and gone as put"
        );
        let listed = ok(C, "endpoints", store.endpoints().await);
        let listed = listed
            .iter()
            .find(|e| e.id == b)
            .map(|e| (e.max_in_flight, e.gone));
        ensure_eq!(
            C,
            listed,
            Some((max_in_flight, gone)),
            "endpoints() must return max_in_flight and gone as put"
        );
    }

    let replacement = Endpoint::builder("ep_a", "http://127.0.0.1:9/replaced")
        .description("replaced")
        .build()
        .expect("valid endpoint");
    put_endpoint(store, C, replacement).await;
    let got = ok(C, "endpoint", store.endpoint(&a).await).map(|e| (e.description, e.url.full()));
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
        set_enabled(store, C, "ep_a", false).await,
        "set_endpoint_enabled on a known endpoint returned false"
    );
    let enabled = ok(C, "endpoint", store.endpoint(&a).await).map(|e| e.enabled);
    ensure_eq!(C, enabled, Some(false), "the endpoint should be disabled");
    ensure!(
        C,
        set_enabled(store, C, "ep_a", true).await,
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
        !set_enabled(store, C, "ep_missing", true).await,
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

/// `subscribers(kind)` lists the enabled endpoints whose filter matches
/// `kind`, in id order, and follows enabling, disabling and replacement.
pub async fn subscribers_follow_subscriptions(store: &dyn Store) {
    const C: &str = "subscribers_follow_subscriptions";
    assert_empty(store, C).await;
    let only_start = Endpoint::builder("ep_b", "http://127.0.0.1:9/ep_b")
        .events(["startExperience"])
        .build()
        .expect("valid endpoint");
    let off = disabled_endpoint("ep_c");
    for e in [endpoint("ep_d"), only_start, off, endpoint("ep_a")] {
        put_endpoint(store, C, e).await;
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
    set_enabled(store, C, "ep_a", false).await;
    set_enabled(store, C, "ep_c", true).await;
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

/// Deliveries to a disabled endpoint stay pending and are not leased (even
/// when their lease expires while disabled); they are leased again once the
/// endpoint is enabled, whether by `set_endpoint_enabled` or by `put_endpoint`.
pub async fn disabled_endpoints_are_not_leased(store: &dyn Store) {
    const C: &str = "disabled_endpoints_are_not_leased";
    let clock = clock();
    let now = clock.now();
    start(store, C, &["ep_on", "ep_x"]).await;
    let off = disabled_endpoint("ep_off");
    put_endpoint(store, C, off).await;
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
    ensure!(C, set_enabled(store, C, "ep_on", false).await, "disable");
    ensure!(
        C,
        lease(store, C, now, 10, secs(600)).await.is_empty(),
        "nothing may be leased while both endpoints are disabled"
    );
    ensure!(C, set_enabled(store, C, "ep_off", true).await, "enable");
    let leased = lease(store, C, now, 10, secs(600)).await;
    ensure_eq!(
        C,
        leased_ids(&leased),
        vec!["dlv_off"],
        "re-enabled: its delivery is leased"
    );
    // Re-enabled by replacing the endpoint.
    put_endpoint(store, C, endpoint("ep_on")).await;
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
    let disabled = disabled_endpoint("ep_x");
    put_endpoint(store, C, disabled).await;
    clock.advance(secs(30));
    ensure!(
        C,
        lease(store, C, clock.now(), 10, secs(30)).await.is_empty(),
        "an expired lease on a disabled endpoint's delivery must not be taken over"
    );
    ensure!(C, set_enabled(store, C, "ep_x", true).await, "enable");
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

/// Deliveries to an endpoint that does not exist are leased, so that the
/// dispatcher can end them dead (`endpoint deleted`) instead of leaving them
/// pending forever (one that is attempted and ends dead counts 0 dead in a
/// row: there is no endpoint to count for); deliveries to a disabled endpoint
/// are not.
pub async fn deliveries_to_missing_endpoints_are_leased(store: &dyn Store) {
    const C: &str = "deliveries_to_missing_endpoints_are_leased";
    assert_empty(store, C).await;
    let now = clock().now();
    insert(store, C, "evt_1", &[("dlv_ghost", "ep_ghost")], now).await;
    ensure_eq!(
        C,
        get(store, C, "dlv_ghost").await.state,
        DeliveryState::Pending,
        "stored, pending"
    );
    let leased = lease(store, C, now, 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&leased),
        vec!["dlv_ghost"],
        "a delivery to a missing endpoint must be leased (to be ended)"
    );
    let report = finish(
        store,
        C,
        &leased[0].lease,
        failed_attempt(1, now),
        NextState::RetryAt(now),
    )
    .await;
    ensure_eq!(C, report.dead_in_a_row, 0, "a retry to a missing endpoint");
    insert(store, C, "evt_2", &[("dlv_ghost2", "ep_ghost")], now).await;
    let both = lease(store, C, now, 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&both),
        vec!["dlv_ghost", "dlv_ghost2"],
        "both due"
    );
    let report = finish(
        store,
        C,
        &both[1].lease,
        failed_attempt(1, now),
        NextState::Dead,
    )
    .await;
    ensure_eq!(
        C,
        report.dead_in_a_row,
        0,
        "a delivery to a missing endpoint ending dead counts for no endpoint"
    );
    ok(C, "release", store.release(&both[0].lease).await);
    put_endpoint(store, C, disabled_endpoint("ep_ghost")).await;
    ensure!(
        C,
        lease(store, C, now, 10, secs(60)).await.is_empty(),
        "a delivery to a disabled endpoint must not be leased"
    );
}

/// `endpoints_by_id` answers one entry per id asked, in the order asked: the
/// endpoint as `endpoint()` returns it, `None` for an unknown id, the same
/// endpoint again for an id asked twice; nothing for no ids.
pub async fn endpoints_by_id_answers_each_in_order(store: &dyn Store) {
    const C: &str = "endpoints_by_id_answers_each_in_order";
    assert_empty(store, C).await;
    ensure!(
        C,
        store.endpoints_by_id(&[]).await.is_empty(),
        "no ids asked: no answers"
    );
    put(store, C, &["ep_a", "ep_c"]).await;
    let tuned = Endpoint::builder("ep_b", "http://127.0.0.1:9/tuned")
        .description("tuned")
        .max_in_flight(3)
        .gone(Gone::EndsDelivery)
        .enabled(false)
        .build()
        .expect("valid endpoint");
    put_endpoint(store, C, tuned).await;

    let asked = ["ep_b", "ep_missing", "ep_a", "ep_b", "ep_c"].map(endpoint_id);
    let answers = store.endpoints_by_id(&asked).await;
    ensure_eq!(
        C,
        answers.len(),
        asked.len(),
        "one answer per id asked, repeated ids included"
    );
    for (id, answer) in asked.iter().zip(answers) {
        let got = ok(C, "endpoints_by_id entry", answer);
        let want = ok(C, "endpoint", store.endpoint(id).await);
        ensure_eq!(
            C,
            got.as_ref().map(shape),
            want.as_ref().map(shape),
            "the entry for {id} must be what endpoint({id}) returns"
        );
        ensure_eq!(
            C,
            got.map(|e| e.id),
            want.map(|_| id.clone()),
            "the entry for {id} names another endpoint, or is missing"
        );
    }
}

/// `delete_endpoint` removes the endpoint (`false` for an unknown or already
/// deleted one) and at once ends dead, with the reason `endpoint deleted`,
/// its pending deliveries that no worker holds: due now, due later, waiting
/// for a retry, or queued behind a disabled endpoint; their attempt counts and
/// records stay. A delivery a worker holds is untouched: its lease still
/// works (handed back, it is leased again although its endpoint is gone;
/// finished dead, it counts 0 dead in a row: there is no endpoint to count
/// for).
/// Finished deliveries and the other endpoints' are untouched. An endpoint
/// put again under the deleted id is a new one: its dead-in-a-row count
/// starts at 0, and the deliveries that ended stay dead.
pub async fn delete_endpoint_ends_queued_deliveries(store: &dyn Store) {
    const C: &str = "delete_endpoint_ends_queued_deliveries";
    let clock = clock();
    let now = clock.now();
    start(store, C, &["ep_a", "ep_b"]).await;
    put_endpoint(store, C, disabled_endpoint("ep_off")).await;

    // ep_a's history: one succeeded, one dead (1 dead in a row), one retrying.
    insert(
        store,
        C,
        "evt_1",
        &[
            ("dlv_done", "ep_a"),
            ("dlv_dead", "ep_a"),
            ("dlv_retry", "ep_a"),
        ],
        now,
    )
    .await;
    let leased = lease(store, C, now, 10, secs(60)).await;
    ensure_eq!(C, leased.len(), 3, "evt_1's three deliveries are due");
    let steps = [
        ("dlv_done", NextState::Succeeded, 0),
        ("dlv_dead", NextState::Dead, 1),
        ("dlv_retry", NextState::RetryAt(now + secs(600)), 1),
    ];
    for (id, next, dead_in_a_row) in steps {
        let l = lease_of(C, &leased, id);
        let report = finish(store, C, &l, failed_attempt(1, now), next).await;
        ensure_eq!(C, report.dead_in_a_row, dead_in_a_row, "after {id}");
    }
    insert(
        store,
        C,
        "evt_2",
        &[
            ("dlv_held", "ep_a"),
            ("dlv_held2", "ep_a"),
            ("dlv_now", "ep_a"),
            ("dlv_b", "ep_b"),
            ("dlv_off", "ep_off"),
        ],
        now,
    )
    .await;
    insert(store, C, "evt_3", &[("dlv_later", "ep_a")], now + secs(300)).await;
    let held = ok(C, "lease", store.lease_due(now, 2, secs(60)).await);
    ensure_eq!(
        C,
        leased_ids(&held),
        vec!["dlv_held", "dlv_held2"],
        "the first two due of evt_2"
    );
    let held2 = held[1].lease.clone();
    let held = held[0].lease.clone();

    ensure!(
        C,
        ok(
            C,
            "delete_endpoint",
            store.delete_endpoint(&endpoint_id("ep_a")).await
        ),
        "delete_endpoint of a stored endpoint returned false"
    );
    ensure!(
        C,
        ok(C, "endpoint", store.endpoint(&endpoint_id("ep_a")).await).is_none(),
        "a deleted endpoint must be gone"
    );
    let listed = ok(C, "endpoints", store.endpoints().await);
    let listed: Vec<&str> = listed.iter().map(|e| e.id.as_str()).collect();
    ensure_eq!(
        C,
        listed,
        vec!["ep_b", "ep_off"],
        "endpoints() after the delete"
    );

    for (id, attempts_made) in [("dlv_now", 0), ("dlv_later", 0), ("dlv_retry", 1)] {
        let d = get(store, C, id).await;
        ensure_eq!(
            C,
            (d.state, d.reason.as_deref(), d.attempts),
            (
                DeliveryState::Dead,
                Some(REASON_ENDPOINT_DELETED),
                attempts_made
            ),
            "{id}, queued when its endpoint was deleted, must end dead with the reason"
        );
        ensure_eq!(
            C,
            attempts(store, C, id).await.len(),
            attempts_made as usize,
            "{id}'s attempt records must stay"
        );
    }
    for (id, state) in [
        ("dlv_done", DeliveryState::Succeeded),
        ("dlv_dead", DeliveryState::Dead),
        ("dlv_held", DeliveryState::Pending),
        ("dlv_held2", DeliveryState::Pending),
        ("dlv_b", DeliveryState::Pending),
    ] {
        let d = get(store, C, id).await;
        ensure_eq!(
            C,
            (d.state, d.reason),
            (state, None),
            "{id} must be untouched by the delete"
        );
    }
    ensure_eq!(
        C,
        attempts(store, C, "dlv_dead").await.len(),
        1,
        "a finished delivery's records must stay"
    );
    let rest = lease(store, C, now, 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&rest),
        vec!["dlv_b"],
        "only the other endpoint's delivery is left to lease (dlv_held is held)"
    );

    // A disabled endpoint's queued deliveries end too.
    ensure!(
        C,
        ok(
            C,
            "delete_endpoint",
            store.delete_endpoint(&endpoint_id("ep_off")).await
        ),
        "delete_endpoint of a disabled endpoint returned false"
    );
    let off = get(store, C, "dlv_off").await;
    ensure_eq!(
        C,
        (off.state, off.reason.as_deref()),
        (DeliveryState::Dead, Some(REASON_ENDPOINT_DELETED)),
        "a disabled endpoint's queued delivery must end dead when it is deleted"
    );

    // The held delivery: its lease still works; handed back, it is leased
    // again with its endpoint gone.
    ok(C, "release", store.release(&held).await);
    let again = lease_one(store, C, now, "dlv_held").await;
    ok(
        C,
        "abandon",
        store.abandon(&again, REASON_ENDPOINT_DELETED).await,
    );

    // Its attempt made, it ends dead: nothing to count for an endpoint that
    // does not exist.
    let report = finish(store, C, &held2, failed_attempt(1, now), NextState::Dead).await;
    ensure_eq!(
        C,
        report.dead_in_a_row,
        0,
        "a delivery ending dead after its endpoint was deleted counts for no endpoint"
    );

    for id in ["ep_a", "ep_missing"] {
        ensure!(
            C,
            !ok(
                C,
                "delete_endpoint",
                store.delete_endpoint(&endpoint_id(id)).await
            ),
            "delete_endpoint of {id} (deleted or never stored) must return false"
        );
    }

    // Put again: a new endpoint, with its own count; the old deliveries stay dead.
    put(store, C, &["ep_a"]).await;
    insert(store, C, "evt_4", &[("dlv_new", "ep_a")], now).await;
    let report = lease_and_finish(
        store,
        C,
        now,
        "dlv_new",
        failed_attempt(1, now),
        NextState::Dead,
    )
    .await;
    ensure_eq!(
        C,
        report.dead_in_a_row,
        1,
        "an endpoint put again after a delete starts a new dead-in-a-row count"
    );
    ensure_eq!(
        C,
        get(store, C, "dlv_now").await.state,
        DeliveryState::Dead,
        "putting the endpoint again must not revive its ended deliveries"
    );
}
