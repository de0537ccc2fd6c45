//! Custom files stored in the database (`phoneboot file put --cluster`), served by every
//! node: the seed's "ensure that the customized files are placed on both" servers, done by
//! the database instead of by hand.
//!
//! Each node keeps a mirror of them in a directory of its own (`state_dir/files`) and
//! serves that directory like a TFTP root — the same atomic replacement, memory cache and
//! confinement as the disk roots. The mirror is brought in step whenever the files' serial
//! moves (the follower looks on every wake); only files whose size or time differ are
//! fetched, each checked against its digest by the store. Every file on disk carries its
//! commit time, so every node sends the same Last-Modified, and its ETag is its content
//! hash: one file, not one per node. When the database is gone the mirror goes on serving.
//!
//! The mirror is this process's own directory, written only by [`StoredFiles::sync`], so the
//! names it holds are known without asking the disk: a request for any other name (most of
//! what reaches this source in a boot storm: loads, ring files and the misses) passes to the
//! disk roots without a `stat`. A file put into the mirror by hand is not a stored file: it is
//! not served, and the next sync removes it.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use phoneboot_source::dir::{DirSource, FileRoots, Probe};
use phoneboot_source::{FileName, Lookup, LookupFuture, Query, Source};
use phoneboot_store::{Store, StoreError, StoredFile};
use tracing::{info, warn};

/// Bytes of stored files a node holds in memory (the rest is read from its mirror).
const MEMORY: u64 = 64 << 20;

/// The stored files as a [`Source`], and the mirror they are served from.
#[derive(Debug)]
pub struct StoredFiles {
    mirror: PathBuf,
    roots: Arc<FileRoots>,
    disk: DirSource,
    /// The serial the mirror is in step with (-1: not yet).
    serial: AtomicI64,
    /// Lower-case name -> digest of what the mirror is known to hold (written or checked by
    /// this process), so that a file replaced within the same second by one of the same size
    /// is not taken for the old one.
    known: Mutex<HashMap<String, String>>,
    /// (lower-case name, digest) of stored files that could not be mirrored: not tried again
    /// until they change.
    failed: Mutex<HashSet<(String, String)>>,
    /// Lower-case names of the files in the mirror: listed at open and again at the end of
    /// each sync; a file a sync writes is added at once, one it removes taken out first.
    held: RwLock<HashSet<String>>,
}

/// What a sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Synced {
    pub files: usize,
    pub fetched: usize,
    pub removed: usize,
    /// Files that could not be mirrored (each logged).
    pub failed: usize,
}

impl StoredFiles {
    /// Serves the mirror in `dir` (made if missing), as it is: what an earlier run left.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        let roots = Arc::new(FileRoots::new(&[dir.to_path_buf()], true, MEMORY)?);
        let held = RwLock::new(listed(&roots));
        Ok(Self {
            mirror: dir.to_path_buf(),
            disk: DirSource::new(Arc::clone(&roots)),
            roots,
            serial: AtomicI64::new(-1),
            known: Mutex::default(),
            failed: Mutex::default(),
            held,
        })
    }

    pub fn mirror(&self) -> &Path {
        &self.mirror
    }

    /// Files in the mirror.
    pub fn count(&self) -> usize {
        self.roots.list().len()
    }

    /// Brings the mirror in step with `store`, if its files changed since the last time.
    pub async fn sync(&self, store: &dyn Store) -> Result<Option<Synced>, SyncError> {
        let serial = store.files_serial().await?;
        if serial == self.serial.load(Ordering::Acquire) {
            return Ok(None);
        }
        let (files, serial) = store.files().await?;
        let local: HashMap<String, (u64, SystemTime)> = self
            .roots
            .list()
            .into_iter()
            .map(|l| (l.name.to_lowercase(), (l.len, l.modified)))
            .collect();
        let mut synced = Synced {
            files: files.len(),
            ..Synced::default()
        };
        for file in &files {
            let when = stamp(file);
            let key = file.name.to_lowercase();
            if local.get(&key) == Some(&(file.size, when)) && self.holds(&key, &file.digest).await {
                continue;
            }
            // A file that failed is tried again when it changes (or at the next serial, for
            // the rest), not at every wake.
            if self
                .failed_lock()
                .contains(&(key.clone(), file.digest.clone()))
            {
                synced.failed += 1;
                continue;
            }
            match self.fetch(store, file, when).await {
                Ok(true) => {
                    self.known_lock().insert(key.clone(), file.digest.clone());
                    // Servable at once, not only after the whole sync; under the name a
                    // request's lookup builds (the stored name normalised, as the file's path).
                    if let Ok(name) = FileName::parse(file.name.as_bytes()) {
                        self.held_write().insert(name.display().to_lowercase());
                    }
                    synced.fetched += 1;
                }
                // Replaced or removed since the listing: the next sync sees the new state.
                Ok(false) => {}
                // One bad file must not hold back the others, nor the removals.
                Err(e) if e.is_unreachable() => return Err(e),
                Err(e) => {
                    warn!(file = %file.name, "stored file not mirrored: {e}");
                    self.failed_lock().insert((key, file.digest.clone()));
                    synced.failed += 1;
                }
            }
        }
        let wanted: HashSet<String> = files.iter().map(|f| f.name.to_lowercase()).collect();
        for gone in local.keys().filter(|name| !wanted.contains(*name)) {
            // Unknown first, then removed: never a name held without its file being looked at.
            self.held_write().remove(gone);
            if let Ok(name) = FileName::parse(gone.as_bytes())
                && self.roots.remove(0, &name).is_ok()
            {
                synced.removed += 1;
            }
        }
        // What the mirror holds now, whatever this sync managed or failed to do.
        *self.held_write() = listed(&self.roots);
        self.known_lock().retain(|name, _| wanted.contains(name));
        self.failed_lock().retain(|(name, digest)| {
            files
                .iter()
                .any(|f| f.name.to_lowercase() == *name && f.digest == *digest)
        });
        self.serial.store(serial, Ordering::Release);
        if synced.fetched + synced.removed > 0 {
            info!(
                files = synced.files,
                fetched = synced.fetched,
                removed = synced.removed,
                mirror = %self.mirror.display(),
                "stored files in step with the database"
            );
        }
        Ok(Some(synced))
    }
}

