//! One layer of settings as the TOML file (or the command line and the environment) gives
//! it, section by section, and how layers stack; [`super::Config::from_layers`] turns the
//! stack into the validated configuration.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{BusyReply, ConfigError, Source, invalid};

/// One layer of settings: the TOML file, or what the command line and the environment gave.
/// `None` means "not set in this layer". Unknown keys in the file are errors, so that a typo
/// never silently does nothing.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub root: Option<PathBuf>,
    pub alternate_roots: Option<Vec<PathBuf>>,
    pub case_insensitive: Option<bool>,
    #[serde(default)]
    pub tftp: TftpSection,
    #[serde(default)]
    pub http: HttpSection,
    /// Alternate file servers, one entry per remote cluster, asked in order on a miss.
    pub remote_clusters: Option<Vec<ClusterSection>>,
    #[serde(default)]
    pub remote: RemoteSection,
    #[serde(default)]
    pub admin: AdminSection,
    #[serde(default)]
    pub database: DatabaseSection,
    #[serde(default)]
    pub log: LogSection,
    /// The file this layer was read from, to say where a bad value is.
    #[serde(skip)]
    pub source: Option<std::sync::Arc<Source>>,
}

/// `[log]`: what the log shows (the `--log-level` flag and `RUST_LOG` win over it).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// error, warn, info, debug, trace, or a tracing directive such as
    /// `phoneboot_server=debug`.
    pub level: Option<String>,
}

/// `[database]`: the device database and the files built from it.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    /// The database: `sqlite:PATH` or a file's path, or "off" to serve files only.
    /// [default: ./phoneboot.db]
    pub url: Option<String>,
    /// The older name of `url` (a SQLite file's path).
    pub path: Option<String>,
    /// A model catalogue file that extends the built-in one.
    pub models: Option<PathBuf>,
    /// How often the change feed is read, so writes by other processes are seen.
    pub poll_ms: Option<u64>,
    /// A command that turns a 7902/7905/7912 `#txt` profile (on its stdin) into the binary
    /// the phone reads (on its stdout), e.g. a wrapper around Cisco's cfgfmt.
    pub profile_converter: Option<Vec<String>>,
    /// What this node keeps of the database on its own disk (stored files' mirror, the last
    /// state). [default: beside a SQLite file (FILE-state), else ./phoneboot-state]
    pub state_dir: Option<PathBuf>,
    /// This node's name in the cluster's reports. [default: host name and TFTP address]
    pub node_name: Option<String>,
}

/// One remote cluster (`[[remote_clusters]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    pub name: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Up to 3: `http://host:port`, `host:port` or `host` (port 6970).
    pub servers: Vec<String>,
}

fn enabled_by_default() -> bool {
    true
}

/// How remote clusters are asked (`[remote]`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteSection {
    pub connect_timeout_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub cache_ttl_secs: Option<u64>,
    pub max_file_bytes: Option<u64>,
    /// Name patterns (`*`, `?`) never fetched from another cluster.
    pub common_files: Option<Vec<String>>,
    /// The `.sgn` of a common file, for a phone whose own files came from another cluster,
    /// is that cluster's (its trust list trusts only that cluster's signature). [default: true]
    pub common_signed_from_home: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// Addresses for the HTTP file service; `["off"]` disables it.
    pub listen: Option<Vec<String>>,
    pub retry_after_secs: Option<u32>,
    /// HTTPS with the TFTP certificate, opened when the cluster has keys; `["off"]`
    /// disables it. [default: [::]:6971]
    pub https_listen: Option<Vec<String>>,
    /// Mutual-TLS HTTPS (the phone's stored certificate). [default: [::]:6972]
    pub https_mutual_listen: Option<Vec<String>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TftpSection {
    pub listen: Option<Vec<String>>,
    pub max_serving_count: Option<u32>,
    pub busy_reply: Option<BusyReply>,
    pub busy_message: Option<String>,
    pub max_blksize: Option<u16>,
    pub max_windowsize: Option<u16>,
    pub timeout_ms: Option<u64>,
    pub min_timeout_ms: Option<u64>,
    pub max_timeout_ms: Option<u64>,
    pub retries: Option<u32>,
    pub final_retries: Option<u32>,
    pub unanswered_retries: Option<u32>,
    pub queue_length: Option<usize>,
    pub queue_wait_ms: Option<u64>,
    pub unanswered_grace_ms: Option<u64>,
    pub max_unanswered: Option<usize>,
    pub source_share_percent: Option<u8>,
    pub harvest_burst: Option<u32>,
    pub harvest_per_minute: Option<u32>,
    pub rollover: Option<String>,
    pub recv_buffer_bytes: Option<usize>,
    pub cache_max_bytes: Option<u64>,
    pub stream_above_bytes: Option<u64>,
    pub single_port: Option<bool>,
    pub cache_at_startup: Option<bool>,
    pub shutdown_grace_ms: Option<u64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// An address, or "off".
    pub listen: Option<String>,
    /// Listen on an address other than loopback without TLS (behind a TLS proxy).
    pub allow_plain_remote: Option<bool>,
    /// TLS of the admin listener: a PEM certificate chain and its key.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Addresses of TLS proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Option<Vec<String>>,
}

