//! [`Auth`]: how a journey step authenticates to the receiver.

use std::fmt;

use base64::Engine as _;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};

use super::JourneyError;

/// A secret string (password, token, API key) whose `Debug` is redacted,
/// zeroed when dropped.
///
/// # Examples
///
/// ```
/// use hookwire::model::journey::Secret;
///
/// let secret = Secret::from("hunter2");
/// assert_eq!(format!("{secret:?}"), "Secret([redacted])");
/// assert_eq!(secret.expose_secret(), "hunter2");
/// ```
#[derive(Clone, Default)]
pub struct Secret(zeroize::Zeroizing<String>);

impl Secret {
    /// Wraps `secret`.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(zeroize::Zeroizing::new(secret.into()))
    }

    /// The secret itself.
    ///
    /// # Security
    ///
    /// Do not log or display what this returns.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Secret::new(secret)
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Self {
        Secret::new(secret)
    }
}

/// How a journey step authenticates. Secrets never show in `Debug`.
///
/// # Examples
///
/// ```
/// use hookwire::model::journey::Auth;
///
/// let (name, value) = Auth::basic("alice", "hunter2").header()?.unwrap();
/// assert_eq!(name, "authorization");
/// assert_eq!(value, "Basic YWxpY2U6aHVudGVyMg==");
/// assert!(value.is_sensitive());
///
/// let (name, value) = Auth::api_key("X-Api-Key", "k_123").header()?.unwrap();
/// assert_eq!((name.as_str(), value.to_str().unwrap()), ("x-api-key", "k_123"));
///
/// assert!(Auth::None.header()?.is_none());
/// assert!(!format!("{:?}", Auth::bearer("t0k3n")).contains("t0k3n"));
/// # Ok::<(), hookwire::model::journey::JourneyError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Auth {
    /// No authentication.
    #[default]
    None,
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        /// The user name (may not contain `:`).
        username: String,
        /// The password.
        password: Secret,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// `<header>: <value>`.
    ApiKey {
        /// The header name (`X-Api-Key`).
        header: String,
        /// The key.
        value: Secret,
    },
}

impl Auth {
    /// Basic authentication.
    pub fn basic(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Auth::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    /// A bearer token.
    pub fn bearer(token: impl Into<Secret>) -> Self {
        Auth::Bearer(token.into())
    }

    /// An API key sent in `header`.
    pub fn api_key(header: impl Into<String>, value: impl Into<Secret>) -> Self {
        Auth::ApiKey {
            header: header.into(),
            value: value.into(),
        }
    }

    /// The header to send, its value marked sensitive; `None` for
    /// [`Auth::None`].
    ///
    /// # Errors
    ///
    /// [`JourneyError::InvalidHeaderName`] or
    /// [`JourneyError::InvalidHeaderValue`] when the parts cannot make a
    /// header (control characters, non-ASCII text, a bad name), and
    /// [`JourneyError::InvalidBasicUsername`] for a user name with `:`. The
    /// error never contains the secret.
    pub fn header(&self) -> Result<Option<(HeaderName, HeaderValue)>, JourneyError> {
        let (name, value) = match self {
            Auth::None => return Ok(None),
            Auth::Basic { username, password } => {
                if username.contains(':') {
                    return Err(JourneyError::InvalidBasicUsername);
                }
                let pair = format!("{username}:{}", password.expose_secret());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                (
                    AUTHORIZATION,
                    sensitive_value("authorization", format!("Basic {encoded}"))?,
                )
            }
            Auth::Bearer(token) => (
                AUTHORIZATION,
                sensitive_value("authorization", format!("Bearer {}", token.expose_secret()))?,
            ),
            Auth::ApiKey { header, value } => {
                let name = HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
                    JourneyError::InvalidHeaderName {
                        name: header.clone(),
                    }
                })?;
                let value = sensitive_value(name.as_str(), value.expose_secret().to_owned())?;
                (name, value)
            }
        };
        Ok(Some((name, value)))
    }
}

fn sensitive_value(name: &str, value: String) -> Result<HeaderValue, JourneyError> {
    let mut value = HeaderValue::try_from(value).map_err(|_| JourneyError::InvalidHeaderValue {
        name: name.to_owned(),
    })?;
    value.set_sensitive(true);
    Ok(value)
}
