//! What an operator sees: tracing events at their documented levels and
//! fields, metrics by their documented names, operational events (once
//! each), operational webhooks, and `run_until_idle`. Scripted runs with
//! `MockTransport` and a `ManualClock`, on one thread (the capturing
//! subscriber and the recorder are this thread's only).
#![cfg(all(feature = "tracing", feature = "metrics"))]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures::executor::block_on;
use hookwire::clock::{Clock, ManualClock};
use hookwire::dispatch::Dispatcher;
use hookwire::endpoint::Endpoint;
use hookwire::events::{OpsEvent, OpsForwarder, FAILING_AFTER};
use hookwire::id::{DeliveryId, EndpointId};
use hookwire::retry::Policy;
use hookwire::signature::{Schemes, SigningSecret, Verifier};
use hookwire::store::{
    AttemptRecord, Claim, Delivery, DeliveryFilter, Finish, FinishReport, InMemoryStore, Lease,
    LeaseRequest, Leased, NewDelivery, NewEvent, NextState, SkipRecord, Store, StoreError,
    StoreErrorKind,
};
use hookwire::testing::{MockReply, MockTransport};
use hookwire::transport::{transport_fn, WebhookResponse};
use tracing::field::{Field, Visit};
use tracing::Level;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

const T0: u64 = 1_771_515_000;
const SECRET_PATH: &str = "secret-token-123";
const SECRET_HEADER: &str = "Bearer sekrit-header-value";

/// The tests here run one at a time: tracing caches whether a callsite is
/// wanted when it is first hit, and a test on another thread with another
/// subscriber (or none) must not decide that for a capturing one.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn ep(id: &str) -> EndpointId {
    EndpointId::new(id).unwrap()
}

/// Three attempts, a minute apart, no jitter.
fn policy() -> Policy {
    Policy::custom([60, 60].map(Duration::from_secs))
        .unwrap()
        .with_jitter(0.0)
        .unwrap()
}

fn endpoint(id: &str, path: &str, signing: &SigningSecret) -> Endpoint {
    Endpoint::builder(
        id,
        format!("https://hooks.example.com/{path}/{SECRET_PATH}?key={SECRET_PATH}"),
    )
    .secret_header("authorization", SECRET_HEADER)
    .signing(signing.clone(), Schemes::BOTH)
    .build()
    .unwrap()
}

/// `ok` answers 200, `bad` 500, `flaky` fails `FAILING_AFTER` times then
/// answers 200.
fn replies() -> MockTransport {
    let flaky_left = Arc::new(Mutex::new(FAILING_AFTER));
    MockTransport::with_fn(move |req, _| {
        let path = req.uri().path();
        if path.starts_with("/bad") {
            MockReply::status(500)
        } else if path.starts_with("/flaky") {
            let mut left = flaky_left.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                MockReply::status(500)
            } else {
                MockReply::ok()
            }
        } else {
            MockReply::ok()
        }
    })
}

// ------------------------------------------------------------- capturing

#[derive(Debug, Clone)]
struct Seen {
    level: Level,
    message: String,
    fields: BTreeMap<String, String>,
    /// The innermost span the event was in.
    span: Option<String>,
}

#[derive(Debug, Clone)]
struct SpanSeen {
    name: String,
    fields: BTreeMap<String, String>,
    parent: Option<String>,
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

#[derive(Clone, Default)]
struct Capture {
    events: Arc<Mutex<Vec<Seen>>>,
    spans: Arc<Mutex<Vec<SpanSeen>>>,
    /// Everything a fmt layer wrote, to look for leaks.
    text: Arc<Mutex<Vec<u8>>>,
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let parent = ctx
            .span(id)
            .and_then(|s| s.parent())
            .map(|p| p.name().to_owned());
        self.spans.lock().unwrap().push(SpanSeen {
            name: attrs.metadata().name().to_owned(),
            fields: fields.0,
            parent,
        });
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or_default();
        self.events.lock().unwrap().push(Seen {
            level: *event.metadata().level(),
            message,
            fields: fields.0,
            span: ctx.event_span(event).map(|s| s.name().to_owned()),
        });
    }
}

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.text.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn events(&self, message: &str) -> Vec<Seen> {
        let all = self.events.lock().unwrap();
        all.iter()
            .filter(|e| e.message == message)
            .cloned()
            .collect()
    }

    /// Runs `f` with this capture as the thread's subscriber (at TRACE, and
    /// a fmt layer writing everything to `text`).
    fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let writer = self.clone();
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(move || writer.clone())
            .with_ansi(false);
        let subscriber = tracing_subscriber::registry().with(self.clone()).with(fmt);
        tracing::subscriber::with_default(subscriber, f)
    }
}

