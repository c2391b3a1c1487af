//! Durable delivery state: the storage port.
//!
//! A [`Store`] keeps endpoints, events (each payload stored **once**, shared by
//! its deliveries), deliveries with their leases, attempt records, and the
//! exactly-once ledger of journey steps. [`InMemoryStore`] is the embedded
//! default; the `test-util` feature exposes the conformance suite
#![cfg_attr(
    feature = "test-util",
    doc = "([`testing::store_conformance`](crate::testing::store_conformance))"
)]
#![cfg_attr(not(feature = "test-util"), doc = "(`testing::store_conformance`)")]
//! that any implementation must pass.
//!
//! # The lease model
//!
//! A worker calls [`Store::lease`] to take up to `limit` pending deliveries
//! whose next attempt is due at `now` and which nobody holds, or whose holder's
//! lease has expired (leaving out the endpoints it asks to skip). Each leased
//! delivery carries a fresh [`Lease`] token. The worker then records the
//! attempt with [`Store::finish_attempt`], which fails with
//! [`StoreErrorKind::LeaseLost`] if the delivery was leased again since (the
//! token no longer matches): a worker that stalled past its lease can never
//! overwrite the result of the worker that took over. A worker that does not
//! attempt a leased delivery hands it back: [`Store::release`] (due again at
//! once), [`Store::defer`] (due later, with a reason) or [`Store::abandon`]
//! (ended dead, with a reason). With nothing to lease, [`Store::next_due`]
//! says how long it may wait.
//!
//! # What an operator reads
//!
//! [`Store::endpoint_health`] and [`Store::endpoints_health`] answer, in one
//! call each, how an endpoint is doing ([`EndpointHealth`]: its deliveries by
//! state, its last attempt, its last success, its failures in a row, and
//! when and why it was disabled). [`Store::disable_endpoint`] disables an
//! endpoint and records when and why, and says whether it was enabled
//! before, so that each disabling is reported once. [`Store::deliveries`]
//! and [`Store::list_attempts`] list pages: each row carries a [`Cursor`],
//! and a filter continues past one, oldest or newest first ([`Order`]).
//!
//! Implementations never read the clock: every `now` is passed in.

mod error;
mod health;
mod listing;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod records;

pub use error::{StoreError, StoreErrorKind};
pub use health::{AttemptOutcome, DeliveryCounts, Disabling, EndpointHealth, LastAttempt};
pub use listing::{AttemptFilter, Cursor, ListedAttempt, Order};
pub use memory::InMemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{PgPool, PgStore, DEFAULT_SCHEMA};
pub use records::{
    bounded_reason, AttemptRecord, AttemptResult, Claim, Delivery, DeliveryFilter, DeliveryState,
    DueStats, Finish, FinishReport, Lease, LeaseRequest, Leased, NewDelivery, NewEvent, NextState,
    SkipRecord, MAX_REASON_LEN, MAX_RECORDED_BODY, REASON_DISABLED_BY_HOST,
    REASON_ENDPOINT_DELETED,
};

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::endpoint::Endpoint;
use crate::id::{DeliveryId, EndpointId};

