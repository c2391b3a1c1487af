//! Conversions between hookwire's types and PostgreSQL's: rows into
//! endpoints, deliveries and attempts, values into parameters, database errors
//! into store errors.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

use crate::endpoint::{Endpoint, EndpointUrl, EventFilter, Gone, Signing};
use crate::flow::{CircuitBreaker, CircuitState, RateLimit};
use crate::id::{DeliveryId, EndpointId, EventId};
use crate::signature::{Schemes, Signer, SigningKey, SigningSecret};
use crate::store::{
    AttemptOutcome, AttemptRecord, AttemptResult, Cursor, Delivery, DeliveryCounts, DeliveryState,
    Disabling, EndpointHealth, LastAttempt, ListedAttempt, NextState, StoreError, StoreErrorKind,
};
use crate::transport::TransportErrorKind;

pub(super) fn db_error(e: tokio_postgres::Error) -> StoreError {
    let kind = match e.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => StoreErrorKind::Conflict,
        Some(code) => {
            let c = code.code();
            if c.starts_with("08")
                || c.starts_with("53")
                || c.starts_with("57P")
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
            {
                StoreErrorKind::Unavailable
            } else {
                StoreErrorKind::Other
            }
        }
        // No SQL state: the connection failed or closed.
        None => StoreErrorKind::Unavailable,
    };
    StoreError::new(kind, e)
}

pub(super) fn corrupt(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::new(StoreErrorKind::Corrupt, e)
}

pub(super) fn micros(t: SystemTime) -> i64 {
    crate::clock::unix_micros(t)
}

pub(super) fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

pub(super) fn time(m: i64) -> Result<SystemTime, StoreError> {
    crate::clock::from_unix_micros(m).ok_or_else(|| corrupt(format!("time {m} µs is out of range")))
}

pub(super) fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    idx: usize,
) -> Result<T, StoreError> {
    row.try_get(idx).map_err(corrupt)
}

fn count_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

pub(super) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn state_of(next: NextState) -> (&'static str, Option<i64>) {
    match next {
        NextState::RetryAt(at) => ("pending", Some(micros(at))),
        NextState::Succeeded => ("succeeded", None),
        NextState::Dead => ("dead", None),
    }
}

/// Decodes `DELIVERY_COLUMNS` (the first thirteen columns of `row`), sharing one
/// payload per event through `payloads`.
pub(super) fn delivery_from_row(
    row: &Row,
    payloads: &mut HashMap<String, Bytes>,
) -> Result<Delivery, StoreError> {
    let id: String = get(row, 0)?;
    let event_id: String = get(row, 1)?;
    let payload = match payloads.get(&event_id) {
        Some(p) => p.clone(),
        None => {
            let bytes = Bytes::from(get::<Vec<u8>>(row, 3)?);
            payloads.insert(event_id.clone(), bytes.clone());
            bytes
        }
    };
    let state: String = get(row, 6)?;
    Ok(Delivery {
        id: DeliveryId::new(id).map_err(corrupt)?,
        event_id: EventId::new(event_id).map_err(corrupt)?,
        event_kind: std::sync::Arc::from(get::<&str>(row, 2)?),
        payload,
        endpoint_id: EndpointId::new(get::<String>(row, 4)?).map_err(corrupt)?,
        url: get(row, 5)?,
        state: DeliveryState::from_name(&state)
            .ok_or_else(|| corrupt(format!("unknown delivery state {state:?}")))?,
        attempts: count_u32(get(row, 7)?),
        next_attempt_at: time(get(row, 8)?)?,
        created_at: time(get(row, 9)?)?,
        reason: get(row, 10)?,
        attempts_total: count_u32(get(row, 11)?),
        cursor: cursor(get(row, 12)?)?,
    })
}

