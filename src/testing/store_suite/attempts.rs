//! Recording attempts: retries, success, giving up and redelivering, batches,
//! and the count of dead deliveries in a row.

use std::time::Duration;

use bytes::Bytes;

use super::{
    attempts, clock, delivery_id, failed_attempt, finish, get, insert, lease, lease_and_finish,
    lease_lost, lease_of, lease_one, leased_ids, ok, ok_attempt, secs, set_enabled, start,
    start_with_dlv_1,
};
use crate::clock::Clock;
use crate::store::{
    AttemptRecord, AttemptResult, DeliveryState, Finish, NextState, Store, MAX_REASON_LEN,
    MAX_RECORDED_BODY,
};
use crate::transport::TransportErrorKind;

/// `finish_attempts` records each entry as `finish_attempt` would, answers
/// in order, and a lost lease in the batch spoils only its own entry.
pub async fn finish_attempts_records_each(store: &dyn Store) {
    const C: &str = "finish_attempts_records_each";
    let clock = clock();
    start(store, C, &["ep_a"]).await;
    insert(
        store,
        C,
        "evt_1",
        &[("dlv_1", "ep_a"), ("dlv_2", "ep_a"), ("dlv_3", "ep_a")],
        clock.now(),
    )
    .await;
    ensure!(
        C,
        store.finish_attempts(Vec::new()).await.is_empty(),
        "an empty batch answers nothing"
    );
    let leased = lease(store, C, clock.now(), 10, secs(30)).await;
    ensure_eq!(C, leased.len(), 3, "all three are due");
    // dlv_3's first lease goes stale: released, then leased again.
    let stale = lease_of(C, &leased, "dlv_3");
    ok(C, "release", store.release(&stale).await);
    let fresh = lease_one(store, C, clock.now(), "dlv_3").await;
    let retry_at = clock.now() + secs(60);
    let results = store
        .finish_attempts(vec![
            Finish::new(
                lease_of(C, &leased, "dlv_1"),
                ok_attempt(1, clock.now()),
                NextState::Succeeded,
            ),
            Finish::new(stale, failed_attempt(1, clock.now()), NextState::Dead),
            Finish::new(
                lease_of(C, &leased, "dlv_2"),
                failed_attempt(1, clock.now()),
                NextState::RetryAt(retry_at),
            ),
        ])
        .await;
    ensure_eq!(C, results.len(), 3, "one result per entry");
    let mut results = results.into_iter();
    ok(
        C,
        "finish_attempts entry 1",
        results.next().expect("3 results"),
    );
    lease_lost(
        C,
        "finish_attempts entry 2 (stale lease)",
        results.next().expect("3 results"),
    );
    ok(
        C,
        "finish_attempts entry 3",
        results.next().expect("3 results"),
    );
    let d1 = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d1.state, d1.attempts),
        (DeliveryState::Succeeded, 1),
        "dlv_1"
    );
    let d2 = get(store, C, "dlv_2").await;
    ensure_eq!(
        C,
        (d2.state, d2.attempts, d2.next_attempt_at),
        (DeliveryState::Pending, 1, retry_at),
        "dlv_2 must be retried later"
    );
    let d3 = get(store, C, "dlv_3").await;
    ensure_eq!(
        C,
        (d3.state, d3.attempts),
        (DeliveryState::Pending, 0),
        "the stale entry recorded something"
    );
    ok(
        C,
        "finish_attempt with dlv_3's current lease",
        store
            .finish_attempt(&fresh, ok_attempt(1, clock.now()), NextState::Succeeded)
            .await,
    );
}

