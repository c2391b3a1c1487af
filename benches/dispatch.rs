//! Publish + `run_due` through `InMemoryStore` and a transport that answers
//! 200 at once, for 1 KiB payloads to 1 and 10 endpoints, against a baseline
//! measured in the same run: a bare loop that serializes the event once and
//! signs each delivery the same way (hex + Standard Webhooks), and nothing else.
//!
//! A second reference line, **api_floor**, does what the baseline does plus
//! the least any engine with hookwire's ports must do per delivery, and
//! nothing of storage: an event id and a delivery id, an `http::Request`
//! carrying the dispatcher's headers (laid out once, as the dispatcher does),
//! and one call through a `&dyn Transport`. Between baseline and floor is
//! the cost of the API's shape; between floor and hookwire, the engine's
//! bookkeeping (store, leases, attempt records, retention, reports).
//!
//! Also prints the memory a queued delivery costs beyond its shared payload,
//! measured with a counting allocator that counts only during that
//! measurement (a load of one flag otherwise), so the timed runs pay nothing
//! for it.
//!
//! `cargo bench --bench dispatch -- --quick`
//!
//! With `--features metrics,tracing`, a no-op metrics recorder and a no-op
//! tracing subscriber are installed first. The subscriber enables every span
//! and event at every level (so hookwire builds each span, each event and
//! its fields, and dispatches them) and keeps nothing: what is measured is
//! the instrumentation's own cost, not a subscriber's. With
//! `HOOKWIRE_BENCH_SUBSCRIBER=registry`, the bare `tracing_subscriber`
//! registry is installed instead (it stores every span in its slab), for
//! comparison. Compare the `hookwire` lines of the runs (BENCHMARKS.md).

#![allow(missing_docs)] // criterion_group! generates an undocumented function
#![allow(unsafe_code)] // the counting allocator below

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use hookwire::clock::ManualClock;
use hookwire::dispatch::Dispatcher;
use hookwire::endpoint::Endpoint;
use hookwire::id::DeliveryId;
use hookwire::id::EventId;
use hookwire::signature::{Schemes, Signer, SigningSecret};
use hookwire::store::InMemoryStore;
use hookwire::transport::{transport_fn, SendOptions, Transport, WebhookResponse};

/// The system allocator, counting bytes held while `COUNTING` is set.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static HELD: AtomicIsize = AtomicIsize::new(0);

