//! [`Store`] for [`PgStore`]: one statement per operation, batches of
//! finished attempts in one transaction.

use std::collections::HashMap;
use std::time::SystemTime;

use async_trait::async_trait;

use super::rows::{
    attempt_from_row, corrupt, db_error, delivery_from_row, duration_micros, endpoint_from_row,
    get, headers_to_json, health_from_row, limit, listed_attempt_from_row, micros, seq_of,
    state_of, time,
};
use super::PgStore;
use crate::endpoint::{Endpoint, EventFilter};
use crate::flow::CircuitChange;
use crate::id::{DeliveryId, EndpointId, EventId};
use crate::signature::Schemes;
use crate::store::{
    bounded_reason, AttemptFilter, AttemptRecord, AttemptResult, Claim, Delivery, DeliveryFilter,
    DeliveryState, DueStats, EndpointHealth, Finish, FinishReport, Lease, LeaseRequest, Leased,
    ListedAttempt, NewDelivery, NewEvent, NextState, Order, SkipRecord, Store, StoreError,
    StoreErrorKind, REASON_ENDPOINT_DELETED,
};

/// An error of the same kind, its causes kept as text (`StoreError` is not
/// `Clone`: its source is boxed).
fn copy_error(e: Option<&StoreError>) -> StoreError {
    let Some(e) = e else {
        return StoreError::from_kind(StoreErrorKind::Other);
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    if causes.is_empty() {
        StoreError::from_kind(e.kind())
    } else {
        StoreError::new(e.kind(), causes.join(": "))
    }
}

/// The same failure for each of `n` entries.
fn fail_all(n: usize, e: &StoreError) -> Vec<Result<FinishReport, StoreError>> {
    (0..n).map(|_| Err(copy_error(Some(e)))).collect()
}

/// Records one attempt with the prepared `finish` statement on `client`.
async fn finish_on(
    client: &impl tokio_postgres::GenericClient,
    stmt: &tokio_postgres::Statement,
    lease: &Lease,
    attempt: &AttemptRecord,
    next: NextState,
) -> Result<(FinishReport, Option<String>), StoreError> {
    let Ok(token) = i64::try_from(lease.token) else {
        return Err(lease_lost());
    };
    let (state, next_at) = state_of(next);
    let (status, body, error, reason) = match &attempt.result {
        AttemptResult::Response { status, body } => {
            (Some(i32::from(*status)), Some(body.as_ref()), None, None)
        }
        AttemptResult::Error { kind, reason } => {
            (None, None, Some(kind.as_str()), Some(reason.as_str()))
        }
    };
    let rows = client
        .query(
            stmt,
            &[
                &lease.delivery_id.as_str(),
                &token,
                &state,
                &next_at,
                &i64::from(attempt.attempt),
                &micros(attempt.started_at),
                &duration_micros(attempt.duration),
                &status,
                &body,
                &error,
                &reason,
            ],
        )
        .await
        .map_err(db_error)?;
    let row = rows
        .first()
        .ok_or_else(|| corrupt("finish_attempt returned no row"))?;
    let found: bool = get(row, 0)?;
    if !found {
        return Err(lease_lost());
    }
    let dead: i32 = get(row, 1)?;
    let endpoint: Option<String> = get(row, 2)?;
    Ok((
        FinishReport::new(u32::try_from(dead.max(0)).unwrap_or(0)),
        endpoint,
    ))
}

/// What a batch's recorded attempts to one endpoint add to its health, in
/// the order recorded.
#[derive(Default)]
struct BatchHealth<'a> {
    succeeded: bool,
    failures: i64,
    last_success_at: Option<i64>,
    last: Option<(&'a Lease, &'a AttemptRecord)>,
}

impl<'a> BatchHealth<'a> {
    fn add(&mut self, lease: &'a Lease, attempt: &'a AttemptRecord, next: NextState) {
        if next == NextState::Succeeded {
            self.succeeded = true;
            self.failures = 0;
            self.last_success_at = Some(micros(attempt.started_at));
        } else {
            self.failures += 1;
        }
        self.last = Some((lease, attempt));
    }
}

/// An endpoint's keys as the `endpoints` columns hold them: bytes, and each
/// previous key's expiry in Unix microseconds. Zeroed when dropped.
#[derive(Default)]
struct StoredKeys {
    hmac: Option<zeroize::Zeroizing<Vec<u8>>>,
    hmac_previous: Vec<zeroize::Zeroizing<Vec<u8>>>,
    hmac_expires: Vec<Option<i64>>,
    ed25519: Option<zeroize::Zeroizing<[u8; 32]>>,
    ed25519_previous: Vec<zeroize::Zeroizing<Vec<u8>>>,
    ed25519_expires: Vec<Option<i64>>,
}

