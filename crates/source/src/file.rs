//! A file as a source hands it out: its content, when that version came to be, where it came
//! from, and its content hash.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use sha2::{Digest as _, Sha256};

/// A file's content, shared (`Bytes`) by every transfer of it.
#[derive(Debug, Clone)]
pub struct File {
    pub content: Bytes,
    /// When this version came to be: the modification time on disk, the time a built file's
    /// generation was taken in, the Last-Modified a peer sent.
    pub modified: SystemTime,
    pub origin: Origin,
    /// Computed on first use and shared by every copy handed out from one cache entry, so a
    /// file is hashed at most once per version, and never when no one asks (TFTP does not).
    digest: Arc<OnceLock<Digest>>,
}

impl File {
    pub fn new(content: Bytes, modified: SystemTime, origin: Origin) -> Self {
        Self {
            content,
            modified,
            origin,
            digest: Arc::default(),
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
    /// build, so it makes an exact, shareable HTTP validator.
    pub fn digest(&self) -> Digest {
        *self.digest.get_or_init(|| Digest::of(&self.content))
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
            Bytes::from_static(b"abc"),
            SystemTime::UNIX_EPOCH,
            Origin::Disk,
        );
        let copy = file.from_cache();
        assert_eq!(
            file.digest().to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(
            copy.digest.get().is_some(),
            "a copy shares the hash computed once"
        );
        assert_eq!(copy.origin, Origin::Cache);
    }
}
