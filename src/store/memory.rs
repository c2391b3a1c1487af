//! The in-memory store: the embedded default.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    AttemptRecord, Claim, Delivery, DeliveryFilter, DeliveryState, FinishReport, Lease, Leased,
    NewDelivery, NewEvent, NextState, SkipRecord, Store, StoreError, StoreErrorKind,
};
use crate::endpoint::Endpoint;
use crate::id::{DeliveryId, EndpointId, EventId};

/// A [`Store`] held in memory: fast, shared by clones, gone when the process
/// exits.
///
/// It is the embedded default for tests, development and hosts that accept
/// losing queued deliveries on restart. Clones share the same state. Every
/// operation takes one short-lived lock (never held across an `.await`), so
/// each is atomic with respect to the others; no runtime is needed.
///
/// # Behaviour beyond the [`Store`] contract
///
/// - Each event's payload is stored once; every [`Delivery`] snapshot holds a
///   handle to the same [`Bytes`], never a copy.
/// - [`insert_event`](Store::insert_event) and [`claim_once`](Store::claim_once)
///   refuse the whole insert with [`StoreErrorKind::Conflict`] (storing
///   nothing) if a delivery id is already stored or repeated in the batch;
///   `claim_once` does the same if the event id is already stored under
///   another ledger key. A delivery's `created_at` is its event's.
/// - A lease is expired at `now` when `expires_at <= now`. Deliveries whose
///   lease expired are offered again ordered by the lease's expiry rather than
///   by their original due time.
/// - [`finish_attempt`](Store::finish_attempt) and [`release`](Store::release)
///   check the lease token only: a lease that expired but was not taken over
///   can still record its attempt.
/// - The endpoint's `dead_in_a_row` counter survives [`put_endpoint`] and
///   [`set_endpoint_enabled`].
/// - At most [`MAX_SKIP_RECORDS`](Self::MAX_SKIP_RECORDS) skips are kept; the
///   oldest are dropped.
/// - Nothing else is ever removed: events, deliveries and their attempt
///   histories stay until the store is dropped.
/// - Cost: [`lease_due`](Store::lease_due) is `O(k log n)` for `k` leased
///   deliveries: a due index orders pending deliveries by when they can next
///   be leased, and deliveries to disabled or unknown endpoints are parked
///   aside, never scanned (disabling an endpoint scans the index once).
///   [`deliveries`](Store::deliveries) scans in creation order until `limit`
///   match. A stored delivery costs about 330 bytes with 36-byte ids (its
///   record, two copies of its id, its map and index entries), plus a share of
///   its event; the payload itself is stored once.
///
/// [`put_endpoint`]: Store::put_endpoint
/// [`set_endpoint_enabled`]: Store::set_endpoint_enabled
///
/// # Examples
///
/// ```
/// use hookwire::bytes::Bytes;
/// use hookwire::endpoint::Endpoint;
/// use hookwire::id::{DeliveryId, EndpointId, EventId};
/// use hookwire::store::{InMemoryStore, NewDelivery, NewEvent, Store};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # futures::executor::block_on(async {
/// let store = InMemoryStore::new();
/// let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let endpoint = Endpoint::builder("ep_billing", "https://billing.example.com/hooks").build()?;
/// store.put_endpoint(endpoint).await?;
///
/// let event = NewEvent::new(EventId::new("evt_1")?, "startExperience", Bytes::from_static(b"{}"), now);
/// let delivery = NewDelivery::new(DeliveryId::new("dlv_1")?, EndpointId::new("ep_billing")?, now);
/// assert!(store.insert_event(event.clone(), vec![delivery.clone()]).await?);
/// assert!(!store.insert_event(event, vec![delivery]).await?); // idempotent
///
/// let leased = store.lease_due(now, 10, Duration::from_secs(30)).await?;
/// assert_eq!(leased.len(), 1);
/// assert_eq!(leased[0].delivery.payload, "{}");
/// # Ok(())
/// # })
/// # }
/// ```
#[derive(Clone, Default)]
pub struct InMemoryStore {
    inner: Arc<Mutex<Inner>>,
}