fn stored_keys(signing: Option<&crate::endpoint::Signing>) -> StoredKeys {
    let mut keys = StoredKeys::default();
    let Some(signer) = signing.map(|s| &s.signer) else {
        return keys;
    };
    let bytes = |b: &[u8]| zeroize::Zeroizing::new(b.to_vec());
    keys.hmac = signer.current().map(|s| bytes(s.expose_bytes()));
    for p in signer.previous() {
        keys.hmac_previous.push(bytes(p.key.expose_bytes()));
        keys.hmac_expires.push(p.expires_at.map(micros));
    }
    #[cfg(feature = "ed25519")]
    {
        keys.ed25519 = signer
            .current_ed25519()
            .map(|k| zeroize::Zeroizing::new(k.expose_seed()));
        for p in signer.previous_ed25519() {
            keys.ed25519_previous.push(bytes(&p.key.expose_seed()));
            keys.ed25519_expires.push(p.expires_at.map(micros));
        }
    }
    keys
}

fn lease_lost() -> StoreError {
    StoreError::from_kind(StoreErrorKind::LeaseLost)
}

#[async_trait]
impl Store for PgStore {
    async fn put_endpoint(&self, endpoint: Endpoint) -> Result<(), StoreError> {
        let events: Option<Vec<&str>> = match &endpoint.events {
            EventFilter::All => None,
            EventFilter::Only(kinds) => Some(kinds.iter().map(String::as_str).collect()),
        };
        let keys = stored_keys(endpoint.signing.as_ref());
        fn slices(list: &[zeroize::Zeroizing<Vec<u8>>]) -> Vec<&[u8]> {
            list.iter().map(|b| b.as_slice()).collect()
        }
        let (hmac_previous, ed25519_previous) =
            (slices(&keys.hmac_previous), slices(&keys.ed25519_previous));
        let hmac = keys.hmac.as_ref().map(|b| b.as_slice());
        let ed25519 = keys.ed25519.as_ref().map(|seed| &seed[..]);
        let schemes = endpoint
            .signing
            .as_ref()
            .map_or(Schemes::NONE, |s| s.schemes);
        let url = endpoint.url.full();
        let headers = headers_to_json(&endpoint.headers);
        let max_in_flight = endpoint.max_in_flight.map(i64::from);
        if max_in_flight.is_some() {
            // Leased apart from now on in this process (the others read it
            // within a second).
            self.capped
                .present
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let rate = endpoint.rate_limit.as_ref();
        let rate_per_second = rate.map(|r| i32::try_from(r.per_second).unwrap_or(i32::MAX));
        let rate_burst = rate.map(|r| i32::try_from(r.burst).unwrap_or(i32::MAX));
        let breaker = endpoint.circuit_breaker.as_ref();
        let breaker_failures = breaker.map(|b| i32::try_from(b.failures).unwrap_or(i32::MAX));
        let us = |d: std::time::Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        let breaker_cool_down = breaker.map(|b| us(b.cool_down));
        let breaker_max = breaker.map(|b| us(b.max_cool_down));
        self.execute(
            &self.sql.put_endpoint,
            &[
                &endpoint.id.as_str(),
                &url,
                &endpoint.method.as_str(),
                &events,
                &hmac,
                &hmac_previous,
                &schemes.hex,
                &schemes.standard,
                &headers,
                &endpoint.enabled,
                &endpoint.description,
                &max_in_flight,
                &endpoint.gone.as_str(),
                &keys.hmac_expires,
                &schemes.v1a,
                &ed25519,
                &ed25519_previous,
                &keys.ed25519_expires,
                &endpoint.ordered,
                &rate_per_second,
                &rate_burst,
                &breaker_failures,
                &breaker_cool_down,
                &breaker_max,
            ],
        )
        .await?;
        Ok(())
    }

    async fn endpoint(&self, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        let rows = self.query(&self.sql.endpoint, &[&id.as_str()]).await?;
        rows.first().map(endpoint_from_row).transpose()
    }

    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let rows = self.query(&self.sql.endpoints, &[]).await?;
        rows.iter().map(endpoint_from_row).collect()
    }

    async fn set_endpoint_enabled(
        &self,
        id: &EndpointId,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        let n = self
            .execute(&self.sql.set_enabled, &[&id.as_str(), &enabled])
            .await?;
        Ok(n > 0)
    }

