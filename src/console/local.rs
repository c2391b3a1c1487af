//! The local-only mode's guard: loopback peers only, and never through a
//! proxy.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;

use super::error::ConsoleError;

/// Passes a request on only if it comes straight from a loopback address.
pub(super) async fn loopback_only(request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    match refusal(peer, request.headers()) {
        None => next.run(request).await,
        Some(why) => ConsoleError::Forbidden(why.into()).into_response(),
    }
}

/// Why a request is refused, or `None` if it may pass.
fn refusal(peer: Option<IpAddr>, headers: &HeaderMap) -> Option<&'static str> {
    let Some(peer) = peer else {
        return Some(
            "this console serves loopback clients only, and the server did not say who the \
             client is: serve it with into_make_service_with_connect_info::<SocketAddr>()",
        );
    };
    if !peer.to_canonical().is_loopback() {
        return Some("this console serves loopback clients only");
    }
    // A reverse proxy on this machine makes every client look local.
    if ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|name| headers.contains_key(*name))
    {
        return Some(
            "this console serves loopback clients only, and this request came through a \
             proxy: put the console behind your authentication (with_auth) instead",
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_direct_loopback_peers_pass() {
        let none = HeaderMap::new();
        for ok in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(refusal(Some(ok.parse().unwrap()), &none), None, "{ok}");
        }
        for refused in [
            "203.0.113.5",
            "10.0.0.1",
            "::ffff:10.0.0.1",
            "fe80::1",
            "0.0.0.0",
        ] {
            assert!(
                refusal(Some(refused.parse().unwrap()), &none).is_some(),
                "{refused}"
            );
        }
        assert!(refusal(None, &none).is_some(), "no peer address");
        let mut proxied = HeaderMap::new();
        proxied.insert("x-forwarded-for", "203.0.113.5".parse().unwrap());
        assert!(refusal(Some("127.0.0.1".parse().unwrap()), &proxied).is_some());
    }
}
