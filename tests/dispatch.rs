//! Behaviour of the dispatcher over a scripted transport and a manual clock:
//! nothing sleeps, nothing touches the network.

mod common;

use std::time::Duration;

use common::{endpoint, t, T0};
use hookwire::clock::{Clock, ManualClock};
use hookwire::dispatch::{DisableReason, Dispatcher};
use hookwire::endpoint::Endpoint;
use hookwire::id::EndpointId;
use hookwire::retry::{Decision, Policy};
use hookwire::store::{AttemptResult, DeliveryState, InMemoryStore, Store};
use hookwire::testing::{MockReply, MockTransport};
use hookwire::transport::TransportErrorKind;

const BODY: &[u8] = br#"{"action":"startExperience","timestamp":1771515000000}"#;

fn setup(transport: &MockTransport, policy: Policy) -> (Dispatcher, ManualClock, InMemoryStore) {
    let clock = ManualClock::at_unix(T0);
    let store = InMemoryStore::new();
    let dispatcher = Dispatcher::builder(transport.clone(), store.clone())
        .clock(clock.clone())
        .policy(policy)
        .build()
        .unwrap();
    (dispatcher, clock, store)
}

fn no_jitter() -> Policy {
    Policy::default().with_jitter(0.0).unwrap()
}

/// Runs the dispatcher until nothing is pending, jumping the clock to each
/// next due time. Returns the number of `run_due` rounds.
async fn drain(dispatcher: &Dispatcher, clock: &ManualClock, store: &InMemoryStore) -> usize {
    {
        let mut rounds = 0;
        loop {
            dispatcher.run_due(1000).await.unwrap();
            rounds += 1;
            let pending = store
                .deliveries(
                    &hookwire::store::DeliveryFilter::all(usize::MAX).state(DeliveryState::Pending),
                )
                .await
                .unwrap();
            let Some(next) = pending.iter().map(|d| d.next_attempt_at).min() else {
                return rounds;
            };
            if next > clock.now() {
                clock.set(next);
            }
            assert!(
                rounds < 10_000,
                "did not settle: {:?} now {:?}",
                pending
                    .iter()
                    .filter(|d| d.next_attempt_at <= clock.now())
                    .map(|d| (d.attempts, d.next_attempt_at))
                    .collect::<Vec<_>>(),
                clock.now()
            );
        }
    }
}

#[test]
fn default_schedule_exactly_five_attempts_then_dead() {
    let transport = MockTransport::always(MockReply::status(500));
    let (dispatcher, clock, store) = setup(&transport, no_jitter());
    futures::executor::block_on(async {
        dispatcher.add_endpoint(endpoint("ep_a")).await.unwrap();
        let published = dispatcher
            .publish_json("startExperience", BODY)
            .await
            .unwrap();
        drain(&dispatcher, &clock, &store).await;
        let (id, _) = &published.deliveries[0];
        let delivery = store.delivery(id).await.unwrap().unwrap();
        assert_eq!(delivery.state, DeliveryState::Dead);
        assert_eq!(delivery.attempts, 5);
        let times: Vec<_> = store
            .attempts(id)
            .await
            .unwrap()
            .iter()
            .map(|a| a.started_at)
            .collect();
        assert_eq!(times, vec![t(0), t(5), t(305), t(2105), t(9305)]);
        assert_eq!(transport.requests().len(), 5);
        // Nothing more is ever attempted.
        clock.advance(Duration::from_secs(365 * 86_400));
        assert_eq!(dispatcher.run_due(10).await.unwrap().leased, 0);
        assert_eq!(dispatcher.dead(10).await.unwrap().len(), 1);
    });
}

