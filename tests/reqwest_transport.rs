//! `ReqwestTransport` against a loopback server: statuses, redirects, timeouts,
//! broken connections, body caps, the SSRF guard, and URL-free errors.
#![cfg(feature = "reqwest")]
// This program measures real time; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

mod support;

use std::error::Error as StdError;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookwire::target::TargetPolicy;
use hookwire::transport::{
    ReqwestTransport, SendOptions, Transport, TransportError, TransportErrorKind, WebhookRequest,
    WebhookResponse,
};
use http::Method;
use support::http_server::{closed_port, Recorded, Reply, TestServer};

const SECRET_PATH: &str = "/hook/secret-token-123";
const GENEROUS: Duration = Duration::from_secs(5);

fn local() -> ReqwestTransport {
    ReqwestTransport::builder()
        .build()
        .expect("transport builds")
}

fn request(method: Method, url: &str, body: &'static [u8]) -> WebhookRequest {
    http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Bytes::from_static(body))
        .expect("valid request")
}

fn post(url: &str) -> WebhookRequest {
    request(Method::POST, url, br#"{"action":"ping"}"#)
}

/// Options for the test servers, which live on 127.0.0.1: the one place
/// this file lifts the target guard.
fn opts(timeout: Duration, max_body: usize) -> SendOptions {
    SendOptions::new(timeout, max_body).with_targets(TargetPolicy::AllowPrivate)
}

async fn send(
    transport: &ReqwestTransport,
    req: WebhookRequest,
) -> Result<WebhookResponse, TransportError> {
    transport.send(req, opts(GENEROUS, 64 * 1024)).await
}

/// Debug plus the Display of every error in the chain.
fn error_text(err: &TransportError) -> String {
    let mut text = format!("{err:?}");
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        text.push_str(" | ");
        text.push_str(&e.to_string());
        next = e.source();
    }
    text
}

/// The error carries no URL: neither the secret path nor a scheme.
fn assert_no_url(err: &TransportError) {
    let text = error_text(err);
    assert!(!text.contains("secret-token-123"), "{text}");
    assert!(!text.contains("http://"), "{text}");
    assert!(!text.contains("https://"), "{text}");
}

#[tokio::test]
async fn returns_status_headers_and_body() {
    let server =
        TestServer::always(Reply::status(200).header("x-reply", "yes").body("accepted")).await;
    let response = send(&local(), post(&server.url("/in")))
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-reply"], "yes");
    assert_eq!(response.body(), &Bytes::from_static(b"accepted"));
}

#[tokio::test]
async fn any_status_is_a_response() {
    for status in [204u16, 404, 500] {
        let server = TestServer::always(Reply::status(status)).await;
        let response = send(&local(), post(&server.url("/in")))
            .await
            .expect("response");
        assert_eq!(response.status(), status);
        assert!(response.body().is_empty());
    }
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let server = TestServer::start(|req: &Recorded| match req.path.as_str() {
        "/start" => Reply::status(302).header("location", "/target"),
        _ => Reply::status(200).body("followed"),
    })
    .await;
    let response = send(&local(), post(&server.url("/start")))
        .await
        .expect("response");
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "/target");
    assert_eq!(server.hits("/start"), 1);
    assert_eq!(server.hits("/target"), 0);
}

