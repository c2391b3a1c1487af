//! Retention: pruning old succeeded deliveries, and only those.

use std::time::SystemTime;

use super::{
    attempts, clock, find, finish, get, ids, insert, lease, lease_of, list, ok, ok_attempt,
    payload_of, secs, start,
};
use crate::clock::Clock;
use crate::store::{DeliveryFilter, DeliveryState, NextState, Store};

/// `prune_succeeded` removes succeeded deliveries that finished before the
/// cutoff (oldest first, at most `max`) with their attempts; pending and dead
/// ones stay, and an event stays while a delivery of it does.
pub async fn prune_removes_old_succeeded_only(store: &dyn Store) {
    const C: &str = "prune_removes_old_succeeded_only";
    let clock = clock();
    let t0 = clock.now();
    start(store, C, &["ep_a"]).await;
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
    let finish_ok = |id: &'static str, at: SystemTime, next: NextState| {
        let lease = lease_of(C, &leased, id);
        async move { finish(store, C, &lease, ok_attempt(1, at), next).await }
    };
    finish_ok("dlv_1", t0, NextState::Succeeded).await;
    finish_ok("dlv_2", t0, NextState::Dead).await;
    finish_ok("dlv_3", t0 + secs(100), NextState::Succeeded).await;
    finish_ok("dlv_4", t0, NextState::RetryAt(t0 + secs(1_000))).await;

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
        find(store, C, "dlv_1").await.is_none(),
        "dlv_1 must be gone"
    );
    ensure!(
        C,
        attempts(store, C, "dlv_1").await.is_empty(),
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
    let left = list(store, C, &DeliveryFilter::all(10)).await;
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
            finish(
                store,
                C,
                &l.lease,
                ok_attempt(1, later),
                NextState::Succeeded,
            )
            .await;
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