/// Durable delivery state. See the [module docs](self) for the lease model.
///
/// All methods are atomic with respect to each other. Implementations must be
/// safe to share between tasks and processes.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// Adds `endpoint`, or replaces the endpoint with the same id.
    async fn put_endpoint(&self, endpoint: Endpoint) -> Result<(), StoreError>;

    /// The endpoint with this id.
    async fn endpoint(&self, id: &EndpointId) -> Result<Option<Endpoint>, StoreError>;

    /// Every endpoint, in id order.
    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError>;

    /// The ids of the enabled endpoints subscribed to events of `kind`, in id
    /// order: who [`Dispatcher::publish`](crate::dispatch::Dispatcher::publish)
    /// creates deliveries for. The default filters [`endpoints`](Self::endpoints);
    /// stores override it to avoid copying whole endpoints on every publish.
    async fn subscribers(&self, kind: &str) -> Result<Vec<EndpointId>, StoreError> {
        Ok(self
            .endpoints()
            .await?
            .into_iter()
            .filter(|e| e.enabled && e.events.matches(kind))
            .map(|e| e.id)
            .collect())
    }

    /// Enables or disables an endpoint. Returns `false` if there is no such
    /// endpoint. Deliveries to a disabled endpoint stay pending and are not
    /// leased until it is enabled again. Enabling an endpoint resets its count
    /// of dead deliveries in a row (see [`FinishReport::dead_in_a_row`]), so a
    /// re-enabled endpoint gets a fresh allowance, and clears the record of
    /// its disabling ([`EndpointHealth::disabled`]). Disabling this way
    /// records no time and no reason: see
    /// [`disable_endpoint`](Self::disable_endpoint).
    async fn set_endpoint_enabled(
        &self,
        id: &EndpointId,
        enabled: bool,
    ) -> Result<bool, StoreError>;

    /// Disables an endpoint and records `at` and `reason` (cut by
    /// [`bounded_reason`]) as its [`disabled`](EndpointHealth::disabled)
    /// record, atomically. Returns `true` only if it was enabled until now:
    /// of several callers disabling one endpoint at once, exactly one gets
    /// `true`, so each disabling is reported and counted once. An endpoint
    /// already disabled (or missing) is left as it is (its first record
    /// kept) and the answer is `false`.
    ///
    /// The default reads the endpoint, then calls
    /// [`set_endpoint_enabled`](Self::set_endpoint_enabled): it records no
    /// reason and is not atomic. The conformance suite expects the real thing.
    async fn disable_endpoint(
        &self,
        id: &EndpointId,
        at: SystemTime,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let _ = (at, reason);
        match self.endpoint(id).await? {
            Some(e) if e.enabled => self.set_endpoint_enabled(id, false).await,
            _ => Ok(false),
        }
    }

    /// The health of the endpoint with this id (`None` if there is none),
    /// in one call: see [`EndpointHealth`].
    ///
    /// The default answers [`StoreErrorKind::Other`] (not supported); the
    /// conformance suite expects a real answer.
    async fn endpoint_health(&self, id: &EndpointId) -> Result<Option<EndpointHealth>, StoreError> {
        let _ = id;
        Err(StoreError::new(
            StoreErrorKind::Other,
            "this store does not report endpoint health",
        ))
    }

    /// The health of every endpoint, in id order, in one call.
    ///
    /// The default answers [`StoreErrorKind::Other`] (not supported).
    async fn endpoints_health(&self) -> Result<Vec<EndpointHealth>, StoreError> {
        Err(StoreError::new(
            StoreErrorKind::Other,
            "this store does not report endpoint health",
        ))
    }

    /// Stores `event` once and `deliveries` of it, atomically. Idempotent on the
    /// event id: returns `false`, storing nothing, if the event already exists.
    async fn insert_event(
        &self,
        event: NewEvent,
        deliveries: Vec<NewDelivery>,
    ) -> Result<bool, StoreError>;

    /// Claims the exactly-once ledger entry `key` and, on the first claim,
    /// stores `event` and `delivery` in the same atomic step.
    async fn claim_once(
        &self,
        key: &str,
        event: NewEvent,
        delivery: NewDelivery,
    ) -> Result<Claim, StoreError>;

    /// Records a journey step fired but not sent.
    async fn record_skip(&self, skip: SkipRecord) -> Result<(), StoreError>;

    /// The most recent skips, newest first, at most `limit`.
    async fn skips(&self, limit: usize) -> Result<Vec<SkipRecord>, StoreError>;

    /// Leases up to `request.limit` pending deliveries due at `request.now`
    /// (next attempt at or before it, no lease or an expired one), earliest
    /// due first, each for `request.lease_for`, leaving out the deliveries of
    /// the endpoints in `request.skip`.
    ///
    /// A delivery is leased when its endpoint is enabled **or no longer
    /// exists**: the dispatcher ends the latter dead with the reason
    /// `endpoint deleted` ([`abandon`](Self::abandon)), so that nothing waits
    /// forever for an endpoint that is gone. Deliveries to a disabled
    /// endpoint stay queued.
    ///
    /// Of an [ordered](Endpoint::ordered) endpoint's deliveries, only the
    /// head is leased: its pending delivery created first, and only while no
    /// other of its deliveries is held by an unexpired lease; the others are
    /// not due (neither for [`next_due`](Self::next_due) nor for
    /// [`due_stats`](Self::due_stats)). Its turn ends when it is finished
    /// succeeded or dead, or abandoned; a retry, a release, a defer or an
    /// expired lease keep it the head. A redelivered delivery takes its
    /// place by creation order. A deleted endpoint's deliveries are leased
    /// as unordered ones. See [Ordered endpoints](crate#ordered-endpoints).
    ///
    /// A store that [enforces flow control](Self::enforces_flow_control)
    /// leases nothing of an endpoint while its gate is closed (its rate
    /// limit's next slot, an open circuit, a pause), counts each delivery it
    /// leases against the rate limit, and leases one probe of an open
    /// circuit whose cool-down has ended, closing the gate behind it until
    /// the probe is finished or handed back or its lease expires. See
    /// [`crate::flow`].
    async fn lease(&self, request: LeaseRequest) -> Result<Vec<Leased>, StoreError>;

    /// Whether this store enforces its endpoints' flow settings: their
    /// [rate limits](Endpoint::rate_limit), [circuit
    /// breakers](Endpoint::circuit_breaker), [pauses](Self::pause_endpoint)
    /// and [ordering](Endpoint::ordered), across every worker that shares
    /// it, as [`crate::flow`] describes. The dispatcher refuses to build on
    /// a store that does not, unless told to go without
    /// ([`DispatcherBuilder::without_flow_control`](crate::dispatch::DispatcherBuilder::without_flow_control));
    /// then the deliveries of endpoints that are rate-limited or ordered are
    /// deferred with a reason rather than sent out of turn.
    ///
    /// The default answers `false`; the conformance suite checks a store
    /// that answers `true`.
    fn enforces_flow_control(&self) -> bool {
        false
    }

    /// Holds the endpoint's deliveries (none is leased) until `until`, or a
    /// later time it is already held until: a receiver asked for it (a
    /// `429` or `503` with `Retry-After`). Returns `false` if there is no
    /// such endpoint.
    ///
    /// The default answers [`StoreErrorKind::Other`] (not supported).
    async fn pause_endpoint(&self, id: &EndpointId, until: SystemTime) -> Result<bool, StoreError> {
        let _ = (id, until);
        Err(StoreError::new(
            StoreErrorKind::Other,
            "this store does not pause endpoints",
        ))
    }

    /// [`lease`](Self::lease) with nothing skipped.
    async fn lease_due(
        &self,
        now: SystemTime,
        limit: usize,
        lease_for: Duration,
    ) -> Result<Vec<Leased>, StoreError> {
        self.lease(LeaseRequest::new(now, limit, lease_for)).await
    }

    /// The earliest time, at or after `now`, when a pending delivery (not
    /// held by an unexpired lease, to an enabled or missing endpoint) can be
    /// leased; `None` when there is none. A worker with nothing to do waits
    /// until then (or a publish, or its poll interval) instead of polling.
    /// The default answers `None`, and the worker waits its poll interval;
    /// the conformance suite expects a real answer.
    async fn next_due(&self, now: SystemTime) -> Result<Option<SystemTime>, StoreError> {
        let _ = now;
        Ok(None)
    }

    /// How many deliveries are due at `now` and since when the oldest waits:
    /// what a worker reports as its queue and its lag (the metrics
    /// `hookwire_deliveries_due` and `hookwire_due_lag_seconds`). The default
    /// answers `None` (not measured).
    async fn due_stats(&self, now: SystemTime) -> Result<Option<DueStats>, StoreError> {
        let _ = now;
        Ok(None)
    }

    /// The endpoints with these ids, one result per id, in order, so that one
    /// unreadable endpoint affects only its own deliveries. The default
    /// calls [`endpoint`](Self::endpoint) for each; a store overrides it to
    /// read them in one round trip.
    async fn endpoints_by_id(
        &self,
        ids: &[EndpointId],
    ) -> Vec<Result<Option<Endpoint>, StoreError>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.endpoint(id).await);
        }
        out
    }

    /// Removes the endpoint with this id; returns `false` if there is none.
    /// Its pending deliveries that no worker holds end dead at once, with
    /// the reason [`REASON_ENDPOINT_DELETED`], their attempt counts unchanged;
    /// those leased right now (by a lease not yet finished or handed back,
    /// even one past its expiry: the store is given no clock here) are left
    /// as they are and end so when next leased. Attempt records stay. An
    /// endpoint put again under the same id is a new one: its count of dead
    /// deliveries in a row starts at 0, and the deliveries that ended stay
    /// dead.
    async fn delete_endpoint(&self, id: &EndpointId) -> Result<bool, StoreError>;

    /// Appends `attempt` to the delivery's history, increments its attempt
    /// count, moves it to `next` and releases the lease, atomically.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::LeaseLost`] if `lease` no longer holds the delivery;
    /// nothing is recorded then.
    async fn finish_attempt(
        &self,
        lease: &Lease,
        attempt: AttemptRecord,
        next: NextState,
    ) -> Result<FinishReport, StoreError>;

    /// Records several attempts, each exactly as
    /// [`finish_attempt`](Self::finish_attempt) would and atomic on its own,
    /// and returns one result per entry, in order. The dispatcher records the
    /// attempts that complete together with one call. The default calls
    /// `finish_attempt` for every entry, concurrently; a store overrides it to
    /// record a batch in one step (one lock, one round trip).
    async fn finish_attempts(&self, batch: Vec<Finish>) -> Vec<Result<FinishReport, StoreError>> {
        futures_util::future::join_all(
            batch
                .into_iter()
                .map(|f| async move { self.finish_attempt(&f.lease, f.attempt, f.next).await }),
        )
        .await
    }

    /// Gives a leased delivery back without an attempt; it is due again at once.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::LeaseLost`] if `lease` no longer holds the delivery.
    async fn release(&self, lease: &Lease) -> Result<(), StoreError>;

    /// Gives a leased delivery back without an attempt, due again at `until`
    /// (its [`next_attempt_at`](Delivery::next_attempt_at) becomes `until`,
    /// its attempt count is unchanged), and keeps `reason`, cut by
    /// [`bounded_reason`], as the delivery's [`reason`](Delivery::reason).
    /// The dispatcher does this when it cannot read the delivery's endpoint.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::LeaseLost`] if `lease` no longer holds the delivery.
    async fn defer(&self, lease: &Lease, until: SystemTime, reason: &str)
        -> Result<(), StoreError>;

    /// Ends a leased delivery dead without an attempt, keeping `reason`, cut
    /// by [`bounded_reason`], as its [`reason`](Delivery::reason) (for
    /// example `endpoint deleted`). It neither counts towards nor resets the
    /// endpoint's dead deliveries in a row. It can be redelivered like any
    /// dead delivery.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::LeaseLost`] if `lease` no longer holds the delivery.
    async fn abandon(&self, lease: &Lease, reason: &str) -> Result<(), StoreError>;

    /// The delivery with this id.
    async fn delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError>;

    /// The delivery's attempts, oldest first.
    async fn attempts(&self, id: &DeliveryId) -> Result<Vec<AttemptRecord>, StoreError>;

    /// Up to `filter.limit` deliveries matching `filter`, in creation order
    /// (`filter.order`), past `filter.after` if given. The order is stable:
    /// paging with each page's last [`cursor`](Delivery::cursor) lists every
    /// delivery that stays stored exactly once.
    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError>;

    /// Up to `filter.limit` attempts matching `filter`, across deliveries,
    /// in the order they were recorded (`filter.order`), past
    /// `filter.after` if given; stable as [`deliveries`](Self::deliveries)
    /// is. Attempts of pruned deliveries are gone with them.
    ///
    /// The default answers [`StoreErrorKind::Other`] (not supported); the
    /// conformance suite expects a real answer.
    async fn list_attempts(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<ListedAttempt>, StoreError> {
        let _ = filter;
        Err(StoreError::new(
            StoreErrorKind::Other,
            "this store does not list attempts",
        ))
    }

    /// Removes up to `max` succeeded deliveries that finished (their last
    /// attempt's start plus its duration) before `before`, oldest first, with
    /// their attempt records, and each event left with no delivery. Returns
    /// how many deliveries it removed. Pending and dead deliveries and the
    /// journey ledger are never removed. An event id is recognised by
    /// [`insert_event`](Self::insert_event) only while the event is kept.
    ///
    /// The default removes nothing and returns 0, so that stores written
    /// before this method keep compiling; the conformance suite expects real
    /// pruning.
    async fn prune_succeeded(&self, before: SystemTime, max: usize) -> Result<usize, StoreError> {
        let _ = (before, max);
        Ok(0)
    }

    /// Makes a dead delivery pending again, due at `now`, with its attempt count
    /// reset (its attempt history and [`Delivery::attempts_total`] are kept,
    /// so its next attempt's number follows the last one's). Returns `false`
    /// if there is no such delivery or it is not dead.
    async fn redeliver(&self, id: &DeliveryId, now: SystemTime) -> Result<bool, StoreError>;
}

