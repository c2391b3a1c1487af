//! Firing journey steps through the dispatcher: identity and consent checks,
//! exactly-once, URL templates, authentication, methods, idempotency keys.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use hookwire::clock::ManualClock;
use hookwire::dispatch::JourneyFireError;
use hookwire::dispatch::{DispatchError, Dispatcher, Fire, FireOutcome};
use hookwire::model::journey::template::TemplateError;
use hookwire::model::journey::{
    Account, Auth, Consent, ConsentAction, ConsentState, JourneyStep, Profile, SkipReason,
};
use hookwire::retry::Policy;
use hookwire::store::{DeliveryState, InMemoryStore, Store};
use hookwire::testing::{MockReply, MockTransport};

/// 2026-01-26T10:12:45Z, the signup fixture's timestamp.
const SIGNUP_AT: u64 = 1_769_422_365;

fn setup(transport: &MockTransport) -> (Dispatcher, ManualClock, InMemoryStore) {
    let clock = ManualClock::at_unix(SIGNUP_AT);
    let store = InMemoryStore::new();
    let dispatcher = Dispatcher::builder(transport.clone(), store.clone())
        .clock(clock.clone())
        .policy(Policy::default().with_jitter(0.0).unwrap())
        .build()
        .unwrap();
    (dispatcher, clock, store)
}

fn alex() -> Profile {
    let mut p = Profile {
        profile_id: Some("usr_12ab45c99d77".into()),
        email: Some("user@example.com".into()),
        first_name: Some("Alex".into()),
        plan: Some("free".into()),
        identity_resolved: true,
        ..Profile::default()
    };
    p.consents.insert("marketing".into(), ConsentState::Granted);
    p
}

fn signup_step() -> JourneyStep {
    JourneyStep::builder(
        "jrn_onboarding",
        "step_signup",
        "Signup Completed",
        "POST",
        "https://api.crm.example.com/leads",
    )
    .auth(Auth::bearer("crm-token-123"))
    .required_consent("marketing")
    .build()
    .unwrap()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

#[test]
fn signup_post_sends_the_seed_payload_with_bearer_auth() {
    let transport = MockTransport::always(MockReply::status(200));
    let (dispatcher, _clock, store) = setup(&transport);
    block_on(async {
        let outcome = dispatcher
            .fire(&signup_step(), Fire::new(&alex()))
            .await
            .unwrap();
        let FireOutcome::Enqueued(id) = outcome else {
            panic!("{outcome:?}")
        };
        dispatcher.run_due(10).await.unwrap();
        let requests = transport.requests();
        assert_eq!(requests.len(), 1);
        let r = &requests[0];
        assert_eq!(r.method, http::Method::POST);
        assert_eq!(r.uri, "https://api.crm.example.com/leads");
        assert_eq!(r.headers["authorization"], "Bearer crm-token-123");
        assert_eq!(r.headers["idempotency-key"], id.as_str());
        let sent: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("fixtures/journey/post-signup-completed.json"))
                .unwrap();
        assert_eq!(sent, fixture);
        assert_eq!(
            store.delivery(&id).await.unwrap().unwrap().state,
            DeliveryState::Succeeded
        );
    });
}

#[test]
fn missing_consent_skips_records_and_sends_nothing() {
    let transport = MockTransport::always(MockReply::status(200));
    let (dispatcher, _clock, store) = setup(&transport);
    block_on(async {
        for consents in [
            None,
            Some(ConsentState::Declined),
            Some(ConsentState::Unknown),
        ] {
            let mut p = alex();
            p.consents.clear();
            if let Some(c) = consents {
                p.consents.insert("marketing".into(), c);
            }
            let outcome = dispatcher
                .fire(&signup_step(), Fire::new(&p))
                .await
                .unwrap();
            assert_eq!(
                outcome,
                FireOutcome::Skipped(SkipReason::ConsentNotGranted {
                    category: "marketing".into()
                })
            );
        }
        assert_eq!(dispatcher.run_due(10).await.unwrap().leased, 0);
        assert!(transport.requests().is_empty());
        let skips = store.skips(10).await.unwrap();
        assert_eq!(skips.len(), 3);
        assert!(skips[0].reason.contains("marketing"), "{}", skips[0].reason);
        assert!(skips[0].key.contains("step_signup"));
        // Granting consent later lets the step fire.
        let outcome = dispatcher
            .fire(&signup_step(), Fire::new(&alex()))
            .await
            .unwrap();
        assert!(matches!(outcome, FireOutcome::Enqueued(_)));
    });
}

