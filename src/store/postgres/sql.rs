//! Every SQL statement the store runs, built once per schema.

/// Every statement, with the schema name filled in once.
#[derive(Debug)]
pub(super) struct Sql {
    pub(super) put_endpoint: String,
    pub(super) endpoint: String,
    pub(super) endpoints: String,
    pub(super) set_enabled: String,
    pub(super) disable: String,
    pub(super) health: String,
    pub(super) insert_event: String,
    pub(super) claim: String,
    pub(super) claimed: String,
    pub(super) record_skip: String,
    pub(super) skips: String,
    pub(super) lease: String,
    pub(super) lease_capped: String,
    pub(super) lock_capped: String,
    pub(super) any_capped: String,
    pub(super) next_due: String,
    pub(super) due_stats: String,
    pub(super) endpoints_by_id: String,
    pub(super) delete_endpoint: String,
    pub(super) finish: String,
    pub(super) finish_many: String,
    pub(super) batch_health: String,
    pub(super) pause: String,
    pub(super) circuit: String,
    pub(super) release: String,
    pub(super) defer: String,
    pub(super) abandon: String,
    pub(super) delivery: String,
    pub(super) attempts: String,
    pub(super) deliveries: String,
    pub(super) deliveries_newest: String,
    pub(super) list_attempts: String,
    pub(super) list_attempts_newest: String,
    pub(super) prune: String,
    pub(super) redeliver: String,
}

const ENDPOINT_COLUMNS: &str = "id, url, method, events, signing_current, \
     signing_previous, sign_hex, sign_standard, headers, enabled, description, \
     max_in_flight, gone, signing_previous_expires, sign_v1a, ed25519_current, \
     ed25519_previous, ed25519_previous_expires, ordered, rate_per_second, rate_burst, \
     breaker_failures, breaker_cool_down_us, breaker_max_us";

const DELIVERY_COLUMNS: &str = "d.id, d.event_id, ev.kind, ev.payload, d.endpoint_id, d.url, \
     d.state, d.attempts, d.next_attempt_at, ev.created_at, d.reason, d.attempts_total, d.seq";

/// Whether pending delivery `d` (its endpoint `e`, joined `LEFT`) may be
/// leased as far as ordering goes: always, unless its endpoint is ordered;
/// then only the head of the endpoint's queue, its pending delivery with the
/// lowest seq. The head is taken while it is available (`available_at`: its
/// next attempt, or its lease's expiry while leased), so a second delivery
/// is never in flight and none overtakes it.
///
/// Costs: `e.ordered` is tested first, so an unordered (or deleted)
/// endpoint's deliveries cost nothing more. The heads are one uncorrelated
/// subquery, hashed once per statement (one probe of
/// `deliveries_pending_by_endpoint` per ordered endpoint), not once per row;
/// the deliveries held behind a head are still read by the scan of
/// `deliveries_due` and passed over (about 1.5 µs each).
fn ordered_head(s: &str) -> String {
    format!(
        "(e.ordered IS NOT TRUE OR d.seq IN (
           SELECT (SELECT h.seq FROM {s}.deliveries h
                   WHERE h.endpoint_id = o.id AND h.state = 'pending'
                   ORDER BY h.seq LIMIT 1)
           FROM {s}.endpoints o WHERE o.ordered))"
    )
}

/// The listing of deliveries, oldest first (`ASC`, cursor `>`) or newest
/// first (`DESC`, `<`): the order follows the `deliveries_endpoint` index
/// or the primary key either way.
fn deliveries_listing(s: &str, order: &str, past: &str) -> String {
    format!(
        "SELECT {DELIVERY_COLUMNS}
         FROM {s}.deliveries d JOIN {s}.events ev ON ev.id = d.event_id
         WHERE ($1::text IS NULL OR d.state = $1)
           AND ($2::text IS NULL OR d.endpoint_id = $2)
           AND ($3::text IS NULL OR d.event_id = $3)
           AND ($5::bigint IS NULL OR d.seq {past} $5)
         ORDER BY d.seq {order}
         LIMIT $4"
    )
}