#[tokio::test]
async fn method_headers_and_body_arrive_intact() {
    let server = TestServer::always(Reply::status(200)).await;
    let transport = local();
    for (method, body) in [
        (Method::POST, &br#"{"a":1}"#[..]),
        (Method::PUT, &br#"{"step":"put"}"#[..]),
        (Method::DELETE, &br#"{"step":"delete"}"#[..]),
    ] {
        let mut req = request(method.clone(), &server.url("/steps?x=1"), body);
        req.headers_mut()
            .insert("webhook-id", "msg_1".parse().expect("header"));
        req.headers_mut()
            .append("x-multi", "one".parse().expect("header"));
        req.headers_mut()
            .append("x-multi", "two".parse().expect("header"));
        let response = send(&transport, req).await.expect("response");
        assert_eq!(response.status(), 200);
        let got = server.requests().pop().expect("recorded");
        assert_eq!(got.method, method.as_str());
        assert_eq!(got.path, "/steps?x=1");
        assert_eq!(got.body, body);
        assert_eq!(got.header("content-type"), Some("application/json"));
        assert_eq!(got.header("webhook-id"), Some("msg_1"));
        assert_eq!(got.header_all("x-multi"), ["one", "two"]);
    }
}

#[tokio::test]
async fn a_dispatchers_user_agent_reaches_the_wire() {
    use hookwire::dispatch::Dispatcher;
    use hookwire::endpoint::Endpoint;
    use hookwire::store::InMemoryStore;

    let server = TestServer::always(Reply::status(200)).await;
    for (agent, expected) in [(Some("acme-hooks/2"), "acme-hooks/2"), (None, "hookwire/")] {
        let mut builder =
            Dispatcher::builder(local(), InMemoryStore::new()).allow_private_targets(true);
        if let Some(agent) = agent {
            builder = builder.user_agent(http::HeaderValue::from_static(agent));
        }
        let dispatcher = builder.build().unwrap();
        let endpoint = Endpoint::builder("ep_ua", server.url("/ua"))
            .header("user-agent", "the-endpoints-own")
            .build()
            .expect("endpoint");
        dispatcher.add_endpoint(endpoint).await.expect("added");
        dispatcher
            .publish_json("ping", &b"{}"[..])
            .await
            .expect("published");
        let report = dispatcher.run_due(10).await.expect("ran");
        assert_eq!(report.succeeded, 1, "{report:?}");
        let got = server.requests().pop().expect("recorded");
        let ua = got.header("user-agent").expect("a user agent");
        assert!(ua.starts_with(expected), "{ua}");
        assert_eq!(got.header_all("user-agent").len(), 1);
    }
}

#[tokio::test]
async fn default_user_agent_names_hookwire_and_the_request_wins() {
    let server = TestServer::always(Reply::status(200)).await;
    send(&local(), post(&server.url("/a")))
        .await
        .expect("response");
    let mut req = post(&server.url("/b"));
    req.headers_mut()
        .insert("user-agent", "mine".parse().expect("header"));
    send(&local(), req).await.expect("response");
    let got = server.requests();
    assert!(
        got[0]
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("hookwire/")),
        "{:?}",
        got[0]
    );
    assert_eq!(got[1].header("user-agent"), Some("mine"));
}

#[tokio::test]
async fn a_slow_server_times_out_within_the_deadline() {
    let server = TestServer::always(Reply::status(200).after(Duration::from_secs(30))).await;
    let started = Instant::now();
    let err = local()
        .send(
            post(&server.url(SECRET_PATH)),
            opts(Duration::from_millis(200), 1024),
        )
        .await
        .expect_err("times out");
    assert_eq!(err.kind(), TransportErrorKind::Timeout);
    assert!(started.elapsed() < GENEROUS, "took {:?}", started.elapsed());
    assert_no_url(&err);
}

#[tokio::test]
async fn the_deadline_covers_reading_the_body() {
    let server = TestServer::always(Reply::StallMidBody {
        content_length: 1000,
        sent: b"0123456789".to_vec(),
    })
    .await;
    let started = Instant::now();
    let err = local()
        .send(
            post(&server.url(SECRET_PATH)),
            opts(Duration::from_millis(300), 64 * 1024),
        )
        .await
        .expect_err("times out");
    assert_eq!(err.kind(), TransportErrorKind::Timeout);
    assert!(started.elapsed() < GENEROUS, "took {:?}", started.elapsed());
    assert_no_url(&err);
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let addr = closed_port().await;
    let err = send(&local(), post(&format!("http://{addr}{SECRET_PATH}")))
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), TransportErrorKind::Connect);
    assert_no_url(&err);
}

#[tokio::test]
async fn a_dns_failure_is_a_connect_error() {
    // `.invalid` never resolves (RFC 6761). The timeout is long so that a slow
    // or unreachable system resolver still ends in a lookup failure.
    let err = ReqwestTransport::new()
        .send(
            post(&format!("http://no-such-host.invalid{SECRET_PATH}")),
            opts(Duration::from_secs(60), 1024),
        )
        .await
        .expect_err("no such host");
    assert_eq!(err.kind(), TransportErrorKind::Connect);
    assert_no_url(&err);
}

