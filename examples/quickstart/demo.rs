//! The quickstart's end-to-end run, shared with `tests/quickstart.rs`.
//!
//! A receiver on 127.0.0.1 verifies every request with hookwire's own
//! [`Verifier`] through the axum `Webhook` extractor (and checks journey
//! authentication), counting each delivery once. Three endpoints are registered, six experience events published, two
//! journey steps fired, and a worker runs until every delivery has settled.
// This program runs on the wall clock; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hookwire::dispatch::{Dispatcher, Fire, FireOutcome};
use hookwire::endpoint::Endpoint;
use hookwire::flow::CircuitBreaker;
use hookwire::model::experience::{EventAction, ExperienceEvent};
use hookwire::model::journey::{Auth, Consent, ConsentAction, ConsentState, JourneyStep, Profile};
use hookwire::retry::Policy;
use hookwire::signature::{Schemes, SigningSecret, Verifier};
use hookwire::store::{AttemptResult, DeliveryFilter, DeliveryState, InMemoryStore, Store};
use hookwire::transport::ReqwestTransport;
use hookwire::worker::Worker;

use axum::body::Bytes;
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::{any, post};
use axum::Router;
use hookwire::receive::axum::Webhook;
use hookwire::receive::{DedupeStore, Duplicates, MemoryDedupe, Rejection};

use crate::seed_data;

/// The demo's retry schedule: the default's 5 attempts, with delays short
/// enough to watch (the default waits 5 s, 5 min, 30 min and 2 h).
pub const DEMO_DELAYS_MS: [u64; 4] = [200, 400, 800, 1600];

/// What the receiver saw for one (route, event kind).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Received {
    /// Distinct deliveries accepted (answered 2xx), each counted once.
    pub deliveries: usize,
    /// Requests, every attempt included.
    pub requests: usize,
    /// Requests rejected (bad signature or authentication).
    pub rejected: usize,
    /// Redeliveries of an id already accepted.
    pub duplicates: usize,
}

/// One line of the final report.
#[derive(Debug, Clone)]
pub struct Row {
    /// The endpoint id.
    pub endpoint: String,
    /// The event kind.
    pub event: String,
    /// Attempts made.
    pub attempts: u32,
    /// Where the delivery ended.
    pub outcome: DeliveryState,
    /// The last attempt's status or error.
    pub last: String,
    /// Time from publish to the final answer.
    pub latency: Duration,
}