#[test]
fn default_policy_jitter_stays_within_twenty_percent() {
    let transport = MockTransport::always(MockReply::status(503));
    let clock = ManualClock::at_unix(T0);
    let store = InMemoryStore::new();
    // Twenty dead deliveries in a row would disable the endpoint (and park the
    // rest) under the default; this test is about the schedule only.
    let dispatcher = Dispatcher::builder(transport.clone(), store.clone())
        .clock(clock.clone())
        .disable_after_dead(None)
        .build()
        .unwrap();
    futures::executor::block_on(async {
        // Nor would its circuit breaker stop the schedule.
        let ep_a = Endpoint::builder("ep_a", "https://hooks.example.com/a")
            .without_circuit_breaker()
            .build()
            .unwrap();
        dispatcher.add_endpoint(ep_a).await.unwrap();
        for _ in 0..20 {
            dispatcher
                .publish_json("startExperience", BODY)
                .await
                .unwrap();
        }
        drain(&dispatcher, &clock, &store).await;
        let all = store
            .deliveries(&hookwire::store::DeliveryFilter::all(100))
            .await
            .unwrap();
        let nominal = [5.0, 300.0, 1800.0, 7200.0];
        let mut distinct = std::collections::BTreeSet::new();
        for d in &all {
            assert_eq!(d.state, DeliveryState::Dead);
            let attempts = store.attempts(&d.id).await.unwrap();
            assert_eq!(attempts.len(), 5);
            for (w, n) in attempts.windows(2).zip(nominal) {
                let gap = w[1]
                    .started_at
                    .duration_since(w[0].started_at)
                    .unwrap()
                    .as_secs_f64();
                assert!(
                    gap >= n * 0.8 - 1e-6 && gap <= n * 1.2 + 1e-6,
                    "gap {gap} for nominal {n}"
                );
                distinct.insert(gap.to_bits());
            }
        }
        assert!(distinct.len() > 40, "jitter should spread the delays");
    });
}

fn first_attempt_with(reply: MockReply) -> (hookwire::store::Delivery, Decision) {
    let transport = MockTransport::always(reply);
    let (dispatcher, _clock, store) = setup(&transport, no_jitter());
    futures::executor::block_on(async {
        dispatcher.add_endpoint(endpoint("ep_a")).await.unwrap();
        let published = dispatcher
            .publish_json("startExperience", BODY)
            .await
            .unwrap();
        let report = dispatcher.run_due(10).await.unwrap();
        let decision = report.attempts[0].decision;
        (
            store
                .delivery(&published.deliveries[0].0)
                .await
                .unwrap()
                .unwrap(),
            decision,
        )
    })
}

#[test]
fn only_2xx_succeeds_and_failures_retry() {
    for code in [200, 204, 299] {
        let (d, decision) = first_attempt_with(MockReply::status(code));
        assert_eq!(d.state, DeliveryState::Succeeded, "{code}");
        assert_eq!(decision, Decision::Succeeded);
    }
    for code in [301, 302, 404, 500] {
        let (d, decision) = first_attempt_with(MockReply::status(code));
        assert_eq!(d.state, DeliveryState::Pending, "{code}");
        assert_eq!(
            decision,
            Decision::RetryIn(Duration::from_secs(5)),
            "{code}"
        );
        assert_eq!(d.next_attempt_at, t(5));
    }
    for kind in [
        TransportErrorKind::Timeout,
        TransportErrorKind::Connect,
        TransportErrorKind::Interrupted,
    ] {
        let (d, _) = first_attempt_with(MockReply::error(kind));
        assert_eq!(d.state, DeliveryState::Pending, "{kind}");
        assert_eq!(d.next_attempt_at, t(5));
    }
    let (d, decision) = first_attempt_with(MockReply::error(TransportErrorKind::Rejected));
    assert_eq!(d.state, DeliveryState::Dead);
    assert_eq!(decision, Decision::GiveUp);
}

#[test]
fn retry_after_in_both_forms_is_honoured_and_clamped() {
    let cases = [
        ("120".to_owned(), 120),
        ("999999".to_owned(), 3600),
        ("1".to_owned(), 5), // never shortens the schedule
        (httpdate::fmt_http_date(t(600)), 600),
        (httpdate::fmt_http_date(t(86_400)), 3600),
        ("soon".to_owned(), 5),
    ];
    for (value, expected) in cases {
        let (d, _) = first_attempt_with(MockReply::status(503).header("retry-after", &value));
        assert_eq!(d.next_attempt_at, t(expected), "retry-after {value}");
    }
}