impl InMemoryStore {
    /// How many skip records the store keeps; older ones are dropped.
    pub const MAX_SKIP_RECORDS: usize = 10_000;

    /// An empty store.
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::store::InMemoryStore;
    ///
    /// let store = InMemoryStore::new();
    /// let shared = store.clone(); // the same state
    /// # let _ = shared;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for InMemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("InMemoryStore")
            .field(
                "endpoints",
                &inner.slots.iter().filter(|s| s.endpoint.is_some()).count(),
            )
            .field("events", &inner.events.len())
            .field("deliveries", &inner.deliveries.len())
            .field("queued", &inner.queued())
            .field("ledger", &inner.ledger.len())
            .field("skips", &inner.skips.len())
            .finish()
    }
}

/// A due-index key: when the delivery can next be leased, then its position.
type DueKey = (SystemTime, usize);

/// An endpoint id seen by the store, whether or not the endpoint is stored.
#[derive(Debug)]
struct Slot {
    id: EndpointId,
    endpoint: Option<Endpoint>,
    dead_in_a_row: u32,
    /// Pending deliveries to this endpoint while it is absent or disabled.
    parked: BTreeSet<DueKey>,
}

impl Slot {
    fn active(&self) -> bool {
        self.endpoint.as_ref().is_some_and(|e| e.enabled)
    }
}

#[derive(Debug)]
struct EventRec {
    id: EventId,
    kind: String,
    payload: Bytes,
    created_at: SystemTime,
}

#[derive(Debug)]
struct Rec {
    id: DeliveryId,
    event: usize,
    slot: usize,
    url: Option<Box<str>>,
    state: DeliveryState,
    attempts: u32,
    next_attempt_at: SystemTime,
    lease: Option<(u64, SystemTime)>,
    history: Vec<AttemptRecord>,
}

