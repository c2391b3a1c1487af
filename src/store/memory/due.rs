//! The due index: each endpoint slot's queue of pending deliveries, ordered
//! by when each can next be leased, and the heads of the queues that can be
//! leased from, so that leasing takes the earliest delivery across endpoints
//! and passes over a disabled or skipped endpoint without reading its queue.
//!
//! An ordered endpoint's queue is kept by creation number instead, and offers
//! only its first delivery, and only while none of its deliveries is leased
//! (its turn): the others are held, so they are neither leased nor reported
//! due.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::SystemTime;

/// A queue key: when the delivery can next be leased, its creation number
/// (ties go to the oldest), then its position.
pub(super) type DueKey = (SystemTime, u64, u32);

/// One slot's pending deliveries, earliest first (or, ordered, oldest first).
///
/// Keys mostly arrive in order (new deliveries are due now, and now only
/// grows), so those are appended to a sorted run in `O(1)`; the others go
/// to a B-tree. The first key is the smaller of the two fronts.
#[derive(Debug, Default)]
struct Queue {
    run: VecDeque<DueKey>,
    rest: BTreeSet<DueKey>,
    /// Its endpoint is disabled: the queue is kept, out of the heads.
    parked: bool,
    /// Its endpoint is ordered: the keys are in `by_seq` (`run` and `rest`
    /// are empty), by creation number and position, each with its time.
    ordered: bool,
    by_seq: BTreeMap<(u64, u32), SystemTime>,
    /// Ordered: the position of the delivery leased from it, whose turn it
    /// is; the queue offers nothing until the turn ends.
    turn: Option<u32>,
    /// Its endpoint's flow gate (see [`crate::flow`]): nothing of it is
    /// offered before this.
    gate: Option<SystemTime>,
    /// Its endpoint has as many deliveries out as its `max_in_flight`:
    /// it offers nothing.
    full: bool,
}

impl Queue {
    fn insert(&mut self, key: DueKey) {
        if self.ordered {
            self.by_seq.insert((key.1, key.2), key.0);
        } else if self.run.back().is_none_or(|last| *last <= key) {
            self.run.push_back(key);
        } else {
            self.rest.insert(key);
        }
    }

    /// The key it offers for leasing: its earliest (ordered: its oldest, if
    /// no turn is under way), not before its gate.
    fn first(&self) -> Option<DueKey> {
        if self.full {
            return None;
        }
        let key = self.first_queued()?;
        Some(match self.gate {
            Some(gate) if gate > key.0 => (gate, key.1, key.2),
            _ => key,
        })
    }

    /// [`first`](Self::first) without the gate.
    fn first_queued(&self) -> Option<DueKey> {
        if self.ordered {
            if self.turn.is_some() {
                return None;
            }
            return self
                .by_seq
                .first_key_value()
                .map(|(&(seq, idx), &at)| (at, seq, idx));
        }
        match (self.run.front(), self.rest.first()) {
            (Some(a), Some(b)) => Some(*a.min(b)),
            (a, b) => a.or(b).copied(),
        }
    }

    /// Takes the key [`first`](Self::first) offers; ordered, its turn begins.
    fn pop_first(&mut self) -> Option<DueKey> {
        if self.ordered {
            let key = self.first_queued()?;
            self.by_seq.remove(&(key.1, key.2));
            self.turn = Some(key.2);
            return Some(key);
        }
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
        if self.ordered {
            return self.by_seq.remove(&(key.1, key.2)).is_some();
        }
        if self.rest.remove(key) {
            return true;
        }
        match self.run.binary_search(key) {
            Ok(i) => self.run.remove(i).is_some(),
            Err(_) => false,
        }
    }

    /// Every key, earliest first, leaving it empty.
    fn take_all(&mut self) -> Vec<DueKey> {
        let mut keys: Vec<DueKey> = std::mem::take(&mut self.run).into();
        keys.extend(std::mem::take(&mut self.rest));
        keys.extend(
            std::mem::take(&mut self.by_seq)
                .into_iter()
                .map(|((seq, idx), at)| (at, seq, idx)),
        );
        keys.sort_unstable();
        keys
    }

    /// How many of its keys are due at `now`: ordered, its first alone.
    fn due_at(&self, now: SystemTime) -> usize {
        if self.full || self.gate.is_some_and(|g| g > now) {
            return 0;
        }
        if self.ordered {
            return usize::from(self.first().is_some_and(|k| k.0 <= now));
        }
        let in_run = self.run.partition_point(|k| k.0 <= now);
        let in_rest = self.rest.iter().take_while(|k| k.0 <= now).count();
        in_run + in_rest
    }
}

