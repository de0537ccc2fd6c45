//! The device database behind one object-safe trait, [`Store`]: objects of the model, written
//! in transactions that each append to a change feed, read back whole as a consistent
//! snapshot. A store is chosen at run time by its [`Location`] (`sqlite:phoneboot.db`, a bare
//! path) and used as `Arc<dyn Store>`.
//!
//! The store keeps the database's integrity — every name an object uses exists, an object in
//! use is not deleted, a second key (a device's MAC) belongs to one object, an insert finds
//! no object, an update finds the version it was made against — inside the write's own
//! transaction, so that several writers (CLI, API, nodes) cannot race past a check. It
//! reports what a step would break as a [`Violation`], a fact with the step's index; what to
//! tell a person, and every other rule, belongs to the domain layer above it.
//!
//! SQLite is the embedded default ([`SqliteStore`]: one file, WAL, foreign keys, migrations
//! applied at open); PostgreSQL ([`PgStore`]) is the database a cluster of nodes shares. Both
//! run the same SQL (`sql.rs`) on the same tables; `tests/battery.rs` runs the same tests
//! against both through the trait.

mod admin;
mod constraints;
mod location;
mod postgres;
mod sql;
mod sqlite;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use phoneboot_model::{Catalogue, Kind, Object, Snapshot};
use tokio::sync::watch;

pub use admin::{
    AUDIT_PAGE_MAX, Account, AccountChange, Actor, AuditEntry, AuditQuery, Credential,
    CredentialKind, Event,
};
pub use location::{Location, LocationError, redact};
pub use postgres::{CHANNEL, PgStore};
pub use sqlite::{SqliteStore, WATCH};

/// A position in the change feed. 0: nothing written yet.
pub type Version = i64;

/// A boxed future, so that [`Store`] can be used as `dyn Store`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An object as stored, with the version of the change that last wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub object: Object,
    pub version: Version,
}

/// A custom file stored in the database (a ring tone, background, locale or firmware load),
/// served by every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// The relative path as stored, '/'-separated; names match in any case.
    pub name: String,
    /// SHA-256 of the content, 64 lower-case hex digits: where the content is kept, and the
    /// file's HTTP validator on every node.
    pub digest: String,
    pub size: u64,
    /// When it was stored, Unix seconds: its Last-Modified on every node.
    pub at: i64,
}

/// What one node of a cluster last said of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    /// The node's name (unique in the cluster).
    pub name: String,
    /// When it started, Unix seconds.
    pub started: i64,
    /// When it wrote this, Unix seconds.
    pub seen: i64,
    /// Its counters, `Name value` lines in RTMT's names.
    pub counters: String,
}

/// Largest file the database takes (a firmware load is tens of MB; this bounds what one
/// upload holds in memory).
pub const MAX_FILE_BYTES: usize = 1 << 30;

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
    /// When it was committed, Unix seconds.
    pub at: i64,
}

/// The order of a page of objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By name, in any case.
    Name,
    NameDescending,
    /// By the version that last wrote them (then by name): the least recently changed first.
    Version,
    VersionDescending,
}

/// Where a page starts: after the object of this name (and version, for the version orders).
/// Ordered as the version orders are: by version, then by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub version: Version,
    pub name: String,
}

/// One step of a write, with the condition it is made under.
// Writes live only as long as one transaction is prepared; boxing the object would cost an
// allocation per row of a 10,000-row import to save stack space nobody runs short of.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Adds an object that must not exist yet.
    Insert(Object),
    /// Replaces an object that must be at `expected` (optimistic concurrency: a change made
    /// against version N fails cleanly if the object moved since).
    Update { object: Object, expected: Version },
    /// Adds or replaces, whatever is there.
    Put(Object),
    /// Removes an object, which must be at `expected` when one is given.
    Delete {
        kind: Kind,
        key: String,
        expected: Option<Version>,
    },
}