#[test]
fn gone_disables_the_endpoint_and_later_events_skip_it() {
    let transport = MockTransport::always(MockReply::status(410));
    let (dispatcher, _clock, store) = setup(&transport, no_jitter());
    futures::executor::block_on(async {
        dispatcher.add_endpoint(endpoint("ep_gone")).await.unwrap();
        let p = dispatcher
            .publish_json("startExperience", BODY)
            .await
            .unwrap();
        let report = dispatcher.run_due(10).await.unwrap();
        let id = EndpointId::new("ep_gone").unwrap();
        assert_eq!(report.disabled, vec![(id.clone(), DisableReason::Gone)]);
        assert_eq!(
            store
                .delivery(&p.deliveries[0].0)
                .await
                .unwrap()
                .unwrap()
                .state,
            DeliveryState::Dead
        );
        assert!(!store.endpoint(&id).await.unwrap().unwrap().enabled);
        let later = dispatcher
            .publish_json("startExperience", BODY)
            .await
            .unwrap();
        assert!(later.deliveries.is_empty());
    });
}

#[test]
fn an_endpoint_failing_dead_in_a_row_is_disabled_and_reported() {
    let transport = MockTransport::always(MockReply::status(500));
    let clock = ManualClock::at_unix(T0);
    let store = InMemoryStore::new();
    let dispatcher = Dispatcher::builder(transport.clone(), store.clone())
        .clock(clock.clone())
        .policy(Policy::custom([]).unwrap())
        .disable_after_dead(Some(3))
        .build()
        .unwrap();
    futures::executor::block_on(async {
        dispatcher.add_endpoint(endpoint("ep_bad")).await.unwrap();
        for _ in 0..2 {
            dispatcher
                .publish_json("startExperience", BODY)
                .await
                .unwrap();
        }
        let report = dispatcher.run_due(10).await.unwrap();
        assert_eq!(report.dead, 2);
        assert!(report.disabled.is_empty());
        dispatcher
            .publish_json("startExperience", BODY)
            .await
            .unwrap();
        let report = dispatcher.run_due(10).await.unwrap();
        let id = EndpointId::new("ep_bad").unwrap();
        assert_eq!(
            report.disabled,
            vec![(id.clone(), DisableReason::DeadInARow(3))]
        );
        assert!(!store.endpoint(&id).await.unwrap().unwrap().enabled);
    });
}

#[test]
fn fan_out_honours_subscriptions_and_disabled_endpoints_with_shared_bytes() {
    let transport = MockTransport::always(MockReply::status(200));
    let (dispatcher, _clock, _store) = setup(&transport, no_jitter());
    futures::executor::block_on(async {
        dispatcher.add_endpoint(endpoint("ep_all")).await.unwrap();
        let only_start = Endpoint::builder("ep_start", "https://hooks.example.com/start")
            .events(["startExperience"])
            .build()
            .unwrap();
        dispatcher.add_endpoint(only_start).await.unwrap();
        let disabled = Endpoint::builder("ep_off", "https://hooks.example.com/off")
            .enabled(false)
            .build()
            .unwrap();
        dispatcher.add_endpoint(disabled).await.unwrap();
        dispatcher.add_endpoint(endpoint("ep_all2")).await.unwrap();

        let created = dispatcher
            .publish_json("createExperience", BODY)
            .await
            .unwrap();
        let mut targets: Vec<_> = created
            .deliveries
            .iter()
            .map(|(_, e)| e.to_string())
            .collect();
        targets.sort();
        assert_eq!(targets, ["ep_all", "ep_all2"]);

        let started = dispatcher
            .publish_json("startExperience", BODY)
            .await
            .unwrap();
        let mut targets: Vec<_> = started
            .deliveries
            .iter()
            .map(|(_, e)| e.to_string())
            .collect();
        targets.sort();
        assert_eq!(targets, ["ep_all", "ep_all2", "ep_start"]);

        dispatcher.run_due(100).await.unwrap();
        let requests = transport.requests();
        assert_eq!(requests.len(), 5);
        for r in &requests {
            assert_eq!(r.body.as_ref(), BODY, "byte-identical bodies");
        }
        // Shared, not copied: every request body points at the same bytes.
        let first = requests[0].body.as_ptr();
        assert!(requests.iter().all(|r| r.body.as_ptr() == first));
    });
}