impl Rec {
    /// When a pending delivery can next be leased.
    fn available_at(&self) -> SystemTime {
        match self.lease {
            Some((_, expires_at)) => expires_at,
            None => self.next_attempt_at,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    slots: Vec<Slot>,
    slot_by_id: BTreeMap<EndpointId, usize>,
    events: Vec<EventRec>,
    event_by_id: HashMap<EventId, usize>,
    /// In creation order; never removed.
    deliveries: Vec<Rec>,
    delivery_by_id: HashMap<DeliveryId, usize>,
    /// Pending deliveries to present, enabled endpoints.
    due: BTreeSet<DueKey>,
    ledger: HashMap<Box<str>, DeliveryId>,
    skips: VecDeque<SkipRecord>,
    last_token: u64,
}

fn conflict(msg: &'static str) -> StoreError {
    StoreError::new(StoreErrorKind::Conflict, msg)
}

fn lease_lost() -> StoreError {
    StoreError::from_kind(StoreErrorKind::LeaseLost)
}

/// `t + d`, or the latest representable time near it instead of overflowing.
fn saturating_add(t: SystemTime, mut d: Duration) -> SystemTime {
    loop {
        if let Some(sum) = t.checked_add(d) {
            return sum;
        }
        if d.is_zero() {
            return t;
        }
        d /= 2;
    }
}

impl Inner {
    fn queued(&self) -> usize {
        self.due.len() + self.slots.iter().map(|s| s.parked.len()).sum::<usize>()
    }

    fn slot_for(&mut self, id: &EndpointId) -> usize {
        if let Some(&i) = self.slot_by_id.get(id) {
            return i;
        }
        let i = self.slots.len();
        self.slots.push(Slot {
            id: id.clone(),
            endpoint: None,
            dead_in_a_row: 0,
            parked: BTreeSet::new(),
        });
        self.slot_by_id.insert(id.clone(), i);
        i
    }

    /// Moves a slot's queued deliveries between the due index and its parking
    /// lot after its endpoint was added, replaced, enabled or disabled.
    fn reindex_slot(&mut self, slot: usize, was_active: bool) {
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        let active = s.active();
        if active && !was_active {
            let parked = std::mem::take(&mut s.parked);
            self.due.extend(parked);
        } else if !active && was_active {
            let deliveries = &self.deliveries;
            let mut moved = BTreeSet::new();
            self.due.retain(|key| {
                let mine = deliveries.get(key.1).is_some_and(|r| r.slot == slot);
                if mine {
                    moved.insert(*key);
                }
                !mine
            });
            s.parked.append(&mut moved);
        }
    }

    fn index_insert(&mut self, idx: usize) {
        let Some(rec) = self.deliveries.get(idx) else {
            return;
        };
        if rec.state != DeliveryState::Pending {
            return;
        }
        let key = (rec.available_at(), idx);
        match self.slots.get_mut(rec.slot) {
            Some(s) if !s.active() => {
                s.parked.insert(key);
            }
            _ => {
                self.due.insert(key);
            }
        }
    }

    fn index_remove(&mut self, idx: usize) {
        let Some(rec) = self.deliveries.get(idx) else {
            return;
        };
        let key = (rec.available_at(), idx);
        if !self.due.remove(&key) {
            if let Some(s) = self.slots.get_mut(rec.slot) {
                s.parked.remove(&key);
            }
        }
    }

    fn snapshot(&self, idx: usize) -> Option<Delivery> {
        let rec = self.deliveries.get(idx)?;
        let event = self.events.get(rec.event)?;
        let slot = self.slots.get(rec.slot)?;
        Some(Delivery {
            id: rec.id.clone(),
            event_id: event.id.clone(),
            event_kind: event.kind.clone(),
            payload: event.payload.clone(),
            endpoint_id: slot.id.clone(),
            url: rec.url.as_deref().map(str::to_owned),
            state: rec.state,
            attempts: rec.attempts,
            next_attempt_at: rec.next_attempt_at,
            created_at: event.created_at,
        })
    }

    /// Refuses deliveries whose ids are stored already or repeated.
    fn check_new_ids<'a>(
        &self,
        ids: impl Iterator<Item = &'a DeliveryId>,
    ) -> Result<(), StoreError> {
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            if self.delivery_by_id.contains_key(id) {
                return Err(conflict("a delivery with this id already exists"));
            }
            if !seen.insert(id) {
                return Err(conflict("the same delivery id appears twice in one insert"));
            }
        }
        Ok(())
    }

    /// Stores an event and its deliveries; ids must have been checked.
    fn insert_unchecked(&mut self, event: NewEvent, deliveries: Vec<NewDelivery>) {
        let event_idx = self.events.len();
        self.event_by_id.insert(event.id.clone(), event_idx);
        self.events.push(EventRec {
            id: event.id,
            kind: event.kind,
            payload: event.payload,
            created_at: event.created_at,
        });
        self.deliveries.reserve(deliveries.len());
        for d in deliveries {
            let slot = self.slot_for(&d.endpoint_id);
            let idx = self.deliveries.len();
            self.delivery_by_id.insert(d.id.clone(), idx);
            self.deliveries.push(Rec {
                id: d.id,
                event: event_idx,
                slot,
                url: d.url.map(String::into_boxed_str),
                state: DeliveryState::Pending,
                attempts: 0,
                next_attempt_at: d.due_at,
                lease: None,
                history: Vec::new(),
            });
            self.index_insert(idx);
        }
    }

    /// The delivery `lease` holds, if its token still matches.
    fn leased_index(&self, lease: &Lease) -> Result<usize, StoreError> {
        let idx = *self
            .delivery_by_id
            .get(&lease.delivery_id)
            .ok_or_else(lease_lost)?;
        match self.deliveries.get(idx) {
            Some(rec)
                if rec.state == DeliveryState::Pending
                    && rec.lease.map(|l| l.0) == Some(lease.token) =>
            {
                Ok(idx)
            }
            _ => Err(lease_lost()),
        }
    }

    fn matches(&self, rec: &Rec, filter: &DeliveryFilter) -> bool {
        if filter.state.is_some_and(|s| s != rec.state) {
            return false;
        }
        if let Some(ep) = &filter.endpoint_id {
            if self.slots.get(rec.slot).is_none_or(|s| &s.id != ep) {
                return false;
            }
        }
        if let Some(ev) = &filter.event_id {
            if self.events.get(rec.event).is_none_or(|e| &e.id != ev) {
                return false;
            }
        }
        true
    }
}

