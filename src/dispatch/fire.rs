//! Firing journey steps: one business outcome, sent exactly once.
//!
//! [`Dispatcher::fire`] checks that the profile's identity is resolved and the
//! consent the step requires is granted (otherwise it records a skip and sends
//! nothing), claims the exactly-once ledger entry for (journey, step, profile,
//! occurrence) (a second fire returns the first delivery and sends nothing),
//! renders the step's URL template, and hands the payload to the ordinary
//! delivery path: same retries, same records. The delivery id is derived from
//! the ledger key, so the `Idempotency-Key` header is stable across attempts
//! and even across stores.

use super::publish;
use super::state::Inner;
use super::DispatchError;
use crate::endpoint::{Endpoint, EndpointError, EndpointUrl, EventFilter, Gone};
use crate::id::{DeliveryId, EndpointId, EventId};
use crate::model::journey::template::TemplateError;
use crate::model::journey::{Account, Consent, JourneyError, JourneyStep, Profile, SkipReason};
use crate::store::{Claim, NewDelivery, NewEvent, SkipRecord};

/// What to fire a journey step for: a profile, and optionally the account,
/// the consent change and an occurrence.
///
/// The occurrence distinguishes legitimate repeats of the same step for the
/// same profile (a monthly renewal, say: `"2026-11"`); without one, a step
/// fires once per profile, ever.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Fire<'a> {
    /// The profile reaching the step.
    pub profile: &'a Profile,
    /// The account, when the step is about one.
    pub account: Option<&'a Account>,
    /// The consent change, for consent steps.
    pub consent: Option<&'a Consent>,
    /// Which occurrence of the step this is (see above).
    pub occurrence: Option<&'a str>,
}

impl<'a> Fire<'a> {
    /// Fires for `profile`.
    pub fn new(profile: &'a Profile) -> Self {
        Self {
            profile,
            account: None,
            consent: None,
            occurrence: None,
        }
    }

    /// With this account.
    pub fn account(mut self, account: &'a Account) -> Self {
        self.account = Some(account);
        self
    }

    /// With this consent change.
    pub fn consent(mut self, consent: &'a Consent) -> Self {
        self.consent = Some(consent);
        self
    }

    /// As this occurrence of the step.
    pub fn occurrence(mut self, occurrence: &'a str) -> Self {
        self.occurrence = Some(occurrence);
        self
    }
}

/// What firing a journey step did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FireOutcome {
    /// A delivery was stored and will be sent.
    Enqueued(DeliveryId),
    /// The step had already fired for this profile and occurrence: nothing was
    /// stored; this is the first fire's delivery.
    Duplicate(DeliveryId),
    /// Nothing was sent, and the skip was recorded.
    Skipped(SkipReason),
    /// The step's endpoint is disabled (by an operator, or by the dispatcher
    /// after its deliveries kept ending dead): nothing was stored or claimed,
    /// and a skip was recorded with the reason `step disabled`. Fire again
    /// once it is enabled.
    StepDisabled(EndpointId),
}

