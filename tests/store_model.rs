//! `InMemoryStore` against a naive model: random sequences of inserts,
//! leases, finishes (with current and stale leases), releases, redeliveries,
//! endpoint toggles and clock moves must give the same answers and leave the
//! same deliveries as a model that scans a plain list, retention included.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::executor::block_on;
use hookwire::endpoint::Endpoint;
use hookwire::id::{DeliveryId, EndpointId, EventId};
use hookwire::store::{
    AttemptRecord, AttemptResult, DeliveryFilter, DeliveryState, Finish, InMemoryStore, Lease,
    NewDelivery, NewEvent, NextState, Store, StoreErrorKind,
};
use proptest::prelude::*;

const ENDPOINTS: [&str; 3] = ["ep_a", "ep_b", "ep_c"];

#[derive(Debug, Clone)]
enum Op {
    /// An event to the endpoints whose bits are set.
    Insert(u8),
    Lease {
        limit: usize,
        lease_secs: u64,
    },
    /// Finish the `n`-th lease handed out (stale or not) with an outcome.
    Finish {
        n: usize,
        outcome: u8,
    },
    /// Several at once through `finish_attempts`.
    FinishBatch {
        first: usize,
        count: usize,
        outcome: u8,
    },
    Release(usize),
    Redeliver(usize),
    Enable {
        endpoint: usize,
        enabled: bool,
    },
    Advance(u64),
    /// Prune succeeded deliveries older than this many seconds, at most `max`.
    Prune {
        age: u64,
        max: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u8..8).prop_map(Op::Insert),
        3 => (1usize..6, prop_oneof![Just(0u64), Just(5), Just(60)])
            .prop_map(|(limit, lease_secs)| Op::Lease { limit, lease_secs }),
        4 => (0usize..40, 0u8..3).prop_map(|(n, outcome)| Op::Finish { n, outcome }),
        1 => (0usize..40, 1usize..4, 0u8..3)
            .prop_map(|(first, count, outcome)| Op::FinishBatch { first, count, outcome }),
        1 => (0usize..40).prop_map(Op::Release),
        1 => (0usize..40).prop_map(Op::Redeliver),
        1 => (0usize..3, any::<bool>()).prop_map(|(endpoint, enabled)| Op::Enable { endpoint, enabled }),
        2 => prop_oneof![Just(1u64), Just(5), Just(30), Just(61)].prop_map(Op::Advance),
        1 => (prop_oneof![Just(0u64), Just(10), Just(60)], 0usize..4)
            .prop_map(|(age, max)| Op::Prune { age, max }),
    ]
}

#[derive(Debug, Clone)]
struct ModelDelivery {
    id: String,
    endpoint: usize,
    seq: u64,
    state: DeliveryState,
    attempts: u32,
    next_attempt_at: SystemTime,
    /// The current lease's token and expiry.
    lease: Option<(u64, SystemTime)>,
    /// Attempts ever recorded (redelivery keeps the history).
    recorded: usize,
}

impl ModelDelivery {
    fn available_at(&self) -> SystemTime {
        self.lease.map_or(self.next_attempt_at, |l| l.1)
    }
}

struct Model {
    deliveries: Vec<ModelDelivery>,
    enabled: [bool; 3],
    dead_in_a_row: [u32; 3],
    /// Succeeded deliveries in the order they succeeded, with when.
    succeeded: VecDeque<(String, SystemTime)>,
    retain: usize,
}

impl Model {
    fn find(&mut self, id: &str) -> Option<&mut ModelDelivery> {
        self.deliveries.iter_mut().find(|d| d.id == id)
    }

    /// What the store must do with `finish` under `lease`.
    fn finish(
        &mut self,
        lease: &Lease,
        next: NextState,
        finished_at: SystemTime,
    ) -> Result<u32, StoreErrorKind> {
        let retain = self.retain;
        let Some(d) = self.find(lease.delivery_id.as_str()) else {
            return Err(StoreErrorKind::LeaseLost);
        };
        if d.state != DeliveryState::Pending || d.lease.map(|l| l.0) != Some(lease.token) {
            return Err(StoreErrorKind::LeaseLost);
        }
        d.lease = None;
        d.attempts += 1;
        d.recorded += 1;
        let endpoint = d.endpoint;
        let id = d.id.clone();
        match next {
            NextState::RetryAt(at) => d.next_attempt_at = at,
            NextState::Succeeded => d.state = DeliveryState::Succeeded,
            _ => d.state = DeliveryState::Dead,
        }
        match next {
            NextState::RetryAt(_) => {}
            NextState::Succeeded => {
                self.dead_in_a_row[endpoint] = 0;
                self.succeeded.push_back((id, finished_at));
                while self.succeeded.len() > retain {
                    let (old, _) = self.succeeded.pop_front().expect("non-empty");
                    self.deliveries.retain(|d| d.id != old);
                }
            }
            _ => self.dead_in_a_row[endpoint] += 1,
        }
        Ok(self.dead_in_a_row[endpoint])
    }
}

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

