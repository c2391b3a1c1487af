//! Building and signing each attempt's request, from a per-endpoint template.
//!
//! Every request to an endpoint carries the same header names in the same
//! order; only the id and the signatures change from one attempt to the
//! next. [`RequestTemplate`] lays the headers out once per endpoint (the
//! endpoint's own headers, the fixed ones, then a placeholder for each
//! per-attempt value), and each attempt clones it and fills the placeholders
//! in place: no header is hashed or inserted per attempt, and the clone is
//! sized exactly.

use std::time::SystemTime;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};
use http::Request;

use crate::endpoint::{Endpoint, EndpointError, EndpointUrl};
use crate::id::DeliveryId;
use crate::signature::{names, Schemes};
use crate::target::{BlockedTarget, TargetPolicy};
use crate::transport::WebhookRequest;

/// The `idempotency-key` header: the delivery id, stable across attempts.
pub const HEADER_IDEMPOTENCY_KEY: &str = "idempotency-key";

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static(HEADER_IDEMPOTENCY_KEY);

/// An endpoint with its request headers laid out; see the [module docs](self).
#[derive(Debug)]
pub(super) struct RequestTemplate {
    endpoint: Endpoint,
    targets: TargetPolicy,
    /// Set when the endpoint's own URL is refused by the target guard.
    blocked: Option<BlockedTarget>,
    /// What is signed: only schemes the signer has a key for.
    schemes: Schemes,
    headers: HeaderMap,
    /// How many placeholders end `headers`: the id twice, then one per
    /// signature header.
    slots: usize,
}

/// Why an attempt's request could not be built: it is never sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum RequestError {
    /// The delivery's own URL does not parse.
    #[error(transparent)]
    Url(EndpointError),
    /// The target guard refuses the URL's host.
    #[error(transparent)]
    Blocked(BlockedTarget),
}

impl RequestTemplate {
    /// Lays out `endpoint`'s headers: its own (except those hookwire sets
    /// itself, which it overrides), `content-type`, `user-agent`, then the
    /// placeholders `idempotency-key`, `webhook-id`, and the signature
    /// headers of the schemes it signs with. Its URL is checked against
    /// `targets` once, here.
    pub(super) fn new(endpoint: Endpoint, targets: TargetPolicy, user_agent: &HeaderValue) -> Self {
        // Only the schemes the signer has a key for: an endpoint changed
        // after it was built (or stored by another build) never sends an
        // empty signature header.
        let schemes = endpoint.signing.as_ref().map(|s| {
            let has = |scheme: Schemes| s.signer.covers(scheme).is_ok();
            Schemes {
                hex: s.schemes.hex && has(Schemes::HEX),
                standard: s.schemes.standard && has(Schemes::STANDARD),
                v1a: s.schemes.v1a && has(Schemes::V1A),
            }
        });
        let hex = schemes.is_some_and(|s| s.hex);
        let standard = schemes.is_some_and(|s| s.webhook_signature());
        let mut slot_names = vec![IDEMPOTENCY_KEY, names::WEBHOOK_ID];
        if hex {
            slot_names.push(names::HEX_SIGNATURE);
        }
        if standard {
            slot_names.push(names::WEBHOOK_SIGNATURE);
            slot_names.push(names::WEBHOOK_TIMESTAMP);
        }
        // Reserved names are refused when an endpoint is built; an endpoint
        // whose headers were changed afterwards (or stored by another
        // version) still never overrides framing, ids or signatures.
        let set_here = |name: &HeaderName| {
            *name == CONTENT_TYPE
                || *name == USER_AGENT
                || slot_names.contains(name)
                || crate::endpoint::is_reserved_header(name)
        };
        let mut headers = HeaderMap::with_capacity(endpoint.headers.len() + 2 + slot_names.len());
        for (name, value) in endpoint.headers.iter().filter(|(n, _)| !set_here(n)) {
            headers.append(name, value.clone());
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, user_agent.clone());
        // New names, so each goes to the end, in this order.
        for name in &slot_names {
            headers.insert(name, HeaderValue::from_static(""));
        }
        Self {
            blocked: endpoint.url.check_target(targets).err(),
            endpoint,
            targets,
            schemes: schemes.unwrap_or(Schemes::NONE),
            headers,
            slots: slot_names.len(),
        }
    }

