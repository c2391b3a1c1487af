use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use futures::executor::block_on;

use super::state::Rec;
use super::*;
use crate::id::EventId;
use crate::store::AttemptResult;
use crate::testing::store_conformance;

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn endpoint(id: &str) -> Endpoint {
    Endpoint::builder(id, "http://127.0.0.1:9/hook")
        .build()
        .unwrap()
}

fn event(id: &str) -> NewEvent {
    NewEvent::new(
        EventId::new(id).unwrap(),
        "startExperience",
        Bytes::from(vec![7u8; 4096]),
        t(0),
    )
}

fn delivery(id: &str, endpoint: &str) -> NewDelivery {
    NewDelivery::new(
        DeliveryId::new(id).unwrap(),
        EndpointId::new(endpoint).unwrap(),
        t(0),
    )
}

fn attempt() -> AttemptRecord {
    AttemptRecord::new(
        1,
        t(0),
        Duration::from_millis(5),
        AttemptResult::Response {
            status: 200,
            body: Bytes::new(),
        },
    )
}

#[test]
fn passes_the_conformance_suite() {
    block_on(store_conformance(|| async { InMemoryStore::new() }));
}

#[test]
fn passes_the_conformance_suite_as_arc_dyn_store() {
    block_on(store_conformance(|| async {
        Arc::new(InMemoryStore::new()) as Arc<dyn Store>
    }));
}

#[test]
fn passes_the_conformance_suite_as_box_dyn_store() {
    block_on(store_conformance(|| async {
        Box::new(InMemoryStore::new()) as Box<dyn Store>
    }));
}

#[test]
fn is_send_sync_and_object_safe() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    fn assert_send<T: Send>(_: &T) {}
    assert_send_sync::<InMemoryStore>();
    let _: Arc<dyn Store> = Arc::new(InMemoryStore::new());
    // The suite's future can be spawned on a multi-threaded runtime.
    assert_send(&store_conformance(|| async { InMemoryStore::new() }));
}

