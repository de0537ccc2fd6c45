//! `phoneboot serve`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use phoneboot_server::Server;
use phoneboot_server::config::{
    AdminSection, BusyReply, ClusterSection, Config, DatabaseSection, HttpSection, RemoteSection,
    Settings, TftpSection,
};
use tracing::info;

#[derive(Debug, Args)]
#[command(after_help = "\
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

    /// TCP address of the admin listener (/metrics, /counters), or "off". [default: 127.0.0.1:6990]
    #[arg(long, env = "PHONEBOOT_ADMIN_LISTEN", value_name = "ADDR:PORT|off")]
    admin_listen: Option<String>,

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

    /// Maximum Serving Count: transfers in flight at most; more get the busy answer. When
    /// neither this nor the file sets it, the device database's `params` value applies.
    /// [default: 200]
    #[arg(long, env = "PHONEBOOT_MAX_SERVING_COUNT", value_name = "N")]
    max_serving_count: Option<u32>,

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
    /// path or sqlite:PATH (created at the first start, which the log says loudly), or "off"
    /// to serve files only. [default: ./phoneboot.db]
    #[arg(long, env = "PHONEBOOT_DATABASE", value_name = "URL|FILE|off")]
    database: Option<String>,

    /// A model catalogue file that extends the built-in one.
    #[arg(long, env = "PHONEBOOT_MODELS", value_name = "FILE")]
    models: Option<PathBuf>,

    /// Memory for cached file contents. [default: 1073741824]
    #[arg(long, env = "PHONEBOOT_CACHE_MAX_BYTES", value_name = "BYTES")]
    cache_max_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum BusyArg {
    Error,
    Drop,
}

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => Settings::load(path)?,
        None => Settings::default(),
    };
    let default_root = args.root.is_none() && file.root.is_none();
    let flags = Settings {
        root: args.root,
        alternate_roots: (!args.alternate_roots.is_empty()).then_some(args.alternate_roots),
        case_insensitive: args.case_sensitive.then_some(false),
        tftp: TftpSection {
            listen: (!args.tftp_listen.is_empty()).then_some(args.tftp_listen),
            max_serving_count: args.max_serving_count,
            busy_reply: args.busy_reply.map(|b| match b {
                BusyArg::Error => BusyReply::Error,
                BusyArg::Drop => BusyReply::Drop,
            }),
            busy_message: args.busy_message,
            max_blksize: args.max_blksize,
            max_windowsize: args.max_windowsize,
            timeout_ms: args.timeout_ms,
            max_timeout_ms: args.max_timeout_ms,
            retries: args.retries,
            final_retries: args.final_retries,
            unanswered_retries: args.unanswered_retries,
            rollover: args.rollover,
            recv_buffer_bytes: args.recv_buffer,
            cache_max_bytes: args.cache_max_bytes,
            cache_at_startup: args.cache_at_startup.then_some(true),
            shutdown_grace_ms: None,
        },
        remote_clusters: (!args.alternate_servers.is_empty()).then(|| {
            vec![ClusterSection {
                name: "command line".to_owned(),
                enabled: true,
                servers: args.alternate_servers,
            }]
        }),
        remote: RemoteSection::default(),
        http: HttpSection {
            listen: (!args.http_listen.is_empty()).then_some(args.http_listen),
            retry_after_secs: None,
        },
        admin: AdminSection {
            listen: args.admin_listen,
        },
        database: DatabaseSection {
            url: args.database,
            path: None,
            models: args.models,
            poll_ms: None,
            profile_converter: None,
        },
    };
    let config = Config::from_layers(file, flags)?;
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
    let server = Server::bind(config).await?;
    server.run(shutdown_signal()).await;
    Ok(())
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
