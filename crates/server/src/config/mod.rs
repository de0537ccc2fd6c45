//! Configuration: a strict TOML file and command-line/environment overrides, merged into one
//! validated [`Config`]. Precedence, lowest first: built-in defaults, the file, `PHONEBOOT_*`
//! environment variables, flags (the last two are merged by the CLI before they reach here).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use phoneboot_source::peer::{MAX_SERVERS, PeerConfig};
use phoneboot_store::Location;
use phoneboot_tftp::options::{MAX_BLKSIZE, MAX_WINDOWSIZE, MIN_BLKSIZE};
use phoneboot_tftp::{RetryPolicy, Rollover, ServerLimits};
use serde::Deserialize;

/// Defaults, in one place so that `--help` and the code agree.
pub mod default {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

    pub const TFTP_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 69);
    pub const HTTP_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 6970);
    /// HTTPS with the TFTP certificate (phones with ITL signer version 1.1, spec §2).
    pub const HTTPS_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 6971);
    /// HTTPS with the phone's certificate too (mutual TLS).
    pub const HTTPS_MUTUAL_LISTEN: SocketAddr =
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 6972);
    pub const HTTP_RETRY_AFTER_SECS: u32 = 5;
    /// Where the default listener goes when port 69 is not allowed (an ordinary user).
    pub const TFTP_UNPRIVILEGED: SocketAddr =
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 6969);
    pub const ADMIN_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 6990);
    pub const ROOT: &str = "tftp";
    pub const DATABASE: &str = "phoneboot.db";
    /// The safety net: the store's wake hint brings changes at once; this reads the feed
    /// even when no hint came.
    pub const DB_POLL_MS: u64 = 5_000;
    pub const STATE_DIR: &str = "phoneboot-state";
    /// The seed chapter's Maximum Serving Count.
    pub const MAX_SERVING_COUNT: u32 = 200;
    pub const BUSY_MESSAGE: &str = "Server busy, try again later";
    pub const MAX_BLKSIZE: u16 = 1468;
    pub const MAX_WINDOWSIZE: u16 = 64;
    pub const TIMEOUT_MS: u64 = 1000;
    /// The floor of the measured retransmission timeout: a lost packet on a LAN costs this.
    pub const MIN_TIMEOUT_MS: u64 = 100;
    /// Requests waiting for a serving slot at most (a request holds at most 4 KiB while it
    /// waits: 16 MiB at worst).
    pub const QUEUE_LENGTH: usize = 4096;
    /// How long a request waits for a slot: a phone's TFTP client retransmits its request
    /// after about a second ([U]: tftp-hpa, curl and our emulator do; Cisco does not say), and
    /// a retransmission while it waits is absorbed as a duplicate.
    pub const QUEUE_WAIT_MS: u64 = 1000;
    /// How long a first packet may go unanswered before its slot goes to a waiting request:
    /// many round trips of a LAN, a few of a WAN (the transfer goes on without a slot).
    pub const UNANSWERED_GRACE_MS: u64 = 50;
    /// With the slots, within the 1,024 file descriptors a Debian user gets by default.
    pub const MAX_UNANSWERED: usize = 512;
    pub const SOURCE_SHARE_PERCENT: u8 = 25;
    /// A phone misses one or two device files at a boot; a site of hundreds behind one
    /// address stays under this too.
    pub const HARVEST_BURST: u32 = 500;
    pub const HARVEST_PER_MINUTE: u32 = 120;
    pub const MAX_TIMEOUT_MS: u64 = 8000;
    pub const RETRIES: u32 = 5;
    pub const FINAL_RETRIES: u32 = 2;
    pub const UNANSWERED_RETRIES: u32 = 3;
    /// Enough for a burst of several thousand RRQs (each costs ~1 KiB of kernel memory).
    pub const RECV_BUFFER_BYTES: usize = 8 << 20;
    pub const CACHE_MAX_BYTES: u64 = 1 << 30;
    /// Files above 1 MiB (firmware loads) are streamed from the page cache; configuration
    /// files, tones and locales stay in memory.
    pub const STREAM_ABOVE_BYTES: u64 = phoneboot_source::dir::DEFAULT_STREAM_ABOVE;
    pub const SHUTDOWN_GRACE_MS: u64 = 5000;
    pub const MAX_ALTERNATE_ROOTS: usize = 10;
}