fn count(delta: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        HELD.fetch_add(delta, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are
// updated beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const EVENTS_PER_ITER: usize = 100;

/// A 1 KiB experience-like event.
#[derive(serde::Serialize)]
struct Event {
    action: &'static str,
    timestamp: i64,
    padding: String,
}

impl hookwire::model::Event for Event {
    fn kind(&self) -> &str {
        self.action
    }
}

fn event(i: i64) -> Event {
    let mut e = Event {
        action: "updateExperience",
        timestamp: 1_771_515_000_000 + i,
        padding: String::new(),
    };
    let len = serde_json::to_vec(&e).unwrap().len();
    e.padding = "x".repeat(1024 - len);
    e
}

fn secret() -> SigningSecret {
    SigningSecret::from_bytes(vec![42u8; 32]).unwrap()
}

fn dispatcher(endpoints: usize) -> Dispatcher {
    dispatcher_with(endpoints, true)
}

/// `signed: false` builds endpoints that sign nothing: what is left is the
/// engine's own work per delivery (store, lease, request, send, record).
fn dispatcher_with(endpoints: usize, signed: bool) -> Dispatcher {
    let transport = transport_fn(|_req, _opts| async { Ok(WebhookResponse::new(Bytes::new())) });
    let d = Dispatcher::builder(transport, InMemoryStore::new())
        .clock(ManualClock::at_unix(1_771_515_000))
        .build()
        .unwrap();
    futures::executor::block_on(async {
        for i in 0..endpoints {
            let mut ep =
                Endpoint::builder(format!("ep_{i}"), format!("https://hooks.example.com/{i}"));
            if signed {
                ep = ep.signing(secret(), Schemes::BOTH);
            }
            let ep = ep.build().unwrap();
            d.add_endpoint(ep).await.unwrap();
        }
    });
    d
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("dispatch_1KiB");
    group.measurement_time(Duration::from_secs(3));
    for endpoints in [1usize, 10] {
        let deliveries = (EVENTS_PER_ITER * endpoints) as u64;
        group.throughput(Throughput::Elements(deliveries));

        // Built outside the timing: both sides only serialize them.
        let events: Vec<Event> = (0..EVENTS_PER_ITER).map(|i| event(i as i64)).collect();
        let signer = Signer::new(secret());
        let ids: Vec<DeliveryId> = (0..endpoints).map(|_| DeliveryId::generate()).collect();
        group.bench_with_input(
            BenchmarkId::new("baseline_serialize_once_sign_each", endpoints),
            &endpoints,
            |b, _| {
                b.iter(|| {
                    for e in &events {
                        let body = Bytes::from(serde_json::to_vec(e).unwrap());
                        for id in &ids {
                            let mut headers = http::HeaderMap::new();
                            signer.sign_into(&mut headers, Schemes::BOTH, id, 1_771_515_000, &body);
                            black_box(headers);
                        }
                    }
                })
            },
        );

        let transport =
            transport_fn(|_req, _opts| async { Ok(WebhookResponse::new(Bytes::new())) });
        let transport: &dyn Transport = &transport;
        let template = floor_template();
        let uri: http::Uri = "https://hooks.example.com/0".parse().unwrap();
        group.bench_with_input(
            BenchmarkId::new("api_floor", endpoints),
            &endpoints,
            |b, _| {
                b.iter(|| {
                    futures::executor::block_on(async {
                        for e in &events {
                            black_box(EventId::generate());
                            let body = Bytes::from(serde_json::to_vec(e).unwrap());
                            for _ in 0..endpoints {
                                let id = DeliveryId::generate();
                                let request = floor_request(&template, &uri, &signer, &id, &body);
                                let sent = transport.send(request, SendOptions::default()).await;
                                black_box(sent.unwrap());
                            }
                        }
                    })
                })
            },
        );

        // One long-lived dispatcher, as in a host: the store keeps its
        // default retention (the most recent 1,000 succeeded deliveries), so
        // after warm-up every iteration also removes as many old deliveries
        // as it adds; that work is timed too. The unsigned line is a
        // diagnostic with no target: the same without signatures, so the
        // engine's own cost per delivery can be read off beside signing's.
        for (name, signed) in [
            ("hookwire_publish_run_due", true),
            ("hookwire_unsigned_diagnostic", false),
        ] {
            let d = dispatcher_with(endpoints, signed);
            group.bench_with_input(BenchmarkId::new(name, endpoints), &endpoints, |b, _| {
                b.iter(|| {
                    futures::executor::block_on(async {
                        for e in &events {
                            d.publish(e).await.unwrap();
                        }
                        let report = d.run_due(usize::MAX).await.unwrap();
                        assert_eq!(report.succeeded as u64, deliveries);
                        black_box(report);
                    })
                })
            });
        }
    }
    group.finish();
}

/// The dispatcher's request headers, in the order its template lays them out:
/// two fixed ones, then one place per per-attempt value.
fn floor_template() -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    h.insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static("hookwire"),
    );
    for name in [
        "idempotency-key",
        "webhook-id",
        "x-intelligems-signature",
        "webhook-signature",
        "webhook-timestamp",
    ] {
        h.insert(
            http::HeaderName::from_static(name),
            http::HeaderValue::from_static(""),
        );
    }
    h
}

/// One attempt's request, built the cheapest way the public APIs allow: the
/// template cloned, its places filled with the id and both signatures.
fn floor_request(
    template: &http::HeaderMap,
    uri: &http::Uri,
    signer: &Signer,
    id: &DeliveryId,
    body: &Bytes,
) -> http::Request<Bytes> {
    let ts = 1_771_515_000;
    let values = [
        http::HeaderValue::from_str(id.as_str()).unwrap(),
        http::HeaderValue::from_str(id.as_str()).unwrap(),
        http::HeaderValue::try_from(signer.hex_signature(body).unwrap()).unwrap(),
        http::HeaderValue::try_from(signer.standard_signature(id, ts, body)).unwrap(),
        http::HeaderValue::from(ts),
    ];
    let mut headers = template.clone();
    for ((_, place), value) in headers.iter_mut().skip(2).zip(values) {
        *place = value;
    }
    let mut request = http::Request::new(body.clone());
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = uri.clone();
    *request.headers_mut() = headers;
    request
}

