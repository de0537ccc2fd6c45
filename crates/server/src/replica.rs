//! A PostgreSQL node's last state on its own disk (`state_dir/replica.db`): a SQLite copy
//! of the objects it serves, written whole when the node has loaded the database and kept in
//! step by the follower with exactly the objects each catch-up took in. When the database
//! cannot be reached at start, the node serves this copy — loudly degraded — instead of
//! nothing, and takes the database in when it answers.
//!
//! The copy is the node's, not the cluster's: nothing ever writes it but its follower, and it
//! is replaced whole (a new file renamed over the old) whenever it might have drifted.

use std::path::{Path, PathBuf};

use phoneboot_model::{Kind, Object, Snapshot};
use phoneboot_store::{Create, Mode, SqliteStore, Store, StoreError, Version, Write};
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc};
use tracing::{info, warn};

/// How long the copy waits for more changes before it is written.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

/// Objects per transaction when the copy is written whole.
const PART: usize = 5_000;

/// The node's copy of the database.
#[derive(Debug)]
pub struct Replica {
    path: PathBuf,
    /// The open copy; `None` until it was first written (or after a failed write: the next
    /// one rewrites it whole). Writes are serial.
    store: Mutex<Option<SqliteStore>>,
}

impl Replica {
    pub fn new(state_dir: &Path) -> Self {
        Self {
            path: Self::path_in(state_dir),
            store: Mutex::new(None),
        }
    }

