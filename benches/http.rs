//! Deliveries per second through the tokio `Worker` and `ReqwestTransport` to
//! a minimal loopback HTTP server, against a baseline measured in the same
//! run: a bare reqwest loop sending the same signed requests with the same
//! concurrency. Both are timed until the server has answered every request.
//!
//! `cargo bench --bench http -- --quick`
#![allow(missing_docs)]
// criterion_group! generates an undocumented function
// This program measures real time; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use hookwire::dispatch::Dispatcher;
use hookwire::endpoint::Endpoint;
use hookwire::id::DeliveryId;
use hookwire::signature::{Schemes, Signer, SigningSecret};
use hookwire::store::InMemoryStore;
use hookwire::transport::ReqwestTransport;
use hookwire::worker::Worker;

#[path = "support/loopback.rs"]
#[allow(dead_code)]
mod loopback;

const DELIVERIES: usize = 1000;
/// The dispatcher's default concurrency: the baseline keeps as many in flight.
/// hookwire runs with its default settings throughout (dispatcher and worker).
const CONCURRENCY: usize = 32;

fn body(i: usize) -> Bytes {
    let mut s = format!(r#"{{"action":"updateExperience","timestamp":{i},"padding":""#);
    s.push_str(&"x".repeat(1000 - s.len()));
    s.push_str("\"}");
    Bytes::from(s)
}

async fn wait_for(served: &loopback::Served, target: usize) {
    while served.total() < target {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let served = Arc::new(loopback::Served::default());
    let addr = rt.block_on(loopback::start(served.clone(), |_| (Duration::ZERO, 200)));
    let url = format!("http://{addr}/hook");
    let secret = SigningSecret::from_bytes(vec![7u8; 32]).unwrap();

    let mut group = c.benchmark_group("http_1KiB");
    group.throughput(Throughput::Elements(DELIVERIES as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));

    // Baseline: a bare reqwest loop with the same signed requests and concurrency.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signer = Signer::new(secret.clone());
    group.bench_function(
        BenchmarkId::new("baseline_bare_reqwest", CONCURRENCY),
        |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let target = served.total() + DELIVERIES;
                        futures::stream::iter(0..DELIVERIES)
                            .map(|i| {
                                let (client, signer, url) = (&client, &signer, &url);
                                async move {
                                    let body = body(i);
                                    let mut headers = http::HeaderMap::new();
                                    let ts = UNIX_EPOCH.elapsed().unwrap().as_secs() as i64;
                                    signer.sign_into(
                                        &mut headers,
                                        Schemes::BOTH,
                                        &DeliveryId::generate(),
                                        ts,
                                        &body,
                                    );
                                    headers.insert(
                                        "content-type",
                                        http::HeaderValue::from_static("application/json"),
                                    );
                                    let response = client
                                        .post(url)
                                        .headers(headers)
                                        .body(body)
                                        .send()
                                        .await
                                        .unwrap();
                                    let _ = response.bytes().await;
                                }
                            })
                            .buffer_unordered(CONCURRENCY)
                            .collect::<Vec<()>>()
                            .await;
                        wait_for(&served, target).await;
                    }
                    start.elapsed()
                })
            })
        },
    );

    // hookwire: publish, and let the worker deliver through ReqwestTransport.
    // Each iteration gets a fresh store and worker (built outside the timing,
    // so the queue does not accumulate every earlier iteration); the transport,
    // and so its connection pool, is shared, as the baseline shares its client.
    let transport = rt.block_on(async { ReqwestTransport::builder().build().unwrap() });
    let endpoint = Endpoint::builder("ep_bench", url.as_str())
        .signing(secret.clone(), Schemes::BOTH)
        .build()
        .unwrap();
    group.bench_function(
        BenchmarkId::new("hookwire_worker_reqwest", CONCURRENCY),
        |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let dispatcher =
                            Dispatcher::builder(transport.clone(), InMemoryStore::new())
                                .allow_private_targets(true) // the bench server's loopback
                                .build()
                                .unwrap();
                        dispatcher.add_endpoint(endpoint.clone()).await.unwrap();
                        let worker = Worker::new(dispatcher.clone()).spawn().unwrap();
                        let target = served.total() + DELIVERIES;
                        let start = Instant::now();
                        for i in 0..DELIVERIES {
                            dispatcher
                                .publish_json("updateExperience", body(i))
                                .await
                                .unwrap();
                        }
                        wait_for(&served, target).await;
                        total += start.elapsed();
                        let summary = worker.shutdown().await;
                        assert_eq!(summary.dead, 0);
                    }
                    total
                })
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