pub(super) fn endpoint_from_row(row: &Row) -> Result<Endpoint, StoreError> {
    let id: String = get(row, 0)?;
    let url: String = get(row, 1)?;
    let method: String = get(row, 2)?;
    let events: Option<Vec<String>> = get(row, 3)?;
    let current: Option<Vec<u8>> = get(row, 4)?;
    let previous: Vec<Vec<u8>> = get(row, 5)?;
    let previous_expires: Vec<Option<i64>> = get(row, 13)?;
    let hex: bool = get(row, 6)?;
    let standard: bool = get(row, 7)?;
    let v1a: bool = get(row, 14)?;
    let ed25519_current: Option<Vec<u8>> = get(row, 15)?;
    let ed25519_previous: Vec<Vec<u8>> = get(row, 16)?;
    let ed25519_previous_expires: Vec<Option<i64>> = get(row, 17)?;
    let headers: serde_json::Value = get(row, 8)?;
    let hmac = |b: Vec<u8>| {
        SigningSecret::from_bytes(b)
            .map(SigningKey::Hmac)
            .map_err(|e| corrupt(format!("stored signing secret refused: {e}")))
    };
    let mut keys = Vec::new();
    if let Some(current) = current {
        keys.push((hmac(current)?, None));
    }
    if let Some(seed) = ed25519_current {
        keys.push((ed25519_key(seed)?, None));
    }
    // An expiry list shorter than its keys (rows written before version 6)
    // means "until removed" for the rest.
    let expiry = |list: &[Option<i64>], i: usize| -> Result<Option<SystemTime>, StoreError> {
        list.get(i).copied().flatten().map(time).transpose()
    };
    for (i, p) in previous.into_iter().enumerate() {
        keys.push((hmac(p)?, Some(expiry(&previous_expires, i)?)));
    }
    for (i, p) in ed25519_previous.into_iter().enumerate() {
        keys.push((ed25519_key(p)?, Some(expiry(&ed25519_previous_expires, i)?)));
    }
    let mut keys = keys.into_iter();
    let signing = match keys.next() {
        None => None,
        Some((first, _)) => {
            let mut signer = Signer::from_key(first);
            for (key, expires) in keys {
                signer = match expires {
                    None => signer.with_current(key),
                    Some(expires) => signer.with_previous_key(key, expires),
                }
                .map_err(|e| corrupt(e.to_string()))?;
            }
            Some(Signing::new(signer, Schemes { hex, standard, v1a }))
        }
    };
    Ok(Endpoint {
        id: EndpointId::new(id).map_err(corrupt)?,
        url: EndpointUrl::parse(&url).map_err(corrupt)?,
        method: Method::from_bytes(method.as_bytes()).map_err(corrupt)?,
        events: match events {
            None => EventFilter::All,
            Some(kinds) => EventFilter::Only(kinds.into_iter().collect()),
        },
        signing,
        headers: headers_from_json(&headers)?,
        enabled: get(row, 9)?,
        description: get(row, 10)?,
        max_in_flight: get::<Option<i64>>(row, 11)?
            .map(|n| {
                u32::try_from(n).map_err(|_| corrupt(format!("max_in_flight {n} out of range")))
            })
            .transpose()?,
        gone: {
            let gone: String = get(row, 12)?;
            Gone::from_name(&gone)
                .ok_or_else(|| corrupt(format!("unknown gone setting {gone:?}")))?
        },
        ordered: get(row, 18)?,
        rate_limit: match (get::<Option<i32>>(row, 19)?, get::<Option<i32>>(row, 20)?) {
            (Some(per_second), Some(burst)) => {
                let limit = RateLimit {
                    per_second: u32::try_from(per_second).unwrap_or(0),
                    burst: u32::try_from(burst).unwrap_or(0),
                };
                limit
                    .check()
                    .map_err(|e| corrupt(format!("rate limit: {e}")))?;
                Some(limit)
            }
            _ => None,
        },
        circuit_breaker: match (
            get::<Option<i32>>(row, 21)?,
            get::<Option<i64>>(row, 22)?,
            get::<Option<i64>>(row, 23)?,
        ) {
            (Some(failures), Some(cool_down), Some(max)) => {
                let us = |n: i64| Duration::from_micros(u64::try_from(n).unwrap_or(0));
                let breaker = CircuitBreaker {
                    failures: u32::try_from(failures).unwrap_or(0),
                    cool_down: us(cool_down),
                    max_cool_down: us(max),
                };
                breaker
                    .check()
                    .map_err(|e| corrupt(format!("circuit breaker: {e}")))?;
                Some(breaker)
            }
            _ => None,
        },
    })
}

/// A stored Ed25519 seed as a signing key.
#[cfg(feature = "ed25519")]
fn ed25519_key(seed: Vec<u8>) -> Result<SigningKey, StoreError> {
    let seed = zeroize::Zeroizing::new(seed);
    crate::signature::Ed25519SecretKey::from_bytes(&seed)
        .map(SigningKey::Ed25519)
        .map_err(|e| corrupt(format!("stored Ed25519 key refused: {e}")))
}

/// Without the feature, an endpoint with an Ed25519 key cannot be signed
/// as stored: that endpoint alone is refused.
#[cfg(not(feature = "ed25519"))]
fn ed25519_key(_seed: Vec<u8>) -> Result<SigningKey, StoreError> {
    Err(corrupt(
        "endpoint has an Ed25519 (v1a) key, and hookwire was built without the `ed25519` feature",
    ))
}

pub(super) fn headers_to_json(headers: &HeaderMap) -> serde_json::Value {
    serde_json::Value::Array(
        headers
            .iter()
            .map(|(name, value)| {
                serde_json::json!([
                    name.as_str(),
                    BASE64.encode(value.as_bytes()),
                    value.is_sensitive()
                ])
            })
            .collect(),
    )
}

fn headers_from_json(json: &serde_json::Value) -> Result<HeaderMap, StoreError> {
    let bad = || corrupt("stored headers are not [[name, base64 value, sensitive], ...]");
    let mut map = HeaderMap::new();
    for entry in json.as_array().ok_or_else(bad)? {
        let (Some(name), Some(value), Some(sensitive)) = (
            entry.get(0).and_then(|v| v.as_str()),
            entry.get(1).and_then(|v| v.as_str()),
            entry.get(2).and_then(|v| v.as_bool()),
        ) else {
            return Err(bad());
        };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(corrupt)?;
        let bytes = BASE64.decode(value).map_err(corrupt)?;
        let mut value = HeaderValue::from_bytes(&bytes).map_err(corrupt)?;
        value.set_sensitive(sensitive);
        map.append(name, value);
    }
    Ok(map)
}

