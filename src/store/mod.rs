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

mod health;
mod listing;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;

pub use health::{AttemptOutcome, DeliveryCounts, Disabling, EndpointHealth, LastAttempt};
pub use listing::{AttemptFilter, Cursor, ListedAttempt, Order};
pub use memory::InMemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{PgPool, PgStore, DEFAULT_SCHEMA};

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use crate::endpoint::Endpoint;
use crate::id::{DeliveryId, EndpointId, EventId};
use crate::transport::TransportErrorKind;

/// An event to store: its payload bytes, serialized once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewEvent {
    /// The event's id.
    pub id: EventId,
    /// The event kind endpoints subscribe to (for example `startExperience`),
    /// shared by every delivery of the event.
    pub kind: Arc<str>,
    /// The exact bytes every delivery sends and signs.
    pub payload: Bytes,
    /// When the event was published.
    pub created_at: SystemTime,
}

impl NewEvent {
    /// A new event.
    pub fn new(
        id: EventId,
        kind: impl Into<Arc<str>>,
        payload: Bytes,
        created_at: SystemTime,
    ) -> Self {
        Self {
            id,
            kind: kind.into(),
            payload,
            created_at,
        }
    }
}

/// One delivery to create: the event to one endpoint. `Debug` shows the
/// URL's scheme, host and port only.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewDelivery {
    /// The delivery's id, sent as `webhook-id` on every attempt.
    pub id: DeliveryId,
    /// Where it goes.
    pub endpoint_id: EndpointId,
    /// A URL replacing the endpoint's own for this delivery (a journey step's
    /// rendered URL template); `None` sends to the endpoint's URL.
    pub url: Option<String>,
    /// When the first attempt is due.
    pub due_at: SystemTime,
}

impl NewDelivery {
    /// A delivery to `endpoint_id`, due at `due_at`, at the endpoint's URL.
    pub fn new(id: DeliveryId, endpoint_id: EndpointId, due_at: SystemTime) -> Self {
        Self {
            id,
            endpoint_id,
            url: None,
            due_at,
        }
    }

    /// Sends this delivery to `url` instead of the endpoint's URL.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }
}

impl fmt::Debug for NewDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewDelivery")
            .field("id", &self.id)
            .field("endpoint_id", &self.endpoint_id)
            .field("url", &self.url.as_deref().map(crate::redact::RedactedUrl))
            .field("due_at", &self.due_at)
            .finish()
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeliveryState {
    /// Waiting for its next attempt (possibly leased by a worker right now).
    Pending,
    /// An attempt got a 2xx answer.
    Succeeded,
    /// The retry policy gave up; see the attempts for why. Can be redelivered.
    Dead,
}

impl DeliveryState {
    /// The state's lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Dead => "dead",
        }
    }

    /// Parses a name produced by [`as_str`](Self::as_str).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "pending" => Self::Pending,
            "succeeded" => Self::Succeeded,
            "dead" => Self::Dead,
            _ => return None,
        })
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of one delivery. `Debug` shows the URL's scheme, host and
/// port only (a rendered journey URL can hold an email address or a token),
/// and the payload's size, not its bytes.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// The delivery's id.
    pub id: DeliveryId,
    /// The event it delivers.
    pub event_id: EventId,
    /// The event's kind (shared with the event's other deliveries).
    pub event_kind: Arc<str>,
    /// The event's payload (shared with the event's other deliveries).
    pub payload: Bytes,
    /// The destination endpoint.
    pub endpoint_id: EndpointId,
    /// The per-delivery URL, if any (see [`NewDelivery::url`]).
    pub url: Option<String>,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made since it was created or last redelivered: what the
    /// retry policy counts.
    pub attempts: u32,
    /// Attempts made since it was created, redeliveries included: the next
    /// attempt's number is one more ([`AttemptRecord::attempt`]).
    pub attempts_total: u32,
    /// When the next attempt is due (meaningful while pending).
    pub next_attempt_at: SystemTime,
    /// When the delivery was created.
    pub created_at: SystemTime,
    /// Why the delivery was last handed back or ended without an attempt
    /// ([`Store::defer`], [`Store::abandon`], [`Store::delete_endpoint`]: for
    /// example `endpoint deleted`), if it ever was. It stays through later
    /// releases, attempts and [`Store::redeliver`]; only the next defer or
    /// abandon replaces it. Attempts keep their own reasons.
    pub reason: Option<String>,
    /// Its place in [`Store::deliveries`] listings (creation order).
    pub cursor: Cursor,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("id", &self.id)
            .field("event_id", &self.event_id)
            .field("event_kind", &self.event_kind)
            // The payload can hold personal data: its size only.
            .field("payload", &format_args!("[{} bytes]", self.payload.len()))
            .field("endpoint_id", &self.endpoint_id)
            .field("url", &self.url.as_deref().map(crate::redact::RedactedUrl))
            .field("state", &self.state)
            .field("attempts", &self.attempts)
            .field("next_attempt_at", &self.next_attempt_at)
            .field("created_at", &self.created_at)
            .field("reason", &self.reason)
            .finish()
    }
}

