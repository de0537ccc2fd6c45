//! `phoneboot storm`: many emulated devices booting at once (or at a rate) against any TFTP
//! server, with live progress, a plain summary and an HTML report.

use std::io::IsTerminal as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use phoneboot_emu::boot::{Device, Fetcher};
use phoneboot_emu::dhcp::Target;
use phoneboot_emu::net::{HttpFetcher, HttpFirst, TftpFetcher};
use phoneboot_emu::storm::{self, Live, Pace, Phone};
use phoneboot_model::{DeviceClass, Mac, Protocol};

use crate::client::{TransferArgs, resolve};
use crate::database::DbArgs;
use crate::emulate::{Behaviour, BootPlan, boot_plan, catalogue, model};

#[derive(Debug, Args)]
pub(crate) struct StormArgs {
    /// The TFTP server, HOST[:PORT] (port 69 when omitted); repeat for a second server that
    /// devices fail over to (all on the same port).
    #[arg(long, required_unless_present = "responder")]
    server: Vec<String>,
    /// Devices to boot.
    #[arg(long, default_value_t = 1000)]
    phones: usize,
    /// First MAC of the range the devices get (one more each).
    #[arg(long, default_value = "0011.2200.0000")]
    mac_start: Mac,
    /// Models, used in turn (e.g. 8841,7965,7941); 78xx/88xx ask HTTP first with --http auto.
    #[arg(long, value_delimiter = ',', default_value = "7965")]
    model: Vec<String>,
    /// The devices run SIP firmware (a 7940/7960 then boots from SIPDefault.cnf).
    #[arg(long)]
    sip: bool,
    /// Take the devices (MAC, model, protocol) from this device database instead of a range;
    /// --phones then caps their number.
    #[arg(long, value_name = "URL|FILE")]
    from_database: Option<String>,
    /// A model catalogue file that extends the built-in one (as `serve --models` takes it):
    /// the database's devices of such models boot as it says.
    #[arg(long, env = "PHONEBOOT_MODELS", value_name = "FILE")]
    models: Option<PathBuf>,
    /// Boots started per second. [default: all at once]
    #[arg(long, value_name = "PER_SECOND")]
    rate: Option<f64>,
    /// Boots running at the same time, at most.
    #[arg(long, default_value_t = 1000)]
    concurrency: usize,
    #[command(flatten)]
    behaviour: Behaviour,
    /// Write a self-contained HTML report (boot-time histogram, requests per second) here.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Boot against a minimal in-process responder instead of a server: the rate reached is
    /// this tool's own ceiling on this machine.
    #[arg(long, conflicts_with = "server")]
    responder: bool,
    /// Print the summary as `key value` lines only (for scripts).
    #[arg(long)]
    machine: bool,
    #[command(flatten)]
    transfer: TransferArgs,
}

