//! `phoneboot flood`: abuse a TFTP server's request port while phones boot (half-open
//! requests, junk, truncated and oversized requests, stray packets), for tests and
//! benchmarks. Only against servers you run: it is a denial-of-service tool in small.

use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use phoneboot_emu::flood::{self, Flood};

use crate::client::resolve;

#[derive(Debug, Args)]
pub(crate) struct FloodArgs {
    /// The TFTP server, HOST[:PORT] (port 69 when omitted).
    #[arg(long)]
    server: String,
    /// Requests from ports closed at once (the server's answers go nowhere, as for a spoofed
    /// source).
    #[arg(long, default_value_t = 2000)]
    half_open: usize,
    /// Names the half-open requests ask for, in turn (files the server has, so that they
    /// take serving slots).
    #[arg(
        long = "name",
        value_name = "FILE",
        default_value = "XMLDefault.cnf.xml"
    )]
    names: Vec<String>,
    /// Datagrams of random bytes.
    #[arg(long, default_value_t = 2000)]
    junk: usize,
    /// Requests cut short.
    #[arg(long, default_value_t = 500)]
    truncated: usize,
    /// Requests longer than any client sends.
    #[arg(long, default_value_t = 500)]
    oversized: usize,
    /// ACKs and DATA for no transfer, to the request port.
    #[arg(long, default_value_t = 500)]
    stray: usize,
    /// Send the half-open requests from ports counted up from this one (0: the system's
    /// choice). Outside the system's ephemeral range, they never land on a port a phone of
    /// the same address is using.
    #[arg(long, default_value_t = 0, value_name = "PORT")]
    first_port: u16,
    /// Spread everything over this many milliseconds.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    over_ms: u64,
}

pub(crate) async fn run(args: FloodArgs) -> anyhow::Result<()> {
    let server = resolve(&args.server).with_context(|| format!("--server {}", args.server))?;
    let sent = flood::run(
        server,
        &Flood {
            half_open: args.half_open,
            names: args.names,
            junk: args.junk,
            truncated: args.truncated,
            oversized: args.oversized,
            stray: args.stray,
            over: Duration::from_millis(args.over_ms),
            first_port: args.first_port,
        },
    )
    .await
    .with_context(|| format!("flooding {server}"))?;
    println!("half-open: {}", sent.half_open);
    println!("junk: {}", sent.junk);
    println!("truncated: {}", sent.truncated);
    println!("oversized: {}", sent.oversized);
    println!("stray: {}", sent.stray);
    println!("answers: {}", sent.answers);
    Ok(())
}
