//! Shared by the PostgreSQL test crates: the database URL (or a loud skip),
//! and a fresh store in a schema of its own per test and per process.
#![allow(dead_code)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use hookwire::store::PgStore;

/// The variable naming the test database.
pub const URL_VAR: &str = "HOOKWIRE_TEST_DATABASE_URL";

/// The test database's URL; `None` (after saying so loudly) on a developer
/// machine without one. Under `CI=true` a missing URL fails the test.
pub fn database_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{URL_VAR} is not set but CI=true: the PostgreSQL suite must run in CI \
                     (for example {URL_VAR}=postgres://postgres@127.0.0.1:5432/test)"
                );
            }
            // Straight to stderr, past the test harness's output capture,
            // once per test binary.
            static LOUD: std::sync::Once = std::sync::Once::new();
            LOUD.call_once(|| {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** SKIPPED: postgres tests need {URL_VAR} \
                     (for example postgres://postgres@127.0.0.1:5432/test) ***\n"
                );
            });
            None
        }
    }
}

/// This process's tag: its pid and a random number, so that test runs
/// sharing one database (other worktrees, other checkouts) never use the same
/// schema.
fn process_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let random = RandomState::new().build_hasher().finish();
        format!("p{}_{:08x}", std::process::id(), random as u32)
    })
}

/// The schema this process uses for `base` (a test's own name, such as
/// `hw_test_leasers`): `base` with the process's tag, the same for every call
/// in one process.
///
/// # Panics
///
/// If the name would be longer than PostgreSQL's 63 bytes.
pub fn schema_name(base: &str) -> String {
    let name = format!("{base}_{}", process_tag());
    assert!(name.len() <= 63, "schema name {name:?} is over 63 bytes");
    name
}

/// A store over a pool of `connections` in this process's schema for `base`
/// ([`schema_name`]), dropped and migrated afresh. Fails (never skips) when
/// the database cannot be reached.
pub async fn fresh_store(url: &str, base: &str, connections: usize) -> PgStore {
    let store = store(url, base, connections);
    let schema = store.schema().to_owned();
    let client = store
        .pool()
        .get()
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test database at {url}: {e}"));
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .expect("drop the test schema");
    drop(client);
    store.migrate().await.expect("migrate");
    store
}

/// A store over a new pool in this process's schema for `base`
/// ([`schema_name`]), as it is (no reset).
pub fn store(url: &str, base: &str, connections: usize) -> PgStore {
    PgStore::connect(url, connections)
        .expect("valid database URL")
        .with_schema(&schema_name(base))
        .expect("valid schema name")
}

/// Drops the store's schema: a test that passed leaves nothing behind (one
/// that failed leaves its schema to look at).
pub async fn drop_schema(store: &PgStore) {
    let client = store.pool().get().await.expect("database reachable");
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
            store.schema()
        ))
        .await
        .expect("drop the test schema");
}

/// Empties every table of the store's schema.
pub async fn truncate(store: &PgStore) {
    let client = store.pool().get().await.expect("database reachable");
    let s = store.schema();
    client
        .batch_execute(&format!(
            "TRUNCATE \"{s}\".endpoints, \"{s}\".events, \"{s}\".deliveries, \"{s}\".attempts, \
             \"{s}\".ledger, \"{s}\".skips RESTART IDENTITY"
        ))
        .await
        .expect("truncate");
}

/// Counts deliveries per state: (pending, succeeded, dead).
pub async fn counts(store: &PgStore) -> (i64, i64, i64) {
    let client = store.pool().get().await.expect("database reachable");
    let s = store.schema();
    let row = client
        .query_one(
            &format!(
                "SELECT count(*) FILTER (WHERE state = 'pending'),
                        count(*) FILTER (WHERE state = 'succeeded'),
                        count(*) FILTER (WHERE state = 'dead')
                 FROM \"{s}\".deliveries"
            ),
            &[],
        )
        .await
        .expect("count deliveries");
    (row.get(0), row.get(1), row.get(2))
}

pub mod receiver;

/// Waits until all `n` deliveries succeeded, failing if one died or if
/// `within` passes from `since`.
pub async fn wait_all_succeeded(
    store: &PgStore,
    n: i64,
    since: std::time::Instant,
    within: std::time::Duration,
) {
    loop {
        let (pending, succeeded, dead) = counts(store).await;
        assert_eq!(dead, 0, "a delivery died");
        if succeeded == n {
            assert_eq!(pending, 0);
            return;
        }
        assert!(
            since.elapsed() < within,
            "not all delivered: {pending} pending, {succeeded} succeeded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Stops worker processes with SIGTERM and waits for each; every one must
/// exit successfully. Returns what each printed.
pub fn stop_workers(workers: Vec<std::process::Child>) -> Vec<String> {
    for w in &workers {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &w.id().to_string()])
            .status();
    }
    workers
        .into_iter()
        .map(|w| {
            let out = w.wait_with_output().expect("worker exits");
            assert!(out.status.success(), "a worker failed: {:?}", out.status);
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
        .collect()
}

/// Publishes `n` events `{"seq":k}`, one after the other (so publish order
/// is sequence order), through a dispatcher over `store`.
pub async fn publish_seq(store: &PgStore, n: usize) {
    let dispatcher = hookwire::dispatch::Dispatcher::builder(
        hookwire::testing::MockTransport::new(Vec::new()),
        store.clone(),
    )
    .build()
    .unwrap();
    for seq in 0..n {
        dispatcher
            .publish_json("startExperience", format!(r#"{{"seq":{seq}}}"#))
            .await
            .unwrap();
    }
}