#[test]
fn unresolved_identity_skips() {
    let transport = MockTransport::always(MockReply::status(200));
    let (dispatcher, _clock, store) = setup(&transport);
    block_on(async {
        let mut anonymous = alex();
        anonymous.identity_resolved = false;
        let mut nameless = alex();
        nameless.profile_id = None;
        nameless.email = None;
        for p in [anonymous, nameless] {
            let outcome = dispatcher
                .fire(&signup_step(), Fire::new(&p))
                .await
                .unwrap();
            assert_eq!(
                outcome,
                FireOutcome::Skipped(SkipReason::IdentityUnresolved)
            );
        }
        assert_eq!(store.skips(10).await.unwrap().len(), 2);
        assert_eq!(dispatcher.run_due(10).await.unwrap().leased, 0);
    });
}

#[test]
fn a_second_fire_is_a_duplicate_and_sends_nothing_more() {
    let transport = MockTransport::always(MockReply::status(200));
    let (dispatcher, clock, _store) = setup(&transport);
    block_on(async {
        let step = signup_step();
        let first = dispatcher.fire(&step, Fire::new(&alex())).await.unwrap();
        let FireOutcome::Enqueued(id) = first else {
            panic!()
        };
        dispatcher.run_due(10).await.unwrap();
        clock.advance(Duration::from_secs(3600));
        let second = dispatcher.fire(&step, Fire::new(&alex())).await.unwrap();
        assert_eq!(second, FireOutcome::Duplicate(id.clone()));
        dispatcher.run_due(10).await.unwrap();
        assert_eq!(transport.requests().len(), 1);
        // A new occurrence is a new outcome.
        let renewal = dispatcher
            .fire(&step, Fire::new(&alex()).occurrence("2026-02"))
            .await
            .unwrap();
        assert!(matches!(renewal, FireOutcome::Enqueued(ref other) if *other != id));
        // Another profile is independent.
        let mut sam = alex();
        sam.profile_id = Some("usr_sam".into());
        assert!(matches!(
            dispatcher.fire(&step, Fire::new(&sam)).await.unwrap(),
            FireOutcome::Enqueued(_)
        ));
    });
}

#[test]
fn concurrent_fires_of_one_step_enqueue_once() {
    let transport = MockTransport::always(MockReply::status(200));
    let (dispatcher, _clock, _store) = setup(&transport);
    block_on(async {
        let step = signup_step();
        let profile = alex();
        let outcomes =
            futures::future::join_all((0..8).map(|_| dispatcher.fire(&step, Fire::new(&profile))))
                .await;
        let enqueued = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(FireOutcome::Enqueued(_))))
            .count();
        assert_eq!(enqueued, 1);
        dispatcher.run_due(10).await.unwrap();
        assert_eq!(transport.requests().len(), 1);
    });
}

