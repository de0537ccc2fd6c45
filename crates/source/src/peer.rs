//! Alternate file servers ("centralized TFTP"): another cluster's phoneboot or CUCM TFTP, asked
//! over HTTP when no local source has a file (spec cisco-tftp.md §4.3).
//!
//! One [`PeerSource`] is one remote cluster: up to 3 servers, asked in order.
//!
//! | server answers | we |
//! |---|---|
//! | 200 | serve it, and keep it for `cache_ttl` |
//! | 404 | ask the next server |
//! | 503 | answer "try later" (TFTP busy, HTTP 503) and stop: the file exists, its owner is busy |
//! | connection error, timeout, other status | ask the next server |
//!
//! Timeouts are tight (the phone's own TFTP timeout must not run out while we wait). A file up
//! to `stream_above` bytes is fetched whole before the transfer starts, so the first block is in
//! hand. A larger one (a firmware load) is not waited for: it is written to an unlinked file in
//! `spool_dir` as it arrives ([`Content::Spooled`]), and transfers send each block once it is
//! there, so the phone's download overlaps ours and the server holds none of it in memory.
//! `timeout` then bounds each wait for more of the body, not the whole download.
//!
//! Loops: every request we send carries [`HOP_HEADER`]; a server receiving it answers from its
//! local sources only. Common files (cluster-wide names such as `RingList.xml.sgn` or locale
//! files, seed: "served from the local copy") are never fetched remotely.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use tracing::{debug, warn};

use crate::chain::{Lookup, LookupFuture, Source};
use crate::content::{Content, READ_AHEAD, Spool, SpoolWriter};
use crate::file::{File, Origin};
use crate::name::FileName;
use crate::query::Query;

/// Header marking a request that comes from another server: answer from local sources only.
pub const HOP_HEADER: &str = "x-phoneboot-hop";

/// At most this many servers per remote cluster (CUCM's limit).
pub const MAX_SERVERS: usize = 3;

/// Name patterns of the common files never fetched from another cluster. `*` matches any run of
/// characters (also `/`), `?` one character; matching ignores case.
pub const DEFAULT_COMMON_FILES: &[&str] = &[
    "RingList*",
    "DistinctiveRingList*",
    "*-tones.xml*",
    "*-dictionary*",
    "*.jar",
    "*.jar.sgn",
];

/// One remote cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    pub name: String,
    /// Base URLs (`http://host:port`), at most [`MAX_SERVERS`].
    pub servers: Vec<String>,
    /// For the TCP connection to one server.
    pub connect_timeout: Duration,
    /// For a whole request to one server, body included; for a streamed file, for its headers
    /// and then for each wait for more of its body.
    pub timeout: Duration,
    /// How long a fetched file is served from memory before it is asked for again.
    pub cache_ttl: Duration,
    /// Largest file accepted from a peer.
    pub max_file_bytes: u64,
    /// Files announced larger than this are streamed through `spool_dir`, not held in memory.
    pub stream_above: u64,
    /// Where streamed files are kept while they are served (unlinked files: nothing is left
    /// behind, even after a crash).
    pub spool_dir: PathBuf,
    pub common_files: Vec<String>,
    /// A common file's `.sgn` asked of this cluster first for the phones whose own files
    /// it served (the seed's warning: a ring list signed by the wrong cluster is refused).
    pub common_signed_from_home: bool,
}

impl PeerConfig {
    /// A cluster with the usual timeouts: 500 ms to connect, 3 s per server in all.
    pub fn new(name: impl Into<String>, servers: Vec<String>) -> Self {
        Self {
            name: name.into(),
            servers,
            connect_timeout: Duration::from_millis(500),
            timeout: Duration::from_secs(3),
            cache_ttl: Duration::from_secs(300),
            max_file_bytes: 512 << 20,
            stream_above: crate::dir::DEFAULT_STREAM_ABOVE,
            spool_dir: std::env::temp_dir(),
            common_files: DEFAULT_COMMON_FILES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            common_signed_from_home: true,
        }
    }
}