const ATTEMPT_TOOK: Duration = Duration::from_millis(3);

fn attempt(at: SystemTime) -> AttemptRecord {
    AttemptRecord::new(
        1,
        at,
        ATTEMPT_TOOK,
        AttemptResult::Response {
            status: 200,
            body: Bytes::new(),
        },
    )
}

fn next_state(outcome: u8, now: SystemTime) -> NextState {
    match outcome {
        0 => NextState::Succeeded,
        1 => NextState::RetryAt(now + Duration::from_secs(10)),
        _ => NextState::Dead,
    }
}

fn endpoint(i: usize, enabled: bool) -> Endpoint {
    let mut e = Endpoint::builder(ENDPOINTS[i], "https://hooks.example.com/in")
        .build()
        .expect("valid endpoint");
    e.enabled = enabled;
    e
}

fn run(ops: Vec<Op>, retain: usize) -> Result<(), TestCaseError> {
    let store = InMemoryStore::with_retention(retain);
    let mut model = Model {
        deliveries: Vec::new(),
        enabled: [true; 3],
        dead_in_a_row: [0; 3],
        succeeded: VecDeque::new(),
        retain,
    };
    let mut now = t0();
    let mut leases: Vec<Lease> = Vec::new();
    let mut events = 0u64;
    let mut seq = 0u64;
    block_on(async {
        for i in 0..3 {
            store.put_endpoint(endpoint(i, true)).await.unwrap();
        }
    });
    for op in ops {
        match op {
            Op::Insert(mask) => {
                events += 1;
                let mut new = Vec::new();
                for (i, _) in ENDPOINTS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                {
                    let id = format!("dlv_{events}_{i}");
                    new.push(NewDelivery::new(
                        DeliveryId::new(id.clone()).unwrap(),
                        EndpointId::new(ENDPOINTS[i]).unwrap(),
                        now,
                    ));
                    model.deliveries.push(ModelDelivery {
                        id,
                        endpoint: i,
                        seq,
                        state: DeliveryState::Pending,
                        attempts: 0,
                        next_attempt_at: now,
                        lease: None,
                        recorded: 0,
                    });
                    seq += 1;
                }
                let event = NewEvent::new(
                    EventId::new(format!("evt_{events}")).unwrap(),
                    "startExperience",
                    Bytes::from_static(b"{}"),
                    now,
                );
                prop_assert!(block_on(store.insert_event(event, new)).unwrap());
            }
            Op::Lease { limit, lease_secs } => {
                let lease_for = Duration::from_secs(lease_secs);
                let got = block_on(store.lease_due(now, limit, lease_for)).unwrap();
                let mut due: Vec<&ModelDelivery> = model
                    .deliveries
                    .iter()
                    .filter(|d| {
                        d.state == DeliveryState::Pending
                            && model.enabled[d.endpoint]
                            && d.available_at() <= now
                    })
                    .collect();
                due.sort_by_key(|d| (d.available_at(), d.seq));
                let want: Vec<String> = due.iter().take(limit).map(|d| d.id.clone()).collect();
                let got_ids: Vec<String> = got.iter().map(|l| l.delivery.id.to_string()).collect();
                prop_assert_eq!(&got_ids, &want, "leased at {:?}", now);
                for l in got {
                    prop_assert_eq!(l.lease.expires_at, now + lease_for);
                    let d = model.find(l.delivery.id.as_str()).unwrap();
                    prop_assert_eq!(l.delivery.attempts, d.attempts);
                    d.lease = Some((l.lease.token, l.lease.expires_at));
                    leases.push(l.lease);
                }
            }
            Op::Finish { n, outcome } => {
                let Some(lease) = leases.get(n % leases.len().max(1)).cloned() else {
                    continue;
                };
                let next = next_state(outcome, now);
                let got = block_on(store.finish_attempt(&lease, attempt(now), next));
                let want = model.finish(&lease, next, now + ATTEMPT_TOOK);
                prop_assert_eq!(got.map(|r| r.dead_in_a_row).map_err(|e| e.kind()), want);
            }
            Op::FinishBatch {
                first,
                count,
                outcome,
            } => {
                if leases.is_empty() {
                    continue;
                }
                let picked: Vec<Lease> = (0..count)
                    .map(|k| leases[(first + k) % leases.len()].clone())
                    .collect();
                let next = next_state(outcome, now);
                let batch = picked
                    .iter()
                    .map(|l| Finish::new(l.clone(), attempt(now), next))
                    .collect();
                let got = block_on(store.finish_attempts(batch));
                prop_assert_eq!(got.len(), picked.len());
                for (lease, got) in picked.iter().zip(got) {
                    let want = model.finish(lease, next, now + ATTEMPT_TOOK);
                    prop_assert_eq!(got.map(|r| r.dead_in_a_row).map_err(|e| e.kind()), want);
                }
            }
            Op::Release(n) => {
                let Some(lease) = leases.get(n % leases.len().max(1)).cloned() else {
                    continue;
                };
                let got = block_on(store.release(&lease)).map_err(|e| e.kind());
                let want = match model.find(lease.delivery_id.as_str()) {
                    Some(d)
                        if d.state == DeliveryState::Pending
                            && d.lease.map(|l| l.0) == Some(lease.token) =>
                    {
                        d.lease = None;
                        Ok(())
                    }
                    _ => Err(StoreErrorKind::LeaseLost),
                };
                prop_assert_eq!(got, want);
            }
            Op::Redeliver(n) => {
                let Some(d) = model.deliveries.get(n % model.deliveries.len().max(1)) else {
                    continue;
                };
                let id = DeliveryId::new(d.id.clone()).unwrap();
                let got = block_on(store.redeliver(&id, now)).unwrap();
                let d = model.find(id.as_str()).unwrap();
                let want = d.state == DeliveryState::Dead;
                if want {
                    d.state = DeliveryState::Pending;
                    d.attempts = 0;
                    d.next_attempt_at = now;
                    d.lease = None;
                }
                prop_assert_eq!(got, want);
            }
            Op::Enable {
                endpoint: i,
                enabled,
            } => {
                let id = EndpointId::new(ENDPOINTS[i]).unwrap();
                prop_assert!(block_on(store.set_endpoint_enabled(&id, enabled)).unwrap());
                model.enabled[i] = enabled;
                if enabled {
                    model.dead_in_a_row[i] = 0;
                }
            }
            Op::Advance(secs) => now += Duration::from_secs(secs),
            Op::Prune { age, max } => {
                let before = now - Duration::from_secs(age);
                let got = block_on(store.prune_succeeded(before, max)).unwrap();
                let mut want = 0;
                while want < max {
                    match model.succeeded.front() {
                        Some((_, at)) if *at < before => {
                            let (old, _) = model.succeeded.pop_front().expect("non-empty");
                            model.deliveries.retain(|d| d.id != old);
                            want += 1;
                        }
                        _ => break,
                    }
                }
                prop_assert_eq!(got, want);
            }
        }

        // Every kept delivery, oldest first, as the model has it.
        let listed = block_on(store.deliveries(&DeliveryFilter::all(usize::MAX))).unwrap();
        let got: Vec<(String, DeliveryState, u32)> = listed
            .iter()
            .map(|d| (d.id.to_string(), d.state, d.attempts))
            .collect();
        let want: Vec<(String, DeliveryState, u32)> = model
            .deliveries
            .iter()
            .map(|d| (d.id.clone(), d.state, d.attempts))
            .collect();
        prop_assert_eq!(got, want);
        // Each kept delivery's history has one record per attempt ever made.
        for d in &model.deliveries {
            let id = DeliveryId::new(d.id.clone()).unwrap();
            let history = block_on(store.attempts(&id)).unwrap();
            prop_assert_eq!(history.len(), d.recorded, "history of {}", d.id);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn matches_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops, usize::MAX)?;
    }

    #[test]
    fn matches_the_model_with_retention(
        ops in proptest::collection::vec(op(), 1..80),
        retain in 0usize..4,
    ) {
        run(ops, retain)?;
    }
}
