//! Journey webhooks: the payload a journey step sends, the host-side profile
//! it is built from, and the step (method, URL template, auth, consent rule).
//!
//! - [`JourneyPayload`]: `{"eventTitle", "timestamp" (RFC 3339), "profile",
//!   "account"?, "consent"?}`, the wire type.
//! - [`Profile`]: what the host knows about a person (identity, attributes,
//!   consents); [`Profile::attribute`] feeds URL templates.
//! - [`JourneyStep`]: one step's webhook, built with [`JourneyStep::builder`];
//!   [`JourneyStep::check`] says whether it may be sent for a profile,
//!   [`JourneyStep::render_url`] and [`JourneyStep::payload`] make the request.
//!
//! # Examples
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use hookwire::model::journey::{Account, Auth, JourneyStep, Profile};
//!
//! let step = JourneyStep::builder("upgrade", "sync-billing", "Plan Upgraded", "PUT",
//!         "https://billing.example.com/accounts/{accountId}")
//!     .auth(Auth::bearer("s3cr3t"))
//!     .build()?;
//!
//! let profile = Profile {
//!     profile_id: Some("usr_12ab45c99d77".into()),
//!     email: Some("user@example.com".into()),
//!     identity_resolved: true,
//!     ..Profile::default()
//! };
//! let account = Account::new("acc_a9213fbb892").previous_plan("starter").current_plan("pro");
//!
//! assert_eq!(step.check(&profile), Ok(()));
//! assert_eq!(
//!     step.render_url(&profile, Some(&account))?,
//!     "https://billing.example.com/accounts/acc_a9213fbb892",
//! );
//! let at = UNIX_EPOCH + Duration::from_secs(1_769_425_339);
//! let payload = step.payload(&profile, Some(&account), None, at);
//! assert_eq!(
//!     serde_json::to_value(&payload)?,
//!     serde_json::json!({
//!         "eventTitle": "Plan Upgraded",
//!         "timestamp": "2026-01-26T11:02:19Z",
//!         "account": {"accountId": "acc_a9213fbb892", "previousPlan": "starter", "currentPlan": "pro"},
//!         "profile": {"profileId": "usr_12ab45c99d77", "email": "user@example.com"},
//!     }),
//! );
//! assert!(!format!("{step:?}").contains("s3cr3t"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::Serialize;
use serde_json::Value;

use super::map_struct::map_deserialize;
use super::open_enum::open_enum;
use super::{Event, Extra, PayloadError, Rfc3339Time};

mod auth;
mod profile;
mod step;
pub mod template;

pub use auth::{Auth, Secret};
pub use profile::{ConsentState, Profile};
pub use step::{JourneyError, JourneyStep, JourneyStepBuilder, SkipReason};

open_enum! {
    /// What a person did with a consent category.
    pub enum ConsentAction {
        /// Consent given.
        Grant => "grant",
        /// Consent refused or revoked.
        Decline => "decline",
    }
}

/// The payload a journey step sends.
///
/// `timestamp` is an [`Rfc3339Time`]: one read is written back exactly as it
/// came (`2026-01-26T23:12:45+14:00` keeps its offset); one built from a
/// [`SystemTime`](std::time::SystemTime) is written in UTC
/// (`2026-01-26T10:12:45Z`, with fractional seconds only when they are not
/// zero). `account` and `consent` are left out when
/// `None` (an explicit `null` on input also reads as `None`).
///
/// # Examples
///
/// ```
/// use hookwire::model::Event;
/// use hookwire::model::journey::{ConsentAction, JourneyPayload};
///
/// let payload = JourneyPayload::from_json(br#"{
///     "eventTitle": "Consent Revoked",
///     "timestamp": "2026-01-26T11:45:10Z",
///     "profile": {"email": "user@example.com"},
///     "consent": {"category": "marketing", "action": "decline"}
/// }"#)?;
/// assert_eq!(payload.kind(), "Consent Revoked");
/// assert_eq!(payload.consent.as_ref().map(|c| &c.action), Some(&ConsentAction::Decline));
/// # Ok::<(), hookwire::model::PayloadError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JourneyPayload {
    /// The business outcome (`eventTitle`), also the event kind.
    pub event_title: String,
    /// When the step ran, with the text it was read from (its offset kept).
    pub timestamp: Rfc3339Time,
    /// Who it is about.
    pub profile: PayloadProfile,
    /// The account concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
    /// The consent change, if the step is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<Consent>,
    /// Fields this version does not know, written back as they came.
    #[serde(flatten)]
    pub extra: Extra,
}