fn mac_plus(start: Mac, i: u64) -> Mac {
    let mut bytes = [0u8; 8];
    bytes[2..].copy_from_slice(&start.octets());
    let n = u64::from_be_bytes(bytes).wrapping_add(i) & 0xFFFF_FFFF_FFFF;
    let b = n.to_be_bytes();
    Mac::new([b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// One device to emulate: its MAC and how its model boots.
struct Planned {
    mac: Mac,
    plan: BootPlan,
}

async fn devices(args: &StormArgs) -> anyhow::Result<Vec<Planned>> {
    if let Some(path) = &args.from_database {
        let (snapshot, _) = DbArgs {
            database: Some(path.clone()),
            models: args.models.clone(),
            ..DbArgs::default()
        }
        .with(|db| async move { Ok(db.snapshot().await?) })
        .await?;
        let (mut unknown, mut not_phones) = (0, 0);
        let mut list = Vec::new();
        for d in snapshot.devices.iter() {
            let Some(model) = snapshot.catalogue.get(&d.model) else {
                unknown += 1;
                continue;
            };
            // Each asks for the files its model asks for (seed Table 11-3).
            let sip = d.protocol == Protocol::Sip;
            match boot_plan(model, sip, &d.name) {
                Some(plan) if model.class == DeviceClass::Phone => {
                    list.push(Planned { mac: d.mac, plan });
                }
                _ => not_phones += 1,
            }
        }
        let left_out: Vec<String> = [
            (
                not_phones,
                "gateways and other devices without a file of their own",
            ),
            (
                unknown,
                "devices of models the catalogue lacks (--models FILE adds them)",
            ),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if !left_out.is_empty() {
            eprintln!("left out of the storm: {}", left_out.join("; "));
        }
        if list.is_empty() {
            bail!("{} holds no phones", shown(path));
        }
        list.truncate(args.phones);
        return Ok(list);
    }
    let start = args.mac_start;
    if args.model.is_empty() {
        bail!("--model needs at least one model");
    }
    let catalogue = catalogue(args.models.as_deref())?;
    (0..args.phones)
        .zip(args.model.iter().cycle())
        .map(|(i, model)| {
            let mac = mac_plus(start, i as u64);
            // Devices named by their device name (IP Communicator) are named SEP<MAC> here.
            let info =
                self::model(&catalogue, model).with_context(|| format!("--model {model}"))?;
            let plan = boot_plan(info, args.sip, &format!("SEP{mac}"))
                .with_context(|| format!("--model {model}: it asks for no configuration file"))?;
            Ok(Planned { mac, plan })
        })
        .collect()
}

pub(crate) async fn run(args: StormArgs) -> anyhow::Result<()> {
    let mut responder = None;
    let (ips, port): (Vec<IpAddr>, u16) = if args.responder {
        let (addr, serve) =
            phoneboot_emu::responder::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        responder = Some(tokio::spawn(serve));
        (vec![addr.ip()], addr.port())
    } else {
        let addrs = args
            .server
            .iter()
            .map(|s| resolve(s))
            .collect::<anyhow::Result<Vec<SocketAddr>>>()?;
        let port = addrs[0].port();
        if addrs.iter().any(|a| a.port() != port) {
            bail!("--server: every server must use the same port (a phone has one TFTP port)");
        }
        (addrs.iter().map(SocketAddr::ip).collect(), port)
    };
    let servers: Vec<Target> = ips.into_iter().map(Target::Addr).collect();
    let config = args.transfer.config();
    let tftp = TftpFetcher::new(port, config);
    let timeouts = Arc::clone(&tftp.timeouts);
    let http =
        HttpFetcher::new(args.behaviour.http_port, config.timeout).map_err(|e| anyhow!(e))?;
    let tftp_fetcher: Arc<dyn Fetcher> = Arc::new(tftp.clone());
    let http_fetcher: Arc<dyn Fetcher> = Arc::new(HttpFirst { http, tftp });
    let security = args.behaviour.security()?;
    let phones: Vec<Phone> = devices(&args)
        .await?
        .into_iter()
        .map(|p| {
            let mut device = Device::new(p.mac, p.plan.family);
            device.device_name = p.plan.device_name;
            args.behaviour.apply(&mut device);
            device.security.clone_from(&security);
            Phone {
                device,
                servers: servers.clone(),
                http_first: !args.responder && args.behaviour.http.http_first(p.plan.http),
            }
        })
        .collect();
    let total = phones.len() as u64;
    let live = Arc::new(Live::default());
    let bar = ProgressBar::with_draw_target(
        Some(total),
        if std::io::stderr().is_terminal() && !args.machine {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        // Short enough for an 80-column terminal: a wrapped bar redraws badly.
        ProgressStyle::with_template("{bar:20} {pos}/{len} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let watcher = {
        let (live, bar) = (Arc::clone(&live), bar.clone());
        tokio::spawn(async move {
            loop {
                let booted = live.booted.load(Ordering::Relaxed);
                let failed = live.failed.load(Ordering::Relaxed);
                let started = live.started.load(Ordering::Relaxed);
                bar.set_position(booted + failed);
                bar.set_message(format!(
                    "ok {booted} fail {failed} run {} files {} busy {}",
                    started.saturating_sub(booted + failed),
                    live.files.load(Ordering::Relaxed),
                    live.busy.load(Ordering::Relaxed)
                ));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let pace = Pace {
        rate: args.rate,
        concurrency: args.concurrency,
    };
    let mut report = storm::run(phones, pace, tftp_fetcher, http_fetcher, live).await;
    report.timeouts = timeouts.load(Ordering::Relaxed);
    watcher.abort();
    bar.finish_and_clear();
    if let Some(task) = responder {
        task.abort();
    }
    if let Some(path) = &args.report {
        let target = if args.responder {
            "the in-process responder".to_owned()
        } else {
            args.server.join(", ")
        };
        let title = format!("phoneboot storm: {total} devices against {target}");
        let models = match &args.from_database {
            Some(db) => format!("the devices of {}", shown(db)),
            None => args.model.join(", "),
        };
        let context = [
            (
                "date",
                httpdate::fmt_http_date(std::time::SystemTime::now()),
            ),
            ("phoneboot", env!("CARGO_PKG_VERSION").to_owned()),
            ("server", target.clone()),
            ("devices", format!("{total}: {models}")),
            ("concurrency", args.concurrency.to_string()),
            (
                "rate",
                args.rate
                    .map_or_else(|| "all at once".to_owned(), |r| format!("{r} boots/s")),
            ),
            (
                "HTTP first",
                format!("{:?}", args.behaviour.http).to_lowercase(),
            ),
        ];
        let html =
            phoneboot_emu::report::html(&report, &title, &context).map_err(|e| anyhow!(e))?;
        std::fs::write(path, html).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    if args.machine {
        let secs = report.elapsed.as_secs_f64().max(1e-9);
        let ms = |q: f64| {
            report
                .boot_quantile(q)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        outln!("phones {}", report.phones);
        outln!("booted {}", report.booted);
        outln!("default_config_only {}", report.default_only);
        outln!("missing_files {}", report.incomplete);
        outln!("failed {}", report.failed_total());
        for (pattern, (_, n)) in &report.not_found {
            outln!("not_found {n} {pattern}");
        }
        for (reason, n) in &report.failed {
            outln!("failed_reason {n} {reason}");
        }
        outln!("elapsed_s {secs:.3}");
        outln!("requests {}", report.requests);
        outln!("requests_per_s {:.1}", report.requests as f64 / secs);
        outln!("files_per_s {:.1}", report.files as f64 / secs);
        outln!("bytes_per_s {:.0}", report.bytes as f64 / secs);
        outln!("busy {}", report.busy);
        outln!("retransmissions {}", report.timeouts);
        outln!("failovers {}", report.failovers);
        outln!("p50_ms {:.1}", ms(0.5));
        outln!("p95_ms {:.1}", ms(0.95));
        outln!("p99_ms {:.1}", ms(0.99));
        outln!("max_ms {:.1}", ms(1.0));
    } else {
        out!("{}", report.summary());
    }
    if report.failed_total() > 0 {
        bail!("{} of {total} devices did not boot", report.failed_total());
    }
    if report.unprovisioned() > 0 {
        bail!(
            "{} of {total} devices are not provisioned as their configuration says ({} on \
             the default configuration only, {} missing files it names; see \"not found\")",
            report.unprovisioned(),
            report.default_only,
            report.incomplete
        );
    }
    Ok(())
}

/// A database as messages show it (never a password in a URL).
fn shown(database: &str) -> String {
    phoneboot_store::Location::parse(database)
        .map_or_else(|_| database.to_owned(), |l| l.to_string())
}
