//! What an operator reads about one endpoint: [`EndpointHealth`], as
//! [`Store::endpoint_health`](super::Store::endpoint_health) and
//! [`Store::endpoints_health`](super::Store::endpoints_health) report it.

use std::time::SystemTime;

use super::{AttemptRecord, AttemptResult, DeliveryState};
use crate::flow::CircuitState;
use crate::id::{DeliveryId, EndpointId};
use crate::transport::TransportErrorKind;

/// One endpoint's health, read in one call: what its deliveries are doing,
/// how its last attempt went, when it last succeeded, and whether (and
/// since when, and why) it is disabled.
///
/// Plain data: every field is public. The counts cover the deliveries the
/// store keeps (succeeded deliveries it pruned are not counted). The attempt
/// fields ([`last_attempt`](Self::last_attempt),
/// [`last_success_at`](Self::last_success_at),
/// [`consecutive_failures`](Self::consecutive_failures)) describe this
/// endpoint since it was created: an endpoint deleted and put again under
/// the same id starts with none, and attempts recorded while it did not
/// exist are not counted.
///
/// # Examples
///
/// ```
/// use hookwire::bytes::Bytes;
/// use hookwire::endpoint::Endpoint;
/// use hookwire::id::{DeliveryId, EndpointId, EventId};
/// use hookwire::store::{InMemoryStore, NewDelivery, NewEvent, Store};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # futures::executor::block_on(async {
/// let store = InMemoryStore::new();
/// let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// store.put_endpoint(Endpoint::builder("ep_billing", "https://billing.example.com/hooks").build()?).await?;
/// let id = EndpointId::new("ep_billing")?;
/// let event = NewEvent::new(EventId::new("evt_1")?, "startExperience", Bytes::from_static(b"{}"), now);
/// store.insert_event(event, vec![NewDelivery::new(DeliveryId::new("dlv_1")?, id.clone(), now)]).await?;
///
/// assert!(store.disable_endpoint(&id, now, "endpoint answered 410 gone").await?);
/// let health = store.endpoint_health(&id).await?.expect("the endpoint exists");
/// assert!(!health.enabled);
/// assert_eq!(health.deliveries.pending, 1);
/// assert_eq!(health.disabled.map(|d| d.reason).as_deref(), Some("endpoint answered 410 gone"));
/// assert!(health.last_attempt.is_none());
/// # Ok(())
/// # })
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointHealth {
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// Whether its deliveries are being sent.
    pub enabled: bool,
    /// Its kept deliveries, by state.
    pub deliveries: DeliveryCounts,
    /// The attempt recorded last (the most recent
    /// [`Store::finish_attempt`](super::Store::finish_attempt) to it), if any.
    pub last_attempt: Option<LastAttempt>,
    /// When the last attempt that ended its delivery succeeded was sent.
    pub last_success_at: Option<SystemTime>,
    /// Attempts recorded since the last success (all of them if none
    /// succeeded): retried and dead ones alike. Enabling the endpoint does
    /// not reset it; a success does.
    pub consecutive_failures: u32,
    /// When and why it was disabled, while it is disabled by
    /// [`Store::disable_endpoint`](super::Store::disable_endpoint) (the
    /// dispatcher's path, with a reason); `None` while it is enabled, or when
    /// it was disabled without a record (by
    /// [`Store::set_endpoint_enabled`](super::Store::set_endpoint_enabled) or
    /// by putting it disabled).
    pub disabled: Option<Disabling>,
    /// Its circuit (see [`crate::flow`]): open while it is held for failing.
    pub circuit: CircuitState,
    /// Its deliveries are not leased before this, if it is in the future:
    /// a receiver's `Retry-After`, an open circuit's cool-down or a probe
    /// under way, or its rate limit's next slot.
    pub held_until: Option<SystemTime>,
}

impl EndpointHealth {
    /// An endpoint with no deliveries and no attempts (for store
    /// implementations).
    pub fn new(endpoint_id: EndpointId, enabled: bool) -> Self {
        Self {
            endpoint_id,
            enabled,
            deliveries: DeliveryCounts::default(),
            last_attempt: None,
            last_success_at: None,
            consecutive_failures: 0,
            disabled: None,
            circuit: CircuitState::Closed,
            held_until: None,
        }
    }
}

/// How many deliveries are in each state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DeliveryCounts {
    /// Waiting for an attempt (or being attempted right now).
    pub pending: u64,
    /// Delivered.
    pub succeeded: u64,
    /// Given up on (they can be redelivered).
    pub dead: u64,
}

impl DeliveryCounts {
    /// Counts (for store implementations).
    pub fn new(pending: u64, succeeded: u64, dead: u64) -> Self {
        Self {
            pending,
            succeeded,
            dead,
        }
    }

    /// The count of deliveries in `state`.
    pub fn get(&self, state: DeliveryState) -> u64 {
        match state {
            DeliveryState::Pending => self.pending,
            DeliveryState::Succeeded => self.succeeded,
            DeliveryState::Dead => self.dead,
        }
    }

    /// A mutable handle on the count of deliveries in `state`.
    pub fn get_mut(&mut self, state: DeliveryState) -> &mut u64 {
        match state {
            DeliveryState::Pending => &mut self.pending,
            DeliveryState::Succeeded => &mut self.succeeded,
            DeliveryState::Dead => &mut self.dead,
        }
    }

    /// Every delivery counted.
    pub fn total(&self) -> u64 {
        self.pending
            .saturating_add(self.succeeded)
            .saturating_add(self.dead)
    }
}

/// The last attempt to an endpoint, in brief.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LastAttempt {
    /// The delivery it was made for.
    pub delivery_id: DeliveryId,
    /// Its number (see [`AttemptRecord::attempt`]).
    pub attempt: u32,
    /// When it was sent.
    pub started_at: SystemTime,
    /// The status that came back, or why none did.
    pub outcome: AttemptOutcome,
}

impl LastAttempt {
    /// The brief of `record`, made for `delivery_id` (for store
    /// implementations).
    pub fn of(delivery_id: DeliveryId, record: &AttemptRecord) -> Self {
        Self {
            delivery_id,
            attempt: record.attempt,
            started_at: record.started_at,
            outcome: AttemptOutcome::of(&record.result),
        }
    }
}

/// What an attempt got, without the response body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// The endpoint answered with this HTTP status.
    Status(u16),
    /// No answer.
    Failed {
        /// What kind of failure.
        kind: TransportErrorKind,
        /// Why, in words (see [`AttemptResult::Error`]).
        reason: String,
    },
}

impl AttemptOutcome {
    /// The outcome of `result`.
    pub fn of(result: &AttemptResult) -> Self {
        match result {
            AttemptResult::Response { status, .. } => Self::Status(*status),
            AttemptResult::Error { kind, reason } => Self::Failed {
                kind: *kind,
                reason: reason.clone(),
            },
        }
    }
}

/// When and why an endpoint was disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Disabling {
    /// When, by the dispatcher's clock.
    pub at: SystemTime,
    /// Why (for example `endpoint answered 410 gone`, or `disabled by
    /// the host`).
    pub reason: String,
}

impl Disabling {
    /// A disabling record.
    pub fn new(at: SystemTime, reason: impl Into<String>) -> Self {
        Self {
            at,
            reason: reason.into(),
        }
    }
}