    async fn disable_endpoint(
        &self,
        id: &EndpointId,
        at: SystemTime,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let reason = bounded_reason(reason.to_owned());
        let n = self
            .execute(&self.sql.disable, &[&id.as_str(), &micros(at), &reason])
            .await?;
        Ok(n > 0)
    }

    /// One query: the endpoint's row and its deliveries counted by state.
    async fn endpoint_health(&self, id: &EndpointId) -> Result<Option<EndpointHealth>, StoreError> {
        let rows = self.query(&self.sql.health, &[&Some(id.as_str())]).await?;
        rows.first().map(health_from_row).transpose()
    }

    /// One query for every endpoint.
    async fn endpoints_health(&self) -> Result<Vec<EndpointHealth>, StoreError> {
        let rows = self.query(&self.sql.health, &[&None::<&str>]).await?;
        rows.iter().map(health_from_row).collect()
    }

    async fn insert_event(
        &self,
        event: NewEvent,
        deliveries: Vec<NewDelivery>,
    ) -> Result<bool, StoreError> {
        let ids: Vec<&str> = deliveries.iter().map(|d| d.id.as_str()).collect();
        let endpoints: Vec<&str> = deliveries.iter().map(|d| d.endpoint_id.as_str()).collect();
        let urls: Vec<Option<&str>> = deliveries.iter().map(|d| d.url.as_deref()).collect();
        let due: Vec<i64> = deliveries.iter().map(|d| micros(d.due_at)).collect();
        let rows = self
            .query(
                &self.sql.insert_event,
                &[
                    &event.id.as_str(),
                    &&*event.kind,
                    &event.payload.as_ref(),
                    &micros(event.created_at),
                    &ids,
                    &endpoints,
                    &urls,
                    &due,
                ],
            )
            .await?;
        let inserted: i64 = rows.first().map_or(Ok(0), |r| get(r, 0))?;
        Ok(inserted > 0)
    }

    async fn claim_once(
        &self,
        key: &str,
        event: NewEvent,
        delivery: NewDelivery,
    ) -> Result<Claim, StoreError> {
        let rows = self
            .query(
                &self.sql.claim,
                &[
                    &key,
                    &delivery.id.as_str(),
                    &event.id.as_str(),
                    &&*event.kind,
                    &event.payload.as_ref(),
                    &micros(event.created_at),
                    &delivery.endpoint_id.as_str(),
                    &delivery.url.as_deref(),
                    &micros(delivery.due_at),
                ],
            )
            .await?;
        let inserted: i64 = rows.first().map_or(Ok(0), |r| get(r, 0))?;
        if inserted > 0 {
            return Ok(Claim::Inserted(delivery.id));
        }
        // Claimed before (or concurrently, and that claim has committed): a
        // new statement sees the winner's row.
        let rows = self.query(&self.sql.claimed, &[&key]).await?;
        let Some(row) = rows.first() else {
            // The winner was rolled back after we waited on it: claim again.
            return self.claim_once(key, event, delivery).await;
        };
        let id: String = get(row, 0)?;
        Ok(Claim::Existing(DeliveryId::new(id).map_err(corrupt)?))
    }

    async fn record_skip(&self, skip: SkipRecord) -> Result<(), StoreError> {
        self.execute(
            &self.sql.record_skip,
            &[&skip.key, &skip.reason, &micros(skip.at)],
        )
        .await?;
        Ok(())
    }

    async fn skips(&self, limit_: usize) -> Result<Vec<SkipRecord>, StoreError> {
        if limit_ == 0 {
            return Ok(Vec::new());
        }
        let rows = self.query(&self.sql.skips, &[&limit(limit_)]).await?;
        rows.iter()
            .map(|r| {
                Ok(SkipRecord {
                    key: get(r, 0)?,
                    reason: get(r, 1)?,
                    at: time(get(r, 2)?)?,
                })
            })
            .collect()
    }

    async fn lease(&self, request: LeaseRequest) -> Result<Vec<Leased>, StoreError> {
        if request.limit == 0 {
            return Ok(Vec::new());
        }
        let now = micros(request.now);
        let expires = now.saturating_add(duration_micros(request.lease_for));
        let skip: Vec<&str> = request.skip.iter().map(EndpointId::as_str).collect();
        let mut rows = self
            .query(
                &self.sql.lease,
                &[&now, &limit(request.limit), &expires, &skip],
            )
            .await?;
        if rows.len() < request.limit && self.capped_present(now).await? {
            // Locked first, so that the count of their deliveries out is
            // read after every other leaser of them committed.
            let rest = request.limit - rows.len();
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let lock = tx
                .prepare_cached(&self.sql.lock_capped)
                .await
                .map_err(db_error)?;
            tx.query(&lock, &[]).await.map_err(db_error)?;
            let stmt = tx
                .prepare_cached(&self.sql.lease_capped)
                .await
                .map_err(db_error)?;
            let capped = tx
                .query(&stmt, &[&now, &limit(rest), &expires, &skip])
                .await
                .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            rows.extend(capped);
        }
        let expires_at = time(expires)?;
        let mut payloads = HashMap::new();
        rows.iter()
            .map(|row| {
                let delivery = delivery_from_row(row, &mut payloads)?;
                let token: i64 = get(row, 13)?;
                let token = u64::try_from(token)
                    .map_err(|_| corrupt(format!("negative lease token {token}")))?;
                let lease = Lease::new(delivery.id.clone(), token, expires_at);
                Ok(Leased::new(delivery, lease))
            })
            .collect()
    }