/// Everything the run produced.
#[derive(Debug)]
pub struct Report {
    /// Receiver counts per (route, event kind).
    pub received: BTreeMap<(String, String), Received>,
    /// One row per delivery.
    pub rows: Vec<Row>,
    /// Journey fires skipped (and why).
    pub skipped: Vec<String>,
    /// Journey fires ignored as duplicates.
    pub duplicate_fires: usize,
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

type Counts = Arc<Mutex<BTreeMap<(String, String), Received>>>;

struct Receiver {
    addr: SocketAddr,
    counts: Counts,
}

/// The receiver's routes: which verifier (or auth check) applies, and whether
/// the route fails on purpose.
struct Routes {
    hex: Verifier,
    standard: Verifier,
    flaky: Verifier,
    bearer: String,
    api_key: String,
}

/// A signed route's state: hookwire's receiver (verify, parse, deduplicate),
/// and what the demo counts.
#[derive(Clone)]
struct Signed {
    route: &'static str,
    receiver: hookwire::receive::Receiver,
    counts: Counts,
    /// Attempts per delivery id, for the route that fails on purpose.
    attempts: Option<Arc<Mutex<HashMap<String, u32>>>>,
}

impl FromRef<Signed> for hookwire::receive::Receiver {
    fn from_ref(state: &Signed) -> Self {
        state.receiver.clone()
    }
}

/// The kind of an experience or journey event.
fn kind_of(event: &serde_json::Value) -> String {
    event
        .get("action")
        .or_else(|| event.get("eventTitle"))
        .and_then(|k| k.as_str())
        .unwrap_or("?")
        .to_owned()
}

/// A signed route: hookwire's `Webhook` extractor verifies, parses and
/// deduplicates (on `Verified::dedupe_key`, the key the signature covers);
/// the handler sees rejections and duplicates only to count them.
async fn signed(
    State(state): State<Signed>,
    webhook: Result<Webhook<serde_json::Value>, Rejection>,
) -> (StatusCode, &'static str) {
    let kind = webhook
        .as_ref()
        .map(|w| kind_of(&w.payload))
        .unwrap_or_else(|_| "?".to_owned());
    let count = |f: fn(&mut Received)| {
        let mut counts = state.counts.lock().unwrap_or_else(|e| e.into_inner());
        let entry = counts
            .entry((state.route.to_owned(), kind.clone()))
            .or_default();
        entry.requests += 1;
        f(entry);
    };
    let webhook = match webhook {
        Ok(webhook) => webhook,
        Err(rejection) => {
            count(|e| e.rejected += 1);
            return (rejection.status(), rejection.public_message());
        }
    };
    if let Some(attempts) = &state.attempts {
        // Answers 503 to the first two attempts of every delivery, and
        // forgets its key so that the retry is handled again.
        let n = {
            let mut attempts = attempts.lock().unwrap_or_else(|e| e.into_inner());
            let n = attempts.entry(webhook.verified.id.clone()).or_default();
            *n += 1;
            *n
        };
        if n <= 2 {
            let _ = state.receiver.forget(&webhook.verified.dedupe_key).await;
            count(|_| {});
            return (StatusCode::SERVICE_UNAVAILABLE, "busy, try again");
        }
    }
    match webhook.duplicate {
        true => count(|e| e.duplicates += 1),
        false => count(|e| e.deliveries += 1),
    }
    (StatusCode::OK, "ok")
}

/// A journey route's state: the credential it expects, and the ids seen.
#[derive(Clone)]
struct Journey {
    route: &'static str,
    check: fn(&HeaderMap, &Method, &Routes) -> bool,
    routes: Arc<Routes>,
    seen: Arc<MemoryDedupe>,
    counts: Counts,
}

/// A journey route, authenticated by its credential, deduplicated on the
/// delivery's id.
async fn journey(
    State(state): State<Journey>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let kind = serde_json::from_slice::<serde_json::Value>(&body)
        .map(|v| kind_of(&v))
        .unwrap_or_else(|_| "?".to_owned());
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let authenticated = (state.check)(&headers, &method, &state.routes);
    let duplicate = match authenticated {
        true => {
            state
                .seen
                .seen_before(&format!("{}/{id}", state.route))
                .await
        }
        false => Ok(false),
    };
    let mut counts = state.counts.lock().unwrap_or_else(|e| e.into_inner());
    let entry = counts.entry((state.route.to_owned(), kind)).or_default();
    entry.requests += 1;
    match (authenticated, duplicate) {
        (false, _) => {
            entry.rejected += 1;
            (StatusCode::UNAUTHORIZED, "authentication failed")
        }
        (true, Err(_)) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        (true, Ok(true)) => {
            entry.duplicates += 1;
            (StatusCode::OK, "ok")
        }
        (true, Ok(false)) => {
            entry.deliveries += 1;
            (StatusCode::OK, "ok")
        }
    }
}

async fn start_receiver(routes: Routes) -> std::io::Result<Receiver> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let counts: Counts = Arc::default();
    let signed_route = |route, verifier: &Verifier, flaky: bool| {
        let receiver = hookwire::receive::Receiver::builder(verifier.clone())
            .duplicates(Duplicates::Deliver)
            .build()
            .expect("the default dedupe store covers the verifier's window");
        post(signed).with_state(Signed {
            route,
            receiver,
            counts: Arc::clone(&counts),
            attempts: flaky.then(Arc::default),
        })
    };
    let routes = Arc::new(routes);
    let seen = Arc::new(MemoryDedupe::new());
    let journey_route = |route, check| Journey {
        route,
        check,
        routes: Arc::clone(&routes),
        seen: Arc::clone(&seen),
        counts: Arc::clone(&counts),
    };
    let app = Router::new()
        .route("/hex", signed_route("hex", &routes.hex, false))
        .route(
            "/standard",
            signed_route("standard", &routes.standard, false),
        )
        .route("/flaky", signed_route("flaky", &routes.flaky, true))
        .route(
            "/crm/{*rest}",
            any(journey).with_state(journey_route("crm", |h, _, r| {
                h.get("authorization")
                    .is_some_and(|v| v == r.bearer.as_str())
            })),
        )
        .route(
            "/email/{*rest}",
            any(journey).with_state(journey_route("email", |h, m, r| {
                h.get("x-api-key").is_some_and(|v| v == r.api_key.as_str()) && m == Method::DELETE
            })),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Receiver { addr, counts })
}

