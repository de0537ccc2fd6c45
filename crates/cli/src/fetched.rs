//! `phoneboot fetched`: has each phone taken the change? A running server's view of what
//! every device last fetched of its own configuration, against what the database holds now.

use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
pub(crate) struct FetchedArgs {
    /// The server's admin listener.
    #[arg(
        long,
        env = "PHONEBOOT_ADMIN_LISTEN",
        default_value = "127.0.0.1:6990",
        value_name = "ADDR:PORT"
    )]
    admin: String,
    /// Only the devices in this state.
    #[arg(long, value_enum)]
    state: Option<State>,
    /// The server's JSON as it is.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum State {
    /// It fetched what the database holds now.
    Current,
    /// It runs an older configuration.
    Stale,
    /// It has not fetched its own file since the server started.
    Never,
}

pub(crate) async fn run(args: FetchedArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("building the HTTP client")?;
    let mut url = format!("http://{}/devices/fetched", args.admin);
    if let Some(state) = args.state {
        let name = format!("{state:?}").to_lowercase();
        url.push_str(&format!("?state={name}"));
    }
    let response = http.get(&url).send().await.with_context(|| {
        format!(
            "asking {url} (is phoneboot serve running with --admin-listen {}?)",
            args.admin
        )
    })?;
    let status = response.status();
    let body = response.text().await.context("reading the answer")?;
    if !status.is_success() {
        bail!("{url}: {status}: {}", body.trim());
    }
    if args.json {
        out!("{body}");
        return Ok(());
    }
    let devices: Vec<serde_json::Value> =
        serde_json::from_str(&body).with_context(|| format!("{url} did not answer JSON"))?;
    outln!(
        "{:<18} {:<8} {:<34} {:<29} client",
        "device",
        "state",
        "last file",
        "when"
    );
    for d in &devices {
        let last = &d["last"];
        let when = last["at"]
            .as_u64()
            .map(|at| httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(at)))
            .unwrap_or_default();
        outln!(
            "{:<18} {:<8} {:<34} {:<29} {}",
            d["device"].as_str().unwrap_or(""),
            d["state"].as_str().unwrap_or(""),
            last["file"].as_str().unwrap_or("-"),
            when,
            last["client"].as_str().unwrap_or("")
        );
    }
    let count = |s: &str| devices.iter().filter(|d| d["state"] == s).count();
    outln!(
        "{} devices: {} current, {} stale, {} never fetched",
        devices.len(),
        count("current"),
        count("stale"),
        count("never")
    );
    Ok(())
}
