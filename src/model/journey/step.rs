//! [`JourneyStep`]: one journey step's webhook.

use std::fmt;
use std::time::SystemTime;

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method};

use super::template::{TemplateError, UrlTemplate};
use super::{Account, Auth, Consent, ConsentState, JourneyPayload, Profile};

/// Why a journey step could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JourneyError {
    /// The method is not POST, PUT or DELETE.
    #[error("unsupported journey method {method:?}: use POST, PUT or DELETE")]
    UnsupportedMethod {
        /// The method as given.
        method: String,
    },
    /// A required text field is empty.
    #[error("journey step {field} is empty")]
    Empty {
        /// Which field (`journey id`, `step id`, `event title`, `consent category`).
        field: &'static str,
    },
    /// The URL template is invalid.
    #[error("invalid journey URL template")]
    Template(#[source] TemplateError),
    /// A header name is invalid.
    #[error("invalid header name {name:?}")]
    InvalidHeaderName {
        /// The name as given.
        name: String,
    },
    /// A header value is invalid (its value is not repeated here: it may be
    /// a secret).
    #[error("invalid value for header `{name}`")]
    InvalidHeaderValue {
        /// The header's name.
        name: String,
    },
    /// The header is HTTP framing or set by hookwire itself (see
    /// [`RESERVED_HEADERS`](crate::endpoint::RESERVED_HEADERS)).
    #[error(
        "header {name:?} cannot be set on a journey step: it is HTTP framing or set by hookwire"
    )]
    ReservedHeader {
        /// The header's name.
        name: String,
    },
    /// A Basic auth user name contains `:`.
    #[error("basic auth username must not contain `:`")]
    InvalidBasicUsername,
}

/// Why a journey step is not sent for a profile.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum SkipReason {
    /// Identity resolution has not settled who this is, or the profile has
    /// neither a profile id nor an email.
    #[error("identity is not resolved")]
    IdentityUnresolved,
    /// The consent the step requires is not granted (declined or unknown).
    #[error("consent `{category}` is not granted")]
    ConsentNotGranted {
        /// The consent category.
        category: String,
    },
}

/// One journey step's webhook: method, URL template, auth, extra headers and
/// the consent it requires. Built with [`JourneyStep::builder`], which checks
/// everything once.
///
/// `Debug` never shows auth secrets; extra header values do show, so put
/// secrets in [`Auth`].
///
/// # Examples
///
/// ```
/// use hookwire::model::journey::{JourneyError, JourneyStep, Profile, SkipReason};
///
/// let step = JourneyStep::builder("signup", "crm-lead", "Signup Completed", "POST",
///         "https://api.crm.example.com/leads")
///     .required_consent("marketing")
///     .header("x-source", "hookwire")
///     .build()?;
/// assert_eq!(step.method(), http::Method::POST);
///
/// let anonymous = Profile::default();
/// assert_eq!(step.check(&anonymous), Err(SkipReason::IdentityUnresolved));
/// let known = Profile { email: Some("user@example.com".into()), identity_resolved: true, ..Profile::default() };
/// assert_eq!(
///     step.check(&known).unwrap_err().to_string(),
///     "consent `marketing` is not granted",
/// );
///
/// let err = JourneyStep::builder("j", "s", "t", "PATCH", "https://x.example/").build().unwrap_err();
/// assert_eq!(err, JourneyError::UnsupportedMethod { method: "PATCH".into() });
/// # Ok::<(), JourneyError>(())
/// ```
#[derive(Clone)]
pub struct JourneyStep {
    journey_id: String,
    step_id: String,
    event_title: String,
    method: Method,
    url: UrlTemplate,
    auth: Auth,
    headers: HeaderMap,
    required_consent: Option<String>,
    gone_means_delivered: bool,
}