/// Runs `dispatcher` until nothing is due within a day.
async fn work_off(dispatcher: &Dispatcher, clock: &ManualClock) {
    let report = dispatcher
        .run_until_idle(clock.now() + Duration::from_secs(86_400), 100)
        .await
        .unwrap();
    assert!(report.idle, "{report:?}");
}

// ----------------------------------------------------------------- tracing

#[test]
fn tracing_shows_the_documented_events_levels_and_fields_and_no_secret() {
    let _serial = serial();
    let capture = Capture::default();
    let signing = SigningSecret::generate();
    capture.run(|| {
        block_on(async {
            let clock = ManualClock::at_unix(T0);
            let mock = replies();
            // The transport opens its own span, as an HTTP client does.
            let transport = transport_fn(move |request, options| {
                let mock = mock.clone();
                async move {
                    let span = tracing::info_span!("client.request");
                    let _entered = span.enter();
                    tracing::trace!("client sends");
                    hookwire::transport::Transport::send(&mock, request, options).await
                }
            });
            let dispatcher = Dispatcher::builder(transport, InMemoryStore::new())
                .clock(clock.clone())
                .policy(policy())
                .disable_after_dead(Some(1))
                .build()
                .unwrap();
            for (id, path) in [("ep_ok", "ok"), ("ep_bad", "bad")] {
                dispatcher
                    .add_endpoint(endpoint(id, path, &signing))
                    .await
                    .unwrap();
            }
            dispatcher
                .publish_json("ping", br#"{"n":1}"#.to_vec())
                .await
                .unwrap();
            work_off(&dispatcher, &clock).await;
            let test = dispatcher.test_endpoint(&ep("ep_bad")).await.unwrap();
            assert!(!test.success);
        })
    });

    // One span per attempt, opened before the request: the client's span
    // nests in it.
    let spans = capture.spans.lock().unwrap().clone();
    let attempts: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "hookwire.attempt")
        .collect();
    assert_eq!(attempts.len(), 4, "1 for ep_ok, 3 for ep_bad: {spans:#?}");
    for s in &attempts {
        assert_eq!(s.fields["http.request.method"], "POST");
        assert_eq!(s.fields["server.address"], "hooks.example.com");
        assert!(s.fields.contains_key("hookwire.delivery.id"));
        assert!(s.fields.contains_key("hookwire.attempt"));
    }
    let client: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "client.request")
        .collect();
    assert_eq!(client.len(), 5, "4 attempts and the connection test");
    let nested = client
        .iter()
        .filter(|s| s.parent.as_deref() == Some("hookwire.attempt"))
        .count();
    assert_eq!(nested, 4, "{client:#?}");

    // One event per attempt, inside its span.
    let ok = capture.events("attempt succeeded");
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].level, Level::DEBUG);
    assert_eq!(ok[0].fields["http.response.status_code"], "200");
    assert_eq!(ok[0].span.as_deref(), Some("hookwire.attempt"));
    let failed = capture.events("attempt failed");
    assert_eq!(failed.len(), 3);
    for e in &failed {
        assert_eq!(e.level, Level::INFO);
        assert_eq!(e.fields["http.response.status_code"], "500");
        assert_eq!(e.fields["error.type"], "500");
        assert_eq!(e.span.as_deref(), Some("hookwire.attempt"));
        assert!(e.fields.contains_key("duration_ms"));
    }

    // Warnings for what an operator acts on, with the reason.
    let dead = capture.events("delivery dead");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].level, Level::WARN);
    assert_eq!(dead[0].fields["hookwire.endpoint.id"], "ep_bad");
    assert_eq!(dead[0].fields["attempts"], "3");
    assert_eq!(dead[0].fields["reason"], "HTTP 500");
    let disabled = capture.events("endpoint disabled");
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0].level, Level::WARN);
    assert_eq!(disabled[0].fields["hookwire.endpoint.id"], "ep_bad");
    assert_eq!(
        disabled[0].fields["reason"],
        "1 deliveries in a row ended dead"
    );
    let tested = capture.events("endpoint tested");
    assert_eq!(tested.len(), 1);
    assert_eq!(tested[0].fields["http.response.status_code"], "500");

    // No secret and no full URL anywhere.
    let text = String::from_utf8(capture.text.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("delivery dead"),
        "the fmt layer saw the events"
    );
    let everything = format!(
        "{text}{:?}{:?}",
        capture.events.lock().unwrap(),
        capture.spans.lock().unwrap()
    );
    for leak in [
        SECRET_PATH,
        "sekrit",
        "https://",
        "/bad/",
        &signing.to_whsec(),
    ] {
        assert!(!everything.contains(leak), "{leak} leaked: {everything}");
    }
}