/// Phones remembered as this cluster's (their own files came from it), at most this many and
/// for this long: a boot takes seconds, a phone keeps its address for hours.
const MAX_HOMES: usize = 65_536;
const HOME_TTL: Duration = Duration::from_secs(3600);

/// Whether a name is a device's own file (`SEP<MAC>…`, `SIP<MAC>.cnf`, in any form): what
/// makes the cluster that has it the phone's home.
fn is_device_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    (lower.starts_with("sep") || lower.starts_with("sip")) && lower.contains(".cnf")
}

/// Why a peer configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("remote cluster {0}: between 1 and {MAX_SERVERS} servers are needed")]
    ServerCount(String),
    #[error("remote cluster {0}: server {1:?} is not an http:// URL or host[:port]: {2}")]
    BadUrl(String, String, String),
    #[error("HTTP client: {0}")]
    Client(String),
}

#[derive(Debug)]
struct Cached {
    file: File,
    at: Instant,
}

/// One remote cluster as a [`Source`].
#[derive(Debug)]
pub struct PeerSource {
    config: PeerConfig,
    servers: Vec<reqwest::Url>,
    client: reqwest::Client,
    cache: Mutex<HashMap<String, Cached>>,
    /// Clients whose own files this cluster served, and when.
    homes: Mutex<HashMap<std::net::IpAddr, Instant>>,
}

impl PeerSource {
    pub fn new(config: PeerConfig) -> Result<Self, PeerError> {
        if config.servers.is_empty() || config.servers.len() > MAX_SERVERS {
            return Err(PeerError::ServerCount(config.name.clone()));
        }
        let servers = config
            .servers
            .iter()
            .map(|s| base_url(s).map_err(|e| PeerError::BadUrl(config.name.clone(), s.clone(), e)))
            .collect::<Result<Vec<_>, _>>()?;
        // No timeout for a whole request here: a streamed download may take longer than one
        // wait; each wait is bounded where it is made.
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|e| PeerError::Client(e.to_string()))?;
        Ok(Self {
            config,
            servers,
            client,
            cache: Mutex::new(HashMap::new()),
            homes: Mutex::default(),
        })
    }

    /// Remembers `query`'s client as this cluster's when it got its own file from here.
    fn note_home(&self, query: &Query) {
        if !is_device_file(&query.name.display()) {
            return;
        }
        let now = Instant::now();
        let mut homes = self.homes.lock().unwrap_or_else(|p| p.into_inner());
        if homes.len() >= MAX_HOMES {
            homes.retain(|_, at| now.duration_since(*at) < HOME_TTL / 2);
            if homes.len() >= MAX_HOMES {
                homes.clear();
            }
        }
        homes.insert(query.client.ip(), now);
    }

    fn is_home_of(&self, query: &Query) -> bool {
        let homes = self.homes.lock().unwrap_or_else(|p| p.into_inner());
        homes
            .get(&query.client.ip())
            .is_some_and(|at| at.elapsed() < HOME_TTL)
    }

    fn is_common(&self, name: &FileName) -> bool {
        let text = name.display();
        self.config
            .common_files
            .iter()
            .any(|p| glob_match(p, &text))
    }

    fn cached(&self, key: &str) -> Option<File> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(key)
            // A download that broke off is fetched again, not served broken for the TTL.
            .filter(|c| c.at.elapsed() < self.config.cache_ttl && !c.file.content.failed())
            .map(|c| c.file.from_cache())
    }

    fn remember(&self, key: String, file: File) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: expired entries go first; past 1024 names the table starts over.
        cache.retain(|_, c| c.at.elapsed() < self.config.cache_ttl && !c.file.content.failed());
        if cache.len() >= 1024 {
            cache.clear();
        }
        // Streamed files cost the spool's disk, not the process's memory: a few are kept, the
        // rest fetched again. (Concurrent first misses each start their own download.)
        if file.content.in_memory().is_none() {
            let mut spooled: Vec<_> = cache
                .iter()
                .filter(|(_, c)| c.file.content.in_memory().is_none())
                .map(|(k, c)| (c.at, k.clone()))
                .collect();
            spooled.sort();
            let excess = (spooled.len() + 1).saturating_sub(MAX_SPOOLED);
            for (_, key) in spooled.into_iter().take(excess) {
                cache.remove(&key);
            }
        }
        cache.insert(
            key,
            Cached {
                file,
                at: Instant::now(),
            },
        );
    }

    async fn fetch(&self, base: &reqwest::Url, name: &FileName) -> Fetch {
        let mut url = base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(name.components());
        }
        let request = self.client.get(url.clone()).header(HOP_HEADER, "1").send();
        let response = match tokio::time::timeout(self.config.timeout, request).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Fetch::Unreachable(format!("{url}: {e}")),
            Err(_) => return Fetch::Unreachable(format!("{url}: no answer in time")),
        };
        match response.status().as_u16() {
            200 => {}
            404 => return Fetch::NotThere,
            503 => return Fetch::Busy,
            other => return Fetch::Unreachable(format!("{url}: status {other}")),
        }
        if response
            .content_length()
            .is_some_and(|len| len > self.config.max_file_bytes)
        {
            return Fetch::Unreachable(format!(
                "{url}: larger than {} bytes",
                self.config.max_file_bytes
            ));
        }
        let modified = response
            .headers()
            .get(reqwest::header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .unwrap_or_else(SystemTime::now);
        if let Some(len) = response
            .content_length()
            .filter(|len| *len > self.config.stream_above)
        {
            let (spool, writer) = match Spool::create(&self.config.spool_dir, len) {
                Ok(spool) => spool,
                Err(e) => {
                    let dir = self.config.spool_dir.display();
                    return Fetch::Unreachable(format!("{url}: cannot spool in {dir}: {e}"));
                }
            };
            tokio::spawn(download(response, writer, self.config.timeout, url));
            return Fetch::Got(File::new(Content::Spooled(spool), modified, Origin::Remote));
        }
        match tokio::time::timeout(self.config.timeout, response.bytes()).await {
            Ok(Ok(content)) if content.len() as u64 <= self.config.max_file_bytes => {
                Fetch::Got(File::new(content, modified, Origin::Remote))
            }
            Ok(Ok(_)) => Fetch::Unreachable(format!("{url}: too large")),
            Ok(Err(e)) => Fetch::Unreachable(format!("{url}: {e}")),
            Err(_) => Fetch::Unreachable(format!("{url}: the body did not arrive in time")),
        }
    }
}