/// The limits of admission, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// Requests waiting for a slot at most.
    pub queue_length: usize,
    /// How long a request waits for a slot before it is answered busy.
    pub queue_wait: Duration,
    /// How long a transfer's first packet may go unanswered before its slot goes to a waiting
    /// request.
    pub unanswered_grace: Duration,
    /// Transfers waiting for their client's first answer at most; past it the oldest is ended.
    pub max_unanswered: usize,
    /// The share (percent) of slots and queue one source address may hold before it loses its
    /// place in a full queue to other sources.
    pub source_share_percent: u8,
}

/// The guard's limits, from the configuration; `burst` 0 turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HarvestConfig {
    /// Misses of device files one source may have at once (refilled at `per_minute`) before
    /// it is slowed.
    pub burst: u32,
    /// Misses per minute a slowed source is answered.
    pub per_minute: u32,
}

/// What the server answers when it is at Maximum Serving Count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BusyReply {
    /// A TFTP ERROR with code 0 and the busy message: the phone retries the same server later.
    Error,
    /// No answer at all: the phone times out and retries.
    Drop,
}

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The validated configuration of `phoneboot serve`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub tftp_listen: Vec<SocketAddr>,
    /// Used instead of the listen addresses when they were not configured and binding them is
    /// not permitted: an ordinary user running `phoneboot serve` gets a working server on an
    /// unprivileged port (with a warning), while an address that was asked for fails hard.
    pub tftp_fallback: Option<SocketAddr>,
    /// The HTTP file service's addresses; empty disables it.
    pub http_listen: Vec<SocketAddr>,
    /// HTTPS (6971, server-authenticated) and mutual-TLS HTTPS (6972): opened only when the
    /// cluster has signing keys; empty disables them.
    pub https_listen: Vec<SocketAddr>,
    pub https_mutual_listen: Vec<SocketAddr>,
    /// Retry-After of a 503 at Maximum Serving Count.
    pub http_retry_after_secs: u32,
    /// `None` disables the admin listener.
    pub admin_listen: Option<SocketAddr>,
    /// The admin listener may be on an address other than loopback without TLS.
    pub admin_plain_remote: bool,
    /// The admin listener speaks TLS with these files.
    pub admin_tls: Option<TlsFiles>,
    /// Proxies whose X-Forwarded-For names the admin listener's client.
    pub admin_trusted_proxies: Vec<std::net::IpAddr>,
    /// Alternate file servers (centralized TFTP): the enabled remote clusters, in order.
    pub remote_clusters: Vec<PeerConfig>,
    pub root: PathBuf,
    pub alternate_roots: Vec<PathBuf>,
    pub case_insensitive: bool,
    pub max_serving_count: u32,
    /// True when neither the file nor the command line set the Maximum Serving Count: the
    /// device database's service parameter then decides (as CUCM's service parameter does).
    pub max_serving_count_unset: bool,
    pub busy_reply: BusyReply,
    pub busy_message: String,
    pub limits: ServerLimits,
    pub retry: RetryPolicy,
    /// The queue for serving slots and the pool of unanswered transfers.
    pub admission: AdmissionConfig,
    pub harvest: HarvestConfig,
    pub rollover: Rollover,
    pub recv_buffer_bytes: usize,
    pub cache_max_bytes: u64,
    /// Files larger than this are not held in memory but read as they are sent (from the page
    /// cache, or from a download from a remote cluster as it arrives).
    pub stream_above_bytes: u64,
    /// Every transfer answered from the request port instead of a port of its own (like
    /// dnsmasq's `--tftp-single-port`): for firewalls and NAT that only let port 69 through.
    pub single_port: bool,
    /// Read every file into the cache at start (CUCM: "Enable Caching of Constant and Bin
    /// Files at Startup").
    pub cache_at_startup: bool,
    pub shutdown_grace: Duration,
    /// The device database; `None` serves files only.
    pub database: Option<DatabaseConfig>,
    /// The configuration file's `[log] level`, applied unless the command line sets one.
    pub log_level: Option<String>,
}

