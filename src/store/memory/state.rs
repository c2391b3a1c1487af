//! The in-memory store's state behind its lock: endpoint slots, events and
//! delivery records in reusable places, attempt histories, lease batches, and
//! the operations on them (insert, finish, evict...).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use foldhash::fast::RandomState;

use super::due::DueIndex;
use crate::clock::saturating_add;
use crate::endpoint::Endpoint;
use crate::flow::FlowState;
use crate::id::{DeliveryId, EndpointId, EventId};
use crate::store::{
    AttemptRecord, Cursor, Delivery, DeliveryCounts, DeliveryFilter, DeliveryState, Disabling,
    EndpointHealth, FinishReport, LastAttempt, Lease, NewDelivery, NewEvent, NextState, SkipRecord,
    StoreError, StoreErrorKind,
};

/// An endpoint id seen by the store, whether or not the endpoint is stored.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) id: EndpointId,
    pub(super) endpoint: Option<Endpoint>,
    pub(super) dead_in_a_row: u32,
    /// Its kept deliveries by state, whether or not the endpoint is stored
    /// (kept current at every change of state, so health reads no delivery).
    pub(super) counts: DeliveryCounts,
    /// What its attempts say, since the endpoint was last put after a
    /// delete (reset with it).
    pub(super) attempts: SlotAttempts,
    /// When and why it was disabled, while it is.
    pub(super) disabled: Option<Disabling>,
    /// Its limiter, pause and circuit (see [`crate::flow`]).
    pub(super) flow: FlowState,
    /// Its deliveries held by an unexpired lease: with the endpoint's
    /// `max_in_flight`, what keeps the next from being leased.
    pub(super) leased: u32,
}

/// The attempt side of an endpoint's health.
#[derive(Debug, Default)]
pub(super) struct SlotAttempts {
    pub(super) last: Option<LastAttempt>,
    pub(super) last_success_at: Option<SystemTime>,
    pub(super) consecutive_failures: u32,
}

impl Slot {
    /// Its health, if its endpoint is stored.
    pub(super) fn health(&self) -> Option<EndpointHealth> {
        let endpoint = self.endpoint.as_ref()?;
        let mut h = EndpointHealth::new(self.id.clone(), endpoint.enabled);
        h.deliveries = self.counts;
        h.last_attempt = self.attempts.last.clone();
        h.last_success_at = self.attempts.last_success_at;
        h.consecutive_failures = self.attempts.consecutive_failures;
        h.disabled = if endpoint.enabled {
            None
        } else {
            self.disabled.clone()
        };
        h.circuit = self.flow.circuit();
        h.held_until = self.gate_at();
        Some(h)
    }
}

impl Slot {
    /// Its endpoint's rate limit.
    pub(super) fn rate(&self) -> Option<&crate::flow::RateLimit> {
        self.endpoint.as_ref().and_then(|e| e.rate_limit.as_ref())
    }

    /// When its flow gate opens (past times included).
    pub(super) fn gate_at(&self) -> Option<SystemTime> {
        self.flow.gate_at(self.rate())
    }

    /// Whether as many of its deliveries are out as its endpoint allows.
    pub(super) fn full(&self) -> bool {
        self.endpoint
            .as_ref()
            .and_then(|e| e.max_in_flight)
            .is_some_and(|max| self.leased >= max)
    }

    /// Whether its deliveries can be leased: its endpoint is enabled, or
    /// gone (the dispatcher then ends them dead, `endpoint deleted`).
    pub(super) fn active(&self) -> bool {
        self.endpoint.as_ref().is_none_or(|e| e.enabled)
    }
}

