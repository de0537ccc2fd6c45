//! `phoneboot`: the command line. Two layers (after ripgrep): clap parses what the user typed,
//! then `phoneboot_server::config` merges it with the file and validates it.

/// `println!` for command output that ends the process quietly when standard output is
/// closed early (`phoneboot device list | head`) instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::stdout_failed(&e)
        }
    }};
}

/// `print!` likewise.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout().lock(), $($arg)*) {
            $crate::stdout_failed(&e)
        }
    }};
}

mod admin;
mod backup;
mod build;
mod bulk;
mod client;
mod counters;
mod database;
mod dhcp;
mod emulate;
mod example;
mod fetched;
mod file;
mod flood;
mod impair;
mod load;
mod objects;
mod security;
mod serve;
mod storm;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use phoneboot_model::Kind;

/// Provisioning server for IP phones and voice gateways, as the Cisco Unified CM "Cisco TFTP"
/// service: keeps a device database, builds each device's configuration files, serves them
/// with firmware and rings over TFTP and HTTP, asks other clusters for what it lacks, and keeps
/// the Cisco TFTP counters and busy limit. Start with `phoneboot init --example`, then
/// `phoneboot serve`.
#[derive(Debug, Parser)]
#[command(
    name = "phoneboot",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    /// Log filter: error, warn, info, debug, trace, or a tracing directive such as
    /// `phoneboot_server=debug`. RUST_LOG overrides it; without either, `serve` takes the
    /// configuration file's [log] level. [default: info]
    #[arg(long, global = true, env = "PHONEBOOT_LOG")]
    log_level: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the files built from the device database, then the TFTP root and alternate
    /// locations, over TFTP (69) and HTTP (6970), with the counters on the admin listener.
    Serve(Box<serve::ServeArgs>),
    /// Show a running server's Cisco TFTP counters (read from its admin listener).
    Counters(counters::CountersArgs),
    /// Has each phone taken the change? What every device last fetched of its own
    /// configuration from a running server, against what the database holds now.
    Fetched(fetched::FetchedArgs),
    /// Create the device database (--example: with a small example cluster).
    Init(example::InitArgs),
    /// Phones, soft clients and gateways: add, list, show, set, remove, login, logout.
    Device(objects::DeviceArgs),
    /// Call managers (name, host, sccp_port, sip_port, secure_sip_port).
    Callmanager(objects::ObjectArgs),
    /// Unified CM groups: up to 3 call managers in priority order (members=[...]).
    Group(objects::ObjectArgs),
    /// Date/time groups (date_template, time_zone, ntp=[...]).
    Datetime(objects::ObjectArgs),
    /// Device pools (cm_group, date_time, locales, srst, URLs).
    Pool(objects::ObjectArgs),
    /// SIP dial plans (rules=[{pattern=..., timeout=..., ...}]), built as DR<name>.xml.
    Dialplan(objects::ObjectArgs),
    /// Softkey templates (sets=[{id="On Hook", keys=[...]}]), built as SK<name>.xml.
    Softkeys(objects::ObjectArgs),
    /// Feature policies (features={1=true, ...}), built as FP<name>.xml.
    Policy(objects::ObjectArgs),
    /// End users and their Extension Mobility profiles.
    User(objects::ObjectArgs),
    /// Service and enterprise parameters (Build CNF Files, auto-registration, default URLs).
    Params(objects::ParamsArgs),
    /// Import devices from a CSV file (all rows or none).
    Import(bulk::ImportArgs),
    /// Export every device as CSV (the import's format).
    Export(bulk::ExportArgs),
    /// Accounts of the admin API and web UI, their API tokens, and the audit log.
    Admin(admin::AdminArgs),
    /// Back up, restore and check the device database.
    Db(backup::DbCommand),
    /// The cluster's signing keys, trust lists and phone certificates (secure clusters).
    Security(security::SecurityArgs),
    /// Write every file the database implies into a folder.
    Build(build::BuildArgs),
    /// Print one built file exactly as a device would get it.
    Render(build::RenderArgs),
    /// List the device model catalogue.
    Models(build::ModelsArgs),
    /// Manage custom files (rings, backgrounds, loads) in the root or an alternate location;
    /// a running server serves every change at once.
    File(file::FileArgs),
    /// DHCP configuration that points phones at phoneboot (options 150, 66, DHCPv6 17), and a
    /// decoder that explains such an option's value.
    Dhcp(dhcp::DhcpArgs),
    /// Emulate one device: pick its TFTP servers from DHCP inputs, boot as its model does, and
    /// print each decision and file with its outcome and time.
    Emulate(Box<emulate::EmulateArgs>),
    /// Download one file over TFTP with phoneboot's own client.
    Get(client::GetArgs),
    /// Load generator: many downloads of one file at a given concurrency, with rates and
    /// latencies (the benchmark's client).
    Load(load::LoadArgs),
    /// Boot storm: many emulated devices booting at once or at a rate against a TFTP server
    /// (ours or any other), with progress, a summary and an HTML report.
    Storm(Box<storm::StormArgs>),
    /// Abuse a TFTP server's request port (half-open requests, junk, truncated and oversized
    /// requests, stray packets) while phones boot: for tests and benchmarks of servers you run.
    Flood(flood::FloodArgs),
    /// A lossy path in front of a TFTP server (drops, duplicates, delays, reorders datagrams;
    /// follows each transfer's port): for tests and benchmarks without netem.
    Impair(impair::ImpairArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = init_logging(cli.log_level.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(*args, log).await,
            Command::Counters(args) => counters::run(args).await,
            Command::Fetched(args) => fetched::run(args).await,
            Command::File(args) => file::run(args).await,
            Command::Dhcp(args) => dhcp::run(args),
            Command::Emulate(args) => emulate::run(*args).await,
            Command::Get(args) => client::run(args).await,
            Command::Load(args) => load::run(args).await,
            Command::Init(args) => example::run(args).await,
            Command::Device(args) => objects::run_device(args).await,
            Command::Callmanager(args) => objects::run(Kind::CallManager, args).await,
            Command::Group(args) => objects::run(Kind::CmGroup, args).await,
            Command::Datetime(args) => objects::run(Kind::DateTimeGroup, args).await,
            Command::Pool(args) => objects::run(Kind::DevicePool, args).await,
            Command::Dialplan(args) => objects::run(Kind::DialPlan, args).await,
            Command::Softkeys(args) => objects::run(Kind::Softkeys, args).await,
            Command::Policy(args) => objects::run(Kind::FeaturePolicy, args).await,
            Command::User(args) => objects::run(Kind::User, args).await,
            Command::Params(args) => objects::run_params(args).await,
            Command::Import(args) => bulk::import(args).await,
            Command::Export(args) => bulk::export(args).await,
            Command::Db(args) => backup::run(args).await,
            Command::Security(args) => security::run(args),
            Command::Admin(args) => admin::run(args).await,
            Command::Build(args) => build::build(args).await,
            Command::Render(args) => build::render(args).await,
            Command::Models(args) => build::models(&args),
            Command::Storm(args) => storm::run(*args).await,
            Command::Flood(args) => flood::run(args).await,
            Command::Impair(args) => impair::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Standard output failed: a closed pipe is a normal end; anything else is an error.
fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: writing to standard output: {e}");
    std::process::exit(1);
}

/// The log filter in force, and whether a configuration file may change it.
#[derive(Clone)]
struct LogControl {
    filter: tracing_subscriber::reload::Handle<
        tracing_subscriber::EnvFilter,
        tracing_subscriber::Registry,
    >,
    /// RUST_LOG or --log-level chose the filter: a file's [log] level does not apply.
    pinned: bool,
}

impl std::fmt::Debug for LogControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogControl(pinned: {})", self.pinned)
    }
}

