//! Reading a request body up to a limit, for the adapters.

use bytes::Bytes;
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::rejection::Rejection;

/// The whole of `body`, if it is at most `limit` bytes.
///
/// A body that announces more (its `Content-Length`, through the size hint)
/// is refused before a byte is read; one that grows past the limit is
/// refused as soon as it does, without reading the rest.
pub(crate) async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, Rejection>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limit_u64 = u64::try_from(limit).unwrap_or(u64::MAX);
    if body.size_hint().lower() > limit_u64 {
        return Err(Rejection::BodyTooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if over_limit(&*e) => Err(Rejection::BodyTooLarge { limit }),
        Err(e) => Err(Rejection::BodyRead(e)),
    }
}

/// Whether `error`, or an error it wraps (a framework's body error around a
/// limit set further out, such as tower-http's), is a length limit's.
fn over_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<LengthLimitError>() {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use http_body_util::{Full, StreamBody};

    #[test]
    fn bodies_within_the_limit_are_read_whole() {
        let body = Full::new(Bytes::from_static(b"0123456789"));
        assert_eq!(
            block_on(read_limited(body, 10)).unwrap(),
            &b"0123456789"[..]
        );
    }

    #[test]
    fn an_announced_size_over_the_limit_is_refused_unread() {
        let body = Full::new(Bytes::from_static(b"0123456789"));
        assert!(matches!(
            block_on(read_limited(body, 9)),
            Err(Rejection::BodyTooLarge { limit: 9 })
        ));
    }

    #[test]
    fn a_stream_is_read_only_until_it_passes_the_limit() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let polled = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&polled);
        // An endless stream of 1 KiB frames, counting those taken.
        let frames = futures::stream::repeat_with(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(vec![b'x'; 1024])))
        });
        let result = block_on(read_limited(StreamBody::new(frames), 10 * 1024));
        assert!(matches!(result, Err(Rejection::BodyTooLarge { .. })));
        assert_eq!(polled.load(Ordering::Relaxed), 11);
    }
}
