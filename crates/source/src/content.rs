//! A file's bytes: shared in memory, or read as they are sent.
//!
//! Small, hot files (configuration, tones, locales) are held in memory and shared by every
//! transfer. Large ones (firmware loads) are not: holding a 100 MiB load whole per version is
//! what made the server's memory follow the size of the TFTP root. They are read in stretches
//! as they are sent, from the page cache of the file found on disk ([`Content::Paged`]), or from
//! a download from another server that is still arriving ([`Content::Spooled`]); a transfer
//! then holds only its read-ahead.

use std::io;
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::sync::watch;

/// How much a transfer reads at once from content that is not in memory: enough that a
/// lock-step transfer of 512-byte blocks makes one read per 128 blocks, small enough that
/// thousands of transfers hold little.
pub const READ_AHEAD: usize = 64 << 10;

/// A file's bytes.
#[derive(Debug, Clone)]
pub enum Content {
    /// Held in memory, shared by every transfer.
    Memory(Bytes),
    /// An open file, read from the page cache as it is sent. The open descriptor pins the
    /// version that was found: a file replaced on disk (a new inode) does not change under a
    /// transfer in flight.
    Paged(Arc<Paged>),
    /// A download from another server, kept in an unlinked file while it arrives; readers wait
    /// for the bytes they need.
    Spooled(Arc<Spool>),
}

impl From<Bytes> for Content {
    fn from(bytes: Bytes) -> Self {
        Self::Memory(bytes)
    }
}

impl Content {
    /// Length in bytes (of a download, as announced).
    pub fn len(&self) -> u64 {
        match self {
            Self::Memory(bytes) => bytes.len() as u64,
            Self::Paged(paged) => paged.len,
            Self::Spooled(spool) => spool.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, when they are held in memory.
    pub fn in_memory(&self) -> Option<&Bytes> {
        match self {
            Self::Memory(bytes) => Some(bytes),
            Self::Paged(_) | Self::Spooled(_) => None,
        }
    }

    /// True for a download that broke off: what it holds will never be whole.
    pub fn failed(&self) -> bool {
        match self {
            Self::Spooled(spool) => matches!(*spool.arrival.borrow(), Arrival::Failed(_)),
            Self::Memory(_) | Self::Paged(_) => false,
        }
    }

    /// The bytes at `offset`: `len` of them, or those up to the end. Content that is not in
    /// memory is read on a blocking thread (and a download waited for); a file that turns out
    /// shorter than it was when found is an error, never a silently short answer.
    pub async fn read(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        let len = self.clip(offset, len);
        match self {
            Self::Memory(bytes) => Ok(slice(bytes, offset, len)),
            Self::Paged(paged) => {
                let bytes = read_at(&paged.file, offset, len).await?;
                paged.unchanged()?;
                Ok(bytes)
            }
            Self::Spooled(spool) => {
                spool.arrived(offset + len as u64).await?;
                read_at(&spool.file, offset, len).await
            }
        }
    }

    /// The same as [`read`](Self::read) for a caller already on a blocking thread. A download
    /// still arriving is waited for.
    pub fn read_blocking(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        let len = self.clip(offset, len);
        match self {
            Self::Memory(bytes) => Ok(slice(bytes, offset, len)),
            Self::Paged(paged) => {
                let bytes = paged.read_exact_at(offset, len)?;
                paged.unchanged()?;
                Ok(bytes)
            }
            Self::Spooled(spool) => {
                spool.arrived_blocking(offset + len as u64)?;
                spool.read_arrived(offset, len)
            }
        }
    }

    /// The whole content in memory: for the few that need it whole (a netascii conversion,
    /// `file get`). Blocking.
    pub fn to_bytes_blocking(&self) -> io::Result<Bytes> {
        let len = usize::try_from(self.len())
            .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "file too large"))?;
        self.read_blocking(0, len)
    }

    /// Feeds the content to `each` in stretches of [`READ_AHEAD`] (hashing without holding the
    /// file). Blocking.
    pub fn for_each_chunk(&self, mut each: impl FnMut(&[u8])) -> io::Result<()> {
        if let Some(bytes) = self.in_memory() {
            each(bytes);
            return Ok(());
        }
        let mut offset = 0;
        while offset < self.len() {
            let chunk = self.read_blocking(offset, READ_AHEAD)?;
            each(&chunk);
            offset += chunk.len() as u64;
        }
        Ok(())
    }

    fn clip(&self, offset: u64, len: usize) -> usize {
        let left = self.len().saturating_sub(offset);
        usize::try_from(left).map_or(len, |left| left.min(len))
    }
}

fn slice(bytes: &Bytes, offset: u64, len: usize) -> Bytes {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    bytes.slice(start..(start + len).min(bytes.len()))
}