#[tokio::test]
async fn a_reset_mid_body_is_interrupted() {
    for reset in [true, false] {
        let server = TestServer::always(Reply::CloseMidBody {
            content_length: 1000,
            sent: b"0123456789".to_vec(),
            reset,
        })
        .await;
        let err = send(&local(), post(&server.url(SECRET_PATH)))
            .await
            .expect_err("broken body");
        assert_eq!(
            err.kind(),
            TransportErrorKind::Interrupted,
            "reset: {reset}: {err:?}"
        );
        assert_no_url(&err);
    }
}

#[tokio::test]
async fn a_connection_closed_before_answering_is_interrupted() {
    let server = TestServer::always(Reply::Close).await;
    let err = send(&local(), post(&server.url(SECRET_PATH)))
        .await
        .expect_err("closed");
    assert_eq!(err.kind(), TransportErrorKind::Interrupted, "{err:?}");
    assert_no_url(&err);
}

#[tokio::test]
async fn a_huge_body_is_cut_at_the_cap_without_reading_it_all() {
    let server = TestServer::always(Reply::Stream {
        status: 200,
        total: 50 * 1024 * 1024,
        chunk: 64 * 1024,
    })
    .await;
    let started = Instant::now();
    let response = local()
        .send(post(&server.url("/big")), opts(GENEROUS, 100_000))
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(response.body().len(), 100_000);
    assert!(response.body().iter().all(|&b| b == b'x'));
    assert!(started.elapsed() < GENEROUS, "took {:?}", started.elapsed());
}

#[tokio::test]
async fn bodies_under_the_cap_are_whole_and_a_zero_cap_reads_none() {
    let server = TestServer::always(Reply::status(200).body(vec![b'y'; 5000])).await;
    let whole = local()
        .send(post(&server.url("/a")), opts(GENEROUS, 5000))
        .await
        .expect("response");
    assert_eq!(whole.body().len(), 5000);
    let none = local()
        .send(post(&server.url("/b")), opts(GENEROUS, 0))
        .await
        .expect("response");
    assert_eq!(none.status(), 200);
    assert!(none.body().is_empty());
}

#[tokio::test]
async fn private_targets_are_rejected_without_the_opt_in() {
    let server = TestServer::always(Reply::status(200)).await;
    let port = server.addr().port();
    let guarded = ReqwestTransport::new();
    let public_only = SendOptions::new(GENEROUS, 1024);
    for url in [
        format!("http://127.0.0.1:{port}{SECRET_PATH}"),
        format!("http://localhost:{port}{SECRET_PATH}"),
        format!("http://LocalHost.:{port}{SECRET_PATH}"),
        format!("http://api.localhost:{port}{SECRET_PATH}"),
        // Other spellings of 127.0.0.1 that the URL parser normalises.
        format!("http://2130706433:{port}{SECRET_PATH}"),
        format!("http://0x7f.1:{port}{SECRET_PATH}"),
        format!("http://[::ffff:127.0.0.1]:{port}{SECRET_PATH}"),
        format!("http://[::1]:{port}{SECRET_PATH}"),
        format!("http://10.0.0.1:{port}{SECRET_PATH}"),
        format!("http://169.254.169.254{SECRET_PATH}"),
    ] {
        let err = guarded
            .send(post(&url), public_only)
            .await
            .expect_err("rejected");
        assert_eq!(err.kind(), TransportErrorKind::Rejected, "{url}: {err:?}");
        assert!(
            error_text(&err).contains("private targets are not allowed"),
            "{}",
            error_text(&err)
        );
        assert_no_url(&err);
    }
    assert!(server.requests().is_empty());

    // A host's own client gets the literal checks too.
    let own = ReqwestTransport::from(reqwest::Client::new());
    let err = own
        .send(post(&server.url("/x")), public_only)
        .await
        .expect_err("rejected");
    assert_eq!(err.kind(), TransportErrorKind::Rejected);
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn private_targets_are_reached_with_the_opt_in() {
    let server = TestServer::always(Reply::status(204)).await;
    let port = server.addr().port();
    for url in [
        format!("http://127.0.0.1:{port}/a"),
        format!("http://localhost:{port}/b"),
    ] {
        let response = send(&local(), post(&url)).await.expect("allowed");
        assert_eq!(response.status(), 204, "{url}");
    }
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn the_guarded_resolver_refuses_names_resolving_to_blocked_addresses() {
    use hookwire::transport::GuardedResolver;
    use reqwest::dns::{Name, Resolve};

    let name: Name = "localhost".parse().expect("name");
    let err = match GuardedResolver::new().resolve(name).await {
        Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
        Err(e) => e,
    };
    assert!(
        err.to_string()
            .contains("resolves only to blocked addresses"),
        "{err}"
    );
}

#[tokio::test]
async fn invalid_urls_are_rejected() {
    let err = send(&local(), post(SECRET_PATH))
        .await
        .expect_err("relative URL");
    assert_eq!(err.kind(), TransportErrorKind::Rejected);
    assert_no_url(&err);
}

#[cfg(not(feature = "rustls"))]
#[tokio::test]
async fn https_without_tls_is_rejected() {
    let server = TestServer::always(Reply::status(200)).await;
    let url = format!("https://{}{SECRET_PATH}", server.addr());
    let err = send(&local(), post(&url)).await.expect_err("no TLS");
    assert_eq!(err.kind(), TransportErrorKind::Rejected, "{err:?}");
    assert!(
        error_text(&err).contains("https needs TLS"),
        "{}",
        error_text(&err)
    );
    assert_no_url(&err);
}

#[cfg(feature = "rustls")]
#[tokio::test]
async fn a_failed_tls_handshake_is_a_connect_error() {
    use tokio::io::AsyncWriteExt;

    // A plain-HTTP peer that answers the ClientHello with text: the handshake fails.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        if let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            tokio::time::sleep(GENEROUS).await;
        }
    });
    let url = format!("https://{addr}{SECRET_PATH}");
    let err = send(&local(), post(&url)).await.expect_err("no TLS server");
    assert_eq!(err.kind(), TransportErrorKind::Connect, "{err:?}");
    assert_no_url(&err);
    server.abort();
}

