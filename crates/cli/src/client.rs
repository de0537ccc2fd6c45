//! phoneboot's TFTP client: the engine's `ReadClient` driven by a tokio socket. Used by
//! `phoneboot get`, by `phoneboot load`, and by the tests.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use phoneboot_tftp::packet::Mode;
use phoneboot_tftp::{ClientConfig, ClientRequest};

#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// Server address: HOST, HOST:PORT or [V6]:PORT (port 69 when omitted).
    server: String,
    /// File to download.
    file: String,
    /// Where to write it; "-" for standard output. [default: the file's base name]
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[command(flatten)]
    options: TransferArgs,
}

/// Transfer options shared by `get` and `load`.
#[derive(Debug, Clone, Args)]
pub(crate) struct TransferArgs {
    /// Ask for this block size (RFC 2348).
    #[arg(long, value_name = "BYTES")]
    pub(crate) blksize: Option<u16>,
    /// Ask for this window size (RFC 7440).
    #[arg(long, value_name = "BLOCKS")]
    pub(crate) windowsize: Option<u16>,
    /// Ask the server for the transfer size (RFC 2349).
    #[arg(long)]
    pub(crate) tsize: bool,
    /// Ask the server to retransmit after this many seconds (RFC 2349 `timeout`, 1..=255).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u8).range(1..=255))]
    pub(crate) tftp_timeout: Option<u8>,
    /// Text mode (netascii) instead of octet.
    #[arg(long)]
    pub(crate) netascii: bool,
    /// Retransmission timeout in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub(crate) timeout_ms: u64,
    /// Retransmissions before giving up.
    #[arg(long, default_value_t = 5)]
    pub(crate) retries: u32,
}

impl TransferArgs {
    pub(crate) fn config(&self) -> ClientConfig {
        ClientConfig {
            mode: if self.netascii {
                Mode::Netascii
            } else {
                Mode::Octet
            },
            options: ClientRequest {
                blksize: self.blksize,
                windowsize: self.windowsize,
                timeout: self.tftp_timeout,
                tsize: self.tsize,
            },
            timeout: Duration::from_millis(self.timeout_ms.max(1)),
            max_retries: self.retries,
            ..ClientConfig::default()
        }
    }
}

pub(crate) async fn run(args: GetArgs) -> anyhow::Result<()> {
    let server = resolve(&args.server)?;
    let started = Instant::now();
    let data = fetch(server, args.file.as_bytes(), args.options.config())
        .await
        .with_context(|| format!("downloading {} from {server}", args.file))?;
    let elapsed = started.elapsed();
    let output = args.output.unwrap_or_else(|| {
        PathBuf::from(args.file.rsplit(['/', '\\']).next().unwrap_or("download"))
    });
    if output.as_os_str() == "-" {
        use std::io::Write as _;
        std::io::stdout().write_all(&data)?;
    } else {
        std::fs::write(&output, &data).with_context(|| format!("writing {}", output.display()))?;
        eprintln!(
            "{} bytes in {:.3} s -> {}",
            data.len(),
            elapsed.as_secs_f64(),
            output.display()
        );
    }
    Ok(())
}

/// Parses HOST[:PORT], defaulting to port 69.
pub(crate) fn resolve(server: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = server.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = server.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 69));
    }
    let with_port = if server.contains(':') {
        server.to_owned()
    } else {
        format!("{server}:69")
    };
    match with_port.to_socket_addrs() {
        Ok(mut addrs) => match addrs.next() {
            Some(addr) => Ok(addr),
            None => bail!("{server} has no address"),
        },
        Err(e) => bail!("cannot resolve {server}: {e}"),
    }
}

pub(crate) use phoneboot_emu::net::tftp_fetch as fetch;
