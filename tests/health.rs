//! What an operator reads through the dispatcher: each disabling counted
//! and reported once (by a run, and by a worker of several loops), with
//! when and why it happened; attempt numbers that keep growing after a
//! redelivery; endpoint health after a scripted run.

mod common;

use std::time::Duration;

use common::{endpoint, t, T0};
use hookwire::clock::ManualClock;
use hookwire::dispatch::{DisableReason, DispatchError, Dispatcher};
use hookwire::id::EndpointId;
use hookwire::retry::Policy;
use hookwire::store::{
    AttemptFilter, AttemptOutcome, DeliveryCounts, DeliveryFilter, DeliveryState, InMemoryStore,
    Order, Store, REASON_DISABLED_BY_HOST,
};
use hookwire::testing::{MockReply, MockTransport};
use hookwire::transport::TransportErrorKind;

const BODY: &[u8] = br#"{"action":"startExperience","timestamp":1771515000000}"#;

fn setup(transport: &MockTransport, policy: Policy) -> (Dispatcher, ManualClock, InMemoryStore) {
    let clock = ManualClock::at_unix(T0);
    let store = InMemoryStore::with_retention(usize::MAX);
    let dispatcher = Dispatcher::builder(transport.clone(), store.clone())
        .clock(clock.clone())
        .policy(policy)
        .build()
        .unwrap();
    (dispatcher, clock, store)
}

fn id(s: &str) -> EndpointId {
    EndpointId::new(s).unwrap()
}

