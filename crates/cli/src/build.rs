//! `phoneboot build`, `phoneboot render`, `phoneboot models`.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context as _, anyhow};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use phoneboot_render::Built;
use phoneboot_server::converter::ProfileConverter;
use phoneboot_source::FileName;
use phoneboot_source::dir::{FileRoots, Probe};

use crate::database::DbArgs;

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// The folder to write the files into (created if missing; existing files of the same
    /// names are replaced).
    #[arg(long, value_name = "DIR", required_unless_present = "check")]
    out: Option<PathBuf>,
    /// Build every file and report what cannot be built, without writing anything.
    #[arg(long, conflicts_with = "out")]
    check: bool,
    /// Threads to build on. [default: one per core]
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    #[command(flatten)]
    db: DbArgs,
}

pub(crate) async fn build(args: BuildArgs) -> anyhow::Result<()> {
    let config = args.db.config()?;
    let converter = ProfileConverter::new(&config.profile_converter);
    let loaded = Instant::now();
    let (snapshot, version) = args
        .db
        .with(|db| async move { Ok(db.snapshot().await?) })
        .await?;
    let load_time = loaded.elapsed();
    let needs = phoneboot_render::needs(&snapshot);
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    let files = phoneboot_render::all(&snapshot).len() as u64;
    let bar = ProgressBar::with_draw_target(
        Some(files),
        if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let write_error = Mutex::new(None);
    // Profiles the converter must turn into binaries: a few (7902/7905/7912), converted after
    // the threads are done, as the phone would get them.
    let to_convert = Mutex::new(Vec::new());
    let convert = converter.is_some();
    let started = Instant::now();
    let out = args.out.clone();
    let stats = tokio::task::spawn_blocking(move || {
        let stats = phoneboot_render::build_all(&snapshot, threads, |file, bytes| {
            if convert && matches!(file, Built::Profile(..)) {
                if let Ok(mut list) = to_convert.lock() {
                    list.push((file.clone(), bytes.to_vec()));
                }
            } else {
                write(out.as_deref(), &file.to_string(), bytes, &write_error);
            }
            bar.inc(1);
        });
        bar.finish_and_clear();
        (
            stats,
            write_error,
            to_convert.into_inner().unwrap_or_default(),
        )
    })
    .await?;
    let (mut stats, write_error, to_convert) = stats;
    if let Some(converter) = &converter {
        for (file, text) in to_convert {
            match converter.convert(&text).await {
                Ok(binary) => {
                    stats.converted(text.len(), binary.len());
                    write(
                        args.out.as_deref(),
                        &file.to_string(),
                        &binary,
                        &write_error,
                    );
                }
                Err(e) => {
                    let reason = format!(
                        "the profile converter {:?} failed: {e}",
                        converter.program()
                    );
                    stats.retract(&file, text.len(), reason);
                }
            }
        }
    }
    let write_error = write_error.into_inner().ok().flatten();
    let target = args.out.as_ref().map_or_else(
        || "nowhere (--check)".to_owned(),
        |o| o.display().to_string(),
    );
    if let Some(e) = write_error {
        return Err(anyhow!("writing into {target}: {e}"));
    }
    for (file, reason) in &stats.failed {
        eprintln!("not built: {file}: {reason}");
    }
    let warnings = warnings(&args.db, &needs)?;
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    outln!(
        "built {} files ({} bytes; {} device, {} dial plan, {} softkey) into {} in {:.2} s \
         (database version {version} loaded in {:.2} s); {} failed, {} warning(s)",
        stats.files,
        stats.bytes,
        stats.devices,
        stats.dial_rules,
        stats.softkeys,
        target,
        started.elapsed().as_secs_f64(),
        load_time.as_secs_f64(),
        stats.failed.len(),
        warnings.len()
    );
    if args.check && !stats.failed.is_empty() {
        return Err(anyhow!(
            "{} files cannot be built (listed above)",
            stats.failed.len()
        ));
    }
    Ok(())
}

/// What phones will miss: the database's holes, and the files its built files name that no
/// root of the configuration `serve` would run with holds.
fn warnings(db: &DbArgs, needs: &phoneboot_render::Needs) -> anyhow::Result<Vec<String>> {
    let mut out = needs.warnings.clone();
    let config = db.serve_config()?;
    let mut roots = vec![config.root.clone()];
    roots.extend(config.alternate_roots.iter().cloned());
    let files = match FileRoots::new(&roots, config.case_insensitive, 0) {
        Ok(files) => files,
        Err(e) => {
            out.push(format!(
                "{e}: the {} files phones will ask for beside the built ones cannot be looked \
                 for (--config names the roots serve uses)",
                needs.files.len()
            ));
            return Ok(out);
        }
    };
    for needed in &needs.files {
        let present = needed.names.iter().any(|name| {
            FileName::parse(name.as_bytes())
                .is_ok_and(|n| !matches!(files.probe(&n), Probe::NotFound | Probe::Denied(_)))
        });
        if !present {
            out.push(format!(
                "{} is in no root ({}): {}",
                needed.names[0],
                roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                needed.by
            ));
        }
    }
    Ok(out)
}

/// Writes one built file into `out` (nowhere under --check); the first error is kept.
fn write(out: Option<&Path>, name: &str, bytes: &[u8], error: &Mutex<Option<String>>) {
    if let Some(out) = out
        && let Err(e) = std::fs::write(out.join(name), bytes)
        && let Ok(mut slot) = error.lock()
    {
        slot.get_or_insert(format!("{name}: {e}"));
    }
}

#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// The file name a device asks for, e.g. SEP001122334455.cnf.xml (any case).
    name: String,
    /// Print a 7902/7905/7912 profile as its #txt text even when a profile converter is
    /// configured (by default the converter's binary is printed, as the phone gets it).
    #[arg(long)]
    text: bool,
    #[command(flatten)]
    db: DbArgs,
}