#[test]
fn consent_revocation_is_a_delete_with_a_body_to_the_encoded_email() {
    let transport = MockTransport::always(MockReply::status(204));
    let (dispatcher, clock, _store) = setup(&transport);
    clock.set(UNIX_EPOCH + Duration::from_secs(1_769_427_910)); // 2026-01-26T11:45:10Z
    let step = JourneyStep::builder(
        "jrn_consent",
        "step_revoke",
        "Consent Revoked",
        "DELETE",
        "https://email.example.com/subscribers/{email}",
    )
    .auth(Auth::api_key("x-api-key", "email-key-9"))
    .build()
    .unwrap();
    block_on(async {
        // No marketing consent: a revocation step requires none.
        let profile = Profile {
            email: Some("user@example.com".into()),
            identity_resolved: true,
            ..Profile::default()
        };
        let consent = Consent::new("marketing", ConsentAction::Decline);
        let outcome = dispatcher
            .fire(&step, Fire::new(&profile).consent(&consent))
            .await
            .unwrap();
        assert!(matches!(outcome, FireOutcome::Enqueued(_)));
        dispatcher.run_due(10).await.unwrap();
        let r = &transport.requests()[0];
        assert_eq!(r.method, http::Method::DELETE);
        assert_eq!(
            r.uri,
            "https://email.example.com/subscribers/user%40example.com"
        );
        assert_eq!(r.headers["x-api-key"], "email-key-9");
        let sent: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("fixtures/journey/delete-consent-revoked.json"))
                .unwrap();
        assert_eq!(sent, fixture);

        // Hostile emails stay one path segment.
        let mut odd = profile.clone();
        odd.email = Some("a/b?c#d e%f+é@x.com".into());
        dispatcher
            .fire(&step, Fire::new(&odd).consent(&consent))
            .await
            .unwrap();
        dispatcher.run_due(10).await.unwrap();
        assert_eq!(
            transport.requests()[1].uri,
            "https://email.example.com/subscribers/a%2Fb%3Fc%23d%20e%25f%2B%C3%A9%40x.com"
        );
    });
}

#[test]
fn plan_upgrade_is_a_put_with_basic_auth_to_the_account() {
    let transport = MockTransport::always(MockReply::status(200));
    let (dispatcher, clock, _store) = setup(&transport);
    clock.set(UNIX_EPOCH + Duration::from_secs(1_769_425_339)); // 2026-01-26T11:02:19Z
    let step = JourneyStep::builder(
        "jrn_billing",
        "step_upgrade",
        "Plan Upgraded",
        "PUT",
        "https://billing.example.com/accounts/{accountId}",
    )
    .auth(Auth::basic("hookwire", "s3cret"))
    .build()
    .unwrap();
    block_on(async {
        let profile = Profile {
            profile_id: Some("usr_12ab45c99d77".into()),
            email: Some("user@example.com".into()),
            identity_resolved: true,
            ..Profile::default()
        };
        let account = Account::new("acc_a9213fbb892")
            .previous_plan("starter")
            .current_plan("pro");
        dispatcher
            .fire(&step, Fire::new(&profile).account(&account))
            .await
            .unwrap();
        dispatcher.run_due(10).await.unwrap();
        let r = &transport.requests()[0];
        assert_eq!(r.method, http::Method::PUT);
        assert_eq!(
            r.uri,
            "https://billing.example.com/accounts/acc_a9213fbb892"
        );
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("hookwire:s3cret")
        );
        assert_eq!(r.headers["authorization"], expected.as_str());
        assert!(r.headers["authorization"].is_sensitive());
        let sent: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("fixtures/journey/put-plan-upgraded.json")).unwrap();
        assert_eq!(sent, fixture);
    });
}

#[test]
fn the_idempotency_key_is_the_same_on_every_attempt() {
    let transport = MockTransport::new([MockReply::status(503), MockReply::status(500)])
        .with_default(MockReply::status(200));
    let (dispatcher, clock, store) = setup(&transport);
    block_on(async {
        let FireOutcome::Enqueued(id) = dispatcher
            .fire(&signup_step(), Fire::new(&alex()))
            .await
            .unwrap()
        else {
            panic!()
        };
        for _ in 0..3 {
            dispatcher.run_due(10).await.unwrap();
            clock.advance(Duration::from_secs(600));
        }
        let requests = transport.requests();
        assert_eq!(requests.len(), 3);
        for r in &requests {
            assert_eq!(r.headers["idempotency-key"], id.as_str());
            assert_eq!(r.headers["webhook-id"], id.as_str());
            assert_eq!(r.body, requests[0].body);
        }
        assert_eq!(
            store.delivery(&id).await.unwrap().unwrap().state,
            DeliveryState::Succeeded
        );
    });
}

