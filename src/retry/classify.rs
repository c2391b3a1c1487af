//! Sorting outcomes into classes.

use http::StatusCode;

use super::Outcome;
use crate::transport::TransportErrorKind;

/// What kind of result an attempt had, before any policy applies its schedule.
///
/// See the [module docs](super#classification) for the full table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Class {
    /// 2xx: delivered.
    Success,
    /// 410 Gone: the endpoint says it no longer exists.
    Gone,
    /// 429 Too Many Requests, 502 Bad Gateway, 503 Service Unavailable,
    /// 504 Gateway Timeout, or a request timeout: the endpoint is overloaded.
    /// Retryable.
    Overloaded,
    /// Any other status (1xx, 3xx, 4xx, 5xx) or transport failure. Retryable.
    Failed,
    /// Refused before sending (invalid URL, blocked address): retrying cannot help.
    Fatal,
}

impl Class {
    /// Whether a policy may retry this class.
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::retry::Class;
    ///
    /// assert!(Class::Failed.is_retryable());
    /// assert!(!Class::Success.is_retryable());
    /// ```
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Overloaded | Self::Failed)
    }
}

/// Sorts an outcome into a [`Class`].
///
/// Only 2xx is success: a 3xx is a failure, because redirects are never followed.
///
/// # Examples
///
/// ```
/// use hookwire::retry::{classify, Class, Outcome};
/// use hookwire::http::StatusCode;
/// use hookwire::transport::TransportErrorKind;
///
/// assert_eq!(classify(&Outcome::status(StatusCode::NO_CONTENT)), Class::Success);
/// assert_eq!(classify(&Outcome::status(StatusCode::MOVED_PERMANENTLY)), Class::Failed);
/// assert_eq!(classify(&Outcome::status(StatusCode::GONE)), Class::Gone);
/// assert_eq!(classify(&Outcome::Error(TransportErrorKind::Rejected)), Class::Fatal);
/// ```
pub fn classify(outcome: &Outcome) -> Class {
    match outcome {
        Outcome::Response { status, .. } => classify_status(*status),
        Outcome::Error(kind) => match kind {
            TransportErrorKind::Rejected => Class::Fatal,
            TransportErrorKind::Timeout => Class::Overloaded,
            _ => Class::Failed,
        },
    }
}

fn classify_status(status: StatusCode) -> Class {
    match status {
        s if s.is_success() => Class::Success,
        StatusCode::GONE => Class::Gone,
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::BAD_GATEWAY
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => Class::Overloaded,
        _ => Class::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table() {
        let table: &[(u16, Class)] = &[
            (100, Class::Failed),
            (200, Class::Success),
            (201, Class::Success),
            (204, Class::Success),
            (299, Class::Success),
            (301, Class::Failed),
            (302, Class::Failed),
            (304, Class::Failed),
            (308, Class::Failed),
            (400, Class::Failed),
            (401, Class::Failed),
            (404, Class::Failed),
            (409, Class::Failed),
            (410, Class::Gone),
            (429, Class::Overloaded),
            (500, Class::Failed),
            (502, Class::Overloaded),
            (503, Class::Overloaded),
            (504, Class::Overloaded),
            (599, Class::Failed),
            (999, Class::Failed),
        ];
        for &(code, class) in table {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(classify(&Outcome::status(status)), class, "status {code}");
        }
    }

    #[test]
    fn transport_error_table() {
        let table = [
            (TransportErrorKind::Connect, Class::Failed),
            (TransportErrorKind::Timeout, Class::Overloaded),
            (TransportErrorKind::Interrupted, Class::Failed),
            (TransportErrorKind::Rejected, Class::Fatal),
            (TransportErrorKind::Panicked, Class::Failed),
            (TransportErrorKind::Other, Class::Failed),
        ];
        for (kind, class) in table {
            assert_eq!(classify(&Outcome::Error(kind)), class, "{kind}");
        }
    }

    #[test]
    fn retryable_classes() {
        assert!(Class::Overloaded.is_retryable());
        assert!(Class::Failed.is_retryable());
        assert!(!Class::Gone.is_retryable());
        assert!(!Class::Fatal.is_retryable());
        assert!(!Class::Success.is_retryable());
    }
}
