//! The SQLite store: one file, WAL (readers never wait for the writer), foreign keys on,
//! migrations applied when the file is opened.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use phoneboot_model::{Kind, Object};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use tokio::sync::watch;

use crate::constraints::{Facts, Wanted, fold};
use crate::{
    BoxFuture, Change, Create, Location, Mode, Op, Store, StoreError, Stored, Version, Violation,
    Write,
};

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    location: Location,
    /// Moves on every commit made through this handle (its clones included).
    wake: watch::Sender<Version>,
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

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Rows per multi-row statement (at most 6 values each, well under SQLite's variable limit).
const CHUNK: usize = 400;

/// At most this many of an object's users are named when it cannot be deleted.
const USERS_SHOWN: i64 = 3;

impl SqliteStore {
    /// Opens the database file (creating it only if `create` allows) and brings its schema up
    /// to date.
    pub async fn open(path: &Path, create: Create) -> Result<Self, StoreError> {
        if create == Create::Never && !path.exists() {
            return Err(StoreError::Absent(path.display().to_string()));
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(create == Create::IfMissing)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        migrator().run(&pool).await?;
        let head = head(&pool).await?;
        Ok(Self {
            pool,
            location: Location::Sqlite(PathBuf::from(path)),
            wake: watch::Sender::new(head),
        })
    }

    /// Deletes one object after the steps before it were written; `Err` holds some of its
    /// users when others still name it.
    async fn delete(
        tx: &mut SqliteConnection,
        kind: Kind,
        key: &str,
    ) -> Result<Result<String, Vec<(Kind, String)>>, StoreError> {
        let folded = fold(key);
        let users = sqlx::query(
            "SELECT o.kind, o.key FROM refs r JOIN objects o ON o.kind = r.kind AND o.fold = r.fold
             WHERE r.to_kind = $1 AND r.to_fold = $2 ORDER BY o.kind, o.fold LIMIT $3",
        )
        .bind(kind.as_str())
        .bind(&folded)
        .bind(USERS_SHOWN + 1)
        .fetch_all(&mut *tx)
        .await?;
        if !users.is_empty() {
            let mut by = Vec::with_capacity(users.len());
            for row in users {
                let (k, name): (String, String) = (row.try_get(0)?, row.try_get(1)?);
                by.push((parse_kind(&k, &name)?, name));
            }
            return Ok(Err(by));
        }
        let row = sqlx::query("DELETE FROM objects WHERE kind = $1 AND fold = $2 RETURNING key")
            .bind(kind.as_str())
            .bind(&folded)
            .fetch_one(&mut *tx)
            .await?;
        Ok(Ok(row.try_get(0)?))
    }

    /// The facts of `wanted`, read in the write's transaction.
    async fn facts(tx: &mut SqliteConnection, wanted: &Wanted) -> Result<Facts, StoreError> {
        let mut facts = Facts::default();
        for chunk in wanted.keys.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "SELECT kind, fold, key, version FROM objects WHERE (kind, fold) IN (VALUES ",
            );
            push_keys(&mut q, chunk);
            for row in q.build().fetch_all(&mut *tx).await? {
                let (kind, folded, key, version): (String, String, String, Version) = (
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                );
                facts.exists(parse_kind(&kind, &key)?, folded, version, key);
            }
        }
        // Second keys: who holds the ones this write uses, and which ones the written
        // objects hold now (a device changing its MAC frees the old one).
        for chunk in wanted.alts.chunks(CHUNK) {
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
                let (kind, folded, alt, key): (String, String, String, String) = (
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                );
                facts.holds(parse_kind(&kind, &key)?, (folded, key), alt);
            }
        }
        Ok(facts)
    }

    async fn write_in(&self, writes: &[Write], mode: Mode) -> Result<Version, StoreError> {
        // IMMEDIATE: take the write lock first, so that a concurrent writer (another process
        // too) waits (busy timeout) instead of failing when a read transaction would have to
        // upgrade. Holding it, the versions this write gets are known in advance: head + 1,
        // head + 2, ... and every check below sees the database no other writer can change.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let at = now();
        let mut head: Version = head(&mut *tx).await?;
        let mut facts = Self::facts(&mut tx, &Wanted::of(writes)).await?;
        let mut pending: Vec<(Version, &Object)> = Vec::new();
        let mut refused = Vec::new();
        for (index, write) in writes.iter().enumerate() {
            let version = head + 1;
            if let Err(violation) = facts.admit(write, version) {
                refused.push((index, violation));
                continue;
            }
            match write {
                Write::Insert(object) | Write::Put(object) | Write::Update { object, .. } => {
                    pending.push((version, object));
                }
                Write::Delete { kind, key, .. } => {
                    // Earlier puts reach the database first: the delete may concern them.
                    flush(&mut tx, &mut pending, at).await?;
                    let stored = match Self::delete(&mut tx, *kind, key).await? {
                        Ok(stored) => stored,
                        Err(by) => {
                            refused.push((
                                index,
                                Violation::InUse {
                                    kind: *kind,
                                    key: key.clone(),
                                    by,
                                },
                            ));
                            continue;
                        }
                    };
                    sqlx::query(
                        "INSERT INTO changes (version, kind, key, op, at) \
                         VALUES ($1, $2, $3, 'delete', $4)",
                    )
                    .bind(version)
                    .bind(kind.as_str())
                    .bind(&stored)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                    facts.forget(*kind, key);
                }
            }
            head = version;
        }
        // Written even when something was refused or it is a dry run: a rule only the database
        // itself enforces must fail here exactly as it would for real.
        flush(&mut tx, &mut pending, at).await?;
        if !refused.is_empty() {
            tx.rollback().await?;
            return Err(StoreError::Refused(refused));
        }
        match mode {
            Mode::DryRun => tx.rollback().await?,
            Mode::Commit => {
                tx.commit().await?;
                self.wake.send_replace(head);
            }
        }
        Ok(head)
    }
}