#[test]
fn requests_carry_ids_content_type_and_endpoint_headers() {
    let transport = MockTransport::new([
        MockReply::status(503),
        MockReply::status(500),
        MockReply::status(204),
    ]);
    let (dispatcher, clock, store) = setup(&transport, no_jitter());
    futures::executor::block_on(async {
        let ep = Endpoint::builder("ep_h", "https://hooks.example.com/h")
            .header("x-team", "growth")
            .secret_header("x-api-key", "k-123")
            .build()
            .unwrap();
        dispatcher.add_endpoint(ep).await.unwrap();
        let p = dispatcher
            .publish_json("startExperience", BODY)
            .await
            .unwrap();
        drain(&dispatcher, &clock, &store).await;
        let requests = transport.requests();
        assert_eq!(requests.len(), 3);
        let id = p.deliveries[0].0.as_str();
        for r in &requests {
            assert_eq!(r.method, http::Method::POST);
            assert_eq!(r.uri, "https://hooks.example.com/h");
            assert_eq!(r.headers["webhook-id"], id);
            assert_eq!(r.headers["idempotency-key"], id);
            assert_eq!(r.headers["content-type"], "application/json");
            assert_eq!(r.headers["x-team"], "growth");
            assert_eq!(r.headers["x-api-key"], "k-123");
            assert!(r.headers["user-agent"]
                .to_str()
                .unwrap()
                .starts_with("hookwire/"));
        }
        let d = store.delivery(&p.deliveries[0].0).await.unwrap().unwrap();
        assert_eq!(d.state, DeliveryState::Succeeded);
        assert_eq!(d.attempts, 3);
    });
}

#[test]
fn attempts_record_time_status_error_kind_and_capped_body() {
    let big = "x".repeat(5000);
    let transport = MockTransport::new([MockReply::error(TransportErrorKind::Timeout)]);
    let (dispatcher, clock, store) = setup(&transport, no_jitter());
    futures::executor::block_on(async {
        dispatcher.add_endpoint(endpoint("ep_r")).await.unwrap();
        let p = dispatcher
            .publish_json("startExperience", BODY)
            .await
            .unwrap();
        dispatcher.run_due(10).await.unwrap();
        let _ = big;
        transport.set_default(MockReply::status(500).body("ok"));
        clock.advance(Duration::from_secs(5));
        dispatcher.run_due(10).await.unwrap();
        let attempts = store.attempts(&p.deliveries[0].0).await.unwrap();
        assert_eq!(attempts.len(), 2);
        assert_eq!(attempts[0].attempt, 1);
        assert_eq!(attempts[0].started_at, t(0));
        assert_eq!(
            attempts[0].result,
            AttemptResult::error(TransportErrorKind::Timeout, "timeout")
        );
        assert_eq!(attempts[1].attempt, 2);
        assert_eq!(attempts[1].started_at, t(5));
        assert!(
            matches!(&attempts[1].result, AttemptResult::Response { status: 500, body } if body.as_ref() == b"ok")
        );
    });
}

#[test]
fn dead_deliveries_can_be_redelivered() {
    let transport = MockTransport::always(MockReply::status(500));
    let (dispatcher, clock, store) = setup(&transport, Policy::custom([]).unwrap());
    futures::executor::block_on(async {
        dispatcher.add_endpoint(endpoint("ep_a")).await.unwrap();
        let p = dispatcher
            .publish_json("startExperience", BODY)
            .await
            .unwrap();
        dispatcher.run_due(10).await.unwrap();
        let id = &p.deliveries[0].0;
        assert_eq!(dispatcher.dead(10).await.unwrap()[0].id, *id);
        transport.set_default(MockReply::status(200));
        clock.advance(Duration::from_secs(60));
        assert!(dispatcher.redeliver(id).await.unwrap());
        assert!(
            !dispatcher.redeliver(id).await.unwrap(),
            "only dead deliveries"
        );
        dispatcher.run_due(10).await.unwrap();
        let d = store.delivery(id).await.unwrap().unwrap();
        assert_eq!(d.state, DeliveryState::Succeeded);
        assert_eq!(store.attempts(id).await.unwrap().len(), 2, "history kept");
    });
}