pub(super) fn attempt_from_row(row: &Row) -> Result<AttemptRecord, StoreError> {
    let status: Option<i32> = get(row, 3)?;
    let body: Option<Vec<u8>> = get(row, 4)?;
    let error: Option<String> = get(row, 5)?;
    let result = match (status, error) {
        (Some(status), None) => AttemptResult::Response {
            status: u16::try_from(status)
                .map_err(|_| corrupt(format!("status {status} out of range")))?,
            body: Bytes::from(body.unwrap_or_default()),
        },
        (None, Some(error)) => AttemptResult::Error {
            kind: TransportErrorKind::from_name(&error)
                .ok_or_else(|| corrupt(format!("unknown transport error {error:?}")))?,
            // Attempts recorded before schema version 4 kept no reason.
            reason: get::<Option<String>>(row, 6)?.unwrap_or_else(|| error.clone()),
        },
        _ => return Err(corrupt("an attempt needs a status or an error, not both")),
    };
    let duration: i64 = get(row, 2)?;
    // Not `AttemptRecord::new`'s cut: the body was cut when recorded.
    Ok(AttemptRecord {
        attempt: count_u32(get(row, 0)?),
        started_at: time(get(row, 1)?)?,
        duration: Duration::from_micros(duration.max(0).unsigned_abs()),
        result,
    })
}

/// A row's position (a `seq` column) as a cursor.
pub(super) fn cursor(seq: i64) -> Result<Cursor, StoreError> {
    u64::try_from(seq)
        .map(Cursor::new)
        .map_err(|_| corrupt(format!("negative position {seq}")))
}

/// A cursor as a `seq` to compare with: past the largest position, nothing
/// is newer (and everything older).
pub(super) fn seq_of(cursor: Cursor) -> i64 {
    i64::try_from(cursor.get()).unwrap_or(i64::MAX)
}

fn count_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Decodes the `health` statement's row.
pub(super) fn health_from_row(row: &Row) -> Result<EndpointHealth, StoreError> {
    let id = EndpointId::new(get::<String>(row, 0)?).map_err(corrupt)?;
    let enabled: bool = get(row, 1)?;
    let mut health = EndpointHealth::new(id, enabled);
    health.deliveries = DeliveryCounts::new(
        count_u64(get(row, 2)?),
        count_u64(get(row, 3)?),
        count_u64(get(row, 4)?),
    );
    let delivery: Option<String> = get(row, 5)?;
    let number: Option<i64> = get(row, 6)?;
    let at: Option<i64> = get(row, 7)?;
    if let (Some(delivery), Some(number), Some(at)) = (delivery, number, at) {
        let status: Option<i32> = get(row, 8)?;
        let error: Option<String> = get(row, 9)?;
        let outcome = match (status, error) {
            (Some(status), None) => AttemptOutcome::Status(
                u16::try_from(status)
                    .map_err(|_| corrupt(format!("status {status} out of range")))?,
            ),
            (None, Some(error)) => AttemptOutcome::Failed {
                kind: TransportErrorKind::from_name(&error)
                    .ok_or_else(|| corrupt(format!("unknown transport error {error:?}")))?,
                reason: get::<Option<String>>(row, 10)?.unwrap_or(error),
            },
            _ => return Err(corrupt("an attempt needs a status or an error, not both")),
        };
        health.last_attempt = Some(LastAttempt {
            delivery_id: DeliveryId::new(delivery).map_err(corrupt)?,
            attempt: count_u32(number),
            started_at: time(at)?,
            outcome,
        });
    }
    health.last_success_at = get::<Option<i64>>(row, 11)?.map(time).transpose()?;
    health.consecutive_failures = count_u32(get(row, 12)?);
    let disabled_at: Option<i64> = get(row, 13)?;
    let disabled_reason: Option<String> = get(row, 14)?;
    if let (false, Some(at)) = (enabled, disabled_at) {
        health.disabled = Some(Disabling::new(
            time(at)?,
            disabled_reason.unwrap_or_default(),
        ));
    }
    let since: Option<i64> = get(row, 15)?;
    let first_probe: Option<i64> = get(row, 16)?;
    if let (Some(since), Some(until)) = (since, first_probe) {
        health.circuit = CircuitState::Open {
            since: time(since)?,
            until: time(until)?,
        };
    }
    health.held_until = get::<Option<i64>>(row, 17)?.map(time).transpose()?;
    Ok(health)
}

/// Decodes the attempt listings' rows: an attempt's columns, then its
/// `seq`, delivery id and endpoint id.
pub(super) fn listed_attempt_from_row(row: &Row) -> Result<ListedAttempt, StoreError> {
    let record = attempt_from_row(row)?;
    Ok(ListedAttempt::new(
        cursor(get(row, 7)?)?,
        DeliveryId::new(get::<String>(row, 8)?).map_err(corrupt)?,
        EndpointId::new(get::<String>(row, 9)?).map_err(corrupt)?,
        record,
    ))
}
