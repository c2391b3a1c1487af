//! `InMemoryStore` and `PgStore` against a naive model: random sequences of
//! inserts, leases (skipping some endpoints), finishes (with current and stale
//! leases), releases, defers, abandons, redeliveries, endpoint toggles,
//! disablings with a reason, deletes and puts, and clock moves must give the
//! same answers (`next_due` included) and leave the same deliveries, reasons
//! and attempt totals included, as a model that scans a plain list,
//! retention included; every endpoint's health (counts by state, last
//! attempt, last success, failures in a row, disabling record) must be what
//! the model derives, and paging through deliveries and attempts, oldest and
//! newest first, must list each exactly once in the model's order.
//!
//! `PgStore` runs when `HOOKWIRE_TEST_DATABASE_URL` is set (feature
//! `postgres`), with fewer cases.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookwire::endpoint::Endpoint;
use hookwire::id::{DeliveryId, EndpointId, EventId};
use hookwire::store::{
    AttemptFilter, AttemptRecord, AttemptResult, DeliveryCounts, DeliveryFilter, DeliveryState,
    Disabling, EndpointHealth, Finish, InMemoryStore, LastAttempt, Lease, LeaseRequest,
    NewDelivery, NewEvent, NextState, Order, Store, StoreErrorKind, REASON_ENDPOINT_DELETED,
};
use hookwire::transport::TransportErrorKind;
use proptest::prelude::*;

const ENDPOINTS: [&str; 3] = ["ep_a", "ep_b", "ep_c"];