#[async_trait]
impl Store for InMemoryStore {
    async fn put_endpoint(&self, endpoint: Endpoint) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let slot = inner.slot_for(&endpoint.id);
        let Some(s) = inner.slots.get_mut(slot) else {
            return Err(StoreError::new(
                StoreErrorKind::Other,
                "endpoint slot missing",
            ));
        };
        let was_active = s.active();
        s.endpoint = Some(endpoint);
        inner.reindex_slot(slot, was_active);
        Ok(())
    }

    async fn endpoint(&self, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .slot_by_id
            .get(id)
            .and_then(|&i| inner.slots.get(i))
            .and_then(|s| s.endpoint.clone()))
    }

    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .slot_by_id
            .values()
            .filter_map(|&i| inner.slots.get(i).and_then(|s| s.endpoint.clone()))
            .collect())
    }

    async fn subscribers(&self, kind: &str) -> Result<Vec<EndpointId>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .slot_by_id
            .values()
            .filter_map(|&i| inner.slots.get(i)?.endpoint.as_ref())
            .filter(|e| e.enabled && e.events.matches(kind))
            .map(|e| e.id.clone())
            .collect())
    }

    async fn set_endpoint_enabled(
        &self,
        id: &EndpointId,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(&slot) = inner.slot_by_id.get(id) else {
            return Ok(false);
        };
        let Some(s) = inner.slots.get_mut(slot) else {
            return Ok(false);
        };
        let was_active = s.active();
        let Some(endpoint) = s.endpoint.as_mut() else {
            return Ok(false);
        };
        endpoint.enabled = enabled;
        if enabled {
            s.dead_in_a_row = 0;
        }
        inner.reindex_slot(slot, was_active);
        Ok(true)
    }

    async fn insert_event(
        &self,
        event: NewEvent,
        deliveries: Vec<NewDelivery>,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if inner.event_by_id.contains_key(&event.id) {
            return Ok(false);
        }
        inner.check_new_ids(deliveries.iter().map(|d| &d.id))?;
        inner.insert_unchecked(event, deliveries);
        Ok(true)
    }

    async fn claim_once(
        &self,
        key: &str,
        event: NewEvent,
        delivery: NewDelivery,
    ) -> Result<Claim, StoreError> {
        let mut inner = self.lock();
        if let Some(existing) = inner.ledger.get(key) {
            return Ok(Claim::Existing(existing.clone()));
        }
        if inner.event_by_id.contains_key(&event.id) {
            return Err(conflict(
                "the event id is already stored under another ledger key",
            ));
        }
        inner.check_new_ids(std::iter::once(&delivery.id))?;
        let id = delivery.id.clone();
        inner.ledger.insert(key.into(), id.clone());
        inner.insert_unchecked(event, vec![delivery]);
        Ok(Claim::Inserted(id))
    }

    async fn record_skip(&self, skip: SkipRecord) -> Result<(), StoreError> {
        let mut inner = self.lock();
        while inner.skips.len() >= Self::MAX_SKIP_RECORDS {
            inner.skips.pop_front();
        }
        inner.skips.push_back(skip);
        Ok(())
    }

    async fn skips(&self, limit: usize) -> Result<Vec<SkipRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner.skips.iter().rev().take(limit).cloned().collect())
    }

    async fn lease_due(
        &self,
        now: SystemTime,
        limit: usize,
        lease_for: Duration,
    ) -> Result<Vec<Leased>, StoreError> {
        let mut inner = self.lock();
        let expires_at = saturating_add(now, lease_for);
        // Collect first: with a zero `lease_for` a leased delivery would be due
        // again at once and must not be taken twice in one call.
        let keys: Vec<DueKey> = inner
            .due
            .iter()
            .take_while(|k| k.0 <= now)
            .take(limit)
            .copied()
            .collect();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            inner.due.remove(&key);
            let idx = key.1;
            inner.last_token = inner.last_token.wrapping_add(1);
            let token = inner.last_token;
            let Some(rec) = inner.deliveries.get_mut(idx) else {
                continue;
            };
            rec.lease = Some((token, expires_at));
            inner.due.insert((expires_at, idx));
            if let Some(delivery) = inner.snapshot(idx) {
                let lease = Lease::new(delivery.id.clone(), token, expires_at);
                out.push(Leased::new(delivery, lease));
            }
        }
        Ok(out)
    }

    async fn finish_attempt(
        &self,
        lease: &Lease,
        attempt: AttemptRecord,
        next: NextState,
    ) -> Result<FinishReport, StoreError> {
        let mut inner = self.lock();
        let idx = inner.leased_index(lease)?;
        inner.index_remove(idx);
        let Some(rec) = inner.deliveries.get_mut(idx) else {
            return Err(lease_lost());
        };
        rec.history.push(attempt);
        rec.attempts = rec.attempts.saturating_add(1);
        rec.lease = None;
        let slot = rec.slot;
        match next {
            NextState::RetryAt(at) => {
                rec.state = DeliveryState::Pending;
                rec.next_attempt_at = at;
            }
            NextState::Succeeded => rec.state = DeliveryState::Succeeded,
            NextState::Dead => rec.state = DeliveryState::Dead,
        }
        inner.index_insert(idx);
        let Some(s) = inner.slots.get_mut(slot) else {
            return Ok(FinishReport::default());
        };
        match next {
            NextState::RetryAt(_) => {}
            NextState::Succeeded => s.dead_in_a_row = 0,
            NextState::Dead => s.dead_in_a_row = s.dead_in_a_row.saturating_add(1),
        }
        Ok(FinishReport::new(s.dead_in_a_row))
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let idx = inner.leased_index(lease)?;
        inner.index_remove(idx);
        if let Some(rec) = inner.deliveries.get_mut(idx) {
            rec.lease = None;
        }
        inner.index_insert(idx);
        Ok(())
    }

    async fn delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .delivery_by_id
            .get(id)
            .and_then(|&i| inner.snapshot(i)))
    }

    async fn attempts(&self, id: &DeliveryId) -> Result<Vec<AttemptRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .delivery_by_id
            .get(id)
            .and_then(|&i| inner.deliveries.get(i))
            .map(|r| r.history.clone())
            .unwrap_or_default())
    }

    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .deliveries
            .iter()
            .enumerate()
            .filter(|(_, rec)| inner.matches(rec, filter))
            .take(filter.limit)
            .filter_map(|(i, _)| inner.snapshot(i))
            .collect())
    }

    async fn redeliver(&self, id: &DeliveryId, now: SystemTime) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(&idx) = inner.delivery_by_id.get(id) else {
            return Ok(false);
        };
        let Some(rec) = inner.deliveries.get_mut(idx) else {
            return Ok(false);
        };
        if rec.state != DeliveryState::Dead {
            return Ok(false);
        }
        rec.state = DeliveryState::Pending;
        rec.attempts = 0;
        rec.next_attempt_at = now;
        rec.lease = None;
        inner.index_insert(idx);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use futures::executor::block_on;

    use super::*;
    use crate::store::AttemptResult;
    use crate::testing::store_conformance;

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn endpoint(id: &str) -> Endpoint {
        Endpoint::builder(id, "http://127.0.0.1:9/hook")
            .allow_private_targets(true)
            .build()
            .unwrap()
    }

    fn event(id: &str) -> NewEvent {
        NewEvent::new(
            EventId::new(id).unwrap(),
            "startExperience",
            Bytes::from(vec![7u8; 4096]),
            t(0),
        )
    }

    fn delivery(id: &str, endpoint: &str) -> NewDelivery {
        NewDelivery::new(
            DeliveryId::new(id).unwrap(),
            EndpointId::new(endpoint).unwrap(),
            t(0),
        )
    }

    fn attempt() -> AttemptRecord {
        AttemptRecord::new(
            1,
            t(0),
            Duration::from_millis(5),
            AttemptResult::Response {
                status: 200,
                body: Bytes::new(),
            },
        )
    }

    #[test]
    fn passes_the_conformance_suite() {
        block_on(store_conformance(|| async { InMemoryStore::new() }));
    }

    #[test]
    fn passes_the_conformance_suite_as_arc_dyn_store() {
        block_on(store_conformance(|| async {
            Arc::new(InMemoryStore::new()) as Arc<dyn Store>
        }));
    }

    #[test]
    fn passes_the_conformance_suite_as_box_dyn_store() {
        block_on(store_conformance(|| async {
            Box::new(InMemoryStore::new()) as Box<dyn Store>
        }));
    }

    #[test]
    fn is_send_sync_and_object_safe() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        fn assert_send<T: Send>(_: &T) {}
        assert_send_sync::<InMemoryStore>();
        let _: Arc<dyn Store> = Arc::new(InMemoryStore::new());
        // The suite's future can be spawned on a multi-threaded runtime.
        assert_send(&store_conformance(|| async { InMemoryStore::new() }));
    }

    #[test]
    fn duplicate_delivery_ids_are_refused_atomically() {
        block_on(async {
            let store = InMemoryStore::new();
            store.put_endpoint(endpoint("ep_a")).await.unwrap();
            assert!(store
                .insert_event(event("evt_1"), vec![delivery("dlv_1", "ep_a")])
                .await
                .unwrap());

            // Clashes with a stored delivery: nothing from this insert is kept.
            let err = store
                .insert_event(
                    event("evt_2"),
                    vec![delivery("dlv_2", "ep_a"), delivery("dlv_1", "ep_a")],
                )
                .await
                .unwrap_err();
            assert_eq!(err.kind(), StoreErrorKind::Conflict);
            assert!(store
                .delivery(&DeliveryId::new("dlv_2").unwrap())
                .await
                .unwrap()
                .is_none());
            // The event was not stored either: it can be inserted now.
            assert!(store.insert_event(event("evt_2"), vec![]).await.unwrap());

            // Repeated within one batch.
            let err = store
                .insert_event(
                    event("evt_3"),
                    vec![delivery("dlv_3", "ep_a"), delivery("dlv_3", "ep_a")],
                )
                .await
                .unwrap_err();
            assert_eq!(err.kind(), StoreErrorKind::Conflict);
            assert_eq!(
                store
                    .deliveries(&DeliveryFilter::all(10))
                    .await
                    .unwrap()
                    .len(),
                1
            );

            // claim_once: a stored delivery id or an event stored under another key.
            let err = store
                .claim_once("k1", event("evt_4"), delivery("dlv_1", "ep_a"))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), StoreErrorKind::Conflict);
            let err = store
                .claim_once("k1", event("evt_1"), delivery("dlv_4", "ep_a"))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), StoreErrorKind::Conflict);
            // Neither claimed the key.
            let claim = store
                .claim_once("k1", event("evt_4"), delivery("dlv_4", "ep_a"))
                .await
                .unwrap();
            assert_eq!(claim, Claim::Inserted(DeliveryId::new("dlv_4").unwrap()));
            assert_eq!(
                store
                    .lease_due(t(0), 10, Duration::from_secs(1))
                    .await
                    .unwrap()
                    .len(),
                2
            );
        });
    }

    #[test]
    fn payload_bytes_are_shared_not_copied() {
        block_on(async {
            let store = InMemoryStore::new();
            let ev = event("evt_1");
            let ptr = ev.payload.as_ptr();
            let deliveries = vec![delivery("dlv_1", "ep_a"), delivery("dlv_2", "ep_b")];
            store.insert_event(ev, deliveries).await.unwrap();
            store.put_endpoint(endpoint("ep_a")).await.unwrap();
            store.put_endpoint(endpoint("ep_b")).await.unwrap();
            let listed = store.deliveries(&DeliveryFilter::all(10)).await.unwrap();
            let leased = store
                .lease_due(t(0), 10, Duration::from_secs(1))
                .await
                .unwrap();
            for payload in listed
                .iter()
                .map(|d| &d.payload)
                .chain(leased.iter().map(|l| &l.delivery.payload))
            {
                assert_eq!(payload.as_ptr(), ptr);
            }
        });
    }

    #[test]
    fn clones_share_state_and_debug_shows_counts_only() {
        block_on(async {
            let store = InMemoryStore::new();
            let clone = store.clone();
            let secret = NewEvent::new(
                EventId::new("evt_1").unwrap(),
                "startExperience",
                Bytes::from_static(b"very-secret-payload"),
                t(0),
            );
            clone
                .insert_event(secret, vec![delivery("dlv_1", "ep_a")])
                .await
                .unwrap();
            assert!(store
                .delivery(&DeliveryId::new("dlv_1").unwrap())
                .await
                .unwrap()
                .is_some());
            let debug = format!("{store:?}");
            assert!(!debug.contains("very-secret"), "{debug}");
            assert!(
                debug.contains("deliveries: 1") && debug.contains("queued: 1"),
                "{debug}"
            );
        });
    }

    #[test]
    fn skip_records_are_bounded() {
        block_on(async {
            let store = InMemoryStore::new();
            for i in 0..InMemoryStore::MAX_SKIP_RECORDS + 5 {
                store
                    .record_skip(SkipRecord::new(format!("k{i}"), "no consent", t(0)))
                    .await
                    .unwrap();
            }
            let all = store.skips(usize::MAX).await.unwrap();
            assert_eq!(all.len(), InMemoryStore::MAX_SKIP_RECORDS);
            assert_eq!(
                all[0].key,
                format!("k{}", InMemoryStore::MAX_SKIP_RECORDS + 4)
            );
            assert_eq!(all.last().unwrap().key, "k5");
        });
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        block_on(async {
            let store = InMemoryStore::new();
            store.put_endpoint(endpoint("ep_a")).await.unwrap();
            store
                .insert_event(
                    event("evt_1"),
                    vec![delivery("dlv_1", "ep_a"), delivery("dlv_2", "ep_a")],
                )
                .await
                .unwrap();
            // A lease so long it would overflow SystemTime saturates instead.
            let leased = store
                .lease_due(t(0), usize::MAX, Duration::MAX)
                .await
                .unwrap();
            assert_eq!(leased.len(), 2);
            assert!(leased[0].lease.expires_at > t(1_000_000_000));
            store.release(&leased[0].lease).await.unwrap();
            // A zero lease expires at once, yet one call never leases a delivery twice.
            let zero = store
                .lease_due(t(0), usize::MAX, Duration::ZERO)
                .await
                .unwrap();
            assert_eq!(zero.len(), 1);
            let again = store
                .lease_due(t(0), usize::MAX, Duration::ZERO)
                .await
                .unwrap();
            assert_eq!(again.len(), 1);
            assert_ne!(again[0].lease.token, zero[0].lease.token);
            // Leases of deliveries that do not exist or are not leased.
            let forged = Lease::new(DeliveryId::new("dlv_2").unwrap(), u64::MAX, t(0));
            let err = store
                .finish_attempt(&forged, attempt(), NextState::Dead)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), StoreErrorKind::LeaseLost);
            assert!(store.skips(0).await.unwrap().is_empty());
            assert!(store
                .deliveries(&DeliveryFilter::all(0))
                .await
                .unwrap()
                .is_empty());
        });
    }

    #[test]
    fn endpoint_toggles_move_queued_deliveries_without_losing_any() {
        block_on(async {
            let store = InMemoryStore::new();
            store.put_endpoint(endpoint("ep_a")).await.unwrap();
            store.put_endpoint(endpoint("ep_b")).await.unwrap();
            let deliveries = (0..50)
                .map(|i| {
                    delivery(
                        &format!("dlv_{i}"),
                        if i % 2 == 0 { "ep_a" } else { "ep_b" },
                    )
                })
                .collect();
            store
                .insert_event(event("evt_1"), deliveries)
                .await
                .unwrap();
            let a = EndpointId::new("ep_a").unwrap();
            for _ in 0..3 {
                assert!(store.set_endpoint_enabled(&a, false).await.unwrap());
                assert!(store.set_endpoint_enabled(&a, false).await.unwrap());
                store.put_endpoint(endpoint("ep_a")).await.unwrap();
                store.put_endpoint(endpoint("ep_a")).await.unwrap();
            }
            assert!(store.set_endpoint_enabled(&a, false).await.unwrap());
            assert_eq!(store.lock().queued(), 50);
            assert_eq!(
                store
                    .lease_due(t(0), 100, Duration::from_secs(1))
                    .await
                    .unwrap()
                    .len(),
                25
            );
            assert!(store.set_endpoint_enabled(&a, true).await.unwrap());
            assert_eq!(
                store
                    .lease_due(t(0), 100, Duration::from_secs(1))
                    .await
                    .unwrap()
                    .len(),
                25
            );
        });
    }

    #[test]
    fn record_stays_small() {
        // The per-delivery record, excluding its id's heap bytes and the indexes.
        let size = std::mem::size_of::<Rec>();
        assert!(size <= 128, "Rec is {size} bytes");
    }

    /// 100,000 deliveries (10,000 events x 10 endpoints) through lease and
    /// finish, as the dispatcher benchmark does.
    #[test]
    fn handles_a_hundred_thousand_deliveries() {
        const EVENTS: usize = 10_000;
        const ENDPOINTS: usize = 10;
        const TOTAL: usize = EVENTS * ENDPOINTS;
        block_on(async {
            let store = InMemoryStore::new();
            let endpoints: Vec<EndpointId> = (0..ENDPOINTS)
                .map(|e| EndpointId::new(format!("ep_{e}")).unwrap())
                .collect();
            for id in &endpoints {
                store.put_endpoint(endpoint(id.as_str())).await.unwrap();
            }
            let payload = Bytes::from(vec![b'x'; 1024]);
            for ev in 0..EVENTS {
                let event_id = EventId::new(format!("evt_{ev}")).unwrap();
                let event = NewEvent::new(event_id, "startExperience", payload.clone(), t(0));
                let deliveries = endpoints
                    .iter()
                    .enumerate()
                    .map(|(e, ep)| {
                        NewDelivery::new(
                            DeliveryId::new(format!("dlv_{ev}_{e}")).unwrap(),
                            ep.clone(),
                            t(ev as u64 % 60),
                        )
                    })
                    .collect();
                assert!(store.insert_event(event, deliveries).await.unwrap());
            }
            assert_eq!(store.lock().queued(), TOTAL);

            // Everything leased in batches, then finished: one in ten retried once.
            let mut finished = 0;
            let mut retried = 0;
            let now = t(60);
            loop {
                let batch = store
                    .lease_due(now, 1_000, Duration::from_secs(30))
                    .await
                    .unwrap();
                if batch.is_empty() {
                    break;
                }
                for leased in batch {
                    let first_try = leased.delivery.attempts == 0;
                    let next = if first_try && leased.delivery.id.as_str().ends_with("_3") {
                        retried += 1;
                        NextState::RetryAt(now)
                    } else {
                        finished += 1;
                        NextState::Succeeded
                    };
                    store
                        .finish_attempt(&leased.lease, attempt(), next)
                        .await
                        .unwrap();
                }
            }
            assert_eq!(finished, TOTAL);
            assert_eq!(retried, EVENTS);
            {
                let inner = store.lock();
                assert_eq!(inner.queued(), 0);
                assert_eq!(inner.deliveries.len(), TOTAL);
                assert!(inner
                    .deliveries
                    .iter()
                    .all(|r| r.state == DeliveryState::Succeeded && r.lease.is_none()));
            }
            let succeeded = store
                .deliveries(&DeliveryFilter::all(usize::MAX).state(DeliveryState::Succeeded))
                .await
                .unwrap();
            assert_eq!(succeeded.len(), TOTAL);
            assert!(store
                .deliveries(&DeliveryFilter::all(10).state(DeliveryState::Pending))
                .await
                .unwrap()
                .is_empty());
        });
    }
}
