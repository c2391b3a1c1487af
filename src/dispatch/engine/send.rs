//! Sending: starting queued deliveries within the slots and the endpoints' shares, and settling each attempt as it completes.

use super::*;

impl<'a> Engine<'a> {
    /// Starts queued deliveries while slots are free.
    pub(super) fn start_queued(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        let inner = self.inner;
        let timeout = inner.policy.timeout();
        let options = inner.send_options();
        if self.stopping() && self.held > 0 {
            let held: Vec<Leased> = self
                .load
                .values_mut()
                .flat_map(|l| l.held.drain(..))
                .collect();
            self.held = 0;
            for leased in held {
                self.hand_back(leased, Handback::Release);
            }
            progress = true;
        }
        while self.in_flight.len() < self.concurrency {
            let Some(mut leased) = self.queue.pop_front() else {
                break;
            };
            progress = true;
            if self.stopping() {
                self.hand_back(leased, Handback::Release);
                continue;
            }
            let Some(load) = self.load.get_mut(&leased.delivery.endpoint_id) else {
                self.hand_back(leased, Handback::Release);
                continue;
            };
            // A worker keeps each endpoint to its share of the slots: a
            // delivery leased beyond it waits for one of its endpoint's slots
            // (or goes back if as many wait already). One run of `run_due`
            // waits for all of its deliveries anyway.
            if !self.once && load.in_flight >= load.share {
                if load.held.len() < load.hold_cap(self.lease_batch) {
                    load.held.push_back(leased);
                    self.held += 1;
                } else {
                    self.hand_back(leased, Handback::Release);
                }
                continue;
            }
            let Some(template) = load.template.as_ref() else {
                self.hand_back(leased, Handback::Release);
                continue;
            };
            // Read when the attempt is about to start (not when leased).
            let started_at = inner.clock.now();
            // A request must be over before its lease is, or another worker
            // could take the delivery while this one still sends it.
            let in_time = started_at
                .checked_add(timeout)
                .is_some_and(|end| end <= leased.lease.expires_at);
            let endpoint = template.endpoint();
            let held = load.held_until.is_some_and(|t| t > started_at);
            if !endpoint.enabled || load.disabled || !in_time || held {
                // Not started, so no completion will pass its slot on: the
                // next delivery held for the endpoint takes its turn now.
                if let Some(next) = load.held.pop_front() {
                    self.held -= 1;
                    self.queue.push_front(next);
                }
                self.hand_back(leased, Handback::Release);
                continue;
            }
            let gone = endpoint.gone;
            let span = signals::attempt_span(
                &leased.delivery.id,
                &endpoint.id,
                leased.delivery.attempts_total.saturating_add(1),
                &endpoint.method,
                endpoint.url.host(),
            );
            let body = std::mem::take(&mut leased.delivery.payload);
            let delivery = &leased.delivery;
            let request = template.request(delivery.url.as_deref(), &delivery.id, body, started_at);
            let mut send: BoxFut<'a, Sent> = match request {
                Ok(request) => {
                    let transport = inner.transport();
                    let send = signals::in_span(&span, || {
                        std::panic::catch_unwind(AssertUnwindSafe(|| {
                            transport.send(request, options)
                        }))
                    });
                    match send {
                        Ok(send) => {
                            let send = AssertUnwindSafe(send).catch_unwind().map(|r| match r {
                                Ok(sent) => sent,
                                Err(panic) => Err(panicked_transport(&panic)),
                            });
                            Box::pin(signals::instrument(send, &span))
                        }
                        Err(panic) => Box::pin(std::future::ready(Err(panicked_transport(&panic)))),
                    }
                }
                // A request that cannot be built can never be sent: not retried.
                Err(e) => Box::pin(std::future::ready(Err(TransportError::new(
                    TransportErrorKind::Rejected,
                    e,
                )))),
            };
            load.in_flight += 1;
            match send.as_mut().poll(cx) {
                Poll::Ready(sent) => {
                    self.complete(leased, started_at, gone, &span, sent);
                }
                Poll::Pending => {
                    let deadline = self.idle.map(|i| i.sleep(timeout));
                    self.in_flight.push(InFlight {
                        leased: Some(leased),
                        started_at,
                        gone,
                        span,
                        send,
                        deadline,
                    });
                    signals::in_flight(1);
                    if let Some(c) = self.counters {
                        c.set_in_flight(self.in_flight.len());
                    }
                }
            }
        }
        progress
    }

    pub(super) fn collect_sends(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while let Poll::Ready(Some((leased, started_at, gone, span, sent))) =
            self.in_flight.poll_next_unpin(cx)
        {
            progress = true;
            signals::in_flight(-1);
            self.complete(leased, started_at, gone, &span, sent);
            if let Some(c) = self.counters {
                c.set_in_flight(self.in_flight.len());
            }
        }
        progress
    }

    /// Settles one attempt the moment it completes; it waits in `to_record`
    /// for the next record call.
    pub(super) fn complete(
        &mut self,
        leased: Leased,
        started_at: SystemTime,
        gone: Gone,
        span: &AttemptSpan,
        sent: Sent,
    ) {
        let finished_at = self.inner.clock.now();
        let mut endpoint_signals = None;
        if let Some(l) = self.load.get_mut(&leased.delivery.endpoint_id) {
            endpoint_signals = Some(l.signals.clone());
            l.in_flight = l.in_flight.saturating_sub(1);
            l.record_pace(finished_at.duration_since(started_at).unwrap_or_default());
            if let Some(next) = l.held.pop_front() {
                // Its slot goes to the next delivery leased for it.
                self.held -= 1;
                self.queue.push_front(next);
            }
            if self.exhausted
                && !l.full(self.lease_batch)
                && self.skipped.contains(&leased.delivery.endpoint_id)
            {
                // The last lease passed this endpoint by: it may have more due.
                self.exhausted = false;
                self.waiting = None;
            }
        }
        let created_at = leased.delivery.created_at;
        let (finish, report, pause) =
            attempt::settle(self.inner, leased, started_at, finished_at, gone, sent);
        if let Some(until) = pause {
            self.pause(&report.endpoint_id, until);
        }
        let endpoint_signals = endpoint_signals
            .unwrap_or_else(|| signals::endpoint_signals(self.inner, &report.endpoint_id));
        signals::in_span(span, || {
            signals::attempt_settled(&endpoint_signals, &report, created_at, finished_at)
        });
        self.to_record.push(Settled { finish, report });
    }

    /// The receiver asked to pause the endpoint until `until`: this engine
    /// sends nothing more to it before then, and the store holds its
    /// deliveries from every worker.
    pub(super) fn pause(&mut self, id: &EndpointId, until: SystemTime) {
        // Several requests in flight may get the same answer: the store is
        // told once per later pause, not once per response.
        let known = self
            .load
            .get(id)
            .and_then(|l| l.held_until)
            .is_some_and(|t| t >= until);
        if known {
            return;
        }
        self.hold(id, until);
        if self.once {
            self.report.paused.push((id.clone(), until));
        }
        if !self.inner.flow_control {
            return;
        }
        let store = self.inner.store();
        let id = id.clone();
        self.pausing.push(Box::pin(async move {
            guarded_store(store.pause_endpoint(&id, until)).await
        }));
    }

    /// Sends nothing more to the endpoint before `until`.
    pub(super) fn hold(&mut self, id: &EndpointId, until: SystemTime) {
        if let Some(load) = self.load.get_mut(id) {
            load.held_until = load.held_until.max(Some(until));
        }
    }
}
