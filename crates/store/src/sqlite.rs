//! The SQLite store: one file, WAL (readers never wait for the writer), foreign keys on,
//! migrations applied when the file is opened.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use phoneboot_model::{FieldError, Kind, Object};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

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

    async fn get_many(&self, keys: &[(Kind, String)]) -> Result<Vec<Object>, StoreError> {
        let mut objects = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "SELECT kind, key, body FROM objects WHERE (kind, fold) IN (VALUES ",
            );
            let mut list = q.separated(", ");
            for (kind, key) in chunk {
                list.push("(")
                    .push_bind_unseparated(kind.as_str())
                    .push_unseparated(", ")
                    .push_bind_unseparated(fold(key))
                    .push_unseparated(")");
            }
            q.push(")");
            for row in q.build().fetch_all(&self.pool).await? {
                let (kind, key, body): (String, String, String) =
                    (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                objects.push(decode(&kind, &key, &body)?);
            }
        }
        Ok(objects)
    }

    async fn referrers(&self, kind: Kind, key: &str) -> Result<Vec<Object>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.kind, o.key, o.body FROM refs r JOIN objects o ON o.kind = r.kind AND o.fold = r.fold
             WHERE r.to_kind = $1 AND r.to_fold = $2 ORDER BY o.kind, o.fold",
        )
        .bind(kind.as_str())
        .bind(fold(key))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let (kind, key, body): (String, String, String) =
                    (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                decode(&kind, &key, &body)
            })
            .collect()
    }

    async fn write(&self, writes: Vec<Write>) -> Result<Version, StoreError> {
        // IMMEDIATE: take the write lock first, so that a concurrent writer waits (busy
        // timeout) instead of failing when a read transaction would have to upgrade. Holding
        // it, the versions this write gets are known in advance: head + 1, head + 2, ...
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let at = now();
        let mut head: Version = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM changes")
            .fetch_one(&mut *tx)
            .await?;
        let mut known = Known::load(&mut tx, &writes).await?;
        let mut pending: Vec<(Version, &Object)> = Vec::new();
        for write in &writes {
            head += 1;
            match write {
                Write::Put(object) => {
                    known.admit(object)?;
                    pending.push((head, object));
                }
                Write::Delete(kind, key) => {
                    // Earlier puts reach the database first: the delete may concern them.
                    flush(&mut tx, &mut pending, at).await?;
                    let stored = Self::delete(&mut tx, *kind, key).await?;
                    sqlx::query(
                        "INSERT INTO changes (version, kind, key, op, at) \
                         VALUES ($1, $2, $3, 'delete', $4)",
                    )
                    .bind(head)
                    .bind(kind.as_str())
                    .bind(&stored)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                    known.forget(*kind, key);
                }
            }
        }
        flush(&mut tx, &mut pending, at).await?;
        tx.commit().await?;
        Ok(head)
    }
}

/// Rows per multi-row statement (at most 6 values each, well under SQLite's variable limit).
const CHUNK: usize = 400;

/// What a write must know of the database to check its puts without a query per row: which
/// of the objects they name exist, and who holds the second keys (MACs) they use. Updated as
/// the write goes, so that one batch may add a pool and then devices in it.
struct Known {
    present: HashSet<(Kind, String)>,
    /// (kind, second key) -> (folded key, key as stored) of its holder.
    alt_owner: HashMap<(Kind, String), (String, String)>,
    alt_of: HashMap<(Kind, String), String>,
}