impl LogControl {
    /// Applies a configuration file's `[log] level` (nothing when the command line or
    /// RUST_LOG chose, or the file sets none).
    fn apply_file_level(&self, level: Option<&str>) {
        if self.pinned {
            return;
        }
        let (level, said) = match level {
            Some(level) => (level, true),
            None => ("info", false),
        };
        match log_filter(level) {
            Ok(filter) => {
                if self.filter.reload(filter).is_ok() && said {
                    tracing::info!("log level {level} (the configuration file's)");
                }
            }
            Err(e) => tracing::warn!("[log] level {level:?} is not a log filter: {e}"),
        }
    }
}

/// The filter for a level or directive. PostgreSQL's NOTICEs (such as "relation already
/// exists, skipping" from a migration check at every start) are kept for `debug`, unless the
/// directive names sqlx itself.
fn log_filter(
    level: &str,
) -> Result<tracing_subscriber::EnvFilter, tracing_subscriber::filter::ParseError> {
    if level.contains("sqlx") {
        return tracing_subscriber::EnvFilter::try_new(level);
    }
    tracing_subscriber::EnvFilter::try_new(format!("{level},sqlx::postgres::notice=warn"))
}

fn init_logging(level: Option<&str>) -> LogControl {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{EnvFilter, fmt, reload};
    let from_env = EnvFilter::try_from_default_env().ok();
    let pinned = from_env.is_some() || level.is_some();
    let filter = from_env
        .or_else(|| log_filter(level.unwrap_or("info")).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    tracing_subscriber::registry()
        .with(filter)
        .with(
            fmt::layer()
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr),
        )
        .init();
    LogControl {
        filter: handle,
        pinned,
    }
}
