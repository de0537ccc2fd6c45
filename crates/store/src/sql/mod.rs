//! The SQL both backends run, written once. The tables are the same on SQLite and
//! PostgreSQL (see `migrations/`), and so is every statement but how a writer takes the
//! feed's lock and where the head is kept.
//!
//! A macro rather than generic functions: sqlx's types are per database, and code generic
//! over `sqlx::Database` needs a bound for every type bound, read and executor — more to
//! read than the SQL itself. Each backend module calls [`sql_store!`] with its types and
//! gets the same functions, type-checked against its driver: `objects.rs` (objects, refs,
//! the change feed), `files.rs` (stored files and node reports), `store_impl.rs` (the
//! `Store` impl over them).

mod admin;
mod files;
mod objects;
mod store_impl;

pub(crate) use admin::admin_sql;
pub(crate) use files::files_sql;
pub(crate) use objects::objects_sql;
pub(crate) use store_impl::store_impl;

use std::str::FromStr;

use phoneboot_model::{Kind, Object};

use crate::{Actor, StoreError, Stored, Version};

/// Rows per multi-row statement (at most 6 values each: well under SQLite's variable limit
/// and PostgreSQL's 65,535 parameters).
pub(crate) const CHUNK: usize = 400;

/// At most this many of an object's users are named when it cannot be deleted.
pub(crate) const USERS_SHOWN: i64 = 3;

/// Unix time, seconds: when a change was made.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub(crate) fn parse_kind(kind: &str, key: &str) -> Result<Kind, StoreError> {
    Kind::from_str(kind).map_err(|e| StoreError::Corrupt {
        kind: kind.to_owned(),
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

pub(crate) fn decode(
    kind: &str,
    key: &str,
    body: &str,
    version: Version,
) -> Result<Stored, StoreError> {
    let k = parse_kind(kind, key)?;
    let object = Object::from_json(k, body).map_err(|e| StoreError::Corrupt {
        kind: kind.to_owned(),
        key: key.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(Stored { object, version })
}

/// The schema's migrations, in order, with each backend's SQL for them (the same tables;
/// types and the PostgreSQL feed row differ).
pub(crate) fn migrator(sql: [&'static str; 4]) -> sqlx::migrate::Migrator {
    use sqlx::migrate::{Migration, MigrationType};
    let names = [
        "objects, refs and the change feed",
        "stored files",
        "node reports",
        "accounts, credentials and the audit log",
    ];
    let migrations = names
        .into_iter()
        .zip(sql)
        .zip(1..)
        .map(|((name, sql), version)| {
            Migration::new(
                version,
                std::borrow::Cow::Borrowed(name),
                MigrationType::Simple,
                sqlx::SqlSafeStr::into_sql_str(sql),
                false,
            )
        })
        .collect();
    sqlx::migrate::Migrator::with_migrations(migrations)
}

/// One entry for the audit log, as a write makes it.
#[derive(Debug)]
pub(crate) struct AuditRow {
    pub(crate) at: i64,
    pub(crate) by: Actor,
    pub(crate) action: &'static str,
    pub(crate) kind: String,
    pub(crate) key: String,
    pub(crate) version: Option<Version>,
    pub(crate) before: Option<String>,
    pub(crate) after: Option<String>,
}

/// Bytes per stored chunk of a file.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// SHA-256 of `content` in hex.
pub(crate) fn digest(content: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Defines, for one backend, the functions every store runs in SQL (see `objects.rs` and
/// `files.rs` for what each part defines).
macro_rules! sql_store {
    (db: $Db:ty, conn: $Conn:ty, row: $Row:ty) => {
        use std::collections::HashMap;

        use phoneboot_model::{Kind, Object};
        use sqlx::{QueryBuilder, Row};

        use crate::admin::account_json;
        use crate::constraints::{Facts, Wanted, fold};
        use crate::sql::{AuditRow, CHUNK, CHUNK_BYTES, USERS_SHOWN, decode, digest, parse_kind};
        use crate::{
            Account, Actor, AuditEntry, AuditQuery, Change, Credential, CredentialKind,
            MAX_FILE_BYTES, NodeReport, Op, StoreError, Stored, StoredFile, Version, Violation,
            Write,
        };

        crate::sql::objects_sql!($Db, $Conn, $Row);
        crate::sql::files_sql!($Db, $Conn, $Row);
        crate::sql::admin_sql!($Db, $Conn, $Row);
    };
}

pub(crate) use sql_store;

/// The task that turns a backend's own signal (SQLite's `data_version`, PostgreSQL's
/// NOTIFY) into the wake hint: started when the hint is first asked for — a CLI that never
/// follows runs none — and stopped when the store is closed.
#[derive(Debug, Default, Clone)]
pub(crate) struct Watcher(std::sync::Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>);

impl Watcher {
    /// Starts the task that `start` makes, unless one runs. Outside a runtime, nothing.
    pub(crate) fn ensure<F>(&self, start: impl FnOnce() -> F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(mut task) = self.0.lock() else { return };
        if task.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        *task = Some(runtime.spawn(start()));
    }

    pub(crate) fn stop(&self) {
        if let Some(task) = self.0.lock().ok().and_then(|mut t| t.take()) {
            task.abort();
        }
    }
}

/// Moves the hint to `head` if that is news.
pub(crate) fn hint(wake: &tokio::sync::watch::Sender<Version>, head: Version) {
    wake.send_if_modified(|at| {
        let moved = head > *at;
        *at = head.max(*at);
        moved
    });
}
