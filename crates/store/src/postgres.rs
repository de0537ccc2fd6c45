//! The PostgreSQL store: the database a cluster of nodes shares.
//!
//! # Commit order across nodes
//!
//! Every writer first locks the one row of `feed` (`SELECT head ... FOR UPDATE`), then
//! makes its steps with the versions head + 1, head + 2, ..., then moves the head and
//! commits. The lock is the feed's sequence: a second writer, on any node, waits for it and
//! then reads the head the first committed. So versions are given in commit order and a
//! follower that sees version N has seen every version below it — what a plain `SEQUENCE`
//! cannot promise (a sequence value is taken at insert, not at commit, so a later
//! transaction could commit a higher version first and a follower would skip the lower one
//! when it lands). An advisory lock would serialise writers just as well, but the row lock
//! is released by commit and rollback alike, needs no key agreed on by convention, and holds
//! the head in the same transaction as the changes.
//!
//! Writes are serial, as on SQLite: a write is one short transaction (a 10,000-row import
//! is a few statements of 400 rows), and a phone database changes at human speed.
//!
//! # Push
//!
//! The commit also NOTIFYs [`CHANNEL`] with the new head. A follower's hint is fed by a
//! LISTEN on its own connection; a notification is only a hint (the follower reads the
//! feed from its version), and a lost connection is said as a hint too, so that a follower
//! reconciles after every reconnect.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Postgres};
use tokio::sync::watch;

use crate::sql::{Watcher, hint, sql_store, store_impl};
use crate::{Create, Location, Mode, SqliteStore, Store};

sql_store!(db: Postgres, conn: PgConnection, row: sqlx::postgres::PgRow);

/// The NOTIFY channel every commit signals, with the new head as its payload.
pub const CHANNEL: &str = "phoneboot_changes";

/// How long a node waits for a connection before a read or write fails (the database is
/// then said to be unreachable, and the node serves what it has).
const ACQUIRE: Duration = Duration::from_secs(5);

/// The advisory lock of the account writes that decide a rule over all accounts ("pbac" in
/// ASCII).
const ACCOUNTS_LOCK: i64 = 0x7062_6163;

/// Connections per node: the follower, a listener, and a few writers and readers at once.
const CONNECTIONS: u32 = 8;

/// The PostgreSQL implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    location: Location,
    wake: watch::Sender<Version>,
    listener: Watcher,
}

fn migrator() -> sqlx::migrate::Migrator {
    crate::sql::migrator([
        include_str!("../migrations/postgres/0001_objects.sql"),
        include_str!("../migrations/postgres/0002_files.sql"),
        include_str!("../migrations/postgres/0003_nodes.sql"),
        include_str!("../migrations/postgres/0004_admin.sql"),
    ])
}

impl PgStore {
    /// Connects to the database at `url` and brings its schema up to date. The database
    /// itself must exist (PostgreSQL's `createdb`); its tables are made only if `create`
    /// allows, so that a command pointed at the wrong database does not fill it.
    pub async fn open(url: &str, create: Create) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("phoneboot");
        // One connection first: a server that is down, refuses the user or has no such
        // database says so at once, instead of a pool timing out after ACQUIRE.
        // (Bounded: a host that drops packets would otherwise hold this for TCP's own
        // timeout, minutes.)
        match tokio::time::timeout(ACQUIRE, PgConnection::connect_with(&options)).await {
            Ok(connection) => connection?.close().await?,
            Err(_) => return Err(StoreError::Database(sqlx::Error::PoolTimedOut)),
        }
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .acquire_timeout(ACQUIRE)
            .connect_with(options)
            .await?;
        let location = Location::Postgres(url.to_owned());
        if create == Create::Never {
            let made: bool = sqlx::query_scalar("SELECT to_regclass('feed') IS NOT NULL")
                .fetch_one(&pool)
                .await?;
            if !made {
                pool.close().await;
                return Err(StoreError::Absent(location.to_string()));
            }
        }
        // sqlx takes an advisory lock around migrations: nodes starting at once apply them
        // once.
        migrator().run(&pool).await?;
        let head = head(&pool).await?;
        Ok(Self {
            pool,
            location,
            wake: watch::Sender::new(head),
            listener: Watcher::default(),
        })
    }

    async fn write_in(
        &self,
        writes: &[Write],
        mode: Mode,
        by: Option<&crate::Actor>,
    ) -> Result<Version, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The feed's lock (see the module's documentation). Every statement after it reads
        // what was committed before it was granted.
        let start: Version = sqlx::query_scalar("SELECT head FROM feed WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut *tx)
            .await?;
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
                if head != start {
                    sqlx::query("UPDATE feed SET head = $1 WHERE id = 1")
                        .bind(head)
                        .execute(&mut *tx)
                        .await?;
                    // Delivered at commit, and only if it commits.
                    sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(CHANNEL)
                        .bind(head.to_string())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                self.wake.send_replace(head);
            }
        }
        Ok(head)
    }
}