#[derive(Debug, Clone)]
enum Op {
    /// An event to the endpoints whose bits are set.
    Insert(u8),
    /// Leases, skipping the endpoints whose bits are set in `skip`.
    Lease {
        limit: usize,
        lease_secs: u64,
        skip: u8,
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
    /// Defer the `n`-th lease handed out by `secs` from now, with a reason.
    Defer {
        n: usize,
        secs: u64,
    },
    /// Abandon the `n`-th lease handed out.
    Abandon(usize),
    Redeliver(usize),
    Enable {
        endpoint: usize,
        enabled: bool,
    },
    /// `disable_endpoint` with a reason.
    Disable(usize),
    Delete(usize),
    /// Put the endpoint (again), enabled or not.
    Put {
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
        3 => (
            1usize..6,
            prop_oneof![Just(0u64), Just(5), Just(60)],
            prop_oneof![3 => Just(0u8), 2 => 1u8..8],
        )
            .prop_map(|(limit, lease_secs, skip)| Op::Lease { limit, lease_secs, skip }),
        4 => (0usize..40, 0u8..3).prop_map(|(n, outcome)| Op::Finish { n, outcome }),
        1 => (0usize..40, 1usize..4, 0u8..3)
            .prop_map(|(first, count, outcome)| Op::FinishBatch { first, count, outcome }),
        1 => (0usize..40).prop_map(Op::Release),
        1 => (0usize..40, prop_oneof![Just(0u64), Just(5), Just(30)])
            .prop_map(|(n, secs)| Op::Defer { n, secs }),
        1 => (0usize..40).prop_map(Op::Abandon),
        1 => (0usize..40).prop_map(Op::Redeliver),
        1 => (0usize..3, any::<bool>()).prop_map(|(endpoint, enabled)| Op::Enable { endpoint, enabled }),
        1 => (0usize..3).prop_map(Op::Disable),
        1 => (0usize..3).prop_map(Op::Delete),
        1 => (0usize..3, any::<bool>()).prop_map(|(endpoint, enabled)| Op::Put { endpoint, enabled }),
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
    /// The reason of the last defer or abandon, if any.
    reason: Option<String>,
}

impl ModelDelivery {
    fn available_at(&self) -> SystemTime {
        self.lease.map_or(self.next_attempt_at, |l| l.1)
    }
}

/// What an endpoint's attempts say, since it was last put after a delete.
#[derive(Debug, Clone, Default)]
struct ModelHealth {
    last: Option<LastAttempt>,
    last_success_at: Option<SystemTime>,
    failures: u32,
    disabled: Option<Disabling>,
}

struct Model {
    deliveries: Vec<ModelDelivery>,
    /// Whether each endpoint is stored (a deleted one is not).
    exists: [bool; 3],
    enabled: [bool; 3],
    dead_in_a_row: [u32; 3],
    health: [ModelHealth; 3],
    /// Every attempt recorded, in order: (delivery id, its number); those of
    /// removed deliveries are dropped with them.
    log: Vec<(String, u32)>,
    /// Succeeded deliveries in the order they succeeded, with when.
    succeeded: VecDeque<(String, SystemTime)>,
    retain: usize,
}

impl Model {
    fn find(&mut self, id: &str) -> Option<&mut ModelDelivery> {
        self.deliveries.iter_mut().find(|d| d.id == id)
    }

    /// Whether the endpoint's deliveries can be leased: it is enabled, or
    /// it no longer exists.
    fn leasable(&self, endpoint: usize) -> bool {
        !self.exists[endpoint] || self.enabled[endpoint]
    }

    /// The delivery `lease` holds, if its token is still the current one.
    fn held(&mut self, lease: &Lease) -> Option<&mut ModelDelivery> {
        self.find(lease.delivery_id.as_str()).filter(|d| {
            d.state == DeliveryState::Pending && d.lease.map(|l| l.0) == Some(lease.token)
        })
    }

    /// When `next_due(now)` must say a delivery can next be leased.
    fn next_due(&self, now: SystemTime) -> Option<SystemTime> {
        self.deliveries
            .iter()
            .filter(|d| d.state == DeliveryState::Pending && self.leasable(d.endpoint))
            .map(|d| d.available_at().max(now))
            .min()
    }

    /// The number the next attempt of the delivery `lease` names gets.
    fn next_number(&self, lease: &Lease) -> u32 {
        self.deliveries
            .iter()
            .find(|d| d.id == lease.delivery_id.as_str())
            .map_or(1, |d| d.recorded as u32 + 1)
    }

    fn remove(&mut self, id: &str) {
        self.deliveries.retain(|d| d.id != id);
        self.log.retain(|(d, _)| d != id);
    }

    /// What the store must do with `finish` under `lease`.
    fn finish(
        &mut self,
        lease: &Lease,
        record: &AttemptRecord,
        next: NextState,
    ) -> Result<u32, StoreErrorKind> {
        let retain = self.retain;
        let finished_at = record.started_at + record.duration;
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
        self.log.push((id.clone(), record.attempt));
        if self.exists[endpoint] {
            let h = &mut self.health[endpoint];
            h.last = Some(LastAttempt::of(lease.delivery_id.clone(), record));
            if next == NextState::Succeeded {
                h.failures = 0;
                h.last_success_at = Some(record.started_at);
            } else {
                h.failures += 1;
            }
        }
        let counted = self.exists[endpoint];
        match next {
            NextState::RetryAt(_) => {}
            NextState::Succeeded => {
                self.dead_in_a_row[endpoint] = 0;
                self.succeeded.push_back((id, finished_at));
                while self.succeeded.len() > retain {
                    let (old, _) = self.succeeded.pop_front().expect("non-empty");
                    self.remove(&old);
                }
            }
            _ if counted => self.dead_in_a_row[endpoint] += 1,
            _ => {}
        }
        // An endpoint that does not exist has no count.
        Ok(if counted {
            self.dead_in_a_row[endpoint]
        } else {
            0
        })
    }
}

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

const ATTEMPT_TOOK: Duration = Duration::from_millis(3);

/// Attempt number `n` at `at`: a 200 for a success, a refused connection
/// for a retry, a 503 for a delivery given up.
fn attempt(n: u32, at: SystemTime, outcome: u8) -> AttemptRecord {
    let result = match outcome {
        0 => AttemptResult::Response {
            status: 200,
            body: Bytes::new(),
        },
        1 => AttemptResult::error(TransportErrorKind::Connect, "connection refused"),
        _ => AttemptResult::Response {
            status: 503,
            body: Bytes::from_static(b"later"),
        },
    };
    AttemptRecord::new(n, at, ATTEMPT_TOOK, result)
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

/// Runs `ops` on `store` (empty, keeping `retain` succeeded deliveries) and
/// on the model, on `rt`. `in_order_prunes`: the store prunes in the order
/// deliveries succeeded (else only by age, and a prune is asked to remove
/// everything old enough, which any order removes alike).
fn run(
    rt: &tokio::runtime::Runtime,
    store: &dyn Store,
    ops: Vec<Op>,
    retain: usize,
    in_order_prunes: bool,
) -> Result<(), TestCaseError> {
    macro_rules! block_on {
        ($e:expr) => {
            rt.block_on($e)
        };
    }
    let mut model = Model {
        deliveries: Vec::new(),
        exists: [true; 3],
        enabled: [true; 3],
        dead_in_a_row: [0; 3],
        health: Default::default(),
        log: Vec::new(),
        succeeded: VecDeque::new(),
        retain,
    };
    let mut now = t0();
    let mut leases: Vec<Lease> = Vec::new();
    let mut events = 0u64;
    let mut seq = 0u64;
    block_on!(async {
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
                        reason: None,
                    });
                    seq += 1;
                }
                let event = NewEvent::new(
                    EventId::new(format!("evt_{events}")).unwrap(),
                    "startExperience",
                    Bytes::from_static(b"{}"),
                    now,
                );
                prop_assert!(block_on!(store.insert_event(event, new)).unwrap());
            }
            Op::Lease {
                limit,
                lease_secs,
                skip,
            } => {
                let lease_for = Duration::from_secs(lease_secs);
                let skipped = |i: usize| skip & (1 << i) != 0;
                let skip_ids = (0..ENDPOINTS.len())
                    .filter(|&i| skipped(i))
                    .map(|i| EndpointId::new(ENDPOINTS[i]).unwrap())
                    .collect();
                let request = LeaseRequest::new(now, limit, lease_for).skip(skip_ids);
                let got = block_on!(store.lease(request)).unwrap();
                let mut due: Vec<&ModelDelivery> = model
                    .deliveries
                    .iter()
                    .filter(|d| {
                        d.state == DeliveryState::Pending
                            && model.leasable(d.endpoint)
                            && !skipped(d.endpoint)
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
                let record = attempt(model.next_number(&lease), now, outcome);
                let got = block_on!(store.finish_attempt(&lease, record.clone(), next));
                let want = model.finish(&lease, &record, next);
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
                // Numbered as the dispatcher would, from the leased snapshot:
                // a lease picked twice records once (the second is lost).
                let records: Vec<AttemptRecord> = picked
                    .iter()
                    .map(|l| attempt(model.next_number(l), now, outcome))
                    .collect();
                let batch = picked
                    .iter()
                    .zip(&records)
                    .map(|(l, r)| Finish::new(l.clone(), r.clone(), next))
                    .collect();
                let got = block_on!(store.finish_attempts(batch));
                prop_assert_eq!(got.len(), picked.len());
                for ((lease, record), got) in picked.iter().zip(&records).zip(got) {
                    let want = model.finish(lease, record, next);
                    prop_assert_eq!(got.map(|r| r.dead_in_a_row).map_err(|e| e.kind()), want);
                }
            }
            Op::Release(n) => {
                let Some(lease) = leases.get(n % leases.len().max(1)).cloned() else {
                    continue;
                };
                let got = block_on!(store.release(&lease)).map_err(|e| e.kind());
                let want = match model.held(&lease) {
                    Some(d) => {
                        d.lease = None;
                        Ok(())
                    }
                    None => Err(StoreErrorKind::LeaseLost),
                };
                prop_assert_eq!(got, want);
            }
            Op::Defer { n, secs } => {
                let Some(lease) = leases.get(n % leases.len().max(1)).cloned() else {
                    continue;
                };
                let until = now + Duration::from_secs(secs);
                let reason = format!("deferred at {secs} s");
                let got = block_on!(store.defer(&lease, until, &reason)).map_err(|e| e.kind());
                let want = match model.held(&lease) {
                    Some(d) => {
                        d.lease = None;
                        d.next_attempt_at = until;
                        d.reason = Some(reason);
                        Ok(())
                    }
                    None => Err(StoreErrorKind::LeaseLost),
                };
                prop_assert_eq!(got, want);
            }
            Op::Abandon(n) => {
                let Some(lease) = leases.get(n % leases.len().max(1)).cloned() else {
                    continue;
                };
                let reason = format!("abandoned lease {n}");
                let got = block_on!(store.abandon(&lease, &reason)).map_err(|e| e.kind());
                let want = match model.held(&lease) {
                    Some(d) => {
                        d.lease = None;
                        d.state = DeliveryState::Dead;
                        d.reason = Some(reason);
                        Ok(())
                    }
                    None => Err(StoreErrorKind::LeaseLost),
                };
                prop_assert_eq!(got, want);
            }
            Op::Redeliver(n) => {
                let Some(d) = model.deliveries.get(n % model.deliveries.len().max(1)) else {
                    continue;
                };
                let id = DeliveryId::new(d.id.clone()).unwrap();
                let got = block_on!(store.redeliver(&id, now)).unwrap();
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
                let got = block_on!(store.set_endpoint_enabled(&id, enabled)).unwrap();
                prop_assert_eq!(got, model.exists[i]);
                if model.exists[i] {
                    model.enabled[i] = enabled;
                    if enabled {
                        model.dead_in_a_row[i] = 0;
                        model.health[i].disabled = None;
                    }
                }
            }
            Op::Disable(i) => {
                let id = EndpointId::new(ENDPOINTS[i]).unwrap();
                let reason = format!("disabled at {:?}", now);
                let got = block_on!(store.disable_endpoint(&id, now, &reason)).unwrap();
                let want = model.exists[i] && model.enabled[i];
                prop_assert_eq!(got, want, "disable_endpoint({})", ENDPOINTS[i]);
                if want {
                    model.enabled[i] = false;
                    model.health[i].disabled = Some(Disabling::new(now, reason));
                }
            }
            Op::Delete(i) => {
                let id = EndpointId::new(ENDPOINTS[i]).unwrap();
                let got = block_on!(store.delete_endpoint(&id)).unwrap();
                prop_assert_eq!(got, model.exists[i]);
                if model.exists[i] {
                    model.exists[i] = false;
                    model.dead_in_a_row[i] = 0;
                    model.health[i] = ModelHealth::default();
                    // Queued ones end; those a lease holds are left as they are.
                    for d in model.deliveries.iter_mut().filter(|d| {
                        d.endpoint == i && d.state == DeliveryState::Pending && d.lease.is_none()
                    }) {
                        d.state = DeliveryState::Dead;
                        d.reason = Some(REASON_ENDPOINT_DELETED.to_owned());
                    }
                }
            }
            Op::Put {
                endpoint: i,
                enabled,
            } => {
                block_on!(store.put_endpoint(endpoint(i, enabled))).unwrap();
                // The dead-in-a-row count survives a put (a delete reset it);
                // putting it enabled clears its disabling record.
                model.exists[i] = true;
                model.enabled[i] = enabled;
                if enabled {
                    model.health[i].disabled = None;
                }
            }
            Op::Advance(secs) => now += Duration::from_secs(secs),
            Op::Prune { age, max } => {
                let max = if in_order_prunes { max } else { usize::MAX };
                let before = now - Duration::from_secs(age);
                let got = block_on!(store.prune_succeeded(before, max)).unwrap();
                let mut want = 0;
                while want < max {
                    match model.succeeded.front() {
                        Some((_, at)) if *at < before => {
                            let (old, _) = model.succeeded.pop_front().expect("non-empty");
                            model.remove(&old);
                            want += 1;
                        }
                        _ => break,
                    }
                }
                prop_assert_eq!(got, want);
            }
        }

        // Every kept delivery, oldest first, as the model has it.
        type Row = (String, DeliveryState, u32, u32, SystemTime, Option<String>);
        let listed = block_on!(store.deliveries(&DeliveryFilter::all(usize::MAX))).unwrap();
        let got: Vec<Row> = listed
            .iter()
            .map(|d| {
                let id = d.id.to_string();
                let (n, total) = (d.attempts, d.attempts_total);
                (id, d.state, n, total, d.next_attempt_at, d.reason.clone())
            })
            .collect();
        let want: Vec<Row> = model
            .deliveries
            .iter()
            .map(|d| {
                let id = d.id.clone();
                let (n, total) = (d.attempts, d.recorded as u32);
                (id, d.state, n, total, d.next_attempt_at, d.reason.clone())
            })
            .collect();
        prop_assert_eq!(got, want);

        // Paged, both ways, pages of 3: each delivery once, in order.
        let want_ids: Vec<String> = model.deliveries.iter().map(|d| d.id.clone()).collect();
        for order in [Order::OldestFirst, Order::NewestFirst] {
            let mut filter = DeliveryFilter::all(3).order(order);
            let mut paged = Vec::new();
            loop {
                let page = block_on!(store.deliveries(&filter)).unwrap();
                let Some(last) = page.last() else { break };
                filter = filter.after(last.cursor);
                paged.extend(page.iter().map(|d| d.id.to_string()));
                prop_assert!(paged.len() <= want_ids.len(), "paging repeats");
            }
            let mut want = want_ids.clone();
            if order == Order::NewestFirst {
                want.reverse();
            }
            prop_assert_eq!(paged, want, "deliveries paged {:?}", order);
        }
        // Every attempt kept, in the order recorded, paged both ways.
        for order in [Order::OldestFirst, Order::NewestFirst] {
            let mut filter = AttemptFilter::all(3).order(order);
            let mut paged = Vec::new();
            loop {
                let page = block_on!(store.list_attempts(&filter)).unwrap();
                let Some(last) = page.last() else { break };
                filter = filter.after(last.cursor);
                paged.extend(
                    page.iter()
                        .map(|a| (a.delivery_id.to_string(), a.record.attempt)),
                );
                prop_assert!(paged.len() <= model.log.len(), "paging repeats");
            }
            let mut want = model.log.clone();
            if order == Order::NewestFirst {
                want.reverse();
            }
            prop_assert_eq!(paged, want, "attempts paged {:?}", order);
        }

        // Every stored endpoint's health, as the model derives it.
        let want_health: Vec<EndpointHealth> = (0..ENDPOINTS.len())
            .filter(|&i| model.exists[i])
            .map(|i| model_health(&model, i))
            .collect();
        let got_health = block_on!(store.endpoints_health()).unwrap();
        prop_assert_eq!(&got_health, &want_health);
        for (i, name) in ENDPOINTS.iter().enumerate() {
            let id = EndpointId::new(*name).unwrap();
            let one = block_on!(store.endpoint_health(&id)).unwrap();
            prop_assert_eq!(one, model.exists[i].then(|| model_health(&model, i)));
        }
        prop_assert_eq!(
            block_on!(store.next_due(now)).unwrap(),
            model.next_due(now),
            "next_due at {:?}",
            now
        );
        // Each kept delivery's history has one record per attempt ever made.
        for d in &model.deliveries {
            let id = DeliveryId::new(d.id.clone()).unwrap();
            let history = block_on!(store.attempts(&id)).unwrap();
            prop_assert_eq!(history.len(), d.recorded, "history of {}", d.id);
        }
    }
    Ok(())
}

/// The health the model derives for endpoint `i`.
fn model_health(model: &Model, i: usize) -> EndpointHealth {
    let mut counts = DeliveryCounts::default();
    for d in model.deliveries.iter().filter(|d| d.endpoint == i) {
        *counts.get_mut(d.state) += 1;
    }
    let h = &model.health[i];
    let mut health = EndpointHealth::new(EndpointId::new(ENDPOINTS[i]).unwrap(), model.enabled[i]);
    health.deliveries = counts;
    health.last_attempt = h.last.clone();
    health.last_success_at = h.last_success_at;
    health.consecutive_failures = h.failures;
    health.disabled = if model.enabled[i] {
        None
    } else {
        h.disabled.clone()
    };
    health
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn matches_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        let store = InMemoryStore::with_retention(usize::MAX);
        run(&runtime(), &store, ops, usize::MAX, true)?;
    }