#[tokio::test]
async fn debug_shows_nothing_of_the_clients() {
    assert_eq!(
        format!("{:?}", ReqwestTransport::new()),
        "ReqwestTransport { .. }"
    );
}

/// A listener whose accept queue is full: a new connection hangs in its
/// handshake (the kernel drops the SYN). The streams that fill the queue are
/// returned with the listener, to keep them open.
async fn unconnectable() -> (
    std::net::SocketAddr,
    tokio::net::TcpListener,
    Vec<tokio::net::TcpStream>,
) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let listener = socket.listen(0).unwrap();
    // Never accepted: fill the queue, stopping at the first that hangs.
    let mut held = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(stream)) => held.push(stream),
            _ => break,
        }
    }
    (addr, listener, held)
}

#[tokio::test]
async fn timeouts_say_in_which_phase_they_expired() {
    // Waiting for the head.
    let server = TestServer::always(Reply::status(200).after(Duration::from_secs(30))).await;
    let err = local()
        .send(
            post(&server.url(SECRET_PATH)),
            opts(Duration::from_millis(200), 1024),
        )
        .await
        .expect_err("times out");
    assert_eq!(
        err.reason(),
        "timed out after 200 ms waiting for the response headers"
    );

    // Reading the body.
    let server = TestServer::always(Reply::StallMidBody {
        content_length: 1000,
        sent: b"0123456789".to_vec(),
    })
    .await;
    let err = local()
        .send(
            post(&server.url(SECRET_PATH)),
            opts(Duration::from_millis(300), 64 * 1024),
        )
        .await
        .expect_err("times out");
    assert_eq!(err.reason(), "timed out after 300 ms reading the body");

    // Connecting: the request's deadline, then the connect timeout.
    let (addr, _keep, _held) = unconnectable().await;
    let url = format!("http://{addr}{SECRET_PATH}");
    let err = local()
        .send(post(&url), opts(Duration::from_millis(300), 1024))
        .await
        .expect_err("times out");
    assert_eq!(err.kind(), TransportErrorKind::Timeout);
    assert_eq!(err.reason(), "timed out after 300 ms connecting");
    let quick_connect = ReqwestTransport::builder()
        .connect_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = quick_connect
        .send(post(&url), opts(GENEROUS, 1024))
        .await
        .expect_err("times out");
    assert_eq!(err.kind(), TransportErrorKind::Timeout);
    assert_eq!(err.reason(), "timed out after 200 ms connecting");
    assert_no_url(&err);
}

#[tokio::test]
async fn a_refused_connection_says_so() {
    let addr = closed_port().await;
    let err = send(&local(), post(&format!("http://{addr}{SECRET_PATH}")))
        .await
        .expect_err("refused");
    assert_eq!(err.reason(), "connection refused");
}
