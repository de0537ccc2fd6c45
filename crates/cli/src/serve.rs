//! `phoneboot serve`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use phoneboot_server::config::{
    AdminSection, BusyReply, ClusterSection, Config, DatabaseSection, HttpSection, LogSection,
    RemoteSection, Settings, TftpSection,
};
use phoneboot_server::{Handle, Server};
use phoneboot_store::Create;
use tracing::{info, warn};

use crate::LogControl;

#[derive(Debug, Clone, Args)]
#[command(after_help = "\
SIGHUP reads the configuration file again and takes in, without a restart, the roots and
alternate locations, alternate servers, serving count, busy answer, transfer limits and
[log] level; a file that does not validate is refused and the old configuration serves on.
Port 69 needs root or CAP_NET_BIND_SERVICE. As an ordinary user, listen on a high port:
    phoneboot serve --tftp-listen 0.0.0.0:6969
In production, either run as a systemd service with AmbientCapabilities=CAP_NET_BIND_SERVICE,
or grant the binary the capability once: sudo setcap cap_net_bind_service=+ep ./phoneboot")]
pub(crate) struct ServeArgs {
    /// TOML configuration file; flags and PHONEBOOT_* variables override its values.
    #[arg(long, short, env = "PHONEBOOT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// UDP address for TFTP requests; repeat for several. [default: [::]:69, dual-stack; [::]:6969
    /// with a warning when port 69 is not permitted]
    #[arg(
        long,
        env = "PHONEBOOT_TFTP_LISTEN",
        value_name = "ADDR:PORT",
        value_delimiter = ','
    )]
    tftp_listen: Vec<String>,

    /// TCP address of the HTTP file service (GET/HEAD /<file>, as phones use on 6970); repeat
    /// for several, or "off". [default: [::]:6970, dual-stack]
    #[arg(
        long,
        env = "PHONEBOOT_HTTP_LISTEN",
        value_name = "ADDR:PORT|off",
        value_delimiter = ','
    )]
    http_listen: Vec<String>,

    /// TCP address of HTTPS with the cluster's TFTP certificate (6971, for phones whose ITL
    /// says so), opened only when the cluster has keys (`phoneboot security init`); or "off".
    /// [default: [::]:6971]
    #[arg(
        long,
        env = "PHONEBOOT_HTTPS_LISTEN",
        value_name = "ADDR:PORT|off",
        value_delimiter = ','
    )]
    https_listen: Vec<String>,

    /// TCP address of mutual-TLS HTTPS (6972): the client must present a phone certificate
    /// stored with `phoneboot security phone-cert`; or "off". [default: [::]:6972]
    #[arg(
        long,
        env = "PHONEBOOT_HTTPS_MUTUAL_LISTEN",
        value_name = "ADDR:PORT|off",
        value_delimiter = ','
    )]
    https_mutual_listen: Vec<String>,

    /// TCP address of the admin listener (/metrics, /counters), or "off". [default: 127.0.0.1:6990]
    #[arg(long, env = "PHONEBOOT_ADMIN_LISTEN", value_name = "ADDR:PORT|off")]
    admin_listen: Option<String>,

    /// Let the admin listener (which takes passwords and API tokens) listen on an address other
    /// than loopback in plain HTTP: only behind a TLS proxy.
    #[arg(long, env = "PHONEBOOT_ADMIN_ALLOW_PLAIN_REMOTE")]
    admin_allow_plain_remote: bool,

    /// The admin listener speaks HTTPS with this PEM certificate chain (with --admin-tls-key).
    #[arg(long, env = "PHONEBOOT_ADMIN_TLS_CERT", value_name = "FILE")]
    admin_tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --admin-tls-cert.
    #[arg(long, env = "PHONEBOOT_ADMIN_TLS_KEY", value_name = "FILE")]
    admin_tls_key: Option<PathBuf>,

    /// A TLS proxy in front of the admin listener (repeatable): its X-Forwarded-For names the
    /// client (for the login throttle and the audit log) and X-Forwarded-Proto: https makes the
    /// session cookies Secure.
    #[arg(
        long,
        env = "PHONEBOOT_ADMIN_TRUSTED_PROXY",
        value_name = "IP",
        value_delimiter = ','
    )]
    admin_trusted_proxy: Vec<String>,

    /// The TFTP root: the folder holding phone files. [default: ./tftp, created if missing]
    #[arg(long, env = "PHONEBOOT_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,

    /// An alternate file location, searched after the root in the order given (at most 10);
    /// replaces the file's list.
    #[arg(
        long = "alternate-root",
        env = "PHONEBOOT_ALTERNATE_ROOTS",
        value_name = "DIR",
        value_delimiter = ','
    )]
    alternate_roots: Vec<PathBuf>,

    /// An alternate file server (another cluster's phoneboot or CUCM, over HTTP), asked in
    /// order when no local location has a file; repeat for up to 3. They form one remote
    /// cluster; the config file can list several (`[[remote_clusters]]`).
    #[arg(
        long = "alternate-server",
        env = "PHONEBOOT_ALTERNATE_SERVERS",
        value_name = "URL",
        value_delimiter = ','
    )]
    alternate_servers: Vec<String>,

    /// Match file names exactly; by default case is ignored, as phones differ in it.
    #[arg(long, env = "PHONEBOOT_CASE_SENSITIVE")]
    case_sensitive: bool,

    /// Maximum Serving Count: transfers in flight at most; more wait for a slot (--queue-length,
    /// --queue-wait-ms) and get the busy answer only when none comes in time. When
    /// neither this nor the file sets it, the device database's `params` value applies.
    /// [default: 200]
    #[arg(long, env = "PHONEBOOT_MAX_SERVING_COUNT", value_name = "N")]
    max_serving_count: Option<u32>,

    /// Requests that wait for a serving slot at Maximum Serving Count; beyond it they get the
    /// busy answer (0: busy at once, as CUCM). [default: 4096]
    #[arg(long, env = "PHONEBOOT_QUEUE_LENGTH", value_name = "N")]
    queue_length: Option<usize>,

    /// How long a request waits for a serving slot before it gets the busy answer.
    /// [default: 1000]
    #[arg(long, env = "PHONEBOOT_QUEUE_WAIT_MS", value_name = "MS")]
    queue_wait_ms: Option<u64>,

    /// Busy answer: a TFTP ERROR 0 with the busy message, or a silent drop. [default: error]
    #[arg(long, env = "PHONEBOOT_BUSY_REPLY", value_enum)]
    busy_reply: Option<BusyArg>,

    /// Text of the busy ERROR. [default: "Server busy, try again later"]
    #[arg(long, env = "PHONEBOOT_BUSY_MESSAGE", value_name = "TEXT")]
    busy_message: Option<String>,

    /// Largest blksize granted (RFC 2348, 8..=65464). [default: 1468, Ethernet MTU]
    #[arg(long, env = "PHONEBOOT_MAX_BLKSIZE", value_name = "BYTES")]
    max_blksize: Option<u16>,

    /// Largest windowsize granted (RFC 7440, 1..=32768; 1 disables it). [default: 64]
    #[arg(long, env = "PHONEBOOT_MAX_WINDOWSIZE", value_name = "BLOCKS")]
    max_windowsize: Option<u16>,

    /// First retransmission timeout, unless the client negotiates `timeout`. [default: 1000]
    #[arg(long, env = "PHONEBOOT_TIMEOUT_MS", value_name = "MS")]
    timeout_ms: Option<u64>,

    /// Floor of the retransmission timeout measured from each transfer's round trip (RFC 1123
    /// §4.2.3.2: adaptive). [default: 100]
    #[arg(long, env = "PHONEBOOT_MIN_TIMEOUT_MS", value_name = "MS")]
    min_timeout_ms: Option<u64>,

    /// The exponential backoff stops doubling here. [default: 8000]
    #[arg(long, env = "PHONEBOOT_MAX_TIMEOUT_MS", value_name = "MS")]
    max_timeout_ms: Option<u64>,

    /// Retransmissions of a packet before a transfer is abandoned. [default: 5]
    #[arg(long, env = "PHONEBOOT_RETRIES", value_name = "N")]
    retries: Option<u32>,

    /// Retransmissions of the final window before a lost final ACK is accepted. [default: 2]
    #[arg(long, env = "PHONEBOOT_FINAL_RETRIES", value_name = "N")]
    final_retries: Option<u32>,

    /// Retransmissions of the first packet while the client has sent nothing: a request with a
    /// spoofed source must not make the server a reflector for long. [default: 3]
    #[arg(long, env = "PHONEBOOT_UNANSWERED_RETRIES", value_name = "N")]
    unanswered_retries: Option<u32>,

    /// What follows block 65535: zero (as tftp-hpa, curl), one, or refuse such files. [default: zero]
    #[arg(long, env = "PHONEBOOT_ROLLOVER", value_name = "zero|one|refuse")]
    rollover: Option<String>,

    /// Receive buffer of the request socket, for request bursts. [default: 8388608]
    #[arg(long, env = "PHONEBOOT_RECV_BUFFER", value_name = "BYTES")]
    recv_buffer: Option<usize>,

    /// Read every file into memory at start (CUCM's "Enable Caching of Constant and Bin Files
    /// at Startup"), up to --cache-max-bytes, so the first boot storm is served from memory.
    #[arg(long, env = "PHONEBOOT_CACHE_AT_STARTUP")]
    cache_at_startup: bool,

    /// The device database whose configuration files are built and served: a SQLite file's
    /// path or sqlite:PATH (created at the first start, which the log says loudly), a
    /// cluster's PostgreSQL (postgres://USER@HOST/DB; the database must exist, its tables are
    /// made at the first start), or "off" to serve files only. [default: ./phoneboot.db]
    #[arg(
        long,
        env = "PHONEBOOT_DATABASE",
        value_name = "URL|FILE|off",
        hide_env_values = true
    )]
    database: Option<String>,

    /// What this node keeps of the database on its own disk: the mirror of the stored files
    /// and, with PostgreSQL, the last state taken in (served when the database is down at
    /// start). [default: beside a SQLite file (FILE-state), else ./phoneboot-state]
    #[arg(long, env = "PHONEBOOT_STATE_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,

    /// This node's name in the cluster's reports (`phoneboot counters --cluster`).
    /// [default: the host name and the first TFTP address]
    #[arg(long, env = "PHONEBOOT_NODE_NAME", value_name = "NAME")]
    node_name: Option<String>,

    /// A model catalogue file that extends the built-in one.
    #[arg(long, env = "PHONEBOOT_MODELS", value_name = "FILE")]
    models: Option<PathBuf>,

    /// Memory for cached file contents. [default: 1073741824]
    #[arg(long, env = "PHONEBOOT_CACHE_MAX_BYTES", value_name = "BYTES")]
    cache_max_bytes: Option<u64>,

    /// Files larger than this are not held in memory: they are read from the page cache as
    /// they are sent (and a remote cluster's are streamed as they arrive), so memory does not
    /// grow with the size of the firmware loads. [default: 1048576]
    #[arg(long, env = "PHONEBOOT_STREAM_ABOVE_BYTES", value_name = "BYTES")]
    stream_above_bytes: Option<u64>,

    /// Answer every transfer from the request port (69) instead of a new port per transfer, as
    /// dnsmasq's --tftp-single-port does: for a firewall or NAT in front of the server that
    /// only lets the request port through. Off by default (RFC 1350's per-transfer ports).
    #[arg(long, env = "PHONEBOOT_SINGLE_PORT")]
    single_port: bool,

    /// Check the configuration (file and flags, roots, database) and exit without serving.
    #[arg(long)]
    check_config: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum BusyArg {
    Error,
    Drop,
}