impl Settings {
    /// Reads and parses a TOML configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid("--config", format!("cannot read {}: {e}", path.display())))?;
        let source = Source {
            path: path.to_path_buf(),
            text,
        };
        let mut settings: Settings =
            toml::from_str(&source.text).map_err(|e| ConfigError::unreadable(&source, &e))?;
        if settings.database.url.is_some() && settings.database.path.is_some() {
            return Err(
                invalid("database.path", "names the same thing as url; keep url")
                    .located(Some(&source)),
            );
        }
        settings.source = Some(std::sync::Arc::new(source));
        Ok(settings)
    }

    /// This layer over `lower`: every value set here wins, field by field.
    pub fn over(self, lower: Settings) -> Settings {
        let (t, l) = (self.tftp, lower.tftp);
        Settings {
            root: self.root.or(lower.root),
            alternate_roots: self.alternate_roots.or(lower.alternate_roots),
            case_insensitive: self.case_insensitive.or(lower.case_insensitive),
            tftp: TftpSection {
                listen: t.listen.or(l.listen),
                max_serving_count: t.max_serving_count.or(l.max_serving_count),
                busy_reply: t.busy_reply.or(l.busy_reply),
                busy_message: t.busy_message.or(l.busy_message),
                max_blksize: t.max_blksize.or(l.max_blksize),
                max_windowsize: t.max_windowsize.or(l.max_windowsize),
                timeout_ms: t.timeout_ms.or(l.timeout_ms),
                min_timeout_ms: t.min_timeout_ms.or(l.min_timeout_ms),
                max_timeout_ms: t.max_timeout_ms.or(l.max_timeout_ms),
                retries: t.retries.or(l.retries),
                final_retries: t.final_retries.or(l.final_retries),
                unanswered_retries: t.unanswered_retries.or(l.unanswered_retries),
                queue_length: t.queue_length.or(l.queue_length),
                queue_wait_ms: t.queue_wait_ms.or(l.queue_wait_ms),
                unanswered_grace_ms: t.unanswered_grace_ms.or(l.unanswered_grace_ms),
                max_unanswered: t.max_unanswered.or(l.max_unanswered),
                source_share_percent: t.source_share_percent.or(l.source_share_percent),
                harvest_burst: t.harvest_burst.or(l.harvest_burst),
                harvest_per_minute: t.harvest_per_minute.or(l.harvest_per_minute),
                rollover: t.rollover.or(l.rollover),
                recv_buffer_bytes: t.recv_buffer_bytes.or(l.recv_buffer_bytes),
                cache_max_bytes: t.cache_max_bytes.or(l.cache_max_bytes),
                stream_above_bytes: t.stream_above_bytes.or(l.stream_above_bytes),
                single_port: t.single_port.or(l.single_port),
                cache_at_startup: t.cache_at_startup.or(l.cache_at_startup),
                shutdown_grace_ms: t.shutdown_grace_ms.or(l.shutdown_grace_ms),
            },
            remote_clusters: self.remote_clusters.or(lower.remote_clusters),
            database: DatabaseSection {
                // One layer's url or path wins over the layer below's, whichever it names.
                url: self
                    .database
                    .url
                    .clone()
                    .or(self.database.path.clone())
                    .or(lower.database.url.clone()),
                path: self.database.path.or(lower.database.path),
                models: self.database.models.or(lower.database.models),
                poll_ms: self.database.poll_ms.or(lower.database.poll_ms),
                profile_converter: self
                    .database
                    .profile_converter
                    .or(lower.database.profile_converter),
                state_dir: self.database.state_dir.or(lower.database.state_dir),
                node_name: self.database.node_name.or(lower.database.node_name),
            },
            remote: RemoteSection {
                connect_timeout_ms: self
                    .remote
                    .connect_timeout_ms
                    .or(lower.remote.connect_timeout_ms),
                timeout_ms: self.remote.timeout_ms.or(lower.remote.timeout_ms),
                cache_ttl_secs: self.remote.cache_ttl_secs.or(lower.remote.cache_ttl_secs),
                max_file_bytes: self.remote.max_file_bytes.or(lower.remote.max_file_bytes),
                common_files: self.remote.common_files.or(lower.remote.common_files),
                common_signed_from_home: self
                    .remote
                    .common_signed_from_home
                    .or(lower.remote.common_signed_from_home),
            },
            http: HttpSection {
                listen: self.http.listen.or(lower.http.listen),
                retry_after_secs: self.http.retry_after_secs.or(lower.http.retry_after_secs),
                https_listen: self.http.https_listen.or(lower.http.https_listen),
                https_mutual_listen: self
                    .http
                    .https_mutual_listen
                    .or(lower.http.https_mutual_listen),
            },
            admin: AdminSection {
                listen: self.admin.listen.or(lower.admin.listen),
                allow_plain_remote: self
                    .admin
                    .allow_plain_remote
                    .or(lower.admin.allow_plain_remote),
                tls_cert: self.admin.tls_cert.or(lower.admin.tls_cert),
                tls_key: self.admin.tls_key.or(lower.admin.tls_key),
                trusted_proxies: self.admin.trusted_proxies.or(lower.admin.trusted_proxies),
            },
            log: LogSection {
                level: self.log.level.or(lower.log.level),
            },
            source: self.source.or(lower.source),
        }
    }
}
