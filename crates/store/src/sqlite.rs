//! The SQLite store: one file, WAL (readers never wait for the writer), foreign keys on,
//! migrations applied when the file is opened.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use phoneboot_model::{FieldError, Kind, Object};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Row, SqliteConnection};

use crate::{Change, Op, Store, StoreError, Version, Write};

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

fn migrator() -> Migrator {
    let migrations = vec![Migration::new(
        1,
        Cow::Borrowed("objects, refs and the change feed"),
        MigrationType::Simple,
        sqlx::SqlSafeStr::into_sql_str(include_str!("../migrations/sqlite/0001_objects.sql")),
        false,
    )];
    Migrator::with_migrations(migrations)
}

fn fold(key: &str) -> String {
    key.to_ascii_lowercase()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn refused(field: impl Into<String>, reason: impl Into<String>) -> StoreError {
    StoreError::Refused(FieldError::new(field, reason))
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        migrator().run(&pool).await?;
        Ok(Self { pool })
    }

    async fn put(
        tx: &mut SqliteConnection,
        object: &Object,
        version: Version,
    ) -> Result<(), StoreError> {
        let kind = object.kind();
        let key = object.key();
        let folded = fold(key);
        for (to_kind, to_key) in object.refs() {
            let exists = sqlx::query("SELECT 1 FROM objects WHERE kind = $1 AND fold = $2")
                .bind(to_kind.as_str())
                .bind(fold(&to_key))
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(refused(
                    ref_field(to_kind),
                    format!("{to_kind} {to_key:?} does not exist; add it first"),
                ));
            }
        }
        if let Some(alt) = object.alt_key() {
            let owner =
                sqlx::query("SELECT key FROM objects WHERE kind = $1 AND alt = $2 AND fold <> $3")
                    .bind(kind.as_str())
                    .bind(&alt)
                    .bind(&folded)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(row) = owner {
                let other: String = row.try_get(0)?;
                return Err(refused(
                    "mac",
                    format!("{alt} already belongs to {kind} {other:?}"),
                ));
            }
        }
        sqlx::query(
            "INSERT INTO objects (kind, fold, key, alt, body, version) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (kind, fold) DO UPDATE SET
                 key = excluded.key, alt = excluded.alt, body = excluded.body,
                 version = excluded.version",
        )
        .bind(kind.as_str())
        .bind(&folded)
        .bind(key)
        .bind(object.alt_key())
        .bind(object.to_json())
        .bind(version)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM refs WHERE kind = $1 AND fold = $2")
            .bind(kind.as_str())
            .bind(&folded)
            .execute(&mut *tx)
            .await?;
        for (to_kind, to_key) in object.refs() {
            sqlx::query("INSERT INTO refs (kind, fold, to_kind, to_fold) VALUES ($1, $2, $3, $4)")
                .bind(kind.as_str())
                .bind(&folded)
                .bind(to_kind.as_str())
                .bind(fold(&to_key))
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }

    async fn delete(
        tx: &mut SqliteConnection,
        kind: Kind,
        key: &str,
    ) -> Result<String, StoreError> {
        let folded = fold(key);
        let users = sqlx::query(
            "SELECT o.kind, o.key FROM refs r JOIN objects o ON o.kind = r.kind AND o.fold = r.fold
             WHERE r.to_kind = $1 AND r.to_fold = $2 ORDER BY o.kind, o.fold LIMIT 4",
        )
        .bind(kind.as_str())
        .bind(&folded)
        .fetch_all(&mut *tx)
        .await?;
        if !users.is_empty() {
            let names: Vec<String> = users
                .iter()
                .take(3)
                .map(|r| {
                    let k: String = r.try_get(0).unwrap_or_default();
                    let n: String = r.try_get(1).unwrap_or_default();
                    format!("{k} {n:?}")
                })
                .collect();
            let more = if users.len() > 3 { " and more" } else { "" };
            return Err(refused(
                kind.as_str(),
                format!(
                    "{kind} {key:?} is used by {}{more}; change those first",
                    names.join(", ")
                ),
            ));
        }
        let row = sqlx::query("DELETE FROM objects WHERE kind = $1 AND fold = $2 RETURNING key")
            .bind(kind.as_str())
            .bind(&folded)
            .fetch_optional(&mut *tx)
            .await?;
        match row {
            Some(row) => Ok(row.try_get(0)?),
            None => Err(StoreError::NotFound {
                kind,
                key: key.to_owned(),
            }),
        }
    }
}

