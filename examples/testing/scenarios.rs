//! The checks `examples/testing` runs, kept apart from its `main` so that
//! `tests/testing_example.rs` runs the same code as tests. Each function is a
//! test of a host's integration as a user of hookwire would write it: no
//! network, no sleeping, no wall clock.

use std::error::Error;
use std::time::Duration;

use hookwire::clock::{unix_secs, Clock, ManualClock};
use hookwire::dispatch::Dispatcher;
use hookwire::endpoint::Endpoint;
use hookwire::http::{HeaderMap, Method};
use hookwire::id::DeliveryId;
use hookwire::model::experience::{EventAction, Experience, ExperienceEvent, Organization};
use hookwire::model::ExperienceWebhook;
use hookwire::receive::{Receiver, Rejection};
use hookwire::retry::Policy;
use hookwire::signature::{Schemes, Signer, SigningSecret, Verifier};
use hookwire::store::{AttemptResult, DeliveryState, InMemoryStore};
use hookwire::testing::{MockReply, MockTransport};

/// What a check returns: `Err` says what did not hold.
pub type Checked = Result<(), Box<dyn Error>>;

/// Fails the check with `what` unless `cond` holds.
fn ensure(cond: bool, what: impl Into<String>) -> Checked {
    if cond {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

/// 2026-02-19 15:30:00 UTC: any fixed instant will do.
const START: u64 = 1_771_515_000;

fn start_event(clock: &ManualClock) -> ExperienceEvent {
    let experience = Experience {
        name: "Theme Test".into(),
        ..Experience::default()
    };
    let organization = Organization {
        name: "example".into(),
        ..Organization::default()
    };
    ExperienceEvent::new(EventAction::Start, experience, organization, clock.now())
}

/// Sending: an endpoint answers 503, then 500, then 200. On a manual clock
/// with jitter off, `run_until_idle` makes the three attempts at exactly
/// +0 s, +5 s and +5 min 5 s; every request is checked (method, URL,
/// headers, body, signature) and so is every attempt record.
pub async fn sender_retries_on_schedule() -> Checked {
    let clock = ManualClock::at_unix(START);
    let transport = MockTransport::new([MockReply::status(503), MockReply::status(500)])
        .with_default(MockReply::ok().body("thanks"));
    // Jitter off: with the default ±20 %, the retry due "in 5 min" comes
    // anywhere from 4 to 6 minutes later, and exact times cannot be asserted.
    let policy = Policy::default().with_jitter(0.0)?;
    let dispatcher = Dispatcher::builder(transport.clone(), InMemoryStore::new())
        .clock(clock.clone())
        .policy(policy)
        .build()?;

    let secret = SigningSecret::from_raw_str("test-secret")?;
    let endpoint = Endpoint::builder("ep_crm", "https://hooks.example.com/intelligems")
        .events(["startExperience"])
        .signing(secret.clone(), Schemes::HEX)
        .header("x-tenant", "acme")
        .build()?;
    dispatcher.add_endpoint(endpoint).await?;

    let event = start_event(&clock);
    let published = dispatcher.publish(&event).await?;
    let (delivery_id, _) = published.deliveries.first().ok_or("one delivery")?.clone();

    // Runs until nothing is due before a day from now, moving the manual
    // clock to each retry's due time: no sleeping, no polling loop.
    let report = dispatcher
        .run_until_idle(clock.now() + Duration::from_secs(86_400), 20)
        .await?;
    ensure(report.idle, "the queue is worked off")?;
    ensure(
        (
            report.total.retried,
            report.total.succeeded,
            report.total.dead,
        ) == (2, 1, 0),
        format!("two retries, then success: {:?}", report.total),
    )?;

    // What was sent: the same signed request three times.
    let verifier = Verifier::new(secret)
        .with_schemes(Schemes::HEX)
        .with_clock(clock.clone());
    let requests = transport.requests();
    ensure(
        requests.len() == 3,
        format!("3 requests, got {}", requests.len()),
    )?;
    for request in &requests {
        ensure(request.method == Method::POST, "POST")?;
        ensure(
            request.uri == "https://hooks.example.com/intelligems",
            format!("the endpoint's URL, got {}", request.uri),
        )?;
        ensure(
            request.headers["content-type"] == "application/json",
            "a JSON body",
        )?;
        ensure(
            request.headers["x-tenant"] == "acme",
            "the endpoint's own header",
        )?;
        ensure(
            ExperienceEvent::from_json(&request.body)? == event,
            "the body is the event",
        )?;
        verifier.verify(&request.headers, &request.body)?;
    }

    // What the store recorded: the attempts, their results and their times.
    let records = dispatcher.store().attempts(&delivery_id).await?;
    let statuses: Vec<u16> = records
        .iter()
        .map(|r| match &r.result {
            AttemptResult::Response { status, .. } => *status,
            _ => 0, // no response: a transport error
        })
        .collect();
    ensure(
        statuses == [503, 500, 200],
        format!("statuses {statuses:?}"),
    )?;
    let offsets: Vec<i64> = records
        .iter()
        .map(|r| unix_secs(r.started_at) - START as i64)
        .collect();
    ensure(offsets == [0, 5, 305], format!("attempt times {offsets:?}"))?;
    let delivery = dispatcher
        .store()
        .delivery(&delivery_id)
        .await?
        .ok_or("the delivery is kept")?;
    ensure(delivery.state == DeliveryState::Succeeded, "succeeded")?;
    Ok(())
}

/// Receiving: a request signed in the test with `Signer`, at the manual
/// clock's time, goes through a `Receiver` (verify, parse, deduplicate); a
/// replay is a duplicate (200 without the handler), a tampered body 401, a
/// request signed 10 minutes ago 401.
pub async fn receiver_verifies_and_deduplicates() -> Checked {
    let clock = ManualClock::at_unix(START);
    let secret = SigningSecret::generate();
    let receiver = Receiver::new(Verifier::new(secret.clone()).with_clock(clock.clone()));

    let body = serde_json::to_vec(&start_event(&clock))?;
    let signed_at = unix_secs(clock.now());
    let signer = Signer::new(secret);
    let mut headers = HeaderMap::new();
    signer.sign_into(
        &mut headers,
        Schemes::BOTH,
        &DeliveryId::generate(),
        signed_at,
        &body,
    );

    let received = receiver
        .receive::<ExperienceWebhook>(&headers, &body)
        .await?;
    ensure(received.payload.action() == "startExperience", "parsed")?;

    let again = receiver
        .receive::<ExperienceWebhook>(&headers, &body)
        .await
        .err()
        .ok_or("a replay is refused")?;
    ensure(
        matches!(again, Rejection::Duplicate { .. }) && again.status() == 200,
        format!("a duplicate, answered 200: {again}"),
    )?;

    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let refused = receiver
        .receive::<ExperienceWebhook>(&headers, &tampered)
        .await
        .err()
        .ok_or("a tampered body is refused")?;
    ensure(refused.status() == 401, format!("tampered: {refused}"))?;

    // Standard Webhooks signatures are checked against the clock, 5 minutes
    // either way: sign at the old time, verify 10 minutes later.
    let standard_only = Verifier::new(SigningSecret::from_raw_str("other")?)
        .with_schemes(Schemes::STANDARD)
        .with_clock(clock.clone());
    let signer = Signer::new(SigningSecret::from_raw_str("other")?);
    let mut headers = HeaderMap::new();
    signer.sign_into(
        &mut headers,
        Schemes::STANDARD,
        &DeliveryId::generate(),
        signed_at,
        &body,
    );
    ensure(
        standard_only.verify(&headers, &body).is_ok(),
        "fresh: accepted",
    )?;
    clock.advance(Duration::from_secs(600));
    let stale = standard_only
        .verify(&headers, &body)
        .err()
        .ok_or("stale: refused")?;
    ensure(stale.status() == 401, format!("stale: {stale}"))?;
    Ok(())
}

/// One check, not yet run.
pub type Check = std::pin::Pin<Box<dyn std::future::Future<Output = Checked>>>;

/// Every check, by name, in the order `main` runs them.
pub fn all() -> Vec<(&'static str, Check)> {
    vec![
        (
            "sender: retries on schedule, requests and records asserted",
            Box::pin(sender_retries_on_schedule()),
        ),
        (
            "receiver: signed in the test, verified, deduplicated",
            Box::pin(receiver_verifies_and_deduplicates()),
        ),
    ]
}
