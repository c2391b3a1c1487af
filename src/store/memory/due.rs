//! The due index: each endpoint slot's queue of pending deliveries, ordered
//! by when each can next be leased, and the heads of the queues that can be
//! leased from, so that leasing takes the earliest delivery across endpoints
//! and passes over a disabled or skipped endpoint without reading its queue.

use std::collections::{BTreeSet, VecDeque};
use std::time::SystemTime;

/// A queue key: when the delivery can next be leased, its creation number
/// (ties go to the oldest), then its position.
pub(super) type DueKey = (SystemTime, u64, u32);

/// One slot's pending deliveries, earliest first.
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
}

impl Queue {
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
}

/// Every slot's queue, and the first key of each queue that is not parked.
#[derive(Debug, Default)]
pub(super) struct DueIndex {
    /// By slot number.
    queues: Vec<Queue>,
    /// `(first key, slot)` of every non-empty queue that is not parked.
    heads: BTreeSet<(DueKey, u32)>,
    len: usize,
}

impl DueIndex {
    /// Queued deliveries, parked ones included.
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

    /// Queues `key` in `slot`'s queue.
    pub(super) fn insert(&mut self, slot: u32, key: DueKey) {
        let q = self.queue_mut(slot);
        let old = q.first();
        q.insert(key);
        let parked = q.parked;
        self.len += 1;
        if !parked && old.is_none_or(|old| key < old) {
            if let Some(old) = old {
                self.heads.remove(&(old, slot));
            }
            self.heads.insert((key, slot));
        }
    }

    /// Takes `key` out of `slot`'s queue; whether it was there.
    pub(super) fn remove(&mut self, slot: u32, key: &DueKey) -> bool {
        let Some(q) = self.queues.get_mut(slot as usize) else {
            return false;
        };
        let old = q.first();
        if !q.remove(key) {
            return false;
        }
        self.len -= 1;
        if !q.parked && old == Some(*key) {
            let next = q.first();
            self.heads.remove(&(*key, slot));
            if let Some(next) = next {
                self.heads.insert((next, slot));
            }
        }
        true
    }

    /// The earliest key of the queues that are not parked.
    pub(super) fn first(&self) -> Option<DueKey> {
        self.heads.first().map(|&(key, _)| key)
    }

    /// Takes the earliest key due at `now` (at or before it) from the queues
    /// that are not parked, passing over the slots in `skip`; with the slot
    /// it came from.
    pub(super) fn pop_due(&mut self, now: SystemTime, skip: &[u32]) -> Option<(DueKey, u32)> {
        let &(key, slot) = self
            .heads
            .iter()
            .take_while(|(key, _)| key.0 <= now)
            .find(|(_, slot)| !skip.contains(slot))?;
        self.heads.remove(&(key, slot));
        let q = &mut self.queues[slot as usize];
        q.pop_first();
        if let Some(next) = q.first() {
            self.heads.insert((next, slot));
        }
        self.len -= 1;
        Some((key, slot))
    }

    /// How many queued deliveries (of queues not parked) are due at `now`,
    /// and the earliest one's key. Reads only the due part of each queue.
    pub(super) fn due_at(&self, now: SystemTime) -> (u64, Option<DueKey>) {
        let mut count = 0u64;
        for &(_, slot) in self.heads.iter().take_while(|(key, _)| key.0 <= now) {
            let q = &self.queues[slot as usize];
            let in_run = q.run.partition_point(|k| k.0 <= now);
            let in_rest = q.rest.iter().take_while(|k| k.0 <= now).count();
            count += (in_run + in_rest) as u64;
        }
        (count, self.first().filter(|k| k.0 <= now))
    }

    /// Parks `slot`'s queue (its deliveries are not leased) or puts it back.
    pub(super) fn set_parked(&mut self, slot: u32, parked: bool) {
        let q = self.queue_mut(slot);
        if q.parked == parked {
            return;
        }
        q.parked = parked;
        if let Some(first) = q.first() {
            if parked {
                self.heads.remove(&(first, slot));
            } else {
                self.heads.insert((first, slot));
            }
        }
    }

    /// Empties `slot`'s queue and returns its keys, earliest first.
    pub(super) fn take_slot(&mut self, slot: u32) -> Vec<DueKey> {
        let Some(q) = self.queues.get_mut(slot as usize) else {
            return Vec::new();
        };
        if let (false, Some(first)) = (q.parked, q.first()) {
            self.heads.remove(&(first, slot));
        }
        let mut keys: Vec<DueKey> = std::mem::take(&mut q.run).into();
        keys.extend(std::mem::take(&mut q.rest));
        keys.sort_unstable();
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
