//! The operator's profile converter: a command that turns the `#txt` profile phoneboot builds
//! for a 7902/7905/7912 (on its stdin) into the binary the phone reads (on its stdout), such
//! as a wrapper around Cisco's cfgfmt. The binary layout is not documented (the spec marks it
//! unverified), so phoneboot does not write it itself.
//!
//! Shared by `serve` (the phone's request) and the CLI (`render`, `build`), so that what an
//! operator inspects is what a phone gets.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use phoneboot_source::Digest;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};

/// Converted profiles kept at most (by the hash of their text).
const MAX_CONVERTED: usize = 4096;
/// How long one run of the command may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The most a profile may be (a 7912's binary profile is a few KiB).
const MAX_OUTPUT: usize = 1 << 20;
/// The most of the command's stderr kept for the error message.
const MAX_STDERR: usize = 4096;

/// A configured converter with a cache of its results (a boot storm of 7912s asks for the
/// same few texts thousands of times; the command runs once per distinct text).
#[derive(Debug)]
pub struct ProfileConverter {
    command: Vec<String>,
    /// By the SHA-256 of the text: a 64-bit hash could hand one phone another's profile.
    converted: Mutex<HashMap<Digest, Bytes>>,
}

impl ProfileConverter {
    /// `None` when no command is configured.
    pub fn new(command: &[String]) -> Option<Self> {
        (!command.is_empty()).then(|| Self {
            command: command.to_vec(),
            converted: Mutex::new(HashMap::new()),
        })
    }

    /// The program, for messages.
    pub fn program(&self) -> &str {
        self.command.first().map_or("", String::as_str)
    }

    /// The binary profile for `text`; the error says why the command gave none (it could
    /// not start, timed out, or exited with an error — with its stderr).
    pub async fn convert(&self, text: &[u8]) -> Result<Bytes, String> {
        let key = Digest::of(text);
        if let Some(bytes) = self
            .converted
            .lock()
            .ok()
            .and_then(|c| c.get(&key).cloned())
        {
            return Ok(bytes);
        }
        let bytes = run(&self.command, text).await?;
        if let Ok(mut cache) = self.converted.lock() {
            if cache.len() >= MAX_CONVERTED {
                cache.clear();
            }
            cache.insert(key, bytes.clone());
        }
        Ok(bytes)
    }
}

async fn run(command: &[String], input: &[u8]) -> Result<Bytes, String> {
    let (program, args) = command.split_first().ok_or("no command")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {program:?}: {e}"))?;
    // Feed stdin while reading stdout and stderr: a command that writes before it has read
    // everything would otherwise fill its pipe and wait on us while we wait on it.
    let stdin = child.stdin.take();
    let feed = async move {
        match stdin {
            // Dropped at the end of the block: the command sees end of input.
            Some(mut stdin) => stdin.write_all(input).await,
            None => Ok(()),
        }
    };
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let (fed, out, err) = tokio::time::timeout(TIMEOUT, async {
        tokio::join!(
            feed,
            read_capped(stdout, MAX_OUTPUT, Rest::Leave),
            read_capped(stderr, MAX_STDERR, Rest::Drain)
        )
    })
    .await
    .map_err(|_| format!("no result within {TIMEOUT:?}"))?;
    let (out, too_much) = out.map_err(|e| format!("reading its output: {e}"))?;
    if too_much {
        // Bounded memory: a runaway command is stopped, not read to the end.
        let _ = child.kill().await;
        return Err(format!(
            "it wrote more than {MAX_OUTPUT} bytes; a phone profile is a few KiB"
        ));
    }
    let status = tokio::time::timeout(TIMEOUT, child.wait())
        .await
        .map_err(|_| format!("it did not exit within {TIMEOUT:?} of closing its output"))?
        .map_err(|e| e.to_string())?;
    // A command that failed without reading its input breaks the pipe; its exit status and
    // stderr say more than the broken pipe does.
    if !status.success() {
        let (err, _) = err.unwrap_or_default();
        return Err(format!(
            "{status}: {}",
            String::from_utf8_lossy(&err).trim()
        ));
    }
    fed.map_err(|e| format!("it did not read the whole profile: {e}"))?;
    Ok(Bytes::from(out))
}

/// What to do with what a pipe holds past the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rest {
    /// Leave it: the caller stops the command.
    Leave,
    /// Read and drop it, so that the command is never blocked writing (its stderr).
    Drain,
}

/// Reads `pipe`, keeping at most `cap` bytes; true when there was more.
async fn read_capped(
    pipe: Option<impl AsyncRead + Unpin>,
    cap: usize,
    rest: Rest,
) -> std::io::Result<(Vec<u8>, bool)> {
    let Some(pipe) = pipe else {
        return Ok((Vec::new(), false));
    };
    let mut kept = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    let mut pipe = pipe.take(limit);
    pipe.read_to_end(&mut kept).await?;
    let more = kept.len() > cap;
    kept.truncate(cap);
    if more && rest == Rest::Drain {
        tokio::io::copy(&mut pipe.into_inner(), &mut tokio::io::sink()).await?;
    }
    Ok((kept, more))
}