    pub fn path_in(state_dir: &Path) -> PathBuf {
        state_dir.join("replica.db")
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The version of the database the copy in `state_dir` holds, if there is one.
    pub fn version_in(state_dir: &Path) -> Option<Version> {
        std::fs::read_to_string(version_file(&Self::path_in(state_dir)))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Replaces the copy with `snapshot`, taken at `version` of the database.
    pub async fn rebuild(&self, snapshot: &Snapshot, version: Version) {
        let mut store = self.store.lock().await;
        if let Some(old) = store.take() {
            let _ = old.close().await;
        }
        match write_whole(&self.path, snapshot, version).await {
            Ok(fresh) => {
                info!(replica = %self.path.display(), version, "this node's copy of the database written");
                *store = Some(fresh);
            }
            Err(e) => warn!(
                replica = %self.path.display(),
                "cannot write this node's copy of the database (a start without the database \
                 would serve an older one): {e}"
            ),
        }
    }

    /// Takes in what a catch-up took in: `touched` as `snapshot` (at `version`) has them.
    /// A copy that cannot take them is rewritten whole.
    pub async fn apply(&self, snapshot: &Snapshot, touched: &[(Kind, String)], version: Version) {
        let mut guard = self.store.lock().await;
        let Some(store) = guard.as_ref() else {
            drop(guard);
            return self.rebuild(snapshot, version).await;
        };
        let mut puts: Vec<Object> = Vec::new();
        let mut deletes: Vec<(Kind, String)> = Vec::new();
        for (kind, key) in touched {
            match snapshot.get(*kind, key) {
                Some(object) => puts.push(object),
                None => deletes.push((*kind, key.clone())),
            }
        }
        // What others name goes first, and its users go before it is deleted.
        puts.sort_by_key(|o| o.kind());
        deletes.sort_by_key(|(kind, _)| std::cmp::Reverse(*kind));
        let mut writes: Vec<Write> = puts.into_iter().map(Write::Put).collect();
        writes.extend(deletes.into_iter().map(|(kind, key)| Write::Delete {
            kind,
            key,
            expected: None,
        }));
        let present = keep_steps(store, &writes).await;
        let writes: Vec<Write> = writes
            .into_iter()
            .zip(present)
            .filter_map(|(w, keep)| keep.then_some(w))
            .collect();
        let result = match store.write(&writes, Mode::Commit).await {
            Ok(_) => write_version(&self.path, version),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            warn!(replica = %self.path.display(), "this node's copy of the database drifted ({e}): writing it whole");
            if let Some(old) = guard.take() {
                let _ = old.close().await;
            }
            drop(guard);
            self.rebuild(snapshot, version).await;
        }
    }

    pub async fn close(&self) {
        if let Some(store) = self.store.lock().await.take() {
            let _ = store.close().await;
        }
    }

    /// Keeps the copy from a task of its own, so that the follower never waits for a write of
    /// it: updates that arrive within [`SETTLE`] of each other, or while one is written, are
    /// merged (the latest snapshot holds the latest state of every object any of them
    /// touched). The copy is at most a few seconds behind what the node serves; the first
    /// one is written without waiting.
    pub fn keeper(self: Arc<Self>) -> Keeper {
        let (tx, mut rx) = mpsc::unbounded_channel::<Update>();
        tokio::spawn(async move {
            // The first copy is written at once: until it exists, a start without the
            // database would serve an older copy or nothing.
            let mut settle = false;
            while let Some(mut update) = rx.recv().await {
                // Changes come in bursts (an import, an admin's session): one write of the
                // copy per burst, away from the moment the follower takes each change in.
                if settle {
                    tokio::time::sleep(SETTLE).await;
                }
                settle = true;
                while let Ok(next) = rx.try_recv() {
                    update = match (update.touched, next.touched) {
                        (Some(mut a), Some(b)) => {
                            a.extend(b);
                            Update {
                                touched: Some(a),
                                ..next
                            }
                        }
                        _ => Update {
                            touched: None,
                            ..next
                        },
                    };
                }
                match update.touched {
                    Some(mut touched) => {
                        touched.sort();
                        touched.dedup();
                        self.apply(&update.snapshot, &touched, update.version).await;
                    }
                    None => self.rebuild(&update.snapshot, update.version).await,
                }
            }
            self.close().await;
        });
        Keeper(tx)
    }
}

/// What the copy is to take in.
#[derive(Debug)]
struct Update {
    snapshot: Snapshot,
    version: Version,
    /// `None`: write it whole.
    touched: Option<Vec<(Kind, String)>>,
}

/// The follower's end of [`Replica::keeper`].
#[derive(Debug, Clone)]
pub struct Keeper(mpsc::UnboundedSender<Update>);

impl Keeper {
    /// The copy is to hold `snapshot` (at `version`) whole.
    pub fn rebuild(&self, snapshot: Snapshot, version: Version) {
        let _ = self.0.send(Update {
            snapshot,
            version,
            touched: None,
        });
    }

    /// The copy is to take in `touched` as `snapshot` has them.
    pub fn apply(&self, snapshot: Snapshot, touched: Vec<(Kind, String)>, version: Version) {
        let _ = self.0.send(Update {
            snapshot,
            version,
            touched: Some(touched),
        });
    }
}

/// For each step, whether to keep it: a delete of what the copy does not hold is dropped.
async fn keep_steps(store: &SqliteStore, writes: &[Write]) -> Vec<bool> {
    let mut keep = Vec::with_capacity(writes.len());
    for write in writes {
        keep.push(match write {
            Write::Delete { kind, key, .. } => store.get(*kind, key).await.ok().flatten().is_some(),
            _ => true,
        });
    }
    keep
}

fn version_file(path: &Path) -> PathBuf {
    path.with_extension("version")
}

fn write_version(path: &Path, version: Version) -> Result<(), StoreError> {
    let file = version_file(path);
    let partial = file.with_extension("version.partial");
    std::fs::write(&partial, format!("{version}\n"))
        .and_then(|()| std::fs::rename(&partial, &file))
        .map_err(StoreError::Io)
}

/// A new copy beside the old one, renamed over it once complete.
async fn write_whole(
    path: &Path,
    snapshot: &Snapshot,
    version: Version,
) -> Result<SqliteStore, StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(StoreError::Io)?;
    }
    let partial = path.with_extension("db.partial");
    for stale in [
        partial.clone(),
        sidecar(&partial, "-wal"),
        sidecar(&partial, "-shm"),
    ] {
        let _ = std::fs::remove_file(stale);
    }
    let fresh = SqliteStore::open(&partial, Create::IfMissing).await?;
    // In parts, to bound the memory a copy of 100,000 devices takes: the file is a partial
    // one until it is renamed, so it need not be written in one transaction.
    let mut objects = snapshot.objects().peekable();
    while objects.peek().is_some() {
        let part: Vec<Write> = objects.by_ref().take(PART).map(Write::Put).collect();
        fresh.write(&part, Mode::Commit).await?;
    }
    fresh.close().await?;
    std::fs::rename(&partial, path).map_err(StoreError::Io)?;
    for stale in [sidecar(path, "-wal"), sidecar(path, "-shm")] {
        let _ = std::fs::remove_file(stale);
    }
    write_version(path, version)?;
    SqliteStore::open(path, Create::Never).await
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
