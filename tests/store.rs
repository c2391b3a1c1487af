//! The store conformance suite as a third-party backend would run it: from
//! outside the crate, under tokio, against a store whose every call suspends
//! before it runs (so concurrent calls really interleave), and against broken
//! stores, which it must reject with a message naming the failed check.
#![cfg(feature = "test-util")]

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use hookwire::endpoint::Endpoint;
use hookwire::id::{DeliveryId, EndpointId};
use hookwire::store::{
    AttemptFilter, AttemptRecord, Claim, Delivery, DeliveryFilter, DueStats, EndpointHealth,
    FinishReport, InMemoryStore, Lease, LeaseRequest, Leased, ListedAttempt, NewDelivery, NewEvent,
    NextState, Order, SkipRecord, Store, StoreError,
};
use hookwire::testing::{store_conformance, store_suite};

/// A store defined outside hookwire: yields to the runtime before each call,
/// and optionally has one of the bugs the suite must catch.
#[derive(Debug, Default)]
struct Yielding {
    inner: InMemoryStore,
    bug: Option<Bug>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bug {
    /// `lease` takes everything due, whatever the limit.
    IgnoreLimit,
    /// `lease` leases the skipped endpoints' deliveries too.
    IgnoreSkip,
    /// `next_due` is left to the trait's default (always `None`).
    NoNextDue,
    /// `endpoints_by_id` answers an id asked twice only once (then `None`).
    RepeatedIdOnce,
    /// `disable_endpoint` reads, then writes: two callers can both disable.
    DisableInTwoSteps,
    /// `list_attempts` forgets the order it is asked for.
    AttemptsOldestFirstOnly,
    /// `put_endpoint` drops the `ordered` flag: every endpoint is unordered.
    IgnoreOrdered,
}

impl Yielding {
    fn with(bug: Bug) -> Self {
        Self {
            inner: InMemoryStore::new(),
            bug: Some(bug),
        }
    }
}

impl Yielding {
    async fn pause(&self) {
        tokio::task::yield_now().await;
    }
}

#[async_trait]
impl Store for Yielding {
    async fn put_endpoint(&self, mut endpoint: Endpoint) -> Result<(), StoreError> {
        self.pause().await;
        if self.bug == Some(Bug::IgnoreOrdered) {
            endpoint.ordered = false;
        }
        self.inner.put_endpoint(endpoint).await
    }
    async fn endpoint(&self, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        self.pause().await;
        self.inner.endpoint(id).await
    }
    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        self.pause().await;
        self.inner.endpoints().await
    }
    async fn set_endpoint_enabled(
        &self,
        id: &EndpointId,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.set_endpoint_enabled(id, enabled).await
    }
    async fn disable_endpoint(
        &self,
        id: &EndpointId,
        at: SystemTime,
        reason: &str,
    ) -> Result<bool, StoreError> {
        self.pause().await;
        if self.bug == Some(Bug::DisableInTwoSteps) {
            let enabled = self.inner.endpoint(id).await?.is_some_and(|e| e.enabled);
            self.pause().await;
            return Ok(enabled && self.inner.set_endpoint_enabled(id, false).await?);
        }
        self.inner.disable_endpoint(id, at, reason).await
    }
    async fn endpoint_health(&self, id: &EndpointId) -> Result<Option<EndpointHealth>, StoreError> {
        self.pause().await;
        self.inner.endpoint_health(id).await
    }
    async fn endpoints_health(&self) -> Result<Vec<EndpointHealth>, StoreError> {
        self.pause().await;
        self.inner.endpoints_health().await
    }
    async fn list_attempts(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<ListedAttempt>, StoreError> {
        self.pause().await;
        if self.bug == Some(Bug::AttemptsOldestFirstOnly) {
            let mut filter = filter.clone();
            filter.order = Order::OldestFirst;
            return self.inner.list_attempts(&filter).await;
        }
        self.inner.list_attempts(filter).await
    }
    async fn insert_event(
        &self,
        event: NewEvent,
        deliveries: Vec<NewDelivery>,
    ) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.insert_event(event, deliveries).await
    }
    async fn claim_once(
        &self,
        key: &str,
        event: NewEvent,
        delivery: NewDelivery,
    ) -> Result<Claim, StoreError> {
        self.pause().await;
        self.inner.claim_once(key, event, delivery).await
    }
    async fn record_skip(&self, skip: SkipRecord) -> Result<(), StoreError> {
        self.pause().await;
        self.inner.record_skip(skip).await
    }
    async fn skips(&self, limit: usize) -> Result<Vec<SkipRecord>, StoreError> {
        self.pause().await;
        self.inner.skips(limit).await
    }
    fn enforces_flow_control(&self) -> bool {
        self.inner.enforces_flow_control()
    }
    async fn pause_endpoint(&self, id: &EndpointId, until: SystemTime) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.pause_endpoint(id, until).await
    }
    async fn lease(&self, mut request: LeaseRequest) -> Result<Vec<Leased>, StoreError> {
        self.pause().await;
        match self.bug {
            Some(Bug::IgnoreLimit) => request.limit = usize::MAX,
            Some(Bug::IgnoreSkip) => request.skip.clear(),
            _ => {}
        }
        self.inner.lease(request).await
    }
    async fn due_stats(&self, now: SystemTime) -> Result<Option<DueStats>, StoreError> {
        self.pause().await;
        self.inner.due_stats(now).await
    }
    async fn next_due(&self, now: SystemTime) -> Result<Option<SystemTime>, StoreError> {
        self.pause().await;
        if self.bug == Some(Bug::NoNextDue) {
            return Ok(None);
        }
        self.inner.next_due(now).await
    }
    async fn endpoints_by_id(
        &self,
        ids: &[EndpointId],
    ) -> Vec<Result<Option<Endpoint>, StoreError>> {
        self.pause().await;
        let mut answers = self.inner.endpoints_by_id(ids).await;
        if self.bug == Some(Bug::RepeatedIdOnce) {
            for (i, id) in ids.iter().enumerate() {
                if ids[..i].contains(id) {
                    answers[i] = Ok(None);
                }
            }
        }
        answers
    }
    async fn delete_endpoint(&self, id: &EndpointId) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.delete_endpoint(id).await
    }
    async fn defer(
        &self,
        lease: &Lease,
        until: SystemTime,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.pause().await;
        self.inner.defer(lease, until, reason).await
    }
    async fn abandon(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        self.pause().await;
        self.inner.abandon(lease, reason).await
    }
    async fn finish_attempt(
        &self,
        lease: &Lease,
        attempt: AttemptRecord,
        next: NextState,
    ) -> Result<FinishReport, StoreError> {
        self.pause().await;
        self.inner.finish_attempt(lease, attempt, next).await
    }
    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        self.pause().await;
        self.inner.release(lease).await
    }
    async fn delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        self.pause().await;
        self.inner.delivery(id).await
    }
    async fn attempts(&self, id: &DeliveryId) -> Result<Vec<AttemptRecord>, StoreError> {
        self.pause().await;
        self.inner.attempts(id).await
    }
    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        self.pause().await;
        self.inner.deliveries(filter).await
    }
    async fn redeliver(&self, id: &DeliveryId, now: SystemTime) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.redeliver(id, now).await
    }
    async fn prune_succeeded(&self, before: SystemTime, max: usize) -> Result<usize, StoreError> {
        self.pause().await;
        self.inner.prune_succeeded(before, max).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_store_passes_under_tokio() {
    store_conformance(|| async { Arc::new(Yielding::default()) as Arc<dyn Store> }).await;
}

#[tokio::test(flavor = "current_thread")]
async fn checks_run_one_by_one() {
    store_suite::concurrent_leasers_are_disjoint(&Yielding::default()).await;
    store_suite::claim_once_is_exactly_once(&Yielding::default()).await;
}

#[tokio::test(flavor = "current_thread")]
#[should_panic(expected = "store conformance check `leasing_respects_limit` failed")]
async fn a_store_ignoring_the_limit_fails_the_named_check() {
    store_conformance(|| async { Yielding::with(Bug::IgnoreLimit) }).await;
}

#[tokio::test(flavor = "current_thread")]
#[should_panic(expected = "store conformance check `skipped_endpoints_stay_queued` failed")]
async fn a_store_ignoring_the_skip_list_fails_the_named_check() {
    store_conformance(|| async { Yielding::with(Bug::IgnoreSkip) }).await;
}

#[tokio::test(flavor = "current_thread")]
#[should_panic(
    expected = "store conformance check `next_due_is_the_earliest_leasable_time` failed"
)]
async fn a_store_without_next_due_fails_the_named_check() {
    store_conformance(|| async { Yielding::with(Bug::NoNextDue) }).await;
}