/// Proof that a worker holds a delivery; required to record its attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lease {
    /// The leased delivery.
    pub delivery_id: DeliveryId,
    /// A token unique to this lease.
    pub token: u64,
    /// When the lease runs out and another worker may take the delivery.
    pub expires_at: SystemTime,
}

impl Lease {
    /// A lease (for store implementations).
    pub fn new(delivery_id: DeliveryId, token: u64, expires_at: SystemTime) -> Self {
        Self {
            delivery_id,
            token,
            expires_at,
        }
    }
}

/// A delivery handed to a worker, with its lease.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Leased {
    /// The delivery as it was when leased.
    pub delivery: Delivery,
    /// The lease to pass back to [`Store::finish_attempt`] or [`Store::release`].
    pub lease: Lease,
}

impl Leased {
    /// Pairs a delivery with its lease (for store implementations).
    pub fn new(delivery: Delivery, lease: Lease) -> Self {
        Self { delivery, lease }
    }
}

/// What one attempt got back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptResult {
    /// The endpoint answered.
    Response {
        /// The HTTP status code.
        status: u16,
        /// The first bytes of the response body (at most
        /// [`MAX_RECORDED_BODY`]).
        body: Bytes,
    },
    /// No response: the transport failed (or panicked).
    Error {
        /// What kind of failure.
        kind: TransportErrorKind,
        /// Why, in words: the error and its causes, without URLs or secrets
        /// (for example `connection refused`).
        reason: String,
    },
}

impl AttemptResult {
    /// A failure of `kind`, explained by `reason`.
    pub fn error(kind: TransportErrorKind, reason: impl Into<String>) -> Self {
        Self::Error {
            kind,
            reason: reason.into(),
        }
    }
}

/// How much of a response body an attempt record keeps.
pub const MAX_RECORDED_BODY: usize = 1024;

/// The [`reason`](Delivery::reason) of a delivery ended dead because its
/// endpoint no longer exists ([`Store::delete_endpoint`], or a lease that
/// found its endpoint gone).
pub const REASON_ENDPOINT_DELETED: &str = "endpoint deleted";

/// The [`Disabling::reason`] recorded when the host disables an endpoint
/// through [`Dispatcher::set_endpoint_enabled`](crate::dispatch::Dispatcher::set_endpoint_enabled).
pub const REASON_DISABLED_BY_HOST: &str = "disabled by the host";

/// The longest reason an attempt record or a delivery keeps, in bytes.
pub const MAX_REASON_LEN: usize = 512;

/// `reason`, cut to [`MAX_REASON_LEN`] bytes at a character boundary (with
/// `…` where it was cut); shorter reasons are returned as they are.
///
/// [`AttemptRecord::new`] cuts an attempt's reason with it; a store cuts the
/// reasons given to [`Store::defer`] and [`Store::abandon`] with it.
///
/// # Examples
///
/// ```
/// use hookwire::store::{bounded_reason, MAX_REASON_LEN};
///
/// assert_eq!(bounded_reason("connection refused".into()), "connection refused");
/// let cut = bounded_reason("é".repeat(MAX_REASON_LEN));
/// assert!(cut.len() <= MAX_REASON_LEN && cut.ends_with('…'));
/// ```
pub fn bounded_reason(mut reason: String) -> String {
    if reason.len() > MAX_REASON_LEN {
        let mut end = MAX_REASON_LEN - '…'.len_utf8();
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push('…');
    }
    reason
}