/// Reads from the page cache on the spot when it holds every byte asked for (`preadv2` with
/// `RWF_NOWAIT`: it never waits for the disk); otherwise on a blocking thread. The hop to a
/// blocking thread for every stretch doubled a lock-step transfer's CPU and halved its speed
/// (measured: 20 MiB at blksize 1428, 0.96 s against 0.42 s from memory), while a read of a
/// load the page cache holds takes microseconds.
async fn read_at(file: &Arc<std::fs::File>, offset: u64, len: usize) -> io::Result<Bytes> {
    if let Some(cached) = read_cached(file, offset, len) {
        return cached;
    }
    let file = Arc::clone(file);
    tokio::task::spawn_blocking(move || read_exact_at(&file, offset, len))
        .await
        .map_err(|e| io::Error::other(format!("read task: {e}")))?
}

/// The bytes, if the page cache has all of them; `None` when some must come from the disk (or
/// the file system cannot tell).
fn read_cached(file: &std::fs::File, offset: u64, len: usize) -> Option<io::Result<Bytes>> {
    use rustix::io::{Errno, ReadWriteFlags, preadv2};
    let mut buf = BytesMut::zeroed(len);
    let mut filled = 0;
    while filled < len {
        let rest = buf.get_mut(filled..)?;
        match preadv2(
            file,
            &mut [io::IoSliceMut::new(rest)],
            offset + filled as u64,
            ReadWriteFlags::NOWAIT,
        ) {
            Ok(0) => return Some(Err(shorter())),
            Ok(n) => filled += n,
            Err(Errno::AGAIN | Errno::OPNOTSUPP | Errno::NOSYS | Errno::INVAL) => return None,
            Err(e) => return Some(Err(e.into())),
        }
    }
    Some(Ok(buf.freeze()))
}

fn shorter() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file became shorter while it was being sent",
    )
}

/// An open file of a known length.
///
/// The descriptor pins the inode: a file replaced by a rename does not change under a transfer.
/// A file rewritten in place (`cp` over it, an editor that truncates) does; every read checks
/// that size and modification time are still those found, so such a transfer ends with an
/// error instead of completing with old bytes before the read position and new ones after it.
#[derive(Debug)]
pub struct Paged {
    file: Arc<std::fs::File>,
    len: u64,
    stamp: Stamp,
}

/// What `fstat` says of a version's content: size and modification time. (Not the change
/// time: a new file renamed over the path unlinks this inode, which changes its ctime, and a
/// transfer of the old version must still finish.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime: (i64, i64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        Self {
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    }
}

impl Paged {
    /// `file` as `meta` (its `fstat` when it was found) describes it.
    pub fn new(file: std::fs::File, meta: &std::fs::Metadata) -> Self {
        Self {
            file: Arc::new(file),
            len: meta.len(),
            stamp: Stamp::of(meta),
        }
    }

    fn read_exact_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        read_exact_at(&self.file, offset, len)
    }

    /// An error if the file was written to since it was found.
    fn unchanged(&self) -> io::Result<()> {
        if Stamp::of(&self.file.metadata()?) == self.stamp {
            Ok(())
        } else {
            Err(io::Error::other(
                "the file was rewritten in place while it was being sent",
            ))
        }
    }
}

fn read_exact_at(file: &std::fs::File, offset: u64, len: usize) -> io::Result<Bytes> {
    let mut buf = BytesMut::zeroed(len);
    file.read_exact_at(&mut buf, offset).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            shorter()
        } else {
            e
        }
    })?;
    Ok(buf.freeze())
}

/// How much of a download has arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Arrival {
    Partial(u64),
    Complete,
    Failed(String),
}

/// A download kept in an unlinked temporary file while it arrives: readers of the bytes that
/// have arrived go ahead, the others wait. The file goes with the last reference.
#[derive(Debug)]
pub struct Spool {
    file: Arc<std::fs::File>,
    len: u64,
    arrival: watch::Receiver<Arrival>,
}

/// The writing end of a [`Spool`], held by the download.
#[derive(Debug)]
pub struct SpoolWriter {
    file: std::fs::File,
    written: u64,
    len: u64,
    arrival: watch::Sender<Arrival>,
}

impl Spool {
    /// An empty spool of `len` announced bytes in a new unlinked file under `dir`.
    pub fn create(dir: &std::path::Path, len: u64) -> io::Result<(Arc<Self>, SpoolWriter)> {
        let file = tempfile::tempfile_in(dir)?;
        let (sender, receiver) = watch::channel(if len == 0 {
            Arrival::Complete
        } else {
            Arrival::Partial(0)
        });
        let writer = SpoolWriter {
            file: file.try_clone()?,
            written: 0,
            len,
            arrival: sender,
        };
        Ok((
            Arc::new(Self {
                file: Arc::new(file),
                len,
                arrival: receiver,
            }),
            writer,
        ))
    }

    /// Waits until the bytes before `end` have arrived.
    async fn arrived(&self, end: u64) -> io::Result<()> {
        let mut arrival = self.arrival.clone();
        let state = arrival
            .wait_for(|a| !matches!(a, Arrival::Partial(n) if *n < end))
            .await
            .map_err(|_| io::Error::other("the download was abandoned"))?;
        check(&state)
    }

