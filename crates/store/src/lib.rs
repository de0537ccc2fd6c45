//! The device database behind one trait, [`Store`]: objects of the model, written in
//! transactions that each append to a change feed, read back whole as a consistent snapshot.
//!
//! SQLite is the embedded default ([`SqliteStore`]: one file, WAL, foreign keys, migrations
//! applied at open). The SQL is kept to what PostgreSQL runs too, so that a PostgreSQL store
//! can pass the same test battery (`tests/store.rs` is written against the trait).

mod sqlite;

use std::future::Future;
use std::sync::Arc;

use phoneboot_model::{Catalogue, FieldError, Kind, Object, Snapshot};

pub use sqlite::SqliteStore;

/// A position in the change feed. 0: nothing written yet.
pub type Version = i64;

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Put,
    Delete,
}

/// One entry of the change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub version: Version,
    pub kind: Kind,
    pub key: String,
    pub op: Op,
}

/// One step of a write.
// Writes live only as long as one transaction is prepared; boxing the object would cost an
// allocation per row of a 10,000-row import to save stack space nobody runs short of.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    Put(Object),
    Delete(Kind, String),
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write would break a rule of the database (a missing reference, an object still in
    /// use, a duplicate MAC). Nothing of the write was committed.
    #[error("{0}")]
    Refused(FieldError),
    /// The object to change does not exist.
    #[error("{kind} {key:?} does not exist")]
    NotFound { kind: Kind, key: String },
    /// A row the store cannot read (written by a newer version, or edited by hand).
    #[error("database row {kind}/{key} is unreadable: {reason}")]
    Corrupt {
        kind: String,
        key: String,
        reason: String,
    },
    // Not `#[from]`: that would make the inner error the source too, and a report that
    // prints the chain would say everything twice.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Migrate(e)
    }
}

/// The device database.
pub trait Store: Send + Sync + 'static {
    /// Every object and the version they are at, read in one transaction.
    fn load(&self) -> impl Future<Output = Result<(Vec<Object>, Version), StoreError>> + Send;

    /// The latest version.
    fn head(&self) -> impl Future<Output = Result<Version, StoreError>> + Send;

    /// The changes after `version`, oldest first, at most `limit`.
    fn changes_since(
        &self,
        version: Version,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Change>, StoreError>> + Send;

    /// One object.
    fn get(
        &self,
        kind: Kind,
        key: &str,
    ) -> impl Future<Output = Result<Option<Object>, StoreError>> + Send;

    /// The objects named, those that exist, in no particular order (one query per few
    /// hundred keys, for taking in a batch of changes).
    fn get_many(
        &self,
        keys: &[(Kind, String)],
    ) -> impl Future<Output = Result<Vec<Object>, StoreError>> + Send;

    /// Every object of a kind, in name order.
    fn list(&self, kind: Kind) -> impl Future<Output = Result<Vec<Object>, StoreError>> + Send;

    /// Every object that names the object `kind`/`key` (a pool's devices, a user's phones).
    fn referrers(
        &self,
        kind: Kind,
        key: &str,
    ) -> impl Future<Output = Result<Vec<Object>, StoreError>> + Send;

    /// Applies every step in one transaction, or none; returns the new head.
    fn write(&self, writes: Vec<Write>)
    -> impl Future<Output = Result<Version, StoreError>> + Send;
}

/// A whole snapshot of `store`, with the version it is at.
pub async fn snapshot(
    store: &impl Store,
    catalogue: Arc<Catalogue>,
) -> Result<(Snapshot, Version), StoreError> {
    let (objects, version) = store.load().await?;
    let mut snapshot = Snapshot::new(catalogue);
    for object in objects {
        snapshot.put(object);
    }
    Ok((snapshot, version))
}