/// The listing of attempts across deliveries, in the order recorded.
fn attempts_listing(s: &str, order: &str, past: &str) -> String {
    format!(
        "SELECT a.attempt, a.started_at, a.duration_us, a.status, a.body, a.error, a.reason,
           a.seq, d.id, d.endpoint_id
         FROM {s}.attempts a JOIN {s}.deliveries d ON d.seq = a.delivery_seq
         WHERE ($1::text IS NULL OR d.id = $1)
           AND ($2::text IS NULL OR d.endpoint_id = $2)
           AND ($3::bigint IS NULL OR a.seq {past} $3)
         ORDER BY a.seq {order}
         LIMIT $4"
    )
}

impl Sql {
    pub(super) fn new(s: &str) -> Self {
        let head = ordered_head(s);
        Self {
            put_endpoint: format!(
                "INSERT INTO {s}.endpoints ({ENDPOINT_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                   $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)
                 ON CONFLICT (id) DO UPDATE SET
                   url = EXCLUDED.url,
                   method = EXCLUDED.method, events = EXCLUDED.events,
                   signing_current = EXCLUDED.signing_current,
                   signing_previous = EXCLUDED.signing_previous,
                   signing_previous_expires = EXCLUDED.signing_previous_expires,
                   sign_v1a = EXCLUDED.sign_v1a,
                   ed25519_current = EXCLUDED.ed25519_current,
                   ed25519_previous = EXCLUDED.ed25519_previous,
                   ed25519_previous_expires = EXCLUDED.ed25519_previous_expires,
                   sign_hex = EXCLUDED.sign_hex, sign_standard = EXCLUDED.sign_standard,
                   headers = EXCLUDED.headers, enabled = EXCLUDED.enabled,
                   description = EXCLUDED.description,
                   max_in_flight = EXCLUDED.max_in_flight, gone = EXCLUDED.gone,
                   ordered = EXCLUDED.ordered,
                   rate_per_second = EXCLUDED.rate_per_second,
                   rate_burst = EXCLUDED.rate_burst,
                   breaker_failures = EXCLUDED.breaker_failures,
                   breaker_cool_down_us = EXCLUDED.breaker_cool_down_us,
                   breaker_max_us = EXCLUDED.breaker_max_us,
                   circuit_since = CASE WHEN EXCLUDED.breaker_failures IS NULL THEN NULL
                     ELSE endpoints.circuit_since END,
                   circuit_cool_down_us = CASE WHEN EXCLUDED.breaker_failures IS NULL THEN NULL
                     ELSE endpoints.circuit_cool_down_us END,
                   circuit_first_probe = CASE WHEN EXCLUDED.breaker_failures IS NULL THEN NULL
                     ELSE endpoints.circuit_first_probe END,
                   circuit_probe_at = CASE WHEN EXCLUDED.breaker_failures IS NULL THEN NULL
                     ELSE endpoints.circuit_probe_at END,
                   disabled_at = CASE WHEN EXCLUDED.enabled THEN NULL
                     ELSE endpoints.disabled_at END,
                   disabled_reason = CASE WHEN EXCLUDED.enabled THEN NULL
                     ELSE endpoints.disabled_reason END"
            ),
            endpoint: format!("SELECT {ENDPOINT_COLUMNS} FROM {s}.endpoints WHERE id = $1"),
            endpoints: format!("SELECT {ENDPOINT_COLUMNS} FROM {s}.endpoints ORDER BY id"),
            set_enabled: format!(
                "UPDATE {s}.endpoints SET enabled = $2,
                   dead_in_a_row = CASE WHEN $2 THEN 0 ELSE dead_in_a_row END,
                   disabled_at = CASE WHEN $2 THEN NULL ELSE disabled_at END,
                   disabled_reason = CASE WHEN $2 THEN NULL ELSE disabled_reason END
                 WHERE id = $1"
            ),
            // Only an enabled endpoint's row matches: of two callers, the
            // second waits for the first's row lock, then finds it disabled.
            disable: format!(
                "UPDATE {s}.endpoints SET enabled = FALSE, disabled_at = $2, disabled_reason = $3
                 WHERE id = $1 AND enabled"
            ),
            // One statement for one endpoint ($1) or all (NULL): the row,
            // kept current by every recorded attempt, and its deliveries
            // counted by state through the `deliveries_endpoint` index.
            health: format!(
                "SELECT e.id, e.enabled, c.pending, c.succeeded, c.dead,
                   e.last_attempt_delivery, e.last_attempt_number, e.last_attempt_at,
                   e.last_status, e.last_error, e.last_reason, e.last_success_at,
                   e.consecutive_failures, e.disabled_at, e.disabled_reason,
                   e.circuit_since, e.circuit_first_probe, e.gate_at
                 FROM {s}.endpoints e
                 CROSS JOIN LATERAL (
                   SELECT count(*) FILTER (WHERE d.state = 'pending') AS pending,
                     count(*) FILTER (WHERE d.state = 'succeeded') AS succeeded,
                     count(*) FILTER (WHERE d.state = 'dead') AS dead
                   FROM {s}.deliveries d WHERE d.endpoint_id = e.id
                 ) c
                 WHERE ($1::text IS NULL OR e.id = $1)
                 ORDER BY e.id"
            ),
            // One statement: atomic, one round trip. A duplicate delivery id
            // aborts all of it.
            insert_event: format!(
                "WITH ev AS (
                   INSERT INTO {s}.events (id, kind, payload, created_at)
                   VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING RETURNING id
                 ), dl AS (
                   INSERT INTO {s}.deliveries
                     (id, event_id, endpoint_id, url, state, next_attempt_at, available_at)
                   SELECT n.id, ev.id, n.endpoint_id, n.url, 'pending', n.due_at, n.due_at
                   FROM ev, unnest($5::text[], $6::text[], $7::text[], $8::bigint[])
                     WITH ORDINALITY AS n(id, endpoint_id, url, due_at, ord)
                   ORDER BY n.ord
                   RETURNING 1
                 )
                 SELECT (SELECT count(*) FROM ev) AS inserted, (SELECT count(*) FROM dl) AS deliveries"
            ),
            claim: format!(
                "WITH l AS (
                   INSERT INTO {s}.ledger (key, delivery_id) VALUES ($1, $2)
                   ON CONFLICT (key) DO NOTHING RETURNING delivery_id
                 ), ev AS (
                   INSERT INTO {s}.events (id, kind, payload, created_at)
                   SELECT $3, $4, $5, $6 FROM l RETURNING id
                 ), dl AS (
                   INSERT INTO {s}.deliveries
                     (id, event_id, endpoint_id, url, state, next_attempt_at, available_at)
                   SELECT $2, ev.id, $7, $8, 'pending', $9, $9 FROM ev
                   RETURNING 1
                 )
                 SELECT (SELECT count(*) FROM l) + (SELECT count(*) FROM dl) AS inserted"
            ),
            claimed: format!("SELECT delivery_id FROM {s}.ledger WHERE key = $1"),
            record_skip: format!("INSERT INTO {s}.skips (key, reason, at) VALUES ($1, $2, $3)"),
            skips: format!("SELECT key, reason, at FROM {s}.skips ORDER BY seq DESC LIMIT $1"),
            // A delivery to an endpoint that no longer exists is leased too,
            // so that the dispatcher ends it dead ("endpoint deleted").
            //
            // Flow control (see the crate's `flow` module): the scan passes
            // over endpoints whose gate is closed (as of the statement's
            // snapshot); then the rate-limited endpoints and those with an
            // open circuit among the candidates are locked in id order and
            // read afresh (a worker that leased from them meanwhile has
            // committed), and each keeps as many candidates as it allows
            // (none if its gate closed meanwhile; one probe; its limiter's
            // free slots), moving its limiter on and closing the gate
            // behind a probe until the lease's expiry. The other endpoints'
            // candidates cost one index probe of `endpoints` per endpoint.
            // An endpoint with a `max_in_flight` is locked too, and keeps no
            // more candidates than it has room for: its deliveries out now
            // are counted through `deliveries_leased`.
            // Endpoints with a `max_in_flight` are leased apart
            // (`lease_capped`, in a transaction after `lock_capped`), so
            // that the count of their deliveries out is read after every
            // other leaser of them committed.
            lease: lease_sql(s, &head, "e.max_in_flight IS NULL"),
            lease_capped: lease_sql(s, &head, "e.max_in_flight IS NOT NULL"),
            lock_capped: format!(
                "SELECT id FROM {s}.endpoints WHERE max_in_flight IS NOT NULL ORDER BY id FOR UPDATE"
            ),
            any_capped: format!(
                "SELECT EXISTS (SELECT 1 FROM {s}.endpoints WHERE max_in_flight IS NOT NULL)"
            ),
            // The earliest delivery of an endpoint whose gate is open now,
            // or the earliest gate to open on an endpoint with pending
            // deliveries.
            next_due: format!(
                "SELECT LEAST(
                   (SELECT d.available_at
                    FROM {s}.deliveries d LEFT JOIN {s}.endpoints e ON e.id = d.endpoint_id
                    WHERE d.state = 'pending' AND (e.id IS NULL OR e.enabled)
                      AND (e.gate_at IS NULL OR e.gate_at <= $1)
                      AND {head}
                    ORDER BY d.available_at, d.seq
                    LIMIT 1),
                   (SELECT min(e.gate_at) FROM {s}.endpoints e
                    WHERE e.gate_at > $1 AND e.enabled
                      AND EXISTS (SELECT 1 FROM {s}.deliveries d
                                  WHERE d.endpoint_id = e.id AND d.state = 'pending')))"
            ),
            due_stats: format!(
                "SELECT count(*), min(d.available_at)
                 FROM {s}.deliveries d LEFT JOIN {s}.endpoints e ON e.id = d.endpoint_id
                 WHERE d.state = 'pending' AND d.available_at <= $1
                   AND (e.id IS NULL OR e.enabled)
                   AND (e.gate_at IS NULL OR e.gate_at <= $1)
                   AND {head}"
            ),
            pause: format!(
                "UPDATE {s}.endpoints SET paused_until = GREATEST(paused_until, $2) WHERE id = $1"
            ),
            // The circuit after attempts to endpoint $1 were recorded (its
            // failures in a row already counted): $2 whether one succeeded,
            // $3 when the last failure started, $4 now. The rules of
            // `flow::FlowState::attempted`, applied to the batch: a success
            // closes it, and it opens again (at the first cool-down) if the
            // failures after the success reach the threshold; a closed one
            // opens at the threshold; an open one opens again for twice as
            // long when a failure started once a probe could go. Answers
            // whether it was open, its cool-down now (-1: unchanged), and
            // the failures in a row.
            circuit: format!(
                "WITH o AS (
                   SELECT id, consecutive_failures AS f, breaker_failures AS k,
                     breaker_cool_down_us AS c0, breaker_max_us AS cmax,
                     circuit_probe_at IS NOT NULL AS was_open, circuit_first_probe AS fp,
                     circuit_cool_down_us AS c
                   FROM {s}.endpoints WHERE id = $1 FOR UPDATE
                 ), n AS (
                   SELECT o.*, CASE
                       WHEN ($2 OR NOT was_open) AND k IS NOT NULL AND f >= k THEN c0
                       WHEN $2 OR NOT was_open THEN NULL
                       WHEN k IS NOT NULL AND $3::bigint >= fp THEN LEAST(c * 2, cmax)
                       ELSE -1 END AS cool
                   FROM o
                 ), u AS (
                   UPDATE {s}.endpoints e SET
                     circuit_cool_down_us = n.cool,
                     circuit_since = CASE WHEN n.cool IS NULL THEN NULL ELSE $4::bigint END,
                     circuit_first_probe = CASE WHEN n.cool IS NULL THEN NULL
                       ELSE $4::bigint + n.cool END,
                     circuit_probe_at = CASE WHEN n.cool IS NULL THEN NULL
                       ELSE $4::bigint + n.cool END
                   FROM n WHERE e.id = n.id AND n.cool IS DISTINCT FROM -1
                     AND (n.cool IS NOT NULL OR n.was_open)
                 )
                 SELECT was_open, cool, f FROM n"
            ),
            endpoints_by_id: format!(
                "SELECT {ENDPOINT_COLUMNS} FROM {s}.endpoints WHERE id = ANY($1::text[])"
            ),
            // The endpoint goes; its queued deliveries end dead with it (those
            // leased now end when next leased).
            delete_endpoint: format!(
                "WITH gone AS (
                   DELETE FROM {s}.endpoints WHERE id = $1 RETURNING id
                 ), dead AS (
                   UPDATE {s}.deliveries SET state = 'dead', reason = $2
                   WHERE endpoint_id = $1 AND state = 'pending' AND lease_token IS NULL
                     AND EXISTS (SELECT 1 FROM gone)
                 )
                 SELECT count(*) FROM gone"
            ),
            // One statement: check the token, append the attempt, move the
            // delivery, keep the endpoint's row current (dead deliveries in
            // a row, failures in a row, the last attempt, the last success).
            finish: format!(
                "WITH d AS (
                   UPDATE {s}.deliveries SET
                     attempts = attempts + 1,
                     attempts_total = attempts_total + 1,
                     state = $3,
                     next_attempt_at = COALESCE($4, next_attempt_at),
                     available_at = COALESCE($4, next_attempt_at),
                     finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE $6::BIGINT + $7::BIGINT END,
                     lease_token = NULL, lease_expires_at = NULL
                   WHERE id = $1 AND lease_token = $2 AND state = 'pending'
                   RETURNING seq, endpoint_id
                 ), a AS (
                   INSERT INTO {s}.attempts
                     (delivery_seq, attempt, started_at, duration_us, status, body, error, reason)
                   SELECT seq, $5, $6, $7, $8, $9, $10, $11 FROM d
                 ), e AS (
                   UPDATE {s}.endpoints ep SET
                     dead_in_a_row = CASE WHEN $3 = 'dead' THEN ep.dead_in_a_row + 1
                       WHEN $3 = 'succeeded' THEN 0 ELSE ep.dead_in_a_row END,
                     consecutive_failures = CASE WHEN $3 = 'succeeded' THEN 0
                       ELSE ep.consecutive_failures + 1 END,
                     last_success_at = CASE WHEN $3 = 'succeeded' THEN $6::BIGINT
                       ELSE ep.last_success_at END,
                     last_attempt_delivery = $1, last_attempt_number = $5,
                     last_attempt_at = $6, last_status = $8, last_error = $10,
                     last_reason = $11
                   FROM d
                   WHERE ep.id = d.endpoint_id
                   RETURNING ep.dead_in_a_row
                 )
                 SELECT EXISTS (SELECT 1 FROM d) AS found,
                   COALESCE((SELECT dead_in_a_row FROM e), 0) AS dead,
                   (SELECT endpoint_id FROM d) AS endpoint_id"
            ),
            // A batch's attempts that do not end dead, in one statement (one
            // parse, one plan, one commit for the batch): each row checks its
            // token and moves its delivery, its attempt is appended, and an
            // endpoint's dead-in-a-row count is reset by a success only when
            // it is not zero already (so the attempts to one endpoint do not
            // take turns on its row), those rows locked in id order. Its
            // health is written after the commit (`batch_health`). Answers a
            // row per entry whose lease held: its ordinal (1-based), its
            // endpoint, and the endpoint's dead-in-a-row count (0 after a
            // success).
            finish_many: format!(
                "WITH n AS (
                   SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[],
                     $5::bigint[], $6::bigint[], $7::bigint[], $8::int[], $9::bytea[],
                     $10::text[], $11::text[])
                   WITH ORDINALITY AS n(id, token, state, next_at, attempt, started_at,
                     duration_us, status, body, error, reason, ord)
                 ), d AS (
                   UPDATE {s}.deliveries d SET
                     attempts = d.attempts + 1,
                     attempts_total = d.attempts_total + 1,
                     state = n.state,
                     next_attempt_at = COALESCE(n.next_at, d.next_attempt_at),
                     available_at = COALESCE(n.next_at, d.next_attempt_at),
                     finished_at = CASE WHEN n.state = 'pending' THEN NULL
                       ELSE n.started_at + n.duration_us END,
                     lease_token = NULL, lease_expires_at = NULL
                   FROM n
                   WHERE d.id = n.id AND d.lease_token = n.token AND d.state = 'pending'
                   RETURNING d.seq, d.endpoint_id, n.ord, n.state
                 ), a AS (
                   INSERT INTO {s}.attempts
                     (delivery_seq, attempt, started_at, duration_us, status, body, error, reason)
                   SELECT d.seq, n.attempt, n.started_at, n.duration_us, n.status, n.body,
                     n.error, n.reason
                   FROM d JOIN n ON n.ord = d.ord
                   ORDER BY d.ord
                 ), reset AS (
                   SELECT ep.id FROM {s}.endpoints ep
                   WHERE ep.dead_in_a_row <> 0
                     AND ep.id IN (SELECT endpoint_id FROM d WHERE state = 'succeeded')
                   ORDER BY ep.id
                   FOR UPDATE OF ep
                 ), e AS (
                   UPDATE {s}.endpoints ep SET dead_in_a_row = 0
                   FROM reset WHERE ep.id = reset.id
                 )
                 SELECT d.ord, d.endpoint_id,
                   CASE WHEN d.state = 'succeeded' THEN 0
                     ELSE COALESCE(ep.dead_in_a_row, 0) END AS dead
                 FROM d LEFT JOIN {s}.endpoints ep ON ep.id = d.endpoint_id"
            ),
            // A batch's attempts to one endpoint, summed up: $2 whether one
            // succeeded, $3 the failures after the last success (or all of
            // them), $4 the last success's start, then the last attempt.
            batch_health: format!(
                "UPDATE {s}.endpoints SET
                   consecutive_failures = CASE WHEN $2 THEN $3
                     ELSE consecutive_failures + $3 END,
                   last_success_at = COALESCE($4, last_success_at),
                   last_attempt_delivery = $5, last_attempt_number = $6, last_attempt_at = $7,
                   last_status = $8, last_error = $9, last_reason = $10
                 WHERE id = $1"
            ),
            release: format!(
                "UPDATE {s}.deliveries
                 SET lease_token = NULL, lease_expires_at = NULL, available_at = next_attempt_at
                 WHERE id = $1 AND lease_token = $2 AND state = 'pending'"
            ),
            defer: format!(
                "UPDATE {s}.deliveries
                 SET lease_token = NULL, lease_expires_at = NULL,
                   next_attempt_at = $3, available_at = $3, reason = $4
                 WHERE id = $1 AND lease_token = $2 AND state = 'pending'"
            ),
            abandon: format!(
                "UPDATE {s}.deliveries
                 SET lease_token = NULL, lease_expires_at = NULL, state = 'dead', reason = $3
                 WHERE id = $1 AND lease_token = $2 AND state = 'pending'"
            ),
            delivery: format!(
                "SELECT {DELIVERY_COLUMNS}
                 FROM {s}.deliveries d JOIN {s}.events ev ON ev.id = d.event_id
                 WHERE d.id = $1"
            ),
            attempts: format!(
                "SELECT a.attempt, a.started_at, a.duration_us, a.status, a.body, a.error, a.reason
                 FROM {s}.attempts a JOIN {s}.deliveries d ON d.seq = a.delivery_seq
                 WHERE d.id = $1
                 ORDER BY a.seq"
            ),
            deliveries: deliveries_listing(s, "ASC", ">"),
            deliveries_newest: deliveries_listing(s, "DESC", "<"),
            list_attempts: attempts_listing(s, "ASC", ">"),
            list_attempts_newest: attempts_listing(s, "DESC", "<"),
            // Oldest finished first; attempts go with their delivery, and an
            // event with its last delivery. The ledger is never pruned.
            prune: format!(
                "WITH gone AS (
                   DELETE FROM {s}.deliveries WHERE seq IN (
                     SELECT seq FROM {s}.deliveries
                     WHERE state = 'succeeded' AND finished_at < $1
                     ORDER BY finished_at, seq
                     LIMIT $2
                     FOR UPDATE SKIP LOCKED)
                   RETURNING seq, event_id
                 ), a AS (
                   DELETE FROM {s}.attempts WHERE delivery_seq IN (SELECT seq FROM gone)
                 ), ev AS (
                   DELETE FROM {s}.events e
                   WHERE e.id IN (SELECT event_id FROM gone)
                     AND NOT EXISTS (
                       SELECT 1 FROM {s}.deliveries d
                       WHERE d.event_id = e.id AND d.seq NOT IN (SELECT seq FROM gone))
                 )
                 SELECT count(*) FROM gone"
            ),
            // A delivery of an ordered endpoint takes its place by seq, so it
            // may become the head while a later one is in flight: it is not
            // available before that one's lease expires. The endpoint's
            // pending rows are locked, so that a lease under way is waited
            // for and seen.
            redeliver: format!(
                "WITH target AS (
                   SELECT d.seq, d.endpoint_id, COALESCE(e.ordered, FALSE) AS ordered
                   FROM {s}.deliveries d LEFT JOIN {s}.endpoints e ON e.id = d.endpoint_id
                   WHERE d.id = $1 AND d.state = 'dead'
                 ), in_flight AS (
                   SELECT o.lease_expires_at
                   FROM {s}.deliveries o JOIN target t ON o.endpoint_id = t.endpoint_id
                   WHERE t.ordered AND o.state = 'pending'
                   ORDER BY o.seq
                   FOR UPDATE OF o
                 )
                 UPDATE {s}.deliveries d
                 SET state = 'pending', attempts = 0, next_attempt_at = $2,
                   available_at = GREATEST($2, (SELECT max(lease_expires_at) FROM in_flight)),
                   lease_token = NULL, lease_expires_at = NULL, finished_at = NULL
                 FROM target
                 WHERE d.seq = target.seq AND d.state = 'dead'"
            ),
        }
    }
}