/// Why a journey step could not be fired.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JourneyFireError {
    /// The URL template could not be rendered (a missing attribute, say).
    #[error("journey step URL could not be rendered")]
    Template(#[from] TemplateError),
    /// The rendered URL is not a valid target (or is blocked by the SSRF guard).
    #[error("journey step URL is not a valid target")]
    Url(#[source] EndpointError),
    /// The step's authentication or headers are not valid.
    #[error("journey step is not valid")]
    Step(#[from] JourneyError),
}

/// Fires `step` for `fire`'s profile; see [`Dispatcher::fire`](super::Dispatcher::fire).
pub(super) async fn fire(
    inner: &Inner,
    step: &JourneyStep,
    fire: Fire<'_>,
) -> Result<FireOutcome, DispatchError> {
    let now = inner.clock.now();
    let identity = fire.profile.identity_key();
    let occurrence = fire.occurrence.unwrap_or("");
    let key = ledger_key(step, identity.unwrap_or(""), occurrence);
    let check = match identity {
        Some(_) => step.check(fire.profile),
        None => Err(SkipReason::IdentityUnresolved),
    };
    if let Err(reason) = check {
        inner
            .store()
            .record_skip(SkipRecord::new(key, reason.to_string(), now))
            .await?;
        return Ok(FireOutcome::Skipped(reason));
    }
    let identity = identity.unwrap_or_default();

    let url = step
        .render_url(fire.profile, fire.account)
        .map_err(JourneyFireError::from)?;
    let checked = EndpointUrl::parse(&url).map_err(JourneyFireError::Url)?;
    checked
        .check_target(inner.targets)
        .map_err(|e| JourneyFireError::Url(EndpointError::BlockedTarget(e)))?;
    let (endpoint, enabled) = step_endpoint(inner, step, &checked).await?;
    if !enabled {
        inner
            .store()
            .record_skip(SkipRecord::new(key, STEP_DISABLED, now))
            .await?;
        return Ok(FireOutcome::StepDisabled(endpoint));
    }

    let payload = step.payload(fire.profile, fire.account, fire.consent, now);
    let body = serde_json::to_vec(&payload).map_err(DispatchError::Serialize)?;
    let delivery_id = DeliveryId::derived(
        "jrn",
        &[step.journey_id(), step.step_id(), identity, occurrence],
    );
    let event = NewEvent::new(EventId::generate(), step.event_title(), body.into(), now);
    let delivery = NewDelivery::new(delivery_id, endpoint, now).with_url(url);
    Ok(
        match inner.store().claim_once(&key, event, delivery).await? {
            Claim::Inserted(id) => {
                publish::notify(inner);
                FireOutcome::Enqueued(id)
            }
            Claim::Existing(id) => FireOutcome::Duplicate(id),
        },
    )
}

/// The skip reason of a fire on a disabled step.
const STEP_DISABLED: &str = "step disabled";

/// Registers (or refreshes) the endpoint that carries a step's deliveries:
/// its method, authentication and headers; it receives no published events.
/// An endpoint disabled earlier stays disabled. Returns its id and whether
/// it is enabled.
async fn step_endpoint(
    inner: &Inner,
    step: &JourneyStep,
    url: &EndpointUrl,
) -> Result<(EndpointId, bool), DispatchError> {
    let id = EndpointId::derived("jstep", &[step.journey_id(), step.step_id()]);
    let mut headers = step.headers().clone();
    if let Some((name, value)) = step.auth().header().map_err(JourneyFireError::from)? {
        headers.insert(name, value);
    }
    // The endpoint keeps only the origin: each delivery carries its own
    // rendered URL, which may hold personal data (an email address).
    let uri = url.as_uri();
    let origin = format!(
        "{}://{}/",
        uri.scheme_str().unwrap_or("https"),
        uri.authority().map(|a| a.as_str()).unwrap_or("")
    );
    let store = inner.store();
    let description = format!("journey {} step {}", step.journey_id(), step.step_id());
    // A 404 or 410 for one rendered URL concerns one profile: it ends that
    // delivery, never the step.
    let gone = if step.gone_means_delivered() {
        Gone::MeansDelivered
    } else {
        Gone::EndsDelivery
    };
    let existing = store.endpoint(&id).await?;
    // Write only when the step's endpoint is new or its configuration
    // changed: a write on every fire would cost a store round trip each
    // time, and could re-enable an endpoint disabled (a 410, say) between
    // the read above and the write.
    if let Some(e) = &existing {
        if e.method == step.method()
            && e.url.full() == origin
            && e.headers == headers
            && e.description == description
            && e.gone == gone
        {
            return Ok((id, e.enabled));
        }
    }
    let enabled = existing.map(|e| e.enabled).unwrap_or(true);
    let mut endpoint = Endpoint::builder(id.as_str(), origin)
        .method(step.method())
        .description(description)
        .gone(gone)
        .enabled(enabled)
        .build()
        .map_err(JourneyFireError::Url)?;
    endpoint.events = EventFilter::Only(Default::default());
    endpoint.headers = headers;
    store.put_endpoint(endpoint).await?;
    Ok((id, enabled))
}

/// The exactly-once ledger key: an unambiguous JSON array of the parts.
fn ledger_key(step: &JourneyStep, identity: &str, occurrence: &str) -> String {
    serde_json::json!([step.journey_id(), step.step_id(), identity, occurrence]).to_string()
}
