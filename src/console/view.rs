//! What every page shares: the layout and style, the response headers, the
//! mount point, and how times, durations, headers and response bodies are
//! shown (maud escapes every value put into a page).

use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use axum::extract::{FromRequestParts, OriginalUri};
use axum::response::{IntoResponse, Response};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use maud::{html, Markup, DOCTYPE};

use crate::endpoint::Endpoint;
use crate::id::DeliveryId;
use crate::signature::{
    HEADER_HEX_SIGNATURE, HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP,
};

/// The style sheet, inline (the content security policy allows no other).
pub(super) const CSS: &str = r#"
:root { --fg:#1d2330; --muted:#667085; --line:#e4e7ec; --bg:#f7f8fa; --ok:#1a7f37; --bad:#c62828; --warn:#b26a00; --link:#1f5fbf; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
header { background:#1d2330; color:#fff; padding:10px 24px; display:flex; gap:16px; align-items:baseline; }
header a { color:#fff; text-decoration:none; font-weight:600; }
header nav { color:#c9cfdb; }
header nav a { color:#c9cfdb; font-weight:400; }
main { padding:16px 24px 40px; max-width:1200px; }
h1 { font-size:20px; margin:8px 0 12px; }
h2 { font-size:16px; margin:24px 0 8px; }
a { color:var(--link); }
table { border-collapse:collapse; width:100%; background:#fff; border:1px solid var(--line); }
th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#f0f2f5; font-weight:600; font-size:13px; }
td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; }
.ok { color:var(--ok); } .bad { color:var(--bad); } .warn { color:var(--warn); } .muted { color:var(--muted); }
.badge.ok { background:#e6f4ea; } .badge.bad { background:#fdecea; } .badge.warn { background:#fff4e0; } .badge.muted { background:#eef0f3; }
dl.facts { display:grid; grid-template-columns: max-content 1fr; gap:4px 16px; background:#fff; border:1px solid var(--line); padding:12px 16px; margin:0; }
dl.facts dt { color:var(--muted); } dl.facts dd { margin:0; }
form.inline { display:inline; margin:0; }
button { font:inherit; padding:3px 12px; border:1px solid #b8bfcc; border-radius:4px; background:#fff; cursor:pointer; }
button:hover { background:#f0f2f5; }
button.danger { border-color:#e0a3a3; color:var(--bad); }
.actions { display:flex; gap:8px; margin:12px 0; }
.filters a { margin-right:10px; } .filters a.current { font-weight:700; color:var(--fg); text-decoration:none; }
pre { margin:0; white-space:pre-wrap; word-break:break-all; font-size:12px; max-height:12em; overflow:auto; background:#f7f8fa; padding:4px 6px; }
code { font-size:12px; }
.pager { margin:10px 0; }
.chart { background:#fff; border:1px solid var(--line); padding:8px; }
.chart .legend span { margin-right:14px; font-size:12px; }
.swatch { display:inline-block; width:10px; height:10px; margin-right:4px; vertical-align:middle; }
p.error { background:#fdecea; border:1px solid #f3c2bf; padding:10px 14px; }
p.notice { background:#e6f4ea; border:1px solid #b7dfc1; padding:10px 14px; }
"#;

/// The security policy of every response: no scripts at all, styles inline,
/// forms posted to this origin only, never framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every console response.
pub(super) async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("cache-control", "no-store"),
    ] {
        headers
            .entry(HeaderName::from_static(name))
            .or_insert(HeaderValue::from_static(value));
    }
    response
}

/// An HTML page response.
pub(super) fn html_response(page: Markup) -> Response {
    (
        [(http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page.into_string(),
    )
        .into_response()
}

/// Where the console is mounted (`""` at the root, `/ops/webhooks` when the
/// host nested it there), found from the request: links and redirects
/// start with it.
#[derive(Debug, Clone)]
pub(super) struct Base(pub(super) String);

impl Base {
    /// The console path `path` (starting with `/`) under the mount point.
    pub(super) fn to(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Base {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        let inner = parts.uri.path();
        let original = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(inner, |OriginalUri(uri)| uri.path());
        Ok(Self(mount_point(original, inner)))
    }
}

/// The part of `original` (the path the host's server saw) before `inner`
/// (the path the console's router saw). Only a plain path is kept: anything
/// that could make a link or a redirect leave the site (`//host`, a
/// backslash) gives the root.
fn mount_point(original: &str, inner: &str) -> String {
    let prefix = if inner == "/" {
        original.trim_end_matches('/')
    } else {
        original.strip_suffix(inner).unwrap_or("")
    };
    let plain = prefix.starts_with('/')
        && !prefix.starts_with("//")
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.~%".contains(&b));
    if plain {
        prefix.to_owned()
    } else {
        String::new()
    }
}

/// A whole page: the header with the way back, the title and `content`.
pub(super) fn page(
    base: &Base,
    title: &str,
    crumbs: &[(String, String)],
    content: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · hookwire console" }
                style { (maud::PreEscaped(CSS)) }
            }
            body {
                header {
                    a href=(base.to("/")) { "hookwire console" }
                    nav {
                        @for (href, label) in crumbs {
                            " › " a href=(href) { (label) }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// A POST button carrying the console's token: the only way an action is
/// sent.
pub(super) fn action_button(
    action: &str,
    csrf: &str,
    label: &str,
    class: &str,
    id: &str,
) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            input type="hidden" name=(super::csrf::FIELD) value=(csrf);
            button type="submit" class=(class) id=(id) { (label) }
        }
    }
}

/// A time as `2026-12-03 08:40:14 UTC`.
pub(super) fn at(t: SystemTime) -> String {
    let secs = crate::clock::unix_secs(t);
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("unix {secs}"),
    }
}

/// How far `t` is from `now`, in words: `5 s ago`, `in 3 min`.
pub(super) fn ago(now: SystemTime, t: SystemTime) -> String {
    match now.duration_since(t) {
        Ok(d) => format!("{} ago", rough(d)),
        Err(e) => format!("in {}", rough(e.duration())),
    }
}

/// When something scheduled at `t` is due: `due now` once it is (or within
/// the second), else `in 3 min`.
pub(super) fn due(now: SystemTime, t: SystemTime) -> String {
    match t.duration_since(now) {
        Ok(d) if d >= Duration::from_secs(1) => format!("in {}", rough(d)),
        _ => "due now".to_owned(),
    }
}

fn rough(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s} s"),
        120..=7_199 => format!("{} min", s / 60),
        7_200..=172_799 => format!("{} h", s / 3_600),
        _ => format!("{} d", s / 86_400),
    }
}

/// A duration as `12 ms` or `1.25 s`.
pub(super) fn duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// Whether a header's value must never be shown.
fn is_secret(name: &HeaderName, value: &HeaderValue) -> bool {
    value.is_sensitive() || crate::redact::is_credential_header(name)
}

/// The headers every request of delivery `id` carries, as the dispatcher
/// lays them out (`template`): credentials as `[redacted]`, the ids filled
/// in, the signatures (made anew for each attempt, not kept) named only.
pub(super) fn shown_headers(template: &HeaderMap, id: &DeliveryId) -> Vec<(String, String)> {
    template
        .iter()
        .map(|(name, value)| {
            let shown = if is_secret(name, value) {
                "[redacted]".to_owned()
            } else if name == HEADER_WEBHOOK_ID || name == crate::dispatch::HEADER_IDEMPOTENCY_KEY {
                id.as_str().to_owned()
            } else if name == HEADER_HEX_SIGNATURE
                || name == HEADER_WEBHOOK_SIGNATURE
                || name == HEADER_WEBHOOK_TIMESTAMP
            {
                "(computed for each attempt)".to_owned()
            } else {
                value
                    .to_str()
                    .map_or_else(|_| "(not text)".to_owned(), str::to_owned)
            };
            (name.as_str().to_owned(), shown)
        })
        .collect()
}

/// The secret values an endpoint sends, which a response that echoes its
/// request back would show: each credential header's value, and the token
/// after its scheme (`Bearer <token>`).
pub(super) fn secrets_of(endpoint: &Endpoint) -> Vec<String> {
    let mut secrets = Vec::new();
    for (name, value) in &endpoint.headers {
        if !is_secret(name, value) {
            continue;
        }
        let Ok(text) = std::str::from_utf8(value.as_bytes()) else {
            continue;
        };
        secrets.push(text.to_owned());
        if let Some((_, token)) = text.split_once(' ') {
            secrets.push(token.trim().to_owned());
        }
    }
    // Very short values would blank out ordinary text; longest first, so
    // that a whole value goes before the token inside it.
    secrets.retain(|s| s.len() >= 4);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
}

/// A recorded response body as text (invalid UTF-8 replaced), with every
/// one of `secrets` in it replaced by `[redacted]`.
pub(super) fn shown_body(body: &[u8], secrets: &[String]) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    for secret in secrets {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), "[redacted]");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_point_is_what_the_host_put_before_the_console() {
        for (original, inner, base) in [
            ("/", "/", ""),
            ("/endpoints/ep_1", "/endpoints/ep_1", ""),
            ("/ops/webhooks", "/", "/ops/webhooks"),
            ("/ops/webhooks/", "/", "/ops/webhooks"),
            (
                "/ops/webhooks/endpoints/ep_1",
                "/endpoints/ep_1",
                "/ops/webhooks",
            ),
            // Never a link off the site.
            ("//evil.example/endpoints/ep_1", "/endpoints/ep_1", ""),
            ("///evil.example/x/", "/", ""),
            ("/a\\b/x", "/x", ""),
            ("/a\"onload=/x", "/x", ""),
            ("/other", "/x", ""),
        ] {
            assert_eq!(mount_point(original, inner), base, "{original} {inner}");
        }
    }

    #[test]
    fn maud_escapes_what_pages_show() {
        let hostile = r#"<script>alert("x")</script>&'"#;
        let base = Base(String::new());
        let shown = page(
            &base,
            hostile,
            &[],
            html! { p title=(hostile) { (hostile) } },
        )
        .into_string();
        assert!(!shown.contains("<script>"), "{shown}");
        assert!(shown.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;"));
    }

    #[test]
    fn credentials_are_redacted_and_ids_filled_in() {
        let mut template = HeaderMap::new();
        let mut secret = HeaderValue::from_static("Bearer s3cr3t-token");
        secret.set_sensitive(true);
        template.insert("x-custom-auth", secret);
        template.insert(
            "authorization",
            HeaderValue::from_static("Basic dXNlcjpwdw=="),
        );
        template.insert("x-tenant", HeaderValue::from_static("acme"));
        template.insert("webhook-id", HeaderValue::from_static(""));
        template.insert("webhook-signature", HeaderValue::from_static(""));
        let id = DeliveryId::new("dlv_1").unwrap();
        let shown = shown_headers(&template, &id);
        let get = |n: &str| shown.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("x-custom-auth"), Some("[redacted]"));
        assert_eq!(get("authorization"), Some("[redacted]"));
        assert_eq!(get("x-tenant"), Some("acme"));
        assert_eq!(get("webhook-id"), Some("dlv_1"));
        assert_eq!(
            get("webhook-signature"),
            Some("(computed for each attempt)")
        );
    }

    #[test]
    fn an_echoed_secret_is_replaced_in_a_response_body() {
        let endpoint = Endpoint::builder("ep_1", "https://hooks.example.com/in")
            .secret_header("authorization", "Bearer s3cr3t-token")
            .header("x-tenant", "acme")
            .build()
            .unwrap();
        let secrets = secrets_of(&endpoint);
        let body = br#"{"echo":{"authorization":"Bearer s3cr3t-token","token":"s3cr3t-token","tenant":"acme"}}"#;
        let shown = shown_body(body, &secrets);
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("acme"));
        assert_eq!(shown_body(b"\xff ok", &secrets), "\u{fffd} ok");
    }

    #[test]
    fn times_and_durations_read_well() {
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_796_287_214);
        assert_eq!(at(t), "2026-12-03 08:40:14 UTC");
        assert_eq!(ago(t + Duration::from_secs(5), t), "5 s ago");
        assert_eq!(ago(t, t + Duration::from_secs(300)), "in 5 min");
        assert_eq!(due(t, t + Duration::from_secs(300)), "in 5 min");
        assert_eq!(due(t, t + Duration::from_millis(300)), "due now");
        assert_eq!(due(t + Duration::from_secs(9), t), "due now");
        assert_eq!(duration(Duration::from_millis(12)), "12 ms");
        assert_eq!(duration(Duration::from_millis(1_250)), "1.25 s");
    }
}