async fn head<'e>(executor: impl sqlx::PgExecutor<'e>) -> Result<Version, StoreError> {
    Ok(sqlx::query_scalar("SELECT head FROM feed WHERE id = 1")
        .fetch_one(executor)
        .await?)
}

/// Feeds the hint from LISTEN until the store is closed or nobody follows; reconnects with
/// backoff, and hints after every (re)connection, since notifications sent while it was not
/// listening are lost.
async fn listen(pool: PgPool, wake: watch::Sender<Version>) {
    let mut backoff = Duration::from_millis(100);
    while !wake.is_closed() && !pool.is_closed() {
        if let Ok(mut listener) = PgListener::connect_with(&pool).await
            && listener.listen(CHANNEL).await.is_ok()
        {
            backoff = Duration::from_millis(100);
            // Notifications sent before this LISTEN are not delivered: a commit between the
            // follower's read of the database and now (or while the connection was lost) is
            // found by the read this hint causes.
            wake.send_modify(|_| {});
            loop {
                match listener.try_recv().await {
                    Ok(Some(note)) => match note.payload().parse::<Version>() {
                        Ok(head) => hint(&wake, head),
                        Err(_) => wake.send_modify(|_| {}),
                    },
                    // The connection was lost (and is made again on the next call).
                    Ok(None) => wake.send_modify(|_| {}),
                    Err(_) => break,
                }
                if wake.is_closed() {
                    return;
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

impl PgStore {
    /// A write transaction of the accounts, credentials or audit log (SQLite: the write
    /// lock first, so that reading before writing never has to upgrade).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'_, Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// A write that decides a rule over all accounts (the last admin stays): one at a time on
    /// every node, as SQLite's write lock does, and never waiting long for it.
    async fn begin_accounts(&self) -> Result<sqlx::Transaction<'_, Postgres>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET LOCAL lock_timeout = '5s'")
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(ACCOUNTS_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// A read transaction that is one snapshot.
    async fn begin_snapshot(&self) -> Result<sqlx::Transaction<'_, Postgres>, StoreError> {
        Ok(self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?)
    }

    /// The files' serial row locked first: file writers on every node are serial.
    async fn begin_files(&self) -> Result<(sqlx::Transaction<'_, Postgres>, i64), StoreError> {
        let mut tx = self.pool.begin().await?;
        let serial: i64 =
            sqlx::query_scalar("SELECT serial FROM file_serial WHERE id = 1 FOR UPDATE")
                .fetch_one(&mut *tx)
                .await?;
        Ok((tx, serial))
    }

    /// Every node is told at commit (and only if it commits).
    async fn files_changed(tx: &mut PgConnection) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, 'files')")
            .bind(CHANNEL)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    fn watch(&self) {
        let (pool, wake) = (self.pool.clone(), self.wake.clone());
        self.listener.ensure(move || listen(pool, wake));
    }

    /// The backup of a PostgreSQL database is a SQLite file (see [`crate::copy`]), which
    /// `restore` and `db copy` take back into either backend.
    async fn backup_to(&self, to: &Path) -> Result<(), StoreError> {
        let copy = SqliteStore::open(to, Create::IfMissing).await?;
        let copied = crate::copy(self, &copy).await;
        copy.close().await?;
        if copied.is_err() {
            let _ = std::fs::remove_file(to);
        }
        copied.map(|_| ())
    }

    /// The feed's head must be its last change.
    async fn own_checks(&self) -> Result<Vec<String>, StoreError> {
        let (head, last): (Version, Version) = sqlx::query_as(
            "SELECT (SELECT head FROM feed WHERE id = 1), \
             (SELECT COALESCE(MAX(version), 0) FROM changes)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(if head == last {
            Vec::new()
        } else {
            vec![format!(
                "the feed's head is {head} but its last change is {last}"
            )]
        })
    }

    async fn shut(&self) -> Result<(), StoreError> {
        self.listener.stop();
        self.pool.close().await;
        Ok(())
    }
}

store_impl!(PgStore);
