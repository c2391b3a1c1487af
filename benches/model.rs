//! Parse and serialize the three seed experience events.
//!
//! Run with `cargo bench --bench model`.

// criterion_group! and criterion_main! generate undocumented public items.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hookwire::model::ExperienceEvent;

const FIXTURES: [(&str, &str); 3] = [
    (
        "createExperience",
        include_str!("../tests/fixtures/experience/createExperience.json"),
    ),
    (
        "startExperience",
        include_str!("../tests/fixtures/experience/startExperience.json"),
    ),
    (
        "endExperience",
        include_str!("../tests/fixtures/experience/endExperience.json"),
    ),
];

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for (name, text) in FIXTURES {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), text, |b, text| {
            b.iter(|| ExperienceEvent::from_json(text.as_bytes()).unwrap());
        });
    }
    group.finish();
}

fn serialize(c: &mut Criterion) {
    let mut group = c.benchmark_group("serialize");
    for (name, text) in FIXTURES {
        let event = ExperienceEvent::from_json(text.as_bytes()).unwrap();
        let size = serde_json::to_vec(&event).unwrap().len();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &event, |b, event| {
            b.iter(|| serde_json::to_vec(event).unwrap());
        });
    }
    group.finish();
}

criterion_group!(benches, parse, serialize);
criterion_main!(benches);