    #[test]
    fn matches_the_model_with_retention(
        ops in proptest::collection::vec(op(), 1..80),
        retain in 0usize..4,
    ) {
        let store = InMemoryStore::with_retention(retain);
        run(&runtime(), &store, ops, retain, true)?;
    }
}

/// A scripted history, for the record: the health both stores must report
/// after two endpoints' mixed outcomes, a redelivery, a disabling and a
/// re-enabling.
fn scripted() -> Vec<Op> {
    use Op::*;
    vec![
        Insert(0b011),
        Insert(0b001),
        Lease {
            limit: 5,
            lease_secs: 60,
            skip: 0,
        },
        Finish { n: 0, outcome: 1 },
        Finish { n: 1, outcome: 0 },
        Finish { n: 2, outcome: 2 },
        Redeliver(2),
        Advance(10),
        Lease {
            limit: 5,
            lease_secs: 60,
            skip: 0,
        },
        Finish { n: 3, outcome: 2 },
        Finish { n: 4, outcome: 1 },
        Disable(0),
        Disable(0),
        Advance(30),
        Enable {
            endpoint: 0,
            enabled: true,
        },
        Disable(1),
        Put {
            endpoint: 1,
            enabled: false,
        },
        Lease {
            limit: 5,
            lease_secs: 60,
            skip: 0,
        },
        Finish { n: 5, outcome: 0 },
        Delete(2),
        Put {
            endpoint: 2,
            enabled: true,
        },
    ]
}