pub(crate) async fn render(args: RenderArgs) -> anyhow::Result<()> {
    let config = args.db.config()?;
    let (snapshot, _) = args
        .db
        .with(|db| async move { Ok(db.snapshot().await?) })
        .await?;
    match phoneboot_render::render_name(&snapshot, &args.name) {
        Some((file, Ok(bytes))) => {
            let bytes = match ProfileConverter::new(&config.profile_converter) {
                Some(converter) if !args.text && matches!(file, Built::Profile(..)) => converter
                    .convert(&bytes)
                    .await
                    .map_err(|e| {
                        anyhow!(
                            "{file}: the profile converter {:?} failed: {e} (--text prints the \
                             text it was given)",
                            converter.program()
                        )
                    })?
                    .to_vec(),
                _ => bytes,
            };
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)?;
            out.flush()?;
            Ok(())
        }
        Some((file, Err(e))) => Err(anyhow!("{file} cannot be built: {e}")),
        None => Err(anyhow!(
            "{:?} is not a file this database builds: no device, dial plan, softkey template \
             or feature policy of that name gets it (a file on disk of that name would be \
             served as it is)",
            args.name
        )),
    }
}

#[derive(Debug, Args)]
pub(crate) struct ModelsArgs {
    /// Print the built-in catalogue file (the shape a --models file takes).
    #[arg(long)]
    toml: bool,
    #[command(flatten)]
    db: DbArgs,
}

pub(crate) fn models(args: &ModelsArgs) -> anyhow::Result<()> {
    if args.toml {
        out!("{}", phoneboot_model::Catalogue::BUILTIN_TOML);
        return Ok(());
    }
    let catalogue = phoneboot_server::db::catalogue(args.db.config()?.models.as_deref())?;
    outln!(
        "{:<16} {:<28} {:>6}  {:<9} files",
        "name",
        "product",
        "code",
        "protocols"
    );
    for m in catalogue.iter() {
        let protocols: Vec<String> = m.protocols.iter().map(ToString::to_string).collect();
        let files: Vec<String> = m
            .protocols
            .iter()
            .map(|p| format!("{p}:{:?}", m.scheme(*p)))
            .collect();
        outln!(
            "{:<16} {:<28} {:>6}  {:<9} {}{}{}",
            m.name,
            m.product,
            m.code,
            protocols.join(","),
            files.join(" "),
            m.profile
                .map(|p| format!(" +{}<mac>", p.prefix()))
                .unwrap_or_default(),
            if m.selective {
                " +legacy .cnf (Build Selective)"
            } else {
                ""
            }
        );
    }
    Ok(())
}
