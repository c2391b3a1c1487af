//! [`Profile`]: what the host knows about a person when a journey step runs.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{scalar_to_string, PayloadProfile};

/// Where a profile stands on one consent category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConsentState {
    /// Consent given.
    Granted,
    /// Consent refused or revoked.
    Declined,
    /// Never asked, or not known.
    #[default]
    Unknown,
}

impl From<&super::ConsentAction> for ConsentState {
    /// `grant` is granted, `decline` declined, anything else unknown.
    fn from(action: &super::ConsentAction) -> Self {
        match action {
            super::ConsentAction::Grant => ConsentState::Granted,
            super::ConsentAction::Decline => ConsentState::Declined,
            _ => ConsentState::Unknown,
        }
    }
}

/// The host-side profile a journey step is evaluated against (not the wire
/// type: see [`PayloadProfile`]).
///
/// # Examples
///
/// ```
/// use hookwire::model::journey::{ConsentState, Profile};
///
/// let mut profile = Profile {
///     email: Some("user@example.com".into()),
///     identity_resolved: true,
///     ..Profile::default()
/// };
/// profile.attributes.insert("seats".into(), 12.into());
/// profile.consents.insert("marketing".into(), ConsentState::Granted);
///
/// assert_eq!(profile.identity_key(), Some("user@example.com"));
/// assert_eq!(profile.attribute("email").as_deref(), Some("user@example.com"));
/// assert_eq!(profile.attribute("seats").as_deref(), Some("12"));
/// assert_eq!(profile.consent("marketing"), ConsentState::Granted);
/// assert_eq!(profile.consent("sms"), ConsentState::Unknown);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    /// The profile id.
    pub profile_id: Option<String>,
    /// The email address.
    pub email: Option<String>,
    /// The first name.
    pub first_name: Option<String>,
    /// The plan.
    pub plan: Option<String>,
    /// Other attributes, by camelCase name; they travel in the payload's
    /// profile object.
    pub attributes: BTreeMap<String, Value>,
    /// Whether identity resolution has settled who this is.
    pub identity_resolved: bool,
    /// Consent per category (`marketing`); an absent category is
    /// [`ConsentState::Unknown`].
    pub consents: BTreeMap<String, ConsentState>,
}

impl Profile {
    /// The value of a URL template placeholder: `profileId`, `email`,
    /// `firstName` and `plan` from their fields, then `attributes` (strings
    /// as they are, numbers and booleans as JSON writes them; `null`, arrays
    /// and objects give `None`).
    ///
    /// A named field that is `None` falls back to an attribute of the same
    /// name.
    pub fn attribute(&self, name: &str) -> Option<String> {
        let field = match name {
            "profileId" => self.profile_id.as_ref(),
            "email" => self.email.as_ref(),
            "firstName" => self.first_name.as_ref(),
            "plan" => self.plan.as_ref(),
            _ => None,
        };
        field
            .cloned()
            .or_else(|| self.attributes.get(name).and_then(scalar_to_string))
    }

    /// The key the exactly-once ledger uses for this person: the profile id,
    /// else the email; empty strings count as absent.
    pub fn identity_key(&self) -> Option<&str> {
        [self.profile_id.as_deref(), self.email.as_deref()]
            .into_iter()
            .flatten()
            .find(|s| !s.is_empty())
    }

    /// The state of consent `category`.
    pub fn consent(&self, category: &str) -> ConsentState {
        self.consents.get(category).copied().unwrap_or_default()
    }

    /// The profile as a payload carries it: `profileId`, `email`,
    /// `firstName` and `plan` as [`Profile::attribute`] resolves them (left out
    /// when absent), and the other attributes in `extra`.
    pub fn to_payload(&self) -> PayloadProfile {
        let mut extra = crate::model::Extra::new();
        for (name, value) in &self.attributes {
            if !matches!(name.as_str(), "profileId" | "email" | "firstName" | "plan") {
                extra.insert_raw(name.clone(), value.into());
            }
        }
        PayloadProfile {
            profile_id: self.attribute("profileId"),
            email: self.attribute("email"),
            first_name: self.attribute("firstName"),
            plan: self.attribute("plan"),
            extra,
        }
    }
}