/// The command line as a layer of settings, over the file's.
fn flags(args: &ServeArgs) -> Settings {
    Settings {
        root: args.root.clone(),
        alternate_roots: (!args.alternate_roots.is_empty()).then(|| args.alternate_roots.clone()),
        case_insensitive: args.case_sensitive.then_some(false),
        tftp: TftpSection {
            listen: (!args.tftp_listen.is_empty()).then(|| args.tftp_listen.clone()),
            max_serving_count: args.max_serving_count,
            busy_reply: args.busy_reply.map(|b| match b {
                BusyArg::Error => BusyReply::Error,
                BusyArg::Drop => BusyReply::Drop,
            }),
            busy_message: args.busy_message.clone(),
            max_blksize: args.max_blksize,
            max_windowsize: args.max_windowsize,
            timeout_ms: args.timeout_ms,
            min_timeout_ms: args.min_timeout_ms,
            max_timeout_ms: args.max_timeout_ms,
            retries: args.retries,
            final_retries: args.final_retries,
            unanswered_retries: args.unanswered_retries,
            queue_length: args.queue_length,
            queue_wait_ms: args.queue_wait_ms,
            rollover: args.rollover.clone(),
            recv_buffer_bytes: args.recv_buffer,
            cache_max_bytes: args.cache_max_bytes,
            stream_above_bytes: args.stream_above_bytes,
            single_port: args.single_port.then_some(true),
            cache_at_startup: args.cache_at_startup.then_some(true),
            shutdown_grace_ms: None,
            // File-only settings.
            unanswered_grace_ms: None,
            max_unanswered: None,
            source_share_percent: None,
            harvest_burst: None,
            harvest_per_minute: None,
        },
        remote_clusters: (!args.alternate_servers.is_empty()).then(|| {
            vec![ClusterSection {
                name: "command line".to_owned(),
                enabled: true,
                servers: args.alternate_servers.clone(),
            }]
        }),
        remote: RemoteSection::default(),
        http: HttpSection {
            listen: (!args.http_listen.is_empty()).then(|| args.http_listen.clone()),
            retry_after_secs: None,
            https_listen: (!args.https_listen.is_empty()).then(|| args.https_listen.clone()),
            https_mutual_listen: (!args.https_mutual_listen.is_empty())
                .then(|| args.https_mutual_listen.clone()),
        },
        admin: AdminSection {
            listen: args.admin_listen.clone(),
            allow_plain_remote: args.admin_allow_plain_remote.then_some(true),
            tls_cert: args.admin_tls_cert.clone(),
            tls_key: args.admin_tls_key.clone(),
            trusted_proxies: (!args.admin_trusted_proxy.is_empty())
                .then(|| args.admin_trusted_proxy.clone()),
        },
        database: DatabaseSection {
            url: args.database.clone(),
            path: None,
            models: args.models.clone(),
            poll_ms: None,
            profile_converter: None,
            state_dir: args.state_dir.clone(),
            node_name: args.node_name.clone(),
        },
        log: LogSection::default(),
        source: None,
    }
}

