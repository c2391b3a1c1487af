//! Faults as errors: panics caught from transports and stores, and error chains as text.

use super::*;

/// A store future whose panic becomes a store error.
pub(super) fn guarded_store<'a, T: Send + 'a>(
    fut: BoxFut<'a, Result<T, StoreError>>,
) -> BoxFut<'a, Result<T, StoreError>> {
    Box::pin(
        AssertUnwindSafe(fut)
            .catch_unwind()
            .map(|r| r.unwrap_or_else(|panic| Err(panicked_store(&panic)))),
    )
}

/// The message a panic carried, if it was a string.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

pub(super) fn panicked_transport(panic: &Box<dyn std::any::Any + Send>) -> TransportError {
    TransportError::new(
        TransportErrorKind::Panicked,
        PanicText(format!(
            "the transport panicked: {}",
            panic_message(&**panic)
        )),
    )
}

pub(super) fn panicked_store(panic: &Box<dyn std::any::Any + Send>) -> StoreError {
    StoreError::new(
        StoreErrorKind::Other,
        PanicText(format!("the store panicked: {}", panic_message(&**panic))),
    )
}

/// A caught panic, as an error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct PanicText(String);

/// The same error again, its causes kept as text (`StoreError` is not `Clone`).
pub(super) fn copy_store_error(e: &StoreError) -> StoreError {
    StoreError::new(e.kind(), PanicText(error_chain(e)))
}

/// An error and its causes, joined by `: `.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let part = cause.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = cause.source();
    }
    text
}
