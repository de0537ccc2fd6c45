//! The file namespace TFTP serves: the root and the alternate locations, in order.
//!
//! # Names
//!
//! Names reach this layer normalised ([`FileName`], see [`crate::name`]).
//!
//! # Confinement
//!
//! A name is looked up in each root in turn. The file found must, after every symlink is
//! resolved, lie inside the canonical form of the root it was found in; a symlink leading out of
//! the root is refused, never followed. The check runs whenever a file is (re)loaded, and a
//! cached file is reused only while `stat` of its path still shows the same inode, size and
//! times — so swapping a symlink forces a new check.
//!
//! # Case
//!
//! Phones differ in the case of the names they ask for (spec cisco-tftp.md §1.1). With
//! case-insensitive lookup, a component that does not exist as spelled is matched against the
//! directory's listing, which is cached and re-read when the directory's mtime changes.
//!
//! # Memory
//!
//! Files up to the streaming threshold are read once and shared as [`Bytes`] by every transfer
//! of the file; the cache of them is bounded by bytes. Larger files are kept open, not read
//! ([`Content::Paged`]): transfers read them from the page cache as they send, so memory does
//! not grow with the size of the loads. Either kind is found again when it changes on disk, so
//! no restart is ever needed.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::chain::{Lookup, LookupFuture, Source};
use crate::content::{Content, Paged};
use crate::file::{File, Origin};
use crate::name::{Denied, FileName};
use crate::query::Query;

mod manage;
pub use manage::{Listed, ManageError};

/// What a look at the disk found (the directory layer's own answer; the chain's is
/// [`crate::Lookup`]).
#[derive(Debug)]
pub enum Probe {
    /// The content is in memory.
    Found(File),
    /// The file exists, is allowed, and must be read: call [`FileRoots::load`] (blocking).
    NeedsLoad(Pending),
    NotFound,
    Denied(Denied),
}

/// A file that exists and must be read from disk.
#[derive(Debug)]
pub struct Pending {
    path: PathBuf,
    root: usize,
    len: u64,
}

impl Pending {
    /// Its size per `stat`, known before reading (admission needs it).
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Identity of a file's version on disk, per `stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Version {
    fn modified(&self) -> SystemTime {
        let nanos = u64::try_from(self.mtime_ns).unwrap_or(0);
        SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos)
    }

    fn of(meta: &Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        }
    }
}

#[derive(Debug)]
struct CachedFile {
    version: Version,
    /// Kept whole, so that its content hash is computed once for every request of it.
    file: File,
}

/// Bytes of memory a cached file holds (none for an open file).
fn memory_size(file: &File) -> u64 {
    file.content.in_memory().map_or(0, |b| b.len() as u64)
}

impl Cache {
    fn forget(&mut self, old: &CachedFile) {
        self.bytes -= memory_size(&old.file);
        if old.file.content.in_memory().is_none() {
            self.paged -= 1;
        }
    }
}

#[derive(Debug)]
struct Listing {
    mtime_ns: i128,
    /// Lower-case name -> actual name. When names differ only in case, the smallest wins, so
    /// that the choice is stable.
    by_lower: HashMap<String, OsString>,
}

#[derive(Debug)]
struct Root {
    /// As configured, used to build paths.
    path: PathBuf,
    /// Canonical form, for the confinement check.
    canonical: PathBuf,
}

/// Files above this many bytes are streamed from the page cache, not held in memory.
pub const DEFAULT_STREAM_ABOVE: u64 = 1 << 20;

/// Open files kept for streaming: each holds a descriptor, no memory.
const MAX_PAGED: usize = 256;

#[derive(Debug, Default)]
struct Cache {
    files: HashMap<PathBuf, CachedFile>,
    /// Bytes held in memory by `files`.
    bytes: u64,
    /// Entries of `files` that are open files, not bytes.
    paged: usize,
    listings: HashMap<PathBuf, Listing>,
    /// One gate per path being read: concurrent requests for a file that is not cached yet
    /// wait for the first reader instead of each reading their own copy (500 phones asking
    /// for a 100 MiB load at once must cost 100 MiB, not 50 GB).
    loading: HashMap<PathBuf, Arc<Mutex<()>>>,
}