#[test]
fn connection_test_sends_now_and_reports() {
    let transport = MockTransport::always(MockReply::status(204));
    let (dispatcher, _clock, store) = setup(&transport, no_jitter());
    futures::executor::block_on(async {
        dispatcher.add_endpoint(endpoint("ep_t")).await.unwrap();
        let report = dispatcher
            .test_endpoint(&EndpointId::new("ep_t").unwrap())
            .await
            .unwrap();
        assert!(report.success);
        assert!(matches!(
            report.result,
            AttemptResult::Response { status: 204, .. }
        ));
        let body: serde_json::Value =
            serde_json::from_slice(&transport.requests()[0].body).unwrap();
        assert_eq!(body["action"], "testWebhook");
        assert_eq!(body["timestamp"], T0 * 1000);
        // The receiver's typed envelope reads it as the connection test.
        let typed =
            hookwire::model::ExperienceWebhook::from_json(&transport.requests()[0].body).unwrap();
        assert_eq!(
            typed,
            hookwire::model::ExperienceWebhook::ConnectionTest(hookwire::model::ConnectionTest {
                timestamp: hookwire::model::UnixMillis(T0 as i64 * 1000),
                extra: hookwire::model::Extra::new(),
            })
        );
        assert!(store
            .deliveries(&hookwire::store::DeliveryFilter::all(10))
            .await
            .unwrap()
            .is_empty());
        let missing = dispatcher
            .test_endpoint(&EndpointId::new("ep_nope").unwrap())
            .await;
        assert!(matches!(
            missing,
            Err(hookwire::dispatch::DispatchError::UnknownEndpoint(_))
        ));
    });
}

#[test]
fn concurrency_is_bounded() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (f, p) = (in_flight.clone(), peak.clone());
    let transport = hookwire::transport::transport_fn(move |_req, _opts| {
        let (f, p) = (f.clone(), p.clone());
        async move {
            let now = f.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            for _ in 0..3 {
                yield_now().await;
            }
            f.fetch_sub(1, Ordering::SeqCst);
            Ok(hookwire::transport::WebhookResponse::new(
                bytes::Bytes::new(),
            ))
        }
    });
    let dispatcher = Dispatcher::builder(transport, InMemoryStore::new())
        .clock(ManualClock::at_unix(T0))
        .concurrency(4)
        .build()
        .unwrap();
    futures::executor::block_on(async {
        dispatcher.add_endpoint(endpoint("ep_c")).await.unwrap();
        for _ in 0..20 {
            dispatcher
                .publish_json("startExperience", BODY)
                .await
                .unwrap();
        }
        let report = dispatcher.run_due(100).await.unwrap();
        assert_eq!(report.succeeded, 20);
    });
    assert_eq!(peak.load(Ordering::SeqCst), 4);
}