/// Streamed files kept by one remote cluster's cache.
const MAX_SPOOLED: usize = 16;

/// Writes a streamed file's body into its spool as it arrives, in stretches of [`READ_AHEAD`]
/// (each write on a blocking thread), each wait for more bounded by `idle`. A broken-off
/// download fails the spool: transfers reading it end with an error, not a short file.
async fn download(
    mut response: reqwest::Response,
    mut writer: SpoolWriter,
    idle: Duration,
    url: reqwest::Url,
) {
    let mut pending = BytesMut::new();
    loop {
        let chunk = match tokio::time::timeout(idle, response.chunk()).await {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(e)) => {
                warn!(%url, "download broke off: {e}");
                return writer.fail(&e.to_string());
            }
            Err(_) => {
                warn!(%url, "download stalled: nothing for {idle:?}");
                return writer.fail("the server stopped sending");
            }
        };
        let end = chunk.is_none();
        if let Some(chunk) = chunk {
            pending.extend_from_slice(&chunk);
        }
        if pending.len() >= READ_AHEAD || (end && !pending.is_empty()) {
            writer = match flush(writer, pending.split().freeze()).await {
                Some(writer) => writer,
                None => return, // failed: said by the writer
            };
        }
        if end {
            if !writer.is_complete() {
                warn!(%url, "download ended before the length it announced");
            }
            return; // an incomplete writer fails the spool when dropped
        }
    }
}