/// The ordered roots, with the content and listing caches.
#[derive(Debug)]
pub struct FileRoots {
    roots: Vec<Root>,
    case_insensitive: bool,
    cache_max_bytes: u64,
    stream_above: u64,
    cache: Mutex<Cache>,
}

impl FileRoots {
    /// Opens the roots. Each must exist and be a directory.
    pub fn new(
        roots: &[PathBuf],
        case_insensitive: bool,
        cache_max_bytes: u64,
    ) -> io::Result<Self> {
        let roots = roots
            .iter()
            .map(|path| {
                let canonical = std::fs::canonicalize(path).map_err(|e| {
                    io::Error::new(e.kind(), format!("file root {}: {e}", path.display()))
                })?;
                if !canonical.is_dir() {
                    return Err(io::Error::new(
                        io::ErrorKind::NotADirectory,
                        format!("file root {} is not a directory", path.display()),
                    ));
                }
                Ok(Root {
                    path: canonical.clone(),
                    canonical,
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Self {
            roots,
            case_insensitive,
            cache_max_bytes,
            stream_above: DEFAULT_STREAM_ABOVE,
            cache: Mutex::new(Cache::default()),
        })
    }

    /// Files larger than `bytes` are streamed from the page cache instead of held in memory
    /// ([`DEFAULT_STREAM_ABOVE`] unless set).
    #[must_use]
    pub fn streaming_above(mut self, bytes: u64) -> Self {
        self.stream_above = bytes;
        self
    }

    /// Looks a name up in each root, in order. Cheap: a few `stat` calls, no reads; a file
    /// whose cached content is current comes back as [`Probe::Found`].
    pub fn probe(&self, name: &FileName) -> Probe {
        if name.is_root() {
            return Probe::NotFound;
        }
        for (index, root) in self.roots.iter().enumerate() {
            let Some((path, meta)) = self.resolve(&root.path, name) else {
                continue;
            };
            if !meta.is_file() {
                return Probe::Denied(Denied::NotAFile);
            }
            if let Some(hit) = self.cached(&path, Version::of(&meta)) {
                return Probe::Found(hit);
            }
            return Probe::NeedsLoad(Pending {
                path,
                root: index,
                len: meta.len(),
            });
        }
        self.forget_missing(name);
        Probe::NotFound
    }

    fn cached(&self, path: &Path, version: Version) -> Option<File> {
        let mut cache = self.lock();
        match cache.files.get(path) {
            Some(c) if c.version == version => Some(c.file.from_cache()),
            // Changed on disk: the old version goes now (an open file would pin its inode, and
            // its disk space, until evicted).
            Some(_) => {
                if let Some(old) = cache.files.remove(path) {
                    cache.forget(&old);
                }
                None
            }
            None => None,
        }
    }

    /// Forgets open files kept for a name that no longer exists (deleted loads free their
    /// disk space at once, not when the bound evicts them).
    fn forget_missing(&self, name: &FileName) {
        let mut cache = self.lock();
        if cache.paged == 0 {
            return;
        }
        for root in &self.roots {
            let exact: PathBuf = name
                .components
                .iter()
                .fold(root.path.clone(), |p, c| p.join(c));
            if let Some(old) = cache.files.remove(&exact) {
                cache.forget(&old);
            }
        }
    }

    /// Reads a file found by [`probe`](Self::probe), checking confinement. Blocking: call it
    /// off the async runtime's workers.
    #[allow(clippy::needless_pass_by_value)] // consumes the lookup's answer: one load per lookup
    pub fn load(&self, pending: Pending) -> Result<File, LoadError> {
        let gate = {
            let mut cache = self.lock();
            Arc::clone(cache.loading.entry(pending.path.clone()).or_default())
        };
        let result = {
            let _reader = gate.lock().unwrap_or_else(|p| p.into_inner());
            // Another request may have read it while this one waited at the gate.
            let current = std::fs::metadata(&pending.path)
                .ok()
                .map(|m| Version::of(&m));
            match current.and_then(|v| self.cached(&pending.path, v)) {
                Some(file) => Ok(file),
                None => self.read(&pending),
            }
        };
        let mut cache = self.lock();
        // The map's reference and ours: nobody else waits, so the gate can go.
        if Arc::strong_count(&gate) == 2 {
            cache.loading.remove(&pending.path);
        }
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self, pending: &Pending) -> Result<File, LoadError> {
        let root = self.roots.get(pending.root).ok_or(LoadError::NotFound)?;
        // Symlinks: the real file must lie inside the real root.
        let real = std::fs::canonicalize(&pending.path).map_err(|_| LoadError::NotFound)?;
        if !real.starts_with(&root.canonical) {
            return Err(LoadError::Denied(Denied::OutsideRoot));
        }
        let file = std::fs::File::open(&real).map_err(LoadError::Io)?;
        let meta = file.metadata().map_err(LoadError::Io)?;
        if !meta.is_file() {
            return Err(LoadError::Denied(Denied::NotAFile));
        }
        let version = Version::of(&meta);
        let content = if meta.len() > self.stream_above {
            Content::Paged(Arc::new(Paged::new(file, &meta)))
        } else {
            let mut content = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
            io::Read::read_to_end(&mut io::BufReader::new(file), &mut content)
                .map_err(LoadError::Io)?;
            Content::Memory(Bytes::from(content))
        };
        let file = File::new(content, version.modified(), Origin::Disk);
        self.remember(pending.path.clone(), version, &file);
        Ok(file)
    }

    fn remember(&self, path: PathBuf, version: Version, file: &File) {
        let size = memory_size(file);
        if size > self.cache_max_bytes {
            return;
        }
        let mut cache = self.lock();
        if let Some(old) = cache.files.remove(&path) {
            cache.forget(&old);
        }
        // Evict until the new file fits. Transfers in flight keep their own content alive.
        let paged = size == 0 && file.content.in_memory().is_none();
        while cache.bytes + size > self.cache_max_bytes || (paged && cache.paged >= MAX_PAGED) {
            let victim = cache
                .files
                .iter()
                .find(|(_, c)| !paged || c.file.content.in_memory().is_none())
                .map(|(p, _)| p.clone());
            let Some(old) = victim.and_then(|v| cache.files.remove(&v)) else {
                break;
            };
            cache.forget(&old);
        }
        cache.bytes += size;
        cache.paged += usize::from(paged);
        cache.files.insert(
            path,
            CachedFile {
                version,
                file: file.clone(),
            },
        );
    }

    /// Bytes of file content held by the cache.
    pub fn cached_bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// Maps a name to an existing path under `root` (following symlinks; confinement is checked
    /// on load), matching case-insensitively where allowed. One `stat` when the case is exact.
    fn resolve(&self, root: &Path, name: &FileName) -> Option<(PathBuf, Metadata)> {
        let exact: PathBuf = name
            .components
            .iter()
            .fold(root.to_path_buf(), |p, c| p.join(c));
        match std::fs::metadata(&exact) {
            Ok(meta) => return Some((exact, meta)),
            // A component that is a file, a symlink loop, no permission: nothing to find by
            // case. (A dangling symlink says NotFound, and is recognised below.)
            Err(e) if e.kind() != io::ErrorKind::NotFound => return None,
            Err(_) if !self.case_insensitive => return None,
            Err(_) => {}
        }
        let mut path = root.to_path_buf();
        // While every component so far was spelled as asked, the last one as asked is the
        // exact path just found missing (or a dangling symlink): no second `stat` for it
        // unless the listing offers another spelling.
        let mut spelled_as_asked = true;
        let last = name.components.len().saturating_sub(1);
        for (index, component) in name.components.iter().enumerate() {
            let candidate = path.join(component);
            let known_missing = spelled_as_asked && index == last;
            if !known_missing && std::fs::symlink_metadata(&candidate).is_ok() {
                path = candidate;
                continue;
            }
            spelled_as_asked = false;
            let actual = self.find_in_listing(&path, component)?;
            // The exact path was missing as a file, but it may exist as a dangling symlink:
            // then the name asked for is that link (unservable), not another spelling of it.
            if known_missing
                && actual.as_os_str() != component.as_str()
                && std::fs::symlink_metadata(&candidate).is_ok()
            {
                return None;
            }
            path.push(actual);
        }
        let meta = std::fs::metadata(&path).ok()?;
        Some((path, meta))
    }

    fn find_in_listing(&self, dir: &Path, component: &str) -> Option<OsString> {
        let meta = std::fs::metadata(dir).ok()?;
        let mtime_ns = Version::of(&meta).mtime_ns;
        let lower = component.to_lowercase();
        {
            let cache = self.lock();
            if let Some(listing) = cache.listings.get(dir).filter(|l| l.mtime_ns == mtime_ns) {
                return listing.by_lower.get(&lower).cloned();
            }
        }
        let mut by_lower: HashMap<String, OsString> = HashMap::new();
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let name = entry.file_name();
            let Some(text) = name.to_str() else { continue };
            let key = text.to_lowercase();
            match by_lower.get(&key) {
                Some(existing) if existing <= &name => {}
                _ => {
                    by_lower.insert(key, name);
                }
            }
        }
        let found = by_lower.get(&lower).cloned();
        let mut cache = self.lock();
        // Bound the listing cache like everything else: a root with very many directories only
        // costs re-reads, never memory.
        if cache.listings.len() >= 4096 {
            cache.listings.clear();
        }
        cache
            .listings
            .insert(dir.to_path_buf(), Listing { mtime_ns, by_lower });
        found
    }
}

/// The disk as a [`crate::Source`]: the root and the alternate locations, in order.
#[derive(Debug)]
pub struct DirSource {
    roots: Arc<FileRoots>,
}

impl DirSource {
    pub fn new(roots: Arc<FileRoots>) -> Self {
        Self { roots }
    }
}

impl Source for DirSource {
    fn name(&self) -> &str {
        "disk"
    }

    fn try_now(&self, query: &Query) -> Option<Lookup> {
        match self.roots.probe(&query.name) {
            Probe::Found(file) => Some(Lookup::Found(file)),
            Probe::NotFound => Some(Lookup::Skip),
            Probe::Denied(why) => Some(Lookup::Denied(why)),
            Probe::NeedsLoad(_) => None,
        }
    }

    fn lookup<'a>(&'a self, query: &'a Query) -> LookupFuture<'a> {
        Box::pin(async move {
            let pending = match self.roots.probe(&query.name) {
                Probe::Found(file) => return Lookup::Found(file),
                Probe::NotFound => return Lookup::Skip,
                Probe::Denied(why) => return Lookup::Denied(why),
                Probe::NeedsLoad(pending) => pending,
            };
            let roots = Arc::clone(&self.roots);
            match tokio::task::spawn_blocking(move || roots.load(pending)).await {
                Ok(Ok(file)) => Lookup::Found(file),
                // Removed between the look and the read: as if it never was.
                Ok(Err(LoadError::NotFound)) => Lookup::Skip,
                Ok(Err(LoadError::Denied(why))) => Lookup::Denied(why),
                Ok(Err(LoadError::Io(e))) => Lookup::Failed(format!("read error: {e}")),
                Err(e) => Lookup::Failed(format!("read task: {e}")),
            }
        })
    }
}

/// Why a found file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("file vanished")]
    NotFound,
    #[error("{0}")]
    Denied(Denied),
    #[error("read failed: {0}")]
    Io(io::Error),
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(super) fn name(s: &str) -> FileName {
        FileName::parse(s.as_bytes()).unwrap()
    }

    /// A name as a request would get it: content, or why not.
    pub(super) fn get(roots: &FileRoots, s: &str) -> Result<Bytes, String> {
        let parsed = FileName::parse(s.as_bytes()).map_err(|e| format!("denied: {e}"))?;
        match roots.probe(&parsed) {
            Probe::Found(f) => Ok(f.content.to_bytes_blocking().unwrap()),
            Probe::NeedsLoad(p) => roots
                .load(p)
                .map(|f| f.content.to_bytes_blocking().unwrap())
                .map_err(|e| format!("load: {e}")),
            Probe::NotFound => Err("not found".into()),
            Probe::Denied(d) => Err(format!("denied: {d}")),
        }
    }

    #[test]
    fn lookup_is_case_insensitive_and_follows_root_order() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::create_dir(a.path().join("Desktops")).unwrap();
        std::fs::write(a.path().join("Desktops/BG.png"), b"root").unwrap();
        std::fs::write(b.path().join("only-alt.bin"), b"alt").unwrap();
        std::fs::write(a.path().join("both"), b"first").unwrap();
        std::fs::write(b.path().join("both"), b"second").unwrap();
        let roots = FileRoots::new(&[a.path().into(), b.path().into()], true, 1 << 20).unwrap();
        assert_eq!(get(&roots, "desktops/bg.PNG").unwrap(), "root");
        assert_eq!(get(&roots, "ONLY-ALT.BIN").unwrap(), "alt");
        assert_eq!(get(&roots, "both").unwrap(), "first");
        assert_eq!(get(&roots, "missing").unwrap_err(), "not found");

        let strict = FileRoots::new(&[a.path().into()], false, 1 << 20).unwrap();
        assert_eq!(get(&strict, "desktops/bg.png").unwrap_err(), "not found");
        assert_eq!(get(&strict, "Desktops/BG.png").unwrap(), "root");
    }