/// The field of a referring object that names an object of `kind`.
fn ref_field(kind: Kind) -> &'static str {
    match kind {
        Kind::CallManager => "members",
        Kind::CmGroup => "cm_group",
        Kind::DateTimeGroup => "date_time",
        Kind::DevicePool => "pool",
        Kind::DialPlan => "dial_plan",
        Kind::Softkeys => "softkeys",
        Kind::FeaturePolicy => "feature_policy",
        Kind::User => "user",
        Kind::Device => "device",
        Kind::Params => "params",
    }
}

fn decode(kind: &str, key: &str, body: &str) -> Result<Object, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        kind: kind.to_owned(),
        key: key.to_owned(),
        reason,
    };
    let k = Kind::from_str(kind).map_err(|e| corrupt(e.to_string()))?;
    Object::from_json(k, body).map_err(|e| corrupt(e.to_string()))
}

impl Store for SqliteStore {
    async fn load(&self) -> Result<(Vec<Object>, Version), StoreError> {
        let mut tx = self.pool.begin().await?;
        let version: Version = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM changes")
            .fetch_one(&mut *tx)
            .await?;
        let rows = sqlx::query("SELECT kind, key, body FROM objects")
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut objects = Vec::with_capacity(rows.len());
        for row in rows {
            let (kind, key, body): (String, String, String) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            objects.push(decode(&kind, &key, &body)?);
        }
        Ok((objects, version))
    }

    async fn head(&self) -> Result<Version, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM changes")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn changes_since(&self, version: Version, limit: u32) -> Result<Vec<Change>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, kind, key, op FROM changes WHERE version > $1 ORDER BY version LIMIT $2",
        )
        .bind(version)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let (version, kind, key, op): (Version, String, String, String) = (
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                );
                let kind = Kind::from_str(&kind).map_err(|e| StoreError::Corrupt {
                    kind: kind.clone(),
                    key: key.clone(),
                    reason: e.to_string(),
                })?;
                let op = if op == "delete" { Op::Delete } else { Op::Put };
                Ok(Change {
                    version,
                    kind,
                    key,
                    op,
                })
            })
            .collect()
    }

    async fn get(&self, kind: Kind, key: &str) -> Result<Option<Object>, StoreError> {
        let row = sqlx::query("SELECT key, body FROM objects WHERE kind = $1 AND fold = $2")
            .bind(kind.as_str())
            .bind(fold(key))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let (key, body): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            decode(kind.as_str(), &key, &body)
        })
        .transpose()
    }

    async fn list(&self, kind: Kind) -> Result<Vec<Object>, StoreError> {
        let rows = sqlx::query("SELECT key, body FROM objects WHERE kind = $1 ORDER BY fold")
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                let (key, body): (String, String) = (row.try_get(0)?, row.try_get(1)?);
                decode(kind.as_str(), &key, &body)
            })
            .collect()
    }

    async fn write(&self, writes: Vec<Write>) -> Result<Version, StoreError> {
        // IMMEDIATE: take the write lock first, so that a concurrent writer waits (busy
        // timeout) instead of failing when a read transaction would have to upgrade.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let at = now();
        let mut head: Version = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM changes")
            .fetch_one(&mut *tx)
            .await?;
        for write in &writes {
            let (kind, key, op) = match write {
                Write::Put(o) => (o.kind(), o.key().to_owned(), "put"),
                // The key as it was stored, so the feed names it as readers know it.
                Write::Delete(kind, key) => {
                    (*kind, Self::delete(&mut tx, *kind, key).await?, "delete")
                }
            };
            head = sqlx::query_scalar(
                "INSERT INTO changes (kind, key, op, at) VALUES ($1, $2, $3, $4) RETURNING version",
            )
            .bind(kind.as_str())
            .bind(&key)
            .bind(op)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            if let Write::Put(object) = write {
                Self::put(&mut tx, object, head).await?;
            }
        }
        tx.commit().await?;
        Ok(head)
    }
}
