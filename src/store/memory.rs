//! The in-memory store: the embedded default.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use foldhash::fast::RandomState;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    AttemptRecord, Claim, Delivery, DeliveryFilter, DeliveryState, Finish, FinishReport, Lease,
    Leased, NewDelivery, NewEvent, NextState, SkipRecord, Store, StoreError, StoreErrorKind,
};
use crate::clock::saturating_add;
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
/// # Memory stays bounded
///
/// A long-running host publishes forever, so the store forgets what is done:
/// it keeps the most recent [`retain_succeeded`](Self::with_retention)
/// succeeded deliveries (default
/// [`DEFAULT_RETAIN_SUCCEEDED`](Self::DEFAULT_RETAIN_SUCCEEDED)) and removes
/// older ones with their attempt records; an event goes when its last
/// delivery does. Pending and dead deliveries are never removed: they are
/// work still to do, or work a person must look at ([`Store::redeliver`]).
/// The journey ledger is never pruned, so a journey step stays exactly-once.
/// The default is small because a kept delivery keeps its event's payload
/// alive: 1,000 deliveries of 10 KiB events hold about 10 MiB. A host that
/// wants a longer history uses a database store, or raises the number.
/// [`Store::prune_succeeded`] removes succeeded deliveries by age as well, in
/// the order they succeeded.
///
/// # Behaviour beyond the [`Store`] contract
///
/// - Each event's payload is stored once; every [`Delivery`] snapshot holds a
///   handle to the same [`Bytes`], never a copy.
/// - [`insert_event`](Store::insert_event) and [`claim_once`](Store::claim_once)
///   refuse the whole insert with [`StoreErrorKind::Conflict`] (storing
///   nothing) if a delivery id is already stored or repeated in the batch;
///   `claim_once` does the same if the event id is already stored under
///   another ledger key. A delivery's `created_at` is its event's. An event
///   id is recognised (idempotent insert) while the event is kept; see above.
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
/// - Cost: inserting, leasing and finishing cost `O(log n)` per delivery with
///   no id lookups (a lease token carries the delivery's position); once the
///   store has reached its working size it allocates nothing of its own per
///   delivery (a journey step's URL aside): removed deliveries' places are
///   reused. Deliveries to disabled or unknown
///   endpoints are parked aside, never scanned (disabling an endpoint scans
///   the queue once). [`deliveries`](Store::deliveries) scans every kept
///   delivery. A queued delivery costs about 300 bytes with 36-byte ids (its
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
#[derive(Clone)]
pub struct InMemoryStore {
    inner: Arc<Mutex<Inner>>,
}

impl Default for InMemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryStore {
    /// How many skip records the store keeps; older ones are dropped.
    pub const MAX_SKIP_RECORDS: usize = 10_000;

    /// How many succeeded deliveries [`new`](Self::new) keeps; older ones are
    /// removed (see [Memory stays bounded](Self#memory-stays-bounded)).
    pub const DEFAULT_RETAIN_SUCCEEDED: usize = 1_000;

    /// An empty store that keeps the most recent
    /// [`DEFAULT_RETAIN_SUCCEEDED`](Self::DEFAULT_RETAIN_SUCCEEDED) succeeded
    /// deliveries.
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
        Self::with_retention(Self::DEFAULT_RETAIN_SUCCEEDED)
    }

    /// An empty store that keeps the most recent `retain_succeeded` succeeded
    /// deliveries (`usize::MAX`: all of them, for tests and short-lived
    /// tools; `0`: none, forgotten as soon as they succeed).
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::store::InMemoryStore;
    ///
    /// let everything = InMemoryStore::with_retention(usize::MAX);
    /// # let _ = everything;
    /// ```
    pub fn with_retention(retain_succeeded: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                retain_succeeded,
                ..Inner::default()
            })),
        }
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
            .field("events", &inner.event_by_id.len())
            .field("deliveries", &inner.delivery_by_id.len())
            .field("queued", &inner.queued())
            .field("retain_succeeded", &inner.retain_succeeded)
            .field("ledger", &inner.ledger.len())
            .field("skips", &inner.skips.len())
            .finish()
    }
}

/// A queue key: when the delivery can next be leased, its creation number
/// (ties go to the oldest), then its position.
type DueKey = (SystemTime, u64, u32);