/// One attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttemptRecord {
    /// 1 for the delivery's first attempt, then 2, 3...: numbers keep
    /// growing across [`Store::redeliver`] (the dispatcher numbers an attempt
    /// [`Delivery::attempts_total`] + 1), so no two attempts of one delivery
    /// share a number.
    pub attempt: u32,
    /// When the request was sent.
    pub started_at: SystemTime,
    /// How long the exchange took.
    pub duration: Duration,
    /// What came back.
    pub result: AttemptResult,
}

impl AttemptRecord {
    /// An attempt record; a response body is cut to [`MAX_RECORDED_BODY`].
    pub fn new(
        attempt: u32,
        started_at: SystemTime,
        duration: Duration,
        result: AttemptResult,
    ) -> Self {
        let result = match result {
            AttemptResult::Response { status, body } if body.len() > MAX_RECORDED_BODY => {
                AttemptResult::Response {
                    status,
                    body: body.slice(..MAX_RECORDED_BODY),
                }
            }
            AttemptResult::Error { kind, reason } => AttemptResult::Error {
                kind,
                reason: bounded_reason(reason),
            },
            other => other,
        };
        Self {
            attempt,
            started_at,
            duration,
            result,
        }
    }
}

/// The state a delivery moves to after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NextState {
    /// Stay pending; the next attempt is due at this time.
    RetryAt(SystemTime),
    /// Done: delivered.
    Succeeded,
    /// Done: the policy gave up.
    Dead,
}

/// What a worker asks [`Store::lease`] for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseRequest {
    /// Now, by the dispatcher's clock.
    pub now: SystemTime,
    /// At most this many deliveries.
    pub limit: usize,
    /// How long each lease holds.
    pub lease_for: Duration,
    /// Endpoints whose deliveries must not be leased now: the worker holds
    /// as many of theirs as it allows one endpoint. Their deliveries stay
    /// queued and do not keep others from being leased.
    pub skip: Vec<EndpointId>,
}

impl LeaseRequest {
    /// Up to `limit` deliveries due at `now`, each for `lease_for`.
    pub fn new(now: SystemTime, limit: usize, lease_for: Duration) -> Self {
        Self {
            now,
            limit,
            lease_for,
            skip: Vec::new(),
        }
    }

    /// Skipping the deliveries of these endpoints.
    pub fn skip(mut self, endpoints: Vec<EndpointId>) -> Self {
        self.skip = endpoints;
        self
    }
}

/// The queue at one moment, as [`Store::due_stats`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DueStats {
    /// Pending deliveries due (and leasable) now: to enabled or missing
    /// endpoints, not held by an unexpired lease.
    pub due: u64,
    /// When the earliest of them became leasable; `None` if none is due.
    pub oldest: Option<SystemTime>,
}

impl DueStats {
    /// A reading (for store implementations).
    pub fn new(due: u64, oldest: Option<SystemTime>) -> Self {
        Self { due, oldest }
    }

    /// How long the oldest due delivery has waited at `now`: the lag.
    pub fn lag(&self, now: SystemTime) -> Duration {
        self.oldest
            .and_then(|at| now.duration_since(at).ok())
            .unwrap_or_default()
    }
}

/// One attempt to record with [`Store::finish_attempts`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finish {
    /// The lease the attempt was made under.
    pub lease: Lease,
    /// The attempt.
    pub attempt: AttemptRecord,
    /// The state the delivery moves to.
    pub next: NextState,
}

impl Finish {
    /// One attempt to record.
    pub fn new(lease: Lease, attempt: AttemptRecord, next: NextState) -> Self {
        Self {
            lease,
            attempt,
            next,
        }
    }
}

/// What [`Store::finish_attempt`] reports back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct FinishReport {
    /// Deliveries to this endpoint that ended dead in a row, this one included
    /// (0 after a success; unchanged by a retry; 0 when the endpoint does not
    /// exist, for example deleted while the delivery was leased).
    pub dead_in_a_row: u32,
}

impl FinishReport {
    /// A report (for store implementations).
    pub fn new(dead_in_a_row: u32) -> Self {
        Self { dead_in_a_row }
    }
}

