//! Counting, store failures, back-off, and waiting when nothing is due.

use super::*;

impl<'a> Engine<'a> {
    pub(super) fn store_failed(&mut self, e: &StoreError, doing: &'static str) {
        self.tally(Tally::StoreError);
        let chain = error_chain(e);
        signals::store_failed(self.inner, doing, &chain);
        if let Some(c) = self.counters {
            c.last_error(format!("store failed {doing}: {chain}"));
        }
    }

    /// Counts one thing in the run's report and, in a worker, its live counts.
    pub(super) fn tally(&mut self, t: Tally) {
        let r = &mut self.report;
        match t {
            Tally::Leased(n) => r.leased += n,
            Tally::Attempt | Tally::Panic | Tally::EndpointDisabled => {}
            Tally::Succeeded => r.succeeded += 1,
            Tally::Retried => r.retried += 1,
            Tally::Dead => r.dead += 1,
            Tally::LeaseLost => r.lease_lost += 1,
            Tally::StoreError => r.store_errors += 1,
            Tally::Released => r.released += 1,
            Tally::Deferred => r.deferred += 1,
            Tally::Abandoned => r.abandoned += 1,
        }
        if let Some(c) = self.counters {
            c.tally(t);
        }
    }

    pub(super) fn arm_backoff(&mut self) {
        if let Some(idle) = self.idle {
            self.backoff = Some(idle.sleep(self.next_backoff));
            self.next_backoff = (self.next_backoff * 2).min(BACKOFF_MAX);
        }
    }

    pub(super) fn poll_waits(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        if let Some(backoff) = self.backoff.as_mut() {
            if backoff.as_mut().poll(cx).is_ready() {
                self.backoff = None;
                progress = true;
            }
        }
        let Some(idle) = self.idle else {
            return progress;
        };
        if self.stopping() {
            self.waiting = None;
            return progress;
        }
        if self.exhausted && self.waiting.is_none() {
            let inner = self.inner;
            let poll_interval = self.poll_interval;
            let skipped = !self.skipped.is_empty();
            let now = inner.clock.now();
            // Until the next due time, a wake-up (a publish) or the poll
            // interval, whichever comes first.
            self.waiting = Some(Box::pin(async move {
                // A failure to read it is counted and logged once the wait
                // (at most the poll interval) is over.
                let (next, failed) = match guarded_store(inner.store().next_due(now)).await {
                    Ok(next) => (next, None),
                    Err(e) => (None, Some(e)),
                };
                let wait = match next {
                    // Due now, yet the last lease took less than it asked:
                    // what is due belongs to endpoints at their share. Wait
                    // for one of their slots (a completion ends the wait), a
                    // publish or the poll interval, not for the due time.
                    Some(at) if at <= now && skipped => poll_interval,
                    Some(at) => at
                        .duration_since(now)
                        .unwrap_or_default()
                        .min(poll_interval),
                    None => poll_interval,
                };
                // Something due now that the last lease did not take (a race,
                // or an endpoint at its share): wait a moment, never spin.
                let wait = wait.max(Duration::from_millis(1));
                idle.wait(wait).await;
                failed
            }));
        }
        if let Some(waiting) = self.waiting.as_mut() {
            if let Poll::Ready(failed) = waiting.as_mut().poll(cx) {
                self.waiting = None;
                self.exhausted = false;
                progress = true;
                if let Some(e) = failed {
                    self.store_failed(&e, "reading the next due time");
                }
            }
        }
        progress
    }
}
