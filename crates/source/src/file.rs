//! A file as a source hands it out: its content, when that version came to be, where it came
//! from, and its content hash.

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use sha2::{Digest as _, Sha256};

use crate::content::Content;

/// A file's content, shared by every transfer of it (see [`Content`]).
#[derive(Debug, Clone)]
pub struct File {
    pub content: Content,
    /// When this version came to be: the modification time on disk, the time a built file's
    /// generation was taken in, the Last-Modified a peer sent.
    pub modified: SystemTime,
    pub origin: Origin,
    /// Computed on first use and shared by every copy handed out from one cache entry, so a
    /// file is hashed at most once per version, and never when no one asks (TFTP does not).
    digest: Arc<DigestCell>,
    /// The `versionStamp` of the configuration this file carries where its own bytes cannot
    /// show it: an encrypted configuration (`.enc.sgn`). `None` for every other file.
    pub carried_stamp: Option<Arc<str>>,
}

/// A digest computed at most once for all the copies of a file, even when several ask at once
/// (the first HTTP requests of a storm for a 100 MiB load must not each read it).
#[derive(Debug, Default)]
struct DigestCell {
    value: OnceLock<Digest>,
    computing: Mutex<()>,
}

impl File {
    pub fn new(content: impl Into<Content>, modified: SystemTime, origin: Origin) -> Self {
        Self {
            content: content.into(),
            modified,
            origin,
            digest: Arc::default(),
            carried_stamp: None,
        }
    }

    /// The same file, handed out again from where it is kept.
    #[must_use]
    pub fn from_cache(&self) -> Self {
        Self {
            origin: Origin::Cache,
            ..self.clone()
        }
    }

    /// SHA-256 of the content: the same bytes have the same digest on every node and in every
    /// build, so it makes an exact, shareable HTTP validator. Blocking when the content is not
    /// in memory (it is read through once; see [`File::digest_known`]).
    pub fn digest(&self) -> io::Result<Digest> {
        if let Some(known) = self.digest.value.get() {
            return Ok(*known);
        }
        let _only_one = self
            .digest
            .computing
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(known) = self.digest.value.get() {
            return Ok(*known); // computed while this one waited
        }
        let mut hasher = Sha256::new();
        self.content.for_each_chunk(|chunk| hasher.update(chunk))?;
        Ok(*self
            .digest
            .value
            .get_or_init(|| Digest(hasher.finalize().into())))
    }

    /// The digest without blocking: when it is known already or the content is in memory.
    pub fn digest_known(&self) -> Option<Digest> {
        match self.digest.value.get() {
            Some(known) => Some(*known),
            None => self.content.in_memory().and_then(|_| self.digest().ok()),
        }
    }
}

/// Where a file's content came from, for the *FromDisk counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A memory cache (or built in memory).
    Cache,
    /// Read from disk for this request.
    Disk,
    /// Fetched from another server for this request.
    Remote,
}

/// A SHA-256 content hash; shown as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    pub fn of(content: &[u8]) -> Self {
        Self(Sha256::digest(content).into())
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_the_sha256_of_the_content_and_shared_by_copies() {
        let file = File::new(
            bytes::Bytes::from_static(b"abc"),
            SystemTime::UNIX_EPOCH,
            Origin::Disk,
        );
        let copy = file.from_cache();
        assert_eq!(
            file.digest().unwrap().to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(
            copy.digest.value.get().is_some(),
            "a copy shares the hash computed once"
        );
        assert_eq!(copy.origin, Origin::Cache);
    }
}
