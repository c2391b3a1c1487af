//! The schema's migrations and the runner that applies them.

use super::rows::{corrupt, db_error};
use super::sql::quote;
use super::PgStore;
use crate::store::StoreError;

/// The versioned migrations, oldest first: `(version, SQL)`, with `{schema}`
/// standing for the quoted schema name.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("schema.sql")),
    (2, include_str!("migration_2.sql")),
    (3, include_str!("migration_3.sql")),
    (4, include_str!("migration_4.sql")),
    (5, include_str!("migration_5.sql")),
    (6, include_str!("migration_6.sql")),
    (7, include_str!("migration_7.sql")),
    (8, include_str!("migration_8.sql")),
];

impl PgStore {
    /// The latest schema version [`migrate`](Self::migrate) applies.
    pub const SCHEMA_VERSION: i32 = 8;

    /// The full schema (every migration in order) for schema `schema`, for
    /// hosts applying migrations with their own tool. The schema name is used
    /// as given, double-quoted. A schema created this way is not known to
    /// [`migrate`](Self::migrate), which would try to create it again: use one
    /// or the other (or record the versions in `<schema>.hookwire_migrations`).
    pub fn schema_sql(schema: &str) -> String {
        Self::migrations(schema)
            .into_iter()
            .map(|(_, sql)| sql)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every migration, oldest first, as `(version, SQL)` for schema `schema`.
    /// [`migrate`](Self::migrate) records the versions it applied in
    /// `<schema>.hookwire_migrations`.
    pub fn migrations(schema: &str) -> Vec<(i32, String)> {
        let quoted = quote(schema);
        MIGRATIONS
            .iter()
            .map(|(v, sql)| (*v, sql.replace("{schema}", &quoted)))
            .collect()
    }

    /// Creates the schema and applies the migrations it lacks, in one
    /// transaction under an advisory lock: idempotent, and safe when several
    /// processes start at once.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::Unavailable`](crate::store::StoreErrorKind::Unavailable)
    /// if the database cannot be reached, or another kind if a migration fails
    /// (nothing is applied then).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let quoted = quote(&self.schema);
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('hookwire migrate ' || $1::text))",
            &[&self.schema],
        )
        .await
        .map_err(db_error)?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {quoted};
             CREATE TABLE IF NOT EXISTS {quoted}.hookwire_migrations (
                 version INTEGER PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             );"
        ))
        .await
        .map_err(db_error)?;
        let applied: Vec<i32> = tx
            .query(
                &format!("SELECT version FROM {quoted}.hookwire_migrations"),
                &[],
            )
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(corrupt)?;
        for (version, sql) in Self::migrations(&self.schema) {
            if applied.contains(&version) {
                continue;
            }
            tx.batch_execute(&sql).await.map_err(db_error)?;
            tx.execute(
                &format!("INSERT INTO {quoted}.hookwire_migrations (version) VALUES ($1)"),
                &[&version],
            )
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }
}
