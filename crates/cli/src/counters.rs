//! `phoneboot counters`: the Cisco TFTP counters of a running server, as RTMT shows them.

use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct CountersArgs {
    /// The server's admin listener.
    #[arg(
        long,
        env = "PHONEBOOT_ADMIN_LISTEN",
        default_value = "127.0.0.1:6990",
        value_name = "ADDR:PORT"
    )]
    admin: String,
    /// Refresh every N seconds until interrupted.
    #[arg(long, value_name = "SECONDS")]
    watch: Option<u64>,
    /// Print the Prometheus text instead of the table.
    #[arg(long)]
    prometheus: bool,
}

pub(crate) async fn run(args: CountersArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .context("building the HTTP client")?;
    let path = if args.prometheus {
        "metrics"
    } else {
        "counters"
    };
    let url = format!("http://{}/{path}", args.admin);
    loop {
        let response = http.get(&url).send().await.with_context(|| {
            format!("cannot reach the admin listener at {url}; is `phoneboot serve` running, and with which --admin-listen?")
        })?;
        if !response.status().is_success() {
            bail!("{url} answered {}", response.status());
        }
        let body = response.text().await.context("reading the counters")?;
        if args.prometheus {
            out!("{body}");
        } else {
            print_table(&body);
        }
        let Some(every) = args.watch else {
            return Ok(());
        };
        tokio::time::sleep(Duration::from_secs(every.max(1))).await;
        outln!();
    }
}

/// Prints `Name value` lines as an aligned two-column table under RTMT's object name.
fn print_table(body: &str) {
    let rows: Vec<(&str, &str)> = body.lines().filter_map(|l| l.split_once(' ')).collect();
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    outln!("Cisco TFTP ({} counters)", rows.len());
    for (name, value) in rows {
        outln!("  {name:<width$}  {value:>12}");
    }
}