async fn flush(mut writer: SpoolWriter, bytes: Bytes) -> Option<SpoolWriter> {
    tokio::task::spawn_blocking(move || writer.write(&bytes).ok().map(|()| writer))
        .await
        .ok()
        .flatten()
}

enum Fetch {
    Got(File),
    NotThere,
    Busy,
    Unreachable(String),
}

impl Source for PeerSource {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn is_local(&self) -> bool {
        false
    }

    fn asked_first(&self, query: &Query) -> bool {
        self.config.common_signed_from_home
            && query.name.display().to_ascii_lowercase().ends_with(".sgn")
            && self.is_common(&query.name)
            && self.is_home_of(query)
    }

    fn try_now(&self, query: &Query) -> Option<Lookup> {
        let name = &query.name;
        if self.is_common(name) && !self.asked_first(query) {
            return Some(Lookup::Skip);
        }
        let found = self.cached(&name.display().to_lowercase())?;
        self.note_home(query);
        Some(Lookup::Found(found))
    }

    fn lookup<'a>(&'a self, query: &'a Query) -> LookupFuture<'a> {
        Box::pin(async move {
            if let Some(done) = self.try_now(query) {
                return done;
            }
            let name = &query.name;
            let key = name.display().to_lowercase();
            for base in &self.servers {
                match self.fetch(base, name).await {
                    Fetch::Got(file) => {
                        self.remember(key, file.clone());
                        self.note_home(query);
                        return Lookup::Found(file);
                    }
                    Fetch::NotThere => continue,
                    Fetch::Busy => {
                        debug!(cluster = %self.config.name, server = %base, "busy");
                        return Lookup::Busy;
                    }
                    Fetch::Unreachable(why) => {
                        warn!(cluster = %self.config.name, "alternate server unreachable: {why}");
                    }
                }
            }
            Lookup::Skip
        })
    }
}

/// `http://host:port[/prefix]`, or `host[:port]` (port 6970, Cisco's HTTP TFTP port).
fn base_url(text: &str) -> Result<reqwest::Url, String> {
    let with_scheme = if text.contains("://") {
        text.to_owned()
    } else if text.contains(':') && !text.starts_with('[') && text.matches(':').count() > 1 {
        format!("http://[{text}]:6970") // a bare IPv6 address
    } else if text.contains(':') {
        format!("http://{text}")
    } else {
        format!("http://{text}:6970")
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| e.to_string())?;
    if url.scheme() != "http" {
        return Err("only http:// is supported".into());
    }
    if url.host_str().is_none() {
        return Err("no host".into());
    }
    Ok(url)
}

/// Case-insensitive glob: `*` any run (including `/`), `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_common_file_names() {
        assert!(glob_match("RingList*", "ringlist.xml.sgn"));
        assert!(glob_match(
            "*-tones.xml*",
            "English_United_States/g3-tones.xml"
        ));
        assert!(glob_match("*.jar", "English_United_States/be-sccp.jar"));
        assert!(glob_match(
            "SEP????????????.cnf.xml",
            "SEP001122334455.cnf.xml"
        ));
        assert!(!glob_match("RingList*", "Rings/RingList.xml"));
        assert!(!glob_match("*.jar", "load.jar.sgn"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn base_urls_accept_the_usual_spellings() {
        let u = |s: &str| base_url(s).unwrap().to_string();
        assert_eq!(u("10.1.1.1"), "http://10.1.1.1:6970/");
        assert_eq!(u("tftp2.example:8080"), "http://tftp2.example:8080/");
        assert_eq!(u("http://[::1]:6970"), "http://[::1]:6970/");
        assert_eq!(u("2001:db8::1"), "http://[2001:db8::1]:6970/");
        assert!(base_url("https://x").is_err());
        assert!(base_url("ftp://x").is_err());
    }

    #[test]
    fn a_cluster_needs_one_to_three_servers() {
        assert!(PeerSource::new(PeerConfig::new("none", vec![])).is_err());
        let four = (1..=4).map(|i| format!("10.0.0.{i}")).collect();
        assert!(PeerSource::new(PeerConfig::new("four", four)).is_err());
    }
}