/// Bytes held per queued delivery beyond the payload (which is stored once).
fn queued_memory() {
    const EVENTS: usize = 2_000;
    const ENDPOINTS: usize = 10;
    let d = dispatcher(ENDPOINTS);
    let events: Vec<Event> = (0..EVENTS).map(|i| event(i as i64)).collect();
    HELD.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::SeqCst);
    futures::executor::block_on(async {
        for e in &events {
            d.publish(e).await.unwrap();
        }
    });
    COUNTING.store(false, Ordering::SeqCst);
    let held = HELD.load(Ordering::Relaxed) as i64;
    let payloads = (EVENTS * 1024) as i64;
    let per_delivery = (held - payloads) as f64 / (EVENTS * ENDPOINTS) as f64;
    println!(
        "queued memory: {held} bytes held for {EVENTS} events x {ENDPOINTS} endpoints; \
         payloads {payloads} bytes (stored once); {per_delivery:.0} bytes per queued delivery beyond the payload (target <= 512)"
    );
    assert!(
        per_delivery <= 512.0,
        "queued delivery costs {per_delivery:.0} bytes"
    );
    black_box(d);
}

criterion_group!(benches, bench);

/// Installs the no-op recorder and the subscriber (see the module docs).
fn instrument() {
    #[cfg(feature = "metrics")]
    {
        metrics::set_global_recorder(metrics::NoopRecorder).expect("the only recorder");
        eprintln!("instrumented: a no-op metrics recorder is installed");
    }
    #[cfg(feature = "tracing")]
    {
        if std::env::var("HOOKWIRE_BENCH_SUBSCRIBER").as_deref() == Ok("registry") {
            tracing::subscriber::set_global_default(tracing_subscriber::registry())
                .expect("the only subscriber");
            eprintln!("instrumented: a tracing registry takes every span and event");
        } else {
            tracing::subscriber::set_global_default(noop::Subscriber).expect("the only subscriber");
            eprintln!("instrumented: a no-op tracing subscriber enables every span and event");
        }
    }
}

/// A tracing subscriber that enables everything and keeps nothing.
#[cfg(feature = "tracing")]
mod noop {
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata};

    pub struct Subscriber;

    impl tracing::Subscriber for Subscriber {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}

/// With `HOOKWIRE_BENCH_ITERATIONS=N`: N iterations of the 10-endpoint
/// `hookwire_publish_run_due` line and nothing else (no criterion), for
/// counting instructions under `valgrind --tool=callgrind`, a figure a
/// loaded machine does not disturb. The difference between two counts (N
/// and 2N) over N is the cost of one iteration, without the setup.
fn fixed_iterations(n: usize) {
    let endpoints = 10;
    let events: Vec<Event> = (0..EVENTS_PER_ITER).map(|i| event(i as i64)).collect();
    let d = dispatcher_with(endpoints, true);
    for _ in 0..n {
        futures::executor::block_on(async {
            for e in &events {
                d.publish(e).await.unwrap();
            }
            let report = d.run_due(usize::MAX).await.unwrap();
            assert_eq!(report.succeeded, EVENTS_PER_ITER * endpoints);
            black_box(report);
        })
    }
}

fn main() {
    // `HOOKWIRE_BENCH_UNINSTRUMENTED=1`: the features compiled in, nothing
    // installed, to tell the instrumentation's cost from the build's.
    if std::env::var_os("HOOKWIRE_BENCH_UNINSTRUMENTED").is_none() {
        instrument();
    }
    if let Ok(n) = std::env::var("HOOKWIRE_BENCH_ITERATIONS") {
        fixed_iterations(n.parse().expect("HOOKWIRE_BENCH_ITERATIONS: a count"));
        return;
    }
    queued_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