impl fmt::Debug for JourneyStep {
    /// The URL template shows scheme and host only; credential header
    /// values and auth secrets are redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JourneyStep")
            .field("journey_id", &self.journey_id)
            .field("step_id", &self.step_id)
            .field("event_title", &self.event_title)
            .field("method", &self.method)
            .field("url", &self.url)
            .field("auth", &self.auth)
            .field("headers", &crate::redact::RedactedHeaders(&self.headers))
            .field("required_consent", &self.required_consent)
            .field("gone_means_delivered", &self.gone_means_delivered)
            .finish()
    }
}

impl JourneyStep {
    /// Starts a step: `method` is `"POST"`, `"PUT"`, `"DELETE"` (any case)
    /// or an [`http::Method`]; `url_template` may hold `{placeholders}` in
    /// its path and query. Nothing is checked until
    /// [`build`](JourneyStepBuilder::build).
    pub fn builder(
        journey_id: impl Into<String>,
        step_id: impl Into<String>,
        event_title: impl Into<String>,
        method: impl AsRef<str>,
        url_template: impl Into<String>,
    ) -> JourneyStepBuilder {
        JourneyStepBuilder {
            journey_id: journey_id.into(),
            step_id: step_id.into(),
            event_title: event_title.into(),
            method: method.as_ref().to_owned(),
            url_template: url_template.into(),
            auth: Auth::None,
            headers: Vec::new(),
            required_consent: None,
            gone_means_delivered: None,
        }
    }

    /// Whether a 404 or 410 answer for one rendered URL counts as delivered
    /// (the thing is already gone) rather than ending that delivery dead. Either
    /// way it ends only that delivery: the step goes on for every other profile.
    /// Default: delivered for DELETE steps, dead for POST and PUT (see
    /// [`JourneyStepBuilder::gone_means_delivered`]).
    pub fn gone_means_delivered(&self) -> bool {
        self.gone_means_delivered
    }

    /// The journey's id.
    pub fn journey_id(&self) -> &str {
        &self.journey_id
    }

    /// The step's id within its journey.
    pub fn step_id(&self) -> &str {
        &self.step_id
    }

    /// The business outcome the step reports (the payload's `eventTitle`).
    pub fn event_title(&self) -> &str {
        &self.event_title
    }

    /// POST, PUT or DELETE.
    pub fn method(&self) -> Method {
        self.method.clone()
    }

    /// The URL template.
    pub fn url_template(&self) -> &UrlTemplate {
        &self.url
    }

    /// How the step authenticates.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Extra headers sent with every request (auth not included).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The consent category that must be granted, if any (a consent
    /// revocation step requires none).
    pub fn required_consent(&self) -> Option<&str> {
        self.required_consent.as_deref()
    }

    /// Whether the step may be sent for `profile`: its identity must be
    /// resolved (with a profile id or an email to key on) and, when the step
    /// requires a consent, that consent must be granted.
    ///
    /// # Errors
    ///
    /// The [`SkipReason`] to record instead of sending.
    pub fn check(&self, profile: &Profile) -> Result<(), SkipReason> {
        if !profile.identity_resolved || profile.identity_key().is_none() {
            return Err(SkipReason::IdentityUnresolved);
        }
        if let Some(category) = &self.required_consent {
            if profile.consent(category) != ConsentState::Granted {
                return Err(SkipReason::ConsentNotGranted {
                    category: category.clone(),
                });
            }
        }
        Ok(())
    }

    /// The request URL for `profile`: placeholders are looked up in
    /// `account` ([`Account::attribute`]) first, then in `profile`
    /// ([`Profile::attribute`]).
    ///
    /// # Errors
    ///
    /// [`TemplateError::MissingAttribute`] naming a placeholder neither has,
    /// or [`TemplateError::UnusableValue`].
    pub fn render_url(
        &self,
        profile: &Profile,
        account: Option<&Account>,
    ) -> Result<String, TemplateError> {
        self.url.render(|name| {
            account
                .and_then(|a| a.attribute(name))
                .or_else(|| profile.attribute(name))
        })
    }