    async fn due_stats(&self, now: SystemTime) -> Result<Option<DueStats>, StoreError> {
        let rows = self.query(&self.sql.due_stats, &[&micros(now)]).await?;
        let row = rows
            .first()
            .ok_or_else(|| corrupt("due_stats returned no row"))?;
        let due: i64 = get(row, 0)?;
        let oldest: Option<i64> = get(row, 1)?;
        Ok(Some(DueStats::new(
            u64::try_from(due).unwrap_or(0),
            oldest.map(time).transpose()?,
        )))
    }

    fn enforces_flow_control(&self) -> bool {
        true
    }

    async fn pause_endpoint(&self, id: &EndpointId, until: SystemTime) -> Result<bool, StoreError> {
        let n = self
            .execute(&self.sql.pause, &[&id.as_str(), &micros(until)])
            .await?;
        Ok(n > 0)
    }

    async fn next_due(&self, now: SystemTime) -> Result<Option<SystemTime>, StoreError> {
        let rows = self.query(&self.sql.next_due, &[&micros(now)]).await?;
        match rows
            .first()
            .map(|row| get::<Option<i64>>(row, 0))
            .transpose()?
        {
            Some(Some(at)) => Ok(Some(time(at)?.max(now))),
            _ => Ok(None),
        }
    }

    /// One query for all of them; each row is decoded on its own, so one
    /// unreadable row fails only its own endpoint.
    async fn endpoints_by_id(
        &self,
        ids: &[EndpointId],
    ) -> Vec<Result<Option<Endpoint>, StoreError>> {
        if ids.is_empty() {
            return Vec::new();
        }
        let wanted: Vec<&str> = ids.iter().map(EndpointId::as_str).collect();
        let rows = match self.query(&self.sql.endpoints_by_id, &[&wanted]).await {
            Ok(rows) => rows,
            Err(e) => return ids.iter().map(|_| Err(copy_error(Some(&e)))).collect(),
        };
        let mut found: HashMap<String, Result<Endpoint, StoreError>> = HashMap::new();
        for row in &rows {
            if let Ok(id) = get::<String>(row, 0) {
                found.insert(id, endpoint_from_row(row));
            }
        }
        // An id asked twice gets the same answer twice.
        ids.iter()
            .map(|id| match found.get(id.as_str()) {
                None => Ok(None),
                Some(Ok(endpoint)) => Ok(Some(endpoint.clone())),
                Some(Err(e)) => Err(copy_error(Some(e))),
            })
            .collect()
    }

    async fn delete_endpoint(&self, id: &EndpointId) -> Result<bool, StoreError> {
        let rows = self
            .query(
                &self.sql.delete_endpoint,
                &[&id.as_str(), &REASON_ENDPOINT_DELETED],
            )
            .await?;
        let n: i64 = rows.first().map_or(Ok(0), |r| get(r, 0))?;
        Ok(n > 0)
    }

    async fn defer(
        &self,
        lease: &Lease,
        until: SystemTime,
        reason: &str,
    ) -> Result<(), StoreError> {
        let Ok(token) = i64::try_from(lease.token) else {
            return Err(lease_lost());
        };
        let reason = bounded_reason(reason.to_owned());
        let n = self
            .execute(
                &self.sql.defer,
                &[&lease.delivery_id.as_str(), &token, &micros(until), &reason],
            )
            .await?;
        if n == 0 {
            return Err(lease_lost());
        }
        Ok(())
    }

    async fn abandon(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        let Ok(token) = i64::try_from(lease.token) else {
            return Err(lease_lost());
        };
        let reason = bounded_reason(reason.to_owned());
        let n = self
            .execute(
                &self.sql.abandon,
                &[&lease.delivery_id.as_str(), &token, &reason],
            )
            .await?;
        if n == 0 {
            return Err(lease_lost());
        }
        Ok(())
    }

