//! Endpoints: stored, listed, replaced, enabled and disabled, and what a
//! disabled or unknown endpoint means for its deliveries.

use super::{
    assert_empty, clock, disabled_endpoint, endpoint, endpoint_id, get, insert, lease, leased_ids,
    ok, put, put_endpoint, secs, set_enabled, start,
};
use crate::clock::Clock;
use crate::endpoint::{Endpoint, EndpointUrl};
use crate::id::EndpointId;
use crate::store::{DeliveryState, Store};

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
    put_endpoint(store, C, replacement).await;
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
/// pending forever; deliveries to a disabled endpoint are not.
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
    ok(C, "release", store.release(&leased[0].lease).await);
    put_endpoint(store, C, disabled_endpoint("ep_ghost")).await;
    ensure!(
        C,
        lease(store, C, now, 10, secs(60)).await.is_empty(),
        "a delivery to a disabled endpoint must not be leased"
    );
}