#[derive(Debug)]
pub(super) struct EventRec {
    pub(super) id: EventId,
    pub(super) kind: Arc<str>,
    pub(super) payload: Bytes,
    pub(super) created_at: SystemTime,
    /// Kept deliveries of this event; at 0 the event is removed.
    pub(super) deliveries: u32,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct RecLease {
    pub(super) token: u64,
    pub(super) expires_at: SystemTime,
    /// The [`LeaseBatch`] it was handed out in.
    pub(super) batch: u64,
}

#[derive(Debug)]
pub(super) struct Rec {
    pub(super) id: DeliveryId,
    pub(super) seq: u64,
    pub(super) event: u32,
    pub(super) slot: u32,
    pub(super) state: DeliveryState,
    pub(super) attempts: u32,
    pub(super) attempts_total: u32,
    pub(super) url: Option<Box<str>>,
    pub(super) next_attempt_at: SystemTime,
    pub(super) lease: Option<RecLease>,
    /// The time of its key in its slot's queue in the due index, if it is
    /// queued (pending and not leased, or its lease expired).
    pub(super) queued_at: Option<SystemTime>,
    /// The latest attempt in [`Inner::attempts`], linked to the ones before.
    /// Stored as the row + 1, so that the option takes 4 bytes (the record
    /// stays within 128): see [`Rec::last_row`].
    pub(super) last_attempt: Option<std::num::NonZeroU32>,
}

impl Rec {
    /// The row of its latest attempt in [`Inner::attempts`].
    pub(super) fn last_row(&self) -> Option<u32> {
        self.last_attempt.map(|r| r.get() - 1)
    }
}

/// One recorded attempt, linked to the delivery's previous one: histories
/// share one vector (with reused places) instead of a vector per delivery.
#[derive(Debug)]
pub(super) struct AttemptRow {
    pub(super) record: AttemptRecord,
    pub(super) prev: Option<u32>,
    /// Its place in listings: the order attempts were recorded.
    pub(super) seq: u64,
    /// The delivery's position.
    pub(super) delivery: u32,
}

/// The deliveries one `lease` call handed out, with one expiry: leased
/// deliveries wait here, not in the due index, so leasing and finishing
/// touch no index. Dropped when all have finished, or when it expires (its
/// unfinished deliveries then go back to the queue).
#[derive(Debug)]
pub(super) struct LeaseBatch {
    pub(super) members: Vec<u32>,
    pub(super) unfinished: u32,
}

#[derive(Debug, Default)]
pub(super) struct Inner {
    pub(super) slots: Vec<Slot>,
    /// Endpoint ids in id order (listing), and hashed (lookups).
    pub(super) slot_by_id: BTreeMap<EndpointId, u32>,
    pub(super) slot_index: Map<EndpointId, u32>,
    pub(super) events: Vec<Option<EventRec>>,
    pub(super) free_events: Vec<u32>,
    pub(super) event_by_id: Map<EventId, u32>,
    pub(super) recs: Vec<Option<Rec>>,
    pub(super) free_recs: Vec<u32>,
    pub(super) delivery_by_id: Map<DeliveryId, u32>,
    pub(super) next_seq: u64,
    pub(super) attempts: Vec<Option<AttemptRow>>,
    pub(super) free_attempts: Vec<u32>,
    pub(super) next_attempt_seq: u64,
    pub(super) due: DueIndex,
    /// Keyed by expiry, then batch number.
    pub(super) leases: BTreeMap<(SystemTime, u64), LeaseBatch>,
    pub(super) next_batch: u64,
    /// Succeeded deliveries in the order they succeeded, as (position, seq,
    /// when the attempt finished).
    pub(super) succeeded: VecDeque<(u32, u64, SystemTime)>,
    pub(super) retain_succeeded: usize,
    pub(super) ledger: Map<Box<str>, DeliveryId>,
    pub(super) skips: VecDeque<SkipRecord>,
    pub(super) last_token: u64,
    /// Deliveries' reasons (see [`Delivery::reason`]), by position: few
    /// deliveries have one, so they are kept out of the records.
    pub(super) reasons: Map<u32, Box<str>>,
}

/// The store's hash maps: keys are ids, hashed with foldhash (randomly
/// seeded per map, several times faster than the default SipHash on short
/// keys).
type Map<K, V> = HashMap<K, V, RandomState>;

/// Deliveries and events are addressed by 32-bit positions.
const MAX_POSITIONS: usize = u32::MAX as usize;

pub(super) fn conflict(msg: &'static str) -> StoreError {
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

pub(super) fn pos(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl Inner {
    pub(super) fn queued(&self) -> usize {
        self.due.len()
    }

    pub(super) fn rec(&self, idx: u32) -> Option<&Rec> {
        self.recs.get(idx as usize)?.as_ref()
    }

    pub(super) fn rec_mut(&mut self, idx: u32) -> Option<&mut Rec> {
        self.recs.get_mut(idx as usize)?.as_mut()
    }

    pub(super) fn slot_for(&mut self, id: &EndpointId) -> u32 {
        if let Some(&i) = self.slot_index.get(id) {
            return i;
        }
        let i = pos(self.slots.len());
        self.slots.push(Slot {
            id: id.clone(),
            endpoint: None,
            dead_in_a_row: 0,
            counts: DeliveryCounts::default(),
            attempts: SlotAttempts::default(),
            disabled: None,
            flow: FlowState::default(),
            leased: 0,
        });
        self.slot_by_id.insert(id.clone(), i);
        self.slot_index.insert(id.clone(), i);
        i
    }

    /// Parks a slot's queue or puts it back, after its endpoint was added,
    /// replaced, enabled, disabled or deleted.
    pub(super) fn reindex_slot(&mut self, slot: u32) {
        if let Some(s) = self.slots.get(slot as usize) {
            self.due.set_parked(slot, !s.active());
            // A deleted endpoint's deliveries go at once (to be ended dead).
            self.due
                .set_ordered(slot, s.endpoint.as_ref().is_some_and(|e| e.ordered));
            self.due.set_gate(slot, s.gate_at());
            self.due.set_full(slot, s.full());
        }
    }

    /// Counts `delta` (1 or -1) leases of `slot` and keeps its queue closed
    /// while its endpoint has as many out as its `max_in_flight`.
    pub(super) fn count_lease(&mut self, slot: u32, delta: i32) {
        if let Some(s) = self.slots.get_mut(slot as usize) {
            s.leased = s.leased.saturating_add_signed(delta);
            let full = s.full();
            self.due.set_full(slot, full);
        }
    }

    /// Keeps `slot`'s queue behind its flow gate after a change of its flow.
    pub(super) fn regate(&mut self, slot: u32) {
        if let Some(s) = self.slots.get(slot as usize) {
            self.due.set_gate(slot, s.gate_at());
        }
    }

    /// Queues a pending delivery at `at`, in its slot's queue.
    pub(super) fn enqueue(&mut self, idx: u32, at: SystemTime) {
        let Some(rec) = self.recs.get_mut(idx as usize).and_then(Option::as_mut) else {
            return;
        };
        rec.queued_at = Some(at);
        let (slot, seq) = (rec.slot, rec.seq);
        // Back in the queue (its lease expired, say): its turn is over.
        self.due.end_turn(slot, idx);
        self.due.insert(slot, (at, seq, idx));
    }

    /// Takes a delivery out of its slot's queue, if it is queued.
    pub(super) fn dequeue(&mut self, idx: u32) {
        let Some(rec) = self.recs.get_mut(idx as usize).and_then(Option::as_mut) else {
            return;
        };
        let Some(at) = rec.queued_at.take() else {
            return;
        };
        self.due.remove(rec.slot, &(at, rec.seq, idx));
    }

    /// Detaches a delivery from its lease batch (if the batch still exists).
    pub(super) fn unlease(&mut self, idx: u32) {
        // Counted in its slot's `leased` unless it expired and was queued
        // again (counted out then).
        let Some((lease, slot, counted)) = self
            .rec_mut(idx)
            .and_then(|r| Some((r.lease.take()?, r.slot, r.queued_at.is_none())))
        else {
            return;
        };
        self.due.end_turn(slot, idx);
        if let Some(s) = self.slots.get_mut(slot as usize) {
            s.flow.probe_returned(lease.expires_at);
            self.regate(slot);
        }
        if counted {
            self.count_lease(slot, -1);
        }
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
    pub(super) fn expire_leases(&mut self, now: SystemTime) {
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
                    // No longer out: its slot's count lets another go.
                    if let Some(slot) = self.rec(idx).map(|r| r.slot) {
                        self.count_lease(slot, -1);
                    }
                    self.enqueue(idx, expires_at);
                }
            }
        }
    }

    /// The earliest expiry of a lease batch holding a delivery that can be
    /// leased again when it expires: still held by that batch, to an enabled
    /// or missing endpoint. Batches are visited in expiry order; a batch is
    /// dropped once all its deliveries are finished, so the first batch
    /// visited usually answers.
    pub(super) fn first_leasable_expiry(&self) -> Option<SystemTime> {
        self.leases
            .iter()
            .find_map(|(&(expires_at, batch_no), batch)| {
                batch
                    .members
                    .iter()
                    .any(|&idx| {
                        self.rec(idx).is_some_and(|r| {
                            r.state == DeliveryState::Pending
                                && r.queued_at.is_none()
                                && r.lease.is_some_and(|l| l.batch == batch_no)
                                && self.slots.get(r.slot as usize).is_some_and(Slot::active)
                        })
                    })
                    .then_some(expires_at)
            })
    }

    pub(super) fn snapshot(&self, idx: u32) -> Option<Delivery> {
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
            attempts_total: rec.attempts_total,
            next_attempt_at: rec.next_attempt_at,
            created_at: event.created_at,
            reason: self.reasons.get(&idx).map(|r| r.to_string()),
            cursor: Cursor::new(rec.seq),
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
    pub(super) fn insert(
        &mut self,
        event: NewEvent,
        deliveries: Vec<NewDelivery>,
    ) -> Result<(), StoreError> {
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
                attempts_total: 0,
                url: d.url.map(String::into_boxed_str),
                next_attempt_at: d.due_at,
                lease: None,
                queued_at: None,
                last_attempt: None,
            });
            self.enqueue(pos(at), d.due_at);
            if let Some(s) = self.slots.get_mut(slot as usize) {
                s.counts.pending += 1;
            }
        }
        self.free_recs.truncate(self.free_recs.len() - reused);
        Ok(())
    }

    /// The delivery `lease` holds, if its token still matches. A token
    /// carries the delivery's position in its low 32 bits, so no id lookup
    /// is needed; the id and the whole token are still checked.
    pub(super) fn leased_index(&self, lease: &Lease) -> Result<u32, StoreError> {
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

    pub(super) fn finish(
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
        let attempt_seq = self.next_attempt_seq;
        self.next_attempt_seq += 1;
        let Some(rec) = self.recs.get_mut(idx as usize).and_then(Option::as_mut) else {
            return Err(lease_lost());
        };
        let last = LastAttempt::of(rec.id.clone(), &attempt);
        let started_at = attempt.started_at;
        if let Some(row) = row {
            self.attempts[row as usize] = Some(AttemptRow {
                record: attempt,
                prev: rec.last_row(),
                seq: attempt_seq,
                delivery: idx,
            });
            rec.last_attempt = std::num::NonZeroU32::new(row.wrapping_add(1));
        }
        rec.attempts = rec.attempts.saturating_add(1);
        rec.attempts_total = rec.attempts_total.saturating_add(1);
        let slot = rec.slot;
        let seq = rec.seq;
        match next {
            NextState::RetryAt(at) => rec.next_attempt_at = at,
            NextState::Succeeded => rec.state = DeliveryState::Succeeded,
            NextState::Dead => rec.state = DeliveryState::Dead,
        }
        match next {
            NextState::RetryAt(_) => {}
            NextState::Succeeded => self.recount(slot, DeliveryState::Succeeded),
            NextState::Dead => self.recount(slot, DeliveryState::Dead),
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
        // An endpoint that does not exist has no count.
        let Some(s) = self
            .slots
            .get_mut(slot as usize)
            .filter(|s| s.endpoint.is_some())
        else {
            return Ok(FinishReport::default());
        };
        if next == NextState::Succeeded {
            s.attempts.last_success_at = Some(last.started_at);
            s.attempts.consecutive_failures = 0;
        } else {
            s.attempts.consecutive_failures = s.attempts.consecutive_failures.saturating_add(1);
        }
        s.attempts.last = Some(last);
        match next {
            NextState::RetryAt(_) => {}
            NextState::Succeeded => s.dead_in_a_row = 0,
            NextState::Dead => s.dead_in_a_row = s.dead_in_a_row.saturating_add(1),
        }
        let breaker = s.endpoint.as_ref().and_then(|e| e.circuit_breaker);
        let circuit = s.flow.attempted(
            breaker.as_ref(),
            next == NextState::Succeeded,
            s.attempts.consecutive_failures,
            started_at,
            finished_at,
        );
        let report = FinishReport::new(s.dead_in_a_row).with_circuit(circuit);
        if circuit.is_some() {
            self.regate(slot);
        }
        Ok(report)
    }

    /// Moves one of a slot's deliveries from pending to `to` in its counts.
    pub(super) fn recount(&mut self, slot: u32, to: DeliveryState) {
        self.recount_from(slot, DeliveryState::Pending, to);
    }

    /// Moves one of a slot's deliveries from `from` to `to` in its counts.
    pub(super) fn recount_from(&mut self, slot: u32, from: DeliveryState, to: DeliveryState) {
        if let Some(s) = self.slots.get_mut(slot as usize) {
            let c = s.counts.get_mut(from);
            *c = c.saturating_sub(1);
            *s.counts.get_mut(to) += 1;
        }
    }

    /// Ends a pending delivery dead without an attempt, keeping `reason`.
    pub(super) fn end_unattempted(&mut self, idx: u32, reason: &str) {
        self.unlease(idx);
        self.dequeue(idx);
        if let Some(rec) = self.rec_mut(idx) {
            let was = rec.state;
            let slot = rec.slot;
            rec.state = DeliveryState::Dead;
            self.reasons.insert(idx, reason.into());
            self.recount_from(slot, was, DeliveryState::Dead);
        }
    }

    /// Removes a succeeded delivery, its attempt records and, with its last
    /// delivery, its event. Its place is reused.
    pub(super) fn evict(&mut self, idx: u32, seq: u64) {
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
        if let Some(s) = self.slots.get_mut(rec.slot as usize) {
            s.counts.succeeded = s.counts.succeeded.saturating_sub(1);
        }
        self.reasons.remove(&idx);
        self.free_recs.push(idx);
        self.delivery_by_id.remove(&rec.id);
        let mut next = rec.last_row();
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
    pub(super) fn history(&self, rec: &Rec) -> Vec<AttemptRecord> {
        let mut out = Vec::new();
        let mut next = rec.last_row();
        while let Some(row) = next.and_then(|i| self.attempts.get(i as usize)?.as_ref()) {
            out.push(row.record.clone());
            next = row.prev;
        }
        out.reverse();
        out
    }

    pub(super) fn matches(&self, rec: &Rec, filter: &DeliveryFilter) -> bool {
        if filter.state.is_some_and(|s| s != rec.state) {
            return false;
        }
        if filter
            .after
            .is_some_and(|after| !filter.order.is_after(Cursor::new(rec.seq), after))
        {
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