    async fn finish_attempt(
        &self,
        lease: &Lease,
        attempt: AttemptRecord,
        next: NextState,
    ) -> Result<FinishReport, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&self.sql.finish)
            .await
            .map_err(db_error)?;
        let (report, endpoint) = finish_on(&**client, &stmt, lease, &attempt, next).await?;
        let mut results = vec![Some(Ok(report))];
        if let Some(endpoint) = endpoint {
            let entries = [(0, endpoint, &attempt, next)];
            self.update_circuits(&client, &entries, &mut results).await;
        }
        results
            .pop()
            .flatten()
            .unwrap_or_else(|| Err(StoreError::from_kind(StoreErrorKind::Other)))
    }

    /// The attempts that do not end dead are recorded in one statement
    /// (`finish_many`, its arrays one entry per attempt): the batch costs
    /// one round trip, one plan and one commit, however many it holds. If
    /// that statement fails, every entry in it fails and nothing of it is
    /// recorded (the leases then expire and the deliveries are attempted
    /// again). Attempts that end dead are recorded one by one after it: each
    /// updates its endpoint's row, and row locks held across a batch could
    /// deadlock two workers. A success writes that row only when it resets a
    /// non-zero dead-in-a-row count, those rows locked in id order.
    ///
    /// The endpoints' health (last attempt, last success, failures in a row)
    /// is written after the commit, one short statement per endpoint of the
    /// batch: holding the endpoint's row until the batch's commit made the
    /// attempts to one endpoint take turns (four workers delivered 5 times
    /// fewer per second). A failure there leaves the health one batch
    /// behind; the attempts stay recorded.
    async fn finish_attempts(&self, batch: Vec<Finish>) -> Vec<Result<FinishReport, StoreError>> {
        if batch.is_empty() {
            return Vec::new();
        }
        let client = match self.client().await {
            Ok(client) => client,
            Err(e) => return fail_all(batch.len(), &e),
        };
        let mut results: Vec<Option<Result<FinishReport, StoreError>>> =
            batch.iter().map(|_| None).collect();
        // The recorded entries' endpoints, for their circuits.
        let mut recorded: Vec<(usize, String, &AttemptRecord, NextState)> = Vec::new();
        // Entry k of the arrays is batch[together[k]].
        let mut together = Vec::with_capacity(batch.len());
        let mut columns = FinishColumns::with_capacity(batch.len());
        for (i, f) in batch.iter().enumerate() {
            if f.next == NextState::Dead {
                continue;
            }
            match i64::try_from(f.lease.token) {
                Ok(token) => {
                    together.push(i);
                    columns.push(f, token);
                }
                Err(_) => results[i] = Some(Err(lease_lost())),
            }
        }
        if !together.is_empty() {
            match self.finish_many(&client, &columns).await {
                Ok(mut rows) => {
                    // RETURNING has no order: the health takes the batch's.
                    rows.sort_unstable_by_key(|(k, _, _)| *k);
                    let mut health: std::collections::BTreeMap<String, BatchHealth<'_>> =
                        std::collections::BTreeMap::new();
                    for (k, endpoint, dead) in rows {
                        let Some(&i) = together.get(k) else {
                            continue;
                        };
                        let f = &batch[i];
                        recorded.push((i, endpoint.clone(), &f.attempt, f.next));
                        health
                            .entry(endpoint)
                            .or_default()
                            .add(&f.lease, &f.attempt, f.next);
                        results[i] = Some(Ok(FinishReport::new(
                            u32::try_from(dead.max(0)).unwrap_or(0),
                        )));
                    }
                    // An entry the statement did not answer had lost its lease.
                    for &i in &together {
                        if results[i].is_none() {
                            results[i] = Some(Err(lease_lost()));
                        }
                    }
                    self.write_batch_health(&client, health).await;
                }
                Err(e) => {
                    for &i in &together {
                        results[i] = Some(Err(copy_error(Some(&e))));
                    }
                }
            }
        }
        if results.iter().any(Option::is_none) {
            let stmt = match client.prepare_cached(&self.sql.finish).await {
                Ok(stmt) => Ok(stmt),
                Err(e) => Err(db_error(e)),
            };
            for (i, f) in batch.iter().enumerate() {
                if results[i].is_none() {
                    results[i] = Some(match &stmt {
                        Ok(stmt) => {
                            match finish_on(&**client, stmt, &f.lease, &f.attempt, f.next).await {
                                Ok((report, endpoint)) => {
                                    if let Some(endpoint) = endpoint {
                                        recorded.push((i, endpoint, &f.attempt, f.next));
                                    }
                                    Ok(report)
                                }
                                Err(e) => Err(e),
                            }
                        }
                        Err(e) => Err(copy_error(Some(e))),
                    });
                }
            }
        }
        if !recorded.is_empty() {
            self.update_circuits(&client, &recorded, &mut results).await;
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(StoreError::from_kind(StoreErrorKind::Other))))
            .collect()
    }

    async fn prune_succeeded(&self, before: SystemTime, max: usize) -> Result<usize, StoreError> {
        if max == 0 {
            return Ok(0);
        }
        let rows = self
            .query(&self.sql.prune, &[&micros(before), &limit(max)])
            .await?;
        let n: i64 = rows
            .first()
            .ok_or_else(|| corrupt("prune returned no row"))
            .and_then(|r| get(r, 0))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let Ok(token) = i64::try_from(lease.token) else {
            return Err(lease_lost());
        };
        let n = self
            .execute(&self.sql.release, &[&lease.delivery_id.as_str(), &token])
            .await?;
        if n == 0 {
            return Err(lease_lost());
        }
        Ok(())
    }

    async fn delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        let rows = self.query(&self.sql.delivery, &[&id.as_str()]).await?;
        let mut payloads = HashMap::new();
        rows.first()
            .map(|r| delivery_from_row(r, &mut payloads))
            .transpose()
    }

    async fn attempts(&self, id: &DeliveryId) -> Result<Vec<AttemptRecord>, StoreError> {
        let rows = self.query(&self.sql.attempts, &[&id.as_str()]).await?;
        rows.iter().map(attempt_from_row).collect()
    }

    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        if filter.limit == 0 {
            return Ok(Vec::new());
        }
        let state = filter.state.map(DeliveryState::as_str);
        let endpoint = filter.endpoint_id.as_ref().map(EndpointId::as_str);
        let event = filter.event_id.as_ref().map(EventId::as_str);
        let after = filter.after.map(seq_of);
        let sql = match filter.order {
            Order::NewestFirst => &self.sql.deliveries_newest,
            _ => &self.sql.deliveries,
        };
        let rows = self
            .query(
                sql,
                &[&state, &endpoint, &event, &limit(filter.limit), &after],
            )
            .await?;
        let mut payloads = HashMap::new();
        rows.iter()
            .map(|r| delivery_from_row(r, &mut payloads))
            .collect()
    }

    async fn list_attempts(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<ListedAttempt>, StoreError> {
        if filter.limit == 0 {
            return Ok(Vec::new());
        }
        let delivery = filter.delivery_id.as_ref().map(DeliveryId::as_str);
        let endpoint = filter.endpoint_id.as_ref().map(EndpointId::as_str);
        let after = filter.after.map(seq_of);
        let sql = match filter.order {
            Order::NewestFirst => &self.sql.list_attempts_newest,
            _ => &self.sql.list_attempts,
        };
        let rows = self
            .query(sql, &[&delivery, &endpoint, &after, &limit(filter.limit)])
            .await?;
        rows.iter().map(listed_attempt_from_row).collect()
    }

    async fn redeliver(&self, id: &DeliveryId, now: SystemTime) -> Result<bool, StoreError> {
        let n = self
            .execute(&self.sql.redeliver, &[&id.as_str(), &micros(now)])
            .await?;
        Ok(n > 0)
    }
}