impl StoredFiles {
    /// Writes one stored file into the mirror; false when the database no longer has it.
    async fn fetch(
        &self,
        store: &dyn Store,
        file: &StoredFile,
        when: SystemTime,
    ) -> Result<bool, SyncError> {
        // The name first: a file that can never be served is not read at all.
        let name = FileName::parse(file.name.as_bytes())
            .map_err(|why| SyncError::Name(file.name.clone(), why.to_string()))?;
        let Some(content) = store.read_file(&file.digest).await? else {
            return Ok(false);
        };
        let roots = Arc::clone(&self.roots);
        tokio::task::spawn_blocking(move || roots.put_stamped(0, &name, &content, Some(when)))
            .await
            .map_err(|e| SyncError::Io(io::Error::other(e)))?
            .map_err(|e| SyncError::Io(io::Error::other(e)))?;
        Ok(true)
    }

    fn failed_lock(&self) -> std::sync::MutexGuard<'_, HashSet<(String, String)>> {
        self.failed.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn held_write(&self) -> std::sync::RwLockWriteGuard<'_, HashSet<String>> {
        self.held.write().unwrap_or_else(|p| p.into_inner())
    }

    /// False when the mirror certainly has no file of this name (no `stat` needed).
    fn may_hold(&self, name: &FileName) -> bool {
        let held = self.held.read().unwrap_or_else(|p| p.into_inner());
        // Most clusters store no files: no key built for them.
        !held.is_empty() && held.contains(&name.display().to_lowercase())
    }

    fn known_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True when the mirror's copy of `key` has `digest`: known, or read and hashed once.
    async fn holds(&self, key: &str, digest: &str) -> bool {
        if let Some(known) = self.known_lock().get(key) {
            return known == digest;
        }
        let Ok(name) = FileName::parse(key.as_bytes()) else {
            return false;
        };
        let roots = Arc::clone(&self.roots);
        let found = tokio::task::spawn_blocking(move || {
            let file = match roots.probe(&name) {
                Probe::Found(file) => file,
                Probe::NeedsLoad(pending) => roots.load(pending).ok()?,
                _ => return None,
            };
            file.digest().ok()
        })
        .await
        .ok()
        .flatten();
        let Some(found) = found.map(|d| d.to_string()) else {
            return false;
        };
        self.known_lock().insert(key.to_owned(), found.clone());
        found == digest
    }
}

/// The lower-case names of the files in the mirror.
fn listed(roots: &FileRoots) -> HashSet<String> {
    roots
        .list()
        .into_iter()
        .map(|l| l.name.to_lowercase())
        .collect()
}

/// A stored file's commit time, as its mirror copy's modification time.
fn stamp(file: &StoredFile) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(file.at).unwrap_or(0))
}

impl SyncError {
    /// The database did not answer: nothing to learn from the other files either.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_unreachable())
    }
}

/// Why the mirror could not be brought in step.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored file {0:?} cannot be served under that name: {1}")]
    Name(String, String),
    #[error("writing the mirror of stored files: {0}")]
    Io(io::Error),
}

impl Source for StoredFiles {
    fn name(&self) -> &str {
        "stored files"
    }

    fn try_now(&self, query: &Query) -> Option<Lookup> {
        if !self.may_hold(&query.name) {
            return Some(Lookup::Skip);
        }
        self.disk.try_now(query)
    }

    fn lookup<'a>(&'a self, query: &'a Query) -> LookupFuture<'a> {
        if !self.may_hold(&query.name) {
            return Box::pin(std::future::ready(Lookup::Skip));
        }
        self.disk.lookup(query)
    }
}

/// Logs a failed sync once per run of failures.
pub(crate) fn report(result: Result<Option<Synced>, SyncError>, failing: &mut bool) {
    match result {
        Ok(_) => *failing = false,
        Err(e) if !*failing => {
            *failing = true;
            warn!("stored files: {e}; serving the mirror as it is");
        }
        Err(_) => {}
    }
}