/// The file (read again each time) under the command line, validated.
fn load(args: &ServeArgs) -> anyhow::Result<(Config, bool)> {
    let file = match &args.config {
        Some(path) => Settings::load(path)?,
        None => Settings::default(),
    };
    let default_root = args.root.is_none() && file.root.is_none();
    Ok((Config::from_layers(file, flags(args))?, default_root))
}

pub(crate) async fn run(args: ServeArgs, log: LogControl) -> anyhow::Result<()> {
    let (config, default_root) = load(&args)?;
    if args.check_config {
        return check(&args, &config).await;
    }
    log.apply_file_level(config.log_level.as_deref());
    if default_root && !config.root.exists() {
        std::fs::create_dir_all(&config.root)
            .with_context(|| format!("creating the default root {}", config.root.display()))?;
        info!("created the TFTP root {}", config.root.display());
    }
    info!(
        root = %config.root.display(),
        alternates = config.alternate_roots.len(),
        "phoneboot {} starting",
        env!("CARGO_PKG_VERSION")
    );
    let server = Server::builder(config).bind().await?;
    let handle = server.handle();
    tokio::spawn(reload_on_hangup(args, handle, log));
    server.run(shutdown_signal()).await;
    Ok(())
}

/// SIGHUP (logrotate, `systemctl reload`, every tftpd habit) reads the configuration again
/// and takes in what can change without a restart; a file that does not validate is refused
/// with the reason, and the configuration in force serves on.
async fn reload_on_hangup(args: ServeArgs, handle: Handle, log: LogControl) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        warn!("cannot listen for SIGHUP: the configuration is read at start only");
        return;
    };
    while hangups.recv().await.is_some() {
        let Some(source) = &args.config else {
            info!("SIGHUP: no configuration file (--config) to read again; nothing changes");
            continue;
        };
        info!("SIGHUP: reading {} again", source.display());
        let config = match load(&args) {
            Ok((config, _)) => config,
            Err(e) => {
                warn!("configuration not reloaded, the one in force serves on: {e:#}");
                continue;
            }
        };
        let level = config.log_level.clone();
        match handle.reload(config) {
            Ok(restart) => {
                log.apply_file_level(level.as_deref());
                if !restart.is_empty() {
                    warn!(
                        "changed, but taken in only by a restart: {}",
                        restart.join(", ")
                    );
                }
            }
            Err(e) => warn!("configuration not reloaded, the one in force serves on: {e}"),
        }
    }
}