macro_rules! forward_store {
    ($ty:ty) => {
        #[async_trait]
        impl<S: Store + ?Sized> Store for $ty {
            async fn put_endpoint(&self, endpoint: Endpoint) -> Result<(), StoreError> {
                (**self).put_endpoint(endpoint).await
            }
            async fn endpoint(&self, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
                (**self).endpoint(id).await
            }
            async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
                (**self).endpoints().await
            }
            async fn subscribers(&self, kind: &str) -> Result<Vec<EndpointId>, StoreError> {
                (**self).subscribers(kind).await
            }
            async fn set_endpoint_enabled(
                &self,
                id: &EndpointId,
                enabled: bool,
            ) -> Result<bool, StoreError> {
                (**self).set_endpoint_enabled(id, enabled).await
            }
            async fn disable_endpoint(
                &self,
                id: &EndpointId,
                at: SystemTime,
                reason: &str,
            ) -> Result<bool, StoreError> {
                (**self).disable_endpoint(id, at, reason).await
            }
            async fn endpoint_health(
                &self,
                id: &EndpointId,
            ) -> Result<Option<EndpointHealth>, StoreError> {
                (**self).endpoint_health(id).await
            }
            async fn endpoints_health(&self) -> Result<Vec<EndpointHealth>, StoreError> {
                (**self).endpoints_health().await
            }
            async fn list_attempts(
                &self,
                filter: &AttemptFilter,
            ) -> Result<Vec<ListedAttempt>, StoreError> {
                (**self).list_attempts(filter).await
            }
            async fn insert_event(
                &self,
                event: NewEvent,
                deliveries: Vec<NewDelivery>,
            ) -> Result<bool, StoreError> {
                (**self).insert_event(event, deliveries).await
            }
            async fn claim_once(
                &self,
                key: &str,
                event: NewEvent,
                delivery: NewDelivery,
            ) -> Result<Claim, StoreError> {
                (**self).claim_once(key, event, delivery).await
            }
            async fn record_skip(&self, skip: SkipRecord) -> Result<(), StoreError> {
                (**self).record_skip(skip).await
            }
            async fn skips(&self, limit: usize) -> Result<Vec<SkipRecord>, StoreError> {
                (**self).skips(limit).await
            }
            async fn lease(&self, request: LeaseRequest) -> Result<Vec<Leased>, StoreError> {
                (**self).lease(request).await
            }
            fn enforces_flow_control(&self) -> bool {
                (**self).enforces_flow_control()
            }
            async fn pause_endpoint(
                &self,
                id: &EndpointId,
                until: SystemTime,
            ) -> Result<bool, StoreError> {
                (**self).pause_endpoint(id, until).await
            }
            async fn lease_due(
                &self,
                now: SystemTime,
                limit: usize,
                lease_for: Duration,
            ) -> Result<Vec<Leased>, StoreError> {
                (**self).lease_due(now, limit, lease_for).await
            }
            async fn next_due(&self, now: SystemTime) -> Result<Option<SystemTime>, StoreError> {
                (**self).next_due(now).await
            }
            async fn due_stats(&self, now: SystemTime) -> Result<Option<DueStats>, StoreError> {
                (**self).due_stats(now).await
            }
            async fn endpoints_by_id(
                &self,
                ids: &[EndpointId],
            ) -> Vec<Result<Option<Endpoint>, StoreError>> {
                (**self).endpoints_by_id(ids).await
            }
            async fn delete_endpoint(&self, id: &EndpointId) -> Result<bool, StoreError> {
                (**self).delete_endpoint(id).await
            }
            async fn defer(
                &self,
                lease: &Lease,
                until: SystemTime,
                reason: &str,
            ) -> Result<(), StoreError> {
                (**self).defer(lease, until, reason).await
            }
            async fn abandon(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
                (**self).abandon(lease, reason).await
            }
            async fn finish_attempt(
                &self,
                lease: &Lease,
                attempt: AttemptRecord,
                next: NextState,
            ) -> Result<FinishReport, StoreError> {
                (**self).finish_attempt(lease, attempt, next).await
            }
            async fn finish_attempts(
                &self,
                batch: Vec<Finish>,
            ) -> Vec<Result<FinishReport, StoreError>> {
                (**self).finish_attempts(batch).await
            }
            async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
                (**self).release(lease).await
            }
            async fn delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
                (**self).delivery(id).await
            }
            async fn attempts(&self, id: &DeliveryId) -> Result<Vec<AttemptRecord>, StoreError> {
                (**self).attempts(id).await
            }
            async fn deliveries(
                &self,
                filter: &DeliveryFilter,
            ) -> Result<Vec<Delivery>, StoreError> {
                (**self).deliveries(filter).await
            }
            async fn prune_succeeded(
                &self,
                before: SystemTime,
                max: usize,
            ) -> Result<usize, StoreError> {
                (**self).prune_succeeded(before, max).await
            }
            async fn redeliver(
                &self,
                id: &DeliveryId,
                now: SystemTime,
            ) -> Result<bool, StoreError> {
                (**self).redeliver(id, now).await
            }
        }
    };
}

forward_store!(Arc<S>);
forward_store!(Box<S>);