    /// The payload to send: this step's event title, `at`, the profile's
    /// known fields and attributes, and `account`/`consent` when given.
    pub fn payload(
        &self,
        profile: &Profile,
        account: Option<&Account>,
        consent: Option<&Consent>,
        at: SystemTime,
    ) -> JourneyPayload {
        JourneyPayload {
            event_title: self.event_title.clone(),
            timestamp: at.into(),
            profile: profile.to_payload(),
            account: account.cloned(),
            consent: consent.cloned(),
            extra: crate::model::Extra::new(),
        }
    }
}

/// Builds a [`JourneyStep`]; errors surface from [`build`](Self::build).
#[must_use = "a builder does nothing until `build` is called"]
pub struct JourneyStepBuilder {
    journey_id: String,
    step_id: String,
    event_title: String,
    method: String,
    url_template: String,
    auth: Auth,
    headers: Vec<(String, String)>,
    required_consent: Option<String>,
    gone_means_delivered: Option<bool>,
}

impl fmt::Debug for JourneyStepBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JourneyStepBuilder")
            .field("journey_id", &self.journey_id)
            .field("step_id", &self.step_id)
            .field("event_title", &self.event_title)
            .field("method", &self.method)
            .field(
                "url_template",
                &crate::redact::RedactedUrl(&self.url_template),
            )
            .field("auth", &self.auth)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("required_consent", &self.required_consent)
            .finish()
    }
}

impl JourneyStepBuilder {
    /// Sets how the step authenticates (default: none).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Adds a header sent with every request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Requires consent `category` (for example `marketing`) to be granted.
    pub fn required_consent(mut self, category: impl Into<String>) -> Self {
        self.required_consent = Some(category.into());
        self
    }

    /// Whether a 404 or 410 answer for one rendered URL counts as delivered
    /// (default: `true` for DELETE, `false` for POST and PUT, which then end
    /// that delivery dead). It never disables the step.
    pub fn gone_means_delivered(mut self, delivered: bool) -> Self {
        self.gone_means_delivered = Some(delivered);
        self
    }

    /// Checks everything and builds the step.
    ///
    /// # Errors
    ///
    /// [`JourneyError`]: a method other than POST, PUT or DELETE (naming
    /// it), an empty id, title or consent category, an invalid URL template,
    /// or a header or auth part that cannot make a valid header.
    pub fn build(self) -> Result<JourneyStep, JourneyError> {
        let method = match self.method.to_ascii_uppercase().as_str() {
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "DELETE" => Method::DELETE,
            _ => {
                return Err(JourneyError::UnsupportedMethod {
                    method: self.method,
                })
            }
        };
        for (field, value) in [
            ("journey id", &self.journey_id),
            ("step id", &self.step_id),
            ("event title", &self.event_title),
        ] {
            if value.is_empty() {
                return Err(JourneyError::Empty { field });
            }
        }
        if self.required_consent.as_deref() == Some("") {
            return Err(JourneyError::Empty {
                field: "consent category",
            });
        }
        let url = UrlTemplate::parse(&self.url_template).map_err(JourneyError::Template)?;
        self.auth.header()?;
        let mut headers = HeaderMap::new();
        for (name, value) in self.headers {
            let header_name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| JourneyError::InvalidHeaderName { name: name.clone() })?;
            if crate::endpoint::is_reserved_header(&header_name) {
                return Err(JourneyError::ReservedHeader {
                    name: header_name.as_str().to_owned(),
                });
            }
            let mut header_value =
                HeaderValue::try_from(value).map_err(|_| JourneyError::InvalidHeaderValue {
                    name: header_name.as_str().to_owned(),
                })?;
            header_value.set_sensitive(crate::redact::is_credential_header(&header_name));
            headers.append(header_name, header_value);
        }
        let gone_means_delivered = self
            .gone_means_delivered
            .unwrap_or(method == Method::DELETE);
        Ok(JourneyStep {
            journey_id: self.journey_id,
            step_id: self.step_id,
            event_title: self.event_title,
            method,
            url,
            auth: self.auth,
            gone_means_delivered,
            headers,
            required_consent: self.required_consent,
        })
    }
}