impl JourneyPayload {
    /// A payload with no account, consent or extra fields.
    pub fn new(
        event_title: impl Into<String>,
        timestamp: impl Into<Rfc3339Time>,
        profile: PayloadProfile,
    ) -> Self {
        JourneyPayload {
            event_title: event_title.into(),
            timestamp: timestamp.into(),
            profile,
            account: None,
            consent: None,
            extra: Extra::new(),
        }
    }

    /// Parses a payload, reporting the JSON path of the first bad field.
    ///
    /// # Errors
    ///
    /// [`PayloadError`] naming the path and what is wrong there.
    pub fn from_json(bytes: &[u8]) -> Result<Self, PayloadError> {
        super::from_json(bytes)
    }
}

impl Event for JourneyPayload {
    /// The event title, for example `Plan Upgraded`.
    fn kind(&self) -> &str {
        &self.event_title
    }
}

/// The profile as a journey payload carries it; absent fields are left out.
///
/// Free-form profile attributes travel in `extra`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadProfile {
    /// The profile id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<String>,
    /// The email address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The first name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// The plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// Other attributes, and fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The account a journey payload is about.
///
/// # Examples
///
/// ```
/// use hookwire::model::journey::Account;
///
/// let account = Account::new("acc_1").current_plan("pro");
/// assert_eq!(account.attribute("accountId").as_deref(), Some("acc_1"));
/// assert_eq!(account.attribute("previousPlan"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// The account id.
    pub account_id: String,
    /// The plan before the change, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_plan: Option<String>,
    /// The plan now, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_plan: Option<String>,
    /// Other attributes, and fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Account {
    /// An account with only its id.
    pub fn new(account_id: impl Into<String>) -> Self {
        Account {
            account_id: account_id.into(),
            ..Account::default()
        }
    }

    /// Sets the previous plan.
    #[must_use]
    pub fn previous_plan(mut self, plan: impl Into<String>) -> Self {
        self.previous_plan = Some(plan.into());
        self
    }

    /// Sets the current plan.
    #[must_use]
    pub fn current_plan(mut self, plan: impl Into<String>) -> Self {
        self.current_plan = Some(plan.into());
        self
    }

    /// The value of a URL template placeholder: `accountId`, `previousPlan`,
    /// `currentPlan`, then the extra fields (strings as they are, numbers and
    /// booleans with the text they came with; `null`, arrays and objects give
    /// `None`).
    pub fn attribute(&self, name: &str) -> Option<String> {
        match name {
            "accountId" => Some(self.account_id.clone()),
            "previousPlan" => self.previous_plan.clone(),
            "currentPlan" => self.current_plan.clone(),
            _ => self.extra.get(name).and_then(|value| value.scalar_text()),
        }
    }
}

/// A consent change carried by a journey payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consent {
    /// The consent category (`marketing`).
    pub category: String,
    /// What was done with it.
    pub action: ConsentAction,
    /// Fields this version does not know, written back as they came.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Consent {
    /// A consent change with no extra fields.
    pub fn new(category: impl Into<String>, action: ConsentAction) -> Self {
        Consent {
            category: category.into(),
            action,
            extra: Extra::new(),
        }
    }
}

/// A JSON scalar as URL text: strings as they are, numbers and booleans as
/// JSON writes them; `None` for `null`, arrays and objects.
pub(crate) fn scalar_to_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

// Every struct reads its map directly (see `map_struct`), so that numbers in
// unknown fields keep their text; a missing `Option` field is `None`.
map_deserialize!(JourneyPayload {
    event_title => "eventTitle",
    timestamp => "timestamp",
    profile => "profile",
    account => "account",
    consent => "consent",
});

map_deserialize!(PayloadProfile {
    profile_id => "profileId",
    email => "email",
    first_name => "firstName",
    plan => "plan",
});

map_deserialize!(Account {
    account_id => "accountId",
    previous_plan => "previousPlan",
    current_plan => "currentPlan",
});

map_deserialize!(Consent {
    category => "category",
    action => "action",
});