// --------------------------------------------------------- store outages

/// An in-memory store that fails every lease and next-due call while down.
#[derive(Debug, Clone, Default)]
struct Outage {
    inner: InMemoryStore,
    down: Arc<AtomicBool>,
}

impl Outage {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::new(
                StoreErrorKind::Unavailable,
                std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "injected: db gone"),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for Outage {
    async fn put_endpoint(&self, endpoint: Endpoint) -> Result<(), StoreError> {
        self.inner.put_endpoint(endpoint).await
    }
    async fn endpoint(&self, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        self.inner.endpoint(id).await
    }
    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        self.inner.endpoints().await
    }
    async fn subscribers(&self, kind: &str) -> Result<Vec<EndpointId>, StoreError> {
        self.inner.subscribers(kind).await
    }
    async fn set_endpoint_enabled(
        &self,
        id: &EndpointId,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        self.inner.set_endpoint_enabled(id, enabled).await
    }
    async fn delete_endpoint(&self, id: &EndpointId) -> Result<bool, StoreError> {
        self.inner.delete_endpoint(id).await
    }
    async fn insert_event(
        &self,
        event: NewEvent,
        deliveries: Vec<NewDelivery>,
    ) -> Result<bool, StoreError> {
        self.inner.insert_event(event, deliveries).await
    }
    async fn claim_once(
        &self,
        key: &str,
        event: NewEvent,
        delivery: NewDelivery,
    ) -> Result<Claim, StoreError> {
        self.inner.claim_once(key, event, delivery).await
    }
    async fn record_skip(&self, skip: SkipRecord) -> Result<(), StoreError> {
        self.inner.record_skip(skip).await
    }
    async fn skips(&self, limit: usize) -> Result<Vec<SkipRecord>, StoreError> {
        self.inner.skips(limit).await
    }
    fn enforces_flow_control(&self) -> bool {
        self.inner.enforces_flow_control()
    }
    async fn pause_endpoint(&self, id: &EndpointId, until: SystemTime) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.pause_endpoint(id, until).await
    }
    async fn lease(&self, request: LeaseRequest) -> Result<Vec<Leased>, StoreError> {
        self.check()?;
        self.inner.lease(request).await
    }
    async fn next_due(&self, now: SystemTime) -> Result<Option<SystemTime>, StoreError> {
        self.check()?;
        self.inner.next_due(now).await
    }
    async fn finish_attempt(
        &self,
        lease: &Lease,
        attempt: AttemptRecord,
        next: NextState,
    ) -> Result<FinishReport, StoreError> {
        self.inner.finish_attempt(lease, attempt, next).await
    }
    async fn finish_attempts(&self, batch: Vec<Finish>) -> Vec<Result<FinishReport, StoreError>> {
        self.inner.finish_attempts(batch).await
    }
    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        self.inner.release(lease).await
    }
    async fn defer(
        &self,
        lease: &Lease,
        until: SystemTime,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.inner.defer(lease, until, reason).await
    }
    async fn abandon(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        self.inner.abandon(lease, reason).await
    }
    async fn delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        self.inner.delivery(id).await
    }
    async fn attempts(&self, id: &DeliveryId) -> Result<Vec<AttemptRecord>, StoreError> {
        self.inner.attempts(id).await
    }
    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        self.inner.deliveries(filter).await
    }
    async fn prune_succeeded(&self, before: SystemTime, max: usize) -> Result<usize, StoreError> {
        self.inner.prune_succeeded(before, max).await
    }
    async fn redeliver(&self, id: &DeliveryId, now: SystemTime) -> Result<bool, StoreError> {
        self.inner.redeliver(id, now).await
    }
}