async fn head<'e>(executor: impl sqlx::SqliteExecutor<'e>) -> Result<Version, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM changes")
            .fetch_one(executor)
            .await?,
    )
}

fn parse_kind(kind: &str, key: &str) -> Result<Kind, StoreError> {
    Kind::from_str(kind).map_err(|e| StoreError::Corrupt {
        kind: kind.to_owned(),
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

fn decode(kind: &str, key: &str, body: &str, version: Version) -> Result<Stored, StoreError> {
    let k = parse_kind(kind, key)?;
    let object = Object::from_json(k, body).map_err(|e| StoreError::Corrupt {
        kind: kind.to_owned(),
        key: key.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(Stored { object, version })
}

/// Reads `(kind, key, body, version)` rows.
fn decode_rows(rows: Vec<sqlx::sqlite::SqliteRow>) -> Result<Vec<Stored>, StoreError> {
    rows.into_iter()
        .map(|row| {
            let (kind, key, body, version): (String, String, String, Version) = (
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
            );
            decode(&kind, &key, &body, version)
        })
        .collect()
}

/// `(kind, fold), (kind, fold), ...)` for an `IN (VALUES ` list.
fn push_keys(q: &mut QueryBuilder<Sqlite>, keys: &[(Kind, String)]) {
    let mut list = q.separated(", ");
    for (kind, key) in keys {
        list.push("(")
            .push_bind_unseparated(kind.as_str())
            .push_unseparated(", ")
            .push_bind_unseparated(key.clone())
            .push_unseparated(")");
    }
    q.push(")");
}

impl Store for SqliteStore {
    fn location(&self) -> &Location {
        &self.location
    }

    fn load(&self) -> BoxFuture<'_, Result<(Vec<Stored>, Version), StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let version = head(&mut *tx).await?;
            let rows = sqlx::query("SELECT kind, key, body, version FROM objects")
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok((decode_rows(rows)?, version))
        })
    }

    fn head(&self) -> BoxFuture<'_, Result<Version, StoreError>> {
        Box::pin(head(&self.pool))
    }

    fn changes_since(
        &self,
        version: Version,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Change>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT version, kind, key, op FROM changes WHERE version > $1 \
                 ORDER BY version LIMIT $2",
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
                    Ok(Change {
                        version,
                        kind: parse_kind(&kind, &key)?,
                        key,
                        op: if op == "delete" { Op::Delete } else { Op::Put },
                    })
                })
                .collect()
        })
    }

    fn get<'a>(
        &'a self,
        kind: Kind,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Stored>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT kind, key, body, version FROM objects WHERE kind = $1 AND fold = $2",
            )
            .bind(kind.as_str())
            .bind(fold(key))
            .fetch_all(&self.pool)
            .await?;
            Ok(decode_rows(rows)?.pop())
        })
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [(Kind, String)],
    ) -> BoxFuture<'a, Result<Vec<Stored>, StoreError>> {
        Box::pin(async move {
            let mut objects = Vec::with_capacity(keys.len());
            for chunk in keys.chunks(CHUNK) {
                let folded: Vec<(Kind, String)> =
                    chunk.iter().map(|(k, key)| (*k, fold(key))).collect();
                let mut q = QueryBuilder::<Sqlite>::new(
                    "SELECT kind, key, body, version FROM objects WHERE (kind, fold) IN (VALUES ",
                );
                push_keys(&mut q, &folded);
                objects.extend(decode_rows(q.build().fetch_all(&self.pool).await?)?);
            }
            Ok(objects)
        })
    }

    fn list(&self, kind: Kind) -> BoxFuture<'_, Result<Vec<Stored>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT kind, key, body, version FROM objects WHERE kind = $1 ORDER BY fold",
            )
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await?;
            decode_rows(rows)
        })
    }

    fn referrers<'a>(
        &'a self,
        kind: Kind,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Stored>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT o.kind, o.key, o.body, o.version FROM refs r \
                 JOIN objects o ON o.kind = r.kind AND o.fold = r.fold \
                 WHERE r.to_kind = $1 AND r.to_fold = $2 ORDER BY o.kind, o.fold",
            )
            .bind(kind.as_str())
            .bind(fold(key))
            .fetch_all(&self.pool)
            .await?;
            decode_rows(rows)
        })
    }

    fn write<'a>(
        &'a self,
        writes: &'a [Write],
        mode: Mode,
    ) -> BoxFuture<'a, Result<Version, StoreError>> {
        Box::pin(self.write_in(writes, mode))
    }

    fn wake(&self) -> watch::Receiver<Version> {
        self.wake.subscribe()
    }

    fn backup<'a>(&'a self, to: &'a Path) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            if to.exists() {
                return Err(StoreError::Io(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!("{} exists already; a backup never overwrites", to.display()),
                )));
            }
            // VACUUM INTO copies one consistent read transaction into a new, compact file
            // (WAL content included) while other connections go on reading and writing.
            sqlx::query("VACUUM INTO $1")
                .bind(to.to_string_lossy().into_owned())
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            let mut problems = Vec::new();
            for row in sqlx::query("PRAGMA integrity_check")
                .fetch_all(&self.pool)
                .await?
            {
                let line: String = row.try_get(0)?;
                if line != "ok" {
                    problems.push(line);
                }
            }
            for row in sqlx::query("PRAGMA foreign_key_check")
                .fetch_all(&self.pool)
                .await?
            {
                let (table, rowid): (String, Option<i64>) = (row.try_get(0)?, row.try_get(1)?);
                let parent: String = row.try_get(2)?;
                problems.push(format!(
                    "table {table}, row {}: names a missing row of {parent}",
                    rowid.map_or_else(|| "?".into(), |r| r.to_string())
                ));
            }
            // Every row must read as an object of this version of phoneboot.
            for row in sqlx::query("SELECT kind, key, body, version FROM objects")
                .fetch_all(&self.pool)
                .await?
            {
                let (kind, key, body, version): (String, String, String, Version) = (
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                );
                if let Err(e) = decode(&kind, &key, &body, version) {
                    problems.push(e.to_string());
                }
            }
            Ok(problems)
        })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            // TRUNCATE: every page of the log goes into the main file and the log is emptied,
            // so that the main file alone is the whole database (a `cp` of it is complete).
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await?;
            self.pool.close().await;
            Ok(())
        })
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
        let mut last: std::collections::HashMap<(Kind, String), usize> =
            std::collections::HashMap::new();
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
        let keys: Vec<(Kind, String)> = rows
            .iter()
            .map(|(_, o)| (o.kind(), fold(o.key())))
            .collect();
        let mut q = QueryBuilder::<Sqlite>::new("DELETE FROM refs WHERE (kind, fold) IN (VALUES ");
        push_keys(&mut q, &keys);
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
