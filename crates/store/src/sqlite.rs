//! The SQLite store: one file, WAL (readers never wait for the writer), foreign keys on,
//! migrations applied when the file is opened.
//!
//! Writers serialise on SQLite's own write lock (`BEGIN IMMEDIATE`), so a write's versions
//! are known once it holds the lock and the feed is in commit order. Another process's
//! commits (the CLI beside a server) are noticed through `PRAGMA data_version`, read on one
//! connection every [`WATCH`]: it changes exactly when another connection has committed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Connection, Sqlite, SqliteConnection};
use tokio::sync::watch;

use crate::sql::{Watcher, sql_store, store_impl};
use crate::{Create, Location, Mode};

sql_store!(db: Sqlite, conn: SqliteConnection, row: sqlx::sqlite::SqliteRow);

/// How often another process's commits are looked for: a pragma read on an idle
/// connection, so that a CLI write reaches a running server well within 50 ms.
pub const WATCH: Duration = Duration::from_millis(15);

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    options: SqliteConnectOptions,
    location: Location,
    /// Moves on every commit made through this handle (its clones included), and on every
    /// commit of another process while someone follows the hint.
    wake: watch::Sender<Version>,
    watcher: Watcher,
}

fn migrator() -> sqlx::migrate::Migrator {
    crate::sql::migrator([
        include_str!("../migrations/sqlite/0001_objects.sql"),
        include_str!("../migrations/sqlite/0002_files.sql"),
        include_str!("../migrations/sqlite/0003_nodes.sql"),
        include_str!("../migrations/sqlite/0004_admin.sql"),
    ])
}

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
            .connect_with(options.clone())
            .await?;
        migrator().run(&pool).await?;
        let head = head(&pool).await?;
        Ok(Self {
            pool,
            options,
            location: Location::Sqlite(PathBuf::from(path)),
            wake: watch::Sender::new(head),
            watcher: Watcher::default(),
        })
    }

    async fn write_in(
        &self,
        writes: &[Write],
        mode: Mode,
        by: Option<&crate::Actor>,
    ) -> Result<Version, StoreError> {
        // IMMEDIATE: take the write lock first, so that a concurrent writer (another process
        // too) waits (busy timeout) instead of failing when a read transaction would have to
        // upgrade. Holding it, the versions this write gets are known in advance: head + 1,
        // head + 2, ... and every check sees the database no other writer can change.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let start = head(&mut *tx).await?;
        let head = match write_steps(&mut tx, writes, start, crate::sql::now(), by).await? {
            Ok(head) => head,
            Err(refused) => {
                tx.rollback().await?;
                return Err(StoreError::Refused(refused));
            }
        };
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

/// Wakes followers when another connection commits, until nobody follows.
async fn watch_data_version(options: SqliteConnectOptions, wake: watch::Sender<Version>) {
    let mut conn = None;
    let mut seen = None;
    while !wake.is_closed() {
        tokio::time::sleep(WATCH).await;
        if conn.is_none() {
            conn = SqliteConnection::connect_with(&options).await.ok();
        }
        let Some(c) = conn.as_mut() else { continue };
        let Ok(version) = sqlx::query_scalar::<_, i64>("PRAGMA data_version")
            .fetch_one(&mut *c)
            .await
        else {
            conn = None;
            continue;
        };
        // Any commit by another connection: objects (the head moves) or stored files (it
        // does not, but the follower must look). The first reading hints too: a commit made
        // after the follower read the database and before this baseline would be missed.
        if seen.replace(version).is_none_or(|v| v != version)
            && let Ok(head) = head(&mut *c).await
        {
            wake.send_modify(|at| *at = head.max(*at));
        }
    }
}

async fn head<'e>(executor: impl sqlx::SqliteExecutor<'e>) -> Result<Version, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM changes")
            .fetch_one(executor)
            .await?,
    )
}

impl SqliteStore {
    /// A write transaction of the accounts, credentials or audit log: the write lock first,
    /// so that reading before writing never has to upgrade.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'_, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The write lock serialises every writer already.
    async fn begin_accounts(&self) -> Result<sqlx::Transaction<'_, Sqlite>, StoreError> {
        self.begin_write().await
    }

    /// A read transaction: in WAL mode, one snapshot from its first read.
    async fn begin_snapshot(&self) -> Result<sqlx::Transaction<'_, Sqlite>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// The write lock first, as for objects; the files' serial under it.
    async fn begin_files(&self) -> Result<(sqlx::Transaction<'_, Sqlite>, i64), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let serial: i64 = sqlx::query_scalar("SELECT serial FROM file_serial WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        Ok((tx, serial))
    }

    /// Other processes see the commit through `data_version`: nothing to send.
    async fn files_changed(_: &mut SqliteConnection) -> Result<(), StoreError> {
        Ok(())
    }

    fn watch(&self) {
        let (options, wake) = (self.options.clone(), self.wake.clone());
        self.watcher
            .ensure(move || watch_data_version(options, wake));
    }

    async fn backup_to(&self, to: &Path) -> Result<(), StoreError> {
        // VACUUM INTO copies one consistent read transaction into a new, compact file
        // (WAL content included) while other connections go on reading and writing.
        sqlx::query("VACUUM INTO $1")
            .bind(to.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// SQLite's own checks: the file's integrity and the foreign keys.
    async fn own_checks(&self) -> Result<Vec<String>, StoreError> {
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
        Ok(problems)
    }

    async fn shut(&self) -> Result<(), StoreError> {
        // TRUNCATE: every page of the log goes into the main file and the log is emptied, so
        // that the main file alone is the whole database (a `cp` of it is complete).
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await?;
        self.pool.close().await;
        self.watcher.stop();
        Ok(())
    }
}

store_impl!(SqliteStore);