#[test]
fn a_failing_store_warns_each_time_and_errors_once_when_delivery_stops() {
    let _serial = serial();
    let capture = Capture::default();
    let store = Outage::default();
    let events = Arc::new(Mutex::new(Vec::new()));
    capture.run(|| {
        block_on(async {
            let seen = Arc::clone(&events);
            let dispatcher =
                Dispatcher::builder(MockTransport::always(MockReply::ok()), store.clone())
                    .clock(ManualClock::at_unix(T0))
                    .on_event(move |e| seen.lock().unwrap().push(e.clone()))
                    .build()
                    .unwrap();
            store.down.store(true, Ordering::SeqCst);
            for _ in 0..5 {
                assert!(dispatcher.run_due(10).await.is_err());
            }
            store.down.store(false, Ordering::SeqCst);
            dispatcher.run_due(10).await.unwrap();
            dispatcher.run_due(10).await.unwrap();
        })
    });
    let failed = capture.events("store call failed");
    assert_eq!(failed.len(), 5);
    for e in &failed {
        assert_eq!(e.level, Level::WARN);
        assert_eq!(e.fields["operation"], "leasing");
        // The whole chain: the store's error and its cause.
        assert!(e.fields["error"].contains("unavailable"), "{:?}", e.fields);
        assert!(
            e.fields["error"].contains("injected: db gone"),
            "{:?}",
            e.fields
        );
    }
    let stopped = capture.events("delivery stopped: the store keeps failing");
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0].level, Level::ERROR);
    assert_eq!(capture.events("store recovered: delivery goes on").len(), 1);
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        matches!(&events[0], OpsEvent::StoreUnavailable { error } if error.contains("injected: db gone"))
    );
    assert_eq!(events[1], OpsEvent::StoreRecovered);
}

// ------------------------------------------------------ operational events

