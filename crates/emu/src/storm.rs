//! A boot storm: many devices booting at once, or at a given rate, with at most a given number
//! booting at the same time, each by the rules of [`crate::boot`]. Measures what an operator
//! asks after a power cut: how many came back, how long they took, what failed and why.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::boot::{self, Device, Fetcher, FileOutcome, Provision, Role};
use crate::dhcp::Target;

/// One device of the storm and how it fetches.
#[derive(Debug, Clone)]
pub struct Phone {
    pub device: Device,
    pub servers: Vec<Target>,
    /// Asks HTTP (6970) before TFTP, as 78xx/88xx phones do.
    pub http_first: bool,
}

/// How the storm starts its devices.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Boots started per second; `None`: all at once.
    pub rate: Option<f64>,
    /// Boots running at the same time, at most.
    pub concurrency: usize,
}

/// Counters a progress display reads while the storm runs.
#[derive(Debug, Default)]
pub struct Live {
    pub started: AtomicU64,
    pub booted: AtomicU64,
    pub failed: AtomicU64,
    pub files: AtomicU64,
    pub bytes: AtomicU64,
    pub busy: AtomicU64,
}

/// What the storm measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub phones: u64,
    /// Booted and provisioned as their configuration says.
    pub booted: u64,
    /// Booted on a default configuration: their own was not found.
    pub default_only: u64,
    /// Booted on their own configuration, but files it names were not found.
    pub incomplete: u64,
    /// Files not found, by name pattern (MACs folded into `<MAC>`), with their role; trust
    /// list probes, absent on a nonsecure cluster, are left out.
    pub not_found: BTreeMap<String, (Role, u64)>,
    /// Failed boots by reason.
    pub failed: BTreeMap<String, u64>,
    /// File requests answered (found, not found or failed).
    pub requests: u64,
    pub files: u64,
    pub bytes: u64,
    pub busy: u64,
    pub failovers: u64,
    /// TFTP client timeouts (retransmissions), when the fetcher counts them.
    pub timeouts: u64,
    /// Boot times of the devices that booted, sorted.
    pub boot_times: Vec<Duration>,
    /// When each file request was answered, since the storm started, sorted.
    pub answered_at: Vec<Duration>,
    pub elapsed: Duration,
}

impl Report {
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    /// Devices not provisioned as their configuration says: failed, on the default
    /// configuration only, or missing files their configuration names.
    pub fn unprovisioned(&self) -> u64 {
        self.failed_total() + self.default_only + self.incomplete
    }