#[test]
fn a_scripted_history_matches_the_model() {
    let store = InMemoryStore::with_retention(usize::MAX);
    run(&runtime(), &store, scripted(), usize::MAX, true).unwrap();
}

#[cfg(feature = "postgres")]
mod postgres {
    //! The same model against `PgStore`, one schema for the whole run,
    //! emptied before each case.

    use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

    use hookwire::store::PgStore;
    use proptest::prelude::*;

    use super::{op, run, runtime, scripted};

    struct Db {
        rt: tokio::runtime::Runtime,
        store: PgStore,
        /// The tests share the schema: one at a time.
        turn: Mutex<()>,
    }

    /// The runtime and store, once per process; `None` without a database.
    fn db() -> Option<&'static Db> {
        static DB: OnceLock<Option<Db>> = OnceLock::new();
        DB.get_or_init(|| {
            let url = std::env::var("HOOKWIRE_TEST_DATABASE_URL")
                .ok()
                .filter(|u| !u.trim().is_empty());
            let Some(url) = url else {
                eprintln!("*** SKIPPED: the PgStore model needs HOOKWIRE_TEST_DATABASE_URL ***");
                return None;
            };
            let rt = runtime();
            let schema = format!("hw_test_model_p{}", std::process::id());
            let store = PgStore::connect(&url, 2)
                .expect("valid database URL")
                .with_schema(&schema)
                .expect("valid schema name");
            rt.block_on(async {
                let client = store.pool().get().await.expect("database reachable");
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                    .await
                    .expect("drop the schema");
                drop(client);
                store.migrate().await.expect("migrate");
            });
            Some(Db {
                rt,
                store,
                turn: Mutex::new(()),
            })
        })
        .as_ref()
    }

    /// Takes the schema for one case and empties it.
    fn truncate(db: &Db) -> MutexGuard<'_, ()> {
        let turn = db.turn.lock().unwrap_or_else(PoisonError::into_inner);
        db.rt.block_on(async {
            let client = db.store.pool().get().await.expect("database reachable");
            let s = db.store.schema();
            client
                .batch_execute(&format!(
                    "TRUNCATE \"{s}\".endpoints, \"{s}\".events, \"{s}\".deliveries, \
                     \"{s}\".attempts, \"{s}\".ledger, \"{s}\".skips RESTART IDENTITY"
                ))
                .await
                .expect("truncate");
        });
        turn
    }

    #[test]
    fn a_scripted_history_matches_the_model_on_postgres() {
        let Some(db) = db() else { return };
        let _turn = truncate(db);
        run(&db.rt, &db.store, scripted(), usize::MAX, false).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn matches_the_model_on_postgres(ops in proptest::collection::vec(op(), 1..60)) {
            let Some(db) = db() else { return Ok(()) };
            let _turn = truncate(db);
            run(&db.rt, &db.store, ops, usize::MAX, false)?;
        }
    }
}