/// Which deliveries [`Store::deliveries`] lists, and from where.
///
/// Deliveries are listed in the order they were created (oldest first, or
/// newest first with [`Order::NewestFirst`]); each carries its
/// [`cursor`](Delivery::cursor), and [`after`](Self::after) continues a
/// listing past one, so that paging covers every delivery once.
///
/// # Examples
///
/// ```
/// use hookwire::store::{DeliveryFilter, DeliveryState, InMemoryStore, Order, Store};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # futures::executor::block_on(async {
/// let store = InMemoryStore::new();
/// // The dead deliveries, newest first, 50 at a time.
/// let mut filter = DeliveryFilter::all(50)
///     .state(DeliveryState::Dead)
///     .order(Order::NewestFirst);
/// loop {
///     let page = store.deliveries(&filter).await?;
///     let Some(last) = page.last() else { break };
///     filter = filter.after(last.cursor);
/// }
/// # Ok(())
/// # })
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryFilter {
    /// Only deliveries in this state.
    pub state: Option<DeliveryState>,
    /// Only deliveries to this endpoint.
    pub endpoint_id: Option<EndpointId>,
    /// Only deliveries of this event.
    pub event_id: Option<EventId>,
    /// Only deliveries past this cursor, in [`order`](Self::order).
    pub after: Option<Cursor>,
    /// Which way the listing runs (oldest first by default).
    pub order: Order,
    /// At most this many.
    pub limit: usize,
}

impl DeliveryFilter {
    /// Every delivery, oldest first, up to `limit`.
    pub fn all(limit: usize) -> Self {
        Self {
            state: None,
            endpoint_id: None,
            event_id: None,
            after: None,
            order: Order::OldestFirst,
            limit,
        }
    }

    /// Only deliveries past `cursor` (the last one of the previous page).
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// Listed in `order`.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// Only deliveries in `state`.
    pub fn state(mut self, state: DeliveryState) -> Self {
        self.state = Some(state);
        self
    }

    /// Only deliveries to `endpoint_id`.
    pub fn endpoint(mut self, endpoint_id: EndpointId) -> Self {
        self.endpoint_id = Some(endpoint_id);
        self
    }

    /// Only deliveries of `event_id`.
    pub fn event(mut self, event_id: EventId) -> Self {
        self.event_id = Some(event_id);
        self
    }
}

/// The result of claiming a journey step's exactly-once ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// First claim: the event and delivery were stored.
    Inserted(DeliveryId),
    /// Already claimed: nothing was stored; this is the first claim's delivery.
    Existing(DeliveryId),
}

/// A journey step that was fired but not sent, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkipRecord {
    /// The ledger key the fire would have claimed.
    pub key: String,
    /// Why nothing was sent (for example `consent "marketing" not granted`).
    pub reason: String,
    /// When it was skipped.
    pub at: SystemTime,
}

impl SkipRecord {
    /// A skip record.
    pub fn new(key: impl Into<String>, reason: impl Into<String>, at: SystemTime) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
            at,
        }
    }
}

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
    async fn lease(&self, request: LeaseRequest) -> Result<Vec<Leased>, StoreError>;

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

/// What kind of store failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The lease no longer holds the delivery: another worker took it over.
    LeaseLost,
    /// A write conflicted with existing data (for example a duplicate id).
    Conflict,
    /// The backend could not be reached; worth trying again later.
    Unavailable,
    /// Stored data could not be read back (corrupt or from an unknown version).
    Corrupt,
    /// Anything else.
    Other,
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::LeaseLost => "lease lost",
            Self::Conflict => "conflict",
            Self::Unavailable => "unavailable",
            Self::Corrupt => "corrupt data",
            Self::Other => "other",
        })
    }
}

/// A store operation failed: a [`StoreErrorKind`] and, optionally, the cause.
#[derive(Debug, thiserror::Error)]
#[error("webhook store operation failed ({kind})")]
pub struct StoreError {
    kind: StoreErrorKind,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl StoreError {
    /// An error of `kind` caused by `source`.
    pub fn new(kind: StoreErrorKind, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            kind,
            source: Some(source.into()),
        }
    }

    /// An error of `kind` with no underlying cause.
    pub fn from_kind(kind: StoreErrorKind) -> Self {
        Self { kind, source: None }
    }

    /// The kind of failure.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}
