//! Shared test helpers: a scripted transport that records what it sees.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookwire::endpoint::Endpoint;
use hookwire::transport::{
    transport_fn, SendOptions, Transport, TransportError, TransportErrorKind, WebhookRequest,
    WebhookResponse,
};

/// One scripted reply.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16, Vec<(&'static str, String)>),
    Error(TransportErrorKind),
}

pub fn status(code: u16) -> Reply {
    Reply::Status(code, Vec::new())
}

/// A transport answering from a script (or a default once the script is empty),
/// recording every request.
#[derive(Clone, Default)]
pub struct Scripted {
    pub script: Arc<Mutex<VecDeque<Reply>>>,
    pub default: Arc<Mutex<Option<Reply>>>,
    pub seen: Arc<Mutex<Vec<WebhookRequest>>>,
}

impl Scripted {
    pub fn always(reply: Reply) -> Self {
        let s = Self::default();
        *s.default.lock().unwrap() = Some(reply);
        s
    }

    pub fn then(self, reply: Reply) -> Self {
        self.script.lock().unwrap().push_back(reply);
        self
    }

    pub fn requests(&self) -> Vec<WebhookRequest> {
        self.seen.lock().unwrap().clone()
    }

    pub fn transport(&self) -> impl Transport + 'static {
        let me = self.clone();
        transport_fn(move |req: WebhookRequest, _opts: SendOptions| {
            let me = me.clone();
            async move {
                me.seen.lock().unwrap().push(req);
                let next = me.script.lock().unwrap().pop_front();
                let reply = next.or_else(|| me.default.lock().unwrap().clone());
                match reply {
                    Some(Reply::Status(code, headers)) => {
                        let mut b = http::Response::builder().status(code);
                        for (k, v) in headers {
                            b = b.header(k, v);
                        }
                        Ok::<WebhookResponse, TransportError>(
                            b.body(Bytes::from_static(b"ok")).unwrap(),
                        )
                    }
                    Some(Reply::Error(kind)) => Err(TransportError::from_kind(kind)),
                    None => Err(TransportError::new(
                        TransportErrorKind::Other,
                        "script ran out",
                    )),
                }
            }
        })
    }
}

pub const T0: u64 = 1_771_515_000;

pub fn t(secs_after_t0: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + secs_after_t0)
}

pub fn endpoint(id: &str) -> Endpoint {
    Endpoint::builder(id, format!("https://hooks.example.com/{id}"))
        .build()
        .unwrap()
}