/// Retry: the attempt is appended, the count goes up, the delivery stays
/// pending and is due again exactly at the retry time (not before); the history
/// lists attempts oldest first, exactly as recorded.
pub async fn retry_makes_pending_again_later(store: &dyn Store) {
    const C: &str = "retry_makes_pending_again_later";
    let clock = clock();
    start_with_dlv_1(store, C, clock.now()).await;
    let first = lease_one(store, C, clock.now(), "dlv_1").await;
    let retry_at = clock.now() + secs(300);
    let attempt1 = failed_attempt(1, clock.now());
    let report = finish(
        store,
        C,
        &first,
        attempt1.clone(),
        NextState::RetryAt(retry_at),
    )
    .await;
    ensure_eq!(
        C,
        report.dead_in_a_row,
        0,
        "a retry leaves dead_in_a_row unchanged (0)"
    );
    let d = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d.state, d.attempts, d.next_attempt_at),
        (DeliveryState::Pending, 1, retry_at),
        "after a retry: pending, 1 attempt, due at the retry time"
    );
    ensure!(
        C,
        lease(store, C, clock.now(), 10, secs(60)).await.is_empty(),
        "a retried delivery must not be leased before its retry time"
    );
    ensure!(
        C,
        lease(store, C, retry_at - secs(1), 10, secs(60))
            .await
            .is_empty(),
        "a retried delivery must not be leased before its retry time"
    );
    clock.set(retry_at);
    let second = lease(store, C, clock.now(), 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&second),
        vec!["dlv_1"],
        "due again at the retry time"
    );
    ensure_eq!(
        C,
        second[0].delivery.attempts,
        1,
        "the leased snapshot shows 1 attempt"
    );
    ensure!(
        C,
        second[0].lease.token != first.token,
        "a new lease must get a new token"
    );

    let big_body = Bytes::from(vec![b'x'; MAX_RECORDED_BODY * 2]);
    let attempt2 = AttemptRecord::new(
        2,
        clock.now(),
        Duration::from_millis(10_000),
        AttemptResult::Response {
            status: 500,
            body: big_body,
        },
    );
    let attempt3 = AttemptRecord::new(
        3,
        clock.now() + secs(60),
        Duration::from_millis(1),
        AttemptResult::error(TransportErrorKind::Timeout, "timed out after 10 s"),
    );
    finish(
        store,
        C,
        &second[0].lease,
        attempt2.clone(),
        NextState::RetryAt(clock.now() + secs(60)),
    )
    .await;
    clock.advance(secs(60));
    lease_and_finish(
        store,
        C,
        clock.now(),
        "dlv_1",
        attempt3.clone(),
        NextState::RetryAt(clock.now() + secs(600)),
    )
    .await;
    let history = attempts(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        history,
        vec![attempt1, attempt2, attempt3],
        "attempt records must come back as recorded, oldest first"
    );
    ensure_eq!(
        C,
        get(store, C, "dlv_1").await.attempts,
        3,
        "three attempts counted"
    );
}

/// Success: recorded, final (never leased again, not redeliverable).
pub async fn success_is_final(store: &dyn Store) {
    const C: &str = "success_is_final";
    let clock = clock();
    start_with_dlv_1(store, C, clock.now()).await;
    lease_and_finish(
        store,
        C,
        clock.now(),
        "dlv_1",
        ok_attempt(1, clock.now()),
        NextState::Succeeded,
    )
    .await;
    let d = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d.state, d.attempts),
        (DeliveryState::Succeeded, 1),
        "after success"
    );
    ensure!(
        C,
        lease(store, C, clock.now() + secs(86_400 * 365), 10, secs(60))
            .await
            .is_empty(),
        "a succeeded delivery must never be leased again"
    );
    ensure!(
        C,
        !ok(C, "redeliver", store.redeliver(&d.id, clock.now()).await),
        "redeliver of a succeeded delivery must return false"
    );
    ensure_eq!(
        C,
        get(store, C, "dlv_1").await.state,
        DeliveryState::Succeeded,
        "still succeeded"
    );
}

/// Dead: recorded, never leased again; redeliver makes it pending, due at the
/// given time, with the attempt count reset and the history kept; redeliver of
/// a pending or unknown delivery returns `false`.
pub async fn dead_then_redeliver(store: &dyn Store) {
    const C: &str = "dead_then_redeliver";
    let clock = clock();
    start_with_dlv_1(store, C, clock.now()).await;
    lease_and_finish(
        store,
        C,
        clock.now(),
        "dlv_1",
        failed_attempt(1, clock.now()),
        NextState::RetryAt(clock.now() + secs(10)),
    )
    .await;
    clock.advance(secs(10));
    lease_and_finish(
        store,
        C,
        clock.now(),
        "dlv_1",
        failed_attempt(2, clock.now()),
        NextState::Dead,
    )
    .await;
    let d = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d.state, d.attempts),
        (DeliveryState::Dead, 2),
        "after giving up"
    );
    ensure!(
        C,
        lease(store, C, clock.now() + secs(86_400 * 365), 10, secs(60))
            .await
            .is_empty(),
        "a dead delivery must not be leased"
    );
    ensure!(
        C,
        !ok(
            C,
            "redeliver",
            store
                .redeliver(&delivery_id("dlv_missing"), clock.now())
                .await
        ),
        "redeliver of an unknown delivery must return false"
    );

    clock.advance(secs(3600));
    let now = clock.now();
    ensure!(
        C,
        ok(C, "redeliver", store.redeliver(&d.id, now).await),
        "redeliver of a dead delivery"
    );
    let d = get(store, C, "dlv_1").await;
    ensure_eq!(
        C,
        (d.state, d.attempts, d.next_attempt_at),
        (DeliveryState::Pending, 0, now),
        "after redeliver: pending, 0 attempts, due now"
    );
    let history = attempts(store, C, d.id.as_str()).await;
    ensure_eq!(
        C,
        history.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        vec![1, 2],
        "redeliver must keep the attempt history"
    );
    ensure!(
        C,
        !ok(C, "redeliver", store.redeliver(&d.id, now).await),
        "redeliver of a pending delivery must return false"
    );
    ensure!(
        C,
        lease(store, C, now - secs(1), 10, secs(60))
            .await
            .is_empty(),
        "a redelivered delivery is due at the redeliver time, not before"
    );
    let l = lease(store, C, now, 10, secs(60)).await;
    ensure_eq!(
        C,
        leased_ids(&l),
        vec!["dlv_1"],
        "a redelivered delivery is due at once"
    );
    ensure_eq!(
        C,
        l[0].delivery.attempts,
        0,
        "the leased snapshot shows 0 attempts"
    );
    finish(
        store,
        C,
        &l[0].lease,
        ok_attempt(1, now),
        NextState::Succeeded,
    )
    .await;
    ensure_eq!(
        C,
        attempts(store, C, d.id.as_str()).await.len(),
        3,
        "history grows on"
    );
}