/// Every slot's queue, and the first key of each queue that is not parked.
#[derive(Debug, Default)]
pub(super) struct DueIndex {
    /// By slot number.
    queues: Vec<Queue>,
    /// `(first key, slot)` of every queue that is not parked and offers one.
    heads: BTreeSet<(DueKey, u32)>,
    len: usize,
}

impl DueIndex {
    /// Queued deliveries, parked and held ones included.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn queue_mut(&mut self, slot: u32) -> &mut Queue {
        let i = slot as usize;
        if self.queues.len() <= i {
            self.queues.resize_with(i + 1, Queue::default);
        }
        &mut self.queues[i]
    }

    /// Changes `slot`'s queue with `change`, keeping its entry in the heads
    /// current; what `change` returns.
    fn change<T>(&mut self, slot: u32, change: impl FnOnce(&mut Queue) -> T) -> T {
        let q = self.queue_mut(slot);
        let old = (!q.parked).then(|| q.first()).flatten();
        let out = change(q);
        let new = (!q.parked).then(|| q.first()).flatten();
        if old != new {
            if let Some(old) = old {
                self.heads.remove(&(old, slot));
            }
            if let Some(new) = new {
                self.heads.insert((new, slot));
            }
        }
        out
    }

    /// Queues `key` in `slot`'s queue.
    pub(super) fn insert(&mut self, slot: u32, key: DueKey) {
        self.change(slot, |q| q.insert(key));
        self.len += 1;
    }

    /// Takes `key` out of `slot`'s queue; whether it was there.
    pub(super) fn remove(&mut self, slot: u32, key: &DueKey) -> bool {
        if self.queues.get(slot as usize).is_none() {
            return false;
        }
        let removed = self.change(slot, |q| q.remove(key));
        if removed {
            self.len -= 1;
        }
        removed
    }

    /// The earliest key of the queues that are not parked.
    pub(super) fn first(&self) -> Option<DueKey> {
        self.heads.first().map(|&(key, _)| key)
    }

    /// Takes the earliest key due at `now` (at or before it) from the queues
    /// that are not parked, passing over the slots in `skip`; with the slot
    /// it came from. From an ordered queue, this begins the delivery's turn.
    pub(super) fn pop_due(&mut self, now: SystemTime, skip: &[u32]) -> Option<(DueKey, u32)> {
        let &(key, slot) = self
            .heads
            .iter()
            .take_while(|(key, _)| key.0 <= now)
            .find(|(_, slot)| !skip.contains(slot))?;
        self.change(slot, Queue::pop_first);
        self.len -= 1;
        Some((key, slot))
    }

    /// How many queued deliveries (of queues not parked, held ones left out)
    /// are due at `now`, and the earliest one's key. Reads only the due part
    /// of each queue.
    pub(super) fn due_at(&self, now: SystemTime) -> (u64, Option<DueKey>) {
        let mut count = 0u64;
        for &(_, slot) in self.heads.iter().take_while(|(key, _)| key.0 <= now) {
            count += self.queues[slot as usize].due_at(now) as u64;
        }
        (count, self.first().filter(|k| k.0 <= now))
    }

    /// Parks `slot`'s queue (its deliveries are not leased) or puts it back.
    pub(super) fn set_parked(&mut self, slot: u32, parked: bool) {
        let q = self.queue_mut(slot);
        if q.parked == parked {
            return;
        }
        let first = q.first();
        q.parked = parked;
        if let Some(first) = first {
            if parked {
                self.heads.remove(&(first, slot));
            } else {
                self.heads.insert((first, slot));
            }
        }
    }

    /// Keeps `slot`'s queue ordered (one delivery at a time, oldest first)
    /// or not. Deliveries leased before it became ordered are not waited for.
    pub(super) fn set_ordered(&mut self, slot: u32, ordered: bool) {
        if self.queue_mut(slot).ordered == ordered {
            return;
        }
        self.change(slot, |q| {
            let keys = q.take_all();
            q.ordered = ordered;
            q.turn = None;
            for key in keys {
                q.insert(key);
            }
        });
    }

    /// Sets `slot`'s flow gate: nothing of it is offered before `gate`.
    pub(super) fn set_gate(&mut self, slot: u32, gate: Option<SystemTime>) {
        if self.queue_mut(slot).gate != gate {
            self.change(slot, |q| q.gate = gate);
        }
    }

    /// Closes `slot`'s queue while its endpoint has as many out as it may.
    pub(super) fn set_full(&mut self, slot: u32, full: bool) {
        if self.queue_mut(slot).full != full {
            self.change(slot, |q| q.full = full);
        }
    }

    /// Ends the turn of the delivery at `idx` in `slot`'s queue, if it is
    /// the one whose turn it is: it finished, was handed back, or its lease
    /// expired. The queue's oldest is offered again.
    pub(super) fn end_turn(&mut self, slot: u32, idx: u32) {
        if self
            .queues
            .get(slot as usize)
            .is_some_and(|q| q.turn == Some(idx))
        {
            self.change(slot, |q| q.turn = None);
        }
    }

    /// Empties `slot`'s queue and returns its keys, earliest first.
    pub(super) fn take_slot(&mut self, slot: u32) -> Vec<DueKey> {
        if self.queues.get(slot as usize).is_none() {
            return Vec::new();
        }
        let keys = self.change(slot, Queue::take_all);
        self.len -= keys.len();
        keys
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn key(secs: u64, seq: u64) -> DueKey {
        (UNIX_EPOCH + Duration::from_secs(secs), seq, seq as u32)
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn pops_the_earliest_across_slots_passing_over_skipped_and_parked_ones() {
        let mut due = DueIndex::default();
        due.insert(0, key(1, 0));
        due.insert(0, key(2, 1));
        due.insert(1, key(3, 2));
        due.insert(2, key(4, 3));
        due.insert(1, key(0, 4)); // out of order: the new head of slot 1
        assert_eq!(due.len(), 5);
        assert_eq!(due.first(), Some(key(0, 4)));
        assert_eq!(due.pop_due(at(10), &[1]), Some((key(1, 0), 0)));
        due.set_parked(0, true);
        assert_eq!(due.pop_due(at(10), &[1]), Some((key(4, 3), 2)));
        assert_eq!(due.pop_due(at(10), &[1]), None, "slot 0 parked, 1 skipped");
        assert_eq!(due.pop_due(at(0), &[]), Some((key(0, 4), 1)));
        assert_eq!(due.pop_due(at(2), &[]), None, "slot 1's next is due at 3");
        due.set_parked(0, false);
        assert_eq!(due.first(), Some(key(2, 1)));
        assert!(due.remove(0, &key(2, 1)));
        assert!(!due.remove(0, &key(2, 1)), "removed already");
        assert_eq!(due.first(), Some(key(3, 2)));
        assert_eq!(due.len(), 1);
    }

    #[test]
    fn an_ordered_queue_offers_its_oldest_once_per_turn() {
        let mut due = DueIndex::default();
        due.insert(0, key(9, 0)); // created first, due last
        due.insert(0, key(1, 1));
        due.insert(1, key(5, 2));
        due.set_ordered(0, true);
        assert_eq!(
            due.first(),
            Some(key(5, 2)),
            "slot 0 offers seq 0, due at 9"
        );
        assert_eq!(due.pop_due(at(5), &[]), Some((key(5, 2), 1)));
        assert_eq!(due.pop_due(at(8), &[]), None, "seq 1 is due but held");
        assert_eq!(due.due_at(at(20)), (1, Some(key(9, 0))));
        assert_eq!(due.pop_due(at(9), &[]), Some((key(9, 0), 0)));
        assert_eq!(due.first(), None, "seq 0's turn: seq 1 is held");
        assert_eq!(due.due_at(at(20)), (0, None));
        due.end_turn(0, 7); // not the one out
        assert_eq!(due.first(), None);
        // Its retry goes back: it is the oldest again, the turn ends.
        due.insert(0, key(12, 0));
        due.end_turn(0, 0);
        assert_eq!(due.first(), Some(key(12, 0)));
        assert_eq!(due.pop_due(at(12), &[]), Some((key(12, 0), 0)));
        due.end_turn(0, 0); // succeeded
        assert_eq!(due.pop_due(at(12), &[]), Some((key(1, 1), 0)));
        due.end_turn(0, 1);
        assert_eq!((due.len(), due.first()), (0, None));
        // Back to unordered: earliest due first again.
        due.insert(0, key(3, 5));
        due.insert(0, key(2, 6));
        due.set_ordered(0, false);
        assert_eq!(due.first(), Some(key(2, 6)));
    }

    #[test]
    fn a_slot_taken_out_leaves_the_others() {
        let mut due = DueIndex::default();
        due.insert(3, key(5, 0));
        due.insert(3, key(1, 1));
        due.insert(3, key(9, 2));
        due.insert(4, key(2, 3));
        assert_eq!(due.take_slot(3), vec![key(1, 1), key(5, 0), key(9, 2)]);
        assert_eq!(due.len(), 1);
        assert_eq!(due.first(), Some(key(2, 3)));
        assert!(due.take_slot(7).is_empty(), "a slot never seen");
        due.set_parked(4, true);
        assert_eq!(due.take_slot(4), vec![key(2, 3)]);
        due.set_parked(4, false);
        assert_eq!((due.len(), due.first()), (0, None));
    }
}