    /// The `q` quantile (0..=1) of boot times.
    pub fn boot_quantile(&self, q: f64) -> Option<Duration> {
        let n = self.boot_times.len();
        if n == 0 {
            return None;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let index = ((n as f64 * q).ceil() as usize).clamp(1, n) - 1;
        Some(self.boot_times[index])
    }

    /// The rate of answered requests over the storm, as (seconds since start, requests per
    /// second) per bin; bins are a hundredth of the storm, at least 100 ms, so that a short
    /// storm still shows its shape.
    pub fn request_rate(&self) -> Vec<(f64, f64)> {
        let total = self.elapsed.as_secs_f64();
        let width = (total / 100.0).max(0.1);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let bins = ((total / width).ceil() as usize).clamp(1, 10_000);
        let mut counts = vec![0u64; bins];
        for at in &self.answered_at {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let b = ((at.as_secs_f64() / width) as usize).min(bins - 1);
            counts[b] += 1;
        }
        counts
            .iter()
            .enumerate()
            .map(|(i, n)| (i as f64 * width, *n as f64 / width))
            .collect()
    }

    /// The plain summary the CLI prints last.
    pub fn summary(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let q = |q: f64| {
            self.boot_quantile(q)
                .map_or_else(|| "-".to_owned(), |d| format!("{:.3} s", d.as_secs_f64()))
        };
        let mut out = String::new();
        out.push_str(&format!("phones: {}\n", self.phones));
        out.push_str(&format!(
            "booted: {} (provisioned as their configuration says)\n",
            self.booted
        ));
        out.push_str(&format!(
            "default config only: {} (their own configuration was not found)\n",
            self.default_only
        ));
        out.push_str(&format!(
            "missing files: {} (booted, but files their configuration names were not found)\n",
            self.incomplete
        ));
        out.push_str(&format!("failed: {}\n", self.failed_total()));
        for (reason, n) in &self.failed {
            out.push_str(&format!("  {n} {reason}\n"));
        }
        if !self.not_found.is_empty() {
            out.push_str("not found:\n");
            for (pattern, (role, n)) in &self.not_found {
                let note = match role {
                    Role::Config => " (the device's own configuration)",
                    Role::Default => " (a default configuration)",
                    Role::Named => " (named by a configuration)",
                    Role::Extra | Role::Probe => " (optional)",
                };
                out.push_str(&format!("  {n} {pattern}{note}\n"));
            }
        }
        out.push_str(&format!(
            "elapsed: {secs:.2} s\nrequests: {} ({:.0}/s)\nfiles: {} ({:.0}/s)\nbytes: {} ({:.1} MB/s)\n",
            self.requests,
            self.requests as f64 / secs,
            self.files,
            self.files as f64 / secs,
            self.bytes,
            self.bytes as f64 / secs / 1e6,
        ));
        out.push_str(&format!(
            "busy answers: {} (each waited for and retried)\nretransmissions: {} (TFTP client \
             timeouts)\nfail-overs: {}\n",
            self.busy, self.timeouts, self.failovers
        ));
        out.push_str(&format!(
            "boot time: p50 {} p95 {} p99 {} max {}\n",
            q(0.5),
            q(0.95),
            q(0.99),
            q(1.0)
        ));
        out
    }
}

/// Runs the storm to the end. `tftp` serves devices that boot over TFTP, `http_first` those
/// that ask HTTP first.
pub async fn run(
    phones: Vec<Phone>,
    pace: Pace,
    tftp: Arc<dyn Fetcher>,
    http_first: Arc<dyn Fetcher>,
    live: Arc<Live>,
) -> Report {
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(pace.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let count = phones.len() as u64;
    let mut finished = Vec::with_capacity(phones.len());
    for (i, phone) in phones.into_iter().enumerate() {
        if let Some(rate) = pace.rate.filter(|r| *r > 0.0) {
            tokio::time::sleep_until(started + Duration::from_secs_f64(i as f64 / rate)).await;
        }
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        let fetcher = Arc::clone(if phone.http_first { &http_first } else { &tftp });
        let live = Arc::clone(&live);
        live.started.fetch_add(1, Ordering::Relaxed);
        tasks.spawn(async move {
            let mut device = phone.device;
            let boot_started = Instant::now();
            let result = boot::boot(&mut device, phone.servers, fetcher.as_ref()).await;
            drop(permit);
            let offset = boot_started - started;
            let files = result
                .files
                .iter()
                .filter(|f| matches!(f.outcome, FileOutcome::Got(_)))
                .count() as u64;
            live.files.fetch_add(files, Ordering::Relaxed);
            live.bytes.fetch_add(result.bytes(), Ordering::Relaxed);
            live.busy.fetch_add(result.busy(), Ordering::Relaxed);
            match &result.result {
                Some(Ok(())) => live.booted.fetch_add(1, Ordering::Relaxed),
                _ => live.failed.fetch_add(1, Ordering::Relaxed),
            };
            (offset, boot_started.elapsed(), result)
        });
        // Take in finished boots as we go, so that finished tasks do not pile up.
        while let Some(done) = tasks.try_join_next() {
            finished.extend(done.ok());
        }
    }
    while let Some(done) = tasks.join_next().await {
        finished.extend(done.ok());
    }
    let mut report = Report {
        phones: count,
        elapsed: started.elapsed(),
        ..Report::default()
    };
    for (offset, took, boot) in finished {
        report.requests += boot.files.len() as u64;
        report.files += boot
            .files
            .iter()
            .filter(|f| matches!(f.outcome, FileOutcome::Got(_)))
            .count() as u64;
        report.bytes += boot.bytes();
        report.busy += boot.busy();
        report.failovers += u64::from(boot.failovers);
        report
            .answered_at
            .extend(boot.files.iter().map(|f| offset + f.at));
        for file in &boot.files {
            if file.role != Role::Probe && file.outcome == FileOutcome::NotFound {
                let entry = report
                    .not_found
                    .entry(phoneboot_render::pattern(&file.name))
                    .or_insert((file.role, 0));
                entry.1 += 1;
            }
        }
        match boot.provision() {
            Some(Provision::Configured) => report.booted += 1,
            Some(Provision::DefaultOnly { .. }) => report.default_only += 1,
            Some(Provision::Incomplete { .. }) => report.incomplete += 1,
            None => {}
        }
        match boot.result {
            Some(Ok(())) => report.boot_times.push(took),
            Some(Err(e)) => *report.failed.entry(e.to_string()).or_default() += 1,
            None => *report.failed.entry("did not run".into()).or_default() += 1,
        }
    }
    report.boot_times.sort_unstable();
    report.answered_at.sort_unstable();
    report
}
