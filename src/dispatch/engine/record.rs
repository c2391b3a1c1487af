//! Recording settled attempts, disabling endpoints, and handing back what is not sent.

use super::*;

impl<'a> Engine<'a> {
    pub(super) fn poll_records(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        if let Some((_, recording)) = self.recording.as_mut() {
            if let Poll::Ready(results) = recording.as_mut().poll(cx) {
                if let Some((reports, _)) = self.recording.take() {
                    self.account(reports, results);
                }
                progress = true;
            }
        }
        if self.recording.is_none() && !self.to_record.is_empty() {
            let settled = std::mem::take(&mut self.to_record);
            let mut finishes = Vec::with_capacity(settled.len());
            let mut reports = Vec::with_capacity(settled.len());
            for s in settled {
                finishes.push(s.finish);
                reports.push(s.report);
            }
            let n = finishes.len();
            let store = self.inner.store();
            let call: BoxFut<'a, Vec<Result<FinishReport, StoreError>>> = Box::pin(async move {
                match AssertUnwindSafe(store.finish_attempts(finishes))
                    .catch_unwind()
                    .await
                {
                    Ok(results) => results,
                    Err(panic) => {
                        let e = panicked_store(&panic);
                        (0..n).map(|_| Err(copy_store_error(&e))).collect()
                    }
                }
            });
            self.recording = Some((reports, call));
            progress = true;
        }
        progress
    }

    /// Counts what the store recorded, and disables endpoints the outcome
    /// calls for.
    pub(super) fn account(
        &mut self,
        reports: Vec<AttemptReport>,
        results: Vec<Result<FinishReport, StoreError>>,
    ) {
        // A store that answers fewer entries than asked recorded nothing for
        // the rest, as far as anyone can tell.
        let mut results = results.into_iter();
        for mut attempt in reports {
            let stored = results
                .next()
                .unwrap_or_else(|| Err(StoreError::from_kind(StoreErrorKind::Other)));
            attempt.recorded = stored.is_ok();
            self.turn_ended(&attempt.endpoint_id);
            match stored {
                Ok(finish) => {
                    if let Some(change) = finish.circuit {
                        self.circuit_changed(&attempt.endpoint_id, change);
                    }
                    self.next_backoff = BACKOFF_MIN;
                    signals::store_ok(self.inner);
                    let endpoint = self.load.get(&attempt.endpoint_id).map(|l| &l.signals);
                    signals::attempt_recorded(self.inner, endpoint, &attempt);
                    self.count_recorded(&attempt, finish.dead_in_a_row);
                }
                Err(e) if e.kind() == StoreErrorKind::LeaseLost => self.tally(Tally::LeaseLost),
                Err(e) => self.store_failed(&e, "recording"),
            }
            self.tally(Tally::Attempt);
            if attempt.panicked() {
                self.tally(Tally::Panic);
            }
            if self.once {
                self.report.attempts.push(attempt);
            }
        }
    }

    pub(super) fn count_recorded(&mut self, attempt: &AttemptReport, dead_in_a_row: u32) {
        match attempt.decision {
            Decision::Succeeded => self.tally(Tally::Succeeded),
            Decision::RetryIn(_) => self.tally(Tally::Retried),
            Decision::DisableEndpoint => {
                self.tally(Tally::Dead);
                self.disable(&attempt.endpoint_id, DisableReason::Gone);
            }
            _ => {
                self.tally(Tally::Dead);
                if let Some(limit) = self.inner.disable_after_dead {
                    if dead_in_a_row >= limit {
                        self.disable(
                            &attempt.endpoint_id,
                            DisableReason::DeadInARow(dead_in_a_row),
                        );
                    }
                }
            }
        }
    }

    /// The store changed an endpoint's circuit: an open one holds its
    /// deliveries here too.
    pub(super) fn circuit_changed(&mut self, id: &EndpointId, change: crate::flow::CircuitChange) {
        match change {
            crate::flow::CircuitChange::Opened { until, .. } => self.hold(id, until),
            _ => {
                if let Some(load) = self.load.get_mut(id) {
                    load.held_until = None;
                }
                // Its deliveries are due again: lease rather than wait.
                self.exhausted = false;
                self.waiting = None;
            }
        }
        if self.once {
            self.report.circuits.push((id.clone(), change));
        }
        signals::circuit_changed(self.inner, id, change);
    }

    /// Disables an endpoint, once while the store call is under way however
    /// many of its attempts call for it; the store says whether this call
    /// disabled it.
    pub(super) fn disable(&mut self, id: &EndpointId, reason: DisableReason) {
        if self.report.disabled.iter().any(|(d, _)| d == id) {
            return;
        }
        self.report.disabled.push((id.clone(), reason));
        if let Some(load) = self.load.get_mut(id) {
            // Its deliveries leased or held here are not sent.
            load.disabled = true;
        }
        let store = self.inner.store();
        let id = id.clone();
        let at = self.inner.clock.now();
        self.disabling.push(Box::pin(async move {
            // `true` only for the call that disabled it: an endpoint already
            // disabled (by another worker, or an earlier run) is not counted
            // again.
            let why = reason.to_string();
            let result = guarded_store(store.disable_endpoint(&id, at, &why)).await;
            (id, reason, result)
        }));
    }

    /// A delivery of this endpoint was recorded or handed back. If the
    /// endpoint is ordered, that ended its turn and the store now offers the
    /// next one (or the same one, later): lease again rather than wait for
    /// the next due time, which was the lease's expiry while it was out.
    pub(super) fn turn_ended(&mut self, id: &EndpointId) {
        // So is one of an endpoint the store keeps to its `max_in_flight`:
        // a place is free.
        let flow_control = self.inner.flow_control;
        let takes_turns = self
            .load
            .get(id)
            .and_then(|l| l.template.as_ref())
            .is_some_and(|t| {
                let e = t.endpoint();
                e.ordered || (flow_control && e.max_in_flight.is_some())
            });
        if takes_turns {
            self.exhausted = false;
            self.waiting = None;
        }
    }

    // ------------------------------------------------------------ hand-backs

    pub(super) fn hand_back(&mut self, leased: Leased, how: Handback) {
        let store = self.inner.store();
        let call: BoxFut<'a, (HandbackKind, Leased, Result<(), StoreError>)> =
            Box::pin(async move {
                let (kind, call): (HandbackKind, BoxFut<'_, Result<(), StoreError>>) = match &how {
                    Handback::Release => (HandbackKind::Release, store.release(&leased.lease)),
                    Handback::Defer(until, reason) => (
                        HandbackKind::Defer,
                        store.defer(&leased.lease, *until, reason),
                    ),
                    Handback::Abandon(reason) => {
                        (HandbackKind::Abandon, store.abandon(&leased.lease, reason))
                    }
                };
                let result = guarded_store(call).await;
                (kind, leased, result)
            });
        self.handbacks.push(call);
    }

    pub(super) fn poll_side_calls(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while let Poll::Ready(Some((kind, leased, result))) = self.handbacks.poll_next_unpin(cx) {
            progress = true;
            self.turn_ended(&leased.delivery.endpoint_id);
            match (kind, result) {
                (_, Err(e)) if e.kind() == StoreErrorKind::LeaseLost => {
                    self.tally(Tally::LeaseLost)
                }
                (_, Err(e)) => self.store_failed(&e, "handing a delivery back"),
                (HandbackKind::Release, Ok(())) => self.tally(Tally::Released),
                (HandbackKind::Defer, Ok(())) => self.tally(Tally::Deferred),
                (HandbackKind::Abandon, Ok(())) => {
                    self.tally(Tally::Abandoned);
                    self.tally(Tally::Dead);
                    let d = &leased.delivery;
                    let reason = REASON_ENDPOINT_DELETED.to_owned();
                    signals::delivery_dead(self.inner, &d.id, &d.endpoint_id, d.attempts, reason);
                }
            }
        }
        while let Poll::Ready(Some(result)) = self.pausing.poll_next_unpin(cx) {
            progress = true;
            if let Err(e) = result {
                self.store_failed(&e, "pausing an endpoint");
            }
        }
        while let Poll::Ready(Some((id, reason, result))) = self.disabling.poll_next_unpin(cx) {
            progress = true;
            // The store's answer decides from now on: a run's report keeps
            // the endpoints it did disable; a worker forgets them, so that one
            // enabled again and failing again is disabled again.
            let keep = self.once && matches!(result, Ok(true));
            if !keep {
                self.report.disabled.retain(|(d, _)| *d != id);
            }
            match result {
                Ok(true) => {
                    self.tally(Tally::EndpointDisabled);
                    signals::endpoint_disabled(self.inner, &id, reason.to_string());
                }
                Ok(false) => {}
                Err(e) => self.store_failed(&e, "disabling an endpoint"),
            }
        }
        progress
    }
}