#[test]
fn requests_completing_at_once_and_later_are_all_recorded_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    // Every third request completes on its first poll; the others wait a
    // varying number of turns, so completions come back out of order.
    let calls = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (c, f, p) = (calls.clone(), in_flight.clone(), peak.clone());
    let transport = hookwire::transport::transport_fn(move |_req, _opts| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        let (f, p) = (f.clone(), p.clone());
        async move {
            if n % 3 != 0 {
                let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                for _ in 0..(7 - n % 7) {
                    yield_now().await;
                }
                f.fetch_sub(1, Ordering::SeqCst);
            }
            Ok(hookwire::transport::WebhookResponse::new(
                bytes::Bytes::new(),
            ))
        }
    });
    let store = InMemoryStore::new();
    let dispatcher = Dispatcher::builder(transport, store.clone())
        .clock(ManualClock::at_unix(T0))
        .concurrency(3)
        .build()
        .unwrap();
    futures::executor::block_on(async {
        dispatcher.add_endpoint(endpoint("ep_m")).await.unwrap();
        let mut ids = Vec::new();
        for _ in 0..40 {
            let p = dispatcher
                .publish_json("startExperience", BODY)
                .await
                .unwrap();
            ids.push(p.deliveries[0].0.clone());
        }
        let report = dispatcher.run_due(100).await.unwrap();
        assert_eq!(report.leased, 40);
        assert_eq!(report.succeeded, 40);
        assert_eq!(report.attempts.len(), 40);
        assert!(report.attempts.iter().all(|a| a.recorded));
        let mut reported: Vec<_> = report
            .attempts
            .iter()
            .map(|a| a.delivery_id.clone())
            .collect();
        reported.sort();
        ids.sort();
        assert_eq!(reported, ids, "each delivery reported exactly once");
        for id in &ids {
            assert_eq!(store.attempts(id).await.unwrap().len(), 1);
            let d = store.delivery(id).await.unwrap().unwrap();
            assert_eq!(d.state, DeliveryState::Succeeded);
        }
        assert!(dispatcher.run_due(100).await.unwrap().attempts.is_empty());
    });
    assert_eq!(calls.load(Ordering::SeqCst), 40);
    assert!(peak.load(Ordering::SeqCst) <= 3);
    assert!(peak.load(Ordering::SeqCst) >= 2, "requests did overlap");
}

async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

#[test]
fn dispatcher_and_ports_are_send_sync_and_object_safe() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Dispatcher>();
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(InMemoryStore::new());
    let transport = MockTransport::always(MockReply::status(200));
    let dispatcher = Dispatcher::builder(transport, store).build().unwrap();
    fn assert_send<F: std::future::Future + Send>(_: F) {}
    assert_send(dispatcher.run_due(1));
    assert_send(dispatcher.publish_json("x", BODY));
}

#[test]
fn deliveries_whose_lease_would_run_out_mid_request_are_handed_back() {
    // Each request takes the whole 10 s timeout; the lease is 25 s; one at a time.
    let clock = ManualClock::at_unix(T0);
    let slow_clock = clock.clone();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    let transport = hookwire::transport::transport_fn(move |_req, _opts| {
        slow_clock.advance(Duration::from_secs(10));
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async {
            Ok(hookwire::transport::WebhookResponse::new(
                bytes::Bytes::new(),
            ))
        }
    });
    let store = InMemoryStore::new();
    let dispatcher = Dispatcher::builder(transport, store.clone())
        .clock(clock.clone())
        .policy(no_jitter())
        .lease(Duration::from_secs(25))
        .concurrency(1)
        .build()
        .unwrap();
    futures::executor::block_on(async {
        dispatcher.add_endpoint(endpoint("ep_slow")).await.unwrap();
        for _ in 0..3 {
            dispatcher
                .publish_json("startExperience", BODY)
                .await
                .unwrap();
        }
        let report = dispatcher.run_due(10).await.unwrap();
        // The third would start at +20 s and could end at +30 s, after its lease.
        assert_eq!(
            (report.leased, report.succeeded, report.released),
            (3, 2, 1)
        );
        assert_eq!(sent.load(std::sync::atomic::Ordering::SeqCst), 2);
        // Handed back, it is due again at once, and goes out on the next run.
        let report = dispatcher.run_due(10).await.unwrap();
        assert_eq!(
            (report.leased, report.succeeded, report.released),
            (1, 1, 0)
        );
        let pending = store
            .deliveries(&hookwire::store::DeliveryFilter::all(10).state(DeliveryState::Pending))
            .await
            .unwrap();
        assert!(pending.is_empty());
    });
}

