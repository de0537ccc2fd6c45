//! Managing the files of the locations (`phoneboot file`, the startup cache): atomic, confined
//! writes, removal, listing. Serving is the parent module's business.

use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{FileRoots, Probe, Root};
use crate::name::{Denied, FileName, MAX_COMPONENTS, PARTIAL_PREFIX};

/// A file found by [`FileRoots::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// 0 for the root, then the alternate locations in order.
    pub location: usize,
    /// Relative name, `/`-separated.
    pub name: String,
    pub len: u64,
    pub modified: SystemTime,
}

/// Why a file operation of `phoneboot file` failed.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("there is no location {0}: 0 is the root, 1..={1} the alternate locations")]
    NoSuchLocation(usize, usize),
    #[error("{0}")]
    Denied(Denied),
    #[error("{0} is a symlink; files are only written through real directories of the root")]
    SymlinkComponent(PathBuf),
    #[error("{0} exists and is not a directory")]
    NotADirectory(PathBuf),
    #[error("no such file in this location")]
    NotFound,
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl FileRoots {
    /// Reads every file of every location into the cache, as far as the cache's bound allows
    /// (CUCM's "Enable Caching of Constant and Bin Files at Startup"), so that the first boot
    /// storm after a start is served from memory. Files streamed from the page cache are read
    /// through once, so that the page cache holds them. Blocking. Returns (files, bytes) cached.
    pub fn preload(&self) -> (usize, u64) {
        let (mut files, mut bytes) = (0, 0);
        for listed in self.list() {
            let held = listed.len <= self.stream_above;
            if held && self.cached_bytes() + listed.len > self.cache_max_bytes {
                continue;
            }
            let Ok(name) = FileName::parse(listed.name.as_bytes()) else {
                continue;
            };
            if let Probe::NeedsLoad(pending) = self.probe(&name)
                && let Ok(file) = self.load(pending)
            {
                if file.content.in_memory().is_none()
                    && file.content.for_each_chunk(|_| ()).is_err()
                {
                    continue;
                }
                files += 1;
                bytes += file.content.len();
            }
        }
        (files, bytes)
    }

    /// The canonical paths of the locations: the root first, then the alternates.
    pub fn locations(&self) -> impl Iterator<Item = &Path> {
        self.roots.iter().map(|r| r.canonical.as_path())
    }

    /// Stores `content` as `name` in location `index`, atomically: it is written to a reserved
    /// temporary name, synced, then renamed over the old file, so a reader sees the old file or
    /// the new one, never a part, and a transfer in flight keeps the version it started with.
    /// Missing directories are created; a symlink on the way is refused, so that nothing can be
    /// written outside the location. An existing file that differs only in case is replaced
    /// (with case-insensitive lookup, two such files would shadow each other).
    pub fn put(
        &self,
        index: usize,
        name: &FileName,
        content: &[u8],
    ) -> Result<PathBuf, ManageError> {
        self.put_stamped(index, name, content, None)
    }

    /// [`put`](Self::put), with the file's modification time set to `modified` before it
    /// appears (a file stored in the database has its commit time on every node, so that
    /// every node sends the same Last-Modified).
    pub fn put_stamped(
        &self,
        index: usize,
        name: &FileName,
        content: &[u8],
        modified: Option<SystemTime>,
    ) -> Result<PathBuf, ManageError> {
        let root = self.location(index)?;
        let Some((base, dirs)) = name.components.split_last() else {
            return Err(ManageError::Denied(Denied::NotAFile));
        };
        let mut dir = root.canonical.clone();
        for component in dirs {
            let next = self.existing_case(&dir, component);
            match std::fs::symlink_metadata(&next) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(ManageError::SymlinkComponent(next));
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(ManageError::NotADirectory(next)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir(&next)?,
                Err(e) => return Err(e.into()),
            }
            dir = next;
        }
        let target = self.existing_case(&dir, base);
        if std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
            return Err(ManageError::Denied(Denied::NotAFile));
        }
        let stamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let partial = dir.join(format!("{PARTIAL_PREFIX}{}-{stamp}", std::process::id()));
        let written = (|| -> io::Result<()> {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&partial)?;
            io::Write::write_all(&mut file, content)?;
            if let Some(modified) = modified {
                file.set_modified(modified)?;
            }
            file.sync_all()?;
            std::fs::rename(&partial, &target)?;
            // The rename itself must survive a crash too.
            std::fs::File::open(&dir)?.sync_all()
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&partial);
            return Err(e.into());
        }
        Ok(target)
    }

    /// Removes `name` from location `index` (matched like a lookup, case-insensitively).
    pub fn remove(&self, index: usize, name: &FileName) -> Result<PathBuf, ManageError> {
        let root = self.location(index)?;
        let (path, _) = self
            .resolve(&root.canonical, name)
            .ok_or(ManageError::NotFound)?;
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            return Err(ManageError::Denied(Denied::NotAFile));
        }
        // The directory holding it must be inside the location (no symlinked directory).
        let parent = path.parent().map(std::fs::canonicalize).transpose()?;
        if !parent.is_some_and(|p| p.starts_with(&root.canonical)) {
            return Err(ManageError::Denied(Denied::OutsideRoot));
        }
        std::fs::remove_file(&path)?;
        let mut cache = self.lock();
        if let Some(old) = cache.files.remove(&path) {
            cache.forget(&old); // an open file kept for streaming lets its inode go
        }
        Ok(path)
    }

    /// Every file of every location, by location then name. Symlinked directories are not
    /// followed; temporary upload files are left out.
    pub fn list(&self) -> Vec<Listed> {
        let mut out = Vec::new();
        for (location, root) in self.roots.iter().enumerate() {
            let mut found = Vec::new();
            walk(
                &root.canonical,
                &root.canonical,
                "",
                0,
                &mut |name, meta| {
                    found.push(Listed {
                        location,
                        name,
                        len: meta.len(),
                        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    });
                },
            );
            found.sort_by(|a, b| a.name.cmp(&b.name));
            out.extend(found);
        }
        out
    }

    fn location(&self, index: usize) -> Result<&Root, ManageError> {
        self.roots.get(index).ok_or(ManageError::NoSuchLocation(
            index,
            self.roots.len().saturating_sub(1),
        ))
    }

    /// `dir/component`, or the entry of `dir` that matches it but for case, if lookups ignore
    /// case and there is one.
    fn existing_case(&self, dir: &Path, component: &str) -> PathBuf {
        let exact = dir.join(component);
        if !self.case_insensitive || std::fs::symlink_metadata(&exact).is_ok() {
            return exact;
        }
        match self.find_in_listing(dir, component) {
            Some(actual) => dir.join(actual),
            None => exact,
        }
    }
}