#[test]
fn after_a_redelivery_attempt_numbers_keep_growing() {
    let transport = MockTransport::always(MockReply::status(503));
    let policy = Policy::custom([Duration::from_secs(1), Duration::from_secs(1)])
        .unwrap()
        .with_jitter(0.0)
        .unwrap();
    let (dispatcher, clock, store) = setup(&transport, policy);
    futures::executor::block_on(async {
        dispatcher.add_endpoint(endpoint("ep_a")).await.unwrap();
        let p = dispatcher
            .publish_json("startExperience", BODY)
            .await
            .unwrap();
        let dlv = p.deliveries[0].0.clone();
        for _ in 0..3 {
            dispatcher.run_due(10).await.unwrap();
            clock.advance(Duration::from_secs(1));
        }
        let d = store.delivery(&dlv).await.unwrap().unwrap();
        assert_eq!(
            (d.state, d.attempts, d.attempts_total),
            (DeliveryState::Dead, 3, 3)
        );

        assert!(dispatcher.redeliver(&dlv).await.unwrap());
        transport.set_default(MockReply::status(200));
        let report = dispatcher.run_due(10).await.unwrap();
        assert_eq!(report.attempts[0].attempt, 4, "the run reports attempt 4");
        let d = store.delivery(&dlv).await.unwrap().unwrap();
        assert_eq!(
            (d.state, d.attempts, d.attempts_total),
            (DeliveryState::Succeeded, 1, 4),
            "the policy counts from the redelivery; the total does not restart"
        );
        let numbers: Vec<u32> = store
            .attempts(&dlv)
            .await
            .unwrap()
            .iter()
            .map(|a| a.attempt)
            .collect();
        assert_eq!(numbers, vec![1, 2, 3, 4], "no two attempts share a number");
        let newest = store
            .list_attempts(
                &AttemptFilter::all(1)
                    .delivery(dlv.clone())
                    .order(Order::NewestFirst),
            )
            .await
            .unwrap();
        assert_eq!(newest[0].record.attempt, 4);

        let health = dispatcher
            .endpoint_health(&id("ep_a"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(health.deliveries, DeliveryCounts::new(0, 1, 0));
        assert_eq!(health.consecutive_failures, 0);
        assert_eq!(health.last_success_at, Some(t(3)));
        let last = health.last_attempt.unwrap();
        assert_eq!(
            (last.attempt, last.outcome),
            (4, AttemptOutcome::Status(200))
        );
    });
}

#[test]
fn a_410_disables_once_and_records_why_and_when() {
    let transport = MockTransport::always(MockReply::status(410));
    let (dispatcher, clock, store) = setup(&transport, Policy::default());
    futures::executor::block_on(async {
        dispatcher.add_endpoint(endpoint("ep_gone")).await.unwrap();
        for _ in 0..3 {
            dispatcher
                .publish_json("startExperience", BODY)
                .await
                .unwrap();
        }
        clock.advance(Duration::from_secs(5));
        // Two of its deliveries are attempted in this run; both answer 410.
        let report = dispatcher.run_due(2).await.unwrap();
        assert_eq!(report.dead, 2);
        assert_eq!(
            report.disabled,
            vec![(id("ep_gone"), DisableReason::Gone)],
            "one disabling, however many attempts called for it"
        );
        let health = dispatcher
            .endpoint_health(&id("ep_gone"))
            .await
            .unwrap()
            .unwrap();
        assert!(!health.enabled);
        assert_eq!(health.deliveries, DeliveryCounts::new(1, 0, 2));
        assert_eq!(health.consecutive_failures, 2);
        let disabled = health.disabled.expect("when and why");
        assert_eq!(
            (disabled.at, disabled.reason.as_str()),
            (t(5), "endpoint answered 410 gone")
        );

        // The host disabling it again changes nothing; enabling clears it.
        dispatcher
            .set_endpoint_enabled(&id("ep_gone"), false)
            .await
            .unwrap();
        let kept = dispatcher.endpoint_health(&id("ep_gone")).await.unwrap();
        assert_eq!(
            kept.unwrap().disabled.unwrap().at,
            t(5),
            "the first record stays"
        );
        dispatcher
            .set_endpoint_enabled(&id("ep_gone"), true)
            .await
            .unwrap();
        let h = dispatcher
            .endpoint_health(&id("ep_gone"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((h.enabled, h.disabled), (true, None));

        // Failing again, it is disabled again, and reported again.
        clock.advance(Duration::from_secs(5));
        let report = dispatcher.run_due(10).await.unwrap();
        assert_eq!(report.disabled, vec![(id("ep_gone"), DisableReason::Gone)]);
        let h = store
            .endpoint_health(&id("ep_gone"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(h.disabled.map(|d| d.at), Some(t(10)));
        assert_eq!(h.deliveries, DeliveryCounts::new(0, 0, 3));
    });
}

#[test]
fn the_host_disabling_an_endpoint_is_recorded() {
    let transport = MockTransport::always(MockReply::ok());
    let (dispatcher, clock, _store) = setup(&transport, Policy::default());
    futures::executor::block_on(async {
        dispatcher.add_endpoint(endpoint("ep_a")).await.unwrap();
        dispatcher.add_endpoint(endpoint("ep_b")).await.unwrap();
        clock.advance(Duration::from_secs(7));
        dispatcher
            .set_endpoint_enabled(&id("ep_a"), false)
            .await
            .unwrap();
        let all = dispatcher.endpoints_health().await.unwrap();
        assert_eq!(all.len(), 2);
        let a = &all[0];
        assert_eq!(a.endpoint_id, id("ep_a"));
        let disabled = a.disabled.clone().expect("a record");
        assert_eq!(
            (disabled.at, disabled.reason.as_str()),
            (t(7), REASON_DISABLED_BY_HOST)
        );
        assert_eq!((all[1].enabled, all[1].disabled.clone()), (true, None));
        let missing = dispatcher.set_endpoint_enabled(&id("ep_x"), false).await;
        assert!(matches!(missing, Err(DispatchError::UnknownEndpoint(e)) if e == id("ep_x")));
        assert!(dispatcher
            .endpoint_health(&id("ep_x"))
            .await
            .unwrap()
            .is_none());
    });
}

#[test]
fn health_after_a_scripted_run() {
    // ep_ok answers 200; ep_down refuses connections, then is given up on.
    let transport = MockTransport::with_fn(|req, _| {
        if req.uri().path().ends_with("ep_down") {
            MockReply::error(TransportErrorKind::Connect)
        } else {
            MockReply::ok()
        }
    });
    let policy = Policy::custom([Duration::from_secs(1)])
        .unwrap()
        .with_jitter(0.0)
        .unwrap();
    let (dispatcher, clock, store) = setup(&transport, policy);
    futures::executor::block_on(async {
        dispatcher.add_endpoint(endpoint("ep_ok")).await.unwrap();
        dispatcher.add_endpoint(endpoint("ep_down")).await.unwrap();
        for _ in 0..2 {
            dispatcher
                .publish_json("startExperience", BODY)
                .await
                .unwrap();
        }
        dispatcher.run_due(10).await.unwrap();
        clock.advance(Duration::from_secs(1));
        dispatcher.run_due(10).await.unwrap();

        let all = dispatcher.endpoints_health().await.unwrap();
        let ids: Vec<&str> = all.iter().map(|h| h.endpoint_id.as_str()).collect();
        assert_eq!(ids, vec!["ep_down", "ep_ok"]);
        let down = &all[0];
        assert_eq!(down.deliveries, DeliveryCounts::new(0, 0, 2));
        assert_eq!(
            down.consecutive_failures, 4,
            "two deliveries, two attempts each"
        );
        assert_eq!(down.last_success_at, None);
        let last = down.last_attempt.clone().unwrap();
        assert_eq!(last.started_at, t(1));
        assert!(
            matches!(&last.outcome, AttemptOutcome::Failed { kind: TransportErrorKind::Connect, reason } if !reason.is_empty()),
            "{:?}",
            last.outcome
        );
        let ok = &all[1];
        assert_eq!(ok.deliveries, DeliveryCounts::new(0, 2, 0));
        assert_eq!(
            (ok.consecutive_failures, ok.last_success_at),
            (0, Some(t(0)))
        );

        // The same, counted from the listings.
        let dead = store
            .deliveries(
                &DeliveryFilter::all(10)
                    .endpoint(id("ep_down"))
                    .state(DeliveryState::Dead),
            )
            .await
            .unwrap();
        assert_eq!(dead.len() as u64, down.deliveries.dead);
        let attempts = store
            .list_attempts(&AttemptFilter::all(10).endpoint(id("ep_down")))
            .await
            .unwrap();
        assert_eq!(attempts.len() as u32, down.consecutive_failures);
    });
}

/// The issue's case: a worker of several loops, two endpoints answering 410
/// to many deliveries each. Every loop's engine sees the 410s; the store
/// says which call disabled the endpoint, so each is counted once.
#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_counts_each_disabled_endpoint_once() {
    use hookwire::transport::transport_fn;
    use hookwire::worker::Worker;

    // Slow enough that every loop has deliveries of both endpoints in
    // flight when the first 410s come back.
    let transport = transport_fn(|_req, _opts| async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let mut response = hookwire::transport::WebhookResponse::new(Default::default());
        *response.status_mut() = hookwire::http::StatusCode::GONE;
        Ok(response)
    });
    let store = InMemoryStore::with_retention(usize::MAX);
    let dispatcher = Dispatcher::builder(transport, store.clone())
        .concurrency(8)
        .build()
        .unwrap();
    dispatcher.add_endpoint(endpoint("ep_a")).await.unwrap();
    dispatcher.add_endpoint(endpoint("ep_b")).await.unwrap();
    for _ in 0..20 {
        dispatcher
            .publish_json("startExperience", BODY)
            .await
            .unwrap();
    }
    let running = Worker::new(dispatcher.clone())
        .loops(3)
        .batch_size(4)
        .poll_interval(Duration::from_millis(20))
        .spawn()
        .unwrap();
    let mut settled = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let all = dispatcher.endpoints_health().await.unwrap();
        if all.iter().all(|h| !h.enabled) && running.status().in_flight == 0 {
            settled = true;
            break;
        }
    }
    assert!(settled, "both endpoints should be disabled");
    let summary = running.shutdown().await;
    assert_eq!(
        summary.endpoints_disabled, 2,
        "two endpoints disabled, each counted once: {summary:?}"
    );
    for h in dispatcher.endpoints_health().await.unwrap() {
        assert_eq!(
            h.disabled.map(|d| d.reason).as_deref(),
            Some("endpoint answered 410 gone")
        );
        assert!(h.deliveries.dead >= 1);
        assert_eq!(h.deliveries.total(), 20);
    }
}