/// `"name"`, for a name [`PgStore::with_schema`] accepted (or any other: inner
/// quotes are doubled).
pub(super) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The lease statement for the endpoints matching `which` (see `Sql::new`).
fn lease_sql(s: &str, head: &str, which: &str) -> String {
    format!(
        "WITH cand AS (
                   SELECT d.seq, d.endpoint_id, d.available_at AS was
                   FROM {s}.deliveries d LEFT JOIN {s}.endpoints e ON e.id = d.endpoint_id
                   WHERE d.state = 'pending' AND d.available_at <= $1
                     AND (e.id IS NULL OR e.enabled)
                     AND (e.gate_at IS NULL OR e.gate_at <= $1)
                     AND NOT (d.endpoint_id = ANY($4::text[]))
                     AND {head} AND {which}
                   ORDER BY d.available_at, d.seq
                   LIMIT $2
                   FOR UPDATE OF d SKIP LOCKED
                 ), fl AS (
                   SELECT e.id, e.gate_at, e.circuit_probe_at IS NOT NULL AS open,
                     e.rate_burst::bigint AS burst, GREATEST(COALESCE(e.tat, $1), $1) AS tat,
                     1000000 / e.rate_per_second AS iv, e.max_in_flight AS cap
                   FROM {s}.endpoints e
                   WHERE e.id IN (SELECT endpoint_id FROM cand)
                     AND (e.rate_per_second IS NOT NULL OR e.circuit_probe_at IS NOT NULL
                          OR e.max_in_flight IS NOT NULL)
                   ORDER BY e.id
                   FOR UPDATE OF e
                 ), allow AS (
                   SELECT id, iv, tat, open, CASE WHEN gate_at > $1 THEN 0
                     ELSE LEAST(CASE WHEN open THEN 1 END,
                                ($1 + burst * iv - tat) / iv,
                                CASE WHEN cap IS NOT NULL THEN
                                  GREATEST(cap - (SELECT count(*) FROM {s}.deliveries l
                                    WHERE l.endpoint_id = fl.id AND l.lease_token IS NOT NULL
                                      AND l.state = 'pending' AND l.lease_expires_at > $1), 0)
                                END)
                     END AS k
                   FROM fl
                 ), ranked AS (
                   SELECT c.seq, c.was, c.endpoint_id, a.k,
                     row_number() OVER (PARTITION BY c.endpoint_id ORDER BY c.was, c.seq) AS rn
                   FROM cand c LEFT JOIN allow a ON a.id = c.endpoint_id
                 ), due AS (
                   SELECT seq, was, endpoint_id FROM ranked WHERE k IS NULL OR rn <= k
                 ), took AS (
                   SELECT a.id, count(*) AS n, a.iv, a.tat, a.open
                   FROM due JOIN allow a ON a.id = due.endpoint_id
                   GROUP BY a.id, a.iv, a.tat, a.open
                 ), flow AS (
                   UPDATE {s}.endpoints e SET
                     tat = CASE WHEN took.iv IS NULL THEN e.tat ELSE took.tat + took.n * took.iv END,
                     circuit_probe_at = CASE WHEN took.open THEN $3 ELSE e.circuit_probe_at END
                   FROM took WHERE e.id = took.id
                 ), upd AS (
                   UPDATE {s}.deliveries d
                   SET lease_token = nextval('{s}.lease_tokens'),
                       lease_expires_at = $3, available_at = $3
                   FROM due WHERE d.seq = due.seq
                   RETURNING d.seq, d.id, d.event_id, d.endpoint_id, d.url, d.state,
                     d.attempts, d.next_attempt_at, d.reason, d.attempts_total, d.lease_token
                 )
                 SELECT d.id, d.event_id, ev.kind, ev.payload, d.endpoint_id, d.url,
                   d.state, d.attempts, d.next_attempt_at, ev.created_at, d.reason,
                   d.attempts_total, d.seq, d.lease_token
                 FROM upd d JOIN due ON due.seq = d.seq
                   JOIN {s}.events ev ON ev.id = d.event_id
                 ORDER BY due.was, due.seq"
    )
}