/// Lists the files under `dir`, calling `found` with each relative name. Symlinked directories
/// are not entered; a symlinked file is listed only if it resolves inside `root` (what the
/// server would serve).
fn walk(
    root: &Path,
    dir: &Path,
    prefix: &str,
    depth: usize,
    found: &mut dyn FnMut(String, Metadata),
) {
    if depth > MAX_COMPONENTS {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.starts_with(PARTIAL_PREFIX) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let path = format!("{prefix}{name}");
        if meta.is_dir() {
            walk(root, &entry.path(), &format!("{path}/"), depth + 1, found);
        } else if meta.is_file() {
            found(path, meta);
        } else if meta.file_type().is_symlink()
            && std::fs::canonicalize(entry.path()).is_ok_and(|real| real.starts_with(root))
            && let Ok(target) = std::fs::metadata(entry.path())
            && target.is_file()
        {
            found(path, target);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{get, name};
    use super::*;

    #[test]
    fn put_replaces_atomically_and_is_seen_at_once() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("RingList.xml"), b"<old/>").unwrap();
        let roots = FileRoots::new(&[root.path().into()], true, 1 << 20).unwrap();
        let before = get(&roots, "ringlist.xml").unwrap();
        // A different case replaces the existing file instead of shadowing it.
        roots.put(0, &name("RINGLIST.XML"), b"<new/>").unwrap();
        assert_eq!(get(&roots, "ringlist.xml").unwrap(), "<new/>");
        assert_eq!(
            before, "<old/>",
            "what a transfer already holds does not change"
        );
        roots
            .put(0, &name("Desktops/320x212x12/bg.png"), b"png")
            .unwrap();
        assert_eq!(get(&roots, "desktops/320X212X12/BG.PNG").unwrap(), "png");
        let names: Vec<String> = roots.list().into_iter().map(|l| l.name).collect();
        assert_eq!(names, ["Desktops/320x212x12/bg.png", "RingList.xml"]);
        roots.remove(0, &name("ringlist.xml")).unwrap();
        assert_eq!(get(&roots, "RingList.xml").unwrap_err(), "not found");
        assert!(matches!(
            roots.remove(0, &name("RingList.xml")),
            Err(ManageError::NotFound)
        ));
    }

    #[test]
    fn put_never_writes_through_a_symlink_or_outside_a_location() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("leak"))
            .unwrap();
        let roots = FileRoots::new(&[root.path().into()], true, 1 << 20).unwrap();
        assert!(matches!(
            roots.put(0, &name("escape/evil"), b"x"),
            Err(ManageError::SymlinkComponent(_))
        ));
        assert!(!outside.path().join("evil").exists());
        assert!(matches!(
            roots.put(1, &name("f"), b"x"),
            Err(ManageError::NoSuchLocation(1, 0))
        ));
        assert!(matches!(
            roots.remove(0, &name("escape/secret")),
            Err(ManageError::Denied(_))
        ));
        assert!(outside.path().join("secret").exists());
        assert_eq!(
            FileName::parse(b".phoneboot-partial-1-2"),
            Err(Denied::Reserved)
        );
        let names: Vec<String> = roots.list().into_iter().map(|l| l.name).collect();
        assert!(
            names.is_empty(),
            "links leading out are not listed: {names:?}"
        );
    }
}