impl Write {
    /// The object the step writes or removes: (kind, key as given).
    pub fn target(&self) -> (Kind, &str) {
        match self {
            Self::Insert(o) | Self::Put(o) | Self::Update { object: o, .. } => (o.kind(), o.key()),
            Self::Delete { kind, key, .. } => (*kind, key),
        }
    }

    /// The object written, if the step writes one.
    pub fn object(&self) -> Option<&Object> {
        match self {
            Self::Insert(o) | Self::Put(o) | Self::Update { object: o, .. } => Some(o),
            Self::Delete { .. } => None,
        }
    }
}

/// Whether a write is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Commit,
    /// Every step is made and checked exactly as for real, then the transaction is rolled
    /// back: what a dry run reports is what the real write would do.
    DryRun,
}

/// What one step of a write would break. Nothing of the write is kept when any step has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// An insert of an object that exists (`key` as stored).
    Exists { kind: Kind, key: String },
    /// An update or delete of an object that does not exist.
    Missing { kind: Kind, key: String },
    /// An update or delete made against a version the object is no longer at.
    Moved {
        kind: Kind,
        key: String,
        expected: Version,
        found: Version,
    },
    /// The object names one that does not exist (nor is written earlier in the batch).
    Dangling { kind: Kind, key: String },
    /// A delete of an object others name; `by` holds some of them (kind, key as stored).
    InUse {
        kind: Kind,
        key: String,
        by: Vec<(Kind, String)>,
    },
    /// A second key (a device's MAC) another object holds.
    Taken {
        kind: Kind,
        alt: String,
        holder: String,
    },
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Steps of the write break the database's rules: each with its index in the write.
    /// Nothing of the write was kept.
    #[error("{} step(s) of the write break the database's rules", .0.len())]
    Refused(Vec<(usize, Violation)>),
    /// The database does not exist and was not to be created.
    #[error("{0} does not exist")]
    Absent(String),
    /// A row the store cannot read (written by a newer version, or edited by hand).
    #[error("database row {kind}/{key} is unreadable: {reason}")]
    Corrupt {
        kind: String,
        key: String,
        reason: String,
    },
    /// A copy's target holds objects already.
    #[error(
        "{0} is not empty: a copy goes into an empty database (to replace what a database holds, use `phoneboot db restore`)"
    )]
    NotEmpty(String),
    /// A file larger than [`MAX_FILE_BYTES`].
    #[error("{name}: {size} bytes; the database takes files of at most {MAX_FILE_BYTES} bytes")]
    TooLarge { name: String, size: usize },
    /// Two databases meant to be the same are not.
    #[error("{0}")]
    Differs(String),
    // Not `#[from]`: that would make the inner error the source too, and a report that
    // prints the chain would say everything twice.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    #[error("{0}")]
    Io(std::io::Error),
}

impl StoreError {
    /// True when the database did not answer (down, unreachable, too slow to give a
    /// connection), as opposed to answering with a refusal: what a node rides out by serving
    /// what it has.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Database(
                sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::Tls(_)
                | sqlx::Error::WorkerCrashed,
            ) => true,
            // PostgreSQL answering that it cannot serve now: shutting down (57P01, 57P02),
            // starting up or in recovery after a crash (57P03), out of connections (53300),
            // or a connection failure (08000, 08001, 08003, 08004, 08006). Not a dropped
            // database (57P04) nor a protocol violation (08P01): they do not mend.
            Self::Database(sqlx::Error::Database(e)) => e.code().is_some_and(|code| {
                matches!(
                    &*code,
                    "57P01"
                        | "57P02"
                        | "57P03"
                        | "53300"
                        | "08000"
                        | "08001"
                        | "08003"
                        | "08004"
                        | "08006"
                )
            }),
            _ => false,
        }
    }
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

/// Whether opening may create the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Create it if it is missing (`init`, and `serve`'s first start).
    IfMissing,
    /// It must exist: a typo must not make a new, empty database.
    Never,
}