/// The pending deliveries to present, enabled endpoints, earliest first.
///
/// Keys mostly arrive in order (new deliveries are due now, and now only
/// grows), so those are appended to a sorted run in `O(1)`; the others go
/// to a B-tree. The first key is the smaller of the two fronts.
#[derive(Debug, Default)]
struct DueIndex {
    run: VecDeque<DueKey>,
    rest: BTreeSet<DueKey>,
}

impl DueIndex {
    fn len(&self) -> usize {
        self.run.len() + self.rest.len()
    }

    fn insert(&mut self, key: DueKey) {
        if self.run.back().is_none_or(|last| *last <= key) {
            self.run.push_back(key);
        } else {
            self.rest.insert(key);
        }
    }

    fn first(&self) -> Option<DueKey> {
        match (self.run.front(), self.rest.first()) {
            (Some(a), Some(b)) => Some(*a.min(b)),
            (a, b) => a.or(b).copied(),
        }
    }

    fn pop_first(&mut self) -> Option<DueKey> {
        let from_run = match (self.run.front(), self.rest.first()) {
            (Some(a), Some(b)) => a < b,
            (a, _) => a.is_some(),
        };
        if from_run {
            self.run.pop_front()
        } else {
            self.rest.pop_first()
        }
    }

    fn remove(&mut self, key: &DueKey) -> bool {
        if self.rest.remove(key) {
            return true;
        }
        match self.run.binary_search(key) {
            Ok(i) => self.run.remove(i).is_some(),
            Err(_) => false,
        }
    }

    /// Removes and returns the keys for which `take` is true.
    fn drain_where(&mut self, mut take: impl FnMut(&DueKey) -> bool) -> Vec<DueKey> {
        let mut taken = Vec::new();
        let mut keep = |k: &DueKey| {
            let t = take(k);
            if t {
                taken.push(*k);
            }
            !t
        };
        self.run.retain(&mut keep);
        self.rest.retain(&mut keep);
        taken
    }
}

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
    kind: Arc<str>,
    payload: Bytes,
    created_at: SystemTime,
    /// Kept deliveries of this event; at 0 the event is removed.
    deliveries: u32,
}

#[derive(Debug, Clone, Copy)]
struct RecLease {
    token: u64,
    expires_at: SystemTime,
    /// The [`LeaseBatch`] it was handed out in.
    batch: u64,
}

#[derive(Debug)]
struct Rec {
    id: DeliveryId,
    seq: u64,
    event: u32,
    slot: u32,
    state: DeliveryState,
    attempts: u32,
    url: Option<Box<str>>,
    next_attempt_at: SystemTime,
    lease: Option<RecLease>,
    /// The time of its key in the due index or its slot's parking lot, if
    /// it is queued there (pending and not leased, or its lease expired).
    queued_at: Option<SystemTime>,
    /// The latest attempt in [`Inner::attempts`], linked to the ones before.
    last_attempt: Option<u32>,
}

/// One recorded attempt, linked to the delivery's previous one: histories
/// share one vector (with reused places) instead of a vector per delivery.
#[derive(Debug)]
struct AttemptRow {
    record: AttemptRecord,
    prev: Option<u32>,
}

/// The deliveries one `lease_due` call handed out, with one expiry: leased
/// deliveries wait here, not in the due index, so leasing and finishing
/// touch no index. Dropped when all have finished, or when it expires (its
/// unfinished deliveries then go back to the queue).
#[derive(Debug)]
struct LeaseBatch {
    members: Vec<u32>,
    unfinished: u32,
}

#[derive(Debug, Default)]
struct Inner {
    slots: Vec<Slot>,
    /// Endpoint ids in id order (listing), and hashed (lookups).
    slot_by_id: BTreeMap<EndpointId, u32>,
    slot_index: Map<EndpointId, u32>,
    events: Vec<Option<EventRec>>,
    free_events: Vec<u32>,
    event_by_id: Map<EventId, u32>,
    recs: Vec<Option<Rec>>,
    free_recs: Vec<u32>,
    delivery_by_id: Map<DeliveryId, u32>,
    next_seq: u64,
    attempts: Vec<Option<AttemptRow>>,
    free_attempts: Vec<u32>,
    due: DueIndex,
    /// Keyed by expiry, then batch number.
    leases: BTreeMap<(SystemTime, u64), LeaseBatch>,
    next_batch: u64,
    /// Succeeded deliveries in the order they succeeded, as (position, seq,
    /// when the attempt finished).
    succeeded: VecDeque<(u32, u64, SystemTime)>,
    retain_succeeded: usize,
    ledger: Map<Box<str>, DeliveryId>,
    skips: VecDeque<SkipRecord>,
    last_token: u64,
}