/// `dead_in_a_row` counts per endpoint: +1 on dead, unchanged on retry, 0 on
/// success, and 0 again when the endpoint is re-enabled.
pub async fn dead_in_a_row_is_counted_per_endpoint(store: &dyn Store) {
    const C: &str = "dead_in_a_row_is_counted_per_endpoint";
    let clock = clock();
    let now = clock.now();
    start(store, C, &["ep_a", "ep_b"]).await;
    let pairs = [
        ("dlv_a1", "ep_a"),
        ("dlv_a2", "ep_a"),
        ("dlv_b1", "ep_b"),
        ("dlv_a3", "ep_a"),
        ("dlv_a4", "ep_a"),
        ("dlv_a5", "ep_a"),
        ("dlv_a6", "ep_a"),
    ];
    insert(store, C, "evt_1", &pairs, now).await;
    let leased = lease(store, C, now, 10, secs(60)).await;
    ensure_eq!(C, leased.len(), 7, "all seven are due");
    let steps = [
        ("dlv_a1", NextState::Dead, 1),
        ("dlv_a2", NextState::Dead, 2),
        ("dlv_b1", NextState::Dead, 1),
        ("dlv_a3", NextState::RetryAt(now + secs(60)), 2),
        ("dlv_a4", NextState::Succeeded, 0),
        ("dlv_a5", NextState::Dead, 1),
        // ep_a is disabled and enabled again before this one finishes.
        ("dlv_a6", NextState::Dead, 1),
    ];
    for (id, next, expected) in steps {
        if id == "dlv_a6" {
            set_enabled(store, C, "ep_a", false).await;
            set_enabled(store, C, "ep_a", true).await;
        }
        let l = lease_of(C, &leased, id);
        let report = finish(store, C, &l, failed_attempt(1, now), next).await;
        ensure_eq!(
            C,
            report.dead_in_a_row,
            expected,
            "dead_in_a_row after {id} moved to {next:?}"
        );
    }
}

/// A failed attempt's [`AttemptResult::Error`] comes back exactly as
/// recorded: every [`TransportErrorKind`] (`Panicked` included) and its
/// reason, an empty one and one with multi-byte characters included; a
/// reason longer than [`MAX_REASON_LEN`] bytes is recorded cut
/// ([`AttemptRecord::new`] cuts it) and comes back so.
pub async fn attempt_errors_keep_their_kind_and_reason(store: &dyn Store) {
    const C: &str = "attempt_errors_keep_their_kind_and_reason";
    let clock = clock();
    start_with_dlv_1(store, C, clock.now()).await;
    let long = "ü".repeat(MAX_REASON_LEN);
    let results = [
        (TransportErrorKind::Connect, "connection refused".to_owned()),
        (
            TransportErrorKind::Timeout,
            "timed out after 10 s".to_owned(),
        ),
        (
            TransportErrorKind::Interrupted,
            "connection reset: tls close_notify missing".to_owned(),
        ),
        (TransportErrorKind::Rejected, String::new()),
        (
            TransportErrorKind::Panicked,
            "the transport panicked: index out of bounds ✗".to_owned(),
        ),
        (TransportErrorKind::Other, long),
    ];
    let mut recorded = Vec::new();
    for (n, (kind, reason)) in results.into_iter().enumerate() {
        let attempt = AttemptRecord::new(
            u32::try_from(n + 1).expect("a few attempts"),
            clock.now(),
            Duration::from_millis(5),
            AttemptResult::error(kind, reason),
        );
        if let AttemptResult::Error { reason, .. } = &attempt.result {
            ensure!(
                C,
                reason.len() <= MAX_REASON_LEN,
                "AttemptRecord::new must cut a long reason"
            );
        }
        recorded.push(attempt.clone());
        lease_and_finish(
            store,
            C,
            clock.now(),
            "dlv_1",
            attempt,
            NextState::RetryAt(clock.now() + secs(1)),
        )
        .await;
        clock.advance(secs(1));
    }
    ensure_eq!(
        C,
        attempts(store, C, "dlv_1").await,
        recorded,
        "failed attempts must come back with their kind and reason, as recorded"
    );
}
