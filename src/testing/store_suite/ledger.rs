//! Exactly once: an event inserted twice is stored once, a journey step's
//! ledger key is claimed once; and the skips journeys record.

use super::{
    assert_empty, clock, delivery_id, endpoint_id, event_id, find, get, ids, insert, lease,
    leased_ids, list, new_deliveries, new_event, ok, payload_of, secs, start, try_insert,
};
use crate::clock::Clock;
use crate::store::{Claim, DeliveryFilter, NewDelivery, SkipRecord, Store};
use crate::testing::join_all;

/// Inserting the same event twice returns `false` and stores nothing the second
/// time (not even new deliveries); an event with no deliveries is idempotent too.
pub async fn insert_is_idempotent(store: &dyn Store) {
    const C: &str = "insert_is_idempotent";
    let now = clock().now();
    start(store, C, &["ep_a", "ep_b"]).await;
    insert(
        store,
        C,
        "evt_1",
        &[("dlv_1", "ep_a"), ("dlv_2", "ep_b")],
        now,
    )
    .await;

    let again = try_insert(
        store,
        C,
        new_event("evt_1", now),
        new_deliveries(&[("dlv_1", "ep_a"), ("dlv_3", "ep_a")], now),
    )
    .await;
    ensure!(C, !again, "inserting an existing event must return false");
    ensure!(
        C,
        find(store, C, "dlv_3").await.is_none(),
        "a repeated insert must store nothing, but its new delivery dlv_3 exists"
    );
    let all = list(store, C, &DeliveryFilter::all(100)).await;
    ensure_eq!(
        C,
        ids(&all),
        vec!["dlv_1", "dlv_2"],
        "one set of deliveries expected"
    );
    let leased = lease(store, C, now, 100, secs(60)).await;
    ensure_eq!(
        C,
        leased.len(),
        2,
        "a repeated insert must not queue deliveries twice"
    );

    let empty = try_insert(store, C, new_event("evt_2", now), Vec::new()).await;
    ensure!(
        C,
        empty,
        "an event with no deliveries must be stored (true)"
    );
    let empty = try_insert(store, C, new_event("evt_2", now), Vec::new()).await;
    ensure!(
        C,
        !empty,
        "an event with no deliveries must be idempotent too"
    );
}

/// 32 concurrent `claim_once` calls on one key (each with its own event and
/// delivery ids): exactly one `Inserted`, every other `Existing` with the same
/// id, and only the winner's event and delivery stored. Later claims of the key
/// are `Existing`; another key is independent.
pub async fn claim_once_is_exactly_once(store: &dyn Store) {
    const C: &str = "claim_once_is_exactly_once";
    const CLAIMS: usize = 32;
    let now = clock().now();
    start(store, C, &["ep_a"]).await;
    let key = "journey-1/step-2/profile-3";
    let claims = join_all((0..CLAIMS).map(|i| {
        let event = new_event(&format!("evt_{i}"), now);
        let delivery = NewDelivery::new(delivery_id(&format!("dlv_{i}")), endpoint_id("ep_a"), now);
        store.claim_once(key, event, delivery)
    }))
    .await;
    let mut inserted = Vec::new();
    let mut existing = Vec::new();
    for (i, claim) in claims.into_iter().enumerate() {
        match ok(C, "claim_once", claim) {
            Claim::Inserted(id) => inserted.push((i, id)),
            Claim::Existing(id) => existing.push(id),
        }
    }
    ensure_eq!(
        C,
        inserted.len(),
        1,
        "exactly one concurrent claim must insert"
    );
    let (winner, id) = inserted.remove(0);
    ensure_eq!(
        C,
        id,
        delivery_id(&format!("dlv_{winner}")),
        "Inserted must name its own delivery"
    );
    ensure!(
        C,
        existing.iter().all(|e| *e == id),
        "every other claim must return Existing({id}), got {existing:?}"
    );
    let all = list(store, C, &DeliveryFilter::all(100)).await;
    ensure_eq!(
        C,
        ids(&all),
        vec![id.as_str()],
        "exactly one delivery must be stored"
    );
    let d = get(store, C, id.as_str()).await;
    ensure_eq!(
        C,
        d.event_id,
        event_id(&format!("evt_{winner}")),
        "the winner's event is stored"
    );
    ensure_eq!(
        C,
        d.payload,
        payload_of(&format!("evt_{winner}")),
        "the winner's payload"
    );
    let loser = (winner + 1) % CLAIMS;
    let stored = try_insert(
        store,
        C,
        new_event(&format!("evt_{loser}"), now),
        Vec::new(),
    )
    .await;
    ensure!(
        C,
        stored,
        "a losing claim's event evt_{loser} must not have been stored"
    );

    let again = ok(
        C,
        "claim_once",
        store
            .claim_once(
                key,
                new_event("evt_late", now),
                NewDelivery::new(delivery_id("dlv_late"), endpoint_id("ep_a"), now),
            )
            .await,
    );
    ensure_eq!(
        C,
        again,
        Claim::Existing(id.clone()),
        "a later claim of the key"
    );
    let other = ok(
        C,
        "claim_once",
        store
            .claim_once(
                "journey-1/step-2/profile-4",
                new_event("evt_other", now),
                NewDelivery::new(delivery_id("dlv_other"), endpoint_id("ep_a"), now),
            )
            .await,
    );
    ensure_eq!(
        C,
        other,
        Claim::Inserted(delivery_id("dlv_other")),
        "another key is independent"
    );
    let leased = lease(store, C, now, 10, secs(60)).await;
    let mut leased: Vec<&str> = leased_ids(&leased);
    leased.sort_unstable();
    let mut expected = vec![id.as_str(), "dlv_other"];
    expected.sort_unstable();
    ensure_eq!(
        C,
        leased,
        expected,
        "claimed deliveries are queued like any other"
    );
}

/// Skips come back newest first, at most `limit`, exactly as recorded.
pub async fn skips_are_newest_first(store: &dyn Store) {
    const C: &str = "skips_are_newest_first";
    assert_empty(store, C).await;
    let clock = clock();
    let mut recorded = Vec::new();
    for i in 0..5 {
        let skip = SkipRecord::new(
            format!("journey-1/step-{i}/profile-9"),
            format!("consent \"marketing\" not granted ({i})"),
            clock.now(),
        );
        ok(C, "record_skip", store.record_skip(skip.clone()).await);
        recorded.push(skip);
        clock.advance(secs(1));
    }
    recorded.reverse();
    let got = ok(C, "skips", store.skips(3).await);
    ensure_eq!(
        C,
        got,
        recorded[..3].to_vec(),
        "skips(3): the three newest, newest first"
    );
    let got = ok(C, "skips", store.skips(100).await);
    ensure_eq!(C, got, recorded, "skips(100): all five, newest first");
    let got = ok(C, "skips", store.skips(0).await);
    ensure!(C, got.is_empty(), "skips(0) must be empty");
}