/// `serve --check-config`: everything `serve` would check before it binds a socket.
async fn check(args: &ServeArgs, config: &Config) -> anyhow::Result<()> {
    let source = args.config.as_ref().map_or_else(
        || "the command line".to_owned(),
        |p| p.display().to_string(),
    );
    let mut problems = Vec::new();
    let mut roots = vec![config.root.clone()];
    roots.extend(config.alternate_roots.iter().cloned());
    for root in &roots {
        if !root.is_dir() {
            problems.push(format!(
                "the file root {} is not a directory",
                root.display()
            ));
        }
    }
    if let Some(level) = &config.log_level
        && let Err(e) = tracing_subscriber::EnvFilter::try_new(level)
    {
        problems.push(format!("[log] level {level:?}: {e}"));
    }
    let database = match &config.database {
        None => "off (files only)".to_owned(),
        Some(db) => match phoneboot_server::db::Database::open(db, Create::Never).await {
            Ok(opened) => {
                let head = opened.store().head().await?;
                opened.close().await?;
                format!("{} (at version {head})", db.location)
            }
            Err(phoneboot_server::db::DbError::Absent { .. }) => {
                format!(
                    "{} (does not exist yet: the first start creates it)",
                    db.location
                )
            }
            Err(e) => {
                problems.push(e.to_string());
                db.location.to_string()
            }
        },
    };
    if !problems.is_empty() {
        anyhow::bail!("{source}:\n  {}", problems.join("\n  "));
    }
    outln!("{source}: the configuration is valid");
    outln!("  TFTP        {}", list(&config.tftp_listen));
    outln!(
        "  HTTP        {}",
        if config.http_listen.is_empty() {
            "off".to_owned()
        } else {
            list(&config.http_listen)
        }
    );
    outln!(
        "  admin       {}",
        config
            .admin_listen
            .map_or_else(|| "off".to_owned(), |a| a.to_string())
    );
    outln!("  root        {}", config.root.display());
    for alt in &config.alternate_roots {
        outln!("  alternate   {}", alt.display());
    }
    outln!("  database    {database}");
    outln!(
        "  serving     {}",
        if config.max_serving_count_unset {
            "the database's Maximum Serving Count".to_owned()
        } else {
            format!("at most {} transfers at once", config.max_serving_count)
        }
    );
    Ok(())
}

fn list(addrs: &[std::net::SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