#[test]
fn duplicate_delivery_ids_are_refused_atomically() {
    block_on(async {
        let store = InMemoryStore::new();
        store.put_endpoint(endpoint("ep_a")).await.unwrap();
        assert!(store
            .insert_event(event("evt_1"), vec![delivery("dlv_1", "ep_a")])
            .await
            .unwrap());

        // Clashes with a stored delivery: nothing from this insert is kept.
        let err = store
            .insert_event(
                event("evt_2"),
                vec![delivery("dlv_2", "ep_a"), delivery("dlv_1", "ep_a")],
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Conflict);
        assert!(store
            .delivery(&DeliveryId::new("dlv_2").unwrap())
            .await
            .unwrap()
            .is_none());
        // The event was not stored either: it can be inserted now.
        assert!(store.insert_event(event("evt_2"), vec![]).await.unwrap());

        // Repeated within one batch.
        let err = store
            .insert_event(
                event("evt_3"),
                vec![delivery("dlv_3", "ep_a"), delivery("dlv_3", "ep_a")],
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Conflict);
        assert_eq!(
            store
                .deliveries(&DeliveryFilter::all(10))
                .await
                .unwrap()
                .len(),
            1
        );

        // claim_once: a stored delivery id or an event stored under another key.
        let err = store
            .claim_once("k1", event("evt_4"), delivery("dlv_1", "ep_a"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Conflict);
        let err = store
            .claim_once("k1", event("evt_1"), delivery("dlv_4", "ep_a"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Conflict);
        // Neither claimed the key.
        let claim = store
            .claim_once("k1", event("evt_4"), delivery("dlv_4", "ep_a"))
            .await
            .unwrap();
        assert_eq!(claim, Claim::Inserted(DeliveryId::new("dlv_4").unwrap()));
        assert_eq!(
            store
                .lease_due(t(0), 10, Duration::from_secs(1))
                .await
                .unwrap()
                .len(),
            2
        );
    });
}

#[test]
fn payload_bytes_are_shared_not_copied() {
    block_on(async {
        let store = InMemoryStore::new();
        let ev = event("evt_1");
        let ptr = ev.payload.as_ptr();
        let deliveries = vec![delivery("dlv_1", "ep_a"), delivery("dlv_2", "ep_b")];
        store.insert_event(ev, deliveries).await.unwrap();
        store.put_endpoint(endpoint("ep_a")).await.unwrap();
        store.put_endpoint(endpoint("ep_b")).await.unwrap();
        let listed = store.deliveries(&DeliveryFilter::all(10)).await.unwrap();
        let leased = store
            .lease_due(t(0), 10, Duration::from_secs(1))
            .await
            .unwrap();
        for payload in listed
            .iter()
            .map(|d| &d.payload)
            .chain(leased.iter().map(|l| &l.delivery.payload))
        {
            assert_eq!(payload.as_ptr(), ptr);
        }
    });
}

#[test]
fn clones_share_state_and_debug_shows_counts_only() {
    block_on(async {
        let store = InMemoryStore::new();
        let clone = store.clone();
        let secret = NewEvent::new(
            EventId::new("evt_1").unwrap(),
            "startExperience",
            Bytes::from_static(b"very-secret-payload"),
            t(0),
        );
        clone
            .insert_event(secret, vec![delivery("dlv_1", "ep_a")])
            .await
            .unwrap();
        assert!(store
            .delivery(&DeliveryId::new("dlv_1").unwrap())
            .await
            .unwrap()
            .is_some());
        let debug = format!("{store:?}");
        assert!(!debug.contains("very-secret"), "{debug}");
        assert!(
            debug.contains("deliveries: 1") && debug.contains("queued: 1"),
            "{debug}"
        );
    });
}

#[test]
fn skip_records_are_bounded() {
    block_on(async {
        let store = InMemoryStore::new();
        for i in 0..InMemoryStore::MAX_SKIP_RECORDS + 5 {
            store
                .record_skip(SkipRecord::new(format!("k{i}"), "no consent", t(0)))
                .await
                .unwrap();
        }
        let all = store.skips(usize::MAX).await.unwrap();
        assert_eq!(all.len(), InMemoryStore::MAX_SKIP_RECORDS);
        assert_eq!(
            all[0].key,
            format!("k{}", InMemoryStore::MAX_SKIP_RECORDS + 4)
        );
        assert_eq!(all.last().unwrap().key, "k5");
    });
}

#[test]
fn extreme_inputs_do_not_panic() {
    block_on(async {
        let store = InMemoryStore::new();
        store.put_endpoint(endpoint("ep_a")).await.unwrap();
        store
            .insert_event(
                event("evt_1"),
                vec![delivery("dlv_1", "ep_a"), delivery("dlv_2", "ep_a")],
            )
            .await
            .unwrap();
        // A lease so long it would overflow SystemTime saturates instead.
        let leased = store
            .lease_due(t(0), usize::MAX, Duration::MAX)
            .await
            .unwrap();
        assert_eq!(leased.len(), 2);
        assert!(leased[0].lease.expires_at > t(1_000_000_000));
        store.release(&leased[0].lease).await.unwrap();
        // A zero lease expires at once, yet one call never leases a delivery twice.
        let zero = store
            .lease_due(t(0), usize::MAX, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(zero.len(), 1);
        let again = store
            .lease_due(t(0), usize::MAX, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(again.len(), 1);
        assert_ne!(again[0].lease.token, zero[0].lease.token);
        // Leases of deliveries that do not exist or are not leased.
        let forged = Lease::new(DeliveryId::new("dlv_2").unwrap(), u64::MAX, t(0));
        let err = store
            .finish_attempt(&forged, attempt(), NextState::Dead)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::LeaseLost);
        assert!(store.skips(0).await.unwrap().is_empty());
        assert!(store
            .deliveries(&DeliveryFilter::all(0))
            .await
            .unwrap()
            .is_empty());
    });
}

#[test]
fn endpoint_toggles_move_queued_deliveries_without_losing_any() {
    block_on(async {
        let store = InMemoryStore::new();
        store.put_endpoint(endpoint("ep_a")).await.unwrap();
        store.put_endpoint(endpoint("ep_b")).await.unwrap();
        let deliveries = (0..50)
            .map(|i| {
                delivery(
                    &format!("dlv_{i}"),
                    if i % 2 == 0 { "ep_a" } else { "ep_b" },
                )
            })
            .collect();
        store
            .insert_event(event("evt_1"), deliveries)
            .await
            .unwrap();
        let a = EndpointId::new("ep_a").unwrap();
        for _ in 0..3 {
            assert!(store.set_endpoint_enabled(&a, false).await.unwrap());
            assert!(store.set_endpoint_enabled(&a, false).await.unwrap());
            store.put_endpoint(endpoint("ep_a")).await.unwrap();
            store.put_endpoint(endpoint("ep_a")).await.unwrap();
        }
        assert!(store.set_endpoint_enabled(&a, false).await.unwrap());
        assert_eq!(store.lock().queued(), 50);
        assert_eq!(
            store
                .lease_due(t(0), 100, Duration::from_secs(1))
                .await
                .unwrap()
                .len(),
            25
        );
        assert!(store.set_endpoint_enabled(&a, true).await.unwrap());
        assert_eq!(
            store
                .lease_due(t(0), 100, Duration::from_secs(1))
                .await
                .unwrap()
                .len(),
            25
        );
    });
}

#[test]
fn record_stays_small() {
    // The per-delivery record, excluding its id's heap bytes and the indexes.
    let size = std::mem::size_of::<Rec>();
    assert!(size <= 128, "Rec is {size} bytes");
}

/// 100,000 deliveries (10,000 events x 10 endpoints) through lease and
/// finish, as the dispatcher benchmark does.
#[test]
fn handles_a_hundred_thousand_deliveries() {
    const EVENTS: usize = 10_000;
    const ENDPOINTS: usize = 10;
    const TOTAL: usize = EVENTS * ENDPOINTS;
    block_on(async {
        let store = InMemoryStore::with_retention(usize::MAX);
        let endpoints: Vec<EndpointId> = (0..ENDPOINTS)
            .map(|e| EndpointId::new(format!("ep_{e}")).unwrap())
            .collect();
        for id in &endpoints {
            store.put_endpoint(endpoint(id.as_str())).await.unwrap();
        }
        let payload = Bytes::from(vec![b'x'; 1024]);
        for ev in 0..EVENTS {
            let event_id = EventId::new(format!("evt_{ev}")).unwrap();
            let event = NewEvent::new(event_id, "startExperience", payload.clone(), t(0));
            let deliveries = endpoints
                .iter()
                .enumerate()
                .map(|(e, ep)| {
                    NewDelivery::new(
                        DeliveryId::new(format!("dlv_{ev}_{e}")).unwrap(),
                        ep.clone(),
                        t(ev as u64 % 60),
                    )
                })
                .collect();
            assert!(store.insert_event(event, deliveries).await.unwrap());
        }
        assert_eq!(store.lock().queued(), TOTAL);

        // Everything leased in batches, then finished: one in ten retried once.
        let mut finished = 0;
        let mut retried = 0;
        let now = t(60);
        loop {
            let batch = store
                .lease_due(now, 1_000, Duration::from_secs(30))
                .await
                .unwrap();
            if batch.is_empty() {
                break;
            }
            for leased in batch {
                let first_try = leased.delivery.attempts == 0;
                let next = if first_try && leased.delivery.id.as_str().ends_with("_3") {
                    retried += 1;
                    NextState::RetryAt(now)
                } else {
                    finished += 1;
                    NextState::Succeeded
                };
                store
                    .finish_attempt(&leased.lease, attempt(), next)
                    .await
                    .unwrap();
            }
        }
        assert_eq!(finished, TOTAL);
        assert_eq!(retried, EVENTS);
        {
            let inner = store.lock();
            assert_eq!(inner.queued(), 0);
            assert_eq!(inner.delivery_by_id.len(), TOTAL);
            assert!(
                inner.leases.is_empty(),
                "finished lease batches are dropped"
            );
            assert!(inner
                .recs
                .iter()
                .flatten()
                .all(|r| r.state == DeliveryState::Succeeded && r.lease.is_none()));
        }
        let succeeded = store
            .deliveries(&DeliveryFilter::all(usize::MAX).state(DeliveryState::Succeeded))
            .await
            .unwrap();
        assert_eq!(succeeded.len(), TOTAL);
        assert!(store
            .deliveries(&DeliveryFilter::all(10).state(DeliveryState::Pending))
            .await
            .unwrap()
            .is_empty());
    });
}

async fn lease_and_finish(store: &InMemoryStore, now: SystemTime, next: NextState) -> usize {
    let leased = store
        .lease_due(now, usize::MAX, Duration::from_secs(30))
        .await
        .unwrap();
    for l in &leased {
        store
            .finish_attempt(&l.lease, attempt(), next)
            .await
            .unwrap();
    }
    leased.len()
}

#[test]
fn keeps_only_the_most_recent_succeeded_deliveries() {
    block_on(async {
        let store = InMemoryStore::with_retention(3);
        store.put_endpoint(endpoint("ep_a")).await.unwrap();
        for i in 0..5 {
            store
                .insert_event(
                    event(&format!("evt_{i}")),
                    vec![delivery(&format!("dlv_{i}"), "ep_a")],
                )
                .await
                .unwrap();
            assert_eq!(
                lease_and_finish(&store, t(0), NextState::Succeeded).await,
                1
            );
        }
        // The two oldest are gone, with their events and attempts.
        for gone in ["dlv_0", "dlv_1"] {
            let id = DeliveryId::new(gone).unwrap();
            assert!(store.delivery(&id).await.unwrap().is_none(), "{gone}");
            assert!(store.attempts(&id).await.unwrap().is_empty(), "{gone}");
        }
        for kept in ["dlv_2", "dlv_3", "dlv_4"] {
            let id = DeliveryId::new(kept).unwrap();
            assert_eq!(store.attempts(&id).await.unwrap().len(), 1, "{kept}");
        }
        let listed = store.deliveries(&DeliveryFilter::all(10)).await.unwrap();
        let ids: Vec<&str> = listed.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["dlv_2", "dlv_3", "dlv_4"], "oldest first");
        let inner = store.lock();
        assert_eq!(inner.event_by_id.len(), 3);
        assert!(!inner
            .event_by_id
            .contains_key(&EventId::new("evt_0").unwrap()));
        // Places are reused: five deliveries went through three places.
        assert!(inner.recs.len() <= 4, "{} places", inner.recs.len());
        assert!(inner.attempts.len() <= 4, "{} rows", inner.attempts.len());
    });
}

#[test]
fn pending_and_dead_deliveries_are_never_removed() {
    block_on(async {
        let store = InMemoryStore::with_retention(0);
        store.put_endpoint(endpoint("ep_a")).await.unwrap();
        store
            .insert_event(
                event("evt_1"),
                vec![
                    delivery("dlv_dead", "ep_a"),
                    delivery("dlv_retry", "ep_a"),
                    delivery("dlv_ok", "ep_a"),
                ],
            )
            .await
            .unwrap();
        let leased = store
            .lease_due(t(0), 10, Duration::from_secs(30))
            .await
            .unwrap();
        let next = |id: &str| match id {
            "dlv_dead" => NextState::Dead,
            "dlv_retry" => NextState::RetryAt(t(60)),
            _ => NextState::Succeeded,
        };
        for l in &leased {
            let n = next(l.delivery.id.as_str());
            store.finish_attempt(&l.lease, attempt(), n).await.unwrap();
        }
        let get = |id: &str| {
            let store = store.clone();
            let id = DeliveryId::new(id).unwrap();
            async move { store.delivery(&id).await.unwrap() }
        };
        assert!(
            get("dlv_ok").await.is_none(),
            "retention 0 forgets successes"
        );
        assert_eq!(get("dlv_dead").await.unwrap().state, DeliveryState::Dead);
        assert_eq!(
            get("dlv_retry").await.unwrap().state,
            DeliveryState::Pending
        );
        // The event stays while deliveries of it are kept.
        assert_eq!(store.lock().event_by_id.len(), 1);
        // A dead delivery can still be redelivered, and then succeed.
        assert!(store
            .redeliver(&DeliveryId::new("dlv_dead").unwrap(), t(61))
            .await
            .unwrap());
        assert_eq!(
            lease_and_finish(&store, t(61), NextState::Succeeded).await,
            2
        );
        assert!(get("dlv_dead").await.is_none());
        assert_eq!(
            store.lock().event_by_id.len(),
            0,
            "last delivery took the event"
        );
        assert_eq!(store.lock().queued(), 0);
    });
}

#[test]
fn a_reused_place_does_not_honour_the_old_lease() {
    block_on(async {
        let store = InMemoryStore::with_retention(0);
        store.put_endpoint(endpoint("ep_a")).await.unwrap();
        store
            .insert_event(event("evt_1"), vec![delivery("dlv_1", "ep_a")])
            .await
            .unwrap();
        let first = store
            .lease_due(t(0), 10, Duration::from_secs(30))
            .await
            .unwrap();
        let old = first[0].lease.clone();
        store
            .finish_attempt(&old, attempt(), NextState::Succeeded)
            .await
            .unwrap();
        // dlv_2 takes dlv_1's place.
        store
            .insert_event(event("evt_2"), vec![delivery("dlv_2", "ep_a")])
            .await
            .unwrap();
        let second = store
            .lease_due(t(0), 10, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(second[0].lease.token & 0xffff_ffff, old.token & 0xffff_ffff);
        // The old lease, and a forged one with the new token, are refused.
        for stale in [
            old.clone(),
            Lease::new(old.delivery_id.clone(), second[0].lease.token, t(30)),
        ] {
            let err = store
                .finish_attempt(&stale, attempt(), NextState::Dead)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), StoreErrorKind::LeaseLost);
        }
        store
            .finish_attempt(&second[0].lease, attempt(), NextState::Succeeded)
            .await
            .unwrap();
    });
}

#[test]
fn steady_state_does_not_grow() {
    // Publish-and-deliver rounds under retention: once warm, the store's
    // vectors and maps stop growing.
    let store = InMemoryStore::with_retention(100);
    block_on(store.put_endpoint(endpoint("ep_a"))).unwrap();
    let mut n = 0;
    let mut round = |store: &InMemoryStore| {
        for _ in 0..50 {
            n += 1;
            block_on(store.insert_event(
                event(&format!("evt_{n}")),
                vec![delivery(&format!("dlv_{n}"), "ep_a")],
            ))
            .unwrap();
        }
        assert_eq!(
            block_on(lease_and_finish(store, t(0), NextState::Succeeded)),
            50
        );
    };
    for _ in 0..10 {
        round(&store);
    }
    let size = |s: &InMemoryStore| {
        let i = s.lock();
        (
            i.recs.len(),
            i.events.len(),
            i.attempts.len(),
            i.delivery_by_id.len(),
        )
    };
    let warm = size(&store);
    for _ in 0..20 {
        round(&store);
    }
    assert_eq!(size(&store), warm);
    assert_eq!(warm.3, 100);
}