/// Where the device database is and how the server follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseConfig {
    pub location: Location,
    pub models: Option<PathBuf>,
    pub poll: Duration,
    pub profile_converter: Vec<String>,
    /// What this node keeps of the database on its own disk: the mirror of the stored files
    /// (`files/`) and, on PostgreSQL, the last state taken in (`replica.db`), served when the
    /// database cannot be reached at start.
    pub state_dir: PathBuf,
    /// This node's name in the cluster's reports (`phoneboot counters --cluster`).
    /// [default: the host name and the first TFTP address]
    pub node_name: Option<String>,
}

impl DatabaseConfig {
    /// The default state directory of a database: beside a SQLite file (`phoneboot.db` ->
    /// `phoneboot.db-state`), `./phoneboot-state` for a server.
    pub fn default_state_dir(location: &Location) -> PathBuf {
        match location {
            Location::Sqlite(path) => {
                let mut name = path.as_os_str().to_owned();
                name.push("-state");
                PathBuf::from(name)
            }
            Location::Postgres(_) => PathBuf::from(default::STATE_DIR),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        let location = Location::Sqlite(PathBuf::from(default::DATABASE));
        Self {
            state_dir: Self::default_state_dir(&location),
            node_name: None,
            location,
            models: None,
            poll: Duration::from_millis(default::DB_POLL_MS),
            profile_converter: Vec::new(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            tftp_listen: vec![default::TFTP_LISTEN],
            tftp_fallback: Some(default::TFTP_UNPRIVILEGED),
            http_listen: vec![default::HTTP_LISTEN],
            https_listen: vec![default::HTTPS_LISTEN],
            https_mutual_listen: vec![default::HTTPS_MUTUAL_LISTEN],
            http_retry_after_secs: default::HTTP_RETRY_AFTER_SECS,
            remote_clusters: Vec::new(),
            admin_listen: Some(default::ADMIN_LISTEN),
            admin_plain_remote: false,
            admin_tls: None,
            admin_trusted_proxies: Vec::new(),
            root: PathBuf::from(default::ROOT),
            alternate_roots: Vec::new(),
            case_insensitive: true,
            max_serving_count: default::MAX_SERVING_COUNT,
            max_serving_count_unset: true,
            busy_reply: BusyReply::Error,
            busy_message: default::BUSY_MESSAGE.to_owned(),
            limits: ServerLimits {
                max_blksize: default::MAX_BLKSIZE,
                max_windowsize: default::MAX_WINDOWSIZE,
                ..ServerLimits::default()
            },
            retry: RetryPolicy {
                initial_timeout: Duration::from_millis(default::TIMEOUT_MS),
                min_timeout: Duration::from_millis(default::MIN_TIMEOUT_MS),
                max_timeout: Duration::from_millis(default::MAX_TIMEOUT_MS),
                max_retries: default::RETRIES,
                final_retries: default::FINAL_RETRIES,
                unanswered_retries: default::UNANSWERED_RETRIES,
            },
            admission: AdmissionConfig {
                queue_length: default::QUEUE_LENGTH,
                queue_wait: Duration::from_millis(default::QUEUE_WAIT_MS),
                unanswered_grace: Duration::from_millis(default::UNANSWERED_GRACE_MS),
                max_unanswered: default::MAX_UNANSWERED,
                source_share_percent: default::SOURCE_SHARE_PERCENT,
            },
            harvest: HarvestConfig {
                burst: default::HARVEST_BURST,
                per_minute: default::HARVEST_PER_MINUTE,
            },
            rollover: Rollover::ToZero,
            recv_buffer_bytes: default::RECV_BUFFER_BYTES,
            cache_max_bytes: default::CACHE_MAX_BYTES,
            stream_above_bytes: default::STREAM_ABOVE_BYTES,
            single_port: false,
            cache_at_startup: false,
            shutdown_grace: Duration::from_millis(default::SHUTDOWN_GRACE_MS),
            database: Some(DatabaseConfig::default()),
            log_level: None,
        }
    }
}

mod error;

pub use error::{ConfigError, Source};

mod settings;

pub use settings::{
    AdminSection, ClusterSection, DatabaseSection, HttpSection, LogSection, RemoteSection,
    Settings, TftpSection,
};

fn invalid(option: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::new(option, reason)
}

impl Config {
    /// Lays the command line (`flags`) over the file, fills what neither set with the defaults,
    /// then validates the result. An error says where the file sets the value.
    pub fn from_layers(file: Settings, flags: Settings) -> Result<Self, ConfigError> {
        let source = file.source.clone();
        Self::merge(file, flags).map_err(|e| e.located(source.as_deref()))
    }

    fn merge(file: Settings, flags: Settings) -> Result<Self, ConfigError> {
        let s = flags.over(file);
        let d = Config::default();
        let t = s.tftp;
        let (tftp_listen, tftp_fallback) = match t.listen {
            Some(list) => (
                list.iter()
                    .map(|s| parse_listen(s, 69).map_err(|r| invalid("tftp.listen", r)))
                    .collect::<Result<Vec<_>, _>>()?,
                None,
            ),
            None => (d.tftp_listen, d.tftp_fallback),
        };
        let listen = |given: &Option<Vec<String>>,
                      default: Vec<SocketAddr>,
                      field: &'static str| {
            let port = default.first().map_or(0, SocketAddr::port);
            match given {
                None => Ok(default),
                Some(list) if list.iter().any(|a| a.eq_ignore_ascii_case("off")) => Ok(Vec::new()),
                Some(list) => list
                    .iter()
                    .map(|a| parse_listen(a, port).map_err(|r| invalid(field, r)))
                    .collect::<Result<Vec<_>, _>>(),
            }
        };
        let http_listen = listen(&s.http.listen, d.http_listen, "http.listen")?;
        let https_listen = listen(&s.http.https_listen, d.https_listen, "http.https_listen")?;
        let https_mutual_listen = listen(
            &s.http.https_mutual_listen,
            d.https_mutual_listen,
            "http.https_mutual_listen",
        )?;
        let remote = &s.remote;
        let remote_clusters = s
            .remote_clusters
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.enabled)
            .map(|c| {
                let mut peer = PeerConfig::new(c.name, c.servers);
                if let Some(ms) = remote.connect_timeout_ms {
                    peer.connect_timeout = Duration::from_millis(ms);
                }
                if let Some(ms) = remote.timeout_ms {
                    peer.timeout = Duration::from_millis(ms);
                }
                if let Some(secs) = remote.cache_ttl_secs {
                    peer.cache_ttl = Duration::from_secs(secs);
                }
                if let Some(bytes) = remote.max_file_bytes {
                    peer.max_file_bytes = bytes;
                }
                if let Some(home) = remote.common_signed_from_home {
                    peer.common_signed_from_home = home;
                }
                if let Some(patterns) = &remote.common_files {
                    peer.common_files.clone_from(patterns);
                }
                peer
            })
            .collect();
        let admin_listen = match s.admin.listen {
            None => d.admin_listen,
            Some(s) if s.eq_ignore_ascii_case("off") => None,
            Some(s) => Some(
                parse_listen(&s, default::ADMIN_LISTEN.port())
                    .map_err(|r| invalid("admin.listen", r))?,
            ),
        };
        let rollover = match t.rollover {
            None => d.rollover,
            Some(s) => parse_rollover(&s)?,
        };
        let ms = Duration::from_millis;
        let db = s.database;
        let database = match db.url.or(db.path) {
            Some(p) if p.eq_ignore_ascii_case("off") => None,
            url => {
                let location = match url {
                    Some(url) => {
                        Location::parse(&url).map_err(|e| invalid("database.url", e.to_string()))?
                    }
                    None => Location::Sqlite(PathBuf::from(default::DATABASE)),
                };
                Some(DatabaseConfig {
                    state_dir: db
                        .state_dir
                        .unwrap_or_else(|| DatabaseConfig::default_state_dir(&location)),
                    node_name: db.node_name,
                    location,
                    models: db.models,
                    poll: ms(db.poll_ms.unwrap_or(default::DB_POLL_MS)),
                    profile_converter: db.profile_converter.unwrap_or_default(),
                })
            }
        };
        let config = Config {
            tftp_listen,
            tftp_fallback,
            http_listen,
            https_listen,
            https_mutual_listen,
            http_retry_after_secs: s.http.retry_after_secs.unwrap_or(d.http_retry_after_secs),
            remote_clusters,
            admin_listen,
            admin_plain_remote: s.admin.allow_plain_remote.unwrap_or(d.admin_plain_remote),
            admin_trusted_proxies: s
                .admin
                .trusted_proxies
                .unwrap_or_default()
                .iter()
                .map(|a| {
                    a.parse().map_err(|_| {
                        invalid(
                            "admin.trusted_proxies",
                            format!("{a:?} is not an IP address (the proxy's, as 10.0.0.5)"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            admin_tls: match (s.admin.tls_cert, s.admin.tls_key) {
                (None, None) => None,
                (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
                (Some(_), None) => {
                    return Err(invalid(
                        "admin.tls_key",
                        "is needed with admin.tls_cert (its private key, PEM)",
                    ));
                }
                (None, Some(_)) => {
                    return Err(invalid(
                        "admin.tls_cert",
                        "is needed with admin.tls_key (the certificate chain, PEM)",
                    ));
                }
            },
            root: s.root.unwrap_or(d.root),
            alternate_roots: s.alternate_roots.unwrap_or_default(),
            case_insensitive: s.case_insensitive.unwrap_or(d.case_insensitive),
            max_serving_count_unset: t.max_serving_count.is_none(),
            max_serving_count: t.max_serving_count.unwrap_or(d.max_serving_count),
            busy_reply: t.busy_reply.unwrap_or(d.busy_reply),
            busy_message: t.busy_message.unwrap_or(d.busy_message),
            limits: ServerLimits {
                max_blksize: t.max_blksize.unwrap_or(d.limits.max_blksize),
                max_windowsize: t.max_windowsize.unwrap_or(d.limits.max_windowsize),
                ..d.limits
            },
            retry: RetryPolicy {
                initial_timeout: t.timeout_ms.map_or(d.retry.initial_timeout, ms),
                min_timeout: t.min_timeout_ms.map_or(d.retry.min_timeout, ms),
                max_timeout: t.max_timeout_ms.map_or(d.retry.max_timeout, ms),
                max_retries: t.retries.unwrap_or(d.retry.max_retries),
                final_retries: t.final_retries.unwrap_or(d.retry.final_retries),
                unanswered_retries: t.unanswered_retries.unwrap_or(d.retry.unanswered_retries),
            },
            admission: AdmissionConfig {
                queue_length: t.queue_length.unwrap_or(d.admission.queue_length),
                queue_wait: t.queue_wait_ms.map_or(d.admission.queue_wait, ms),
                unanswered_grace: t
                    .unanswered_grace_ms
                    .map_or(d.admission.unanswered_grace, ms),
                max_unanswered: t.max_unanswered.unwrap_or(d.admission.max_unanswered),
                source_share_percent: t
                    .source_share_percent
                    .unwrap_or(d.admission.source_share_percent),
            },
            harvest: HarvestConfig {
                burst: t.harvest_burst.unwrap_or(d.harvest.burst),
                per_minute: t.harvest_per_minute.unwrap_or(d.harvest.per_minute),
            },
            rollover,
            recv_buffer_bytes: t.recv_buffer_bytes.unwrap_or(d.recv_buffer_bytes),
            cache_max_bytes: t.cache_max_bytes.unwrap_or(d.cache_max_bytes),
            stream_above_bytes: t.stream_above_bytes.unwrap_or(d.stream_above_bytes),
            single_port: t.single_port.unwrap_or(d.single_port),
            cache_at_startup: t.cache_at_startup.unwrap_or(d.cache_at_startup),
            shutdown_grace: t.shutdown_grace_ms.map_or(d.shutdown_grace, ms),
            database,
            log_level: s.log.level,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks every value; the error names the option and says what is allowed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(db) = &self.database {
            if !(Duration::from_millis(50)..=Duration::from_secs(60)).contains(&db.poll) {
                return Err(invalid(
                    "database.poll_ms",
                    "must be 50 to 60000 (the change feed is read this often even when no change notification came)",
                ));
            }
            if db.profile_converter.first().is_some_and(String::is_empty) {
                return Err(invalid(
                    "database.profile_converter",
                    "the command is empty",
                ));
            }
        }
        if self.tftp_listen.is_empty() {
            return Err(invalid("tftp.listen", "at least one address is needed"));
        }
        if let Some(admin) = self.admin_listen
            && !admin.ip().is_loopback()
            && !self.admin_plain_remote
            && self.admin_tls.is_none()
        {
            return Err(invalid(
                "admin.listen",
                format!(
                    "{admin} is not a loopback address, and the admin listener takes passwords \
                     and API tokens: give it a certificate (admin.tls_cert and admin.tls_key, \
                     --admin-tls-cert/--admin-tls-key), keep it on 127.0.0.1 (the default), or \
                     put a TLS proxy in front and allow plain HTTP (admin.allow_plain_remote = \
                     true, --admin-allow-plain-remote)"
                ),
            ));
        }
        if !(1..=100_000).contains(&self.max_serving_count) {
            return Err(invalid(
                "tftp.max_serving_count",
                format!(
                    "{} is not a whole number from 1 to 100000",
                    self.max_serving_count
                ),
            ));
        }
        if !(MIN_BLKSIZE..=MAX_BLKSIZE).contains(&self.limits.max_blksize) {
            return Err(invalid(
                "tftp.max_blksize",
                format!(
                    "{} is not a whole number from {MIN_BLKSIZE} to {MAX_BLKSIZE} (RFC 2348)",
                    self.limits.max_blksize
                ),
            ));
        }
        if !(1..=MAX_WINDOWSIZE).contains(&self.limits.max_windowsize) {
            return Err(invalid(
                "tftp.max_windowsize",
                format!(
                    "{} is not a whole number from 1 to {MAX_WINDOWSIZE}",
                    self.limits.max_windowsize
                ),
            ));
        }
        let timeout = self.retry.initial_timeout;
        if timeout < Duration::from_millis(10) || timeout > Duration::from_secs(255) {
            return Err(invalid(
                "tftp.timeout_ms",
                "must be between 10 ms and 255 s",
            ));
        }
        let floor = self.retry.min_timeout;
        if floor < Duration::from_millis(1) || floor > timeout {
            return Err(invalid(
                "tftp.min_timeout_ms",
                "must be at least 1 ms and at most the timeout",
            ));
        }
        let a = &self.admission;
        if a.queue_length > 1_000_000 {
            return Err(invalid(
                "tftp.queue_length",
                "must be at most 1000000 (0 answers busy at once, as CUCM does)",
            ));
        }
        if a.queue_wait > Duration::from_secs(10) {
            return Err(invalid(
                "tftp.queue_wait_ms",
                "must be at most 10000: a phone gives up on a server long before",
            ));
        }
        if a.unanswered_grace < Duration::from_millis(1) || a.unanswered_grace > timeout {
            return Err(invalid(
                "tftp.unanswered_grace_ms",
                "must be at least 1 ms and at most the timeout",
            ));
        }
        if !(1..=1_000_000).contains(&a.max_unanswered) {
            return Err(invalid("tftp.max_unanswered", "must be 1 to 1000000"));
        }
        if !(1..=100).contains(&a.source_share_percent) {
            return Err(invalid("tftp.source_share_percent", "must be 1 to 100"));
        }
        if self.harvest.burst > 0 && self.harvest.per_minute == 0 {
            return Err(invalid(
                "tftp.harvest_per_minute",
                "must be at least 1 while harvest_burst is set (harvest_burst = 0 turns the guard off)",
            ));
        }
        if self.retry.max_timeout < timeout || self.retry.max_timeout > Duration::from_secs(255) {
            return Err(invalid(
                "tftp.max_timeout_ms",
                "must be at least the timeout and at most 255 s",
            ));
        }
        if !(1..=20).contains(&self.retry.max_retries) {
            return Err(invalid("tftp.retries", "must be between 1 and 20"));
        }
        if self.retry.final_retries > self.retry.max_retries {
            return Err(invalid("tftp.final_retries", "must not exceed retries"));
        }
        if self.retry.unanswered_retries > self.retry.max_retries {
            return Err(invalid(
                "tftp.unanswered_retries",
                "must not exceed retries",
            ));
        }
        if !(1..=3600).contains(&self.http_retry_after_secs) {
            return Err(invalid(
                "http.retry_after_secs",
                "must be between 1 and 3600 seconds",
            ));
        }
        for cluster in &self.remote_clusters {
            if cluster.servers.is_empty() || cluster.servers.len() > MAX_SERVERS {
                return Err(invalid(
                    "remote_clusters.servers",
                    format!("{}: between 1 and {MAX_SERVERS} servers", cluster.name),
                ));
            }
            // The phone's own TFTP timeout (a few seconds) must not run out while we ask.
            if cluster.timeout > Duration::from_secs(10)
                || cluster.connect_timeout > cluster.timeout
            {
                return Err(invalid(
                    "remote.timeout_ms",
                    "must be at most 10 s, and the connect timeout at most the timeout",
                ));
            }
        }
        if self.busy_message.len() > 200 {
            return Err(invalid("tftp.busy_message", "must be at most 200 bytes"));
        }
        if self.alternate_roots.len() > default::MAX_ALTERNATE_ROOTS {
            return Err(invalid(
                "alternate_roots",
                format!("at most {} are allowed", default::MAX_ALTERNATE_ROOTS),
            ));
        }
        if self.recv_buffer_bytes < 64 * 1024 {
            return Err(invalid("tftp.recv_buffer_bytes", "must be at least 64 KiB"));
        }
        Ok(())
    }
}

/// Parses `ADDR:PORT`, `[V6]:PORT`, a bare address (default port) or `:PORT` (all addresses).
fn parse_listen(text: &str, default_port: u16) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    if let Some(port) = text.strip_prefix(':')
        && let Ok(port) = port.parse::<u16>()
    {
        return Ok(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port));
    }
    Err(format!(
        "\"{text}\" is not an address; use ADDR:PORT, e.g. 0.0.0.0:6969 or [::]:69"
    ))
}

fn parse_rollover(text: &str) -> Result<Rollover, ConfigError> {
    match text.to_ascii_lowercase().as_str() {
        "0" | "zero" => Ok(Rollover::ToZero),
        "1" | "one" => Ok(Rollover::ToOne),
        "refuse" => Ok(Rollover::Refuse),
        other => Err(invalid(
            "tftp.rollover",
            format!("\"{other}\" is not one of zero, one, refuse"),
        )),
    }
}

#[cfg(test)]
mod tests;
