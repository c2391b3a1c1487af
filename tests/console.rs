//! The operator console's router, driven with tower's `oneshot`: every page
//! renders on both stores (InMemoryStore and PgStore), deliveries page by
//! cursor and filter by state, each action changes the state and is refused
//! without the form's token, no page shows a secret or a full URL, the auth
//! layer guards everything and links follow the mount point, and the
//! local-only mode refuses every peer but a loopback one.
//!
//! The PostgreSQL run needs `HOOKWIRE_TEST_DATABASE_URL` (see
//! `tests/postgres.rs`): without it the test says loudly that it was
//! skipped, unless `CI=true`, where it fails.
#![cfg(feature = "console")]

#[cfg(feature = "postgres")]
mod postgres_support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use hookwire::clock::{Clock, ManualClock};
use hookwire::console::Console;
use hookwire::dispatch::Dispatcher;
use hookwire::endpoint::Endpoint;
use hookwire::id::{DeliveryId, EndpointId};
use hookwire::retry::Policy;
use hookwire::signature::{Schemes, SigningSecret};
use hookwire::store::{DeliveryState, InMemoryStore, Store};
use hookwire::testing::{MockReply, MockTransport};
use tower::ServiceExt;

const T0: u64 = 1_771_515_000;
const EVENTS: usize = 7;

/// Every secret the fixture holds, and the URL parts that carry tokens:
/// none may appear on any page.
const SECRETS: &[&str] = &[
    "PATH_SECRET_1",
    "QUERY_SECRET_2",
    "BEARER_SECRET_3",
    "APIKEY_SECRET_4",
    "PATH_SECRET_5",
    "CUSTOM_SECRET_6",
    "SIGNING_SECRET_7",
];

struct Fixture {
    dispatcher: Dispatcher,
    transport: MockTransport,
    /// `ep_down`'s deliveries, oldest first (all dead).
    down: Vec<DeliveryId>,
    /// `ep_ok`'s deliveries, oldest first (all succeeded).
    ok: Vec<DeliveryId>,
}