#[test]
fn missing_attributes_and_blocked_targets_are_errors_not_requests() {
    let transport = MockTransport::always(MockReply::status(200));
    let (dispatcher, _clock, _store) = setup(&transport);
    block_on(async {
        let step = JourneyStep::builder(
            "j",
            "s",
            "Plan Upgraded",
            "PUT",
            "https://billing.example.com/accounts/{accountId}",
        )
        .build()
        .unwrap();
        let err = dispatcher
            .fire(&step, Fire::new(&alex()))
            .await
            .unwrap_err();
        match err {
            DispatchError::Journey(JourneyFireError::Template(
                TemplateError::MissingAttribute { name },
            )) => {
                assert_eq!(name, "accountId")
            }
            other => panic!("{other:?}"),
        }
        let internal = JourneyStep::builder(
            "j",
            "s2",
            "Signup Completed",
            "POST",
            "http://10.0.0.8/leads",
        )
        .build()
        .unwrap();
        let err = dispatcher
            .fire(&internal, Fire::new(&alex()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, DispatchError::Journey(JourneyFireError::Url(_))),
            "{err:?}"
        );
        assert_eq!(dispatcher.run_due(10).await.unwrap().leased, 0);
    });
}

#[test]
fn a_disabled_step_stays_disabled_across_fires_and_new_auth_still_takes_effect() {
    let transport = MockTransport::always(MockReply::status(200));
    let (dispatcher, _clock, store) = setup(&transport);
    block_on(async {
        dispatcher
            .fire(&signup_step(), Fire::new(&alex()))
            .await
            .unwrap();
        let endpoints = store.endpoints().await.unwrap();
        assert_eq!(endpoints.len(), 1);
        let id = endpoints[0].id.clone();
        // Disabled (by an operator, or after dead deliveries): later fires
        // must not re-enable it, nor queue what it would never send.
        store.set_endpoint_enabled(&id, false).await.unwrap();
        let mut sam = alex();
        sam.profile_id = Some("usr_sam".into());
        assert_eq!(
            dispatcher
                .fire(&signup_step(), Fire::new(&sam))
                .await
                .unwrap(),
            FireOutcome::StepDisabled(id.clone())
        );
        assert_eq!(store.skips(10).await.unwrap()[0].reason, "step disabled");
        assert!(!store.endpoint(&id).await.unwrap().unwrap().enabled);
        assert_eq!(
            dispatcher.run_due(10).await.unwrap().leased,
            0,
            "the delivery queued before it was disabled waits, parked"
        );

        // A rotated token reaches the endpoint; it stays disabled.
        let rotated = JourneyStep::builder(
            "jrn_onboarding",
            "step_signup",
            "Signup Completed",
            "POST",
            "https://api.crm.example.com/leads",
        )
        .auth(Auth::bearer("rotated-token"))
        .required_consent("marketing")
        .build()
        .unwrap();
        let mut pat = alex();
        pat.profile_id = Some("usr_pat".into());
        assert_eq!(
            dispatcher.fire(&rotated, Fire::new(&pat)).await.unwrap(),
            FireOutcome::StepDisabled(id.clone())
        );
        let endpoint = store.endpoint(&id).await.unwrap().unwrap();
        assert!(!endpoint.enabled);
        assert_eq!(endpoint.headers["authorization"], "Bearer rotated-token");
        // Re-enabled: what was queued goes out with the current token, and a
        // fire refused while disabled can be made again (nothing was claimed).
        store.set_endpoint_enabled(&id, true).await.unwrap();
        dispatcher.run_due(10).await.unwrap();
        assert_eq!(transport.requests().len(), 1);
        assert!(matches!(
            dispatcher.fire(&rotated, Fire::new(&sam)).await.unwrap(),
            FireOutcome::Enqueued(_)
        ));
        dispatcher.run_due(10).await.unwrap();
        let requests = transport.requests();
        assert_eq!(requests.len(), 2);
        assert!(requests
            .iter()
            .all(|r| r.headers["authorization"] == "Bearer rotated-token"));
    });
}