/// The store's hash maps: keys are ids, hashed with foldhash (randomly
/// seeded per map, several times faster than the default SipHash on short
/// keys).
type Map<K, V> = HashMap<K, V, RandomState>;

/// Deliveries and events are addressed by 32-bit positions.
const MAX_POSITIONS: usize = u32::MAX as usize;

fn conflict(msg: &'static str) -> StoreError {
    StoreError::new(StoreErrorKind::Conflict, msg)
}

fn full() -> StoreError {
    StoreError::new(
        StoreErrorKind::Other,
        "the in-memory store holds its maximum number of deliveries",
    )
}

fn lease_lost() -> StoreError {
    StoreError::from_kind(StoreErrorKind::LeaseLost)
}

fn pos(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl Inner {
    fn queued(&self) -> usize {
        self.due.len() + self.slots.iter().map(|s| s.parked.len()).sum::<usize>()
    }

    fn rec(&self, idx: u32) -> Option<&Rec> {
        self.recs.get(idx as usize)?.as_ref()
    }

    fn rec_mut(&mut self, idx: u32) -> Option<&mut Rec> {
        self.recs.get_mut(idx as usize)?.as_mut()
    }

    fn slot_for(&mut self, id: &EndpointId) -> u32 {
        if let Some(&i) = self.slot_index.get(id) {
            return i;
        }
        let i = pos(self.slots.len());
        self.slots.push(Slot {
            id: id.clone(),
            endpoint: None,
            dead_in_a_row: 0,
            parked: BTreeSet::new(),
        });
        self.slot_by_id.insert(id.clone(), i);
        self.slot_index.insert(id.clone(), i);
        i
    }

    /// Moves a slot's queued deliveries between the due index and its parking
    /// lot after its endpoint was added, replaced, enabled or disabled.
    fn reindex_slot(&mut self, slot: u32, was_active: bool) {
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return;
        };
        let active = s.active();
        if active && !was_active {
            for key in std::mem::take(&mut s.parked) {
                self.due.insert(key);
            }
        } else if !active && was_active {
            let recs = &self.recs;
            let moved = self.due.drain_where(|key| {
                recs.get(key.2 as usize)
                    .and_then(Option::as_ref)
                    .is_some_and(|r| r.slot == slot)
            });
            s.parked.extend(moved);
        }
    }

    /// Queues a pending delivery at `at`: in the due index, or parked if its
    /// endpoint is absent or disabled.
    fn enqueue(&mut self, idx: u32, at: SystemTime) {
        let Some(rec) = self.recs.get_mut(idx as usize).and_then(Option::as_mut) else {
            return;
        };
        rec.queued_at = Some(at);
        let key = (at, rec.seq, idx);
        match self.slots.get_mut(rec.slot as usize) {
            Some(s) if !s.active() => {
                s.parked.insert(key);
            }
            _ => self.due.insert(key),
        }
    }

    /// Takes a delivery out of the due index or parking lot, if it is queued.
    fn dequeue(&mut self, idx: u32) {
        let Some(rec) = self.recs.get_mut(idx as usize).and_then(Option::as_mut) else {
            return;
        };
        let Some(at) = rec.queued_at.take() else {
            return;
        };
        let key = (at, rec.seq, idx);
        if !self.due.remove(&key) {
            if let Some(s) = self.slots.get_mut(rec.slot as usize) {
                s.parked.remove(&key);
            }
        }
    }

    /// Detaches a delivery from its lease batch (if the batch still exists).
    fn unlease(&mut self, idx: u32) {
        let Some(lease) = self.rec_mut(idx).and_then(|r| r.lease.take()) else {
            return;
        };
        let key = (lease.expires_at, lease.batch);
        if let Some(batch) = self.leases.get_mut(&key) {
            batch.unfinished = batch.unfinished.saturating_sub(1);
            if batch.unfinished == 0 {
                self.leases.remove(&key);
            }
        }
    }

    /// Puts the deliveries of every lease batch expired at `now` back in the
    /// queue, at their lease's expiry.
    fn expire_leases(&mut self, now: SystemTime) {
        while let Some(entry) = self.leases.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((expires_at, batch_no), batch) = entry.remove_entry();
            for idx in batch.members {
                let requeue = self.rec(idx).is_some_and(|r| {
                    r.state == DeliveryState::Pending
                        && r.queued_at.is_none()
                        && r.lease.is_some_and(|l| l.batch == batch_no)
                });
                if requeue {
                    self.enqueue(idx, expires_at);
                }
            }
        }
    }

    fn snapshot(&self, idx: u32) -> Option<Delivery> {
        let rec = self.rec(idx)?;
        let event = self.events.get(rec.event as usize)?.as_ref()?;
        let slot = self.slots.get(rec.slot as usize)?;
        Some(Delivery {
            id: rec.id.clone(),
            event_id: event.id.clone(),
            event_kind: Arc::clone(&event.kind),
            payload: event.payload.clone(),
            endpoint_id: slot.id.clone(),
            url: rec.url.as_deref().map(str::to_owned),
            state: rec.state,
            attempts: rec.attempts,
            next_attempt_at: rec.next_attempt_at,
            created_at: event.created_at,
        })
    }

    /// Where the `i`-th new delivery goes: reused places first (from the
    /// free list's end), then places from `end`, the length of `recs` before
    /// this insert.
    fn position(&self, i: usize, end: usize) -> usize {
        let free = self.free_recs.len();
        if i < free {
            self.free_recs[free - 1 - i] as usize
        } else {
            end + (i - free)
        }
    }

    /// Stores an event and its deliveries, or nothing: refused if a delivery
    /// id is stored already or repeated. One hash per id.
    fn insert(&mut self, event: NewEvent, deliveries: Vec<NewDelivery>) -> Result<(), StoreError> {
        let n = deliveries.len();
        let old_end = self.recs.len();
        let fresh = n.saturating_sub(self.free_recs.len());
        if self.recs.len().saturating_add(fresh) > MAX_POSITIONS
            || self.events.len() >= MAX_POSITIONS
        {
            return Err(full());
        }
        for (i, d) in deliveries.iter().enumerate() {
            let at = pos(self.position(i, old_end));
            match self.delivery_by_id.entry(d.id.clone()) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(at);
                }
                std::collections::hash_map::Entry::Occupied(o) => {
                    let repeated = deliveries[..i].iter().any(|e| e.id == *o.key());
                    for earlier in &deliveries[..i] {
                        self.delivery_by_id.remove(&earlier.id);
                    }
                    return Err(conflict(if repeated {
                        "the same delivery id appears twice in one insert"
                    } else {
                        "a delivery with this id already exists"
                    }));
                }
            }
        }

        let event_idx = match self.free_events.pop() {
            Some(i) => i,
            None => {
                self.events.push(None);
                pos(self.events.len() - 1)
            }
        };
        self.event_by_id.insert(event.id.clone(), event_idx);
        self.events[event_idx as usize] = Some(EventRec {
            id: event.id,
            kind: event.kind,
            payload: event.payload,
            created_at: event.created_at,
            deliveries: pos(n),
        });

        // `position` reads the free list, so it is shortened only once every
        // delivery is placed.
        let reused = n.min(self.free_recs.len());
        self.recs.resize_with(old_end + (n - reused), || None);
        for (i, d) in deliveries.into_iter().enumerate() {
            let at = self.position(i, old_end);
            let slot = self.slot_for(&d.endpoint_id);
            let seq = self.next_seq;
            self.next_seq += 1;
            self.recs[at] = Some(Rec {
                id: d.id,
                seq,
                event: event_idx,
                slot,
                state: DeliveryState::Pending,
                attempts: 0,
                url: d.url.map(String::into_boxed_str),
                next_attempt_at: d.due_at,
                lease: None,
                queued_at: None,
                last_attempt: None,
            });
            self.enqueue(pos(at), d.due_at);
        }
        self.free_recs.truncate(self.free_recs.len() - reused);
        Ok(())
    }

    /// The delivery `lease` holds, if its token still matches. A token
    /// carries the delivery's position in its low 32 bits, so no id lookup
    /// is needed; the id and the whole token are still checked.
    fn leased_index(&self, lease: &Lease) -> Result<u32, StoreError> {
        let idx = (lease.token & u64::from(u32::MAX)) as u32;
        match self.rec(idx) {
            Some(rec)
                if rec.state == DeliveryState::Pending
                    && rec.lease.map(|l| l.token) == Some(lease.token)
                    && rec.id == lease.delivery_id =>
            {
                Ok(idx)
            }
            _ => Err(lease_lost()),
        }
    }

    fn finish(
        &mut self,
        lease: &Lease,
        attempt: AttemptRecord,
        next: NextState,
    ) -> Result<FinishReport, StoreError> {
        let idx = self.leased_index(lease)?;
        self.unlease(idx);
        // Its lease expired and it was queued again, yet nobody took it.
        self.dequeue(idx);
        let finished_at = saturating_add(attempt.started_at, attempt.duration);
        let row = match self.free_attempts.pop() {
            Some(i) => Some(i),
            None if self.attempts.len() < MAX_POSITIONS => {
                self.attempts.push(None);
                Some(pos(self.attempts.len() - 1))
            }
            // Past 4 billion records the history stops growing.
            None => None,
        };
        let Some(rec) = self.recs.get_mut(idx as usize).and_then(Option::as_mut) else {
            return Err(lease_lost());
        };
        if let Some(row) = row {
            self.attempts[row as usize] = Some(AttemptRow {
                record: attempt,
                prev: rec.last_attempt,
            });
            rec.last_attempt = Some(row);
        }
        rec.attempts = rec.attempts.saturating_add(1);
        let slot = rec.slot;
        let seq = rec.seq;
        match next {
            NextState::RetryAt(at) => rec.next_attempt_at = at,
            NextState::Succeeded => rec.state = DeliveryState::Succeeded,
            NextState::Dead => rec.state = DeliveryState::Dead,
        }
        match next {
            NextState::RetryAt(at) => self.enqueue(idx, at),
            NextState::Succeeded => {
                self.succeeded.push_back((idx, seq, finished_at));
                while self.succeeded.len() > self.retain_succeeded {
                    if let Some((old, old_seq, _)) = self.succeeded.pop_front() {
                        self.evict(old, old_seq);
                    }
                }
            }
            NextState::Dead => {}
        }
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return Ok(FinishReport::default());
        };
        match next {
            NextState::RetryAt(_) => {}
            NextState::Succeeded => s.dead_in_a_row = 0,
            NextState::Dead => s.dead_in_a_row = s.dead_in_a_row.saturating_add(1),
        }
        Ok(FinishReport::new(s.dead_in_a_row))
    }

    /// Removes a succeeded delivery, its attempt records and, with its last
    /// delivery, its event. Its place is reused.
    fn evict(&mut self, idx: u32, seq: u64) {
        let Some(place) = self.recs.get_mut(idx as usize) else {
            return;
        };
        if !place
            .as_ref()
            .is_some_and(|r| r.seq == seq && r.state == DeliveryState::Succeeded)
        {
            return;
        }
        let Some(rec) = place.take() else {
            return;
        };
        self.free_recs.push(idx);
        self.delivery_by_id.remove(&rec.id);
        let mut next = rec.last_attempt;
        while let Some(row) = next {
            next = self
                .attempts
                .get_mut(row as usize)
                .and_then(Option::take)
                .and_then(|r| r.prev);
            self.free_attempts.push(row);
        }
        let gone = match self.events.get_mut(rec.event as usize) {
            Some(Some(event)) => {
                event.deliveries = event.deliveries.saturating_sub(1);
                event.deliveries == 0
            }
            _ => false,
        };
        if gone {
            if let Some(event) = self.events[rec.event as usize].take() {
                self.event_by_id.remove(&event.id);
                self.free_events.push(rec.event);
            }
        }
    }

    /// A delivery's attempts, oldest first.
    fn history(&self, rec: &Rec) -> Vec<AttemptRecord> {
        let mut out = Vec::new();
        let mut next = rec.last_attempt;
        while let Some(row) = next.and_then(|i| self.attempts.get(i as usize)?.as_ref()) {
            out.push(row.record.clone());
            next = row.prev;
        }
        out.reverse();
        out
    }

    fn matches(&self, rec: &Rec, filter: &DeliveryFilter) -> bool {
        if filter.state.is_some_and(|s| s != rec.state) {
            return false;
        }
        if let Some(ep) = &filter.endpoint_id {
            if self
                .slots
                .get(rec.slot as usize)
                .is_none_or(|s| &s.id != ep)
            {
                return false;
            }
        }
        if let Some(ev) = &filter.event_id {
            if self
                .events
                .get(rec.event as usize)
                .and_then(Option::as_ref)
                .is_none_or(|e| &e.id != ev)
            {
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
        let Some(s) = inner.slots.get_mut(slot as usize) else {
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
            .slot_index
            .get(id)
            .and_then(|&i| inner.slots.get(i as usize))
            .and_then(|s| s.endpoint.clone()))
    }

    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .slot_by_id
            .values()
            .filter_map(|&i| inner.slots.get(i as usize).and_then(|s| s.endpoint.clone()))
            .collect())
    }

    async fn subscribers(&self, kind: &str) -> Result<Vec<EndpointId>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .slot_by_id
            .values()
            .filter_map(|&i| inner.slots.get(i as usize)?.endpoint.as_ref())
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
        let Some(&slot) = inner.slot_index.get(id) else {
            return Ok(false);
        };
        let Some(s) = inner.slots.get_mut(slot as usize) else {
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
        inner.insert(event, deliveries)?;
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
        let id = delivery.id.clone();
        inner.insert(event, vec![delivery])?;
        inner.ledger.insert(key.into(), id.clone());
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
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.expire_leases(now);
        let expires_at = saturating_add(now, lease_for);
        inner.next_batch = inner.next_batch.wrapping_add(1);
        let batch = inner.next_batch;
        let mut members = Vec::new();
        let mut out = Vec::new();
        while out.len() < limit {
            match inner.due.first() {
                Some(key) if key.0 <= now => {}
                _ => break,
            }
            let Some((_, _, idx)) = inner.due.pop_first() else {
                break;
            };
            inner.last_token = inner.last_token.wrapping_add(1);
            // The counter above the position (see `leased_index`).
            let token = (inner.last_token << 32) | u64::from(idx);
            let Some(rec) = inner.rec_mut(idx) else {
                continue;
            };
            rec.queued_at = None;
            rec.lease = Some(RecLease {
                token,
                expires_at,
                batch,
            });
            members.push(idx);
            if let Some(delivery) = inner.snapshot(idx) {
                let lease = Lease::new(delivery.id.clone(), token, expires_at);
                out.push(Leased::new(delivery, lease));
            }
        }
        if !members.is_empty() {
            let unfinished = pos(members.len());
            inner.leases.insert(
                (expires_at, batch),
                LeaseBatch {
                    members,
                    unfinished,
                },
            );
        }
        Ok(out)
    }

    async fn finish_attempt(
        &self,
        lease: &Lease,
        attempt: AttemptRecord,
        next: NextState,
    ) -> Result<FinishReport, StoreError> {
        self.lock().finish(lease, attempt, next)
    }

    async fn finish_attempts(&self, batch: Vec<Finish>) -> Vec<Result<FinishReport, StoreError>> {
        let mut inner = self.lock();
        batch
            .into_iter()
            .map(|f| inner.finish(&f.lease, f.attempt, f.next))
            .collect()
    }

    async fn prune_succeeded(&self, before: SystemTime, max: usize) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let mut removed = 0;
        while removed < max {
            match inner.succeeded.front() {
                Some(&(idx, seq, finished_at)) if finished_at < before => {
                    inner.succeeded.pop_front();
                    inner.evict(idx, seq);
                    removed += 1;
                }
                _ => break,
            }
        }
        Ok(removed)
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let idx = inner.leased_index(lease)?;
        inner.unlease(idx);
        inner.dequeue(idx);
        if let Some(at) = inner.rec(idx).map(|r| r.next_attempt_at) {
            inner.enqueue(idx, at);
        }
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
            .and_then(|&i| inner.rec(i))
            .map(|r| inner.history(r))
            .unwrap_or_default())
    }

    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        let inner = self.lock();
        let mut found: Vec<(u64, u32)> = inner
            .recs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| (r, pos(i))))
            .filter(|(r, _)| inner.matches(r, filter))
            .map(|(r, i)| (r.seq, i))
            .collect();
        found.sort_unstable();
        Ok(found
            .into_iter()
            .take(filter.limit)
            .filter_map(|(_, i)| inner.snapshot(i))
            .collect())
    }

    async fn redeliver(&self, id: &DeliveryId, now: SystemTime) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(&idx) = inner.delivery_by_id.get(id) else {
            return Ok(false);
        };
        let Some(rec) = inner.rec_mut(idx) else {
            return Ok(false);
        };
        if rec.state != DeliveryState::Dead {
            return Ok(false);
        }
        rec.state = DeliveryState::Pending;
        rec.attempts = 0;
        rec.next_attempt_at = now;
        rec.lease = None;
        inner.enqueue(idx, now);
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
            let store = InMemoryStore::with_retention(usize::MAX);
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
                assert_eq!(inner.delivery_by_id.len(), TOTAL);
                assert!(
                    inner.leases.is_empty(),
                    "finished lease batches are dropped"
                );
                assert!(inner
                    .recs
                    .iter()
                    .flatten()
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

    async fn lease_and_finish(store: &InMemoryStore, now: SystemTime, next: NextState) -> usize {
        let leased = store
            .lease_due(now, usize::MAX, Duration::from_secs(30))
            .await
            .unwrap();
        for l in &leased {
            store
                .finish_attempt(&l.lease, attempt(), next)
                .await
                .unwrap();
        }
        leased.len()
    }

    #[test]
    fn keeps_only_the_most_recent_succeeded_deliveries() {
        block_on(async {
            let store = InMemoryStore::with_retention(3);
            store.put_endpoint(endpoint("ep_a")).await.unwrap();
            for i in 0..5 {
                store
                    .insert_event(
                        event(&format!("evt_{i}")),
                        vec![delivery(&format!("dlv_{i}"), "ep_a")],
                    )
                    .await
                    .unwrap();
                assert_eq!(
                    lease_and_finish(&store, t(0), NextState::Succeeded).await,
                    1
                );
            }
            // The two oldest are gone, with their events and attempts.
            for gone in ["dlv_0", "dlv_1"] {
                let id = DeliveryId::new(gone).unwrap();
                assert!(store.delivery(&id).await.unwrap().is_none(), "{gone}");
                assert!(store.attempts(&id).await.unwrap().is_empty(), "{gone}");
            }
            for kept in ["dlv_2", "dlv_3", "dlv_4"] {
                let id = DeliveryId::new(kept).unwrap();
                assert_eq!(store.attempts(&id).await.unwrap().len(), 1, "{kept}");
            }
            let listed = store.deliveries(&DeliveryFilter::all(10)).await.unwrap();
            let ids: Vec<&str> = listed.iter().map(|d| d.id.as_str()).collect();
            assert_eq!(ids, ["dlv_2", "dlv_3", "dlv_4"], "oldest first");
            let inner = store.lock();
            assert_eq!(inner.event_by_id.len(), 3);
            assert!(!inner
                .event_by_id
                .contains_key(&EventId::new("evt_0").unwrap()));
            // Places are reused: five deliveries went through three places.
            assert!(inner.recs.len() <= 4, "{} places", inner.recs.len());
            assert!(inner.attempts.len() <= 4, "{} rows", inner.attempts.len());
        });
    }

    #[test]
    fn pending_and_dead_deliveries_are_never_removed() {
        block_on(async {
            let store = InMemoryStore::with_retention(0);
            store.put_endpoint(endpoint("ep_a")).await.unwrap();
            store
                .insert_event(
                    event("evt_1"),
                    vec![
                        delivery("dlv_dead", "ep_a"),
                        delivery("dlv_retry", "ep_a"),
                        delivery("dlv_ok", "ep_a"),
                    ],
                )
                .await
                .unwrap();
            let leased = store
                .lease_due(t(0), 10, Duration::from_secs(30))
                .await
                .unwrap();
            let next = |id: &str| match id {
                "dlv_dead" => NextState::Dead,
                "dlv_retry" => NextState::RetryAt(t(60)),
                _ => NextState::Succeeded,
            };
            for l in &leased {
                let n = next(l.delivery.id.as_str());
                store.finish_attempt(&l.lease, attempt(), n).await.unwrap();
            }
            let get = |id: &str| {
                let store = store.clone();
                let id = DeliveryId::new(id).unwrap();
                async move { store.delivery(&id).await.unwrap() }
            };
            assert!(
                get("dlv_ok").await.is_none(),
                "retention 0 forgets successes"
            );
            assert_eq!(get("dlv_dead").await.unwrap().state, DeliveryState::Dead);
            assert_eq!(
                get("dlv_retry").await.unwrap().state,
                DeliveryState::Pending
            );
            // The event stays while deliveries of it are kept.
            assert_eq!(store.lock().event_by_id.len(), 1);
            // A dead delivery can still be redelivered, and then succeed.
            assert!(store
                .redeliver(&DeliveryId::new("dlv_dead").unwrap(), t(61))
                .await
                .unwrap());
            assert_eq!(
                lease_and_finish(&store, t(61), NextState::Succeeded).await,
                2
            );
            assert!(get("dlv_dead").await.is_none());
            assert_eq!(
                store.lock().event_by_id.len(),
                0,
                "last delivery took the event"
            );
            assert_eq!(store.lock().queued(), 0);
        });
    }

    #[test]
    fn a_reused_place_does_not_honour_the_old_lease() {
        block_on(async {
            let store = InMemoryStore::with_retention(0);
            store.put_endpoint(endpoint("ep_a")).await.unwrap();
            store
                .insert_event(event("evt_1"), vec![delivery("dlv_1", "ep_a")])
                .await
                .unwrap();
            let first = store
                .lease_due(t(0), 10, Duration::from_secs(30))
                .await
                .unwrap();
            let old = first[0].lease.clone();
            store
                .finish_attempt(&old, attempt(), NextState::Succeeded)
                .await
                .unwrap();
            // dlv_2 takes dlv_1's place.
            store
                .insert_event(event("evt_2"), vec![delivery("dlv_2", "ep_a")])
                .await
                .unwrap();
            let second = store
                .lease_due(t(0), 10, Duration::from_secs(30))
                .await
                .unwrap();
            assert_eq!(second[0].lease.token & 0xffff_ffff, old.token & 0xffff_ffff);
            // The old lease, and a forged one with the new token, are refused.
            for stale in [
                old.clone(),
                Lease::new(old.delivery_id.clone(), second[0].lease.token, t(30)),
            ] {
                let err = store
                    .finish_attempt(&stale, attempt(), NextState::Dead)
                    .await
                    .unwrap_err();
                assert_eq!(err.kind(), StoreErrorKind::LeaseLost);
            }
            store
                .finish_attempt(&second[0].lease, attempt(), NextState::Succeeded)
                .await
                .unwrap();
        });
    }

    #[test]
    fn steady_state_does_not_grow() {
        // Publish-and-deliver rounds under retention: once warm, the store's
        // vectors and maps stop growing.
        let store = InMemoryStore::with_retention(100);
        block_on(store.put_endpoint(endpoint("ep_a"))).unwrap();
        let mut n = 0;
        let mut round = |store: &InMemoryStore| {
            for _ in 0..50 {
                n += 1;
                block_on(store.insert_event(
                    event(&format!("evt_{n}")),
                    vec![delivery(&format!("dlv_{n}"), "ep_a")],
                ))
                .unwrap();
            }
            assert_eq!(
                block_on(lease_and_finish(store, t(0), NextState::Succeeded)),
                50
            );
        };
        for _ in 0..10 {
            round(&store);
        }
        let size = |s: &InMemoryStore| {
            let i = s.lock();
            (
                i.recs.len(),
                i.events.len(),
                i.attempts.len(),
                i.delivery_by_id.len(),
            )
        };
        let warm = size(&store);
        for _ in 0..20 {
            round(&store);
        }
        assert_eq!(size(&store), warm);
        assert_eq!(warm.3, 100);
    }
}
