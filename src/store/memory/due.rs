//! The due index: the queue of pending deliveries to enabled endpoints,
//! ordered by when each can next be leased.

use std::collections::{BTreeSet, VecDeque};
use std::time::SystemTime;

/// A queue key: when the delivery can next be leased, its creation number
/// (ties go to the oldest), then its position.
pub(super) type DueKey = (SystemTime, u64, u32);

/// The pending deliveries to present, enabled endpoints, earliest first.
///
/// Keys mostly arrive in order (new deliveries are due now, and now only
/// grows), so those are appended to a sorted run in `O(1)`; the others go
/// to a B-tree. The first key is the smaller of the two fronts.
#[derive(Debug, Default)]
pub(super) struct DueIndex {
    run: VecDeque<DueKey>,
    rest: BTreeSet<DueKey>,
}

impl DueIndex {
    pub(super) fn len(&self) -> usize {
        self.run.len() + self.rest.len()
    }

    pub(super) fn insert(&mut self, key: DueKey) {
        if self.run.back().is_none_or(|last| *last <= key) {
            self.run.push_back(key);
        } else {
            self.rest.insert(key);
        }
    }

    pub(super) fn first(&self) -> Option<DueKey> {
        match (self.run.front(), self.rest.first()) {
            (Some(a), Some(b)) => Some(*a.min(b)),
            (a, b) => a.or(b).copied(),
        }
    }

    pub(super) fn pop_first(&mut self) -> Option<DueKey> {
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

    pub(super) fn remove(&mut self, key: &DueKey) -> bool {
        if self.rest.remove(key) {
            return true;
        }
        match self.run.binary_search(key) {
            Ok(i) => self.run.remove(i).is_some(),
            Err(_) => false,
        }
    }

    /// Removes and returns the keys for which `take` is true.
    pub(super) fn drain_where(&mut self, mut take: impl FnMut(&DueKey) -> bool) -> Vec<DueKey> {
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