impl Known {
    async fn load(tx: &mut SqliteConnection, writes: &[Write]) -> Result<Self, StoreError> {
        let puts: Vec<&Object> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Put(o) => Some(o),
                Write::Delete(..) => None,
            })
            .collect();
        let mut wanted: Vec<(Kind, String)> = puts
            .iter()
            .flat_map(|o| o.refs())
            .map(|(k, key)| (k, fold(&key)))
            .collect();
        wanted.sort();
        wanted.dedup();
        let mut present = HashSet::new();
        for chunk in wanted.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "SELECT kind, fold FROM objects WHERE (kind, fold) IN (VALUES ",
            );
            let mut list = q.separated(", ");
            for (kind, key) in chunk {
                list.push("(")
                    .push_bind_unseparated(kind.as_str())
                    .push_unseparated(", ")
                    .push_bind_unseparated(key.as_str())
                    .push_unseparated(")");
            }
            q.push(")");
            for row in q.build().fetch_all(&mut *tx).await? {
                let (kind, key): (String, String) = (row.try_get(0)?, row.try_get(1)?);
                if let Ok(kind) = Kind::from_str(&kind) {
                    present.insert((kind, key));
                }
            }
        }
        // Second keys: who holds the ones this write uses, and which ones the written
        // objects hold now (a device changing its MAC frees the old one).
        let mut alt_owner = HashMap::new();
        let mut alt_of = HashMap::new();
        let with_alt: Vec<(String, String)> = puts
            .iter()
            .filter_map(|o| o.alt_key().map(|a| (fold(o.key()), a)))
            .collect();
        for chunk in with_alt.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "SELECT kind, fold, alt, key FROM objects WHERE alt IS NOT NULL AND (alt IN (",
            );
            let mut list = q.separated(", ");
            for (_, alt) in chunk {
                list.push_bind(alt.as_str());
            }
            q.push(") OR fold IN (");
            let mut list = q.separated(", ");
            for (key, _) in chunk {
                list.push_bind(key.as_str());
            }
            q.push("))");
            for row in q.build().fetch_all(&mut *tx).await? {
                let (kind, key, alt, stored): (String, String, String, String) = (
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                );
                if let Ok(kind) = Kind::from_str(&kind) {
                    alt_owner.insert((kind, alt.clone()), (key.clone(), stored));
                    alt_of.insert((kind, key), alt);
                }
            }
        }
        Ok(Self {
            present,
            alt_owner,
            alt_of,
        })
    }

    /// Checks one put against what exists (in the database or earlier in this write), and
    /// records it.
    fn admit(&mut self, object: &Object) -> Result<(), StoreError> {
        let kind = object.kind();
        let key = fold(object.key());
        for (to_kind, to_key) in object.refs() {
            if !self.present.contains(&(to_kind, fold(&to_key))) {
                return Err(refused(
                    ref_field(to_kind),
                    format!("{to_kind} {to_key:?} does not exist; add it first"),
                ));
            }
        }
        if let Some(alt) = object.alt_key() {
            if let Some((owner_key, owner)) = self.alt_owner.get(&(kind, alt.clone()))
                && *owner_key != key
            {
                return Err(refused(
                    "mac",
                    format!("{alt} already belongs to {kind} {owner:?}"),
                ));
            }
            if let Some(old) = self.alt_of.insert((kind, key.clone()), alt.clone()) {
                self.alt_owner.remove(&(kind, old));
            }
            self.alt_owner
                .insert((kind, alt), (key.clone(), object.key().to_owned()));
        }
        self.present.insert((kind, key));
        Ok(())
    }

    fn forget(&mut self, kind: Kind, key: &str) {
        let key = fold(key);
        if let Some(alt) = self.alt_of.remove(&(kind, key.clone())) {
            self.alt_owner.remove(&(kind, alt));
        }
        self.present.remove(&(kind, key));
    }
}

/// Writes the pending puts: their change rows, the objects and their references, a chunk of
/// rows per statement.
async fn flush(
    tx: &mut SqliteConnection,
    pending: &mut Vec<(Version, &Object)>,
    at: i64,
) -> Result<(), StoreError> {
    for chunk in pending.chunks(CHUNK) {
        let mut q =
            QueryBuilder::<Sqlite>::new("INSERT INTO changes (version, kind, key, op, at) ");
        q.push_values(chunk, |mut row, (version, object)| {
            row.push_bind(*version)
                .push_bind(object.kind().as_str())
                .push_bind(object.key())
                .push_bind("put")
                .push_bind(at);
        });
        q.build().execute(&mut *tx).await?;
        // The same object twice in a chunk: its last state is the one kept.
        let mut last: HashMap<(Kind, String), usize> = HashMap::new();
        for (i, (_, o)) in chunk.iter().enumerate() {
            last.insert((o.kind(), fold(o.key())), i);
        }
        let rows: Vec<&(Version, &Object)> = chunk
            .iter()
            .enumerate()
            .filter(|(i, (_, o))| last.get(&(o.kind(), fold(o.key()))) == Some(i))
            .map(|(_, row)| row)
            .collect();
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO objects (kind, fold, key, alt, body, version) ",
        );
        q.push_values(&rows, |mut row, (version, object)| {
            row.push_bind(object.kind().as_str())
                .push_bind(fold(object.key()))
                .push_bind(object.key())
                .push_bind(object.alt_key())
                .push_bind(object.to_json())
                .push_bind(*version);
        });
        q.push(
            " ON CONFLICT (kind, fold) DO UPDATE SET key = excluded.key, alt = excluded.alt, \
             body = excluded.body, version = excluded.version",
        );
        q.build().execute(&mut *tx).await?;
        let mut q = QueryBuilder::<Sqlite>::new("DELETE FROM refs WHERE (kind, fold) IN (VALUES ");
        let mut list = q.separated(", ");
        for (_, o) in &rows {
            list.push("(")
                .push_bind_unseparated(o.kind().as_str())
                .push_unseparated(", ")
                .push_bind_unseparated(fold(o.key()))
                .push_unseparated(")");
        }
        q.push(")");
        q.build().execute(&mut *tx).await?;
        let refs: Vec<(Kind, String, Kind, String)> = rows
            .iter()
            .flat_map(|(_, o)| {
                let (kind, key) = (o.kind(), fold(o.key()));
                o.refs()
                    .into_iter()
                    .map(move |(tk, tkey)| (kind, key.clone(), tk, fold(&tkey)))
            })
            .collect();
        for part in refs.chunks(CHUNK) {
            let mut q =
                QueryBuilder::<Sqlite>::new("INSERT INTO refs (kind, fold, to_kind, to_fold) ");
            q.push_values(part, |mut row, (kind, key, to_kind, to_key)| {
                row.push_bind(kind.as_str())
                    .push_bind(key.as_str())
                    .push_bind(to_kind.as_str())
                    .push_bind(to_key.as_str());
            });
            q.build().execute(&mut *tx).await?;
        }
    }
    pending.clear();
    Ok(())
}