/// Runs the whole demo, printing as it goes when `verbose`.
pub async fn run(verbose: bool) -> Result<Report, Box<dyn std::error::Error>> {
    let started = Instant::now();
    macro_rules! say {
        ($($t:tt)*) => { if verbose { println!($($t)*); } };
    }
    let (hex_secret, standard_secret, flaky_secret) = (
        SigningSecret::generate(),
        SigningSecret::generate(),
        SigningSecret::generate(),
    );
    let receiver = start_receiver(Routes {
        hex: Verifier::new(hex_secret.clone())
            .with_schemes(Schemes::HEX)
            .with_body_timestamp_check(true),
        standard: Verifier::new(standard_secret.clone()).with_schemes(Schemes::STANDARD),
        flaky: Verifier::new(flaky_secret.clone()),
        bearer: "Bearer crm-demo-token".to_owned(),
        api_key: "email-demo-key".to_owned(),
    })
    .await?;
    let base = format!("http://{}", receiver.addr);
    say!("receiver listening on {base}, verifying with hookwire's own Verifier");

    let policy = Policy::custom(DEMO_DELAYS_MS.map(Duration::from_millis))?
        .with_timeout(Duration::from_secs(2))?;
    say!(
        "demo retry schedule: {} attempts, delays {:?} ms (the default waits 5 s, 5 min, 30 min, 2 h)",
        policy.max_attempts(),
        DEMO_DELAYS_MS
    );
    let store = InMemoryStore::new();
    let transport = ReqwestTransport::builder().build()?;
    let dispatcher = Dispatcher::builder(transport, store.clone())
        .policy(policy)
        .allow_private_targets(true) // the demo's receiver is on 127.0.0.1
        .build()?;

    let endpoints = [
        Endpoint::builder("ep_all_hex", format!("{base}/hex"))
            .description("every event, hex signature")
            .signing(hex_secret, Schemes::HEX),
        Endpoint::builder("ep_start_end_std", format!("{base}/standard"))
            .description("start and end only, Standard Webhooks")
            .events(["startExperience", "endExperience"])
            .signing(standard_secret, Schemes::STANDARD),
        // Its first attempts all fail at once, which opens its circuit
        // breaker (10 failures in a row): held for a cool-down as short as
        // the demo's delays (the default holds 30 s), then one probe.
        Endpoint::builder("ep_flaky", format!("{base}/flaky"))
            .description("every event; answers 503 twice, then 200")
            .signing(flaky_secret, Schemes::BOTH)
            .circuit_breaker(CircuitBreaker::default().cool_down(Duration::from_millis(300))),
    ];
    for builder in endpoints {
        let endpoint = builder.build()?;
        say!(
            "endpoint {:<17} {} ({})",
            endpoint.id.to_string(),
            endpoint.url,
            endpoint.description
        );
        dispatcher.add_endpoint(endpoint).await?;
    }

    let worker = Worker::new(dispatcher.clone())
        .poll_interval(Duration::from_millis(50))
        .spawn()?;

    // Six lifecycle events of one experience, built from typed values.
    let seed = seed_data::create_experience();
    for action in [
        EventAction::Create,
        EventAction::Start,
        EventAction::Pause,
        EventAction::Update,
        EventAction::End,
        EventAction::Delete,
    ] {
        let event = ExperienceEvent::new(
            action,
            seed.experience.clone(),
            seed.organization.clone(),
            SystemTime::now(),
        );
        let published = dispatcher.publish(&event).await?;
        say!(
            "published {:<17} -> {} deliveries",
            event.action.to_string(),
            published.deliveries.len()
        );
    }

    // Journey steps: a signup POST and a consent-revocation DELETE.
    let signup = JourneyStep::builder(
        "jrn_onboarding",
        "signup",
        "Signup Completed",
        "POST",
        format!("{base}/crm/leads"),
    )
    .auth(Auth::bearer("crm-demo-token"))
    .required_consent("marketing")
    .build()?;
    let revoke = JourneyStep::builder(
        "jrn_consent",
        "revoke",
        "Consent Revoked",
        "DELETE",
        format!("{base}/email/subscribers/{{email}}"),
    )
    .auth(Auth::api_key("x-api-key", "email-demo-key"))
    .build()?;
    let mut alex = seed_data::profile();
    alex.consents
        .insert("marketing".into(), ConsentState::Granted);
    let mut sam = Profile {
        profile_id: Some("usr_sam".into()),
        email: Some("sam+news@example.com".into()),
        identity_resolved: true,
        ..Profile::default()
    };
    let mut skipped = Vec::new();
    let mut duplicate_fires = 0;
    for (who, profile) in [
        ("alex", &alex),
        ("alex again", &alex),
        ("sam (no consent)", &sam),
    ] {
        match dispatcher.fire(&signup, Fire::new(profile)).await? {
            FireOutcome::Enqueued(id) => say!("fired signup for {who}: delivery {id}"),
            FireOutcome::Duplicate(id) => {
                duplicate_fires += 1;
                say!("fired signup for {who}: duplicate of {id}, nothing sent")
            }
            FireOutcome::Skipped(reason) => {
                say!("fired signup for {who}: skipped, {reason}");
                skipped.push(reason.to_string());
            }
            other => say!("fired signup for {who}: {other:?}"),
        }
    }
    sam.consents
        .insert("marketing".into(), ConsentState::Declined);
    let decline = Consent::new("marketing", ConsentAction::Decline);
    if let FireOutcome::Enqueued(id) = dispatcher
        .fire(&revoke, Fire::new(&sam).consent(&decline))
        .await?
    {
        say!("fired consent revocation for sam: DELETE .../subscribers/sam%2Bnews%40example.com, delivery {id}");
    }

    // Let the worker settle everything.
    let deadline = Instant::now() + Duration::from_secs(12);
    loop {
        let pending = store
            .deliveries(&DeliveryFilter::all(1).state(DeliveryState::Pending))
            .await?;
        if pending.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            return Err("deliveries did not settle in time".into());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let summary = worker.shutdown().await;
    say!(
        "worker stopped: {} attempts, {} succeeded, {} retried, {} dead",
        summary.attempts,
        summary.succeeded,
        summary.retried,
        summary.dead
    );

    // Journey steps' endpoints have derived ids; their description reads better.
    let labels: HashMap<String, String> = store
        .endpoints()
        .await?
        .into_iter()
        .map(|e| {
            let label = if e.id.as_str().starts_with("jstep_") {
                e.description.clone()
            } else {
                e.id.to_string()
            };
            (e.id.to_string(), label)
        })
        .collect();
    let mut rows = Vec::new();
    for d in store.deliveries(&DeliveryFilter::all(usize::MAX)).await? {
        let attempts = store.attempts(&d.id).await?;
        let latency = attempts
            .last()
            .map(|a| {
                (a.started_at + a.duration)
                    .duration_since(d.created_at)
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let last = match attempts.last().map(|a| &a.result) {
            Some(AttemptResult::Response { status, .. }) => format!("HTTP {status}"),
            Some(AttemptResult::Error { reason, .. }) => reason.clone(),
            _ => "-".to_owned(),
        };
        rows.push(Row {
            endpoint: labels
                .get(d.endpoint_id.as_str())
                .cloned()
                .unwrap_or_else(|| d.endpoint_id.to_string()),
            event: d.event_kind.to_string(),
            attempts: d.attempts,
            outcome: d.state,
            last,
            latency,
        });
    }
    let received = receiver
        .counts
        .lock()
        .map(|c| c.clone())
        .unwrap_or_default();
    Ok(Report {
        received,
        rows,
        skipped,
        duplicate_fires,
        elapsed: started.elapsed(),
    })
}