#[test]
fn each_operational_event_fires_once_with_its_fields() {
    let _serial = serial();
    let events = Arc::new(Mutex::new(Vec::<OpsEvent>::new()));
    let store = Outage::default();
    let signing = SigningSecret::generate();
    block_on(async {
        let clock = ManualClock::at_unix(T0);
        let seen = Arc::clone(&events);
        let dispatcher = Dispatcher::builder(replies(), store.clone())
            .clock(clock.clone())
            // Enough attempts for the flaky endpoint to come back.
            .policy(
                Policy::custom([60; 6].map(Duration::from_secs))
                    .unwrap()
                    .with_jitter(0.0)
                    .unwrap(),
            )
            .disable_after_dead(Some(1))
            .on_event(move |e| seen.lock().unwrap().push(e.clone()))
            .build()
            .unwrap();
        for (id, path) in [("ep_ok", "ok"), ("ep_bad", "bad"), ("ep_flaky", "flaky")] {
            dispatcher
                .add_endpoint(endpoint(id, path, &signing))
                .await
                .unwrap();
        }
        dispatcher
            .publish_json("ping", br#"{"n":1}"#.to_vec())
            .await
            .unwrap();
        work_off(&dispatcher, &clock).await;
        // More work for the disabled endpoint and the recovered one: no
        // second event.
        dispatcher
            .publish_json("ping", br#"{"n":2}"#.to_vec())
            .await
            .unwrap();
        work_off(&dispatcher, &clock).await;

        store.down.store(true, Ordering::SeqCst);
        for _ in 0..6 {
            assert!(dispatcher.run_due(10).await.is_err());
        }
        store.down.store(false, Ordering::SeqCst);
        for _ in 0..3 {
            dispatcher.run_due(10).await.unwrap();
        }
    });
    let events = events.lock().unwrap().clone();
    let kinds: Vec<_> = events.iter().map(OpsEvent::kind).collect();
    assert_eq!(
        kinds,
        [
            "endpoint.recovered",
            "delivery.dead",
            "endpoint.disabled",
            "store.unavailable",
            "store.recovered"
        ],
        "{events:#?}"
    );
    let dead = events
        .iter()
        .find_map(|e| match e {
            OpsEvent::DeliveryDead {
                delivery,
                endpoint,
                attempts,
                reason,
            } => Some((
                delivery.clone(),
                endpoint.clone(),
                *attempts,
                reason.clone(),
            )),
            _ => None,
        })
        .unwrap();
    assert_eq!(dead.1, ep("ep_bad"));
    assert_eq!(dead.2, 7);
    assert_eq!(dead.3, "HTTP 500");
    let deliveries = block_on(store.deliveries(&DeliveryFilter::all(10))).unwrap();
    assert!(deliveries
        .iter()
        .any(|d| d.id == dead.0 && d.endpoint_id == ep("ep_bad")));
    assert!(events.contains(&OpsEvent::EndpointDisabled {
        endpoint: ep("ep_bad"),
        reason: "1 deliveries in a row ended dead".into(),
    }));
    assert!(events.contains(&OpsEvent::EndpointRecovered {
        endpoint: ep("ep_flaky"),
        after_failures: FAILING_AFTER,
    }));
    assert!(
        matches!(&events[3], OpsEvent::StoreUnavailable { error } if error.contains("injected: db gone"))
    );
}

#[test]
fn operational_events_go_out_as_signed_webhooks() {
    let _serial = serial();
    let forwarder = OpsForwarder::new();
    let ops_secret = SigningSecret::generate();
    let operator = MockTransport::always(MockReply::ok());
    let clock = ManualClock::at_unix(T0);
    block_on(async {
        let dispatcher = Dispatcher::builder(replies(), InMemoryStore::new())
            .clock(clock.clone())
            .policy(policy())
            .disable_after_dead(Some(1))
            .on_event(forwarder.handler())
            .build()
            .unwrap();
        dispatcher
            .add_endpoint(endpoint("ep_bad", "bad", &SigningSecret::generate()))
            .await
            .unwrap();
        dispatcher
            .publish_json("ping", br#"{"n":1}"#.to_vec())
            .await
            .unwrap();
        work_off(&dispatcher, &clock).await;

        let ops = Dispatcher::builder(operator.clone(), InMemoryStore::new())
            .clock(clock.clone())
            .build()
            .unwrap();
        ops.add_endpoint(
            Endpoint::builder("operator", "https://ops.example.com/hookwire")
                .events(["delivery.dead", "endpoint.disabled"])
                .signing(ops_secret.clone(), Schemes::BOTH)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(forwarder.pending(), 2);
        assert_eq!(forwarder.forward(&ops).await.unwrap(), 2);
        assert_eq!(forwarder.pending(), 0);
        let report = ops.run_due(10).await.unwrap();
        assert_eq!(report.succeeded, 2);
    });
    let verifier = Verifier::new(ops_secret).with_clock(clock.clone());
    let bodies: Vec<serde_json::Value> = operator
        .requests()
        .iter()
        .map(|r| {
            verifier
                .verify(&r.headers, &r.body)
                .expect("signed by the operator's secret");
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect();
    assert_eq!(bodies[0]["type"], "delivery.dead");
    assert_eq!(bodies[0]["endpoint"], "ep_bad");
    assert_eq!(bodies[0]["attempts"], 3);
    assert_eq!(bodies[0]["reason"], "HTTP 500");
    assert_eq!(bodies[1]["type"], "endpoint.disabled");
    assert_eq!(bodies[1]["reason"], "1 deliveries in a row ended dead");
    // A wrong secret does not verify.
    let wrong = Verifier::new(SigningSecret::generate()).with_clock(clock);
    let r = &operator.requests()[0];
    assert!(wrong.verify(&r.headers, &r.body).is_err());
}

// ----------------------------------------------------------------- metrics

#[test]
fn metrics_have_the_documented_names_and_values() {
    let _serial = serial();
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use metrics_util::MetricKind;

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let signing = SigningSecret::generate();
    metrics::with_local_recorder(&recorder, || {
        hookwire::metrics::describe();
        block_on(async {
            let clock = ManualClock::at_unix(T0);
            let dispatcher = Dispatcher::builder(replies(), InMemoryStore::new())
                .clock(clock.clone())
                .policy(policy())
                .disable_after_dead(Some(1))
                .build()
                .unwrap();
            for (id, path) in [("ep_ok", "ok"), ("ep_bad", "bad")] {
                dispatcher
                    .add_endpoint(endpoint(id, path, &signing))
                    .await
                    .unwrap();
            }
            dispatcher
                .publish_json("ping", br#"{"n":1}"#.to_vec())
                .await
                .unwrap();
            // Delivered 5 s after publish.
            clock.advance(Duration::from_secs(5));
            work_off(&dispatcher, &clock).await;
        })
    });
    let mut seen: BTreeMap<String, (MetricKind, DebugValue)> = BTreeMap::new();
    let mut units = BTreeMap::new();
    for (key, unit, _help, value) in snapshotter.snapshot().into_vec() {
        let (kind, key) = key.into_parts();
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        for l in &labels {
            assert!(
                l.starts_with("endpoint=ep_") || l.starts_with("outcome="),
                "unbounded label {l}"
            );
        }
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        units.insert(key.name().to_owned(), unit);
        seen.insert(name, (kind, value));
    }
    let counter = |name: &str| match seen.get(name) {
        Some((MetricKind::Counter, DebugValue::Counter(n))) => *n,
        other => panic!("{name}: {other:?} in {:#?}", seen.keys()),
    };
    let histogram = |name: &str| match seen.get(name) {
        Some((MetricKind::Histogram, DebugValue::Histogram(v))) => {
            v.iter().map(|x| x.into_inner()).collect::<Vec<f64>>()
        }
        other => panic!("{name}: {other:?} in {:#?}", seen.keys()),
    };
    assert_eq!(
        counter("hookwire_attempts_total{endpoint=ep_ok,outcome=success}"),
        1
    );
    assert_eq!(
        counter("hookwire_attempts_total{endpoint=ep_bad,outcome=failed}"),
        3
    );
    assert_eq!(
        counter("hookwire_deliveries_succeeded_total{endpoint=ep_ok}"),
        1
    );
    assert_eq!(
        counter("hookwire_deliveries_dead_total{endpoint=ep_bad}"),
        1
    );
    assert_eq!(
        counter("hookwire_endpoints_disabled_total{endpoint=ep_bad}"),
        1
    );
    assert_eq!(
        histogram("hookwire_attempt_duration_seconds{endpoint=ep_bad,outcome=failed}").len(),
        3
    );
    assert_eq!(
        histogram("hookwire_delivery_latency_seconds{endpoint=ep_ok}"),
        [5.0]
    );
    // The mock answers at once, so no request waited in flight; if the
    // gauge was touched, it is back at 0.
    match seen.get("hookwire_deliveries_in_flight{}") {
        Some((MetricKind::Gauge, DebugValue::Gauge(v))) => assert_eq!(v.into_inner(), 0.0),
        None => {}
        other => panic!("in flight: {other:?}"),
    }
    assert_eq!(
        units.get("hookwire_attempt_duration_seconds"),
        Some(&Some(metrics::Unit::Seconds))
    );
    assert!(!seen
        .keys()
        .any(|k| k.contains("hooks.example.com") || k.contains(SECRET_PATH)));
}

// ---------------------------------------------------------- run_until_idle

#[test]
fn run_until_idle_works_off_retries_within_its_bound() {
    let _serial = serial();
    block_on(async {
        let clock = ManualClock::at_unix(T0);
        let transport = MockTransport::new([MockReply::status(500), MockReply::status(500)])
            .with_default(MockReply::ok());
        let dispatcher = Dispatcher::builder(transport.clone(), InMemoryStore::new())
            .clock(clock.clone())
            .policy(policy())
            .build()
            .unwrap();
        dispatcher
            .add_endpoint(endpoint("ep_1", "ok", &SigningSecret::generate()))
            .await
            .unwrap();
        dispatcher
            .publish_json("ping", br#"{"n":1}"#.to_vec())
            .await
            .unwrap();
        let start = clock.now();

        // A bound of one run: the first attempt only, not idle.
        let report = dispatcher
            .run_until_idle(start + Duration::from_secs(3600), 1)
            .await
            .unwrap();
        assert_eq!((report.runs, report.idle), (1, false));
        assert_eq!(report.total.retried, 1);

        // Not before the retry's time: idle at once, the clock where it was.
        let report = dispatcher
            .run_until_idle(start + Duration::from_secs(30), 10)
            .await
            .unwrap();
        assert!(report.idle);
        assert_eq!(report.total.attempts.len(), 0);
        assert_eq!(report.next_due, Some(start + Duration::from_secs(60)));
        assert_eq!(clock.now(), start);

        // Within the hour: both retries, the clock jumped to each.
        let report = dispatcher
            .run_until_idle(start + Duration::from_secs(3600), 10)
            .await
            .unwrap();
        assert!(report.idle, "{report:?}");
        assert_eq!(report.total.retried, 1);
        assert_eq!(report.total.succeeded, 1);
        assert_eq!(report.next_due, None);
        assert_eq!(clock.now(), start + Duration::from_secs(120));
        assert_eq!(transport.request_count(), 3);
    });
}

/// A clock that cannot jump: run_until_idle stops at what is due now, and
/// says when the next is.
#[test]
fn run_until_idle_with_a_real_clock_stops_at_the_next_due_time() {
    let _serial = serial();
    #[derive(Debug)]
    struct Fixed(SystemTime);
    impl Clock for Fixed {
        fn now(&self) -> SystemTime {
            self.0
        }
    }
    block_on(async {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(T0);
        let dispatcher = Dispatcher::builder(
            MockTransport::always(MockReply::status(500)),
            InMemoryStore::new(),
        )
        .clock(Fixed(start))
        .policy(policy())
        .build()
        .unwrap();
        dispatcher
            .add_endpoint(endpoint("ep_1", "bad", &SigningSecret::generate()))
            .await
            .unwrap();
        dispatcher
            .publish_json("ping", b"{}".to_vec())
            .await
            .unwrap();
        let report = dispatcher
            .run_until_idle(start + Duration::from_secs(3600), 10)
            .await
            .unwrap();
        assert!(!report.idle);
        assert_eq!(report.runs, 2, "one that attempted, one that found nothing");
        assert_eq!(report.total.retried, 1);
        assert_eq!(report.next_due, Some(start + Duration::from_secs(60)));
    });
}

#[allow(dead_code)]
fn _unused(_: WebhookResponse) {}
