//! What a store holds and is asked for: events, deliveries, leases,
//! attempts, lease requests and the reports of recording.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::flow::CircuitChange;
use crate::id::{DeliveryId, EndpointId, EventId};
use crate::transport::TransportErrorKind;

use super::listing::{Cursor, Order};

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
    /// ([`Store::defer`](super::Store::defer), [`Store::abandon`](super::Store::abandon), [`Store::delete_endpoint`](super::Store::delete_endpoint): for
    /// example `endpoint deleted`), if it ever was. It stays through later
    /// releases, attempts and [`Store::redeliver`](super::Store::redeliver); only the next defer or
    /// abandon replaces it. Attempts keep their own reasons.
    pub reason: Option<String>,
    /// Its place in [`Store::deliveries`](super::Store::deliveries) listings (creation order).
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
    /// The lease to pass back to [`Store::finish_attempt`](super::Store::finish_attempt) or [`Store::release`](super::Store::release).
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
/// endpoint no longer exists ([`Store::delete_endpoint`](super::Store::delete_endpoint), or a lease that
/// found its endpoint gone).
pub const REASON_ENDPOINT_DELETED: &str = "endpoint deleted";

/// The [`Disabling::reason`](super::Disabling::reason) recorded when the host disables an endpoint
/// through [`Dispatcher::set_endpoint_enabled`](crate::dispatch::Dispatcher::set_endpoint_enabled).
pub const REASON_DISABLED_BY_HOST: &str = "disabled by the host";

/// The longest reason an attempt record or a delivery keeps, in bytes.
pub const MAX_REASON_LEN: usize = 512;

/// `reason`, cut to [`MAX_REASON_LEN`] bytes at a character boundary (with
/// `…` where it was cut); shorter reasons are returned as they are.
///
/// [`AttemptRecord::new`] cuts an attempt's reason with it; a store cuts the
/// reasons given to [`Store::defer`](super::Store::defer) and [`Store::abandon`](super::Store::abandon) with it.
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
    /// growing across [`Store::redeliver`](super::Store::redeliver) (the dispatcher numbers an attempt
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

/// What a worker asks [`Store::lease`](super::Store::lease) for.
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

/// The queue at one moment, as [`Store::due_stats`](super::Store::due_stats) reports it.
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

/// One attempt to record with [`Store::finish_attempts`](super::Store::finish_attempts).
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

/// What [`Store::finish_attempt`](super::Store::finish_attempt) reports back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct FinishReport {
    /// Deliveries to this endpoint that ended dead in a row, this one included
    /// (0 after a success; unchanged by a retry; 0 when the endpoint does not
    /// exist, for example deleted while the delivery was leased).
    pub dead_in_a_row: u32,
    /// How this attempt changed its endpoint's circuit, if it did (see
    /// [`crate::flow`]).
    pub circuit: Option<CircuitChange>,
}

impl FinishReport {
    /// A report (for store implementations).
    pub fn new(dead_in_a_row: u32) -> Self {
        Self {
            dead_in_a_row,
            circuit: None,
        }
    }

    /// With the change this attempt made to its endpoint's circuit.
    pub fn with_circuit(mut self, change: Option<CircuitChange>) -> Self {
        self.circuit = change;
        self
    }
}

/// Which deliveries [`Store::deliveries`](super::Store::deliveries) lists, and from where.
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
