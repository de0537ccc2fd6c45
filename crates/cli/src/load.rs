//! `phoneboot load`: a load generator on phoneboot's client engine. It reports its own CPU time
//! so that a benchmark can tell when the client, not the server, is the bottleneck.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;

use crate::client::{TransferArgs, fetch, resolve};

#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// Server address: HOST, HOST:PORT or [V6]:PORT.
    server: String,
    /// File every transfer downloads.
    file: String,
    /// Transfers in total.
    #[arg(long, short = 'n', default_value_t = 1000)]
    count: usize,
    /// Transfers in flight at once.
    #[arg(long, short = 'c', default_value_t = 100)]
    concurrency: usize,
    /// Expected size; a transfer delivering another size counts as failed.
    #[arg(long, value_name = "BYTES")]
    expect_size: Option<usize>,
    /// Print one machine-readable line (key=value) instead of the report.
    #[arg(long)]
    machine: bool,
    #[command(flatten)]
    options: TransferArgs,
}

pub(crate) async fn run(args: LoadArgs) -> anyhow::Result<()> {
    if args.count == 0 || args.concurrency == 0 {
        bail!("--count and --concurrency must be at least 1");
    }
    let server = resolve(&args.server)?;
    let config = args.options.config();
    let next = Arc::new(AtomicUsize::new(0));
    let file: Arc<[u8]> = Arc::from(args.file.as_bytes());
    let cpu_before = process_cpu_seconds();
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.min(args.count) {
        let next = Arc::clone(&next);
        let file = Arc::clone(&file);
        let count = args.count;
        let expect = args.expect_size;
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let t = Instant::now();
                match fetch(server, &file, config).await {
                    Ok(data) if expect.is_none_or(|e| e == data.len()) => {
                        latencies.push(t.elapsed());
                    }
                    _ => failures += 1,
                }
            }
            (latencies, failures)
        }));
    }
    let mut latencies = Vec::with_capacity(args.count);
    let mut failures = 0;
    for w in workers {
        let (l, f) = w.await?;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    let cpu = process_cpu_seconds() - cpu_before;
    latencies.sort();
    let pct = |permille: usize| -> Duration {
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        // Nearest-rank percentile over the sorted latencies.
        let last = latencies.len() - 1;
        let i = last * permille / 1000;
        latencies[i.min(last)]
    };
    let ok = latencies.len();
    let rate = ok as f64 / elapsed.as_secs_f64();
    if args.machine {
        outln!(
            "ok={ok} failed={failures} seconds={:.3} rate={rate:.1} p50_ms={:.2} p99_ms={:.2} client_cpu_s={cpu:.3}",
            elapsed.as_secs_f64(),
            pct(500).as_secs_f64() * 1e3,
            pct(990).as_secs_f64() * 1e3,
        );
    } else {
        outln!(
            "transfers   {ok} ok, {failures} failed, in {:.3} s",
            elapsed.as_secs_f64()
        );
        outln!("rate        {rate:.1} transfers/s");
        outln!(
            "latency     p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            pct(500).as_secs_f64() * 1e3,
            pct(990).as_secs_f64() * 1e3,
            pct(1000).as_secs_f64() * 1e3
        );
        outln!(
            "client CPU  {cpu:.3} s ({:.1} us per transfer)",
            cpu * 1e6 / args.count as f64
        );
    }
    if failures > 0 && !args.machine {
        bail!("{failures} transfers failed");
    }
    Ok(())
}

/// User + system CPU seconds of this process, from /proc (Linux).
fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Clock ticks are 100 per second on every Linux this runs on (USER_HZ).
    (ticks(11) + ticks(12)) / 100.0
}
