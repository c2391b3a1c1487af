//! Temporary: replaced by `VerifyError::status` from the recv-model branch.
impl super::VerifyError {
    /// The HTTP status class of this error.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::InvalidJson { .. } => http::StatusCode::BAD_REQUEST,
            Self::BodyTooLarge { .. } => http::StatusCode::PAYLOAD_TOO_LARGE,
            _ => http::StatusCode::UNAUTHORIZED,
        }
    }
}