/// Two endpoints with secrets in every place a secret can be: `ep_ok`
/// (always 200) and `ep_down` (always 500, echoing its secret header).
/// Seven events each, worked off: `ep_ok`'s all succeeded, `ep_down`'s all
/// dead after two attempts.
async fn fixture(store: impl Store + 'static) -> Fixture {
    let clock = ManualClock::at_unix(T0);
    let transport = MockTransport::with_fn(|request, _n| {
        if request.uri().host() == Some("ok.example.com") {
            return MockReply::ok().body("thanks");
        }
        let echoed = request
            .headers()
            .get("x-custom-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        MockReply::status(500).body(format!(r#"{{"error":"down","you_sent":"{echoed}"}}"#))
    });
    let dispatcher = Dispatcher::builder(transport.clone(), store)
        .clock(clock.clone())
        .policy(
            Policy::custom([Duration::from_secs(1)])
                .unwrap()
                .with_jitter(0.0)
                .unwrap(),
        )
        .disable_after_dead(None)
        .build()
        .unwrap();
    let signing = SigningSecret::from_raw_str("SIGNING_SECRET_7_long_enough_to_sign").unwrap();
    dispatcher
        .add_endpoint(
            Endpoint::builder(
                "ep_ok",
                "https://ok.example.com/hooks/PATH_SECRET_1?token=QUERY_SECRET_2",
            )
            .signing(signing.clone(), Schemes::BOTH)
            .secret_header("authorization", "Bearer BEARER_SECRET_3")
            .header("x-api-key", "APIKEY_SECRET_4")
            .header("x-tenant", "acme")
            .description("the happy one")
            .build()
            .unwrap(),
        )
        .await
        .unwrap();
    dispatcher
        .add_endpoint(
            Endpoint::builder("ep_down", "https://down.example.com/in/PATH_SECRET_5")
                .signing(signing, Schemes::HEX)
                .secret_header("x-custom-token", "CUSTOM_SECRET_6")
                // Its failures must not open a circuit: the test redelivers
                // and expects the next attempt at once.
                .without_circuit_breaker()
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let (mut ok, mut down) = (Vec::new(), Vec::new());
    for n in 0..EVENTS {
        let p = dispatcher
            .publish_json("startExperience", format!(r#"{{"n":{n}}}"#).into_bytes())
            .await
            .unwrap();
        for (delivery, endpoint) in p.deliveries {
            match endpoint.as_str() {
                "ep_ok" => ok.push(delivery),
                _ => down.push(delivery),
            }
        }
    }
    let until = clock.now() + Duration::from_secs(60);
    let report = dispatcher.run_until_idle(until, 100).await.unwrap();
    assert!(report.idle);
    assert_eq!(
        (report.total.succeeded, report.total.dead),
        (EVENTS, EVENTS),
        "the fixture: ep_ok's deliveries succeed, ep_down's end dead"
    );
    Fixture {
        dispatcher,
        transport,
        down,
        ok,
    }
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send(app: &Router, request: Request<Body>) -> Page {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 4 << 20)
        .await
        .unwrap();
    let body = String::from_utf8(bytes.to_vec()).unwrap();
    assert_no_secret(&body);
    Page {
        status,
        headers,
        body,
    }
}

async fn get(app: &Router, path: &str) -> Page {
    send(app, Request::get(path).body(Body::empty()).unwrap()).await
}

async fn post(app: &Router, path: &str, form: &str) -> Page {
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap();
    send(app, request).await
}

fn assert_no_secret(body: &str) {
    for secret in SECRETS {
        assert!(!body.contains(secret), "a page shows {secret}:\n{body}");
    }
    // Hosts only: no endpoint path or query.
    for part in ["/hooks/", "/in/", "token="] {
        assert!(
            !body.contains(part),
            "a page shows a URL's {part:?}:\n{body}"
        );
    }
}

/// The console's token, as its forms carry it.
fn token(page: &Page) -> String {
    let at = page
        .body
        .find(r#"name="csrf" value=""#)
        .expect("the page has a form with the token");
    let rest = &page.body[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// The delivery ids listed on a page, in order.
fn listed(page: &Page) -> Vec<String> {
    page.body
        .match_indices(r#"id="delivery-"#)
        .map(|(i, m)| {
            let rest = &page.body[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

fn older_link(page: &Page) -> Option<String> {
    let at = page.body.find(r#"id="older" href=""#)?;
    let rest = &page.body[at + r#"id="older" href=""#.len()..];
    Some(rest[..rest.find('"').unwrap()].replace("&amp;", "&"))
}

fn open(dispatcher: &Dispatcher) -> Router {
    Console::new(dispatcher.clone())
        .page_size(3)
        .with_auth(tower::layer::util::Identity::new())
}

async fn delivery_state(f: &Fixture, id: &DeliveryId) -> DeliveryState {
    f.dispatcher
        .store()
        .delivery(id)
        .await
        .unwrap()
        .unwrap()
        .state
}

/// Every page, paging, the filter, every action and every refusal, on one
/// store.
async fn exercise(store: impl Store + 'static) {
    let f = fixture(store).await;
    let app = open(&f.dispatcher);

    // The endpoints and their health.
    let home = get(&app, "/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = home.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(home.headers[header::CACHE_CONTROL], "no-store");
    for needle in [
        r#"id="endpoint-ep_ok""#,
        r#"id="endpoint-ep_down""#,
        "https://ok.example.com/…",
        "https://down.example.com/…",
        "the happy one",
        "HTTP 500",
        "100 %",
        "0 %",
    ] {
        assert!(
            home.body.contains(needle),
            "the endpoints page lacks {needle}"
        );
    }

    // One endpoint: the chart, and its deliveries newest first, three a
    // page, each once.
    let first = get(&app, "/endpoints/ep_down").await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.body.contains(r#"id="attempts-chart""#));
    assert!(first.body.contains(r#"class="bar""#), "the chart has bars");
    assert!(first
        .body
        .contains(&format!("{} failed (other status)", 2 * EVENTS)));
    let mut seen = listed(&first);
    assert_eq!(seen.len(), 3);
    let mut next = older_link(&first);
    while let Some(link) = next {
        let page = get(&app, &link).await;
        assert_eq!(page.status, StatusCode::OK, "{link}");
        let ids = listed(&page);
        assert!(!ids.is_empty() && ids.len() <= 3);
        seen.extend(ids);
        next = older_link(&page);
    }
    let newest_first: Vec<String> = f.down.iter().rev().map(|d| d.to_string()).collect();
    assert_eq!(seen, newest_first, "every delivery once, newest first");

    // The state filter.
    let dead = get(&app, "/endpoints/ep_down?state=dead").await;
    assert_eq!(listed(&dead), newest_first[..3]);
    assert!(dead.body.contains(r#"data-state="dead""#));
    let none = get(&app, "/endpoints/ep_down?state=succeeded").await;
    assert!(listed(&none).is_empty() && none.body.contains("No deliveries here."));
    let ok_page = get(&app, "/endpoints/ep_ok?state=succeeded").await;
    assert_eq!(listed(&ok_page).len(), 3);
    assert!(
        !ok_page.body.contains("Redeliver"),
        "only dead deliveries have the button"
    );
    assert_eq!(
        get(&app, "/endpoints/ep_down?state=bogus").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&app, "/endpoints/ep_down?after=x").await.status,
        StatusCode::BAD_REQUEST
    );

    // One delivery's attempts: statuses, the response with the echoed
    // secret replaced, the request headers redacted.
    let target = f.down[0].clone();
    let delivery = get(&app, &format!("/deliveries/{target}")).await;
    assert_eq!(delivery.status, StatusCode::OK);
    assert_eq!(delivery.body.matches(r#"class="attempt""#).count(), 2);
    for needle in [
        "HTTP 500",
        "[redacted]",
        "x-custom-token",
        "x-intelligems-signature",
        "(computed for each attempt)",
        &format!("<code>{target}</code>"),
        "&quot;error&quot;:&quot;down&quot;",
    ] {
        assert!(
            delivery.body.contains(needle),
            "the delivery page lacks {needle}"
        );
    }
    let ok_delivery = get(&app, &format!("/deliveries/{}", f.ok[0])).await;
    assert!(ok_delivery.body.contains("thanks") && ok_delivery.body.contains("x-tenant"));
    assert!(ok_delivery.body.contains("authorization") && ok_delivery.body.contains("x-api-key"));

    // Not found, everywhere.
    for path in [
        "/endpoints/nope",
        "/deliveries/nope",
        "/deliveries/bad.id",
        "/nowhere",
    ] {
        assert_eq!(
            get(&app, path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }

    // Actions: refused without the token, the wrong one, or from another
    // site; nothing changes then.
    let csrf = token(&delivery);
    let redeliver = format!("/deliveries/{target}/redeliver");
    for form in ["", "csrf=", "csrf=0000", &format!("csrf={}", &csrf[1..])] {
        let refused = post(&app, &redeliver, form).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{form:?}");
    }
    let no_form = send(&app, Request::post(&redeliver).body(Body::empty()).unwrap()).await;
    assert_eq!(no_form.status, StatusCode::FORBIDDEN);
    let cross = send(
        &app,
        Request::post(&redeliver)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "cross-site")
            .body(Body::from(format!("csrf={csrf}")))
            .unwrap(),
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert_eq!(delivery_state(&f, &target).await, DeliveryState::Dead);

    // Redeliver: pending again, and its next attempt is listed.
    let done = post(&app, &redeliver, &format!("csrf={csrf}")).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(
        done.headers[header::LOCATION],
        format!("/deliveries/{target}")
    );
    assert_eq!(delivery_state(&f, &target).await, DeliveryState::Pending);
    let again = post(&app, &redeliver, &format!("csrf={csrf}")).await;
    assert_eq!(
        again.status,
        StatusCode::CONFLICT,
        "a pending delivery is not redelivered"
    );
    f.dispatcher.run_due(10).await.unwrap();
    let after = get(&app, &format!("/deliveries/{target}")).await;
    assert!(
        after.body.contains(r#"data-attempt="3""#),
        "the new attempt is listed"
    );
    assert_eq!(
        post(&app, "/deliveries/nope/redeliver", &format!("csrf={csrf}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Disable, then enable.
    let ep_ok = EndpointId::new("ep_ok").unwrap();
    let refused = post(&app, "/endpoints/ep_ok/disable", "").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        f.dispatcher
            .endpoint_health(&ep_ok)
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
    let disabled = post(&app, "/endpoints/ep_ok/disable", &format!("csrf={csrf}")).await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER);
    assert_eq!(disabled.headers[header::LOCATION], "/endpoints/ep_ok");
    let health = f.dispatcher.endpoint_health(&ep_ok).await.unwrap().unwrap();
    assert!(!health.enabled);
    let page = get(&app, "/endpoints/ep_ok").await;
    assert!(page.body.contains("disabled by the host") && page.body.contains(r#"id="enable""#));
    let enabled = post(&app, "/endpoints/ep_ok/enable", &format!("csrf={csrf}")).await;
    assert_eq!(enabled.status, StatusCode::SEE_OTHER);
    assert!(
        f.dispatcher
            .endpoint_health(&ep_ok)
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
    assert_eq!(
        post(&app, "/endpoints/nope/enable", &format!("csrf={csrf}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // A test event: sent now, its answer shown.
    let before = f.transport.request_count();
    assert_eq!(
        post(&app, "/endpoints/ep_ok/test", "").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.transport.request_count(),
        before,
        "a refused action sends nothing"
    );
    let tested = post(&app, "/endpoints/ep_ok/test", &format!("csrf={csrf}")).await;
    assert_eq!(tested.status, StatusCode::OK);
    assert!(tested.body.contains("was delivered") && tested.body.contains("HTTP 200"));
    assert_eq!(f.transport.request_count(), before + 1);
    let sent = f.transport.last_request().unwrap();
    assert!(String::from_utf8_lossy(&sent.body).contains("testWebhook"));
    let failed = post(&app, "/endpoints/ep_down/test", &format!("csrf={csrf}")).await;
    assert!(failed.body.contains("not accepted") && failed.body.contains("HTTP 500"));
    assert!(
        failed.body.contains("[redacted]"),
        "the echoed secret is replaced"
    );
}

#[tokio::test]
async fn every_page_and_action_on_the_in_memory_store() {
    exercise(InMemoryStore::with_retention(usize::MAX)).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_and_action_on_postgres() {
    let Some(url) = postgres_support::database_url() else {
        return;
    };
    let store = postgres_support::fresh_store(&url, "hw_test_console", 4).await;
    exercise(store.clone()).await;
    postgres_support::drop_schema(&store).await;
}

/// An auth layer that lets through requests carrying `x-operator: yes`.
async fn operators_only(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<axum::response::Response, StatusCode> {
    if request
        .headers()
        .get("x-operator")
        .is_some_and(|v| v == "yes")
    {
        Ok(next.run(request).await)
    } else {
        Err(StatusCode::UNAUTHORIZED)
    }
}

#[tokio::test]
async fn nested_behind_auth_every_request_is_checked_and_links_follow_the_mount() {
    let f = fixture(InMemoryStore::new()).await;
    let app: Router = Router::new().nest(
        "/ops/webhooks",
        Console::new(f.dispatcher.clone()).with_auth(axum::middleware::from_fn(operators_only)),
    );
    let as_operator = |r: axum::http::request::Builder| r.header("x-operator", "yes");

    for path in [
        "/ops/webhooks",
        "/ops/webhooks/endpoints/ep_down",
        "/ops/webhooks/nowhere",
    ] {
        let page = get(&app, path).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let target = &f.down[0];
    let refused = post(
        &app,
        &format!("/ops/webhooks/deliveries/{target}/redeliver"),
        "",
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    let home = send(
        &app,
        as_operator(Request::get("/ops/webhooks"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home
        .body
        .contains(r#"href="/ops/webhooks/endpoints/ep_down""#));
    assert!(home.body.contains(r#"href="/ops/webhooks/""#));
    let page = send(
        &app,
        as_operator(Request::get("/ops/webhooks/endpoints/ep_down"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(page.body.contains(&format!(
        r#"action="/ops/webhooks/deliveries/{target}/redeliver""#
    )));
    let done = send(
        &app,
        as_operator(Request::post(format!(
            "/ops/webhooks/deliveries/{target}/redeliver"
        )))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("csrf={}", token(&page))))
        .unwrap(),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(
        done.headers[header::LOCATION],
        format!("/ops/webhooks/deliveries/{target}")
    );
}

#[tokio::test]
async fn two_consoles_have_different_tokens() {
    let f = fixture(InMemoryStore::new()).await;
    let (a, b) = (open(&f.dispatcher), open(&f.dispatcher));
    let token_a = token(&get(&a, "/endpoints/ep_down").await);
    let token_b = token(&get(&b, "/endpoints/ep_down").await);
    assert_ne!(token_a, token_b);
    let target = &f.down[0];
    let refused = post(
        &b,
        &format!("/deliveries/{target}/redeliver"),
        &format!("csrf={token_a}"),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn local_only_serves_loopback_peers_only() {
    let f = fixture(InMemoryStore::new()).await;
    let app: Router = Console::new(f.dispatcher.clone()).local_only();
    let from = |peer: Option<&str>, forwarded: bool| {
        let mut request = Request::get("/").body(Body::empty()).unwrap();
        if let Some(peer) = peer {
            let addr: SocketAddr = peer.parse().unwrap();
            request.extensions_mut().insert(ConnectInfo(addr));
        }
        if forwarded {
            request
                .headers_mut()
                .insert("x-forwarded-for", "203.0.113.5".parse().unwrap());
        }
        request
    };
    let mut statuses = HashSet::new();
    for (peer, forwarded, expected) in [
        (Some("127.0.0.1:50000"), false, StatusCode::OK),
        (Some("[::1]:50000"), false, StatusCode::OK),
        (Some("203.0.113.5:50000"), false, StatusCode::FORBIDDEN),
        (Some("[2001:db8::1]:50000"), false, StatusCode::FORBIDDEN),
        (Some("10.1.2.3:50000"), false, StatusCode::FORBIDDEN),
        (None, false, StatusCode::FORBIDDEN),
        (Some("127.0.0.1:50000"), true, StatusCode::FORBIDDEN),
    ] {
        let page = send(&app, from(peer, forwarded)).await;
        assert_eq!(page.status, expected, "{peer:?} forwarded={forwarded}");
        if expected == StatusCode::FORBIDDEN {
            assert!(page.body.contains("loopback clients only"), "{}", page.body);
            assert!(!page.body.contains("ep_down"));
        }
        statuses.insert(page.status);
    }
    assert_eq!(statuses.len(), 2);
    // An action from a remote peer is refused before its token is looked at.
    let mut post = Request::post(format!("/deliveries/{}/redeliver", f.down[0]))
        .body(Body::empty())
        .unwrap();
    post.extensions_mut()
        .insert(ConnectInfo("203.0.113.5:1".parse::<SocketAddr>().unwrap()));
    assert_eq!(send(&app, post).await.status, StatusCode::FORBIDDEN);
}
