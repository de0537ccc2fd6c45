//! `phoneboot counters`: the Cisco TFTP counters of a running server, as RTMT shows them —
//! or, with `--cluster`, of every node of the cluster side by side, as each last reported
//! them to the database.

use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use phoneboot_store::NodeReport;

use crate::database::DbArgs;

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
    #[arg(long, conflicts_with = "cluster")]
    prometheus: bool,
    /// Every node of the cluster side by side, from the reports each writes to the device
    /// database every 10 s (--database names it).
    #[arg(long)]
    cluster: bool,
    /// With --cluster: drop the last report of a node taken out of the cluster.
    #[arg(long, value_name = "NAME", requires = "cluster")]
    forget: Option<String>,
    #[command(flatten)]
    db: DbArgs,
}

pub(crate) async fn run(args: CountersArgs) -> anyhow::Result<()> {
    if args.cluster {
        return args
            .db
            .with(|db| async move {
                if let Some(name) = &args.forget {
                    if !db.store().forget_node(name).await? {
                        bail!("no node named {name:?} has reported to {}", db.location());
                    }
                    outln!("forgot node {name}");
                    return Ok(());
                }
                loop {
                    let nodes = db.store().nodes().await?;
                    if nodes.is_empty() {
                        bail!(
                            "no node has reported to {} yet (a serving node reports every 10 s)",
                            db.location()
                        );
                    }
                    print_cluster(&nodes);
                    let Some(every) = args.watch else {
                        return Ok(());
                    };
                    tokio::time::sleep(Duration::from_secs(every.max(1))).await;
                    outln!();
                }
            })
            .await;
    }
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

/// A node silent for longer than this is marked so.
const SILENT_SECS: i64 = 30;

/// Every node's counters in a column of its own, under its name and the age of its report.
fn print_cluster(nodes: &[NodeReport]) {
    let now = phoneboot_store::unix_seconds();
    let columns: Vec<std::collections::HashMap<&str, &str>> = nodes
        .iter()
        .map(|n| {
            n.counters
                .lines()
                .filter_map(|l| l.split_once(' '))
                .collect()
        })
        .collect();
    // Every counter any node has, in the order the first node that has it lists it.
    let mut names: Vec<&str> = Vec::new();
    for node in nodes {
        for (name, _) in node.counters.lines().filter_map(|l| l.split_once(' ')) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let ages: Vec<String> = nodes
        .iter()
        .map(|n| {
            let age = (now - n.seen).max(0);
            if age > SILENT_SECS {
                format!("SILENT {age} s")
            } else {
                format!("{age} s ago")
            }
        })
        .collect();
    let label = names.iter().map(|n| n.len()).max().unwrap_or(0).max(11);
    let widths: Vec<usize> = nodes
        .iter()
        .zip(&ages)
        .map(|(n, age)| n.name.len().max(age.len()).max(12))
        .collect();
    outln!("Cisco TFTP, {} node(s)", nodes.len());
    let mut line = format!("  {:<label$}", "");
    for (node, w) in nodes.iter().zip(&widths) {
        line.push_str(&format!("  {:>w$}", node.name));
    }
    outln!("{line}");
    let mut line = format!("  {:<label$}", "last report");
    for (age, w) in ages.iter().zip(&widths) {
        line.push_str(&format!("  {age:>w$}"));
    }
    outln!("{line}");
    for name in names {
        let mut line = format!("  {name:<label$}");
        for (column, w) in columns.iter().zip(&widths) {
            line.push_str(&format!(
                "  {:>w$}",
                column.get(name).copied().unwrap_or("-")
            ));
        }
        outln!("{line}");
    }
}