    #[test]
    fn symlink_out_of_the_root_is_refused_and_inside_is_served() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"secret").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("real"), b"inside").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("leak"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("dirleak")).unwrap();
        std::os::unix::fs::symlink("real", root.path().join("alias")).unwrap();
        let roots = FileRoots::new(&[root.path().into()], true, 1 << 20).unwrap();
        assert!(
            get(&roots, "leak")
                .unwrap_err()
                .contains("outside the root")
        );
        assert!(
            get(&roots, "dirleak/secret")
                .unwrap_err()
                .contains("outside the root")
        );
        assert_eq!(get(&roots, "alias").unwrap(), "inside");
    }

    #[test]
    fn a_dangling_symlink_is_not_served_under_another_spelling() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("RING.raw"), b"upper").unwrap();
        std::os::unix::fs::symlink("gone", root.path().join("ring.raw")).unwrap();
        let roots = FileRoots::new(&[root.path().into()], true, 1 << 20).unwrap();
        // The name asked for exists as spelled (a broken link): it is that file, unservable,
        // never the other file whose name differs only in case.
        assert_eq!(get(&roots, "ring.raw").unwrap_err(), "not found");
        assert_eq!(get(&roots, "RING.raw").unwrap(), "upper");
        assert_eq!(get(&roots, "Ring.RAW").unwrap(), "upper");
    }

    #[test]
    fn a_directory_is_not_served() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("dir")).unwrap();
        let roots = FileRoots::new(&[root.path().into()], true, 1 << 20).unwrap();
        assert!(
            get(&roots, "dir")
                .unwrap_err()
                .contains("not a regular file")
        );
        assert_eq!(get(&roots, "/").unwrap_err(), "not found");
    }

    #[test]
    fn content_is_shared_and_changes_on_disk_are_noticed() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("f");
        std::fs::write(&path, b"one").unwrap();
        let roots = FileRoots::new(&[root.path().into()], true, 1 << 20).unwrap();
        let first = get(&roots, "f").unwrap();
        let again = match roots.probe(&name("f")) {
            Probe::Found(f) => f.content.to_bytes_blocking().unwrap(),
            other => panic!("expected a cache hit, got {other:?}"),
        };
        assert_eq!(first.as_ptr(), again.as_ptr(), "one copy shared");
        // Replace atomically, as an editor or `file put` does.
        std::fs::write(root.path().join("f.new"), b"two!").unwrap();
        std::fs::rename(root.path().join("f.new"), &path).unwrap();
        assert_eq!(get(&roots, "f").unwrap(), "two!");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(get(&roots, "f").unwrap_err(), "not found");
        // A file added later, in a new case, is found (the listing follows the directory).
        std::fs::write(root.path().join("NewFile"), b"new").unwrap();
        assert_eq!(get(&roots, "newfile").unwrap(), "new");
    }

    #[test]
    fn concurrent_first_loads_of_a_file_share_one_read() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("load.bin"), vec![7u8; 1 << 19]).unwrap();
        let roots = Arc::new(FileRoots::new(&[root.path().into()], true, 1 << 30).unwrap());
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let roots = Arc::clone(&roots);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let Probe::NeedsLoad(p) = roots.probe(&name("load.bin")) else {
                        panic!("expected a first load");
                    };
                    barrier.wait();
                    let content = roots.load(p).unwrap().content;
                    content.in_memory().unwrap().as_ptr() as usize
                })
            })
            .collect();
        let pointers: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(
            pointers.windows(2).all(|w| w[0] == w[1]),
            "each thread read its own copy"
        );
        assert_eq!(roots.cached_bytes(), 1 << 19);
        assert!(roots.lock().loading.is_empty(), "gates are cleaned up");
    }

    #[test]
    fn a_file_above_the_threshold_is_kept_open_not_read_and_costs_the_cache_nothing() {
        let root = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(root.path().join("load.bin"), &big).unwrap();
        std::fs::write(root.path().join("small.xml"), b"<a/>").unwrap();
        let roots = FileRoots::new(&[root.path().into()], true, 1 << 20)
            .unwrap()
            .streaming_above(1000);
        assert_eq!(get(&roots, "load.bin").unwrap(), big);
        assert_eq!(get(&roots, "small.xml").unwrap(), "<a/>");
        let Probe::Found(cached) = roots.probe(&name("load.bin")) else {
            panic!("the open file is cached");
        };
        assert!(cached.content.in_memory().is_none(), "streamed, not held");
        assert_eq!(cached.content.len(), 3000);
        assert_eq!(roots.cached_bytes(), 4, "only the small file is in memory");
        // A transfer in flight keeps the version it found; a replaced file is found anew.
        std::fs::write(root.path().join("new"), vec![1u8; 2000]).unwrap();
        std::fs::rename(root.path().join("new"), root.path().join("load.bin")).unwrap();
        assert_eq!(cached.content.to_bytes_blocking().unwrap(), big);
        assert_eq!(get(&roots, "load.bin").unwrap(), vec![1u8; 2000]);
        assert_eq!(roots.lock().paged, 1, "the old entry was replaced");
        // Deleted: the open file is let go at the next look, not kept until evicted.
        std::fs::remove_file(root.path().join("load.bin")).unwrap();
        assert_eq!(get(&roots, "load.bin").unwrap_err(), "not found");
        assert_eq!(roots.lock().paged, 0);
    }

    #[test]
    fn open_files_kept_for_streaming_are_bounded() {
        let root = tempfile::tempdir().unwrap();
        for i in 0..MAX_PAGED + 10 {
            std::fs::write(root.path().join(format!("f{i}")), [0u8; 10]).unwrap();
        }
        let roots = FileRoots::new(&[root.path().into()], true, 1 << 20)
            .unwrap()
            .streaming_above(5);
        for i in 0..MAX_PAGED + 10 {
            assert_eq!(get(&roots, &format!("f{i}")).unwrap().len(), 10);
            let cache = roots.lock();
            assert!(cache.paged <= MAX_PAGED);
            assert_eq!(cache.paged, cache.files.len());
        }
    }

    #[test]
    fn cache_stays_within_its_byte_bound() {
        let root = tempfile::tempdir().unwrap();
        for i in 0..10 {
            std::fs::write(root.path().join(format!("f{i}")), vec![0u8; 400]).unwrap();
        }
        let roots = FileRoots::new(&[root.path().into()], true, 1000).unwrap();
        for i in 0..10 {
            assert_eq!(get(&roots, &format!("f{i}")).unwrap().len(), 400);
            assert!(roots.cached_bytes() <= 1000);
        }
    }
}
