//! Leasing: how much to take, the skip list, and the endpoints a batch needs.

use super::*;

impl<'a> Engine<'a> {
    /// How many more deliveries a worker may hold: its slots and one lease
    /// batch beyond them, so that the next batch is at hand before the slots
    /// free.
    pub(super) fn room(&self) -> usize {
        (self.concurrency + self.lease_batch)
            .saturating_sub(self.in_flight.len() + self.queue.len() + self.held)
    }

    pub(super) fn maybe_lease(&mut self) -> bool {
        if self.leasing.is_some() || self.reading.is_some() || self.backoff.is_some() {
            return false;
        }
        if self.once {
            if self.leased_once {
                return false;
            }
        } else if self.stopping() || self.exhausted {
            return false;
        }
        let limit = if self.once {
            self.lease_batch
        } else {
            // Lease in batches that amortise the store's round trip, unless
            // nothing is in flight or queued at all.
            let room = self.room();
            let threshold = (self.lease_batch / 2).max(1);
            let idle = self.in_flight.is_empty() && self.queue.is_empty();
            if room < threshold && !(room > 0 && idle) {
                return false;
            }
            room.min(self.lease_batch)
        };
        if limit == 0 {
            self.leased_once = true;
            return false;
        }
        let skip: Vec<EndpointId> = if self.once {
            Vec::new()
        } else {
            self.load
                .iter()
                .filter(|(_, l)| l.full(self.lease_batch))
                .map(|(id, _)| id.clone())
                .collect()
        };
        self.skipped.clone_from(&skip);
        let inner = self.inner;
        let request = LeaseRequest::new(inner.clock.now(), limit, inner.lease).skip(skip);
        self.leasing = Some((limit, guarded_store(inner.store().lease(request))));
        self.leased_once = true;
        true
    }

    pub(super) fn poll_leasing(&mut self, cx: &mut Context<'_>) -> bool {
        let Some((asked, leasing)) = self.leasing.as_mut() else {
            return false;
        };
        let asked = *asked;
        let Poll::Ready(result) = leasing.as_mut().poll(cx) else {
            return false;
        };
        self.leasing = None;
        match result {
            Ok(batch) => {
                self.next_backoff = BACKOFF_MIN;
                signals::store_ok(self.inner);
                // Fewer than asked for: nothing more is due now.
                if batch.len() < asked {
                    self.exhausted = true;
                }
                self.tally(Tally::Leased(batch.len()));
                if !batch.is_empty() {
                    self.read_endpoints(batch);
                }
            }
            Err(e) => {
                self.store_failed(&e, "leasing");
                if self.once {
                    self.failed_lease = Some(e);
                } else {
                    self.arm_backoff();
                }
            }
        }
        true
    }

    /// Reads the endpoints of a leased batch, one result per endpoint. A
    /// worker sends at once the deliveries of endpoints it read less than
    /// [`ENDPOINT_FRESH`] ago.
    pub(super) fn read_endpoints(&mut self, mut batch: Vec<Leased>) {
        if !self.once {
            let now = self.inner.clock.now();
            let fresh = |l: &EndpointLoad| {
                l.template.is_some()
                    && !l.disabled
                    && now
                        .duration_since(l.read_at)
                        .is_ok_and(|age| age < ENDPOINT_FRESH)
            };
            let (ready, stale): (Vec<Leased>, Vec<Leased>) = batch
                .into_iter()
                .partition(|l| self.load.get(&l.delivery.endpoint_id).is_some_and(fresh));
            self.queue.extend(ready);
            if stale.is_empty() {
                return;
            }
            batch = stale;
        }
        let mut ids: Vec<EndpointId> = Vec::new();
        for l in &batch {
            if !ids.contains(&l.delivery.endpoint_id) {
                ids.push(l.delivery.endpoint_id.clone());
            }
        }
        let store = self.inner.store();
        let ids_for_call = ids.clone();
        let read: BoxFut<'a, Vec<Result<Option<Endpoint>, StoreError>>> = Box::pin(async move {
            match AssertUnwindSafe(store.endpoints_by_id(&ids_for_call))
                .catch_unwind()
                .await
            {
                Ok(results) => results,
                Err(panic) => {
                    let e = panicked_store(&panic);
                    ids_for_call
                        .iter()
                        .map(|_| Err(copy_store_error(&e)))
                        .collect()
                }
            }
        });
        self.reading = Some((batch, ids, read));
    }

    pub(super) fn poll_reading(&mut self, cx: &mut Context<'_>) -> bool {
        let Some((_, _, read)) = self.reading.as_mut() else {
            return false;
        };
        let Poll::Ready(results) = read.as_mut().poll(cx) else {
            return false;
        };
        let Some((batch, ids, _)) = self.reading.take() else {
            return false;
        };
        let inner = self.inner;
        let read_at = inner.clock.now();
        // Per endpoint id: readable, or why not.
        let mut outcome: Vec<Result<(), Handback>> = Vec::with_capacity(ids.len());
        let mut results = results.into_iter();
        for id in &ids {
            let result = results
                .next()
                .unwrap_or_else(|| Err(StoreError::from_kind(StoreErrorKind::Other)));
            outcome.push(match result {
                Ok(Some(endpoint))
                    if !inner.flow_control
                        && (endpoint.rate_limit.is_some() || endpoint.ordered) =>
                {
                    let until =
                        crate::clock::saturating_add(inner.clock.now(), FLOW_UNSUPPORTED_RETRY);
                    Err(Handback::Defer(until, REASON_FLOW_UNSUPPORTED.to_owned()))
                }
                Ok(Some(endpoint)) => {
                    let share = endpoint
                        .max_in_flight
                        .unwrap_or(inner.endpoint_share)
                        .max(1);
                    let template = RequestTemplate::new(endpoint, inner.targets, &inner.user_agent);
                    let load = self.load.entry(id.clone()).or_insert(EndpointLoad {
                        in_flight: 0,
                        share,
                        template: None,
                        read_at,
                        disabled: false,
                        pace: None,
                        held: VecDeque::new(),
                        signals: signals::endpoint_signals(inner, id),
                        held_until: None,
                    });
                    load.share = share;
                    load.template = Some(template);
                    load.read_at = read_at;
                    load.disabled = false;
                    Ok(())
                }
                Ok(None) => Err(Handback::Abandon(REASON_ENDPOINT_DELETED)),
                Err(e) => {
                    self.store_failed(&e, "reading an endpoint");
                    let until = crate::clock::saturating_add(inner.clock.now(), ENDPOINT_RETRY);
                    Err(Handback::Defer(
                        until,
                        crate::store::bounded_reason(format!(
                            "endpoint could not be read: {}",
                            error_chain(&e)
                        )),
                    ))
                }
            });
        }
        for leased in batch {
            let at = ids
                .iter()
                .position(|id| *id == leased.delivery.endpoint_id)
                .unwrap_or(0);
            match &outcome[at] {
                Ok(()) => self.queue.push_back(leased),
                Err(Handback::Abandon(reason)) => self.hand_back(leased, Handback::Abandon(reason)),
                Err(Handback::Defer(until, reason)) => {
                    self.hand_back(leased, Handback::Defer(*until, reason.clone()))
                }
                Err(Handback::Release) => self.hand_back(leased, Handback::Release),
            }
        }
        true
    }
}