    /// The endpoint.
    pub(super) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The headers laid out for every request, the per-attempt values (ids,
    /// signatures) still empty.
    #[cfg(feature = "console")]
    pub(super) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The request for one attempt of delivery `id`: `url` (a journey step's
    /// rendered URL) or the endpoint's, the template's headers with the id
    /// and the signatures of `body` at `now` filled in.
    ///
    /// # Errors
    ///
    /// [`RequestError`] if `url` does not parse, or the target guard refuses
    /// the URL the request would go to.
    pub(super) fn request(
        &self,
        url: Option<&str>,
        id: &DeliveryId,
        body: Bytes,
        now: SystemTime,
    ) -> Result<WebhookRequest, RequestError> {
        let endpoint = &self.endpoint;
        let uri = match url {
            Some(url) => {
                let url = EndpointUrl::parse(url).map_err(RequestError::Url)?;
                url.check_target(self.targets)
                    .map_err(RequestError::Blocked)?;
                url.as_uri().clone()
            }
            None => match &self.blocked {
                Some(blocked) => return Err(RequestError::Blocked(blocked.clone())),
                None => endpoint.url.as_uri().clone(),
            },
        };
        // Ids are validated header-safe (`[A-Za-z0-9_-]`); still, no panic
        // path. Two copies of a short id cost less than sharing one: a shared
        // value takes an atomic reference count per clone and per drop.
        let id_value = || {
            HeaderValue::from_str(id.as_str()).map_err(|_| {
                RequestError::Url(EndpointError::InvalidHeader(names::WEBHOOK_ID.to_string()))
            })
        };
        let (idempotency_key, webhook_id) = (id_value()?, id_value()?);
        let mut headers = self.headers.clone();
        let fixed = headers.len() - self.slots;
        let mut slots = headers.iter_mut().skip(fixed).map(|(_, value)| value);
        let mut fill = |value: Option<HeaderValue>| {
            if let (Some(slot), Some(value)) = (slots.next(), value) {
                *slot = value;
            }
        };
        fill(Some(idempotency_key));
        fill(Some(webhook_id));
        if let Some(signing) = &endpoint.signing {
            let signer = &signing.signer;
            if self.schemes.hex {
                fill(signer.hex_header_value(&body));
            }
            if self.schemes.webhook_signature() {
                let ts = crate::clock::unix_secs(now);
                fill(signer.webhook_signature_value(self.schemes, id, ts, Some(now), &body));
                fill(Some(HeaderValue::from(ts)));
            }
        }
        let mut request = Request::new(body);
        *request.method_mut() = endpoint.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::{Signer, SigningSecret};
    use crate::transport::DEFAULT_USER_AGENT;
    use std::time::{Duration, UNIX_EPOCH};

    fn template(endpoint: Endpoint) -> RequestTemplate {
        let ua = HeaderValue::from_static(DEFAULT_USER_AGENT);
        RequestTemplate::new(endpoint, TargetPolicy::PublicOnly, &ua)
    }

    fn signed(schemes: Schemes) -> Endpoint {
        Endpoint::builder("ep_t", "https://hooks.example.com/t")
            .header("x-team", "growth")
            .header("content-type", "text/plain")
            .secret_header("x-api-key", "k-123")
            .signing(SigningSecret::from_raw_str("s3cret").unwrap(), schemes)
            .build()
            .unwrap()
    }

    #[test]
    fn every_attempt_gets_its_own_values_in_the_templates_places() {
        let now = UNIX_EPOCH + Duration::from_secs(1_771_515_000);
        let template = template(signed(Schemes::BOTH));
        let signer = Signer::new(SigningSecret::from_raw_str("s3cret").unwrap());
        for n in 0..3u64 {
            let id = DeliveryId::generate();
            let body = Bytes::from(format!("{{\"n\":{n}}}"));
            let at = now + Duration::from_secs(n);
            let r = template.request(None, &id, body.clone(), at).unwrap();
            let h = r.headers();
            assert_eq!(h.len(), 9);
            assert_eq!(h["x-team"], "growth");
            // A secret header stays marked sensitive (never shown by `Debug`).
            assert!(h["x-api-key"].is_sensitive());
            assert!(!format!("{h:?}").contains("k-123"));
            assert_eq!(h["content-type"], "application/json");
            assert!(h["user-agent"].to_str().unwrap().starts_with("hookwire/"));
            assert_eq!(h["webhook-id"], id.as_str());
            assert_eq!(h.get_all("webhook-id").iter().count(), 1);
            assert_eq!(h["idempotency-key"], id.as_str());
            assert_eq!(
                h["x-intelligems-signature"],
                signer.hex_signature(&body).unwrap().as_str()
            );
            let ts = (1_771_515_000 + n).to_string();
            assert_eq!(h["webhook-timestamp"], ts.as_str());
            let expected = signer.standard_signature(&id, 1_771_515_000 + n as i64, &body);
            assert_eq!(h["webhook-signature"], expected.as_str());
            assert_eq!(r.uri(), "https://hooks.example.com/t");
            assert_eq!(r.body(), &body);
        }
    }

    #[test]
    fn an_endpoint_header_is_kept_unless_hookwire_sets_that_name() {
        let mut endpoint = signed(Schemes::STANDARD);
        // Set past the builder (which refuses them): still never sent.
        for (name, value) in [
            ("x-intelligems-signature", "forged"),
            ("content-length", "0"),
            ("host", "internal.example"),
            ("webhook-id", "from-the-endpoint"),
        ] {
            endpoint
                .headers
                .insert(name, HeaderValue::from_static(value));
        }
        let template = template(endpoint);
        let id = DeliveryId::generate();
        let r = template
            .request(None, &id, Bytes::new(), UNIX_EPOCH)
            .unwrap();
        assert!(r.headers().get("x-intelligems-signature").is_none());
        assert!(r.headers().get("content-length").is_none());
        assert!(r.headers().get("host").is_none());
        assert_eq!(r.headers()["webhook-id"], id.as_str());
        assert_eq!(r.headers()["x-team"], "growth");
        assert_eq!(r.headers().get_all("content-type").iter().count(), 1);
    }

    #[test]
    fn an_unsigned_endpoint_gets_ids_only() {
        let ep = Endpoint::builder("ep_u", "https://hooks.example.com/u")
            .build()
            .unwrap();
        let template = template(ep);
        let id = DeliveryId::generate();
        let r = template
            .request(
                Some("https://other.example.com/x"),
                &id,
                Bytes::new(),
                UNIX_EPOCH,
            )
            .unwrap();
        assert_eq!(r.headers().len(), 4);
        assert_eq!(r.headers()["webhook-id"], id.as_str());
        assert!(r.headers().get("webhook-signature").is_none());
        assert_eq!(r.uri(), "https://other.example.com/x");
        assert!(matches!(
            template.request(Some("not a url"), &id, Bytes::new(), UNIX_EPOCH),
            Err(RequestError::Url(EndpointError::InvalidUrl(_)))
        ));
    }

    #[test]
    fn the_target_guard_is_checked_for_the_endpoint_and_each_delivery_url() {
        let local = Endpoint::builder("ep_l", "http://127.0.0.1:9/in")
            .build()
            .unwrap();
        let id = DeliveryId::generate();
        let ua = HeaderValue::from_static("acme/1.0");
        let guarded = RequestTemplate::new(local.clone(), TargetPolicy::PublicOnly, &ua);
        let err = guarded
            .request(None, &id, Bytes::new(), UNIX_EPOCH)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "blocked target 127.0.0.1 (loopback): private targets are not allowed"
        );
        let public = template(
            Endpoint::builder("ep_p", "https://hooks.example.com/")
                .build()
                .unwrap(),
        );
        assert!(matches!(
            public.request(Some("http://10.0.0.1/x"), &id, Bytes::new(), UNIX_EPOCH),
            Err(RequestError::Blocked(_))
        ));
        let open = RequestTemplate::new(local, TargetPolicy::AllowPrivate, &ua);
        let r = open.request(None, &id, Bytes::new(), UNIX_EPOCH).unwrap();
        assert_eq!(r.headers()["user-agent"], "acme/1.0");
    }
}