#[test]
fn a_policy_asking_for_an_endless_delay_or_timeout_does_not_panic() {
    /// Retries everything after `Duration::MAX`, with the given timeout.
    #[derive(Debug)]
    struct Forever(Duration);
    impl hookwire::retry::RetryPolicy for Forever {
        fn decide(&self, _: &hookwire::retry::Attempt<'_>) -> Decision {
            Decision::RetryIn(Duration::MAX)
        }
        fn timeout(&self) -> Duration {
            self.0
        }
    }
    let transport = MockTransport::always(MockReply::status(500));
    let store = InMemoryStore::new();
    // No lease can outlast an endless timeout: refused when built, whether
    // the lease is set or left to its default.
    for lease in [Some(Duration::from_secs(60)), None] {
        let mut builder = Dispatcher::builder(transport.clone(), store.clone())
            .clock(ManualClock::at_unix(T0))
            .policy(Forever(Duration::MAX));
        if let Some(lease) = lease {
            builder = builder.lease(lease);
        }
        let err = builder.build().unwrap_err();
        assert!(
            matches!(err, hookwire::dispatch::ConfigError::LeaseTooShort { .. }),
            "{err}"
        );
        assert!(err
            .to_string()
            .contains("must be longer than the request timeout"));
    }
    // With a sane timeout, the endless retry delay lands at the end of time.
    let dispatcher = Dispatcher::builder(transport.clone(), store.clone())
        .clock(ManualClock::at_unix(T0))
        .policy(Forever(Duration::from_secs(10)))
        .build()
        .unwrap();
    futures::executor::block_on(async {
        dispatcher.add_endpoint(endpoint("ep_f")).await.unwrap();
        dispatcher
            .publish_json("startExperience", BODY)
            .await
            .unwrap();
        let report = dispatcher.run_due(10).await.unwrap();
        assert_eq!((report.leased, report.retried), (1, 1));
        let pending = store
            .deliveries(&hookwire::store::DeliveryFilter::all(10).state(DeliveryState::Pending))
            .await
            .unwrap();
        assert_eq!(pending.len(), 1);
        assert!(pending[0].next_attempt_at > t(1 << 40));
        assert_eq!(dispatcher.run_due(10).await.unwrap().leased, 0);
    });
}

#[test]
fn prune_succeeded_removes_old_successes_only() {
    let transport = MockTransport::always(MockReply::status(200));
    let (dispatcher, clock, store) = setup(&transport, no_jitter());
    futures::executor::block_on(async {
        dispatcher.add_endpoint(endpoint("ep_a")).await.unwrap();
        let old = dispatcher
            .publish_json("startExperience", BODY)
            .await
            .unwrap();
        dispatcher.run_due(10).await.unwrap();
        clock.advance(Duration::from_secs(600));
        let recent = dispatcher
            .publish_json("startExperience", BODY)
            .await
            .unwrap();
        dispatcher.run_due(10).await.unwrap();
        transport.set_default(MockReply::status(500));
        let pending = dispatcher
            .publish_json("startExperience", BODY)
            .await
            .unwrap();
        dispatcher.run_due(10).await.unwrap();
        clock.advance(Duration::from_secs(60));

        // Older than 5 minutes: only the first success.
        assert_eq!(
            dispatcher
                .prune_succeeded(Duration::from_secs(300))
                .await
                .unwrap(),
            1
        );
        assert!(store
            .delivery(&old.deliveries[0].0)
            .await
            .unwrap()
            .is_none());
        let kept = store.delivery(&recent.deliveries[0].0).await.unwrap();
        assert_eq!(kept.unwrap().state, DeliveryState::Succeeded);
        let retrying = store.delivery(&pending.deliveries[0].0).await.unwrap();
        assert_eq!(retrying.unwrap().state, DeliveryState::Pending);
        // Everything that succeeded, but never what is still to do.
        assert_eq!(dispatcher.prune_succeeded(Duration::ZERO).await.unwrap(), 1);
        assert!(store
            .delivery(&pending.deliveries[0].0)
            .await
            .unwrap()
            .is_some());
        // An age beyond the clock's reach removes nothing rather than failing.
        assert_eq!(dispatcher.prune_succeeded(Duration::MAX).await.unwrap(), 0);
    });
}