    fn arrived_blocking(&self, end: u64) -> io::Result<()> {
        let mut arrival = self.arrival.clone();
        loop {
            let state = arrival.borrow_and_update().clone();
            match state {
                Arrival::Partial(n) if n < end => {}
                other => return check(&other),
            }
            // A blocking thread of the runtime may wait on it.
            tokio::runtime::Handle::current()
                .block_on(arrival.changed())
                .map_err(|_| io::Error::other("the download was abandoned"))?;
        }
    }

    fn read_arrived(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        read_exact_at(&self.file, offset, len)
    }
}

fn check(arrival: &Arrival) -> io::Result<()> {
    match arrival {
        Arrival::Failed(why) => Err(io::Error::other(format!("the download failed: {why}"))),
        Arrival::Partial(_) | Arrival::Complete => Ok(()),
    }
}

impl SpoolWriter {
    /// Appends the next bytes of the download. More than announced is an error.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let end = self.written + bytes.len() as u64;
        if end > self.len {
            let why = format!("more than the {} bytes announced", self.len);
            self.fail(&why);
            return Err(io::Error::new(io::ErrorKind::InvalidData, why));
        }
        if let Err(e) = self.file.write_all_at(bytes, self.written) {
            self.fail(&e.to_string());
            return Err(e);
        }
        self.written = end;
        self.arrival.send_replace(if end == self.len {
            Arrival::Complete
        } else {
            Arrival::Partial(end)
        });
        Ok(())
    }

    /// True once every announced byte has arrived.
    pub fn is_complete(&self) -> bool {
        self.written == self.len
    }

    /// The download broke off: every reader waiting, or coming later, gets the error.
    pub fn fail(&self, why: &str) {
        self.arrival.send_replace(Arrival::Failed(why.to_owned()));
    }
}

impl Drop for SpoolWriter {
    fn drop(&mut self) {
        if !self.is_complete() {
            self.arrival.send_if_modified(|a| {
                if matches!(a, Arrival::Partial(_)) {
                    *a = Arrival::Failed("the download ended early".into());
                    true
                } else {
                    false
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paged(content: &[u8]) -> (tempfile::NamedTempFile, Content) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), content).unwrap();
        let open = std::fs::File::open(file.path()).unwrap();
        let meta = open.metadata().unwrap();
        let content = Content::Paged(Arc::new(Paged::new(open, &meta)));
        (file, content)
    }

    #[tokio::test]
    async fn a_paged_file_reads_stretches_and_clips_at_its_end() {
        let (_keep, content) = paged(b"0123456789");
        assert_eq!(&content.read(2, 3).await.unwrap()[..], b"234");
        assert_eq!(&content.read(8, 100).await.unwrap()[..], b"89");
        assert!(content.read(10, 5).await.unwrap().is_empty());
        assert!(content.in_memory().is_none());
    }

    #[tokio::test]
    async fn a_paged_file_rewritten_in_place_is_an_error_not_a_mixed_file() {
        let (keep, content) = paged(b"0123456789");
        assert_eq!(&content.read(0, 4).await.unwrap()[..], b"0123");
        // Same inode, same length, new bytes: what `cp` over a load does.
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(keep.path(), b"abcdefghij").unwrap();
        let error = content.read(4, 6).await.unwrap_err();
        assert!(error.to_string().contains("rewritten"), "{error}");
    }

    #[tokio::test]
    async fn a_paged_file_that_shrank_is_an_error_not_a_short_read() {
        let (keep, content) = paged(b"0123456789");
        std::fs::OpenOptions::new()
            .write(true)
            .open(keep.path())
            .unwrap()
            .set_len(4)
            .unwrap();
        let error = content.read(0, 10).await.unwrap_err();
        assert!(error.to_string().contains("shorter"), "{error}");
    }

    #[tokio::test]
    async fn a_spool_reader_waits_for_the_bytes_it_needs_and_sees_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, mut writer) = Spool::create(dir.path(), 8).unwrap();
        let content = Content::Spooled(Arc::clone(&spool));
        let reader = tokio::spawn({
            let content = content.clone();
            async move { content.read(4, 4).await }
        });
        writer.write(b"abcd").unwrap();
        tokio::task::yield_now().await;
        assert!(!reader.is_finished(), "bytes 4..8 have not arrived");
        writer.write(b"efgh").unwrap();
        assert_eq!(&reader.await.unwrap().unwrap()[..], b"efgh");
        assert_eq!(&content.read(0, 8).await.unwrap()[..], b"abcdefgh");

        let (spool, mut writer) = Spool::create(dir.path(), 8).unwrap();
        let content = Content::Spooled(spool);
        writer.write(b"ab").unwrap();
        assert_eq!(&content.read(0, 2).await.unwrap()[..], b"ab");
        drop(writer);
        let error = content.read(0, 8).await.unwrap_err();
        assert!(error.to_string().contains("ended early"), "{error}");
        assert!(writer_refuses_more_than_announced(dir.path()));
    }

    fn writer_refuses_more_than_announced(dir: &std::path::Path) -> bool {
        let (_spool, mut writer) = Spool::create(dir, 2).unwrap();
        writer.write(b"abc").is_err()
    }
}