#[tokio::test(flavor = "current_thread")]
#[should_panic(expected = "store conformance check `endpoints_by_id_answers_each_in_order` failed")]
async fn a_store_answering_a_repeated_id_once_fails_the_named_check() {
    store_conformance(|| async { Yielding::with(Bug::RepeatedIdOnce) }).await;
}

#[tokio::test(flavor = "current_thread")]
#[should_panic(expected = "store conformance check `disable_endpoint_is_true_once` failed")]
async fn a_store_disabling_in_two_steps_fails_the_named_check() {
    store_conformance(|| async { Yielding::with(Bug::DisableInTwoSteps) }).await;
}

#[tokio::test(flavor = "current_thread")]
#[should_panic(expected = "store conformance check `attempts_page_by_cursor` failed")]
async fn a_store_listing_attempts_oldest_first_only_fails_the_named_check() {
    store_conformance(|| async { Yielding::with(Bug::AttemptsOldestFirstOnly) }).await;
}

#[tokio::test(flavor = "current_thread")]
#[should_panic(expected = "store conformance check `ordered_endpoint_leases_its_head_only` failed")]
async fn a_store_ignoring_ordered_endpoints_fails_the_named_check() {
    store_suite::ordered_endpoint_leases_its_head_only(&Yielding::with(Bug::IgnoreOrdered)).await;
}

#[tokio::test(flavor = "current_thread")]
#[should_panic(expected = "is not empty")]
async fn a_factory_returning_a_used_store_is_reported() {
    let shared = InMemoryStore::new();
    store_conformance(move || {
        let store = shared.clone();
        async move { store }
    })
    .await;
}
