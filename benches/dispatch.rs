//! Publish + `run_due` through `InMemoryStore` and a transport that answers
//! 200 at once, for 1 KiB payloads to 1 and 10 endpoints, against a baseline
//! measured in the same run: a bare loop that serializes the event once and
//! signs each delivery the same way (hex + Standard Webhooks), and nothing else.
//!
//! Also prints the memory a queued delivery costs beyond its shared payload,
//! measured with a counting allocator.
//!
//! `cargo bench --bench dispatch -- --quick`

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::alloc::System;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use hookwire::clock::ManualClock;
use hookwire::dispatch::Dispatcher;
use hookwire::endpoint::Endpoint;
use hookwire::id::DeliveryId;
use hookwire::signature::{Schemes, Signer, SigningSecret};
use hookwire::store::InMemoryStore;
use hookwire::transport::{transport_fn, WebhookResponse};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

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
    let transport = transport_fn(|_req, _opts| async { Ok(WebhookResponse::new(Bytes::new())) });
    let d = Dispatcher::builder(transport, InMemoryStore::new())
        .clock(ManualClock::at_unix(1_771_515_000))
        .build();
    futures::executor::block_on(async {
        for i in 0..endpoints {
            let ep = Endpoint::builder(format!("ep_{i}"), format!("https://hooks.example.com/{i}"))
                .signing(secret(), Schemes::BOTH)
                .build()
                .unwrap();
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

        let signer = Signer::new(secret());
        let ids: Vec<DeliveryId> = (0..endpoints).map(|_| DeliveryId::generate()).collect();
        group.bench_with_input(
            BenchmarkId::new("baseline_serialize_once_sign_each", endpoints),
            &endpoints,
            |b, _| {
                b.iter(|| {
                    for i in 0..EVENTS_PER_ITER {
                        let body = Bytes::from(serde_json::to_vec(&event(i as i64)).unwrap());
                        for id in &ids {
                            let mut headers = http::HeaderMap::new();
                            signer.sign_into(&mut headers, Schemes::BOTH, id, 1_771_515_000, &body);
                            black_box(headers);
                        }
                    }
                })
            },
        );

        // One long-lived dispatcher, as in a host: the store keeps its
        // default retention (the most recent 10,000 succeeded deliveries), so
        // after warm-up every iteration also removes as many old deliveries
        // as it adds; that work is timed too.
        let d = dispatcher(endpoints);
        group.bench_with_input(
            BenchmarkId::new("hookwire_publish_run_due", endpoints),
            &endpoints,
            |b, _| {
                b.iter(|| {
                    futures::executor::block_on(async {
                        for i in 0..EVENTS_PER_ITER {
                            d.publish(&event(i as i64)).await.unwrap();
                        }
                        let report = d.run_due(usize::MAX).await.unwrap();
                        assert_eq!(report.succeeded as u64, deliveries);
                        black_box(report);
                    })
                })
            },
        );
    }
    group.finish();
}

/// Bytes held per queued delivery beyond the payload (which is stored once).
fn queued_memory() {
    const EVENTS: usize = 2_000;
    const ENDPOINTS: usize = 10;
    let d = dispatcher(ENDPOINTS);
    let events: Vec<Event> = (0..EVENTS).map(|i| event(i as i64)).collect();
    let reg = Region::new(GLOBAL);
    futures::executor::block_on(async {
        for e in &events {
            d.publish(e).await.unwrap();
        }
    });
    let stats = reg.change();
    let held = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64;
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

fn main() {
    queued_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
