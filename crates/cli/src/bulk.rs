//! `phoneboot import FILE` and `phoneboot export`: the database in bulk, in the spirit of
//! CUCM's Bulk Administration Tool. The formats and every rule live in the domain layer
//! (`phoneboot_server::db::exchange`); this is the command line around them.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, anyhow};
use clap::{Args, ValueEnum};
use phoneboot_model::Kind;
use phoneboot_server::db::exchange::{Format, Imported};
use phoneboot_store::Mode;

use crate::database::DbArgs;

#[derive(Debug, Args)]
#[command(after_help = "\
A CSV file names its columns in its header row, in any order: mac, model, pool (required),
name (default SEP<MAC>), protocol (default the model's first), description, owner, load,
dial_plan, softkeys, feature_policy, security_mode, em_user, urls.<field> (- for none),
vendor_config.<element>, line<N>_dn|label|display_name|auth_name|auth_password|voicemail,
speed<N>_number|label. Comma-, semicolon- or tab-separated, with or without a BOM.
A file written by `phoneboot export` (TOML) holds every kind of object.")]
pub(crate) struct ImportArgs {
    /// The file: CSV (devices) or a `phoneboot export` document (everything).
    file: PathBuf,
    /// Check the file exactly as the import would, report, and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Replace objects that exist already (by default an object that exists is a problem,
    /// so that a file meant for new phones never overwrites configured ones).
    #[arg(long)]
    update: bool,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportFormat {
    /// Every object of the database, with a format version (what `import` reads back).
    Toml,
    /// Devices only, one row each, every field a column (for spreadsheets).
    Csv,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// What to write. [default: csv for an --out file ending in .csv, else toml]
    #[arg(long, value_enum)]
    format: Option<ExportFormat>,
    /// Include the SIP and SSH passwords (left out by default; an import of a file without
    /// them keeps those of the objects it replaces).
    #[arg(long)]
    secrets: bool,
    #[command(flatten)]
    db: DbArgs,
}

pub(crate) async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Commit
    };
    let file = args.file.display().to_string();
    args.db
        .with(|db| async move {
            match db.import(&bytes, args.update, mode).await {
                Ok(imported) => {
                    outln!("{}", summary(&file, &imported, mode));
                    Ok(())
                }
                Err(e) => Err(anyhow!(
                    "{file}: nothing was imported:\n{e}{}",
                    if args.dry_run {
                        ""
                    } else {
                        "\n(--dry-run checks a file without writing)"
                    }
                )),
            }
        })
        .await
}

fn summary(file: &str, imported: &Imported, mode: Mode) -> String {
    let counts: Vec<String> = imported
        .kinds
        .iter()
        .map(|(kind, n)| format!("{n} {}", noun(*kind, *n)))
        .collect();
    let what = if counts.is_empty() {
        "nothing".to_owned()
    } else {
        counts.join(", ")
    };
    let how = format!("{} added, {} replaced", imported.added, imported.replaced);
    match mode {
        Mode::DryRun => format!(
            "{file}: {what} ({how}), all valid; the import would bring the database to \
             version {} (dry run: nothing written)",
            imported.version
        ),
        Mode::Commit => format!(
            "imported {what} from {file} ({how}; version {})",
            imported.version
        ),
    }
}

/// `kind` as a person counts it.
fn noun(kind: Kind, n: usize) -> &'static str {
    let (one, many) = match kind {
        Kind::Params => ("parameter set", "parameter sets"),
        Kind::CallManager => ("call manager", "call managers"),
        Kind::CmGroup => ("group", "groups"),
        Kind::DateTimeGroup => ("date/time group", "date/time groups"),
        Kind::DevicePool => ("pool", "pools"),
        Kind::DialPlan => ("dial plan", "dial plans"),
        Kind::Softkeys => ("softkey template", "softkey templates"),
        Kind::FeaturePolicy => ("feature policy", "feature policies"),
        Kind::User => ("user", "users"),
        Kind::Device => ("device", "devices"),
    };
    if n == 1 { one } else { many }
}

pub(crate) async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let format = match args.format {
        Some(ExportFormat::Csv) => Format::Csv,
        Some(ExportFormat::Toml) => Format::Document,
        None if args
            .out
            .as_ref()
            .and_then(|p| p.extension())
            .is_some_and(|e| e.eq_ignore_ascii_case("csv")) =>
        {
            Format::Csv
        }
        None => Format::Document,
    };
    let bytes = args
        .db
        .with(|db| async move { Ok(db.export(format, args.secrets).await?) })
        .await?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "exported to {}{}",
                path.display(),
                if args.secrets {
                    ""
                } else {
                    " (without passwords: --secrets includes them)"
                }
            );
        }
        None => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(&bytes).and_then(|()| out.flush()) {
                crate::stdout_failed(&e);
            }
        }
    }
    Ok(())
}