/// The device database.
///
/// # The change feed
///
/// Every step of a committed write appends one [`Change`]. A follower that has taken in
/// version N reads [`changes_since(N)`](Self::changes_since) and may rely on this:
///
/// - versions are strictly increasing, one per step, and a write's steps get consecutive
///   ones;
/// - the feed is in commit order: a change is never visible before one committed earlier;
/// - there are no gaps a follower can see: once version N is visible, so is every version
///   below it, so `changes_since` never skips a change that shows up later;
/// - [`wake`](Self::wake) is a hint, not a channel of changes: it moves when this handle or
///   anyone else may have committed (SQLite: another connection's commit seen through
///   `data_version`; PostgreSQL: a NOTIFY), and a follower then reads the feed. It may move
///   with nothing new (once when its watcher starts, after a reconnection); a lost or merged
///   hint loses nothing, and followers also read on a slow timer.
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Where it is, for messages.
    fn location(&self) -> &Location;

    /// Every object with its version, and the version they are all at, read in one
    /// transaction.
    fn load(&self) -> BoxFuture<'_, Result<(Vec<Stored>, Version), StoreError>>;

    /// The latest version.
    fn head(&self) -> BoxFuture<'_, Result<Version, StoreError>>;

    /// The changes after `version`, oldest first, at most `limit`.
    fn changes_since(
        &self,
        version: Version,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Change>, StoreError>>;

    /// One object, named in any case.
    fn get<'a>(
        &'a self,
        kind: Kind,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Stored>, StoreError>>;

    /// The objects named, those that exist, in no particular order (one query per few
    /// hundred keys, for taking in a batch of changes).
    fn get_many<'a>(
        &'a self,
        keys: &'a [(Kind, String)],
    ) -> BoxFuture<'a, Result<Vec<Stored>, StoreError>>;

    /// Every object of a kind, in name order.
    fn list(&self, kind: Kind) -> BoxFuture<'_, Result<Vec<Stored>, StoreError>>;

    /// At most `limit` objects of `kind` in `order`, after `after` (keyset paging).
    fn page<'a>(
        &'a self,
        kind: Kind,
        order: Order,
        after: Option<&'a Place>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<Stored>, StoreError>>;

    /// Every object that names the object `kind`/`key` (a pool's devices, a user's phones).
    fn referrers<'a>(
        &'a self,
        kind: Kind,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Stored>, StoreError>>;

    /// Makes every step in one transaction, or none; returns the new head (under
    /// [`Mode::DryRun`], the head it would have been). A write that breaks a rule is
    /// [`StoreError::Refused`] with every step's violation, not only the first. A committed
    /// write made `by` someone logs every step in the audit log, in the same transaction; one
    /// made by no one (a copy, a node's replica) logs nothing.
    fn write_as<'a>(
        &'a self,
        writes: &'a [Write],
        mode: Mode,
        by: Option<&'a Actor>,
    ) -> BoxFuture<'a, Result<Version, StoreError>>;

    /// [`write_as`](Self::write_as) someone: every step in the audit log.
    fn write_by<'a>(
        &'a self,
        writes: &'a [Write],
        mode: Mode,
        by: &'a Actor,
    ) -> BoxFuture<'a, Result<Version, StoreError>> {
        self.write_as(writes, mode, Some(by))
    }

    /// [`write_as`](Self::write_as) no one: what copies and replicas write, not logged (the
    /// writes they repeat were, where they were made).
    fn write<'a>(
        &'a self,
        writes: &'a [Write],
        mode: Mode,
    ) -> BoxFuture<'a, Result<Version, StoreError>> {
        self.write_as(writes, mode, None)
    }

    /// Every administrator account, in name order.
    fn accounts(&self) -> BoxFuture<'_, Result<Vec<Account>, StoreError>>;

    /// One account, named in any case.
    fn account<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<Account>, StoreError>>;

    /// Adds the account or replaces the one of that name, logged as made `by`.
    fn save_account<'a>(
        &'a self,
        account: &'a Account,
        by: &'a Actor,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Adds the account unless one of its name exists (then false, nothing written): two
    /// people adding the same name at once cannot overwrite each other.
    fn add_account<'a>(
        &'a self,
        account: &'a Account,
        by: &'a Actor,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// [`save_account`](Self::save_account), refused when it would leave no account holding
    /// `role` (the last admin stays), decided inside the write's transaction.
    fn save_account_keeping<'a>(
        &'a self,
        account: &'a Account,
        by: &'a Actor,
        role: &'a str,
    ) -> BoxFuture<'a, Result<AccountChange, StoreError>>;

    /// [`remove_account`](Self::remove_account), refused likewise.
    fn remove_account_keeping<'a>(
        &'a self,
        name: &'a str,
        by: &'a Actor,
        role: &'a str,
    ) -> BoxFuture<'a, Result<AccountChange, StoreError>>;

    /// Removes the account and its credentials; false when there was none.
    fn remove_account<'a>(
        &'a self,
        name: &'a str,
        by: &'a Actor,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Adds a token or a session of an existing account ([`StoreError::Absent`] otherwise);
    /// sessions that have ended are dropped meanwhile.
    fn add_credential<'a>(
        &'a self,
        credential: &'a Credential,
        by: &'a Actor,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The credential of that digest with its account, unless it has expired.
    fn credential<'a>(
        &'a self,
        digest: &'a str,
    ) -> BoxFuture<'a, Result<Option<(Credential, Account)>, StoreError>>;

    /// The account's tokens and live sessions, oldest first.
    fn credentials<'a>(
        &'a self,
        account: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Credential>, StoreError>>;

    /// Removes a credential (a logout, a revoked token); false when there was none.
    fn remove_credential<'a>(
        &'a self,
        digest: &'a str,
        by: &'a Actor,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Logs what is not a write (a refused login, say).
    fn record<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The audit log, newest first.
    fn audit<'a>(
        &'a self,
        query: &'a AuditQuery,
    ) -> BoxFuture<'a, Result<Vec<AuditEntry>, StoreError>>;

    /// A hint that the feed may have moved (see the trait's documentation). It also moves
    /// when the stored files change.
    fn wake(&self) -> watch::Receiver<Version>;

    /// Records what a node says of itself (replacing its last report).
    fn report_node<'a>(&'a self, report: &'a NodeReport) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The last report of every node, by name.
    fn nodes(&self) -> BoxFuture<'_, Result<Vec<NodeReport>, StoreError>>;

    /// Drops a retired node's last report; false when there was none.
    fn forget_node<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Every stored file, with the files' serial, read together.
    fn files(&self) -> BoxFuture<'_, Result<(Vec<StoredFile>, i64), StoreError>>;

    /// A number that moves on every change of the stored files (one cheap read for a node
    /// to tell whether to look again).
    fn files_serial(&self) -> BoxFuture<'_, Result<i64, StoreError>>;

    /// The content of the digest, checked against it; `None` when no file has it.
    fn read_file<'a>(
        &'a self,
        digest: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;

    /// Stores `content` under `name` (replacing what the name held), stamped `at` (Unix
    /// seconds; `None`: now). Content is kept once per digest, in chunks.
    fn put_file<'a>(
        &'a self,
        name: &'a str,
        content: &'a [u8],
        at: Option<i64>,
    ) -> BoxFuture<'a, Result<StoredFile, StoreError>>;

    /// Removes the file `name` (any case); what it was, if it existed.
    fn remove_file<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredFile>, StoreError>>;

    /// A consistent copy of the whole database into `to` (which must not exist), taken while
    /// others read and write.
    fn backup<'a>(&'a self, to: &'a Path) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The database's own integrity checks; every problem found, none when it is sound.
    fn check(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>>;

    /// Makes the database complete where it lies (SQLite: checkpoints the write-ahead log
    /// into the main file) and closes the handle. Later calls fail.
    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// Opens the database at `location`.
pub async fn open(location: &Location, create: Create) -> Result<Arc<dyn Store>, StoreError> {
    match location {
        Location::Sqlite(path) => Ok(Arc::new(SqliteStore::open(path, create).await?)),
        Location::Postgres(url) => Ok(Arc::new(PgStore::open(url, create).await?)),
    }
}

/// Copies every object of `from`, as one consistent snapshot, into `to`, which must hold
/// none, in one write: the objects each one names go first. Returns `to`'s new head.
pub async fn copy(from: &dyn Store, to: &dyn Store) -> Result<Version, StoreError> {
    let (present, _) = to.load().await?;
    if !present.is_empty() {
        return Err(StoreError::NotEmpty(to.location().to_string()));
    }
    let (mut objects, _) = from.load().await?;
    // Kinds are declared in the order they name each other (a device names a pool, a pool a
    // group, ...), so this order puts every name before its user.
    objects.sort_by(|a, b| {
        (a.object.kind(), a.object.key().to_ascii_lowercase())
            .cmp(&(b.object.kind(), b.object.key().to_ascii_lowercase()))
    });
    // Who may manage it goes with it, first: a copy that fails later leaves no objects, so it
    // can be run again (the audit log stays with the database it describes).
    let copier = Actor::new("", "phoneboot db copy");
    for account in from.accounts().await? {
        to.save_account(&account, &copier).await?;
        for credential in from.credentials(&account.name).await? {
            to.add_credential(&credential, &copier).await?;
        }
    }
    let writes: Vec<Write> = objects.into_iter().map(|s| Write::Put(s.object)).collect();
    let head = to.write(&writes, Mode::Commit).await?;
    let (files, _) = from.files().await?;
    for file in files {
        let content = from.read_file(&file.digest).await?.ok_or_else(|| {
            StoreError::Differs(format!("{} vanished during the copy", file.name))
        })?;
        to.put_file(&file.name, &content, Some(file.at)).await?;
    }
    Ok(head)
}

/// Reads both databases whole and compares them object by object; the number of objects
/// when they hold the same, else the first difference.
pub async fn same_objects(a: &dyn Store, b: &dyn Store) -> Result<usize, StoreError> {
    let read = |stored: Vec<Stored>| {
        let mut objects: Vec<Object> = stored.into_iter().map(|s| s.object).collect();
        objects.sort_by(|x, y| (x.kind(), x.key()).cmp(&(y.kind(), y.key())));
        objects
    };
    let (x, y) = (read(a.load().await?.0), read(b.load().await?.0));
    if let Some((o, _)) = x.iter().zip(&y).find(|(o, p)| o != p) {
        return Err(StoreError::Differs(format!(
            "{} {} differs between {} and {}",
            o.kind(),
            o.key(),
            a.location(),
            b.location()
        )));
    }
    if x.len() != y.len() {
        return Err(StoreError::Differs(format!(
            "{} holds {} objects, {} holds {}",
            a.location(),
            x.len(),
            b.location(),
            y.len()
        )));
    }
    let (mut f, _) = a.files().await?;
    let (mut g, _) = b.files().await?;
    f.sort_by(|x, y| x.name.cmp(&y.name));
    g.sort_by(|x, y| x.name.cmp(&y.name));
    if f != g {
        return Err(StoreError::Differs(format!(
            "the stored files differ between {} and {}",
            a.location(),
            b.location()
        )));
    }
    Ok(x.len())
}

/// Now, in Unix seconds (how the database stamps changes and files).
pub fn unix_seconds() -> i64 {
    sql::now()
}

pub(crate) fn exists_already(path: &Path) -> StoreError {
    StoreError::Io(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!(
            "{} exists already; a backup never overwrites",
            path.display()
        ),
    ))
}

/// A whole snapshot of `store`, with the version it is at.
pub async fn snapshot(
    store: &dyn Store,
    catalogue: Arc<Catalogue>,
) -> Result<(Snapshot, Version), StoreError> {
    let (objects, version) = store.load().await?;
    let mut snapshot = Snapshot::new(catalogue);
    for stored in objects {
        snapshot.put(stored.object);
    }
    Ok((snapshot, version))
}