/// `finish_many`'s parameters: one array per column, one entry per attempt.
struct FinishColumns<'a> {
    ids: Vec<&'a str>,
    tokens: Vec<i64>,
    states: Vec<&'static str>,
    next_at: Vec<Option<i64>>,
    attempts: Vec<i64>,
    started_at: Vec<i64>,
    durations: Vec<i64>,
    statuses: Vec<Option<i32>>,
    bodies: Vec<Option<&'a [u8]>>,
    errors: Vec<Option<&'static str>>,
    reasons: Vec<Option<&'a str>>,
}

impl<'a> FinishColumns<'a> {
    fn with_capacity(n: usize) -> Self {
        Self {
            ids: Vec::with_capacity(n),
            tokens: Vec::with_capacity(n),
            states: Vec::with_capacity(n),
            next_at: Vec::with_capacity(n),
            attempts: Vec::with_capacity(n),
            started_at: Vec::with_capacity(n),
            durations: Vec::with_capacity(n),
            statuses: Vec::with_capacity(n),
            bodies: Vec::with_capacity(n),
            errors: Vec::with_capacity(n),
            reasons: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, f: &'a Finish, token: i64) {
        let (state, next_at) = state_of(f.next);
        let (status, body, error, reason) = match &f.attempt.result {
            AttemptResult::Response { status, body } => {
                (Some(i32::from(*status)), Some(body.as_ref()), None, None)
            }
            AttemptResult::Error { kind, reason } => {
                (None, None, Some(kind.as_str()), Some(reason.as_str()))
            }
        };
        self.ids.push(f.lease.delivery_id.as_str());
        self.tokens.push(token);
        self.states.push(state);
        self.next_at.push(next_at);
        self.attempts.push(i64::from(f.attempt.attempt));
        self.started_at.push(micros(f.attempt.started_at));
        self.durations.push(duration_micros(f.attempt.duration));
        self.statuses.push(status);
        self.bodies.push(body);
        self.errors.push(error);
        self.reasons.push(reason);
    }
}

impl PgStore {
    /// Runs `finish_many`: for each entry whose lease held, its index in
    /// the arrays (0-based), its endpoint and that endpoint's dead deliveries
    /// in a row.
    async fn finish_many(
        &self,
        client: &deadpool_postgres::Client,
        c: &FinishColumns<'_>,
    ) -> Result<Vec<(usize, String, i32)>, StoreError> {
        let stmt = client
            .prepare_cached(&self.sql.finish_many)
            .await
            .map_err(db_error)?;
        let rows = client
            .query(
                &stmt,
                &[
                    &c.ids,
                    &c.tokens,
                    &c.states,
                    &c.next_at,
                    &c.attempts,
                    &c.started_at,
                    &c.durations,
                    &c.statuses,
                    &c.bodies,
                    &c.errors,
                    &c.reasons,
                ],
            )
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let ord: i64 = get(row, 0)?;
                let index = usize::try_from(ord - 1)
                    .map_err(|_| corrupt(format!("finish_many answered ordinal {ord}")))?;
                Ok((index, get(row, 1)?, get(row, 2)?))
            })
            .collect()
    }

    /// Writes what a batch added to its endpoints' health, one statement per
    /// endpoint (in id order), pipelined, in one transaction committed
    /// without waiting for the WAL flush.
    /// Applies the breaker's rules to the endpoints of recorded attempts
    /// (`(index in results, endpoint, attempt, next)`, in recording order),
    /// one statement per endpoint, all sent at once; each change goes on the
    /// report of that endpoint's last attempt. A failure here leaves the
    /// circuit as it was (the attempts stay recorded) and is traced.
    async fn update_circuits(
        &self,
        client: &deadpool_postgres::Client,
        recorded: &[(usize, String, &AttemptRecord, NextState)],
        results: &mut [Option<Result<FinishReport, StoreError>>],
    ) {
        struct Sum {
            succeeded: bool,
            last_failure: Option<i64>,
            now: i64,
            last: usize,
        }
        let mut sums: std::collections::BTreeMap<&str, Sum> = std::collections::BTreeMap::new();
        for (i, endpoint, attempt, next) in recorded {
            let ended = micros(crate::clock::saturating_add(
                attempt.started_at,
                attempt.duration,
            ));
            let sum = sums.entry(endpoint.as_str()).or_insert(Sum {
                succeeded: false,
                last_failure: None,
                now: ended,
                last: *i,
            });
            if *next == NextState::Succeeded {
                sum.succeeded = true;
                sum.last_failure = None;
            } else {
                sum.last_failure = Some(micros(attempt.started_at));
            }
            sum.now = sum.now.max(ended);
            sum.last = *i;
        }
        let stmt = match client.prepare_cached(&self.sql.circuit).await {
            Ok(stmt) => stmt,
            Err(_e) => {
                #[cfg(feature = "tracing")]
                tracing::warn!(error = %crate::dispatch::engine::error_chain(&db_error(_e)), "PgStore: circuits not updated for a batch");
                return;
            }
        };
        let client: &tokio_postgres::Client = client;
        let calls = sums.iter().map(|(endpoint, sum)| {
            let stmt = &stmt;
            async move {
                client
                    .query_opt(
                        stmt,
                        &[endpoint, &sum.succeeded, &sum.last_failure, &sum.now],
                    )
                    .await
            }
        });
        let answers = futures_util::future::join_all(calls).await;
        for ((_, sum), answer) in sums.iter().zip(answers) {
            let row = match answer {
                Ok(Some(row)) => row,
                Ok(None) => continue,
                Err(_e) => {
                    #[cfg(feature = "tracing")]
                    tracing::warn!(error = %crate::dispatch::engine::error_chain(&db_error(_e)), "PgStore: an endpoint's circuit not updated");
                    continue;
                }
            };
            let (Ok(was_open), Ok(cool), Ok(failures)) = (
                row.try_get::<_, bool>(0),
                row.try_get::<_, Option<i64>>(1),
                row.try_get::<_, i64>(2),
            ) else {
                #[cfg(feature = "tracing")]
                tracing::warn!("PgStore: an endpoint's circuit could not be read back");
                continue;
            };
            let change = match cool {
                Some(-1) => None,
                None if was_open => Some(CircuitChange::Closed),
                None => None,
                Some(cool) => {
                    time(sum.now.saturating_add(cool))
                        .ok()
                        .map(|until| CircuitChange::Opened {
                            until,
                            failures: u32::try_from(failures).unwrap_or(0),
                        })
                }
            };
            if let Some(Some(Ok(report))) = results.get_mut(sum.last) {
                report.circuit = change;
            }
        }
    }

    /// Whether an endpoint has a `max_in_flight`: read again when the last
    /// answer is a second old (by the leases' `now`), or older than a put
    /// in this process that set one.
    async fn capped_present(&self, now: i64) -> Result<bool, StoreError> {
        use std::sync::atomic::Ordering;
        let read_at = self.capped.read_at.load(Ordering::Relaxed);
        if read_at != 0 && (0..1_000_000).contains(&now.saturating_sub(read_at)) {
            return Ok(self.capped.present.load(Ordering::Relaxed));
        }
        let rows = self.query(&self.sql.any_capped, &[]).await?;
        let present: bool = rows
            .first()
            .ok_or_else(|| corrupt("any_capped returned no row"))
            .and_then(|r| get(r, 0))?;
        self.capped.present.store(present, Ordering::Relaxed);
        self.capped.read_at.store(now, Ordering::Relaxed);
        Ok(present)
    }

    async fn write_batch_health(
        &self,
        client: &deadpool_postgres::Client,
        health: std::collections::BTreeMap<String, BatchHealth<'_>>,
    ) {
        let Ok(stmt) = client.prepare_cached(&self.sql.batch_health).await else {
            return;
        };
        let client: &tokio_postgres::Client = client;
        let writes = health.iter().filter_map(|(endpoint, h)| {
            let (lease, attempt) = h.last?;
            let (status, error, reason) = match &attempt.result {
                AttemptResult::Response { status, .. } => (Some(i32::from(*status)), None, None),
                AttemptResult::Error { kind, reason } => {
                    (None, Some(kind.as_str()), Some(reason.as_str()))
                }
            };
            let stmt = &stmt;
            Some(async move {
                client
                    .execute(
                        stmt,
                        &[
                            &endpoint.as_str(),
                            &h.succeeded,
                            &h.failures,
                            &h.last_success_at,
                            &lease.delivery_id.as_str(),
                            &i64::from(attempt.attempt),
                            &micros(attempt.started_at),
                            &status,
                            &error,
                            &reason,
                        ],
                    )
                    .await
            })
        });
        // Health trails the attempts by a batch anyway: its transaction need
        // not wait for the WAL flush (an extra flush per batch otherwise),
        // and it holds the endpoints' rows (in id order) only until then.
        // All of it is sent at once (one round trip): a write that fails
        // aborts the transaction, whose COMMIT then rolls back; the attempts
        // are recorded, and the health only lags.
        let (begin, writes, commit) = futures_util::future::join3(
            client.batch_execute("BEGIN; SET LOCAL synchronous_commit TO off"),
            futures_util::future::join_all(writes),
            client.batch_execute("COMMIT"),
        )
        .await;
        let failed = begin
            .err()
            .or_else(|| writes.into_iter().find_map(Result::err))
            .or_else(|| commit.err());
        if let Some(_e) = failed {
            // Not an error of the attempts (they are recorded), so not
            // returned: said where an operator can see it.
            #[cfg(feature = "tracing")]
            tracing::warn!(
                error = %crate::dispatch::engine::error_chain(&db_error(_e)),
                "PgStore: endpoint health not written for a batch (it lags until the next)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copied_error_keeps_its_kind_and_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let original = StoreError::new(StoreErrorKind::Unavailable, io);
        let copy = copy_error(Some(&original));
        assert_eq!(copy.kind(), StoreErrorKind::Unavailable);
        let cause = std::error::Error::source(&copy).map(ToString::to_string);
        assert_eq!(cause.as_deref(), Some("reset by peer"));

        let bare = copy_error(Some(&StoreError::from_kind(StoreErrorKind::LeaseLost)));
        assert_eq!(bare.kind(), StoreErrorKind::LeaseLost);
        assert!(std::error::Error::source(&bare).is_none());
        assert_eq!(copy_error(None).kind(), StoreErrorKind::Other);
    }
}
