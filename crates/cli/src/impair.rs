//! `phoneboot impair`: a lossy path in front of a TFTP server (drops, duplicates, delays,
//! reorders; follows each transfer's port), for tests and benchmarks where the kernel has no
//! netem. Runs until interrupted, then prints what it did.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use phoneboot_emu::impair::{Impairment, Relay};

use crate::client::resolve;

#[derive(Debug, Args)]
pub(crate) struct ImpairArgs {
    /// The server behind the path, HOST[:PORT] (port 69 when omitted).
    #[arg(long)]
    server: String,
    /// Where clients send their requests.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Share of datagrams lost, each way (0 to 1).
    #[arg(long, default_value_t = 0.1)]
    loss: f64,
    /// Share of datagrams delivered twice.
    #[arg(long, default_value_t = 0.01)]
    duplicate: f64,
    /// Share of datagrams held back behind later ones.
    #[arg(long, default_value_t = 0.01)]
    reorder: f64,
    /// One-way delay of every datagram.
    #[arg(long, default_value_t = 2, value_name = "MS")]
    delay_ms: u64,
    /// Extra delay of a reordered datagram.
    #[arg(long, default_value_t = 5, value_name = "MS")]
    reorder_ms: u64,
    /// Seed of the path's choices: the same seed, the same fates in the same order.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub(crate) async fn run(args: ImpairArgs) -> anyhow::Result<()> {
    for (name, p) in [
        ("--loss", args.loss),
        ("--duplicate", args.duplicate),
        ("--reorder", args.reorder),
    ] {
        if !(0.0..=1.0).contains(&p) {
            bail!("{name} {p}: a share from 0 to 1 (0.1 is 10 %)");
        }
    }
    let server = resolve(&args.server).with_context(|| format!("--server {}", args.server))?;
    let relay = Relay::start(
        args.listen,
        server,
        Impairment {
            loss: args.loss,
            duplicate: args.duplicate,
            reorder: args.reorder,
            delay: Duration::from_millis(args.delay_ms),
            reorder_delay: Duration::from_millis(args.reorder_ms),
            seed: args.seed,
        },
    )
    .await
    .with_context(|| format!("--listen {}", args.listen))?;
    println!("listening on {}", relay.listen);
    tokio::signal::ctrl_c().await.ok();
    let s = relay.stats();
    println!(
        "forwarded {} dropped {} duplicated {} reordered {}",
        s.forwarded.load(Relaxed),
        s.dropped.load(Relaxed),
        s.duplicated.load(Relaxed),
        s.reordered.load(Relaxed)
    );
    Ok(())
}
