//! The in-memory store: the embedded default.
//!
//! [`InMemoryStore`] (this file) is a shared handle on one locked `Inner`
//! (`state.rs`: the records and the operations on them); the queue of due
//! deliveries is in `due.rs`.

mod due;
mod state;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;

use self::state::{conflict, pos, Inner, LeaseBatch, RecLease};
use super::{
    bounded_reason, AttemptFilter, AttemptRecord, Claim, Cursor, Delivery, DeliveryFilter,
    DeliveryState, Disabling, DueStats, EndpointHealth, Finish, FinishReport, Lease, LeaseRequest,
    Leased, ListedAttempt, NewDelivery, NewEvent, NextState, Order, SkipRecord, Store, StoreError,
    StoreErrorKind, REASON_ENDPOINT_DELETED,
};
use crate::clock::saturating_add;
use crate::endpoint::Endpoint;
use crate::id::{DeliveryId, EndpointId};

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
///   handle to the same [`Bytes`](bytes::Bytes), never a copy.
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
///   [`set_endpoint_enabled`]. A [`Cursor`](crate::store::Cursor) is the
///   delivery's (or attempt record's) creation number in this store.
/// - At most [`MAX_SKIP_RECORDS`](Self::MAX_SKIP_RECORDS) skips are kept; the
///   oldest are dropped.
/// - Cost: inserting, leasing and finishing cost `O(log n)` per delivery with
///   no id lookups (a lease token carries the delivery's position); once the
///   store has reached its working size it allocates nothing of its own per
///   delivery (a journey step's URL aside): removed deliveries' places are
///   reused. Each endpoint's queued deliveries wait in a queue of their own,
///   and leasing merges the queues it may take from: the deliveries of a
///   disabled endpoint, or of one in [`LeaseRequest::skip`], are never read
///   however many they are (each skipped endpoint costs `O(log e)` per
///   delivery leased, for `e` endpoints with queued deliveries). Enabling or
///   disabling an endpoint costs `O(log e)`; deleting one reads its own
///   queue. An ordered endpoint's queue is kept by creation number and
///   offers its head only between turns: its held deliveries are never read
///   by a lease. [`next_due`](Store::next_due) reads the earliest queue head and
///   the deliveries of the earliest lease batches.
///   [`deliveries`](Store::deliveries) scans every kept delivery, and
///   [`list_attempts`](Store::list_attempts) every kept attempt record;
///   [`endpoint_health`](Store::endpoint_health) reads counts kept current
///   at every change of state (`O(1)`, no delivery read). A queued
///   delivery costs about 300 bytes with 36-byte ids (its record, two copies
///   of its id, its map and index entries), plus a share of its event; the
///   payload itself is stored once.
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
        if endpoint.enabled {
            s.disabled = None;
        }
        if endpoint.circuit_breaker.is_none() {
            s.flow.breaker_removed();
        }
        s.endpoint = Some(endpoint);
        inner.reindex_slot(slot);
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
        let Some(endpoint) = s.endpoint.as_mut() else {
            return Ok(false);
        };
        endpoint.enabled = enabled;
        if enabled {
            s.dead_in_a_row = 0;
            s.disabled = None;
        }
        inner.reindex_slot(slot);
        Ok(true)
    }

    async fn disable_endpoint(
        &self,
        id: &EndpointId,
        at: SystemTime,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(&slot) = inner.slot_index.get(id) else {
            return Ok(false);
        };
        let Some(s) = inner.slots.get_mut(slot as usize) else {
            return Ok(false);
        };
        let Some(endpoint) = s.endpoint.as_mut().filter(|e| e.enabled) else {
            return Ok(false);
        };
        endpoint.enabled = false;
        s.disabled = Some(Disabling::new(at, bounded_reason(reason.to_owned())));
        inner.reindex_slot(slot);
        Ok(true)
    }

    async fn endpoint_health(&self, id: &EndpointId) -> Result<Option<EndpointHealth>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .slot_index
            .get(id)
            .and_then(|&i| inner.slots.get(i as usize))
            .and_then(state::Slot::health))
    }

    async fn endpoints_health(&self) -> Result<Vec<EndpointHealth>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .slot_by_id
            .values()
            .filter_map(|&i| inner.slots.get(i as usize)?.health())
            .collect())
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

    async fn lease(&self, request: LeaseRequest) -> Result<Vec<Leased>, StoreError> {
        let LeaseRequest {
            now,
            limit,
            lease_for,
            skip,
            ..
        } = request;
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.expire_leases(now);
        let expires_at = saturating_add(now, lease_for);
        inner.next_batch = inner.next_batch.wrapping_add(1);
        let batch = inner.next_batch;
        let skipped_slots: Vec<u32> = skip
            .iter()
            .filter_map(|id| inner.slot_index.get(id).copied())
            .collect();
        let mut members = Vec::new();
        let mut out = Vec::new();
        while out.len() < limit {
            let Some((key, slot)) = inner.due.pop_due(now, &skipped_slots) else {
                break;
            };
            let idx = key.2;
            if let Some(s) = inner.slots.get_mut(slot as usize) {
                if s.endpoint.as_ref().is_some_and(|e| e.rate_limit.is_some())
                    || s.flow.open.is_some()
                {
                    let rate = s.endpoint.as_ref().and_then(|e| e.rate_limit);
                    s.flow.leased(rate.as_ref(), now, expires_at);
                    inner.regate(slot);
                }
            }
            inner.count_lease(slot, 1);
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

    fn enforces_flow_control(&self) -> bool {
        true
    }

    async fn pause_endpoint(&self, id: &EndpointId, until: SystemTime) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(&slot) = inner.slot_index.get(id) else {
            return Ok(false);
        };
        let Some(s) = inner
            .slots
            .get_mut(slot as usize)
            .filter(|s| s.endpoint.is_some())
        else {
            return Ok(false);
        };
        s.flow.pause(until);
        inner.regate(slot);
        Ok(true)
    }

    async fn next_due(&self, now: SystemTime) -> Result<Option<SystemTime>, StoreError> {
        let inner = self.lock();
        // The earliest queued delivery, or the earliest lease to expire on a
        // delivery that can be leased again then.
        let queued = inner.due.first().map(|k| k.0);
        let expiring = inner.first_leasable_expiry();
        Ok(match (queued, expiring) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .map(|at| at.max(now)))
    }

    async fn due_stats(&self, now: SystemTime) -> Result<Option<DueStats>, StoreError> {
        let inner = self.lock();
        let (due, first) = inner.due.due_at(now);
        Ok(Some(DueStats::new(due, first.map(|k| k.0))))
    }

    async fn delete_endpoint(&self, id: &EndpointId) -> Result<bool, StoreError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(&slot) = inner.slot_index.get(id) else {
            return Ok(false);
        };
        let Some(s) = inner.slots.get_mut(slot as usize) else {
            return Ok(false);
        };
        if s.endpoint.take().is_none() {
            return Ok(false);
        }
        s.dead_in_a_row = 0;
        s.attempts = state::SlotAttempts::default();
        s.disabled = None;
        s.flow = crate::flow::FlowState::default();
        // Its queue, parked or not, is every pending delivery no lease holds,
        // and those whose lease expired: these stay, for their holder may
        // still finish them.
        for key in inner.due.take_slot(slot) {
            let idx = key.2;
            if inner.rec(idx).is_some_and(|r| r.lease.is_some()) {
                inner.due.insert(slot, key);
            } else {
                if let Some(rec) = inner.rec_mut(idx) {
                    rec.queued_at = None;
                }
                inner.end_unattempted(idx, REASON_ENDPOINT_DELETED);
            }
        }
        // Gone, its deliveries are leased (to be ended).
        inner.reindex_slot(slot);
        Ok(true)
    }

    async fn defer(
        &self,
        lease: &Lease,
        until: SystemTime,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let idx = inner.leased_index(lease)?;
        inner.unlease(idx);
        inner.dequeue(idx);
        if let Some(rec) = inner.rec_mut(idx) {
            rec.next_attempt_at = until;
            let reason = crate::store::bounded_reason(reason.to_owned()).into();
            inner.reasons.insert(idx, reason);
        }
        inner.enqueue(idx, until);
        Ok(())
    }

    async fn abandon(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let idx = inner.leased_index(lease)?;
        inner.end_unattempted(idx, &crate::store::bounded_reason(reason.to_owned()));
        Ok(())
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
        if filter.order == Order::NewestFirst {
            found.reverse();
        }
        Ok(found
            .into_iter()
            .take(filter.limit)
            .filter_map(|(_, i)| inner.snapshot(i))
            .collect())
    }

    async fn list_attempts(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<ListedAttempt>, StoreError> {
        let inner = self.lock();
        let wanted_delivery = match &filter.delivery_id {
            Some(id) => match inner.delivery_by_id.get(id) {
                Some(&idx) => Some(idx),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let wanted_slot = match &filter.endpoint_id {
            Some(id) => match inner.slot_index.get(id) {
                Some(&slot) => Some(slot),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let mut found: Vec<(u64, u32)> = inner
            .attempts
            .iter()
            .enumerate()
            .filter_map(|(i, row)| row.as_ref().map(|row| (row, pos(i))))
            .filter(|(row, _)| wanted_delivery.is_none_or(|d| d == row.delivery))
            .filter(|(row, _)| {
                wanted_slot
                    .is_none_or(|slot| inner.rec(row.delivery).is_some_and(|r| r.slot == slot))
            })
            .filter(|(row, _)| {
                filter
                    .after
                    .is_none_or(|after| filter.order.is_after(Cursor::new(row.seq), after))
            })
            .map(|(row, i)| (row.seq, i))
            .collect();
        found.sort_unstable();
        if filter.order == Order::NewestFirst {
            found.reverse();
        }
        Ok(found
            .into_iter()
            .take(filter.limit)
            .filter_map(|(seq, i)| {
                let row = inner.attempts.get(i as usize)?.as_ref()?;
                let rec = inner.rec(row.delivery)?;
                let slot = inner.slots.get(rec.slot as usize)?;
                Some(ListedAttempt::new(
                    Cursor::new(seq),
                    rec.id.clone(),
                    slot.id.clone(),
                    row.record.clone(),
                ))
            })
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
        let slot = rec.slot;
        inner.enqueue(idx, now);
        inner.recount_from(slot, DeliveryState::Dead, DeliveryState::Pending);
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
