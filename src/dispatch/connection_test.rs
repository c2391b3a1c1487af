//! The connection test: one harmless, signed request to one endpoint, now,
//! whose body is a [`ConnectionTest`] (the type receivers parse it into).

use std::time::Duration;

use bytes::Bytes;

use super::attempt::recorded_result;
use super::request::RequestTemplate;
use super::state::Inner;
use super::DispatchError;
use crate::endpoint::EndpointError;
use crate::id::{DeliveryId, EndpointId};
use crate::model::ConnectionTest;
use crate::store::AttemptResult;
use crate::transport::TransportErrorKind;

/// What a connection test got back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TestReport {
    /// The response, or the transport failure.
    pub result: AttemptResult,
    /// How long it took.
    pub duration: Duration,
    /// Whether it counts as a success (a 2xx answer).
    pub success: bool,
}

/// Sends the test event to endpoint `id`; see
/// [`Dispatcher::test_endpoint`](super::Dispatcher::test_endpoint).
pub(super) async fn run(inner: &Inner, id: &EndpointId) -> Result<TestReport, DispatchError> {
    let endpoint = inner
        .store()
        .endpoint(id)
        .await?
        .ok_or_else(|| DispatchError::UnknownEndpoint(id.clone()))?;
    let now = inner.clock.now();
    if let Err(blocked) = endpoint.url.check_target(inner.targets) {
        let result = AttemptResult::error(TransportErrorKind::Rejected, blocked.to_string());
        return Ok(report(id, result, Duration::ZERO));
    }
    let body = serde_json::to_vec(&ConnectionTest::new(now)).map_err(DispatchError::Serialize)?;
    let template = RequestTemplate::new(endpoint, inner.targets, &inner.user_agent);
    let request = template
        .request(None, &DeliveryId::generate(), Bytes::from(body), now)
        .map_err(|e| DispatchError::Endpoint(EndpointError::InvalidUrl(e.to_string())))?;
    let sent = inner.transport().send(request, inner.send_options()).await;
    let end = inner.clock.now();
    let result = recorded_result(sent);
    Ok(report(
        id,
        result,
        end.duration_since(now).unwrap_or_default(),
    ))
}

/// The report, and its tracing event.
fn report(id: &EndpointId, result: AttemptResult, duration: Duration) -> TestReport {
    let success =
        matches!(result, AttemptResult::Response { status, .. } if (200..300).contains(&status));
    #[cfg(feature = "tracing")]
    match &result {
        AttemptResult::Response { status, .. } => tracing::info!(
            hookwire.endpoint.id = %id,
            http.response.status_code = status,
            success,
            "endpoint tested"
        ),
        AttemptResult::Error { kind, reason } => tracing::info!(
            hookwire.endpoint.id = %id,
            error.r#type = %kind,
            reason = %reason,
            success,
            "endpoint tested"
        ),
    }
    #[cfg(not(feature = "tracing"))]
    let _ = id;
    TestReport {
        result,
        duration,
        success,
    }
}
